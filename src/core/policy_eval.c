/*
 * policy_eval.c - compiles a loaded audit policy and evaluates it exactly as kube-apiserver's
 * policy checker does (spec §2.3, §2.4): first matching rule wins; omitStages are the union of
 * policy and rule stages; omitManagedFields falls back to the policy's value.
 *
 * Compilation happens once: every string list becomes a set (linear with length-first compare
 * when short, an open-addressing hash table when long), resource patterns are pre-classified
 * (any; any resource with one subresource; one resource with any subresource), non-resource URLs
 * are split into exact and prefix specs. Evaluation then allocates nothing and never fails.
 * Attribute strings that still hold JSON escapes are decoded into a bounded stack buffer first
 * (KAP_MAX_STR bounds policy strings; a longer value can only match a prefix).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/json.h"
#include "kaudit/policy.h"
#include "policy_int.h"

#define KAP_LINEAR_MAX 8u
#define KAP_DICT_MAX 63u
#define KAP_BIT_OTHER (1ull << 63) /* an attribute not in the dictionary, or no user */

struct kap_s {
    const char *p;
    uint32_t n;
};

struct kap_set {
    const struct kap_s *v;
    const uint32_t *h; /* hash of each v[i]: compared before the bytes */
    uint32_t n;
    uint32_t mask;         /* slots - 1, when slots != NULL */
    const uint32_t *slots; /* index + 1 into v, 0 = empty; NULL = linear search */
};

struct kap_rsrc {
    struct kap_s r;    /* compared with resource[/subresource] */
    struct kap_s wres; /* "res" + "/" + "*": res */
    struct kap_s wsub; /* "*" "/sub": sub */
    uint8_t any, has_wres, has_wsub;
};

struct kap_gr {
    struct kap_s group;
    uint8_t any_group;
    const struct kap_rsrc *r;
    uint32_t nr;
    struct kap_set names;
};

enum { KAP_RULE_ALL = 0, KAP_RULE_RES, KAP_RULE_NONRES };

/*
 * The distinct verbs (users, user groups) of all rules, when there are at most KAP_DICT_MAX of
 * them: each rule then holds a bit mask over the dictionary (~0 = no constraint), and a decision
 * looks each attribute up once instead of comparing strings rule after rule.
 */
struct kap_dict {
    struct kap_set set;
    bool ok;
};

struct kap_rule {
    uint64_t vmask, umask, gmask;
    uint8_t kind, level, omit, omf;
    struct kap_set users, groups, verbs, namespaces;
    const struct kap_gr *gr;
    uint32_t ngr;
    uint8_t nru_any;
    struct kap_set nru_exact;
    const struct kap_s *nru_prefix;
    uint32_t n_prefix;
};

struct ka_policy {
    struct kap_arena ar;
    struct kap_dict dv, du, dg;
    struct kap_rule *rules;
    uint32_t n;
    uint8_t omit;
    bool omf;
    unsigned levels;
};

/* ---- sets ---- */

