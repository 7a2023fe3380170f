/*
 * batch.c - the collector's per-batch pipeline: validate the whole body, scan each item,
 * dead-letter what is not an audit event, apply the optional policy, tag the cluster, redact,
 * encode every kept event into one buffer and make it durable with ONE journal append.
 * The same steps are offered one event at a time (ka_wh_encode_event, ka_wh_commit) to the
 * file inputs, so that a followed audit.log line is treated exactly like a webhook item.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/event.h"
#include "kaudit/jsonw.h"
#include "webhook_int.h"

#define CLUSTER_KEY "kaudit.io/cluster"

struct batch {
    struct ka_webhook_server *s;
    const struct ka_policy *pol;
    const char *cluster, *remote;
    struct ka_buf *out, *dead;
    struct ka_wh_result *res;
    bool validated; /* items come from a body already validated as JSON (webhook) */
    int err; /* first fatal error (KA_ENOMEM, KA_ETOOBIG while encoding) */
};

uint64_t ka_wh_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int dead_letter(struct batch *b, const char *item, size_t n, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct ka_buf *d = b->dead;
    int rc = ka_buf_puts(d, "{\"time\":");
    rc = rc ? rc : ka_jw_microtime(d, now.tv_sec, (int32_t)now.tv_nsec);
    rc = rc ? rc : ka_buf_puts(d, ",\"reason\":");
    rc = rc ? rc : ka_jw_str(d, reason, strlen(reason));
    rc = rc ? rc : ka_buf_puts(d, ",\"remote\":");
    rc = rc ? rc : ka_jw_str(d, b->remote, strlen(b->remote));
    rc = rc ? rc : ka_buf_puts(d, ",\"cluster\":");
    rc = rc ? rc : ka_jw_str(d, b->cluster, strlen(b->cluster));
    /* An unvalidated line (file input) is kept verbatim as a string: it may not be JSON. */
    rc = rc ? rc : ka_buf_puts(d, b->validated ? ",\"event\":" : ",\"line\":");
    rc = rc ? rc : b->validated ? ka_jw_compact(d, item, n) : ka_jw_str(d, item, n);
    rc = rc ? rc : ka_buf_puts(d, "}\n");
    b->res->n_dead++;
    return rc;
}

/* `policy apply` semantics; returns 1 when the event is dropped, filling wo otherwise. */
static int apply_policy(const struct ka_policy *pol, const struct ka_event *ev,
                        struct ka_write_opts *wo)
{
    struct ka_attrs a;
    struct ka_decision d;
    ka_attrs_from_event(ev, &a);
    ka_policy_eval(pol, &a, &d);
    if (d.level == KA_LEVEL_NONE) return 1;
    if (ev->stage_v != KA_STAGE_UNKNOWN && (d.omit_stages & KA_STAGE_BIT(ev->stage_v))) return 1;
    enum ka_level lv = d.level;
    /* An event without a known level takes the policy's; otherwise the lower of the two. */
    if (ev->level.set && ka_level_from_cstr(ev->level.p, ev->level.n) >= 0 && ev->level_v < lv)
        lv = ev->level_v;
    if (lv == KA_LEVEL_NONE) return 1;
    wo->level = ka_level_name(lv);
    wo->drop_request_object = lv < KA_LEVEL_REQUEST;
    wo->drop_response_object = lv < KA_LEVEL_REQUEST_RESPONSE;
    wo->omit_managed_fields = d.omit_managed_fields;
    return 0;
}

static int encode_item(struct batch *b, const char *item, size_t n)
{
    struct ka_event ev;
    struct ka_scan_err se;
    b->res->n_items++;
    if (n > b->s->cfg->event_max) {
        atomic_fetch_add(&b->s->m.refused[KA_WH_R_EVENT_TOO_LARGE], 1);
        return dead_letter(b, item, n, "event larger than limits.event_max");
    }
    if (ka_event_scan(item, n, NULL, &ev, &se) != KA_OK) {
        atomic_fetch_add(&b->s->m.refused[KA_WH_R_NOT_EVENT], 1);
        return dead_letter(b, item, n, se.msg[0] ? se.msg : ka_strerror(se.code));
    }
    static const char *const keys[1] = {CLUSTER_KEY};
    const char *vals[1] = {b->cluster};
    struct ka_write_opts wo = {0};
    if (b->pol && apply_policy(b->pol, &ev, &wo)) {
        atomic_fetch_add(&b->s->m.refused[KA_WH_R_POLICY], 1);
        b->res->n_dropped++;
        return 0;
    }
    if (b->cluster[0]) {
        wo.add_annotation_keys = keys;
        wo.add_annotation_vals = vals;
        wo.n_add_annotations = 1;
    }
    bool changed = false;
    int rc = ka_redact_write(b->s->redact, &ev, &wo, b->out, &changed);
    if (rc == KA_OK) b->res->n_accepted++;
    if (rc == KA_ETOOBIG) { /* out is unchanged: this one event is set aside */
        atomic_fetch_add(&b->s->m.refused[KA_WH_R_EVENT_TOO_LARGE], 1);
        return dead_letter(b, item, n, "event cannot be encoded within the limits");
    }
    return rc;
}

static int on_item(void *ud, const char *item, size_t n, size_t index)
{
    (void)index;
    return encode_item(ud, item, n);
}

