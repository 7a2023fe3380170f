/*
 * test_detect_state.c - stateful rules (kaudit.window, kaudit.first_seen, kaudit.sequence):
 * window edges, distinct counting, the LRU bound and its statistics, first-seen learning,
 * sequence order and timeouts, interplay with rule_matching first, and load/compile errors.
 * Rule files and events are written here; no data from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/detect.h"

struct eng {
    struct ka_detect *d;
    struct ka_detect_ctx *c;
    char err[1024];
    char fired[64][64];
    size_t n;
};

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct eng *e = ud;
    if (e->n < 64)
        snprintf(e->fired[e->n++], sizeof(e->fired[0]), "%s", m->rule);
    return 0;
}

/* Loads yaml; returns 0, or -1 with e->err holding the first error. max_keys 0 = default. */
static int eng_open(struct eng *e, const char *yaml, size_t max_keys)
{
    struct ka_diag diag = {0};
    memset(e, 0, sizeof(*e));
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h";
    o.state_max_keys = max_keys;
    cr_assert_eq(ka_detect_new(&o, &e->d), KA_OK);
    int rc = ka_detect_load_mem(e->d, "s.yaml", yaml, strlen(yaml), &diag);
    if (rc == KA_OK)
        rc = ka_detect_compile(e->d, &diag);
    if (rc == KA_OK)
        cr_assert_eq(ka_detect_ctx_new(e->d, &e->c), KA_OK);
    for (size_t i = 0; rc != KA_OK && i < diag.n; i++)
        if (diag.v[i].sev == KA_SEV_ERROR && !e->err[0])
            snprintf(e->err, sizeof(e->err), "%s", diag.v[i].msg);
    ka_diag_free(&diag);
    if (rc != KA_OK) {
        ka_detect_free(e->d);
        e->d = NULL;
        cr_assert(e->err[0], "an error must come with a message");
    }
    return rc == KA_OK ? 0 : -1;
}

static void eng_close(struct eng *e)
{
    ka_detect_ctx_free(e->c);
    ka_detect_free(e->d);
}

/* One event at base + ms milliseconds; returns the number of alerts it raised. */
static int ev(struct eng *e, long long ms, const char *user, const char *verb, const char *res,
              const char *name, int code, const char *ip)
{
    char line[2048];
    long long s = ms / 1000;
    snprintf(line, sizeof(line),
             "{\"kind\":\"Event\",\"auditID\":\"x%lld\",\"stage\":\"ResponseComplete\","
             "\"requestURI\":\"/api/v1/%s\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},"
             "\"sourceIPs\":[\"%s\"],\"objectRef\":{\"resource\":\"%s\",\"namespace\":\"ns\""
             "%s%s%s},\"responseStatus\":{\"code\":%d},"
             "\"stageTimestamp\":\"2024-01-02T%02lld:%02lld:%02lld.%03lldZ\"}",
             ms, res, verb, user, ip, res, name ? ",\"name\":\"" : "", name ? name : "",
             name ? "\"" : "", code, s / 3600, s / 60 % 60, s % 60, ms % 1000);
    size_t before = e->n;
    int rc = ka_detect_eval_line(e->c, line, strlen(line), on_alert, e);
    cr_assert_geq(rc, 0, "eval: %d", rc);
    cr_assert_eq((size_t)rc, e->n - before);
    return rc;
}

#define MIN(m) ((long long)(m) * 60000)

static const char *const WINDOW =
    "- rule: denied burst\n  desc: d\n  condition: ka.response.code = 403\n"
    "  output: burst %ka.user.name\n  priority: WARNING\n  source: k8s_audit\n"
    "  kaudit.window: {by: [ka.user.name], more_than: 2, within: 5m}\n";

