/*
 * cmd_gen.c - `kaudit gen`: writes deterministic, realistic Kubernetes audit traffic as JSON
 * lines (see include/kaudit/gen.h), optionally paced, with attack scenarios and their labels.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "cmds.h"
#include "kaudit/err.h"
#include "kaudit/gen.h"
#include "kaudit/jsonw.h"

#define GEN_FLUSH (1u << 20) /* write in 1 MiB chunks */

static const char gen_usage[] =
    "usage: kaudit gen [options]\n"
    "Writes realistic Kubernetes audit events (audit.k8s.io/v1, one JSON object per line),\n"
    "the same bytes for the same options.\n"
    "\n"
    "  --seed N         PRNG seed (default 1)\n"
    "  --events N       stop after exactly N events; every request started is finished\n"
    "  --bytes SIZE     stop at the first event boundary at or after SIZE (1G, 500M, 10k, or\n"
    "                   bytes; K/M/G/T are powers of 1024)\n"
    "  --rate EPS       pace the output at EPS events per second (timestamps follow)\n"
    "  --attacks        mix in labelled attack scenarios (pod-exec, secret-dump,\n"
    "                   cluster-admin-binding, token-request, privileged-pod,\n"
    "                   anonymous-access, forbidden-storm, deployment-delete)\n"
    "  --labels FILE    write \"auditID<TAB>scenario\" for each attack event\n"
    "  --start TIME     first timestamp, RFC 3339 (default 2025-03-10T09:00:00Z)\n"
    "  -o FILE          output file (default stdout)\n"
    "  -h, --help       this help\n"
    "\n"
    "Without --events or --bytes the output never ends.\n"
    "example: kaudit gen --seed 7 --events 100000 --attacks --labels labels.tsv -o audit.log\n";

struct gen_cli {
    struct ka_gen_opts o;
    const char *out_path, *labels_path;
};

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "kaudit gen: invalid %s: '%s' (see kaudit gen --help)\n", what, arg);
    return KA_EXIT_USAGE;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (!s[0] || s[0] == '-' || s[0] == '+')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

/* Parses YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't') || !*p++ || digits(&p, 2, &h) ||
        *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return -1;
    int32_t ns = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 9)
                ns = ns * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            ns *= 10;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return -1;
    int64_t t = ka_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    t -= sign * (oh * 3600 + om * 60);
    *sec = t;
    *nsec = ns;
    return 0;
}

static int parse_args(int argc, char **argv, struct gen_cli *c)
{
    enum { O_SEED = 256, O_EVENTS, O_BYTES, O_RATE, O_ATTACKS, O_LABELS, O_START };
    static const struct option lo[] = {
        {"seed", required_argument, NULL, O_SEED},     {"events", required_argument, NULL, O_EVENTS},
        {"bytes", required_argument, NULL, O_BYTES},   {"rate", required_argument, NULL, O_RATE},
        {"attacks", no_argument, NULL, O_ATTACKS},     {"labels", required_argument, NULL, O_LABELS},
        {"start", required_argument, NULL, O_START},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long long v;
    int ch;
    c->o.seed = 1;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(gen_usage, stdout);
            return -1;
        case 'o':
            c->out_path = optarg;
            break;
        case O_SEED:
            if (parse_u64(optarg, &v))
                return bad("--seed", optarg);
            c->o.seed = v;
            break;
        case O_EVENTS:
            if (parse_u64(optarg, &v) || v == 0)
                return bad("--events", optarg);
            c->o.events = v;
            break;
        case O_BYTES:
            if (optarg[0] == '-' || ka_cli_parse_size(optarg, &v) || v == 0)
                return bad("--bytes", optarg);
            c->o.bytes = v;
            break;
        case O_RATE:
            if (parse_u64(optarg, &v) || v == 0 || v > 1000000)
                return bad("--rate (1..1000000)", optarg);
            c->o.rate = (uint32_t)v;
            break;
        case O_ATTACKS:
            c->o.attacks = true;
            break;
        case O_LABELS:
            c->labels_path = optarg;
            break;
        case O_START:
            if (parse_rfc3339(optarg, &c->o.start_sec, &c->o.start_nsec) ||
                c->o.start_sec < 0 || c->o.start_sec > 253402300799LL)
                return bad("--start (RFC 3339, 1970..9999)", optarg);
            break;
        default:
            fprintf(stderr, "kaudit gen: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], gen_usage);
            return KA_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kaudit gen: unexpected argument '%s'\n", argv[optind]);
        return KA_EXIT_USAGE;
    }
    if (c->labels_path && !c->o.attacks) {
        fprintf(stderr, "kaudit gen: --labels needs --attacks\n");
        return KA_EXIT_USAGE;
    }
    return 0;
}

static int write_all(struct ka_buf *b, FILE *f)
{
    if (b->n && fwrite(b->p, 1, b->n, f) != b->n)
        return -1;
    b->n = 0;
    return 0;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With --rate: waits until event i is due; output is flushed first so it is seen in time. */
