/*
 * alert_sink.c - the alert sinks of include/kaudit/alert.h: stdout, a size-rotated file of JSON
 * lines, an HTTP webhook (libcurl, retried with backoff) and syslog (RFC 3164 datagrams to a
 * unix socket or UDP). Each sink is a table of three functions (open, format, send) plus its
 * context; emit = format + send.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/alert.h"
#include "kaudit/err.h"

#define BACKOFF_MAX_MS 30000u

struct ka_alert_sink;

struct sink_ops {
    int (*open)(struct ka_alert_sink *s);
    int (*format)(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out);
    int (*send)(struct ka_alert_sink *s, const char *p, size_t n);
    void (*close)(struct ka_alert_sink *s);
};

struct ka_alert_sink {
    const struct sink_ops *ops;
    struct ka_alert_sink_opts o;
    struct ka_alert_stats st;
    struct ka_buf fmt;
    char *path, *url, *ident;
    /* file */
    int fd;
    uint64_t size;
    /* webhook */
    CURL *curl;
    struct curl_slist *hdrs;
    /* syslog */
    int sock;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[64];
};

/* ---- stdout ------------------------------------------------------------------------------ */

static int std_open(struct ka_alert_sink *s)
{
    if (!s->o.stream)
        s->o.stream = stdout;
    return KA_OK;
}

static int line_format(const struct ka_alert *a, int text, struct ka_buf *out)
{
    int rc = text ? ka_buf_append(out, a->text, a->text_len)
                  : ka_buf_append(out, a->json, a->json_len);
    return rc ? rc : ka_buf_putc(out, '\n');
}

static int std_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out)
{
    return line_format(a, s->o.text, out);
}

static int std_send(struct ka_alert_sink *s, const char *p, size_t n)
{
    return fwrite(p, 1, n, s->o.stream) == n ? KA_OK : KA_EIO;
}

static void std_close(struct ka_alert_sink *s)
{
    if (s->o.stream)
        (void)fflush(s->o.stream);
}

/* ---- file -------------------------------------------------------------------------------- */

static int file_open(struct ka_alert_sink *s)
{
    struct stat sb;
    s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (s->fd < 0)
        return KA_EIO;
    s->size = fstat(s->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    return KA_OK;
}

static int file_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out)
{
    (void)s;
    return line_format(a, 0, out);
}

/* PATH.N-1 -> PATH.N ... PATH -> PATH.1, then a new PATH. */
static int file_rotate(struct ka_alert_sink *s)
{
    size_t n = strlen(s->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    int rc = KA_ENOMEM;
    if (!from || !to)
        goto out;
    for (unsigned i = s->o.max_backups; i > 1; i--) {
        (void)snprintf(from, n, "%s.%u", s->path, i - 1);
        (void)snprintf(to, n, "%s.%u", s->path, i);
        if (rename(from, to) != 0 && errno != ENOENT)
            break;
    }
    (void)snprintf(to, n, "%s.1", s->path);
    (void)close(s->fd);
    s->fd = -1;
    rc = rename(s->path, to) == 0 ? file_open(s) : KA_EIO;
    if (rc == KA_OK)
        s->st.rotations++;
out:
    free(from);
    free(to);
    return rc;
}

static int file_send(struct ka_alert_sink *s, const char *p, size_t n)
{
    if (s->fd < 0 && file_open(s) != KA_OK)
        return KA_EIO;
    if (s->size > 0 && s->size + n > s->o.max_bytes) {
        int rc = file_rotate(s);
        if (rc != KA_OK)
            return rc;
    }
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KA_EIO;
        p += w;
        n -= (size_t)w;
        s->size += (uint64_t)w;
    }
    return KA_OK;
}

static void file_close(struct ka_alert_sink *s)
{
    if (s->fd >= 0)
        (void)close(s->fd);
    s->fd = -1;
}

