/*
 * policy_load.c - loads an audit.k8s.io/v1 Policy from YAML or JSON the way kube-apiserver's
 * --audit-policy-file does (spec §1.6, §2.1, §2.2): decode with types checked, unknown and
 * duplicate fields as warnings (errors in strict mode), apiVersion/kind checked, every
 * validation error reported with the position of the node it is about, then compiled.
 *
 * Messages: "file:line:col: field.path: message". Limits: KA_POLICY_MAX_BYTES per file (read
 * from disk), KAP_MAX_RULES rules, KAP_MAX_LIST entries per list, KAP_MAX_STR bytes per string.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kaudit/buf.h"
#include "kaudit/jsonw.h"
#include "kaudit/policy.h"
#include "policy_int.h"

#define KAP_NODE_BUDGET 1000000L /* nodes decoded, aliases expanded */

struct dctx {
    const char *name;
    unsigned flags;
    struct ka_diag *diag;
    struct kap_arena *ar;
    char path[256];
    size_t plen;
    long budget;
    int nerr;
    bool oom;
};

static const char *const k_levels[] = {"None", "Metadata", "Request", "RequestResponse"};
static const char *const k_stages[] = {"RequestReceived", "ResponseStarted", "ResponseComplete",
                                       "Panic"};

static int name_index(const char *const *names, size_t nn, const char *s, size_t n)
{
    for (size_t i = 0; i < nn; i++)
        if (strlen(names[i]) == n && !memcmp(names[i], s, n))
            return (int)i;
    return -1;
}

int ka__level_index(const char *s, size_t n)
{
    return name_index(k_levels, 4, s, n);
}

int ka__stage_index(const char *s, size_t n)
{
    return name_index(k_stages, 4, s, n);
}

/* ---- messages ---- */

