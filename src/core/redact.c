/*
 * redact.c - the redactor's options, rules and per-event work: decides which built-in and
 * configured rules apply to an event, has redact_walk.c rewrite its request and response
 * objects, replaces bearer tokens and JWTs in its annotations, and writes the result through
 * the canonical encoder with the rewritten spans in place of the originals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "redact_int.h"

/* ---- paths and rules ---------------------------------------------------------------------- */

static int seg_push(struct ka__path *p, enum ka__seg_kind kind, const char *name, size_t n)
{
    if (p->n == KA_REDACT_MAX_SEGS)
        return KA_ETOOBIG;
    p->segs[p->n++] = (struct ka__seg){kind, name, n};
    return KA_OK;
}

/* Parses a name segment at s[*i] (escapes resolved into *w); stops at an unescaped '.' or '['. */
static size_t parse_name(const char *s, size_t *i, char **w)
{
    size_t n = 0;
    while (s[*i] && s[*i] != '.' && s[*i] != '[') {
        if (s[*i] == '\\' && s[*i + 1])
            (*i)++;
        *(*w)++ = s[(*i)++];
        n++;
    }
    return n;
}

int ka__rd_path_parse(const char *s, struct ka__path *p, char *msg, size_t msgn)
{
    size_t i = 0;
    int rc = KA_OK;
    char *w;
    memset(p, 0, sizeof *p);
    p->text = malloc(strlen(s) + 1);
    if (!p->text)
        return KA_ENOMEM;
    w = p->text;
    while (!rc) {
        if (s[i] == '[') {
            if (strncmp(s + i, "[*]", 3) != 0) {
                snprintf(msg, msgn, "only [*] may follow a segment (at byte %zu)", i);
                rc = KA_EINVAL;
                break;
            }
            rc = seg_push(p, KA__SEG_ANYIDX, NULL, 0);
            i += 3;
        } else if (s[i] == '*' && (s[i + 1] == '.' || s[i + 1] == '[' || !s[i + 1])) {
            rc = seg_push(p, KA__SEG_ANYKEY, NULL, 0);
            i++;
        } else {
            char *start = w;
            size_t n = parse_name(s, &i, &w);
            if (n == 0) {
                snprintf(msg, msgn, "empty segment (at byte %zu)", i);
                rc = KA_EINVAL;
                break;
            }
            rc = seg_push(p, KA__SEG_KEY, start, n);
        }
        if (rc || !s[i])
            break;
        if (s[i] == '.' && s[i + 1])
            i++;
        else if (s[i] != '[') {
            snprintf(msg, msgn, "expected '.' or '[*]' (at byte %zu)", i);
            rc = KA_EINVAL;
        }
    }
    if (rc == KA_ETOOBIG)
        snprintf(msg, msgn, "more than %d segments", KA_REDACT_MAX_SEGS);
    if (rc)
        ka__rd_path_free(p);
    return rc;
}

void ka__rd_path_free(struct ka__path *p)
{
    free(p->text);
    p->text = NULL;
    p->n = 0;
}

/* Splits "resource[.group][/sub]" into the rule. */
static int parse_resource(const char *s, struct ka__rule *ru)
{
    const char *slash = strchr(s, '/'), *dot;
    size_t rn = slash ? (size_t)(slash - s) : strlen(s);
    if (strcmp(s, "*") == 0) {
        ru->any = true;
        return KA_OK;
    }
    dot = memchr(s, '.', rn);
    if (rn == 0 || dot == s || (slash && !slash[1]) || (dot && (size_t)(dot - s) + 1 == rn))
        return KA_EINVAL;
    ru->resource = strndup(s, dot ? (size_t)(dot - s) : rn);
    ru->group = dot ? strndup(dot + 1, rn - (size_t)(dot - s) - 1) : strdup("");
    ru->sub = slash ? strdup(slash + 1) : NULL;
    if (!ru->resource || !ru->group || (slash && !ru->sub))
        return KA_ENOMEM;
    return KA_OK;
}

static void rule_free(struct ka__rule *ru)
{
    size_t i;
    for (i = 0; i < ru->n_paths; i++)
        ka__rd_path_free(&ru->paths[i]);
    free(ru->paths);
    free(ru->resource);
    free(ru->group);
    free(ru->sub);
}

