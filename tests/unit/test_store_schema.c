/*
 * test_store_schema.c - the store's schema versions: stores written by versions 1, 2 and 3
 * (made here by undoing the later migrations on a current store) are refused read-only and
 * migrated by a writable open, with the same rows, flags and query results; bulk loads
 * (several batches per transaction, the filter of stored keys) against another writer; and
 * the indexes that a bulk load into an empty store builds at its end.
 *
 * Data: `kaudit gen` traffic made in the test (ka_gen, seeds 11 and 17), and real logs from
 * ../shared/data/real: audit2rbac/history-501d132/demo.log (kube-apiserver 1.8, both stages,
 * impersonation, 403s) and crowdsec-hub/k8s-audit-pod-exec-file.log (pods/exec);
 * ../shared/data/real/SOURCES.md describes them.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "test_store_util.h"

/* ---- schema version 1 -> 2 ---- */

/* Decompresses the block in row column 4.. of q (dict, size, data) into *content. */
static void raw_block(sqlite3_stmt *q, ZSTD_DCtx *dc, const void *dict, size_t dn, char **content)
{
    size_t size = (size_t)sqlite3_column_int64(q, 5);
    *content = realloc(*content, size + 1);
    const void *z = sqlite3_column_blob(q, 6);
    size_t zn = (size_t)sqlite3_column_bytes(q, 6);
    size_t r = sqlite3_column_int64(q, 4) ? ZSTD_decompress_usingDict(dc, *content, size, z, zn,
                                                                      dict, dn)
                                          : ZSTD_decompressDCtx(dc, *content, size, z, zn);
    cr_assert(!ZSTD_isError(r) && r == size, "block does not decompress");
}

/* What version 4 changed, undone: ev_obj over every row, no okey column, user_version 3. */
static const char sql_v4_to_v3[] =
    "DROP INDEX ev_obj; ALTER TABLE events DROP COLUMN okey;"
    "CREATE INDEX ev_obj ON events(res_id, name, verb_id, ns_id, ts); PRAGMA user_version = 3;";

/* What versions 4 and 3 changed, undone: also ev_aid over every row, no ranks column,
 * user_version 2. */
static const char sql_v3_to_v2[] =
    "DROP INDEX ev_aid; ALTER TABLE events DROP COLUMN ranks;"
    "CREATE INDEX ev_aid ON events(ah, rank); PRAGMA user_version = 2;";

/*
 * Turns the store into what version 1 wrote: each event's canonical line compressed alone
 * (with the store's dictionary when its block had it) in bodies(id = events.id), no blocks
 * table, no blk/boff/bsize columns, user_version 1 (the schema of migrations[0]).
 */
static void downgrade_to_v1(void)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *q, *ins;
    void *dict = NULL;
    size_t dn = 0;
    cr_assert_leq(raw_int(db, "SELECT count(*) FROM zdict"), 1);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT data FROM zdict", -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) {
        dn = (size_t)sqlite3_column_bytes(q, 0);
        dict = malloc(dn);
        memcpy(dict, sqlite3_column_blob(q, 0), dn);
    }
    sqlite3_finalize(q);
    raw_exec(db, "BEGIN");
    raw_exec(db, sql_v4_to_v3);
    raw_exec(db, sql_v3_to_v2);
    raw_exec(db, "CREATE TABLE bodies(id INTEGER PRIMARY KEY, dict INTEGER NOT NULL,"
                 " size INTEGER NOT NULL, data BLOB NOT NULL)");
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO bodies VALUES(?, ?, ?, ?)", -1, &ins, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT e.id, e.boff, e.bsize, b.id, b.dict, b.size,"
                                        " b.data FROM events e JOIN blocks b ON b.id = e.blk"
                                        " ORDER BY e.id", -1, &q, NULL), SQLITE_OK);
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    char *content = NULL;
    int64_t cur = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (sqlite3_column_int64(q, 3) != cur)
            raw_block(q, dc, dict, dn, &content);
        cur = sqlite3_column_int64(q, 3);
        const char *line = content + sqlite3_column_int64(q, 1);
        size_t n = (size_t)sqlite3_column_int64(q, 2), cap = ZSTD_compressBound(n);
        void *z = malloc(cap);
        size_t zn = sqlite3_column_int64(q, 4) ? ZSTD_compress_usingDict(cc, z, cap, line, n,
                                                                         dict, dn, 3)
                                               : ZSTD_compressCCtx(cc, z, cap, line, n, 3);
        cr_assert(!ZSTD_isError(zn));
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(q, 0));
        sqlite3_bind_int64(ins, 2, sqlite3_column_int64(q, 4));
        sqlite3_bind_int64(ins, 3, (int64_t)n);
        sqlite3_bind_blob(ins, 4, z, (int)zn, SQLITE_TRANSIENT);
        cr_assert_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
        free(z);
    }
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    raw_exec(db, "DROP TABLE blocks; ALTER TABLE events DROP COLUMN blk;"
                 "ALTER TABLE events DROP COLUMN boff; ALTER TABLE events DROP COLUMN bsize;"
                 "PRAGMA user_version = 1; COMMIT");
    ZSTD_freeDCtx(dc);
    ZSTD_freeCCtx(cc);
    free(content);
    free(dict);
    sqlite3_close(db);
}

