/*
 * logfile_mill.c - lumberjack v2.2.1's "mill" for the audit log file (spec §5.4): after the
 * first open and after each rotation, prune backups by count (a name and its .gz count once)
 * and by age, then gzip the remaining uncompressed backups.
 *
 * It runs on one background thread per log file, started on the first trigger. Triggers
 * coalesce: while a run is pending, more triggers add nothing (lumberjack's channel of one).
 * ka__mill_wait() returns once no run is pending or running. Errors are ignored, as in
 * lumberjack: a file that cannot be removed or compressed is left for the next run; a failed
 * compression removes its partial .gz. The thread runs at the lowest CPU priority (nice 19):
 * compressing a rotated segment is never urgent, and on a busy collector it would otherwise
 * take CPU from intake; it catches up when the CPU is idle.
 *
 * Limits: at most KA_MILL_MAX_FILES backups are considered per run (the rest are left alone).
 * Backup time stamps parse strictly as YYYY-MM-DDTHH-MM-SS.mmm with valid ranges, as Go's
 * time.Parse does for lumberjack's layout (Go would also take a one-digit hour; lumberjack never
 * writes one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "kaudit/logfile.h"
#include "kaudit/logset.h"
#include "kaudit/thread.h"
#include "logfile_int.h"

#define KA_MILL_MAX_FILES 65536
#define KA_MILL_CHUNK (64 * 1024)


struct ka__mill {
    char *dir, *prefix, *ext;
    struct ka_logfile_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool started, pending, busy, stop;
};

struct backup {
    char *name;
    size_t stem; /* length of the name without ".gz" */
    int64_t sec; /* time stamp from the name, UTC */
    int32_t ms;
    bool gz;
};

/* Parses "YYYY-MM-DDTHH-MM-SS.mmm" (exactly 23 bytes) as UTC. Returns 0 or -1. */
static int parse_ts(const char *s, size_t n, int64_t *sec, int32_t *ms)
{
    long long t;
    if (n != KA_LOGSET_TS_LEN || ka_logset_parse_ts(s, &t) != KA_OK)
        return -1;
    *sec = t / 1000;
    *ms = (int32_t)(t % 1000);
    return 0;
}

/* Matches <prefix>TS<ext> or <prefix>TS<ext>.gz. Returns 0 and fills b (name not set). */
static int match_name(const struct ka__mill *m, const char *name, struct backup *b)
{
    size_t n = strlen(name), pl = strlen(m->prefix), el = strlen(m->ext);
    if (n < pl || memcmp(name, m->prefix, pl) != 0)
        return -1;
    b->gz = false;
    if (n >= pl + el + 3 && !memcmp(name + n - 3, ".gz", 3) &&
        !memcmp(name + n - 3 - el, m->ext, el) &&
        !parse_ts(name + pl, n - pl - el - 3, &b->sec, &b->ms)) {
        b->gz = true;
        b->stem = n - 3;
        return 0;
    }
    if (n >= pl + el && !memcmp(name + n - el, m->ext, el) &&
        !parse_ts(name + pl, n - pl - el, &b->sec, &b->ms)) {
        b->stem = n;
        return 0;
    }
    return -1;
}

/* Newest first; equal stamps by name so that a run is deterministic. */
static int cmp_backup(const void *pa, const void *pb)
{
    const struct backup *a = pa, *b = pb;
    if (a->sec != b->sec)
        return a->sec > b->sec ? -1 : 1;
    if (a->ms != b->ms)
        return a->ms > b->ms ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Collects the backups of dir, newest first. */
static int collect(const struct ka__mill *m, int dfd, struct backup **out, size_t *nout)
{
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        return KA_EIO;
    struct backup *v = NULL;
    size_t n = 0, cap = 0;
    int rc = KA_OK;
    struct dirent *de;
    while (!rc && n < KA_MILL_MAX_FILES && (de = readdir(d)) != NULL) {
        struct backup b;
        struct stat sb;
        if (match_name(m, de->d_name, &b) ||
            fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct backup *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = KA_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        b.name = strdup(de->d_name);
        if (!b.name)
            rc = KA_ENOMEM;
        else
            v[n++] = b;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_backup);
    *out = v;
    *nout = n;
    return rc;
}

/* True when one of keep[0..nkeep) has the same name as b once ".gz" is taken off. */
static bool stem_seen(const struct backup *keep, size_t nkeep, const struct backup *b)
{
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i].stem == b->stem && !memcmp(keep[i].name, b->name, b->stem))
            return true;
    return false;
}

/*
 * Marks files to remove (name set to NULL after unlinking): beyond the first max_backups
 * distinct names, then those stamped strictly before now - max_age days.
 */
