/*
 * gen.c - the traffic generator's scheduler and public API (see include/kaudit/gen.h).
 *
 * Requests arrive from three sources: a Poisson stream of background requests (controllers,
 * kubelets, monitoring), human/CI sessions that run short scripts with think times, and attack
 * scenarios; gen_extra.c adds three more (Secret writes, CI Deployment deletions, the
 * deployment-delete scenario) on a PRNG of their own. Each request in flight sits in a pool slot; a binary heap orders the slots by the
 * instant of their next stage, so events come out in stageTimestamp order and concurrent
 * requests interleave. Small shared helpers (PRNG extras, time formatting, URI building) live
 * here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

#define KA__DEFAULT_RATE 300
#define KA__SESSION_GAP_EVENTS 600 /* mean gap between session starts, in events of time */
#define KA__ATTACK_GAP_EVENTS 1500 /* mean gap between attack scenarios, in events of time */

static const char *const sc_names[KA_GEN_SC_COUNT] = {
    NULL,           "pod-exec",       "secret-dump",      "cluster-admin-binding",
    "token-request", "privileged-pod", "anonymous-access", "forbidden-storm",
    "deployment-delete",
};
/* The scenarios of the round robin; deployment-delete has its own stream (gen_extra.c). */
#define KA__RR_SCENARIOS (KA_GEN_SC_FORBIDDEN_STORM)

const char *ka_gen_scenario_name(int scenario)
{
    if (scenario <= 0 || scenario >= KA_GEN_SC_COUNT)
        return NULL;
    return sc_names[scenario];
}

/* ---- PRNG extras and formatting helpers ---- */

int64_t ka__rng_exp(struct ka__rng *r, int64_t mean)
{
    /* -log2(U) from the leading zeros of a uniform word plus a linear mantissa term; the
       factor 2/3 brings the mean of this approximation back to `mean`. */
    uint64_t x = ka__rng_next(r);
    int k = x ? __builtin_clzll(x) : 63;
    uint64_t frac = k < 63 ? (x << (k + 1)) >> 48 : 0;
    uint64_t v16 = (uint64_t)(k + 1) * 65536u - frac;
    return (int64_t)((uint64_t)mean * v16 / 98304u);
}