Test(store, migrates_a_version_1_store, .init = setup, .fini = teardown, .timeout = 300)
{
    add_file("data/real/audit2rbac/history-501d132/demo.log"); /* before the dictionary */
    add_file("data/real/crowdsec-hub/k8s-audit-pod-exec-file.log");
    add_gen(1500, 1500); /* trains the dictionary: both kinds of frames */
    oracle_finish();
    ka_store_close(st);
    st = NULL;
    downgrade_to_v1();
    sqlite3 *db = raw_open();
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), 1);
    cr_assert_eq(raw_int(db, "SELECT count(DISTINCT dict) FROM bodies"), 2);
    int64_t rows = raw_int(db, "SELECT count(*) FROM events");
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM bodies"), rows);
    /* read-only: refused, with what to do, and nothing changed */
    struct ka_store *ro = (struct ka_store *)&ro;
    cr_assert_eq(ka_store_open(tmp, true, &ro), KA_EINVAL);
    cr_assert_null(ro);
    cr_assert(strstr(ka_store_errmsg(NULL), "version 1 needs a migration") != NULL, "%s",
              ka_store_errmsg(NULL));
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), 1);
    /* a writable open migrates: every body becomes a block of one event */
    cr_assert_eq(ka_store_open(tmp, false, &st), 0, "%s", ka_store_errmsg(NULL));
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), KA_STORE_SCHEMA_VERSION);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'bodies'"), 0);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM blocks WHERE live = 1"), rows);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events e JOIN blocks b ON b.id = e.blk"
                             " WHERE e.boff = 0 AND e.bsize = b.size"), rows);
    /* the same rows, byte for byte, and the aggregates */
    run_matrix(25, 31);
    struct ka_store_stats ss;
    cr_assert_eq(ka_store_stats(st, &ss), 0);
    cr_assert_eq(ss.schema_version, KA_STORE_SCHEMA_VERSION);
    cr_assert_eq(ss.events, (uint64_t)rows);
    /* exactly-once still holds across the migration; new events go to new blocks */
    struct ka_store_commit_stats cs;
    size_t n = n_evs;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ka_store_add_line(st, evs[i].line, evs[i].n), 0);
    cr_assert_eq(ka_store_add_line(st, ev_rr, strlen(ev_rr)), 0);
    cr_assert_eq(ka_store_add_line(st, ev_rc, strlen(ev_rc)), 0);
    oracle_add(ev_rr, strlen(ev_rr));
    oracle_add(ev_rc, strlen(ev_rc));
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 2);
    cr_assert_eq(cs.duplicates, n);
    oracle_finish();
    run_matrix(25, 31);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM blocks"), rows + 1);
    sqlite3_close(db);
}

/* ---- schema version 2 -> 3 and 3 -> 4, bulk loads ---- */

/* Version 3 keeps in ev_aid only each request's latest row, whose ranks column lists the
 * request's stored stages. The migration computes ranks from the rows, exactly as the writer
 * keeps it, and exactly-once holds across it. */
