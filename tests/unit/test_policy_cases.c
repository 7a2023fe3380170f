/*
 * test_policy_cases.c - runs every case of the policy fact table against the policy engine.
 *
 * Data: ../shared/reference/k8s-policy-cases.yaml, read in place. It holds the upstream
 * kube-apiserver checker, validation and loader test cases (pkg/audit/policy/checker_test.go,
 * reader_test.go, pkg/apis/audit/validation/validation_test.go) plus cases derived from
 * checker.go, as data. Each case builds a policy as JSON text (the table's rules emitted by
 * libfyaml), loads it with ka_policy_load_mem and evaluates the named request attributes.
 * Every section is counted: the total must equal the number of entries in the file.
 */
#include <criterion/criterion.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/policy_int.h" /* KA__POLICY_NO_VALIDATE, for derived INVALID cases */
#include "kaudit/policy.h"
#include "testutil.h"

static const char *const stage_names[] = {"RequestReceived", "ResponseStarted",
                                          "ResponseComplete", "Panic"};
static const char *const level_names[] = {"None", "Metadata", "Request", "RequestResponse"};

struct fx {
    struct fy_document *doc;
    struct fy_node *attrs, *rules;
};

static struct fy_node *sec(struct fx *f, const char *name)
{
    return fy_node_mapping_lookup_by_string(fy_document_root(f->doc), name, FY_NT);
}

static void fx_open(struct fx *f)
{
    const char *path = ka_t_shared("reference/k8s-policy-cases.yaml");
    cr_assert_not_null(path);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET};
    f->doc = fy_document_build_from_file(&cfg, path);
    cr_assert_not_null(f->doc, "cannot parse %s", path);
    f->attrs = sec(f, "attributes");
    f->rules = sec(f, "rules");
    cr_assert(f->attrs && f->rules);
}

static void fx_close(struct fx *f)
{
    fy_document_destroy(f->doc);
}

/* ---- small accessors ---- */

static struct fy_node *get(struct fy_node *m, const char *key)
{
    return m ? fy_node_mapping_lookup_by_string(m, key, FY_NT) : NULL;
}

static int scalar_is(struct fy_node *n, const char *s)
{
    size_t len = 0;
    const char *v = n && fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
    return v && len == strlen(s) && memcmp(v, s, len) == 0;
}

