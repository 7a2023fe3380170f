/*
 * forward.h - the forwarding engine: delivers journal events (or events from files) to outputs
 * (include/kaudit/output.h) at least once, and exactly once where the destination deduplicates.
 *
 * Each output runs independently: in journal mode a reader thread consumes the journal through
 * its own persisted cursor (named "fwd-<name>"); in source mode the caller pushes events with
 * ka_forward_push() (`kaudit ship`). The reader cuts batches by count, bytes and time and hands
 * them to `concurrency` worker threads, each with its own output context (connection). A worker
 * formats and sends a batch; items reported RETRY are sent again after an exponential backoff
 * with jitter, until `max_retries` (0 = forever); PERMANENT items and items that ran out of
 * retries are appended to the output's dead-letter file (JSON lines: time, output, reason,
 * event; fsynced) and counted. A batch is confirmed when each of its events is delivered or
 * dead-lettered.
 *
 * Cursor: when the reader dispatches a batch it takes the cursor position after the last record
 * read (ka_cursor_tell); at most every commit_ms (at once when the journal is idle) it persists
 * the position of the last batch confirmed in reading order (ka_cursor_commit_at), or, when
 * nothing is in flight, the position after everything read. The reader never pauses for a
 * commit; it waits only when 4*concurrency+4 batches are dispatched behind one that is not
 * confirmed yet (bounded memory). A crash therefore replays at most what was in flight.
 *
 * Policy filter: with a policy, each event is evaluated as the apiserver would (policy.h);
 * level None or an omitted stage skips it for this output; a lower level than the event's is
 * re-encoded at that level (request/response objects dropped as the level says).
 *
 * Threads: ka_forward_* functions are called from one controlling thread; stats may be read
 * from any thread. Limits: at most KA_FORWARD_MAX_OUTPUTS outputs, 64 workers each, batches
 * bounded by batch_events/batch_bytes, at most 2*concurrency batches queued per output.
 */
#ifndef KAUDIT_FORWARD_H
#define KAUDIT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"
#include "kaudit/journal.h"
#include "kaudit/output.h"

#define KA_FORWARD_MAX_OUTPUTS 32
#define KA_FORWARD_MAX_OPTIONS 32

/* One output as configured (config file `forward.outputs[]` or `kaudit ship` flags). */
struct ka_forward_output_cfg {
    const char *name;            /* [A-Za-z0-9_.-]{1,48}; NULL = derived from the URL scheme */
    const char *url;             /* e.g. clickhouse://127.0.0.1:8123/audit?table=events */
    /* Extra "key=value" options: engine keys (see ka_forward_cfg_option) or URL parameters. */
    const char *options[KA_FORWARD_MAX_OPTIONS];
    size_t n_options;
    const char *policy_file;     /* optional per-output audit policy filter */
    const char *dead_letter;     /* dead-letter file; NULL = <dead_letter_dir>/<name>.jsonl */
    size_t batch_events;         /* cut a batch at this many events (default: output's) */
    size_t batch_bytes;          /* ... or bytes (default 8 MiB) */
    int batch_ms;                /* ... or after this long since its first event (default 1000) */
    int concurrency;             /* batches in flight (default 1, max 64) */
    int max_retries;             /* sends of one item after the first; 0 = forever */
    int backoff_min_ms, backoff_max_ms; /* default 200 / 30000 */
    int commit_ms;               /* journal mode: cursor commit period (default 1000) */
    struct ka_out_opts out;      /* passed to the output (timeout, TLS files, max_event, log) */
    const struct ka_output_ops *ops; /* NULL = found by the URL's scheme (tests plug fakes) */
};

/* Fills the defaults above (everything 0/NULL is then replaced by its default). */
void ka_forward_cfg_default(struct ka_forward_output_cfg *c);
/*
 * Applies one "key=value" engine option (batch_events, batch_bytes, batch_ms, concurrency,
 * retries, backoff_min_ms, backoff_max_ms, commit_ms, dead_letter, policy, name, timeout_ms,
 * ca, cert, key, insecure, max_event). Returns KA_OK, KA_ENOENT when key is not an engine
 * option (it is then a URL parameter of the output), KA_EINVAL for a bad value. Strings are
 * borrowed from kv, which must outlive the configuration.
 */
int ka_forward_cfg_option(struct ka_forward_output_cfg *c, const char *kv);

struct ka_forward_stats {
    char name[49];
    uint64_t read;          /* events read from the journal/source */
    uint64_t filtered;      /* skipped by the output's policy */
    uint64_t sent;          /* confirmed delivered */
    uint64_t retried;       /* item sends repeated after RETRY or a failed request */
    uint64_t dead_lettered; /* written to the dead-letter file */
    uint64_t batches, requests, request_errors;
    uint64_t in_flight;     /* events read and not yet confirmed */
    uint64_t commits;
    uint64_t lag_bytes;     /* journal bytes behind the committed cursor */
    int64_t lag_seconds;    /* age of the committed position */
    uint64_t lag_events;    /* in_flight + lag_bytes / average event size (an estimate) */
    bool failed;            /* the reader stopped on an error (see the log) */
};

struct ka_forward;

struct ka_forward_opts {
    const char *dead_letter_dir; /* where <name>.jsonl files go when cfg.dead_letter is NULL */
    void (*log)(void *ud, enum ka_sev sev, const char *msg); /* may be NULL */
    void *log_ud;
};

/*
 * Journal mode: creates every output (URL, options, policy), opens their cursors in j and
 * starts their threads. err gets a one-line reason on failure ("outputs[1]: ..."). j must
 * outlive the engine.
 */
int ka_forward_start(struct ka_journal *j, const struct ka_forward_output_cfg *outputs, size_t n,
                     const struct ka_forward_opts *fo, struct ka_forward **out, char *err,
                     size_t errlen);
/* Source mode: the same without a journal; events come from ka_forward_push(). */
int ka_forward_start_source(const struct ka_forward_output_cfg *outputs, size_t n,
                            const struct ka_forward_opts *fo, struct ka_forward **out, char *err,
                            size_t errlen);
/*
 * Source mode: queues one event line (without LF; copied) for every output. Blocks while the
 * outputs have enough work in flight. Returns KA_OK, or KA_EINVAL when the line is not an event
 * (nothing queued) or the engine is stopping.
 */
int ka_forward_push(struct ka_forward *f, const char *line, size_t len);
/* Source mode: sends what is buffered and waits until every pushed event is confirmed. */
int ka_forward_finish(struct ka_forward *f);
/* Journal mode: true when every output has confirmed everything the journal held. */
bool ka_forward_idle(struct ka_forward *f);

size_t ka_forward_count(const struct ka_forward *f);
void ka_forward_stats(struct ka_forward *f, size_t i, struct ka_forward_stats *st);
/*
 * Stops the threads (a batch being retried is abandoned, not confirmed: it is read again after
 * a restart), closes cursors and outputs, and frees f. NULL: no-op.
 */
void ka_forward_stop(struct ka_forward *f);

#endif
