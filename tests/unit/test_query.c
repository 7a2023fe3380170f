/*
 * test_query.c - the query model: parsing of every filter value, the exact match of events
 * (globs, resource patterns, codes, CIDRs, annotations, times), prefilter literals and the
 * line-plainness rule, the fast auditID peek, row selection and ordering, and the output
 * formats. All events are written inline here; no data from ../shared is used.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/qout.h"
#include "kaudit/query.h"

#define EV(extra)                                                                             \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","          \
    "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":"       \
    "\"delete\",\"user\":{\"username\":\"alice\",\"groups\":[\"dev\",\"system:authenticated\"]}," \
    "\"sourceIPs\":[\"10.1.2.3\",\"2001:db8::7\"],\"userAgent\":\"kubectl/v1.30\","            \
    "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"shop\",\"name\":\"web\","      \
    "\"apiGroup\":\"apps\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},"        \
    "\"code\":403},\"requestReceivedTimestamp\":\"2025-03-10T09:00:00.000000Z\","             \
    "\"stageTimestamp\":\"2025-03-10T09:00:00.100000Z\",\"annotations\":{"                    \
    "\"authorization.k8s.io/decision\":\"forbid\",\"kaudit.io/cluster\":\"prod-eu\"}" extra "}"

static struct ka_event ev;
static const char *raw = EV("");

static void scan(const char *s)
{
    struct ka_scan_err e;
    raw = s;
    cr_assert_eq(ka_event_scan(s, strlen(s), NULL, &ev, &e), 0, "%s", e.msg);
}

/* Builds a query from "flag=value" pairs and returns whether the current event matches. */
static bool q_match(const char *flag, const char *val)
{
    struct ka_query q;
    struct ka_diag d = {0};
    ka_query_init(&q);
    int rc = -100;
    if (!strcmp(flag, "user")) rc = ka_query_add_users(&q, val, &d);
    else if (!strcmp(flag, "as")) rc = ka_query_add_as(&q, val, &d);
    else if (!strcmp(flag, "group")) rc = ka_query_add_groups(&q, val, &d);
    else if (!strcmp(flag, "verb")) rc = ka_query_add_verbs(&q, val, &d);
    else if (!strcmp(flag, "resource")) rc = ka_query_add_resources(&q, val, &d);
    else if (!strcmp(flag, "namespace")) rc = ka_query_add_namespaces(&q, val, &d);
    else if (!strcmp(flag, "name")) rc = ka_query_add_names(&q, val, &d);
    else if (!strcmp(flag, "code")) rc = ka_query_add_codes(&q, val, &d);
    else if (!strcmp(flag, "decision")) rc = ka_query_set_decision(&q, val, &d);
    else if (!strcmp(flag, "ip")) rc = ka_query_add_source_ips(&q, val, &d);
    else if (!strcmp(flag, "ua")) rc = ka_query_add_user_agents(&q, val, &d);
    else if (!strcmp(flag, "cluster")) rc = ka_query_add_clusters(&q, val, &d);
    else if (!strcmp(flag, "grep")) rc = ka_query_add_grep(&q, val, &d);
    else if (!strcmp(flag, "since")) rc = ka_query_set_since(&q, val, 0, &d);
    else if (!strcmp(flag, "until")) rc = ka_query_set_until(&q, val, 0, &d);
    cr_assert_eq(rc, 0, "%s=%s: %s", flag, val, d.n ? d.v[0].msg : "?");
    bool m = ka_query_match(&q, &ev, raw, strlen(raw));
    ka_query_free(&q);
    ka_diag_free(&d);
    return m;
}

