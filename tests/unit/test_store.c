/*
 * test_store.c - the embedded store (include/kaudit/store.h): creation, exactly-once inserts,
 * the latest-stage flag, the query translation checked against the oracle of
 * test_store_util.h over the same events (queries by resource also over every stage and one
 * stage, which schema version 4 answers through each request's row in ev_obj), the
 * aggregates, retention, the journal consumer, pipelined commits and stages decided per batch.
 * test_store_schema.c has the migrations and bulk loads, test_store_blocks.c the blocks,
 * ev_obj's okey rows and ka_store_add_canonical.
 *
 * Data: `kaudit gen` traffic made in the test (ka_gen, seed 11, with attacks), and real logs
 * from ../shared/data/real: audit2rbac/history-501d132/demo.log (kube-apiserver 1.8, both
 * stages, impersonation, 403s) and crowdsec-hub/k8s-audit-pod-exec-file.log (pods/exec);
 * ../shared/data/real/SOURCES.md describes them.
 */
#include "test_store_util.h"

/* ---- basics ---- */

Test(store, creates_private_wal_store, .init = setup, .fini = teardown)
{
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/store", tmp);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    sqlite3 *db;
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), KA_STORE_SCHEMA_VERSION);
    sqlite3_finalize(q);
    sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 8192, "a store that is not bulk-loaded: 8 KiB pages");
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* a store that a bulk load (kaudit index) creates: 32 KiB pages */
    struct ka_store_opts o;
    struct ka_store *b = NULL;
    ka_store_opts_default(&o);
    o.bulk = true;
    snprintf(path, sizeof path, "%s/bulk", tmp);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/bulk/kaudit.db", tmp);
    cr_assert_eq(ka_store_open_path(path, &o, &b), 0);
    ka_store_close(b);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 32768);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

Test(store, readonly_missing_and_newer_schema, .init = setup, .fini = teardown)
{
    struct ka_store *s2 = NULL;
    char path[1024];
    cr_assert_eq(ka_store_open("/nonexistent-kaudit-dir", true, &s2), KA_ENOENT);
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(ka_store_open(tmp, false, &s2), KA_EINVAL);
    cr_assert_eq(ka_store_open(tmp, true, &s2), KA_EINVAL);
}

static int count_fn(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    (void)line;
    (void)len;
    int *n = ud;
    n[0]++;
    n[1] = (int)ev->stage_v;
    return 0;
}

Test(store, exactly_once_and_latest_stage, .init = setup, .fini = teardown)
{
    struct ka_store_commit_stats cs;
    struct ka_store_stats ss;
    struct ka_query q;
    int got[2] = {0, -1};
    cr_assert_eq(ka_store_add_line(st, ev_rc, strlen(ev_rc)), 0);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 1);
    /* the earlier stage arrives later, and a replay of both */
    cr_assert_eq(ka_store_add_line(st, ev_rr, strlen(ev_rr)), 0);
    cr_assert_eq(ka_store_add_line(st, ev_rc, strlen(ev_rc)), 0);
    cr_assert_eq(ka_store_add_line(st, ev_rr, strlen(ev_rr)), 0);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 1);
    cr_assert_eq(cs.duplicates, 2);
    /* the stored latest row learnt that the earlier stage is stored too */
    cr_assert_eq(ka_store_add_line(st, ev_rr, strlen(ev_rr)), 0);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 0);
    cr_assert_eq(cs.duplicates, 1);
    cr_assert_eq(ka_store_stats(st, &ss), 0);
    cr_assert_eq(ss.events, 2);
    cr_assert_eq(ss.requests, 1);
    ka_query_init(&q);
    cr_assert_eq(ka_store_query(st, &q, count_fn, got), 0);
    cr_assert_eq(got[0], 1);
    cr_assert_eq(got[1], KA_STAGE_RESPONSE_COMPLETE);
    struct ka_diag d = {0};
    cr_assert_eq(ka_query_set_stage(&q, "any", &d), 0);
    ka_diag_free(&d);
    got[0] = 0;
    cr_assert_eq(ka_store_query(st, &q, count_fn, got), 0);
    cr_assert_eq(got[0], 2);
    ka_query_free(&q);
    cr_assert_eq(ka_store_add_line(st, "{\"kind\":1}", 10), KA_ENOTEVENT);
}

