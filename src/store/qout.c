/*
 * qout.c - rendering the rows of `kaudit query`: tables, JSON, JSON lines, CSV, counts, top-N
 * and histograms (see kaudit/qout.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/jsonw.h"
#include "kaudit/qout.h"
#include "kaudit/query.h"

#define MAX_COLS 16u
#define BAR_WIDTH 50

struct topent {
    char *key;
    uint64_t n;
};

struct ka_qout {
    struct ka_qout_opts o;
    struct ka_buf out, cell;
    uint64_t rows;
    /* tables */
    enum ka_qfield cols[MAX_COLS];
    size_t ncols, width[MAX_COLS];
    char **pending; /* KA_QOUT_ALIGN_ROWS rows of ncols cells */
    size_t npending;
    bool aligned;
    /* top */
    struct topent *top;
    size_t top_cap, top_used;
    /* histogram */
    uint64_t *hist;
    int64_t hist_first;
    size_t hist_n;
};

static const char *const field_names[KA_QF_COUNT_] = {
    "time", "user",  "verb",     "resource", "namespace", "name", "code", "source-ip",
    "user-agent", "stage", "audit-id", "decision", "cluster", "as", "api-group"};

const char *ka_qfield_name(enum ka_qfield f)
{
    return (unsigned)f < KA_QF_COUNT_ ? field_names[f] : "?";
}

int ka_qfield_parse_list(const char *s, enum ka_qfield *out, size_t max, size_t *n)
{
    size_t k = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        int f = -1;
        for (int i = 0; i < KA_QF_COUNT_ && f < 0; i++)
            if (strlen(field_names[i]) == len && memcmp(field_names[i], s, len) == 0)
                f = i;
        if (f < 0 || k == max)
            return KA_EINVAL;
        out[k++] = (enum ka_qfield)f;
        s = e ? e + 1 : s + len;
    }
    *n = k;
    return k ? KA_OK : KA_EINVAL;
}

int ka_qout_parse_fmt(const char *s, enum ka_qout_fmt *out)
{
    static const char *const names[] = {"table", "wide", "json", "jsonl", "csv"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum ka_qout_fmt)i;
            return KA_OK;
        }
    }
    return KA_EINVAL;
}

static struct ka_str annotation(struct ka_raw ann, const char *key)
{
    struct ka_json_iter it;
    struct ka_str k, none = {0};
    struct ka_raw v;
    ka_json_iter_init(&it, ann);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka_str_eq(k, key, strlen(key)) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            return ka_str_from_raw(v.p, v.n);
    return none;
}

static int put_str(struct ka_buf *b, struct ka_str s)
{
    return s.set ? ka_str_decode_buf(s, b) : KA_OK;
}

static int put_time(struct ka_buf *b, const struct ka_time *t)
{
    if (!t->set)
        return KA_OK;
    int64_t days = t->sec >= 0 ? t->sec / 86400 : -((-t->sec + 86399) / 86400);
    int64_t rem = t->sec - days * 86400, y;
    unsigned m, d;
    ka_civil_from_days(days, &y, &m, &d);
    return ka_buf_printf(b, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)y, m, d,
                         (long long)(rem / 3600), (long long)(rem / 60 % 60),
                         (long long)(rem % 60));
}

static int first_ip(struct ka_buf *b, struct ka_raw ips)
{
    struct ka_json_iter it;
    struct ka_raw el;
    ka_json_iter_init(&it, ips);
    if (ka_json_iter_elem(&it, &el) && ka_json_type_of(el.p, el.n) == KA_JSON_STRING)
        return put_str(b, ka_str_from_raw(el.p, el.n));
    return KA_OK;
}

