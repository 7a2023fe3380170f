/*
 * cmd_detect.c - `kaudit detect`: runs Falco-format detection rules (include/kaudit/detect.h)
 * over audit events read from files (rotated backups and .gz included), stdin, or a live log
 * followed across rotations (--follow), and sends one alert per line to stdout and to the
 * optional alert sinks (include/kaudit/alert.h): a rotated JSON-lines file, a webhook, syslog.
 *
 * Without -r the default ruleset is used: $KA_RULES_DIR/kaudit_rules.yaml when that variable is
 * set, else the copy of rules/kaudit_rules.yaml embedded in the binary at build time.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/alert.h"
#include "kaudit/default_rules.h"
#include "kaudit/detect.h"
#include "kaudit/err.h"
#include "kaudit/tail.h"

#define DETECT_MAX_RULE_FILES 64
#define DETECT_MAX_SINKS 4
#define DETECT_IDLE_MS 500
#define DEFAULT_RULES_NAME "kaudit_rules.yaml"

static const char detect_usage[] =
    "usage: kaudit detect [options] [FILE...]\n"
    "Runs detection rules (Falco's rule format, source k8s_audit) over audit events and prints\n"
    "one alert per line. FILE may be a log with rotated backups (read oldest first), a .gz\n"
    "file, a directory of logs, or - for stdin (the default).\n"
    "\n"
    "  -r, --rules FILE        load a rules file (repeatable, in order: later files append\n"
    "                          to or override earlier ones); default: kaudit's own rules\n"
    "                          ($KA_RULES_DIR/kaudit_rules.yaml, else the built-in copy)\n"
    "  -o, --output FMT        json (Falco's JSON alert, the default) or text\n"
    "      --rule-matching M   first (default: only the first matching rule alerts per\n"
    "                          event, as Falco) or all\n"
    "      --min-priority P    skip rules less severe than P (emergency .. debug)\n"
    "      --cluster NAME      cluster name for events without a kaudit.io/cluster\n"
    "                          annotation (%kaudit.cluster in outputs)\n"
    "      --hostname NAME     the alert's hostname (default: this host's name)\n"
    "      --append-field F    add field F to the output_fields of every JSON alert (as\n"
    "                          Falco's append_output extra_fields; repeatable); by default\n"
    "                          ka.auditid and kaudit.cluster are added (null when absent)\n"
    "      --no-append-fields  do not add the default fields: output_fields holds exactly\n"
    "                          Falco's (template fields and evt.time) plus any --append-field\n"
    "      --state-max-keys N  stateful rules (kaudit.window, first_seen, sequence) keep at\n"
    "                          most N keys, least recently used forgotten first\n"
    "                          (default 100000)\n"
    "      --follow            follow FILE (one live log) across rotations, like tail -f\n"
    "      --from-start        with --follow: start at the beginning of the file\n"
    "      --no-backups        read only the files named, not their rotated backups\n"
    "      --alert-file PATH   also append alerts (JSON lines) to PATH, rotated by size\n"
    "      --alert-file-max SIZE  rotate the alert file at SIZE (default 100M, 5 backups)\n"
    "      --alert-webhook URL also POST each alert (JSON) to URL, retried with backoff\n"
    "      --alert-syslog      also send alerts to syslog (/dev/log)\n"
    "      --syslog-addr ADDR  syslog destination: unix:PATH or udp:HOST:PORT\n"
    "  -q, --quiet             no alerts on stdout (only the sinks above)\n"
    "      --list-rules        print the active rules (priority, name, tags) and exit\n"
    "      --stats             print counts on stderr at the end: events, alerts, and the\n"
    "                          stateful rules' keys, evictions, bytes and peak bytes\n"
    "  -h, --help              this help\n"
    "\n"
    "Exit status: 0 (alerts are not errors), 1 usage or rule-file error, 2 internal error,\n"
    "3 some input lines were not audit events (the rest was processed).\n"
    "example: kaudit detect --min-priority warning -o text /var/log/kubernetes/audit.log\n"
    "         kaudit detect -r rules/kaudit_rules.yaml -r local.yaml --follow audit.log\n";

static volatile sig_atomic_t detect_stop;

static void on_signal(int sig)
{
    (void)sig;
    detect_stop = 1;
}

struct detect_cli {
    const char *rules[DETECT_MAX_RULE_FILES];
    int n_rules;
    int text, quiet, follow, from_start, no_backups, list_rules, stats;
    struct ka_detect_opts dopts;
    const char *append[KA_DETECT_MAX_APPEND];
    size_t n_append;
    int no_append;
    const char *cluster;
    struct ka_alert_sink_opts sinks[DETECT_MAX_SINKS];
    int n_sinks;
};

struct detect_run {
    struct ka_detect_ctx *ctx;
    struct ka_alert_sink *sinks[DETECT_MAX_SINKS + 1];
    int n_sinks;
    const char *cluster;
    struct ka_buf json, text, enc;
    unsigned long long events, alerts, bad, sink_errors;
};

static int add_sink(struct detect_cli *c, enum ka_alert_kind kind, const char *arg)
{
    struct ka_alert_sink_opts *o;
    if (c->n_sinks >= DETECT_MAX_SINKS)
        return -1;
    for (int i = 0; i < c->n_sinks; i++)
        if (c->sinks[i].kind == kind) {
            o = &c->sinks[i];
            goto set;
        }
    o = &c->sinks[c->n_sinks++];
    ka_alert_sink_opts_default(o, kind);
set:
    if (!arg)
        return 0;
    if (kind == KA_ALERT_FILE)
        o->path = arg;
    else if (kind == KA_ALERT_WEBHOOK)
        o->url = arg;
    else
        o->syslog_addr = arg;
    return 0;
}

static struct ka_alert_sink_opts *find_sink(struct detect_cli *c, enum ka_alert_kind kind)
{
    for (int i = 0; i < c->n_sinks; i++)
        if (c->sinks[i].kind == kind)
            return &c->sinks[i];
    return NULL;
}

enum {
    O_MATCH = 256, O_MINPRIO, O_CLUSTER, O_HOST, O_FOLLOW, O_FROMSTART, O_NOBACKUPS, O_AFILE,
    O_AFILEMAX, O_AHOOK, O_ASYSLOG, O_SYSADDR, O_LIST, O_STATS, O_STATEKEYS, O_APPEND,
    O_NOAPPEND
};

static const struct option detect_opts[] = {
    {"rules", required_argument, 0, 'r'}, {"output", required_argument, 0, 'o'},
    {"rule-matching", required_argument, 0, O_MATCH},
    {"min-priority", required_argument, 0, O_MINPRIO},
    {"cluster", required_argument, 0, O_CLUSTER}, {"hostname", required_argument, 0, O_HOST},
    {"state-max-keys", required_argument, 0, O_STATEKEYS},
    {"append-field", required_argument, 0, O_APPEND},
    {"no-append-fields", no_argument, 0, O_NOAPPEND},
    {"follow", no_argument, 0, O_FOLLOW}, {"from-start", no_argument, 0, O_FROMSTART},
    {"no-backups", no_argument, 0, O_NOBACKUPS}, {"alert-file", required_argument, 0, O_AFILE},
    {"alert-file-max", required_argument, 0, O_AFILEMAX},
    {"alert-webhook", required_argument, 0, O_AHOOK},
    {"alert-syslog", no_argument, 0, O_ASYSLOG}, {"syslog-addr", required_argument, 0, O_SYSADDR},
    {"quiet", no_argument, 0, 'q'}, {"list-rules", no_argument, 0, O_LIST},
    {"stats", no_argument, 0, O_STATS}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

/* --state-max-keys: a plain decimal number, 1 .. KA_DETECT_STATE_KEYS_MAX. */
static int parse_state_keys(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9')
        return KA_EXIT_USAGE;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > KA_DETECT_STATE_KEYS_MAX)
        return KA_EXIT_USAGE;
    *out = (size_t)v;
    return 0;
}