/* A word-at-a-time string hash (set lookups hash each attribute once per decision). */
static uint32_t strhash(const char *p, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        w |= (uint64_t)(unsigned char)p[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static inline bool s_eq(struct kap_s a, const char *p, uint32_t n)
{
    return a.n == n && (n == 0 || memcmp(a.p, p, n) == 0);
}

/* Index of a member or -1; hash = strhash(p, n), computed once per attribute by the caller. */
static int set_find(const struct kap_set *s, uint32_t hash, const char *p, uint32_t n)
{
    if (!s->slots) {
        for (uint32_t i = 0; i < s->n; i++)
            if (s->h[i] == hash && s_eq(s->v[i], p, n))
                return (int)i;
        return -1;
    }
    for (uint32_t h = hash & s->mask;; h = (h + 1) & s->mask) {
        uint32_t k = s->slots[h];
        if (k == 0)
            return -1;
        if (s->h[k - 1] == hash && s_eq(s->v[k - 1], p, n))
            return (int)(k - 1);
    }
}

static inline bool set_has(const struct kap_set *s, uint32_t hash, const char *p, uint32_t n)
{
    return set_find(s, hash, p, n) >= 0;
}

/* A set member test for a string that may still be escaped (groups come straight from JSON). */
static bool set_has_str(const struct kap_set *s, struct ka_str v, uint32_t hash)
{
    if (!v.esc)
        return set_has(s, hash, v.p, v.n);
    for (uint32_t i = 0; i < s->n; i++)
        if (ka_str_eq(v, s->v[i].p, s->v[i].n))
            return true;
    return false;
}

static int copy_s(struct kap_arena *ar, const struct kap_item *it, struct kap_s *out)
{
    char *p = ka__arena_strdup(ar, it->p, it->n);
    if (!p)
        return KA_ENOMEM;
    out->p = p;
    out->n = it->n;
    return KA_OK;
}

/* Builds a set over strings already in the arena. */
static int set_from_s(struct kap_arena *ar, struct kap_s *v, uint32_t n, struct kap_set *s)
{
    memset(s, 0, sizeof(*s));
    if (n == 0)
        return KA_OK;
    uint32_t *hv = ka__arena_alloc(ar, n * sizeof(*hv));
    if (!hv)
        return KA_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        hv[i] = strhash(v[i].p, v[i].n);
    s->v = v;
    s->h = hv;
    s->n = n;
    if (n <= KAP_LINEAR_MAX)
        return KA_OK;
    uint32_t nslots = 16;
    while (nslots < 2 * n)
        nslots <<= 1;
    uint32_t *slots = ka__arena_alloc(ar, nslots * sizeof(*slots));
    if (!slots)
        return KA_ENOMEM;
    s->mask = nslots - 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = hv[i] & s->mask;
        while (slots[h] != 0 && !s_eq(v[slots[h] - 1], v[i].p, v[i].n))
            h = (h + 1) & s->mask;
        if (slots[h] == 0)
            slots[h] = i + 1;
    }
    s->slots = slots;
    return KA_OK;
}

static int set_build(struct kap_arena *ar, const struct kap_list *l, struct kap_set *s)
{
    memset(s, 0, sizeof(*s));
    if (l->n == 0)
        return KA_OK;
    struct kap_s *v = ka__arena_alloc(ar, l->n * sizeof(*v));
    if (!v)
        return KA_ENOMEM;
    for (uint32_t i = 0; i < l->n; i++)
        if (copy_s(ar, &l->v[i], &v[i]) != KA_OK)
            return KA_ENOMEM;
    return set_from_s(ar, v, l->n, s);
}

/* ---- compile ---- */

static int rsrc_build(struct kap_arena *ar, const struct kap_item *it, struct kap_rsrc *r)
{
    if (copy_s(ar, it, &r->r) != KA_OK)
        return KA_ENOMEM;
    const char *p = r->r.p;
    uint32_t n = r->r.n;
    r->any = n == 1 && p[0] == '*';
    if (n >= 2 && p[0] == '*' && p[1] == '/') {
        r->has_wsub = 1;
        r->wsub = (struct kap_s){p + 2, n - 2};
    }
    if (n >= 2 && p[n - 2] == '/' && p[n - 1] == '*') {
        r->has_wres = 1;
        r->wres = (struct kap_s){p, n - 2};
    }
    return KA_OK;
}

static int gr_build(struct kap_arena *ar, const struct kap_gr_doc *g, struct kap_gr *out)
{
    if (copy_s(ar, &g->group, &out->group) != KA_OK)
        return KA_ENOMEM;
    out->any_group = g->group.n == 1 && g->group.p[0] == '*';
    struct kap_rsrc *r = ka__arena_alloc(ar, (g->resources.n + 1) * sizeof(*r));
    if (!r)
        return KA_ENOMEM;
    for (uint32_t i = 0; i < g->resources.n; i++)
        if (rsrc_build(ar, &g->resources.v[i], &r[i]) != KA_OK)
            return KA_ENOMEM;
    out->r = r;
    out->nr = g->resources.n;
    return set_build(ar, &g->resource_names, &out->names);
}

static int nru_build(struct kap_arena *ar, const struct kap_list *l, struct kap_rule *r)
{
    struct kap_s *pre = ka__arena_alloc(ar, (l->n + 1) * sizeof(*pre));
    if (!pre || set_build(ar, l, &r->nru_exact) != KA_OK)
        return KA_ENOMEM;
    for (uint32_t i = 0; i < r->nru_exact.n; i++) {
        struct kap_s s = r->nru_exact.v[i];
        if (s.n == 1 && s.p[0] == '*')
            r->nru_any = 1;
        if (s.n > 0 && s.p[s.n - 1] == '*') {
            while (s.n > 0 && s.p[s.n - 1] == '*')
                s.n--;
            pre[r->n_prefix++] = s;
        }
    }
    r->nru_prefix = pre;
    return KA_OK;
}

static unsigned stage_bits(const struct kap_list *l)
{
    unsigned bits = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        int s = ka__stage_index(l->v[i].p, l->v[i].n);
        if (s >= 0)
            bits |= KA_STAGE_BIT((unsigned)s);
    }
    return bits;
}

