/*
 * test_files_input.c - the collector's file inputs (src/inputs/files) against a journal that
 * refuses appends for a while: the batch is retried until the journal takes it, its events land
 * exactly once, and the lines that are not events are dead-lettered once, not once per retry.
 * Events are written by the test; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../src/inputs/files/files_input.h"
#include "kaudit/err.h"
#include "testutil.h"
#include "webhook_fx.h"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t count_lines(const char *path)
{
    size_t n = 0;
    char *s = ka_t_read_file(path, &n);
    if (!s) return 0;
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    free(s);
    return lines;
}

static void quiet(void *ud, enum ka_sev sev, const char *msg)
{
    (void)ud;
    (void)sev;
    (void)msg;
}

Test(files_input, refused_batch_is_retried_and_dead_letters_are_written_once)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    char log[600], dl[700];
    snprintf(log, sizeof log, "%s/audit.log", f.dir);
    snprintf(dl, sizeof dl, "%s/deadletter/audit-deadletter.log", f.dir);
    FILE *fp = fopen(log, "w");
    cr_assert_not_null(fp);
    fputs(EV("f1", "") "\n{\"kind\":\"Pod\",\"oops\":true}\n" EV("f2", "") "\n", fp);
    fclose(fp);

    f.fail_rc = KA_ETOOBIG; /* journal full: every append is refused */
    struct ka_serve_input in = {.path = log, .cluster = "", .from_start = true};
    struct ka_serve_cfg sc = f.sc;
    sc.inputs.v = &in;
    sc.inputs.n = 1;
    struct ka_files_input *fi = NULL;
    cr_assert_eq(ka_files_start(f.s, &sc, quiet, NULL, &fi), KA_OK);
    nap_ms(3500); /* the follower retries every second: at least two retries */
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 0, "nothing may be journalled while refused");
    json_decref(evs);
    f.fail_rc = 0;
    for (int i = 0; i < 100; i++) {
        evs = journal_events(&f);
        size_t n = json_array_size(evs);
        json_decref(evs);
        if (n >= 2) break;
        nap_ms(100);
    }
    ka_files_stop(fi);
    evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 2, "both events exactly once");
    json_decref(evs);
    cr_expect_eq(count_lines(dl), 1, "the bad line is dead-lettered once, not once per retry");
    fx_fini(&f);
}
