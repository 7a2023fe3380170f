/*
 * tail.c - the follower's API (include/kaudit/tail.h): the line buffer (complete lines only,
 * over-long lines skipped), waiting with inotify or a poll, and checkpoint commits. Where to read
 * next is decided in tail_follow.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "tail_int.h"

#define BUF_MIN (64u << 10)
#define BUF_START (1u << 20)

void tail_report(struct ka_tail *t, enum ka_tail_report kind, uint64_t bytes, const char *fmt,
                 ...)
{
    char msg[PATH_MAX + 256];
    if (!t->o.report)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    t->o.report(t->o.report_ud, kind, bytes, msg);
}

uint64_t tail_buf_discard(struct ka_tail *t)
{
    uint64_t n = (uint64_t)(t->end - t->start) + (t->skipping ? t->skip_len : 0);
    t->start = t->end = t->scan = 0;
    t->skipping = false;
    t->skip_len = 0;
    return n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int watch_dir(struct ka_tail *t)
{
    t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->ifd < 0)
        return KA_OK; /* poll only */
    uint32_t mask = IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_MODIFY |
                    IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (inotify_add_watch(t->ifd, t->dir, mask) < 0) {
        close(t->ifd);
        t->ifd = -1;
    }
    return KA_OK;
}

int ka_tail_open(const struct ka_tail_opts *o, struct ka_tail **out)
{
    if (!o || !o->path || !*o->path || strlen(o->path) >= PATH_MAX - 64 ||
        (o->checkpoint_path && strlen(o->checkpoint_path) >= PATH_MAX - 8))
        return KA_EINVAL;
    struct ka_tail *t = calloc(1, sizeof *t);
    if (!t)
        return KA_ENOMEM;
    t->o = *o;
    t->cur.fd = -1;
    t->ifd = -1;
    t->max_line = o->max_line ? o->max_line : KA_TAIL_MAX_LINE_DEFAULT;
    if (!t->o.poll_ms)
        t->o.poll_ms = KA_TAIL_POLL_MS_DEFAULT;
    snprintf(t->path, sizeof t->path, "%s", o->path);
    if (o->checkpoint_path)
        snprintf(t->ckpt, sizeof t->ckpt, "%s", o->checkpoint_path);
    t->o.path = t->path;
    t->o.checkpoint_path = o->checkpoint_path ? t->ckpt : NULL;
    t->cap = t->max_line + BUF_MIN < BUF_START ? t->max_line + BUF_MIN : BUF_START;
    t->known = calloc(TAIL_KNOWN_MAX, sizeof *t->known);
    t->buf = malloc(t->cap);
    int rc = !t->known || !t->buf ? KA_ENOMEM : KA_OK;
    if (!rc)
        rc = tail_names(t->path, t->dir, sizeof t->dir, t->prefix, sizeof t->prefix, t->ext,
                        sizeof t->ext);
    if (!rc)
        rc = watch_dir(t);
    if (!rc)
        rc = tail_follow_start(t);
    if (rc) {
        ka_tail_close(t);
        return rc;
    }
    *out = t;
    return KA_OK;
}

/* Ends a skipped over-long line at the LF at index lf (or keeps skipping when lf < 0). */
static void skip_long(struct ka_tail *t, long lf)
{
    size_t upto = lf >= 0 ? (size_t)lf + 1 : t->end;
    t->skip_len += upto - t->start;
    t->start = t->scan = upto;
    if (lf < 0)
        return;
    t->skipping = false;
    t->st.long_lines++;
    t->st.long_bytes += t->skip_len;
    tail_report(t, KA_TAIL_R_LONG_LINE, t->skip_len - 1,
                "%s: skipped a line of %llu bytes at offset %llu (maximum %zu)", t->cur.name,
                (unsigned long long)(t->skip_len - 1), (unsigned long long)t->skip_off,
                t->max_line);
    t->skip_len = 0;
}

