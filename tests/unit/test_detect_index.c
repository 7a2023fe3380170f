/*
 * test_detect_index.c - the rule index (prefilter) and the evaluation shortcuts: an engine
 * with the index must raise exactly the alerts of one that evaluates every rule on every
 * event (no_index), with both rule matching modes, on hand-written edge cases (negations,
 * unconstrained alternatives, missing fields, contradictory conditions, rule order under
 * `first`, stateful rules), on generated traffic with kaudit's default rules and, when
 * ../shared is present, with Falco's rules file (../shared/data/falco/k8s_audit_rules.yaml,
 * Falco's k8s_audit_rules.yaml as published by falcosecurity/rules). Also the per-event
 * lower-casing behind icontains and the fusion of `or` operands on one field. Traffic comes
 * from ka_gen (seeded, deterministic).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/buf.h"
#include "kaudit/default_rules.h"
#include "kaudit/detect.h"
#include "kaudit/gen.h"
#include "testutil.h"

#define MAX_LOG 65536u

/* The alerts of one engine: "evt:rule" lines. */
struct log {
    char *s;
    size_t n;
    size_t alerts;
    unsigned long evt;
};

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct log *l = ud;
    l->alerts++;
    if (l->n + 300 < MAX_LOG)
        l->n += (size_t)snprintf(l->s + l->n, MAX_LOG - l->n, "%lu:%s\n", l->evt, m->rule);
    return 0;
}

struct eng {
    struct ka_detect *d;
    struct ka_detect_ctx *c;
    struct log log;
};

/* Opens an engine: the rules file path (or NULL), then the rules text yaml (or NULL). */
static void eng_open(struct eng *e, const char *path, const char *yaml, int no_index,
                     enum ka_detect_matching m)
{
    struct ka_detect_opts o;
    struct ka_diag diag = {0};
    memset(e, 0, sizeof(*e));
    ka_detect_opts_default(&o);
    o.hostname = "h";
    o.no_index = no_index;
    o.matching = m;
    cr_assert_eq(ka_detect_new(&o, &e->d), KA_OK);
    int rc = path ? ka_detect_load_file(e->d, path, &diag) : KA_OK;
    if (rc == KA_OK && yaml)
        rc = ka_detect_load_mem(e->d, "t.yaml", yaml, strlen(yaml), &diag);
    if (rc == KA_OK)
        rc = ka_detect_compile(e->d, &diag);
    cr_assert_eq(rc, KA_OK, "%s", diag.n ? diag.v[0].msg : "?");
    ka_diag_free(&diag);
    cr_assert_eq(ka_detect_ctx_new(e->d, &e->c), KA_OK);
    e->log.s = calloc(1, MAX_LOG);
    cr_assert_not_null(e->log.s);
}

static void eng_close(struct eng *e)
{
    ka_detect_ctx_free(e->c);
    ka_detect_free(e->d);
    free(e->log.s);
}

static int feed(struct eng *e, const char *line)
{
    e->log.evt++;
    int rc = ka_detect_eval_line(e->c, line, strlen(line), on_alert, &e->log);
    cr_assert_geq(rc, 0, "eval: %d", rc);
    return rc;
}

/* A ResponseComplete event; NULL leaves the member out. */
static void mk(char *out, size_t cap, const char *verb, const char *res, const char *sub,
               const char *user, int code, const char *ua)
{
    char v[64] = "", r[160] = "", u[96] = "", a[128] = "";
    if (verb)
        snprintf(v, sizeof(v), "\"verb\":\"%s\",", verb);
    if (res)
        snprintf(r, sizeof(r), "\"objectRef\":{\"resource\":\"%s\"%s%s%s},", res,
                 sub ? ",\"subresource\":\"" : "", sub ? sub : "", sub ? "\"" : "");
    if (user)
        snprintf(u, sizeof(u), "\"user\":{\"username\":\"%s\"},", user);
    if (ua)
        snprintf(a, sizeof(a), "\"userAgent\":\"%s\",", ua);
    snprintf(out, cap,
             "{\"kind\":\"Event\",\"auditID\":\"a\",\"stage\":\"ResponseComplete\",%s%s%s%s"
             "\"requestURI\":\"/x\",\"responseStatus\":{\"code\":%d},"
             "\"stageTimestamp\":\"2024-01-02T03:04:05.000000Z\"}",
             v, r, u, a, code);
}

