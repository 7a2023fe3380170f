/*
 * test_output_kafka.c - the Kafka output offline: the producer configuration actually set
 * (idempotence, acks=all, brokers, pass-through and refused rdkafka.* properties, TLS), the
 * exact body and the (key, value) bytes of every message, max_event, and that a batch sent to
 * an unreachable broker is RETRY (never OK: a message only queued is not delivered). No Kafka
 * broker is available to the tests. All data is written inline; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/outputs/kafka/kafka_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "recv_fx.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_kafka;

/* ---- fixture: canonical events and hand-filled URLs ---------------------------------------- */

static void *create_ok(const struct ka_out_url *u, const struct ka_out_opts *o)
{
    return fx_create(&ka_output_kafka, u, o);
}

static void conf_is(void *ctx, const char *name, const char *want)
{
    char v[512] = "";
    cr_assert_eq(ka_kafka_conf_get(ctx, name, v, sizeof v), KA_OK, "%s not set", name);
    cr_expect_str_eq(v, want, "%s", name);
}

Test(kafka_conf, producer_is_idempotent_with_acks_all)
{
    struct ka_out_url u;
    url_init(&u, "kafka", "b1:9092,b2:9093", 0);
    snprintf(u.path, sizeof u.path, "/k8s.audit");
    url_param(&u, "rdkafka.linger.ms", "7");
    url_param(&u, "rdkafka.compression.type", "zstd");
    void *ctx = create_ok(&u, NULL);
    conf_is(ctx, "enable.idempotence", "true");
    conf_is(ctx, "acks", "-1");
    conf_is(ctx, "bootstrap.servers", "b1:9092,b2:9093");
    conf_is(ctx, "client.id", "kaudit");
    conf_is(ctx, "linger.ms", "7");
    conf_is(ctx, "compression.type", "zstd");
    ka_output_kafka.destroy(ctx);

    url_init(&u, "kafka", "k", 9092);
    snprintf(u.path, sizeof u.path, "/audit");
    struct ka_out_opts o = {.ca_file = "/etc/ssl/certs/ca-certificates.crt"};
    ctx = create_ok(&u, &o);
    conf_is(ctx, "bootstrap.servers", "k:9092");
    conf_is(ctx, "security.protocol", "ssl");
    conf_is(ctx, "ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt");
    ka_output_kafka.destroy(ctx);
}

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    fx_create_fails(&ka_output_kafka, u, needle);
}

Test(kafka_conf, refuses_weaker_delivery_and_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "kafka", "b1", 0);
    snprintf(u.path, sizeof u.path, "/t");
    url_param(&u, "rdkafka.acks", "1");
    create_fails(&u, "rdkafka.acks cannot be changed");
    url_init(&u, "kafka", "b1", 0);
    snprintf(u.path, sizeof u.path, "/t");
    url_param(&u, "rdkafka.enable.idempotence", "false");
    create_fails(&u, "rdkafka.enable.idempotence cannot be changed");
    url_init(&u, "kafka", "b1", 0);
    snprintf(u.path, sizeof u.path, "/t");
    url_param(&u, "rdkafka.no.such.property", "1");
    create_fails(&u, "no.such.property");
    url_init(&u, "kafka", "b1", 0);
    snprintf(u.path, sizeof u.path, "/t");
    url_param(&u, "topic", "x");
    create_fails(&u, "unknown parameter topic");
    url_init(&u, "kafka", "b1", 0);
    create_fails(&u, "topic");
    url_init(&u, "kafka", "b1", 0);
    snprintf(u.path, sizeof u.path, "/bad topic");
    create_fails(&u, "topic");
}

#define EV1                                                                                       \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"k\\\"1\\u00e9\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"get\","   \
    "\"user\":{},\"stageTimestamp\":\"2024-08-14T05:40:58.000001Z\"}"
#define EV2                                                                                       \
    "{\"level\":\"None\",\"auditID\":\"k2\",\"stage\":\"RequestReceived\",\"requestURI\":"      \
    "\"/apis/apps/v1/namespaces/a-rather-long-namespace-name/deployments/and-a-long-name\"}"
#define EV3 "{\"level\":\"None\",\"auditID\":\"k3\",\"stage\":\"Panic\",\"verb\":\"deletecollection\"}"

