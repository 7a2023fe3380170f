/*
 * state_load.c - the stateful-rule extension of the rules file: reading a rule's
 * kaudit.window / kaudit.first_seen / kaudit.sequence key (one per rule) and compiling it (the
 * `by` and value fields resolved like condition fields, sequence steps compiled as conditions).
 *
 *   kaudit.window:     {by: FIELDS, within: DURATION, more_than: N, distinct: FIELD?}
 *   kaudit.first_seen: {by: FIELDS, value: FIELD, learn: DURATION?, max_values: N?}
 *   kaudit.sequence:   {by: FIELDS, within: DURATION, steps: [CONDITION, CONDITION, ...]}
 *
 * FIELDS is one field or a list of fields ("ka.user.name", "ka.uri.param[x]"); a DURATION is
 * one or more <integer><unit> parts with the units ms, s, m, h, d ("90s", "1h30m"). The
 * semantics are in state.c and docs/detection-engine.md.
 */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

#define KD_MAX_DURATION_NS (31LL * 86400 * 1000000000LL)

static const char *const st_keys[] = {"kaudit.window", "kaudit.first_seen", "kaudit.sequence"};

/* Parses a duration; returns KA_OK with *ns > 0, or KA_EINVAL. */
static int parse_duration(const char *s, int64_t *ns)
{
    int64_t total = 0;
    if (!*s)
        return KA_EINVAL;
    while (*s) {
        int64_t v = 0;
        const char *d = s;
        while (*s >= '0' && *s <= '9' && v < KD_MAX_DURATION_NS)
            v = v * 10 + (*s++ - '0');
        if (s == d)
            return KA_EINVAL;
        int64_t unit;
        if (!strncmp(s, "ms", 2))
            unit = 1000000LL, s += 2;
        else if (*s == 's')
            unit = 1000000000LL, s++;
        else if (*s == 'm')
            unit = 60LL * 1000000000LL, s++;
        else if (*s == 'h')
            unit = 3600LL * 1000000000LL, s++;
        else if (*s == 'd')
            unit = 86400LL * 1000000000LL, s++;
        else
            return KA_EINVAL;
        if (v > KD_MAX_DURATION_NS / unit)
            return KA_EINVAL;
        total += v * unit;
        if (total > KD_MAX_DURATION_NS)
            return KA_EINVAL;
    }
    *ns = total;
    return total > 0 ? KA_OK : KA_EINVAL;
}

static int get_duration(struct kd_ld *l, struct fy_node *m, const char *key, bool required,
                        int64_t *out)
{
    struct fy_node *n = kd_map_get(m, key);
    if (!n) {
        if (required)
            kd_err(l, m, "'%s' is required", key);
        return required ? KA_EINVAL : KA_OK;
    }
    char *s = kd_scalar(l, n, key);
    if (!s)
        return KA_EINVAL;
    if (parse_duration(s, out) != KA_OK) {
        kd_err(l, n, "'%s': bad duration '%s' (e.g. 30s, 5m, 1h30m; at most 31d)", key, s);
        return KA_EINVAL;
    }
    return KA_OK;
}

static int get_count(struct kd_ld *l, struct fy_node *m, const char *key, uint32_t lo,
                     uint32_t hi, uint32_t *out)
{
    struct fy_node *n = kd_map_get(m, key);
    if (!n)
        return KA_OK;
    char *s = kd_scalar(l, n, key), *end;
    if (!s)
        return KA_EINVAL;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < (long)lo || v > (long)hi) {
        kd_err(l, n, "'%s' must be an integer from %u to %u", key, lo, hi);
        return KA_EINVAL;
    }
    *out = (uint32_t)v;
    return KA_OK;
}

