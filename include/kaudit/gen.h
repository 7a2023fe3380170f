/*
 * gen.h - a deterministic generator of realistic Kubernetes audit traffic.
 *
 * ka_gen simulates one cluster (nodes, namespaces, deployments and their pods, controllers,
 * kubelets, people with kubectl, CI service accounts) and writes the audit events its API
 * server would log, one JSON line per event, byte for byte in kube-apiserver's canonical form
 * (spec §1.2 member order, Go escaping, MicroTime timestamps). Everything follows from the seed:
 * the same options always produce the same bytes.
 *
 * Stage rules (spec §4.5): a short request gives RequestReceived then ResponseComplete; a
 * long-running one (watch, pods/log, exec, attach, portforward, proxy) gives RequestReceived,
 * ResponseStarted, ResponseComplete; a failed authentication gives a lone ResponseStarted 401.
 * Events are written in stageTimestamp order, so concurrent requests interleave.
 *
 * Stopping: with opts.events, exactly that many events are produced and every request that was
 * started is finished (new requests are held back or shrunk near the end). With opts.bytes,
 * output stops at the first event boundary at or after that many bytes; requests still in
 * flight at that point stay incomplete, as in a log cut at an arbitrary instant. With neither,
 * the generator never ends.
 *
 * Attack scenarios (opts.attacks) are mixed in at intervals; every event of a scenario carries
 * the scenario's name in struct ka_gen_info, so callers can write ground-truth labels. The
 * system's reaction to an attack (the garbage collector deleting the ReplicaSets and Pods of a
 * deleted Deployment) is normal traffic and is not labelled. Normal traffic also holds a few
 * legitimate Deployment deletions (the CI service account system:serviceaccount:ci:deployer
 * removing preview Deployments named NAME-pr-N) and Secret writes carrying data and stringData
 * values (cert-manager renewing TLS secrets, CI rotating and Argo CD syncing application
 * secrets). Those later additions draw from their own random stream, so the rest of the traffic
 * is the same as without them, except where the events budget they share runs out.
 *
 * Memory: a bounded pool of KA_GEN_MAX_INFLIGHT requests in flight and per-event buffers of at
 * most KA_GEN_MAX_EVENT bytes; the output buffer belongs to the caller.
 */
#ifndef KAUDIT_GEN_H
#define KAUDIT_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "kaudit/buf.h"

#define KA_GEN_MAX_INFLIGHT 16384
#define KA_GEN_MAX_EVENT (256 * 1024)
/* Returned by ka_gen_next() when the events/bytes limit has been reached. */
#define KA_GEN_DONE 1
/* Default first requestReceivedTimestamp: 2025-03-10T09:00:00Z. */
#define KA_GEN_DEFAULT_START 1741597200

struct ka_gen_opts {
    uint64_t seed;      /* any value; 0 is a valid seed */
    uint64_t events;    /* stop after exactly this many events; 0 = no limit */
    uint64_t bytes;     /* stop at the first event boundary >= bytes; 0 = no limit */
    uint32_t rate;      /* simulated events per second of timestamp time; 0 = 300 */
    bool attacks;       /* mix in labelled attack scenarios */
    int64_t start_sec;  /* first timestamp, seconds since the epoch; 0 = KA_GEN_DEFAULT_START */
    int32_t start_nsec; /* 0..999999999 (truncated to microseconds) */
};

enum ka_gen_scenario {
    KA_GEN_SC_NONE = 0,
    KA_GEN_SC_POD_EXEC,        /* "pod-exec": pods/exec create, code 101 */
    KA_GEN_SC_SECRET_DUMP,     /* "secret-dump": one principal lists/gets secrets everywhere */
    KA_GEN_SC_ADMIN_BINDING,   /* "cluster-admin-binding": clusterrolebinding to cluster-admin */
    KA_GEN_SC_TOKEN_REQUEST,   /* "token-request": serviceaccounts/token for another account */
    KA_GEN_SC_PRIVILEGED_POD,  /* "privileged-pod": privileged, hostPID, hostPath / pod */
    KA_GEN_SC_ANONYMOUS,       /* "anonymous-access": system:anonymous probing, some 403 */
    KA_GEN_SC_FORBIDDEN_STORM, /* "forbidden-storm": one principal, many 403s */
    KA_GEN_SC_DEPLOY_DELETE,   /* "deployment-delete": a person deletes production Deployments */
    KA_GEN_SC_COUNT
};

/* Name of a scenario ("pod-exec", ...); NULL for KA_GEN_SC_NONE or out of range. */
const char *ka_gen_scenario_name(int scenario);

/* What ka_gen_next() just wrote. */
struct ka_gen_info {
    int scenario;        /* enum ka_gen_scenario; KA_GEN_SC_NONE for normal traffic */
    int level;           /* 1 Metadata, 2 Request, 3 RequestResponse */
    int stage;           /* 0 RequestReceived, 1 ResponseStarted, 2 ResponseComplete */
    int code;            /* responseStatus.code, 0 for RequestReceived */
    char audit_id[40];   /* NUL-terminated UUID */
    int64_t stage_usec;  /* stageTimestamp, microseconds since the epoch */
    uint64_t line_bytes; /* length of the line written, LF included */
};

struct ka_gen;

/* Validates opts and builds the simulated cluster. KA_EINVAL for bad options, KA_ENOMEM. */
int ka_gen_new(const struct ka_gen_opts *opts, struct ka_gen **out);
void ka_gen_free(struct ka_gen *g);

/*
 * Appends the next event (one JSON object and LF) to out. Returns KA_OK, KA_GEN_DONE when the
 * limit was reached (nothing appended), or KA_ENOMEM/KA_ETOOBIG (out is then left as it was).
 * info may be NULL.
 */
int ka_gen_next(struct ka_gen *g, struct ka_buf *out, struct ka_gen_info *info);

/* Events and bytes produced so far. */
uint64_t ka_gen_events(const struct ka_gen *g);
uint64_t ka_gen_bytes(const struct ka_gen *g);

#endif
