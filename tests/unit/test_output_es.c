/*
 * test_output_es.c - the Elasticsearch/OpenSearch output offline: the exact _bulk NDJSON
 * (create + _id = auditID-stage, dated index from the event time, @timestamp first), URL
 * parameters and auth choices, max_event, the per-item classification of _bulk responses
 * (201/409 OK, 429/5xx RETRY, other 4xx PERMANENT with the reason), error answers, and that a
 * refused connection is RETRY. All data is written inline; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/outputs/elasticsearch/es_int.h"
#include "kaudit/event.h"
#include "kaudit/output.h"
#include "recv_fx.h"
#include "testutil.h"

extern const struct ka_output_ops ka_output_elasticsearch;

/* ---- fixture: canonical events and hand-filled URLs ---------------------------------------- */

#define EV_A                                                                                      \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"aaaa-1\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\",\"verb\":"        \
    "\"list\",\"user\":{\"username\":\"alice\"},\"objectRef\":{\"resource\":\"pods\"},"          \
    "\"requestReceivedTimestamp\":\"2024-08-14T23:59:59.900000Z\",\"stageTimestamp\":"           \
    "\"2024-08-15T00:00:00.100000Z\"}"
#define EV_B                                                                                      \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Request\",\"auditID\":"  \
    "\"bb\\\"b\",\"stage\":\"RequestReceived\",\"requestURI\":\"/x\",\"verb\":\"create\","       \
    "\"user\":{},\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\"}"
#define EV_NOTIME                                                                                 \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":" \
    "\"c\",\"stage\":\"Panic\",\"requestURI\":\"/y\",\"verb\":\"get\",\"user\":{}}"

static void *create_ok(const struct ka_out_url *u, const struct ka_out_opts *o)
{
    return fx_create(&ka_output_elasticsearch, u, o);
}

static char *format_str(void *ctx, struct fx *f)
{
    return fx_format(&ka_output_elasticsearch, ctx, f);
}

/* ---- format ----------------------------------------------------------------------------------- */

Test(es_format, dated_index_create_id_and_timestamp)
{
    struct fx f = {0};
    fx_add(&f, EV_A);
    fx_add(&f, EV_B);
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "127.0.0.1", 9200);
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    /* EV_A: stageTimestamp is on the 15th, so its index is the 15th's, not the 14th's. */
    char want[8192];
    snprintf(want, sizeof want,
             "{\"create\":{\"_index\":\"kaudit-2024.08.15\",\"_id\":\"aaaa-1-ResponseComplete\"}}\n"
             "{\"@timestamp\":\"2024-08-15T00:00:00.100000Z\",%s\n"
             "{\"create\":{\"_index\":\"kaudit-2024.08.14\",\"_id\":\"bb\\\"b-RequestReceived\"}}\n"
             "{\"@timestamp\":\"2024-08-14T05:40:56.794659Z\",%s\n",
             f.line[0] + 1, f.line[1] + 1);
    cr_expect_str_eq(got, want);
    cr_expect_eq(f.items[0].result, KA_OUT_OK);
    cr_expect_eq(f.items[1].result, KA_OUT_OK);
    free(got);
    ka_output_elasticsearch.destroy(ctx);
    fx_free(&f);
}

Test(es_format, data_stream_without_timestamp_field)
{
    struct fx f = {0};
    fx_add(&f, EV_A);
    fx_add(&f, EV_NOTIME);
    struct ka_out_url u;
    url_init(&u, "opensearchs", "search.example", 0);
    url_param(&u, "index", "logs-kaudit-default");
    url_param(&u, "timestamp_field", "");
    void *ctx = create_ok(&u, NULL);
    char *got = format_str(ctx, &f);
    char want[8192];
    snprintf(want, sizeof want,
             "{\"create\":{\"_index\":\"logs-kaudit-default\",\"_id\":\"aaaa-1-ResponseComplete\"}}\n"
             "%s\n"
             "{\"create\":{\"_index\":\"logs-kaudit-default\",\"_id\":\"c-Panic\"}}\n"
             "%s\n",
             f.line[0], f.line[1]);
    cr_expect_str_eq(got, want);
    free(got);
    ka_output_elasticsearch.destroy(ctx);
    fx_free(&f);
}

