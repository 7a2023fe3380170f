/*
 * views_explain.c - `kaudit explain pod/NAME`: why did this pod start. Follows the owners of the
 * pod (Pod <- ReplicaSet <- Deployment, Pod <- Job <- CronJob, DaemonSet, StatefulSet) from the
 * ownerReferences of logged objects, or from Kubernetes' naming conventions when no object is
 * logged (marked inferred), up to the user request that created or last changed the top owner
 * before the pod was created, with each step's evidence.
 *
 * One pass keeps a small record per row of the pod's namespace about the pod itself (or a pod
 * created with a generateName the pod's name extends) and about every workload object; the
 * chain is resolved at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

enum xkind { XK_POD, XK_RS, XK_DEPLOY, XK_JOB, XK_CRONJOB, XK_DS, XK_SS, XK_COUNT };
static const char *const xk_res[XK_COUNT] = {"pods", "replicasets", "deployments", "jobs",
                                             "cronjobs", "daemonsets", "statefulsets"};
static const char *const xk_kind[XK_COUNT] = {"Pod", "ReplicaSet", "Deployment", "Job",
                                              "CronJob", "DaemonSet", "StatefulSet"};

struct xrec {
    uint8_t kind;       /* enum xkind */
    uint8_t owner_kind; /* XK_COUNT: none or not a known workload */
    bool gen;           /* a pod create with generateName (name = the generateName) */
    bool change;        /* create/update/patch without subresource (or scale), code < 300 */
    bool create;
    int code;
    struct ka_time t;
    char *name, *user, *audit, *verb, *sub, *owner_name, *owner_src;
};

struct xstep {
    int kind;
    char name[256];
    const char *link; /* how it was linked to the previous step */
    bool inferred;
    const struct xrec *ev; /* evidence of the link, or NULL */
};

struct ka_explain {
    struct ka_view_target pod;
    enum ka_view_fmt fmt;
    struct xrec *r;
    size_t n, cap;
    struct xstep steps[KA_VIEW_MAX_HOPS + 1];
    size_t n_steps;
    struct ka_buf out;
};

int ka_view_explain_query(const struct ka_view_target *pod, struct ka_query *q,
                          struct ka_diag *d)
{
    int rc = ka_query_add_resources(q, "pods.core/*,replicasets.apps/*,deployments.apps/*,"
                                       "daemonsets.apps/*,statefulsets.apps/*,jobs.batch/*,"
                                       "cronjobs.batch/*", d);
    if (rc == 0 && pod->namespace_[0])
        rc = ka_query_add_namespaces(q, pod->namespace_, d);
    return rc;
}

int ka_explain_new(const struct ka_view_target *pod, enum ka_view_fmt fmt,
                   struct ka_explain **out)
{
    struct ka_explain *x = calloc(1, sizeof *x);
    if (!x)
        return KA_ENOMEM;
    x->pod = *pod;
    x->fmt = fmt;
    ka_buf_init(&x->out, 0);
    *out = x;
    return 0;
}

static char *sdup(struct ka_str s)
{
    char tmp[KA_VIEW_MAX_STR + 1];
    size_t n = ka__vstr(s, tmp);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, tmp, n + 1);
    return p;
}

