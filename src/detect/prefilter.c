/*
 * prefilter.c - the rule index: which active rules can possibly match an event, decided from
 * the values of a few scalar fields (typically ka.target.resource, ka.verb, ka.stage) before
 * any condition is evaluated.
 *
 * At compile time every active rule's condition is reduced, for each candidate field F, to a
 * sound over-approximation: either "anything" or a finite set S such that the condition can
 * only be true when F has a value and its (first) value is in S:
 *   F = v            -> {v}            F = anyof (v...), F in (v...),
 *                                      F intersects (v...) -> {v...}
 *   a and b          -> S(a) n S(b)    (a side that says "anything" is ignored)
 *   a or b           -> S(a) u S(b)    ("anything" if either side says so)
 *   not a, others    -> anything       false -> {}
 * (a missing field makes =, in and intersects false, so "F has a value" holds too.) The fields
 * that constrain the most rules are indexed (at most KD_PF_MAX_FIELDS): for each value seen in
 * some S, a bit mask of the rules that allow it; for any other value (or a missing field), the
 * mask of the rules that allow anything. An event's candidates are the AND of its masks; the
 * other rules would evaluate to false, so skipping them changes no result, in either rule
 * matching mode, and stateful rules are fed exactly as before (only when their condition
 * holds). Conditions have no side effects, so the order of evaluation within the candidates
 * stays the load order.
 */
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

#define KD_PF_MAX_FIELDS 4u    /* fields indexed */
#define KD_PF_MAX_CANDS 64u    /* candidate fields examined */
#define KD_PF_MAX_SET 4096u    /* a larger value set counts as "anything" */
#define KD_PF_BUDGET 65536u    /* nodes visited per rule and field (macros are shared, so a
                                  tree can be much larger than the text): beyond, "anything" */

/* One value of an indexed field and the rules that allow it. */
struct kd_pf_ent {
    const char *s;
    size_t n;
    uint64_t h;
    const uint64_t *mask;
};

struct kd_pf_field {
    const struct ka_dfield *f;
    struct kd_pf_ent *e;      /* open addressing, cap a power of two */
    size_t cap;
    const uint64_t *dflt;     /* rules that allow any value (or none) */
};

struct kd_pf {
    struct kd_pf_field fl[KD_PF_MAX_FIELDS];
    size_t nfl;
    size_t words;
};

/* A constraint: top ("anything"), or a value set. */
struct pf_con {
    bool top;
    const char **v;
    const size_t *n;
    size_t count;
};

struct pf_b {
    struct kap_arena tmp;       /* analysis scratch, freed at the end */
    size_t budget;             /* nodes con_of may still visit for the current rule */
    bool oom;
};

static const struct pf_con k_top = {.top = true};

/* F = v, F = anyof (v...) (fused `or` of equalities), F in (v...), F intersects (v...). */
static bool eligible(const struct kd_cnode *n)
{
    if (n->kind != KD_CHECK || n->f->is_list || n->num)
        return false;
    if (n->op == KD_OP_EQ)
        return (n->mod == KD_MOD_NONE && n->nv == 1) || n->mod == KD_MOD_ANYOF;
    return n->mod == KD_MOD_NONE && (n->op == KD_OP_IN || n->op == KD_OP_INTERSECTS);
}

static bool con_has(const struct pf_con *a, const char *s, size_t n)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->n[i] == n && !memcmp(a->v[i], s, n))
            return true;
    return false;
}

static struct pf_con con_alloc(struct pf_b *b, size_t cap)
{
    struct pf_con r = {.top = false};
    const char **v = ka__arena_alloc(&b->tmp, (cap + 1) * sizeof(*v));
    size_t *n = ka__arena_alloc(&b->tmp, (cap + 1) * sizeof(*n));
    if (!v || !n) {
        b->oom = true;
        return k_top;
    }
    r.v = v;
    r.n = n;
    return r;
}

static void con_push(struct pf_con *r, const char *s, size_t n)
{
    ((const char **)r->v)[r->count] = s;
    ((size_t *)r->n)[r->count++] = n;
}

static struct pf_con con_and(struct pf_b *b, const struct pf_con *x, const struct pf_con *y)
{
    if (x->top)
        return *y;
    if (y->top)
        return *x;
    struct pf_con r = con_alloc(b, x->count);
    for (size_t i = 0; !r.top && i < x->count; i++)
        if (con_has(y, x->v[i], x->n[i]))
            con_push(&r, x->v[i], x->n[i]);
    return r;
}