Test(es_format, dated_index_needs_a_time_and_max_event_is_permanent)
{
    struct fx f = {0};
    fx_add(&f, EV_NOTIME);
    fx_add(&f, EV_A);
    fx_add(&f, EV_B);
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "127.0.0.1", 9200);
    url_param(&u, "index", "audit-%Y%m%d-%H%%");
    struct ka_out_opts o = {.max_event = f.oe[1].len - 1};
    void *ctx = create_ok(&u, &o);
    char *got = format_str(ctx, &f);
    cr_expect_eq(f.items[0].result, KA_OUT_PERMANENT);
    cr_expect(strstr(f.items[0].reason, "no stageTimestamp") != NULL, "%s", f.items[0].reason);
    cr_expect_eq(f.items[1].result, KA_OUT_PERMANENT);
    char want_reason[160];
    snprintf(want_reason, sizeof want_reason, "event of %zu bytes exceeds max_event (%zu)",
             f.oe[1].len, f.oe[1].len - 1);
    cr_expect_str_eq(f.items[1].reason, want_reason);
    cr_expect_eq(f.items[2].result, KA_OUT_OK);
    /* Only the third event is in the body, whole. */
    char want[4096];
    snprintf(want, sizeof want,
             "{\"create\":{\"_index\":\"audit-20240814-05%%\",\"_id\":\"bb\\\"b-"
             "RequestReceived\"}}\n{\"@timestamp\":\"2024-08-14T05:40:56.794659Z\",%s\n",
             f.line[2] + 1);
    cr_expect_str_eq(got, want);
    free(got);
    ka_output_elasticsearch.destroy(ctx);
    fx_free(&f);
}

/* ---- create ----------------------------------------------------------------------------------- */

static void create_fails(const struct ka_out_url *u, const char *needle)
{
    void *ctx = NULL;
    char err[256] = "";
    cr_expect_eq(ka_output_elasticsearch.create(u, NULL, &ctx, err, sizeof err), KA_EINVAL,
                 "accepted, want %s", needle);
    cr_expect(strstr(err, needle) != NULL, "err '%s' lacks '%s'", err, needle);
    cr_expect_null(ctx);
}

Test(es_create, refuses_bad_parameters)
{
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "h", 0);
    url_param(&u, "indx", "x");
    create_fails(&u, "unknown parameter indx");
    url_init(&u, "elasticsearch", "h", 0);
    url_param(&u, "index", "audit-%j");
    create_fails(&u, "index");
    url_init(&u, "elasticsearch", "h", 0);
    url_param(&u, "api_key", "k");
    url_param(&u, "bearer", "t");
    create_fails(&u, "choose one");
    url_init(&u, "elasticsearch", "h", 0);
    snprintf(u.user, sizeof u.user, "elastic");
    url_param(&u, "api_key", "k");
    create_fails(&u, "choose one");
    url_init(&u, "elasticsearch", "h", 0);
    url_param(&u, "api_key_file", "/nonexistent/key");
    create_fails(&u, "/nonexistent/key");
    url_init(&u, "elasticsearch", "h", 0);
    url_param(&u, "pipeline", "Bad Name");
    create_fails(&u, "pipeline");
    url_init(&u, "elasticsearch", "", 0);
    create_fails(&u, "no host");
}

Test(es_create, schemes_listed)
{
    const char *const *s = ka_output_elasticsearch.schemes;
    cr_expect_str_eq(s[0], "elasticsearch");
    cr_expect_str_eq(s[1], "elasticsearchs");
    cr_expect_str_eq(s[2], "opensearch");
    cr_expect_str_eq(s[3], "opensearchs");
    cr_expect_null(s[4]);
}

/* ---- index names ------------------------------------------------------------------------------ */

