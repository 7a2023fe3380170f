/*
 * test_policy.c - the policy loader's messages (file:line:col, strict vs lenient, JSON input,
 * every error reported), evaluation edge cases (spec §2.4), ka_attrs_from_event, and the
 * shipped deploy/audit-policy.yaml.
 *
 * Data: ../shared/data/real/audit2rbac/demo.log (a real kube-apiserver log from
 * liggitt/audit2rbac, see ../shared/data/real/SOURCES.md) for attributes of scanned events.
 * Everything else is written here.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaudit/policy.h"
#include "testutil.h"

static struct ka_diag dg;
static struct ka_policy *pol;

static void setup(void)
{
    memset(&dg, 0, sizeof dg);
    pol = NULL;
}
static void teardown(void)
{
    ka_policy_free(pol);
    ka_diag_free(&dg);
}
TestSuite(policy, .init = setup, .fini = teardown);

static int load(const char *text, unsigned flags)
{
    ka_policy_free(pol);
    pol = NULL;
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    return ka_policy_load_mem("policy.yaml", text, strlen(text), flags, &dg, &pol);
}

static bool has_msg(enum ka_sev sev, const char *exact)
{
    for (size_t i = 0; i < dg.n; i++)
        if (dg.v[i].sev == sev && strcmp(dg.v[i].msg, exact) == 0)
            return true;
    return false;
}

static void dump(void)
{
    for (size_t i = 0; i < dg.n; i++)
        fprintf(stderr, "  [%d] %s\n", (int)dg.v[i].sev, dg.v[i].msg);
}

#define EXPECT_MSG(sev, text)                                                  \
    do {                                                                       \
        if (!has_msg(sev, text))                                               \
            dump();                                                            \
        cr_expect(has_msg(sev, text), "missing message: %s", text);            \
    } while (0)

#define HDR "apiVersion: audit.k8s.io/v1\nkind: Policy\n"

/* ---- messages ---- */

Test(policy, omit_stage_message_exact_form)
{
    /* the wrong stage sits on line 14, column 9 */
    const char *y = HDR "rules:\n"
                        "  - level: None\n"
                        "    users: [\"system:kube-proxy\"]\n"
                        "  - level: Metadata\n"
                        "    verbs: [get]\n"
                        "  # a comment line\n"
                        "  - level: Request\n"
                        "    resources:\n"
                        "      - group: \"\"\n"
                        "        resources: [pods]\n"
                        "    omitStages:\n"
                        "      - RequestStarted\n"
                        "      - Panic\n";
    cr_assert_eq(load(y, 0), KA_EPOLICY);
    cr_expect_eq(dg.n_errors, 1);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:14:9: rules[2].omitStages[0]: Unsupported value "
                             "\"RequestStarted\": supported values: \"RequestReceived\", "
                             "\"ResponseStarted\", \"ResponseComplete\", \"Panic\"");
}

Test(policy, level_messages)
{
    cr_assert_eq(load(HDR "rules:\n  - level: Verbose\n  - verbs: [get]\n  - level: \"\"\n", 0),
                 KA_EPOLICY);
    cr_expect_eq(dg.n_errors, 3);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:4:12: rules[0].level: Unsupported value \"Verbose\": "
                             "supported values: \"None\", \"Metadata\", \"Request\", "
                             "\"RequestResponse\"");
    /* missing level: the position of the rule; explicit empty level: the value */
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:5:5: rules[1].level: Required value");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:6:12: rules[2].level: Required value");
    /* level names are case-sensitive */
    cr_expect_eq(load(HDR "rules: [{level: metadata}]\n", 0), KA_EPOLICY);
}

