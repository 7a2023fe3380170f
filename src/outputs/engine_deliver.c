/*
 * engine_deliver.c - the forwarding engine's workers: format and send one batch, resend the
 * items reported RETRY after an exponential backoff with jitter, dead-letter PERMANENT items
 * and those that ran out of retries, and confirm the batch to the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "kaudit/thread.h"
#include "kaudit/jsonw.h"

int64_t ka_fwd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ka_fwd_log(struct ka_fwd_out *o, enum ka_sev sev, const char *fmt, ...)
{
    if (!o->f->fo.log) return;
    char msg[512];
    int w = snprintf(msg, sizeof msg, "forward %s: ", o->name);
    va_list ap;
    va_start(ap, fmt);
    if (w > 0 && (size_t)w < sizeof msg) vsnprintf(msg + w, sizeof msg - (size_t)w, fmt, ap);
    va_end(ap);
    o->f->fo.log(o->f->fo.log_ud, sev, msg);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return KA_EIO;
        p += w;
        n -= (size_t)w;
    }
    return KA_OK;
}

int ka_fwd_dead_letter(struct ka_fwd_out *o, const char *line, size_t len, bool is_json,
                       const char *reason)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = ka_buf_puts(&b, "{\"time\":");
    rc = rc ? rc : ka_jw_microtime(&b, ts.tv_sec, (int32_t)ts.tv_nsec);
    rc = rc ? rc : ka_buf_puts(&b, ",\"output\":");
    rc = rc ? rc : ka_jw_str(&b, o->name, strlen(o->name));
    rc = rc ? rc : ka_buf_puts(&b, ",\"reason\":");
    rc = rc ? rc : ka_jw_str(&b, reason, strlen(reason));
    rc = rc ? rc : ka_buf_puts(&b, is_json ? ",\"event\":" : ",\"line\":");
    rc = rc ? rc : (is_json ? ka_buf_append(&b, line, len) : ka_jw_str(&b, line, len));
    rc = rc ? rc : ka_buf_puts(&b, "}\n");
    if (rc) goto done;
    pthread_mutex_lock(&o->dl_mu);
    if (o->dl_fd < 0) o->dl_fd = open(o->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    rc = o->dl_fd < 0 ? KA_EIO : write_all(o->dl_fd, b.p, b.n);
    if (!rc && fdatasync(o->dl_fd) != 0) rc = KA_EIO;
    pthread_mutex_unlock(&o->dl_mu);
    if (rc) ka_fwd_log(o, KA_SEV_ERROR, "cannot write dead letter %s: %s", o->dl_path, strerror(errno));
done:
    ka_buf_free(&b);
    return rc;
}

/* Waits ms unless the output is stopping. Returns true when stopping. */
static bool sleep_or_stop(struct ka_fwd_out *o, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&o->mu);
    while (!o->stop && pthread_cond_timedwait(&o->cv, &o->mu, &ts) != ETIMEDOUT) {
    }
    bool stop = o->stop;
    pthread_mutex_unlock(&o->mu);
    return stop;
}

/* Exponential backoff with jitter: a random delay in [d/2, d], d = min * 2^(attempt-1). */
static int64_t backoff_ms(const struct ka_fwd_out *o, int attempt, uint64_t *rng)
{
    int64_t d = o->cfg.backoff_min_ms;
    for (int i = 1; i < attempt && d < o->cfg.backoff_max_ms; i++) d *= 2;
    if (d > o->cfg.backoff_max_ms) d = o->cfg.backoff_max_ms;
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return d / 2 + (int64_t)(*rng % (uint64_t)(d / 2 + 1));
}

struct ka_fwd_try {
    size_t *pend;            /* indices into the batch still to deliver */
    size_t n_pend;
    struct ka_out_event *sub; /* their events */
    struct ka_out_item *items;
    struct ka_buf body;
};

