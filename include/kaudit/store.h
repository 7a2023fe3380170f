/*
 * store.h - the embedded event store: an SQLite database in WAL mode at
 * <data_dir>/store/kaudit.db that indexes audit events for `kaudit query` and the views.
 *
 * One row per event, keyed by (auditID, stage): inserting the same event again is ignored, so
 * replays from the journal or re-indexing the same files are harmless (exactly-once in the
 * store). Each row has a column per query filter (include/kaudit/query.h) and the canonical
 * event (ka_event_write) compressed with zstd, with a dictionary trained on the first large
 * batch. A flag marks the row that is the request's latest stage (the rows of
 * KA_QSTAGE_REQUESTS); it is maintained on insert. docs/store.md describes the schema.
 *
 * Writing: ka_store_add() gathers events into a batch (copied: the caller's buffers may go);
 * ka_store_commit() writes the batch in one transaction and returns how many rows were new and
 * how many were duplicates. One writer per ka_store; several processes may open the same store
 * (SQLite's locking; a writer waits up to busy_ms for another). Readers never block writers.
 *
 * Durability: synchronous=FULL by default (a committed batch survives power loss, which the
 * journal consumer relies on before it commits its cursor); opts.bulk selects
 * synchronous=NORMAL for `kaudit index` runs (a crash loses at most the last batches, a
 * re-run restores them).
 *
 * Limits: events up to KA_STORE_MAX_EVENT bytes, batches up to KA_STORE_MAX_BATCH events or
 * KA_STORE_MAX_BATCH_BYTES bytes (ka_store_add returns KA_ETOOBIG: commit first).
 */
#ifndef KAUDIT_STORE_H
#define KAUDIT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/journal.h"
#include "kaudit/query.h"

#define KA_STORE_MAX_EVENT (16u << 20)
#define KA_STORE_MAX_BATCH 65536u
#define KA_STORE_MAX_BATCH_BYTES (256u << 20)
#define KA_STORE_SCHEMA_VERSION 4

struct ka_store_opts {
    bool readonly;
    bool bulk;            /* synchronous=NORMAL and a larger cache (index runs) */
    int zstd_level;       /* 0 = default (3) */
    bool no_dict;         /* never train a zstd dictionary */
    unsigned cache_mb;    /* SQLite page cache; 0 = 64 (256 with bulk) */
    bool no_mmap;         /* read through the page cache only, never a mapping of the file:
                             a long-running process's RSS then does not grow with the store */
    int busy_ms;          /* wait for another writer; 0 = 10000 */
    int64_t max_age_sec;  /* retention by requestReceivedTimestamp age; 0 = keep */
    uint64_t max_bytes;   /* retention by database size; 0 = unlimited */
};

void ka_store_opts_default(struct ka_store_opts *o);

struct ka_store;

/* Opens <data_dir>/store/kaudit.db (directories 0700, files 0600), creating and migrating it
 * unless readonly. A read-only open of a missing store is KA_ENOENT; a read-only open of a
 * store with an older schema is KA_EINVAL (it needs a writable open first). On failure *out is
 * NULL and ka_store_errmsg(NULL) says why. */
int ka_store_open(const char *data_dir, bool readonly, struct ka_store **out);
/* Same with options (NULL: the defaults). */
int ka_store_open_dir(const char *data_dir, const struct ka_store_opts *o, struct ka_store **out);
/* Same with options; path is the database file itself. */
int ka_store_open_path(const char *path, const struct ka_store_opts *o, struct ka_store **out);
/* Discards an uncommitted batch. NULL: no-op. */
void ka_store_close(struct ka_store *s);
/* The last SQLite or zstd error message (for the caller's diagnostics). With s NULL: why this
 * thread's last ka_store_open or ka_store_open_path failed (a missing store, a schema that
 * needs a migration or is too new, an SQLite error), for the caller to print. */
const char *ka_store_errmsg(const struct ka_store *s);

/* Adds ev (scanned from any source; stored in canonical form) to the batch. */
int ka_store_add(struct ka_store *s, const struct ka_event *ev);
/* Adds ev whose canonical encoding (ka_event_write's output, with or without LF) is line, as
 * the journal's lines always are: the line is stored as is, without encoding ev again. */
int ka_store_add_canonical(struct ka_store *s, const struct ka_event *ev, const char *line,
                           size_t len);
/* Scans one line (without or with its LF) and adds it; KA_ESYNTAX/KA_ENOTEVENT if bad. */
int ka_store_add_line(struct ka_store *s, const char *line, size_t len);
/* Events waiting in the batch. */
size_t ka_store_pending(const struct ka_store *s);

struct ka_store_commit_stats {
    uint64_t inserted;   /* new rows */
    uint64_t duplicates; /* (auditID, stage) already stored: ignored */
};
/* Writes the batch in one transaction. On error nothing of the batch is stored and the batch
 * is kept (retry or close). st may be NULL. */
int ka_store_commit(struct ka_store *s, struct ka_store_commit_stats *st);
/* Drops the batch. */
void ka_store_discard(struct ka_store *s);
/*
 * Pipelined commits for bulk loads: hands the batch to a writer thread and returns at once
 * (after the previous one finished), so that the caller reads and encodes the next batch
 * while SQLite writes this one. A batch whose rows could not be compressed yet (before the
 * store has its dictionary) is committed synchronously instead. ka_store_sync() waits for the
 * batch in flight and returns the first error since the last sync and the counts of the
 * batches written since then. Between commit_async and sync, only ka_store_add,
 * ka_store_pending and ka_store_commit_async may be called.
 * A batch the writer thread could not commit is kept, not lost: ka_store_sync reports its
 * error (and ka_store_commit_async returns it while it is unreported); the next ka_store_sync,
 * ka_store_commit_async or ka_store_commit first commits that batch again, so batches land in
 * the order they were handed over.
 */
