/*
 * test_webhook_server.c - the collector's HTTP intake over real loopback HTTP(S) with the real
 * journal: body forms, status codes, tokens, TLS and mTLS, cluster tags, dead letters,
 * redaction (journal and dead letters), stop with a request in flight, refusal when the
 * journal cannot be written, and `kaudit gen | kaudit send` end to end. All events are written
 * inline here or made by `kaudit gen`; nothing is read from
 * ../shared. TLS material is made by the test with the openssl CLI (tests skip without it).
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kaudit/config.h"
#include "kaudit/journal.h"
#include "kaudit/webhook_server.h"
#include "testutil.h"
#include "webhook_fx.h"

Test(webhook_server, accepts_every_body_form)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit?timeout=30s",
                      "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},"
                      "\"items\":[" EV("v1-a", "") "," EV("v1-b", "") "]}",
                      &r),
                 200, "%s", r.body);
    cr_expect_eq(post(&f, "/k8s-audit",
                      "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1beta1\",\"items\":["
                      "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1beta1\",\"level\":"
                      "\"Metadata\",\"auditID\":\"beta\",\"stage\":\"ResponseComplete\","
                      "\"timestamp\":\"2024-01-01T00:00:00Z\",\"metadata\":{\"creationTimestamp\":"
                      "null}}]}",
                      &r),
                 200, "%s", r.body);
    cr_expect_eq(post(&f, "/audit", EV("single", ""), &r), 200, "%s", r.body);
    cr_expect_eq(post(&f, "/audit", "[" EV("arr-1", "") "," EV("arr-2", "") "]", &r), 200);
    cr_expect_eq(post(&f, "/audit", "{\"kind\":\"EventList\",\"items\":[]}", &r), 200);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 6);
    static const char *const ids[] = {"v1-a", "v1-b", "beta", "single", "arr-1", "arr-2"};
    for (size_t i = 0; i < 6; i++) {
        json_t *ev = json_array_get(evs, i);
        cr_expect_str_eq(json_string_value(json_object_get(ev, "auditID")), ids[i]);
        cr_expect_str_eq(json_string_value(json_object_get(ev, "apiVersion")), "audit.k8s.io/v1");
        cr_expect_null(json_object_get(ev, "metadata"), "v1beta1 metadata must be dropped");
        cr_expect_null(cluster_of(ev), "no cluster configured, no tag");
    }
    json_decref(evs);
    fx_fini(&f);
}

/* ---- refusals ---- */

Test(webhook_server, status_codes)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.body_max", "4KiB");
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", "{\"items\":[{\"auditID\":", &r), 400);
    cr_expect(strncmp(r.body, "malformed JSON", 14) == 0, "%s", r.body);
    cr_expect(strchr(r.body, '\n') == r.body + r.n - 1, "one line: %s", r.body);
    cr_expect_eq(post(&f, "/audit", "42", &r), 400, "%s", r.body);
    cr_expect_eq(post(&f, "/nope", EV("x", ""), &r), 404);
    cr_expect_eq(post(&f, "/audit/bad%20name", EV("x", ""), &r), 404);
    cr_expect_eq(req(&f, "GET", "/audit", NULL, NULL, 0, NULL, &r), 405);
    cr_expect_eq(req(&f, "PUT", "/k8s-audit", "application/json", "{}", 2, NULL, &r), 405);
    cr_expect_eq(req(&f, NULL, "/audit", "text/plain", EV("x", ""), strlen(EV("x", "")), NULL, &r),
                 415);
    cr_expect_eq(req(&f, NULL, "/audit", NULL, EV("x", ""), strlen(EV("x", "")), NULL, &r), 415);
    cr_expect_eq(req(&f, NULL, "/audit", "application/json; charset=utf-8", EV("ok", ""),
                     strlen(EV("ok", "")), NULL, &r),
                 200);
    size_t big = 6000;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    body[0] = '[';
    body[big - 1] = ']';
    cr_expect_eq(post(&f, "/audit", body, &r), 413);
    free(body);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 1, "only the one good request is journaled");
    json_decref(evs);
    cr_expect_eq(req(&f, "GET", "/healthz", NULL, NULL, 0, NULL, &r), 200);
    cr_expect_str_eq(r.body, "ok\n");
    cr_expect_eq(req(&f, "GET", "/readyz", NULL, NULL, 0, NULL, &r), 200);
    fx_fini(&f);
}

