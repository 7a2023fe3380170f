/*
 * test_gen.c - the audit traffic generator (src/core/gen*.c) and `kaudit gen`.
 *
 * Uses no data from ../shared: everything is generated here, and jansson plus our own event
 * scanner are the oracles. The expected shapes (stages per request, 401/403 bodies, member
 * order) come from the spec in ../shared/reference/k8s-audit-spec.md §1, §4 and §7.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/gen_int.h"
#include "kaudit/event.h"
#include "kaudit/gen.h"
#include "testutil.h"

struct run {
    struct ka_buf out;
    size_t n;
    struct ka_gen_info *info; /* one per event */
    size_t *off;              /* line start offsets, n + 1 */
};

static void gen_run(const struct ka_gen_opts *o, uint64_t max_events, struct run *r)
{
    struct ka_gen *g = NULL;
    cr_assert_eq(ka_gen_new(o, &g), KA_OK);
    memset(r, 0, sizeof *r);
    ka_buf_init(&r->out, 0);
    size_t cap = 1024;
    r->info = malloc(cap * sizeof *r->info);
    r->off = malloc((cap + 1) * sizeof *r->off);
    for (;;) {
        if (max_events && r->n == max_events)
            break;
        if (r->n == cap) {
            cap *= 2;
            r->info = realloc(r->info, cap * sizeof *r->info);
            r->off = realloc(r->off, (cap + 1) * sizeof *r->off);
        }
        r->off[r->n] = r->out.n;
        int rc = ka_gen_next(g, &r->out, &r->info[r->n]);
        if (rc == KA_GEN_DONE)
            break;
        cr_assert_eq(rc, KA_OK, "ka_gen_next: %d", rc);
        r->n++;
    }
    r->off[r->n] = r->out.n;
    cr_assert_eq(ka_gen_events(g), r->n);
    cr_assert_eq(ka_gen_bytes(g), r->out.n);
    ka_gen_free(g);
}

static void run_free(struct run *r)
{
    ka_buf_free(&r->out);
    free(r->info);
    free(r->off);
}

static json_t *line_json(const struct run *r, size_t i)
{
    json_error_t err;
    json_t *j = json_loadb(r->out.p + r->off[i], r->off[i + 1] - r->off[i], 0, &err);
    cr_assert_not_null(j, "line %zu does not parse: %s", i + 1, err.text);
    return j;
}

Test(gen, deterministic_per_seed)
{
    struct ka_gen_opts o = {.seed = 5, .events = 3000, .attacks = true};
    struct run a, b, c;
    gen_run(&o, 0, &a);
    gen_run(&o, 0, &b);
    o.seed = 6;
    gen_run(&o, 0, &c);
    cr_assert_eq(a.out.n, b.out.n);
    cr_assert(memcmp(a.out.p, b.out.p, a.out.n) == 0, "same seed, different bytes");
    cr_assert(a.out.n != c.out.n || memcmp(a.out.p, c.out.p, a.out.n) != 0,
              "different seeds gave the same bytes");
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

Test(gen, events_count_is_exact)
{
    static const uint64_t counts[] = {1, 2, 3, 17, 1000, 4321};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        struct ka_gen_opts o = {.seed = 11 + k, .events = counts[k], .attacks = k % 2};
        struct run r;
        gen_run(&o, 0, &r);
        cr_assert_eq(r.n, counts[k], "asked %llu events, got %zu", (unsigned long long)counts[k],
                     r.n);
        size_t lines = 0;
        for (size_t i = 0; i < r.out.n; i++)
            lines += r.out.p[i] == '\n';
        cr_assert_eq(lines, counts[k]);
        run_free(&r);
    }
}