/* by: one field or a list of 1..KD_STATE_MAX_BY fields. */
static int get_by(struct kd_ld *l, struct fy_node *m, struct kd_srule *st)
{
    struct fy_node *n = kd_map_get(m, "by");
    if (!n) {
        kd_err(l, m, "'by' is required");
        return KA_EINVAL;
    }
    if (fy_node_is_scalar(n)) {
        st->by_name[0] = kd_scalar(l, n, "by");
        st->nby = st->by_name[0] ? 1 : 0;
        return st->nby ? KA_OK : KA_EINVAL;
    }
    char **v;
    size_t count;
    if (kd_strlist(l, n, "by", &v, &count) != KA_OK)
        return KA_EINVAL;
    if (count == 0 || count > KD_STATE_MAX_BY) {
        kd_err(l, n, "'by' needs 1 to %u fields", KD_STATE_MAX_BY);
        return KA_EINVAL;
    }
    memcpy(st->by_name, v, count * sizeof(*v));
    st->nby = count;
    return KA_OK;
}

static int get_steps(struct kd_ld *l, struct fy_node *m, struct kd_srule *st)
{
    struct fy_node *n = kd_map_get(m, "steps"), *e;
    if (!n || !fy_node_is_sequence(n)) {
        kd_err(l, n ? n : m, "'steps' must be a list of conditions");
        return KA_EINVAL;
    }
    void *it = NULL;
    while ((e = fy_node_sequence_iterate(n, &it)) != NULL) {
        char *s = kd_scalar(l, e, "steps");
        if (!s)
            return KA_EINVAL;
        if (st->nsteps == KD_STATE_MAX_STEPS) {
            kd_err(l, e, "more than %u steps", KD_STATE_MAX_STEPS);
            return KA_EINVAL;
        }
        struct kd_seg seg;
        kd_seg_of(l, e, &seg);
        int rc = kd_text_append(&l->d->ar, &st->step_txt[st->nsteps++], s, strlen(s), &seg);
        if (rc != KA_OK) {
            if (rc == KA_ENOMEM)
                l->oom = true;
            else
                kd_err(l, e, "step too long");
            return rc;
        }
    }
    if (st->nsteps < 2) {
        kd_err(l, n, "a sequence needs at least 2 steps");
        return KA_EINVAL;
    }
    return KA_OK;
}

