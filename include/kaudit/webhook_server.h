/*
 * webhook_server.h - the collector's HTTP intake: kube-apiserver's webhook backend POSTs
 * EventLists here (spec §6); each batch is decoded, filtered by an optional policy, tagged with
 * its cluster, redacted, encoded canonically and appended to the journal in ONE durable append.
 * The answer is 200 only after that append returned KA_OK.
 *
 * Threading: libmicrohttpd with one thread per connection (MHD_USE_THREAD_PER_CONNECTION). A
 * request blocks its own thread while the journal fsyncs, so concurrent batches from other
 * connections reach ka_journal_append() at the same time and share fsyncs (group commit); a
 * small pool would serialise them behind one blocked poll loop. Threads are bounded by
 * limits.connections.
 *
 * The journal is reached through a sink (struct ka_webhook_sink) so that the server does not
 * depend on how the journal is opened; ka_webhook_journal_sink() makes the sink of a real
 * struct ka_journal.
 *
 * Endpoints, status codes, security and metrics are described in docs/serve.md.
 */
#ifndef KAUDIT_WEBHOOK_SERVER_H
#define KAUDIT_WEBHOOK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/config.h"
#include "kaudit/err.h"

#include "kaudit/buf.h"

struct ka_journal;

/* Where accepted batches go. append has ka_journal_append()'s contract. */
struct ka_webhook_sink {
    int (*append)(void *ud, const char *lines, size_t len, size_t n_events);
    /* Optional: journal figures for /metrics (bytes on disk, fsync count and time). */
    void (*stats)(void *ud, uint64_t *disk_bytes, uint64_t *fsyncs, uint64_t *fsync_ns);
    /* Optional: true when the journal can be written now (for /readyz). */
    bool (*writable)(void *ud);
    /* Optional: more Prometheus text for /metrics (the journal's consumer lags). */
    int (*metrics)(void *ud, struct ka_buf *out);
    void *ud;
};

/* The sink of an open journal (borrowed; it must outlive the server). */
void ka_webhook_journal_sink(struct ka_journal *j, struct ka_webhook_sink *out);

#define KA_WEBHOOK_MAX_TOKENS 4096
#define KA_WEBHOOK_MAX_CLUSTER 63 /* cluster names: [A-Za-z0-9._-]{1,63} */

struct ka_webhook_opts {
    const struct ka_serve_cfg *cfg; /* borrowed: listen, paths, tls, auth, limits, redaction,
                                       policy, clusters */
    const char *data_dir;           /* the dead-letter file goes to <data_dir>/deadletter/ */
    const char *listen;             /* overrides cfg->listen when not NULL; port 0 = any free
                                       port (see ka_webhook_port) */
    struct ka_webhook_sink sink;
    int retry_after_sec; /* Retry-After of 503 answers; 0 = 5 */
    /* Log callback (may be NULL); called from any thread. */
    void (*log)(void *ud, enum ka_sev sev, const char *msg);
    void *log_ud;
};

struct ka_webhook_server;

/*
 * Loads the token file, TLS files and policy, builds the redactor, opens the dead-letter file
 * and starts listening. Problems are added to diag. Returns KA_OK, KA_EINVAL (bad option or
 * file content), KA_EIO (a file or the socket), KA_EPOLICY or KA_ENOMEM.
 */
int ka_webhook_start(const struct ka_webhook_opts *o, struct ka_diag *diag,
                     struct ka_webhook_server **out);
/* The bound port (useful after listening on port 0). */
unsigned ka_webhook_port(const struct ka_webhook_server *s);
bool ka_webhook_is_tls(const struct ka_webhook_server *s);
/*
 * Reloads the policy file (kept unchanged if the new one is invalid; diag says why) and reopens
 * the dead-letter file. Safe while requests run. Returns KA_OK or the load error.
 */
int ka_webhook_reload(struct ka_webhook_server *s, struct ka_diag *diag);
/*
 * Stops accepting connections, waits up to wait_ms for requests in flight to be answered,
 * then stops the server and frees it. NULL is allowed.
 */
void ka_webhook_stop(struct ka_webhook_server *s, int wait_ms);

/* Appends the Prometheus text exposition of the server's metrics to out. */
struct ka_buf;
int ka_webhook_metrics(struct ka_webhook_server *s, struct ka_buf *out);

#endif