static char *rawdup(struct ka_raw v)
{
    struct ka_str s = {0};
    if (v.p && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        s = ka_str_from_raw(v.p, v.n);
    return sdup(s);
}

static int kind_of_res(struct ka_str r)
{
    for (int k = 0; k < XK_COUNT; k++)
        if (ka_str_eq(r, xk_res[k], strlen(xk_res[k])))
            return k;
    return XK_COUNT;
}

static int kind_of_name(struct ka_raw kind)
{
    for (int k = 0; k < XK_COUNT; k++)
        if (ka_view_raw_str_eq(kind, xk_kind[k], strlen(xk_kind[k])))
            return k;
    return XK_COUNT;
}

/* The controller owner reference of a logged object of kind k (or the first one). */
static struct ka_raw owner_ref(struct ka_raw obj, int k)
{
    static const char *const p[] = {"metadata", "ownerReferences"};
    struct ka_raw none = {0}, refs, e, first = {0};
    struct ka_raw kind = ka_view_member(obj, "kind");
    if (!obj.p || (kind.p && kind_of_name(kind) != k))
        return none;
    refs = ka_view_path(obj, p, 2);
    struct ka_json_iter it;
    ka_json_iter_init(&it, refs.p && ka_json_type_of(refs.p, refs.n) == KA_JSON_ARRAY ? refs
                                                                                      : none);
    while (ka_json_iter_elem(&it, &e)) {
        struct ka_raw c = ka_view_member(e, "controller");
        if (c.p && ka_json_type_of(c.p, c.n) == KA_JSON_TRUE)
            return e;
        if (!first.p)
            first = e;
    }
    return first;
}

/* Whether the record's pod name is the target or a generateName the target extends. */
static bool pod_relevant(const struct ka_explain *x, const char *name, bool gen)
{
    size_t n = strlen(name), pn = strlen(x->pod.name);
    if (!gen)
        return strcmp(name, x->pod.name) == 0;
    return n > 0 && pn == n + 5 && strncmp(name, x->pod.name, n) == 0;
}

static struct xrec *push(struct ka_explain *x)
{
    if (x->n == KA_VIEW_MAX_RECORDS)
        return NULL;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        struct xrec *r = realloc(x->r, cap * sizeof *r);
        if (!r)
            return NULL;
        x->r = r;
        x->cap = cap;
    }
    struct xrec *r = &x->r[x->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void fill(struct xrec *r, const struct ka_event *ev, struct ka_raw own, const char *src)
{
    r->code = ev->responseStatus.has_code ? (int)ev->responseStatus.code : 0;
    r->t = ev->requestReceivedTimestamp;
    r->user = sdup(ev->user.username);
    r->audit = sdup(ev->auditID);
    r->verb = sdup(ev->verb);
    r->sub = sdup(ev->objectRef.subresource);
    bool ok = r->code > 0 && r->code < 300;
    bool write = ka_str_eq(ev->verb, "create", 6) || ka_str_eq(ev->verb, "update", 6) ||
                 ka_str_eq(ev->verb, "patch", 5);
    r->create = ok && ka_str_eq(ev->verb, "create", 6) && !ev->objectRef.subresource.n;
    r->change = ok && write &&
                (!ev->objectRef.subresource.n || ka_str_eq(ev->objectRef.subresource, "scale", 5));
    r->owner_kind = XK_COUNT;
    if (own.p) {
        r->owner_kind = (uint8_t)kind_of_name(ka_view_member(own, "kind"));
        r->owner_name = rawdup(ka_view_member(own, "name"));
        r->owner_src = malloc(strlen(src) + 1);
        if (r->owner_src)
            memcpy(r->owner_src, src, strlen(src) + 1);
    }
}

int ka_explain_add(struct ka_explain *x, const struct ka_event *ev)
{
    static const char *const nm[] = {"metadata", "name"}, *const gn[] = {"metadata",
                                                                         "generateName"};
    int k = kind_of_res(ev->objectRef.resource);
    if (k == XK_COUNT || (x->pod.namespace_[0] && !ka_str_eq(ev->objectRef.namespace_,
                                                              x->pod.namespace_,
                                                              strlen(x->pod.namespace_))))
        return 0;
    struct ka_raw body = ev->responseObject.p ? ev->responseObject : ev->requestObject;
    char name[KA_VIEW_MAX_STR + 1];
    bool gen = false;
    ka__vstr(ev->objectRef.name, name);
    if (!name[0] && ka_str_eq(ev->verb, "create", 6)) {
        struct ka_raw v = ka_view_path(body, nm, 2);
        if (!v.p && (v = ka_view_path(body, gn, 2)).p)
            gen = true;
        if (v.p && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            ka__vstr(ka_str_from_raw(v.p, v.n), name);
    }
    if (!name[0] || (k == XK_POD && !pod_relevant(x, name, gen)))
        return 0;
    const char *src = "responseObject";
    struct ka_raw own = owner_ref(ev->responseObject, k);
    if (!own.p) {
        own = owner_ref(ev->requestObject, k);
        src = "requestObject";
    }
    struct xrec *r = push(x);
    if (!r)
        return x->n == KA_VIEW_MAX_RECORDS ? KA_ETOOBIG : KA_ENOMEM;
    r->kind = (uint8_t)k;
    r->gen = gen;
    r->name = malloc(strlen(name) + 1);
    if (r->name)
        memcpy(r->name, name, strlen(name) + 1);
    fill(r, ev, own, src);
    return r->name && r->user && r->audit && r->verb && r->sub ? 0 : KA_ENOMEM;
}

/* ---- resolution ---- */

static bool rec_is(const struct xrec *r, int k, const char *name)
{
    return r->kind == k && !r->gen && strcmp(r->name, name) == 0;
}

static bool seen(const struct ka_explain *x, int k, const char *name)
{
    for (size_t i = 0; i < x->n; i++)
        if (rec_is(&x->r[i], k, name))
            return true;
    return false;
}

/* The first record of (k, name) matching want (0 any, 1 create, 2 with an owner). */
static const struct xrec *find(const struct ka_explain *x, int k, const char *name, int want)
{
    for (size_t i = 0; i < x->n; i++) {
        const struct xrec *r = &x->r[i];
        if (!rec_is(r, k, name) || (want == 1 && !r->create) ||
            (want == 2 && !(r->owner_name && r->owner_name[0] && r->owner_kind < XK_COUNT)))
            continue;
        return r;
    }
    return NULL;
}

static bool all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]))
            return false;
    return n > 0;
}

