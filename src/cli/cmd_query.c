/*
 * cmd_query.c - `kaudit query`: filter audit events and print them as rows, counts, top-N or a
 * histogram, from raw log files (--file, with backups, .gz and directories), following one file
 * (--follow), from the store in the data directory (the default), or from the table of the
 * ClickHouse output (--clickhouse URL). From the store, --count and --top FIELD are answered
 * from its columns when it can answer exactly (ka_store_count, ka_store_top).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_query_opts.h"
#include "cli_util.h"
#include "cmds.h"
#include "kaudit/config.h"
#include "kaudit/qout.h"
#include "kaudit/query.h"
#include "kaudit/tail.h"

#include "kaudit/store.h"

#define FLUSH_AT (1u << 20)

static const char usage_query[] =
    "usage: kaudit query [filters] [output] [--file PATH... | --follow FILE | --store DIR |\n"
    "                    --clickhouse URL]\n"
    "Prints the audit requests that match every filter, oldest first.\n"
    "\n"
    "Filters (comma-separated lists where noted; repeat a flag to add values):\n"
    "  -u, --user GLOB[,..]     user.username      --as GLOB[,..]   impersonated user\n"
    "  --group GLOB[,..]        any of user.groups  --verb VERB[,..]\n"
    "  -r, --resource PAT[,..]  pods, pods/exec, pods/*, */status, deployments.apps\n"
    "  -n, --namespace GLOB[,..]                    --name GLOB[,..]\n"
    "  --code C[,..]            403, 4xx, !2xx      --decision allow|forbid\n"
    "  --source-ip ADDR|CIDR[,..]                   --user-agent GLOB\n"
    "  --cluster GLOB[,..]      annotation kaudit.io/cluster\n"
    "  --grep TEXT              substring of the raw event (repeat: all must occur)\n"
    "  --stage requests|any|STAGE   rows are requests (latest stage per auditID, default),\n"
    "                           every event, or the events of one stage\n"
    "  --since T, --until T     on requestReceivedTimestamp: 2h, 30m, 7d or RFC 3339\n"
    "  --limit N                the first N rows\n"
    "Output:\n"
    "  -o table|wide|json|jsonl|csv   (default table; jsonl = the canonical events)\n"
    "  --count                  the number of rows\n"
    "  --top FIELD[,FIELD]      counts by fields, largest first (--top-n N, default 20);\n"
    "                           fields: user verb resource namespace name code source-ip\n"
    "                           user-agent stage audit-id decision cluster as api-group\n"
    "  --histogram DURATION     rows per time bucket, drawn as bars (1h, 10m, 1d)\n"
    "  --color auto|always|never\n"
    "Sources:\n"
    "  --file PATH...           raw logs: files with their rotated backups, .gz, directories\n"
    "                           (every argument after --file is a path)\n"
    "  --no-backups             read only the files named\n"
    "  -f, --follow [FILE]      print rows as they arrive, until interrupted: in FILE (or\n"
    "                           --file PATH), else in the store (the collector's journal in\n"
    "                           its data directory, which the store indexes)\n"
    "  --store DIR              the store (default: server.data_dir of --config, else\n"
    "                           ./kaudit-data)\n"
    "  --config FILE            kaudit configuration file\n"
    "  --clickhouse URL         the table of the ClickHouse output:\n"
    "                           clickhouse[s]://[USER:PASS@]HOST[:PORT]/DB?table=T\n"
    "Exit: 0 success, 1 usage or input error, 2 internal error, 3 some lines were bad.\n";

struct qopts {
    struct ka_cqo f; /* the filters and sources shared with the views (cli_query_opts.h) */
    struct ka_qout_opts o;
    bool follow;
    const char *color;
};

/* kaudit query's own options; the shared filters and sources are ka_cqo_long. */
enum {
    OPT_STAGE = 256, OPT_LIMIT, OPT_COUNT, OPT_TOP, OPT_TOPN, OPT_HIST, OPT_COLOR
};