static int rule_init(const struct ka_redact_rule *in, size_t idx, struct ka__rule *ru,
                     struct ka_diag *diag)
{
    char msg[96];
    size_t j;
    int rc = in->resource ? parse_resource(in->resource, ru) : KA_EINVAL;
    if (rc == KA_EINVAL && diag)
        ka_diag_add(diag, KA_SEV_ERROR, "redact rules[%zu].resource: expected RESOURCE[.GROUP]"
                    "[/SUBRESOURCE] or *", idx);
    if (rc)
        return rc;
    ru->paths = calloc(in->n_paths ? in->n_paths : 1, sizeof *ru->paths);
    if (!ru->paths)
        return KA_ENOMEM;
    for (j = 0; j < in->n_paths; j++) {
        rc = ka__rd_path_parse(in->paths[j], &ru->paths[j], msg, sizeof msg);
        if (rc == KA_ENOMEM)
            return rc;
        if (rc) {
            if (diag)
                ka_diag_add(diag, KA_SEV_ERROR, "redact rules[%zu].paths[%zu] \"%s\": %s", idx, j,
                            in->paths[j], msg);
            return KA_EINVAL;
        }
        ru->n_paths++;
    }
    return KA_OK;
}

static int builtins(struct ka_redact *r)
{
    char msg[96];
    int rc = ka__rd_path_parse("data.*", &r->p_data, msg, sizeof msg);
    if (!rc)
        rc = ka__rd_path_parse("stringData.*", &r->p_string_data, msg, sizeof msg);
    if (!rc)
        rc = ka__rd_path_parse("status.token", &r->p_token, msg, sizeof msg);
    if (!rc)
        rc = ka__rd_path_parse("*", &r->p_any, msg, sizeof msg);
    return rc;
}

