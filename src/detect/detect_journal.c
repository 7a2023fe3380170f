/*
 * detect_journal.c - live detection in the collector: one thread reads the journal through a
 * cursor, evaluates each event with the compiled rules and hands every alert, rendered once as
 * Falco JSON and as text, to each sink; the cursor is committed after the alerts went out.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/buf.h"
#include "kaudit/detect_journal.h"
#include "kaudit/thread.h"

#define DJ_WAIT_MS 200
#define DJ_COMMIT_MS_DEFAULT 1000

struct ka_detect_journal {
    struct ka_detect_journal_opts o;
    struct ka_cursor *cur;
    struct ka_detect_ctx *ctx;
    pthread_t th;
    atomic_bool stop;
    struct ka_buf json, text;
    bool dirty; /* records read since the last commit */
    uint64_t last_commit_ms;
    _Atomic uint64_t events, alerts, bad_lines, sink_errors, commits;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void dj_log(struct ka_detect_journal *c, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dj_log(struct ka_detect_journal *c, enum ka_sev sev, const char *fmt, ...)
{
    if (!c->o.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->o.log(c->o.log_ud, sev, msg);
}

/* One alert: render it once, then give it to every sink. */
static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct ka_detect_journal *c = ud;
    ka_buf_reset(&c->json);
    ka_buf_reset(&c->text);
    if (ka_detect_format_json(m, &c->json) || ka_detect_format_text(m, &c->text)) {
        atomic_fetch_add(&c->sink_errors, c->o.n_sinks);
        return 0;
    }
    struct ka_alert a = {.json = c->json.p, .json_len = c->json.n, .text = c->text.p,
                         .text_len = c->text.n, .priority = m->priority, .rule = m->rule};
    for (size_t i = 0; i < c->o.n_sinks; i++) {
        if (ka_alert_sink_emit(c->o.sinks[i], &a) != KA_OK) {
            if (atomic_fetch_add(&c->sink_errors, 1) == 0)
                dj_log(c, KA_SEV_WARNING,
                       "detect: an alert of rule '%s' could not be delivered (further failures "
                       "are counted, not logged)", m->rule);
        }
    }
    atomic_fetch_add(&c->alerts, 1);
    return 0;
}

static void commit(struct ka_detect_journal *c)
{
    for (size_t i = 0; i < c->o.n_sinks; i++) ka_alert_sink_flush(c->o.sinks[i]);
    int rc = ka_cursor_commit(c->cur);
    if (rc != KA_OK)
        dj_log(c, KA_SEV_WARNING,
               "detect: cursor not committed (%s): alerts since the last commit repeat after a "
               "restart", ka_strerror(rc));
    else
        atomic_fetch_add(&c->commits, 1);
    c->dirty = false;
    c->last_commit_ms = mono_ms();
}

static void *dj_main(void *arg)
{
    struct ka_detect_journal *c = arg;
    ka_thread_lower_priority(KA_CONSUMER_NICE);
    int period = c->o.commit_ms > 0 ? c->o.commit_ms : DJ_COMMIT_MS_DEFAULT;
    c->last_commit_ms = mono_ms();
    while (!atomic_load(&c->stop)) {
        struct ka_tail_rec rec;
        int rc = ka_cursor_next(c->cur, &rec, DJ_WAIT_MS);
        if (rc == 1) {
            atomic_fetch_add(&c->events, 1);
            c->dirty = true;
            int n = ka_detect_eval_line(c->ctx, rec.line, rec.len, on_alert, c);
            if (n == KA_ENOTEVENT || n == KA_ESYNTAX) atomic_fetch_add(&c->bad_lines, 1);
        } else if (rc < 0) {
            dj_log(c, KA_SEV_ERROR, "detect: reading the journal failed (%s); retrying in 1 s",
                   ka_strerror(rc));
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
        if (c->dirty && mono_ms() - c->last_commit_ms >= (uint64_t)period) commit(c);
    }
    if (c->dirty) commit(c);
    return NULL;
}

int ka_detect_journal_start(struct ka_journal *j, const struct ka_detect_journal_opts *o,
                            struct ka_detect_journal **out)
{
    if (!j || !o || !o->engine || !o->sinks || o->n_sinks == 0) return KA_EINVAL;
    struct ka_detect_journal *c = calloc(1, sizeof *c);
    if (!c) return KA_ENOMEM;
    c->o = *o;
    int rc = ka_detect_ctx_new(o->engine, &c->ctx);
    if (rc == KA_OK) rc = ka_cursor_open(j, o->cursor ? o->cursor : "detect", &c->cur);
    if (rc == KA_OK && pthread_create(&c->th, NULL, dj_main, c) != 0) rc = KA_ENOMEM;
    if (rc != KA_OK) {
        ka_cursor_close(c->cur);
        ka_detect_ctx_free(c->ctx);
        free(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

void ka_detect_journal_stats(struct ka_detect_journal *c, struct ka_detect_journal_stats *st)
{
    st->events = atomic_load(&c->events);
    st->alerts = atomic_load(&c->alerts);
    st->bad_lines = atomic_load(&c->bad_lines);
    st->sink_errors = atomic_load(&c->sink_errors);
    st->commits = atomic_load(&c->commits);
}

void ka_detect_journal_stop(struct ka_detect_journal *c)
{
    if (!c) return;
    atomic_store(&c->stop, true);
    pthread_join(c->th, NULL);
    ka_cursor_close(c->cur);
    ka_detect_ctx_free(c->ctx);
    ka_buf_free(&c->json);
    ka_buf_free(&c->text);
    free(c);
}
