/*
 * test_store_blocks.c - how the store keeps events: blocks of consecutive rows (retention
 * frees a block with its last row; identical events without auditID), ev_obj on the rows with
 * okey = 1 (schema version 4: the other stages of a request found through its latest row), the
 * page size of new and older stores, and ka_store_add_canonical storing what ka_store_add
 * stores.
 *
 * Data: events written in the test and `kaudit gen` traffic (ka_gen, seed 13, with attacks);
 * nothing from ../shared.
 */
#include <unistd.h>

#include "test_store_util.h"

/* ---- blocks: retention, events without an auditID ---- */


/* A ResponseComplete event received sec seconds after T0; no auditID when aid is "". */
static size_t mk_event(char *buf, size_t cap, const char *aid, int sec)
{
    char a[160] = "";
    if (*aid)
        snprintf(a, sizeof a, "\"auditID\":\"%s\",", aid);
    int n = snprintf(buf, cap,
                     "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
                     "%s\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\","
                     "\"verb\":\"list\",\"user\":{\"username\":\"u%d\"},"
                     "\"objectRef\":{\"resource\":\"pods\",\"apiVersion\":\"v1\"},"
                     "\"responseStatus\":{\"metadata\":{},\"code\":200},"
                     "\"requestReceivedTimestamp\":\"2025-03-10T09:%02d:%02d.000000Z\","
                     "\"stageTimestamp\":\"2025-03-10T09:%02d:%02d.001000Z\"}",
                     a, sec % 5, sec / 60, sec % 60, sec / 60, sec % 60);
    cr_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* Each block's live count against its rows: every row's block exists, no block is empty. */
static void check_blocks(sqlite3 *db, int64_t want_blocks)
{
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM blocks"), want_blocks);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM blocks b WHERE live <>"
                             " (SELECT count(*) FROM events e WHERE e.blk = b.id)"), 0);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM blocks WHERE live <= 0"), 0);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events e WHERE NOT EXISTS"
                             " (SELECT 1 FROM blocks b WHERE b.id = e.blk)"), 0);
}

/* 40 events one second apart in one batch: blocks of rows 0-31 and 32-39. Retention takes
 * rows out of a block (the block stays, its other rows still readable) and deletes the block
 * with its last row. */
Test(store, retention_frees_a_block_with_its_last_row, .init = setup, .fini = teardown)
{
    char line[1024], aid[32];
    for (int i = 0; i < 40; i++) {
        snprintf(aid, sizeof aid, "r%02d", i);
        size_t n = mk_event(line, sizeof line, aid, i);
        cr_assert_eq(ka_store_add_line(st, line, n), 0);
        oracle_add(line, n);
    }
    cr_assert_eq(ka_store_commit(st, NULL), 0);
    oracle_finish();
    sqlite3 *db = raw_open();
    check_blocks(db, 2);
    cr_assert_eq(raw_int(db, "SELECT max(live) FROM blocks"), 32);
    static const struct { int keep_from; int64_t blocks, deleted; } steps[] = {
        {10, 2, 10}, {31, 2, 21}, {32, 1, 1}, {40, 0, 8}};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        struct ka_store_retain_stats rs;
        /* keep rows received at T0 + keep_from or later */
        cr_assert_eq(ka_store_retain(st, 1, 0, T0 + steps[k].keep_from + 1, &rs), 0);
        cr_assert_eq(rs.deleted, (uint64_t)steps[k].deleted, "step %zu", k);
        check_blocks(db, steps[k].blocks);
        for (size_t i = 0; i < n_evs; i++)
            evs[i].dup = (int)i < steps[k].keep_from; /* gone: not expected any more */
        run_matrix(0, 0);
    }
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events"), 0);
    sqlite3_close(db);
}

/* Events without an auditID are keyed by their canonical line: of two identical ones in one
 * block the second is a duplicate (the block counts one live row), a different one is a row of
 * its own in the same block, and a third copy in a later batch writes no block. */
Test(store, identical_events_without_auditid, .init = setup, .fini = teardown)
{
    char a[1024], b[1024];
    struct ka_store_commit_stats cs;
    size_t na = mk_event(a, sizeof a, "", 7), nb = mk_event(b, sizeof b, "", 8);
    const char *batch[] = {a, a, b};
    size_t lens[] = {na, na, nb};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ka_store_add_line(st, batch[i], lens[i]), 0);
        oracle_add(batch[i], lens[i]);
    }
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 2);
    cr_assert_eq(cs.duplicates, 1);
    sqlite3 *db = raw_open();
    check_blocks(db, 1);
    cr_assert_eq(raw_int(db, "SELECT live FROM blocks"), 2);
    cr_assert_eq(raw_int(db, "SELECT count(DISTINCT boff) FROM events"), 2);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events WHERE latest = 1 AND aid = ''"), 2);
    cr_assert_eq(ka_store_add_line(st, a, na), 0);
    oracle_add(a, na);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 0);
    cr_assert_eq(cs.duplicates, 1);
    check_blocks(db, 1);
    oracle_finish();
    cr_assert(evs[1].dup && evs[3].dup && !evs[0].dup && !evs[2].dup);
    run_matrix(1, 1);
    struct ka_query q;
    uint64_t cnt = 0;
    ka_query_init(&q);
    cr_assert_eq(ka_store_count(st, &q, &cnt), 0);
    cr_assert_eq(cnt, 2);
    ka_query_free(&q);
    struct ka_store_stats ss;
    cr_assert_eq(ka_store_stats(st, &ss), 0);
    cr_assert_eq(ss.events, 2);
    cr_assert_eq(ss.requests, 2);
    sqlite3_close(db);
}

