/*
 * test_tail.c - the log follower (include/kaudit/tail.h): partial lines, rotation by rename
 * (draining the old file, several rotations while behind, gzipped backups), copytruncate,
 * delete/recreate, inode reuse, long lines, checkpoint restarts and pruned backups.
 * All data is written by the tests themselves (no ../shared data).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kaudit/tail.h"
#include "testutil.h"

static char *dir;
static char path[512], ckpt[512];

struct reports {
    int n[16];
    uint64_t bytes[16];
};
static struct reports rep;
static time_t base_time;

static void on_report(void *ud, enum ka_tail_report kind, uint64_t bytes, const char *msg)
{
    (void)ud;
    (void)msg;
    rep.n[kind]++;
    rep.bytes[kind] += bytes;
}

static void setup(void)
{
    dir = ka_t_tmpdir();
    cr_assert_not_null(dir);
    snprintf(path, sizeof path, "%s/audit.log", dir);
    snprintf(ckpt, sizeof ckpt, "%s/tail.ckpt", dir);
    memset(&rep, 0, sizeof rep);
    base_time = time(NULL) + 1;
}

static void teardown(void)
{
    ka_t_rmtree(dir);
    free(dir);
}

TestSuite(tail, .init = setup, .fini = teardown, .timeout = 60);

static void put(const char *p, const char *mode, const char *s)
{
    FILE *f = fopen(p, mode);
    cr_assert_not_null(f, "%s", p);
    fputs(s, f);
    fclose(f);
}

/* Backup k's name: rotated k seconds from now (lumberjack names carry the rotation time). */
static void backup(char *out, size_t n, int k, bool gz)
{
    time_t when = base_time + k;
    struct tm tm;
    gmtime_r(&when, &tm);
    snprintf(out, n, "%s/audit-%04d-%02d-%02dT%02d-%02d-%02d.000.log%s", dir, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, gz ? ".gz" : "");
}

/* Renames the live file to backup k (lumberjack) and creates an empty live file. */
static void rotate(int k)
{
    char b[600];
    backup(b, sizeof b, k, false);
    cr_assert_eq(rename(path, b), 0);
    put(path, "w", "");
}

/* Replaces backup k by its gzip (as lumberjack's mill does). */
static void gzip_backup(int k)
{
    char b[600], z[600];
    backup(b, sizeof b, k, false);
    backup(z, sizeof z, k, true);
    size_t n;
    char *data = ka_t_read_file(b, &n);
    cr_assert_not_null(data);
    gzFile g = gzopen(z, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
    free(data);
    cr_assert_eq(unlink(b), 0);
}

static struct ka_tail *topen(bool from_start, const char *cp, size_t max_line)
{
    struct ka_tail_opts o = {.path = path, .checkpoint_path = cp, .from_start = from_start,
                             .max_line = max_line, .poll_ms = 50, .report = on_report};
    struct ka_tail *t = NULL;
    int rc = ka_tail_open(&o, &t);
    cr_assert_eq(rc, 0, "open: %d", rc);
    return t;
}

static void expect(struct ka_tail *t, const char *line)
{
    struct ka_tail_rec r;
    int rc = ka_tail_next(t, &r, 5000);
    cr_assert_eq(rc, 1, "expected '%s', got rc %d", line, rc);
    cr_assert_eq(r.len, strlen(line), "expected '%s', got '%.*s'", line, (int)r.len, r.line);
    cr_assert(!memcmp(r.line, line, r.len), "expected '%s', got '%.*s'", line, (int)r.len,
              r.line);
}

static void expect_none(struct ka_tail *t)
{
    struct ka_tail_rec r;
    int rc = ka_tail_next(t, &r, 200);
    cr_assert_eq(rc, 0, "expected nothing, got rc %d '%.*s'", rc, rc == 1 ? (int)r.len : 0,
                 rc == 1 ? r.line : "");
}

Test(tail, partial_line_is_held_until_its_lf)
{
    put(path, "w", "a\nbc");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "a");
    expect_none(t);
    put(path, "a", "d");
    expect_none(t);
    put(path, "a", "e\nf\n");
    expect(t, "bcde");
    expect(t, "f");
    ka_tail_close(t);
}

