/*
 * test_logfile.c - the audit log backend: byte-exact legacy lines (spec §5.3) and JSON lines,
 * lumberjack rotation (the >= rule at open, the > rule before a write, too-large writes),
 * backup names, pruning by count and by age with a controlled clock, gzip of backups (checked
 * by decompressing with zlib), no rotation with maxsize 0, file and directory modes, stdout.
 *
 * All data is made up in this file; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/jsonw.h"
#include "kaudit/logfile.h"
#include "testutil.h"

/* ---- legacy format ---- */

static char *legacy(const char *json, const int *off)
{
    struct ka_event ev;
    struct ka_scan_err err;
    struct ka_scan_opts so = {0};
    cr_assert_eq(ka_event_scan(json, strlen(json), &so, &ev, &err), KA_OK, "scan: %s", err.msg);
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_legacy_format(&ev, off, &b), KA_OK);
    char *s = strdup(ka_buf_cstr(&b));
    ka_buf_free(&b);
    return s;
}

#define FULL_EVENT                                                                              \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","          \
    "\"auditID\":\"a1b2\",\"stage\":\"ResponseComplete\","                                     \
    "\"requestURI\":\"/api/v1/namespaces/kube-system/pods?limit=500&x=1\",\"verb\":\"list\","   \
    "\"user\":{\"username\":\"system:admin\",\"groups\":[\"system:masters\","                 \
    "\"system:authenticated\"]},"                                                               \
    "\"impersonatedUser\":{\"username\":\"jane\",\"groups\":[\"dev\",\"q\\\"a\"]},"             \
    "\"sourceIPs\":[\"10.0.0.1\",\"10.0.0.2\"],\"userAgent\":\"kubectl/v1.30.0 (linux/amd64)\"," \
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"kube-system\"},"                    \
    "\"responseStatus\":{\"metadata\":{},\"code\":200},"                                       \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\","                            \
    "\"stageTimestamp\":\"2024-08-14T05:40:56.801000Z\"}"

Test(legacy, full_event_fixed_offset)
{
    int off = 7200;
    char *s = legacy(FULL_EVENT, &off);
    cr_assert_str_eq(
        s, "2024-08-14T07:40:56.794659+02:00 AUDIT: id=\"a1b2\" stage=\"ResponseComplete\" "
           "ip=\"10.0.0.1\" method=\"list\" user=\"system:admin\" "
           "groups=\"\\\"system:masters\\\",\\\"system:authenticated\\\"\" as=\"jane\" "
           "asgroups=\"\\\"dev\\\",\\\"q\\\\\\\"a\\\"\" user-agent=\"kubectl/v1.30.0 "
           "(linux/amd64)\" namespace=\"kube-system\" "
           "uri=\"/api/v1/namespaces/kube-system/pods?limit=500&x=1\" response=\"200\"\n");
    free(s);
}

Test(legacy, placeholders_and_zero_time)
{
    int off = 3600; /* the zero time stays in UTC whatever the zone */
    char *s = legacy("{\"auditID\":\"x\",\"stage\":\"RequestReceived\",\"verb\":\"get\","
                     "\"requestURI\":\"/healthz\"}",
                     &off);
    cr_assert_str_eq(s, "0001-01-01T00:00:00Z AUDIT: id=\"x\" stage=\"RequestReceived\" "
                        "ip=\"<unknown>\" method=\"get\" user=\"<none>\" groups=\"<none>\" "
                        "as=\"<self>\" asgroups=\"<lookup>\" user-agent=\"\" "
                        "namespace=\"<none>\" uri=\"/healthz\" response=\"<deferred>\"\n");
    free(s);
}

