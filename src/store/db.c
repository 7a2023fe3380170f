/*
 * db.c - opening and closing the store, pragmas, errors, statistics, and decompression of
 * stored events (zstd, with dictionaries loaded from the zdict table on first use).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_int.h"

#define DB_PATH_MAX 4096

void ka_store_opts_default(struct ka_store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->zstd_level = 3;
    o->busy_ms = 10000;
}

int db_err(struct ka_store *s, int rc, const char *what)
{
    const char *m = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, m);
    if (rc == SQLITE_NOMEM)
        return KA_ENOMEM;
    if (rc == SQLITE_FULL || rc == SQLITE_TOOBIG)
        return KA_ETOOBIG;
    return KA_EIO;
}

/* Why this thread's last ka_store_open or ka_store_open_path failed. */
static __thread char open_errmsg[256];

static void set_open_errmsg(const struct ka_store *s, const char *path, int rc)
{
    if (s && s->errmsg[0])
        snprintf(open_errmsg, sizeof open_errmsg, "%s", s->errmsg);
    else if (rc == KA_ENOENT)
        snprintf(open_errmsg, sizeof open_errmsg, "%s: no store there", path ? path : "?");
    else
        snprintf(open_errmsg, sizeof open_errmsg, "%s: %s", path ? path : "?", ka_strerror(rc));
}

const char *ka_store_errmsg(const struct ka_store *s)
{
    if (!s)
        return open_errmsg[0] ? open_errmsg : "no error";
    return s->errmsg[0] ? s->errmsg : "no error";
}

int db_exec(struct ka_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KA_OK : db_err(s, rc, "exec");
}

int db_prepare(struct ka_store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? KA_OK : db_err(s, rc, "prepare");
}

int db_meta_get(struct ka_store *s, const char *key, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "SELECT v FROM meta WHERE k = ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    *v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return KA_OK;
}

/* FNV-1a, 64 bits, with a seed. */
uint64_t db_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* mkdir -p for the store directory, 0700. */
static int make_dirs(const char *path)
{
    char tmp[DB_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof tmp)
        return KA_ETOOBIG;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return KA_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return KA_EIO;
    return KA_OK;
}

int ka_store_open(const char *data_dir, bool readonly, struct ka_store **out)
{
    struct ka_store_opts o;
    ka_store_opts_default(&o);
    o.readonly = readonly;
    return ka_store_open_dir(data_dir, &o, out);
}

int ka_store_open_dir(const char *data_dir, const struct ka_store_opts *opts, struct ka_store **out)
{
    char dir[DB_PATH_MAX], path[DB_PATH_MAX];
    bool readonly = opts && opts->readonly;
    *out = NULL;
    if (!data_dir || snprintf(dir, sizeof dir, "%s/store", data_dir) >= (int)sizeof dir - 16) {
        set_open_errmsg(NULL, data_dir, KA_EINVAL);
        return KA_EINVAL;
    }
    if (!readonly) {
        int rc = make_dirs(dir);
        if (rc) {
            set_open_errmsg(NULL, dir, rc);
            return rc;
        }
    }
    if (snprintf(path, sizeof path, "%s/kaudit.db", dir) >= (int)sizeof path) {
        set_open_errmsg(NULL, dir, KA_ETOOBIG);
        return KA_ETOOBIG;
    }
    return ka_store_open_path(path, opts, out);
}

static int64_t pragma_int(struct ka_store *s, const char *sql);

unsigned db_cache_kib(const struct ka_store *s)
{
    return (s->o.cache_mb ? s->o.cache_mb : (s->o.bulk ? 256u : 64u)) * 1024u;
}

/*
 * The page cache's size again, once the store's page size is settled. SQLite turns
 * `cache_size = -KiB` into a number of pages with the page size of the moment: before a new
 * file has its first table that is the default 4 KiB, and the count stays when the page size
 * then becomes 8 or 32 KiB. A store created by this connection thus had a cache 2 (8 KiB pages)
 * or 8 (32 KiB) times the size asked: a 1 M-event `kaudit index` held 643 MB of page cache
 * instead of 256, and its memory grew by about 210 MB per million events, to 2.4 GB at 10 M.
 */
static int set_cache(struct ka_store *s)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%u", db_cache_kib(s));
    return db_exec(s, sql);
}

