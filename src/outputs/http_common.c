/*
 * http_common.c - libcurl plumbing and small event helpers shared by the Elasticsearch, Loki,
 * Splunk HEC and Kafka outputs (see http_common.h for the classification rules).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_common.h"
#include "kaudit/json.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_global_rc;

static void curl_global_once(void)
{
    curl_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? KA_OK : KA_ENOMEM;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct ka_outh *h = ud;
    size_t n = size * nmemb;
    return ka_buf_append(&h->resp, p, n) == KA_OK ? n : 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The option value, else the URL parameter, else NULL. */
static const char *opt_or_param(const char *opt, const struct ka_out_url *u, const char *key)
{
    return opt ? opt : ka_out_url_param(u, key);
}

static int build_base(struct ka_outh *h, const struct ka_out_url *u, const struct ka_outh_cfg *c,
                      char *err, size_t errlen)
{
    if (!u->host[0]) {
        seterr(err, errlen, "URL has no host");
        return KA_EINVAL;
    }
    bool v6 = strchr(u->host, ':') && u->host[0] != '[';
    const char *path = u->path;
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen > 0 && path[0] != '/') {
        seterr(err, errlen, "URL path must start with '/'");
        return KA_EINVAL;
    }
    int n = snprintf(h->base, sizeof h->base, "%s://%s%s%s:%d%.*s", c->tls ? "https" : "http",
                     v6 ? "[" : "", u->host, v6 ? "]" : "", u->port ? u->port : c->default_port,
                     (int)plen, path);
    if (n < 0 || (size_t)n >= sizeof h->base) {
        seterr(err, errlen, "URL too long");
        return KA_EINVAL;
    }
    return KA_OK;
}

static int setup_tls(struct ka_outh *h, const struct ka_out_url *u, const struct ka_out_opts *o,
                     char *err, size_t errlen)
{
    const char *ca = opt_or_param(o ? o->ca_file : NULL, u, "ca_file");
    const char *cert = opt_or_param(o ? o->cert_file : NULL, u, "cert_file");
    const char *key = opt_or_param(o ? o->key_file : NULL, u, "key_file");
    CURLcode e = CURLE_OK;
    if (ca)
        e |= curl_easy_setopt(h->curl, CURLOPT_CAINFO, ca);
    if (cert)
        e |= curl_easy_setopt(h->curl, CURLOPT_SSLCERT, cert);
    if (key)
        e |= curl_easy_setopt(h->curl, CURLOPT_SSLKEY, key);
    if (o && o->insecure) {
        e |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        e |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (key && !cert) {
        seterr(err, errlen, "key_file without cert_file");
        return KA_EINVAL;
    }
    if (e != CURLE_OK) {
        seterr(err, errlen, "libcurl refused the TLS options");
        return KA_EINVAL;
    }
    return KA_OK;
}

static int setup_handle(struct ka_outh *h, const struct ka_out_url *u)
{
    CURLcode e = curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    e |= curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    e |= curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    e |= curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    e |= curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    e |= curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    e |= curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "kaudit/" KA_VERSION);
    e |= curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (u->user[0]) {
        e |= curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        e |= curl_easy_setopt(h->curl, CURLOPT_USERNAME, u->user);
        e |= curl_easy_setopt(h->curl, CURLOPT_PASSWORD, u->password);
    }
    return e == CURLE_OK ? KA_OK : KA_EINVAL;
}

int ka_outh_init(struct ka_outh *h, const struct ka_out_url *u, const struct ka_out_opts *o,
                 const struct ka_outh_cfg *c, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    ka_buf_init(&h->resp, KA_OUTH_MAX_RESPONSE);
    h->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : KA_OUTH_DEFAULT_TIMEOUT_MS;
    pthread_once(&curl_once, curl_global_once);
    if (curl_global_rc)
        return curl_global_rc;
    int rc = build_base(h, u, c, err, errlen);
    if (rc)
        return rc;
    h->curl = curl_easy_init();
    if (!h->curl)
        return KA_ENOMEM;
    rc = setup_handle(h, u);
    if (rc) {
        seterr(err, errlen, "libcurl refused an option");
        return rc;
    }
    rc = setup_tls(h, u, o, err, errlen);
    if (rc)
        return rc;
    char ct[160];
    snprintf(ct, sizeof ct, "Content-Type: %s", c->content_type);
    if (ka_outh_header(h, ct) || ka_outh_header(h, "Expect:"))
        return KA_ENOMEM;
    return KA_OK;
}