Test(gen, bytes_stop_at_first_boundary)
{
    static const uint64_t sizes[] = {1, 1000, 100000, 777777};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct ka_gen_opts o = {.seed = 3, .bytes = sizes[k]};
        struct run r;
        gen_run(&o, 0, &r);
        cr_assert_geq(r.out.n, sizes[k]);
        cr_assert_lt(r.off[r.n - 1], sizes[k], "did not stop at the first boundary >= %llu",
                     (unsigned long long)sizes[k]);
        cr_assert_eq(r.out.p[r.out.n - 1], '\n');
        run_free(&r);
    }
}

struct req_seen {
    char id[40];
    int stages[3];
    int n;
};

static int cmp_id(const void *a, const void *b)
{
    const struct ka_gen_info *x = *(const struct ka_gen_info *const *)a;
    const struct ka_gen_info *y = *(const struct ka_gen_info *const *)b;
    int c = strcmp(x->audit_id, y->audit_id);
    return c ? c : (x->stage - y->stage);
}

/* Every auditID: RR+RC, RR+RS+RC, or a lone RS 401; stages in time order. */
static void check_stage_patterns(const struct run *r)
{
    const struct ka_gen_info **v = malloc(r->n * sizeof *v); /* NOLINT(bugprone-sizeof-expression) */
    for (size_t i = 0; i < r->n; i++)
        v[i] = &r->info[i];
    qsort(v, r->n, sizeof *v, cmp_id); /* NOLINT(bugprone-sizeof-expression) */
    size_t groups = 0;
    for (size_t i = 0; i < r->n;) {
        size_t j = i;
        int mask = 0;
        while (j < r->n && strcmp(v[j]->audit_id, v[i]->audit_id) == 0) {
            cr_assert(!(mask & (1 << v[j]->stage)), "%s: stage twice", v[i]->audit_id);
            mask |= 1 << v[j]->stage;
            if (j > i)
                cr_assert_geq(v[j]->stage_usec, v[j - 1]->stage_usec);
            j++;
        }
        if (mask == 2)
            cr_assert_eq(v[i]->code, 401, "%s: lone ResponseStarted with code %d", v[i]->audit_id,
                         v[i]->code);
        else
            cr_assert(mask == 5 || mask == 7, "%s: stages mask %d", v[i]->audit_id, mask);
        groups++;
        i = j;
    }
    cr_assert_gt(groups, r->n / 4);
    free(v);
}

Test(gen, stage_rules)
{
    struct ka_gen_opts o = {.seed = 1, .events = 20000, .attacks = true};
    struct run r;
    gen_run(&o, 0, &r);
    check_stage_patterns(&r);
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < r.n; i++) {
        cr_assert_geq(r.info[i].stage_usec, prev, "events out of time order at %zu", i);
        prev = r.info[i].stage_usec;
    }
    run_free(&r);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void check_event_json(json_t *j, size_t line)
{
    static const char *const req[] = {"kind", "apiVersion", "level", "auditID", "stage",
                                      "requestURI", "verb", "requestReceivedTimestamp",
                                      "stageTimestamp"};
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
        cr_assert_not_null(jstr(j, req[k]), "line %zu: no string %s", line, req[k]);
    cr_assert_str_eq(jstr(j, "kind"), "Event");
    cr_assert_str_eq(jstr(j, "apiVersion"), "audit.k8s.io/v1");
    cr_assert(json_is_object(json_object_get(j, "user")), "line %zu: no user", line);
    /* Same fixed-width UTC format, so text order is time order. */
    cr_assert_geq(strcmp(jstr(j, "stageTimestamp"), jstr(j, "requestReceivedTimestamp")), 0);
    const char *stage = jstr(j, "stage");
    json_t *st = json_object_get(j, "responseStatus");
    json_t *ref = json_object_get(j, "objectRef");
    /* Spec §4.3: only an update's decoded body fills uid/resourceVersion; a create's name
       reaches objectRef from the body, so not before ResponseComplete. */
    if (ref && strcmp(jstr(j, "verb"), "update") != 0)
        cr_assert_null(json_object_get(ref, "resourceVersion"), "line %zu: rv on non-update", line);
    if (ref && strcmp(jstr(j, "verb"), "create") == 0 && !json_object_get(ref, "subresource") &&
        strcmp(stage, "ResponseComplete") != 0)
        cr_assert_null(json_object_get(ref, "name"), "line %zu: create name too early", line);
    if (strcmp(stage, "RequestReceived") == 0) {
        cr_assert_null(st, "line %zu: RequestReceived with responseStatus", line);
        cr_assert_null(json_object_get(j, "annotations"));
        cr_assert_null(json_object_get(j, "impersonatedUser"));
        cr_assert_str_eq(jstr(j, "stageTimestamp"), jstr(j, "requestReceivedTimestamp"));
        return;
    }
    json_int_t code = json_integer_value(json_object_get(st, "code"));
    cr_assert(json_is_object(json_object_get(st, "metadata")));
    json_t *ann = json_object_get(j, "annotations");
    const char *dec = ann ? jstr(ann, "authorization.k8s.io/decision") : NULL;
    if (code == 401) {
        cr_assert_str_eq(stage, "ResponseStarted");
        cr_assert_eq(json_object_size(json_object_get(j, "user")), 0);
        cr_assert_str_eq(jstr(st, "message"), "Unauthorized");
        cr_assert_str_eq(jstr(st, "reason"), "Unauthorized");
        cr_assert_null(dec);
    } else if (code == 403) {
        cr_assert_str_eq(jstr(st, "reason"), "Forbidden");
        cr_assert_str_eq(jstr(st, "status"), "Failure");
        cr_assert_not_null(strstr(jstr(st, "message"), "forbidden: User \""));
        cr_assert_str_eq(dec, "forbid");
    } else {
        cr_assert_str_eq(dec, "allow", "line %zu: code %d without allow", line, (int)code);
        cr_assert_not_null(jstr(ann, "authorization.k8s.io/reason"));
    }
}