int ka_redact_new(const struct ka_redact_opts *opts, struct ka_diag *diag, struct ka_redact **out)
{
    static const struct ka_redact_opts dflt = {0};
    struct ka_redact *r;
    size_t i, total = 0;
    int rc;
    if (!opts)
        opts = &dflt;
    if (opts->n_rules > KA_REDACT_MAX_RULES || (opts->n_rules && !opts->rules))
        return opts->n_rules > KA_REDACT_MAX_RULES ? KA_ETOOBIG : KA_EINVAL;
    for (i = 0; i < opts->n_rules; i++)
        total += opts->rules[i].n_paths;
    if (total > KA_REDACT_MAX_PATHS) {
        if (diag)
            ka_diag_add(diag, KA_SEV_ERROR, "redact rules: %zu paths, at most %d", total,
                        KA_REDACT_MAX_PATHS);
        return KA_ETOOBIG;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return KA_ENOMEM;
    r->disabled = opts->disabled;
    r->no_bearer = opts->no_bearer;
    r->rules = calloc(opts->n_rules ? opts->n_rules : 1, sizeof *r->rules);
    rc = r->rules ? builtins(r) : KA_ENOMEM;
    for (i = 0; !rc && i < opts->n_rules; i++) {
        rc = rule_init(&opts->rules[i], i, &r->rules[i], diag);
        r->n_rules = i + 1;
    }
    if (rc) {
        ka_redact_free(r);
        return rc;
    }
    *out = r;
    return KA_OK;
}

void ka_redact_free(struct ka_redact *r)
{
    size_t i;
    if (!r)
        return;
    for (i = 0; r->rules && i < r->n_rules; i++)
        rule_free(&r->rules[i]);
    free(r->rules);
    ka__rd_path_free(&r->p_data);
    ka__rd_path_free(&r->p_string_data);
    ka__rd_path_free(&r->p_token);
    ka__rd_path_free(&r->p_any);
    free(r);
}

/* ---- bearer tokens and JWTs --------------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_b64url(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '_';
}

/* RFC 6750 b64token characters. */
static bool is_b64tok(unsigned char c)
{
    return is_b64url(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

static bool bearer_at(const char *s, size_t n, size_t i, size_t *st, size_t *len)
{
    static const char b[] = "bearer";
    size_t j, k;
    if (n - i < 8 || (i && is_alnum((unsigned char)s[i - 1])))
        return false;
    for (j = 0; j < 6; j++)
        if ((s[i + j] | 0x20) != b[j])
            return false;
    if (s[i + 6] != ' ')
        return false;
    for (j = i + 6; j < n && s[j] == ' ';)
        j++;
    for (k = j; k < n && is_b64tok((unsigned char)s[k]);)
        k++;
    while (k < n && s[k] == '=')
        k++;
    *st = j;
    *len = k - j;
    return k > j;
}

static bool jwt_at(const char *s, size_t n, size_t i, size_t *st, size_t *len)
{
    size_t k, dots = 0, first = 0;
    if (n - i < 3 || memcmp(s + i, "eyJ", 3) != 0 || (i && is_b64url((unsigned char)s[i - 1])))
        return false;
    for (k = i; k < n && (is_b64url((unsigned char)s[k]) || s[k] == '.'); k++)
        if (s[k] == '.' && dots++ == 0)
            first = k - i;
    while (k > i && s[k - 1] == '.') {
        k--;
        dots--;
    }
    *st = i;
    *len = k - i;
    return dots >= 2 && first >= 4;
}

bool ka__rd_find_token(const char *s, size_t n, size_t from, size_t *st, size_t *len)
{
    size_t i;
    for (i = from; i < n; i++) {
        if ((s[i] == 'B' || s[i] == 'b') && bearer_at(s, n, i, st, len))
            return true;
        if (s[i] == 'e' && jwt_at(s, n, i, st, len))
            return true;
    }
    return false;
}

/* Rewrites one annotation value (raw JSON string) if it holds tokens. */
static int annotation_value(struct ka__rw *rw, struct ka_raw v, struct ka_buf *dec,
                            struct ka_buf *res)
{
    struct ka_str s = ka_str_from_raw(v.p, v.n);
    const char *p = s.p;
    size_t n = s.n, st, len, pos = 0, toff;
    char m[KA_REDACT_MARKER_LEN];
    if (s.esc) {
        ka_buf_reset(dec);
        KA__RD_TRY(ka_str_decode_buf(s, dec));
        p = dec->p;
        n = dec->n;
    }
    if (!ka__rd_find_token(p, n, 0, &st, &len))
        return KA_OK;
    ka_buf_reset(res);
    do {
        ka_redact_marker(p + st, len, m);
        KA__RD_TRY(ka_buf_append(res, p + pos, st - pos));
        KA__RD_TRY(ka_buf_append(res, m, sizeof m));
        pos = st + len;
    } while (ka__rd_find_token(p, n, pos, &st, &len));
    KA__RD_TRY(ka_buf_append(res, p + pos, n - pos));
    toff = rw->texts->n;
    KA__RD_TRY(ka_jw_str(rw->texts, res->p, res->n));
    return ka__rd_rep_push(rw, v.p, v.n, toff, rw->texts->n - toff);
}

/* ---- events ------------------------------------------------------------------------------- */

/* Scratch space for one event; nothing is allocated unless something is redacted. */
struct work {
    struct ka_buf texts, req, resp, ann, dec, res;
};

static bool str_is(struct ka_str s, const char *lit)
{
    return ka_str_eq(s, lit, strlen(lit));
}

static bool rule_matches(const struct ka__rule *ru, const struct ka_objref *o)
{
    if (ru->any)
        return true;
    return o->present && str_is(o->resource, ru->resource) &&
           (str_is(o->apiGroup, ru->group) || (!o->apiGroup.set && !ru->group[0])) &&
           (!ru->sub || str_is(o->subresource, ru->sub));
}

/* What applies to the event as a whole. */
struct evctx {
    bool secrets, token, patch;
    struct ka__pset ps; /* configured paths of the event's resource */
};

static int evctx_init(const struct ka_redact *r, const struct ka_event *ev, struct evctx *c)
{
    const struct ka_objref *o = &ev->objectRef;
    bool core = o->present && (!o->apiGroup.set || o->apiGroup.n == 0);
    size_t i, j;
    memset(c, 0, sizeof *c);
    c->secrets = core && str_is(o->resource, "secrets");
    c->token = core && str_is(o->resource, "serviceaccounts") && str_is(o->subresource, "token");
    c->patch = str_is(ev->verb, "patch");
    for (i = 0; i < r->n_rules; i++) {
        if (!rule_matches(&r->rules[i], o))
            continue;
        for (j = 0; j < r->rules[i].n_paths; j++) {
            if (c->ps.n == KA__RD_MAX_ACTIVE)
                return KA_ETOOBIG;
            c->ps.p[c->ps.n] = &r->rules[i].paths[j];
            c->ps.i[c->ps.n++] = 0;
        }
    }
    return KA_OK;
}

static bool has(struct ka_raw v, const char *lit)
{
    return memmem(v.p, v.n, lit, strlen(lit)) != NULL;
}

/* Rewrites a request or response object into buf; *obj then points there. */
static int object(const struct ka_redact *r, const struct evctx *c, bool request,
                  struct ka_raw *obj, struct ka_buf *texts, struct ka_buf *buf, bool *changed)
{
    struct ka__rw rw;
    bool discover = obj->p && (has(*obj, "Secret") || has(*obj, "TokenRequest"));
    unsigned flags = (c->secrets ? KA__F_SECRET | KA__F_ITEMS_SECRET : 0u) |
                     (c->token ? KA__F_TOKEN : 0u);
    int rc;
    if (!obj->p || !(discover || flags || c->ps.n))
        return KA_OK;
    memset(&rw, 0, sizeof rw);
    rw.r = r;
    rw.base = obj->p;
    rw.texts = texts;
    rw.discover = discover;
    if (c->secrets && c->patch && request && ka_json_type_of(obj->p, obj->n) == KA_JSON_ARRAY)
        ka__rd_walk_jsonpatch(&rw, *obj);
    else
        ka__rd_walk_doc(&rw, *obj, &c->ps, flags);
    rc = rw.err;
    if (!rc && rw.n) {
        rc = ka__rd_emit(&rw, obj->n, buf);
        if (!rc && buf->n > UINT32_MAX)
            rc = KA_ETOOBIG;
        if (!rc) {
            *obj = (struct ka_raw){buf->p, (uint32_t)buf->n};
            *changed = true;
        }
    }
    free(rw.v);
    return rc;
}

static int annotations(const struct ka_redact *r, struct work *w, struct ka_raw *ann,
                       bool *changed)
{
    struct ka__rw rw;
    struct ka_json_iter it;
    struct ka_str k;
    struct ka_raw v;
    int rc = KA_OK;
    if (r->no_bearer || ka_json_type_of(ann->p, ann->n) != KA_JSON_OBJECT)
        return KA_OK;
    memset(&rw, 0, sizeof rw);
    rw.r = r;
    rw.base = ann->p;
    rw.texts = &w->texts;
    ka_json_iter_init(&it, *ann);
    while (!rc && ka_json_iter_member(&it, &k, &v))
        if (ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            rc = annotation_value(&rw, v, &w->dec, &w->res);
    if (!rc && rw.n) {
        rc = ka__rd_emit(&rw, ann->n, &w->ann);
        if (!rc && w->ann.n > UINT32_MAX)
            rc = KA_ETOOBIG;
        if (!rc) {
            *ann = (struct ka_raw){w->ann.p, (uint32_t)w->ann.n};
            *changed = true;
        }
    }
    free(rw.v);
    return rc;
}

static void work_init(struct work *w, size_t max)
{
    ka_buf_init(&w->texts, max);
    ka_buf_init(&w->req, max);
    ka_buf_init(&w->resp, max);
    ka_buf_init(&w->ann, max);
    ka_buf_init(&w->dec, max);
    ka_buf_init(&w->res, max);
}

static void work_free(struct work *w)
{
    ka_buf_free(&w->texts);
    ka_buf_free(&w->req);
    ka_buf_free(&w->resp);
    ka_buf_free(&w->ann);
    ka_buf_free(&w->dec);
    ka_buf_free(&w->res);
}

/*
 * The redacted copy of ev: the same index with requestObject, responseObject and annotations
 * pointing at rewritten text. ka_event_write() reads only the indexed members, never ev->raw.
 */
static int redact_into(const struct ka_redact *r, const struct ka_event *ev,
                       const struct ka_write_opts *wo, struct work *w, struct ka_event *ev2,
                       bool *changed)
{
    struct evctx c;
    bool keep_req = !wo || !wo->drop_request_object, keep_resp = !wo || !wo->drop_response_object;
    *ev2 = *ev;
    *changed = false;
    KA__RD_TRY(evctx_init(r, ev, &c));
    if (keep_req)
        KA__RD_TRY(object(r, &c, true, &ev2->requestObject, &w->texts, &w->req, changed));
    if (keep_resp)
        KA__RD_TRY(object(r, &c, false, &ev2->responseObject, &w->texts, &w->resp, changed));
    return annotations(r, w, &ev2->annotations, changed);
}

int ka_redact_write(const struct ka_redact *r, const struct ka_event *ev,
                    const struct ka_write_opts *wo, struct ka_buf *out, bool *changed)
{
    struct work w;
    struct ka_event ev2;
    bool ch = false;
    int rc;
    if (r->disabled) {
        rc = ka_event_write(ev, wo, out);
        if (!rc)
            *changed = false;
        return rc;
    }
    work_init(&w, out->max);
    rc = redact_into(r, ev, wo, &w, &ev2, &ch);
    if (!rc)
        rc = ka_event_write(ch ? &ev2 : ev, wo, out);
    if (!rc)
        *changed = ch;
    work_free(&w);
    return rc;
}

int ka_redact_event(const struct ka_redact *r, const struct ka_event *ev, struct ka_buf *out,
                    bool *changed)
{
    struct work w;
    struct ka_event ev2;
    bool ch = false;
    int rc;
    if (r->disabled) {
        *changed = false;
        return KA_OK;
    }
    work_init(&w, out->max);
    rc = redact_into(r, ev, NULL, &w, &ev2, &ch);
    if (!rc && ch)
        rc = ka_event_write(&ev2, NULL, out);
    if (!rc)
        *changed = ch;
    work_free(&w);
    return rc;
}
