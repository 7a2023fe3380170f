/*
 * tail_follow.c - where the follower reads next: the starting position (checkpoint, start or
 * end of the live file), what happens at the end of a file (rotation by rename, copytruncate,
 * delete/recreate), the choice of the next file (the oldest backup newer than the last one read,
 * else the live file) and the accounting of backups pruned before they could be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "tail_int.h"

#define SELECT_TRIES 16

static void cur_path_of(const struct ka_tail *t, const struct tail_backup *b, bool gz, char *out,
                        size_t n)
{
    tail_backup_path(t->dir, t->prefix, t->ext, b->ts_ms, gz, out, n);
}

/* Remembers backups as they appear, with what identifies them later. */
static void known_update(struct ka_tail *t, const struct tail_backup *v, size_t n)
{
    char p[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < t->nknown && t->known[j].ts_ms != v[i].ts_ms; j++)
            ;
        if (j < t->nknown || v[i].ts_ms <= t->after_ts)
            continue;
        if (t->nknown == TAIL_KNOWN_MAX)
            memmove(t->known, t->known + 1, --t->nknown * sizeof *t->known);
        struct tail_known *k = &t->known[t->nknown];
        memset(k, 0, sizeof *k);
        k->ts_ms = v[i].ts_ms, k->dev = v[i].dev, k->ino = v[i].ino, k->size = v[i].size;
        cur_path_of(t, &v[i], !v[i].plain, p, sizeof p);
        if (tail_file_fp(p, !v[i].plain, KA_TAIL_FP_MAX, &k->fp, &k->fp_len))
            k->fp_len = 0;
        t->nknown++;
    }
}

void tail_note_backup(struct ka_tail *t, const char *name, bool overflow)
{
    int64_t ts;
    bool gz;
    if (!overflow && (!tail_parse_backup(t->prefix, t->ext, name, &ts, &gz) || ts <= t->after_ts))
        return;
    for (size_t j = 0; !overflow && j < t->nknown; j++)
        if (t->known[j].ts_ms == ts)
            return;
    struct tail_backup *v = NULL;
    size_t n = 0;
    if (tail_scan(t->dir, t->prefix, t->ext, &v, &n))
        return;
    known_update(t, v, n);
    free(v);
    if (overflow || t->nknown == TAIL_KNOWN_MAX)
        return;
    for (size_t j = 0; j < t->nknown; j++)
        if (t->known[j].ts_ms == ts)
            return;
    struct tail_known *k = &t->known[t->nknown++]; /* gone already: size unknown */
    memset(k, 0, sizeof *k);
    k->ts_ms = ts;
    k->size_unknown = true;
}

static bool backup_present(const struct tail_backup *v, size_t n, int64_t ts)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].ts_ms == ts)
            return true;
    return false;
}

/* Backups seen with lo < ts < hi that are gone: their bytes were missed. Forgets ts <= lo. */
static void account_pruned(struct ka_tail *t, const struct tail_backup *v, size_t n, int64_t lo,
                           int64_t hi)
{
    size_t w = 0;
    char p[PATH_MAX];
    for (size_t i = 0; i < t->nknown; i++) {
        struct tail_known *k = &t->known[i];
        if (k->ts_ms > lo && k->ts_ms < hi && !backup_present(v, n, k->ts_ms)) {
            struct tail_backup b = {.ts_ms = k->ts_ms};
            cur_path_of(t, &b, false, p, sizeof p);
            t->st.missed_bytes += k->size;
            if (k->size_unknown)
                tail_report(t, KA_TAIL_R_MISSED, 0,
                            "%s: removed before it could be read: its bytes (size unknown) "
                            "were missed", p);
            else
                tail_report(t, KA_TAIL_R_MISSED, k->size,
                            "%s: removed before it could be read: %llu bytes missed", p,
                            (unsigned long long)k->size);
            continue;
        }
        if (k->ts_ms > lo)
            t->known[w++] = *k;
    }
    t->nknown = w;
}

static int open_cur(struct ka_tail *t, const char *path, bool gz, uint64_t skip, int64_t ts)
{
    if (t->have_cur)
        tail_src_close(&t->cur);
    t->have_cur = false;
    tail_buf_discard(t);
    memset(&t->cur, 0, sizeof t->cur);
    t->cur.fd = -1;
    int rc = tail_src_open(&t->cur, path, gz, skip);
    if (rc)
        return rc;
    t->cur.serial = ++t->serial_next;
    t->cur.ts_ms = ts;
    t->cur.live = ts == TAIL_TS_NONE;
    t->cur.live_ms = t->cur.live ? tail_wall_ms() : 0;
    t->have_cur = true;
    return KA_OK;
}

static const struct tail_backup *first_after(const struct tail_backup *v, size_t n, int64_t ts)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].ts_ms > ts)
            return &v[i];
    return NULL;
}

