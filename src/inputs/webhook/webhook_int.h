/*
 * webhook_int.h - internals shared by the webhook server's files: the server state, metrics
 * counters, authentication and the batch pipeline.
 */
#ifndef KA_WEBHOOK_INT_H
#define KA_WEBHOOK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kaudit/buf.h"
#include "kaudit/policy.h"
#include "kaudit/redact.h"
#include "kaudit/webhook_server.h"

struct MHD_Connection;

/* Status codes counted in kaudit_requests_total. */
#define KA_WH_N_CODES 10
extern const int ka_wh_codes[KA_WH_N_CODES];

enum ka_wh_refuse {
    KA_WH_R_NOT_EVENT = 0, /* dead-lettered: valid JSON, not an audit event */
    KA_WH_R_EVENT_TOO_LARGE,
    KA_WH_R_POLICY,       /* dropped by the policy (level None or omitted stage) */
    KA_WH_R_JOURNAL_IO,   /* batch refused: the journal could not be written */
    KA_WH_R_JOURNAL_FULL, /* batch refused: journal full in refuse mode */
    KA_WH_R_INTERNAL,     /* batch refused: encoding or dead-letter failure */
    KA_WH_N_REFUSE
};

#define KA_WH_N_BUCKETS 14
extern const double ka_wh_buckets[KA_WH_N_BUCKETS];

struct ka_wh_metrics {
    atomic_uint_fast64_t received, accepted, bytes;
    atomic_uint_fast64_t requests[KA_WH_N_CODES + 1]; /* last: any other code */
    atomic_uint_fast64_t refused[KA_WH_N_REFUSE];
    atomic_uint_fast64_t batch_bucket[KA_WH_N_BUCKETS]; /* non-cumulative counts */
    atomic_uint_fast64_t batch_count, batch_ns;
};

struct ka_wh_token {
    char *token, *cluster;
    size_t token_len;
};

struct ka_webhook_server {
    struct ka_webhook_opts o;
    const struct ka_serve_cfg *cfg;
    struct MHD_Daemon *daemon;
    unsigned port;
    bool tls, mtls;
    char *cert_pem, *key_pem, *ca_pem;
    struct ka_wh_token *tokens;
    size_t n_tokens;
    struct ka_redact *redact;
    pthread_rwlock_t lock; /* guards policy (read: batches, write: reload) */
    struct ka_policy *policy;
    pthread_mutex_t dl_lock; /* guards dl_fd */
    int dl_fd;
    char *dl_path;
    atomic_int in_flight;
    atomic_bool last_append_failed;
    atomic_int_fast64_t last_fail_sec;
    struct ka_wh_metrics m;
};

/* One batch's outcome. */
struct ka_wh_result {
    int status;       /* HTTP status */
    char reason[192]; /* one-line body for errors */
    size_t n_items, n_accepted, n_dead, n_dropped;
};

/* Runs the pipeline on a complete body and appends it to the journal. */
void ka_wh_batch(struct ka_webhook_server *s, const char *body, size_t n, const char *cluster,
                 const char *remote, struct ka_wh_result *res);

/*
 * The same pipeline one event at a time (the file inputs): scans item, applies the policy
 * (under the reload lock), tags cluster, redacts and appends the canonical line to out, or a
 * dead-letter record naming remote to dead (the line redacted, as the JSON string "line", since
 * it may not be JSON); res counts items, accepted, dead and dropped.
 * Returns KA_OK or KA_ENOMEM (out and dead may then hold part of a record: discard them).
 */
int ka_wh_encode_event(struct ka_webhook_server *s, const char *item, size_t n,
                       const char *cluster, const char *remote, struct ka_buf *out,
                       struct ka_buf *dead, struct ka_wh_result *res);
/*
 * Writes dead (fsynced), then appends out (res->n_accepted events) to the journal sink; sets
 * res->status to 200 only when both are durable, else 503 with the reason. Counts metrics.
 * dead is emptied once written, so a retried batch does not dead-letter its items twice.
 */
void ka_wh_commit(struct ka_webhook_server *s, const struct ka_buf *out,
                  struct ka_buf *dead, struct ka_wh_result *res);

/* Auth: loads the token file (TOKEN CLUSTER per line). */
int ka_wh_tokens_load(struct ka_webhook_server *s, const char *path, struct ka_diag *diag);
void ka_wh_tokens_free(struct ka_webhook_server *s);
/*
 * Authenticates a request. Returns 0 and fills cluster (may stay "") when allowed, -1 when not.
 * Order: bearer token (when tokens are configured), then the verified client certificate
 * (when a client CA is configured), whose CN or O names the cluster.
 */
int ka_wh_auth(struct ka_webhook_server *s, struct MHD_Connection *c,
               char cluster[KA_WEBHOOK_MAX_CLUSTER + 1]);
bool ka_wh_cluster_name_ok(const char *s, size_t n);

/* Dead-letter file. */
int ka_wh_deadletter_open(struct ka_webhook_server *s);
void ka_wh_deadletter_close(struct ka_webhook_server *s);
/* Appends the lines and fsyncs. Returns KA_OK or KA_EIO. */
int ka_wh_deadletter_write(struct ka_webhook_server *s, const char *p, size_t n);
/*
 * Appends item with the secrets it may hold replaced by redaction markers (docs/serve.md,
 * "Dead letters"): a JSON item stays JSON, with Secret/SecretList/TokenRequest values (also the
 * request/response objects of an event-shaped item on secrets or serviceaccounts/token) and
 * every string holding a bearer token or JWT replaced; any other text keeps its member names
 * and loses every quoted value, bearer token and JWT. Unchanged when redaction is off.
 * Returns KA_OK, KA_ENOMEM or KA_ETOOBIG (out unchanged: write the digest only).
 */
int ka_wh_deadletter_redact(const struct ka_redact *r, const char *item, size_t n,
                            struct ka_buf *out);

/* Metrics. */
void ka_wh_count_request(struct ka_webhook_server *s, int status);
void ka_wh_observe_batch(struct ka_webhook_server *s, uint64_t ns);

uint64_t ka_wh_now_ns(void);

#endif
