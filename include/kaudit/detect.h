/*
 * detect.h - the detection rule engine: Falco-compatible rule files (list, macro, rule,
 * append/override, exceptions) evaluated against audit events.
 *
 * Life cycle:
 *   ka_detect_new()                       options: rule matching, minimum priority, hostname,
 *                                         bound of the stateful rules' state
 *   ka_detect_load_file() / _load_mem()   once per rules file, in load order (later files
 *                                         redefine, append to or override earlier items)
 *   ka_detect_compile()                   resolves macros, lists and fields, compiles regexes;
 *                                         after this no more files can be loaded
 *   ka_detect_ctx_new()                   one evaluation context per thread
 *   ka_detect_eval() / _eval_line()       per event; calls back once per alert
 *   ka_detect_format_*()                  inside the callback: alert text, JSON, rendered output
 *
 * Errors: load and compile report every problem into the caller's struct ka_diag as
 * "file:line:col: rule 'X': what is wrong" (unknown field, unknown macro, bad operator for a
 * list field, bad regex, YAML syntax...). A rule set with any error cannot be compiled, and an
 * uncompiled engine evaluates nothing (KA_EINVAL). Notes (rules skipped because their source is
 * not k8s_audit, unknown keys) are added with KA_SEV_NOTE / KA_SEV_WARNING.
 *
 * Only rules with `source: k8s_audit` are compiled; other rules (no `source` means syscall)
 * are skipped with a note, and macros used only by skipped rules are never compiled. Lists of
 * every file always count.
 *
 * Ownership and threads: a struct ka_detect is built by one thread and is read-only after
 * ka_detect_compile(); any number of threads may then evaluate with one struct ka_detect_ctx
 * each. The engine must outlive its contexts. Strings in a struct ka_detect_match belong to the
 * engine or the context and are valid during the callback only.
 *
 * Limits: a rules file is at most KA_DETECT_MAX_FILE bytes; a condition at most
 * KA_DETECT_MAX_COND bytes and KA_DETECT_MAX_DEPTH levels of nesting (macros included); an
 * output template renders to at most KA_DETECT_MAX_OUTPUT bytes (longer text is cut).
 */
#ifndef KAUDIT_DETECT_H
#define KAUDIT_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

#define KA_DETECT_MAX_FILE (16u << 20)
#define KA_DETECT_MAX_COND (64u << 10)
#define KA_DETECT_MAX_DEPTH 64
#define KA_DETECT_MAX_OUTPUT (64u << 10)

/* The bound of each context's stateful-rule state, in keys (struct ka_detect_opts). */
#define KA_DETECT_STATE_KEYS_DEFAULT 100000u
#define KA_DETECT_STATE_KEYS_MAX (64u << 20)

/* Extra output_fields of every JSON alert (struct ka_detect_opts.append_fields): at most this
 * many, each a field name of at most KA_DETECT_MAX_APPEND_NAME bytes ("name" or "name[arg]"). */
#define KA_DETECT_MAX_APPEND 32u
#define KA_DETECT_MAX_APPEND_NAME 512u

/* Falco's priorities, most severe first (the numbers are Falco's). */
enum ka_prio {
    KA_PRIO_EMERGENCY = 0,
    KA_PRIO_ALERT = 1,
    KA_PRIO_CRITICAL = 2,
    KA_PRIO_ERROR = 3,
    KA_PRIO_WARNING = 4,
    KA_PRIO_NOTICE = 5,
    KA_PRIO_INFO = 6,
    KA_PRIO_DEBUG = 7,
};

/* "Emergency" ... "Informational", "Debug": the spelling of Falco's JSON alerts. */
const char *ka_prio_name(enum ka_prio p);
/* Case-insensitive: emergency, alert, critical, error, warning, notice, info, informational,
 * debug. Returns KA_OK with *out set, or KA_EINVAL. */
int ka_prio_parse(const char *s, enum ka_prio *out);

enum ka_detect_matching {
    KA_DETECT_FIRST = 0, /* Falco's default: only the first matching rule (load order) alerts */
    KA_DETECT_ALL = 1,   /* every matching rule alerts */
};

struct ka_detect_opts {
    enum ka_detect_matching matching;
    enum ka_prio min_priority; /* rules less severe than this are not evaluated (Falco's
                                  default: DEBUG; start from ka_detect_opts_default()) */
    const char *hostname;      /* alert "hostname" and evt.hostname; NULL = gethostname() */
    size_t state_max_keys;     /* stateful rules (kaudit.window, kaudit.first_seen,
                                  kaudit.sequence): at most this many keys in each context's
                                  LRU (1 .. KA_DETECT_STATE_KEYS_MAX); 0 =
                                  KA_DETECT_STATE_KEYS_DEFAULT */
    int no_index;              /* 1: evaluate every active rule on every event instead of only
                                  the rules the rule index (prefilter) leaves; results are the
                                  same either way (for tests and benchmarks) */
    const char *const *append_fields; /* fields added to the output_fields of every JSON
                                  alert, as Falco's `append_output` entries with
                                  `extra_fields` add them: keys sorted in with the template's,
                                  a field already in the rule's template is not repeated, an
                                  absent value is null, the rendered `output` text is
                                  unchanged. ka_detect_opts_default() sets ka.auditid and
                                  kaudit.cluster; n_append_fields 0 = exactly Falco's fields.
                                  The names are copied by ka_detect_new(); unknown fields fail
                                  ka_detect_compile() */
    size_t n_append_fields;    /* at most KA_DETECT_MAX_APPEND */
};

/* Fills o with Falco's defaults: first, debug, hostname NULL, state_max_keys 0 (default),
 * plus kaudit's appended output fields (ka.auditid, kaudit.cluster). */
