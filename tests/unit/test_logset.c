/*
 * test_logset.c - expanding FILE arguments into log sets: lumberjack backup names that match
 * and do not match, timestamp parsing, ordering by parsed time, directories, a missing live
 * file, a plain+gz twin, --no-backups, limits. Every file is created by the test in a
 * temporary directory (names follow spec §5.4); no data from ../shared is used.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaudit/err.h"
#include "kaudit/logset.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = ka_t_tmpdir();
    cr_assert_not_null(dir);
}
static void teardown(void)
{
    ka_t_rmtree(dir);
    free(dir);
}
TestSuite(logset, .init = setup, .fini = teardown);

#define T1 "2026-07-23T18-32-12.345"
#define T2 "2026-07-23T18-32-12.346"
#define T3 "2026-07-24T00-00-00.000"
#define T0 "2025-12-31T23-59-59.999"

static void touch(const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs("x\n", f);
    fclose(f);
}

static const char *at(const char *name)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* The set's paths (without "<dir>/") joined with ' '; skipped ones in brackets at the end. */
static const char *names(const struct ka_logset *s)
{
    static char out[8192];
    size_t dl = strlen(dir), o = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->n + s->n_skipped; i++) {
        const char *p = i < s->n ? s->files[i].path : s->skipped[i - s->n].path;
        if (strncmp(p, dir, dl) == 0 && p[dl] == '/')
            p += dl + 1;
        o += (size_t)snprintf(out + o, sizeof out - o, i < s->n ? "%s%s" : "%s[%s]",
                              o ? " " : "", p);
    }
    return out;
}

static int expand(const char *arg, int no_backups, struct ka_logset *s)
{
    struct ka_logset_opts o = {.no_backups = no_backups};
    return ka_logset_expand(arg, &o, s);
}

Test(logset, parse_ts_exact)
{
    long long ms = 0;
    cr_assert_eq(ka_logset_parse_ts(T1, &ms), KA_OK);
    cr_assert_eq(ms, 1784831532345LL);
    cr_assert_eq(ka_logset_parse_ts("2024-02-29T00-00-00.000", &ms), KA_OK, "leap day");
    cr_assert_eq(ms, 1709164800000LL);
    cr_assert_eq(ka_logset_parse_ts("1970-01-01T00-00-00.000", &ms), KA_OK);
    cr_assert_eq(ms, 0);
    static const char *const bad[] = {
        "2026-02-29T00-00-00.000", /* 2026 is no leap year */
        "2026-13-01T00-00-00.000", "2026-00-01T00-00-00.000", "2026-04-31T00-00-00.000",
        "2026-07-00T00-00-00.000", "2026-07-23T24-00-00.000", "2026-07-23T18-60-00.000",
        "2026-07-23T18-32-60.000", "2026-07-23T18:32:12.345", "2026-07-23 18-32-12.345",
        "2026-07-23T18-32-12,345", "2026-07-23T18-32-12.34",  "2026-7-23T18-32-12.3456",
        "+026-07-23T18-32-12.345", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(ka_logset_parse_ts(bad[i], &ms), KA_EINVAL, "%s", bad[i]);
}

Test(logset, backup_names_that_match)
{
    long long ts = -1;
    int gz = -1;
    cr_assert_eq(ka_logset_is_backup("audit.log", "audit-" T1 ".log", &ts, &gz), 1);
    cr_assert_eq(gz, 0);
    cr_assert_eq(ts, 1784831532345LL);
    cr_assert_eq(ka_logset_is_backup("audit.log", "audit-" T1 ".log.gz", &ts, &gz), 1);
    cr_assert_eq(gz, 1);
    cr_assert_eq(ka_logset_is_backup("audit", "audit-" T1, &ts, &gz), 1, "no extension");
    cr_assert_eq(ka_logset_is_backup("audit", "audit-" T1 ".gz", &ts, &gz), 1);
    cr_assert_eq(gz, 1);
    cr_assert_eq(ka_logset_is_backup("kube-apiserver.audit.log",
                                     "kube-apiserver.audit-" T1 ".log", &ts, &gz),
                 1, "only the final extension moves after the timestamp");
}

Test(logset, backup_names_that_do_not_match)
{
    static const char *const no[] = {
        "audit-" T1 ".json",          /* wrong extension */
        "audit-" T1 ".log.bz2",       /* not gzip */
        "audit-" T1 ".log.gz.gz",
        "audit-" T1 ".logx",
        "audit-2026-07-32T18-32-12.345.log", /* bad timestamp */
        "audit-2026-07-23T18-32-12.log",     /* no milliseconds */
        "audit-2026-07-23T18:32:12.345.log",
        "kube-audit-" T1 ".log",             /* other prefix */
        "audits-" T1 ".log",
        "audit" T1 ".log",                   /* no dash */
        "audit.log.1",                       /* logrotate style */
        "audit.log",
        "audit-latest.log",
        "audit.log-" T1,
        "Audit-" T1 ".log",
    };
    long long ts = 7;
    int gz = 7;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_assert_eq(ka_logset_is_backup("audit.log", no[i], &ts, &gz), 0, "%s", no[i]);
    cr_assert_eq(ts, 7, "outputs untouched");
    cr_assert_eq(ka_logset_is_backup("my.audit", "my.audit-" T1, &ts, &gz), 0,
                 "lumberjack would name it my-TS.audit");
    cr_assert_eq(ka_logset_is_backup("my.audit", "my-" T1 ".audit", &ts, &gz), 1);
}

Test(logset, log_path_backups_oldest_first_by_time_then_live)
{
    /* Created in scrambled order; mixed plain and compressed; decoys that must not match. */
    touch("audit-" T2 ".log");
    touch("audit.log");
    touch("audit-" T3 ".log");
    touch("audit-" T0 ".log.gz");
    touch("audit-" T1 ".log.gz");
    touch("audit.log.1");
    touch("audit-2026-02-30T00-00-00.000.log");
    touch("audit-" T1 ".json");
    touch("kube-audit-" T1 ".log");
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("audit.log"), 0, &s), KA_OK);
    cr_assert_str_eq(names(&s), "audit-" T0 ".log.gz audit-" T1 ".log.gz audit-" T2
                                ".log audit-" T3 ".log audit.log");
    cr_assert_eq(s.files[0].kind, KA_LOGSET_BACKUP);
    cr_assert_eq(s.files[0].gz, 1);
    cr_assert_eq(s.files[2].gz, 0);
    cr_assert_lt(s.files[0].ts_ms, s.files[1].ts_ms);
    cr_assert_eq(s.files[4].kind, KA_LOGSET_LIVE);
    cr_assert_str_eq(s.files[4].path, at("audit.log"), "the live path as given");
    ka_logset_free(&s);
}

