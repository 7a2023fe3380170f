/*
 * query.c - the exact match of one audit event against a struct ka_query (globs, resource
 * patterns, codes, CIDRs, annotations, times), and the prefilter literals that let a scanner
 * skip lines that cannot match.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kaudit/query.h"

#define DECODE_STACK 1024u

int ka_query_stage_rank(enum ka_stage s)
{
    return s <= KA_STAGE_PANIC ? (int)s + 1 : 0;
}

bool ka_query_stage_ok(const struct ka_query *q, const struct ka_event *ev)
{
    return q->stage_mode != KA_QSTAGE_ONE || ev->stage_v == q->stage;
}

/* Length of the UTF-8 character starting at s[0] (1 for a stray byte). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80 && k < 4)
        k++;
    return k;
}

bool ka_query_glob(const char *pat, const char *s, size_t n)
{
    const char *star_p = NULL;
    size_t star_i = 0, i = 0;
    while (i < n || *pat) {
        if (*pat == '*') {
            star_p = ++pat;
            star_i = i;
            continue;
        }
        if (i < n && *pat == '?') {
            i += utf8_len(s + i, n - i);
            pat++;
            continue;
        }
        if (i < n && *pat && *pat == s[i]) {
            i++;
            pat++;
            continue;
        }
        if (!star_p || star_i >= n)
            return false;
        /* Backtrack: the last star absorbs one more character. */
        star_i += utf8_len(s + star_i, n - star_i);
        i = star_i;
        pat = star_p;
    }
    return true;
}

/* A decoded view of a string value: direct when unescaped, else decoded into tmp or heap. */
struct view {
    const char *p;
    size_t n;
    char *heap;
};

static bool view_of(struct ka_str s, char *tmp, struct view *v)
{
    v->heap = NULL;
    if (!s.set || s.n == 0)
        return false;
    if (!s.esc) {
        v->p = s.p;
        v->n = s.n;
        return true;
    }
    char *dst = tmp;
    if (s.n > DECODE_STACK && !(dst = v->heap = malloc(s.n)))
        return false;
    v->n = ka_str_decode(s, dst);
    v->p = dst;
    return v->n > 0;
}

static bool glob_any(const struct ka_qstrs *l, struct ka_str s)
{
    char tmp[DECODE_STACK];
    struct view v;
    if (!view_of(s, tmp, &v))
        return false;
    bool ok = false;
    for (size_t i = 0; i < l->n && !ok; i++)
        ok = ka_query_glob(l->v[i], v.p, v.n);
    free(v.heap);
    return ok;
}

static bool eq_any(const struct ka_qstrs *l, struct ka_str s)
{
    if (!s.set || s.n == 0)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (ka_str_eq(s, l->v[i], strlen(l->v[i])))
            return true;
    return false;
}

static bool groups_match(const struct ka_qstrs *l, struct ka_raw groups)
{
    struct ka_json_iter it;
    struct ka_raw el;
    ka_json_iter_init(&it, groups);
    while (ka_json_iter_elem(&it, &el)) {
        if (ka_json_type_of(el.p, el.n) == KA_JSON_STRING &&
            glob_any(l, ka_str_from_raw(el.p, el.n)))
            return true;
    }
    return false;
}

static bool resource_one(const struct ka_qresource *r, const struct ka_objref *o)
{
    if (strcmp(r->resource, "*") != 0 && !ka_str_eq(o->resource, r->resource, strlen(r->resource)))
        return false;
    if (r->group) {
        size_t gl = strlen(r->group);
        if (gl == 0 ? (o->apiGroup.set && o->apiGroup.n) : !ka_str_eq(o->apiGroup, r->group, gl))
            return false;
    }
    bool has_sub = o->subresource.set && o->subresource.n > 0;
    switch (r->sub) {
    case KA_QSUB_NONE: return !has_sub;
    case KA_QSUB_ANY: return has_sub;
    case KA_QSUB_ANY_OR_NONE: return true;
    case KA_QSUB_EXACT:
        return has_sub && ka_str_eq(o->subresource, r->subresource, strlen(r->subresource));
    }
    return false;
}