void ka__rng_uuid(struct ka__rng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char u[16];
    uint64_t a = ka__rng_next(r), b = ka__rng_next(r);
    for (int i = 0; i < 8; i++) {
        u[i] = (unsigned char)(a >> (8 * i));
        u[8 + i] = (unsigned char)(b >> (8 * i));
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void ka__gw_micro(struct ka__gw *w, int64_t usec)
{
    int64_t sec = floor_div(usec, 1000000);
    int32_t ns = (int32_t)((usec - sec * 1000000) * 1000);
    if (!w->err)
        w->err = ka_jw_microtime(w->b, sec, ns);
}

void ka__gw_rfc3339(struct ka__gw *w, int64_t usec)
{
    int64_t sec = floor_div(usec, 1000000);
    int64_t days = floor_div(sec, 86400), rem = sec - days * 86400, y;
    unsigned mo, d;
    ka_civil_from_days(days, &y, &mo, &d);
    char t[32];
    int n = snprintf(t, sizeof t, "\"%04d-%02u-%02uT%02d:%02d:%02dZ\"", (int)y, mo, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    ka__gw_raw(w, t, (size_t)n);
}

static size_t fmt_frac(char *buf, size_t p, uint64_t *v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--p] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--p] = '.';
    return p;
}

static size_t fmt_int(char *buf, size_t p, uint64_t v)
{
    do {
        buf[--p] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void ka__gw_duration(struct ka__gw *w, int64_t nsec)
{
    char buf[40];
    size_t p = sizeof buf;
    uint64_t u = nsec < 0 ? (uint64_t)0 - (uint64_t)nsec : (uint64_t)nsec;
    buf[--p] = '"';
    buf[--p] = 's';
    if (u < 1000000000u) {
        int prec = 6;
        if (u == 0) {
            buf[--p] = '0';
        } else {
            if (u < 1000u) {
                prec = 0;
                buf[--p] = 'n';
            } else if (u < 1000000u) {
                prec = 3;
                buf[--p] = '\xb5';
                buf[--p] = '\xc2';
            } else {
                buf[--p] = 'm';
            }
            p = fmt_frac(buf, p, &u, prec);
            p = fmt_int(buf, p, u);
        }
    } else {
        p = fmt_frac(buf, p, &u, 9);
        p = fmt_int(buf, p, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--p] = 'm';
            p = fmt_int(buf, p, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--p] = 'h';
                p = fmt_int(buf, p, u);
            }
        }
    }
    if (nsec < 0)
        buf[--p] = '-';
    buf[--p] = '"';
    ka__gw_raw(w, buf + p, sizeof buf - p);
}

/* ---- requests ---- */

const char *const ka__verb_names[V_COUNT] = {"get",    "list",  "watch", "create",
                                             "update", "patch", "delete"};

int64_t ka__req_time(const struct ka__req *r)
{
    switch (r->shape) {
    case SH_LONG:
        return r->t[r->next];
    case SH_AUTHN:
        return r->t[1];
    default:
        return r->next == 0 ? r->t[0] : r->t[2];
    }
}

static int req_stage(const struct ka__req *r)
{
    if (r->shape == SH_AUTHN)
        return 1;
    if (r->shape == SH_LONG)
        return r->next;
    return r->next == 0 ? 0 : 2;
}

static unsigned req_total(const struct ka__req *r)
{
    return r->shape == SH_LONG ? 3 : r->shape == SH_AUTHN ? 1 : 2;
}

unsigned ka__req_events(const struct ka__req *r)
{
    return req_total(r) - r->next;
}

void ka__req_init(struct ka_gen *g, struct ka__req *r, int64_t t0, struct ka__rng *rng)
{
    memset(r, 0, offsetof(struct ka__req, name));
    r->name[0] = r->uri[0] = 0;
    r->seq = ++g->seq;
    r->seed = ka__rng_next(rng);
    ka__rng_uuid(rng, r->audit_id);
    r->t[0] = t0;
    r->res = -1;
    r->code = 200;
    r->authz = AZ_ALLOW;
}

void ka__req_short(struct ka_gen *g, struct ka__req *r, int64_t lat)
{
    (void)g;
    r->shape = SH_SHORT;
    if (lat < 90)
        lat = 90;
    r->t[1] = r->t[2] = r->t[0] + lat;
    r->latency = lat > 500000;
}

void ka__req_long(struct ka_gen *g, struct ka__req *r, int64_t dur)
{
    struct ka__rng rng = {r->seed ^ 0x5bd1e995u};
    r->shape = SH_LONG;
    r->t[1] = r->t[0] + ka__rng_range(&rng, 300, 4000);
    if (dur < 1000)
        dur = 1000;
    r->t[2] = r->t[1] + dur;
    (void)g;
}

void ka__req_uri(struct ka__req *r, const char *name, const char *query)
{
    const struct ka__res *rs = &ka__res_table[r->res];
    char *p = r->uri;
    size_t cap = sizeof r->uri;
    int n;
    if (rs->group[0])
        n = snprintf(p, cap, "/apis/%s/%s", rs->group, rs->version);
    else
        n = snprintf(p, cap, "/api/%s", rs->version);
    size_t o = (size_t)n;
    if (r->ns && rs->namespaced)
        o += (size_t)snprintf(p + o, cap - o, "/namespaces/%s", r->ns);
    o += (size_t)snprintf(p + o, cap - o, "/%s", rs->resource);
    if (name && name[0] && o < cap)
        o += (size_t)snprintf(p + o, cap - o, "/%s", name);
    if (r->sub && o < cap)
        o += (size_t)snprintf(p + o, cap - o, "/%s", r->sub);
    if (query && query[0] && o < cap)
        snprintf(p + o, cap - o, "?%s", query);
}

void ka__req_res(struct ka__req *r, int res, const char *ns, int verb, const char *name,
                 const char *sub, const char *query)
{
    r->res = (int16_t)res;
    r->ns = ka__res_table[res].namespaced ? ns : NULL;
    r->verb = (uint8_t)verb;
    r->sub = sub;
    if (name && name != r->name)
        snprintf(r->name, sizeof r->name, "%s", name);
    else if (!name)
        r->name[0] = 0;
    ka__req_uri(r, r->name, query);
}

uint8_t ka__policy_level(const struct ka__req *r)
{
    if (r->body_resp != B_NONE)
        return 3;
    if (r->body_req != B_NONE)
        return 2;
    return 1;
}

/* ---- heap of slots ordered by (next stage instant, seq) ---- */

static bool slot_less(const struct ka_gen *g, uint32_t a, uint32_t b)
{
    const struct ka__req *x = &g->pool[a], *y = &g->pool[b];
    int64_t tx = ka__req_time(x), ty = ka__req_time(y);
    return tx < ty || (tx == ty && x->seq < y->seq);
}

static void heap_up(struct ka_gen *g, uint32_t i)
{
    uint32_t v = g->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!slot_less(g, v, g->heap[p]))
            break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = v;
}

