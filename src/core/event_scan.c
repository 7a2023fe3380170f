/*
 * event_scan.c - the audit event scanner: one pass over an event line that validates it as
 * strict JSON and indexes the members kaudit uses (include/kaudit/event.h), plus document
 * scanning (EventList / array / single event), level and stage names, and MicroTime parsing.
 *
 * Go semantics: member names are case-sensitive, the last of duplicate members wins, null is
 * the same as absent, a known member with the wrong type makes the event invalid. A type error
 * stops the scan early; the whole input is then validated once more so that malformed JSON is
 * always reported as KA_ESYNTAX (or KA_ETOOBIG), never as KA_ENOTEVENT.
 */
#include <string.h>

#include "json_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"
#include "kaudit/jsonw.h"

struct sc {
    const char *base, *end;
    unsigned max_depth;
    struct ka_json_err je;
    struct ka_scan_err *err;
};

static int sc_syntax(struct sc *c, int rc)
{
    if (c->err) {
        c->err->code = rc;
        c->err->off = c->je.off;
        snprintf(c->err->msg, sizeof c->err->msg, "%s", c->je.msg);
    }
    return rc;
}

static int sc_fail(struct sc *c, const char *p, const char *msg)
{
    ka__json_fail(&c->je, c->base, p, msg);
    return sc_syntax(c, KA_ESYNTAX);
}

/* A type error at p for member pre.name (pre may be ""). */
static int sc_type(struct sc *c, const char *p, const char *pre, const char *name, const char *what)
{
    if (c->err) {
        c->err->code = KA_ENOTEVENT;
        c->err->off = (size_t)(p - c->base);
        snprintf(c->err->msg, sizeof c->err->msg, "%s%s%s: %s", pre, *pre ? "." : "", name, what);
    }
    return KA_ENOTEVENT;
}

static int sc_depth(struct sc *c, const char *p, unsigned depth)
{
    if (depth <= c->max_depth)
        return KA_OK;
    c->je.off = (size_t)(p - c->base);
    snprintf(c->je.msg, sizeof c->je.msg, "nesting deeper than %u", c->max_depth);
    return sc_syntax(c, KA_ETOOBIG);
}

/* p < end. If the value is `null`, consumes it and returns 1; 0 if not null; <0 on error. */
static int sc_null(struct sc *c, const char **pp)
{
    const char *p = *pp;
    if (*p != 'n')
        return 0;
    if (c->end - p < 4 || memcmp(p, "null", 4) != 0)
        return sc_fail(c, p, "invalid literal");
    *pp = p + 4;
    return 1;
}

/* p < end and *p == '"'. Scans a string into *s and moves past it. */
static int sc_string(struct sc *c, const char **pp, struct ka_str *s)
{
    unsigned esc = 0;
    const char *p = *pp + 1;
    const char *q = ka__json_str_end(p, c->end, &esc, c->base, &c->je);
    if (!q)
        return sc_syntax(c, KA_ESYNTAX);
    if ((size_t)(q - p) > UINT32_MAX)
        return sc_fail(c, p, "string too long");
    s->p = p;
    s->n = (uint32_t)(q - p);
    s->set = 1;
    s->esc = (uint8_t)esc;
    *pp = q + 1;
    return KA_OK;
}

static int sc_ws_slow(struct sc *c, const char **pp)
{
    *pp = ka__json_ws(*pp, c->end);
    if (*pp == c->end)
        return sc_fail(c, *pp, "unexpected end of input");
    return KA_OK;
}

/* Skips whitespace; fails at the end of input. Compact JSON has none: that path is inline. */
static inline int sc_ws(struct sc *c, const char **pp)
{
    if (__builtin_expect(*pp < c->end && (unsigned char)**pp > ' ', 1))
        return KA_OK;
    return sc_ws_slow(c, pp);
}