void ka_outh_free(struct ka_outh *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    ka_buf_free(&h->resp);
    h->curl = NULL;
    h->headers = NULL;
}

int ka_outh_header(struct ka_outh *h, const char *line)
{
    struct curl_slist *l = curl_slist_append(h->headers, line);
    if (!l)
        return KA_ENOMEM;
    h->headers = l;
    return KA_OK;
}

int ka_outh_post(struct ka_outh *h, const char *path, const char *body, size_t n)
{
    char url[2048];
    int un = snprintf(url, sizeof url, "%s%s", h->base, path);
    if (un < 0 || (size_t)un >= sizeof url) {
        snprintf(h->errbuf, sizeof h->errbuf, "request URL too long");
        return KA_EINVAL;
    }
    ka_buf_reset(&h->resp);
    h->status = 0;
    h->errbuf[0] = '\0';
    CURLcode e = curl_easy_setopt(h->curl, CURLOPT_URL, url);
    e |= curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    e |= curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? body : "");
    e |= curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    if (e != CURLE_OK) {
        snprintf(h->errbuf, sizeof h->errbuf, "libcurl refused the request options");
        return KA_EINVAL;
    }
    e = curl_easy_perform(h->curl);
    if (e != CURLE_OK) {
        if (!h->errbuf[0])
            snprintf(h->errbuf, sizeof h->errbuf, "%s", curl_easy_strerror(e));
        return KA_EIO;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    return KA_OK;
}

enum ka_out_result ka_outh_classify(long status)
{
    if (status >= 200 && status < 300)
        return KA_OUT_OK;
    if (status == 408 || status == 429 || status >= 500)
        return KA_OUT_RETRY;
    if (status >= 400)
        return KA_OUT_PERMANENT;
    return KA_OUT_RETRY; /* 1xx/3xx: not an answer we can act on */
}

static void vset(struct ka_out_item *it, enum ka_out_result r, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vset(struct ka_out_item *it, enum ka_out_result r, const char *fmt, va_list ap)
{
    it->result = r;
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
}

void ka_outh_set(struct ka_out_item *it, enum ka_out_result r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(it, r, fmt, ap);
    va_end(ap);
}

void ka_outh_set_all(size_t n, struct ka_out_item *items, enum ka_out_result r,
                     const char *fmt, ...)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].result == KA_OUT_PERMANENT)
            continue;
        va_list ap;
        va_start(ap, fmt);
        vset(&items[i], r, fmt, ap);
        va_end(ap);
    }
}

void ka_outh_snippet(const char *body, size_t n, char *dst, size_t dstlen)
{
    if (!dstlen)
        return;
    size_t j = 0;
    bool space = false;
    for (size_t i = 0; i < n && j + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)body[i];
        if (ch < 0x20 || ch == 0x7f) {
            space = j > 0;
            continue;
        }
        if (space && j + 2 < dstlen)
            dst[j++] = ' ';
        space = false;
        dst[j++] = (char)ch;
    }
    dst[j] = '\0';
}

bool ka_outh_too_big(const struct ka_out_event *e, size_t max_event, struct ka_out_item *it)
{
    if (!max_event || e->len <= max_event)
        return false;
    ka_outh_set(it, KA_OUT_PERMANENT, "event of %zu bytes exceeds max_event (%zu)", e->len,
                max_event);
    return true;
}

bool ka_outh_time(const struct ka_event *ev, int64_t *sec, int32_t *nsec)
{
    const struct ka_time *t = ev->stageTimestamp.set ? &ev->stageTimestamp
                                                      : &ev->requestReceivedTimestamp;
    if (!t->set)
        return false;
    *sec = t->sec;
    *nsec = t->nsec;
    return true;
}

int ka_outh_annotation(const struct ka_event *ev, const char *key, char *dst, size_t dstlen)
{
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    int found = -1;
    ka_json_iter_init(&it, ev->annotations);
    while (ka_json_iter_member(&it, &k, &v)) {
        if (!ka_str_eq(k, key, strlen(key)) || ka_json_type_of(v.p, v.n) != KA_JSON_STRING)
            continue;
        struct ka_str s = ka_str_from_raw(v.p, v.n);
        if (s.n >= dstlen) {
            found = -1; /* the decoded form may be shorter, but keep the rule simple */
            continue;
        }
        size_t n = ka_str_decode(s, dst);
        dst[n] = '\0';
        found = (int)n; /* a repeated key keeps its last value, as Go */
    }
    return found;
}

