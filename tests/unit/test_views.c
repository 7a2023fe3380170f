/*
 * test_views.c - the operator views (include/kaudit/views.h): diffs and patches of history,
 * activity counts, explain's owner chains (logged and inferred), denied's smallest RBAC rules.
 * Known answers come from hand-made events, from `kaudit gen` traffic (its documented,
 * deterministic scenarios: the forbidden-storm principal system:serviceaccount:search:indexer,
 * the secret-dump principal system:serviceaccount:shop:storefront, pods named
 * <deployment>-<pod-template-hash>-<5 chars>), and from ../shared/data/real/audit2rbac/demo.log
 * (liggitt/audit2rbac testdata: 37 impersonated events, 11 of them 403; see SOURCES.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/event.h"
#include "kaudit/gen.h"
#include "kaudit/views.h"
#include "testutil.h"

static struct ka_event scan(const char *line)
{
    struct ka_event ev;
    struct ka_scan_err e;
    cr_assert_eq(ka_event_scan(line, strlen(line), NULL, &ev, &e), 0, "%s", e.msg);
    return ev;
}

static const char *cstr(struct ka_buf *b)
{
    const char *s = ka_buf_cstr(b);
    cr_assert_not_null(s);
    return s;
}

static struct ka_raw raw(const char *s)
{
    return (struct ka_raw){s, (uint32_t)strlen(s)};
}

Test(views, diff_paths_and_noise)
{
    struct ka_buf b;
    size_t n = 0;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_view_diff(raw("{\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"a\":\"x\","
                                  "\"b.io/c\":\"y\"},\"managedFields\":[1]},\"spec\":{\"replicas\":2,"
                                  "\"c\":[{\"image\":\"a:1\"}],\"gone\":true,\"nul\":null}}"),
                              raw("{\"metadata\":{\"resourceVersion\":\"2\",\"labels\":{\"a\":\"x\","
                                  "\"b.io/c\":\"z\"},\"managedFields\":[2]},\"spec\":{\"replicas\":3,"
                                  "\"c\":[{\"image\":\"a:2\"},{\"image\":\"b\"}],\"new\":1}}"),
                              false, "  ", &b, &n),
                 0);
    cr_assert_str_eq(cstr(&b), "  ~ metadata.labels[\"b.io/c\"]: \"y\" -> \"z\"\n"
                               "  ~ spec.replicas: 2 -> 3\n"
                               "  ~ spec.c[0].image: \"a:1\" -> \"a:2\"\n"
                               "  + spec.c[1]: {\"image\":\"b\"}\n"
                               "  - spec.gone: true\n"
                               "  + spec.new: 1\n");
    cr_assert_eq(n, 6);
    ka_buf_reset(&b);
    cr_assert_eq(ka_view_diff(raw("{\"a\":1}"), raw("{\"a\":2}"), true, "", &b, &n), 0);
    cr_assert_str_eq(cstr(&b), "{\"op\":\"change\",\"path\":\"a\",\"old\":1,\"new\":2}");
    ka_buf_free(&b);
}

Test(views, patch_bodies)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_view_patch_text(raw("[{\"op\":\"replace\",\"path\":\"/spec/replicas\","
                                        "\"value\":3},{\"op\":\"remove\",\"path\":\"/x\"}]"),
                                    "", &b),
                 0);
    cr_assert_str_eq(cstr(&b), "replace /spec/replicas: 3\nremove /x\n");
    ka_buf_reset(&b);
    cr_assert_eq(ka_view_patch_text(raw("{\"metadata\":{\"labels\":{\"a\":null}},\"spec\":{"
                                        "\"$setElementOrder/c\":[],\"replicas\":5}}"),
                                    "", &b),
                 0);
    cr_assert_str_eq(cstr(&b), "delete metadata.labels.a\nset spec.replicas: 5\n");
    ka_buf_free(&b);
}

Test(views, kinds_and_targets)
{
    struct ka_view_target t;
    struct ka_diag d = {0};
    const char *words[] = {"deployment", "deployments", "Deployment", "deploy",
                           "deployments.apps", "deployment.apps"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const struct ka_view_kind *k = ka_view_kind_lookup(words[i]);
        cr_assert_not_null(k, "%s", words[i]);
        cr_assert_str_eq(k->resource, "deployments");
    }
    cr_assert_str_eq(ka_view_kind_lookup("ingress")->resource, "ingresses");
    cr_assert_null(ka_view_kind_lookup("deployments.batch"));
    cr_assert_eq(ka_view_target_parse("pods.core/x", "ns1", &t, &d), 0);
    cr_assert_str_eq(t.resource, "pods");
    cr_assert_str_eq(t.group, "");
    cr_assert_str_eq(t.namespace_, "ns1");
    cr_assert_eq(ka_view_target_parse("foos.example.com/bar", NULL, &t, &d), 0);
    cr_assert_str_eq(t.resource, "foos");
    cr_assert_str_eq(t.group, "example.com");
    cr_assert_eq(ka_view_target_parse("clusterrole/admin", "ignored", &t, &d), 0);
    cr_assert_str_eq(t.namespace_, ""); /* cluster-scoped: no namespace */
    cr_assert_eq(ka_view_target_parse("nokind", NULL, &t, &d), KA_EINVAL);
    cr_assert_eq(d.n_errors, 1);
    ka_diag_free(&d);
}

