/*
 * test_event_write.c - the canonical encoder (ka_event_write): exact bytes for hand-built
 * events, byte-identical round trips of real apiserver log lines, idempotence over every real
 * event, and a cross-check of the written values against jansson.
 *
 * Data: ../shared/data/real (described in ../shared/data/real/SOURCES.md): raw kube-apiserver
 * lines from crowdsecurity/hub (.tests/k8s-audit-pod-exec-file and -priv-pod-file logs), liggitt/audit2rbac
 * (testdata/demo.log and its first version, v1beta1), GoogleCloudPlatform/khi
 * (test/logs/oss/test-log.yaml, extracted to one JSON line), and every other file there for the
 * idempotence and jansson checks (Falco traces, Sysdig AKS/GKE samples, rbac-tool, OpenShift,
 * Panther rule tests).
 *
 * Expected strings are written with ' for " to stay readable (sq() converts them).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/jsonw.h"
#include "testutil.h"

#define HEAD "{'kind':'Event','apiVersion':'audit.k8s.io/v1',"
#define EMPTY5 "'level':'','auditID':'','stage':'','requestURI':'','verb':'',"
#define TSNULL "'requestReceivedTimestamp':null,'stageTimestamp':null"

/* Copy of s with every ' turned into ". */
static char *sq(const char *s)
{
    char *r = strdup(s);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

/* Scans json (exact bytes, n of them) and writes it; returns the output, NUL-terminated. */
static char *enc_n(const char *json, size_t n, const struct ka_write_opts *wo)
{
    struct ka_scan_opts so = {0};
    struct ka_scan_err se = {0};
    struct ka_event ev;
    struct ka_buf b;
    int rc = ka_event_scan(json, n, &so, &ev, &se);
    cr_assert_eq(rc, KA_OK, "scan failed (%d) at %zu: %s\ninput: %.*s", rc, se.off, se.msg,
                 (int)n, json);
    ka_buf_init(&b, 0);
    rc = ka_event_write(&ev, wo, &b);
    cr_assert_eq(rc, KA_OK, "write failed: %d", rc);
    cr_assert_not_null(ka_buf_cstr(&b));
    return b.p;
}

/* in and out use ' for "; out gets the LF appended here. */
static void expect_enc(const char *in, const struct ka_write_opts *wo, const char *out)
{
    char *i = sq(in), *o = sq(out), *g = enc_n(i, strlen(i), wo);
    size_t on = strlen(o);
    cr_expect(strlen(g) == on + 1 && memcmp(g, o, on) == 0 && g[on] == '\n',
              "input:    %s\nexpected: %s\ngot:      %s", i, o, g);
    free(i);
    free(o);
    free(g);
}

/* ---- (1) hand-built events ----------------------------------------------------------------- */

Test(event_write, minimal_event_has_all_always_members)
{
    expect_enc("{}", NULL, HEAD EMPTY5 "'user':{}," TSNULL "}");
    expect_enc("{'user':null,'impersonatedUser':null,'objectRef':null,'responseStatus':null,"
               "'requestObject':null,'responseObject':null,'sourceIPs':null,'annotations':null,"
               "'authenticationMetadata':null,'userAgent':null,'requestReceivedTimestamp':null}",
               NULL, HEAD EMPTY5 "'user':{}," TSNULL "}");
}

Test(event_write, member_order_is_spec_order)
{
    expect_enc(
        "{'annotations':{'b':'2','a':'1'},'stageTimestamp':'2024-08-14T05:40:56.794659Z',"
        "'requestReceivedTimestamp':'2024-08-14T05:40:56.000001Z','responseObject':{'x':1},"
        "'requestObject':{'y':2},'responseStatus':{'code':200},'objectRef':{'resource':'pods'},"
        "'userAgent':'ua','sourceIPs':['1.2.3.4','::1'],"
        "'authenticationMetadata':{'impersonationConstraint':'impersonate:user-info'},"
        "'impersonatedUser':{'username':'bob'},'user':{'username':'alice'},'verb':'get',"
        "'requestURI':'/api','stage':'ResponseComplete','auditID':'id1',"
        "'level':'RequestResponse','apiVersion':'audit.k8s.io/v1','kind':'Event'}",
        NULL,
        HEAD "'level':'RequestResponse','auditID':'id1','stage':'ResponseComplete',"
             "'requestURI':'/api','verb':'get','user':{'username':'alice'},"
             "'impersonatedUser':{'username':'bob'},"
             "'authenticationMetadata':{'impersonationConstraint':'impersonate:user-info'},"
             "'sourceIPs':['1.2.3.4','::1'],'userAgent':'ua','objectRef':{'resource':'pods'},"
             "'responseStatus':{'metadata':{},'code':200},'requestObject':{'y':2},"
             "'responseObject':{'x':1},'requestReceivedTimestamp':'2024-08-14T05:40:56.000001Z',"
             "'stageTimestamp':'2024-08-14T05:40:56.794659Z','annotations':{'a':'1','b':'2'}}");
}

Test(event_write, v1beta1_members_and_unknown_members_dropped)
{
    expect_enc("{'kind':'Event','apiVersion':'audit.k8s.io/v1beta1',"
               "'metadata':{'creationTimestamp':'2017-09-11T19:55:05Z'},'level':'Metadata',"
               "'timestamp':'2017-09-11T19:55:05Z','auditID':'a','stage':'RequestReceived',"
               "'requestURI':'/api','verb':'get','user':{'username':'u'},"
               "'unknownThing':[1,{'a':2}],'job':'audit'}",
               NULL,
               HEAD "'level':'Metadata','auditID':'a','stage':'RequestReceived',"
                    "'requestURI':'/api','verb':'get','user':{'username':'u'}," TSNULL "}");
}

Test(event_write, strings_are_decoded_and_reescaped_the_go_way)
{
    expect_enc("{'requestURI':'/a?b=1\\u0026c=\\u003cd\\u003e\\/e','verb':'<&>',"
               "'auditID':'\\u00e9\\ud83d\\ude00x','stage':'\\ud800!\\udc00',"
               "'level':'\\b\\f\\n\\r\\t\\u0001\\u001F\\u007f\\\"\\\\\\u2029',"
               "'userAgent':'a\xe2\x80\xa8" "b<\x7f\xc3\xa9'}",
               NULL,
               HEAD "'level':'\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\\"\\\\\\u2029',"
                    "'auditID':'\xc3\xa9\xf0\x9f\x98\x80x','stage':'\xef\xbf\xbd!\xef\xbf\xbd',"
                    "'requestURI':'/a?b=1\\u0026c=\\u003cd\\u003e/e',"
                    "'verb':'\\u003c\\u0026\\u003e','user':{},"
                    "'userAgent':'a\\u2028b\\u003c\x7f\xc3\xa9'," TSNULL "}");
}

Test(event_write, long_escaped_string_uses_heap_scratch)
{
    enum { N = 700 };
    struct ka_buf in, out;
    ka_buf_init(&in, 0);
    ka_buf_init(&out, 0);
    ka_buf_puts(&in, "{\"requestURI\":\"");
    ka_buf_puts(&out, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"\","
                      "\"auditID\":\"\",\"stage\":\"\",\"requestURI\":\"");
    for (int i = 0; i < N; i++) {
        ka_buf_puts(&in, i % 2 ? "\\u0026" : "\\u00e9");
        ka_buf_puts(&out, i % 2 ? "\\u0026" : "\xc3\xa9");
    }
    ka_buf_puts(&in, "\"}");
    ka_buf_puts(&out, "\",\"verb\":\"\",\"user\":{},\"requestReceivedTimestamp\":null,"
                      "\"stageTimestamp\":null}\n");
    char *g = enc_n(in.p, in.n, NULL);
    cr_assert_eq(strlen(g), out.n);
    cr_assert(memcmp(g, out.p, out.n) == 0, "got %s", g);
    free(g);
    ka_buf_free(&in);
    ka_buf_free(&out);
}

Test(event_write, user_info_members_omitempty_and_sorted_extra)
{
    expect_enc("{'user':{'username':'','uid':'','groups':[],'extra':{}}}", NULL,
               HEAD EMPTY5 "'user':{}," TSNULL "}");
    expect_enc("{'user':{'extra':{'c':['3'],'\\u0062':['2','x\\u003c'],'a':[],'c':['4'],"
               "'\xc3\xa9':['e'],'~':['t'],'Z':['z']},"
               "'groups':['g1','g2'],'uid':'u1','username':'n'}}",
               NULL,
               HEAD EMPTY5 "'user':{'username':'n','uid':'u1','groups':['g1','g2'],"
                           "'extra':{'Z':['z'],'a':[],'b':['2','x\\u003c'],'c':['4'],"
                           "'~':['t'],'\xc3\xa9':['e']}}," TSNULL "}");
    expect_enc("{'impersonatedUser':{}}", NULL,
               HEAD EMPTY5 "'user':{},'impersonatedUser':{}," TSNULL "}");
    expect_enc("{'impersonatedUser':{'groups':null,'extra':null,'username':'system:serviceaccount:a:b'}}",
               NULL,
               HEAD EMPTY5 "'user':{},'impersonatedUser':{'username':'system:serviceaccount:a:b'},"
                    TSNULL "}");
}

Test(event_write, authentication_metadata_keeps_only_the_constraint)
{
    expect_enc("{'authenticationMetadata':{'other':1,'impersonationConstraint':'impersonate:node'}}",
               NULL,
               HEAD EMPTY5 "'user':{},'authenticationMetadata':{'impersonationConstraint':"
                           "'impersonate:node'}," TSNULL "}");
    expect_enc("{'authenticationMetadata':{}}", NULL,
               HEAD EMPTY5 "'user':{},'authenticationMetadata':{}," TSNULL "}");
}

Test(event_write, source_ips_and_user_agent_omitted_when_empty)
{
    expect_enc("{'sourceIPs':[],'userAgent':''}", NULL, HEAD EMPTY5 "'user':{}," TSNULL "}");
    expect_enc("{'userAgent':'kubectl/v1.26.0 (linux/amd64)','sourceIPs':['10.0.0.1']}", NULL,
               HEAD EMPTY5 "'user':{},'sourceIPs':['10.0.0.1'],"
                           "'userAgent':'kubectl/v1.26.0 (linux/amd64)'," TSNULL "}");
}

Test(event_write, object_reference_order_and_empty_members)
{
    expect_enc("{'objectRef':{'subresource':'s','resourceVersion':'7','apiVersion':'v1',"
               "'apiGroup':'g','uid':'u','name':'n','namespace':'ns','resource':'r'}}",
               NULL,
               HEAD EMPTY5 "'user':{},'objectRef':{'resource':'r','namespace':'ns','name':'n',"
                           "'uid':'u','apiGroup':'g','apiVersion':'v1','resourceVersion':'7',"
                           "'subresource':'s'}," TSNULL "}");
    expect_enc("{'objectRef':{'name':'','apiGroup':''}}", NULL,
               HEAD EMPTY5 "'user':{},'objectRef':{}," TSNULL "}");
}

Test(event_write, response_status_shapes)
{
    expect_enc("{'responseStatus':{}}", NULL,
               HEAD EMPTY5 "'user':{},'responseStatus':{'metadata':{}}," TSNULL "}");
    expect_enc("{'responseStatus':{'code':0,'status':'','metadata':null,'details':null}}", NULL,
               HEAD EMPTY5 "'user':{},'responseStatus':{'metadata':{}}," TSNULL "}");
    /* null is Go's zero value: a null cause is {}, a null *int64 is omitted */
    expect_enc("{'responseStatus':{'kind':null,'details':{'causes':[null]},"
               "'metadata':{'remainingItemCount':null,'selfLink':''}}}",
               NULL,
               HEAD EMPTY5 "'user':{},'responseStatus':{'metadata':{},'details':{'causes':[{}]}},"
                    TSNULL "}");
    expect_enc("{'responseStatus':{'details':{'causes':[],'retryAfterSeconds':0},'code':500}}",
               NULL,
               HEAD EMPTY5 "'user':{},'responseStatus':{'metadata':{},'details':{},'code':500},"
                    TSNULL "}");
}

Test(event_write, response_status_full_with_unknown_members)
{
    expect_enc(
        "{'responseStatus':{'code':404,'details':{'retryAfterSeconds':3,'causes':[{'field':'f',"
        "'message':'m','reason':'r','x':1},{}],'uid':'u','kind':'pods','group':'g','name':'x',"
        "'other':true},'reason':'NotFound','message':'pods \\\"x\\\" not found','status':'Failure',"
        "'metadata':{'remainingItemCount':0,'continue':'c','resourceVersion':'5','selfLink':'/s',"
        "'junk':1},'apiVersion':'v1','kind':'Status','unknown':[1]}}",
        NULL,
        HEAD EMPTY5 "'user':{},'responseStatus':{'kind':'Status','apiVersion':'v1',"
                    "'metadata':{'selfLink':'/s','resourceVersion':'5','continue':'c',"
                    "'remainingItemCount':0},'status':'Failure',"
                    "'message':'pods \\\"x\\\" not found','reason':'NotFound','details':{'name':'x',"
                    "'group':'g','kind':'pods','uid':'u','causes':[{'reason':'r','message':'m',"
                    "'field':'f'},{}],'retryAfterSeconds':3},'code':404}," TSNULL "}");
}

Test(event_write, status_kind_found_past_request_object)
{
    /* A responseStatus-looking member inside requestObject must not be taken for the real one. */
    expect_enc("{'requestObject':{'responseStatus':{'kind':'X'}},"
               "'responseStatus':{'apiVersion':'v1','code':201}}",
               NULL,
               HEAD EMPTY5 "'user':{},'responseStatus':{'apiVersion':'v1','metadata':{},"
                           "'code':201},'requestObject':{'responseStatus':{'kind':'X'}},"
                    TSNULL "}");
}

Test(event_write, embedded_objects_compacted_with_html_escapes)
{
    expect_enc("{'requestObject': { 'a' : [ 1 , 2.50 , 1e3, -0 ] ,\n\t'b':'<x>&\\u003c\\n' ,"
               "'c': null , 'd' : { } } , 'responseObject' : 'str\xe2\x80\xa9' }",
               NULL,
               HEAD EMPTY5 "'user':{},'requestObject':{'a':[1,2.50,1e3,-0],"
                           "'b':'\\u003cx\\u003e\\u0026\\u003c\\n','c':null,'d':{}},"
                           "'responseObject':'str\\u2029'," TSNULL "}");
    expect_enc("{'requestObject':5,'responseObject':[true,false]}", NULL,
               HEAD EMPTY5 "'user':{},'requestObject':5,'responseObject':[true,false],"
                    TSNULL "}");
}

Test(event_write, omit_managed_fields_top_level_and_items)
{
    struct ka_write_opts wo = {.omit_managed_fields = true};
    const char *in =
        "{'verb':'update','requestObject':{'kind':'Pod','metadata':{'name':'p',"
        "'managedFields':[{'manager':'m'}],'labels':{'managedFields':'keep'}},"
        "'spec':{'metadata':{'managedFields':1}}},'responseObject':{'kind':'PodList',"
        "'metadata':{'resourceVersion':'1'},'items':[{'metadata':{'name':'a',"
        "'managedFields':[]}},{ 'metadata' : { 'managedFields' : null , 'name' : 'b<' } },5]}}";
    expect_enc(in, &wo,
               HEAD "'level':'','auditID':'','stage':'','requestURI':'','verb':'update',"
                    "'user':{},'requestObject':{'kind':'Pod','metadata':{'name':'p',"
                    "'labels':{'managedFields':'keep'}},'spec':{'metadata':{'managedFields':1}}},"
                    "'responseObject':{'kind':'PodList','metadata':{'resourceVersion':'1'},"
                    "'items':[{'metadata':{'name':'a'}},{'metadata':{'name':'b\\u003c'}},5]},"
                    TSNULL "}");
    /* Without the option everything is kept (only compacted). */
    expect_enc(in, NULL,
               HEAD "'level':'','auditID':'','stage':'','requestURI':'','verb':'update',"
                    "'user':{},'requestObject':{'kind':'Pod','metadata':{'name':'p',"
                    "'managedFields':[{'manager':'m'}],'labels':{'managedFields':'keep'}},"
                    "'spec':{'metadata':{'managedFields':1}}},'responseObject':{'kind':'PodList',"
                    "'metadata':{'resourceVersion':'1'},'items':[{'metadata':{'name':'a',"
                    "'managedFields':[]}},{'metadata':{'managedFields':null,'name':'b\\u003c'}},"
                    "5]}," TSNULL "}");
}

Test(event_write, omit_managed_fields_table_rows_and_patch)
{
    struct ka_write_opts wo = {.omit_managed_fields = true};
    expect_enc("{'responseObject':{'kind':'Table','rows':[{'cells':['a'],'object':{'kind':"
               "'PartialObjectMetadata','metadata':{'name':'a','managedFields':[{}]}}}]}}",
               &wo,
               HEAD EMPTY5 "'user':{},'responseObject':{'kind':'Table','rows':[{'cells':['a'],"
                           "'object':{'kind':'PartialObjectMetadata','metadata':{'name':'a'}}}]},"
                    TSNULL "}");
    /* rows of something that is not a Table are left alone */
    expect_enc("{'responseObject':{'kind':'Foo','rows':[{'object':{'metadata':{'managedFields':[]}}}]}}",
               &wo,
               HEAD EMPTY5 "'user':{},'responseObject':{'kind':'Foo','rows':[{'object':"
                           "{'metadata':{'managedFields':[]}}}]}," TSNULL "}");
    /* a patch body is logged as sent; the response object is still stripped */
    expect_enc("{'verb':'patch','requestObject':{'metadata':{'managedFields':[]}},"
               "'responseObject':{'metadata':{'managedFields':[],'name':'x'}}}",
               &wo,
               HEAD "'level':'','auditID':'','stage':'','requestURI':'','verb':'patch',"
                    "'user':{},'requestObject':{'metadata':{'managedFields':[]}},"
                    "'responseObject':{'metadata':{'name':'x'}}," TSNULL "}");
}

Test(event_write, timestamps_utc_six_digits_truncated)
{
    expect_enc("{'requestReceivedTimestamp':'2024-08-14T05:40:56.794659999Z',"
               "'stageTimestamp':'2024-08-14T07:40:56+02:00'}",
               NULL,
               HEAD EMPTY5 "'user':{},'requestReceivedTimestamp':'2024-08-14T05:40:56.794659Z',"
                           "'stageTimestamp':'2024-08-14T05:40:56.000000Z'}");
    expect_enc("{'requestReceivedTimestamp':'2024-01-01T00:00:00.5Z','stageTimestamp':null}", NULL,
               HEAD EMPTY5 "'user':{},'requestReceivedTimestamp':'2024-01-01T00:00:00.500000Z',"
                           "'stageTimestamp':null}");
}

Test(event_write, annotations_sorted_last_wins)
{
    expect_enc("{'annotations':{'b':'2','a':'1','b':'3','\\u00e9':'x','Z':'<'}}", NULL,
               HEAD EMPTY5 "'user':{}," TSNULL
                           ",'annotations':{'Z':'\\u003c','a':'1','b':'3','\xc3\xa9':'x'}}");
    expect_enc("{'annotations':{}}", NULL, HEAD EMPTY5 "'user':{}," TSNULL "}");
}

Test(event_write, added_annotations_merge_first_write_wins)
{
    const char *keys[] = {"b", "aa", "zz", "b", "x", "aa"};
    const char *vals[] = {"new", "v1", "v2", "dup", "<", "v1b"};
    struct ka_write_opts wo = {.add_annotation_keys = keys, .add_annotation_vals = vals,
                               .n_add_annotations = 6};
    expect_enc("{'annotations':{'b':'old'}}", &wo,
               HEAD EMPTY5 "'user':{}," TSNULL
                           ",'annotations':{'aa':'v1','b':'old','x':'\\u003c','zz':'v2'}}");
    expect_enc("{}", &wo,
               HEAD EMPTY5 "'user':{}," TSNULL
                           ",'annotations':{'aa':'v1','b':'new','x':'\\u003c','zz':'v2'}}");
    const char *k2[] = {"q\"", "\xff"};
    const char *v2[] = {"\n", "a\xc3"};
    struct ka_write_opts wo2 = {.add_annotation_keys = k2, .add_annotation_vals = v2,
                                .n_add_annotations = 2};
    expect_enc("{}", &wo2,
               HEAD EMPTY5 "'user':{}," TSNULL
                           ",'annotations':{'q\\\"':'\\n','\\ufffd':'a\\ufffd'}}");
}

Test(event_write, level_override_and_object_drops)
{
    struct ka_write_opts wo = {.level = "Metadata", .drop_request_object = true,
                               .drop_response_object = true};
    expect_enc("{'level':'RequestResponse','requestObject':{'a':1},'responseObject':{'b':2},"
               "'stage':'ResponseComplete'}",
               &wo,
               HEAD "'level':'Metadata','auditID':'','stage':'ResponseComplete','requestURI':'',"
                    "'verb':'','user':{}," TSNULL "}");
    struct ka_write_opts wo2 = {.drop_response_object = true};
    expect_enc("{'requestObject':{'a':1},'responseObject':{'b':2}}", &wo2,
               HEAD EMPTY5 "'user':{},'requestObject':{'a':1}," TSNULL "}");
}

Test(event_write, struct_built_without_scanner)
{
    struct ka_event ev;
    struct ka_buf b;
    memset(&ev, 0, sizeof ev);
    ev.level = (struct ka_str){"Request", 7, 1, 0};
    ev.auditID = (struct ka_str){"x\\u0026y", 8, 1, 1};
    ev.user.present = true;
    ev.objectRef.present = true;
    ev.responseStatus.present = true;
    ev.responseStatus.has_code = true;
    ev.requestReceivedTimestamp = (struct ka_time){true, 0, 999999};
    ev.stageTimestamp = (struct ka_time){true, -1, 500000999};
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_write(&ev, NULL, &b), KA_OK);
    char *want = sq(HEAD "'level':'Request','auditID':'x\\u0026y','stage':'','requestURI':'',"
                         "'verb':'','user':{},'objectRef':{},'responseStatus':{'metadata':{}},"
                         "'requestReceivedTimestamp':'1970-01-01T00:00:00.000999Z',"
                         "'stageTimestamp':'1969-12-31T23:59:59.500000Z'}\n");
    cr_assert_eq(b.n, strlen(want), "got %.*s", (int)b.n, b.p);
    cr_assert(memcmp(b.p, want, b.n) == 0, "got %.*s", (int)b.n, b.p);
    free(want);
    ka_buf_free(&b);
}

