/*
 * policy_int.h - internals shared by the policy loader (policy_load.c) and the compiler and
 * evaluator (policy_eval.c). Not part of the public API.
 *
 * The loader turns a YAML/JSON file into a struct kap_doc (every string with its position, so
 * that validation can name file:line:col), validates it, and hands it to ka__policy_compile(),
 * which builds the immutable struct ka_policy that evaluation reads. All memory of a doc or a
 * policy lives in one arena each, freed at once.
 *
 * Limits: KAP_MAX_LIST entries per list, KAP_MAX_STR bytes per string, KAP_MAX_DEPTH nesting.
 */
#ifndef KAUDIT_POLICY_INT_H
#define KAUDIT_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/policy.h"
#include "yaml_int.h"

#define KAP_MAX_LIST 65535u
#define KAP_MAX_RULES 65535u
#define KAP_MAX_STR 1024u
#define KAP_MAX_DEPTH 64u

/*
 * Internal load flag: compile without running validation (spec §2.2). Only for tests that check
 * how the checker treats policies the validator would refuse (spec §2.4 "derived" facts).
 */
#define KA__POLICY_NO_VALIDATE (1u << 30)


/* A loaded string and where it came from (1-based line and column). */
struct kap_item {
    const char *p;
    uint32_t n;
    int line, col;
};

/* A list of strings; present = the key was there and not null. */
struct kap_list {
    struct kap_item *v;
    uint32_t n;
    bool present;
    int line, col;
};

struct kap_gr_doc {
    struct kap_item group;
    bool has_group;
    struct kap_list resources, resource_names;
    bool bad; /* a member had the wrong type: skip cross-field checks */
};

enum { KAP_OMF_UNSET = 0, KAP_OMF_FALSE = 1, KAP_OMF_TRUE = 2 };

struct kap_rule_doc {
    int line, col;
    struct kap_item level;
    bool has_level, level_bad;
    struct kap_list users, user_groups, verbs, namespaces, non_resource_urls, omit_stages;
    struct kap_gr_doc *resources;
    uint32_t n_resources;
    bool has_resources;
    int res_line, res_col;
    uint8_t omf;
    bool bad;
};

struct kap_doc {
    struct kap_rule_doc *rules;
    uint32_t n_rules;
    struct kap_list omit_stages;
    bool omit_managed_fields;
};


/* Level and stage names; -1 when s is not exactly one of them. */
int ka__level_index(const char *s, size_t n);
int ka__stage_index(const char *s, size_t n);

/*
 * Compiles a validated doc into a policy (strings are copied; the doc may be freed after).
 * Returns KA_OK or KA_ENOMEM.
 */
int ka__policy_compile(const struct kap_doc *doc, struct ka_policy **out);

#endif
