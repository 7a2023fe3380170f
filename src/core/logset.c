/*
 * logset.c - expanding FILE arguments into audit log sets: a live file and its lumberjack
 * backups, oldest first (see include/kaudit/logset.h for the rules and limits).
 */
#include "kaudit/logset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kaudit/err.h"
#include "kaudit/jsonw.h"

/* One candidate file of a directory, before ordering. */
struct ent {
    char *name; /* base name in the directory (owned) */
    char *live; /* set key: the live base name (owned) */
    enum ka_logset_kind kind;
    int gz;
    long long ts;
};

struct ents {
    struct ent *v;
    size_t n, cap, max;
};

static void ents_free(struct ents *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].name);
        free(e->v[i].live);
    }
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

static int ents_push(struct ents *e, const char *name, const char *live, enum ka_logset_kind kind,
                     int gz, long long ts)
{
    if (e->n >= e->max)
        return KA_ETOOBIG;
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 32;
        struct ent *v = realloc(e->v, nc * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        e->v = v;
        e->cap = nc;
    }
    struct ent x = {strdup(name), strdup(live), kind, gz, ts};
    if (!x.name || !x.live) {
        free(x.name);
        free(x.live);
        return KA_ENOMEM;
    }
    e->v[e->n++] = x;
    return KA_OK;
}

static int push_file(struct ka_logset_file **v, size_t *n, size_t *cap, char *path,
                     enum ka_logset_kind kind, int gz, long long ts)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct ka_logset_file *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return KA_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = (struct ka_logset_file){path, kind, gz, ts};
    return KA_OK;
}

/* Appends pre+name (ownership of the new string goes to the set). */
static int add_path(struct ka_logset *s, int skipped, const char *pre, const char *name,
                    enum ka_logset_kind kind, int gz, long long ts)
{
    size_t pl = strlen(pre), nl = strlen(name);
    if (pl + nl >= KA_LOGSET_MAX_PATH)
        return KA_ETOOBIG;
    char *p = malloc(pl + nl + 1);
    if (!p)
        return KA_ENOMEM;
    memcpy(p, pre, pl);
    memcpy(p + pl, name, nl + 1);
    int rc = skipped ? push_file(&s->skipped, &s->n_skipped, &s->cap_skipped, p, kind, gz, ts)
                     : push_file(&s->files, &s->n, &s->cap, p, kind, gz, ts);
    if (rc)
        free(p);
    return rc;
}

void ka_logset_free(struct ka_logset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->files[i].path);
    for (size_t i = 0; i < set->n_skipped; i++)
        free(set->skipped[i].path);
    free(set->files);
    free(set->skipped);
    *set = (struct ka_logset){0};
}

