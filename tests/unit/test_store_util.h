/*
 * test_store_util.h - what the store's tests share (test_store*.c): an oracle over every added
 * event (selection and order as query.h defines them, filters by ka_query_match), the
 * fixtures (a store in a temporary directory, events from files or `kaudit gen`), the query
 * matrix run against the oracle, and raw SQL on the store's file. Functions are static inline
 * so that each test file compiles only what it uses without warnings.
 */
#ifndef KA_TEST_STORE_UTIL_H
#define KA_TEST_STORE_UTIL_H

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

static inline void oracle_add(const char *line, size_t n)
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
static inline void oracle_finish(void)
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

static inline int cmp_rows(const void *a, const void *b)
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
static inline size_t oracle_rows(const struct ka_query *q, struct oev **out)
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

static inline void add_file(const char *rel)
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

static inline void add_gen(uint64_t n, size_t batch)
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

static inline void setup(void)
{
    tmp = ka_t_tmpdir();
    cr_assert_eq(ka_store_open(tmp, false, &st), 0);
}

static inline void teardown(void)
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

/* ---- the query matrix against the oracle ---- */

/* One filter: "kind=value" as the command line would give it. */
static inline void qadd(struct ka_query *q, const char *spec)
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

static inline int check_fn(void *ud, const struct ka_event *ev, const char *line, size_t len)
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
static inline size_t row_user(const struct oev *o, char *buf)
{
    return ka_str_decode(o->ev.user.username, buf);
}

static inline int top_fn(void *ud, const char *key, size_t n, uint64_t count)
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

/* q's rows, count and top users against the oracle's; want has room for every event.
 * Returns the number of rows; *exact when the aggregates answered from the columns. */
static inline size_t check_query(const struct ka_query *q, struct oev **want,
                                 const char *name, bool *exact)
{
    struct collect c = {want, oracle_rows(q, want), 0, name};
    cr_assert_eq(ka_store_query(st, q, check_fn, &c), 0, "%s", name);
    cr_assert_eq(c.at, c.n, "%s: %zu rows, expected %zu", name, c.at, c.n);
    uint64_t cnt = 0;
    int rc = ka_store_count(st, q, &cnt);
    cr_assert(rc == 0 || rc == KA_ENOENT, "%s", name);
    *exact = rc == 0;
    if (rc == 0) {
        cr_assert_eq(cnt, c.n, "%s: count %llu, expected %zu", name, (unsigned long long)cnt,
                     c.n);
        struct topc t = {"user", want, c.n, 0};
        cr_assert_eq(ka_store_top(st, q, "user", top_fn, &t), 0, "%s: top: %s", name,
                     ka_store_errmsg(st));
        cr_assert_eq(t.total, c.n, "%s: top total", name);
    }
    return c.n;
}

static const char *const stage_variants[] = {"stage=any", "stage=RequestReceived"};

/* Whether a matrix entry names a resource and no stage: it is also run over all stages. */
static inline bool by_resource(const char *const *e)
{
    bool res = false;
    for (int i = 0; i < 4 && e[i]; i++) {
        res |= strncmp(e[i], "resource=", 9) == 0;
        if (strncmp(e[i], "stage=", 6) == 0)
            return false;
    }
    return res;
}

/* Runs every query of the matrix; at least min_rows of them must have rows and min_exact be
 * answered by the SQL-only aggregates, so that the comparison is not vacuous. */
static inline void run_matrix(size_t min_rows, size_t min_exact)
{
    struct oev **want = malloc(n_evs * sizeof(struct oev *));
    size_t nonempty = 0, exact_counts = 0;
    for (size_t mv = 0; mv < 3 * (sizeof matrix / sizeof matrix[0]); mv++) {
        size_t m = mv / 3;
        struct ka_query q;
        char name[256] = "";
        if (mv % 3 && !by_resource(matrix[m]))
            continue;
        ka_query_init(&q);
        if (mv % 3) /* queries by resource over every stage go through ev_obj's okey rows */
            snprintf(name, sizeof name, "%s ", stage_variants[mv % 3 - 1]);
        if (mv % 3)
            qadd(&q, stage_variants[mv % 3 - 1]);
        for (int i = 0; i < 4 && matrix[m][i]; i++) {
            size_t at = strlen(name);
            qadd(&q, matrix[m][i]);
            snprintf(name + at, sizeof name - at, "%s ", matrix[m][i]);
        }
        bool exact = false;
        nonempty += check_query(&q, want, name, &exact) > 0;
        exact_counts += exact;
        ka_query_free(&q);
    }
    free(want);
    /* the matrix must exercise real rows and the SQL-only aggregates */
    cr_assert_geq(nonempty, min_rows, "%zu queries with rows", nonempty);
    cr_assert_geq(exact_counts, min_exact, "%zu exact aggregates", exact_counts);
}

/* ---- stages decided per batch ---- */

static inline int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every stored row as "auditID rank latest", sorted, against the oracle's. */
static inline void check_rows_and_flags(void)
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

/* ---- raw SQL on the store's file ---- */

static inline sqlite3 *raw_open(void)
{
    char path[4096];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/store/kaudit.db", tmp);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static inline int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static inline void raw_exec(sqlite3 *db, const char *sql)
{
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
}

/* The rows of sql, columns joined with '|', one line per row. */
static inline char *raw_dump(sqlite3 *db, const char *sql)
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

#define T0 1741597200 /* 2025-03-10T09:00:00Z */

#endif
