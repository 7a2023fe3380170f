/*
 * logfile_int.h - internals shared by logfile.c (the writer) and logfile_mill.c (pruning and
 * compression of backups on a background thread).
 */
#ifndef KAUDIT_LOGFILE_INT_H
#define KAUDIT_LOGFILE_INT_H

#include <stdint.h>

#include "kaudit/logfile.h"

struct ka__mill;
/* A mill for the backups <dir>/<prefix>-<TS><ext>[.gz]; o supplies limits and the clock. */
int ka__mill_new(const char *dir, const char *prefix, const char *ext,
                 const struct ka_logfile_opts *o, struct ka__mill **out);
/* Asks for one run; triggers while a run is pending coalesce. */
void ka__mill_trigger(struct ka__mill *m);
void ka__mill_wait(struct ka__mill *m);
void ka__mill_free(struct ka__mill *m);
/* The options' clock, or the real one. */
void ka__clock_now(const struct ka_logfile_opts *o, int64_t *sec, int32_t *nsec);

#endif