static char *scalar_dup(struct fy_node *n)
{
    size_t len = 0;
    const char *v = fy_node_get_scalar(n, &len);
    cr_assert_not_null(v);
    char *s = malloc(len + 1);
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

static char *json_of(struct fy_node *n)
{
    char *s = fy_emit_node_to_string(n, FYECF_MODE_JSON_ONELINE);
    cr_assert_not_null(s);
    return s;
}

static int index_of(const char *const *names, struct fy_node *n)
{
    for (int i = 0; i < 4; i++)
        if (scalar_is(n, names[i]))
            return i;
    cr_assert_fail("unknown name");
    return -1;
}

static unsigned stage_set(struct fy_node *seq)
{
    unsigned bits = 0;
    void *it = NULL;
    struct fy_node *e;
    if (!seq || !fy_node_is_sequence(seq))
        return 0;
    while ((e = fy_node_sequence_iterate(seq, &it)) != NULL)
        bits |= 1u << index_of(stage_names, e);
    return bits;
}

/* ---- request attributes ---- */

struct req {
    struct ka_attrs a;
    char *groups;
};

static struct ka_str kstr(struct fy_node *n)
{
    size_t len = 0;
    const char *v = n ? fy_node_get_scalar(n, &len) : NULL;
    return (struct ka_str){.p = v ? v : "", .n = (uint32_t)len, .set = v != NULL, .esc = 0};
}

static void req_build(struct fx *f, struct fy_node *name, struct req *r)
{
    struct fy_node *m = fy_node_mapping_lookup_value_by_key(f->attrs, name);
    cr_assert_not_null(m, "unknown request attributes");
    memset(r, 0, sizeof(*r));
    struct fy_node *u = get(m, "user");
    if (u && fy_node_is_mapping(u)) {
        r->a.has_user = true;
        r->a.user = kstr(get(u, "name"));
        r->groups = json_of(get(u, "groups"));
        r->a.groups = (struct ka_raw){r->groups, (uint32_t)strlen(r->groups)};
    }
    r->a.verb = kstr(get(m, "verb"));
    r->a.resource_request = scalar_is(get(m, "resourceRequest"), "true");
    r->a.api_group = kstr(get(m, "apiGroup"));
    r->a.namespace_ = kstr(get(m, "namespace"));
    r->a.resource = kstr(get(m, "resource"));
    r->a.subresource = kstr(get(m, "subresource"));
    r->a.name = kstr(get(m, "name"));
    r->a.path = kstr(get(m, "path"));
}

/* ---- policies as JSON text ---- */

struct text {
    char *p;
    size_t n, cap;
};

static void put(struct text *t, const char *s)
{
    size_t k = strlen(s);
    if (t->n + k + 1 > t->cap) {
        t->cap = (t->n + k + 1) * 2;
        t->p = realloc(t->p, t->cap);
        cr_assert_not_null(t->p);
    }
    memcpy(t->p + t->n, s, k + 1);
    t->n += k;
}

static void put_json(struct text *t, struct fy_node *n)
{
    char *s = json_of(n);
    put(t, s);
    free(s);
}

/* Rules are names in the `rules` table or inline rule objects. */
static void put_rules(struct fx *f, struct text *t, struct fy_node *list)
{
    void *it = NULL;
    struct fy_node *e;
    int first = 1;
    put(t, "[");
    while ((e = fy_node_sequence_iterate(list, &it)) != NULL) {
        if (!first)
            put(t, ",");
        first = 0;
        struct fy_node *r = fy_node_is_scalar(e) ? fy_node_mapping_lookup_value_by_key(f->rules, e) : e;
        cr_assert_not_null(r, "unknown rule name");
        put_json(t, r);
    }
    put(t, "]");
}

static struct ka_policy *load_text_flags(const char *text, unsigned flags, struct ka_diag *dg)
{
    struct ka_policy *p = NULL;
    int rc = ka_policy_load_mem("case.json", text, strlen(text), flags, dg, &p);
    cr_assert_eq(rc, KA_OK, "load failed (%d): %s\n%s", rc,
                 dg->n ? dg->v[0].msg : "(no message)", text);
    cr_assert_eq(dg->n_errors, 0);
    cr_assert_eq(dg->n_warnings, 0, "warning: %s", dg->n ? dg->v[0].msg : "");
    return p;
}

static struct ka_policy *load_text(const char *text, struct ka_diag *dg)
{
    return load_text_flags(text, 0, dg);
}

/*
 * Derived cases whose note starts with "INVALID policy" describe what the checker does with a
 * policy the validator refuses: check that it is refused, then compile it unvalidated.
 */
static struct ka_policy *build_policy(struct fx *f, struct fy_node *omit, struct fy_node *rules,
                                      bool invalid, struct ka_diag *dg)
{
    struct text t = {0};
    put(&t, "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\"");
    if (omit) {
        put(&t, ", \"omitStages\": ");
        put_json(&t, omit);
    }
    put(&t, ", \"rules\": ");
    put_rules(f, &t, rules);
    put(&t, "}");
    struct ka_policy *p = NULL;
    if (invalid) {
        cr_expect_eq(ka_policy_load_mem("case.json", t.p, t.n, 0, dg, &p), KA_EPOLICY);
        cr_expect_eq(dg->n_errors, 1);
        ka_diag_free(dg);
        memset(dg, 0, sizeof(*dg));
    }
    p = load_text_flags(t.p, invalid ? KA__POLICY_NO_VALIDATE : 0, dg);
    free(t.p);
    return p;
}

/* ---- sections ---- */

static const char *case_id(struct fy_node *c)
{
    static char id[64];
    size_t len = 0;
    const char *v = fy_node_get_scalar(get(c, "id"), &len);
    snprintf(id, sizeof id, "%.*s", (int)(v ? len : 0), v ? v : "?");
    return id;
}

/* checker_cases, checker_cases_policy_omit, derived_cases: request + rules -> level (+ stages). */
static int run_checker(struct fx *f, const char *section)
{
    struct fy_node *list = sec(f, section);
    cr_assert(list && fy_node_is_sequence(list), "section %s missing", section);
    void *it = NULL;
    struct fy_node *c;
    int n = 0;
    while ((c = fy_node_sequence_iterate(list, &it)) != NULL) {
        struct ka_diag dg = {0};
        struct req r;
        req_build(f, get(c, "request"), &r);
        size_t nl = 0;
        const char *note = get(c, "note") ? fy_node_get_scalar(get(c, "note"), &nl) : NULL;
        bool invalid = note && nl >= 14 && !memcmp(note, "INVALID policy", 14);
        struct ka_policy *p =
            build_policy(f, get(c, "policyOmitStages"), get(c, "rules"), invalid, &dg);
        struct ka_decision d;
        ka_policy_eval(p, &r.a, &d);
        struct fy_node *exp = get(c, "expect");
        cr_expect_eq((int)d.level, index_of(level_names, get(exp, "level")), "%s: level %d",
                     case_id(c), (int)d.level);
        struct fy_node *es = get(exp, "omitStages");
        if (es)
            cr_expect_eq(d.omit_stages, stage_set(es), "%s: omitStages %#x", case_id(c),
                         d.omit_stages);
        else
            cr_expect_eq(d.omit_stages, stage_set(get(c, "policyOmitStages")), "%s", case_id(c));
        ka_policy_free(p);
        ka_diag_free(&dg);
        free(r.groups);
        n++;
    }
    return n;
}

/* union_stages: policy stages P, one matching rule with stages R -> P ∪ R. */
static int run_union(struct fx *f)
{
    void *it = NULL;
    struct fy_node *c;
    int n = 0;
    while ((c = fy_node_sequence_iterate(sec(f, "union_stages"), &it)) != NULL) {
        struct text t = {0};
        put(&t, "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\", \"omitStages\": ");
        put_json(&t, get(c, "policyOmitStages"));
        put(&t, ", \"rules\": [{\"level\": \"Metadata\", \"omitStages\": ");
        put_json(&t, get(c, "ruleOmitStages"));
        put(&t, "}]}");
        struct ka_diag dg = {0};
        struct ka_policy *p = load_text(t.p, &dg);
        struct ka_attrs a = {.verb = {"get", 3, 1, 0}};
        struct ka_decision d;
        ka_policy_eval(p, &a, &d);
        cr_expect_eq(d.level, KA_LEVEL_METADATA, "%s", case_id(c));
        cr_expect_eq(d.omit_stages, stage_set(get(c, "expectSet")), "%s: %#x", case_id(c),
                     d.omit_stages);
        ka_policy_free(p);
        ka_diag_free(&dg);
        free(t.p);
        n++;
    }
    return n;
}

/* omit_managed_fields: policy value, rule tri-state -> decision. */
static int run_omf(struct fx *f)
{
    void *it = NULL;
    struct fy_node *c;
    int n = 0;
    while ((c = fy_node_sequence_iterate(sec(f, "omit_managed_fields"), &it)) != NULL) {
        struct text t = {0};
        put(&t, "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\", \"omitManagedFields\": ");
        put_json(&t, get(c, "policyOmitManagedFields"));
        put(&t, ", \"rules\": [{\"level\": \"RequestResponse\", \"verbs\": [\"get\"]");
        struct fy_node *ro = get(c, "ruleOmitManagedFields");
        if (ro && !scalar_is(ro, "null")) {
            put(&t, ", \"omitManagedFields\": ");
            put_json(&t, ro);
        }
        put(&t, "}]}");
        struct ka_diag dg = {0};
        struct ka_policy *p = load_text(t.p, &dg);
        struct ka_attrs a = {.verb = {"get", 3, 1, 0}};
        struct ka_decision d;
        ka_policy_eval(p, &a, &d);
        struct fy_node *exp = get(c, "expect");
        cr_expect_eq((int)d.level, index_of(level_names, get(exp, "level")), "%s", case_id(c));
        cr_expect_eq(d.omit_managed_fields, scalar_is(get(exp, "omitManagedFields"), "true"),
                     "%s", case_id(c));
        cr_expect_eq(d.rule, 0);
        ka_policy_free(p);
        ka_diag_free(&dg);
        free(t.p);
        n++;
    }
    return n;
}

/* The message text each expected error kind must contain. */
static void expect_error(const char *id, const struct ka_diag *dg, const char *path,
                         const char *kind)
{
    const char *type = "Invalid value", *detail = "";
    if (!strcmp(kind, "Required"))
        type = "Required value";
    else if (!strcmp(kind, "NotSupported") || strstr(path, "omitStages"))
        type = "Unsupported value"; /* omitStages: the form the issue asked for */
    if (strstr(kind, "both"))
        detail = "rules cannot apply to both regular resources and non-resource URLs";
    else if (strstr(kind, "DNS"))
        detail = "a lowercase RFC 1123 subdomain must consist of";
    else if (strstr(kind, "begin with"))
        detail = "non-resource URL rules must begin with a '/' character";
    else if (strstr(kind, "final"))
        detail = "non-resource URL wildcards '*' must be the final character of the rule";
    else if (strstr(kind, "requires"))
        detail = "using resourceNames requires at least one resource";
    char want[256];
    snprintf(want, sizeof want, ": %s: %s", path, type);
    for (size_t i = 0; i < dg->n; i++)
        if (dg->v[i].sev == KA_SEV_ERROR && strstr(dg->v[i].msg, want) &&
            strstr(dg->v[i].msg, detail))
            return;
    cr_expect_fail("%s: no error like '%s' ... '%s' (first: %s)", id, want, detail,
                   dg->n ? dg->v[0].msg : "none");
}

static char *wrap_policy(struct fy_node *pol)
{
    char *inner = json_of(pol);
    const char *body = strchr(inner, '{');
    cr_assert_not_null(body);
    body++;
    while (*body == ' ')
        body++;
    struct text t = {0};
    put(&t, "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\"");
    if (*body != '}')
        put(&t, ", ");
    put(&t, body);
    free(inner);
    return t.p;
}

static int run_validation(struct fx *f)
{
    void *it = NULL;
    struct fy_node *c;
    int n = 0;
    while ((c = fy_node_sequence_iterate(sec(f, "validation_cases"), &it)) != NULL) {
        const char *id = case_id(c);
        char *text = wrap_policy(get(c, "policy"));
        struct ka_diag dg = {0};
        struct ka_policy *p = NULL;
        int rc = ka_policy_load_mem("v.json", text, strlen(text), 0, &dg, &p);
        struct fy_node *rules = get(get(c, "policy"), "rules");
        int n_rules = rules ? fy_node_sequence_item_count(rules) : 0;
        struct fy_node *exp = get(c, "expectErrors");
        if (scalar_is(get(c, "valid"), "true") && n_rules > 0) {
            cr_expect_eq(rc, KA_OK, "%s: %s", id, dg.n ? dg.v[0].msg : "");
            cr_expect_eq(ka_policy_rule_count(p), (size_t)n_rules, "%s", id);
        } else if (scalar_is(get(c, "valid"), "true")) {
            /* passes validation; the loader then refuses 0 rules, and says only that */
            cr_expect_eq(rc, KA_EPOLICY, "%s", id);
            cr_expect_eq(dg.n_errors, 1, "%s", id);
            cr_expect(dg.n && strstr(dg.v[0].msg, "loaded illegal policy with 0 rules"), "%s",
                      id);
        } else {
            cr_expect_eq(rc, KA_EPOLICY, "%s", id);
            cr_assert_not_null(exp, "%s", id);
            cr_expect_eq(dg.n_errors, (size_t)fy_node_sequence_item_count(exp), "%s: %zu errors",
                         id, dg.n_errors);
            void *it2 = NULL;
            struct fy_node *e;
            while ((e = fy_node_sequence_iterate(exp, &it2)) != NULL) {
                char *path = scalar_dup(fy_node_sequence_get_by_index(e, 0));
                char *kind = scalar_dup(fy_node_sequence_get_by_index(e, 1));
                expect_error(id, &dg, path, kind);
                free(path);
                free(kind);
            }
        }
        ka_policy_free(p);
        ka_diag_free(&dg);
        free(text);
        n++;
    }
    return n;
}

/* loader_cases: the files that upstream's reader_test.go describes, written out here. */
static const char l1_text[] =
    "apiVersion: audit.k8s.io/v1\n"
    "kind: Policy\n"
    "rules:\n"
    "  - level: None\n"
    "    nonResourceURLs:\n"
    "      - /healthz*\n"
    "      - /version\n"
    "  - level: RequestResponse\n"
    "    users: [\"tim\"]\n"
    "    userGroups: [\"testers\", \"developers\"]\n"
    "    verbs: [\"patch\", \"delete\", \"create\"]\n"
    "    resources:\n"
    "      - group: \"\"\n"
    "      - group: \"rbac.authorization.k8s.io\"\n"
    "        resources: [\"clusterroles\", \"clusterrolebindings\"]\n"
    "    namespaces: [\"default\", \"kube-system\"]\n"
    "  - level: Metadata\n";

static const char l2_text[] =
    "rules:\n"
    "  - level: None\n"
    "    nonResourceURLs: [\"/healthz*\", \"/version\"]\n"
    "  - level: Metadata\n";

static const char l3_text[] =
    "apiVersion: audit.k8s.io/v1\n"
    "kind: Policy\n"
    "rules:\n"
    "  - level: RequestResponse\n"
    "    users: [\"tim\"]\n"
    "    resources:\n"
    "      - group: \"\"\n"
    "        verbs: [\"patch\"]\n"
    "  - level: Metadata\n";

static const char l4_text[] = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";

static int load_str(const char *text, unsigned flags, struct ka_diag *dg, struct ka_policy **p)
{
    *p = NULL;
    return ka_policy_load_mem("policy.yaml", text, strlen(text), flags, dg, p);
}

static bool any_msg(const struct ka_diag *dg, enum ka_sev sev, const char *needle)
{
    for (size_t i = 0; i < dg->n; i++)
        if (dg->v[i].sev == sev && strstr(dg->v[i].msg, needle))
            return true;
    return false;
}

static void check_l1(struct ka_policy *p)
{
    /* tim in group testers patching a pod in default: the bare {group: ""} entry matches */
    struct ka_attrs a = {.has_user = true,
                         .user = {"tim", 3, 1, 0},
                         .groups = {"[\"testers\"]", 11},
                         .verb = {"patch", 5, 1, 0},
                         .resource_request = true,
                         .namespace_ = {"default", 7, 1, 0},
                         .resource = {"pods", 4, 1, 0}};
    struct ka_decision d;
    ka_policy_eval(p, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_REQUEST_RESPONSE);
    cr_expect_eq(d.rule, 1);
    a.api_group = (struct ka_str){"apps", 4, 1, 0};
    ka_policy_eval(p, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_METADATA);
}

static void run_loader_case(const char *id)
{
    struct ka_diag dg = {0};
    struct ka_policy *p = NULL;
    if (!strcmp(id, "L1")) {
        cr_expect_eq(load_str(l1_text, KA_POLICY_STRICT, &dg, &p), KA_OK);
        cr_expect_eq(ka_policy_rule_count(p), 3);
        cr_expect_eq(dg.n, 0);
        if (p)
            check_l1(p);
    } else if (!strcmp(id, "L2")) {
        cr_expect_eq(load_str(l2_text, 0, &dg, &p), KA_EPOLICY);
        cr_expect(any_msg(&dg, KA_SEV_ERROR, "unknown group version field"));
    } else if (!strcmp(id, "L3")) {
        cr_expect_eq(load_str(l3_text, 0, &dg, &p), KA_OK);
        cr_expect_eq(dg.n_warnings, 1);
        cr_expect(any_msg(&dg, KA_SEV_WARNING,
                          "policy.yaml:8:9: rules[0].resources[0].verbs: unknown field \"verbs\""),
                  "%s", dg.n ? dg.v[0].msg : "");
        cr_expect_eq(ka_policy_rule_count(p), 2);
    } else if (!strcmp(id, "L4")) {
        cr_expect_eq(load_str(l4_text, 0, &dg, &p), KA_EPOLICY);
        cr_expect(any_msg(&dg, KA_SEV_ERROR, "loaded illegal policy with 0 rules"));
    } else if (!strcmp(id, "L5")) {
        cr_expect_eq(load_str("", 0, &dg, &p), KA_EPOLICY);
        cr_expect_geq(dg.n_errors, 1);
    } else {
        cr_expect_fail("unknown loader case %s", id);
    }
    ka_policy_free(p);
    ka_diag_free(&dg);
}

static int run_loader(struct fx *f)
{
    void *it = NULL;
    struct fy_node *c;
    int n = 0;
    while ((c = fy_node_sequence_iterate(sec(f, "loader_cases"), &it)) != NULL) {
        run_loader_case(case_id(c));
        n++;
    }
    return n;
}

static int section_len(struct fx *f, const char *name)
{
    struct fy_node *s = sec(f, name);
    cr_assert(s && fy_node_is_sequence(s), "section %s missing", name);
    return fy_node_sequence_item_count(s);
}

#define SECTION_TEST(tname, section, expr)                                             \
    Test(policy_cases, tname)                                                          \
    {                                                                                  \
        struct fx f;                                                                   \
        fx_open(&f);                                                                   \
        int ran = (expr);                                                              \
        cr_expect_eq(ran, section_len(&f, section), "%s: ran %d", section, ran);       \
        cr_expect_gt(ran, 0);                                                          \
        fx_close(&f);                                                                  \
    }

SECTION_TEST(checker_cases, "checker_cases", run_checker(&f, "checker_cases"))
SECTION_TEST(checker_cases_policy_omit, "checker_cases_policy_omit",
             run_checker(&f, "checker_cases_policy_omit"))
SECTION_TEST(union_stages, "union_stages", run_union(&f))
SECTION_TEST(omit_managed_fields, "omit_managed_fields", run_omf(&f))
SECTION_TEST(derived_cases, "derived_cases", run_checker(&f, "derived_cases"))
SECTION_TEST(validation_cases, "validation_cases", run_validation(&f))
SECTION_TEST(loader_cases, "loader_cases", run_loader(&f))

/* Every case section of the file is known and run: a new or skipped section fails here. */
Test(policy_cases, every_section_counted)
{
    static const char *const known[] = {"attributes", "rules", "checker_cases",
                                        "checker_cases_policy_omit", "union_stages",
                                        "omit_managed_fields", "derived_cases",
                                        "validation_cases", "loader_cases"};
    struct fx f;
    fx_open(&f);
    void *it = NULL;
    struct fy_node_pair *pair;
    int in_file = 0;
    while ((pair = fy_node_mapping_iterate(fy_document_root(f.doc), &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair);
        int found = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            found |= scalar_is(k, known[i]);
        cr_expect(found, "unknown section in the fact table");
        if (!scalar_is(k, "attributes") && !scalar_is(k, "rules"))
            in_file += fy_node_sequence_item_count(fy_node_pair_value(pair));
    }
    int ran = run_checker(&f, "checker_cases") + run_checker(&f, "checker_cases_policy_omit") +
              run_union(&f) + run_omf(&f) + run_checker(&f, "derived_cases") +
              run_validation(&f) + run_loader(&f);
    cr_expect_eq(ran, in_file, "ran %d of %d cases", ran, in_file);
    /* spec §3: 46 x 2 + 12 + 7 + 4 + 26 + 22 + 5 */
    cr_expect_eq(ran, 168, "ran %d", ran);
    fx_close(&f);
}
