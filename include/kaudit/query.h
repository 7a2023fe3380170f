/*
 * query.h - the query model of `kaudit query`: filters, their parsing from command-line values,
 * the exact match of one event, and the selection of rows (shared by the raw-file scan and the
 * store, so that both give the same rows).
 *
 * Semantics (a filter kind that is empty matches everything; kinds combine with AND; the items
 * of one kind combine with OR, except grep, whose items must all occur):
 *
 *   users         glob on user.username
 *   as_users      glob on impersonatedUser.username (an event without one never matches)
 *   groups        glob; matches when any of user.groups matches
 *   verbs         exact verb
 *   resources     audit-policy meaning, on objectRef (an event without objectRef.resource never
 *                 matches): RES[.GROUP][/SUB]. RES is a name or "*"; SUB is a name or "*".
 *                   "pods"        resource pods, no subresource
 *                   "pods/<*>"    resource pods with or without any subresource
 *                   "<*>/status"  any resource, subresource status
 *                   "pods/exec"   resource pods, subresource exec
 *                   "*"           every resource and subresource
 *                   "deployments.apps"  group-qualified: objectRef.apiGroup must be "apps"
 *                   "pods.core" / "pods." the core group (apiGroup empty)
 *                   "<*>/<*>"     any resource with some subresource
 *                 (<*> stands for a star, which cannot be written here inside a C comment.)
 *                 Without .GROUP any group matches. Comparison is exact (case-sensitive).
 *   namespaces    glob on objectRef.namespace
 *   names         glob on objectRef.name
 *   codes         responseStatus.code; items are a code (403), a class (4xx) or either negated
 *                 (!2xx, !404). An event matches when it has a code, the code lies in one of the
 *                 positive items (or there are none) and in none of the negated ones. An event
 *                 without a code (RequestReceived) never matches a --code filter.
 *   decision      annotations["authorization.k8s.io/decision"] equals "allow" or "forbid"
 *   cidrs         any element of sourceIPs lies in one of the prefixes (v4 and v6; an address
 *                 is a /32 or /128; an IPv4-mapped v6 address "::ffff:a.b.c.d" counts as the v4
 *                 address). Elements that are not addresses never match.
 *   user_agents   glob on userAgent
 *   clusters      glob on annotations["kaudit.io/cluster"] (absent never matches)
 *   greps         every item is a substring of the raw event bytes as stored (the line)
 *   stage         see struct ka_query_stage below
 *   since/until   on requestReceivedTimestamp: since <= t < until; an event without that
 *                 timestamp never matches when either is set
 *
 * A string filter never matches an event whose field is absent or empty.
 *
 * Globs (ka_query_glob): '*' any sequence of bytes, '?' exactly one UTF-8 character, every
 * other byte literal ('[' included, unlike SQLite GLOB: a store translating a pattern to GLOB
 * must write '[' as "[[]"). Globs and exact comparisons are on decoded JSON string values.
 *
 * Rows (ka_query_rows_*): in KA_QSTAGE_REQUESTS mode a row is a request: among the events of one
 * auditID in the data searched, the one with the latest stage (RequestReceived <
 * ResponseStarted < ResponseComplete < Panic; an unknown stage ranks below RequestReceived),
 * the first such in data order when several share that stage; filters apply to that event. An
 * event without auditID is a request of its own. In KA_QSTAGE_ONE / KA_QSTAGE_ANY every event
 * of that stage / of any stage is a row. Rows are ordered by requestReceivedTimestamp (absent
 * first), then auditID bytes, then stage rank, then data order. limit keeps the first rows.
 */
#ifndef KAUDIT_QUERY_H
#define KAUDIT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"
#include "kaudit/event.h"

#define KA_QUERY_MAX_ITEMS 256u   /* items per filter kind */
#define KA_QUERY_MAX_ITEM 1024u   /* bytes per item */

#define KA_QUERY_DECISION_ANN "authorization.k8s.io/decision"
#define KA_QUERY_CLUSTER_ANN "kaudit.io/cluster"

/* A list of NUL-terminated strings owned by the query. */
struct ka_qstrs {
    char **v;
    size_t n;
};

