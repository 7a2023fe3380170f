/*
 * test_journal.c - the collector's journal (src/core/journal.c, journal_retain.c): appends
 * read back through cursors, group commit under concurrency, restart, a crash by SIGKILL,
 * retention with cursors, max disk (DROP and REFUSE) and a full disk on a small tmpfs.
 * All data is generated here; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/journal.h"
#include "testutil.h"

#define MAX_LINES 200000

static char *tmp;

static void setup(void)
{
    tmp = ka_t_tmpdir();
    cr_assert(tmp);
}

static void teardown(void)
{
    char mnt[4096];
    snprintf(mnt, sizeof mnt, "%s/j", tmp);
    umount2(mnt, MNT_DETACH); /* the disk-full test's tmpfs, also when it failed midway */
    ka_t_rmtree(tmp);
    free(tmp);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 240);

static struct ka_journal *jopen(int seg_mb, uint64_t max_disk, enum ka_journal_on_full f)
{
    struct ka_journal_opts o;
    ka_journal_opts_default(&o);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/j", tmp);
    o.dir = strdup(dir);
    o.segment_mb = seg_mb;
    o.max_disk = max_disk;
    o.on_full = f;
    struct ka_journal *j = NULL;
    cr_assert_eq(ka_journal_open(&o, &j), KA_OK);
    free((void *)o.dir);
    return j;
}

/* A batch of n events {"t":T,"b":B,"i":I,"pad":"..."}, each padded to about pad bytes. */
static size_t make_batch(char *out, size_t cap, int t, int b, int n, int pad)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        int k = snprintf(out + at, cap - at, "{\"t\":%d,\"b\":%d,\"i\":%d,\"pad\":\"%0*d\"}\n", t,
                         b, i, pad, 0);
        cr_assert(k > 0 && (size_t)k < cap - at);
        at += (size_t)k;
    }
    return at;
}

/* Reads every line through cursor c until it is idle for idle_ms; returns the count. */
static size_t drain(struct ka_cursor *c, char **lines, size_t max, int idle_ms)
{
    struct ka_tail_rec r;
    size_t n = 0;
    int rc;
    while ((rc = ka_cursor_next(c, &r, idle_ms)) == 1) {
        cr_assert_lt(n, max);
        if (lines)
            lines[n] = strndup(r.line, r.len);
        n++;
    }
    cr_assert_eq(rc, 0, "cursor_next: %d", rc);
    return n;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

Test(journal, append_and_read_back)
{
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    char buf[4096];
    for (int b = 0; b < 3; b++) {
        size_t n = make_batch(buf, sizeof buf, 0, b, b + 1, 4);
        cr_assert_eq(ka_journal_append(j, buf, n, (size_t)b + 1), KA_OK);
    }
    cr_assert_eq(ka_journal_append(j, "{}\n", 3, 2), KA_EINVAL, "count must match");
    cr_assert_eq(ka_journal_append(j, "{}", 2, 1), KA_EINVAL, "missing LF");
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "store", &c), KA_OK);
    struct ka_cursor *dup;
    cr_assert_eq(ka_cursor_open(j, "store", &dup), KA_EINVAL);
    cr_assert_eq(ka_cursor_open(j, "bad/name", &dup), KA_EINVAL);
    char *lines[16];
    size_t n = drain(c, lines, 16, 100);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(lines[0], "{\"t\":0,\"b\":0,\"i\":0,\"pad\":\"0000\"}");
    cr_assert_str_eq(lines[5], "{\"t\":0,\"b\":2,\"i\":2,\"pad\":\"0000\"}");
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_eq(st.events, 6);
    cr_assert_eq(st.batches, 3);
    cr_assert_eq(st.fsyncs, 3);
    free_lines(lines, n);
    ka_cursor_close(c);
    ka_journal_close(j);
}

struct worker {
    struct ka_journal *j;
    int t, batches, failures;
};

