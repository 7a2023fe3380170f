/*
 * cmd_serve.c - `kaudit serve`: the collector. Reads the configuration (one YAML file, flags
 * override its keys), opens the journal under the data directory, starts the webhook intake
 * and the file inputs (inputs.files) and runs until SIGTERM/SIGINT; SIGHUP reloads the policy
 * and reopens the dead-letter file. The journal consumers (store, detection, forwarding;
 * serve_consumers.c) run beside the intake. Shutdown order: file inputs (they append what they
 * hold and commit their checkpoints), then the webhook server, then the consumers (each
 * commits its cursor), then the journal.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../inputs/files/files_input.h"
#include "cmds.h"
#include "serve_consumers.h"
#include "kaudit/buf.h"
#include "kaudit/config.h"
#include "kaudit/err.h"
#include "kaudit/journal.h"
#include "kaudit/webhook_server.h"


static const char *const usage_serve =
    "usage: kaudit serve [-c CONFIG] [--listen ADDR:PORT] [--data-dir DIR]\n"
    "                    [--tls-cert F --tls-key F] [--client-ca F] [--token-file F]\n"
    "                    [--policy F]\n"
    "  Receives kube-apiserver's audit webhook (POST /audit, /k8s-audit, /audit/CLUSTER),\n"
    "  makes each batch durable in DIR/journal/audit.log and only then answers 200.\n"
    "  Follows the audit logs listed in inputs.files (checkpoints in DIR/checkpoints/).\n"
    "  -c CONFIG     YAML configuration (`kaudit config --defaults` prints every key)\n"
    "  flags override the configuration's keys: --listen server.listen, --data-dir\n"
    "  server.data_dir, --tls-cert tls.cert, --tls-key tls.key, --client-ca tls.client_ca,\n"
    "  --token-file auth.token_file, --policy policy.file\n"
    "  signals: SIGTERM/SIGINT stop (in-flight requests finish), SIGHUP reloads the policy\n"
    "  endpoints: /metrics, /healthz, /readyz (docs/serve.md)\n";

#define MAX_FLAGS 32

struct flag_set {
    const char *key[MAX_FLAGS], *val[MAX_FLAGS], *flag[MAX_FLAGS];
    int n;
};

static void print_diag(const struct ka_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "kaudit serve: %s%s\n", d->v[i].sev == KA_SEV_WARNING ? "warning: " : "",
                d->v[i].msg);
}

static void log_line(void *ud, enum ka_sev sev, const char *msg)
{
    (void)ud;
    static const char *const names[] = {"note", "warning", "error"};
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s kaudit serve: %s: %s\n", when, names[sev <= KA_SEV_ERROR ? sev : 2], msg);
}

static int parse_args(int argc, char **argv, const char **config, struct flag_set *fs)
{
    static const struct option lo[] = {{"config", required_argument, 0, 'c'},
                                       {"listen", required_argument, 0, 'l'},
                                       {"data-dir", required_argument, 0, 'd'},
                                       {"tls-cert", required_argument, 0, 'C'},
                                       {"tls-key", required_argument, 0, 'K'},
                                       {"client-ca", required_argument, 0, 'A'},
                                       {"token-file", required_argument, 0, 'T'},
                                       {"policy", required_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    static const struct {
        int opt;
        const char *key, *flag;
    } map[] = {{'l', "server.listen", "--listen"},    {'d', "server.data_dir", "--data-dir"},
               {'C', "tls.cert", "--tls-cert"},       {'K', "tls.key", "--tls-key"},
               {'A', "tls.client_ca", "--client-ca"}, {'T', "auth.token_file", "--token-file"},
               {'p', "policy.file", "--policy"}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "c:p:h", lo, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_serve, stdout);
            return 1;
        }
        if (c == 'c') {
            *config = optarg;
            continue;
        }
        size_t i = 0;
        while (i < sizeof map / sizeof map[0] && map[i].opt != c)
            i++;
        if (i == sizeof map / sizeof map[0] || fs->n >= MAX_FLAGS) {
            fputs(usage_serve, stderr);
            return -1;
        }
        fs->key[fs->n] = map[i].key;
        fs->flag[fs->n] = map[i].flag;
        fs->val[fs->n++] = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "kaudit serve: unexpected argument '%s'\n%s", argv[optind], usage_serve);
        return -1;
    }
    return 0;
}

/* Config file, then flags, then the cross-key checks; fills sc. */
static int load_config(const char *config, const struct flag_set *fs, struct ka_cfg **cfg,
                       struct ka_serve_cfg *sc)
{
    struct ka_diag d = {0};
    int rc = ka_cfg_new(ka_cfg_serve_keys, &d, cfg);
    if (rc == KA_OK && config) rc = ka_cfg_load_file(*cfg, config, &d);
    for (int i = 0; rc == KA_OK && i < fs->n; i++)
        rc = ka_cfg_set(*cfg, fs->key[i], fs->val[i], fs->flag[i], &d);
    rc = rc ? rc : ka_cfg_serve_check(*cfg, &d);
    rc = rc ? rc : ka_cfg_fill(*cfg, sc);
    print_diag(&d);
    ka_diag_free(&d);
    return rc;
}