Test(policy, all_errors_reported_with_spec_texts)
{
    const char *y = HDR "omitStages: [RequestComplete]\n"
                        "rules:\n"
                        "  - level: Metadata\n"
                        "    nonResourceURLs: [\"logs\", \"/a*b\", \"x*y\", \"*\", \"/ok*\"]\n"
                        "  - level: Metadata\n"
                        "    namespaces: [default]\n"
                        "    nonResourceURLs: [\"/logs*\"]\n"
                        "  - level: Metadata\n"
                        "    resources:\n"
                        "      - group: rbac.authorization.k8s.io/v1beta1\n"
                        "        resources: [roles]\n"
                        "      - group: \"*\"\n"
                        "        resourceNames: [leader]\n";
    cr_assert_eq(load(y, 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:3:14: omitStages[0]: Unsupported value "
                             "\"RequestComplete\": supported values: \"RequestReceived\", "
                             "\"ResponseStarted\", \"ResponseComplete\", \"Panic\"");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:6:23: rules[0].nonResourceURLs[0]: Invalid value: "
                             "\"logs\": non-resource URL rules must begin with a '/' character");
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:6:31: rules[0].nonResourceURLs[1]: Invalid value: \"/a*b\": "
               "non-resource URL wildcards '*' must be the final character of the rule");
    /* one URL can break both rules */
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:6:39: rules[0].nonResourceURLs[2]: Invalid value: "
                             "\"x*y\": non-resource URL rules must begin with a '/' character");
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:6:39: rules[0].nonResourceURLs[2]: Invalid value: \"x*y\": "
               "non-resource URL wildcards '*' must be the final character of the rule");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:9:22: rules[1].nonResourceURLs: Invalid value: "
                             "[\"/logs*\"]: rules cannot apply to both regular resources and "
                             "non-resource URLs");
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:12:16: rules[2].resources.group: Invalid value: "
               "\"rbac.authorization.k8s.io/v1beta1\": a lowercase RFC 1123 subdomain must "
               "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
               "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:15:24: rules[2].resources.resourceNames: Invalid "
                             "value: [\"leader\"]: using resourceNames requires at least one "
                             "resource");
    cr_expect_eq(dg.n_errors, 8);
    cr_expect_null(pol);
}

Test(policy, group_names)
{
    cr_expect_eq(load(HDR "rules: [{level: None, resources: [{group: \"*\"}, {group: \"\"}, "
                          "{group: apps}, {group: a-b.c0.io}]}]\n",
                      0),
                 KA_OK);
    const char *bad[] = {"Apps", "-a", "a-", "a..b", ".a", "a_b", "a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char y[256];
        snprintf(y, sizeof y, HDR "rules: [{level: None, resources: [{group: \"%s\"}]}]\n",
                 bad[i]);
        cr_expect_eq(load(y, 0), KA_EPOLICY, "%s", bad[i]);
    }
    char y[512], g[300];
    memset(g, 'a', 254);
    g[254] = '\0';
    snprintf(y, sizeof y, HDR "rules: [{level: None, resources: [{group: %s}]}]\n", g);
    cr_expect_eq(load(y, 0), KA_EPOLICY);
    cr_expect(dg.n && strstr(dg.v[0].msg, ": must be no more than 253 characters"), "%s",
              dg.n ? dg.v[0].msg : "");
}

Test(policy, strict_and_lenient)
{
    const char *y = HDR "rules:\n"
                        "  - level: Metadata\n"
                        "    Level: None\n"
                        "    verbs: [get]\n"
                        "    verbs: [list]\n"
                        "metadata: {name: x, labels: {a: b}}\n"
                        "extra: 1\n";
    cr_assert_eq(load(y, 0), KA_OK);
    cr_expect_eq(dg.n_warnings, 3);
    cr_expect_eq(dg.n_errors, 0);
    EXPECT_MSG(KA_SEV_WARNING, "policy.yaml:5:5: rules[0].Level: unknown field \"Level\"");
    EXPECT_MSG(KA_SEV_WARNING, "policy.yaml:7:5: rules[0].verbs: duplicate field \"verbs\"");
    EXPECT_MSG(KA_SEV_WARNING, "policy.yaml:9:1: extra: unknown field \"extra\"");
    /* lenient: the unknown field is dropped, the last duplicate wins */
    struct ka_attrs a = {.verb = {"list", 4, 1, 0}};
    struct ka_decision d;
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_METADATA);
    a.verb = (struct ka_str){"get", 3, 1, 0};
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_NONE);

    cr_assert_eq(load(y, KA_POLICY_STRICT), KA_EPOLICY);
    cr_expect_eq(dg.n_errors, 3);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:5:5: rules[0].Level: unknown field \"Level\"");
    cr_expect_null(pol);
}