static void *append_worker(void *arg)
{
    struct worker *w = arg;
    char *buf = malloc(64 * 1024);
    unsigned seed = (unsigned)w->t * 7919u + 1u;
    for (int b = 0; b < w->batches; b++) {
        int n = 1 + (int)(rand_r(&seed) % 20);
        size_t len = make_batch(buf, 64 * 1024, w->t, b, n, 80);
        if (ka_journal_append(w->j, buf, len, (size_t)n) != KA_OK)
            w->failures++;
    }
    free(buf);
    return NULL;
}

/* Checks every batch of every thread once, its lines adjacent and in order. */
static void check_batches(char **lines, size_t n, int threads, int batches)
{
    int *seen = calloc((size_t)threads * (size_t)batches, sizeof *seen);
    for (size_t k = 0; k < n;) {
        int t, b, i;
        cr_assert_eq(sscanf(lines[k], "{\"t\":%d,\"b\":%d,\"i\":%d", &t, &b, &i), 3);
        cr_assert_eq(i, 0, "line %zu starts inside a batch", k);
        cr_assert(t >= 0 && t < threads && b >= 0 && b < batches);
        cr_assert_eq(seen[t * batches + b]++, 0, "batch %d/%d twice", t, b);
        size_t first = k++;
        int t2, b2, i2;
        while (k < n && sscanf(lines[k], "{\"t\":%d,\"b\":%d,\"i\":%d", &t2, &b2, &i2) == 3 &&
               i2 != 0) {
            cr_assert(t2 == t && b2 == b && (size_t)i2 == k - first, "batch split at %zu", k);
            k++;
        }
    }
    for (int x = 0; x < threads * batches; x++)
        cr_assert_eq(seen[x], 1, "batch %d missing", x);
    free(seen);
}

Test(journal, concurrent_group_commit)
{
    enum { THREADS = 8, BATCHES = 2000 };
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.j = j, .t = t, .batches = BATCHES};
        pthread_create(&th[t], NULL, append_worker, &w[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(w[t].failures, 0);
    }
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_eq(st.batches, THREADS * BATCHES);
    cr_assert_lt(st.fsyncs, st.batches, "no group commit: %llu fsyncs",
                 (unsigned long long)st.fsyncs);
    cr_assert_gt(st.segments, 2, "1 MiB segments must have rotated");
    cr_log_info("%llu batches, %llu fsyncs, %llu segments", (unsigned long long)st.batches,
                (unsigned long long)st.fsyncs, (unsigned long long)st.segments);
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "all", &c), KA_OK);
    char **lines = malloc(MAX_LINES * sizeof *lines);
    size_t n = drain(c, lines, MAX_LINES, 200);
    cr_assert_eq(n, st.events);
    check_batches(lines, n, THREADS, BATCHES);
    free_lines(lines, n);
    free(lines);
    ka_cursor_close(c);
    ka_journal_close(j);
}

Test(journal, cursor_commit_and_restart)
{
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    char buf[4096];
    size_t len = make_batch(buf, sizeof buf, 1, 0, 10, 8);
    cr_assert_eq(ka_journal_append(j, buf, len, 10), KA_OK);
    struct ka_cursor *c;
    struct ka_tail_rec r;
    struct ka_cursor_lag lag;
    cr_assert_eq(ka_cursor_open(j, "fwd", &c), KA_OK);
    cr_assert_eq(ka_cursor_lag(c, &lag), KA_OK);
    cr_assert_eq(lag.bytes, len);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ka_cursor_next(c, &r, 100), 1);
    cr_assert_eq(ka_cursor_commit(c), KA_OK);
    cr_assert_eq(ka_cursor_next(c, &r, 100), 1); /* read, not committed */
    cr_assert_eq(ka_cursor_lag(c, &lag), KA_OK);
    cr_assert_eq(lag.bytes, len - 4 * (len / 10));
    ka_cursor_close(c);
    cr_assert_eq(ka_cursor_open(j, "fwd", &c), KA_OK);
    cr_assert_eq(ka_cursor_next(c, &r, 100), 1);
    cr_assert(strstr(r.line, "\"i\":4,") != NULL, "resumed at %.*s", (int)r.len, r.line);
    cr_assert_eq(drain(c, NULL, 100, 50), 5);
    cr_assert_eq(ka_cursor_commit(c), KA_OK);
    cr_assert_eq(ka_cursor_lag(c, &lag), KA_OK);
    cr_assert_eq(lag.bytes, 0);
    cr_assert_eq(lag.seconds, 0);
    ka_cursor_close(c);
    ka_journal_close(j);
}

