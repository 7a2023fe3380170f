/*
 * views_denied.c - `kaudit denied`: 403 rows grouped by user and (verb, resource, namespace),
 * with the RBAC reason and, for each group, the smallest Role (namespaced) or ClusterRole
 * (cluster-scoped resource or non-resource URL) rule that would allow it, as YAML or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

#define NAMES_MAX 32u /* resourceNames kept per group */
#define GROUPS_MAX (1u << 20)

struct dgroup {
    char *user, *verb, *group, *res, *ns, *url, *reason;
    char *names[NAMES_MAX];
    size_t n_names;
    bool all_named; /* every row of the group named one object */
    uint64_t count;
};

struct ka_denied {
    enum ka_view_fmt fmt;
    struct ka__vcount index; /* group key -> index + 1 */
    struct ka__vcount users; /* user -> 403 rows */
    struct dgroup *g;
    size_t n, cap;
    uint64_t rows, printed;
    struct ka_buf out;
};

int ka_view_denied_query(struct ka_query *q, struct ka_diag *d)
{
    return ka_query_add_codes(q, "403", d);
}

int ka_denied_new(enum ka_view_fmt fmt, struct ka_denied **out)
{
    struct ka_denied *dn = calloc(1, sizeof *dn);
    if (!dn)
        return KA_ENOMEM;
    dn->fmt = fmt;
    ka_buf_init(&dn->out, 0);
    *out = dn;
    return 0;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Fields of a row: the URL path (no query) of a non-resource request. */
struct dfields {
    char user[KA_VIEW_MAX_STR + 1], verb[KA_VIEW_MAX_STR + 1], group[KA_VIEW_MAX_STR + 1];
    char res[2 * KA_VIEW_MAX_STR + 2], ns[KA_VIEW_MAX_STR + 1], url[KA_VIEW_MAX_STR + 1];
    char name[KA_VIEW_MAX_STR + 1], reason[KA_VIEW_MAX_STR + 1];
};

static void fields(const struct ka_event *ev, struct dfields *f)
{
    /* RBAC checks the impersonated user when there is one */
    ka__vstr(ev->impersonatedUser.username.n ? ev->impersonatedUser.username
                                             : ev->user.username, f->user);
    ka__vstr(ev->verb, f->verb);
    ka__vstr(ev->objectRef.apiGroup, f->group);
    ka__vres(ev, f->res, sizeof f->res);
    ka__vstr(ev->objectRef.namespace_, f->ns);
    ka__vstr(ev->objectRef.name, f->name);
    f->url[0] = 0;
    if (!f->res[0]) {
        ka__vstr(ev->requestURI, f->url);
        f->url[strcspn(f->url, "?")] = 0;
    }
    if (!ka__vannotation(ev, "authorization.k8s.io/reason", f->reason) || !f->reason[0])
        ka__vstr(ev->responseStatus.message, f->reason);
}

static int new_group(struct ka_denied *dn, const struct dfields *f, struct dgroup **out)
{
    if (dn->n == GROUPS_MAX)
        return KA_ETOOBIG;
    if (dn->n == dn->cap) {
        size_t cap = dn->cap ? dn->cap * 2 : 64;
        struct dgroup *g = realloc(dn->g, cap * sizeof *g);
        if (!g)
            return KA_ENOMEM;
        dn->g = g;
        dn->cap = cap;
    }
    struct dgroup *g = &dn->g[dn->n];
    memset(g, 0, sizeof *g);
    g->all_named = true;
    dn->n++;
    g->user = dupstr(f->user);
    g->verb = dupstr(f->verb);
    g->group = dupstr(f->group);
    g->res = dupstr(f->res);
    g->ns = dupstr(f->ns);
    g->url = dupstr(f->url);
    g->reason = dupstr(f->reason);
    *out = g;
    return g->user && g->verb && g->group && g->res && g->ns && g->url && g->reason ? 0
                                                                                  : KA_ENOMEM;
}

static int add_name(struct dgroup *g, const char *name)
{
    if (!name[0]) {
        g->all_named = false;
        return 0;
    }
    for (size_t i = 0; i < g->n_names; i++)
        if (strcmp(g->names[i], name) == 0)
            return 0;
    if (g->n_names == NAMES_MAX) {
        g->all_named = false; /* too many names: a rule without resourceNames */
        return 0;
    }
    return (g->names[g->n_names++] = dupstr(name)) ? 0 : KA_ENOMEM;
}

int ka_denied_add(struct ka_denied *dn, const struct ka_event *ev)
{
    if (!ev->responseStatus.has_code || ev->responseStatus.code != 403)
        return 0;
    struct dfields *f = malloc(sizeof *f);
    if (!f)
        return KA_ENOMEM;
    fields(ev, f);
    char key[6 * KA_VIEW_MAX_STR];
    int kn = snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", f->user, f->verb,
                      f->group, f->res, f->ns, f->url);
    size_t klen = kn < 0 ? 0 : (size_t)kn < sizeof key ? (size_t)kn : sizeof key - 1;
    struct ka__vcount_ent *e = ka__vcount_find(&dn->index, key, klen);
    struct dgroup *g = NULL;
    int rc = 0;
    if (e) {
        g = &dn->g[e->n - 1];
    } else {
        rc = new_group(dn, f, &g);
        if (rc == 0)
            rc = ka__vcount_add(&dn->index, key, klen, dn->n);
    }
    if (rc == 0 && !g->reason[0] && f->reason[0]) {
        free(g->reason);
        rc = (g->reason = dupstr(f->reason)) ? 0 : KA_ENOMEM;
    }
    if (rc == 0)
        rc = add_name(g, f->name);
    if (rc == 0)
        rc = ka__vcount_add(&dn->users, f->user, strlen(f->user), 1);
    if (rc == 0) {
        g->count++;
        dn->rows++;
    }
    free(f);
    return rc;
}

