/*
 * views_common.c - what the views share: the table of well-known kinds and resources, the
 * parsing of "KIND/NAME", JSON member lookup on validated values, a bounded string counter and
 * row field helpers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

static const struct ka_view_kind kinds[] = {
    {"pods", "", "Pod", "po", true},
    {"deployments", "apps", "Deployment", "deploy", true},
    {"replicasets", "apps", "ReplicaSet", "rs", true},
    {"statefulsets", "apps", "StatefulSet", "sts", true},
    {"daemonsets", "apps", "DaemonSet", "ds", true},
    {"controllerrevisions", "apps", "ControllerRevision", NULL, true},
    {"jobs", "batch", "Job", NULL, true},
    {"cronjobs", "batch", "CronJob", "cj", true},
    {"services", "", "Service", "svc", true},
    {"endpoints", "", "Endpoints", "ep", true},
    {"configmaps", "", "ConfigMap", "cm", true},
    {"secrets", "", "Secret", NULL, true},
    {"serviceaccounts", "", "ServiceAccount", "sa", true},
    {"persistentvolumeclaims", "", "PersistentVolumeClaim", "pvc", true},
    {"persistentvolumes", "", "PersistentVolume", "pv", false},
    {"namespaces", "", "Namespace", "ns", false},
    {"nodes", "", "Node", "no", false},
    {"events", "", "Event", "ev", true},
    {"limitranges", "", "LimitRange", "limits", true},
    {"resourcequotas", "", "ResourceQuota", "quota", true},
    {"ingresses", "networking.k8s.io", "Ingress", "ing", true},
    {"networkpolicies", "networking.k8s.io", "NetworkPolicy", "netpol", true},
    {"endpointslices", "discovery.k8s.io", "EndpointSlice", NULL, true},
    {"leases", "coordination.k8s.io", "Lease", NULL, true},
    {"roles", "rbac.authorization.k8s.io", "Role", NULL, true},
    {"rolebindings", "rbac.authorization.k8s.io", "RoleBinding", NULL, true},
    {"clusterroles", "rbac.authorization.k8s.io", "ClusterRole", NULL, false},
    {"clusterrolebindings", "rbac.authorization.k8s.io", "ClusterRoleBinding", NULL, false},
    {"horizontalpodautoscalers", "autoscaling", "HorizontalPodAutoscaler", "hpa", true},
    {"poddisruptionbudgets", "policy", "PodDisruptionBudget", "pdb", true},
    {"storageclasses", "storage.k8s.io", "StorageClass", "sc", false},
    {"customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition", "crd",
     false},
    {"mutatingwebhookconfigurations", "admissionregistration.k8s.io",
     "MutatingWebhookConfiguration", NULL, false},
    {"validatingwebhookconfigurations", "admissionregistration.k8s.io",
     "ValidatingWebhookConfiguration", NULL, false},
    {"certificatesigningrequests", "certificates.k8s.io", "CertificateSigningRequest", "csr",
     false},
    {"priorityclasses", "scheduling.k8s.io", "PriorityClass", "pc", false},
};

/* Whether word (n bytes) names entry k: plural, singular, kind or short name. */
static bool kind_is(const struct ka_view_kind *k, const char *w, size_t n)
{
    size_t rn = strlen(k->resource);
    if ((n == rn && strncasecmp(w, k->resource, n) == 0) ||
        (n == strlen(k->kind) && strncasecmp(w, k->kind, n) == 0))
        return true;
    if (k->short_name && n == strlen(k->short_name) && strncasecmp(w, k->short_name, n) == 0)
        return true;
    /* singular: the plural without its final "s" (or "es" of "ingresses", "classes") */
    if (n + 1 == rn && strncasecmp(w, k->resource, n) == 0)
        return true;
    return n + 2 == rn && strncasecmp(w, k->resource, n) == 0 && k->resource[n] == 'e';
}

const struct ka_view_kind *ka_view_kind_lookup(const char *word)
{
    const char *dot = strchr(word, '.');
    size_t n = dot ? (size_t)(dot - word) : strlen(word);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!kind_is(&kinds[i], word, n))
            continue;
        if (dot && strcasecmp(dot + 1, kinds[i].group) != 0 &&
            !(kinds[i].group[0] == 0 && strcasecmp(dot + 1, "core") == 0))
            continue;
        return &kinds[i];
    }
    return NULL;
}

const struct ka_view_kind *ka_view_kind_by_resource(const char *resource, size_t n,
                                                    const char *group, size_t gn)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const struct ka_view_kind *k = &kinds[i];
        if (strlen(k->resource) == n && memcmp(k->resource, resource, n) == 0 &&
            strlen(k->group) == gn && (gn == 0 || memcmp(k->group, group, gn) == 0))
            return k;
    }
    return NULL;
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) >= 256)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '/' || *s == '*')
            return false;
    return true;
}

