/*
 * state.c - the state of stateful rules in one evaluation context: keys (rule, values of the
 * `by` fields) in a hash table with an LRU bound, and what each kind of rule keeps per key.
 *
 *   window      the times (and, with distinct, the value hashes) of the matching events of the
 *               last `within`; alerts when there are more than more_than of them (distinct
 *               values with distinct), then forgets the key's events and counts anew.
 *   first_seen  up to max_values value hashes with the time each was last seen; alerts when
 *               a key that already has values shows a new one after the learning period (which
 *               starts at the first event this rule sees). A key seen for the first time only
 *               learns its values. When full, the value seen longest ago is replaced.
 *   sequence    the number of steps done and the time of the first step; an event matching the
 *               next step within `within` of the first advances it, the last step alerts. An
 *               event matching the first step (re)starts a sequence that is expired or at its
 *               first step.
 *
 * Time is the event's stageTimestamp (ns). Events older than a kept time do not move anything
 * back: a time is expired when it lies more than `within` before the current event.
 */
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

struct kd_tv {
    uint64_t h;
    int64_t t;
};

struct kd_skey {
    struct kd_skey *hnext, *prev, *next; /* hash chain; LRU list (prev = more recent) */
    uint64_t h;
    const struct kd_srule *sr;
    uint32_t klen, n, cap, step;
    int64_t t0;
    size_t size;                         /* bytes of this allocation */
    struct kd_tv *tv;                    /* cap entries, in this allocation */
    char key[];
};

struct kd_state {
    size_t max_keys, count, nb;
    struct kd_skey **b;
    struct kd_skey *head, *tail;
    uint64_t evictions, alerts;
    size_t bytes, peak;
    int64_t *t_first; /* per stateful rule: time of the first event it saw */
    bool *have_first;
    size_t nrules;
    char key[KD_STATE_MAX_KEY];
};

#define KD_STATE_NB0 1024u

static void account(struct kd_state *s, size_t add, size_t sub)
{
    s->bytes = s->bytes + add - sub;
    if (s->bytes > s->peak)
        s->peak = s->bytes;
}

int kd_state_new(const struct ka_detect *d, struct kd_state **out)
{
    struct kd_state *s = calloc(1, sizeof(*s));
    if (!s)
        return KA_ENOMEM;
    s->max_keys = d->state_max_keys;
    s->nrules = d->nstate;
    s->nb = KD_STATE_NB0;
    s->b = calloc(s->nb, sizeof(struct kd_skey *));
    s->t_first = calloc(s->nrules, sizeof(*s->t_first));
    s->have_first = calloc(s->nrules, sizeof(*s->have_first));
    if (!s->b || !s->t_first || !s->have_first) {
        kd_state_free(s);
        return KA_ENOMEM;
    }
    account(s, sizeof(*s) + s->nb * sizeof(struct kd_skey *) + s->nrules * (sizeof(int64_t) + 1),
            0);
    *out = s;
    return KA_OK;
}

void kd_state_free(struct kd_state *s)
{
    if (!s)
        return;
    struct kd_skey *k = s->head;
    while (k) {
        struct kd_skey *next = k->next;
        free(k);
        k = next;
    }
    free(s->b);
    free(s->t_first);
    free(s->have_first);
    free(s);
}

void ka_detect_ctx_state_stats(const struct ka_detect_ctx *c, struct ka_detect_state_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->max_keys = c->d->state_max_keys;
    const struct kd_state *s = c->st;
    if (!s)
        return;
    out->max_keys = s->max_keys;
    out->rules = s->nrules;
    out->keys = s->count;
    out->evictions = s->evictions;
    out->bytes = s->bytes;
    out->peak_bytes = s->peak;
    out->alerts = s->alerts;
}

/* ---- the LRU hash table ---- */

static void lru_unlink(struct kd_state *s, struct kd_skey *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        s->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        s->tail = k->prev;
    k->prev = k->next = NULL;
}

static void lru_front(struct kd_state *s, struct kd_skey *k)
{
    k->next = s->head;
    k->prev = NULL;
    if (s->head)
        s->head->prev = k;
    s->head = k;
    if (!s->tail)
        s->tail = k;
}