Test(tail, default_starts_at_the_end_keeping_a_partial_line)
{
    put(path, "w", "old1\nold2\npart");
    struct ka_tail *t = topen(false, NULL, 0);
    expect_none(t);
    put(path, "a", "ial\nnew\n");
    expect(t, "partial");
    expect(t, "new");
    ka_tail_close(t);
}

Test(tail, rename_rotation_drains_the_old_file_first)
{
    put(path, "w", "1\n2\n");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "1");
    put(path, "a", "3\n"); /* written before the rotation, read after it */
    rotate(1);
    put(path, "a", "4\n");
    expect(t, "2");
    expect(t, "3");
    expect(t, "4");
    expect_none(t);
    struct ka_tail_stats st;
    ka_tail_stats(t, &st);
    cr_assert_eq(st.rotations, 1);
    cr_assert_eq(st.missed_bytes, 0);
    ka_tail_close(t);
}

Test(tail, several_rotations_while_behind_are_read_in_order)
{
    put(path, "w", "a1\n");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "a1");
    put(path, "a", "a2\n");
    rotate(1);
    put(path, "a", "b1\nb2\n");
    rotate(2);
    gzip_backup(2); /* compressed before the follower got to it */
    put(path, "a", "c1\n");
    rotate(3);
    put(path, "a", "d1\n");
    const char *want[] = {"a2", "b1", "b2", "c1", "d1"};
    for (size_t i = 0; i < 5; i++)
        expect(t, want[i]);
    expect_none(t);
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 0);
    ka_tail_close(t);
}

Test(tail, copytruncate_restarts_at_zero)
{
    put(path, "w", "first-line-1\nfirst-line-2\n");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "first-line-1");
    expect(t, "first-line-2");
    expect_none(t);
    truncate(path, 0);
    put(path, "a", "x\n");
    expect(t, "x");
    /* truncated and grown past the old offset before the follower looked again */
    truncate(path, 0);
    put(path, "a", "a-much-longer-line-than-before-00\nz\n");
    expect(t, "a-much-longer-line-than-before-00");
    expect(t, "z");
    struct ka_tail_stats st;
    ka_tail_stats(t, &st);
    cr_assert_eq(st.truncations, 2);
    cr_assert_eq(st.missed_bytes, 0);
    ka_tail_close(t);
}

Test(tail, copytruncate_reports_a_lost_partial_line)
{
    put(path, "w", "one\ntw");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "one");
    expect_none(t);
    truncate(path, 0);
    put(path, "a", "new\n");
    expect(t, "new");
    cr_assert_eq(rep.bytes[KA_TAIL_R_MISSED], 2);
    ka_tail_close(t);
}

Test(tail, delete_and_recreate)
{
    put(path, "w", "1\n");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "1");
    cr_assert_eq(unlink(path), 0);
    expect_none(t);
    put(path, "w", "2\n");
    expect(t, "2");
    ka_tail_close(t);
}

Test(tail, long_lines_are_skipped_and_reported)
{
    char big[3000];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n', big[sizeof big - 1] = '\0';
    put(path, "w", "ok1\n");
    put(path, "a", big);
    put(path, "a", "ok2\n");
    struct ka_tail *t = topen(true, NULL, 100);
    expect(t, "ok1");
    expect(t, "ok2");
    struct ka_tail_stats st;
    ka_tail_stats(t, &st);
    cr_assert_eq(st.long_lines, 1);
    cr_assert_eq(rep.bytes[KA_TAIL_R_LONG_LINE], sizeof big - 2);
    ka_tail_close(t);
}