/* Unknown word: "foos" or "foos.example.com" taken as resource[.group]. */
static int target_custom(const char *w, size_t n, struct ka_view_target *t)
{
    const char *dot = memchr(w, '.', n);
    size_t rn = dot ? (size_t)(dot - w) : n;
    if (rn == 0 || rn >= sizeof t->resource || n - rn >= sizeof t->group)
        return KA_EINVAL;
    for (size_t i = 0; i < rn; i++)
        t->resource[i] = (char)tolower((unsigned char)w[i]);
    t->resource[rn] = 0;
    t->group_known = dot != NULL;
    if (dot)
        snprintf(t->group, sizeof t->group, "%.*s", (int)(n - rn - 1), dot + 1);
    snprintf(t->kind, sizeof t->kind, "%.*s", (int)rn, w);
    t->namespaced = true;
    return 0;
}

int ka_view_target_parse(const char *spec, const char *ns, struct ka_view_target *out,
                         struct ka_diag *d)
{
    struct ka_view_target t;
    memset(&t, 0, sizeof t);
    const char *slash = strchr(spec, '/');
    char word[256];
    if (!slash || slash == spec || (size_t)(slash - spec) >= sizeof word || !name_ok(slash + 1)) {
        ka_diag_add(d, KA_SEV_ERROR, "\"%s\": expected KIND/NAME (deployment/web, pod/x, "
                    "deployments.apps/web)", spec);
        return KA_EINVAL;
    }
    memcpy(word, spec, (size_t)(slash - spec));
    word[slash - spec] = 0;
    const struct ka_view_kind *k = ka_view_kind_lookup(word);
    if (k) {
        snprintf(t.resource, sizeof t.resource, "%s", k->resource);
        snprintf(t.group, sizeof t.group, "%s", k->group);
        snprintf(t.kind, sizeof t.kind, "%s", k->kind);
        t.group_known = true;
        t.namespaced = k->namespaced;
    } else if (target_custom(word, strlen(word), &t)) {
        ka_diag_add(d, KA_SEV_ERROR, "\"%s\": bad kind \"%s\"", spec, word);
        return KA_EINVAL;
    }
    snprintf(t.name, sizeof t.name, "%s", slash + 1);
    if (ns && t.namespaced) {
        if (strlen(ns) >= sizeof t.namespace_ || !name_ok(ns)) {
            ka_diag_add(d, KA_SEV_ERROR, "-n: bad namespace \"%s\"", ns);
            return KA_EINVAL;
        }
        snprintf(t.namespace_, sizeof t.namespace_, "%s", ns);
    }
    *out = t;
    return 0;
}

/* ---- JSON helpers ---- */

struct ka_raw ka_view_member(struct ka_raw obj, const char *key)
{
    struct ka_raw none = {0}, v;
    struct ka_str k;
    if (!obj.p || ka_json_type_of(obj.p, obj.n) != KA_JSON_OBJECT)
        return none;
    struct ka_json_iter it;
    size_t kn = strlen(key);
    struct ka_raw found = none;
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, key, kn))
            found = v; /* the last duplicate wins, as in Go */
    if (found.p && ka_json_type_of(found.p, found.n) == KA_JSON_NULL)
        return none;
    return found;
}

struct ka_raw ka_view_path(struct ka_raw obj, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && obj.p; i++)
        obj = ka_view_member(obj, keys[i]);
    return obj;
}

bool ka_view_raw_str_eq(struct ka_raw v, const char *lit, size_t n)
{
    if (!v.p || ka_json_type_of(v.p, v.n) != KA_JSON_STRING)
        return false;
    return ka_str_eq(ka_str_from_raw(v.p, v.n), lit, n);
}

