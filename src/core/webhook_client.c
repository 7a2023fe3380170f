/*
 * webhook_client.c - the sending half of kube-apiserver's webhook backend (spec §6): the
 * request URL, EventList bodies (§1.5) and a libcurl client with the apiserver's retry policy
 * (exponential backoff between attempts, Retry-After on 429/5xx inside an attempt).
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kaudit/webhook_client.h"

#define EVENT_PREFIX "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\","
#define LIST_HEAD "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":["

/* ---- URL ---------------------------------------------------------------------------------- */

/* Appends Go's path.Clean of the rooted path p[0..n) ("" -> "/"). */
static int clean_path(const char *p, size_t n, struct ka_buf *out)
{
    size_t base = out->n;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            while (out->n > base && out->p[out->n - 1] != '/')
                out->n--;
            if (out->n > base)
                out->n--; /* the slash before the dropped segment */
        } else if (len > 0 && !(len == 1 && p[i] == '.')) {
            if (ka_buf_putc(out, '/') || ka_buf_append(out, p + i, len))
                return KA_ENOMEM;
        }
        i = j + 1;
    }
    return out->n == base ? ka_buf_putc(out, '/') : KA_OK;
}

int ka_webhook_url(const char *server, bool tls, struct ka_buf *out)
{
    if (!server)
        return KA_EINVAL;
    size_t start = out->n;
    const char *rest = server;
    const char *sep = strstr(server, "://");
    int rc;
    if (sep && (size_t)(sep - server) == 4 && !strncasecmp(server, "http", 4))
        rc = ka_buf_puts(out, "http://");
    else if (sep && (size_t)(sep - server) == 5 && !strncasecmp(server, "https", 5))
        rc = ka_buf_puts(out, "https://");
    else if (sep)
        return KA_EINVAL;
    else
        rc = ka_buf_puts(out, tls ? "https://" : "http://");
    if (rc)
        return rc;
    if (sep)
        rest = sep + 3;
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0 || memchr(rest, ' ', hl)) {
        out->n = start;
        return KA_EINVAL;
    }
    size_t pl = strcspn(rest + hl, "?#");
    if (ka_buf_append(out, rest, hl) || clean_path(rest + hl, pl, out) ||
        ka_buf_puts(out, "?timeout=30s")) {
        out->n = start;
        return KA_ENOMEM;
    }
    return KA_OK;
}

/* ---- body --------------------------------------------------------------------------------- */

int ka_webhook_body_begin(struct ka_buf *b)
{
    ka_buf_reset(b);
    return ka_buf_puts(b, LIST_HEAD);
}

int ka_webhook_body_add(struct ka_buf *b, const struct ka_event *ev)
{
    static const size_t plen = sizeof EVENT_PREFIX - 1;
    size_t start = b->n;
    bool first = b->n > 0 && b->p[b->n - 1] == '[';
    int rc = ka_event_write(ev, NULL, b);
    if (rc)
        return rc;
    /* The canonical encoding starts with kind and apiVersion and ends with LF; an item has
       neither, so the prefix is replaced by "{" (or ",{") and the LF dropped. */
    size_t n = b->n - start;
    if (n < plen + 2 || memcmp(b->p + start, EVENT_PREFIX, plen) != 0) {
        b->n = start;
        return KA_EINVAL;
    }
    size_t keep = n - plen - 1; /* members after the prefix, without the LF */
    size_t head = first ? 1 : 2;
    memmove(b->p + start + head, b->p + start + plen, keep);
    if (!first)
        b->p[start] = ',';
    b->p[start + head - 1] = '{';
    b->n = start + head + keep;
    return KA_OK;
}

int ka_webhook_body_end(struct ka_buf *b)
{
    return ka_buf_puts(b, "]}\n");
}

/* ---- client ------------------------------------------------------------------------------- */

struct ka_webhook_client {
    CURL *curl;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    char *auth_header;
    struct ka_webhook_opts o;
    unsigned seed;
    long retry_after; /* seconds from the last response, -1 = none */
    char errbuf[CURL_ERROR_SIZE];
};

