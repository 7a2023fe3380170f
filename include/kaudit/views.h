/*
 * views.h - the operator views over audit rows: `kaudit history` (every request that touched one
 * object, with what changed), `activity` (what one user did), `explain` (why a pod started) and
 * `denied` (403s with the smallest RBAC rule that would allow them).
 *
 * Each view is an accumulator fed with rows (struct ka_event, scanned from the row's bytes) in
 * row order (requestReceivedTimestamp, as query.h selects them); the caller chooses the rows
 * with a struct ka_query (ka_view_*_query() fill the filters a view needs) and reads them from
 * raw files or from the store. Rows that do not concern the view are ignored, so a caller may
 * feed more than it selected. Output (text or JSON) is appended to a ka_buf owned by the view;
 * the caller takes it with ka_view_buf() whenever it likes. Nothing here prints.
 *
 * Limits: every kept string is cut at KA_VIEW_MAX_STR bytes; counters keep at most
 * KA_VIEW_MAX_KEYS distinct keys per table (then KA_ETOOBIG); history diffs list at most
 * KA_VIEW_MAX_CHANGES paths per request and recurse at most KA_VIEW_MAX_DEPTH levels; explain
 * keeps at most KA_VIEW_MAX_RECORDS records and follows at most KA_VIEW_MAX_HOPS owners.
 */
#ifndef KAUDIT_VIEWS_H
#define KAUDIT_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/event.h"
#include "kaudit/query.h"

#define KA_VIEW_MAX_STR 1024u
#define KA_VIEW_MAX_KEYS (1u << 20)
#define KA_VIEW_MAX_CHANGES 200u
#define KA_VIEW_MAX_DEPTH 64u
#define KA_VIEW_MAX_VALUE 160u /* bytes of a value shown in a text diff */
#define KA_VIEW_MAX_RECORDS (4u << 20)
#define KA_VIEW_MAX_HOPS 8u
#define KA_VIEW_MAX_STATE (16u << 20) /* bytes of a logged object kept for the next diff */

enum ka_view_fmt { KA_VIEW_TEXT = 0, KA_VIEW_JSON = 1 };

/* ---- kinds and resources ---- */

/* A well-known resource: plural name, API group ("" core), kind, short name, namespaced. */
struct ka_view_kind {
    const char *resource, *group, *kind, *short_name;
    bool namespaced;
};

/*
 * Resolves a kind or resource as people write it: "deployment", "deployments", "Deployment",
 * "deploy", "deployments.apps", "deployment.apps", "pods", "po", "secret", "cm"... (case-
 * insensitive). Returns the table entry, or NULL for an unknown word (a custom resource).
 */
const struct ka_view_kind *ka_view_kind_lookup(const char *word);
/* The entry for an audit objectRef (resource, group), or NULL. */
const struct ka_view_kind *ka_view_kind_by_resource(const char *resource, size_t n,
                                                    const char *group, size_t gn);

/* The object a view is about, from "KIND/NAME" (and -n NS). */
struct ka_view_target {
    char resource[128]; /* plural resource name as in objectRef.resource */
    char group[128];    /* API group; "" core */
    bool group_known;   /* false: any group (an unknown word without ".GROUP") */
    char kind[128];     /* "Deployment", or the word given for unknown resources */
    char name[256];
    char namespace_[256]; /* "" = any / cluster-scoped */
    bool namespaced;
};

/* Parses "deployment/web", "deployments.apps/web", "pod/x", "foos.example.com/bar". KA_EINVAL
 * (with a message in d) on a bad spec. ns may be NULL. */
int ka_view_target_parse(const char *spec, const char *ns, struct ka_view_target *out,
                         struct ka_diag *d);

/* ---- JSON helpers (on validated values) ---- */

/* Member key of object obj (absent: p == NULL). */
struct ka_raw ka_view_member(struct ka_raw obj, const char *key);
/* Nested members: keys[0].keys[1]... (n keys). */
struct ka_raw ka_view_path(struct ka_raw obj, const char *const *keys, size_t n);
/* Whether a raw value is a string equal to lit. */
bool ka_view_raw_str_eq(struct ka_raw v, const char *lit, size_t n);
/* Appends a decoded string value (or a compact rendering of any other value) to b. */
int ka_view_raw_text(struct ka_raw v, struct ka_buf *b);