static int set_pragmas(struct ka_store *s)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA cache_size = -%u; PRAGMA temp_store = MEMORY;"
             "PRAGMA mmap_size = %s; PRAGMA synchronous = %s;",
             db_cache_kib(s), s->o.no_mmap ? "0" : "1099511627776", s->o.bulk ? "NORMAL" : "FULL");
    int rc = db_exec(s, sql);
    if (rc || s->o.readonly)
        return rc;
    /* auto_vacuum and the page size must be chosen before the first table; journal_mode
     * persists. A store that a bulk load creates (kaudit index) gets 32 KiB pages: shallower
     * B-trees, less writer CPU per insert and fewer bytes per event, queries as fast. Others
     * (the collector's store) get 8 KiB: with 32 KiB pages the collector's memory grew by about
     * 45 MB at the same page cache size (docs/store.md). */
    snprintf(sql, sizeof sql, "PRAGMA page_size = %d; PRAGMA auto_vacuum = INCREMENTAL;"
                              " PRAGMA journal_mode = WAL;", s->o.bulk ? 32768 : 8192);
    rc = db_exec(s, sql);
    /* Bulk loads checkpoint less often: an index page that many batches touch is copied into
     * the database once per checkpoint (every 256 MiB of WAL), not once per 32 MiB. The page
     * size is the store's, whichever it was created with. */
    int64_t psz = rc ? 0 : pragma_int(s, "PRAGMA page_size");
    if (rc == 0 && psz <= 0)
        rc = db_err(s, SQLITE_ERROR, "page_size");
    if (rc == 0) {
        snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %lld;",
                 (long long)((s->o.bulk ? 256 << 20 : 32 << 20) / psz));
        rc = db_exec(s, sql);
    }
    return rc;
}

static int open_db(struct ka_store *s, const char *path)
{
    int flags = s->o.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    struct stat sb;
    if (s->o.readonly && stat(path, &sb) != 0)
        return KA_ENOENT;
    if (!s->o.readonly && stat(path, &sb) != 0) {
        /* Create it ourselves so that it is 0600 (SQLite would use the umask). */
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            return KA_EIO;
        close(fd);
    }
    int rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_err(s, rc, path);
    sqlite3_busy_timeout(s->db, s->o.busy_ms > 0 ? s->o.busy_ms : 10000);
    return KA_OK;
}

/* SQLite's memory statistics take a global mutex around every allocation; kaudit does not
 * read them. Only possible before SQLite initialises (else a harmless SQLITE_MISUSE). */
static void sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int ka_store_open_path(const char *path, const struct ka_store_opts *o, struct ka_store **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    struct ka_store *s = calloc(1, sizeof *s);
    *out = NULL;
    open_errmsg[0] = 0;
    if (!s) {
        set_open_errmsg(NULL, path, KA_ENOMEM);
        return KA_ENOMEM;
    }
    if (o)
        s->o = *o;
    else
        ka_store_opts_default(&s->o);
    if (s->o.zstd_level == 0)
        s->o.zstd_level = 3;
    for (int i = 0; i < 2; i++) {
        ka_buf_init(&s->bat[i].arena, KA_STORE_MAX_BATCH_BYTES + KA_STORE_MAX_EVENT * 2u);
        ka_buf_init(&s->bat[i].zarena, KA_STORE_MAX_BATCH_BYTES + KA_STORE_MAX_EVENT * 2u);
    }
    s->fill = s->wb = &s->bat[0];
    ka_buf_init(&s->zbuf, 0);
    ka_buf_init(&s->dbuf, DB_BLK_MAX + 1);
    ka_buf_init(&s->rbuf, KA_STORE_MAX_EVENT + 1);
    int rc = open_db(s, path);
    if (rc == 0)
        rc = set_pragmas(s);
    if (rc == 0)
        rc = db_migrate(s);
    if (rc == 0)
        rc = set_cache(s);
    /* The indexes of a bulk load that ended before it built them. Not an error when it
     * fails: queries are exact without them, and a load still running (holding the lock)
     * builds them when it ends. */
    if (rc == 0 && db_indexes_build(s) != 0)
        s->errmsg[0] = 0;
    if (rc) {
        set_open_errmsg(s, path, rc);
        ka_store_close(s);
        return rc;
    }
    *out = s;
    return KA_OK;
}

void ka_store_close(struct ka_store *s)
{
    if (!s)
        return;
    db_async_stop(s);
    /* the batches handed over land (a failure loses only them), then the indexes of a bulk
     * load; if that fails, the next writable open builds them */
    if (db_txn_end(s) == 0 && s->idx_dropped)
        (void)db_indexes_build(s);
    db_writer_free(s);
    for (size_t i = 0; i < s->n_ddicts; i++)
        ZSTD_freeDDict(s->ddicts[i].dd);
    free(s->ddicts);
    ZSTD_freeDCtx(s->dctx);
    ka_buf_free(&s->dbuf);
    ka_buf_free(&s->rbuf);
    ka_buf_free(&s->zbuf);
    sqlite3_finalize(s->st_blk_get);
    if (s->db)
        sqlite3_close_v2(s->db);
    free(s);
}

int db_ddict(struct ka_store *s, int64_t id, ZSTD_DDict **out)
{
    for (size_t i = 0; i < s->n_ddicts; i++)
        if (s->ddicts[i].id == id)
            return *out = s->ddicts[i].dd, KA_OK;
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "SELECT data FROM zdict WHERE id = ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = KA_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        ZSTD_DDict *dd = ZSTD_createDDict(sqlite3_column_blob(st, 0),
                                          (size_t)sqlite3_column_bytes(st, 0));
        struct db_ddict *nv = realloc(s->ddicts, (s->n_ddicts + 1) * sizeof *nv);
        if (dd && nv) {
            s->ddicts = nv;
            s->ddicts[s->n_ddicts++] = (struct db_ddict){id, dd};
            *out = dd;
            rc = KA_OK;
        } else {
            ZSTD_freeDDict(dd);
            if (nv)
                s->ddicts = nv;
            rc = KA_ENOMEM;
        }
    } else {
        snprintf(s->errmsg, sizeof s->errmsg, "zstd dictionary %lld is missing", (long long)id);
    }
    sqlite3_finalize(st);
    return rc;
}

