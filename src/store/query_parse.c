/*
 * query_parse.c - building a struct ka_query from command-line values: lists, resource
 * patterns, status codes, CIDR prefixes, times and durations, stage modes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/query.h"

void ka_query_init(struct ka_query *q)
{
    memset(q, 0, sizeof *q);
}

void ka_qstrs_free(struct ka_qstrs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void ka_query_resource_free(struct ka_qresource *r)
{
    free(r->resource);
    free(r->group);
    free(r->subresource);
    memset(r, 0, sizeof *r);
}

void ka_query_free(struct ka_query *q)
{
    struct ka_qstrs *lists[] = {&q->users,      &q->as_users,    &q->groups,
                                &q->verbs,      &q->namespaces,  &q->names,
                                &q->user_agents, &q->clusters,   &q->greps};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        ka_qstrs_free(lists[i]);
    for (size_t i = 0; i < q->n_resources; i++)
        ka_query_resource_free(&q->resources[i]);
    free(q->resources);
    free(q->codes);
    free(q->cidrs);
    memset(q, 0, sizeof *q);
}

/* Splits val at commas (or not) and checks every item; n_out items in a NULL-ended array. */
static int split_items(const char *val, bool commas, const char *flag, char ***out, size_t *n_out,
                       struct ka_diag *d)
{
    size_t cap = 1, n = 0;
    for (const char *c = val; commas && *c; c++)
        cap += *c == ',';
    if (cap > KA_QUERY_MAX_ITEMS) {
        ka_diag_add(d, KA_SEV_ERROR, "%s: more than %u items", flag, KA_QUERY_MAX_ITEMS);
        return KA_ETOOBIG;
    }
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return KA_ENOMEM;
    const char *p = val;
    for (;;) {
        const char *e = commas ? strchr(p, ',') : NULL;
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int err = 0;
        if (len == 0) {
            ka_diag_add(d, KA_SEV_ERROR, "%s: empty value in \"%s\"", flag, val);
            err = KA_EINVAL;
        } else if (len > KA_QUERY_MAX_ITEM) {
            ka_diag_add(d, KA_SEV_ERROR, "%s: value longer than %u bytes", flag,
                        KA_QUERY_MAX_ITEM);
            err = KA_ETOOBIG;
        } else if (!(v[n] = strndup(p, len))) {
            err = KA_ENOMEM;
        }
        if (err) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            return err;
        }
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    *out = v;
    *n_out = n;
    return KA_OK;
}

static int add_strs(struct ka_qstrs *s, const char *val, bool commas, const char *flag,
                    struct ka_diag *d)
{
    char **items;
    size_t n;
    int rc = split_items(val, commas, flag, &items, &n, d);
    if (rc)
        return rc;
    if (s->n + n > KA_QUERY_MAX_ITEMS) {
        ka_diag_add(d, KA_SEV_ERROR, "%s: more than %u items", flag, KA_QUERY_MAX_ITEMS);
        rc = KA_ETOOBIG;
    } else {
        char **nv = realloc(s->v, (s->n + n) * sizeof *nv);
        if (!nv) {
            rc = KA_ENOMEM;
        } else {
            s->v = nv;
            memcpy(s->v + s->n, items, n * sizeof *items);
            s->n += n;
            free(items);
            return KA_OK;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return rc;
}

int ka_query_add_users(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->users, val, true, "--user", d);
}
int ka_query_add_as(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->as_users, val, true, "--as", d);
}
int ka_query_add_groups(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->groups, val, true, "--group", d);
}
int ka_query_add_namespaces(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->namespaces, val, true, "--namespace", d);
}
int ka_query_add_names(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->names, val, true, "--name", d);
}
int ka_query_add_user_agents(struct ka_query *q, const char *val, struct ka_diag *d)
{
    /* User agents contain commas ("Mozilla/5.0 (X11; ...)"): one value per flag. */
    return add_strs(&q->user_agents, val, false, "--user-agent", d);
}
int ka_query_add_clusters(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->clusters, val, true, "--cluster", d);
}
int ka_query_add_grep(struct ka_query *q, const char *val, struct ka_diag *d)
{
    return add_strs(&q->greps, val, false, "--grep", d);
}

