/*
 * test_webhook_limits.c - every limit of the collector's HTTP intake, accepted and refused over
 * real loopback connections: event_max, header_max, idle_timeout, request_timeout,
 * connections. Raw sockets, so that a request can be cut, trickled or left idle. All events
 * are written inline here; nothing is read from ../shared.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "webhook_fx.h"

/* An event of exactly n bytes (n >= 300). */
static char *event_of_size(const char *id, size_t n)
{
    static const char head[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":"
                               "\"Metadata\",\"stage\":\"ResponseComplete\",\"requestURI\":"
                               "\"/api/v1/pods\",\"verb\":\"list\",\"user\":{\"username\":\"alice\"},"
                               "\"auditID\":\"";
    char *p = malloc(n + 1);
    cr_assert(p);
    int k = snprintf(p, n + 1, "%s%s\",\"annotations\":{\"pad\":\"", head, id);
    cr_assert(k > 0 && (size_t)k + 3 < n);
    memset(p + k, 'x', n - (size_t)k - 3);
    memcpy(p + n - 3, "\"}}", 4);
    cr_assert_eq(strlen(p), n);
    return p;
}

Test(webhook_server, event_max_boundary, .timeout = 60)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.event_max", "1KiB");
    fx_start(&f);
    char *under = event_of_size("at-limit", 1024), *over = event_of_size("over-limit", 1025);
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_buf_printf(&body, "[" EV("small", "") ",%s,%s," EV("after", "") "]", under,
                               over),
                 KA_OK);
    cr_assert_eq(ka_buf_putc(&body, '\0'), KA_OK);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", body.p, &r), 200, "%s", r.body);
    json_t *evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 3, "the batch minus the event over the limit");
    static const char *const ids[] = {"small", "at-limit", "after"};
    for (size_t i = 0; i < 3; i++)
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, i), "auditID")),
                         ids[i]);
    json_decref(evs);
    char path[700];
    snprintf(path, sizeof path, "%s/deadletter/audit-deadletter.log", f.dir);
    size_t n = 0;
    char *text = ka_t_read_file(path, &n);
    cr_assert(text, "no dead-letter file");
    cr_assert(n > 0 && strchr(text, '\n') == text + n - 1, "one dead letter: %s", text);
    json_error_t je;
    json_t *dl = json_loads(text, 0, &je);
    cr_assert(dl, "dead letter not JSON: %s", je.text);
    const char *reason = json_string_value(json_object_get(dl, "reason"));
    cr_expect(reason && strstr(reason, "larger than limits.event_max"), "%s", reason);
    cr_expect_eq(json_integer_value(json_object_get(dl, "size")), 1025);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(dl, "event"), "auditID")),
        "over-limit");
    json_decref(dl);
    free(text);
    free(under);
    free(over);
    ka_buf_free(&body);
    fx_fini(&f);
}

/* A POST of one event with an X-Pad header of pad bytes, on a raw connection. */
static int post_with_header(struct fx *f, size_t pad, char *out, size_t cap)
{
    const char *ev = EV("hdr", "");
    struct ka_buf q;
    ka_buf_init(&q, 0);
    cr_assert_eq(ka_buf_puts(&q, "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "), KA_OK);
    for (size_t i = 0; i < pad; i++)
        cr_assert_eq(ka_buf_putc(&q, 'h'), KA_OK);
    cr_assert_eq(ka_buf_printf(&q,
                               "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                               "Connection: close\r\n\r\n%s",
                               strlen(ev), ev),
                 KA_OK);
    int fd = connect_port(ka_webhook_port(f->s));
    cr_assert(fd >= 0);
    (void)send_try(fd, q.p, q.n);
    int st = read_answer(fd, 10000, out, cap);
    close(fd);
    ka_buf_free(&q);
    return st;
}

Test(webhook_server, header_max_refuses_large_headers, .timeout = 60)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.header_max", "4KiB");
    fx_start(&f);
    char out[2048];
    int st = post_with_header(&f, 3000, out, sizeof out);
    cr_expect_eq(st, 200, "headers under the limit: %s", out);
    st = post_with_header(&f, 256u << 10, out, sizeof out);
    cr_expect_eq(st, 431, "headers far over the limit: %d %s", st, out);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("next", ""), &r), 200, "a normal request right after");
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 2);
    json_decref(evs);
    fx_fini(&f);
}

/*
 * limits.header_max sizes the memory of one connection for its request line and headers, plus
 * 32 KiB of working space (documented): with 4 KiB, a 30,000-byte header still fits, a
 * 40,000-byte one gets 431.
 */
Test(webhook_server, header_max_plus_working_space_is_the_bound, .timeout = 60)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.header_max", "4KiB");
    fx_start(&f);
    char out[2048];
    int st = post_with_header(&f, 30000, out, sizeof out);
    cr_expect_eq(st, 200, "30000-byte header: %d %s", st, out);
    st = post_with_header(&f, 40000, out, sizeof out);
    cr_expect_eq(st, 431, "40000-byte header: %d %s", st, out);
    fx_fini(&f);
}