/* ---- diffs ---- */

enum ka_view_op { KA_VIEW_ADD = 0, KA_VIEW_REMOVE, KA_VIEW_CHANGE };

/*
 * Appends to out (text) the changes from old to new, one per line, each prefixed by indent:
 *   "+ spec.replicas: 3", "- metadata.labels.tier: \"web\"", "~ spec.template.spec.containers[0]
 *   .image: \"a:1\" -> \"a:2\"". Objects are compared member by member, arrays element by
 * element; metadata.managedFields, metadata.resourceVersion, metadata.generation and
 * metadata.creationTimestamp are left out. json: instead appends JSON objects
 * {"op":"add|remove|change","path":"...","old":v,"new":v} separated by commas.
 * *n_changes receives how many paths differ (lines written are at most KA_VIEW_MAX_CHANGES).
 */
int ka_view_diff(struct ka_raw old_v, struct ka_raw new_v, bool json, const char *indent,
                 struct ka_buf *out, size_t *n_changes);
/* Renders a patch body: a JSON patch array ("replace /spec/replicas: 3"), or a merge patch
 * object flattened to "set spec.replicas: 3" / "delete metadata.labels.x" lines. */
int ka_view_patch_text(struct ka_raw patch, const char *indent, struct ka_buf *out);

/* ---- history ---- */

struct ka_history;
/* Fills q (initialised by the caller) with the filters that select t's rows. */
int ka_view_history_query(const struct ka_view_target *t, struct ka_query *q,
                          struct ka_diag *d);
int ka_history_new(const struct ka_view_target *t, enum ka_view_fmt fmt,
                   struct ka_history **out);
int ka_history_add(struct ka_history *h, const struct ka_event *ev);
int ka_history_finish(struct ka_history *h);
struct ka_buf *ka_history_buf(struct ka_history *h);
uint64_t ka_history_count(const struct ka_history *h);
void ka_history_free(struct ka_history *h);

/* ---- activity ---- */

struct ka_activity;
/* "system:serviceaccount:NS:NAME", "NS/NAME" (a service account) or any glob on usernames. */
int ka_view_activity_query(const char *user, struct ka_query *q, struct ka_diag *d);
/* timeline_max: rows of the timeline shown (0 = 200; UINT64_MAX = all). */
int ka_activity_new(enum ka_view_fmt fmt, uint64_t timeline_max, struct ka_activity **out);
int ka_activity_add(struct ka_activity *a, const struct ka_event *ev);
int ka_activity_finish(struct ka_activity *a);
struct ka_buf *ka_activity_buf(struct ka_activity *a);
uint64_t ka_activity_count(const struct ka_activity *a);
void ka_activity_free(struct ka_activity *a);

/* ---- denied ---- */

struct ka_denied;
int ka_view_denied_query(struct ka_query *q, struct ka_diag *d);
int ka_denied_new(enum ka_view_fmt fmt, struct ka_denied **out);
/* Rows whose responseStatus.code is not 403 are ignored. */
int ka_denied_add(struct ka_denied *dn, const struct ka_event *ev);
int ka_denied_finish(struct ka_denied *dn);
struct ka_buf *ka_denied_buf(struct ka_denied *dn);
uint64_t ka_denied_count(const struct ka_denied *dn);  /* 403 rows */
uint64_t ka_denied_groups(const struct ka_denied *dn); /* groups printed */
void ka_denied_free(struct ka_denied *dn);

/* ---- explain ---- */

struct ka_explain;
/* The rows explain needs: pods and the workload resources of the pod's namespace. */
int ka_view_explain_query(const struct ka_view_target *pod, struct ka_query *q,
                          struct ka_diag *d);
int ka_explain_new(const struct ka_view_target *pod, enum ka_view_fmt fmt,
                   struct ka_explain **out);
int ka_explain_add(struct ka_explain *x, const struct ka_event *ev);
int ka_explain_finish(struct ka_explain *x);
struct ka_buf *ka_explain_buf(struct ka_explain *x);
/* After finish: number of steps of the chain (the pod included); 0 = the pod is not in the
 * data. */
size_t ka_explain_steps(const struct ka_explain *x);
void ka_explain_free(struct ka_explain *x);

#endif