int ka_query_add_verbs(struct ka_query *q, const char *val, struct ka_diag *d)
{
    for (const char *c = val; *c; c++) {
        if (*c == '*' || *c == '?') {
            ka_diag_add(d, KA_SEV_ERROR, "--verb: \"%s\": verbs are exact names (get, list, "
                                         "watch, create, update, patch, delete, ...)", val);
            return KA_EINVAL;
        }
    }
    return add_strs(&q->verbs, val, true, "--verb", d);
}

static bool is_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '*' || c == '/' || c == '?' || c == ',')
            return false;
    }
    return true;
}

/* RES[.GROUP][/SUB] with RES a name or "*", SUB a name or "*". */
int ka_query_parse_resource(const char *val, struct ka_qresource *out)
{
    struct ka_qresource r = {0};
    const char *slash = strchr(val, '/');
    size_t mlen = slash ? (size_t)(slash - val) : strlen(val);
    const char *dot = memchr(val, '.', mlen);
    size_t rlen = dot ? (size_t)(dot - val) : mlen;
    bool star = rlen == 1 && val[0] == '*';
    if (!star && !is_name(val, rlen))
        return KA_EINVAL;
    if (slash) {
        const char *sub = slash + 1;
        if (strcmp(sub, "*") == 0)
            r.sub = star ? KA_QSUB_ANY : KA_QSUB_ANY_OR_NONE;
        else if (is_name(sub, strlen(sub)))
            r.sub = KA_QSUB_EXACT;
        else
            return KA_EINVAL;
        if (r.sub == KA_QSUB_EXACT && !(r.subresource = strdup(sub)))
            return KA_ENOMEM;
    } else {
        r.sub = star ? KA_QSUB_ANY_OR_NONE : KA_QSUB_NONE;
    }
    if (dot) {
        const char *g = dot + 1;
        size_t glen = mlen - rlen - 1;
        if (glen == 4 && memcmp(g, "core", 4) == 0)
            glen = 0;
        if ((glen && !is_name(g, glen)) || !(r.group = strndup(g, glen))) {
            ka_query_resource_free(&r);
            return glen && !is_name(g, glen) ? KA_EINVAL : KA_ENOMEM;
        }
    }
    if (!(r.resource = strndup(val, rlen))) {
        ka_query_resource_free(&r);
        return KA_ENOMEM;
    }
    *out = r;
    return KA_OK;
}

int ka_query_add_resources(struct ka_query *q, const char *val, struct ka_diag *d)
{
    char **items;
    size_t n;
    int rc = split_items(val, true, "--resource", &items, &n, d);
    if (rc)
        return rc;
    struct ka_qresource *nv = NULL;
    if (q->n_resources + n > KA_QUERY_MAX_ITEMS) {
        ka_diag_add(d, KA_SEV_ERROR, "--resource: more than %u items", KA_QUERY_MAX_ITEMS);
        rc = KA_ETOOBIG;
    } else if (!(nv = realloc(q->resources, (q->n_resources + n) * sizeof *nv))) {
        rc = KA_ENOMEM;
    } else {
        q->resources = nv;
    }
    size_t done = 0;
    for (; rc == 0 && done < n; done++) {
        rc = ka_query_parse_resource(items[done], &nv[q->n_resources + done]);
        if (rc == KA_EINVAL)
            ka_diag_add(d, KA_SEV_ERROR,
                        "--resource: \"%s\": expected RESOURCE[.GROUP][/SUBRESOURCE] "
                        "(pods, deployments.apps, pods/exec, pods/*, */status)",
                        items[done]);
    }
    if (rc) {
        for (size_t i = 0; nv && i + 1 < done; i++)
            ka_query_resource_free(&nv[q->n_resources + i]);
    } else {
        q->n_resources += n;
    }
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return rc;
}