static int rule_build(struct ka_policy *p, const struct kap_rule_doc *d, struct kap_rule *r)
{
    struct kap_arena *ar = &p->ar;
    int lv = ka__level_index(d->level.p, d->level.n);
    r->level = (uint8_t)(lv < 0 ? KA_LEVEL_NONE : lv);
    r->omit = (uint8_t)(p->omit | stage_bits(&d->omit_stages));
    r->omf = d->omf == KAP_OMF_UNSET ? p->omf : d->omf == KAP_OMF_TRUE;
    if (d->namespaces.n > 0 || d->n_resources > 0)
        r->kind = KAP_RULE_RES;
    else if (d->non_resource_urls.n > 0)
        r->kind = KAP_RULE_NONRES;
    if (set_build(ar, &d->users, &r->users) != KA_OK ||
        set_build(ar, &d->user_groups, &r->groups) != KA_OK ||
        set_build(ar, &d->verbs, &r->verbs) != KA_OK ||
        set_build(ar, &d->namespaces, &r->namespaces) != KA_OK ||
        nru_build(ar, &d->non_resource_urls, r) != KA_OK)
        return KA_ENOMEM;
    struct kap_gr *gr = ka__arena_alloc(ar, (d->n_resources + 1) * sizeof(*gr));
    if (!gr)
        return KA_ENOMEM;
    for (uint32_t i = 0; i < d->n_resources; i++)
        if (gr_build(ar, &d->resources[i], &gr[i]) != KA_OK)
            return KA_ENOMEM;
    r->gr = gr;
    r->ngr = d->n_resources;
    p->levels |= 1u << r->level;
    return KA_OK;
}

#define RULE_SET(r, off) ((const struct kap_set *)(const void *)((const char *)(r) + (off)))
#define RULE_MASK(r, off) ((uint64_t *)(void *)((char *)(r) + (off)))

/* Collects the distinct strings of one rule field; false when there are too many. */
static bool dict_collect(const struct ka_policy *p, size_t set_off, struct kap_s *v, uint32_t *n)
{
    *n = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        const struct kap_set *s = RULE_SET(&p->rules[i], set_off);
        for (uint32_t k = 0; k < s->n; k++) {
            uint32_t j = 0;
            while (j < *n && !s_eq(v[j], s->v[k].p, s->v[k].n))
                j++;
            if (j < *n)
                continue;
            if (*n == KAP_DICT_MAX)
                return false;
            v[(*n)++] = s->v[k];
        }
    }
    return true;
}

