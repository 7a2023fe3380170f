/*
 * tail_int.h - internals of the log follower (include/kaudit/tail.h): file identities,
 * readable sources (plain or gzip), the lumberjack backup listing and the checkpoint file.
 */
#ifndef KA_TAIL_INT_H
#define KA_TAIL_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "kaudit/tail.h"

#define TAIL_TS_NONE INT64_MIN /* no backup timestamp: the live file, or unknown */

/* What identifies one log file across renames, compression and restarts. */
struct tail_id {
    uint64_t dev, ino;  /* 0/0 for a source read through gzip (the original is gone) */
    uint32_t fp_len;    /* bytes hashed, <= KA_TAIL_FP_MAX */
    uint64_t fp;        /* FNV-1a 64 of the first fp_len bytes */
    int64_t ts_ms;      /* backup timestamp from its name (UTC ms), or TAIL_TS_NONE */
};

/* One file being read: a plain file by fd, or a .gz backup through zlib. */
struct tail_src {
    int fd;              /* -1 when closed */
    gzFile gz;           /* non-NULL for a .gz backup */
    bool live;           /* was the file at the path when last checked */
    uint64_t dev, ino;
    int64_t ts_ms;       /* backup timestamp, TAIL_TS_NONE while live */
    int64_t live_ms;     /* wall time (ms) when it was last known to be the live file */
    uint64_t off;        /* bytes consumed from the file (decompressed for .gz) */
    uint64_t seen_size;  /* largest size observed with fstat */
    unsigned serial;     /* distinguishes sources over the follower's life */
    uint32_t head_n;     /* bytes of head[] known (the file's first bytes) */
    unsigned char head[KA_TAIL_FP_MAX];
    char name[PATH_MAX];
};

/* One rotated file in the directory (a name and its .gz count once). */
struct tail_backup {
    int64_t ts_ms;
    bool plain, gz;      /* which forms exist */
    uint64_t dev, ino;   /* of the plain form */
    uint64_t size;       /* plain size, or the gzip ISIZE (mod 2^32) when only .gz exists */
};

/* A backup seen while following (to tell which ones were pruned before being read). */
struct tail_known {
    int64_t ts_ms;
    uint64_t dev, ino;   /* plain form when seen, else 0 */
    uint64_t size;
    bool size_unknown;   /* seen only as a name in an event: gone before it could be looked at */
    uint32_t fp_len;     /* fingerprint of its first bytes (0: unknown) */
    uint64_t fp;
};

struct tail_ckpt {
    struct tail_id id;
    uint64_t off;        /* resume here */
    uint64_t size;       /* bytes of that file known at commit (for "missed at least") */
    int64_t wall_ms;     /* when it was written */
};

uint64_t tail_fnv(const void *p, size_t n);

/* Splits path into directory and base; derives the backup prefix and extension. */
int tail_names(const char *path, char *dir, size_t dirsz, char *prefix, size_t psz, char *ext,
               size_t esz);
/* 1 and *ts_ms, *gz when name is `<prefix>TS<ext>[.gz]` with a valid TS, else 0. */
int tail_parse_backup(const char *prefix, const char *ext, const char *name, int64_t *ts_ms,
                      bool *gz);
/* Writes the backup's path (plain or .gz form) into out. */
void tail_backup_path(const char *dir, const char *prefix, const char *ext, int64_t ts_ms,
                      bool gz, char *out, size_t outsz);
/* Lists the backups, oldest first, into a malloc'd array (*out may be NULL when *n == 0). */
int tail_scan(const char *dir, const char *prefix, const char *ext, struct tail_backup **out,
              size_t *n);

/* Opens path (gz: through zlib) and consumes skip bytes. Fills s->head with the first bytes. */
int tail_src_open(struct tail_src *s, const char *path, bool gz, uint64_t skip);
/* Reads up to n bytes: > 0, 0 at the current end, or KA_EIO. */
long tail_src_read(struct tail_src *s, void *p, size_t n);
/* Re-reads the head of a plain source with pread (it may have grown): 0 or KA_EIO. */
int tail_src_refresh_head(struct tail_src *s);
void tail_src_close(struct tail_src *s);
void tail_src_id(const struct tail_src *s, struct tail_id *id);
/* Hash of the first min(len, size) bytes of a file (gz: decompressed), *got = that count. */
int tail_file_fp(const char *path, bool gz, uint32_t len, uint64_t *fp, uint32_t *got);

/* KA_ENOENT when the file does not exist, KA_EINVAL when malformed. */
int tail_ckpt_read(const char *path, struct tail_ckpt *c);
/* Atomic: temp file, fsync, rename, fsync of the directory. */
int tail_ckpt_write(const char *path, const struct tail_ckpt *c, const char *file);

#define TAIL_KNOWN_MAX 1024

struct ka_tail {
    struct ka_tail_opts o;
    char path[PATH_MAX], ckpt[PATH_MAX], dir[PATH_MAX], prefix[NAME_MAX + 2], ext[NAME_MAX + 1];
    int ifd;                 /* inotify, -1: poll only */
    struct tail_src cur;
    bool have_cur;
    unsigned serial_next;
    int64_t after_ts;        /* every backup with a newer timestamp is still to be read */
    struct tail_known *known;
    size_t nknown;
    /* line buffer: [start, end) unread bytes of cur; scan = where the LF search resumes */
    char *buf;
    size_t cap, start, end, scan, max_line;
    bool skipping;           /* inside an over-long line */
    uint64_t skip_off, skip_len;
    /* position after the last record returned (what ka_tail_commit persists) */
    bool have_pos;
    unsigned pos_serial;     /* the source it belongs to; if not cur, pos_id holds its identity */
    uint64_t pos_off;
    struct tail_id pos_id;
    int64_t pos_live_ms;     /* live_ms of that source */
    char pos_name[PATH_MAX];
    struct ka_tail_stats st;
};

void tail_report(struct ka_tail *t, enum ka_tail_report kind, uint64_t bytes, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/* Drops the buffered bytes of cur; returns how many there were (incl. a skipped long line). */
uint64_t tail_buf_discard(struct ka_tail *t);
/* Positions the follower at its start: the checkpoint, or the live file (start or end). */
int tail_follow_start(struct ka_tail *t);
/* Records a backup named in an inotify event (overflow: rescan everything). */
void tail_note_backup(struct ka_tail *t, const char *name, bool overflow);
/*
 * Checks that the live file did not shrink or change its first bytes (copytruncate); just_read
 * bytes at the end of the buffer were read since the last check. 1 when reading restarts at 0.
 */
int tail_check_live(struct ka_tail *t, uint64_t just_read);
/* At the end of cur: 1 when something changed (read again), 0 to wait, or KA_E*. */
int tail_follow_eof(struct ka_tail *t);

/* Wall-clock time in milliseconds. */
int64_t tail_wall_ms(void);

#endif