Test(es_index, patterns)
{
    char d[64];
    cr_expect_eq(ka_es_index_name("kaudit-%Y.%m.%d", 1723614056, d, sizeof d), KA_OK);
    cr_expect_str_eq(d, "kaudit-2024.08.14");
    cr_expect_eq(ka_es_index_name("a-%H-%%", 1723614056, d, sizeof d), KA_OK);
    cr_expect_str_eq(d, "a-05-%");
    cr_expect_eq(ka_es_index_name("x-%Y", -1, d, sizeof d), KA_OK);
    cr_expect_str_eq(d, "x-1969");
    cr_expect_eq(ka_es_index_name("x%", 0, d, sizeof d), KA_EINVAL);
    cr_expect_eq(ka_es_index_name("x%q", 0, d, sizeof d), KA_EINVAL);
    cr_expect_eq(ka_es_index_name("kaudit-%Y", 0, d, 8), KA_ETOOBIG);
}

/* ---- _bulk responses -------------------------------------------------------------------------- */

static void items_reset(struct ka_out_item *it, size_t n)
{
    memset(it, 0, n * sizeof *it);
}

Test(es_bulk, every_item_checked)
{
    static const char resp[] =
        "{\"took\":3,\"errors\":true,\"items\":["
        "{\"create\":{\"_index\":\"i\",\"_id\":\"1\",\"status\":201,\"result\":\"created\"}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"2\",\"status\":409,\"error\":{\"type\":"
        "\"version_conflict_engine_exception\",\"reason\":\"[2]: version conflict\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"3\",\"status\":429,\"error\":{\"type\":"
        "\"es_rejected_execution_exception\",\"reason\":\"rejected\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"4\",\"status\":400,\"error\":{\"type\":"
        "\"mapper_parsing_exception\",\"reason\":\"failed to parse field [verb]\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"5\",\"status\":503,\"error\":{\"type\":"
        "\"unavailable_shards_exception\",\"reason\":\"primary shard is not active\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"6\",\"status\":200}}]}";
    struct ka_out_item it[7];
    items_reset(it, 7);
    it[3].result = KA_OUT_PERMANENT; /* refused by format: not in the body, not in items[] */
    snprintf(it[3].reason, sizeof it[3].reason, "kept");
    cr_assert_eq(ka_es_apply_bulk(resp, strlen(resp), 7, it), KA_OK);
    cr_expect_eq(it[0].result, KA_OUT_OK);
    cr_expect_eq(it[1].result, KA_OUT_OK, "409 on create = already delivered");
    cr_expect_eq(it[2].result, KA_OUT_RETRY);
    cr_expect_str_eq(it[2].reason, "es 429 es_rejected_execution_exception: rejected");
    cr_expect_eq(it[3].result, KA_OUT_PERMANENT);
    cr_expect_str_eq(it[3].reason, "kept");
    cr_expect_eq(it[4].result, KA_OUT_PERMANENT);
    cr_expect_str_eq(it[4].reason,
                     "es 400 mapper_parsing_exception: failed to parse field [verb]");
    cr_expect_eq(it[5].result, KA_OUT_RETRY);
    cr_expect_eq(it[6].result, KA_OUT_OK);
}

