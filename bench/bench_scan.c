/*
 * bench_scan.c - throughput of the event scanner on a file of JSON lines.
 *
 * Reads the whole file (argv[1]) with large read() calls into one buffer, scans every non-empty
 * line with ka_event_scan, touches the extracted fields (verb, user, objectRef, code,
 * timestamps) by hashing them, and prints one line: "bytes events seconds MB/s hash".
 * Lines that fail to scan are counted and reported on stderr. Only the scan loop is timed.
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

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_str(uint64_t h, struct ka_str s)
{
    return mix(h, s.p ? s.p : "", s.n) * 31 + s.set;
}

static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = READ_CHUNK, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - n < READ_CHUNK) {
            char *nb = cap > MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
        } else if (r == 0)
            break;
        else
            n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.jsonl\n", argv[0]);
        return 2;
    }
    size_t len;
    char *buf = read_all(argv[1], &len);
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    struct timespec t0, t1;
    struct ka_event ev;
    struct ka_scan_err err;
    unsigned long events = 0, bad = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p) {
            if (ka_event_scan(p, (size_t)(le - p), NULL, &ev, &err) == 0) {
                events++;
                h = touch(&ev, h);
            } else
                bad++;
        }
        p = le + 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (bad)
        fprintf(stderr, "%lu lines failed to scan\n", bad);
    printf("%zu %lu %.3f %.1f %016llx\n", len, events, secs, (double)len / 1e6 / secs,
           (unsigned long long)h);
    free(buf);
    return 0;
}
