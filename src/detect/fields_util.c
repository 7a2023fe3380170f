/*
 * fields_util.c - value emitters (Falco's string rendering into the context's arena) and the
 * raw-JSON navigation helpers the extractors share. Everything reads validated spans of an
 * event scanned by ka_event_scan(), so nothing here validates again.
 */
#include <stdio.h>
#include <string.h>

#include "fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

static int push(struct ka_dctx *c, const char *p, size_t n)
{
    if (c->sn >= KA_DFIELD_MAX_VALUES) {
        c->dropped++;
        return KA_OK;
    }
    c->sv[c->sn] = p;
    c->sl[c->sn] = n;
    c->sn++;
    return KA_OK;
}

int ka__dv_bytes(struct ka_dctx *c, const char *p, size_t n)
{
    if (c->sn >= KA_DFIELD_MAX_VALUES) {
        c->dropped++;
        return KA_OK;
    }
    char *d = ka__dctx_alloc(c, n + 1);
    if (!d)
        return KA_ENOMEM;
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return push(c, d, n);
}

int ka__dv_cstr(struct ka_dctx *c, const char *s)
{
    return ka__dv_bytes(c, s, strlen(s));
}

int ka__dv_str(struct ka_dctx *c, struct ka_str s)
{
    if (!s.set)
        return KA_OK;
    if (!s.esc)
        return ka__dv_bytes(c, s.p, s.n);
    if (c->sn >= KA_DFIELD_MAX_VALUES) {
        c->dropped++;
        return KA_OK;
    }
    char *d = ka__dctx_alloc(c, (size_t)s.n + 1);
    if (!d)
        return KA_ENOMEM;
    size_t n = ka_str_decode(s, d);
    d[n] = '\0';
    return push(c, d, n);
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

char *ka__compact(struct ka_dctx *c, struct ka_raw v, size_t *n)
{
    char *d = ka__dctx_alloc(c, (size_t)v.n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    bool in_str = false;
    for (uint32_t i = 0; i < v.n; i++) {
        char ch = v.p[i];
        if (in_str) {
            d[o++] = ch;
            if (ch == '\\' && i + 1 < v.n)
                d[o++] = v.p[++i];
            else if (ch == '"')
                in_str = false;
        } else if (!is_ws(ch)) {
            d[o++] = ch;
            in_str = ch == '"';
        }
    }
    d[o] = '\0';
    *n = o;
    return d;
}

int ka__dv_json(struct ka_dctx *c, struct ka_raw v)
{
    if (!v.p)
        return KA_OK;
    switch (ka_json_type_of(v.p, v.n)) {
    case KA_JSON_STRING:
        return ka__dv_str(c, ka_str_from_raw(v.p, v.n));
    case KA_JSON_ARRAY:
    case KA_JSON_OBJECT: {
        if (c->sn >= KA_DFIELD_MAX_VALUES) {
            c->dropped++;
            return KA_OK;
        }
        size_t n = 0;
        char *d = ka__compact(c, v, &n);
        return d ? push(c, d, n) : KA_ENOMEM;
    }
    case KA_JSON_NONE:
        return KA_OK;
    default: {
        uint32_t n = v.n;
        while (n && is_ws(v.p[n - 1]))
            n--;
        return ka__dv_bytes(c, v.p, n);
    }
    }
}

/* Decimal digits of v, written backwards from end; returns where they start. (snprintf costs
   more than the rest of a response code's extraction.) */
static char *u64_digits(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

int ka__dv_u64(struct ka_dctx *c, uint64_t v)
{
    char b[24];
    const char *p = u64_digits(v, b + sizeof b);
    return ka__dv_bytes(c, p, (size_t)(b + sizeof b - p));
}

int ka__dv_i64(struct ka_dctx *c, int64_t v)
{
    char b[24];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_digits(mag, b + sizeof b);
    if (v < 0)
        *--p = '-';
    return ka__dv_bytes(c, p, (size_t)(b + sizeof b - p));
}

/* ---- navigation ---- */

bool ka__is_obj(struct ka_raw v)
{
    return v.p && v.n && v.p[0] == '{';
}

bool ka__is_arr(struct ka_raw v)
{
    return v.p && v.n && v.p[0] == '[';
}

bool ka__is_null(struct ka_raw v)
{
    return v.p && v.n && v.p[0] == 'n';
}

bool ka__getn(struct ka_raw o, const char *key, size_t n, struct ka_raw *out)
{
    if (!ka__is_obj(o))
        return false;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    ka_json_iter_init(&it, o);
    while (ka_json_iter_member(&it, &k, &v)) {
        bool eq = k.esc ? ka_str_eq(k, key, n) : (k.n == n && memcmp(k.p, key, n) == 0);
        if (eq) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool ka__get(struct ka_raw o, const char *key, struct ka_raw *out)
{
    return ka__getn(o, key, strlen(key), out);
}

bool ka__getd(struct ka_raw o, const char *dotted, struct ka_raw *out)
{
    const char *p = dotted;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!ka__getn(o, p, n, &o))
            return false;
        p += n;
        if (*p == '.')
            p++;
    }
    *out = o;
    return true;
}

bool ka__at(struct ka_raw a, size_t idx, struct ka_raw *out)
{
    if (!ka__is_arr(a))
        return false;
    struct ka_json_iter it;
    struct ka_raw v;
    size_t i = 0;
    ka_json_iter_init(&it, a);
    while (ka_json_iter_elem(&it, &v)) {
        if (i++ == idx) {
            *out = v;
            return true;
        }
    }
    return false;
}

struct ka_str ka__get_str(struct ka_raw o, const char *key)
{
    struct ka_str s = {0};
    struct ka_raw v;
    if (ka__get(o, key, &v) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        s = ka_str_from_raw(v.p, v.n);
    return s;
}

struct ka_str ka__annotation(const struct ka_event *ev, const char *key)
{
    return ka__get_str(ev->annotations, key);
}