/* How a resource pattern constrains objectRef.subresource. */
enum ka_qsub {
    KA_QSUB_NONE = 0,        /* "pods": no subresource */
    KA_QSUB_EXACT = 1,       /* "pods/exec", "<*>/status": exactly `subresource` */
    KA_QSUB_ANY = 2,         /* "<*>/<*>": some subresource */
    KA_QSUB_ANY_OR_NONE = 3, /* "pods/<*>", "<*>": with or without one */
};

/* One resource pattern, parsed. */
struct ka_qresource {
    char *resource;    /* a name, or "*" for any */
    char *group;       /* NULL: any group; "" the core group; else the apiGroup required */
    char *subresource; /* KA_QSUB_EXACT: the name; else NULL */
    enum ka_qsub sub;
};

/* responseStatus.code in [lo, hi]; neg = the item was written with '!'. */
struct ka_qcode {
    int lo, hi;
    bool neg;
};

/* A prefix: family 4 (addr[0..4) used) or 6 (addr[0..16)), bits 0..32 / 0..128. */
struct ka_qcidr {
    uint8_t addr[16];
    uint8_t family;
    uint8_t bits;
};

enum ka_qdecision { KA_QDEC_ANY = 0, KA_QDEC_ALLOW = 1, KA_QDEC_FORBID = 2 };

enum ka_qstage_mode {
    KA_QSTAGE_REQUESTS = 0, /* default: one row per auditID, its latest stage */
    KA_QSTAGE_ONE = 1,      /* every event of stage `stage` */
    KA_QSTAGE_ANY = 2,      /* every event */
};

/* The whole query. Zero-initialise (or ka_query_init), fill with ka_query_add_*, free. */
struct ka_query {
    struct ka_qstrs users, as_users, groups, verbs, namespaces, names, user_agents, clusters,
        greps;
    struct ka_qresource *resources;
    size_t n_resources;
    struct ka_qcode *codes;
    size_t n_codes;
    struct ka_qcidr *cidrs;
    size_t n_cidrs;
    enum ka_qdecision decision;
    enum ka_qstage_mode stage_mode;
    enum ka_stage stage;       /* KA_QSTAGE_ONE only */
    bool has_since, has_until; /* on requestReceivedTimestamp */
    struct ka_time since, until;
    uint64_t limit;            /* 0 = no limit */
};

void ka_query_init(struct ka_query *q);
void ka_query_free(struct ka_query *q);

/*
 * Command-line values. Each takes one flag value; list-valued kinds split it at commas (not
 * greps) and may be called again for a repeated flag. On a bad value they return KA_EINVAL
 * (KA_ETOOBIG past the limits) and put one message naming the value in d; q is unchanged.
 */
