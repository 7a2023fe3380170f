/*
 * db_schema.c - the store's schema and its migrations.
 *
 * PRAGMA user_version holds the schema version. migrations[i] takes a database from version i
 * to i + 1; db_migrate() runs the missing ones in one transaction each, so a store written by
 * an older kaudit is brought up to date on the first writable open, and an older kaudit refuses
 * a store newer than it knows. A new version appends an entry here (ALTER TABLE, new index,
 * data rewrite) and bumps KA_STORE_SCHEMA_VERSION in store.h.
 *
 * Why these indexes (docs/store.md has the measurements):
 *   ev_aid  (ah) WHERE latest = 1      exactly-once: a request's latest row, whose ranks
 *                                      column lists its stored stages (the aid itself is
 *                                      compared in the row); version 2: (ah, rank), all rows
 *   ev_ts   (ts)                       time order and since/until for --stage modes, retention
 *   ev_req  (ts, user_id, latest)      requests in time order; covering for counts by time
 *           WHERE latest = 1           (latest is a column so that SQLite sees it covers)
 *   ev_user (user_id, ts, latest)      one user's requests; top users in a time window is one
 *           WHERE latest = 1           counting range per user
 *   ev_obj  (res_id, name, verb_id,    "who deleted deployment X" (the verb is checked in the
 *            ns_id, ts) WHERE okey = 1 index, not in thousands of rows of a busy object), an
 *                                      object's history; version 3: every row, now a
 *                                      request's latest row and the stages whose object
 *                                      or ts differ from it
 *   ev_code (code, ts) code >= 400     denied and failed requests (a small partial index)
 *
 * Version 2 moves the canonical events from bodies (one zstd frame per event) to blocks (one
 * frame per DB_BLK_ROWS consecutive rows): zstd's per-frame cost and one B-tree insert per
 * event were a third of the indexing time.
 */
#include <stdio.h>
#include <string.h>

