/*
 * test_output_splunk.c - the Splunk HEC output: the exact batch of concatenated envelopes
 * (time from the event in seconds with microseconds, host/source/sourcetype/index), token and
 * parameters, HEC answers (invalid-event-number, codes), and over real HTTP against
 * tests/util/recv.py: indexer acknowledgement with the channel header and ack polling (late
 * acks, lost acks -> RETRY), 429/503/dropped connections/slow answers retried, a refused event
 * dead-lettered alone, a wrong token refused. All data is written inline; nothing comes from
 * ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/outputs/splunk/splunk_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_splunk;

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
    int rc = ka_output_splunk.create(u, o, &ctx, err, sizeof err);
    cr_assert_eq(rc, KA_OK, "create: %s", err);
    return ctx;
}

static char *format_str(void *ctx, struct fx *f)
{
    struct ka_buf body;
    ka_buf_init(&body, 0);
    memset(f->items, 0, sizeof f->items);
    cr_assert_eq(ka_output_splunk.format(ctx, &f->b, &body, f->items), KA_OK);
    ka_buf_cstr(&body);
    return body.p ? body.p : calloc(1, 1);
}

#define EV1                                                                                       \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"s1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":\"get\",\"user\":{},"  \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:00.000000Z\",\"stageTimestamp\":"           \
    "\"2024-08-14T05:40:58.000001Z\"}"
#define EV2                                                                                       \
    "{\"level\":\"None\",\"auditID\":\"s2\",\"stage\":\"RequestReceived\",\"verb\":\"watch\","   \
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\"}"
#define EV3 "{\"level\":\"None\",\"auditID\":\"s3\",\"stage\":\"Panic\"}"

Test(splunk_format, envelopes_exact)
{
    struct fx f = {0};
    fx_add(&f, EV1);
    fx_add(&f, EV2);
    fx_add(&f, EV3);
    struct ka_out_url u;
    url_init(&u, "splunk", "127.0.0.1", 8088);
    url_param(&u, "token", "t");
    url_param(&u, "host", "cp-1");
    url_param(&u, "index", "k8s_audit");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    char want[8192];
    snprintf(want, sizeof want,
             "{\"time\":1723614058.000001,\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}"
             "{\"time\":1723614056.794659,\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}"
             "{\"host\":\"cp-1\",\"source\":\"kaudit\",\"sourcetype\":"
             "\"kube:apiserver:audit\",\"index\":\"k8s_audit\",\"event\":%s}",
             f.line[0], f.line[1], f.line[2]);
    cr_expect_str_eq(got, want);
    free(got);
    ka_output_splunk.destroy(ctx);

    url_init(&u, "splunks", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "sourcetype", "");
    url_param(&u, "source", "");
    struct ka_out_opts o = {.max_event = f.oe[0].len - 1};
    ctx = create_ok(&u, &o);
    got = format_str(ctx, &f);
    snprintf(want, sizeof want,
             "{\"time\":1723614056.794659,\"event\":%s}{\"event\":%s}", f.line[1], f.line[2]);
    cr_expect_str_eq(got, want);
    cr_expect_eq(f.items[0].result, KA_OUT_PERMANENT);
    snprintf(want, sizeof want, "event of %zu bytes exceeds max_event (%zu)", f.oe[0].len,
             f.oe[0].len - 1);
    cr_expect_str_eq(f.items[0].reason, want);
    free(got);
    ka_output_splunk.destroy(ctx);
    fx_free(&f);
}

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    void *ctx = NULL;
    char err[256] = "";
    cr_expect_eq(ka_output_splunk.create(u, NULL, &ctx, err, sizeof err), KA_EINVAL);
    cr_expect(strstr(err, needle) != NULL, "err '%s' lacks '%s'", err, needle);
}

Test(splunk_create, refuses_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "splunk", "h", 0);
    create_fails(&u, "token is required");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "ack", "maybe");
    create_fails(&u, "ack");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "channel", "not a guid");
    create_fails(&u, "channel");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token_file", "/nonexistent/token");
    create_fails(&u, "/nonexistent/token");
    url_init(&u, "splunk", "h", 0);
    url_param(&u, "token", "t");
    url_param(&u, "sourcetyp", "x");
    create_fails(&u, "unknown parameter sourcetyp");
}

Test(splunk_answers, errors_ack_ids_and_acks)
{
    struct ka_out_item it[4];
    memset(it, 0, sizeof it);
    it[1].result = KA_OUT_PERMANENT; /* left out of the body by format */
    static const char bad[] = "{\"text\":\"Invalid data format\",\"code\":6,"
                              "\"invalid-event-number\":1}";
    ka_splunk_apply_error(bad, strlen(bad), 400, 4, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_eq(it[1].result, KA_OUT_PERMANENT);
    cr_expect_eq(it[2].result, KA_OUT_PERMANENT, "the second event sent is the third");
    cr_expect_str_eq(it[2].reason, "splunk HTTP 400 code 6: Invalid data format");
    cr_expect_eq(it[3].result, KA_OUT_RETRY);
    memset(it, 0, sizeof it);
    static const char busy[] = "{\"text\":\"Server is busy\",\"code\":9}";
    ka_splunk_apply_error(busy, strlen(busy), 503, 2, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_str_eq(it[1].reason, "splunk HTTP 503 code 9: Server is busy");
    static const char tok[] = "{\"text\":\"Invalid token\",\"code\":4}";
    ka_splunk_apply_error(tok, strlen(tok), 403, 2, it);
    cr_expect_eq(it[0].result, KA_OUT_PERMANENT);
    long long id = -1;
    static const char ok[] = "{\"text\":\"Success\",\"code\":0,\"ackId\":42}";
    cr_expect(ka_splunk_ack_id(ok, strlen(ok), &id));
    cr_expect_eq(id, 42);
    cr_expect_not(ka_splunk_ack_id("{\"text\":\"Success\",\"code\":0}", 28, &id));
    static const char a1[] = "{\"acks\":{\"42\":true}}", a0[] = "{\"acks\":{\"42\":false}}";
    cr_expect_eq(ka_splunk_acked(a1, strlen(a1), 42), 1);
    cr_expect_eq(ka_splunk_acked(a0, strlen(a0), 42), 0);
    cr_expect_eq(ka_splunk_acked(a1, strlen(a1), 7), -1);
    cr_expect_eq(ka_splunk_acked("nope", 4, 42), -1);
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


static void create_splunk(struct rv *r, void **ctx, const char *token, bool ack)
{
    struct ka_out_url u;
    url_init(&u, "splunk", "127.0.0.1", r->port);
    url_param(&u, "token", token);
    if (ack) {
        url_param(&u, "ack", "true");
        url_param(&u, "ack_poll_ms", "50");
        url_param(&u, "ack_timeout_ms", "1000");
    }
    struct ka_out_opts o = {.timeout_ms = 1000};
    *ctx = create_ok(&u, &o);
}

static void count_ids(json_t *st, size_t n, int *count)
{
    json_t *e;
    size_t i;
    memset(count, 0, n * sizeof *count);
    json_array_foreach(json_object_get(st, "splunk"), i, e)
    {
        const char *id = json_string_value(json_object_get(json_object_get(e, "event"), "auditID"));
        cr_assert_not_null(id);
        size_t k = (size_t)atoi(id + 3);
        cr_assert_lt(k, n);
        count[k]++;
    }
}

Test(splunk_live, indexer_ack_late_and_lost)
{
    static const char *const args[] = {"--splunk-ack", NULL};
    struct rv r;
    rv_start(&r, args);
    struct fx f = {0};
    fx_gen(&f, 15, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "test-token", true);
    rv_ctl(&r, "/_ctl/fail", "{\"proto\":\"splunk\",\"actions\":[{\"ack_pending\":4},"
                             "{\"ack_never\":true},{\"status\":503}]}");
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 10, out);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
    /* The batch whose ack never came was sent again: its events arrived twice. */
    cr_expect_eq(out[5].tries, 3, "lost ack, then 503, then acked: %s", out[5].reason);
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(count[i], i >= 5 && i < 10 ? 2 : 1, "id-%04zu x%d", i, count[i]);
    json_t *req, *reqs = json_object_get(st, "requests");
    size_t k, polls = 0;
    const char *ch = json_string_value(json_object_get(json_array_get(reqs, 0), "channel"));
    cr_assert_not_null(ch);
    cr_expect_eq(strlen(ch), 36);
    json_array_foreach(reqs, k, req)
    {
        cr_expect_str_eq(json_string_value(json_object_get(req, "channel")), ch);
        cr_expect_str_eq(json_string_value(json_object_get(req, "auth")), "Splunk test-token");
        polls += !strcmp(json_string_value(json_object_get(req, "path")),
                         "/services/collector/ack");
    }
    cr_expect_geq(polls, 5 + 3, "ack polled until acked, and until the timeout");
    json_decref(st);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(splunk_live, failures_and_one_refused_event)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 20, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "test-token", false);
    rv_ctl(&r, "/_ctl/fail", "{\"proto\":\"splunk\",\"actions\":[{\"status\":429},"
                             "{\"status\":503},{\"drop\":\"before\"},{\"drop\":\"after\"},"
                             "{\"delay\":2.5}]}");
    rv_ctl(&r, "/_ctl/reject", "{\"proto\":\"splunk\",\"audit_ids\":{\"id-0013\":400}}");
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 20, out);
    for (size_t i = 0; i < f.b.n; i++) {
        if (i == 13) {
            cr_expect_eq(out[i].result, KA_OUT_PERMANENT);
            cr_expect_str_eq(out[i].reason, "splunk HTTP 400 code 6: Invalid data format");
        } else {
            cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
        }
    }
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    json_t *st = rv_state(&r);
    int count[MAXEV] = {0};
    count_ids(st, f.b.n, count);
    for (size_t i = 0; i < f.b.n; i++)
        if (i != 13)
            cr_expect_geq(count[i], 1, "id-%04zu lost", i);
    cr_expect_eq(count[13], 0);
    json_decref(st);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(splunk_live, wrong_token_is_permanent)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 2, NULL);
    void *ctx;
    create_splunk(&r, &ctx, "wrong", false);
    struct outcome out[MAXEV];
    drive(&ka_output_splunk, ctx, f.oe, f.b.n, 5, 3, out);
    cr_expect_eq(out[0].result, KA_OUT_PERMANENT);
    cr_expect_str_eq(out[0].reason, "splunk HTTP 401 code 4: Invalid token");
    cr_expect_eq(out[1].tries, 1);
    ka_output_splunk.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}
