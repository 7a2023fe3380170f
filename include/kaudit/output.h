/*
 * output.h - forwarding outputs: the plugin contract between the forwarding engine
 * (src/outputs/engine*.c) and each destination (src/outputs/<name>/).
 *
 * An output is a const table of functions (struct ka_output_ops) plus a context it allocates.
 * It is named by a URL (clickhouse://, clickhouses://, elasticsearch://, elasticsearchs://,
 * loki://, lokis://, splunk://, splunks://, syslog+tcp://, syslog+tls://, syslog+udp://,
 * kafka://) plus options. `format` turns a batch into the exact bytes the destination receives
 * and never touches the network, so every wire format is unit-tested offline; `send` delivers
 * bytes that `format` produced and reports a result per event.
 *
 * Only the engine retries: an output reports KA_OUT_OK, KA_OUT_RETRY (timeouts, resets, 429,
 * 5xx: send the item again later) or KA_OUT_PERMANENT (other 4xx, an item the destination
 * rejects: dead-letter it with the reason) for each event of the batch. A 409 conflict on an
 * item sent with the idempotency key means "already delivered" and is reported as KA_OUT_OK.
 *
 * Idempotency key: auditID + "-" + stage (ka_out_key), wherever the destination can use one.
 *
 * Ownership: the engine owns batches and the events in them (borrowed by the output for the
 * duration of a call). An output's context belongs to it from create to destroy.
 * Threads: the engine calls one context from one thread at a time.
 */
#ifndef KAUDIT_OUTPUT_H
#define KAUDIT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

enum ka_out_result {
    KA_OUT_OK = 0,        /* delivered (or already there: a 409 on a keyed create) */
    KA_OUT_RETRY = 1,     /* transient: the engine sends it again after a backoff */
    KA_OUT_PERMANENT = 2, /* the destination will never take it: dead letter */
};

/* One event of a batch: its canonical JSON line (without the LF) and its scan. */
struct ka_out_event {
    const char *line;
    size_t len;
    const struct ka_event *ev; /* points into line */
};

struct ka_out_batch {
    const struct ka_out_event *ev;
    size_t n;
};

/* Per-event outcome of a send; reason is a one-line text for the dead letter and the log. */
struct ka_out_item {
    enum ka_out_result result;
    char reason[160];
};

/* A parsed output URL: scheme://[user[:password]@]host[:port][/path][?k=v&...]. */
#define KA_OUT_MAX_PARAMS 32
struct ka_out_url {
    char scheme[24];
    char user[128], password[256];
    char host[256];
    int port; /* 0 = the scheme's default */
    char path[512];
    size_t n_params;
    char key[KA_OUT_MAX_PARAMS][64];
    char val[KA_OUT_MAX_PARAMS][512];
};

/* Parses url into *u. Returns KA_OK or KA_EINVAL with a message in err. */
int ka_out_url_parse(const char *url, struct ka_out_url *u, char *err, size_t errlen);
/* Value of query parameter key, or NULL. */
const char *ka_out_url_param(const struct ka_out_url *u, const char *key);

/* Writes the idempotency key "<auditID>-<stage>" (decoded) into dst; returns its length. */
size_t ka_out_key(const struct ka_event *ev, char *dst, size_t dstlen);

/* Options common to every output (the engine fills them from the config / command line). */
struct ka_out_opts {
    int timeout_ms;        /* per request (default 10000) */
    const char *ca_file;   /* TLS: CA bundle to verify the server (NULL = system) */
    const char *cert_file; /* TLS client certificate (optional) */
    const char *key_file;
    bool insecure;         /* TLS without verification (documented as for tests only) */
    size_t max_event;      /* events larger than this are dead-lettered, never truncated */
    void (*log)(void *ud, enum ka_sev sev, const char *msg);
    void *log_ud;
};

struct ka_output_ops {
    const char *name;           /* "clickhouse", "elasticsearch", "loki", ... */
    const char *const *schemes; /* NULL-terminated list of URL schemes it accepts */
    /* Validates the URL and its parameters and builds the context; err gets a one-line reason. */
    int (*create)(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                  char *err, size_t errlen);
    /*
     * Appends the exact bytes of one request body (or stream write) for the batch to body.
     * items[i] may be set to KA_OUT_PERMANENT already here (e.g. an event over the size limit);
     * such events are left out of body. Returns KA_OK or KA_ENOMEM.
     */
    int (*format)(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                  struct ka_out_item *items);
    /*
     * Delivers body (made by format for the same batch) and sets items[i] for every event not
     * already marked permanent. Returns KA_OK when every item has a result (even if some are
     * RETRY or PERMANENT), or a negative KA_E* when nothing could be decided (then every item
     * is retried).
     */
    int (*send)(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                struct ka_out_item *items);
    void (*destroy)(void *ctx);
};

/* Looks up the output that accepts scheme. NULL if none. */
const struct ka_output_ops *ka_output_find(const char *scheme);

#endif
