/*
 * test_event_scan.c - unit tests of the audit event scanner (include/kaudit/event.h): every
 * indexed field, Go decoding semantics (duplicates, null, types), versions, BOM/CRLF, depth,
 * timestamps, level/stage names and document scanning.
 * Events are written here; two tests read real logs in place from ../shared/data/real
 * (audit2rbac/history-501d132/demo.log: a raw v1beta1 kube-apiserver log from
 * liggitt/audit2rbac; falco-k8s_audit/fal_01_003.json: Falco's malformed `{"kind": 0}`
 * fixture). See ../shared/data/real/SOURCES.md.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"
#include "testutil.h"

/* Scans s from an exact-size heap copy (kept alive in *keep for the event's spans). */
static int scan_opts(const char *s, size_t n, unsigned max_depth, struct ka_event *ev,
                     struct ka_scan_err *err, char **keep)
{
    char *b = malloc(n ? n : 1);
    cr_assert_not_null(b);
    memcpy(b, s, n);
    struct ka_scan_opts o = {.max_depth = max_depth};
    memset(err, 0, sizeof *err);
    int rc = ka_event_scan(b, n, &o, ev, err);
    *keep = b;
    return rc;
}

static char *g_keep;
static struct ka_scan_err g_err;

static int scan(const char *s, struct ka_event *ev)
{
    free(g_keep);
    return scan_opts(s, strlen(s), 0, ev, &g_err, &g_keep);
}

static void fini(void)
{
    free(g_keep);
    g_keep = NULL;
}

TestSuite(event, .fini = fini);

static void expect_str(struct ka_str s, const char *want, const char *what)
{
    char out[512];
    cr_assert(s.set, "%s not set", what);
    cr_assert(s.n < sizeof out);
    size_t n = ka_str_decode(s, out);
    cr_expect(n == strlen(want) && memcmp(out, want, n) == 0, "%s: got <%.*s> want <%s>", what,
              (int)n, out, want);
}

