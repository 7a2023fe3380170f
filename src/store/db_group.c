/*
 * db_group.c - the stages of a batch decided per request, before any row is written.
 *
 * Most requests arrive as two or more stages close together (RequestReceived, then
 * ResponseComplete), so a batch usually holds every stage of its requests. Grouping the rows
 * of a batch by auditID in memory lets the commit look up each request's stored stages once
 * (not once per event), in the order of the auditID hash (the lookups walk the ev_aid index
 * forwards), and decide for each row whether it is a duplicate and whether it is the
 * request's latest stage. Rows that are not the latest are written with latest = 0 from the
 * start, so the partial indexes of latest rows never receive them and no row is updated,
 * except the stored latest row of a request that a later stage supersedes.
 *
 * A bulk load into an empty store also keeps a Bloom filter of the keys it stored: a request
 * whose key the filter does not hold has no stored stage, and is not looked up. The filter is
 * dropped as soon as another connection writes to the store (PRAGMA data_version).
 *
 * The outcome is the same as deciding row by row in batch order (db_write.c did that before):
 * a stage rank already stored, or seen earlier in the batch, is a duplicate; the latest row is
 * the first row with the highest rank among the stored and the new rows.
 */
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

#define SPAN(r, b, f) ((b)->arena.p + (r)->off[f]), ((size_t)(r)->len[f])

/* A fast in-memory hash (not stored anywhere): 8 bytes at a time. */
uint64_t db_mem_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ (w * 0xBF58476D1CE4E5B9ull)) * 0x94D049BB133111EBull;
        h ^= h >> 29;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)b[i] << (8 * i);
    h = (h ^ (t * 0xBF58476D1CE4E5B9ull)) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

static int reserve(struct db_group *g, size_t n)
{
    if (n <= g->cap)
        return KA_OK;
    size_t nc = g->cap ? g->cap : 1024;
    while (nc < n)
        nc *= 2;
    uint32_t *next = realloc(g->next, nc * sizeof *next);
    if (next)
        g->next = next;
    uint8_t *act = realloc(g->act, nc);
    if (act)
        g->act = act;
    uint8_t *ranks = realloc(g->ranks, nc);
    if (ranks)
        g->ranks = ranks;
    uint8_t *okey = realloc(g->okey, nc);
    if (okey)
        g->okey = okey;
    struct db_head *heads = realloc(g->heads, nc * sizeof *heads);
    if (heads)
        g->heads = heads;
    uint32_t *slots = realloc(g->slots, 2 * nc * sizeof *slots);
    if (slots)
        g->slots = slots;
    if (!next || !act || !ranks || !okey || !heads || !slots)
        return KA_ENOMEM;
    g->cap = nc;
    return KA_OK;
}

void db_group_free(struct db_group *g)
{
    free(g->next);
    free(g->act);
    free(g->ranks);
    free(g->okey);
    free(g->heads);
    free(g->slots);
    memset(g, 0, sizeof *g);
}

/* Links the rows of each auditID (batch order) and lists the first row of each. */
static void link_rows(struct db_group *g, const struct db_batch *b)
{
    size_t mask = 2 * g->cap - 1;
    memset(g->slots, 0xff, 2 * g->cap * sizeof *g->slots);
    g->nheads = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct db_row *r = &b->rows[i];
        g->next[i] = UINT32_MAX;
        g->okey[i] = 1;
        if (r->len[DF_AID] == 0) {
            g->act[i] = DB_ACT_SINGLE;
            continue;
        }
        uint64_t h = (uint64_t)r->ah; /* hash_row's, of the auditID */
        size_t j = h & mask;
        for (; g->slots[j] != UINT32_MAX; j = (j + 1) & mask) {
            const struct db_row *o = &b->rows[g->heads[g->slots[j]].first];
            if (o->len[DF_AID] == r->len[DF_AID] &&
                memcmp(b->arena.p + o->off[DF_AID], b->arena.p + r->off[DF_AID],
                       r->len[DF_AID]) == 0)
                break;
        }
        if (g->slots[j] == UINT32_MAX) {
            g->slots[j] = (uint32_t)g->nheads;
            g->heads[g->nheads++] = (struct db_head){
                .ah = r->ah, .first = (uint32_t)i,
                .last = (uint32_t)i};
        } else {
            struct db_head *hd = &g->heads[g->slots[j]];
            g->next[hd->last] = (uint32_t)i;
            hd->last = (uint32_t)i;
        }
    }
}