Test(query, globs)
{
    cr_assert(ka_query_glob("*", "", 0));
    cr_assert(ka_query_glob("a*c", "abbbc", 5));
    cr_assert(!ka_query_glob("a*c", "abbbd", 5));
    cr_assert(ka_query_glob("system:*:ci:*", "system:serviceaccount:ci:deployer", 33));
    cr_assert(ka_query_glob("?", "\xc3\xa9", 2), "? is one UTF-8 character");
    cr_assert(!ka_query_glob("??", "\xc3\xa9", 2));
    cr_assert(ka_query_glob("[x]", "[x]", 3), "[ is literal");
    cr_assert(!ka_query_glob("abc", "ab", 2));
    cr_assert(ka_query_glob("*b*b", "abab", 4));
}

Test(query, string_filters)
{
    scan(EV(""));
    cr_assert(q_match("user", "alice"));
    cr_assert(q_match("user", "bob,al*"));
    cr_assert(!q_match("user", "bob"));
    cr_assert(!q_match("as", "*"), "no impersonatedUser: --as never matches");
    cr_assert(q_match("group", "system:auth*"));
    cr_assert(!q_match("group", "system:masters"));
    cr_assert(q_match("verb", "get,delete"));
    cr_assert(!q_match("verb", "get"));
    cr_assert(q_match("namespace", "sh*"));
    cr_assert(q_match("name", "web"));
    cr_assert(!q_match("name", "web-*"));
    cr_assert(q_match("ua", "kubectl/*"));
    cr_assert(q_match("cluster", "prod-*"));
    cr_assert(!q_match("cluster", "dev"));
    cr_assert(q_match("decision", "forbid"));
    cr_assert(!q_match("decision", "allow"));
    cr_assert(q_match("grep", "\"name\":\"web\""));
    cr_assert(!q_match("grep", "nothere"));
}

Test(query, escaped_values_are_decoded)
{
    scan("{\"auditID\":\"x\",\"verb\":\"g\\u0065t\",\"user\":{\"username\":\"\\u0061lice\"}}");
    cr_assert(q_match("user", "alice"));
    cr_assert(q_match("verb", "get"));
    cr_assert(!q_match("namespace", "*"), "an absent field never matches");
}

Test(query, resources)
{
    scan(EV(""));
    cr_assert(q_match("resource", "deployments"));
    cr_assert(q_match("resource", "deployments.apps"));
    cr_assert(!q_match("resource", "deployments.extensions"));
    cr_assert(!q_match("resource", "deployments.core"));
    cr_assert(q_match("resource", "deployments/*"));
    cr_assert(!q_match("resource", "deployments/scale"));
    cr_assert(!q_match("resource", "*/scale"));
    cr_assert(q_match("resource", "*"));
    cr_assert(!q_match("resource", "*/*"));
    cr_assert(!q_match("resource", "pods"));
    scan("{\"auditID\":\"x\",\"objectRef\":{\"resource\":\"pods\",\"subresource\":\"exec\"}}");
    cr_assert(!q_match("resource", "pods"), "pods means no subresource");
    cr_assert(q_match("resource", "pods/*"));
    cr_assert(q_match("resource", "pods/exec"));
    cr_assert(q_match("resource", "*/exec"));
    cr_assert(q_match("resource", "*/*"));
    cr_assert(q_match("resource", "pods.core/exec"));
    cr_assert(q_match("resource", "pods./exec"));
    cr_assert(!q_match("resource", "pods/log"));
    scan("{\"auditID\":\"x\",\"verb\":\"get\",\"requestURI\":\"/healthz\"}");
    cr_assert(!q_match("resource", "*"), "no objectRef: no resource pattern matches");
}

Test(query, codes)
{
    scan(EV(""));
    cr_assert(q_match("code", "403"));
    cr_assert(q_match("code", "4xx"));
    cr_assert(q_match("code", "!2xx"));
    cr_assert(!q_match("code", "!4xx"));
    cr_assert(q_match("code", "200,403"));
    cr_assert(!q_match("code", "4xx,!403"));
    scan("{\"auditID\":\"x\",\"stage\":\"RequestReceived\"}");
    cr_assert(!q_match("code", "!2xx"), "no code: never matches");
}

