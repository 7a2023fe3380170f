/*
 * output.c - rule output templates and alert formatting.
 *
 * A template is text with `%field` / `%field[arg]` substitutions (a field name starts with a
 * letter and continues with letters, digits, '_' and '.'; a trailing '.' is text). Values
 * render as Falco renders them: a scalar as its string, a list field as "(a,b)", no value as
 * "<NA>". Alerts: Falco's text form "HH:MM:SS.nnnnnnnnn: Priority output" (UTC) and its JSON
 * form, whose keys are sorted as Falco's JSON library sorts them: hostname, output,
 * output_fields (every template field plus evt.time in ns; lists as arrays, absent as null),
 * priority, rule, source, tags, time (ISO 8601 UTC, 9 fractional digits).
 *
 * The engine's append fields (ka_detect_opts.append_fields; by default ka.auditid and
 * kaudit.cluster) are merged into output_fields of every alert the way Falco merges the
 * `extra_fields` of its `append_output` configuration: sorted in with the template's keys, a
 * key the template already has appears once, and the `output` text does not change.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"
#include "kaudit/jsonw.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                              : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    for (size_t k = 1; k < len; k++)
        if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
            return 0;
    return len;
}

/* A JSON string as Falco's JSON library writes it: no HTML escaping; bad UTF-8 -> U+FFFD. */
static int jstr(struct ka_buf *b, const char *s, size_t n)
{
    int rc = ka_buf_putc(b, '"');
    size_t i = 0;
    while (i < n && rc == KA_OK) {
        unsigned char c = (unsigned char)s[i];
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (c == '"' || c == '\\')
            rc = ka_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = ka_buf_puts(b, "\\n");
        else if (c == '\r')
            rc = ka_buf_puts(b, "\\r");
        else if (c == '\t')
            rc = ka_buf_puts(b, "\\t");
        else if (c < 0x20)
            rc = ka_buf_printf(b, "\\u%04x", c);
        else if (l == 0)
            rc = ka_buf_puts(b, "\\ufffd");
        else
            rc = ka_buf_append(b, s + i, l);
        i += l ? l : 1;
    }
    return rc == KA_OK ? ka_buf_putc(b, '"') : rc;
}

static int add_part(struct ka_detect *d, struct kd_rule *r, size_t *cap,
                    const struct kd_tmpl_part *p)
{
    if (kd_grow(&d->ar, (void **)&r->tmpl, cap, r->ntmpl + 1, sizeof(*r->tmpl)) != KA_OK)
        return KA_ENOMEM;
    r->tmpl[r->ntmpl++] = *p;
    return KA_OK;
}

/* Parses "%name[arg]" at s[i] (after the '%'); returns its length or 0 when it is text. */
static size_t field_ref(const char *s, size_t n, size_t i, size_t *name_len, size_t *arg_at,
                        size_t *arg_len)
{
    size_t j = i;
    if (j >= n || !isalpha((unsigned char)s[j]))
        return 0;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '.'))
        j++;
    while (j > i && s[j - 1] == '.')
        j--;
    *name_len = j - i;
    *arg_len = 0;
    *arg_at = 0;
    if (j < n && s[j] == '[') {
        const char *e = memchr(s + j, ']', n - j);
        if (e) {
            *arg_at = j + 1;
            *arg_len = (size_t)(e - s) - j - 1;
            j = (size_t)(e - s) + 1;
        }
    }
    return j - i;
}

