/*
 * cmd_send.c - `kaudit send`: reads events and POSTs them the way kube-apiserver's webhook
 * backend does (spec §6): EventLists of up to 400 events, `?timeout=30s`, 200-206 = success,
 * the apiserver's backoff between attempts and Retry-After on 429/5xx. The target is a URL or
 * a webhook kubeconfig (--webhook-config).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/err.h"
#include "kaudit/webhook_client.h"


static const char *const usage =
    "usage: kaudit send URL [options] [FILE...]\n"
    "       kaudit send --webhook-config KUBECONFIG [options] [FILE...]\n"
    "Reads events (JSON lines, .gz, rotated backups, EventList or array documents; no FILE\n"
    "or '-' reads stdin) and POSTs them as kube-apiserver's webhook backend does: one\n"
    "EventList of up to --batch-size events per request to URL (path cleaned, query dropped,\n"
    "?timeout=30s appended); 200-206 is success; otherwise up to --max-attempts attempts\n"
    "with backoff initial*1.5^k (+0-20%% jitter), and Retry-After on 429/5xx is honoured.\n"
    "A batch that fails every attempt is reported and counted, and sending goes on.\n\n"
    "  --webhook-config F      kubeconfig: server, CA, client cert/key, token, basic auth\n"
    "  --batch-size N          events per request (default 400, as the apiserver)\n"
    "  --max-body SIZE         bytes per request; a batch is sent early before it would grow\n"
    "                          larger (default 16M, the collector's limit)\n"
    "  --rate EPS              send at most EPS events per second (default: no limit)\n"
    "  --initial-backoff SEC   wait before the 2nd attempt (default 10, as the apiserver)\n"
    "  --max-attempts N        attempts per batch (default 5)\n"
    "  --timeout SEC           per HTTP request, body included (default 30)\n"
    "  --fail-fast             stop at the first undelivered batch (exit 4)\n"
    "  --max-line SIZE         longest input line (default 16M)\n"
    "  --stats                 print counts and rates on stderr at the end\n"
    "  --acked FILE            after each batch answered 2xx, append \"AUDITID STAGE\" of its\n"
    "                          events to FILE, one per line (what the receiver acknowledged)\n\n"
    "Exit: 0 every event delivered, 1 usage or input error, 2 internal error, 3 some input\n"
    "lines were bad (the rest was delivered), 4 some batches were not delivered.\n\n"
    "example:\n"
    "  kaudit gen --events 100000 | kaudit send http://127.0.0.1:9765/audit --stats\n";

struct scli {
    const char *url, *kubeconfig, *acked;
    struct ka_webhook_opts wo;
    unsigned long long batch, max_body, max_line;
    double rate;
    int fail_fast, stats;
};

struct srun {
    const struct scli *c;
    struct ka_webhook_client *wc;
    struct ka_buf body;
    struct ka_buf keys; /* --acked: "AUDITID STAGE\n" of the pending batch's events */
    FILE *acked;
    unsigned long long in_batch, sent_events, batches, delivered, failed_batches,
        failed_events, too_large, requests, bytes;
    double t0, slept;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bad_arg(const char *flag, const char *arg)
{
    fprintf(stderr, "kaudit send: %s: bad value '%s'\n", flag, arg);
    return -1;
}

static int parse_double(const char *flag, const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > 1e9)
        return bad_arg(flag, s);
    *out = v;
    return 0;
}

static int parse_count(const char *flag, const char *s, unsigned long long max,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max)
        return bad_arg(flag, s);
    *out = v;
    return 0;
}

static int parse_one(struct scli *c, int opt, const char *arg)
{
    unsigned long long v;
    switch (opt) {
    case 'w': c->kubeconfig = arg; return 0;
    case 'b': return parse_count("--batch-size", arg, 1000000, &c->batch);
    case 'B':
        if (ka_cli_parse_size(arg, &c->max_body) || c->max_body < 64)
            return bad_arg("--max-body", arg);
        return 0;
    case 'r': return parse_double("--rate", arg, 1e-6, &c->rate);
    case 'i': return parse_double("--initial-backoff", arg, 1e-6, &c->wo.initial_backoff);
    case 'a':
        if (parse_count("--max-attempts", arg, 1000, &v))
            return -1;
        c->wo.max_attempts = (int)v;
        return 0;
    case 'T': return parse_double("--timeout", arg, 1e-3, &c->wo.timeout);
    case 'f': c->fail_fast = 1; return 0;
    case 'L':
        if (ka_cli_parse_size(arg, &c->max_line) || c->max_line == 0)
            return bad_arg("--max-line", arg);
        return 0;
    case 's': c->stats = 1; return 0;
    case 'k': c->acked = arg; return 0;
    default: return -1;
    }
}