/* ---- webhook ----------------------------------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

static int hook_open(struct ka_alert_sink *s)
{
    if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
        return KA_EINVAL;
    s->curl = curl_easy_init();
    s->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (!s->curl || !s->hdrs)
        return KA_ENOMEM;
    (void)curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
    (void)curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->hdrs);
    (void)curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)s->o.timeout_ms);
    (void)curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "kaudit/" KA_VERSION);
    (void)curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, discard_body);
    return KA_OK;
}

static int hook_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out)
{
    (void)s;
    return ka_buf_append(out, a->json, a->json_len);
}

/* One POST: KA_OK, KA_EIO (worth retrying) or KA_EINVAL (permanent). */
static int hook_post(struct ka_alert_sink *s, const char *p, size_t n)
{
    long code = 0;
    (void)curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, p);
    (void)curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    if (curl_easy_perform(s->curl) != CURLE_OK)
        return KA_EIO;
    (void)curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return KA_OK;
    if (code == 408 || code == 429 || code >= 500)
        return KA_EIO;
    return KA_EINVAL;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int hook_send(struct ka_alert_sink *s, const char *p, size_t n)
{
    unsigned backoff = s->o.backoff_ms;
    for (unsigned attempt = 0;; attempt++) {
        int rc = hook_post(s, p, n);
        if (rc == KA_OK)
            return KA_OK;
        if (rc == KA_EINVAL || attempt >= s->o.retries)
            return KA_EIO;
        s->st.retries++;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

static void hook_close(struct ka_alert_sink *s)
{
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->hdrs);
    s->curl = NULL;
    s->hdrs = NULL;
}

/* ---- syslog ------------------------------------------------------------------------------ */

static int syslog_addr_unix(struct ka_alert_sink *s, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
    if (strlen(path) >= sizeof un->sun_path)
        return KA_EINVAL;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, strlen(path) + 1);
    s->addr_len = (socklen_t)sizeof *un;
    s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return s->sock < 0 ? KA_EIO : KA_OK;
}

static int syslog_addr_udp(struct ka_alert_sink *s, const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {0}, *ai = NULL;
    size_t hl = colon ? (size_t)(colon - hostport) : 0;
    if (!colon || hl == 0 || hl >= sizeof host)
        return KA_EINVAL;
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return KA_EINVAL;
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    s->addr_len = ai->ai_addrlen;
    s->sock = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    freeaddrinfo(ai);
    return s->sock < 0 ? KA_EIO : KA_OK;
}

static int syslog_open(struct ka_alert_sink *s)
{
    const char *a = s->o.syslog_addr ? s->o.syslog_addr : "unix:/dev/log";
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        (void)snprintf(s->host, sizeof s->host, "localhost");
    if (strncmp(a, "unix:", 5) == 0)
        return syslog_addr_unix(s, a + 5);
    if (strncmp(a, "udp:", 4) == 0)
        return syslog_addr_udp(s, a + 4);
    return KA_EINVAL;
}

/* "<PRI>Mmm dd hh:mm:ss host ident[pid]: message" (RFC 3164), cut at KA_ALERT_SYSLOG_MAX. */
static int syslog_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    size_t start = out->n, room;
    int pri = s->o.facility * 8 + ka_alert_syslog_severity(a->priority);
    (void)localtime_r(&now, &tm);
    (void)strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm);
    int rc = ka_buf_printf(out, "<%d>%s %s %s[%ld]: ", pri, ts, s->host, s->ident, (long)getpid());
    if (rc)
        return rc;
    room = KA_ALERT_SYSLOG_MAX - (out->n - start);
    if (s->o.syslog_json)
        return ka_buf_append(out, a->json, a->json_len < room ? a->json_len : room);
    return ka_buf_append(out, a->text, a->text_len < room ? a->text_len : room);
}

static int syslog_send(struct ka_alert_sink *s, const char *p, size_t n)
{
    ssize_t w = sendto(s->sock, p, n, 0, (const struct sockaddr *)&s->addr, s->addr_len);
    return w == (ssize_t)n ? KA_OK : KA_EIO;
}

static void syslog_close(struct ka_alert_sink *s)
{
    if (s->sock >= 0)
        (void)close(s->sock);
    s->sock = -1;
}

static const struct sink_ops sink_table[] = {
    [KA_ALERT_STDOUT] = {std_open, std_format, std_send, std_close},
    [KA_ALERT_FILE] = {file_open, file_format, file_send, file_close},
    [KA_ALERT_WEBHOOK] = {hook_open, hook_format, hook_send, hook_close},
    [KA_ALERT_SYSLOG] = {syslog_open, syslog_format, syslog_send, syslog_close},
};

