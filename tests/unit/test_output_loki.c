/*
 * test_output_loki.c - the Loki output: the exact push body (streams by label set in order of
 * first appearance, entries sorted by time inside each stream, nanosecond string timestamps
 * from stageTimestamp), labels and their parameters, oversized lines losing their objects with
 * a marker annotation, max_event, and over real HTTP against tests/util/recv.py: the tenant
 * header, 429/500/dropped connections/slow answers retried (at least once), 400 dead-lettered
 * with Loki's message. All data is written inline; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/outputs/loki/loki_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "recv_fx.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_loki;

/* ---- fixture: canonical events and hand-filled URLs ---------------------------------------- */

static void *create_ok(const struct ka_out_url *u, const struct ka_out_opts *o)
{
    return fx_create(&ka_output_loki, u, o);
}

static char *format_str(void *ctx, struct fx *f)
{
    return fx_format(&ka_output_loki, ctx, f);
}

/* Appends s as a JSON string body (the lines here hold no control bytes nor <>&). */
static void esc(struct ka_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            ka_buf_putc(b, '\\');
        ka_buf_putc(b, *s);
    }
}

#define EVT(id, verb, res, ts, ann)                                                              \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"" id "\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"" verb "\","     \
    "\"user\":{},\"objectRef\":{\"resource\":\"" res "\",\"namespace\":\"kube-system\"},"        \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:00.000000Z\",\"stageTimestamp\":\"" ts      \
    "\"" ann "}"
#define C1 ",\"annotations\":{\"kaudit.io/cluster\":\"c1\"}"

Test(loki_format, streams_and_order)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", C1));
    fx_add(&f, EVT("l2", "create", "secrets", "2024-08-14T05:40:57.000000Z", ""));
    fx_add(&f, EVT("l3", "get", "pods", "2024-08-14T05:40:56.500000Z", C1));
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", 3100);
    url_param(&u, "cluster", "prod");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    struct ka_buf w;
    ka_buf_init(&w, 0);
    ka_buf_puts(&w, "{\"streams\":[{\"stream\":{\"job\":\"kaudit\",\"cluster\":\"c1\",\"verb\":"
                    "\"get\",\"resource\":\"pods\"},\"values\":[[\"1723614056500000000\",\"");
    esc(&w, f.line[2]);
    ka_buf_puts(&w, "\"],[\"1723614058000001000\",\"");
    esc(&w, f.line[0]);
    ka_buf_puts(&w, "\"]]},{\"stream\":{\"job\":\"kaudit\",\"cluster\":\"prod\",\"verb\":"
                    "\"create\",\"resource\":\"secrets\"},\"values\":[[\"1723614057000000000\",\"");
    esc(&w, f.line[1]);
    ka_buf_puts(&w, "\"]]}]}");
    ka_buf_cstr(&w);
    cr_expect_str_eq(got, w.p);
    for (size_t i = 0; i < 3; i++)
        cr_expect_eq(f.items[i].result, KA_OUT_OK);
    ka_buf_free(&w);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

Test(loki_format, configured_labels)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", ""));
    struct ka_out_url u;
    url_init(&u, "lokis", "loki.example", 0);
    url_param(&u, "labels", "namespace,stage,level,api_group");
    url_param(&u, "job", "audit");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    const char *want = "{\"streams\":[{\"stream\":{\"job\":\"audit\",\"namespace\":"
                       "\"kube-system\",\"stage\":\"ResponseComplete\",\"level\":\"Metadata\"},"
                       "\"values\":[[\"1723614058000001000\",\"";
    cr_expect(strncmp(got, want, strlen(want)) == 0, "%s", got);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    fx_create_fails(&ka_output_loki, u, needle);
}

Test(loki_create, refuses_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "loki", "h", 0);
    url_param(&u, "labels", "verb,user");
    create_fails(&u, "labels: user");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "max_line", "10");
    create_fails(&u, "max_line");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "tenant", "");
    create_fails(&u, "tenant");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "lables", "verb");
    create_fails(&u, "unknown parameter lables");
}