Test(event_write, failure_restores_length)
{
    char *in = sq("{'auditID':'abc','annotations':{'k':'v'}}");
    struct ka_scan_opts so = {0};
    struct ka_scan_err se;
    struct ka_event ev;
    struct ka_buf b;
    cr_assert_eq(ka_event_scan(in, strlen(in), &so, &ev, &se), KA_OK);
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_write(&ev, NULL, &b), KA_OK);
    size_t full = b.n;
    ka_buf_free(&b);
    for (size_t max = 3; max < full + 3; max++) {
        ka_buf_init(&b, max);
        ka_buf_puts(&b, "xyz");
        int rc = ka_event_write(&ev, NULL, &b);
        size_t n = b.n;
        int same = memcmp(b.p, "xyz", 3) == 0;
        ka_buf_free(&b);
        cr_assert_eq(rc, KA_ETOOBIG, "max %zu", max);
        cr_assert_eq(n, 3u);
        cr_assert(same);
    }
    ka_buf_init(&b, full + 3);
    ka_buf_puts(&b, "xyz");
    int rc = ka_event_write(&ev, NULL, &b);
    size_t n = b.n;
    char last = b.p[b.n - 1];
    ka_buf_free(&b);
    free(in);
    cr_assert_eq(rc, KA_OK);
    cr_assert_eq(n, full + 3);
    cr_assert_eq(last, '\n');
}

