/*
 * test_jansson_diff.c - differential test of the scanner against jansson.
 *
 * For every input, ka_json_validate must accept exactly what jansson accepts (json_loadb with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL, duplicates allowed: jansson keeps the last, as Go does).
 * For every input jansson loads, ka_event_scan must agree with a reference model of Go's event
 * decoding written over jansson's DOM (types, null = absent, kind/apiVersion), and every field
 * it extracts must equal the one the model extracts: strings decoded, code, timestamps parsed
 * by an independent regex + timegm parser, raw spans re-parsed by jansson and compared with
 * json_equal. ka_doc_scan's item count is compared with jansson's too.
 *
 * Known jansson limits, counted apart and required to be valid JSON for the scanner: lone
 * surrogate escapes (jansson rejects them; RFC 8259 allows them), numbers jansson cannot
 * represent (e.g. 1e400), NUL in object keys, and jansson's depth limit of 2048 values
 * (the scanner runs with max_depth 2048 containers here).
 *
 * Not modelled: a duplicate member whose earlier value has the wrong type (Go, and the scanner,
 * reject it; jansson only sees the last value). test_event_scan covers it.
 *
 * Inputs: (a) every file under ../shared/data/real (real audit logs from public projects; see
 * ../shared/data/real/SOURCES.md), as one document and line by line; (b) a few thousand lines
 * made by deterministic mutations of those lines; (c) hand-written edge cases.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/json.h"
#include "testutil.h"

#define DIFF_DEPTH 2048u
#define MAX_LINES 20000
#define N_MUTANTS 6000

struct stats {
    unsigned long inputs, valid, invalid, jansson_limit, events, not_events, fields, docs,
        mismatches;
};

static struct stats st;
static regex_t time_re;

static void report(const char *what, const char *p, size_t n, const char *detail)
{
    st.mismatches++;
    if (st.mismatches > 20)
        return;
    char show[161];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 150; i++) {
        unsigned char c = (unsigned char)p[i];
        k += (size_t)snprintf(show + k, sizeof show - k, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x",
                              c);
    }
    cr_log_error("mismatch (%s): %s: <%s>%s", what, detail, show, n > 150 ? "..." : "");
}

/* ---- reference model over jansson ---- */

static json_t *get(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

static int ref_time(json_t *v, int64_t *sec, int32_t *nsec)
{
    regmatch_t m[8];
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || regexec(&time_re, s, 8, m, 0) != 0)
        return -1;
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se);
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
    tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = se;
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d || back.tm_mon != mo - 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    long ns = 0;
    if (m[1].rm_so >= 0) {
        char frac[10] = "000000000";
        size_t fl = (size_t)(m[1].rm_eo - m[1].rm_so - 1);
        memcpy(frac, s + m[1].rm_so + 1, fl < 9 ? fl : 9);
        ns = strtol(frac, NULL, 10);
    }
    const char *z = s + m[2].rm_so;
    if (*z != 'Z') {
        int oh = (z[1] - '0') * 10 + (z[2] - '0'), om = (z[4] - '0') * 10 + (z[5] - '0');
        if (oh > 23 || om > 59)
            return -1;
        t -= (time_t)(*z == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    }
    *sec = (int64_t)t;
    *nsec = (int32_t)ns;
    return 0;
}

static int is_str_or_absent(json_t *v)
{
    return !v || json_is_string(v);
}

static int is_str_array(json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return 0;
    return 1;
}

static int is_map(json_t *v, int arrays)
{
    const char *k;
    json_t *e;
    if (!json_is_object(v))
        return 0;
    json_object_foreach(v, k, e) if (arrays ? !is_str_array(e) : !json_is_string(e)) return 0;
    return 1;
}

static int ref_user(json_t *u)
{
    json_t *g = get(u, "groups"), *x = get(u, "extra");
    return !u || (json_is_object(u) && is_str_or_absent(get(u, "username")) &&
                  is_str_or_absent(get(u, "uid")) && (!g || is_str_array(g)) &&
                  (!x || is_map(x, 1)));
}

static const char *const ref_fields[] = {"resource", "namespace", "name", "uid", "apiGroup",
                                         "apiVersion", "resourceVersion", "subresource"};

