/*
 * test_forward_engine.c - the forwarding engine against a fake in-process output that injects
 * RETRY, PERMANENT and failed requests: backoff and retries, dead letters, the cursor moving
 * only after confirmation and in reading order (a batch stuck in retries holds the cursor but
 * not the reading), and exactly one confirmation per event with concurrent batches.
 * Events are built here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaudit/forward.h"
#include "kaudit/journal.h"
#include "testutil.h"

#define NEV 200

static pthread_mutex_t fk_mu = PTHREAD_MUTEX_INITIALIZER;
static int fk_seen[NEV + 16];  /* confirmed OK per event number */
static int fk_sends;      /* send calls */
static int fk_fail_first; /* the first N sends fail as a whole */
static int fk_always_retry;
static int fk_delay_us;
static int fk_hold = -1;  /* this event number is refused (RETRY) until reset */

static int fk_create(const struct ka_out_url *u, const struct ka_out_opts *o, void **ctx,
                     char *err, size_t errlen)
{
    (void)u, (void)o, (void)err, (void)errlen;
    *ctx = malloc(1);
    return *ctx ? KA_OK : KA_ENOMEM;
}

static int fk_format(void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                     struct ka_out_item *items)
{
    (void)ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (ka_str_eq(b->ev[i].ev->verb, "bad", 3)) {
            items[i].result = KA_OUT_PERMANENT;
            snprintf(items[i].reason, sizeof items[i].reason, "fake: verb bad");
        }
    }
    return ka_buf_append(body, "x", 1);
}

static int num_of(const struct ka_out_event *e)
{
    char id[64] = "";
    ka_str_decode(e->ev->auditID, id);
    return atoi(id + 3);
}

static int fk_send(void *ctx, const struct ka_out_batch *b, const struct ka_buf *body,
                   struct ka_out_item *items)
{
    (void)ctx, (void)body;
    if (fk_delay_us) usleep((useconds_t)(rand() % fk_delay_us));
    pthread_mutex_lock(&fk_mu);
    int call = fk_sends++;
    pthread_mutex_unlock(&fk_mu);
    if (call < fk_fail_first) return KA_EIO;
    for (size_t i = 0; i < b->n; i++) {
        if (items[i].result == KA_OUT_PERMANENT) continue;
        int n = num_of(&b->ev[i]);
        /* every event with a number divisible by 7 is refused once (RETRY) */
        bool retry = fk_always_retry || n == fk_hold || (n % 7 == 0 && call < fk_fail_first + 3);
        items[i].result = retry ? KA_OUT_RETRY : KA_OUT_OK;
        snprintf(items[i].reason, sizeof items[i].reason, "%s", retry ? "fake: 503" : "");
        if (!retry) {
            pthread_mutex_lock(&fk_mu);
            fk_seen[n]++;
            pthread_mutex_unlock(&fk_mu);
        }
    }
    return KA_OK;
}

static void fk_destroy(void *ctx)
{
    free(ctx);
}

static const char *const fk_schemes[] = {"fake", NULL};
static const struct ka_output_ops fk_ops = {"fake", fk_schemes, fk_create, fk_format, fk_send,
                                            fk_destroy};

static void reset_fake(void)
{
    memset(fk_seen, 0, sizeof fk_seen);
    fk_sends = fk_fail_first = fk_always_retry = fk_delay_us = 0;
    fk_hold = -1;
}

static void fill_journal(struct ka_journal *j, int from, int to)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    for (int i = from; i < to; i++)
        ka_buf_printf(&b,
                      "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
                      "\"auditID\":\"id-%d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api\","
                      "\"verb\":\"%s\",\"user\":{\"username\":\"u\"},\"stageTimestamp\":"
                      "\"2025-03-10T09:00:00.000000Z\"}\n",
                      i, i % 50 == 49 ? "bad" : "get");
    cr_assert_eq(ka_journal_append(j, b.p, b.n, (size_t)(to - from)), KA_OK);
    ka_buf_free(&b);
}

static struct ka_journal *open_journal(const char *dir)
{
    struct ka_journal_opts jo;
    struct ka_journal *j = NULL;
    ka_journal_opts_default(&jo);
    jo.dir = dir;
    cr_assert_eq(ka_journal_open(&jo, &j), KA_OK);
    return j;
}