/*
 * Object walking. sc_open: at p is '{' (checked by the caller) for a container at `depth`;
 * returns 1 with p at the first key, or 0 with p after an empty object's '}'.
 * sc_key: scans the key at p and the ':' after it, leaving p at the value.
 * sc_next: after a value, returns 1 with p at the next key, or 0 with p after '}'.
 */
static int sc_open(struct sc *c, const char **pp, unsigned depth, char close)
{
    int rc = sc_depth(c, *pp, depth);
    if (rc)
        return rc;
    *pp += 1;
    if ((rc = sc_ws(c, pp)))
        return rc;
    if (**pp == close) {
        *pp += 1;
        return 0;
    }
    return 1;
}

static int sc_key(struct sc *c, const char **pp, struct ka_str *key)
{
    int rc;
    if (**pp != '"')
        return sc_fail(c, *pp, "expected a string key");
    if ((rc = sc_string(c, pp, key)) || (rc = sc_ws(c, pp)))
        return rc;
    if (**pp != ':')
        return sc_fail(c, *pp, "expected ':'");
    *pp += 1;
    return sc_ws(c, pp);
}

static int sc_next(struct sc *c, const char **pp, char close)
{
    int rc = sc_ws(c, pp);
    if (rc)
        return rc;
    if (**pp == ',') {
        *pp += 1;
        rc = sc_ws(c, pp);
        return rc ? rc : 1;
    }
    if (**pp == close) {
        *pp += 1;
        return 0;
    }
    return sc_fail(c, *pp, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Skips any value at p (container at depth+1). */
static int sc_skip(struct sc *c, const char **pp, unsigned depth)
{
    int rc = ka__json_value(pp, c->end, c->base, depth, c->max_depth, &c->je);
    return rc ? sc_syntax(c, rc) : KA_OK;
}

/* ---- typed member readers; p is at the value, which lives in a container at depth ---- */

static int rd_str(struct sc *c, const char **pp, const char *pre, const char *name,
                  struct ka_str *out)
{
    int rc = sc_null(c, pp);
    if (rc)
        return rc < 0 ? rc : (memset(out, 0, sizeof *out), KA_OK);
    if (**pp != '"')
        return sc_type(c, *pp, pre, name, "expected a string");
    return sc_string(c, pp, out);
}

/* A value of the given kind ('{', '[' or 0 for any), kept as a raw span. */
static int rd_raw(struct sc *c, const char **pp, unsigned depth, char kind, const char *pre,
                  const char *name, struct ka_raw *out)
{
    int rc = sc_null(c, pp);
    if (rc)
        return rc < 0 ? rc : (memset(out, 0, sizeof *out), KA_OK);
    const char *start = *pp;
    if (kind && *start != kind)
        return sc_type(c, start, pre, name,
                       kind == '{' ? "expected an object" : "expected an array");
    if ((rc = sc_skip(c, pp, depth)))
        return rc;
    out->p = start;
    out->n = (uint32_t)(*pp - start);
    return KA_OK;
}

/* An array of strings at depth+1. */
static int rd_strarr(struct sc *c, const char **pp, unsigned depth, const char *pre,
                     const char *name, struct ka_raw *out)
{
    struct ka_str s = {0};
    int rc = sc_null(c, pp);
    if (rc)
        return rc < 0 ? rc : (memset(out, 0, sizeof *out), KA_OK);
    const char *start = *pp;
    if (*start != '[')
        return sc_type(c, start, pre, name, "expected an array of strings");
    for (rc = sc_open(c, pp, depth + 1, ']'); rc == 1; rc = sc_next(c, pp, ']')) {
        if (**pp != '"')
            return sc_type(c, *pp, pre, name, "expected an array of strings");
        if ((rc = sc_string(c, pp, &s)))
            return rc;
    }
    if (rc < 0)
        return rc;
    out->p = start;
    out->n = (uint32_t)(*pp - start);
    return KA_OK;
}

/* An object at depth+1 whose values are strings (arrays = 0) or arrays of strings (1). */
static int rd_map(struct sc *c, const char **pp, unsigned depth, int arrays, const char *pre,
                  const char *name, struct ka_raw *out)
{
    struct ka_str s = {0};
    struct ka_raw a;
    const char *what = arrays ? "expected an object of string arrays" : "expected an object of strings";
    int rc = sc_null(c, pp);
    if (rc)
        return rc < 0 ? rc : (memset(out, 0, sizeof *out), KA_OK);
    const char *start = *pp;
    if (*start != '{')
        return sc_type(c, start, pre, name, what);
    for (rc = sc_open(c, pp, depth + 1, '}'); rc == 1; rc = sc_next(c, pp, '}')) {
        if ((rc = sc_key(c, pp, &s)))
            return rc;
        if (arrays ? **pp != '[' : **pp != '"')
            return sc_type(c, *pp, pre, name, what);
        rc = arrays ? rd_strarr(c, pp, depth + 1, pre, name, &a) : sc_string(c, pp, &s);
        if (rc)
            return rc;
    }
    if (rc < 0)
        return rc;
    out->p = start;
    out->n = (uint32_t)(*pp - start);
    return KA_OK;
}

static int rd_time(struct sc *c, const char **pp, const char *name, struct ka_time *t)
{
    struct ka_str s = {0};
    char tmp[64];
    int rc = sc_null(c, pp);
    if (rc)
        return rc < 0 ? rc : (memset(t, 0, sizeof *t), KA_OK);
    const char *start = *pp;
    if (*start != '"')
        return sc_type(c, start, "", name, "expected an RFC 3339 time string");
    if ((rc = sc_string(c, pp, &s)))
        return rc;
    const char *body = s.p;
    size_t n = s.n;
    if (s.esc) {
        if (s.n > sizeof tmp)
            return sc_type(c, start, "", name, "invalid RFC 3339 time");
        n = ka_str_decode(s, tmp);
        body = tmp;
    }
    if (ka_time_parse(body, n, &t->sec, &t->nsec) != KA_OK)
        return sc_type(c, start, "", name, "invalid RFC 3339 time");
    t->set = true;
    return KA_OK;
}

static int rd_code(struct sc *c, const char **pp, struct ka_status *st)
{
    unsigned is_int = 1;
    int rc = sc_null(c, pp);
    if (rc) {
        st->has_code = false;
        st->code = 0;
        return rc < 0 ? rc : KA_OK;
    }
    const char *p = *pp;
    if (*p != '-' && (*p < '0' || *p > '9'))
        return sc_type(c, p, "responseStatus", "code", "expected an integer");
    const char *q = ka__json_num(p, c->end, &is_int);
    if (!q)
        return sc_fail(c, p, "invalid number");
    if (!is_int)
        return sc_type(c, p, "responseStatus", "code", "expected an integer");
    const char *d = *p == '-' ? p + 1 : p;
    int64_t v = 0;
    if (q - d > 10)
        return sc_type(c, p, "responseStatus", "code", "integer out of int32 range");
    for (; d < q; d++)
        v = v * 10 + (*d - '0');
    if (*p == '-')
        v = -v;
    if (v < INT32_MIN || v > INT32_MAX)
        return sc_type(c, p, "responseStatus", "code", "integer out of int32 range");
    st->has_code = true;
    st->code = (int32_t)v;
    *pp = q;
    return KA_OK;
}

/* Looks up a member name (decoding escapes) among names[]; returns its index or -1. */
static int member_id(struct ka_str key, const char *const *names, int count)
{
    char tmp[32];
    const char *k = key.p;
    size_t n = key.n;
    if (key.esc) {
        if (key.n > sizeof tmp)
            return -1;
        n = ka_str_decode(key, tmp);
        k = tmp;
    }
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return i;
    return -1;
}

static const char *const user_names[] = {"username", "uid", "groups", "extra"};

static int rd_user(struct sc *c, const char **pp, const char *pre, struct ka_user *u)
{
    struct ka_str key = {0};
    int rc = sc_null(c, pp);
    memset(u, 0, sizeof *u);
    if (rc)
        return rc < 0 ? rc : KA_OK;
    if (**pp != '{')
        return sc_type(c, *pp, "", pre, "expected an object");
    for (rc = sc_open(c, pp, 2, '}'); rc == 1; rc = sc_next(c, pp, '}')) {
        if ((rc = sc_key(c, pp, &key)))
            return rc;
        switch (member_id(key, user_names, 4)) {
        case 0: rc = rd_str(c, pp, pre, "username", &u->username); break;
        case 1: rc = rd_str(c, pp, pre, "uid", &u->uid); break;
        case 2: rc = rd_strarr(c, pp, 2, pre, "groups", &u->groups); break;
        case 3: rc = rd_map(c, pp, 2, 1, pre, "extra", &u->extra); break;
        default: rc = sc_skip(c, pp, 2); break;
        }
        if (rc)
            return rc;
    }
    u->present = rc == 0;
    return rc;
}

static const char *const ref_names[] = {"resource", "namespace", "name", "uid", "apiGroup",
                                        "apiVersion", "resourceVersion", "subresource"};

static int rd_objref(struct sc *c, const char **pp, struct ka_objref *r)
{
    struct ka_str key = {0};
    struct ka_str *fields[] = {&r->resource, &r->namespace_, &r->name, &r->uid, &r->apiGroup,
                               &r->apiVersion, &r->resourceVersion, &r->subresource};
    int rc = sc_null(c, pp);
    memset(r, 0, sizeof *r);
    if (rc)
        return rc < 0 ? rc : KA_OK;
    if (**pp != '{')
        return sc_type(c, *pp, "", "objectRef", "expected an object");
    for (rc = sc_open(c, pp, 2, '}'); rc == 1; rc = sc_next(c, pp, '}')) {
        if ((rc = sc_key(c, pp, &key)))
            return rc;
        int id = member_id(key, ref_names, 8);
        rc = id < 0 ? sc_skip(c, pp, 2) : rd_str(c, pp, "objectRef", ref_names[id], fields[id]);
        if (rc)
            return rc;
    }
    r->present = rc == 0;
    return rc;
}

static const char *const status_names[] = {"kind", "apiVersion", "metadata", "status",
                                           "message", "reason", "details", "code"};

static int rd_status(struct sc *c, const char **pp, struct ka_status *st)
{
    struct ka_str key = {0};
    const char *pre = "responseStatus";
    int rc = sc_null(c, pp);
    memset(st, 0, sizeof *st);
    if (rc)
        return rc < 0 ? rc : KA_OK;
    if (**pp != '{')
        return sc_type(c, *pp, "", pre, "expected an object");
    for (rc = sc_open(c, pp, 2, '}'); rc == 1; rc = sc_next(c, pp, '}')) {
        if ((rc = sc_key(c, pp, &key)))
            return rc;
        switch (member_id(key, status_names, 8)) {
        case 0: rc = rd_str(c, pp, pre, "kind", &st->kind); break;
        case 1: rc = rd_str(c, pp, pre, "apiVersion", &st->apiVersion); break;
        case 2: rc = rd_raw(c, pp, 2, '{', pre, "metadata", &st->metadata); break;
        case 3: rc = rd_str(c, pp, pre, "status", &st->status); break;
        case 4: rc = rd_str(c, pp, pre, "message", &st->message); break;
        case 5: rc = rd_str(c, pp, pre, "reason", &st->reason); break;
        case 6: rc = rd_raw(c, pp, 2, '{', pre, "details", &st->details); break;
        case 7: rc = rd_code(c, pp, st); break;
        default: rc = sc_skip(c, pp, 2); break;
        }
        if (rc)
            return rc;
    }
    st->present = rc == 0;
    return rc;
}

enum {
    M_KIND, M_APIVERSION, M_LEVEL, M_AUDITID, M_STAGE, M_REQUESTURI, M_VERB, M_USER, M_IMPUSER,
    M_AUTHNMETA, M_SOURCEIPS, M_USERAGENT, M_OBJECTREF, M_RESPSTATUS, M_REQOBJ, M_RESPOBJ,
    M_RRTS, M_STAGETS, M_ANNOTATIONS, M_METADATA, M_TIMESTAMP, M_COUNT
};

static const char *const event_names[M_COUNT] = {
    "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
    "impersonatedUser", "authenticationMetadata", "sourceIPs", "userAgent", "objectRef",
    "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp",
    "stageTimestamp", "annotations", "metadata", "timestamp"};

/* Top-level member names by length, so the common case is one length test and one memcmp. */
static int event_member(struct ka_str key)
{
    if (key.esc)
        return member_id(key, event_names, M_COUNT);
    const char *k = key.p;
#define IS(id) (memcmp(k, event_names[id], key.n) == 0 ? (id) : -1)
    switch (key.n) {
    case 4: return k[0] == 'k' ? IS(M_KIND) : k[0] == 'v' ? IS(M_VERB) : IS(M_USER);
    case 5: return k[0] == 'l' ? IS(M_LEVEL) : IS(M_STAGE);
    case 7: return IS(M_AUDITID);
    case 8: return IS(M_METADATA);
    case 9:
        return k[0] == 's' ? IS(M_SOURCEIPS) : k[0] == 'u' ? IS(M_USERAGENT)
               : k[0] == 'o' ? IS(M_OBJECTREF) : IS(M_TIMESTAMP);
    case 10: return k[0] == 'a' ? IS(M_APIVERSION) : IS(M_REQUESTURI);
    case 11: return IS(M_ANNOTATIONS);
    case 13: return IS(M_REQOBJ);
    case 14:
        return k[0] == 's' ? IS(M_STAGETS) : k[8] == 'S' ? IS(M_RESPSTATUS) : IS(M_RESPOBJ);
    case 16: return IS(M_IMPUSER);
    case 22: return IS(M_AUTHNMETA);
    case 24: return IS(M_RRTS);
    default: return -1;
    }
#undef IS
}

static int rd_member(struct sc *c, const char **pp, int id, struct ka_event *e)
{
    const char *n = id >= 0 ? event_names[id] : "";
    switch (id) {
    case M_KIND: return rd_str(c, pp, "", n, &e->kind);
    case M_APIVERSION: return rd_str(c, pp, "", n, &e->apiVersion);
    case M_LEVEL: return rd_str(c, pp, "", n, &e->level);
    case M_AUDITID: return rd_str(c, pp, "", n, &e->auditID);
    case M_STAGE: return rd_str(c, pp, "", n, &e->stage);
    case M_REQUESTURI: return rd_str(c, pp, "", n, &e->requestURI);
    case M_VERB: return rd_str(c, pp, "", n, &e->verb);
    case M_USERAGENT: return rd_str(c, pp, "", n, &e->userAgent);
    case M_USER: return rd_user(c, pp, n, &e->user);
    case M_IMPUSER: return rd_user(c, pp, n, &e->impersonatedUser);
    case M_AUTHNMETA: return rd_raw(c, pp, 1, '{', "", n, &e->authenticationMetadata);
    case M_SOURCEIPS: return rd_strarr(c, pp, 1, "", n, &e->sourceIPs);
    case M_OBJECTREF: return rd_objref(c, pp, &e->objectRef);
    case M_RESPSTATUS: return rd_status(c, pp, &e->responseStatus);
    case M_REQOBJ: return rd_raw(c, pp, 1, 0, "", n, &e->requestObject);
    case M_RESPOBJ: return rd_raw(c, pp, 1, 0, "", n, &e->responseObject);
    case M_RRTS: return rd_time(c, pp, n, &e->requestReceivedTimestamp);
    case M_STAGETS: return rd_time(c, pp, n, &e->stageTimestamp);
    case M_ANNOTATIONS: return rd_map(c, pp, 1, 0, "", n, &e->annotations);
    case M_METADATA: return rd_raw(c, pp, 1, 0, "", n, &e->v1beta1_metadata);
    case M_TIMESTAMP: return rd_raw(c, pp, 1, 0, "", n, &e->v1beta1_timestamp);
    default: return sc_skip(c, pp, 1);
    }
}

/* The event object at p; p is left after its '}'. */
static int scan_object(struct sc *c, const char **pp, struct ka_event *e)
{
    struct ka_str key = {0};
    int rc;
    const char *start = *pp;
    if (*start != '{')
        return sc_type(c, start, "", "event", "expected a JSON object");
    for (rc = sc_open(c, pp, 1, '}'); rc == 1; rc = sc_next(c, pp, '}')) {
        if ((rc = sc_key(c, pp, &key)) || (rc = rd_member(c, pp, event_member(key), e)))
            return rc;
    }
    if (rc < 0)
        return rc;
    e->raw.p = start;
    e->raw.n = (uint32_t)(*pp - start);
    return KA_OK;
}

/* kind, apiVersion and the v1beta1-only members, checked once the whole object is known. */
static int check_version(struct sc *c, struct ka_event *e)
{
    if (e->kind.set && e->kind.n && !ka_str_eq(e->kind, "Event", 5))
        return sc_type(c, e->kind.p, "", "kind", "expected \"Event\"");
    if (!e->apiVersion.set || e->apiVersion.n == 0)
        e->version = KA_EVENT_V_NONE;
    else if (ka_str_eq(e->apiVersion, "audit.k8s.io/v1", 15))
        e->version = KA_EVENT_V1;
    else if (ka_str_eq(e->apiVersion, "audit.k8s.io/v1beta1", 20))
        e->version = KA_EVENT_V1BETA1;
    else
        return sc_type(c, e->apiVersion.p, "", "apiVersion",
                       "expected \"audit.k8s.io/v1\" or \"audit.k8s.io/v1beta1\"");
    enum ka_json_type mt = ka_json_type_of(e->v1beta1_metadata.p, e->v1beta1_metadata.n);
    enum ka_json_type tt = ka_json_type_of(e->v1beta1_timestamp.p, e->v1beta1_timestamp.n);
    if (e->version == KA_EVENT_V1BETA1) {
        int64_t s;
        int32_t ns;
        struct ka_str ts = ka_str_from_raw(e->v1beta1_timestamp.p, e->v1beta1_timestamp.n);
        char tmp[64];
        if (mt != KA_JSON_NONE && mt != KA_JSON_OBJECT)
            return sc_type(c, e->v1beta1_metadata.p, "", "metadata", "expected an object");
        if (tt != KA_JSON_NONE && tt != KA_JSON_STRING)
            return sc_type(c, e->v1beta1_timestamp.p, "", "timestamp", "expected a string");
        if (tt == KA_JSON_STRING &&
            (ts.n > sizeof tmp ||
             ka_time_parse(tmp, ka_str_decode(ts, tmp), &s, &ns) != KA_OK))
            return sc_type(c, e->v1beta1_timestamp.p, "", "timestamp", "invalid RFC 3339 time");
    } else {
        if (mt != KA_JSON_OBJECT)
            memset(&e->v1beta1_metadata, 0, sizeof e->v1beta1_metadata);
        if (tt != KA_JSON_STRING)
            memset(&e->v1beta1_timestamp, 0, sizeof e->v1beta1_timestamp);
    }
    return KA_OK;
}

static const char *skip_bom(const char *p, size_t n)
{
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        return p + 3;
    return p;
}

/* After a type error: malformed JSON anywhere wins over "not an event". */
static int recheck_syntax(struct sc *c, const char *p, int rc)
{
    struct ka_json_err je;
    int vrc = ka_json_validate(p, (size_t)(c->end - p), c->max_depth, &je);
    if (vrc == KA_OK)
        return rc;
    if (c->err) {
        c->err->code = vrc;
        c->err->off = (size_t)(p - c->base) + je.off;
        snprintf(c->err->msg, sizeof c->err->msg, "%s", je.msg);
    }
    return vrc;
}

int ka_event_scan(const char *p, size_t n, const struct ka_scan_opts *opts, struct ka_event *ev,
                  struct ka_scan_err *err)
{
    struct sc c = {.base = p, .end = p + n, .err = err};
    struct ka_event e;
    c.max_depth = opts && opts->max_depth ? opts->max_depth : KA_JSON_DEFAULT_MAX_DEPTH;
    memset(&e, 0, sizeof e);
    const char *body = skip_bom(p, n), *q = body;
    int rc = sc_ws(&c, &q);
    if (rc == KA_OK)
        rc = scan_object(&c, &q, &e);
    if (rc == KA_OK) {
        q = ka__json_ws(q, c.end);
        if (q != c.end)
            rc = sc_fail(&c, q, "unexpected data after the event");
    }
    if (rc == KA_OK)
        rc = check_version(&c, &e);
    if (rc == KA_ENOTEVENT)
        return recheck_syntax(&c, body, rc);
    if (rc)
        return rc;
    e.level_v = ka_level_parse(e.level);
    e.stage_v = ka_stage_parse(e.stage);
    *ev = e;
    return KA_OK;
}

/* ---- documents ---- */

static int doc_items(struct ka_raw arr, ka_doc_item_fn fn, void *ud)
{
    struct ka_json_iter it;
    struct ka_raw v;
    size_t i = 0;
    ka_json_iter_init(&it, arr);
    while (ka_json_iter_elem(&it, &v)) {
        int rc = fn(ud, v.p, v.n, i++);
        if (rc)
            return rc;
    }
    return KA_OK;
}

/* Classifies a validated object: EventList (items) or a single Event. */
static int doc_object(struct sc *c, struct ka_raw obj, enum ka_doc_kind *kind, struct ka_raw *items)
{
    struct ka_json_iter it;
    struct ka_str key, kstr = {0}, astr = {0};
    struct ka_raw v, kraw = {0}, araw = {0};
    memset(items, 0, sizeof *items);
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &key, &v)) {
        if (ka_str_eq(key, "kind", 4))
            kraw = v;
        else if (ka_str_eq(key, "apiVersion", 10))
            araw = v;
        else if (ka_str_eq(key, "items", 5)) {
            if (ka_json_type_of(v.p, v.n) == KA_JSON_NULL)
                v = (struct ka_raw){0};
            *items = v;
        }
    }
    enum ka_json_type kt = ka_json_type_of(kraw.p, kraw.n);
    if (kt != KA_JSON_NONE && kt != KA_JSON_NULL && kt != KA_JSON_STRING)
        return sc_type(c, kraw.p, "", "kind", "expected a string");
    if (kt == KA_JSON_STRING)
        kstr = ka_str_from_raw(kraw.p, kraw.n);
    if (ka_str_eq(kstr, "EventList", 9) || (kstr.n == 0 && items->p)) {
        *kind = KA_DOC_EVENTLIST;
        if (items->p && ka_json_type_of(items->p, items->n) != KA_JSON_ARRAY)
            return sc_type(c, items->p, "", "items", "expected an array");
        if (ka_json_type_of(araw.p, araw.n) == KA_JSON_STRING)
            astr = ka_str_from_raw(araw.p, araw.n);
        if (astr.n && !ka_str_eq(astr, "audit.k8s.io/v1", 15) &&
            !ka_str_eq(astr, "audit.k8s.io/v1beta1", 20))
            return sc_type(c, araw.p, "", "apiVersion",
                           "expected \"audit.k8s.io/v1\" or \"audit.k8s.io/v1beta1\"");
        return KA_OK;
    }
    if (kstr.n && !ka_str_eq(kstr, "Event", 5))
        return sc_type(c, kraw.p, "", "kind", "expected \"Event\" or \"EventList\"");
    *kind = KA_DOC_EVENT;
    return KA_OK;
}

