/*
 * bench_redact.c - throughput of redaction: scans every line of a JSON-lines audit log and
 * writes it through ka_redact_write(), repeating the file until the given time has passed, and
 * prints MB/s of input and events/s next to plain scan + ka_event_write().
 *
 * usage: bench_redact FILE [SECONDS]      (FILE e.g. from `kaudit gen --events 200000`)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/redact.h"

#define MAX_FILE (1u << 30)

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
    char *b = f ? malloc(cap) : NULL;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap >= MAX_FILE ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (f)
        fclose(f);
    *len = n;
    return b;
}

/* One pass over the file; returns bytes handled (0 on error), counts events and changes. */
static size_t pass(const char *buf, size_t n, const struct ka_redact *r, struct ka_buf *out,
                   size_t *events, size_t *changed)
{
    size_t bytes = 0;
    for (const char *p = buf, *e; p < buf + n; p = e + 1) {
        struct ka_event ev;
        struct ka_scan_err se;
        bool ch = false;
        int rc;
        e = memchr(p, '\n', (size_t)(buf + n - p));
        if (!e)
            e = buf + n;
        if (e == p || ka_event_scan(p, (size_t)(e - p), NULL, &ev, &se) != KA_OK)
            continue;
        ka_buf_reset(out);
        rc = r ? ka_redact_write(r, &ev, NULL, out, &ch) : ka_event_write(&ev, NULL, out);
        if (rc)
            return 0;
        bytes += (size_t)(e - p) + 1;
        (*events)++;
        *changed += ch;
    }
    return bytes;
}

static void run(const char *what, const char *buf, size_t n, const struct ka_redact *r,
                double secs)
{
    struct ka_buf out;
    size_t bytes = 0, events = 0, changed = 0, b;
    double t0 = now(), t;
    ka_buf_init(&out, 64u << 20);
    do {
        b = pass(buf, n, r, &out, &events, &changed);
        bytes += b;
        t = now() - t0;
    } while (b && t < secs);
    printf("%-22s %9.1f MB/s  %10.0f events/s  (%zu events, %zu redacted, %.2fs)\n", what,
           (double)bytes / t / 1e6, (double)events / t, events, changed, t);
    ka_buf_free(&out);
}

int main(int argc, char **argv)
{
    size_t n;
    struct ka_redact *r;
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    char *buf;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [SECONDS]\n", argv[0]);
        return 2;
    }
    buf = read_all(argv[1], &n);
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    if (ka_redact_new(NULL, NULL, &r) != KA_OK) {
        free(buf);
        return 1;
    }
    printf("%s: %zu bytes\n", argv[1], n);
    run("scan+write", buf, n, NULL, secs);
    run("scan+redact+write", buf, n, r, secs);
    ka_redact_free(r);
    free(buf);
    return 0;
}