/* Splits name at its last '-': returns the length of the prefix (0 when none). */
static size_t last_dash(const char *name)
{
    const char *d = strrchr(name, '-');
    return d && d != name ? (size_t)(d - name) : 0;
}

/* Owner by naming conventions. Returns the owner's kind (XK_COUNT: none). */
static int by_name(const struct ka_explain *x, int k, const char *name, char *out, size_t cap)
{
    size_t p = last_dash(name);
    const char *suf = name + p + 1;
    if (!p || p >= cap)
        return XK_COUNT;
    memcpy(out, name, p);
    out[p] = 0;
    if (k == XK_POD) {
        static const int cand[] = {XK_RS, XK_JOB, XK_DS, XK_SS};
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
            if (seen(x, cand[i], out))
                return cand[i];
        if (strlen(suf) != 5 && all_in(suf, strlen(suf), "0123456789"))
            return XK_SS;
        size_t q = last_dash(out);
        const char *hash = out + q + 1;
        if (q && strlen(suf) == 5 && all_in(hash, strlen(hash), "0123456789"))
            return XK_JOB;
        return q && strlen(suf) == 5 && strlen(hash) >= 6 &&
                       all_in(hash, strlen(hash), "bcdfghjklmnpqrstvwxz2456789")
                   ? XK_RS
                   : XK_COUNT;
    }
    if (k == XK_RS)
        return XK_DEPLOY;
    if (k == XK_JOB && strlen(suf) >= 8 && all_in(suf, strlen(suf), "0123456789"))
        return XK_CRONJOB;
    return XK_COUNT;
}

/* The pod's own link: ownerReferences of its logged objects, or of a generateName create. */
static void pod_owner(struct ka_explain *x, struct xstep *next)
{
    const struct xrec *r = find(x, XK_POD, x->pod.name, 2);
    for (size_t i = 0; !r && i < x->n; i++)
        if (x->r[i].kind == XK_POD && x->r[i].gen && x->r[i].owner_name)
            r = &x->r[i];
    if (r) {
        next->kind = r->owner_kind;
        snprintf(next->name, sizeof next->name, "%s", r->owner_name);
        next->link = r->gen ? "ownerReferences of a pod created with generateName "
                              "the pod's name extends"
                            : "ownerReferences";
        next->inferred = r->gen;
        next->ev = r;
    }
}

static int resolve(struct ka_explain *x)
{
    struct xstep *s = &x->steps[0];
    s->kind = XK_POD;
    snprintf(s->name, sizeof s->name, "%s", x->pod.name);
    bool any = seen(x, XK_POD, x->pod.name);
    x->n_steps = 1;
    while (x->n_steps <= KA_VIEW_MAX_HOPS) {
        struct xstep *cur = &x->steps[x->n_steps - 1], *next = &x->steps[x->n_steps];
        memset(next, 0, sizeof *next);
        next->kind = XK_COUNT;
        const struct xrec *r = find(x, cur->kind, cur->name, 2);
        if (cur->kind == XK_POD) {
            pod_owner(x, next);
        } else if (r) {
            next->kind = r->owner_kind;
            snprintf(next->name, sizeof next->name, "%s", r->owner_name);
            next->link = "ownerReferences";
            next->ev = r;
        }
        if (next->kind == XK_COUNT) {
            next->kind = by_name(x, cur->kind, cur->name, next->name, sizeof next->name);
            next->link = "naming convention";
            next->inferred = true;
        }
        if (next->kind == XK_COUNT)
            break;
        x->n_steps++;
    }
    if (!any && x->n_steps == 1)
        x->n_steps = 0;
    return 0;
}