int ka_doc_scan(const char *p, size_t n, const struct ka_scan_opts *opts, enum ka_doc_kind *kind,
                ka_doc_item_fn fn, void *ud, struct ka_scan_err *err)
{
    struct sc c = {.base = p, .end = p + n, .err = err};
    enum ka_doc_kind k;
    struct ka_raw items, whole;
    c.max_depth = opts && opts->max_depth ? opts->max_depth : KA_JSON_DEFAULT_MAX_DEPTH;
    const char *body = skip_bom(p, n);
    int rc = recheck_syntax(&c, body, KA_OK);
    if (rc)
        return rc;
    body = ka__json_ws(body, c.end);
    whole.p = body;
    whole.n = (uint32_t)(ka__json_fast_end(body, c.end) - body);
    if (*body == '[') {
        k = KA_DOC_ARRAY;
        items = whole;
    } else if (*body == '{') {
        if ((rc = doc_object(&c, whole, &k, &items)))
            return rc;
    } else
        return sc_type(&c, body, "", "document", "expected an EventList, an array or an Event");
    if (kind)
        *kind = k;
    if (k == KA_DOC_EVENT)
        return fn(ud, whole.p, whole.n, 0);
    return doc_items(items, fn, ud);
}

/* ---- levels, stages, times ---- */

