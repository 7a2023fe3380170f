/*
 * event_write.c - the canonical encoder: writes a scanned audit event byte for byte as
 * kube-apiserver's log backend does (Go encoding/json over audit.k8s.io/v1 Event, spec
 * §1.2-§1.8, §4.3-§4.4), followed by one LF.
 *
 * Every string is decoded from the input's escapes and re-escaped with Go's rules, so the output
 * does not depend on how the input spelt its strings. Members Go would drop (unknown ones,
 * v1beta1's metadata/timestamp, unknown members of Status and StatusDetails) are dropped; members
 * Go writes with omitempty are omitted when empty; maps are written with sorted keys.
 * requestObject/responseObject are compacted raw bytes (Go's runtime.Unknown), optionally without
 * metadata.managedFields.
 *
 * Limits: at most KA__MAP_MAX entries per map (annotations, user.extra), else KA_ETOOBIG; the
 * output is bounded by out->max.
 */
#include <stdlib.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"
#include "kaudit/jsonw.h"
#include "json_int.h"

#define KA__MAP_MAX 65536u
#define KA__MAP_STACK 32u
#define KA__STR_STACK 1024u

#define KA__TRY(e)                                                                                 \
    do {                                                                                           \
        int rc__ = (e);                                                                            \
        if (rc__)                                                                                  \
            return rc__;                                                                           \
    } while (0)

/* Writing state: the output and scratch space for decoding escaped strings. */
struct ew {
    struct ka_buf *out;
    struct ka_buf tmp;
    char stk[KA__STR_STACK];
};

/* One map entry; cval is set for added annotations (a NUL-terminated value). */
struct ent {
    struct ka_str key;
    struct ka_raw val;
    const char *cval;
    size_t rank; /* among equal keys the highest rank wins */
};

struct ents {
    struct ent *v;
    size_t n, cap;
    struct ent stk[KA__MAP_STACK];
};

/* How an object in requestObject/responseObject is rewritten to drop managedFields. */
enum strip {
    STRIP_NONE, /* plain compaction */
    STRIP_META, /* an ObjectMeta: drop managedFields */
    STRIP_OBJ,  /* an object: strip its metadata */
    STRIP_TOP,  /* the top-level object: metadata, items[], rows[].object of a Table */
    STRIP_ROW,  /* a Table row: strip its object */
};

/* ---- strings ---------------------------------------------------------------------------- */

static bool str_empty(struct ka_str s)
{
    return !s.set || s.n == 0;
}

/* Writes s decoded and re-escaped with Go's rules; an unset string is "". */
static int put_str(struct ew *w, struct ka_str s)
{
    if (!s.set)
        return ka_buf_append(w->out, "\"\"", 2);
    if (!s.esc)
        return ka_jw_str(w->out, s.p, s.n);
    if (s.n <= sizeof w->stk) {
        size_t n = ka_str_decode(s, w->stk);
        return ka_jw_str(w->out, w->stk, n);
    }
    ka_buf_reset(&w->tmp);
    KA__TRY(ka_str_decode_buf(s, &w->tmp));
    return ka_jw_str(w->out, w->tmp.p, w->tmp.n);
}