#include "db_int.h"

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE strs(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, s TEXT NOT NULL,"
    "  UNIQUE(kind, s));"
    "CREATE TABLE zdict(id INTEGER PRIMARY KEY, created INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES('events', 0), ('requests', 0), ('raw_bytes', 0);"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  aid TEXT NOT NULL,"           /* auditID, decoded ('' when absent) */
    "  ah INTEGER NOT NULL,"         /* 64-bit hash of aid; of the line when aid is '' */
    "  rank INTEGER NOT NULL,"       /* stage rank: unknown 0, RequestReceived 1 .. Panic 4 */
    "  latest INTEGER NOT NULL,"     /* 1: the latest stage of its request */
    "  ts INTEGER,"                  /* requestReceivedTimestamp, ns since the epoch */
    "  sts INTEGER,"                 /* stageTimestamp, ns */
    "  user_id INTEGER NOT NULL, as_id INTEGER, groups_id INTEGER NOT NULL,"
    "  verb_id INTEGER NOT NULL, apigroup_id INTEGER NOT NULL, res_id INTEGER NOT NULL,"
    "  sub_id INTEGER NOT NULL, ns_id INTEGER NOT NULL, name TEXT NOT NULL,"
    "  code INTEGER, decision INTEGER NOT NULL, ips_id INTEGER NOT NULL,"
    "  ua_id INTEGER NOT NULL, cluster_id INTEGER, level INTEGER NOT NULL);"
    /* The event itself, apart so that rows of events stay small (scans, latest updates). */
    "CREATE TABLE bodies(id INTEGER PRIMARY KEY," /* = events.id */
    "  dict INTEGER NOT NULL,"       /* zdict.id, 0 = no dictionary */
    "  size INTEGER NOT NULL,"       /* canonical line length, without LF */
    "  data BLOB NOT NULL);"         /* zstd frame of the canonical line */
    "CREATE INDEX ev_aid ON events(ah, rank);"
    "CREATE INDEX ev_ts ON events(ts);"
    "CREATE INDEX ev_req ON events(ts, user_id, latest) WHERE latest = 1;"
    "CREATE INDEX ev_user ON events(user_id, ts, latest) WHERE latest = 1;"
    "CREATE INDEX ev_obj ON events(res_id, name, verb_id, ns_id, ts);"
    "CREATE INDEX ev_code ON events(code, ts) WHERE code >= 400;"
    "CREATE VIEW requests AS SELECT e.id, e.aid, e.rank, e.ts,"
    "  (SELECT s FROM strs WHERE id = e.user_id) AS user,"
    "  (SELECT s FROM strs WHERE id = e.as_id) AS as_user,"
    "  (SELECT s FROM strs WHERE id = e.verb_id) AS verb,"
    "  (SELECT s FROM strs WHERE id = e.apigroup_id) AS api_group,"
    "  (SELECT s FROM strs WHERE id = e.res_id) AS resource,"
    "  (SELECT s FROM strs WHERE id = e.sub_id) AS subresource,"
    "  (SELECT s FROM strs WHERE id = e.ns_id) AS namespace, e.name, e.code,"
    "  (SELECT s FROM strs WHERE id = e.ips_id) AS source_ips,"
    "  (SELECT s FROM strs WHERE id = e.ua_id) AS user_agent,"
    "  (SELECT s FROM strs WHERE id = e.cluster_id) AS cluster, e.level"
    "  FROM events e WHERE e.latest = 1;",
    /* 1 -> 2: events in blocks of consecutive rows, one zstd frame per block. A version 1
     * body becomes a block of one event (same id, same frame). */
    "CREATE TABLE blocks(id INTEGER PRIMARY KEY,"
    "  dict INTEGER NOT NULL,"       /* zdict.id, 0 = no dictionary */
    "  size INTEGER NOT NULL,"       /* content length: the rows' lines back to back */
    "  live INTEGER NOT NULL,"       /* rows of events in the block; 0: it goes */
    "  data BLOB NOT NULL);"         /* zstd frame of the content */
    "INSERT INTO blocks(id, dict, size, live, data) SELECT id, dict, size, 1, data FROM bodies;"
    "ALTER TABLE events ADD COLUMN blk INTEGER NOT NULL DEFAULT 0;"   /* blocks.id */
    "ALTER TABLE events ADD COLUMN boff INTEGER NOT NULL DEFAULT 0;"  /* line offset in it */
    "ALTER TABLE events ADD COLUMN bsize INTEGER NOT NULL DEFAULT 0;" /* line length */
    "UPDATE events SET blk = id, bsize = coalesce((SELECT size FROM bodies b"
    "  WHERE b.id = events.id), 0);"
    "DROP TABLE bodies;",
    /* 2 -> 3: ev_aid holds only the latest row of each request (half the entries, in random
     * positions: the costliest index to insert into after ev_obj); that row's ranks column
     * has a bit per stored stage of its request, which is all the duplicate check needs. */
    "ALTER TABLE events ADD COLUMN ranks INTEGER NOT NULL DEFAULT 0;"
    "UPDATE events SET ranks = (SELECT sum(DISTINCT 1 << o.rank) FROM events o"
    "  WHERE o.ah = events.ah AND o.aid = events.aid) WHERE latest = 1;"
    "DROP INDEX ev_aid;"
    "CREATE INDEX ev_aid ON events(ah) WHERE latest = 1;",
    /* 3 -> 4: ev_obj holds the rows with okey = 1: a request's latest row, and its other
     * stages only when their object or requestReceivedTimestamp differ from the latest
     * row's (the costliest index to insert into, now about one entry per request). A query
     * over all stages finds the others through their request's indexed row (db_query.c).
     * Rows of before keep their entry. */
    "ALTER TABLE events ADD COLUMN okey INTEGER NOT NULL DEFAULT 1;"
    "DROP INDEX ev_obj;"
    "CREATE INDEX ev_obj ON events(res_id, name, verb_id, ns_id, ts) WHERE okey = 1;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == KA_STORE_SCHEMA_VERSION,
               "one migration per schema version");

/*
 * The secondary indexes of the current version, as the migrations above leave them (a test
 * compares the two). A bulk load into an empty store drops them in its first transaction and
 * builds them when it ends (db_indexes_build): SQLite then sorts each index's entries once,
 * which costs about half as much as inserting them row by row into B-trees in random places.
 * ev_aid stays: the load looks up stored stages in it.
 */
static const struct {
    const char *name, *sql;
} deferred[] = {
    {"ev_ts", "CREATE INDEX IF NOT EXISTS ev_ts ON events(ts)"},
    {"ev_req", "CREATE INDEX IF NOT EXISTS ev_req ON events(ts, user_id, latest) WHERE latest = 1"},
    {"ev_user", "CREATE INDEX IF NOT EXISTS ev_user ON events(user_id, ts, latest)"
                " WHERE latest = 1"},
    {"ev_obj", "CREATE INDEX IF NOT EXISTS ev_obj ON events(res_id, name, verb_id, ns_id, ts)"
               " WHERE okey = 1"},
    {"ev_code", "CREATE INDEX IF NOT EXISTS ev_code ON events(code, ts) WHERE code >= 400"},
};
#define NDEFERRED (sizeof deferred / sizeof deferred[0])