static const char EDGE[] =
    "- rule: not get\n  desc: d\n  condition: not ka.verb = get and ka.target.resource = pods\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: verb or user\n  desc: d\n"
    "  condition: ka.verb in (delete, patch) or ka.user.name = root\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: never\n  desc: d\n"
    "  condition: ka.target.resource = pods and ka.target.resource = secrets\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: secrets get\n  desc: d\n"
    "  condition: (ka.verb = get or ka.verb = list) and ka.target.resource in (secrets)\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: any secrets\n  desc: d\n  condition: ka.target.resource = secrets\n"
    "  output: o\n  priority: NOTICE\n  source: k8s_audit\n"
    "- rule: no subresource\n  desc: d\n"
    "  condition: ka.target.resource = pods and not ka.target.subresource exists\n"
    "  output: o\n  priority: NOTICE\n  source: k8s_audit\n"
    "- rule: exec\n  desc: d\n"
    "  condition: ka.target.subresource = exec and ka.target.resource = pods\n"
    "  output: o\n  priority: NOTICE\n  source: k8s_audit\n"
    "- rule: counted deletes\n  desc: d\n  condition: ka.verb = delete\n"
    "  output: o\n  priority: NOTICE\n  source: k8s_audit\n"
    "  kaudit.window: {by: [ka.user.name], more_than: 1, within: 5m}\n"
    "- rule: tool\n  desc: d\n"
    "  condition: ka.useragent icontains kube-hunter or ka.user.name icontains HUNTER\n"
    "  output: o\n  priority: NOTICE\n  source: k8s_audit\n";

/* The edge events, with the rules each must raise under matching `all`. */
static const struct {
    const char *verb, *res, *sub, *user, *ua;
    const char *all;
} CASES[] = {
    {"create", "pods", NULL, "u", NULL, "not get,no subresource"},
    {"get", "pods", NULL, "u", NULL, "no subresource"},
    {NULL, "pods", NULL, "u", NULL, "not get,no subresource"},   /* no verb: `not =` holds */
    {"get", "secrets", NULL, "root", NULL, "verb or user,secrets get,any secrets"},
    {"list", "secrets", NULL, "u", NULL, "secrets get,any secrets"},
    {"watch", "secrets", NULL, "u", NULL, "any secrets"},
    {"delete", "configmaps", NULL, "d", NULL, "verb or user"},
    {"delete", NULL, NULL, "d", NULL, "verb or user,counted deletes"}, /* second: window */
    {"create", "pods", "exec", "u", NULL, "not get,exec"},
    {"get", "pods", "exec", "u", NULL, "exec"},
    {"get", NULL, NULL, NULL, NULL, ""},                        /* nothing to match */
    {"get", "nodes", NULL, "u", "KUBE-HUNTER/1.0", "tool"},
    {"get", "nodes", NULL, "u", "kube-huntex/1.0", ""},         /* same length, no match */
    {"get", "nodes", NULL, "x-Hunter", "kube-hunter", "tool"},
};

/* Expected `first` result: the first rule of the `all` list, plus the stateful ones. */
static void expect_line(struct eng *e, size_t i, const char *all, int first)
{
    char want[256] = "", got[256] = "";
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", all);
    size_t k = 0;
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","), k++)
        if (!first || k == 0 || !strcmp(t, "counted deletes"))
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", *want ? "," : "",
                     t);
    char tag[32];
    snprintf(tag, sizeof(tag), "%lu:", e->log.evt);
    for (const char *p = e->log.s; (p = strstr(p, tag)) != NULL; p++) {
        if (p != e->log.s && p[-1] != '\n')
            continue;
        const char *nl = strchr(p, '\n');
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s", *got ? "," : "",
                 (int)(nl - p - strlen(tag)), p + strlen(tag));
    }
    cr_expect_str_eq(got, want, "case %zu (%s): got '%s', want '%s'", i,
                     first ? "first" : "all", got, want);
}