Test(detect_state, window_counts_per_key_and_edges)
{
    struct eng e;
    cr_assert_eq(eng_open(&e, WINDOW, 0), 0, "%s", e.err);
    /* three in exactly 5 minutes: the window includes its edge */
    cr_expect_eq(ev(&e, 0, "alice", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(1), "bob", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(2), "alice", "get", "pods", "a", 200, "1.1.1.1"), 0); /* not 403 */
    cr_expect_eq(ev(&e, MIN(3), "alice", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(5), "alice", "get", "pods", "a", 403, "1.1.1.1"), 1);
    cr_expect_str_eq(e.fired[0], "denied burst");
    /* after an alert the key counts anew */
    cr_expect_eq(ev(&e, MIN(5) + 1, "alice", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(5) + 2, "alice", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(5) + 3, "alice", "get", "pods", "a", 403, "1.1.1.1"), 1);
    /* one millisecond past the window: the first event no longer counts */
    cr_expect_eq(ev(&e, MIN(20), "carol", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(21), "carol", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(25) + 1, "carol", "get", "pods", "a", 403, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(25) + 2, "carol", "get", "pods", "a", 403, "1.1.1.1"), 1);
    struct ka_detect_state_stats st;
    ka_detect_ctx_state_stats(e.c, &st);
    cr_expect_eq(st.rules, 1);
    cr_expect_eq(st.keys, 3);
    cr_expect_eq(st.alerts, 3);
    cr_expect_eq(st.evictions, 0);
    cr_expect_gt(st.bytes, 0);
    cr_expect_geq(st.peak_bytes, st.bytes);
    cr_expect_eq(st.max_keys, KA_DETECT_STATE_KEYS_DEFAULT);
    eng_close(&e);
}

Test(detect_state, window_distinct_values)
{
    struct eng e;
    const char *y = "- rule: bulk secrets\n  desc: d\n"
                    "  condition: ka.target.resource = secrets and ka.verb = get\n"
                    "  output: o\n  priority: WARNING\n  source: k8s_audit\n"
                    "  kaudit.window:\n    by: ka.user.name\n    more_than: 2\n"
                    "    within: 10m\n    distinct: ka.target.name\n";
    cr_assert_eq(eng_open(&e, y, 0), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "u", "get", "secrets", "s1", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 1000, "u", "get", "secrets", "s1", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 2000, "u", "get", "secrets", "s2", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 3000, "u", "get", "secrets", "s2", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 4000, "u", "get", "secrets", NULL, 200, "1.1.1.1"), 0); /* no name */
    cr_expect_eq(ev(&e, 5000, "v", "get", "secrets", "s3", 200, "1.1.1.1"), 0); /* other key */
    cr_expect_eq(ev(&e, 6000, "u", "list", "secrets", "s3", 200, "1.1.1.1"), 0); /* not get */
    cr_expect_eq(ev(&e, 7000, "u", "get", "secrets", "s3", 200, "1.1.1.1"), 1);
    /* a value seen again refreshes its time: s1 at 0 expires, s4 at 9m59 keeps s4 only */
    cr_expect_eq(ev(&e, MIN(20), "u", "get", "secrets", "s1", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(29), "u", "get", "secrets", "s2", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(29) + 1, "u", "get", "secrets", "s1", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(38), "u", "get", "secrets", "s3", 200, "1.1.1.1"), 1);
    eng_close(&e);
}