static int tmpl_field(struct ka_detect *d, struct kd_rule *r, size_t *cap, size_t i,
                      size_t nl, size_t aa, size_t al, size_t len, struct ka_diag *diag)
{
    const char *s = r->output.s;
    char name[KD_MAX_NAME], arg[KA_DFIELD_MAX_ARG + 1], msg[256] = "";
    if (nl >= sizeof(name) || al > KA_DFIELD_MAX_ARG)
        return KA_ETOOBIG;
    memcpy(name, s + i, nl);
    name[nl] = '\0';
    memcpy(arg, s + aa, al);
    arg[al] = '\0';
    struct kd_tmpl_part p = {0};
    int rc = kd_field_get(d, name, aa ? arg : NULL, &p.f, msg, sizeof(msg));
    if (rc != KA_OK) {
        struct kd_pos pos;
        kd_text_pos(&r->output, i - 1, &pos);
        ka_diag_add(diag, KA_SEV_ERROR, "%s:%lu:%lu: rule '%s': output: %s", pos.file,
                    pos.line, pos.col, r->name, msg[0] ? msg : "bad field");
        return rc;
    }
    p.key = ka__arena_strdup(&d->ar, s + i, len);
    if (!p.key)
        return KA_ENOMEM;
    return add_part(d, r, cap, &p);
}

int kd_compile_output(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag)
{
    const char *s = r->output.s ? r->output.s : "";
    size_t n = r->output.n, cap = 0, lit = 0, i = 0;
    r->ntmpl = 0;
    while (i < n) {
        size_t nl, aa, al, len = s[i] == '%' ? field_ref(s, n, i + 1, &nl, &aa, &al) : 0;
        if (len == 0) {
            i++;
            continue;
        }
        if (i > lit) {
            struct kd_tmpl_part p = {.lit = s + lit, .n = i - lit};
            if (add_part(d, r, &cap, &p) != KA_OK)
                return KA_ENOMEM;
        }
        int rc = tmpl_field(d, r, &cap, i + 1, nl, aa, al, len, diag);
        if (rc != KA_OK)
            return rc;
        i += 1 + len;
        lit = i;
    }
    if (n > lit) {
        struct kd_tmpl_part p = {.lit = s + lit, .n = n - lit};
        if (add_part(d, r, &cap, &p) != KA_OK)
            return KA_ENOMEM;
    }
    return KA_OK;
}

/* Parses one append field name ("name" or "name[arg]", the whole string) and resolves it. */
static int append_one(struct ka_detect *d, const char *s, struct kd_tmpl_part *p,
                      char *msg, size_t msglen)
{
    size_t n = strlen(s), nl, aa, al;
    size_t len = field_ref(s, n, 0, &nl, &aa, &al);
    char name[KD_MAX_NAME], arg[KA_DFIELD_MAX_ARG + 1];
    if (len == 0 || len != n || nl >= sizeof(name) || al > KA_DFIELD_MAX_ARG) {
        snprintf(msg, msglen, "not a field name");
        return KA_EINVAL;
    }
    memcpy(name, s, nl);
    name[nl] = '\0';
    memcpy(arg, s + aa, al);
    arg[al] = '\0';
    p->lit = NULL;
    p->key = s;
    return kd_field_get(d, name, aa ? arg : NULL, &p->f, msg, msglen);
}

int kd_compile_append(struct ka_detect *d, struct ka_diag *diag)
{
    if (d->nappend == 0)
        return KA_OK;
    d->append = ka__arena_alloc(&d->ar, d->nappend * sizeof(*d->append));
    if (!d->append)
        return KA_ENOMEM;
    int rc = KA_OK;
    for (size_t i = 0; i < d->nappend; i++) {
        char msg[256] = "";
        int e = append_one(d, d->append_names[i], &d->append[i], msg, sizeof(msg));
        if (e == KA_ENOMEM)
            return e;
        if (e != KA_OK) {
            ka_diag_add(diag, KA_SEV_ERROR, "append field '%s': %s", d->append_names[i],
                        msg[0] ? msg : "bad field");
            rc = KA_EINVAL;
        }
    }
    return rc;
}

static bool list_form(const struct ka_dfield *f)
{
    return f->is_list && f->index < 0;
}

