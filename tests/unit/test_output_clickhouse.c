/*
 * test_output_clickhouse.c - the ClickHouse output offline: the exact JSONEachRow bytes of a
 * batch, the size limit, URL parameters, and the DDL for 18.16, current and Distributed.
 * The event is written here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "kaudit/output.h"

static const char ka_t_ev[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":"
    "\"5f0c\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/namespaces/ns/pods/p\","
    "\"verb\":\"get\",\"user\":{\"username\":\"al\\\"ice\",\"groups\":[\"g1\",\"system:authenticated\"]},"
    "\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"kubectl/v1\",\"objectRef\":{\"resource\":\"pods\","
    "\"namespace\":\"ns\",\"name\":\"p\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},"
    "\"code\":200},\"requestReceivedTimestamp\":\"2025-03-10T09:00:00.123456Z\",\"stageTimestamp\":"
    "\"2025-03-10T09:00:00.200000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}";

static void *mk(const char *url)
{
    struct ka_out_url u;
    struct ka_out_opts o = {0};
    char err[200] = "";
    void *ctx = NULL;
    o.max_event = 2000;
    cr_assert_eq(ka_out_url_parse(url, &u, err, sizeof err), KA_OK);
    cr_assert_eq(ka_output_find(u.scheme)->create(&u, &o, &ctx, err, sizeof err), KA_OK, "%s", err);
    return ctx;
}

Test(output_clickhouse, row_bytes)
{
    const struct ka_output_ops *ops = ka_output_find("clickhouse");
    void *ctx = mk("clickhouse://h/db?table=t&cluster=prod");
    struct ka_event ev[2];
    struct ka_scan_err se;
    char big[3000];
    memset(big, ' ', sizeof big);
    memcpy(big, ka_t_ev, strlen(ka_t_ev));
    cr_assert_eq(ka_event_scan(ka_t_ev, strlen(ka_t_ev), NULL, &ev[0], &se), KA_OK);
    cr_assert_eq(ka_event_scan(big, sizeof big, NULL, &ev[1], &se), KA_OK);
    struct ka_out_event oe[2] = {{ka_t_ev, strlen(ka_t_ev), &ev[0]}, {big, sizeof big, &ev[1]}};
    struct ka_out_batch b = {oe, 2};
    struct ka_out_item items[2] = {0};
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ops->format(ctx, &b, &body, items), KA_OK);
    const char *want_head =
        "{\"time\":1741597200,\"time_us\":1741597200123456,\"stage_time_us\":1741597200200000,"
        "\"stage\":\"ResponseComplete\",\"level\":\"Metadata\",\"audit_id\":\"5f0c\",\"verb\":\"get\","
        "\"user\":\"al\\\"ice\",\"groups\":[\"g1\",\"system:authenticated\"],\"api_group\":\"\","
        "\"resource\":\"pods\",\"subresource\":\"\",\"namespace\":\"ns\",\"name\":\"p\",\"code\":200,"
        "\"decision\":\"allow\",\"source_ips\":[\"10.0.0.1\"],\"user_agent\":\"kubectl/v1\","
        "\"cluster\":\"prod\",\"raw\":\"{\\\"kind\\\":\\\"Event\\\",";
    cr_assert(body.n > strlen(want_head));
    cr_expect_eq(memcmp(body.p, want_head, strlen(want_head)), 0, "%.*s", (int)body.n, body.p);
    cr_expect_eq(body.p[body.n - 1], '\n');
    cr_expect_eq(memchr(body.p, '\n', body.n), body.p + body.n - 1, "one row only");
    cr_expect_eq(items[0].result, KA_OUT_OK);
    cr_expect_eq(items[1].result, KA_OUT_PERMANENT);
    cr_expect_str_eq(items[1].reason, "event of 3000 bytes over max_event 2000");
    ka_buf_free(&body);
    ops->destroy(ctx);
}

Test(output_clickhouse, bad_params)
{
    const struct ka_output_ops *ops = ka_output_find("clickhouse");
    const char *bad[] = {"clickhouse://h/d;drop?table=t", "clickhouse://h/db?table=a-b",
                         "clickhouse://h/db?schema=maybe", "clickhouse://h/db?gzip=2",
                         "clickhouse://h/db?ttl_days=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ka_out_url u;
        struct ka_out_opts o = {0};
        char err[200];
        void *ctx = NULL;
        cr_assert_eq(ka_out_url_parse(bad[i], &u, err, sizeof err), KA_OK);
        cr_expect_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_EINVAL, "%s", bad[i]);
    }
}