Test(detect_state, lru_bound_evicts_least_recent_key)
{
    const char *y = "- rule: two\n  desc: d\n  condition: ka.verb = get\n  output: o\n"
                    "  priority: INFO\n  source: k8s_audit\n"
                    "  kaudit.window: {by: ka.user.name, more_than: 1, within: 1h}\n";
    struct eng e;
    cr_assert_eq(eng_open(&e, y, 2), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "u1", "get", "pods", "p", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 1, "u2", "get", "pods", "p", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, 2, "u3", "get", "pods", "p", 200, "1.1.1.1"), 0); /* evicts u1 */
    cr_expect_eq(ev(&e, 3, "u1", "get", "pods", "p", 200, "1.1.1.1"), 0); /* evicts u2 */
    cr_expect_eq(ev(&e, 4, "u3", "get", "pods", "p", 200, "1.1.1.1"), 1); /* kept */
    struct ka_detect_state_stats st;
    ka_detect_ctx_state_stats(e.c, &st);
    cr_expect_eq(st.keys, 2);
    cr_expect_eq(st.max_keys, 2);
    cr_expect_eq(st.evictions, 2);
    eng_close(&e);
    /* with room, u1 is remembered */
    cr_assert_eq(eng_open(&e, y, 100), 0, "%s", e.err);
    ev(&e, 0, "u1", "get", "pods", "p", 200, "1.1.1.1");
    ev(&e, 1, "u2", "get", "pods", "p", 200, "1.1.1.1");
    ev(&e, 2, "u3", "get", "pods", "p", 200, "1.1.1.1");
    cr_expect_eq(ev(&e, 3, "u1", "get", "pods", "p", 200, "1.1.1.1"), 1);
    eng_close(&e);
    /* the bound itself: 0 is the default, above the maximum is refused, the maximum is not */
    cr_assert_eq(eng_open(&e, y, 0), 0, "%s", e.err);
    struct ka_detect_state_stats st0;
    ka_detect_ctx_state_stats(e.c, &st0);
    cr_expect_eq(st0.max_keys, KA_DETECT_STATE_KEYS_DEFAULT);
    eng_close(&e);
    struct ka_detect_opts o;
    struct ka_detect *d = NULL;
    ka_detect_opts_default(&o);
    cr_expect_eq(o.state_max_keys, 0);
    o.state_max_keys = (size_t)KA_DETECT_STATE_KEYS_MAX + 1;
    cr_expect_eq(ka_detect_new(&o, &d), KA_EINVAL);
    cr_expect_null(d);
    cr_assert_eq(eng_open(&e, y, KA_DETECT_STATE_KEYS_MAX), 0, "%s", e.err);
    ka_detect_ctx_state_stats(e.c, &st0);
    cr_expect_eq(st0.max_keys, KA_DETECT_STATE_KEYS_MAX);
    eng_close(&e);
}

Test(detect_state, lru_memory_stays_bounded)
{
    const char *y = "- rule: many\n  desc: d\n  condition: ka.verb = get\n  output: o\n"
                    "  priority: INFO\n  source: k8s_audit\n"
                    "  kaudit.window: {by: ka.user.name, more_than: 5, within: 1h}\n";
    struct eng e;
    cr_assert_eq(eng_open(&e, y, 50), 0, "%s", e.err);
    struct ka_detect_state_stats st;
    size_t at500 = 0;
    for (int i = 0; i < 1000; i++) {
        char u[32];
        snprintf(u, sizeof(u), "user-%d", i);
        ev(&e, i, u, "get", "pods", "p", 200, "1.1.1.1");
        ka_detect_ctx_state_stats(e.c, &st);
        cr_assert_leq(st.keys, 50);
        if (i == 500)
            at500 = st.bytes; /* from here on every key has the same length */
    }
    cr_expect_eq(st.evictions, 950);
    cr_expect_eq(st.bytes, at500, "memory grows past the bound: %zu vs %zu", st.bytes, at500);
    eng_close(&e);
}

static const char *const FIRST =
    "- rule: new source ip\n  desc: d\n  condition: ka.verb exists\n  output: o\n"
    "  priority: NOTICE\n  source: k8s_audit\n"
    "  kaudit.first_seen: {by: [ka.user.name], value: ka.sourceips, learn: 1h,"
    " max_values: 2}\n";

