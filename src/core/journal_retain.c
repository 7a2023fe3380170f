/*
 * journal_retain.c - the journal's segments, cursors and retention (include/kaudit/journal.h).
 *
 * Segments are the lumberjack backups of <dir>/audit.log, oldest first, then the live file.
 * A cursor is a follower (tail.h) whose checkpoint is <dir>/cursors/<name>. Retention reads
 * every checkpoint there (also of consumers that are not running) and resolves it to a segment
 * the way the follower resumes: a backup timestamp names its segment; a live-file checkpoint is
 * the live file when the inode matches, else the backup with that inode, else (compressed
 * since) the oldest backup rotated after the checkpoint was written. A cursor needs its
 * segment and every later one; an open cursor without a checkpoint needs all of them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../inputs/tail/tail_int.h"
#include "journal_int.h"

/* The segments of one scan. */
struct jr_segs {
    char dir[PATH_MAX], prefix[NAME_MAX + 2], ext[NAME_MAX + 1];
    struct tail_backup *v;
    size_t n;
    struct stat live;
    bool have_live;
};

struct ka_cursor {
    struct ka_journal *j;
    struct ka_tail *t;
    int slot;
    char ckpt[PATH_MAX + JR_NAME_MAX + 2];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int segs_scan(const struct ka_journal *j, struct jr_segs *s)
{
    memset(s, 0, sizeof *s);
    int rc = tail_names(j->path, s->dir, sizeof s->dir, s->prefix, sizeof s->prefix, s->ext,
                        sizeof s->ext);
    if (rc)
        return rc;
    rc = tail_scan(s->dir, s->prefix, s->ext, &s->v, &s->n);
    if (rc == KA_ENOENT)
        rc = KA_OK;
    s->have_live = stat(j->path, &s->live) == 0;
    return rc;
}

/* Bytes on disk of backup i (both forms while it is being compressed). */
static uint64_t seg_disk(const struct jr_segs *s, size_t i)
{
    char p[PATH_MAX];
    struct stat st;
    uint64_t sum = 0;
    for (int gz = 0; gz < 2; gz++) {
        tail_backup_path(s->dir, s->prefix, s->ext, s->v[i].ts_ms, gz, p, sizeof p);
        if (stat(p, &st) == 0)
            sum += (uint64_t)st.st_size;
    }
    return sum;
}

static void seg_delete(const struct jr_segs *s, size_t i)
{
    char p[PATH_MAX];
    for (int gz = 0; gz < 2; gz++) {
        tail_backup_path(s->dir, s->prefix, s->ext, s->v[i].ts_ms, gz, p, sizeof p);
        unlink(p);
    }
}

/* Segment index (0..n-1 backups, n = live) of a checkpoint, as the follower would resume. */
static size_t ckpt_segment(const struct jr_segs *s, const struct tail_ckpt *c, bool *exact)
{
    size_t i;
    *exact = true;
    if (c->id.ts_ms != TAIL_TS_NONE) {
        for (i = 0; i < s->n && s->v[i].ts_ms < c->id.ts_ms; i++)
            ;
        *exact = i < s->n && s->v[i].ts_ms == c->id.ts_ms;
        return i; /* its segment, or (deleted) the next one */
    }
    if (s->have_live && (uint64_t)s->live.st_dev == c->id.dev &&
        (uint64_t)s->live.st_ino == c->id.ino)
        return s->n;
    for (i = 0; i < s->n; i++)
        if (s->v[i].plain && s->v[i].dev == c->id.dev && s->v[i].ino == c->id.ino)
            return i;
    /* Compressed since (or gone): the oldest backup rotated after the checkpoint. */
    *exact = false;
    for (i = 0; i < s->n && s->v[i].ts_ms < c->wall_ms - 1; i++)
        ;
    return i;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > JR_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* The oldest segment any cursor still needs (s->n + 1: none). */
static size_t needed_from(struct ka_journal *j, const struct jr_segs *s)
{
    size_t need = s->n + 1;
    char p[PATH_MAX + NAME_MAX + 2];
    struct tail_ckpt c;
    for (size_t i = 0; i < KA_JOURNAL_MAX_CURSORS; i++) {
        if (!j->cur_names[i][0])
            continue;
        snprintf(p, sizeof p, "%s/%s", j->cdir, j->cur_names[i]);
        if (tail_ckpt_read(p, &c) == KA_ENOENT)
            return 0; /* open and never committed: it needs everything */
    }
    DIR *d = opendir(j->cdir);
    if (!d)
        return 0;
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!valid_name(de->d_name) || strstr(de->d_name, ".tmp"))
            continue;
        snprintf(p, sizeof p, "%s/%s", j->cdir, de->d_name);
        bool exact;
        int rc = tail_ckpt_read(p, &c);
        size_t at = rc == KA_ENOENT ? need : rc ? 0 : ckpt_segment(s, &c, &exact);
        if (rc && rc != KA_ENOENT)
            jr_log(j, KA_SEV_WARNING, "journal: cursor %s: unreadable checkpoint: all kept",
                   de->d_name);
        if (at < need)
            need = at;
    }
    closedir(d);
    return need;
}