struct rec {
    size_t n;
    size_t idx[4];
    char key[4][64];
    size_t kn[4];
    char val[4][1024];
};

static int record(void *ud, size_t idx, const char *key, size_t kn, const char *val, size_t vn)
{
    struct rec *r = ud;
    cr_assert_lt(r->n, 4);
    cr_assert_lt(kn, sizeof r->key[0]);
    cr_assert_lt(vn, sizeof r->val[0]);
    r->idx[r->n] = idx;
    memcpy(r->key[r->n], key, kn);
    r->kn[r->n] = kn;
    memcpy(r->val[r->n], val, vn);
    r->n++;
    return 0;
}

Test(kafka_format, body_keys_and_values)
{
    struct fx f = {0};
    fx_add(&f, EV1);
    fx_add(&f, EV2);
    fx_add(&f, EV3);
    struct ka_out_url u;
    url_init(&u, "kafka", "127.0.0.1", 1);
    snprintf(u.path, sizeof u.path, "/audit");
    struct ka_out_opts o = {.max_event = f.oe[1].len - 1};
    void *ctx = create_ok(&u, &o);
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_output_kafka.format(ctx, &f.b, &body, f.items), KA_OK);
    ka_buf_cstr(&body);
    char want[4096];
    snprintf(want, sizeof want, "%s\n%s\n", f.line[0], f.line[2]);
    cr_expect_str_eq(body.p, want);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    snprintf(want, sizeof want, "event of %zu bytes exceeds max_event (%zu)", f.oe[1].len,
             f.oe[1].len - 1);
    cr_expect_str_eq(f.items[1].reason, want);
    struct rec r = {0};
    cr_assert_eq(ka_kafka_split(&f.b, &body, f.items, record, &r), KA_OK);
    cr_assert_eq(r.n, 2);
    cr_expect_eq(r.idx[0], 0);
    cr_expect_eq(r.kn[0], 5, "the decoded auditID k\"1\xc3\xa9");
    cr_expect(memcmp(r.key[0], "k\"1\xc3\xa9", 5) == 0);
    cr_expect_str_eq(r.val[0], f.line[0]);
    cr_expect_eq(r.idx[1], 2);
    cr_expect_eq(r.kn[1], 2);
    cr_expect(memcmp(r.key[1], "k3", 2) == 0);
    cr_expect_str_eq(r.val[1], f.line[2]);
    /* A body that does not match the batch is refused, not guessed at. */
    body.n--;
    r.n = 0;
    cr_expect_eq(ka_kafka_split(&f.b, &body, f.items, record, &r), KA_EINVAL);
    ka_buf_free(&body);
    ka_output_kafka.destroy(ctx);
    fx_free(&f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(kafka_send, unreachable_broker_is_retry_not_ok)
{
    struct fx f = {0};
    fx_add(&f, EV1);
    fx_add(&f, EV2);
    struct ka_out_url u;
    url_init(&u, "kafka", "127.0.0.1", 1);
    snprintf(u.path, sizeof u.path, "/audit");
    url_param(&u, "flush_timeout_ms", "1500");
    void *ctx = create_ok(&u, NULL);
    for (int round = 0; round < 2; round++) {
        struct ka_buf body;
        ka_buf_init(&body, 0);
        memset(f.items, 0, sizeof f.items);
        cr_assert_eq(ka_output_kafka.format(ctx, &f.b, &body, f.items), KA_OK);
        double t0 = now_s();
        cr_assert_eq(ka_output_kafka.send(ctx, &f.b, &body, f.items), KA_OK);
        double dt = now_s() - t0;
        for (size_t i = 0; i < 2; i++) {
            cr_expect_eq(f.items[i].result, KA_OUT_RETRY, "round %d item %zu: %s", round, i,
                         f.items[i].reason);
            cr_expect(strstr(f.items[i].reason, "kafka: no delivery report within 1500 ms") ==
                          f.items[i].reason, "%s", f.items[i].reason);
        }
        cr_expect_geq(dt, 1.4, "waited for delivery reports (%.2f s)", dt);
        cr_expect_lt(dt, 10.0, "bounded by flush_timeout_ms (%.2f s)", dt);
        ka_buf_free(&body);
    }
    ka_output_kafka.destroy(ctx);
    fx_free(&f);
}