static struct ka_forward *start(struct ka_journal *j, const char *dl, int conc, int retries)
{
    struct ka_forward_output_cfg c;
    ka_forward_cfg_default(&c);
    c.url = "fake://x";
    c.ops = &fk_ops;
    c.dead_letter = dl;
    c.batch_events = 16;
    c.batch_ms = 20;
    c.commit_ms = 50;
    c.concurrency = conc;
    c.max_retries = retries;
    c.backoff_min_ms = 5;
    c.backoff_max_ms = 40;
    struct ka_forward *f = NULL;
    char err[200] = "";
    cr_assert_eq(ka_forward_start(j, &c, 1, NULL, &f, err, sizeof err), KA_OK, "%s", err);
    return f;
}

static bool wait_idle(struct ka_forward *f, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (ka_forward_idle(f)) return true;
        usleep(10000);
    }
    return false;
}

static size_t count_lines(const char *path)
{
    size_t n = 0, len = 0;
    char *s = ka_t_read_file(path, &len);
    for (size_t i = 0; s && i < len; i++) n += s[i] == '\n';
    free(s);
    return n;
}

Test(forward_engine, retries_dead_letters_and_cursor)
{
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    fk_fail_first = 2;
    struct ka_journal *j = open_journal(dir);
    fill_journal(j, 0, NEV);
    struct ka_forward *f = start(j, dl, 2, 0);
    cr_assert(wait_idle(f, 10000), "never idle");
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.read, NEV);
    cr_expect_eq(st.sent, NEV - NEV / 50);
    cr_expect_eq(st.dead_lettered, NEV / 50);
    cr_expect_gt(st.retried, 0);
    cr_expect_eq(st.request_errors, 2);
    for (int i = 0; i < NEV; i++) cr_expect_eq(fk_seen[i], i % 50 == 49 ? 0 : 1, "event %d", i);
    ka_forward_stop(f);
    cr_expect_eq(count_lines(dl), NEV / 50);
    size_t len = 0;
    char *d = ka_t_read_file(dl, &len);
    cr_assert(d && strstr(d, "\"reason\":\"fake: verb bad\"") && strstr(d, "\"output\":\"fake\"") &&
              strstr(d, "\"event\":{\"kind\":\"Event\""));
    free(d);
    /* committed: a restart sends nothing again, then only new events */
    reset_fake();
    f = start(j, dl, 1, 0);
    fill_journal(j, NEV, NEV + 10);
    cr_assert(wait_idle(f, 10000));
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.read, 10);
    ka_forward_stop(f);
    ka_journal_close(j);
    ka_t_rmtree(dir);
    free(dir);
}

Test(forward_engine, unconfirmed_is_replayed)
{
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    fk_always_retry = 1;
    struct ka_journal *j = open_journal(dir);
    fill_journal(j, 0, 40);
    struct ka_forward *f = start(j, dl, 3, 0);
    usleep(300000);
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.sent, 0);
    cr_expect_eq(st.commits, 0, "committed before the destination confirmed");
    cr_expect_gt(fk_sends, 3, "retried with backoff");
    ka_forward_stop(f);
    reset_fake();
    f = start(j, dl, 3, 0);
    cr_assert(wait_idle(f, 10000));
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.read, 40);
    cr_expect_eq(st.sent, 40 - 40 / 50);
    ka_forward_stop(f);
    ka_journal_close(j);
    ka_t_rmtree(dir);
    free(dir);
}

Test(forward_engine, retry_limit_dead_letters)
{
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    fk_always_retry = 1;
    struct ka_journal *j = open_journal(dir);
    fill_journal(j, 0, 20);
    struct ka_forward *f = start(j, dl, 1, 2);
    cr_assert(wait_idle(f, 10000));
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.dead_lettered, 20);
    cr_expect_eq(st.sent, 0);
    ka_forward_stop(f);
    size_t len = 0;
    char *d = ka_t_read_file(dl, &len);
    cr_assert(d && strstr(d, "gave up after 2 retries: fake: 503"));
    free(d);
    ka_journal_close(j);
    ka_t_rmtree(dir);
    free(dir);
}

Test(forward_engine, concurrency_exactly_once_in_process)
{
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    fk_delay_us = 20000;
    struct ka_journal *j = open_journal(dir);
    fill_journal(j, 0, NEV);
    struct ka_forward *f = start(j, dl, 4, 0);
    cr_assert(wait_idle(f, 20000));
    for (int i = 0; i < NEV; i++) cr_expect_eq(fk_seen[i], i % 50 == 49 ? 0 : 1, "event %d", i);
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.in_flight, 0);
    cr_expect_eq(st.lag_events, 0);
    ka_forward_stop(f);
    ka_journal_close(j);
    ka_t_rmtree(dir);
    free(dir);
}