static void run_edges(int no_index, enum ka_detect_matching m)
{
    struct eng e;
    eng_open(&e, NULL, EDGE, no_index, m);
    char line[1024];
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        mk(line, sizeof(line), CASES[i].verb, CASES[i].res, CASES[i].sub, CASES[i].user, 200,
           CASES[i].ua);
        feed(&e, line);
        expect_line(&e, i, CASES[i].all, m == KA_DETECT_FIRST);
    }
    eng_close(&e);
}

Test(detect_index, edge_cases_with_and_without_index)
{
    run_edges(0, KA_DETECT_ALL);
    run_edges(1, KA_DETECT_ALL);
    run_edges(0, KA_DETECT_FIRST);
    run_edges(1, KA_DETECT_FIRST);
}

Test(detect_index, stats_name_the_indexed_fields)
{
    struct eng e;
    eng_open(&e, NULL, EDGE, 0, KA_DETECT_FIRST);
    struct ka_detect_stats st;
    ka_detect_stats(e.d, &st);
    cr_assert_geq(st.index_fields, 2);
    int verb = 0, res = 0;
    for (size_t i = 0; i < st.index_fields; i++) {
        verb |= !strcmp(st.index_field[i], "ka.verb");
        res |= !strcmp(st.index_field[i], "ka.target.resource");
    }
    cr_expect(verb && res, "ka.verb and ka.target.resource are indexed");
    eng_close(&e);
    eng_open(&e, NULL, EDGE, 1, KA_DETECT_FIRST);
    ka_detect_stats(e.d, &st);
    cr_expect_eq(st.index_fields, 0);
    eng_close(&e);
}

/* `or` of checks on one field is evaluated as one `anyof` check: interleaved operands, other
   fields between them, missing fields, case folding and nested groups keep their meaning. */
static const char FUSE[] =
    "- rule: names\n  desc: d\n"
    "  condition: ka.user.name = alice or ka.verb = watch or ka.user.name = bob\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: agents\n  desc: d\n"
    "  condition: >\n    ka.target.resource = nodes and (ka.useragent icontains curl\n"
    "    or ka.useragent icontains WGET or ka.useragent contains Python)\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    "- rule: not these\n  desc: d\n"
    "  condition: >\n    ka.target.resource = leases and not (ka.user.name startswith sys\n"
    "    or ka.user.name startswith kube or ka.user.name endswith -bot)\n"
    "  output: o\n  priority: WARNING\n  source: k8s_audit\n";

Test(detect_index, or_of_one_field_keeps_its_meaning)
{
    static const struct {
        const char *verb, *res, *user, *ua;
        const char *want;
    } c[] = {
        {"get", "pods", "alice", NULL, "names"},
        {"get", "pods", "bob", NULL, "names"},
        {"watch", "pods", "carol", NULL, "names"},
        {"get", "pods", "carol", NULL, ""},
        {"watch", "pods", NULL, NULL, "names"},            /* no user: the verb decides */
        {"get", "nodes", "carol", "CURL/8", "agents"},     /* icontains folds case */
        {"get", "nodes", "carol", "wget/1", "agents"},
        {"get", "nodes", "carol", "python-requests", ""},  /* contains does not */
        {"get", "nodes", "carol", "Python-urllib", "agents"},
        {"get", "nodes", "carol", NULL, ""},               /* no agent: all false */
        {"get", "leases", "system:node:a", NULL, ""},
        {"get", "leases", "kubelet", NULL, ""},
        {"get", "leases", "deploy-bot", NULL, ""},
        {"get", "leases", "carol", NULL, "not these"},
        {"get", "leases", NULL, NULL, "not these"},        /* no user: not (false) */
    };
    for (int no_index = 0; no_index < 2; no_index++) {
        struct eng e;
        eng_open(&e, NULL, FUSE, no_index, KA_DETECT_ALL);
        char line[1024];
        for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
            mk(line, sizeof(line), c[i].verb, c[i].res, NULL, c[i].user, 200, c[i].ua);
            feed(&e, line);
            expect_line(&e, i, c[i].want, 0);
        }
        eng_close(&e);
    }
}