/* The user request that created or last changed the top owner before time t. */
static const struct xrec *cause(const struct ka_explain *x, const struct xstep *top,
                                const struct ka_time *t)
{
    const struct xrec *best = NULL, *any = NULL;
    for (size_t i = 0; i < x->n; i++) {
        const struct xrec *r = &x->r[i];
        if (!rec_is(r, top->kind, top->name) || !r->change)
            continue;
        bool in_time = !t->set || !r->t.set || r->t.sec < t->sec ||
                       (r->t.sec == t->sec && r->t.nsec <= t->nsec);
        if (!in_time)
            continue;
        if (!ka__vcontroller(r->user))
            best = r;
        any = r;
    }
    return best ? best : any;
}

/* ---- output ---- */

static int ev_json(struct ka_buf *b, const char *key, const struct xrec *r)
{
    char tm[48];
    ka__vtime(&r->t, tm, sizeof tm);
    int rc = ka_buf_printf(b, ",\"%s\":{", key);
    if (rc == 0)
        rc = ka__vjkv(b, true, "auditID", r->audit);
    if (rc == 0)
        rc = ka__vjkv(b, false, "time", tm);
    if (rc == 0)
        rc = ka__vjkv(b, false, "user", r->user);
    if (rc == 0)
        rc = ka__vjkv(b, false, "verb", r->verb);
    if (rc == 0 && r->sub[0])
        rc = ka__vjkv(b, false, "subresource", r->sub);
    if (rc == 0 && r->code)
        rc = ka__vjkint(b, false, "code", r->code);
    if (rc == 0 && r->owner_src)
        rc = ka__vjkv(b, false, "object", r->owner_src);
    return rc ? rc : ka_buf_putc(b, '}');
}

static int ev_text(struct ka_buf *b, const struct xrec *r)
{
    char tm[48];
    ka__vtime(&r->t, tm, sizeof tm);
    return ka_buf_printf(b, "%s %s%s%s by %s at %s (auditID %s, code %d)", r->verb,
                         xk_res[r->kind], r->sub[0] ? "/" : "", r->sub, r->user, tm, r->audit,
                         r->code);
}

static int step_text(struct ka_explain *x, size_t i)
{
    const struct xstep *s = &x->steps[i];
    struct ka_buf *b = &x->out;
    const struct xrec *cr = find(x, s->kind, s->name, 1);
    int rc = 0;
    if (i == 0)
        rc = ka_buf_printf(b, "Pod %s%s%s\n", x->pod.namespace_, x->pod.namespace_[0] ? "/" : "",
                           s->name);
    else
        rc = ka_buf_printf(b, "  <- %s %s  [%s%s]\n", xk_kind[s->kind], s->name, s->link,
                           s->inferred ? ", inferred" : "");
    if (rc == 0 && s->ev && s->link && strcmp(s->link, "naming convention") != 0) {
        rc = ka_buf_printf(b, "       evidence: %s of ", s->ev->owner_src);
        if (rc == 0)
            rc = ev_text(b, s->ev);
        if (rc == 0)
            rc = ka_buf_putc(b, '\n');
    }
    const struct xrec *fs = i == 0 && !cr ? find(x, XK_POD, s->name, 0) : NULL;
    if (rc == 0 && fs && (rc = ka_buf_puts(b, "       first seen (creation not in the data): "))
                             == 0) {
        rc = ev_text(b, fs);
        if (rc == 0)
            rc = ka_buf_putc(b, '\n');
    }
    if (rc == 0 && cr && (rc = ka_buf_puts(b, "       created: ")) == 0) {
        rc = ev_text(b, cr);
        if (rc == 0)
            rc = ka_buf_putc(b, '\n');
    }
    return rc;
}