Test(query, source_ips)
{
    scan(EV(""));
    cr_assert(q_match("ip", "10.0.0.0/8"));
    cr_assert(q_match("ip", "10.1.2.3"));
    cr_assert(!q_match("ip", "10.1.2.4"));
    cr_assert(q_match("ip", "10.1.2.0/30"));
    cr_assert(!q_match("ip", "10.1.2.4/30"));
    cr_assert(q_match("ip", "2001:db8::/32"), "any of sourceIPs");
    cr_assert(!q_match("ip", "2001:db9::/32"));
    cr_assert(q_match("ip", "::ffff:10.1.2.3"), "v4-mapped v6 is the v4 address");
    cr_assert(q_match("ip", "0.0.0.0/0"));
    struct ka_qcidr c;
    cr_assert_eq(ka_query_parse_cidr("10.0.0.0/33", &c), KA_EINVAL);
    cr_assert_eq(ka_query_parse_cidr("fe80::/129", &c), KA_EINVAL);
    cr_assert_eq(ka_query_parse_cidr("1.2.3", &c), KA_EINVAL);
    cr_assert(!ka_query_cidr_match(&(struct ka_qcidr){{10}, 4, 8}, "nonsense", 8));
}

Test(query, times)
{
    scan(EV(""));
    cr_assert(q_match("since", "2025-03-10T09:00:00Z"), "since is inclusive");
    cr_assert(!q_match("until", "2025-03-10T09:00:00Z"), "until is exclusive");
    cr_assert(q_match("until", "2025-03-10T10:00:00.000001+01:00"));
    cr_assert(!q_match("since", "2025-03-10T09:00:00.000001Z"));
    struct ka_time t;
    cr_assert_eq(ka_query_parse_time("2h", 10000, &t), 0);
    cr_assert_eq(t.sec, 10000 - 7200);
    int64_t s;
    cr_assert_eq(ka_query_parse_duration("1h30m", &s), 0);
    cr_assert_eq(s, 5400);
    cr_assert_eq(ka_query_parse_duration("7d", &s), 0);
    cr_assert_eq(s, 7 * 86400);
    cr_assert_eq(ka_query_parse_duration("2x", &s), KA_EINVAL);
    cr_assert_eq(ka_query_parse_duration("", &s), KA_EINVAL);
    cr_assert_eq(ka_query_parse_time("yesterday", 0, &t), KA_EINVAL);
}

Test(query, parse_errors)
{
    struct ka_query q;
    struct ka_diag d = {0};
    ka_query_init(&q);
    cr_assert_eq(ka_query_add_codes(&q, "4x", &d), KA_EINVAL);
    cr_assert_eq(ka_query_add_codes(&q, "200,,201", &d), KA_EINVAL);
    cr_assert_eq(ka_query_add_resources(&q, "pods/", &d), KA_EINVAL);
    cr_assert_eq(ka_query_add_resources(&q, "po*ds", &d), KA_EINVAL);
    cr_assert_eq(ka_query_add_verbs(&q, "ge*", &d), KA_EINVAL);
    cr_assert_eq(ka_query_set_decision(&q, "deny", &d), KA_EINVAL);
    cr_assert_eq(ka_query_set_stage(&q, "Done", &d), KA_EINVAL);
    cr_assert_eq(ka_query_set_limit(&q, "0", &d), KA_EINVAL);
    cr_assert_eq(ka_query_add_source_ips(&q, "10.0.0.0/8,x", &d), KA_EINVAL);
    cr_assert_eq(q.n_codes + q.n_resources + q.verbs.n + q.n_cidrs, 0, "q unchanged on error");
    cr_assert_eq(d.n_errors, 9);
    cr_assert(strstr(d.v[0].msg, "\"4x\""), "%s", d.v[0].msg);
    cr_assert_eq(ka_query_set_stage(&q, "ResponseStarted", &d), 0);
    cr_assert_eq(q.stage_mode, KA_QSTAGE_ONE);
    cr_assert_eq(q.stage, KA_STAGE_RESPONSE_STARTED);
    cr_assert_eq(ka_query_add_resources(&q, "deployments.apps,pods/*,*/status", &d), 0);
    cr_assert_eq(q.n_resources, 3);
    cr_assert_str_eq(q.resources[0].group, "apps");
    cr_assert_eq(q.resources[1].sub, KA_QSUB_ANY_OR_NONE);
    cr_assert_eq(q.resources[2].sub, KA_QSUB_EXACT);
    cr_assert_str_eq(q.resources[2].subresource, "status");
    ka_query_free(&q);
    ka_diag_free(&d);
}

