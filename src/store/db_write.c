/*
 * db_write.c - the store's commit path: one transaction per batch (a bulk load: one per
 * DB_BULK_TXN_ROWS rows, a savepoint per batch). For each row: the request's stored stages are
 * looked up by the auditID's hash in ev_aid, which holds each request's latest row and its
 * ranks (the auditID itself is compared in the row), an existing (auditID, stage) is a
 * duplicate and is ignored, the row with the highest stage rank is flagged latest (the
 * previous latest row loses the flag);
 * strings are interned (db_insert.c). The canonical lines go to blocks of consecutive rows
 * (compressed when the block closed, or here); a block none of whose rows is inserted (a
 * replay) is not written, and blocks.live counts the rows that point to it.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_forceAttachDict, a parameter (no static-only symbol) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static const char *const sql_ins =
    "INSERT INTO events(aid, rank, ah, latest, ts, sts, user_id, as_id, groups_id, verb_id,"
    " apigroup_id, res_id, sub_id, ns_id, name, code, decision, ips_id, ua_id, cluster_id,"
    " level, blk, boff, bsize, ranks, okey)"
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char *const sql_blk = "INSERT INTO blocks(dict, size, live, data) VALUES(?,?,?,?)";

#define SPAN(r, b, f) ((b)->arena.p + (r)->off[f]), ((size_t)(r)->len[f])

/* Bulk loads (opts.bulk) commit once per this many rows, not once per batch: an index page
 * that consecutive batches touch is then written to the WAL once, not once per batch. */
#define DB_BULK_TXN_ROWS 262144u


static int prepare_writer(struct ka_store *s)
{
    if (s->st_ins)
        return KA_OK;
    int rc = db_prepare(s, sql_ins, &s->st_ins);
    rc = rc ? rc : db_prepare(s, "SELECT ranks, rank, id, aid FROM events WHERE ah = ?"
                                 " AND latest = 1", &s->st_ranks);
    rc = rc ? rc : db_prepare(s, "UPDATE events SET ranks = ?2 WHERE id = ?1", &s->st_setranks);
    rc = rc ? rc : db_prepare(s, sql_blk, &s->st_blk);
    rc = rc ? rc : db_prepare(s, "UPDATE events SET latest = 0, ranks = 0 WHERE id = ?", &s->st_unlatest);
    rc = rc ? rc : db_prepare(s, "INSERT OR IGNORE INTO strs(kind, s) VALUES(?, ?)", &s->st_str_ins);
    rc = rc ? rc : db_prepare(s, "SELECT id FROM strs WHERE kind = ? AND s = ?", &s->st_str_get);
    rc = rc ? rc : db_prepare(s, "UPDATE meta SET v = v + ? WHERE k = ?", &s->st_meta_add);
    return rc;
}

void db_writer_free(struct ka_store *s)
{
    sqlite3_finalize(s->st_ins);
    sqlite3_finalize(s->st_ranks);
    sqlite3_finalize(s->st_blk);
    s->st_blk = NULL;
    sqlite3_finalize(s->st_unlatest);
    sqlite3_finalize(s->st_str_ins);
    sqlite3_finalize(s->st_str_get);
    sqlite3_finalize(s->st_meta_add);
    sqlite3_finalize(s->st_setranks);
    s->st_setranks = NULL;
    s->st_ins = s->st_ranks = s->st_unlatest = s->st_str_ins = s->st_str_get = NULL;
    s->st_meta_add = NULL;
    db_zctx_free(&s->cz);
    db_zctx_free(&s->wz);
    ZSTD_freeCDict(s->cdict);
    free(s->dict_data);
    s->dict_data = NULL;
    s->cdict = NULL;
    db_cache_free(&s->cache);
    db_group_free(&s->grp);
    db_seen_free(&s->seen);
    db_batch_free(&s->bat[0]);
    db_batch_free(&s->bat[1]);
    ka_buf_free(&s->zbuf);
}

/*
 * Where the row stands among its request's stored stages: *dup when its rank is stored,
 * *latest when its rank is above all; *prev_id = the previous latest row (0 if none).
 */
