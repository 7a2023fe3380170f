/*
 * cond_compile.c - turns a rule's condition (plus its exceptions) into an evaluation tree:
 * macros inlined (each compiled once and shared), list names expanded into hash sets, fields
 * resolved through the catalogue into numbered slots, regexes compiled once (PCRE2, anchored at
 * both ends), case-insensitive operands lower-cased, numbers parsed, and `or` operands that
 * test one scalar field with one operator fused into a single `anyof` check.
 *
 * Exceptions are compiled as Falco does: `cond and not (alt or alt ...)` per exception, each
 * alternative being `f1 c1 v1 and f2 c2 v2 ...` for one values tuple; a single-field exception
 * is `field comp (v1, v2, ...)` with comp in|pmatch|intersects (default in).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

struct cc {
    struct ka_detect *d;
    struct ka_diag *diag;
    struct kd_rule *rule;
    const char *what, *name;    /* "rule"/"macro" and its name, for messages */
    const struct kd_text *text; /* the text being compiled, for positions */
    unsigned depth;
    bool skip;                  /* unknown field with skip-if-unknown-filter */
    int rc;
};

static void cc_err(struct cc *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cc_err(struct cc *c, size_t off, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct kd_pos p;
    kd_text_pos(c->text, off, &p);
    ka_diag_add(c->diag, KA_SEV_ERROR, "%s:%lu:%lu: %s '%s': %s", p.file, p.line, p.col,
                c->what, c->name, msg);
    if (c->rc == KA_OK)
        c->rc = KA_EINVAL;
}

static void *cc_alloc(struct cc *c, size_t n)
{
    void *p = ka__arena_alloc(&c->d->ar, n);
    if (!p)
        c->rc = KA_ENOMEM;
    return p;
}

/* ---- sets ---- */

uint64_t kd_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

bool kd_set_has(const struct kd_set *set, const char *s, size_t n)
{
    if (set->cap == 0)
        return false;
    uint64_t h = kd_hash(s, n);
    for (size_t i = h & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        const struct kd_sent *e = &set->e[i];
        if (!e->s)
            return false;
        if (e->h == h && e->n == n && !memcmp(e->s, s, n))
            return true;
    }
}

static struct kd_set *set_build(struct cc *c, const char **vs, const size_t *vn, size_t nv)
{
    struct kd_set *set = cc_alloc(c, sizeof(*set));
    if (!set)
        return NULL;
    size_t cap = 8;
    while (cap < nv * 2)
        cap *= 2;
    set->e = cc_alloc(c, cap * sizeof(*set->e));
    if (!set->e)
        return NULL;
    set->cap = cap;
    for (size_t k = 0; k < nv; k++) {
        if (kd_set_has(set, vs[k], vn[k]))
            continue;
        uint64_t h = kd_hash(vs[k], vn[k]);
        size_t i = h & (cap - 1);
        while (set->e[i].s)
            i = (i + 1) & (cap - 1);
        set->e[i] = (struct kd_sent){.s = vs[k], .n = vn[k], .h = h};
        set->count++;
    }
    return set;
}

/* ---- fields ---- */

int kd_field_get(struct ka_detect *d, const char *name, const char *arg,
                 const struct ka_dfield **out, char *msg, size_t msglen)
{
    struct ka_dfield f;
    memset(&f, 0, sizeof(f));
    int rc = ka_dfield_resolve(name, arg, &f, msg, msglen);
    if (rc != KA_OK)
        return rc;
    for (size_t i = 0; i < d->nfields; i++) {
        const struct ka_dfield *g = d->fields[i];
        if (g->id == f.id && g->has_arg == f.has_arg && !strcmp(g->arg, f.arg)) {
            *out = g;
            return KA_OK;
        }
    }
    struct ka_dfield *nf = ka__arena_alloc(&d->ar, sizeof(*nf));
    if (!nf || kd_grow(&d->ar, (void **)&d->fields, &d->capfields, d->nfields + 1,
                       sizeof(struct ka_dfield *)) != KA_OK)
        return KA_ENOMEM;
    *nf = f;
    nf->slot = (unsigned)d->nfields;
    d->fields[d->nfields++] = nf;
    *out = nf;
    return KA_OK;
}

/* ---- values ---- */

struct vec {
    const char **v;
    size_t *n;
    size_t count, cap;
};

static void vec_push(struct cc *c, struct vec *v, const char *s, size_t n)
{
    if (v->count >= KD_MAX_ITEMS * 4) {
        c->rc = KA_ETOOBIG;
        return;
    }
    if (v->count == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        const char **nv = cc_alloc(c, nc * sizeof(*nv));
        size_t *nn = cc_alloc(c, nc * sizeof(*nn));
        if (!nv || !nn)
            return;
        if (v->count) {
            memcpy(nv, v->v, v->count * sizeof(*nv));
            memcpy(nn, v->n, v->count * sizeof(*nn));
        }
        v->v = nv;
        v->n = nn;
        v->cap = nc;
    }
    v->v[v->count] = s;
    v->n[v->count++] = n;
}

/* Adds a list's items, expanding items that name other lists. */
static void expand_list(struct cc *c, struct kd_list *l, struct vec *out, unsigned depth)
{
    if (l->expanding || depth > KA_DETECT_MAX_DEPTH) {
        c->rc = c->rc ? c->rc : KA_EINVAL;
        return;
    }
    l->expanding = 1;
    for (size_t i = 0; i < l->n && c->rc == KA_OK; i++) {
        struct kd_list *sub = kd_find_list(c->d, l->items[i]);
        if (sub)
            expand_list(c, sub, out, depth + 1);
        else
            vec_push(c, out, l->items[i], strlen(l->items[i]));
    }
    l->expanding = 0;
}

static void rhs_values(struct cc *c, const struct kd_node *n, struct vec *out)
{
    for (size_t i = 0; i < n->nvals && c->rc == KA_OK; i++) {
        const struct kd_val *v = &n->vals[i];
        struct kd_list *l = v->quoted || !n->rhs_list ? NULL : kd_find_list(c->d, v->s);
        if (l) {
            expand_list(c, l, out, 0);
            if (c->rc == KA_EINVAL)
                cc_err(c, v->off, "list '%s' refers to itself", v->s);
        } else
            vec_push(c, out, v->s, v->n);
    }
}

static char *lower_dup(struct cc *c, const char *s, size_t n)
{
    char *p = cc_alloc(c, n + 1);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (char)tolower((unsigned char)s[i]);
    return p;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static pcre2_code *regex_compile(struct cc *c, const char *s, size_t n, size_t off)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)s, n, PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec,
                                   &eo, NULL);
    if (!re) {
        PCRE2_UCHAR m[160];
        pcre2_get_error_message(ec, m, sizeof(m));
        cc_err(c, off, "bad regex '%s': %s at offset %zu", s, (const char *)m, (size_t)eo);
        return NULL;
    }
    if (kd_grow(&c->d->ar, (void **)&c->d->regexes, &c->d->capregexes, c->d->nregexes + 1,
                sizeof(pcre2_code *)) != KA_OK) {
        pcre2_code_free(re);
        c->rc = KA_ENOMEM;
        return NULL;
    }
    c->d->regexes[c->d->nregexes++] = re;
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Prepares right-hand value k of cn for its operator. */
static void prep_value(struct cc *c, struct kd_cnode *cn, size_t k, size_t off)
{
    const char *s = cn->vs[k];
    size_t n = cn->vn[k];
    if (cn->op == KD_OP_ICONTAINS || cn->op == KD_OP_IGLOB)
        cn->vs[k] = lower_dup(c, s, n);
    else if (cn->op == KD_OP_REGEX)
        cn->re[k] = regex_compile(c, s, n, off);
    else if (cn->op == KD_OP_BCONTAINS || cn->op == KD_OP_BSTARTSWITH) {
        char *b = cc_alloc(c, n / 2 + 1);
        for (size_t i = 0; b && i + 1 < n + 1; i += 2) {
            int hi = i + 1 < n ? hexval(s[i]) : -1, lo = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (hi < 0 || lo < 0) {
                cc_err(c, off, "'%s' needs a hex string, got '%s'", kd_op_name(cn->op), s);
                return;
            }
            b[i / 2] = (char)(hi * 16 + lo);
        }
        cn->vs[k] = b;
        cn->vn[k] = n / 2;
    } else if (cn->num) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 0);
        if (errno || end == s || *end)
            cc_err(c, off, "'%s' is not a number", s);
        cn->vnum[k] = v;
    }
}

