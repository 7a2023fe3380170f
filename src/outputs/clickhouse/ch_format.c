/*
 * ch_format.c - one audit event as one ClickHouse JSONEachRow row: the typed columns of the
 * schema (ch_schema.c) read from the event's scan, plus the raw event as a string.
 *
 * Strings are copied still escaped: the event's JSON escapes are valid in JSONEachRow too.
 * Times: `time` (DateTime, seconds) and `time_us` come from requestReceivedTimestamp (or
 * stageTimestamp when it is missing), `stage_time_us` from stageTimestamp; 0 when absent.
 *
 * The row is the bulk of the forwarding CPU, so it is written with few calls: literal keys,
 * integers without printf, and the raw event escaped eight bytes at a time (only '"', '\' and
 * control bytes need an escape inside a JSON string; the server decodes any valid escaping
 * to the same bytes, so the stored column is the event line exactly).
 */
#include <stdint.h>
#include <string.h>

#include "ch.h"
#include "kaudit/json.h"
#include "kaudit/jsonw.h"

#define LIT(b, s) ka_buf_append((b), (s), sizeof(s) - 1)

/* ,"key":"<escaped string as it is in the event>" (key given with its punctuation). */
static int put_str(struct ka_buf *b, const char *keylit, size_t keylen, struct ka_str s)
{
    int rc = ka_buf_reserve(b, keylen + (s.set ? s.n : 0) + 1);
    if (rc) return rc;
    memcpy(b->p + b->n, keylit, keylen);
    b->n += keylen;
    if (s.set && s.n) {
        memcpy(b->p + b->n, s.p, s.n);
        b->n += s.n;
    }
    b->p[b->n++] = '"';
    return KA_OK;
}

#define PUT_STR(b, key, s) put_str((b), ",\"" key "\":\"", sizeof(",\"" key "\":\"") - 1, (s))

/* An array of strings: as it is when it holds no whitespace byte (then it is compact already),
   else compacted; [] when absent. */
static int put_arr(struct ka_buf *b, const char *keylit, size_t keylen, struct ka_raw r)
{
    int rc = ka_buf_append(b, keylit, keylen);
    if (rc || !r.p) return rc ? rc : LIT(b, "[]");
    for (size_t i = 0; i < r.n; i++)
        if (r.p[i] == ' ' || r.p[i] == '\n' || r.p[i] == '\r' || r.p[i] == '\t')
            return ka_jw_compact(b, r.p, r.n);
    return ka_buf_append(b, r.p, r.n);
}

#define PUT_ARR(b, key, r) put_arr((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (r))

/* Appends the decimal form of v (no sign handling needed beyond '-'). */
static int put_int(struct ka_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    return ka_buf_append(b, tmp + i, sizeof tmp - i);
}

static int64_t us_of(const struct ka_time *t)
{
    return t->set ? t->sec * 1000000 + t->nsec / 1000 : 0;
}

/* The authorization decision annotation ("allow" / "forbid"), or an unset string. */
static struct ka_str decision_of(const struct ka_event *ev)
{
    struct ka_str none = {0};
    if (!ev->annotations.p) return none;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    ka_json_iter_init(&it, ev->annotations);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, "authorization.k8s.io/decision", 29) && v.p && v.p[0] == '"')
            return ka_str_from_raw(v.p, v.n);
    return none;
}

/* Eight bytes that hold a '"', a '\' or a byte below 0x20 give a non-zero result. */
static uint64_t special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t zq = (q - ones) & ~q, zb = (bs - ones) & ~bs, lo = x - ones * 0x20;
    return ((zq | zb | lo) & ~x & high);
}

/* Writes byte c escaped at d; returns the bytes written. */
static size_t esc_byte(char *d, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        d[0] = '\\';
        d[1] = (char)c;
        return 2;
    }
    if (c >= 0x20) {
        d[0] = (char)c;
        return 1;
    }
    memcpy(d, "\\u00", 4);
    d[4] = hex[c >> 4];
    d[5] = hex[c & 15];
    return 6;
}

