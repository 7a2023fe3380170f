/*
 * views_int.h - internals shared by the views (views_*.c): a bounded string counter, row field
 * helpers and JSON output helpers. Not a public header.
 */
#ifndef KAUDIT_VIEWS_INT_H
#define KAUDIT_VIEWS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/event.h"
#include "kaudit/views.h"

/* A counter of distinct strings (at most KA_VIEW_MAX_KEYS keys). */
struct ka__vcount_ent {
    char *key;
    uint64_t n;
};
struct ka__vcount {
    struct ka__vcount_ent *v; /* open addressing, cap a power of two */
    size_t n, cap;
};

int ka__vcount_add(struct ka__vcount *c, const char *key, size_t n, uint64_t by);
/* The entry of key, or NULL. */
struct ka__vcount_ent *ka__vcount_find(const struct ka__vcount *c, const char *key, size_t n);
/* Entries sorted by count (largest first), then key; the array belongs to the caller. */
int ka__vcount_sorted(const struct ka__vcount *c, struct ka__vcount_ent **out, size_t *n);
void ka__vcount_free(struct ka__vcount *c);

/* Decoded string (cut at KA_VIEW_MAX_STR) into a fixed buffer of KA_VIEW_MAX_STR + 1 bytes. */
size_t ka__vstr(struct ka_str s, char *out);
/* "resource[/subresource]" of the row, or "" for a non-resource request. */
void ka__vres(const struct ka_event *ev, char *out, size_t cap);
/* annotations[key] decoded into out (KA_VIEW_MAX_STR + 1 bytes); false when absent. */
bool ka__vannotation(const struct ka_event *ev, const char *key, char *out);
/* The first element of sourceIPs ("" when none). */
void ka__vsource_ip(const struct ka_event *ev, char *out);
/* requestReceivedTimestamp as RFC 3339 with microseconds ("-" when absent). */
void ka__vtime(const struct ka_time *t, char *out, size_t cap);
/* Whether a username is one of Kubernetes' own controllers (kube-system service accounts of
 * the controller manager, system:kube-controller-manager, system:kube-scheduler). */
bool ka__vcontroller(const char *user);

/* JSON output: "key":"value" with a leading comma unless first. */
int ka__vjkv(struct ka_buf *b, bool first, const char *key, const char *val);
int ka__vjkint(struct ka_buf *b, bool first, const char *key, int64_t v);

#endif