static void key_remove(struct kd_state *s, struct kd_skey *k)
{
    struct kd_skey **pp = &s->b[k->h & (s->nb - 1)];
    while (*pp && *pp != k)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = k->hnext;
    lru_unlink(s, k);
    s->count--;
    account(s, 0, k->size);
    free(k);
}

/* Doubles the bucket array while it holds fewer buckets than keys (failure is harmless). */
static void maybe_grow(struct kd_state *s)
{
    if (s->count < s->nb || s->nb >= ((size_t)1 << 30))
        return;
    size_t nb = s->nb * 2;
    struct kd_skey **b = calloc(nb, sizeof(struct kd_skey *));
    if (!b)
        return;
    for (struct kd_skey *k = s->head; k; k = k->next) {
        k->hnext = b[k->h & (nb - 1)];
        b[k->h & (nb - 1)] = k;
    }
    free(s->b);
    account(s, nb * sizeof(struct kd_skey *), s->nb * sizeof(struct kd_skey *));
    s->b = b;
    s->nb = nb;
}

static struct kd_skey *key_find(struct kd_state *s, const struct kd_srule *sr, uint64_t h,
                                size_t klen)
{
    for (struct kd_skey *k = s->b[h & (s->nb - 1)]; k; k = k->hnext)
        if (k->h == h && k->sr == sr && k->klen == klen && !memcmp(k->key, s->key, klen)) {
            lru_unlink(s, k);
            lru_front(s, k);
            return k;
        }
    return NULL;
}

static size_t values_cap(const struct kd_srule *sr)
{
    switch (sr->kind) {
    case KD_ST_WINDOW: return (size_t)sr->more_than + 1;
    case KD_ST_FIRST_SEEN: return sr->max_values;
    default: return 0;
    }
}

static struct kd_skey *key_add(struct kd_state *s, const struct kd_srule *sr, uint64_t h,
                               size_t klen)
{
    if (s->count >= s->max_keys && s->tail) {
        key_remove(s, s->tail);
        s->evictions++;
    }
    size_t cap = values_cap(sr);
    size_t koff = (sizeof(struct kd_skey) + klen + 1 + 7) / 8 * 8;
    size_t size = koff + cap * sizeof(struct kd_tv);
    struct kd_skey *k = calloc(1, size);
    if (!k)
        return NULL;
    k->h = h;
    k->sr = sr;
    k->klen = (uint32_t)klen;
    k->cap = (uint32_t)cap;
    k->size = size;
    k->tv = (struct kd_tv *)(void *)((char *)k + koff);
    memcpy(k->key, s->key, klen);
    k->hnext = s->b[h & (s->nb - 1)];
    s->b[h & (s->nb - 1)] = k;
    lru_front(s, k);
    s->count++;
    account(s, size, 0);
    maybe_grow(s);
    return k;
}

/* ---- keys and values ---- */

/* The key of the current event in s->key: the by values, a list joined by ',', missing as
   "<NA>", fields separated by 0x1f. Returns its length, or KA_ENOMEM. */
static long build_key(struct ka_detect_ctx *c, const struct kd_srule *sr)
{
    char *k = c->st->key;
    size_t o = 0, cap = sizeof(c->st->key);
    for (size_t i = 0; i < sr->nby; i++) {
        struct ka_dvals v;
        if (ka_dctx_extract(c->x, sr->by[i], &v) != KA_OK)
            return KA_ENOMEM;
        if (i && o < cap)
            k[o++] = '\x1f';
        if (v.n == 0) {
            size_t m = cap - o < 4 ? cap - o : 4;
            memcpy(k + o, "<NA>", m);
            o += m;
        }
        for (size_t j = 0; j < v.n && o < cap; j++) {
            if (j)
                k[o++] = ',';
            size_t m = v.len[j] < cap - o ? v.len[j] : cap - o;
            memcpy(k + o, v.v[j], m);
            o += m;
        }
    }
    return (long)o;
}

/* Drops the entries of k older than within before t (order kept). */
static void expire(struct kd_skey *k, int64_t t, int64_t within)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < k->n; i++)
        if (t - k->tv[i].t <= within)
            k->tv[w++] = k->tv[i];
    k->n = w;
}

