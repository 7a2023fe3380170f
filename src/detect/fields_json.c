/*
 * fields_json.c - extractors of the json plugin's fields (jevt.value / json.value with an
 * RFC 6901 pointer, jevt.obj / json.obj, jevt.rawtime / json.rawtime), the generic evt.* fields
 * (time from stageTimestamp, else requestReceivedTimestamp), and the kaudit.* fields that are not
 * about pod specs: exec argv, cluster, secret type and TokenRequest helpers.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/jsonw.h"

/* Decodes one pointer token [p, p+n) (~1 -> '/', ~0 -> '~') into out. */
static size_t ptr_token(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '~' && i + 1 < n) {
            out[o++] = p[i + 1] == '1' ? '/' : '~';
            i++;
        } else {
            out[o++] = p[i];
        }
    }
    return o;
}

static bool array_index(const char *t, size_t n, size_t *idx)
{
    size_t v = 0;
    if (n == 0 || n > 9 || (n > 1 && t[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return false;
        v = v * 10 + (size_t)(t[i] - '0');
    }
    *idx = v;
    return true;
}

/*
 * Fast path for the first pointer token: a top-level member the event scanner already indexed
 * (so the event is not scanned again). Returns 1 with *cur set (or *str for a string member),
 * 0 when the token is not indexed here, -1 when the member is absent.
 */
static int top_member(const struct ka_event *ev, const char *t, size_t n, struct ka_raw *cur,
                      struct ka_str *str)
{
    static const struct {
        const char *name;
        size_t off;
        bool raw;
    } k_members[] = {
        {"requestObject", offsetof(struct ka_event, requestObject), true},
        {"responseObject", offsetof(struct ka_event, responseObject), true},
        {"annotations", offsetof(struct ka_event, annotations), true},
        {"sourceIPs", offsetof(struct ka_event, sourceIPs), true},
        {"stage", offsetof(struct ka_event, stage), false},
        {"verb", offsetof(struct ka_event, verb), false},
        {"auditID", offsetof(struct ka_event, auditID), false},
        {"requestURI", offsetof(struct ka_event, requestURI), false},
        {"userAgent", offsetof(struct ka_event, userAgent), false},
        {"level", offsetof(struct ka_event, level), false},
    };
    for (size_t i = 0; i < sizeof k_members / sizeof k_members[0]; i++) {
        if (strlen(k_members[i].name) != n || memcmp(k_members[i].name, t, n) != 0)
            continue;
        const char *base = (const char *)ev + k_members[i].off;
        if (k_members[i].raw) {
            memcpy(cur, base, sizeof *cur);
            return cur->p ? 1 : -1;
        }
        memcpy(str, base, sizeof *str);
        return str->set ? 1 : -1;
    }
    return 0;
}

int ka__x_jvalue(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw cur = c->ev->raw;
    char tok[KA_DFIELD_MAX_ARG + 1];
    const char *p = f->arg, *end = f->arg + strlen(f->arg);
    (void)d;
    if (p < end) {
        const char *e = memchr(p + 1, '/', (size_t)(end - p - 1));
        struct ka_str str = {0};
        struct ka_raw top = {0};
        int r = top_member(c->ev, p + 1, (size_t)((e ? e : end) - p - 1), &top, &str);
        if (r < 0 || (r > 0 && str.set && e))
            return KA_OK;
        if (r > 0 && str.set)
            return ka__dv_str(c, str);
        if (r > 0) {
            cur = top;
            p = e ? e : end;
        }
    }
    while (p < end) {
        p++; /* the '/' */
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (!e)
            e = end;
        size_t n = ptr_token(p, (size_t)(e - p), tok), idx;
        if (ka__is_obj(cur)) {
            if (!ka__getn(cur, tok, n, &cur))
                return KA_OK;
        } else if (ka__is_arr(cur)) {
            if (!array_index(tok, n, &idx) || !ka__at(cur, idx, &cur))
                return KA_OK;
        } else {
            return KA_OK;
        }
        p = e;
    }
    return ka__dv_json(c, cur);
}

int ka__x_jobj(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)f;
    (void)d;
    return ka__dv_json(c, c->ev->raw);
}

static const struct ka_time *event_time(const struct ka_event *ev)
{
    if (ev->stageTimestamp.set)
        return &ev->stageTimestamp;
    if (ev->requestReceivedTimestamp.set)
        return &ev->requestReceivedTimestamp;
    return NULL;
}

/* Formats a UTC time: kind 0 HH:MM:SS, 1 ISO 8601 with ns, 2 date time with ns, 3 date time. */
static int emit_time_text(struct ka_dctx *c, const struct ka_time *t, int kind)
{
    int64_t days = t->sec / 86400, rem = t->sec % 86400, y;
    unsigned m, dd;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    ka_civil_from_days(days, &y, &m, &dd);
    int hh = (int)(rem / 3600), mi = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    char b[64];
    int n;
    if (kind == 0)
        n = snprintf(b, sizeof b, "%02d:%02d:%02d", hh, mi, ss);
    else if (kind == 1)
        n = snprintf(b, sizeof b, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%09dZ", y, m, dd, hh, mi,
                     ss, (int)t->nsec);
    else if (kind == 2)
        n = snprintf(b, sizeof b, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%09d", y, m, dd, hh, mi,
                     ss, (int)t->nsec);
    else
        n = snprintf(b, sizeof b, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d", y, m, dd, hh, mi, ss);
    return ka__dv_bytes(c, b, n > 0 ? (size_t)n : 0);
}

static int emit_time(struct ka_dctx *c, int which)
{
    const struct ka_time *t = event_time(c->ev);
    if (!t)
        return KA_OK;
    int64_t ns = t->sec * 1000000000LL + t->nsec, rel = ns - c->t0_ns;
    switch (which) {
    case KA__E_TIME:
    case KA__E_RAW:
    case KA__E_JRAWTIME: return ka__dv_i64(c, ns);
    case KA__E_TIME_S: return emit_time_text(c, t, 0);
    case KA__E_ISO: return emit_time_text(c, t, 1);
    case KA__E_DT: return emit_time_text(c, t, 2);
    case KA__E_DT_S: return emit_time_text(c, t, 3);
    case KA__E_RAW_S: return ka__dv_i64(c, t->sec);
    case KA__E_RAW_NS: return ka__dv_i64(c, t->nsec);
    case KA__E_REL: return ka__dv_i64(c, rel);
    case KA__E_REL_S: return ka__dv_i64(c, rel / 1000000000LL);
    default: return ka__dv_i64(c, rel % 1000000000LL);
    }
}

int ka__x_evt(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)f;
    switch (d->p) {
    case KA__E_NUM: return ka__dv_u64(c, c->evt_num);
    case KA__E_PLUGIN: return ka__dv_cstr(c, "k8saudit");
    case KA__E_SOURCE: return ka__dv_cstr(c, "k8s_audit");
    case KA__E_ASYNC: return ka__dv_cstr(c, "false");
    case KA__E_PINFO:
    case KA__E_ATYPE: return KA_OK;
    case KA__E_HOST: return c->hostname ? ka__dv_cstr(c, c->hostname) : KA_OK;
    default: return emit_time(c, d->p);
    }
}

static bool is_exec(const struct ka_event *ev)
{
    struct ka_str sub = ev->objectRef.subresource;
    return ka_str_eq(ev->objectRef.resource, "pods", 4) &&
           (ka_str_eq(sub, "exec", 4) || ka_str_eq(sub, "attach", 6));
}

int ka__x_kexec(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    if (!is_exec(c->ev))
        return KA_OK;
    bool one = d->p == 1 && f->has_arg;
    size_t max = one ? (size_t)f->index + 1 : KA_DFIELD_MAX_VALUES;
    int rc = ka__uri_params(c, "command", 7, max);
    if (rc == KA_OK && one) {
        /* [N]: keep only the N-th value, if there are that many */
        if (c->sn == max) {
            c->sv[0] = c->sv[max - 1];
            c->sl[0] = c->sl[max - 1];
            c->sn = 1;
        } else
            c->sn = 0;
        return KA_OK;
    }
    if (rc != KA_OK || d->p == 1 || c->sn == 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < c->sn; i++)
        total += c->sl[i] + 1;
    char *b = ka__dctx_alloc(c, total);
    if (!b)
        return KA_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < c->sn; i++) {
        if (i)
            b[o++] = ' ';
        memcpy(b + o, c->sv[i], c->sl[i]);
        o += c->sl[i];
    }
    c->sn = 0;
    return ka__dv_bytes(c, b, o);
}