/* One option; 0, -1 (help printed) or an exit code. */
static int parse_one(struct detect_cli *c, int ch)
{
    unsigned long long v;
    switch (ch) {
    case 'r':
        if (c->n_rules >= DETECT_MAX_RULE_FILES)
            return KA_EXIT_USAGE;
        c->rules[c->n_rules++] = optarg;
        return 0;
    case 'o':
        if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
            return KA_EXIT_USAGE;
        c->text = strcmp(optarg, "text") == 0;
        return 0;
    case O_MATCH:
        if (strcmp(optarg, "first") != 0 && strcmp(optarg, "all") != 0)
            return KA_EXIT_USAGE;
        c->dopts.matching = strcmp(optarg, "all") == 0 ? KA_DETECT_ALL : KA_DETECT_FIRST;
        return 0;
    case O_MINPRIO:
        return ka_prio_parse(optarg, &c->dopts.min_priority) ? KA_EXIT_USAGE : 0;
    case O_CLUSTER: c->cluster = optarg; return 0;
    case O_HOST: c->dopts.hostname = optarg; return 0;
    case O_STATEKEYS: return parse_state_keys(optarg, &c->dopts.state_max_keys);
    case O_APPEND:
        if (c->n_append >= KA_DETECT_MAX_APPEND || !*optarg ||
            strlen(optarg) > KA_DETECT_MAX_APPEND_NAME)
            return KA_EXIT_USAGE;
        c->append[c->n_append++] = optarg;
        return 0;
    case O_NOAPPEND: c->no_append = 1; return 0;
    case O_FOLLOW: c->follow = 1; return 0;
    case O_FROMSTART: c->from_start = 1; return 0;
    case O_NOBACKUPS: c->no_backups = 1; return 0;
    case O_AFILE: return add_sink(c, KA_ALERT_FILE, optarg) ? KA_EXIT_USAGE : 0;
    case O_AFILEMAX:
        if (ka_cli_parse_size(optarg, &v) || v < 1024 || add_sink(c, KA_ALERT_FILE, NULL))
            return KA_EXIT_USAGE;
        find_sink(c, KA_ALERT_FILE)->max_bytes = v;
        return 0;
    case O_AHOOK: return add_sink(c, KA_ALERT_WEBHOOK, optarg) ? KA_EXIT_USAGE : 0;
    case O_ASYSLOG: return add_sink(c, KA_ALERT_SYSLOG, NULL) ? KA_EXIT_USAGE : 0;
    case O_SYSADDR: return add_sink(c, KA_ALERT_SYSLOG, optarg) ? KA_EXIT_USAGE : 0;
    case 'q': c->quiet = 1; return 0;
    case O_LIST: c->list_rules = 1; return 0;
    case O_STATS: c->stats = 1; return 0;
    case 'h': fputs(detect_usage, stdout); return -1;
    default: return KA_EXIT_USAGE;
    }
}

