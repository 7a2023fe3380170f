/*
 * views_diff.c - compact diffs between two logged states of an object (added, removed and
 * changed JSON paths with old and new values) and the rendering of patch bodies (JSON patch
 * operations, merge patches), for `kaudit history`.
 */
#include <stdio.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "views_int.h"

struct dctx {
    struct ka_buf path;
    struct ka_buf *out;
    struct ka_buf tmp;
    const char *indent;
    bool json;
    size_t n;   /* changes found */
    int err;
};

/* Appends ".key" or ["key"] to the path. */
static void path_key(struct ka_buf *p, struct ka_str k)
{
    char key[KA_VIEW_MAX_STR + 1];
    size_t n = ka__vstr(k, key);
    bool plain = n > 0;
    for (size_t i = 0; i < n && plain; i++) {
        char c = key[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '$';
    }
    if (plain)
        ka_buf_printf(p, "%s%s", p->n ? "." : "", key);
    else
        ka_buf_printf(p, "[\"%s\"]", key);
}

/* Whether the path (just extended with a metadata member) is noise. */
static bool noise(const struct ka_buf *p)
{
    static const char *const skip[] = {"metadata.managedFields", "metadata.resourceVersion",
                                       "metadata.generation", "metadata.creationTimestamp"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (p->n == strlen(skip[i]) && memcmp(p->p, skip[i], p->n) == 0)
            return true;
    return false;
}

/* Appends a value for a text line: compact JSON cut at KA_VIEW_MAX_VALUE bytes. */
static int text_value(struct dctx *c, struct ka_raw v)
{
    ka_buf_reset(&c->tmp);
    int rc = ka_jw_compact(&c->tmp, v.p, v.n);
    if (rc)
        return rc;
    if (c->tmp.n <= KA_VIEW_MAX_VALUE)
        return ka_buf_append(c->out, c->tmp.p, c->tmp.n);
    size_t k = KA_VIEW_MAX_VALUE;
    while (k > 0 && ((unsigned char)c->tmp.p[k] & 0xC0) == 0x80)
        k--; /* do not cut a UTF-8 character */
    rc = ka_buf_append(c->out, c->tmp.p, k);
    return rc ? rc : ka_buf_puts(c->out, "...");
}

static void emit(struct dctx *c, enum ka_view_op op, struct ka_raw o,
                 struct ka_raw nw)
{
    static const char *const names[] = {"add", "remove", "change"};
    static const char marks[] = "+-~";
    if (c->err || c->n++ >= KA_VIEW_MAX_CHANGES)
        return;
    struct ka_buf *b = c->out;
    int rc;
    if (c->json) {
        rc = ka_buf_puts(b, c->n > 1 ? ",{" : "{");
        if (rc == 0)
            rc = ka__vjkv(b, true, "op", names[op]);
        if (rc == 0) {
            ka_buf_cstr(&c->path);
            rc = ka__vjkv(b, false, "path", c->path.p ? c->path.p : "");
        }
        if (rc == 0 && o.p && (rc = ka_buf_puts(b, ",\"old\":")) == 0)
            rc = ka_jw_compact(b, o.p, o.n);
        if (rc == 0 && nw.p && (rc = ka_buf_puts(b, ",\"new\":")) == 0)
            rc = ka_jw_compact(b, nw.p, nw.n);
        if (rc == 0)
            rc = ka_buf_putc(b, '}');
    } else {
        rc = ka_buf_printf(b, "%s%c %.*s: ", c->indent, marks[op], (int)c->path.n, c->path.p);
        if (rc == 0)
            rc = text_value(c, o.p ? o : nw);
        if (rc == 0 && op == KA_VIEW_CHANGE && (rc = ka_buf_puts(b, " -> ")) == 0)
            rc = text_value(c, nw);
        if (rc == 0)
            rc = ka_buf_putc(b, '\n');
    }
    c->err = rc;
}

static void diff_value(struct dctx *c, struct ka_raw o, struct ka_raw nw, unsigned depth);

static void diff_object(struct dctx *c, struct ka_raw o, struct ka_raw nw, unsigned depth)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v, none = {0};
    char key[KA_VIEW_MAX_STR + 1];
    size_t base = c->path.n;
    ka_json_iter_init(&it, o);
    while (!c->err && ka_json_iter_member(&it, &k, &v)) {
        ka__vstr(k, key);
        path_key(&c->path, k);
        struct ka_raw w = ka_view_member(nw, key);
        if (!noise(&c->path)) {
            if (!w.p && ka_json_type_of(v.p, v.n) != KA_JSON_NULL)
                emit(c, KA_VIEW_REMOVE, v, none);
            else if (w.p)
                diff_value(c, v, w, depth + 1); /* null and absent are the same */
        }
        c->path.n = base;
    }
    ka_json_iter_init(&it, nw);
    while (!c->err && ka_json_iter_member(&it, &k, &v)) {
        ka__vstr(k, key);
        path_key(&c->path, k);
        if (!noise(&c->path) && !ka_view_member(o, key).p &&
            ka_json_type_of(v.p, v.n) != KA_JSON_NULL)
            emit(c, KA_VIEW_ADD, none, v);
        c->path.n = base;
    }
}

static void diff_array(struct dctx *c, struct ka_raw o, struct ka_raw nw, unsigned depth)
{
    struct ka_json_iter a, b;
    struct ka_raw x, y, none = {0};
    size_t base = c->path.n;
    ka_json_iter_init(&a, o);
    ka_json_iter_init(&b, nw);
    for (size_t i = 0; !c->err; i++) {
        bool hx = ka_json_iter_elem(&a, &x), hy = ka_json_iter_elem(&b, &y);
        if (!hx && !hy)
            break;
        ka_buf_printf(&c->path, "[%zu]", i);
        if (hx && hy)
            diff_value(c, x, y, depth + 1);
        else
            emit(c, hx ? KA_VIEW_REMOVE : KA_VIEW_ADD, hx ? x : none, hy ? y : none);
        c->path.n = base;
    }
}

static bool same(struct dctx *c, struct ka_raw o, struct ka_raw nw)
{
    if (o.n == nw.n && memcmp(o.p, nw.p, o.n) == 0)
        return true;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    ka_buf_reset(&c->tmp);
    bool eq = ka_jw_compact(&c->tmp, o.p, o.n) == 0 && ka_jw_compact(&b, nw.p, nw.n) == 0 &&
              b.n == c->tmp.n && memcmp(b.p, c->tmp.p, b.n) == 0;
    ka_buf_free(&b);
    return eq;
}

static void diff_value(struct dctx *c, struct ka_raw o, struct ka_raw nw, unsigned depth)
{
    enum ka_json_type to = ka_json_type_of(o.p, o.n), tn = ka_json_type_of(nw.p, nw.n);
    if (depth < KA_VIEW_MAX_DEPTH && to == KA_JSON_OBJECT && tn == KA_JSON_OBJECT)
        diff_object(c, o, nw, depth);
    else if (depth < KA_VIEW_MAX_DEPTH && to == KA_JSON_ARRAY && tn == KA_JSON_ARRAY)
        diff_array(c, o, nw, depth);
    else if (!same(c, o, nw))
        emit(c, KA_VIEW_CHANGE, o, nw);
}

int ka_view_diff(struct ka_raw old_v, struct ka_raw new_v, bool json, const char *indent,
                 struct ka_buf *out, size_t *n_changes)
{
    struct dctx c = {.out = out, .indent = indent ? indent : "", .json = json};
    ka_buf_init(&c.path, 64 * 1024);
    ka_buf_init(&c.tmp, 0);
    size_t start = out->n;
    if (old_v.p && new_v.p)
        diff_value(&c, old_v, new_v, 0);
    if (!c.err && !json && c.n > KA_VIEW_MAX_CHANGES)
        c.err = ka_buf_printf(out, "%s... %zu more\n", c.indent, c.n - KA_VIEW_MAX_CHANGES);
    ka_buf_free(&c.path);
    ka_buf_free(&c.tmp);
    if (c.err) {
        out->n = start;
        return c.err;
    }
    *n_changes = c.n;
    return 0;
}

/* ---- patches ---- */

static void merge_lines(struct dctx *c, struct ka_raw obj, unsigned depth)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    size_t base = c->path.n;
    ka_json_iter_init(&it, obj);
    while (!c->err && ka_json_iter_member(&it, &k, &v)) {
        if (k.n > 17 && memcmp(k.p, "$setElementOrder/", 17) == 0)
            continue; /* strategic merge ordering directive: no change of its own */
        path_key(&c->path, k);
        enum ka_json_type t = ka_json_type_of(v.p, v.n);
        if (t == KA_JSON_OBJECT && depth < KA_VIEW_MAX_DEPTH && v.n > 2) {
            merge_lines(c, v, depth + 1);
        } else if (c->n++ < KA_VIEW_MAX_CHANGES) {
            if (t == KA_JSON_NULL) {
                c->err = ka_buf_printf(c->out, "%sdelete %.*s\n", c->indent, (int)c->path.n,
                                       c->path.p);
            } else {
                c->err = ka_buf_printf(c->out, "%sset %.*s: ", c->indent, (int)c->path.n,
                                       c->path.p);
                if (!c->err)
                    c->err = text_value(c, v);
                if (!c->err)
                    c->err = ka_buf_putc(c->out, '\n');
            }
        }
        c->path.n = base;
    }
}

