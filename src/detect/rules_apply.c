/*
 * rules_apply.c - merges one list, macro or rule item into the engine, with Falco's
 * redefinition rules:
 *   - a new definition of an existing name replaces it in place (keeping its position in the
 *     evaluation order);
 *   - `append: true` adds list items, or appends " " + condition text (rules also: output,
 *     desc, tags, exceptions); the item must already exist;
 *   - `override: {key: append|replace}` does the same per key; `append` and `override` cannot
 *     be mixed, and every key of the item must be named in `override`;
 *   - a rule item with only `rule` and `enabled` switches an existing rule on or off.
 * Exceptions are parsed here and compiled by cond_compile.c.
 */
#include <string.h>

#include <libfyaml.h>

#include "detect_int.h"

enum kd_mode { KD_DEFINE, KD_APPEND, KD_REPLACE };

static bool key_in(const char *k, size_t n, const char *const *set)
{
    for (; *set; set++)
        if (strlen(*set) == n && !memcmp(*set, k, n))
            return true;
    return false;
}

/* Warns about keys outside known[]. */
static void check_keys(struct kd_ld *l, struct fy_node *item, const char *const *known)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(item, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t n;
        const char *s = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &n) : NULL;
        if (!s) {
            kd_err(l, k, "keys must be strings");
            continue;
        }
        if (!key_in(s, n, known)) {
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)(n < 60 ? n : 60), s);
            kd_warn(l, k, "unknown key '%s' ignored", key);
        }
    }
}

/* Mode for key, from append: / override:. Returns -1 on error. */
static int item_mode(struct kd_ld *l, struct fy_node *item, const char *key,
                     const char *const *appendable, const char *const *replaceable)
{
    struct fy_node *ap = kd_map_get(item, "append"), *ov = kd_map_get(item, "override");
    bool append = false;
    if (ap && kd_bool(l, ap, "append", &append) != KA_OK)
        return -1;
    if (append && ov) {
        kd_err(l, ov, "'append' and 'override' cannot be used together");
        return -1;
    }
    if (!ov)
        return append ? KD_APPEND : KD_DEFINE;
    if (!fy_node_is_mapping(ov)) {
        kd_err(l, ov, "'override' must be a mapping of key: append|replace");
        return -1;
    }
    struct fy_node *v = kd_map_get(ov, key);
    if (!v)
        return -1 - 1; /* -2: key not overridden */
    size_t n = 0;
    const char *s = fy_node_is_scalar(v) ? fy_node_get_scalar(v, &n) : NULL;
    if (!s)
        s = "";
    if (n == 6 && !memcmp(s, "append", 6)) {
        if (!key_in(key, strlen(key), appendable)) {
            kd_err(l, v, "key '%s' cannot be appended to", key);
            return -1;
        }
        return KD_APPEND;
    }
    if (n == 7 && !memcmp(s, "replace", 7)) {
        if (!key_in(key, strlen(key), replaceable)) {
            kd_err(l, v, "key '%s' cannot be replaced", key);
            return -1;
        }
        return KD_REPLACE;
    }
    kd_err(l, v, "override of '%s' must be 'append' or 'replace'", key);
    return -1;
}

/* Every key of an override item (but the name, override and source) must be overridden. */
static bool override_complete(struct kd_ld *l, struct fy_node *item, const char *namekey)
{
    struct fy_node *ov = kd_map_get(item, "override");
    if (!ov)
        return true;
    void *it = NULL;
    struct fy_node_pair *p;
    bool ok = true;
    while ((p = fy_node_mapping_iterate(item, &it)) != NULL) {
        size_t n;
        struct fy_node *k = fy_node_pair_key(p);
        const char *s = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &n) : NULL;
        if (!s || (strlen(namekey) == n && !memcmp(s, namekey, n)) ||
            (n == 8 && !memcmp(s, "override", 8)) || (n == 6 && !memcmp(s, "source", 6)))
            continue;
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(n < 60 ? n : 60), s);
        if (!kd_map_get(ov, key)) {
            kd_err(l, k, "key '%s' is not named in 'override'", key);
            ok = false;
        }
    }
    return ok;
}

