/*
 * fields.h - the detection field catalogue: resolving a field name used in a rule condition or
 * output template to an extractor, and extracting its values from one audit event.
 *
 * Contract between the rule engine (rules_*.c, cond_*.c, eval.c) and the extractors
 * (fields*.c). The catalogue holds every ka.* field of Falco's k8saudit plugin, jevt.* / json.*,
 * the evt.* time fields, and kaudit's own extension fields (kaudit.*), see
 * docs/detection-fields.md.
 *
 * Values: every extraction yields zero or more strings. Zero values = "field not present" (the
 * path is absent, or the list is empty); a comparison on a missing field is false. A scalar
 * field yields at most one value; a list field may yield several. Strings are rendered as Falco
 * renders them: JSON strings decoded, numbers and booleans as their JSON text ("201", "true"),
 * objects and arrays as compact JSON text.
 *
 * Caching: the engine gives each distinct (field, argument) pair of a compiled rule set a slot
 * number (0 .. n_slots-1); ka_dctx_extract() extracts a slot at most once per event and returns
 * the cached values after that. Value strings live in the context's arena until the next
 * ka_dctx_reset().
 *
 * Limits: an argument is at most KA_DFIELD_MAX_ARG bytes; an extraction yields at most
 * KA_DFIELD_MAX_VALUES values (more are dropped, counted in the context).
 */
#ifndef KA_DETECT_FIELDS_H
#define KA_DETECT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/event.h"

#define KA_DFIELD_MAX_ARG 256
#define KA_DFIELD_MAX_VALUES 4096

enum ka_dfield_arg {
    KA_DFIELD_ARG_NONE = 0,   /* takes no argument */
    KA_DFIELD_ARG_INDEX = 1,  /* optional [N] selects one element of a list */
    KA_DFIELD_ARG_KEY = 2,    /* required [key] (ka.uri.param[command], ka.req.volume.hostpath[/p]) */
    KA_DFIELD_ARG_PTR = 3,    /* optional [/json/pointer] (jevt.value, json.value) */
};

/* A resolved field reference. */
struct ka_dfield {
    int id;            /* index in the catalogue */
    bool is_list;      /* list field: the engine only allows exists, in, intersects */
    bool numeric;      /* compared numerically by <, <=, >, >= (evt.* numbers); ka.* are strings */
    char arg[KA_DFIELD_MAX_ARG + 1]; /* the argument as written (NUL-terminated; "" if none) */
    bool has_arg;
    long index;        /* parsed [N] for ARG_INDEX fields, -1 when absent */
    unsigned slot;     /* set by the engine: distinct (id, arg) pairs get distinct slots */
};

/*
 * Resolves name (e.g. "ka.req.pod.containers.image") with its argument (the text between the
 * brackets, or NULL when there were none) into *out. Returns KA_OK; KA_ENOENT for an unknown
 * field; KA_EINVAL for a missing required argument, an argument on a field that takes none, or
 * a bad index; msg gets a one-line reason ("unknown field 'ka.foo'").
 */
int ka_dfield_resolve(const char *name, const char *arg, struct ka_dfield *out, char *msg,
                      size_t msglen);

/* Canonical name of a resolved field, without its argument. */
const char *ka_dfield_name(const struct ka_dfield *f);

/* Calls fn for every field of the catalogue (for `kaudit detect --list-fields` and docs). */
void ka_dfield_each(void (*fn)(void *ud, const char *name, bool is_list, enum ka_dfield_arg arg,
                               const char *desc),
                    void *ud);

/* The values of one extraction. v[i] has length len[i] and is also NUL-terminated. */
struct ka_dvals {
    size_t n;
    const char *const *v;
    const size_t *len;
};

struct ka_dctx;

/* A per-thread extraction context able to cache n_slots fields. */
int ka_dctx_new(unsigned n_slots, struct ka_dctx **out);
void ka_dctx_free(struct ka_dctx *c);

/*
 * Starts a new event: ev (scanned by ka_event_scan, pointing into memory that stays valid until
 * the next reset) replaces the previous one and the cache is cleared. evt_num is the event's
 * sequence number (evt.num), hostname the value of evt.hostname.
 */
void ka_dctx_reset(struct ka_dctx *c, const struct ka_event *ev, uint64_t evt_num,
                   const char *hostname);

/* Extracts f for the current event into *out (cached by f->slot). Returns KA_OK, KA_ENOMEM, or
 * KA_EINVAL for an unresolved field or when no event was set. With no values, out->v and
 * out->len point at empty static arrays, never NULL. */
int ka_dctx_extract(struct ka_dctx *c, const struct ka_dfield *f, struct ka_dvals *out);

/* The event of the current reset. */
const struct ka_event *ka_dctx_event(const struct ka_dctx *c);

#endif