/* ---- real data: collection ------------------------------------------------------------------ */

/* One event's text from ../shared/data/real: name is "file:line" or "file#item". */
struct src {
    char name[200];
    char *p;
    size_t n;
};

struct srcs {
    struct src *v;
    size_t n, cap;
};

static void srcs_push(struct srcs *s, const char *name, const char *p, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        cr_assert_not_null(s->v);
    }
    struct src *x = &s->v[s->n++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->p = malloc(n + 1);
    cr_assert_not_null(x->p);
    memcpy(x->p, p, n);
    x->p[n] = 0;
    x->n = n;
}

static void srcs_free(struct srcs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].p);
    free(s->v);
}

/* Azure wrappers carry the event as a JSON string in properties.log (or as an object). */
static int unwrap_azure(struct srcs *s, const char *name, json_t *rec)
{
    json_t *log = json_object_get(json_object_get(rec, "properties"), "log");
    if (json_is_string(log)) {
        srcs_push(s, name, json_string_value(log), json_string_length(log));
    } else if (json_is_object(log)) {
        char *t = json_dumps(log, JSON_COMPACT);
        srcs_push(s, name, t, strlen(t));
        free(t);
    }
    return 1;
}

/* Wrapper documents: Azure records/properties.log are unwrapped; GKE entries are skipped. */
static int unwrap(struct srcs *s, const char *name, json_t *doc)
{
    char nm[200];
    if (!json_is_object(doc))
        return 0;
    if (json_is_array(json_object_get(doc, "records"))) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "records"), i, r) {
            snprintf(nm, sizeof nm, "%s#%zu", name, i);
            unwrap_azure(s, nm, r);
        }
        return 1;
    }
    if (json_object_get(doc, "properties"))
        return unwrap_azure(s, name, doc);
    return json_object_get(doc, "protoPayload") || json_object_get(doc, "Entry");
}

