/*
 * test_detect_rules.c - rule files: lists, macros, rules, append/override, exceptions,
 * enabled, priorities, sources, rule matching, output formatting and load errors with
 * file:line:col. Rule files and events are written here by hand; no data from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/detect.h"

static const char *const EV =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Request\","
    "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\","
    "\"verb\":\"create\",\"user\":{\"username\":\"alice\"},\"objectRef\":{\"resource\":\"pods\","
    "\"namespace\":\"default\"},\"responseStatus\":{\"code\":201},"
    "\"requestObject\":{\"spec\":{\"containers\":[{\"image\":\"nginx\"},{\"image\":\"redis\"}]}},"
    "\"stageTimestamp\":\"2024-01-02T03:04:05.123456789Z\"}";

struct run {
    char rules[16][64];
    size_t n;
    char first_json[4096], first_text[1024];
    char err[1024];
    struct ka_detect_stats st;
};

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct run *r = ud;
    if (r->n == 0) {
        struct ka_buf b;
        ka_buf_init(&b, 0);
        cr_assert_eq(ka_detect_format_json(m, &b), KA_OK);
        snprintf(r->first_json, sizeof(r->first_json), "%s", ka_buf_cstr(&b));
        ka_buf_reset(&b);
        cr_assert_eq(ka_detect_format_text(m, &b), KA_OK);
        snprintf(r->first_text, sizeof(r->first_text), "%s", ka_buf_cstr(&b));
        ka_buf_free(&b);
    }
    if (r->n < 16)
        snprintf(r->rules[r->n++], sizeof(r->rules[0]), "%s", m->rule);
    return 0;
}

/* Loads the files (NULL-terminated), runs ev. Returns 0, or -1 with r->err set. */
static int run_ev(struct run *r, const struct ka_detect_opts *o, const char *const *files,
                  const char *ev)
{
    memset(r, 0, sizeof(*r));
    struct ka_detect *d;
    struct ka_diag diag = {0};
    cr_assert_eq(ka_detect_new(o, &d), KA_OK);
    int rc = KA_OK;
    for (int i = 0; files[i] && rc == KA_OK; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d.yaml", i + 1);
        rc = ka_detect_load_mem(d, name, files[i], strlen(files[i]), &diag);
    }
    if (rc == KA_OK)
        rc = ka_detect_compile(d, &diag);
    if (rc == KA_OK) {
        struct ka_detect_ctx *c;
        cr_assert_eq(ka_detect_ctx_new(d, &c), KA_OK);
        cr_assert_geq(ka_detect_eval_line(c, ev, strlen(ev), on_alert, r), 0);
        ka_detect_ctx_free(c);
        ka_detect_stats(d, &r->st);
    } else {
        for (size_t i = 0; i < diag.n; i++)
            if (diag.v[i].sev == KA_SEV_ERROR) {
                snprintf(r->err, sizeof(r->err), "%s", diag.v[i].msg);
                break;
            }
        cr_assert(r->err[0], "an error must come with a message");
    }
    ka_diag_free(&diag);
    ka_detect_free(d);
    return rc == KA_OK ? 0 : -1;
}

static int run_opts(struct run *r, const struct ka_detect_opts *o, const char *const *files)
{
    return run_ev(r, o, files, EV);
}

static int run1(struct run *r, const char *a, const char *b)
{
    const char *files[] = {a, b, NULL};
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h1";
    return run_opts(r, &o, files);
}

#define RULE(name, cond, prio)                                                             \
    "- rule: " name "\n  desc: d\n  condition: " cond "\n  output: out\n  priority: " prio \
    "\n  source: k8s_audit\n"

Test(detect_rules, lists_nested_and_by_name)
{
    struct run r;
    const char *f = "- list: a\n  items: [nginx]\n- list: b\n  items: [a, redis]\n"
                    "- macro: m\n  condition: ka.req.pod.containers.image in (b)\n"
                    RULE("r1", "m", "WARNING") RULE("r2", "ka.verb in verbs", "WARNING")
                    "- list: verbs\n  items: [create]\n";
    cr_assert_eq(run1(&r, f, NULL), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.rules[0], "r1");
    /* A name that is not a list is a literal. */
    cr_assert_eq(run1(&r, RULE("r", "ka.user.name in (alice_list, alice)", "INFO"), NULL), 0);
    cr_expect_eq(r.n, 1);
}

