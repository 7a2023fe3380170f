/*
 * test_jsonw.c - Go-exact JSON writing primitives (string escapes, MicroTime, compaction).
 * Expected bytes follow Go encoding/json in HTML-safe mode (spec notes §1.4, §1.8).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"

static struct ka_buf b;

static void setup(void)
{
    ka_buf_init(&b, 0);
}
static void teardown(void)
{
    ka_buf_free(&b);
}

#define EXPECT(s) \
    cr_assert(b.n == strlen(s) && memcmp(b.p, s, b.n) == 0, "got [%.*s] want [%s]", (int)b.n, \
              b.p, s)

TestSuite(jsonw, .init = setup, .fini = teardown);

Test(jsonw, ascii_plain_and_named_escapes)
{
    static const char in[] = "a\"b\\c\nd\re\tf\bg\fh/";
    cr_assert_eq(ka_jw_str(&b, in, sizeof in - 1), KA_OK);
    EXPECT("\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh/\"");
}

Test(jsonw, control_chars_lowercase_hex)
{
    static const char in[] = "\x01\x1f\x0b";
    ka_jw_str(&b, in, 3);
    EXPECT("\"\\u0001\\u001f\\u000b\"");
}

Test(jsonw, nul_byte)
{
    ka_jw_str(&b, "a\0b", 3);
    EXPECT("\"a\\u0000b\"");
}

Test(jsonw, html_safe)
{
    static const char in[] = "?limit=500&resourceVersion=0<>";
    ka_jw_str(&b, in, sizeof in - 1);
    EXPECT("\"?limit=500\\u0026resourceVersion=0\\u003c\\u003e\"");
}

Test(jsonw, line_separators_escaped_other_unicode_literal)
{
    static const char in[] = "\xe2\x80\xa8\xe2\x80\xa9\xc2\xb5s\xf0\x9f\x98\x80\x7f";
    ka_jw_str(&b, in, sizeof in - 1);
    EXPECT("\"\\u2028\\u2029\xc2\xb5s\xf0\x9f\x98\x80\x7f\"");
}

Test(jsonw, invalid_utf8_each_byte_replaced)
{
    /* lone continuation, truncated 3-byte lead, overlong '/', UTF-8-encoded surrogate, 0xff */
    static const char in[] = "\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80|\xff";
    ka_jw_str(&b, in, sizeof in - 1);
    EXPECT("\"\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\"");
}

Test(jsonw, truncated_at_end)
{
    ka_jw_str(&b, "ab\xc3", 3);
    EXPECT("\"ab\\ufffd\"");
}

Test(jsonw, microtime_truncates_to_micro)
{
    ka_jw_microtime(&b, 1723614056, 794659999);
    EXPECT("\"2024-08-14T05:40:56.794659Z\"");
}

Test(jsonw, microtime_epoch_edges)
{
    ka_jw_microtime(&b, 0, 0);
    ka_jw_microtime(&b, -1, 999999);
    ka_jw_microtime(&b, 951782400, 1000); /* 2000-02-29 */
    EXPECT("\"1970-01-01T00:00:00.000000Z\"\"1969-12-31T23:59:59.000999Z\""
           "\"2000-02-29T00:00:00.000001Z\"");
}

Test(jsonw, civil_roundtrip)
{
    for (int64_t z = -800000; z < 800000; z += 37) {
        int64_t y;
        unsigned m, d;
        ka_civil_from_days(z, &y, &m, &d);
        cr_assert_eq(ka_days_from_civil(y, m, d), z);
    }
}

Test(jsonw, compact_whitespace_and_html)
{
    static const char in[] = " {\n \"a\" : [ 1 , 2 ] ,\t\"b\" : \"x y<&>\\\" \\\\\" ,"
                             "\"c\":\"\xe2\x80\xa8\"}\r\n";
    cr_assert_eq(ka_jw_compact(&b, in, sizeof in - 1), KA_OK);
    EXPECT("{\"a\":[1,2],\"b\":\"x y\\u003c\\u0026\\u003e\\\" \\\\\",\"c\":\"\\u2028\"}");
}

Test(jsonw, compact_keeps_escapes_verbatim)
{
    static const char in[] = "[\"\\u003c\\n\\/\"]";
    ka_jw_compact(&b, in, sizeof in - 1);
    EXPECT("[\"\\u003c\\n\\/\"]");
}

Test(jsonw, ints)
{
    ka_jw_int(&b, 0);
    ka_buf_putc(&b, ' ');
    ka_jw_int(&b, -42);
    ka_buf_putc(&b, ' ');
    ka_jw_int(&b, INT64_MIN);
    EXPECT("0 -42 -9223372036854775808");
}

Test(jsonw, buffer_maximum_is_enforced_and_restored)
{
    struct ka_buf small;
    ka_buf_init(&small, 8);
    cr_assert_eq(ka_buf_puts(&small, "abc"), KA_OK);
    cr_assert_eq(ka_jw_str(&small, "too long for it", 15), KA_ETOOBIG);
    cr_assert_eq(small.n, 3, "a failed write leaves the buffer as it was");
    ka_buf_free(&small);
}