/* After opening the live file: is a backup newer than after_ts in the way? 1 = retry. */
static int live_overtaken(struct ka_tail *t)
{
    struct tail_backup *v = NULL;
    size_t n = 0;
    if (tail_scan(t->dir, t->prefix, t->ext, &v, &n))
        return 0;
    const struct tail_backup *b = first_after(v, n, t->after_ts);
    int r = 0;
    if (b && b->plain && b->dev == t->cur.dev && b->ino == t->cur.ino) {
        t->cur.live = false; /* it was rotated just now: read it as that backup */
        t->cur.ts_ms = b->ts_ms;
    } else if (b) {
        r = 1;
    }
    free(v);
    return r;
}

/* Opens the next file to read: the oldest backup newer than after_ts, else the live file. */
static int select_next(struct ka_tail *t)
{
    char p[PATH_MAX];
    for (int tries = 0; tries < SELECT_TRIES; tries++) {
        struct tail_backup *v = NULL;
        size_t n = 0;
        int rc = tail_scan(t->dir, t->prefix, t->ext, &v, &n);
        if (rc && rc != KA_ENOENT)
            return rc;
        known_update(t, v, n);
        const struct tail_backup *b = first_after(v, n, t->after_ts);
        account_pruned(t, v, n, t->after_ts, b ? b->ts_ms : INT64_MAX);
        if (b) {
            cur_path_of(t, b, !b->plain, p, sizeof p);
            int64_t ts = b->ts_ms;
            bool gz = !b->plain;
            free(v);
            rc = open_cur(t, p, gz, 0, ts);
            if (rc == KA_ENOENT)
                continue; /* compressed or pruned meanwhile */
            return rc;
        }
        free(v);
        rc = open_cur(t, t->path, false, 0, TAIL_TS_NONE);
        if (rc == KA_ENOENT)
            return KA_OK; /* not there (yet): wait for it */
        if (rc || !live_overtaken(t))
            return rc;
    }
    if (t->have_cur)
        tail_src_close(&t->cur);
    t->have_cur = false;
    return KA_OK; /* rotating faster than we can look: try again on the next wake-up */
}

/* The rotation timestamp of the finished file cur, from what was seen of the backups. */
static int64_t locate_cur(struct ka_tail *t)
{
    struct tail_backup *v = NULL;
    size_t n = 0;
    if (!tail_scan(t->dir, t->prefix, t->ext, &v, &n)) {
        known_update(t, v, n);
        free(v);
    }
    uint64_t fp = tail_fnv(t->cur.head, t->cur.head_n);
    for (size_t i = 0; i < t->nknown; i++) {
        const struct tail_known *k = &t->known[i];
        if (k->ts_ms <= t->after_ts)
            continue;
        if ((k->ino && k->ino == t->cur.ino && k->dev == t->cur.dev) ||
            (!k->ino && t->cur.head_n && k->fp_len == t->cur.head_n && k->fp == fp))
            return k->ts_ms;
    }
    return TAIL_TS_NONE;
}

/* cur is complete (rotated away, deleted, or a backup): close it and open the next file. */
static int finish_cur(struct ka_tail *t)
{
    uint64_t partial = tail_buf_discard(t);
    if (partial) {
        t->st.partial_last++;
        tail_report(t, KA_TAIL_R_PARTIAL_LAST, partial,
                    "%s: ends with an incomplete line of %llu bytes (skipped)", t->cur.name,
                    (unsigned long long)partial);
    }
    if (t->cur.ts_ms == TAIL_TS_NONE)
        t->cur.ts_ms = locate_cur(t);
    if (t->cur.ts_ms != TAIL_TS_NONE && t->cur.ts_ms > t->after_ts)
        t->after_ts = t->cur.ts_ms;
    if (t->have_pos && t->pos_serial == t->cur.serial) {
        tail_src_id(&t->cur, &t->pos_id);
        t->pos_live_ms = t->cur.live_ms;
        snprintf(t->pos_name, sizeof t->pos_name, "%s", t->cur.name);
        t->pos_serial = 0;
    }
    tail_src_close(&t->cur);
    t->have_cur = false;
    t->st.rotations++;
    tail_report(t, KA_TAIL_R_ROTATED, 0, "%s: finished at offset %llu", t->cur.name,
                (unsigned long long)t->cur.off);
    return select_next(t);
}