Test(gen, lines_parse_and_have_fields)
{
    struct ka_gen_opts o = {.seed = 2, .events = 6000, .attacks = true};
    struct run r;
    gen_run(&o, 0, &r);
    size_t escaped_amp = 0;
    for (size_t i = 0; i < r.n; i++) {
        const char *p = r.out.p + r.off[i];
        size_t n = r.off[i + 1] - r.off[i];
        cr_assert_eq(p[n - 1], '\n');
        cr_assert_null(memchr(p, '&', n), "line %zu: raw '&' (Go writes \\u0026)", i + 1);
        cr_assert_null(memchr(p, '<', n), "line %zu: raw '<'", i + 1);
        cr_assert_null(memchr(p, '\n', n - 1), "line %zu: embedded newline", i + 1);
        if (memmem(p, n, "\\u0026", 6))
            escaped_amp++;
        cr_assert_eq((uint64_t)n, r.info[i].line_bytes);
        json_t *j = line_json(&r, i);
        check_event_json(j, i + 1);
        cr_assert_str_eq(jstr(j, "auditID"), r.info[i].audit_id);
        json_decref(j);
    }
    cr_assert_gt(escaped_amp, 100, "query strings with \\u0026 expected, saw %zu", escaped_amp);
    run_free(&r);
}

Test(gen, member_order_is_canonical)
{
    /* Spec §1.2: members in struct order; a few fixed anchors are enough to catch a swap. */
    static const char *const order[] = {"\"kind\":", "\"apiVersion\":", "\"level\":",
                                        "\"auditID\":", "\"stage\":", "\"requestURI\":",
                                        "\"verb\":", "\"user\":"};
    struct ka_gen_opts o = {.seed = 9, .events = 500};
    struct run r;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++) {
        const char *p = r.out.p + r.off[i], *prev = p;
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
            const char *q = strstr(prev, order[k]);
            cr_assert(q && q < r.out.p + r.off[i + 1], "line %zu: %s missing", i + 1, order[k]);
            prev = q;
        }
        const char *rt = strstr(p, "\"requestReceivedTimestamp\":");
        const char *stt = strstr(p, "\"stageTimestamp\":");
        cr_assert(rt && stt && rt < stt);
    }
    static const char head[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":";
    cr_assert(strncmp(r.out.p, head, sizeof head - 1) == 0);
    run_free(&r);
}