static int ref_status(json_t *s)
{
    json_t *c = get(s, "code"), *m = get(s, "metadata"), *d = get(s, "details");
    if (!s)
        return 1;
    if (!json_is_object(s) || (m && !json_is_object(m)) || (d && !json_is_object(d)))
        return 0;
    const char *strs[] = {"kind", "apiVersion", "status", "message", "reason"};
    for (int i = 0; i < 5; i++)
        if (!is_str_or_absent(get(s, strs[i])))
            return 0;
    return !c || (json_is_integer(c) && json_integer_value(c) >= INT32_MIN &&
                  json_integer_value(c) <= INT32_MAX);
}

static int ref_version(json_t *root)
{
    const char *av = json_string_value(get(root, "apiVersion"));
    if (!av || !*av)
        return KA_EVENT_V_NONE;
    if (!strcmp(av, "audit.k8s.io/v1") && strlen(av) == 15)
        return KA_EVENT_V1;
    if (!strcmp(av, "audit.k8s.io/v1beta1") && strlen(av) == 20)
        return KA_EVENT_V1BETA1;
    return -1;
}

/* Whether Go (per the rules in event.h) decodes root as an event. */
static int ref_is_event(json_t *root)
{
    int64_t s;
    int32_t ns;
    if (!json_is_object(root))
        return 0;
    const char *strs[] = {"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb",
                          "userAgent"};
    for (int i = 0; i < 8; i++)
        if (!is_str_or_absent(get(root, strs[i])))
            return 0;
    json_t *k = get(root, "kind"), *am = get(root, "authenticationMetadata");
    json_t *ips = get(root, "sourceIPs"), *ref = get(root, "objectRef"), *an = get(root, "annotations");
    if (k && json_string_length(k) && strcmp(json_string_value(k), "Event") != 0)
        return 0;
    if (k && json_string_length(k) != strlen(json_string_value(k)))
        return 0;
    if (ref_version(root) < 0 || !ref_user(get(root, "user")) ||
        !ref_user(get(root, "impersonatedUser")) || (am && !json_is_object(am)) ||
        (ips && !is_str_array(ips)) || !ref_status(get(root, "responseStatus")) ||
        (an && !is_map(an, 0)))
        return 0;
    if (ref && !json_is_object(ref))
        return 0;
    for (int i = 0; ref && i < 8; i++)
        if (!is_str_or_absent(get(ref, ref_fields[i])))
            return 0;
    const char *ts[] = {"requestReceivedTimestamp", "stageTimestamp"};
    for (int i = 0; i < 2; i++) {
        json_t *t = get(root, ts[i]);
        if (t && (!json_is_string(t) || ref_time(t, &s, &ns)))
            return 0;
    }
    if (ref_version(root) == KA_EVENT_V1BETA1) {
        json_t *m = get(root, "metadata"), *t = get(root, "timestamp");
        if ((m && !json_is_object(m)) || (t && (!json_is_string(t) || ref_time(t, &s, &ns))))
            return 0;
    }
    return 1;
}

/* ---- field comparison ---- */

struct cmp {
    const char *p;
    size_t n;
    int bad;
};

static void cmp_str(struct cmp *c, const char *name, struct ka_str s, json_t *v)
{
    st.fields++;
    if (!v) {
        if (s.set)
            report("event field", c->p, c->n, name), c->bad++;
        return;
    }
    char *out = malloc(s.n + 1);
    size_t n = s.set ? ka_str_decode(s, out) : 0;
    if (!s.set || n != json_string_length(v) || memcmp(out, json_string_value(v), n) != 0)
        report("event field", c->p, c->n, name), c->bad++;
    free(out);
}

static void cmp_raw(struct cmp *c, const char *name, struct ka_raw r, json_t *v)
{
    st.fields++;
    if (!v || !r.p) {
        if (!v != !r.p)
            report("event raw field", c->p, c->n, name), c->bad++;
        return;
    }
    json_error_t je;
    json_t *mine = json_loadb(r.p, r.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!mine || !json_equal(mine, v))
        report("event raw field", c->p, c->n, name), c->bad++;
    json_decref(mine);
}

