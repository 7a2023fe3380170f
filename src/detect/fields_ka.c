/*
 * fields_ka.c - extractors of Falco's k8saudit ka.* fields other than the container families:
 * event members, annotations, request-object paths and lists, binding subjects, role rules,
 * volumes, query parameters of requestURI and sourceIPs.
 */
#include <string.h>

#include "fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

static struct ka_str top_str(const struct ka_event *ev, int which)
{
    struct ka_str none = {0};
    switch (which) {
    case KA__T_AUDITID: return ev->auditID;
    case KA__T_STAGE: return ev->stage;
    case KA__T_USER: return ev->user.username;
    case KA__T_IMPUSER: return ev->impersonatedUser.username;
    case KA__T_VERB: return ev->verb;
    case KA__T_URI: return ev->requestURI;
    case KA__T_TNAME: return ev->objectRef.name;
    case KA__T_TNS: return ev->objectRef.namespace_;
    case KA__T_TRES: return ev->objectRef.resource;
    case KA__T_TSUB: return ev->objectRef.subresource;
    case KA__T_REASON: return ev->responseStatus.reason;
    case KA__T_UA: return ev->userAgent;
    default: return none;
    }
}

/* Emits every element of array a (or only element idx when idx >= 0). */
static int emit_elems(struct ka_dctx *c, struct ka_raw a, long idx)
{
    struct ka_json_iter it;
    struct ka_raw v;
    long i = 0;
    if (!ka__is_arr(a))
        return KA_OK;
    ka_json_iter_init(&it, a);
    while (ka_json_iter_elem(&it, &v)) {
        if (idx < 0 || i == idx) {
            int rc = ka__dv_json(c, v);
            if (rc != KA_OK || idx >= 0)
                return rc;
        }
        i++;
    }
    return KA_OK;
}

int ka__x_top(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    const struct ka_event *ev = c->ev;
    (void)f;
    if (d->p == KA__T_GROUPS)
        return emit_elems(c, ev->user.groups, -1);
    if (d->p == KA__T_CODE)
        return ev->responseStatus.has_code ? ka__dv_i64(c, ev->responseStatus.code) : KA_OK;
    return ka__dv_str(c, top_str(ev, d->p));
}

int ka__x_annot(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)f;
    return ka__dv_str(c, ka__annotation(c->ev, d->key));
}

int ka__x_rpath(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw v;
    (void)f;
    if (!ka__getd(c->ev->requestObject, d->key, &v))
        return KA_OK;
    return ka__dv_json(c, v);
}

int ka__x_rlist(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw v;
    if (!ka__getd(c->ev->requestObject, d->key, &v))
        return KA_OK;
    return emit_elems(c, v, f->has_arg ? f->index : -1);
}

int ka__x_subjects(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw subs, s;
    struct ka_json_iter it;
    (void)f;
    if (!ka__get(c->ev->requestObject, "subjects", &subs) || !ka__is_arr(subs))
        return KA_OK;
    ka_json_iter_init(&it, subs);
    while (ka_json_iter_elem(&it, &s)) {
        struct ka_str kind = ka__get_str(s, "kind");
        if (!kind.set || !ka_str_eq(kind, d->key, strlen(d->key)))
            continue;
        struct ka_str name = ka__get_str(s, "name");
        if (!name.set)
            continue;
        int rc;
        if (d->p == 0) {
            rc = ka__dv_str(c, name);
        } else {
            struct ka_str ns = ka__get_str(s, "namespace");
            char *b = ka__dctx_alloc(c, (size_t)ns.n + name.n + 2);
            if (!b)
                return KA_ENOMEM;
            size_t n = ns.set ? ka_str_decode(ns, b) : 0;
            b[n++] = ':';
            n += ka_str_decode(name, b + n);
            rc = ka__dv_bytes(c, b, n);
        }
        if (rc != KA_OK)
            return rc;
    }
    return KA_OK;
}