static int push_ptr(struct kd_ld *l, void ***v, size_t *n, size_t *cap, void *x)
{
    if (*n >= KD_MAX_DEFS || kd_grow(&l->d->ar, (void **)v, cap, *n + 1, sizeof(**v))) {
        l->oom = true;
        return KA_ENOMEM;
    }
    (*v)[(*n)++] = x;
    return KA_OK;
}

static int cat_strs(struct kd_ld *l, char ***v, size_t *n, char **add, size_t nadd)
{
    if (nadd == 0)
        return KA_OK;
    char **nv = ka__arena_alloc(&l->d->ar, (*n + nadd) * sizeof(*nv));
    if (!nv) {
        l->oom = true;
        return KA_ENOMEM;
    }
    if (*n)
        memcpy(nv, *v, *n * sizeof(*nv));
    memcpy(nv + *n, add, nadd * sizeof(*nv));
    *v = nv;
    *n += nadd;
    return KA_OK;
}

void kd_apply_list(struct kd_ld *l, struct fy_node *item)
{
    static const char *const known[] = {"list", "items", "append", "override", NULL};
    static const char *const items_only[] = {"items", NULL};
    struct ka_detect *d = l->d;
    l->what = "list";
    char *name = kd_scalar(l, kd_map_get(item, "list"), "list");
    if (!name)
        return;
    l->name = name;
    check_keys(l, item, known);
    struct fy_node *in = kd_map_get(item, "items");
    char **items;
    size_t n;
    int mode = item_mode(l, item, "items", items_only, items_only);
    if (mode == -1 || !override_complete(l, item, "list") ||
        kd_strlist(l, in, "items", &items, &n) != KA_OK)
        return;
    if (!in && mode != -2) {
        kd_err(l, item, "missing 'items'");
        return;
    }
    struct kd_list *ls = kd_find_list(d, name);
    if (mode != KD_DEFINE && !ls) {
        kd_err(l, item, "no list by that name already exists to %s",
               mode == KD_APPEND ? "append to" : "override");
        return;
    }
    if (mode == KD_APPEND) {
        (void)cat_strs(l, &ls->items, &ls->n, items, n);
        return;
    }
    if (!ls) {
        ls = ka__arena_alloc(&d->ar, sizeof(*ls));
        if (!ls || push_ptr(l, (void ***)&d->lists, &d->nlists, &d->caplists, ls)) {
            l->oom = true;
            return;
        }
        ls->name = name;
    }
    ls->items = items;
    ls->n = n;
    ls->cap = n;
    kd_node_pos(l, item, &ls->pos);
}

void kd_apply_macro(struct kd_ld *l, struct fy_node *item)
{
    static const char *const known[] = {"macro", "condition", "append", "override", NULL};
    static const char *const cond_only[] = {"condition", NULL};
    struct ka_detect *d = l->d;
    l->what = "macro";
    char *name = kd_scalar(l, kd_map_get(item, "macro"), "macro");
    if (!name)
        return;
    l->name = name;
    check_keys(l, item, known);
    struct fy_node *cn = kd_map_get(item, "condition");
    int mode = item_mode(l, item, "condition", cond_only, cond_only);
    if (mode == -1 || !override_complete(l, item, "macro"))
        return;
    char *cond = cn ? kd_scalar(l, cn, "condition") : NULL;
    if (!cond) {
        if (!cn)
            kd_err(l, item, "missing 'condition'");
        return;
    }
    struct kd_macro *m = kd_find_macro(d, name);
    if (mode != KD_DEFINE && !m) {
        kd_err(l, item, "no macro by that name already exists to %s",
               mode == KD_APPEND ? "append to" : "override");
        return;
    }
    if (!m) {
        m = ka__arena_alloc(&d->ar, sizeof(*m));
        if (!m || push_ptr(l, (void ***)&d->macros, &d->nmacros, &d->capmacros, m)) {
            l->oom = true;
            return;
        }
        m->name = name;
    }
    if (mode != KD_APPEND) {
        memset(&m->cond, 0, sizeof(m->cond));
        kd_node_pos(l, item, &m->pos);
    }
    struct kd_seg seg;
    kd_seg_of(l, cn, &seg);
    int rc = kd_text_append(&d->ar, &m->cond, cond, strlen(cond), &seg);
    if (rc == KA_ENOMEM)
        l->oom = true;
    else if (rc != KA_OK)
        kd_err(l, cn, "condition too long");
}