static bool is_list_op(enum kd_op op)
{
    return op == KD_OP_IN || op == KD_OP_INTERSECTS || op == KD_OP_PMATCH;
}

static struct kd_cnode *compile_node(struct cc *c, const struct kd_node *n);

static struct kd_cnode *compile_check(struct cc *c, const struct kd_node *n)
{
    char msg[256] = "";
    const struct ka_dfield *f;
    int rc = kd_field_get(c->d, n->name, n->arg, &f, msg, sizeof(msg));
    if (rc == KA_ENOMEM) {
        c->rc = rc;
        return NULL;
    }
    if (rc != KA_OK) {
        if (rc == KA_ENOENT && c->rule && c->rule->skip_unknown) {
            c->skip = true;
            return NULL;
        }
        cc_err(c, n->off, "%s", msg[0] ? msg : "unknown field");
        return NULL;
    }
    /* pmatch on a list field (any element under a path) is a kaudit extension */
    if (f->is_list && f->index < 0 && n->op != KD_OP_EXISTS && n->op != KD_OP_IN &&
        n->op != KD_OP_INTERSECTS && n->op != KD_OP_PMATCH) {
        cc_err(c, n->off, "operator '%s' cannot be used on list field '%s' (only exists, in, "
                          "intersects, pmatch)", kd_op_name(n->op), n->name);
        return NULL;
    }
    struct kd_cnode *cn = cc_alloc(c, sizeof(*cn));
    if (!cn)
        return NULL;
    cn->kind = KD_CHECK;
    cn->op = n->op;
    cn->mod = n->mod;
    cn->f = f;
    cn->num = f->numeric && n->op <= KD_OP_GE;
    if (n->op == KD_OP_EXISTS)
        return cn;
    struct vec v = {0};
    rhs_values(c, n, &v);
    if (c->rc != KA_OK)
        return NULL;
    cn->vs = v.v;
    cn->vn = v.n;
    cn->nv = v.count;
    if (n->op == KD_OP_IN || n->op == KD_OP_INTERSECTS) {
        cn->set = set_build(c, v.v, v.n, v.count);
        return c->rc == KA_OK ? cn : NULL;
    }
    if (!is_list_op(n->op) && n->mod == KD_MOD_NONE && cn->nv != 1) {
        cc_err(c, n->off, "operator '%s' takes one value", kd_op_name(n->op));
        return NULL;
    }
    cn->re = cc_alloc(c, (cn->nv + 1) * sizeof(pcre2_code *));
    cn->vnum = cc_alloc(c, (cn->nv + 1) * sizeof(*cn->vnum));
    for (size_t k = 0; k < cn->nv && c->rc == KA_OK; k++)
        prep_value(c, cn, k, n->nvals ? n->vals[k < n->nvals ? k : 0].off : n->off);
    return c->rc == KA_OK ? cn : NULL;
}

