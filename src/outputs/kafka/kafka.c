/*
 * kafka.c - the Kafka output on librdkafka: an idempotent producer (enable.idempotence=true,
 * acks=all), message key = auditID, value = the canonical event line. A send is OK only for
 * the messages whose delivery report succeeded before flush_timeout_ms; anything still queued
 * or in flight then is purged and reported RETRY (a message only queued is not delivered).
 *
 * URL: kafka://BROKER[:9092][,BROKER[:PORT]…]/TOPIC?flush_timeout_ms=…&rdkafka.<prop>=<value>
 * rdkafka.* passes any librdkafka property (SASL, ssl.*, linger.ms, compression.type, …),
 * except those that would weaken delivery (enable.idempotence, acks and their aliases). The
 * TLS options (CA, client certificate) set security.protocol=ssl and ssl.*.location.
 * librdkafka's logs are routed to the opts log callback from the caller's thread; nothing is
 * printed.
 *
 * The body made by format is the values of the batch, each followed by LF; send walks it.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_common.h"
#include "kafka_int.h"

struct kafka_ctx {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_conf_t *conf_copy; /* to build a new producer after a fatal error */
    char topic[256];
    int flush_timeout_ms;
    size_t max_event;
    void (*log)(void *ud, enum ka_sev sev, const char *msg);
    void *log_ud;
    /* The send in progress: delivery reports tagged with another generation are ignored. */
    struct ka_out_item *cur_items;
    size_t cur_n;
    uintptr_t gen;
};

#define TAG_BITS 24
#define TAG_IDX_MAX ((size_t)1 << TAG_BITS)
#define TAG_GEN_MASK (UINTPTR_MAX >> TAG_BITS)

static const char *const weakening[] = {"enable.idempotence", "acks", "request.required.acks",
                                        "enable.gapless.guarantee", NULL};

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_ctx *c = opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    size_t idx = (size_t)(tag & (TAG_IDX_MAX - 1));
    (void)rk;
    if (!c->cur_items || (tag >> TAG_BITS) != (c->gen & TAG_GEN_MASK) || idx >= c->cur_n)
        return; /* a report from an earlier send, already reported RETRY */
    struct ka_out_item *it = &c->cur_items[idx];
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        ka_outh_set(it, KA_OUT_OK, "%s", "");
    else if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             m->err == RD_KAFKA_RESP_ERR_INVALID_MSG || m->err == RD_KAFKA_RESP_ERR_INVALID_RECORD)
        ka_outh_set(it, KA_OUT_PERMANENT, "kafka: %s", rd_kafka_err2str(m->err));
    else if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
             m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        ka_outh_set(it, KA_OUT_RETRY, "kafka: no delivery report within %d ms (%s)",
                    c->flush_timeout_ms, rd_kafka_err2str(m->err));
    else
        ka_outh_set(it, KA_OUT_RETRY, "kafka: %s", rd_kafka_err2str(m->err));
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct kafka_ctx *c = rd_kafka_opaque(rk);
    if (!c || !c->log)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "kafka %s: %s", fac, buf);
    c->log(c->log_ud, level <= 3 ? KA_SEV_ERROR : level <= 4 ? KA_SEV_WARNING : KA_SEV_NOTE,
           msg);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err,
                    size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s: %s", k, e);
        return KA_EINVAL;
    }
    return KA_OK;
}

static int set_tls(rd_kafka_conf_t *conf, const struct ka_out_url *u,
                   const struct ka_out_opts *o, char *err, size_t errlen)
{
    const char *ca = o && o->ca_file ? o->ca_file : ka_out_url_param(u, "ca_file");
    const char *cert = o && o->cert_file ? o->cert_file : ka_out_url_param(u, "cert_file");
    const char *key = o && o->key_file ? o->key_file : ka_out_url_param(u, "key_file");
    int rc = KA_OK;
    if (ca || cert)
        rc = conf_set(conf, "security.protocol", "ssl", err, errlen);
    if (!rc && ca)
        rc = conf_set(conf, "ssl.ca.location", ca, err, errlen);
    if (!rc && cert)
        rc = conf_set(conf, "ssl.certificate.location", cert, err, errlen);
    if (!rc && key)
        rc = conf_set(conf, "ssl.key.location", key, err, errlen);
    if (!rc && o && o->insecure)
        rc = conf_set(conf, "enable.ssl.certificate.verification", "false", err, errlen);
    return rc;
}

