/*
 * config.c - the typed configuration engine: values for a key table, parsing of each type,
 * flag overrides, getters, filling a struct through the table's offsets. Loading a YAML file
 * is config_load.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

size_t ka__cfg_nkeys(const struct ka_cfg_key *t)
{
    size_t n = 0;
    while (t && t[n].name)
        n++;
    return n;
}

void ka__cfg_val_clear(struct cval *v, const struct ka_cfg_key *k)
{
    free(v->s);
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    if (v->items) {
        size_t nf = ka__cfg_nkeys(k->fields);
        for (size_t i = 0; i < v->n_items * nf; i++)
            ka__cfg_val_clear(&v->items[i], &k->fields[i % nf]);
        free(v->items);
    }
    free(v->origin);
    memset(v, 0, sizeof *v);
}

int ka__cfg_dupstr(const char *s, size_t n, char **out)
{
    if (n > KA_CFG_MAX_STR)
        return KA_ETOOBIG;
    char *p = malloc(n + 1);
    if (!p)
        return KA_ENOMEM;
    memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    return KA_OK;
}

/* ---- scalar parsing: 0, or -1 with a message in err ---- */

static void got(char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);
    snprintf(dst, n, "\"%.*s%s\"", len > 40 ? 40 : (int)len, s, len > 40 ? "..." : "");
}

static int parse_ll(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (~0ull - 9) / 10)
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    static const char units[] = "KMGT";
    unsigned shift = 0;
    const char *u = *p ? strchr(units, *p >= 'a' && *p <= 'z' ? *p - 32 : *p) : NULL;
    if (u) {
        shift = 10u * (unsigned)(u - units + 1);
        p++;
        if (*p == 'i')
            p++;
    }
    if (*p == 'B' || (shift && *p == 'b'))
        p++;
    if (*p || (shift && v > (~0ull >> shift)))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_duration(const char *s, long long *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    static const struct { const char *u; long long ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    long long total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        long long v = 0;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v > (1ll << 53))
                return -1;
            v = v * 10 + (*p - '0');
        }
        size_t i = 0, ul = 0;
        for (; i < sizeof units / sizeof units[0]; i++) {
            ul = strlen(units[i].u);
            if (strncmp(p, units[i].u, ul) == 0 && !(ul == 1 && p[0] == 'm' && p[1] == 's'))
                break;
        }
        if (i == sizeof units / sizeof units[0] || v > (1ll << 53) / units[i].ms)
            return -1;
        total += v * units[i].ms;
        if (total > (1ll << 53))
            return -1;
        p += ul;
    }
    *out = total;
    return 0;
}

static int parse_addr(const char *s, char *err, size_t en)
{
    const char *colon;
    size_t hostlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || rb == s + 1)
            goto bad;
        colon = rb + 1;
        hostlen = (size_t)(rb - s - 1);
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            goto bad;
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0) {
        snprintf(err, en, "the host is empty in \"%s\" (use 0.0.0.0 or [::] for every interface)",
                 s);
        return -1;
    }
    for (const char *h = s; h < colon; h++)
        if (*h == ' ' || *h == '\t' || *h == '/')
            goto bad;
    long long port;
    if (parse_ll(colon + 1, &port) != 0 || colon[1] == '-' || colon[1] == '+' || port < 1 ||
        port > 65535) {
        snprintf(err, en, "the port must be a number from 1 to 65535 in \"%s\"", s);
        return -1;
    }
    return 0;
bad:
    snprintf(err, en, "expected host:port or [ipv6]:port, got \"%s\"", s);
    return -1;
}

static void fmt_bound(const struct ka_cfg_key *k, long long v, char *dst, size_t n)
{
    if (k->type == KA_CFG_SIZE)
        ka_cfg_format_size((unsigned long long)v, dst, n);
    else if (k->type == KA_CFG_DURATION)
        ka_cfg_format_duration(v, dst, n);
    else
        snprintf(dst, n, "%lld", v);
}

static int check_range(const struct ka_cfg_key *k, long long v, const char *s, char *err,
                       size_t en)
{
    if ((k->min == 0 && k->max == 0) || (v >= k->min && v <= k->max))
        return 0;
    char lo[32], hi[32];
    fmt_bound(k, k->min, lo, sizeof lo);
    fmt_bound(k, k->max, hi, sizeof hi);
    snprintf(err, en, "%s is out of range [%s, %s]", s, lo, hi);
    return -1;
}