void ka_detect_opts_default(struct ka_detect_opts *o);

struct ka_detect;

/* Creates an empty engine. o may be NULL (defaults). Returns KA_OK, KA_EINVAL (state_max_keys
 * above KA_DETECT_STATE_KEYS_MAX; more than KA_DETECT_MAX_APPEND append fields, a NULL, empty
 * or too long one) or KA_ENOMEM. */
int ka_detect_new(const struct ka_detect_opts *o, struct ka_detect **out);
void ka_detect_free(struct ka_detect *d);

/*
 * Loads one rules file (YAML) into the engine, after the files already loaded. Returns KA_OK,
 * KA_ENOENT / KA_EIO (file), KA_ETOOBIG, or KA_ESYNTAX / KA_EINVAL with messages in diag.
 * name is the file name used in messages (load_mem copies the buffer).
 */
int ka_detect_load_file(struct ka_detect *d, const char *path, struct ka_diag *diag);
int ka_detect_load_mem(struct ka_detect *d, const char *name, const char *buf, size_t n,
                       struct ka_diag *diag);

/* Compiles everything loaded. Returns KA_OK, or KA_EINVAL with every error in diag. */
int ka_detect_compile(struct ka_detect *d, struct ka_diag *diag);

struct ka_detect_stats {
    size_t rules;          /* rule definitions after redefinition (all sources) */
    size_t rules_active;   /* compiled, enabled k8s_audit rules at or above min priority */
    size_t rules_skipped;  /* skipped: another source */
    size_t rules_disabled; /* enabled: false, or below the minimum priority */
    size_t macros, macros_compiled, lists;
    size_t fields;         /* distinct (field, argument) slots */
    size_t index_fields;   /* fields of the rule index (0: every rule runs on every event) */
    const char *index_field[4]; /* their names, the one constraining most rules first */
};
void ka_detect_stats(const struct ka_detect *d, struct ka_detect_stats *out);

/* Information about one rule, for listings. */
struct ka_detect_rule_info {
    const char *name, *desc, *source, *output;
    enum ka_prio priority;
    const char *const *tags;
    size_t n_tags;
    int enabled; /* 1 = compiled and evaluated */
};
/* Calls fn for each rule in evaluation order (compiled engines only). */
void ka_detect_each_rule(const struct ka_detect *d,
                         void (*fn)(void *ud, const struct ka_detect_rule_info *r), void *ud);

struct ka_detect_ctx;

/* A per-thread evaluation context for a compiled engine. Returns KA_OK, KA_EINVAL, KA_ENOMEM. */
int ka_detect_ctx_new(const struct ka_detect *d, struct ka_detect_ctx **out);
void ka_detect_ctx_free(struct ka_detect_ctx *c);

/*
 * Stateful rules keep their state in each context: one key per (stateful rule, values of its
 * `by` fields), in an LRU of at most state_max_keys keys. When it is full, the least recently
 * used key is forgotten (counted in evictions). Time is the event's stageTimestamp only, so
 * replaying a log gives the alerts a live run gave.
 */
struct ka_detect_state_stats {
    size_t rules;        /* active stateful rules */
    size_t keys;         /* keys held now */
    size_t max_keys;     /* the LRU bound */
    uint64_t evictions;  /* keys forgotten because the LRU was full */
    size_t bytes;        /* memory held by the state now (keys, values, hash table) */
    size_t peak_bytes;   /* the most it held */
    uint64_t alerts;     /* alerts of stateful rules */
};

/* Statistics of one context's state (only max_keys is set when there is no stateful rule). */
void ka_detect_ctx_state_stats(const struct ka_detect_ctx *c, struct ka_detect_state_stats *out);

/* One alert, valid during the callback only. */
struct ka_detect_match {
    const char *rule;           /* rule name */
    enum ka_prio priority;
    const char *const *tags;
    size_t n_tags;
    const struct ka_event *ev;  /* the event */
    int64_t time_ns;            /* event time (stageTimestamp) in ns since the epoch */
    const void *priv_rule;      /* for ka_detect_format_*() */
    struct ka_detect_ctx *priv_ctx;
};

/* Callback per alert; a non-zero return stops the evaluation and is returned by eval. */
typedef int (*ka_detect_fn)(void *ud, const struct ka_detect_match *m);

/*
 * Evaluates one scanned event (ev points into memory valid for the call). Events without a
 * stageTimestamp are not evaluated (Falco's k8saudit plugin drops them). Returns the number of
 * alerts (>= 0), KA_ENOMEM, or the callback's non-zero return. No allocation per event once the
 * context has warmed up.
 */
int ka_detect_eval(struct ka_detect_ctx *c, const struct ka_event *ev, ka_detect_fn fn,
                   void *ud);
/*
 * Same for one raw JSON line: an Event, an EventList or an array of events (each evaluated).
 * Returns the number of alerts, or KA_ENOTEVENT / KA_ESYNTAX when the line is not audit data
 * ("data not recognized as a k8s audit event").
 */
int ka_detect_eval_line(struct ka_detect_ctx *c, const char *p, size_t n, ka_detect_fn fn,
                        void *ud);

/* Appends the rendered output template of the rule (fields substituted). */
int ka_detect_format_output(const struct ka_detect_match *m, struct ka_buf *out);
/* Appends Falco's text alert: "HH:MM:SS.nnnnnnnnn: Priority output" (UTC). */
int ka_detect_format_text(const struct ka_detect_match *m, struct ka_buf *out);
/* Appends Falco's JSON alert (no newline): time, rule, priority, source, hostname, output,
 * tags, output_fields (the template's fields, evt.time and the engine's append fields). */
int ka_detect_format_json(const struct ka_detect_match *m, struct ka_buf *out);

#endif