static const char *const level_names[] = {"None", "Metadata", "Request", "RequestResponse"};
static const char *const stage_names[] = {"RequestReceived", "ResponseStarted",
                                          "ResponseComplete", "Panic"};

const char *ka_level_name(enum ka_level l)
{
    return (unsigned)l < 4 ? level_names[l] : "";
}

const char *ka_stage_name(enum ka_stage s)
{
    return (unsigned)s < 4 ? stage_names[s] : "";
}

static int find_name(const char *const *names, const char *s, size_t n)
{
    for (int i = 0; i < 4; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return i;
    return -1;
}

int ka_level_from_cstr(const char *s, size_t n)
{
    return find_name(level_names, s, n);
}

int ka_stage_from_cstr(const char *s, size_t n)
{
    return find_name(stage_names, s, n);
}

/* Decodes a short string for name lookups; returns -1 when it cannot be a name. */
static int lookup(struct ka_str s, int (*from)(const char *, size_t))
{
    char tmp[32];
    if (!s.set)
        return -1;
    if (!s.esc)
        return from(s.p, s.n);
    if (s.n > sizeof tmp)
        return -1;
    return from(tmp, ka_str_decode(s, tmp));
}

enum ka_level ka_level_parse(struct ka_str s)
{
    int v = lookup(s, ka_level_from_cstr);
    return v < 0 ? KA_LEVEL_NONE : (enum ka_level)v;
}

enum ka_stage ka_stage_parse(struct ka_str s)
{
    int v = lookup(s, ka_stage_from_cstr);
    return v < 0 ? KA_STAGE_UNKNOWN : (enum ka_stage)v;
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[m - 1] + (m == 2 && leap);
}

int ka_time_parse(const char *s, size_t n, int64_t *sec, int32_t *nsec)
{
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return KA_EINVAL;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 59)
        return KA_EINVAL;
    size_t i = 19;
    int32_t ns = 0;
    if (s[i] == '.') {
        size_t nd = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 9)
                ns = ns * 10 + (s[i] - '0');
        if (nd == 0)
            return KA_EINVAL;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    int off = 0;
    if (i + 1 == n && s[i] == 'Z')
        off = 0;
    else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return KA_EINVAL;
        off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    } else
        return KA_EINVAL;
    *sec = ka_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = ns;
    return KA_OK;
}
