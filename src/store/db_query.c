/*
 * db_query.c - translating a struct ka_query into SQL over the store's columns and indexes.
 *
 * Interned columns (users, groups, verbs, namespaces, source IPs, user agents, clusters) are
 * filtered by id: the strings of that kind are read from strs and each is tested with
 * ka_query_match itself on an event that holds only that field, so the id sets mean exactly
 * what the query means. Resources become conditions on res_id/sub_id/apigroup_id, names a
 * GLOB, codes ranges, since/until a range on ts, the stage mode a condition on latest/rank.
 * When every kind translated exactly (no grep, no over-long id list, ...) the SQL alone is
 * the answer (the aggregates in db_top.c rely on this); ka_store_query re-checks every
 * candidate with ka_query_match anyway.
 * ev_obj holds only the rows with okey = 1 (schema version 4): a query over all stages (or one
 * stage) that names resources reads its candidates through them (object_from), every other
 * query reads the table as it is (dbq_from: "events").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_query.h"
#include "kaudit/jsonw.h"

#define DBQ_MAX_IDS 4096u /* beyond this, a kind is left to the re-check */

void dbq_free(struct dbq *x)
{
    if (x->sub) {
        dbq_free(x->sub);
        free(x->sub);
    }
    ka_buf_free(&x->w);
    ka_buf_free(&x->tmp);
    ka_buf_free(&x->from);
    free(x->binds);
    memset(x, 0, sizeof *x);
}

static int add_bind(struct dbq *x, const char *p, size_t n, int64_t i, bool text)
{
    if (x->nb == x->capb) {
        size_t nc = x->capb ? x->capb * 2 : 16;
        struct dbq_bind *nv = realloc(x->binds, nc * sizeof *nv);
        if (!nv)
            return KA_ENOMEM;
        x->binds = nv;
        x->capb = nc;
    }
    x->binds[x->nb++] = (struct dbq_bind){p, n, i, text};
    /* numbered: the clause may appear twice in a statement */
    return ka_buf_printf(&x->w, "?%zu", x->base + x->nb);
}

static int and(struct dbq *x)
{
    return ka_buf_puts(&x->w, " AND ");
}

/* ---- interned kinds: which ids match ---- */

static struct ka_str mkstr(const char *p, size_t n)
{
    struct ka_str s = {.p = n ? p : NULL, .n = (uint32_t)n, .set = n > 0, .esc = 0};
    return s;
}

/* A JSON array of the LF-separated items of s (absent when s is empty and !one_empty). */
static int json_list(struct ka_buf *b, const char *s, size_t n, bool one_empty,
                     struct ka_raw *out)
{
    ka_buf_reset(b);
    *out = (struct ka_raw){NULL, 0};
    if (n == 0 && !one_empty)
        return KA_OK;
    int rc = ka_buf_putc(b, '[');
    for (size_t i = 0, start = 0; rc == 0 && i <= n; i++) {
        if (i < n && s[i] != '\n')
            continue;
        if (start)
            rc = ka_buf_putc(b, ',');
        rc = rc ? rc : ka_jw_str(b, s + start, i - start);
        start = i + 1;
    }
    rc = rc ? rc : ka_buf_putc(b, ']');
    if (rc == 0)
        *out = (struct ka_raw){b->p, (uint32_t)b->n};
    return rc;
}

static int json_cluster(struct ka_buf *b, const char *s, size_t n, struct ka_raw *out)
{
    ka_buf_reset(b);
    int rc = ka_buf_puts(b, "{\"" KA_QUERY_CLUSTER_ANN "\":");
    rc = rc ? rc : ka_jw_str(b, s, n);
    rc = rc ? rc : ka_buf_putc(b, '}');
    if (rc == 0)
        *out = (struct ka_raw){b->p, (uint32_t)b->n};
    return rc;
}

/*
 * Whether the stored string s of a kind matches sub (a query with only that kind's filter).
 * alt: the other event that stores the same string ('' for an absent objectRef, or groups
 * [""]), to detect where the stored form is ambiguous.
 */
