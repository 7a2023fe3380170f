/*
 * ch_query.c - the rows of a struct ka_query read from the ClickHouse table of the output
 * (include/kaudit/chquery.h): the query translated to one SELECT (a superset of the rows,
 * never fewer), the answer streamed back in RowBinary, every row re-checked with
 * ka_query_match.
 *
 * Translation: a glob becomes `col = 'lit'` without wildcards, else LIKE with '*' as '%' and
 * '?' as '_%' (one UTF-8 character is one byte or more); the items of one kind are ORed. A kind
 * that has no column, or an item that cannot be written safely (a control byte), is left out
 * of the SQL: the re-check applies it.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../outputs_int.h"
#include "ch.h"
#include "kaudit/chquery.h"

#define RANK_SQL "indexOf(['RequestReceived','ResponseStarted','ResponseComplete','Panic'], stage)"

struct ka_chq {
    void *ctx;           /* struct ka_ch from the output */
    struct ka_buf sql;
    char err[1024];
};

/* ---- SQL text ---- */

/* Whether s can be written as a literal here (no control bytes). */
static bool lit_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) return false;
    return true;
}

/* Appends s[0..n) as a quoted ClickHouse string literal. */
static int put_lit(struct ka_buf *b, const char *s, size_t n)
{
    int rc = ka_buf_putc(b, '\'');
    for (size_t i = 0; !rc && i < n; i++) {
        if (s[i] == '\\' || s[i] == '\'') rc = ka_buf_putc(b, '\\');
        rc = rc ? rc : ka_buf_putc(b, s[i]);
    }
    return rc ? rc : ka_buf_putc(b, '\'');
}

/* One glob item as a condition on expression col. */
static int put_glob(struct ka_buf *b, const char *col, const char *pat)
{
    if (!strpbrk(pat, "*?")) {
        int rc = ka_buf_printf(b, "%s = ", col);
        return rc ? rc : put_lit(b, pat, strlen(pat));
    }
    struct ka_buf like;
    ka_buf_init(&like, KA_CHQ_MAX_SQL);
    int rc = 0;
    for (const char *p = pat; !rc && *p; p++) {
        if (*p == '*') rc = ka_buf_putc(&like, '%');
        else if (*p == '?') rc = ka_buf_puts(&like, "_%");
        else if (*p == '%' || *p == '_' || *p == '\\')
            rc = ka_buf_putc(&like, '\\') ? KA_ENOMEM : ka_buf_putc(&like, *p);
        else rc = ka_buf_putc(&like, *p);
    }
    rc = rc ? rc : ka_buf_printf(b, "%s LIKE ", col);
    rc = rc ? rc : put_lit(b, like.p ? like.p : "", like.n);
    ka_buf_free(&like);
    return rc;
}

/* " AND (c1 OR c2 ...)" for a glob (or exact) kind on col; on an array column arr, the same
   inside arrayExists over its elements x. Nothing when a value cannot be written. */
static int put_kind(struct ka_buf *b, const char *col, const char *arr, const struct ka_qstrs *s,
                    bool exact)
{
    if (!s->n) return 0;
    for (size_t i = 0; i < s->n; i++)
        if (!lit_ok(s->v[i])) return 0;
    int rc = ka_buf_puts(b, arr ? " AND arrayExists(x -> (" : " AND (");
    for (size_t i = 0; !rc && i < s->n; i++) {
        rc = i ? ka_buf_puts(b, " OR ") : 0;
        if (rc) break;
        if (exact) {
            rc = ka_buf_printf(b, "%s = ", col);
            rc = rc ? rc : put_lit(b, s->v[i], strlen(s->v[i]));
        } else {
            rc = put_glob(b, col, s->v[i]);
        }
    }
    if (!rc && arr) return ka_buf_printf(b, "), %s)", arr);
    return rc ? rc : ka_buf_putc(b, ')');
}

static int put_resource(struct ka_buf *b, const struct ka_qresource *r)
{
    int rc = ka_buf_puts(b, "(resource != ''");
    if (!rc && strcmp(r->resource, "*") != 0 && lit_ok(r->resource)) {
        rc = ka_buf_puts(b, " AND resource = ");
        rc = rc ? rc : put_lit(b, r->resource, strlen(r->resource));
    }
    if (!rc && r->group && lit_ok(r->group)) {
        rc = ka_buf_puts(b, " AND api_group = ");
        rc = rc ? rc : put_lit(b, r->group, strlen(r->group));
    }
    if (!rc && r->sub == KA_QSUB_NONE) rc = ka_buf_puts(b, " AND subresource = ''");
    if (!rc && r->sub == KA_QSUB_ANY) rc = ka_buf_puts(b, " AND subresource != ''");
    if (!rc && r->sub == KA_QSUB_EXACT && r->subresource && lit_ok(r->subresource)) {
        rc = ka_buf_puts(b, " AND subresource = ");
        rc = rc ? rc : put_lit(b, r->subresource, strlen(r->subresource));
    }
    return rc ? rc : ka_buf_putc(b, ')');
}