/* Whether resourceNames can restrict this verb (they cannot for list, watch, create of an
 * object, deletecollection: the authorizer sees no name). */
static bool names_apply(const struct dgroup *g)
{
    static const char *const no[] = {"list", "watch", "create", "deletecollection"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcmp(g->verb, no[i]) == 0 && (i != 2 || !strchr(g->res, '/')))
            return false; /* a create on a subresource (pods/exec) names its object */
    return g->all_named && g->n_names > 0;
}

/* ["a","b"] as a JSON/YAML flow sequence. */
static int flow(struct ka_buf *b, const char *const *v, size_t n)
{
    int rc = ka_buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = ka_buf_puts(b, ", ");
        if (rc == 0)
            rc = ka_jw_str(b, v[i], strlen(v[i]));
    }
    return rc ? rc : ka_buf_putc(b, ']');
}

static int yaml_rule(struct ka_denied *dn, const struct dgroup *g)
{
    struct ka_buf *b = &dn->out;
    const char *kind = g->ns[0] && !g->url[0] ? "Role" : "ClusterRole";
    int rc = ka_buf_printf(b, "---\n# %llu denied: %s %s", (unsigned long long)g->count, g->verb,
                           g->url[0] ? g->url : g->res);
    if (rc == 0 && g->group[0])
        rc = ka_buf_printf(b, " (group %s)", g->group);
    if (rc == 0)
        rc = ka_buf_printf(b, "%s%s\n", g->ns[0] ? " in namespace " : "", g->ns);
    if (rc == 0 && g->reason[0])
        rc = ka_buf_printf(b, "# reason: %s\n", g->reason);
    if (rc == 0)
        rc = ka_buf_printf(b, "apiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n"
                              "  name: kaudit-allow-%llu\n", kind,
                           (unsigned long long)++dn->printed);
    if (rc == 0 && strcmp(kind, "Role") == 0)
        rc = ka_buf_printf(b, "  namespace: %s\n", g->ns);
    if (rc == 0)
        rc = ka_buf_puts(b, "rules:\n- ");
    if (rc == 0 && g->url[0]) {
        const char *u = g->url;
        rc = ka_buf_puts(b, "nonResourceURLs: ");
        if (rc == 0)
            rc = flow(b, &u, 1);
        if (rc == 0)
            rc = ka_buf_puts(b, "\n  ");
    } else if (rc == 0) {
        const char *gr = g->group, *rs = g->res;
        rc = ka_buf_puts(b, "apiGroups: ");
        if (rc == 0)
            rc = flow(b, &gr, 1);
        if (rc == 0)
            rc = ka_buf_puts(b, "\n  resources: ");
        if (rc == 0)
            rc = flow(b, &rs, 1);
        if (rc == 0 && names_apply(g) && (rc = ka_buf_puts(b, "\n  resourceNames: ")) == 0)
            rc = flow(b, (const char *const *)g->names, g->n_names);
        if (rc == 0)
            rc = ka_buf_puts(b, "\n  ");
    }
    const char *vb = g->verb;
    if (rc == 0)
        rc = ka_buf_puts(b, "verbs: ");
    if (rc == 0)
        rc = flow(b, &vb, 1);
    return rc ? rc : ka_buf_putc(b, '\n');
}