static const struct option own_opts[] = {
    {"stage", required_argument, 0, OPT_STAGE},  {"limit", required_argument, 0, OPT_LIMIT},
    {"output", required_argument, 0, 'o'},       {"count", no_argument, 0, OPT_COUNT},
    {"top", required_argument, 0, OPT_TOP},      {"top-n", required_argument, 0, OPT_TOPN},
    {"histogram", required_argument, 0, OPT_HIST},
    {"color", required_argument, 0, OPT_COLOR},  {"follow", no_argument, 0, 'f'},
    {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
#define N_OWN_OPTS (sizeof own_opts / sizeof own_opts[0] - 1)

/* -u, -r, -n: the short forms of shared options. */
static int short_to_shared(int c)
{
    return c == 'u' ? KA_CQO_USER : c == 'r' ? KA_CQO_RESOURCE : c == 'n' ? KA_CQO_NAMESPACE : c;
}

static int output_opt(struct qopts *qo, int c, const char *v, struct ka_diag *d)
{
    int64_t sec;
    unsigned long long n;
    switch (c) {
    case 'o':
        if (ka_qout_parse_fmt(v, &qo->o.fmt) == 0)
            return 0;
        ka_diag_add(d, KA_SEV_ERROR, "-o: \"%s\": expected table, wide, json, jsonl or csv", v);
        return KA_EINVAL;
    case OPT_STAGE: return ka_query_set_stage(&qo->f.q, v, d);
    case OPT_LIMIT: return ka_query_set_limit(&qo->f.q, v, d);
    case OPT_COUNT: qo->o.count = true; return 0;
    case OPT_TOP:
        if (ka_qfield_parse_list(v, qo->o.top, KA_QOUT_MAX_TOP_FIELDS, &qo->o.n_top) == 0)
            return 0;
        ka_diag_add(d, KA_SEV_ERROR, "--top: \"%s\": expected up to %u of user, verb, resource, "
                    "namespace, name, code, source-ip, user-agent, stage, audit-id, decision, "
                    "cluster, as, api-group", v, KA_QOUT_MAX_TOP_FIELDS);
        return KA_EINVAL;
    case OPT_TOPN:
        if (ka_cli_parse_size(v, &n) == 0 && n > 0 && n < 1000000000ull) {
            qo->o.top_n = (size_t)n;
            return 0;
        }
        ka_diag_add(d, KA_SEV_ERROR, "--top-n: \"%s\": expected a positive number", v);
        return KA_EINVAL;
    case OPT_HIST:
        if (ka_query_parse_duration(v, &sec) == 0 && sec > 0) {
            qo->o.hist_sec = sec;
            return 0;
        }
        ka_diag_add(d, KA_SEV_ERROR, "--histogram: \"%s\": expected a duration of at least 1s "
                    "(10m, 1h, 1d)", v);
        return KA_EINVAL;
    default: return 1;
    }
}

static int source_opt(struct qopts *qo, int c, char *v, struct ka_diag *d)
{
    switch (c) {
    case 'f': qo->follow = true; return 0;
    case OPT_COLOR:
        if (strcmp(v, "auto") != 0 && strcmp(v, "always") != 0 && strcmp(v, "never") != 0) {
            ka_diag_add(d, KA_SEV_ERROR, "--color: \"%s\": expected auto, always or never", v);
            return KA_EINVAL;
        }
        qo->color = v;
        return 0;
    default: return 1;
    }
}

static void print_diag(const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "kaudit query: %s\n", d->v[i].msg);
}

/* Returns 0, or an exit code (-1: --help printed). */
static int parse_args(int argc, char **argv, struct qopts *qo)
{
    struct ka_diag d = {0};
    int64_t now = (int64_t)time(NULL);
    int c, rc = 0;
    struct option all[N_OWN_OPTS + KA_CQO_N_LONG + 1];
    ka_cqo_options(own_opts, all);
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "u:r:n:o:fh", all, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_query, stdout);
            return -1;
        }
        if (c == '?') {
            fputs(usage_query, stderr);
            return KA_EXIT_USAGE;
        }
        rc = ka_cqo_opt(&qo->f, short_to_shared(c), optarg, now, &d);
        if (rc == 1)
            rc = output_opt(qo, c, optarg, &d);
        if (rc == 1)
            rc = source_opt(qo, c, optarg, &d);
    }
    for (; rc == 0 && optind < argc; optind++) {
        if ((qo->f.nfiles == 0 && !qo->follow) || qo->f.nfiles == KA_CQO_MAX_FILES) {
            ka_diag_add(&d, KA_SEV_ERROR, "unexpected argument \"%s\" (paths go after --file)",
                        argv[optind]);
            rc = KA_EINVAL;
        } else {
            qo->f.files[qo->f.nfiles++] = argv[optind];
        }
    }
    if (rc == 0 && qo->follow && qo->f.nfiles > 1) {
        ka_diag_add(&d, KA_SEV_ERROR, "--follow: one file at a time");
        rc = KA_EINVAL;
    }
    if (rc == 0 && qo->f.clickhouse && (qo->follow || qo->f.nfiles || qo->f.store)) {
        ka_diag_add(&d, KA_SEV_ERROR, "--clickhouse cannot be combined with --file, --follow "
                    "or --store");
        rc = KA_EINVAL;
    }
    print_diag(&d);
    ka_diag_free(&d);
    return rc ? KA_EXIT_USAGE : 0;
}

/* ---- output ---- */

