/*
 * chquery.h - `kaudit query` against ClickHouse: the rows of a struct ka_query (query.h) read
 * from the table that the ClickHouse output writes (src/outputs/clickhouse), so that a
 * deployment that outgrew the embedded store keeps the same filters and outputs.
 *
 * The query is translated to one SELECT over the typed columns (verb, user, groups, resource,
 * api_group, subresource, namespace, name, code, decision, user_agent, stage), the time range
 * on `time` (the partition key) and `time_us`, greps on `raw`; filters without a column
 * (impersonated user, source CIDRs, the cluster annotation) are left to the re-check. In
 * requests mode a subquery keeps, for every auditID among the candidates, only its latest
 * stage over the whole table (max of the stage rank), and rows that retried inserts left twice
 * before the table merged them are dropped with LIMIT 1 BY. The answer streams back in
 * RowBinary (the raw event only); each row is scanned and re-checked with ka_query_match, so
 * the rows are exactly those of the filters whatever the SQL approximates (LIKE for globs).
 *
 * Order: requestReceivedTimestamp to the microsecond (events without one first), auditID bytes,
 * stage rank, stageTimestamp: the order of query.h for every event the apiserver writes; ties
 * that only the order of a file could break are broken by stageTimestamp. The limit is applied
 * here, and the transfer is cut as soon as it is reached.
 *
 * Works with ClickHouse 18.16 (Debian 12) and current releases, on the plain table or the
 * Distributed one. Limits: events up to KA_CHQ_MAX_ROW bytes; generated SQL up to
 * KA_CHQ_MAX_SQL bytes (KA_ETOOBIG beyond). One ka_chq per thread.
 */
#ifndef KAUDIT_CHQUERY_H
#define KAUDIT_CHQUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/query.h"

#define KA_CHQ_MAX_ROW (16u << 20)
#define KA_CHQ_MAX_SQL (4u << 20)

struct ka_chq_opts {
    int connect_timeout_ms; /* 0 = 10000; the query itself has no time limit */
    const char *ca_file;    /* clickhouses://: CA bundle (NULL = system) */
    const char *cert_file, *key_file;
    bool insecure;          /* TLS without verification (tests only) */
};

struct ka_chq;

/*
 * Opens the table named by url, as the output names it:
 * clickhouse[s]://[user:password@]HOST[:PORT]/DB?table=T (DB default kaudit, T default
 * audit_events). No request is sent yet. o may be NULL. On failure err gets a one-line reason.
 */
int ka_chq_open(const char *url, const struct ka_chq_opts *o, struct ka_chq **out, char *err,
                size_t errlen);
void ka_chq_close(struct ka_chq *c);

/*
 * Calls fn for each row of q (stage mode, order and limit applied) with the event scanned from
 * its stored line (line[0..len), no LF), like ka_store_query. fn's non-zero return stops and
 * is returned. KA_EIO: the server could not be reached or refused the query; KA_ESYNTAX: a row
 * it sent is not an event. ka_chq_errmsg() then says why.
 */
int ka_chq_query(struct ka_chq *c, const struct ka_query *q,
                 int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len),
                 void *ud);

/* The SELECT that ka_chq_query sends for q (NUL-terminated, appended to out). */
int ka_chq_sql(const struct ka_chq *c, const struct ka_query *q, struct ka_buf *out);

/* The last error message ("" when none). */
const char *ka_chq_errmsg(const struct ka_chq *c);

#endif