static void json_patch_lines(struct dctx *c, struct ka_raw arr)
{
    struct ka_json_iter it;
    struct ka_raw op;
    ka_json_iter_init(&it, arr);
    while (!c->err && ka_json_iter_elem(&it, &op)) {
        if (c->n++ >= KA_VIEW_MAX_CHANGES)
            continue;
        struct ka_raw o = ka_view_member(op, "op"), p = ka_view_member(op, "path");
        struct ka_raw v = ka_view_member(op, "value"), f = ka_view_member(op, "from");
        c->err = ka_buf_puts(c->out, c->indent);
        if (!c->err)
            c->err = ka_view_raw_text(o, c->out);
        if (!c->err)
            c->err = ka_buf_putc(c->out, ' ');
        if (!c->err)
            c->err = ka_view_raw_text(p, c->out);
        if (!c->err && f.p && (c->err = ka_buf_puts(c->out, " from ")) == 0)
            c->err = ka_view_raw_text(f, c->out);
        if (!c->err && v.p && (c->err = ka_buf_puts(c->out, ": ")) == 0)
            c->err = text_value(c, v);
        if (!c->err)
            c->err = ka_buf_putc(c->out, '\n');
    }
}

int ka_view_patch_text(struct ka_raw patch, const char *indent, struct ka_buf *out)
{
    struct dctx c = {.out = out, .indent = indent ? indent : ""};
    ka_buf_init(&c.path, 64 * 1024);
    ka_buf_init(&c.tmp, 0);
    size_t start = out->n;
    enum ka_json_type t = patch.p ? ka_json_type_of(patch.p, patch.n) : KA_JSON_NONE;
    if (t == KA_JSON_ARRAY)
        json_patch_lines(&c, patch);
    else if (t == KA_JSON_OBJECT)
        merge_lines(&c, patch, 0);
    if (!c.err && c.n > KA_VIEW_MAX_CHANGES)
        c.err = ka_buf_printf(out, "%s... %zu more\n", c.indent, c.n - KA_VIEW_MAX_CHANGES);
    ka_buf_free(&c.path);
    ka_buf_free(&c.tmp);
    if (c.err)
        out->n = start;
    return c.err;
}