Test(query, literals_and_plain_lines)
{
    struct ka_query q;
    struct ka_diag d = {0};
    struct ka_qstrs rl, vl;
    ka_query_init(&q);
    cr_assert_eq(ka_query_add_verbs(&q, "delete", &d), 0);
    cr_assert_eq(ka_query_add_users(&q, "system:serviceaccount:*", &d), 0);
    cr_assert_eq(ka_query_add_names(&q, "a<b", &d), 0); /* '<' has two spellings: no literal */
    cr_assert_eq(ka_query_add_grep(&q, "x,y", &d), 0);
    cr_assert_eq(ka_query_literals(&q, &rl, &vl), 0);
    cr_assert_eq(rl.n, 1);
    cr_assert_str_eq(rl.v[0], "x,y");
    cr_assert_eq(vl.n, 2);
    cr_assert_str_eq(vl.v[0], "\"system:serviceaccount:");
    cr_assert_str_eq(vl.v[1], "\"delete\"");
    ka_qstrs_free(&rl);
    ka_qstrs_free(&vl);
    ka_query_free(&q);
    cr_assert(ka_query_line_plain("{\"a\":\"x\\u0026y\\n\\\"\"}", 21));
    cr_assert(!ka_query_line_plain("{\"a\":\"\\u0064elete\"}", 20), "\\u0064 = d: not plain");
    cr_assert(!ka_query_line_plain("{\"a\":\"a\\/b\"}", 13));
}

Test(query, peek_id)
{
    const char *id;
    size_t n;
    enum ka_stage st;
    cr_assert(ka_query_peek_id(raw = EV(""), strlen(EV("")), &id, &n, &st));
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(id, "a1", 2), 0);
    cr_assert_eq(st, KA_STAGE_RESPONSE_COMPLETE);
    const char *other = "{\"auditID\":\"a1\",\"stage\":\"Panic\",\"kind\":\"Event\"}";
    cr_assert(!ka_query_peek_id(other, strlen(other), &id, &n, &st));
}

struct collected {
    char out[8][64];
    int n;
};

static int collect(void *ud, const char *p, size_t n)
{
    struct collected *c = ud;
    struct ka_event e;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(p, n, NULL, &e, &err), 0);
    cr_assert_lt(c->n, 8);
    snprintf(c->out[c->n++], 64, "%.*s/%s", (int)e.auditID.n, e.auditID.p,
             ka_stage_name(e.stage_v));
    return 0;
}

static void feed(struct ka_rows *r, const struct ka_query *q, const char *line)
{
    struct ka_event e;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(line, strlen(line), NULL, &e, &err), 0, "%s", err.msg);
    bool m = ka_query_match(q, &e, line, strlen(line)) && ka_query_stage_ok(q, &e);
    cr_assert_eq(ka_rows_add(r, e.auditID.p, e.auditID.n, e.stage_v, &e, m, line, strlen(line)),
                 0);
}

#define L(id, stage, ts, verb)                                                                \
    "{\"auditID\":\"" id "\",\"stage\":\"" stage "\",\"verb\":\"" verb                       \
    "\",\"requestReceivedTimestamp\":\"2025-01-01T00:00:0" ts "Z\"}"

