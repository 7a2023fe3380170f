/*
 * db_insert.c - the store's write path: events are copied into a batch (their columns
 * decoded, their canonical encoding appended to an arena), and ka_store_commit() writes the
 * batch in one transaction:
 *   - strings of few distinct values (users, verbs, resources, namespaces, user agents, ...)
 *     are interned in the strs table through an in-memory cache, so rows and indexes hold
 *     small integers;
 *   - the request's other stages are looked up in ev_aid: an existing (auditID, stage) is a
 *     duplicate and is ignored; the row with the highest stage rank is flagged latest;
 *   - the canonical line is compressed with zstd, with the store's dictionary when it has one.
 *     A batch that reaches DB_DICT_TRAIN_ROWS events trains it as it fills (here, on the
 *     caller's thread), else the first committed batch of at least DB_DICT_MIN_SAMPLES; the
 *     writer saves it (zdict table) with the first rows that use it.
 * What the writer would otherwise compute per row (key and string hashes) is computed here, so
 * that in pipelined commits it is done while the writer thread is busy with SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover (exported by libzstd) */
#include <zdict.h>

#include "db_int.h"

#define DB_DICT_MIN_SAMPLES 1000u
#define DB_DICT_MAX_SAMPLES 20000u
#define DB_DICT_SIZE (64u << 10)
/* A batch of this many rows trains the dictionary as soon as it has them, on the caller's
 * thread, so that the first batch is compressed there too and committed in the background. */
#define DB_DICT_TRAIN_ROWS 8192u

#define SPAN(r, b, f) ((b)->arena.p + (r)->off[f]), ((size_t)(r)->len[f])

/* ---- batch: copying events in ---- */

static int put_str(struct db_batch *b, struct db_row *r, enum db_field f, struct ka_str s)
{
    size_t before = b->arena.n;
    r->off[f] = before;
    int rc = s.set ? ka_str_decode_buf(s, &b->arena) : KA_OK;
    r->len[f] = (uint32_t)(b->arena.n - before);
    return rc;
}

