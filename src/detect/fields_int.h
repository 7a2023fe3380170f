/*
 * fields_int.h - internals shared by the field extractors (fields*.c): the catalogue entry, the
 * extraction context with its arena and slot cache, value emitters, and helpers that navigate
 * the raw JSON of an event with ka_json_iter.
 *
 * An extractor appends zero or more values to the context's scratch list through the
 * ka__dv_* emitters; every emitted string is copied (decoded or compacted) into the arena, so it
 * stays valid until the next ka_dctx_reset(). Extractors return KA_OK or KA_ENOMEM.
 */
#ifndef KA_DETECT_FIELDS_INT_H
#define KA_DETECT_FIELDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fields.h"
#include "kaudit/json.h"

struct ka__dfdef;
typedef int (*ka__dfx_fn)(struct ka_dctx *c, const struct ka_dfield *f,
                          const struct ka__dfdef *d);

/* One catalogue entry. key/p parameterise the generic extractors. */
struct ka__dfdef {
    const char *name;
    ka__dfx_fn fn;
    const char *key; /* member or annotation name, NULL if unused */
    int p;           /* extractor-specific parameter */
    unsigned char list, arg, numeric, needs_audit;
    const char *desc;
};

/* The catalogue, in fields.c; the extractor tables are assembled there from these. */
extern const struct ka__dfdef ka__dfields[];
extern const size_t ka__n_dfields;

/* Arena: a chain of chunks, collapsed into one chunk of the peak size at reset. */
struct ka__chunk {
    struct ka__chunk *next;
    size_t cap, used;
    /* data follows */
};

#define KA__ARENA_MAX ((size_t)256 << 20) /* hard cap on the bytes one event may produce */
#define KA__MAX_SPECS 64                  /* pod specs located in one event */

/* Where a pod spec was found (kaudit.pod.source). */
enum ka__spec_src { KA__SRC_POD, KA__SRC_TEMPLATE, KA__SRC_CRONJOB, KA__SRC_JSONPATCH,
                    KA__SRC_MERGEPATCH };

struct ka__podspec {
    struct ka_raw spec; /* the pod spec object (absent when only metadata was found) */
    struct ka_raw meta; /* the pod (template) metadata object, or absent */
    enum ka__spec_src src;
};

struct ka__slot {
    uint64_t gen; /* event generation the cached values belong to */
    struct ka_dvals vals;
};

struct ka_dctx {
    const struct ka_event *ev;
    uint64_t evt_num;
    const char *hostname;
    uint64_t gen;
    /* arena */
    struct ka__chunk *chunks; /* newest first */
    size_t arena_total;       /* bytes of all chunks */
    /* slot cache */
    struct ka__slot *slots;
    unsigned n_slots;
    /* scratch list of the extraction in progress */
    const char **sv;
    size_t *sl;
    size_t sn;
    uint64_t dropped; /* values over KA_DFIELD_MAX_VALUES, all events */
    /* pod specs of the current event (kaudit.pod.*), located once */
    uint64_t specs_gen;
    struct ka__podspec specs[KA__MAX_SPECS];
    size_t n_specs;
    /* first event time seen (evt.reltime) */
    bool have_t0;
    int64_t t0_ns;
};

/* Arena allocation (8-byte aligned). NULL when out of memory or over KA__ARENA_MAX. */
void *ka__dctx_alloc(struct ka_dctx *c, size_t n);

/* Emitters: append one value to the scratch list (copied into the arena, NUL-terminated). */
int ka__dv_bytes(struct ka_dctx *c, const char *p, size_t n);
int ka__dv_cstr(struct ka_dctx *c, const char *s);
int ka__dv_str(struct ka_dctx *c, struct ka_str s);             /* decoded; unset = nothing */
int ka__dv_json(struct ka_dctx *c, struct ka_raw v);            /* Falco rendering; absent = nothing */
int ka__dv_u64(struct ka_dctx *c, uint64_t v);
int ka__dv_i64(struct ka_dctx *c, int64_t v);
/* Compacts validated JSON into the arena (NUL-terminated); returns NULL when out of memory. */
char *ka__compact(struct ka_dctx *c, struct ka_raw v, size_t *n);

