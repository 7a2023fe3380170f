/*
 * test_output_loki.c - the Loki output: the exact push body (streams by label set in order of
 * first appearance, entries sorted by time inside each stream, nanosecond string timestamps
 * from stageTimestamp), labels and their parameters, oversized lines losing their objects with
 * a marker annotation, max_event, and over real HTTP against tests/util/recv.py: the tenant
 * header, 429/500/dropped connections/slow answers retried (at least once), 400 dead-lettered
 * with Loki's message. All data is written inline; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/outputs/loki/loki_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_loki;

/* ---- fixture: canonical events and hand-filled URLs ---------------------------------------- */

#define MAXEV 40
struct fx {
    char *line[MAXEV];
    struct ka_event ev[MAXEV];
    struct ka_out_event oe[MAXEV];
    struct ka_out_item items[MAXEV];
    struct ka_out_batch b;
};

static void fx_add(struct fx *f, const char *js)
{
    struct ka_event ev;
    struct ka_scan_err err;
    struct ka_buf b;
    cr_assert_eq(ka_event_scan(js, strlen(js), NULL, &ev, &err), KA_OK, "scan %s", js);
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_write(&ev, NULL, &b), KA_OK);
    b.n--; /* the LF */
    ka_buf_cstr(&b);
    size_t i = f->b.n++;
    f->line[i] = b.p;
    cr_assert_eq(ka_event_scan(b.p, b.n, NULL, &f->ev[i], &err), KA_OK);
    f->oe[i] = (struct ka_out_event){b.p, b.n, &f->ev[i]};
    f->b.ev = f->oe;
}

static void fx_free(struct fx *f)
{
    for (size_t i = 0; i < f->b.n; i++)
        free(f->line[i]);
}

static void url_init(struct ka_out_url *u, const char *scheme, const char *host, int port)
{
    memset(u, 0, sizeof *u);
    snprintf(u->scheme, sizeof u->scheme, "%s", scheme);
    snprintf(u->host, sizeof u->host, "%s", host);
    u->port = port;
}

static void url_param(struct ka_out_url *u, const char *k, const char *v)
{
    snprintf(u->key[u->n_params], sizeof u->key[0], "%s", k);
    snprintf(u->val[u->n_params], sizeof u->val[0], "%s", v);
    u->n_params++;
}


static void *create_ok(const struct ka_out_url *u, const struct ka_out_opts *o)
{
    void *ctx = NULL;
    char err[256] = "";
    int rc = ka_output_loki.create(u, o, &ctx, err, sizeof err);
    cr_assert_eq(rc, KA_OK, "create: %s", err);
    return ctx;
}

static char *format_str(void *ctx, struct fx *f)
{
    struct ka_buf body;
    ka_buf_init(&body, 0);
    memset(f->items, 0, sizeof f->items);
    cr_assert_eq(ka_output_loki.format(ctx, &f->b, &body, f->items), KA_OK);
    ka_buf_cstr(&body);
    return body.p ? body.p : calloc(1, 1);
}

/* Appends s as a JSON string body (the lines here hold no control bytes nor <>&). */
static void esc(struct ka_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            ka_buf_putc(b, '\\');
        ka_buf_putc(b, *s);
    }
}

#define EVT(id, verb, res, ts, ann)                                                              \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"" id "\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"" verb "\","     \
    "\"user\":{},\"objectRef\":{\"resource\":\"" res "\",\"namespace\":\"kube-system\"},"        \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:00.000000Z\",\"stageTimestamp\":\"" ts      \
    "\"" ann "}"
#define C1 ",\"annotations\":{\"kaudit.io/cluster\":\"c1\"}"

Test(loki_format, streams_and_order)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", C1));
    fx_add(&f, EVT("l2", "create", "secrets", "2024-08-14T05:40:57.000000Z", ""));
    fx_add(&f, EVT("l3", "get", "pods", "2024-08-14T05:40:56.500000Z", C1));
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", 3100);
    url_param(&u, "cluster", "prod");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    struct ka_buf w;
    ka_buf_init(&w, 0);
    ka_buf_puts(&w, "{\"streams\":[{\"stream\":{\"job\":\"kaudit\",\"cluster\":\"c1\",\"verb\":"
                    "\"get\",\"resource\":\"pods\"},\"values\":[[\"1723614056500000000\",\"");
    esc(&w, f.line[2]);
    ka_buf_puts(&w, "\"],[\"1723614058000001000\",\"");
    esc(&w, f.line[0]);
    ka_buf_puts(&w, "\"]]},{\"stream\":{\"job\":\"kaudit\",\"cluster\":\"prod\",\"verb\":"
                    "\"create\",\"resource\":\"secrets\"},\"values\":[[\"1723614057000000000\",\"");
    esc(&w, f.line[1]);
    ka_buf_puts(&w, "\"]]}]}");
    ka_buf_cstr(&w);
    cr_expect_str_eq(got, w.p);
    for (size_t i = 0; i < 3; i++)
        cr_expect_eq(f.items[i].result, KA_OUT_OK);
    ka_buf_free(&w);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