static void heap_down(struct ka_gen *g, uint32_t i)
{
    uint32_t v = g->heap[i], n = g->n_heap;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && slot_less(g, g->heap[c + 1], g->heap[c]))
            c++;
        if (!slot_less(g, g->heap[c], v))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    g->heap[i] = v;
}

/* ---- construction ---- */

int ka_gen_new(const struct ka_gen_opts *opts, struct ka_gen **out)
{
    if (!opts || !out || opts->start_nsec < 0 || opts->start_nsec > 999999999 ||
        opts->rate > 1000000 || opts->start_sec < 0 || opts->start_sec > 253402300799LL)
        return KA_EINVAL;
    struct ka_gen *g = calloc(1, sizeof *g);
    if (!g)
        return KA_ENOMEM;
    g->o = *opts;
    if (!g->o.rate)
        g->o.rate = KA__DEFAULT_RATE;
    if (!g->o.start_sec && !g->o.start_nsec)
        g->o.start_sec = KA_GEN_DEFAULT_START;
    g->rng.s = opts->seed ^ 0x6a09e667f3bcc908ULL;
    g->pool = calloc(KA_GEN_MAX_INFLIGHT, sizeof *g->pool);
    g->free_ids = calloc(KA_GEN_MAX_INFLIGHT, sizeof *g->free_ids);
    g->heap = calloc(KA_GEN_MAX_INFLIGHT, sizeof *g->heap);
    ka_buf_init(&g->scratch, KA_GEN_MAX_EVENT);
    /* About 2.1 events per request; a node renews its lease every ~10 s. */
    uint64_t rps = g->o.rate * 10u / 21u + 1u;
    uint32_t nodes = (uint32_t)(rps * 22u / 100u * 10u);
    nodes = nodes < 3 ? 3 : nodes > KA__MAX_NODES ? KA__MAX_NODES : nodes;
    if (!g->pool || !g->free_ids || !g->heap ||
        ka__cluster_build(&g->cl, opts->seed, nodes) != KA_OK) {
        ka_gen_free(g);
        return KA_ENOMEM;
    }
    for (uint32_t i = 0; i < KA_GEN_MAX_INFLIGHT; i++)
        g->free_ids[i] = KA_GEN_MAX_INFLIGHT - 1 - i;
    g->n_free = KA_GEN_MAX_INFLIGHT;
    g->now = g->o.start_sec * 1000000 + g->o.start_nsec / 1000;
    g->bg_mean = (int64_t)(1000000u * 21u / 10u / g->o.rate);
    if (g->bg_mean < 1)
        g->bg_mean = 1;
    int64_t ev_us = 1000000 / (int64_t)g->o.rate + 1;
    g->next_session = g->now + ka__rng_exp(&g->rng, ev_us * KA__SESSION_GAP_EVENTS / 4);
    g->next_attack = g->o.attacks
                         ? g->now + ka__rng_exp(&g->rng, ev_us * KA__ATTACK_GAP_EVENTS / 4)
                         : INT64_MAX;
    g->attack_rr = (uint32_t)ka__rng_below(&g->rng, KA__RR_SCENARIOS);
    g->rv = 1000000 + ka__rng_below(&g->rng, 8000000);
    ka__extra_init(g);
    *out = g;
    return KA_OK;
}