/* 1 with *rec when the buffer holds a complete line, else 0. */
static int take_line(struct ka_tail *t, struct ka_tail_rec *rec)
{
    while (t->scan < t->end) {
        char *lf = memchr(t->buf + t->scan, '\n', t->end - t->scan);
        if (t->skipping) {
            skip_long(t, lf ? lf - t->buf : -1);
            continue;
        }
        if (!lf) {
            t->scan = t->end;
            break;
        }
        size_t len = (size_t)(lf - (t->buf + t->start));
        uint64_t off = t->cur.off - (t->end - t->start);
        if (len > t->max_line) {
            t->skipping = true;
            t->skip_off = off;
            continue;
        }
        rec->line = t->buf + t->start;
        rec->len = len;
        rec->offset = off;
        rec->file = t->cur.name;
        t->start = t->scan = (size_t)(lf - t->buf) + 1;
        t->have_pos = true;
        t->pos_serial = t->cur.serial;
        t->pos_off = off + len + 1;
        t->st.lines++;
        t->st.bytes += len + 1;
        return 1;
    }
    if (!t->skipping && t->end - t->start > t->max_line) {
        t->skipping = true;
        t->skip_off = t->cur.off - (t->end - t->start);
        skip_long(t, -1);
    }
    return 0;
}

static void drain_events(struct ka_tail *t);

/* Reads more of cur into the buffer: > 0 bytes, 0 at the end, or KA_E*. */
static long fill(struct ka_tail *t)
{
    if (t->start == t->end) {
        t->start = t->end = t->scan = 0;
    } else if (t->cap - t->end < BUF_MIN && t->start > 0) {
        memmove(t->buf, t->buf + t->start, t->end - t->start);
        t->end -= t->start, t->scan -= t->start, t->start = 0;
    }
    if (t->end == t->cap) {
        size_t nc = t->cap * 2, lim = t->max_line + BUF_MIN;
        size_t ns = nc < lim ? nc : lim;
        char *nb = ns ? realloc(t->buf, ns) : NULL;
        if (!nb)
            return KA_ENOMEM;
        t->buf = nb;
        t->cap = ns;
    }
    bool live = t->cur.live && !t->cur.gz;
    int c = live ? tail_check_live(t, 0) : 0;
    if (c)
        return c;
    long r = tail_src_read(&t->cur, t->buf + t->end, t->cap - t->end);
    if (r > 0)
        t->end += (size_t)r;
    if (r > 0 && live && (c = tail_check_live(t, (uint64_t)r)))
        return c;
    if (r < 0) {
        tail_report(t, KA_TAIL_R_ERROR, 0, "%s: read error at offset %llu", t->cur.name,
                    (unsigned long long)t->cur.off);
        if (!t->cur.live) /* a corrupt backup: count the rest as missed and go on */
            return 0;
    }
    return r;
}

/*
 * Reads the pending inotify events. They mostly just wake us (every check looks at the files
 * themselves), but a backup that appears is noted at once, so that its removal before we get to
 * it is reported.
 */