/* The child appends until killed and reports each acknowledged batch number on fd. */
static void crash_child(int fd)
{
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    char *buf = malloc(64 * 1024);
    for (int b = 0;; b++) {
        size_t len = make_batch(buf, 64 * 1024, 0, b, 1 + b % 20, 200);
        if (ka_journal_append(j, buf, len, (size_t)(1 + b % 20)) != KA_OK)
            _exit(3);
        if (write(fd, &b, sizeof b) != (ssize_t)sizeof b)
            _exit(4);
    }
}

Test(journal, sigkill_loses_no_acknowledged_batch)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    srand((unsigned)time(NULL));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(p[1]);
    }
    close(p[1]);
    usleep(50000 + (useconds_t)(rand() % 250000));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "child exited %d", WEXITSTATUS(status));
    int b, acked = -1;
    while (read(p[0], &b, sizeof b) == (ssize_t)sizeof b) {
        cr_assert_eq(b, acked + 1);
        acked = b;
    }
    close(p[0]);
    cr_assert_geq(acked, 0, "nothing was acknowledged before the kill");
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "check", &c), KA_OK);
    char **lines = malloc(MAX_LINES * sizeof *lines);
    size_t n = drain(c, lines, MAX_LINES, 200);
    /* The acknowledged batches 0..acked come first, complete and in order. */
    size_t k = 0;
    for (int x = 0; x <= acked; x++)
        for (int i = 0; i < 1 + x % 20; i++, k++) {
            int t2, b2, i2;
            cr_assert_lt(k, n, "batch %d missing (acked up to %d)", x, acked);
            cr_assert_eq(sscanf(lines[k], "{\"t\":%d,\"b\":%d,\"i\":%d", &t2, &b2, &i2), 3);
            cr_assert(b2 == x && i2 == i, "line %zu: batch %d event %d, wanted %d/%d", k, b2,
                      i2, x, i);
        }
    cr_log_info("%d batches acknowledged, %zu lines in the journal", acked + 1, n);
    /* The journal takes appends again after the crash. */
    cr_assert_eq(ka_journal_append(j, "{\"after\":1}\n", 12, 1), KA_OK);
    free_lines(lines, n);
    free(lines);
    ka_cursor_close(c);
    ka_journal_close(j);
}

/* Appends about mb MiB in batches of 100 events of ~1 KiB. */
static int fill(struct ka_journal *j, int mb, int tag)
{
    char *buf = malloc(128 * 1024);
    int rc = KA_OK;
    for (int b = 0; b < mb * 10 && rc == KA_OK; b++) {
        size_t len = make_batch(buf, 128 * 1024, tag, b, 100, 1000);
        rc = ka_journal_append(j, buf, len, 100);
    }
    free(buf);
    return rc;
}

/* Reads n records through c (and commits when asked). */
static void advance(struct ka_cursor *c, size_t n, bool commit)
{
    struct ka_tail_rec r;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ka_cursor_next(c, &r, 200), 1, "record %zu", i);
    if (commit)
        cr_assert_eq(ka_cursor_commit(c), KA_OK);
}

/* A position told after record 500 and committed after reading on into later segments: a
   restart resumes right after record 500, in the rotated segment; a later one moves it on. */
