/*
 * test_store.c - the embedded store (include/kaudit/store.h): creation, exactly-once inserts,
 * the latest-stage flag, the query translation checked against an in-test oracle over the
 * same events (selection and order as query.h defines them, filters by ka_query_match), the
 * aggregates, retention (and the blocks it frees), schema versions (a version 1 store
 * migrated), ka_store_add_canonical and the journal consumer.
 *
 * Data: `kaudit gen` traffic made in the test (ka_gen, seed 11, with attacks), and real logs
 * from ../shared/data/real: audit2rbac/history-501d132/demo.log (kube-apiserver 1.8, both
 * stages, impersonation, 403s) and crowdsec-hub/k8s-audit-pod-exec-file.log (pods/exec);
 * ../shared/data/real/SOURCES.md describes them.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include "kaudit/gen.h"
#include "kaudit/journal.h"
#include "kaudit/store.h"
#include "testutil.h"

/* ---- the oracle: every stored event, in data order ---- */

struct oev {
    char *line; /* canonical, no LF */
    size_t n;
    struct ka_event ev;
    char aid[128];
    int rank;
    bool latest, dup;
    int64_t ts;
    bool has_ts;
    size_t seq;
};

static struct oev *evs;
static size_t n_evs, cap_evs;

static void oracle_add(const char *line, size_t n)
{
    struct ka_event ev;
    struct ka_scan_err se;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_scan(line, n, NULL, &ev, &se), 0, "%s", se.msg);
    cr_assert_eq(ka_event_write(&ev, &(struct ka_write_opts){0}, &b), 0);
    if (n_evs == cap_evs) {
        cap_evs = cap_evs ? cap_evs * 2 : 1024;
        evs = realloc(evs, cap_evs * sizeof *evs);
    }
    struct oev *o = &evs[n_evs];
    memset(o, 0, sizeof *o);
    o->line = b.p;
    o->n = b.n - 1;
    cr_assert_eq(ka_event_scan(o->line, o->n, NULL, &o->ev, &se), 0);
    cr_assert_lt(o->ev.auditID.n, sizeof o->aid);
    o->aid[ka_str_decode(o->ev.auditID, o->aid)] = 0;
    o->rank = ka_query_stage_rank(o->ev.stage_v);
    o->has_ts = o->ev.requestReceivedTimestamp.set;
    o->ts = o->ev.requestReceivedTimestamp.sec * 1000000000 + o->ev.requestReceivedTimestamp.nsec;
    o->seq = n_evs++;
}

/* Duplicates (same auditID and rank: the store keeps the first; without auditID, the same
 * canonical line) and latest flags. */
static void oracle_finish(void)
{
    for (size_t i = 0; i < n_evs; i++) {
        evs[i].latest = true;
        evs[i].dup = false;
        for (size_t j = 0; j < i && !evs[i].aid[0]; j++)
            if (!evs[j].aid[0] && evs[j].n == evs[i].n &&
                memcmp(evs[j].line, evs[i].line, evs[i].n) == 0)
                evs[i].dup = true;
        evs[i].latest = !evs[i].dup;
        for (size_t j = 0; j < n_evs && evs[i].aid[0]; j++) {
            if (j == i || strcmp(evs[i].aid, evs[j].aid) != 0)
                continue;
            if (evs[j].rank == evs[i].rank && j < i)
                evs[i].dup = true;
            if (evs[j].rank > evs[i].rank || (evs[j].rank == evs[i].rank && j < i))
                evs[i].latest = false;
        }
    }
}

static int cmp_rows(const void *a, const void *b)
{
    const struct oev *x = *(const struct oev *const *)a, *y = *(const struct oev *const *)b;
    if (x->has_ts != y->has_ts)
        return x->has_ts ? 1 : -1;
    if (x->has_ts && x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->aid, y->aid);
    if (c)
        return c;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return x->seq < y->seq ? -1 : 1;
}

/* The expected rows of q, in order. */
static size_t oracle_rows(const struct ka_query *q, struct oev **out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_evs; i++) {
        const struct oev *o = &evs[i];
        if (o->dup || (q->stage_mode == KA_QSTAGE_REQUESTS && !o->latest))
            continue;
        if (!ka_query_stage_ok(q, &o->ev) || !ka_query_match(q, &o->ev, o->line, o->n))
            continue;
        out[n++] = &evs[i];
    }
    qsort(out, n, sizeof(struct oev *), cmp_rows);
    if (q->limit && n > q->limit)
        n = q->limit;
    return n;
}

