/*
 * event.h - the audit event codec: a zero-copy index over one audit.k8s.io Event, and its
 * canonical encoding.
 *
 * ka_event_scan() validates one event strictly (see json.h) and fills a struct ka_event whose
 * fields point into the caller's buffer: the buffer must outlive the event. Nothing is
 * allocated. Members kaudit does not know are validated and skipped (Go drops them too);
 * a member that appears twice keeps its last value, as in Go. JSON null is the same as absent.
 * Known members with the wrong JSON type make the event invalid (KA_ENOTEVENT), as Go's decoder
 * would refuse them.
 *
 * Accepted: audit.k8s.io/v1 and v1beta1 events, and events without apiVersion/kind. A UTF-8 BOM
 * before the object and whitespace (CR/LF included) around it are accepted. v1beta1's extra
 * `metadata` and `timestamp` members are indexed only so that the writer can drop them.
 *
 * ka_event_write() encodes an event byte for byte as kube-apiserver's log backend writes it
 * (spec §1.2-§1.8), followed by one LF.
 */
#ifndef KAUDIT_EVENT_H
#define KAUDIT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/json.h"

enum ka_level {
    KA_LEVEL_NONE = 0, /* also every unknown string, as in the apiserver's ordering */
    KA_LEVEL_METADATA = 1,
    KA_LEVEL_REQUEST = 2,
    KA_LEVEL_REQUEST_RESPONSE = 3,
};

enum ka_stage {
    KA_STAGE_REQUEST_RECEIVED = 0,
    KA_STAGE_RESPONSE_STARTED = 1,
    KA_STAGE_RESPONSE_COMPLETE = 2,
    KA_STAGE_PANIC = 3,
    KA_STAGE_UNKNOWN = 4, /* empty or not one of the four */
};
#define KA_STAGE_BIT(s) (1u << (s))

/* Level/stage names, and parsing from a (possibly escaped) string. Unknown -> NONE / UNKNOWN. */
const char *ka_level_name(enum ka_level l);
const char *ka_stage_name(enum ka_stage s);
enum ka_level ka_level_parse(struct ka_str s);
enum ka_stage ka_stage_parse(struct ka_str s);
/* Exact match against the four valid level names (for validation). Returns -1 if none. */
int ka_level_from_cstr(const char *s, size_t n);
int ka_stage_from_cstr(const char *s, size_t n);

/* UserInfo. present = the member existed and was not null. */
struct ka_user {
    bool present;
    struct ka_str username, uid;
    struct ka_raw groups; /* validated array of strings, or absent */
    struct ka_raw extra;  /* validated object of string -> array of strings, or absent */
};

struct ka_objref {
    bool present;
    struct ka_str resource, namespace_, name, uid, apiGroup, apiVersion, resourceVersion,
        subresource;
};

struct ka_status {
    bool present;
    struct ka_str kind, apiVersion; /* TypeMeta: empty in practice */
    struct ka_raw metadata; /* ListMeta object, or absent */
    struct ka_str status, message, reason;
    struct ka_raw details;  /* StatusDetails object, or absent */
    bool has_code;
    int32_t code;
};

/* A MicroTime: set = present and not null. sec since the epoch (UTC), nsec 0..999999999. */
struct ka_time {
    bool set;
    int64_t sec;
    int32_t nsec;
};

enum ka_event_version {
    KA_EVENT_V_NONE = 0, /* no apiVersion */
    KA_EVENT_V1 = 1,
    KA_EVENT_V1BETA1 = 2,
};