Test(journal, cursor_commit_at_earlier_position)
{
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    cr_assert_eq(fill(j, 3, 1), KA_OK);
    struct ka_cursor *c;
    struct ka_tail_rec r;
    struct ka_cursor_pos *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    cr_assert_eq(ka_cursor_open(j, "late", &c), KA_OK);
    ka_cursor_tell(c, a); /* where it opened: the oldest segment's start */
    cr_assert_eq(ka_cursor_commit_at(c, a), KA_OK);
    advance(c, 500, false);
    ka_cursor_tell(c, a);
    cr_assert(a->t.set);
    advance(c, 2000, false); /* past at least one rotation */
    ka_cursor_tell(c, b);
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_geq(st.segments, 3);
    cr_assert_eq(ka_cursor_commit_at(c, a), KA_OK);
    ka_cursor_close(c);
    cr_assert_eq(ka_cursor_open(j, "late", &c), KA_OK);
    cr_assert_eq(ka_cursor_next(c, &r, 200), 1);
    cr_assert(strstr(r.line, "\"b\":5,\"i\":0,") != NULL, "resumed at %.60s", r.line);
    /* b was told by the first follower; it names the same place in the same file */
    advance(c, 10, false);
    cr_assert_eq(ka_cursor_commit_at(c, b), KA_OK);
    ka_cursor_close(c);
    cr_assert_eq(ka_cursor_open(j, "late", &c), KA_OK);
    cr_assert_eq(ka_cursor_next(c, &r, 200), 1);
    cr_assert(strstr(r.line, "\"b\":25,\"i\":0,") != NULL, "resumed at %.60s", r.line);
    ka_cursor_close(c);
    free(a);
    free(b);
    ka_journal_close(j);
}

Test(journal, retention_waits_for_every_cursor)
{
    struct ka_journal *j = jopen(1, 0, KA_JOURNAL_FULL_DROP);
    struct ka_cursor *a, *b;
    cr_assert_eq(ka_cursor_open(j, "a", &a), KA_OK);
    cr_assert_eq(ka_cursor_open(j, "b", &b), KA_OK);
    cr_assert_eq(fill(j, 4, 0), KA_OK);
    ka_cursor_close(a);
    ka_cursor_close(b);
    ka_journal_close(j);
    /* Reopen with a max age of 1 s once the segments are older than that. */
    sleep(2);
    struct ka_journal_opts o;
    ka_journal_opts_default(&o);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/j", tmp);
    o.dir = dir;
    o.segment_mb = 1;
    o.max_age_sec = 1;
    cr_assert_eq(ka_journal_open(&o, &j), KA_OK);
    struct ka_journal_stats st0, st;
    ka_journal_stats(j, &st0);
    cr_assert_geq(st0.segments, 4, "4 MiB in 1 MiB segments: %llu",
                  (unsigned long long)st0.segments);
    cr_assert_eq(ka_cursor_open(j, "a", &a), KA_OK);
    cr_assert_eq(ka_cursor_open(j, "b", &b), KA_OK);
    advance(a, 4000, true); /* a read everything, b nothing */
    cr_assert_eq(ka_journal_retain(j), KA_OK);
    ka_journal_stats(j, &st);
    cr_assert_eq(st.segments, st0.segments, "b still needs every segment");
    advance(b, 2500, true); /* b is in the third segment (about 1000 events per segment) */
    cr_assert_eq(ka_journal_retain(j), KA_OK);
    ka_journal_stats(j, &st);
    cr_assert_eq(st.segments, st0.segments - 2, "the two segments both passed: %llu -> %llu",
                 (unsigned long long)st0.segments, (unsigned long long)st.segments);
    cr_assert_eq(st.dropped_segments, 0);
    /* b resumes where it was, after the deletion. */
    cr_assert_eq(drain(b, NULL, 10000, 100), 1500);
    ka_cursor_close(a);
    ka_cursor_close(b);
    ka_journal_close(j);
}

