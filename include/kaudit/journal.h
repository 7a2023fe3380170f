/*
 * journal.h - the collector's journal: every accepted event, durable before it is
 * acknowledged, and the cursors through which consumers (store, detection, forwarders) read it.
 *
 * The journal is an ordinary audit log set at <dir>/audit.log with lumberjack-named rotated
 * segments (written through ka_logfile, JSON format), so every kaudit command and any other
 * tool can read it. Appends are thread-safe and durable: ka_journal_append() returns only after
 * the lines are written and fsynced. Concurrent appenders share fsyncs (group commit): while one
 * fsync runs, later batches gather, and the next fsync covers them all.
 *
 * Cursors: each consumer has a name and a persisted position (<dir>/cursors/<name>), read
 * through the follower (include/kaudit/tail.h) from the oldest retained segment on its first
 * use. ka_cursor_commit() persists the position after the last record returned; the consumer
 * calls it only after its destination confirmed. A restart resumes there (at-least-once).
 * ka_cursor_tell() / ka_cursor_commit_at() commit an earlier position instead, so that a
 * consumer with batches in flight commits what is confirmed without pausing its reading.
 *
 * Retention: a segment is deleted only when every cursor is past it, and it is older than the
 * configured maximum age or the journal is over its maximum disk use. When the journal is over
 * the maximum and no segment may be deleted, on_full decides: DROP deletes the oldest segment
 * anyway (counted in stats.dropped_segments/dropped_bytes and reported), REFUSE makes appends
 * fail with KA_ETOOBIG until space is freed (the collector answers 503).
 *
 * Limits: at most KA_JOURNAL_MAX_CURSORS cursors; names are [A-Za-z0-9_.-]{1,64}.
 */
#ifndef KAUDIT_JOURNAL_H
#define KAUDIT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"
#include "kaudit/tail.h"

#define KA_JOURNAL_MAX_CURSORS 64

enum ka_journal_on_full { KA_JOURNAL_FULL_DROP = 0, KA_JOURNAL_FULL_REFUSE = 1 };

struct ka_journal_opts {
    const char *dir;        /* e.g. <data-dir>/journal; created 0700 */
    int segment_mb;         /* rotation size in MiB (default 100) */
    bool compress;          /* gzip rotated segments */
    uint64_t max_disk;      /* bytes; 0 = unlimited */
    int64_t max_age_sec;    /* 0 = unlimited */
    enum ka_journal_on_full on_full;
    /* Log callback for retention decisions and errors (may be NULL). */
    void (*log)(void *ud, enum ka_sev sev, const char *msg);
    void *log_ud;
};

void ka_journal_opts_default(struct ka_journal_opts *o);

struct ka_journal_stats {
    uint64_t events, bytes;          /* appended and durable */
    uint64_t batches, fsyncs;        /* fsyncs <= batches thanks to group commit */
    uint64_t fsync_ns_total, fsync_ns_max;
    uint64_t append_errors, refused; /* I/O errors; refusals because the journal was full */
    uint64_t segments, disk_bytes;   /* now */
    uint64_t dropped_segments, dropped_bytes; /* deleted although a cursor still needed them */
};

struct ka_journal;

int ka_journal_open(const struct ka_journal_opts *o, struct ka_journal **out);
/*
 * Appends n_events complete lines (concatenated in lines[0..len), each ending in LF) and
 * returns after they are fsynced. Returns KA_OK; KA_EIO when the journal cannot be written
 * (nothing is acknowledged; some lines may be on disk, so a retry gives at-least-once);
 * KA_ETOOBIG when full with on_full = REFUSE. Thread-safe.
 */
int ka_journal_append(struct ka_journal *j, const char *lines, size_t len, size_t n_events);
void ka_journal_stats(struct ka_journal *j, struct ka_journal_stats *st);
/* Runs retention now (it also runs after rotations). */
int ka_journal_retain(struct ka_journal *j);
/* Path of the live file (<dir>/audit.log). */
const char *ka_journal_path(const struct ka_journal *j);
void ka_journal_close(struct ka_journal *j);

struct ka_cursor;

/* Opens (or creates) the named cursor. One thread at a time per cursor. */
int ka_cursor_open(struct ka_journal *j, const char *name, struct ka_cursor **out);
/* Next event line (as ka_tail_next): 1 record, 0 timeout, <0 error. */
int ka_cursor_next(struct ka_cursor *c, struct ka_tail_rec *rec, int timeout_ms);
/* Persists the position after the last record returned. */
int ka_cursor_commit(struct ka_cursor *c);
/*
 * Positions for consumers that confirm out of reading order: ka_cursor_tell() right after a
 * record gives the position after it; ka_cursor_commit_at() persists such a position later,
 * while ka_cursor_next() reads on. Positions must be committed in reading order.
 */
struct ka_cursor_pos {
    struct ka_tail_pos t;
};
void ka_cursor_tell(const struct ka_cursor *c, struct ka_cursor_pos *pos);
int ka_cursor_commit_at(struct ka_cursor *c, const struct ka_cursor_pos *pos);
/* How far behind the cursor is: bytes not yet committed, and age of its committed position. */
struct ka_cursor_lag {
    uint64_t bytes;
    int64_t seconds;
};
int ka_cursor_lag(struct ka_cursor *c, struct ka_cursor_lag *lag);
/*
 * Calls fn for every cursor that has a checkpoint (open or not), with its name and lag, for
 * monitoring. Returns KA_OK or the first error met (the others are still reported).
 */
int ka_journal_lags(struct ka_journal *j,
                    void (*fn)(void *ud, const char *name, const struct ka_cursor_lag *lag),
                    void *ud);
void ka_cursor_close(struct ka_cursor *c);

#endif