Test(legacy, empty_lists_and_members)
{
    int off = 0;
    /* username without groups; impersonation with an empty username and an empty non-nil
       list; objectRef with an empty namespace; responseStatus without code; no sourceIPs. */
    char *s = legacy("{\"auditID\":\"x\",\"stage\":\"Panic\",\"verb\":\"\",\"requestURI\":\"/\","
                     "\"user\":{\"username\":\"bob\"},"
                     "\"impersonatedUser\":{\"username\":\"\",\"groups\":[]},"
                     "\"sourceIPs\":[],\"objectRef\":{\"namespace\":\"\"},"
                     "\"responseStatus\":{},"
                     "\"requestReceivedTimestamp\":\"2024-01-02T03:04:05.500Z\"}",
                     &off);
    cr_assert_str_eq(s, "2024-01-02T03:04:05.5Z AUDIT: id=\"x\" stage=\"Panic\" "
                        "ip=\"<unknown>\" method=\"\" user=\"bob\" groups=\"<none>\" as=\"\" "
                        "asgroups=\"\" user-agent=\"\" namespace=\"<none>\" uri=\"/\" "
                        "response=\"0\"\n");
    free(s);
}

Test(legacy, groups_without_username_and_nil_impersonated_groups)
{
    int off = 0;
    char *s = legacy("{\"auditID\":\"y\",\"stage\":\"ResponseStarted\",\"verb\":\"watch\","
                     "\"requestURI\":\"/w\",\"user\":{\"groups\":[\"g\"]},"
                     "\"impersonatedUser\":{\"username\":\"sa\",\"groups\":null},"
                     "\"sourceIPs\":[\"\"],"
                     "\"requestReceivedTimestamp\":\"2024-01-02T03:04:05Z\"}",
                     &off);
    cr_assert_str_eq(s, "2024-01-02T03:04:05Z AUDIT: id=\"y\" stage=\"ResponseStarted\" ip=\"\" "
                        "method=\"watch\" user=\"<none>\" groups=\"<none>\" as=\"sa\" "
                        "asgroups=\"<lookup>\" user-agent=\"\" namespace=\"<none>\" "
                        "uri=\"/w\" response=\"<deferred>\"\n");
    free(s);
}

/* Just the timestamp of an event with this requestReceivedTimestamp, in zone off. */
static char *legacy_time(const char *ts, const int *off)
{
    char json[256];
    snprintf(json, sizeof json, "{\"requestReceivedTimestamp\":\"%s\"}", ts);
    char *s = legacy(json, off);
    char *sp = strchr(s, ' ');
    cr_assert(sp);
    *sp = '\0';
    return s;
}