static void vmsg(struct dctx *c, enum ka_sev sev, int line, int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void vmsg(struct dctx *c, enum ka_sev sev, int line, int col, const char *fmt, va_list ap)
{
    char text[1536];
    vsnprintf(text, sizeof(text), fmt, ap);
    int rc;
    if (c->plen)
        rc = ka_diag_add(c->diag, sev, "%s:%d:%d: %s: %s", c->name, line, col, c->path, text);
    else
        rc = ka_diag_add(c->diag, sev, "%s:%d:%d: %s", c->name, line, col, text);
    if (rc != KA_OK)
        c->oom = true;
    if (sev == KA_SEV_ERROR)
        c->nerr++;
}

static void err_at(struct dctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_at(struct dctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(c, KA_SEV_ERROR, line, col, fmt, ap);
    va_end(ap);
}

/* Unknown and duplicate fields: warnings, or errors with KA_POLICY_STRICT. */
static void strict_at(struct dctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void strict_at(struct dctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(c, (c->flags & KA_POLICY_STRICT) ? KA_SEV_ERROR : KA_SEV_WARNING, line, col, fmt, ap);
    va_end(ap);
}

static size_t path_key(struct dctx *c, const char *k, size_t n)
{
    size_t save = c->plen;
    int w = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%.*s", c->plen ? "." : "",
                     (int)n, k);
    if (w > 0)
        c->plen = c->plen + (size_t)w < sizeof(c->path) ? c->plen + (size_t)w : sizeof(c->path) - 1;
    return save;
}

static size_t path_idx(struct dctx *c, size_t i)
{
    size_t save = c->plen;
    int w = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
    if (w > 0)
        c->plen = c->plen + (size_t)w < sizeof(c->path) ? c->plen + (size_t)w : sizeof(c->path) - 1;
    return save;
}

static void path_pop(struct dctx *c, size_t save)
{
    c->plen = save;
    c->path[save] = '\0';
}

/* ---- decoding ---- */

static const struct kap_pn *res(const struct kap_pn *n)
{
    return n && n->type == KAP_PN_ALIAS ? n->target : n;
}

static const char *kind_name(const struct kap_pn *n)
{
    switch (n->type) {
    case KAP_PN_SEQ: return "a list";
    case KAP_PN_MAP: return "a mapping";
    case KAP_PN_NULL: return "null";
    default: return "a string";
    }
}

/* Counts a decoded node against the budget (alias expansion). */
static bool spend(struct dctx *c, const struct kap_pn *n)
{
    if (c->budget-- > 0)
        return true;
    if (c->budget == -1)
        err_at(c, n->line, n->col, "policy too large (more than %ld nodes after aliases)",
               KAP_NODE_BUDGET);
    return false;
}

static bool dec_str(struct dctx *c, const struct kap_pn *v, struct kap_item *out)
{
    v = res(v);
    out->line = v->line;
    out->col = v->col;
    out->p = "";
    out->n = 0;
    if (v->type == KAP_PN_NULL)
        return true;
    if (v->type != KAP_PN_SCALAR) {
        err_at(c, v->line, v->col, "expected a string, got %s", kind_name(v));
        return false;
    }
    if (v->n > KAP_MAX_STR) {
        err_at(c, v->line, v->col, "value longer than %u bytes", KAP_MAX_STR);
        return false;
    }
    out->p = v->s;
    out->n = v->n;
    return true;
}

static bool dec_bool(struct dctx *c, const struct kap_pn *v, uint8_t *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on",   "On",   "ON",   "y",   "Y"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                     "off",   "Off",   "OFF",   "n",  "N"};
    v = res(v);
    if (v->type == KAP_PN_NULL) {
        *out = KAP_OMF_UNSET;
        return true;
    }
    if (v->type == KAP_PN_SCALAR && !v->quoted) {
        if (name_index(yes, 11, v->s, v->n) >= 0) {
            *out = KAP_OMF_TRUE;
            return true;
        }
        if (name_index(no, 11, v->s, v->n) >= 0) {
            *out = KAP_OMF_FALSE;
            return true;
        }
    }
    err_at(c, v->line, v->col, "expected a boolean, got %s", kind_name(v));
    return false;
}

/* A list of strings. null = absent; a null element is "". */
static bool dec_list(struct dctx *c, const struct kap_pn *v, struct kap_list *out)
{
    v = res(v);
    memset(out, 0, sizeof(*out));
    out->line = v->line;
    out->col = v->col;
    if (v->type == KAP_PN_NULL)
        return true;
    if (v->type != KAP_PN_SEQ) {
        err_at(c, v->line, v->col, "expected a list of strings, got %s", kind_name(v));
        return false;
    }
    if (v->count > KAP_MAX_LIST) {
        err_at(c, v->line, v->col, "more than %u entries", KAP_MAX_LIST);
        return false;
    }
    out->present = true;
    out->v = ka__arena_alloc(c->ar, (v->count ? v->count : 1) * sizeof(*out->v));
    if (!out->v) {
        c->oom = true;
        return false;
    }
    bool ok = true;
    size_t i = 0;
    for (const struct kap_pn *e = v->first; e; e = e->next, i++) {
        if (!spend(c, e))
            return false;
        size_t save = path_idx(c, i);
        ok &= dec_str(c, e, &out->v[out->n]);
        path_pop(c, save);
        out->n++;
    }
    return ok;
}

typedef void (*field_fn)(struct dctx *c, int idx, const struct kap_pn *val, void *obj);

/* Walks a mapping: known fields go to fn, unknown and repeated ones are reported. */
static void dec_map(struct dctx *c, const struct kap_pn *m, const char *const *names, size_t nn,
                    field_fn fn, void *obj)
{
    uint32_t seen = 0;
    for (const struct kap_pn *k = m->first; k && k->next; k = k->next->next) {
        const struct kap_pn *key = res(k), *val = k->next;
        if (!spend(c, key))
            return;
        if (key->type != KAP_PN_SCALAR && key->type != KAP_PN_NULL) {
            err_at(c, key->line, key->col, "mapping keys must be strings, got %s",
                   kind_name(key));
            continue;
        }
        const char *ks = key->type == KAP_PN_NULL ? "" : key->s;
        size_t kn = key->type == KAP_PN_NULL ? 0 : key->n;
        int idx = name_index(names, nn, ks, kn);
        size_t save = path_key(c, ks, kn);
        if (idx < 0) {
            strict_at(c, key->line, key->col, "unknown field \"%.*s\"", (int)kn, ks);
        } else {
            if (seen & (1u << idx))
                strict_at(c, key->line, key->col, "duplicate field \"%.*s\"", (int)kn, ks);
            seen |= 1u << idx;
            fn(c, idx, val, obj);
        }
        path_pop(c, save);
    }
}

static const char *const k_gr_fields[] = {"group", "resources", "resourceNames"};

static void gr_field(struct dctx *c, int idx, const struct kap_pn *val, void *obj)
{
    struct kap_gr_doc *g = obj;
    bool ok = true;
    switch (idx) {
    case 0:
        ok = dec_str(c, val, &g->group);
        g->has_group = ok;
        break;
    case 1: ok = dec_list(c, val, &g->resources); break;
    case 2: ok = dec_list(c, val, &g->resource_names); break;
    default: break;
    }
    g->bad |= !ok;
}

static bool dec_resources(struct dctx *c, const struct kap_pn *v, struct kap_rule_doc *r)
{
    v = res(v);
    r->res_line = v->line;
    r->res_col = v->col;
    r->n_resources = 0;
    r->has_resources = false;
    if (v->type == KAP_PN_NULL)
        return true;
    if (v->type != KAP_PN_SEQ) {
        err_at(c, v->line, v->col, "expected a list of group resources, got %s", kind_name(v));
        return false;
    }
    if (v->count > KAP_MAX_LIST) {
        err_at(c, v->line, v->col, "more than %u entries", KAP_MAX_LIST);
        return false;
    }
    r->resources = ka__arena_alloc(c->ar, (v->count ? v->count : 1) * sizeof(*r->resources));
    if (!r->resources) {
        c->oom = true;
        return false;
    }
    r->has_resources = true;
    bool ok = true;
    size_t i = 0;
    for (const struct kap_pn *e = v->first; e; e = e->next, i++) {
        const struct kap_pn *m = res(e);
        struct kap_gr_doc *g = &r->resources[r->n_resources++];
        if (!spend(c, m))
            return false;
        size_t save = path_idx(c, i);
        if (m->type == KAP_PN_MAP)
            dec_map(c, m, k_gr_fields, 3, gr_field, g);
        else if (m->type != KAP_PN_NULL) {
            err_at(c, m->line, m->col, "expected a mapping, got %s", kind_name(m));
            g->bad = true;
        }
        ok &= !g->bad;
        path_pop(c, save);
    }
    return ok;
}

static const char *const k_rule_fields[] = {
    "level",      "users",           "userGroups", "verbs",           "resources",
    "namespaces", "nonResourceURLs", "omitStages", "omitManagedFields"};

static void rule_field(struct dctx *c, int idx, const struct kap_pn *val, void *obj)
{
    struct kap_rule_doc *r = obj;
    bool ok = true;
    switch (idx) {
    case 0:
        ok = dec_str(c, val, &r->level);
        r->has_level = true;
        r->level_bad = !ok;
        break;
    case 1: ok = dec_list(c, val, &r->users); break;
    case 2: ok = dec_list(c, val, &r->user_groups); break;
    case 3: ok = dec_list(c, val, &r->verbs); break;
    case 4: ok = dec_resources(c, val, r); break;
    case 5: ok = dec_list(c, val, &r->namespaces); break;
    case 6: ok = dec_list(c, val, &r->non_resource_urls); break;
    case 7: ok = dec_list(c, val, &r->omit_stages); break;
    case 8: ok = dec_bool(c, val, &r->omf); break;
    default: break;
    }
    r->bad |= !ok;
}

static void dec_rules(struct dctx *c, const struct kap_pn *v, struct kap_doc *d)
{
    v = res(v);
    d->n_rules = 0;
    if (v->type == KAP_PN_NULL)
        return;
    if (v->type != KAP_PN_SEQ) {
        err_at(c, v->line, v->col, "expected a list of rules, got %s", kind_name(v));
        return;
    }
    if (v->count > KAP_MAX_RULES) {
        err_at(c, v->line, v->col, "more than %u rules", KAP_MAX_RULES);
        return;
    }
    d->rules = ka__arena_alloc(c->ar, (v->count ? v->count : 1) * sizeof(*d->rules));
    if (!d->rules) {
        c->oom = true;
        return;
    }
    size_t i = 0;
    for (const struct kap_pn *e = v->first; e; e = e->next, i++) {
        const struct kap_pn *m = res(e);
        struct kap_rule_doc *r = &d->rules[d->n_rules++];
        r->line = m->line;
        r->col = m->col;
        if (!spend(c, m))
            return;
        size_t save = path_idx(c, i);
        if (m->type == KAP_PN_MAP)
            dec_map(c, m, k_rule_fields, 9, rule_field, r);
        else if (m->type != KAP_PN_NULL) {
            err_at(c, m->line, m->col, "expected a mapping, got %s", kind_name(m));
            r->bad = r->level_bad = true;
        }
        path_pop(c, save);
    }
}

struct root_doc {
    struct kap_doc *doc;
    struct kap_item api_version, kind;
    bool has_api_version, has_kind;
};

static const char *const k_root_fields[] = {"apiVersion", "kind",       "metadata",
                                            "rules",      "omitStages", "omitManagedFields"};

static void root_field(struct dctx *c, int idx, const struct kap_pn *val, void *obj)
{
    struct root_doc *rd = obj;
    uint8_t b = KAP_OMF_UNSET;
    switch (idx) {
    case 0: rd->has_api_version = dec_str(c, val, &rd->api_version); break;
    case 1: rd->has_kind = dec_str(c, val, &rd->kind); break;
    case 3: dec_rules(c, val, rd->doc); break;
    case 4: dec_list(c, val, &rd->doc->omit_stages); break;
    case 5:
        if (dec_bool(c, val, &b))
            rd->doc->omit_managed_fields = b == KAP_OMF_TRUE;
        break;
    default: break; /* metadata: ignored */
    }
}

/* spec §2.1 step 3. */
static void check_gvk(struct dctx *c, const struct kap_pn *root, const struct root_doc *rd)
{
    const struct kap_item *av = &rd->api_version, *k = &rd->kind;
    if (!rd->has_api_version || !rd->has_kind || av->n == 0 || k->n == 0) {
        err_at(c, root->line, root->col,
               "unknown group version field: apiVersion and kind must be set "
               "(apiVersion: audit.k8s.io/v1, kind: Policy)");
        return;
    }
    if (!(av->n == 15 && !memcmp(av->p, "audit.k8s.io/v1", 15))) {
        size_t save = path_key(c, "apiVersion", 10);
        err_at(c, av->line, av->col, "no kind \"%.*s\" is registered for version \"%.*s\"",
               (int)k->n, k->p, (int)av->n, av->p);
        path_pop(c, save);
    } else if (!(k->n == 6 && !memcmp(k->p, "Policy", 6))) {
        size_t save = path_key(c, "kind", 4);
        err_at(c, k->line, k->col,
               "no kind \"%.*s\" is registered for version \"audit.k8s.io/v1\" "
               "(expected kind: Policy)",
               (int)k->n, k->p);
        path_pop(c, save);
    }
}

/* ---- validation (spec §2.2) ---- */

/* Go's %q for the strings found in policies. */
static void go_quote(struct ka_buf *b, const char *s, size_t n)
{
    ka_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': ka_buf_puts(b, "\\\""); break;
        case '\\': ka_buf_puts(b, "\\\\"); break;
        case '\n': ka_buf_puts(b, "\\n"); break;
        case '\t': ka_buf_puts(b, "\\t"); break;
        case '\r': ka_buf_puts(b, "\\r"); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                ka_buf_printf(b, "\\x%02x", ch);
            else
                ka_buf_putc(b, (char)ch);
        }
    }
    ka_buf_putc(b, '"');
}