/* rdkafka.<prop> parameters, then the ones kaudit requires (set last so they win). */
static int set_props(struct kafka_ctx *c, rd_kafka_conf_t *conf, const struct ka_out_url *u,
                     char *err, size_t errlen)
{
    char brokers[300];
    if (u->port)
        snprintf(brokers, sizeof brokers, "%s:%d", u->host, u->port);
    else
        snprintf(brokers, sizeof brokers, "%s", u->host);
    for (size_t i = 0; i < u->n_params; i++) {
        if (strncmp(u->key[i], "rdkafka.", 8) != 0)
            continue;
        const char *k = u->key[i] + 8;
        for (size_t j = 0; weakening[j]; j++) {
            if (!strcmp(k, weakening[j])) {
                snprintf(err, errlen, "rdkafka.%s cannot be changed", k);
                return KA_EINVAL;
            }
        }
        if (conf_set(conf, k, u->val[i], err, errlen))
            return KA_EINVAL;
    }
    static const char *const req[][2] = {{"enable.idempotence", "true"},
                                         {"acks", "all"},
                                         {"client.id", "kaudit"},
                                         {"log.queue", "true"}};
    int rc = conf_set(conf, "bootstrap.servers", brokers, err, errlen);
    for (size_t i = 0; i < sizeof req / sizeof req[0] && !rc; i++)
        rc = conf_set(conf, req[i][0], req[i][1], err, errlen);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, c);
    return rc;
}

static int check_params(struct kafka_ctx *c, const struct ka_out_url *u,
                        const struct ka_out_opts *o, char *err, size_t errlen)
{
    static const char *const tls[] = {KA_OUTH_TLS_PARAMS, "flush_timeout_ms", NULL};
    for (size_t i = 0; i < u->n_params; i++) {
        bool ok = !strncmp(u->key[i], "rdkafka.", 8) && u->key[i][8];
        for (size_t j = 0; tls[j] && !ok; j++)
            ok = !strcmp(u->key[i], tls[j]);
        if (!ok) {
            snprintf(err, errlen, "unknown parameter %s", u->key[i]);
            return KA_EINVAL;
        }
    }
    const char *t = u->path[0] == '/' ? u->path + 1 : u->path;
    if (!t[0] || strlen(t) > 249 ||
        strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(t)) {
        snprintf(err, errlen, "topic: kafka://BROKERS/TOPIC, TOPIC of [A-Za-z0-9._-]{1,249}");
        return KA_EINVAL;
    }
    memcpy(c->topic, t, strlen(t) + 1); /* at most 249 bytes + NUL */
    if (!u->host[0]) {
        snprintf(err, errlen, "no broker");
        return KA_EINVAL;
    }
    long ft = o && o->timeout_ms > 0 ? o->timeout_ms : KA_OUTH_DEFAULT_TIMEOUT_MS;
    const char *fts = ka_out_url_param(u, "flush_timeout_ms");
    if (fts && ka_outh_parse_long(fts, 1, 3600000, &ft)) {
        snprintf(err, errlen, "flush_timeout_ms: 1..3600000");
        return KA_EINVAL;
    }
    c->flush_timeout_ms = (int)ft;
    return KA_OK;
}

/* Builds the producer from c->conf_copy (which is kept). */
static int start_producer(struct kafka_ctx *c, char *err, size_t errlen)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(c->conf_copy);
    if (!conf)
        return KA_ENOMEM;
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: %s", e);
        return KA_EINVAL;
    }
    rd_kafka_set_log_queue(c->rk, NULL); /* logs served by rd_kafka_poll in our thread */
    c->rkt = rd_kafka_topic_new(c->rk, c->topic, NULL);
    if (!c->rkt) {
        snprintf(err, errlen, "kafka: topic %s: %s", c->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return KA_EINVAL;
    }
    return KA_OK;
}

static void stop_producer(struct kafka_ctx *c)
{
    if (c->rkt)
        rd_kafka_topic_destroy(c->rkt);
    if (c->rk) {
        rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(c->rk, 100);
        rd_kafka_destroy(c->rk);
    }
    c->rkt = NULL;
    c->rk = NULL;
}

static void kafka_destroy(void *ctx)
{
    struct kafka_ctx *c = ctx;
    if (!c)
        return;
    c->cur_items = NULL;
    stop_producer(c);
    if (c->conf_copy)
        rd_kafka_conf_destroy(c->conf_copy);
    free(c);
}

static int kafka_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                        char *err, size_t errlen)
{
    struct kafka_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    c->max_event = o ? o->max_event : 0;
    c->log = o ? o->log : NULL;
    c->log_ud = o ? o->log_ud : NULL;
    int rc = check_params(c, u, o, err, errlen);
    if (!rc) {
        c->conf_copy = rd_kafka_conf_new();
        rc = c->conf_copy ? set_tls(c->conf_copy, u, o, err, errlen) : KA_ENOMEM;
    }
    if (!rc)
        rc = set_props(c, c->conf_copy, u, err, errlen);
    if (!rc)
        rc = start_producer(c, err, errlen);
    if (rc) {
        kafka_destroy(c);
        return rc;
    }
    *ctx = c;
    return KA_OK;
}