int ka_qfield_text(const struct ka_event *ev, enum ka_qfield f, struct ka_buf *b)
{
    const struct ka_objref *o = &ev->objectRef;
    int rc;
    switch (f) {
    case KA_QF_TIME: return put_time(b, &ev->requestReceivedTimestamp);
    case KA_QF_USER: return put_str(b, ev->user.username);
    case KA_QF_VERB: return put_str(b, ev->verb);
    case KA_QF_RESOURCE:
        rc = put_str(b, o->resource);
        if (rc == 0 && o->subresource.set && o->subresource.n)
            rc = ka_buf_putc(b, '/') || put_str(b, o->subresource) ? KA_ENOMEM : KA_OK;
        return rc;
    case KA_QF_NAMESPACE: return put_str(b, o->namespace_);
    case KA_QF_NAME: return put_str(b, o->name);
    case KA_QF_CODE:
        return ev->responseStatus.has_code ? ka_buf_printf(b, "%d", (int)ev->responseStatus.code)
                                           : KA_OK;
    case KA_QF_SOURCE_IP: return first_ip(b, ev->sourceIPs);
    case KA_QF_USER_AGENT: return put_str(b, ev->userAgent);
    case KA_QF_STAGE: return put_str(b, ev->stage);
    case KA_QF_AUDIT_ID: return put_str(b, ev->auditID);
    case KA_QF_DECISION: return put_str(b, annotation(ev->annotations, KA_QUERY_DECISION_ANN));
    case KA_QF_CLUSTER: return put_str(b, annotation(ev->annotations, KA_QUERY_CLUSTER_ANN));
    case KA_QF_AS: return put_str(b, ev->impersonatedUser.username);
    case KA_QF_GROUP: return put_str(b, o->apiGroup);
    case KA_QF_COUNT_: break;
    }
    return KA_EINVAL;
}

static const char *col_title(const struct ka_qout *qo, size_t i);
static int emit_table_row(struct ka_qout *qo, char **cells, bool header);

int ka_qout_new(const struct ka_qout_opts *o, struct ka_qout **out)
{
    struct ka_qout *qo = calloc(1, sizeof *qo);
    if (!qo)
        return KA_ENOMEM;
    qo->o = *o;
    ka_buf_init(&qo->out, 0);
    ka_buf_init(&qo->cell, 0);
    static const enum ka_qfield tcols[] = {KA_QF_TIME, KA_QF_USER,  KA_QF_VERB, KA_QF_RESOURCE,
                                           KA_QF_NAMESPACE, KA_QF_CODE, KA_QF_SOURCE_IP};
    static const enum ka_qfield wcols[] = {KA_QF_STAGE, KA_QF_USER_AGENT, KA_QF_DECISION,
                                           KA_QF_CLUSTER, KA_QF_AUDIT_ID};
    /* CSV keeps namespace and name in two columns; the tables join them as NAMESPACE/NAME. */
    static const enum ka_qfield ccols[] = {KA_QF_TIME,      KA_QF_USER, KA_QF_VERB,
                                           KA_QF_RESOURCE,  KA_QF_NAMESPACE, KA_QF_NAME,
                                           KA_QF_CODE,      KA_QF_SOURCE_IP};
    if (o->fmt == KA_QOUT_CSV) {
        memcpy(qo->cols, ccols, sizeof ccols);
        qo->ncols = sizeof ccols / sizeof ccols[0];
    } else {
        memcpy(qo->cols, tcols, sizeof tcols);
        qo->ncols = sizeof tcols / sizeof tcols[0];
    }
    if (o->fmt == KA_QOUT_WIDE || o->fmt == KA_QOUT_CSV) {
        memcpy(qo->cols + qo->ncols, wcols, sizeof wcols);
        qo->ncols += sizeof wcols / sizeof wcols[0];
    }
    if (o->stream && (o->fmt == KA_QOUT_TABLE || o->fmt == KA_QOUT_WIDE)) {
        static const size_t def[KA_QF_COUNT_] = {20, 32, 8, 20, 40, 30, 4, 15, 30, 16, 36, 8, 12,
                                                 20, 16};
        for (size_t i = 0; i < qo->ncols; i++)
            qo->width[i] = def[qo->cols[i]];
        qo->aligned = true;
        char *hdr[MAX_COLS] = {0};
        for (size_t i = 0; i < qo->ncols; i++)
            hdr[i] = (char *)col_title(qo, i);
        int rc = emit_table_row(qo, hdr, true);
        if (rc) {
            ka_qout_free(qo);
            return rc;
        }
    }
    *out = qo;
    return KA_OK;
}