static int put_resources(struct ka_buf *b, const struct ka_query *q)
{
    if (!q->n_resources) return 0;
    int rc = ka_buf_puts(b, " AND (");
    for (size_t i = 0; !rc && i < q->n_resources; i++) {
        rc = i ? ka_buf_puts(b, " OR ") : 0;
        rc = rc ? rc : put_resource(b, &q->resources[i]);
    }
    return rc ? rc : ka_buf_putc(b, ')');
}

/* Codes: in one of the positive ranges (when any) and in none of the negated ones. A missing
   code is stored as 0, which the re-check rejects. */
static int put_codes(struct ka_buf *b, const struct ka_query *q)
{
    int rc = 0, npos = 0;
    for (size_t i = 0; i < q->n_codes; i++)
        npos += !q->codes[i].neg;
    if (npos) {
        rc = ka_buf_puts(b, " AND (");
        for (size_t i = 0, k = 0; !rc && i < q->n_codes; i++) {
            if (q->codes[i].neg) continue;
            rc = ka_buf_printf(b, "%s(code >= %d AND code <= %d)", k++ ? " OR " : "",
                               q->codes[i].lo, q->codes[i].hi);
        }
        rc = rc ? rc : ka_buf_putc(b, ')');
    }
    for (size_t i = 0; !rc && i < q->n_codes; i++)
        if (q->codes[i].neg)
            rc = ka_buf_printf(b, " AND NOT (code >= %d AND code <= %d)", q->codes[i].lo,
                               q->codes[i].hi);
    return rc;
}

/* Time range: `time` (seconds, the partition key) prunes partitions, `time_us` narrows. The
   bounds are widened to whole microseconds; the re-check has the nanoseconds. */
static int put_time(struct ka_buf *b, const struct ka_query *q)
{
    int rc = 0;
    if (q->has_since && q->since.sec >= 0) {
        long long us = (long long)q->since.sec * 1000000 + q->since.nsec / 1000;
        rc = ka_buf_printf(b, " AND time >= toDateTime(%lld) AND time_us >= %lld",
                           (long long)q->since.sec, us);
    }
    if (!rc && q->has_until && q->until.sec >= 0) {
        long long us = (long long)q->until.sec * 1000000 + q->until.nsec / 1000;
        rc = ka_buf_printf(b, " AND time <= toDateTime(%lld) AND time_us <= %lld",
                           (long long)q->until.sec, us);
    }
    return rc;
}

static int put_greps(struct ka_buf *b, const struct ka_query *q)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < q->greps.n; i++) {
        if (!lit_ok(q->greps.v[i])) continue;
        rc = ka_buf_puts(b, " AND position(raw, ");
        rc = rc ? rc : put_lit(b, q->greps.v[i], strlen(q->greps.v[i]));
        rc = rc ? rc : ka_buf_puts(b, ") > 0");
    }
    return rc;
}

/* The WHERE conditions of the filters (after "WHERE 1"). */
static int put_filters(struct ka_buf *b, const struct ka_query *q)
{
    int rc = put_time(b, q);
    rc = rc ? rc : put_kind(b, "user", NULL, &q->users, false);
    rc = rc ? rc : put_kind(b, "x", "groups", &q->groups, false);
    rc = rc ? rc : put_kind(b, "verb", NULL, &q->verbs, true);
    rc = rc ? rc : put_resources(b, q);
    rc = rc ? rc : put_kind(b, "namespace", NULL, &q->namespaces, false);
    rc = rc ? rc : put_kind(b, "name", NULL, &q->names, false);
    rc = rc ? rc : put_codes(b, q);
    if (!rc && q->decision != KA_QDEC_ANY)
        rc = ka_buf_printf(b, " AND decision = '%s'",
                           q->decision == KA_QDEC_ALLOW ? "allow" : "forbid");
    rc = rc ? rc : put_kind(b, "user_agent", NULL, &q->user_agents, false);
    if (!rc && q->stage_mode == KA_QSTAGE_ONE)
        rc = ka_buf_printf(b, " AND stage = '%s'", ka_stage_name(q->stage));
    return rc ? rc : put_greps(b, q);
}

