/*
 * syslog.c - the syslog output: syslog+tcp://HOST[:514], syslog+tls://HOST[:6514] (GnuTLS,
 * server verified against ca= or the system trust, hostname checked) and syslog+udp://HOST[:514].
 * Parameters: facility (0-23), severity (0-7), hostname, app_name, msgid, max_size, confirm.
 *
 * Syslog has no application acknowledgement. Over TCP/TLS, confirm=close (the default) sends
 * each batch on its own connection, half-closes it (TLS: close_notify, then FIN) and counts the
 * batch delivered only when the receiver closes its side in an orderly way: a receiver reads up
 * to our end of stream before it closes, and one that closes with data unread resets the
 * connection instead. So every byte was read by the receiving program, not merely acknowledged
 * by its kernel, which a receiver restart would discard. confirm=tcp keeps one connection and
 * counts a batch delivered once the peer's TCP stack acknowledged every byte (the send queue is
 * empty): cheaper, but a receiver that dies with data in its socket buffer loses it. Either
 * way a failed batch is RETRY (the receiver may see some events twice: at-least-once). UDP
 * gives no guarantee.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../outputs_int.h"
#include "syslog_int.h"

enum ka_sl_proto { KA_SL_TCP, KA_SL_TLS, KA_SL_UDP };

struct ka_sl {
    struct ka_syslog_cfg cfg;
    struct ka_out_opts opts;
    enum ka_sl_proto proto;
    char host[256], port[8];
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
    bool confirm_close; /* confirm=close (default) rather than confirm=tcp */
    bool not_closed;    /* the last batch: the receiver did not close within timeout_ms */
    struct ka_buf tmp;
};

static const char *const ka_sl_schemes[] = {"syslog+tcp", "syslog+tls", "syslog+udp", NULL};

static int sl_params(struct ka_sl *s, const struct ka_out_url *u, char *err, size_t errlen)
{
    unsigned long long v;
    const char *p;
    s->cfg.facility = 13;
    s->cfg.severity = 6;
    s->cfg.max_size = s->proto == KA_SL_UDP ? KA_SYSLOG_UDP_MAX : 65536;
    if ((p = ka_out_url_param(u, "facility"))) {
        if (ka_out_uint(p, 23, &v)) goto bad;
        s->cfg.facility = (int)v;
    }
    if ((p = ka_out_url_param(u, "severity"))) {
        if (ka_out_uint(p, 7, &v)) goto bad;
        s->cfg.severity = (int)v;
    }
    if ((p = ka_out_url_param(u, "max_size")) && (ka_out_uint(p, 1u << 30, &v) || v < 480))
        goto bad;
    if (p) s->cfg.max_size = (size_t)v;
    if (s->proto == KA_SL_UDP && s->cfg.max_size > KA_SYSLOG_UDP_MAX) s->cfg.max_size = KA_SYSLOG_UDP_MAX;
    if (s->opts.max_event && s->opts.max_event < s->cfg.max_size) s->cfg.max_size = s->opts.max_event;
    p = ka_out_url_param(u, "hostname");
    if (p) snprintf(s->cfg.hostname, sizeof s->cfg.hostname, "%s", p);
    else if (gethostname(s->cfg.hostname, sizeof s->cfg.hostname - 1)) s->cfg.hostname[0] = '\0';
    p = ka_out_url_param(u, "app_name");
    snprintf(s->cfg.app_name, sizeof s->cfg.app_name, "%s", p ? p : "kaudit");
    p = ka_out_url_param(u, "msgid");
    snprintf(s->cfg.msgid, sizeof s->cfg.msgid, "%s", p ? p : "audit");
    p = ka_out_url_param(u, "confirm");
    if (p && strcmp(p, "close") != 0 && strcmp(p, "tcp") != 0) {
        snprintf(err, errlen, "syslog: confirm must be close or tcp, not '%s'", p);
        return KA_EINVAL;
    }
    s->confirm_close = s->proto != KA_SL_UDP && !(p && !strcmp(p, "tcp"));
    return KA_OK;
bad:
    snprintf(err, errlen, "syslog: bad facility (0-23), severity (0-7) or max_size (>= 480)");
    return KA_EINVAL;
}

