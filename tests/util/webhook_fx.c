/* webhook_fx.c - the intake tests' fixture (see webhook_fx.h). */
#include "webhook_fx.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
static int failing_append(void *ud, const char *lines, size_t len, size_t n)
{
    struct fx *f = ud;
    if (f->fail_rc) return f->fail_rc;
    return f->real.append(f->real.ud, lines, len, n);
}

static bool failing_writable(void *ud)
{
    struct fx *f = ud;
    return f->fail_rc == 0 && f->real.writable(f->real.ud);
}

static int forward_metrics(void *ud, struct ka_buf *out)
{
    struct fx *f = ud;
    return f->real.metrics(f->real.ud, out);
}

void fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    f->dir = ka_t_tmpdir();
    cr_assert(f->dir);
    struct ka_diag d = {0};
    cr_assert_eq(ka_cfg_new(ka_cfg_serve_keys, &d, &f->cfg), KA_OK);
    ka_diag_free(&d);
}

void fx_set(struct fx *f, const char *key, const char *val)
{
    struct ka_diag d = {0};
    int rc = ka_cfg_set(f->cfg, key, val, "--test", &d);
    cr_assert_eq(rc, KA_OK, "%s: %s", key, d.n ? d.v[0].msg : "?");
    ka_diag_free(&d);
}

int fx_start_rc(struct fx *f, const char *data_dir)
{
    fx_set(f, "server.data_dir", data_dir ? data_dir : f->dir);
    cr_assert_eq(ka_cfg_fill(f->cfg, &f->sc), KA_OK);
    char jdir[600];
    snprintf(jdir, sizeof jdir, "%s/journal", f->sc.data_dir);
    struct ka_journal_opts jo;
    ka_journal_opts_default(&jo);
    jo.dir = jdir;
    cr_assert_eq(ka_journal_open(&jo, &f->j), KA_OK);
    ka_webhook_journal_sink(f->j, &f->real);
    struct ka_webhook_opts o = {
        .cfg = &f->sc, .data_dir = f->sc.data_dir, .listen = "127.0.0.1:0", .retry_after_sec = 7};
    o.sink = f->real;
    o.sink.append = failing_append;
    o.sink.writable = failing_writable;
    o.sink.metrics = forward_metrics;
    o.sink.ud = f;
    o.sink.stats = NULL;
    struct ka_diag d = {0};
    int rc = ka_webhook_start(&o, &d, &f->s);
    for (size_t i = 0; i < d.n; i++)
        cr_log_info("%s", d.v[i].msg);
    ka_diag_free(&d);
    if (rc == KA_OK)
        snprintf(f->base, sizeof f->base, "%s://127.0.0.1:%u",
                 ka_webhook_is_tls(f->s) ? "https" : "http", ka_webhook_port(f->s));
    return rc;
}

void fx_start(struct fx *f)
{
    cr_assert_eq(fx_start_rc(f, NULL), KA_OK);
}

void fx_fini(struct fx *f)
{
    ka_webhook_stop(f->s, 1000);
    ka_journal_close(f->j);
    ka_cfg_free(f->cfg);
    ka_t_rmtree(f->dir);
    free(f->dir);
}



static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct resp *r = ud;
    size_t n = sz * nm, room = sizeof r->body - 1 - r->n;
    memcpy(r->body + r->n, p, n < room ? n : room);
    r->n += n < room ? n : room;
    r->body[r->n] = '\0';
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct resp *r = ud;
    size_t n = sz * nm;
    if (n > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(n - 15 > 0 ? n - 15 : 0),
                 p + 13);
    return n;
}

/* One request. method NULL = POST; ctype NULL = none; token NULL = none. */
long req(struct fx *f, const char *method, const char *path, const char *ctype,
         const char *body, size_t n, const char *token, struct resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    cr_assert(c);
    char url[512], h1[128], h2[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    struct curl_slist *hs = NULL;
    snprintf(h1, sizeof h1, "Content-Type:%s%s", ctype ? " " : "", ctype ? ctype : "");
    hs = curl_slist_append(hs, h1);
    if (token) {
        snprintf(h2, sizeof h2, "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, h2);
    }
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (!method || body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (f->ca[0]) curl_easy_setopt(c, CURLOPT_CAINFO, f->ca);
    if (f->cert[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, f->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, f->key);
    }
    CURLcode cc = curl_easy_perform(c);
    r->status = -1;
    if (cc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return r->status;
}

long post(struct fx *f, const char *path, const char *body, struct resp *r)
{
    return req(f, NULL, path, "application/json", body, strlen(body), NULL, r);
}

/* The journal's events, parsed. */
json_t *journal_events(struct fx *f)
{
    char path[600];
    snprintf(path, sizeof path, "%s/journal/audit.log", f->sc.data_dir);
    size_t n = 0;
    char *text = ka_t_read_file(path, &n);
    json_t *arr = json_array();
    if (!text) return arr;
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert(nl, "journal ends without LF");
        *nl = '\0';
        json_error_t je;
        json_t *ev = json_loads(line, 0, &je);
        cr_assert(ev, "journal line not JSON: %s", je.text);
        json_array_append_new(arr, ev);
    }
    free(text);
    return arr;
}

const char *cluster_of(json_t *ev)
{
    return json_string_value(
        json_object_get(json_object_get(ev, "annotations"), "kaudit.io/cluster"));
}

/* ---- body forms ---- */

int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        cr_assert(w > 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}


double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends what it can: the server may close the connection early. */
bool send_try(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until the peer closes or wait_ms pass. Returns the answer's status, 0 when the
   connection was closed with no answer, -1 when nothing happened in time. */
int read_answer(int fd, int wait_ms, char *out, size_t cap)
{
    size_t n = 0;
    bool closed = false;
    double end = now_s() + wait_ms / 1000.0;
    while (n < cap - 1 && !closed) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0) continue;
        ssize_t got = recv(fd, out + n, cap - 1 - n, 0);
        if (got <= 0) closed = true;
        else n += (size_t)got;
    }
    out[n] = '\0';
    if (n >= 12 && strncmp(out, "HTTP/1.1 ", 9) == 0) return atoi(out + 9);
    return closed ? 0 : -1;
}