static int build_sql(const struct ka_ch *ch, const struct ka_query *q, struct ka_buf *b)
{
    size_t wstart, wend;
    int rc = ka_buf_printf(b, "SELECT raw FROM `%s`.`%s` WHERE 1", ch->db, ch->table);
    wstart = b->n;
    rc = rc ? rc : put_filters(b, q);
    wend = b->n;
    if (!rc && q->stage_mode == KA_QSTAGE_REQUESTS) {
        /* The latest stage of each candidate auditID over the whole table. */
        rc = ka_buf_printf(b, " AND (audit_id = '' OR (audit_id, " RANK_SQL ") IN (SELECT "
                              "audit_id, max(" RANK_SQL ") FROM `%s`.`%s` WHERE audit_id IN "
                              "(SELECT audit_id FROM `%s`.`%s` WHERE 1",
                           ch->db, ch->table, ch->db, ch->table);
        rc = rc ? rc : ka_buf_reserve(b, wend - wstart);
        if (!rc) {
            memcpy(b->p + b->n, b->p + wstart, wend - wstart);
            b->n += wend - wstart;
            rc = ka_buf_puts(b, ") GROUP BY audit_id))");
        }
    }
    rc = rc ? rc : ka_buf_puts(b, " ORDER BY visitParamHas(raw, 'requestReceivedTimestamp'), "
                                  "time_us, audit_id, " RANK_SQL ", stage_time_us"
                                  " LIMIT 1 BY audit_id, stage, "
                                  "if(audit_id = '', cityHash64(raw), 0)");
    return rc ? rc : ka_buf_puts(b, " FORMAT RowBinary");
}

int ka_chq_sql(const struct ka_chq *c, const struct ka_query *q, struct ka_buf *out)
{
    int rc = build_sql(c->ctx, q, out);
    return rc ? rc : (ka_buf_cstr(out) ? KA_OK : KA_ENOMEM);
}

/* ---- the streamed answer ---- */

struct fetch {
    struct ka_chq *c;
    CURL *h;
    const struct ka_query *q;
    int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len);
    void *ud;
    struct ka_buf pend; /* answer bytes not parsed yet */
    long status;
    uint64_t rows;
    int stop;           /* fn's non-zero return or a KA_E*: ends the transfer */
    bool full;          /* the limit was reached */
};

/* Reads a LEB128 length at p[0..n): bytes used, 0 when incomplete, -1 when too long. */
static int varint(const unsigned char *p, size_t n, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 10; i++) {
        if ((size_t)i >= n) return 0;
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) return i + 1;
    }
    return -1;
}

/* One row: scan, re-check, hand over. Returns non-zero to stop. */
static int take_row(struct fetch *f, const char *raw, size_t len)
{
    struct ka_event ev;
    struct ka_scan_err se;
    if (ka_event_scan(raw, len, NULL, &ev, &se)) {
        if (len > 6 && !memcmp(raw, "Code: ", 6)) /* an exception after the rows began */
            snprintf(f->c->err, sizeof f->c->err, "server: %.*s", (int)(len > 300 ? 300 : len),
                     raw);
        else
            snprintf(f->c->err, sizeof f->c->err, "a stored row is not an event: %s", se.msg);
        return f->stop = len > 6 && !memcmp(raw, "Code: ", 6) ? KA_EIO : KA_ESYNTAX;
    }
    if (!ka_query_match(f->q, &ev, raw, len) || !ka_query_stage_ok(f->q, &ev)) return 0;
    int rc = f->fn(f->ud, &ev, raw, len);
    f->rows++;
    if (rc) return f->stop = rc;
    if (f->q->limit && f->rows >= f->q->limit) f->full = true;
    return f->full;
}

/* Takes every complete row of pend and keeps the rest. */
static int parse_rows(struct fetch *f)
{
    size_t off = 0;
    int rc = 0;
    while (!rc && off < f->pend.n) {
        uint64_t len;
        int k = varint((const unsigned char *)f->pend.p + off, f->pend.n - off, &len);
        if (k == 0) break;
        if (k < 0 || len > KA_CHQ_MAX_ROW) {
            if (f->pend.n - off > 6 && !memcmp(f->pend.p + off, "Code: ", 6))
                return take_row(f, f->pend.p + off, f->pend.n - off);
            snprintf(f->c->err, sizeof f->c->err, "a row over %u bytes", KA_CHQ_MAX_ROW);
            return f->stop = KA_ETOOBIG;
        }
        if (f->pend.n - off - (size_t)k < len) break;
        rc = take_row(f, f->pend.p + off + k, (size_t)len);
        off += (size_t)k + (size_t)len;
    }
    memmove(f->pend.p, f->pend.p + off, f->pend.n - off);
    f->pend.n -= off;
    return rc;
}