static void expect_raw(struct ka_raw r, const char *want, const char *what)
{
    cr_assert_not_null(r.p, "%s absent", what);
    cr_expect(r.n == strlen(want) && memcmp(r.p, want, r.n) == 0, "%s: got <%.*s> want <%s>",
              what, (int)r.n, r.p, want);
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static const char full_event[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\","
    "\"auditID\":\"7e0a2f5c-1111-4a4a-9c9c-0123456789ab\",\"stage\":\"ResponseComplete\","
    "\"requestURI\":\"/api/v1/namespaces/ns1/pods?limit=500\\u0026watch=true\",\"verb\":\"create\","
    "\"user\":{\"username\":\"system:admin\",\"uid\":\"u-1\",\"groups\":[\"system:masters\","
    "\"system:authenticated\"],\"extra\":{\"k\":[\"v1\",\"v2\"]}},"
    "\"impersonatedUser\":{\"username\":\"bob\",\"groups\":[\"dev\"]},"
    "\"authenticationMetadata\":{\"impersonationConstraint\":\"impersonate:user-info\"},"
    "\"sourceIPs\":[\"10.0.0.1\",\"::1\"],\"userAgent\":\"kubectl/v1.30.0 (linux/amd64)\","
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns1\",\"name\":\"web\",\"uid\":\"o-1\","
    "\"apiGroup\":\"apps\",\"apiVersion\":\"v1\",\"resourceVersion\":\"42\",\"subresource\":\"exec\"},"
    "\"responseStatus\":{\"metadata\":{},\"status\":\"Failure\",\"message\":\"pods \\\"web\\\" is "
    "forbidden\",\"reason\":\"Forbidden\",\"details\":{\"name\":\"web\",\"kind\":\"pods\"},"
    "\"code\":403},"
    "\"requestObject\":{\"kind\":\"Pod\",\"metadata\":{\"managedFields\":[{\"f:spec\":{}}]}},"
    "\"responseObject\":[1,2],"
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\","
    "\"stageTimestamp\":\"2024-08-14T07:40:57.123456789+02:00\","
    "\"annotations\":{\"authorization.k8s.io/decision\":\"forbid\",\"b\":\"\\u00b5s\"}}";

Test(event, every_field)
{
    struct ka_event ev;
    cr_assert_eq(scan(full_event, &ev), KA_OK, "%s", g_err.msg);
    cr_expect_eq(ev.version, KA_EVENT_V1);
    cr_expect_eq(ev.raw.p, g_keep);
    cr_expect_eq(ev.raw.n, strlen(full_event));
    expect_str(ev.kind, "Event", "kind");
    expect_str(ev.apiVersion, "audit.k8s.io/v1", "apiVersion");
    expect_str(ev.level, "RequestResponse", "level");
    cr_expect_eq(ev.level_v, KA_LEVEL_REQUEST_RESPONSE);
    expect_str(ev.auditID, "7e0a2f5c-1111-4a4a-9c9c-0123456789ab", "auditID");
    expect_str(ev.stage, "ResponseComplete", "stage");
    cr_expect_eq(ev.stage_v, KA_STAGE_RESPONSE_COMPLETE);
    expect_str(ev.requestURI, "/api/v1/namespaces/ns1/pods?limit=500&watch=true", "requestURI");
    cr_expect(ev.requestURI.esc);
    expect_str(ev.verb, "create", "verb");
    cr_expect(ev.user.present);
    expect_str(ev.user.username, "system:admin", "user.username");
    expect_str(ev.user.uid, "u-1", "user.uid");
    expect_raw(ev.user.groups, "[\"system:masters\",\"system:authenticated\"]", "groups");
    expect_raw(ev.user.extra, "{\"k\":[\"v1\",\"v2\"]}", "extra");
    cr_expect(ev.impersonatedUser.present);
    expect_str(ev.impersonatedUser.username, "bob", "impersonatedUser.username");
    cr_expect(!ev.impersonatedUser.uid.set);
    expect_raw(ev.impersonatedUser.groups, "[\"dev\"]", "impersonatedUser.groups");
    cr_expect_null(ev.impersonatedUser.extra.p);
    expect_raw(ev.authenticationMetadata,
               "{\"impersonationConstraint\":\"impersonate:user-info\"}", "authnmeta");
    expect_raw(ev.sourceIPs, "[\"10.0.0.1\",\"::1\"]", "sourceIPs");
    expect_str(ev.userAgent, "kubectl/v1.30.0 (linux/amd64)", "userAgent");
    cr_expect(ev.objectRef.present);
    expect_str(ev.objectRef.resource, "pods", "resource");
    expect_str(ev.objectRef.namespace_, "ns1", "namespace");
    expect_str(ev.objectRef.name, "web", "name");
    expect_str(ev.objectRef.uid, "o-1", "uid");
    expect_str(ev.objectRef.apiGroup, "apps", "apiGroup");
    expect_str(ev.objectRef.apiVersion, "v1", "objectRef.apiVersion");
    expect_str(ev.objectRef.resourceVersion, "42", "resourceVersion");
    expect_str(ev.objectRef.subresource, "exec", "subresource");
    cr_expect(ev.responseStatus.present);
    expect_raw(ev.responseStatus.metadata, "{}", "status.metadata");
    expect_str(ev.responseStatus.status, "Failure", "status");
    expect_str(ev.responseStatus.message, "pods \"web\" is forbidden", "message");
    expect_str(ev.responseStatus.reason, "Forbidden", "reason");
    expect_raw(ev.responseStatus.details, "{\"name\":\"web\",\"kind\":\"pods\"}", "details");
    cr_expect(ev.responseStatus.has_code);
    cr_expect_eq(ev.responseStatus.code, 403);
    expect_raw(ev.requestObject, "{\"kind\":\"Pod\",\"metadata\":{\"managedFields\":[{\"f:spec\":{}}]}}",
               "requestObject");
    expect_raw(ev.responseObject, "[1,2]", "responseObject");
    cr_expect(ev.requestReceivedTimestamp.set);
    cr_expect_eq(ev.requestReceivedTimestamp.sec, utc(2024, 8, 14, 5, 40, 56));
    cr_expect_eq(ev.requestReceivedTimestamp.nsec, 794659000);
    cr_expect_eq(ev.stageTimestamp.sec, utc(2024, 8, 14, 5, 40, 57));
    cr_expect_eq(ev.stageTimestamp.nsec, 123456789);
    expect_raw(ev.annotations, "{\"authorization.k8s.io/decision\":\"forbid\",\"b\":\"\\u00b5s\"}",
               "annotations");
    cr_expect_null(ev.v1beta1_metadata.p);
    cr_expect_null(ev.v1beta1_timestamp.p);
}

Test(event, minimal_and_absent)
{
    struct ka_event ev;
    cr_assert_eq(scan("{}", &ev), KA_OK);
    cr_expect_eq(ev.version, KA_EVENT_V_NONE);
    cr_expect(!ev.kind.set && !ev.verb.set && !ev.user.present && !ev.objectRef.present);
    cr_expect(!ev.responseStatus.present && !ev.responseStatus.has_code);
    cr_expect(!ev.requestReceivedTimestamp.set && ev.requestObject.p == NULL);
    cr_expect_eq(ev.level_v, KA_LEVEL_NONE);
    cr_expect_eq(ev.stage_v, KA_STAGE_UNKNOWN);
    cr_assert_eq(scan("{\"verb\":\"get\",\"level\":\"Metadata\",\"stage\":\"Panic\"}", &ev), KA_OK);
    cr_expect_eq(ev.version, KA_EVENT_V_NONE);
    cr_expect_eq(ev.level_v, KA_LEVEL_METADATA);
    cr_expect_eq(ev.stage_v, KA_STAGE_PANIC);
    cr_assert_eq(scan("{\"level\":\"metadata\",\"stage\":\"RequestStarted\"}", &ev), KA_OK);
    cr_expect_eq(ev.level_v, KA_LEVEL_NONE);
    cr_expect_eq(ev.stage_v, KA_STAGE_UNKNOWN);
    cr_assert_eq(scan("{\"kind\":\"\",\"apiVersion\":\"\"}", &ev), KA_OK);
    cr_expect_eq(ev.version, KA_EVENT_V_NONE);
}

Test(event, null_is_absent)
{
    struct ka_event ev;
    const char *s = "{\"kind\":null,\"apiVersion\":null,\"level\":null,\"auditID\":null,\"stage\":null,"
                    "\"requestURI\":null,\"verb\":null,\"user\":null,\"impersonatedUser\":null,"
                    "\"authenticationMetadata\":null,\"sourceIPs\":null,\"userAgent\":null,"
                    "\"objectRef\":null,\"responseStatus\":null,\"requestObject\":null,"
                    "\"responseObject\":null,\"requestReceivedTimestamp\":null,"
                    "\"stageTimestamp\":null,\"annotations\":null}";
    cr_assert_eq(scan(s, &ev), KA_OK, "%s", g_err.msg);
    cr_expect(!ev.kind.set && !ev.level.set && !ev.verb.set && !ev.userAgent.set);
    cr_expect(!ev.user.present && !ev.impersonatedUser.present && !ev.objectRef.present);
    cr_expect(!ev.responseStatus.present);
    cr_expect(!ev.authenticationMetadata.p && !ev.sourceIPs.p && !ev.requestObject.p &&
              !ev.responseObject.p && !ev.annotations.p);
    cr_expect(!ev.requestReceivedTimestamp.set && !ev.stageTimestamp.set);
    s = "{\"user\":{\"username\":null,\"groups\":null,\"extra\":null},\"objectRef\":{\"name\":null},"
        "\"responseStatus\":{\"code\":null,\"metadata\":null,\"details\":null,\"kind\":null}}";
    cr_assert_eq(scan(s, &ev), KA_OK, "%s", g_err.msg);
    cr_expect(ev.user.present && !ev.user.username.set && !ev.user.groups.p && !ev.user.extra.p);
    cr_expect(ev.objectRef.present && !ev.objectRef.name.set);
    cr_expect(ev.responseStatus.present && !ev.responseStatus.has_code);
    cr_expect(!ev.responseStatus.metadata.p && !ev.responseStatus.details.p);
}

Test(event, duplicates_last_wins)
{
    struct ka_event ev;
    cr_assert_eq(scan("{\"verb\":\"get\",\"verb\":\"delete\"}", &ev), KA_OK);
    expect_str(ev.verb, "delete", "verb");
    cr_assert_eq(scan("{\"verb\":\"get\",\"verb\":null}", &ev), KA_OK);
    cr_expect(!ev.verb.set);
    cr_assert_eq(scan("{\"user\":{\"username\":\"a\",\"uid\":\"1\"},\"user\":{\"username\":\"b\"}}",
                      &ev), KA_OK);
    expect_str(ev.user.username, "b", "username");
    cr_expect(!ev.user.uid.set, "the second user object replaces the first");
    cr_assert_eq(scan("{\"user\":{\"username\":\"a\"},\"user\":null}", &ev), KA_OK);
    cr_expect(!ev.user.present && !ev.user.username.set);
    cr_assert_eq(scan("{\"responseStatus\":{\"code\":200,\"code\":404}}", &ev), KA_OK);
    cr_expect_eq(ev.responseStatus.code, 404);
    cr_assert_eq(scan("{\"responseStatus\":{\"code\":200,\"code\":null}}", &ev), KA_OK);
    cr_expect(!ev.responseStatus.has_code);
    cr_assert_eq(scan("{\"requestObject\":{\"a\":1},\"requestObject\":\"x\"}", &ev), KA_OK);
    expect_raw(ev.requestObject, "\"x\"", "requestObject");
    cr_assert_eq(scan("{\"stageTimestamp\":\"2024-01-01T00:00:00Z\",\"stageTimestamp\":null}",
                      &ev), KA_OK);
    cr_expect(!ev.stageTimestamp.set);
    cr_assert_eq(scan("{\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}", &ev), KA_OK);
    /* as in Go, an earlier duplicate with the wrong type still fails the event */
    cr_expect_eq(scan("{\"verb\":1,\"verb\":\"get\"}", &ev), KA_ENOTEVENT);
    cr_expect_eq(scan("{\"annotations\":{\"a\":1,\"a\":\"b\"}}", &ev), KA_ENOTEVENT);
}

Test(event, member_names)
{
    struct ka_event ev;
    /* escaped member names decode before matching; names are case-sensitive */
    cr_assert_eq(scan("{\"ver\\u0062\":\"get\",\"Verb\":\"x\",\"VERB\":1,\"level\":\"Metad\\u0061ta\"}",
                      &ev), KA_OK, "%s", g_err.msg);
    expect_str(ev.verb, "get", "verb");
    cr_expect_eq(ev.level_v, KA_LEVEL_METADATA);
    /* unknown members of any shape are validated and skipped, nested known names are not used */
    cr_assert_eq(scan("{\"x\":{\"verb\":\"delete\"},\"verb\":\"get\",\"y\":[1,{\"code\":2}],"
                      "\"responseStatus\":{\"extra\":{\"code\":5},\"code\":7}}", &ev), KA_OK);
    expect_str(ev.verb, "get", "verb");
    cr_expect_eq(ev.responseStatus.code, 7);
}

Test(event, bom_crlf_whitespace)
{
    struct ka_event ev;
    cr_assert_eq(scan("\xef\xbb\xbf{\"verb\":\"get\"}\r\n", &ev), KA_OK, "%s", g_err.msg);
    expect_str(ev.verb, "get", "verb");
    cr_expect_eq(ev.raw.p, g_keep + 3);
    cr_expect_eq(ev.raw.n, 14);
    cr_assert_eq(scan(" \r\n\t{ \"verb\" :\r\n \"get\" }\r\n\r\n", &ev), KA_OK);
    expect_str(ev.verb, "get", "verb");
    cr_expect_eq(scan("\xef\xbb{}", &ev), KA_ESYNTAX);
    cr_expect_eq(scan("\xef\xbb\xbf\xef\xbb\xbf{}", &ev), KA_ESYNTAX);
}

Test(event, versions)
{
    struct ka_event ev;
    cr_assert_eq(scan("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1beta1\","
                      "\"metadata\":{\"creationTimestamp\":\"2017-09-11T20:03:15Z\"},"
                      "\"timestamp\":\"2017-09-11T20:03:15Z\",\"verb\":\"get\"}", &ev), KA_OK,
              "%s", g_err.msg);
    cr_expect_eq(ev.version, KA_EVENT_V1BETA1);
    expect_raw(ev.v1beta1_metadata, "{\"creationTimestamp\":\"2017-09-11T20:03:15Z\"}", "meta");
    expect_raw(ev.v1beta1_timestamp, "\"2017-09-11T20:03:15Z\"", "timestamp");
    /* order does not matter: apiVersion last */
    cr_assert_eq(scan("{\"timestamp\":\"2017-09-11T20:03:15Z\",\"apiVersion\":\"audit.k8s.io/v1beta1\"}",
                      &ev), KA_OK);
    cr_expect_eq(ev.version, KA_EVENT_V1BETA1);
    cr_expect_eq(scan("{\"apiVersion\":\"audit.k8s.io/v1beta1\",\"metadata\":[]}", &ev), KA_ENOTEVENT);
    cr_expect_str_eq(g_err.msg, "metadata: expected an object");
    cr_expect_eq(scan("{\"apiVersion\":\"audit.k8s.io/v1beta1\",\"timestamp\":\"yesterday\"}", &ev),
                 KA_ENOTEVENT);
    cr_expect_str_eq(g_err.msg, "timestamp: invalid RFC 3339 time");
    /* in v1 these members are unknown: any type is skipped */
    cr_assert_eq(scan("{\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":[],\"timestamp\":5}", &ev),
                 KA_OK);
    cr_expect_null(ev.v1beta1_metadata.p);
    cr_expect_null(ev.v1beta1_timestamp.p);
    cr_assert_eq(scan("{\"apiVersion\":\"audit.k8s.io/\\u00761\"}", &ev), KA_OK);
    cr_expect_eq(ev.version, KA_EVENT_V1);
    const char *bad_versions[] = {"audit.k8s.io/v1alpha1", "audit.k8s.io/v2", "v1",
                                  "audit.k8s.io/V1", "audit.k8s.io/v1 "};
    for (size_t i = 0; i < 5; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"apiVersion\":\"%s\"}", bad_versions[i]);
        cr_expect_eq(scan(s, &ev), KA_ENOTEVENT, "%s accepted", bad_versions[i]);
        cr_expect(strncmp(g_err.msg, "apiVersion: ", 12) == 0, "%s", g_err.msg);
    }
    const char *bad_kinds[] = {"EventList", "Policy", "event", "Event "};
    for (size_t i = 0; i < 4; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"kind\":\"%s\",\"apiVersion\":\"audit.k8s.io/v1\"}", bad_kinds[i]);
        cr_expect_eq(scan(s, &ev), KA_ENOTEVENT, "%s accepted", bad_kinds[i]);
        cr_expect_str_eq(g_err.msg, "kind: expected \"Event\"");
    }
}

