/*
 * eval.c - evaluates a compiled condition tree against the current event of a context.
 *
 * Semantics (Falco's): a field with no value makes every comparison false (exists: false);
 * `in` holds when every value of the field is in the set (one value for scalar fields),
 * `intersects` when at least one is; `pmatch` on a list field (a kaudit extension: Falco
 * rejects it at load) when at least one element lies under one of the paths; other operators
 * compare the field's (first) value; oneof/anyof/allof apply the operator to each right-hand
 * value and require exactly one, at least one, or all of them to match. <, <=, >, >= compare
 * numbers on numeric fields and bytes (strcmp) on string fields. Nothing here allocates.
 *
 * Cost: `and`/`or` stop at the first operand that decides them; fields are extracted once per
 * event (slot cache); icontains lower-cases a value once per event; the rule index
 * (prefilter.c) keeps most rules from being evaluated at all.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

/* Substring search: memchr for the needle's first byte, then memcmp (audit values are short;
   glibc's memmem costs more to set up than these searches take). */
static bool find(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0)
        return true;
    if (nn > hn)
        return false;
    const char *p = h, *last = h + (hn - nn);
    while (p <= last) {
        p = memchr(p, (unsigned char)n[0], (size_t)(last - p) + 1);
        if (!p)
            return false;
        if (!memcmp(p + 1, n + 1, nn - 1))
            return true;
        p++;
    }
    return false;
}

/* Case-insensitive search of the lower-cased needle. Values up to KD_LOW_MAX bytes are
   lower-cased once per event (rules test one field, such as the user agent, for many needles)
   and searched; longer ones byte by byte. */
static bool icontains(struct ka_detect_ctx *c, const char *h, size_t hn, const char *lneedle,
                      size_t nn)
{
    if (nn == 0)
        return true;
    if (nn > hn)
        return false;
    if (hn <= KD_LOW_MAX) {
        if (c->low_evt != c->evt_num || c->low_src != h) {
            for (size_t i = 0; i < hn; i++)
                c->low[i] = (char)tolower((unsigned char)h[i]);
            c->low_evt = c->evt_num;
            c->low_src = h;
        }
        return find(c->low, hn, lneedle, nn);
    }
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t k = 0;
        while (k < nn && tolower((unsigned char)h[i + k]) == (unsigned char)lneedle[k])
            k++;
        if (k == nn)
            return true;
    }
    return false;
}

static bool contains(const char *h, size_t hn, const char *n, size_t nn)
{
    return find(h, hn, n, nn);
}

/* Path-prefix match: v equals p or lies under it; '*' components of p match any component. */
static bool pmatch1(const char *v, size_t vn, const char *p, size_t pn)
{
    while (pn > 1 && p[pn - 1] == '/')
        pn--;
    size_t i = 0, j = 0;
    while (j < pn) {
        size_t pe = j, ve = i;
        while (pe < pn && p[pe] != '/')
            pe++;
        while (ve < vn && v[ve] != '/')
            ve++;
        bool star = pe - j == 1 && p[j] == '*';
        if (!star && (pe - j != ve - i || memcmp(p + j, v + i, pe - j) != 0))
            return false;
        if (pe == pn)
            return ve == vn || v[ve] == '/';
        if (ve == vn)
            return false;
        i = ve + 1;
        j = pe + 1;
    }
    return true;
}

static bool num_cmp(enum kd_op op, const char *s, int64_t rhs)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    switch (op) {
    case KD_OP_EQ: return v == rhs;
    case KD_OP_NE: return v != rhs;
    case KD_OP_LT: return v < rhs;
    case KD_OP_LE: return v <= rhs;
    case KD_OP_GT: return v > rhs;
    case KD_OP_GE: return v >= rhs;
    default: return false;
    }
}

