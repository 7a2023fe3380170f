/*
 * cmd_policy.c - `kaudit policy check|eval|apply`: the audit policy engine on files.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/err.h"
#include "kaudit/jsonw.h"
#include "kaudit/policy.h"

#define KA_OUT_FLUSH (1u << 20)

static const char *const usage_check =
    "usage: kaudit policy check [--strict] FILE...\n"
    "Loads and validates audit policies (audit.k8s.io/v1 Policy, YAML or JSON) exactly as\n"
    "kube-apiserver does. Prints one summary line per valid file, or every error as\n"
    "FILE:LINE:COL: field.path: message. Unknown and duplicate fields are warnings, errors\n"
    "with --strict.\n\n"
    "example:\n  kaudit policy check deploy/audit-policy.yaml\n";

static const char *const usage_eval =
    "usage: kaudit policy eval -p POLICY [--strict] [--max-line SIZE] [--no-backups] [FILE...]\n"
    "Prints the policy's decision for every event, one JSON line each, in input order:\n"
    "  {\"auditID\":..,\"stage\":..,\"level\":..,\"omitStages\":[..],\"omitManagedFields\":..,"
    "\"rule\":N|null}\n"
    "FILE may be an audit log (JSON lines), a .gz file, a JSON document (Event, EventList,\n"
    "array) or a directory; no FILE or '-' reads stdin. A log path such as audit.log is read\n"
    "with its rotated backups (audit-<time>.log[.gz]), oldest first, then the live file;\n"
    "--no-backups reads only the file named. A directory: each of its log sets, by name.\n"
    "Bad lines are reported on stderr and skipped (exit 3 at the end); so are lines longer\n"
    "than --max-line (default 16M). A last line without newline that does not parse (a\n"
    "crash cut it) is a warning only: skipped, and the exit code stays 0.\n\n"
    "example:\n  kaudit policy eval -p deploy/audit-policy.yaml /var/log/kubernetes/audit.log\n";

static const char *const usage_apply =
    "usage: kaudit policy apply -p POLICY [--strict] [--stats] [--max-line SIZE] [--no-backups]\n"
    "                           [FILE...]\n"
    "Writes what kube-apiserver's log backend would keep under POLICY: drops events whose\n"
    "level is None or whose stage is omitted, removes requestObject below Request and\n"
    "responseObject below RequestResponse, removes metadata.managedFields when\n"
    "omitManagedFields, lowers `level` to the lower of the event's and the policy's (an\n"
    "event without a known level takes the policy's), and writes the canonical encoding.\n"
    "--stats prints counts on stderr at the end. FILE, --no-backups, bad and truncated last\n"
    "lines: as for eval (bad lines exit 3).\n\n"
    "example:\n  kaudit gen --events 1000 | kaudit policy apply -p deploy/audit-policy.yaml\n";

static void print_diag(const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s%s\n", d->v[i].sev == KA_SEV_WARNING ? "warning: " : "",
                d->v[i].msg);
}

static int policy_check(int argc, char **argv)
{
    static const struct option lo[] = {
        {"strict", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    unsigned flags = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 's')
            flags |= KA_POLICY_STRICT;
        else if (c == 'h') {
            fputs(usage_check, stdout);
            return KA_EXIT_OK;
        } else {
            fputs(usage_check, stderr);
            return KA_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_check, stderr);
        return KA_EXIT_USAGE;
    }
    int ret = KA_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        struct ka_diag d = {0};
        struct ka_policy *p = NULL;
        int rc = ka_policy_load_file(argv[i], flags, &d, &p);
        print_diag(&d);
        if (rc == 0) {
            unsigned lv = ka_policy_levels_used(p);
            printf("%s: ok: %zu rules; levels:", argv[i], ka_policy_rule_count(p));
            for (int l = KA_LEVEL_NONE; l <= KA_LEVEL_REQUEST_RESPONSE; l++)
                if (lv & (1u << l))
                    printf(" %s", ka_level_name((enum ka_level)l));
            printf("%s\n", d.n_warnings ? " (with warnings)" : "");
        } else {
            if (d.n == 0)
                fprintf(stderr, "%s: %s\n", argv[i], ka_strerror(rc));
            ret = rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE;
        }
        ka_policy_free(p);
        ka_diag_free(&d);
    }
    return ret;
}

struct run {
    struct ka_policy *pol;
    struct ka_buf out, tmp;
    int apply;
    unsigned long long kept, drop_level, drop_stage, written;
};

static int put_str(struct run *r, struct ka_str s)
{
    ka_buf_reset(&r->tmp);
    if (ka_str_decode_buf(s, &r->tmp))
        return -1;
    return ka_jw_str(&r->out, r->tmp.p ? r->tmp.p : "", r->tmp.n);
}

static int eval_line(struct run *r, const struct ka_event *ev, const struct ka_decision *d)
{
    int rc = ka_buf_puts(&r->out, "{\"auditID\":");
    rc = rc ? rc : put_str(r, ev->auditID);
    rc = rc ? rc : ka_buf_puts(&r->out, ",\"stage\":");
    rc = rc ? rc : put_str(r, ev->stage);
    rc = rc ? rc : ka_buf_printf(&r->out, ",\"level\":\"%s\",\"omitStages\":[",
                                 ka_level_name(d->level));
    int first = 1;
    for (int s = KA_STAGE_REQUEST_RECEIVED; !rc && s <= KA_STAGE_PANIC; s++) {
        if (!(d->omit_stages & KA_STAGE_BIT(s)))
            continue;
        rc = ka_buf_printf(&r->out, "%s\"%s\"", first ? "" : ",",
                           ka_stage_name((enum ka_stage)s));
        first = 0;
    }
    rc = rc ? rc : ka_buf_printf(&r->out, "],\"omitManagedFields\":%s,\"rule\":",
                                 d->omit_managed_fields ? "true" : "false");
    if (!rc)
        rc = d->rule < 0 ? ka_buf_puts(&r->out, "null") : ka_jw_int(&r->out, d->rule);
    return rc ? rc : ka_buf_puts(&r->out, "}\n");
}

static int apply_event(struct run *r, const struct ka_event *ev, const struct ka_decision *d)
{
    if (d->level == KA_LEVEL_NONE) {
        r->drop_level++;
        return 0;
    }
    if (ev->stage_v != KA_STAGE_UNKNOWN && (d->omit_stages & KA_STAGE_BIT(ev->stage_v))) {
        r->drop_stage++;
        return 0;
    }
    enum ka_level lv = d->level;
    /* An event without a known level takes the policy's; otherwise the lower of the two. */
    if (ev->level.set && ka_level_from_cstr(ev->level.p, ev->level.n) >= 0 &&
        ev->level_v < lv)
        lv = ev->level_v;
    if (lv == KA_LEVEL_NONE) {
        r->drop_level++;
        return 0;
    }
    struct ka_write_opts wo = {
        .level = ka_level_name(lv),
        .drop_request_object = lv < KA_LEVEL_REQUEST,
        .drop_response_object = lv < KA_LEVEL_REQUEST_RESPONSE,
        .omit_managed_fields = d->omit_managed_fields,
    };
    size_t before = r->out.n;
    int rc = ka_event_write(ev, &wo, &r->out);
    if (rc == 0) {
        r->kept++;
        r->written += r->out.n - before;
    }
    return rc;
}

