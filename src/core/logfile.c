/*
 * logfile.c - kube-apiserver's audit log file: open, write one line per write(2), rotate by
 * rename exactly as lumberjack v2.2.1 does (spec §5.2, §5.4), fsync on request, counters.
 *
 * Layout: the path is split once into directory, base name, backup prefix ("<base-no-ext>-")
 * and extension. The live file is opened lazily on the first write. Rotation renames the live
 * file to its backup name (the clock's time in UTC, milliseconds truncated), recreates the
 * path with the old mode and owner, and triggers the mill (logfile_mill.c), which prunes and
 * compresses on its own thread.
 *
 * Beyond lumberjack, for durability only (the bytes written are the same): once the caller has
 * used ka_logfile_sync(), a rotation fsyncs the outgoing file when it holds unsynced writes, and
 * the next ka_logfile_sync() also fsyncs the directory, so a synced event survives a crash under
 * whatever name it then has. Without ka_logfile_sync() nothing is ever fsynced, as in lumberjack.
 * A rotation in the same millisecond as the previous one takes the next free millisecond for
 * its backup name, where lumberjack would rename over (lose) the previous backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "kaudit/logfile.h"
#include "logfile_int.h"

#define KA_LOGFILE_MAX_PATH 4096
#define KA_LOGFILE_MAX_LINE ((size_t)1 << 30) /* an encoded event is never larger */


struct ka_logfile {
    struct ka_logfile_opts o;
    char *path, *dir, *prefix, *ext;
    bool is_stdout;
    int fd;              /* -1 until the first write */
    uint64_t size;       /* bytes in the live file */
    uint64_t max;        /* rotation threshold in bytes; 0 = no rotation */
    bool dirty;          /* writes since the last fsync */
    bool dir_dirty;      /* a rotation since the last fsync */
    bool syncing;        /* the caller has asked for fsync at least once */
    bool sync_failed;    /* an fsync at rotation failed: the next ka_logfile_sync fails */
    struct ka__mill *mill;
    struct ka_logfile_stats st;
    struct ka_buf enc;   /* encoding buffer of ka_logfile_write_event */
    struct ka_buf pend;  /* whole events not written yet (coalesce_bytes > 0) */
};

void ka_logfile_opts_default(struct ka_logfile_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = KA_LOG_FORMAT_JSON;
    o->max_size_mb = 100;
    o->max_age_days = 366;
    o->max_backups = 100;
    o->compress = false;
}

void ka__clock_now(const struct ka_logfile_opts *o, int64_t *sec, int32_t *nsec)
{
    if (o->clock) {
        o->clock(o->clock_ud, sec, nsec);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = (int64_t)ts.tv_sec;
    *nsec = (int32_t)ts.tv_nsec;
}

/* mkdir -p of dir with mode for every component that is missing. */
static int make_dirs(const char *dir, mode_t mode)
{
    char tmp[KA_LOGFILE_MAX_PATH];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return n == 0 ? KA_OK : KA_EINVAL;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        struct stat sb;
        if (stat(tmp, &sb) != 0) {
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return KA_EIO;
        } else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            return KA_EIO;
        }
        tmp[i] = c;
    }
    return KA_OK;
}

/* Splits path into dir, "<base-without-ext>-" and ext (the final ".xxx" of the base). */
static int split_path(struct ka_logfile *lf)
{
    const char *slash = strrchr(lf->path, '/');
    const char *base = slash ? slash + 1 : lf->path;
    if (*base == '\0' || !strcmp(base, ".") || !strcmp(base, ".."))
        return KA_EINVAL;
    if (!slash)
        lf->dir = strdup(".");
    else if (slash == lf->path)
        lf->dir = strdup("/");
    else
        lf->dir = strndup(lf->path, (size_t)(slash - lf->path));
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
    lf->ext = strdup(dot ? dot : "");
    lf->prefix = malloc(stem + 2);
    if (!lf->dir || !lf->ext || !lf->prefix)
        return KA_ENOMEM;
    memcpy(lf->prefix, base, stem);
    memcpy(lf->prefix + stem, "-", 2);
    return KA_OK;
}

static int check_opts(const struct ka_logfile_opts *o)
{
    if (!o || !o->path || !o->path[0] || strlen(o->path) >= KA_LOGFILE_MAX_PATH)
        return KA_EINVAL;
    if (o->format != KA_LOG_FORMAT_JSON && o->format != KA_LOG_FORMAT_LEGACY)
        return KA_EINVAL;
    if (o->max_size_mb < 0 || o->max_age_days < 0 || o->max_backups < 0)
        return KA_EINVAL;
    return KA_OK;
}