static void opts_defaults(const struct ka_webhook_opts *in, struct ka_webhook_opts *o)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->initial_backoff <= 0)
        o->initial_backoff = 10;
    if (o->backoff_factor <= 0)
        o->backoff_factor = 1.5;
    if (o->jitter == 0)
        o->jitter = 0.2;
    else if (o->jitter < 0)
        o->jitter = 0;
    if (o->max_attempts <= 0)
        o->max_attempts = 5;
    if (o->timeout <= 0)
        o->timeout = 30;
    if (o->retry_after_tries == 0)
        o->retry_after_tries = KA_WEBHOOK_RETRY_AFTER_TRIES;
    else if (o->retry_after_tries < 0)
        o->retry_after_tries = 0;
}

static size_t discard_body(char *p, size_t sz, size_t nm, void *ud)
{
    (void)p;
    (void)ud;
    return sz * nm;
}

/* Remembers an integer Retry-After (client-go accepts only whole seconds). */
static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct ka_webhook_client *c = ud;
    size_t n = sz * nm;
    static const char name[] = "retry-after:";
    if (n >= 5 && !strncmp(p, "HTTP/", 5))
        c->retry_after = -1;
    if (n > sizeof name - 1 && n < 64 && !strncasecmp(p, name, sizeof name - 1)) {
        char v[64] = {0};
        size_t i = sizeof name - 1, k = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (i < n && p[i] != '\r' && p[i] != '\n' && k < sizeof v - 1)
            v[k++] = p[i++];
        while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        v[k] = 0;
        char *end;
        errno = 0;
        long s = strtol(v, &end, 10);
        if (k > 0 && !*end && !errno && s >= 0)
            c->retry_after = s > KA_WEBHOOK_MAX_RETRY_AFTER ? KA_WEBHOOK_MAX_RETRY_AFTER : s;
    }
    return n;
}

static int set_tls(CURL *h, const struct ka_webhook_config *cfg)
{
    CURLcode e = CURLE_OK;
    struct curl_blob blob = {0};
    blob.flags = CURL_BLOB_COPY;
    if (cfg->ca_data) {
        blob.data = cfg->ca_data;
        blob.len = cfg->ca_data_len;
        e |= curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    } else if (cfg->ca_file) {
        e |= curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    }
    if (cfg->cert_data) {
        blob.data = cfg->cert_data;
        blob.len = cfg->cert_data_len;
        e |= curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
    } else if (cfg->cert_file) {
        e |= curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
    }
    if (cfg->key_data) {
        blob.data = cfg->key_data;
        blob.len = cfg->key_data_len;
        e |= curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
    } else if (cfg->key_file) {
        e |= curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
    }
    if (cfg->insecure) {
        e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cfg->username) {
        e |= curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        e |= curl_easy_setopt(h, CURLOPT_USERNAME, cfg->username);
        e |= curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }
    return e == CURLE_OK ? KA_OK : KA_EINVAL;
}

/*
 * tls-server-name: the URL's host is replaced by the name (so curl sends it as SNI and
 * verifies the certificate against it), the connection goes to the real host, and the Host
 * header keeps the real authority, as Go does with tls.Config.ServerName.
 */
static int set_server_name(struct ka_webhook_client *c, const struct ka_webhook_config *cfg)
{
    int rc = KA_EINVAL;
    char *host = NULL, *port = NULL, *url = NULL, *hosthdr = NULL, *conn = NULL;
    struct curl_slist *cto = NULL;
    CURLU *u = curl_url();
    if (!u)
        return KA_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, cfg->url, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
        curl_url_set(u, CURLUPART_HOST, cfg->tls_server_name, 0) ||
        curl_url_get(u, CURLUPART_URL, &url, 0))
        goto out;
    rc = KA_ENOMEM;
    if (asprintf(&conn, "%s:%s:%s:%s", cfg->tls_server_name, port, host, port) < 0) {
        conn = NULL;
        goto out;
    }
    if (asprintf(&hosthdr, "Host: %s:%s", host, port) < 0) {
        hosthdr = NULL;
        goto out;
    }
    cto = curl_slist_append(NULL, conn);
    struct curl_slist *h2 = cto ? curl_slist_append(c->headers, hosthdr) : NULL;
    if (!h2)
        goto out;
    c->headers = h2;
    rc = curl_easy_setopt(c->curl, CURLOPT_URL, url) ||
                 curl_easy_setopt(c->curl, CURLOPT_CONNECT_TO, cto)
             ? KA_EINVAL
             : KA_OK;
    c->connect_to = cto; /* the handle keeps using it: freed with the client */
    cto = NULL;
out:
    curl_slist_free_all(cto);
    free(conn);
    free(hosthdr);
    curl_free(host);
    curl_free(port);
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

