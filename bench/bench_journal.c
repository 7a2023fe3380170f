/*
 * bench_journal.c - journal append throughput with group commit: N threads each append
 * batches of 400 events of about 1 KiB (lines of a file, e.g. from `kaudit gen`, or generated
 * ones) to a journal in DIR, each batch durable (fsynced) before the next.
 *
 *   bench_journal DIR THREADS [SECONDS] [EVENTS-FILE]
 *
 * Prints events/s, MB/s, batches, fsyncs and the mean and maximum fsync time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/journal.h"

#define BATCH_EVENTS 400
#define MAX_THREADS 256
#define MAX_EVENT 8192

struct worker {
    struct ka_journal *j;
    char *batch;
    size_t len;
    double until;
    unsigned long batches, errors;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    while (now_s() < w->until) {
        if (ka_journal_append(w->j, w->batch, w->len, BATCH_EVENTS) == 0)
            w->batches++;
        else
            w->errors++;
    }
    return NULL;
}

/* 400 lines from f (cycled) or generated ~1 KiB lines; t makes them differ per thread. */
static char *make_batch(FILE *f, int t, size_t *len)
{
    char *b = malloc((size_t)BATCH_EVENTS * (MAX_EVENT + 1));
    char line[MAX_EVENT + 1];
    size_t at = 0;
    if (!b)
        return NULL;
    for (int i = 0; i < BATCH_EVENTS; i++) {
        size_t n = 0;
        if (f && !fgets(line, sizeof line, f)) {
            rewind(f);
            if (!fgets(line, sizeof line, f))
                f = NULL;
        }
        if (f)
            n = strlen(line);
        if (!f || n < 2 || line[n - 1] != '\n')
            n = (size_t)snprintf(line, sizeof line, "{\"kind\":\"Event\",\"t\":%d,\"i\":%d,"
                                 "\"pad\":\"%0980d\"}\n", t, i, 0);
        memcpy(b + at, line, n);
        at += n;
    }
    *len = at;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_journal DIR THREADS [SECONDS] [EVENTS-FILE]\n");
        return 2;
    }
    int threads = atoi(argv[2]);
    double secs = argc > 3 ? atof(argv[3]) : 5.0;
    FILE *f = argc > 4 ? fopen(argv[4], "r") : NULL;
    if (threads < 1 || threads > MAX_THREADS || secs <= 0 || (argc > 4 && !f)) {
        fprintf(stderr, "bench_journal: bad arguments\n");
        return 2;
    }
    struct ka_journal_opts o;
    ka_journal_opts_default(&o);
    o.dir = argv[1];
    struct ka_journal *j;
    if (ka_journal_open(&o, &j) != 0) {
        fprintf(stderr, "bench_journal: cannot open the journal in %s\n", argv[1]);
        return 1;
    }
    static struct worker w[MAX_THREADS];
    static pthread_t th[MAX_THREADS];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        w[t] = (struct worker){.j = j, .until = t0 + secs};
        w[t].batch = make_batch(f, t, &w[t].len);
        if (!w[t].batch)
            return 1;
    }
    t0 = now_s();
    for (int t = 0; t < threads; t++) {
        w[t].until = t0 + secs;
        pthread_create(&th[t], NULL, run, &w[t]);
    }
    unsigned long errors = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        errors += w[t].errors;
        free(w[t].batch);
    }
    double el = now_s() - t0;
    struct ka_journal_stats st;
    ka_journal_stats(j, &st);
    printf("threads=%d seconds=%.2f events/s=%.0f MB/s=%.1f batches=%llu fsyncs=%llu "
           "batches/fsync=%.2f fsync_mean_ms=%.3f fsync_max_ms=%.3f errors=%lu\n",
           threads, el, (double)st.events / el, (double)st.bytes / el / 1e6,
           (unsigned long long)st.batches, (unsigned long long)st.fsyncs,
           st.fsyncs ? (double)st.batches / (double)st.fsyncs : 0.0,
           st.fsyncs ? (double)st.fsync_ns_total / (double)st.fsyncs / 1e6 : 0.0,
           (double)st.fsync_ns_max / 1e6, errors);
    ka_journal_close(j);
    if (f)
        fclose(f);
    return 0;
}
