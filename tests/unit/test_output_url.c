/*
 * test_output_url.c - output URLs (scheme, user/password/path/parameter percent-decoding,
 * ports, IPv6, broker lists, errors), the idempotency key and the output registry.
 * Events are written here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kaudit/output.h"

Test(output_url, full)
{
    struct ka_out_url u;
    char err[128];
    cr_assert_eq(ka_out_url_parse("ClickHouses://al%40ice:p%3As%26w@db.example:8443/audit%5Fdb"
                                  "?table=ev&user=x%20y&flag&table=ev2",
                                  &u, err, sizeof err),
                 KA_OK, "%s", err);
    cr_expect_str_eq(u.scheme, "clickhouses");
    cr_expect_str_eq(u.user, "al@ice");
    cr_expect_str_eq(u.password, "p:s&w");
    cr_expect_str_eq(u.host, "db.example");
    cr_expect_eq(u.port, 8443);
    cr_expect_str_eq(u.path, "/audit_db");
    cr_expect_eq(u.n_params, 4);
    cr_expect_str_eq(ka_out_url_param(&u, "table"), "ev2");
    cr_expect_str_eq(ka_out_url_param(&u, "user"), "x y");
    cr_expect_str_eq(ka_out_url_param(&u, "flag"), "");
    cr_expect_null(ka_out_url_param(&u, "nope"));
}

Test(output_url, forms)
{
    struct ka_out_url u;
    char err[128];
    cr_assert_eq(ka_out_url_parse("syslog+tls://[::1]:6514", &u, err, sizeof err), KA_OK);
    cr_expect_str_eq(u.host, "::1");
    cr_expect_eq(u.port, 6514);
    cr_expect_str_eq(u.path, "");
    cr_assert_eq(ka_out_url_parse("kafka://b1:9092,b2:9092/audit", &u, err, sizeof err), KA_OK);
    cr_expect_str_eq(u.host, "b1:9092,b2:9092");
    cr_expect_eq(u.port, 0);
    cr_expect_str_eq(u.path, "/audit");
    cr_assert_eq(ka_out_url_parse("loki://h?x=1", &u, err, sizeof err), KA_OK);
    cr_expect_str_eq(u.host, "h");
    cr_expect_str_eq(ka_out_url_param(&u, "x"), "1");
}

Test(output_url, errors)
{
    struct ka_out_url u;
    char err[128];
    const char *bad[] = {"nohost", "://h", "x://", "x://h:0", "x://h:65536", "x://h:12a",
                         "x://[::1", "x://h/p#frag", "x://h?k=%zz", "x://h?k=%00", "x://u%4@h",
                         "x y://h", "x://h?=v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(ka_out_url_parse(bad[i], &u, err, sizeof err), KA_EINVAL, "%s", bad[i]);
    char many[2048] = "x://h?";
    size_t off = strlen(many);
    for (int i = 0; i < KA_OUT_MAX_PARAMS + 1; i++) off += (size_t)snprintf(many + off, sizeof many - off, "a=1&");
    cr_expect_eq(ka_out_url_parse(many, &u, err, sizeof err), KA_EINVAL);
    cr_expect_str_eq(err, "too many parameters");
}

Test(output_url, key_and_registry)
{
    const char *line = "{\"auditID\":\"a\\u002db\",\"stage\":\"ResponseComplete\"}";
    struct ka_event ev;
    struct ka_scan_err se;
    cr_assert_eq(ka_event_scan(line, strlen(line), NULL, &ev, &se), KA_OK);
    char key[64];
    cr_expect_eq(ka_out_key(&ev, key, sizeof key), strlen("a-b-ResponseComplete"));
    cr_expect_str_eq(key, "a-b-ResponseComplete");
    cr_expect_eq(ka_out_key(&ev, key, 5), 4);
    cr_expect_str_eq(key, "a-b-");
    cr_expect_str_eq(ka_output_find("clickhouse")->name, "clickhouse");
    cr_expect_str_eq(ka_output_find("clickhouses")->name, "clickhouse");
    cr_expect_str_eq(ka_output_find("syslog+udp")->name, "syslog");
    cr_expect_null(ka_output_find("gopher"));
}
