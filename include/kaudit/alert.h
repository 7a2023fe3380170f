/*
 * alert.h - alert sinks: where detection alerts go (stdout, a rotated file of JSON lines, an
 * HTTP webhook with retries, syslog).
 *
 * Each sink is a const table of functions plus a context (src/detect/alert_sink.c). Formatting
 * is separate from sending: ka_alert_sink_format() renders the bytes a sink would deliver, so
 * every sink is testable without a network; ka_alert_sink_emit() formats and delivers.
 *
 * An alert arrives already rendered by the engine (include/kaudit/detect.h): its Falco JSON
 * form and its text form. Sinks choose one: stdout as configured (json or text), the file and
 * the webhook always JSON (one object per line / per POST body, what falcosidekick accepts),
 * syslog the text form (or JSON with syslog_json) with the alert's priority mapped to the
 * syslog severity.
 *
 * Delivery: stdout and the file are written synchronously (the file with one write(2) per
 * alert on an O_APPEND descriptor, rotated by size: PATH -> PATH.1 -> ... PATH.N). The webhook
 * POSTs each alert and retries transport errors, 408, 429 and 5xx up to `retries` times with
 * exponential backoff (backoff_ms, doubled per try, at most 30 s); other 4xx are permanent.
 * Syslog sends RFC 3164 datagrams to a unix socket (default /dev/log) or a UDP address.
 * Failures are counted in struct ka_alert_stats and returned; a sink never prints.
 *
 * Limits: one alert is at most KA_ALERT_MAX bytes (longer ones are cut by the caller's
 * engine limits); syslog messages are cut at KA_ALERT_SYSLOG_MAX bytes.
 * Threads: one thread at a time per sink.
 */
#ifndef KAUDIT_ALERT_H
#define KAUDIT_ALERT_H

#include <stdint.h>
#include <stdio.h>

#include "kaudit/buf.h"
#include "kaudit/detect.h"

#define KA_ALERT_MAX (1u << 20)
#define KA_ALERT_SYSLOG_MAX 8192
#define KA_ALERT_FILE_MAX_DEFAULT (100ull << 20) /* rotate the alert file at 100 MiB */
#define KA_ALERT_FILE_BACKUPS_DEFAULT 5
#define KA_ALERT_WEBHOOK_RETRIES_DEFAULT 5
#define KA_ALERT_WEBHOOK_TIMEOUT_MS_DEFAULT 5000
#define KA_ALERT_WEBHOOK_BACKOFF_MS_DEFAULT 200

/* One alert, rendered. Strings are borrowed for the duration of the call. */
struct ka_alert {
    const char *json; /* Falco JSON alert, no newline */
    size_t json_len;
    const char *text; /* "HH:MM:SS.nnnnnnnnn: Priority output", no newline */
    size_t text_len;
    enum ka_prio priority;
    const char *rule;
};

enum ka_alert_kind {
    KA_ALERT_STDOUT = 0, /* a stdio stream (stdout by default) */
    KA_ALERT_FILE = 1,   /* JSON lines, rotated by size */
    KA_ALERT_WEBHOOK = 2,
    KA_ALERT_SYSLOG = 3,
};

struct ka_alert_sink_opts {
    enum ka_alert_kind kind;
    /* stdout */
    FILE *stream;   /* NULL = stdout */
    int text;       /* 1: text lines, 0: JSON lines */
    /* file */
    const char *path;
    uint64_t max_bytes;   /* rotate when the file would grow past this; 0 = default */
    unsigned max_backups; /* PATH.1 .. PATH.N kept; 0 = default */
    /* webhook */
    const char *url;
    unsigned retries;     /* 0 = default; attempts = 1 + retries */
    unsigned timeout_ms;  /* per attempt; 0 = default */
    unsigned backoff_ms;  /* first backoff; 0 = default */
    /* syslog */
    const char *syslog_addr; /* NULL or "unix:/dev/log" (default), "unix:PATH", "udp:HOST:PORT" */
    const char *ident;       /* NULL = "kaudit" */
    int facility;            /* syslog facility number 0..23 (13 = log audit, the default;
                                16..23 = local0..local7) */
    int syslog_json;         /* 1: send the JSON alert instead of the text */
};

/* Fills o with the defaults for kind. */
void ka_alert_sink_opts_default(struct ka_alert_sink_opts *o, enum ka_alert_kind kind);

struct ka_alert_stats {
    uint64_t sent;      /* alerts delivered */
    uint64_t failed;    /* alerts given up on */
    uint64_t retries;   /* webhook attempts after the first */
    uint64_t rotations; /* alert file rotations */
};

struct ka_alert_sink;

/* Opens a sink (the file is opened, the socket connected, curl set up). KA_EINVAL for bad
 * options (a URL that is not http(s), a bad syslog address), KA_EIO, KA_ENOMEM. */
int ka_alert_sink_new(const struct ka_alert_sink_opts *o, struct ka_alert_sink **out);
/* Flushes and closes. NULL: no-op. */
void ka_alert_sink_free(struct ka_alert_sink *s);

/* Appends to out exactly the bytes this sink delivers for a (for syslog: the datagram). */
int ka_alert_sink_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out);

/* Formats and delivers one alert. KA_OK, or KA_EIO after the retries were spent (counted in
 * failed). */
int ka_alert_sink_emit(struct ka_alert_sink *s, const struct ka_alert *a);

/* Flushes buffered output (stdout). */
int ka_alert_sink_flush(struct ka_alert_sink *s);

void ka_alert_sink_stats(const struct ka_alert_sink *s, struct ka_alert_stats *out);

/* Syslog severity (0 emergency .. 7 debug) of a priority: Falco's numbers are syslog's. */
int ka_alert_syslog_severity(enum ka_prio p);

#endif