struct doc_ctx {
    struct srcs *s;
    const char *name;
};

static int doc_item(void *ud, const char *item, size_t n, size_t index)
{
    struct doc_ctx *c = ud;
    char nm[200];
    snprintf(nm, sizeof nm, "%s#%zu", c->name, index);
    srcs_push(c->s, nm, item, n);
    return 0;
}

/* Adds the events of one file: a single JSON document (Event, EventList, array, wrapper) or
   JSON lines. */
static void collect_file(struct srcs *s, const char *dir, const char *rel)
{
    char path[4096], nm[200];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *buf = ka_t_read_file(path, &n);
    cr_assert_not_null(buf, "cannot read %s", path);
    size_t bom = n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    json_t *doc = json_loadb(buf + bom, n - bom, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (doc) {
        if (!unwrap(s, rel, doc)) {
            struct doc_ctx c = {s, rel};
            struct ka_scan_opts so = {0};
            struct ka_scan_err se;
            enum ka_doc_kind k;
            if (ka_doc_scan(buf, n, &so, &k, doc_item, &c, &se) != KA_OK)
                srcs_push(s, rel, buf, n); /* not an event: the idempotence check skips it */
        }
        json_decref(doc);
        free(buf);
        return;
    }
    size_t line = 0;
    for (char *p = buf, *e; p < buf + n; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + n - p));
        if (!e)
            e = buf + n;
        line++;
        if (e == p)
            continue;
        snprintf(nm, sizeof nm, "%s:%zu", rel, line);
        json_t *j = json_loadb(p, (size_t)(e - p), JSON_ALLOW_NUL, NULL);
        if (!j || !unwrap(s, nm, j))
            srcs_push(s, nm, p, (size_t)(e - p));
        json_decref(j);
    }
    free(buf);
}