Test(detect_rules, list_append_and_errors)
{
    struct run r;
    const char *base = "- list: users\n  items: [bob]\n" RULE("r", "ka.user.name in (users)",
                                                                   "WARNING");
    cr_assert_eq(run1(&r, base, NULL), 0);
    cr_expect_eq(r.n, 0);
    cr_assert_eq(run1(&r, base, "- list: users\n  items: [alice]\n  append: true\n"), 0);
    cr_expect_eq(r.n, 1);
    cr_assert_eq(run1(&r, base, "- list: users\n  items: [alice]\n  override:\n    items: "
                                "append\n"), 0);
    cr_expect_eq(r.n, 1);
    cr_assert_eq(run1(&r, base, "- list: users\n  items: [carol]\n  override:\n    items: "
                                "replace\n"), 0);
    cr_expect_eq(r.n, 0);
    cr_assert_eq(run1(&r, base, "- list: nope\n  items: [x]\n  append: true\n"), -1);
    cr_expect(strstr(r.err, "f2.yaml:1:3: list 'nope'") != NULL, "%s", r.err);
    /* YAML syntax errors keep libfyaml's (1-based) positions: a quote opened at 2:14. */
    cr_assert_eq(run1(&r, base, "- list: users\n  items: [\"x]\n"), -1);
    cr_expect(strstr(r.err, "f2.yaml:2:") != NULL && strstr(r.err, "f2.yaml:3:") == NULL,
              "%s", r.err);
    cr_assert_eq(run1(&r, base, "- list: users\n  items: [x]\n  append: true\n  override:\n"
                                "    items: append\n"), -1);
    cr_expect(strstr(r.err, "cannot be used together") != NULL, "%s", r.err);
}

Test(detect_rules, macros_redefine_append_override)
{
    struct run r;
    const char *base = "- macro: m\n  condition: ka.verb = get\n" RULE("r", "m", "WARNING");
    cr_assert_eq(run1(&r, base, NULL), 0);
    cr_expect_eq(r.n, 0);
    cr_assert_eq(run1(&r, base, "- macro: m\n  condition: ka.verb = create\n"), 0);
    cr_expect_eq(r.n, 1, "a later definition replaces the macro");
    cr_assert_eq(run1(&r, base, "- macro: m\n  condition: or ka.verb = create\n  append: true\n"),
                 0);
    cr_expect_eq(r.n, 1, "appended condition");
    cr_assert_eq(run1(&r, base, "- macro: m\n  condition: ka.verb = create\n  override:\n"
                                "    condition: replace\n"), 0);
    cr_expect_eq(r.n, 1);
    cr_assert_eq(run1(&r, "- macro: a\n  condition: b\n- macro: b\n  condition: a\n"
                          RULE("r", "a", "WARNING"), NULL), -1);
    cr_expect(strstr(r.err, "refers to itself") != NULL, "%s", r.err);
}

Test(detect_rules, syscall_rules_skipped_and_their_macros_not_compiled)
{
    struct run r;
    const char *f = "- macro: spawned\n  condition: proc.name = sh and evt.type = execve\n"
                    "- list: shells\n  items: [alice]\n"
                    "- rule: syscall rule\n  desc: d\n  condition: spawned\n  output: o\n"
                    "  priority: WARNING\n"
                    RULE("k8s", "ka.user.name in (shells)", "WARNING");
    cr_assert_eq(run1(&r, f, NULL), 0, "%s", r.err);
    cr_expect_eq(r.n, 1, "lists of every file count");
    cr_expect_eq(r.st.rules, 2);
    cr_expect_eq(r.st.rules_skipped, 1);
    cr_expect_eq(r.st.rules_active, 1);
    cr_expect_eq(r.st.macros_compiled, 0);
}

Test(detect_rules, rule_matching_first_all_and_order)
{
    struct run r;
    const char *f = RULE("one", "ka.verb = create", "INFO") RULE("two", "ka.verb = create",
                                                                  "WARNING");
    cr_assert_eq(run1(&r, f, NULL), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.rules[0], "one");
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.matching = KA_DETECT_ALL;
    const char *files[] = {f, NULL};
    cr_assert_eq(run_opts(&r, &o, files), 0);
    cr_expect_eq(r.n, 2);
    /* Redefinition keeps the position: "one" redefined later still comes first. */
    cr_assert_eq(run1(&r, f, RULE("one", "ka.verb in (create)", "ERROR")), 0);
    cr_expect_str_eq(r.rules[0], "one");
    cr_expect(strstr(r.first_json, "\"priority\":\"Error\"") != NULL, "%s", r.first_json);
    /* Minimum priority: INFO rules are not evaluated above it. */
    o.matching = KA_DETECT_FIRST;
    o.min_priority = KA_PRIO_WARNING;
    cr_assert_eq(run_opts(&r, &o, files), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.rules[0], "two");
    cr_expect_eq(r.st.rules_disabled, 1);
}