/* Compiles macro m (once) in its own text. */
static struct kd_cnode *compile_macro(struct cc *c, const struct kd_node *n)
{
    struct kd_macro *m = kd_find_macro(c->d, n->name);
    if (!m) {
        cc_err(c, n->off, "undefined macro '%s'", n->name);
        return NULL;
    }
    if (m->state == 2)
        return m->compiled;
    if (m->state == 1) {
        cc_err(c, n->off, "macro '%s' refers to itself", n->name);
        return NULL;
    }
    if (m->state == 3) {
        c->rc = c->rc ? c->rc : KA_EINVAL;
        return NULL;
    }
    struct cc mc = *c;
    mc.what = "macro";
    mc.name = m->name;
    mc.text = &m->cond;
    mc.rc = KA_OK;
    m->state = 1;
    struct kd_node *ast;
    size_t eo = 0;
    char msg[256];
    int rc = kd_parse(&c->d->ar, m->cond.s, m->cond.n, &ast, &eo, msg, sizeof(msg));
    struct kd_cnode *r = NULL;
    if (rc == KA_OK)
        r = compile_node(&mc, ast);
    else if (rc == KA_ENOMEM)
        mc.rc = rc;
    else
        cc_err(&mc, eo, "%s", msg);
    c->skip = mc.skip;
    if (mc.skip && !r) {
        m->state = 0;
        return NULL;
    }
    m->state = r ? 2 : 3;
    m->compiled = r;
    if (r)
        c->d->macros_compiled++;
    if (!r && c->rc == KA_OK)
        c->rc = mc.rc ? mc.rc : KA_EINVAL;
    return r;
}

