/*
 * tail.h - follow one audit log path (kube-apiserver / lumberjack style) without losing lines.
 *
 * A ka_tail returns the complete lines of a log path as they are written: a partial line at
 * the end of the file is held until its LF arrives. It follows the path across
 *   - rotation by rename (lumberjack): the old file, still open, is drained to its end, then the
 *     next file is read from offset 0 (the next backup when the writer rotated several times
 *     while we were behind, else the new live file);
 *   - copytruncate: the size shrinks below our offset (or the first bytes change): reading
 *     restarts at 0 and the bytes that could not be read are reported;
 *   - delete and recreate, and inode reuse (a file is identified by device, inode and a
 *     fingerprint of its first KA_TAIL_FP_MAX bytes).
 * Wake-ups come from inotify on the directory (create, move, delete, modify of files in it),
 * with a periodic poll as a fallback.
 *
 * Checkpoints: ka_tail_commit() persists the position just after the last record returned
 * (file identity + offset), atomically (temp file, fsync, rename, fsync of the directory). The
 * consumer calls it only when the records it got are safe. ka_tail_open() with the same
 * checkpoint resumes exactly there, also when that file was rotated away meanwhile: it is
 * found among the backups (`<base>-YYYY-MM-DDTHH-MM-SS.mmm<ext>[.gz]`, gzip is read
 * transparently), drained from the offset, then newer backups in order, then the live file.
 * Bytes that can no longer be read (a pruned backup) are counted and reported, never skipped
 * silently.
 *
 * Reports (skipped long lines, missed bytes, truncations, rotations) go to an optional callback
 * and are counted in struct ka_tail_stats; the library never prints.
 *
 * Limits: lines up to max_line bytes (longer ones are skipped and reported); one path per
 * ka_tail; one thread at a time per ka_tail.
 */
#ifndef KAUDIT_TAIL_H
#define KAUDIT_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KA_TAIL_FP_MAX 256                      /* bytes hashed into a file's fingerprint */
#define KA_TAIL_MAX_LINE_DEFAULT (16u << 20)    /* 16 MiB */
#define KA_TAIL_POLL_MS_DEFAULT 1000

enum ka_tail_report {
    KA_TAIL_R_LONG_LINE = 1, /* a line longer than max_line was skipped (bytes = its length) */
    KA_TAIL_R_MISSED,        /* bytes that were written but could not be read (pruned, truncated) */
    KA_TAIL_R_TRUNCATED,     /* the file shrank (copytruncate): reading restarted at offset 0 */
    KA_TAIL_R_ROTATED,       /* moved on from one file to the next (bytes = 0) */
    KA_TAIL_R_PARTIAL_LAST,  /* a finished file ended without LF: the last partial line was skipped */
    KA_TAIL_R_RESUMED,       /* opened from a checkpoint (message says where) */
    KA_TAIL_R_ERROR,         /* a non-fatal error (a backup that could not be read, ...) */
};

/* Called with a complete message, e.g. "audit.log: skipped a line of 20000000 bytes at ...". */
typedef void (*ka_tail_report_fn)(void *ud, enum ka_tail_report kind, uint64_t bytes,
                                  const char *msg);

struct ka_tail_opts {
    const char *path;            /* the log path, e.g. /var/log/kubernetes/audit.log */
    const char *checkpoint_path; /* NULL: no checkpoint (ka_tail_commit is then a no-op) */
    bool from_start;   /* without a usable checkpoint: read the live file from 0, not from its end */
    bool with_backups; /* with from_start: first read the rotated backups that exist, oldest
                          first (gzipped ones too), then the live file */
    size_t max_line;   /* 0 = KA_TAIL_MAX_LINE_DEFAULT; excludes the LF */
    int poll_ms;       /* fallback poll interval; 0 = KA_TAIL_POLL_MS_DEFAULT */
    ka_tail_report_fn report; /* may be NULL */
    void *report_ud;
};

/* One line. line points into the follower's buffer and is valid until the next call. */
struct ka_tail_rec {
    const char *line;  /* without the LF */
    size_t len;
    uint64_t offset;   /* offset of the line's first byte in its file (decompressed for .gz) */
    const char *file;  /* the path the line was read from (valid until the next call) */
};

struct ka_tail_stats {
    uint64_t lines, bytes;          /* records returned and their bytes incl. LF */
    uint64_t rotations, truncations;
    uint64_t long_lines, long_bytes;
    uint64_t missed_bytes;          /* written but unreadable (pruned, truncated before read) */
    uint64_t partial_last;          /* partial last lines of finished files that were skipped */
    uint64_t commits;
};

struct ka_tail;

/*
 * Opens the follower. With a checkpoint file that exists, resumes from it (a malformed
 * checkpoint is KA_EINVAL: the caller decides, nothing is guessed). A missing log file is
 * waited for. Returns 0 or KA_EINVAL / KA_ENOMEM / KA_EIO.
 */
int ka_tail_open(const struct ka_tail_opts *o, struct ka_tail **out);

/*
 * Waits up to timeout_ms (< 0: forever) for the next complete line. Returns 1 with *rec set,
 * 0 on timeout or when a signal interrupted the wait, or a negative KA_E* code.
 */
int ka_tail_next(struct ka_tail *t, struct ka_tail_rec *rec, int timeout_ms);

/* Persists the position after the last record returned. 0 when no checkpoint is configured. */
int ka_tail_commit(struct ka_tail *t);

/*
 * A position to commit later: taken with ka_tail_tell() right after a record (the position
 * after it), persisted with ka_tail_commit_at() once what precedes it is safe, while the
 * follower reads on (also into later files). The fields are the follower's; treat as opaque.
 */
struct ka_tail_pos {
    bool set;
    unsigned serial;
    uint64_t off, dev, ino, fp;
    uint32_t fp_len;
    int64_t ts_ms, live_ms;
    char name[4096];
};
/* The position after the last record returned (pos->set false before the first one). */
void ka_tail_tell(const struct ka_tail *t, struct ka_tail_pos *pos);
/* Persists pos as the checkpoint. 0 when no checkpoint is configured or pos is not set. */
int ka_tail_commit_at(struct ka_tail *t, const struct ka_tail_pos *pos);

void ka_tail_stats(const struct ka_tail *t, struct ka_tail_stats *st);

/* Closes the follower; commits nothing (the caller commits what it consumed). NULL: no-op. */
void ka_tail_close(struct ka_tail *t);

#endif