static int kind_match(struct dbq *x, const struct ka_query *sub, enum db_kind k, const char *s,
                      size_t n, bool alt, bool *m)
{
    struct ka_event ev;
    int rc = KA_OK;
    memset(&ev, 0, sizeof ev);
    ev.user.present = true;
    ev.objectRef.present = !alt;
    switch (k) {
    case DK_USER:
        if (sub->as_users.n) {
            ev.impersonatedUser.present = true;
            ev.impersonatedUser.username = mkstr(s, n);
        } else {
            ev.user.username = mkstr(s, n);
        }
        break;
    case DK_GROUPS: rc = json_list(&x->tmp, s, n, alt, &ev.user.groups); break;
    case DK_VERB: ev.verb = mkstr(s, n); break;
    case DK_NS: ev.objectRef.namespace_ = mkstr(s, n); break;
    case DK_IPS: rc = json_list(&x->tmp, s, n, false, &ev.sourceIPs); break;
    case DK_UA: ev.userAgent = mkstr(s, n); break;
    case DK_CLUSTER: rc = json_cluster(&x->tmp, s, n, &ev.annotations); break;
    default: return KA_EINVAL;
    }
    if (rc == 0)
        *m = ka_query_match(sub, &ev, "", 0);
    return rc;
}

/* Appends the matching ids of kind k as "col IN (...)", or "0" when none match. */
static int id_set(struct dbq *x, const char *col, enum db_kind k, const struct ka_query *sub)
{
    sqlite3_stmt *st = NULL;
    size_t mark = x->w.n, count = 0;
    int rc = db_prepare(x->s, "SELECT id, s FROM strs WHERE kind = ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, (int)k);
    rc = ka_buf_printf(&x->w, "%s IN (", col);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        bool m = false, m2 = false;
        rc = kind_match(x, sub, k, s ? s : "", n, false, &m);
        if (rc == 0 && n == 0 && (k == DK_NS || k == DK_GROUPS)) {
            rc = kind_match(x, sub, k, "", 0, true, &m2);
            if (m2 != m)
                x->exact = false, m = true;
        }
        if (rc || !m)
            continue;
        rc = ka_buf_printf(&x->w, "%s%lld", count++ ? "," : "",
                           (long long)sqlite3_column_int64(st, 0));
        if (count > DBQ_MAX_IDS)
            break;
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (count > DBQ_MAX_IDS) { /* too many: leave this kind to the re-check */
        x->w.n = mark;
        x->exact = false;
        return ka_buf_puts(&x->w, "1");
    }
    if (count == 0) {
        x->w.n = mark;
        return ka_buf_puts(&x->w, "0");
    }
    return ka_buf_putc(&x->w, ')');
}

static int strs_kind(struct dbq *x, const char *col, enum db_kind k, const struct ka_qstrs *l,
                     size_t which)
{
    struct ka_query sub;
    if (l->n == 0)
        return KA_OK;
    memset(&sub, 0, sizeof sub);
    /* which: offset of the member in struct ka_query, so sub holds that kind only */
    memcpy((char *)&sub + which, l, sizeof *l);
    int rc = and(x);
    return rc ? rc : id_set(x, col, k, &sub);
}

static int cidr_kind(struct dbq *x)
{
    struct ka_query sub;
    if (x->q->n_cidrs == 0)
        return KA_OK;
    memset(&sub, 0, sizeof sub);
    sub.cidrs = x->q->cidrs;
    sub.n_cidrs = x->q->n_cidrs;
    int rc = and(x);
    return rc ? rc : id_set(x, "ips_id", DK_IPS, &sub);
}

/* ---- the other kinds ---- */

/* id of an interned string, -1 when it was never stored */
static int str_id(struct dbq *x, enum db_kind k, const char *s, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(x->s, "SELECT id FROM strs WHERE kind = ? AND s = ?", &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, (int)k);
    sqlite3_bind_text(st, 2, s, -1, SQLITE_STATIC);
    *id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return KA_OK;
}

static int id_cond(struct dbq *x, const char *col, const char *op, enum db_kind k, const char *s)
{
    int64_t id;
    int rc = str_id(x, k, s, &id);
    return rc ? rc : ka_buf_printf(&x->w, " AND %s %s %lld", col, op, (long long)id);
}

static int resource_item(struct dbq *x, const struct ka_qresource *r)
{
    int rc = ka_buf_puts(&x->w, "(1");
    if (rc == 0 && strcmp(r->resource, "*") != 0)
        rc = id_cond(x, "res_id", "=", DK_RES, r->resource);
    else if (rc == 0)
        rc = id_cond(x, "res_id", "!=", DK_RES, "");
    if (rc == 0 && r->group)
        rc = id_cond(x, "apigroup_id", "=", DK_APIGROUP, r->group);
    if (rc == 0 && r->sub == KA_QSUB_NONE)
        rc = id_cond(x, "sub_id", "=", DK_SUB, "");
    else if (rc == 0 && r->sub == KA_QSUB_EXACT)
        rc = id_cond(x, "sub_id", "=", DK_SUB, r->subresource ? r->subresource : "");
    else if (rc == 0 && r->sub == KA_QSUB_ANY)
        rc = id_cond(x, "sub_id", "!=", DK_SUB, "");
    return rc ? rc : ka_buf_putc(&x->w, ')');
}

static int resources(struct dbq *x)
{
    const struct ka_query *q = x->q;
    if (q->n_resources == 0)
        return KA_OK;
    int rc = ka_buf_puts(&x->w, " AND (");
    for (size_t i = 0; rc == 0 && i < q->n_resources; i++) {
        if (i)
            rc = ka_buf_puts(&x->w, " OR ");
        rc = rc ? rc : resource_item(x, &q->resources[i]);
    }
    return rc ? rc : ka_buf_putc(&x->w, ')');
}

/* A query glob as an SQLite GLOB pattern: '[' is a class there. */
static int glob_pattern(struct ka_buf *b, const char *pat)
{
    int rc = KA_OK;
    for (const char *p = pat; rc == 0 && *p; p++)
        rc = *p == '[' ? ka_buf_puts(b, "[[]") : ka_buf_putc(b, *p);
    return rc;
}

static int names(struct dbq *x)
{
    const struct ka_qstrs *l = &x->q->names;
    if (l->n == 0)
        return KA_OK;
    int rc = ka_buf_puts(&x->w, " AND (");
    /* Patterns live in x->tmp (stable: reserved once), bound as text. */
    size_t need = 0;
    for (size_t i = 0; i < l->n; i++)
        need += strlen(l->v[i]) * 3 + 1;
    ka_buf_reset(&x->tmp);
    rc = rc ? rc : ka_buf_reserve(&x->tmp, need);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        const char *v = l->v[i];
        if (ka_query_glob(v, "", 0))
            x->exact = false; /* an absent name is stored as "" */
        rc = ka_buf_puts(&x->w, i ? " OR name " : "name ");
        if (rc == 0 && !strpbrk(v, "*?")) {
            rc = ka_buf_puts(&x->w, "= ");
            rc = rc ? rc : add_bind(x, v, strlen(v), 0, true);
            continue;
        }
        size_t at = x->tmp.n;
        rc = rc ? rc : glob_pattern(&x->tmp, v);
        rc = rc ? rc : ka_buf_puts(&x->w, "GLOB ");
        rc = rc ? rc : add_bind(x, x->tmp.p + at, x->tmp.n - at, 0, true);
    }
    return rc ? rc : ka_buf_putc(&x->w, ')');
}

