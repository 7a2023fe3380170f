/*
 * bench_detect.c - throughput of the detection engine on one core over a file of audit events
 * (JSON lines, e.g. `kaudit gen --bytes 1G --attacks --seed 42`).
 *
 *   bench_detect FILE [FALCO_RULES]
 *
 * Runs three passes over the file, each reading it with 16 MiB read() calls and scanning every
 * line with ka_event_scan: (1) the baseline, read + scan only; (2) with Falco's rules file
 * (FALCO_RULES, default ../shared/data/falco/k8s_audit_rules.yaml from the repository or
 * ../../shared/... from a build directory in it; skipped with a message when absent), (3) with
 * kaudit's default rules (embedded), rule matching `first` as Falco's default. Prints events/s
 * of each pass on the wall clock and on the process's CPU time (cpu_events/s: what one core
 * does when the machine is shared), its cost relative to the baseline, the alerts, the fields
 * of the rule index (or none), and for the default rules the state of the stateful rules
 * (keys, evictions, bytes, peak bytes) and the process's peak RSS. A fourth pass
 * (state-stress) adds to the default rules one window rule keyed by auditID, so that every
 * request makes a key: it shows the state filling to its LRU bound
 * (KA_DETECT_STATE_KEYS_DEFAULT keys) and staying there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/default_rules.h"
#include "kaudit/detect.h"
#include "kaudit/event.h"

#define READ_CHUNK (16u << 20)
#define MAX_LINE ((size_t)256 << 20)
#define FALCO_REL "shared/data/falco/k8s_audit_rules.yaml"

/* Falco's rules file beside the checkout: ../shared from the repository or ../../shared from a
   build directory inside it. NULL when neither is readable. */
static const char *falco_default(void)
{
    static const char *const cand[] = {"../" FALCO_REL, "../../" FALCO_REL};
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (access(cand[i], R_OK) == 0)
            return cand[i];
    return NULL;
}

struct pass {
    struct ka_detect_ctx *c; /* NULL: baseline */
    unsigned long events, bad, alerts;
    uint64_t h;
};

static double since(clockid_t clk, const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(clk, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void one_line(struct pass *ps, const char *p, size_t n)
{
    struct ka_event ev;
    struct ka_scan_err err;
    if (ka_event_scan(p, n, NULL, &ev, &err) != KA_OK || !ev.auditID.set) {
        ps->bad++;
        return;
    }
    ps->events++;
    if (!ps->c) { /* keep the scan from being optimised away */
        ps->h = ps->h * 31 + (uint64_t)ev.stageTimestamp.nsec + ev.verb.n;
        return;
    }
    int rc = ka_detect_eval(ps->c, &ev, NULL, NULL);
    if (rc > 0)
        ps->alerts += (unsigned long)rc;
}

/* Reads path through buf and runs every complete line. Returns 0, or -1. */
static int run_file(const char *path, struct pass *ps)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 2 * READ_CHUNK, have = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    while (rc == 0) {
        if (cap - have < READ_CHUNK) {
            char *nb = cap >= MAX_LINE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                fprintf(stderr, "line too long\n");
                rc = -1;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + have, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            rc = -1;
            break;
        }
        have += (size_t)r;
        const char *p = buf, *end = buf + have;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl && r > 0)
                break;
            const char *le = nl ? nl : end;
            if (le > p)
                one_line(ps, p, (size_t)(le - p));
            p = le + 1;
        }
        if (p > end)
            p = end;
        have = (size_t)(end - p);
        memmove(buf, p, have);
        if (r == 0)
            break;
    }
    free(buf);
    close(fd);
    return rc;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* A rule with a key per request (auditID), so that every event adds a key: the LRU fills to
   its bound and evicts from then on. */
static const char STRESS[] =
    "- rule: state stress\n  desc: one key per request\n  condition: ka.verb exists\n"
    "  output: o %ka.auditid\n  priority: DEBUG\n  source: k8s_audit\n"
    "  kaudit.window: {by: [ka.auditid, ka.user.name], more_than: 3, within: 1m}\n";

