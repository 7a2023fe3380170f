/*
 * engine.c - the forwarding engine's setup and reader side: builds the outputs, reads the
 * journal through each output's cursor (or takes pushed events), applies the policy filter,
 * cuts batches by count/bytes/time, hands them to the workers, and commits the cursor position
 * of the last batch confirmed in reading order, without pausing. See include/kaudit/forward.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "kaudit/thread.h"

void ka_fwd_batch_free(struct ka_fwd_batch *b)
{
    if (!b) return;
    ka_buf_free(&b->lines);
    free(b->off);
    free(b->len);
    free(b->oev);
    free(b->scan);
    free(b);
}

void ka_fwd_batch_put(struct ka_fwd_out *o, struct ka_fwd_batch *b)
{
    pthread_mutex_lock(&o->mu);
    bool keep = o->n_spare < 2 * (size_t)o->n_workers + 2 && !o->stop;
    if (keep) {
        b->next = o->spare;
        o->spare = b;
        o->n_spare++;
    }
    pthread_mutex_unlock(&o->mu);
    if (!keep) ka_fwd_batch_free(b);
}

/* A recycled batch (emptied) or a new one. */
static struct ka_fwd_batch *batch_get(struct ka_fwd_out *o)
{
    pthread_mutex_lock(&o->mu);
    struct ka_fwd_batch *b = o->spare;
    if (b) {
        o->spare = b->next;
        o->n_spare--;
    }
    pthread_mutex_unlock(&o->mu);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return NULL;
        ka_buf_init(&b->lines, 0);
    }
    ka_buf_reset(&b->lines);
    b->n = 0;
    b->next = NULL;
    b->marked = false;
    b->seq = 0;
    b->first_ms = ka_fwd_now_ms();
    return b;
}

static int batch_add(struct ka_fwd_out *o, const char *line, size_t len)
{
    struct ka_fwd_batch *b = o->cur_batch;
    if (!b && !(b = o->cur_batch = batch_get(o))) return KA_ENOMEM;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        size_t *no = realloc(b->off, nc * sizeof *no);
        if (no) b->off = no;
        size_t *nl = no ? realloc(b->len, nc * sizeof *nl) : NULL;
        if (!nl) return KA_ENOMEM;
        b->len = nl;
        b->cap = nc;
    }
    b->off[b->n] = b->lines.n;
    b->len[b->n] = len;
    int rc = ka_buf_append(&b->lines, line, len);
    if (!rc) b->n++;
    return rc;
}

/* Journal mode, o->mu held: moves seq_done past the confirmed batches at its head, keeping the
   position of the last one in o->ready. */
static void advance_marks(struct ka_fwd_out *o)
{
    while (o->seq_done < o->seq_next) {
        struct ka_fwd_mark *m = &o->marks[o->seq_done % o->n_marks];
        if (!m->done) break;
        o->ready = m->pos;
        o->ready_records = m->records;
        o->have_ready = true;
        m->done = false;
        o->seq_done++;
    }
}

/* o->mu held: whether dispatch must wait (one batch queued per worker already, or every
   position slot taken behind a batch not confirmed yet). */
static bool dispatch_full(struct ka_fwd_out *o)
{
    if (o->marks) advance_marks(o);
    return o->queued >= (size_t)o->n_workers ||
           (o->marks && o->seq_next - o->seq_done >= o->n_marks);
}

/* Hands the current batch to the workers; waits while dispatch_full. */
static int dispatch(struct ka_fwd_out *o)
{
    struct ka_fwd_batch *b = o->cur_batch;
    if (!b) return KA_OK;
    o->cur_batch = NULL;
    pthread_mutex_lock(&o->mu);
    while (!o->stop && dispatch_full(o)) pthread_cond_wait(&o->cv, &o->mu);
    if (o->stop) {
        pthread_mutex_unlock(&o->mu);
        ka_fwd_batch_free(b);
        return KA_EINVAL;
    }
    if (o->marks) {
        struct ka_fwd_mark *m = &o->marks[o->seq_next % o->n_marks];
        ka_cursor_tell(o->cur, &m->pos);
        m->records = o->records;
        m->done = false;
        b->seq = o->seq_next++;
        b->marked = true;
    }
    if (o->q_tail) o->q_tail->next = b;
    else o->q_head = b;
    o->q_tail = b;
    o->queued++;
    o->busy++;
    o->busy_events += b->n;
    o->st.batches++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return KA_OK;
}

