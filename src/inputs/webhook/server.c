/*
 * server.c - the collector's HTTP server on libmicrohttpd: listening, routing, request limits
 * (body size, content type, timeouts) and the answers; the batch itself is handled in batch.c.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "webhook_int.h"

#define INTAKE_MAX_BODY_START (64u << 10)

enum route { R_NONE = 0, R_INTAKE, R_HEALTHZ, R_READYZ, R_METRICS };

struct req {
    enum route route;
    bool answered, too_big;
    uint64_t start_ns;
    char cluster[KA_WEBHOOK_MAX_CLUSTER + 1];
    char remote[64];
    struct ka_buf body;
};

static void logf_(struct ka_webhook_server *s, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(struct ka_webhook_server *s, enum ka_sev sev, const char *fmt, ...)
{
    if (!s->o.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->o.log(s->o.log_ud, sev, msg);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ka_webhook_server *s = cls;
    if (!s->o.log) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    s->o.log(s->o.log_ud, KA_SEV_WARNING, msg);
}

static enum MHD_Result answer(struct ka_webhook_server *s, struct MHD_Connection *c, struct req *r,
                              int status, const char *body, const char *ctype)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                r->route == R_INTAKE ? "POST" : "GET, HEAD");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", s->o.retry_after_sec > 0 ? s->o.retry_after_sec : 5);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        r->answered = true;
        ka_wh_count_request(s, status);
    }
    return ret;
}

static enum MHD_Result answer_text(struct ka_webhook_server *s, struct MHD_Connection *c,
                                   struct req *r, int status, const char *text)
{
    char line[256];
    snprintf(line, sizeof line, "%s\n", text);
    return answer(s, c, r, status, line, "text/plain; charset=utf-8");
}

/* "/audit", "/k8s-audit" (server.paths) or "<path>/<cluster>" when clusters.from_path. */
static enum route route_of(struct ka_webhook_server *s, const char *url, struct req *r)
{
    if (strcmp(url, "/healthz") == 0) return R_HEALTHZ;
    if (strcmp(url, "/readyz") == 0) return R_READYZ;
    if (strcmp(url, "/metrics") == 0) return R_METRICS;
    for (size_t i = 0; i < s->cfg->paths.n; i++) {
        const char *p = s->cfg->paths.v[i];
        size_t n = strlen(p);
        if (strncmp(url, p, n) != 0) continue;
        if (url[n] == '\0') return R_INTAKE;
        const char *cl = url + n + 1;
        if (url[n] == '/' && s->cfg->cluster_from_path && ka_wh_cluster_name_ok(cl, strlen(cl))) {
            snprintf(r->cluster, sizeof r->cluster, "%s", cl);
            return R_INTAKE;
        }
    }
    return R_NONE;
}

static bool json_ctype(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof want - 1) != 0) return false;
    ct += sizeof want - 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static bool journal_ready(struct ka_webhook_server *s)
{
    if (s->o.sink.writable && !s->o.sink.writable(s->o.sink.ud)) return false;
    if (!atomic_load(&s->last_append_failed)) return true;
    int64_t now = (int64_t)(ka_wh_now_ns() / 1000000000u);
    int ra = s->o.retry_after_sec > 0 ? s->o.retry_after_sec : 5;
    return now - atomic_load(&s->last_fail_sec) >= ra;
}