Test(webhook_server, chunked_body_over_limit_is_413)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.body_max", "4KiB");
    fx_start(&f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "head -c 100000 /dev/zero | tr '\\0' ' ' | curl -s -o /dev/null -w '%%{http_code}' "
             "-H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' "
             "--data-binary @- %s/audit",
             f.base);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char out[16] = "";
    cr_assert(fgets(out, sizeof out, p));
    pclose(p);
    cr_expect_str_eq(out, "413");
    fx_fini(&f);
}

/* ---- clusters, tokens, dead letters ---- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    cr_assert(fp, "%s", path);
    fputs(text, fp);
    fclose(fp);
}

Test(webhook_server, cluster_from_path_and_default)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "clusters.default", "dflt");
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("a", ""), &r), 200);
    cr_expect_eq(post(&f, "/audit/east-1", EV("b", ",\"annotations\":{\"x\":\"y\"}"), &r), 200);
    cr_expect_eq(post(&f, "/k8s-audit/west", EV("c", ""), &r), 200);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 3);
    cr_expect_str_eq(cluster_of(json_array_get(evs, 0)), "dflt");
    cr_expect_str_eq(cluster_of(json_array_get(evs, 1)), "east-1");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(evs, 1), "annotations"), "x")),
                     "y");
    cr_expect_str_eq(cluster_of(json_array_get(evs, 2)), "west");
    json_decref(evs);
    fx_fini(&f);
}

Test(webhook_server, bearer_tokens)
{
    struct fx f;
    fx_init(&f);
    char tf[600];
    snprintf(tf, sizeof tf, "%s/tokens", f.dir);
    write_file(tf, "# token cluster\ntok-aaa prod\n\ntok-bbb staging\n");
    fx_set(&f, "auth.token_file", tf);
    fx_start(&f);
    struct resp r;
    const char *b = EV("t", "");
    cr_expect_eq(req(&f, NULL, "/audit", "application/json", b, strlen(b), NULL, &r), 401);
    cr_expect_str_eq(r.body, "Unauthorized");
    cr_expect_eq(req(&f, NULL, "/audit", "application/json", b, strlen(b), "tok-aab", &r), 401);
    cr_expect_str_eq(r.body, "Unauthorized");
    cr_expect_eq(req(&f, NULL, "/audit", "application/json", b, strlen(b), "tok-aa", &r), 401);
    cr_expect_eq(req(&f, NULL, "/nope", "application/json", b, strlen(b), NULL, &r), 404);
    cr_expect_eq(req(&f, NULL, "/audit/other", "application/json", b, strlen(b), "tok-bbb", &r),
                 200);
    cr_expect_eq(req(&f, NULL, "/audit", "application/json", b, strlen(b), "tok-aaa", &r), 200);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 2);
    cr_expect_str_eq(cluster_of(json_array_get(evs, 0)), "staging", "the token names the cluster");
    cr_expect_str_eq(cluster_of(json_array_get(evs, 1)), "prod");
    json_decref(evs);
    fx_fini(&f);
}

Test(webhook_server, bad_token_file_is_refused)
{
    struct fx f;
    fx_init(&f);
    char tf[600];
    snprintf(tf, sizeof tf, "%s/tokens", f.dir);
    write_file(tf, "tok-only\n");
    fx_set(&f, "auth.token_file", tf);
    cr_expect_eq(fx_start_rc(&f, NULL), KA_EINVAL);
    fx_fini(&f);
}

Test(webhook_server, dead_letters)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit/c1",
                      "{\"kind\":\"EventList\",\"items\":[" EV(
                          "good", "") ",\n"
                                      "  {\"auditID\": 5,\n   \"verb\": \"get\"},\"text\"]}",
                      &r),
                 200, "%s", r.body);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 1);
    json_decref(evs);
    char path[700];
    snprintf(path, sizeof path, "%s/deadletter/audit-deadletter.log", f.dir);
    size_t n = 0;
    char *text = ka_t_read_file(path, &n);
    cr_assert(text);
    char *nl = strchr(text, '\n');
    cr_assert(nl);
    *nl = '\0';
    json_error_t je;
    json_t *d1 = json_loads(text, 0, &je), *d2 = json_loads(nl + 1, 0, &je);
    cr_assert(d1 && d2, "dead letters are JSON lines");
    cr_expect(strchr(nl + 1, '\n') == text + n - 1, "exactly two lines");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(d1, "event"), "auditID")), 5);
    cr_expect(strstr(json_string_value(json_object_get(d1, "reason")), "auditID"), "%s",
              json_string_value(json_object_get(d1, "reason")));
    cr_expect(strncmp(json_string_value(json_object_get(d1, "remote")), "127.0.0.1:", 10) == 0);
    cr_expect_str_eq(json_string_value(json_object_get(d1, "cluster")), "c1");
    cr_expect(json_string_value(json_object_get(d1, "time")));
    cr_expect_str_eq(json_string_value(json_object_get(d2, "event")), "text");
    json_decref(d1);
    json_decref(d2);
    free(text);
    fx_fini(&f);
}

/* ---- policy, redaction ---- */

