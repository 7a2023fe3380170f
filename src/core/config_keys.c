/*
 * config_keys.c - the collector's key table (`kaudit serve`), the checks that span several of
 * its keys, and the two text forms of any key table: the documented defaults file
 * (`kaudit config --defaults`) and the Markdown reference (docs/config.md).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/config.h"

/* ---- sizes and durations as text ---- */

void ka_cfg_format_size(unsigned long long v, char *dst, size_t n)
{
    static const char *const unit[] = {"TiB", "GiB", "MiB", "KiB"};
    for (unsigned i = 0; v && i < 4; i++) {
        unsigned shift = 10u * (4 - i);
        if (v % (1ull << shift) == 0) {
            snprintf(dst, n, "%llu%s", v >> shift, unit[i]);
            return;
        }
    }
    snprintf(dst, n, "%llu", v);
}

void ka_cfg_format_duration(long long ms, char *dst, size_t n)
{
    static const struct { const char *u; long long ms; } unit[] = {
        {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t used = 0;
    if (ms <= 0) {
        snprintf(dst, n, "0s");
        return;
    }
    for (size_t i = 0; i < 4 && used < n; i++) {
        if (ms / unit[i].ms == 0)
            continue;
        used += (size_t)snprintf(dst + used, n - used, "%lld%s", ms / unit[i].ms, unit[i].u);
        ms %= unit[i].ms;
    }
}

/* ---- the collector's keys ---- */

#define FILL(field) .off = offsetof(struct ka_serve_cfg, field), .flags = KA_CFG_FILL
#define IFILL(st, field) .off = offsetof(st, field), .flags = KA_CFG_FILL
#define IREQ(st, field) .off = offsetof(st, field), .flags = KA_CFG_FILL | KA_CFG_REQUIRED
#define KIB(x) ((long long)(x) << 10)
#define MIB(x) ((long long)(x) << 20)
#define GIB(x) ((long long)(x) << 30)
#define SEC(x) ((long long)(x) * 1000)

static const char *const on_full_choices[] = {"drop", "refuse", NULL};
static const char *const from_cert_choices[] = {"none", "cn", "organization", NULL};

static const struct ka_cfg_key input_fields[] = {
    {.name = "path", .type = KA_CFG_STRING, IREQ(struct ka_serve_input, path),
     .doc = "audit log to follow, with its rotated backups (checkpointed in the data directory)"},
    {.name = "cluster", .type = KA_CFG_STRING, IFILL(struct ka_serve_input, cluster),
     .doc = "cluster tag of its events (empty: clusters.default)"},
    {.name = "from_start", .type = KA_CFG_BOOL, .def = "false",
     IFILL(struct ka_serve_input, from_start),
     .doc = "without a checkpoint, read what the file and its rotated backups hold already"},
    {0},
};

static const char *const matching_choices[] = {"first", "all", NULL};
const char *const ka_cfg_priority_choices[] = {"emergency", "alert",  "critical", "error",
                                               "warning",   "notice", "info",     "debug", NULL};

static const struct ka_cfg_key output_fields[] = {
    {.name = "name", .type = KA_CFG_STRING, IFILL(struct ka_serve_output, name),
     .doc = "name in metrics, logs, the cursor and the dead-letter file (empty: the URL scheme)"},
    {.name = "url", .type = KA_CFG_STRING, IREQ(struct ka_serve_output, url),
     .doc = "destination, e.g. clickhouse://127.0.0.1:8123/audit?table=events (docs/forwarding.md)"},
    {.name = "policy", .type = KA_CFG_STRING, IFILL(struct ka_serve_output, policy),
     .doc = "audit policy file that selects and trims what this output gets (empty: everything)"},
    {.name = "options", .type = KA_CFG_LIST, IFILL(struct ka_serve_output, options),
     .doc = "key=value engine options (batch_events, concurrency, retries, ...) or URL parameters"},
    {0},
};

static const struct ka_cfg_key redact_fields[] = {
    {.name = "resource", .type = KA_CFG_STRING, IREQ(struct ka_serve_redact_path, resource),
     .doc = "resource (plural, e.g. configmaps; group/resource for other groups)"},
    {.name = "path", .type = KA_CFG_STRING, IREQ(struct ka_serve_redact_path, path),
     .doc = "dotted JSON path inside requestObject and responseObject, e.g. data.password"},
    {0},
};

const struct ka_cfg_key ka_cfg_serve_keys[] = {
    {.name = "server.listen", .type = KA_CFG_ADDR, .def = "127.0.0.1:9765", FILL(listen),
     .doc = "address and port the HTTP(S) intake listens on"},
    {.name = "server.data_dir", .type = KA_CFG_STRING, .def = "./kaudit-data", FILL(data_dir),
     .doc = "directory of the journal, checkpoints, cursors and the dead-letter file"},
    {.name = "server.paths", .type = KA_CFG_LIST, .def = "/audit,/k8s-audit", FILL(paths),
     .doc = "URL paths that accept POSTed events; each also takes /PATH/CLUSTER"},
    {.name = "server.allow_insecure_remote", .type = KA_CFG_BOOL, .def = "false",
     FILL(allow_insecure_remote),
     .doc = "allow a non-loopback listener without TLS or tokens (logs a warning)"},
    {.name = "tls.cert", .type = KA_CFG_STRING, FILL(tls_cert),
     .doc = "PEM certificate (chain) file; with tls.key, the intake speaks HTTPS"},
    {.name = "tls.key", .type = KA_CFG_STRING, FILL(tls_key),
     .doc = "PEM private key file of tls.cert"},
    {.name = "tls.client_ca", .type = KA_CFG_STRING, FILL(tls_client_ca),
     .doc = "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)"},
    {.name = "auth.token_file", .type = KA_CFG_STRING, FILL(token_file),
     .doc = "file of 'TOKEN CLUSTER' lines; when set, requests need one of the bearer tokens"},
    {.name = "limits.body_max", .type = KA_CFG_SIZE, .def = "16MiB", .min = KIB(1),
     .max = GIB(1), FILL(body_max), .doc = "largest request body; bigger ones get 413"},
    {.name = "limits.event_max", .type = KA_CFG_SIZE, .def = "4MiB", .min = KIB(1),
     .max = GIB(1), FILL(event_max),
     .doc = "largest single event; bigger ones go to the dead-letter file"},
    {.name = "limits.header_max", .type = KA_CFG_SIZE, .def = "64KiB", .min = KIB(1),
     .max = MIB(1), FILL(header_max), .doc = "request line plus headers of one connection, plus 32KiB of working space; larger get 431"},
    {.name = "limits.idle_timeout", .type = KA_CFG_DURATION, .def = "30s", .min = SEC(1),
     .max = SEC(3600), FILL(idle_timeout_ms),
     .doc = "a connection idle this long is closed"},
    {.name = "limits.request_timeout", .type = KA_CFG_DURATION, .def = "60s", .min = SEC(1),
     .max = SEC(3600), FILL(request_timeout_ms),
     .doc = "a request (headers and body) must arrive within this time"},
    {.name = "limits.connections", .type = KA_CFG_INT, .def = "256", .min = 1, .max = 65535,
     FILL(connections), .doc = "most concurrent connections; more wait in the listen queue"},
    {.name = "limits.retry_after", .type = KA_CFG_DURATION, .def = "5s", .min = SEC(1),
     .max = SEC(3600), FILL(retry_after_ms), .doc = "Retry-After of 503 answers (whole seconds, rounded up)"},
    {.name = "journal.segment_size", .type = KA_CFG_SIZE, .def = "100MiB", .min = MIB(1),
     .max = GIB(64), FILL(segment_size),
     .doc = "the journal's audit.log is rotated when it reaches this size"},
    {.name = "journal.compress", .type = KA_CFG_BOOL, .def = "true", FILL(compress),
     .doc = "gzip rotated segments"},
    {.name = "retention.max_disk", .type = KA_CFG_SIZE, .def = "10GiB", .min = MIB(16),
     .max = (long long)1 << 50, FILL(max_disk),
     .doc = "most disk the journal may use; then retention.on_full decides"},
    {.name = "retention.max_age", .type = KA_CFG_DURATION, .def = "0s", FILL(max_age_ms),
     .doc = "delete segments older than this once every consumer is past them (0s: never)"},
    {.name = "retention.on_full", .type = KA_CFG_ENUM, .def = "drop",
     .choices = on_full_choices, FILL(on_full),
     .doc = "at max_disk: drop the oldest segment (counted, logged) or refuse intake with 503"},
    {.name = "redaction.enabled", .type = KA_CFG_BOOL, .def = "true", FILL(redact),
     .doc = "mask Secret data, tokens and redaction.paths before anything is written"},
    {.name = "redaction.paths", .type = KA_CFG_MAPLIST, .fields = redact_fields,
     .item_size = sizeof(struct ka_serve_redact_path), FILL(redact_paths),
     .doc = "more values to mask, per resource"},
    {.name = "policy.file", .type = KA_CFG_STRING, FILL(policy_file),
     .doc = "audit policy applied to received events before they are kept (empty: keep all)"},
    {.name = "policy.strict", .type = KA_CFG_BOOL, .def = "false", FILL(policy_strict),
     .doc = "unknown and duplicate fields in the policy are errors, not warnings"},
    {.name = "inputs.files", .type = KA_CFG_MAPLIST, .fields = input_fields,
     .item_size = sizeof(struct ka_serve_input), FILL(inputs),
     .doc = "audit log files to follow besides the HTTP intake"},
    {.name = "store.enabled", .type = KA_CFG_BOOL, .def = "true", FILL(store_enabled),
     .doc = "index every journal event into DATA_DIR/store/kaudit.db for kaudit query"},
    {.name = "store.max_age", .type = KA_CFG_DURATION, .def = "0s", FILL(store_max_age_ms),
     .doc = "delete stored requests older than this (0s: keep)"},
    {.name = "store.max_size", .type = KA_CFG_SIZE, .def = "0", .max = (long long)1 << 50,
     FILL(store_max_size), .doc = "delete the oldest stored requests above this size (0: no limit)"},
    {.name = "store.cache_size", .type = KA_CFG_SIZE, .def = "16MiB", .min = MIB(1), .max = GIB(64),
     FILL(store_cache_size), .doc = "SQLite page cache of the store's writer (memory, not disk)"},
    {.name = "store.batch_events", .type = KA_CFG_INT, .def = "4096", .min = 1, .max = 32768,
     FILL(store_batch_events),
     .doc = "events per store transaction; a store that is behind commits up to twice this"},
    {.name = "store.batch_size", .type = KA_CFG_SIZE, .def = "4MiB", .min = KIB(64), .max = MIB(64),
     FILL(store_batch_size),
     .doc = "or bytes of events per store transaction, whichever comes first (memory: about 4x)"},
    {.name = "detect.enabled", .type = KA_CFG_BOOL, .def = "true", FILL(detect_enabled),
     .doc = "run detection rules on every journal event as it arrives"},
    {.name = "detect.rules", .type = KA_CFG_LIST, FILL(detect_rules),
     .doc = "rule files in load order (Falco format); empty: kaudit's default rules"},
    {.name = "detect.min_priority", .type = KA_CFG_ENUM, .def = "debug",
     .choices = ka_cfg_priority_choices, FILL(detect_min_priority),
     .doc = "rules less severe than this are not evaluated"},
    {.name = "detect.rule_matching", .type = KA_CFG_ENUM, .def = "first",
     .choices = matching_choices, FILL(detect_matching),
     .doc = "first: only the first matching rule alerts (as Falco); all: every matching rule"},
    {.name = "detect.alerts.file", .type = KA_CFG_STRING, FILL(alerts_file),
     .doc = "alerts as JSON lines, rotated at 100MiB (empty: DATA_DIR/alerts/alerts.json)"},
    {.name = "detect.alerts.stdout", .type = KA_CFG_BOOL, .def = "false", FILL(alerts_stdout),
     .doc = "also print alerts as JSON lines on standard output"},
    {.name = "detect.alerts.webhook", .type = KA_CFG_STRING, FILL(alerts_webhook),
     .doc = "also POST each alert (Falco JSON) to this URL, with retries"},
    {.name = "detect.alerts.syslog", .type = KA_CFG_STRING, FILL(alerts_syslog),
     .doc = "also send alerts to syslog: unix:/dev/log, unix:PATH or udp:HOST:PORT"},
    {.name = "forward.outputs", .type = KA_CFG_MAPLIST, .fields = output_fields,
     .item_size = sizeof(struct ka_serve_output), FILL(outputs),
     .doc = "destinations that get every journal event, each with its own cursor"},
    {.name = "clusters.default", .type = KA_CFG_STRING, FILL(default_cluster),
     .doc = "cluster tag of events whose source names none (empty: no tag)"},
    {.name = "clusters.from_path", .type = KA_CFG_BOOL, .def = "true", FILL(cluster_from_path),
     .doc = "a POST to /PATH/CLUSTER tags its events with CLUSTER"},
    {.name = "clusters.from_cert", .type = KA_CFG_ENUM, .def = "cn",
     .choices = from_cert_choices, FILL(cluster_from_cert),
     .doc = "with mTLS, take the cluster tag from the client certificate's subject"},
    {0},
};

/* ---- checks across keys ---- */

static bool loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "localhost:", 10) == 0 ||
           strncmp(addr, "[::1]:", 6) == 0;
}

