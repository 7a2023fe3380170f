/*
 * clickhouse.c - the ClickHouse output: clickhouse://[user:password@]HOST[:8123]/DB?table=T
 * (clickhouses:// for HTTPS, default port 8443). Batches go as one
 * `INSERT INTO DB.T FORMAT JSONEachRow` over HTTP, gzip-compressed (level 1) by default except
 * to a loopback host (localhost, 127.0.0.0/8, ::1: gzip=1 turns it on there); on first use
 * the output detects the server version and creates (schema=create, the default) or checks
 * (schema=check) the table. Parameters: table, schema=create|check|none, gzip, cluster (value
 * of the `cluster` column), ttl_days, distributed=CLUSTER (create T_local + a Distributed T).
 *
 * Results: HTTP 200 = every row delivered. No answer, 5xx other than a data error, 429 =
 * RETRY. A data error (the server could not parse or convert a row) makes the output insert
 * each row alone, so that only the rows the server rejects are dead-lettered. Other 4xx =
 * PERMANENT.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../outputs_int.h"
#include "ch.h"

static const char *const ka_ch_schemes[] = {"clickhouse", "clickhouses", NULL};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    struct ka_buf *b = ud;
    return ka_buf_append(b, p, sz * nm) ? 0 : sz * nm;
}

int ka_ch_query(struct ka_ch *c, const char *sql, size_t sqllen, const char *query_param,
                const char *encoding, struct ka_buf *resp, long *status, char *err,
                size_t errlen)
{
    CURL *h = c->curl;
    char url[2048], hdr[64];
    struct curl_slist *hl = NULL;
    char *q = query_param ? curl_easy_escape(h, query_param, 0) : NULL;
    snprintf(url, sizeof url, "%s%s%s", c->url, q ? "?query=" : "", q ? q : "");
    curl_free(q);
    ka_buf_reset(resp);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, sql);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sqllen);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 10000));
    ka_ch_setopts(c, h);
    if (encoding) {
        snprintf(hdr, sizeof hdr, "Content-Encoding: %s", encoding);
        hl = curl_slist_append(hl, hdr);
    }
    hl = curl_slist_append(hl, "Content-Type: text/plain; charset=utf-8");
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip before big bodies */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    CURLcode cr = curl_easy_perform(h);
    curl_slist_free_all(hl);
    *status = 0;
    if (cr != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(cr));
        return KA_EIO;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (*status == 200) return KA_OK;
    snprintf(err, errlen, "HTTP %ld: %.*s", *status, (int)(resp->n > 140 ? 140 : resp->n),
             resp->p ? resp->p : "");
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return KA_EIO;
}