/* Seconds until the server closes fd (reads and drops any answer); -1 if not within wait_s. */
static double seconds_to_close(int fd, double wait_s, char *out, size_t cap)
{
    double t0 = now_s();
    int st = read_answer(fd, (int)(wait_s * 1000), out, cap);
    return st == -1 ? -1.0 : now_s() - t0;
}

Test(webhook_server, idle_timeout_closes_silent_and_half_requests, .timeout = 60)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.idle_timeout", "1s");
    fx_start(&f);
    char out[1024];
    int silent = connect_port(ka_webhook_port(f.s));
    cr_assert(silent >= 0);
    double t = seconds_to_close(silent, 10.0, out, sizeof out);
    close(silent);
    cr_expect(t >= 0 && t <= 3.0, "silent connection closed after %.2f s (want <= 3)", t);
    int half = connect_port(ka_webhook_port(f.s));
    cr_assert(half >= 0);
    static const char part[] = "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty";
    cr_assert(send_try(half, part, sizeof part - 1));
    t = seconds_to_close(half, 10.0, out, sizeof out);
    close(half);
    cr_expect(t >= 0 && t <= 3.0, "half request closed after %.2f s (want <= 3)", t);
    cr_expect(strncmp(out, "HTTP/1.1 200", 12) != 0, "%s", out);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("alive", ""), &r), 200, "the server still answers");
    fx_fini(&f);
}

Test(webhook_server, request_timeout_cuts_a_trickled_body, .timeout = 90)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.request_timeout", "2s");
    fx_set(&f, "limits.idle_timeout", "10s");
    fx_start(&f);
    const char *ev = EV("trickled", "");
    size_t n = strlen(ev); /* about 200 bytes: 40 s at 5 bytes a second */
    int fd = connect_port(ka_webhook_port(f.s));
    cr_assert(fd >= 0);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                      "\r\nContent-Length: %zu\r\n\r\n",
                      n);
    cr_assert(send_try(fd, head, (size_t)hn));
    double t0 = now_s();
    size_t sent = 0;
    int st = -1;
    char out[1024] = "";
    while (sent < n && st == -1) {
        if (!send_try(fd, ev + sent, 1)) break;
        sent++;
        st = read_answer(fd, 200, out, sizeof out);
    }
    double t = now_s() - t0;
    if (st == -1) st = read_answer(fd, 2000, out, sizeof out);
    close(fd);
    cr_expect_lt(sent, n, "the whole body went through (%.2f s)", t);
    cr_expect(st == 0 || st >= 400, "answer %d: %s", st, out);
    cr_expect(t >= 1.8 && t <= 6.0, "cut after %.2f s (want about 2 s)", t);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 0, "the cut request was journaled");
    json_decref(evs);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("quick", ""), &r), 200, "a quick request still passes");
    fx_fini(&f);
}

/* limits.connections: "more wait in the listen queue" (config key doc). */
Test(webhook_server, connections_limit_queues_the_next, .timeout = 90)
{
    struct fx f;
    fx_init(&f);
    fx_set(&f, "limits.connections", "2");
    fx_set(&f, "limits.idle_timeout", "30s");
    fx_start(&f);
    unsigned port = ka_webhook_port(f.s);
    int idle1 = connect_port(port), idle2 = connect_port(port);
    cr_assert(idle1 >= 0 && idle2 >= 0);
    usleep(500000); /* both are accepted and idle */
    const char *ev = EV("third", "");
    char q[512];
    int qn = snprintf(q, sizeof q,
                      "POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                      "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                      strlen(ev), ev);
    int third = connect_port(port);
    cr_assert(third >= 0, "the third connection is refused, not queued");
    cr_assert(send_try(third, q, (size_t)qn));
    char out[1024];
    int st = read_answer(third, 2000, out, sizeof out);
    cr_expect_eq(st, -1, "the third connection was served at the limit: %d %s", st, out);
    json_t *evs = journal_events(&f);
    cr_expect_eq(json_array_size(evs), 0);
    json_decref(evs);
    close(idle1);
    st = read_answer(third, 10000, out, sizeof out);
    cr_expect_eq(st, 200, "the queued request after a slot freed: %d %s", st, out);
    close(third);
    struct resp r;
    cr_expect_eq(post(&f, "/audit", EV("fourth", ""), &r), 200, "a new request succeeds");
    close(idle2);
    evs = journal_events(&f);
    cr_assert_eq(json_array_size(evs), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, 0), "auditID")),
                     "third");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(evs, 1), "auditID")),
                     "fourth");
    json_decref(evs);
    fx_fini(&f);
}