/* Waits until every dispatched batch is confirmed. Returns false when stopping. */
static bool wait_confirmed(struct ka_fwd_out *o)
{
    pthread_mutex_lock(&o->mu);
    while (!o->stop && o->busy) pthread_cond_wait(&o->cv, &o->mu);
    bool ok = !o->stop && !o->busy;
    pthread_mutex_unlock(&o->mu);
    return ok;
}

/* Policy filter: 0 = drop, 1 = keep as is, 2 = keep re-encoded in o->scratch. */
static int apply_policy(struct ka_fwd_out *o, const struct ka_event *ev)
{
    struct ka_attrs a;
    struct ka_decision d;
    ka_attrs_from_event(ev, &a);
    ka_policy_eval(o->policy, &a, &d);
    if (d.level == KA_LEVEL_NONE || (d.omit_stages & KA_STAGE_BIT(ev->stage_v))) return 0;
    if (d.level >= ev->level_v && !d.omit_managed_fields) return 1;
    struct ka_write_opts wo = {0};
    if (d.level < ev->level_v) {
        wo.level = ka_level_name(d.level);
        wo.drop_request_object = d.level < KA_LEVEL_REQUEST;
        wo.drop_response_object = d.level < KA_LEVEL_REQUEST_RESPONSE;
    }
    wo.omit_managed_fields = d.omit_managed_fields;
    ka_buf_reset(&o->scratch);
    if (ka_event_write(ev, &wo, &o->scratch)) return 1;
    if (o->scratch.n && o->scratch.p[o->scratch.n - 1] == '\n') o->scratch.n--;
    return 2;
}

/* Adds a line to the current batch and cuts it when full. */
static int add_line(struct ka_fwd_out *o, const char *line, size_t len)
{
    int rc = batch_add(o, line, len);
    if (rc) return rc;
    if (o->cur_batch->n >= o->cfg.batch_events || o->cur_batch->lines.n >= o->cfg.batch_bytes)
        return dispatch(o);
    return KA_OK;
}

/*
 * Takes one event line: filter, add, cut the batch when full. Without a policy the line is
 * not scanned here: the worker scans it when it seals the batch and dead-letters what is not
 * an audit event, so the reader does the least work per line.
 */
static int take_line(struct ka_fwd_out *o, const char *line, size_t len)
{
    struct ka_event ev;
    struct ka_scan_err se;
    pthread_mutex_lock(&o->mu);
    o->st.read++;
    o->uncommitted++;
    o->records++;
    o->bytes_read += len + 1;
    pthread_mutex_unlock(&o->mu);
    if (!o->policy) return add_line(o, line, len);
    if (ka_event_scan(line, len, NULL, &ev, &se)) {
        char why[200];
        snprintf(why, sizeof why, "not an audit event: %s", se.msg);
        int rc = ka_fwd_dead_letter(o, line, len, false, why);
        pthread_mutex_lock(&o->mu);
        if (!rc) o->st.dead_lettered++;
        pthread_mutex_unlock(&o->mu);
        return rc;
    }
    int keep = o->policy ? apply_policy(o, &ev) : 1;
    if (keep == 0) {
        pthread_mutex_lock(&o->mu);
        o->st.filtered++;
        pthread_mutex_unlock(&o->mu);
        return KA_OK;
    }
    return keep == 2 ? add_line(o, o->scratch.p, o->scratch.n) : add_line(o, line, len);
}

static void update_lag(struct ka_fwd_out *o, int64_t now)
{
    struct ka_cursor_lag lag = {0};
    if (!o->cur || now - o->last_lag_ms < 1000) return;
    o->last_lag_ms = now;
    if (ka_cursor_lag(o->cur, &lag)) return;
    pthread_mutex_lock(&o->mu);
    o->st.lag_bytes = lag.bytes;
    o->st.lag_seconds = lag.seconds;
    pthread_mutex_unlock(&o->mu);
}

/*
 * Persists progress without waiting for anything: everything read when no batch is open or in
 * flight (records the policy skipped included), else the position of the last batch confirmed
 * in reading order. At most once per commit_ms, or at once when the journal is idle.
 */