/* The append fields: the defaults (unless --no-append-fields), then each --append-field not
   already listed. Returns 0 or KA_EXIT_USAGE (too many). */
static int set_append(struct detect_cli *c)
{
    const char *all[KA_DETECT_MAX_APPEND];
    size_t n = 0;
    for (size_t i = 0; !c->no_append && i < c->dopts.n_append_fields; i++)
        all[n++] = c->dopts.append_fields[i];
    for (size_t i = 0; i < c->n_append; i++) {
        size_t k = 0;
        while (k < n && strcmp(all[k], c->append[i]) != 0)
            k++;
        if (k < n)
            continue;
        if (n >= KA_DETECT_MAX_APPEND) {
            fputs("kaudit detect: too many --append-field\n", stderr);
            return KA_EXIT_USAGE;
        }
        all[n++] = c->append[i];
    }
    memcpy(c->append, all, n * sizeof(all[0]));
    c->n_append = n;
    c->dopts.append_fields = c->append;
    c->dopts.n_append_fields = n;
    return 0;
}

static int parse_args(int argc, char **argv, struct detect_cli *c)
{
    int ch, rc;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "r:o:qh", detect_opts, NULL)) != -1) {
        rc = parse_one(c, ch);
        if (rc) {
            if (rc > 0 && ch != '?' && optarg)
                fprintf(stderr, "kaudit detect: invalid value '%s'\n", optarg);
            if (rc > 0)
                fputs("(see kaudit detect --help)\n", stderr);
            return rc;
        }
    }
    for (int i = 0; i < c->n_sinks; i++) {
        if ((c->sinks[i].kind == KA_ALERT_FILE && !c->sinks[i].path)) {
            fputs("kaudit detect: --alert-file-max needs --alert-file\n", stderr);
            return KA_EXIT_USAGE;
        }
    }
    if (c->follow && argc - optind != 1) {
        fputs("kaudit detect: --follow takes exactly one FILE\n", stderr);
        return KA_EXIT_USAGE;
    }
    if (c->from_start && !c->follow) {
        fputs("kaudit detect: --from-start needs --follow\n", stderr);
        return KA_EXIT_USAGE;
    }
    return set_append(c);
}