static struct pf_con con_or(struct pf_b *b, const struct pf_con *x, const struct pf_con *y)
{
    if (x->top || y->top || x->count + y->count > KD_PF_MAX_SET)
        return k_top;
    struct pf_con r = con_alloc(b, x->count + y->count);
    for (size_t i = 0; !r.top && i < x->count; i++)
        con_push(&r, x->v[i], x->n[i]);
    for (size_t i = 0; !r.top && i < y->count; i++)
        if (!con_has(x, y->v[i], y->n[i]))
            con_push(&r, y->v[i], y->n[i]);
    return r;
}

/* The constraint condition n puts on field f. depth bounds the recursion. */
static struct pf_con con_of(struct pf_b *b, const struct kd_cnode *n, const struct ka_dfield *f,
                            unsigned depth)
{
    if (b->oom || depth > KA_DETECT_MAX_DEPTH * 8 || b->budget == 0)
        return k_top;
    b->budget--;
    switch (n->kind) {
    case KD_CHECK:
        if (n->f != f || !eligible(n) || n->nv > KD_PF_MAX_SET)
            return k_top;
        return (struct pf_con){.top = false, .v = n->vs, .n = n->vn, .count = n->nv};
    case KD_FALSE: return (struct pf_con){.top = false};
    case KD_AND: {
        struct pf_con r = k_top;
        for (size_t i = 0; i < n->nkids && !b->oom; i++) {
            struct pf_con k = con_of(b, n->kids[i], f, depth + 1);
            r = con_and(b, &r, &k);
        }
        return b->oom ? k_top : r; /* a side cut by the budget only widens the result */
    }
    case KD_OR: {
        struct pf_con r = {.top = false};
        for (size_t i = 0; i < n->nkids && !r.top; i++) {
            struct pf_con k = con_of(b, n->kids[i], f, depth + 1);
            r = con_or(b, &r, &k);
        }
        return b->oom || b->budget == 0 ? k_top : r;
    }
    default: return k_top;
    }
}

/* Adds every eligible field of tree n to cands (distinct, at most KD_PF_MAX_CANDS), visiting
   at most *budget nodes. */
static void collect(const struct kd_cnode *n, const struct ka_dfield **cands, size_t *nc,
                    unsigned depth, size_t *budget)
{
    if (depth > KA_DETECT_MAX_DEPTH * 8 || *budget == 0)
        return;
    (*budget)--;
    if (n->kind == KD_CHECK) {
        if (!eligible(n))
            return;
        for (size_t i = 0; i < *nc; i++)
            if (cands[i] == n->f)
                return;
        if (*nc < KD_PF_MAX_CANDS)
            cands[(*nc)++] = n->f;
        return;
    }
    for (size_t i = 0; i < n->nkids; i++)
        collect(n->kids[i], cands, nc, depth + 1, budget);
}

static size_t ent_slot(const struct kd_pf_field *fl, const char *s, size_t n, uint64_t h)
{
    size_t i = h & (fl->cap - 1);
    while (fl->e[i].s && !(fl->e[i].h == h && fl->e[i].n == n && !memcmp(fl->e[i].s, s, n)))
        i = (i + 1) & (fl->cap - 1);
    return i;
}

/* Builds the table of field f from the constraints cons[0 .. nactive-1]. */
static int build_field(struct ka_detect *d, struct kd_pf *pf, const struct ka_dfield *f,
                       const struct pf_con *cons)
{
    struct kd_pf_field *fl = &pf->fl[pf->nfl];
    size_t nvals = 0;
    for (size_t r = 0; r < d->nactive; r++)
        nvals += cons[r].top ? 0 : cons[r].count;
    fl->cap = 8;
    while (fl->cap < nvals * 2)
        fl->cap *= 2;
    fl->e = ka__arena_alloc(&d->ar, fl->cap * sizeof(*fl->e));
    uint64_t *dflt = ka__arena_alloc(&d->ar, pf->words * sizeof(uint64_t));
    if (!fl->e || !dflt)
        return KA_ENOMEM;
    for (size_t r = 0; r < d->nactive; r++)
        if (cons[r].top)
            dflt[r / 64] |= (uint64_t)1 << (r % 64);
    for (size_t r = 0; r < d->nactive; r++) {
        for (size_t k = 0; !cons[r].top && k < cons[r].count; k++) {
            uint64_t h = kd_hash(cons[r].v[k], cons[r].n[k]);
            struct kd_pf_ent *e = &fl->e[ent_slot(fl, cons[r].v[k], cons[r].n[k], h)];
            if (!e->s) {
                uint64_t *m = ka__arena_alloc(&d->ar, pf->words * sizeof(uint64_t));
                if (!m)
                    return KA_ENOMEM;
                memcpy(m, dflt, pf->words * sizeof(uint64_t));
                *e = (struct kd_pf_ent){.s = cons[r].v[k], .n = cons[r].n[k], .h = h, .mask = m};
            }
            ((uint64_t *)e->mask)[r / 64] |= (uint64_t)1 << (r % 64);
        }
    }
    fl->f = f;
    fl->dflt = dflt;
    pf->nfl++;
    return KA_OK;
}