struct sink {
    struct ka_qout *out;
    int exit_code;
};

static int sink_flush(struct sink *s, size_t min)
{
    if (ka_cli_flush(ka_qout_buf(s->out), stdout, min)) {
        if (errno != EPIPE)
            fprintf(stderr, "kaudit query: writing the output: %s\n", strerror(errno));
        return KA_EXIT_INTERNAL;
    }
    return 0;
}

static int sink_event(struct sink *s, const struct ka_event *ev)
{
    int rc = ka_qout_row(s->out, ev);
    if (rc) {
        fprintf(stderr, "kaudit query: output: %s\n", ka_strerror(rc));
        return KA_EXIT_INTERNAL;
    }
    return sink_flush(s, FLUSH_AT);
}

static int sink_raw(void *ud, const char *raw, size_t n)
{
    struct ka_event ev;
    struct ka_scan_err e;
    if (ka_event_scan(raw, n, NULL, &ev, &e)) {
        fprintf(stderr, "kaudit query: internal: a selected row does not scan: %s\n", e.msg);
        return KA_EXIT_INTERNAL;
    }
    return sink_event(ud, &ev);
}

/* ---- follow ---- */

static volatile sig_atomic_t stop_follow;

static void on_stop(int sig)
{
    (void)sig;
    stop_follow = 1;
}

/*
 * The file --follow reads: the one named, else the journal of the store's data directory.
 * Every event reaches the store through that journal (kaudit serve's store consumer indexes
 * it within a batch period), so its new lines are the rows as they arrive in the store.
 */
static const char *follow_path(const struct qopts *qo, struct ka_cfg **cfg, char *buf,
                               size_t len)
{
    if (qo->f.nfiles)
        return qo->f.files[0];
    const char *dir = ka_cqo_store_dir(&qo->f, "kaudit query", cfg);
    if (!dir)
        return NULL;
    struct stat st;
    if (snprintf(buf, len, "%s/journal/audit.log", dir) >= (int)len || stat(buf, &st) != 0) {
        fprintf(stderr, "kaudit query: --follow: no collector journal in %s (a store filled by "
                        "kaudit index has none): name a log to follow, --follow FILE\n", dir);
        return NULL;
    }
    return buf;
}

static int run_follow(const struct qopts *qo, struct sink *sk)
{
    char jpath[4096 + 32];
    struct ka_cfg *cfg = NULL;
    struct ka_tail_opts to = {.path = follow_path(qo, &cfg, jpath, sizeof jpath)};
    struct ka_tail *t = NULL;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = to.path ? ka_tail_open(&to, &t) : KA_ENOENT;
    if (rc) {
        if (to.path)
            fprintf(stderr, "kaudit query: --follow %s: %s\n", to.path, ka_strerror(rc));
        ka_cfg_free(cfg);
        return KA_EXIT_USAGE;
    }
    uint64_t shown = 0;
    int ex = 0;
    while (ex == 0 && !stop_follow && (!qo->f.q.limit || shown < qo->f.q.limit)) {
        struct ka_tail_rec r;
        rc = ka_tail_next(t, &r, 0);
        if (rc == 0 && fflush(stdout) != 0) { /* caught up: the rows go out now, not when */
            if (errno != EPIPE)               /* stdio's buffer of a pipe or file is full */
                fprintf(stderr, "kaudit query: writing the output: %s\n", strerror(errno));
            ex = KA_EXIT_INTERNAL;
            break;
        }
        if (rc == 0)
            rc = ka_tail_next(t, &r, 500);
        if (rc < 0) {
            fprintf(stderr, "kaudit query: --follow: %s\n", ka_strerror(rc));
            ex = KA_EXIT_INTERNAL;
        }
        if (rc <= 0) {
            continue;
        }
        struct ka_event ev;
        struct ka_scan_err e;
        if (ka_event_scan(r.line, r.len, NULL, &ev, &e))
            continue;
        bool final = ev.stage_v == KA_STAGE_RESPONSE_COMPLETE || ev.stage_v == KA_STAGE_PANIC;
        if (qo->f.q.stage_mode == KA_QSTAGE_REQUESTS && !final)
            continue;
        if (!ka_query_match(&qo->f.q, &ev, r.line, r.len) || !ka_query_stage_ok(&qo->f.q, &ev))
            continue;
        shown++;
        ex = sink_event(sk, &ev);
        if (ex == 0)
            ex = sink_flush(sk, 0);
    }
    ka_tail_close(t);
    ka_cfg_free(cfg);
    return ex;
}

/* ---- store ---- */

/* A row of the store or of ClickHouse. */
static int line_row(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    (void)line;
    (void)len;
    return sink_event(ud, ev);
}