int ka_outh_check_params(const struct ka_out_url *u, const char *const *allowed, char *err,
                         size_t errlen)
{
    static const char *const tls[] = {KA_OUTH_TLS_PARAMS, NULL};
    for (size_t i = 0; i < u->n_params; i++) {
        bool ok = false;
        for (size_t j = 0; allowed && allowed[j] && !ok; j++)
            ok = !strcmp(u->key[i], allowed[j]);
        for (size_t j = 0; tls[j] && !ok; j++)
            ok = !strcmp(u->key[i], tls[j]);
        if (!ok) {
            seterr(err, errlen, "unknown parameter %s", u->key[i]);
            return KA_EINVAL;
        }
    }
    return KA_OK;
}

static int read_first_line(const char *path, char *dst, size_t dstlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return KA_EIO;
    int rc = KA_EINVAL;
    if (fgets(dst, (int)dstlen, f)) {
        size_t n = strlen(dst);
        bool complete = n > 0 && dst[n - 1] == '\n';
        while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
            dst[--n] = '\0';
        rc = complete || feof(f) ? KA_OK : KA_ETOOBIG;
    } else {
        dst[0] = '\0';
        rc = KA_OK;
    }
    fclose(f);
    return rc;
}

int ka_outh_secret(const struct ka_out_url *u, const char *name, char *dst, size_t dstlen,
                   char *err, size_t errlen)
{
    const char *v = ka_out_url_param(u, name);
    if (v) {
        if (strlen(v) >= dstlen) {
            seterr(err, errlen, "%s is too long", name);
            return KA_EINVAL;
        }
        snprintf(dst, dstlen, "%s", v);
        return 1;
    }
    char fk[80];
    snprintf(fk, sizeof fk, "%s_file", name);
    const char *path = ka_out_url_param(u, fk);
    if (!path)
        return 0;
    size_t cap = dstlen < KA_OUTH_MAX_SECRET ? dstlen : KA_OUTH_MAX_SECRET;
    int rc = read_first_line(path, dst, cap);
    if (rc == KA_EIO) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return KA_EINVAL;
    }
    if (rc || !dst[0]) {
        seterr(err, errlen, "%s: %s", path, rc ? "first line too long" : "empty");
        return KA_EINVAL;
    }
    return 1;
}

int ka_outh_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return KA_EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max || !isdigit((unsigned char)s[s[0] == '-']))
        return KA_EINVAL;
    *out = v;
    return KA_OK;
}

int ka_outh_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; s && i < 4; i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return KA_OK;
        }
    }
    return KA_EINVAL;
}

bool ka_outh_json_member(struct ka_raw obj, const char *name, struct ka_raw *val)
{
    if (ka_json_type_of(obj.p, obj.n) != KA_JSON_OBJECT)
        return false;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    bool found = false;
    ka_json_iter_init(&it, obj);
    while (ka_json_iter_member(&it, &k, &v)) {
        if (ka_str_eq(k, name, strlen(name))) {
            *val = v;
            found = true;
        }
    }
    return found;
}

bool ka_outh_json_int(struct ka_raw v, long long *out)
{
    char tmp[24];
    if (ka_json_type_of(v.p, v.n) != KA_JSON_NUMBER || v.n == 0 || v.n >= sizeof tmp)
        return false;
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

size_t ka_outh_json_text(struct ka_raw v, char *dst, size_t dstlen)
{
    if (!dstlen)
        return 0;
    struct ka_buf b;
    ka_buf_init(&b, 0); /* bounded by the response size; cut below */
    int rc = KA_OK;
    if (ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
        rc = ka_str_decode_buf(ka_str_from_raw(v.p, v.n), &b);
    else
        rc = ka_buf_append(&b, v.p, v.n);
    size_t n = rc ? 0 : (b.n < dstlen ? b.n : dstlen - 1);
    if (n)
        memcpy(dst, b.p, n);
    dst[n] = '\0';
    ka_buf_free(&b);
    return n;
}