/* ---- exceptions ---- */

static int xval(struct kd_ld *l, struct fy_node *n, struct kd_xval *out)
{
    if (fy_node_is_sequence(n)) {
        out->is_list = true;
        return kd_strlist(l, n, "values", &out->items, &out->n);
    }
    out->s = kd_scalar(l, n, "values");
    return out->s ? KA_OK : KA_EINVAL;
}

/* Appends the tuples of values node vn to x. */
static int exc_values(struct kd_ld *l, struct kd_exc *x, struct fy_node *vn)
{
    if (!vn || fy_node_is_null(vn))
        return KA_OK;
    if (!fy_node_is_sequence(vn)) {
        kd_err(l, vn, "exception '%s': 'values' must be a list", x->name);
        return KA_EINVAL;
    }
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate(vn, &it)) != NULL) {
        if (x->nvalues >= KD_MAX_ITEMS ||
            kd_grow(&l->d->ar, (void **)&x->values, &x->capvalues, x->nvalues + 1,
                    sizeof(*x->values))) {
            l->oom = true;
            return KA_ENOMEM;
        }
        struct kd_xtuple *t = &x->values[x->nvalues];
        size_t want = x->fields_is_list ? x->nfields : 1;
        t->v = ka__arena_alloc(&l->d->ar, (want ? want : 1) * sizeof(*t->v));
        if (!t->v) {
            l->oom = true;
            return KA_ENOMEM;
        }
        if (!x->fields_is_list) {
            if (fy_node_is_sequence(e) || xval(l, e, &t->v[0]) != KA_OK) {
                kd_err(l, e, "exception '%s': with a single field each value is a string",
                       x->name);
                return KA_EINVAL;
            }
            t->n = 1;
        } else {
            void *it2 = NULL;
            struct fy_node *c;
            size_t k = 0;
            if (!fy_node_is_sequence(e)) {
                kd_err(l, e, "exception '%s': each value must be a list of %zu items", x->name,
                       want);
                return KA_EINVAL;
            }
            while ((c = fy_node_sequence_iterate(e, &it2)) != NULL && k < want)
                if (xval(l, c, &t->v[k++]) != KA_OK)
                    return KA_EINVAL;
            if (k != want || c) {
                kd_err(l, e, "exception '%s': value has a different number of items than "
                             "'fields' (%zu)", x->name, want);
                return KA_EINVAL;
            }
            t->n = want;
        }
        x->nvalues++;
    }
    return KA_OK;
}

static int exc_fields(struct kd_ld *l, struct kd_exc *x, struct fy_node *item)
{
    struct fy_node *fn = kd_map_get(item, "fields"), *cn = kd_map_get(item, "comps");
    if (!fn) {
        kd_err(l, item, "exception '%s': missing 'fields'", x->name);
        return KA_EINVAL;
    }
    x->fields_is_list = fy_node_is_sequence(fn);
    int rc = KA_EINVAL;
    if (x->fields_is_list) {
        rc = kd_strlist(l, fn, "fields", &x->fields, &x->nfields);
    } else {
        x->fields = ka__arena_alloc(&l->d->ar, sizeof(char *));
        if (x->fields && (x->fields[0] = kd_scalar(l, fn, "fields")) != NULL) {
            x->nfields = 1;
            rc = KA_OK;
        }
    }
    if (rc != KA_OK)
        return rc;
    if (cn) {
        x->has_comps = true;
        x->comps_is_list = fy_node_is_sequence(cn);
        if (x->comps_is_list != x->fields_is_list) {
            kd_err(l, cn, "exception '%s': 'comps' and 'fields' must both be lists or both "
                          "single values", x->name);
            return KA_EINVAL;
        }
        rc = x->comps_is_list ? kd_strlist(l, cn, "comps", &x->comps, &x->ncomps)
                              : ((x->comps = ka__arena_alloc(&l->d->ar, sizeof(char *))) != NULL &&
                                 (x->comps[0] = kd_scalar(l, cn, "comps")) != NULL)
                                    ? (x->ncomps = 1, KA_OK)
                                    : KA_EINVAL;
        if (rc == KA_OK && x->ncomps != x->nfields) {
            kd_err(l, cn, "exception '%s': 'comps' must have as many items as 'fields'",
                   x->name);
            rc = KA_EINVAL;
        }
    }
    return rc;
}