static void commit_progress(struct ka_fwd_out *o, int64_t now, bool idle)
{
    pthread_mutex_lock(&o->mu);
    advance_marks(o);
    bool all = !o->busy && o->seq_done == o->seq_next && !o->cur_batch;
    bool pending = o->uncommitted > 0;
    pthread_mutex_unlock(&o->mu);
    if (!pending || (!idle && now - o->last_commit_ms < o->cfg.commit_ms)) return;
    if (!all && !o->have_ready) return;
    int rc = all ? ka_cursor_commit(o->cur) : ka_cursor_commit_at(o->cur, &o->ready);
    if (rc) {
        ka_fwd_log(o, KA_SEV_ERROR, "cannot commit the cursor");
        return;
    }
    pthread_mutex_lock(&o->mu);
    o->uncommitted = all ? 0 : o->records - o->ready_records;
    o->have_ready = false;
    o->st.commits++;
    pthread_mutex_unlock(&o->mu);
    o->last_commit_ms = now;
    o->last_lag_ms = 0;
    update_lag(o, now);
}

static void *reader_main(void *arg)
{
    struct ka_fwd_out *o = arg;
    ka_thread_lower_priority(KA_CONSUMER_NICE); /* journal mode only: the reader reads it */
    o->last_commit_ms = ka_fwd_now_ms();
    for (;;) {
        pthread_mutex_lock(&o->mu);
        bool stop = o->stop;
        pthread_mutex_unlock(&o->mu);
        if (stop) break;
        struct ka_tail_rec rec;
        int rc = ka_cursor_next(o->cur, &rec, 100);
        int64_t now = ka_fwd_now_ms();
        if (rc < 0) {
            ka_fwd_log(o, KA_SEV_ERROR, "reading the journal: %s", ka_strerror(rc));
            pthread_mutex_lock(&o->mu);
            o->failed = true;
            pthread_mutex_unlock(&o->mu);
            usleep(500 * 1000);
            continue;
        }
        pthread_mutex_lock(&o->mu);
        o->caught_up = rc == 0;
        pthread_mutex_unlock(&o->mu);
        if (rc == 1 && take_line(o, rec.line, rec.len)) continue;
        if (o->cur_batch && now - o->cur_batch->first_ms >= o->cfg.batch_ms) dispatch(o);
        commit_progress(o, now, rc == 0);
        update_lag(o, now);
    }
    return NULL;
}

static int out_setup(struct ka_forward *f, struct ka_fwd_out *o, size_t idx, char *err,
                     size_t errlen);

static void out_teardown(struct ka_fwd_out *o);

static int start_common(struct ka_journal *j, const struct ka_forward_output_cfg *outputs,
                        size_t n, const struct ka_forward_opts *fo, struct ka_forward **out,
                        char *err, size_t errlen)
{
    if (n == 0 || n > KA_FORWARD_MAX_OUTPUTS) {
        snprintf(err, errlen, "between 1 and %d outputs", KA_FORWARD_MAX_OUTPUTS);
        return KA_EINVAL;
    }
    struct ka_forward *f = calloc(1, sizeof *f);
    struct ka_fwd_out *outs = calloc(n, sizeof *outs);
    if (!f || !outs) {
        free(f);
        free(outs);
        return KA_ENOMEM;
    }
    f->j = j;
    if (fo) f->fo = *fo;
    f->outs = outs;
    for (size_t i = 0; i < n; i++) {
        outs[i].f = f;
        outs[i].cfg = outputs[i];
        outs[i].dl_fd = -1;
        pthread_mutex_init(&outs[i].mu, NULL);
        pthread_mutex_init(&outs[i].dl_mu, NULL);
        pthread_cond_init(&outs[i].cv, NULL);
        ka_buf_init(&outs[i].scratch, 0);
        f->n = i + 1;
        int rc = out_setup(f, &outs[i], i, err, errlen);
        if (rc) {
            ka_forward_stop(f);
            return rc;
        }
    }
    *out = f;
    return KA_OK;
}

int ka_forward_start(struct ka_journal *j, const struct ka_forward_output_cfg *outputs, size_t n,
                     const struct ka_forward_opts *fo, struct ka_forward **out, char *err,
                     size_t errlen)
{
    if (!j) return KA_EINVAL;
    return start_common(j, outputs, n, fo, out, err, errlen);
}

int ka_forward_start_source(const struct ka_forward_output_cfg *outputs, size_t n,
                            const struct ka_forward_opts *fo, struct ka_forward **out, char *err,
                            size_t errlen)
{
    return start_common(NULL, outputs, n, fo, out, err, errlen);
}