struct ka_buf *ka_qout_buf(struct ka_qout *qo)
{
    return &qo->out;
}

uint64_t ka_qout_rows(const struct ka_qout *qo)
{
    return qo->rows;
}

static bool mode_rows(const struct ka_qout *qo)
{
    return !qo->o.count && !qo->o.n_top && qo->o.hist_sec <= 0;
}

/* The text of table column i: namespace/name joined. */
static int col_text(const struct ka_qout *qo, const struct ka_event *ev, size_t i,
                    struct ka_buf *b)
{
    if (qo->cols[i] != KA_QF_NAMESPACE || qo->o.fmt == KA_QOUT_CSV)
        return ka_qfield_text(ev, qo->cols[i], b);
    int rc = ka_qfield_text(ev, KA_QF_NAMESPACE, b);
    if (rc == 0 && ev->objectRef.namespace_.set && ev->objectRef.namespace_.n &&
        ev->objectRef.name.set && ev->objectRef.name.n)
        rc = ka_buf_putc(b, '/');
    return rc ? rc : ka_qfield_text(ev, KA_QF_NAME, b);
}

static const char *col_title(const struct ka_qout *qo, size_t i)
{
    static const char *const titles[KA_QF_COUNT_] = {
        "TIME",  "USER",     "VERB",     "RESOURCE", "NAMESPACE/NAME", "NAME", "CODE", "SOURCE-IP",
        "USER-AGENT", "STAGE", "AUDIT-ID", "DECISION", "CLUSTER", "AS", "API-GROUP"};
    if (qo->o.fmt == KA_QOUT_CSV)
        return field_names[qo->cols[i]];
    return titles[qo->cols[i]];
}

static const char *code_color(const char *cell)
{
    if (cell[0] == '2')
        return "\033[32m";
    if (cell[0] == '4' || cell[0] == '5')
        return "\033[31m";
    return cell[0] ? "\033[33m" : NULL;
}

static int emit_table_row(struct ka_qout *qo, char **cells, bool header)
{
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < qo->ncols; i++) {
        const char *c = cells[i] ? cells[i] : "";
        const char *col = NULL;
        if (qo->o.color)
            col = header ? "\033[1m" : qo->cols[i] == KA_QF_CODE ? code_color(c) : NULL;
        bool last = i + 1 == qo->ncols;
        size_t pad = last ? 0 : qo->width[i] - strlen(c) + 2;
        if (col)
            rc = ka_buf_puts(&qo->out, col);
        if (rc == 0)
            rc = ka_buf_puts(&qo->out, c);
        if (rc == 0 && col)
            rc = ka_buf_puts(&qo->out, "\033[0m");
        for (size_t k = 0; rc == 0 && k < pad; k++)
            rc = ka_buf_putc(&qo->out, ' ');
    }
    return rc ? rc : ka_buf_putc(&qo->out, '\n');
}

static void free_cells(char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
}

/* Fixes the column widths from the pending rows and writes header and rows. */
static int flush_pending(struct ka_qout *qo)
{
    char *hdr[MAX_COLS] = {0};
    for (size_t i = 0; i < qo->ncols; i++) {
        hdr[i] = (char *)col_title(qo, i);
        qo->width[i] = strlen(hdr[i]);
        for (size_t r = 0; r < qo->npending; r++) {
            size_t w = strlen(qo->pending[r * qo->ncols + i]);
            if (w > qo->width[i])
                qo->width[i] = w;
        }
    }
    int rc = emit_table_row(qo, hdr, true);
    for (size_t r = 0; r < qo->npending; r++) {
        if (rc == 0)
            rc = emit_table_row(qo, qo->pending + r * qo->ncols, false);
        free_cells(qo->pending + r * qo->ncols, qo->ncols);
    }
    qo->npending = 0;
    qo->aligned = true;
    return rc;
}