/* ---- the query matrix against the oracle ---- */

Test(store, query_matrix_real_and_generated, .init = setup, .fini = teardown, .timeout = 300)
{
    add_file("data/real/audit2rbac/history-501d132/demo.log");
    add_file("data/real/crowdsec-hub/k8s-audit-pod-exec-file.log");
    add_gen(6000, 700); /* batches that split requests: stages arrive in later batches */
    oracle_finish();
    run_matrix(28, 31);
    /* indexing everything again changes nothing */
    size_t n = n_evs;
    struct ka_store_commit_stats cs;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ka_store_add_line(st, evs[i].line, evs[i].n), 0);
    cr_assert_eq(ka_store_commit(st, &cs), 0);
    cr_assert_eq(cs.inserted, 0);
    cr_assert_eq(cs.duplicates, n);
    run_matrix(28, 31);
}

static int first_user(void *ud, const char *key, size_t n, uint64_t count)
{
    (void)count;
    snprintf(ud, 128, "%.*s", (int)n, key);
    return 1;
}

Test(store, top_orders_by_count, .init = setup, .fini = teardown)
{
    add_gen(3000, 1000);
    oracle_finish();
    struct ka_query q;
    char top[128] = "";
    ka_query_init(&q);
    cr_assert_eq(ka_store_top(st, &q, "user", first_user, top), 1);
    /* the oracle's most frequent user */
    size_t best = 0;
    char best_user[256] = "";
    for (size_t i = 0; i < n_evs; i++) {
        char u[256], v[256];
        if (!evs[i].latest)
            continue;
        u[ka_str_decode(evs[i].ev.user.username, u)] = 0;
        size_t c = 0;
        for (size_t j = 0; j < n_evs; j++) {
            if (!evs[j].latest)
                continue;
            v[ka_str_decode(evs[j].ev.user.username, v)] = 0;
            c += strcmp(u, v) == 0;
        }
        if (c > best || (c == best && strcmp(u, best_user) < 0)) {
            best = c;
            snprintf(best_user, sizeof best_user, "%s", u);
        }
    }
    cr_assert_str_eq(top, best_user);
    cr_assert_eq(ka_store_top(st, &q, "no-such-field", first_user, top), KA_ENOENT);
    qadd(&q, "grep=x");
    uint64_t n;
    cr_assert_eq(ka_store_count(st, &q, &n), KA_ENOENT);
    ka_query_free(&q);
}

/* ---- retention ---- */

Test(store, retention_by_age_and_size, .init = setup, .fini = teardown, .timeout = 120)
{
    struct ka_store_retain_stats rs;
    struct ka_store_stats before, after;
    /* large enough that a quarter of it is well above the smallest store (one 32 KiB page
     * per table and index) */
    add_gen(16000, 4000);
    oracle_finish();
    cr_assert_eq(ka_store_stats(st, &before), 0);
    /* gen starts at 2025-03-10T09:00:00Z at 300 events/s: keep the last 30 s */
    int64_t newest = before.newest_ns / 1000000000;
    cr_assert_eq(ka_store_retain(st, 30, 0, newest + 1, &rs), 0);
    cr_assert_gt(rs.deleted, 0);
    cr_assert_eq(ka_store_stats(st, &after), 0);
    cr_assert_eq(after.events, before.events - rs.deleted);
    cr_assert_geq(after.oldest_ns, (newest + 1 - 30) * 1000000000);
    /* every request kept has its latest row: no request lost half its stages */
    struct ka_query q;
    ka_query_init(&q);
    uint64_t reqs = 0;
    cr_assert_eq(ka_store_count(st, &q, &reqs), 0);
    cr_assert_eq(reqs, after.requests);
    /* by size: far below the current size */
    uint64_t limit = after.db_bytes / 4;
    cr_assert_eq(ka_store_retain(st, 0, limit, newest + 1, &rs), 0);
    cr_assert_gt(rs.deleted, 0);
    cr_assert_eq(ka_store_stats(st, &after), 0);
    cr_assert_leq(after.db_bytes - after.free_bytes, limit + (limit / 2),
                  "db %llu free %llu limit %llu", (unsigned long long)after.db_bytes,
                  (unsigned long long)after.free_bytes, (unsigned long long)limit);
    cr_assert_eq(ka_store_count(st, &q, &reqs), 0);
    cr_assert_eq(reqs, after.requests);
    ka_query_free(&q);
}