static int dict_build(struct ka_policy *p, size_t set_off, size_t mask_off, struct kap_dict *d)
{
    struct kap_s tmp[KAP_DICT_MAX];
    uint32_t n = 0;
    d->ok = dict_collect(p, set_off, tmp, &n);
    if (d->ok) {
        struct kap_s *v = ka__arena_alloc(&p->ar, (n + 1) * sizeof(*v));
        if (!v)
            return KA_ENOMEM;
        memcpy(v, tmp, n * sizeof(*v));
        if (set_from_s(&p->ar, v, n, &d->set) != KA_OK)
            return KA_ENOMEM;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        const struct kap_set *s = RULE_SET(&p->rules[i], set_off);
        uint64_t *m = RULE_MASK(&p->rules[i], mask_off);
        *m = d->ok && s->n ? 0 : ~0ull;
        for (uint32_t k = 0; d->ok && k < s->n; k++)
            *m |= 1ull << set_find(&d->set, s->h[k], s->v[k].p, s->v[k].n);
    }
    return KA_OK;
}

int ka__policy_compile(const struct kap_doc *doc, struct ka_policy **out)
{
    struct ka_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return KA_ENOMEM;
    p->omit = (uint8_t)stage_bits(&doc->omit_stages);
    p->omf = doc->omit_managed_fields;
    p->rules = ka__arena_alloc(&p->ar, (doc->n_rules + 1) * sizeof(*p->rules));
    if (!p->rules)
        goto fail;
    for (uint32_t i = 0; i < doc->n_rules; i++)
        if (rule_build(p, &doc->rules[i], &p->rules[i]) != KA_OK)
            goto fail;
    p->n = doc->n_rules;
    if (dict_build(p, offsetof(struct kap_rule, verbs), offsetof(struct kap_rule, vmask),
                   &p->dv) != KA_OK ||
        dict_build(p, offsetof(struct kap_rule, users), offsetof(struct kap_rule, umask),
                   &p->du) != KA_OK ||
        dict_build(p, offsetof(struct kap_rule, groups), offsetof(struct kap_rule, gmask),
                   &p->dg) != KA_OK)
        goto fail;
    *out = p;
    return KA_OK;
fail:
    ka_policy_free(p);
    return KA_ENOMEM;
}

void ka_policy_free(struct ka_policy *p)
{
    if (!p)
        return;
    ka__arena_free(&p->ar);
    free(p);
}

size_t ka_policy_rule_count(const struct ka_policy *p)
{
    return p ? p->n : 0;
}

unsigned ka_policy_levels_used(const struct ka_policy *p)
{
    return p ? p->levels : 0;
}

/* ---- evaluation ---- */

struct sp {
    const char *p;
    uint32_t n;
};

#define KAP_GCACHE 32u

/* The attributes as plain bytes, plus the user's groups parsed once on first use. */
struct av {
    struct sp user, verb, group, ns, res, sub, name, path;
    bool has_user, rr, g_init, g_more, h_ns_set, h_name_set, h_path_set, gbits_set;
    uint64_t vbit, ubit, gbits; /* dictionary bits of verb, user and the user's groups */
    uint32_t h_user, h_verb, h_ns, h_name, h_path; /* strhash; the last three on first use */
    struct ka_raw groups;
    uint32_t ng;
    struct ka_str g[KAP_GCACHE];
    uint32_t gh[KAP_GCACHE];
};

static uint32_t h_ns(struct av *a)
{
    if (!a->h_ns_set) {
        a->h_ns = strhash(a->ns.p, a->ns.n);
        a->h_ns_set = true;
    }
    return a->h_ns;
}

static uint32_t h_path(struct av *a)
{
    if (!a->h_path_set) {
        a->h_path = strhash(a->path.p, a->path.n);
        a->h_path_set = true;
    }
    return a->h_path;
}