static int rank_state(struct ka_store *s, const struct db_row *r, int64_t ah, bool *dup,
                      bool *latest, int64_t *prev_id)
{
    const struct db_batch *b = s->wb;
    const char *aid = b->arena.p + r->off[DF_AID];
    size_t n = r->len[DF_AID];
    sqlite3_stmt *st = s->st_ranks;
    int best = -1, rc = SQLITE_DONE;
    *dup = false;
    *prev_id = 0;
    *latest = true;
    if (!db_seen_maybe(s, ah))
        return KA_OK;
    sqlite3_bind_int64(st, 1, ah);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* the hash only narrows: the auditID itself decides */
        if ((size_t)sqlite3_column_bytes(st, 3) != n ||
            (n && memcmp(sqlite3_column_blob(st, 3), aid, n) != 0)) /* '' is a NULL blob */
            continue;
        int k = sqlite3_column_int(st, 1);
        unsigned ranks = (unsigned)sqlite3_column_int(st, 0) | 1u << (k & 7);
        if (ranks & (1u << (r->rank & 7)))
            *dup = true;
        if (k > best) {
            best = k;
            *prev_id = sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_err(s, rc, "stage lookup");
    *latest = r->rank > best;
    if (!*latest)
        *prev_id = 0;
    return KA_OK;
}

void db_zctx_free(struct db_zctx *z)
{
    ZSTD_freeCCtx(z->cc);
    memset(z, 0, sizeof *z);
}

/* Frames without content size and dictionary id: the row keeps both (saves ~6 bytes). */
static int setup_zctx(struct ka_store *s, struct db_zctx *z)
{
    if (!z->cc && !(z->cc = ZSTD_createCCtx()))
        return KA_ENOMEM;
    size_t e = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_compressionLevel, s->o.zstd_level);
    if (!ZSTD_isError(e))
        e = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_contentSizeFlag, 0);
    if (!ZSTD_isError(e))
        e = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_dictIDFlag, 0);
    /* Use the dictionary's tables in place: copying them for every ~1 KB event costs more
     * than compressing it. */
    if (!ZSTD_isError(e))
        e = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
    if (!ZSTD_isError(e))
        e = ZSTD_CCtx_refCDict(z->cc, s->cdict);
    if (ZSTD_isError(e))
        return KA_EINVAL;
    z->cdict = s->cdict;
    z->set = true;
    return KA_OK;
}

int db_compress(struct ka_store *s, struct db_zctx *z, const char *p, size_t n,
                struct ka_buf *out)
{
    if (!z->set || z->cdict != s->cdict) {
        int rc = setup_zctx(s, z);
        if (rc)
            return rc;
    }
    size_t bound = ZSTD_compressBound(n);
    if (ka_buf_reserve(out, bound))
        return KA_ENOMEM;
    size_t zn = ZSTD_compress2(z->cc, out->p + out->n, bound, p, n);
    if (ZSTD_isError(zn)) {
        snprintf(s->errmsg, sizeof s->errmsg, "zstd: %s", ZSTD_getErrorName(zn));
        return KA_EIO;
    }
    out->n += zn;
    return KA_OK;
}

static int bind_id(struct ka_store *s, int col, enum db_kind k, const struct db_row *r,
                   enum db_field f)
{
    int64_t id;
    const struct db_batch *b = s->wb;
    int rc = db_intern_h(s, k, SPAN(r, b, f), r->sh[f], &id);
    if (rc == 0)
        sqlite3_bind_int64(s->st_ins, col, id);
    return rc;
}

static int bind_ids(struct ka_store *s, const struct db_row *r)
{
    sqlite3_stmt *st = s->st_ins;
    int rc = bind_id(s, 7, DK_USER, r, DF_USER);
    if (r->has_as)
        rc = rc ? rc : bind_id(s, 8, DK_USER, r, DF_AS);
    else
        sqlite3_bind_null(st, 8);
    rc = rc ? rc : bind_id(s, 9, DK_GROUPS, r, DF_GROUPS);
    rc = rc ? rc : bind_id(s, 10, DK_VERB, r, DF_VERB);
    rc = rc ? rc : bind_id(s, 11, DK_APIGROUP, r, DF_APIGROUP);
    rc = rc ? rc : bind_id(s, 12, DK_RES, r, DF_RES);
    rc = rc ? rc : bind_id(s, 13, DK_SUB, r, DF_SUB);
    rc = rc ? rc : bind_id(s, 14, DK_NS, r, DF_NS);
    rc = rc ? rc : bind_id(s, 18, DK_IPS, r, DF_IPS);
    rc = rc ? rc : bind_id(s, 19, DK_UA, r, DF_UA);
    if (r->has_cluster)
        rc = rc ? rc : bind_id(s, 20, DK_CLUSTER, r, DF_CLUSTER);
    else
        sqlite3_bind_null(st, 20);
    return rc;
}

static void bind_opt_int64(sqlite3_stmt *st, int col, bool has, int64_t v)
{
    if (has)
        sqlite3_bind_int64(st, col, v);
    else
        sqlite3_bind_null(st, col);
}

