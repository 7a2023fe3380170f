/*
 * journal.c - the collector's journal (include/kaudit/journal.h): durable appends with group
 * commit, failure recovery and the journal's counters. Cursors and retention are in
 * journal_retain.c.
 *
 * Group commit: appenders take j->mu, write their lines through ka_logfile with coalesce_bytes
 * (each batch goes out in one write(2) per JR_COALESCE bytes, split only at event boundaries
 * and exactly where lumberjack's per-event rule rotates, so a rotation never splits a line
 * and the files are byte-identical to one write(2) per event; a batch's lines are adjacent in
 * read order), get the batch's sequence number and queue a waiter. The first waiter that finds no fsync running
 * becomes the leader: under the mutex it takes the descriptors to sync (a dup of a read-only
 * descriptor on the live segment, plus those of segments rotated since the last fsync) and
 * the highest sequence written so far, then fsyncs them outside the mutex while others keep
 * writing. Afterwards it completes every waiter that fsync covered, and the next leader takes
 * over. ka_logfile itself is single-threaded, so the fsync is done on our own descriptors and
 * never through ka_logfile_sync.
 *
 * Failures: a failed write or fsync fails every batch that no successful fsync has covered
 * (KA_EIO) and moves the live file aside as a segment of its own (it may end in a partial
 * line, which readers skip). The next append writes a fresh live file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal_int.h"

/* Bytes of whole events gathered per write(2): a 400-event batch of 1 KB events is one. */
#define JR_COALESCE ((size_t)1 << 20)

void ka_journal_opts_default(struct ka_journal_opts *o)
{
    memset(o, 0, sizeof *o);
    o->segment_mb = 100;
    o->on_full = KA_JOURNAL_FULL_DROP;
}

uint64_t jr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void jr_log(struct ka_journal *j, enum ka_sev sev, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!j->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->o.log(j->o.log_ud, sev, msg);
}

static int open_logfile(struct ka_journal *j)
{
    struct ka_logfile_opts lo;
    ka_logfile_opts_default(&lo);
    lo.path = j->path;
    lo.max_size_mb = j->o.segment_mb;
    lo.max_age_days = 0; /* retention is ours: lumberjack never prunes a segment */
    lo.max_backups = 0;
    lo.compress = j->o.compress;
    lo.coalesce_bytes = JR_COALESCE;
    j->rot_seen = 0;
    return ka_logfile_open(&lo, &j->lf);
}

static int check_opts(const struct ka_journal_opts *o)
{
    if (!o || !o->dir || !o->dir[0] || o->segment_mb <= 0 || o->segment_mb > 1024 * 1024 ||
        o->max_age_sec < 0 || (o->on_full != KA_JOURNAL_FULL_DROP &&
                               o->on_full != KA_JOURNAL_FULL_REFUSE))
        return KA_EINVAL;
    if (strlen(o->dir) + 32 >= PATH_MAX)
        return KA_ETOOBIG;
    return KA_OK;
}

int ka_journal_open(const struct ka_journal_opts *o, struct ka_journal **out)
{
    int rc = check_opts(o);
    if (rc)
        return rc;
    struct ka_journal *j = calloc(1, sizeof *j);
    if (!j)
        return KA_ENOMEM;
    j->o = *o;
    j->sync_fd = -1;
    size_t dn = strlen(o->dir); /* < PATH_MAX - 32: checked above */
    memcpy(j->dir, o->dir, dn + 1);
    j->o.dir = j->dir;
    memcpy(j->path, j->dir, dn);
    memcpy(j->path + dn, "/audit.log", sizeof "/audit.log");
    memcpy(j->cdir, j->dir, dn);
    memcpy(j->cdir + dn, "/cursors", sizeof "/cursors");
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->inited = true;
    if ((mkdir(j->dir, 0700) && errno != EEXIST) || (mkdir(j->cdir, 0700) && errno != EEXIST)) {
        rc = KA_EIO;
        goto fail;
    }
    rc = open_logfile(j);
    if (rc)
        goto fail;
    struct stat st;
    if (stat(j->path, &st) == 0 && st.st_size > 0 && jr_ends_partial(j->path, st.st_size))
        j->broken = j->torn_at_open = true; /* a crash mid-line: the next append starts a new
                                               segment */
    /* The live file exists from the start, so a cursor always has a file to begin with. */
    int fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = KA_EIO;
        goto fail;
    }
    close(fd);
    rc = jr_retain_locked(j);
    if (rc)
        goto fail;
    *out = j;
    return KA_OK;
fail:
    ka_journal_close(j);
    return rc;
}

const char *ka_journal_path(const struct ka_journal *j)
{
    return j->path;
}