#define EV(extra)                                                                                 \
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\","       \
    "\"stage\":\"ResponseComplete\"," extra "}"

Test(views, history_diffs_generate_name_and_patch)
{
    struct ka_view_target t;
    struct ka_history *h;
    cr_assert_eq(ka_view_target_parse("cm/web-abcde", "a", &t, NULL), 0);
    cr_assert_eq(ka_history_new(&t, KA_VIEW_TEXT, &h), 0);
    const char *lines[] = {
        EV("\"auditID\":\"1\",\"verb\":\"create\",\"user\":{\"username\":\"u\"},"
           "\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"a\"},"
           "\"responseStatus\":{\"code\":201},\"responseObject\":{\"kind\":\"ConfigMap\","
           "\"metadata\":{\"name\":\"web-abcde\",\"generateName\":\"web-\"},\"data\":{\"k\":\"1\"}},"
           "\"requestReceivedTimestamp\":\"2025-01-01T00:00:00.000001Z\""),
        EV("\"auditID\":\"2\",\"verb\":\"get\",\"user\":{\"username\":\"v\"},"
           "\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"b\",\"name\":\"web-abcde\"},"
           "\"responseStatus\":{\"code\":200}"), /* another namespace: not this object */
        EV("\"auditID\":\"3\",\"verb\":\"patch\",\"user\":{\"username\":\"v\"},"
           "\"impersonatedUser\":{\"username\":\"w\"},"
           "\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"a\",\"name\":\"web-abcde\"},"
           "\"responseStatus\":{\"code\":200},\"requestObject\":{\"data\":{\"k\":\"2\"}},"
           "\"responseObject\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"web-abcde\","
           "\"generateName\":\"web-\"},\"data\":{\"k\":\"2\"}},\"requestReceivedTimestamp\":\"2025-01-01T00:00:01Z\""),
        EV("\"auditID\":\"4\",\"verb\":\"patch\",\"user\":{\"username\":\"v\"},"
           "\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"a\",\"name\":\"web-abcde\"},"
           "\"responseStatus\":{\"code\":200},\"requestObject\":[{\"op\":\"add\",\"path\":"
           "\"/data/z\",\"value\":\"q\"}],\"requestReceivedTimestamp\":\"2025-01-01T00:00:02Z\""),
        EV("\"auditID\":\"5\",\"verb\":\"delete\",\"user\":{\"username\":\"u\"},"
           "\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"a\",\"name\":\"web-abcde\"},"
           "\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"2025-01-01T00:00:03Z\""),
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct ka_event ev = scan(lines[i]);
        cr_assert_eq(ka_history_add(h, &ev), 0);
    }
    cr_assert_eq(ka_history_finish(h), 0);
    cr_assert_eq(ka_history_count(h), 4);
    /* the patch without a response object shows its body; the delete ends the states */
    cr_assert_str_eq(cstr(ka_history_buf(h)),
                     "2025-01-01T00:00:00.000001Z  u  create  201\n    created\n"
                     "2025-01-01T00:00:01.000000Z  v (as w)  patch  200\n"
                     "    ~ data.k: \"1\" -> \"2\"\n"
                     "2025-01-01T00:00:02.000000Z  v  patch  200\n"
                     "    patch:\n      add /data/z: \"q\"\n"
                     "2025-01-01T00:00:03.000000Z  u  delete  200\n    deleted\n");
    ka_history_free(h);
}