void ka_gen_free(struct ka_gen *g)
{
    if (!g)
        return;
    ka__cluster_free(&g->cl);
    ka_buf_free(&g->scratch);
    free(g->pool);
    free(g->free_ids);
    free(g->heap);
    free(g);
}

uint64_t ka_gen_events(const struct ka_gen *g)
{
    return g->n_events;
}

uint64_t ka_gen_bytes(const struct ka_gen *g)
{
    return g->n_bytes;
}

/* ---- arrivals ---- */

enum {
    SRC_BG = -1, SRC_SESSION_START = -2, SRC_ATTACK_START = -3,
    SRC_X_SECRET = -4, SRC_X_CI = -5, SRC_X_ATTACK = -6
};

/* Requests of the extra streams draw from their own PRNG. */
static bool is_extra(int src)
{
    return src <= SRC_X_SECRET || src >= KA__BASE_SESSIONS;
}

/*
 * The earliest arrival source and its instant; sessions are numbered 0.. On a tie the older
 * sources win, so the extra streams never reorder the rest.
 */
static int next_source(const struct ka_gen *g, int64_t *t)
{
    int src = SRC_BG;
    int64_t best = g->now;
    if (g->next_session < best) {
        best = g->next_session;
        src = SRC_SESSION_START;
    }
    if (g->next_attack < best) {
        best = g->next_attack;
        src = SRC_ATTACK_START;
    }
    for (int i = 0; i < KA__MAX_SESSIONS; i++) {
        if (i == KA__BASE_SESSIONS) {
            const int64_t xt[3] = {g->x.next_secret, g->x.next_ci, g->x.next_attack};
            for (int k = 0; k < 3; k++)
                if (xt[k] < best) {
                    best = xt[k];
                    src = SRC_X_SECRET - k;
                }
        }
        if (g->sess[i].active && g->sess[i].next_t < best) {
            best = g->sess[i].next_t;
            src = i;
        }
    }
    *t = best;
    return src;
}

static struct ka__session *free_session(struct ka_gen *g, bool attack)
{
    /* The four slots below KA__BASE_SESSIONS are kept for attack scenarios. */
    int lo = attack ? KA__BASE_SESSIONS - 4 : 0;
    int hi = attack ? KA__BASE_SESSIONS : KA__BASE_SESSIONS - 4;
    for (int i = lo; i < hi; i++)
        if (!g->sess[i].active)
            return &g->sess[i];
    return NULL;
}

static void start_session(struct ka_gen *g, int src, int64_t t)
{
    int64_t ev_us = 1000000 / (int64_t)g->o.rate + 1;
    bool attack = src == SRC_ATTACK_START;
    struct ka__session *s = free_session(g, attack);
    if (attack)
        g->next_attack = t + ka__rng_exp(&g->rng, ev_us * KA__ATTACK_GAP_EVENTS) + 1;
    else
        g->next_session = t + ka__rng_exp(&g->rng, ev_us * KA__SESSION_GAP_EVENTS) + 1;
    if (!s)
        return;
    struct ka__rng rng = {ka__rng_next(&g->rng)};
    memset(s, 0, sizeof *s);
    s->next_t = t;
    s->seed = rng.s;
    if (attack) {
        int sc = 1 + (int)(g->attack_rr++ % KA__RR_SCENARIOS);
        ka__session_start_attack(g, s, sc, &rng);
    } else {
        ka__session_start_normal(g, s, &rng);
    }
    s->active = 1;
}

