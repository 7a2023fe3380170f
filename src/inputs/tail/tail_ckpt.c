/*
 * tail_ckpt.c - the follower's checkpoint file: one text line
 *   kaudit-tail-checkpoint 1 dev=D ino=I fplen=N fp=HEX16 ts=MS off=O size=S wall=MS file=PATH
 * (ts=- for the live file), replaced atomically: written to PATH.tmp, fsync'd, renamed over
 * PATH, and the directory fsync'd, so a crash leaves either the old or the new checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "tail_int.h"

#define CKPT_MAGIC "kaudit-tail-checkpoint 1 "
#define CKPT_MAX 8192

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return KA_EIO;
        p += k;
        n -= (size_t)k;
    }
    return KA_OK;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        memcpy(dir, path, (size_t)(slash - path)), dir[slash - path] = '\0';
    else
        return KA_EINVAL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return KA_EIO;
    int rc = fsync(fd) ? KA_EIO : KA_OK;
    close(fd);
    return rc;
}

int tail_ckpt_write(const char *path, const struct tail_ckpt *c, const char *file)
{
    char line[CKPT_MAX], tmp[PATH_MAX], ts[32];
    if (c->id.ts_ms == TAIL_TS_NONE)
        strcpy(ts, "-");
    else
        snprintf(ts, sizeof ts, "%" PRId64, c->id.ts_ms);
    int n = snprintf(line, sizeof line,
                     CKPT_MAGIC "dev=%" PRIu64 " ino=%" PRIu64 " fplen=%" PRIu32 " fp=%016" PRIx64
                                " ts=%s off=%" PRIu64 " size=%" PRIu64 " wall=%" PRId64
                                " file=%s\n",
                     c->id.dev, c->id.ino, c->id.fp_len, c->id.fp, ts, c->off, c->size,
                     c->wall_ms, file ? file : "");
    if (n < 0 || n >= (int)sizeof line || strchr(file ? file : "", '\n'))
        return KA_EINVAL;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return KA_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return KA_EIO;
    int rc = write_all(fd, line, (size_t)n);
    if (!rc && fsync(fd))
        rc = KA_EIO;
    if (close(fd) && !rc)
        rc = KA_EIO;
    if (!rc && rename(tmp, path))
        rc = KA_EIO;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path);
}

/* Parses "key=<u64>" at *p (then one space); advances *p. */
static int field_u64(const char **p, const char *key, int base, uint64_t *out)
{
    size_t kn = strlen(key);
    if (strncmp(*p, key, kn) != 0 || (*p)[kn] != '=')
        return KA_EINVAL;
    const char *s = *p + kn + 1;
    char *end;
    if (*s < '0' || *s > 'f')
        return KA_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || end == s || *end != ' ')
        return KA_EINVAL;
    *out = v;
    *p = end + 1;
    return KA_OK;
}

static int field_i64(const char **p, const char *key, int64_t *out)
{
    size_t kn = strlen(key);
    if (strncmp(*p, key, kn) != 0 || (*p)[kn] != '=')
        return KA_EINVAL;
    const char *s = *p + kn + 1;
    if (s[0] == '-' && s[1] == ' ') {
        *out = TAIL_TS_NONE;
        *p = s + 2;
        return KA_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != ' ')
        return KA_EINVAL;
    *out = v;
    *p = end + 1;
    return KA_OK;
}

static int ckpt_parse(const char *s, struct tail_ckpt *c)
{
    uint64_t fplen;
    if (strncmp(s, CKPT_MAGIC, strlen(CKPT_MAGIC)) != 0)
        return KA_EINVAL;
    s += strlen(CKPT_MAGIC);
    if (field_u64(&s, "dev", 10, &c->id.dev) || field_u64(&s, "ino", 10, &c->id.ino) ||
        field_u64(&s, "fplen", 10, &fplen) || field_u64(&s, "fp", 16, &c->id.fp) ||
        field_i64(&s, "ts", &c->id.ts_ms) || field_u64(&s, "off", 10, &c->off) ||
        field_u64(&s, "size", 10, &c->size) || field_i64(&s, "wall", &c->wall_ms))
        return KA_EINVAL;
    if (fplen > KA_TAIL_FP_MAX || strncmp(s, "file=", 5) != 0 || c->wall_ms == TAIL_TS_NONE)
        return KA_EINVAL;
    c->id.fp_len = (uint32_t)fplen;
    return KA_OK;
}

int tail_ckpt_read(const char *path, struct tail_ckpt *c)
{
    char line[CKPT_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KA_ENOENT : KA_EIO;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n < 0)
        return KA_EIO;
    line[n] = '\0';
    if (n == 0 || line[n - 1] != '\n')
        return KA_EINVAL;
    struct tail_ckpt tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = ckpt_parse(line, &tmp);
    if (rc)
        return rc;
    *c = tmp;
    return KA_OK;
}