static int codes(struct dbq *x)
{
    const struct ka_query *q = x->q;
    bool pos = false, all_err = true;
    if (q->n_codes == 0)
        return KA_OK;
    int rc = ka_buf_puts(&x->w, " AND code IS NOT NULL");
    for (size_t i = 0; rc == 0 && i < q->n_codes; i++) {
        const struct ka_qcode *c = &q->codes[i];
        if (c->neg) {
            rc = ka_buf_printf(&x->w, " AND NOT (code BETWEEN %d AND %d)", c->lo, c->hi);
            continue;
        }
        all_err &= c->lo >= 400;
        rc = ka_buf_printf(&x->w, "%s(code BETWEEN %d AND %d)", pos ? " OR " : " AND (", c->lo,
                           c->hi);
        pos = true;
    }
    if (rc == 0 && pos)
        rc = ka_buf_putc(&x->w, ')');
    /* Lets the planner use the partial index ev_code (its WHERE must appear literally). */
    if (rc == 0 && pos && all_err)
        rc = ka_buf_puts(&x->w, " AND code >= 400");
    return rc;
}

static int64_t clamp_ns(struct ka_time t)
{
    if (t.sec >= INT64_MAX / 1000000000 - 1)
        return INT64_MAX;
    if (t.sec <= INT64_MIN / 1000000000 + 1)
        return INT64_MIN;
    return t.sec * 1000000000 + t.nsec;
}

