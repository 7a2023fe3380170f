/*
 * detect.c - the detection engine: its arena, loading rule files in order, compiling the rule
 * set, per-thread contexts and the evaluation of one event against the active rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "detect_int.h"

/* ---- arena ---- */

int kd_grow(struct kap_arena *a, void **v, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return KA_OK;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *p = ka__arena_alloc(a, nc * sz);
    if (!p)
        return KA_ENOMEM;
    if (*cap)
        memcpy(p, *v, *cap * sz);
    *v = p;
    *cap = nc;
    return KA_OK;
}

/* ---- texts with provenance ---- */

/* Skips the scalar's opening syntax: the quote, or the block header line. */
static size_t seg_body(const struct kd_seg *s)
{
    size_t i = s->src_off;
    if (i >= s->src_len)
        return i;
    char c = s->src[i];
    if (c == '"' || c == '\'')
        return i + 1;
    if (c == '|' || c == '>') {
        while (i < s->src_len && s->src[i] != '\n')
            i++;
    }
    return i;
}

void kd_text_pos(const struct kd_text *t, size_t k, struct kd_pos *out)
{
    const struct kd_seg *s = NULL;
    for (size_t i = 0; i < t->nsegs; i++)
        if (t->segs[i].off <= k)
            s = &t->segs[i];
    out->file = "?";
    out->line = out->col = 0;
    if (!s)
        return;
    out->file = s->file;
    out->line = s->line;
    out->col = s->col;
    if (!s->exact || !s->src)
        return;
    /* Walk the source skipping as many non-blank bytes as precede byte k in the text; at the
       end of the text, point just after its last non-blank byte. */
    size_t want = 0, total = 0, end = t->n;
    for (size_t i = 0; i < t->nsegs; i++)
        if (t->segs[i].off > s->off && t->segs[i].off < end)
            end = t->segs[i].off;
    for (size_t i = s->off; i < end; i++) {
        bool nb = t->s[i] != ' ' && t->s[i] != '\n' && t->s[i] != '\t';
        total += nb;
        want += nb && i < k;
    }
    bool at_end = want >= total;
    size_t j = seg_body(s), last = j;
    while (j < s->src_len) {
        char c = s->src[j];
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            if (want == 0)
                break;
            want--;
            last = j + 1;
        }
        j++;
    }
    ka_linecol(s->src, at_end ? last : j, &out->line, &out->col);
}

int kd_text_append(struct kap_arena *a, struct kd_text *t, const char *s, size_t n,
                   const struct kd_seg *from)
{
    size_t sep = t->n ? 1 : 0, cap = t->nsegs;
    if (t->nsegs >= KD_MAX_SEGS || t->n + n + 1 > KA_DETECT_MAX_COND * 4)
        return KA_ETOOBIG;
    char *p = ka__arena_alloc(a, t->n + sep + n + 1);
    if (!p || kd_grow(a, (void **)&t->segs, &cap, t->nsegs + 1, sizeof(*t->segs)) != KA_OK)
        return KA_ENOMEM;
    if (t->n)
        memcpy(p, t->s, t->n);
    if (sep)
        p[t->n] = ' ';
    memcpy(p + t->n + sep, s, n);
    p[t->n + sep + n] = '\0';
    t->segs[t->nsegs] = *from;
    t->segs[t->nsegs].off = t->n + sep;
    t->nsegs++;
    t->s = p;
    t->n += sep + n;
    return KA_OK;
}

/* ---- priorities ---- */

static const char *const prio_names[] = {"Emergency", "Alert",  "Critical",      "Error",
                                         "Warning",   "Notice", "Informational", "Debug"};

const char *ka_prio_name(enum ka_prio p)
{
    return (unsigned)p <= KA_PRIO_DEBUG ? prio_names[p] : "Unknown";
}

int ka_prio_parse(const char *s, enum ka_prio *out)
{
    for (int i = 0; i <= KA_PRIO_DEBUG; i++)
        if (!strcasecmp(s, prio_names[i])) {
            *out = (enum ka_prio)i;
            return KA_OK;
        }
    if (!strcasecmp(s, "info")) {
        *out = KA_PRIO_INFO;
        return KA_OK;
    }
    return KA_EINVAL;
}

/* ---- engine ---- */

/* Every alert names its event: the auditID, and the cluster of the kaudit.io/cluster
   annotation (null when the event has none). */
static const char *const append_default[] = {"ka.auditid", "kaudit.cluster"};