struct type_case {
    const char *json, *msg;
};

static const struct type_case type_cases[] = {
    {"{\"kind\":0}", "kind: expected a string"},
    {"{\"verb\":1}", "verb: expected a string"},
    {"{\"auditID\":[]}", "auditID: expected a string"},
    {"{\"level\":true}", "level: expected a string"},
    {"{\"user\":[]}", "user: expected an object"},
    {"{\"user\":\"bob\"}", "user: expected an object"},
    {"{\"user\":{\"username\":5}}", "user.username: expected a string"},
    {"{\"user\":{\"uid\":{}}}", "user.uid: expected a string"},
    {"{\"user\":{\"groups\":\"a\"}}", "user.groups: expected an array of strings"},
    {"{\"user\":{\"groups\":[\"a\",1]}}", "user.groups: expected an array of strings"},
    {"{\"user\":{\"groups\":[null]}}", "user.groups: expected an array of strings"},
    {"{\"user\":{\"extra\":[]}}", "user.extra: expected an object of string arrays"},
    {"{\"user\":{\"extra\":{\"k\":\"v\"}}}", "user.extra: expected an object of string arrays"},
    {"{\"user\":{\"extra\":{\"k\":[1]}}}", "user.extra: expected an array of strings"},
    {"{\"impersonatedUser\":{\"uid\":true}}", "impersonatedUser.uid: expected a string"},
    {"{\"authenticationMetadata\":\"x\"}", "authenticationMetadata: expected an object"},
    {"{\"sourceIPs\":\"10.0.0.1\"}", "sourceIPs: expected an array of strings"},
    {"{\"sourceIPs\":[1]}", "sourceIPs: expected an array of strings"},
    {"{\"userAgent\":1.5}", "userAgent: expected a string"},
    {"{\"objectRef\":[]}", "objectRef: expected an object"},
    {"{\"objectRef\":{\"name\":{}}}", "objectRef.name: expected a string"},
    {"{\"objectRef\":{\"namespace\":1}}", "objectRef.namespace: expected a string"},
    {"{\"responseStatus\":1}", "responseStatus: expected an object"},
    {"{\"responseStatus\":{\"code\":200.0}}", "responseStatus.code: expected an integer"},
    {"{\"responseStatus\":{\"code\":2e2}}", "responseStatus.code: expected an integer"},
    {"{\"responseStatus\":{\"code\":\"200\"}}", "responseStatus.code: expected an integer"},
    {"{\"responseStatus\":{\"code\":true}}", "responseStatus.code: expected an integer"},
    {"{\"responseStatus\":{\"code\":2147483648}}", "responseStatus.code: integer out of int32 range"},
    {"{\"responseStatus\":{\"code\":-2147483649}}", "responseStatus.code: integer out of int32 range"},
    {"{\"responseStatus\":{\"code\":99999999999999999999}}",
     "responseStatus.code: integer out of int32 range"},
    {"{\"responseStatus\":{\"metadata\":[]}}", "responseStatus.metadata: expected an object"},
    {"{\"responseStatus\":{\"details\":\"x\"}}", "responseStatus.details: expected an object"},
    {"{\"responseStatus\":{\"message\":1}}", "responseStatus.message: expected a string"},
    {"{\"responseStatus\":{\"kind\":1}}", "responseStatus.kind: expected a string"},
    {"{\"requestReceivedTimestamp\":123}",
     "requestReceivedTimestamp: expected an RFC 3339 time string"},
    {"{\"stageTimestamp\":\"2024-13-01T00:00:00Z\"}", "stageTimestamp: invalid RFC 3339 time"},
    {"{\"stageTimestamp\":\"\"}", "stageTimestamp: invalid RFC 3339 time"},
    {"{\"annotations\":[]}", "annotations: expected an object of strings"},
    {"{\"annotations\":{\"a\":1}}", "annotations: expected an object of strings"},
    {"{\"annotations\":{\"a\":null}}", "annotations: expected an object of strings"},
    {"[]", "event: expected a JSON object"},
    {"\"x\"", "event: expected a JSON object"},
    {"null", "event: expected a JSON object"},
};

