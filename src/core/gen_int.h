/*
 * gen_int.h - internals shared by the traffic generator's files (gen.c scheduler, gen_cluster.c
 * simulated cluster, gen_traffic.c normal requests, gen_attacks.c scenarios, gen_event.c event
 * envelope, gen_objects.c request/response bodies, gen_extra.c the streams added later with their
 * own random numbers: Deployment deletions and Secret writes, gen_secrets.c their Secret
 * bodies). Not a public header.
 */
#ifndef KAUDIT_GEN_INT_H
#define KAUDIT_GEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/gen.h"
#include "kaudit/jsonw.h"

/* ---- PRNG (splitmix64) ---- */
struct ka__rng {
    uint64_t s;
};

static inline uint64_t ka__rng_next(struct ka__rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t ka__rng_below(struct ka__rng *r, uint32_t n)
{
    return (uint32_t)(((ka__rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline int64_t ka__rng_range(struct ka__rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(ka__rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* True with probability pct/1000. */
static inline bool ka__rng_permil(struct ka__rng *r, uint32_t pm)
{
    return ka__rng_below(r, 1000) < pm;
}

/* Exponentially distributed integer with the given mean (integer-only, reproducible). */
int64_t ka__rng_exp(struct ka__rng *r, int64_t mean);
/* Writes a lowercase UUIDv4 (36 chars + NUL) into out. */
void ka__rng_uuid(struct ka__rng *r, char out[37]);

/* ---- writer: a ka_buf plus a sticky error ---- */
struct ka__gw {
    struct ka_buf *b;
    int err;
};

static inline void ka__gw_raw(struct ka__gw *w, const char *s, size_t n)
{
    if (!w->err)
        w->err = ka_buf_append(w->b, s, n);
}
#define GW_LIT(w, s) ka__gw_raw((w), "" s "", sizeof(s) - 1)
static inline void ka__gw_s(struct ka__gw *w, const char *s)
{
    ka__gw_raw(w, s, strlen(s));
}
/* A JSON string, escaped (any content). */
static inline void ka__gw_str(struct ka__gw *w, const char *s)
{
    if (!w->err)
        w->err = ka_jw_str(w->b, s, strlen(s));
}
static inline void ka__gw_int(struct ka__gw *w, int64_t v)
{
    if (!w->err)
        w->err = ka_jw_int(w->b, v);
}
/* MicroTime of a microsecond instant. */
void ka__gw_micro(struct ka__gw *w, int64_t usec);
/* RFC 3339 seconds ("2025-03-10T09:00:00Z", quoted) of a microsecond instant. */
void ka__gw_rfc3339(struct ka__gw *w, int64_t usec);
/* Go time.Duration.String() of a nanosecond count, quoted. */
void ka__gw_duration(struct ka__gw *w, int64_t nsec);

/* ---- the simulated cluster ---- */
enum ka__pkind { PK_NODE, PK_CONTROLLER, PK_SA, PK_HUMAN, PK_CI, PK_ANON, PK_NONE };

struct ka__principal {
    uint8_t kind;
    char name[96];     /* username; "" for the failed-authentication user {} */
    char user_json[1024]; /* pre-rendered UserInfo object */
    char ua[160];
    char ip[40];
    char reason[256];  /* authorization.k8s.io/reason for allowed requests (unescaped) */
};

struct ka__res {
    const char *resource, *group, *version, *kind;
    bool namespaced;
};

/* Well-known resources (indexes into ka__res_table). */
enum ka__resid {
    R_PODS, R_NODES, R_LEASES, R_CONFIGMAPS, R_SECRETS, R_SERVICES, R_ENDPOINTS, R_ESLICES,
    R_EVENTS, R_DEPLOYMENTS, R_REPLICASETS, R_SERVICEACCOUNTS, R_CRB, R_NAMESPACES,
    R_DAEMONSETS, R_INGRESSES, R_CLUSTERROLES, R_ROLEBINDINGS, R_JOBS, R_PVCS, R_COUNT
};
extern const struct ka__res ka__res_table[R_COUNT];

#define KA__MAX_NODES 512
#define KA__N_NS 12
#define KA__DEPS_PER_NS 4

struct ka__deploy {
    const char *ns;
    char name[32];
    char rs_hash[12];
    char uid[37];
    uint32_t replicas;
    uint32_t image_minor;
};

struct ka__cluster {
    uint32_t n_nodes;
    char node_name[KA__MAX_NODES][64];
    char node_ip[KA__MAX_NODES][16];
    char node_uid[KA__MAX_NODES][37];
    struct ka__principal *nodes; /* n_nodes kubelets */
    struct ka__principal *ctl;   /* controllers, CTL_COUNT */
    struct ka__principal *humans;
    uint32_t n_humans;
    struct ka__principal *ci;
    uint32_t n_ci;
    struct ka__principal *attackers; /* ATK_COUNT */
    struct ka__principal failed;     /* user {} for 401s */
    struct ka__principal imps[2];    /* impersonated users (no uid/extra, as recorded) */
    struct ka__deploy deps[KA__N_NS * KA__DEPS_PER_NS];
    uint32_t n_deps;
};

/* Controller principals (indexes into cluster.ctl). */
enum ka__ctlid {
    CTL_KCM, CTL_SCHED, CTL_RS, CTL_DEPLOY, CTL_ESLICE, CTL_ENDPOINT, CTL_NODELC, CTL_GC,
    CTL_COREDNS, CTL_PROM, CTL_INGRESS, CTL_CERTMGR, CTL_APISERVER, CTL_COUNT
};
/* Attack principals (indexes into cluster.attackers). */
enum ka__atkid {
    ATK_MALLORY, ATK_COMPROMISED_SA, ATK_ANON, ATK_SCANNER, ATK_DEV, ATK_CARELESS, ATK_COUNT
};

extern const char *const ka__ns_names[KA__N_NS];

int ka__cluster_build(struct ka__cluster *c, uint64_t seed, uint32_t n_nodes);
void ka__cluster_free(struct ka__cluster *c);

/* ---- requests ---- */
enum ka__verb { V_GET, V_LIST, V_WATCH, V_CREATE, V_UPDATE, V_PATCH, V_DELETE, V_COUNT };
extern const char *const ka__verb_names[V_COUNT];

enum ka__shape { SH_SHORT, SH_LONG, SH_AUTHN };
enum ka__status {
    ST_OK,        /* {"metadata":{},"code":N} */
    ST_SUCCESS,   /* Status Success with details (deletes) */
    ST_FORBIDDEN, /* 403 with the RBAC message */
    ST_NOTFOUND,  /* 404 */
    ST_CONFLICT,  /* 409 optimistic concurrency */
    ST_UNAUTH     /* 401 Unauthorized */
};
enum ka__authz { AZ_NONE, AZ_ALLOW, AZ_FORBID };

/* Request and response bodies (gen_objects.c). */
enum ka__body {
    B_NONE, B_POD, B_POD_PRIV, B_BINDING, B_NODE_STATUS, B_POD_STATUS, B_ESLICE, B_ENDPOINTS,
    B_LEASE, B_CONFIGMAP, B_SECRET, B_DELETE, B_DEPLOY_APPLY, B_DEPLOY_IMAGE, B_DEPLOYMENT,
    B_CRB, B_TOKENREQ, B_EVENT,
    B_X_TLS_SECRET,   /* cert-manager's TLS Secret (gen_secrets.c) */
    B_X_APPLY_SECRET, /* kubectl apply patch of a Secret: data and last-applied annotation */
    B_X_STRING_SECRET, /* a Secret with stringData (request) or its data (response) */
    B_COUNT
};

struct ka__req {
    uint64_t seq, seed;
    int64_t t[3];       /* stage instants, µs: received, started (long only), complete */
    uint8_t shape, next, level, scenario;
    uint8_t verb, status, authz, body_req, body_resp;
    uint8_t psa;        /* add pod-security enforce-policy annotation */
    uint8_t latency;    /* add apiserver.latency.k8s.io annotations at ResponseComplete */
    uint16_t code;
    int16_t res;        /* enum ka__resid, -1 for non-resource requests */
    const char *sub;    /* subresource or NULL */
    const char *ns;     /* namespace or NULL */
    const struct ka__principal *who, *imp;
    const char *reason; /* overrides who->reason for allowed requests; NULL = who's */
    const char *ip;     /* overrides who->ip (static strings only); NULL = who's */
    const char *ua;     /* overrides who->ua (static strings only); NULL = who's */
    uint32_t a, b;      /* template data: deployment index, node index, ... */
    uint64_t orv;       /* objectRef.resourceVersion at ResponseComplete; 0 = none */
    char ouid[37];      /* objectRef.uid at ResponseComplete; "" = none */
    char name[96];
    char uri[512];
    char audit_id[37];
};

/* ---- generator state ---- */
struct ka__session {
    uint8_t active, script, step, scenario;
    int64_t next_t;
    uint64_t seed;
    const struct ka__principal *who, *imp;
    uint32_t a, b, c;
};

/* Slots 0..19 normal sessions, 20..23 attacks, 24..29 the extra streams (gen_extra.c). */
#define KA__MAX_SESSIONS 30
#define KA__BASE_SESSIONS 24

/* The extra streams' state: own PRNG and arrival instants (µs; INT64_MAX = never). */
struct ka__extra {
    struct ka__rng rng;
    int64_t next_secret;  /* next Secret write */
    int64_t next_ci;      /* next CI preview Deployment deletion */
    int64_t next_attack;  /* next deployment-delete scenario */
};

struct ka_gen {
    struct ka_gen_opts o;
    struct ka__rng rng;
    struct ka__cluster cl;
    int64_t now;              /* µs of the next background arrival */
    int64_t bg_mean;          /* mean µs between background requests */
    int64_t next_session;     /* µs of the next human/CI session start */
    int64_t next_attack;      /* µs of the next attack scenario start */
    uint32_t attack_rr;       /* next scenario, round robin */
    uint64_t rv;              /* cluster resourceVersion */
    uint64_t seq;
    uint32_t lease_rr;        /* round robin over node leases */
    uint32_t status_rr;       /* round robin over node status */
    struct ka__extra x;
    struct ka__session sess[KA__MAX_SESSIONS];
    struct ka__req *pool;     /* KA_GEN_MAX_INFLIGHT slots */
    uint32_t *free_ids;
    uint32_t n_free;
    uint32_t *heap;           /* slot ids ordered by (t[next], seq) */
    uint32_t n_heap;
    uint64_t pending;         /* events still to be written by requests in flight */
    uint64_t n_events, n_bytes;
    struct ka_buf scratch;    /* for nested JSON strings */
};

/* Next stage instant and count of remaining events of a request. */
int64_t ka__req_time(const struct ka__req *r);
unsigned ka__req_events(const struct ka__req *r);

/* Fills r with a fresh request: clears it, sets seq/seed/audit ID/t[0] (drawn from rng). */
void ka__req_init(struct ka_gen *g, struct ka__req *r, int64_t t0, struct ka__rng *rng);
/* Sets shape and stage times from a latency (µs); long requests: dur = stream duration. */
void ka__req_short(struct ka_gen *g, struct ka__req *r, int64_t lat);
void ka__req_long(struct ka_gen *g, struct ka__req *r, int64_t dur);
/* Builds r->uri for a resource request: prefix, namespace, name, subresource, query. */
void ka__req_uri(struct ka__req *r, const char *name, const char *query);
/* Sets res/ns/verb/name and the uri in one call (query may be NULL). */
void ka__req_res(struct ka__req *r, int res, const char *ns, int verb, const char *name,
                 const char *sub, const char *query);
/* Chooses the level of a request like a typical policy would. */
uint8_t ka__policy_level(const struct ka__req *r);

/* Background traffic (gen_traffic.c): fills r (already initialised) with one request. */
void ka__traffic_background(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng);
/* A short replacement request (2 events) used when the event budget is nearly spent. */
void ka__traffic_small(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng);
/* A lone failed-authentication event (1 event). */
void ka__traffic_authn_fail(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng);
/* Starts a human/CI session in s. */
void ka__session_start_normal(struct ka_gen *g, struct ka__session *s, struct ka__rng *rng);
/* Starts attack scenario sc in s (gen_attacks.c). */
void ka__session_start_attack(struct ka_gen *g, struct ka__session *s, int sc,
                              struct ka__rng *rng);
/*
 * Runs the session's current step: fills r and returns the think time in µs before the next
 * step, or -1 when this was the last step.
 */
int64_t ka__session_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r);
int64_t ka__attack_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r);

/* ---- extra streams (gen_extra.c) ---- */
enum { KA__X_SECRET, KA__X_CI, KA__X_ATTACK };
/* Sets the extra streams' PRNG and first arrival instants. */
void ka__extra_init(struct ka_gen *g);
/* Starts extra source src (KA__X_*) at t: a Secret write into r, or a session (r unused). */
void ka__extra_arrive(struct ka_gen *g, int src, int64_t t, struct ka__req *r);
/* Runs the step of an extra session (slot >= KA__BASE_SESSIONS); as ka__session_step. */
int64_t ka__extra_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r);
/* Writes the Secret bodies B_X_* (gen_secrets.c). */
void ka__secret_body_write(const struct ka__req *r, int kind, bool response, struct ka__gw *w);

/* Writes one event line of r at stage (0..2) into w (gen_event.c). */
void ka__event_write(struct ka_gen *g, const struct ka__req *r, int stage, struct ka__gw *w);
/* Writes body kind for r (gen_objects.c); response selects the server's version. */
void ka__body_write(struct ka_gen *g, const struct ka__req *r, int kind, bool response,
                    struct ka__gw *w);

#endif