/* Deletes backups from the oldest while allowed; returns how many were deleted. */
static size_t delete_allowed(struct ka_journal *j, const struct jr_segs *s, size_t need,
                             const uint64_t *sz, uint64_t *total)
{
    int64_t now = now_ms();
    size_t i = 0;
    for (; i < s->n && i < need; i++) {
        bool old = j->o.max_age_sec && now - s->v[i].ts_ms > j->o.max_age_sec * 1000;
        bool over = j->o.max_disk && *total > j->o.max_disk;
        if (!old && !over)
            break;
        seg_delete(s, i);
        *total -= sz[i];
        jr_log(j, KA_SEV_NOTE, "journal: deleted segment %lld (%s)", (long long)s->v[i].ts_ms,
               old ? "older than max age" : "over max disk");
    }
    return i;
}

/* DROP: deletes needed backups from the oldest while over max_disk. */
static size_t drop_needed(struct ka_journal *j, const struct jr_segs *s, size_t from,
                          const uint64_t *sz, uint64_t *total)
{
    size_t i = from;
    for (; i < s->n && *total > j->o.max_disk; i++) {
        seg_delete(s, i);
        *total -= sz[i];
        j->st.dropped_segments++;
        j->st.dropped_bytes += sz[i];
        jr_log(j, KA_SEV_WARNING,
               "journal: over max disk: dropped segment %lld (%llu bytes) a cursor still needed",
               (long long)s->v[i].ts_ms, (unsigned long long)sz[i]);
    }
    return i;
}

int jr_retain_locked(struct ka_journal *j)
{
    struct jr_segs s;
    int rc = segs_scan(j, &s);
    uint64_t *sz = s.n ? calloc(s.n, sizeof *sz) : NULL;
    if (rc || (s.n && !sz)) {
        rc = rc ? rc : KA_ENOMEM;
        goto out;
    }
    uint64_t total = s.have_live ? (uint64_t)s.live.st_size : 0;
    for (size_t i = 0; i < s.n; i++) {
        sz[i] = seg_disk(&s, i);
        total += sz[i];
    }
    size_t gone = delete_allowed(j, &s, needed_from(j, &s), sz, &total);
    if (j->o.max_disk && total > j->o.max_disk && j->o.on_full == KA_JOURNAL_FULL_DROP)
        gone = drop_needed(j, &s, gone, sz, &total);
    j->full = j->o.max_disk && total > j->o.max_disk;
    if (j->full && j->o.on_full == KA_JOURNAL_FULL_REFUSE)
        jr_log(j, KA_SEV_WARNING, "journal: full (%llu bytes): refusing appends",
               (unsigned long long)total);
    j->disk_bytes = total;
    j->segments = s.n - gone + (s.have_live ? 1 : 0);
    j->retain_key = j->commit_gen + j->rot_total;
out:
    free(sz);
    free(s.v);
    return rc;
}