int ka_cfg_serve_check(const struct ka_cfg *c, struct ka_diag *diag)
{
    int rc = KA_OK;
    bool cert = *ka_cfg_str(c, "tls.cert") != '\0', key = *ka_cfg_str(c, "tls.key") != '\0';
    if (cert != key) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s: set, but %s is not",
                    ka_cfg_origin(c, cert ? "tls.cert" : "tls.key"), cert ? "tls.cert" : "tls.key",
                    cert ? "tls.key" : "tls.cert");
        rc = KA_EINVAL;
    }
    if (*ka_cfg_str(c, "tls.client_ca") && !cert) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: tls.client_ca: needs tls.cert and tls.key",
                    ka_cfg_origin(c, "tls.client_ca"));
        rc = KA_EINVAL;
    }
    const char *listen = ka_cfg_str(c, "server.listen");
    if (!loopback(listen) && !cert && !*ka_cfg_str(c, "auth.token_file")) {
        bool ok = ka_cfg_bool(c, "server.allow_insecure_remote");
        ka_diag_add(diag, ok ? KA_SEV_WARNING : KA_SEV_ERROR,
                    "%s: server.listen: %s is not a loopback address and neither TLS nor tokens "
                    "are configured%s",
                    ka_cfg_origin(c, "server.listen"), listen,
                    ok ? "" : "; set server.allow_insecure_remote to allow it");
        if (!ok)
            rc = KA_EINVAL;
    }
    return rc;
}

