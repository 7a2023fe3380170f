/*
 * detect_int.h - internals of the detection engine shared by rules_load.c, rules_apply.c,
 * cond_parse.c, cond_compile.c, eval.c, output.c and detect.c.
 *
 * Everything the engine allocates lives in its arena (struct kap_arena) and is freed with the
 * engine, except compiled regexes (freed from the engine's list) and per-context buffers.
 * Condition and output texts remember where each piece came from (struct kd_seg), so that an
 * error at byte k of a condition, possibly assembled from appends, is reported at the
 * file:line:col of that byte.
 */
#ifndef KA_DETECT_INT_H
#define KA_DETECT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/yaml_int.h"
#include "fields.h"
#include "kaudit/detect.h"
#include "kaudit/err.h"

#define KD_MAX_ITEMS 65536u  /* list items, exception values, rule tags */
#define KD_MAX_DEFS 65536u   /* lists, macros, rules */
#define KD_MAX_SEGS 256u     /* appends to one condition */
#define KD_MAX_NAME 1024u    /* rule, macro, list names */

/* ---- arena: struct kap_arena of yaml_int.h (zeroed, max_align_t-aligned allocations) ---- */
/* Grows *v (of *cap elements of size sz) to hold at least need elements. */
int kd_grow(struct kap_arena *a, void **v, size_t *cap, size_t need, size_t sz);

/* ---- positions ---- */
struct kd_pos {
    const char *file;
    unsigned long line, col;
};

/* Bytes [off, next seg's off) of a text come from a YAML scalar starting at src[src_off]. */
struct kd_seg {
    size_t off;
    const char *file, *src; /* the whole source file (kept by the engine) */
    size_t src_len, src_off;
    unsigned long line, col; /* of the scalar */
    bool exact;              /* false: generated text (exceptions): report line:col only */
};

struct kd_text {
    char *s;
    size_t n;
    struct kd_seg *segs;
    size_t nsegs;
};
/* file:line:col of byte k of t. */
void kd_text_pos(const struct kd_text *t, size_t k, struct kd_pos *out);
/* Appends " " + piece (or sets it when empty). */
int kd_text_append(struct kap_arena *a, struct kd_text *t, const char *s, size_t n,
                   const struct kd_seg *from);

/* ---- definitions ---- */
struct kd_list {
    char *name;
    char **items;
    size_t n, cap;
    struct kd_pos pos;
    int expanding; /* cycle guard */
};

struct kd_xval {          /* one exception value: a string, or a list of strings */
    bool is_list;
    char *s;
    char **items;
    size_t n;
};
struct kd_xtuple {
    struct kd_xval *v;
    size_t n;
};
struct kd_exc {
    char *name;
    struct kd_pos pos;
    bool fields_is_list, comps_is_list, has_comps;
    char **fields, **comps;
    size_t nfields, ncomps;
    struct kd_xtuple *values;
    size_t nvalues, capvalues;
};

struct kd_node;
struct kd_cnode;

struct kd_macro {
    char *name;
    struct kd_text cond;
    struct kd_pos pos;
    int state;               /* 0 unseen, 1 compiling (cycle guard), 2 done, 3 failed */
    struct kd_cnode *compiled;
};

struct kd_tmpl_part {
    const char *lit;         /* literal text, or NULL for a field */
    size_t n;
    const struct ka_dfield *f;
    const char *key;         /* "name" or "name[arg]" for output_fields */
};

/* ---- stateful rules (kaudit.window, kaudit.first_seen, kaudit.sequence; state*.c) ---- */
enum kd_skind { KD_ST_WINDOW = 1, KD_ST_FIRST_SEEN = 2, KD_ST_SEQUENCE = 3 };
#define KD_STATE_MAX_BY 8         /* fields of `by` */
#define KD_STATE_MAX_STEPS 8      /* steps of a sequence */
#define KD_STATE_MAX_COUNT 1000u  /* more_than of a window */
#define KD_STATE_MAX_VALUES 1024u /* max_values of first_seen */
#define KD_STATE_MAX_KEY 1024u    /* bytes of one key (longer keys are cut) */