static int cmp_head(const void *pa, const void *pb)
{
    const struct db_head *a = pa, *b = pb;
    if (a->ah != b->ah)
        return a->ah < b->ah ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

/* ---- the filter of stored keys ---- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

/* Sets (add) or tests the three bits of key ah; true when all were set. */
static bool seen_bits(struct db_seen *f, int64_t ah, bool add)
{
    uint64_t h = mix((uint64_t)ah), h2 = mix(h);
    uint32_t at[3] = {(uint32_t)h & (DB_SEEN_BITS - 1), (uint32_t)(h >> 32) & (DB_SEEN_BITS - 1),
                      (uint32_t)h2 & (DB_SEEN_BITS - 1)};
    bool all = true;
    for (int i = 0; i < 3; i++) {
        uint64_t m = 1ull << (at[i] & 63);
        all = all && (f->bits[at[i] >> 6] & m);
        if (add)
            f->bits[at[i] >> 6] |= m;
    }
    return all;
}

void db_seen_free(struct db_seen *f)
{
    free(f->bits);
    memset(f, 0, sizeof *f);
}

static int64_t query_int(struct ka_store *s, const char *sql, bool *row)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *row = false;
    if (db_prepare(s, sql, &st) == 0 && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        *row = true;
    }
    sqlite3_finalize(st);
    return v;
}

int db_seen_check(struct ka_store *s)
{
    struct db_seen *f = &s->seen;
    bool row = false;
    if (!s->o.bulk || (f->checked && !f->valid))
        return KA_OK;
    int64_t v = query_int(s, "PRAGMA data_version", &row);
    if (!row)
        return db_err(s, SQLITE_ERROR, "data_version");
    if (f->checked) { /* another connection committed since our last transaction */
        if (v != f->version)
            db_seen_free(f);
        f->checked = true;
        f->version = v;
        return KA_OK;
    }
    f->checked = true;
    f->version = v;
    (void)query_int(s, "SELECT 1 FROM events LIMIT 1", &row);
    if (row) /* rows of before: the filter would not know them */
        return KA_OK;
    f->bits = calloc(DB_SEEN_BITS / 64, sizeof *f->bits);
    f->valid = f->bits != NULL;
    /* an empty store: its secondary indexes are built when the load ends */
    return db_indexes_drop(s);
}

/* Whether key ah may have stored rows (always, unless the filter knows better); adds it. */
bool db_seen_maybe(struct ka_store *s, int64_t ah)
{
    return !s->seen.valid || seen_bits(&s->seen, ah, true);
}

/* The stored stages of hd's auditID, from its latest row (ev_aid holds only those): a bit
 * per rank, the best rank and its row. */
static int stored_ranks(struct ka_store *s, const struct db_head *hd, unsigned *mask,
                        int *best, int64_t *best_id)
{
    const struct db_batch *b = s->wb;
    const struct db_row *r = &b->rows[hd->first];
    sqlite3_stmt *st = s->st_ranks;
    int rc;
    *mask = 0;
    *best = -1;
    *best_id = 0;
    if (!db_seen_maybe(s, hd->ah))
        return KA_OK;
    sqlite3_bind_int64(st, 1, hd->ah);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 3) != r->len[DF_AID] ||
            memcmp(sqlite3_column_blob(st, 3), b->arena.p + r->off[DF_AID],
                   r->len[DF_AID]) != 0)
            continue; /* another auditID with the same hash */
        int k = sqlite3_column_int(st, 1);
        *mask |= (unsigned)sqlite3_column_int(st, 0) | 1u << (k & 7);
        if (k > *best) {
            *best = k;
            *best_id = sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? KA_OK : db_err(s, rc, "stage lookup");
}

