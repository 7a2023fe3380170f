/*
 * views_activity.c - `kaudit activity USER`: what one user or service account did: counts by
 * verb, resource, namespace, source IP, user agent and code, first and last seen, the denied
 * requests, then the timeline of its requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

#define DENIED_MAX 1000u
#define LIST_MAX 50u /* entries of a count table printed as text */

enum { C_USER, C_VERB, C_RES, C_VERB_RES, C_NS, C_IP, C_UA, C_CODE, C_COUNT };
static const char *const c_names[C_COUNT] = {"users", "verbs", "resources", "verbResources",
                                             "namespaces", "sourceIPs", "userAgents", "codes"};
static const char *const c_titles[C_COUNT] = {"users", "verbs", "resources",
                                              "verb and resource", "namespaces", "source IPs",
                                              "user agents", "codes"};

struct ka_activity {
    enum ka_view_fmt fmt;
    uint64_t timeline_max;
    struct ka__vcount c[C_COUNT];
    struct ka_time first, last;
    uint64_t n, n_denied, n_timeline;
    struct ka_buf denied, timeline, out;
};

int ka_view_activity_query(const char *user, struct ka_query *q, struct ka_diag *d)
{
    const char *slash = strchr(user, '/');
    if (slash && !strchr(user, ':') && slash != user && slash[1] && !strchr(slash + 1, '/')) {
        char sa[KA_QUERY_MAX_ITEM];
        snprintf(sa, sizeof sa, "system:serviceaccount:%.*s:%s", (int)(slash - user), user,
                 slash + 1);
        return ka_query_add_users(q, sa, d);
    }
    return ka_query_add_users(q, user, d);
}

int ka_activity_new(enum ka_view_fmt fmt, uint64_t timeline_max, struct ka_activity **out)
{
    struct ka_activity *a = calloc(1, sizeof *a);
    if (!a)
        return KA_ENOMEM;
    a->fmt = fmt;
    a->timeline_max = timeline_max ? timeline_max : 200;
    ka_buf_init(&a->denied, 0);
    ka_buf_init(&a->timeline, 0);
    ka_buf_init(&a->out, 0);
    *out = a;
    return 0;
}

static bool before(const struct ka_time *x, const struct ka_time *y)
{
    return x->sec < y->sec || (x->sec == y->sec && x->nsec < y->nsec);
}

/* One row as a text line or a JSON object (reason: the RBAC reason, denied rows only). */
static int row(struct ka_activity *a, struct ka_buf *b, bool first, const struct ka_event *ev,
               bool reason)
{
    char tm[48], verb[KA_VIEW_MAX_STR + 1], res[2 * KA_VIEW_MAX_STR + 2];
    char ns[KA_VIEW_MAX_STR + 1], name[KA_VIEW_MAX_STR + 1], s[KA_VIEW_MAX_STR + 1];
    ka__vtime(&ev->requestReceivedTimestamp, tm, sizeof tm);
    ka__vstr(ev->verb, verb);
    ka__vres(ev, res, sizeof res);
    if (!res[0])
        ka__vstr(ev->requestURI, res);
    ka__vstr(ev->objectRef.namespace_, ns);
    ka__vstr(ev->objectRef.name, name);
    int code = ev->responseStatus.has_code ? (int)ev->responseStatus.code : 0;
    bool has_reason = reason && ka__vannotation(ev, "authorization.k8s.io/reason", s) && s[0];
    if (a->fmt == KA_VIEW_TEXT) {
        int rc = ka_buf_printf(b, "  %s  %-8s %-24s %s%s%s  %d", tm, verb, res, ns,
                               ns[0] && name[0] ? "/" : "", name, code);
        if (rc == 0 && has_reason)
            rc = ka_buf_printf(b, "  %s", s);
        return rc ? rc : ka_buf_putc(b, '\n');
    }
    int rc = ka_buf_puts(b, first ? "{" : ",{");
    if (rc == 0)
        rc = ka__vjkv(b, true, "time", tm);
    ka__vstr(ev->auditID, s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "auditID", s);
    if (rc == 0)
        rc = ka__vjkv(b, false, "verb", verb);
    if (rc == 0)
        rc = ka__vjkv(b, false, ev->objectRef.resource.n ? "resource" : "uri", res);
    if (rc == 0 && ns[0])
        rc = ka__vjkv(b, false, "namespace", ns);
    if (rc == 0 && name[0])
        rc = ka__vjkv(b, false, "name", name);
    if (rc == 0 && code)
        rc = ka__vjkint(b, false, "code", code);
    if (rc == 0 && has_reason)
        rc = ka__vjkv(b, false, "reason", s);
    return rc ? rc : ka_buf_putc(b, '}');
}

