/*
 * test_output_clickhouse.c - the ClickHouse output offline: the exact JSONEachRow bytes of a
 * batch, the size limit, URL parameters, and the DDL for 18.16, current and Distributed.
 * Also the SELECT of `kaudit query` against ClickHouse (chquery.h) and the gzip default.
 * The event is written here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/outputs/clickhouse/ch.h"
#include "kaudit/chquery.h"
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

/* The raw column is a JSON string that decodes to the event line byte for byte, whatever
   the position of quotes, backslashes, control bytes (a tab between members) and UTF-8
   relative to 8-byte words. */
Test(output_clickhouse, raw_column_round_trip)
{
    const struct ka_output_ops *ops = ka_output_find("clickhouse");
    void *ctx = mk("clickhouse://h/db?table=t");
    static const char *const names[] = {"a", "ab\\\"cd", "x\\u0001y\\ttab", "\xc3\xa9t\xc3\xa9",
                                        "\\\\\\\\\\\\\\\\", "\xe2\x80\xa8<&>",
                                        "0123456789abcdef\\\""};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        for (int pad = 0; pad < 9; pad++) {
            char line[512];
            int n = snprintf(line, sizeof line,
                             "{%s\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":"
                             "\"Metadata\",\"auditID\":\"%.*s\",\"stage\":\"ResponseComplete\","
                             "\"requestURI\":\"/\",\"verb\":\"get\",\"user\":{\"username\":\"%s\"}}",
                             pad % 2 ? "\t" : "", pad, "123456789", names[k]);
            struct ka_event ev;
            struct ka_scan_err se;
            cr_assert_eq(ka_event_scan(line, (size_t)n, NULL, &ev, &se), KA_OK, "%s: %s", line, se.msg);
            struct ka_out_event oe = {line, (size_t)n, &ev};
            struct ka_out_batch b = {&oe, 1};
            struct ka_out_item item = {0};
            struct ka_buf body;
            ka_buf_init(&body, 0);
            cr_assert_eq(ops->format(ctx, &b, &body, &item), KA_OK);
            json_error_t je;
            json_t *row = json_loadb(body.p, body.n, 0, &je);
            cr_assert(row, "%s: %.*s", je.text, (int)body.n, body.p);
            json_t *raw = json_object_get(row, "raw");
            cr_assert(json_is_string(raw));
            cr_expect_eq(json_string_length(raw), (size_t)n);
            cr_expect_eq(memcmp(json_string_value(raw), line, (size_t)n), 0, "%s", line);
            json_decref(row);
            ka_buf_free(&body);
        }
    }
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

/* ---- kaudit query against ClickHouse: the SELECT (the live rows: query_clickhouse.sh) ---- */


static char *chq_sql(struct ka_query *q)
{
    struct ka_chq *c = NULL;
    char err[200] = "";
    struct ka_buf b;
    cr_assert_eq(ka_chq_open("clickhouse://127.0.0.1:1/db1?table=t1", NULL, &c, err, sizeof err),
                 KA_OK, "%s", err);
    ka_buf_init(&b, 1u << 20);
    cr_assert_eq(ka_chq_sql(c, q, &b), KA_OK);
    char *s = strdup(b.p);
    ka_buf_free(&b);
    ka_chq_close(c);
    return s;
}

