/*
 * test_output_splunk.c - the Splunk HEC output: the exact batch of concatenated envelopes
 * (time from the event in seconds with microseconds, host/source/sourcetype/index), token and
 * parameters, HEC answers (invalid-event-number, codes), and over real HTTP against
 * tests/util/recv.py: indexer acknowledgement with the channel header and ack polling (late
 * acks, lost acks -> RETRY), 429/503/dropped connections/slow answers retried, a refused event
 * dead-lettered alone, a wrong token refused. All data is written inline; nothing comes from
 * ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/outputs/splunk/splunk_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "recv_fx.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_splunk;

/* ---- fixture: canonical events and hand-filled URLs ---------------------------------------- */

static void *create_ok(const struct ka_out_url *u, const struct ka_out_opts *o)
{
    return fx_create(&ka_output_splunk, u, o);
}

static char *format_str(void *ctx, struct fx *f)
{
    return fx_format(&ka_output_splunk, ctx, f);
}

#define EV1                                                                                       \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"s1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"get\",\"user\":{},"  \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:00.000000Z\",\"stageTimestamp\":"           \
    "\"2024-08-14T05:40:58.000001Z\"}"
#define EV2                                                                                       \
    "{\"level\":\"None\",\"auditID\":\"s2\",\"stage\":\"RequestReceived\",\"verb\":\"watch\","   \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\"}"
#define EV3 "{\"level\":\"None\",\"auditID\":\"s3\",\"stage\":\"Panic\"}"

Test(splunk_format, envelopes_exact)
{
    struct fx f = {0};
    fx_add(&f, EV1);
    fx_add(&f, EV2);
    fx_add(&f, EV3);
    struct ka_out_url u;
    url_init(&u, "splunk", "127.0.0.1", 8088);
    url_param(&u, "token", "t");
    url_param(&u, "host", "cp-1");
    url_param(&u, "index", "k8s_audit");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    char want[8192];
    snprintf(want, sizeof want,
             "{\"time\":1723614058.000001,\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}"
             "{\"time\":1723614056.794659,\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}"
             "{\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}",
             f.line[0], f.line[1], f.line[2]);
    cr_expect_str_eq(got, want);
    free(got);
    ka_output_splunk.destroy(ctx);

    url_init(&u, "splunks", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "sourcetype", "");
    url_param(&u, "source", "");
    struct ka_out_opts o = {.max_event = f.oe[0].len - 1};
    ctx = create_ok(&u, &o);
    got = format_str(ctx, &f);
    snprintf(want, sizeof want,
             "{\"time\":1723614056.794659,\"event\":%s}{\"event\":%s}", f.line[1], f.line[2]);
    cr_expect_str_eq(got, want);
    cr_expect_eq(f.items[0].result, KA_OUT_PERMANENT);
    snprintf(want, sizeof want, "event of %zu bytes exceeds max_event (%zu)", f.oe[0].len,
             f.oe[0].len - 1);
    cr_expect_str_eq(f.items[0].reason, want);
    free(got);
    ka_output_splunk.destroy(ctx);
    fx_free(&f);
}

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    fx_create_fails(&ka_output_splunk, u, needle);
}

Test(splunk_create, refuses_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "splunk", "h", 0);
    create_fails(&u, "token is required");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "ack", "maybe");
    create_fails(&u, "ack");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "channel", "not a guid");
    create_fails(&u, "channel");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token_file", "/nonexistent/token");
    create_fails(&u, "/nonexistent/token");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "sourcetyp", "x");
    create_fails(&u, "unknown parameter sourcetyp");
}