struct kd_srule {
    enum kd_skind kind;
    unsigned id;                              /* index among the engine's stateful rules */
    struct kd_pos pos;                        /* of the kaudit.* key, for messages */
    char *by_name[KD_STATE_MAX_BY];
    const struct ka_dfield *by[KD_STATE_MAX_BY];
    size_t nby;
    char *val_name;                           /* window distinct / first_seen value, or NULL */
    const struct ka_dfield *val;
    int64_t within_ns, learn_ns;
    uint32_t more_than, max_values;
    struct kd_text step_txt[KD_STATE_MAX_STEPS];
    struct kd_cnode *steps[KD_STATE_MAX_STEPS];
    size_t nsteps;
};

struct kd_rule {
    char *name, *desc, *source;
    struct kd_srule *st;      /* stateful extension, or NULL */
    struct kd_text cond, output;
    enum ka_prio prio;
    char **tags;
    size_t ntags;
    bool enabled, skip_unknown, k8s, has_prio;
    struct kd_exc *exc;
    size_t nexc;
    struct kd_pos pos;
    /* compiled */
    bool active;
    struct kd_cnode *root;
    struct kd_tmpl_part *tmpl;
    size_t ntmpl;
};

/* ---- conditions ---- */
enum kd_op {
    KD_OP_EQ, KD_OP_NE, KD_OP_LT, KD_OP_LE, KD_OP_GT, KD_OP_GE, KD_OP_CONTAINS,
    KD_OP_ICONTAINS, KD_OP_BCONTAINS, KD_OP_STARTSWITH, KD_OP_BSTARTSWITH, KD_OP_ENDSWITH,
    KD_OP_GLOB, KD_OP_IGLOB, KD_OP_REGEX, KD_OP_IN, KD_OP_INTERSECTS, KD_OP_PMATCH,
    KD_OP_EXISTS, KD_OP_COUNT
};
enum kd_mod { KD_MOD_NONE, KD_MOD_ONEOF, KD_MOD_ANYOF, KD_MOD_ALLOF };
enum kd_kind { KD_AND, KD_OR, KD_NOT, KD_CHECK, KD_MACRO, KD_TRUE, KD_FALSE };

const char *kd_op_name(enum kd_op op);

struct kd_val {
    char *s;
    size_t n;
    bool quoted;
    size_t off;
};

/* Parsed condition (AST). */
struct kd_node {
    enum kd_kind kind;
    enum kd_op op;
    enum kd_mod mod;
    bool rhs_list;       /* the right side was a (...) list or a bare list name */
    size_t off;          /* byte offset in the condition text */
    struct kd_node **kids;
    size_t nkids;
    char *name;          /* field or macro name */
    char *arg;           /* field argument, or NULL */
    struct kd_val *vals;
    size_t nvals;
};

/*
 * Parses text into *out (allocated in a). On a syntax error returns KA_EINVAL with *err_off
 * and msg set.
 */
int kd_parse(struct kap_arena *a, const char *text, size_t n, struct kd_node **out,
             size_t *err_off, char *msg, size_t msglen);

/* A set of strings (hash set, open addressing). */
struct kd_sent {
    const char *s;
    size_t n;
    uint64_t h;
};
struct kd_set {
    struct kd_sent *e;
    size_t cap, count;
};
uint64_t kd_hash(const char *s, size_t n);
bool kd_set_has(const struct kd_set *set, const char *s, size_t n);

/* Compiled condition (evaluated by eval.c). */
struct kd_cnode {
    enum kd_kind kind;
    enum kd_op op;
    enum kd_mod mod;
    bool num;                 /* numeric comparison */
    size_t nkids;
    struct kd_cnode **kids;
    const struct ka_dfield *f;
    const char **vs;          /* right-hand values (lower-cased for icontains/iglob) */
    size_t *vn;
    int64_t *vnum;
    size_t nv;
    struct kd_set *set;       /* in / intersects */
    pcre2_code **re;          /* regex, one per value */
};

/* ---- the engine ---- */
struct kd_file {
    char *name;
    char *buf;
    size_t n;
};

struct ka_detect {
    struct ka_detect_opts o;
    char hostname[256];
    struct kap_arena ar;
    struct kd_file *files;
    size_t nfiles, capfiles;
    struct kd_list **lists;
    size_t nlists, caplists;
    struct kd_macro **macros;
    size_t nmacros, capmacros;
    struct kd_rule **rules;
    size_t nrules, caprules;
    /* compiled */
    bool compiled, failed;
    struct ka_dfield **fields;
    size_t nfields, capfields;
    pcre2_code **regexes;
    size_t nregexes, capregexes;
    struct kd_rule **active;
    size_t nactive;
    size_t nstate;            /* active stateful rules (ids 0 .. nstate-1) */
    size_t state_max_keys;    /* LRU bound of each context's state */
    size_t macros_compiled, rules_skipped, rules_disabled;
    struct kd_pf *pf;         /* rule index (prefilter.c), or NULL */
    char **append_names;      /* opts.append_fields, copied into the arena */
    size_t nappend;
    struct kd_tmpl_part *append; /* compiled append fields (nappend of them) */
};