Test(es_bulk, malformed_or_short_answers_retry_everything)
{
    struct ka_out_item it[2];
    static const char short_resp[] =
        "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}}]}";
    items_reset(it, 2);
    ka_es_apply_bulk(short_resp, strlen(short_resp), 2, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_eq(it[1].result, KA_OUT_RETRY);
    cr_expect(strstr(it[0].reason, "one item per document") != NULL, "%s", it[0].reason);
    items_reset(it, 2);
    ka_es_apply_bulk("<html>", 6, 2, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_str_eq(it[1].reason, "es: bulk response is not JSON");
    static const char nostatus[] =
        "{\"items\":[{\"create\":{\"_id\":\"1\"}},{\"create\":{\"status\":\"201\"}}]}";
    items_reset(it, 2);
    ka_es_apply_bulk(nostatus, strlen(nostatus), 2, it);
    cr_expect_eq(it[0].result, KA_OUT_RETRY);
    cr_expect_eq(it[1].result, KA_OUT_RETRY);
}

Test(es_bulk, error_answer_reason)
{
    char d[160];
    static const char e[] = "{\"error\":{\"root_cause\":[],\"type\":\"security_exception\","
                            "\"reason\":\"missing authentication credentials\"},\"status\":401}";
    ka_es_error_reason(e, strlen(e), 401, d, sizeof d);
    cr_expect_str_eq(d, "es HTTP 401: security_exception: missing authentication credentials");
    ka_es_error_reason("Too Many\nRequests", 17, 429, d, sizeof d);
    cr_expect_str_eq(d, "es HTTP 429: Too Many Requests");
    ka_es_error_reason("", 0, 502, d, sizeof d);
    cr_expect_str_eq(d, "es HTTP 502");
}

/* ---- send ------------------------------------------------------------------------------------- */

Test(es_send, refused_connection_is_retry)
{
    struct fx f = {0};
    fx_add(&f, EV_A);
    fx_add(&f, EV_B);
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "127.0.0.1", 1);
    struct ka_out_opts o = {.timeout_ms = 2000};
    void *ctx = create_ok(&u, &o);
    struct ka_buf body;
    ka_buf_init(&body, 0);
    cr_assert_eq(ka_output_elasticsearch.format(ctx, &f.b, &body, f.items), KA_OK);
    cr_assert_eq(ka_output_elasticsearch.send(ctx, &f.b, &body, f.items), KA_OK);
    cr_expect_eq(f.items[0].result, KA_OUT_RETRY);
    cr_expect_eq(f.items[1].result, KA_OUT_RETRY);
    cr_expect(strncmp(f.items[0].reason, "es: ", 4) == 0, "%s", f.items[0].reason);
    ka_buf_free(&body);
    ka_output_elasticsearch.destroy(ctx);
    fx_free(&f);
}

/* ---- over real HTTP: tests/util/recv.py on loopback, failures injected ---------------------- */

static void create_es(struct rv *r, void **ctx, const char *const *params, int timeout_ms)
{
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "127.0.0.1", r->port);
    snprintf(u.path, sizeof u.path, "/es/");
    for (size_t i = 0; params && params[i]; i += 2)
        url_param(&u, params[i], params[i + 1]);
    struct ka_out_opts o = {.timeout_ms = timeout_ms};
    *ctx = create_ok(&u, &o);
}