int ka__x_rules(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw rules, r, v;
    struct ka_json_iter it;
    long i = 0, idx = f->has_arg ? f->index : -1;
    if (!ka__get(c->ev->requestObject, "rules", &rules) || !ka__is_arr(rules))
        return KA_OK;
    ka_json_iter_init(&it, rules);
    while (ka_json_iter_elem(&it, &r)) {
        if ((idx < 0 || i == idx) && ka__get(r, d->key, &v)) {
            int rc = emit_elems(c, v, -1);
            if (rc != KA_OK)
                return rc;
        }
        i++;
    }
    return KA_OK;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Go's QueryUnescape of [p, p+n) into out (room for n bytes). Returns -1 on a bad escape. */
static long query_unescape(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            out[o++] = ' ';
        } else if (p[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    return (long)o;
}

/* Handles one key=value pair of a query; emits the value when the key matches. */
static int query_pair(struct ka_dctx *c, const char *p, size_t n, const char *key, size_t keylen,
                      char *tmp, bool *hit)
{
    *hit = false;
    if (memchr(p, ';', n))
        return KA_OK; /* Go refuses such pairs */
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    long k = query_unescape(p, kn, tmp);
    if (k < 0 || (size_t)k != keylen || memcmp(tmp, key, keylen) != 0)
        return KA_OK;
    const char *vp = eq ? eq + 1 : p + n;
    size_t vn = (size_t)(p + n - vp);
    long v = query_unescape(vp, vn, tmp);
    if (v < 0)
        return KA_OK;
    *hit = true;
    return ka__dv_bytes(c, tmp, (size_t)v);
}

int ka__uri_params(struct ka_dctx *c, const char *key, size_t keylen, size_t max)
{
    struct ka_str u = c->ev->requestURI;
    if (!u.set || max == 0)
        return KA_OK;
    char *uri = ka__dctx_alloc(c, (size_t)u.n * 2 + 2);
    if (!uri)
        return KA_ENOMEM;
    size_t n = ka_str_decode(u, uri);
    char *tmp = uri + n + 1;
    const char *hash = memchr(uri, '#', n);
    if (hash)
        n = (size_t)(hash - uri);
    const char *q = memchr(uri, '?', n);
    if (!q)
        return KA_OK;
    const char *p = q + 1, *end = uri + n;
    size_t found = 0;
    while (p < end && found < max) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if (e > p) {
            bool hit;
            int rc = query_pair(c, p, (size_t)(e - p), key, keylen, tmp, &hit);
            if (rc != KA_OK)
                return rc;
            found += hit;
        }
        p = e + 1;
    }
    return KA_OK;
}

int ka__x_uriparam(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)d;
    return ka__uri_params(c, f->arg, strlen(f->arg), 1);
}

int ka__x_hasname(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)f;
    (void)d;
    return ka__dv_cstr(c, "true");
}

static int volume_values(struct ka_dctx *c, struct ka_raw vol, int what)
{
    struct ka_raw v;
    if (what == 0)
        return ka__getd(vol, "hostPath.path", &v) ? ka__dv_json(c, v) : KA_OK;
    if (what == 1)
        return ka__getd(vol, "flexVolume.driver", &v) ? ka__dv_json(c, v) : KA_OK;
    if (!ka__is_obj(vol))
        return KA_OK;
    struct ka_json_iter it;
    struct ka_str k;
    ka_json_iter_init(&it, vol);
    while (ka_json_iter_member(&it, &k, &v)) {
        if (ka_str_eq(k, "name", 4))
            continue;
        int rc = ka__dv_str(c, k);
        if (rc != KA_OK)
            return rc;
    }
    return KA_OK;
}

int ka__x_volumes(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw vols, v;
    struct ka_json_iter it;
    long i = 0, idx = f->has_arg ? f->index : -1;
    if (!ka__getd(c->ev->requestObject, "spec.volumes", &vols) || !ka__is_arr(vols))
        return KA_OK;
    ka_json_iter_init(&it, vols);
    while (ka_json_iter_elem(&it, &v)) {
        if (idx < 0 || i == idx) {
            int rc = volume_values(c, v, d->p);
            if (rc != KA_OK)
                return rc;
        }
        i++;
    }
    return KA_OK;
}

int ka__x_volhost(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw vols, v, path;
    struct ka_json_iter it;
    (void)d;
    if (!ka__getd(c->ev->requestObject, "spec.volumes", &vols) || !ka__is_arr(vols))
        return KA_OK;
    size_t an = strlen(f->arg);
    bool prefix = an && f->arg[an - 1] == '*';
    ka_json_iter_init(&it, vols);
    while (ka_json_iter_elem(&it, &v)) {
        if (!ka__getd(v, "hostPath.path", &path) ||
            ka_json_type_of(path.p, path.n) != KA_JSON_STRING)
            continue;
        struct ka_str s = ka_str_from_raw(path.p, path.n);
        char *b = ka__dctx_alloc(c, (size_t)s.n + 1);
        if (!b)
            return KA_ENOMEM;
        size_t n = ka_str_decode(s, b);
        if ((prefix && n >= an - 1 && memcmp(b, f->arg, an - 1) == 0) ||
            (n == an && memcmp(b, f->arg, an) == 0))
            return ka__dv_cstr(c, "true");
    }
    return ka__dv_cstr(c, "false");
}

int ka__x_podname(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    const struct ka_event *ev = c->ev;
    struct ka_raw v;
    (void)f;
    if (d->p == 0 && (!ka_str_eq(ev->objectRef.resource, "pods", 4) ||
                      (ev->objectRef.subresource.set && ev->objectRef.subresource.n)))
        return KA_OK;
    if (!ka__getd(ev->responseObject, "metadata.name", &v))
        return KA_OK;
    return ka__dv_json(c, v);
}

int ka__x_sourceips(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    (void)d;
    return emit_elems(c, c->ev->sourceIPs, f->has_arg ? f->index : -1);
}