/* Whether every resource item of q names one resource (res_id = ...): ev_obj may narrow q. */
static bool names_resource(const struct ka_query *q)
{
    for (size_t i = 0; i < q->n_resources; i++)
        if (strcmp(q->resources[i].resource, "*") == 0)
            return false;
    return q->n_resources > 0;
}

static int scalars(struct dbq *x)
{
    const struct ka_query *q = x->q;
    int rc = KA_OK;
    switch (q->stage_mode) {
    case KA_QSTAGE_REQUESTS:
        rc = ka_buf_puts(&x->w, " AND latest = 1");
        /* a latest row always has okey = 1: stated so that SQLite may use ev_obj (only then:
         * the column would make ev_req and ev_user non-covering) */
        if (rc == 0 && names_resource(q))
            rc = ka_buf_puts(&x->w, " AND okey = 1");
        break;
    case KA_QSTAGE_ONE:
        rc = ka_buf_printf(&x->w, " AND rank = %d", ka_query_stage_rank(q->stage));
        break;
    default: break;
    }
    if (rc == 0 && q->has_since)
        rc = ka_buf_printf(&x->w, " AND ts >= %lld", (long long)clamp_ns(q->since));
    if (rc == 0 && q->has_until)
        rc = ka_buf_printf(&x->w, " AND ts < %lld", (long long)clamp_ns(q->until));
    if (rc == 0 && q->decision != KA_QDEC_ANY)
        rc = ka_buf_printf(&x->w, " AND decision = %d",
                           q->decision == KA_QDEC_ALLOW ? DD_ALLOW : DD_FORBID);
    if (q->greps.n)
        x->exact = false;
    return rc;
}

#define QOFF(m) offsetof(struct ka_query, m)

static int build_clause(struct ka_store *s, const struct ka_query *q, size_t base,
                        struct dbq *x);

/* ---- queries over all stages by object ---- */

/* Whether q is over all stages (or one) and ev_obj may narrow it. */
static bool by_object(const struct ka_query *q)
{
    return q->stage_mode != KA_QSTAGE_REQUESTS && names_resource(q);
}

/*
 * The candidates of a query over all stages (or one stage) that names resources: ev_obj holds
 * only rows with okey = 1; a row with okey = 0 has a row of its request (same ah) with
 * okey = 1, the same ts, resource, subresource, apiGroup, name, verb and namespace
 * (db_group.c). So the rows with okey = 1 that match the object part of the clause (sub),
 * plus the okey = 0 rows that share ts and ah with one of them, hold every row of the query;
 * the whole clause is then applied to them.
 */