int ka_view_raw_text(struct ka_raw v, struct ka_buf *b)
{
    if (!v.p)
        return 0;
    if (ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        return ka_str_decode_buf(ka_str_from_raw(v.p, v.n), b);
    return ka_jw_compact(b, v.p, v.n);
}

/* ---- counter ---- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int vcount_grow(struct ka__vcount *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct ka__vcount_ent *v = calloc(cap, sizeof *v);
    if (!v)
        return KA_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->v[i].key)
            continue;
        size_t j = hash_bytes(c->v[i].key, strlen(c->v[i].key)) & (cap - 1);
        while (v[j].key)
            j = (j + 1) & (cap - 1);
        v[j] = c->v[i];
    }
    free(c->v);
    c->v = v;
    c->cap = cap;
    return 0;
}

int ka__vcount_add(struct ka__vcount *c, const char *key, size_t n, uint64_t by)
{
    if (n > KA_VIEW_MAX_STR)
        n = KA_VIEW_MAX_STR;
    if ((c->n + 1) * 2 > c->cap && vcount_grow(c))
        return KA_ENOMEM;
    size_t j = hash_bytes(key, n) & (c->cap - 1);
    for (; c->v[j].key; j = (j + 1) & (c->cap - 1)) {
        if (strlen(c->v[j].key) == n && memcmp(c->v[j].key, key, n) == 0) {
            c->v[j].n += by;
            return 0;
        }
    }
    if (c->n >= KA_VIEW_MAX_KEYS)
        return KA_ETOOBIG;
    char *k = malloc(n + 1);
    if (!k)
        return KA_ENOMEM;
    memcpy(k, key, n);
    k[n] = 0;
    c->v[j].key = k;
    c->v[j].n = by;
    c->n++;
    return 0;
}

struct ka__vcount_ent *ka__vcount_find(const struct ka__vcount *c, const char *key, size_t n)
{
    if (n > KA_VIEW_MAX_STR)
        n = KA_VIEW_MAX_STR;
    if (!c->cap)
        return NULL;
    for (size_t j = hash_bytes(key, n) & (c->cap - 1); c->v[j].key; j = (j + 1) & (c->cap - 1))
        if (strlen(c->v[j].key) == n && memcmp(c->v[j].key, key, n) == 0)
            return &c->v[j];
    return NULL;
}

static int ent_cmp(const void *a, const void *b)
{
    const struct ka__vcount_ent *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

int ka__vcount_sorted(const struct ka__vcount *c, struct ka__vcount_ent **out, size_t *n)
{
    struct ka__vcount_ent *v = malloc((c->n + 1) * sizeof *v);
    if (!v)
        return KA_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->v[i].key)
            v[k++] = c->v[i];
    if (k > 1)
        qsort(v, k, sizeof *v, ent_cmp);
    *out = v;
    *n = k;
    return 0;
}

void ka__vcount_free(struct ka__vcount *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->v[i].key);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* ---- row fields ---- */

size_t ka__vstr(struct ka_str s, char *out)
{
    out[0] = 0;
    if (!s.set)
        return 0;
    if (s.n <= KA_VIEW_MAX_STR) {
        size_t n = ka_str_decode(s, out);
        out[n] = 0;
        return n;
    }
    struct ka_buf b;
    ka_buf_init(&b, 0);
    size_t n = 0;
    if (ka_str_decode_buf(s, &b) == 0) {
        n = b.n < KA_VIEW_MAX_STR ? b.n : KA_VIEW_MAX_STR;
        memcpy(out, b.p, n);
    }
    out[n] = 0;
    ka_buf_free(&b);
    return n;
}

void ka__vres(const struct ka_event *ev, char *out, size_t cap)
{
    char r[KA_VIEW_MAX_STR + 1], s[KA_VIEW_MAX_STR + 1];
    ka__vstr(ev->objectRef.resource, r);
    ka__vstr(ev->objectRef.subresource, s);
    snprintf(out, cap, "%s%s%s", r, s[0] ? "/" : "", s);
}

bool ka__vannotation(const struct ka_event *ev, const char *key, char *out)
{
    struct ka_raw v = ka_view_member(ev->annotations, key);
    out[0] = 0;
    if (!v.p || ka_json_type_of(v.p, v.n) != KA_JSON_STRING)
        return false;
    ka__vstr(ka_str_from_raw(v.p, v.n), out);
    return true;
}

void ka__vsource_ip(const struct ka_event *ev, char *out)
{
    struct ka_json_iter it;
    struct ka_raw v;
    out[0] = 0;
    ka_json_iter_init(&it, ev->sourceIPs);
    if (ka_json_iter_elem(&it, &v) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        ka__vstr(ka_str_from_raw(v.p, v.n), out);
}

void ka__vtime(const struct ka_time *t, char *out, size_t cap)
{
    struct ka_buf b;
    if (!t->set) {
        snprintf(out, cap, "-");
        return;
    }
    ka_buf_init(&b, 64);
    if (ka_jw_microtime(&b, t->sec, t->nsec) == 0 && b.n >= 2)
        snprintf(out, cap, "%.*s", (int)(b.n - 2), b.p + 1);
    else
        snprintf(out, cap, "-");
    ka_buf_free(&b);
}

bool ka__vcontroller(const char *user)
{
    static const char sa[] = "system:serviceaccount:kube-system:";
    if (strcmp(user, "system:kube-controller-manager") == 0 ||
        strcmp(user, "system:kube-scheduler") == 0)
        return true;
    if (strncmp(user, sa, sizeof sa - 1) != 0)
        return false;
    size_t n = strlen(user);
    return n > 11 && strcmp(user + n - 11, "-controller") == 0;
}

int ka__vjkv(struct ka_buf *b, bool first, const char *key, const char *val)
{
    int rc = first ? 0 : ka_buf_putc(b, ',');
    if (rc == 0)
        rc = ka_jw_key(b, key);
    return rc ? rc : ka_jw_str(b, val, strlen(val));
}

int ka__vjkint(struct ka_buf *b, bool first, const char *key, int64_t v)
{
    int rc = first ? 0 : ka_buf_putc(b, ',');
    if (rc == 0)
        rc = ka_jw_key(b, key);
    return rc ? rc : ka_jw_int(b, v);
}
