/*
 * batch.c - the collector's per-batch pipeline: validate the whole body, scan each item,
 * dead-letter (redacted) what is not an audit event, apply the optional policy, tag the
 * cluster, redact, encode every kept event into one buffer and make it durable with ONE
 * journal append.
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
#include "../../core/redact_int.h"
#include "kaudit/json.h"
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

/* Size and SHA-256 (hex) of the item as received, so that a sender can match it. */
static int put_digest(struct ka_buf *d, const char *item, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t dig[32];
    char h[64];
    ka_redact_sha256(item, n, dig);
    for (size_t i = 0; i < 32; i++) {
        h[2 * i] = hex[dig[i] >> 4];
        h[2 * i + 1] = hex[dig[i] & 15];
    }
    int rc = ka_buf_printf(d, ",\"size\":%zu,\"sha256\":\"", n);
    rc = rc ? rc : ka_buf_append(d, h, sizeof h);
    return rc ? rc : ka_buf_puts(d, "\"");
}

/*
 * One dead-letter line. The item is written redacted (ka_wh_deadletter_redact): as JSON under
 * "event" when it came from a validated body, else as the string "line". When it cannot be
 * redacted, only its size and digest are kept and "redaction" says why.
 */
static int dead_letter(struct batch *b, const char *item, size_t n, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct ka_buf *d = b->dead, red;
    ka_buf_init(&red, 0);
    int rr = ka_wh_deadletter_redact(b->s->redact, item, n, &red);
    int rc = ka_buf_puts(d, "{\"time\":");
    rc = rc ? rc : ka_jw_microtime(d, now.tv_sec, (int32_t)now.tv_nsec);
    rc = rc ? rc : ka_buf_puts(d, ",\"reason\":");
    rc = rc ? rc : ka_jw_str(d, reason, strlen(reason));
    rc = rc ? rc : ka_buf_puts(d, ",\"remote\":");
    rc = rc ? rc : ka_jw_str(d, b->remote, strlen(b->remote));
    rc = rc ? rc : ka_buf_puts(d, ",\"cluster\":");
    rc = rc ? rc : ka_jw_str(d, b->cluster, strlen(b->cluster));
    rc = rc ? rc : put_digest(d, item, n);
    if (rr != KA_OK) {
        const char *why = ka_strerror(rr);
        rc = rc ? rc : ka_buf_puts(d, ",\"redaction\":");
        rc = rc ? rc : ka_jw_str(d, why, strlen(why));
    } else if (b->validated) {
        rc = rc ? rc : ka_buf_puts(d, ",\"event\":");
        rc = rc ? rc : ka_jw_compact(d, red.p ? red.p : "null", red.p ? red.n : 4);
    } else { /* an unvalidated line (file input) may not be JSON: kept as a string */
        rc = rc ? rc : ka_buf_puts(d, ",\"line\":");
        rc = rc ? rc : ka_jw_str(d, red.p ? red.p : "", red.n);
    }
    rc = rc ? rc : ka_buf_puts(d, "}\n");
    ka_buf_free(&red);
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
    /* The apiserver sets both on every event; without them an event cannot be keyed
       (auditID, stage) by any consumer. */
    if (!ev.auditID.set || ev.auditID.n == 0 || ev.stage_v == KA_STAGE_UNKNOWN) {
        atomic_fetch_add(&b->s->m.refused[KA_WH_R_NOT_EVENT], 1);
        return dead_letter(b, item, n,
                           !ev.auditID.set || ev.auditID.n == 0
                               ? "not an audit event: no auditID"
                               : "not an audit event: stage is not one of RequestReceived, "
                                 "ResponseStarted, ResponseComplete, Panic");
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

/*
 * Dead letters first (fsynced), then the journal; 200 only when both are durable. Once the dead
 * letters are written, dead is emptied, so a caller that retries the same batch after a journal
 * refusal (the file inputs) does not write them twice.
 */
void ka_wh_commit(struct ka_webhook_server *s, const struct ka_buf *out, struct ka_buf *dead,
                  struct ka_wh_result *res)
{
    if (dead->n && ka_wh_deadletter_write(s, dead->p, dead->n) != KA_OK) {
        atomic_fetch_add(&s->m.refused[KA_WH_R_INTERNAL], res->n_accepted);
        set_result(res, 503, "dead-letter file cannot be written");
        return;
    }
    ka_buf_reset(dead);
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

/* ---- dead-letter redaction ---- */

static const struct ka__pset no_paths; /* no configured path is active */

/* The string member name of a validated object, or an unset ka_str. */
static struct ka_str str_member(struct ka_raw obj, const char *name)
{
    struct ka_json_iter it;
    struct ka_str k, found = {NULL, 0, 0, 0};
    struct ka_raw v;
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka__rd_key_is(k, name) && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            found = ka_str_from_raw(v.p, v.n);
    return found;
}

static struct ka_raw raw_member(struct ka_raw obj, const char *name)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v, found = {NULL, 0};
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v))
        if (ka__rd_key_is(k, name)) found = v;
    return found;
}

