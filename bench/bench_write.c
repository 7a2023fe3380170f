/*
 * bench_write.c - throughput of the canonical encoder: scans and re-encodes every line of a
 * JSON-lines audit log, repeating the file until at least the given time has passed, and
 * prints MB/s of input (scan only, and scan + write) and events/s.
 *
 * usage: bench_write FILE [SECONDS] [--omit-managed-fields]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

#define MAX_FILE (1u << 30)

struct line {
    const char *p;
    size_t n;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 20, n = 0, r;
    char *b = malloc(cap);
    if (!f || !b) {
        if (f)
            fclose(f);
        free(b);
        return NULL;
    }
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap >= MAX_FILE ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static size_t split_lines(char *buf, size_t n, struct line **out)
{
    size_t cap = 1024, k = 0;
    struct line *v = malloc(cap * sizeof *v);
    for (char *p = buf, *e; v && p < buf + n; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + n - p));
        if (!e)
            e = buf + n;
        if (e == p)
            continue;
        if (k == cap) {
            struct line *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return 0;
            }
            v = nv;
        }
        v[k++] = (struct line){p, (size_t)(e - p)};
    }
    *out = v;
    return v ? k : 0;
}

/* One pass over all lines; returns bytes of input handled, or 0 on error. */
static size_t pass(const struct line *v, size_t k, const struct ka_write_opts *wo,
                   struct ka_buf *out, size_t *events)
{
    struct ka_scan_opts so = {0};
    size_t bytes = 0;
    for (size_t i = 0; i < k; i++) {
        struct ka_event ev;
        struct ka_scan_err se;
        if (ka_event_scan(v[i].p, v[i].n, &so, &ev, &se) != KA_OK)
            continue;
        if (wo) {
            ka_buf_reset(out);
            if (ka_event_write(&ev, wo, out) != KA_OK)
                return 0;
        }
        bytes += v[i].n + 1;
        (*events)++;
    }
    return bytes;
}

static void run(const char *what, const struct line *v, size_t k, const struct ka_write_opts *wo,
                double secs)
{
    struct ka_buf out;
    size_t bytes = 0, events = 0;
    double t0 = now(), t;
    ka_buf_init(&out, 64u << 20);
    do {
        size_t b = pass(v, k, wo, &out, &events);
        if (b == 0)
            break;
        bytes += b;
        t = now() - t0;
    } while (t < secs);
    t = now() - t0;
    printf("%-22s %9.1f MB/s  %10.0f events/s  (%zu events, %.2fs)\n", what,
           (double)bytes / t / 1e6, (double)events / t, events, t);
    ka_buf_free(&out);
}

int main(int argc, char **argv)
{
    size_t n, k;
    struct line *v = NULL;
    double secs = argc > 2 && argv[2][0] != '-' ? atof(argv[2]) : 1.0;
    struct ka_write_opts plain = {0}, strip = {.omit_managed_fields = true};
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [SECONDS] [--omit-managed-fields]\n", argv[0]);
        return 2;
    }
    char *buf = read_all(argv[1], &n);
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    k = split_lines(buf, n, &v);
    printf("%s: %zu bytes, %zu lines\n", argv[1], n, k);
    run("scan", v, k, NULL, secs);
    run("scan+write", v, k, &plain, secs);
    if (argc > 2 && strcmp(argv[argc - 1], "--omit-managed-fields") == 0)
        run("scan+write (no mf)", v, k, &strip, secs);
    free(v);
    free(buf);
    return 0;
}
