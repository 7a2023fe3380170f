/*
 * views_history.c - `kaudit history KIND/NAME`: every request that touched one object, in row
 * order, with who, verb and code, and for each change what changed: a diff between consecutive
 * logged states of the object (request or response objects), or the patch body when that is
 * all the log holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

struct ka_history {
    struct ka_view_target t;
    enum ka_view_fmt fmt;
    struct ka_buf out;
    struct ka_buf prev; /* compact JSON of the last logged state */
    bool have_prev;
    uint64_t n;
};

int ka_view_history_query(const struct ka_view_target *t, struct ka_query *q,
                          struct ka_diag *d)
{
    char res[300];
    struct ka_buf name;
    if (t->group_known)
        snprintf(res, sizeof res, "%s.%s/*", t->resource, t->group[0] ? t->group : "core");
    else
        snprintf(res, sizeof res, "%s/*", t->resource);
    int rc = ka_query_add_resources(q, res, d);
    if (rc == 0 && t->namespace_[0])
        rc = ka_query_add_namespaces(q, t->namespace_, d);
    if (rc)
        return rc;
    /* the name as it appears in the raw event: a prefilter, the exact check is in _add */
    ka_buf_init(&name, 4096);
    rc = ka_jw_str(&name, t->name, strlen(t->name));
    if (rc == 0 && ka_buf_cstr(&name))
        rc = ka_query_add_grep(q, name.p, d);
    ka_buf_free(&name);
    return rc;
}

int ka_history_new(const struct ka_view_target *t, enum ka_view_fmt fmt,
                   struct ka_history **out)
{
    struct ka_history *h = calloc(1, sizeof *h);
    if (!h)
        return KA_ENOMEM;
    h->t = *t;
    h->fmt = fmt;
    ka_buf_init(&h->out, 0);
    ka_buf_init(&h->prev, KA_VIEW_MAX_STATE);
    *out = h;
    return 0;
}

static bool str_is(struct ka_str s, const char *lit)
{
    return s.set && ka_str_eq(s, lit, strlen(lit));
}

/* The object a body holds, when it is a state of the target (its kind, not a Status). */
static bool is_state(const struct ka_history *h, struct ka_raw v)
{
    if (!v.p || ka_json_type_of(v.p, v.n) != KA_JSON_OBJECT)
        return false;
    struct ka_raw kind = ka_view_member(v, "kind");
    if (!ka_view_member(v, "metadata").p)
        return false;
    if (!kind.p)
        return true;
    if (h->t.group_known)
        return ka_view_raw_str_eq(kind, h->t.kind, strlen(h->t.kind));
    return !ka_view_raw_str_eq(kind, "Status", 6) && !ka_view_raw_str_eq(kind, "DeleteOptions", 13);
}

static struct ka_raw logged_name(struct ka_raw obj)
{
    static const char *const p[] = {"metadata", "name"};
    return ka_view_path(obj, p, 2);
}

/* Whether the row is about the target object. */
static bool concerns(const struct ka_history *h, const struct ka_event *ev)
{
    const struct ka_objref *o = &ev->objectRef;
    const struct ka_view_target *t = &h->t;
    if (!str_is(o->resource, t->resource))
        return false;
    if (t->group_known && !(t->group[0] ? str_is(o->apiGroup, t->group) : !o->apiGroup.n))
        return false;
    if (t->namespace_[0] && !str_is(o->namespace_, t->namespace_))
        return false;
    if (o->name.n)
        return str_is(o->name, t->name);
    if (!str_is(ev->verb, "create") || o->subresource.n)
        return false;
    size_t n = strlen(t->name);
    return ka_view_raw_str_eq(logged_name(ev->responseObject), t->name, n) ||
           ka_view_raw_str_eq(logged_name(ev->requestObject), t->name, n);
}

/* The state after the request, if the row logs one. */
static struct ka_raw state_after(const struct ka_history *h, const struct ka_event *ev)
{
    struct ka_raw none = {0};
    if (ev->objectRef.subresource.n && !str_is(ev->objectRef.subresource, "status"))
        return none;
    if (is_state(h, ev->responseObject))
        return ev->responseObject;
    if ((str_is(ev->verb, "create") || str_is(ev->verb, "update")) &&
        is_state(h, ev->requestObject))
        return ev->requestObject;
    return none;
}

static int head_text(struct ka_history *h, const struct ka_event *ev)
{
    char tm[48], user[KA_VIEW_MAX_STR + 1], as[KA_VIEW_MAX_STR + 1], verb[64], sub[128];
    char ns[KA_VIEW_MAX_STR + 1], code[16] = "-";
    ka__vtime(&ev->requestReceivedTimestamp, tm, sizeof tm);
    ka__vstr(ev->user.username, user);
    ka__vstr(ev->impersonatedUser.username, as);
    ka__vstr(ev->objectRef.namespace_, ns);
    if (ev->verb.n < sizeof verb)
        ka__vstr(ev->verb, verb);
    else
        snprintf(verb, sizeof verb, "?");
    if (ev->objectRef.subresource.n < sizeof sub - 1)
        ka__vstr(ev->objectRef.subresource, sub);
    else
        sub[0] = 0;
    if (ev->responseStatus.has_code)
        snprintf(code, sizeof code, "%d", (int)ev->responseStatus.code);
    int rc = ka_buf_printf(&h->out, "%s  %s%s%s%s  %s%s%s  %s", tm, user,
                           as[0] ? " (as " : "", as, as[0] ? ")" : "", verb, sub[0] ? " " : "",
                           sub, code);
    if (rc == 0 && !h->t.namespace_[0] && ns[0])
        rc = ka_buf_printf(&h->out, "  ns=%s", ns);
    return rc ? rc : ka_buf_putc(&h->out, '\n');
}