static void drain_events(struct ka_tail *t)
{
    char ev[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while (t->ifd >= 0 && (n = read(t->ifd, ev, sizeof ev)) > 0) {
        for (char *p = ev; p < ev + n;) {
            const struct inotify_event *e = (const struct inotify_event *)(void *)p;
            if (e->mask & IN_Q_OVERFLOW)
                tail_note_backup(t, "", true);
            else if (e->len && (e->mask & (IN_CREATE | IN_MOVED_TO)))
                tail_note_backup(t, e->name, false);
            p += sizeof *e + e->len;
        }
    }
}

/* Sleeps until inotify reports something or ms pass. 0, or 1 when a signal interrupted. */
static int wait_events(struct ka_tail *t, int ms)
{
    struct pollfd p = {.fd = t->ifd, .events = POLLIN};
    int r = poll(t->ifd >= 0 ? &p : NULL, t->ifd >= 0 ? 1 : 0, ms);
    if (r < 0)
        return errno == EINTR ? 1 : 0;
    drain_events(t);
    return 0;
}

int ka_tail_next(struct ka_tail *t, struct ka_tail_rec *rec, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
    for (;;) {
        if (t->have_cur && take_line(t, rec))
            return 1;
        drain_events(t);
        long r = t->have_cur ? fill(t) : 0;
        if (r > 0)
            continue;
        if (r < 0 && r != KA_EIO)
            return (int)r;
        int e = tail_follow_eof(t);
        if (e < 0)
            return e;
        if (e > 0)
            continue;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        if (wait_events(t, left < t->o.poll_ms ? (int)left : t->o.poll_ms))
            return 0;
    }
}

int64_t tail_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ka_tail_tell(const struct ka_tail *t, struct ka_tail_pos *pos)
{
    struct tail_id id;
    pos->set = t->have_pos;
    if (!t->have_pos)
        return;
    bool in_cur = t->have_cur && t->pos_serial == t->cur.serial;
    if (in_cur)
        tail_src_id(&t->cur, &id);
    else
        id = t->pos_id;
    pos->serial = in_cur ? t->pos_serial : 0;
    pos->off = t->pos_off;
    pos->dev = id.dev;
    pos->ino = id.ino;
    pos->fp = id.fp;
    pos->fp_len = id.fp_len;
    pos->ts_ms = id.ts_ms;
    pos->live_ms = in_cur ? t->cur.live_ms : t->pos_live_ms;
    snprintf(pos->name, sizeof pos->name, "%s", in_cur ? t->cur.name : t->pos_name);
}

int ka_tail_commit(struct ka_tail *t)
{
    struct ka_tail_pos *pos = malloc(sizeof *pos);
    if (!pos)
        return KA_ENOMEM;
    ka_tail_tell(t, pos);
    int rc = ka_tail_commit_at(t, pos);
    free(pos);
    return rc;
}

int ka_tail_commit_at(struct ka_tail *t, const struct ka_tail_pos *pos)
{
    if (!t->o.checkpoint_path || !pos->set)
        return KA_OK;
    struct tail_ckpt c;
    const char *name = pos->name;
    int64_t live_ms = pos->live_ms;
    /* Still the file being read: its identity and size as they are now. */
    bool in_cur = pos->serial && t->have_cur && pos->serial == t->cur.serial;
    memset(&c, 0, sizeof c);
    if (in_cur) {
        tail_src_id(&t->cur, &c.id);
        name = t->cur.name;
        c.size = t->cur.off > t->cur.seen_size ? t->cur.off : t->cur.seen_size;
        live_ms = t->cur.live_ms;
    } else {
        c.id = (struct tail_id){pos->dev, pos->ino, pos->fp_len, pos->fp, pos->ts_ms};
        c.size = pos->off;
    }
    c.off = pos->off;
    c.wall_ms = tail_wall_ms();
    if (c.id.ts_ms == TAIL_TS_NONE) {
        /*
         * A position in a file that was the live one. A restart that no longer finds it by
         * inode (rotated and compressed meanwhile) takes the oldest backup rotated after
         * wall_ms: that is this file only if wall_ms is a moment when it was still live. So
         * check that it still is; if it was rotated already, use the last time it was.
         */
        struct stat st;
        if (stat(t->o.path, &st) == 0 && (uint64_t)st.st_dev == c.id.dev &&
            (uint64_t)st.st_ino == c.id.ino) {
            if (in_cur)
                t->cur.live_ms = c.wall_ms;
        } else if (live_ms > 0) {
            c.wall_ms = live_ms;
        }
    }
    int rc = tail_ckpt_write(t->ckpt, &c, name);
    if (!rc)
        t->st.commits++;
    return rc;
}

void ka_tail_stats(const struct ka_tail *t, struct ka_tail_stats *st)
{
    *st = t->st;
}

void ka_tail_close(struct ka_tail *t)
{
    if (!t)
        return;
    if (t->have_cur)
        tail_src_close(&t->cur);
    if (t->ifd >= 0)
        close(t->ifd);
    free(t->known);
    free(t->buf);
    free(t);
}
