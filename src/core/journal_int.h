/*
 * journal_int.h - internals shared by journal.c (appends, group commit) and journal_retain.c
 * (segments, cursors, retention).
 */
#ifndef KAUDIT_JOURNAL_INT_H
#define KAUDIT_JOURNAL_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kaudit/journal.h"
#include "kaudit/logfile.h"

#define JR_MAX_RETIRED 16
#define JR_NAME_MAX 64

/* One append waiting for its fsync (lives on the appender's stack). */
struct jr_waiter {
    uint64_t seq;
    size_t n_events, len;
    int rc;
    bool done;
    struct jr_waiter *next;
};

/* What one leader fsyncs. */
struct jr_sync {
    int fds[JR_MAX_RETIRED + 1];
    size_t n;
    bool dir, failed_before;
    uint64_t target;
    unsigned gen;
};

struct ka_journal {
    struct ka_journal_opts o;
    char dir[PATH_MAX], path[PATH_MAX], cdir[PATH_MAX];
    struct ka_logfile *lf;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool inited;
    /* group commit */
    uint64_t written_seq;
    struct jr_waiter *head, *tail;
    bool syncing, broken;
    bool torn_at_open; /* broken because the live file ended in a torn line at open */
    unsigned gen;             /* bumped by each recovery (new segment after an error) */
    int sync_fd;              /* read-only descriptor on the live segment, -1 before a write */
    int retired[JR_MAX_RETIRED]; /* rotated segments not fsynced yet */
    size_t n_retired;
    bool retired_failed;      /* an early fsync of a retired segment failed */
    bool dir_dirty;           /* a segment was created or renamed since the last fsync */
    uint64_t rot_seen;        /* ka_logfile rotations already followed by sync_fd */
    uint64_t rot_total;       /* rotations over the journal's life */
    /* retention */
    uint64_t disk_bytes, segments;
    bool full;                /* over max_disk after the last retention run */
    uint64_t commit_gen;      /* bumped by cursor commits */
    uint64_t retain_key;      /* commit_gen + rot_total at the last retention run */
    char cur_names[KA_JOURNAL_MAX_CURSORS][JR_NAME_MAX + 1]; /* open cursors ("" = free) */
    struct ka_journal_stats st;
};

uint64_t jr_now_ns(void);
void jr_log(struct ka_journal *j, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Retention with j->mu held: deletes segments, updates disk_bytes, segments and full. */
int jr_retain_locked(struct ka_journal *j);
/* Renames a non-empty live file to a fresh backup name (a new segment starts). */
int jr_set_aside(struct ka_journal *j);
/* 1 when the file of size bytes does not end in LF. */
int jr_ends_partial(const char *path, off_t size);

#endif