static void feed_denied(struct ka_denied *dn, const char *line)
{
    struct ka_event ev = scan(line);
    cr_assert_eq(ka_denied_add(dn, &ev), 0);
}

Test(views, denied_smallest_rules)
{
    struct ka_denied *dn;
    cr_assert_eq(ka_denied_new(KA_VIEW_JSON, &dn), 0);
    const char *get1 = EV("\"auditID\":\"1\",\"verb\":\"get\",\"user\":{\"username\":\"x\"},"
                          "\"objectRef\":{\"resource\":\"secrets\",\"namespace\":\"n\","
                          "\"name\":\"s1\"},\"responseStatus\":{\"code\":403},\"annotations\":"
                          "{\"authorization.k8s.io/reason\":\"no RBAC\"}");
    const char *get2 = EV("\"auditID\":\"2\",\"verb\":\"get\",\"user\":{\"username\":\"x\"},"
                          "\"objectRef\":{\"resource\":\"secrets\",\"namespace\":\"n\","
                          "\"name\":\"s2\"},\"responseStatus\":{\"code\":403}");
    const char *exec = EV("\"auditID\":\"3\",\"verb\":\"create\",\"user\":{\"username\":\"x\"},"
                          "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"n\","
                          "\"name\":\"p\",\"subresource\":\"exec\"},\"responseStatus\":"
                          "{\"code\":403}");
    const char *url = EV("\"auditID\":\"4\",\"verb\":\"get\",\"requestURI\":\"/apis?x=1\","
                         "\"user\":{\"username\":\"y\"},\"responseStatus\":{\"code\":403}");
    const char *ok = EV("\"auditID\":\"5\",\"verb\":\"get\",\"user\":{\"username\":\"y\"},"
                        "\"responseStatus\":{\"code\":200}");
    feed_denied(dn, get1);
    feed_denied(dn, get2);
    feed_denied(dn, exec);
    feed_denied(dn, url);
    feed_denied(dn, ok);
    cr_assert_eq(ka_denied_finish(dn), 0);
    cr_assert_eq(ka_denied_count(dn), 4);
    cr_assert_eq(ka_denied_groups(dn), 3);
    cr_assert_str_eq(
        cstr(ka_denied_buf(dn)),
        "[{\"user\":\"x\",\"count\":3,\"groups\":[{\"verb\":\"get\",\"resource\":\"secrets\","
        "\"apiGroup\":\"\",\"namespace\":\"n\",\"count\":2,\"reason\":\"no RBAC\",\"names\":"
        "[\"s1\", \"s2\"],\"roleKind\":\"Role\",\"rule\":{\"apiGroups\":[\"\"],\"resources\":"
        "[\"secrets\"],\"resourceNames\":[\"s1\", \"s2\"],\"verbs\":[\"get\"]}},{\"verb\":"
        "\"create\",\"resource\":\"pods/exec\",\"apiGroup\":\"\",\"namespace\":\"n\",\"count\":1,"
        "\"names\":[\"p\"],\"roleKind\":\"Role\",\"rule\":{\"apiGroups\":[\"\"],\"resources\":"
        "[\"pods/exec\"],\"resourceNames\":[\"p\"],\"verbs\":[\"create\"]}}]},\n"
        "{\"user\":\"y\",\"count\":1,\"groups\":[{\"verb\":\"get\",\"url\":\"/apis\",\"count\":1,"
        "\"names\":[],\"roleKind\":\"ClusterRole\",\"rule\":{\"nonResourceURLs\":[\"/apis\"],"
        "\"verbs\":[\"get\"]}}]}]\n");
    ka_denied_free(dn);
}

static void feed_explain(struct ka_explain *x, const char *line)
{
    struct ka_event ev = scan(line);
    cr_assert_eq(ka_explain_add(x, &ev), 0);
}

