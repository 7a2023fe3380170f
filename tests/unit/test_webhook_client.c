/*
 * test_webhook_client.c - the webhook client's pure parts: EventList bodies byte for byte
 * (spec §1.5), the request URL rule (§6) and the webhook kubeconfig (§6: selection, inline
 * data, files relative to the kubeconfig, the unnamed cluster, errors with line:col).
 * All data is written inline; nothing comes from ../shared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/event.h"
#include "kaudit/webhook_client.h"
#include "testutil.h"

static char *url_of(const char *server, bool tls)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    int rc = ka_webhook_url(server, tls, &b);
    if (rc) {
        ka_buf_free(&b);
        return NULL;
    }
    ka_buf_cstr(&b);
    return b.p;
}

static void url_is(const char *server, bool tls, const char *want)
{
    char *got = url_of(server, tls);
    cr_assert_not_null(got, "%s refused", server);
    cr_expect_str_eq(got, want, "server %s", server);
    free(got);
}

Test(webhook_url, clean_and_query)
{
    url_is("http://h:8080/audit", false, "http://h:8080/audit?timeout=30s");
    url_is("http://h:8080", false, "http://h:8080/?timeout=30s");
    url_is("http://h/", false, "http://h/?timeout=30s");
    url_is("https://h/a/b/", false, "https://h/a/b?timeout=30s");
    url_is("http://h//a/./b/../c?x=1&timeout=5s#frag", false, "http://h/a/c?timeout=30s");
    url_is("http://h/../../x", false, "http://h/x?timeout=30s");
    url_is("audit.example.com/events", true, "https://audit.example.com/events?timeout=30s");
    url_is("audit.example.com/events", false, "http://audit.example.com/events?timeout=30s");
    cr_expect_null(url_of("ftp://h/x", false));
    cr_expect_null(url_of("http:///x", false));
}

static const char ev1[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":"
                          "\"Metadata\",\"auditID\":\"a1\",\"stage\":\"ResponseComplete\","
                          "\"requestURI\":\"/api?a=1&b=<2>\",\"verb\":\"get\",\"user\":{}}";
static const char ev2[] = "{\"level\":\"None\",\"auditID\":\"a2\",\"stage\":\"RequestReceived\"}";

static void add(struct ka_buf *b, const char *js)
{
    struct ka_event ev;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(js, strlen(js), NULL, &ev, &err), KA_OK, "scan %s", js);
    cr_assert_eq(ka_webhook_body_add(b, &ev), KA_OK);
}

Test(webhook_body, exact_bytes)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_webhook_body_begin(&b), KA_OK);
    add(&b, ev1);
    add(&b, ev2);
    cr_assert_eq(ka_webhook_body_end(&b), KA_OK);
    /* expected: each item the canonical event (ka_event_write) minus kind/apiVersion */
    struct ka_buf c1, c2;
    ka_buf_init(&c1, 0);
    ka_buf_init(&c2, 0);
    struct ka_event e;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(ev1, strlen(ev1), NULL, &e, &err), KA_OK);
    ka_event_write(&e, NULL, &c1);
    cr_assert_eq(ka_event_scan(ev2, strlen(ev2), NULL, &e, &err), KA_OK);
    ka_event_write(&e, NULL, &c2);
    size_t pl = strlen("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",");
    char want[4096];
    snprintf(want, sizeof want,
             "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},"
             "\"items\":[{%.*s,{%.*s]}\n",
             (int)(c1.n - pl - 1), c1.p + pl, (int)(c2.n - pl - 1), c2.p + pl);
    cr_expect_eq(b.n, strlen(want));
    cr_expect_eq(memcmp(b.p, want, b.n), 0, "got %.*s", (int)b.n, b.p);
    /* the HTML-safe escaping of the canonical writer is kept */
    cr_expect_not_null(memmem(b.p, b.n, "a=1\\u0026b=\\u003c2\\u003e", 24));
    cr_expect_null(memmem(b.p + 10, b.n - 10, "\"kind\"", 6));
    ka_buf_free(&b);
    ka_buf_free(&c1);
    ka_buf_free(&c2);
}

Test(webhook_body, empty_list)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    ka_webhook_body_begin(&b);
    ka_webhook_body_end(&b);
    const char *want = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\","
                       "\"metadata\":{},\"items\":[]}\n";
    cr_expect_eq(b.n, strlen(want));
    cr_expect_eq(memcmp(b.p, want, b.n), 0);
    ka_buf_free(&b);
}

static int load(const char *yaml, const char *dir, struct ka_diag *d,
                struct ka_webhook_config **out)
{
    return ka_kubeconfig_load(yaml, strlen(yaml), "kc.yaml", dir, d, out);
}