int jr_set_aside(struct ka_journal *j)
{
    struct stat st;
    if (stat(j->path, &st) != 0)
        return errno == ENOENT ? KA_OK : KA_EIO;
    if (st.st_size == 0)
        return KA_OK;
    char dir[PATH_MAX], prefix[NAME_MAX + 2], ext[NAME_MAX + 1], p[PATH_MAX], pz[PATH_MAX];
    int rc = tail_names(j->path, dir, sizeof dir, prefix, sizeof prefix, ext, sizeof ext);
    if (rc)
        return rc;
    for (int64_t ts = now_ms(), tries = 0; tries < 1000; ts++, tries++) {
        tail_backup_path(dir, prefix, ext, ts, false, p, sizeof p);
        tail_backup_path(dir, prefix, ext, ts, true, pz, sizeof pz);
        if (access(p, F_OK) == 0 || access(pz, F_OK) == 0)
            continue;
        return rename(j->path, p) == 0 ? KA_OK : KA_EIO;
    }
    return KA_EIO;
}

int jr_ends_partial(const char *path, off_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char c = '\n';
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, &c, 1, size - 1);
    close(fd);
    return n == 1 && c != '\n';
}

/* A first checkpoint at the start of the oldest backup, so a new cursor reads it all. */
static int first_checkpoint(const char *ckpt, const struct jr_segs *s)
{
    char p[PATH_MAX];
    const struct tail_backup *b = &s->v[0];
    struct tail_ckpt c;
    uint32_t got = 0;
    memset(&c, 0, sizeof c);
    tail_backup_path(s->dir, s->prefix, s->ext, b->ts_ms, !b->plain, p, sizeof p);
    if (tail_file_fp(p, !b->plain, KA_TAIL_FP_MAX, &c.id.fp, &got))
        return KA_EIO;
    c.id.fp_len = got;
    c.id.dev = b->plain ? b->dev : 0;
    c.id.ino = b->plain ? b->ino : 0;
    c.id.ts_ms = b->ts_ms;
    c.size = b->size;
    c.wall_ms = now_ms();
    return tail_ckpt_write(ckpt, &c, p);
}

static int free_slot(const struct ka_journal *j, const char *name)
{
    int slot = -1;
    for (int i = 0; i < KA_JOURNAL_MAX_CURSORS; i++) {
        if (strcmp(j->cur_names[i], name) == 0)
            return KA_EINVAL; /* already open */
        if (slot < 0 && !j->cur_names[i][0])
            slot = i;
    }
    return slot < 0 ? KA_ETOOBIG : slot;
}

static int cursor_start(struct ka_journal *j, struct ka_cursor *c, const char *name)
{
    struct stat st;
    bool fresh = stat(c->ckpt, &st) != 0;
    int rc = KA_OK;
    if (fresh) {
        struct jr_segs s;
        rc = segs_scan(j, &s);
        if (!rc && s.n)
            rc = first_checkpoint(c->ckpt, &s);
        free(s.v);
        if (rc)
            return rc;
    }
    struct ka_tail_opts to;
    memset(&to, 0, sizeof to);
    to.path = j->path;
    to.checkpoint_path = c->ckpt;
    to.from_start = true;
    rc = ka_tail_open(&to, &c->t);
    if (!rc && fresh)
        rc = ka_tail_commit(c->t);
    if (!rc)
        snprintf(j->cur_names[c->slot], sizeof j->cur_names[c->slot], "%s", name);
    return rc;
}

