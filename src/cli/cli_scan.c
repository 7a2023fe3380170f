/*
 * cli_scan.c - the rows of a query from raw log files, for `kaudit query --file` and the views
 * (cli_query_opts.h): the files are expanded into log sets (rotated backups oldest first,
 * .gz, directories), every line is first checked against the quoted literals the filters
 * need (ka_query_literals) and scanned only when it may match, and ka_rows picks the rows
 * (the latest stage of each auditID, in row order) in bounded memory. Bad lines are reported
 * as file:line:col and skipped; a truncated last line (no newline at the end of the file, as a
 * crash leaves it) is a warning. A progress bar goes to stderr when stderr is a terminal and
 * the scan takes more than a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_query_opts.h"
#include "cmds.h"
#include "kaudit/input.h"
#include "kaudit/logset.h"

struct scan {
    const struct ka_query *q;
    const char *prog;
    struct ka_rows *rows;
    struct ka_qstrs raw_lits, val_lits;
    size_t *raw_lens, *val_lens;
    struct ka_buf id;
    unsigned long long bad, truncated;
    /* progress */
    bool tty, shown;
    struct timespec t0;
    unsigned long long total, done;
};

/* Whether a line may match (false only when it certainly cannot). */
static bool may_match(const struct scan *s, const char *p, size_t n)
{
    for (size_t i = 0; i < s->raw_lits.n; i++)
        if (!ka_query_find(p, n, s->raw_lits.v[i], s->raw_lens[i]))
            return false;
    for (size_t i = 0; i < s->val_lits.n; i++)
        if (!ka_query_find(p, n, s->val_lits.v[i], s->val_lens[i]))
            return !ka_query_line_plain(p, n);
    return true;
}

static int report_bad(struct scan *s, const struct ka_record *rec, const char *file,
                      const struct ka_scan_err *e)
{
    if (rec->no_newline) {
        fprintf(stderr, "kaudit: %s:%lu: truncated last line (no newline at end of file); "
                        "skipped\n", file, rec->line);
        s->truncated++;
        return 0;
    }
    unsigned long l, col;
    ka_linecol(rec->p, e->off, &l, &col);
    fprintf(stderr, "kaudit: %s:%lu:%lu: %s\n", file, rec->line, col, e->msg);
    s->bad++;
    return 0;
}

static int rows_err(const char *prog, int rc)
{
    if (rc == KA_ETOOBIG)
        fprintf(stderr, "%s: too many requests to select in memory (more than %llu events or "
                        "%llu matching events); use --stage any, fewer files, or the store\n",
                prog, (unsigned long long)KA_ROWS_MAX_EVENTS,
                (unsigned long long)KA_ROWS_MAX_CANDIDATES);
    else
        fprintf(stderr, "%s: %s\n", prog, ka_strerror(rc));
    return KA_EXIT_INTERNAL;
}

static int scan_record(struct scan *s, const struct ka_record *rec, const char *file)
{
    bool need_all = ka_rows_needs_all(s->rows);
    if (!may_match(s, rec->p, rec->n)) {
        if (!need_all)
            return 0;
        const char *id;
        size_t idn;
        enum ka_stage st;
        if (!rec->no_newline && ka_query_peek_id(rec->p, rec->n, &id, &idn, &st)) {
            int rc = ka_rows_add(s->rows, id, idn, st, NULL, false, NULL, 0);
            return rc ? rows_err(s->prog, rc) : 0;
        }
    }
    struct ka_event ev;
    struct ka_scan_err e;
    if (ka_event_scan(rec->p, rec->n, NULL, &ev, &e))
        return report_bad(s, rec, file, &e);
    bool m = ka_query_match(s->q, &ev, rec->p, rec->n) && ka_query_stage_ok(s->q, &ev);
    if (!m && !need_all)
        return 0;
    ka_buf_reset(&s->id);
    if (ev.auditID.set && ka_str_decode_buf(ev.auditID, &s->id))
        return rows_err(s->prog, KA_ENOMEM);
    int rc = ka_rows_add(s->rows, s->id.p, s->id.n, ev.stage_v, &ev, m, rec->p, rec->n);
    return rc ? rows_err(s->prog, rc) : 0;
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct scan *s, unsigned long long cur)
{
    double t = elapsed(&s->t0);
    if (!s->tty || t < 1.0 || s->total == 0)
        return;
    unsigned long long done = s->done + cur;
    double f = (double)done / (double)s->total;
    if (f > 0.999)
        f = 0.999;
    char bar[31];
    int k = (int)(f * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < k ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %3d%%  %.0f MB/s  ", bar, (int)(f * 100),
            (double)done / 1e6 / t);
    s->shown = true;
}