Test(kubeconfig, context_and_inline_data)
{
    const char *y = "apiVersion: v1\nkind: Config\nclusters:\n"
                    "- name: other\n  cluster: {server: http://wrong}\n"
                    "- name: kaudit\n  cluster:\n    server: https://kaudit.example:9765/audit/\n"
                    "    certificate-authority-data: LS0tLUNBLS0tLQ==\n"
                    "    tls-server-name: collector\n"
                    "users:\n- name: apiserver\n  user:\n"
                    "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n"
                    "contexts:\n- name: webhook\n  context: {cluster: kaudit, user: apiserver}\n"
                    "current-context: webhook\n";
    struct ka_diag d = {0};
    struct ka_webhook_config *c = NULL;
    cr_assert_eq(load(y, NULL, &d, &c), KA_OK, "%s", d.n ? d.v[0].msg : "");
    cr_expect_str_eq(c->url, "https://kaudit.example:9765/audit?timeout=30s");
    cr_expect_eq(c->ca_data_len, 10);
    cr_expect_eq(memcmp(c->ca_data, "----CA----", 10), 0);
    cr_expect_eq(c->cert_data_len, 4);
    cr_expect_eq(memcmp(c->cert_data, "CERT", 4), 0);
    cr_expect_eq(c->key_data_len, 3);
    cr_expect_str_eq(c->tls_server_name, "collector");
    cr_expect_null(c->token);
    cr_expect_not(c->insecure);
    ka_webhook_config_free(c);
    ka_diag_free(&d);
}

Test(kubeconfig, unnamed_cluster_without_context)
{
    /* upstream's webhook test shape: no names, no current-context, plain http */
    const char *y = "clusters:\n- cluster:\n    server: 127.0.0.1:8080/events?x=y\n"
                    "users:\n- user:\n    token: abc\n";
    struct ka_diag d = {0};
    struct ka_webhook_config *c = NULL;
    cr_assert_eq(load(y, NULL, &d, &c), KA_OK, "%s", d.n ? d.v[0].msg : "");
    cr_expect_str_eq(c->url, "http://127.0.0.1:8080/events?timeout=30s");
    cr_expect_str_eq(c->token, "abc");
    ka_webhook_config_free(c);
    ka_diag_free(&d);
}

Test(kubeconfig, relative_files)
{
    char *dir = ka_t_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/ca.pem", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/tok", dir);
    f = fopen(p, "w");
    fputs("  t0ken \n", f);
    fclose(f);
    const char *y = "clusters:\n- name: c\n  cluster:\n    server: h.example/x\n"
                    "    certificate-authority: ca.pem\n    insecure-skip-tls-verify: false\n"
                    "users:\n- name: u\n  user:\n    tokenFile: tok\n"
                    "contexts:\n- name: w\n  context:\n    cluster: c\n    user: u\n"
                    "current-context: w\n";
    struct ka_diag d = {0};
    struct ka_webhook_config *c = NULL;
    cr_assert_eq(load(y, dir, &d, &c), KA_OK, "%s", d.n ? d.v[0].msg : "");
    snprintf(p, sizeof p, "%s/ca.pem", dir);
    cr_expect_str_eq(c->ca_file, p);
    cr_expect_str_eq(c->token, "t0ken");
    /* a CA makes a scheme-less server https */
    cr_expect_str_eq(c->url, "https://h.example/x?timeout=30s");
    ka_webhook_config_free(c);
    ka_diag_free(&d);
    ka_t_rmtree(dir);
    free(dir);
}

static void expect_error(const char *y, int want_rc, const char *want_msg)
{
    struct ka_diag d = {0};
    struct ka_webhook_config *c = NULL;
    int rc = load(y, "/nonexistent-dir", &d, &c);
    cr_expect_eq(rc, want_rc, "rc %d for %s", rc, y);
    cr_assert_geq(d.n, 1, "no message for %s", y);
    cr_expect(strstr(d.v[0].msg, want_msg) != NULL, "got '%s', want '%s'", d.v[0].msg, want_msg);
    ka_diag_free(&d);
}

Test(kubeconfig, errors_with_line_col)
{
    expect_error("clusters:\n- cluster:\n    server: [1]\n", KA_EINVAL,
                 "kc.yaml:3:5: cluster.server: must be a string");
    expect_error("current-context: nope\n", KA_EINVAL,
                 "kc.yaml:1:18: current-context: context \"nope\" not found");
    expect_error("clusters:\n- cluster:\n    server: http://h\n    "
                 "certificate-authority-data: '%%%'\n",
                 KA_EINVAL, "kc.yaml:4:34: cluster.certificate-authority-data: illegal base64");
    expect_error("clusters:\n- cluster:\n    server: http://h\n    "
                 "certificate-authority: ca.pem\n",
                 KA_ENOENT, "kc.yaml:4:28: cluster.certificate-authority: /nonexistent-dir/ca.pem");
    expect_error("clusters:\n- cluster:\n    insecure-skip-tls-verify: true\n", KA_EINVAL,
                 "no server defined");
    expect_error("clusters:\n- cluster:\n    server: http://h\n    insecure-skip-tls-verify: maybe\n",
                 KA_EINVAL, "kc.yaml:4:31: cluster.insecure-skip-tls-verify: must be true or false");
    expect_error("clusters:\n- cluster: {server: http://h}\nusers:\n- user: {token: t, username: u}\n",
                 KA_EINVAL, "not both");
    expect_error("clusters: [\n", KA_ESYNTAX, "kc.yaml:");
    /* checked before libfyaml, which loops forever on some invalid bytes after a % */
    expect_error("clusters:\n- cluster:\n    server: http://h\xff\n", KA_ESYNTAX,
                 "kc.yaml:3:21: invalid UTF-8");
    expect_error("%\x8b\n", KA_ESYNTAX, "kc.yaml:1:2: invalid UTF-8");
}