Test(es_live, every_event_once_with_api_key_and_pipeline)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 12, NULL);
    void *ctx;
    static const char *const p[] = {"api_key", "a2V5OnNlY3JldA==", "pipeline", "kaudit-ecs",
                                    "index", "logs-kaudit-default", NULL};
    create_es(&r, &ctx, p, 5000);
    struct outcome out[MAXEV];
    drive(&ka_output_elasticsearch, ctx, f.oe, f.b.n, 5, 3, out);
    for (size_t i = 0; i < f.b.n; i++)
        cr_expect_eq(out[i].result, KA_OUT_OK, "event %zu: %s", i, out[i].reason);
    json_t *st = rv_state(&r);
    json_t *docs = json_object_get(json_object_get(st, "es"), "docs");
    cr_expect_eq(json_object_size(docs), 12);
    json_t *d0 = json_object_get(docs, "id-0000-ResponseComplete");
    cr_expect_str_eq(json_string_value(json_object_get(d0, "index")), "logs-kaudit-default");
    json_t *req0 = json_array_get(json_object_get(st, "requests"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(req0, "auth")),
                     "ApiKey a2V5OnNlY3JldA==");
    cr_expect_str_eq(json_string_value(json_object_get(req0, "path")), "/es/_bulk");
    cr_expect_str_eq(
        json_string_value(json_array_get(json_object_get(json_object_get(st, "es"), "pipelines"), 0)),
        "kaudit-ecs");
    json_decref(st);
    ka_output_elasticsearch.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(es_live, failures_exactly_once_and_dead_letters)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 20, NULL);
    void *ctx;
    create_es(&r, &ctx, NULL, 1000);
    rv_ctl(&r, "/_ctl/fail",
           "{\"proto\":\"es\",\"actions\":[{\"status\":429},{\"status\":500,\"body\":\"boom\"},"
           "{\"drop\":\"before\"},{\"drop\":\"after\"},{\"delay\":2.5},"
           "{\"items\":{\"id-0003-ResponseComplete\":429,\"id-0004-ResponseComplete\":503}}]}");
    rv_ctl(&r, "/_ctl/reject", "{\"proto\":\"es\",\"audit_ids\":{\"id-0007\":400}}");
    struct outcome out[MAXEV];
    drive(&ka_output_elasticsearch, ctx, f.oe, f.b.n, 5, 20, out);
    json_t *st = rv_state(&r);
    json_t *es = json_object_get(st, "es");
    json_t *docs = json_object_get(es, "docs");
    size_t dead = 0;
    for (size_t i = 0; i < f.b.n; i++) {
        char id[64];
        snprintf(id, sizeof id, "id-%04zu-ResponseComplete", i);
        if (i == 7) {
            cr_expect_eq(out[i].result, KA_OUT_PERMANENT);
            cr_expect_str_eq(out[i].reason, "es 400 mapper_parsing_exception: failed to parse "
                                            "field [requestObject]");
            cr_expect_null(json_object_get(docs, id));
        } else {
            cr_expect_eq(out[i].result, KA_OUT_OK, "%s: %s", id, out[i].reason);
            cr_expect_not_null(json_object_get(docs, id), "%s missing", id);
        }
        dead += out[i].result == KA_OUT_PERMANENT;
    }
    /* Exactly once: one document per _id; the retries after the lost answer and the timeout
       were answered 409 and counted as delivered. */
    cr_expect_eq(json_object_size(docs), 19);
    cr_expect_eq(dead, 1);
    cr_expect_geq(json_integer_value(json_object_get(es, "conflicts")), 1);
    cr_expect_geq(out[3].tries, 2, "the item refused with 429 was sent again");
    json_decref(st);
    ka_output_elasticsearch.destroy(ctx);
    rv_stop(&r);
    fx_free(&f);
}

Test(es_live, basic_and_bearer_auth)
{
    struct rv r;
    rv_start(&r, NULL);
    struct fx f = {0};
    fx_gen(&f, 2, NULL);
    struct outcome out[MAXEV];
    struct ka_out_url u;
    url_init(&u, "elasticsearch", "127.0.0.1", r.port);
    snprintf(u.user, sizeof u.user, "elastic");
    snprintf(u.password, sizeof u.password, "changeme");
    void *ctx = create_ok(&u, NULL);
    drive(&ka_output_elasticsearch, ctx, f.oe, 1, 5, 2, out);
    cr_expect_eq(out[0].result, KA_OUT_OK);
    ka_output_elasticsearch.destroy(ctx);
    char *tdir = ka_t_tmpdir(), tok[600];
    snprintf(tok, sizeof tok, "%s/token", tdir);
    FILE *fp = fopen(tok, "w");
    cr_assert_not_null(fp);
    fputs("tok-123\n", fp);
    fclose(fp);
    url_init(&u, "elasticsearch", "127.0.0.1", r.port);
    url_param(&u, "bearer_file", tok);
    ctx = create_ok(&u, NULL);
    drive(&ka_output_elasticsearch, ctx, f.oe + 1, 1, 5, 2, out);
    cr_expect_eq(out[0].result, KA_OUT_OK);
    ka_output_elasticsearch.destroy(ctx);
    json_t *st = rv_state(&r);
    json_t *reqs = json_object_get(st, "requests");
    cr_assert_eq(json_array_size(reqs), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")),
                     "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 1), "auth")),
                     "Bearer tok-123");
    json_decref(st);
    rv_stop(&r);
    ka_t_rmtree(tdir);
    free(tdir);
    fx_free(&f);
}