/* Every event of ../shared/data/real, in a fixed order. */
static const char *const real_files[] = {
    "afcollins-kube-audit-log-tool/single-event.json",
    "alcideio-rbac-tool/testdata-01.json",
    "alcideio-rbac-tool/testdata-02.json",
    "audit2rbac/demo.log",
    "audit2rbac/history-501d132/demo.log",
    "crowdsec-hub/k8s-audit-pod-exec-file.log",
    "crowdsec-hub/k8s-audit-priv-pod-file.log",
    "khi/test-log.jsonl",
    "khi/gke/container_recorder_test_1_1.jsonl",
    "panther/panther_k8s_rule_tests.jsonl",
    "sysdig-aks-audit-log/event.json",
    "sysdig-aks-audit-log/sample_EventHubs_event.json",
    "sysdig-aks-audit-log/sample_KubeAuditLog_event.json",
};

static int add_dir_files(struct srcs *s, const char *dir, const char *sub)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    char *cmd;
    cr_assert(asprintf(&cmd, "ls %s", path) > 0);
    FILE *f = popen(cmd, "r");
    free(cmd);
    cr_assert_not_null(f);
    char name[512], rel[1024];
    int count = 0;
    while (fgets(name, sizeof name, f)) {
        name[strcspn(name, "\n")] = 0;
        snprintf(rel, sizeof rel, "%s/%s", sub, name);
        collect_file(s, dir, rel);
        count++;
    }
    pclose(f);
    return count;
}

static void collect_all(struct srcs *s)
{
    const char *dir = ka_t_shared("data/real");
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sizeof real_files / sizeof *real_files; i++)
        collect_file(s, d, real_files[i]);
    cr_assert_eq(add_dir_files(s, d, "falco-k8s_audit"), 47);
    cr_assert_eq(add_dir_files(s, d, "sysdig-stackdriver-webhook-bridge/k8s_audit_events"), 25);
    cr_assert_eq(add_dir_files(s, d, "sysdig-stackdriver-webhook-bridge/log_entries"), 25);
}

/* scan + write; returns NULL (and the scan error) when the text is not an event. */
static char *try_enc(const char *p, size_t n, const struct ka_write_opts *wo, size_t *outn,
                     struct ka_scan_err *se)
{
    struct ka_scan_opts so = {0};
    struct ka_event ev;
    struct ka_buf b;
    if (ka_event_scan(p, n, &so, &ev, se) != KA_OK)
        return NULL;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_write(&ev, wo, &b), KA_OK);
    cr_assert_not_null(ka_buf_cstr(&b));
    *outn = b.n;
    return b.p;
}


/* ---- (2) round trips of apiserver-written lines --------------------------------------------- */

/* Removes [at, at+len) from the NUL-terminated s. */
static void cut(char *at, size_t len)
{
    memmove(at, at + len, strlen(at + len) + 1);
}

/*
 * What the apiserver writes today for a v1beta1 line written by an old one (spec §1.7): the
 * apiVersion becomes v1, the v1beta1-only `metadata` (ObjectMeta with creationTimestamp only in
 * these logs) and `timestamp` members go, and events from before requestReceivedTimestamp
 * existed (1.8) get the two timestamps as null.
 */