static void json_list(struct ka_buf *b, const struct kap_list *l)
{
    ka_buf_putc(b, '[');
    for (uint32_t i = 0; i < l->n; i++) {
        if (i)
            ka_buf_putc(b, ',');
        ka_jw_str(b, l->v[i].p, l->v[i].n);
    }
    ka_buf_putc(b, ']');
}

/* "Unsupported value "x": supported values: "a", "b"" (the form our users asked for). */
static void err_unsupported(struct dctx *c, const struct kap_item *it, const char *const *names,
                            size_t nn)
{
    struct ka_buf b;
    ka_buf_init(&b, 4096);
    ka_buf_puts(&b, "Unsupported value ");
    go_quote(&b, it->p, it->n);
    ka_buf_puts(&b, ": supported values: ");
    for (size_t i = 0; i < nn; i++)
        ka_buf_printf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
    err_at(c, it->line, it->col, "%s", ka_buf_cstr(&b) ? ka_buf_cstr(&b) : "Unsupported value");
    ka_buf_free(&b);
}

/* "Invalid value: <value>: detail"; value is a Go-quoted string or a JSON list. */
static void err_invalid(struct dctx *c, int line, int col, const struct kap_item *it,
                        const struct kap_list *l, const char *detail)
{
    struct ka_buf b;
    ka_buf_init(&b, 4096);
    ka_buf_puts(&b, "Invalid value: ");
    if (it)
        go_quote(&b, it->p, it->n);
    else if (l)
        json_list(&b, l);
    ka_buf_printf(&b, ": %s", detail);
    err_at(c, line, col, "%s", ka_buf_cstr(&b) ? ka_buf_cstr(&b) : "Invalid value");
    ka_buf_free(&b);
}