static int build_headers(struct ka_webhook_client *c, const struct ka_webhook_config *cfg)
{
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json, */*", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *l = curl_slist_append(c->headers, fixed[i]);
        if (!l)
            return KA_ENOMEM;
        c->headers = l;
    }
    if (cfg->token) {
        if (asprintf(&c->auth_header, "Authorization: Bearer %s", cfg->token) < 0) {
            c->auth_header = NULL;
            return KA_ENOMEM;
        }
        struct curl_slist *l = curl_slist_append(c->headers, c->auth_header);
        if (!l)
            return KA_ENOMEM;
        c->headers = l;
    }
    return KA_OK;
}

static int setup_handle(struct ka_webhook_client *c, const struct ka_webhook_config *cfg)
{
    CURL *h = c->curl;
    CURLcode e = curl_easy_setopt(h, CURLOPT_URL, cfg->url);
    e |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    e |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    e |= curl_easy_setopt(h, CURLOPT_POST, 1L);
    e |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->o.timeout * 1000));
    e |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    e |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    e |= curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    e |= curl_easy_setopt(h, CURLOPT_USERAGENT, "kaudit/" KA_VERSION);
    e |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (e != CURLE_OK)
        return KA_EINVAL;
    int rc = build_headers(c, cfg);
    if (!rc && cfg->tls_server_name)
        rc = set_server_name(c, cfg);
    if (!rc)
        rc = set_tls(h, cfg);
    if (!rc && curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK)
        rc = KA_EINVAL;
    return rc;
}

int ka_webhook_client_new(const struct ka_webhook_config *cfg, const struct ka_webhook_opts *o,
                          struct ka_webhook_client **out)
{
    static int global_done;
    if (!cfg || !cfg->url)
        return KA_EINVAL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return KA_ENOMEM;
        global_done = 1;
    }
    struct ka_webhook_client *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    opts_defaults(o, &c->o);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->seed = (unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec;
    c->curl = curl_easy_init();
    int rc = c->curl ? setup_handle(c, cfg) : KA_ENOMEM;
    if (rc) {
        ka_webhook_client_free(c);
        return rc;
    }
    *out = c;
    return KA_OK;
}

void ka_webhook_client_free(struct ka_webhook_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->connect_to);
    free(c->auth_header);
    free(c);
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* One HTTP request. Returns 1 on 200-206, 0 on any other answer or transport error. */
static int post_once(struct ka_webhook_client *c, const char *body, size_t n,
                     struct ka_webhook_result *res)
{
    c->retry_after = -1;
    c->errbuf[0] = 0;
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    res->requests++;
    CURLcode e = curl_easy_perform(c->curl);
    res->status = 0;
    if (e != CURLE_OK) {
        snprintf(res->error, sizeof res->error, "%s", c->errbuf[0] ? c->errbuf
                                                                   : curl_easy_strerror(e));
        return 0;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (res->status >= 200 && res->status <= 206) {
        res->error[0] = 0;
        return 1;
    }
    snprintf(res->error, sizeof res->error, "the server answered HTTP %ld", res->status);
    return 0;
}

/* One backoff step: a request, repeated after Retry-After on 429/5xx as client-go does. */
static int attempt(struct ka_webhook_client *c, const char *body, size_t n,
                   struct ka_webhook_result *res)
{
    for (int tries = 0;; tries++) {
        if (post_once(c, body, n, res))
            return 1;
        bool waitable = res->status == 429 || res->status >= 500;
        if (!waitable || c->retry_after < 0 || tries >= c->o.retry_after_tries)
            return 0;
        res->slept += (double)c->retry_after;
        sleep_s((double)c->retry_after);
    }
}

int ka_webhook_client_send(struct ka_webhook_client *c, const char *body, size_t n,
                           struct ka_webhook_result *res)
{
    memset(res, 0, sizeof *res);
    double d = c->o.initial_backoff;
    for (int i = 1; i <= c->o.max_attempts; i++) {
        res->attempts = i;
        if (attempt(c, body, n, res))
            return KA_OK;
        if (i == c->o.max_attempts)
            break;
        double u = (double)rand_r(&c->seed) / ((double)RAND_MAX + 1.0);
        double s = d * (1 + c->o.jitter * u);
        res->slept += s;
        sleep_s(s);
        d *= c->o.backoff_factor;
    }
    return KA_EIO;
}
