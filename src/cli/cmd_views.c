/*
 * cmd_views.c - the operator views: `kaudit history KIND/NAME`, `kaudit activity USER`,
 * `kaudit explain pod/NAME` and `kaudit denied`. Each reads the rows of a query (the view's own
 * filters plus the shared ones of kaudit query) from raw logs or the store and feeds them to
 * the view's accumulator (include/kaudit/views.h), which formats the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_query_opts.h"
#include "cli_util.h"
#include "cmds.h"
#include "kaudit/views.h"

#define FLUSH_AT (1u << 20)

enum vkind { V_HISTORY, V_ACTIVITY, V_EXPLAIN, V_DENIED };

static const char *const prog_names[] = {"kaudit history", "kaudit activity", "kaudit explain",
                                         "kaudit denied"};

static const char *const usages[] = {
    "usage: kaudit history KIND/NAME [-n NS] [-o text|json] [filters] [--file PATH...]\n"
    "Every request that touched one object, oldest first: time, user (impersonation), verb,\n"
    "code, and for each change what changed (a diff of the logged object, or the patch).\n"
    "KIND: deployment, deployments.apps, pod, secret, cm, ... (plural, singular, kind, short).\n",
    "usage: kaudit activity USER [-o text|json] [--limit N] [filters] [--file PATH...]\n"
    "What one user did: counts by verb, resource, namespace, source IP, user agent and code,\n"
    "first and last seen, denied requests, then the timeline (the first N rows, default 200).\n"
    "USER: a glob on usernames, system:serviceaccount:NS:NAME, or NS/NAME for a service "
    "account.\n",
    "usage: kaudit explain pod/NAME [-n NS] [-o text|json] [filters] [--file PATH...]\n"
    "Why did this pod start: its owners (ReplicaSet, Deployment, Job, CronJob, DaemonSet,\n"
    "StatefulSet) from logged ownerReferences or naming conventions (marked inferred), up to\n"
    "the user request that created or last changed the top owner before the pod was created.\n",
    "usage: kaudit denied [-o yaml|json] [filters] [--file PATH...]\n"
    "Denied requests (403) grouped by user and (verb, resource, namespace), with the RBAC\n"
    "reason and the smallest Role or ClusterRole rule that would allow each group.\n",
};

enum { OPT_LIMIT = 256 };

static const struct option own_opts[] = {
    {"output", required_argument, 0, 'o'},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

struct vargs {
    enum vkind kind;
    struct ka_cqo cqo;
    enum ka_view_fmt fmt;
    const char *target, *ns;
    uint64_t limit;
};

struct vstate {
    enum vkind kind;
    struct ka_history *h;
    struct ka_activity *a;
    struct ka_explain *x;
    struct ka_denied *d;
};

static void usage(enum vkind k, FILE *f)
{
    fputs(usages[k], f);
    fputs(ka_cqo_usage, f);
    fputs("Exit: 0 success, 1 usage or input error, 2 internal error, 3 some lines were bad.\n",
          f);
}

static int own_opt(struct vargs *va, int c, const char *v, struct ka_diag *d)
{
    unsigned long long n;
    switch (c) {
    case 'o':
        if (strcmp(v, "json") == 0)
            va->fmt = KA_VIEW_JSON;
        else if (strcmp(v, "text") == 0 || strcmp(v, "yaml") == 0)
            va->fmt = KA_VIEW_TEXT;
        else
            return ka_diag_add(d, KA_SEV_ERROR, "-o: \"%s\": expected %s or json", v,
                               va->kind == V_DENIED ? "yaml" : "text"), KA_EINVAL;
        return 0;
    case OPT_LIMIT:
        if (ka_cli_parse_size(v, &n) || n == 0)
            return ka_diag_add(d, KA_SEV_ERROR, "--limit: \"%s\": expected a positive number",
                               v), KA_EINVAL;
        va->limit = n;
        return 0;
    case 'n':
        if (va->kind == V_HISTORY || va->kind == V_EXPLAIN) {
            va->ns = v;
            return 0;
        }
        return 1;
    default: return 1;
    }
}

static int positional(struct vargs *va, int argc, char **argv, struct ka_diag *d)
{
    for (; optind < argc; optind++) {
        if (!va->target && va->kind != V_DENIED) {
            va->target = argv[optind];
        } else if (va->cqo.nfiles > 0 && va->cqo.nfiles < KA_CQO_MAX_FILES) {
            va->cqo.files[va->cqo.nfiles++] = argv[optind];
        } else {
            ka_diag_add(d, KA_SEV_ERROR, "unexpected argument \"%s\" (paths go after --file)",
                        argv[optind]);
            return KA_EINVAL;
        }
    }
    if (!va->target && va->kind != V_DENIED) {
        ka_diag_add(d, KA_SEV_ERROR, "missing %s", va->kind == V_ACTIVITY ? "USER"
                                                   : va->kind == V_EXPLAIN ? "pod/NAME"
                                                                           : "KIND/NAME");
        return KA_EINVAL;
    }
    return 0;
}

/* Returns 0, an exit code, or -1 when --help was printed. */
static int parse(struct vargs *va, int argc, char **argv)
{
    struct option opts[sizeof own_opts / sizeof own_opts[0] + KA_CQO_N_LONG + 1];
    struct ka_diag d = {0};
    int64_t now = (int64_t)time(NULL);
    int c, rc = 0;
    ka_cqo_options(own_opts, opts);
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "o:n:h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(va->kind, stdout);
            return -1;
        }
        if (c == '?') {
            usage(va->kind, stderr);
            return KA_EXIT_USAGE;
        }
        rc = own_opt(va, c, optarg, &d);
        if (rc == 1)
            rc = ka_cqo_opt(&va->cqo, c == 'n' ? KA_CQO_NAMESPACE : c, optarg, now, &d);
        if (rc == 1)
            rc = KA_EINVAL;
    }
    if (rc == 0)
        rc = positional(va, argc, argv, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s: %s\n", prog_names[va->kind], d.v[i].msg);
    ka_diag_free(&d);
    return rc ? KA_EXIT_USAGE : 0;
}