int ka_query_add_users(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_as(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_groups(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_verbs(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_resources(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_namespaces(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_names(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_codes(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_set_decision(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_source_ips(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_user_agents(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_clusters(struct ka_query *q, const char *val, struct ka_diag *d);
int ka_query_add_grep(struct ka_query *q, const char *val, struct ka_diag *d);
/* "requests" (default), "any", or a stage name (RequestReceived, ResponseStarted, ...). */
int ka_query_set_stage(struct ka_query *q, const char *val, struct ka_diag *d);
/* A duration before now ("90s", "30m", "2h", "7d", "1h30m") or an RFC 3339 time. */
int ka_query_set_since(struct ka_query *q, const char *val, int64_t now_sec, struct ka_diag *d);
int ka_query_set_until(struct ka_query *q, const char *val, int64_t now_sec, struct ka_diag *d);
int ka_query_set_limit(struct ka_query *q, const char *val, struct ka_diag *d);

/* Parsers underneath (also for other commands). Return KA_OK or KA_EINVAL. */
int ka_query_parse_time(const char *val, int64_t now_sec, struct ka_time *out);
int ka_query_parse_duration(const char *val, int64_t *sec_out);
int ka_query_parse_cidr(const char *val, struct ka_qcidr *out);
int ka_query_parse_code(const char *val, struct ka_qcode *out);
int ka_query_parse_resource(const char *val, struct ka_qresource *out); /* allocates members */
void ka_query_resource_free(struct ka_qresource *r);

/* Glob match (see above) of pattern pat (NUL-terminated) against s[0..n). */
bool ka_query_glob(const char *pat, const char *s, size_t n);
/* Whether an address in text form lies in the prefix. */
bool ka_query_cidr_match(const struct ka_qcidr *c, const char *addr, size_t n);

/*
 * Whether ev (scanned from raw[0..n), the event's bytes as stored) passes every filter except
 * the stage mode and limit (the row selection applies those). raw is used by greps only.
 */
bool ka_query_match(const struct ka_query *q, const struct ka_event *ev, const char *raw,
                    size_t n);

/* Whether the stage mode admits this event as a candidate (ONE: that stage; else true). */
bool ka_query_stage_ok(const struct ka_query *q, const struct ka_event *ev);

/* Rank used by the row selection: RequestReceived 1 .. Panic 4, unknown 0. */
int ka_query_stage_rank(enum ka_stage s);

/*
 * Prefilter literals: byte strings that every matching raw event must contain.
 *   raw:  always (the greps); a line lacking one cannot match.
 *   vals: quoted fragments of string values ("delete", "deployments", "system:serviceaccount:
 *         ...) derived from single-item filters; reliable only on lines for which
 *         ka_query_line_plain() is true (every escape is one Go's encoder writes, so a value made
 *         of the literal's characters has exactly one spelling).
 * Scanners may skip a line lacking a raw literal, or a plain line lacking a val literal,
 * without scanning it. Returns KA_OK or KA_ENOMEM; free both with ka_qstrs_free.
 */
int ka_query_literals(const struct ka_query *q, struct ka_qstrs *raw, struct ka_qstrs *vals);
bool ka_query_line_plain(const char *p, size_t n);
/* memmem for the prefilter (SIMD where available): the first occurrence of needle, or NULL. */
const char *ka_query_find(const char *hay, size_t n, const char *needle, size_t m);
void ka_qstrs_free(struct ka_qstrs *s);

/*
 * Fast path for the row selection: when p[0..n) starts exactly as kube-apiserver writes an event
 * ({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"...","auditID":"...","stage":"...",)
 * with an unescaped auditID, sets *id and *id_n to it, *stage, and returns true. The caller must
 * still scan lines that can match; for the others this is their auditID and stage as the
 * apiserver wrote them (a later duplicate key in a hand-made line is not seen).
 */
bool ka_query_peek_id(const char *p, size_t n, const char **id, size_t *id_n,
                      enum ka_stage *stage);

/*
 * Row selection over a stream of events (the file scan). Bounded memory:
 *   - REQUESTS mode appends 16 bytes per event of the data (a 125-bit hash of its auditID and
 *     its stage rank; the position is the index), written sequentially, at most
 *     KA_ROWS_MAX_EVENTS events (2 GiB); beyond that ka_rows_add fails with KA_ETOOBIG (use
 *     --stage any, fewer files, or the store). At the end one pass over that array with a
 *     small hash table of the candidates' auditIDs finds each candidate's latest stage.
 *   - every matching event (a candidate) keeps a 64-byte index entry in memory (at most
 *     KA_ROWS_MAX_CANDIDATES) and its bytes in a spool: memory up to KA_ROWS_SPOOL_MEM, then an
 *     unlinked temporary file in $TMPDIR (or /tmp).
 * Two distinct auditIDs are confused only if their 125-bit hashes collide.
 */
#define KA_ROWS_MAX_EVENTS (128ull << 20)
#define KA_ROWS_MAX_CANDIDATES (256ull << 20)
#define KA_ROWS_SPOOL_MEM (64u << 20)

struct ka_rows;

int ka_rows_new(const struct ka_query *q, struct ka_rows **out);
/*
 * Registers one event of the data in data order. ev may be NULL when the caller only extracted
 * auditID and stage (id/id_n/stage) because the line cannot match: it then only takes part in
 * the choice of the latest stage. matched: the event passed ka_query_match and
 * ka_query_stage_ok; then raw[0..n) is kept (n excludes the LF).
 */
int ka_rows_add(struct ka_rows *r, const char *id, size_t id_n, enum ka_stage stage,
                const struct ka_event *ev, bool matched, const char *raw, size_t n);
/* Whether the selection needs every event (REQUESTS mode) or only the matching ones. */
bool ka_rows_needs_all(const struct ka_rows *r);
/*
 * Selects, orders, applies the limit and calls fn for each row with its raw bytes (fn must
 * scan them again if it needs fields). fn's non-zero return stops and is returned.
 */
int ka_rows_finish(struct ka_rows *r,
                   int (*fn)(void *ud, const char *raw, size_t n), void *ud);
uint64_t ka_rows_count_ids(const struct ka_rows *r);
void ka_rows_free(struct ka_rows *r);

#endif