/* Shrinks r when its events do not fit in what is left of the --events budget. */
static void fit_budget(struct ka_gen *g, struct ka__req *r, struct ka__rng *src)
{
    if (!g->o.events)
        return;
    uint64_t left = g->o.events - g->n_events - g->pending;
    if (ka__req_events(r) <= left)
        return;
    int64_t t0 = r->t[0];
    struct ka__rng rng = {r->seed};
    ka__req_init(g, r, t0, src);
    if (left >= 2)
        ka__traffic_small(g, r, &rng);
    else
        ka__traffic_authn_fail(g, r, &rng);
}

static void arrive(struct ka_gen *g, int src, int64_t t)
{
    if (src == SRC_SESSION_START || src == SRC_ATTACK_START) {
        start_session(g, src, t);
        return;
    }
    if (src == SRC_X_CI || src == SRC_X_ATTACK) {
        ka__extra_arrive(g, src == SRC_X_CI ? KA__X_CI : KA__X_ATTACK, t, NULL);
        return;
    }
    struct ka__rng *rr = is_extra(src) ? &g->x.rng : &g->rng;
    uint32_t id = g->free_ids[--g->n_free];
    struct ka__req *r = &g->pool[id];
    ka__req_init(g, r, t, rr);
    if (src == SRC_BG) {
        struct ka__rng rng = {r->seed};
        ka__traffic_background(g, r, &rng);
        g->now = t + ka__rng_exp(&g->rng, g->bg_mean) + 1;
    } else if (src == SRC_X_SECRET) {
        ka__extra_arrive(g, KA__X_SECRET, t, r);
    } else {
        struct ka__session *s = &g->sess[src];
        int64_t think = src >= KA__BASE_SESSIONS ? ka__extra_step(g, s, r)
                        : s->scenario              ? ka__attack_step(g, s, r)
                                                   : ka__session_step(g, s, r);
        if (think < 0)
            s->active = 0;
        else
            s->next_t = r->t[2] + think + 1;
    }
    fit_budget(g, r, rr);
    r->level = ka__policy_level(r);
    g->pending += ka__req_events(r);
    g->heap[g->n_heap++] = id;
    heap_up(g, g->n_heap - 1);
}

/* ---- output ---- */

static int emit(struct ka_gen *g, struct ka_buf *out, struct ka_gen_info *info)
{
    uint32_t id = g->heap[0];
    struct ka__req *r = &g->pool[id];
    int stage = req_stage(r);
    size_t old = out->n;
    struct ka__gw w = {out, ka_buf_reserve(out, 16384)};
    ka__event_write(g, r, stage, &w);
    if (!w.err && out->n - old > KA_GEN_MAX_EVENT)
        w.err = KA_ETOOBIG;
    if (w.err) {
        out->n = old;
        return w.err;
    }
    uint64_t len = out->n - old;
    if (info) {
        info->scenario = r->scenario;
        info->level = r->level;
        info->stage = stage;
        info->code = stage == 0 ? 0 : r->code;
        memcpy(info->audit_id, r->audit_id, sizeof r->audit_id);
        info->stage_usec = ka__req_time(r);
        info->line_bytes = len;
    }
    g->n_events++;
    g->n_bytes += len;
    g->pending--;
    r->next++;
    if (r->next >= req_total(r)) {
        g->heap[0] = g->heap[--g->n_heap];
        g->free_ids[g->n_free++] = id;
    }
    if (g->n_heap)
        heap_down(g, 0);
    return KA_OK;
}

int ka_gen_next(struct ka_gen *g, struct ka_buf *out, struct ka_gen_info *info)
{
    if (!g || !out)
        return KA_EINVAL;
    if ((g->o.events && g->n_events >= g->o.events) || (g->o.bytes && g->n_bytes >= g->o.bytes))
        return KA_GEN_DONE;
    for (;;) {
        int64_t t;
        int src = next_source(g, &t);
        bool can = g->n_free > 0 && (!g->o.events || g->n_events + g->pending < g->o.events);
        if (g->n_heap && (!can || ka__req_time(&g->pool[g->heap[0]]) <= t))
            break;
        if (!can)
            return KA_GEN_DONE; /* unreachable: an empty heap always leaves room */
        arrive(g, src, t);
    }
    return emit(g, out, info);
}
