/*
 * redact_walk.c - the JSON-to-JSON rewriter of the redactor: walks validated JSON with a set of
 * partially matched paths and node flags, records the values to replace (in document order),
 * and writes the text again with the replacements applied. Also handles the JSON text held in
 * kubectl.kubernetes.io/last-applied-configuration and JSON Patch bodies sent to Secrets.
 */
#include <stdlib.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "redact_int.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
/* Deepest JSON nesting walked (the scanner's default maximum, with room for configured ones). */
#define MAX_WALK_DEPTH 4096u

enum { ROLE_NONE = 0, ROLE_META = 1, ROLE_ANN = 2 };

/* The object whose metadata.annotations is being walked, for last-applied-configuration. */
struct owner {
    const struct ka__pset *ps;
    unsigned flags;
    int role;
};

static void walk_value(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps,
                       unsigned flags, const struct owner *own, unsigned depth);

bool ka__rd_key_is(struct ka_str k, const char *lit)
{
    return ka_str_eq(k, lit, strlen(lit));
}

int ka__rd_rep_push(struct ka__rw *rw, const char *p, size_t n, size_t toff, size_t tn)
{
    if (rw->n == rw->cap) {
        size_t cap = rw->cap ? rw->cap * 2 : 16;
        struct ka__rep *v = realloc(rw->v, cap * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        rw->v = v;
        rw->cap = cap;
    }
    rw->v[rw->n++] = (struct ka__rep){(size_t)(p - rw->base), n, toff, tn};
    return KA_OK;
}

int ka__rd_rep_add(struct ka__rw *rw, const char *p, size_t n, const char *text, size_t tn)
{
    size_t toff = rw->texts->n;
    int rc = ka_buf_append(rw->texts, text, tn);
    return rc ? rc : ka__rd_rep_push(rw, p, n, toff, tn);
}

static void fail(struct ka__rw *rw, int rc)
{
    if (rc && !rw->err)
        rw->err = rc;
}

void ka__rd_redact_value(struct ka__rw *rw, struct ka_raw v)
{
    enum ka_json_type t = ka_json_type_of(v.p, v.n);
    struct ka_buf tmp;
    char q[KA_REDACT_MARKER_LEN + 2];
    int rc;
    if (t == KA_JSON_NULL || t == KA_JSON_NONE || (t == KA_JSON_STRING && v.n == 2))
        return;
    ka_buf_init(&tmp, 0);
    if (t == KA_JSON_STRING)
        rc = ka_str_decode_buf(ka_str_from_raw(v.p, v.n), &tmp);
    else
        rc = ka_jw_compact(&tmp, v.p, v.n);
    if (!rc) {
        q[0] = '"';
        ka_redact_marker(tmp.p ? tmp.p : "", tmp.n, q + 1);
        q[KA_REDACT_MARKER_LEN + 1] = '"';
        rc = ka__rd_rep_add(rw, v.p, v.n, q, sizeof q);
    }
    ka_buf_free(&tmp);
    fail(rw, rc);
}

int ka__rd_emit(const struct ka__rw *rw, size_t n, struct ka_buf *out)
{
    size_t pos = 0, i;
    int rc = KA_OK;
    for (i = 0; i < rw->n && !rc; i++) {
        const struct ka__rep *x = &rw->v[i];
        if (x->off < pos) /* overlapping: the earlier, outer replacement already covers it */
            continue;
        rc = ka_buf_append(out, rw->base + pos, x->off - pos);
        if (!rc)
            rc = ka_buf_append(out, rw->texts->p + x->toff, x->tn);
        pos = x->off + x->n;
    }
    if (!rc)
        rc = ka_buf_append(out, rw->base + pos, n - pos);
    return rc;
}

static void pset_add(struct ka__rw *rw, struct ka__pset *s, const struct ka__path *p, size_t i)
{
    if (s->n == KA__RD_MAX_ACTIVE) {
        fail(rw, KA_ETOOBIG);
        return;
    }
    s->p[s->n] = p;
    s->i[s->n++] = (unsigned char)i;
}

/* Advances every state over an object key (key set) or an array index; *done = one ended. */
static void advance(struct ka__rw *rw, const struct ka__pset *ps, const struct ka_str *key,
                    struct ka__pset *out, bool *done)
{
    size_t j;
    out->n = 0;
    *done = false;
    for (j = 0; j < ps->n; j++) {
        const struct ka__seg *s = &ps->p[j]->segs[ps->i[j]];
        bool m = key ? (s->kind == KA__SEG_ANYKEY ||
                        (s->kind == KA__SEG_KEY && ka_str_eq(*key, s->name, s->n)))
                     : s->kind == KA__SEG_ANYIDX;
        if (!m)
            continue;
        if ((size_t)ps->i[j] + 1 == ps->p[j]->n)
            *done = true;
        else
            pset_add(rw, out, ps->p[j], (size_t)ps->i[j] + 1);
    }
}

static bool is_container(struct ka_raw v)
{
    enum ka_json_type t = ka_json_type_of(v.p, v.n);
    return t == KA_JSON_OBJECT || t == KA_JSON_ARRAY;
}

static bool contains(const char *p, size_t n, const char *lit)
{
    return memmem(p, n, lit, strlen(lit)) != NULL;
}

/* Rewrites the last-applied-configuration string v of the owner own. */
static void last_applied(struct ka__rw *rw, struct ka_raw v, const struct owner *own)
{
    struct ka_buf dec, res;
    struct ka_json_err je;
    struct ka__rw in;
    const char *s, *e;
    size_t toff;
    int rc;
    bool secret = (own->flags & (KA__F_SECRET | KA__F_ITEMS_SECRET)) != 0;
    ka_buf_init(&dec, 0);
    ka_buf_init(&res, 0);
    memset(&in, 0, sizeof in);
    rc = ka_str_decode_buf(ka_str_from_raw(v.p, v.n), &dec);
    if (rc || !dec.n)
        goto out;
    if (rw->nest >= KA_REDACT_MAX_NEST ||
        ka_json_validate(dec.p, dec.n, KA_JSON_DEFAULT_MAX_DEPTH, &je) != KA_OK) {
        if (secret) /* cannot look inside: hide it whole */
            ka__rd_redact_value(rw, v);
        goto out;
    }
    in.r = rw->r;
    in.base = dec.p;
    in.texts = rw->texts;
    in.nest = rw->nest + 1;
    in.discover = contains(dec.p, dec.n, "Secret") || contains(dec.p, dec.n, "TokenRequest");
    s = ka_json_ws(dec.p, dec.p + dec.n);
    for (e = dec.p + dec.n; e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' ||
                                      e[-1] == '\r');)
        e--;
    ka__rd_walk_doc(&in, (struct ka_raw){s, (uint32_t)(e - s)}, own->ps,
                    own->flags & KA__F_ITEMS_SECRET);
    rc = in.err;
    if (rc || !in.n)
        goto out;
    rc = ka__rd_emit(&in, dec.n, &res);
    toff = rw->texts->n;
    if (!rc)
        rc = ka_jw_str(rw->texts, res.p, res.n);
    if (!rc)
        rc = ka__rd_rep_push(rw, v.p, v.n, toff, rw->texts->n - toff);
out:
    free(in.v);
    ka_buf_free(&dec);
    ka_buf_free(&res);
    fail(rw, rc);
}