Test(legacy, timestamps)
{
    static const struct {
        const char *in;
        int off;
        const char *want;
    } cases[] = {
        {"2024-01-01T02:00:00Z", -19800, "2023-12-31T20:30:00-05:30"},
        {"2024-01-01T00:00:00.0000001Z", -17762, "2023-12-31T19:03:58.0000001-04:56"},
        {"2024-02-28T23:59:59.123456789Z", 3600, "2024-02-29T00:59:59.123456789+01:00"},
        {"2024-06-30T12:00:00.120000Z", 0, "2024-06-30T12:00:00.12Z"},
        {"2024-06-30T12:00:00.000000Z", 0, "2024-06-30T12:00:00Z"},
        {"2024-06-30T12:00:00.000001Z", 30, "2024-06-30T12:00:30.000001+00:00"},
        {"2024-06-30T12:00:00Z", 50400, "2024-07-01T02:00:00+14:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = legacy_time(cases[i].in, &cases[i].off);
        cr_assert_str_eq(s, cases[i].want, "case %zu", i);
        free(s);
    }
}

Test(legacy, local_zone_from_tz)
{
    setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
    tzset();
    char *w = legacy_time("2024-01-15T12:00:00.5Z", NULL);
    char *s = legacy_time("2024-07-15T12:00:00Z", NULL);
    setenv("TZ", "UTC0", 1);
    tzset();
    char *u = legacy_time("2024-07-15T12:00:00Z", NULL);
    cr_assert_str_eq(w, "2024-01-15T07:00:00.5-05:00");
    cr_assert_str_eq(s, "2024-07-15T08:00:00-04:00");
    cr_assert_str_eq(u, "2024-07-15T12:00:00Z");
    free(w);
    free(s);
    free(u);
}

/* The quoted user-agent field of the line for userAgent (a JSON string body). */
static char *legacy_ua(const char *ua_json)
{
    char json[1024];
    int off = 0;
    snprintf(json, sizeof json, "{\"userAgent\":\"%s\"}", ua_json);
    char *s = legacy(json, &off);
    char *a = strstr(s, " user-agent="), *b = strstr(s, " namespace=");
    cr_assert(a && b, "%s", s);
    *b = '\0';
    char *r = strdup(a + 12);
    free(s);
    return r;
}

Test(legacy, go_quote_escapes)
{
    char *s = legacy_ua("\\u0007\\b\\f\\n\\r\\t\\u000b|\\u001f|\\u007f|\\\"|\\\\|\\u0000|"
                        "\xc3\xa9|\\u00a0|\\u00ad|\\u200b|\\u2028|\\ue000|\\u0301|\\u0378|"
                        "\xf0\x9f\x98\x80|\\udb40\\udc01|\\ufffd|\xf0\xb1\x8d\x90|\\ud800|"
                        "\xef\xbf\xbf|\xf3\xb0\x80\x80");
    cr_assert_str_eq(s, "\"\\a\\b\\f\\n\\r\\t\\v|\\x1f|\\x7f|\\\"|\\\\|\\x00|"
                        "\xc3\xa9|\\u00a0|\\u00ad|\\u200b|\\u2028|\\ue000|\xcc\x81|\\u0378|"
                        "\xf0\x9f\x98\x80|\\U000e0001|\xef\xbf\xbd|\xf0\xb1\x8d\x90|"
                        "\xef\xbf\xbd|\\uffff|\\U000f0000\"");
    free(s);
}

Test(legacy, invalid_utf8_bytes)
{
    /* The scanner rejects invalid UTF-8, so build the event by hand. */
    static const char ua[] = "a\xff\xc3(b\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80|\xc0\xaf";
    struct ka_event ev;
    memset(&ev, 0, sizeof ev);
    ev.userAgent = (struct ka_str){.p = ua, .n = sizeof ua - 1, .set = 1, .esc = 0};
    int off = 0;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_legacy_format(&ev, &off, &b), KA_OK);
    const char *s = strstr(ka_buf_cstr(&b), " user-agent=");
    cr_assert(s);
    cr_assert_eq(strncmp(s, " user-agent=\"a\\xff\\xc3(b\\xed\\xa0\\x80|\\xe2\\x82|"
                            "\\xf4\\x90\\x80\\x80|\\xc0\\xaf\" namespace=",
                         strlen(" user-agent=\"a\\xff\\xc3(b\\xed\\xa0\\x80|\\xe2\\x82|"
                                "\\xf4\\x90\\x80\\x80|\\xc0\\xaf\" namespace=")),
                 0, "%s", s);
    ka_buf_free(&b);
}

/* ---- the log file ---- */

struct tclock {
    int64_t sec;
    int32_t nsec;
};

static void tclock_fn(void *ud, int64_t *sec, int32_t *nsec)
{
    const struct tclock *c = ud;
    *sec = c->sec;
    *nsec = c->nsec;
}

/* 2026-07-23T18:32:12 UTC */
static int64_t t0(void)
{
    return ka_days_from_civil(2026, 7, 23) * 86400 + 18 * 3600 + 32 * 60 + 12;
}

static struct ka_logfile *lopen(const char *path, int mb, int age, int backups, bool gz,
                                struct tclock *c)
{
    struct ka_logfile_opts o;
    ka_logfile_opts_default(&o);
    o.path = path;
    o.max_size_mb = mb;
    o.max_age_days = age;
    o.max_backups = backups;
    o.compress = gz;
    o.clock = c ? tclock_fn : NULL;
    o.clock_ud = c;
    struct ka_logfile *lf = NULL;
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_OK);
    return lf;
}