/* Whether rows x and y have the same ev_obj key, apiGroup, subresource and (present)
 * requestReceivedTimestamp: then a query finds either through the other (db_query.c). */
static bool same_obj(const struct db_batch *b, const struct db_row *x, const struct db_row *y)
{
    static const enum db_field f[] = {DF_RES, DF_NAME, DF_VERB, DF_NS, DF_SUB, DF_APIGROUP};
    if (!x->has_ts || !y->has_ts || x->ts != y->ts)
        return false;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (x->len[f[i]] != y->len[f[i]] ||
            memcmp(b->arena.p + x->off[f[i]], b->arena.p + y->off[f[i]], x->len[f[i]]) != 0)
            return false;
    return true;
}

/*
 * The okey column of a request's new rows, given its new latest row win: ev_obj (WHERE
 * okey = 1) holds the latest row, and another stage only when its object or timestamp differs
 * from the latest row's (most requests: one entry instead of two or three). Every row with
 * okey = 0 thus has a row of the same request with okey = 1, the same key columns and the
 * same ts (both leave together in retention, which deletes whole timestamps); okey is never
 * cleared afterwards.
 */
static void mark_okey(struct db_group *g, const struct db_batch *b, const struct db_head *hd,
                      uint32_t win)
{
    for (uint32_t i = hd->first; i != UINT32_MAX; i = g->next[i])
        if (i != win && g->act[i] == DB_ACT_INSERT)
            g->okey[i] = !same_obj(b, &b->rows[i], &b->rows[win]);
}

/* Decides the rows of one request; *new_req when it had no stored stage. */
static int decide(struct ka_store *s, const struct db_head *hd, bool *new_req)
{
    struct db_group *g = &s->grp;
    const struct db_batch *b = s->wb;
    unsigned mask;
    int best;
    int64_t best_id;
    int rc = stored_ranks(s, hd, &mask, &best, &best_id);
    if (rc)
        return rc;
    *new_req = best < 0;
    unsigned stored = mask;
    uint32_t win = UINT32_MAX;
    for (uint32_t i = hd->first; i != UINT32_MAX; i = g->next[i]) {
        int k = b->rows[i].rank;
        if (mask & (1u << (k & 7))) {
            g->act[i] = DB_ACT_DUP;
            continue;
        }
        mask |= 1u << (k & 7);
        g->act[i] = DB_ACT_INSERT;
        if (k > best) {
            best = k;
            win = i;
        }
    }
    if (win != UINT32_MAX) {
        g->act[win] = DB_ACT_LATEST;
        g->ranks[win] = (uint8_t)mask;
        mark_okey(g, b, hd, win);
    }
    if (best_id == 0 || mask == stored)
        return KA_OK;
    /* the stored latest row: no longer latest, or it learns the new earlier stages */
    sqlite3_stmt *st = win != UINT32_MAX ? s->st_unlatest : s->st_setranks;
    sqlite3_bind_int64(st, 1, best_id);
    if (win == UINT32_MAX)
        sqlite3_bind_int(st, 2, (int)mask);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? KA_OK : db_err(s, rc, "latest update");
}

/* Fills s->grp.act for every row of s->wb; *reqs += requests that are new to the store. */
int db_group_decide(struct ka_store *s, uint64_t *reqs)
{
    struct db_group *g = &s->grp;
    const struct db_batch *b = s->wb;
    if (b->n >= UINT32_MAX / 2)
        return KA_ETOOBIG;
    int rc = reserve(g, b->n);
    if (rc)
        return rc;
    link_rows(g, b);
    if (g->nheads > 1)
        qsort(g->heads, g->nheads, sizeof *g->heads, cmp_head);
    for (size_t i = 0; rc == 0 && i < g->nheads; i++) {
        bool nr = false;
        rc = decide(s, &g->heads[i], &nr);
        *reqs += nr;
    }
    return rc;
}
