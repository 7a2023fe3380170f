/*
 * cmd_write.c - `kaudit write`: reads events and writes them as kube-apiserver's log backend
 * does (JSON or legacy lines, lumberjack rotation, pruning, gzip), with the apiserver's flag
 * names. An optional -p POLICY is applied first with `kaudit policy apply` semantics.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/err.h"
#include "kaudit/logfile.h"
#include "kaudit/policy.h"

static const char *const usage =
    "usage: kaudit write --audit-log-path PATH [options] [FILE...]\n"
    "Reads events (JSON lines, .gz, EventList or array documents; no FILE or '-' reads\n"
    "stdin) and writes them exactly as kube-apiserver's log backend does: one line per\n"
    "event, rotated by lumberjack's rules into PATH's directory as\n"
    "<name>-YYYY-MM-DDTHH-MM-SS.mmm<ext> (UTC), then pruned and compressed.\n\n"
    "  --audit-log-path PATH       file to write ('-' = stdout, no rotation); required\n"
    "  --audit-log-format F        json (default) or legacy\n"
    "  --audit-log-maxsize MB      MiB before rotation (default 100; 0 = never rotate)\n"
    "  --audit-log-maxage DAYS     days to keep backups (default 366; 0 = no limit)\n"
    "  --audit-log-maxbackup N     backups to keep (default 100; 0 = all)\n"
    "  --audit-log-compress[=B]    gzip rotated files (default false)\n"
    "  -p, --policy POLICY         apply an audit policy first (as `kaudit policy apply`)\n"
    "  --strict                    unknown policy fields are errors\n"
    "  --fsync-every N             fsync after every N events (default 0: only at the end)\n"
    "  --no-fsync                  never fsync (benchmarks; data may be lost on a crash)\n"
    "  --coalesce SIZE             gather whole events up to SIZE bytes per write(2) (default\n"
    "                              0: one write per event, as kube-apiserver); the files are\n"
    "                              the same, events reach them in batches\n"
    "  --max-line SIZE             longest input line (default 16M)\n"
    "  --stats                     print counts on stderr at the end\n\n"
    "Exit: 0 ok, 1 usage or input error, 2 write error, 3 some events were bad or too large\n"
    "for the file (the rest was written).\n\n"
    "example:\n"
    "  kaudit gen --events 100000 | kaudit write --audit-log-path /var/log/kubernetes/audit.log \\\n"
    "      --audit-log-maxsize 10 --audit-log-maxbackup 5 --audit-log-compress\n";

struct wcli {
    struct ka_logfile_opts lo;
    const char *policy;
    unsigned policy_flags;
    unsigned long long max_line, fsync_every;
    int stats, no_fsync;
};

struct wrun {
    const struct wcli *c;
    struct ka_policy *pol;
    struct ka_logfile *lf;
    unsigned long long written, drop_level, drop_stage, too_large, since_sync;
};

static int bad_arg(const char *flag, const char *arg)
{
    fprintf(stderr, "kaudit write: %s: bad value '%s'\n", flag, arg);
    return -1;
}

/* A non-negative int, as the apiserver's validation requires. */
static int parse_nonneg(const char *flag, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT_MAX)
        return bad_arg(flag, s);
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!s || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "t") || !strcmp(s, "TRUE"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "f") || !strcmp(s, "FALSE"))
        *out = false;
    else
        return bad_arg("--audit-log-compress", s);
    return 0;
}

