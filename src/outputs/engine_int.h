/*
 * engine_int.h - internals of the forwarding engine (include/kaudit/forward.h) shared by
 * engine.c (setup, reader, batching, in-order cursor commits), engine_deliver.c (workers, retries,
 * backoff, dead letters) and engine_cfg.c (options).
 */
#ifndef KA_ENGINE_INT_H
#define KA_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kaudit/forward.h"
#include "kaudit/policy.h"

#define KA_FWD_MAX_WORKERS 64

/* A batch: lines concatenated in `lines`, with offsets; scanned when sealed (by the worker
   that delivers it). Batches are recycled with their buffers (ka_fwd_batch_put). */
struct ka_fwd_batch {
    struct ka_buf lines;
    size_t *off, *len;
    size_t n, cap;
    struct ka_out_event *oev; /* built when sealed; .ev NULL = not an event (dead-lettered) */
    struct ka_event *scan;
    size_t ev_cap;            /* entries of oev and scan */
    int64_t first_ms;         /* when its first event was added */
    uint64_t seq;             /* journal mode: dispatch order, the slot of its position */
    bool marked;              /* seq is valid (journal mode) */
    struct ka_fwd_batch *next;
};

/* Journal mode: the cursor position after the last record read when a batch was dispatched,
   kept until every batch before it is confirmed too. */
struct ka_fwd_mark {
    struct ka_cursor_pos pos;
    uint64_t records; /* records read at that position */
    bool done;        /* the batch is confirmed */
};

struct ka_fwd_out {
    struct ka_forward *f;
    struct ka_forward_output_cfg cfg;
    char name[49];
    char dl_path[4096];
    const struct ka_output_ops *ops;
    struct ka_out_url url;
    void *ctx[KA_FWD_MAX_WORKERS];
    struct ka_policy *policy;
    struct ka_cursor *cur;
    int dl_fd;

    pthread_t reader, workers[KA_FWD_MAX_WORKERS];
    bool reader_started;
    int n_workers;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;
    struct ka_fwd_batch *q_head, *q_tail;
    size_t queued, busy; /* batches queued; batches queued or being delivered */
    uint64_t busy_events; /* events in those batches */
    bool stop, caught_up, failed;
    uint64_t uncommitted; /* records read since the last commit */
    uint64_t records;     /* records read (reader thread) */
    /* In-order commits: marks[seq % n_marks] for batches seq_done .. seq_next - 1. */
    struct ka_fwd_mark *marks;
    size_t n_marks;
    uint64_t seq_next, seq_done;
    struct ka_cursor_pos ready; /* the latest position whose batches are all confirmed */
    uint64_t ready_records;
    bool have_ready;
    struct ka_forward_stats st;
    uint64_t bytes_read;

    struct ka_fwd_batch *spare; /* recycled batches (under mu) */
    size_t n_spare;

    struct ka_fwd_batch *cur_batch; /* owned by the reader (or the pushing thread) */
    struct ka_buf scratch;          /* re-encoding for the policy filter */
    int64_t last_commit_ms, last_lag_ms;
    pthread_mutex_t dl_mu;
};

struct ka_forward {
    struct ka_journal *j; /* NULL in source mode */
    struct ka_forward_opts fo;
    struct ka_fwd_out *outs;
    size_t n;
};

int64_t ka_fwd_now_ms(void);
void ka_fwd_log(struct ka_fwd_out *o, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void ka_fwd_batch_free(struct ka_fwd_batch *b);
/* Gives a delivered batch back for reuse (or frees it when enough are kept). */
void ka_fwd_batch_put(struct ka_fwd_out *o, struct ka_fwd_batch *b);
/* Worker thread body (engine_deliver.c); arg is the struct ka_fwd_out, ctx index via slot. */
struct ka_fwd_worker_arg {
    struct ka_fwd_out *o;
    int slot;
};
void *ka_fwd_worker(void *arg);
/* Appends a dead letter for one event line (JSON or not) and fsyncs. KA_OK or KA_EIO. */
int ka_fwd_dead_letter(struct ka_fwd_out *o, const char *line, size_t len, bool is_json,
                       const char *reason);

#endif