/* Completes the waiters with seq <= upto (all when upto is UINT64_MAX) with rc. */
static void complete(struct ka_journal *j, uint64_t upto, int rc)
{
    while (j->head && j->head->seq <= upto) {
        struct jr_waiter *w = j->head;
        j->head = w->next;
        w->rc = rc;
        w->done = true;
        if (rc == KA_OK) {
            j->st.events += w->n_events;
            j->st.bytes += w->len;
            j->st.batches++;
        }
    }
    if (!j->head)
        j->tail = NULL;
    pthread_cond_broadcast(&j->cv);
}

static void retire_fd(struct ka_journal *j, int fd)
{
    if (j->n_retired == JR_MAX_RETIRED) {
        /* Many rotations in one batch: sync the oldest now rather than keep more open. */
        if (fsync(j->retired[0]) != 0)
            j->retired_failed = true;
        close(j->retired[0]);
        memmove(j->retired, j->retired + 1, (JR_MAX_RETIRED - 1) * sizeof *j->retired);
        j->n_retired--;
    }
    j->retired[j->n_retired++] = fd;
}

static void drop_fds(struct ka_journal *j)
{
    for (size_t i = 0; i < j->n_retired; i++)
        close(j->retired[i]);
    j->n_retired = 0;
    if (j->sync_fd >= 0)
        close(j->sync_fd);
    j->sync_fd = -1;
}

/* After a write: follow rotations with our own read-only descriptor on the live file. */
static int track_segment(struct ka_journal *j)
{
    struct ka_logfile_stats ls;
    ka_logfile_stats(j->lf, &ls);
    if (j->sync_fd >= 0 && ls.rotations == j->rot_seen)
        return KA_OK;
    if (j->sync_fd >= 0) {
        retire_fd(j, j->sync_fd);
    }
    j->rot_seen = ls.rotations;
    j->dir_dirty = true;
    j->sync_fd = open(j->path, O_RDONLY | O_CLOEXEC);
    return j->sync_fd < 0 ? KA_EIO : KA_OK;
}

/*
 * Moves the live file aside as a segment of its own and starts a new one: after a failed write
 * (it may end in a partial line) or fsync (its pages are in an unknown state).
 */
static int recover(struct ka_journal *j)
{
    drop_fds(j);
    ka_logfile_close(j->lf);
    j->lf = NULL;
    j->gen++;
    j->retired_failed = false;
    int rc = jr_set_aside(j);
    if (!rc)
        rc = open_logfile(j);
    if (rc) {
        jr_log(j, KA_SEV_ERROR, "journal: cannot start a new segment after an error: %s",
               ka_strerror(rc));
        return rc;
    }
    j->broken = false;
    j->dir_dirty = true;
    jr_log(j, KA_SEV_WARNING, j->torn_at_open
                                  ? "journal: the live segment ended in a torn line (a crash "
                                    "mid-write); it was set aside and a new segment started"
                                  : "journal: started a new segment after an I/O error");
    j->torn_at_open = false;
    return KA_OK;
}

static void fail_all(struct ka_journal *j)
{
    j->st.append_errors++;
    complete(j, UINT64_MAX, KA_EIO);
    j->broken = true;
}

/*
 * The whole batch: each line goes through ka_logfile_write, which gathers whole lines and
 * writes them when JR_COALESCE is reached or before a rotation; the flush at the end writes
 * the rest, so nothing of the batch is left in memory when the caller queues its waiter.
 * Rotations are followed after every line, as the outgoing segment's pending lines are written
 * to it before it is renamed.
 */
static int write_batch(struct ka_journal *j, const char *lines, size_t len)
{
    size_t at = 0;
    while (at < len) {
        const char *lf = memchr(lines + at, '\n', len - at);
        size_t n = (size_t)(lf - (lines + at)) + 1;
        int rc = ka_logfile_write(j->lf, lines + at, n);
        if (!rc)
            rc = track_segment(j);
        if (rc)
            return rc;
        at += n;
    }
    return ka_logfile_flush(j->lf);
}

/* Validates the batch before anything is written: n_events complete lines, none too big. */
static int check_batch(const struct ka_journal *j, const char *lines, size_t len,
                       size_t n_events)
{
    size_t count = 0, at = 0, max = (size_t)j->o.segment_mb << 20;
    if (!lines || len == 0 || lines[len - 1] != '\n')
        return KA_EINVAL;
    while (at < len) {
        const char *lf = memchr(lines + at, '\n', len - at);
        size_t n = (size_t)(lf - (lines + at)) + 1;
        if (n > max)
            return KA_ETOOBIG;
        at += n;
        count++;
    }
    return count == n_events ? KA_OK : KA_EINVAL;
}

/* Takes what the next fsync must cover; called by the leader under the mutex. */
static void take_sync_set(struct ka_journal *j, struct jr_sync *s)
{
    s->n = 0;
    for (size_t i = 0; i < j->n_retired; i++)
        s->fds[s->n++] = j->retired[i];
    j->n_retired = 0;
    if (j->sync_fd >= 0) {
        int fd = dup(j->sync_fd);
        s->fds[s->n++] = fd; /* -1 fails the fsync below: nothing is acknowledged */
    }
    s->dir = j->dir_dirty;
    j->dir_dirty = false;
    s->failed_before = j->retired_failed;
    j->retired_failed = false;
    s->target = j->written_seq;
    s->gen = j->gen;
}