/* Parses exceptions into *v, merging values into exceptions of the same name already there. */
static int parse_exceptions(struct kd_ld *l, struct fy_node *n, struct kd_exc **v, size_t *count)
{
    if (!n || fy_node_is_null(n))
        return KA_OK;
    if (!fy_node_is_sequence(n)) {
        kd_err(l, n, "'exceptions' must be a list");
        return KA_EINVAL;
    }
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate(n, &it)) != NULL) {
        char *name = fy_node_is_mapping(e) ? kd_scalar(l, kd_map_get(e, "name"), "name") : NULL;
        if (!name) {
            if (!fy_node_is_mapping(e))
                kd_err(l, e, "an exception must be a mapping with a name");
            return KA_EINVAL;
        }
        struct kd_exc *x = NULL;
        for (size_t i = 0; i < *count; i++)
            if (!strcmp((*v)[i].name, name))
                x = &(*v)[i];
        if (!x) {
            struct kd_exc *nv = ka__arena_alloc(&l->d->ar, (*count + 1) * sizeof(*nv));
            if (!nv) {
                l->oom = true;
                return KA_ENOMEM;
            }
            if (*count)
                memcpy(nv, *v, *count * sizeof(*nv));
            *v = nv;
            x = &nv[(*count)++];
            x->name = name;
            kd_node_pos(l, e, &x->pos);
            if (exc_fields(l, x, e) != KA_OK)
                return KA_EINVAL;
        }
        if (exc_values(l, x, kd_map_get(e, "values")) != KA_OK)
            return KA_EINVAL;
    }
    return KA_OK;
}

/* ---- rules ---- */

static const char *const rule_append[] = {"condition", "output", "desc", "tags", "exceptions",
                                          NULL};
static const char *const rule_replace[] = {
    "condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "capture",
    "capture_duration", "warn_evttypes", "skip-if-unknown-filter", NULL};

static int text_key(struct kd_ld *l, struct fy_node *item, const char *key, struct kd_text *t,
                    int mode)
{
    struct fy_node *n = kd_map_get(item, key);
    if (!n)
        return KA_OK;
    char *s = kd_scalar(l, n, key);
    if (!s)
        return KA_EINVAL;
    if (mode != KD_APPEND)
        memset(t, 0, sizeof(*t));
    struct kd_seg seg;
    kd_seg_of(l, n, &seg);
    size_t len = strlen(s);
    if (!strcmp(key, "output")) { /* Falco trims outputs (a '>' block keeps a final newline) */
        while (len && strchr(" \t\r\n\v\f", s[len - 1]))
            len--;
        while (len && strchr(" \t\r\n\v\f", *s))
            s++, len--;
    }
    int rc = kd_text_append(&l->d->ar, t, s, len, &seg);
    if (rc == KA_ENOMEM)
        l->oom = true;
    else if (rc != KA_OK)
        kd_err(l, n, "'%s' too long", key);
    return rc;
}

/* Applies the keys of item to r (mode: per key for overrides). */
static void rule_keys(struct kd_ld *l, struct fy_node *item, struct kd_rule *r, int gmode)
{
    static const char *const keys[] = {"condition", "output", "desc", "priority", "tags",
                                       "exceptions", "enabled", "skip-if-unknown-filter", NULL};
    for (size_t k = 0; keys[k] && !l->oom; k++) {
        struct fy_node *n = kd_map_get(item, keys[k]);
        if (!n)
            continue;
        int mode = gmode;
        if (kd_map_get(item, "override"))
            mode = item_mode(l, item, keys[k], rule_append, rule_replace);
        else if (gmode == KD_APPEND && !key_in(keys[k], strlen(keys[k]), rule_append))
            mode = KD_REPLACE; /* enabled etc. alongside append: set */
        if (mode < 0)
            continue;
        if (k == 0)
            (void)text_key(l, item, "condition", &r->cond, mode);
        else if (k == 1)
            (void)text_key(l, item, "output", &r->output, mode);
        else if (k == 2) {
            char *s = kd_scalar(l, n, "desc");
            if (s && mode == KD_APPEND && r->desc) {
                size_t a = strlen(r->desc), b = strlen(s);
                char *j = ka__arena_alloc(&l->d->ar, a + b + 2);
                if (j)
                    snprintf(j, a + b + 2, "%s %s", r->desc, s);
                s = j;
            }
            if (s)
                r->desc = s;
        } else if (k == 3) {
            char *s = kd_scalar(l, n, "priority");
            if (s && ka_prio_parse(s, &r->prio) != KA_OK)
                kd_err(l, n, "unknown priority '%s'", s);
            r->has_prio = true;
        } else if (k == 4) {
            char **t;
            size_t nt;
            if (kd_strlist(l, n, "tags", &t, &nt) != KA_OK)
                continue;
            if (mode != KD_APPEND)
                r->ntags = 0;
            (void)cat_strs(l, &r->tags, &r->ntags, t, nt);
        } else if (k == 5) {
            if (mode != KD_APPEND)
                r->nexc = 0, r->exc = NULL;
            (void)parse_exceptions(l, n, &r->exc, &r->nexc);
        } else if (k == 6)
            (void)kd_bool(l, n, "enabled", &r->enabled);
        else
            (void)kd_bool(l, n, "skip-if-unknown-filter", &r->skip_unknown);
    }
}