/* Inserts the row; its block is blk, its line at boff in the block. latest_ranks: 0 for a row
 * that is not its request's latest, else the request's stages (a bit per rank); okey: whether
 * ev_obj holds it. */
static int insert_row(struct ka_store *s, const struct db_row *r, int latest_ranks, int okey,
                      int64_t blk, uint64_t boff)
{
    const struct db_batch *b = s->wb;
    sqlite3_stmt *st = s->st_ins;
    int rc = bind_ids(s, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, r->len[DF_AID] ? b->arena.p + r->off[DF_AID] : "",
                      (int)r->len[DF_AID], SQLITE_STATIC);
    sqlite3_bind_int(st, 2, r->rank);
    sqlite3_bind_int64(st, 3, r->ah);
    sqlite3_bind_int(st, 4, latest_ranks != 0);
    bind_opt_int64(st, 5, r->has_ts, r->ts);
    bind_opt_int64(st, 6, r->has_sts, r->sts);
    sqlite3_bind_text(st, 15, r->len[DF_NAME] ? b->arena.p + r->off[DF_NAME] : "",
                      (int)r->len[DF_NAME], SQLITE_STATIC);
    bind_opt_int64(st, 16, r->has_code, r->code);
    sqlite3_bind_int(st, 17, r->decision);
    sqlite3_bind_int(st, 21, r->level);
    sqlite3_bind_int64(st, 22, blk);
    sqlite3_bind_int64(st, 23, (int64_t)boff);
    sqlite3_bind_int64(st, 24, (int64_t)r->len[DF_LINE]);
    sqlite3_bind_int(st, 25, latest_ranks);
    sqlite3_bind_int(st, 26, okey);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? KA_OK : db_err(s, rc, "insert");
}

/* A row without auditID is a request of its own, known by its content's hash: decides it. */
static int decide_single(struct ka_store *s, size_t i)
{
    const struct db_row *r = &s->wb->rows[i];
    bool dup = false, latest = true;
    int64_t prev = 0;
    int rc = rank_state(s, r, r->ah, &dup, &latest, &prev);
    if (rc == 0 && dup)
        s->grp.act[i] = DB_ACT_DUP;
    return rc;
}

/* Inserts block k (compressed now if it was not yet) with live rows; *id its rowid. */
static int insert_block(struct ka_store *s, const struct db_blk *k, uint32_t live, int64_t *id)
{
    const struct db_batch *b = s->wb;
    sqlite3_stmt *st = s->st_blk;
    int rc = KA_OK;
    if (!k->packed) {
        ka_buf_reset(&s->zbuf);
        rc = db_compress(s, &s->wz, b->lines.p + k->loff, k->lsize, &s->zbuf);
        if (rc)
            return rc;
    }
    sqlite3_bind_int64(st, 1, (k->packed ? k->zown : s->cdict != NULL) ? s->cdict_id : 0);
    sqlite3_bind_int64(st, 2, (int64_t)k->lsize);
    sqlite3_bind_int64(st, 3, (int64_t)live);
    if (k->packed)
        sqlite3_bind_blob(st, 4, b->zarena.p + k->zoff, (int)k->zlen, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 4, s->zbuf.p, (int)s->zbuf.n, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return db_err(s, step, "insert block");
    *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* Sets the live count of block id (when rows without auditID turned out duplicates). */
static int set_live(struct ka_store *s, int64_t id, uint32_t live)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, live ? "UPDATE blocks SET live = ?2 WHERE id = ?1"
                                : "DELETE FROM blocks WHERE id = ?1 AND ?2 = 0", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)live);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? KA_OK : db_err(s, step, "block live count");
}

/*
 * Block k: the rows db_group_decide kept (a row without auditID is decided here, after the
 * rows before it were written), and the block, written before its first row when any is kept.
 */
static int write_block(struct ka_store *s, const struct db_blk *k, uint64_t *ins, uint64_t *reqs,
                       uint64_t *raw)
{
    const struct db_batch *b = s->wb;
    uint32_t live = 0, kept = 0;
    int64_t blk = 0;
    int rc = KA_OK;
    for (size_t i = k->first; i < k->first + k->n; i++)
        live += s->grp.act[i] != DB_ACT_DUP;
    for (size_t i = k->first; rc == 0 && i < k->first + k->n; i++) {
        const struct db_row *r = &b->rows[i];
        uint8_t act = s->grp.act[i];
        if (act == DB_ACT_SINGLE)
            rc = decide_single(s, i);
        if (rc || s->grp.act[i] == DB_ACT_DUP)
            continue;
        if (blk == 0)
            rc = insert_block(s, k, live, &blk);
        int ranks = act == DB_ACT_INSERT ? 0
                    : act == DB_ACT_SINGLE ? 1 << (r->rank & 7) : s->grp.ranks[i];
        rc = rc ? rc : insert_row(s, r, ranks, s->grp.okey[i], blk, r->off[DF_LINE] - k->loff);
        if (rc == 0) {
            kept++;
            (*ins)++;
            *reqs += act == DB_ACT_SINGLE;
            *raw += r->len[DF_LINE] + 1u;
        }
    }
    if (rc == 0 && blk && kept != live)
        rc = set_live(s, blk, kept);
    return rc;
}