int ka_kafka_conf_get(const void *ctx, const char *name, char *dst, size_t dstlen)
{
    const struct kafka_ctx *c = ctx;
    size_t n = dstlen;
    const rd_kafka_conf_t *conf = c->rk ? rd_kafka_conf(c->rk) : c->conf_copy;
    return rd_kafka_conf_get(conf, name, dst, &n) == RD_KAFKA_CONF_OK ? KA_OK : KA_ENOENT;
}

static int kafka_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                        struct ka_out_item *items)
{
    struct kafka_ctx *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (ka_outh_too_big(&b->ev[i], c->max_event, &items[i]))
            continue;
        if (b->ev[i].ev->auditID.n > KA_KAFKA_MAX_KEY) {
            ka_outh_set(&items[i], KA_OUT_PERMANENT, "kafka: auditID longer than %u bytes",
                        (unsigned)KA_KAFKA_MAX_KEY);
            continue;
        }
        if (ka_buf_append(body, b->ev[i].line, b->ev[i].len) || ka_buf_putc(body, '\n'))
            return KA_ENOMEM;
    }
    return KA_OK;
}

int ka_kafka_split(const struct ka_out_batch *b, const struct ka_buf *body,
                   const struct ka_out_item *items, ka_kafka_msg_fn fn, void *ud)
{
    size_t pos = 0;
    char key[KA_KAFKA_MAX_KEY + 1];
    for (size_t i = 0; i < b->n; i++) {
        if (items[i].result == KA_OUT_PERMANENT)
            continue;
        size_t len = b->ev[i].len;
        if (len >= body->n - pos || body->p[pos + len] != '\n' ||
            b->ev[i].ev->auditID.n > KA_KAFKA_MAX_KEY)
            return KA_EINVAL;
        size_t kn = ka_str_decode(b->ev[i].ev->auditID, key);
        int rc = fn(ud, i, key, kn, body->p + pos, len);
        if (rc)
            return rc;
        pos += len + 1;
    }
    return pos == body->n ? KA_OK : KA_EINVAL;
}

struct produce_ctx {
    struct kafka_ctx *c;
    struct ka_out_item *items;
};

/* Queues one message (copied: a purged or late message never points into the body). */
static int produce_one(void *ud, size_t idx, const char *key, size_t kn, const char *val,
                       size_t vn)
{
    struct produce_ctx *p = ud;
    struct kafka_ctx *c = p->c;
    uintptr_t tag = ((c->gen & TAG_GEN_MASK) << TAG_BITS) | (uintptr_t)idx;
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            c->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(kn ? key : NULL, kn),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)val, vn), RD_KAFKA_V_OPAQUE((void *)tag),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return KA_OK;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 50) {
            rd_kafka_poll(c->rk, 100); /* serve delivery reports to make room */
            continue;
        }
        enum ka_out_result r = e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? KA_OUT_PERMANENT
                                                                        : KA_OUT_RETRY;
        ka_outh_set(&p->items[idx], r, "kafka: %s", rd_kafka_err2str(e));
        return KA_OK;
    }
}

/* Waits for the delivery reports; what is still queued or in flight afterwards is purged and
   stays RETRY. */
static void await_reports(struct kafka_ctx *c)
{
    if (rd_kafka_flush(c->rk, c->flush_timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 20 && rd_kafka_outq_len(c->rk) > 0; i++)
        rd_kafka_flush(c->rk, 50);
}

static int kafka_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                      struct ka_out_item *items)
{
    struct kafka_ctx *c = ctx;
    char err[256];
    if (b->n >= TAG_IDX_MAX)
        return KA_EINVAL;
    if (!c->rk) {
        if (start_producer(c, err, sizeof err)) {
            stop_producer(c);
            ka_outh_set_all(b->n, items, KA_OUT_RETRY, "%s", err);
            return KA_OK;
        }
    }
    ka_outh_set_all(b->n, items, KA_OUT_RETRY, "kafka: no delivery report within %d ms",
                    c->flush_timeout_ms);
    c->gen++;
    c->cur_items = items;
    c->cur_n = b->n;
    struct produce_ctx p = {c, items};
    int rc = ka_kafka_split(b, body, items, produce_one, &p);
    await_reports(c);
    c->cur_items = NULL;
    char fe[256];
    if (rd_kafka_fatal_error(c->rk, fe, sizeof fe) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* The idempotent producer cannot go on: a new one is built for the next send. */
        for (size_t i = 0; i < b->n; i++)
            if (items[i].result == KA_OUT_RETRY)
                ka_outh_set(&items[i], KA_OUT_RETRY, "kafka: fatal producer error: %s", fe);
        stop_producer(c);
    }
    return rc;
}

static const char *const kafka_schemes[] = {"kafka", NULL};

const struct ka_output_ops ka_output_kafka = {
    .name = "kafka",
    .schemes = kafka_schemes,
    .create = kafka_create,
    .format = kafka_format,
    .send = kafka_send,
    .destroy = kafka_destroy,
};
