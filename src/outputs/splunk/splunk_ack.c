/*
 * splunk_ack.c - Splunk HEC answers: error bodies ({"text":…,"code":N[,"invalid-event-number":
 * K]}), the ackId of an accepted batch, and the indexer-acknowledgement poll loop.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kaudit/json.h"
#include "splunk_int.h"

static bool parse_root(const char *resp, size_t n, struct ka_raw *root)
{
    struct ka_json_err jerr;
    if (!resp || n > UINT32_MAX || ka_json_validate(resp, n, KA_SPLUNK_RESP_MAX_DEPTH, &jerr))
        return false;
    root->p = ka_json_ws(resp, resp + n);
    root->n = (uint32_t)(n - (size_t)(root->p - resp));
    return ka_json_type_of(root->p, root->n) == KA_JSON_OBJECT;
}

void ka_splunk_apply_error(const char *resp, size_t n, long status, size_t nitems,
                           struct ka_out_item *items)
{
    struct ka_raw root, v;
    char text[120] = "";
    long long code = -1, bad = -1;
    if (parse_root(resp, n, &root)) {
        if (ka_outh_json_member(root, "text", &v))
            ka_outh_json_text(v, text, sizeof text);
        if (ka_outh_json_member(root, "code", &v))
            (void)ka_outh_json_int(v, &code);
        if (ka_outh_json_member(root, "invalid-event-number", &v))
            (void)ka_outh_json_int(v, &bad);
    } else {
        ka_outh_snippet(resp, n, text, sizeof text);
    }
    enum ka_out_result r = ka_outh_classify(status);
    if (r == KA_OUT_OK)
        r = KA_OUT_RETRY;
    if (r != KA_OUT_PERMANENT || status != 400 || bad < 0) {
        ka_outh_set_all(nitems, items, r, "splunk HTTP %ld code %lld: %s", status, code, text);
        return;
    }
    /* One event refused: it goes to the dead letter, the rest of the batch is sent again. */
    long long k = 0;
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].result == KA_OUT_PERMANENT)
            continue;
        if (k++ == bad)
            ka_outh_set(&items[i], KA_OUT_PERMANENT, "splunk HTTP 400 code %lld: %s", code,
                        text);
        else
            ka_outh_set(&items[i], KA_OUT_RETRY,
                        "splunk: another event of the batch was refused (%s)", text);
    }
}

bool ka_splunk_ack_id(const char *resp, size_t n, long long *id)
{
    struct ka_raw root, v;
    return parse_root(resp, n, &root) && ka_outh_json_member(root, "ackId", &v) &&
           ka_outh_json_int(v, id) && *id >= 0;
}

int ka_splunk_acked(const char *resp, size_t n, long long id)
{
    struct ka_raw root, acks, v;
    char key[32];
    if (!parse_root(resp, n, &root) || !ka_outh_json_member(root, "acks", &acks))
        return -1;
    snprintf(key, sizeof key, "%lld", id);
    if (!ka_outh_json_member(acks, key, &v))
        return -1;
    enum ka_json_type t = ka_json_type_of(v.p, v.n);
    return t == KA_JSON_TRUE ? 1 : t == KA_JSON_FALSE ? 0 : -1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int ka_splunk_wait_ack(struct ka_outh *h, const char *channel, long long id, long timeout_ms,
                       long poll_ms, size_t nitems, struct ka_out_item *items)
{
    char path[160], body[64], last[120] = "no answer yet";
    snprintf(path, sizeof path, "/services/collector/ack?channel=%s", channel);
    int bn = snprintf(body, sizeof body, "{\"acks\":[%lld]}", id);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (ka_outh_post(h, path, body, (size_t)bn) != KA_OK) {
            snprintf(last, sizeof last, "%.100s", h->errbuf);
        } else if (h->status != 200) {
            char s[80];
            ka_outh_snippet(h->resp.p, h->resp.n, s, sizeof s);
            snprintf(last, sizeof last, "ack HTTP %ld %s", h->status, s);
        } else {
            int a = ka_splunk_acked(h->resp.p, h->resp.n, id);
            if (a == 1) {
                ka_outh_set_all(nitems, items, KA_OUT_OK, "%s", "");
                return KA_OK;
            }
            snprintf(last, sizeof last, "%s", a == 0 ? "not yet indexed" : "ack answer not understood");
        }
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        sleep_ms(left < poll_ms ? (long)left : poll_ms);
    }
    ka_outh_set_all(nitems, items, KA_OUT_RETRY,
                    "splunk: ackId %lld not acknowledged within %ld ms (%s)", id, timeout_ms,
                    last);
    return KA_OK;
}
