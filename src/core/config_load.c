/*
 * config_load.c - loading a kaudit configuration from YAML into a struct ka_cfg, with every
 * error at file:line:col: unknown keys (with the closest known one), duplicate keys, wrong
 * types and bad values.
 *
 * The YAML reader is the one the policy loader uses (ka__yaml_tree in policy_yaml.c): a small
 * tree whose nodes carry line and column, duplicate keys kept so that we report them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "yaml_int.h"

struct ld {
    struct ka_cfg *c;
    const char *name;
    struct ka_diag *d;
    bool err, oom;
};

__attribute__((format(printf, 4, 5))) static void ld_err(struct ld *l, const struct kap_pn *pos,
                                                         const char *path, const char *fmt, ...)
{
    char msg[KA_CFG_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ka_diag_add(l->d, KA_SEV_ERROR, "%s:%d:%d: %s%s%s", l->name, pos->line, pos->col, path,
                    *path ? ": " : "", msg) != KA_OK)
        l->oom = true;
    l->err = true;
}

static const struct kap_pn *deref(const struct kap_pn *n)
{
    return n && n->type == KAP_PN_ALIAS ? n->target : n;
}

static const char *kind(const struct kap_pn *n)
{
    switch (n->type) {
    case KAP_PN_SCALAR: return "a string";
    case KAP_PN_SEQ: return "a list";
    case KAP_PN_MAP: return "a mapping";
    default: return "null";
    }
}

static const char *want(const struct ka_cfg_key *k)
{
    static const char *const w[] = {"a string", "true or false", "an integer", "a size",
                                    "a duration", "a single value", "host:port",
                                    "a list of strings", "a list of mappings"};
    return w[k->type];
}

/* Edit distance of a and b[0..bn), capped at 3. */
static size_t edit_dist(const char *a, const char *b, size_t bn)
{
    size_t an = strlen(a), row[33];
    if (an > 32 || bn > 32)
        return 3;
    for (size_t j = 0; j <= bn; j++)
        row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[bn] < 3 ? row[bn] : 3;
}

/* Reports word (under prefix) as unknown, with the nearest name of t as a hint. */
static void unknown(struct ld *l, const struct kap_pn *pos, const struct ka_cfg_key *t,
                    const char *prefix, const char *word, const char *path)
{
    size_t plen = strlen(prefix), best_d = 3, best_n = 0;
    const char *best = NULL;
    for (size_t i = 0; t[i].name; i++) {
        const char *seg = t[i].name;
        if (plen && (strncmp(seg, prefix, plen) != 0 || seg[plen] != '.'))
            continue;
        seg += plen ? plen + 1 : 0;
        size_t sn = strcspn(seg, ".");
        size_t d = edit_dist(word, seg, sn), wl = strlen(word), ml = wl > sn ? wl : sn;
        if (d < best_d && d <= (ml >= 4 ? 2u : 1u) && d < ml) {
            best_d = d;
            best = seg;
            best_n = sn;
        }
    }
    if (best)
        ld_err(l, pos, path, "unknown key (did you mean \"%.*s\"?)", (int)best_n, best);
    else
        ld_err(l, pos, path, "unknown key");
}

/* The earlier key of map with the same text as key, or NULL. */
static const struct kap_pn *dup_of(const struct kap_pn *map, const struct kap_pn *key)
{
    const struct kap_pn *kn = deref(key);
    for (const struct kap_pn *p = map->first; p && p != key && p->next; p = p->next->next) {
        const struct kap_pn *pn = deref(p);
        if (pn->type == KAP_PN_SCALAR && pn->n == kn->n && memcmp(pn->s, kn->s, kn->n) == 0)
            return p;
    }
    return NULL;
}

/* Checks the key node of a pair; writes prefix.key into path. 0, or -1 (reported). */
static int pair_key(struct ld *l, const struct kap_pn *map, const struct kap_pn *key,
                    const char *prefix, char *path, size_t pn)
{
    const struct kap_pn *kn = deref(key);
    if (kn->type != KAP_PN_SCALAR || strlen(kn->s) != kn->n) {
        ld_err(l, key, prefix, "a key must be a string, got %s", kind(kn));
        return -1;
    }
    if ((size_t)snprintf(path, pn, "%s%s%s", prefix, *prefix ? "." : "", kn->s) >= pn) {
        ld_err(l, key, prefix, "key path longer than %u bytes", KA_CFG_MAX_PATH - 1);
        return -1;
    }
    const struct kap_pn *first = dup_of(map, key);
    if (first) {
        ld_err(l, key, path, "duplicate key (first at line %d, column %d)", first->line,
               first->col);
        return -1;
    }
    return 0;
}