static void cmp_user(struct cmp *c, const char *name, const struct ka_user *u, json_t *v)
{
    char path[64];
    st.fields++;
    if (u->present != (v != NULL))
        report("event field", c->p, c->n, name), c->bad++;
    snprintf(path, sizeof path, "%s.username", name);
    cmp_str(c, path, u->username, get(v, "username"));
    snprintf(path, sizeof path, "%s.uid", name);
    cmp_str(c, path, u->uid, get(v, "uid"));
    snprintf(path, sizeof path, "%s.groups", name);
    cmp_raw(c, path, u->groups, get(v, "groups"));
    snprintf(path, sizeof path, "%s.extra", name);
    cmp_raw(c, path, u->extra, get(v, "extra"));
}

static void cmp_time(struct cmp *c, const char *name, struct ka_time t, json_t *v)
{
    int64_t s = 0;
    int32_t ns = 0;
    st.fields++;
    if (t.set != (v != NULL) || (v && (ref_time(v, &s, &ns) || s != t.sec || ns != t.nsec)))
        report("event time", c->p, c->n, name), c->bad++;
}

static void cmp_event(struct cmp *c, const struct ka_event *ev, json_t *root)
{
    json_t *ref = get(root, "objectRef"), *rs = get(root, "responseStatus");
    const struct ka_str *refs[] = {&ev->objectRef.resource, &ev->objectRef.namespace_,
                                   &ev->objectRef.name, &ev->objectRef.uid,
                                   &ev->objectRef.apiGroup, &ev->objectRef.apiVersion,
                                   &ev->objectRef.resourceVersion, &ev->objectRef.subresource};
    cmp_raw(c, "raw", ev->raw, root);
    cmp_str(c, "kind", ev->kind, get(root, "kind"));
    cmp_str(c, "apiVersion", ev->apiVersion, get(root, "apiVersion"));
    cmp_str(c, "level", ev->level, get(root, "level"));
    cmp_str(c, "auditID", ev->auditID, get(root, "auditID"));
    cmp_str(c, "stage", ev->stage, get(root, "stage"));
    cmp_str(c, "requestURI", ev->requestURI, get(root, "requestURI"));
    cmp_str(c, "verb", ev->verb, get(root, "verb"));
    cmp_str(c, "userAgent", ev->userAgent, get(root, "userAgent"));
    cmp_user(c, "user", &ev->user, get(root, "user"));
    cmp_user(c, "impersonatedUser", &ev->impersonatedUser, get(root, "impersonatedUser"));
    cmp_raw(c, "authenticationMetadata", ev->authenticationMetadata,
            get(root, "authenticationMetadata"));
    cmp_raw(c, "sourceIPs", ev->sourceIPs, get(root, "sourceIPs"));
    if (ev->objectRef.present != (ref != NULL))
        report("event field", c->p, c->n, "objectRef"), c->bad++;
    for (int i = 0; i < 8; i++)
        cmp_str(c, ref_fields[i], *refs[i], get(ref, ref_fields[i]));
    if (ev->responseStatus.present != (rs != NULL))
        report("event field", c->p, c->n, "responseStatus"), c->bad++;
    cmp_raw(c, "responseStatus.metadata", ev->responseStatus.metadata, get(rs, "metadata"));
    cmp_str(c, "responseStatus.status", ev->responseStatus.status, get(rs, "status"));
    cmp_str(c, "responseStatus.message", ev->responseStatus.message, get(rs, "message"));
    cmp_str(c, "responseStatus.reason", ev->responseStatus.reason, get(rs, "reason"));
    cmp_raw(c, "responseStatus.details", ev->responseStatus.details, get(rs, "details"));
    json_t *code = get(rs, "code");
    st.fields++;
    if (ev->responseStatus.has_code != (code != NULL) ||
        (code && json_integer_value(code) != ev->responseStatus.code))
        report("event field", c->p, c->n, "responseStatus.code"), c->bad++;
    cmp_raw(c, "requestObject", ev->requestObject, get(root, "requestObject"));
    cmp_raw(c, "responseObject", ev->responseObject, get(root, "responseObject"));
    cmp_time(c, "requestReceivedTimestamp", ev->requestReceivedTimestamp,
             get(root, "requestReceivedTimestamp"));
    cmp_time(c, "stageTimestamp", ev->stageTimestamp, get(root, "stageTimestamp"));
    cmp_raw(c, "annotations", ev->annotations, get(root, "annotations"));
    st.fields++;
    if ((int)ev->version != ref_version(root))
        report("event field", c->p, c->n, "version"), c->bad++;
    json_t *m = get(root, "metadata"), *t = get(root, "timestamp");
    if (ev->version != KA_EVENT_V1BETA1) {
        m = json_is_object(m) ? m : NULL;
        t = json_is_string(t) ? t : NULL;
    }
    cmp_raw(c, "v1beta1_metadata", ev->v1beta1_metadata, m);
    cmp_raw(c, "v1beta1_timestamp", ev->v1beta1_timestamp, t);
    const char *lv = json_string_value(get(root, "level")), *sv = json_string_value(get(root, "stage"));
    int want_l = lv ? ka_level_from_cstr(lv, json_string_length(get(root, "level"))) : -1;
    int want_s = sv ? ka_stage_from_cstr(sv, json_string_length(get(root, "stage"))) : -1;
    st.fields += 2;
    if ((int)ev->level_v != (want_l < 0 ? 0 : want_l) || (int)ev->stage_v != (want_s < 0 ? 4 : want_s))
        report("event field", c->p, c->n, "level_v/stage_v"), c->bad++;
}