/*
 * Pass 1: Secret, SecretList and TokenRequest objects anywhere (the walker in discover mode);
 * in an event-shaped item on core secrets or serviceaccounts/token, its requestObject and
 * responseObject are walked as that Secret (a JSON Patch array as a patch on it) or
 * TokenRequest even without a kind.
 */
static void walk_item(struct ka__rw *rw, struct ka_raw v)
{
    struct ka_raw oref = {NULL, 0};
    if (ka_json_type_of(v.p, v.n) == KA_JSON_OBJECT) oref = raw_member(v, "objectRef");
    if (ka_json_type_of(oref.p, oref.n) != KA_JSON_OBJECT) oref.p = NULL;
    struct ka_str res = oref.p ? str_member(oref, "resource") : (struct ka_str){0};
    struct ka_str group = oref.p ? str_member(oref, "apiGroup") : (struct ka_str){0};
    struct ka_str sub = oref.p ? str_member(oref, "subresource") : (struct ka_str){0};
    bool core = !group.set || group.n == 0;
    bool secrets = core && ka__rd_key_is(res, "secrets");
    bool token = core && ka__rd_key_is(res, "serviceaccounts") && ka__rd_key_is(sub, "token");
    if (!secrets && !token) {
        ka__rd_walk_doc(rw, v, &no_paths, 0);
        return;
    }
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw val;
    ka_json_iter_init(&it, v);
    while (!rw->err && ka_json_iter_member(&it, &k, &val)) {
        bool obj = ka__rd_key_is(k, "requestObject") || ka__rd_key_is(k, "responseObject");
        enum ka_json_type t = ka_json_type_of(val.p, val.n);
        if (obj && secrets && t == KA_JSON_ARRAY)
            ka__rd_walk_jsonpatch(rw, val);
        else if (obj && t == KA_JSON_OBJECT)
            ka__rd_walk_doc(rw, val, &no_paths, secrets ? KA__F_SECRET : KA__F_TOKEN);
        else if (t == KA_JSON_OBJECT || t == KA_JSON_ARRAY)
            ka__rd_walk_doc(rw, val, &no_paths, 0);
    }
}

/* Pass 2: every string (member names included) holding a bearer token or JWT, whole. */
static void walk_tokens(struct ka__rw *rw, struct ka_raw v, struct ka_buf *dec, unsigned depth)
{
    enum ka_json_type t = ka_json_type_of(v.p, v.n);
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw val;
    size_t st, len;
    if (t == KA_JSON_STRING) {
        ka_buf_reset(dec);
        rw->err = ka_str_decode_buf(ka_str_from_raw(v.p, v.n), dec);
        if (!rw->err && dec->n && ka__rd_find_token(dec->p, dec->n, 0, &st, &len))
            ka__rd_redact_value(rw, v);
        return;
    }
    if (depth > KA_JSON_DEFAULT_MAX_DEPTH) {
        rw->err = KA_ETOOBIG;
        return;
    }
    ka_json_iter_init(&it, v);
    if (t == KA_JSON_ARRAY)
        while (!rw->err && ka_json_iter_elem(&it, &val))
            walk_tokens(rw, val, dec, depth + 1);
    else if (t == KA_JSON_OBJECT)
        while (!rw->err && ka_json_iter_member(&it, &k, &val)) {
            struct ka_raw kr = {k.p - 1, k.n + 2};
            walk_tokens(rw, kr, dec, depth + 1);
            walk_tokens(rw, val, dec, depth + 1);
        }
}