static bool is_token_request(const struct ka_event *ev)
{
    return ka_str_eq(ev->objectRef.resource, "serviceaccounts", 15) &&
           ka_str_eq(ev->objectRef.subresource, "token", 5) && ev->objectRef.name.set;
}

/* "namespace:name" of the objectRef into the arena; NULL when out of memory. */
static char *ns_name(struct ka_dctx *c, const char *prefix, size_t *len)
{
    const struct ka_objref *r = &c->ev->objectRef;
    size_t pn = strlen(prefix);
    char *b = ka__dctx_alloc(c, pn + r->namespace_.n + r->name.n + 2);
    if (!b)
        return NULL;
    memcpy(b, prefix, pn);
    size_t n = pn + (r->namespace_.set ? ka_str_decode(r->namespace_, b + pn) : 0);
    b[n++] = ':';
    n += ka_str_decode(r->name, b + n);
    *len = n;
    return b;
}

int ka__x_kmisc(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    const struct ka_event *ev = c->ev;
    struct ka_raw v;
    size_t n = 0;
    (void)f;
    switch (d->p) {
    case KA__K_CLUSTER:
        return ka__dv_str(c, ka__annotation(ev, "kaudit.io/cluster"));
    case KA__K_SECRET_TYPE:
        if (!ka_str_eq(ev->objectRef.resource, "secrets", 7) ||
            !ka__get(ev->requestObject, "type", &v))
            return KA_OK;
        return ka__dv_json(c, v);
    case KA__K_TARGET_REF: {
        const struct ka_objref *r = &ev->objectRef;
        if (!r->name.set)
            return KA_OK;
        char *b = ka__dctx_alloc(c, (size_t)r->resource.n + r->namespace_.n + r->name.n + 3);
        if (!b)
            return KA_ENOMEM;
        n = r->resource.set ? ka_str_decode(r->resource, b) : 0;
        b[n++] = '/';
        if (r->namespace_.set && r->namespace_.n) {
            n += ka_str_decode(r->namespace_, b + n);
            b[n++] = '/';
        }
        n += ka_str_decode(r->name, b + n);
        return ka__dv_bytes(c, b, n);
    }
    case KA__K_TR_SA: {
        if (!is_token_request(ev))
            return KA_OK;
        char *b = ns_name(c, "", &n);
        return b ? ka__dv_bytes(c, b, n) : KA_ENOMEM;
    }
    default: {
        if (!is_token_request(ev))
            return KA_OK;
        char *b = ns_name(c, "system:serviceaccount:", &n);
        if (!b)
            return KA_ENOMEM;
        /* usernames are system:serviceaccount:<ns>:<name> */
        bool self = ev->user.username.set && ka_str_eq(ev->user.username, b, n);
        return ka__dv_cstr(c, self ? "true" : "false");
    }
    }
}
