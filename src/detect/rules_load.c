/*
 * rules_load.c - reads a Falco rules file (YAML, via libfyaml) into item descriptions and hands
 * each item to rules_apply.c, which merges it into the engine's lists, macros and rules.
 *
 * Every error carries file:line:col of the offending node and the item's kind and name.
 * libfyaml's own diagnostics are collected (never printed) and re-reported the same way.
 * Structure checked here: the top level is a sequence of mappings; each mapping is a rule,
 * macro, list, required_engine_version or required_plugin_versions item; value types.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libfyaml.h>

#include "detect_int.h"

void kd_node_pos(const struct kd_ld *l, struct fy_node *n, struct kd_pos *out)
{
    out->file = l->f->name;
    out->line = out->col = 1;
    for (int guard = 0; n && guard < 64; guard++) {
        if (fy_node_is_scalar(n)) {
            const struct fy_mark *m = fy_token_start_mark(fy_node_get_scalar_token(n));
            if (m) {
                out->line = (unsigned long)m->line + 1;
                out->col = (unsigned long)m->column + 1;
            }
            return;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else
            n = fy_node_sequence_iterate(n, &it);
    }
}

void kd_err(struct kd_ld *l, struct fy_node *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct kd_pos p;
    kd_node_pos(l, at, &p);
    if (l->what)
        ka_diag_add(l->diag, KA_SEV_ERROR, "%s:%lu:%lu: %s '%s': %s", p.file, p.line, p.col,
                    l->what, l->name ? l->name : "?", msg);
    else
        ka_diag_add(l->diag, KA_SEV_ERROR, "%s:%lu:%lu: %s", p.file, p.line, p.col, msg);
    l->errors++;
}

void kd_warn(struct kd_ld *l, struct fy_node *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct kd_pos p;
    kd_node_pos(l, at, &p);
    ka_diag_add(l->diag, KA_SEV_WARNING, "%s:%lu:%lu: %s '%s': %s", p.file, p.line, p.col,
                l->what ? l->what : "item", l->name ? l->name : "?", msg);
}

struct fy_node *kd_map_get(struct fy_node *map, const char *key)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t n;
        const char *s = k && fy_node_is_scalar(k) ? fy_node_get_scalar(k, &n) : NULL;
        if (s && strlen(key) == n && !memcmp(s, key, n))
            return fy_node_pair_value(p);
    }
    return NULL;
}

char *kd_scalar(struct kd_ld *l, struct fy_node *n, const char *key)
{
    size_t len;
    const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
    if (!s) {
        kd_err(l, n, "'%s' must be a string", key);
        return NULL;
    }
    char *r = ka__arena_strdup(&l->d->ar, s, len);
    if (!r)
        l->oom = true;
    return r;
}

int kd_bool(struct kd_ld *l, struct fy_node *n, const char *key, bool *out)
{
    size_t len;
    const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "on"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "off"};
    for (size_t i = 0; s && i < 6; i++) {
        if (strlen(t[i]) == len && !memcmp(s, t[i], len)) {
            *out = true;
            return KA_OK;
        }
        if (strlen(f[i]) == len && !memcmp(s, f[i], len)) {
            *out = false;
            return KA_OK;
        }
    }
    kd_err(l, n, "'%s' must be true or false", key);
    return KA_EINVAL;
}

/* Reads a sequence of strings into *v (a missing node or null gives an empty list). */
int kd_strlist(struct kd_ld *l, struct fy_node *n, const char *key, char ***v, size_t *count)
{
    *v = NULL;
    *count = 0;
    if (!n || fy_node_is_null(n))
        return KA_OK;
    if (!fy_node_is_sequence(n)) {
        kd_err(l, n, "'%s' must be a list", key);
        return KA_EINVAL;
    }
    size_t cap = 0;
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate(n, &it)) != NULL) {
        if (*count >= KD_MAX_ITEMS) {
            kd_err(l, e, "'%s' has more than %u items", key, KD_MAX_ITEMS);
            return KA_ETOOBIG;
        }
        char *s = kd_scalar(l, e, key);
        if (!s)
            return l->oom ? KA_ENOMEM : KA_EINVAL;
        if (kd_grow(&l->d->ar, (void **)v, &cap, *count + 1, sizeof(**v)) != KA_OK) {
            l->oom = true;
            return KA_ENOMEM;
        }
        (*v)[(*count)++] = s;
    }
    return KA_OK;
}

