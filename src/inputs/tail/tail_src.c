/*
 * tail_src.c - the files a follower reads: plain files by fd and gzipped backups through zlib,
 * their fingerprints, and the listing of lumberjack backups
 * (`<base-without-ext>-YYYY-MM-DDTHH-MM-SS.mmm<ext>[.gz]`, spec §5.4).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "kaudit/logset.h"
#include "tail_int.h"

#define TS_LEN 23 /* YYYY-MM-DDTHH-MM-SS.mmm */

uint64_t tail_fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

int tail_names(const char *path, char *dir, size_t dirsz, char *prefix, size_t psz, char *ext,
               size_t esz)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dn = slash ? (size_t)(slash - path) : 1;
    if (!*base || dn >= dirsz)
        return KA_EINVAL;
    if (slash)
        memcpy(dir, dn ? path : "/", dn ? dn : 1), dir[dn ? dn : 1] = '\0';
    else
        snprintf(dir, dirsz, "%s", ".");
    const char *dot = strrchr(base, '.');
    size_t bn = dot ? (size_t)(dot - base) : strlen(base);
    if (bn + 2 > psz || (dot && strlen(dot) + 1 > esz))
        return KA_EINVAL;
    memcpy(prefix, base, bn);
    prefix[bn] = '-';
    prefix[bn + 1] = '\0';
    snprintf(ext, esz, "%s", dot ? dot : "");
    return KA_OK;
}

/* Parses YYYY-MM-DDTHH-MM-SS.mmm (UTC) into milliseconds since the epoch. */
static int parse_ts(const char *s, int64_t *ms)
{
    long long t;
    if (ka_logset_parse_ts(s, &t) != KA_OK)
        return -1;
    *ms = t;
    return 0;
}

int tail_parse_backup(const char *prefix, const char *ext, const char *name, int64_t *ts_ms,
                      bool *gz)
{
    size_t pn = strlen(prefix), en = strlen(ext), n = strlen(name);
    if (n < pn + TS_LEN + en || memcmp(name, prefix, pn) != 0)
        return 0;
    const char *rest = name + pn + TS_LEN;
    size_t rn = n - pn - TS_LEN;
    bool z;
    if (rn == en && !memcmp(rest, ext, en))
        z = false;
    else if (rn == en + 3 && !memcmp(rest, ext, en) && !memcmp(rest + en, ".gz", 3))
        z = true;
    else
        return 0;
    if (parse_ts(name + pn, ts_ms))
        return 0;
    *gz = z;
    return 1;
}

void tail_backup_path(const char *dir, const char *prefix, const char *ext, int64_t ts_ms,
                      bool gz, char *out, size_t outsz)
{
    int64_t days = ts_ms / 86400000, rem = ts_ms % 86400000;
    if (rem < 0)
        rem += 86400000, days--;
    int64_t y;
    unsigned mo, d;
    ka_civil_from_days(days, &y, &mo, &d);
    snprintf(out, outsz, "%s/%s%04lld-%02u-%02uT%02d-%02d-%02d.%03d%s%s", dir, prefix,
             (long long)y, mo, d, (int)(rem / 3600000), (int)(rem / 60000 % 60),
             (int)(rem / 1000 % 60), (int)(rem % 1000), ext, gz ? ".gz" : "");
}

/* Uncompressed size (mod 2^32) from a gzip trailer; 0 when unknown. */
static uint64_t gz_isize(const char *path)
{
    unsigned char b[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    uint64_t v = 0;
    if (!fstat(fd, &st) && st.st_size >= 4 && pread(fd, b, 4, st.st_size - 4) == 4)
        v = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    close(fd);
    return v;
}

static int backup_add(struct tail_backup **v, size_t *n, size_t *cap, int64_t ts, bool gz,
                      const struct stat *st, const char *path)
{
    for (size_t i = 0; i < *n; i++) {
        struct tail_backup *b = &(*v)[i];
        if (b->ts_ms != ts)
            continue;
        if (gz) {
            b->gz = true;
        } else {
            b->plain = true, b->dev = st->st_dev, b->ino = st->st_ino;
            b->size = (uint64_t)st->st_size;
        }
        return KA_OK;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct tail_backup *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return KA_ENOMEM;
        *v = nv, *cap = nc;
    }
    struct tail_backup *b = &(*v)[(*n)++];
    memset(b, 0, sizeof *b);
    b->ts_ms = ts;
    b->gz = gz, b->plain = !gz;
    b->dev = gz ? 0 : st->st_dev, b->ino = gz ? 0 : st->st_ino;
    b->size = gz ? gz_isize(path) : (uint64_t)st->st_size;
    return KA_OK;
}

static int backup_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct tail_backup *)a)->ts_ms, y = ((const struct tail_backup *)b)->ts_ms;
    return x < y ? -1 : x > y;
}