static char *v1beta1_to_v1(const char *p, size_t n)
{
    static const char pre[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\"";
    char *s = malloc(n + 64), *q;
    memcpy(s, p, n);
    s[n] = 0;
    if ((q = strstr(s, "\"apiVersion\":\"audit.k8s.io/v1beta1\"")))
        cut(q + 29, 5);
    if (strncmp(s, pre, sizeof pre - 1) == 0 && strncmp(s + sizeof pre - 1, ",\"metadata\":{", 13) == 0)
        cut(s + sizeof pre - 1, (size_t)(strchr(s + sizeof pre + 12, '}') + 1 - (s + sizeof pre - 1)));
    if ((q = strstr(s, ",\"timestamp\":\"")))
        cut(q, (size_t)(strchr(q + 14, '"') + 1 - q));
    if (!strstr(s, "\"requestReceivedTimestamp\"") && !strstr(s, "\"annotations\"")) {
        q = strrchr(s, '}');
        strcpy(q, ",\"requestReceivedTimestamp\":null,\"stageTimestamp\":null}");
    }
    return s;
}

enum rt_mode {
    RT_EXACT,   /* raw apiserver lines: identical */
    RT_V1BETA1, /* identical after v1beta1_to_v1 */
    RT_COMPACT, /* pretty-printed apiserver output: identical to its Go compaction */
    RT_KHI,     /* identical without the `"job":"audit"` member a log shipper appended */
    RT_NOT,     /* not canonical: keys re-sorted or hand-made; must differ */
};

struct rt_case {
    const char *file;
    enum rt_mode mode;
    size_t events;
};

/* Expected output (without LF) for src under mode, malloc'd. */
static char *rt_expected(const struct src *x, enum rt_mode mode)
{
    size_t n = x->n;
    const char *p = x->p;
    if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
        n -= 3;
    }
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    if (mode == RT_V1BETA1)
        return v1beta1_to_v1(p, n);
    if (mode == RT_COMPACT) {
        struct ka_buf b;
        ka_buf_init(&b, 0);
        cr_assert_eq(ka_jw_compact(&b, p, n), KA_OK);
        ka_buf_cstr(&b);
        return b.p;
    }
    char *s = strndup(p, n), *q;
    if (mode == RT_KHI && (q = strstr(s, ",\"job\":\"audit\"}")) && q[15] == 0)
        cut(q, 14);
    return s;
}

static const struct rt_case rt_cases[] = {
    /* crowdsec: minikube 1.26 lines as written (one file has no final LF) */
    {"crowdsec-hub/k8s-audit-pod-exec-file.log", RT_EXACT, 1},
    {"crowdsec-hub/k8s-audit-priv-pod-file.log", RT_EXACT, 1},
    /* rbac-tool: kubectl 1.17 era lines as written (02 was edited in values only) */
    {"alcideio-rbac-tool/testdata-01.json", RT_EXACT, 3},
    {"alcideio-rbac-tool/testdata-02.json", RT_EXACT, 3},
    /* Falco's 2020 secret traces are v1 lines as written */
    {"falco-k8s_audit/create_kube_system_secret.json", RT_EXACT, 1},
    {"falco-k8s_audit/create_secret.json", RT_EXACT, 1},
    {"falco-k8s_audit/create_service_account_token_secret.json", RT_EXACT, 1},
    {"falco-k8s_audit/delete_secret.json", RT_EXACT, 1},
    /* AKS: the properties.log strings are the apiserver's lines */
    {"sysdig-aks-audit-log/event.json", RT_EXACT, 22},
    {"sysdig-aks-audit-log/sample_EventHubs_event.json", RT_EXACT, 1},
    /* 2017 v1beta1 logs (demo.log: label edited to v1, content still v1beta1) */
    {"audit2rbac/demo.log", RT_V1BETA1, 37},
    {"audit2rbac/history-501d132/demo.log", RT_V1BETA1, 757},
    /* Falco's 2018 v1beta1 traces kept in the apiserver's member order */
    {"falco-k8s_audit/anonymous_creates_namespace_foo.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_configmap_no_sensitive_values.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_nginx_pod_nohostnetwork.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_nginx_pod_privileged.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_nginx_pod_unprivileged.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_nginx_pod_unsensitive_mount.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/create_nginx_service_nonodeport.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/minikube_creates_namespace_foo.json", RT_V1BETA1, 1},
    {"falco-k8s_audit/some-user_creates_namespace_foo.json", RT_V1BETA1, 1},
    /* the GKE bridge's converter encodes v1beta1 Events with Go's encoder too */
    {"sysdig-stackdriver-webhook-bridge/k8s_audit_events/attach_pod.json", RT_V1BETA1, 1},
    {"sysdig-stackdriver-webhook-bridge/k8s_audit_events/create_deployment.json", RT_V1BETA1, 1},
    {"sysdig-stackdriver-webhook-bridge/k8s_audit_events/delete_service_failed_not_found.json",
     RT_V1BETA1, 1},
    {"sysdig-stackdriver-webhook-bridge/k8s_audit_events/modify_system_cluster_role.json",
     RT_V1BETA1, 1},
    /* pretty-printed copies of apiserver output */
    {"afcollins-kube-audit-log-tool/single-event.json", RT_COMPACT, 1},
    {"sysdig-aks-audit-log/sample_KubeAuditLog_event.json", RT_COMPACT, 1},
    /* extracted from YAML by a log shipper's test, which appended "job":"audit" */
    {"khi/test-log.jsonl", RT_KHI, 1},
    /* not canonical: taken out of webhook batches and re-serialized with sorted keys */
    {"falco-k8s_audit/create_configmap_sensitive_values.json", RT_NOT, 6},
    {"falco-k8s_audit/exec_pod.json", RT_NOT, 1},
    {"falco-k8s_audit/create_clusterrole.json", RT_NOT, 1},
};

