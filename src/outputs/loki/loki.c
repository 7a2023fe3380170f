/*
 * loki.c - the Grafana Loki output: JSON push requests to /loki/api/v1/push (protobuf+snappy is
 * not offered: libsnappy is not available to the build), one stream per distinct set of a few
 * low-cardinality labels (job, and by default cluster, verb and resource), entries sorted by
 * time inside each stream. The entry time is the event's stageTimestamp (when the stage
 * happened, the order the apiserver writes its log in), else requestReceivedTimestamp, in
 * nanoseconds as a decimal string. The line is the canonical event; a line longer than
 * max_line (default 256 KiB, Loki's max_line_size) is re-encoded without requestObject and
 * responseObject and marked with the annotation kaudit.io/loki-objects-dropped = original size;
 * if it is still too long it is dead-lettered. Never truncated.
 *
 * URL: loki[s]://HOST[:3100][/PREFIX]?labels=cluster,verb,resource&job=kaudit&cluster=NAME
 *      &tenant=ORG&max_line=BYTES&bearer=TOKEN (basic auth: user:password@).
 * The cluster label comes from the event's kaudit.io/cluster annotation, else cluster=.
 * Answers: 2xx OK; 429, 408 and 5xx RETRY; 400 (and other 4xx) PERMANENT with Loki's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_common.h"
#include "kaudit/jsonw.h"
#include "loki_int.h"

#define LOKI_PUSH_PATH "/loki/api/v1/push"
#define LOKI_MAX_LABELS 8
#define LOKI_LABEL_VALUE_MAX 1024

enum loki_label { L_CLUSTER, L_VERB, L_RESOURCE, L_NAMESPACE, L_STAGE, L_LEVEL, L_APIGROUP,
                  L_SUBRESOURCE, L_COUNT };
static const char *const label_names[L_COUNT] = {"cluster", "verb",  "resource",  "namespace",
                                                 "stage",   "level", "api_group", "subresource"};

struct loki_ctx {
    struct ka_outh h;
    int labels[LOKI_MAX_LABELS];
    size_t nlabels;
    char job[128];
    char cluster[128];
    size_t max_line;
    size_t max_event;
};

static const char *const loki_params[] = {"labels", "job",    "cluster",     "tenant",
                                          "max_line", "bearer", "bearer_file", NULL};

static int parse_labels(struct loki_ctx *c, const char *spec, char *err, size_t errlen)
{
    c->nlabels = 0;
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < L_COUNT; i++)
            if (strlen(label_names[i]) == n && !strncmp(p, label_names[i], n))
                found = i;
        if (found < 0 || c->nlabels == LOKI_MAX_LABELS) {
            snprintf(err, errlen,
                     "labels: %.*s is not one of cluster, verb, resource, namespace, stage, "
                     "level, api_group, subresource", (int)(n > 40 ? 40 : n), p);
            return KA_EINVAL;
        }
        c->labels[c->nlabels++] = found;
        p += n + (p[n] == ',');
    }
    return KA_OK;
}

static int parse_params(struct loki_ctx *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    const char *labels = ka_out_url_param(u, "labels");
    const char *job = ka_out_url_param(u, "job");
    const char *cluster = ka_out_url_param(u, "cluster");
    const char *ml = ka_out_url_param(u, "max_line");
    int rc = parse_labels(c, labels ? labels : "cluster,verb,resource", err, errlen);
    if (rc)
        return rc;
    if ((job && strlen(job) >= sizeof c->job) || (cluster && strlen(cluster) >= sizeof c->cluster)) {
        snprintf(err, errlen, "job or cluster too long");
        return KA_EINVAL;
    }
    snprintf(c->job, sizeof c->job, "%s", job ? job : "kaudit");
    snprintf(c->cluster, sizeof c->cluster, "%s", cluster ? cluster : "");
    long v = 256 * 1024;
    if (ml && ka_outh_parse_long(ml, 1024, 64L << 20, &v)) {
        snprintf(err, errlen, "max_line: a byte count from 1024 to 67108864");
        return KA_EINVAL;
    }
    c->max_line = (size_t)v;
    return KA_OK;
}

static int set_headers(struct loki_ctx *c, const struct ka_out_url *u, char *err, size_t errlen)
{
    char secret[KA_OUTH_MAX_SECRET], line[KA_OUTH_MAX_SECRET + 32];
    const char *tenant = ka_out_url_param(u, "tenant");
    if (tenant) {
        if (!tenant[0] || strlen(tenant) > 512 || strpbrk(tenant, "\r\n")) {
            snprintf(err, errlen, "tenant: 1 to 512 characters on one line");
            return KA_EINVAL;
        }
        snprintf(line, sizeof line, "X-Scope-OrgID: %s", tenant);
        if (ka_outh_header(&c->h, line))
            return KA_ENOMEM;
    }
    int b = ka_outh_secret(u, "bearer", secret, sizeof secret, err, errlen);
    if (b < 0)
        return KA_EINVAL;
    if (b && u->user[0]) {
        snprintf(err, errlen, "choose one of user:password and bearer");
        return KA_EINVAL;
    }
    if (!b)
        return KA_OK;
    snprintf(line, sizeof line, "Authorization: Bearer %s", secret);
    return ka_outh_header(&c->h, line);
}

static void loki_destroy(void *ctx)
{
    struct loki_ctx *c = ctx;
    if (!c)
        return;
    ka_outh_free(&c->h);
    free(c);
}

static int loki_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                       char *err, size_t errlen)
{
    struct loki_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    size_t sl = strlen(u->scheme);
    struct ka_outh_cfg hc = {.tls = sl > 0 && u->scheme[sl - 1] == 's',
                             .default_port = 3100,
                             .content_type = "application/json"};
    int rc = ka_outh_check_params(u, loki_params, err, errlen);
    if (!rc)
        rc = parse_params(c, u, err, errlen);
    if (!rc)
        rc = ka_outh_init(&c->h, u, o, &hc, err, errlen);
    if (!rc)
        rc = set_headers(c, u, err, errlen);
    if (rc) {
        loki_destroy(c);
        return rc;
    }
    c->max_event = o ? o->max_event : 0;
    *ctx = c;
    return KA_OK;
}

/* Appends ,"name":"value" for one label; empty values are left out (Loki drops them). */
static int put_label(struct ka_buf *b, const char *name, const char *v, size_t n)
{
    if (n == 0 || n > LOKI_LABEL_VALUE_MAX)
        return KA_OK;
    return ka_buf_putc(b, ',') || ka_jw_str(b, name, strlen(name)) || ka_buf_putc(b, ':') ||
                   ka_jw_str(b, v, n)
               ? KA_ENOMEM
               : KA_OK;
}

