/*
 * serve_consumers.c - the journal consumers that `kaudit serve` runs beside its intake: the
 * store (store.*: SQLite index for kaudit query), live detection (detect.*: rules and alert
 * sinks) and forwarding (forward.outputs). Each reads the journal through its own cursor, so
 * one that is slow or down never holds the others or the intake back; retention keeps the
 * segments a consumer still needs (docs/journal.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kaudit/alert.h"
#include "kaudit/buf.h"
#include "kaudit/default_rules.h"
#include "kaudit/detect.h"
#include "kaudit/detect_journal.h"
#include "kaudit/forward.h"
#include "kaudit/store.h"
#include "serve_consumers.h"

#define MAX_SINKS 4

struct serve_consumers {
    struct ka_store_consumer *store;
    struct ka_detect *engine;
    struct ka_alert_sink *sinks[MAX_SINKS];
    size_t n_sinks;
    struct ka_detect_journal *detect;
    struct ka_forward *fwd;
    struct ka_forward_output_cfg *outs;
    size_t n_outs;
    char *alerts_path;
};

static void say(const struct serve_consumers_opts *o, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const struct serve_consumers_opts *o, enum ka_sev sev, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->log(o->log_ud, sev, msg);
}

static void say_diag(const struct serve_consumers_opts *o, const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].sev != KA_SEV_NOTE) o->log(o->log_ud, d->v[i].sev, d->v[i].msg);
}

static int start_store(struct serve_consumers *c, const struct ka_serve_cfg *sc,
                       struct ka_journal *j, const struct serve_consumers_opts *o)
{
    struct ka_store_consumer_opts so = {.max_age_sec = sc->store_max_age_ms / 1000,
                                        .max_bytes = sc->store_max_size,
                                        .batch_events = (size_t)sc->store_batch_events,
                                        .batch_bytes = (size_t)sc->store_batch_size,
                                        .cache_mb = (unsigned)(sc->store_cache_size >> 20),
                                        .log = o->log,
                                        .log_ud = o->log_ud};
    int rc = ka_store_consumer_start(j, sc->data_dir, &so, &c->store);
    if (rc != KA_OK)
        say(o, KA_SEV_ERROR, "store: cannot start the store consumer in %s/store: %s",
            sc->data_dir, ka_strerror(rc));
    return rc;
}

/* The rule set: detect.rules in order, or the embedded default rules. */
static int load_rules(struct serve_consumers *c, const struct ka_serve_cfg *sc,
                      const struct serve_consumers_opts *o)
{
    struct ka_detect_opts dopt;
    ka_detect_opts_default(&dopt);
    dopt.matching = sc->detect_matching == KA_CFG_MATCH_ALL ? KA_DETECT_ALL : KA_DETECT_FIRST;
    dopt.min_priority = (enum ka_prio)sc->detect_min_priority;
    int rc = ka_detect_new(&dopt, &c->engine);
    struct ka_diag d = {0};
    for (size_t i = 0; rc == KA_OK && i < sc->detect_rules.n; i++)
        rc = ka_detect_load_file(c->engine, sc->detect_rules.v[i], &d);
    if (rc == KA_OK && sc->detect_rules.n == 0)
        rc = ka_detect_load_mem(c->engine, KA_DEFAULT_RULES_NAME, ka_default_rules,
                                ka_default_rules_len, &d);
    if (rc == KA_OK) rc = ka_detect_compile(c->engine, &d);
    say_diag(o, &d);
    ka_diag_free(&d);
    if (rc != KA_OK)
        say(o, KA_SEV_ERROR, "detect: the rules cannot be used (%s): fix them or set "
            "detect.enabled: false", ka_strerror(rc));
    return rc;
}

static int add_sink(struct serve_consumers *c, const struct ka_alert_sink_opts *so,
                    const struct serve_consumers_opts *o, const char *what)
{
    int rc = ka_alert_sink_new(so, &c->sinks[c->n_sinks]);
    if (rc != KA_OK) {
        say(o, KA_SEV_ERROR, "detect: alert sink %s cannot be opened: %s", what, ka_strerror(rc));
        return rc;
    }
    c->n_sinks++;
    return KA_OK;
}