static uint32_t h_name(struct av *a)
{
    if (!a->h_name_set) {
        a->h_name = strhash(a->name.p, a->name.n);
        a->h_name_set = true;
    }
    return a->h_name;
}

static void groups_init(struct av *a)
{
    struct ka_json_iter it;
    struct ka_raw v;
    a->g_init = true;
    ka_json_iter_init(&it, a->groups);
    while (ka_json_iter_elem(&it, &v)) {
        if (a->ng == KAP_GCACHE) {
            a->g_more = true;
            break;
        }
        a->g[a->ng] = ka_str_from_raw(v.p, v.n);
        a->gh[a->ng] = strhash(a->g[a->ng].p, a->g[a->ng].n);
        a->ng++;
    }
}

/* Calls fn for each group of the user until it returns true. */
static bool groups_any(struct av *a, bool (*fn)(const void *ctx, struct ka_str g, uint32_t h),
                       const void *ctx)
{
    if (!a->g_init)
        groups_init(a);
    for (uint32_t i = 0; i < a->ng; i++)
        if (fn(ctx, a->g[i], a->gh[i]))
            return true;
    if (!a->g_more)
        return false;
    struct ka_json_iter it;
    struct ka_raw v;
    uint32_t k = 0;
    ka_json_iter_init(&it, a->groups);
    while (ka_json_iter_elem(&it, &v)) {
        struct ka_str g = ka_str_from_raw(v.p, v.n);
        if (k++ >= KAP_GCACHE && fn(ctx, g, strhash(g.p, g.n)))
            return true;
    }
    return false;
}

static bool in_set(const void *ctx, struct ka_str g, uint32_t h)
{
    return set_has_str(ctx, g, h);
}

static bool groups_match(const struct kap_set *s, struct av *a)
{
    return groups_any(a, in_set, s);
}

struct gbits_ctx {
    const struct kap_set *dict;
    uint64_t bits;
};

static bool add_gbit(const void *ctx, struct ka_str g, uint32_t h)
{
    struct gbits_ctx *c = (struct gbits_ctx *)(uintptr_t)ctx;
    const struct kap_set *d = c->dict;
    for (uint32_t i = 0; g.esc && i < d->n; i++)
        if (ka_str_eq(g, d->v[i].p, d->v[i].n))
            c->bits |= 1ull << i;
    int i = g.esc ? -1 : set_find(d, h, g.p, g.n);
    if (i >= 0)
        c->bits |= 1ull << i;
    return false;
}

/* Dictionary bits of the user's groups (KAP_BIT_OTHER always set). */
static uint64_t gbits(const struct ka_policy *p, struct av *a)
{
    if (!a->gbits_set) {
        struct gbits_ctx c = {&p->dg.set, KAP_BIT_OTHER};
        if (a->has_user)
            groups_any(a, add_gbit, &c);
        a->gbits = a->has_user ? c.bits : KAP_BIT_OTHER;
        a->gbits_set = true;
    }
    return a->gbits;
}

static bool rsrc_match(const struct kap_rsrc *r, const struct av *a)
{
    if (r->any)
        return true;
    const struct kap_s R = r->r;
    if (a->sub.n == 0) {
        if (s_eq(R, a->res.p, a->res.n))
            return true;
    } else if (R.n == a->res.n + 1 + a->sub.n && !memcmp(R.p, a->res.p, a->res.n) &&
               R.p[a->res.n] == '/' && !memcmp(R.p + a->res.n + 1, a->sub.p, a->sub.n)) {
        return true;
    }
    if (r->has_wsub && a->sub.n > 0 && s_eq(r->wsub, a->sub.p, a->sub.n))
        return true;
    return r->has_wres && s_eq(r->wres, a->res.p, a->res.n);
}