/* ---- rules ------------------------------------------------------------------------------- */

static int readable(const char *path)
{
    return access(path, R_OK) == 0;
}

/* $KA_RULES_DIR/kaudit_rules.yaml when the variable is set: 0 with the path, -1 when unset, 1
 * when set but the file cannot be read. */
static int rules_dir_file(char *out, size_t outlen)
{
    const char *env = getenv("KA_RULES_DIR");
    if (!env || !*env)
        return -1;
    int w = snprintf(out, outlen, "%s/%s", env, DEFAULT_RULES_NAME);
    return w > 0 && (size_t)w < outlen && readable(out) ? 0 : 1;
}

static void print_diag(const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "kaudit detect: %s%s\n",
                d->v[i].sev == KA_SEV_ERROR ? "" : d->v[i].sev == KA_SEV_WARNING ? "warning: " : "note: ",
                d->v[i].msg);
}

static int load_rules(const struct detect_cli *c, struct ka_detect *d)
{
    struct ka_diag diag = {0};
    char def[PATH_MAX];
    int rc = KA_OK;
    if (c->n_rules == 0) {
        int found = rules_dir_file(def, sizeof def);
        if (found > 0) {
            fprintf(stderr, "kaudit detect: %s: cannot read the rules (KA_RULES_DIR)\n", def);
            return KA_EXIT_USAGE;
        }
        rc = found == 0 ? ka_detect_load_file(d, def, &diag)
                        : ka_detect_load_mem(d, KA_DEFAULT_RULES_NAME, ka_default_rules,
                                             ka_default_rules_len, &diag);
    }
    for (int i = 0; i < c->n_rules && rc == KA_OK; i++)
        rc = ka_detect_load_file(d, c->rules[i], &diag);
    if (rc == KA_OK)
        rc = ka_detect_compile(d, &diag);
    print_diag(&diag);
    if (rc != KA_OK && diag.n_errors == 0)
        fprintf(stderr, "kaudit detect: loading rules: %s\n", ka_strerror(rc));
    ka_diag_free(&diag);
    return rc == KA_OK ? 0 : KA_EXIT_USAGE;
}

static void list_rule(void *ud, const struct ka_detect_rule_info *r)
{
    (void)ud;
    if (!r->enabled)
        return;
    printf("%-13s %s [", ka_prio_name(r->priority), r->name);
    for (size_t i = 0; i < r->n_tags; i++)
        printf("%s%s", i ? "," : "", r->tags[i]);
    puts("]");
}

/* ---- evaluation -------------------------------------------------------------------------- */