/* A JSON array of strings, decoded and joined with LF. */
static int put_list(struct db_batch *b, struct db_row *r, enum db_field f, struct ka_raw arr)
{
    struct ka_json_iter it;
    struct ka_raw v;
    size_t before = b->arena.n;
    int rc = KA_OK;
    ka_json_iter_init(&it, arr);
    for (bool first = true; rc == 0 && ka_json_iter_elem(&it, &v); first = false) {
        if (!first)
            rc = ka_buf_putc(&b->arena, '\n');
        if (rc == 0 && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            rc = ka_str_decode_buf(ka_str_from_raw(v.p, v.n), &b->arena);
    }
    r->off[f] = before;
    r->len[f] = (uint32_t)(b->arena.n - before);
    return rc;
}

/* The decision and cluster annotations. */
static int put_annotations(struct db_batch *b, struct db_row *r, struct ka_raw ann)
{
    struct ka_json_iter it;
    struct ka_str key;
    struct ka_raw v;
    int rc = KA_OK;
    r->decision = DD_NONE;
    ka_json_iter_init(&it, ann);
    while (rc == 0 && ka_json_iter_member(&it, &key, &v)) {
        if (ka_json_type_of(v.p, v.n) != KA_JSON_STRING)
            continue;
        struct ka_str val = ka_str_from_raw(v.p, v.n);
        if (ka_str_eq(key, KA_QUERY_CLUSTER_ANN, strlen(KA_QUERY_CLUSTER_ANN))) {
            r->has_cluster = true;
            rc = put_str(b, r, DF_CLUSTER, val);
        } else if (ka_str_eq(key, KA_QUERY_DECISION_ANN, strlen(KA_QUERY_DECISION_ANN))) {
            r->decision = ka_str_eq(val, "allow", 5)    ? DD_ALLOW
                          : ka_str_eq(val, "forbid", 6) ? DD_FORBID
                                                        : DD_OTHER;
        }
    }
    return rc;
}

static int64_t time_ns(struct ka_time t)
{
    return t.sec * 1000000000 + t.nsec;
}

static int fill_row(struct db_batch *b, struct db_row *r, const struct ka_event *ev)
{
    const struct ka_objref *o = &ev->objectRef;
    int rc = put_str(b, r, DF_AID, ev->auditID);
    rc = rc ? rc : put_str(b, r, DF_USER, ev->user.username);
    r->has_as = ev->impersonatedUser.present;
    rc = rc ? rc : put_str(b, r, DF_AS, ev->impersonatedUser.username);
    rc = rc ? rc : put_list(b, r, DF_GROUPS, ev->user.groups);
    rc = rc ? rc : put_str(b, r, DF_VERB, ev->verb);
    rc = rc ? rc : put_str(b, r, DF_APIGROUP, o->apiGroup);
    rc = rc ? rc : put_str(b, r, DF_RES, o->resource);
    rc = rc ? rc : put_str(b, r, DF_SUB, o->subresource);
    rc = rc ? rc : put_str(b, r, DF_NS, o->namespace_);
    rc = rc ? rc : put_str(b, r, DF_NAME, o->name);
    rc = rc ? rc : put_list(b, r, DF_IPS, ev->sourceIPs);
    rc = rc ? rc : put_str(b, r, DF_UA, ev->userAgent);
    r->off[DF_CLUSTER] = b->arena.n;
    rc = rc ? rc : put_annotations(b, r, ev->annotations);
    if (rc)
        return rc;
    r->has_ts = ev->requestReceivedTimestamp.set;
    r->ts = r->has_ts ? time_ns(ev->requestReceivedTimestamp) : 0;
    r->has_sts = ev->stageTimestamp.set;
    r->sts = r->has_sts ? time_ns(ev->stageTimestamp) : 0;
    r->has_code = ev->responseStatus.present && ev->responseStatus.has_code;
    r->code = r->has_code ? ev->responseStatus.code : 0;
    r->rank = ev->stage_v == KA_STAGE_UNKNOWN ? 0 : (int)ev->stage_v + 1; /* query.h's rank */
    r->level = (int)ev->level_v;
    return KA_OK;
}

/* The interned kind of each field (0: not interned). */
static const uint8_t field_kind[DF_NFIELDS] = {
    [DF_USER] = DK_USER, [DF_AS] = DK_USER,  [DF_GROUPS] = DK_GROUPS, [DF_VERB] = DK_VERB,
    [DF_APIGROUP] = DK_APIGROUP, [DF_RES] = DK_RES, [DF_SUB] = DK_SUB, [DF_NS] = DK_NS,
    [DF_IPS] = DK_IPS, [DF_UA] = DK_UA, [DF_CLUSTER] = DK_CLUSTER};

/* The hashes the commit needs, computed here, on the caller's thread, not by the writer. */
static void hash_row(const struct db_batch *b, struct db_row *r)
{
    for (int f = 0; f < DF_NFIELDS; f++)
        if (field_kind[f])
            r->sh[f] = db_mem_hash(SPAN(r, b, f), field_kind[f]);
    r->ah = r->len[DF_AID] ? (int64_t)db_hash(SPAN(r, b, DF_AID), 0)
                           : (int64_t)db_hash(b->lines.p + r->off[DF_LINE], r->len[DF_LINE], 7);
}

static int train_dict(struct ka_store *s, const struct db_batch *b);

/* The dictionary is settled: the store has one, or none is wanted, or b is large enough to
 * train one on (then trained here, in memory; the writer saves it with its first batch). The
 * first add looks for the store's dictionary. No commit is in flight while there is none. */
static int dict_settled(struct ka_store *s, const struct db_batch *b, bool *settled)
{
    int rc = KA_OK;
    if (!s->dict_checked && !s->o.no_dict) {
        s->dict_checked = true;
        rc = db_ensure_dict(s, false);
    }
    if (rc == 0 && !s->cdict && !s->o.no_dict && b->n >= DB_DICT_TRAIN_ROWS)
        rc = train_dict(s, b);
    *settled = s->cdict || s->o.no_dict;
    return rc;
}

/* Compresses the blocks of b that are not yet (the dictionary is settled). */
static int pack_blocks(struct ka_store *s, struct db_batch *b)
{
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < b->nblk; i++) {
        struct db_blk *k = &b->blks[i];
        if (k->packed)
            continue;
        size_t zmark = b->zarena.n;
        k->zoff = zmark;
        rc = db_compress(s, &s->cz, b->lines.p + k->loff, k->lsize, &b->zarena);
        k->zlen = (uint32_t)(b->zarena.n - zmark);
        k->zown = s->cdict != NULL;
        k->packed = rc == 0;
        if (rc)
            b->zarena.n = zmark;
    }
    return rc;
}