Test(detect_rules, enabled_and_priorities)
{
    struct run r;
    const char *f = RULE("one", "ka.verb = create", "warning") RULE("two", "ka.verb = create",
                                                                     "Info");
    cr_assert_eq(run1(&r, f, "- rule: one\n  enabled: false\n"), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.rules[0], "two");
    cr_expect(strstr(r.first_json, "\"priority\":\"Informational\"") != NULL);
    cr_assert_eq(run1(&r, RULE("x", "ka.verb = create", "LOUD"), NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:5:13: rule 'x': unknown priority 'LOUD'") != NULL, "%s",
              r.err);
    cr_assert_eq(run1(&r, f, "- rule: nope\n  enabled: false\n"), -1);
    cr_expect(strstr(r.err, "no rule by that name") != NULL, "%s", r.err);
    enum ka_prio p;
    cr_expect_eq(ka_prio_parse("INFORMATIONAL", &p), KA_OK);
    cr_expect_eq(p, KA_PRIO_INFO);
    cr_expect_eq(ka_prio_parse("emergency", &p), KA_OK);
    cr_expect_eq(p, KA_PRIO_EMERGENCY);
}

Test(detect_rules, rule_append_and_override)
{
    struct run r;
    const char *base = RULE("r", "ka.verb = get", "WARNING");
    cr_assert_eq(run1(&r, base, "- rule: r\n  condition: or ka.verb = create\n  append: true\n"),
                 0, "%s", r.err);
    cr_expect_eq(r.n, 1);
    cr_assert_eq(run1(&r, base, "- rule: r\n  condition: ka.verb = create\n  output: new "
                                "%ka.user.name\n  override:\n    condition: replace\n    "
                                "output: replace\n"), 0, "%s", r.err);
    cr_expect_eq(r.n, 1);
    cr_expect(strstr(r.first_text, "Warning new alice") != NULL, "%s", r.first_text);
    cr_assert_eq(run1(&r, base, "- rule: r\n  condition: ka.verb = create\n  output: x\n"
                                "  override:\n    condition: replace\n"), -1);
    cr_expect(strstr(r.err, "f2.yaml:3:3: rule 'r': key 'output' is not named") != NULL, "%s",
              r.err);
    cr_assert_eq(run1(&r, base, "- rule: r\n  priority: INFO\n  override:\n    priority: "
                                "append\n"), -1);
    cr_expect(strstr(r.err, "cannot be appended") != NULL, "%s", r.err);
}

Test(detect_rules, exceptions)
{
    struct run r;
    const char *multi = "- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: o\n"
                        "  priority: WARNING\n  source: k8s_audit\n  exceptions:\n"
                        "    - name: known\n      fields: [ka.user.name, ka.target.namespace]\n"
                        "      comps: [=, in]\n      values:\n        - [bob, [default]]\n";
    cr_assert_eq(run1(&r, multi, NULL), 0, "%s", r.err);
    cr_expect_eq(r.n, 1, "bob is excepted, alice is not");
    cr_assert_eq(run1(&r, multi, "- rule: r\n  exceptions:\n    - name: known\n      values:\n"
                                 "        - [alice, [default, x]]\n  append: true\n"), 0, "%s",
                 r.err);
    cr_expect_eq(r.n, 0, "appended values except alice");
    const char *single = "- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: o\n"
                         "  priority: WARNING\n  source: k8s_audit\n  exceptions:\n"
                         "    - name: users\n      fields: ka.user.name\n      values: [alice, "
                         "\"x y\"]\n";
    cr_assert_eq(run1(&r, single, NULL), 0, "%s", r.err);
    cr_expect_eq(r.n, 0);
    const char *badcomp = "- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: o\n"
                          "  priority: WARNING\n  source: k8s_audit\n  exceptions:\n"
                          "    - name: users\n      fields: ka.user.name\n      comps: =\n"
                          "      values: [alice]\n";
    cr_assert_eq(run1(&r, badcomp, NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:8:7: rule 'r': exception 'users'") != NULL, "%s", r.err);
    const char *badfield = "- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: o\n"
                           "  priority: WARNING\n  source: k8s_audit\n  exceptions:\n"
                           "    - name: e\n      fields: [ka.nope]\n      values: [[x]]\n";
    cr_assert_eq(run1(&r, badfield, NULL), -1);
    cr_expect(strstr(r.err, "ka.nope") != NULL, "%s", r.err);
}

Test(detect_rules, output_text_and_json)
{
    struct run r;
    const char *f = "- rule: out\n  desc: d\n  condition: ka.verb = create\n"
                    "  output: \"u=%ka.user.name imgs=%ka.req.pod.containers.image "
                    "imp=%ka.impuser.name p=%jevt.value[/objectRef/resource].\"\n"
                    "  priority: NOTICE\n  source: k8s_audit\n  tags: [k8s, mitre_execution]\n";
    cr_assert_eq(run1(&r, f, NULL), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.first_text,
                     "03:04:05.123456789: Notice u=alice imgs=(nginx,redis) imp=<NA> p=pods.");
    cr_expect_str_eq(
        r.first_json,
        "{\"hostname\":\"h1\",\"output\":\"03:04:05.123456789: Notice u=alice imgs=(nginx,redis) "
        "imp=<NA> p=pods.\",\"output_fields\":{\"evt.time\":1704164645123456789,"
        "\"jevt.value[/objectRef/resource]\":\"pods\",\"ka.auditid\":\"a1\","
        "\"ka.impuser.name\":null,\"ka.req.pod.containers.image\":[\"nginx\",\"redis\"],"
        "\"ka.user.name\":\"alice\",\"kaudit.cluster\":null},"
        "\"priority\":\"Notice\",\"rule\":\"out\",\"source\":\"k8s_audit\","
        "\"tags\":[\"k8s\",\"mitre_execution\"],\"time\":\"2024-01-02T03:04:05.123456789Z\"}");
}

Test(detect_rules, output_hostname_option)
{
    struct run r;
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h2";
    const char *files[] = {RULE("x", "ka.verb = create", "INFO"), NULL};
    cr_assert_eq(run_opts(&r, &o, files), 0);
    cr_expect(strstr(r.first_json, "{\"hostname\":\"h2\",") == r.first_json, "%s", r.first_json);
}

Test(detect_rules, load_errors_with_positions)
{
    struct run r;
    cr_assert_eq(run1(&r, "- rule: r\n  desc: [unclosed\n", NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:") == r.err, "%s", r.err);
    cr_assert_eq(run1(&r, "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n", NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:1:3: rule 'r': missing 'condition'") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, "- something: 1\n", NULL), -1);
    cr_expect(strstr(r.err, "unknown top level item") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, "rule: r\n", NULL), -1);
    cr_expect(strstr(r.err, "must be a list") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, "- rule: r\n  desc: d\n  condition: >\n    ka.verb = create and\n"
                          "    ka.bogus = 1\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
                      NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:5:5: rule 'r':") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, "- macro: m\n  condition: ka.verb = (\n" RULE("r", "m", "INFO"),
                      NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:2:24: macro 'm':") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, RULE("r", "ka.verb = create", "INFO")
                          "- rule: r\n  output: \"%ka.nope\"\n  override:\n    output: "
                          "replace\n", NULL), -1);
    cr_expect(strstr(r.err, "f1.yaml:8:12: rule 'r': output:") != NULL, "%s", r.err);
    cr_assert_eq(run1(&r, "- required_engine_version: 15\n- required_plugin_versions:\n"
                          "  - name: k8saudit\n    version: 0.18.0\n", NULL), 0, "%s", r.err);
    cr_assert_eq(run1(&r, "", NULL), 0);
    cr_assert_eq(run1(&r, "- rule: r\n  desc: \"\\xff\"\n", "\xff"), -1);
    cr_expect(strstr(r.err, "invalid UTF-8") != NULL || r.err[0], "%s", r.err);
}

/* Falco's alert JSON is an nlohmann::json object (a std::map): keys sorted; tags are a
   std::set: sorted, without duplicates. Output written as a '>' block is trimmed. Without
   append fields the bytes are exactly Falco's. */
Test(detect_rules, json_bytes_sorted_tags_and_trimmed_folded_output)
{
    struct run r;
    const char *f = "- rule: folded\n  desc: d\n  condition: ka.verb = create\n"
                    "  output: >\n    created by %ka.user.name\n    in %ka.target.namespace\n\n"
                    "  priority: WARNING\n  source: k8s_audit\n"
                    "  tags: [mitre_execution, k8s, T1609, k8s]\n";
    const char *files[] = {f, NULL};
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h1";
    o.n_append_fields = 0;
    cr_assert_eq(run_opts(&r, &o, files), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.first_text, "03:04:05.123456789: Warning created by alice in default");
    cr_expect_str_eq(
        r.first_json,
        "{\"hostname\":\"h1\",\"output\":\"03:04:05.123456789: Warning created by alice in "
        "default\",\"output_fields\":{\"evt.time\":1704164645123456789,"
        "\"ka.target.namespace\":\"default\",\"ka.user.name\":\"alice\"},"
        "\"priority\":\"Warning\",\"rule\":\"folded\",\"source\":\"k8s_audit\","
        "\"tags\":[\"T1609\",\"k8s\",\"mitre_execution\"],"
        "\"time\":\"2024-01-02T03:04:05.123456789Z\"}");
}

/* The append fields (Falco's append_output extra_fields): merged into output_fields in key
   order, a field the template has appears once, the output text is unchanged. */
static const char *const EV_CLUSTER =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
    "\"auditID\":\"b2\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods?x=1\","
    "\"verb\":\"create\",\"user\":{\"username\":\"bob\"},\"objectRef\":{\"resource\":\"pods\"},"
    "\"annotations\":{\"kaudit.io/cluster\":\"prod-1\"},"
    "\"stageTimestamp\":\"2024-01-02T03:04:05.000000001Z\"}";

Test(detect_rules, append_fields_default_once_and_cluster)
{
    struct run r;
    const char *files[] = {"- rule: a\n  desc: d\n  condition: ka.verb = create\n"
                           "  output: \"id=%ka.auditid u=%ka.user.name\"\n  priority: ERROR\n"
                           "  source: k8s_audit\n", NULL};
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h";
    cr_assert_eq(run_ev(&r, &o, files, EV_CLUSTER), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.first_text, "03:04:05.000000001: Error id=b2 u=bob");
    cr_expect_str_eq(
        r.first_json,
        "{\"hostname\":\"h\",\"output\":\"03:04:05.000000001: Error id=b2 u=bob\","
        "\"output_fields\":{\"evt.time\":1704164645000000001,\"ka.auditid\":\"b2\","
        "\"ka.user.name\":\"bob\",\"kaudit.cluster\":\"prod-1\"},\"priority\":\"Error\","
        "\"rule\":\"a\",\"source\":\"k8s_audit\",\"tags\":[],"
        "\"time\":\"2024-01-02T03:04:05.000000001Z\"}");
}

Test(detect_rules, append_fields_custom_list)
{
    struct run r;
    const char *files[] = {"- rule: a\n  desc: d\n  condition: ka.verb = create\n"
                           "  output: \"by %ka.user.name\"\n  priority: INFO\n"
                           "  source: k8s_audit\n", NULL};
    static const char *const fields[] = {"ka.uri.param[x]", "evt.time", "ka.verb",
                                         "ka.user.name", "ka.verb"};
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "h";
    o.append_fields = fields;
    o.n_append_fields = 5;
    cr_assert_eq(run_ev(&r, &o, files, EV_CLUSTER), 0, "%s", r.err);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(
        r.first_json,
        "{\"hostname\":\"h\",\"output\":\"03:04:05.000000001: Informational by bob\","
        "\"output_fields\":{\"evt.time\":1704164645000000001,\"ka.uri.param[x]\":\"1\","
        "\"ka.user.name\":\"bob\",\"ka.verb\":\"create\"},\"priority\":\"Informational\","
        "\"rule\":\"a\",\"source\":\"k8s_audit\",\"tags\":[],"
        "\"time\":\"2024-01-02T03:04:05.000000001Z\"}");
}

Test(detect_rules, append_fields_errors)
{
    struct run r;
    const char *files[] = {RULE("x", "ka.verb = create", "INFO"), NULL};
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    static const char *const unknown[] = {"ka.auditid", "ka.nope"};
    o.append_fields = unknown;
    o.n_append_fields = 2;
    cr_assert_eq(run_opts(&r, &o, files), -1);
    cr_expect(strstr(r.err, "append field 'ka.nope'") == r.err, "%s", r.err);
    static const char *const junk[] = {"ka.verb x"};
    o.append_fields = junk;
    o.n_append_fields = 1;
    cr_assert_eq(run_opts(&r, &o, files), -1);
    cr_expect_str_eq(r.err, "append field 'ka.verb x': not a field name");
    struct ka_detect *d = NULL;
    static const char *const holes[] = {"ka.verb", NULL};
    o.append_fields = holes;
    o.n_append_fields = 2;
    cr_expect_eq(ka_detect_new(&o, &d), KA_EINVAL);
    o.append_fields = NULL;
    o.n_append_fields = 1;
    cr_expect_eq(ka_detect_new(&o, &d), KA_EINVAL);
    o.append_fields = unknown;
    o.n_append_fields = KA_DETECT_MAX_APPEND + 1;
    cr_expect_eq(ka_detect_new(&o, &d), KA_EINVAL);
    cr_expect_null(d);
}