Test(event_write_real, round_trip_byte_identical)
{
    const char *dir = ka_t_shared("data/real");
    char d[4096];
    size_t total = 0;
    snprintf(d, sizeof d, "%s", dir);
    for (size_t c = 0; c < sizeof rt_cases / sizeof *rt_cases; c++) {
        const struct rt_case *rc = &rt_cases[c];
        struct srcs s = {0};
        collect_file(&s, d, rc->file);
        cr_assert_eq(s.n, rc->events, "%s: %zu events", rc->file, s.n);
        for (size_t i = 0; i < s.n; i++) {
            struct ka_scan_err se;
            size_t on;
            char *o = try_enc(s.v[i].p, s.v[i].n, NULL, &on, &se);
            cr_assert_not_null(o, "%s: scan: %s", s.v[i].name, se.msg);
            char *want = rt_expected(&s.v[i], rc->mode);
            size_t wn = strlen(want);
            int same = on == wn + 1 && memcmp(o, want, wn) == 0 && o[wn] == '\n';
            if (rc->mode == RT_NOT)
                cr_expect(!same, "%s unexpectedly canonical", s.v[i].name);
            else
                cr_expect(same, "%s\nwant: %s\ngot:  %s", s.v[i].name, want, o);
            total += same;
            free(want);
            free(o);
        }
        srcs_free(&s);
    }
    cr_assert_eq(total, 37u + 757 + 22 + 1 + 6 + 2 + 4 + 9 + 4 + 2 + 1);
}

/* ---- (3) idempotence ------------------------------------------------------------------------ */

/* Texts of ../shared/data/real that are not audit events, or that the scanner refuses. */
static int expected_unscannable(const char *name)
{
    return strncmp(name, "falco-k8s_audit/fal_01_003.json", 31) == 0 ||
           strncmp(name, "panther/", 8) == 0;
}

Test(event_write_real, idempotent_on_every_event)
{
    struct srcs s;
    size_t scanned = 0, refused = 0;
    collect_all(&s);
    for (size_t i = 0; i < s.n; i++) {
        struct ka_scan_err se;
        size_t n1, n2;
        char *o1 = try_enc(s.v[i].p, s.v[i].n, NULL, &n1, &se);
        if (!o1) {
            cr_expect(expected_unscannable(s.v[i].name), "%s: %s", s.v[i].name, se.msg);
            cr_log_info("not scanned: %s: %s", s.v[i].name, se.msg);
            refused++;
            continue;
        }
        scanned++;
        char *o2 = try_enc(o1, n1, NULL, &n2, &se);
        cr_assert_not_null(o2, "%s: own output does not scan: %s\n%s", s.v[i].name, se.msg, o1);
        cr_expect(n1 == n2 && memcmp(o1, o2, n1) == 0, "%s\nfirst:  %s\nsecond: %s",
                  s.v[i].name, o1, o2);
        /* and with every option on, the result is still a fixed point */
        const char *k[] = {"x.example/k"}, *v[] = {"v&"};
        struct ka_write_opts wo = {.level = "Request", .omit_managed_fields = true,
                                   .add_annotation_keys = k, .add_annotation_vals = v,
                                   .n_add_annotations = 1};
        free(o2);
        o2 = try_enc(o1, n1, &wo, &n2, &se);
        char *o3 = try_enc(o2, n2, &wo, &n1, &se);
        cr_expect(n1 == n2 && memcmp(o2, o3, n1) == 0, "%s with options", s.v[i].name);
        free(o1);
        free(o2);
        free(o3);
    }
    cr_log_info("events %zu, scanned %zu, refused %zu", s.n, scanned, refused);
    cr_assert_geq(scanned, 1100u);
    srcs_free(&s);
}

/* ---- (4) cross-check against jansson ---------------------------------------------------------- */

static void set_nonempty_str(json_t *dst, json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (json_is_string(v) && json_string_length(v) > 0)
        json_object_set(dst, key, v);
}

static void set_strs(json_t *dst, json_t *src, const char *const *keys)
{
    for (; *keys; keys++)
        set_nonempty_str(dst, src, *keys);
}

/* []string omitempty; null elements are "". */
static void set_str_array(json_t *dst, json_t *src, const char *key)
{
    json_t *a = json_object_get(src, key), *e, *r;
    size_t i;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return;
    r = json_array();
    json_array_foreach(a, i, e)
        json_array_append_new(r, json_is_string(e) ? json_copy(e) : json_string(""));
    json_object_set_new(dst, key, r);
}

static json_t *norm_user(json_t *u)
{
    static const char *const k[] = {"username", "uid", NULL};
    json_t *r = json_object(), *x = json_object_get(u, "extra");
    set_strs(r, u, k);
    set_str_array(r, u, "groups");
    if (json_is_object(x) && json_object_size(x) > 0)
        json_object_set(r, "extra", x);
    return r;
}

static json_t *norm_details(json_t *d)
{
    static const char *const k[] = {"name", "group", "kind", "uid", NULL};
    static const char *const ck[] = {"reason", "message", "field", NULL};
    json_t *r = json_object(), *c = json_object_get(d, "causes"), *e;
    size_t i;
    set_strs(r, d, k);
    if (json_is_array(c) && json_array_size(c) > 0) {
        json_t *a = json_array();
        json_array_foreach(c, i, e) {
            json_t *o = json_object();
            set_strs(o, e, ck);
            json_array_append_new(a, o);
        }
        json_object_set_new(r, "causes", a);
    }
    json_t *ra = json_object_get(d, "retryAfterSeconds");
    if (json_is_integer(ra) && json_integer_value(ra) != 0)
        json_object_set(r, "retryAfterSeconds", ra);
    return r;
}

static json_t *norm_status(json_t *st)
{
    static const char *const k[] = {"kind", "apiVersion", "status", "message", "reason", NULL};
    static const char *const mk[] = {"selfLink", "resourceVersion", "continue", NULL};
    json_t *r = json_object(), *m = json_object(), *v;
    set_strs(r, st, k);
    set_strs(m, json_object_get(st, "metadata"), mk);
    v = json_object_get(json_object_get(st, "metadata"), "remainingItemCount");
    if (json_is_integer(v))
        json_object_set(m, "remainingItemCount", v);
    json_object_set_new(r, "metadata", m);
    if (json_is_object(v = json_object_get(st, "details")))
        json_object_set_new(r, "details", norm_details(v));
    v = json_object_get(st, "code");
    if (json_is_integer(v) && json_integer_value(v) != 0)
        json_object_set(r, "code", v);
    return r;
}

/* A MicroTime already in canonical form is expected back as is; others are not compared. */
static int canonical_time(json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == 27 && s[19] == '.' && s[26] == 'Z';
}