/* Runs one pass over the JSON text in; the result (in itself when nothing changed) to out. */
static int json_pass(const struct ka_redact *r, const char *in, size_t n, bool tokens,
                     struct ka_buf *out)
{
    struct ka_json_err je;
    struct ka_buf texts, dec;
    int rc = ka_json_validate(in, n, KA_JSON_DEFAULT_MAX_DEPTH, &je);
    if (rc) return rc;
    const char *s = ka_json_ws(in, in + n), *e = in + n;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    struct ka_raw v = {s, (uint32_t)(e - s)};
    ka_buf_init(&texts, 0);
    ka_buf_init(&dec, 0);
    struct ka__rw rw = {.r = r, .base = s, .texts = &texts, .discover = true};
    if (tokens)
        walk_tokens(&rw, v, &dec, 0);
    else
        walk_item(&rw, v);
    rc = rw.err ? rw.err : ka__rd_emit(&rw, v.n, out);
    free(rw.v);
    ka_buf_free(&texts);
    ka_buf_free(&dec);
    return rc;
}

/* Appends text outside JSON strings with every bearer token or JWT replaced by its marker. */
static int put_plain(const char *p, size_t n, struct ka_buf *out)
{
    size_t pos = 0, st, len;
    char m[KA_REDACT_MARKER_LEN];
    int rc = KA_OK;
    while (rc == KA_OK && ka__rd_find_token(p, n, pos, &st, &len)) {
        ka_redact_marker(p + st, len, m);
        rc = ka_buf_append(out, p + pos, st - pos);
        rc = rc ? rc : ka_buf_append(out, m, sizeof m);
        pos = st + len;
    }
    return rc ? rc : ka_buf_append(out, p + pos, n - pos);
}

/*
 * A line that is not JSON: each quoted string followed by ':' (a member name) is kept, every
 * other one (a value, or a string cut by the end of the line) becomes the quoted marker of
 * its raw bytes; the text between strings is kept without bearer tokens and JWTs.
 */
static int text_pass(const char *p, size_t n, struct ka_buf *out)
{
    size_t i = 0;
    int rc = KA_OK;
    while (rc == KA_OK && i < n) {
        const char *q = memchr(p + i, '"', n - i);
        size_t j = q ? (size_t)(q - p) : n;
        rc = put_plain(p + i, j - i, out);
        if (rc || j == n) break;
        size_t e = j + 1;
        while (e < n && p[e] != '"')
            e += p[e] == '\\' && e + 1 < n ? 2 : 1;
        bool closed = e < n;
        size_t end = closed ? e + 1 : n, k = end;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
            k++;
        if (closed && k < n && p[k] == ':') {
            rc = put_plain(p + j, end - j, out);
        } else {
            char m[KA_REDACT_MARKER_LEN + 2];
            m[0] = '"';
            ka_redact_marker(p + j + 1, (closed ? e : n) - j - 1, m + 1);
            m[KA_REDACT_MARKER_LEN + 1] = '"';
            rc = ka_buf_append(out, m, sizeof m);
        }
        i = end;
    }
    return rc;
}

int ka_wh_deadletter_redact(const struct ka_redact *r, const char *item, size_t n,
                            struct ka_buf *out)
{
    struct ka_buf mid;
    struct ka_json_err je;
    if (!r || r->disabled) return ka_buf_append(out, item, n);
    if (ka_json_validate(item, n, KA_JSON_DEFAULT_MAX_DEPTH, &je) != KA_OK)
        return text_pass(item, n, out);
    ka_buf_init(&mid, 0);
    size_t start = out->n;
    int rc = json_pass(r, item, n, false, &mid);
    rc = rc ? rc : json_pass(r, mid.p ? mid.p : "", mid.n, true, out);
    if (rc) out->n = start;
    ka_buf_free(&mid);
    return rc;
}