/* Macros that each use the previous one twice make a tree of 2^30 nodes from a few lines:
   the index analysis must stay bounded (it visits at most a budget of nodes per rule). */
Test(detect_index, doubling_macros_compile_quickly)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), "- macro: m0\n  condition: ka.verb = get "
                                                    "or ka.verb = list\n");
    for (int i = 1; i <= 30; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "- macro: m%d\n  condition: (m%d and m%d)\n", i, i - 1, i - 1);
    snprintf(yaml + n, sizeof(yaml) - n,
             "- rule: deep\n  desc: d\n  condition: ka.target.resource = pods and m30\n"
             "  output: o\n  priority: WARNING\n  source: k8s_audit\n");
    struct eng e;
    eng_open(&e, NULL, yaml, 0, KA_DETECT_ALL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long secs = (long long)(t1.tv_sec - t0.tv_sec);
    cr_expect_lt(secs, 5, "compiling took %lld s", secs);
    char line[1024];
    mk(line, sizeof(line), "watch", "pods", NULL, "u", 200, NULL);
    cr_expect_eq(feed(&e, line), 0); /* m0 false: `and` stops at the first leaf */
    eng_close(&e);
}

/* Runs n generated events (seed) through a and b; their alert logs must be identical. */
static void same_on_traffic(struct eng *a, struct eng *b, uint64_t seed, uint64_t n)
{
    struct ka_gen_opts go = {.seed = seed, .events = n, .attacks = true};
    struct ka_gen *g;
    cr_assert_eq(ka_gen_new(&go, &g), KA_OK);
    struct ka_buf buf;
    ka_buf_init(&buf, KA_GEN_MAX_EVENT * 2);
    size_t ha = 0, hb = 0;
    for (;;) {
        ka_buf_reset(&buf);
        if (ka_gen_next(g, &buf, NULL) != KA_OK)
            break;
        const char *line = ka_buf_cstr(&buf);
        cr_assert_not_null(line);
        ha += (size_t)feed(a, line);
        hb += (size_t)feed(b, line);
    }
    cr_assert_eq(ha, hb);
    cr_assert_eq(a->log.alerts, b->log.alerts);
    cr_assert_eq(a->log.n, b->log.n);
    cr_assert(!memcmp(a->log.s, b->log.s, a->log.n), "same alerts in the same order");
    ka_buf_free(&buf);
    ka_gen_free(g);
}

static void default_rules(enum ka_detect_matching m)
{
    struct eng a, b;
    eng_open(&a, NULL, ka_default_rules, 0, m);
    eng_open(&b, NULL, ka_default_rules, 1, m);
    same_on_traffic(&a, &b, 7, 20000);
    cr_expect_gt(a.log.alerts, 100, "the attacks raise alerts (%zu)", a.log.alerts);
    eng_close(&a);
    eng_close(&b);
}

Test(detect_index, default_rules_same_alerts_first)
{
    default_rules(KA_DETECT_FIRST);
}

Test(detect_index, default_rules_same_alerts_all)
{
    default_rules(KA_DETECT_ALL);
}

Test(detect_index, falco_rules_same_alerts)
{
    const char *path = ka_t_shared("data/falco/k8s_audit_rules.yaml");
    for (int m = 0; m < 2; m++) {
        struct eng a, b;
        eng_open(&a, path, NULL, 0, (enum ka_detect_matching)m);
        eng_open(&b, path, NULL, 1, (enum ka_detect_matching)m);
        struct ka_detect_stats st;
        ka_detect_stats(a.d, &st);
        cr_expect_geq(st.index_fields, 1);
        same_on_traffic(&a, &b, 3, 20000);
        cr_expect_gt(a.log.alerts, 100, "Falco's rules raise alerts (%zu)", a.log.alerts);
        eng_close(&a);
        eng_close(&b);
    }
}