static int do_sync(const struct ka_journal *j, struct jr_sync *s)
{
    int rc = s->failed_before ? KA_EIO : KA_OK;
    for (size_t i = 0; i < s->n; i++) {
        if (s->fds[i] < 0 || fsync(s->fds[i]) != 0)
            rc = KA_EIO;
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    }
    if (!rc && s->dir) {
        int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = KA_EIO;
        if (dfd >= 0)
            close(dfd);
    }
    return rc;
}

/* One leader round: fsync outside the mutex, then complete or fail the waiters. */
static void lead(struct ka_journal *j)
{
    struct jr_sync s;
    take_sync_set(j, &s);
    j->syncing = true;
    pthread_mutex_unlock(&j->mu);
    uint64_t t0 = jr_now_ns();
    int rc = do_sync(j, &s);
    uint64_t dt = jr_now_ns() - t0;
    pthread_mutex_lock(&j->mu);
    j->syncing = false;
    j->st.fsyncs++;
    j->st.fsync_ns_total += dt;
    if (dt > j->st.fsync_ns_max)
        j->st.fsync_ns_max = dt;
    if (!rc) {
        complete(j, s.target, KA_OK);
        return;
    }
    if (s.dir)
        j->dir_dirty = true;
    jr_log(j, KA_SEV_ERROR, "journal: fsync failed: %s", strerror(errno));
    if (s.gen != j->gen) { /* a recovery already started a new segment meanwhile */
        j->st.append_errors++;
        complete(j, s.target, KA_EIO);
        return;
    }
    fail_all(j);
}

/* Waits until w is done, leading fsync rounds when nobody else does. */
static void wait_durable(struct ka_journal *j, struct jr_waiter *w)
{
    while (!w->done) {
        if (!j->syncing && !j->broken)
            lead(j);
        else if (!j->syncing)
            complete(j, UINT64_MAX, KA_EIO); /* broken: the failure already failed it */
        else
            pthread_cond_wait(&j->cv, &j->mu);
    }
}

/* Refusal (REFUSE and full): 1 when the batch must be refused. */
static int over_limit(struct ka_journal *j, size_t len)
{
    if (!j->o.max_disk || j->disk_bytes + len <= j->o.max_disk)
        return 0;
    if (!j->full || j->retain_key != j->commit_gen + j->rot_total)
        jr_retain_locked(j);
    return j->o.on_full == KA_JOURNAL_FULL_REFUSE && j->full;
}

static int write_locked(struct ka_journal *j, const char *lines, size_t len, size_t n_events,
                        struct jr_waiter *w)
{
    while (j->broken && j->syncing)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->broken && recover(j))
        return KA_EIO;
    if (over_limit(j, len)) {
        j->st.refused++;
        return KA_ETOOBIG;
    }
    struct ka_logfile_stats before, after;
    ka_logfile_stats(j->lf, &before);
    int rc = write_batch(j, lines, len);
    ka_logfile_stats(j->lf, &after);
    j->disk_bytes += after.bytes - before.bytes;
    if (rc) {
        jr_log(j, KA_SEV_ERROR, "journal: write failed: %s", strerror(errno));
        fail_all(j);
        return KA_EIO;
    }
    w->seq = ++j->written_seq;
    w->n_events = n_events;
    w->len = len;
    if (j->tail)
        j->tail->next = w;
    else
        j->head = w;
    j->tail = w;
    if (after.rotations != before.rotations) {
        j->rot_total += after.rotations - before.rotations;
        jr_retain_locked(j);
    }
    return KA_OK;
}

int ka_journal_append(struct ka_journal *j, const char *lines, size_t len, size_t n_events)
{
    if (!j)
        return KA_EINVAL;
    int rc = check_batch(j, lines, len, n_events);
    if (rc)
        return rc;
    struct jr_waiter w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&j->mu);
    rc = write_locked(j, lines, len, n_events, &w);
    if (!rc) {
        wait_durable(j, &w);
        rc = w.rc;
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void ka_journal_stats(struct ka_journal *j, struct ka_journal_stats *st)
{
    pthread_mutex_lock(&j->mu);
    *st = j->st;
    st->segments = j->segments;
    st->disk_bytes = j->disk_bytes;
    pthread_mutex_unlock(&j->mu);
}

int ka_journal_retain(struct ka_journal *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = jr_retain_locked(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void ka_journal_close(struct ka_journal *j)
{
    if (!j)
        return;
    drop_fds(j);
    ka_logfile_close(j->lf);
    if (j->inited) {
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
    }
    free(j);
}