Test(views, explain_logged_and_inferred)
{
    struct ka_view_target t;
    struct ka_explain *x;
    cr_assert_eq(ka_view_target_parse("pod/web-7d9fbc4b5x-k2p4z", "a", &t, NULL), 0);
    cr_assert_eq(ka_explain_new(&t, KA_VIEW_JSON, &x), 0);
    /* a user changes the deployment, then the controller's status update, then the pod */
    feed_explain(x, EV("\"auditID\":\"d1\",\"verb\":\"patch\",\"user\":{\"username\":\"alice\"},"
                       "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"a\","
                       "\"name\":\"web\",\"apiGroup\":\"apps\"},\"responseStatus\":{\"code\":200},"
                       "\"requestReceivedTimestamp\":\"2025-01-01T00:00:00Z\""));
    feed_explain(x, EV("\"auditID\":\"d2\",\"verb\":\"update\",\"user\":{\"username\":"
                       "\"system:serviceaccount:kube-system:deployment-controller\"},"
                       "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"a\","
                       "\"name\":\"web\",\"apiGroup\":\"apps\",\"subresource\":\"status\"},"
                       "\"responseStatus\":{\"code\":200},"
                       "\"requestReceivedTimestamp\":\"2025-01-01T00:00:01Z\""));
    feed_explain(x, EV("\"auditID\":\"p1\",\"verb\":\"patch\",\"user\":{\"username\":\"kubelet\"},"
                       "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"a\",\"name\":"
                       "\"web-7d9fbc4b5x-k2p4z\",\"subresource\":\"status\"},\"responseStatus\":"
                       "{\"code\":200},\"responseObject\":{\"kind\":\"Pod\",\"metadata\":{"
                       "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9fbc4b5x\","
                       "\"controller\":true}]}},"
                       "\"requestReceivedTimestamp\":\"2025-01-01T00:00:02Z\""));
    /* a later user change is not the cause */
    feed_explain(x, EV("\"auditID\":\"d3\",\"verb\":\"patch\",\"user\":{\"username\":\"bob\"},"
                       "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"a\","
                       "\"name\":\"web\",\"apiGroup\":\"apps\"},\"responseStatus\":{\"code\":200},"
                       "\"requestReceivedTimestamp\":\"2025-01-01T00:00:03Z\""));
    cr_assert_eq(ka_explain_finish(x), 0);
    cr_assert_eq(ka_explain_steps(x), 3);
    const char *s = cstr(ka_explain_buf(x));
    cr_assert(strstr(s, "{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9fbc4b5x\",\"link\":"
                        "\"ownerReferences\",\"inferred\":false,\"evidence\":{\"auditID\":\"p1\""),
              "%s", s);
    cr_assert(strstr(s, "{\"kind\":\"Deployment\",\"name\":\"web\",\"link\":\"naming convention\","
                        "\"inferred\":true}"), "%s", s);
    cr_assert(strstr(s, "\"cause\":{\"auditID\":\"d1\""), "%s", s);
    ka_explain_free(x);
}

Test(views, explain_cronjob_by_names)
{
    struct ka_view_target t;
    struct ka_explain *x;
    cr_assert_eq(ka_view_target_parse("pod/backup-28950000-x7k2p", "a", &t, NULL), 0);
    cr_assert_eq(ka_explain_new(&t, KA_VIEW_TEXT, &x), 0);
    feed_explain(x, EV("\"auditID\":\"c1\",\"verb\":\"create\",\"user\":{\"username\":\"ops\"},"
                       "\"objectRef\":{\"resource\":\"cronjobs\",\"namespace\":\"a\","
                       "\"name\":\"backup\",\"apiGroup\":\"batch\"},\"responseStatus\":"
                       "{\"code\":201},\"requestReceivedTimestamp\":\"2025-01-01T00:00:00Z\""));
    feed_explain(x, EV("\"auditID\":\"p1\",\"verb\":\"get\",\"user\":{\"username\":\"k\"},"
                       "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"a\",\"name\":"
                       "\"backup-28950000-x7k2p\"},\"responseStatus\":{\"code\":200},"
                       "\"requestReceivedTimestamp\":\"2025-01-01T00:01:00Z\""));
    cr_assert_eq(ka_explain_finish(x), 0);
    cr_assert_eq(ka_explain_steps(x), 3);
    const char *s = cstr(ka_explain_buf(x));
    cr_assert(strstr(s, "<- Job backup-28950000  [naming convention, inferred]"), "%s", s);
    cr_assert(strstr(s, "<- CronJob backup  [naming convention, inferred]"), "%s", s);
    cr_assert(strstr(s, "cause: create cronjobs by ops"), "%s", s);
    ka_explain_free(x);
}

