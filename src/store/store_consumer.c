/*
 * store_consumer.c - the journal consumer that feeds the store: a thread reads the journal
 * through the cursor "store", adds the lines to a batch, and when the batch is full (or no
 * line came for batch_ms) commits it in one SQLite transaction (synchronous=FULL), then
 * commits the cursor at the position after the batch's last line. A crash between the two
 * replays the batch, which the store ignores as duplicates: every journal event is in the
 * store exactly once.
 *
 * Commits are pipelined (ka_store_commit_async): while the store's writer thread writes one
 * batch, this thread reads, encodes and compresses the next, so that the two cores share the
 * work. The cursor moves only after ka_store_sync confirmed the batch (and every batch before
 * it); when the consumer has nothing to read it confirms the batch in flight at once. A line that is not an event
 * is counted and skipped (the journal only holds events the collector accepted). Retention
 * runs every retain_every_sec.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/store.h"
#include "kaudit/thread.h"

struct ka_store_consumer {
    struct ka_store_consumer_opts o;
    struct ka_store *st;
    struct ka_cursor *cur;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    struct ka_store_consumer_stats stats;
    size_t max_events;           /* the batch grows up to this while the writer is busy */
    size_t fill_bytes;           /* bytes of the lines in the batch being filled */
    bool inflight;               /* a batch handed to the writer, not yet confirmed */
    struct ka_cursor_pos inflight_pos; /* the journal position after its last line */
    struct ka_cursor_pos fill_pos;     /* the position after the last line added */
};