/* The provenance of a condition/output scalar. */
void kd_seg_of(const struct kd_ld *l, struct fy_node *n, struct kd_seg *out)
{
    memset(out, 0, sizeof(*out));
    struct kd_pos p;
    kd_node_pos(l, n, &p);
    out->file = l->f->name;
    out->src = l->f->buf;
    out->src_len = l->f->n;
    out->line = p.line;
    out->col = p.col;
    const struct fy_mark *m =
        n && fy_node_is_scalar(n) ? fy_token_start_mark(fy_node_get_scalar_token(n)) : NULL;
    if (m && m->input_pos < l->f->n) {
        out->src_off = m->input_pos;
        out->exact = true;
    }
}

/* Re-reports libfyaml's errors; returns false when there were none (an empty stream). */
static bool report_yaml(struct kd_ld *l, struct fy_diag *fd)
{
    size_t n = ka__yaml_report_errors(fd, l->f->name, l->diag);
    l->errors += n;
    return n > 0;
}

static void load_item(struct kd_ld *l, struct fy_node *item)
{
    l->what = NULL;
    l->name = NULL;
    if (!fy_node_is_mapping(item)) {
        kd_err(l, item, "a rules file item must be a mapping");
        return;
    }
    if (kd_map_get(item, "rule"))
        kd_apply_rule(l, item);
    else if (kd_map_get(item, "macro"))
        kd_apply_macro(l, item);
    else if (kd_map_get(item, "list"))
        kd_apply_list(l, item);
    else if (kd_map_get(item, "required_engine_version")) {
        struct fy_node *v = kd_map_get(item, "required_engine_version");
        if (!fy_node_is_scalar(v))
            kd_err(l, v, "required_engine_version must be a number or a version string");
    } else if (kd_map_get(item, "required_plugin_versions")) {
        struct fy_node *v = kd_map_get(item, "required_plugin_versions");
        if (!fy_node_is_sequence(v))
            kd_err(l, v, "required_plugin_versions must be a list");
    } else
        kd_err(l, item, "unknown top level item (expected rule, macro, list, "
                        "required_engine_version or required_plugin_versions)");
}

static int load_doc(struct kd_ld *l, struct fy_document *doc)
{
    struct fy_node *root = fy_document_root(doc);
    if (!root || fy_node_is_null(root))
        return KA_OK; /* an empty file defines nothing */
    if (!fy_node_is_sequence(root)) {
        kd_err(l, root, "a rules file must be a list of items");
        return KA_EINVAL;
    }
    void *it = NULL;
    struct fy_node *item;
    while (!l->oom && (item = fy_node_sequence_iterate(root, &it)) != NULL)
        load_item(l, item);
    if (l->oom)
        return KA_ENOMEM;
    return l->errors ? KA_EINVAL : KA_OK;
}

int kd_load_yaml(struct ka_detect *d, const struct kd_file *f, struct ka_diag *diag)
{
    struct kd_ld l = {.d = d, .f = f, .diag = diag};
    int urc = ka__yaml_check_utf8(f->name, f->buf, f->n, diag);
    if (urc)
        return urc;
    struct fy_diag *fd = ka__yaml_diag_new();
    if (!fd)
        return KA_ENOMEM;
    /* Sloppy flow indentation: Falco's own files close flow lists at the key's column. */
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_SLOPPY_FLOW_INDENTATION | FYPCF_RESOLVE_DOCUMENT,
        .diag = fd};
    struct fy_document *doc = fy_document_build_from_string(&cfg, f->buf, f->n);
    int rc;
    if (!doc)
        rc = report_yaml(&l, fd) ? KA_ESYNTAX : KA_OK;
    else
        rc = load_doc(&l, doc);
    fy_document_destroy(doc);
    fy_diag_destroy(fd);
    return rc;
}
