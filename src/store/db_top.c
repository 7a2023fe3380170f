/*
 * db_top.c - aggregates answered from the columns alone (ka_store_count, ka_store_top), when
 * the query translates to SQL exactly; else KA_ENOENT and the caller counts rows itself.
 * Grouping is done by SQLite on small integer ids (interned strings), and the ids are turned
 * into strings once per group.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_query.h"

/*
 * The head of the count: SQLite walks a whole index and looks each row up when no filter
 * narrows an index (--verb alone: "latest = 1" picks a partial index), which on a large store
 * is random reads of every row, 10-20 times slower than reading the table in order.
 */
static bool scans_an_index(struct dbq *x, const char *head, const char *tail)
{
    struct ka_buf plan;
    ka_buf_init(&plan, 0);
    bool scan = dbq_plan(x, head, tail, &plan) == 0 && ka_buf_cstr(&plan) &&
                strstr(plan.p, "SCAN events USING INDEX ") != NULL;
    ka_buf_free(&plan);
    return scan;
}

static int count_head(struct dbq *x, struct ka_buf *h)
{
    int rc = ka_buf_printf(h, "SELECT count(*) FROM %s", dbq_from(x));
    rc = rc ? rc : ka_buf_cstr(h) ? KA_OK : KA_ENOMEM;
    if (rc == 0 && !dbq_joined(x) && scans_an_index(x, h->p, ""))
        rc = ka_buf_puts(h, " NOT INDEXED");
    return rc ? rc : ka_buf_cstr(h) ? KA_OK : KA_ENOMEM;
}

int ka_store_count(struct ka_store *s, const struct ka_query *q, uint64_t *out)
{
    struct dbq x;
    sqlite3_stmt *st = NULL;
    struct ka_buf h;
    ka_buf_init(&h, 0);
    int rc = dbq_build(s, q, &x);
    if (rc == 0 && (!x.exact || q->limit))
        rc = KA_ENOENT;
    rc = rc ? rc : count_head(&x, &h);
    rc = rc ? rc : dbq_prepare(&x, h.p, "", &st);
    if (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            *out = (uint64_t)sqlite3_column_int64(st, 0);
        else
            rc = db_err(s, step, "count");
    }
    sqlite3_finalize(st);
    dbq_free(&x);
    ka_buf_free(&h);
    return rc;
}

/* How each field groups: the SQL key columns and how a key becomes text. */
enum top_how { TH_STR1, TH_STR2, TH_TEXT, TH_INT, TH_LEVEL, TH_IPS };

struct top_field {
    const char *name;
    const char *cols; /* GROUP BY columns (one or two) */
    enum top_how how;
};

static const struct top_field top_fields[] = {
    {"user", "user_id", TH_STR1},
    {"as", "as_id", TH_STR1},
    {"verb", "verb_id", TH_STR1},
    {"resource", "res_id, sub_id", TH_STR2},
    {"namespace", "ns_id", TH_STR1},
    {"name", "name", TH_TEXT},
    {"code", "code", TH_INT},
    {"user_agent", "ua_id", TH_STR1},
    {"cluster", "cluster_id", TH_STR1},
    {"source_ips", "ips_id", TH_IPS},
    {"level", "level", TH_LEVEL},
    {"group", "apigroup_id", TH_STR1},
};

struct top_ent {
    const char *key;
    size_t n;
    uint64_t count;
};

static int cmp_ent(const void *a, const void *b)
{
    const struct top_ent *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->key, y->key, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int id_text(struct ka_store *s, sqlite3_stmt *get, sqlite3_stmt *row, int col,
                   struct ka_buf *b)
{
    if (sqlite3_column_type(row, col) == SQLITE_NULL)
        return KA_OK;
    sqlite3_bind_int64(get, 1, sqlite3_column_int64(row, col));
    int rc = KA_OK;
    if (sqlite3_step(get) == SQLITE_ROW)
        rc = ka_buf_append(b, sqlite3_column_text(get, 0), (size_t)sqlite3_column_bytes(get, 0));
    else
        rc = db_err(s, SQLITE_ERROR, "missing string");
    sqlite3_reset(get);
    return rc;
}

/* The text of the group key in the current row of st. */
static int key_text(struct ka_store *s, const struct top_field *f, sqlite3_stmt *get,
                    sqlite3_stmt *st, struct ka_buf *b)
{
    size_t start = b->n;
    int rc = KA_OK;
    switch (f->how) {
    case TH_STR1: return id_text(s, get, st, 1, b);
    case TH_STR2:
        rc = id_text(s, get, st, 1, b);
        if (rc == 0 && sqlite3_column_type(st, 2) != SQLITE_NULL) {
            size_t mark = b->n;
            rc = ka_buf_putc(b, '/');
            rc = rc ? rc : id_text(s, get, st, 2, b);
            if (rc == 0 && b->n == mark + 1)
                b->n = mark; /* no subresource */
        }
        return rc;
    case TH_TEXT:
        return ka_buf_append(b, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    case TH_INT:
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            return KA_OK;
        return ka_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, 1));
    case TH_LEVEL: return ka_buf_puts(b, ka_level_name((enum ka_level)sqlite3_column_int(st, 1)));
    case TH_IPS:
        rc = id_text(s, get, st, 1, b);
        for (size_t i = start; i < b->n; i++)
            if (b->p[i] == '\n')
                b->p[i] = ',';
        return rc;
    }
    return KA_EINVAL;
}