#define SECRET_EV(id, verb)                                                                        \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\","        \
    "\"auditID\":\"" id "\",\"stage\":\"ResponseComplete\",\"requestURI\":"                        \
    "\"/api/v1/namespaces/ns/secrets\",\"verb\":\"" verb "\",\"user\":{\"username\":\"bob\"},"     \
    "\"objectRef\":{\"resource\":\"secrets\",\"namespace\":\"ns\",\"name\":\"s\","                 \
    "\"apiVersion\":\"v1\"},\"requestObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\","         \
    "\"metadata\":{\"name\":\"s\"},\"data\":{\"password\":\"aHVudGVyMi1zM2NyZXQ=\"}}}"

Test(webhook_server, redaction_before_the_journal)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", "[" SECRET_EV("s1", "create") "]", &r), 200);
    char path[700];
    snprintf(path, sizeof path, "%s/journal/audit.log", f.dir);
    char *raw = ka_t_read_file(path, NULL);
    cr_assert(raw);
    cr_expect_null(strstr(raw, "aHVudGVyMi1zM2NyZXQ="), "the secret reached the journal");
    free(raw);
    json_t *evs = journal_events(&f);
    const char *pw = json_string_value(json_object_get(
        json_object_get(json_object_get(json_array_get(evs, 0), "requestObject"), "data"),
        "password"));
    cr_assert(pw);
    cr_expect(strncmp(pw, "<redacted sha256:", 17) == 0, "%s", pw);
    json_decref(evs);
    fx_fini(&f);
}

/* Secrets in items that are not events: none reaches the dead-letter file. */
#define DL_SECRETS                                                                                 \
    "[{\"kind\":\"Secret\",\"data\":{\"k\":\"ZGVhZC1sZXR0ZXItc2VjcmV0LTE=\"},"                     \
    "\"stringData\":{\"p\":\"plain-dead-letter-2\"}},"                                             \
    "{\"auditID\":5,\"objectRef\":{\"resource\":\"secrets\"},\"requestObject\":"                   \
    "{\"data\":{\"k\":\"patch-dead-letter-3\"}},\"responseObject\":{\"kind\":\"SecretList\","      \
    "\"items\":[{\"data\":{\"k\":\"list-dead-letter-4\"}}]}},"                                     \
    "{\"kind\":\"TokenRequest\",\"status\":{\"token\":\"token-dead-letter-5\"}},"                  \
    "\"Authorization: Bearer bearer-dead-letter-6\","                                              \
    "{\"kind\":\"ConfigMap\",\"note\":"                                                            \
    "\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\",\"count\":3}]"

