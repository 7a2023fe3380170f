/*
 * test_detect_cases.c - runs every data-driven case of kaudit's default rules through the
 * detection engine and checks exactly which rules fire.
 *
 * Data: rules/kaudit_rules.yaml and tests/cases/detect/<rule>.jsonl (written by
 * tests/cases/detect/gen_cases.py; hand-made events, nothing from ../shared). Each case line
 * holds an event, the exact set of rules expected to fire with rule_matching all, and
 * optionally extra rule text loaded after the default file (appending to a list, enabling a
 * disabled rule). Every case is also run with rule_matching first, where exactly the expected
 * rule that comes first in the file must fire. Coverage: every rule of the default file has its
 * case file with at least one event that fires it and one that does not.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/detect.h"
#include "testutil.h"

#define MAX_RULES 256
#define MAX_FIRED 64

static const char *rules_path(void)
{
    return KA_SOURCE_DIR "/rules/kaudit_rules.yaml";
}

static const char *cases_dir(void)
{
    return KA_SOURCE_DIR "/tests/cases/detect";
}

/* Rule names of an engine, in evaluation order. */
struct rule_list {
    char *name[MAX_RULES];
    int enabled[MAX_RULES];
    size_t n;
};

static void collect_rule(void *ud, const struct ka_detect_rule_info *r)
{
    struct rule_list *l = ud;
    if (l->n < MAX_RULES) {
        l->name[l->n] = strdup(r->name);
        l->enabled[l->n++] = r->enabled;
    }
}

static void rule_list_free(struct rule_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->name[i]);
    l->n = 0;
}

static struct ka_detect *engine(enum ka_detect_matching m, const char *extra)
{
    struct ka_detect_opts o;
    struct ka_detect *d = NULL;
    struct ka_diag diag = {0};
    ka_detect_opts_default(&o);
    o.matching = m;
    o.hostname = "test";
    cr_assert_eq(ka_detect_new(&o, &d), KA_OK);
    int rc = ka_detect_load_file(d, rules_path(), &diag);
    if (rc == KA_OK && extra)
        rc = ka_detect_load_mem(d, "extra.yaml", extra, strlen(extra), &diag);
    if (rc == KA_OK)
        rc = ka_detect_compile(d, &diag);
    for (size_t i = 0; i < diag.n; i++)
        if (diag.v[i].sev == KA_SEV_ERROR)
            fprintf(stderr, "%s\n", diag.v[i].msg);
    cr_assert_eq(rc, KA_OK, "loading the default rules failed (%zu errors)", diag.n_errors);
    ka_diag_free(&diag);
    return d;
}

struct fired {
    char *name[MAX_FIRED];
    size_t n;
};

static int on_match(void *ud, const struct ka_detect_match *m)
{
    struct fired *f = ud;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    /* Every alert must render; the output names the auditID. */
    cr_assert_eq(ka_detect_format_json(m, &b), KA_OK);
    cr_assert_not_null(ka_buf_cstr(&b));
    cr_assert(strstr(b.p, "\"ka.auditid\"") != NULL, "output of %s lacks the auditID", m->rule);
    ka_buf_free(&b);
    if (f->n < MAX_FIRED)
        f->name[f->n++] = strdup(m->rule);
    return 0;
}

static void fired_free(struct fired *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->name[i]);
    f->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void eval_case(struct ka_detect *d, const char *event, struct fired *out)
{
    struct ka_detect_ctx *c = NULL;
    cr_assert_eq(ka_detect_ctx_new(d, &c), KA_OK);
    int rc = ka_detect_eval_line(c, event, strlen(event), on_match, out);
    cr_assert(rc >= 0, "eval failed: %d", rc);
    ka_detect_ctx_free(c);
    qsort(out->name, out->n, sizeof out->name[0], cmp_str);
}

/* "a, b, c" of a fired list, for messages. */
static void join(const struct fired *f, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < f->n; i++) {
        strncat(buf, f->name[i], n - strlen(buf) - 1);
        if (i + 1 < f->n)
            strncat(buf, ", ", n - strlen(buf) - 1);
    }
}