static int parse_enum(const struct ka_cfg_key *k, const char *s, long long *out, char *err,
                      size_t en)
{
    for (size_t i = 0; k->choices && k->choices[i]; i++)
        if (strcmp(k->choices[i], s) == 0) {
            *out = (long long)i;
            return 0;
        }
    size_t used = (size_t)snprintf(err, en, "expected one of");
    for (size_t i = 0; k->choices && k->choices[i] && used < en; i++)
        used += (size_t)snprintf(err + used, en - used, "%s %s", i ? "," : "", k->choices[i]);
    char g[64];
    got(g, sizeof g, s);
    if (used < en)
        snprintf(err + used, en - used, ", got %s", g);
    return -1;
}

/*
 * Parses text s (quoted: it was a quoted YAML scalar) for scalar key k into *v (its s or i).
 * Returns 0, KA_ENOMEM, or -1 with a message in err.
 */
int ka__cfg_parse_scalar(const struct ka_cfg_key *k, const char *s, bool quoted,
                         struct cval *v, char *err, size_t en)
{
    char g[64];
    got(g, sizeof g, s);
    unsigned long long u;
    switch (k->type) {
    case KA_CFG_BOOL:
        if (!quoted && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
                        strcmp(s, "TRUE") == 0)) {
            v->i = 1;
            return 0;
        }
        if (!quoted && (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
                        strcmp(s, "FALSE") == 0)) {
            v->i = 0;
            return 0;
        }
        snprintf(err, en, "expected true or false, got %s%s", quoted ? "the string " : "", g);
        return -1;
    case KA_CFG_INT:
        if (quoted || parse_ll(s, &v->i) != 0) {
            snprintf(err, en, "expected an integer, got %s%s", quoted ? "the string " : "", g);
            return -1;
        }
        return check_range(k, v->i, s, err, en);
    case KA_CFG_SIZE:
        if (parse_size(s, &u) != 0 || u > (unsigned long long)(1ll << 62)) {
            snprintf(err, en, "expected a size such as 4096, 512KiB, 16MiB or 1GiB, got %s", g);
            return -1;
        }
        v->i = (long long)u;
        return check_range(k, v->i, s, err, en);
    case KA_CFG_DURATION:
        if (parse_duration(s, &v->i) != 0) {
            snprintf(err, en, "expected a duration such as 500ms, 30s, 5m or 1h30m, got %s", g);
            return -1;
        }
        return check_range(k, v->i, s, err, en);
    case KA_CFG_ENUM: return parse_enum(k, s, &v->i, err, en);
    case KA_CFG_ADDR:
        if (parse_addr(s, err, en) != 0)
            return -1;
        /* fall through */
    case KA_CFG_STRING: {
        char *p;
        int rc = ka__cfg_dupstr(s, strlen(s), &p);
        if (rc == KA_ETOOBIG) {
            snprintf(err, en, "longer than %u bytes", KA_CFG_MAX_STR);
            return -1;
        }
        if (rc)
            return rc;
        free(v->s);
        v->s = p;
        return 0;
    }
    default: snprintf(err, en, "is not a single value"); return -1;
    }
}

/* Splits a comma-separated list into v->v (items trimmed, empty ones skipped). */
static int parse_csv(const char *s, struct cval *v, char *err, size_t en)
{
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t len = (size_t)(e - s);
        while (len && s[len - 1] == ' ')
            len--;
        if (len) {
            if (v->n >= KA_CFG_MAX_ITEMS) {
                snprintf(err, en, "more than %u items", KA_CFG_MAX_ITEMS);
                return -1;
            }
            char **nv = realloc(v->v, (v->n + 1) * sizeof *nv);
            if (!nv)
                return KA_ENOMEM;
            v->v = nv;
            int rc = ka__cfg_dupstr(s, len, &v->v[v->n]);
            if (rc == KA_ETOOBIG) {
                snprintf(err, en, "an item is longer than %u bytes", KA_CFG_MAX_STR);
                return -1;
            }
            if (rc)
                return rc;
            v->n++;
        }
        s = e;
    }
    return 0;
}

/* ---- the configuration ---- */