Test(chquery, translates_filters)
{
    struct ka_query q;
    struct ka_diag d = {0};
    ka_query_init(&q);
    cr_assert_eq(ka_query_add_users(&q, "system:serviceaccount:*,a?c,50%_x", &d), KA_OK);
    cr_assert_eq(ka_query_add_verbs(&q, "delete", &d), KA_OK);
    cr_assert_eq(ka_query_add_resources(&q, "pods/exec,deployments.apps", &d), KA_OK);
    cr_assert_eq(ka_query_add_codes(&q, "4xx,!404", &d), KA_OK);
    cr_assert_eq(ka_query_add_grep(&q, "it's", &d), KA_OK);
    cr_assert_eq(ka_query_add_groups(&q, "sys*", &d), KA_OK);
    char *s = chq_sql(&q);
    cr_assert(strstr(s, "FROM `db1`.`t1` WHERE 1"), "%s", s);
    cr_assert(strstr(s, "(user LIKE 'system:serviceaccount:%' OR user LIKE 'a_%c' OR "
                        "user = '50%_x')"), "%s", s);
    cr_assert(strstr(s, " AND (verb = 'delete')"), "%s", s);
    cr_assert(strstr(s, "(resource != '' AND resource = 'pods' AND subresource = 'exec') OR "
                        "(resource != '' AND resource = 'deployments' AND api_group = 'apps' AND "
                        "subresource = '')"), "%s", s);
    cr_assert(strstr(s, " AND ((code >= 400 AND code <= 499)) AND NOT (code >= 404 AND code <= 404)"),
              "%s", s);
    cr_assert(strstr(s, "position(raw, 'it\\'s') > 0"), "%s", s);
    cr_assert(strstr(s, "arrayExists(x -> (x LIKE 'sys%'), groups)"), "%s", s);
    /* requests mode: the latest stage over the whole table, duplicates dropped */
    cr_assert(strstr(s, "max(indexOf("), "%s", s);
    cr_assert(strstr(s, "LIMIT 1 BY audit_id, stage"), "%s", s);
    cr_assert(strstr(s, "FORMAT RowBinary"), "%s", s);
    free(s);
    ka_query_free(&q);
    ka_diag_free(&d);
}

Test(chquery, like_escapes_and_stage_modes)
{
    struct ka_query q;
    struct ka_diag d = {0};
    ka_query_init(&q);
    cr_assert_eq(ka_query_add_namespaces(&q, "a_b*\\", &d), KA_OK);
    cr_assert_eq(ka_query_set_stage(&q, "ResponseStarted", &d), KA_OK);
    cr_assert_eq(ka_query_set_since(&q, "2025-03-10T09:00:00.5Z", 0, &d), KA_OK);
    char *s = chq_sql(&q);
    /* '_' and '\' are literal in a glob: escaped for LIKE, then for the string literal */
    cr_assert(strstr(s, "namespace LIKE 'a\\\\_b%\\\\\\\\'"), "%s", s);
    cr_assert(strstr(s, " AND stage = 'ResponseStarted'"), "%s", s);
    cr_assert(!strstr(s, "max(indexOf("), "%s", s);
    cr_assert(strstr(s, "time >= toDateTime(1741597200) AND time_us >= 1741597200500000"), "%s", s);
    free(s);
    ka_query_free(&q);
    ka_diag_free(&d);
}

Test(chquery, rejects_other_urls)
{
    struct ka_chq *c = NULL;
    char err[200] = "";
    cr_assert_eq(ka_chq_open("loki://127.0.0.1:1/", NULL, &c, err, sizeof err), KA_EINVAL);
    cr_assert(strstr(err, "clickhouse"));
    cr_assert_null(c);
}

Test(clickhouse, gzip_default_off_on_loopback_only)
{
    cr_assert(ka_ch_loopback("127.0.0.1"));
    cr_assert(ka_ch_loopback("localhost"));
    cr_assert(ka_ch_loopback("::1"));
    cr_assert(!ka_ch_loopback("10.0.0.1"));
    cr_assert(!ka_ch_loopback("ch.example"));
    struct ka_ch *c = mk("clickhouse://127.0.0.1:8123/db");
    cr_assert(!c->gzip);
    ka_output_find("clickhouse")->destroy(c);
    c = mk("clickhouse://127.0.0.1:8123/db?gzip=1");
    cr_assert(c->gzip);
    ka_output_find("clickhouse")->destroy(c);
    c = mk("clickhouse://ch.example:8123/db");
    cr_assert(c->gzip);
    ka_output_find("clickhouse")->destroy(c);
}