int db_indexes_drop(struct ka_store *s)
{
    char sql[64];
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < NDEFERRED; i++) {
        snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", deferred[i].name);
        rc = db_exec(s, sql);
    }
    if (rc == 0)
        s->idx_dropped = true;
    return rc;
}

/* How many of the deferred indexes the store has (their names from deferred[]). */
static int count_present(struct ka_store *s, int *n)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
                        &st);
    *n = 0;
    for (size_t i = 0; rc == 0 && i < NDEFERRED; i++) {
        sqlite3_bind_text(st, 1, deferred[i].name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            rc = db_err(s, step, "index list");
        else
            *n += sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Builds the deferred indexes that are missing, in one transaction. SQLite sorts each index's
 * entries; the sort gets a second thread, a small page cache (runs of 4 MiB, merged) and
 * temporary files (SQLite's: $SQLITE_TMPDIR, $TMPDIR, /var/tmp, /usr/tmp, /tmp) instead of
 * memory, so that a large store's build does not hold its whole index in memory: measured on
 * 1 M events, 0.8-0.9 s for the five indexes against 1.6-1.8 s with the bulk load's 256 MiB
 * page cache and in-memory temporary storage (docs/store.md).
 */
int db_indexes_build(struct ka_store *s)
{
    char sql[160];
    int have = 0;
    if (s->o.readonly)
        return KA_OK;
    int rc = count_present(s, &have);
    if (rc || have == (int)NDEFERRED) {
        if (rc == 0)
            s->idx_dropped = false;
        return rc;
    }
    rc = db_exec(s, "PRAGMA threads = 2; PRAGMA cache_size = -4096; PRAGMA temp_store = FILE");
    rc = rc ? rc : db_exec(s, "BEGIN IMMEDIATE");
    for (size_t i = 0; rc == 0 && i < NDEFERRED; i++)
        rc = db_exec(s, deferred[i].sql);
    if (rc == 0)
        rc = db_exec(s, "COMMIT");
    else
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0)
        s->idx_dropped = false;
    /* back to the connection's settings (db.c) */
    snprintf(sql, sizeof sql, "PRAGMA threads = 0; PRAGMA cache_size = -%u;"
                              " PRAGMA temp_store = MEMORY", db_cache_kib(s));
    int rc2 = db_exec(s, sql);
    return rc ? rc : rc2;
}

int db_schema_version(struct ka_store *s, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, "PRAGMA user_version", &st);
    if (rc)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_err(s, SQLITE_ERROR, "user_version");
        goto out;
    }
    *v = sqlite3_column_int(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

static int run_one(struct ka_store *s, int from)
{
    char sql[64];
    int rc = db_exec(s, "BEGIN IMMEDIATE");
    if (rc)
        return rc;
    int v = 0;
    /* Another process may have migrated between our check and the lock. */
    rc = db_schema_version(s, &v);
    if (rc == 0 && v == from) {
        rc = db_exec(s, migrations[from]);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", from + 1);
        if (rc == 0)
            rc = db_exec(s, sql);
    }
    if (rc == 0)
        return db_exec(s, "COMMIT");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int db_migrate(struct ka_store *s)
{
    const int target = (int)(sizeof migrations / sizeof migrations[0]);
    int v = 0;
    int rc = db_schema_version(s, &v);
    if (rc)
        return rc;
    if (v > target) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "store schema version %d is newer than this kaudit (%d)", v, target);
        return KA_EINVAL;
    }
    if (v < target && s->o.readonly) {
        /* names the next version; a writable open runs every missing migration */
        char upto[48] = "";
        if (v + 1 < target)
            snprintf(upto, sizeof upto, "; it migrates up to version %d", target);
        snprintf(s->errmsg, sizeof s->errmsg,
                 "store schema version %d needs a migration to version %d: open it writable"
                 " once (`kaudit index` on its data directory does%s)", v, v + 1, upto);
        return KA_EINVAL;
    }
    for (; v < target; v++)
        if ((rc = run_one(s, v)) != 0)
            return rc;
    return KA_OK;
}