Test(webhook_server, dead_letters_are_redacted)
{
    static const char *const secrets[] = {"ZGVhZC1sZXR0ZXItc2VjcmV0LTE=",
                                          "plain-dead-letter-2",
                                          "patch-dead-letter-3",
                                          "list-dead-letter-4",
                                          "token-dead-letter-5",
                                          "bearer-dead-letter-6",
                                          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"};
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", DL_SECRETS, &r), 200, "%s", r.body);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 0, "an item was taken as an event");
    json_decref(evs);
    char path[700];
    snprintf(path, sizeof path, "%s/deadletter/audit-deadletter.log", f.dir);
    size_t n = 0;
    char *text = ka_t_read_file(path, &n);
    cr_assert(text);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect_null(strstr(text, secrets[i]), "%s is in the dead-letter file", secrets[i]);
    size_t lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        *nl = '\0';
        json_error_t je;
        json_t *d = json_loads(line, 0, &je);
        cr_assert(d, "dead letter not JSON: %s", je.text);
        cr_expect(json_object_get(d, "event"), "the redacted item is kept: %s", line);
        cr_expect_eq(strlen(json_string_value(json_object_get(d, "sha256"))), 64);
        cr_expect_gt(json_integer_value(json_object_get(d, "size")), 0);
        if (lines == 4) /* non-secret content stays */
            cr_expect_eq(json_integer_value(json_object_get(json_object_get(d, "event"), "count")),
                         3);
        json_decref(d);
    }
    cr_expect_eq(lines, 5, "%zu dead letters", lines);
    cr_expect(strstr(text, "\\u003credacted sha256:"), "markers are written");
    free(text);
    fx_fini(&f);
}

/* ---- stop with a request in flight ---- */

struct stopper {
    struct ka_webhook_server *s;
    atomic_bool done;
};

static void *stop_thread(void *ud)
{
    struct stopper *st = ud;
    ka_webhook_stop(st->s, 20000);
    atomic_store(&st->done, true);
    return NULL;
}

Test(webhook_server, stop_finishes_the_request_in_flight, .timeout = 60)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    enum { N = 300 };
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_buf_puts(&body, "{\"kind\":\"EventList\",\"items\":["), KA_OK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ka_buf_printf(&body, "%s" EV("inflight-%d", ""), i ? "," : "", i), KA_OK);
    cr_assert_eq(ka_buf_puts(&body, "]}"), KA_OK);
    unsigned port = ka_webhook_port(f.s);
    int fd = connect_port(port);
    cr_assert(fd >= 0);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                      "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      body.n);
    send_all(fd, head, (size_t)hn);
    size_t half = body.n / 2;
    send_all(fd, body.p, half);
    usleep(300000); /* the server has the headers and half of the body */
    struct stopper st = {.s = f.s};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, stop_thread, &st), 0);
    f.s = NULL;
    usleep(500000);
    cr_expect_not(atomic_load(&st.done), "stop returned while a request was in flight");
    int fd2 = connect_port(port);
    cr_expect_lt(fd2, 0, "a new connection was accepted after stop");
    if (fd2 >= 0) close(fd2);
    send_all(fd, body.p + half, body.n - half);
    char resp[4096];
    size_t rn = 0;
    ssize_t got;
    while (rn < sizeof resp - 1 && (got = recv(fd, resp + rn, sizeof resp - 1 - rn, 0)) > 0)
        rn += (size_t)got;
    resp[rn] = '\0';
    close(fd);
    cr_expect(strncmp(resp, "HTTP/1.1 200", 12) == 0, "answer: %s", resp);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_expect(atomic_load(&st.done));
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), N);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, N - 1), "auditID")),
                     "inflight-299");
    json_decref(evs);
    ka_buf_free(&body);
    fx_fini(&f);
}

