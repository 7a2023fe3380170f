/*
 * qout.h - the output of `kaudit query`: rows as a table (aligned, optionally coloured), a wide
 * table, a JSON array, JSON lines (canonical events, as ka_event_write writes them) or CSV
 * (RFC 4180); or a count, top-N counts by fields, or a histogram drawn as bars.
 *
 * Output is appended to a ka_buf that the caller flushes whenever it likes (ka_qout_take); the
 * module never writes to files itself. Memory: the table keeps at most KA_QOUT_ALIGN_ROWS rows
 * to size its columns, then streams with those widths; --top keeps one counter per distinct
 * key (at most KA_QOUT_MAX_KEYS, then KA_ETOOBIG); --histogram at most KA_QOUT_MAX_BUCKETS.
 */
#ifndef KAUDIT_QOUT_H
#define KAUDIT_QOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/event.h"

#define KA_QOUT_ALIGN_ROWS 256u
#define KA_QOUT_MAX_KEYS (4u << 20)
#define KA_QOUT_MAX_BUCKETS 100000u
#define KA_QOUT_MAX_TOP_FIELDS 4u

enum ka_qout_fmt {
    KA_QOUT_TABLE = 0,
    KA_QOUT_WIDE,
    KA_QOUT_JSON,
    KA_QOUT_JSONL,
    KA_QOUT_CSV,
};

/* Fields for --top (and the columns of the tables). */
enum ka_qfield {
    KA_QF_TIME = 0,
    KA_QF_USER,
    KA_QF_VERB,
    KA_QF_RESOURCE, /* resource[/subresource] */
    KA_QF_NAMESPACE,
    KA_QF_NAME,
    KA_QF_CODE,
    KA_QF_SOURCE_IP, /* the first of sourceIPs */
    KA_QF_USER_AGENT,
    KA_QF_STAGE,
    KA_QF_AUDIT_ID,
    KA_QF_DECISION,
    KA_QF_CLUSTER,
    KA_QF_AS,    /* impersonated user */
    KA_QF_GROUP, /* apiGroup of the object */
    KA_QF_COUNT_
};

struct ka_qout_opts {
    enum ka_qout_fmt fmt;
    bool color;                /* ANSI colours in tables */
    bool count;                /* print only the number of rows */
    enum ka_qfield top[KA_QOUT_MAX_TOP_FIELDS];
    size_t n_top;              /* > 0: print counts by these fields, largest first */
    size_t top_n;              /* rows of --top output; 0 = 20 */
    int64_t hist_sec;          /* > 0: histogram with buckets of this many seconds */
    bool bars_unicode;         /* histogram bars in U+2588 rather than '#' */
    bool stream;               /* tables: fixed column widths from the start (--follow) */
};

struct ka_qout;

/* Field names: user, verb, resource, namespace, name, code, source-ip, user-agent, ... */
const char *ka_qfield_name(enum ka_qfield f);
/* Parses "user,verb" into fields. Returns KA_OK or KA_EINVAL (unknown name, too many). */
int ka_qfield_parse_list(const char *s, enum ka_qfield *out, size_t max, size_t *n);
/* "table", "wide", "json", "jsonl", "csv". */
int ka_qout_parse_fmt(const char *s, enum ka_qout_fmt *out);

int ka_qout_new(const struct ka_qout_opts *o, struct ka_qout **out);
/* One row (ev scanned from its raw bytes). */
int ka_qout_row(struct ka_qout *qo, const struct ka_event *ev);
/* Ends the output (closes the JSON array, prints counts, top or histogram). */
int ka_qout_finish(struct ka_qout *qo);
/* The buffer holding output not yet taken; the caller writes and resets it. */
struct ka_buf *ka_qout_buf(struct ka_qout *qo);
uint64_t ka_qout_rows(const struct ka_qout *qo);
/*
 * Aggregates computed elsewhere (the store counts and groups from its columns): n rows
 * counted without being passed to ka_qout_row (--count, --histogram unaffected), and one
 * group of --top with one field: key[0..n) counted count times (added to what rows gave).
 */
int ka_qout_add_count(struct ka_qout *qo, uint64_t rows);
int ka_qout_add_top(struct ka_qout *qo, const char *key, size_t n, uint64_t count);
void ka_qout_free(struct ka_qout *qo);

/* Appends the decoded text of a field of ev (empty when absent). */
int ka_qfield_text(const struct ka_event *ev, enum ka_qfield f, struct ka_buf *b);

#endif
