/*
 * es.c - the Elasticsearch / OpenSearch output: `_bulk` NDJSON where every document is a
 * `create` with `_id` = "<auditID>-<stage>", so a retried batch's 409s mean "already there"
 * and delivery is exactly once; into a data stream or an index named from the event's time
 * (index=kaudit-%Y.%m.%d). Authentication: basic (user:password@ in the URL), API key
 * (api_key / api_key_file: `Authorization: ApiKey …`) or bearer token (bearer / bearer_file).
 *
 * URL: elasticsearch[s]://HOST[:9200][/PREFIX]?index=…&timestamp_field=@timestamp&pipeline=…
 * (opensearch[s]:// are aliases). The document is the canonical event line with
 * `"@timestamp":"<stageTimestamp>"` put first (data streams require it; timestamp_field= with
 * an empty value leaves the line as it is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_common.h"
#include "es_int.h"
#include "kaudit/jsonw.h"

#define ES_DEFAULT_INDEX "kaudit-%Y.%m.%d"

struct es_ctx {
    struct ka_outh h;
    char index[256];
    bool dated;
    char ts_field[64];
    char bulk_path[600];
    size_t max_event;
};

static const char *const es_params[] = {"index", "timestamp_field", "pipeline", "api_key",
                                        "api_key_file", "bearer", "bearer_file", NULL};

static int set_auth(struct es_ctx *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    char secret[KA_OUTH_MAX_SECRET], line[KA_OUTH_MAX_SECRET + 32];
    int k = ka_outh_secret(u, "api_key", secret, sizeof secret, err, errlen);
    int b = k ? 0 : ka_outh_secret(u, "bearer", secret, sizeof secret, err, errlen);
    if (k < 0 || b < 0)
        return KA_EINVAL;
    if ((k || b) && u->user[0]) {
        snprintf(err, errlen, "choose one of user:password, api_key and bearer");
        return KA_EINVAL;
    }
    if (k > 0 && (ka_out_url_param(u, "bearer") || ka_out_url_param(u, "bearer_file"))) {
        snprintf(err, errlen, "choose one of api_key and bearer");
        return KA_EINVAL;
    }
    if (!k && !b)
        return KA_OK;
    snprintf(line, sizeof line, "Authorization: %s %s", k ? "ApiKey" : "Bearer", secret);
    return ka_outh_header(&c->h, line);
}

static int parse_params(struct es_ctx *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    const char *idx = ka_out_url_param(u, "index");
    const char *ts = ka_out_url_param(u, "timestamp_field");
    const char *pipe = ka_out_url_param(u, "pipeline");
    char probe[256];
    if (!idx)
        idx = ES_DEFAULT_INDEX;
    if (!idx[0] || strlen(idx) >= sizeof c->index ||
        ka_es_index_name(idx, 0, probe, sizeof probe) != KA_OK) {
        snprintf(err, errlen, "index: empty, too long or with a %% other than %%Y %%m %%d %%H %%%%");
        return KA_EINVAL;
    }
    snprintf(c->index, sizeof c->index, "%s", idx);
    c->dated = strchr(idx, '%') != NULL;
    snprintf(c->ts_field, sizeof c->ts_field, "%s", ts ? ts : "@timestamp");
    if (ts && strlen(ts) >= sizeof c->ts_field) {
        snprintf(err, errlen, "timestamp_field too long");
        return KA_EINVAL;
    }
    if (pipe && (!pipe[0] || strspn(pipe, "abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
                                 strlen(pipe) || strlen(pipe) > 200)) {
        snprintf(err, errlen, "pipeline: lowercase letters, digits, '-', '_' and '.' only");
        return KA_EINVAL;
    }
    snprintf(c->bulk_path, sizeof c->bulk_path, "/_bulk%s%s", pipe ? "?pipeline=" : "",
             pipe ? pipe : "");
    return KA_OK;
}

static void es_destroy(void *ctx)
{
    struct es_ctx *c = ctx;
    if (!c)
        return;
    ka_outh_free(&c->h);
    free(c);
}

static int es_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                     char *err, size_t errlen)
{
    struct es_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    size_t sl = strlen(u->scheme);
    struct ka_outh_cfg hc = {.tls = sl > 0 && u->scheme[sl - 1] == 's',
                             .default_port = 9200,
                             .content_type = "application/x-ndjson"};
    int rc = ka_outh_check_params(u, es_params, err, errlen);
    if (!rc)
        rc = parse_params(c, u, err, errlen);
    if (!rc)
        rc = ka_outh_init(&c->h, u, o, &hc, err, errlen);
    if (!rc)
        rc = set_auth(c, u, err, errlen);
    if (rc) {
        es_destroy(c);
        return rc;
    }
    c->max_event = o ? o->max_event : 0;
    *ctx = c;
    return KA_OK;
}

/* {"create":{"_index":"…","_id":"…"}} LF */
static int put_action(const struct ka_event *ev, const char *index,
                      struct ka_buf *body)
{
    char key[600];
    size_t kn = ka_out_key(ev, key, sizeof key);
    if (ka_buf_puts(body, "{\"create\":{\"_index\":") || ka_jw_str(body, index, strlen(index)) ||
        ka_buf_puts(body, ",\"_id\":") || ka_jw_str(body, key, kn) ||
        ka_buf_puts(body, "}}\n"))
        return KA_ENOMEM;
    return KA_OK;
}