Test(detect_state, first_seen_learns_then_alerts_on_new_values)
{
    struct eng e;
    cr_assert_eq(eng_open(&e, FIRST, 0), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "alice", "get", "pods", "p", 200, "10.0.0.1"), 0);
    cr_expect_eq(ev(&e, MIN(10), "alice", "get", "pods", "p", 200, "10.0.0.2"), 0); /* learning */
    cr_expect_eq(ev(&e, MIN(120), "alice", "get", "pods", "p", 200, "10.0.0.1"), 0); /* known */
    cr_expect_eq(ev(&e, MIN(121), "alice", "get", "pods", "p", 200, "10.0.0.3"), 1); /* new */
    cr_expect_eq(ev(&e, MIN(122), "alice", "get", "pods", "p", 200, "10.0.0.3"), 0);
    /* a key seen for the first time after learning only learns */
    cr_expect_eq(ev(&e, MIN(180), "bob", "get", "pods", "p", 200, "10.9.9.9"), 0);
    cr_expect_eq(ev(&e, MIN(181), "bob", "get", "pods", "p", 200, "10.9.9.10"), 1);
    /* max_values 2: alice holds .1 (seen at 120) and .3 (122); .2 was replaced */
    cr_expect_eq(ev(&e, MIN(200), "alice", "get", "pods", "p", 200, "10.0.0.2"), 1);
    cr_expect_eq(ev(&e, MIN(201), "alice", "get", "pods", "p", 200, "10.0.0.3"), 0);
    cr_expect_eq(ev(&e, MIN(202), "alice", "get", "pods", "p", 200, "10.0.0.1"), 1);
    eng_close(&e);
}

static const char *const SEQ =
    "- macro: rbac_change\n  condition: ka.target.resource = rolebindings and ka.verb = create\n"
    "- rule: rbac then workload\n  desc: d\n"
    "  condition: ka.target.resource in (rolebindings, deployments)\n  output: o\n"
    "  priority: WARNING\n  source: k8s_audit\n"
    "  kaudit.sequence:\n    by: [ka.user.name]\n    within: 10m\n"
    "    steps:\n      - rbac_change\n      - ka.target.resource = deployments and "
    "ka.verb in (create, patch)\n";

Test(detect_state, sequence_order_and_timeout)
{
    struct eng e;
    cr_assert_eq(eng_open(&e, SEQ, 0), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "alice", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(1), "bob", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(2), "alice", "get", "deployments", "d", 200, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(5), "alice", "patch", "deployments", "d", 200, "1.1.1.1"), 1);
    cr_expect_eq(ev(&e, MIN(6), "alice", "patch", "deployments", "d", 200, "1.1.1.1"), 0);
    /* bob's second step comes 10m + 1ms after his first: too late */
    cr_expect_eq(ev(&e, MIN(11) + 1, "bob", "create", "deployments", "d", 201, "1.1.1.1"), 0);
    /* wrong order */
    cr_expect_eq(ev(&e, MIN(30), "carol", "create", "deployments", "d", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(31), "carol", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    /* a repeated first step restarts the clock */
    cr_expect_eq(ev(&e, MIN(60), "dave", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(69), "dave", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(75), "dave", "create", "deployments", "d", 201, "1.1.1.1"), 1);
    /* exactly at the edge */
    cr_expect_eq(ev(&e, MIN(100), "erin", "create", "rolebindings", "rb", 201, "1.1.1.1"), 0);
    cr_expect_eq(ev(&e, MIN(110), "erin", "create", "deployments", "d", 201, "1.1.1.1"), 1);
    eng_close(&e);
}

/* Stateful rules are fed whatever rule_matching first did, and do not stop later rules. */
Test(detect_state, first_matching_does_not_starve_stateful_rules)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "- rule: any denied\n  desc: d\n  condition: ka.response.code = 403\n  output: o\n"
             "  priority: NOTICE\n  source: k8s_audit\n%s"
             "- rule: denied after\n  desc: d\n  condition: ka.response.code = 403\n"
             "  output: o\n  priority: NOTICE\n  source: k8s_audit\n", WINDOW);
    struct eng e;
    cr_assert_eq(eng_open(&e, y, 0), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "u", "get", "pods", "p", 403, "1.1.1.1"), 1);
    cr_expect_eq(ev(&e, 1, "u", "get", "pods", "p", 403, "1.1.1.1"), 1);
    cr_expect_eq(ev(&e, 2, "u", "get", "pods", "p", 403, "1.1.1.1"), 2);
    cr_expect_str_eq(e.fired[2], "any denied");
    cr_expect_str_eq(e.fired[3], "denied burst");
    eng_close(&e);
}