Test(journal, max_disk_drop_deletes_oldest)
{
    struct ka_journal *j = jopen(1, 3u << 20, KA_JOURNAL_FULL_DROP);
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "slow", &c), KA_OK);
    cr_assert_eq(fill(j, 6, 0), KA_OK);
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_gt(st.dropped_segments, 0);
    cr_assert_gt(st.dropped_bytes, (uint64_t)st.dropped_segments << 19);
    cr_assert_leq(st.disk_bytes, (3u << 20) + (200u << 10));
    /* The oldest went first: reopened, the cursor starts at a later batch. */
    ka_cursor_close(c);
    cr_assert_eq(ka_cursor_open(j, "slow", &c), KA_OK);
    struct ka_tail_rec r;
    cr_assert_eq(ka_cursor_next(c, &r, 200), 1);
    int t, b, i;
    cr_assert_eq(sscanf(r.line, "{\"t\":%d,\"b\":%d,\"i\":%d", &t, &b, &i), 3);
    cr_assert_gt(b, 0, "the oldest segment should be gone");
    ka_cursor_close(c);
    ka_journal_close(j);
}

Test(journal, max_disk_refuse_until_cursor_advances)
{
    struct ka_journal *j = jopen(1, 3u << 20, KA_JOURNAL_FULL_REFUSE);
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "slow", &c), KA_OK);
    cr_assert_eq(fill(j, 6, 0), KA_ETOOBIG);
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(st.dropped_segments, 0);
    cr_assert_eq(fill(j, 1, 1), KA_ETOOBIG, "still full");
    advance(c, 2500, true);
    cr_assert_eq(fill(j, 1, 1), KA_OK, "space freed after the cursor advanced");
    ka_journal_stats(j, &st);
    cr_assert_eq(st.refused, 2);
    ka_cursor_close(c);
    ka_journal_close(j);
}

/* Batches acknowledged on the small file system, to check against what is on it. */
static int count_in(char **lines, size_t n, int t, int b)
{
    int found = 0;
    char want[64];
    int k = snprintf(want, sizeof want, "{\"t\":%d,\"b\":%d,\"i\":", t, b);
    for (size_t x = 0; x < n; x++)
        if (strncmp(lines[x], want, (size_t)k) == 0)
            found++;
    return found;
}

Test(journal, disk_full_fails_then_recovers)
{
    char mnt[4096], filler[4200];
    snprintf(mnt, sizeof mnt, "%s/j", tmp);
    mkdir(mnt, 0700);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0)
        cr_skip_test("cannot mount a 1 MiB tmpfs (%s): disk-full path not tested",
                     strerror(errno));
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    FILE *f = fopen(filler, "w");
    cr_assert(f);
    static char zeros[256 * 1024];
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
    struct ka_journal *j = jopen(100, 0, KA_JOURNAL_FULL_DROP);
    char *buf = malloc(64 * 1024);
    int ok[400] = {0}, b, rc = KA_OK;
    for (b = 0; b < 400 && rc == KA_OK; b++) {
        size_t len = make_batch(buf, 64 * 1024, 0, b, 10, 1000);
        rc = ka_journal_append(j, buf, len, 10);
        ok[b] = rc == KA_OK;
    }
    cr_assert_eq(rc, KA_EIO, "the 1 MiB file system never filled up");
    cr_assert_eq(ka_journal_append(j, buf, make_batch(buf, 65536, 1, 0, 10, 1000), 10), KA_EIO);
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    cr_assert_geq(st.append_errors, 2);
    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(ka_journal_append(j, buf, make_batch(buf, 65536, 2, 0, 10, 1000), 10), KA_OK,
                 "appends work again once space is free");
    struct ka_cursor *c;
    cr_assert_eq(ka_cursor_open(j, "check", &c), KA_OK);
    char **lines = malloc(2000 * sizeof *lines);
    size_t n = drain(c, lines, 2000, 100);
    for (int x = 0; x < b; x++)
        if (ok[x])
            cr_assert_eq(count_in(lines, n, 0, x), 10, "acknowledged batch %d not on disk", x);
    cr_assert_eq(count_in(lines, n, 2, 0), 10);
    free_lines(lines, n);
    free(lines);
    free(buf);
    ka_cursor_close(c);
    ka_journal_close(j);
}