static int table_row(struct ka_qout *qo, const struct ka_event *ev)
{
    char *cells[MAX_COLS] = {0};
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < qo->ncols; i++) {
        ka_buf_reset(&qo->cell);
        rc = col_text(qo, ev, i, &qo->cell);
        if (rc == 0 && (!ka_buf_cstr(&qo->cell) || !(cells[i] = strdup(qo->cell.p))))
            rc = KA_ENOMEM;
        for (char *c = cells[i]; c && *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
    }
    if (rc == 0 && qo->aligned) {
        size_t n = qo->ncols;
        for (size_t i = 0; i < n; i++)
            if (strlen(cells[i]) > qo->width[i])
                qo->width[i] = strlen(cells[i]); /* later rows may widen, never narrow */
        rc = emit_table_row(qo, cells, false);
    } else if (rc == 0) {
        if (!qo->pending && !(qo->pending = calloc((size_t)KA_QOUT_ALIGN_ROWS * MAX_COLS,
                                                   sizeof *qo->pending)))
            rc = KA_ENOMEM;
        if (rc == 0) {
            memcpy(qo->pending + qo->npending * qo->ncols, cells, qo->ncols * sizeof *cells);
            if (++qo->npending == KA_QOUT_ALIGN_ROWS)
                rc = flush_pending(qo);
            return rc;
        }
    }
    free_cells(cells, qo->ncols);
    return rc;
}

static int csv_cell(struct ka_buf *b, const char *s, size_t n)
{
    if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) && !memchr(s, '\r', n))
        return ka_buf_append(b, s, n);
    int rc = ka_buf_putc(b, '"');
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = s[i] == '"' ? ka_buf_append(b, "\"\"", 2) : ka_buf_putc(b, s[i]);
    return rc ? rc : ka_buf_putc(b, '"');
}

static int csv_row(struct ka_qout *qo, const struct ka_event *ev)
{
    int rc = KA_OK;
    if (qo->rows == 0) {
        for (size_t i = 0; rc == 0 && i < qo->ncols; i++)
            rc = (i ? ka_buf_putc(&qo->out, ',') : 0) || ka_buf_puts(&qo->out, col_title(qo, i));
        rc = rc ? KA_ENOMEM : ka_buf_append(&qo->out, "\r\n", 2);
    }
    for (size_t i = 0; rc == 0 && i < qo->ncols; i++) {
        ka_buf_reset(&qo->cell);
        rc = col_text(qo, ev, i, &qo->cell);
        if (rc == 0 && i)
            rc = ka_buf_putc(&qo->out, ',');
        if (rc == 0)
            rc = csv_cell(&qo->out, qo->cell.p ? qo->cell.p : "", qo->cell.n);
    }
    return rc ? rc : ka_buf_append(&qo->out, "\r\n", 2);
}

static int json_row(struct ka_qout *qo, const struct ka_event *ev)
{
    struct ka_write_opts wo = {0};
    int rc = ka_buf_puts(&qo->out, qo->rows ? ",\n" : "[\n");
    if (rc == 0)
        rc = ka_event_write(ev, &wo, &qo->out);
    if (rc == 0)
        qo->out.n--; /* the LF */
    return rc;
}

static uint64_t key_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int top_grow(struct ka_qout *qo)
{
    size_t ncap = qo->top_cap ? qo->top_cap * 2 : 1024;
    if (qo->top_used >= KA_QOUT_MAX_KEYS)
        return KA_ETOOBIG;
    struct topent *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return KA_ENOMEM;
    for (size_t i = 0; i < qo->top_cap; i++) {
        if (!qo->top[i].key)
            continue;
        size_t j = key_hash(qo->top[i].key, strlen(qo->top[i].key)) & (ncap - 1);
        while (nt[j].key)
            j = (j + 1) & (ncap - 1);
        nt[j] = qo->top[i];
    }
    free(qo->top);
    qo->top = nt;
    qo->top_cap = ncap;
    return KA_OK;
}