/* Rejects keys of the kaudit.* mapping outside known[]. */
static int check_sub(struct kd_ld *l, struct fy_node *m, const char *what,
                     const char *const *known)
{
    void *it = NULL;
    struct fy_node_pair *p;
    int rc = KA_OK;
    while ((p = fy_node_mapping_iterate(m, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t n;
        const char *s = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &n) : NULL;
        bool ok = false;
        for (size_t i = 0; s && known[i]; i++)
            ok = ok || (strlen(known[i]) == n && !memcmp(known[i], s, n));
        if (!ok) {
            kd_err(l, k, "unknown key '%.*s' in %s", s ? (int)(n < 60 ? n : 60) : 1,
                   s ? s : "?", what);
            rc = KA_EINVAL;
        }
    }
    return rc;
}

static int parse_one(struct kd_ld *l, struct fy_node *m, struct kd_srule *st)
{
    static const char *const kw[] = {"by", "within", "more_than", "distinct", NULL};
    static const char *const kf[] = {"by", "value", "learn", "max_values", NULL};
    static const char *const ks[] = {"by", "within", "steps", NULL};
    const char *what = st_keys[st->kind - 1];
    if (!fy_node_is_mapping(m)) {
        kd_err(l, m, "'%s' must be a mapping", what);
        return KA_EINVAL;
    }
    const char *const *known = st->kind == KD_ST_WINDOW ? kw
                               : st->kind == KD_ST_FIRST_SEEN ? kf : ks;
    if (check_sub(l, m, what, known) != KA_OK || get_by(l, m, st) != KA_OK)
        return KA_EINVAL;
    if (st->kind == KD_ST_WINDOW) {
        struct fy_node *dn = kd_map_get(m, "distinct");
        st->more_than = 0;
        if (!kd_map_get(m, "more_than")) {
            kd_err(l, m, "'more_than' is required");
            return KA_EINVAL;
        }
        if (get_count(l, m, "more_than", 1, KD_STATE_MAX_COUNT, &st->more_than) != KA_OK ||
            get_duration(l, m, "within", true, &st->within_ns) != KA_OK)
            return KA_EINVAL;
        st->val_name = dn ? kd_scalar(l, dn, "distinct") : NULL;
        return dn && !st->val_name ? KA_EINVAL : KA_OK;
    }
    if (st->kind == KD_ST_FIRST_SEEN) {
        struct fy_node *vn = kd_map_get(m, "value");
        st->max_values = 32;
        st->val_name = vn ? kd_scalar(l, vn, "value") : NULL;
        if (!st->val_name) {
            if (!vn)
                kd_err(l, m, "'value' is required");
            return KA_EINVAL;
        }
        if (get_count(l, m, "max_values", 1, KD_STATE_MAX_VALUES, &st->max_values) != KA_OK)
            return KA_EINVAL;
        return get_duration(l, m, "learn", false, &st->learn_ns);
    }
    if (get_duration(l, m, "within", true, &st->within_ns) != KA_OK)
        return KA_EINVAL;
    return get_steps(l, m, st);
}

void kd_state_parse(struct kd_ld *l, struct fy_node *item, struct kd_rule *r)
{
    struct fy_node *found = NULL;
    int kind = 0;
    for (int k = 0; k < 3; k++) {
        struct fy_node *n = kd_map_get(item, st_keys[k]);
        if (!n)
            continue;
        if (found) {
            kd_err(l, n, "a rule takes only one of kaudit.window, kaudit.first_seen and "
                         "kaudit.sequence");
            return;
        }
        found = n;
        kind = k + 1;
    }
    if (!found)
        return;
    struct kd_srule *st = ka__arena_alloc(&l->d->ar, sizeof(*st));
    if (!st) {
        l->oom = true;
        return;
    }
    st->kind = (enum kd_skind)kind;
    kd_node_pos(l, found, &st->pos);
    if (parse_one(l, found, st) == KA_OK)
        r->st = st;
}

/* Resolves "name" or "name[arg]". */
static int resolve(struct ka_detect *d, struct kd_rule *r, const char *spec,
                   const struct ka_dfield **out, struct ka_diag *diag)
{
    char name[KD_MAX_NAME], msg[256] = "";
    const char *br = strchr(spec, '[');
    size_t n = br ? (size_t)(br - spec) : strlen(spec), sl = strlen(spec);
    char *arg = NULL;
    if (n >= sizeof(name) || (br && (sl < n + 2 || spec[sl - 1] != ']'))) {
        snprintf(msg, sizeof(msg), "bad field '%.200s'", spec);
    } else {
        memcpy(name, spec, n);
        name[n] = '\0';
        if (br) {
            arg = ka__arena_strdup(&d->ar, br + 1, sl - n - 2);
            if (!arg)
                return KA_ENOMEM;
        }
        int rc = kd_field_get(d, name, arg, out, msg, sizeof(msg));
        if (rc == KA_OK || rc == KA_ENOMEM)
            return rc;
    }
    ka_diag_add(diag, KA_SEV_ERROR, "%s:%lu:%lu: rule '%s': %s: %s", r->st->pos.file,
                r->st->pos.line, r->st->pos.col, r->name, st_keys[r->st->kind - 1],
                msg[0] ? msg : "unknown field");
    return KA_EINVAL;
}

int kd_state_compile(struct ka_detect *d, struct kd_rule *r, struct ka_diag *diag)
{
    struct kd_srule *st = r->st;
    int rc = KA_OK;
    for (size_t i = 0; i < st->nby && rc == KA_OK; i++)
        rc = resolve(d, r, st->by_name[i], &st->by[i], diag);
    if (rc == KA_OK && st->val_name)
        rc = resolve(d, r, st->val_name, &st->val, diag);
    for (size_t i = 0; i < st->nsteps && rc == KA_OK; i++) {
        struct kd_rule step = *r; /* the step compiles as a condition of this rule */
        step.cond = st->step_txt[i];
        step.exc = NULL;
        step.nexc = 0;
        step.root = NULL;
        rc = kd_compile_rule(d, &step, diag);
        if (rc == KA_OK && !step.root)
            rc = KA_EINVAL; /* skip-if-unknown-filter: a sequence cannot lose a step */
        st->steps[i] = step.root;
    }
    if (rc == KA_OK)
        st->id = (unsigned)d->nstate++;
    return rc;
}