/* Writes a line of n bytes (n-1 copies of ch, then LF). */
static int wline(struct ka_logfile *lf, char ch, size_t n)
{
    char *p = malloc(n);
    memset(p, ch, n - 1);
    p[n - 1] = '\n';
    int rc = ka_logfile_write(lf, p, n);
    free(p);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, joined by one space. */
static char *ls(const char *dir)
{
    char *v[64];
    size_t n = 0, len = 1;
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *de;
    while ((de = readdir(d)) && n < 64)
        if (de->d_name[0] != '.') {
            v[n] = strdup(de->d_name);
            len += strlen(v[n++]) + 1;
        }
    closedir(d);
    qsort(v, n, sizeof v[0], cmp_names);
    char *s = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, v[i]);
        free(v[i]);
    }
    return s;
}

static char *pjoin(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static off_t fsize(const char *dir, const char *name)
{
    char *p = pjoin(dir, name);
    struct stat sb;
    off_t r = stat(p, &sb) == 0 ? sb.st_size : -1;
    free(p);
    return r;
}

static void touch(const char *dir, const char *name, size_t size)
{
    char *p = pjoin(dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
    free(p);
}

#define MIB 1048576u

Test(logfile, backup_names_in_utc_with_milliseconds)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 345999999};
    static const char *const bases[] = {"audit.log", "audit", "a.b.log"};
    static const char *const want[] = {"audit-2026-07-23T18-32-12.345.log",
                                       "audit-2026-07-23T18-32-12.345",
                                       "a.b-2026-07-23T18-32-12.345.log"};
    for (int i = 0; i < 3; i++) {
        char *p = pjoin(dir, bases[i]);
        struct ka_logfile *lf = lopen(p, 1, 0, 0, false, &c);
        cr_assert_eq(wline(lf, 'a', MIB - 10), KA_OK);
        cr_assert_eq(wline(lf, 'b', 11), KA_OK); /* MIB + 1 > max: rotate */
        ka_logfile_close(lf);
        cr_assert_eq(fsize(dir, want[i]), MIB - 10, "%s", want[i]);
        cr_assert_eq(fsize(dir, bases[i]), 11);
        free(p);
    }
    char *l = ls(dir);
    cr_assert_str_eq(l, "a.b-2026-07-23T18-32-12.345.log a.b.log audit audit-2026-07-23T18-32-"
                        "12.345 audit-2026-07-23T18-32-12.345.log audit.log");
    free(l);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, ge_rule_at_open)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    /* size + len == max when opening: rotated at once */
    touch(dir, "audit.log", MIB - 10);
    struct ka_logfile *lf = lopen(p, 1, 0, 0, false, &c);
    cr_assert_eq(wline(lf, 'a', 10), KA_OK);
    struct ka_logfile_stats st;
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.rotations, 1);
    ka_logfile_close(lf);
    cr_assert_eq(fsize(dir, "audit-2026-07-23T18-32-12.000.log"), MIB - 10);
    cr_assert_eq(fsize(dir, "audit.log"), 10);
    /* size + len == max - 1: appended */
    char *q = pjoin(dir, "b.log");
    touch(dir, "b.log", MIB - 11);
    lf = lopen(q, 1, 0, 0, false, &c);
    cr_assert_eq(wline(lf, 'a', 10), KA_OK);
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.rotations, 0);
    ka_logfile_close(lf);
    cr_assert_eq(fsize(dir, "b.log"), MIB - 1);
    free(p);
    free(q);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, gt_rule_before_write_and_too_large)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 0, false, &c);
    cr_assert_eq(wline(lf, 'a', MIB + 1), KA_ETOOBIG);
    cr_assert_eq(wline(lf, 'a', MIB / 2), KA_OK);
    cr_assert_eq(wline(lf, 'b', MIB / 2), KA_OK); /* size + len == max: no rotation */
    struct ka_logfile_stats st;
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.rotations, 0);
    cr_assert_eq(fsize(dir, "audit.log"), MIB);
    c.nsec = 7000000;
    cr_assert_eq(wline(lf, 'c', 2), KA_OK); /* now > max: rotate first */
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.rotations, 1);
    cr_assert_eq(st.too_large, 1);
    cr_assert_eq(st.events, 3);
    cr_assert_eq(st.bytes, MIB + 2);
    cr_assert_eq(ka_logfile_sync(lf), KA_OK);
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.syncs, 1);
    ka_logfile_close(lf);
    cr_assert_eq(fsize(dir, "audit-2026-07-23T18-32-12.007.log"), MIB);
    size_t n;
    char *live = ka_t_read_file(p, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(live, "c\n", 2), 0);
    free(live);
    /* a line of exactly max on an existing empty file: the >= rule rotates the empty file */
    c.nsec = 8000000;
    char *q = pjoin(dir, "e.log");
    lf = lopen(q, 1, 0, 0, false, &c);
    cr_assert_eq(wline(lf, 'x', MIB), KA_OK);
    ka_logfile_close(lf);
    cr_assert_eq(fsize(dir, "e-2026-07-23T18-32-12.008.log"), 0);
    cr_assert_eq(fsize(dir, "e.log"), MIB);
    cr_assert_eq(ka_logfile_write(lf = lopen(q, 1, 0, 0, false, &c), "no-lf", 5), KA_EINVAL);
    ka_logfile_close(lf);
    free(p);
    free(q);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, prune_by_count_gz_twin_counts_once)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    touch(dir, "audit-2026-07-23T10-00-00.000.log", 1);    /* newest */
    touch(dir, "audit-2026-07-23T10-00-00.000.log.gz", 1); /* its twin: same name */
    touch(dir, "audit-2026-07-22T10-00-00.000.log.gz", 1);
    touch(dir, "audit-2026-07-21T10-00-00.000.log", 1); /* third name: removed */
    touch(dir, "audit-2026-07-20T10-00-00.000.log.gz", 1);
    touch(dir, "audit-2026-02-30T10-00-00.000.log", 1); /* bad date: not a backup */
    touch(dir, "audit-2026-07-20T10-00-00.00.log", 1);  /* two ms digits: not a backup */
    touch(dir, "other-2026-07-20T10-00-00.000.log", 1);
    char *sub = pjoin(dir, "audit-2026-07-19T10-00-00.000.log");
    mkdir(sub, 0700);
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 2, false, &c);
    cr_assert_eq(wline(lf, 'a', 5), KA_OK); /* first open runs the mill */
    ka_logfile_mill_wait(lf);
    char *l = ls(dir);
    cr_assert_str_eq(l, "audit-2026-02-30T10-00-00.000.log audit-2026-07-19T10-00-00.000.log "
                        "audit-2026-07-20T10-00-00.00.log audit-2026-07-22T10-00-00.000.log.gz "
                        "audit-2026-07-23T10-00-00.000.log audit-2026-07-23T10-00-00.000.log.gz "
                        "audit.log other-2026-07-20T10-00-00.000.log");
    ka_logfile_close(lf);
    free(l);
    free(sub);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, prune_by_age_with_clock)
{
    char *dir = ka_t_tmpdir();
    /* now = 2026-07-23T18:32:12.500 */
    struct tclock c = {t0(), 500000000};
    touch(dir, "audit-2026-07-22T18-32-12.499.log", 1); /* strictly before now - 1 day */
    touch(dir, "audit-2026-07-22T18-32-12.500.log", 1); /* exactly the cutoff: kept */
    touch(dir, "audit-2026-07-21T00-00-00.000.log.gz", 1);
    touch(dir, "audit-2026-07-23T18-00-00.000.log", 1);
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 1, 0, false, &c);
    cr_assert_eq(wline(lf, 'a', 5), KA_OK);
    ka_logfile_mill_wait(lf);
    char *l = ls(dir);
    cr_assert_str_eq(l, "audit-2026-07-22T18-32-12.500.log audit-2026-07-23T18-00-00.000.log "
                        "audit.log");
    free(l);
    /* a day later the mill of the next rotation removes both */
    c.sec += 86400;
    cr_assert_eq(wline(lf, 'b', MIB), KA_OK);
    ka_logfile_mill_wait(lf);
    l = ls(dir);
    cr_assert_str_eq(l, "audit-2026-07-24T18-32-12.500.log audit.log");
    ka_logfile_close(lf);
    free(l);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