/* ---- the journal consumer ---- */

Test(store, consumer_reads_the_journal_exactly_once, .init = setup, .fini = teardown,
     .timeout = 120)
{
    char jdir[1024];
    struct ka_journal_opts jo;
    struct ka_journal *j;
    struct ka_store_consumer *c;
    struct ka_store_consumer_stats cst;
    snprintf(jdir, sizeof jdir, "%s/journal", tmp);
    ka_journal_opts_default(&jo);
    jo.dir = jdir;
    cr_assert_eq(ka_journal_open(&jo, &j), 0);
    char lines[sizeof ev_rr + sizeof ev_rc + 4];
    snprintf(lines, sizeof lines, "%s\n%s\n", ev_rr, ev_rc);
    cr_assert_eq(ka_journal_append(j, lines, strlen(lines), 2), 0);
    struct ka_store_consumer_opts co = {.batch_ms = 20};
    cr_assert_eq(ka_store_consumer_start(j, tmp, &co, &c), 0);
    for (int i = 0; i < 200; i++) {
        ka_store_consumer_stats(c, &cst);
        if (cst.inserted + cst.duplicates >= 2)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    ka_store_consumer_stop(c);
    cr_assert_eq(cst.inserted, 2);
    /* a second consumer resumes after the committed cursor: nothing read again */
    cr_assert_eq(ka_journal_append(j, lines, strlen(lines), 2), 0); /* a replay */
    cr_assert_eq(ka_store_consumer_start(j, tmp, &co, &c), 0);
    for (int i = 0; i < 200; i++) {
        ka_store_consumer_stats(c, &cst);
        if (cst.events >= 2 && cst.inserted + cst.duplicates >= 2)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    ka_store_consumer_stop(c);
    cr_assert_eq(cst.events, 2);
    cr_assert_eq(cst.duplicates, 2);
    cr_assert_eq(cst.inserted, 0);
    ka_journal_close(j);
    struct ka_store_stats ss;
    cr_assert_eq(ka_store_stats(st, &ss), 0);
    cr_assert_eq(ss.events, 2);
}

/* ---- pipelined commits, explain, read-only ---- */

Test(store, pipelined_commits_store_the_same, .init = setup, .fini = teardown, .timeout = 120)
{
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_store_commit_stats cs;
    struct ka_gen_opts go = {.seed = 3, .events = 5000};
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    while (ka_gen_next(g, &b, NULL) == 0) {
        cr_assert_eq(ka_store_add_line(st, b.p, b.n), 0);
        oracle_add(b.p, b.n - 1);
        ka_buf_reset(&b);
        if (ka_store_pending(st) >= 1200) /* the first batch trains the dictionary */
            cr_assert_eq(ka_store_commit_async(st), 0);
    }
    cr_assert_eq(ka_store_commit_async(st), 0);
    cr_assert_eq(ka_store_sync(st, &cs), 0);
    cr_assert_eq(cs.inserted, 5000);
    cr_assert_eq(cs.duplicates, 0);
    ka_gen_free(g);
    ka_buf_free(&b);
    oracle_finish();
    run_matrix(25, 31);
    /* the plan names the index chosen */
    struct ka_query q;
    struct ka_buf ex;
    ka_query_init(&q);
    ka_buf_init(&ex, 0);
    qadd(&q, "verb=delete");
    qadd(&q, "resource=deployments");
    qadd(&q, "name=shop");
    cr_assert_eq(ka_store_explain(st, &q, NULL, &ex), 0);
    cr_assert(strstr(ex.p, "ev_obj") != NULL, "%s", ex.p);
    ka_buf_reset(&ex);
    ka_query_free(&q);
    ka_query_init(&q);
    qadd(&q, "since=2025-03-10T09:00:00Z");
    cr_assert_eq(ka_store_explain(st, &q, "user", &ex), 0);
    cr_assert(strstr(ex.p, "COVERING INDEX ev_user") != NULL, "%s", ex.p);
    ka_buf_free(&ex);
    ka_query_free(&q);
    /* a read-only store refuses writes */
    struct ka_store *ro;
    cr_assert_eq(ka_store_open(tmp, true, &ro), 0);
    cr_assert_eq(ka_store_add_line(ro, ev_rr, strlen(ev_rr)), KA_EINVAL);
    cr_assert_eq(ka_store_commit(ro, NULL), KA_EINVAL);
    ka_store_close(ro);
}

/* ---- stages decided per batch ---- */

/*
 * Batches where later stages come before earlier ones, stages of one request split over
 * batches, and replays of earlier batches inside later ones: the first copy of each
 * (auditID, stage) is kept and the highest stage is the only latest row of its request.
 */
Test(store, stages_decided_per_batch, .init = setup, .fini = teardown, .timeout = 120)
{
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_gen_opts go = {.seed = 5, .events = 3000};
    char **lines = calloc(3000, sizeof *lines);
    size_t n = 0;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    while (n < 3000 && ka_gen_next(g, &b, NULL) == 0) {
        lines[n++] = strndup(b.p, b.n - 1);
        ka_buf_reset(&b);
    }
    ka_gen_free(g);
    ka_buf_free(&b);
    uint64_t dups = 0;
    for (size_t c0 = 0; c0 < n; c0 += 500) {
        size_t c1 = c0 + 500 < n ? c0 + 500 : n;
        for (size_t i = c1; i-- > c0;) { /* backwards: later stages first */
            cr_assert_eq(ka_store_add_line(st, lines[i], strlen(lines[i])), 0);
            oracle_add(lines[i], strlen(lines[i]));
        }
        for (size_t i = c0 >= 500 ? c0 - 500 : n; i < c0; i += 7) { /* replays */
            cr_assert_eq(ka_store_add_line(st, lines[i], strlen(lines[i])), 0);
            oracle_add(lines[i], strlen(lines[i]));
            dups++;
        }
        struct ka_store_commit_stats cs;
        cr_assert_eq(ka_store_commit(st, &cs), 0);
    }
    oracle_finish();
    size_t odup = 0, oreq = 0;
    for (size_t i = 0; i < n_evs; i++) {
        odup += evs[i].dup;
        oreq += evs[i].latest && !evs[i].dup;
    }
    cr_assert_geq(odup, dups, "the replays are duplicates");
    struct ka_store_stats ss;
    cr_assert_eq(ka_store_stats(st, &ss), 0);
    cr_assert_eq(ss.events, n_evs - odup);
    cr_assert_eq(ss.requests, oreq);
    check_rows_and_flags();
    run_matrix(11, 19);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* A batch the writer thread could not commit (the database locked by another writer) is
 * kept and committed by the next sync, in order, and nothing is lost. */
Test(store, failed_async_batch_is_retried, .init = setup, .fini = teardown, .timeout = 120)
{
    struct ka_store_opts o;
    struct ka_store *w;
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_store_commit_stats cs;
    char path[4096];
    sqlite3 *other;
    ka_store_opts_default(&o);
    o.busy_ms = 50;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(ka_store_open_path(path, &o, &w), 0);
    struct ka_gen_opts go = {.seed = 9, .events = 2700};
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
    size_t k = 0;
    while (ka_gen_next(g, &b, NULL) == 0) {
        cr_assert_eq(ka_store_add_line(w, b.p, b.n), 0);
        oracle_add(b.p, b.n - 1);
        ka_buf_reset(&b);
        if (++k == 1200) { /* trains the dictionary, synchronously */
            cr_assert_eq(ka_store_commit_async(w), 0);
            cr_assert_eq(ka_store_sync(w, &cs), 0);
            cr_assert_eq(cs.inserted, 1200);
            cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        } else if (k == 2200) {
            cr_assert_eq(ka_store_commit_async(w), 0); /* the writer thread will fail */
        }
    }
    cr_assert_eq(ka_store_sync(w, &cs), KA_EIO, "the lock makes the batch fail");
    cr_assert_eq(cs.inserted, 0);
    cr_assert_eq(ka_store_sync(w, &cs), KA_EIO, "still locked: still kept");
    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(ka_store_commit_async(w), 0); /* retries the kept batch, then the last one */
    cr_assert_eq(ka_store_sync(w, &cs), 0);
    cr_assert_eq(cs.inserted, 1500);
    sqlite3_close(other);
    ka_gen_free(g);
    ka_buf_free(&b);
    ka_store_close(w);
    oracle_finish();
    check_rows_and_flags();
}