static bool resources_match(const struct ka_query *q, const struct ka_objref *o)
{
    if (!o->present || !o->resource.set || o->resource.n == 0)
        return false;
    for (size_t i = 0; i < q->n_resources; i++)
        if (resource_one(&q->resources[i], o))
            return true;
    return false;
}

static bool codes_match(const struct ka_query *q, const struct ka_status *st)
{
    if (!st->present || !st->has_code)
        return false;
    bool any_pos = false, pos = false;
    for (size_t i = 0; i < q->n_codes; i++) {
        const struct ka_qcode *c = &q->codes[i];
        bool in = st->code >= c->lo && st->code <= c->hi;
        if (c->neg && in)
            return false;
        if (!c->neg) {
            any_pos = true;
            pos = pos || in;
        }
    }
    return !any_pos || pos;
}

/* The value of annotation key, if present and a string. */
static struct ka_str annotation(struct ka_raw ann, const char *key)
{
    struct ka_json_iter it;
    struct ka_str k, none = {0};
    struct ka_raw v;
    size_t kl = strlen(key);
    ka_json_iter_init(&it, ann);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, key, kl) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            return ka_str_from_raw(v.p, v.n);
    return none;
}

static bool decision_match(const struct ka_query *q, struct ka_raw ann)
{
    struct ka_str v = annotation(ann, KA_QUERY_DECISION_ANN);
    return q->decision == KA_QDEC_ALLOW ? ka_str_eq(v, "allow", 5) : ka_str_eq(v, "forbid", 6);
}

bool ka_query_cidr_match(const struct ka_qcidr *c, const char *addr, size_t n)
{
    struct ka_qcidr a;
    char tmp[64];
    if (n == 0 || n >= sizeof tmp || memchr(addr, '/', n))
        return false;
    memcpy(tmp, addr, n);
    tmp[n] = 0;
    if (ka_query_parse_cidr(tmp, &a) || a.family != c->family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a.addr, c->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
    return (a.addr[full] & mask) == (c->addr[full] & mask);
}

static bool ips_match(const struct ka_query *q, struct ka_raw ips)
{
    struct ka_json_iter it;
    struct ka_raw el;
    ka_json_iter_init(&it, ips);
    while (ka_json_iter_elem(&it, &el)) {
        if (ka_json_type_of(el.p, el.n) != KA_JSON_STRING)
            continue;
        struct ka_str s = ka_str_from_raw(el.p, el.n);
        char tmp[DECODE_STACK];
        if (s.n >= 64)
            continue;
        size_t dn = ka_str_decode(s, tmp);
        for (size_t i = 0; i < q->n_cidrs; i++)
            if (ka_query_cidr_match(&q->cidrs[i], tmp, dn))
                return true;
    }
    return false;
}

static int time_cmp(const struct ka_time *a, const struct ka_time *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

static bool time_match(const struct ka_query *q, const struct ka_time *t)
{
    if (!q->has_since && !q->has_until)
        return true;
    if (!t->set)
        return false;
    if (q->has_since && time_cmp(t, &q->since) < 0)
        return false;
    return !(q->has_until && time_cmp(t, &q->until) >= 0);
}

static bool strings_match(const struct ka_query *q, const struct ka_event *ev)
{
    if (q->verbs.n && !eq_any(&q->verbs, ev->verb))
        return false;
    if (q->users.n && !glob_any(&q->users, ev->user.username))
        return false;
    if (q->as_users.n && !(ev->impersonatedUser.present &&
                           glob_any(&q->as_users, ev->impersonatedUser.username)))
        return false;
    if (q->groups.n && !groups_match(&q->groups, ev->user.groups))
        return false;
    if (q->namespaces.n && !glob_any(&q->namespaces, ev->objectRef.namespace_))
        return false;
    if (q->names.n && !glob_any(&q->names, ev->objectRef.name))
        return false;
    if (q->user_agents.n && !glob_any(&q->user_agents, ev->userAgent))
        return false;
    if (q->clusters.n &&
        !glob_any(&q->clusters, annotation(ev->annotations, KA_QUERY_CLUSTER_ANN)))
        return false;
    return true;
}

/*
 * Two bytes of the needle are compared 16 positions at a time (SSE2) and candidates verified
 * with memcmp; the bytes inside a quoted literal are used, as '"' is everywhere in JSON.
 */
const char *ka_query_find(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return hay;
    if (m > n)
        return NULL;
    if (m < 4)
        return memmem(hay, n, needle, m);
    size_t i = 0;
#if defined(__SSE2__)
    size_t p1 = needle[0] == '"' ? 1 : 0, p2 = needle[m - 1] == '"' ? m - 2 : m - 1;
    const __m128i a = _mm_set1_epi8(needle[p1]), b = _mm_set1_epi8(needle[p2]);
    for (; i + p2 + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + p1));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + p2));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(x, a), _mm_cmpeq_epi8(y, b)));
        while (mask) {
            size_t s = i + (size_t)__builtin_ctz(mask);
            if (s + m <= n && memcmp(hay + s, needle, m) == 0)
                return hay + s;
            mask &= mask - 1;
        }
    }