static void walk_array(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps,
                       const struct ka__pset *extra, unsigned elem_flags, unsigned depth)
{
    struct ka_json_iter it;
    struct ka_raw el;
    struct ka__pset cs;
    bool done;
    size_t j;
    ka_json_iter_init(&it, v);
    while (!rw->err && ka_json_iter_elem(&it, &el)) {
        advance(rw, ps, NULL, &cs, &done);
        for (j = 0; extra && j < extra->n; j++)
            pset_add(rw, &cs, extra->p[j], extra->i[j]);
        if (done)
            ka__rd_redact_value(rw, el);
        else if (is_container(el) && (cs.n || rw->discover || elem_flags))
            walk_value(rw, el, &cs, elem_flags, NULL, depth + 1);
    }
}

static struct ka_str member_str(struct ka_raw obj, const char *name)
{
    struct ka_json_iter it;
    struct ka_str k, found = {NULL, 0, 0, 0};
    struct ka_raw v;
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka__rd_key_is(k, name) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            found = ka_str_from_raw(v.p, v.n);
    return found;
}

static bool ends_with_list(struct ka_str kind)
{
    return kind.set && !kind.esc && kind.n > 4 && memcmp(kind.p + kind.n - 4, "List", 4) == 0;
}

/* Node flags and extra path states implied by the object itself (its kind). */
static unsigned object_flags(struct ka__rw *rw, struct ka_str kind, unsigned flags,
                             struct ka__pset *ps)
{
    if (ka__rd_key_is(kind, "Secret"))
        flags |= KA__F_SECRET;
    else if (ka__rd_key_is(kind, "SecretList"))
        flags |= KA__F_ITEMS_SECRET;
    else if (ka__rd_key_is(kind, "TokenRequest"))
        flags |= KA__F_TOKEN;
    if (flags & KA__F_SECRET) {
        pset_add(rw, ps, &rw->r->p_data, 0);
        pset_add(rw, ps, &rw->r->p_string_data, 0);
    }
    if (flags & KA__F_TOKEN)
        pset_add(rw, ps, &rw->r->p_token, 0);
    return flags;
}