/* JSON navigation over validated spans. */
bool ka__is_obj(struct ka_raw v);
bool ka__is_arr(struct ka_raw v);
bool ka__is_null(struct ka_raw v);
/* First member named key of object o (any value, null included). */
bool ka__get(struct ka_raw o, const char *key, struct ka_raw *out);
/* Same with a key of n bytes. */
bool ka__getn(struct ka_raw o, const char *key, size_t n, struct ka_raw *out);
/* Follows a dotted path of member names ("spec.securityContext.runAsUser"). */
bool ka__getd(struct ka_raw o, const char *dotted, struct ka_raw *out);
/* Element idx of array a. */
bool ka__at(struct ka_raw a, size_t idx, struct ka_raw *out);
/* Value of a string member as ka_str (set = 0 when absent or not a string). */
struct ka_str ka__get_str(struct ka_raw o, const char *key);
/* The event's annotation named key, as ka_str (set = 0 when absent). */
struct ka_str ka__annotation(const struct ka_event *ev, const char *key);

/* Extractors, by file. fields_ka.c: */
int ka__x_top(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_annot(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_rpath(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_rlist(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_subjects(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_rules(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_uriparam(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_hasname(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_volumes(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_volhost(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_podname(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_sourceips(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
/* fields_pod.c: */
int ka__x_ctr(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_ctr1(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_kpod_ctr(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_kpod(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
/* fields_json.c: */
int ka__x_jvalue(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_jobj(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_evt(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_kexec(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);
int ka__x_kmisc(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d);

/* Container families (p of ka__x_ctr = kind * 32 + attribute). */
enum ka__ctr_kind { KA__CK_CONTAINERS = 0, KA__CK_INIT = 1, KA__CK_EPHEMERAL = 2 };
enum ka__ctr_attr {
    KA__CA_NAME, KA__CA_IMAGE, KA__CA_REPO, KA__CA_COMMAND, KA__CA_ARGS, KA__CA_HOST_PORT,
    KA__CA_PRIV, KA__CA_APE, KA__CA_ROFS, KA__CA_RUN_USER, KA__CA_EFF_USER, KA__CA_RUN_GROUP,
    KA__CA_EFF_GROUP, KA__CA_PROC_MOUNT, KA__CA_ADD_CAPS, KA__CA_RUN_NONROOT,
    KA__CA_N
};

/* Parameters of ka__x_top (event members) and ka__x_evt / ka__x_kmisc / ka__x_kpod. */
enum ka__top { KA__T_AUDITID, KA__T_STAGE, KA__T_USER, KA__T_GROUPS, KA__T_IMPUSER, KA__T_VERB,
               KA__T_URI, KA__T_TNAME, KA__T_TNS, KA__T_TRES, KA__T_TSUB, KA__T_CODE,
               KA__T_REASON, KA__T_UA };
enum ka__evt { KA__E_NUM, KA__E_TIME, KA__E_TIME_S, KA__E_ISO, KA__E_DT, KA__E_DT_S,
               KA__E_RAW, KA__E_RAW_S, KA__E_RAW_NS, KA__E_REL, KA__E_REL_S, KA__E_REL_NS,
               KA__E_PLUGIN, KA__E_PINFO, KA__E_SOURCE, KA__E_ASYNC, KA__E_ATYPE, KA__E_HOST,
               KA__E_JRAWTIME };
enum ka__kmisc { KA__K_CLUSTER, KA__K_SECRET_TYPE, KA__K_TR_SA, KA__K_TR_SELF, KA__K_TARGET_REF };
enum ka__kpod { KA__P_HOSTNET, KA__P_HOSTPID, KA__P_HOSTIPC, KA__P_RUN_USER, KA__P_HOSTPATH,
                KA__P_SECCOMP, KA__P_APPARMOR, KA__P_SOURCE };

/*
 * Emits the values of query parameter key in requestURI (decoded as Go's url.ParseQuery does),
 * at most max of them, in order.
 */
int ka__uri_params(struct ka_dctx *c, const char *key, size_t keylen, size_t max);

/* Pod-spec helpers shared with fields_ka.c (the image repository rule, hostPath normalising). */
size_t ka__image_repo(const char *img, size_t n);
size_t ka__norm_path(const char *in, size_t n, char *out);

#endif