Test(loki_format, configured_labels)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", ""));
    struct ka_out_url u;
    url_init(&u, "lokis", "loki.example", 0);
    url_param(&u, "labels", "namespace,stage,level,api_group");
    url_param(&u, "job", "audit");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    const char *want = "{\"streams\":[{\"stream\":{\"job\":\"audit\",\"namespace\":"
                       "\"kube-system\",\"stage\":\"ResponseComplete\",\"level\":\"Metadata\"},"
                       "\"values\":[[\"1723614058000001000\",\"";
    cr_expect(strncmp(got, want, strlen(want)) == 0, "%s", got);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    void *ctx = NULL;
    char err[256] = "";
    cr_expect_eq(ka_output_loki.create(u, NULL, &ctx, err, sizeof err), KA_EINVAL);
    cr_expect(strstr(err, needle) != NULL, "err '%s' lacks '%s'", err, needle);
}

Test(loki_create, refuses_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "loki", "h", 0);
    url_param(&u, "labels", "verb,user");
    create_fails(&u, "labels: user");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "max_line", "10");
    create_fails(&u, "max_line");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "tenant", "");
    create_fails(&u, "tenant");
    url_init(&u, "loki", "h", 0);
    url_param(&u, "lables", "verb");
    create_fails(&u, "unknown parameter lables");
}

Test(loki_format, oversized_lines_lose_objects_or_go_to_dead_letter)
{
    static char big[3000], huge[6000], js[8000];
    memset(big, 'x', sizeof big - 1);
    memset(huge, 'y', sizeof huge - 1);
    struct fx f = {0};
    snprintf(js, sizeof js, EVT("b1", "update", "configmaps", "2024-08-14T05:40:58.000001Z",
                                ",\"requestObject\":{\"data\":{\"k\":\"%s\"}}"), big);
    fx_add(&f, js);
    snprintf(js, sizeof js, EVT("b2", "update", "configmaps", "2024-08-14T05:40:58.000001Z",
                                ",\"annotations\":{\"a\":\"%s\"}"), huge);
    fx_add(&f, js);
    fx_add(&f, EVT("b3", "get", "pods", "2024-08-14T05:40:59.000000Z", ""));
    fx_add(&f, "{\"level\":\"Metadata\",\"auditID\":\"b4\",\"stage\":\"RequestReceived\","
               "\"verb\":\"get\",\"requestReceivedTimestamp\":\"2024-08-14T05:40:00Z\"}");
    struct ka_out_url u;
    url_init(&u, "loki", "h", 0);
    url_param(&u, "max_line", "2048");
    struct ka_out_opts o = {.max_event = 5000};
    void *ctx = create_ok(&u, &o);
    char *got = format_str(ctx, &f);
    cr_expect_eq(f.items[0].result, KA_OUT_OK);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    char want[160];
    snprintf(want, sizeof want, "event of %zu bytes exceeds max_event (5000)", f.oe[1].len);
    cr_expect_str_eq(f.items[1].reason, want);
    cr_expect(strstr(got, "xxxx") == NULL, "the request object was dropped");
    snprintf(want, sizeof want, "\\\"kaudit.io/loki-objects-dropped\\\":\\\"%zu\\\"",
             f.oe[0].len);
    cr_expect(strstr(got, want) != NULL, "marker %s missing in %s", want, got);
    cr_expect(strstr(got, "\\\"auditID\\\":\\\"b1\\\"") != NULL);
    cr_expect(strstr(got, "[\"1723614000000000000\",") != NULL, "b4 at requestReceived");
    free(got);
    ka_output_loki.destroy(ctx);

    /* Without max_event, b2 is still too long without objects: dead letter, not cut. */
    ctx = create_ok(&u, NULL);
    got = format_str(ctx, &f);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    snprintf(want, sizeof want, "loki: event of %zu bytes exceeds max_line (2048) even without "
                                "requestObject and responseObject", f.oe[1].len);
    cr_expect_str_eq(f.items[1].reason, want);
    cr_expect(strstr(got, "yyyy") == NULL);
    free(got);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

Test(loki_send, refused_connection_is_retry)
{
    struct fx f = {0};
    fx_add(&f, EVT("l1", "get", "pods", "2024-08-14T05:40:58.000001Z", ""));
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", 1);
    void *ctx = create_ok(&u, NULL);
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_output_loki.format(ctx, &f.b, &body, f.items), KA_OK);
    cr_assert_eq(ka_output_loki.send(ctx, &f.b, &body, f.items), KA_OK);
    cr_expect_eq(f.items[0].result, KA_OUT_RETRY);
    ka_buf_free(&body);
    ka_output_loki.destroy(ctx);
    fx_free(&f);
}