Test(gen, level_mix)
{
    struct ka_gen_opts o = {.seed = 4, .events = 20000};
    struct run r;
    gen_run(&o, 0, &r);
    size_t lv[4] = {0}, bytes[4] = {0};
    for (size_t i = 0; i < r.n; i++) {
        lv[r.info[i].level]++;
        bytes[r.info[i].level] += r.info[i].line_bytes;
    }
    double meta = 100.0 * (double)lv[1] / (double)r.n;
    cr_assert(meta >= 70 && meta <= 90, "Metadata share %.1f%%", meta);
    cr_assert_gt(lv[2], r.n / 20, "Request events: %zu", lv[2]);
    cr_assert_gt(lv[3], r.n / 100, "RequestResponse events: %zu", lv[3]);
    cr_assert_lt(bytes[1] / lv[1], bytes[2] / lv[2], "Request events should be bigger");
    cr_assert_lt(bytes[2] / lv[2], bytes[3] / lv[3], "RequestResponse events should be biggest");
    run_free(&r);
}

Test(gen, start_option)
{
    struct ka_gen_opts o = {.seed = 1, .events = 10, .start_sec = 1700000000,
                            .start_nsec = 123456789};
    struct run r;
    gen_run(&o, 0, &r);
    json_t *j = line_json(&r, 0);
    cr_assert_str_eq(jstr(j, "requestReceivedTimestamp"), "2023-11-14T22:13:20.123456Z");
    json_decref(j);
    run_free(&r);
    struct ka_gen *g = NULL;
    struct ka_gen_opts bad = {.start_nsec = 1000000000};
    cr_assert_eq(ka_gen_new(&bad, &g), KA_EINVAL);
    cr_assert_null(g);
}

Test(gen, every_attack_scenario_is_labelled)
{
    struct ka_gen_opts o = {.seed = 8, .events = 30000, .attacks = true};
    struct run r;
    gen_run(&o, 0, &r);
    size_t per[KA_GEN_SC_COUNT] = {0};
    for (size_t i = 0; i < r.n; i++) {
        const struct ka_gen_info *in = &r.info[i];
        per[in->scenario]++;
        const char *p = r.out.p + r.off[i];
        size_t n = r.off[i + 1] - r.off[i];
        bool exec = memmem(p, n, "\"subresource\":\"exec\"", 20) != NULL;
        bool anon = memmem(p, n, "system:anonymous", 16) != NULL;
        bool crb = memmem(p, n, "\"name\":\"cluster-admin\"}", 23) != NULL;
        /* The ground truth is clean: normal traffic never does these. */
        if (!in->scenario)
            cr_assert(!exec && !anon && !crb, "unlabelled attack-like event at line %zu", i + 1);
        if (in->scenario == KA_GEN_SC_POD_EXEC && in->stage > 0 && exec)
            cr_assert_eq(in->code, 101);
        if (in->scenario == KA_GEN_SC_ANONYMOUS)
            cr_assert(anon);
        if (in->scenario == KA_GEN_SC_FORBIDDEN_STORM && in->stage > 0)
            cr_assert_eq(in->code, 403);
    }
    for (int s = 1; s < KA_GEN_SC_COUNT; s++)
        cr_assert_gt(per[s], 0, "scenario %s never appeared", ka_gen_scenario_name(s));
    cr_assert_str_eq(ka_gen_scenario_name(KA_GEN_SC_POD_EXEC), "pod-exec");
    cr_assert_null(ka_gen_scenario_name(0));
    run_free(&r);
    o.attacks = false;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++)
        cr_assert_eq(r.info[i].scenario, 0);
    run_free(&r);
}

