/*
 * detect_state.h - the engine's interface to its stateful rules (kaudit.window,
 * kaudit.first_seen, kaudit.sequence; docs/detection-engine.md "Stateful rules"): the bound of
 * the state and its statistics. An extension of kaudit/detect.h, meant to move there.
 *
 * The state lives in each evaluation context (struct ka_detect_ctx): one key per (stateful
 * rule, value of its `by` fields), kept in an LRU of at most max_keys keys per context. When the
 * LRU is full, the least recently used key is forgotten (counted in evictions). Time is the
 * event's stageTimestamp only, so replaying a log gives the alerts a live run gave.
 */
#ifndef KA_DETECT_STATE_H
#define KA_DETECT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "kaudit/detect.h"

#define KA_DETECT_STATE_KEYS_DEFAULT 100000u
#define KA_DETECT_STATE_KEYS_MAX (64u << 20)

/* Sets the maximum number of state keys of each context created after this call (1 ..
 * KA_DETECT_STATE_KEYS_MAX; default KA_DETECT_STATE_KEYS_DEFAULT). Returns KA_OK or KA_EINVAL. */
int ka_detect_set_state_limit(struct ka_detect *d, size_t max_keys);

struct ka_detect_state_stats {
    size_t rules;        /* active stateful rules */
    size_t keys;         /* keys held now */
    size_t max_keys;     /* the LRU bound */
    uint64_t evictions;  /* keys forgotten because the LRU was full */
    size_t bytes;        /* memory held by the state now (keys, values, hash table) */
    size_t peak_bytes;   /* the most it held */
    uint64_t alerts;     /* alerts of stateful rules */
};

/* Statistics of one context's state (all zero when the rules have no stateful rule). */
void ka_detect_ctx_state_stats(const struct ka_detect_ctx *c, struct ka_detect_state_stats *out);

#endif