Test(store, migrates_a_version_2_store, .init = setup, .fini = teardown, .timeout = 300)
{
    struct ka_store_commit_stats cs;
    add_file("data/real/audit2rbac/history-501d132/demo.log");
    add_gen(3000, 700); /* requests split over batches */
    const char *const split[] = {ev_rc, ev_rr}; /* the latest stage first */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ka_store_add_line(st, split[i], strlen(split[i])), 0);
        oracle_add(split[i], strlen(split[i]));
        cr_assert_eq(ka_store_commit(st, NULL), 0);
    }
    oracle_finish();
    ka_store_close(st);
    st = NULL;
    sqlite3 *db = raw_open();
    static const char dump_sql[] = "SELECT id, latest, ranks FROM events ORDER BY id";
    char *before = raw_dump(db, dump_sql);
    cr_assert_gt(raw_int(db, "SELECT count(*) FROM events WHERE latest = 1 AND ranks = 10"), 0,
                 "RequestReceived and ResponseComplete stored: bits 1 and 3");
    raw_exec(db, "BEGIN");
    raw_exec(db, sql_v4_to_v3);
    raw_exec(db, sql_v3_to_v2);
    raw_exec(db, "COMMIT");
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM pragma_table_info('events')"
                             " WHERE name = 'ranks'"), 0);
    struct ka_store *ro = NULL;
    cr_assert_eq(ka_store_open(tmp, true, &ro), KA_EINVAL);
    cr_assert(strstr(ka_store_errmsg(NULL), "version 2 needs a migration to version 3") != NULL,
              "%s", ka_store_errmsg(NULL));
    cr_assert_eq(ka_store_open(tmp, false, &st), 0, "%s", ka_store_errmsg(NULL));
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), KA_STORE_SCHEMA_VERSION);
    char *after = raw_dump(db, dump_sql);
    cr_assert_str_eq(after, before);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'ev_aid'"
                             " AND sql LIKE '%WHERE latest = 1'"), 1);
    free(before);
    free(after);
    run_matrix(25, 31);
    /* everything again, and the earlier stage of the split request once more: duplicates */
    size_t n = n_evs;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ka_store_add_line(st, evs[i].line, evs[i].n), 0);
    cr_assert_eq(ka_store_add_line(st, ev_rr, strlen(ev_rr)), 0);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 0);
    cr_assert_eq(cs.duplicates, n + 1);
    check_rows_and_flags();
    sqlite3_close(db);
}

/* Version 4 keeps in ev_obj only the rows with okey = 1 (a request's latest row, and its
 * other stages whose object or timestamp differ). A version 3 store (ev_obj over every row)
 * gets okey = 1 on every row: queries give the same rows, and rows added afterwards follow
 * the new rule. */
Test(store, migrates_a_version_3_store, .init = setup, .fini = teardown, .timeout = 300)
{
    add_file("data/real/audit2rbac/history-501d132/demo.log");
    add_gen(2000, 600);
    ka_store_close(st);
    st = NULL;
    sqlite3 *db = raw_open();
    cr_assert_gt(raw_int(db, "SELECT count(*) FROM events WHERE okey = 0"), 500,
                 "stages of one request in one batch: one ev_obj entry");
    static const char dump_sql[] = "SELECT id, latest, ranks, blk, boff FROM events ORDER BY id";
    char *before = raw_dump(db, dump_sql);
    raw_exec(db, "BEGIN");
    raw_exec(db, sql_v4_to_v3);
    raw_exec(db, "COMMIT");
    struct ka_store *ro = NULL;
    cr_assert_eq(ka_store_open(tmp, true, &ro), KA_EINVAL);
    cr_assert(strstr(ka_store_errmsg(NULL), "version 3 needs a migration to version 4") != NULL,
              "%s", ka_store_errmsg(NULL));
    cr_assert_eq(ka_store_open(tmp, false, &st), 0, "%s", ka_store_errmsg(NULL));
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), 4);
    char *after = raw_dump(db, dump_sql);
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events WHERE okey = 0"), 0);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'ev_obj'"
                             " AND sql LIKE '%WHERE okey = 1'"), 1);
    oracle_finish();
    run_matrix(25, 31);
    /* the rest of the traffic, some of it stages of requests stored before */
    add_gen(2600, 900);
    oracle_finish();
    cr_assert_gt(raw_int(db, "SELECT count(*) FROM events WHERE okey = 0"), 0);
    check_rows_and_flags();
    run_matrix(25, 31);
    sqlite3_close(db);
}