static int object_from(struct dbq *x)
{
    struct ka_query oq;
    const struct ka_query *q = x->q;
    memset(&oq, 0, sizeof oq);
    oq.stage_mode = KA_QSTAGE_ANY;
    oq.resources = q->resources;
    oq.n_resources = q->n_resources;
    oq.names = q->names;
    oq.verbs = q->verbs;
    oq.namespaces = q->namespaces;
    oq.has_since = q->has_since;
    oq.since = q->since;
    oq.has_until = q->has_until;
    oq.until = q->until;
    x->sub = malloc(sizeof *x->sub);
    if (!x->sub)
        return KA_ENOMEM;
    int rc = build_clause(x->s, &oq, x->base + x->nb, x->sub);
    const struct ka_buf *c = &x->sub->w;
    rc = rc ? rc : ka_buf_printf(&x->from,
                                 "(SELECT id AS cid FROM events WHERE okey = 1 AND %.*s"
                                 " UNION ALL SELECT DISTINCT o.id FROM"
                                 " (SELECT ts AS pts, ah AS pah FROM events WHERE okey = 1"
                                 " AND %.*s) AS p CROSS JOIN events AS o ON o.ts = p.pts"
                                 " AND o.ah = p.pah AND o.okey = 0) AS c"
                                 " CROSS JOIN events ON events.id = c.cid",
                                 (int)c->n, c->p, (int)c->n, c->p);
    return rc;
}

const char *dbq_from(const struct dbq *x)
{
    return x->from.n ? x->from.p : "events";
}

bool dbq_joined(const struct dbq *x)
{
    return x->sub != NULL;
}

int dbq_build(struct ka_store *s, const struct ka_query *q, struct dbq *x)
{
    int rc = build_clause(s, q, 0, x);
    if (rc == 0 && by_object(q))
        rc = object_from(x);
    if (rc == 0 && !ka_buf_cstr(&x->from))
        rc = KA_ENOMEM;
    return rc;
}

static int build_clause(struct ka_store *s, const struct ka_query *q, size_t base,
                        struct dbq *x)
{
    memset(x, 0, sizeof *x);
    x->s = s;
    x->q = q;
    x->base = base;
    x->exact = true;
    ka_buf_init(&x->w, 1u << 24);
    ka_buf_init(&x->tmp, 1u << 24);
    ka_buf_init(&x->from, 1u << 25);
    int rc = ka_buf_puts(&x->w, "1");
    rc = rc ? rc : scalars(x);
    rc = rc ? rc : strs_kind(x, "user_id", DK_USER, &q->users, QOFF(users));
    rc = rc ? rc : strs_kind(x, "as_id", DK_USER, &q->as_users, QOFF(as_users));
    rc = rc ? rc : strs_kind(x, "groups_id", DK_GROUPS, &q->groups, QOFF(groups));
    rc = rc ? rc : strs_kind(x, "verb_id", DK_VERB, &q->verbs, QOFF(verbs));
    rc = rc ? rc : strs_kind(x, "ns_id", DK_NS, &q->namespaces, QOFF(namespaces));
    rc = rc ? rc : strs_kind(x, "ua_id", DK_UA, &q->user_agents, QOFF(user_agents));
    rc = rc ? rc : strs_kind(x, "cluster_id", DK_CLUSTER, &q->clusters, QOFF(clusters));
    rc = rc ? rc : cidr_kind(x);
    rc = rc ? rc : resources(x);
    rc = rc ? rc : codes(x);
    rc = rc ? rc : names(x); /* last: it binds pointers into x->tmp */
    return rc;
}

int dbq_prepare(struct dbq *x, const char *head, const char *tail, sqlite3_stmt **st)
{
    struct ka_buf sql;
    ka_buf_init(&sql, 0);
    int rc = ka_buf_printf(&sql, "%s WHERE %.*s %s", head, (int)x->w.n, x->w.p, tail);
    const char *c = rc ? NULL : ka_buf_cstr(&sql);
    rc = c ? db_prepare(x->s, c, st) : KA_ENOMEM;
    for (const struct dbq *d = x; rc == 0 && d; d = d->sub)
        for (size_t i = 0; i < d->nb; i++) {
            const struct dbq_bind *b = &d->binds[i];
            int at = (int)(d->base + i + 1);
            if (b->text)
                sqlite3_bind_text(*st, at, b->p, (int)b->n, SQLITE_STATIC);
            else
                sqlite3_bind_int64(*st, at, b->i);
        }
    ka_buf_free(&sql);
    return rc;
}

