/*
 * cli_query_opts.c - shared filters and row sources of `kaudit query` and the views: parsing
 * the filter flags with query.h, and reading the rows of a query from raw logs (cli_scan.c),
 * from the store or from ClickHouse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_query_opts.h"
#include "cmds.h"
#include "kaudit/chquery.h"
#include "kaudit/config.h"
#include "kaudit/store.h"

const struct option ka_cqo_long[] = {
    {"user", required_argument, 0, KA_CQO_USER},
    {"as", required_argument, 0, KA_CQO_AS},
    {"group", required_argument, 0, KA_CQO_GROUP},
    {"verb", required_argument, 0, KA_CQO_VERB},
    {"resource", required_argument, 0, KA_CQO_RESOURCE},
    {"namespace", required_argument, 0, KA_CQO_NAMESPACE},
    {"name", required_argument, 0, KA_CQO_NAME},
    {"code", required_argument, 0, KA_CQO_CODE},
    {"decision", required_argument, 0, KA_CQO_DECISION},
    {"source-ip", required_argument, 0, KA_CQO_SRCIP},
    {"user-agent", required_argument, 0, KA_CQO_UA},
    {"cluster", required_argument, 0, KA_CQO_CLUSTER},
    {"grep", required_argument, 0, KA_CQO_GREP},
    {"since", required_argument, 0, KA_CQO_SINCE},
    {"until", required_argument, 0, KA_CQO_UNTIL},
    {"file", required_argument, 0, KA_CQO_FILE},
    {"store", required_argument, 0, KA_CQO_STORE},
    {"config", required_argument, 0, KA_CQO_CONFIG},
    {"no-backups", no_argument, 0, KA_CQO_NOBACKUPS},
    {"clickhouse", required_argument, 0, KA_CQO_CLICKHOUSE},
    {0, 0, 0, 0}};

const char ka_cqo_usage[] =
    "Filters (as in kaudit query; comma-separated lists, repeatable):\n"
    "  --user GLOB  --as GLOB  --group GLOB  --verb VERB  --resource PAT  --namespace GLOB\n"
    "  --name GLOB  --code C (403, 4xx, !2xx)  --decision allow|forbid  --source-ip CIDR\n"
    "  --user-agent GLOB  --cluster GLOB  --grep TEXT\n"
    "  --since T, --until T     on requestReceivedTimestamp: 2h, 30m, 7d or RFC 3339\n"
    "Sources:\n"
    "  --file PATH...           raw logs: files with their rotated backups, .gz, directories\n"
    "  --no-backups             read only the files named\n"
    "  --store DIR              the store (default: server.data_dir of --config, else\n"
    "                           ./kaudit-data)\n"
    "  --config FILE            kaudit configuration file\n"
    "  --clickhouse URL         the table of the ClickHouse output:\n"
    "                           clickhouse[s]://[USER:PASS@]HOST[:PORT]/DB?table=T\n";

void ka_cqo_init(struct ka_cqo *o)
{
    memset(o, 0, sizeof *o);
    ka_query_init(&o->q);
}

void ka_cqo_free(struct ka_cqo *o)
{
    ka_query_free(&o->q);
}

void ka_cqo_options(const struct option *cmd, struct option *out)
{
    size_t n = 0;
    for (; cmd[n].name; n++)
        out[n] = cmd[n];
    for (size_t i = 0; i <= KA_CQO_N_LONG; i++)
        out[n + i] = ka_cqo_long[i];
}

static int source_opt(struct ka_cqo *o, int c, char *v, struct ka_diag *d)
{
    switch (c) {
    case KA_CQO_FILE:
        if (o->nfiles == KA_CQO_MAX_FILES) {
            ka_diag_add(d, KA_SEV_ERROR, "--file: more than %d paths", KA_CQO_MAX_FILES);
            return KA_ETOOBIG;
        }
        o->files[o->nfiles++] = v;
        return 0;
    case KA_CQO_STORE: o->store = v; return 0;
    case KA_CQO_CONFIG: o->config = v; return 0;
    case KA_CQO_NOBACKUPS: o->no_backups = true; return 0;
    case KA_CQO_CLICKHOUSE: o->clickhouse = v; return 0;
    default: return 1;
    }
}

int ka_cqo_opt(struct ka_cqo *o, int c, char *v, int64_t now, struct ka_diag *d)
{
    struct ka_query *q = &o->q;
    switch (c) {
    case KA_CQO_USER: return ka_query_add_users(q, v, d);
    case KA_CQO_AS: return ka_query_add_as(q, v, d);
    case KA_CQO_GROUP: return ka_query_add_groups(q, v, d);
    case KA_CQO_VERB: return ka_query_add_verbs(q, v, d);
    case KA_CQO_RESOURCE: return ka_query_add_resources(q, v, d);
    case KA_CQO_NAMESPACE: return ka_query_add_namespaces(q, v, d);
    case KA_CQO_NAME: return ka_query_add_names(q, v, d);
    case KA_CQO_CODE: return ka_query_add_codes(q, v, d);
    case KA_CQO_DECISION: return ka_query_set_decision(q, v, d);
    case KA_CQO_SRCIP: return ka_query_add_source_ips(q, v, d);
    case KA_CQO_UA: return ka_query_add_user_agents(q, v, d);
    case KA_CQO_CLUSTER: return ka_query_add_clusters(q, v, d);
    case KA_CQO_GREP: return ka_query_add_grep(q, v, d);
    case KA_CQO_SINCE: return ka_query_set_since(q, v, now, d);
    case KA_CQO_UNTIL: return ka_query_set_until(q, v, now, d);
    default: return source_opt(o, c, v, d);
    }
}

/* ---- raw files (cli_scan.c) ---- */

