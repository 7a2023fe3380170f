/*
 * test_json.c - unit tests of the strict JSON scanner (include/kaudit/json.h): every rule of the
 * header comment as a valid or invalid case, depth limits, string decoding and comparison, and
 * the iterators. All inputs are written here; nothing is read from ../shared.
 * Every input is copied into an exact-size heap buffer, so ASan reports any read past the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/json.h"

static int validate_n(const char *s, size_t n, unsigned max_depth, struct ka_json_err *err)
{
    char *b = malloc(n ? n : 1);
    cr_assert_not_null(b);
    memcpy(b, s, n);
    int rc = ka_json_validate(b, n, max_depth, err);
    free(b);
    return rc;
}

static int validate(const char *s)
{
    struct ka_json_err err;
    return validate_n(s, strlen(s), 0, &err);
}

static char *nested(unsigned depth, char open, char close)
{
    char *s = malloc(2 * (size_t)depth + 1);
    cr_assert_not_null(s);
    memset(s, open, depth);
    memset(s + depth, close, depth);
    s[2 * depth] = 0;
    return s;
}

static const char *const valid_cases[] = {
    "0", "-0", "1", "-12", "1.5", "-0.0e-0", "1E5", "1e+5", "1.25E-10", "123456789012345678901234",
    "1e400", "true", "false", "null", "\"\"", "\"abc\"", " \t\r\n\"x\" \t\r\n",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u00E9\"", "\"\\ud83d\\ude00\"",
    "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\u0000\"", "\"\xc3\xa9\"", "\"\xe2\x82\xac\"",
    "\"\xf0\x9f\x98\x80\"", "\"\xf4\x8f\xbf\xbf\"", "\"\xed\x9f\xbf\"", "\"\xee\x80\x80\"",
    "\"\x7f\"", "[]", "{}", "[ ]", "{ }", "[1,2,3]", "{\"a\":1,\"b\":[true,false,null]}",
    "{\"a\":1,\"a\":2}", "[{\"\":{}},[[]],\"x\",-1.0]", "{ \"a\" : [ 1 , { } ] }",
    "{\"\xc3\xa9\\n\":\"\\u0041\"}",
};

static const char *const invalid_cases[] = {
    "", " ", "01", "-01", "-", "1.", ".5", "+1", "1e", "1e+", "1.e5", "0x10", "NaN", "Infinity",
    "-Infinity", "tru", "nul", "True", "nulll", "[1,]", "{\"a\":1,}", "[1 2]", "[1,,2]", "[,1]",
    "{,}", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "{\"a\":1", "[", "]", "}", "{\"a\":1}}",
    "[1]]", "1 2", "{} {}", "\"abc", "\"abc\\\"", "\"\\x\"", "\"\\'\"", "\"\\u12g4\"",
    "\"\\u12\"", "\"\\U0041\"", "\"a\tb\"", "\"a\nb\"", "\"\x1f\"", "\"\xc0\xaf\"",
    "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xe0\x9f\xbf\"", "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"",
    "\"\xf0\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"",
    "\"\x80\"", "\"\xe2\x82\"", "\"\xe2\x82", "\"\xc3\"", "\"\xe2\x28\xa1\"",
    "\xef\xbb\xbf{}", "[1]x", "{\"a\":1}\"", "[\"a\" \"b\"]", "{\"a\":1 \"b\":2}", "[-]",
    "[1.]", "{\"a\":1.5e}", "[\"\\", "{\"\\ud800\":}", "\x00", "[1]\x0b",
};

Test(json, valid_cases)
{
    for (size_t i = 0; i < sizeof valid_cases / sizeof *valid_cases; i++) {
        struct ka_json_err err;
        int rc = validate_n(valid_cases[i], strlen(valid_cases[i]), 0, &err);
        cr_expect_eq(rc, KA_OK, "valid case %zu <%s> rejected: %s at %zu", i, valid_cases[i],
                     err.msg, err.off);
    }
}

Test(json, invalid_cases)
{
    for (size_t i = 0; i < sizeof invalid_cases / sizeof *invalid_cases; i++) {
        struct ka_json_err err = {0};
        const char *s = invalid_cases[i];
        size_t n = strlen(s);
        if (n == 0 && i > 0)
            n = 1; /* the "\x00" cases: one NUL byte */
        int rc = validate_n(s, n, 0, &err);
        cr_expect_eq(rc, KA_ESYNTAX, "invalid case %zu <%s> accepted (rc %d)", i, s, rc);
        cr_expect(err.msg[0] != 0, "case %zu: no message", i);
        cr_expect(err.off <= n, "case %zu: offset %zu past the end", i, err.off);
    }
}

Test(json, nul_bytes)
{
    cr_expect_eq(validate_n("[\0]", 3, 0, NULL), KA_ESYNTAX);
    cr_expect_eq(validate_n("\"a\0b\"", 5, 0, NULL), KA_ESYNTAX);
    cr_expect_eq(validate_n("1\0", 2, 0, NULL), KA_ESYNTAX);
}