Test(gen, lines_pass_event_scan)
{
    struct ka_gen_opts o = {.seed = 12, .events = 8000, .attacks = true};
    struct run r;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++) {
        struct ka_event ev;
        struct ka_scan_err err;
        const char *p = r.out.p + r.off[i];
        int rc = ka_event_scan(p, r.off[i + 1] - r.off[i], NULL, &ev, &err);
        cr_assert_eq(rc, KA_OK, "line %zu: %s", i + 1, err.msg);
        cr_assert_eq((int)ev.stage_v, r.info[i].stage);
        cr_assert_eq((int)ev.level_v, r.info[i].level);
    }
    run_free(&r);
}

static void dur_is(int64_t ns, const char *want)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    struct ka__gw w = {&b, 0};
    ka__gw_duration(&w, ns);
    cr_assert_eq(w.err, 0);
    cr_assert_eq(b.n, strlen(want), "%lld: got %.*s", (long long)ns, (int)b.n, b.p);
    cr_assert(memcmp(b.p, want, b.n) == 0, "%lld: got %.*s want %s", (long long)ns, (int)b.n, b.p,
              want);
    ka_buf_free(&b);
}

Test(gen, go_duration_format)
{
    /* Values and strings as Go's time.Duration.String() prints them. */
    dur_is(0, "\"0s\"");
    dur_is(999, "\"999ns\"");
    dur_is(1500, "\"1.5\xc2\xb5s\"");
    dur_is(561927, "\"561.927\xc2\xb5s\"");
    dur_is(501234567, "\"501.234567ms\"");
    dur_is(7855949070LL, "\"7.85594907s\"");
    dur_is(90000000000LL, "\"1m30s\"");
    dur_is(3600000000000LL, "\"1h0m0s\"");
    dur_is(-2000000, "\"-2ms\"");
}

Test(gen, cli_labels_match_attack_events)
{
    char *dir = ka_t_tmpdir();
    cr_assert_not_null(dir);
    char args[512], *out = NULL, *err = NULL, path[300];
    size_t out_len = 0;
    snprintf(path, sizeof path, "%s/labels.tsv", dir);
    snprintf(args, sizeof args, "gen --seed 21 --events 25000 --attacks --labels '%s'", path);
    int st = ka_t_run(args, NULL, 0, &out, &out_len, &err);
    cr_assert_eq(st, 0, "exit %d: %s", st, err);
    struct ka_gen_opts o = {.seed = 21, .events = 25000, .attacks = true};
    struct run r;
    gen_run(&o, 0, &r);
    cr_assert_eq(out_len, r.out.n, "CLI and library output differ in size");
    cr_assert(memcmp(out, r.out.p, out_len) == 0, "CLI and library output differ");
    struct ka_buf want;
    ka_buf_init(&want, 0);
    for (size_t i = 0; i < r.n; i++)
        if (r.info[i].scenario)
            ka_buf_printf(&want, "%s\t%s\n", r.info[i].audit_id,
                          ka_gen_scenario_name(r.info[i].scenario));
    size_t len = 0;
    char *labels = ka_t_read_file(path, &len);
    cr_assert_not_null(labels);
    cr_assert_gt(want.n, 0);
    cr_assert_eq(len, want.n);
    cr_assert(memcmp(labels, want.p, len) == 0, "labels differ from the attack events");
    free(labels);
    ka_buf_free(&want);
    run_free(&r);
    free(out);
    free(err);
    ka_t_rmtree(dir);
    free(dir);
}

Test(gen, cli_usage_errors)
{
    static const char *const bad[] = {"gen --events x", "gen --bytes 12Q", "gen --rate 0",
                                      "gen --start 2025-13-01T00:00:00Z", "gen --labels /tmp/x",
                                      "gen --nope", "gen extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL, *err = NULL;
        size_t n = 0;
        int st = ka_t_run(bad[i], NULL, 0, &out, &n, &err);
        cr_assert_eq(st, 1, "'%s' exited %d", bad[i], st);
        free(out);
        free(err);
    }
    char *out = NULL, *err = NULL;
    size_t n = 0;
    cr_assert_eq(ka_t_run("gen --help", NULL, 0, &out, &n, &err), 0);
    cr_assert_not_null(strstr(out, "example:"));
    free(out);
    free(err);
}

