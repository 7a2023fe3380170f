/*
 * cmd_tail.c - `kaudit tail PATH`: follows an audit log across rotations (include/kaudit/tail.h)
 * and prints each complete line as it arrives. With --checkpoint the position is committed after
 * every batch written to stdout, so a restart neither loses nor repeats lines after a clean stop
 * (after kill -9, at most the last uncommitted batch is printed again).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/tail.h"

#define TAIL_FLUSH (256u << 10) /* write stdout in batches of about 256 KiB */
#define TAIL_IDLE_MS 500

static const char tail_usage[] =
    "usage: kaudit tail [options] PATH\n"
    "Follows an audit log (e.g. kube-apiserver's --audit-log-path) and prints every complete\n"
    "line as it arrives, across rotations by rename (lumberjack, with or without gzip),\n"
    "copytruncate and delete/recreate. Problems (skipped long lines, bytes that could not be\n"
    "read) are reported on stderr.\n"
    "\n"
    "  --from-start       without a checkpoint, read the file from its start (default: from\n"
    "                     its end, like tail -f)\n"
    "  --backups          with --from-start: first read the rotated backups that exist\n"
    "                     (gzipped ones too), oldest first, then the live file\n"
    "  --checkpoint FILE  resume from FILE if it exists; commit the position to it after each\n"
    "                     batch written to stdout (atomically)\n"
    "  --max-line SIZE    longest line accepted (default 16M); longer lines are skipped\n"
    "  --poll-ms N        fallback poll interval when inotify misses something (default 1000)\n"
    "  -v, --verbose      also report rotations and where reading resumed\n"
    "  -h, --help         this help\n"
    "\n"
    "SIGINT or SIGTERM: flush, commit, exit 0.\n"
    "example: kaudit tail --checkpoint /var/lib/kaudit/audit.ckpt /var/log/kubernetes/audit.log\n";

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig)
{
    (void)sig;
    tail_stop = 1;
}

struct tail_cli {
    struct ka_tail_opts o;
    bool verbose;
};

static void on_report(void *ud, enum ka_tail_report kind, uint64_t bytes, const char *msg)
{
    const struct tail_cli *c = ud;
    (void)bytes;
    if ((kind == KA_TAIL_R_ROTATED || kind == KA_TAIL_R_RESUMED) && !c->verbose)
        return;
    fprintf(stderr, "kaudit tail: %s\n", msg);
}

static int parse_args(int argc, char **argv, struct tail_cli *c)
{
    static const struct option lo[] = {
        {"from-start", no_argument, 0, 'f'}, {"backups", no_argument, 0, 'b'},
        {"checkpoint", required_argument, 0, 'c'},
        {"max-line", required_argument, 0, 'm'}, {"poll-ms", required_argument, 0, 'p'},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    unsigned long long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
        switch (ch) {
        case 'f': c->o.from_start = true; break;
        case 'b': c->o.with_backups = true; break;
        case 'c': c->o.checkpoint_path = optarg; break;
        case 'v': c->verbose = true; break;
        case 'h': fputs(tail_usage, stdout); return -1;
        case 'm':
            if (ka_cli_parse_size(optarg, &v) || v == 0 || v > (1ull << 30))
                goto bad;
            c->o.max_line = (size_t)v;
            break;
        case 'p':
            if (ka_cli_parse_size(optarg, &v) || v == 0 || v > 3600000)
                goto bad;
            c->o.poll_ms = (int)v;
            break;
        default: goto usage;
        }
    }
    if (optind + 1 != argc || (c->o.with_backups && !c->o.from_start))
        goto usage;
    c->o.path = argv[optind];
    return 0;
bad:
    fprintf(stderr, "kaudit tail: invalid value '%s' for --%s\n", optarg,
            ch == 'm' ? "max-line" : "poll-ms");
    return KA_EXIT_USAGE;
usage:
    fputs("usage: kaudit tail [--from-start [--backups]] [--checkpoint FILE] [--max-line SIZE] PATH\n"
          "(see kaudit tail --help)\n", stderr);
    return KA_EXIT_USAGE;
}

/* Writes the batch to stdout, then commits it. 0, or an exit code. */
static int flush_commit(struct ka_tail *t, struct ka_buf *out)
{
    const char *p = out->p;
    size_t n = out->n;
    while (n) {
        ssize_t k = write(STDOUT_FILENO, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            fprintf(stderr, "kaudit tail: writing to stdout: %s\n", strerror(errno));
            return KA_EXIT_INTERNAL;
        }
        p += k;
        n -= (size_t)k;
    }
    ka_buf_reset(out);
    int rc = ka_tail_commit(t);
    if (rc) {
        fprintf(stderr, "kaudit tail: writing the checkpoint: %s\n", ka_strerror(rc));
        return KA_EXIT_INTERNAL;
    }
    return 0;
}

static int follow(struct ka_tail *t, struct ka_buf *out)
{
    struct ka_tail_rec rec;
    bool pending = false;
    while (!tail_stop) {
        int r = ka_tail_next(t, &rec, pending ? 0 : TAIL_IDLE_MS);
        if (r < 0) {
            fprintf(stderr, "kaudit tail: %s\n", ka_strerror(r));
            int fc = flush_commit(t, out);
            return fc ? fc : KA_EXIT_INTERNAL;
        }
        if (r == 1) {
            if (ka_buf_append(out, rec.line, rec.len) || ka_buf_putc(out, '\n'))
                return KA_EXIT_INTERNAL;
            pending = true;
        }
        if ((r == 0 && pending) || out->n >= TAIL_FLUSH) {
            int fc = flush_commit(t, out);
            if (fc)
                return fc;
            pending = false;
        }
    }
    return flush_commit(t, out);
}

int ka_cmd_tail(int argc, char **argv)
{
    struct tail_cli c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc < 0 ? KA_EXIT_OK : rc;
    c.o.report = on_report;
    c.o.report_ud = &c;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns early */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct ka_tail *t;
    rc = ka_tail_open(&c.o, &t);
    if (rc) {
        fprintf(stderr, "kaudit tail: %s: %s\n", c.o.path, ka_strerror(rc));
        return rc == KA_EINVAL ? KA_EXIT_USAGE : KA_EXIT_INTERNAL;
    }
    struct ka_buf out;
    ka_buf_init(&out, 0);
    rc = follow(t, &out);
    ka_buf_free(&out);
    ka_tail_close(t);
    return rc;
}