/* ---- fixtures ---- */

static char *tmp;
static struct ka_store *st;

static void add_file(const char *rel)
{
    const char *p = ka_t_shared(rel);
    size_t len;
    char *data = ka_t_read_file(p, &len);
    cr_assert_not_null(data);
    for (char *l = data, *e; l < data + len; l = e + 1) {
        e = memchr(l, '\n', (size_t)(data + len - l));
        if (!e)
            e = data + len;
        if (e == l)
            continue;
        cr_assert_eq(ka_store_add_line(st, l, (size_t)(e - l)), 0);
        oracle_add(l, (size_t)(e - l));
    }
    free(data);
    cr_assert_eq(ka_store_commit(st, NULL), 0);
}

static void add_gen(uint64_t n, size_t batch)
{
    struct ka_gen *g;
    struct ka_buf b;
    struct ka_gen_opts go = {.seed = 11, .events = n, .attacks = true};
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    while (ka_gen_next(g, &b, NULL) == 0) {
        cr_assert_eq(ka_store_add_line(st, b.p, b.n), 0);
        oracle_add(b.p, b.n - 1);
        ka_buf_reset(&b);
        if (ka_store_pending(st) >= batch)
            cr_assert_eq(ka_store_commit(st, NULL), 0);
    }
    cr_assert_eq(ka_store_commit(st, NULL), 0);
    ka_gen_free(g);
    ka_buf_free(&b);
}

static void setup(void)
{
    tmp = ka_t_tmpdir();
    cr_assert_eq(ka_store_open(tmp, false, &st), 0);
}

static void teardown(void)
{
    ka_store_close(st);
    st = NULL;
    ka_t_rmtree(tmp);
    free(tmp);
    for (size_t i = 0; i < n_evs; i++)
        free(evs[i].line);
    free(evs);
    evs = NULL;
    n_evs = cap_evs = 0;
}

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