/* Moves every entry of src to the end of dst; all or nothing. */
static int move_all(struct ka_logset *dst, struct ka_logset *src)
{
    struct ka_logset_file *v;
    if (dst->n + src->n > dst->cap) {
        if (!(v = realloc(dst->files, (dst->n + src->n) * sizeof *v)))
            return KA_ENOMEM;
        dst->files = v;
        dst->cap = dst->n + src->n;
    }
    if (dst->n_skipped + src->n_skipped > dst->cap_skipped) {
        if (!(v = realloc(dst->skipped, (dst->n_skipped + src->n_skipped) * sizeof *v)))
            return KA_ENOMEM;
        dst->skipped = v;
        dst->cap_skipped = dst->n_skipped + src->n_skipped;
    }
    if (src->n)
        memcpy(dst->files + dst->n, src->files, src->n * sizeof *v);
    if (src->n_skipped)
        memcpy(dst->skipped + dst->n_skipped, src->skipped, src->n_skipped * sizeof *v);
    dst->n += src->n;
    dst->n_skipped += src->n_skipped;
    src->n = src->n_skipped = 0;
    return KA_OK;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int ka_logset_parse_ts(const char *s, long long *ms)
{
    static const char shape[] = "dddd-dd-ddTdd-dd-dd.ddd";
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (size_t i = 0; i < KA_LOGSET_TS_LEN; i++) {
        int ok = shape[i] == 'd' ? s[i] >= '0' && s[i] <= '9' : s[i] == shape[i];
        if (!ok)
            return KA_EINVAL; /* also stops at a NUL before the end */
    }
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    int h = num(s + 11, 2), mi = num(s + 14, 2), se = num(s + 17, 2), msec = num(s + 20, 3);
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return KA_EINVAL;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return KA_EINVAL;
    long long days = (long long)ka_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = (((days * 24 + h) * 60 + mi) * 60 + se) * 1000 + msec;
    return KA_OK;
}

/* Go's filepath.Ext on a base name: from the last '.', or "" (points at the NUL). */
static const char *go_ext(const char *base)
{
    const char *dot = strrchr(base, '.');
    return dot ? dot : base + strlen(base);
}

int ka_logset_is_backup(const char *live, const char *name, long long *ts_ms, int *gz)
{
    const char *ext = go_ext(live);
    size_t plen = (size_t)(ext - live), elen = strlen(ext), n = strlen(name);
    if (!*live || n < plen + 1 + KA_LOGSET_TS_LEN + elen)
        return 0;
    if (memcmp(name, live, plen) != 0 || name[plen] != '-')
        return 0;
    const char *ts = name + plen + 1, *rest = ts + KA_LOGSET_TS_LEN;
    if (memcmp(rest, ext, elen) != 0)
        return 0;
    rest += elen;
    int z;
    if (!*rest)
        z = 0;
    else if (strcmp(rest, ".gz") == 0)
        z = 1;
    else
        return 0;
    long long t;
    if (ka_logset_parse_ts(ts, &t))
        return 0;
    *ts_ms = t;
    *gz = z;
    return 1;
}

/*
 * Guesses the live name a directory entry would be a backup of: name = <prefix>-<TS><ext>[.gz]
 * with ext empty (ext_last 0) or the last ".xxx" (ext_last 1). Confirmed by the caller with
 * ka_logset_is_backup(). Returns 1 with live filled, or 0.
 */
static int guess_live(const char *name, int gz, int ext_last, char *live, size_t cap)
{
    size_t n = strlen(name), ext = 0;
    if (gz) {
        if (n < 3 || strcmp(name + n - 3, ".gz") != 0)
            return 0;
        n -= 3;
    }
    if (ext_last) {
        const char *dot = memrchr(name, '.', n);
        if (!dot)
            return 0;
        ext = n - (size_t)(dot - name);
    }
    size_t stem = n - ext;
    if (stem < KA_LOGSET_TS_LEN + 2 || name[stem - KA_LOGSET_TS_LEN - 1] != '-')
        return 0;
    size_t plen = stem - KA_LOGSET_TS_LEN - 1;
    if (plen + ext + 1 > cap)
        return 0;
    memcpy(live, name, plen);
    memcpy(live + plen, name + stem, ext);
    live[plen + ext] = 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Set order: live name, then backups (oldest first, plain before its .gz twin), then live. */
static int cmp_ent(const void *pa, const void *pb)
{
    const struct ent *a = pa, *b = pb;
    int c = strcmp(a->live, b->live);
    if (c)
        return c;
    int ka = a->kind == KA_LOGSET_BACKUP ? 0 : 1, kb = b->kind == KA_LOGSET_BACKUP ? 0 : 1;
    if (ka != kb)
        return ka - kb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->gz != b->gz)
        return a->gz - b->gz;
    return strcmp(a->name, b->name);
}

/* Sorts, sets LIVE on files that have backups, sends .gz twins to skipped, appends to s. */
static int emit(struct ents *e, const char *pre, struct ka_logset *s)
{
    if (e->n > 1)
        qsort(e->v, e->n, sizeof *e->v, cmp_ent);
    for (size_t i = 0; i < e->n; i++) {
        struct ent *x = &e->v[i], *prev = i ? &e->v[i - 1] : NULL;
        int same_set = prev && strcmp(prev->live, x->live) == 0;
        int twin = same_set && x->kind == KA_LOGSET_BACKUP && prev->kind == KA_LOGSET_BACKUP &&
                   prev->ts == x->ts && !prev->gz && x->gz;
        if (x->kind != KA_LOGSET_BACKUP && same_set && prev->kind == KA_LOGSET_BACKUP)
            x->kind = KA_LOGSET_LIVE;
        int rc = add_path(s, twin, pre, x->name, x->kind, x->gz, x->ts);
        if (rc)
            return rc;
    }
    return KA_OK;
}

typedef int (*name_fn)(void *ud, int dfd, const char *name);

/* Calls fn for every entry of dir except "." and "..". */
static int each_name(const char *dir, name_fn fn, void *ud)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? KA_ENOENT : KA_EIO;
    int rc = KA_OK;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((rc = fn(ud, dirfd(d), de->d_name)) != KA_OK)
            break;
        errno = 0;
    }
    if (!rc && errno)
        rc = KA_EIO;
    int saved = errno;
    closedir(d);
    errno = saved;
    return rc;
}

