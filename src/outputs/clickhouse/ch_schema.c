/*
 * ch_schema.c - the ClickHouse table kaudit writes to: DDL for Debian's 18.16 and for current
 * releases, optionally sharded behind a Distributed table, and the check of an existing table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch.h"

/* Column name, legacy type, current type. Every query filter has a typed column. */
static const char *const ka_ch_cols[][3] = {
    {"time", "DateTime", "DateTime CODEC(Delta, ZSTD(1))"},
    {"time_us", "Int64", "Int64 CODEC(Delta, ZSTD(1))"},
    {"stage_time_us", "Int64", "Int64 CODEC(Delta, ZSTD(1))"},
    {"stage", "String", "LowCardinality(String)"},
    {"level", "String", "LowCardinality(String)"},
    {"audit_id", "String", "String"},
    {"verb", "String", "LowCardinality(String)"},
    {"user", "String", "String"},
    {"groups", "Array(String)", "Array(String)"},
    {"api_group", "String", "LowCardinality(String)"},
    {"resource", "String", "LowCardinality(String)"},
    {"subresource", "String", "LowCardinality(String)"},
    {"namespace", "String", "LowCardinality(String)"},
    {"name", "String", "String"},
    {"code", "UInt16", "UInt16"},
    {"decision", "String", "LowCardinality(String)"},
    {"source_ips", "Array(String)", "Array(String)"},
    {"user_agent", "String", "String"},
    {"cluster", "String", "LowCardinality(String)"},
    {"raw", "String", "String CODEC(ZSTD(3))"},
};
#define KA_CH_NCOLS (sizeof ka_ch_cols / sizeof ka_ch_cols[0])

bool ka_ch_version_current(int major, int minor)
{
    return major > 22 || (major == 22 && minor >= 3);
}

static int table_ddl(const struct ka_ch_ddl_opts *o, const char *table, struct ka_buf *b)
{
    int rc = ka_buf_printf(b, "CREATE TABLE IF NOT EXISTS `%s`.`%s`\n(\n", o->db, table);
    for (size_t i = 0; !rc && i < KA_CH_NCOLS; i++)
        rc = ka_buf_printf(b, "    `%s` %s%s\n", ka_ch_cols[i][0], ka_ch_cols[i][o->current ? 2 : 1],
                           i + 1 < KA_CH_NCOLS || o->current ? "," : "");
    if (!rc && o->current)
        rc = ka_buf_puts(b, "    INDEX idx_user user TYPE bloom_filter(0.01) GRANULARITY 4,\n"
                            "    INDEX idx_audit_id audit_id TYPE bloom_filter(0.001) GRANULARITY 4,\n"
                            "    INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 4\n");
    /* ReplacingMergeTree deduplicates rows with the same sort key; the key ends with
       (audit_id, stage), and every other key column is a function of the event. */
    if (!rc)
        rc = ka_buf_puts(b, ")\nENGINE = ReplacingMergeTree()\nPARTITION BY toYYYYMMDD(time)\n"
                            "ORDER BY (toStartOfHour(time), resource, namespace, user, time_us, "
                            "audit_id, stage)\n");
    if (!rc && o->current && o->ttl_days)
        rc = ka_buf_printf(b, "TTL time + INTERVAL %u DAY\n", o->ttl_days);
    if (!rc)
        rc = ka_buf_puts(b, o->current ? "SETTINGS index_granularity = 8192, "
                                         "non_replicated_deduplication_window = 1000, "
                                         "ttl_only_drop_parts = 1"
                                       : "SETTINGS index_granularity = 8192");
    return rc;
}

int ka_ch_ddl_each(const struct ka_ch_ddl_opts *o, int (*fn)(void *ud, const char *sql), void *ud)
{
    struct ka_buf b;
    ka_buf_init(&b, 1u << 20);
    char local[KA_CH_NAME_MAX + 8];
    snprintf(local, sizeof local, "%s%s", o->table, o->distributed ? "_local" : "");
    int rc = ka_buf_printf(&b, "CREATE DATABASE IF NOT EXISTS `%s`", o->db);
    rc = rc ? rc : (ka_buf_cstr(&b) ? fn(ud, b.p) : KA_ENOMEM);
    ka_buf_reset(&b);
    rc = rc ? rc : table_ddl(o, local, &b);
    rc = rc ? rc : (ka_buf_cstr(&b) ? fn(ud, b.p) : KA_ENOMEM);
    ka_buf_reset(&b);
    if (!rc && o->distributed) {
        rc = ka_buf_printf(&b,
                           "CREATE TABLE IF NOT EXISTS `%s`.`%s` AS `%s`.`%s`\n"
                           "ENGINE = Distributed(`%s`, `%s`, `%s`, cityHash64(audit_id))",
                           o->db, o->table, o->db, local, o->distributed, o->db, local);
        rc = rc ? rc : (ka_buf_cstr(&b) ? fn(ud, b.p) : KA_ENOMEM);
    }
    ka_buf_free(&b);
    return rc;
}

