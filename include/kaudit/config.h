/*
 * config.h - typed configuration: key tables, one YAML file, flag overrides.
 *
 * Each module declares its keys in a const table of struct ka_cfg_key (dotted name such as
 * "server.listen", type, default, one-line doc). A struct ka_cfg holds one value per key,
 * starting at the defaults; ka_cfg_load_file() reads a YAML file whose nested mappings spell
 * the dotted names (server: {listen: ...}); ka_cfg_set() overrides one key from a string, as a
 * command-line flag does. Unknown keys, duplicate keys, wrong types and out-of-range values
 * are all reported (every one, not only the first) in a struct ka_diag as
 *   "FILE:LINE:COL: key.path: message"      (file)
 *   "--flag: key.path: message"             (flag)
 *
 * Value syntax:
 *   string    any scalar ("" = unset)          bool      true / false (unquoted)
 *   int       decimal, within [min, max]       size      bytes or 512KiB, 16MiB, 1GiB, 2TiB
 *   duration  500ms, 30s, 5m, 2h, 1d, 1h30m    enum      one of the key's choices
 *   addr      host:port or [v6addr]:port       list      a sequence of strings
 *   maplist   a sequence of mappings, each checked against the key's field table
 * Sizes count in powers of 1024 whatever the spelling (K, KB, KiB are all 1024), as the
 * command-line size arguments do. A null value (`key:` or `key: null`) keeps the default.
 *
 * Ownership: tables are borrowed and must outlive the struct ka_cfg. Strings returned by the
 * getters belong to the struct ka_cfg and live until it is freed or the key is set again.
 * Limits: KA_CFG_MAX_FILE bytes of YAML, KA_CFG_MAX_ITEMS entries per list, KA_CFG_MAX_STR
 * bytes per string, key paths of KA_CFG_MAX_PATH bytes, nesting as the YAML reader allows.
 */
#ifndef KAUDIT_CONFIG_H
#define KAUDIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"

#define KA_CFG_MAX_FILE (4u << 20)
#define KA_CFG_MAX_ITEMS 4096u
#define KA_CFG_MAX_STR 4096u
#define KA_CFG_MAX_PATH 256u

enum ka_cfg_type {
    KA_CFG_STRING = 0,
    KA_CFG_BOOL,
    KA_CFG_INT,
    KA_CFG_SIZE,
    KA_CFG_DURATION,
    KA_CFG_ENUM,
    KA_CFG_ADDR,
    KA_CFG_LIST,
    KA_CFG_MAPLIST,
};

/* Key flags. */
#define KA_CFG_REQUIRED 1u /* a maplist field that every item must give */
#define KA_CFG_FILL 2u     /* off is meaningful: ka_cfg_fill() writes this key there */

/*
 * One key. def is the default in file syntax (NULL: "" for strings, empty for lists; required
 * for bool, int, size, duration and enum; a list's default is comma-separated). min and max
 * bound int (the value), size (bytes) and duration (milliseconds); min == max == 0: unbounded.
 * What ka_cfg_fill() writes at off, by type: string/addr `const char *`, bool `bool`, int
 * `long long`, size `unsigned long long`, duration `long long` (ms), enum `int` (index in
 * choices), list `struct ka_cfg_strs`, maplist `struct ka_cfg_items` of item_size-byte items
 * whose fields (the fields table, names relative to the item) are filled the same way.
 */
struct ka_cfg_key {
    const char *name;
    enum ka_cfg_type type;
    const char *def;
    const char *doc;
    long long min, max;
    const char *const *choices;      /* enum: NULL-terminated */
    const struct ka_cfg_key *fields; /* maplist: item keys, ended by a key with name NULL */
    size_t item_size;                /* maplist: sizeof the item struct for ka_cfg_fill() */
    size_t off;
    unsigned flags;
};

struct ka_cfg_strs {
    const char *const *v;
    size_t n;
};

struct ka_cfg_items {
    void *v; /* n items of the key's item_size bytes, owned by the struct ka_cfg */
    size_t n;
};

struct ka_cfg;

/*
 * A configuration at the defaults of table (ended by a key with name NULL). Returns KA_OK,
 * KA_ENOMEM, or KA_EINVAL when the table itself is wrong (a default that does not parse, a
 * missing required default); then diag says why.
 */
int ka_cfg_new(const struct ka_cfg_key *table, struct ka_diag *diag, struct ka_cfg **out);
void ka_cfg_free(struct ka_cfg *c);

/*
 * Reads YAML (name is used in messages) and sets every key it gives. Returns KA_OK, KA_EINVAL
 * (some key was wrong), KA_ESYNTAX (not YAML), KA_ETOOBIG, KA_EIO or KA_ENOENT (file), or
 * KA_ENOMEM; every problem is added to diag. On error c may hold some of the file's values:
 * discard it.
 */
int ka_cfg_load_mem(struct ka_cfg *c, const char *name, const char *buf, size_t n,
                    struct ka_diag *diag);
int ka_cfg_load_file(struct ka_cfg *c, const char *path, struct ka_diag *diag);

/*
 * Sets key from text with the same checks as the file, as flag (e.g. "--listen") would; errors
 * read "FLAG: key: message". A list key takes comma-separated items and replaces the list; a
 * maplist key cannot be set this way. Returns KA_OK, KA_EINVAL, KA_ENOENT (no such key) or
 * KA_ENOMEM. On error the key keeps its value.
 */
