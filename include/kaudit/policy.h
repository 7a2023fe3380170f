/*
 * policy.h - the audit policy engine, with kube-apiserver's exact semantics (spec §2).
 *
 * A policy is loaded from YAML or JSON (audit.k8s.io/v1 Policy), validated, and compiled once;
 * evaluation then allocates nothing and never fails. The compiled policy is immutable and may be
 * shared between threads. Messages (warnings, errors) go to a caller-owned struct ka_diag, each
 * as "file:line:col: field.path: message".
 *
 * Limits: a policy file is at most KA_POLICY_MAX_BYTES (configurable by the caller through
 * ka_policy_load_mem), at most 65535 rules.
 */
#ifndef KAUDIT_POLICY_H
#define KAUDIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"

#define KA_POLICY_MAX_BYTES (16u << 20)

struct ka_policy;

enum {
    /* Unknown and duplicate fields are errors instead of warnings (`--strict`). */
    KA_POLICY_STRICT = 1u << 0,
};

/*
 * Loads, validates and compiles the policy in file path. Every problem found is added to diag
 * (all of them, not just the first). Returns KA_OK and *out, or KA_EIO / KA_EPOLICY /
 * KA_ENOMEM. Warnings may be added on success.
 */
int ka_policy_load_file(const char *path, unsigned flags, struct ka_diag *diag,
                        struct ka_policy **out);
/* Same from memory; name is used in messages. */
int ka_policy_load_mem(const char *name, const char *buf, size_t n, unsigned flags,
                       struct ka_diag *diag, struct ka_policy **out);
void ka_policy_free(struct ka_policy *p);

size_t ka_policy_rule_count(const struct ka_policy *p);
/* Bit i set when level i (enum ka_level) is used by some rule. */
unsigned ka_policy_levels_used(const struct ka_policy *p);

/*
 * The request attributes the checker sees (spec §2.3). Strings are ka_str so that they can
 * point straight into a scanned event (escaped or not); set = 0 means "". groups is a
 * validated JSON array of strings (or absent).
 */
struct ka_attrs {
    bool has_user;
    struct ka_str user;
    struct ka_raw groups;
    struct ka_str verb;
    bool resource_request;
    struct ka_str api_group, namespace_, resource, subresource, name;
    struct ka_str path; /* URL path without the query */
};

/*
 * Request attributes from an event: user = `user` (no user when it has neither username nor
 * groups), verb = `verb`, a resource request exactly when `objectRef` is present, path =
 * `requestURI` up to `?`.
 */
void ka_attrs_from_event(const struct ka_event *ev, struct ka_attrs *a);

struct ka_decision {
    enum ka_level level;
    unsigned omit_stages; /* KA_STAGE_BIT() set */
    bool omit_managed_fields;
    int rule; /* 0-based index of the matching rule, -1 when none matched */
};

void ka_policy_eval(const struct ka_policy *p, const struct ka_attrs *a, struct ka_decision *d);

#endif