/* Constraints of every active rule on f into cons; returns how many rules f constrains. */
static size_t rule_cons(struct pf_b *b, const struct ka_detect *d, const struct ka_dfield *f,
                        struct pf_con *cons)
{
    size_t constrained = 0;
    for (size_t r = 0; r < d->nactive; r++) {
        b->budget = KD_PF_BUDGET;
        cons[r] = con_of(b, d->active[r]->root, f, 0);
        constrained += !cons[r].top;
    }
    return constrained;
}

/* Picks the fields constraining the most rules (at least two each), best first. */
static size_t pick_fields(struct pf_b *b, const struct ka_detect *d,
                          const struct ka_dfield **cands, size_t nc, struct pf_con *cons,
                          const struct ka_dfield **out)
{
    size_t score[KD_PF_MAX_CANDS], nout = 0;
    for (size_t i = 0; i < nc && !b->oom; i++)
        score[i] = rule_cons(b, d, cands[i], cons);
    while (nout < KD_PF_MAX_FIELDS && !b->oom) {
        size_t best = nc;
        for (size_t i = 0; i < nc; i++)
            if (score[i] >= 2 && (best == nc || score[i] > score[best]))
                best = i;
        if (best == nc)
            break;
        out[nout++] = cands[best];
        score[best] = 0;
    }
    return nout;
}

int kd_pf_build(struct ka_detect *d)
{
    d->pf = NULL;
    if (d->nactive == 0 || d->o.no_index)
        return KA_OK;
    const struct ka_dfield *cands[KD_PF_MAX_CANDS], *pick[KD_PF_MAX_FIELDS];
    size_t nc = 0;
    for (size_t r = 0; r < d->nactive; r++) {
        size_t budget = KD_PF_BUDGET;
        collect(d->active[r]->root, cands, &nc, 0, &budget);
    }
    struct pf_b b = {{0}, 0, false};
    struct pf_con *cons = calloc(d->nactive, sizeof(*cons));
    struct kd_pf *pf = ka__arena_alloc(&d->ar, sizeof(*pf));
    int rc = cons && pf ? KA_OK : KA_ENOMEM;
    size_t np = rc == KA_OK ? pick_fields(&b, d, cands, nc, cons, pick) : 0;
    if (rc == KA_OK && np) {
        pf->words = (d->nactive + 63) / 64;
        for (size_t i = 0; i < np && rc == KA_OK && !b.oom; i++) {
            rule_cons(&b, d, pick[i], cons);
            if (!b.oom)
                rc = build_field(d, pf, pick[i], cons);
        }
        d->pf = rc == KA_OK && !b.oom ? pf : NULL;
    }
    if (b.oom)
        rc = KA_ENOMEM;
    ka__arena_free(&b.tmp);
    free(cons);
    return rc;
}

size_t kd_pf_words(const struct ka_detect *d)
{
    return (d->nactive + 63) / 64;
}

size_t kd_pf_fields(const struct ka_detect *d, const char **names, size_t max)
{
    size_t n = d->pf ? d->pf->nfl : 0;
    for (size_t i = 0; i < n && i < max; i++)
        names[i] = ka_dfield_name(d->pf->fl[i].f);
    return n;
}

void kd_pf_select(struct ka_detect_ctx *c, uint64_t *mask)
{
    const struct ka_detect *d = c->d;
    size_t words = kd_pf_words(d);
    memset(mask, 0xff, words * sizeof(uint64_t));
    if (d->nactive % 64)
        mask[words - 1] = ((uint64_t)1 << (d->nactive % 64)) - 1;
    const struct kd_pf *pf = d->pf;
    for (size_t i = 0; pf && i < pf->nfl; i++) {
        const struct kd_pf_field *fl = &pf->fl[i];
        struct ka_dvals v;
        if (ka_dctx_extract(c->x, fl->f, &v) != KA_OK)
            continue; /* the rules meet the error themselves */
        const uint64_t *m = fl->dflt;
        if (v.n) {
            const struct kd_pf_ent *e = &fl->e[ent_slot(fl, v.v[0], v.len[0],
                                                        kd_hash(v.v[0], v.len[0]))];
            if (e->s)
                m = e->mask;
        }
        for (size_t w = 0; w < words; w++)
            mask[w] &= m[w];
    }
}