/* ---- Deployment deletions: the labelled scenario, CI's own, the garbage collector ---- */

static bool has(const struct run *r, size_t i, const char *s)
{
    return memmem(r->out.p + r->off[i], r->off[i + 1] - r->off[i], s, strlen(s)) != NULL;
}

static const char *ref_str(json_t *j, const char *k)
{
    json_t *v = json_object_get(json_object_get(j, "objectRef"), k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static const char *user_of(json_t *j)
{
    json_t *v = json_object_get(json_object_get(j, "user"), "username");
    return json_is_string(v) ? json_string_value(v) : "";
}

#define GC_USER "system:serviceaccount:kube-system:generic-garbage-collector"

/* True when an unlabelled garbage-collector delete of `res` named prefix* follows line i. */
static bool gc_follows(const struct run *r, size_t i, const char *res, const char *ns,
                       const char *prefix)
{
    for (size_t k = i + 1; k < r->n && r->info[k].stage_usec < r->info[i].stage_usec + 5000000;
         k++) {
        if (r->info[k].stage != 2 || !has(r, k, GC_USER))
            continue;
        json_t *j = line_json(r, k);
        bool ok = strcmp(jstr(j, "verb"), "delete") == 0 && strcmp(ref_str(j, "resource"), res) == 0 &&
                  strcmp(ref_str(j, "namespace"), ns) == 0 &&
                  strncmp(ref_str(j, "name"), prefix, strlen(prefix)) == 0;
        json_decref(j);
        if (ok) {
            cr_assert_eq(r->info[k].scenario, 0, "the garbage collector is never labelled");
            return true;
        }
    }
    return false;
}

Test(gen, deployment_delete_scenario)
{
    struct ka_gen_opts o = {.seed = 8, .events = 40000, .attacks = true};
    struct run r;
    size_t frank = 0, ci = 0, labelled = 0;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (r.info[i].scenario == KA_GEN_SC_DEPLOY_DELETE) {
            labelled++;
            cr_assert(has(&r, i, "\"username\":\"oidc:frank@example.com\""));
            cr_assert(has(&r, i, "\"resource\":\"deployments\""));
        }
        if (r.info[i].stage != 2 || !has(&r, i, "\"verb\":\"delete\"") ||
            !has(&r, i, "\"resource\":\"deployments\""))
            continue;
        json_t *j = line_json(&r, i);
        const char *name = ref_str(j, "name"), *ns = ref_str(j, "namespace");
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s-", name);
        if (r.info[i].scenario) {
            cr_assert_eq(r.info[i].scenario, KA_GEN_SC_DEPLOY_DELETE);
            cr_assert_str_eq(user_of(j), "oidc:frank@example.com");
            cr_assert(strcmp(ns, "shop") == 0 || strcmp(ns, "payments") == 0 ||
                      strcmp(ns, "search") == 0 || strcmp(ns, "analytics") == 0, "%s", ns);
            frank++;
        } else {
            /* the only unlabelled Deployment deletions: CI removing preview Deployments */
            cr_assert_str_eq(user_of(j), "system:serviceaccount:ci:deployer");
            cr_assert_not_null(strstr(name, "-pr-"), "%s", name);
            ci++;
        }
        cr_assert_eq(r.info[i].code, 200);
        cr_assert(gc_follows(&r, i, "replicasets", ns, prefix), "no ReplicaSet GC after %s", name);
        cr_assert(gc_follows(&r, i, "pods", ns, prefix), "no Pod GC after %s", name);
        json_decref(j);
    }
    cr_assert_geq(frank, 2, "labelled Deployment deletions: %zu", frank);
    cr_assert_geq(ci, 2, "CI Deployment deletions: %zu", ci);
    cr_assert_gt(labelled, frank * 2, "the scenario also lists and watches");
    cr_assert_str_eq(ka_gen_scenario_name(KA_GEN_SC_DEPLOY_DELETE), "deployment-delete");
    run_free(&r);
    o.attacks = false;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++)
        cr_assert(!has(&r, i, "oidc:frank@example.com"), "line %zu: attacker without --attacks", i);
    run_free(&r);
}

