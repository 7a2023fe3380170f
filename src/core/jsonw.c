/*
 * jsonw.c - JSON writing primitives with Go encoding/json's exact bytes (spec §1.8).
 * See include/kaudit/jsonw.h for the rules.
 */
#include "kaudit/jsonw.h"

#include <string.h>

#include "kaudit/err.h"

static const char ka__hex[] = "0123456789abcdef";

/* 1 for ASCII bytes that Go writes literally in HTML-safe mode. */
static const unsigned char ka__safe[128] = {
    ['\x20'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['\''] = 1, ['('] = 1,
    [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, [';'] = 1, ['='] = 1, ['?'] = 1,
    ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1,
    [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1, ['\x7f'] = 1,
};

/*
 * Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0 when it is not
 * valid (bad lead, truncated, overlong, surrogate, above U+10FFFF), as Go's DecodeRune decides.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

static int put_ascii_escape(struct ka_buf *b, unsigned char c)
{
    char e[6];
    switch (c) {
    case '"': return ka_buf_append(b, "\\\"", 2);
    case '\\': return ka_buf_append(b, "\\\\", 2);
    case '\n': return ka_buf_append(b, "\\n", 2);
    case '\r': return ka_buf_append(b, "\\r", 2);
    case '\t': return ka_buf_append(b, "\\t", 2);
    case '\b': return ka_buf_append(b, "\\b", 2);
    case '\f': return ka_buf_append(b, "\\f", 2);
    default:
        memcpy(e, "\\u00", 4);
        e[4] = ka__hex[c >> 4];
        e[5] = ka__hex[c & 15];
        return ka_buf_append(b, e, 6);
    }
}

int ka_jw_str_body(struct ka_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, start = 0;
    int rc;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (ka__safe[c]) {
                i++;
                continue;
            }
            if ((rc = ka_buf_append(b, s + start, i - start)) || (rc = put_ascii_escape(b, c)))
                return rc;
            start = ++i;
            continue;
        }
        size_t len = utf8_len(s + i, n - i);
        if (len == 0) {
            if ((rc = ka_buf_append(b, s + start, i - start)) ||
                (rc = ka_buf_append(b, "\\ufffd", 6)))
                return rc;
            start = ++i;
            continue;
        }
        if (len == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            if ((rc = ka_buf_append(b, s + start, i - start)) ||
                (rc = ka_buf_append(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6)))
                return rc;
            start = i += 3;
            continue;
        }
        i += len;
    }
    return ka_buf_append(b, s + start, n - start);
}

int ka_jw_str(struct ka_buf *b, const char *s, size_t n)
{
    size_t old = b->n;
    int rc = ka_buf_putc(b, '"');
    if (!rc)
        rc = ka_jw_str_body(b, s, n);
    if (!rc)
        rc = ka_buf_putc(b, '"');
    if (rc)
        b->n = old;
    return rc;
}

int ka_jw_key(struct ka_buf *b, const char *key)
{
    size_t kn = strlen(key);
    int rc = ka_buf_reserve(b, kn + 3);
    if (rc)
        return rc;
    b->p[b->n++] = '"';
    memcpy(b->p + b->n, key, kn);
    b->n += kn;
    b->p[b->n++] = '"';
    b->p[b->n++] = ':';
    return KA_OK;
}

int ka_jw_int(struct ka_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return ka_buf_append(b, tmp + i, sizeof tmp - i);
}

/* Howard Hinnant's civil-from-days algorithms (public domain arithmetic). */
int64_t ka_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void ka_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int ka_jw_microtime(struct ka_buf *b, int64_t sec, int32_t nsec)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    ka_civil_from_days(days, &y, &mo, &d);
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    char t[29] = "\"0000-00-00T00:00:00.000000Z\"";
    put_digits(t + 1, (unsigned)y, 4);
    put_digits(t + 6, mo, 2);
    put_digits(t + 9, d, 2);
    put_digits(t + 12, (unsigned)(rem / 3600), 2);
    put_digits(t + 15, (unsigned)(rem / 60 % 60), 2);
    put_digits(t + 18, (unsigned)(rem % 60), 2);
    put_digits(t + 21, (unsigned)(nsec / 1000), 6);
    return ka_buf_append(b, t, sizeof t);
}

int ka_jw_compact(struct ka_buf *b, const char *raw, size_t n)
{
    size_t old = b->n;
    int rc = ka_buf_reserve(b, n);
    size_t i = 0, start = 0;
    int in_str = 0;
    const unsigned char *s = (const unsigned char *)raw;
    while (!rc && i < n) {
        unsigned char c = s[i];
        const char *esc = NULL;
        size_t skip = 1;
        if (in_str) {
            if (c == '\\') {
                i += 2;
                continue;
            }
            if (c == '"')
                in_str = 0;
            else if (c == '<')
                esc = "\\u003c";
            else if (c == '>')
                esc = "\\u003e";
            else if (c == '&')
                esc = "\\u0026";
            else if (c == 0xe2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8) {
                esc = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
                skip = 3;
            }
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            esc = "";
        } else if (c == '"') {
            in_str = 1;
        }
        if (!esc) {
            i++;
            continue;
        }
        rc = ka_buf_append(b, s + start, i - start);
        if (!rc)
            rc = ka_buf_append(b, esc, strlen(esc));
        i += skip;
        start = i;
    }
    if (!rc)
        rc = ka_buf_append(b, s + start, n - start);
    if (rc)
        b->n = old;
    return rc;
}