static int render_value(struct ka_detect_ctx *c, const struct ka_dfield *f, struct ka_buf *b)
{
    struct ka_dvals v;
    int rc = ka_dctx_extract(c->x, f, &v);
    if (rc != KA_OK)
        return rc;
    if (v.n == 0)
        return ka_buf_puts(b, "<NA>");
    if (!list_form(f))
        return ka_buf_append(b, v.v[0], v.len[0]);
    rc = ka_buf_putc(b, '(');
    for (size_t i = 0; i < v.n && rc == KA_OK; i++) {
        if (i)
            rc = ka_buf_putc(b, ',');
        if (rc == KA_OK)
            rc = ka_buf_append(b, v.v[i], v.len[i]);
    }
    return rc == KA_OK ? ka_buf_putc(b, ')') : rc;
}

int ka_detect_format_output(const struct ka_detect_match *m, struct ka_buf *out)
{
    const struct kd_rule *r = m->priv_rule;
    size_t start = out->n;
    int rc = KA_OK;
    for (size_t i = 0; i < r->ntmpl && rc == KA_OK; i++) {
        const struct kd_tmpl_part *p = &r->tmpl[i];
        rc = p->lit ? ka_buf_append(out, p->lit, p->n) : render_value(m->priv_ctx, p->f, out);
        if (rc == KA_OK && out->n - start > KA_DETECT_MAX_OUTPUT) {
            out->n = start + KA_DETECT_MAX_OUTPUT;
            break;
        }
    }
    return rc;
}

static void split_time(int64_t ns, int64_t *sec, long *frac)
{
    *sec = ns / 1000000000LL;
    *frac = (long)(ns % 1000000000LL);
    if (*frac < 0) {
        *frac += 1000000000L;
        (*sec)--;
    }
}

int ka_detect_format_text(const struct ka_detect_match *m, struct ka_buf *out)
{
    int64_t sec;
    long frac;
    split_time(m->time_ns, &sec, &frac);
    int64_t day = sec % 86400 < 0 ? sec % 86400 + 86400 : sec % 86400;
    int rc = ka_buf_printf(out, "%02d:%02d:%02d.%09ld: %s ", (int)(day / 3600),
                           (int)(day / 60 % 60), (int)(day % 60), frac,
                           ka_prio_name(m->priority));
    return rc == KA_OK ? ka_detect_format_output(m, out) : rc;
}