static int count(struct ka_activity *a, int which, const char *key)
{
    return ka__vcount_add(&a->c[which], key, strlen(key), 1);
}

static int count_row(struct ka_activity *a, const struct ka_event *ev)
{
    char s[KA_VIEW_MAX_STR + 1], res[2 * KA_VIEW_MAX_STR + 2], vr[3 * KA_VIEW_MAX_STR + 4];
    char verb[KA_VIEW_MAX_STR + 1];
    int rc;
    ka__vstr(ev->user.username, s);
    rc = count(a, C_USER, s);
    ka__vstr(ev->verb, verb);
    if (rc == 0)
        rc = count(a, C_VERB, verb);
    ka__vres(ev, res, sizeof res);
    if (!res[0])
        snprintf(res, sizeof res, "(non-resource)");
    if (rc == 0)
        rc = count(a, C_RES, res);
    snprintf(vr, sizeof vr, "%s %s", verb, res);
    if (rc == 0)
        rc = count(a, C_VERB_RES, vr);
    ka__vstr(ev->objectRef.namespace_, s);
    if (rc == 0)
        rc = count(a, C_NS, s[0] ? s : "(cluster)");
    ka__vsource_ip(ev, s);
    if (rc == 0 && s[0])
        rc = count(a, C_IP, s);
    ka__vstr(ev->userAgent, s);
    if (rc == 0 && s[0])
        rc = count(a, C_UA, s);
    snprintf(s, 16, "%d", ev->responseStatus.has_code ? (int)ev->responseStatus.code : 0);
    if (rc == 0)
        rc = count(a, C_CODE, ev->responseStatus.has_code ? s : "(none)");
    return rc;
}

int ka_activity_add(struct ka_activity *a, const struct ka_event *ev)
{
    int rc = count_row(a, ev);
    if (rc)
        return rc;
    const struct ka_time *t = &ev->requestReceivedTimestamp;
    if (t->set && (!a->first.set || before(t, &a->first)))
        a->first = *t;
    if (t->set && (!a->last.set || before(&a->last, t)))
        a->last = *t;
    a->n++;
    if (ev->responseStatus.has_code && ev->responseStatus.code == 403 &&
        a->n_denied++ < DENIED_MAX)
        rc = row(a, &a->denied, a->n_denied == 1, ev, true);
    if (rc == 0 && a->n_timeline < a->timeline_max)
        rc = row(a, &a->timeline, a->n_timeline++ == 0, ev, false);
    return rc;
}

static int table_text(struct ka_activity *a, int which)
{
    struct ka__vcount_ent *v;
    size_t n;
    if (which == C_USER && a->c[C_USER].n < 2)
        return 0;
    int rc = ka__vcount_sorted(&a->c[which], &v, &n);
    if (rc == 0)
        rc = ka_buf_printf(&a->out, "%s:\n", c_titles[which]);
    for (size_t i = 0; rc == 0 && i < n && i < LIST_MAX; i++)
        rc = ka_buf_printf(&a->out, "  %8llu  %s\n", (unsigned long long)v[i].n, v[i].key);
    if (rc == 0 && n > LIST_MAX)
        rc = ka_buf_printf(&a->out, "  ... %zu more\n", n - LIST_MAX);
    free(v);
    return rc;
}