void ka_detect_opts_default(struct ka_detect_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->matching = KA_DETECT_FIRST;
    o->min_priority = KA_PRIO_DEBUG;
    o->append_fields = append_default;
    o->n_append_fields = sizeof(append_default) / sizeof(append_default[0]);
}

static bool append_ok(const struct ka_detect_opts *o)
{
    if (o->n_append_fields > KA_DETECT_MAX_APPEND || (o->n_append_fields && !o->append_fields))
        return false;
    for (size_t i = 0; i < o->n_append_fields; i++) {
        const char *s = o->append_fields[i];
        if (!s || !*s || strlen(s) > KA_DETECT_MAX_APPEND_NAME)
            return false;
    }
    return true;
}

/* Copies the append field names into the engine's arena. */
static int copy_append(struct ka_detect *d)
{
    size_t n = d->o.n_append_fields;
    if (n == 0) {
        d->o.append_fields = NULL;
        return KA_OK;
    }
    d->append_names = ka__arena_alloc(&d->ar, n * sizeof(char *));
    if (!d->append_names)
        return KA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *s = d->o.append_fields[i];
        d->append_names[i] = ka__arena_strdup(&d->ar, s, strlen(s));
        if (!d->append_names[i])
            return KA_ENOMEM;
    }
    d->nappend = n;
    d->o.append_fields = (const char *const *)d->append_names;
    return KA_OK;
}

int ka_detect_new(const struct ka_detect_opts *o, struct ka_detect **out)
{
    if (o && (o->state_max_keys > KA_DETECT_STATE_KEYS_MAX || !append_ok(o)))
        return KA_EINVAL;
    struct ka_detect *d = calloc(1, sizeof(*d));
    if (!d)
        return KA_ENOMEM;
    if (o)
        d->o = *o;
    else
        ka_detect_opts_default(&d->o);
    if (copy_append(d) != KA_OK) {
        ka_detect_free(d);
        return KA_ENOMEM;
    }
    if (d->o.hostname)
        snprintf(d->hostname, sizeof(d->hostname), "%s", d->o.hostname);
    else if (gethostname(d->hostname, sizeof(d->hostname) - 1) != 0)
        snprintf(d->hostname, sizeof(d->hostname), "localhost");
    d->o.hostname = d->hostname;
    d->state_max_keys = d->o.state_max_keys ? d->o.state_max_keys : KA_DETECT_STATE_KEYS_DEFAULT;
    *out = d;
    return KA_OK;
}

void ka_detect_free(struct ka_detect *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nregexes; i++)
        pcre2_code_free(d->regexes[i]);
    ka__arena_free(&d->ar);
    free(d);
}

struct kd_list *kd_find_list(const struct ka_detect *d, const char *name)
{
    for (size_t i = 0; i < d->nlists; i++)
        if (!strcmp(d->lists[i]->name, name))
            return d->lists[i];
    return NULL;
}

struct kd_macro *kd_find_macro(const struct ka_detect *d, const char *name)
{
    for (size_t i = 0; i < d->nmacros; i++)
        if (!strcmp(d->macros[i]->name, name))
            return d->macros[i];
    return NULL;
}

struct kd_rule *kd_find_rule(const struct ka_detect *d, const char *name)
{
    for (size_t i = 0; i < d->nrules; i++)
        if (!strcmp(d->rules[i]->name, name))
            return d->rules[i];
    return NULL;
}

int ka_detect_load_mem(struct ka_detect *d, const char *name, const char *buf, size_t n,
                       struct ka_diag *diag)
{
    if (d->compiled) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: rules cannot be loaded after compilation", name);
        return KA_EINVAL;
    }
    if (n > KA_DETECT_MAX_FILE) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: rules file larger than %u bytes", name,
                    KA_DETECT_MAX_FILE);
        return KA_ETOOBIG;
    }
    if (kd_grow(&d->ar, (void **)&d->files, &d->capfiles, d->nfiles + 1, sizeof(*d->files)))
        return KA_ENOMEM;
    struct kd_file *f = &d->files[d->nfiles];
    f->name = ka__arena_strdup(&d->ar, name, strlen(name));
    f->buf = ka__arena_strdup(&d->ar, buf, n);
    f->n = n;
    if (!f->name || !f->buf)
        return KA_ENOMEM;
    d->nfiles++;
    int rc = kd_load_yaml(d, f, diag);
    if (rc != KA_OK)
        d->failed = true;
    return rc;
}

