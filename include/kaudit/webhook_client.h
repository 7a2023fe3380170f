/*
 * webhook_client.h - sending audit events the way kube-apiserver's webhook backend does
 * (spec §6): EventList bodies (§1.5), the webhook kubeconfig, the URL rule (path cleaned,
 * query dropped, `?timeout=30s` appended), POST with libcurl, success = 200-206, retries with
 * the apiserver's backoff (initial, factor 1.5, jitter 0.2, 5 steps) and client-go's
 * Retry-After handling on 429/5xx (up to 10 extra tries inside one attempt).
 *
 * Ownership: a struct ka_webhook_config is owned by whoever loaded it (free it with
 * ka_webhook_config_free); a client borrows nothing from it after ka_webhook_client_new.
 * Limits: kubeconfig file KA_KUBECONFIG_MAX bytes, a credential file KA_KUBECONFIG_MAX bytes,
 * a Retry-After wait KA_WEBHOOK_MAX_RETRY_AFTER seconds, the error text 256 bytes.
 * Nothing here prints; the CLI reports the diagnostics and results.
 */
#ifndef KAUDIT_WEBHOOK_CLIENT_H
#define KAUDIT_WEBHOOK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

#define KA_KUBECONFIG_MAX (4u << 20)
#define KA_WEBHOOK_MAX_RETRY_AFTER 600
#define KA_WEBHOOK_RETRY_AFTER_TRIES 10

/* What a webhook kubeconfig selects. Strings are NUL-terminated; NULL = not set. *_data
   members hold decoded bytes (PEM) with their length; *_file members are absolute or relative
   to the current directory (relative kubeconfig paths are already resolved). */
struct ka_webhook_config {
    char *url; /* the URL POSTed to: scheme://host + cleaned path + "?timeout=30s" */
    char *ca_file;
    char *ca_data;
    size_t ca_data_len;
    bool insecure;         /* insecure-skip-tls-verify */
    char *tls_server_name; /* name checked and sent as SNI instead of the URL's host */
    char *cert_file, *key_file;
    char *cert_data, *key_data;
    size_t cert_data_len, key_data_len;
    char *token; /* bearer token (from token, or the first line of tokenFile) */
    char *username, *password;
};

void ka_webhook_config_free(struct ka_webhook_config *c);

/*
 * Builds the request URL from a kubeconfig `server` value: no scheme -> https when tls is
 * true (a CA, client cert or insecure is configured) else http; the path is cleaned like Go's
 * path.Clean (empty -> "/", "." and ".." resolved, repeated and trailing slashes dropped);
 * any query or fragment is discarded; "?timeout=30s" is appended. Appends to out.
 * KA_EINVAL when there is no host or the scheme is not http/https.
 */
int ka_webhook_url(const char *server, bool tls, struct ka_buf *out);

/* A config for a plain URL (no credentials). */
int ka_webhook_config_from_url(const char *server, struct ka_webhook_config **out);

/*
 * Loads a webhook kubeconfig from memory. name is used in diagnostics ("name:line:col: ..."),
 * dir is the kubeconfig's directory that relative file paths are resolved against (NULL =
 * current directory). Selection: current-context -> its cluster and user; without
 * current-context, the cluster and user entries whose name is empty. Credential files
 * (tokenFile) are read here; CA/cert/key files are only resolved. Returns KA_OK,
 * KA_ESYNTAX (YAML), KA_EINVAL (bad or missing member), KA_EIO/KA_ENOENT (tokenFile),
 * KA_ENOMEM; every failure but KA_ENOMEM adds a message to d.
 */
int ka_kubeconfig_load(const char *buf, size_t n, const char *name, const char *dir,
                       struct ka_diag *d, struct ka_webhook_config **out);
/* Reads path (at most KA_KUBECONFIG_MAX bytes) and calls ka_kubeconfig_load. */
int ka_kubeconfig_load_file(const char *path, struct ka_diag *d, struct ka_webhook_config **out);

/* EventList body: begin, add each event, end. The result is exactly what the apiserver sends:
   {"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[...]} + LF, each
   item the canonical event without its kind and apiVersion. */
int ka_webhook_body_begin(struct ka_buf *b);
int ka_webhook_body_add(struct ka_buf *b, const struct ka_event *ev);
int ka_webhook_body_end(struct ka_buf *b);

struct ka_webhook_opts {
    double initial_backoff; /* seconds before the 2nd attempt; 0 -> 10 (the apiserver's) */
    double backoff_factor;  /* 0 -> 1.5 */
    double jitter;          /* 0 -> 0.2; negative = none (deterministic tests) */
    int max_attempts;       /* 0 -> 5 */
    double timeout;         /* seconds per HTTP request, body included; 0 -> 30 */
    int retry_after_tries;  /* extra tries on 429/5xx + Retry-After; 0 -> 10, negative = none */
};

struct ka_webhook_result {
    int attempts;           /* backoff steps used */
    int requests;           /* HTTP requests made (Retry-After retries included) */
    long status;            /* last HTTP status, 0 when the last request got no answer */
    double slept;           /* seconds spent waiting between requests */
    char error[256];        /* the last failure, "" after success */
};

struct ka_webhook_client;

int ka_webhook_client_new(const struct ka_webhook_config *cfg, const struct ka_webhook_opts *o,
                          struct ka_webhook_client **out);
void ka_webhook_client_free(struct ka_webhook_client *c);

/*
 * POSTs one body with the retry policy. Returns KA_OK when an answer in 200-206 came back,
 * KA_EIO when every attempt failed (res says why), KA_ENOMEM. res is always filled.
 */
int ka_webhook_client_send(struct ka_webhook_client *c, const char *body, size_t n,
                           struct ka_webhook_result *res);

#endif
