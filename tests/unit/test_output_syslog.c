/*
 * test_output_syslog.c - the syslog output offline: exact RFC 5424 header fields, octet
 * counting (RFC 6587) and the maximum message size (no truncation: PERMANENT); then the TCP
 * delivery confirmation against small loopback receivers run by the test (confirm=close: a
 * receiver that reads to the end and closes confirms the batch; one that closes without
 * reading, or never closes, leaves it RETRY; confirm=tcp keeps one connection).
 * Events are written here; nothing is read from ../shared.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kaudit/output.h"

static const char ev1[] = "{\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\","
                          "\"stageTimestamp\":\"2025-03-10T09:00:00.123456Z\"}";
static const char ev2[] = "{\"auditID\":\"a2\",\"verb\":\"list\"}";

Test(output_syslog, frames)
{
    const struct ka_output_ops *ops = ka_output_find("syslog+tcp");
    struct ka_out_url u;
    struct ka_out_opts o = {0};
    char err[200], big[700];
    void *ctx = NULL;
    cr_assert_eq(ka_out_url_parse("syslog+tcp://h?facility=4&severity=5&hostname=node%201"
                                  "&app_name=ka&msgid=AUDIT&max_size=600",
                                  &u, err, sizeof err), KA_OK);
    cr_assert_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_OK, "%s", err);
    int n = snprintf(big, sizeof big, "{\"auditID\":\"%0600d\"}", 7);
    struct ka_event ev[3];
    struct ka_scan_err se;
    cr_assert_eq(ka_event_scan(ev1, strlen(ev1), NULL, &ev[0], &se), KA_OK);
    cr_assert_eq(ka_event_scan(big, (size_t)n, NULL, &ev[1], &se), KA_OK);
    cr_assert_eq(ka_event_scan(ev2, strlen(ev2), NULL, &ev[2], &se), KA_OK);
    struct ka_out_event oe[3] = {{ev1, strlen(ev1), &ev[0]}, {big, (size_t)n, &ev[1]},
                                 {ev2, strlen(ev2), &ev[2]}};
    struct ka_out_batch b = {oe, 3};
    struct ka_out_item items[3] = {0};
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ops->format(ctx, &b, &body, items), KA_OK);
    char m1[512], m2[256], want[1024];
    snprintf(m1, sizeof m1, "<37>1 2025-03-10T09:00:00.123456Z node_1 ka - AUDIT - %s", ev1);
    snprintf(m2, sizeof m2, "<37>1 - node_1 ka - AUDIT - %s", ev2);
    snprintf(want, sizeof want, "%zu %s%zu %s", strlen(m1), m1, strlen(m2), m2);
    cr_expect_eq(body.n, strlen(want));
    cr_expect_eq(memcmp(body.p, want, body.n), 0, "%.*s", (int)body.n, body.p);
    cr_expect_eq(items[0].result, KA_OUT_OK);
    cr_expect_eq(items[1].result, KA_OUT_PERMANENT);
    cr_expect(strstr(items[1].reason, "over max_size 600 (not truncated)") != NULL, "%s", items[1].reason);
    cr_expect_eq(items[2].result, KA_OUT_OK);
    ka_buf_free(&body);
    ops->destroy(ctx);
}

Test(output_syslog, params)
{
    const struct ka_output_ops *ops = ka_output_find("syslog+udp");
    const char *bad[] = {"syslog+udp://h?facility=24", "syslog+udp://h?severity=8",
                         "syslog+udp://h?max_size=100", "syslog+udp://h?confirm=yes"};
    for (size_t i = 0; i < 4; i++) {
        struct ka_out_url u;
        struct ka_out_opts o = {0};
        char err[200];
        void *ctx = NULL;
        cr_assert_eq(ka_out_url_parse(bad[i], &u, err, sizeof err), KA_OK);
        cr_expect_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_EINVAL, "%s", bad[i]);
    }
}

/* A one-thread receiver on a free loopback port. Modes: READ_CLOSE reads until EOF and closes;
   CLOSE_AT_ONCE accepts and closes without reading; READ_HOLD reads what arrives for a while and
   does not close for a while (longer than the sender's timeout). One connection each. */
enum rx_mode { READ_CLOSE, CLOSE_AT_ONCE, READ_HOLD };
struct rx {
    int lfd, port;
    enum rx_mode mode;
    char got[8192];
    size_t n;
    pthread_t th;
};

static void *rx_main(void *arg)
{
    struct rx *r = arg;
    int fd = accept(r->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    if (r->mode == CLOSE_AT_ONCE) {
        close(fd);
        return NULL;
    }
    struct timeval tv = {0, 300000};
    if (r->mode == READ_HOLD) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t k = recv(fd, r->got + r->n, sizeof r->got - r->n, 0);
        if (k <= 0) break;
        r->n += (size_t)k;
    }
    if (r->mode == READ_HOLD) usleep(400000); /* the sender's timeout passes first */
    close(fd);
    return NULL;
}