static void expect_error(const char *ext, const char *what, const char *pos)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "- macro: m\n  condition: ka.verb = get\n"
             "- rule: r\n  desc: d\n  condition: ka.verb exists\n  output: o\n"
             "  priority: INFO\n  source: k8s_audit\n%s", ext);
    struct eng e;
    cr_expect_eq(eng_open(&e, y, 0), -1, "no error for: %s", ext);
    cr_expect(strstr(e.err, what) != NULL, "'%s' not in '%s'", what, e.err);
    cr_expect(strstr(e.err, pos) != NULL, "'%s' not in '%s'", pos, e.err);
    if (e.d)
        eng_close(&e);
}

Test(detect_state, load_and_compile_errors)
{
    expect_error("  kaudit.window: {by: ka.user.name, within: 5m}\n", "'more_than' is required",
                 "s.yaml:9:");
    expect_error("  kaudit.window: {by: ka.user.name, more_than: 3, within: 5x}\n",
                 "bad duration '5x'", "s.yaml:9:");
    expect_error("  kaudit.window: {by: ka.user.name, more_than: 0, within: 5m}\n",
                 "'more_than' must be an integer", "rule 'r'");
    expect_error("  kaudit.window: {by: ka.user.name, more_than: 3, within: 5m, cnt: 1}\n",
                 "unknown key 'cnt' in kaudit.window", "s.yaml:9:");
    expect_error("  kaudit.window: {by: ka.nope, more_than: 3, within: 5m}\n",
                 "unknown field 'ka.nope'", "s.yaml:9:");
    expect_error("  kaudit.first_seen: {by: ka.user.name}\n", "'value' is required", "s.yaml:9:");
    expect_error("  kaudit.sequence: {by: ka.user.name, within: 5m, steps: [m]}\n",
                 "at least 2 steps", "s.yaml:9:");
    expect_error("  kaudit.sequence: {by: ka.user.name, within: 5m, steps: [m, nomacro]}\n",
                 "nomacro", "s.yaml:9:");
    expect_error("  kaudit.window: {by: ka.user.name, more_than: 3, within: 5m}\n"
                 "  kaudit.sequence: {by: ka.user.name, within: 5m, steps: [m, m]}\n",
                 "only one of", "s.yaml:10:");
    expect_error("  kaudit.window: {by: ka.user.name, more_than: 3, within: 5m}\n"
                 "- rule: r\n  append: true\n  condition: and ka.verb = get\n"
                 "  kaudit.window: {by: ka.user.name, more_than: 3, within: 5m}\n",
                 "cannot be appended", "s.yaml:10:");
}

/* A Falco-format file with no kaudit.* key has no state at all. */
Test(detect_state, no_state_without_stateful_rules)
{
    const char *y = "- rule: plain\n  desc: d\n  condition: ka.verb = get\n  output: o\n"
                    "  priority: INFO\n  source: k8s_audit\n";
    struct eng e;
    cr_assert_eq(eng_open(&e, y, 0), 0, "%s", e.err);
    cr_expect_eq(ev(&e, 0, "u", "get", "pods", "p", 200, "1.1.1.1"), 1);
    struct ka_detect_state_stats st;
    ka_detect_ctx_state_stats(e.c, &st);
    cr_expect_eq(st.rules, 0);
    cr_expect_eq(st.bytes, 0);
    eng_close(&e);
}