/* "403", "4xx", "!2xx", "!404". */
int ka_query_parse_code(const char *val, struct ka_qcode *out)
{
    struct ka_qcode c = {0};
    if (*val == '!') {
        c.neg = true;
        val++;
    }
    size_t n = strlen(val);
    if (n == 3 && val[0] >= '1' && val[0] <= '9' && (val[1] == 'x' || val[1] == 'X') &&
        (val[2] == 'x' || val[2] == 'X')) {
        c.lo = (val[0] - '0') * 100;
        c.hi = c.lo + 99;
    } else if (n >= 1 && n <= 3 && strspn(val, "0123456789") == n) {
        c.lo = c.hi = atoi(val);
    } else {
        return KA_EINVAL;
    }
    *out = c;
    return KA_OK;
}

int ka_query_add_codes(struct ka_query *q, const char *val, struct ka_diag *d)
{
    char **items;
    size_t n;
    int rc = split_items(val, true, "--code", &items, &n, d);
    if (rc)
        return rc;
    struct ka_qcode *nv = NULL;
    if (q->n_codes + n > KA_QUERY_MAX_ITEMS) {
        ka_diag_add(d, KA_SEV_ERROR, "--code: more than %u items", KA_QUERY_MAX_ITEMS);
        rc = KA_ETOOBIG;
    } else if (!(nv = realloc(q->codes, (q->n_codes + n) * sizeof *nv))) {
        rc = KA_ENOMEM;
    } else {
        q->codes = nv;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ka_query_parse_code(items[i], &nv[q->n_codes + i])) {
            ka_diag_add(d, KA_SEV_ERROR,
                        "--code: \"%s\": expected a status code (403), a class (4xx) or either "
                        "negated (!2xx)", items[i]);
            rc = KA_EINVAL;
        }
    }
    if (rc == 0)
        q->n_codes += n;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return rc;
}

int ka_query_set_decision(struct ka_query *q, const char *val, struct ka_diag *d)
{
    if (strcmp(val, "allow") == 0) {
        q->decision = KA_QDEC_ALLOW;
    } else if (strcmp(val, "forbid") == 0) {
        q->decision = KA_QDEC_FORBID;
    } else {
        ka_diag_add(d, KA_SEV_ERROR, "--decision: \"%s\": expected allow or forbid", val);
        return KA_EINVAL;
    }
    return KA_OK;
}

int ka_query_parse_cidr(const char *val, struct ka_qcidr *out)
{
    char tmp[64];
    const char *slash = strchr(val, '/');
    size_t alen = slash ? (size_t)(slash - val) : strlen(val);
    if (alen == 0 || alen >= sizeof tmp)
        return KA_EINVAL;
    memcpy(tmp, val, alen);
    tmp[alen] = 0;
    struct ka_qcidr c = {0};
    if (inet_pton(AF_INET, tmp, c.addr) == 1) {
        c.family = 4;
        c.bits = 32;
    } else if (inet_pton(AF_INET6, tmp, c.addr) == 1) {
        c.family = 6;
        c.bits = 128;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(c.addr, mapped, 12) == 0) {
            memmove(c.addr, c.addr + 12, 4);
            memset(c.addr + 4, 0, 12);
            c.family = 4;
            c.bits = 32;
        }
    } else {
        return KA_EINVAL;
    }
    if (slash) {
        const char *b = slash + 1;
        size_t bl = strlen(b);
        if (bl == 0 || bl > 3 || strspn(b, "0123456789") != bl)
            return KA_EINVAL;
        int bits = atoi(b);
        if (bits > c.bits)
            return KA_EINVAL;
        c.bits = (uint8_t)bits;
    }
    *out = c;
    return KA_OK;
}