Test(webhook_server, policy_and_reload)
{
    struct fx f;
    fx_init(&f);
    char pf[600];
    snprintf(pf, sizeof pf, "%s/policy.yaml", f.dir);
    write_file(pf, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                   "- level: None\n  verbs: [\"list\"]\n- level: Metadata\n");
    fx_set(&f, "policy.file", pf);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit",
                      "[" SECRET_EV("p-list", "list") "," SECRET_EV("p-create", "create") "]", &r),
                 200);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 1, "list is dropped by the policy");
    json_t *ev = json_array_get(evs, 0);
    cr_expect_str_eq(json_string_value(json_object_get(ev, "auditID")), "p-create");
    cr_expect_str_eq(json_string_value(json_object_get(ev, "level")), "Metadata");
    cr_expect_null(json_object_get(ev, "requestObject"), "Metadata drops the request object");
    json_decref(evs);
    /* A bad policy keeps the old one; a good one replaces it. */
    write_file(pf, "rules: [oops\n");
    struct ka_diag d = {0};
    cr_expect_neq(ka_webhook_reload(f.s, &d), KA_OK);
    ka_diag_free(&d);
    cr_expect_eq(post(&f, "/audit", SECRET_EV("p-list2", "list"), &r), 200);
    write_file(pf, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n");
    cr_expect_eq(ka_webhook_reload(f.s, &d), KA_OK);
    ka_diag_free(&d);
    cr_expect_eq(post(&f, "/audit", SECRET_EV("p-list3", "list"), &r), 200);
    evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 2);
    ev = json_array_get(evs, 1);
    cr_expect_str_eq(json_string_value(json_object_get(ev, "auditID")), "p-list3");
    cr_expect_str_eq(json_string_value(json_object_get(ev, "level")), "Request");
    cr_expect(json_object_get(ev, "requestObject"));
    json_decref(evs);
    fx_fini(&f);
}

/* ---- the journal refuses ---- */

Test(webhook_server, journal_refusal_is_503_and_whole_batch)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    f.fail_rc = KA_EIO;
    cr_expect_eq(post(&f, "/audit", "[" EV("x1", "") "," EV("x2", "") "]", &r), 503);
    cr_expect_str_eq(r.retry_after, "7");
    cr_expect_eq(req(&f, "GET", "/readyz", NULL, NULL, 0, NULL, &r), 503);
    f.fail_rc = KA_ETOOBIG;
    cr_expect_eq(post(&f, "/audit", EV("x3", ""), &r), 503);
    cr_expect_str_eq(r.retry_after, "7");
    f.fail_rc = 0;
    cr_expect_eq(post(&f, "/audit", EV("x4", ""), &r), 200);
    cr_expect_eq(req(&f, "GET", "/readyz", NULL, NULL, 0, NULL, &r), 200);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, 0), "auditID")), "x4");
    json_decref(evs);
    cr_expect_eq(req(&f, "GET", "/metrics", NULL, NULL, 0, NULL, &r), 200);
    fx_fini(&f);
}

/* A full disk: a tiny tmpfs (needs root and mount(2); skipped otherwise). */
Test(webhook_server, disk_full_is_503_then_recovers)
{
    struct fx f;
    fx_init(&f);
    char mnt[600], filler[700];
    snprintf(mnt, sizeof mnt, "%s/mnt", f.dir);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
        fx_fini(&f);
        cr_skip_test("cannot mount a tmpfs (%s): disk-full test skipped", strerror(errno));
    }
    cr_assert_eq(fx_start_rc(&f, mnt), KA_OK);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("before", ""), &r), 200);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    FILE *fp = fopen(filler, "w");
    cr_assert(fp);
    static char block[4096];
    while (fwrite(block, 1, sizeof block, fp) == sizeof block && fflush(fp) == 0)
        ;
    fclose(fp);
    char *body = malloc(64u << 10);
    size_t n = (size_t)snprintf(body, 64u << 10, "[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, (64u << 10) - n, "%s" EV("full", ""), i ? "," : "");
    snprintf(body + n, (64u << 10) - n, "]");
    cr_expect_eq(post(&f, "/audit", body, &r), 503, "%s", r.body);
    cr_expect_str_eq(r.retry_after, "7");
    unlink(filler);
    cr_expect_eq(post(&f, "/audit", EV("after", ""), &r), 200, "%s", r.body);
    free(body);
    /* The live file is clean and holds the event accepted after recovery; the event accepted
       before is kept in the segment the journal rotated away from after the failed write. */
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, 0), "auditID")),
                     "after");
    json_decref(evs);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "grep -q '\"auditID\":\"before\"' %s/journal/audit-*.log", mnt);
    cr_expect_eq(system(cmd), 0, "the event acknowledged before the failure is gone");
    ka_webhook_stop(f.s, 1000);
    ka_journal_close(f.j);
    f.s = NULL;
    f.j = NULL;
    umount2(mnt, MNT_DETACH);
    fx_fini(&f);
}

/* ---- TLS ---- */