static int ddl_append(void *ud, const char *sql)
{
    return ka_buf_printf(ud, "%s;\n\n", sql);
}

int ka_ch_ddl(const struct ka_ch_ddl_opts *o, struct ka_buf *out)
{
    int rc = ka_buf_printf(out, "-- kaudit audit events table, %s ClickHouse (%s)\n",
                           o->current ? "current" : "18.16 / legacy",
                           o->current ? "22.3 and later" : "before 22.3");
    if (!rc && !o->current && o->ttl_days)
        rc = ka_buf_printf(out, "-- TTL %u days: not supported before 19.6; drop old daily "
                                "partitions with ALTER TABLE ... DROP PARTITION YYYYMMDD\n",
                           o->ttl_days);
    if (!rc && o->distributed)
        rc = ka_buf_printf(out, "-- sharded: run the first two statements on every shard of "
                                "cluster %s (or add ON CLUSTER with ZooKeeper),\n-- then create "
                                "the Distributed table where clients insert and query\n",
                           o->distributed);
    return rc ? rc : ka_ch_ddl_each(o, ddl_append, out);
}

/* Strips CODEC(...) and LowCardinality(...) so that types compare across generations. */
static void base_type(const char *t, char *out, size_t cap)
{
    const char *lc = "LowCardinality(";
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", t);
    snprintf(out, cap, "%s", tmp);
    char *p = strstr(out, " CODEC(");
    if (p) *p = '\0';
    while ((p = strstr(out, lc)) != NULL) {
        memmove(p, p + strlen(lc), strlen(p + strlen(lc)) + 1);
        char *close = strchr(p, ')');
        if (close) memmove(close, close + 1, strlen(close + 1) + 1);
    }
}

static int check_cols(struct ka_ch *c, const char *resp, struct ka_buf *report)
{
    int bad = 0;
    for (size_t i = 0; i < KA_CH_NCOLS; i++) {
        char want[64], got[128] = "";
        base_type(ka_ch_cols[i][1], want, sizeof want);
        for (const char *l = resp; l && *l;) {
            const char *nl = strchr(l, '\n');
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            const char *tab = memchr(l, '\t', n);
            size_t cn = strlen(ka_ch_cols[i][0]);
            if (tab && (size_t)(tab - l) == cn && !memcmp(l, ka_ch_cols[i][0], cn)) {
                snprintf(got, sizeof got, "%.*s", (int)(n - cn - 1), tab + 1);
                base_type(got, got, sizeof got);
            }
            l = nl ? nl + 1 : NULL;
        }
        if (!got[0]) bad |= ka_buf_printf(report, "missing column %s %s\n", ka_ch_cols[i][0], want) ? 2 : 1;
        else if (strcmp(got, want) != 0)
            bad |= ka_buf_printf(report, "column %s is %s, expected %s\n", ka_ch_cols[i][0], got, want) ? 2 : 1;
    }
    (void)c;
    return bad;
}

int ka_ch_check(struct ka_ch *c, struct ka_buf *report)
{
    char err[256], sql[512];
    long st = 0;
    if (ka_ch_version(c, err, sizeof err)) {
        ka_buf_printf(report, "cannot reach the server: %s\n", err);
        return KA_EIO;
    }
    ka_buf_printf(report, "server version %d.%d (%s DDL)\n", c->major, c->minor,
                  ka_ch_version_current(c->major, c->minor) ? "current" : "legacy");
    snprintf(sql, sizeof sql, "SELECT engine FROM system.tables WHERE database = '%s' AND name = '%s'",
             c->db, c->table);
    if (ka_ch_query(c, sql, strlen(sql), NULL, NULL, &c->resp, &st, err, sizeof err)) {
        ka_buf_printf(report, "query failed: %s\n", err);
        return KA_EIO;
    }
    if (!ka_buf_cstr(&c->resp)) return KA_ENOMEM;
    if (!c->resp.n) {
        ka_buf_printf(report, "table %s.%s does not exist\n", c->db, c->table);
        return KA_EINVAL;
    }
    char eng[64];
    snprintf(eng, sizeof eng, "%.*s", (int)strcspn(c->resp.p, "\n"), c->resp.p);
    bool dist = strcmp(eng, "Distributed") == 0;
    ka_buf_printf(report, "table %s.%s: engine %s\n", c->db, c->table, eng);
    snprintf(sql, sizeof sql, "SELECT name, type FROM system.columns WHERE database = '%s' AND table = '%s'",
             c->db, c->table);
    if (ka_ch_query(c, sql, strlen(sql), NULL, NULL, &c->resp, &st, err, sizeof err) || !ka_buf_cstr(&c->resp)) {
        ka_buf_printf(report, "query failed: %s\n", err);
        return KA_EIO;
    }
    int bad = check_cols(c, c->resp.p, report);
    if (!dist && !strstr(eng, "ReplacingMergeTree")) {
        ka_buf_puts(report, "engine is not ReplacingMergeTree: retried inserts are not deduplicated\n");
        bad = 1;
    }
    return bad ? KA_EINVAL : KA_OK;
}