static enum MHD_Result serve_info(struct ka_webhook_server *s, struct MHD_Connection *c,
                                  struct req *r, const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_text(s, c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    if (r->route == R_HEALTHZ) return answer(s, c, r, 200, "ok\n", "text/plain; charset=utf-8");
    if (r->route == R_READYZ)
        return journal_ready(s) ? answer(s, c, r, 200, "ok\n", "text/plain; charset=utf-8")
                                : answer_text(s, c, r, 503, "journal not writable");
    struct ka_buf m;
    ka_buf_init(&m, 1u << 20);
    enum MHD_Result ret;
    if (ka_webhook_metrics(s, &m) == KA_OK && ka_buf_cstr(&m))
        ret = answer(s, c, r, 200, m.p, "text/plain; version=0.0.4; charset=utf-8");
    else
        ret = answer_text(s, c, r, 500, "cannot format metrics");
    ka_buf_free(&m);
    return ret;
}

static void remote_of(struct MHD_Connection *c, char *dst, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(dst, n, "unknown");
    if (!ci || !ci->client_addr) return;
    char host[INET6_ADDRSTRLEN], port[8];
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(dst, n, ci->client_addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* First call for a request: route, method, auth, content type, declared length. */
static enum MHD_Result begin(struct ka_webhook_server *s, struct MHD_Connection *c, struct req *r,
                             const char *url, const char *method)
{
    r->route = route_of(s, url, r);
    if (r->route == R_NONE) return answer_text(s, c, r, MHD_HTTP_NOT_FOUND, "not found");
    if (r->route != R_INTAKE) return serve_info(s, c, r, method);
    if (strcmp(method, "POST") != 0)
        return answer_text(s, c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    char who[KA_WEBHOOK_MAX_CLUSTER + 1];
    if (ka_wh_auth(s, c, who) != 0)
        return answer(s, c, r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "text/plain");
    if (who[0]) /* token or certificate name first, then the path, then the default */
        snprintf(r->cluster, sizeof r->cluster, "%s", who);
    else if (!r->cluster[0] && s->cfg->default_cluster)
        snprintf(r->cluster, sizeof r->cluster, "%s", s->cfg->default_cluster);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!json_ctype(ct))
        return answer_text(s, c, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "Content-Type must be application/json");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->cfg->body_max)
        return answer_text(s, c, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than limits.body_max");
    remote_of(c, r->remote, sizeof r->remote);
    ka_buf_init(&r->body, (size_t)s->cfg->body_max);
    return MHD_YES;
}

static enum MHD_Result finish(struct ka_webhook_server *s, struct MHD_Connection *c, struct req *r)
{
    if (r->too_big)
        return answer_text(s, c, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than limits.body_max");
    uint64_t t0 = ka_wh_now_ns();
    struct ka_wh_result res;
    ka_wh_batch(s, r->body.p ? r->body.p : "", r->body.n, r->cluster, r->remote, &res);
    ka_wh_observe_batch(s, ka_wh_now_ns() - t0);
    if (res.status != 200) {
        if (res.status >= 500)
            logf_(s, KA_SEV_WARNING, "batch from %s refused (%d): %s", r->remote, res.status,
                  res.reason);
        return answer_text(s, c, r, res.status, res.reason);
    }
    return answer(s, c, r, 200, "{}\n", "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ka_webhook_server *s = cls;
    struct req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->start_ns = ka_wh_now_ns();
        atomic_fetch_add(&s->in_flight, 1);
        return begin(s, c, r, url, method);
    }
    if (r->answered) {
        *upload_data_size = 0; /* answered early: the rest of the body is discarded */
        return MHD_YES;
    }
    if (*upload_data_size == 0) return finish(s, c, r);
    uint64_t limit_ns = (uint64_t)s->cfg->request_timeout_ms * 1000000u;
    if (ka_wh_now_ns() - r->start_ns > limit_ns) {
        logf_(s, KA_SEV_WARNING, "%s: request timeout, connection closed", r->remote);
        return MHD_NO;
    }
    atomic_fetch_add(&s->m.bytes, *upload_data_size);
    if (!r->too_big && ka_buf_append(&r->body, upload_data, *upload_data_size) != KA_OK) {
        r->too_big = true; /* stop buffering; answer 413 at once if MHD lets us */
        ka_buf_free(&r->body);
        if (answer_text(s, c, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than limits.body_max") !=
            MHD_YES)
            r->answered = false;
    }
    *upload_data_size = 0;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ka_webhook_server *s = cls;
    struct req *r = *con_cls;
    (void)c;
    (void)toe;
    if (!r) return;
    ka_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- start, reload, stop ---- */

#define MAX_PEM (1u << 20)

static int read_pem(const char *path, char **out, struct ka_diag *diag)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: cannot open", path);
        return KA_EIO;
    }
    struct ka_buf b;
    ka_buf_init(&b, MAX_PEM);
    char chunk[4096];
    size_t n;
    int rc = KA_OK;
    while (rc == KA_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = ka_buf_append(&b, chunk, n);
    if (rc == KA_OK && ferror(f)) rc = KA_EIO;
    fclose(f);
    if (rc == KA_OK && !ka_buf_cstr(&b)) rc = KA_ENOMEM;
    if (rc != KA_OK) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: cannot read (%s)", path, ka_strerror(rc));
        ka_buf_free(&b);
        return rc;
    }
    *out = b.p;
    return KA_OK;
}

static int build_redactor(struct ka_webhook_server *s, struct ka_diag *diag)
{
    const struct ka_serve_cfg *cfg = s->cfg;
    size_t n = cfg->redact_paths.n;
    if (n > KA_REDACT_MAX_RULES) return KA_ETOOBIG;
    struct ka_redact_rule *rules = n ? calloc(n, sizeof *rules) : NULL;
    if (n && !rules) return KA_ENOMEM;
    const struct ka_serve_redact_path *items = cfg->redact_paths.v;
    for (size_t i = 0; i < n; i++) {
        rules[i].resource = items[i].resource;
        rules[i].paths = &items[i].path;
        rules[i].n_paths = 1;
    }
    struct ka_redact_opts ro = {.disabled = !cfg->redact, .rules = rules, .n_rules = n};
    int rc = ka_redact_new(&ro, diag, &s->redact);
    free(rules);
    return rc;
}

static int load_policy(const struct ka_serve_cfg *cfg, struct ka_diag *diag, struct ka_policy **out)
{
    *out = NULL;
    if (!cfg->policy_file || !cfg->policy_file[0]) return KA_OK;
    return ka_policy_load_file(cfg->policy_file, cfg->policy_strict ? KA_POLICY_STRICT : 0, diag,
                               out);
}

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                          struct ka_diag *diag)
{
    char host[256], port[8];
    const char *colon = strrchr(listen, ':');
    size_t hn = colon ? (size_t)(colon - listen) : 0;
    if (!colon || hn >= sizeof host || strlen(colon + 1) >= sizeof port) {
        ka_diag_add(diag, KA_SEV_ERROR, "server.listen: bad address '%s'", listen);
        return KA_EINVAL;
    }
    memcpy(host, listen, hn);
    host[hn] = '\0';
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (g != 0 || !ai) {
        ka_diag_add(diag, KA_SEV_ERROR, "server.listen: cannot resolve '%s': %s", listen,
                    gai_strerror(g));
        return KA_EINVAL;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return KA_OK;
}

static int load_files(struct ka_webhook_server *s, struct ka_diag *diag)
{
    const struct ka_serve_cfg *cfg = s->cfg;
    int rc = KA_OK;
    if (cfg->tls_cert && cfg->tls_cert[0]) {
        rc = read_pem(cfg->tls_cert, &s->cert_pem, diag);
        rc = rc ? rc : read_pem(cfg->tls_key ? cfg->tls_key : "", &s->key_pem, diag);
        s->tls = rc == KA_OK;
    }
    if (rc == KA_OK && cfg->tls_client_ca && cfg->tls_client_ca[0]) {
        rc = read_pem(cfg->tls_client_ca, &s->ca_pem, diag);
        s->mtls = rc == KA_OK;
    }
    if (rc == KA_OK && cfg->token_file && cfg->token_file[0])
        rc = ka_wh_tokens_load(s, cfg->token_file, diag);
    rc = rc ? rc : build_redactor(s, diag);
    rc = rc ? rc : load_policy(cfg, diag, &s->policy);
    if (rc == KA_OK && ka_wh_deadletter_open(s) != KA_OK) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s/deadletter: cannot create the dead-letter file",
                    s->o.data_dir);
        rc = KA_EIO;
    }
    return rc;
}

static int start_daemon(struct ka_webhook_server *s, struct ka_diag *diag)
{
    const struct ka_serve_cfg *cfg = s->cfg;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    const char *listen = s->o.listen ? s->o.listen : cfg->listen;
    int rc = resolve_listen(listen, &ss, &sl, diag);
    if (rc) return rc;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls) flags |= MHD_USE_TLS;
    long long idle_s = (cfg->idle_timeout_ms + 999) / 1000;
    size_t mem = (size_t)cfg->header_max + (32u << 10);
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem},
        {s->mtls ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->ca_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!s->mtls) ops[8].option = MHD_OPTION_END;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, s, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!s->daemon) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: cannot listen (address in use, or bad TLS files)",
                    listen);
        return KA_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return KA_OK;
}