static int put_str_label(struct ka_buf *b, const char *name, struct ka_str s)
{
    char v[LOKI_LABEL_VALUE_MAX + 1];
    if (!s.set || s.n == 0 || s.n > LOKI_LABEL_VALUE_MAX)
        return KA_OK;
    size_t n = ka_str_decode(s, v);
    return put_label(b, name, v, n);
}

int ka_loki_stream_labels(const void *ctx, const struct ka_event *ev, struct ka_buf *b)
{
    const struct loki_ctx *c = ctx;
    char cl[LOKI_LABEL_VALUE_MAX + 1];
    if (ka_buf_puts(b, "{\"job\":") || ka_jw_str(b, c->job, strlen(c->job)))
        return KA_ENOMEM;
    int rc = KA_OK;
    for (size_t i = 0; i < c->nlabels && !rc; i++) {
        const char *name = label_names[c->labels[i]];
        switch (c->labels[i]) {
        case L_CLUSTER: {
            int n = ka_outh_annotation(ev, "kaudit.io/cluster", cl, sizeof cl);
            rc = n > 0 ? put_label(b, name, cl, (size_t)n)
                       : put_label(b, name, c->cluster, strlen(c->cluster));
            break;
        }
        case L_VERB: rc = put_str_label(b, name, ev->verb); break;
        case L_RESOURCE: rc = put_str_label(b, name, ev->objectRef.resource); break;
        case L_NAMESPACE: rc = put_str_label(b, name, ev->objectRef.namespace_); break;
        case L_STAGE: rc = put_str_label(b, name, ev->stage); break;
        case L_LEVEL: rc = put_str_label(b, name, ev->level); break;
        case L_APIGROUP: rc = put_str_label(b, name, ev->objectRef.apiGroup); break;
        default: rc = put_str_label(b, name, ev->objectRef.subresource); break;
        }
    }
    return rc ? rc : ka_buf_putc(b, '}');
}

size_t ka_loki_max_line(const void *ctx)
{
    return ((const struct loki_ctx *)ctx)->max_line;
}

size_t ka_loki_max_event(const void *ctx)
{
    return ((const struct loki_ctx *)ctx)->max_event;
}

static int loki_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                       struct ka_out_item *items)
{
    return ka_loki_build(ctx, b, body, items);
}

static int loki_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                     struct ka_out_item *items)
{
    struct loki_ctx *c = ctx;
    if (body->n == 0)
        return KA_OK;
    if (ka_outh_post(&c->h, LOKI_PUSH_PATH, body->p, body->n)) {
        ka_outh_set_all(b->n, items, KA_OUT_RETRY, "loki: %s", c->h.errbuf);
        return KA_OK;
    }
    char msg[140];
    ka_outh_snippet(c->h.resp.p, c->h.resp.n, msg, sizeof msg);
    enum ka_out_result r = ka_outh_classify(c->h.status);
    if (r == KA_OUT_OK)
        ka_outh_set_all(b->n, items, KA_OUT_OK, "%s", "");
    else
        ka_outh_set_all(b->n, items, r, "loki HTTP %ld%s%s", c->h.status, msg[0] ? ": " : "",
                        msg);
    return KA_OK;
}

static const char *const loki_schemes[] = {"loki", "lokis", NULL};

const struct ka_output_ops ka_output_loki = {
    .name = "loki",
    .schemes = loki_schemes,
    .create = loki_create,
    .format = loki_format,
    .send = loki_send,
    .destroy = loki_destroy,
};