/* The live file shrank or its first bytes changed (copytruncate): restart at offset 0. */
static int truncated(struct ka_tail *t, uint64_t size)
{
    uint64_t missed = tail_buf_discard(t);
    if (t->cur.seen_size > t->cur.off)
        missed += t->cur.seen_size - t->cur.off;
    t->st.truncations++;
    tail_report(t, KA_TAIL_R_TRUNCATED, t->cur.off,
                "%s: truncated at offset %llu (now %llu bytes): reading again from 0",
                t->cur.name, (unsigned long long)t->cur.off, (unsigned long long)size);
    if (missed) {
        t->st.missed_bytes += missed;
        tail_report(t, KA_TAIL_R_MISSED, missed, "%s: %llu bytes were lost in the truncation",
                    t->cur.name, (unsigned long long)missed);
    }
    if (lseek(t->cur.fd, 0, SEEK_SET) < 0)
        return KA_EIO;
    t->cur.off = 0;
    t->cur.head_n = 0;
    t->cur.seen_size = size;
    if (t->have_pos && t->pos_serial == t->cur.serial)
        t->pos_off = 0;
    return tail_src_refresh_head(&t->cur) ? KA_EIO : 1;
}

/* 1 when the first bytes of the live file are no longer the ones we read. */
static int head_changed(struct tail_src *s)
{
    unsigned char b[KA_TAIL_FP_MAX];
    if (!s->head_n)
        return 0;
    ssize_t k = pread(s->fd, b, s->head_n, 0);
    return k != (ssize_t)s->head_n || memcmp(b, s->head, s->head_n) != 0;
}

int tail_check_live(struct ka_tail *t, uint64_t just_read)
{
    struct stat st;
    if (fstat(t->cur.fd, &st))
        return KA_EIO;
    uint64_t size = (uint64_t)st.st_size;
    if (size >= t->cur.off && !head_changed(&t->cur))
        return 0;
    /* bytes read just now may come from the new content at the old offset: read them again */
    t->end -= (size_t)just_read;
    t->cur.off -= just_read;
    if (t->scan > t->end)
        t->scan = t->end;
    return truncated(t, size);
}

int tail_follow_eof(struct ka_tail *t)
{
    if (!t->have_cur) {
        int rc = select_next(t);
        return rc ? rc : t->have_cur;
    }
    if (!t->cur.live) {
        int rc = finish_cur(t);
        return rc ? rc : 1;
    }
    struct stat st, ps;
    int rc = tail_check_live(t, 0);
    if (rc)
        return rc;
    if (fstat(t->cur.fd, &st))
        return KA_EIO;
    uint64_t size = (uint64_t)st.st_size;
    if (size > t->cur.seen_size)
        t->cur.seen_size = size;
    if (t->cur.head_n < KA_TAIL_FP_MAX && tail_src_refresh_head(&t->cur))
        return KA_EIO;
    if (size > t->cur.off)
        return 1;
    if (!stat(t->path, &ps) && (uint64_t)ps.st_dev == t->cur.dev &&
        (uint64_t)ps.st_ino == t->cur.ino)
        return 0;
    t->cur.live = false; /* renamed or deleted: drain what is left, then move on */
    return 1;
}

/* Offset just after the last LF before the end of the live file (a partial line is kept). */
static int align_end(struct ka_tail *t, uint64_t size, uint64_t *out)
{
    char b[4096];
    uint64_t at = size, floor = size > t->max_line ? size - t->max_line : 0;
    while (at > floor) {
        size_t k = at - floor < sizeof b ? (size_t)(at - floor) : sizeof b;
        ssize_t r = pread(t->cur.fd, b, k, (off_t)(at - k));
        if (r != (ssize_t)k)
            return KA_EIO;
        for (size_t i = k; i > 0; i--)
            if (b[i - 1] == '\n') {
                *out = at - k + i;
                return KA_OK;
            }
        at -= k;
    }
    *out = floor ? size : 0; /* no LF within max_line: the tail is skipped as too long */
    return KA_OK;
}

static int start_fresh(struct ka_tail *t)
{
    struct tail_backup *v = NULL;
    size_t n = 0;
    int rc = tail_scan(t->dir, t->prefix, t->ext, &v, &n);
    if (rc && rc != KA_ENOENT)
        return rc;
    bool backups = t->o.from_start && t->o.with_backups;
    t->after_ts = n && !backups ? v[n - 1].ts_ms : TAIL_TS_NONE;
    free(v);
    if ((rc = select_next(t)) || !t->have_cur || !t->cur.live || t->o.from_start)
        return rc;
    struct stat st;
    uint64_t at;
    if (fstat(t->cur.fd, &st) || align_end(t, (uint64_t)st.st_size, &at) ||
        lseek(t->cur.fd, (off_t)at, SEEK_SET) < 0)
        return KA_EIO;
    t->cur.off = at;
    t->cur.seen_size = (uint64_t)st.st_size;
    return KA_OK;
}