Test(json, error_offsets_and_messages)
{
    struct ka_json_err err;
    cr_assert_eq(validate_n("[1,]", 4, 0, &err), KA_ESYNTAX);
    cr_expect_eq(err.off, 3);
    cr_assert_eq(validate_n("{\"a\":\"\xc0\xaf\"}", 9, 0, &err), KA_ESYNTAX);
    cr_expect_eq(err.off, 6);
    cr_expect(strstr(err.msg, "UTF-8") != NULL, "%s", err.msg);
    cr_assert_eq(validate_n("[\"\\q\"]", 6, 0, &err), KA_ESYNTAX);
    cr_expect_eq(err.off, 2);
    cr_expect(strstr(err.msg, "escape") != NULL, "%s", err.msg);
    cr_assert_eq(validate_n("[\"a\x01\"]", 6, 0, &err), KA_ESYNTAX);
    cr_expect_eq(err.off, 3);
    cr_expect(strstr(err.msg, "control") != NULL, "%s", err.msg);
    cr_assert_eq(validate_n("{} x", 4, 0, &err), KA_ESYNTAX);
    cr_expect_eq(err.off, 3);
}

Test(json, depth_limits)
{
    struct ka_json_err err;
    char *ok = nested(512, '[', ']');
    char *deep = nested(513, '[', ']');
    cr_expect_eq(validate_n(ok, strlen(ok), 0, &err), KA_OK);
    cr_expect_eq(validate_n(deep, strlen(deep), 0, &err), KA_ETOOBIG);
    cr_expect_eq(validate_n(deep, strlen(deep), 513, &err), KA_OK);
    cr_expect_eq(validate_n("[[1]]", 5, 2, &err), KA_OK);
    cr_expect_eq(validate_n("[[[1]]]", 7, 2, &err), KA_ETOOBIG);
    cr_expect_eq(err.off, 2);
    cr_expect_eq(validate_n("{\"a\":{\"b\":{}}}", 14, 2, &err), KA_ETOOBIG);
    free(ok);
    free(deep);
    /* Deeper than the scanner's internal bit stack: handled by recursion, still exact. */
    char *huge = nested(5000, '[', ']');
    cr_expect_eq(validate_n(huge, strlen(huge), 5000, &err), KA_OK);
    cr_expect_eq(validate_n(huge, strlen(huge), 4999, &err), KA_ETOOBIG);
    huge[9999] = '}';
    cr_expect_eq(validate_n(huge, strlen(huge), 5000, &err), KA_ESYNTAX);
    free(huge);
    /* Mixed objects and arrays across the bit-stack word boundaries. */
    char mixed[64 * 12 + 1] = {0};
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(mixed + n, i % 3 ? "[" : "{\"k\":");
    mixed[n++] = '1';
    for (int i = 63; i >= 0; i--)
        mixed[n++] = i % 3 ? ']' : '}';
    cr_expect_eq(validate_n(mixed, n, 64, &err), KA_OK, "%s", err.msg);
    cr_expect_eq(validate_n(mixed, n, 63, &err), KA_ETOOBIG);
}

Test(json, skip_sequence)
{
    const char buf[] = " {\"a\":[1,2]} \"s\" 12 ";
    const char *p = buf, *end = buf + sizeof buf - 1;
    struct ka_json_err err;
    cr_assert_eq(ka_json_skip(&p, end, buf, 0, 10, &err), KA_OK);
    cr_expect_eq(p - buf, 12);
    cr_assert_eq(ka_json_skip(&p, end, buf, 0, 10, &err), KA_OK);
    cr_expect_eq(p - buf, 16);
    cr_assert_eq(ka_json_skip(&p, end, buf, 0, 10, &err), KA_OK);
    cr_expect_eq(p - buf, 19);
    cr_expect_eq(ka_json_skip(&p, end, buf, 0, 10, &err), KA_ESYNTAX);
    cr_expect_eq(ka_json_ws(p, end), end);
    /* depth counts the containers around the value */
    const char *q = "[[]]";
    cr_expect_eq(ka_json_skip(&q, q + 4, q, 9, 10, &err), KA_ETOOBIG);
}

static struct ka_str S(const char *lit)
{
    return ka_str_from_raw(lit, strlen(lit));
}

static void expect_decoded(const char *raw, const char *want, size_t wn)
{
    struct ka_str s = S(raw);
    char out[256];
    cr_assert(s.n < sizeof out);
    size_t n = ka_str_decode(s, out);
    cr_expect_eq(n, wn, "%s: length %zu, want %zu", raw, n, wn);
    cr_expect(memcmp(out, want, wn) == 0, "%s decoded wrongly", raw);
    cr_expect(ka_str_eq(s, want, wn), "%s: ka_str_eq", raw);
}