/* Decompresses a gzip file with zlib; returns the bytes (NUL-terminated) and their count. */
static char *gunzip(const char *path, size_t *n)
{
    gzFile g = gzopen(path, "rb");
    cr_assert(g, "gzopen %s", path);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    int r;
    while ((r = gzread(g, out + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)r;
        if (len == cap)
            out = realloc(out, (cap *= 2) + 1);
    }
    cr_assert_geq(r, 0);
    gzclose(g);
    out[len] = '\0';
    *n = len;
    return out;
}

Test(logfile, compress_backups_keeps_mode)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 0, true, &c);
    chmod(p, 0640);
    struct ka_buf want;
    ka_buf_init(&want, 0);
    char line[100];
    for (int i = 0; want.n < MIB - 200; i++) {
        int n = snprintf(line, sizeof line, "{\"event\":%d,\"pad\":\"%0*d\"}\n", i, i % 50, 0);
        ka_buf_append(&want, line, (size_t)n);
        cr_assert_eq(ka_logfile_write(lf, line, (size_t)n), KA_OK);
    }
    cr_assert_eq(wline(lf, 'z', 300), KA_OK); /* rotates */
    ka_logfile_mill_wait(lf);
    ka_logfile_close(lf);
    char *l = ls(dir);
    cr_assert_str_eq(l, "audit-2026-07-23T18-32-12.000.log.gz audit.log");
    char *gz = pjoin(dir, "audit-2026-07-23T18-32-12.000.log.gz");
    size_t n;
    char *got = gunzip(gz, &n);
    cr_assert_eq(n, want.n);
    cr_assert_eq(memcmp(got, want.p, n), 0);
    struct stat sb;
    cr_assert_eq(stat(gz, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0640);
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0640); /* recreated with the old mode */
    cr_assert_eq(sb.st_size, 300);
    free(got);
    free(gz);
    free(l);
    ka_buf_free(&want);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, compress_failure_removes_partial_gz)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    /* an unreadable backup cannot be compressed: no .gz is left and the backup stays */
    touch(dir, "audit-2026-07-20T10-00-00.000.log", 10);
    char *b = pjoin(dir, "audit-2026-07-20T10-00-00.000.log");
    chmod(b, 0200);
    int readable = access(b, R_OK) == 0; /* root reads anyway */
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 0, true, &c);
    cr_assert_eq(wline(lf, 'a', 5), KA_OK);
    ka_logfile_mill_wait(lf);
    ka_logfile_close(lf);
    char *l = ls(dir);
    if (readable)
        cr_assert_str_eq(l, "audit-2026-07-20T10-00-00.000.log.gz audit.log");
    else
        cr_assert_str_eq(l, "audit-2026-07-20T10-00-00.000.log audit.log");
    free(l);
    free(b);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, maxsize_zero_never_rotates)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 0, 1, 1, true, &c);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(wline(lf, 'a', MIB / 2 + 1), KA_OK);
    cr_assert_eq(wline(lf, 'b', 2 * MIB), KA_OK); /* no maximum either */
    struct ka_logfile_stats st;
    ka_logfile_stats(lf, &st);
    cr_assert_eq(st.rotations, 0);
    ka_logfile_close(lf);
    char *l = ls(dir);
    cr_assert_str_eq(l, "audit.log");
    cr_assert_eq(fsize(dir, "audit.log"), 3 * (MIB / 2 + 1) + 2 * MIB);
    free(l);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, modes_of_new_files_and_dirs)
{
    char *dir = ka_t_tmpdir();
    char *p = pjoin(dir, "x/y/audit.log");
    mode_t old = umask(022);
    struct ka_logfile *lf = lopen(p, 1, 0, 0, false, NULL);
    umask(old);
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0, "the file exists after open");
    cr_assert_eq(sb.st_mode & 07777, 0600);
    cr_assert_eq(sb.st_size, 0);
    char *x = pjoin(dir, "x"), *y = pjoin(dir, "x/y");
    cr_assert_eq(stat(x, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0700);
    cr_assert_eq(stat(y, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0700);
    /* an existing file keeps its mode */
    ka_logfile_close(lf);
    chmod(p, 0644);
    lf = lopen(p, 1, 0, 0, false, NULL);
    cr_assert_eq(wline(lf, 'a', 5), KA_OK);
    ka_logfile_close(lf);
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0644);
    cr_assert_eq(sb.st_size, 5);
    free(x);
    free(y);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, bad_options)
{
    struct ka_logfile_opts o;
    struct ka_logfile *lf = NULL;
    ka_logfile_opts_default(&o);
    cr_assert_eq(o.max_size_mb, 100);
    cr_assert_eq(o.max_age_days, 366);
    cr_assert_eq(o.max_backups, 100);
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_EINVAL); /* no path */
    o.path = "/tmp/x.log";
    o.max_backups = -1;
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_EINVAL);
    o.max_backups = 0;
    o.format = (enum ka_log_format)7;
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_EINVAL);
    cr_assert_null(lf);
}