struct rowcb {
    ka_cqo_row_fn fn;
    void *ud;
};

static int raw_row(void *ud, const char *raw, size_t n)
{
    struct rowcb *cb = ud;
    struct ka_event ev;
    struct ka_scan_err e;
    if (ka_event_scan(raw, n, NULL, &ev, &e))
        return KA_EXIT_INTERNAL;
    return cb->fn(cb->ud, &ev);
}

/* ---- store ---- */

static int store_row(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    struct rowcb *cb = ud;
    (void)line;
    (void)len;
    return cb->fn(cb->ud, ev);
}

const char *ka_cqo_store_dir(const struct ka_cqo *o, const char *prog, struct ka_cfg **cfg)
{
    if (o->store)
        return o->store;
    if (!o->config)
        return "./kaudit-data";
    struct ka_diag d = {0};
    int rc = ka_cfg_new(ka_cfg_serve_keys, &d, cfg);
    if (rc == 0)
        rc = ka_cfg_load_file(*cfg, o->config, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s: %s\n", prog, d.v[i].msg);
    ka_diag_free(&d);
    const char *cd = rc == 0 ? ka_cfg_str(*cfg, "server.data_dir") : NULL;
    if (rc)
        return NULL;
    return cd && *cd ? cd : "./kaudit-data";
}

static int run_store(const struct ka_cqo *o, const char *prog, struct rowcb *cb)
{
    struct ka_cfg *cfg = NULL;
    const char *dir = ka_cqo_store_dir(o, prog, &cfg);
    int ex = dir ? 0 : KA_EXIT_USAGE;
    struct ka_store *st = NULL;
    int orc = ex == 0 ? ka_store_open(dir, true, &st) : 0;
    if (orc) {
        fprintf(stderr, "%s: cannot open the store in %s: %s%s\n", prog, dir, ka_store_errmsg(NULL),
                orc == KA_ENOENT ? " (index logs with `kaudit index`, or read them with --file)" : "");
        ex = KA_EXIT_USAGE;
    }
    if (ex == 0) {
        int rc = ka_store_query(st, &o->q, store_row, cb);
        if (rc < 0) {
            fprintf(stderr, "%s: store: %s\n", prog, ka_strerror(rc));
            ex = KA_EXIT_INTERNAL;
        } else {
            ex = rc;
        }
    }
    ka_store_close(st);
    ka_cfg_free(cfg);
    return ex;
}

/* ---- ClickHouse ---- */

int ka_cqo_run_clickhouse(const char *url, const struct ka_query *q, const char *prog,
                          ka_cqo_line_fn fn, void *ud)
{
    struct ka_chq *h = NULL;
    char err[300];
    if (ka_chq_open(url, NULL, &h, err, sizeof err)) {
        fprintf(stderr, "%s: --clickhouse %s: %s\n", prog, url, err);
        return KA_EXIT_USAGE;
    }
    int rc = ka_chq_query(h, q, fn, ud);
    int ex = rc;
    if (rc < 0) {
        fprintf(stderr, "%s: clickhouse: %s\n", prog, ka_chq_errmsg(h));
        ex = rc == KA_EIO ? KA_EXIT_USAGE : KA_EXIT_INTERNAL;
    }
    ka_chq_close(h);
    return ex;
}

int ka_cqo_run(const struct ka_cqo *o, const char *prog, ka_cqo_row_fn fn, void *ud)
{
    struct rowcb cb = {fn, ud};
    if (o->clickhouse && (o->nfiles || o->store)) {
        fprintf(stderr, "%s: --clickhouse cannot be combined with --file or --store\n", prog);
        return KA_EXIT_USAGE;
    }
    if (o->clickhouse)
        return ka_cqo_run_clickhouse(o->clickhouse, &o->q, prog, store_row, &cb);
    return o->nfiles ? ka_cqo_scan_files(o, prog, raw_row, &cb) : run_store(o, prog, &cb);
}