/* A check that can join others on the same field in one `anyof` check. */
static bool fusable(const struct kd_cnode *k)
{
    return k && k->kind == KD_CHECK && k->mod == KD_MOD_NONE && !k->num && k->nv == 1 &&
           !(k->f->is_list && k->f->index < 0) &&
           (k->op == KD_OP_EQ || k->op == KD_OP_CONTAINS || k->op == KD_OP_ICONTAINS ||
            k->op == KD_OP_STARTSWITH || k->op == KD_OP_ENDSWITH);
}

/* The operands of or-node cn at and after i that fuse with kid i; 1 = none but itself. */
static size_t fuse_count(const struct kd_cnode *cn, size_t i)
{
    size_t m = 1;
    for (size_t j = i + 1; j < cn->nkids; j++)
        m += fusable(cn->kids[j]) && cn->kids[j]->f == cn->kids[i]->f &&
             cn->kids[j]->op == cn->kids[i]->op;
    return m;
}

/*
 * `f op a or ... or f op b` -> `f op anyof (a, ..., b)` for scalar fields: one extraction and
 * one dispatch instead of one per value, same result (each operand compares the field's first
 * value; with no value all are false, as anyof is). The fused check takes the place of the
 * first operand; `or` does not depend on the order of side-effect-free operands.
 */
static void fuse_or(struct cc *c, struct kd_cnode *cn)
{
    for (size_t i = 0; i < cn->nkids && c->rc == KA_OK; i++) {
        struct kd_cnode *a = cn->kids[i];
        size_t m = fusable(a) ? fuse_count(cn, i) : 1;
        if (m < 2)
            continue;
        struct kd_cnode *f = cc_alloc(c, sizeof(*f));
        const char **vs = cc_alloc(c, m * sizeof(*vs));
        size_t *vn = cc_alloc(c, m * sizeof(*vn)), keep = i + 1;
        pcre2_code **re = cc_alloc(c, (m + 1) * sizeof(pcre2_code *));
        int64_t *vnum = cc_alloc(c, (m + 1) * sizeof(*vnum));
        if (!f || !vs || !vn || !re || !vnum)
            return;
        *f = *a;
        f->mod = KD_MOD_ANYOF;
        f->vs = vs;
        f->vn = vn;
        f->re = re;
        f->vnum = vnum;
        f->nv = 0;
        for (size_t j = i; j < cn->nkids; j++) {
            struct kd_cnode *k = cn->kids[j];
            if (j == i || (fusable(k) && k->f == a->f && k->op == a->op)) {
                vs[f->nv] = k->vs[0];
                vn[f->nv++] = k->vn[0];
            } else
                cn->kids[keep++] = k;
        }
        cn->kids[i] = f;
        cn->nkids = keep;
    }
}