static bool only_enabled(struct fy_node *item)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(item, &it)) != NULL) {
        size_t n;
        struct fy_node *k = fy_node_pair_key(p);
        const char *s = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &n) : NULL;
        if (!s || !((n == 4 && !memcmp(s, "rule", 4)) || (n == 7 && !memcmp(s, "enabled", 7))))
            return false;
    }
    return kd_map_get(item, "enabled") != NULL;
}

void kd_apply_rule(struct kd_ld *l, struct fy_node *item)
{
    static const char *const known[] = {
        "rule", "desc", "condition", "output", "priority", "source", "tags", "enabled",
        "exceptions", "append", "override", "warn_evttypes", "skip-if-unknown-filter",
        "capture", "capture_duration", "kaudit.window", "kaudit.first_seen", "kaudit.sequence",
        NULL};
    struct ka_detect *d = l->d;
    l->what = "rule";
    char *name = kd_scalar(l, kd_map_get(item, "rule"), "rule");
    if (!name)
        return;
    l->name = name;
    check_keys(l, item, known);
    struct fy_node *ap = kd_map_get(item, "append");
    bool append = false;
    if (ap && kd_bool(l, ap, "append", &append) != KA_OK)
        return;
    bool ov = kd_map_get(item, "override") != NULL;
    if (append && ov) {
        kd_err(l, item, "'append' and 'override' cannot be used together");
        return;
    }
    if (ov && !override_complete(l, item, "rule"))
        return;
    struct kd_rule *r = kd_find_rule(d, name);
    bool modify = append || ov || only_enabled(item);
    if (modify) {
        if (!r) {
            kd_err(l, item, "no rule by that name already exists to %s",
                   append ? "append to" : ov ? "override" : "enable or disable");
            return;
        }
        if (kd_map_get(item, "kaudit.window") || kd_map_get(item, "kaudit.first_seen") ||
            kd_map_get(item, "kaudit.sequence")) {
            kd_err(l, item, "kaudit.* keys cannot be appended or overridden: redefine the rule");
            return;
        }
        rule_keys(l, item, r, append ? KD_APPEND : KD_REPLACE);
        return;
    }
    static const char *const required[] = {"condition", "output", "desc", "priority", NULL};
    for (size_t k = 0; required[k]; k++)
        if (!kd_map_get(item, required[k])) {
            kd_err(l, item, "missing '%s'", required[k]);
            return;
        }
    struct kd_rule *nr = ka__arena_alloc(&d->ar, sizeof(*nr));
    if (!nr) {
        l->oom = true;
        return;
    }
    nr->name = name;
    nr->enabled = true;
    kd_node_pos(l, item, &nr->pos);
    struct fy_node *src = kd_map_get(item, "source");
    nr->source = src ? kd_scalar(l, src, "source") : NULL;
    nr->k8s = nr->source && !strcmp(nr->source, "k8s_audit");
    rule_keys(l, item, nr, KD_DEFINE);
    kd_state_parse(l, item, nr);
    if (r)
        *r = *nr; /* redefinition: replaced in place */
    else
        (void)push_ptr(l, (void ***)&d->rules, &d->nrules, &d->caprules, nr);
}