/* One format+send of the pending items; leaves the RETRY ones pending. */
static int try_once(struct ka_fwd_out *o, void *ctx, struct ka_fwd_batch *b, struct ka_fwd_try *t,
                    int attempt)
{
    struct ka_out_batch ob = {t->sub, t->n_pend};
    for (size_t i = 0; i < t->n_pend; i++) {
        t->sub[i] = b->oev[t->pend[i]];
        t->items[i].result = KA_OUT_OK;
        t->items[i].reason[0] = '\0';
    }
    ka_buf_reset(&t->body);
    int rc = o->ops->format(ctx, &ob, &t->body, t->items);
    if (!rc) rc = o->ops->send(ctx, &ob, &t->body, t->items);
    pthread_mutex_lock(&o->mu);
    o->st.requests++;
    if (rc) o->st.request_errors++;
    pthread_mutex_unlock(&o->mu);
    if (rc) {
        char why[96];
        snprintf(why, sizeof why, "request failed: %s", ka_strerror(rc));
        for (size_t i = 0; i < t->n_pend; i++)
            if (t->items[i].result != KA_OUT_PERMANENT) {
                t->items[i].result = KA_OUT_RETRY;
                if (!t->items[i].reason[0]) snprintf(t->items[i].reason, sizeof t->items[i].reason, "%s", why);
            }
    }
    size_t keep = 0;
    uint64_t sent = 0, dead = 0;
    for (size_t i = 0; i < t->n_pend; i++) {
        const struct ka_out_event *e = &t->sub[i];
        enum ka_out_result r = t->items[i].result;
        char reason[224];
        if (r == KA_OUT_RETRY && o->cfg.max_retries > 0 && attempt > o->cfg.max_retries) {
            snprintf(reason, sizeof reason, "gave up after %d retries: %s", o->cfg.max_retries,
                     t->items[i].reason);
            r = KA_OUT_PERMANENT;
        } else {
            snprintf(reason, sizeof reason, "%s", t->items[i].reason[0] ? t->items[i].reason : "rejected");
        }
        if (r == KA_OUT_PERMANENT && ka_fwd_dead_letter(o, e->line, e->len, true, reason) != KA_OK)
            r = KA_OUT_RETRY; /* not confirmed until it is on disk */
        if (r == KA_OUT_OK) sent++;
        else if (r == KA_OUT_PERMANENT) dead++;
        else t->pend[keep++] = t->pend[i];
    }
    t->n_pend = keep;
    pthread_mutex_lock(&o->mu);
    o->st.sent += sent;
    o->st.dead_lettered += dead;
    o->st.retried += keep;
    pthread_mutex_unlock(&o->mu);
    if (keep && attempt == 1) ka_fwd_log(o, KA_SEV_WARNING, "%zu events to retry: %s", keep, t->items[0].reason);
    return KA_OK;
}

/* Grows the worker's per-event arrays to n entries. */
static int try_reserve(struct ka_fwd_try *t, size_t n, size_t *cap)
{
    if (n <= *cap) return KA_OK;
    size_t *p = realloc(t->pend, n * sizeof *p);
    if (p) t->pend = p;
    struct ka_out_event *s = p ? realloc(t->sub, n * sizeof *s) : NULL;
    if (s) t->sub = s;
    struct ka_out_item *it = s ? realloc(t->items, n * sizeof *it) : NULL;
    if (!it) return KA_ENOMEM;
    t->items = it;
    *cap = n;
    return KA_OK;
}

/* Scans line i of b; one that is not an audit event is dead-lettered (retried until it is on
   disk). Returns 1 for an event, 0 for a dead letter, -1 when stopping. */
