/*
 * detect_journal.h - live detection in the collector: a journal consumer that runs a compiled
 * rule set (include/kaudit/detect.h) on every event as it becomes durable and hands each alert
 * to the alert sinks (include/kaudit/alert.h).
 *
 * The consumer reads the journal through its own cursor (default name "detect"). The cursor is
 * committed only after the alerts of every event before it were handed to every sink, so a
 * crash or restart repeats at most the alerts of the last commit period (at least once, never
 * lost). A sink that fails is counted and logged; the event is not retried (a webhook sink
 * retries by itself before it fails).
 *
 * Ownership: the engine and the sinks are borrowed and must outlive the consumer; the consumer
 * is the only user of the sinks while it runs. One thread per consumer.
 */
#ifndef KAUDIT_DETECT_JOURNAL_H
#define KAUDIT_DETECT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kaudit/alert.h"
#include "kaudit/detect.h"
#include "kaudit/err.h"
#include "kaudit/journal.h"

struct ka_detect_journal_opts {
    const struct ka_detect *engine;    /* compiled */
    struct ka_alert_sink *const *sinks; /* at least one */
    size_t n_sinks;
    const char *cursor;                /* NULL = "detect" */
    int commit_ms;                     /* cursor commit period; 0 = 1000 */
    void (*log)(void *ud, enum ka_sev sev, const char *msg); /* may be NULL */
    void *log_ud;
};

struct ka_detect_journal_stats {
    uint64_t events;      /* journal lines evaluated */
    uint64_t alerts;      /* alerts handed to the sinks */
    uint64_t bad_lines;   /* lines that are not audit events (counted, skipped) */
    uint64_t sink_errors; /* failed deliveries, over all sinks */
    uint64_t commits;
};

struct ka_detect_journal;

/* Opens the cursor and starts the thread. KA_EINVAL (no engine or sink), KA_ENOMEM, or the
 * cursor's error. */
int ka_detect_journal_start(struct ka_journal *j, const struct ka_detect_journal_opts *o,
                            struct ka_detect_journal **out);
/* Thread-safe snapshot. */
void ka_detect_journal_stats(struct ka_detect_journal *c, struct ka_detect_journal_stats *st);
/* Finishes the event in hand, commits the cursor, stops the thread and frees c. NULL: no-op. */
void ka_detect_journal_stop(struct ka_detect_journal *c);

#endif