static struct kd_cnode *compile_node(struct cc *c, const struct kd_node *n)
{
    if (c->depth > KA_DETECT_MAX_DEPTH * 4) {
        cc_err(c, n->off, "condition nested too deeply (macros included)");
        return NULL;
    }
    if (n->kind == KD_CHECK)
        return compile_check(c, n);
    if (n->kind == KD_MACRO) {
        c->depth++;
        struct kd_cnode *r = compile_macro(c, n);
        c->depth--;
        return r;
    }
    struct kd_cnode *cn = cc_alloc(c, sizeof(*cn));
    if (!cn || !(cn->kids = cc_alloc(c, (n->nkids + 1) * sizeof(struct kd_cnode *))))
        return NULL;
    cn->kind = n->kind;
    cn->nkids = n->nkids;
    bool ok = true;
    c->depth++;
    for (size_t i = 0; i < n->nkids; i++) {
        cn->kids[i] = compile_node(c, n->kids[i]);
        ok = ok && cn->kids[i];
    }
    c->depth--;
    if (ok && cn->kind == KD_OR)
        fuse_or(c, cn);
    return ok ? cn : NULL;
}

/* ---- exceptions ---- */

static int put(struct ka_buf *b, const char *s)
{
    return ka_buf_puts(b, s);
}

/* A value as a condition token: bare when safe, else double-quoted with escapes. */
static int put_item(struct ka_buf *b, const char *s)
{
    bool bare = *s != '\0';
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || strchr("(),\"'=", *p))
            bare = false;
    if (bare)
        return put(b, s);
    int rc = ka_buf_putc(b, '"');
    for (const char *p = s; *p && rc == KA_OK; p++) {
        if (*p == '"' || *p == '\\')
            rc = ka_buf_putc(b, '\\');
        if (rc == KA_OK)
            rc = ka_buf_putc(b, *p);
    }
    return rc == KA_OK ? ka_buf_putc(b, '"') : rc;
}

static int put_list(struct ka_buf *b, char **items, size_t n)
{
    int rc = ka_buf_putc(b, '(');
    for (size_t i = 0; i < n && rc == KA_OK; i++) {
        if (i)
            rc = put(b, ", ");
        if (rc == KA_OK)
            rc = put_item(b, items[i]);
    }
    return rc == KA_OK ? ka_buf_putc(b, ')') : rc;
}

static bool list_comp(const char *c)
{
    return !strcmp(c, "in") || !strcmp(c, "pmatch") || !strcmp(c, "intersects");
}

/* One tuple: "f1 c1 v1 and f2 c2 v2". */
static int exc_tuple(const struct kd_exc *x, const struct kd_xtuple *t, struct ka_buf *b)
{
    int rc = KA_OK;
    for (size_t k = 0; k < t->n && rc == KA_OK; k++) {
        const char *comp = x->has_comps ? x->comps[k] : "=";
        rc = ka_buf_printf(b, "%s%s %s ", k ? " and " : "", x->fields[k], comp);
        const struct kd_xval *v = &t->v[k];
        if (rc != KA_OK)
            break;
        if (v->is_list)
            rc = put_list(b, v->items, v->n);
        else if (list_comp(comp) && v->s[0] != '(')
            rc = ka_buf_printf(b, "(%s)", v->s);
        else if (list_comp(comp))
            rc = put(b, v->s);
        else
            rc = put_item(b, v->s);
    }
    return rc;
}

/* Writes the text of exception x into b ("" when it has no values). */
static int exc_text(struct cc *c, const struct kd_exc *x, struct ka_buf *b)
{
    if (x->nvalues == 0)
        return KA_OK;
    if (!x->fields_is_list) {
        const char *comp = x->has_comps ? x->comps[0] : "in";
        if (!list_comp(comp)) {
            c->rc = KA_EINVAL;
            return KA_EINVAL;
        }
        int rc = ka_buf_printf(b, "%s %s (", x->fields[0], comp);
        for (size_t i = 0; i < x->nvalues && rc == KA_OK; i++) {
            if (i)
                rc = put(b, ", ");
            if (rc == KA_OK)
                rc = put_item(b, x->values[i].v[0].s);
        }
        return rc == KA_OK ? ka_buf_putc(b, ')') : rc;
    }
    int rc = KA_OK;
    for (size_t i = 0; i < x->nvalues && rc == KA_OK; i++) {
        rc = put(b, i ? " or (" : "(");
        if (rc == KA_OK)
            rc = exc_tuple(x, &x->values[i], b);
        if (rc == KA_OK)
            rc = ka_buf_putc(b, ')');
    }
    return rc;
}