static size_t on_rows(char *p, size_t sz, size_t nm, void *ud)
{
    struct fetch *f = ud;
    size_t n = sz * nm;
    if (!f->status) curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->status);
    if (f->status != 200) { /* the error text */
        if (f->pend.n < 400) ka_buf_append(&f->pend, p, n < 400 ? n : 400);
        return n;
    }
    if (ka_buf_append(&f->pend, p, n)) {
        snprintf(f->c->err, sizeof f->c->err, "a row over %u bytes", KA_CHQ_MAX_ROW);
        f->stop = KA_ETOOBIG;
        return 0;
    }
    return parse_rows(f) ? 0 : n;
}

static int perform(struct fetch *f, struct ka_ch *ch)
{
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    if (!hl) return KA_ENOMEM;
    curl_easy_reset(f->h);
    curl_easy_setopt(f->h, CURLOPT_URL, ch->url);
    curl_easy_setopt(f->h, CURLOPT_POST, 1L);
    curl_easy_setopt(f->h, CURLOPT_POSTFIELDS, f->c->sql.p);
    curl_easy_setopt(f->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->c->sql.n);
    curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, on_rows);
    curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(ch->opts.timeout_ms > 0 ? ch->opts.timeout_ms : 10000));
    curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, hl);
    ka_ch_setopts(ch, f->h);
    CURLcode cr = curl_easy_perform(f->h);
    curl_slist_free_all(hl);
    if (f->stop) return f->stop;
    if (f->full) return KA_OK;
    if (!f->status) curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->status); /* no body */
    if (cr != CURLE_OK) {
        snprintf(f->c->err, sizeof f->c->err, "%s: %s", ch->url, curl_easy_strerror(cr));
        return KA_EIO;
    }
    if (f->status != 200) {
        snprintf(f->c->err, sizeof f->c->err, "HTTP %ld: %.*s", f->status, (int)f->pend.n,
                 f->pend.p ? f->pend.p : "");
        for (char *p = f->c->err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        return KA_EIO;
    }
    if (f->pend.n) {
        snprintf(f->c->err, sizeof f->c->err, "the answer ended inside a row");
        return KA_EIO;
    }
    return KA_OK;
}

int ka_chq_query(struct ka_chq *c, const struct ka_query *q,
                 int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len),
                 void *ud)
{
    struct ka_ch *ch = c->ctx;
    struct fetch f = {.c = c, .h = ch->curl, .q = q, .fn = fn, .ud = ud};
    c->err[0] = '\0';
    ka_buf_reset(&c->sql);
    int rc = build_sql(ch, q, &c->sql);
    if (rc) {
        snprintf(c->err, sizeof c->err, "the query is too large for SQL");
        return rc;
    }
    ka_buf_init(&f.pend, KA_CHQ_MAX_ROW + (1u << 20));
    rc = perform(&f, ch);
    ka_buf_free(&f.pend);
    return rc;
}

/* ---- open / close ---- */

int ka_chq_open(const char *url, const struct ka_chq_opts *o, struct ka_chq **out, char *err,
                size_t errlen)
{
    struct ka_out_url u;
    struct ka_out_opts oo = {0};
    if (o) {
        oo.timeout_ms = o->connect_timeout_ms;
        oo.ca_file = o->ca_file;
        oo.cert_file = o->cert_file;
        oo.key_file = o->key_file;
        oo.insecure = o->insecure;
    }
    int rc = ka_out_url_parse(url, &u, err, errlen);
    if (rc) return rc;
    if (strcmp(u.scheme, "clickhouse") != 0 && strcmp(u.scheme, "clickhouses") != 0) {
        snprintf(err, errlen, "%s: not a clickhouse:// or clickhouses:// URL", url);
        return KA_EINVAL;
    }
    struct ka_chq *c = calloc(1, sizeof *c);
    if (!c) return KA_ENOMEM;
    rc = ka_output_clickhouse.create(&u, &oo, &c->ctx, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    ka_buf_init(&c->sql, KA_CHQ_MAX_SQL);
    *out = c;
    return KA_OK;
}

void ka_chq_close(struct ka_chq *c)
{
    if (!c) return;
    ka_output_clickhouse.destroy(c->ctx);
    ka_buf_free(&c->sql);
    free(c);
}

const char *ka_chq_errmsg(const struct ka_chq *c)
{
    return c->err;
}