Test(policy, type_errors)
{
    const char *y = HDR "omitManagedFields: \"true\"\n"
                        "rules:\n"
                        "  - level: [Metadata]\n"
                        "    verbs: get\n"
                        "    resources: {group: apps}\n"
                        "    omitManagedFields: perhaps\n"
                        "  - [x]\n"
                        "  - level: None\n"
                        "    users: [a, [b]]\n";
    cr_assert_eq(load(y, 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:3:20: omitManagedFields: expected a boolean, got a string");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:5:12: rules[0].level: expected a string, got a list");
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:6:12: rules[0].verbs: expected a list of strings, got a string");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:7:16: rules[0].resources: expected a list of group "
                             "resources, got a mapping");
    EXPECT_MSG(KA_SEV_ERROR,
               "policy.yaml:8:24: rules[0].omitManagedFields: expected a boolean, got a string");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:9:5: rules[1]: expected a mapping, got a list");
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:11:16: rules[2].users[1]: expected a string, got a list");
    /* a type error does not also produce "Required value" for the same field */
    cr_expect_eq(dg.n_errors, 7);
}

Test(policy, nulls_and_scalars)
{
    /* null lists are absent, null list entries are "", numbers are strings, booleans forms */
    const char *y = HDR "omitStages: ~\n"
                        "omitManagedFields: yes\n"
                        "rules:\n"
                        "  - level: Metadata\n"
                        "    users: null\n"
                        "    verbs: [~, 42]\n"
                        "    omitManagedFields: False\n"
                        "  - level: None\n";
    cr_assert_eq(load(y, KA_POLICY_STRICT), KA_OK);
    struct ka_attrs a = {.verb = {"42", 2, 1, 0}};
    struct ka_decision d;
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_METADATA);
    cr_expect_eq(d.omit_managed_fields, false);
    a.verb = (struct ka_str){0};
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_METADATA, "a null verb entry matches the empty verb");
    a.verb = (struct ka_str){"get", 3, 1, 0};
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.rule, 1);
    cr_expect_eq(d.omit_managed_fields, true);
    /* a null rule is an empty rule: level required */
    cr_expect_eq(load(HDR "rules:\n  - level: None\n  -\n", 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:5:3: rules[1].level: Required value");
}

Test(policy, group_version_kind)
{
    cr_assert_eq(load("rules: [{level: None}]\n", 0), KA_EPOLICY);
    cr_expect(dg.n == 1 && strstr(dg.v[0].msg, "policy.yaml:1:1: unknown group version field"),
              "%s", dg.n ? dg.v[0].msg : "");
    cr_assert_eq(load("kind: Policy\nrules: [{level: None}]\n", 0), KA_EPOLICY);
    cr_expect(dg.n && strstr(dg.v[0].msg, "unknown group version field"));
    cr_assert_eq(load("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n",
                      0),
                 KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml:1:13: apiVersion: no kind \"Policy\" is registered for "
                             "version \"audit.k8s.io/v1beta1\"");
    cr_assert_eq(load("apiVersion: audit.k8s.io/v1\nkind: Event\nrules: [{level: None}]\n", 0),
                 KA_EPOLICY);
    cr_expect(dg.n && strstr(dg.v[0].msg, "policy.yaml:2:7: kind: no kind \"Event\" is "
                                          "registered for version \"audit.k8s.io/v1\""));
}

Test(policy, empty_and_zero_rules)
{
    cr_expect_eq(load("", 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml: empty policy file");
    cr_expect_eq(load("# nothing but a comment\n\n", 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml: empty policy file");
    cr_expect_eq(load(HDR "rules: []\n", 0), KA_EPOLICY);
    EXPECT_MSG(KA_SEV_ERROR, "policy.yaml: loaded illegal policy with 0 rules");
    cr_expect_eq(dg.n_errors, 1);
    cr_expect_eq(load("[]", 0), KA_EPOLICY);
}

Test(policy, yaml_syntax_errors_have_positions)
{
    cr_assert_eq(load(HDR "rules:\n  - level: None\n   verbs: [a]\n", 0), KA_EPOLICY);
    cr_expect(dg.n_errors >= 1);
    cr_expect(!strncmp(dg.v[0].msg, "policy.yaml:5:4: ", 17), "%s", dg.v[0].msg);
    cr_assert_eq(load(HDR "rules: [{level: None}\n", 0), KA_EPOLICY);
    cr_expect(!strncmp(dg.v[0].msg, "policy.yaml:", 12), "%s", dg.v[0].msg);
    cr_assert_eq(load(HDR "rules: [{level: *nope}]\n", 0), KA_EPOLICY);
}

Test(policy, json_input)
{
    const char *j = "{\n\t\"apiVersion\": \"audit.k8s.io/v1\",\n\t\"kind\": \"Policy\",\n"
                    "\t\"rules\": [\n\t\t{\"level\": \"Request\", \"verbs\": [\"g\\u0065t\"], "
                    "\"x\": 1}\n\t]\n}\n";
    cr_assert_eq(load(j, 0), KA_OK);
    EXPECT_MSG(KA_SEV_WARNING, "policy.yaml:5:47: rules[0].x: unknown field \"x\"");
    struct ka_attrs a = {.verb = {"get", 3, 1, 0}};
    struct ka_decision d;
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_REQUEST);
    cr_assert_eq(load("{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\",\n"
                      "  \"rules\": [{\"level\": \"None\",}]}",
                      0),
                 KA_EPOLICY);
    cr_expect(!strncmp(dg.v[0].msg, "policy.yaml:2:", 14), "%s", dg.v[0].msg);
    /* duplicate JSON keys: warning, last wins; strict: error */
    const char *dup = "{\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\", "
                      "\"rules\": [{\"level\": \"None\", \"level\": \"Metadata\"}]}";
    cr_assert_eq(load(dup, 0), KA_OK);
    cr_expect_eq(dg.n_warnings, 1);
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_METADATA);
    cr_expect_eq(load(dup, KA_POLICY_STRICT), KA_EPOLICY);
}

Test(policy, anchors_documents_limits)
{
    cr_assert_eq(load(HDR "rules:\n  - level: None\n    users: &sys [a, b]\n"
                          "  - level: Metadata\n    userGroups: *sys\n---\nkind: Other\n",
                      0),
                 KA_OK);
    cr_expect_eq(dg.n_warnings, 1, "second document ignored with a warning");
    cr_expect_eq(ka_policy_rule_count(pol), 2);
    /* nesting beyond the maximum depth */
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k] = '\0';
    char y[600];
    snprintf(y, sizeof y, HDR "rules: %s\n", deep);
    cr_expect_eq(load(y, 0), KA_EPOLICY);
    /* a string longer than the per-string maximum */
    char *big = malloc(3000);
    int n = snprintf(big, 3000, HDR "rules: [{level: None, users: [\"");
    memset(big + n, 'u', 1100);
    strcpy(big + n + 1100, "\"]}]\n");
    cr_expect_eq(load(big, 0), KA_EPOLICY);
    cr_expect(dg.n && strstr(dg.v[0].msg, "rules[0].users[0]: value longer than 1024 bytes"),
              "%s", dg.n ? dg.v[0].msg : "");
    free(big);
}

Test(policy, alias_expansion_is_bounded)
{
    /* 1000 users shared by 1100 rules through aliases: 1.1 million entries once expanded */
    size_t cap = 64 << 10, k = 0;
    char *y = malloc(cap);
    k += (size_t)snprintf(y + k, cap - k, HDR "u: &u [");
    for (int i = 0; i < 1000; i++)
        k += (size_t)snprintf(y + k, cap - k, "%sx%d", i ? "," : "", i);
    k += (size_t)snprintf(y + k, cap - k, "]\nr: &r {level: None, users: *u}\nrules: [");
    for (int i = 0; i < 1100; i++)
        k += (size_t)snprintf(y + k, cap - k, "%s*r", i ? "," : "");
    snprintf(y + k, cap - k, "]\n");
    cr_expect_eq(load(y, 0), KA_EPOLICY);
    cr_expect(dg.n_errors == 1 && strstr(dg.v[dg.n - 1].msg, "policy too large"), "%s",
              dg.n ? dg.v[dg.n - 1].msg : "");
    free(y);
}

Test(policy, load_file)
{
    cr_expect_eq(ka_policy_load_file("/nonexistent/policy.yaml", 0, &dg, &pol), KA_EIO);
    cr_expect(dg.n && strstr(dg.v[0].msg, "/nonexistent/policy.yaml: "));
    char *dir = ka_t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(HDR, f);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)KA_POLICY_MAX_BYTES + 1), 0);
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    cr_expect_eq(ka_policy_load_file(path, 0, &dg, &pol), KA_EPOLICY);
    cr_expect(dg.n && strstr(dg.v[0].msg, "larger than"));
    ka_t_rmtree(dir);
    free(dir);
}