static const struct top_field *find_field(const char *name)
{
    for (size_t i = 0; i < sizeof top_fields / sizeof top_fields[0]; i++)
        if (strcmp(top_fields[i].name, name) == 0)
            return &top_fields[i];
    return NULL;
}

/* Reads the groups into v (keys in one arena, offsets stored in key until the end). */
static int read_groups(struct ka_store *s, const struct top_field *f, sqlite3_stmt *st,
                       struct ka_buf *arena, struct top_ent **v, size_t *n)
{
    sqlite3_stmt *get = NULL;
    size_t cap = 0;
    int rc = db_prepare(s, "SELECT s FROM strs WHERE id = ?", &get), step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct top_ent *nv = realloc(*v, cap * sizeof *nv);
            if (!nv) {
                rc = KA_ENOMEM;
                break;
            }
            *v = nv;
        }
        size_t at = arena->n;
        rc = key_text(s, f, get, st, arena);
        (*v)[*n] = (struct top_ent){(const char *)(uintptr_t)at, arena->n - at,
                                     (uint64_t)sqlite3_column_int64(st, 0)};
        (*n)++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(s, step, "top");
    sqlite3_finalize(get);
    return rc;
}

/* Whether top users is best done per user: requests filtered by time and user only (any other
 * filter may have a better index than ev_user). */
static bool per_user(const struct top_field *f, const struct ka_query *q)
{
    return f && strcmp(f->name, "user") == 0 && q->stage_mode == KA_QSTAGE_REQUESTS &&
           !q->as_users.n && !q->groups.n && !q->verbs.n && !q->namespaces.n && !q->names.n &&
           !q->user_agents.n && !q->clusters.n && !q->greps.n && !q->n_resources &&
           !q->n_codes && !q->n_cidrs && q->decision == KA_QDEC_ANY;
}

/* "SELECT count(*), cols FROM events" and "GROUP BY cols" for field f. */
/* The grouping SQL; reads the table in order rather than walk an index (see count_head). */
static int top_sql(struct dbq *x, const struct top_field *f, struct ka_buf *head,
                   struct ka_buf *tail)
{
    int rc = ka_buf_printf(head, "SELECT count(*), %s FROM %s", f->cols, dbq_from(x));
    rc = rc ? rc : ka_buf_printf(tail, "GROUP BY %s", f->cols);
    if (rc == 0 && (!ka_buf_cstr(head) || !ka_buf_cstr(tail)))
        rc = KA_ENOMEM;
    if (rc == 0 && !dbq_joined(x) && scans_an_index(x, head->p, tail->p)) {
        ka_buf_reset(head);
        rc = ka_buf_printf(head, "SELECT count(*), %s FROM events NOT INDEXED", f->cols);
        rc = rc ? rc : ka_buf_cstr(head) ? KA_OK : KA_ENOMEM;
    }
    return rc;
}

int db_top_explain(struct ka_store *s, const struct ka_query *q, const char *field,
                   struct ka_buf *out)
{
    const struct top_field *f = find_field(field);
    struct dbq x;
    struct ka_buf head, tail;
    ka_buf_init(&head, 0);
    ka_buf_init(&tail, 0);
    bool by_user = per_user(f, q);
    int rc = dbq_build(s, q, &x);
    if (rc == 0 && !f)
        rc = KA_ENOENT;
    if (rc == 0 && by_user) {
        rc = ka_buf_puts(&head, "SELECT count(*) FROM events INDEXED BY ev_user");
        rc = rc ? rc : ka_buf_printf(&tail, "AND user_id = %d -- per user", 1);
        rc = rc ? rc : (ka_buf_cstr(&head) && ka_buf_cstr(&tail) ? KA_OK : KA_ENOMEM);
    } else {
        rc = rc ? rc : top_sql(&x, f, &head, &tail);
    }
    rc = rc ? rc : ka_buf_printf(out, "%s WHERE %.*s %s", head.p, (int)x.w.n, x.w.p, tail.p);
    rc = rc ? rc : dbq_plan(&x, head.p, tail.p, out);
    if (rc == 0 && !ka_buf_cstr(out))
        rc = KA_ENOMEM;
    dbq_free(&x);
    ka_buf_free(&head);
    ka_buf_free(&tail);
    return rc;
}