static int head_json(struct ka_history *h, const struct ka_event *ev)
{
    char tm[48], s[KA_VIEW_MAX_STR + 1];
    struct ka_buf *b = &h->out;
    int rc = ka_buf_puts(b, h->n > 1 ? ",\n{" : "[\n{");
    ka__vtime(&ev->requestReceivedTimestamp, tm, sizeof tm);
    if (rc == 0)
        rc = ka__vjkv(b, true, "time", tm);
    ka__vstr(ev->auditID, s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "auditID", s);
    ka__vstr(ev->user.username, s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "user", s);
    if (rc == 0 && ev->impersonatedUser.username.n) {
        ka__vstr(ev->impersonatedUser.username, s);
        rc = ka__vjkv(b, false, "as", s);
    }
    ka__vstr(ev->verb, s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "verb", s);
    ka__vstr(ev->objectRef.subresource, s);
    if (rc == 0 && s[0])
        rc = ka__vjkv(b, false, "subresource", s);
    ka__vstr(ev->objectRef.namespace_, s);
    if (rc == 0 && s[0])
        rc = ka__vjkv(b, false, "namespace", s);
    if (rc == 0 && ev->responseStatus.has_code)
        rc = ka__vjkint(b, false, "code", ev->responseStatus.code);
    ka__vstr(ev->level, s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "level", s);
    return rc;
}

static int note(struct ka_history *h, const char *what)
{
    if (h->fmt == KA_VIEW_JSON)
        return ka__vjkv(&h->out, false, "change", what);
    return ka_buf_printf(&h->out, "    %s\n", what);
}

static int show_diff(struct ka_history *h, struct ka_raw st)
{
    struct ka_raw prev = {h->prev.p, (uint32_t)h->prev.n};
    bool json = h->fmt == KA_VIEW_JSON;
    size_t n = 0;
    int rc = json ? ka_buf_puts(&h->out, ",\"changes\":[") : 0;
    if (rc == 0)
        rc = ka_view_diff(prev, st, json, "    ", &h->out, &n);
    if (rc == 0 && json)
        rc = ka_buf_putc(&h->out, ']');
    if (rc == 0 && n == 0)
        rc = note(h, "no change in the logged object");
    return rc;
}

static int show_patch(struct ka_history *h, struct ka_raw patch)
{
    if (h->fmt == KA_VIEW_JSON) {
        int rc = ka_buf_puts(&h->out, ",\"patch\":");
        return rc ? rc : ka_jw_compact(&h->out, patch.p, patch.n);
    }
    int rc = ka_buf_puts(&h->out, "    patch:\n");
    return rc ? rc : ka_view_patch_text(patch, "      ", &h->out);
}

static int keep_state(struct ka_history *h, struct ka_raw st)
{
    ka_buf_reset(&h->prev);
    h->have_prev = false;
    int rc = ka_jw_compact(&h->prev, st.p, st.n);
    if (rc == KA_ETOOBIG)
        return 0; /* too large to keep: the next change shows no diff */
    h->have_prev = rc == 0;
    return rc;
}

/* What changed: diff, patch body, creation, deletion. */
static int changes(struct ka_history *h, const struct ka_event *ev)
{
    bool ok = ev->responseStatus.has_code && ev->responseStatus.code < 300;
    bool patch = str_is(ev->verb, "patch"), create = str_is(ev->verb, "create");
    struct ka_raw st = ok ? state_after(h, ev) : (struct ka_raw){0};
    int rc = 0;
    if (!ok)
        return 0;
    if (str_is(ev->verb, "delete") && !ev->objectRef.subresource.n) {
        h->have_prev = false;
        return note(h, "deleted");
    }
    if (st.p && h->have_prev && !create)
        rc = show_diff(h, st);
    else if (st.p && create)
        rc = note(h, "created");
    else if (st.p)
        rc = note(h, "first logged state");
    if (rc == 0 && patch && ev->requestObject.p && !(st.p && h->have_prev))
        rc = show_patch(h, ev->requestObject);
    if (rc == 0 && st.p)
        rc = keep_state(h, st);
    return rc;
}

int ka_history_add(struct ka_history *h, const struct ka_event *ev)
{
    if (!concerns(h, ev))
        return 0;
    h->n++;
    int rc = h->fmt == KA_VIEW_JSON ? head_json(h, ev) : head_text(h, ev);
    if (rc == 0)
        rc = changes(h, ev);
    if (rc == 0 && h->fmt == KA_VIEW_JSON)
        rc = ka_buf_putc(&h->out, '}');
    return rc;
}

int ka_history_finish(struct ka_history *h)
{
    if (h->fmt == KA_VIEW_JSON)
        return ka_buf_puts(&h->out, h->n ? "]\n" : "[]\n");
    return 0;
}

struct ka_buf *ka_history_buf(struct ka_history *h)
{
    return &h->out;
}

uint64_t ka_history_count(const struct ka_history *h)
{
    return h->n;
}

void ka_history_free(struct ka_history *h)
{
    if (!h)
        return;
    ka_buf_free(&h->out);
    ka_buf_free(&h->prev);
    free(h);
}
