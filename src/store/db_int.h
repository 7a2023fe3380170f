/*
 * db_int.h - internals shared by the store's files (src/store/db*.c): the ka_store struct,
 * the interned-string cache, the pending batch and the schema.
 */
#ifndef KA_STORE_DB_INT_H
#define KA_STORE_DB_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "kaudit/buf.h"
#include "kaudit/store.h"

/* Kinds of interned strings (strs.kind). */
enum db_kind {
    DK_USER = 1, /* user.username and impersonatedUser.username */
    DK_GROUPS,   /* user.groups joined with LF */
    DK_VERB,
    DK_APIGROUP,
    DK_RES,
    DK_SUB,
    DK_NS,
    DK_IPS,      /* sourceIPs joined with LF */
    DK_UA,
    DK_CLUSTER,
    DK_NKINDS
};

/* Fields of a pending row, kept as spans in the batch arena. */
enum db_field {
    DF_AID, DF_USER, DF_AS, DF_GROUPS, DF_VERB, DF_APIGROUP, DF_RES, DF_SUB, DF_NS, DF_NAME,
    DF_IPS, DF_UA, DF_CLUSTER, DF_LINE, DF_NFIELDS
};

/* decision column */
enum { DD_NONE = 0, DD_ALLOW = 1, DD_FORBID = 2, DD_OTHER = 3 };

/* Events are stored in blocks: the canonical lines of up to DB_BLK_ROWS consecutive rows
 * (DB_BLK_BYTES of lines at most, plus the last line), concatenated and compressed as one zstd
 * frame. A row knows its block and its line's offset and size in the block's content. */
#define DB_BLK_ROWS 32u
#define DB_BLK_BYTES (32u << 10)
#define DB_BLK_MAX (DB_BLK_BYTES + KA_STORE_MAX_EVENT)

/* Fields of a pending row: spans in the batch arena; DF_LINE is a span of the batch's lines. */
struct db_row {
    uint64_t off[DF_NFIELDS];
    uint32_t len[DF_NFIELDS];
    uint64_t sh[DF_NFIELDS]; /* db_mem_hash of an interned field (seed: its kind) */
    int64_t ah;          /* the stored key hash: of the auditID, or of the line without one */
    int64_t ts, sts;     /* ns; has_ts / has_sts */
    bool has_ts, has_sts, has_as, has_cluster, has_code;
    int code, rank, level, decision;
};

/* A closed block of a batch: rows [first, first + n), content lines[loff, loff + lsize). */
struct db_blk {
    uint32_t first, n;
    uint64_t loff;
    uint32_t lsize;
    bool packed;        /* compressed: zarena[zoff, zoff + zlen), with s->cdict if zown */
    bool zown;
    uint64_t zoff;
    uint32_t zlen;
};

struct db_batch {
    struct db_row *rows;
    size_t n, cap;
    struct db_blk *blks;   /* closed blocks; the rows after the last one form the open block */
    size_t nblk, capblk;
    struct ka_buf arena;
    struct ka_buf lines;   /* canonical lines, without LF, back to back */
    struct ka_buf zarena;  /* compressed packed blocks */
};

/* Open-addressing map (kind, string) -> id. */
struct db_strent {
    uint64_t hash;
    int64_t id;
    char *s;
    uint32_t n;
    uint8_t kind;
};
struct db_strcache {
    struct db_strent *v;
    size_t n, cap;
};

/* The rows of a batch grouped by auditID (db_group.c). */
enum { DB_ACT_DUP = 0, DB_ACT_INSERT, DB_ACT_LATEST, DB_ACT_SINGLE /* no auditID */ };
struct db_head {
    int64_t ah;           /* the stored hash of the auditID */
    uint32_t first, last; /* rows of the batch, linked by next[] */
};
struct db_group {
    uint32_t *next;        /* next row of the same auditID, UINT32_MAX at the end */
    uint8_t *act;          /* DB_ACT_* per row */
    uint8_t *ranks;        /* a latest row's ranks column: its request's stored stages */
    uint8_t *okey;         /* okey column: 1 when the row is in ev_obj (schema version 4) */
    struct db_head *heads; /* one per auditID */
    size_t nheads;
    uint32_t *slots;       /* hash table of 2 * cap entries: index into heads */
    size_t cap;
};

/* Bloom filter of the key hashes (ah) this connection stored (db_group.c): while every row
 * of the store is known to be ours, a key it does not hold has no stored stage to look up. */
#define DB_SEEN_BITS (1u << 27) /* 16 MiB: about 1% false positives at 8 M requests */
struct db_seen {
    uint64_t *bits;  /* DB_SEEN_BITS bits, NULL while unused */
    bool valid;      /* every stored row was written through this filter */
    bool checked;    /* the first transaction looked at the store */
    int64_t version; /* PRAGMA data_version at our last transaction */
};

/* A zstd compression context and the dictionary it references (set up lazily). */
struct db_zctx {
    ZSTD_CCtx *cc;
    const ZSTD_CDict *cdict;
    bool set;
};

struct db_ddict {
    int64_t id;
    ZSTD_DDict *dd;
};

