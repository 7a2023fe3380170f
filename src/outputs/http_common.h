/*
 * http_common.h - plumbing shared by the HTTP outputs (Elasticsearch/OpenSearch, Loki, Splunk
 * HEC) and, for the small event helpers, Kafka: one libcurl easy handle per output context
 * with TLS (CA, client certificate), a per-request timeout, fixed headers (content type,
 * authorization), a bounded response body, and the classification of what came back:
 *
 *   transport failures (timeouts, resets, refused connections, TLS errors)  -> RETRY
 *   HTTP 408, 429 and 5xx                                                   -> RETRY
 *   other 4xx                                                               -> PERMANENT
 *   2xx                                                                     -> OK
 *
 * The URL's path is a prefix placed before each output's API path (a reverse proxy mounted at
 * /es/ works with elasticsearch://host/es/). Hosts containing ':' are IPv6 and get brackets.
 * Limits: a response body is kept up to KA_OUTH_MAX_RESPONSE bytes (the transfer fails past
 * it: RETRY); secrets read from a file KA_OUTH_MAX_SECRET bytes (first line).
 * Ownership: struct ka_outh is embedded in an output's context; ka_outh_free releases what
 * ka_outh_init acquired (safe on a zeroed struct).
 */
#ifndef KAUDIT_OUTPUTS_HTTP_COMMON_H
#define KAUDIT_OUTPUTS_HTTP_COMMON_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/event.h"
#include "kaudit/output.h"

#define KA_OUTH_MAX_RESPONSE (64u << 20)
#define KA_OUTH_MAX_SECRET 4096u
#define KA_OUTH_DEFAULT_TIMEOUT_MS 10000

struct ka_outh {
    CURL *curl;
    struct curl_slist *headers;
    char base[1024]; /* scheme://host:port[/prefix], no trailing slash */
    char errbuf[CURL_ERROR_SIZE];
    struct ka_buf resp; /* body of the last response */
    long status;        /* HTTP status of the last response, 0 after a transport error */
    int timeout_ms;
};

/* What an output asks of ka_outh_init. */
struct ka_outh_cfg {
    bool tls;                 /* https (the scheme ends in 's') */
    int default_port;         /* when the URL has none */
    const char *content_type; /* e.g. "application/x-ndjson" */
};

/*
 * Sets up h for u: base URL, TLS files and verification from o, timeout, basic auth when the
 * URL has user[:password], the Content-Type header and "Expect:" (no 100-continue round trip).
 * Returns KA_OK, KA_EINVAL (bad URL or TLS files, message in err) or KA_ENOMEM.
 */
int ka_outh_init(struct ka_outh *h, const struct ka_out_url *u, const struct ka_out_opts *o,
                 const struct ka_outh_cfg *c, char *err, size_t errlen);
void ka_outh_free(struct ka_outh *h);
/* Adds a fixed header line ("Name: value") sent with every request. */
int ka_outh_header(struct ka_outh *h, const char *line);

/*
 * POSTs body to base + path (path starts with '/', may carry a query). On an HTTP answer sets
 * h->status and h->resp and returns KA_OK; on a transport failure returns KA_EIO with the
 * reason in h->errbuf (h->status = 0).
 */
int ka_outh_post(struct ka_outh *h, const char *path, const char *body, size_t n);

/* RETRY / PERMANENT / OK for an HTTP status, as described above. */
enum ka_out_result ka_outh_classify(long status);

/* Sets every item not already PERMANENT to r with a formatted reason. */
void ka_outh_set_all(size_t n, struct ka_out_item *items, enum ka_out_result r,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets one item's result and formatted reason. */
void ka_outh_set(struct ka_out_item *it, enum ka_out_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Copies the start of an error body into dst as one printable line (control bytes become
 * spaces, quotes kept), for reasons. Empty body -> "".
 */
void ka_outh_snippet(const char *body, size_t n, char *dst, size_t dstlen);

/*
 * Marks it PERMANENT with "event of N bytes exceeds max_event (M)" when max_event is set and
 * the event is larger. Returns true when marked.
 */
bool ka_outh_too_big(const struct ka_out_event *e, size_t max_event, struct ka_out_item *it);

/* The event's time: stageTimestamp, else requestReceivedTimestamp. false when neither. */
bool ka_outh_time(const struct ka_event *ev, int64_t *sec, int32_t *nsec);

/*
 * Finds annotation key (exact) in ev and copies its decoded value into dst (NUL-terminated).
 * Returns its length, or -1 when absent or longer than dstlen-1.
 */
int ka_outh_annotation(const struct ka_event *ev, const char *key, char *dst, size_t dstlen);

/*
 * Checks that every query parameter of u is in allowed (NULL-terminated) or one of the common
 * TLS parameters. Returns KA_OK or KA_EINVAL with "unknown parameter K" in err.
 */
int ka_outh_check_params(const struct ka_out_url *u, const char *const *allowed, char *err,
                         size_t errlen);

/*
 * Reads secret `name` from the URL: parameter name=VALUE, or name_file=PATH (first line of the
 * file, trailing CR/LF removed). Returns 1 when found (dst filled), 0 when neither parameter is
 * present, KA_EINVAL when the file cannot be read or the value does not fit (err filled).
 */
int ka_outh_secret(const struct ka_out_url *u, const char *name, char *dst, size_t dstlen,
                   char *err, size_t errlen);

/* Small readers over a validated JSON value (ka_json_validate first). */
/* Finds member name of object obj (the last one when repeated). false when absent / not an
   object. */
bool ka_outh_json_member(struct ka_raw obj, const char *name, struct ka_raw *val);
/* An integer number value (no fraction or exponent). false otherwise. */
bool ka_outh_json_int(struct ka_raw v, long long *out);
/* A string value decoded into dst (NUL-terminated, cut to fit); a non-string is copied raw.
   Returns the length written. */
size_t ka_outh_json_text(struct ka_raw v, char *dst, size_t dstlen);

/* Parses a decimal integer in [min, max]. KA_OK or KA_EINVAL. */
int ka_outh_parse_long(const char *s, long min, long max, long *out);
/* Parses true/false/1/0/yes/no/on/off. KA_OK or KA_EINVAL. */
int ka_outh_parse_bool(const char *s, bool *out);

/* The TLS file parameters every HTTP output accepts as a fallback for the options. */
#define KA_OUTH_TLS_PARAMS "ca_file", "cert_file", "key_file"

#endif