/* Server certificate for 127.0.0.1 (self-signed), a client CA, a client signed by it (CN
   edge-1) and a rogue self-signed client with the same CN. */
static bool make_certs(const char *d)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0) return false;
    char cmd[4096];
#define Q " >/dev/null 2>&1"
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.crt "
             "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1" Q " && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
             "-days 2 -subj /CN=test-ca" Q " && openssl req -newkey rsa:2048 -nodes -keyout cl.key "
             "-out cl.csr -subj /CN=edge-1" Q " && openssl x509 -req -in cl.csr -CA ca.crt -CAkey "
             "ca.key -CAcreateserial -out cl.crt -days 2" Q
             " && openssl req -x509 -newkey rsa:2048 "
             "-nodes -keyout rogue.key -out rogue.crt -days 2 -subj /CN=edge-1" Q,
             d);
#undef Q
    cr_assert_eq(system(cmd), 0, "openssl failed");
    return true;
}

static void set_path(struct fx *f, const char *key, const char *file)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", f->dir, file);
    fx_set(f, key, p);
}

static void client_files(struct fx *f, const char *cert, const char *key)
{
    snprintf(f->ca, sizeof f->ca, "%s/srv.crt", f->dir);
    f->cert[0] = f->key[0] = '\0';
    if (cert) {
        snprintf(f->cert, sizeof f->cert, "%s/%s", f->dir, cert);
        snprintf(f->key, sizeof f->key, "%s/%s", f->dir, key);
    }
}

Test(webhook_server, tls)
{
    struct fx f;
    fx_init(&f);
    if (!make_certs(f.dir)) {
        fx_fini(&f);
        cr_skip_test("openssl CLI not found: TLS test skipped");
    }
    set_path(&f, "tls.cert", "srv.crt");
    set_path(&f, "tls.key", "srv.key");
    fx_start(&f);
    cr_assert(strncmp(f.base, "https://", 8) == 0);
    client_files(&f, NULL, NULL);
    struct resp r;
    cr_expect_eq(post(&f, "/audit/tls-cl", EV("tls-1", ""), &r), 200);
    f.ca[0] = '\0'; /* an unknown server certificate: the client refuses */
    cr_expect_eq(post(&f, "/audit", EV("tls-2", ""), &r), -1);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 1);
    cr_expect_str_eq(cluster_of(json_array_get(evs, 0)), "tls-cl");
    json_decref(evs);
    fx_fini(&f);
}

Test(webhook_server, mtls)
{
    struct fx f;
    fx_init(&f);
    if (!make_certs(f.dir)) {
        fx_fini(&f);
        cr_skip_test("openssl CLI not found: mTLS test skipped");
    }
    set_path(&f, "tls.cert", "srv.crt");
    set_path(&f, "tls.key", "srv.key");
    set_path(&f, "tls.client_ca", "ca.crt");
    fx_start(&f);
    struct resp r;
    client_files(&f, "cl.crt", "cl.key");
    cr_expect_eq(post(&f, "/audit/from-path", EV("m-1", ""), &r), 200, "%s", r.body);
    client_files(&f, NULL, NULL);
    long st = post(&f, "/audit", EV("m-2", ""), &r);
    cr_expect_eq(st, 401, "no client certificate: %ld", st);
    cr_expect_str_eq(r.body, "Unauthorized");
    client_files(&f, "rogue.crt", "rogue.key");
    st = post(&f, "/audit", EV("m-3", ""), &r);
    cr_expect_eq(st, 401, "certificate not signed by the CA: %ld", st);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 1);
    cr_expect_str_eq(cluster_of(json_array_get(evs, 0)), "edge-1",
                     "the certificate's CN names the cluster");
    json_decref(evs);
    fx_fini(&f);
}

/* ---- metrics ---- */

static uint64_t metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtoull(p + n + 1, NULL, 10);
    return UINT64_MAX;
}