static void rx_start(struct rx *r, enum rx_mode mode)
{
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(r->lfd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(r->lfd, 4), 0);
    struct timeval tv = {5, 0};
    setsockopt(r->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    socklen_t al = sizeof a;
    cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&a, &al), 0);
    r->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&r->th, NULL, rx_main, r), 0);
}

static void rx_stop(struct rx *r)
{
    pthread_join(r->th, NULL); /* after its one connection, or its accept's 5 s timeout */
    close(r->lfd);
}

/* Sends ev1 and ev2 in one batch to the receiver; returns the items' common result and, for a
   RETRY, copies its reason to why. */
static enum ka_out_result send_two(int port, const char *params, int timeout_ms, size_t *framed,
                                   char *why, size_t whylen)
{
    const struct ka_output_ops *ops = ka_output_find("syslog+tcp");
    char url[200], err[200];
    snprintf(url, sizeof url, "syslog+tcp://127.0.0.1:%d?hostname=h%s", port, params);
    struct ka_out_url u;
    struct ka_out_opts o = {0};
    o.timeout_ms = timeout_ms;
    void *ctx = NULL;
    cr_assert_eq(ka_out_url_parse(url, &u, err, sizeof err), KA_OK, "%s", err);
    cr_assert_eq(ops->create(&u, &o, &ctx, err, sizeof err), KA_OK, "%s", err);
    struct ka_event ev[2];
    struct ka_scan_err se;
    cr_assert_eq(ka_event_scan(ev1, strlen(ev1), NULL, &ev[0], &se), KA_OK);
    cr_assert_eq(ka_event_scan(ev2, strlen(ev2), NULL, &ev[1], &se), KA_OK);
    struct ka_out_event oe[2] = {{ev1, strlen(ev1), &ev[0]}, {ev2, strlen(ev2), &ev[1]}};
    struct ka_out_batch b = {oe, 2};
    struct ka_out_item items[2] = {0};
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ops->format(ctx, &b, &body, items), KA_OK);
    *framed = body.n;
    cr_assert_eq(ops->send(ctx, &b, &body, items), KA_OK);
    cr_expect_eq(items[0].result, items[1].result);
    if (items[0].result != KA_OUT_OK) cr_expect(items[0].reason[0] != '\0', "a RETRY says why");
    snprintf(why, whylen, "%s", items[0].reason);
    ka_buf_free(&body);
    ops->destroy(ctx);
    return items[0].result;
}

/* One receiver per case; CLOSE_AT_ONCE reads nothing, the others read the whole batch. */
static const struct {
    const char *what;
    enum rx_mode mode;
    const char *params;
    int timeout_ms;
    enum ka_out_result want;
    const char *reason; /* in the RETRY reason */
} confirm_cases[] = {
    {"confirm=close (default): read to the end, then closed", READ_CLOSE, "", 5000, KA_OUT_OK, ""},
    {"confirm=close: closed without reading (reset)", CLOSE_AT_ONCE, "", 2000, KA_OUT_RETRY, "syslog 127.0.0.1:"},
    {"confirm=close: everything read, never closed within 150 ms", READ_HOLD, "&confirm=close", 150,
     KA_OUT_RETRY, "receiver did not close within 150 ms (confirm=close; confirm=tcp if it keeps connections open)"},
    {"confirm=tcp: the peer's kernel acknowledged the bytes; no close awaited", READ_HOLD,
     "&confirm=tcp", 150, KA_OUT_OK, ""},
};

Test(output_syslog, confirm)
{
    for (size_t i = 0; i < sizeof confirm_cases / sizeof confirm_cases[0]; i++) {
        struct rx r;
        rx_start(&r, confirm_cases[i].mode);
        size_t framed = 0;
        char why[200];
        enum ka_out_result got = send_two(r.port, confirm_cases[i].params, confirm_cases[i].timeout_ms,
                                          &framed, why, sizeof why);
        rx_stop(&r);
        cr_expect_eq(got, confirm_cases[i].want, "%s", confirm_cases[i].what);
        cr_expect(strstr(why, confirm_cases[i].reason) != NULL, "%s: reason '%s'", confirm_cases[i].what, why);
        size_t want_n = confirm_cases[i].mode == CLOSE_AT_ONCE ? 0 : framed;
        cr_expect_eq(r.n, want_n, "%s: the receiver read %zu of %zu bytes", confirm_cases[i].what, r.n, framed);
        if (want_n)
            cr_expect(memmem(r.got, r.n, "\"auditID\":\"a2\"", 14) != NULL, "%s", confirm_cases[i].what);
    }
}
