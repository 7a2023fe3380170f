/*
 * cmd_ship.c - `kaudit ship`: sends existing audit logs (or a journal) to one output through
 * the forwarding engine, once: backfills, cron jobs, and the tests of the engine.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/forward.h"
#include "kaudit/journal.h"

static const char ka_ship_usage[] =
    "usage: kaudit ship --output URL [options] [FILE...]\n"
    "Sends the events of FILE arguments (with rotated backups and .gz; stdin when none) to one\n"
    "output through the forwarding engine, waits until every event is delivered or\n"
    "dead-lettered, and prints a summary. Outputs: clickhouse://HOST:8123/DB?table=T,\n"
    "clickhouses://, syslog+tcp://HOST:514, syslog+tls://HOST:6514, syslog+udp://HOST:514,\n"
    "and every other output of docs/forwarding.md.\n\n"
    "  --output URL       the destination (required)\n"
    "  --option K=V       an engine option (batch_events, batch_bytes, batch_ms, concurrency,\n"
    "                     retries, backoff_min_ms, backoff_max_ms, timeout_ms, ca, cert, key,\n"
    "                     insecure, max_event, policy, dead_letter, name) or a URL parameter\n"
    "  --dead-letter FILE where undeliverable events go (default ./<name>.dead.jsonl)\n"
    "  --policy FILE      forward only what this audit policy keeps, at its level\n"
    "  --retries N        resends of an event before it is dead-lettered (default 10; 0 = forever)\n"
    "  --journal DIR      read kaudit's journal DIR through the cursor fwd-<name> instead of files\n"
    "  --until-idle       with --journal: exit once everything is delivered and the journal\n"
    "                     has been idle for a second (default: run until SIGINT/SIGTERM)\n"
    "  --no-backups       read only the files named, not their rotated backups\n"
    "  -q, --quiet        no progress bar\n"
    "exit: 0 every event delivered or dead-lettered, 1 usage, 2 internal error,\n"
    "      4 interrupted or the output failed (events left undelivered)\n";

static volatile sig_atomic_t ka_ship_stop;

static void on_signal(int sig)
{
    (void)sig;
    ka_ship_stop = 1;
}

struct ship {
    struct ka_forward *f;
    struct ka_buf line;
    bool progress;
    struct timespec t0, last;
    unsigned long long pushed;
};

static double since(const struct timespec *a)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - a->tv_sec) + (double)(t.tv_nsec - a->tv_nsec) / 1e9;
}

static void show_progress(struct ship *s, bool force)
{
    if (!s->progress || (!force && since(&s->last) < 0.25)) return;
    clock_gettime(CLOCK_MONOTONIC, &s->last);
    struct ka_forward_stats st;
    ka_forward_stats(s->f, 0, &st);
    double el = since(&s->t0);
    fprintf(stderr, "\r\033[K%s: read %llu  sent %llu  dead %llu  in flight %llu  %.0f ev/s",
            st.name, (unsigned long long)st.read, (unsigned long long)st.sent,
            (unsigned long long)st.dead_lettered, (unsigned long long)st.in_flight,
            el > 0 ? (double)st.sent / el : 0.0);
}

static void on_log(void *ud, enum ka_sev sev, const char *msg)
{
    struct ship *s = ud;
    if (s->progress) fputs("\r\033[K", stderr);
    fprintf(stderr, "kaudit ship: %s%s\n", sev == KA_SEV_ERROR ? "error: " : "", msg);
}

static int on_event(void *ud, const struct ka_event *ev, const char *file, unsigned long line)
{
    struct ship *s = ud;
    struct ka_write_opts wo = {0};
    ka_buf_reset(&s->line);
    if (ka_event_write(ev, &wo, &s->line)) {
        fprintf(stderr, "kaudit ship: %s:%lu: cannot encode the event\n", file, line);
        return 0;
    }
    if (ka_ship_stop || ka_forward_push(s->f, s->line.p, s->line.n - 1)) return KA_EXIT_UNDELIVERED;
    s->pushed++;
    show_progress(s, false);
    return 0;
}

struct ship_args {
    struct ka_forward_output_cfg cfg;
    const char *journal;
    bool until_idle, quiet, no_backups;
    int first_file;
};

static int parse_args(int argc, char **argv, struct ship_args *a)
{
    ka_forward_cfg_default(&a->cfg);
    a->cfg.max_retries = 10;
    int i = 1;
    for (; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!o) return -1;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return -2;
        if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) a->quiet = true;
        else if (!strcmp(o, "--until-idle")) a->until_idle = true;
        else if (!strcmp(o, "--no-backups")) a->no_backups = true;
        else if (!strcmp(o, "--output") && has) a->cfg.url = argv[++i];
        else if (!strcmp(o, "--dead-letter") && has) a->cfg.dead_letter = argv[++i];
        else if (!strcmp(o, "--policy") && has) a->cfg.policy_file = argv[++i];
        else if (!strcmp(o, "--journal") && has) a->journal = argv[++i];
        else if (!strcmp(o, "--retries") && has) {
            char kv[64];
            snprintf(kv, sizeof kv, "retries=%s", argv[++i]);
            if (ka_forward_cfg_option(&a->cfg, kv)) return -1;
        } else if (!strcmp(o, "--option") && has) {
            if (a->cfg.n_options == KA_FORWARD_MAX_OPTIONS || !strchr(v, '=')) return -1;
            a->cfg.options[a->cfg.n_options++] = argv[++i];
        } else if (!strcmp(o, "--") ) {
            i++;
            break;
        } else if (o[0] == '-' && o[1]) {
            return -1;
        } else break;
    }
    a->first_file = i;
    return a->cfg.url ? 0 : -1;
}

static int summary(struct ka_forward *f, const struct ship_args *a, const char *dl,
                   unsigned long long bad)
{
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    fprintf(stderr,
            "kaudit ship: %s: %llu events read, %llu delivered, %llu dead-lettered%s%s%s, "
            "%llu filtered, %llu retried sends, %llu requests (%llu failed)%s\n",
            st.name, (unsigned long long)st.read, (unsigned long long)st.sent,
            (unsigned long long)st.dead_lettered, st.dead_lettered ? " (" : "",
            st.dead_lettered ? dl : "", st.dead_lettered ? ")" : "",
            (unsigned long long)st.filtered, (unsigned long long)st.retried,
            (unsigned long long)st.requests, (unsigned long long)st.request_errors,
            bad ? ", some input lines were bad" : "");
    (void)a;
    bool all = st.sent + st.dead_lettered + st.filtered == st.read && !st.in_flight;
    return all ? KA_EXIT_OK : KA_EXIT_UNDELIVERED;
}

static int run_journal(struct ship *s, const struct ship_args *a, struct ka_forward_opts *fo)
{
    struct ka_journal_opts jo;
    struct ka_journal *j = NULL;
    char err[256];
    ka_journal_opts_default(&jo);
    jo.dir = a->journal;
    if (ka_journal_open(&jo, &j)) {
        fprintf(stderr, "kaudit ship: cannot open the journal %s\n", a->journal);
        return KA_EXIT_USAGE;
    }
    if (ka_forward_start(j, &a->cfg, 1, fo, &s->f, err, sizeof err)) {
        fprintf(stderr, "kaudit ship: %s\n", err);
        ka_journal_close(j);
        return KA_EXIT_USAGE;
    }
    int idle = 0;
    while (!ka_ship_stop && idle < 5) {
        usleep(200 * 1000);
        show_progress(s, false);
        idle = a->until_idle && ka_forward_idle(s->f) ? idle + 1 : 0;
    }
    show_progress(s, true);
    if (s->progress) fputc('\n', stderr);
    int rc = summary(s->f, a, "", 0);
    ka_forward_stop(s->f);
    ka_journal_close(j);
    return idle >= 5 ? rc : KA_EXIT_OK;
}

int ka_cmd_ship(int argc, char **argv)
{
    struct ship_args a;
    memset(&a, 0, sizeof a);
    int pr = parse_args(argc, argv, &a);
    if (pr) {
        fputs(ka_ship_usage, pr == -2 ? stdout : stderr);
        return pr == -2 ? KA_EXIT_OK : KA_EXIT_USAGE;
    }
    struct ship s = {0};
    s.progress = !a.quiet && isatty(2);
    clock_gettime(CLOCK_MONOTONIC, &s.t0);
    struct ka_forward_opts fo = {".", on_log, &s};
    char dl[600];
    if (!a.cfg.dead_letter) {
        snprintf(dl, sizeof dl, "./%s.dead.jsonl", a.cfg.name ? a.cfg.name : "ship");
        a.cfg.dead_letter = dl;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (a.journal) return run_journal(&s, &a, &fo);
    char err[256];
    if (ka_forward_start_source(&a.cfg, 1, &fo, &s.f, err, sizeof err)) {
        fprintf(stderr, "kaudit ship: %s\n", err);
        return KA_EXIT_USAGE;
    }
    ka_buf_init(&s.line, 0);
    struct ka_input_opts io = {0};
    io.no_backups = a.no_backups;
    struct ka_cli_read_stats rs = {0};
    int rc = ka_cli_read_events(argv + a.first_file, argc - a.first_file, &io, on_event, &s, &rs);
    int frc = rc == KA_EXIT_UNDELIVERED ? KA_EIO : ka_forward_finish(s.f);
    show_progress(&s, true);
    if (s.progress) fputc('\n', stderr);
    int ex = summary(s.f, &a, a.cfg.dead_letter, rs.bad);
    ka_forward_stop(s.f);
    ka_buf_free(&s.line);
    if (frc) ex = KA_EXIT_UNDELIVERED;
    if (ex == KA_EXIT_OK && rc) ex = rc;
    return ex;
}