Test(logfile, dash_writes_to_stdout)
{
    char *dir = ka_t_tmpdir();
    char *p = pjoin(dir, "out");
    fflush(stdout);
    int save = dup(1), fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    struct ka_logfile *lf = lopen("-", 1, 0, 0, false, NULL);
    int r1 = ka_logfile_write(lf, "hello\n", 6);
    int r2 = wline(lf, 'q', 2 * MIB); /* no maximum on stdout */
    int r3 = ka_logfile_sync(lf);
    ka_logfile_close(lf);
    dup2(save, 1);
    close(save);
    cr_assert_eq(r1, KA_OK);
    cr_assert_eq(r2, KA_OK);
    cr_assert_eq(r3, KA_OK);
    cr_assert_eq(fsize(dir, "out"), 6 + 2 * MIB);
    size_t n;
    char *s = ka_t_read_file(p, &n);
    cr_assert_eq(memcmp(s, "hello\nqq", 8), 0);
    free(s);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, write_event_json_and_legacy)
{
    char *dir = ka_t_tmpdir();
    struct ka_event ev;
    struct ka_scan_err err;
    struct ka_scan_opts so = {0};
    cr_assert_eq(ka_event_scan(FULL_EVENT, strlen(FULL_EVENT), &so, &ev, &err), KA_OK);
    struct ka_buf want;
    ka_buf_init(&want, 0);
    struct ka_write_opts wo = {0};
    cr_assert_eq(ka_event_write(&ev, &wo, &want), KA_OK);
    char *p = pjoin(dir, "j.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 0, false, NULL);
    cr_assert_eq(ka_logfile_write_event(lf, &ev, NULL), KA_OK);
    ka_logfile_close(lf);
    size_t n;
    char *got = ka_t_read_file(p, &n);
    cr_assert_eq(n, want.n);
    cr_assert_eq(memcmp(got, want.p, n), 0);
    free(got);

    setenv("TZ", "UTC0", 1);
    tzset();
    struct ka_logfile_opts o;
    ka_logfile_opts_default(&o);
    char *q = pjoin(dir, "l.log");
    o.path = q;
    o.format = KA_LOG_FORMAT_LEGACY;
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_OK);
    cr_assert_eq(ka_logfile_write_event(lf, &ev, NULL), KA_OK);
    ka_logfile_close(lf);
    got = ka_t_read_file(q, &n);
    cr_assert_eq(strncmp(got, "2024-08-14T05:40:56.794659Z AUDIT: id=\"a1b2\" ", 45), 0, "%s",
                 got);
    cr_assert_eq(got[n - 1], '\n');
    free(got);
    free(q);
    ka_buf_free(&want);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, many_rotations_keep_every_line_once)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 3, true, &c);
    char line[128];
    unsigned long total = 0;
    for (int i = 0; i < 40000; i++) {
        c.nsec = (int32_t)((i / 100) % 1000) * 1000000; /* distinct names per rotation */
        c.sec = t0() + i / 100000;
        int n = snprintf(line, sizeof line, "%08d-%0*d\n", i, 80, 0);
        cr_assert_eq(ka_logfile_write(lf, line, (size_t)n), KA_OK);
        total += (unsigned long)n;
    }
    ka_logfile_mill_wait(lf);
    struct ka_logfile_stats st;
    ka_logfile_stats(lf, &st);
    ka_logfile_close(lf);
    cr_assert_eq(st.bytes, total);
    cr_assert_eq(st.rotations, total / MIB);
    /* three gzipped backups and the live file */
    char *l = ls(dir);
    int gz = 0;
    for (char *s = l; (s = strstr(s, ".gz")); s += 3)
        gz++;
    cr_assert_eq(gz, 3, "%s", l);
    free(l);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