/* ---- one input ---- */

static int jansson_limit(const json_error_t *je)
{
    enum json_error_code code = json_error_code(je);
    return code == json_error_numeric_overflow || code == json_error_stack_overflow ||
           strstr(je->text, "invalid Unicode") != NULL ||
           strstr(je->text, "NUL byte in object key") != NULL;
}

static int count_items(void *ud, const char *item, size_t n, size_t index)
{
    (void)item, (void)n, (void)index;
    (*(size_t *)ud)++;
    return 0;
}

static void check_doc(const char *p, size_t n, json_t *root)
{
    size_t items = 0;
    enum ka_doc_kind kind;
    struct ka_scan_err err;
    struct ka_scan_opts o = {.max_depth = DIFF_DEPTH};
    int rc = ka_doc_scan(p, n, &o, &kind, count_items, &items, &err);
    size_t want = 1;
    json_t *it = get(root, "items");
    if (json_is_array(root))
        want = json_array_size(root);
    else if (json_is_array(it))
        want = json_array_size(it);
    else if (json_is_object(root) && !it && json_is_string(get(root, "kind")) &&
             !strcmp(json_string_value(get(root, "kind")), "EventList"))
        want = 0;
    if (rc == KA_OK) {
        st.docs++;
        if (items != want)
            report("doc items", p, n, "item count");
    } else if (rc != KA_ENOTEVENT)
        report("doc", p, n, "valid JSON document rejected as malformed");
}

static void check_event(const char *p, size_t n, json_t *root)
{
    struct ka_event ev;
    struct ka_scan_err err;
    struct ka_scan_opts o = {.max_depth = DIFF_DEPTH};
    int rc = ka_event_scan(p, n, &o, &ev, &err);
    int want = ref_is_event(root);
    if (rc == KA_OK && want) {
        struct cmp c = {p, n, 0};
        st.events++;
        cmp_event(&c, &ev, root);
    } else if (rc == KA_ENOTEVENT && !want)
        st.not_events++;
    else
        report("event", p, n, want ? err.msg : "accepted a non-event");
}

/*
 * Input jansson refused for one of its limits. Lone surrogate and \u0000 escapes are replaced
 * by \u0041 (same length, so validity is unchanged) and jansson is asked again: now it must
 * agree with ka_json_validate. Number overflow and jansson's depth limit leave the input
 * unchecked, except that the scanner must not call jansson's depth-limited input malformed.
 */