static int on_alert(void *ud, const struct ka_detect_match *m)
{
    struct detect_run *r = ud;
    struct ka_alert a;
    ka_buf_reset(&r->json);
    ka_buf_reset(&r->text);
    if (ka_detect_format_json(m, &r->json) || ka_detect_format_text(m, &r->text))
        return KA_ENOMEM;
    a.json = r->json.p;
    a.json_len = r->json.n;
    a.text = r->text.p;
    a.text_len = r->text.n;
    a.priority = m->priority;
    a.rule = m->rule;
    r->alerts++;
    for (int i = 0; i < r->n_sinks; i++)
        if (ka_alert_sink_emit(r->sinks[i], &a) != KA_OK)
            r->sink_errors++;
    return 0;
}

/* Evaluates one scanned event, adding the cluster annotation first when asked to. */
static int eval_event(struct detect_run *r, const struct ka_event *ev)
{
    static const char *const key[] = {"kaudit.io/cluster"};
    struct ka_write_opts wo = {0};
    struct ka_event ev2;
    struct ka_scan_err se;
    int rc;
    r->events++;
    if (!r->cluster)
        return ka_detect_eval(r->ctx, ev, on_alert, r);
    wo.add_annotation_keys = key;
    wo.add_annotation_vals = &r->cluster;
    wo.n_add_annotations = 1;
    ka_buf_reset(&r->enc);
    rc = ka_event_write(ev, &wo, &r->enc);
    if (rc == KA_OK)
        rc = ka_event_scan(r->enc.p, r->enc.n, NULL, &ev2, &se);
    return rc == KA_OK ? ka_detect_eval(r->ctx, &ev2, on_alert, r) : rc;
}

static int on_event(void *ud, const struct ka_event *ev, const char *file, unsigned long line)
{
    int rc = eval_event(ud, ev);
    if (rc < 0) {
        fprintf(stderr, "kaudit: %s:%lu: %s\n", file, line, ka_strerror(rc));
        return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : 0;
    }
    return 0;
}

static int on_item(void *ud, const char *p, size_t n, size_t idx)
{
    struct ka_event ev;
    struct ka_scan_err se;
    (void)idx;
    if (ka_event_scan(p, n, NULL, &ev, &se) != KA_OK) {
        ((struct detect_run *)ud)->bad++;
        return 0;
    }
    return eval_event(ud, &ev) == KA_ENOMEM ? KA_ENOMEM : 0;
}

static void on_tail_report(void *ud, enum ka_tail_report kind, uint64_t bytes, const char *msg)
{
    (void)ud;
    (void)bytes;
    if (kind != KA_TAIL_R_ROTATED && kind != KA_TAIL_R_RESUMED)
        fprintf(stderr, "kaudit detect: %s\n", msg);
}

static int run_follow(struct detect_run *r, const struct detect_cli *c, const char *path)
{
    struct ka_tail_opts to = {0};
    struct ka_tail *t;
    struct ka_tail_rec rec;
    struct ka_scan_err se;
    enum ka_doc_kind kind;
    int rc;
    to.path = path;
    to.from_start = c->from_start != 0;
    to.report = on_tail_report;
    rc = ka_tail_open(&to, &t);
    if (rc) {
        fprintf(stderr, "kaudit detect: %s: %s\n", path, ka_strerror(rc));
        return KA_EXIT_USAGE;
    }
    while (!detect_stop) {
        rc = ka_tail_next(t, &rec, DETECT_IDLE_MS);
        if (rc < 0)
            break;
        if (rc == 0) {
            for (int i = 0; i < r->n_sinks; i++)
                (void)ka_alert_sink_flush(r->sinks[i]);
            continue;
        }
        if (ka_doc_scan(rec.line, rec.len, NULL, &kind, on_item, r, &se) != KA_OK) {
            fprintf(stderr, "kaudit: %s:+%llu: %s\n", rec.file, (unsigned long long)rec.offset,
                    se.msg);
            r->bad++;
        }
    }
    ka_tail_close(t);
    return rc < 0 ? KA_EXIT_INTERNAL : 0;
}