Test(json, str_decode)
{
    expect_decoded("\"plain\"", "plain", 5);
    expect_decoded("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 7);
    expect_decoded("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5);
    expect_decoded("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    expect_decoded("\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5);
    expect_decoded("\"\\ud800\"", "\xef\xbf\xbd", 3);
    expect_decoded("\"\\udc00x\"", "\xef\xbf\xbdx", 4);
    expect_decoded("\"\\ud800\\u0041\"", "\xef\xbf\xbd" "A", 4);
    expect_decoded("\"\\ud800\\ud800\\udc00\"", "\xef\xbf\xbd\xf0\x90\x80\x80", 7);
    expect_decoded("\"\\u0000\"", "\0", 1);
    expect_decoded("\"x\\u003cy\\u0026\"", "x<y&", 4);
    struct ka_str s = S("\"a\\nb\"");
    cr_expect(s.set && s.esc && s.n == 4);
    cr_expect(!ka_str_eq(s, "a\nbc", 4));
    cr_expect(!ka_str_eq(s, "a\nb", 2));
    cr_expect(!ka_str_eq(S("\"ab\""), "abc", 3));
    cr_expect(!S("\"ab\"").esc);
    struct ka_str bad = ka_str_from_raw("x", 1);
    cr_expect(!bad.set);
}

Test(json, str_compare)
{
    cr_expect(ka_str_eq_str(S("\"abc\""), S("\"a\\u0062c\"")));
    cr_expect(ka_str_eq_str(S("\"\\u00e9\""), S("\"\xc3\xa9\"")));
    cr_expect(!ka_str_eq_str(S("\"ab\""), S("\"abc\"")));
    cr_expect_lt(ka_str_cmp(S("\"ab\""), S("\"abc\"")), 0);
    cr_expect_gt(ka_str_cmp(S("\"b\""), S("\"a\\u0062c\"")), 0);
    cr_expect_eq(ka_str_cmp(S("\"\\n\""), S("\"\\u000a\"")), 0);
    /* byte-wise: U+00E9 (C3 A9) sorts after 'z' and before U+FFFD */
    cr_expect_gt(ka_str_cmp(S("\"\\u00e9\""), S("\"z\"")), 0);
    cr_expect_lt(ka_str_cmp(S("\"\\u00e9\""), S("\"\\ud800\"")), 0);
    cr_expect_lt(ka_str_cmp(S("\"\""), S("\"\\u0000\"")), 0);
}

Test(json, str_decode_buf)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_str_decode_buf(S("\"x\\ty\""), &b), KA_OK);
    cr_assert_eq(ka_str_decode_buf(S("\"\\u00e9\""), &b), KA_OK);
    cr_expect_eq(b.n, 5);
    cr_expect(memcmp(b.p, "x\ty\xc3\xa9", 5) == 0);
    ka_buf_free(&b);
}

Test(json, types_and_iterators)
{
    const char doc[] = "{ \"a\" : [1, \"x,]\" , {\"k\":[]}, -2.5e3 ,null,true] , \"b\\\"\":{},"
                       "\"c\":\"}\" }";
    cr_assert_eq(validate(doc), KA_OK);
    struct ka_raw whole = {doc, (uint32_t)strlen(doc)};
    struct ka_json_iter it, it2;
    struct ka_str key;
    struct ka_raw v, e;
    cr_expect_eq(ka_json_type_of(doc, 1), KA_JSON_OBJECT);
    cr_expect_eq(ka_json_type_of(NULL, 0), KA_JSON_NONE);
    ka_json_iter_init(&it, whole);
    cr_assert(ka_json_iter_member(&it, &key, &v));
    cr_expect(ka_str_eq(key, "a", 1) && key.set);
    cr_expect_eq(ka_json_type_of(v.p, v.n), KA_JSON_ARRAY);
    cr_expect_eq(ka_json_array_len(v), 6);
    const char *want[] = {"1", "\"x,]\"", "{\"k\":[]}", "-2.5e3", "null", "true"};
    enum ka_json_type wt[] = {KA_JSON_NUMBER, KA_JSON_STRING, KA_JSON_OBJECT,
                              KA_JSON_NUMBER, KA_JSON_NULL,   KA_JSON_TRUE};
    ka_json_iter_init(&it2, v);
    for (int i = 0; i < 6; i++) {
        cr_assert(ka_json_iter_elem(&it2, &e));
        cr_expect_eq(e.n, strlen(want[i]));
        cr_expect(memcmp(e.p, want[i], e.n) == 0, "element %d", i);
        cr_expect_eq(ka_json_type_of(e.p, e.n), wt[i]);
    }
    cr_expect(!ka_json_iter_elem(&it2, &e));
    cr_assert(ka_json_iter_member(&it, &key, &v));
    cr_expect(ka_str_eq(key, "b\"", 2) && key.esc);
    cr_expect(v.n == 2 && v.p[0] == '{');
    cr_assert(ka_json_iter_member(&it, &key, &v));
    cr_expect(ka_str_eq(key, "c", 1));
    cr_expect(v.n == 3 && memcmp(v.p, "\"}\"", 3) == 0);
    cr_expect(!ka_json_iter_member(&it, &key, &v));
    struct ka_raw none = {0};
    ka_json_iter_init(&it, none);
    cr_expect(!ka_json_iter_elem(&it, &e));
    cr_expect_eq(ka_json_array_len(none), 0);
    struct ka_raw empty = {"[ ]", 3};
    cr_expect_eq(ka_json_array_len(empty), 0);
    struct ka_raw bs = {"[\"a\\\\\",\"b\"]", 11};
    cr_expect_eq(ka_json_array_len(bs), 2);
}