/* ---- over real HTTP: tests/util/recv.py on loopback, failures injected ---------------------- */

#include <curl/curl.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rv {
    pid_t pid;
    int port;
    char *dir;
};

static void rv_start(struct rv *r, const char *const *extra)
{
    char pf[512], script[512];
    r->dir = ka_t_tmpdir();
    cr_assert_not_null(r->dir);
    snprintf(pf, sizeof pf, "%s/port", r->dir);
    snprintf(script, sizeof script, "%s/tests/util/recv.py", KA_SOURCE_DIR);
    const char *argv[16] = {"python3", script, "--portfile", pf, "--max-seconds", "300"};
    size_t n = 6;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    r->pid = fork();
    cr_assert_neq(r->pid, -1);
    if (r->pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        char *s = ka_t_read_file(pf, NULL);
        if (s) {
            r->port = atoi(s);
            free(s);
            return;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("recv.py did not start");
}

static size_t rv_sink(char *p, size_t sz, size_t nm, void *ud)
{
    return ka_buf_append(ud, p, sz * nm) ? 0 : sz * nm;
}

/* POST json to path (or GET when json is NULL); returns the body (malloc'd). */
static char *rv_call(struct rv *r, const char *path, const char *json)
{
    char url[256];
    struct ka_buf b;
    ka_buf_init(&b, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rv_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (json)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    CURLcode e = curl_easy_perform(c);
    curl_easy_cleanup(c);
    cr_assert_eq(e, CURLE_OK, "recv.py %s: %s", path, curl_easy_strerror(e));
    ka_buf_cstr(&b);
    return b.p;
}

static void rv_ctl(struct rv *r, const char *path, const char *json)
{
    free(rv_call(r, path, json));
}

static json_t *rv_state(struct rv *r)
{
    char *s = rv_call(r, "/_ctl/state", NULL);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    free(s);
    cr_assert_not_null(j, "state: %s", je.text);
    json_t *v = json_object_get(j, "violations");
    cr_expect_eq(json_array_size(v), 0, "wire-format violations: %s",
                 json_string_value(json_object_get(json_array_get(v, 0), "error")));
    return j;
}

static void rv_stop(struct rv *r)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_ctl/quit", r->port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rv_sink);
    struct ka_buf ignored;
    ka_buf_init(&ignored, 4096);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ignored);
    (void)curl_easy_perform(c); /* the server may go before it answers */
    curl_easy_cleanup(c);
    ka_buf_free(&ignored);
    int st;
    for (int i = 0; i < 100 && waitpid(r->pid, &st, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (waitpid(r->pid, &st, WNOHANG) == 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &st, 0);
    }
    ka_t_rmtree(r->dir);
    free(r->dir);
}

/* A minimal engine: batches of the pending events, retried until each is OK or PERMANENT. */
struct outcome {
    enum ka_out_result result;
    int tries;
    char reason[160];
};

static void drive(const struct ka_output_ops *ops, void *ctx, const struct ka_out_event *ev,
                  size_t n, size_t batch, int rounds, struct outcome *out)
{
    struct ka_out_event *sub = calloc(n, sizeof *sub);
    struct ka_out_item *items = calloc(n, sizeof *items);
    size_t *map = calloc(n, sizeof *map);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct outcome){KA_OUT_RETRY, 0, ""};
    for (int round = 0; round < rounds; round++) {
        size_t k = 0;
        for (size_t i = 0; i < n && k < batch; i++)
            if (out[i].result == KA_OUT_RETRY) {
                map[k] = i;
                sub[k++] = ev[i];
            }
        if (!k)
            break;
        struct ka_out_batch b = {sub, k};
        struct ka_buf body;
        ka_buf_init(&body, 0);
        memset(items, 0, k * sizeof *items);
        cr_assert_eq(ops->format(ctx, &b, &body, items), KA_OK);
        int rc = ops->send(ctx, &b, &body, items);
        for (size_t j = 0; j < k; j++) {
            struct outcome *o = &out[map[j]];
            o->tries++;
            o->result = rc ? KA_OUT_RETRY : items[j].result;
            memcpy(o->reason, items[j].reason, sizeof o->reason);
        }
        ka_buf_free(&body);
    }
    free(sub);
    free(items);
    free(map);
}

static void fx_gen(struct fx *f, size_t n, const char *extra_member)
{
    char js[2048];
    for (size_t i = 0; i < n; i++) {
        snprintf(js, sizeof js,
                 "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
                 "\"auditID\":\"id-%04zu\",\"stage\":\"ResponseComplete\",\"requestURI\":"
                 "\"/api/v1/namespaces/ns%zu/pods\",\"verb\":\"%s\",\"user\":{\"username\":"
                 "\"u%zu\"},\"objectRef\":{\"resource\":\"%s\",\"namespace\":\"ns%zu\"},"
                 "\"requestReceivedTimestamp\":\"2024-08-14T05:40:%02zu.000000Z\","
                 "\"stageTimestamp\":\"2024-08-14T05:40:%02zu.500000Z\"%s}",
                 i, i % 3, i % 2 ? "get" : "create", i, i % 3 ? "pods" : "secrets", i % 3,
                 (n - i) % 60, (n - i) % 60, extra_member ? extra_member : "");
        fx_add(f, js);
    }
}


static void create_loki(struct rv *r, void **ctx, int timeout_ms)
{
    struct ka_out_url u;
    url_init(&u, "loki", "127.0.0.1", r->port);
    url_param(&u, "tenant", "team-a");
    url_param(&u, "labels", "cluster,verb,namespace");
    url_param(&u, "cluster", "test");
    struct ka_out_opts o = {.timeout_ms = timeout_ms};
    *ctx = create_ok(&u, &o);
}

/* Number of entries recorded per auditID; every id 0..n-1 must be there. */
static void count_ids(json_t *st, size_t n, int *count)
{
    json_t *e;
    size_t i;
    memset(count, 0, n * sizeof *count);
    json_array_foreach(json_object_get(st, "loki"), i, e)
    {
        const char *id = json_string_value(json_object_get(json_object_get(e, "line"), "auditID"));
        cr_assert_not_null(id);
        size_t k = (size_t)atoi(id + 3);
        cr_assert_lt(k, n);
        count[k]++;
    }
}

Test(loki_live, failures_at_least_once)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 20, NULL);
    void *ctx;
    create_loki(&r, &ctx, 1000);
    rv_ctl(&r, "/_ctl/fail",
           "{\"proto\":\"loki\",\"actions\":[{\"status\":429,\"body\":\"Ingestion rate limit "
           "exceeded\"},{\"status\":500},{\"drop\":\"before\"},{\"drop\":\"after\"},"
           "{\"delay\":2.5},{\"status\":503}]}");
    struct outcome out[MAXEV];
    drive(&ka_output_loki, ctx, f.oe, f.b.n, 5, 20, out);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL); /* the slow answer's request is recorded when it wakes */
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    size_t dup = 0;
    for (size_t i = 0; i < f.b.n; i++) {
        cr_expect_geq(count[i], 1, "id-%04zu lost", i);
        dup += (size_t)(count[i] - 1);
    }
    cr_expect_geq(dup, 1, "the answer lost after recording makes duplicates (at least once)");
    json_t *req = json_array_get(json_object_get(st, "requests"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(req, "tenant")), "team-a");
    cr_expect_str_eq(json_string_value(json_object_get(req, "ctype")), "application/json");
    json_t *e0 = json_array_get(json_object_get(st, "loki"), 0);
    json_t *lab = json_object_get(e0, "labels");
    cr_expect_str_eq(json_string_value(json_object_get(lab, "cluster")), "test");
    cr_expect_eq(json_object_size(lab), 4);
    json_decref(st);
    ka_output_loki.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(loki_live, rejected_request_is_dead_lettered_with_message)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 6, NULL);
    void *ctx;
    create_loki(&r, &ctx, 5000);
    rv_ctl(&r, "/_ctl/reject", "{\"proto\":\"loki\",\"audit_ids\":{\"id-0002\":400}}");
    struct outcome out[MAXEV];
    drive(&ka_output_loki, ctx, f.oe, f.b.n, 1, 10, out);
    for (size_t i = 0; i < f.b.n; i++) {
        if (i == 2) {
            cr_expect_eq(out[i].result, KA_OUT_PERMANENT);
            cr_expect(strstr(out[i].reason, "loki HTTP 400: entry for stream") != NULL, "%s",
                      out[i].reason);
            cr_expect_eq(out[i].tries, 1, "a 400 is not retried");
        } else {
            cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
        }
    }
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(count[i], i == 2 ? 0 : 1, "id-%04zu", i);
    json_decref(st);
    ka_output_loki.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}