/* 1 when path (gz: decompressed) starts with the checkpointed fingerprint. */
static int fp_matches(const char *path, bool gz, const struct tail_id *id)
{
    uint64_t fp;
    uint32_t got;
    return !tail_file_fp(path, gz, id->fp_len, &fp, &got) && got == id->fp_len && fp == id->fp;
}

/* Finds the checkpointed file among the backups: index into v, or -1. */
static long find_backup(struct ka_tail *t, const struct tail_ckpt *c, const struct tail_backup *v,
                        size_t n)
{
    char p[PATH_MAX];
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            bool cand = c->id.ts_ms != TAIL_TS_NONE ? v[i].ts_ms == c->id.ts_ms
                        : pass == 0 ? v[i].plain && v[i].dev == c->id.dev && v[i].ino == c->id.ino
                                    : v[i].ts_ms >= c->wall_ms - 1;
            if (!cand)
                continue;
            cur_path_of(t, &v[i], !v[i].plain, p, sizeof p);
            if (fp_matches(p, !v[i].plain, &c->id))
                return (long)i;
        }
    }
    return -1;
}

static int resume_backup(struct ka_tail *t, const struct tail_ckpt *c, const struct tail_backup *b)
{
    char p[PATH_MAX];
    cur_path_of(t, b, !b->plain, p, sizeof p);
    int rc = open_cur(t, p, !b->plain, c->off, b->ts_ms);
    if (rc)
        return rc;
    t->after_ts = b->ts_ms;
    if (t->cur.off < c->off) {
        uint64_t m = c->size > t->cur.off ? c->size - t->cur.off : 0;
        t->st.missed_bytes += m;
        tail_report(t, KA_TAIL_R_MISSED, m, "%s: shorter (%llu bytes) than the checkpoint (%llu)",
                    p, (unsigned long long)t->cur.off, (unsigned long long)c->off);
    }
    tail_report(t, KA_TAIL_R_RESUMED, 0, "resuming in rotated file %s at offset %llu", p,
                (unsigned long long)c->off);
    return KA_OK;
}

static int resume_live(struct ka_tail *t, const struct tail_ckpt *c, int64_t newest)
{
    struct stat st;
    if (c->id.ts_ms != TAIL_TS_NONE || stat(t->path, &st) || (uint64_t)st.st_dev != c->id.dev ||
        (uint64_t)st.st_ino != c->id.ino || !fp_matches(t->path, false, &c->id))
        return 0;
    t->after_ts = newest;
    bool shrunk = (uint64_t)st.st_size < c->off;
    int rc = open_cur(t, t->path, false, shrunk ? 0 : c->off, TAIL_TS_NONE);
    if (rc)
        return rc;
    if (shrunk) {
        t->st.truncations++;
        tail_report(t, KA_TAIL_R_TRUNCATED, c->off,
                    "%s: truncated below the checkpoint offset %llu: reading from 0", t->path,
                    (unsigned long long)c->off);
    }
    tail_report(t, KA_TAIL_R_RESUMED, 0, "resuming %s at offset %llu", t->path,
                (unsigned long long)t->cur.off);
    return 1;
}

static int start_resume(struct ka_tail *t, const struct tail_ckpt *c)
{
    struct tail_backup *v = NULL;
    size_t n = 0;
    int rc = tail_scan(t->dir, t->prefix, t->ext, &v, &n);
    if (rc && rc != KA_ENOENT)
        return rc;
    rc = resume_live(t, c, n ? v[n - 1].ts_ms : TAIL_TS_NONE);
    if (rc) {
        free(v);
        return rc < 0 ? rc : KA_OK;
    }
    long i = find_backup(t, c, v, n);
    rc = i >= 0 ? resume_backup(t, c, &v[i]) : KA_OK;
    free(v);
    if (i >= 0)
        return rc;
    uint64_t m = c->size > c->off ? c->size - c->off : 0;
    t->st.missed_bytes += m;
    tail_report(t, KA_TAIL_R_MISSED, m,
                "the checkpointed file (inode %llu, offset %llu) no longer exists: at least %llu "
                "bytes after the checkpoint were missed",
                (unsigned long long)c->id.ino, (unsigned long long)c->off, (unsigned long long)m);
    t->after_ts = c->id.ts_ms != TAIL_TS_NONE ? c->id.ts_ms : c->wall_ms - 1;
    return select_next(t);
}

int tail_follow_start(struct ka_tail *t)
{
    struct tail_ckpt c;
    int rc = t->o.checkpoint_path ? tail_ckpt_read(t->ckpt, &c) : KA_ENOENT;
    if (rc == KA_ENOENT)
        rc = start_fresh(t);
    else if (rc == KA_OK)
        rc = start_resume(t, &c);
    if (!rc && t->have_cur) {
        t->have_pos = true;
        t->pos_serial = t->cur.serial;
        t->pos_off = t->cur.off;
    }
    return rc;
}