/* ---- evaluation ---- */

static struct ka_str S(const char *s)
{
    return (struct ka_str){s, (uint32_t)strlen(s), 1, 0};
}
static struct ka_str E(const char *s) /* still JSON-escaped */
{
    return (struct ka_str){s, (uint32_t)strlen(s), 1, 1};
}

static struct ka_attrs res_req(const char *verb, const char *group, const char *ns,
                               const char *res, const char *sub, const char *name)
{
    struct ka_attrs a = {.has_user = true, .user = S("alice"), .groups = {"[\"devs\"]", 8},
                         .verb = S(verb), .resource_request = true, .api_group = S(group),
                         .namespace_ = S(ns), .resource = S(res), .subresource = S(sub),
                         .name = S(name)};
    return a;
}

static struct ka_attrs nonres_req(const char *path)
{
    struct ka_attrs a = {.has_user = true, .user = S("alice"), .groups = {"[\"devs\"]", 8},
                         .verb = S("get"), .path = S(path)};
    return a;
}

static int level_of(const struct ka_attrs *a)
{
    struct ka_decision d;
    ka_policy_eval(pol, a, &d);
    return (int)d.level;
}

Test(policy, eval_resource_patterns)
{
    cr_assert_eq(load(HDR "rules:\n"
                          "  - {level: RequestResponse, resources: [{group: \"\", resources: "
                          "[\"pods/*\"]}]}\n"
                          "  - {level: Request, resources: [{group: \"*\", resources: "
                          "[\"*/status\"]}]}\n"
                          "  - {level: Metadata, resources: [{group: apps, resources: "
                          "[deployments], resourceNames: [web]}]}\n"
                          "  - {level: Metadata, namespaces: [\"\"]}\n",
                      KA_POLICY_STRICT),
                 KA_OK);
    struct ka_attrs a = res_req("get", "", "default", "pods", "", "p1");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST_RESPONSE, "pods/* matches pods itself");
    a = res_req("get", "", "default", "pods", "log", "p1");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST_RESPONSE);
    a = res_req("update", "apps", "default", "deployments", "status", "web");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST, "*/status in any group");
    a = res_req("update", "apps", "default", "deployments", "", "web");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = res_req("update", "apps", "default", "deployments", "", "api");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE, "resourceNames gate the match");
    a = res_req("list", "apps", "", "deployments", "", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA, "namespaces [\"\"]: all-namespace list");
    a = res_req("get", "", "default", "podsx", "", "p1");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    a = nonres_req("/pods");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE, "resource rules never match non-resource requests");
}