static int run_clickhouse(const struct qopts *qo, struct sink *sk)
{
    return ka_cqo_run_clickhouse(qo->f.clickhouse, &qo->f.q, "kaudit query", line_row, sk);
}

/* The store's names of the --top fields it can group by exactly (NULL: count the rows). */
static const char *store_field(enum ka_qfield f)
{
    switch (f) {
    case KA_QF_USER: return "user";
    case KA_QF_AS: return "as";
    case KA_QF_VERB: return "verb";
    case KA_QF_RESOURCE: return "resource";
    case KA_QF_NAMESPACE: return "namespace";
    case KA_QF_NAME: return "name";
    case KA_QF_CODE: return "code";
    case KA_QF_USER_AGENT: return "user_agent";
    case KA_QF_CLUSTER: return "cluster";
    case KA_QF_GROUP: return "group";
    default: return NULL; /* time, stage, audit-id: no column; source-ip: the first only;
                             decision: values other than allow/forbid are not kept */
    }
}

static int top_group(void *ud, const char *key, size_t n, uint64_t count)
{
    struct sink *sk = ud;
    return ka_qout_add_top(sk->out, key, n, count);
}

/* --count or --top from the columns: 0 done, KA_ENOENT (count the rows), or an error. */
static int store_aggregate(struct ka_store *st, const struct qopts *qo, struct sink *sk)
{
    const struct ka_qout_opts *o = &qo->o;
    if (o->n_top == 1 && o->hist_sec <= 0) {
        const char *f = store_field(o->top[0]);
        return f ? ka_store_top(st, &qo->f.q, f, top_group, sk) : KA_ENOENT;
    }
    if (o->count && o->n_top == 0 && o->hist_sec <= 0) {
        uint64_t n = 0;
        int rc = ka_store_count(st, &qo->f.q, &n);
        return rc ? rc : ka_qout_add_count(sk->out, n);
    }
    return KA_ENOENT;
}

static int run_store(const struct qopts *qo, struct sink *sk)
{
    struct ka_cfg *cfg = NULL;
    const char *dir = ka_cqo_store_dir(&qo->f, "kaudit query", &cfg);
    struct ka_store *st = NULL;
    int ex = 0;
    if (!dir) {
        ex = KA_EXIT_USAGE;
    } else if ((ex = ka_store_open(dir, true, &st)) != 0) {
        fprintf(stderr, "kaudit query: cannot open the store in %s: %s%s\n", dir,
                ka_store_errmsg(NULL),
                ex == KA_ENOENT ? " (index logs with `kaudit index`, or read them with --file)"
                                : "");
        ex = KA_EXIT_USAGE;
    } else {
        int rc = store_aggregate(st, qo, sk);
        if (rc == KA_ENOENT)
            rc = ka_store_query(st, &qo->f.q, line_row, sk);
        if (rc < 0) {
            fprintf(stderr, "kaudit query: store: %s\n", ka_strerror(rc));
            ex = KA_EXIT_INTERNAL;
        } else {
            ex = rc;
        }
        ka_store_close(st);
    }
    ka_cfg_free(cfg);
    return ex;
}

int ka_cmd_query(int argc, char **argv)
{
    struct qopts qo;
    memset(&qo, 0, sizeof qo);
    ka_cqo_init(&qo.f);
    int ex = parse_args(argc, argv, &qo);
    struct sink sk = {0};
    if (ex == 0) {
        bool tty = isatty(STDOUT_FILENO);
        qo.o.color = qo.color ? strcmp(qo.color, "always") == 0 ||
                                    (strcmp(qo.color, "auto") == 0 && tty)
                              : tty && !getenv("NO_COLOR");
        qo.o.bars_unicode = tty;
        qo.o.stream = qo.follow;
        if (ka_qout_new(&qo.o, &sk.out)) {
            fprintf(stderr, "kaudit query: out of memory\n");
            ex = KA_EXIT_INTERNAL;
        }
    }
    if (ex == 0)
        ex = qo.follow       ? run_follow(&qo, &sk)
             : qo.f.clickhouse ? run_clickhouse(&qo, &sk)
             : qo.f.nfiles     ? ka_cqo_scan_files(&qo.f, "kaudit query", sink_raw, &sk)
                             : run_store(&qo, &sk);
    if (sk.out && (ex == 0 || ex == KA_EXIT_BADLINES)) {
        int rc = ka_qout_finish(sk.out);
        int fx = rc ? KA_EXIT_INTERNAL : sink_flush(&sk, 0);
        if (fx)
            ex = fx;
        if (fflush(stdout) && ex == 0)
            ex = KA_EXIT_INTERNAL;
    }
    ka_qout_free(sk.out);
    ka_cqo_free(&qo.f);
    return ex < 0 ? KA_EXIT_OK : ex;
}