static int sl_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                     char *err, size_t errlen)
{
    struct ka_sl *s = calloc(1, sizeof *s);
    if (!s) return KA_ENOMEM;
    s->opts = *o;
    s->fd = -1;
    s->proto = !strcmp(u->scheme, "syslog+tls") ? KA_SL_TLS
               : !strcmp(u->scheme, "syslog+udp") ? KA_SL_UDP : KA_SL_TCP;
    snprintf(s->host, sizeof s->host, "%s", u->host);
    snprintf(s->port, sizeof s->port, "%d", u->port ? u->port : s->proto == KA_SL_TLS ? 6514 : 514);
    ka_buf_init(&s->tmp, 0);
    int rc = sl_params(s, u, err, errlen);
    if (!rc && s->proto == KA_SL_TLS) {
        int g = gnutls_certificate_allocate_credentials(&s->cred);
        if (!g) g = o->ca_file ? (gnutls_certificate_set_x509_trust_file(s->cred, o->ca_file, GNUTLS_X509_FMT_PEM) > 0 ? 0 : -1)
                               : (gnutls_certificate_set_x509_system_trust(s->cred) >= 0 ? 0 : -1);
        if (!g && o->cert_file && o->key_file)
            g = gnutls_certificate_set_x509_key_file(s->cred, o->cert_file, o->key_file, GNUTLS_X509_FMT_PEM);
        if (g) {
            snprintf(err, errlen, "syslog+tls: cannot load the CA or client certificate");
            rc = KA_EINVAL;
        }
    }
    if (rc) {
        if (s->cred) gnutls_certificate_free_credentials(s->cred);
        ka_buf_free(&s->tmp);
        free(s);
        return rc;
    }
    *ctx = s;
    return KA_OK;
}

static void sl_close(struct ka_sl *s)
{
    if (s->tls) {
        gnutls_deinit(s->tls);
        s->tls = NULL;
    }
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
}

static void sl_destroy(void *ctx)
{
    struct ka_sl *s = ctx;
    if (!s) return;
    sl_close(s);
    if (s->cred) gnutls_certificate_free_credentials(s->cred);
    ka_buf_free(&s->tmp);
    free(s);
}

static int sl_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                     struct ka_out_item *items)
{
    struct ka_sl *s = ctx;
    return ka_syslog_format(&s->cfg, b, body, &s->tmp, items);
}

static int connect_fd(struct ka_sl *s)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = s->proto == KA_SL_UDP ? SOCK_DGRAM : SOCK_STREAM;
    if (getaddrinfo(s->host, s->port, &hints, &res)) return KA_EIO;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {s->opts.timeout_ms / 1000, (s->opts.timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return KA_EIO;
    s->fd = fd;
    return KA_OK;
}

static int tls_start(struct ka_sl *s)
{
    if (gnutls_init(&s->tls, GNUTLS_CLIENT) || gnutls_set_default_priority(s->tls) ||
        gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, s->cred) ||
        gnutls_server_name_set(s->tls, GNUTLS_NAME_DNS, s->host, strlen(s->host)))
        return KA_EIO;
    if (!s->opts.insecure) gnutls_session_set_verify_cert(s->tls, s->host, 0);
    gnutls_transport_set_int(s->tls, s->fd);
    gnutls_handshake_set_timeout(s->tls, (unsigned)s->opts.timeout_ms);
    int g;
    do g = gnutls_handshake(s->tls);
    while (g < 0 && !gnutls_error_is_fatal(g));
    return g < 0 ? KA_EIO : KA_OK;
}

/* The peer closed or reset an idle connection (checked before reusing it). */
static bool peer_gone(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || (p.revents & (POLLHUP | POLLERR));
}

static int write_stream(struct ka_sl *s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = s->tls ? gnutls_record_send(s->tls, p, n) : send(s->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (s->tls ? (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) : errno == EINTR)) continue;
        if (w <= 0) return KA_EIO;
        p += w;
        n -= (size_t)w;
    }
    return KA_OK;
}