/* The first n lines of `kaudit gen` traffic (seed 17), canonical, without LF. */
static char **gen_lines(size_t n)
{
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_gen_opts go = {.seed = 17, .events = n};
    char **lines = calloc(n, sizeof *lines);
    size_t k = 0;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    while (k < n && ka_gen_next(g, &b, NULL) == 0) {
        lines[k++] = strndup(b.p, b.n - 1);
        ka_buf_reset(&b);
    }
    cr_assert_eq(k, n);
    ka_gen_free(g);
    ka_buf_free(&b);
    return lines;
}

/* Adds lines[from, to) to w in pipelined batches of 1000, then waits for them. */
static void bulk_add(struct ka_store *w, char **lines, size_t from, size_t to,
                     struct ka_store_commit_stats *cs)
{
    for (size_t i = from; i < to; i++) {
        cr_assert_eq(ka_store_add_line(w, lines[i], strlen(lines[i])), 0);
        oracle_add(lines[i], strlen(lines[i]));
        if (ka_store_pending(w) >= 1000)
            cr_assert_eq(ka_store_commit_async(w), 0);
    }
    cr_assert_eq(ka_store_commit_async(w), 0);
    cr_assert_eq(ka_store_sync(w, cs), 0);
}

/*
 * A bulk load (opts.bulk, as `kaudit index` opens the store) writes several batches in one
 * transaction, committed by ka_store_sync at the latest, and skips the stage lookups of keys
 * it never stored, which is exact only while it is the store's only writer: events that
 * another writer stored in between are still found to be duplicates.
 */
Test(store, bulk_load_spans_batches_and_sees_other_writers, .init = setup, .fini = teardown,
     .timeout = 120)
{
    struct ka_store_opts o;
    struct ka_store *w;
    struct ka_store_commit_stats cs;
    char path[4096];
    char **lines = gen_lines(9000);
    ka_store_opts_default(&o);
    o.bulk = true;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(ka_store_open_path(path, &o, &w), 0);
    bulk_add(w, lines, 0, 4000, &cs);
    cr_assert_eq(cs.inserted, 4000);
    sqlite3 *db = raw_open(); /* another connection sees what sync returned */
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events"), 4000);
    /* another writer stores the next 2000 */
    for (size_t i = 4000; i < 6000; i++) {
        cr_assert_eq(ka_store_add_line(st, lines[i], strlen(lines[i])), 0);
        oracle_add(lines[i], strlen(lines[i]));
    }
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 2000);
    /* the bulk load goes on from 3000: 3000 duplicates, a third of them the other writer's */
    bulk_add(w, lines, 3000, 9000, &cs);
    cr_assert_eq(cs.inserted, 3000);
    cr_assert_eq(cs.duplicates, 3000);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events"), 9000);
    sqlite3_close(db);
    ka_store_close(w);
    oracle_finish();
    check_rows_and_flags();
    run_matrix(11, 19);
    for (size_t i = 0; i < 9000; i++)
        free(lines[i]);
    free(lines);
}

/* The store's indexes as sqlite_master lists them: name|sql, one per line. */
static char *index_list(const char *dbpath)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *d = raw_dump(db, "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                           " ORDER BY name");
    sqlite3_close(db);
    return d;
}

/*
 * A bulk load into an empty store drops the secondary indexes in its first transaction and
 * builds them when it ends (ka_store_checkpoint, ka_store_retain or ka_store_close): the same
 * indexes as the migrations create. A load that dies before that leaves a store without them:
 * a read-only open still answers exactly (slower), and the next writable open builds them.
 */