Test(policy, eval_nonresource_and_users)
{
    cr_assert_eq(load(HDR "omitStages: [RequestReceived]\n"
                          "omitManagedFields: true\n"
                          "rules:\n"
                          "  - {level: None, users: [alice], nonResourceURLs: [\"/logs*\"]}\n"
                          "  - {level: Request, userGroups: [ops], verbs: [get], "
                          "omitStages: [Panic]}\n"
                          "  - {level: Metadata, nonResourceURLs: [\"/metrics\", \"/debug/*\"]}\n",
                      KA_POLICY_STRICT),
                 KA_OK);
    cr_expect_eq(ka_policy_rule_count(pol), 3);
    cr_expect_eq(ka_policy_levels_used(pol), 0x7u);
    struct ka_attrs a = nonres_req("/logsfoo");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    struct ka_decision d;
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.rule, 0);
    a.user = S("bob");
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.rule, -1, "no rule: level None with the policy's defaults");
    cr_expect_eq(d.omit_stages, KA_STAGE_BIT(KA_STAGE_REQUEST_RECEIVED));
    cr_expect_eq(d.omit_managed_fields, true);
    a.groups = (struct ka_raw){"[\"devs\", \"ops\"]", 15};
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.level, KA_LEVEL_REQUEST);
    cr_expect_eq(d.omit_stages,
                 KA_STAGE_BIT(KA_STAGE_REQUEST_RECEIVED) | KA_STAGE_BIT(KA_STAGE_PANIC));
    a.has_user = false; /* failed authentication: user/group rules never match */
    ka_policy_eval(pol, &a, &d);
    cr_expect_eq(d.rule, -1);
    a = nonres_req("/metrics/");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE, "/metrics does not match /metrics/");
    a = nonres_req("/debug/");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = nonres_req("/debug");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    a.verb = S("GET");
    a.groups = (struct ka_raw){"[\"ops\"]", 7};
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE, "verbs are case-sensitive");
}