Test(webhook_server, metrics)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    struct ka_cursor *cur;
    cr_assert_eq(ka_cursor_open(f.j, "store", &cur), KA_OK);
    cr_expect_eq(post(&f, "/audit", "[" EV("a", "") "," EV("b", "") ",7]", &r), 200);
    cr_expect_eq(post(&f, "/audit", "{", &r), 400);
    cr_expect_eq(post(&f, "/x", "{", &r), 404);
    /* The consumer takes the first event and commits it: its lag is the second line. */
    struct ka_tail_rec rec;
    cr_assert_eq(ka_cursor_next(cur, &rec, 5000), 1);
    cr_assert_eq(ka_cursor_commit(cur), KA_OK);
    size_t jlen = 0;
    char *jtext = ka_t_read_file(ka_journal_path(f.j), &jlen);
    cr_assert_not_null(jtext);
    const char *nl = memchr(jtext, '\n', jlen);
    cr_assert_not_null(nl);
    uint64_t want_lag = (uint64_t)(jlen - (size_t)(nl + 1 - jtext));
    free(jtext);
    cr_assert_gt(want_lag, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CURL *c = curl_easy_init();
    char url[200];
    snprintf(url, sizeof url, "%s/metrics", f.base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    fclose(mem);
    cr_expect_eq(metric(text, "kaudit_events_received_total"), 3);
    cr_expect_eq(metric(text, "kaudit_events_accepted_total"), 2);
    cr_expect_eq(metric(text, "kaudit_requests_total{code=\"200\"}"), 1);
    cr_expect_eq(metric(text, "kaudit_requests_total{code=\"400\"}"), 1);
    cr_expect_eq(metric(text, "kaudit_requests_total{code=\"404\"}"), 1);
    cr_expect_eq(metric(text, "kaudit_events_refused_total{reason=\"not_event\"}"), 1);
    cr_expect_eq(metric(text, "kaudit_batch_seconds_count"), 2);
    cr_expect_eq(metric(text, "kaudit_batch_seconds_bucket{le=\"+Inf\"}"), 2);
    cr_expect_neq(metric(text, "kaudit_bytes_received_total"), UINT64_MAX);
    cr_expect_neq(metric(text, "kaudit_journal_fsyncs_total"), UINT64_MAX);
    cr_expect_eq(metric(text, "kaudit_consumer_lag_bytes{consumer=\"store\"}"), want_lag, "%s",
                 text);
    cr_expect_neq(metric(text, "kaudit_consumer_lag_seconds{consumer=\"store\"}"), UINT64_MAX);
    free(text);
    ka_cursor_close(cur);
    fx_fini(&f);
}

/* ---- end to end: kaudit gen | kaudit send ---- */

Test(webhook_server, gen_send_every_event_once, .timeout = 300)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s gen --events 5000 -o %s/gen.log && %s send %s/audit %s/gen.log",
             KA_BINARY, f.dir, KA_BINARY, f.base, f.dir);
    cr_assert_eq(system(cmd), 0);
    /* The journal holds exactly the sent events, each once, in order (one sender). */
    snprintf(cmd, sizeof cmd,
             "cd %s && jq -c '[.auditID,.stage]' gen.log > want && "
             "jq -c '[.auditID,.stage]' journal/audit.log > got && cmp -s want got && "
             "test $(wc -l < got) -eq 5000",
             f.dir);
    cr_expect_eq(system(cmd), 0, "journal differs from the events sent");
    fx_fini(&f);
}

/* An object without auditID, or with a stage that is not one of the four, is dead-lettered. */
Test(webhook_server, events_need_audit_id_and_stage)
{
    struct fx f;
    fx_init(&f);
    fx_start(&f);
    struct resp r;
    cr_expect_eq(post(&f, "/audit",
                      "[" EV("ok", "") ",{\"kind\":\"Event\",\"stage\":\"ResponseComplete\"},"
                      "{\"kind\":\"Event\",\"auditID\":\"x\",\"stage\":\"RequestStarted\"}]",
                      &r),
                 200, "%s", r.body);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 1);
    json_decref(evs);
    char path[700];
    snprintf(path, sizeof path, "%s/deadletter/audit-deadletter.log", f.dir);
    char *text = ka_t_read_file(path, NULL);
    cr_assert(text);
    cr_expect(strstr(text, "no auditID"), "%s", text);
    cr_expect(strstr(text, "stage is not one of"), "%s", text);
    free(text);
    fx_fini(&f);
}
