/*
 * cmd_clickhouse.c - `kaudit clickhouse`: prints the DDL of the table the ClickHouse output
 * writes (for a server version, optionally sharded), checks a server's table against it, or
 * runs a query's filters against it (the rows `kaudit query --clickhouse URL` prints).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../outputs/clickhouse/ch.h"
#include "cli_query_opts.h"
#include "cli_util.h"
#include "cmds.h"
#include "kaudit/chquery.h"
#include "kaudit/output.h"
#include "kaudit/qout.h"

static const char ka_ch_usage[] =
    "usage: kaudit clickhouse schema [--url URL] [--version 18.16|current|X.Y]\n"
    "                                [--distributed CLUSTER] [--ttl-days N]\n"
    "       kaudit clickhouse check --url URL\n"
    "       kaudit clickhouse query --url URL [FILTERS] [--stage S] [--limit N] [-o FMT]\n"
    "                               [--sql]\n"
    "schema prints the DDL kaudit uses (database and table from URL, default\n"
    "clickhouse://localhost:8123/kaudit?table=audit_events); with --url and no --version the\n"
    "server's version decides. check compares the server's table with it (exit 0 when it\n"
    "matches, 3 when it differs, 2 when the server cannot be reached). query prints the rows\n"
    "of the filters of kaudit query (-o table|wide|json|jsonl|csv; --sql prints the SELECT).\n";

static int open_ctx(const char *url, void **ctx)
{
    struct ka_out_url u;
    struct ka_out_opts o = {0};
    char err[200];
    const struct ka_output_ops *ops = ka_output_find("clickhouse");
    o.timeout_ms = 10000;
    if (ka_out_url_parse(url, &u, err, sizeof err) || ka_output_find(u.scheme) != ops ||
        ops->create(&u, &o, ctx, err, sizeof err)) {
        fprintf(stderr, "kaudit clickhouse: bad --url %s: %s\n", url,
                ka_output_find(u.scheme) != ops ? "expected clickhouse:// or clickhouses://" : err);
        return -1;
    }
    return 0;
}

static int cmd_schema(int argc, char **argv)
{
    const char *url = NULL, *ver = NULL, *dist = NULL, *ttl = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--url") && v) url = argv[++i];
        else if (!strcmp(argv[i], "--version") && v) ver = argv[++i];
        else if (!strcmp(argv[i], "--distributed") && v) dist = argv[++i];
        else if (!strcmp(argv[i], "--ttl-days") && v) ttl = argv[++i];
        else {
            fputs(ka_ch_usage, stderr);
            return KA_EXIT_USAGE;
        }
    }
    void *ctx = NULL;
    if (open_ctx(url ? url : "clickhouse://localhost:8123/kaudit", &ctx)) return KA_EXIT_USAGE;
    struct ka_ch *c = ctx;
    int maj = 0, min = 0, ex = KA_EXIT_OK;
    unsigned ttl_days = c->ttl_days;
    bool want_current = (ver && !strcmp(ver, "current")) || (!ver && !url);
    if (want_current) maj = 99;
    else if (ver && sscanf(ver, "%d.%d", &maj, &min) != 2) ex = KA_EXIT_USAGE;
    else if (!ver) {
        char err[200];
        if (ka_ch_version(c, err, sizeof err)) {
            fprintf(stderr, "kaudit clickhouse: %s: %s (use --version)\n", url, err);
            ex = KA_EXIT_INTERNAL;
        }
        maj = c->major;
        min = c->minor;
    }
    if (ttl && sscanf(ttl, "%u", &ttl_days) != 1) ex = KA_EXIT_USAGE;
    if (ex == KA_EXIT_OK) {
        struct ka_ch_ddl_opts o = {c->db, c->table, ka_ch_version_current(maj, min), ttl_days,
                                   dist ? dist : (c->distributed[0] ? c->distributed : NULL)};
        struct ka_buf b;
        ka_buf_init(&b, 1u << 20);
        if (ka_ch_ddl(&o, &b)) ex = KA_EXIT_INTERNAL;
        else fwrite(b.p, 1, b.n, stdout);
        ka_buf_free(&b);
    } else if (ex == KA_EXIT_USAGE) {
        fputs(ka_ch_usage, stderr);
    }
    ka_output_find("clickhouse")->destroy(ctx);
    return ex;
}

static int cmd_check(int argc, char **argv)
{
    const char *url = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc) url = argv[++i];
        else url = NULL, i = argc;
    }
    void *ctx = NULL;
    if (!url) {
        fputs(ka_ch_usage, stderr);
        return KA_EXIT_USAGE;
    }
    if (open_ctx(url, &ctx)) return KA_EXIT_USAGE;
    struct ka_buf rep;
    ka_buf_init(&rep, 1u << 20);
    int rc = ka_ch_check(ctx, &rep);
    fwrite(rep.p, 1, rep.n, stdout);
    printf("%s\n", rc == KA_OK ? "ok" : rc == KA_EIO ? "unreachable" : "schema differs");
    ka_buf_free(&rep);
    ka_output_find("clickhouse")->destroy(ctx);
    return rc == KA_OK ? KA_EXIT_OK : rc == KA_EIO ? KA_EXIT_INTERNAL : KA_EXIT_BADLINES;
}

/* ---- query ---- */