/* The event line with the timestamp field first, then LF. */
static int put_doc(struct es_ctx *c, const struct ka_out_event *e, bool have_t, int64_t sec,
                   int32_t nsec, struct ka_buf *body)
{
    if (!c->ts_field[0] || !have_t || e->len < 2 || e->line[0] != '{')
        return ka_buf_append(body, e->line, e->len) || ka_buf_putc(body, '\n') ? KA_ENOMEM
                                                                               : KA_OK;
    bool empty = e->line[1] == '}';
    if (ka_buf_putc(body, '{') || ka_jw_str(body, c->ts_field, strlen(c->ts_field)) ||
        ka_buf_putc(body, ':') || ka_jw_microtime(body, sec, nsec) ||
        (!empty && ka_buf_putc(body, ',')) ||
        ka_buf_append(body, e->line + 1, e->len - 1) || ka_buf_putc(body, '\n'))
        return KA_ENOMEM;
    return KA_OK;
}

static int es_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                     struct ka_out_item *items)
{
    struct es_ctx *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        const struct ka_out_event *e = &b->ev[i];
        if (ka_outh_too_big(e, c->max_event, &items[i]))
            continue;
        int64_t sec = 0;
        int32_t nsec = 0;
        bool have_t = ka_outh_time(e->ev, &sec, &nsec);
        char index[256];
        if (c->dated && !have_t) {
            ka_outh_set(&items[i], KA_OUT_PERMANENT,
                        "es: no stageTimestamp or requestReceivedTimestamp to name the index");
            continue;
        }
        if (ka_es_index_name(c->index, sec, index, sizeof index) != KA_OK) {
            ka_outh_set(&items[i], KA_OUT_PERMANENT, "es: index name too long");
            continue;
        }
        size_t mark = body->n;
        if (put_action(e->ev, index, body) || put_doc(c, e, have_t, sec, nsec, body)) {
            body->n = mark;
            return KA_ENOMEM;
        }
    }
    return KA_OK;
}

static int es_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                   struct ka_out_item *items)
{
    struct es_ctx *c = ctx;
    if (body->n == 0)
        return KA_OK; /* every event was refused by format */
    int rc = ka_outh_post(&c->h, c->bulk_path, body->p, body->n);
    if (rc) {
        ka_outh_set_all(b->n, items, KA_OUT_RETRY, "es: %s", c->h.errbuf);
        return KA_OK;
    }
    if (c->h.status == 200)
        return ka_es_apply_bulk(c->h.resp.p, c->h.resp.n, b->n, items);
    char why[160];
    ka_es_error_reason(c->h.resp.p, c->h.resp.n, c->h.status, why, sizeof why);
    enum ka_out_result r = ka_outh_classify(c->h.status);
    ka_outh_set_all(b->n, items, r == KA_OUT_OK ? KA_OUT_RETRY : r, "%s", why);
    return KA_OK;
}

static const char *const es_schemes[] = {"elasticsearch", "elasticsearchs", "opensearch",
                                         "opensearchs", NULL};

const struct ka_output_ops ka_output_elasticsearch = {
    .name = "elasticsearch",
    .schemes = es_schemes,
    .create = es_create,
    .format = es_format,
    .send = es_send,
    .destroy = es_destroy,
};
