/*
 * config_int.h - what config.c (values, parsing, getters) and config_load.c (the YAML loader)
 * share: the value representation and the few functions the loader calls.
 */
#ifndef KA_CORE_CONFIG_INT_H
#define KA_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/config.h"

#define KA_CFG_MSG 512u

/* One value: s for string/addr, i for bool, int, size, duration (ms) and enum (index), v[n]
   for a list, items[n_items * fields] for a maplist. origin: where it was set (NULL: default). */
struct cval {
    char *s;
    long long i;
    char **v;
    size_t n;
    struct cval *items;
    size_t n_items;
    char *origin;
};

struct ka_cfg {
    const struct ka_cfg_key *t;
    size_t n;
    struct cval *vals;
    void **fills; /* item arrays handed out by ka_cfg_fill() */
    size_t n_fills;
};

size_t ka__cfg_nkeys(const struct ka_cfg_key *t);
void ka__cfg_val_clear(struct cval *v, const struct ka_cfg_key *k);
/* A NUL-terminated copy of s[0..n): KA_OK or KA_ENOMEM. */
int ka__cfg_dupstr(const char *s, size_t n, char **out);
/* Parses s as k's type into v: 0, or -1 with a message in err. quoted: s was a quoted scalar. */
int ka__cfg_parse_scalar(const struct ka_cfg_key *k, const char *s, bool quoted, struct cval *v,
                         char *err, size_t en);
/* Index of key name (n bytes) in t[0..nk), or -1. */
long ka__cfg_find(const struct ka_cfg_key *t, size_t nk, const char *name, size_t n);
/* Replaces value i by v (taken over) with the given origin (copied). */
int ka__cfg_assign(struct ka_cfg *c, size_t i, struct cval *v, const char *origin);
/* A key's default into v. */
int ka__cfg_set_default(const struct ka_cfg_key *k, struct cval *v, struct ka_diag *d);

#endif