static int is_regular(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

/* --- a log path: its backups in the same directory, then itself */

struct path_ctx {
    const char *base;
    struct ents e;
};

static int on_path_name(void *ud, int dfd, const char *name)
{
    struct path_ctx *c = ud;
    long long ts;
    int gz;
    if (!ka_logset_is_backup(c->base, name, &ts, &gz) || !is_regular(dfd, name))
        return KA_OK;
    return ents_push(&c->e, name, c->base, KA_LOGSET_BACKUP, gz, ts);
}

static int expand_path(const char *arg, int exists, size_t max, struct ka_logset *s)
{
    const char *slash = strrchr(arg, '/');
    struct path_ctx c = {.base = slash ? slash + 1 : arg, .e = {.max = max}};
    size_t plen = (size_t)(c.base - arg);
    char pre[KA_LOGSET_MAX_PATH], dir[KA_LOGSET_MAX_PATH];
    if (!*c.base)
        return KA_ENOENT;
    memcpy(pre, arg, plen);
    pre[plen] = 0;
    snprintf(dir, sizeof dir, "%s", plen ? pre : ".");
    int rc = each_name(dir, on_path_name, &c);
    /* The live file comes last; it is read even when its directory cannot be listed. */
    if (exists && (rc == KA_OK || (rc != KA_ENOMEM && rc != KA_ETOOBIG)))
        rc = ents_push(&c.e, c.base, c.base, KA_LOGSET_LIVE, 0, 0);
    if (rc == KA_OK && c.e.n == 0)
        rc = KA_ENOENT;
    if (rc == KA_OK)
        rc = emit(&c.e, pre, s);
    ents_free(&c.e);
    return rc;
}

/* --- a directory: every log set in it */

struct dir_ctx {
    char **names;
    size_t n, cap, max;
};

static int on_dir_name(void *ud, int dfd, const char *name)
{
    struct dir_ctx *c = ud;
    if (name[0] == '.' || !is_regular(dfd, name))
        return KA_OK;
    if (c->n >= c->max)
        return KA_ETOOBIG;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        char **v = realloc(c->names, nc * sizeof *v);
        if (!v)
            return KA_ENOMEM;
        c->names = v;
        c->cap = nc;
    }
    if (!(c->names[c->n] = strdup(name)))
        return KA_ENOMEM;
    c->n++;
    return KA_OK;
}

/* Classifies one name; prefers the reading whose live file is present in the directory. */
static int classify(const struct dir_ctx *c, const char *name, int no_backups, struct ents *e)
{
    static const int tries[4][2] = {{1, 1}, {1, 0}, {0, 1}, {0, 0}}; /* {gz, ext_last} */
    char live[KA_LOGSET_MAX_PATH], best[KA_LOGSET_MAX_PATH] = "";
    long long ts = 0, bts = 0;
    int gz = 0, bgz = 0;
    for (int i = 0; i < 4; i++) {
        if (!guess_live(name, tries[i][0], tries[i][1], live, sizeof live) ||
            !ka_logset_is_backup(live, name, &ts, &gz))
            continue;
        const char *key = live;
        int present = bsearch(&key, c->names, c->n, sizeof *c->names, cmp_str) != NULL;
        if (!best[0] || present) {
            memcpy(best, live, strlen(live) + 1);
            bts = ts;
            bgz = gz;
        }
        if (present)
            break;
    }
    if (!best[0])
        return ents_push(e, name, name, KA_LOGSET_PLAIN, 0, 0);
    return no_backups ? KA_OK : ents_push(e, name, best, KA_LOGSET_BACKUP, bgz, bts);
}

static int expand_dir(const char *arg, const struct ka_logset_opts *o, struct ka_logset *s)
{
    struct dir_ctx c = {.max = o->max_files};
    struct ents e = {.max = o->max_files};
    char pre[KA_LOGSET_MAX_PATH];
    size_t al = strlen(arg);
    snprintf(pre, sizeof pre, "%s%s", arg, al && arg[al - 1] == '/' ? "" : "/");
    int rc = each_name(arg, on_dir_name, &c);
    if (rc == KA_OK && c.n > 0)
        qsort(c.names, c.n, sizeof *c.names, cmp_str);
    for (size_t i = 0; rc == KA_OK && i < c.n; i++)
        rc = classify(&c, c.names[i], o->no_backups, &e);
    if (rc == KA_OK)
        rc = emit(&e, pre, s);
    for (size_t i = 0; i < c.n; i++)
        free(c.names[i]);
    free(c.names);
    ents_free(&e);
    return rc;
}

static int ends_with_gz(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, ".gz") == 0;
}

int ka_logset_expand(const char *arg, const struct ka_logset_opts *opts, struct ka_logset *set)
{
    struct ka_logset_opts o = opts ? *opts : (struct ka_logset_opts){0};
    if (!o.max_files)
        o.max_files = KA_LOGSET_DEFAULT_MAX_FILES;
    if (strlen(arg) + 1 >= KA_LOGSET_MAX_PATH)
        return KA_ETOOBIG;
    struct ka_logset tmp = {0};
    struct stat st;
    int exists = stat(arg, &st) == 0;
    int missing = !exists && (errno == ENOENT || errno == ENOTDIR);
    int rc;
    if (strcmp(arg, "-") == 0 || (!exists && !missing))
        rc = add_path(&tmp, 0, "", arg, KA_LOGSET_PLAIN, 0, 0); /* opening reports the error */
    else if (exists && S_ISDIR(st.st_mode))
        rc = expand_dir(arg, &o, &tmp);
    else if (o.no_backups || ends_with_gz(arg) || (exists && !S_ISREG(st.st_mode)))
        rc = exists ? add_path(&tmp, 0, "", arg, KA_LOGSET_PLAIN, 0, 0) : KA_ENOENT;
    else
        rc = expand_path(arg, exists, o.max_files, &tmp);
    if (rc == KA_OK)
        rc = move_all(set, &tmp);
    ka_logset_free(&tmp);
    return rc;
}