static int scalar_node(struct ld *l, const struct ka_cfg_key *k, const struct kap_pn *raw,
                       const char *path, struct cval *v)
{
    const struct kap_pn *n = deref(raw);
    char err[KA_CFG_MSG];
    if (n->type != KAP_PN_SCALAR) {
        ld_err(l, raw, path, "expected %s, got %s", want(k), kind(n));
        return -1;
    }
    if (strlen(n->s) != n->n) {
        ld_err(l, raw, path, "contains a NUL character");
        return -1;
    }
    int rc = ka__cfg_parse_scalar(k, n->s, n->quoted, v, err, sizeof err);
    if (rc == -1)
        ld_err(l, raw, path, "%s", err);
    return rc;
}

/* The sequence node of a list or item-list key; NULL (reported) when raw is not one or has
 * more than KA_CFG_MAX_ITEMS items. */
static const struct kap_pn *seq_node(struct ld *l, const struct ka_cfg_key *k,
                                     const struct kap_pn *raw, const char *path)
{
    const struct kap_pn *n = deref(raw);
    if (n->type != KAP_PN_SEQ) {
        ld_err(l, raw, path, "expected %s, got %s", want(k), kind(n));
        return NULL;
    }
    if (n->count > KA_CFG_MAX_ITEMS) {
        ld_err(l, raw, path, "more than %u items", KA_CFG_MAX_ITEMS);
        return NULL;
    }
    return n;
}

static int list_node(struct ld *l, const struct ka_cfg_key *k, const struct kap_pn *raw,
                     const char *path, struct cval *v)
{
    const struct kap_pn *n = seq_node(l, k, raw, path);
    if (!n)
        return -1;
    v->v = calloc(n->count ? n->count : 1, sizeof *v->v);
    if (!v->v)
        return KA_ENOMEM;
    int bad = 0;
    size_t i = 0;
    for (const struct kap_pn *it = n->first; it; it = it->next, i++) {
        const struct kap_pn *d = deref(it);
        char ip[KA_CFG_MAX_PATH + 16];
        snprintf(ip, sizeof ip, "%s[%zu]", path, i);
        if (d->type != KAP_PN_SCALAR || strlen(d->s) != d->n) {
            ld_err(l, it, ip, "expected a string, got %s", kind(d));
            bad = -1;
            continue;
        }
        int rc = ka__cfg_dupstr(d->s, d->n, &v->v[v->n]);
        if (rc == KA_ETOOBIG) {
            ld_err(l, it, ip, "longer than %u bytes", KA_CFG_MAX_STR);
            bad = -1;
        } else if (rc)
            return rc;
        else
            v->n++;
    }
    return bad;
}

/* Reads one maplist item (a mapping) into fv[0..nf). */
static int item_node(struct ld *l, const struct ka_cfg_key *k, const struct kap_pn *raw,
                     const char *ip, struct cval *fv)
{
    const struct kap_pn *n = deref(raw);
    const struct ka_cfg_key *fk = k->fields;
    size_t nf = ka__cfg_nkeys(fk);
    bool given[64] = {0};
    if (n->type != KAP_PN_MAP) {
        ld_err(l, raw, ip, "expected a mapping, got %s", kind(n));
        return -1;
    }
    int bad = 0;
    for (size_t f = 0; f < nf; f++)
        if (ka__cfg_set_default(&fk[f], &fv[f], l->d) != KA_OK)
            return KA_ENOMEM;
    for (const struct kap_pn *key = n->first; key && key->next; key = key->next->next) {
        char path[KA_CFG_MAX_PATH + 32];
        if (pair_key(l, n, key, ip, path, sizeof path) != 0) {
            bad = -1;
            continue;
        }
        long f = ka__cfg_find(fk, nf, deref(key)->s, deref(key)->n);
        if (f < 0) {
            unknown(l, key, fk, "", deref(key)->s, path);
            bad = -1;
            continue;
        }
        given[f] = true;
        if (deref(key->next)->type == KAP_PN_NULL)
            continue;
        struct cval tmp = {0};
        int rc = fk[f].type == KA_CFG_LIST ? list_node(l, &fk[f], key->next, path, &tmp)
                                           : scalar_node(l, &fk[f], key->next, path, &tmp);
        if (rc == KA_OK) {
            ka__cfg_val_clear(&fv[f], &fk[f]);
            fv[f] = tmp;
        } else {
            ka__cfg_val_clear(&tmp, &fk[f]);
            if (rc != -1)
                return rc;
            bad = -1;
        }
    }
    for (size_t f = 0; f < nf; f++)
        if ((fk[f].flags & KA_CFG_REQUIRED) && !given[f]) {
            ld_err(l, raw, ip, "missing required key \"%s\"", fk[f].name);
            bad = -1;
        }
    return bad;
}