static void check_limited(const char *p, size_t n, int rc, json_error_t *je)
{
    char *q = malloc(n ? n : 1);
    memcpy(q, p, n);
    for (size_t i = 0; i + 6 <= n; i++) {
        if (q[i] != '\\' || q[i + 1] != 'u')
            continue;
        int sur = (q[i + 2] == 'd' || q[i + 2] == 'D') && strchr("89abcdefABCDEF", q[i + 3]);
        if (sur || !memcmp(q + i + 2, "0000", 4))
            memcpy(q + i + 2, "0041", 4);
    }
    json_t *r = json_loadb(q, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, je);
    if (r && rc != KA_OK)
        report("validate", p, n, "rejected valid JSON that jansson cannot represent");
    else if (!r && !jansson_limit(je) && rc == KA_OK)
        report("validate", p, n, "accepted invalid JSON");
    else if (!r && json_error_code(je) == json_error_stack_overflow && rc == KA_ESYNTAX)
        report("validate", p, n, "nesting deeper than 2048 called malformed");
    json_decref(r);
    free(q);
}

static void check_input(const char *in, size_t n)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, in, n);
    st.inputs++;
    json_error_t je;
    struct ka_json_err err;
    json_t *root = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    int rc = ka_json_validate(p, n, DIFF_DEPTH, &err);
    if (!root && jansson_limit(&je)) {
        st.jansson_limit++;
        check_limited(p, n, rc, &je);
    } else if (!root) {
        st.invalid++;
        struct ka_event ev;
        struct ka_scan_err serr;
        int erc = ka_event_scan(p, n, NULL, &ev, &serr);
        int bom = n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3);
        if (rc == KA_OK)
            report("validate", p, n, "accepted invalid JSON");
        else if (!bom && (erc == KA_OK || erc == KA_ENOTEVENT))
            report("event", p, n, "event scan accepted invalid JSON");
    } else {
        st.valid++;
        if (rc != KA_OK)
            report("validate", p, n, err.msg);
        check_event(p, n, root);
        check_doc(p, n, root);
    }
    /* With a BOM, the event scanner must agree with jansson on the rest. */
    if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
        json_t *r2 = json_loadb(p + 3, n - 3, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (r2)
            check_event(p, n, r2);
        json_decref(r2);
    }
    json_decref(root);
    free(p);
}

/* ---- inputs ---- */

static char *g_lines[MAX_LINES];
static size_t g_lens[MAX_LINES], g_nlines;

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    if (type != FTW_F)
        return 0;
    size_t len;
    char *buf = ka_t_read_file(path, &len);
    if (!buf)
        return 0;
    check_input(buf, len);
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        if (le > p) {
            check_input(p, (size_t)(le - p));
            if (g_nlines < MAX_LINES && *p == '{' && le - p > 40) {
                g_lines[g_nlines] = malloc((size_t)(le - p));
                memcpy(g_lines[g_nlines], p, (size_t)(le - p));
                g_lens[g_nlines++] = (size_t)(le - p);
            }
        }
        p = le + 1;
    }
    free(buf);
    return 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const inserts[] = {
    "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\x80", "\xe2\x82", "\xc3\xa9",
    "\\x", "\\u12", "\\ud800", "\\udc00\\ud800", "\\u0000", "\\ud83d\\ude00", "\\'", "\x01",
    "\x1f", "\t", " ", "\r\n", ",", "]", "}", ":", "\"", "tru", "01", "-", "1.", ".5", "1e",
    "[", "{", "null", "nul", "\x7f", "\\u00e9", "\\\"", "\\\\",
};

static const char *const members[] = {
    "\"verb\":", "\"user\":", "\"code\":", "\"responseStatus\":", "\"objectRef\":",
    "\"annotations\":", "\"stageTimestamp\":", "\"kind\":", "\"apiVersion\":", "\"sourceIPs\":",
    "\"requestObject\":", "\"metadata\":", "\"timestamp\":", "\"level\":", "\"stage\":",
};

static const char *const values[] = {
    "null", "1", "\"s\"", "[]", "{}", "[\"a\"]", "{\"a\":[\"b\"]}", "200.0", "-7",
    "\"2024-01-01T00:00:00Z\"", "\"2024-02-30T00:00:00Z\"", "true", "{\"code\":5}",
    "\"audit.k8s.io/v1beta1\"", "\"EventList\"", "{\"username\":\"x\",\"groups\":[1]}",
    "\"Metadata\"", "\"\\u0045vent\"", "99999999999", "{\"name\":null}",
};

