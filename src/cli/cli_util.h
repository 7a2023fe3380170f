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
};

/*
 * Reads every event of files[0..n) ("-" or n == 0: stdin), calling fn for each. Bad lines are
 * reported on stderr as "kaudit: FILE:LINE: reason" and counted. Returns 0, or an exit code
 * (1 when a file cannot be opened or read, or fn's code).
 */
int ka_cli_read_events(char **files, int n, const struct ka_input_opts *io, ka_cli_event_fn fn,
                       void *ud, struct ka_cli_read_stats *st);

/* Writes b to f when it holds at least min bytes (0 = always), then empties it. -1 on error. */
int ka_cli_flush(struct ka_buf *b, FILE *f, size_t min);

/* Parses "16M", "1G", "4096", "10k" (powers of 1024). Returns 0 or -1. */
int ka_cli_parse_size(const char *s, unsigned long long *out);

#endif