static int items_node(struct ld *l, const struct ka_cfg_key *k, const struct kap_pn *raw,
                      const char *path, struct cval *v)
{
    const struct kap_pn *n = seq_node(l, k, raw, path);
    size_t nf = ka__cfg_nkeys(k->fields);
    if (!n)
        return -1;
    v->items = calloc(n->count * nf + 1, sizeof *v->items);
    if (!v->items)
        return KA_ENOMEM;
    int bad = 0;
    for (const struct kap_pn *it = n->first; it; it = it->next) {
        char ip[KA_CFG_MAX_PATH + 16];
        snprintf(ip, sizeof ip, "%s[%zu]", path, v->n_items);
        int rc = item_node(l, k, it, ip, &v->items[v->n_items * nf]);
        v->n_items++; /* counted even when bad, so that clearing frees its fields */
        if (rc != KA_OK && rc != -1)
            return rc;
        if (rc)
            bad = -1;
    }
    return bad;
}

static void set_node(struct ld *l, size_t i, const struct kap_pn *raw, const char *path)
{
    const struct ka_cfg_key *k = &l->c->t[i];
    const struct kap_pn *n = deref(raw);
    if (n->type == KAP_PN_NULL)
        return;
    struct cval v = {0};
    int rc = k->type == KA_CFG_LIST      ? list_node(l, k, raw, path, &v)
             : k->type == KA_CFG_MAPLIST ? items_node(l, k, raw, path, &v)
                                         : scalar_node(l, k, raw, path, &v);
    if (rc == KA_OK) {
        char origin[KA_CFG_MAX_PATH + 64];
        snprintf(origin, sizeof origin, "%s:%d:%d", l->name, raw->line, raw->col);
        rc = ka__cfg_assign(l->c, i, &v, origin);
    } else
        ka__cfg_val_clear(&v, k);
    if (rc == KA_ENOMEM)
        l->oom = true;
}

static bool is_section(const struct ka_cfg *c, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->t[i].name, path, n) == 0 && c->t[i].name[n] == '.')
            return true;
    return false;
}

static void walk(struct ld *l, const struct kap_pn *map, const char *prefix)
{
    if (map->count / 2 > KA_CFG_MAX_ITEMS) {
        ld_err(l, map, prefix, "more than %u keys", KA_CFG_MAX_ITEMS);
        return;
    }
    for (const struct kap_pn *key = map->first; key && key->next && !l->oom;
         key = key->next->next) {
        char path[KA_CFG_MAX_PATH];
        if (pair_key(l, map, key, prefix, path, sizeof path) != 0)
            continue;
        long i = ka__cfg_find(l->c->t, l->c->n, path, strlen(path));
        const struct kap_pn *val = deref(key->next);
        if (i >= 0)
            set_node(l, (size_t)i, key->next, path);
        else if (!is_section(l->c, path))
            unknown(l, key, l->c->t, prefix, deref(key)->s, path);
        else if (val->type == KAP_PN_MAP)
            walk(l, val, path);
        else if (val->type != KAP_PN_NULL)
            ld_err(l, key->next, path, "expected a mapping of keys, got %s", kind(val));
    }
}

int ka_cfg_load_mem(struct ka_cfg *c, const char *name, const char *buf, size_t n,
                    struct ka_diag *diag)
{
    if (n > KA_CFG_MAX_FILE) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: larger than %u bytes", name, KA_CFG_MAX_FILE);
        return KA_ETOOBIG;
    }
    struct kap_arena ar = {0};
    struct kap_pn *root = NULL;
    int rc = ka__yaml_tree(name, buf, n, 0, &ar, diag, &root);
    root = (struct kap_pn *)deref(root);
    if (rc == KA_OK && root && root->type != KAP_PN_NULL) {
        struct ld l = {.c = c, .name = name, .d = diag};
        if (root->type != KAP_PN_MAP)
            ld_err(&l, root, "", "expected a mapping of sections, got %s", kind(root));
        else
            walk(&l, root, "");
        rc = l.oom ? KA_ENOMEM : l.err ? KA_EINVAL : KA_OK;
    }
    ka__arena_free(&ar);
    return rc;
}

int ka_cfg_load_file(struct ka_cfg *c, const char *path, struct ka_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s", path, strerror(e));
        return e == ENOENT ? KA_ENOENT : KA_EIO;
    }
    int rc = KA_OK;
    char *buf = malloc(KA_CFG_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, KA_CFG_MAX_FILE + 1, f) : 0;
    if (!buf)
        rc = KA_ENOMEM;
    else if (ferror(f)) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: read error", path);
        rc = KA_EIO;
    } else
        rc = ka_cfg_load_mem(c, path, buf, n, diag);
    free(buf);
    fclose(f);
    return rc;
}