Test(event, type_errors)
{
    struct ka_event ev;
    for (size_t i = 0; i < sizeof type_cases / sizeof *type_cases; i++) {
        int rc = scan(type_cases[i].json, &ev);
        cr_expect_eq(rc, KA_ENOTEVENT, "%s: rc %d", type_cases[i].json, rc);
        cr_expect_eq(g_err.code, KA_ENOTEVENT);
        cr_expect_str_eq(g_err.msg, type_cases[i].msg, "%s", type_cases[i].json);
    }
}

Test(event, code_range)
{
    struct ka_event ev;
    cr_assert_eq(scan("{\"responseStatus\":{\"code\":2147483647}}", &ev), KA_OK);
    cr_expect_eq(ev.responseStatus.code, 2147483647);
    cr_assert_eq(scan("{\"responseStatus\":{\"code\":-2147483648}}", &ev), KA_OK);
    cr_expect_eq(ev.responseStatus.code, INT32_MIN);
    cr_assert_eq(scan("{\"responseStatus\":{\"code\":-0}}", &ev), KA_OK);
    cr_expect(ev.responseStatus.has_code && ev.responseStatus.code == 0);
    cr_expect_eq(scan("{\"responseStatus\":{\"code\":0200}}", &ev), KA_ESYNTAX);
}

