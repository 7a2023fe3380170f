/* cli_util.c - shared helpers of the subcommands (see cli_util.h). */
#include "cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "kaudit/err.h"
#include "kaudit/logset.h"

static void report_open_error(const char *name, int rc)
{
    const char *why = rc == KA_ENOENT ? strerror(ENOENT)
                      : rc == KA_EIO  ? strerror(errno)
                                      : ka_strerror(rc);
    fprintf(stderr, "kaudit: %s: %s\n", name, why);
}

/* A record that did not give an event: reports it, counts it. */
static void report_bad(const char *name, const struct ka_record *rec, unsigned long line,
                       unsigned long col, const char *msg, struct ka_cli_read_stats *st)
{
    if (rec->no_newline && rec->err != KA_ETOOBIG) {
        fprintf(stderr,
                "kaudit: %s:%lu: truncated last line (no newline at end of file); skipped\n",
                name, rec->line);
        st->truncated++;
        return;
    }
    if (col)
        fprintf(stderr, "kaudit: %s:%lu:%lu: %s\n", name, line, col, msg);
    else
        fprintf(stderr, "kaudit: %s:%lu: %s\n", name, line, msg);
    st->bad++;
}

static int read_one(const char *file, const struct ka_input_opts *io, ka_cli_event_fn fn,
                    void *ud, struct ka_cli_read_stats *st)
{
    struct ka_input *in = NULL;
    const char *name = strcmp(file, "-") ? file : "<stdin>";
    int rc = ka_input_open(file, io, &in);
    if (rc) {
        report_open_error(name, rc);
        return KA_EXIT_USAGE;
    }
    st->files++;
    struct ka_record rec;
    struct ka_event ev;
    struct ka_scan_err se;
    int ret = 0;
    while ((rc = ka_input_next(in, &rec)) == 1) {
        if (rec.err) {
            report_bad(name, &rec, rec.line, 0, rec.msg, st);
            continue;
        }
        if (ka_event_scan(rec.p, rec.n, &io->scan, &ev, &se) != 0) {
            unsigned long l, c;
            ka_linecol(rec.p, se.off, &l, &c);
            report_bad(name, &rec, rec.line + l - 1, c, se.msg, st);
            continue;
        }
        st->events++;
        if ((ret = fn(ud, &ev, name, rec.line)) != 0)
            break;
    }
    if (rc < 0) {
        fprintf(stderr, "kaudit: %s: read error: %s\n", name, ka_strerror(rc));
        ret = KA_EXIT_USAGE;
    }
    st->bytes += ka_input_bytes(in);
    ka_input_close(in);
    return ret;
}

/* Expands one argument and reads its files in order. */
static int read_arg(const char *arg, const struct ka_input_opts *io, ka_cli_event_fn fn,
                    void *ud, struct ka_cli_read_stats *st)
{
    struct ka_logset set = {0};
    struct ka_logset_opts lo = {.no_backups = io->no_backups};
    int rc = ka_logset_expand(arg, &lo, &set);
    if (rc) {
        report_open_error(arg, rc);
        return KA_EXIT_USAGE;
    }
    int ret = 0;
    for (size_t i = 0; i < set.n; i++) {
        rc = read_one(set.files[i].path, io, fn, ud, st);
        if (rc && !ret)
            ret = rc;
        if (rc && rc != KA_EXIT_USAGE)
            break;
    }
    ka_logset_free(&set);
    return ret;
}

int ka_cli_read_events(char **files, int n, const struct ka_input_opts *io, ka_cli_event_fn fn,
                       void *ud, struct ka_cli_read_stats *st)
{
    static char dash[] = "-";
    char *std[] = {dash};
    struct ka_input_opts none = {0};
    if (!io)
        io = &none;
    if (n == 0) {
        files = std;
        n = 1;
    }
    int ret = 0;
    for (int i = 0; i < n; i++) {
        int rc = read_arg(files[i], io, fn, ud, st);
        if (rc && !ret)
            ret = rc;
        if (rc && rc != KA_EXIT_USAGE)
            break;
    }
    return ret;
}

int ka_cli_flush(struct ka_buf *b, FILE *f, size_t min)
{
    if (b->n < min || b->n == 0)
        return 0;
    size_t want = b->n;
    size_t w = fwrite(b->p, 1, want, f);
    b->n = 0;
    return w != want ? -1 : 0;
}

int ka_cli_parse_size(const char *s, unsigned long long *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned long long mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': mul = 1ull << 10; break;
    case 'M': mul = 1ull << 20; break;
    case 'G': mul = 1ull << 30; break;
    case 'T': mul = 1ull << 40; break;
    default: return -1;
    }
    if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
        !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' &&
          !end[3]))
        return -1;
    if (v > ~0ull / mul)
        return -1;
    *out = v * mul;
    return 0;
}