static int parse_one(struct wcli *c, int opt, const char *arg)
{
    switch (opt) {
    case 'P': c->lo.path = arg; return 0;
    case 'F':
        if (!strcmp(arg, "json"))
            c->lo.format = KA_LOG_FORMAT_JSON;
        else if (!strcmp(arg, "legacy"))
            c->lo.format = KA_LOG_FORMAT_LEGACY;
        else
            return bad_arg("--audit-log-format", arg);
        return 0;
    case 'S': return parse_nonneg("--audit-log-maxsize", arg, &c->lo.max_size_mb);
    case 'A': return parse_nonneg("--audit-log-maxage", arg, &c->lo.max_age_days);
    case 'B': return parse_nonneg("--audit-log-maxbackup", arg, &c->lo.max_backups);
    case 'C': return parse_bool(arg, &c->lo.compress);
    case 'p': c->policy = arg; return 0;
    case 's': c->policy_flags |= KA_POLICY_STRICT; return 0;
    case 'y': {
        int n;
        if (parse_nonneg("--fsync-every", arg, &n))
            return -1;
        c->fsync_every = (unsigned long long)n;
        return 0;
    }
    case 'L':
        if (ka_cli_parse_size(arg, &c->max_line) || c->max_line == 0)
            return bad_arg("--max-line", arg);
        return 0;
    case 'c': {
        unsigned long long v;
        if (ka_cli_parse_size(arg, &v) || v > (1ull << 30))
            return bad_arg("--coalesce", arg);
        c->lo.coalesce_bytes = (size_t)v;
        return 0;
    }
    case 't': c->stats = 1; return 0;
    case 'n': c->no_fsync = 1; return 0;
    default: return -1;
    }
}

