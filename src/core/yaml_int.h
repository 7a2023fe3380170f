/*
 * yaml_int.h - YAML (and JSON) files as a tree of nodes that know their line and column, for
 * every loader that must report file:line:col (policy_load.c, config.c). Built from libfyaml's
 * event parser (policy_yaml.c); all memory lives in one arena, freed at once. Internal.
 */
#ifndef KAUDIT_YAML_INT_H
#define KAUDIT_YAML_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kaudit/err.h"

/* A bump allocator: chunks freed together. */
struct kap_chunk;
struct kap_arena {
    struct kap_chunk *head;
};
void *ka__arena_alloc(struct kap_arena *a, size_t n);
char *ka__arena_strdup(struct kap_arena *a, const char *s, size_t n);
void ka__arena_free(struct kap_arena *a);

/* A YAML node as the loader sees it (built from libfyaml's events, with positions). */
enum { KAP_PN_NULL = 0, KAP_PN_SCALAR, KAP_PN_SEQ, KAP_PN_MAP, KAP_PN_ALIAS };
struct kap_pn {
    uint8_t type;
    uint8_t quoted; /* scalar was quoted or a block scalar */
    int line, col;
    const char *s; /* scalar text (NUL-terminated copy) */
    uint32_t n;
    uint32_t count; /* children (a mapping has 2 per pair: key, value) */
    struct kap_pn *first, *last, *next;
    struct kap_pn *target; /* for KAP_PN_ALIAS */
};

/*
 * Parses buf as YAML (or JSON when it starts with '{') into a tree allocated in ar. Syntax
 * errors are added to diag as "name:line:col: message". *root is NULL for an empty stream.
 * Returns KA_OK, KA_ESYNTAX (errors added) or KA_ENOMEM.
 */
/* Offset of the first byte of s that is not well-formed UTF-8 (RFC 3629), or n if none. */
size_t ka__utf8_bad(const unsigned char *s, size_t n);
/* KA_OK, or KA_ESYNTAX with "name:line:col: invalid UTF-8" in diag. Every YAML reader checks
 * first: YAML is UTF-8 here, and libfyaml 0.7 loops forever on some invalid bytes. */
int ka__yaml_check_utf8(const char *name, const char *buf, size_t n, struct ka_diag *diag);

/*
 * A libfyaml diagnostic object that prints nothing and collects errors, for parsers whose
 * errors are re-reported through ka__yaml_report_errors(). NULL when out of memory.
 */
struct fy_diag;
struct fy_diag *ka__yaml_diag_new(void);
/* Adds each collected error as "name:line:col: message"; returns how many were added. */
size_t ka__yaml_report_errors(struct fy_diag *fd, const char *name, struct ka_diag *diag);

int ka__yaml_tree(const char *name, const char *buf, size_t n, unsigned flags,
                  struct kap_arena *ar, struct ka_diag *diag, struct kap_pn **root);

#endif