static bool resource_match(const struct kap_rule *r, struct av *a)
{
    if (!a->rr)
        return false;
    if (r->namespaces.n && !set_has(&r->namespaces, h_ns(a), a->ns.p, a->ns.n))
        return false;
    if (r->ngr == 0)
        return true;
    for (uint32_t i = 0; i < r->ngr; i++) {
        const struct kap_gr *g = &r->gr[i];
        if (!g->any_group && !s_eq(g->group, a->group.p, a->group.n))
            continue;
        if (g->nr == 0)
            return true;
        if (g->names.n && !set_has(&g->names, h_name(a), a->name.p, a->name.n))
            continue;
        for (uint32_t k = 0; k < g->nr; k++)
            if (rsrc_match(&g->r[k], a))
                return true;
    }
    return false;
}

static bool nonresource_match(const struct kap_rule *r, struct av *a)
{
    if (a->rr)
        return false;
    if (r->nru_any || set_has(&r->nru_exact, h_path(a), a->path.p, a->path.n))
        return true;
    for (uint32_t i = 0; i < r->n_prefix; i++) {
        struct kap_s s = r->nru_prefix[i];
        if (a->path.n >= s.n && (s.n == 0 || !memcmp(a->path.p, s.p, s.n)))
            return true;
    }
    return false;
}

static bool rule_match(const struct ka_policy *p, const struct kap_rule *r, struct av *a)
{
    if (r->kind == KAP_RULE_RES ? !a->rr : r->kind == KAP_RULE_NONRES ? a->rr : false)
        return false;
    if (!(r->vmask & a->vbit) || !(r->umask & a->ubit))
        return false;
    if (r->gmask != ~0ull && !(r->gmask & gbits(p, a)))
        return false;
    /* dictionaries too large: compare strings */
    if (!p->dv.ok && r->verbs.n && !set_has(&r->verbs, a->h_verb, a->verb.p, a->verb.n))
        return false;
    if (!p->du.ok && r->users.n &&
        (!a->has_user || !set_has(&r->users, a->h_user, a->user.p, a->user.n)))
        return false;
    if (!p->dg.ok && r->groups.n && (!a->has_user || !groups_match(&r->groups, a)))
        return false;
    if (r->kind == KAP_RULE_RES)
        return resource_match(r, a);
    if (r->kind == KAP_RULE_NONRES)
        return nonresource_match(r, a);
    return true;
}

static void eval_av(const struct ka_policy *p, struct av *a, struct ka_decision *d)
{
    a->h_user = strhash(a->user.p, a->user.n);
    a->h_verb = strhash(a->verb.p, a->verb.n);
    a->h_ns_set = a->h_name_set = a->h_path_set = a->gbits_set = false;
    int vi = set_find(&p->dv.set, a->h_verb, a->verb.p, a->verb.n);
    int ui = a->has_user ? set_find(&p->du.set, a->h_user, a->user.p, a->user.n) : -1;
    a->vbit = vi < 0 ? KAP_BIT_OTHER : 1ull << vi;
    a->ubit = ui < 0 ? KAP_BIT_OTHER : 1ull << ui;
    for (uint32_t i = 0; i < p->n; i++) {
        const struct kap_rule *r = &p->rules[i];
        if (rule_match(p, r, a)) {
            d->level = (enum ka_level)r->level;
            d->omit_stages = r->omit;
            d->omit_managed_fields = r->omf;
            d->rule = (int)i;
            return;
        }
    }
    d->level = KA_LEVEL_NONE;
    d->omit_stages = p->omit;
    d->omit_managed_fields = p->omf;
    d->rule = -1;
}

static inline struct sp plain(struct ka_str s)
{
    return (struct sp){s.set ? s.p : "", s.set ? s.n : 0};
}

#define KAP_SCRATCH (KAP_MAX_STR + 8)

/*
 * Decodes an escaped value into buf (KAP_SCRATCH bytes), one escape unit at a time, stopping
 * once more than KAP_MAX_STR bytes are out: no policy string is that long, so such a value can
 * only match as a prefix, and the bytes kept decide that.
 */