static int scan_file(struct scan *s, const char *path)
{
    struct ka_input_opts io = {0};
    struct ka_input *in;
    struct ka_record rec;
    int rc = ka_input_open(path, &io, &in);
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", s->prog, path, strerror(errno));
        return KA_EXIT_USAGE;
    }
    unsigned long n = 0;
    int ex = 0;
    while (ex == 0 && (rc = ka_input_next(in, &rec)) == 1) {
        if (rec.err) {
            fprintf(stderr, "kaudit: %s:%lu: %s\n", path, rec.line, rec.msg);
            s->bad++;
            continue;
        }
        ex = scan_record(s, &rec, path);
        if ((++n & 0xFFFF) == 0)
            progress(s, ka_input_bytes(in));
    }
    if (ex == 0 && rc < 0) {
        fprintf(stderr, "%s: %s: %s\n", s->prog, path, ka_strerror(rc));
        ex = KA_EXIT_USAGE;
    }
    ka_input_close(in);
    return ex;
}

static unsigned long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0;
}

static int expand_files(const struct ka_cqo *o, const char *prog, struct ka_logset *set)
{
    struct ka_logset_opts lo = {.no_backups = o->no_backups};
    for (int i = 0; i < o->nfiles; i++) {
        int rc = ka_logset_expand(o->files[i], &lo, set);
        if (rc) {
            fprintf(stderr, "%s: %s: %s\n", prog, o->files[i],
                    rc == KA_EIO ? strerror(errno) : ka_strerror(rc));
            return KA_EXIT_USAGE;
        }
    }
    return 0;
}

static int scan_init(struct scan *s, const struct ka_query *q, const char *prog)
{
    memset(s, 0, sizeof *s);
    s->q = q;
    s->prog = prog;
    ka_buf_init(&s->id, 4096);
    int rc = ka_query_literals(q, &s->raw_lits, &s->val_lits);
    if (rc == 0 && !(s->raw_lens = calloc(s->raw_lits.n + 1, sizeof(size_t))))
        rc = KA_ENOMEM;
    if (rc == 0 && !(s->val_lens = calloc(s->val_lits.n + 1, sizeof(size_t))))
        rc = KA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < s->raw_lits.n; i++)
        s->raw_lens[i] = strlen(s->raw_lits.v[i]);
    for (size_t i = 0; rc == 0 && i < s->val_lits.n; i++)
        s->val_lens[i] = strlen(s->val_lits.v[i]);
    /* Longest first: the most selective literal rejects most lines in one search. */
    for (size_t i = 1; rc == 0 && i < s->val_lits.n; i++) {
        for (size_t j = i; j > 0 && s->val_lens[j] > s->val_lens[j - 1]; j--) {
            size_t tl = s->val_lens[j];
            char *tv = s->val_lits.v[j];
            s->val_lens[j] = s->val_lens[j - 1];
            s->val_lits.v[j] = s->val_lits.v[j - 1];
            s->val_lens[j - 1] = tl;
            s->val_lits.v[j - 1] = tv;
        }
    }
    if (rc == 0)
        rc = ka_rows_new(q, &s->rows);
    s->tty = isatty(STDERR_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    return rc;
}

static void scan_free(struct scan *s)
{
    ka_qstrs_free(&s->raw_lits);
    ka_qstrs_free(&s->val_lits);
    free(s->raw_lens);
    free(s->val_lens);
    ka_buf_free(&s->id);
    ka_rows_free(s->rows);
}

int ka_cqo_scan_files(const struct ka_cqo *o, const char *prog, ka_cqo_raw_fn fn, void *ud)
{
    struct ka_logset set = {0};
    struct scan s;
    int ex = expand_files(o, prog, &set);
    if (ex == 0 && scan_init(&s, &o->q, prog)) {
        scan_free(&s);
        ka_logset_free(&set);
        return rows_err(prog, KA_ENOMEM);
    }
    if (ex) {
        ka_logset_free(&set);
        return ex;
    }
    for (size_t i = 0; i < set.n; i++)
        s.total += file_size(set.files[i].path);
    for (size_t i = 0; ex == 0 && i < set.n; i++) {
        ex = scan_file(&s, set.files[i].path);
        s.done += file_size(set.files[i].path);
    }
    if (s.shown)
        fputs("\r\033[K", stderr);
    if (ex == 0) {
        int rc = ka_rows_finish(s.rows, fn, ud);
        ex = rc < 0 ? rows_err(prog, rc) : rc;
    }
    if (ex == 0 && (s.bad || s.truncated))
        fprintf(stderr, "%s: %llu bad and %llu truncated lines skipped\n", prog, s.bad,
                s.truncated);
    if (ex == 0 && s.bad)
        ex = KA_EXIT_BADLINES;
    scan_free(&s);
    ka_logset_free(&set);
    return ex;
}