/* "s" as a JSON string (non-ASCII bytes as they are). */
static int put_raw(struct ka_buf *b, const char *s, size_t n)
{
    if (n > (SIZE_MAX - 8) / 6) return KA_ETOOBIG;
    int rc = ka_buf_reserve(b, 6 * n + 2);
    if (rc) return rc;
    char *d = b->p + b->n;
    *d++ = '"';
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (!special8(x)) {
            memcpy(d, &x, 8);
            d += 8;
            i += 8;
            continue;
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* The lowest flagged byte is a real one (false flags only follow a real one). */
        size_t k = (size_t)__builtin_ctzll(special8(x)) / 8;
        memcpy(d, &x, 8);
        d += k;
        d += esc_byte(d, (unsigned char)s[i + k]);
        i += k + 1;
#else
        for (size_t k = 0; k < 8; k++) d += esc_byte(d, (unsigned char)s[i + k]);
        i += 8;
#endif
    }
    for (; i < n; i++) d += esc_byte(d, (unsigned char)s[i]);
    *d++ = '"';
    b->n = (size_t)(d - b->p);
    return KA_OK;
}

/* {"time":..,"time_us":..,"stage_time_us":.. */
static int put_times(struct ka_buf *b, const struct ka_event *ev)
{
    const struct ka_time *rt = ev->requestReceivedTimestamp.set ? &ev->requestReceivedTimestamp
                                                                 : &ev->stageTimestamp;
    int rc = LIT(b, "{\"time\":");
    rc = rc ? rc : put_int(b, rt->set ? rt->sec : 0);
    rc = rc ? rc : LIT(b, ",\"time_us\":");
    rc = rc ? rc : put_int(b, us_of(rt));
    rc = rc ? rc : LIT(b, ",\"stage_time_us\":");
    return rc ? rc : put_int(b, us_of(&ev->stageTimestamp));
}

int ka_ch_row(const struct ka_out_event *e, const char *cluster, struct ka_buf *b)
{
    const struct ka_event *ev = e->ev;
    const struct ka_objref *o = &ev->objectRef;
    int rc = put_times(b, ev);
    rc = rc ? rc : PUT_STR(b, "stage", ev->stage);
    rc = rc ? rc : PUT_STR(b, "level", ev->level);
    rc = rc ? rc : PUT_STR(b, "audit_id", ev->auditID);
    rc = rc ? rc : PUT_STR(b, "verb", ev->verb);
    rc = rc ? rc : PUT_STR(b, "user", ev->user.username);
    rc = rc ? rc : PUT_ARR(b, "groups", ev->user.groups);
    rc = rc ? rc : PUT_STR(b, "api_group", o->apiGroup);
    rc = rc ? rc : PUT_STR(b, "resource", o->resource);
    rc = rc ? rc : PUT_STR(b, "subresource", o->subresource);
    rc = rc ? rc : PUT_STR(b, "namespace", o->namespace_);
    rc = rc ? rc : PUT_STR(b, "name", o->name);
    int code = ev->responseStatus.has_code ? ev->responseStatus.code : 0;
    if (code < 0 || code > 65535) code = 0;
    rc = rc ? rc : LIT(b, ",\"code\":");
    rc = rc ? rc : put_int(b, code);
    rc = rc ? rc : PUT_STR(b, "decision", decision_of(ev));
    rc = rc ? rc : PUT_ARR(b, "source_ips", ev->sourceIPs);
    rc = rc ? rc : PUT_STR(b, "user_agent", ev->userAgent);
    rc = rc ? rc : LIT(b, ",\"cluster\":");
    rc = rc ? rc : ka_jw_str(b, cluster, strlen(cluster));
    rc = rc ? rc : LIT(b, ",\"raw\":");
    rc = rc ? rc : put_raw(b, e->line, e->len);
    return rc ? rc : LIT(b, "}\n");
}