/* ---- the defaults file ---- */

static int put_quoted(struct ka_buf *b, const char *s)
{
    int rc = ka_buf_putc(b, '"');
    for (; *s && !rc; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            rc = ka_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            rc = ka_buf_printf(b, "\\x%02x", ch);
        else
            rc = ka_buf_putc(b, (char)ch);
    }
    return rc ? rc : ka_buf_putc(b, '"');
}

/* A list default (comma-separated) as a YAML flow sequence. */
static int put_list(struct ka_buf *b, const char *def)
{
    int rc = ka_buf_putc(b, '[');
    for (const char *s = def ? def : ""; *s && !rc;) {
        size_t n = strcspn(s, ",");
        char item[KA_CFG_MAX_STR + 1];
        snprintf(item, sizeof item, "%.*s", (int)n, s);
        rc = ka_buf_puts(b, s == def ? "" : ", ");
        rc = rc ? rc : put_quoted(b, item);
        s += n + (s[n] == ',');
    }
    return rc ? rc : ka_buf_putc(b, ']');
}

/* The type, bounds or choices of k, for a comment or the reference. */
static void type_text(const struct ka_cfg_key *k, char *dst, size_t n)
{
    static const char *const names[] = {"string", "bool", "int", "size", "duration",
                                        "enum", "host:port", "list of strings",
                                        "list of mappings"};
    size_t used = (size_t)snprintf(dst, n, "%s", names[k->type]);
    if ((k->min || k->max) && used < n) {
        char lo[32], hi[32];
        if (k->type == KA_CFG_SIZE) {
            ka_cfg_format_size((unsigned long long)k->min, lo, sizeof lo);
            ka_cfg_format_size((unsigned long long)k->max, hi, sizeof hi);
        } else if (k->type == KA_CFG_DURATION) {
            ka_cfg_format_duration(k->min, lo, sizeof lo);
            ka_cfg_format_duration(k->max, hi, sizeof hi);
        } else {
            snprintf(lo, sizeof lo, "%lld", k->min);
            snprintf(hi, sizeof hi, "%lld", k->max);
        }
        used += (size_t)snprintf(dst + used, n - used, ", %s to %s", lo, hi);
    }
    for (size_t i = 0; k->choices && k->choices[i] && used < n; i++)
        used += (size_t)snprintf(dst + used, n - used, "%s%s", i ? " | " : ": ", k->choices[i]);
    if ((k->flags & KA_CFG_REQUIRED) && used < n)
        snprintf(dst + used, n - used, ", required");
}