static int on_event(void *ud, const struct ka_event *ev, const char *file, unsigned long line)
{
    struct run *r = ud;
    struct ka_attrs a;
    struct ka_decision d;
    ka_attrs_from_event(ev, &a);
    ka_policy_eval(r->pol, &a, &d);
    int rc = r->apply ? apply_event(r, ev, &d) : eval_line(r, ev, &d);
    if (rc) {
        fprintf(stderr, "kaudit: %s:%lu: cannot encode event: %s\n", file, line,
                ka_strerror(rc));
        return KA_EXIT_INTERNAL;
    }
    if (ka_cli_flush(&r->out, stdout, KA_OUT_FLUSH)) {
        perror("kaudit: write");
        return KA_EXIT_INTERNAL;
    }
    return 0;
}

static int policy_run(int argc, char **argv, int apply)
{
    static const struct option lo[] = {{"policy", required_argument, 0, 'p'},
                                       {"strict", no_argument, 0, 's'},
                                       {"stats", no_argument, 0, 'S'},
                                       {"max-line", required_argument, 0, 'L'},
                                       {"no-backups", no_argument, 0, 'B'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *usage = apply ? usage_apply : usage_eval;
    const char *policy = NULL;
    unsigned flags = 0;
    int stats = 0, c;
    unsigned long long max_line = 0;
    int no_backups = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "p:h", lo, NULL)) != -1) {
        switch (c) {
        case 'p': policy = optarg; break;
        case 's': flags |= KA_POLICY_STRICT; break;
        case 'S': stats = 1; break;
        case 'B': no_backups = 1; break;
        case 'L':
            if (ka_cli_parse_size(optarg, &max_line) || max_line == 0) {
                fprintf(stderr, "kaudit: --max-line: bad size '%s'\n", optarg);
                return KA_EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage, stdout); return KA_EXIT_OK;
        default: fputs(usage, stderr); return KA_EXIT_USAGE;
        }
    }
    if (!policy) {
        fprintf(stderr, "kaudit: -p POLICY is required\n%s", usage);
        return KA_EXIT_USAGE;
    }
    struct run r = {.apply = apply};
    struct ka_diag d = {0};
    int rc = ka_policy_load_file(policy, flags, &d, &r.pol);
    print_diag(&d);
    ka_diag_free(&d);
    if (rc)
        return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE;
    ka_buf_init(&r.out, 0);
    ka_buf_init(&r.tmp, 0);
    struct ka_input_opts io = {.max_line = (size_t)max_line, .no_backups = no_backups};
    struct ka_cli_read_stats st = {0};
    int ret = ka_cli_read_events(argv + optind, argc - optind, &io, on_event, &r, &st);
    if (ka_cli_flush(&r.out, stdout, 0) || fflush(stdout)) {
        perror("kaudit: write");
        ret = KA_EXIT_INTERNAL;
    }
    if (stats && apply)
        fprintf(stderr,
                "kaudit: %llu events read (%llu bytes), %llu kept (%llu bytes written), "
                "%llu dropped at level None, %llu dropped by omitStages, %llu bad lines\n",
                st.events, st.bytes, r.kept, r.written, r.drop_level, r.drop_stage, st.bad);
    else if (st.bad)
        fprintf(stderr, "kaudit: %llu bad lines skipped\n", st.bad);
    if (!ret && st.bad)
        ret = KA_EXIT_BADLINES;
    ka_buf_free(&r.out);
    ka_buf_free(&r.tmp);
    ka_policy_free(r.pol);
    return ret;
}

int ka_cmd_policy(int argc, char **argv)
{
    static const char *const usage = "usage: kaudit policy check|eval|apply [options] ...\n"
                                     "Run 'kaudit policy <sub> --help' for details.\n";
    if (argc < 2) {
        fputs(usage, stderr);
        return KA_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "check"))
        return policy_check(argc - 1, argv + 1);
    if (!strcmp(sub, "eval"))
        return policy_run(argc - 1, argv + 1, 0);
    if (!strcmp(sub, "apply"))
        return policy_run(argc - 1, argv + 1, 1);
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(usage, stdout);
        fputs(usage_check, stdout);
        fputs(usage_eval, stdout);
        fputs(usage_apply, stdout);
        return KA_EXIT_OK;
    }
    fprintf(stderr, "kaudit policy: unknown subcommand '%s'\n%s", sub, usage);
    return KA_EXIT_USAGE;
}
