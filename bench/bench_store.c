/*
 * bench_store.c - query timings on an existing store (made by `kaudit index`, see
 * bench_store.sh): the point query "who deleted deployment NAME" (verb delete, resource
 * deployments, name NAME; its requests, then every stage of them), the top users over the
 * first 24 hours of the store, and the count of requests, each with SQLite's query plan. Prints the median of several runs.
 * With --consumer: the rate of the journal consumer of `kaudit serve` (ka_store_consumer) on
 * the first N events of LOG, appended to a new journal in DIR before the consumer starts, so
 * that it reads as fast as it can (a collector that outpaces it is the case that matters).
 *
 * usage: bench_store STORE_DIR NAME [RUNS] [RESOURCE]   (RESOURCE defaults to deployments)
 *        bench_store --consumer LOG N DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/journal.h"
#include "kaudit/store.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int on_row(void *ud, const struct ka_event *ev, const char *line, size_t len)
{
    (void)ev;
    (void)line;
    (void)len;
    (*(unsigned long *)ud)++;
    return 0;
}

static int on_group(void *ud, const char *key, size_t n, uint64_t count)
{
    unsigned long *k = ud;
    if (k[0]++ < 3)
        printf("    %8llu  %.*s\n", (unsigned long long)count, (int)n, key);
    return 0;
}

static void plan(struct ka_store *s, const struct ka_query *q, const char *field)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    if (ka_store_explain(s, q, field, &b) == 0)
        printf("  sql: %s\n", b.p);
    ka_buf_free(&b);
}

#define MAX_RUNS 50

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* Appends the first n lines of log to the journal, 1000 lines per append. */
static int fill_journal(struct ka_journal *j, const char *log, unsigned long n)
{
    FILE *f = fopen(log, "r");
    char *line = NULL;
    size_t cap = 0, k = 0;
    ssize_t len;
    struct ka_buf b;
    unsigned long done = 0;
    int rc = f ? 0 : 1;
    ka_buf_init(&b, 0);
    while (rc == 0 && done < n && (len = getline(&line, &cap, f)) > 0) {
        rc = ka_buf_append(&b, line, (size_t)len);
        done++;
        if (rc == 0 && (++k == 1000 || done == n)) {
            rc = ka_journal_append(j, b.p, b.n, k);
            ka_buf_reset(&b);
            k = 0;
        }
    }
    if (rc == 0 && k)
        rc = ka_journal_append(j, b.p, b.n, k);
    free(line);
    ka_buf_free(&b);
    if (f)
        fclose(f);
    return rc;
}

static int bench_consumer(const char *log, unsigned long n, const char *dir)
{
    char jdir[4096];
    struct ka_journal_opts jo;
    struct ka_journal *j;
    struct ka_store_consumer *c;
    struct ka_store_consumer_stats cs = {0};
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    ka_journal_opts_default(&jo);
    jo.dir = jdir;
    if (ka_journal_open(&jo, &j) || fill_journal(j, log, n)) {
        fprintf(stderr, "bench_store: cannot fill the journal in %s\n", jdir);
        return 1;
    }
    struct ka_store_consumer_opts co = {0};
    double t0 = now_ms();
    if (ka_store_consumer_start(j, dir, &co, &c)) {
        fprintf(stderr, "bench_store: cannot start the consumer\n");
        return 1;
    }
    while (cs.inserted + cs.duplicates + cs.bad_lines < n && cs.errors == 0) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        ka_store_consumer_stats(c, &cs);
    }
    double t = now_ms() - t0;
    ka_store_consumer_stop(c);
    ka_journal_close(j);
    printf("consumer: %llu events stored in %.2f s: %.0f events/s (%llu batches, %llu errors)\n",
           (unsigned long long)cs.inserted, t / 1e3, (double)cs.inserted / (t / 1e3),
           (unsigned long long)cs.batches, (unsigned long long)cs.errors);
    return cs.errors ? 1 : 0;
}

/* "who deleted RES NAME": the requests, or every stage of them (all_stages). */
static void point_query(struct ka_store *s, const char *res, const char *name, int runs,
                        bool all_stages)
{
    struct ka_query q;
    struct ka_diag d = {0};
    double t[MAX_RUNS];
    unsigned long rows = 0;
    ka_query_init(&q);
    ka_query_add_verbs(&q, "delete", &d);
    ka_query_add_resources(&q, res, &d);
    ka_query_add_names(&q, name, &d);
    if (all_stages)
        ka_query_set_stage(&q, "any", &d);
    for (int i = 0; i < runs; i++) {
        rows = 0;
        double t0 = now_ms();
        ka_store_query(s, &q, on_row, &rows);
        t[i] = now_ms() - t0;
    }
    printf("point query (who deleted %s %s%s): %lu rows, median %.2f ms\n", res, name,
           all_stages ? ", every stage" : "", rows, median(t, runs));
    plan(s, &q, NULL);
    ka_query_free(&q);
    ka_diag_free(&d);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--consumer") == 0)
        return bench_consumer(argv[2], strtoul(argv[3], NULL, 10), argv[4]);
    if (argc < 3) {
        fputs("usage: bench_store STORE_DIR NAME [RUNS] [RESOURCE]\n", stderr);
        return 1;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > MAX_RUNS)
        runs = 5;
    struct ka_store *s;
    struct ka_store_stats ss;
    struct ka_diag d = {0};
    double t[MAX_RUNS];
    if (ka_store_open(argv[1], true, &s) || ka_store_stats(s, &ss)) {
        fprintf(stderr, "bench_store: cannot open the store in %s\n", argv[1]);
        return 1;
    }
    printf("store: %llu events, %llu requests, %llu bytes on disk, %.1f bytes/event, "
           "canonical %llu bytes (%.1f bytes/event)\n",
           (unsigned long long)ss.events, (unsigned long long)ss.requests,
           (unsigned long long)ss.db_bytes, (double)ss.db_bytes / (double)(ss.events ? ss.events : 1),
           (unsigned long long)ss.raw_bytes,
           (double)ss.raw_bytes / (double)(ss.events ? ss.events : 1));

    const char *res = argc > 4 ? argv[4] : "deployments";
    point_query(s, res, argv[2], runs, false);
    point_query(s, res, argv[2], runs, true);

    struct ka_query q;
    ka_query_init(&q);
    q.has_since = q.has_until = true;
    q.since.sec = ss.oldest_ns / 1000000000;
    q.until.sec = q.since.sec + 86400;
    for (int i = 0; i < runs; i++) {
        unsigned long k[1] = {0};
        double t0 = now_ms();
        if (ka_store_top(s, &q, "user", on_group, k) != 0)
            fputs("top: not answerable from the columns\n", stderr);
        t[i] = now_ms() - t0;
    }
    printf("top users over 24 h: median %.1f ms\n", median(t, runs));
    plan(s, &q, "user");
    uint64_t n = 0;
    double t0 = now_ms();
    ka_store_count(s, &q, &n);
    printf("count of requests over 24 h: %llu in %.1f ms\n", (unsigned long long)n,
           now_ms() - t0);
    ka_query_free(&q);
    ka_diag_free(&d);
    ka_store_close(s);
    return 0;
}