static int step_json(struct ka_explain *x, size_t i)
{
    const struct xstep *s = &x->steps[i];
    struct ka_buf *b = &x->out;
    const struct xrec *cr = find(x, s->kind, s->name, 1);
    int rc = ka_buf_puts(b, i ? ",{" : "{");
    if (rc == 0)
        rc = ka__vjkv(b, true, "kind", xk_kind[s->kind]);
    if (rc == 0)
        rc = ka__vjkv(b, false, "name", s->name);
    if (rc == 0 && i)
        rc = ka__vjkv(b, false, "link", s->link);
    if (rc == 0 && i)
        rc = ka_buf_puts(b, s->inferred ? ",\"inferred\":true" : ",\"inferred\":false");
    if (rc == 0 && s->ev && i)
        rc = ev_json(b, "evidence", s->ev);
    if (rc == 0 && cr)
        rc = ev_json(b, "created", cr);
    return rc ? rc : ka_buf_putc(b, '}');
}

static int out_cause(struct ka_explain *x, const struct xrec *c, const struct xstep *top)
{
    struct ka_buf *b = &x->out;
    if (x->fmt == KA_VIEW_JSON) {
        if (!c)
            return ka_buf_puts(b, ",\"cause\":null");
        return ev_json(b, "cause", c);
    }
    if (!c)
        return ka_buf_printf(b, "cause: no request that created or changed %s %s is in the "
                                "data\n", xk_kind[top->kind], top->name);
    int rc = ka_buf_puts(b, "cause: ");
    if (rc == 0)
        rc = ev_text(b, c);
    return rc ? rc : ka_buf_printf(b, " on %s %s\n", xk_kind[top->kind], top->name);
}

int ka_explain_finish(struct ka_explain *x)
{
    struct ka_buf *b = &x->out;
    int rc = resolve(x);
    if (rc)
        return rc;
    if (x->n_steps == 0)
        return x->fmt == KA_VIEW_JSON
                   ? ka_buf_puts(b, "{\"pod\":null,\"steps\":[],\"cause\":null}\n")
                   : ka_buf_printf(b, "Pod %s%s%s: no request about it in the data\n",
                                   x->pod.namespace_, x->pod.namespace_[0] ? "/" : "",
                                   x->pod.name);
    /* the pod's creation time, else the time it was first seen */
    const struct xrec *pc = find(x, XK_POD, x->pod.name, 1);
    if (!pc)
        pc = find(x, XK_POD, x->pod.name, 0);
    struct ka_time t = pc ? pc->t : (struct ka_time){0};
    const struct xstep *top = &x->steps[x->n_steps - 1];
    const struct xrec *c = x->n_steps > 1 || pc ? cause(x, top, &t) : NULL;
    if (x->fmt == KA_VIEW_JSON) {
        rc = ka_buf_puts(b, "{");
        if (rc == 0)
            rc = ka__vjkv(b, true, "pod", x->pod.name);
        if (rc == 0)
            rc = ka__vjkv(b, false, "namespace", x->pod.namespace_);
        if (rc == 0)
            rc = ka_buf_puts(b, ",\"steps\":[");
    }
    for (size_t i = 0; rc == 0 && i < x->n_steps; i++)
        rc = x->fmt == KA_VIEW_JSON ? step_json(x, i) : step_text(x, i);
    if (rc == 0 && x->fmt == KA_VIEW_JSON)
        rc = ka_buf_putc(b, ']');
    if (rc == 0)
        rc = out_cause(x, c, top);
    if (rc == 0 && x->fmt == KA_VIEW_JSON)
        rc = ka_buf_puts(b, "}\n");
    return rc;
}

struct ka_buf *ka_explain_buf(struct ka_explain *x)
{
    return &x->out;
}

size_t ka_explain_steps(const struct ka_explain *x)
{
    return x->n_steps;
}

void ka_explain_free(struct ka_explain *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++) {
        struct xrec *r = &x->r[i];
        free(r->name);
        free(r->user);
        free(r->audit);
        free(r->verb);
        free(r->sub);
        free(r->owner_name);
        free(r->owner_src);
    }
    free(x->r);
    ka_buf_free(&x->out);
    free(x);
}