/* A raw value that should be a string; null (or anything else) is Go's zero value "". */
static struct ka_str raw_str(struct ka_raw v)
{
    struct ka_str s = {0};
    if (v.p && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        s = ka_str_from_raw(v.p, v.n);
    return s;
}

/* Starts a member: a comma unless it is the first one, then "key":. */
static int put_key(struct ew *w, bool *first, const char *key)
{
    if (!*first)
        KA__TRY(ka_buf_putc(w->out, ','));
    *first = false;
    return ka_jw_key(w->out, key);
}

static int put_str_member(struct ew *w, bool *first, const char *key, struct ka_str s)
{
    if (str_empty(s))
        return KA_OK;
    KA__TRY(put_key(w, first, key));
    return put_str(w, s);
}

/* Writes a validated array of strings; null elements become "" as in Go. */
static int put_str_array(struct ew *w, struct ka_raw arr)
{
    struct ka_json_iter it;
    struct ka_raw v;
    bool first = true;
    KA__TRY(ka_buf_putc(w->out, '['));
    ka_json_iter_init(&it, arr);
    while (ka_json_iter_elem(&it, &v)) {
        if (!first)
            KA__TRY(ka_buf_putc(w->out, ','));
        first = false;
        KA__TRY(put_str(w, raw_str(v)));
    }
    return ka_buf_putc(w->out, ']');
}

static bool is_array(struct ka_raw v)
{
    return v.p && ka_json_type_of(v.p, v.n) == KA_JSON_ARRAY;
}

static bool is_object(struct ka_raw v)
{
    return v.p && ka_json_type_of(v.p, v.n) == KA_JSON_OBJECT;
}

/* Go's omitempty on a slice: absent, null and [] are all omitted. */
static int put_str_array_member(struct ew *w, bool *first, const char *key, struct ka_raw arr)
{
    if (!is_array(arr) || ka_json_array_len(arr) == 0)
        return KA_OK;
    KA__TRY(put_key(w, first, key));
    return put_str_array(w, arr);
}

/*
 * Parses a raw JSON integer (as Go decodes into intN: no fraction, no exponent) within
 * [lo, hi]. Returns false for anything else.
 */
static bool raw_int(struct ka_raw v, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t u = 0;
    if (!v.p || v.n == 0)
        return false;
    if (v.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == v.n)
        return false;
    for (; i < v.n; i++) {
        unsigned d = (unsigned)(v.p[i] - '0');
        if (d > 9 || u > (UINT64_MAX - d) / 10)
            return false;
        u = u * 10 + d;
    }
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return *out >= lo && *out <= hi;
}

/* ---- maps (annotations, user.extra) ------------------------------------------------------- */

static int ents_push(struct ents *e, struct ent x)
{
    if (e->n == e->cap) {
        size_t cap = e->cap * 2;
        struct ent *v;
        if (e->n >= KA__MAP_MAX)
            return KA_ETOOBIG;
        v = malloc(cap * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        memcpy(v, e->v, e->n * sizeof *v);
        if (e->v != e->stk)
            free(e->v);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = x;
    return KA_OK;
}

static void ents_free(struct ents *e)
{
    if (e->v != e->stk)
        free(e->v);
}

static int ent_cmp(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    int c = ka_str_cmp(x->key, y->key);
    if (c)
        return c;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/*
 * Collects the members of obj and the added entries into e, sorted by key, and keeps only the
 * winner of each key: the last member of obj, else the first added entry.
 */
static int ents_collect(struct ents *e, struct ka_raw obj, const char *const *akeys,
                        const char *const *avals, size_t nadd)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    size_t rank = nadd, i, out = 0;
    e->v = e->stk;
    e->n = 0;
    e->cap = KA__MAP_STACK;
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        KA__TRY(ents_push(e, (struct ent){k, v, NULL, rank++}));
    for (i = 0; i < nadd; i++) {
        struct ka_str ks = {akeys[i], (uint32_t)strlen(akeys[i]), 1, 0};
        KA__TRY(ents_push(e, (struct ent){ks, {NULL, 0}, avals[i], nadd - 1 - i}));
    }
    if (e->n > 1)
        qsort(e->v, e->n, sizeof *e->v, ent_cmp);
    for (i = 0; i < e->n; i++) {
        if (i + 1 < e->n && ka_str_cmp(e->v[i].key, e->v[i + 1].key) == 0)
            continue;
        e->v[out++] = e->v[i];
    }
    e->n = out;
    return KA_OK;
}

/* Writes a collected map. lists: values are []string (null stays null, as a nil Go slice). */
static int put_map(struct ew *w, const struct ents *e, bool lists)
{
    size_t i;
    KA__TRY(ka_buf_putc(w->out, '{'));
    for (i = 0; i < e->n; i++) {
        const struct ent *x = &e->v[i];
        if (i)
            KA__TRY(ka_buf_putc(w->out, ','));
        KA__TRY(put_str(w, x->key));
        KA__TRY(ka_buf_putc(w->out, ':'));
        if (x->cval)
            KA__TRY(ka_jw_str(w->out, x->cval, strlen(x->cval)));
        else if (lists && is_array(x->val))
            KA__TRY(put_str_array(w, x->val));
        else if (lists)
            KA__TRY(ka_buf_append(w->out, "null", 4));
        else
            KA__TRY(put_str(w, raw_str(x->val)));
    }
    return ka_buf_putc(w->out, '}');
}

/* Writes "key":{...} for a map unless it is empty (Go's omitempty on maps). */
static int put_map_member(struct ew *w, bool *first, const char *key, struct ka_raw obj,
                          bool lists, const struct ka_write_opts *add)
{
    struct ents e;
    int rc;
    size_t nadd = add ? add->n_add_annotations : 0;
    if (!is_object(obj) && nadd == 0)
        return KA_OK;
    rc = ents_collect(&e, is_object(obj) ? obj : (struct ka_raw){NULL, 0},
                      nadd ? add->add_annotation_keys : NULL,
                      nadd ? add->add_annotation_vals : NULL, nadd);
    if (!rc && e.n > 0) {
        rc = put_key(w, first, key);
        if (!rc)
            rc = put_map(w, &e, lists);
    }
    ents_free(&e);
    return rc;
}

/* ---- UserInfo, ObjectReference, authenticationMetadata ------------------------------------ */

static int put_user(struct ew *w, const struct ka_user *u)
{
    bool first = true;
    KA__TRY(ka_buf_putc(w->out, '{'));
    if (u->present) {
        KA__TRY(put_str_member(w, &first, "username", u->username));
        KA__TRY(put_str_member(w, &first, "uid", u->uid));
        KA__TRY(put_str_array_member(w, &first, "groups", u->groups));
        KA__TRY(put_map_member(w, &first, "extra", u->extra, true, NULL));
    }
    return ka_buf_putc(w->out, '}');
}

static int put_objref(struct ew *w, const struct ka_objref *o)
{
    bool first = true;
    KA__TRY(ka_buf_putc(w->out, '{'));
    KA__TRY(put_str_member(w, &first, "resource", o->resource));
    KA__TRY(put_str_member(w, &first, "namespace", o->namespace_));
    KA__TRY(put_str_member(w, &first, "name", o->name));
    KA__TRY(put_str_member(w, &first, "uid", o->uid));
    KA__TRY(put_str_member(w, &first, "apiGroup", o->apiGroup));
    KA__TRY(put_str_member(w, &first, "apiVersion", o->apiVersion));
    KA__TRY(put_str_member(w, &first, "resourceVersion", o->resourceVersion));
    KA__TRY(put_str_member(w, &first, "subresource", o->subresource));
    return ka_buf_putc(w->out, '}');
}

/*
 * Reads the string members named in names[0..n) of obj into vals (last occurrence wins; a null
 * or non-string value leaves the previous value, as Go does for string fields).
 */
static void get_strs(struct ka_raw obj, const char *const *names, size_t n, struct ka_str *vals)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    size_t i;
    memset(vals, 0, n * sizeof *vals);
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v)) {
        if (ka_json_type_of(v.p, v.n) != KA_JSON_STRING)
            continue;
        for (i = 0; i < n; i++)
            if (ka_str_eq(k, names[i], strlen(names[i])))
                vals[i] = ka_str_from_raw(v.p, v.n);
    }
}

