/*
 * json.c - the strict zero-copy JSON validator/skipper, string decoding and comparison, and the
 * iterators over validated arrays and objects (see include/kaudit/json.h).
 *
 * The skipper is a flat state machine with an explicit bit stack (1 = object, 0 = array) of
 * KA__STACK_BITS levels; a value nested deeper than that is handled by one recursive call per
 * KA__STACK_BITS levels, so the C stack stays small for any configured maximum depth.
 */
#include <string.h>

#include "json_int.h"
#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/json.h"

#define KA__STACK_WORDS 16u
#define KA__STACK_BITS (KA__STACK_WORDS * 64u)

int ka__json_fail(struct ka_json_err *err, const char *base, const char *p, const char *msg)
{
    if (err) {
        err->off = (size_t)(p - base);
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return KA_ESYNTAX;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if ((size_t)(end - p) <= need)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

const char *ka__json_str_special(const char *p, const char *end, unsigned *esc, const char *base,
                                 struct ka_json_err *err)
{
    unsigned char c = (unsigned char)*p;
    if (c == '\\') {
        if (end - p < 2)
            goto eof;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            *esc = 1;
            return p + 2;
        case 'u':
            if (end - p < 6)
                goto eof;
            for (int i = 2; i < 6; i++)
                if (hexval((unsigned char)p[i]) < 0) {
                    ka__json_fail(err, base, p + i, "invalid \\u escape in string");
                    return NULL;
                }
            *esc = 1;
            return p + 6;
        default:
            ka__json_fail(err, base, p, "invalid escape in string");
            return NULL;
        }
    }
    if (c < 0x20) {
        ka__json_fail(err, base, p, "control character in string");
        return NULL;
    }
    size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
    if (n == 0) {
        ka__json_fail(err, base, p, "invalid UTF-8 in string");
        return NULL;
    }
    return p + n;
eof:
    ka__json_fail(err, base, end, "unterminated string");
    return NULL;
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

const char *ka__json_num(const char *p, const char *end, unsigned *is_int)
{
    if (*p == '-' && ++p == end)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (++p < end && is_digit(*p))
            ;
    else
        return NULL;
    if (p < end && *p == '.') {
        *is_int = 0;
        if (++p == end || !is_digit(*p))
            return NULL;
        while (++p < end && is_digit(*p))
            ;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (++p < end && is_digit(*p))
            ;
    }
    return p;
}

static const char *literal(const char *p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

/* A scalar at p (not a container). Returns the position after it or NULL with err set. */
static const char *scalar(const char *p, const char *end, const char *base,
                          struct ka_json_err *err)
{
    const char *q;
    unsigned esc = 0, is_int = 1;
    switch (*p) {
    case '"':
        q = ka__json_str_end(p + 1, end, &esc, base, err);
        return q ? q + 1 : NULL;
    case 't':
        q = literal(p, end, "true", 4);
        break;
    case 'f':
        q = literal(p, end, "false", 5);
        break;
    case 'n':
        q = literal(p, end, "null", 4);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
    case '8': case '9':
        q = ka__json_num(p, end, &is_int);
        if (!q)
            ka__json_fail(err, base, p, "invalid number");
        return q;
    default:
        ka__json_fail(err, base, p, "expected a JSON value");
        return NULL;
    }
    if (!q)
        ka__json_fail(err, base, p, "invalid literal");
    return q;
}

/* Flat state machine; see the file comment. Labels: value, key, after. */
int ka__json_value(const char **pp, const char *end, const char *base, unsigned depth,
                   unsigned max_depth, struct ka_json_err *err)
{
    uint64_t stk[KA__STACK_WORDS];
    unsigned sp = 0, esc = 0;
    const char *p = *pp;
    unsigned room = max_depth > depth ? max_depth - depth : 0;
    int rc;
value:
    if (*p == '{' || *p == '[') {
        if (sp >= room) {
            if (err) {
                err->off = (size_t)(p - base);
                snprintf(err->msg, sizeof err->msg, "nesting deeper than %u", max_depth);
            }
            return KA_ETOOBIG;
        }
        if (sp == KA__STACK_BITS) {
            rc = ka__json_value(&p, end, base, depth + sp, max_depth, err);
            if (rc)
                return rc;
            goto after;
        }
        uint64_t bit = 1ull << (sp & 63);
        if ((sp & 63) == 0)
            stk[sp >> 6] = 0; /* first use of this word */
        if (*p == '{')
            stk[sp >> 6] |= bit;
        else
            stk[sp >> 6] &= ~bit;
        sp++;
        char close = *p == '{' ? '}' : ']';
        p = ka__json_ws(p + 1, end);
        if (p == end)
            goto eof;
        if (*p == close) {
            p++;
            sp--;
            goto after;
        }
        if (close == '}')
            goto key;
        goto value;
    }
    p = scalar(p, end, base, err);
    if (!p)
        return KA_ESYNTAX;
    goto after;
key:
    if (*p != '"')
        return ka__json_fail(err, base, p, "expected a string key");
    p = ka__json_str_end(p + 1, end, &esc, base, err);
    if (!p)
        return KA_ESYNTAX;
    p = ka__json_ws(p + 1, end);
    if (p == end)
        goto eof;
    if (*p != ':')
        return ka__json_fail(err, base, p, "expected ':'");
    p = ka__json_ws(p + 1, end);
    if (p == end)
        goto eof;
    goto value;
after:
    if (sp == 0) {
        *pp = p;
        return KA_OK;
    }
    p = ka__json_ws(p, end);
    if (p == end)
        goto eof;
    {
        int obj = (int)((stk[(sp - 1) >> 6] >> ((sp - 1) & 63)) & 1);
        if (*p == ',') {
            p = ka__json_ws(p + 1, end);
            if (p == end)
                goto eof;
            if (obj)
                goto key;
            goto value;
        }
        if (*p == (obj ? '}' : ']')) {
            p++;
            sp--;
            goto after;
        }
        return ka__json_fail(err, base, p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
eof:
    return ka__json_fail(err, base, p, "unexpected end of input");
}

int ka_json_skip(const char **pp, const char *end, const char *base, unsigned depth,
                 unsigned max_depth, struct ka_json_err *err)
{
    const char *p = ka__json_ws(*pp, end);
    if (p == end)
        return ka__json_fail(err, base, p, "unexpected end of input");
    int rc = ka__json_value(&p, end, base, depth, max_depth, err);
    if (rc == KA_OK)
        *pp = p;
    return rc;
}

int ka_json_validate(const char *p, size_t n, unsigned max_depth, struct ka_json_err *err)
{
    const char *q = p, *end = p + n;
    if (max_depth == 0)
        max_depth = KA_JSON_DEFAULT_MAX_DEPTH;
    int rc = ka_json_skip(&q, end, p, 0, max_depth, err);
    if (rc)
        return rc;
    q = ka__json_ws(q, end);
    if (q != end)
        return ka__json_fail(err, p, q, "unexpected data after the JSON value");
    return KA_OK;
}

const char *ka_json_ws(const char *p, const char *end)
{
    return ka__json_ws(p, end);
}

/* ---- decoding ---- */

/* Decodes the unit at s[*i] (s.n bytes) into out[0..4). Returns its length (1-4). */
static size_t dec_unit(const char *s, size_t n, size_t *i, char out[4])
{
    size_t k = *i;
    if (s[k] != '\\' || k + 1 >= n) {
        out[0] = s[k];
        *i = k + 1;
        return 1;
    }
    char e = s[k + 1];
    *i = k + 2;
    switch (e) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = e; return 1;
    }
    uint32_t cp = 0;
    for (size_t j = k + 2; j < k + 6 && j < n; j++)
        cp = cp << 4 | (uint32_t)hexval((unsigned char)s[j]);
    *i = k + 6;
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        uint32_t lo = 0;
        if (cp < 0xDC00 && k + 12 <= n && s[k + 6] == '\\' && s[k + 7] == 'u') {
            for (size_t j = k + 8; j < k + 12; j++)
                lo = lo << 4 | (uint32_t)hexval((unsigned char)s[j]);
        }
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *i = k + 12;
        } else
            cp = 0xFFFD;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ka_str_decode(struct ka_str s, char *out)
{
    if (!s.esc) {
        if (s.n)
            memcpy(out, s.p, s.n);
        return s.n;
    }
    size_t i = 0, o = 0;
    while (i < s.n) {
        const char *bs = memchr(s.p + i, '\\', s.n - i);
        size_t run = bs ? (size_t)(bs - (s.p + i)) : s.n - i;
        memcpy(out + o, s.p + i, run);
        o += run;
        i += run;
        if (i < s.n)
            o += dec_unit(s.p, s.n, &i, out + o);
    }
    return o;
}

int ka_str_decode_buf(struct ka_str s, struct ka_buf *b)
{
    int rc = ka_buf_reserve(b, s.n);
    if (rc)
        return rc;
    size_t n = ka_str_decode(s, b->p + b->n);
    if (b->max && b->n + n > b->max)
        return KA_ETOOBIG;
    b->n += n;
    return KA_OK;
}

/* A cursor over the decoded bytes of a ka_str. */
struct dcur {
    struct ka_str s;
    size_t i;
    char u[4];
    size_t ui, un;
};

static int dcur_next(struct dcur *c)
{
    if (c->ui < c->un)
        return (unsigned char)c->u[c->ui++];
    if (c->i >= c->s.n)
        return -1;
    if (!c->s.esc || c->s.p[c->i] != '\\')
        return (unsigned char)c->s.p[c->i++];
    c->un = dec_unit(c->s.p, c->s.n, &c->i, c->u);
    c->ui = 1;
    return (unsigned char)c->u[0];
}

int ka_str_cmp(struct ka_str a, struct ka_str b)
{
    if (!a.esc && !b.esc) {
        size_t m = a.n < b.n ? a.n : b.n;
        int r = m ? memcmp(a.p, b.p, m) : 0;
        if (r)
            return r;
        return a.n < b.n ? -1 : a.n > b.n;
    }
    struct dcur x = {.s = a}, y = {.s = b};
    for (;;) {
        int ca = dcur_next(&x), cb = dcur_next(&y);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

bool ka_str_eq_str(struct ka_str a, struct ka_str b)
{
    if (!a.esc && !b.esc)
        return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
    return ka_str_cmp(a, b) == 0;
}

bool ka_str_eq(struct ka_str s, const char *lit, size_t n)
{
    if (!s.esc)
        return s.n == n && (n == 0 || memcmp(s.p, lit, n) == 0);
    struct ka_str l = {.p = lit, .n = (uint32_t)n, .set = 1, .esc = 0};
    if (n > UINT32_MAX)
        return false;
    struct dcur x = {.s = s}, y = {.s = l};
    for (;;) {
        int ca = dcur_next(&x), cb = dcur_next(&y);
        if (ca != cb)
            return false;
        if (ca < 0)
            return true;
    }
}

struct ka_str ka_str_from_raw(const char *raw, size_t n)
{
    struct ka_str s = {0};
    if (!raw || n < 2 || raw[0] != '"')
        return s;
    s.p = raw + 1;
    s.n = (uint32_t)(n - 2);
    s.set = 1;
    s.esc = memchr(s.p, '\\', s.n) != NULL;
    return s;
}

/* ---- iteration over validated values ---- */

enum ka_json_type ka_json_type_of(const char *p, size_t n)
{
    if (!p || n == 0)
        return KA_JSON_NONE;
    switch (*p) {
    case 'n': return KA_JSON_NULL;
    case 'f': return KA_JSON_FALSE;
    case 't': return KA_JSON_TRUE;
    case '"': return KA_JSON_STRING;
    case '[': return KA_JSON_ARRAY;
    case '{': return KA_JSON_OBJECT;
    default: return KA_JSON_NUMBER;
    }
}

static const char *fast_str_end(const char *p, const char *end)
{
    /* p is after the opening quote; returns the closing quote (or end). */
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            return end;
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if ((bs & 1) == 0)
            return q;
        p = q + 1;
    }
    return end;
}

const char *ka__json_fast_end(const char *p, const char *end)
{
    size_t depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = fast_str_end(p + 1, end);
            if (p < end)
                p++;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return p;
            depth--;
            p++;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'))
            return p;
        else
            p++;
        if (depth == 0 && (c == '"' || c == '}' || c == ']'))
            return p;
    }
    return p;
}

void ka_json_iter_init(struct ka_json_iter *it, struct ka_raw raw)
{
    if (!raw.p || raw.n < 2 || (raw.p[0] != '[' && raw.p[0] != '{')) {
        it->p = it->end = NULL;
        return;
    }
    it->p = raw.p + 1;
    it->end = raw.p + raw.n - 1;
}

static bool iter_start(struct ka_json_iter *it)
{
    if (!it->p)
        return false;
    const char *p = ka__json_ws(it->p, it->end);
    if (p < it->end && *p == ',')
        p = ka__json_ws(p + 1, it->end);
    it->p = p;
    return p < it->end;
}

bool ka_json_iter_elem(struct ka_json_iter *it, struct ka_raw *val)
{
    if (!iter_start(it))
        return false;
    const char *q = ka__json_fast_end(it->p, it->end);
    val->p = it->p;
    val->n = (uint32_t)(q - it->p);
    it->p = q;
    return true;
}

bool ka_json_iter_member(struct ka_json_iter *it, struct ka_str *key, struct ka_raw *val)
{
    if (!iter_start(it) || *it->p != '"')
        return false;
    const char *q = ka__json_fast_end(it->p, it->end);
    *key = ka_str_from_raw(it->p, (size_t)(q - it->p));
    const char *p = ka__json_ws(q, it->end);
    if (p < it->end && *p == ':')
        p = ka__json_ws(p + 1, it->end);
    q = ka__json_fast_end(p, it->end);
    val->p = p;
    val->n = (uint32_t)(q - p);
    it->p = q;
    return true;
}

size_t ka_json_array_len(struct ka_raw raw)
{
    struct ka_json_iter it;
    struct ka_raw v;
    size_t n = 0;
    ka_json_iter_init(&it, raw);
    while (ka_json_iter_elem(&it, &v))
        n++;
    return n;
}