static int member_added;

/* One mutation of the line in b (length *n, capacity cap). */
static void mutate(char *b, size_t *n, size_t cap)
{
    size_t pos = *n ? (size_t)(rnd() % *n) : 0;
    char ins[64 * 1024];
    size_t il = 0;
    switch (rnd() % 10) {
    case 0: /* flip a byte */
        if (*n)
            b[pos] = (char)(rnd() & 0xff);
        return;
    case 1: /* delete bytes */
        if (*n) {
            size_t k = 1 + rnd() % 3;
            k = k > *n - pos ? *n - pos : k;
            memmove(b + pos, b + pos + k, *n - pos - k);
            *n -= k;
        }
        return;
    case 2: /* truncate */
        *n = pos;
        return;
    case 3: /* trailing garbage */
        il = (size_t)snprintf(ins, sizeof ins, "%s", inserts[rnd() % 38]);
        pos = *n;
        break;
    case 4: case 5: /* insert a troublesome byte sequence */
        il = (size_t)snprintf(ins, sizeof ins, "%s", inserts[rnd() % 38]);
        break;
    case 6: { /* deep nesting inside a new member */
        static const unsigned depths[] = {3, 100, 600, 2040, 2100, 3000};
        unsigned d = depths[rnd() % 6];
        il = (size_t)snprintf(ins, sizeof ins, "\"deep\":");
        memset(ins + il, rnd() & 1 ? '[' : '{', 1);
        if (ins[il] == '{') {
            for (unsigned i = 0; i < d && il + 8 < sizeof ins / 2; i++)
                il += (size_t)snprintf(ins + il, sizeof ins - il, "{\"a\":");
            il += (size_t)snprintf(ins + il, sizeof ins - il, "1");
            for (unsigned i = 0; i < d && il < sizeof ins - 2; i++)
                ins[il++] = '}';
        } else {
            for (unsigned i = 0; i < d; i++)
                ins[il++] = '[';
            for (unsigned i = 0; i < d; i++)
                ins[il++] = ']';
        }
        ins[il++] = ',';
        pos = 1;
        break;
    }
    default: { /* a known member with some value: first if new, else last (see the top) */
        const char *m = members[rnd() % 15], *v = values[rnd() % 20];
        if (member_added++)
            return;
        if (!memmem(b, *n, m, strlen(m))) {
            il = (size_t)snprintf(ins, sizeof ins, "%s%s,", m, v);
            pos = 1;
        } else {
            il = (size_t)snprintf(ins, sizeof ins, ",%s%s", m, v);
            pos = *n ? *n - 1 : 0;
        }
        break;
    }
    }
    if (*n + il > cap)
        return;
    pos = pos > *n ? *n : pos;
    memmove(b + pos + il, b + pos, *n - pos);
    memcpy(b + pos, ins, il);
    *n += il;
}

static void run_mutants(void)
{
    size_t cap = 1 << 20;
    char *b = malloc(cap);
    for (unsigned long i = 0; i < N_MUTANTS && g_nlines; i++) {
        size_t k = (size_t)(rnd() % g_nlines), n = g_lens[k];
        if (n > cap / 2)
            continue;
        memcpy(b, g_lines[k], n);
        unsigned muts = 1 + (unsigned)(rnd() % 3);
        member_added = 0;
        for (unsigned m = 0; m < muts; m++)
            mutate(b, &n, cap);
        check_input(b, n);
    }
    free(b);
}

static void setup(void)
{
    memset(&st, 0, sizeof st);
    cr_assert_eq(regcomp(&time_re,
                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
                         "(Z|[+-][0-9]{2}:[0-9]{2})$",
                         REG_EXTENDED),
                 0);
}

static void teardown(void)
{
    regfree(&time_re);
    for (size_t i = 0; i < g_nlines; i++)
        free(g_lines[i]);
    g_nlines = 0;
}