enum { CQ_URL = 200, CQ_STAGE, CQ_LIMIT, CQ_SQL };

struct cq {
    struct ka_cqo f;
    const char *url;
    enum ka_qout_fmt fmt;
    bool sql;
};

static int cq_parse(int argc, char **argv, struct cq *a)
{
    static const struct option own[] = {
        {"url", required_argument, 0, CQ_URL},     {"stage", required_argument, 0, CQ_STAGE},
        {"limit", required_argument, 0, CQ_LIMIT}, {"output", required_argument, 0, 'o'},
        {"sql", no_argument, 0, CQ_SQL},           {0, 0, 0, 0}};
    struct option all[sizeof own / sizeof own[0] + KA_CQO_N_LONG];
    struct ka_diag d = {0};
    int c, rc = 0;
    int64_t now = (int64_t)time(NULL);
    ka_cqo_options(own, all);
    optind = 2;
    while (rc == 0 && (c = getopt_long(argc, argv, "o:", all, NULL)) != -1) {
        if (c == CQ_URL) a->url = optarg;
        else if (c == CQ_STAGE) rc = ka_query_set_stage(&a->f.q, optarg, &d);
        else if (c == CQ_LIMIT) rc = ka_query_set_limit(&a->f.q, optarg, &d);
        else if (c == CQ_SQL) a->sql = true;
        else if (c == 'o') rc = ka_qout_parse_fmt(optarg, &a->fmt);
        else if (c == '?') rc = KA_EINVAL;
        else rc = ka_cqo_opt(&a->f, c, optarg, now, &d);
    }
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "kaudit clickhouse: %s\n", d.v[i].msg);
    ka_diag_free(&d);
    /* --clickhouse, the shared filter set's name for the same URL, means --url here */
    if (rc == 0 && a->f.clickhouse && a->url && strcmp(a->f.clickhouse, a->url) != 0) {
        fprintf(stderr, "kaudit clickhouse: --url and --clickhouse name different tables\n");
        rc = KA_EINVAL;
    }
    if (!a->url) a->url = a->f.clickhouse;
    if (rc == 0 && (!a->url || optind < argc || a->f.nfiles || a->f.store)) rc = KA_EINVAL;
    return rc;
}

struct cq_sink {
    struct ka_qout *out;
};

static int cq_row(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    struct cq_sink *s = ud;
    (void)line;
    (void)len;
    if (ka_qout_row(s->out, ev)) return KA_EXIT_INTERNAL;
    if (ka_cli_flush(ka_qout_buf(s->out), stdout, 1u << 16)) return KA_EXIT_INTERNAL;
    return 0;
}

/* Runs the query and prints its rows; returns an exit code. */
static int cq_run(struct ka_chq *h, const struct cq *a)
{
    struct ka_qout_opts qo = {.fmt = a->fmt};
    struct cq_sink s = {0};
    if (ka_qout_new(&qo, &s.out)) return KA_EXIT_INTERNAL;
    int rc = ka_chq_query(h, &a->f.q, cq_row, &s);
    int ex = rc < 0 ? KA_EXIT_INTERNAL : rc;
    if (rc < 0)
        fprintf(stderr, "kaudit clickhouse: %s: %s\n", a->url, ka_chq_errmsg(h));
    if (ex == 0 && (ka_qout_finish(s.out) || ka_cli_flush(ka_qout_buf(s.out), stdout, 0)))
        ex = KA_EXIT_INTERNAL;
    ka_qout_free(s.out);
    return ex;
}

static int cmd_query(int argc, char **argv)
{
    struct cq a = {.fmt = KA_QOUT_JSONL};
    struct ka_chq *h = NULL;
    char err[300];
    int ex = KA_EXIT_OK;
    ka_cqo_init(&a.f);
    if (cq_parse(argc, argv, &a)) {
        fputs(ka_ch_usage, stderr);
        ex = KA_EXIT_USAGE;
    } else if (ka_chq_open(a.url, NULL, &h, err, sizeof err)) {
        fprintf(stderr, "kaudit clickhouse: bad --url %s: %s\n", a.url, err);
        ex = KA_EXIT_USAGE;
    } else if (a.sql) {
        struct ka_buf b;
        ka_buf_init(&b, KA_CHQ_MAX_SQL + 1);
        ex = ka_chq_sql(h, &a.f.q, &b) ? KA_EXIT_INTERNAL : KA_EXIT_OK;
        if (ex == 0) printf("%s\n", b.p);
        ka_buf_free(&b);
    } else {
        ex = cq_run(h, &a);
    }
    ka_chq_close(h);
    ka_cqo_free(&a.f);
    return ex;
}

int ka_cmd_clickhouse(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "query")) return cmd_query(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "schema")) return cmd_schema(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "check")) return cmd_check(argc, argv);
    bool help = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    fputs(ka_ch_usage, help ? stdout : stderr);
    return help ? KA_EXIT_OK : KA_EXIT_USAGE;
}