/* The rows and lines after the last closed block. */
static void open_block(const struct db_batch *b, uint32_t *first, uint64_t *loff)
{
    const struct db_blk *l = b->nblk ? &b->blks[b->nblk - 1] : NULL;
    *first = l ? l->first + l->n : 0;
    *loff = l ? l->loff + l->lsize : 0;
}

/*
 * Closes the open block; the blocks are compressed now when the dictionary is settled, so that
 * an asynchronous commit only writes, unless the writer has time to spare (s->writer_packs);
 * otherwise the commit compresses them.
 */
int db_batch_seal(struct ka_store *s, struct db_batch *b)
{
    uint32_t first;
    uint64_t loff;
    bool settled = false;
    open_block(b, &first, &loff);
    if (first >= b->n)
        return KA_OK;
    if (b->nblk == b->capblk) {
        size_t nc = b->capblk ? b->capblk * 2 : 64;
        struct db_blk *nv = realloc(b->blks, nc * sizeof *nv);
        if (!nv)
            return KA_ENOMEM;
        b->blks = nv;
        b->capblk = nc;
    }
    struct db_blk *k = &b->blks[b->nblk];
    *k = (struct db_blk){.first = first, .n = (uint32_t)(b->n - first), .loff = loff,
                         .lsize = (uint32_t)(b->lines.n - loff)};
    b->nblk++; /* packed or not: the commit compresses an unpacked block */
    int rc = dict_settled(s, b, &settled);
    if (rc == 0 && settled && !s->writer_packs)
        (void)pack_blocks(s, b); /* the commit compresses what failed here, and reports it */
    return KA_OK;
}

bool db_batch_packed(const struct db_batch *b)
{
    for (size_t i = 0; i < b->nblk; i++)
        if (!b->blks[i].packed)
            return false;
    return true;
}

void db_batch_reset(struct db_batch *b)
{
    b->n = 0;
    b->nblk = 0;
    ka_buf_reset(&b->arena);
    ka_buf_reset(&b->lines);
    ka_buf_reset(&b->zarena);
}

/* Closes the open block when it is full. */
static int maybe_seal(struct ka_store *s, struct db_batch *b)
{
    uint32_t first;
    uint64_t loff;
    open_block(b, &first, &loff);
    if (b->n - first >= DB_BLK_ROWS || b->lines.n - loff >= DB_BLK_BYTES)
        return db_batch_seal(s, b);
    return KA_OK;
}

/* Room for one more row in the fill batch. */
static int row_room(struct db_batch *b)
{
    if (b->n >= KA_STORE_MAX_BATCH || b->arena.n + b->lines.n >= KA_STORE_MAX_BATCH_BYTES)
        return KA_ETOOBIG;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        struct db_row *nv = realloc(b->rows, nc * sizeof *nv);
        if (!nv)
            return KA_ENOMEM;
        b->rows = nv;
        b->cap = nc;
    }
    return KA_OK;
}

/* Adds ev, whose canonical line (without LF) is already at the end of the batch's lines, from
 * lmark on; on error the line is taken back. */
static int add_row(struct ka_store *s, const struct ka_event *ev, size_t lmark)
{
    struct db_batch *b = s->fill;
    size_t len = b->lines.n - lmark, mark = b->arena.n;
    int rc = len > KA_STORE_MAX_EVENT ? KA_ETOOBIG : KA_OK;
    struct db_row *r = &b->rows[b->n];
    if (rc == 0) {
        memset(r, 0, sizeof *r);
        r->off[DF_LINE] = lmark;
        r->len[DF_LINE] = (uint32_t)len;
        rc = fill_row(b, r, ev);
    }
    if (rc == 0)
        hash_row(b, r);
    if (rc) {
        b->arena.n = mark;
        b->lines.n = lmark;
        return rc;
    }
    b->n++;
    (void)maybe_seal(s, b); /* the row is in; a block that could not close now closes later */
    return KA_OK;
}