static void prune(const struct ka__mill *m, int dfd, struct backup *v, size_t n)
{
    if (m->o.max_backups > 0 && n > (size_t)m->o.max_backups) {
        struct backup *names = malloc(n * sizeof *names);
        size_t distinct = 0;
        for (size_t i = 0; names && i < n; i++) {
            /* Once past the limit every later file goes, so names never holds a freed one. */
            if (distinct <= (size_t)m->o.max_backups && !stem_seen(names, distinct, &v[i]))
                names[distinct++] = v[i];
            if (distinct > (size_t)m->o.max_backups) {
                unlinkat(dfd, v[i].name, 0);
                free(v[i].name);
                v[i].name = NULL;
            }
        }
        free(names);
    }
    if (m->o.max_age_days > 0) {
        int64_t now;
        int32_t nsec;
        ka__clock_now(&m->o, &now, &nsec);
        int64_t cut = now - (int64_t)m->o.max_age_days * 86400;
        for (size_t i = 0; i < n; i++) {
            if (!v[i].name)
                continue;
            if (v[i].sec < cut || (v[i].sec == cut && (int64_t)v[i].ms * 1000000 < nsec)) {
                unlinkat(dfd, v[i].name, 0);
                free(v[i].name);
                v[i].name = NULL;
            }
        }
    }
}

static int write_full(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Deflates everything from in to out as one gzip member. Returns 0 or -1. */
static int gzip_fd(int in, int out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -1;
    gz_header h;
    memset(&h, 0, sizeof h);
    h.os = 255; /* "unknown", as Go's compress/gzip writes */
    deflateSetHeader(&z, &h);
    unsigned char *ib = malloc(KA_MILL_CHUNK), *ob = malloc(KA_MILL_CHUNK);
    int rc = ib && ob ? 0 : -1, flush = Z_NO_FLUSH;
    while (!rc && flush != Z_FINISH) {
        ssize_t r = read(in, ib, KA_MILL_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -1;
            break;
        }
        flush = r == 0 ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = ib;
        z.avail_in = (uInt)r;
        do {
            z.next_out = ob;
            z.avail_out = KA_MILL_CHUNK;
            if (deflate(&z, flush) == Z_STREAM_ERROR ||
                write_full(out, ob, KA_MILL_CHUNK - z.avail_out))
                rc = -1;
        } while (!rc && z.avail_out == 0);
    }
    deflateEnd(&z);
    free(ib);
    free(ob);
    return rc;
}

/* name -> name.gz with the same mode and owner, then removes name; a failure removes the .gz. */
static void compress_one(int dfd, const char *name)
{
    size_t n = strlen(name);
    char *dst = malloc(n + 4);
    int in = openat(dfd, name, O_RDONLY | O_CLOEXEC), out = -1;
    struct stat sb;
    int rc = dst && in >= 0 && fstat(in, &sb) == 0 ? 0 : -1;
    if (!rc) {
        memcpy(dst, name, n);
        memcpy(dst + n, ".gz", 4);
        out = openat(dfd, dst, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, sb.st_mode & 07777);
        rc = out >= 0 && fchown(out, sb.st_uid, sb.st_gid) == 0 ? 0 : -1;
    }
    rc = rc ? rc : gzip_fd(in, out);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    if (in >= 0)
        close(in);
    if (rc && out >= 0)
        unlinkat(dfd, dst, 0);
    else if (!rc)
        unlinkat(dfd, name, 0);
    free(dst);
}

static void run_once(struct ka__mill *m)
{
    int dfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    struct backup *v = NULL;
    size_t n = 0;
    collect(m, dfd, &v, &n);
    prune(m, dfd, v, n);
    for (size_t i = 0; m->o.compress && i < n; i++)
        if (v[i].name && !v[i].gz)
            compress_one(dfd, v[i].name);
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    close(dfd);
}

static void *mill_main(void *arg)
{
    struct ka__mill *m = arg;
    ka_thread_lower_priority(19);
    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->pending && !m->stop)
            pthread_cond_wait(&m->cv, &m->mu);
        if (!m->pending)
            break;
        m->pending = false;
        m->busy = true;
        pthread_mutex_unlock(&m->mu);
        run_once(m);
        pthread_mutex_lock(&m->mu);
        m->busy = false;
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int ka__mill_new(const char *dir, const char *prefix, const char *ext,
                 const struct ka_logfile_opts *o, struct ka__mill **out)
{
    struct ka__mill *m = calloc(1, sizeof *m);
    if (!m)
        return KA_ENOMEM;
    m->o = *o;
    m->o.path = NULL;
    m->dir = strdup(dir);
    m->prefix = strdup(prefix);
    m->ext = strdup(ext);
    if (!m->dir || !m->prefix || !m->ext) {
        free(m->dir);
        free(m->prefix);
        free(m->ext);
        free(m);
        return KA_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    *out = m;
    return KA_OK;
}

void ka__mill_trigger(struct ka__mill *m)
{
    if (m->o.max_backups == 0 && m->o.max_age_days == 0 && !m->o.compress)
        return;
    pthread_mutex_lock(&m->mu);
    if (!m->started) {
        m->started = pthread_create(&m->th, NULL, mill_main, m) == 0;
        if (!m->started) { /* no thread: run in the caller, errors ignored as always */
            pthread_mutex_unlock(&m->mu);
            run_once(m);
            return;
        }
    }
    m->pending = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void ka__mill_wait(struct ka__mill *m)
{
    pthread_mutex_lock(&m->mu);
    while (m->pending || m->busy)
        pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
}

void ka__mill_free(struct ka__mill *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->started)
        pthread_join(m->th, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->dir);
    free(m->prefix);
    free(m->ext);
    free(m);
}
