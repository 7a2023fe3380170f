/*
 * journal_sink.c - connects the webhook server to a real journal (include/kaudit/journal.h).
 * Kept apart so that the server itself can be used with any sink.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kaudit/journal.h"
#include "webhook_int.h"

static int sink_append(void *ud, const char *lines, size_t len, size_t n_events)
{
    return ka_journal_append(ud, lines, len, n_events);
}

static void sink_stats(void *ud, uint64_t *disk_bytes, uint64_t *fsyncs, uint64_t *fsync_ns)
{
    struct ka_journal_stats st;
    ka_journal_stats(ud, &st);
    *disk_bytes = st.disk_bytes;
    *fsyncs = st.fsyncs;
    *fsync_ns = st.fsync_ns_total;
}

/* The live file, or its directory while the file does not exist yet. */
static bool sink_writable(void *ud)
{
    const char *path = ka_journal_path(ud);
    if (access(path, W_OK) == 0) return true;
    if (errno != ENOENT) return false;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) return access(".", W_OK) == 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return access(dir, W_OK) == 0;
}

struct lag_out {
    struct ka_buf *out;
    int rc;
};

static void put_lag(void *ud, const char *name, const struct ka_cursor_lag *lag)
{
    struct lag_out *lo = ud;
    if (lo->rc == KA_OK)
        lo->rc = ka_buf_printf(lo->out,
                               "kaudit_consumer_lag_bytes{consumer=\"%s\"} %llu\n"
                               "kaudit_consumer_lag_seconds{consumer=\"%s\"} %lld\n",
                               name, (unsigned long long)lag->bytes, name,
                               (long long)lag->seconds);
}

/* Each journal consumer's lag: bytes not yet committed, and their age. */
static int sink_metrics(void *ud, struct ka_buf *out)
{
    struct lag_out lo = {out, ka_buf_puts(out, "# HELP kaudit_consumer_lag_bytes Journal bytes "
                                               "a consumer has not committed yet.\n"
                                               "# TYPE kaudit_consumer_lag_bytes gauge\n"
                                               "# HELP kaudit_consumer_lag_seconds Age of the "
                                               "oldest journal data a consumer has not "
                                               "committed.\n"
                                               "# TYPE kaudit_consumer_lag_seconds gauge\n")};
    if (lo.rc == KA_OK)
        ka_journal_lags(ud, put_lag, &lo); /* an unreadable cursor is left out */
    return lo.rc;
}

void ka_webhook_journal_sink(struct ka_journal *j, struct ka_webhook_sink *out)
{
    out->metrics = sink_metrics;
    out->append = sink_append;
    out->stats = sink_stats;
    out->writable = sink_writable;
    out->ud = j;
}