static const char ev_rr[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
    "\"auditID\":\"a1\",\"stage\":\"RequestReceived\",\"requestURI\":\"/x\",\"verb\":\"delete\","
    "\"user\":{\"username\":\"alice\"},\"objectRef\":{\"resource\":\"deployments\","
    "\"namespace\":\"web\",\"name\":\"shop\",\"apiGroup\":\"apps\",\"apiVersion\":\"v1\"},"
    "\"requestReceivedTimestamp\":\"2025-03-10T09:00:00.000000Z\","
    "\"stageTimestamp\":\"2025-03-10T09:00:00.000000Z\"}";
static const char ev_rc[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
    "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"delete\","
    "\"user\":{\"username\":\"alice\"},\"objectRef\":{\"resource\":\"deployments\","
    "\"namespace\":\"web\",\"name\":\"shop\",\"apiGroup\":\"apps\",\"apiVersion\":\"v1\"},"
    "\"responseStatus\":{\"metadata\":{},\"code\":200},"
    "\"requestReceivedTimestamp\":\"2025-03-10T09:00:00.000000Z\","
    "\"stageTimestamp\":\"2025-03-10T09:00:00.004000Z\"}";

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

/* One filter: "kind=value" as the command line would give it. */
static void qadd(struct ka_query *q, const char *spec)
{
    struct ka_diag d = {0};
    const char *v = strchr(spec, '=') + 1;
    int rc;
#define K(name) (strncmp(spec, name "=", strlen(name) + 1) == 0)
    if (K("user"))
        rc = ka_query_add_users(q, v, &d);
    else if (K("as"))
        rc = ka_query_add_as(q, v, &d);
    else if (K("group"))
        rc = ka_query_add_groups(q, v, &d);
    else if (K("verb"))
        rc = ka_query_add_verbs(q, v, &d);
    else if (K("resource"))
        rc = ka_query_add_resources(q, v, &d);
    else if (K("ns"))
        rc = ka_query_add_namespaces(q, v, &d);
    else if (K("name"))
        rc = ka_query_add_names(q, v, &d);
    else if (K("code"))
        rc = ka_query_add_codes(q, v, &d);
    else if (K("decision"))
        rc = ka_query_set_decision(q, v, &d);
    else if (K("ip"))
        rc = ka_query_add_source_ips(q, v, &d);
    else if (K("ua"))
        rc = ka_query_add_user_agents(q, v, &d);
    else if (K("cluster"))
        rc = ka_query_add_clusters(q, v, &d);
    else if (K("grep"))
        rc = ka_query_add_grep(q, v, &d);
    else if (K("stage"))
        rc = ka_query_set_stage(q, v, &d);
    else if (K("since"))
        rc = ka_query_set_since(q, v, 0, &d);
    else if (K("until"))
        rc = ka_query_set_until(q, v, 0, &d);
    else if (K("limit"))
        rc = ka_query_set_limit(q, v, &d);
    else
        rc = KA_EINVAL;
#undef K
    cr_assert_eq(rc, 0, "%s", spec);
    ka_diag_free(&d);
}

struct collect {
    struct oev **want;
    size_t n, at;
    const char *name;
};

static int check_fn(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    (void)ev;
    struct collect *c = ud;
    cr_assert_lt(c->at, c->n, "%s: more rows than expected", c->name);
    const struct oev *o = c->want[c->at++];
    cr_assert(len == o->n && memcmp(line, o->line, len) == 0, "%s: row %zu differs: %.*s",
              c->name, c->at - 1, (int)len, line);
    return 0;
}

struct topc {
    const char *field;
    struct oev **rows;
    size_t n;
    uint64_t total;
};

/* The user of a row, decoded. */
static size_t row_user(const struct oev *o, char *buf)
{
    return ka_str_decode(o->ev.user.username, buf);
}

static int top_fn(void *ud, const char *key, size_t n, uint64_t count)
{
    struct topc *t = ud;
    char buf[512];
    uint64_t want = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t m = row_user(t->rows[i], buf);
        want += m == n && memcmp(buf, key, n) == 0;
    }
    cr_assert_eq(count, want, "top user %.*s", (int)n, key);
    t->total += count;
    return 0;
}

static const char *const matrix[][4] = {
    {NULL},
    {"stage=any"},
    {"stage=ResponseComplete"},
    {"stage=RequestReceived", "verb=create"},
    {"user=system:admin"},
    {"user=system:serviceaccount:*"},
    {"as=bob,alice"},
    {"group=system:masters"},
    {"group=system:service*"},
    {"verb=delete", "resource=deployments.apps"},
    {"verb=delete", "resource=deployments", "name=*"},
    {"resource=pods/*"},
    {"resource=*/status"},
    {"resource=pods/exec"},
    {"resource=secrets", "verb=get,list"},
    {"resource=*"},
    {"resource=rolebindings.rbac.authorization.k8s.io", "ns=kube-*"},
    {"ns=kube-system"},
    {"name=nginx*"},
    {"name=shop-?????"},
    {"code=403"},
    {"code=4xx"},
    {"code=!2xx"},
    {"code=2xx,!201"},
    {"decision=forbid"},
    {"decision=allow", "verb=list"},
    {"ip=10.0.0.0/8"},
    {"ip=172.16.0.0/12,::1/128"},
    {"ua=kubectl*"},
    {"cluster=*"},
    {"grep=secret"},
    {"since=2025-03-10T09:00:10Z", "until=2025-03-10T09:00:20Z"},
    {"since=2017-01-01T00:00:00Z", "until=2018-01-01T00:00:00Z", "code=403"},
    {"limit=7"},
    {"user=*", "verb=get", "limit=3"},
};

/* Runs every query of the matrix; at least min_rows of them must have rows and min_exact be
 * answered by the SQL-only aggregates, so that the comparison is not vacuous. */
static void run_matrix(size_t min_rows, size_t min_exact)
{
    struct oev **want = malloc(n_evs * sizeof(struct oev *));
    size_t nonempty = 0, exact_counts = 0;
    for (size_t m = 0; m < sizeof matrix / sizeof matrix[0]; m++) {
        struct ka_query q;
        char name[256] = "";
        ka_query_init(&q);
        for (int i = 0; i < 4 && matrix[m][i]; i++) {
            size_t at = strlen(name);
            qadd(&q, matrix[m][i]);
            snprintf(name + at, sizeof name - at, "%s ", matrix[m][i]);
        }
        struct collect c = {want, oracle_rows(&q, want), 0, name};
        nonempty += c.n > 0;
        cr_assert_eq(ka_store_query(st, &q, check_fn, &c), 0, "%s", name);
        cr_assert_eq(c.at, c.n, "%s: %zu rows, expected %zu", name, c.at, c.n);
        uint64_t cnt = 0;
        int rc = ka_store_count(st, &q, &cnt);
        cr_assert(rc == 0 || rc == KA_ENOENT, "%s", name);
        if (rc == 0) {
            exact_counts++;
            cr_assert_eq(cnt, c.n, "%s: count %llu, expected %zu", name,
                         (unsigned long long)cnt, c.n);
            struct topc t = {"user", want, c.n, 0};
            cr_assert_eq(ka_store_top(st, &q, "user", top_fn, &t), 0, "%s: top: %s", name,
                         ka_store_errmsg(st));
            cr_assert_eq(t.total, c.n, "%s: top total", name);
        }
        ka_query_free(&q);
    }
    free(want);
    /* the matrix must exercise real rows and the SQL-only aggregates */
    cr_assert_geq(nonempty, min_rows, "%zu queries with rows", nonempty);
    cr_assert_geq(exact_counts, min_exact, "%zu exact aggregates", exact_counts);
}

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
    add_gen(4000, 1000);
    oracle_finish();
    cr_assert_eq(ka_store_stats(st, &before), 0);
    /* gen starts at 2025-03-10T09:00:00Z at 300 events/s: keep the last 5 s */
    int64_t newest = before.newest_ns / 1000000000;
    cr_assert_eq(ka_store_retain(st, 5, 0, newest + 1, &rs), 0);
    cr_assert_gt(rs.deleted, 0);
    cr_assert_eq(ka_store_stats(st, &after), 0);
    cr_assert_eq(after.events, before.events - rs.deleted);
    cr_assert_geq(after.oldest_ns, (newest + 1 - 5) * 1000000000);
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every stored row as "auditID rank latest", sorted, against the oracle's. */
static void check_rows_and_flags(void)
{
    char **exp = calloc(n_evs + 1, sizeof *exp), **got = calloc(n_evs + 1, sizeof *got);
    size_t ne = 0, ng = 0;
    char row[200];
    for (size_t i = 0; i < n_evs; i++) {
        if (evs[i].dup)
            continue;
        snprintf(row, sizeof row, "%s %d %d", evs[i].aid, evs[i].rank, evs[i].latest);
        exp[ne++] = strdup(row);
    }
    char path[4096];
    sqlite3 *db;
    sqlite3_stmt *q;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT aid, rank, latest FROM events", -1, &q, NULL),
                 SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        cr_assert_lt(ng, n_evs, "more rows than events");
        snprintf(row, sizeof row, "%s %d %d", (const char *)sqlite3_column_text(q, 0),
                 sqlite3_column_int(q, 1), sqlite3_column_int(q, 2));
        got[ng++] = strdup(row);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    cr_assert_eq(ng, ne);
    qsort(exp, ne, sizeof *exp, cmp_str);
    qsort(got, ng, sizeof *got, cmp_str);
    for (size_t i = 0; i < ne; i++)
        cr_assert_str_eq(got[i], exp[i]);
    for (size_t i = 0; i < ne; i++) {
        free(exp[i]);
        free(got[i]);
    }
    free(exp);
    free(got);
}

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

/* ---- raw SQL on the store's file ---- */

static sqlite3 *raw_open(void)
{
    char path[4096];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
}

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

/* What version 3 changed, undone: ev_aid over every row, no ranks column, user_version 2. */
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

/* ---- schema version 2 -> 3, bulk loads ---- */

/* The rows of sql, columns joined with '|', one line per row. */
static char *raw_dump(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sql);
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(q); c++) {
            const char *t = (const char *)sqlite3_column_text(q, c);
            cr_assert_eq(ka_buf_puts(&b, t ? t : "NULL"), 0);
            cr_assert_eq(ka_buf_putc(&b, '|'), 0);
        }
        cr_assert_eq(ka_buf_putc(&b, '\n'), 0);
    }
    sqlite3_finalize(q);
    cr_assert_not_null(ka_buf_cstr(&b));
    return b.p;
}

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
    raw_exec(db, sql_v3_to_v2);
    raw_exec(db, "COMMIT");
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM pragma_table_info('events')"
                             " WHERE name = 'ranks'"), 0);
    struct ka_store *ro = NULL;
    cr_assert_eq(ka_store_open(tmp, true, &ro), KA_EINVAL);
    cr_assert(strstr(ka_store_errmsg(NULL), "version 2 needs a migration to version 3") != NULL,
              "%s", ka_store_errmsg(NULL));
    cr_assert_eq(ka_store_open(tmp, false, &st), 0, "%s", ka_store_errmsg(NULL));
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), 3);
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

/* ---- blocks: retention, events without an auditID ---- */

#define T0 1741597200 /* 2025-03-10T09:00:00Z */

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