static int seal_one(struct ka_fwd_out *o, struct ka_fwd_batch *b, size_t i, uint64_t *rng)
{
    struct ka_scan_err se;
    const char *p = b->lines.p + b->off[i];
    b->oev[i] = (struct ka_out_event){p, b->len[i], &b->scan[i]};
    if (!ka_event_scan(p, b->len[i], NULL, &b->scan[i], &se)) return 1;
    b->oev[i].ev = NULL;
    char why[200];
    snprintf(why, sizeof why, "not an audit event: %s", se.msg);
    for (int attempt = 1; ka_fwd_dead_letter(o, p, b->len[i], false, why); attempt++)
        if (sleep_or_stop(o, backoff_ms(o, attempt, rng))) return -1;
    pthread_mutex_lock(&o->mu);
    o->st.dead_lettered++;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

/* Scans every line of b and lists the events in t->pend. Returns -1 when stopping. */
static int seal(struct ka_fwd_out *o, struct ka_fwd_batch *b, struct ka_fwd_try *t, uint64_t *rng)
{
    while (b->ev_cap < b->n) {
        size_t nc = b->n;
        struct ka_out_event *oev = realloc(b->oev, nc * sizeof *oev);
        if (oev) b->oev = oev;
        struct ka_event *sc = oev ? realloc(b->scan, nc * sizeof *sc) : NULL;
        if (sc) {
            b->scan = sc;
            b->ev_cap = nc;
        } else if (sleep_or_stop(o, backoff_ms(o, 1, rng))) {
            return -1;
        }
    }
    t->n_pend = 0;
    for (size_t i = 0; i < b->n; i++) {
        int r = seal_one(o, b, i, rng);
        if (r < 0) return -1;
        if (r) t->pend[t->n_pend++] = i;
    }
    return 0;
}

/* Delivers every event of b with the worker's buffers t. Returns 0 when confirmed, -1 when
   abandoned because of stop. */
static int deliver(struct ka_fwd_out *o, void *ctx, struct ka_fwd_batch *b, struct ka_fwd_try *t,
                   size_t *cap, uint64_t *rng)
{
    while (try_reserve(t, b->n, cap))
        if (sleep_or_stop(o, backoff_ms(o, 1, rng))) return -1;
    if (seal(o, b, t, rng)) return -1;
    for (int attempt = 1; t->n_pend; attempt++) {
        if (attempt > 1 && sleep_or_stop(o, backoff_ms(o, attempt - 1, rng))) return -1;
        try_once(o, ctx, b, t, attempt);
    }
    return 0;
}

void *ka_fwd_worker(void *arg)
{
    struct ka_fwd_worker_arg *wa = arg;
    struct ka_fwd_out *o = wa->o;
    if (o->cur) /* journal mode: a consumer of the collector's journal */
        ka_thread_lower_priority(KA_CONSUMER_NICE);
    void *ctx = o->ctx[wa->slot];
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(uintptr_t)wa * 2654435761u) ^
                   (uint64_t)ka_fwd_now_ms();
    if (!rng) rng = 1;
    struct ka_fwd_try t = {0};
    size_t cap = 0;
    ka_buf_init(&t.body, 0);
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (!o->stop && !o->q_head) pthread_cond_wait(&o->cv, &o->mu);
        struct ka_fwd_batch *b = o->stop ? NULL : o->q_head;
        if (b) {
            o->q_head = b->next;
            if (!o->q_head) o->q_tail = NULL;
            o->queued--;
            pthread_cond_broadcast(&o->cv);
        }
        pthread_mutex_unlock(&o->mu);
        if (!b) break;
        int rc = deliver(o, ctx, b, &t, &cap, &rng);
        pthread_mutex_lock(&o->mu);
        if (rc == 0) {
            o->busy--;
            o->busy_events -= b->n;
            if (b->marked) o->marks[b->seq % o->n_marks].done = true;
        }
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        if (rc) {
            ka_fwd_batch_free(b);
            break;
        }
        ka_fwd_batch_put(o, b);
    }
    free(t.pend);
    free(t.sub);
    free(t.items);
    ka_buf_free(&t.body);
    free(wa);
    return NULL;
}