/* Returns -1 on a usage error, 1 after --help, 0 to run. */
static int parse_args(int argc, char **argv, struct scli *c)
{
    static const struct option lo[] = {{"webhook-config", required_argument, 0, 'w'},
                                       {"batch-size", required_argument, 0, 'b'},
                                       {"max-body", required_argument, 0, 'B'},
                                       {"rate", required_argument, 0, 'r'},
                                       {"initial-backoff", required_argument, 0, 'i'},
                                       {"max-attempts", required_argument, 0, 'a'},
                                       {"timeout", required_argument, 0, 'T'},
                                       {"fail-fast", no_argument, 0, 'f'},
                                       {"max-line", required_argument, 0, 'L'},
                                       {"stats", no_argument, 0, 's'},
                                       {"acked", required_argument, 0, 'k'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (opt == '?' || parse_one(c, opt, optarg))
            return -1;
    }
    if (!c->kubeconfig) {
        if (optind >= argc) {
            fputs("kaudit send: a URL or --webhook-config is required\n", stderr);
            return -1;
        }
        c->url = argv[optind++];
    }
    return 0;
}

/* Waits until the events sent so far fit the --rate budget. */
static void pace(struct srun *r)
{
    if (r->c->rate <= 0)
        return;
    double due = r->t0 + (double)r->sent_events / r->c->rate;
    double wait = due - now_s();
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
    }
}

/* Sends the pending batch. Returns 0, or KA_EXIT_UNDELIVERED with --fail-fast. */
static int flush_batch(struct srun *r)
{
    if (r->in_batch == 0)
        return 0;
    if (ka_webhook_body_end(&r->body))
        return KA_EXIT_INTERNAL;
    pace(r);
    struct ka_webhook_result res;
    int rc = ka_webhook_client_send(r->wc, r->body.p, r->body.n, &res);
    r->batches++;
    r->requests += (unsigned long long)res.requests;
    r->slept += res.slept;
    r->bytes += r->body.n;
    r->sent_events += r->in_batch;
    if (rc == KA_OK) {
        r->delivered += r->in_batch;
        if (r->acked && (fwrite(r->keys.p, 1, r->keys.n, r->acked) != r->keys.n ||
                         fflush(r->acked) != 0)) {
            fprintf(stderr, "kaudit send: %s: %s\n", r->c->acked, strerror(errno));
            rc = KA_ENOMEM; /* stop: the record of what was acknowledged is incomplete */
        }
    } else {
        r->failed_batches++;
        r->failed_events += r->in_batch;
        fprintf(stderr, "kaudit send: batch %llu (%llu events) not delivered after %d attempts: "
                "%s\n", r->batches, r->in_batch, res.attempts, res.error);
    }
    r->in_batch = 0;
    ka_buf_reset(&r->body);
    ka_buf_reset(&r->keys);
    if (rc == KA_ENOMEM)
        return KA_EXIT_INTERNAL;
    return rc && r->c->fail_fast ? KA_EXIT_UNDELIVERED : 0;
}

static int on_event(void *ud, const struct ka_event *ev, const char *file, unsigned long line)
{
    struct srun *r = ud;
    for (int pass = 0; pass < 2; pass++) {
        size_t before = r->body.n;
        if (r->in_batch == 0 && ka_webhook_body_begin(&r->body))
            return KA_EXIT_INTERNAL;
        int rc = ka_webhook_body_add(&r->body, ev);
        /* room for "]}\n" */
        if (!rc && r->body.n + 3 > r->c->max_body)
            rc = KA_ETOOBIG;
        if (rc == KA_OK && r->acked)
            rc = ka_buf_printf(&r->keys, "%.*s %.*s\n", (int)ev->auditID.n, ev->auditID.p,
                               (int)ev->stage.n, ev->stage.p);
        if (rc == KA_OK) {
            r->in_batch++;
            return r->in_batch >= r->c->batch ? flush_batch(r) : 0;
        }
        if (rc != KA_ETOOBIG)
            return KA_EXIT_INTERNAL;
        r->body.n = r->in_batch ? before : 0;
        if (r->in_batch == 0)
            break;
        rc = flush_batch(r); /* send what fits, then retry this event in a new batch */
        if (rc)
            return rc;
    }
    fprintf(stderr, "kaudit: %s:%lu: event larger than --max-body; skipped\n", file, line);
    r->too_large++;
    return 0;
}