static long find_value(const struct kd_skey *k, uint64_t h)
{
    for (uint32_t i = 0; i < k->n; i++)
        if (k->tv[i].h == h)
            return (long)i;
    return -1;
}

static int feed_window(struct ka_detect_ctx *c, struct kd_skey *k, const struct kd_srule *sr,
                       const struct ka_dvals *v)
{
    int64_t t = c->time_ns;
    expire(k, t, sr->within_ns);
    if (!sr->val) {
        k->tv[k->n++] = (struct kd_tv){0, t};
    } else {
        for (size_t i = 0; i < v->n && k->n < k->cap; i++) {
            uint64_t h = kd_hash(v->v[i], v->len[i]);
            long at = find_value(k, h);
            if (at >= 0)
                k->tv[at].t = t > k->tv[at].t ? t : k->tv[at].t;
            else
                k->tv[k->n++] = (struct kd_tv){h, t};
        }
    }
    if (k->n <= sr->more_than)
        return 0;
    k->n = 0;
    return 1;
}

static int feed_first_seen(struct ka_detect_ctx *c, struct kd_skey *k, const struct kd_srule *sr,
                           bool fresh, struct ka_dvals *v)
{
    struct kd_state *s = c->st;
    int64_t t = c->time_ns;
    bool learning = t - s->t_first[sr->id] < sr->learn_ns;
    int fire = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t h = kd_hash(v->v[i], v->len[i]);
        long at = find_value(k, h);
        if (at >= 0) {
            k->tv[at].t = t > k->tv[at].t ? t : k->tv[at].t;
            continue;
        }
        if (!fresh && !learning)
            fire = 1;
        if (k->n < k->cap) {
            k->tv[k->n++] = (struct kd_tv){h, t};
            continue;
        }
        uint32_t old = 0;
        for (uint32_t j = 1; j < k->n; j++)
            if (k->tv[j].t < k->tv[old].t)
                old = j;
        k->tv[old] = (struct kd_tv){h, t};
    }
    return fire;
}

static int feed_sequence(struct ka_detect_ctx *c, struct kd_skey *k, const struct kd_srule *sr,
                         uint64_t h, size_t klen)
{
    struct kd_state *s = c->st;
    int64_t t = c->time_ns;
    uint32_t done = k ? k->step : 0;
    if (done && t - k->t0 > sr->within_ns)
        done = 0;
    if (done && kd_eval(c, sr->steps[done])) {
        if (++done == sr->nsteps) {
            key_remove(s, k);
            return 1;
        }
        k->step = done;
        return 0;
    }
    if (done > 1 || !kd_eval(c, sr->steps[0])) {
        if (k)
            k->step = done;
        return 0;
    }
    if (!k && !(k = key_add(s, sr, h, klen)))
        return KA_ENOMEM;
    k->step = 1;
    k->t0 = t;
    return 0;
}

int kd_state_feed(struct ka_detect_ctx *c, const struct kd_rule *r)
{
    struct kd_state *s = c->st;
    const struct kd_srule *sr = r->st;
    if (!s->have_first[sr->id]) {
        s->have_first[sr->id] = true;
        s->t_first[sr->id] = c->time_ns;
    }
    long klen = build_key(c, sr);
    if (klen < 0)
        return (int)klen;
    uint64_t h = kd_hash(s->key, (size_t)klen) ^ ((uint64_t)sr->id * 0x9e3779b97f4a7c15ULL);
    struct kd_skey *k = key_find(s, sr, h, (size_t)klen);
    int rc;
    if (sr->kind == KD_ST_SEQUENCE) {
        rc = feed_sequence(c, k, sr, h, (size_t)klen);
    } else {
        struct ka_dvals v = {0};
        if (sr->val) {
            if (ka_dctx_extract(c->x, sr->val, &v) != KA_OK)
                return KA_ENOMEM;
            if (v.n == 0)
                return 0; /* nothing to count, learn or compare */
        }
        bool fresh = !k;
        if (!k && !(k = key_add(s, sr, h, (size_t)klen)))
            return KA_ENOMEM;
        rc = sr->kind == KD_ST_WINDOW ? feed_window(c, k, sr, &v)
                                      : feed_first_seen(c, k, sr, fresh, &v);
    }
    if (rc > 0)
        s->alerts++;
    return rc;
}