void ka_ch_setopts(struct ka_ch *c, void *handle)
{
    CURL *h = handle;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (c->user[0]) {
        curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    }
    if (c->opts.ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, c->opts.ca_file);
    if (c->opts.cert_file) curl_easy_setopt(h, CURLOPT_SSLCERT, c->opts.cert_file);
    if (c->opts.key_file) curl_easy_setopt(h, CURLOPT_SSLKEY, c->opts.key_file);
    if (c->opts.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

int ka_ch_version(struct ka_ch *c, char *err, size_t errlen)
{
    long st;
    const char *sql = "SELECT version()";
    int rc = ka_ch_query(c, sql, strlen(sql), NULL, NULL, &c->resp, &st, err, errlen);
    if (rc) return rc;
    if (!ka_buf_cstr(&c->resp) || sscanf(c->resp.p, "%d.%d", &c->major, &c->minor) != 2) {
        snprintf(err, errlen, "unexpected version answer");
        return KA_EIO;
    }
    return KA_OK;
}

struct ka_ch_run {
    struct ka_ch *c;
    char *err;
    size_t errlen;
};

static int run_stmt(void *ud, const char *sql)
{
    struct ka_ch_run *r = ud;
    long st;
    return ka_ch_query(r->c, sql, strlen(sql), NULL, NULL, &r->c->resp, &st, r->err, r->errlen);
}

int ka_ch_create(struct ka_ch *c, char *err, size_t errlen)
{
    struct ka_ch_ddl_opts o = {c->db, c->table, ka_ch_version_current(c->major, c->minor),
                               c->ttl_days, c->distributed[0] ? c->distributed : NULL};
    struct ka_ch_run r = {c, err, errlen};
    return ka_ch_ddl_each(&o, run_stmt, &r);
}

static int ident_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < KA_CH_NAME_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

bool ka_ch_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

static int parse_params(struct ka_ch *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    const char *t = ka_out_url_param(u, "table"), *sm = ka_out_url_param(u, "schema");
    const char *cl = ka_out_url_param(u, "cluster"), *d = ka_out_url_param(u, "distributed");
    unsigned long long ttl = 0;
    snprintf(c->db, sizeof c->db, "%s", u->path[0] == '/' && u->path[1] ? u->path + 1 : "kaudit");
    snprintf(c->table, sizeof c->table, "%s", t ? t : "audit_events");
    snprintf(c->cluster, sizeof c->cluster, "%s", cl ? cl : "");
    snprintf(c->distributed, sizeof c->distributed, "%s", d ? d : "");
    c->gzip = ka_out_bool(ka_out_url_param(u, "gzip"), !ka_ch_loopback(u->host)) == 1;
    c->schema_mode = !sm || !strcmp(sm, "create") ? 1 : !strcmp(sm, "check") ? 2 : !strcmp(sm, "none") ? 0 : -1;
    if (!ident_ok(c->db) || !ident_ok(c->table) || (d && !ident_ok(d))) {
        snprintf(err, errlen, "clickhouse: database, table and cluster names are [A-Za-z0-9_]");
        return KA_EINVAL;
    }
    if (c->schema_mode < 0 || ka_out_bool(ka_out_url_param(u, "gzip"), 1) < 0 ||
        (ka_out_url_param(u, "ttl_days") && ka_out_uint(ka_out_url_param(u, "ttl_days"), 100000, &ttl))) {
        snprintf(err, errlen, "clickhouse: bad schema, gzip or ttl_days parameter");
        return KA_EINVAL;
    }
    c->ttl_days = (unsigned)ttl;
    snprintf(c->insert_table, sizeof c->insert_table, "%s", c->table);
    return KA_OK;
}

static int ch_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                     char *err, size_t errlen)
{
    struct ka_ch *c = calloc(1, sizeof *c);
    if (!c) return KA_ENOMEM;
    c->opts = *o;
    bool tls = strcmp(u->scheme, "clickhouses") == 0;
    int port = u->port ? u->port : tls ? 8443 : 8123;
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(c->url, sizeof c->url, "%s://%s%s%s:%d/", tls ? "https" : "http", v6 ? "[" : "",
             u->host, v6 ? "]" : "", port);
    snprintf(c->user, sizeof c->user, "%s", u->user);
    snprintf(c->password, sizeof c->password, "%s", u->password);
    ka_buf_init(&c->gz, 0);
    ka_buf_init(&c->resp, 1u << 20);
    int rc = parse_params(c, u, err, errlen);
    if (!rc && !(c->curl = curl_easy_init())) rc = KA_ENOMEM;
    if (rc) {
        ka_buf_free(&c->gz);
        ka_buf_free(&c->resp);
        free(c);
        return rc;
    }
    *ctx = c;
    return KA_OK;
}

static void ch_destroy(void *ctx)
{
    struct ka_ch *c = ctx;
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    ka_buf_free(&c->gz);
    ka_buf_free(&c->resp);
    free(c);
}

static int ch_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                     struct ka_out_item *items)
{
    struct ka_ch *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (c->opts.max_event && b->ev[i].len > c->opts.max_event) {
            items[i].result = KA_OUT_PERMANENT;
            snprintf(items[i].reason, sizeof items[i].reason, "event of %zu bytes over max_event %zu",
                     b->ev[i].len, c->opts.max_event);
            continue;
        }
        size_t mark = body->n;
        int rc = ka_ch_row(&b->ev[i], c->cluster, body);
        if (rc) {
            body->n = mark;
            if (rc != KA_ETOOBIG) return rc;
            items[i].result = KA_OUT_PERMANENT;
            snprintf(items[i].reason, sizeof items[i].reason, "row over the body limit");
        }
    }
    return KA_OK;
}