/* ---- ev_obj on okey rows (schema version 4) ---- */

/* A delete of configmap web/name at stage, received sec seconds after T0. */
static size_t mk_stage(char *buf, size_t cap, const char *aid, const char *stage,
                       const char *name, int sec)
{
    int n = snprintf(buf, cap,
                     "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
                     "\"auditID\":\"%s\",\"stage\":\"%s\",\"requestURI\":\"/x\",\"verb\":\"delete\","
                     "\"user\":{\"username\":\"u-%s\"},\"objectRef\":{\"resource\":\"configmaps\","
                     "\"namespace\":\"web\",\"name\":\"%s\",\"apiVersion\":\"v1\"},"
                     "\"requestReceivedTimestamp\":\"2025-03-10T09:00:%02d.000000Z\","
                     "\"stageTimestamp\":\"2025-03-10T09:00:%02d.500000Z\"}",
                     aid, stage, stage, name, sec, sec);
    cr_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static void add_stage(const char *aid, const char *stage, const char *name, int sec)
{
    char line[1024];
    size_t n = mk_stage(line, sizeof line, aid, stage, name, sec);
    cr_assert_eq(ka_store_add_line(st, line, n), 0);
    oracle_add(line, n);
}

/* Queries over every stage by object, each against the oracle. */
static void check_object_queries(struct oev **want)
{
    static const char *const qs[][4] = {
        {"stage=any", "resource=configmaps"},
        {"stage=any", "resource=configmaps", "name=a"},
        {"stage=any", "resource=configmaps", "name=b", "verb=delete"},
        {"stage=RequestReceived", "resource=configmaps", "name=a"},
        {"stage=Panic", "resource=configmaps", "ns=web"},
        {"stage=any", "resource=configmaps", "user=u-RequestReceived"},
        {"resource=configmaps", "name=a"},
    };
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        struct ka_query q;
        bool exact = false;
        ka_query_init(&q);
        for (int i = 0; i < 4 && qs[k][i]; i++)
            qadd(&q, qs[k][i]);
        (void)check_query(&q, want, qs[k][1], &exact);
        cr_assert(exact, "query %zu: answered from the columns", k);
        ka_query_free(&q);
    }
}

/*
 * A stage that shares its request's object and timestamp with the latest row is not in ev_obj
 * (okey = 0) and is found through it; one whose name or timestamp differs, or that arrives in
 * a later batch than its request's latest row, is in ev_obj. A stage found through two
 * indexed rows of its request is still returned once, and retention takes it with them.
 */
Test(store, other_stages_found_through_the_latest_row, .init = setup, .fini = teardown)
{
    add_stage("o1", "RequestReceived", "a", 1); /* same as its latest row: okey 0 */
    add_stage("o1", "ResponseComplete", "a", 1);
    add_stage("o2", "RequestReceived", "a", 2); /* another name than the latest row */
    add_stage("o2", "ResponseComplete", "b", 2);
    add_stage("o3", "RequestReceived", "a", 3); /* another timestamp */
    add_stage("o3", "ResponseComplete", "a", 4);
    add_stage("o4", "ResponseComplete", "a", 5);
    cr_assert_eq(ka_store_commit(st, NULL), 0);
    add_stage("o1", "Panic", "a", 1);           /* a later latest row: o1's RR has two */
    add_stage("o4", "RequestReceived", "a", 5); /* after its latest row: okey 1 */
    cr_assert_eq(ka_store_commit(st, NULL), 0);
    oracle_finish();
    sqlite3 *db = raw_open();
    char *got = raw_dump(db, "SELECT aid, rank, latest, okey FROM events ORDER BY aid, rank");
    cr_assert_str_eq(got, "o1|1|0|0|\no1|3|0|1|\no1|4|1|1|\no2|1|0|1|\no2|3|1|1|\n"
                          "o3|1|0|1|\no3|3|1|1|\no4|1|0|1|\no4|3|1|1|\n");
    free(got);
    struct oev **want = malloc(n_evs * sizeof *want);
    check_object_queries(want);
    struct ka_buf ex;
    struct ka_query q;
    ka_buf_init(&ex, 0);
    ka_query_init(&q);
    qadd(&q, "stage=any");
    qadd(&q, "resource=configmaps");
    qadd(&q, "name=a");
    cr_assert_eq(ka_store_explain(st, &q, NULL, &ex), 0);
    cr_assert(strstr(ex.p, "USING INDEX ev_obj") != NULL, "%s", ex.p);
    ka_query_free(&q);
    ka_buf_free(&ex);
    /* retention up to T0 + 1 s: o1's three rows leave together */
    struct ka_store_retain_stats rs;
    cr_assert_eq(ka_store_retain(st, 1, 0, T0 + 3, &rs), 0);
    cr_assert_eq(rs.deleted, 3);
    for (size_t i = 0; i < n_evs; i++)
        evs[i].dup |= strcmp(evs[i].aid, "o1") == 0;
    check_object_queries(want);
    free(want);
    sqlite3_close(db);
}