/*
 * Top users (requests): one counting range per known user on ev_user (user_id, ts) instead of
 * grouping every row of the window in a temporary B-tree.
 */
static int read_user_groups(struct dbq *x, struct ka_buf *arena, struct top_ent **v, size_t *n)
{
    sqlite3_stmt *users = NULL, *cnt = NULL;
    size_t cap = 0;
    struct ka_buf tail;
    ka_buf_init(&tail, 0);
    int rc = ka_buf_printf(&tail, "SELECT id, s FROM strs WHERE kind = %d", (int)DK_USER);
    rc = rc ? rc : (ka_buf_cstr(&tail) ? KA_OK : KA_ENOMEM);
    rc = rc ? rc : db_prepare(x->s, tail.p, &users);
    ka_buf_reset(&tail);
    rc = rc ? rc : ka_buf_printf(&tail, "AND user_id = ?%zu", x->nb + 1);
    rc = rc ? rc : (ka_buf_cstr(&tail) ? KA_OK : KA_ENOMEM);
    if (rc == 0 && dbq_prepare(x, "SELECT count(*) FROM events INDEXED BY ev_user", tail.p,
                               &cnt) != 0)
        rc = 1; /* SQLite cannot use ev_user here (a clause that is always false): group */
    while (rc == 0 && sqlite3_step(users) == SQLITE_ROW) {
        sqlite3_bind_int64(cnt, (int)x->nb + 1, sqlite3_column_int64(users, 0));
        int step = sqlite3_step(cnt);
        int64_t c = step == SQLITE_ROW ? sqlite3_column_int64(cnt, 0) : 0;
        sqlite3_reset(cnt);
        if (step != SQLITE_ROW) {
            rc = db_err(x->s, step, "top users");
            break;
        }
        if (c == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct top_ent *nv = realloc(*v, cap * sizeof *nv);
            if (!nv) {
                rc = KA_ENOMEM;
                break;
            }
            *v = nv;
        }
        size_t at = arena->n;
        rc = ka_buf_append(arena, sqlite3_column_text(users, 1),
                           (size_t)sqlite3_column_bytes(users, 1));
        (*v)[(*n)++] = (struct top_ent){(const char *)(uintptr_t)at, arena->n - at, (uint64_t)c};
    }
    sqlite3_finalize(users);
    sqlite3_finalize(cnt);
    ka_buf_free(&tail);
    return rc;
}

int ka_store_top(struct ka_store *s, const struct ka_query *q, const char *field,
                 int (*fn)(void *ud, const char *key, size_t n, uint64_t count), void *ud)
{
    const struct top_field *f = find_field(field);
    struct dbq x;
    sqlite3_stmt *st = NULL;
    struct top_ent *v = NULL;
    size_t n = 0;
    struct ka_buf arena, head, tail;
    ka_buf_init(&arena, 0);
    ka_buf_init(&head, 0);
    ka_buf_init(&tail, 0);
    bool by_user = per_user(f, q);
    int rc = dbq_build(s, q, &x);
    if (rc == 0 && (!f || !x.exact || q->limit))
        rc = KA_ENOENT;
    if (rc == 0 && by_user && (rc = read_user_groups(&x, &arena, &v, &n)) == 1) {
        by_user = false;
        rc = KA_OK;
    }
    if (rc == 0 && !by_user) {
        rc = rc ? rc : top_sql(&x, f, &head, &tail);
        rc = rc ? rc : dbq_prepare(&x, head.p, tail.p, &st);
        rc = rc ? rc : read_groups(s, f, st, &arena, &v, &n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        v[i].key = arena.p ? arena.p + (uintptr_t)v[i].key : "";
    if (rc == 0 && n > 1)
        qsort(v, n, sizeof *v, cmp_ent);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(ud, v[i].key, v[i].n, v[i].count);
    free(v);
    sqlite3_finalize(st);
    dbq_free(&x);
    ka_buf_free(&arena);
    ka_buf_free(&head);
    ka_buf_free(&tail);
    return rc;
}