int ka_forward_push(struct ka_forward *f, const char *line, size_t len)
{
    if (f->j) return KA_EINVAL;
    for (size_t i = 0; i < f->n; i++) {
        struct ka_fwd_out *o = &f->outs[i];
        int rc = take_line(o, line, len);
        if (!rc && o->cur_batch && ka_fwd_now_ms() - o->cur_batch->first_ms >= o->cfg.batch_ms)
            rc = dispatch(o);
        if (rc) return rc;
    }
    return KA_OK;
}

int ka_forward_finish(struct ka_forward *f)
{
    int rc = KA_OK;
    for (size_t i = 0; i < f->n; i++) {
        struct ka_fwd_out *o = &f->outs[i];
        if (dispatch(o) || !wait_confirmed(o)) rc = KA_EIO;
    }
    return rc;
}

bool ka_forward_idle(struct ka_forward *f)
{
    bool idle = true;
    for (size_t i = 0; i < f->n; i++) {
        struct ka_fwd_out *o = &f->outs[i];
        pthread_mutex_lock(&o->mu);
        idle = idle && o->caught_up && !o->busy && !o->uncommitted;
        pthread_mutex_unlock(&o->mu);
    }
    return idle;
}

size_t ka_forward_count(const struct ka_forward *f)
{
    return f ? f->n : 0;
}

void ka_forward_stats(struct ka_forward *f, size_t i, struct ka_forward_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!f || i >= f->n) return;
    struct ka_fwd_out *o = &f->outs[i];
    pthread_mutex_lock(&o->mu);
    *st = o->st;
    st->in_flight = o->busy_events + (o->cur_batch ? o->cur_batch->n : 0);
    st->failed = o->failed;
    uint64_t avg = o->st.read ? o->bytes_read / o->st.read : 0;
    st->lag_events = st->in_flight + (avg ? st->lag_bytes / avg : 0);
    pthread_mutex_unlock(&o->mu);
    snprintf(st->name, sizeof st->name, "%s", o->name);
}

void ka_forward_stop(struct ka_forward *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        struct ka_fwd_out *o = &f->outs[i];
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
    }
    for (size_t i = 0; i < f->n; i++) out_teardown(&f->outs[i]);
    free(f->outs);
    free(f);
}

/* ---- setup and teardown of one output ---- */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 48) return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int apply_options(struct ka_fwd_out *o, char *err, size_t errlen)
{
    for (size_t k = 0; k < o->cfg.n_options; k++) {
        const char *kv = o->cfg.options[k];
        int rc = ka_forward_cfg_option(&o->cfg, kv);
        if (rc == KA_ENOENT) {
            const char *eq = strchr(kv, '=');
            struct ka_out_url *u = &o->url;
            if (u->n_params == KA_OUT_MAX_PARAMS || (size_t)(eq - kv) >= sizeof u->key[0] ||
                strlen(eq + 1) >= sizeof u->val[0]) {
                snprintf(err, errlen, "option %s: too many or too long", kv);
                return KA_EINVAL;
            }
            snprintf(u->key[u->n_params], sizeof u->key[0], "%.*s", (int)(eq - kv), kv);
            snprintf(u->val[u->n_params], sizeof u->val[0], "%s", eq + 1);
            u->n_params++;
        } else if (rc) {
            snprintf(err, errlen, "bad option %s", kv);
            return rc;
        }
    }
    return KA_OK;
}