static void print_stats(const struct srun *r, const struct ka_cli_read_stats *st, double secs)
{
    fprintf(stderr,
            "kaudit send: %llu events read, %llu delivered in %llu batches (%llu requests, "
            "%llu bytes), %llu batches (%llu events) undelivered, %llu bad lines, %llu too "
            "large; %.3f s, %.0f events/s, %.1f s waiting for retries\n",
            st->events, r->delivered, r->batches, r->requests, r->bytes, r->failed_batches,
            r->failed_events, st->bad, r->too_large, secs,
            secs > 0 ? (double)r->delivered / secs : 0.0, r->slept);
}

static int load_target(const struct scli *c, struct ka_webhook_config **cfg)
{
    if (!c->kubeconfig) {
        int rc = ka_webhook_config_from_url(c->url, cfg);
        if (rc)
            fprintf(stderr, "kaudit send: %s: bad URL (http:// or https:// and a host)\n",
                    c->url);
        return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : rc ? KA_EXIT_USAGE : 0;
    }
    struct ka_diag d = {0};
    int rc = ka_kubeconfig_load_file(c->kubeconfig, &d, cfg);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "kaudit send: %s\n", d.v[i].msg);
    if (rc && d.n == 0)
        fprintf(stderr, "kaudit send: %s: %s\n", c->kubeconfig, ka_strerror(rc));
    ka_diag_free(&d);
    return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : rc ? KA_EXIT_USAGE : 0;
}

int ka_cmd_send(int argc, char **argv);

int ka_cmd_send(int argc, char **argv)
{
    struct scli c;
    memset(&c, 0, sizeof c);
    c.batch = 400;
    c.max_body = 16u << 20;
    int pr = parse_args(argc, argv, &c);
    if (pr)
        return pr > 0 ? KA_EXIT_OK : (fputs(usage, stderr), KA_EXIT_USAGE);
    struct ka_webhook_config *cfg = NULL;
    int ret = load_target(&c, &cfg);
    if (ret)
        return ret;
    struct srun r;
    memset(&r, 0, sizeof r);
    r.c = &c;
    ka_buf_init(&r.body, (size_t)c.max_body + 4096);
    ka_buf_init(&r.keys, 0);
    if (c.acked && !(r.acked = fopen(c.acked, "a"))) {
        fprintf(stderr, "kaudit send: %s: %s\n", c.acked, strerror(errno));
        ka_webhook_config_free(cfg);
        ka_buf_free(&r.body);
        return KA_EXIT_USAGE;
    }
    if (ka_webhook_client_new(cfg, &c.wo, &r.wc)) {
        fprintf(stderr, "kaudit send: cannot set up the HTTP client for %s\n", cfg->url);
        ka_webhook_config_free(cfg);
        return KA_EXIT_INTERNAL;
    }
    r.t0 = now_s();
    struct ka_input_opts io = {.max_line = (size_t)c.max_line};
    struct ka_cli_read_stats st = {0};
    ret = ka_cli_read_events(argv + optind, argc - optind, &io, on_event, &r, &st);
    if (!ret)
        ret = flush_batch(&r);
    if (c.stats)
        print_stats(&r, &st, now_s() - r.t0);
    else if (st.bad || r.failed_batches)
        fprintf(stderr, "kaudit send: %llu bad lines skipped, %llu batches (%llu events) "
                "undelivered\n", st.bad + r.too_large, r.failed_batches, r.failed_events);
    if (!ret && r.failed_batches)
        ret = KA_EXIT_UNDELIVERED;
    if (!ret && (st.bad || r.too_large))
        ret = KA_EXIT_BADLINES;
    ka_webhook_client_free(r.wc);
    ka_webhook_config_free(cfg);
    ka_buf_free(&r.body);
    ka_buf_free(&r.keys);
    if (r.acked)
        fclose(r.acked);
    return ret;
}