Test(event, syntax_beats_type_errors)
{
    struct ka_event ev;
    const char *cases[] = {
        "{\"verb\":1,\"x\":tru}",
        "{\"verb\":1} x",
        "{\"kind\":\"EventList\",}",
        "{\"user\":[],\"a\":\"\xff\"}",
        "[1,]",
        "{\"stageTimestamp\":\"bad\"",
        /* invalid JSON inside members that are skipped */
        "{\"requestObject\":{\"metadata\":{\"managedFields\":[{\"f\":\"\\x\"}]}}}",
        "{\"requestObject\":{\"a\":[1,2,]}}",
        "{\"responseObject\":{\"a\":tru}}",
        "{\"unknown\":\"\xc0\xaf\"}",
        "{\"unknown\":01}",
        "{\"user\":{\"extra\":{\"k\":[\"a\" \"b\"]}}}",
        "{\"annotations\":{\"a\":\"\t\"}}",
        "{\"responseStatus\":{\"details\":{\"causes\":[{]}}}",
        "{\"verb\":\"get\"",
        "{\"verb\":\"get\",}",
        "{\"verb\" \"get\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = scan(cases[i], &ev);
        cr_expect_eq(rc, KA_ESYNTAX, "case %zu <%s>: rc %d (%s)", i, cases[i], rc, g_err.msg);
        cr_expect_eq(g_err.code, KA_ESYNTAX);
        cr_expect(g_err.off <= strlen(cases[i]));
    }
    cr_expect_eq(scan("", &ev), KA_ESYNTAX);
    cr_expect_eq(scan("  ", &ev), KA_ESYNTAX);
}