Test(logfile, same_millisecond_rotation_takes_next_name)
{
    char *dir = ka_t_tmpdir();
    struct tclock c = {t0(), 999500000}; /* .999: the next free name is in the next second */
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile *lf = lopen(p, 1, 0, 0, false, &c);
    cr_assert_eq(wline(lf, 'a', MIB), KA_OK); /* rotates the empty file (>= rule) */
    cr_assert_eq(wline(lf, 'b', MIB), KA_OK);
    cr_assert_eq(wline(lf, 'c', MIB), KA_OK);
    ka_logfile_close(lf);
    cr_assert_eq(fsize(dir, "audit-2026-07-23T18-32-12.999.log"), 0);
    cr_assert_eq(fsize(dir, "audit-2026-07-23T18-32-13.000.log"), MIB);
    cr_assert_eq(fsize(dir, "audit-2026-07-23T18-32-13.001.log"), MIB);
    cr_assert_eq(fsize(dir, "audit.log"), MIB);
    free(p);
    ka_t_rmtree(dir);
    free(dir);
}

/* Writes 30000 lines of varying length into dir with coalesce_bytes; returns the stats. */
static void write_set(const char *dir, size_t coalesce, struct ka_logfile_stats *st)
{
    struct tclock c = {t0(), 0};
    char *p = pjoin(dir, "audit.log");
    struct ka_logfile_opts o;
    ka_logfile_opts_default(&o);
    o.path = p;
    o.max_size_mb = 1;
    o.max_backups = 0;
    o.max_age_days = 0;
    o.clock = tclock_fn;
    o.clock_ud = &c;
    o.coalesce_bytes = coalesce;
    struct ka_logfile *lf = NULL;
    cr_assert_eq(ka_logfile_open(&o, &lf), KA_OK);
    char line[512];
    for (int i = 0; i < 30000; i++) {
        c.nsec = (int32_t)((i / 10) % 1000) * 1000000; /* distinct names per rotation */
        c.sec = t0() + i / 10000;
        int n = snprintf(line, sizeof line, "%08d-%0*d\n", i, 20 + (i * 37) % 300, 0);
        cr_assert_eq(ka_logfile_write(lf, line, (size_t)n), KA_OK);
    }
    ka_logfile_stats(lf, st);
    ka_logfile_close(lf);
    free(p);
}

Test(logfile, coalesced_writes_give_the_same_files)
{
    char *a = ka_t_tmpdir(), *b = ka_t_tmpdir();
    struct ka_logfile_stats sa, sb;
    write_set(a, 0, &sa);
    write_set(b, 64 * 1024, &sb);
    cr_assert_eq(sa.rotations, sb.rotations);
    cr_assert_gt(sa.rotations, 3, "the test must rotate several times");
    cr_assert_eq(sa.bytes, sb.bytes);
    char *la = ls(a), *lb = ls(b);
    cr_assert_str_eq(la, lb, "same backup names");
    for (char *name = strtok(la, " "); name; name = strtok(NULL, " ")) {
        char *pa = pjoin(a, name), *pb = pjoin(b, name);
        size_t na, nb;
        char *da = ka_t_read_file(pa, &na), *db = ka_t_read_file(pb, &nb);
        cr_assert(da && db);
        cr_assert(na == nb && memcmp(da, db, na) == 0, "%s differs", name);
        cr_assert_leq(na, MIB, "%s is over the maximum", name);
        free(da);
        free(db);
        free(pa);
        free(pb);
    }
    free(la);
    free(lb);
    ka_t_rmtree(a);
    ka_t_rmtree(b);
    free(a);
    free(b);
}