static int table_err(struct ka_diag *d, const char *key, const char *msg)
{
    ka_diag_add(d, KA_SEV_ERROR, "config table: %s: %s", key ? key : "(null)", msg);
    return KA_EINVAL;
}

/* A key's default into v. */
int ka__cfg_set_default(const struct ka_cfg_key *k, struct cval *v, struct ka_diag *d)
{
    char err[KA_CFG_MSG];
    int rc = 0;
    if (k->type == KA_CFG_MAPLIST)
        return k->def ? table_err(d, k->name, "a maplist has no default") : 0;
    if (k->type == KA_CFG_LIST)
        rc = k->def ? parse_csv(k->def, v, err, sizeof err) : 0;
    else if (!k->def && (k->type == KA_CFG_STRING || k->type == KA_CFG_ADDR))
        rc = 0;
    else if (!k->def)
        return table_err(d, k->name, "this type needs a default");
    else
        rc = ka__cfg_parse_scalar(k, k->def, true, v, err, sizeof err);
    if (rc == -1 && k->type == KA_CFG_BOOL)
        rc = ka__cfg_parse_scalar(k, k->def, false, v, err, sizeof err);
    if (rc == -1 && k->type == KA_CFG_INT)
        rc = ka__cfg_parse_scalar(k, k->def, false, v, err, sizeof err);
    if (rc == -1)
        return table_err(d, k->name, err);
    return rc;
}

static bool valid_name(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              (*s == '.' && s[1] && s[1] != '.')))
            return false;
    return true;
}

/* Checks names (valid, unique, no key is a section of another, sections contiguous). */
static int check_table(const struct ka_cfg_key *t, size_t n, bool fields, struct ka_diag *d)
{
    for (size_t i = 0; i < n; i++) {
        const char *a = t[i].name;
        if (!valid_name(a) || strlen(a) >= KA_CFG_MAX_PATH || (fields && strchr(a, '.')))
            return table_err(d, a, "bad key name");
        if (t[i].type == KA_CFG_MAPLIST &&
            (fields || !t[i].fields || ka__cfg_nkeys(t[i].fields) == 0 || ka__cfg_nkeys(t[i].fields) > 64))
            return table_err(d, a, "a maplist needs 1 to 64 fields and cannot be nested");
        for (size_t j = 0; j < i; j++) {
            const char *b = t[j].name;
            size_t la = strlen(a), lb = strlen(b);
            if (strcmp(a, b) == 0 || (la > lb && strncmp(a, b, lb) == 0 && a[lb] == '.') ||
                (lb > la && strncmp(a, b, la) == 0 && b[la] == '.'))
                return table_err(d, a, "duplicate key, or a key that is also a section");
            const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
            size_t sa = da ? (size_t)(da - a) : 0, sb = db ? (size_t)(db - b) : 0;
            if (j + 1 < i && sa && sa == sb && strncmp(a, b, sa) == 0) {
                const char *m = t[i - 1].name, *dm = strrchr(m, '.');
                if (!(dm && (size_t)(dm - m) >= sa && strncmp(m, a, sa) == 0))
                    return table_err(d, a, "keys of a section must be next to each other");
            }
        }
    }
    return KA_OK;
}