#endif
    return i < n ? memmem(hay + i, n - i, needle, m) : NULL;
}

bool ka_query_match(const struct ka_query *q, const struct ka_event *ev, const char *raw,
                    size_t n)
{
    for (size_t i = 0; i < q->greps.n; i++)
        if (!ka_query_find(raw, n, q->greps.v[i], strlen(q->greps.v[i])))
            return false;
    if (!time_match(q, &ev->requestReceivedTimestamp))
        return false;
    if (!strings_match(q, ev))
        return false;
    if (q->n_resources && !resources_match(q, &ev->objectRef))
        return false;
    if (q->n_codes && !codes_match(q, &ev->responseStatus))
        return false;
    if (q->decision != KA_QDEC_ANY && !decision_match(q, ev->annotations))
        return false;
    return !(q->n_cidrs && !ips_match(q, ev->sourceIPs));
}

/* ---- prefilter literals ---- */

/* A byte that Go writes literally inside a string and that has no other spelling there. */
static bool lit_safe(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
}

static int push(struct ka_qstrs *s, const char *p, size_t n, bool lq, bool rq)
{
    char **nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv)
        return KA_ENOMEM;
    s->v = nv;
    char *x = malloc(n + 3), *w = x;
    if (!x)
        return KA_ENOMEM;
    if (lq)
        *w++ = '"';
    memcpy(w, p, n);
    w += n;
    if (rq)
        *w++ = '"';
    *w = 0;
    s->v[s->n++] = x;
    return KA_OK;
}

/* The longest literal run of a glob made of safe bytes, quoted where it is anchored. */
static int glob_literal(struct ka_qstrs *out, const char *pat)
{
    size_t best_off = 0, best_n = 0, len = strlen(pat);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && pat[j] != '*' && pat[j] != '?')
            j++;
        if (j - i > best_n) {
            best_off = i;
            best_n = j - i;
        }
        i = j + 1;
    }
    if (best_n == 0)
        return KA_OK;
    for (size_t i = 0; i < best_n; i++)
        if (!lit_safe((unsigned char)pat[best_off + i]))
            return KA_OK;
    return push(out, pat + best_off, best_n, best_off == 0, best_off + best_n == len);
}

static int single_glob(struct ka_qstrs *out, const struct ka_qstrs *l)
{
    return l->n == 1 ? glob_literal(out, l->v[0]) : KA_OK;
}

static int value_literal(struct ka_qstrs *out, const char *v)
{
    for (const char *c = v; *c; c++)
        if (!lit_safe((unsigned char)*c))
            return KA_OK;
    return push(out, v, strlen(v), true, true);
}

static int resource_literals(struct ka_qstrs *out, const struct ka_query *q)
{
    if (q->n_resources != 1)
        return KA_OK;
    const struct ka_qresource *r = &q->resources[0];
    int rc = strcmp(r->resource, "*") ? value_literal(out, r->resource) : KA_OK;
    if (rc == 0 && r->group && r->group[0])
        rc = value_literal(out, r->group);
    if (rc == 0 && r->sub == KA_QSUB_EXACT)
        rc = value_literal(out, r->subresource);
    return rc;
}