Test(store, bulk_load_builds_its_indexes_at_the_end, .init = setup, .fini = teardown,
     .timeout = 120)
{
    char path[4096];
    const size_t n = 6000;
    char **lines = gen_lines(n);
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    char *ref = index_list(path); /* as the migrations made them */
    cr_assert(strstr(ref, "ev_obj|CREATE INDEX ev_obj ON events(res_id, name, verb_id, ns_id,"
                          " ts) WHERE okey = 1"), "%s", ref);
    ka_store_close(st);
    st = NULL;
    /* a load that ends without closing the store (a crash after its last commit) */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct ka_store_opts o;
        struct ka_store *w = NULL;
        ka_store_opts_default(&o);
        o.bulk = true;
        int bad = ka_store_open_path(path, &o, &w) != 0;
        for (size_t i = 0; !bad && i < n; i++) {
            bad = ka_store_add_line(w, lines[i], strlen(lines[i])) != 0;
            if (!bad && ka_store_pending(w) >= 1000)
                bad = ka_store_commit_async(w) != 0;
        }
        bad = bad || ka_store_commit_async(w) != 0 || ka_store_sync(w, NULL) != 0;
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the loading child failed");
    for (size_t i = 0; i < n; i++)
        oracle_add(lines[i], strlen(lines[i]));
    oracle_finish();
    char *left = index_list(path);
    cr_assert_null(strstr(left, "ev_obj"), "the load did not defer ev_obj:\n%s", left);
    cr_assert_null(strstr(left, "ev_ts"), "the load did not defer ev_ts:\n%s", left);
    cr_assert(strstr(left, "ev_aid"), "ev_aid stays during the load:\n%s", left);
    /* read-only: exact answers without the indexes, and nothing built */
    cr_assert_eq(ka_store_open(tmp, true, &st), 0);
    run_matrix(11, 19);
    ka_store_close(st);
    st = NULL;
    char *still = index_list(path);
    cr_assert_str_eq(still, left);
    /* the next writable open builds them */
    cr_assert_eq(ka_store_open(tmp, false, &st), 0);
    char *built = index_list(path);
    cr_assert_str_eq(built, ref);
    check_rows_and_flags();
    run_matrix(11, 19);
    /* a load that ends normally builds them itself, in a new store */
    char dir2[2048];
    snprintf(dir2, sizeof dir2, "%s/second", tmp);
    struct ka_store_opts o;
    struct ka_store *w = NULL;
    ka_store_opts_default(&o);
    o.bulk = true;
    cr_assert_eq(ka_store_open_dir(dir2, &o, &w), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ka_store_add_line(w, lines[i], strlen(lines[i])), 0);
        if (ka_store_pending(w) >= 1000)
            cr_assert_eq(ka_store_commit_async(w), 0);
    }
    cr_assert_eq(ka_store_commit_async(w), 0);
    cr_assert_eq(ka_store_sync(w, NULL), 0);
    snprintf(path, sizeof path, "%s/store/kaudit.db", dir2);
    char *mid = index_list(path);
    cr_assert_null(strstr(mid, "ev_user"), "%s", mid);
    cr_assert_eq(ka_store_checkpoint(w), 0);
    char *end = index_list(path);
    cr_assert_str_eq(end, ref);
    ka_store_close(w);
    free(ref);
    free(left);
    free(still);
    free(built);
    free(mid);
    free(end);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/*
 * The page cache keeps the size asked for in a store the connection creates, whatever its page
 * size: SQLite counts `cache_size = -KiB` in pages of the size of the moment, which for a new
 * file was the default 4 KiB, so the cache of a new 32 KiB-page store (a bulk load) held 8
 * times the memory asked and that of an 8 KiB-page store twice.
 */
Test(store, page_cache_keeps_its_size_in_a_new_store, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const size_t n = 40000;
    char **lines = gen_lines(n);
    for (int bulk = 0; bulk < 2; bulk++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%s/new%d", tmp, bulk);
        struct ka_store_opts o;
        struct ka_store *w = NULL;
        struct ka_store_stats ss;
        ka_store_opts_default(&o);
        o.bulk = bulk;
        o.cache_mb = 1;
        cr_assert_eq(ka_store_open_dir(dir, &o, &w), 0);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(ka_store_add_line(w, lines[i], strlen(lines[i])), 0);
            if (ka_store_pending(w) >= 4000)
                cr_assert_eq(ka_store_commit(w, NULL), 0);
        }
        cr_assert_eq(ka_store_commit(w, NULL), 0);
        cr_assert_eq(ka_store_stats(w, &ss), 0);
        cr_assert_eq(ss.events, n);
        /* the pages written are many times the cache: it is full, and no larger */
        cr_assert_gt(ss.db_bytes, 8u << 20, "%llu bytes", (unsigned long long)ss.db_bytes);
        cr_assert_gt(ss.cache_bytes, 512u << 10, "bulk %d: cache %llu bytes", bulk,
                     (unsigned long long)ss.cache_bytes);
        cr_assert_leq(ss.cache_bytes, (1u << 20) + (1u << 20) / 4, "bulk %d: cache %llu bytes",
                      bulk, (unsigned long long)ss.cache_bytes);
        ka_store_close(w);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}