static int build(const char *name, const char *path, struct ka_detect **out)
{
    struct ka_detect_opts o;
    ka_detect_opts_default(&o);
    o.hostname = "bench";
    struct ka_diag diag = {0};
    int rc = ka_detect_new(&o, out);
    if (rc == KA_OK)
        rc = path ? ka_detect_load_file(*out, path, &diag)
                  : ka_detect_load_mem(*out, KA_DEFAULT_RULES_NAME, ka_default_rules,
                                       ka_default_rules_len, &diag);
    if (rc == KA_OK && !strcmp(name, "state-stress"))
        rc = ka_detect_load_mem(*out, "stress.yaml", STRESS, sizeof STRESS - 1, &diag);
    if (rc == KA_OK)
        rc = ka_detect_compile(*out, &diag);
    if (rc != KA_OK) {
        fprintf(stderr, "%s: rules do not compile: %s\n", name,
                diag.n_errors && diag.n ? diag.v[0].msg : ka_strerror(rc));
        for (size_t i = 0; i < diag.n; i++)
            if (diag.v[i].sev == KA_SEV_ERROR)
                fprintf(stderr, "  %s\n", diag.v[i].msg);
    }
    ka_diag_free(&diag);
    return rc;
}

/* One pass; prints its line. base_secs 0 = this is the baseline. Returns its seconds. */
static double pass(const char *file, const char *label, struct ka_detect *d, double base_secs)
{
    struct pass ps = {0};
    if (d && ka_detect_ctx_new(d, &ps.c) != KA_OK) {
        fprintf(stderr, "%s: no context\n", label);
        return -1;
    }
    struct timespec t0, c0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    int rc = run_file(file, &ps);
    double secs = since(CLOCK_MONOTONIC, &t0), cpu = since(CLOCK_PROCESS_CPUTIME_ID, &c0);
    if (rc != 0)
        return -1;
    printf("%-16s events=%lu skipped=%lu secs=%.3f events/s=%.0f cpu_secs=%.3f "
           "cpu_events/s=%.0f", label, ps.events, ps.bad, secs,
           secs > 0 ? (double)ps.events / secs : 0.0, cpu, cpu > 0 ? (double)ps.events / cpu : 0.0);
    if (d) {
        struct ka_detect_stats st;
        ka_detect_stats(d, &st);
        printf(" vs_baseline=%.2fx rules=%zu alerts=%lu index=",
               base_secs > 0 ? secs / base_secs : 0, st.rules_active, ps.alerts);
        for (size_t i = 0; i < st.index_fields; i++)
            printf("%s%s", i ? "," : "", st.index_field[i]);
        if (!st.index_fields)
            printf("none");
        struct ka_detect_state_stats ss;
        ka_detect_ctx_state_stats(ps.c, &ss);
        if (ss.rules)
            printf(" state_rules=%zu state_keys=%zu state_evictions=%llu state_bytes=%zu "
                   "state_peak_bytes=%zu state_alerts=%llu", ss.rules, ss.keys,
                   (unsigned long long)ss.evictions, ss.bytes, ss.peak_bytes,
                   (unsigned long long)ss.alerts);
    } else
        printf(" (read+scan, no rules; h=%llx)", (unsigned long long)ps.h);
    printf(" peak_rss_kib=%ld\n", peak_rss_kib());
    fflush(stdout);
    ka_detect_ctx_free(ps.c);
    return secs;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE.jsonl [FALCO_RULES.yaml]\n", argv[0]);
        return 2;
    }
    const char *file = argv[1], *falco = argc == 3 ? argv[2] : falco_default();
    double base = pass(file, "baseline", NULL, 0);
    if (base < 0)
        return 1;
    struct ka_detect *d = NULL;
    if (!falco || access(falco, R_OK) != 0)
        printf("falco-rules      skipped: %s not readable\n", falco ? falco : "../" FALCO_REL);
    else if (build("falco-rules", falco, &d) == KA_OK && pass(file, "falco-rules", d, base) < 0)
        return 1;
    ka_detect_free(d);
    d = NULL;
    if (build("kaudit-default", NULL, &d) != KA_OK || pass(file, "kaudit-default", d, base) < 0)
        return 1;
    ka_detect_free(d);
    d = NULL;
    if (build("state-stress", NULL, &d) != KA_OK || pass(file, "state-stress", d, base) < 0)
        return 1;
    ka_detect_free(d);
    return 0;
}