/* Adds count to the group whose key is qo->cell. */
static int top_bump(struct ka_qout *qo, uint64_t count)
{
    int rc;
    if (!ka_buf_cstr(&qo->cell))
        return KA_ENOMEM;
    if (qo->top_used * 2 >= qo->top_cap && (rc = top_grow(qo)) != 0)
        return rc;
    size_t j = key_hash(qo->cell.p, qo->cell.n) & (qo->top_cap - 1);
    while (qo->top[j].key && strcmp(qo->top[j].key, qo->cell.p) != 0)
        j = (j + 1) & (qo->top_cap - 1);
    if (!qo->top[j].key) {
        if (!(qo->top[j].key = strdup(qo->cell.p)))
            return KA_ENOMEM;
        qo->top_used++;
    }
    qo->top[j].n += count;
    return KA_OK;
}

static int top_add(struct ka_qout *qo, const struct ka_event *ev)
{
    ka_buf_reset(&qo->cell);
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < qo->o.n_top; i++) {
        if (i)
            rc = ka_buf_putc(&qo->cell, '\t');
        if (rc == 0)
            rc = ka_qfield_text(ev, qo->o.top[i], &qo->cell);
    }
    return rc ? rc : top_bump(qo, 1);
}

int ka_qout_add_top(struct ka_qout *qo, const char *key, size_t n, uint64_t count)
{
    if (qo->o.n_top != 1)
        return KA_EINVAL;
    const char *nul = memchr(key, 0, n);
    if (nul) /* as for rows: a key ends at a NUL */
        n = (size_t)(nul - key);
    ka_buf_reset(&qo->cell);
    int rc = ka_buf_append(&qo->cell, key, n);
    if (rc == 0)
        rc = top_bump(qo, count);
    if (rc == 0)
        qo->rows += count;
    return rc;
}

int ka_qout_add_count(struct ka_qout *qo, uint64_t rows)
{
    qo->rows += rows;
    return KA_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int hist_add(struct ka_qout *qo, const struct ka_event *ev)
{
    if (!ev->requestReceivedTimestamp.set)
        return KA_OK;
    int64_t k = floor_div(ev->requestReceivedTimestamp.sec, qo->o.hist_sec);
    if (!qo->hist) {
        if (!(qo->hist = calloc(1, sizeof *qo->hist)))
            return KA_ENOMEM;
        qo->hist_first = k;
        qo->hist_n = 1;
    }
    int64_t lo = k < qo->hist_first ? k : qo->hist_first;
    int64_t hi = k >= qo->hist_first + (int64_t)qo->hist_n ? k : qo->hist_first +
                                                                     (int64_t)qo->hist_n - 1;
    if (hi - lo + 1 > KA_QOUT_MAX_BUCKETS)
        return KA_ETOOBIG;
    if (lo != qo->hist_first || hi - lo + 1 != (int64_t)qo->hist_n) {
        size_t nn = (size_t)(hi - lo + 1);
        uint64_t *nh = calloc(nn, sizeof *nh);
        if (!nh)
            return KA_ENOMEM;
        memcpy(nh + (qo->hist_first - lo), qo->hist, qo->hist_n * sizeof *nh);
        free(qo->hist);
        qo->hist = nh;
        qo->hist_first = lo;
        qo->hist_n = nn;
    }
    qo->hist[k - qo->hist_first]++;
    return KA_OK;
}

int ka_qout_row(struct ka_qout *qo, const struct ka_event *ev)
{
    int rc = KA_OK;
    if (qo->o.n_top)
        rc = top_add(qo, ev);
    else if (qo->o.hist_sec > 0)
        rc = hist_add(qo, ev);
    else if (qo->o.count)
        rc = KA_OK;
    else if (qo->o.fmt == KA_QOUT_JSONL) {
        struct ka_write_opts wo = {0};
        rc = ka_event_write(ev, &wo, &qo->out);
    } else if (qo->o.fmt == KA_QOUT_JSON)
        rc = json_row(qo, ev);
    else if (qo->o.fmt == KA_QOUT_CSV)
        rc = csv_row(qo, ev);
    else
        rc = table_row(qo, ev);
    if (rc == 0)
        qo->rows++;
    return rc;
}

static int top_cmp(const void *pa, const void *pb)
{
    const struct topent *a = pa, *b = pb;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->key, b->key);
}