static int open_sinks(struct detect_run *r, struct detect_cli *c)
{
    struct ka_alert_sink_opts so;
    int rc;
    if (!c->quiet) {
        ka_alert_sink_opts_default(&so, KA_ALERT_STDOUT);
        so.text = c->text;
        if (ka_alert_sink_new(&so, &r->sinks[r->n_sinks]) != KA_OK)
            return KA_EXIT_INTERNAL;
        r->n_sinks++;
    }
    for (int i = 0; i < c->n_sinks; i++) {
        rc = ka_alert_sink_new(&c->sinks[i], &r->sinks[r->n_sinks]);
        if (rc) {
            fprintf(stderr, "kaudit detect: opening alert sink %s: %s\n",
                    c->sinks[i].path ? c->sinks[i].path
                                     : c->sinks[i].url ? c->sinks[i].url : "syslog",
                    ka_strerror(rc));
            return KA_EXIT_USAGE;
        }
        r->n_sinks++;
    }
    return 0;
}

/* --stats: the run's counts, then the state of the stateful rules (when there are any). */
static void print_stats(const struct detect_run *r)
{
    struct ka_detect_state_stats ss;
    fprintf(stderr, "kaudit detect: %llu events, %llu alerts, %llu bad lines, %llu alerts "
                    "not delivered\n", r->events, r->alerts, r->bad, r->sink_errors);
    if (!r->ctx)
        return;
    ka_detect_ctx_state_stats(r->ctx, &ss);
    fprintf(stderr, "kaudit detect: state: %zu stateful rules, %zu keys (max %zu), "
                    "%llu evictions, %zu bytes, %zu peak bytes, %llu stateful alerts\n",
            ss.rules, ss.keys, ss.max_keys, (unsigned long long)ss.evictions, ss.bytes,
            ss.peak_bytes, (unsigned long long)ss.alerts);
}

static int run(struct detect_cli *c, struct ka_detect *d, char **files, int n)
{
    struct detect_run r;
    struct ka_cli_read_stats st = {0};
    struct ka_input_opts io = {0};
    int rc;
    memset(&r, 0, sizeof r);
    r.cluster = c->cluster;
    ka_buf_init(&r.json, 0);
    ka_buf_init(&r.text, 0);
    ka_buf_init(&r.enc, 0);
    rc = open_sinks(&r, c);
    if (rc == 0 && ka_detect_ctx_new(d, &r.ctx) != KA_OK)
        rc = KA_EXIT_INTERNAL;
    if (rc == 0 && c->follow) {
        rc = run_follow(&r, c, files[0]);
    } else if (rc == 0) {
        io.no_backups = c->no_backups;
        rc = ka_cli_read_events(files, n, &io, on_event, &r, &st);
        r.bad += st.bad;
    }
    for (int i = 0; i < r.n_sinks; i++) {
        if (ka_alert_sink_flush(r.sinks[i]) != KA_OK)
            r.sink_errors++;
        ka_alert_sink_free(r.sinks[i]);
    }
    if (c->stats)
        print_stats(&r);
    ka_detect_ctx_free(r.ctx);
    ka_buf_free(&r.json);
    ka_buf_free(&r.text);
    ka_buf_free(&r.enc);
    if (rc == 0 && r.bad)
        rc = KA_EXIT_BADLINES;
    return rc;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns early */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int ka_cmd_detect(int argc, char **argv)
{
    struct detect_cli c;
    struct ka_detect *d = NULL;
    int rc;
    memset(&c, 0, sizeof c);
    ka_detect_opts_default(&c.dopts);
    rc = parse_args(argc, argv, &c);
    if (rc)
        return rc < 0 ? KA_EXIT_OK : rc;
    if (ka_detect_new(&c.dopts, &d) != KA_OK)
        return KA_EXIT_INTERNAL;
    rc = load_rules(&c, d);
    if (rc == 0 && c.list_rules) {
        ka_detect_each_rule(d, list_rule, NULL);
    } else if (rc == 0) {
        install_signals();
        rc = run(&c, d, argv + optind, argc - optind);
    }
    ka_detect_free(d);
    return rc;
}