static int iso_time(int64_t ns, struct ka_buf *b)
{
    int64_t sec, y;
    long frac;
    unsigned mo, dd;
    split_time(ns, &sec, &frac);
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    ka_civil_from_days(days, &y, &mo, &dd);
    return ka_buf_printf(b, "\"%04lld-%02u-%02uT%02d:%02d:%02d.%09ldZ\"", (long long)y, mo, dd,
                         (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
}

static int json_value(struct ka_detect_ctx *c, const struct ka_dfield *f, struct ka_buf *b)
{
    struct ka_dvals v;
    int rc = ka_dctx_extract(c->x, f, &v);
    if (rc != KA_OK)
        return rc;
    if (v.n == 0)
        return ka_buf_puts(b, "null");
    if (!list_form(f))
        return jstr(b, v.v[0], v.len[0]);
    rc = ka_buf_putc(b, '[');
    for (size_t i = 0; i < v.n && rc == KA_OK; i++) {
        if (i)
            rc = ka_buf_putc(b, ',');
        if (rc == KA_OK)
            rc = jstr(b, v.v[i], v.len[i]);
    }
    return rc == KA_OK ? ka_buf_putc(b, ']') : rc;
}

/* The smallest key above prev among parts (NULL: none); *best is kept when it is smaller. */
static const struct kd_tmpl_part *next_part(const struct kd_tmpl_part *parts, size_t n,
                                            const char *prev, const struct kd_tmpl_part *best)
{
    for (size_t i = 0; i < n; i++) {
        const struct kd_tmpl_part *p = &parts[i];
        if (!p->lit && strcmp(p->key, prev) > 0 && (!best || strcmp(p->key, best->key) < 0))
            best = p;
    }
    return best;
}

/* output_fields: template and append fields sorted by key, each once, with evt.time in
   place. */
static int json_fields(const struct ka_detect_match *m, struct ka_buf *b)
{
    const struct kd_rule *r = m->priv_rule;
    const struct ka_detect *d = m->priv_ctx->d;
    const char *prev = "";
    int rc = ka_buf_putc(b, '{');
    bool first = true, time_done = false;
    for (;;) {
        const struct kd_tmpl_part *best = next_part(r->tmpl, r->ntmpl, prev, NULL);
        best = next_part(d->append, d->append ? d->nappend : 0, prev, best);
        const char *key = best ? best->key : NULL;
        if (!time_done && (!key || strcmp("evt.time", key) <= 0)) {
            rc = rc ? rc : ka_buf_printf(b, "%s\"evt.time\":%lld", first ? "" : ",",
                                         (long long)m->time_ns);
            time_done = true;
            first = false;
            if (key && !strcmp(key, "evt.time")) {
                prev = key;
                continue;
            }
        }
        if (!best || rc != KA_OK)
            break;
        rc = ka_buf_printf(b, "%s", first ? "" : ",");
        rc = rc ? rc : jstr(b, key, strlen(key));
        rc = rc ? rc : ka_buf_putc(b, ':');
        rc = rc ? rc : json_value(m->priv_ctx, best->f, b);
        first = false;
        prev = key;
    }
    return rc ? rc : ka_buf_putc(b, '}');
}

/* tags: Falco keeps them in a std::set, so they come out sorted and without duplicates. */
static int json_tags(const struct ka_detect_match *m, struct ka_buf *b)
{
    const char *prev = NULL;
    int rc = ka_buf_putc(b, '[');
    for (size_t done = 0; done < m->n_tags && rc == KA_OK; done++) {
        const char *best = NULL;
        for (size_t i = 0; i < m->n_tags; i++) {
            const char *t = m->tags[i];
            if (t && (!prev || strcmp(t, prev) > 0) && (!best || strcmp(t, best) < 0))
                best = t;
        }
        if (!best)
            break;
        rc = prev ? ka_buf_putc(b, ',') : KA_OK;
        rc = rc ? rc : jstr(b, best, strlen(best));
        prev = best;
    }
    return rc ? rc : ka_buf_putc(b, ']');
}

/* Falco builds the alert in an nlohmann::json object (a std::map), so its keys come out
   sorted: hostname, output, output_fields, priority, rule, source, tags, time. */
int ka_detect_format_json(const struct ka_detect_match *m, struct ka_buf *out)
{
    struct ka_buf text;
    ka_buf_init(&text, KA_DETECT_MAX_OUTPUT * 2);
    int rc = ka_detect_format_text(m, &text);
    const struct ka_detect *d = m->priv_ctx->d;
    rc = rc ? rc : ka_buf_puts(out, "{\"hostname\":");
    rc = rc ? rc : jstr(out, d->hostname, strlen(d->hostname));
    rc = rc ? rc : ka_buf_puts(out, ",\"output\":");
    rc = rc ? rc : jstr(out, text.p ? text.p : "", text.n);
    rc = rc ? rc : ka_buf_puts(out, ",\"output_fields\":");
    rc = rc ? rc : json_fields(m, out);
    rc = rc ? rc : ka_buf_printf(out, ",\"priority\":\"%s\",\"rule\":", ka_prio_name(m->priority));
    rc = rc ? rc : jstr(out, m->rule, strlen(m->rule));
    rc = rc ? rc : ka_buf_puts(out, ",\"source\":\"k8s_audit\",\"tags\":");
    rc = rc ? rc : json_tags(m, out);
    rc = rc ? rc : ka_buf_puts(out, ",\"time\":");
    rc = rc ? rc : iso_time(m->time_ns, out);
    rc = rc ? rc : ka_buf_putc(out, '}');
    ka_buf_free(&text);
    return rc;
}
