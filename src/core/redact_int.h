/*
 * redact_int.h - internals of the redactor shared by redact.c (options, rules, events) and
 * redact_walk.c (the JSON walker that finds the values to replace and rewrites the text).
 */
#ifndef KA_REDACT_INT_H
#define KA_REDACT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/json.h"
#include "kaudit/redact.h"

#define KA__RD_TRY(e)                                                                              \
    do {                                                                                           \
        int ka__rc_ = (e);                                                                         \
        if (ka__rc_)                                                                               \
            return ka__rc_;                                                                        \
    } while (0)

/* Most path states alive at one JSON node (configured paths plus the built-in ones). */
#define KA__RD_MAX_ACTIVE 64

enum ka__seg_kind { KA__SEG_KEY = 0, KA__SEG_ANYKEY = 1, KA__SEG_ANYIDX = 2 };

struct ka__seg {
    enum ka__seg_kind kind;
    const char *name; /* KA__SEG_KEY: the unescaped key (points into the rule's storage) */
    size_t n;
};

struct ka__path {
    struct ka__seg segs[KA_REDACT_MAX_SEGS];
    size_t n;
    char *text; /* unescaped key bytes */
};

struct ka__rule {
    char *resource, *group, *sub; /* NUL-terminated; group "" = core; sub NULL = any */
    bool any;                     /* "*" */
    struct ka__path *paths;
    size_t n_paths;
};

struct ka_redact {
    bool disabled, no_bearer;
    struct ka__rule *rules;
    size_t n_rules;
    struct ka__path p_data, p_string_data, p_token, p_any;
};

/* Parses one path; returns KA_OK, KA_EINVAL (msg filled) or KA_ENOMEM. */
int ka__rd_path_parse(const char *s, struct ka__path *p, char *msg, size_t msgn);
void ka__rd_path_free(struct ka__path *p);

/* One replacement: bytes [off, off+n) of the source become texts[toff, toff+tn). */
struct ka__rep {
    size_t off, n, toff, tn;
};

/* A set of partially matched paths at one JSON node. */
struct ka__pset {
    const struct ka__path *p[KA__RD_MAX_ACTIVE];
    unsigned char i[KA__RD_MAX_ACTIVE];
    size_t n;
};

/* Node flags. */
enum {
    KA__F_SECRET = 1,      /* this object is a Secret */
    KA__F_ITEMS_SECRET = 2, /* this object's items[*] are Secrets */
    KA__F_TOKEN = 4,       /* this object is a TokenRequest */
    KA__F_LIST_PATHS = 8,  /* apply this node's path states to items[*] too */
};

/* What a document walk produces: replacements into one source text. */
struct ka__rw {
    const struct ka_redact *r;
    const char *base; /* the source text */
    struct ka__rep *v;
    size_t n, cap;
    struct ka_buf *texts; /* replacement texts (shared by nested walks) */
    bool discover;        /* look for Secret/SecretList/TokenRequest objects anywhere */
    unsigned nest;        /* last-applied-configuration nesting */
    int err;
};

/*
 * Walks the validated value v of rw->base: ps are the path states active at v, flags its node
 * flags. Replacements are appended in document order. Errors are kept in rw->err.
 */
void ka__rd_walk_doc(struct ka__rw *rw, struct ka_raw v, const struct ka__pset *ps,
                     unsigned flags);
/* Walks a JSON Patch array sent to a Secret. */
void ka__rd_walk_jsonpatch(struct ka__rw *rw, struct ka_raw arr);
/* Appends to rw a replacement of v (any value) by its marker. null and "" are left alone. */
void ka__rd_redact_value(struct ka__rw *rw, struct ka_raw v);
/* Writes base[0..n) with the replacements applied to out. */
int ka__rd_emit(const struct ka__rw *rw, size_t n, struct ka_buf *out);
/* Adds a replacement of [p, p+n) in rw->base by text (appended to rw->texts). */
int ka__rd_rep_add(struct ka__rw *rw, const char *p, size_t n, const char *text, size_t tn);
/* Records a replacement of [p, p+n) by texts[toff, toff+tn) already appended. */
int ka__rd_rep_push(struct ka__rw *rw, const char *p, size_t n, size_t toff, size_t tn);
/* True when the key equals the literal. */
bool ka__rd_key_is(struct ka_str k, const char *lit);
/* Finds the next bearer token or JWT in s[from..n). */
bool ka__rd_find_token(const char *s, size_t n, size_t from, size_t *st, size_t *len);

#endif