static int open_sinks(struct serve_consumers *c, const struct ka_serve_cfg *sc,
                      const struct serve_consumers_opts *o)
{
    struct ka_alert_sink_opts so;
    ka_alert_sink_opts_default(&so, KA_ALERT_FILE);
    if (sc->alerts_file && *sc->alerts_file) {
        so.path = sc->alerts_file;
    } else {
        struct ka_buf p = {0};
        int rc = ka_buf_printf(&p, "%s/alerts", sc->data_dir);
        if (rc == KA_OK && (!ka_buf_cstr(&p) || (mkdir(p.p, 0700) && errno != EEXIST))) {
            say(o, KA_SEV_ERROR, "detect: cannot create %s: %s", p.p ? p.p : "", strerror(errno));
            rc = KA_EIO;
        }
        rc = rc ? rc : ka_buf_puts(&p, "/alerts.json");
        if (rc != KA_OK || !ka_buf_cstr(&p)) {
            ka_buf_free(&p);
            return rc ? rc : KA_ENOMEM;
        }
        c->alerts_path = p.p; /* owned from here on */
        so.path = c->alerts_path;
    }
    int rc = add_sink(c, &so, o, so.path);
    if (rc == KA_OK && sc->alerts_stdout) {
        ka_alert_sink_opts_default(&so, KA_ALERT_STDOUT);
        rc = add_sink(c, &so, o, "stdout");
    }
    if (rc == KA_OK && sc->alerts_webhook && *sc->alerts_webhook) {
        ka_alert_sink_opts_default(&so, KA_ALERT_WEBHOOK);
        so.url = sc->alerts_webhook;
        rc = add_sink(c, &so, o, sc->alerts_webhook);
    }
    if (rc == KA_OK && sc->alerts_syslog && *sc->alerts_syslog) {
        ka_alert_sink_opts_default(&so, KA_ALERT_SYSLOG);
        so.syslog_addr = sc->alerts_syslog;
        rc = add_sink(c, &so, o, sc->alerts_syslog);
    }
    return rc;
}

static int start_detect(struct serve_consumers *c, const struct ka_serve_cfg *sc,
                        struct ka_journal *j, const struct serve_consumers_opts *o)
{
    int rc = load_rules(c, sc, o);
    rc = rc ? rc : open_sinks(c, sc, o);
    if (rc != KA_OK) return rc;
    struct ka_detect_journal_opts dj = {.engine = c->engine,
                                        .sinks = c->sinks,
                                        .n_sinks = c->n_sinks,
                                        .log = o->log,
                                        .log_ud = o->log_ud};
    rc = ka_detect_journal_start(j, &dj, &c->detect);
    if (rc != KA_OK)
        say(o, KA_SEV_ERROR, "detect: cannot start the detection consumer: %s", ka_strerror(rc));
    return rc;
}

static int start_forward(struct serve_consumers *c, const struct ka_serve_cfg *sc,
                         struct ka_journal *j, const struct serve_consumers_opts *o)
{
    const struct ka_serve_output *items = sc->outputs.v;
    c->n_outs = sc->outputs.n;
    c->outs = calloc(c->n_outs, sizeof *c->outs);
    if (!c->outs) return KA_ENOMEM;
    char err[512];
    for (size_t i = 0; i < c->n_outs; i++) {
        struct ka_forward_output_cfg *oc = &c->outs[i];
        ka_forward_cfg_default(oc);
        oc->name = items[i].name && *items[i].name ? items[i].name : NULL;
        oc->url = items[i].url;
        oc->policy_file = items[i].policy && *items[i].policy ? items[i].policy : NULL;
        oc->out.log = o->log;
        oc->out.log_ud = o->log_ud;
        if (items[i].options.n > KA_FORWARD_MAX_OPTIONS) {
            say(o, KA_SEV_ERROR, "forward.outputs[%zu]: more than %d options", i,
                KA_FORWARD_MAX_OPTIONS);
            return KA_EINVAL;
        }
        for (size_t k = 0; k < items[i].options.n; k++)
            oc->options[oc->n_options++] = items[i].options.v[k];
    }
    struct ka_buf dl = {0};
    int rc = ka_buf_printf(&dl, "%s/deadletter", sc->data_dir);
    if (rc == KA_OK && !ka_buf_cstr(&dl)) rc = KA_ENOMEM;
    struct ka_forward_opts fo = {.dead_letter_dir = dl.p, .log = o->log, .log_ud = o->log_ud};
    if (rc == KA_OK) rc = ka_forward_start(j, c->outs, c->n_outs, &fo, &c->fwd, err, sizeof err);
    if (rc != KA_OK) say(o, KA_SEV_ERROR, "forward: %s (%s)", err, ka_strerror(rc));
    ka_buf_free(&dl);
    return rc;
}

int serve_consumers_start(const struct ka_serve_cfg *sc, struct ka_journal *j,
                          const struct serve_consumers_opts *o, struct serve_consumers **out)
{
    struct serve_consumers *c = calloc(1, sizeof *c);
    if (!c) return KA_ENOMEM;
    int rc = KA_OK;
    if (sc->store_enabled) rc = start_store(c, sc, j, o);
    if (rc == KA_OK && sc->detect_enabled) rc = start_detect(c, sc, j, o);
    if (rc == KA_OK && sc->outputs.n) rc = start_forward(c, sc, j, o);
    if (rc != KA_OK) {
        serve_consumers_stop(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

void serve_consumers_stop(struct serve_consumers *c)
{
    if (!c) return;
    ka_forward_stop(c->fwd);
    ka_detect_journal_stop(c->detect);
    for (size_t i = 0; i < c->n_sinks; i++) ka_alert_sink_free(c->sinks[i]);
    ka_detect_free(c->engine);
    ka_store_consumer_stop(c->store);
    free(c->outs);
    free(c->alerts_path);
    free(c);
}