/* Last member named name of obj (any type but null), or an absent raw. */
static struct ka_raw get_member(struct ka_raw obj, const char *name)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v, found = {NULL, 0};
    size_t nl = strlen(name);
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, name, nl))
            found = ka_json_type_of(v.p, v.n) == KA_JSON_NULL ? (struct ka_raw){NULL, 0} : v;
    return found;
}

static int put_authn_meta(struct ew *w, struct ka_raw obj)
{
    static const char *const names[] = {"impersonationConstraint"};
    struct ka_str v;
    bool first = true;
    get_strs(obj, names, 1, &v);
    KA__TRY(ka_buf_putc(w->out, '{'));
    KA__TRY(put_str_member(w, &first, names[0], v));
    return ka_buf_putc(w->out, '}');
}

/* ---- Status ------------------------------------------------------------------------------- */

/* ListMeta: selfLink, resourceVersion, continue, remainingItemCount (*int64); `{}` if empty. */
static int put_listmeta(struct ew *w, struct ka_raw obj)
{
    static const char *const names[] = {"selfLink", "resourceVersion", "continue"};
    struct ka_str v[3];
    struct ka_raw rc_raw = get_member(obj, "remainingItemCount");
    int64_t rem;
    bool first = true;
    size_t i;
    get_strs(obj, names, 3, v);
    KA__TRY(ka_buf_putc(w->out, '{'));
    for (i = 0; i < 3; i++)
        KA__TRY(put_str_member(w, &first, names[i], v[i]));
    if (raw_int(rc_raw, INT64_MIN, INT64_MAX, &rem)) {
        KA__TRY(put_key(w, &first, "remainingItemCount"));
        KA__TRY(ka_jw_int(w->out, rem));
    }
    return ka_buf_putc(w->out, '}');
}

