/*
 * splunk.c - the Splunk HTTP Event Collector output: POST /services/collector/event with
 * `Authorization: Splunk <token>`, the batch as concatenated envelopes
 * {"time":<seconds.micros>,"host":…,"source":…,"sourcetype":…,"index":…,"event":<event>}
 * (time from stageTimestamp, else requestReceivedTimestamp; empty fields left out). With
 * indexer acknowledgement (ack=true) every request carries X-Splunk-Request-Channel, the
 * answer's ackId is polled on /services/collector/ack until Splunk says it is indexed: only
 * then is the batch delivered; no ack within ack_timeout_ms -> RETRY.
 *
 * URL: splunk[s]://HOST[:8088][/PREFIX]?token=…|token_file=…&sourcetype=kube:apiserver:audit
 *      &index=…&source=kaudit&host=…&ack=false&channel=<GUID>&ack_timeout_ms=60000
 *      &ack_poll_ms=500
 * Answers: 200 OK; 408, 429, 5xx RETRY; a 400 naming "invalid-event-number" dead-letters that
 * event and retries the others; other 4xx PERMANENT with Splunk's text and code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../http_common.h"
#include "kaudit/jsonw.h"
#include "splunk_int.h"

struct splunk_ctx {
    struct ka_outh h;
    char sourcetype[128], index[128], source[128], host[256];
    bool ack;
    char channel[64];
    long ack_timeout_ms, ack_poll_ms;
    size_t max_event;
};

static const char *const splunk_params[] = {
    "token",   "token_file", "sourcetype",     "index",       "source", "host",
    "channel", "ack",        "ack_timeout_ms", "ack_poll_ms", NULL};

static int copy_param(const struct ka_out_url *u, const char *k, const char *def, char *dst,
                      size_t dstlen, char *err, size_t errlen)
{
    const char *v = ka_out_url_param(u, k);
    if (!v)
        v = def;
    if (strlen(v) >= dstlen) {
        snprintf(err, errlen, "%s too long", k);
        return KA_EINVAL;
    }
    snprintf(dst, dstlen, "%s", v);
    return KA_OK;
}

static int new_channel(char *dst, size_t dstlen)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return KA_EIO;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(dst, dstlen,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    return KA_OK;
}

static int parse_ack(struct splunk_ctx *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    const char *ack = ka_out_url_param(u, "ack");
    const char *to = ka_out_url_param(u, "ack_timeout_ms");
    const char *poll = ka_out_url_param(u, "ack_poll_ms");
    c->ack_timeout_ms = 60000;
    c->ack_poll_ms = 500;
    if ((ack && ka_outh_parse_bool(ack, &c->ack)) ||
        (to && ka_outh_parse_long(to, 1, 3600000, &c->ack_timeout_ms)) ||
        (poll && ka_outh_parse_long(poll, 1, 60000, &c->ack_poll_ms))) {
        snprintf(err, errlen, "ack: true/false; ack_timeout_ms 1..3600000; ack_poll_ms 1..60000");
        return KA_EINVAL;
    }
    int rc = copy_param(u, "channel", "", c->channel, sizeof c->channel, err, errlen);
    if (!rc && c->channel[0] && strspn(c->channel, "0123456789abcdefABCDEF-") != strlen(c->channel)) {
        snprintf(err, errlen, "channel: a GUID");
        return KA_EINVAL;
    }
    if (!rc && c->ack && !c->channel[0])
        rc = new_channel(c->channel, sizeof c->channel);
    return rc;
}

static int parse_params(struct splunk_ctx *c, const struct ka_out_url *u, char *err,
                        size_t errlen)
{
    int rc = copy_param(u, "sourcetype", "kube:apiserver:audit", c->sourcetype,
                        sizeof c->sourcetype, err, errlen);
    if (!rc)
        rc = copy_param(u, "index", "", c->index, sizeof c->index, err, errlen);
    if (!rc)
        rc = copy_param(u, "source", "kaudit", c->source, sizeof c->source, err, errlen);
    if (!rc)
        rc = copy_param(u, "host", "", c->host, sizeof c->host, err, errlen);
    return rc ? rc : parse_ack(c, u, err, errlen);
}

static int set_headers(struct splunk_ctx *c, const struct ka_out_url *u, char *err,
                       size_t errlen)
{
    char secret[KA_OUTH_MAX_SECRET], line[KA_OUTH_MAX_SECRET + 40];
    int t = ka_outh_secret(u, "token", secret, sizeof secret, err, errlen);
    if (t < 0)
        return KA_EINVAL;
    if (!t && !u->user[0]) {
        snprintf(err, errlen, "a HEC token is required (token= or token_file=)");
        return KA_EINVAL;
    }
    if (t) {
        if (strpbrk(secret, "\r\n")) {
            snprintf(err, errlen, "token: one line");
            return KA_EINVAL;
        }
        snprintf(line, sizeof line, "Authorization: Splunk %s", secret);
        if (ka_outh_header(&c->h, line))
            return KA_ENOMEM;
    }
    if (!c->channel[0])
        return KA_OK;
    snprintf(line, sizeof line, "X-Splunk-Request-Channel: %s", c->channel);
    return ka_outh_header(&c->h, line);
}

static void splunk_destroy(void *ctx)
{
    struct splunk_ctx *c = ctx;
    if (!c)
        return;
    ka_outh_free(&c->h);
    free(c);
}

static int splunk_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                         char *err, size_t errlen)
{
    struct splunk_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    size_t sl = strlen(u->scheme);
    struct ka_outh_cfg hc = {.tls = sl > 0 && u->scheme[sl - 1] == 's',
                             .default_port = 8088,
                             .content_type = "application/json"};
    int rc = ka_outh_check_params(u, splunk_params, err, errlen);
    if (!rc)
        rc = parse_params(c, u, err, errlen);
    if (!rc)
        rc = ka_outh_init(&c->h, u, o, &hc, err, errlen);
    if (!rc)
        rc = set_headers(c, u, err, errlen);
    if (rc) {
        splunk_destroy(c);
        return rc;
    }
    c->max_event = o ? o->max_event : 0;
    *ctx = c;
    return KA_OK;
}

/* Appends ,"name":"value" (no comma right after the opening brace at start); empty values are
   left out. */
