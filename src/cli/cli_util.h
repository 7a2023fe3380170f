/*
 * cli_util.h - helpers shared by the subcommands: reading every event of a list of files with
 * per-line error reporting, buffered stdout, and size arguments.
 */
#ifndef KA_CLI_UTIL_H
#define KA_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "kaudit/buf.h"
#include "kaudit/event.h"
#include "kaudit/input.h"

/* Called for each event that scanned; return 0 to go on, an exit code to stop. */
typedef int (*ka_cli_event_fn)(void *ud, const struct ka_event *ev, const char *file,
                               unsigned long line);

struct ka_cli_read_stats {
    unsigned long long events, bad, bytes;
    unsigned long long truncated; /* partial last lines skipped with a warning (not in bad) */
    unsigned long long files;     /* files opened after log-set expansion */
};

/*
 * Reads every event of files[0..n) ("-" or n == 0: stdin), calling fn for each. Each argument
 * is expanded with ka_logset_expand() (kaudit/logset.h: a directory's log sets, a log path's
 * rotated backups oldest first then the live file; only the file named when io->no_backups),
 * and the files are read in that order, events in file order. Bad lines are reported on
 * stderr as "kaudit: FILE:LINE[:COL]: reason" and counted in st->bad. A last line without LF
 * that does not scan (a crash cut it) is reported once as "kaudit: FILE:LINE: truncated last
 * line (no newline at end of file); skipped" and counted in st->truncated only. An argument
 * that does not exist (and has no backups) is reported and the others are still read.
 * Returns 0, or an exit code (1 when a file is missing or cannot be read, or fn's code, which
 * stops reading).
 */
int ka_cli_read_events(char **files, int n, const struct ka_input_opts *io, ka_cli_event_fn fn,
                       void *ud, struct ka_cli_read_stats *st);

/* Writes b to f when it holds at least min bytes (0 = always), then empties it. -1 on error. */
int ka_cli_flush(struct ka_buf *b, FILE *f, size_t min);

/* Parses "16M", "1G", "4096", "10k" (powers of 1024). Returns 0 or -1. */
int ka_cli_parse_size(const char *s, unsigned long long *out);

#endif
