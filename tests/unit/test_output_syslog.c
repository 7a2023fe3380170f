/*
 * test_output_syslog.c - the syslog output offline: exact RFC 5424 header fields, octet
 * counting (RFC 6587) and the maximum message size (no truncation: PERMANENT).
 * Events are written here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kaudit/output.h"

static const char ev1[] = "{\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\","
                          "\"stageTimestamp\":\"2025-03-10T09:00:00.123456Z\"}";
static const char ev2[] = "{\"auditID\":\"a2\",\"verb\":\"list\"}";

Test(output_syslog, frames)
{
    const struct ka_output_ops *ops = ka_output_find("syslog+tcp");
    struct ka_out_url u;
    struct ka_out_opts o = {0};
    char err[200], big[700];
    void *ctx = NULL;
    cr_assert_eq(ka_out_url_parse("syslog+tcp://h?facility=4&severity=5&hostname=node%201"
                                  "&app_name=ka&msgid=AUDIT&max_size=600",
                                  &u, err, sizeof err), KA_OK);
    cr_assert_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_OK, "%s", err);
    int n = snprintf(big, sizeof big, "{\"auditID\":\"%0600d\"}", 7);
    struct ka_event ev[3];
    struct ka_scan_err se;
    cr_assert_eq(ka_event_scan(ev1, strlen(ev1), NULL, &ev[0], &se), KA_OK);
    cr_assert_eq(ka_event_scan(big, (size_t)n, NULL, &ev[1], &se), KA_OK);
    cr_assert_eq(ka_event_scan(ev2, strlen(ev2), NULL, &ev[2], &se), KA_OK);
    struct ka_out_event oe[3] = {{ev1, strlen(ev1), &ev[0]}, {big, (size_t)n, &ev[1]},
                                 {ev2, strlen(ev2), &ev[2]}};
    struct ka_out_batch b = {oe, 3};
    struct ka_out_item items[3] = {0};
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ops->format(ctx, &b, &body, items), KA_OK);
    char m1[512], m2[256], want[1024];
    snprintf(m1, sizeof m1, "<37>1 2025-03-10T09:00:00.123456Z node_1 ka - AUDIT - %s", ev1);
    snprintf(m2, sizeof m2, "<37>1 - node_1 ka - AUDIT - %s", ev2);
    snprintf(want, sizeof want, "%zu %s%zu %s", strlen(m1), m1, strlen(m2), m2);
    cr_expect_eq(body.n, strlen(want));
    cr_expect_eq(memcmp(body.p, want, body.n), 0, "%.*s", (int)body.n, body.p);
    cr_expect_eq(items[0].result, KA_OUT_OK);
    cr_expect_eq(items[1].result, KA_OUT_PERMANENT);
    cr_expect(strstr(items[1].reason, "over max_size 600 (not truncated)") != NULL, "%s", items[1].reason);
    cr_expect_eq(items[2].result, KA_OUT_OK);
    ka_buf_free(&body);
    ops->destroy(ctx);
}

Test(output_syslog, params)
{
    const struct ka_output_ops *ops = ka_output_find("syslog+udp");
    const char *bad[] = {"syslog+udp://h?facility=24", "syslog+udp://h?severity=8",
                         "syslog+udp://h?max_size=100"};
    for (size_t i = 0; i < 3; i++) {
        struct ka_out_url u;
        struct ka_out_opts o = {0};
        char err[200];
        void *ctx = NULL;
        cr_assert_eq(ka_out_url_parse(bad[i], &u, err, sizeof err), KA_OK);
        cr_expect_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_EINVAL, "%s", bad[i]);
    }
}
