/*
 * test_detect_falco.c - Falco compatibility: every case of Falco's k8saudit regression suite.
 *
 * Data (read in place, never copied):
 *   ../shared/data/falco/expectations.yaml - the 66 cases of falcosecurity/testing
 *     tests/k8saudit/k8saudit_test.go written out as data (see SOURCES.md there): rules files
 *     in load order, fixture, expected detections, plus derived exact totals;
 *   ../shared/data/falco/k8s_audit_rules.yaml and overrides/ - Falco's rules and the override
 *     files the tests load, byte for byte (the legacy syscall ruleset included: its lists
 *     count, its syscall rules are skipped);
 *   ../shared/data/real/falco-k8s_audit/ - the 47 fixtures (falcosecurity/falco test trace
 *     files, see ../shared/data/real/SOURCES.md).
 *
 * For each case the listed files are loaded unchanged in order, the fixture is run through the
 * engine with Falco's default rule matching (first), and everything the upstream test asserts
 * is checked (total, per priority by case-insensitive substring, exact count per rule, the
 * "data not recognized" message), plus the stricter derived figures: the exact total and
 * per-rule counts under "first", and under "all" the set of rules that fire must be the
 * expected rules plus `also_matching_if_rule_matching_all`. Output templates of every firing
 * rule are rendered (text and JSON) so that every output field is exercised.
 */
#include <criterion/criterion.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kaudit/detect.h"
#include "kaudit/input.h"
#include "testutil.h"

#define MAX_RULES 64

struct tally {
    size_t total, unrecognized, events;
    size_t n;
    char names[MAX_RULES][128];
    size_t counts[MAX_RULES];
    enum ka_prio prio[MAX_RULES];
    int render_errors;
};

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct tally *t = ud;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    if (ka_detect_format_json(m, &b) != KA_OK || ka_detect_format_text(m, &b) != KA_OK)
        t->render_errors++;
    ka_buf_free(&b);
    t->total++;
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], m->rule)) {
            t->counts[i]++;
            return 0;
        }
    if (t->n < MAX_RULES) {
        snprintf(t->names[t->n], sizeof(t->names[0]), "%s", m->rule);
        t->prio[t->n] = m->priority;
        t->counts[t->n++] = 1;
    }
    return 0;
}

static size_t rule_count(const struct tally *t, const char *rule)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], rule))
            return t->counts[i];
    return 0;
}

static const char *scal(struct fy_node *map, const char *path)
{
    struct fy_node *n = fy_node_by_path(map, path, (size_t)-1, FYNWF_DONT_FOLLOW);
    return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

/* Runs one case with the given matching; returns 0 when the rules loaded and the run went. */
static int run_case(struct fy_node *root, struct fy_node *c, enum ka_detect_matching mt,
                    struct tally *t, char *why, size_t whylen)
{
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.matching = mt;
    o.hostname = "kaudit-test";
    struct ka_detect *d = NULL;
    struct ka_diag diag = {0};
    int rc = ka_detect_new(&o, &d);
    struct fy_node *files = fy_node_by_path(c, "rules_files", (size_t)-1, FYNWF_DONT_FOLLOW);
    void *it = NULL;
    struct fy_node *id;
    while (rc == KA_OK && (id = fy_node_sequence_iterate(files, &it)) != NULL) {
        char key[256], rel[512];
        snprintf(key, sizeof(key), "/rules_files/%s/path", fy_node_get_scalar0(id));
        const char *p = scal(root, key);
        snprintf(rel, sizeof(rel), "data/falco/%s", p ? p : "?");
        const char *path = ka_t_shared(rel);
        rc = path ? ka_detect_load_file(d, path, &diag) : KA_ENOENT;
    }
    if (rc == KA_OK)
        rc = ka_detect_compile(d, &diag);
    if (rc != KA_OK) {
        snprintf(why, whylen, "load/compile failed: %s", diag.n_errors ? diag.v[0].msg : "?");
        for (size_t i = 0; i < diag.n && i < 10; i++)
            if (diag.v[i].sev == KA_SEV_ERROR)
                fprintf(stderr, "  %s\n", diag.v[i].msg);
        goto out;
    }
    struct ka_detect_ctx *x = NULL;
    rc = ka_detect_ctx_new(d, &x);
    char rel[512];
    snprintf(rel, sizeof(rel), "data/real/falco-k8s_audit/%s", scal(c, "fixture"));
    struct ka_input *in = NULL;
    if (rc == KA_OK)
        rc = ka_input_open(ka_t_shared(rel), NULL, &in);
    struct ka_record r;
    int got = 0;
    while (rc == KA_OK && (got = ka_input_next(in, &r)) == 1) {
        int n = r.err ? KA_ESYNTAX : ka_detect_eval_line(x, r.p, r.n, on_alert, t);
        if (n == KA_ENOTEVENT || n == KA_ESYNTAX)
            t->unrecognized++; /* "data not recognized as a k8s audit event" */
        else if (n < 0)
            rc = n;
        else
            t->events++;
    }
    if (rc == KA_OK && got < 0)
        rc = got;
    if (rc != KA_OK)
        snprintf(why, whylen, "run failed: %s", ka_strerror(rc));
    ka_input_close(in);
    ka_detect_ctx_free(x);
out:
    ka_diag_free(&diag);
    ka_detect_free(d);
    return rc;
}

static size_t prio_count(const struct tally *t, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcasestr(ka_prio_name(t->prio[i]), key))
            n += t->counts[i];
    return n;
}

/* "nonzero" / a number / not_asserted against a count. */
static bool check_count(const char *want, size_t got)
{
    if (!want || !strcmp(want, "not_asserted"))
        return true;
    if (!strcmp(want, "nonzero"))
        return got > 0;
    return got == strtoul(want, NULL, 10);
}