static void val_stages(struct dctx *c, const struct kap_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (ka__stage_index(l->v[i].p, l->v[i].n) >= 0)
            continue;
        size_t save = path_idx(c, i);
        err_unsupported(c, &l->v[i], k_stages, 4);
        path_pop(c, save);
    }
}

static void val_urls(struct dctx *c, const struct kap_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct kap_item *u = &l->v[i];
        if (u->n == 1 && u->p[0] == '*')
            continue;
        size_t save = path_idx(c, i);
        if (u->n == 0 || u->p[0] != '/')
            err_invalid(c, u->line, u->col, u, NULL,
                        "non-resource URL rules must begin with a '/' character");
        if (u->n > 0 && memchr(u->p, '*', u->n - 1))
            err_invalid(c, u->line, u->col, u, NULL,
                        "non-resource URL wildcards '*' must be the final character of the rule");
        path_pop(c, save);
    }
}

static bool is_dns1123_subdomain(const char *s, size_t n)
{
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (alnum || (ch == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return n > 0 && label > 0 && s[n - 1] != '-';
}

static void val_group(struct dctx *c, const struct kap_gr_doc *g)
{
    const struct kap_item *gi = &g->group;
    if (!g->has_group || gi->n == 0 || (gi->n == 1 && gi->p[0] == '*'))
        return;
    char detail[512];
    detail[0] = '\0';
    if (gi->n > 253)
        snprintf(detail, sizeof detail, "%s", "must be no more than 253 characters");
    if (!is_dns1123_subdomain(gi->p, gi->n))
        snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%s%s",
                 detail[0] ? "," : "",
                 "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    if (!detail[0])
        return;
    size_t save = path_key(c, "group", 5);
    err_invalid(c, gi->line, gi->col, gi, NULL, detail);
    path_pop(c, save);
}

static void val_resources(struct dctx *c, const struct kap_rule_doc *r)
{
    size_t save = path_key(c, "resources", 9);
    for (uint32_t k = 0; k < r->n_resources; k++) {
        const struct kap_gr_doc *g = &r->resources[k];
        val_group(c, g);
        if (!g->bad && g->resource_names.n > 0 && g->resources.n == 0) {
            size_t s2 = path_key(c, "resourceNames", 13);
            err_invalid(c, g->resource_names.line, g->resource_names.col, NULL,
                        &g->resource_names, "using resourceNames requires at least one resource");
            path_pop(c, s2);
        }
    }
    path_pop(c, save);
}

static void val_rule(struct dctx *c, const struct kap_rule_doc *r)
{
    size_t save = path_key(c, "level", 5);
    if (!r->level_bad && r->level.n == 0)
        err_at(c, r->has_level ? r->level.line : r->line, r->has_level ? r->level.col : r->col,
               "Required value");
    else if (!r->level_bad && ka__level_index(r->level.p, r->level.n) < 0)
        err_unsupported(c, &r->level, k_levels, 4);
    path_pop(c, save);
    save = path_key(c, "nonResourceURLs", 15);
    val_urls(c, &r->non_resource_urls);
    path_pop(c, save);
    val_resources(c, r);
    save = path_key(c, "omitStages", 10);
    val_stages(c, &r->omit_stages);
    path_pop(c, save);
    if (!r->bad && r->non_resource_urls.n > 0 && (r->n_resources > 0 || r->namespaces.n > 0)) {
        save = path_key(c, "nonResourceURLs", 15);
        err_invalid(c, r->non_resource_urls.line, r->non_resource_urls.col, NULL,
                    &r->non_resource_urls,
                    "rules cannot apply to both regular resources and non-resource URLs");
        path_pop(c, save);
    }
}

static void validate(struct dctx *c, const struct kap_doc *d)
{
    size_t save = path_key(c, "omitStages", 10);
    val_stages(c, &d->omit_stages);
    path_pop(c, save);
    for (uint32_t i = 0; i < d->n_rules; i++) {
        save = path_key(c, "rules", 5);
        path_idx(c, i);
        val_rule(c, &d->rules[i]);
        path_pop(c, save);
    }
}

/* ---- entry points ---- */

static int load_tree(struct dctx *c, const struct kap_pn *root, struct ka_policy **out)
{
    struct kap_doc doc = {0};
    struct root_doc rd = {.doc = &doc};
    root = res(root);
    if (!root || root->type == KAP_PN_NULL) {
        if (ka_diag_add(c->diag, KA_SEV_ERROR, "%s: empty policy file", c->name) != KA_OK)
            return KA_ENOMEM;
        return KA_EPOLICY;
    }
    if (root->type != KAP_PN_MAP) {
        err_at(c, root->line, root->col, "expected a mapping (an audit.k8s.io/v1 Policy), got %s",
               kind_name(root));
        return c->oom ? KA_ENOMEM : KA_EPOLICY;
    }
    dec_map(c, root, k_root_fields, 6, root_field, &rd);
    if (c->budget < 0) /* decoding stopped part-way: validating the rest would mislead */
        return c->oom ? KA_ENOMEM : KA_EPOLICY;
    check_gvk(c, root, &rd);
    if (!(c->flags & KA__POLICY_NO_VALIDATE))
        validate(c, &doc);
    if (c->nerr == 0 && doc.n_rules == 0 &&
        ka_diag_add(c->diag, KA_SEV_ERROR, "%s: loaded illegal policy with 0 rules", c->name) ==
            KA_OK)
        c->nerr++;
    if (c->oom)
        return KA_ENOMEM;
    if (c->nerr)
        return KA_EPOLICY;
    return ka__policy_compile(&doc, out);
}

int ka_policy_load_mem(const char *name, const char *buf, size_t n, unsigned flags,
                       struct ka_diag *diag, struct ka_policy **out)
{
    struct kap_arena ar = {0};
    struct kap_pn *root = NULL;
    struct dctx c = {.name = name ? name : "<policy>", .flags = flags, .diag = diag, .ar = &ar,
                     .budget = KAP_NODE_BUDGET};
    if (!buf || !out || !diag)
        return KA_EINVAL;
    int rc = ka__yaml_tree(c.name, buf, n, flags, &ar, diag, &root);
    if (rc == KA_ESYNTAX)
        rc = KA_EPOLICY;
    if (rc == KA_OK)
        rc = load_tree(&c, root, out);
    ka__arena_free(&ar);
    return rc;
}

int ka_policy_load_file(const char *path, unsigned flags, struct ka_diag *diag,
                        struct ka_policy **out)
{
    int rc = KA_EIO;
    char *buf = NULL;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size > (off_t)KA_POLICY_MAX_BYTES) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: policy file larger than %u bytes", path,
                    KA_POLICY_MAX_BYTES);
        rc = KA_EPOLICY;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = KA_ENOMEM;
        goto out;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || n > (size_t)st.st_size) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: read error or file changed while reading", path);
        goto out;
    }
    rc = ka_policy_load_mem(path, buf, n, flags, diag, out);
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}