Test(policy, eval_escaped_attributes)
{
    cr_assert_eq(load(HDR "rules:\n"
                          "  - {level: Request, users: [\"j\\u00f6rg\"], resources: [{group: \"\", "
                          "resources: [\"pods/log\"]}]}\n"
                          "  - {level: Metadata, userGroups: [\"a&b\"]}\n"
                          "  - {level: RequestResponse, nonResourceURLs: [\"/x/a&b*\"]}\n",
                      0),
                 KA_OK);
    struct ka_attrs a = res_req("get", "", "ns", "pods", "log", "p");
    a.user = E("j\\u00f6rg");
    a.resource = E("p\\u006fds");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST);
    a.subresource = E("lo\\u0067");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST);
    a.user = S("alice");
    static const char esc_groups[] = "[\"x\", \"a\\u0026b\"]";
    a.groups = (struct ka_raw){esc_groups, sizeof esc_groups - 1};
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA, "escaped group");
    /* a long escaped path: only its prefix can match, and it does */
    static char path[8000];
    strcpy(path, "/x/a\\u0026b");
    for (size_t i = strlen(path); i < sizeof path - 1; i++)
        path[i] = (i % 7) ? 'z' : '/';
    struct ka_attrs n = nonres_req("");
    n.path = E(path);
    cr_expect_eq(level_of(&n), KA_LEVEL_REQUEST_RESPONSE);
    n.path = E("/x/a\\u0026");
    cr_expect_eq(level_of(&n), KA_LEVEL_NONE);
}

/*
 * count users and count user groups in one rule each: hashed sets; up to 63 distinct values the
 * policy also keeps bit masks, beyond that it compares strings. 41 user groups: beyond the
 * per-decision group cache.
 */
static void long_lists(int count)
{
    char y[8192];
    size_t k = (size_t)snprintf(y, sizeof y, HDR "rules:\n  - level: Request\n    users: [");
    for (int i = 0; i < count; i++)
        k += (size_t)snprintf(y + k, sizeof y - k, "%su%d", i ? ", " : "", i);
    k += (size_t)snprintf(y + k, sizeof y - k, "]\n  - level: Metadata\n    userGroups: [");
    for (int i = 0; i < count; i++)
        k += (size_t)snprintf(y + k, sizeof y - k, "%sg%d", i ? ", " : "", i * 100);
    snprintf(y + k, sizeof y - k, "]\n");
    cr_assert_eq(load(y, KA_POLICY_STRICT), KA_OK);
    struct ka_attrs a = nonres_req("/");
    for (int i = 0; i < count; i++) {
        char u[16];
        snprintf(u, sizeof u, "u%d", i);
        a.user = S(u);
        cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST, "%s", u);
    }
    char none[16];
    snprintf(none, sizeof none, "u%d", count);
    a.user = S(none);
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    static char groups[2048];
    size_t g = 0;
    groups[g++] = '[';
    for (int i = 0; i < 40; i++)
        g += (size_t)snprintf(groups + g, sizeof groups - g, "%s\"x%d\"", i ? "," : "", i);
    snprintf(groups + g, sizeof groups - g, ",\"g%d\"]", (count - 1) * 100);
    a.groups = (struct ka_raw){groups, (uint32_t)strlen(groups)};
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA, "the 41st group still counts");
    a.has_user = false;
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
}

