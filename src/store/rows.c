/*
 * rows.c - row selection over a stream of events: the latest stage per auditID (a sequential
 * record of every event's auditID hash and stage, resolved at the end against the candidates),
 * the matching events spooled to memory then to a temporary file, ordering by
 * requestReceivedTimestamp, and the limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaudit/buf.h"
#include "kaudit/query.h"

#define RANK_MASK 7ull

/* One event of the data (REQUESTS mode): auditID hash, rank in the low bits of h1. */
struct seen {
    uint64_t h0, h1;
};

/* A candidate's auditID while its latest stage is computed. */
struct slot {
    uint64_t h0, h1; /* h1 without the rank bits; 0/0 = empty */
    uint64_t seq;    /* first event with the best rank */
    int rank;        /* -1: not seen yet */
};

struct cand {
    int64_t sec;
    int32_t nsec;
    uint8_t has_ts, rank, has_id;
    uint64_t seq;
    uint64_t h0, h1;
    uint64_t off; /* in the spool */
    uint32_t len;
    uint32_t id_off, id_len; /* in ids */
};

struct ka_rows {
    const struct ka_query *q;
    struct seen *seen;
    size_t nseen, capseen;
    uint64_t seq;
    struct cand *c;
    size_t nc, capc;
    struct ka_buf ids;   /* auditIDs of the candidates */
    struct ka_buf spool; /* candidate bytes, first KA_ROWS_SPOOL_MEM */
    FILE *spill;         /* the rest */
    uint64_t spool_total;
    struct ka_buf rd;
};

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Two independent 64-bit hashes of s (a 128-bit key). */
static void hash128(const char *s, size_t n, uint64_t *h0, uint64_t *h1)
{
    uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0x6a09e667f3bcc909ull + n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        a = mix(a ^ w) * 0x100000001b3ull;
        b = (b ^ w) * 0xcbf29ce484222325ull + (b >> 29);
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    a = mix(a ^ w ^ ((uint64_t)(n - i) << 56));
    b = mix((b ^ w) * 0x9fb21c651e98df25ull + 0x2545f4914f6cdd1dull);
    b &= ~RANK_MASK;
    if (a == 0 && b == 0)
        b = 8;
    *h0 = a;
    *h1 = b;
}

int ka_rows_new(const struct ka_query *q, struct ka_rows **out)
{
    struct ka_rows *r = calloc(1, sizeof *r);
    if (!r)
        return KA_ENOMEM;
    r->q = q;
    ka_buf_init(&r->ids, 0);
    ka_buf_init(&r->spool, 0);
    ka_buf_init(&r->rd, 0);
    *out = r;
    return KA_OK;
}

bool ka_rows_needs_all(const struct ka_rows *r)
{
    return r->q->stage_mode == KA_QSTAGE_REQUESTS;
}

uint64_t ka_rows_count_ids(const struct ka_rows *r)
{
    return r->nseen;
}

static int note_seen(struct ka_rows *r, uint64_t h0, uint64_t h1, int rank)
{
    if (r->nseen == r->capseen) {
        size_t ncap = r->capseen ? r->capseen * 2 : 1u << 16;
        if (r->capseen >= KA_ROWS_MAX_EVENTS)
            return KA_ETOOBIG;
        struct seen *ns = realloc(r->seen, ncap * sizeof *ns);
        if (!ns)
            return KA_ENOMEM;
        r->seen = ns;
        r->capseen = ncap;
    }
    r->seen[r->nseen].h0 = h0;
    r->seen[r->nseen].h1 = h1 | (uint64_t)rank;
    r->nseen++;
    return KA_OK;
}

static struct slot *slot_of(struct slot *tab, size_t cap, uint64_t h0, uint64_t h1, bool add)
{
    size_t j = (size_t)(h0 ^ (h0 >> 29)) & (cap - 1);
    for (;;) {
        struct slot *s = &tab[j];
        if (s->h0 == h0 && s->h1 == h1)
            return s;
        if (!s->h0 && !s->h1) {
            if (!add)
                return NULL;
            s->h0 = h0;
            s->h1 = h1;
            s->rank = -1;
            return s;
        }
        j = (j + 1) & (cap - 1);
    }
}

static int spool_put(struct ka_rows *r, const char *raw, size_t n, uint64_t *off)
{
    *off = r->spool_total;
    if (r->spool_total + n <= KA_ROWS_SPOOL_MEM) {
        int rc = ka_buf_append(&r->spool, raw, n);
        if (rc)
            return rc;
    } else {
        if (!r->spill && !(r->spill = tmpfile()))
            return KA_EIO;
        if (fseeko(r->spill, (off_t)(r->spool_total - r->spool.n), SEEK_SET) ||
            fwrite(raw, 1, n, r->spill) != n)
            return KA_EIO;
    }
    r->spool_total += n;
    return KA_OK;
}

