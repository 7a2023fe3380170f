/*
 * metrics.c - the collector's counters and their Prometheus text exposition (/metrics).
 */
#include <inttypes.h>

#include "webhook_int.h"

const int ka_wh_codes[KA_WH_N_CODES] = {200, 400, 401, 404, 405, 413, 415, 500, 503, 408};

const double ka_wh_buckets[KA_WH_N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10,   30};

static const char *const refuse_names[KA_WH_N_REFUSE] = {
    "not_event", "event_too_large", "policy", "journal_io", "journal_full", "internal"};

void ka_wh_count_request(struct ka_webhook_server *s, int status)
{
    size_t i = 0;
    while (i < KA_WH_N_CODES && ka_wh_codes[i] != status)
        i++;
    atomic_fetch_add(&s->m.requests[i], 1);
}

void ka_wh_observe_batch(struct ka_webhook_server *s, uint64_t ns)
{
    double sec = (double)ns / 1e9;
    size_t i = 0;
    while (i < KA_WH_N_BUCKETS && sec > ka_wh_buckets[i])
        i++;
    if (i < KA_WH_N_BUCKETS) atomic_fetch_add(&s->m.batch_bucket[i], 1);
    atomic_fetch_add(&s->m.batch_count, 1);
    atomic_fetch_add(&s->m.batch_ns, ns);
}

static int counter(struct ka_buf *o, const char *name, const char *help, uint64_t v)
{
    return ka_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name,
                         name, v);
}

static int requests(struct ka_webhook_server *s, struct ka_buf *o)
{
    int rc = ka_buf_puts(o, "# HELP kaudit_requests_total HTTP requests answered, by status.\n"
                            "# TYPE kaudit_requests_total counter\n");
    for (size_t i = 0; i < KA_WH_N_CODES && rc == KA_OK; i++)
        rc = ka_buf_printf(o, "kaudit_requests_total{code=\"%d\"} %" PRIu64 "\n", ka_wh_codes[i],
                           (uint64_t)atomic_load(&s->m.requests[i]));
    rc = rc ? rc
            : ka_buf_printf(o, "kaudit_requests_total{code=\"other\"} %" PRIu64 "\n",
                            (uint64_t)atomic_load(&s->m.requests[KA_WH_N_CODES]));
    rc = rc ? rc
            : ka_buf_puts(o, "# HELP kaudit_events_refused_total Events not journaled, "
                             "by reason.\n# TYPE kaudit_events_refused_total counter\n");
    for (size_t i = 0; i < KA_WH_N_REFUSE && rc == KA_OK; i++)
        rc = ka_buf_printf(o, "kaudit_events_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                           refuse_names[i], (uint64_t)atomic_load(&s->m.refused[i]));
    return rc;
}

static int histogram(struct ka_webhook_server *s, struct ka_buf *o)
{
    int rc = ka_buf_puts(o, "# HELP kaudit_batch_seconds Time to handle one batch, from the "
                            "complete body to the durable append.\n"
                            "# TYPE kaudit_batch_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < KA_WH_N_BUCKETS && rc == KA_OK; i++) {
        cum += atomic_load(&s->m.batch_bucket[i]);
        rc = ka_buf_printf(o, "kaudit_batch_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                           ka_wh_buckets[i], cum);
    }
    uint64_t n = atomic_load(&s->m.batch_count);
    double sum = (double)atomic_load(&s->m.batch_ns) / 1e9;
    rc = rc ? rc : ka_buf_printf(o, "kaudit_batch_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", n);
    rc = rc ? rc : ka_buf_printf(o, "kaudit_batch_seconds_sum %.9f\n", sum);
    rc = rc ? rc : ka_buf_printf(o, "kaudit_batch_seconds_count %" PRIu64 "\n", n);
    return rc;
}

static int journal(struct ka_webhook_server *s, struct ka_buf *o)
{
    uint64_t disk = 0, fsyncs = 0, fsync_ns = 0;
    if (s->o.sink.stats) s->o.sink.stats(s->o.sink.ud, &disk, &fsyncs, &fsync_ns);
    int rc = ka_buf_printf(o,
                           "# HELP kaudit_journal_bytes Bytes of the journal on disk.\n"
                           "# TYPE kaudit_journal_bytes gauge\nkaudit_journal_bytes %" PRIu64 "\n",
                           disk);
    rc = rc ? rc
            : ka_buf_printf(o,
                            "# HELP kaudit_journal_fsync_seconds_total Time spent in "
                            "journal fsyncs.\n# TYPE kaudit_journal_fsync_seconds_total "
                            "counter\nkaudit_journal_fsync_seconds_total %.9f\n",
                            (double)fsync_ns / 1e9);
    rc = rc ? rc
            : counter(o, "kaudit_journal_fsyncs_total", "Journal fsyncs (group commit).", fsyncs);
    return rc;
}

int ka_webhook_metrics(struct ka_webhook_server *s, struct ka_buf *out)
{
    int rc = counter(out, "kaudit_events_received_total", "Items received in valid batches.",
                     atomic_load(&s->m.received));
    rc = rc ? rc
            : counter(out, "kaudit_events_accepted_total", "Events made durable in the journal.",
                      atomic_load(&s->m.accepted));
    rc = rc ? rc
            : counter(out, "kaudit_bytes_received_total", "Request body bytes received.",
                      atomic_load(&s->m.bytes));
    rc = rc ? rc : requests(s, out);
    rc = rc ? rc : histogram(s, out);
    rc = rc ? rc : journal(s, out);
    if (!rc && s->o.sink.metrics)
        rc = s->o.sink.metrics(s->o.sink.ud, out);
    return rc;
}