/* StatusCause: reason, message, field (each omitempty). null is the zero cause, `{}`. */
static int put_cause(struct ew *w, struct ka_raw obj)
{
    static const char *const names[] = {"reason", "message", "field"};
    struct ka_str v[3];
    bool first = true;
    size_t i;
    get_strs(obj, names, 3, v);
    KA__TRY(ka_buf_putc(w->out, '{'));
    for (i = 0; i < 3; i++)
        KA__TRY(put_str_member(w, &first, names[i], v[i]));
    return ka_buf_putc(w->out, '}');
}

static int put_causes(struct ew *w, bool *first, struct ka_raw arr)
{
    struct ka_json_iter it;
    struct ka_raw v;
    bool firstel = true;
    if (!is_array(arr) || ka_json_array_len(arr) == 0)
        return KA_OK;
    KA__TRY(put_key(w, first, "causes"));
    KA__TRY(ka_buf_putc(w->out, '['));
    ka_json_iter_init(&it, arr);
    while (ka_json_iter_elem(&it, &v)) {
        if (!firstel)
            KA__TRY(ka_buf_putc(w->out, ','));
        firstel = false;
        KA__TRY(put_cause(w, is_object(v) ? v : (struct ka_raw){NULL, 0}));
    }
    return ka_buf_putc(w->out, ']');
}

/* StatusDetails: name, group, kind, uid, causes, retryAfterSeconds (int32, omitted when 0). */
static int put_details(struct ew *w, struct ka_raw obj)
{
    static const char *const names[] = {"name", "group", "kind", "uid"};
    struct ka_str v[4];
    int64_t retry = 0;
    bool first = true;
    size_t i;
    get_strs(obj, names, 4, v);
    KA__TRY(ka_buf_putc(w->out, '{'));
    for (i = 0; i < 4; i++)
        KA__TRY(put_str_member(w, &first, names[i], v[i]));
    KA__TRY(put_causes(w, &first, get_member(obj, "causes")));
    if (raw_int(get_member(obj, "retryAfterSeconds"), INT32_MIN, INT32_MAX, &retry) && retry) {
        KA__TRY(put_key(w, &first, "retryAfterSeconds"));
        KA__TRY(ka_jw_int(w->out, retry));
    }
    return ka_buf_putc(w->out, '}');
}

/*
 * Status: kind, apiVersion (omitempty; empty in practice), metadata (always), status, message,
 * reason, details (a pointer: written when present), code (omitted when 0).
 */