/* File setup (spec §5.2): parent directories 0700, then create-or-open the file and close it. */
static int setup_file(struct ka_logfile *lf)
{
    int rc = make_dirs(lf->dir, 0700);
    if (rc)
        return rc;
    int fd = open(lf->path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return KA_EIO;
    close(fd);
    return KA_OK;
}

int ka_logfile_open(const struct ka_logfile_opts *o, struct ka_logfile **out)
{
    int rc = check_opts(o);
    if (rc)
        return rc;
    struct ka_logfile *lf = calloc(1, sizeof *lf);
    if (!lf)
        return KA_ENOMEM;
    lf->o = *o;
    lf->fd = -1;
    ka_buf_init(&lf->enc, KA_LOGFILE_MAX_LINE);
    lf->path = strdup(o->path);
    if (!lf->path) {
        rc = KA_ENOMEM;
        goto fail;
    }
    lf->o.path = lf->path;
    lf->is_stdout = !strcmp(o->path, "-");
    if (!lf->is_stdout) {
        lf->max = (uint64_t)o->max_size_mb * 1048576u;
        rc = split_path(lf);
        rc = rc ? rc : setup_file(lf);
        if (!rc && lf->max)
            rc = ka__mill_new(lf->dir, lf->prefix, lf->ext, &lf->o, &lf->mill);
        if (rc)
            goto fail;
    }
    *out = lf;
    return KA_OK;
fail:
    ka_logfile_close(lf);
    return rc;
}

/*
 * Backup name: <dir>/<prefix>YYYY-MM-DDTHH-MM-SS.mmm<ext>, the clock's time in UTC plus
 * skip_ms milliseconds.
 */
static int backup_name(const struct ka_logfile *lf, int64_t sec, int32_t nsec, int skip_ms,
                       char *out, size_t cap)
{
    int64_t ms = (int64_t)(nsec / 1000000) + skip_ms;
    sec += ms / 1000;
    ms %= 1000;
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    ka_civil_from_days(days, &y, &mo, &d);
    int n = snprintf(out, cap, "%s/%s%04lld-%02u-%02uT%02d-%02d-%02d.%03d%s", lf->dir,
                     lf->prefix, (long long)y, mo, d, (int)(rem / 3600), (int)(rem / 60 % 60),
                     (int)(rem % 60), (int)ms, lf->ext);
    return n < 0 || (size_t)n + 3 >= cap ? KA_EINVAL : KA_OK;
}

/*
 * The backup name for a rotation now. Where lumberjack would rename over a backup made in the
 * same millisecond (and lose it), the next free millisecond is taken instead.
 */
static int free_backup_name(const struct ka_logfile *lf, char *out, size_t cap)
{
    int64_t sec;
    int32_t nsec;
    ka__clock_now(&lf->o, &sec, &nsec);
    for (int k = 0; k < 1000; k++) {
        struct stat sb;
        if (backup_name(lf, sec, nsec, k, out, cap))
            return KA_EINVAL;
        if (lstat(out, &sb) == 0)
            continue;
        size_t n = strlen(out);
        memcpy(out + n, ".gz", 4);
        int taken = lstat(out, &sb) == 0;
        out[n] = '\0';
        if (!taken)
            return KA_OK;
    }
    return KA_EIO;
}

/* Closes the live file; fsyncs it first when it holds unsynced writes and the caller syncs. */
static void close_live(struct ka_logfile *lf)
{
    if (lf->fd < 0)
        return;
    if (lf->dirty && lf->syncing) {
        if (fsync(lf->fd) == 0) {
            lf->st.syncs++;
        } else {
            lf->st.write_errors++;
            lf->sync_failed = true; /* reported by the next ka_logfile_sync() */
        }
    }
    lf->dirty = false;
    close(lf->fd);
    lf->fd = -1;
}

/*
 * lumberjack openNew: if the file exists, rename it to its backup name and recreate the path
 * with the old mode and owner; then open it (create, write-only, truncate), size 0.
 */
static int open_new(struct ka_logfile *lf)
{
    if (make_dirs(lf->dir, 0755))
        return KA_EIO;
    mode_t mode = 0600;
    struct stat sb;
    if (stat(lf->path, &sb) == 0) {
        char bak[KA_LOGFILE_MAX_PATH + 64];
        mode = sb.st_mode & 07777;
        if (free_backup_name(lf, bak, sizeof bak) || rename(lf->path, bak) != 0)
            return KA_EIO;
        int fd = open(lf->path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
            return KA_EIO;
        int crc = fchown(fd, sb.st_uid, sb.st_gid);
        close(fd);
        if (crc != 0)
            return KA_EIO;
        lf->st.rotations++;
        lf->dir_dirty = true;
    }
    lf->fd = open(lf->path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
    if (lf->fd < 0)
        return KA_EIO;
    lf->size = 0;
    return KA_OK;
}

static int rotate(struct ka_logfile *lf)
{
    close_live(lf);
    int rc = open_new(lf);
    if (lf->mill)
        ka__mill_trigger(lf->mill);
    return rc;
}

/* lumberjack openExistingOrNew: the `>=` rule, else append; open failures start a new file. */
static int open_existing_or_new(struct ka_logfile *lf, size_t len)
{
    if (lf->mill)
        ka__mill_trigger(lf->mill);
    struct stat sb;
    if (stat(lf->path, &sb) != 0)
        return errno == ENOENT ? open_new(lf) : KA_EIO;
    if ((uint64_t)sb.st_size + len >= lf->max)
        return rotate(lf);
    lf->fd = open(lf->path, O_APPEND | O_WRONLY | O_CLOEXEC);
    if (lf->fd < 0)
        return open_new(lf);
    lf->size = (uint64_t)sb.st_size;
    return KA_OK;
}

/* Without rotation (max 0, or stdout): the plain O_APPEND file of kube-apiserver ≥ v1.36. */
static int open_plain(struct ka_logfile *lf)
{
    if (lf->is_stdout) {
        lf->fd = STDOUT_FILENO;
        return KA_OK;
    }
    lf->fd = open(lf->path, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC, 0600);
    return lf->fd < 0 ? KA_EIO : KA_OK;
}

/* One write(2) of the whole line; a short write (disk full, signal) continues with the rest. */
static int write_all(struct ka_logfile *lf, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(lf->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return KA_EIO;
        }
        lf->size += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
    return KA_OK;
}

int ka_logfile_flush(struct ka_logfile *lf)
{
    if (!lf || lf->pend.n == 0)
        return KA_OK;
    int rc = write_all(lf, lf->pend.p, lf->pend.n);
    ka_buf_reset(&lf->pend);
    if (rc) {
        lf->st.write_errors++;
        return rc;
    }
    lf->dirty = true;
    return KA_OK;
}

int ka_logfile_write(struct ka_logfile *lf, const char *line, size_t n)
{
    if (!lf || !line || n == 0 || line[n - 1] != '\n')
        return KA_EINVAL;
    if (lf->max && n > lf->max) {
        lf->st.too_large++;
        return KA_ETOOBIG;
    }
    int rc = KA_OK;
    if (lf->fd < 0)
        rc = lf->max ? open_existing_or_new(lf, n) : open_plain(lf);
    /* The rotation rule sees pending events as written: the files come out the same. */
    if (!rc && lf->max && lf->size + lf->pend.n + n > lf->max)
        rc = ka_logfile_flush(lf) ? KA_EIO : rotate(lf);
    if (!rc && lf->o.coalesce_bytes) {
        rc = ka_buf_append(&lf->pend, line, n);
        if (!rc && lf->pend.n >= lf->o.coalesce_bytes)
            rc = ka_logfile_flush(lf);
    } else if (!rc) {
        rc = write_all(lf, line, n);
        lf->dirty = true;
    }
    if (rc) {
        lf->st.write_errors++;
        return rc;
    }
    lf->st.events++;
    lf->st.bytes += n;
    return KA_OK;
}

int ka_logfile_write_event(struct ka_logfile *lf, const struct ka_event *ev,
                           const struct ka_write_opts *wo)
{
    static const struct ka_write_opts none;
    if (!lf || !ev)
        return KA_EINVAL;
    ka_buf_reset(&lf->enc);
    int rc = lf->o.format == KA_LOG_FORMAT_LEGACY ? ka_legacy_format(ev, NULL, &lf->enc)
                                                  : ka_event_write(ev, wo ? wo : &none, &lf->enc);
    if (rc)
        return rc;
    return ka_logfile_write(lf, lf->enc.p, lf->enc.n);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return KA_EIO;
    int rc = fsync(fd) == 0 ? KA_OK : KA_EIO;
    close(fd);
    return rc;
}

int ka_logfile_sync(struct ka_logfile *lf)
{
    if (!lf)
        return KA_OK;
    if (ka_logfile_flush(lf))
        return KA_EIO;
    if (lf->is_stdout)
        return KA_OK;
    if (lf->sync_failed) {
        lf->sync_failed = false;
        return KA_EIO;
    }
    lf->syncing = true;
    if (lf->fd < 0)
        return KA_OK;
    if (fsync(lf->fd) != 0) {
        lf->st.write_errors++;
        return KA_EIO;
    }
    lf->st.syncs++;
    lf->dirty = false;
    if (lf->dir_dirty) {
        if (sync_dir(lf->dir))
            return KA_EIO;
        lf->dir_dirty = false;
    }
    return KA_OK;
}

void ka_logfile_stats(const struct ka_logfile *lf, struct ka_logfile_stats *st)
{
    if (lf)
        *st = lf->st;
    else
        memset(st, 0, sizeof *st);
}

void ka_logfile_mill_wait(struct ka_logfile *lf)
{
    if (lf && lf->mill)
        ka__mill_wait(lf->mill);
}

void ka_logfile_close(struct ka_logfile *lf)
{
    if (!lf)
        return;
    ka_logfile_flush(lf);
    if (lf->mill) {
        ka__mill_wait(lf->mill);
        ka__mill_free(lf->mill);
    }
    if (!lf->is_stdout)
        close_live(lf);
    free(lf->path);
    free(lf->dir);
    free(lf->prefix);
    free(lf->ext);
    ka_buf_free(&lf->enc);
    ka_buf_free(&lf->pend);
    free(lf);
}