Test(policy, eval_long_lists_and_many_groups)
{
    long_lists(40);
    long_lists(70);
}

/* ---- attributes from events ---- */

static void scan(const char *line, struct ka_event *ev)
{
    struct ka_scan_err err;
    int rc = ka_event_scan(line, strlen(line), NULL, ev, &err);
    cr_assert_eq(rc, KA_OK, "scan: %s", err.msg);
}

static bool str_is(struct ka_str s, const char *want)
{
    return s.set ? ka_str_eq(s, want, strlen(want)) : want[0] == '\0';
}

Test(policy, attrs_from_event)
{
    struct ka_event ev;
    struct ka_attrs a;
    scan("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
         "\"auditID\":\"1\",\"stage\":\"ResponseComplete\","
         "\"requestURI\":\"/api/v1/namespaces/kube-system/pods?limit=500\\u0026watch=true\","
         "\"verb\":\"watch\",\"user\":{\"username\":\"system:node:n1\",\"groups\":"
         "[\"system:nodes\",\"system:authenticated\"]},\"objectRef\":{\"resource\":\"pods\","
         "\"namespace\":\"kube-system\",\"apiVersion\":\"v1\"}}",
         &ev);
    ka_attrs_from_event(&ev, &a);
    cr_expect(a.has_user);
    cr_expect(str_is(a.user, "system:node:n1"));
    cr_expect(str_is(a.verb, "watch"));
    cr_expect(a.resource_request);
    cr_expect(str_is(a.resource, "pods") && str_is(a.namespace_, "kube-system"));
    cr_expect(str_is(a.api_group, "") && str_is(a.name, "") && str_is(a.subresource, ""));
    cr_expect(str_is(a.path, "/api/v1/namespaces/kube-system/pods"));
    cr_expect_eq(a.path.esc, 0, "the escape was in the query");
    cr_expect_eq(ka_json_array_len(a.groups), 2);

    /* failed authentication: user {} means no user; no objectRef: non-resource */
    scan("{\"level\":\"Metadata\",\"auditID\":\"2\",\"stage\":\"ResponseStarted\","
         "\"requestURI\":\"/healthz\",\"verb\":\"get\",\"user\":{}}",
         &ev);
    ka_attrs_from_event(&ev, &a);
    cr_expect_not(a.has_user);
    cr_expect_not(a.resource_request);
    cr_expect(str_is(a.path, "/healthz"));

    /* groups alone make a user; objectRef with subresource and name */
    scan("{\"requestURI\":\"/api/v1/namespaces/d/pods/p/exec?command=sh\",\"verb\":\"create\","
         "\"user\":{\"groups\":[\"system:unauthenticated\"]},\"objectRef\":{\"resource\":\"pods\","
         "\"namespace\":\"d\",\"name\":\"p\",\"subresource\":\"exec\",\"apiGroup\":\"\"}}",
         &ev);
    ka_attrs_from_event(&ev, &a);
    cr_expect(a.has_user);
    cr_expect(str_is(a.subresource, "exec") && str_is(a.name, "p"));
    cr_expect(str_is(a.path, "/api/v1/namespaces/d/pods/p/exec"));
}

