/*
 * logset.h - turning FILE arguments into the ordered list of audit log files to read.
 *
 * kube-apiserver's log backend rotates its file with lumberjack (spec §5.4): the live file
 * `audit.log` is renamed to `audit-2026-07-23T18-32-12.345.log` (the rotation time, UTC, in
 * milliseconds) and, with --audit-log-compress, later gzipped to `...345.log.gz`. A log set is
 * the live file with all its backups. ka_logset_expand() maps one argument to files:
 *
 *   "-"            stdin, as is.
 *   a .gz file     as is (it is a backup or an archive, never a live log).
 *   a directory    every regular, non-hidden file directly in it (not recursive), grouped into
 *                  log sets by live name; sets in byte order of the live name; inside a set the
 *                  backups oldest first by their parsed timestamp, then the live file. A file
 *                  that is no backup forms a set of its own (so README.txt is read too).
 *   another path   a log path: its backups in the same directory, oldest first, then the path
 *                  itself. Backups are matched exactly as lumberjack names them: the live base
 *                  name without its final extension, '-', a timestamp that parses
 *                  (YYYY-MM-DDTHH-MM-SS.mmm, a real date and time), the extension, and an
 *                  optional ".gz"; `audit.log.1` or `audit-latest.log` are not backups. When
 *                  the path itself is missing but backups exist, the backups are read.
 *
 * If `x.log` and `x.log.gz` both exist for one timestamp, lumberjack is compressing: it writes
 * the .gz next to the plain file and removes the plain file only once the .gz is complete (a
 * failed compression removes the partial .gz instead). The plain file is therefore always
 * complete and the .gz may not be; only the plain one is read, the .gz goes to `skipped`.
 *
 * With no_backups only the file named is read; in a directory, only files that are no backups.
 *
 * Limits: at most max_files files per argument (KA_LOGSET_DEFAULT_MAX_FILES when 0) and paths
 * up to KA_LOGSET_MAX_PATH bytes. The set owns every string in it; ka_logset_free() frees them.
 */
#ifndef KAUDIT_LOGSET_H
#define KAUDIT_LOGSET_H

#include <stddef.h>

#define KA_LOGSET_DEFAULT_MAX_FILES 100000u
#define KA_LOGSET_MAX_PATH 4096u
#define KA_LOGSET_TS_LEN 23u /* "2026-07-23T18-32-12.345" */

enum ka_logset_kind {
    KA_LOGSET_PLAIN = 0, /* named as is (stdin, a .gz file, with no_backups, or not a log) */
    KA_LOGSET_LIVE = 1,  /* the live file of a set that was searched for backups */
    KA_LOGSET_BACKUP = 2 /* a rotated backup */
};

struct ka_logset_file {
    char *path;               /* as given, or "<dir>/<name>" */
    enum ka_logset_kind kind;
    int gz;                   /* backups: compressed (name ends in ".gz") */
    long long ts_ms;          /* backups: rotation time, ms since 1970-01-01 UTC */
};

struct ka_logset_opts {
    int no_backups;
    size_t max_files; /* per argument; 0 = KA_LOGSET_DEFAULT_MAX_FILES */
};

/* Zero-initialise. files: what to read, in order; skipped: .gz twins not read (see above). */
struct ka_logset {
    struct ka_logset_file *files;
    size_t n, cap;
    struct ka_logset_file *skipped;
    size_t n_skipped, cap_skipped;
};

/*
 * Appends the files of one argument to *set. Returns KA_OK; KA_ENOENT when the argument does
 * not exist and has no backups; KA_EIO when a directory cannot be listed (errno kept);
 * KA_ETOOBIG past max_files or KA_LOGSET_MAX_PATH; KA_ENOMEM. On error *set is unchanged.
 */
int ka_logset_expand(const char *arg, const struct ka_logset_opts *opts, struct ka_logset *set);
void ka_logset_free(struct ka_logset *set);

/*
 * Parses a lumberjack timestamp of exactly KA_LOGSET_TS_LEN bytes into ms since the epoch
 * (UTC). Every field must be digits and in range (month 1-12, day within the month, hour 0-23,
 * minute and second 0-59), as Go's time.Parse checks. Returns KA_OK or KA_EINVAL.
 */
int ka_logset_parse_ts(const char *s, long long *ms);

/*
 * Whether name (a base name, no directory) is a lumberjack backup of the live base name live:
 * `<live without ext>-<TS><ext>` or the same plus ".gz", ext being live's final ".xxx" (Go's
 * filepath.Ext; possibly empty). Returns 1 with *ts_ms and *gz set, or 0.
 */
int ka_logset_is_backup(const char *live, const char *name, long long *ts_ms, int *gz);

#endif
