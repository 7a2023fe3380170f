/*
 * output.c - what every forwarding output shares: the output URL parser (with percent-decoding
 * of user, password, path and parameters), the idempotency key, and the registry that maps a
 * URL scheme to its output.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/json.h"
#include "kaudit/output.h"
#include "outputs_int.h"

/* Every output kaudit knows; an output is added by listing its ops here. */
static const struct ka_output_ops *const ka_out_registry[] = {
    &ka_output_clickhouse, &ka_output_elasticsearch, &ka_output_loki,
    &ka_output_splunk,     &ka_output_syslog,        &ka_output_kafka,
};

const struct ka_output_ops *ka_output_find(const char *scheme)
{
    if (!scheme) return NULL;
    for (size_t i = 0; i < sizeof ka_out_registry / sizeof ka_out_registry[0]; i++) {
        const struct ka_output_ops *o = ka_out_registry[i];
        for (const char *const *s = o->schemes; s && *s; s++)
            if (strcmp(*s, scheme) == 0) return o;
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [p, p+n) percent-decoded into dst (cap bytes with the NUL). -1 when too long or bad. */
static int pct_copy(const char *p, size_t n, char *dst, size_t cap, int decode)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (decode && c == '%') {
            int a = i + 2 < n ? hexval(p[i + 1]) : -1;
            int b = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0)) return -1; /* bad escape, or %00 */
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

static int url_err(char *err, size_t errlen, const char *what)
{
    if (err && errlen) snprintf(err, errlen, "%s", what);
    return KA_EINVAL;
}

static int parse_params(const char *q, struct ka_out_url *u, char *err, size_t errlen)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n) {
            const char *eq = memchr(q, '=', n);
            size_t kn = eq ? (size_t)(eq - q) : n;
            if (u->n_params == KA_OUT_MAX_PARAMS) return url_err(err, errlen, "too many parameters");
            size_t i = u->n_params;
            if (kn == 0 || pct_copy(q, kn, u->key[i], sizeof u->key[i], 1))
                return url_err(err, errlen, "bad or too long parameter name");
            if (pct_copy(eq ? eq + 1 : q + n, eq ? n - kn - 1 : 0, u->val[i], sizeof u->val[i], 1))
                return url_err(err, errlen, "bad or too long parameter value");
            u->n_params++;
        }
        q += n + (amp ? 1 : 0);
    }
    return KA_OK;
}

static int parse_hostport(const char *p, size_t n, struct ka_out_url *u, char *err, size_t errlen)
{
    const char *colon = NULL;
    if (memchr(p, ',', n)) { /* broker lists: kept whole */
        if (pct_copy(p, n, u->host, sizeof u->host, 0)) return url_err(err, errlen, "host too long");
        return KA_OK;
    }
    if (n && p[0] == '[') {
        const char *rb = memchr(p, ']', n);
        if (!rb) return url_err(err, errlen, "unterminated IPv6 address");
        if (pct_copy(p + 1, (size_t)(rb - p - 1), u->host, sizeof u->host, 0))
            return url_err(err, errlen, "host too long");
        if (rb + 1 < p + n) {
            if (rb[1] != ':') return url_err(err, errlen, "junk after IPv6 address");
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', n);
        if (pct_copy(p, colon ? (size_t)(colon - p) : n, u->host, sizeof u->host, 0))
            return url_err(err, errlen, "host too long");
    }
    if (colon) {
        const char *s = colon + 1, *e = p + n;
        long v = 0;
        if (s == e) return url_err(err, errlen, "empty port");
        for (; s < e; s++) {
            if (!isdigit((unsigned char)*s) || (v = v * 10 + (*s - '0')) > 65535)
                return url_err(err, errlen, "bad port");
        }
        if (v == 0) return url_err(err, errlen, "bad port");
        u->port = (int)v;
    }
    if (!u->host[0]) return url_err(err, errlen, "missing host");
    return KA_OK;
}

static int parse_userinfo(const char *p, size_t n, struct ka_out_url *u, char *err, size_t errlen)
{
    const char *colon = memchr(p, ':', n);
    size_t un = colon ? (size_t)(colon - p) : n;
    if (pct_copy(p, un, u->user, sizeof u->user, 1)) return url_err(err, errlen, "bad user");
    if (colon && pct_copy(colon + 1, n - un - 1, u->password, sizeof u->password, 1))
        return url_err(err, errlen, "bad password");
    return KA_OK;
}

int ka_out_url_parse(const char *url, struct ka_out_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep || sep == url || (size_t)(sep - url) >= sizeof u->scheme)
        return url_err(err, errlen, "expected scheme://host");
    for (const char *s = url; s < sep; s++) {
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-' && *s != '.')
            return url_err(err, errlen, "bad scheme");
        u->scheme[s - url] = (char)tolower((unsigned char)*s);
    }
    const char *a = sep + 3;
    size_t an = strcspn(a, "/?#");
    if (a[an] == '#') return url_err(err, errlen, "fragments are not allowed");
    const char *at = NULL;
    for (const char *s = a; s < a + an; s++)
        if (*s == '@') at = s;
    int rc = KA_OK;
    if (at) rc = parse_userinfo(a, (size_t)(at - a), u, err, errlen);
    const char *hp = at ? at + 1 : a;
    if (!rc) rc = parse_hostport(hp, (size_t)(a + an - hp), u, err, errlen);
    if (rc) return rc;
    const char *rest = a + an;
    size_t pn = strcspn(rest, "?#");
    if (rest[pn] == '#') return url_err(err, errlen, "fragments are not allowed");
    if (pct_copy(rest, pn, u->path, sizeof u->path, 1)) return url_err(err, errlen, "bad path");
    if (rest[pn] == '?') return parse_params(rest + pn + 1, u, err, errlen);
    return KA_OK;
}

const char *ka_out_url_param(const struct ka_out_url *u, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < u->n_params; i++) /* the last one wins, like repeated options */
        if (strcmp(u->key[i], key) == 0) v = u->val[i];
    return v;
}

size_t ka_out_key(const struct ka_event *ev, char *dst, size_t dstlen)
{
    if (!dstlen) return 0;
    char tmp[512] = "";
    size_t n = 0;
    if (ev->auditID.n < sizeof tmp) n = ka_str_decode(ev->auditID, tmp);
    const char *st = ka_stage_name(ev->stage_v);
    int w = snprintf(dst, dstlen, "%.*s-%s", (int)n, tmp, st ? st : "");
    if (w < 0) return 0;
    return (size_t)w < dstlen ? (size_t)w : dstlen - 1;
}

void ka_out_items_set(struct ka_out_item *items, size_t n, enum ka_out_result result,
                      const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].result == KA_OUT_PERMANENT) continue;
        items[i].result = result;
        snprintf(items[i].reason, sizeof items[i].reason, "%s", reason ? reason : "");
    }
}

int ka_out_bool(const char *v, int dflt)
{
    if (!v) return dflt;
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) return 1;
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) return 0;
    return -1;
}

int ka_out_uint(const char *v, unsigned long long max, unsigned long long *out)
{
    if (!v || !isdigit((unsigned char)v[0])) return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max) return -1;
    *out = x;
    return 0;
}