static int open_journal(const struct ka_serve_cfg *sc, struct ka_journal **j)
{
    if (mkdir(sc->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kaudit serve: %s: %s\n", sc->data_dir, strerror(errno));
        return KA_EIO;
    }
    struct ka_buf dir;
    ka_buf_init(&dir, 4096);
    int rc = ka_buf_printf(&dir, "%s/journal", sc->data_dir);
    struct ka_journal_opts jo;
    ka_journal_opts_default(&jo);
    jo.dir = ka_buf_cstr(&dir);
    jo.segment_mb = (int)(sc->segment_size >> 20);
    jo.compress = sc->compress;
    jo.max_disk = sc->max_disk;
    jo.max_age_sec = sc->max_age_ms / 1000;
    jo.on_full =
        sc->on_full == KA_CFG_ON_FULL_REFUSE ? KA_JOURNAL_FULL_REFUSE : KA_JOURNAL_FULL_DROP;
    jo.log = log_line;
    rc = rc ? rc : (jo.dir ? ka_journal_open(&jo, j) : KA_ENOMEM);
    if (rc)
        fprintf(stderr, "kaudit serve: cannot open the journal in %s/journal: %s\n", sc->data_dir,
                ka_strerror(rc));
    ka_buf_free(&dir);
    return rc;
}

/* Waits for signals (blocked in every thread) until SIGTERM or SIGINT. */
static void run(struct ka_webhook_server *s, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            struct ka_diag d = {0};
            int rc = ka_webhook_reload(s, &d);
            print_diag(&d);
            ka_diag_free(&d);
            log_line(NULL, rc ? KA_SEV_ERROR : KA_SEV_NOTE,
                     rc ? "SIGHUP: reload failed, the previous policy stays"
                        : "SIGHUP: policy reloaded, dead-letter file reopened");
            continue;
        }
        log_line(NULL, KA_SEV_NOTE, sig == SIGINT ? "SIGINT: stopping" : "SIGTERM: stopping");
        return;
    }
}

static int serve(const struct ka_serve_cfg *sc, const sigset_t *set)
{
    struct ka_journal *j = NULL;
    if (open_journal(sc, &j)) return KA_EXIT_INTERNAL;
    struct serve_consumers *cons = NULL;
    struct serve_consumers_opts co = {.log = log_line};
    if (serve_consumers_start(sc, j, &co, &cons) != KA_OK) {
        ka_journal_close(j);
        return KA_EXIT_USAGE;
    }
    /* Retry-After in whole seconds, rounded up (the key's minimum is 1s). */
    struct ka_webhook_opts wo = {.cfg = sc,
                                 .data_dir = sc->data_dir,
                                 .retry_after_sec = (int)((sc->retry_after_ms + 999) / 1000),
                                 .log = log_line};
    ka_webhook_journal_sink(j, &wo.sink);
    struct ka_diag d = {0};
    struct ka_webhook_server *s = NULL;
    int rc = ka_webhook_start(&wo, &d, &s);
    print_diag(&d);
    ka_diag_free(&d);
    if (rc) {
        serve_consumers_stop(cons);
        ka_journal_close(j);
        return rc == KA_ENOMEM ? KA_EXIT_INTERNAL : KA_EXIT_USAGE;
    }
    struct ka_files_input *files = NULL;
    if (ka_files_start(s, sc, log_line, NULL, &files) != KA_OK) {
        ka_webhook_stop(s, 0);
        serve_consumers_stop(cons);
        ka_journal_close(j);
        return KA_EXIT_USAGE;
    }
    const char *host = sc->listen;
    const char *colon = strrchr(host, ':');
    fprintf(stderr, "kaudit serve: listening on %s://%.*s:%u (data: %s)\n",
            ka_webhook_is_tls(s) ? "https" : "http", (int)(colon - host), host, ka_webhook_port(s),
            sc->data_dir);
    run(s, set);
    ka_files_stop(files);
    ka_webhook_stop(s, (int)sc->request_timeout_ms);
    serve_consumers_stop(cons);
    ka_journal_close(j);
    return KA_EXIT_OK;
}

int ka_cmd_serve(int argc, char **argv)
{
    const char *config = NULL;
    struct flag_set fs = {0};
    int a = parse_args(argc, argv, &config, &fs);
    if (a) return a > 0 ? KA_EXIT_OK : KA_EXIT_USAGE;
    struct ka_cfg *cfg = NULL;
    struct ka_serve_cfg sc;
    memset(&sc, 0, sizeof sc);
    if (load_config(config, &fs, &cfg, &sc)) {
        ka_cfg_free(cfg);
        return KA_EXIT_USAGE;
    }
    /* Signals are handled by sigwait in this thread; every thread started later inherits the
       mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = serve(&sc, &set);
    ka_cfg_free(cfg);
    return rc;
}