int ka_detect_load_file(struct ka_detect *d, const char *path, struct ka_diag *diag)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        ka_diag_add(diag, KA_SEV_ERROR, "%s: %s", path, strerror(e));
        return e == ENOENT ? KA_ENOENT : KA_EIO;
    }
    size_t cap = 64u << 10, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? KA_OK : KA_ENOMEM;
    while (rc == KA_OK) {
        if (n == cap) {
            char *nb = cap > KA_DETECT_MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                rc = cap > KA_DETECT_MAX_FILE ? KA_ETOOBIG : KA_ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (rc == KA_OK && ferror(fp)) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: read error", path);
        rc = KA_EIO;
    }
    fclose(fp);
    if (rc == KA_ETOOBIG)
        ka_diag_add(diag, KA_SEV_ERROR, "%s: rules file larger than %u bytes", path,
                    KA_DETECT_MAX_FILE);
    if (rc == KA_OK)
        rc = ka_detect_load_mem(d, path, buf, n, diag);
    free(buf);
    return rc;
}

int ka_detect_compile(struct ka_detect *d, struct ka_diag *diag)
{
    if (d->compiled)
        return KA_OK;
    if (d->failed) {
        ka_diag_add(diag, KA_SEV_ERROR, "rules not compiled: loading failed");
        return KA_EINVAL;
    }
    size_t errs = diag->n_errors;
    int rc = KA_OK;
    size_t cap = 0;
    for (size_t i = 0; i < d->nrules && rc != KA_ENOMEM; i++) {
        struct kd_rule *r = d->rules[i];
        if (!r->k8s) {
            d->rules_skipped++;
            continue;
        }
        if (!r->enabled || r->prio > d->o.min_priority) {
            d->rules_disabled++;
            continue;
        }
        int e = kd_compile_rule(d, r, diag);
        if (e == KA_OK)
            e = kd_compile_output(d, r, diag);
        if (e == KA_OK && r->st && r->root)
            e = kd_state_compile(d, r, diag);
        if (e == KA_ENOMEM)
            rc = e;
        if (e != KA_OK || !r->root)
            continue;
        if (kd_grow(&d->ar, (void **)&d->active, &cap, d->nactive + 1, sizeof(struct kd_rule *))) {
            rc = KA_ENOMEM;
            break;
        }
        r->active = true;
        d->active[d->nactive++] = r;
    }
    if (d->rules_skipped)
        ka_diag_add(diag, KA_SEV_NOTE, "%zu rules skipped: their source is not k8s_audit",
                    d->rules_skipped);
    if (rc == KA_OK)
        rc = kd_compile_append(d, diag) == KA_ENOMEM ? KA_ENOMEM : KA_OK;
    if (rc == KA_OK && diag->n_errors > errs)
        rc = KA_EINVAL;
    if (rc == KA_OK)
        rc = kd_pf_build(d);
    if (rc != KA_OK) {
        d->failed = true;
        return rc;
    }
    d->compiled = true;
    return KA_OK;
}

void ka_detect_stats(const struct ka_detect *d, struct ka_detect_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->rules = d->nrules;
    out->rules_active = d->nactive;
    out->rules_skipped = d->rules_skipped;
    out->rules_disabled = d->rules_disabled;
    out->macros = d->nmacros;
    out->macros_compiled = d->macros_compiled;
    out->lists = d->nlists;
    out->fields = d->nfields;
    out->index_fields = kd_pf_fields(d, out->index_field,
                                     sizeof(out->index_field) / sizeof(out->index_field[0]));
}

void ka_detect_each_rule(const struct ka_detect *d,
                         void (*fn)(void *ud, const struct ka_detect_rule_info *r), void *ud)
{
    for (size_t i = 0; i < d->nrules; i++) {
        const struct kd_rule *r = d->rules[i];
        struct ka_detect_rule_info info = {
            .name = r->name, .desc = r->desc ? r->desc : "",
            .source = r->source ? r->source : "syscall", .output = r->output.s ? r->output.s : "",
            .priority = r->prio, .tags = (const char *const *)r->tags, .n_tags = r->ntags,
            .enabled = r->active ? 1 : 0,
        };
        fn(ud, &info);
    }
}

/* ---- contexts and evaluation ---- */

int ka_detect_ctx_new(const struct ka_detect *d, struct ka_detect_ctx **out)
{
    if (!d->compiled)
        return KA_EINVAL;
    struct ka_detect_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return KA_ENOMEM;
    c->d = d;
    c->md = pcre2_match_data_create(1, NULL);
    c->cand = calloc(kd_pf_words(d) + 1, sizeof(uint64_t));
    if (!c->md || !c->cand ||
        ka_dctx_new((unsigned)(d->nfields ? d->nfields : 1), &c->x) != KA_OK ||
        (d->nstate && kd_state_new(d, &c->st) != KA_OK)) {
        ka_detect_ctx_free(c);
        return KA_ENOMEM;
    }
    *out = c;
    return KA_OK;
}