int db_decompress(struct ka_store *s, int64_t dict, const void *p, size_t n, size_t size)
{
    if (size > DB_BLK_MAX)
        return KA_ETOOBIG;
    s->dbuf_blk = 0;
    if (!s->dctx && !(s->dctx = ZSTD_createDCtx()))
        return KA_ENOMEM;
    ka_buf_reset(&s->dbuf);
    if (ka_buf_reserve(&s->dbuf, size + 1))
        return KA_ENOMEM;
    size_t r;
    if (dict) {
        ZSTD_DDict *dd = NULL;
        int rc = db_ddict(s, dict, &dd);
        if (rc)
            return rc;
        r = ZSTD_decompress_usingDDict(s->dctx, s->dbuf.p, size, p, n, dd);
    } else {
        r = ZSTD_decompressDCtx(s->dctx, s->dbuf.p, size, p, n);
    }
    if (ZSTD_isError(r) || r != size) {
        snprintf(s->errmsg, sizeof s->errmsg, "stored event does not decompress: %s",
                 ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong size");
        return KA_EIO;
    }
    s->dbuf.n = size;
    s->dbuf.p[size] = 0;
    return KA_OK;
}

int ka_store_checkpoint(struct ka_store *s)
{
    if (s->o.readonly)
        return KA_OK;
    int rc = db_txn_end(s);
    if (rc == 0 && s->idx_dropped)
        rc = db_indexes_build(s);
    return rc ? rc : db_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static int64_t pragma_int(struct ka_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (db_prepare(s, sql, &st) == 0 && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int ka_store_stats(struct ka_store *s, struct ka_store_stats *st)
{
    int64_t ev = 0, req = 0, raw = 0;
    int rc = db_meta_get(s, "events", &ev);
    if (rc == 0)
        rc = db_meta_get(s, "requests", &req);
    if (rc == 0)
        rc = db_meta_get(s, "raw_bytes", &raw);
    if (rc == 0)
        rc = db_schema_version(s, &st->schema_version);
    if (rc)
        return rc;
    st->events = (uint64_t)ev;
    st->requests = (uint64_t)req;
    st->raw_bytes = (uint64_t)raw;
    const char *path = sqlite3_db_filename(s->db, "main");
    char wal[DB_PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", path ? path : "");
    st->db_bytes = file_size(path) + (path ? file_size(wal) : 0);
    int64_t psz = pragma_int(s, "PRAGMA page_size");
    st->free_bytes = (uint64_t)(pragma_int(s, "PRAGMA freelist_count") * psz);
    st->oldest_ns = pragma_int(s, "SELECT min(ts) FROM events");
    st->newest_ns = pragma_int(s, "SELECT max(ts) FROM events");
    st->dicts = (uint64_t)pragma_int(s, "SELECT count(*) FROM zdict");
    int cur = 0, hi = 0;
    st->cache_bytes = 0;
    if (sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0) == SQLITE_OK)
        st->cache_bytes = (uint64_t)cur;
    return KA_OK;
}

int db_load_block(struct ka_store *s, int64_t id)
{
    if (id && id == s->dbuf_blk)
        return KA_OK;
    int rc = s->st_blk_get ? KA_OK
                           : db_prepare(s, "SELECT dict, size, data FROM blocks WHERE id = ?",
                                        &s->st_blk_get);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st_blk_get;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        rc = db_decompress(s, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 2),
                           (size_t)sqlite3_column_bytes(st, 2),
                           (size_t)sqlite3_column_int64(st, 1));
        if (rc == 0)
            s->dbuf_blk = id;
    } else {
        rc = step == SQLITE_DONE ? KA_EIO : db_err(s, step, "block lookup");
        if (step == SQLITE_DONE)
            snprintf(s->errmsg, sizeof s->errmsg, "stored block %lld is missing", (long long)id);
    }
    sqlite3_reset(st);
    return rc;
}

int db_event_line(struct ka_store *s, int64_t blk, uint64_t off, uint64_t size)
{
    int rc = db_load_block(s, blk);
    if (rc)
        return rc;
    if (off > s->dbuf.n || size > s->dbuf.n - off) {
        snprintf(s->errmsg, sizeof s->errmsg, "stored event outside its block %lld",
                 (long long)blk);
        return KA_EIO;
    }
    ka_buf_reset(&s->rbuf);
    rc = ka_buf_append(&s->rbuf, s->dbuf.p + off, (size_t)size);
    return rc ? rc : ka_buf_cstr(&s->rbuf) ? KA_OK : KA_ENOMEM;
}