static void sc_log(struct ka_store_consumer *c, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sc_log(struct ka_store_consumer *c, enum ka_sev sev, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!c->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->o.log(c->o.log_ud, sev, msg);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_error(struct ka_store_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    c->stats.errors++;
    pthread_mutex_unlock(&c->mu);
}

/* Waits for the batch in flight; once it landed, commits the cursor after it. */
static int confirm(struct ka_store_consumer *c)
{
    struct ka_store_commit_stats cs = {0, 0};
    int rc = ka_store_sync(c->st, &cs);
    pthread_mutex_lock(&c->mu);
    c->stats.inserted += cs.inserted;
    c->stats.duplicates += cs.duplicates;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        sc_log(c, KA_SEV_ERROR, "store: commit failed: %s", ka_store_errmsg(c->st));
        count_error(c);
        return rc;
    }
    if (!c->inflight)
        return KA_OK;
    c->inflight = false;
    rc = ka_cursor_commit_at(c->cur, &c->inflight_pos);
    if (rc)
        sc_log(c, KA_SEV_ERROR, "store: cursor commit failed: %s", ka_strerror(rc));
    pthread_mutex_lock(&c->mu);
    c->stats.batches++;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Confirms the previous batch, then hands this one to the writer. On a store error the
 * batches are kept for a retry. */
static int flush(struct ka_store_consumer *c)
{
    struct ka_cursor_pos pos = c->fill_pos;
    int rc = confirm(c);
    if (rc && ka_store_pending(c->st) == 0)
        return rc;
    if (rc == 0 && (rc = ka_store_commit_async(c->st)) != 0) {
        sc_log(c, KA_SEV_ERROR, "store: commit failed: %s", ka_store_errmsg(c->st));
        count_error(c);
    }
    if (rc)
        return rc;
    c->inflight = true;
    c->inflight_pos = pos;
    c->fill_bytes = 0;
    return KA_OK;
}

/* Scans the line and adds it as it is: the journal's lines are canonical encodings. */
static int add_canonical(struct ka_store *st, const char *line, size_t len)
{
    struct ka_event ev;
    struct ka_scan_err se;
    if (len > KA_STORE_MAX_EVENT)
        return KA_ETOOBIG;
    int rc = ka_event_scan(line, len, NULL, &ev, &se);
    return rc ? rc : ka_store_add_canonical(st, &ev, line, len);
}

/* Adds the line to the batch; false when the batch is too large for it (commit first, then
 * add it again). */
static bool add_line(struct ka_store_consumer *c, const struct ka_tail_rec *rec)
{
    int rc = add_canonical(c->st, rec->line, rec->len);
    if (rc == KA_ETOOBIG && ka_store_pending(c->st) > 0)
        return false;
    ka_cursor_tell(c->cur, &c->fill_pos);
    if (!rc)
        c->fill_bytes += rec->len;
    pthread_mutex_lock(&c->mu);
    c->stats.events++;
    if (rc)
        c->stats.bad_lines++;
    pthread_mutex_unlock(&c->mu);
    if (rc)
        sc_log(c, KA_SEV_WARNING, "store: %s offset %llu: not stored: %s", rec->file,
             (unsigned long long)rec->offset, ka_strerror(rc));
    return true;
}

static void maybe_retain(struct ka_store_consumer *c, int64_t *next)
{
    struct ka_store_retain_stats rs;
    if ((!c->o.max_age_sec && !c->o.max_bytes) || mono_ms() < *next)
        return;
    if (c->inflight && confirm(c) != 0)
        return; /* the store has no connection to spare before the batch landed */
    *next = mono_ms() + (int64_t)c->o.retain_every_sec * 1000;
    if (ka_store_retain(c->st, c->o.max_age_sec, c->o.max_bytes, (int64_t)time(NULL), &rs))
        sc_log(c, KA_SEV_ERROR, "store: retention failed: %s", ka_store_errmsg(c->st));
    else if (rs.deleted)
        sc_log(c, KA_SEV_NOTE, "store: retention deleted %llu events",
             (unsigned long long)rs.deleted);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/*
 * The loop: read a line, add it; commit when the batch is full or old enough. While the store
 * refuses a batch (disk full, locked), nothing more is read: the batch is retried every 200 ms,
 * and what was not committed is read again from the journal after a restart.
 */
static void *run(void *arg)
{
    struct ka_store_consumer *c = arg;
    ka_thread_lower_priority(KA_CONSUMER_NICE); /* intake first when the CPU is short */
    struct ka_tail_rec rec;
    int64_t first = 0, next_retain = 0;
    bool failing = false, held = false; /* held: rec waits for the batch to be committed */
    while (!atomic_load(&c->stop)) {
        size_t n = ka_store_pending(c->st);
        /* Full or old enough, and the writer is free; or too large to wait any longer. */
        bool due = n >= c->o.batch_events || c->fill_bytes >= c->o.batch_bytes ||
                   mono_ms() - first >= c->o.batch_ms;
        if (n && (failing || held || n >= c->max_events || c->fill_bytes >= c->o.batch_bytes / 4 * 7 ||
                  (due && !ka_store_in_flight(c->st)))) {
            failing = flush(c) != 0;
            if (failing) {
                pause_ms(200);
            } else if (held) {
                first = mono_ms();
                held = !add_line(c, &rec);
            }
            continue;
        }
        int rc = ka_cursor_next(c->cur, &rec, n || !c->inflight ? 50 : 0);
        if (rc == 0 && c->inflight && confirm(c) != 0) {
            pause_ms(200); /* the batch in flight failed: it is retried by the next confirm */
            continue;
        }
        if (rc == 1) {
            if (n == 0)
                first = mono_ms();
            held = !add_line(c, &rec);
        } else if (rc < 0) {
            sc_log(c, KA_SEV_ERROR, "store: journal read failed: %s", ka_strerror(rc));
            pause_ms(100);
        }
        maybe_retain(c, &next_retain);
    }
    if (ka_store_pending(c->st))
        flush(c);
    if (c->inflight)
        confirm(c);
    return NULL;
}

/* The store with a page cache of cache_mb: the collector keeps its memory small. */
static int open_store(const char *data_dir, unsigned cache_mb, struct ka_store **out)
{
    struct ka_store_opts so;
    ka_store_opts_default(&so);
    so.cache_mb = cache_mb;
    so.no_mmap = true; /* a mapping of the store would count in the collector's RSS */
    return ka_store_open_dir(data_dir, &so, out);
}

int ka_store_consumer_start(struct ka_journal *j, const char *data_dir,
                            const struct ka_store_consumer_opts *o,
                            struct ka_store_consumer **out)
{
    struct ka_store_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    if (o)
        c->o = *o;
    if (!c->o.batch_events || c->o.batch_events > KA_STORE_MAX_BATCH / 2)
        c->o.batch_events = c->o.batch_events ? KA_STORE_MAX_BATCH / 2 : 4096;
    if (!c->o.batch_bytes)
        c->o.batch_bytes = 4u << 20;
    if (c->o.batch_ms <= 0)
        c->o.batch_ms = 200;
    c->max_events = c->o.batch_events * 2 < KA_STORE_MAX_BATCH / 2 ? c->o.batch_events * 2
                                                                   : KA_STORE_MAX_BATCH / 2;
    if (c->o.retain_every_sec <= 0)
        c->o.retain_every_sec = 60;
    pthread_mutex_init(&c->mu, NULL);
    int rc = open_store(data_dir, c->o.cache_mb ? c->o.cache_mb : 16, &c->st);
    rc = rc ? rc : ka_cursor_open(j, "store", &c->cur);
    if (rc == 0 && pthread_create(&c->th, NULL, run, c) != 0)
        rc = KA_ENOMEM;
    if (rc) {
        ka_cursor_close(c->cur);
        ka_store_close(c->st);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

void ka_store_consumer_stats(struct ka_store_consumer *c, struct ka_store_consumer_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void ka_store_consumer_stop(struct ka_store_consumer *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->th, NULL);
    ka_cursor_close(c->cur);
    ka_store_close(c->st);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