static void log_stats(const char *what)
{
    cr_log_info("%s: %lu inputs: %lu valid JSON, %lu invalid, %lu jansson limits; %lu events "
                "compared (%lu fields), %lu agreed non-events, %lu documents; %lu mismatches",
                what, st.inputs, st.valid, st.invalid, st.jansson_limit, st.events, st.fields,
                st.not_events, st.docs, st.mismatches);
}

TestSuite(jansson_diff, .init = setup, .fini = teardown, .timeout = 600);

Test(jansson_diff, real_files_and_mutants)
{
    const char *dir = ka_t_shared("data/real");
    if (!dir)
        return;
    cr_assert_eq(nftw(dir, visit, 16, FTW_PHYS), 0);
    log_stats("real files");
    cr_expect_gt(st.events, 1000);
    cr_expect_eq(st.mismatches, 0);
    unsigned long before = st.inputs;
    run_mutants();
    log_stats("real files + mutants");
    cr_expect_gt(st.inputs - before, N_MUTANTS / 2);
    cr_expect_gt(st.invalid, 1000);
    cr_assert_eq(st.mismatches, 0);
}

static const char *const edge_cases[] = {
    "{\"verb\":\"get\",\"verb\":\"delete\"}",
    "{\"user\":{\"username\":\"a\"},\"user\":{\"uid\":\"b\"}}",
    "{\"verb\":\"\\u0067et\",\"user\":{\"username\":\"\\ud83d\\ude00\\n\"}}",
    "{\"objectRef\":null,\"responseStatus\":{\"code\":200,\"metadata\":{}}}",
    "{\"responseStatus\":{\"code\":200.0}}",
    "{\"responseStatus\":{\"code\":2e2}}",
    "{\"responseStatus\":{\"code\":-2147483648}}",
    "{\"responseStatus\":{\"code\":2147483648}}",
    "{\"responseStatus\":{\"code\":12345678901234567890123}}",
    "{\"requestObject\":{\"x\":1e400}}",
    "{\"requestObject\":\"\\ud800\"}",
    "{\"requestObject\":{\"\\u0000\":1}}",
    "{\"requestObject\":\"\\u0000\"}",
    "{\"stageTimestamp\":\"2024-08-14T05:40:56.794659Z\"}",
    "{\"stageTimestamp\":\"2024-08-14T05:40:56.7946591234+01:00\"}",
    "{\"stageTimestamp\":\"2024-02-30T05:40:56Z\"}",
    "{\"requestReceivedTimestamp\":\"2024-08-14T05:40:56\"}",
    "\xef\xbb\xbf{\"verb\":\"get\"}",
    "{\"verb\":\"get\"}\r\n",
    " \t{ \"verb\" : \"get\" , \"level\" : \"Request\" } \r\n",
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1beta1\",\"metadata\":{},\"timestamp\":"
    "\"2017-09-11T19:55:05Z\"}",
    "{\"apiVersion\":\"audit.k8s.io/v1beta1\",\"metadata\":5}",
    "{\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":5,\"timestamp\":[]}",
    "{\"kind\":\"EventList\",\"items\":[{\"verb\":\"get\"},{\"verb\":1}]}",
    "{\"items\":[]}",
    "[{\"verb\":\"get\"},{}]",
    "{\"kind\":\"Event\\u0000\"}",
    "{\"annotations\":{\"a\":\"b\",\"a\":1}}",
    "{\"user\":{\"extra\":{\"k\":[\"v\"],\"j\":[]}}}",
    "{\"sourceIPs\":[\"1.2.3.4\",\"\\u003a:1\"]}",
    "{\"a\":[1,2,]}",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":tru}",
    "{\"a\":1} x",
    "{\"verb\":\"get\"",
    "[1,[2,[3,{\"a\":[]}]]]",
    "\"just a string\"",
    "-0.0e+00",
    "",
};

Test(jansson_diff, edge_cases)
{
    for (size_t i = 0; i < sizeof edge_cases / sizeof *edge_cases; i++)
        check_input(edge_cases[i], strlen(edge_cases[i]));
    log_stats("edge cases");
    cr_expect_gt(st.events, 12);
    cr_expect_gt(st.not_events, 5);
    cr_expect_gt(st.jansson_limit, 3);
    cr_assert_eq(st.mismatches, 0);
}