/* Returns -1 on a usage error, 1 after --help, 0 to run. */
static int parse_args(int argc, char **argv, struct wcli *c)
{
    static const struct option lo[] = {{"audit-log-path", required_argument, 0, 'P'},
                                       {"audit-log-format", required_argument, 0, 'F'},
                                       {"audit-log-maxsize", required_argument, 0, 'S'},
                                       {"audit-log-maxage", required_argument, 0, 'A'},
                                       {"audit-log-maxbackup", required_argument, 0, 'B'},
                                       {"audit-log-compress", optional_argument, 0, 'C'},
                                       {"policy", required_argument, 0, 'p'},
                                       {"strict", no_argument, 0, 's'},
                                       {"fsync-every", required_argument, 0, 'y'},
                                       {"max-line", required_argument, 0, 'L'},
                                       {"stats", no_argument, 0, 't'},
                                       {"no-fsync", no_argument, 0, 'n'},
                                       {"coalesce", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "p:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (opt == '?' || parse_one(c, opt, optarg))
            return -1;
    }
    if (!c->lo.path || !c->lo.path[0]) {
        fputs("kaudit write: --audit-log-path is required\n", stderr);
        return -1;
    }
    return 0;
}

/*
 * The policy decision applied as `kaudit policy apply` does: returns false when the event is
 * dropped (level None or omitted stage), else fills wo with the level and the removals.
 */
static bool apply_policy(struct wrun *r, const struct ka_event *ev, struct ka_write_opts *wo)
{
    struct ka_attrs a;
    struct ka_decision d;
    ka_attrs_from_event(ev, &a);
    ka_policy_eval(r->pol, &a, &d);
    if (d.level == KA_LEVEL_NONE) {
        r->drop_level++;
        return false;
    }
    if (ev->stage_v != KA_STAGE_UNKNOWN && (d.omit_stages & KA_STAGE_BIT(ev->stage_v))) {
        r->drop_stage++;
        return false;
    }
    enum ka_level lv = d.level;
    /* An event without a known level takes the policy's; otherwise the lower of the two. */
    if (ev->level.set && ka_level_from_cstr(ev->level.p, ev->level.n) >= 0 && ev->level_v < lv)
        lv = ev->level_v;
    if (lv == KA_LEVEL_NONE) {
        r->drop_level++;
        return false;
    }
    wo->level = ka_level_name(lv);
    wo->drop_request_object = lv < KA_LEVEL_REQUEST;
    wo->drop_response_object = lv < KA_LEVEL_REQUEST_RESPONSE;
    wo->omit_managed_fields = d.omit_managed_fields;
    return true;
}

static int on_event(void *ud, const struct ka_event *ev, const char *file, unsigned long line)
{
    struct wrun *r = ud;
    struct ka_write_opts wo;
    memset(&wo, 0, sizeof wo);
    if (r->pol && !apply_policy(r, ev, &wo))
        return 0;
    struct ka_logfile_stats before, after;
    ka_logfile_stats(r->lf, &before);
    int rc = ka_logfile_write_event(r->lf, ev, &wo);
    ka_logfile_stats(r->lf, &after);
    if (rc && after.too_large > before.too_large) {
        fprintf(stderr,
                "kaudit: %s:%lu: event larger than --audit-log-maxsize (%d MiB); dropped\n",
                file, line, r->c->lo.max_size_mb);
        r->too_large++;
        return 0;
    }
    if (rc) {
        fprintf(stderr, "kaudit: %s:%lu: cannot write to %s: %s%s%s\n", file, line,
                r->c->lo.path, ka_strerror(rc), rc == KA_EIO ? ": " : "",
                rc == KA_EIO ? strerror(errno) : "");
        return KA_EXIT_INTERNAL;
    }
    r->written++;
    if (r->c->fsync_every && !r->c->no_fsync && ++r->since_sync >= r->c->fsync_every) {
        r->since_sync = 0;
        if (ka_logfile_sync(r->lf)) {
            fprintf(stderr, "kaudit: fsync %s: %s\n", r->c->lo.path, strerror(errno));
            return KA_EXIT_INTERNAL;
        }
    }
    return 0;
}

static void print_stats(const struct wrun *r, const struct ka_cli_read_stats *st)
{
    struct ka_logfile_stats ls;
    ka_logfile_stats(r->lf, &ls);
    fprintf(stderr,
            "kaudit: %llu events read (%llu bytes), %llu written (%llu bytes), %llu rotations, "
            "%llu fsyncs, %llu dropped at level None, %llu dropped by omitStages, "
            "%llu too large, %llu bad lines\n",
            st->events, st->bytes, r->written, (unsigned long long)ls.bytes,
            (unsigned long long)ls.rotations, (unsigned long long)ls.syncs, r->drop_level,
            r->drop_stage, r->too_large, st->bad);
}

static int load_policy(const struct wcli *c, struct ka_policy **out)
{
    struct ka_diag d = {0};
    int rc = ka_policy_load_file(c->policy, c->policy_flags, &d, out);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s%s\n", d.v[i].sev == KA_SEV_WARNING ? "warning: " : "", d.v[i].msg);
    if (rc && d.n == 0)
        fprintf(stderr, "kaudit: %s: %s\n", c->policy, ka_strerror(rc));
    ka_diag_free(&d);
    return rc ? (rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE) : 0;
}

int ka_cmd_write(int argc, char **argv)
{
    struct wcli c;
    memset(&c, 0, sizeof c);
    ka_logfile_opts_default(&c.lo);
    int pr = parse_args(argc, argv, &c);
    if (pr)
        return pr > 0 ? KA_EXIT_OK : (fputs(usage, stderr), KA_EXIT_USAGE);
    struct wrun r;
    memset(&r, 0, sizeof r);
    r.c = &c;
    int ret = c.policy ? load_policy(&c, &r.pol) : 0;
    if (ret)
        return ret;
    int rc = ka_logfile_open(&c.lo, &r.lf);
    if (rc) {
        fprintf(stderr, "kaudit: %s: %s%s%s\n", c.lo.path, ka_strerror(rc),
                rc == KA_EIO ? ": " : "", rc == KA_EIO ? strerror(errno) : "");
        ka_policy_free(r.pol);
        return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE;
    }
    struct ka_input_opts io = {.max_line = (size_t)c.max_line};
    struct ka_cli_read_stats st = {0};
    ret = ka_cli_read_events(argv + optind, argc - optind, &io, on_event, &r, &st);
    if (!c.no_fsync && ka_logfile_sync(r.lf)) {
        fprintf(stderr, "kaudit: fsync %s: %s\n", c.lo.path, strerror(errno));
        ret = ret ? ret : KA_EXIT_INTERNAL;
    }
    ka_logfile_mill_wait(r.lf);
    if (c.stats)
        print_stats(&r, &st);
    else if (st.bad || r.too_large)
        fprintf(stderr, "kaudit: %llu bad lines skipped, %llu events too large dropped\n",
                st.bad, r.too_large);
    if (!ret && (st.bad || r.too_large))
        ret = KA_EXIT_BADLINES;
    ka_logfile_close(r.lf);
    ka_policy_free(r.pol);
    return ret;
}