Test(logset, relative_log_path_keeps_its_form)
{
    touch("audit-" T1 ".log");
    touch("audit.log");
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    struct ka_logset s = {0};
    int rc = expand("audit.log", 0, &s);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(rc, KA_OK);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.files[0].path, "audit-" T1 ".log");
    cr_assert_str_eq(s.files[1].path, "audit.log");
    ka_logset_free(&s);
}

Test(logset, missing_live_file_still_reads_backups)
{
    touch("audit-" T2 ".log.gz");
    touch("audit-" T1 ".log.gz");
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("audit.log"), 0, &s), KA_OK);
    cr_assert_str_eq(names(&s), "audit-" T1 ".log.gz audit-" T2 ".log.gz");
    ka_logset_free(&s);
}

Test(logset, missing_file_without_backups_is_enoent_and_set_unchanged)
{
    touch("other.log");
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("other.log"), 0, &s), KA_OK);
    cr_assert_eq(expand(at("audit.log"), 0, &s), KA_ENOENT);
    cr_assert_eq(expand(at("nodir/audit.log"), 0, &s), KA_ENOENT);
    cr_assert_eq(expand(at("audit.log"), 1, &s), KA_ENOENT);
    cr_assert_str_eq(names(&s), "other.log");
    ka_logset_free(&s);
}

Test(logset, plain_and_gz_twin_reads_the_plain_one)
{
    touch("audit-" T1 ".log");
    touch("audit-" T1 ".log.gz"); /* compression in progress: may be partial */
    touch("audit-" T2 ".log.gz");
    touch("audit.log");
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("audit.log"), 0, &s), KA_OK);
    cr_assert_str_eq(names(&s),
                     "audit-" T1 ".log audit-" T2 ".log.gz audit.log [audit-" T1 ".log.gz]");
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.n_skipped, 1);
    ka_logset_free(&s);
}