static void walk_object(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps_in,
                        unsigned flags, const struct owner *own, unsigned depth)
{
    struct ka__pset ps = *ps_in, cs;
    struct ka_str kind = member_str(v, "kind");
    struct owner me, sub;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw val;
    bool done, list = ends_with_list(kind) && ps_in->n;
    flags = object_flags(rw, kind, flags, &ps);
    me = (struct owner){&ps, flags, ROLE_META};
    ka_json_iter_init(&it, v);
    while (!rw->err && ka_json_iter_member(&it, &k, &val)) {
        const struct owner *co = NULL;
        advance(rw, &ps, &k, &cs, &done);
        if (done) {
            ka__rd_redact_value(rw, val);
            continue;
        }
        if (own && own->role == ROLE_ANN && ka__rd_key_is(k, LAST_APPLIED)) {
            if (ka_json_type_of(val.p, val.n) == KA_JSON_STRING)
                last_applied(rw, val, own);
            continue;
        }
        if (ka_json_type_of(val.p, val.n) == KA_JSON_ARRAY && ka__rd_key_is(k, "items") &&
            ((flags & KA__F_ITEMS_SECRET) || list)) {
            walk_array(rw, val, &cs, list ? ps_in : NULL,
                       (flags & KA__F_ITEMS_SECRET) ? KA__F_SECRET : 0, depth + 1);
            continue;
        }
        if (ka__rd_key_is(k, "metadata") && (ps.n || flags || rw->discover)) {
            co = &me;
        } else if (own && own->role == ROLE_META && ka__rd_key_is(k, "annotations")) {
            sub = *own;
            sub.role = ROLE_ANN;
            co = &sub;
        }
        if (is_container(val) && (cs.n || rw->discover || co))
            walk_value(rw, val, &cs, 0, co, depth + 1);
    }
}

static void walk_value(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps,
                       unsigned flags, const struct owner *own, unsigned depth)
{
    enum ka_json_type t = ka_json_type_of(v.p, v.n);
    if (depth > MAX_WALK_DEPTH) {
        fail(rw, KA_ETOOBIG);
        return;
    }
    if (t == KA_JSON_OBJECT)
        walk_object(rw, v, ps, flags, own, depth);
    else if (t == KA_JSON_ARRAY)
        walk_array(rw, v, ps, NULL, 0, depth);
}

void ka__rd_walk_doc(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps,
                     unsigned flags)
{
    walk_value(rw, v, ps, flags, NULL, 0);
}

/* Prefix test on a decoded JSON Pointer: equal to lit, or lit followed by '/'. */
static bool ptr_under(const struct ka_buf *p, const char *lit, bool *exact)
{
    size_t n = strlen(lit);
    if (p->n < n || memcmp(p->p, lit, n) != 0)
        return false;
    *exact = p->n == n;
    return p->n == n || p->p[n] == '/';
}

/* One JSON Patch operation on a Secret: redacts what its value would put into the Secret. */
static void jsonpatch_op(struct ka__rw *rw, const struct ka_buf *path, struct ka_raw val,
                         const struct ka__pset *secret_ps)
{
    struct ka__pset any = {{&rw->r->p_any}, {0}, 1}, none = {{NULL}, {0}, 0};
    struct owner own = {secret_ps, KA__F_SECRET, ROLE_META};
    bool exact = false;
    if (ptr_under(path, "/data", &exact) || ptr_under(path, "/stringData", &exact)) {
        if (exact && ka_json_type_of(val.p, val.n) == KA_JSON_OBJECT)
            walk_value(rw, val, &any, 0, NULL, 1);
        else
            ka__rd_redact_value(rw, val);
    } else if (path->n == 0) {
        walk_value(rw, val, &none, KA__F_SECRET, NULL, 1);
    } else if (ptr_under(path, "/metadata/annotations/kubectl.kubernetes.io~1last-applied-"
                               "configuration", &exact) && exact) {
        if (ka_json_type_of(val.p, val.n) == KA_JSON_STRING)
            last_applied(rw, val, &own);
    } else if (ptr_under(path, "/metadata/annotations", &exact) && exact) {
        own.role = ROLE_ANN;
        walk_value(rw, val, &none, 0, &own, 1);
    } else if (ptr_under(path, "/metadata", &exact) && exact) {
        walk_value(rw, val, &none, 0, &own, 1);
    }
}

void ka__rd_walk_jsonpatch(struct ka__rw *rw, struct ka_raw arr)
{
    struct ka__pset secret_ps = {{&rw->r->p_data, &rw->r->p_string_data}, {0, 0}, 2};
    struct ka_json_iter it, mi;
    struct ka_raw op, mv;
    struct ka_str k, path;
    struct ka_buf pb;
    ka_buf_init(&pb, 0);
    ka_json_iter_init(&it, arr);
    while (!rw->err && ka_json_iter_elem(&it, &op)) {
        if (ka_json_type_of(op.p, op.n) != KA_JSON_OBJECT)
            continue;
        path = (struct ka_str){NULL, 0, 0, 0};
        ka_json_iter_init(&mi, op);
        while (ka_json_iter_member(&mi, &k, &mv))
            if (ka__rd_key_is(k, "path") && ka_json_type_of(mv.p, mv.n) == KA_JSON_STRING)
                path = ka_str_from_raw(mv.p, mv.n);
        if (!path.set)
            continue;
        ka_buf_reset(&pb);
        fail(rw, ka_str_decode_buf(path, &pb));
        /* Every "value" member: a duplicate the apiserver ignores is still in the log text. */
        ka_json_iter_init(&mi, op);
        while (!rw->err && ka_json_iter_member(&mi, &k, &mv))
            if (ka__rd_key_is(k, "value"))
                jsonpatch_op(rw, &pb, mv, &secret_ps);
    }
    ka_buf_free(&pb);
}