static int put_value(struct ka_buf *b, const struct ka_cfg_key *k)
{
    switch (k->type) {
    case KA_CFG_STRING:
    case KA_CFG_ADDR: return put_quoted(b, k->def ? k->def : "");
    case KA_CFG_LIST: return put_list(b, k->def);
    case KA_CFG_MAPLIST: return ka_buf_puts(b, "[]");
    default: return ka_buf_puts(b, k->def ? k->def : "");
    }
}

/* Opens the sections of name that prev (the previous key) did not; returns the depth. */
static int open_sections(struct ka_buf *b, const char *prev, const char *name, size_t *depth)
{
    size_t common = 0, i = 0, d = 0;
    while (prev && prev[i] && prev[i] == name[i]) {
        if (name[i] == '.')
            common = i + 1;
        i++;
    }
    int rc = KA_OK;
    for (i = 0; name[i]; i++) {
        if (name[i] != '.')
            continue;
        if (i >= common) {
            size_t start = i;
            while (start > 0 && name[start - 1] != '.')
                start--;
            if (d == 0)
                rc = rc ? rc : ka_buf_putc(b, '\n');
            rc = rc ? rc : ka_buf_printf(b, "%*s%.*s:\n", (int)(2 * d), "", (int)(i - start),
                                         name + start);
        }
        d++;
    }
    *depth = d;
    return rc;
}

