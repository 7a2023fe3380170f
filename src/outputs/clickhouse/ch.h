/*
 * ch.h - the ClickHouse output's internals, shared by its files and `kaudit clickhouse`:
 * the context, the HTTP query helper, version detection, the DDL for each server generation,
 * the schema check, and the JSONEachRow row encoder.
 *
 * Generations: "legacy" (before 22.3, e.g. Debian's 18.16: no column codecs, no TTL before
 * 19.6, LowCardinality experimental) gets plain String columns and relies on the server's
 * default compression; "current" (22.3 and later) gets LowCardinality, ZSTD codecs, bloom
 * filter skip indexes, TTL and insert deduplication on the non-replicated table.
 */
#ifndef KA_OUTPUTS_CH_H
#define KA_OUTPUTS_CH_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/output.h"

#define KA_CH_NAME_MAX 128

struct ka_ch_ddl_opts {
    const char *db, *table;
    bool current;            /* 22.3+ DDL; false = legacy (18.16) */
    unsigned ttl_days;       /* 0 = keep forever */
    const char *distributed; /* cluster name: a <table>_local per shard + a Distributed table */
};

/* Appends the DDL statements, each ending in ";\n" (with comments), to out. */
int ka_ch_ddl(const struct ka_ch_ddl_opts *o, struct ka_buf *out);
/* Same, one statement at a time for sending: calls fn(ud, sql) for each. */
int ka_ch_ddl_each(const struct ka_ch_ddl_opts *o, int (*fn)(void *ud, const char *sql),
                   void *ud);
/* true when version "A.B..." is 22.3 or later. */
bool ka_ch_version_current(int major, int minor);

struct ka_ch {
    void *curl; /* CURL * */
    struct ka_out_opts opts;
    char url[700];             /* scheme://host:port/ */
    char user[128], password[256];
    char db[KA_CH_NAME_MAX], table[KA_CH_NAME_MAX], insert_table[KA_CH_NAME_MAX];
    char cluster[128];         /* the `cluster` column value */
    char distributed[128];     /* create a Distributed table over this cluster */
    int schema_mode;           /* 0 none, 1 create, 2 check */
    unsigned ttl_days;
    bool gzip, ready;
    int major, minor;
    struct ka_buf gz, resp;
};

/* Runs one statement (POST body = sql). KA_OK on HTTP 200 (resp gets the answer); otherwise
   KA_EIO with err filled and *status = HTTP status (0 = no answer). */
int ka_ch_query(struct ka_ch *c, const char *sql, size_t sqllen, const char *query_param,
                const char *encoding, struct ka_buf *resp, long *status, char *err,
                size_t errlen);
/* Sets credentials, TLS files and NOSIGNAL of c on a reset curl handle (CURL *). */
void ka_ch_setopts(struct ka_ch *c, void *handle);
int ka_ch_version(struct ka_ch *c, char *err, size_t errlen);
/* Compares the server's columns and engine with the DDL; appends findings to report (one per
   line). Returns KA_OK when the table matches, KA_EINVAL when not, KA_EIO when unreachable. */
int ka_ch_check(struct ka_ch *c, struct ka_buf *report);
/* Creates the database and tables when they do not exist. */
int ka_ch_create(struct ka_ch *c, char *err, size_t errlen);

/* Whether host names the loopback interface (localhost, 127.0.0.0/8, ::1): gzip is off by
   default there, where compressing costs CPU and saves no network. */
bool ka_ch_loopback(const char *host);

/* Appends one JSONEachRow row (with LF) for e; cluster is the `cluster` column. */
int ka_ch_row(const struct ka_out_event *e, const char *cluster, struct ka_buf *b);

#endif