int ka_query_add_source_ips(struct ka_query *q, const char *val, struct ka_diag *d)
{
    char **items;
    size_t n;
    int rc = split_items(val, true, "--source-ip", &items, &n, d);
    if (rc)
        return rc;
    struct ka_qcidr *nv = NULL;
    if (q->n_cidrs + n > KA_QUERY_MAX_ITEMS) {
        ka_diag_add(d, KA_SEV_ERROR, "--source-ip: more than %u items", KA_QUERY_MAX_ITEMS);
        rc = KA_ETOOBIG;
    } else if (!(nv = realloc(q->cidrs, (q->n_cidrs + n) * sizeof *nv))) {
        rc = KA_ENOMEM;
    } else {
        q->cidrs = nv;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ka_query_parse_cidr(items[i], &nv[q->n_cidrs + i])) {
            ka_diag_add(d, KA_SEV_ERROR,
                        "--source-ip: \"%s\": expected an IPv4 or IPv6 address or CIDR "
                        "(10.0.0.0/8, fd00::/8)", items[i]);
            rc = KA_EINVAL;
        }
    }
    if (rc == 0)
        q->n_cidrs += n;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return rc;
}

int ka_query_set_stage(struct ka_query *q, const char *val, struct ka_diag *d)
{
    if (strcmp(val, "requests") == 0) {
        q->stage_mode = KA_QSTAGE_REQUESTS;
    } else if (strcmp(val, "any") == 0) {
        q->stage_mode = KA_QSTAGE_ANY;
    } else {
        int s = ka_stage_from_cstr(val, strlen(val));
        if (s < 0) {
            ka_diag_add(d, KA_SEV_ERROR,
                        "--stage: \"%s\": expected requests, any, RequestReceived, "
                        "ResponseStarted, ResponseComplete or Panic", val);
            return KA_EINVAL;
        }
        q->stage_mode = KA_QSTAGE_ONE;
        q->stage = (enum ka_stage)s;
    }
    return KA_OK;
}

/* "90s", "30m", "2h", "7d", "1w", "1h30m", "500ms" (rounded down to seconds). */
int ka_query_parse_duration(const char *val, int64_t *sec_out)
{
    const char *p = val;
    int64_t ms = 0;
    if (!*p)
        return KA_EINVAL;
    while (*p) {
        if (*p < '0' || *p > '9')
            return KA_EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v > 1000000000ull)
            return KA_EINVAL;
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1;
            end += 2;
        } else {
            switch (*end) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w': unit = 604800000; break;
            default: return KA_EINVAL;
            }
            end++;
        }
        ms += (int64_t)v * unit;
        if (ms > (int64_t)1 << 55)
            return KA_EINVAL;
        p = end;
    }
    *sec_out = ms / 1000;
    return KA_OK;
}

int ka_query_parse_time(const char *val, int64_t now_sec, struct ka_time *out)
{
    int64_t dur;
    if (ka_query_parse_duration(val, &dur) == 0) {
        out->set = true;
        out->sec = now_sec - dur;
        out->nsec = 0;
        return KA_OK;
    }
    int64_t sec;
    int32_t nsec;
    if (ka_time_parse(val, strlen(val), &sec, &nsec))
        return KA_EINVAL;
    out->set = true;
    out->sec = sec;
    out->nsec = nsec;
    return KA_OK;
}

static int set_time(struct ka_time *t, bool *has, const char *flag, const char *val,
                    int64_t now_sec, struct ka_diag *d)
{
    if (ka_query_parse_time(val, now_sec, t)) {
        ka_diag_add(d, KA_SEV_ERROR,
                    "%s: \"%s\": expected a duration before now (30m, 2h, 7d, 1h30m) or an "
                    "RFC 3339 time (2025-03-10T09:00:00Z)", flag, val);
        return KA_EINVAL;
    }
    *has = true;
    return KA_OK;
}

int ka_query_set_since(struct ka_query *q, const char *val, int64_t now_sec, struct ka_diag *d)
{
    return set_time(&q->since, &q->has_since, "--since", val, now_sec, d);
}

int ka_query_set_until(struct ka_query *q, const char *val, int64_t now_sec, struct ka_diag *d)
{
    return set_time(&q->until, &q->has_until, "--until", val, now_sec, d);
}

int ka_query_set_limit(struct ka_query *q, const char *val, struct ka_diag *d)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end || val[0] == '-' || v == 0) {
        ka_diag_add(d, KA_SEV_ERROR, "--limit: \"%s\": expected a positive number", val);
        return KA_EINVAL;
    }
    q->limit = v;
    return KA_OK;
}