Test(tail, checkpoint_restart_is_exact)
{
    put(path, "w", "1\n2\n3\n4\n5\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "1");
    expect(t, "2");
    expect(t, "3");
    cr_assert_eq(ka_tail_commit(t), 0);
    expect(t, "4"); /* read but not committed: comes again */
    ka_tail_close(t);
    t = topen(false, ckpt, 0); /* a checkpoint wins over "from the end" */
    expect(t, "4");
    expect(t, "5");
    expect_none(t);
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    put(path, "a", "6\n");
    t = topen(false, ckpt, 0);
    expect(t, "6");
    expect_none(t);
    ka_tail_close(t);
}

Test(tail, checkpoint_file_is_rejected_when_malformed)
{
    put(path, "w", "1\n");
    put(ckpt, "w", "garbage\n");
    struct ka_tail_opts o = {.path = path, .checkpoint_path = ckpt};
    struct ka_tail *t = NULL;
    cr_assert_eq(ka_tail_open(&o, &t), -1);
    cr_assert_null(t);
}

static void restart_after_rotation(bool gz)
{
    put(path, "w", "line-1\nline-2\nline-3\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "line-1");
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    put(path, "a", "line-4\n");
    rotate(1);
    if (gz)
        gzip_backup(1);
    put(path, "a", "line-5\n");
    rotate(2);
    put(path, "a", "line-6\n");
    t = topen(false, ckpt, 0);
    const char *want[] = {"line-2", "line-3", "line-4", "line-5", "line-6"};
    for (size_t i = 0; i < 5; i++)
        expect(t, want[i]);
    expect_none(t);
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 0);
    /* a checkpoint taken inside the backup resumes there too */
    ka_tail_close(t);
}

Test(tail, restart_after_rotation_plain_backup)
{
    restart_after_rotation(false);
}

Test(tail, restart_after_rotation_gzipped_backup)
{
    restart_after_rotation(true);
}

Test(tail, restart_inside_a_gzipped_backup)
{
    put(path, "w", "r1\nr2\nr3\n");
    rotate(1);
    gzip_backup(1);
    put(path, "a", "r4\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "r4");
    ka_tail_close(t);
    /* a fresh follower with no checkpoint does not read backups; resume one from the gz */
    unlink(ckpt);
    put(path, "w", "");
    rotate(2);
    put(path, "a", "s1\ns2\n");
    t = topen(true, ckpt, 0);
    expect(t, "s1");
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    rotate(3);
    gzip_backup(3);
    put(path, "a", "s3\n");
    t = topen(false, ckpt, 0);
    expect(t, "s2");
    cr_assert_eq(ka_tail_commit(t), 0); /* now inside the .gz */
    ka_tail_close(t);
    t = topen(false, ckpt, 0);
    expect(t, "s3");
    expect_none(t);
    ka_tail_close(t);
}

Test(tail, pruned_backup_is_reported_with_missed_bytes)
{
    put(path, "w", "p1\np2\np3\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "p1");
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    rotate(1);
    put(path, "a", "q1\n");
    rotate(2);
    put(path, "a", "r1\n");
    char b[600];
    backup(b, sizeof b, 1, false);
    cr_assert_eq(unlink(b), 0); /* pruned while the follower was down */
    t = topen(false, ckpt, 0);
    expect(t, "q1");
    expect(t, "r1");
    struct ka_tail_stats st;
    ka_tail_stats(t, &st);
    cr_assert_eq(st.missed_bytes, 6, "missed %llu", (unsigned long long)st.missed_bytes);
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 1);
    ka_tail_close(t);
}

Test(tail, backup_pruned_while_following_is_reported)
{
    put(path, "w", "a1\n");
    struct ka_tail *t = topen(true, NULL, 0);
    expect(t, "a1");
    expect_none(t); /* at the end, watching the directory */
    rotate(1);
    put(path, "a", "b1\nb2\n");
    rotate(2);
    put(path, "a", "c1\n");
    char b[600];
    backup(b, sizeof b, 2, false);
    cr_assert_eq(unlink(b), 0); /* pruned before the follower got to it */
    expect(t, "c1");
    expect_none(t);
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 1, "missed reports: %d", rep.n[KA_TAIL_R_MISSED]);
    ka_tail_close(t);
}

Test(tail, backup_pruned_after_it_was_seen_reports_its_size)
{
    /* 3000 lines of 1000 bytes: the follower reads them in several buffers */
    char line[1001];
    memset(line, 'x', 999);
    line[999] = '\n', line[1000] = '\0';
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 3000; i++)
        fputs(line, f);
    fclose(f);
    struct ka_tail *t = topen(true, NULL, 0);
    line[999] = '\0';
    expect(t, line);
    rotate(1);
    put(path, "a", "b1\nb2\n");
    rotate(2);
    put(path, "a", "c1\n");
    for (int i = 1; i < 1500; i++) /* past the first buffer: the follower saw both backups */
        expect(t, line);
    char b[600];
    backup(b, sizeof b, 2, false);
    cr_assert_eq(unlink(b), 0);
    for (int i = 1500; i < 3000; i++)
        expect(t, line);
    expect(t, "c1");
    struct ka_tail_stats st;
    ka_tail_stats(t, &st);
    cr_assert_eq(st.missed_bytes, 6, "missed %llu", (unsigned long long)st.missed_bytes);
    ka_tail_close(t);
}