/* ---- pages ---- */

/* New stores have 32 KiB pages; a store created with 8 KiB pages (before version 4) keeps
 * them and works the same. */
Test(store, keeps_the_page_size_of_an_older_store, .init = setup, .fini = teardown,
     .timeout = 120)
{
    char path[4096];
    ka_store_close(st);
    st = NULL;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(unlink(path), 0);
    for (int i = 0; i < 2; i++) { /* the closed store's WAL files, if any */
        char side[4200];
        snprintf(side, sizeof side, "%s%s", path, i ? "-shm" : "-wal");
        (void)unlink(side);
    }
    sqlite3 *db = raw_open(); /* creates the file */
    raw_exec(db, "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; CREATE TABLE t0(x)");
    cr_assert_eq(raw_int(db, "PRAGMA page_size"), 8192);
    cr_assert_eq(ka_store_open(tmp, false, &st), 0, "%s", ka_store_errmsg(NULL));
    add_gen(3000, 1000);
    oracle_finish();
    cr_assert_eq(raw_int(db, "PRAGMA page_size"), 8192);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM events"), 3000);
    check_rows_and_flags();
    run_matrix(11, 19);
    sqlite3_close(db);
}

/* ---- ka_store_add_canonical ---- */

/* Every row and block of the database at path, as text, in id order. */
static char *dump_rows(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    static const char *const sql[] = {
        "SELECT * FROM events ORDER BY id",
        "SELECT id, dict, size, live, hex(data) FROM blocks ORDER BY id",
        "SELECT * FROM strs ORDER BY id",
        "SELECT k, v FROM meta ORDER BY k",
        "SELECT hex(data) FROM zdict ORDER BY id",
    };
    for (size_t k = 0; k < sizeof sql / sizeof sql[0]; k++) {
        cr_assert_eq(sqlite3_prepare_v2(db, sql[k], -1, &q, NULL), SQLITE_OK);
        while (sqlite3_step(q) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                const char *t = (const char *)sqlite3_column_text(q, c);
                cr_assert_eq(ka_buf_append(&b, t ? t : "NULL", strlen(t ? t : "NULL")), 0);
                cr_assert_eq(ka_buf_append(&b, "|", 1), 0);
            }
            cr_assert_eq(ka_buf_append(&b, "\n", 1), 0);
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    cr_assert_not_null(ka_buf_cstr(&b));
    return b.p;
}

/* The same canonical lines through ka_store_add (re-encoded) and ka_store_add_canonical
 * (stored as they are, with or without LF) give the same database, row for row and byte for
 * byte, and the same query results. */
Test(store, add_canonical_stores_what_add_stores, .init = setup, .fini = teardown, .timeout = 120)
{
    ka_store_close(st); /* two stores of its own */
    st = NULL;
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_gen_opts go = {.seed = 13, .events = 2500, .attacks = true};
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    while (ka_gen_next(g, &b, NULL) == 0) {
        oracle_add(b.p, b.n - 1);
        ka_buf_reset(&b);
    }
    ka_gen_free(g);
    ka_buf_free(&b);
    oracle_finish();
    char pa[4096], pc[4096];
    struct ka_store_opts o;
    struct ka_store *sa, *sc;
    ka_store_opts_default(&o);
    snprintf(pa, sizeof pa, "%s/a.db", tmp);
    snprintf(pc, sizeof pc, "%s/c.db", tmp);
    cr_assert_eq(ka_store_open_path(pa, &o, &sa), 0);
    cr_assert_eq(ka_store_open_path(pc, &o, &sc), 0);
    for (size_t i = 0; i < n_evs; i++) {
        cr_assert_eq(ka_store_add(sa, &evs[i].ev), 0);
        char *l = strndup(evs[i].line, evs[i].n + 1); /* with its LF every other line */
        l[evs[i].n] = '\n';
        cr_assert_eq(ka_store_add_canonical(sc, &evs[i].ev, l, evs[i].n + (i & 1)), 0);
        free(l);
        if (i % 1200 == 1199) {
            cr_assert_eq(ka_store_commit(sa, NULL), 0);
            cr_assert_eq(ka_store_commit(sc, NULL), 0);
        }
    }
    cr_assert_eq(ka_store_commit(sa, NULL), 0);
    cr_assert_eq(ka_store_commit(sc, NULL), 0);
    ka_store_close(sa);
    st = sc;
    run_matrix(25, 31);
    ka_store_close(sc);
    st = NULL;
    char *da = dump_rows(pa), *dc = dump_rows(pc);
    cr_assert_gt(strlen(da), 2500 * 50);
    cr_assert(strcmp(da, dc) == 0, "the two stores differ");
    free(da);
    free(dc);
}
