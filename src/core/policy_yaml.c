/*
 * policy_yaml.c - turns a policy file's YAML (or JSON) into a small tree of nodes that carry
 * their line and column, for the policy loader; and the arena both the loader and the compiled
 * policy allocate from.
 *
 * libfyaml's event parser does the YAML; its diagnostics are collected (never printed) and
 * re-reported as "name:line:col: message". Duplicate keys are kept (the loader reports them
 * itself, as warnings or strict errors), anchors and aliases are resolved by reference, and
 * nesting is bounded by KAP_MAX_DEPTH.
 */
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "kaudit/err.h"
#include "policy_int.h"

/* ---- arena ---- */

struct kap_chunk {
    struct kap_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define KAP_CHUNK_MIN (32u << 10)

void *ka__arena_alloc(struct kap_arena *a, size_t n)
{
    struct kap_chunk *c = a->head;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0)
        n = sizeof(max_align_t);
    if (!c || c->cap - c->used < n) {
        size_t cap = n > KAP_CHUNK_MIN ? n : KAP_CHUNK_MIN;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *ka__arena_strdup(struct kap_arena *a, const char *s, size_t n)
{
    char *p = ka__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void ka__arena_free(struct kap_arena *a)
{
    struct kap_chunk *c = a->head;
    while (c) {
        struct kap_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- tree builder ---- */

struct kap_anchor {
    const char *name;
    size_t n;
    struct kap_pn *node;
    struct kap_anchor *next;
};

struct tb {
    const char *name;
    struct kap_arena *ar;
    struct ka_diag *diag;
    struct kap_pn *stack[KAP_MAX_DEPTH];
    const char *stack_anchor[KAP_MAX_DEPTH]; /* copied: the token dies with its event */
    size_t stack_anchor_n[KAP_MAX_DEPTH];
    size_t depth;
    struct kap_pn *root;
    struct kap_anchor *anchors;
    int line, col;
    int docs;
    bool done, oom, failed;
};

static void tb_mark(struct tb *t, struct fy_event *e)
{
    const struct fy_mark *m = fy_event_start_mark(e);
    if (m && m->line >= 0) {
        t->line = m->line + 1;
        t->col = m->column + 1;
    }
}

static struct kap_pn *tb_node(struct tb *t, uint8_t type)
{
    struct kap_pn *n = ka__arena_alloc(t->ar, sizeof(*n));
    if (!n) {
        t->oom = true;
        return NULL;
    }
    n->type = type;
    n->line = t->line;
    n->col = t->col;
    return n;
}

static void tb_attach(struct tb *t, struct kap_pn *n)
{
    if (t->depth == 0) {
        if (!t->root)
            t->root = n;
        return;
    }
    struct kap_pn *p = t->stack[t->depth - 1];
    if (p->last)
        p->last->next = n;
    else
        p->first = n;
    p->last = n;
    p->count++;
}

static void tb_anchor_name(struct tb *t, const char *name, size_t len, struct kap_pn *n)
{
    struct kap_anchor *a = ka__arena_alloc(t->ar, sizeof(*a));
    if (!a) {
        t->oom = true;
        return;
    }
    a->name = name;
    a->n = len;
    a->node = n;
    a->next = t->anchors;
    t->anchors = a;
}

/* Copies an anchor token's text into the arena; NULL when there is none. */
static const char *tb_anchor_text(struct tb *t, struct fy_token *tok, size_t *len)
{
    *len = 0;
    const char *s = tok ? fy_token_get_text(tok, len) : NULL;
    if (!s)
        return NULL;
    char *c = ka__arena_strdup(t->ar, s, *len);
    if (!c)
        t->oom = true;
    return c;
}

static void tb_anchor(struct tb *t, struct fy_token *tok, struct kap_pn *n)
{
    size_t len;
    const char *name = tb_anchor_text(t, tok, &len);
    if (name)
        tb_anchor_name(t, name, len, n);
}

static bool is_null_text(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static void tb_scalar(struct tb *t, struct fy_event *e)
{
    size_t len = 0;
    const char *s = fy_token_get_text(e->scalar.value, &len);
    if (!s)
        len = 0;
    bool plain = fy_token_scalar_style(e->scalar.value) == FYSS_PLAIN;
    struct kap_pn *n = tb_node(t, plain && is_null_text(s, len) ? KAP_PN_NULL : KAP_PN_SCALAR);
    if (!n)
        return;
    n->quoted = !plain;
    enum fy_scalar_style st = fy_token_scalar_style(e->scalar.value);
    if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && n->col > 1)
        n->col--; /* the mark is on the first character inside the quotes */
    n->s = ka__arena_strdup(t->ar, s ? s : "", len);
    n->n = (uint32_t)len;
    if (!n->s || len > UINT32_MAX) {
        t->oom = true;
        return;
    }
    tb_attach(t, n);
    tb_anchor(t, e->scalar.anchor, n);
}

static void tb_alias(struct tb *t, struct fy_event *e)
{
    size_t len = 0;
    const char *s = fy_token_get_text(e->alias.anchor, &len);
    struct kap_anchor *a = t->anchors;
    while (a && s && !(a->n == len && !memcmp(a->name, s, len)))
        a = a->next;
    if (!a) {
        ka_diag_add(t->diag, KA_SEV_ERROR, "%s:%d:%d: unknown alias \"%.*s\"", t->name, t->line,
                    t->col, (int)(s ? len : 0), s ? s : "");
        t->failed = true;
        return;
    }
    struct kap_pn *n = tb_node(t, KAP_PN_ALIAS);
    if (!n)
        return;
    n->target = a->node;
    tb_attach(t, n);
}

static void tb_open(struct tb *t, uint8_t type, struct fy_token *anchor)
{
    if (t->depth >= KAP_MAX_DEPTH) {
        ka_diag_add(t->diag, KA_SEV_ERROR, "%s:%d:%d: nesting deeper than %u levels", t->name,
                    t->line, t->col, KAP_MAX_DEPTH);
        t->failed = true;
        return;
    }
    struct kap_pn *n = tb_node(t, type);
    if (!n)
        return;
    tb_attach(t, n);
    t->stack_anchor[t->depth] = tb_anchor_text(t, anchor, &t->stack_anchor_n[t->depth]);
    t->stack[t->depth++] = n;
}

static void tb_close(struct tb *t)
{
    if (t->depth == 0)
        return;
    t->depth--;
    if (t->stack_anchor[t->depth])
        tb_anchor_name(t, t->stack_anchor[t->depth], t->stack_anchor_n[t->depth],
                       t->stack[t->depth]);
}

/* One parser event. Only the first document is built. */
static void tb_event(struct tb *t, struct fy_event *e)
{
    tb_mark(t, e);
    if (e->type == FYET_DOCUMENT_START) {
        if (++t->docs == 2)
            ka_diag_add(t->diag, KA_SEV_WARNING,
                        "%s:%d:%d: only the first YAML document of the file is used", t->name,
                        t->line, t->col);
        return;
    }
    if (e->type == FYET_DOCUMENT_END) {
        t->done = true;
        return;
    }
    if (t->done)
        return;
    switch (e->type) {
    case FYET_SCALAR: tb_scalar(t, e); break;
    case FYET_ALIAS: tb_alias(t, e); break;
    case FYET_SEQUENCE_START: tb_open(t, KAP_PN_SEQ, e->sequence_start.anchor); break;
    case FYET_MAPPING_START: tb_open(t, KAP_PN_MAP, e->mapping_start.anchor); break;
    case FYET_SEQUENCE_END:
    case FYET_MAPPING_END: tb_close(t); break;
    default: break;
    }
}

static void diag_sink(struct fy_diag *d, void *user, const char *buf, size_t len)
{
    (void)d;
    (void)user;
    (void)buf;
    (void)len;
}

struct fy_diag *ka__yaml_diag_new(void)
{
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = diag_sink;
    dc.colorize = false;
    struct fy_diag *fd = fy_diag_create(&dc);
    if (fd)
        fy_diag_set_collect_errors(fd, true);
    return fd;
}

/* libfyaml's error positions are 1-based already. */
size_t ka__yaml_report_errors(struct fy_diag *fd, const char *name, struct ka_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *de;
    size_t n = 0;
    while ((de = fy_diag_errors_iterate(fd, &it)) != NULL) {
        if (de->type < FYET_ERROR)
            continue;
        ka_diag_add(diag, KA_SEV_ERROR, "%s:%d:%d: %s", name, de->line, de->column,
                    de->msg ? de->msg : "YAML syntax error");
        n++;
    }
    return n;
}

/* Re-reports libfyaml's collected errors under our file name. */
static void report_fy_errors(struct tb *t, struct fy_diag *fd)
{
    if (ka__yaml_report_errors(fd, t->name, t->diag) == 0)
        ka_diag_add(t->diag, KA_SEV_ERROR, "%s:%d:%d: YAML syntax error", t->name, t->line,
                    t->col);
}

static bool looks_like_json(const char *buf, size_t n)
{
    size_t i = 0;
    if (n >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return i < n && buf[i] == '{';
}

/* YAML and JSON are UTF-8 here (the apiserver's YAML reader refuses anything else), and
   libfyaml 0.7 loops forever on some invalid bytes (e.g. "%\x8b"). */
int ka__yaml_check_utf8(const char *name, const char *buf, size_t n, struct ka_diag *diag)
{
    size_t bad = ka__utf8_bad((const unsigned char *)buf, n);
    if (bad >= n)
        return KA_OK;
    unsigned long l, c;
    ka_linecol(buf, bad, &l, &c);
    ka_diag_add(diag, KA_SEV_ERROR, "%s:%lu:%lu: invalid UTF-8", name, l, c);
    return KA_ESYNTAX;
}

size_t ka__utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2
                                          : c >= 0xe0 && c <= 0xef ? 3
                                          : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0 || n - i < len)
            return i;
        unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        for (unsigned k = 1; k < len; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xbf))
                return i;
        i += len;
    }
    return n;
}

int ka__yaml_tree(const char *name, const char *buf, size_t n, unsigned flags,
                  struct kap_arena *ar, struct ka_diag *diag, struct kap_pn **root)
{
    (void)flags;
    int urc = ka__yaml_check_utf8(name, buf, n, diag);
    if (urc)
        return urc;
    struct tb t = {.name = name, .ar = ar, .diag = diag, .line = 1, .col = 1};
    struct fy_diag *fd = ka__yaml_diag_new();
    if (!fd)
        return KA_ENOMEM;
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_ALLOW_DUPLICATE_KEYS |
                 (looks_like_json(buf, n) ? FYPCF_JSON_FORCE : FYPCF_JSON_NONE),
        .diag = fd,
    };
    int rc = KA_OK;
    struct fy_parser *p = fy_parser_create(&cfg);
    if (!p || fy_parser_set_string(p, buf, n) != 0) {
        rc = KA_ENOMEM;
        goto out;
    }
    struct fy_event *e;
    while (!t.oom && !t.failed && (e = fy_parser_parse(p)) != NULL) {
        tb_event(&t, e);
        fy_parser_event_free(p, e);
    }
    if (t.oom)
        rc = KA_ENOMEM;
    else if (t.failed)
        rc = KA_ESYNTAX;
    else if (fy_parser_get_stream_error(p)) {
        report_fy_errors(&t, fd);
        rc = KA_ESYNTAX;
    } else
        *root = t.root;
out:
    fy_parser_destroy(p);
    fy_diag_destroy(fd);
    return rc;
}
