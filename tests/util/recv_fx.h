/*
 * recv_fx.h - the fixture of the output tests (test_output_es.c, test_output_loki.c,
 * test_output_splunk.c, test_output_kafka.c): canonical events gathered into a batch, hand-filled
 * URLs, the calls every output answers the same way (create, format), and tests/util/recv.py
 * started on a loopback port as the receiving end, with a small engine that drives batches
 * through an output until each event is delivered or refused.
 */
#ifndef KA_RECV_FX_H
#define KA_RECV_FX_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "kaudit/event.h"
#include "kaudit/output.h"

/* ---- canonical events and hand-filled URLs --------------------------------------------------- */

#define MAXEV 40
struct fx {
    char *line[MAXEV];
    struct ka_event ev[MAXEV];
    struct ka_out_event oe[MAXEV];
    struct ka_out_item items[MAXEV];
    struct ka_out_batch b;
};

/* Appends js, scanned and re-encoded canonically (without its LF), to the batch. */
void fx_add(struct fx *f, const char *js);
/* n generated events id-0000.. with varied verbs, resources and times; extra_member (or NULL)
   is appended inside each object, e.g. ",\"annotations\":{...}". */
void fx_gen(struct fx *f, size_t n, const char *extra_member);
void fx_free(struct fx *f);
void url_init(struct ka_out_url *u, const char *scheme, const char *host, int port);
void url_param(struct ka_out_url *u, const char *k, const char *v);

/* ops->create that must succeed; the context to destroy. */
void *fx_create(const struct ka_output_ops *ops, const struct ka_out_url *u,
                const struct ka_out_opts *o);
/* ops->create without options that must fail with KA_EINVAL and an error holding needle. */
void fx_create_fails(const struct ka_output_ops *ops, const struct ka_out_url *u,
                     const char *needle);
/* ops->format of the whole batch (items cleared first), as a malloc'd string. */
char *fx_format(const struct ka_output_ops *ops, void *ctx, struct fx *f);

/* ---- tests/util/recv.py on loopback ---------------------------------------------------------- */

struct rv {
    pid_t pid;
    int port;
    char *dir;
};

/* Starts recv.py with its NULL-terminated extra arguments (or NULL); waits for its port. */
void rv_start(struct rv *r, const char *const *extra);
/* POST json to path (or GET when json is NULL); returns the body (malloc'd). */
char *rv_call(struct rv *r, const char *path, const char *json);
void rv_ctl(struct rv *r, const char *path, const char *json);
/* The receiver's /_ctl/state (caller decrefs); expects no wire-format violations. */
json_t *rv_state(struct rv *r);
void rv_stop(struct rv *r);
/* How often each id-NNNN of n arrived in state[list][i][member].auditID (count has n slots). */
void rv_count_ids(json_t *st, const char *list, const char *member, size_t n, int *count);

/* ---- a minimal engine: batches of the pending events, retried until OK or PERMANENT ---------- */

struct outcome {
    enum ka_out_result result;
    int tries;
    char reason[160];
};

void drive(const struct ka_output_ops *ops, void *ctx, const struct ka_out_event *ev, size_t n,
           size_t batch, int rounds, struct outcome *out);

#endif