struct kd_list *kd_find_list(const struct ka_detect *d, const char *name);
struct kd_macro *kd_find_macro(const struct ka_detect *d, const char *name);
struct kd_rule *kd_find_rule(const struct ka_detect *d, const char *name);

/* rules_load.c: parse a YAML rules file and apply its items to d. */
int kd_load_yaml(struct ka_detect *d, const struct kd_file *f, struct ka_diag *diag);

/* ---- loading (rules_load.c, rules_apply.c) ---- */
struct fy_node;
struct kd_ld {
    struct ka_detect *d;
    const struct kd_file *f;
    struct ka_diag *diag;
    const char *what, *name; /* item kind and name for messages */
    size_t errors;
    bool oom;
};
void kd_node_pos(const struct kd_ld *l, struct fy_node *n, struct kd_pos *out);
void kd_err(struct kd_ld *l, struct fy_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kd_warn(struct kd_ld *l, struct fy_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
struct fy_node *kd_map_get(struct fy_node *map, const char *key);
char *kd_scalar(struct kd_ld *l, struct fy_node *n, const char *key);
int kd_bool(struct kd_ld *l, struct fy_node *n, const char *key, bool *out);
int kd_strlist(struct kd_ld *l, struct fy_node *n, const char *key, char ***v, size_t *count);
void kd_seg_of(const struct kd_ld *l, struct fy_node *n, struct kd_seg *out);
void kd_apply_rule(struct kd_ld *l, struct fy_node *item);
void kd_apply_macro(struct kd_ld *l, struct fy_node *item);
void kd_apply_list(struct kd_ld *l, struct fy_node *item);

/* cond_compile.c */
int kd_compile_rule(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag);
/* Resolves (interns) a field reference; on error fills msg. */
int kd_field_get(struct ka_detect *d, const char *name, const char *arg,
                 const struct ka_dfield **out, char *msg, size_t msglen);

/* state_load.c: the kaudit.* keys of a defining rule item; compiling them. */
void kd_state_parse(struct kd_ld *l, struct fy_node *item, struct kd_rule *r);
int kd_state_compile(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag);

/* output.c */
int kd_compile_output(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag);
/* Resolves the engine's append fields (d->append_names) into d->append. */
int kd_compile_append(struct ka_detect *d, struct ka_diag *diag);

/* ---- evaluation ---- */
#define KD_LOW_MAX 4096u /* longest value icontains lower-cases once per event */
struct ka_detect_ctx {
    const struct ka_detect *d;
    struct ka_dctx *x;
    pcre2_match_data *md;
    uint64_t evt_num;
    const struct ka_event *ev;
    int64_t time_ns;
    int err;                  /* first extraction error of the event */
    struct kd_state *st;      /* state of the stateful rules, or NULL */
    uint64_t *cand;           /* candidate rules of the current event (kd_pf_words words) */
    /* the last value lower-cased for icontains (valid for event low_evt; values of one event
       stay put in the extraction arena, so the pointer identifies the value) */
    uint64_t low_evt;
    const char *low_src;
    char low[KD_LOW_MAX];
};
bool kd_eval(struct ka_detect_ctx *c, const struct kd_cnode *n);

/* prefilter.c: the rule index. build: after the active rules are final (KA_OK, KA_ENOMEM);
   words: size of a rule mask; select: the active rules that can match the current event
   (bit i = d->active[i]); fields: names of the indexed fields (returns how many there are). */
struct kd_pf;
int kd_pf_build(struct ka_detect *d);
size_t kd_pf_words(const struct ka_detect *d);
void kd_pf_select(struct ka_detect_ctx *c, uint64_t *mask);
size_t kd_pf_fields(const struct ka_detect *d, const char **names, size_t max);

/* state.c: per-context state. feed returns 1 when the rule alerts on the current event, 0 when
   not, KA_ENOMEM. */
struct kd_state;
int kd_state_new(const struct ka_detect *d, struct kd_state **out);
void kd_state_free(struct kd_state *s);
int kd_state_feed(struct ka_detect_ctx *c, const struct kd_rule *r);

#endif