static bool check_map_counts(struct fy_node *m, const struct tally *t, bool by_prio,
                             char *why, size_t whylen)
{
    if (!m || !fy_node_is_mapping(m))
        return true;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(m, &it)) != NULL) {
        const char *k = fy_node_get_scalar0(fy_node_pair_key(p));
        const char *v = fy_node_get_scalar0(fy_node_pair_value(p));
        size_t got = by_prio ? prio_count(t, k) : rule_count(t, k);
        if (!check_count(v, got)) {
            snprintf(why, whylen, "%s '%s': expected %s, got %zu", by_prio ? "priority" : "rule",
                     k, v, got);
            return false;
        }
    }
    return true;
}

/* The derived figures: exact total and per-rule counts under "first". */
static bool check_derived(struct fy_node *c, const struct tally *t, char *why, size_t whylen)
{
    const char *tot = scal(c, "derived/exact_total_rule_matching_first");
    if (!tot)
        tot = scal(c, "derived/expected_total_rule_matching_first");
    if (tot && t->total != strtoul(tot, NULL, 10)) {
        snprintf(why, whylen, "derived total: expected %s, got %zu", tot, t->total);
        return false;
    }
    struct fy_node *m = fy_node_by_path(c, "derived/exact_by_rule_rule_matching_first",
                                        (size_t)-1, FYNWF_DONT_FOLLOW);
    if (!m)
        m = fy_node_by_path(c, "derived/expected_by_rule_rule_matching_first", (size_t)-1,
                            FYNWF_DONT_FOLLOW);
    return check_map_counts(m, t, false, why, whylen);
}

/* Under "all": the rules that fire are exactly the expected ones plus the shadowed ones. */
static bool check_all(struct fy_node *c, const struct tally *first, const struct tally *all,
                      char *why, size_t whylen)
{
    struct fy_node *also = fy_node_by_path(c, "derived/also_matching_if_rule_matching_all",
                                           (size_t)-1, FYNWF_DONT_FOLLOW);
    size_t want = first->n;
    void *it = NULL;
    struct fy_node *e;
    while (also && (e = fy_node_sequence_iterate(also, &it)) != NULL) {
        if (rule_count(all, fy_node_get_scalar0(e)) == 0) {
            snprintf(why, whylen, "under 'all', '%s' should also fire", fy_node_get_scalar0(e));
            return false;
        }
        if (rule_count(first, fy_node_get_scalar0(e)) == 0)
            want++;
    }
    for (size_t i = 0; i < first->n; i++)
        if (rule_count(all, first->names[i]) < first->counts[i]) {
            snprintf(why, whylen, "under 'all', '%s' fired less often", first->names[i]);
            return false;
        }
    if (also && all->n != want) {
        snprintf(why, whylen, "under 'all', %zu rules fired, expected %zu (first: %s...)", all->n,
                 want, all->n ? all->names[all->n - 1] : "-");
        return false;
    }
    return true;
}

static bool check_case(struct fy_node *root, struct fy_node *c, char *why, size_t whylen)
{
    struct tally t, ta;
    memset(&t, 0, sizeof(t));
    memset(&ta, 0, sizeof(ta));
    if (run_case(root, c, KA_DETECT_FIRST, &t, why, whylen) != KA_OK)
        return false;
    if (t.render_errors) {
        snprintf(why, whylen, "alert rendering failed");
        return false;
    }
    const char *tot = scal(c, "expect/total");
    if (!check_count(tot, t.total)) {
        snprintf(why, whylen, "total: expected %s, got %zu", tot, t.total);
        return false;
    }
    if (!check_map_counts(fy_node_by_path(c, "expect/by_priority", (size_t)-1, 0), &t, true, why,
                          whylen) ||
        !check_map_counts(fy_node_by_path(c, "expect/by_rule", (size_t)-1, 0), &t, false, why,
                          whylen))
        return false;
    const char *re = scal(c, "expect/stderr_regex");
    if (re && strstr(re, "not recognized") && t.unrecognized == 0) {
        snprintf(why, whylen, "expected a 'data not recognized' line");
        return false;
    }
    if (!check_derived(c, &t, why, whylen))
        return false;
    if (run_case(root, c, KA_DETECT_ALL, &ta, why, whylen) != KA_OK)
        return false;
    return check_all(c, &t, &ta, why, whylen);
}

Test(detect_falco, all_cases)
{
    const char *path = ka_t_shared("data/falco/expectations.yaml");
    if (!path)
        return;
    struct fy_document *doc = fy_document_build_from_file(NULL, path);
    cr_assert_not_null(doc, "cannot parse %s", path);
    struct fy_node *root = fy_document_root(doc);
    struct fy_node *cases = fy_node_by_path(root, "/cases", (size_t)-1, FYNWF_DONT_FOLLOW);
    cr_assert_not_null(cases);
    size_t total = 0, passed = 0;
    void *it = NULL;
    struct fy_node *c;
    while ((c = fy_node_sequence_iterate(cases, &it)) != NULL) {
        char why[512] = "";
        total++;
        if (check_case(root, c, why, sizeof(why)))
            passed++;
        else
            fprintf(stderr, "FAIL %s: %s\n", scal(c, "id"), why);
    }
    printf("falco k8saudit compatibility: %zu/%zu cases passed\n", passed, total);
    fy_document_destroy(doc);
    cr_assert_eq(total, 66, "expected 66 cases, found %zu", total);
    cr_assert_eq(passed, total, "%zu of %zu Falco cases failed", total - passed, total);
}