int tail_scan(const char *dir, const char *prefix, const char *ext, struct tail_backup **out,
              size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? KA_ENOENT : KA_EIO;
    struct tail_backup *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = KA_OK;
    struct dirent *de;
    char p[PATH_MAX];
    while ((de = readdir(d))) {
        int64_t ts;
        bool gz;
        struct stat st;
        if (!tail_parse_backup(prefix, ext, de->d_name, &ts, &gz))
            continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p)
            continue;
        if (stat(p, &st) || !S_ISREG(st.st_mode))
            continue; /* vanished meanwhile (compressed or pruned) */
        if ((rc = backup_add(&v, &cnt, &cap, ts, gz, &st, p)))
            break;
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, backup_cmp);
    *out = v;
    *n = cnt;
    return KA_OK;
}

static void head_note(struct tail_src *s, const unsigned char *p, size_t n)
{
    if (s->off >= KA_TAIL_FP_MAX || s->off > s->head_n)
        return;
    size_t at = (size_t)s->off, k = KA_TAIL_FP_MAX - at;
    if (k > n)
        k = n;
    memcpy(s->head + at, p, k);
    if (at + k > s->head_n)
        s->head_n = (uint32_t)(at + k);
}

long tail_src_read(struct tail_src *s, void *p, size_t n)
{
    long r;
    if (s->gz) {
        int g = gzread(s->gz, p, n > (1u << 30) ? (1u << 30) : (unsigned)n);
        if (g < 0)
            return KA_EIO;
        r = g;
    } else {
        ssize_t k;
        do
            k = read(s->fd, p, n);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return KA_EIO;
        r = (long)k;
    }
    head_note(s, p, (size_t)r);
    s->off += (uint64_t)r;
    return r;
}

int tail_src_refresh_head(struct tail_src *s)
{
    if (s->gz || s->head_n == KA_TAIL_FP_MAX)
        return KA_OK;
    ssize_t k = pread(s->fd, s->head, KA_TAIL_FP_MAX, 0);
    if (k < 0)
        return KA_EIO;
    if ((uint32_t)k > s->head_n)
        s->head_n = (uint32_t)k;
    return KA_OK;
}

static int src_skip(struct tail_src *s, uint64_t skip)
{
    char tmp[65536];
    while (s->off < skip) {
        uint64_t want = skip - s->off;
        long r = tail_src_read(s, tmp, want < sizeof tmp ? (size_t)want : sizeof tmp);
        if (r < 0)
            return (int)r;
        if (r == 0)
            break; /* shorter than the offset: the caller compares s->off */
    }
    return KA_OK;
}

int tail_src_open(struct tail_src *s, const char *path, bool gz, uint64_t skip)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KA_ENOENT : KA_EIO;
    if (fstat(fd, &st)) {
        close(fd);
        return KA_EIO;
    }
    s->fd = fd, s->gz = NULL, s->off = 0, s->head_n = 0;
    s->dev = st.st_dev, s->ino = st.st_ino, s->seen_size = (uint64_t)st.st_size;
    snprintf(s->name, sizeof s->name, "%s", path);
    if (gz) {
        s->gz = gzdopen(fd, "rb");
        if (!s->gz) {
            close(fd);
            s->fd = -1;
            return KA_ENOMEM;
        }
        gzbuffer(s->gz, 1u << 18);
        s->dev = 0, s->ino = 0, s->seen_size = 0;
        int rc = src_skip(s, skip);
        if (rc)
            tail_src_close(s);
        return rc;
    }
    if (tail_src_refresh_head(s) || (skip && lseek(fd, (off_t)skip, SEEK_SET) < 0)) {
        tail_src_close(s);
        return KA_EIO;
    }
    s->off = skip;
    return KA_OK;
}

void tail_src_close(struct tail_src *s)
{
    if (s->gz)
        gzclose(s->gz); /* closes fd too */
    else if (s->fd >= 0)
        close(s->fd);
    s->gz = NULL;
    s->fd = -1;
}

void tail_src_id(const struct tail_src *s, struct tail_id *id)
{
    id->dev = s->dev, id->ino = s->ino;
    id->fp_len = s->head_n;
    id->fp = tail_fnv(s->head, s->head_n);
    id->ts_ms = s->ts_ms;
}

int tail_file_fp(const char *path, bool gz, uint32_t len, uint64_t *fp, uint32_t *got)
{
    if (len > KA_TAIL_FP_MAX)
        return KA_EINVAL;
    struct tail_src s = {.fd = -1};
    int rc = tail_src_open(&s, path, gz, gz ? len : 0);
    if (rc)
        return rc;
    uint32_t n = s.head_n < len ? s.head_n : len;
    *fp = tail_fnv(s.head, n);
    *got = n;
    tail_src_close(&s);
    return KA_OK;
}