Test(forward_engine, source_mode_and_options)
{
    struct ka_forward_output_cfg c;
    ka_forward_cfg_default(&c);
    cr_expect_eq(ka_forward_cfg_option(&c, "batch_events=5"), KA_OK);
    cr_expect_eq(c.batch_events, 5);
    cr_expect_eq(ka_forward_cfg_option(&c, "concurrency=99"), KA_EINVAL);
    cr_expect_eq(ka_forward_cfg_option(&c, "table=x"), KA_ENOENT);
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    c.url = "fake://x";
    c.ops = &fk_ops;
    c.dead_letter = dl;
    struct ka_forward *f = NULL;
    char err[200];
    cr_assert_eq(ka_forward_start_source(&c, 1, NULL, &f, err, sizeof err), KA_OK);
    char line[300];
    for (int i = 0; i < 12; i++) {
        int n = snprintf(line, sizeof line, "{\"auditID\":\"id-%d\",\"stage\":\"ResponseComplete\",\"verb\":\"get\"}", i);
        cr_assert_eq(ka_forward_push(f, line, (size_t)n), KA_OK);
    }
    cr_assert_eq(ka_forward_push(f, "not json", 8), KA_OK);
    cr_assert_eq(ka_forward_finish(f), KA_OK);
    struct ka_forward_stats st;
    ka_forward_stats(f, 0, &st);
    cr_expect_eq(st.sent, 12);
    cr_expect_eq(st.dead_lettered, 1);
    cr_expect_eq(st.batches, 3);
    /* the line that is not an event is found by the worker that seals its batch */
    size_t dlen = 0;
    char *dead = ka_t_read_file(dl, &dlen);
    cr_assert(dead);
    cr_expect(strstr(dead, "\"reason\":\"not an audit event: "), "%s", dead);
    cr_expect(strstr(dead, "\"line\":\"not json\"}\n"), "%s", dead);
    cr_expect_eq(count_lines(dl), 1);
    free(dead);
    ka_forward_stop(f);
    ka_t_rmtree(dir);
    free(dir);
}

/* One event refused forever: later batches are delivered and the reader goes on to the end of
   the journal; the cursor is committed up to the batch before the stuck one and not past it, so
   a restart replays from that batch on. */
Test(forward_engine, stuck_batch_holds_cursor_not_reading)
{
    char *dir = ka_t_tmpdir(), dl[512];
    snprintf(dl, sizeof dl, "%s/dead.jsonl", dir);
    reset_fake();
    fk_hold = 40;
    struct ka_journal *j = open_journal(dir);
    fill_journal(j, 0, NEV);
    struct ka_forward *f = start(j, dl, 3, 0);
    struct ka_forward_stats st;
    for (int t = 0; t < 1000; t++) {
        ka_forward_stats(f, 0, &st);
        if (st.read == NEV && st.sent + st.dead_lettered == NEV - 1 && st.commits > 0) break;
        usleep(10000);
    }
    cr_expect_eq(st.read, NEV, "the reader paused behind the stuck batch");
    cr_expect_eq(st.sent, NEV - 1 - NEV / 50, "sent %llu", (unsigned long long)st.sent);
    cr_expect_gt(st.commits, 0, "nothing committed although the first batches were confirmed");
    cr_expect_eq(fk_seen[40], 0);
    cr_expect_eq(fk_seen[39], 1);
    cr_expect(!ka_forward_idle(f));
    ka_forward_stop(f);
    /* restart: the replay begins at the stuck batch (it starts at or before event 40) */
    reset_fake();
    f = start(j, dl, 3, 0);
    cr_assert(wait_idle(f, 10000));
    ka_forward_stats(f, 0, &st);
    cr_expect_geq(st.read, NEV - 40, "replayed %llu", (unsigned long long)st.read);
    cr_expect_lt(st.read, NEV, "replayed everything: the confirmed batches were not committed");
    cr_expect_eq(fk_seen[40], 1);
    cr_expect_eq(fk_seen[0], 0, "event 0 was committed and must not be replayed");
    ka_forward_stop(f);
    ka_journal_close(j);
    ka_t_rmtree(dir);
    free(dir);
}