Test(event, depth)
{
    struct ka_event ev;
    struct ka_scan_err err;
    char *keep;
    const char *ok = "{\"requestObject\":{\"a\":{}}}";
    const char *deep = "{\"requestObject\":{\"a\":{\"b\":{}}}}";
    cr_expect_eq(scan_opts(ok, strlen(ok), 3, &ev, &err, &keep), KA_OK);
    free(keep);
    cr_expect_eq(scan_opts(deep, strlen(deep), 3, &ev, &err, &keep), KA_ETOOBIG);
    cr_expect_eq(err.code, KA_ETOOBIG);
    free(keep);
    const char *extra = "{\"user\":{\"extra\":{\"k\":[\"a\"]}}}";
    cr_expect_eq(scan_opts(extra, strlen(extra), 4, &ev, &err, &keep), KA_OK);
    free(keep);
    cr_expect_eq(scan_opts(extra, strlen(extra), 3, &ev, &err, &keep), KA_ETOOBIG);
    free(keep);
    /* default 512: an event at depth 1 leaves 511 levels for requestObject */
    for (unsigned d = 511; d <= 512; d++) {
        char *s = malloc(4096);
        size_t n = (size_t)sprintf(s, "{\"requestObject\":");
        memset(s + n, '[', d);
        n += d;
        memset(s + n, ']', d);
        n += d;
        s[n++] = '}';
        cr_expect_eq(scan_opts(s, n, 0, &ev, &err, &keep), d == 511 ? KA_OK : KA_ETOOBIG,
                     "depth %u: %s", d, err.msg);
        free(keep);
        free(s);
    }
    /* a type error with too deep nesting elsewhere reports the depth */
    const char *both = "{\"verb\":1,\"x\":[[[[]]]]}";
    cr_expect_eq(scan_opts(both, strlen(both), 3, &ev, &err, &keep), KA_ETOOBIG);
    free(keep);
}