static int pace(struct ka_buf *b, FILE *out, uint64_t i, uint32_t rate, double t0)
{
    double due = t0 + (double)i / rate, now = mono_now();
    if (due <= now)
        return 0;
    if (write_all(b, out) || fflush(out))
        return -1;
    double d = due - now;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
    return 0;
}

static int run(struct ka_gen *g, const struct gen_cli *c, FILE *out, FILE *lf)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    struct ka_gen_info info;
    int rc, ex = KA_EXIT_OK;
    double t0 = mono_now();
    bool paced = c->o.rate && c->o.rate < 1000000;
    for (uint64_t i = 0;; i++) {
        if (paced && pace(&b, out, i, c->o.rate, t0)) {
            ex = KA_EXIT_INTERNAL;
            break;
        }
        rc = ka_gen_next(g, &b, &info);
        if (rc == KA_GEN_DONE)
            break;
        if (rc) {
            fprintf(stderr, "kaudit gen: %s\n", ka_strerror(rc));
            ex = KA_EXIT_INTERNAL;
            break;
        }
        if (lf && info.scenario)
            fprintf(lf, "%s\t%s\n", info.audit_id, ka_gen_scenario_name(info.scenario));
        if (b.n >= GEN_FLUSH && write_all(&b, out)) {
            ex = KA_EXIT_INTERNAL;
            break;
        }
    }
    if (write_all(&b, out) || fflush(out) || ferror(out)) {
        fprintf(stderr, "kaudit gen: write failed: %s\n", strerror(errno));
        ex = KA_EXIT_INTERNAL;
    }
    ka_buf_free(&b);
    return ex;
}

/* `kaudit gen`: see gen_usage. Exit codes: 0 ok, 1 usage or input error, 2 internal error. */
int ka_cmd_gen(int argc, char **argv)
{
    struct gen_cli c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc < 0 ? KA_EXIT_OK : rc;
    FILE *out = stdout, *lf = NULL;
    struct ka_gen *g = NULL;
    int ex = KA_EXIT_USAGE;
    if (c.out_path && !(out = fopen(c.out_path, "wb"))) {
        fprintf(stderr, "kaudit gen: %s: %s\n", c.out_path, strerror(errno));
        out = NULL;
        goto done;
    }
    if (c.labels_path && !(lf = fopen(c.labels_path, "w"))) {
        fprintf(stderr, "kaudit gen: %s: %s\n", c.labels_path, strerror(errno));
        goto done;
    }
    if ((rc = ka_gen_new(&c.o, &g))) {
        fprintf(stderr, "kaudit gen: %s\n", ka_strerror(rc));
        ex = rc == KA_EINVAL ? KA_EXIT_USAGE : KA_EXIT_INTERNAL;
        goto done;
    }
    ex = run(g, &c, out, lf);
    if (lf && (fflush(lf) || ferror(lf))) {
        fprintf(stderr, "kaudit gen: %s: write failed\n", c.labels_path);
        ex = KA_EXIT_INTERNAL;
    }
done:
    ka_gen_free(g);
    if (lf)
        fclose(lf);
    if (out && out != stdout && fclose(out) && ex == KA_EXIT_OK)
        ex = KA_EXIT_INTERNAL;
    return ex;
}