/* One comparison of value s (length n) with right-hand value k. */
static bool cmp1(struct ka_detect_ctx *c, const struct kd_cnode *cn, const char *s, size_t n,
                 size_t k)
{
    const char *r = cn->vs[k];
    size_t rn = cn->vn[k];
    if (cn->num)
        return num_cmp(cn->op, s, cn->vnum[k]);
    switch (cn->op) {
    case KD_OP_EQ: return n == rn && !memcmp(s, r, n);
    case KD_OP_NE: return !(n == rn && !memcmp(s, r, n));
    case KD_OP_LT: return strcmp(s, r) < 0;
    case KD_OP_LE: return strcmp(s, r) <= 0;
    case KD_OP_GT: return strcmp(s, r) > 0;
    case KD_OP_GE: return strcmp(s, r) >= 0;
    case KD_OP_CONTAINS:
    case KD_OP_BCONTAINS: return contains(s, n, r, rn);
    case KD_OP_ICONTAINS: return icontains(c, s, n, r, rn);
    case KD_OP_STARTSWITH:
    case KD_OP_BSTARTSWITH: return n >= rn && !memcmp(s, r, rn);
    case KD_OP_ENDSWITH: return n >= rn && !memcmp(s + n - rn, r, rn);
    case KD_OP_GLOB: return fnmatch(r, s, 0) == 0;
    case KD_OP_IGLOB: return fnmatch(r, s, FNM_CASEFOLD) == 0;
    case KD_OP_REGEX:
        return cn->re[k] && pcre2_match(cn->re[k], (PCRE2_SPTR)s, n, 0, 0, c->md, NULL) >= 0;
    case KD_OP_PMATCH: return pmatch1(s, n, r, rn);
    default: return false;
    }
}

static bool check_value(struct ka_detect_ctx *c, const struct kd_cnode *cn, const char *s,
                        size_t n)
{
    if (cn->op == KD_OP_PMATCH) {
        for (size_t k = 0; k < cn->nv; k++)
            if (cmp1(c, cn, s, n, k))
                return true;
        return false;
    }
    if (cn->mod == KD_MOD_NONE)
        return cmp1(c, cn, s, n, 0);
    size_t hits = 0;
    for (size_t k = 0; k < cn->nv; k++) {
        if (cmp1(c, cn, s, n, k))
            hits++;
        else if (cn->mod == KD_MOD_ALLOF)
            return false;
        if (hits > 1 && cn->mod == KD_MOD_ONEOF)
            return false;
        if (hits && cn->mod == KD_MOD_ANYOF)
            return true;
    }
    return cn->mod == KD_MOD_ONEOF ? hits == 1 : cn->mod == KD_MOD_ALLOF ? cn->nv > 0 : false;
}

static bool eval_check(struct ka_detect_ctx *c, const struct kd_cnode *cn)
{
    struct ka_dvals v;
    int rc = ka_dctx_extract(c->x, cn->f, &v);
    if (rc != KA_OK) {
        if (c->err == KA_OK)
            c->err = rc;
        return false;
    }
    if (cn->op == KD_OP_EXISTS)
        return v.n > 0;
    if (v.n == 0)
        return false;
    if (cn->op == KD_OP_PMATCH && cn->f->is_list && cn->f->index < 0) {
        for (size_t i = 0; i < v.n; i++) /* list field: any element (kaudit extension) */
            if (check_value(c, cn, v.v[i], v.len[i]))
                return true;
        return false;
    }
    if (cn->op == KD_OP_IN || cn->op == KD_OP_PMATCH) {
        for (size_t i = 0; i < v.n; i++) {
            bool in = cn->op == KD_OP_IN ? kd_set_has(cn->set, v.v[i], v.len[i])
                                         : check_value(c, cn, v.v[i], v.len[i]);
            if (!in)
                return false;
        }
        return true;
    }
    if (cn->op == KD_OP_INTERSECTS) {
        for (size_t i = 0; i < v.n; i++)
            if (kd_set_has(cn->set, v.v[i], v.len[i]))
                return true;
        return false;
    }
    return check_value(c, cn, v.v[0], v.len[0]);
}

bool kd_eval(struct ka_detect_ctx *c, const struct kd_cnode *n)
{
    switch (n->kind) {
    case KD_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!kd_eval(c, n->kids[i]))
                return false;
        return true;
    case KD_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (kd_eval(c, n->kids[i]))
                return true;
        return false;
    case KD_NOT: return !kd_eval(c, n->kids[0]);
    case KD_CHECK: return eval_check(c, n);
    case KD_TRUE: return true;
    default: return false;
    }
}