struct ka_store {
    sqlite3 *db;
    struct ka_store_opts o;
    char errmsg[256];
    /* writing */
    sqlite3_stmt *st_ins, *st_blk, *st_ranks, *st_unlatest, *st_str_ins, *st_str_get, *st_meta_add;
    sqlite3_stmt *st_setranks;
    struct db_strcache cache;
    struct db_group grp;
    struct db_seen seen;
    struct db_batch bat[2];
    struct db_batch *fill; /* the batch ka_store_add fills */
    struct db_batch *wb;   /* the batch being written */
    bool dict_checked;     /* the store's dictionary was looked for (first add) */
    /* Bulk loads keep one transaction open over several batches (db_write.c). */
    bool txn_open;
    uint64_t txn_rows;     /* rows of the batches in the open transaction */
    bool dict_in_txn;      /* the dictionary was saved by the open transaction */
    bool idx_dropped;      /* this load dropped the deferred indexes (db_schema.c) */
    /* asynchronous commits (db_async.c) */
    bool async_started, async_busy, async_stop;
    pthread_t async_th;
    pthread_mutex_t async_mu;
    pthread_cond_t async_cv;
    struct db_batch *async_b;
    struct db_batch *async_failed; /* a batch the writer could not commit, kept for a retry */
    int async_rc;
    struct ka_store_commit_stats async_acc;
    /* Compression contexts: cz for the caller's thread (blocks packed as the batch fills),
     * wz for the writer (blocks it packs itself). */
    struct db_zctx cz, wz;
    /* The batch being filled leaves its blocks to the writer thread: a bulk load's writer
     * with deferred indexes was idle at the last hand-over (db_async.c). Caller's thread. */
    bool writer_packs;
    /* The compression dictionary: set once (loaded or trained) and then never changed, so
     * that the caller's thread compresses with it while the writer writes. cdict_id is its
     * zdict.id, 0 while a trained one is not saved yet (only the writer saves it, from
     * dict_data, in the transaction of the first batch that uses it). Both threads read it
     * once it is set. */
    ZSTD_CDict *cdict;
    int64_t cdict_id;
    void *dict_data;
    size_t dict_size;
    struct ka_buf zbuf;
    /* reading */
    ZSTD_DCtx *dctx;
    struct db_ddict *ddicts;
    size_t n_ddicts;
    struct ka_buf dbuf;     /* the decompressed content of block dbuf_blk (0: none) */
    int64_t dbuf_blk;
    sqlite3_stmt *st_blk_get;
    struct ka_buf rbuf;     /* one stored event, NUL-terminated */
};

/* db.c */
int db_err(struct ka_store *s, int rc, const char *what);
int db_exec(struct ka_store *s, const char *sql);
/* The connection's page cache size in KiB (PRAGMA cache_size = -N). */
unsigned db_cache_kib(const struct ka_store *s);
int db_prepare(struct ka_store *s, const char *sql, sqlite3_stmt **st);
int db_meta_get(struct ka_store *s, const char *key, int64_t *v);
uint64_t db_hash(const void *p, size_t n, uint64_t seed);
int db_ddict(struct ka_store *s, int64_t id, ZSTD_DDict **out);
/* Decompresses a block's data into s->dbuf. */
int db_decompress(struct ka_store *s, int64_t dict, const void *p, size_t n, size_t size);
/* The content of block id in s->dbuf (kept while the same block is asked again). */
int db_load_block(struct ka_store *s, int64_t id);
/* The stored line at [off, off + size) of block blk in s->rbuf. */
int db_event_line(struct ka_store *s, int64_t blk, uint64_t off, uint64_t size);

/* db_schema.c */
int db_migrate(struct ka_store *s);
int db_schema_version(struct ka_store *s, int *v);
/* Drops the indexes that a bulk load into an empty store builds at its end (in the open
 * transaction); db_indexes_build creates those missing (after a load, or one that died). */
int db_indexes_drop(struct ka_store *s);
int db_indexes_build(struct ka_store *s);

/* db_insert.c */
void db_batch_free(struct db_batch *b);
void db_writer_free(struct ka_store *s);
int db_intern(struct ka_store *s, enum db_kind kind, const char *p, size_t n, int64_t *id);
void db_cache_free(struct db_strcache *c);
/* Loads the store's newest dictionary; trains one on s->wb when there is none and may_train. */
int db_ensure_dict(struct ka_store *s, bool may_train);
/* Saves the trained dictionary in the current transaction (sets s->cdict_id). */
int db_save_dict(struct ka_store *s);
/* Interned id of (kind, p[0..n)) whose db_mem_hash with seed kind is h. */
int db_intern_h(struct ka_store *s, enum db_kind kind, const char *p, size_t n, uint64_t h,
                int64_t *id);
/* Closes the open block of b (compressed when the dictionary is settled). */
int db_batch_seal(struct ka_store *s, struct db_batch *b);
/* Whether every block of b is compressed (after db_batch_seal). */
bool db_batch_packed(const struct db_batch *b);
/* Empties b. */
void db_batch_reset(struct db_batch *b);

/* db_write.c */
/* Appends the zstd frame of p[0..n) to out, with context z (set up for s->cdict first). */
int db_compress(struct ka_store *s, struct db_zctx *z, const char *p, size_t n,
                struct ka_buf *out);
void db_zctx_free(struct db_zctx *z);
/* Writes batch b (in the open transaction of a bulk load, or one of its own); on success b
 * is emptied. */
int db_commit_batch(struct ka_store *s, struct db_batch *b, struct ka_store_commit_stats *st);
/* Commits the transaction a bulk load left open, if any (nothing in flight). */
int db_txn_end(struct ka_store *s);

/* db_group.c */
uint64_t db_mem_hash(const void *p, size_t n, uint64_t seed);
int db_group_decide(struct ka_store *s, uint64_t *reqs);
void db_group_free(struct db_group *g);
/* At the start of each transaction of a bulk load: whether the filter of stored keys still
 * describes the store (empty when first seen, no other writer since). */
int db_seen_check(struct ka_store *s);
void db_seen_free(struct db_seen *f);
/* Whether key ah may have stored rows (true unless the filter knows better); adds it. */
bool db_seen_maybe(struct ka_store *s, int64_t ah);

/* db_async.c */
void db_async_stop(struct ka_store *s);

#endif