static int gzip_body(struct ka_buf *out, const char *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return KA_ENOMEM;
    ka_buf_reset(out);
    int rc = ka_buf_reserve(out, deflateBound(&z, n) + 32);
    if (!rc) {
        z.next_in = (Bytef *)(uintptr_t)p;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out->p;
        z.avail_out = (uInt)(out->cap);
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? KA_OK : KA_EIO;
        out->n = z.total_out;
    }
    deflateEnd(&z);
    return rc;
}

/* Error codes of rows the server cannot parse or convert (bad data, not a bad server). */
static bool data_error(const struct ka_buf *resp)
{
    static const int codes[] = {6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 130, 131};
    int code = -1;
    if (resp->n > 6 && !memcmp(resp->p, "Code: ", 6)) code = atoi(resp->p + 6);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (code == codes[i]) return true;
    return false;
}

static enum ka_out_result insert(struct ka_ch *c, const char *rows, size_t n, char *why, size_t wl,
                                 bool *bad_data)
{
    char q[400];
    long st = 0;
    snprintf(q, sizeof q, "INSERT INTO `%s`.`%s` FORMAT JSONEachRow", c->db, c->insert_table);
    const char *body = rows;
    size_t blen = n;
    if (c->gzip && !gzip_body(&c->gz, rows, n)) {
        body = c->gz.p;
        blen = c->gz.n;
    }
    int rc = ka_ch_query(c, body, blen, q, body == rows ? NULL : "gzip", &c->resp, &st, why, wl);
    *bad_data = rc && st == 500 && data_error(&c->resp);
    if (!rc) return KA_OUT_OK;
    if (st == 0 || st == 429 || (st >= 500 && !*bad_data) || st == 408) return KA_OUT_RETRY;
    return KA_OUT_PERMANENT;
}

/* After a data error: each row alone, so only the rejected rows are dead-lettered. */
static void insert_each(struct ka_ch *c, const struct ka_out_batch *b, const struct ka_buf *body,
                        struct ka_out_item *items)
{
    size_t off = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (items[i].result == KA_OUT_PERMANENT) continue;
        const char *nl = memchr(body->p + off, '\n', body->n - off);
        size_t len = nl ? (size_t)(nl - (body->p + off)) + 1 : body->n - off;
        bool bad = false;
        items[i].result = insert(c, body->p + off, len, items[i].reason, sizeof items[i].reason, &bad);
        if (bad) items[i].result = KA_OUT_PERMANENT;
        off += len;
    }
}

static int ch_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                   struct ka_out_item *items)
{
    struct ka_ch *c = ctx;
    char why[160];
    if (!c->ready) {
        int rc = ka_ch_version(c, why, sizeof why);
        if (!rc && c->schema_mode == 1) rc = ka_ch_create(c, why, sizeof why);
        if (!rc && c->schema_mode == 2) {
            struct ka_buf rep;
            ka_buf_init(&rep, 1u << 16);
            rc = ka_ch_check(c, &rep);
            if (rc && ka_buf_cstr(&rep)) snprintf(why, sizeof why, "schema check: %s", rep.p);
            ka_buf_free(&rep);
        }
        if (rc) {
            ka_out_items_set(items, b->n, KA_OUT_RETRY, why);
            if (c->opts.log) c->opts.log(c->opts.log_ud, KA_SEV_WARNING, why);
            return KA_OK;
        }
        c->ready = true;
    }
    if (!body->n) return KA_OK;
    bool bad = false;
    enum ka_out_result r = insert(c, body->p, body->n, why, sizeof why, &bad);
    if (bad) insert_each(c, b, body, items);
    else ka_out_items_set(items, b->n, r, r == KA_OUT_OK ? "" : why);
    if (r == KA_OUT_RETRY) c->ready = false; /* the server may have been replaced */
    return KA_OK;
}

const struct ka_output_ops ka_output_clickhouse = {
    .name = "clickhouse",
    .schemes = ka_ch_schemes,
    .create = ch_create,
    .format = ch_format,
    .send = ch_send,
    .destroy = ch_destroy,
};