int ka_cfg_new(const struct ka_cfg_key *table, struct ka_diag *diag, struct ka_cfg **out)
{
    size_t n = ka__cfg_nkeys(table);
    int rc = check_table(table, n, false, diag);
    for (size_t i = 0; rc == KA_OK && i < n; i++)
        if (table[i].type == KA_CFG_MAPLIST)
            rc = check_table(table[i].fields, ka__cfg_nkeys(table[i].fields), true, diag);
    if (rc)
        return rc;
    struct ka_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    c->t = table;
    c->n = n;
    c->vals = calloc(n ? n : 1, sizeof *c->vals);
    if (!c->vals)
        rc = KA_ENOMEM;
    for (size_t i = 0; rc == KA_OK && i < n; i++) {
        rc = ka__cfg_set_default(&table[i], &c->vals[i], diag);
        for (size_t f = 0; rc == KA_OK && table[i].type == KA_CFG_MAPLIST &&
                           f < ka__cfg_nkeys(table[i].fields);
             f++) {
            struct cval tmp = {0};
            rc = ka__cfg_set_default(&table[i].fields[f], &tmp, diag);
            ka__cfg_val_clear(&tmp, &table[i].fields[f]);
        }
    }
    if (rc) {
        ka_cfg_free(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

void ka_cfg_free(struct ka_cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->vals && i < c->n; i++)
        ka__cfg_val_clear(&c->vals[i], &c->t[i]);
    free(c->vals);
    for (size_t i = 0; i < c->n_fills; i++)
        free(c->fills[i]);
    free(c->fills);
    free(c);
}

/* Index of key name (n bytes) in t[0..n), or -1. */
long ka__cfg_find(const struct ka_cfg_key *t, size_t nk, const char *name, size_t n)
{
    for (size_t i = 0; i < nk; i++)
        if (strncmp(t[i].name, name, n) == 0 && t[i].name[n] == '\0')
            return (long)i;
    return -1;
}

/* Replaces value i by v (taken over) with the given origin (copied). */
int ka__cfg_assign(struct ka_cfg *c, size_t i, struct cval *v, const char *origin)
{
    char *o;
    if (ka__cfg_dupstr(origin, strlen(origin), &o) != KA_OK) {
        ka__cfg_val_clear(v, &c->t[i]);
        return KA_ENOMEM;
    }
    ka__cfg_val_clear(&c->vals[i], &c->t[i]);
    c->vals[i] = *v;
    c->vals[i].origin = o;
    memset(v, 0, sizeof *v);
    return KA_OK;
}

int ka_cfg_set(struct ka_cfg *c, const char *key, const char *text, const char *flag,
               struct ka_diag *diag)
{
    const char *who = flag ? flag : key;
    long i = ka__cfg_find(c->t, c->n, key, strlen(key));
    if (i < 0) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s: unknown key", who, key);
        return KA_ENOENT;
    }
    const struct ka_cfg_key *k = &c->t[i];
    struct cval v = {0};
    char err[KA_CFG_MSG];
    int rc;
    if (k->type == KA_CFG_MAPLIST) {
        snprintf(err, sizeof err, "a list of mappings cannot be set from a flag; use the file");
        rc = -1;
    } else if (k->type == KA_CFG_LIST)
        rc = parse_csv(text, &v, err, sizeof err);
    else
        rc = ka__cfg_parse_scalar(k, text, false, &v, err, sizeof err);
    if (rc == -1) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s: %s", who, key, err);
        rc = KA_EINVAL;
    }
    if (rc == KA_OK)
        return ka__cfg_assign(c, (size_t)i, &v, who);
    ka__cfg_val_clear(&v, k);
    return rc;
}

/* ---- getters ---- */

static const struct cval *get(const struct ka_cfg *c, const char *key,
                                     const struct ka_cfg_key **k)
{
    long i = c ? ka__cfg_find(c->t, c->n, key, strlen(key)) : -1;
    if (i < 0)
        return NULL;
    *k = &c->t[i];
    return &c->vals[i];
}

static const char *val_str(const struct ka_cfg_key *k, const struct cval *v)
{
    if (k->type == KA_CFG_ENUM)
        return k->choices[v->i];
    if (k->type == KA_CFG_STRING || k->type == KA_CFG_ADDR)
        return v->s ? v->s : "";
    return "";
}

const char *ka_cfg_str(const struct ka_cfg *c, const char *key)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    return v ? val_str(k, v) : "";
}

static long long get_i(const struct ka_cfg *c, const char *key, enum ka_cfg_type t,
                       long long dflt)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    return v && k->type == t ? v->i : dflt;
}

bool ka_cfg_bool(const struct ka_cfg *c, const char *key)
{
    return get_i(c, key, KA_CFG_BOOL, 0) != 0;
}

long long ka_cfg_int(const struct ka_cfg *c, const char *key)
{
    return get_i(c, key, KA_CFG_INT, 0);
}

unsigned long long ka_cfg_size(const struct ka_cfg *c, const char *key)
{
    return (unsigned long long)get_i(c, key, KA_CFG_SIZE, 0);
}

long long ka_cfg_duration_ms(const struct ka_cfg *c, const char *key)
{
    return get_i(c, key, KA_CFG_DURATION, 0);
}

int ka_cfg_enum(const struct ka_cfg *c, const char *key)
{
    return (int)get_i(c, key, KA_CFG_ENUM, -1);
}