static int meta_add(struct ka_store *s, const char *k, int64_t v)
{
    sqlite3_bind_int64(s->st_meta_add, 1, v);
    sqlite3_bind_text(s->st_meta_add, 2, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->st_meta_add);
    sqlite3_reset(s->st_meta_add);
    return rc == SQLITE_DONE ? KA_OK : db_err(s, rc, "meta");
}

static int write_batch(struct ka_store *s, uint64_t *ins)
{
    uint64_t reqs = 0, raw = 0;
    int rc = KA_OK;
    /* Blocks closed before the dictionary was settled are compressed here, after it is
     * (never in the asynchronous writer: only batches with a settled dictionary go there),
     * and so are those left to the writer (s->writer_packs). */
    if (!db_batch_packed(s->wb))
        rc = db_ensure_dict(s, true);
    if (rc == 0 && s->cdict && s->cdict_id == 0) { /* trained: saved with its first rows */
        rc = db_save_dict(s);
        s->dict_in_txn = rc == 0;
    }
    rc = rc ? rc : db_group_decide(s, &reqs);
    for (size_t i = 0; rc == 0 && i < s->wb->nblk; i++)
        rc = write_block(s, &s->wb->blks[i], ins, &reqs, &raw);
    rc = rc ? rc : meta_add(s, "events", (int64_t)*ins);
    rc = rc ? rc : meta_add(s, "requests", (int64_t)reqs);
    rc = rc ? rc : meta_add(s, "raw_bytes", (int64_t)raw);
    return rc;
}

/* After a rollback, forget what it undid: interned ids, and the dictionary's row when it was
 * saved there (the dictionary itself stays: blocks compressed with it are saved again). */
static void forget_txn(struct ka_store *s, bool dict_undone)
{
    db_cache_free(&s->cache);
    if (dict_undone) {
        s->cdict_id = 0;
        s->dict_in_txn = false;
    }
}

int db_txn_end(struct ka_store *s)
{
    if (!s->txn_open)
        return KA_OK;
    s->txn_open = false;
    s->txn_rows = 0;
    int rc = db_exec(s, "COMMIT");
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        forget_txn(s, s->dict_in_txn);
    }
    s->dict_in_txn = false;
    return rc;
}

/* Writes b inside the open transaction (a savepoint) or a transaction of its own, which a
 * bulk load leaves open until it holds DB_BULK_TXN_ROWS rows. */
static int write_txn(struct ka_store *s, struct db_batch *b, uint64_t *ins)
{
    bool nested = s->txn_open, dict_saved = s->dict_in_txn;
    int rc = db_exec(s, nested ? "SAVEPOINT batch" : "BEGIN IMMEDIATE");
    if (rc)
        return rc;
    rc = nested ? KA_OK : db_seen_check(s);
    rc = rc ? rc : write_batch(s, ins);
    if (rc == 0 && nested)
        rc = db_exec(s, "RELEASE batch");
    if (rc) {
        sqlite3_exec(s->db, nested ? "ROLLBACK TO batch; RELEASE batch" : "ROLLBACK", NULL,
                     NULL, NULL);
        forget_txn(s, s->dict_in_txn && !(nested && dict_saved));
        return rc;
    }
    s->txn_open = true;
    s->txn_rows += b->n;
    if (!s->o.bulk || s->txn_rows >= DB_BULK_TXN_ROWS)
        rc = db_txn_end(s);
    return rc;
}

int db_commit_batch(struct ka_store *s, struct db_batch *b, struct ka_store_commit_stats *st)
{
    uint64_t ins = 0;
    s->wb = b;
    if (b->n == 0) {
        if (st)
            *st = (struct ka_store_commit_stats){0, 0};
        return KA_OK;
    }
    int rc = db_batch_seal(s, b);
    rc = rc ? rc : prepare_writer(s);
    rc = rc ? rc : write_txn(s, b, &ins);
    if (rc)
        return rc;
    if (st)
        *st = (struct ka_store_commit_stats){ins, b->n - ins};
    db_batch_reset(b);
    return KA_OK;
}