/* Adds "and not (<exception>)" for each exception of r to root. */
static struct kd_cnode *add_exceptions(struct cc *c, struct kd_cnode *root)
{
    struct kd_rule *r = c->rule;
    for (size_t i = 0; i < r->nexc && root; i++) {
        struct kd_exc *x = &r->exc[i];
        struct ka_buf b;
        ka_buf_init(&b, KA_DETECT_MAX_COND);
        int rc = exc_text(c, x, &b);
        struct kd_pos p = x->pos;
        if (rc != KA_OK || b.n == 0) {
            if (rc != KA_OK)
                ka_diag_add(c->diag, KA_SEV_ERROR, "%s:%lu:%lu: rule '%s': exception '%s': %s",
                            p.file, p.line, p.col, r->name, x->name,
                            rc == KA_EINVAL ? "with a single field, comps must be in, pmatch "
                                              "or intersects"
                                            : "exception too large");
            if (rc != KA_OK)
                root = NULL;
            ka_buf_free(&b);
            continue;
        }
        struct kd_seg seg = {.file = p.file, .line = p.line, .col = p.col};
        struct kd_text t = {.s = (char *)ka_buf_cstr(&b), .n = b.n, .segs = &seg, .nsegs = 1};
        struct kd_node *ast;
        size_t eo;
        char msg[256];
        struct cc xc = *c;
        xc.text = &t;
        xc.rc = KA_OK;
        struct kd_cnode *xn = NULL;
        if (!t.s)
            c->rc = KA_ENOMEM;
        else if (kd_parse(&c->d->ar, t.s, t.n, &ast, &eo, msg, sizeof(msg)) != KA_OK)
            cc_err(&xc, eo, "exception '%s': %s", x->name, msg);
        else
            xn = compile_node(&xc, ast);
        c->skip = c->skip || xc.skip;
        if (xc.rc != KA_OK && c->rc == KA_OK)
            c->rc = xc.rc;
        struct kd_cnode *nn = cc_alloc(c, sizeof(*nn)), *an = cc_alloc(c, sizeof(*an));
        struct kd_cnode **nk = cc_alloc(c, sizeof(struct kd_cnode *));
        struct kd_cnode **ak = cc_alloc(c, 2 * sizeof(struct kd_cnode *));
        ka_buf_free(&b);
        if (!xn || !nn || !an || !nk || !ak)
            return NULL;
        *nn = (struct kd_cnode){.kind = KD_NOT, .nkids = 1, .kids = nk};
        nk[0] = xn;
        ak[0] = root;
        ak[1] = nn;
        *an = (struct kd_cnode){.kind = KD_AND, .nkids = 2, .kids = ak};
        root = an;
    }
    return root;
}

int kd_compile_rule(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag)
{
    struct cc c = {.d = d, .diag = diag, .rule = r, .what = "rule", .name = r->name,
                   .text = &r->cond};
    struct kd_node *ast;
    size_t eo = 0;
    char msg[256];
    int rc = kd_parse(&d->ar, r->cond.s ? r->cond.s : "", r->cond.n, &ast, &eo, msg,
                      sizeof(msg));
    if (rc == KA_ENOMEM)
        return rc;
    if (rc != KA_OK) {
        cc_err(&c, eo, "%s", msg);
        return c.rc;
    }
    struct kd_cnode *root = compile_node(&c, ast);
    if (root && r->nexc)
        root = add_exceptions(&c, root);
    if (c.skip && c.rc == KA_OK) {
        ka_diag_add(diag, KA_SEV_WARNING, "%s:%lu:%lu: rule '%s': skipped: it uses an unknown "
                    "field (skip-if-unknown-filter)", r->pos.file, r->pos.line, r->pos.col,
                    r->name);
        r->root = NULL;
        return KA_OK;
    }
    if (c.rc != KA_OK || !root)
        return c.rc != KA_OK ? c.rc : KA_EINVAL;
    r->root = root;
    return KA_OK;
}