/* ---- Secret writes with data and stringData ---- */

static void b64(const char *s, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)s[i] << 16;
        v |= i + 1 < n ? (unsigned)(unsigned char)s[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned)(unsigned char)s[i + 2] : 0;
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = t[v >> 6 & 63];
        out[o++] = t[v & 63];
        if (i + 1 >= n)
            out[o - 2] = '=';
        if (i + 2 >= n)
            out[o - 1] = '=';
    }
    out[o] = 0;
}

/* The Secret held in the last-applied-configuration annotation of obj (NULL when none). */
static json_t *last_applied(json_t *obj)
{
    json_t *a = json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                "kubectl.kubernetes.io/last-applied-configuration");
    if (!json_is_string(a))
        return NULL;
    json_t *la = json_loads(json_string_value(a), 0, NULL);
    cr_assert_not_null(la);
    cr_assert_str_eq(jstr(la, "kind"), "Secret");
    return la;
}

/* Checks one Secret write; returns 1 for stringData, 2 for data, 0 for neither. */
static int check_secret_write(json_t *j, int level)
{
    json_t *req = json_object_get(j, "requestObject"), *resp = json_object_get(j, "responseObject");
    json_t *sd = json_object_get(req, "stringData"), *d = json_object_get(req, "data"), *v;
    json_t *la = last_applied(req);
    const char *k;
    char enc[256];
    if (sd) {
        cr_assert_eq(level, 3, "stringData patches are logged with the stored Secret");
        cr_assert(json_equal(sd, json_object_get(la, "stringData")));
        json_object_foreach(sd, k, v) {
            cr_assert_geq(strlen(json_string_value(v)), 16);
            b64(json_string_value(v), enc);
            cr_assert_str_eq(json_string_value(json_object_get(json_object_get(resp, "data"), k)),
                             enc, "response data.%s is the base64 of stringData.%s", k, k);
        }
    } else if (d) {
        cr_assert_geq(level, 2);
        json_object_foreach(d, k, v)
            cr_assert_eq(strlen(json_string_value(v)) % 4, 0, "data.%s is base64", k);
        if (la)
            cr_assert_str_eq(json_string_value(json_object_get(json_object_get(la, "data"),
                                                               "password")),
                             json_string_value(json_object_get(d, "password")));
    }
    json_decref(la);
    return sd ? 1 : d ? 2 : 0;
}

Test(gen, secret_writes_carry_values)
{
    struct ka_gen_opts o = {.seed = 4, .events = 30000};
    struct run r;
    size_t kinds[3] = {0}, tls = 0;
    gen_run(&o, 0, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (r.info[i].stage != 2 || r.info[i].level < 2 || !has(&r, i, "\"resource\":\"secrets\""))
            continue;
        json_t *j = line_json(&r, i);
        kinds[check_secret_write(j, r.info[i].level)]++;
        tls += has(&r, i, "\"type\":\"kubernetes.io/tls\"") &&
               strcmp(user_of(j), "system:serviceaccount:cert-manager:cert-manager") == 0;
        json_decref(j);
    }
    cr_assert_geq(kinds[1], 5, "Secret writes with stringData: %zu", kinds[1]);
    cr_assert_geq(kinds[2], 20, "Secret writes with data: %zu", kinds[2]);
    cr_assert_geq(tls, 5, "cert-manager TLS secrets: %zu", tls);
    /* a small share of the traffic */
    cr_assert_lt((kinds[1] + kinds[2]) * 100, r.n, "%zu Secret writes", kinds[1] + kinds[2]);
    run_free(&r);
}
