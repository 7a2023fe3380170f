/*
 * logfile.h - kube-apiserver's audit log backend: a JSON-lines or legacy-format file that
 * rotates exactly as lumberjack v2.2.1 does (spec §5).
 *
 * One ka_logfile writes one path ("-" = stdout: no rotation, no file creation). Each call of
 * ka_logfile_write() is one write(2) of one complete line (or, with coalesce_bytes, of several
 * whole lines), so a rotation never splits an event.
 * Durability is the caller's choice per batch: write, then ka_logfile_sync() (fsync) when the
 * batch must be on disk before it is acknowledged.
 *
 * Rotation (max_size_mb > 0): the file is opened lazily on the first write; if it exists and
 * size + len >= max it is rotated at once (the `>=` rule), otherwise appended to; before each
 * later write, len > max fails with KA_ETOOBIG (counted) and size + len > max rotates first.
 * A rotated file is renamed to <dir>/<base-without-ext>-YYYY-MM-DDTHH-MM-SS.mmm<ext> (UTC). Then
 * the "mill" prunes backups by count (a name and its .gz count once) and by age, and gzips the
 * rest when compress is set. New files are 0600, new directories 0700.
 *
 * Thread safety: one writer at a time per ka_logfile (callers serialise). The mill may run on a
 * background thread; ka_logfile_mill_wait() waits for it (tests, shutdown).
 */
#ifndef KAUDIT_LOGFILE_H
#define KAUDIT_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/event.h"

enum ka_log_format { KA_LOG_FORMAT_JSON = 0, KA_LOG_FORMAT_LEGACY = 1 };

/* Current time for backup names and age pruning; tests pass a controlled clock. */
typedef void (*ka_clock_fn)(void *ud, int64_t *sec, int32_t *nsec);

struct ka_logfile_opts {
    const char *path;          /* "-" = stdout */
    enum ka_log_format format; /* used by ka_logfile_write_event */
    int max_size_mb;           /* --audit-log-maxsize: MiB before rotation; 0 = never rotate */
    int max_age_days;          /* --audit-log-maxage: 0 = no age limit */
    int max_backups;           /* --audit-log-maxbackup: 0 = keep all */
    bool compress;             /* --audit-log-compress */
    ka_clock_fn clock;         /* NULL = the real clock */
    void *clock_ud;
    /*
     * 0 (default): one write(2) per event, as kube-apiserver. > 0: whole events are gathered in
     * memory up to this many bytes and written with one write(2); a batch never crosses a
     * rotation, so the files are byte-identical. Pending events are written by
     * ka_logfile_flush(), ka_logfile_sync(), before a rotation and at close; an I/O error then
     * concerns the whole pending batch.
     */
    size_t coalesce_bytes;
};

/* kube-apiserver v1.36 defaults: json, 100 MiB, 366 days, 100 backups, no compression. */
void ka_logfile_opts_default(struct ka_logfile_opts *o);

struct ka_logfile_stats {
    uint64_t events, bytes, rotations, too_large, write_errors, syncs;
};

struct ka_logfile;

/* Validates the options and creates the parent directories; the file is opened lazily. */
int ka_logfile_open(const struct ka_logfile_opts *o, struct ka_logfile **out);
/* Writes one complete line (must end with LF) with a single write(2), rotating as needed. */
int ka_logfile_write(struct ka_logfile *lf, const char *line, size_t n);
/* Encodes ev in the configured format (wo applies to JSON) and writes it. */
int ka_logfile_write_event(struct ka_logfile *lf, const struct ka_event *ev,
                           const struct ka_write_opts *wo);
/* Writes the events gathered by coalesce_bytes (no-op otherwise). */
int ka_logfile_flush(struct ka_logfile *lf);
/* Flushes, then fsync(2) of the current file (no-op for stdout). */
int ka_logfile_sync(struct ka_logfile *lf);
void ka_logfile_stats(const struct ka_logfile *lf, struct ka_logfile_stats *st);
/* Waits until the mill (pruning, compression) has nothing left to do. */
void ka_logfile_mill_wait(struct ka_logfile *lf);
/* Closes the file after the mill finished. NULL is a no-op. */
void ka_logfile_close(struct ka_logfile *lf);

/*
 * The legacy format line of ev (spec §5.3), with LF, appended to out. The time zone is the
 * process's (TZ); tz_offset_override_sec, when not NULL, forces a fixed offset (tests).
 */
int ka_legacy_format(const struct ka_event *ev, const int *tz_offset_override_sec,
                     struct ka_buf *out);

#endif