int ka_query_literals(const struct ka_query *q, struct ka_qstrs *raw, struct ka_qstrs *vals)
{
    int rc = KA_OK;
    memset(raw, 0, sizeof *raw);
    memset(vals, 0, sizeof *vals);
    for (size_t i = 0; rc == 0 && i < q->greps.n; i++)
        rc = push(raw, q->greps.v[i], strlen(q->greps.v[i]), false, false);
    const struct ka_qstrs *globs[] = {&q->users,      &q->as_users,    &q->groups,
                                      &q->namespaces, &q->names,       &q->user_agents,
                                      &q->clusters};
    for (size_t i = 0; rc == 0 && i < sizeof globs / sizeof globs[0]; i++)
        rc = single_glob(vals, globs[i]);
    if (rc == 0 && q->verbs.n == 1)
        rc = value_literal(vals, q->verbs.v[0]);
    if (rc == 0)
        rc = resource_literals(vals, q);
    if (rc == 0 && q->decision != KA_QDEC_ANY)
        rc = value_literal(vals, q->decision == KA_QDEC_ALLOW ? "allow" : "forbid");
    if (rc) {
        ka_qstrs_free(raw);
        ka_qstrs_free(vals);
    }
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Whether the \u escape at p (p[0] == 'u', 4 hex digits follow) is one Go writes. */
static bool go_uescape(const char *p, const char *end)
{
    if (end - p < 5)
        return false;
    unsigned v = 0;
    for (int i = 1; i <= 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        v = v * 16 + (unsigned)h;
    }
    return v < 0x20 || v == '<' || v == '>' || v == '&' || v == 0x2028 || v == 0x2029 ||
           v == 0xfffd;
}

bool ka_query_line_plain(const char *p, size_t n)
{
    const char *end = p + n;
    for (;;) {
        const char *b = memchr(p, '\\', (size_t)(end - p));
        if (!b || b + 1 >= end)
            return b == NULL;
        char c = b[1];
        if (c == 'u') {
            if (!go_uescape(b + 1, end))
                return false;
            p = b + 6;
        } else if (c == '"' || c == '\\' || c == 'n' || c == 'r' || c == 't' || c == 'b' ||
                   c == 'f') {
            p = b + 2;
        } else {
            return false; /* "\/" and anything else */
        }
        if (p >= end)
            return true;
    }
}

#define PEEK_HEAD "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\""

bool ka_query_peek_id(const char *p, size_t n, const char **id, size_t *id_n,
                      enum ka_stage *stage)
{
    static const size_t hl = sizeof PEEK_HEAD - 1;
    const char *end = p + n;
    if (n < hl + 64 || memcmp(p, PEEK_HEAD, hl) != 0)
        return false;
    const char *c = p + hl;
    const char *q = memchr(c, '"', 24 < (size_t)(end - c) ? 24 : (size_t)(end - c));
    if (!q || (size_t)(end - q) < 40 || memcmp(q, "\",\"auditID\":\"", 13) != 0)
        return false;
    const char *ids = q + 13;
    const char *ide = memchr(ids, '"', (size_t)(end - ids) < 256 ? (size_t)(end - ids) : 256);
    if (!ide || ide == ids || memchr(ids, '\\', (size_t)(ide - ids)))
        return false;
    if ((size_t)(end - ide) < 12 || memcmp(ide, "\",\"stage\":\"", 11) != 0)
        return false;
    const char *ss = ide + 11;
    const char *se = memchr(ss, '"', (size_t)(end - ss) < 24 ? (size_t)(end - ss) : 24);
    if (!se)
        return false;
    int s = ka_stage_from_cstr(ss, (size_t)(se - ss));
    *id = ids;
    *id_n = (size_t)(ide - ids);
    *stage = s < 0 ? KA_STAGE_UNKNOWN : (enum ka_stage)s;
    return true;
}