Test(loki_format, oversized_lines_lose_objects_or_go_to_dead_letter)
{
    static char big[3000], huge[6000], js[8000];
    memset(big, 'x', sizeof big - 1);
    memset(huge, 'y', sizeof huge - 1);
    struct fx f = {0};
    snprintf(js, sizeof js, EVT("b1", "update", "configmaps", "2024-08-14T05:40:58.000001Z",
                                ",\"requestObject\":{\"data\":{\"k\":\"%s\"}}"), big);
    fx_add(&f, js);
    snprintf(js, sizeof js, EVT("b2", "update", "configmaps", "2024-08-14T05:40:58.000001Z",
                                ",\"annotations\":{\"a\":\"%s\"}"), huge);
    fx_add(&f, js);
    fx_add(&f, EVT("b3", "get", "pods", "2024-08-14T05:40:59.000000Z", ""));
    fx_add(&f, "{\"level\":\"Metadata\",\"auditID\":\"b4\",\"stage\":\"RequestReceived\","
               "\"verb\":\"get\",\"requestReceivedTimestamp\":\"2024-08-14T05:40:00Z\"}");
    struct ka_out_url u;
    url_init(&u, "loki", "h", 0);
    url_param(&u, "max_line", "2048");
    struct ka_out_opts o = {.max_event = 5000};
    void *ctx = create_ok(&u, &o);
    char *got = format_str(ctx, &f);
    cr_expect_eq(f.items[0].result, KA_OUT_OK);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    char want[160];
    snprintf(want, sizeof want, "event of %zu bytes exceeds max_event (5000)", f.oe[1].len);
    cr_expect_str_eq(f.items[1].reason, want);
    cr_expect(strstr(got, "xxxx") == NULL, "the request object was dropped");
    snprintf(want, sizeof want, "\\\"kaudit.io/loki-objects-dropped\\\":\\\"%zu\\\"",
             f.oe[0].len);
    cr_expect(strstr(got, want) != NULL, "marker %s missing in %s", want, got);
    cr_expect(strstr(got, "\\\"auditID\\\":\\\"b1\\\"") != NULL);
    cr_expect(strstr(got, "[\"1723614000000000000\",") != NULL, "b4 at requestReceived");
    free(got);
    ka_output_loki.destroy(ctx);

    /* Without max_event, b2 is still too long without objects: dead letter, not cut. */
    ctx = create_ok(&u, NULL);
    got = format_str(ctx, &f);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    snprintf(want, sizeof want, "loki: event of %zu bytes exceeds max_line (2048) even without "
                                "requestObject and responseObject", f.oe[1].len);
    cr_expect_str_eq(f.items[1].reason, want);
    cr_expect(strstr(got, "yyyy") == NULL);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

Test(loki_send, refused_connection_is_retry)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", ""));
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", 1);
    void *ctx = create_ok(&u, NULL);
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_output_loki.format(ctx, &f.b, &body, f.items), KA_OK);
    cr_assert_eq(ka_output_loki.send(ctx, &f.b, &body, f.items), KA_OK);
    cr_expect_eq(f.items[0].result, KA_OUT_RETRY);
    ka_buf_free(&body);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

/* ---- over real HTTP: tests/util/recv.py on loopback, failures injected ---------------------- */

static void create_loki(struct rv *r, void **ctx, int timeout_ms)
{
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", r->port);
    url_param(&u, "tenant", "team-a");
    url_param(&u, "labels", "cluster,verb,namespace");
    url_param(&u, "cluster", "test");
    struct ka_out_opts o = {.timeout_ms = timeout_ms};
    *ctx = create_ok(&u, &o);
}

/* Number of entries recorded per auditID; every id 0..n-1 must be there. */
static void count_ids(json_t *st, size_t n, int *count)
{
    rv_count_ids(st, "loki", "line", n, count);
}

Test(loki_live, failures_at_least_once)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 20, NULL);
    void *ctx;
    create_loki(&r, &ctx, 1000);
    rv_ctl(&r, "/_ctl/fail",
           "{\"proto\":\"loki\",\"actions\":[{\"status\":429,\"body\":\"Ingestion rate limit "
           "exceeded\"},{\"status\":500},{\"drop\":\"before\"},{\"drop\":\"after\"},"
           "{\"delay\":2.5},{\"status\":503}]}");
    struct outcome out[MAXEV];
    drive(&ka_output_loki, ctx, f.oe, f.b.n, 5, 20, out);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL); /* the slow answer's request is recorded when it wakes */
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    size_t dup = 0;
    for (size_t i = 0; i < f.b.n; i++) {
        cr_expect_geq(count[i], 1, "id-%04zu lost", i);
        dup += (size_t)(count[i] - 1);
    }
    cr_expect_geq(dup, 1, "the answer lost after recording makes duplicates (at least once)");
    json_t *req = json_array_get(json_object_get(st, "requests"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(req, "tenant")), "team-a");
    cr_expect_str_eq(json_string_value(json_object_get(req, "ctype")), "application/json");
    json_t *e0 = json_array_get(json_object_get(st, "loki"), 0);
    json_t *lab = json_object_get(e0, "labels");
    cr_expect_str_eq(json_string_value(json_object_get(lab, "cluster")), "test");
    cr_expect_eq(json_object_size(lab), 4);
    json_decref(st);
    ka_output_loki.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(loki_live, rejected_request_is_dead_lettered_with_message)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 6, NULL);
    void *ctx;
    create_loki(&r, &ctx, 5000);
    rv_ctl(&r, "/_ctl/reject", "{\"proto\":\"loki\",\"audit_ids\":{\"id-0002\":400}}");
    struct outcome out[MAXEV];
    drive(&ka_output_loki, ctx, f.oe, f.b.n, 1, 10, out);
    for (size_t i = 0; i < f.b.n; i++) {
        if (i == 2) {
            cr_expect_eq(out[i].result, KA_OUT_PERMANENT);
            cr_expect(strstr(out[i].reason, "loki HTTP 400: entry for stream") != NULL, "%s",
                      out[i].reason);
            cr_expect_eq(out[i].tries, 1, "a 400 is not retried");
        } else {
            cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
        }
    }
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(count[i], i == 2 ? 0 : 1, "id-%04zu", i);
    json_decref(st);
    ka_output_loki.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}