static int out_resolve(struct ka_forward *f, struct ka_fwd_out *o, char *err, size_t errlen)
{
    char uerr[128];
    if (ka_out_url_parse(o->cfg.url, &o->url, uerr, sizeof uerr)) {
        snprintf(err, errlen, "url: %s", uerr);
        return KA_EINVAL;
    }
    o->ops = o->cfg.ops ? o->cfg.ops : ka_output_find(o->url.scheme);
    if (!o->ops) {
        snprintf(err, errlen, "unknown output scheme %s://", o->url.scheme);
        return KA_EINVAL;
    }
    int rc = apply_options(o, err, errlen);
    if (rc) return rc;
    snprintf(o->name, sizeof o->name, "%s", o->cfg.name ? o->cfg.name : o->ops->name);
    if (!name_ok(o->name)) {
        snprintf(err, errlen, "bad output name %s", o->name);
        return KA_EINVAL;
    }
    if (o->cfg.dead_letter) snprintf(o->dl_path, sizeof o->dl_path, "%s", o->cfg.dead_letter);
    else snprintf(o->dl_path, sizeof o->dl_path, "%s/%s.jsonl",
                  f->fo.dead_letter_dir ? f->fo.dead_letter_dir : ".", o->name);
    if (!o->cfg.batch_events) o->cfg.batch_events = 1000;
    if (!o->cfg.batch_bytes) o->cfg.batch_bytes = 8u << 20;
    if (o->cfg.batch_ms <= 0) o->cfg.batch_ms = 1000;
    if (o->cfg.concurrency <= 0) o->cfg.concurrency = 1;
    if (o->cfg.concurrency > KA_FWD_MAX_WORKERS) o->cfg.concurrency = KA_FWD_MAX_WORKERS;
    if (o->cfg.backoff_min_ms <= 0) o->cfg.backoff_min_ms = 200;
    if (o->cfg.backoff_max_ms < o->cfg.backoff_min_ms) o->cfg.backoff_max_ms = o->cfg.backoff_min_ms;
    if (o->cfg.commit_ms <= 0) o->cfg.commit_ms = 1000;
    if (!o->cfg.out.log) {
        o->cfg.out.log = f->fo.log;
        o->cfg.out.log_ud = f->fo.log_ud;
    }
    return KA_OK;
}

static int out_setup(struct ka_forward *f, struct ka_fwd_out *o, size_t idx, char *err,
                     size_t errlen)
{
    char why[200] = "";
    int rc = out_resolve(f, o, why, sizeof why);
    if (!rc && o->cfg.policy_file) {
        struct ka_diag d = {0};
        rc = ka_policy_load_file(o->cfg.policy_file, 0, &d, &o->policy);
        if (rc) snprintf(why, sizeof why, "policy %s: %s", o->cfg.policy_file,
                         d.n ? d.v[0].msg : ka_strerror(rc));
        ka_diag_free(&d);
    }
    for (int w = 0; !rc && w < o->cfg.concurrency; w++)
        rc = o->ops->create(&o->url, &o->cfg.out, &o->ctx[w], why, sizeof why);
    if (!rc && f->j) {
        char cname[64];
        snprintf(cname, sizeof cname, "fwd-%s", o->name);
        rc = ka_cursor_open(f->j, cname, &o->cur);
        if (rc) snprintf(why, sizeof why, "cursor %s: %s", cname, ka_strerror(rc));
        o->n_marks = 4 * (size_t)o->cfg.concurrency + 4;
        if (!rc && !(o->marks = calloc(o->n_marks, sizeof *o->marks))) rc = KA_ENOMEM;
    }
    for (int w = 0; !rc && w < o->cfg.concurrency; w++) {
        struct ka_fwd_worker_arg *wa = malloc(sizeof *wa);
        if (!wa) rc = KA_ENOMEM;
        else *wa = (struct ka_fwd_worker_arg){o, w};
        if (!rc && pthread_create(&o->workers[w], NULL, ka_fwd_worker, wa)) {
            free(wa);
            rc = KA_ENOMEM;
        }
        if (!rc) o->n_workers = w + 1;
    }
    if (!rc && f->j) {
        if (pthread_create(&o->reader, NULL, reader_main, o)) rc = KA_ENOMEM;
        else o->reader_started = true;
    }
    if (rc) snprintf(err, errlen, "outputs[%zu]: %s", idx, why[0] ? why : ka_strerror(rc));
    return rc;
}

static void out_teardown(struct ka_fwd_out *o)
{
    if (o->reader_started) pthread_join(o->reader, NULL);
    for (int w = 0; w < o->n_workers; w++) pthread_join(o->workers[w], NULL);
    while (o->q_head) {
        struct ka_fwd_batch *b = o->q_head;
        o->q_head = b->next;
        ka_fwd_batch_free(b);
    }
    ka_fwd_batch_free(o->cur_batch);
    while (o->spare) {
        struct ka_fwd_batch *b = o->spare;
        o->spare = b->next;
        ka_fwd_batch_free(b);
    }
    for (int w = 0; w < KA_FWD_MAX_WORKERS; w++)
        if (o->ctx[w]) o->ops->destroy(o->ctx[w]);
    ka_cursor_close(o->cur);
    free(o->marks);
    ka_policy_free(o->policy);
    if (o->dl_fd >= 0) close(o->dl_fd);
    ka_buf_free(&o->scratch);
    pthread_mutex_destroy(&o->mu);
    pthread_mutex_destroy(&o->dl_mu);
    pthread_cond_destroy(&o->cv);
}