static void server_free(struct ka_webhook_server *s)
{
    ka_wh_tokens_free(s);
    ka_redact_free(s->redact);
    ka_policy_free(s->policy);
    ka_wh_deadletter_close(s);
    if (s->key_pem) memset(s->key_pem, 0, strlen(s->key_pem));
    free(s->cert_pem);
    free(s->key_pem);
    free(s->ca_pem);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->dl_lock);
    free(s);
}

int ka_webhook_start(const struct ka_webhook_opts *o, struct ka_diag *diag,
                     struct ka_webhook_server **out)
{
    *out = NULL;
    if (!o->cfg || !o->sink.append || !o->data_dir) return KA_EINVAL;
    struct ka_webhook_server *s = calloc(1, sizeof *s);
    if (!s) return KA_ENOMEM;
    s->o = *o;
    s->cfg = o->cfg;
    s->dl_fd = -1;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->dl_lock, NULL);
    int rc = load_files(s, diag);
    rc = rc ? rc : start_daemon(s, diag);
    if (rc) {
        server_free(s);
        return rc;
    }
    *out = s;
    return KA_OK;
}

unsigned ka_webhook_port(const struct ka_webhook_server *s)
{
    return s->port;
}

bool ka_webhook_is_tls(const struct ka_webhook_server *s)
{
    return s->tls;
}

int ka_webhook_reload(struct ka_webhook_server *s, struct ka_diag *diag)
{
    struct ka_policy *p = NULL;
    int rc = load_policy(s->cfg, diag, &p);
    if (rc == KA_OK) {
        pthread_rwlock_wrlock(&s->lock);
        struct ka_policy *old = s->policy;
        s->policy = p;
        pthread_rwlock_unlock(&s->lock);
        ka_policy_free(old);
    }
    if (ka_wh_deadletter_open(s) != KA_OK) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: cannot reopen the dead-letter file", s->dl_path);
        rc = rc ? rc : KA_EIO;
    }
    return rc;
}

void ka_webhook_stop(struct ka_webhook_server *s, int wait_ms)
{
    if (!s) return;
    if (s->daemon) {
        MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        for (int waited = 0; atomic_load(&s->in_flight) > 0 && waited < wait_ms; waited += 10)
            usleep(10000);
        MHD_stop_daemon(s->daemon);
    }
    server_free(s);
}