/* Waits until the peer acknowledged every byte sent (send queue empty). */
static int wait_acked(struct ka_sl *s)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int q = 0;
        if (ioctl(s->fd, SIOCOUTQ, &q)) return KA_OK; /* not available: trust the write */
        if (q == 0) return peer_gone(s->fd) ? KA_EIO : KA_OK;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > s->opts.timeout_ms || peer_gone(s->fd)) return KA_EIO;
        usleep(1000);
    }
}

/* confirm=close: once the peer's kernel acknowledged every byte (wait_acked), ends our side of
   the stream and waits until the receiver closes its side. A FIN after all our data was
   acknowledged means the receiving program read it: a program that closes with data unread
   makes its kernel send a reset, and data that reaches an already closed socket is reset, never
   acknowledged. Anything but an orderly close within timeout_ms (a reset, a timeout) is an
   error. */
static int wait_closed(struct ka_sl *s)
{
    if (s->tls) {
        int g;
        do g = gnutls_bye(s->tls, GNUTLS_SHUT_WR);
        while (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED);
        if (g < 0) return KA_EIO;
    }
    if (shutdown(s->fd, SHUT_WR)) return KA_EIO;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = s->opts.timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            errno = ETIMEDOUT;
            s->not_closed = true;
            return KA_EIO;
        }
        struct pollfd pf = {s->fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return KA_EIO;
        if (pr == 0) continue;
        char buf[512];
        if (s->tls) {
            ssize_t r = gnutls_record_recv(s->tls, buf, sizeof buf);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) continue;
            /* close_notify, or the TCP close that most servers send without it */
            if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) return KA_OK;
            if (r > 0) continue; /* a syslog receiver has nothing to say; ignore it */
            errno = ECONNRESET;
            return KA_EIO;
        }
        ssize_t r = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) return KA_OK;
        if (r > 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return KA_EIO;
    }
}

static int send_udp(struct ka_sl *s, const struct ka_buf *body)
{
    size_t off = 0;
    while (off < body->n) {
        size_t len = 0;
        while (off < body->n && body->p[off] != ' ') len = len * 10 + (size_t)(body->p[off++] - '0');
        off++;
        if (off + len > body->n || send(s->fd, body->p + off, len, 0) != (ssize_t)len) return KA_EIO;
        off += len;
    }
    return KA_OK;
}

static int sl_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                   struct ka_out_item *items)
{
    struct ka_sl *s = ctx;
    if (!body->n) return KA_OK;
    errno = 0;
    s->not_closed = false;
    if (s->fd >= 0 && s->proto != KA_SL_UDP && peer_gone(s->fd)) sl_close(s);
    int rc = s->fd >= 0 ? KA_OK : connect_fd(s);
    if (!rc && s->proto == KA_SL_TLS && !s->tls) rc = tls_start(s);
    if (!rc) rc = s->proto == KA_SL_UDP ? send_udp(s, body) : write_stream(s, body->p, body->n);
    if (!rc && s->proto != KA_SL_UDP) rc = wait_acked(s);
    if (!rc && s->confirm_close) rc = wait_closed(s);
    if (!rc && s->confirm_close) sl_close(s);
    if (rc) {
        char why[600]; /* items keep the first 159 bytes */
        if (s->not_closed)
            snprintf(why, sizeof why, "syslog %s:%s: receiver did not close within %d ms (confirm=close; "
                     "confirm=tcp if it keeps connections open)", s->host, s->port, s->opts.timeout_ms);
        else
            snprintf(why, sizeof why, "syslog %s:%s: %s", s->host, s->port, errno ? strerror(errno) : "connection failed");
        sl_close(s);
        ka_out_items_set(items, b->n, KA_OUT_RETRY, why);
        return KA_OK;
    }
    ka_out_items_set(items, b->n, KA_OUT_OK, "");
    return KA_OK;
}

const struct ka_output_ops ka_output_syslog = {
    .name = "syslog",
    .schemes = ka_sl_schemes,
    .create = sl_create,
    .format = sl_format,
    .send = sl_send,
    .destroy = sl_destroy,
};