int ka_cfg_set(struct ka_cfg *c, const char *key, const char *text, const char *flag,
               struct ka_diag *diag);

/* Typed getters. A key that does not exist or has another type reads as 0, false or "". */
const char *ka_cfg_str(const struct ka_cfg *c, const char *key); /* string, addr, enum */
bool ka_cfg_bool(const struct ka_cfg *c, const char *key);
long long ka_cfg_int(const struct ka_cfg *c, const char *key);
unsigned long long ka_cfg_size(const struct ka_cfg *c, const char *key);
long long ka_cfg_duration_ms(const struct ka_cfg *c, const char *key);
int ka_cfg_enum(const struct ka_cfg *c, const char *key); /* index in choices, -1: no key */
struct ka_cfg_strs ka_cfg_list(const struct ka_cfg *c, const char *key);
size_t ka_cfg_items_count(const struct ka_cfg *c, const char *key);
/* Field of item i of a maplist, as text ("" when not given and without default). A bool, int,
   size or duration field is formatted into a per-thread buffer valid until the next call. */
const char *ka_cfg_item_str(const struct ka_cfg *c, const char *key, size_t i,
                            const char *field);

/* Where a key's value came from: "FILE:LINE:COL", "--flag" or "default". */
const char *ka_cfg_origin(const struct ka_cfg *c, const char *key);

/* Writes every KA_CFG_FILL key into the struct at dst. Returns KA_OK or KA_ENOMEM. */
int ka_cfg_fill(struct ka_cfg *c, void *dst);

/*
 * Appends a complete YAML file holding every key of table at its default, each preceded by
 * its doc (and type, bounds, choices) as a comment. It loads back without errors.
 */
int ka_cfg_write_defaults(const struct ka_cfg_key *table, const char *title, struct ka_buf *out);

/* Appends a Markdown table of every key: name, type, default, description. */
int ka_cfg_write_reference(const struct ka_cfg_key *table, struct ka_buf *out);

/* Formats a size (16MiB) or a duration in ms (30s, 1h30m) the way the defaults file does. */
void ka_cfg_format_size(unsigned long long v, char *dst, size_t n);
void ka_cfg_format_duration(long long ms, char *dst, size_t n);

/* ---- the collector (`kaudit serve`) ---- */

enum ka_cfg_on_full { KA_CFG_ON_FULL_DROP = 0, KA_CFG_ON_FULL_REFUSE = 1 };
enum ka_cfg_from_cert { KA_CFG_CERT_NONE = 0, KA_CFG_CERT_CN = 1, KA_CFG_CERT_ORG = 2 };

struct ka_serve_input {
    const char *path, *cluster;
    bool from_start;
};

struct ka_serve_redact_path {
    const char *resource, *path;
};

/* One forwarding output (forward.outputs[]): see include/kaudit/forward.h. */
struct ka_serve_output {
    const char *name, *url, *policy;
    struct ka_cfg_strs options; /* "key=value" engine options or URL parameters */
};

enum ka_cfg_matching { KA_CFG_MATCH_FIRST = 0, KA_CFG_MATCH_ALL = 1 };

/* Every collector key, filled by ka_cfg_fill() from a struct ka_cfg made with the table. */
struct ka_serve_cfg {
    const char *listen, *data_dir;
    struct ka_cfg_strs paths;
    bool allow_insecure_remote;
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *token_file;
    unsigned long long body_max, event_max, header_max;
    long long idle_timeout_ms, request_timeout_ms;
    long long connections;
    long long retry_after_ms;
    unsigned long long segment_size;
    long long segment_backups;
    bool compress;
    unsigned long long max_disk;
    long long max_age_ms;
    int on_full; /* enum ka_cfg_on_full */
    bool redact;
    struct ka_cfg_items redact_paths; /* struct ka_serve_redact_path */
    const char *policy_file;
    bool policy_strict;
    struct ka_cfg_items inputs; /* struct ka_serve_input */
    const char *default_cluster;
    bool cluster_from_path;
    int cluster_from_cert; /* enum ka_cfg_from_cert */
    bool store_enabled;
    long long store_max_age_ms;
    unsigned long long store_max_size;
    unsigned long long store_cache_size; /* SQLite page cache of the store consumer */
    long long store_batch_events;        /* events per store transaction */
    unsigned long long store_batch_size; /* or bytes of events, whichever comes first */
    bool detect_enabled;
    struct ka_cfg_strs detect_rules;
    int detect_min_priority; /* index in ka_cfg_priority_choices: Falco's priorities, most
                                severe first, as enum ka_prio numbers them */
    int detect_matching;     /* enum ka_cfg_matching */
    const char *alerts_file, *alerts_webhook, *alerts_syslog;
    bool alerts_stdout;
    struct ka_cfg_items outputs; /* struct ka_serve_output */
};

/* "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug". */
extern const char *const ka_cfg_priority_choices[];

/* The collector's key table (sections server, tls, auth, limits, journal, retention,
   redaction, policy, inputs, clusters). */
extern const struct ka_cfg_key ka_cfg_serve_keys[];

/*
 * Checks that involve several collector keys (a certificate without its key, a client CA
 * without TLS, a non-loopback listener without TLS or tokens unless allowed); messages name
 * where each value came from. Returns KA_OK or KA_EINVAL. Warnings (a non-loopback listener
 * allowed without TLS) are added as KA_SEV_WARNING.
 */
int ka_cfg_serve_check(const struct ka_cfg *c, struct ka_diag *diag);

#endif