Test(event, timestamps)
{
    int64_t sec;
    int32_t ns;
    struct {
        const char *s;
        int64_t sec;
        int32_t ns;
    } ok[] = {
        {"2024-08-14T05:40:56.794659Z", utc(2024, 8, 14, 5, 40, 56), 794659000},
        {"2024-08-14T05:40:56Z", utc(2024, 8, 14, 5, 40, 56), 0},
        {"2024-08-14T05:40:56.1Z", utc(2024, 8, 14, 5, 40, 56), 100000000},
        {"2024-08-14T05:40:56.123456789123Z", utc(2024, 8, 14, 5, 40, 56), 123456789},
        {"2024-08-14T05:40:56.5+05:30", utc(2024, 8, 14, 0, 10, 56), 500000000},
        {"2024-01-01T00:30:00-01:00", utc(2024, 1, 1, 1, 30, 0), 0},
        {"2024-02-29T23:59:59Z", utc(2024, 2, 29, 23, 59, 59), 0},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"0001-01-01T00:00:00Z", -62135596800LL, 0},
        {"9999-12-31T23:59:59.999999999Z", 253402300799LL, 999999999},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cr_expect_eq(ka_time_parse(ok[i].s, strlen(ok[i].s), &sec, &ns), KA_OK, "%s", ok[i].s);
        cr_expect_eq(sec, ok[i].sec, "%s", ok[i].s);
        cr_expect_eq(ns, ok[i].ns, "%s", ok[i].s);
    }
    const char *bad[] = {"",
                         "2024-08-14",
                         "2024-08-14T05:40:56",
                         "2024-08-14 05:40:56Z",
                         "2024-08-14t05:40:56Z",
                         "2024-08-14T05:40:56z",
                         "2023-02-29T00:00:00Z",
                         "2024-04-31T00:00:00Z",
                         "2024-00-10T00:00:00Z",
                         "2024-08-14T24:00:00Z",
                         "2024-08-14T05:60:00Z",
                         "2024-08-14T05:40:60Z",
                         "2024-08-14T05:40:56.Z",
                         "2024-08-14T05:40:56.123",
                         "2024-08-14T05:40:56+0100",
                         "2024-08-14T05:40:56+24:00",
                         "2024-08-14T05:40:56+01:60",
                         "2024-08-14T05:40:56ZZ",
                         "+2024-08-14T05:40:56Z",
                         "2024-8-14T05:40:56Z",
                         "2024-08-14T05:40:56.12a4Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(ka_time_parse(bad[i], strlen(bad[i]), &sec, &ns), KA_EINVAL, "%s", bad[i]);
    /* an escaped timestamp string is decoded before parsing */
    struct ka_event ev;
    cr_assert_eq(scan("{\"stageTimestamp\":\"2024-08-14T05:40:56\\u002e5Z\"}", &ev), KA_OK);
    cr_expect_eq(ev.stageTimestamp.nsec, 500000000);
}

Test(event, level_stage_names)
{
    cr_expect_str_eq(ka_level_name(KA_LEVEL_NONE), "None");
    cr_expect_str_eq(ka_level_name(KA_LEVEL_REQUEST_RESPONSE), "RequestResponse");
    cr_expect_str_eq(ka_stage_name(KA_STAGE_RESPONSE_STARTED), "ResponseStarted");
    cr_expect_str_eq(ka_stage_name(KA_STAGE_UNKNOWN), "");
    cr_expect_eq(ka_level_from_cstr("Request", 7), KA_LEVEL_REQUEST);
    cr_expect_eq(ka_level_from_cstr("Requests", 8), -1);
    cr_expect_eq(ka_level_from_cstr("request", 7), -1);
    cr_expect_eq(ka_stage_from_cstr("Panic", 5), KA_STAGE_PANIC);
    cr_expect_eq(ka_stage_from_cstr("RequestComplete", 15), -1);
    struct ka_str s = ka_str_from_raw("\"Re\\u0071uest\"", 14);
    cr_expect_eq(ka_level_parse(s), KA_LEVEL_REQUEST);
    struct ka_str none = {0};
    cr_expect_eq(ka_level_parse(none), KA_LEVEL_NONE);
    cr_expect_eq(ka_stage_parse(none), KA_STAGE_UNKNOWN);
}

/* ---- documents ---- */

struct items {
    size_t n;
    size_t idx[8];
    char first[8][64];
    int stop_at;
    int scanned_ok, scan_failed;
};

static int on_item(void *ud, const char *item, size_t n, size_t index)
{
    struct items *it = ud;
    struct ka_event ev;
    struct ka_scan_err err;
    if (it->n < 8) {
        it->idx[it->n] = index;
        snprintf(it->first[it->n], sizeof it->first[0], "%.*s", (int)(n < 60 ? n : 60), item);
    }
    it->n++;
    if (ka_event_scan(item, n, NULL, &ev, &err) == KA_OK)
        it->scanned_ok++;
    else
        it->scan_failed++;
    return it->stop_at && (int)it->n == it->stop_at ? 99 : 0;
}

static int doc(const char *s, enum ka_doc_kind *kind, struct items *it)
{
    struct ka_scan_err err;
    size_t n = strlen(s);
    char *b = malloc(n ? n : 1);
    memcpy(b, s, n);
    int rc = ka_doc_scan(b, n, NULL, kind, on_item, it, &err);
    free(b);
    return rc;
}