static struct ka_buf *view_buf(struct vstate *v)
{
    switch (v->kind) {
    case V_HISTORY: return ka_history_buf(v->h);
    case V_ACTIVITY: return ka_activity_buf(v->a);
    case V_EXPLAIN: return ka_explain_buf(v->x);
    default: return ka_denied_buf(v->d);
    }
}

static int flush(struct vstate *v, size_t min)
{
    if (ka_cli_flush(view_buf(v), stdout, min)) {
        if (errno != EPIPE)
            fprintf(stderr, "%s: writing the output: %s\n", prog_names[v->kind],
                    strerror(errno));
        return KA_EXIT_INTERNAL;
    }
    return 0;
}

static int on_row(void *ud, const struct ka_event *ev)
{
    struct vstate *v = ud;
    int rc;
    switch (v->kind) {
    case V_HISTORY: rc = ka_history_add(v->h, ev); break;
    case V_ACTIVITY: rc = ka_activity_add(v->a, ev); break;
    case V_EXPLAIN: rc = ka_explain_add(v->x, ev); break;
    default: rc = ka_denied_add(v->d, ev); break;
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog_names[v->kind], ka_strerror(rc));
        return KA_EXIT_INTERNAL;
    }
    return flush(v, FLUSH_AT);
}

/* Adds the view's filters to the query and creates its accumulator. */
static int setup(struct vargs *va, struct vstate *v, struct ka_diag *d)
{
    struct ka_view_target t;
    int rc = 0;
    v->kind = va->kind;
    if (va->kind == V_HISTORY || va->kind == V_EXPLAIN) {
        rc = ka_view_target_parse(va->target, va->ns, &t, d);
        if (rc == 0 && va->kind == V_EXPLAIN && strcmp(t.kind, "Pod") != 0) {
            ka_diag_add(d, KA_SEV_ERROR, "\"%s\": explain takes pod/NAME", va->target);
            rc = KA_EINVAL;
        }
    }
    if (rc)
        return rc;
    switch (va->kind) {
    case V_HISTORY:
        rc = ka_view_history_query(&t, &va->cqo.q, d);
        return rc ? rc : ka_history_new(&t, va->fmt, &v->h);
    case V_ACTIVITY:
        rc = ka_view_activity_query(va->target, &va->cqo.q, d);
        return rc ? rc : ka_activity_new(va->fmt, va->limit, &v->a);
    case V_EXPLAIN:
        rc = ka_view_explain_query(&t, &va->cqo.q, d);
        return rc ? rc : ka_explain_new(&t, va->fmt, &v->x);
    default:
        rc = ka_view_denied_query(&va->cqo.q, d);
        return rc ? rc : ka_denied_new(va->fmt, &v->d);
    }
}

static int finish(struct vstate *v)
{
    switch (v->kind) {
    case V_HISTORY: return ka_history_finish(v->h);
    case V_ACTIVITY: return ka_activity_finish(v->a);
    case V_EXPLAIN: return ka_explain_finish(v->x);
    default: return ka_denied_finish(v->d);
    }
}

static void vstate_free(struct vstate *v)
{
    ka_history_free(v->h);
    ka_activity_free(v->a);
    ka_explain_free(v->x);
    ka_denied_free(v->d);
}

static int run(enum vkind kind, int argc, char **argv)
{
    struct vargs va;
    struct vstate v;
    struct ka_diag d = {0};
    memset(&va, 0, sizeof va);
    memset(&v, 0, sizeof v);
    va.kind = kind;
    ka_cqo_init(&va.cqo);
    int ex = parse(&va, argc, argv);
    if (ex == 0 && setup(&va, &v, &d)) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s: %s\n", prog_names[kind], d.v[i].msg);
        ex = d.n ? KA_EXIT_USAGE : KA_EXIT_INTERNAL;
    }
    ka_diag_free(&d);
    if (ex == 0)
        ex = ka_cqo_run(&va.cqo, prog_names[kind], on_row, &v);
    if (ex == 0 || ex == KA_EXIT_BADLINES) {
        int rc = finish(&v);
        if (rc) {
            fprintf(stderr, "%s: %s\n", prog_names[kind], ka_strerror(rc));
            ex = KA_EXIT_INTERNAL;
        }
        int fx = flush(&v, 0);
        if (fx)
            ex = fx;
        if (fflush(stdout) && ex == 0)
            ex = KA_EXIT_INTERNAL;
    }
    vstate_free(&v);
    ka_cqo_free(&va.cqo);
    return ex < 0 ? KA_EXIT_OK : ex;
}

int ka_cmd_history(int argc, char **argv)
{
    return run(V_HISTORY, argc, argv);
}

int ka_cmd_activity(int argc, char **argv)
{
    return run(V_ACTIVITY, argc, argv);
}

int ka_cmd_explain(int argc, char **argv)
{
    return run(V_EXPLAIN, argc, argv);
}

int ka_cmd_denied(int argc, char **argv)
{
    return run(V_DENIED, argc, argv);
}