static size_t rule_index(const struct rule_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return i;
    return (size_t)-1;
}

struct totals {
    size_t cases, files;
    size_t pos[MAX_RULES], neg[MAX_RULES];
};

static void check_case(json_t *c, const char *file, size_t line, struct ka_detect *all,
                       struct ka_detect *first, const struct rule_list *order, struct totals *t)
{
    json_t *expect = json_object_get(c, "expect"), *extra = json_object_get(c, "extra_rules");
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *rule = json_string_value(json_object_get(c, "rule"));
    char *event = json_dumps(json_object_get(c, "event"), JSON_COMPACT);
    struct fired want = {0}, got = {0}, got1 = {0};
    char a[2048], b[2048];
    cr_assert(json_is_array(expect) && name && rule && event, "%s:%zu: malformed case", file, line);
    for (size_t i = 0; i < json_array_size(expect); i++)
        want.name[want.n++] = strdup(json_string_value(json_array_get(expect, i)));
    qsort(want.name, want.n, sizeof want.name[0], cmp_str);
    struct ka_detect *e_all = all, *e_first = first;
    if (extra) {
        e_all = engine(KA_DETECT_ALL, json_string_value(extra));
        e_first = engine(KA_DETECT_FIRST, json_string_value(extra));
    }
    eval_case(e_all, event, &got);
    join(&want, a, sizeof a);
    join(&got, b, sizeof b);
    cr_expect(strcmp(a, b) == 0, "%s:%zu (%s): expected [%s], got [%s]", file, line, name, a, b);
    /* rule_matching first: the expected rule that comes first in the file, alone. */
    eval_case(e_first, event, &got1);
    size_t best = (size_t)-1;
    for (size_t i = 0; i < want.n; i++) {
        size_t k = rule_index(order, want.name[i]);
        best = k < best ? k : best;
    }
    if (want.n == 0)
        cr_expect_eq(got1.n, 0, "%s:%zu (%s): first: expected no alert", file, line, name);
    else
        cr_expect(got1.n == 1 && best < order->n && strcmp(got1.name[0], order->name[best]) == 0,
                  "%s:%zu (%s): first: expected only %s", file, line, name,
                  best < order->n ? order->name[best] : "?");
    size_t ri = rule_index(order, rule);
    cr_expect(ri < order->n, "%s: unknown rule '%s'", file, rule);
    if (ri < order->n) {
        int hit = 0;
        for (size_t i = 0; i < want.n; i++)
            hit |= strcmp(want.name[i], rule) == 0;
        (hit ? t->pos : t->neg)[ri]++;
    }
    if (extra) {
        ka_detect_free(e_all);
        ka_detect_free(e_first);
    }
    fired_free(&want);
    fired_free(&got);
    fired_free(&got1);
    free(event);
    t->cases++;
}

static void run_file(const char *path, struct ka_detect *all, struct ka_detect *first,
                     const struct rule_list *order, struct totals *t)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    cr_assert_not_null(fp, "cannot open %s", path);
    while (getline(&line, &cap, fp) > 0) {
        json_error_t je;
        lineno++;
        json_t *c = json_loads(line, 0, &je);
        cr_assert_not_null(c, "%s:%zu: %s", path, lineno, je.text);
        check_case(c, path, lineno, all, first, order, t);
        json_decref(c);
    }
    free(line);
    fclose(fp);
    t->files++;
}

Test(detect_cases, every_case_fires_exactly_its_rules)
{
    struct ka_detect *all = engine(KA_DETECT_ALL, NULL), *first = engine(KA_DETECT_FIRST, NULL);
    struct rule_list order = {0};
    struct totals *t = calloc(1, sizeof *t);
    ka_detect_each_rule(all, collect_rule, &order);
    cr_assert_gt(order.n, 50, "the default ruleset has %zu rules", order.n);
    DIR *dir = opendir(cases_dir());
    struct dirent *de;
    cr_assert_not_null(dir);
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 7 || strcmp(de->d_name + n - 6, ".jsonl") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", cases_dir(), de->d_name);
        run_file(path, all, first, &order, t);
    }
    closedir(dir);
    for (size_t i = 0; i < order.n; i++) {
        cr_expect(t->pos[i] > 0, "rule '%s' has no positive case", order.name[i]);
        cr_expect(t->neg[i] > 0, "rule '%s' has no negative case", order.name[i]);
    }
    cr_log_info("%zu cases in %zu files for %zu rules", t->cases, t->files, order.n);
    cr_expect_geq(t->cases, 2 * order.n);
    free(t);
    rule_list_free(&order);
    ka_detect_free(all);
    ka_detect_free(first);
}