Test(logset, no_backups_reads_only_the_file_named)
{
    touch("audit-" T1 ".log");
    touch("audit.log");
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("audit.log"), 1, &s), KA_OK);
    cr_assert_str_eq(names(&s), "audit.log");
    cr_assert_eq(s.files[0].kind, KA_LOGSET_PLAIN);
    ka_logset_free(&s);
    cr_assert_eq(expand(dir, 1, &s), KA_OK);
    cr_assert_str_eq(names(&s), "audit.log", "a directory without its backups");
    ka_logset_free(&s);
}

Test(logset, gz_argument_and_stdin_as_is)
{
    touch("audit-" T1 ".log.gz");
    touch("audit-" T1 "-" T2 ".log.gz"); /* would be a backup of the backup: not expanded */
    struct ka_logset s = {0};
    cr_assert_eq(expand(at("audit-" T1 ".log.gz"), 0, &s), KA_OK);
    cr_assert_eq(expand("-", 0, &s), KA_OK);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.files[0].path, at("audit-" T1 ".log.gz"));
    cr_assert_str_eq(s.files[1].path, "-");
    ka_logset_free(&s);
}

Test(logset, directory_groups_sets_by_live_name)
{
    cr_assert_eq(mkdir(at("sub"), 0700), 0);
    touch("sub/audit.log");
    touch("README.txt");
    touch(".checkpoint");
    touch("audit.log");
    touch("audit-" T2 ".log.gz");
    touch("audit-" T1 ".log");
    touch("audit-b.log");
    touch("audit-b-" T1 ".log");
    touch("old-" T3 ".log.gz"); /* backups whose live file is gone */
    touch("old-" T0 ".log");
    touch("audit.log.1");
    struct ka_logset s = {0};
    cr_assert_eq(expand(dir, 0, &s), KA_OK);
    /* By live name: README.txt < audit-b.log < audit.log < audit.log.1 < old.log ('-' < '.'),
     * which is not the order of the file names (audit-T1.log sorts before audit-b.log). */
    cr_assert_str_eq(names(&s), "README.txt audit-b-" T1 ".log audit-b.log audit-" T1
                                ".log audit-" T2 ".log.gz audit.log audit.log.1 old-" T0
                                ".log old-" T3 ".log.gz");
    cr_assert_eq(s.files[0].kind, KA_LOGSET_PLAIN);
    cr_assert_eq(s.files[2].kind, KA_LOGSET_LIVE);
    cr_assert_eq(s.files[6].kind, KA_LOGSET_PLAIN);
    ka_logset_free(&s);
}

Test(logset, directory_with_trailing_slash_and_twin)
{
    touch("a-" T1 ".log");
    touch("a-" T1 ".log.gz");
    touch("a.log");
    char arg[4096];
    snprintf(arg, sizeof arg, "%s/", dir);
    struct ka_logset s = {0};
    cr_assert_eq(expand(arg, 0, &s), KA_OK);
    cr_assert_str_eq(names(&s), "a-" T1 ".log a.log [a-" T1 ".log.gz]");
    ka_logset_free(&s);
}

Test(logset, directory_prefers_the_reading_whose_live_file_exists)
{
    /* "x-T1.gz" is a compressed backup of "x" or a backup of "x.gz"; "x.gz" is present. */
    touch("x-" T1 ".gz");
    touch("x.gz");
    struct ka_logset s = {0};
    cr_assert_eq(expand(dir, 0, &s), KA_OK);
    cr_assert_str_eq(names(&s), "x-" T1 ".gz x.gz");
    cr_assert_eq(s.files[0].kind, KA_LOGSET_BACKUP);
    cr_assert_eq(s.files[0].gz, 0);
    cr_assert_eq(s.files[1].kind, KA_LOGSET_LIVE);
    ka_logset_free(&s);
}

Test(logset, max_files_is_enforced_and_set_unchanged)
{
    for (int i = 0; i < 5; i++) {
        char n[64];
        snprintf(n, sizeof n, "f%d.log", i);
        touch(n);
    }
    struct ka_logset s = {0};
    struct ka_logset_opts o = {.max_files = 3};
    cr_assert_eq(ka_logset_expand(dir, &o, &s), KA_ETOOBIG);
    cr_assert_eq(s.n, 0);
    o.max_files = 5;
    cr_assert_eq(ka_logset_expand(dir, &o, &s), KA_OK);
    cr_assert_eq(s.n, 5);
    ka_logset_free(&s);
    ka_logset_free(NULL);
}
