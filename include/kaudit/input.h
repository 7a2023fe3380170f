/*
 * input.h - reading audit events from files and streams.
 *
 * A ka_input reads one source ("-" is stdin; gzip is detected and read transparently) and
 * returns one record per event, in file order, each with the line it starts on. Two layouts are
 * recognised:
 *   - JSON lines (what kube-apiserver's log backend writes): one event per line; CRLF and a
 *     UTF-8 BOM are accepted; blank lines are skipped; a line that holds an EventList or a JSON
 *     array of events yields one record per item.
 *   - one JSON document spread over several lines (a pretty-printed Event, an EventList, or an
 *     array of events), detected when the first non-blank line is not a complete value (it
 *     does not end in '}' or ']') and is followed by more lines. The document is read whole, up to max_doc bytes.
 * A line longer than max_line is skipped (record.err = KA_ETOOBIG, with a message) and reading
 * goes on. A final line without LF is returned like any other, with record.no_newline set: a
 * crash can leave a partial last line, and the caller decides (kaudit warns and skips it when
 * it does not scan; real logs also exist without a final newline, so one that scans is an
 * event). Records point into the reader's buffer and stay valid until the next call.
 */
#ifndef KAUDIT_INPUT_H
#define KAUDIT_INPUT_H

#include <stddef.h>

#include "kaudit/event.h"

#define KA_INPUT_DEFAULT_MAX_LINE (16u << 20) /* real events exceed 100 KB */
#define KA_INPUT_DEFAULT_MAX_DOC (256u << 20)

struct ka_input_opts {
    size_t max_line; /* 0 = KA_INPUT_DEFAULT_MAX_LINE */
    size_t max_doc;  /* 0 = KA_INPUT_DEFAULT_MAX_DOC */
    struct ka_scan_opts scan;
    int no_backups;  /* not used by ka_input: callers that expand FILE arguments into log sets
                        (ka_logset, kaudit's ka_cli_read_events) read only the file named */
};

struct ka_record {
    const char *p;      /* the event's raw bytes (NULL when err != 0 and nothing is usable) */
    size_t n;
    unsigned long line; /* 1-based line where the record starts */
    int err;            /* 0, or KA_ETOOBIG / KA_ESYNTAX / KA_EIO for a record that is skipped */
    int no_newline;     /* JSON lines: the record comes from the last line, which has no LF */
    char msg[160];      /* reason when err != 0 */
};

struct ka_input;

/* Opens path ("-" = stdin). Returns KA_OK, KA_ENOENT or KA_EIO (errno set). */
int ka_input_open(const char *path, const struct ka_input_opts *opts, struct ka_input **out);
/*
 * Next record. Returns 1 with *rec filled (check rec->err), 0 at the end, or KA_EIO / KA_ENOMEM
 * when the source cannot be read any further.
 */
int ka_input_next(struct ka_input *in, struct ka_record *rec);
/* Bytes consumed from the (decompressed) source so far. */
unsigned long long ka_input_bytes(const struct ka_input *in);
void ka_input_close(struct ka_input *in);

#endif