Test(splunk_answers, errors_ack_ids_and_acks)
{
    struct ka_out_item it[4];
    memset(it, 0, sizeof it);
    it[1].result = KA_OUT_PERMANENT; /* left out of the body by format */
    static const char bad[] = "{\"text\":\"Invalid data format\",\"code\":6,"
                              "\"invalid-event-number\":1}";
    ka_splunk_apply_error(bad, strlen(bad), 400, 4, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_eq(it[1].result, KA_OUT_PERMANENT);
    cr_expect_eq(it[2].result, KA_OUT_PERMANENT, "the second event sent is the third");
    cr_expect_str_eq(it[2].reason, "splunk HTTP 400 code 6: Invalid data format");
    cr_expect_eq(it[3].result, KA_OUT_RETRY);
    memset(it, 0, sizeof it);
    static const char busy[] = "{\"text\":\"Server is busy\",\"code\":9}";
    ka_splunk_apply_error(busy, strlen(busy), 503, 2, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_str_eq(it[1].reason, "splunk HTTP 503 code 9: Server is busy");
    static const char tok[] = "{\"text\":\"Invalid token\",\"code\":4}";
    ka_splunk_apply_error(tok, strlen(tok), 403, 2, it);
    cr_expect_eq(it[0].result, KA_OUT_PERMANENT);
    long long id = -1;
    static const char ok[] = "{\"text\":\"Success\",\"code\":0,\"ackId\":42}";
    cr_expect(ka_splunk_ack_id(ok, strlen(ok), &id));
    cr_expect_eq(id, 42);
    cr_expect_not(ka_splunk_ack_id("{\"text\":\"Success\",\"code\":0}", 28, &id));
    static const char a1[] = "{\"acks\":{\"42\":true}}", a0[] = "{\"acks\":{\"42\":false}}";
    cr_expect_eq(ka_splunk_acked(a1, strlen(a1), 42), 1);
    cr_expect_eq(ka_splunk_acked(a0, strlen(a0), 42), 0);
    cr_expect_eq(ka_splunk_acked(a1, strlen(a1), 7), -1);
    cr_expect_eq(ka_splunk_acked("nope", 4, 42), -1);
}

/* ---- over real HTTP: tests/util/recv.py on loopback, failures injected ---------------------- */

static void create_splunk(struct rv *r, void **ctx, const char *token, bool ack)
{
    struct ka_out_url u;
    url_init(&u, "splunk", "127.0.0.1", r->port);
    url_param(&u, "token", token);
    if (ack) {
        url_param(&u, "ack", "true");
        url_param(&u, "ack_poll_ms", "50");
        url_param(&u, "ack_timeout_ms", "1000");
    }
    struct ka_out_opts o = {.timeout_ms = 1000};
    *ctx = create_ok(&u, &o);
}

static void count_ids(json_t *st, size_t n, int *count)
{
    rv_count_ids(st, "splunk", "event", n, count);
}

Test(splunk_live, indexer_ack_late_and_lost)
{
    static const char *const args[] = {"--splunk-ack", NULL};
    struct rv r;
    rv_start(&r, args);
    struct fx f = {0};
    fx_gen(&f, 15, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "test-token", true);
    rv_ctl(&r, "/_ctl/fail", "{\"proto\":\"splunk\",\"actions\":[{\"ack_pending\":4},"
                             "{\"ack_never\":true},{\"status\":503}]}");
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 10, out);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
    /* The batch whose ack never came was sent again: its events arrived twice. */
    cr_expect_eq(out[5].tries, 3, "lost ack, then 503, then acked: %s", out[5].reason);
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(count[i], i >= 5 && i < 10 ? 2 : 1, "id-%04zu x%d", i, count[i]);
    json_t *req, *reqs = json_object_get(st, "requests");
    size_t k, polls = 0;
    const char *ch = json_string_value(json_object_get(json_array_get(reqs, 0), "channel"));
    cr_assert_not_null(ch);
    cr_expect_eq(strlen(ch), 36);
    json_array_foreach(reqs, k, req)
    {
        cr_expect_str_eq(json_string_value(json_object_get(req, "channel")), ch);
        cr_expect_str_eq(json_string_value(json_object_get(req, "auth")), "Splunk test-token");
        polls += !strcmp(json_string_value(json_object_get(req, "path")),
                         "/services/collector/ack");
    }
    cr_expect_geq(polls, 5 + 3, "ack polled until acked, and until the timeout");
    json_decref(st);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(splunk_live, failures_and_one_refused_event)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 20, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "test-token", false);
    rv_ctl(&r, "/_ctl/fail", "{\"proto\":\"splunk\",\"actions\":[{\"status\":429},"
                             "{\"status\":503},{\"drop\":\"before\"},{\"drop\":\"after\"},"
                             "{\"delay\":2.5}]}");
    rv_ctl(&r, "/_ctl/reject", "{\"proto\":\"splunk\",\"audit_ids\":{\"id-0013\":400}}");
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 20, out);
    for (size_t i = 0; i < f.b.n; i++) {
        if (i == 13) {
            cr_expect_eq(out[i].result, KA_OUT_PERMANENT);
            cr_expect_str_eq(out[i].reason, "splunk HTTP 400 code 6: Invalid data format");
        } else {
            cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
        }
    }
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        if (i != 13)
            cr_expect_geq(count[i], 1, "id-%04zu lost", i);
    cr_expect_eq(count[13], 0);
    json_decref(st);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(splunk_live, wrong_token_is_permanent)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 2, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "wrong", false);
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 3, out);
    cr_expect_eq(out[0].result, KA_OUT_PERMANENT);
    cr_expect_str_eq(out[0].reason, "splunk HTTP 401 code 4: Invalid token");
    cr_expect_eq(out[1].tries, 1);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}