struct ka_event {
    struct ka_raw raw; /* the whole object, from '{' to '}' */
    enum ka_event_version version;
    struct ka_str kind, apiVersion;
    struct ka_str level, auditID, stage, requestURI, verb, userAgent;
    struct ka_user user, impersonatedUser;
    struct ka_raw authenticationMetadata; /* object, or absent */
    struct ka_raw sourceIPs;              /* array of strings, or absent */
    struct ka_objref objectRef;
    struct ka_status responseStatus;
    struct ka_raw requestObject, responseObject; /* any JSON value but null, or absent */
    struct ka_time requestReceivedTimestamp, stageTimestamp;
    struct ka_raw annotations; /* object of string -> string, or absent */
    struct ka_raw v1beta1_metadata, v1beta1_timestamp; /* dropped on output */
    /* Parsed once for convenience. */
    enum ka_level level_v;
    enum ka_stage stage_v;
};

struct ka_scan_opts {
    unsigned max_depth; /* 0 = KA_JSON_DEFAULT_MAX_DEPTH */
};

struct ka_scan_err {
    int code;      /* KA_ESYNTAX, KA_ENOTEVENT or KA_ETOOBIG */
    size_t off;    /* byte offset in the scanned buffer */
    char msg[128]; /* e.g. "responseStatus.code: expected an integer" */
};

/*
 * Scans one event in [p, p+n): optional BOM and whitespace, one JSON object, optional
 * whitespace. On success fills *ev. On failure returns KA_ESYNTAX (not JSON), KA_ETOOBIG (too
 * deep) or KA_ENOTEVENT (JSON, but not an audit event), and fills *err.
 */
int ka_event_scan(const char *p, size_t n, const struct ka_scan_opts *opts, struct ka_event *ev,
                  struct ka_scan_err *err);

enum ka_doc_kind { KA_DOC_EVENT = 1, KA_DOC_EVENTLIST = 2, KA_DOC_ARRAY = 3 };

/* Called for each item of a document; a non-zero return stops the walk and is returned. */
typedef int (*ka_doc_item_fn)(void *ud, const char *item, size_t n, size_t index);

/*
 * Scans a request body or file holding one JSON document: an EventList (an object with an
 * `items` array; kind EventList or absent), a JSON array of events, or a single Event object.
 * The whole document is validated first; only then is fn called for each item, in order, with
 * the item's raw span (fn then calls ka_event_scan on it). BOM and surrounding whitespace are
 * accepted. Returns KA_OK, the error of validation (with err filled), or fn's return value.
 */
int ka_doc_scan(const char *p, size_t n, const struct ka_scan_opts *opts, enum ka_doc_kind *kind,
                ka_doc_item_fn fn, void *ud, struct ka_scan_err *err);

/* Changes applied while writing; zero-initialise for a plain re-encode. */
struct ka_write_opts {
    const char *level;          /* write this level instead of the event's; NULL = keep */
    bool drop_request_object;   /* omit requestObject */
    bool drop_response_object;  /* omit responseObject */
    bool omit_managed_fields;   /* remove metadata.managedFields from request/response objects
                                   (top level and each element of `items`) */
    /* Annotations to add (key/value NUL-terminated; an existing key keeps its value, as the
       apiserver's first-write-wins rule). Sorted into place. */
    const char *const *add_annotation_keys;
    const char *const *add_annotation_vals;
    size_t n_add_annotations;
};

/*
 * Appends the canonical encoding of ev plus one LF to out. kind and apiVersion are always
 * written as "Event" and "audit.k8s.io/v1". Returns KA_OK, KA_ENOMEM or KA_ETOOBIG; out is
 * restored to its previous length on failure.
 * Only the indexed members of ev are read, never ev->raw: a caller may substitute any member's
 * span with other validated JSON of the same type (redaction does this).
 */
int ka_event_write(const struct ka_event *ev, const struct ka_write_opts *wo, struct ka_buf *out);

/*
 * Parses a MicroTime / RFC 3339 timestamp body ("2024-08-14T05:40:56.794659Z", any number of
 * fractional digits or none, `Z` or a numeric offset). Returns KA_OK or KA_EINVAL.
 */
int ka_time_parse(const char *s, size_t n, int64_t *sec, int32_t *nsec);

#endif