static int add_cand(struct ka_rows *r, const char *id, size_t id_n, uint64_t h0, uint64_t h1,
                    enum ka_stage stage, const struct ka_event *ev, const char *raw, size_t n)
{
    if (r->nc == r->capc) {
        size_t nc = r->capc ? r->capc * 2 : 1024;
        if (r->capc >= KA_ROWS_MAX_CANDIDATES || n > UINT32_MAX)
            return KA_ETOOBIG;
        struct cand *c = realloc(r->c, nc * sizeof *c);
        if (!c)
            return KA_ENOMEM;
        r->c = c;
        r->capc = nc;
    }
    struct cand *c = &r->c[r->nc];
    memset(c, 0, sizeof *c);
    c->has_ts = ev->requestReceivedTimestamp.set;
    c->sec = ev->requestReceivedTimestamp.sec;
    c->nsec = ev->requestReceivedTimestamp.nsec;
    c->rank = (uint8_t)ka_query_stage_rank(stage);
    c->has_id = id_n > 0;
    c->seq = r->seq;
    c->h0 = h0;
    c->h1 = h1;
    c->len = (uint32_t)n;
    c->id_off = (uint32_t)r->ids.n;
    c->id_len = (uint32_t)id_n;
    if (r->ids.n + id_n > UINT32_MAX)
        return KA_ETOOBIG;
    int rc = ka_buf_append(&r->ids, id, id_n);
    if (rc == 0)
        rc = spool_put(r, raw, n, &c->off);
    if (rc == 0)
        r->nc++;
    return rc;
}

int ka_rows_add(struct ka_rows *r, const char *id, size_t id_n, enum ka_stage stage,
                const struct ka_event *ev, bool matched, const char *raw, size_t n)
{
    uint64_t h0 = 0, h1 = 0;
    int rc = KA_OK;
    if (id_n && (ka_rows_needs_all(r) || matched))
        hash128(id, id_n, &h0, &h1);
    if (ka_rows_needs_all(r))
        rc = note_seen(r, h0, h1, id_n ? ka_query_stage_rank(stage) : 0);
    if (rc == 0 && matched && ev)
        rc = add_cand(r, id, id_n, h0, h1, stage, ev, raw, n);
    r->seq++;
    return rc;
}

static int cand_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct cand *a = pa, *b = pb;
    const struct ka_rows *r = ctx;
    if (a->has_ts != b->has_ts)
        return a->has_ts < b->has_ts ? -1 : 1;
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec ? -1 : 1;
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int c = n ? memcmp(r->ids.p + a->id_off, r->ids.p + b->id_off, n) : 0;
    if (c)
        return c;
    if (a->id_len != b->id_len)
        return a->id_len < b->id_len ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Drops candidates that are not their auditID's row (REQUESTS mode). */
static int select_requests(struct ka_rows *r)
{
    size_t cap = 16;
    while (cap < r->nc * 2)
        cap *= 2;
    struct slot *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return KA_ENOMEM;
    for (size_t i = 0; i < r->nc; i++)
        if (r->c[i].has_id)
            slot_of(tab, cap, r->c[i].h0, r->c[i].h1, true);
    for (size_t i = 0; i < r->nseen; i++) {
        const struct seen *e = &r->seen[i];
        uint64_t h1 = e->h1 & ~RANK_MASK;
        if (!e->h0 && !h1)
            continue; /* no auditID */
        struct slot *s = slot_of(tab, cap, e->h0, h1, false);
        if (s && (int)(e->h1 & RANK_MASK) > s->rank) {
            s->rank = (int)(e->h1 & RANK_MASK);
            s->seq = i;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < r->nc; i++) {
        const struct cand *c = &r->c[i];
        const struct slot *s = c->has_id ? slot_of(tab, cap, c->h0, c->h1, false) : NULL;
        if (!c->has_id || (s && s->rank == c->rank && s->seq == c->seq))
            r->c[w++] = *c;
    }
    r->nc = w;
    free(tab);
    return KA_OK;
}

static int read_cand(struct ka_rows *r, const struct cand *c, const char **p)
{
    if (c->off + c->len <= r->spool.n) {
        *p = r->spool.p + c->off;
        return KA_OK;
    }
    ka_buf_reset(&r->rd);
    int rc = ka_buf_reserve(&r->rd, c->len);
    if (rc)
        return rc;
    if (c->len && pread(fileno(r->spill), r->rd.p, c->len, (off_t)(c->off - r->spool.n)) !=
                      (ssize_t)c->len)
        return KA_EIO;
    *p = r->rd.p;
    return KA_OK;
}

int ka_rows_finish(struct ka_rows *r, int (*fn)(void *ud, const char *raw, size_t n), void *ud)
{
    if (ka_rows_needs_all(r)) {
        int rc = select_requests(r);
        if (rc)
            return rc;
    }
    if (r->spill && fflush(r->spill))
        return KA_EIO;
    if (r->nc > 1)
        qsort_r(r->c, r->nc, sizeof *r->c, cand_cmp, r);
    size_t n = r->nc;
    if (r->q->limit && r->q->limit < n)
        n = (size_t)r->q->limit;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        int rc = read_cand(r, &r->c[i], &p);
        if (rc)
            return rc;
        rc = fn(ud, p, r->c[i].len);
        if (rc)
            return rc;
    }
    return KA_OK;
}

void ka_rows_free(struct ka_rows *r)
{
    if (!r)
        return;
    free(r->seen);
    free(r->c);
    ka_buf_free(&r->ids);
    ka_buf_free(&r->spool);
    ka_buf_free(&r->rd);
    if (r->spill)
        fclose(r->spill);
    free(r);
}