static int put_status(struct ew *w, const struct ka_event *ev)
{
    const struct ka_status *s = &ev->responseStatus;
    bool first = true;
    KA__TRY(ka_buf_putc(w->out, '{'));
    KA__TRY(put_str_member(w, &first, "kind", s->kind));
    KA__TRY(put_str_member(w, &first, "apiVersion", s->apiVersion));
    KA__TRY(put_key(w, &first, "metadata"));
    KA__TRY(put_listmeta(w, s->metadata));
    KA__TRY(put_str_member(w, &first, "status", s->status));
    KA__TRY(put_str_member(w, &first, "message", s->message));
    KA__TRY(put_str_member(w, &first, "reason", s->reason));
    if (is_object(s->details)) {
        KA__TRY(put_key(w, &first, "details"));
        KA__TRY(put_details(w, s->details));
    }
    if (s->has_code && s->code != 0) {
        KA__TRY(put_key(w, &first, "code"));
        KA__TRY(ka_jw_int(w->out, s->code));
    }
    return ka_buf_putc(w->out, '}');
}

/* ---- request/response objects -------------------------------------------------------------- */

static int put_stripped(struct ew *w, struct ka_raw v, enum strip how);

/* Elements of arr, each rewritten with how when it is an object, else compacted. */
static int put_stripped_array(struct ew *w, struct ka_raw arr, enum strip how)
{
    struct ka_json_iter it;
    struct ka_raw v;
    bool first = true;
    KA__TRY(ka_buf_putc(w->out, '['));
    ka_json_iter_init(&it, arr);
    while (ka_json_iter_elem(&it, &v)) {
        if (!first)
            KA__TRY(ka_buf_putc(w->out, ','));
        first = false;
        KA__TRY(put_stripped(w, v, how));
    }
    return ka_buf_putc(w->out, ']');
}

/* Writes one member's value according to how (the rewrite of the object holding it). */
static int put_stripped_value(struct ew *w, struct ka_str k, struct ka_raw v, enum strip how,
                              bool table)
{
    if ((how == STRIP_OBJ || how == STRIP_TOP) && ka_str_eq(k, "metadata", 8) && is_object(v))
        return put_stripped(w, v, STRIP_META);
    if (how == STRIP_TOP && ka_str_eq(k, "items", 5) && is_array(v))
        return put_stripped_array(w, v, STRIP_OBJ);
    if (how == STRIP_TOP && table && ka_str_eq(k, "rows", 4) && is_array(v))
        return put_stripped_array(w, v, STRIP_ROW);
    if (how == STRIP_ROW && ka_str_eq(k, "object", 6) && is_object(v))
        return put_stripped(w, v, STRIP_OBJ);
    return ka_jw_compact(w->out, v.p, v.n);
}

/*
 * Writes v compacted; objects are rewritten member by member (keys compacted as raw bytes, so
 * everything but the dropped managedFields stays byte-identical to a plain compaction).
 */
static int put_stripped(struct ew *w, struct ka_raw v, enum strip how)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw mv;
    bool first = true, table = false;
    if (how == STRIP_NONE || !is_object(v))
        return ka_jw_compact(w->out, v.p, v.n);
    if (how == STRIP_TOP) {
        static const char *const kn[] = {"kind"};
        struct ka_str kind;
        get_strs(v, kn, 1, &kind);
        table = kind.set && ka_str_eq(kind, "Table", 5);
    }
    KA__TRY(ka_buf_putc(w->out, '{'));
    ka_json_iter_init(&it, v);
    while (ka_json_iter_member(&it, &k, &mv)) {
        if (how == STRIP_META && ka_str_eq(k, "managedFields", 13))
            continue;
        if (!first)
            KA__TRY(ka_buf_putc(w->out, ','));
        first = false;
        KA__TRY(ka_jw_compact(w->out, k.p - 1, k.n + 2u));
        KA__TRY(ka_buf_putc(w->out, ':'));
        KA__TRY(put_stripped_value(w, k, mv, how, table));
    }
    return ka_buf_putc(w->out, '}');
}

/* ---- the event ------------------------------------------------------------------------------ */

static int put_time(struct ew *w, bool *first, const char *key, struct ka_time t)
{
    KA__TRY(put_key(w, first, key));
    if (!t.set)
        return ka_buf_append(w->out, "null", 4);
    return ka_jw_microtime(w->out, t.sec, t.nsec);
}