/* Feeds `kaudit gen --seed 7 --attacks` traffic (final stages only) to the views. */
Test(views, gen_known_answers)
{
    struct ka_gen_opts go = {.seed = 7, .events = 60000, .attacks = true};
    struct ka_gen *g;
    struct ka_buf line;
    struct ka_gen_info info;
    struct ka_denied *dn;
    struct ka_activity *act;
    uint64_t storm = 0, dump = 0, all403 = 0;
    cr_assert_eq(ka_gen_new(&go, &g), 0);
    cr_assert_eq(ka_denied_new(KA_VIEW_TEXT, &dn), 0);
    cr_assert_eq(ka_activity_new(KA_VIEW_TEXT, 10, &act), 0);
    ka_buf_init(&line, 0);
    while (ka_buf_reset(&line), ka_gen_next(g, &line, &info) == 0) {
        if (info.stage != 2)
            continue;
        struct ka_event ev;
        struct ka_scan_err e;
        cr_assert_eq(ka_event_scan(line.p, line.n, NULL, &ev, &e), 0);
        cr_assert_eq(ka_denied_add(dn, &ev), 0);
        all403 += info.code == 403;
        storm += info.scenario == KA_GEN_SC_FORBIDDEN_STORM;
        if (info.scenario == KA_GEN_SC_SECRET_DUMP) {
            dump++;
            cr_assert_eq(ka_activity_add(act, &ev), 0);
        }
    }
    cr_assert_gt(storm, 0);
    cr_assert_eq(ka_denied_count(dn), all403);
    cr_assert_eq(ka_denied_finish(dn), 0);
    char want[256];
    /* every forbidden-storm request is a 403 of its principal, which makes no other 403 */
    snprintf(want, sizeof want, "# user system:serviceaccount:search:indexer: %llu denied",
             (unsigned long long)storm);
    cr_assert(strstr(cstr(ka_denied_buf(dn)), want), "%s", want);
    cr_assert_eq(ka_activity_finish(act), 0);
    snprintf(want, sizeof want, "requests: %llu\n", (unsigned long long)dump);
    cr_assert(strstr(cstr(ka_activity_buf(act)), want));
    cr_assert(strstr(cstr(ka_activity_buf(act)), "secrets"));
    ka_buf_free(&line);
    ka_denied_free(dn);
    ka_activity_free(act);
    ka_gen_free(g);
}

Test(views, real_audit2rbac_denied)
{
    const char *path = ka_t_shared("data/real/audit2rbac/demo.log");
    size_t len;
    char *data = ka_t_read_file(path, &len);
    struct ka_denied *dn;
    cr_assert_not_null(data);
    cr_assert_eq(ka_denied_new(KA_VIEW_TEXT, &dn), 0);
    for (char *p = data, *nl; p < data + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(data + len - p));
        if (!nl)
            nl = data + len;
        if (nl == p)
            continue;
        struct ka_event ev;
        struct ka_scan_err e;
        cr_assert_eq(ka_event_scan(p, (size_t)(nl - p), NULL, &ev, &e), 0);
        cr_assert_eq(ka_denied_add(dn, &ev), 0);
    }
    cr_assert_eq(ka_denied_finish(dn), 0);
    cr_assert_eq(ka_denied_count(dn), 11); /* SOURCES.md: 11 of the 37 events are 403 */
    const char *s = cstr(ka_denied_buf(dn));
    /* the impersonated user is the one RBAC denied */
    cr_assert(strstr(s, "# user bob:"), "%s", s);
    cr_assert(strstr(s, "# user system:serviceaccount:ns1:sa1:"), "%s", s);
    cr_assert_null(strstr(s, "# user system:admin"));
    ka_denied_free(dn);
    free(data);
}