/* ---- rows ---- */

static const char *const row_tail = "ORDER BY ts, aid, rank, events.id";

/* "SELECT blk, boff, bsize FROM ..." in h (NUL-terminated). */
static int row_head(const struct dbq *x, struct ka_buf *h)
{
    int rc = ka_buf_printf(h, "SELECT blk, boff, bsize FROM %s", dbq_from(x));
    return rc ? rc : ka_buf_cstr(h) ? KA_OK : KA_ENOMEM;
}

struct row_ctx {
    struct ka_store *s;
    const struct ka_query *q;
    int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len);
    void *ud;
    uint64_t emitted;
};

/* One candidate: decompress, scan, re-check, emit. 1 = limit reached. */
static int one_row(struct row_ctx *c, sqlite3_stmt *st)
{
    struct ka_event ev;
    struct ka_scan_err se;
    struct ka_store *s = c->s;
    int rc = db_event_line(s, sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
                           (uint64_t)sqlite3_column_int64(st, 2));
    if (rc)
        return rc;
    if (ka_event_scan(s->rbuf.p, s->rbuf.n, NULL, &ev, &se) != 0) {
        snprintf(s->errmsg, sizeof s->errmsg, "stored event does not scan: %s", se.msg);
        return KA_EIO;
    }
    if (!ka_query_match(c->q, &ev, s->rbuf.p, s->rbuf.n))
        return KA_OK;
    rc = c->fn(c->ud, &ev, s->rbuf.p, s->rbuf.n);
    if (rc)
        return rc;
    c->emitted++;
    return c->q->limit && c->emitted >= c->q->limit ? 1 : KA_OK;
}

int ka_store_query(struct ka_store *s, const struct ka_query *q,
                   int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len),
                   void *ud)
{
    struct dbq x;
    sqlite3_stmt *st = NULL;
    struct row_ctx c = {s, q, fn, ud, 0};
    struct ka_buf h;
    ka_buf_init(&h, 0);
    s->dbuf_blk = 0; /* block ids may be reused after retention: cache within one query only */
    int rc = dbq_build(s, q, &x);
    rc = rc ? rc : row_head(&x, &h);
    rc = rc ? rc : dbq_prepare(&x, h.p, row_tail, &st);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = one_row(&c, st);
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(s, step, "query");
    if (rc == 1)
        rc = KA_OK;
    sqlite3_finalize(st);
    dbq_free(&x);
    ka_buf_free(&h);
    return rc;
}

/* Appends SQLite's plan for the statement "head WHERE clause tail". */
int dbq_plan(struct dbq *x, const char *head, const char *tail, struct ka_buf *out)
{
    struct ka_buf h;
    sqlite3_stmt *st = NULL;
    ka_buf_init(&h, 0);
    int rc = ka_buf_printf(&h, "EXPLAIN QUERY PLAN %s", head);
    const char *hc = rc ? NULL : ka_buf_cstr(&h);
    rc = hc ? dbq_prepare(x, hc, tail, &st) : KA_ENOMEM;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
        rc = ka_buf_printf(out, "\nplan: %s", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    ka_buf_free(&h);
    return rc;
}

int ka_store_explain(struct ka_store *s, const struct ka_query *q, const char *field,
                     struct ka_buf *out)
{
    struct dbq x;
    struct ka_buf h;
    if (field)
        return db_top_explain(s, q, field, out);
    ka_buf_init(&h, 0);
    int rc = dbq_build(s, q, &x);
    rc = rc ? rc : row_head(&x, &h);
    rc = rc ? rc : ka_buf_printf(out, "%s WHERE %.*s %s", h.p, (int)x.w.n, x.w.p, row_tail);
    rc = rc ? rc : dbq_plan(&x, h.p, row_tail, out);
    if (rc == 0 && !ka_buf_cstr(out))
        rc = KA_ENOMEM;
    dbq_free(&x);
    ka_buf_free(&h);
    return rc;
}