/* The value kube-apiserver's encoder would give for the decoded input (spec §1.2-§1.4). */
static json_t *norm_event(json_t *in)
{
    static const char *const always[] = {"level", "auditID", "stage", "requestURI", "verb", NULL};
    static const char *const ok[] = {"resource", "namespace", "name", "uid", "apiGroup",
                                     "apiVersion", "resourceVersion", "subresource", NULL};
    json_t *r = json_object(), *v;
    json_object_set_new(r, "kind", json_string("Event"));
    json_object_set_new(r, "apiVersion", json_string("audit.k8s.io/v1"));
    for (const char *const *k = always; *k; k++) {
        v = json_object_get(in, *k);
        json_object_set_new(r, *k, json_is_string(v) ? json_copy(v) : json_string(""));
    }
    json_object_set_new(r, "user", norm_user(json_object_get(in, "user")));
    if (json_is_object(v = json_object_get(in, "impersonatedUser")))
        json_object_set_new(r, "impersonatedUser", norm_user(v));
    if (json_is_object(v = json_object_get(in, "authenticationMetadata"))) {
        json_t *a = json_object();
        set_nonempty_str(a, v, "impersonationConstraint");
        json_object_set_new(r, "authenticationMetadata", a);
    }
    set_str_array(r, in, "sourceIPs");
    set_nonempty_str(r, in, "userAgent");
    if (json_is_object(v = json_object_get(in, "objectRef"))) {
        json_t *o = json_object();
        set_strs(o, v, ok);
        json_object_set_new(r, "objectRef", o);
    }
    if (json_is_object(v = json_object_get(in, "responseStatus")))
        json_object_set_new(r, "responseStatus", norm_status(v));
    for (const char *const *k = (const char *const[]){"requestObject", "responseObject", NULL};
         *k; k++)
        if ((v = json_object_get(in, *k)) && !json_is_null(v))
            json_object_set(r, *k, v);
    for (const char *const *k =
             (const char *const[]){"requestReceivedTimestamp", "stageTimestamp", NULL};
         *k; k++) {
        v = json_object_get(in, *k);
        json_object_set_new(r, *k, v && !json_is_null(v) ? json_copy(v) : json_null());
    }
    if (json_is_object(v = json_object_get(in, "annotations")) && json_object_size(v) > 0) {
        json_t *a = json_object(), *e;
        const char *key;
        json_object_foreach(v, key, e)
            json_object_set_new(a, key, json_is_string(e) ? json_copy(e) : json_string(""));
        json_object_set_new(r, "annotations", a);
    }
    return r;
}

/* Drops the timestamps from both sides when the input's form is not canonical. */
static void align_times(json_t *want, json_t *got)
{
    static const char *const k[] = {"requestReceivedTimestamp", "stageTimestamp"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(want, k[i]);
        if (!json_is_null(v) && !canonical_time(v)) {
            cr_expect(canonical_time(json_object_get(got, k[i])), "%s not canonical", k[i]);
            json_object_del(want, k[i]);
            json_object_del(got, k[i]);
        }
    }
}

Test(event_write_real, jansson_agrees_with_written_values)
{
    struct srcs s;
    size_t checked = 0;
    collect_all(&s);
    for (size_t i = 0; i < s.n; i++) {
        struct ka_scan_err se;
        size_t on;
        char *o = try_enc(s.v[i].p, s.v[i].n, NULL, &on, &se);
        const char *p = s.v[i].p;
        size_t n = s.v[i].n;
        if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
            p += 3;
            n -= 3;
        }
        json_t *in = json_loadb(p, n, JSON_ALLOW_NUL, NULL);
        if (!o || !in) {
            free(o);
            json_decref(in);
            continue;
        }
        json_error_t je;
        json_t *got = json_loadb(o, on, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
        cr_assert_not_null(got, "%s: output is not JSON for jansson: %s", s.v[i].name, je.text);
        json_t *want = norm_event(in);
        align_times(want, got);
        if (!json_equal(want, got)) {
            char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
            char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
            cr_expect_fail("%s\nwant: %s\ngot:  %s", s.v[i].name, w, g);
            free(w);
            free(g);
        }
        checked++;
        json_decref(want);
        json_decref(got);
        json_decref(in);
        free(o);
    }
    cr_log_info("jansson cross-check: %zu events", checked);
    cr_assert_geq(checked, 1100u);
    srcs_free(&s);
}

/* Removes metadata.managedFields from o (an object) as jansson sees it. */
static int strip_mf(json_t *o)
{
    json_t *m = json_object_get(o, "metadata");
    return json_is_object(m) && json_object_del(m, "managedFields") == 0;
}

Test(event_write_real, omit_managed_fields_matches_jansson_removal)
{
    struct srcs s;
    size_t stripped = 0;
    struct ka_write_opts wo = {.omit_managed_fields = true};
    collect_all(&s);
    for (size_t i = 0; i < s.n; i++) {
        struct ka_scan_err se;
        size_t n0, n1;
        char *o0 = try_enc(s.v[i].p, s.v[i].n, NULL, &n0, &se);
        if (!o0)
            continue;
        char *o1 = try_enc(s.v[i].p, s.v[i].n, &wo, &n1, &se);
        json_t *want = json_loadb(o0, n0, 0, NULL), *got = json_loadb(o1, n1, 0, NULL);
        cr_assert(want && got);
        const char *verb = json_string_value(json_object_get(want, "verb"));
        for (const char *const *k = (const char *const[]){"requestObject", "responseObject", NULL};
             *k; k++) {
            json_t *obj = json_object_get(want, *k), *e;
            size_t j;
            /* a patch body is never stripped */
            if (!json_is_object(obj) ||
                (verb && !strcmp(verb, "patch") && !strcmp(*k, "requestObject")))
                continue;
            stripped += strip_mf(obj);
            json_array_foreach(json_object_get(obj, "items"), j, e)
                stripped += strip_mf(e);
        }
        cr_expect(json_equal(want, got), "%s", s.v[i].name);
        json_decref(want);
        json_decref(got);
        free(o0);
        free(o1);
    }
    cr_log_info("managedFields removed: %zu", stripped);
    cr_assert_geq(stripped, 3u); /* crowdsec priv-pod response, khi request and response */
    srcs_free(&s);
}