Test(event, doc_scan)
{
    enum ka_doc_kind kind = 0;
    struct items it = {0};
    cr_assert_eq(doc("\xef\xbb\xbf{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\","
                     "\"metadata\":{},\"items\":[{\"verb\":\"get\"}, {\"verb\":\"list\"}]}\n",
                     &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_EVENTLIST);
    cr_expect_eq(it.n, 2);
    cr_expect_str_eq(it.first[0], "{\"verb\":\"get\"}");
    cr_expect_str_eq(it.first[1], "{\"verb\":\"list\"}");
    cr_expect_eq(it.idx[1], 1);
    cr_expect_eq(it.scanned_ok, 2);

    memset(&it, 0, sizeof it);
    cr_assert_eq(doc("{\"items\":[{\"verb\":\"get\"}]}", &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_EVENTLIST);
    cr_expect_eq(it.n, 1);

    memset(&it, 0, sizeof it);
    cr_assert_eq(doc(" [ {\"verb\":\"get\"} ,{\"kind\":0}, {} ] ", &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_ARRAY);
    cr_expect_eq(it.n, 3);
    cr_expect_eq(it.scanned_ok, 2);
    cr_expect_eq(it.scan_failed, 1, "the invalid item reaches the callback and fails there");

    memset(&it, 0, sizeof it);
    cr_assert_eq(doc("{\"kind\":\"Event\",\"verb\":\"get\"}", &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_EVENT);
    cr_expect_eq(it.n, 1);
    cr_expect_str_eq(it.first[0], "{\"kind\":\"Event\",\"verb\":\"get\"}");

    memset(&it, 0, sizeof it);
    cr_assert_eq(doc("{\"verb\":\"get\"}", &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_EVENT);

    memset(&it, 0, sizeof it);
    cr_assert_eq(doc("{\"kind\":\"EventList\",\"items\":null}", &kind, &it), KA_OK);
    cr_expect_eq(kind, KA_DOC_EVENTLIST);
    cr_expect_eq(it.n, 0);

    memset(&it, 0, sizeof it);
    it.stop_at = 2;
    cr_expect_eq(doc("[{},{},{}]", &kind, &it), 99);
    cr_expect_eq(it.n, 2);
}

Test(event, doc_scan_errors)
{
    enum ka_doc_kind kind = 0;
    struct items it = {0};
    cr_expect_eq(doc("{\"kind\":\"EventList\",\"items\":[{\"verb\":\"get\"},]}", &kind, &it),
                 KA_ESYNTAX);
    cr_expect_eq(doc("[{\"verb\":\"get\"}", &kind, &it), KA_ESYNTAX);
    cr_expect_eq(doc("[{}] []", &kind, &it), KA_ESYNTAX);
    cr_expect_eq(doc("{\"kind\":\"EventList\",\"items\":{}}", &kind, &it), KA_ENOTEVENT);
    cr_expect_eq(doc("{\"kind\":\"Policy\",\"rules\":[]}", &kind, &it), KA_ENOTEVENT);
    cr_expect_eq(doc("{\"kind\":1}", &kind, &it), KA_ENOTEVENT);
    cr_expect_eq(doc("{\"kind\":\"EventList\",\"apiVersion\":\"v1\",\"items\":[]}", &kind, &it),
                 KA_ENOTEVENT);
    cr_expect_eq(doc("\"x\"", &kind, &it), KA_ENOTEVENT);
    cr_expect_eq(doc("", &kind, &it), KA_ESYNTAX);
    cr_expect_eq(it.n, 0, "no callback before the whole document is valid");
}

static size_t count_lines_scanned(const char *buf, size_t len, size_t *bad)
{
    size_t ok = 0;
    struct ka_event ev;
    struct ka_scan_err err;
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p) {
            if (ka_event_scan(p, (size_t)(le - p), NULL, &ev, &err) == KA_OK &&
                ev.version == KA_EVENT_V1BETA1 && ev.user.present && ev.v1beta1_timestamp.p &&
                ev.v1beta1_metadata.p && ev.verb.set)
                ok++;
            else
                (*bad)++;
        }
        p = le + 1;
    }
    return ok;
}

Test(event, real_v1beta1_log)
{
    const char *path = ka_t_shared("data/real/audit2rbac/history-501d132/demo.log");
    if (!path)
        return;
    size_t len, bad = 0;
    char *buf = ka_t_read_file(path, &len);
    cr_assert_not_null(buf);
    cr_expect_eq(count_lines_scanned(buf, len, &bad), 757);
    cr_expect_eq(bad, 0);
    free(buf);
}

Test(event, real_malformed_fixture)
{
    const char *path = ka_t_shared("data/real/falco-k8s_audit/fal_01_003.json");
    if (!path)
        return;
    size_t len;
    char *buf = ka_t_read_file(path, &len);
    cr_assert_not_null(buf);
    struct ka_event ev;
    struct ka_scan_err err;
    cr_expect_eq(ka_event_scan(buf, len, NULL, &ev, &err), KA_ENOTEVENT);
    cr_expect_str_eq(err.msg, "kind: expected a string");
    free(buf);
}