static int put_field(struct ka_buf *b, size_t start, const char *name, const char *v, size_t n)
{
    if (!n)
        return KA_OK;
    if ((b->n > start + 1 && ka_buf_putc(b, ',')) || ka_jw_key(b, name))
        return KA_ENOMEM;
    return ka_jw_str(b, v, n);
}

static int put_envelope(const struct splunk_ctx *c, const struct ka_out_event *e,
                        struct ka_buf *b)
{
    int64_t sec;
    int32_t nsec;
    size_t start = b->n;
    int rc = ka_buf_putc(b, '{');
    if (!rc && ka_outh_time(e->ev, &sec, &nsec) && sec >= 0)
        rc = ka_buf_printf(b, "\"time\":%lld.%06d", (long long)sec, (int)(nsec / 1000));
    if (!rc)
        rc = put_field(b, start, "host", c->host, strlen(c->host));
    if (!rc)
        rc = put_field(b, start, "source", c->source, strlen(c->source));
    if (!rc)
        rc = put_field(b, start, "sourcetype", c->sourcetype, strlen(c->sourcetype));
    if (!rc)
        rc = put_field(b, start, "index", c->index, strlen(c->index));
    if (!rc && b->n > start + 1)
        rc = ka_buf_putc(b, ',');
    if (!rc)
        rc = ka_jw_key(b, "event");
    if (!rc)
        rc = ka_buf_append(b, e->line, e->len);
    return rc ? KA_ENOMEM : ka_buf_putc(b, '}');
}

static int splunk_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                         struct ka_out_item *items)
{
    struct splunk_ctx *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (ka_outh_too_big(&b->ev[i], c->max_event, &items[i]))
            continue;
        size_t mark = body->n;
        if (put_envelope(c, &b->ev[i], body)) {
            body->n = mark;
            return KA_ENOMEM;
        }
    }
    return KA_OK;
}

static int splunk_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                       struct ka_out_item *items)
{
    struct splunk_ctx *c = ctx;
    if (body->n == 0)
        return KA_OK;
    if (ka_outh_post(&c->h, "/services/collector/event", body->p, body->n)) {
        ka_outh_set_all(b->n, items, KA_OUT_RETRY, "splunk: %s", c->h.errbuf);
        return KA_OK;
    }
    if (c->h.status != 200) {
        ka_splunk_apply_error(c->h.resp.p, c->h.resp.n, c->h.status, b->n, items);
        return KA_OK;
    }
    if (!c->ack) {
        ka_outh_set_all(b->n, items, KA_OUT_OK, "%s", "");
        return KA_OK;
    }
    long long ack_id;
    if (!ka_splunk_ack_id(c->h.resp.p, c->h.resp.n, &ack_id)) {
        ka_outh_set_all(b->n, items, KA_OUT_RETRY,
                        "splunk: ack=true but the answer has no ackId (is indexer "
                        "acknowledgement enabled for the token?)");
        return KA_OK;
    }
    return ka_splunk_wait_ack(&c->h, c->channel, ack_id, c->ack_timeout_ms, c->ack_poll_ms,
                              b->n, items);
}

static const char *const splunk_schemes[] = {"splunk", "splunks", NULL};

const struct ka_output_ops ka_output_splunk = {
    .name = "splunk",
    .schemes = splunk_schemes,
    .create = splunk_create,
    .format = splunk_format,
    .send = splunk_send,
    .destroy = splunk_destroy,
};
