/*
 * bench_scan.c - throughput of the event scanner on a file of JSON lines.
 *
 * Streams the file (argv[1]) with 16 MiB read() calls through one buffer, scans every non-empty
 * line with ka_event_scan, touches the extracted fields (verb, user, objectRef, code,
 * timestamps) by hashing them, and prints one line with the byte and event counts, the times and MB/s, and the hash.
 * Lines that fail to scan are counted and reported on stderr. Prints the time of read+scan and
 * of the scan alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/event.h"
#include "kaudit/json.h"

#define READ_CHUNK (16u << 20)
#define MAX_FILE ((size_t)8 << 30)

/* Reads every byte of p[0..n), 8 at a time, into the running hash. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; n; s++, n--)
        h = (h ^ *s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_str(uint64_t h, struct ka_str s)
{
    return mix(h, s.p ? s.p : "", s.n) * 31 + s.set;
}

static uint64_t touch(const struct ka_event *ev, uint64_t h)
{
    h = mix_str(h, ev->verb);
    h = mix_str(h, ev->user.username);
    h = mix_str(h, ev->objectRef.resource);
    h = mix_str(h, ev->objectRef.namespace_);
    h = mix_str(h, ev->objectRef.name);
    h = h * 31 + (uint64_t)(ev->responseStatus.has_code ? ev->responseStatus.code : -1);
    h = h * 31 + (uint64_t)ev->requestReceivedTimestamp.sec;
    h = h * 31 + (uint64_t)ev->stageTimestamp.sec * 1000000000u + (uint64_t)ev->stageTimestamp.nsec;
    return h;
}

/* Scans the complete lines of [p, end); returns where the incomplete tail starts. */
static const char *scan_lines(const char *p, const char *end, int final, unsigned long *events,
                              unsigned long *bad, uint64_t *h)
{
    struct ka_event ev;
    struct ka_scan_err err;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl && !final)
            break;
        const char *le = nl ? nl : end;
        if (le > p) {
            if (ka_event_scan(p, (size_t)(le - p), NULL, &ev, &err) == 0) {
                (*events)++;
                *h = touch(&ev, *h);
            } else
                (*bad)++;
        }
        p = le + 1;
    }
    return p < end ? p : end;
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.jsonl\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    size_t cap = 2 * READ_CHUNK, have = 0, len = 0;
    char *buf = malloc(cap);
    unsigned long events = 0, bad = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    double scan_secs = 0;
    struct timespec t0, ts;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (cap - have < READ_CHUNK) { /* one line longer than the buffer: grow */
            char *nb = cap >= MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                fprintf(stderr, "line too long\n");
                return 1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + have, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
            return 1;
        }
        have += (size_t)r;
        len += (size_t)r;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        const char *rest = scan_lines(buf, buf + have, r == 0, &events, &bad, &h);
        scan_secs += since(&ts);
        have -= (size_t)(rest - buf);
        memmove(buf, rest, have);
        if (r == 0)
            break;
    }
    double secs = since(&t0);
    close(fd);
    free(buf);
    if (bad)
        fprintf(stderr, "%lu lines failed to scan\n", bad);
    printf("bytes %zu events %lu read+scan %.3f s %.1f MB/s scan only %.3f s %.1f MB/s hash "
           "%016llx\n",
           len, events, secs, (double)len / 1e6 / secs, scan_secs,
           (double)len / 1e6 / scan_secs, (unsigned long long)h);
    return 0;
}