static void run_rows(enum ka_qstage_mode mode, const char *verb, uint64_t limit,
                     struct collected *c)
{
    struct ka_query q;
    struct ka_diag d = {0};
    struct ka_rows *r;
    ka_query_init(&q);
    q.stage_mode = mode;
    q.limit = limit;
    if (verb)
        cr_assert_eq(ka_query_add_verbs(&q, verb, &d), 0);
    cr_assert_eq(ka_rows_new(&q, &r), 0);
    feed(r, &q, L("b", "RequestReceived", "2", "watch"));
    feed(r, &q, L("a", "RequestReceived", "1", "get"));
    feed(r, &q, L("b", "ResponseStarted", "2", "watch"));
    feed(r, &q, L("a", "ResponseComplete", "1", "list")); /* the row of a */
    feed(r, &q, L("c", "RequestReceived", "0", "get"));   /* c never completed */
    feed(r, &q, L("b", "ResponseStarted", "2", "get"));   /* duplicate stage: first wins */
    memset(c, 0, sizeof *c);
    cr_assert_eq(ka_rows_finish(r, collect, c), 0);
    ka_rows_free(r);
    ka_query_free(&q);
}

Test(query, rows_latest_stage_and_order)
{
    struct collected c;
    run_rows(KA_QSTAGE_REQUESTS, NULL, 0, &c);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.out[0], "c/RequestReceived");
    cr_assert_str_eq(c.out[1], "a/ResponseComplete");
    cr_assert_str_eq(c.out[2], "b/ResponseStarted");
    run_rows(KA_QSTAGE_REQUESTS, "get", 0, &c);
    cr_assert_eq(c.n, 1, "filters apply to the row's event (a's is list, b's is watch)");
    cr_assert_str_eq(c.out[0], "c/RequestReceived");
    run_rows(KA_QSTAGE_ANY, "get", 0, &c);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.out[0], "c/RequestReceived");
    cr_assert_str_eq(c.out[1], "a/RequestReceived");
    cr_assert_str_eq(c.out[2], "b/ResponseStarted");
    run_rows(KA_QSTAGE_ANY, NULL, 2, &c);
    cr_assert_eq(c.n, 2, "limit");
}

static char *render(enum ka_qout_fmt fmt, bool count, const char *top, int64_t hist)
{
    struct ka_qout_opts o = {.fmt = fmt, .count = count, .hist_sec = hist};
    struct ka_qout *qo;
    if (top)
        cr_assert_eq(ka_qfield_parse_list(top, o.top, KA_QOUT_MAX_TOP_FIELDS, &o.n_top), 0);
    cr_assert_eq(ka_qout_new(&o, &qo), 0);
    scan(EV(""));
    cr_assert_eq(ka_qout_row(qo, &ev), 0);
    scan(EV(",\"impersonatedUser\":{\"username\":\"x,\\\"y\"},\"userAgent\":\"a,\\\"b\""));
    cr_assert_eq(ka_qout_row(qo, &ev), 0);
    cr_assert_eq(ka_qout_finish(qo), 0);
    struct ka_buf *b = ka_qout_buf(qo);
    char *s = strndup(b->p, b->n);
    ka_qout_free(qo);
    return s;
}

