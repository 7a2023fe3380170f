/*
 * cmd_clickhouse.c - `kaudit clickhouse`: prints the DDL of the table the ClickHouse output
 * writes (for a server version, optionally sharded), or checks a server's table against it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../outputs/clickhouse/ch.h"
#include "cmds.h"
#include "kaudit/output.h"

static const char ka_ch_usage[] =
    "usage: kaudit clickhouse schema [--url URL] [--version 18.16|current|X.Y]\n"
    "                                [--distributed CLUSTER] [--ttl-days N]\n"
    "       kaudit clickhouse check --url URL\n"
    "schema prints the DDL kaudit uses (database and table from URL, default\n"
    "clickhouse://localhost:8123/kaudit?table=audit_events); with --url and no --version the\n"
    "server's version decides. check compares the server's table with it (exit 0 when it\n"
    "matches, 3 when it differs, 2 when the server cannot be reached).\n";

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

int ka_cmd_clickhouse(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "schema")) return cmd_schema(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "check")) return cmd_check(argc, argv);
    bool help = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    fputs(ka_ch_usage, help ? stdout : stderr);
    return help ? KA_EXIT_OK : KA_EXIT_USAGE;
}