/* ---- public ------------------------------------------------------------------------------ */

int ka_alert_syslog_severity(enum ka_prio p)
{
    return p < KA_PRIO_EMERGENCY || p > KA_PRIO_DEBUG ? 6 : (int)p;
}

void ka_alert_sink_opts_default(struct ka_alert_sink_opts *o, enum ka_alert_kind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->max_bytes = KA_ALERT_FILE_MAX_DEFAULT;
    o->max_backups = KA_ALERT_FILE_BACKUPS_DEFAULT;
    o->retries = KA_ALERT_WEBHOOK_RETRIES_DEFAULT;
    o->timeout_ms = KA_ALERT_WEBHOOK_TIMEOUT_MS_DEFAULT;
    o->backoff_ms = KA_ALERT_WEBHOOK_BACKOFF_MS_DEFAULT;
    o->facility = 13;
}

static char *dup_opt(const char *s, int *bad)
{
    char *d;
    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

static int sink_check(const struct ka_alert_sink_opts *o)
{
    if ((unsigned)o->kind > KA_ALERT_SYSLOG)
        return KA_EINVAL;
    if (o->kind == KA_ALERT_FILE && (!o->path || !*o->path))
        return KA_EINVAL;
    if (o->kind == KA_ALERT_WEBHOOK && (!o->url || !*o->url))
        return KA_EINVAL;
    if (o->facility < 0 || o->facility > 23)
        return KA_EINVAL;
    return KA_OK;
}

int ka_alert_sink_new(const struct ka_alert_sink_opts *o, struct ka_alert_sink **out)
{
    struct ka_alert_sink *s;
    int rc = sink_check(o), oom = 0;
    if (rc)
        return rc;
    s = calloc(1, sizeof *s);
    if (!s)
        return KA_ENOMEM;
    s->o = *o;
    s->fd = s->sock = -1;
    s->ops = &sink_table[o->kind];
    if (!s->o.max_bytes)
        s->o.max_bytes = KA_ALERT_FILE_MAX_DEFAULT;
    if (!s->o.max_backups)
        s->o.max_backups = KA_ALERT_FILE_BACKUPS_DEFAULT;
    if (!s->o.timeout_ms)
        s->o.timeout_ms = KA_ALERT_WEBHOOK_TIMEOUT_MS_DEFAULT;
    if (!s->o.backoff_ms)
        s->o.backoff_ms = KA_ALERT_WEBHOOK_BACKOFF_MS_DEFAULT;
    s->path = dup_opt(o->path, &oom);
    s->url = dup_opt(o->url, &oom);
    s->ident = dup_opt(o->ident ? o->ident : "kaudit", &oom);
    ka_buf_init(&s->fmt, KA_ALERT_MAX + 4096);
    rc = oom ? KA_ENOMEM : s->ops->open(s);
    if (rc) {
        ka_alert_sink_free(s);
        return rc;
    }
    *out = s;
    return KA_OK;
}

void ka_alert_sink_free(struct ka_alert_sink *s)
{
    if (!s)
        return;
    s->ops->close(s);
    ka_buf_free(&s->fmt);
    free(s->path);
    free(s->url);
    free(s->ident);
    free(s);
}

int ka_alert_sink_format(struct ka_alert_sink *s, const struct ka_alert *a, struct ka_buf *out)
{
    return s->ops->format(s, a, out);
}

int ka_alert_sink_emit(struct ka_alert_sink *s, const struct ka_alert *a)
{
    int rc;
    ka_buf_reset(&s->fmt);
    rc = s->ops->format(s, a, &s->fmt);
    if (rc == KA_OK)
        rc = s->ops->send(s, s->fmt.p, s->fmt.n);
    if (rc == KA_OK)
        s->st.sent++;
    else
        s->st.failed++;
    return rc == KA_OK ? KA_OK : KA_EIO;
}

int ka_alert_sink_flush(struct ka_alert_sink *s)
{
    if (s->o.kind == KA_ALERT_STDOUT && fflush(s->o.stream) != 0)
        return KA_EIO;
    return KA_OK;
}

void ka_alert_sink_stats(const struct ka_alert_sink *s, struct ka_alert_stats *out)
{
    *out = s->st;
}