/* Every rule has a description, a priority, a MITRE technique tag and an output naming the
 * user, the auditID and the cluster. */
static void check_meta(void *ud, const struct ka_detect_rule_info *r)
{
    int *n = ud, mitre = 0;
    (*n)++;
    cr_expect(r->desc && strlen(r->desc) > 10, "rule '%s': no description", r->name);
    cr_expect_str_eq(r->source, "k8s_audit");
    for (size_t i = 0; i < r->n_tags; i++)
        mitre |= r->tags[i][0] == 'T' && r->tags[i][1] >= '0' && r->tags[i][1] <= '9';
    cr_expect(mitre, "rule '%s': no MITRE ATT&CK technique tag", r->name);
    cr_expect(strstr(r->output, "%ka.user.name") != NULL, "rule '%s': output lacks the user",
              r->name);
    cr_expect(strstr(r->output, "%ka.auditid") != NULL, "rule '%s': output lacks the auditID",
              r->name);
    cr_expect(strstr(r->output, "%kaudit.cluster") != NULL,
              "rule '%s': output lacks the cluster", r->name);
}

Test(detect_cases, every_rule_is_documented_and_tagged)
{
    struct ka_detect *d = engine(KA_DETECT_ALL, NULL);
    int n = 0;
    ka_detect_each_rule(d, check_meta, &n);
    cr_expect_gt(n, 50);
    ka_detect_free(d);
}

/* The cluster name of the kaudit.io/cluster annotation reaches the alert. */
static int grab_json(void *ud, const struct ka_detect_match *m)
{
    return ka_detect_format_json(m, ud) == KA_OK ? 0 : -100;
}

Test(detect_cases, alert_names_cluster_and_auditid)
{
    static const char ev[] =
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
        "\"auditID\":\"aaaaaaaa-1111-4000-8000-000000000001\",\"stage\":\"ResponseComplete\","
        "\"requestURI\":\"/api/v1/secrets\",\"verb\":\"list\",\"user\":{\"username\":\"eve\"},"
        "\"sourceIPs\":[\"10.1.1.1\"],\"objectRef\":{\"resource\":\"secrets\",\"apiVersion\":"
        "\"v1\"},\"responseStatus\":{\"metadata\":{},\"code\":200},"
        "\"requestReceivedTimestamp\":\"2025-03-10T09:00:00.000000Z\","
        "\"stageTimestamp\":\"2025-03-10T09:00:00.001000Z\","
        "\"annotations\":{\"kaudit.io/cluster\":\"prod-eu-1\"}}";
    struct ka_detect *d = engine(KA_DETECT_FIRST, NULL);
    struct ka_detect_ctx *c = NULL;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_detect_ctx_new(d, &c), KA_OK);
    cr_assert_eq(ka_detect_eval_line(c, ev, sizeof ev - 1, grab_json, &b), 1);
    cr_assert_not_null(ka_buf_cstr(&b));
    cr_expect(strstr(b.p, "\"rule\":\"Secrets Listed Across All Namespaces\"") != NULL, "%s", b.p);
    cr_expect(strstr(b.p, "cluster=prod-eu-1") != NULL, "%s", b.p);
    cr_expect(strstr(b.p, "auditID=aaaaaaaa-1111-4000-8000-000000000001") != NULL, "%s", b.p);
    cr_expect(strstr(b.p, "\"priority\":\"Warning\"") != NULL, "%s", b.p);
    ka_buf_free(&b);
    ka_detect_ctx_free(c);
    ka_detect_free(d);
}