int ka_store_commit_async(struct ka_store *s);
int ka_store_sync(struct ka_store *s, struct ka_store_commit_stats *st);
/* Whether a batch handed to ka_store_commit_async is still being written (does not wait). */
bool ka_store_in_flight(struct ka_store *s);

/*
 * Calls fn for each row of q (stage mode applied, ordered as query.h says, limit applied) with
 * the event scanned from its canonical line (line[0..len), no LF). The filters are translated
 * to SQL that uses the indexes, then every candidate is checked with ka_query_match, so the
 * rows are exact. fn's non-zero return stops and is returned.
 */
int ka_store_query(struct ka_store *s, const struct ka_query *q,
                   int (*fn)(void *ud, const struct ka_event *ev, const char *line, size_t len),
                   void *ud);

/*
 * Aggregates without reading the events, when the filters translate to SQL exactly (no
 * greps, no limit, pattern lists small enough): otherwise KA_ENOENT and the caller counts the
 * rows of ka_store_query itself.
 *   ka_store_count: number of rows.
 *   ka_store_top:   rows grouped by field, fn called per group with the decoded key and its
 *                   count, largest count first (ties by key). field: user, as, verb, resource
 *                   (RES[/SUB], as audit policies write it), namespace, name, code (decimal;
 *                   "" when absent), decision, user_agent, cluster, source_ips (the list joined
 *                   with ","), level, group (apiGroup).
 */
int ka_store_count(struct ka_store *s, const struct ka_query *q, uint64_t *out);
int ka_store_top(struct ka_store *s, const struct ka_query *q, const char *field,
                 int (*fn)(void *ud, const char *key, size_t n, uint64_t count), void *ud);

/* The SQL that ka_store_query (field NULL) or ka_store_top (field) runs for q, then SQLite's
 * plan for it, one "plan: ..." line per step; NUL-terminated in out. */
int ka_store_explain(struct ka_store *s, const struct ka_query *q, const char *field,
                     struct ka_buf *out);

/* Copies the WAL into the database file and truncates it (after bulk loads). */
int ka_store_checkpoint(struct ka_store *s);

struct ka_store_stats {
    uint64_t events;      /* rows */
    uint64_t requests;    /* rows that are their request's latest stage */
    uint64_t raw_bytes;   /* canonical bytes of the rows (with LF) */
    uint64_t db_bytes;    /* database file + WAL on disk */
    uint64_t free_bytes;  /* free pages inside the file (reused before it grows) */
    int64_t oldest_ns, newest_ns; /* requestReceivedTimestamp range; 0 when empty */
    int schema_version;
    uint64_t dicts;       /* zstd dictionaries */
    uint64_t cache_bytes; /* memory of this connection's SQLite page cache now */
};
int ka_store_stats(struct ka_store *s, struct ka_store_stats *st);

struct ka_store_retain_stats {
    uint64_t deleted;      /* rows removed */
    uint64_t freed_bytes;  /* bytes returned to the file system */
};
/*
 * Retention: deletes rows whose requestReceivedTimestamp is older than now - max_age_sec
 * (0 = keep), then the oldest rows while the database holds more than max_bytes (0 = no
 * limit), whole requests at a time, and returns the freed pages to the file system.
 * now_sec is the current time (a parameter for tests).
 */
int ka_store_retain(struct ka_store *s, int64_t max_age_sec, uint64_t max_bytes, int64_t now_sec,
                    struct ka_store_retain_stats *st);

/* The journal consumer: a thread that reads the journal through the cursor "store", adds the
 * events in batches and commits the cursor only after the batch committed in SQLite. */
struct ka_store_consumer_opts {
    size_t batch_events;  /* 0 = 4096; while the previous batch is still being written the
                             batch grows up to twice this (at most KA_STORE_MAX_BATCH / 2),
                             so that a consumer that is behind commits (and fsyncs) less often */
    size_t batch_bytes;   /* 0 = 4 MiB of event lines: a batch is also due at this size, and
                             grows to at most 7/4 of it (the store's buffers grow by doubling:
                             a batch just over twice this would double them once more) */
    int batch_ms;         /* longest wait to fill a batch; 0 = 200 */
    unsigned cache_mb;    /* SQLite page cache; 0 = 16 (the collector's memory budget) */
    int64_t max_age_sec;  /* retention, run every retain_every_sec; 0 = keep */
    uint64_t max_bytes;   /* 0 = unlimited */
    int retain_every_sec; /* 0 = 60 */
    void (*log)(void *ud, enum ka_sev sev, const char *msg); /* may be NULL */
    void *log_ud;
};
struct ka_store_consumer_stats {
    uint64_t events, inserted, duplicates, bad_lines, batches, errors;
};
struct ka_store_consumer;

int ka_store_consumer_start(struct ka_journal *j, const char *data_dir,
                            const struct ka_store_consumer_opts *o,
                            struct ka_store_consumer **out);
void ka_store_consumer_stats(struct ka_store_consumer *c, struct ka_store_consumer_stats *st);
/* Stops the thread after its current batch (committed) and frees c. NULL: no-op. */
void ka_store_consumer_stop(struct ka_store_consumer *c);

#endif
