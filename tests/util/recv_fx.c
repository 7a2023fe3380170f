/* recv_fx.c - the output tests' fixture (see recv_fx.h). */
#include "recv_fx.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- canonical events and hand-filled URLs --------------------------------------------------- */

void fx_add(struct fx *f, const char *js)
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

void fx_free(struct fx *f)
{
    for (size_t i = 0; i < f->b.n; i++)
        free(f->line[i]);
}

void url_init(struct ka_out_url *u, const char *scheme, const char *host, int port)
{
    memset(u, 0, sizeof *u);
    snprintf(u->scheme, sizeof u->scheme, "%s", scheme);
    snprintf(u->host, sizeof u->host, "%s", host);
    u->port = port;
}

void url_param(struct ka_out_url *u, const char *k, const char *v)
{
    snprintf(u->key[u->n_params], sizeof u->key[0], "%s", k);
    snprintf(u->val[u->n_params], sizeof u->val[0], "%s", v);
    u->n_params++;
}

void *fx_create(const struct ka_output_ops *ops, const struct ka_out_url *u,
                const struct ka_out_opts *o)
{
    void *ctx = NULL;
    char err[256] = "";
    int rc = ops->create(u, o, &ctx, err, sizeof err);
    cr_assert_eq(rc, KA_OK, "create: %s", err);
    return ctx;
}

void fx_create_fails(const struct ka_output_ops *ops, const struct ka_out_url *u,
                     const char *needle)
{
    void *ctx = NULL;
    char err[256] = "";
    cr_expect_eq(ops->create(u, NULL, &ctx, err, sizeof err), KA_EINVAL);
    cr_expect(strstr(err, needle) != NULL, "err '%s' lacks '%s'", err, needle);
}

char *fx_format(const struct ka_output_ops *ops, void *ctx, struct fx *f)
{
    struct ka_buf body;
    ka_buf_init(&body, 0);
    memset(f->items, 0, sizeof f->items);
    cr_assert_eq(ops->format(ctx, &f->b, &body, f->items), KA_OK);
    ka_buf_cstr(&body);
    return body.p ? body.p : calloc(1, 1);
}

/* ---- tests/util/recv.py on loopback ---------------------------------------------------------- */

void rv_start(struct rv *r, const char *const *extra)
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

char *rv_call(struct rv *r, const char *path, const char *json)
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

void rv_ctl(struct rv *r, const char *path, const char *json)
{
    free(rv_call(r, path, json));
}

json_t *rv_state(struct rv *r)
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

void rv_stop(struct rv *r)
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

void drive(const struct ka_output_ops *ops, void *ctx, const struct ka_out_event *ev, size_t n,
           size_t batch, int rounds, struct outcome *out)
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

void fx_gen(struct fx *f, size_t n, const char *extra_member)
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

void rv_count_ids(json_t *st, const char *list, const char *member, size_t n, int *count)
{
    json_t *e;
    size_t i;
    memset(count, 0, n * sizeof *count);
    json_array_foreach(json_object_get(st, list), i, e)
    {
        const char *id = json_string_value(json_object_get(json_object_get(e, member), "auditID"));
        cr_assert_not_null(id);
        size_t k = (size_t)atoi(id + 3);
        cr_assert_lt(k, n);
        count[k]++;
    }
}