struct ka_cfg_strs ka_cfg_list(const struct ka_cfg *c, const char *key)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    struct ka_cfg_strs s = {0};
    if (v && k->type == KA_CFG_LIST) {
        s.v = (const char *const *)v->v;
        s.n = v->n;
    }
    return s;
}

size_t ka_cfg_items_count(const struct ka_cfg *c, const char *key)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    return v && k->type == KA_CFG_MAPLIST ? v->n_items : 0;
}

const char *ka_cfg_item_str(const struct ka_cfg *c, const char *key, size_t i, const char *field)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    if (!v || k->type != KA_CFG_MAPLIST || i >= v->n_items)
        return "";
    size_t nf = ka__cfg_nkeys(k->fields);
    long f = ka__cfg_find(k->fields, nf, field, strlen(field));
    if (f < 0)
        return "";
    const struct ka_cfg_key *fk = &k->fields[f];
    const struct cval *fv = &v->items[i * nf + (size_t)f];
    static __thread char num[32];
    switch (fk->type) {
    case KA_CFG_BOOL: return fv->i ? "true" : "false";
    case KA_CFG_INT: snprintf(num, sizeof num, "%lld", fv->i); return num;
    case KA_CFG_SIZE: ka_cfg_format_size((unsigned long long)fv->i, num, sizeof num); return num;
    case KA_CFG_DURATION: ka_cfg_format_duration(fv->i, num, sizeof num); return num;
    default: return val_str(fk, fv);
    }
}

const char *ka_cfg_origin(const struct ka_cfg *c, const char *key)
{
    const struct ka_cfg_key *k;
    const struct cval *v = get(c, key, &k);
    return v && v->origin ? v->origin : "default";
}

/* ---- filling a struct ---- */

static void fill_one(const struct ka_cfg_key *k, const struct cval *v, char *dst)
{
    switch (k->type) {
    case KA_CFG_STRING:
    case KA_CFG_ADDR:
    case KA_CFG_ENUM:
        if (k->type == KA_CFG_ENUM) {
            int e = (int)v->i;
            memcpy(dst + k->off, &e, sizeof e);
        } else {
            const char *s = val_str(k, v);
            memcpy(dst + k->off, &s, sizeof s);
        }
        break;
    case KA_CFG_BOOL: {
        bool b = v->i != 0;
        memcpy(dst + k->off, &b, sizeof b);
        break;
    }
    case KA_CFG_SIZE: {
        unsigned long long u = (unsigned long long)v->i;
        memcpy(dst + k->off, &u, sizeof u);
        break;
    }
    case KA_CFG_LIST: {
        struct ka_cfg_strs s = {(const char *const *)v->v, v->n};
        memcpy(dst + k->off, &s, sizeof s);
        break;
    }
    case KA_CFG_MAPLIST: break;
    default: memcpy(dst + k->off, &v->i, sizeof v->i); break;
    }
}

static int fill_items(struct ka_cfg *c, const struct ka_cfg_key *k, const struct cval *v,
                      char *dst)
{
    struct ka_cfg_items it = {NULL, v->n_items};
    size_t nf = ka__cfg_nkeys(k->fields);
    if (v->n_items) {
        void **nf_arr = realloc(c->fills, (c->n_fills + 1) * sizeof *nf_arr);
        if (!nf_arr)
            return KA_ENOMEM;
        c->fills = nf_arr;
        it.v = calloc(v->n_items, k->item_size ? k->item_size : 1);
        if (!it.v)
            return KA_ENOMEM;
        c->fills[c->n_fills++] = it.v;
    }
    for (size_t i = 0; i < v->n_items; i++)
        for (size_t f = 0; f < nf; f++)
            if (k->fields[f].flags & KA_CFG_FILL)
                fill_one(&k->fields[f], &v->items[i * nf + f], (char *)it.v + i * k->item_size);
    memcpy(dst + k->off, &it, sizeof it);
    return KA_OK;
}

int ka_cfg_fill(struct ka_cfg *c, void *dst)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct ka_cfg_key *k = &c->t[i];
        if (!(k->flags & KA_CFG_FILL))
            continue;
        if (k->type != KA_CFG_MAPLIST)
            fill_one(k, &c->vals[i], dst);
        else if (fill_items(c, k, &c->vals[i], dst) != KA_OK)
            return KA_ENOMEM;
    }
    return KA_OK;
}