static struct sp decode_bounded(struct ka_str s, char *buf)
{
    uint32_t i = 0, o = 0;
    while (i < s.n && o <= KAP_MAX_STR) {
        if (s.p[i] != '\\') {
            buf[o++] = s.p[i++];
            continue;
        }
        uint32_t len = 2;
        if (i + 1 < s.n && s.p[i + 1] == 'u') {
            len = 6;
            bool hi = i + 5 < s.n && (s.p[i + 2] == 'd' || s.p[i + 2] == 'D') &&
                      strchr("89abAB", s.p[i + 3]) != NULL;
            if (hi && i + 11 < s.n && s.p[i + 6] == '\\' && s.p[i + 7] == 'u')
                len = 12;
        }
        if (i + len > s.n)
            len = s.n - i;
        struct ka_str u = {s.p + i, len, 1, 1};
        o += (uint32_t)ka_str_decode(u, buf + o);
        i += len;
    }
    return (struct sp){buf, o};
}

static struct sp plain_dec(struct ka_str s, char *buf)
{
    return s.set && s.esc ? decode_bounded(s, buf) : plain(s);
}

static __attribute__((noinline)) void eval_escaped(const struct ka_policy *p,
                                                   const struct ka_attrs *x, struct av *a,
                                                   struct ka_decision *d)
{
    char buf[8][KAP_SCRATCH];
    a->user = plain_dec(x->user, buf[0]);
    a->verb = plain_dec(x->verb, buf[1]);
    a->group = plain_dec(x->api_group, buf[2]);
    a->ns = plain_dec(x->namespace_, buf[3]);
    a->res = plain_dec(x->resource, buf[4]);
    a->sub = plain_dec(x->subresource, buf[5]);
    a->name = plain_dec(x->name, buf[6]);
    a->path = plain_dec(x->path, buf[7]);
    eval_av(p, a, d);
}

void ka_policy_eval(const struct ka_policy *p, const struct ka_attrs *x, struct ka_decision *d)
{
    struct av a;
    a.has_user = x->has_user;
    a.rr = x->resource_request;
    a.groups = x->groups;
    a.g_init = a.g_more = false;
    a.ng = 0;
    if (x->user.esc | x->verb.esc | x->api_group.esc | x->namespace_.esc | x->resource.esc |
        x->subresource.esc | x->name.esc | x->path.esc) {
        eval_escaped(p, x, &a, d);
        return;
    }
    a.user = plain(x->user);
    a.verb = plain(x->verb);
    a.group = plain(x->api_group);
    a.ns = plain(x->namespace_);
    a.res = plain(x->resource);
    a.sub = plain(x->subresource);
    a.name = plain(x->name);
    a.path = plain(x->path);
    eval_av(p, &a, d);
}

void ka_attrs_from_event(const struct ka_event *ev, struct ka_attrs *a)
{
    memset(a, 0, sizeof(*a));
    const struct ka_user *u = &ev->user;
    bool has_name = u->username.set && u->username.n > 0;
    a->has_user = u->present && (has_name || ka_json_array_len(u->groups) > 0);
    if (a->has_user) {
        a->user = u->username;
        a->groups = u->groups;
    }
    a->verb = ev->verb;
    a->resource_request = ev->objectRef.present;
    if (a->resource_request) {
        a->api_group = ev->objectRef.apiGroup;
        a->namespace_ = ev->objectRef.namespace_;
        a->resource = ev->objectRef.resource;
        a->subresource = ev->objectRef.subresource;
        a->name = ev->objectRef.name;
    }
    a->path = ev->requestURI;
    if (a->path.set) {
        const char *q = memchr(a->path.p, '?', a->path.n);
        if (q) {
            a->path.n = (uint32_t)(q - a->path.p);
            a->path.esc = a->path.esc && memchr(a->path.p, '\\', a->path.n) != NULL;
        }
    }
}