static int finish_text(struct ka_activity *a)
{
    char t1[48], t2[48];
    ka__vtime(&a->first, t1, sizeof t1);
    ka__vtime(&a->last, t2, sizeof t2);
    int rc = ka_buf_printf(&a->out, "requests: %llu\nfirst seen: %s\nlast seen: %s\n",
                           (unsigned long long)a->n, t1, t2);
    for (int i = 0; rc == 0 && i < C_COUNT; i++)
        rc = table_text(a, i);
    if (rc == 0)
        rc = ka_buf_printf(&a->out, "denied (403): %llu\n", (unsigned long long)a->n_denied);
    if (rc == 0)
        rc = ka_buf_append(&a->out, a->denied.p, a->denied.n);
    if (rc == 0 && a->n_denied > DENIED_MAX)
        rc = ka_buf_printf(&a->out, "  ... %llu more\n",
                           (unsigned long long)(a->n_denied - DENIED_MAX));
    if (rc == 0)
        rc = ka_buf_printf(&a->out, "timeline (%llu of %llu):\n",
                           (unsigned long long)a->n_timeline, (unsigned long long)a->n);
    return rc ? rc : ka_buf_append(&a->out, a->timeline.p, a->timeline.n);
}

static int table_json(struct ka_activity *a, int which)
{
    struct ka__vcount_ent *v;
    size_t n;
    int rc = ka__vcount_sorted(&a->c[which], &v, &n);
    if (rc == 0)
        rc = ka_buf_printf(&a->out, ",\"%s\":[", c_names[which]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = ka_buf_puts(&a->out, i ? ",{" : "{");
        if (rc == 0)
            rc = ka__vjkv(&a->out, true, "key", v[i].key);
        if (rc == 0)
            rc = ka__vjkint(&a->out, false, "count", (int64_t)v[i].n);
        if (rc == 0)
            rc = ka_buf_putc(&a->out, '}');
    }
    free(v);
    return rc ? rc : ka_buf_putc(&a->out, ']');
}

static int finish_json(struct ka_activity *a)
{
    char t[48];
    int rc = ka_buf_puts(&a->out, "{");
    if (rc == 0)
        rc = ka__vjkint(&a->out, true, "requests", (int64_t)a->n);
    ka__vtime(&a->first, t, sizeof t);
    if (rc == 0 && a->first.set)
        rc = ka__vjkv(&a->out, false, "firstSeen", t);
    ka__vtime(&a->last, t, sizeof t);
    if (rc == 0 && a->last.set)
        rc = ka__vjkv(&a->out, false, "lastSeen", t);
    for (int i = 0; rc == 0 && i < C_COUNT; i++)
        rc = table_json(a, i);
    if (rc == 0)
        rc = ka__vjkint(&a->out, false, "deniedCount", (int64_t)a->n_denied);
    if (rc == 0)
        rc = ka_buf_puts(&a->out, ",\"denied\":[");
    if (rc == 0)
        rc = ka_buf_append(&a->out, a->denied.p, a->denied.n);
    if (rc == 0)
        rc = ka_buf_puts(&a->out, "],\"timeline\":[");
    if (rc == 0)
        rc = ka_buf_append(&a->out, a->timeline.p, a->timeline.n);
    return rc ? rc : ka_buf_puts(&a->out, "]}\n");
}

int ka_activity_finish(struct ka_activity *a)
{
    return a->fmt == KA_VIEW_JSON ? finish_json(a) : finish_text(a);
}

struct ka_buf *ka_activity_buf(struct ka_activity *a)
{
    return &a->out;
}

uint64_t ka_activity_count(const struct ka_activity *a)
{
    return a->n;
}

void ka_activity_free(struct ka_activity *a)
{
    if (!a)
        return;
    for (int i = 0; i < C_COUNT; i++)
        ka__vcount_free(&a->c[i]);
    ka_buf_free(&a->denied);
    ka_buf_free(&a->timeline);
    ka_buf_free(&a->out);
    free(a);
}