int ka_wh_encode_event(struct ka_webhook_server *s, const char *item, size_t n,
                       const char *cluster, const char *remote, struct ka_buf *out,
                       struct ka_buf *dead, struct ka_wh_result *res)
{
    struct batch b = {
        .s = s, .cluster = cluster, .remote = remote, .out = out, .dead = dead, .res = res};
    pthread_rwlock_rdlock(&s->lock);
    b.pol = s->policy;
    int rc = encode_item(&b, item, n);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static void set_result(struct ka_wh_result *res, int status, const char *reason)
{
    res->status = status;
    snprintf(res->reason, sizeof res->reason, "%s", reason);
}

/* Dead letters first (fsynced), then the journal; 200 only when both are durable. */
void ka_wh_commit(struct ka_webhook_server *s, const struct ka_buf *out,
                  const struct ka_buf *dead, struct ka_wh_result *res)
{
    if (dead->n && ka_wh_deadletter_write(s, dead->p, dead->n) != KA_OK) {
        atomic_fetch_add(&s->m.refused[KA_WH_R_INTERNAL], res->n_accepted);
        set_result(res, 503, "dead-letter file cannot be written");
        return;
    }
    if (res->n_accepted == 0) {
        set_result(res, 200, "");
        return;
    }
    int rc = s->o.sink.append(s->o.sink.ud, out->p, out->n, res->n_accepted);
    if (rc == KA_OK) {
        atomic_store(&s->last_append_failed, false);
        atomic_fetch_add(&s->m.accepted, res->n_accepted);
        set_result(res, 200, "");
        return;
    }
    bool full = rc == KA_ETOOBIG;
    atomic_fetch_add(&s->m.refused[full ? KA_WH_R_JOURNAL_FULL : KA_WH_R_JOURNAL_IO],
                     res->n_accepted);
    atomic_store(&s->last_append_failed, true);
    atomic_store(&s->last_fail_sec, (int_fast64_t)(ka_wh_now_ns() / 1000000000u));
    set_result(res, 503, full ? "journal full" : "journal cannot be written");
}

void ka_wh_batch(struct ka_webhook_server *s, const char *body, size_t n, const char *cluster,
                 const char *remote, struct ka_wh_result *res)
{
    memset(res, 0, sizeof *res);
    struct ka_buf out, dead;
    ka_buf_init(&out, 0);
    ka_buf_init(&dead, 0);
    struct batch b = {.s = s,
                      .cluster = cluster,
                      .remote = remote,
                      .out = &out,
                      .dead = &dead,
                      .res = res,
                      .validated = true};
    pthread_rwlock_rdlock(&s->lock);
    b.pol = s->policy;
    enum ka_doc_kind kind;
    struct ka_scan_err se = {0};
    int rc = ka_doc_scan(body, n, NULL, &kind, on_item, &b, &se);
    if (rc == KA_ESYNTAX || rc == KA_ENOTEVENT || (rc == KA_ETOOBIG && res->n_items == 0)) {
        res->status = 400;
        snprintf(res->reason, sizeof res->reason, "%s at byte %zu: %s",
                 rc == KA_ESYNTAX ? "malformed JSON" : "not an audit event document", se.off,
                 se.msg[0] ? se.msg : ka_strerror(rc));
    } else if (rc != KA_OK) {
        atomic_fetch_add(&s->m.refused[KA_WH_R_INTERNAL], res->n_items);
        set_result(res, rc == KA_ENOMEM ? 503 : 500, "cannot encode the batch");
    } else {
        atomic_fetch_add(&s->m.received, res->n_items);
        ka_wh_commit(s, &out, &dead, res);
    }
    pthread_rwlock_unlock(&s->lock);
    ka_buf_free(&out);
    ka_buf_free(&dead);
}

/* ---- dead-letter file ---- */

static int mkdir_p(const char *dir, const char *sub, char **path)
{
    struct ka_buf p;
    ka_buf_init(&p, 4096);
    int rc = ka_buf_printf(&p, "%s", dir);
    if (rc == KA_OK && mkdir(ka_buf_cstr(&p), 0700) != 0 && errno != EEXIST) rc = KA_EIO;
    rc = rc ? rc : ka_buf_printf(&p, "/%s", sub);
    if (rc == KA_OK && mkdir(ka_buf_cstr(&p), 0700) != 0 && errno != EEXIST) rc = KA_EIO;
    rc = rc ? rc : ka_buf_puts(&p, "/audit-deadletter.log");
    if (rc == KA_OK && !ka_buf_cstr(&p)) rc = KA_ENOMEM;
    if (rc != KA_OK) {
        ka_buf_free(&p);
        return rc;
    }
    *path = p.p;
    return KA_OK;
}

int ka_wh_deadletter_open(struct ka_webhook_server *s)
{
    if (!s->dl_path) {
        int rc = mkdir_p(s->o.data_dir, "deadletter", &s->dl_path);
        if (rc) return rc;
    }
    int fd = open(s->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return KA_EIO;
    pthread_mutex_lock(&s->dl_lock);
    int old = s->dl_fd;
    s->dl_fd = fd;
    pthread_mutex_unlock(&s->dl_lock);
    if (old >= 0) close(old);
    return KA_OK;
}

void ka_wh_deadletter_close(struct ka_webhook_server *s)
{
    if (s->dl_fd >= 0) close(s->dl_fd);
    s->dl_fd = -1;
    free(s->dl_path);
    s->dl_path = NULL;
}

int ka_wh_deadletter_write(struct ka_webhook_server *s, const char *p, size_t n)
{
    int rc = KA_OK;
    pthread_mutex_lock(&s->dl_lock);
    while (n > 0 && rc == KA_OK) {
        ssize_t w = s->dl_fd >= 0 ? write(s->dl_fd, p, n) : -1;
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            rc = KA_EIO;
        else {
            p += w;
            n -= (size_t)w;
        }
    }
    if (rc == KA_OK && fdatasync(s->dl_fd) != 0) rc = KA_EIO;
    pthread_mutex_unlock(&s->dl_lock);
    return rc;
}