Test(query, outputs)
{
    char *s = render(KA_QOUT_TABLE, false, NULL, 0);
    cr_assert(strstr(s, "TIME                  USER"), "%s", s);
    cr_assert(strstr(s, "shop/web"), "%s", s);
    free(s);
    s = render(KA_QOUT_JSON, false, NULL, 0);
    cr_assert_eq(s[0], '[');
    cr_assert(strstr(s, "}\n]\n"), "%s", s);
    free(s);
    s = render(KA_QOUT_JSONL, false, NULL, 0);
    cr_assert_eq(strncmp(s, EV(""), strlen(EV(""))), 0, "canonical input comes back byte for byte");
    free(s);
    s = render(KA_QOUT_CSV, false, NULL, 0);
    const char *hdr = "time,user,verb,resource,namespace,name,code,source-ip,stage,user-agent,"
                      "decision,cluster,audit-id\r\n";
    cr_assert(strncmp(s, hdr, strlen(hdr)) == 0, "namespace and name in two columns: %s", s);
    cr_assert(strstr(s, ",shop,web,403,"), "the row's namespace, name and code: %s", s);
    cr_assert(strstr(s, "\r\n"), "CRLF records");
    cr_assert(strstr(s, ",\"a,\"\"b\","), "RFC 4180 quoting: %s", s);
    free(s);
    s = render(KA_QOUT_TABLE, true, NULL, 0);
    cr_assert_str_eq(s, "2\n");
    free(s);
    s = render(KA_QOUT_TABLE, false, "as,code", 0);
    cr_assert_str_eq(s, "COUNT\tas\tcode\n1\t\t403\n1\tx,\"y\t403\n");
    free(s);
    s = render(KA_QOUT_TABLE, false, NULL, 3600);
    cr_assert_str_eq(s, "2025-03-10T09:00:00Z          2 "
                        "##################################################\n");
    free(s);
    enum ka_qfield f[4];
    size_t n;
    cr_assert_eq(ka_qfield_parse_list("user,bogus", f, 4, &n), KA_EINVAL);
    enum ka_qout_fmt fmt;
    cr_assert_eq(ka_qout_parse_fmt("yaml", &fmt), KA_EINVAL);
}

/* Counts and groups computed elsewhere (the store's columns) print as rows would. */
Test(query, outputs_from_aggregates)
{
    struct ka_qout_opts o = {.fmt = KA_QOUT_TABLE, .count = true};
    struct ka_qout *qo;
    cr_assert_eq(ka_qout_new(&o, &qo), 0);
    cr_assert_eq(ka_qout_add_count(qo, 41), 0);
    scan(EV(""));
    cr_assert_eq(ka_qout_row(qo, &ev), 0);
    cr_assert_eq(ka_qout_finish(qo), 0);
    cr_assert_eq(ka_qout_rows(qo), 42);
    struct ka_buf *b = ka_qout_buf(qo);
    cr_assert_eq(b->n, 3);
    cr_assert_eq(memcmp(b->p, "42\n", 3), 0);
    ka_qout_free(qo);

    struct ka_qout_opts t = {.fmt = KA_QOUT_TABLE};
    cr_assert_eq(ka_qfield_parse_list("code", t.top, KA_QOUT_MAX_TOP_FIELDS, &t.n_top), 0);
    cr_assert_eq(ka_qout_new(&t, &qo), 0);
    cr_assert_eq(ka_qout_add_top(qo, "200", 3, 5), 0);
    cr_assert_eq(ka_qout_add_top(qo, "", 0, 2), 0);
    cr_assert_eq(ka_qout_add_top(qo, "403x", 3, 1), 0); /* the key is the first n bytes */
    cr_assert_eq(ka_qout_row(qo, &ev), 0);              /* a row adds to its group (403) */
    cr_assert_eq(ka_qout_add_top(qo, "a\0b", 3, 1), 0); /* a key ends at a NUL, as for rows */
    cr_assert_eq(ka_qout_finish(qo), 0);
    b = ka_qout_buf(qo);
    char *s = strndup(b->p, b->n);
    cr_assert_str_eq(s, "COUNT\tcode\n5\t200\n2\t\n2\t403\n1\ta\n");
    free(s);
    ka_qout_free(qo);

    struct ka_qout_opts two = {.fmt = KA_QOUT_TABLE};
    cr_assert_eq(ka_qfield_parse_list("user,code", two.top, KA_QOUT_MAX_TOP_FIELDS,
                                      &two.n_top), 0);
    cr_assert_eq(ka_qout_new(&two, &qo), 0);
    cr_assert_eq(ka_qout_add_top(qo, "x", 1, 1), KA_EINVAL, "one field only");
    ka_qout_free(qo);
}