int ka_cursor_open(struct ka_journal *j, const char *name, struct ka_cursor **out)
{
    if (!j || !name || !valid_name(name) || strstr(name, ".tmp"))
        return KA_EINVAL;
    struct ka_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    c->j = j;
    snprintf(c->ckpt, sizeof c->ckpt, "%s/%s", j->cdir, name);
    /* Under the mutex: no rotation or retention between choosing the start and opening. */
    pthread_mutex_lock(&j->mu);
    int rc = free_slot(j, name);
    if (rc >= 0) {
        c->slot = rc;
        rc = cursor_start(j, c, name);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc) {
        ka_tail_close(c->t);
        free(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

int ka_cursor_next(struct ka_cursor *c, struct ka_tail_rec *rec, int timeout_ms)
{
    return ka_tail_next(c->t, rec, timeout_ms);
}

int ka_cursor_commit(struct ka_cursor *c)
{
    int rc = ka_tail_commit(c->t);
    pthread_mutex_lock(&c->j->mu);
    c->j->commit_gen++;
    pthread_mutex_unlock(&c->j->mu);
    return rc;
}

void ka_cursor_tell(const struct ka_cursor *c, struct ka_cursor_pos *pos)
{
    ka_tail_tell(c->t, &pos->t);
}

int ka_cursor_commit_at(struct ka_cursor *c, const struct ka_cursor_pos *pos)
{
    int rc = ka_tail_commit_at(c->t, &pos->t);
    pthread_mutex_lock(&c->j->mu);
    c->j->commit_gen++;
    pthread_mutex_unlock(&c->j->mu);
    return rc;
}

/* Uncompressed size of segment i (the live file when i == n). */
static uint64_t seg_len(const struct jr_segs *s, size_t i)
{
    if (i < s->n)
        return s->v[i].size;
    return s->have_live ? (uint64_t)s->live.st_size : 0;
}

/* Lag of the cursor whose checkpoint file is ckpt (absent: nothing consumed yet). */
static int lag_of(struct ka_journal *j, const char *ckpt, struct ka_cursor_lag *lag)
{
    struct jr_segs s;
    struct tail_ckpt k;
    memset(lag, 0, sizeof *lag);
    int rc = tail_ckpt_read(ckpt, &k);
    bool none = rc == KA_ENOENT;
    if (rc && !none)
        return rc;
    pthread_mutex_lock(&j->mu);
    rc = segs_scan(j, &s);
    pthread_mutex_unlock(&j->mu);
    if (rc) {
        free(s.v);
        return rc;
    }
    bool exact = false;
    size_t at = none ? 0 : ckpt_segment(&s, &k, &exact);
    uint64_t off = exact ? k.off : 0;
    for (size_t i = at; i <= s.n; i++)
        lag->bytes += seg_len(&s, i);
    lag->bytes = lag->bytes > off ? lag->bytes - off : 0;
    if (lag->bytes) {
        int64_t when = at < s.n ? s.v[at].ts_ms / 1000 : (int64_t)s.live.st_mtime;
        int64_t now = now_ms() / 1000;
        lag->seconds = now > when ? now - when : 0;
    }
    free(s.v);
    return KA_OK;
}

int ka_cursor_lag(struct ka_cursor *c, struct ka_cursor_lag *lag)
{
    return lag_of(c->j, c->ckpt, lag);
}

int ka_journal_lags(struct ka_journal *j,
                    void (*fn)(void *ud, const char *name, const struct ka_cursor_lag *lag),
                    void *ud)
{
    DIR *d = opendir(j->cdir);
    if (!d)
        return errno == ENOENT ? KA_OK : KA_EIO;
    char p[PATH_MAX + NAME_MAX + 2];
    const struct dirent *de;
    int rc = KA_OK;
    while ((de = readdir(d)) != NULL) {
        if (!valid_name(de->d_name) || strstr(de->d_name, ".tmp"))
            continue;
        snprintf(p, sizeof p, "%s/%s", j->cdir, de->d_name);
        struct ka_cursor_lag lag;
        int r = lag_of(j, p, &lag);
        if (r == KA_OK)
            fn(ud, de->d_name, &lag);
        else if (rc == KA_OK)
            rc = r;
    }
    closedir(d);
    return rc;
}

void ka_cursor_close(struct ka_cursor *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->j->mu);
    c->j->cur_names[c->slot][0] = '\0';
    pthread_mutex_unlock(&c->j->mu);
    ka_tail_close(c->t);
    free(c);
}
