/*
 * db_retain.c - retention of the store: by age of requestReceivedTimestamp and by the size of
 * the database. Rows go oldest first in chunks (one transaction each, so a writer waiting for
 * the lock is never held long), whole timestamps at a time so that the stages of one request
 * (which share their requestReceivedTimestamp) leave together. Freed pages are then given back
 * to the file system (auto_vacuum = INCREMENTAL) and the WAL is truncated.
 * Rows without a requestReceivedTimestamp are never too old; they go first when over size.
 */
#include <stdio.h>
#include <string.h>

#include "db_int.h"

#define RT_CHUNK 20000

static int64_t one_int(struct ka_store *s, const char *sql, int64_t arg, bool *found)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *found = false;
    if (db_prepare(s, sql, &st) != 0)
        return 0;
    sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
        *found = true;
    }
    sqlite3_finalize(st);
    return v;
}

/* Runs sql with ?1 = arg to completion. */
static int exec_bound(struct ka_store *s, const char *sql, int64_t arg)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    int step = sqlite3_step(st);
    rc = step == SQLITE_DONE ? KA_OK : db_err(s, step, "retention delete");
    sqlite3_finalize(st);
    return rc;
}

/* Counts what "WHERE <cond>" (cond uses ?1) selects: rows, requests, canonical bytes. */
static int measure(struct ka_store *s, const char *cond, int64_t arg, int64_t v[3])
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql,
             "SELECT count(*), coalesce(sum(latest), 0),"
             " coalesce(sum(bsize + 1), 0)"
             " FROM events WHERE %s", cond);
    int rc = db_prepare(s, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 3; i++)
            v[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    return KA_OK;
}

/* Deletes the rows matched by "WHERE <cond>" and the blocks they empty, and updates the counters. */
static int delete_where(struct ka_store *s, const char *cond, int64_t arg, uint64_t *deleted)
{
    char sql[512];
    int64_t v[3] = {0, 0, 0};
    int rc = db_exec(s, "BEGIN IMMEDIATE");
    rc = rc ? rc : measure(s, cond, arg, v);
    /* the blocks lose these rows; a block without rows goes */
    rc = rc ? rc : db_exec(s, "CREATE TEMP TABLE IF NOT EXISTS gone(blk INTEGER PRIMARY KEY,"
                              " n INTEGER NOT NULL); DELETE FROM temp.gone");
    snprintf(sql, sizeof sql,
             "INSERT INTO temp.gone SELECT blk, count(*) FROM events WHERE %s GROUP BY blk",
             cond);
    rc = rc ? rc : exec_bound(s, sql, arg);
    rc = rc ? rc : db_exec(s, "UPDATE blocks SET live = live - (SELECT n FROM temp.gone g"
                              " WHERE g.blk = blocks.id) WHERE id IN (SELECT blk FROM temp.gone);"
                              "DELETE FROM blocks WHERE id IN (SELECT blk FROM temp.gone)"
                              " AND live <= 0");
    snprintf(sql, sizeof sql, "DELETE FROM events WHERE %s", cond);
    rc = rc ? rc : exec_bound(s, sql, arg);
    snprintf(sql, sizeof sql,
             "UPDATE meta SET v = v - CASE k WHEN 'events' THEN %lld WHEN 'requests' THEN"
             " %lld ELSE %lld END",
             (long long)v[0], (long long)v[1], (long long)v[2]);
    rc = rc ? rc : db_exec(s, sql);
    rc = rc ? rc : db_exec(s, "COMMIT");
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *deleted += (uint64_t)v[0];
    return KA_OK;
}

/*
 * Deletes one chunk of the oldest rows with ts below limit (INT64_MAX: any); rows without a
 * timestamp first when with_null. Sets *more when rows remain below the limit.
 */
static int delete_chunk(struct ka_store *s, int64_t limit, bool with_null, uint64_t *deleted,
                        bool *more)
{
    bool found;
    *more = false;
    if (with_null) {
        one_int(s, "SELECT 1 FROM events WHERE ts IS NULL LIMIT 1", 0, &found);
        if (found) {
            *more = true;
            return delete_where(s, "ts IS NULL AND ?1 = ?1", 0, deleted);
        }
    }
    int64_t first = one_int(s, "SELECT min(ts) FROM events WHERE ts IS NOT NULL AND ?1 = ?1", 0,
                            &found);
    if (!found || first >= limit)
        return KA_OK;
    int64_t nth = one_int(s,
                          "SELECT ts FROM events WHERE ts IS NOT NULL ORDER BY ts"
                          " LIMIT 1 OFFSET ?1",
                          RT_CHUNK, &found);
    *more = found;
    if (!found || nth > limit)
        nth = limit;
    if (nth == first) /* a chunk of one timestamp: take all of it */
        return delete_where(s, "ts = ?1", nth, deleted);
    return delete_where(s, "ts < ?1", nth, deleted);
}

static uint64_t used_bytes(struct ka_store *s)
{
    bool f;
    int64_t pages = one_int(s, "PRAGMA page_count", 0, &f);
    int64_t freep = one_int(s, "PRAGMA freelist_count", 0, &f);
    int64_t psz = one_int(s, "PRAGMA page_size", 0, &f);
    return (uint64_t)((pages - freep) * psz);
}

static int give_back(struct ka_store *s, struct ka_store_retain_stats *st)
{
    bool f;
    int64_t before = one_int(s, "PRAGMA freelist_count", 0, &f);
    int64_t psz = one_int(s, "PRAGMA page_size", 0, &f);
    int rc = db_exec(s, "PRAGMA incremental_vacuum");
    int64_t after = one_int(s, "PRAGMA freelist_count", 0, &f);
    if (rc == 0)
        rc = db_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    st->freed_bytes += (uint64_t)((before - after) * psz);
    return rc;
}

int ka_store_retain(struct ka_store *s, int64_t max_age_sec, uint64_t max_bytes, int64_t now_sec,
                    struct ka_store_retain_stats *st)
{
    struct ka_store_retain_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (s->o.readonly)
        return KA_EINVAL;
    int rc = db_txn_end(s); /* a bulk load's open transaction first */
    if (rc == 0 && s->idx_dropped) /* and its indexes: retention reads by time */
        rc = db_indexes_build(s);
    bool more = true;
    if (max_age_sec > 0) {
        int64_t cutoff = (now_sec - max_age_sec) * 1000000000;
        while (rc == 0 && more)
            rc = delete_chunk(s, cutoff, false, &st->deleted, &more);
    }
    more = true;
    while (rc == 0 && max_bytes && more && used_bytes(s) > max_bytes)
        rc = delete_chunk(s, INT64_MAX, true, &st->deleted, &more);
    if (rc == 0 && st->deleted)
        rc = give_back(s, st);
    return rc;
}