/* Members 1-13: kind ... objectRef. */
static int put_head(struct ew *w, const struct ka_event *ev, const struct ka_write_opts *wo,
                    bool *first)
{
    KA__TRY(ka_buf_puts(w->out, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\""));
    *first = false;
    KA__TRY(put_key(w, first, "level"));
    if (wo->level)
        KA__TRY(ka_jw_str(w->out, wo->level, strlen(wo->level)));
    else
        KA__TRY(put_str(w, ev->level));
    KA__TRY(put_key(w, first, "auditID"));
    KA__TRY(put_str(w, ev->auditID));
    KA__TRY(put_key(w, first, "stage"));
    KA__TRY(put_str(w, ev->stage));
    KA__TRY(put_key(w, first, "requestURI"));
    KA__TRY(put_str(w, ev->requestURI));
    KA__TRY(put_key(w, first, "verb"));
    KA__TRY(put_str(w, ev->verb));
    KA__TRY(put_key(w, first, "user"));
    KA__TRY(put_user(w, &ev->user));
    if (ev->impersonatedUser.present) {
        KA__TRY(put_key(w, first, "impersonatedUser"));
        KA__TRY(put_user(w, &ev->impersonatedUser));
    }
    if (is_object(ev->authenticationMetadata)) {
        KA__TRY(put_key(w, first, "authenticationMetadata"));
        KA__TRY(put_authn_meta(w, ev->authenticationMetadata));
    }
    KA__TRY(put_str_array_member(w, first, "sourceIPs", ev->sourceIPs));
    KA__TRY(put_str_member(w, first, "userAgent", ev->userAgent));
    if (ev->objectRef.present) {
        KA__TRY(put_key(w, first, "objectRef"));
        KA__TRY(put_objref(w, &ev->objectRef));
    }
    return KA_OK;
}

/*
 * Members 14-19: responseStatus ... annotations. Patch bodies are never stripped of
 * managedFields (spec §4.3): for verb "patch" the requestObject is the patch as sent.
 */
static int put_tail(struct ew *w, const struct ka_event *ev, const struct ka_write_opts *wo,
                    bool *first)
{
    bool strip = wo->omit_managed_fields;
    if (ev->responseStatus.present) {
        KA__TRY(put_key(w, first, "responseStatus"));
        KA__TRY(put_status(w, ev));
    }
    if (ev->requestObject.p && !wo->drop_request_object) {
        bool patch = ka_str_eq(ev->verb, "patch", 5);
        KA__TRY(put_key(w, first, "requestObject"));
        KA__TRY(put_stripped(w, ev->requestObject, strip && !patch ? STRIP_TOP : STRIP_NONE));
    }
    if (ev->responseObject.p && !wo->drop_response_object) {
        KA__TRY(put_key(w, first, "responseObject"));
        KA__TRY(put_stripped(w, ev->responseObject, strip ? STRIP_TOP : STRIP_NONE));
    }
    KA__TRY(put_time(w, first, "requestReceivedTimestamp", ev->requestReceivedTimestamp));
    KA__TRY(put_time(w, first, "stageTimestamp", ev->stageTimestamp));
    KA__TRY(put_map_member(w, first, "annotations", ev->annotations, false, wo));
    return ka_buf_putc(w->out, '}');
}

int ka_event_write(const struct ka_event *ev, const struct ka_write_opts *wo, struct ka_buf *out)
{
    static const struct ka_write_opts none = {0};
    struct ew w;
    size_t n0 = out->n;
    bool first = true;
    int rc;
    w.out = out;
    ka_buf_init(&w.tmp, out->max);
    if (!wo)
        wo = &none;
    rc = put_head(&w, ev, wo, &first);
    if (!rc)
        rc = put_tail(&w, ev, wo, &first);
    if (!rc)
        rc = ka_buf_putc(out, '\n');
    /* ka_buf_putc's fast path may pass max while capacity remains: enforce it here. */
    if (!rc && out->max && out->n > out->max)
        rc = KA_ETOOBIG;
    if (rc)
        out->n = n0;
    ka_buf_free(&w.tmp);
    return rc;
}