void ka_detect_ctx_free(struct ka_detect_ctx *c)
{
    if (!c)
        return;
    if (c->x)
        ka_dctx_free(c->x);
    kd_state_free(c->st);
    pcre2_match_data_free(c->md);
    free(c->cand);
    free(c);
}

/* Runs active rule r on the current event: 0 to go on, 1 when evaluation should stop (rule
   matching first, no stateful rules), 2 when eval must return *ret (an error, or the
   callback's non-zero value). */
static int run_rule(struct ka_detect_ctx *c, const struct kd_rule *r, ka_detect_fn fn, void *ud,
                    int *hits, bool *first_done, int *ret)
{
    const struct ka_detect *d = c->d;
    if ((*first_done && !r->st) || !kd_eval(c, r->root))
        return 0;
    if (r->st) { /* stateful rules are always fed and never suppressed by `first` */
        int f = kd_state_feed(c, r);
        if (f < 0)
            *ret = f;
        if (f <= 0)
            return f < 0 ? 2 : 0;
    }
    (*hits)++;
    if (fn) {
        struct ka_detect_match m = {
            .rule = r->name, .priority = r->prio, .tags = (const char *const *)r->tags,
            .n_tags = r->ntags, .ev = c->ev, .time_ns = c->time_ns, .priv_rule = r,
            .priv_ctx = c,
        };
        int e = fn(ud, &m);
        if (e != 0) {
            *ret = e;
            return 2;
        }
    }
    if (d->o.matching == KA_DETECT_FIRST && !r->st) {
        *first_done = true;
        return d->nstate ? 0 : 1;
    }
    return 0;
}

int ka_detect_eval(struct ka_detect_ctx *c, const struct ka_event *ev, ka_detect_fn fn,
                   void *ud)
{
    const struct ka_detect *d = c->d;
    if (!ev->stageTimestamp.set)
        return 0;
    c->evt_num++;
    c->ev = ev;
    c->err = KA_OK;
    c->time_ns = ev->stageTimestamp.sec * 1000000000LL + ev->stageTimestamp.nsec;
    ka_dctx_reset(c->x, ev, c->evt_num, d->hostname);
    kd_pf_select(c, c->cand); /* the rules left out would evaluate to false */
    int hits = 0;
    bool first_done = false; /* rule_matching first: a stateless rule has alerted */
    size_t words = kd_pf_words(d);
    for (size_t w = 0; w < words; w++) {
        for (uint64_t m = c->cand[w]; m; m &= m - 1) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(m);
            int ret = 0, rc = run_rule(c, d->active[i], fn, ud, &hits, &first_done, &ret);
            if (rc == 2)
                return ret;
            if (rc == 1)
                goto done;
        }
    }
done:
    if (c->err == KA_ENOMEM)
        return KA_ENOMEM;
    return hits;
}

struct kd_line {
    struct ka_detect_ctx *c;
    ka_detect_fn fn;
    void *ud;
    int hits;
};

static int line_item(void *ud, const char *item, size_t n, size_t index)
{
    (void)index;
    struct kd_line *l = ud;
    struct ka_event ev;
    struct ka_scan_err err;
    if (ka_event_scan(item, n, NULL, &ev, &err) != KA_OK || !ev.auditID.set)
        return 0; /* not an event: skipped, as the k8saudit plugin does */
    int rc = ka_detect_eval(l->c, &ev, l->fn, l->ud);
    if (rc < 0)
        return rc;
    l->hits += rc;
    return 0;
}

int ka_detect_eval_line(struct ka_detect_ctx *c, const char *p, size_t n, ka_detect_fn fn,
                        void *ud)
{
    struct ka_event ev;
    struct ka_scan_err err;
    int rc = ka_event_scan(p, n, NULL, &ev, &err);
    if (rc == KA_OK && ev.auditID.set)
        return ka_detect_eval(c, &ev, fn, ud);
    struct kd_line l = {.c = c, .fn = fn, .ud = ud};
    enum ka_doc_kind kind;
    rc = ka_doc_scan(p, n, NULL, &kind, line_item, &l, &err);
    if (rc == KA_OK && kind == KA_DOC_EVENT)
        return KA_ENOTEVENT;
    if (rc == KA_ESYNTAX || rc == KA_ETOOBIG || rc == KA_ENOTEVENT)
        return rc == KA_ETOOBIG ? KA_ENOTEVENT : rc;
    return rc < 0 ? rc : l.hits;
}