static int put_key(struct ka_buf *b, const struct ka_cfg_key *k, const char *prev)
{
    size_t depth;
    char ty[256];
    int rc = open_sections(b, prev, k->name, &depth);
    int ind = (int)(2 * depth);
    const char *leaf = strrchr(k->name, '.');
    leaf = leaf ? leaf + 1 : k->name;
    type_text(k, ty, sizeof ty);
    rc = rc ? rc : ka_buf_printf(b, "%*s# %s [%s]\n", ind, "", k->doc ? k->doc : "", ty);
    for (size_t f = 0; k->type == KA_CFG_MAPLIST && k->fields[f].name && !rc; f++) {
        type_text(&k->fields[f], ty, sizeof ty);
        rc = ka_buf_printf(b, "%*s#   %s: %s [%s]\n", ind, "", k->fields[f].name,
                           k->fields[f].doc ? k->fields[f].doc : "", ty);
    }
    rc = rc ? rc : ka_buf_printf(b, "%*s%s: ", ind, "", leaf);
    rc = rc ? rc : put_value(b, k);
    return rc ? rc : ka_buf_putc(b, '\n');
}

int ka_cfg_write_defaults(const struct ka_cfg_key *table, const char *title, struct ka_buf *out)
{
    int rc = ka_buf_printf(out,
                           "# %s\n"
                           "# Every key at its default. Sizes: bytes or 512KiB, 16MiB, 1GiB\n"
                           "# (K, M, G, T are powers of 1024). Durations: 500ms, 30s, 5m, 2h, 1d.\n"
                           "# A key left out, or left empty, keeps its default.\n",
                           title ? title : "kaudit configuration");
    for (size_t i = 0; table[i].name && !rc; i++)
        rc = put_key(out, &table[i], i ? table[i - 1].name : NULL);
    return rc;
}

/* ---- the Markdown reference ---- */

static int md_text(struct ka_buf *b, const char *s)
{
    int rc = KA_OK;
    for (; *s && !rc; s++)
        rc = *s == '|' ? ka_buf_puts(b, "\\|") : ka_buf_putc(b, *s);
    return rc;
}

static int md_row(struct ka_buf *b, const char *name, const char *sub, const struct ka_cfg_key *k)
{
    char ty[256];
    type_text(k, ty, sizeof ty);
    int rc = ka_buf_printf(b, "| `%s%s` | ", name, sub);
    rc = rc ? rc : md_text(b, ty);
    rc = rc ? rc : ka_buf_puts(b, " | ");
    if (!rc && k->type == KA_CFG_LIST)
        rc = ka_buf_printf(b, "`[%s]`", k->def ? k->def : "");
    else if (!rc && k->def && *k->def)
        rc = ka_buf_printf(b, "`%s`", k->def);
    else if (!rc)
        rc = ka_buf_puts(b, k->type == KA_CFG_MAPLIST ? "`[]`" : "(empty)");
    rc = rc ? rc : ka_buf_puts(b, " | ");
    rc = rc ? rc : md_text(b, k->doc ? k->doc : "");
    return rc ? rc : ka_buf_puts(b, " |\n");
}

int ka_cfg_write_reference(const struct ka_cfg_key *table, struct ka_buf *out)
{
    int rc = ka_buf_puts(out, "| key | type | default | description |\n|---|---|---|---|\n");
    for (size_t i = 0; table[i].name && !rc; i++) {
        rc = md_row(out, table[i].name, "", &table[i]);
        for (size_t f = 0; table[i].type == KA_CFG_MAPLIST && table[i].fields[f].name && !rc;
             f++) {
            char sub[KA_CFG_MAX_PATH];
            snprintf(sub, sizeof sub, "[].%s", table[i].fields[f].name);
            rc = md_row(out, table[i].name, sub, &table[i].fields[f]);
        }
    }
    return rc;
}