int ka_store_add(struct ka_store *s, const struct ka_event *ev)
{
    struct db_batch *b = s->fill;
    if (s->o.readonly)
        return KA_EINVAL;
    int rc = row_room(b);
    if (rc)
        return rc;
    /* encoded in place, at the end of the batch's lines */
    size_t lmark = b->lines.n;
    struct ka_write_opts wo = {0};
    rc = ka_event_write(ev, &wo, &b->lines);
    if (rc) {
        b->lines.n = lmark;
        return rc;
    }
    b->lines.n--; /* without the LF */
    return add_row(s, ev, lmark);
}

int ka_store_add_canonical(struct ka_store *s, const struct ka_event *ev, const char *line,
                           size_t len)
{
    if (s->o.readonly)
        return KA_EINVAL;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    struct db_batch *b = s->fill;
    int rc = row_room(b);
    if (rc)
        return rc;
    if (len > KA_STORE_MAX_EVENT)
        return KA_ETOOBIG;
    size_t lmark = b->lines.n;
    rc = ka_buf_append(&b->lines, line, len);
    return rc ? rc : add_row(s, ev, lmark);
}

int ka_store_add_line(struct ka_store *s, const char *line, size_t len)
{
    struct ka_event ev;
    struct ka_scan_err se;
    if (len > KA_STORE_MAX_EVENT)
        return KA_ETOOBIG;
    int rc = ka_event_scan(line, len, NULL, &ev, &se);
    return rc ? rc : ka_store_add(s, &ev);
}

size_t ka_store_pending(const struct ka_store *s)
{
    return s->fill->n;
}

void ka_store_discard(struct ka_store *s)
{
    db_batch_reset(s->fill);
}

void db_batch_free(struct db_batch *b)
{
    free(b->rows);
    free(b->blks);
    ka_buf_free(&b->arena);
    ka_buf_free(&b->lines);
    ka_buf_free(&b->zarena);
    memset(b, 0, sizeof *b);
}

/* ---- interned strings ---- */

void db_cache_free(struct db_strcache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->v[i].s);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int cache_grow(struct db_strcache *c)
{
    size_t nc = c->cap ? c->cap * 2 : 1024;
    struct db_strent *nv = calloc(nc, sizeof *nv);
    if (!nv)
        return KA_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->v[i].s)
            continue;
        size_t j = c->v[i].hash & (nc - 1);
        while (nv[j].s)
            j = (j + 1) & (nc - 1);
        nv[j] = c->v[i];
    }
    free(c->v);
    c->v = nv;
    c->cap = nc;
    return KA_OK;
}

static struct db_strent *cache_find(struct db_strcache *c, uint64_t h, uint8_t kind,
                                    const char *p, size_t n)
{
    size_t j = h & (c->cap - 1);
    for (; c->v[j].s; j = (j + 1) & (c->cap - 1)) {
        struct db_strent *e = &c->v[j];
        if (e->hash == h && e->kind == kind && e->n == n && memcmp(e->s, p, n) == 0)
            return e;
    }
    return &c->v[j]; /* the empty slot */
}