Test(tail, inode_reuse_is_detected_by_fingerprint)
{
    put(path, "w", "old-content-1\nold-content-2\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "old-content-1");
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    struct stat a, b;
    cr_assert_eq(stat(path, &a), 0);
    /* same inode, new content at least as long: only the fingerprint tells them apart */
    put(path, "w", "new-content-1\nnew-content-2\nnew-content-3\n");
    cr_assert_eq(stat(path, &b), 0);
    cr_assert_eq(a.st_ino, b.st_ino);
    t = topen(false, ckpt, 0);
    expect(t, "new-content-1");
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 1);
    cr_assert_eq(rep.bytes[KA_TAIL_R_MISSED], 14); /* "old-content-2\n" was never read */
    ka_tail_close(t);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * The writer rotates while the follower has not looked yet, the follower commits a position in
 * the file that is now a backup, and the backup is compressed before the restart (its inode is
 * gone). The restart must still resume inside that backup, found by its rotation time.
 */
Test(tail, commit_after_an_unnoticed_rotation_resumes_in_the_backup)
{
    put(path, "w", "line-1\nline-2\nline-3\n");
    struct ka_tail *t = topen(true, ckpt, 0);
    expect(t, "line-1");
    sleep_ms(2200); /* backup 1 is named base_time + 1: after the open, before the commit */
    put(path, "a", "line-4\n");
    rotate(1);
    sleep_ms(1200);
    cr_assert_eq(ka_tail_commit(t), 0);
    ka_tail_close(t);
    gzip_backup(1);
    put(path, "a", "line-5\n");
    t = topen(false, ckpt, 0);
    const char *want[] = {"line-2", "line-3", "line-4", "line-5"};
    for (size_t i = 0; i < 4; i++)
        expect(t, want[i]);
    expect_none(t);
    cr_assert_eq(rep.n[KA_TAIL_R_MISSED], 0);
    ka_tail_close(t);
}

/* --from-start --backups: existing backups (plain and gzipped) first, oldest first, then live. */
Test(tail, from_start_with_backups_reads_existing_backups_oldest_first)
{
    put(path, "w", "a1\na2\n");
    rotate(1);
    put(path, "a", "b1\n");
    rotate(2);
    gzip_backup(1);
    put(path, "a", "c1\nc2\n");
    struct ka_tail_opts o = {.path = path, .from_start = true, .with_backups = true,
                             .poll_ms = 50, .report = on_report};
    struct ka_tail *t = NULL;
    cr_assert_eq(ka_tail_open(&o, &t), 0);
    expect(t, "a1");
    expect(t, "a2");
    expect(t, "b1");
    expect(t, "c1");
    expect(t, "c2");
    expect_none(t);
    ka_tail_close(t);
    /* Without with_backups only the live file is read. */
    t = topen(true, NULL, 0);
    expect(t, "c1");
    expect(t, "c2");
    expect_none(t);
    ka_tail_close(t);
}