static int json_group(struct ka_denied *dn, const struct dgroup *g, bool first)
{
    struct ka_buf *b = &dn->out;
    int rc = ka_buf_puts(b, first ? "{" : ",{");
    if (rc == 0)
        rc = ka__vjkv(b, true, "verb", g->verb);
    if (rc == 0)
        rc = ka__vjkv(b, false, g->url[0] ? "url" : "resource", g->url[0] ? g->url : g->res);
    if (rc == 0 && !g->url[0])
        rc = ka__vjkv(b, false, "apiGroup", g->group);
    if (rc == 0 && g->ns[0])
        rc = ka__vjkv(b, false, "namespace", g->ns);
    if (rc == 0)
        rc = ka__vjkint(b, false, "count", (int64_t)g->count);
    if (rc == 0 && g->reason[0])
        rc = ka__vjkv(b, false, "reason", g->reason);
    if (rc == 0 && (rc = ka_buf_puts(b, ",\"names\":")) == 0)
        rc = flow(b, (const char *const *)g->names, g->n_names);
    if (rc == 0)
        rc = ka__vjkv(b, false, "roleKind", g->ns[0] && !g->url[0] ? "Role" : "ClusterRole");
    if (rc == 0)
        rc = ka_buf_puts(b, ",\"rule\":{");
    const char *v1 = g->url, *v2 = g->group, *v3 = g->res, *v4 = g->verb;
    if (rc == 0 && g->url[0] && (rc = ka_buf_puts(b, "\"nonResourceURLs\":")) == 0)
        rc = flow(b, &v1, 1);
    if (rc == 0 && !g->url[0] && (rc = ka_buf_puts(b, "\"apiGroups\":")) == 0)
        rc = flow(b, &v2, 1);
    if (rc == 0 && !g->url[0] && (rc = ka_buf_puts(b, ",\"resources\":")) == 0)
        rc = flow(b, &v3, 1);
    if (rc == 0 && !g->url[0] && names_apply(g) &&
        (rc = ka_buf_puts(b, ",\"resourceNames\":")) == 0)
        rc = flow(b, (const char *const *)g->names, g->n_names);
    if (rc == 0 && (rc = ka_buf_puts(b, ",\"verbs\":")) == 0)
        rc = flow(b, &v4, 1);
    return rc ? rc : ka_buf_puts(b, "}}");
}

static int grp_cmp(const void *a, const void *b)
{
    const struct dgroup *x = *(const struct dgroup *const *)a;
    const struct dgroup *y = *(const struct dgroup *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    int c = strcmp(x->verb, y->verb);
    if (c == 0)
        c = strcmp(x->res[0] ? x->res : x->url, y->res[0] ? y->res : y->url);
    return c ? c : strcmp(x->ns, y->ns);
}

/* The groups of one user, sorted, printed. */
static int user_groups(struct ka_denied *dn, const struct ka__vcount_ent *u, bool first,
                       struct dgroup **tmp)
{
    size_t k = 0;
    for (size_t i = 0; i < dn->n; i++)
        if (strcmp(dn->g[i].user, u->key) == 0)
            tmp[k++] = &dn->g[i];
    qsort(tmp, k, sizeof(struct dgroup *), grp_cmp);
    struct ka_buf *b = &dn->out;
    int rc;
    if (dn->fmt == KA_VIEW_TEXT) {
        rc = ka_buf_printf(b, "# user %s: %llu denied in %zu groups\n", u->key,
                           (unsigned long long)u->n, k);
        for (size_t i = 0; rc == 0 && i < k; i++)
            rc = yaml_rule(dn, tmp[i]);
        return rc;
    }
    rc = ka_buf_puts(b, first ? "{" : ",\n{");
    if (rc == 0)
        rc = ka__vjkv(b, true, "user", u->key);
    if (rc == 0)
        rc = ka__vjkint(b, false, "count", (int64_t)u->n);
    if (rc == 0)
        rc = ka_buf_puts(b, ",\"groups\":[");
    for (size_t i = 0; rc == 0 && i < k; i++) {
        rc = json_group(dn, tmp[i], i == 0);
        dn->printed++;
    }
    return rc ? rc : ka_buf_puts(b, "]}");
}

int ka_denied_finish(struct ka_denied *dn)
{
    struct ka__vcount_ent *u;
    size_t nu;
    int rc = ka__vcount_sorted(&dn->users, &u, &nu);
    if (rc)
        return rc;
    struct dgroup **tmp = malloc((dn->n + 1) * sizeof(struct dgroup *));
    if (!tmp) {
        free(u);
        return KA_ENOMEM;
    }
    if (dn->fmt == KA_VIEW_JSON)
        rc = ka_buf_puts(&dn->out, "[");
    else
        rc = ka_buf_printf(&dn->out, "# %llu denied requests (403) by %zu users in %zu groups\n",
                           (unsigned long long)dn->rows, nu, dn->n);
    for (size_t i = 0; rc == 0 && i < nu; i++)
        rc = user_groups(dn, &u[i], i == 0, tmp);
    if (rc == 0 && dn->fmt == KA_VIEW_JSON)
        rc = ka_buf_puts(&dn->out, "]\n");
    free(tmp);
    free(u);
    return rc;
}

struct ka_buf *ka_denied_buf(struct ka_denied *dn)
{
    return &dn->out;
}

uint64_t ka_denied_count(const struct ka_denied *dn)
{
    return dn->rows;
}

uint64_t ka_denied_groups(const struct ka_denied *dn)
{
    return dn->n;
}

void ka_denied_free(struct ka_denied *dn)
{
    if (!dn)
        return;
    for (size_t i = 0; i < dn->n; i++) {
        struct dgroup *g = &dn->g[i];
        free(g->user);
        free(g->verb);
        free(g->group);
        free(g->res);
        free(g->ns);
        free(g->url);
        free(g->reason);
        for (size_t j = 0; j < g->n_names; j++)
            free(g->names[j]);
    }
    free(dn->g);
    ka__vcount_free(&dn->index);
    ka__vcount_free(&dn->users);
    ka_buf_free(&dn->out);
    free(dn);
}