/* Impersonation does not change whose request it is: the policy sees the real user. */
Test(policy, attrs_from_real_log_use_the_real_user)
{
    const char *path = ka_t_shared("data/real/audit2rbac/demo.log");
    size_t len = 0;
    char *buf = ka_t_read_file(path, &len);
    cr_assert_not_null(buf);
    cr_assert_eq(load(HDR "rules:\n  - {level: Request, users: [\"system:admin\"], "
                          "userGroups: [\"system:masters\"]}\n",
                      0),
                 KA_OK);
    int lines = 0, matched = 0;
    for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl)
            nl = buf + len;
        if (nl == p)
            continue;
        struct ka_event ev;
        struct ka_scan_err err;
        cr_assert_eq(ka_event_scan(p, (size_t)(nl - p), NULL, &ev, &err), KA_OK, "%s", err.msg);
        struct ka_attrs a;
        ka_attrs_from_event(&ev, &a);
        lines++;
        matched += level_of(&a) == KA_LEVEL_REQUEST;
    }
    cr_expect_eq(lines, 37);
    cr_expect_eq(matched, 37);
    free(buf);
}

/* ---- the shipped policy ---- */

static struct ka_attrs sys_req(const char *user, const char *groups, const char *verb,
                               const char *group, const char *res, const char *sub)
{
    struct ka_attrs a = res_req(verb, group, "kube-system", res, sub, "x");
    a.user = S(user);
    a.groups = (struct ka_raw){groups, (uint32_t)strlen(groups)};
    return a;
}

Test(policy, deploy_policy)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/deploy/audit-policy.yaml", KA_SOURCE_DIR);
    cr_assert_eq(ka_policy_load_file(path, KA_POLICY_STRICT, &dg, &pol), KA_OK);
    cr_expect_eq(dg.n, 0, "the shipped policy loads with no warning");
    cr_expect_eq(ka_policy_levels_used(pol), 0xfu);
    const char *node = "[\"system:nodes\",\"system:authenticated\"]";
    const char *dev = "[\"devs\",\"system:authenticated\"]";
    struct ka_attrs a = sys_req("system:node:n1", node, "update", "coordination.k8s.io", "leases", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    a = sys_req("alice", dev, "update", "coordination.k8s.io", "leases", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    const char *sensitive[] = {"secrets", "configmaps"};
    for (int i = 0; i < 2; i++) {
        a = sys_req("alice", dev, "create", "", sensitive[i], "");
        cr_expect_eq(level_of(&a), KA_LEVEL_METADATA, "%s", sensitive[i]);
        a = sys_req("alice", dev, "list", "", sensitive[i], "");
        cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    }
    a = sys_req("alice", dev, "create", "", "serviceaccounts", "token");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = sys_req("alice", dev, "create", "authentication.k8s.io", "tokenreviews", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = sys_req("alice", dev, "create", "", "pods", "exec");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = sys_req("alice", dev, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST_RESPONSE);
    a = sys_req("alice", dev, "get", "rbac.authorization.k8s.io", "clusterrolebindings", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = sys_req("alice", dev, "patch", "apps", "deployments", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_REQUEST);
    a = sys_req("alice", dev, "list", "", "events", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    a = sys_req("system:node:n1", node, "watch", "", "pods", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    a = sys_req("alice", dev, "watch", "", "pods", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_METADATA);
    a = sys_req("system:kube-proxy", node, "list", "discovery.k8s.io", "endpointslices", "");
    cr_expect_eq(level_of(&a), KA_LEVEL_NONE);
    struct ka_attrs n = nonres_req("/readyz/etcd");
    cr_expect_eq(level_of(&n), KA_LEVEL_NONE);
    n = nonres_req("/apis/apps/v1");
    n.groups = (struct ka_raw){dev, (uint32_t)strlen(dev)};
    cr_expect_eq(level_of(&n), KA_LEVEL_NONE);
    n = nonres_req("/debug/pprof/profile");
    cr_expect_eq(level_of(&n), KA_LEVEL_METADATA);
    struct ka_decision d;
    ka_policy_eval(pol, &n, &d);
    cr_expect_eq(d.omit_stages, KA_STAGE_BIT(KA_STAGE_REQUEST_RECEIVED));
    cr_expect(d.omit_managed_fields);
}