static int lookup_db(struct ka_store *s, enum db_kind kind, const char *p, size_t n, int64_t *id)
{
    sqlite3_stmt *st = s->st_str_ins;
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, n ? p : "", (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_err(s, rc, "strs insert");
    st = s->st_str_get;
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, n ? p : "", (int)n, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? KA_OK : db_err(s, rc, "strs lookup");
}

/* Interned id of (kind, p[0..n)); the id is stable once its transaction commits. */
int db_intern(struct ka_store *s, enum db_kind kind, const char *p, size_t n, int64_t *id)
{
    return db_intern_h(s, kind, p, n, db_mem_hash(p, n, (uint64_t)kind), id);
}

int db_intern_h(struct ka_store *s, enum db_kind kind, const char *p, size_t n, uint64_t h,
                int64_t *id)
{
    struct db_strcache *c = &s->cache;
    if ((c->n + 1) * 2 > c->cap && cache_grow(c))
        return KA_ENOMEM;
    struct db_strent *e = cache_find(c, h, (uint8_t)kind, p, n);
    if (e->s)
        return *id = e->id, KA_OK;
    int rc = lookup_db(s, kind, p, n, id);
    if (rc)
        return rc;
    char *copy = malloc(n + 1);
    if (!copy)
        return KA_ENOMEM;
    memcpy(copy, p, n);
    copy[n] = 0;
    *e = (struct db_strent){.hash = h, .id = *id, .s = copy, .n = (uint32_t)n, .kind = kind};
    c->n++;
    return KA_OK;
}

/* ---- dictionary ---- */

int db_save_dict(struct ka_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "INSERT INTO zdict(created, data) VALUES(?, ?)", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
    sqlite3_bind_blob(st, 2, s->dict_data, (int)s->dict_size, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_err(s, rc, "zdict insert");
    s->cdict_id = sqlite3_last_insert_rowid(s->db);
    return KA_OK;
}

/* Trains a dictionary on the first lines of b, kept in memory until the writer saves it.
 * Failure to train is not an error: the rows are then compressed without one. */
static int train_dict(struct ka_store *s, const struct db_batch *b)
{
    size_t n = b->n < DB_DICT_MAX_SAMPLES ? b->n : DB_DICT_MAX_SAMPLES;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += b->rows[i].len[DF_LINE];
    char *samples = malloc(total ? total : 1);
    size_t *sizes = malloc((n ? n : 1) * sizeof *sizes);
    void *dict = malloc(DB_DICT_SIZE);
    int rc = KA_ENOMEM;
    if (samples && sizes && dict) {
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            sizes[i] = b->rows[i].len[DF_LINE];
            memcpy(samples + at, b->lines.p + b->rows[i].off[DF_LINE], sizes[i]);
            at += sizes[i];
        }
        /* fastCover with fixed parameters: ZDICT_trainFromBuffer searches the segment size
         * k and took 0.21 s of a 1 M-event load (the load waits for it); k = 1536 is about
         * what that search picks on audit events (1511 on `kaudit gen` data) and trains in
         * 0.05 s, for 0.2% more bytes on disk there. */
        ZDICT_fastCover_params_t p;
        memset(&p, 0, sizeof p);
        p.k = 1536;
        p.d = 8;
        p.f = 20;
        p.accel = 1;
        p.splitPoint = 1.0;
        p.zParams.compressionLevel = s->o.zstd_level;
        size_t dn = ZDICT_trainFromBuffer_fastCover(dict, DB_DICT_SIZE, samples, sizes,
                                                    (unsigned)n, p);
        rc = KA_OK;
        if (!ZDICT_isError(dn)) {
            s->cdict = ZSTD_createCDict(dict, dn, s->o.zstd_level);
            rc = s->cdict ? KA_OK : KA_ENOMEM;
            s->dict_data = rc == 0 ? dict : NULL;
            s->dict_size = rc == 0 ? dn : 0;
            s->cdict_id = 0;
            dict = rc == 0 ? NULL : dict;
        }
    }
    free(samples);
    free(sizes);
    free(dict);
    return rc;
}

/* The newest dictionary of the store, if any; else trains one when the batch is large. */
int db_ensure_dict(struct ka_store *s, bool may_train)
{
    if (s->cdict || s->o.no_dict)
        return KA_OK;
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "SELECT id, data FROM zdict ORDER BY id DESC LIMIT 1", &st);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        s->cdict = ZSTD_createCDict(sqlite3_column_blob(st, 1),
                                    (size_t)sqlite3_column_bytes(st, 1), s->o.zstd_level);
        s->cdict_id = sqlite3_column_int64(st, 0);
        rc = s->cdict ? KA_OK : KA_ENOMEM;
    } else if (may_train && s->wb->n >= DB_DICT_MIN_SAMPLES) {
        rc = train_dict(s, s->wb);
    }
    sqlite3_finalize(st);
    return rc;
}