static int top_finish(struct ka_qout *qo)
{
    size_t w = 0;
    for (size_t i = 0; i < qo->top_cap; i++)
        if (qo->top[i].key)
            qo->top[w++] = qo->top[i];
    for (size_t i = w; i < qo->top_cap; i++)
        qo->top[i].key = NULL;
    if (w > 1)
        qsort(qo->top, w, sizeof *qo->top, top_cmp);
    size_t lim = qo->o.top_n ? qo->o.top_n : 20;
    int rc = ka_buf_puts(&qo->out, "COUNT");
    for (size_t f = 0; rc == 0 && f < qo->o.n_top; f++)
        rc = ka_buf_printf(&qo->out, "\t%s", field_names[qo->o.top[f]]);
    rc = rc ? rc : ka_buf_putc(&qo->out, '\n');
    for (size_t i = 0; rc == 0 && i < w && i < lim; i++)
        rc = ka_buf_printf(&qo->out, "%llu\t%s\n", (unsigned long long)qo->top[i].n,
                           qo->top[i].key);
    return rc;
}

static int hist_finish(struct ka_qout *qo)
{
    uint64_t max = 0;
    for (size_t i = 0; i < qo->hist_n; i++)
        if (qo->hist[i] > max)
            max = qo->hist[i];
    int rc = KA_OK;
    for (size_t i = 0; rc == 0 && i < qo->hist_n; i++) {
        struct ka_time t = {true, (qo->hist_first + (int64_t)i) * qo->o.hist_sec, 0};
        rc = put_time(&qo->out, &t);
        if (rc == 0)
            rc = ka_buf_printf(&qo->out, " %10llu ", (unsigned long long)qo->hist[i]);
        size_t bar = max ? (size_t)((qo->hist[i] * BAR_WIDTH + max - 1) / max) : 0;
        for (size_t k = 0; rc == 0 && k < bar; k++)
            rc = ka_buf_puts(&qo->out, qo->o.bars_unicode ? "\xe2\x96\x88" : "#");
        if (rc == 0)
            rc = ka_buf_putc(&qo->out, '\n');
    }
    return rc;
}

int ka_qout_finish(struct ka_qout *qo)
{
    if (qo->o.n_top)
        return top_finish(qo);
    if (qo->o.hist_sec > 0)
        return hist_finish(qo);
    if (qo->o.count)
        return ka_buf_printf(&qo->out, "%llu\n", (unsigned long long)qo->rows);
    if (qo->o.fmt == KA_QOUT_JSON)
        return ka_buf_puts(&qo->out, qo->rows ? "\n]\n" : "[]\n");
    if ((qo->o.fmt == KA_QOUT_TABLE || qo->o.fmt == KA_QOUT_WIDE) && !qo->aligned &&
        mode_rows(qo))
        return flush_pending(qo);
    return KA_OK;
}

void ka_qout_free(struct ka_qout *qo)
{
    if (!qo)
        return;
    for (size_t r = 0; r < qo->npending; r++)
        free_cells(qo->pending + r * qo->ncols, qo->ncols);
    free(qo->pending);
    for (size_t i = 0; i < qo->top_cap; i++)
        free(qo->top[i].key);
    free(qo->top);
    free(qo->hist);
    ka_buf_free(&qo->out);
    ka_buf_free(&qo->cell);
    free(qo);
}
