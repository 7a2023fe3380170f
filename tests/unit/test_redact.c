/*
 * test_redact.c - the redactor (ka_redact_*): SHA-256 against the FIPS 180-2 vectors, the exact
 * output of each rule (compared with the canonical encoding of the expected event), path syntax
 * errors, and a proof over generated traffic (include/kaudit/gen.h) plus hand-made events for
 * every rule: no secret value, nor its base64-decoded form, appears anywhere in the output,
 * while events without secrets come out byte for byte as the plain encoder writes them.
 * No data from ../shared is used.
 *
 * Event literals are written with ' for " to stay readable (sq() converts them).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/buf.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "kaudit/gen.h"
#include "kaudit/redact.h"

#define EV(ref, verb, body)                                                                        \
    "{'kind':'Event','apiVersion':'audit.k8s.io/v1','level':'RequestResponse','auditID':'a',"      \
    "'stage':'ResponseComplete','requestURI':'/x','verb':'" verb "','objectRef':" ref "," body     \
    ",'requestReceivedTimestamp':'2025-01-01T00:00:00.000000Z',"                                   \
    "'stageTimestamp':'2025-01-01T00:00:00.000001Z'}"
#define SECRETS "{'resource':'secrets','namespace':'d','name':'s','apiVersion':'v1'}"
#define CMAPS "{'resource':'configmaps','namespace':'d','name':'c','apiVersion':'v1'}"
#define M(h) "<redacted sha256:" h ">"

static char *sq(const char *s)
{
    char *r = strdup(s);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

static char *canon(const char *json)
{
    struct ka_event ev;
    struct ka_scan_err se;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_scan(json, strlen(json), NULL, &ev, &se), KA_OK, "%s: %s", json,
                 se.msg);
    cr_assert_eq(ka_event_write(&ev, NULL, &b), KA_OK);
    return (char *)ka_buf_cstr(&b);
}

/* Redacts json with r; returns the output (always written) and sets *changed. */
static char *red(const struct ka_redact *r, const char *json, bool *changed)
{
    struct ka_event ev;
    struct ka_scan_err se;
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_event_scan(json, strlen(json), NULL, &ev, &se), KA_OK, "%s", se.msg);
    cr_assert_eq(ka_redact_write(r, &ev, NULL, &b, changed), KA_OK);
    return (char *)ka_buf_cstr(&b);
}

/* Asserts that redacting in gives exactly the canonical encoding of want. */
static void check_with(const struct ka_redact *r, const char *in, const char *want)
{
    char *i = sq(in), *w = sq(want), *got, *exp;
    bool changed;
    got = red(r, i, &changed);
    exp = canon(w);
    cr_expect_str_eq(got, exp, "in:   %s", i);
    cr_expect_eq(changed, strcmp(i, w) != 0);
    free(i);
    free(w);
    free(got);
    free(exp);
}

static void check(const char *in, const char *want)
{
    struct ka_redact *r;
    cr_assert_eq(ka_redact_new(NULL, NULL, &r), KA_OK);
    check_with(r, in, want);
    ka_redact_free(r);
}

static void hexof(const char *s, size_t n, char out[65])
{
    uint8_t d[32];
    ka_redact_sha256(s, n, d);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

Test(redact, sha256_fips_vectors)
{
    char h[65];
    static const char v448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char *big = malloc(1000000);
    hexof("abc", 3, h);
    cr_expect_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hexof("", 0, h);
    cr_expect_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hexof(v448, strlen(v448), h);
    cr_expect_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(big, 'a', 1000000);
    hexof(big, 1000000, h);
    cr_expect_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(big);
}

Test(redact, marker_format)
{
    char m[KA_REDACT_MARKER_LEN + 1] = {0};
    ka_redact_marker("c2VjcmV0", 8, m);
    cr_expect_str_eq(m, M("1c1185e02ff3"));
}

Test(redact, secret_create_data_and_stringdata)
{
    check(EV(SECRETS, "create",
             "'requestObject':{'kind':'Secret','apiVersion':'v1','metadata':{'name':'s'},"
             "'data':{'a':'c2VjcmV0','e':''},'stringData':{'p':'plain-pass'},'type':'Opaque'}"),
          EV(SECRETS, "create",
             "'requestObject':{'kind':'Secret','apiVersion':'v1','metadata':{'name':'s'},"
             "'data':{'a':'" M("1c1185e02ff3") "','e':''},'stringData':{'p':'" M("d64a27db204e")
             "'},'type':'Opaque'}"));
}

Test(redact, escaped_value_hashes_decoded_bytes)
{
    /* aHVudGVyMg== written with \u003d escapes: the hash is of the decoded text. */
    check(EV(SECRETS, "get", "'responseObject':{'data':{'k':'aHVudGVyMg\\u003d\\u003d'}}"),
          EV(SECRETS, "get", "'responseObject':{'data':{'k':'" M("b073aefd7c92") "'}}"));
}

Test(redact, secretlist_and_kind_anywhere)
{
    check(EV(SECRETS, "list",
             "'responseObject':{'kind':'SecretList','apiVersion':'v1','metadata':{},"
             "'items':[{'metadata':{'name':'x'},'data':{'k':'c2VjcmV0'}},{'data':{'k':'abc123def'}}]}"),
          EV(SECRETS, "list",
             "'responseObject':{'kind':'SecretList','apiVersion':'v1','metadata':{},"
             "'items':[{'metadata':{'name':'x'},'data':{'k':'" M("1c1185e02ff3") "'}},{'data':{'k':'"
             M("f57767dbbaac") "'}}]}"));
    /* A List on another resource holding a Secret, and a SecretList found by kind. */
    check(EV(CMAPS, "create",
             "'requestObject':{'kind':'List','items':[{'kind':'Secret','data':{'k':'s3cr3t'}},"
             "{'kind':'ConfigMap','data':{'k':'s3cr3t'}},{'kind':'SecretList','items':[{'data':"
             "{'k':'c2VjcmV0'}}]}]}"),
          EV(CMAPS, "create",
             "'requestObject':{'kind':'List','items':[{'kind':'Secret','data':{'k':'" M("4e738ca5563c")
             "'}},{'kind':'ConfigMap','data':{'k':'s3cr3t'}},{'kind':'SecretList','items':[{'data':"
             "{'k':'" M("1c1185e02ff3") "'}}]}]}"));
}

Test(redact, last_applied_configuration)
{
    check(EV(SECRETS, "patch",
             "'requestObject':{'metadata':{'annotations':{'kubectl.kubernetes.io/last-applied-"
             "configuration':'{\\'apiVersion\\':\\'v1\\',\\'data\\':{\\'k\\':\\'c2VjcmV0\\'},"
             "\\'kind\\':\\'Secret\\'}\\n'}},'data':{'k':'c2VjcmV0'}}"),
          EV(SECRETS, "patch",
             "'requestObject':{'metadata':{'annotations':{'kubectl.kubernetes.io/last-applied-"
             "configuration':'{\\'apiVersion\\':\\'v1\\',\\'data\\':{\\'k\\':\\'" M("1c1185e02ff3")
             "\\'},\\'kind\\':\\'Secret\\'}\\n'}},'data':{'k':'" M("1c1185e02ff3") "'}}"));
}

Test(redact, token_request)
{
    check(EV("{'resource':'serviceaccounts','namespace':'d','name':'sa','apiVersion':'v1',"
             "'subresource':'token'}",
             "create",
             "'requestObject':{'kind':'TokenRequest','status':{'token':''}},"
             "'responseObject':{'kind':'TokenRequest','status':{'token':'tok-123',"
             "'expirationTimestamp':'2025-01-01T00:00:00Z'}}"),
          EV("{'resource':'serviceaccounts','namespace':'d','name':'sa','apiVersion':'v1',"
             "'subresource':'token'}",
             "create",
             "'requestObject':{'kind':'TokenRequest','status':{'token':''}},"
             "'responseObject':{'kind':'TokenRequest','status':{'token':'" M("c8963414bf6c")
             "','expirationTimestamp':'2025-01-01T00:00:00Z'}}"));
}

Test(redact, json_patch_and_merge_patch)
{
    check(EV(SECRETS, "patch",
             "'requestObject':[{'op':'replace','path':'/data/k','value':'c2VjcmV0'},"
             "{'value':{'x':'s3cr3t'},'op':'add','path':'/stringData'},"
             "{'op':'test','path':'/metadata/name','value':'s'},{'op':'remove','path':'/data/j'}]"),
          EV(SECRETS, "patch",
             "'requestObject':[{'op':'replace','path':'/data/k','value':'" M("1c1185e02ff3") "'},"
             "{'value':{'x':'" M("4e738ca5563c") "'},'op':'add','path':'/stringData'},"
             "{'op':'test','path':'/metadata/name','value':'s'},{'op':'remove','path':'/data/j'}]"));
    check(EV(SECRETS, "patch", "'requestObject':{'stringData':{'p':'plain-pass'},'data':null}"),
          EV(SECRETS, "patch",
             "'requestObject':{'stringData':{'p':'" M("d64a27db204e") "'},'data':null}"));
}

Test(redact, bearer_and_jwt_in_annotations)
{
    check(EV(CMAPS, "get",
             "'annotations':{'a':'Authorization: Bearer tok-123 sent','b':'eyJhbGciOiJSUzI1NiJ9."
             "eyJzdWIiOiJ4In0.c2ln','c':'mybearer tok-123','d':'eyJ.x','e':'bearer  tok-123'}"),
          EV(CMAPS, "get",
             "'annotations':{'a':'Authorization: Bearer " M("c8963414bf6c") " sent','b':'"
             M("ec97fe60f7cc") "','c':'mybearer tok-123','d':'eyJ.x','e':'bearer  "
             M("c8963414bf6c") "'}"));
}

Test(redact, configured_paths)
{
    static const char *const cm[] = {"data.password", "spec.creds[*].key"};
    static const char *const crd[] = {"spec.*"};
    struct ka_redact_rule rules[] = {{"configmaps", cm, 2}, {"widgets.example.com", crd, 1}};
    struct ka_redact_opts o = {.rules = rules, .n_rules = 2};
    struct ka_redact *r;
    cr_assert_eq(ka_redact_new(&o, NULL, &r), KA_OK);
    check_with(r,
               EV(CMAPS, "list",
                  "'responseObject':{'kind':'ConfigMapList','items':[{'data':{'password':"
                  "'s3cr3t','user':'bob'}}]}"),
               EV(CMAPS, "list",
                  "'responseObject':{'kind':'ConfigMapList','items':[{'data':{'password':'"
                  M("4e738ca5563c") "','user':'bob'}}]}"));
    check_with(r,
               EV("{'resource':'widgets','apiGroup':'example.com','name':'w'}", "create",
                  "'requestObject':{'spec':{'n':1,'s':'s3cr3t','o':null}}"),
               EV("{'resource':'widgets','apiGroup':'example.com','name':'w'}", "create",
                  "'requestObject':{'spec':{'n':'" M("6b86b273ff34") "','s':'" M("4e738ca5563c")
                  "','o':null}}"));
    ka_redact_free(r);
}

Test(redact, bad_paths_are_refused)
{
    static const char *const bad[] = {"data..x", "a[0]", "", "a.", "x[*"};
    struct ka_diag d = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ka_redact_rule rule = {"configmaps", &bad[i], 1};
        struct ka_redact_opts o = {.rules = &rule, .n_rules = 1};
        struct ka_redact *r = NULL;
        cr_expect_eq(ka_redact_new(&o, &d, &r), KA_EINVAL, "%s", bad[i]);
    }
    cr_expect_eq(d.n_errors, sizeof bad / sizeof *bad);
    ka_diag_free(&d);
}

Test(redact, disabled_and_unchanged)
{
    struct ka_redact_opts o = {.disabled = true};
    struct ka_redact *r;
    char *in = sq(EV(SECRETS, "get", "'responseObject':{'data':{'k':'c2VjcmV0'}}"));
    char *got, *exp = canon(in);
    bool changed = true;
    cr_assert_eq(ka_redact_new(&o, NULL, &r), KA_OK);
    got = red(r, in, &changed);
    cr_expect_str_eq(got, exp);
    cr_expect(!changed);
    ka_redact_free(r);
    free(got);
    free(in);
    free(exp);
}

/* ---- proof: no secret survives ------------------------------------------------------------ */

struct secrets {
    char **v;
    size_t n, cap;
};

static void add_secret(struct secrets *s, const char *v, size_t n)
{
    if (n < 8) /* shorter values ("YXBw" = "app") occur in ordinary text by chance */
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = strndup(v, n);
}

static int b64val(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* Adds v and, when it is base64, its decoded bytes. */
static void add_value(struct secrets *s, const char *v)
{
    size_t n = strlen(v), k = 0;
    unsigned acc = 0, bits = 0;
    char *d = malloc(n + 1);
    bool ok = n % 4 == 0;
    add_secret(s, v, n);
    for (size_t i = 0; ok && i < n && v[i] != '='; i++) {
        int x = b64val(v[i]);
        if (x < 0) {
            ok = false;
            break;
        }
        acc = acc << 6 | (unsigned)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[k++] = (char)(acc >> bits & 0xff);
        }
    }
    if (ok)
        add_secret(s, d, k);
    free(d);
}

static void collect_map(struct secrets *s, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) if (json_is_string(v)) add_value(s, json_string_value(v));
}

/* Collects what the rules promise to hide from one JSON value (recursively). */
static void collect(struct secrets *s, json_t *v, bool secret)
{
    size_t i;
    json_t *x;
    const char *kind = json_string_value(json_object_get(v, "kind"));
    if (json_is_array(v))
        json_array_foreach(v, i, x) collect(s, x, secret);
    if (!json_is_object(v))
        return;
    secret = secret || (kind && strcmp(kind, "Secret") == 0);
    if (secret) {
        collect_map(s, json_object_get(v, "data"));
        collect_map(s, json_object_get(v, "stringData"));
    }
    x = json_object_get(json_object_get(v, "status"), "token");
    if (json_is_string(x))
        add_value(s, json_string_value(x));
    json_array_foreach(json_object_get(v, "items"), i, x) collect(s, x, secret || (kind &&
                                                                         strstr(kind, "Secret")));
}

static const char *const hand[] = {
    EV(SECRETS, "list", "'responseObject':{'kind':'SecretList','items':[{'data':{'k':"
                        "'aGFuZC1zZWNyZXQtb25l'}},{'stringData':{'k':'hand-secret-two'}}]}"),
    EV(SECRETS, "patch", "'requestObject':[{'op':'add','path':'/data/x','value':"
                         "'aGFuZC1zZWNyZXQtdGhyZWU='}]"),
    EV(SECRETS, "patch", "'requestObject':{'metadata':{'annotations':{'kubectl.kubernetes.io/"
                         "last-applied-configuration':'{\\'kind\\':\\'Secret\\',\\'stringData\\':"
                         "{\\'k\\':\\'hand-secret-four\\'}}'}},'stringData':{'k':'hand-secret-four'}}"),
    EV("{'resource':'serviceaccounts','subresource':'token','name':'sa'}", "create",
       "'responseObject':{'kind':'TokenRequest','status':{'token':'hand-secret-five'}}"),
    EV(CMAPS, "get", "'annotations':{'x':'Bearer hand-secret-six'}"),
};

static const char *const hand_values[] = {"hand-secret-one", "hand-secret-two",
                                          "hand-secret-three", "hand-secret-four",
                                          "hand-secret-five", "hand-secret-six"};

static void redact_line(const struct ka_redact *r, const char *p, size_t n, struct ka_buf *out,
                        size_t *unchanged)
{
    struct ka_event ev;
    struct ka_scan_err se;
    struct ka_buf plain;
    bool changed;
    size_t n0 = out->n;
    ka_buf_init(&plain, 0);
    cr_assert_eq(ka_event_scan(p, n, NULL, &ev, &se), KA_OK);
    cr_assert_eq(ka_redact_write(r, &ev, NULL, out, &changed), KA_OK);
    cr_assert_eq(ka_event_write(&ev, NULL, &plain), KA_OK);
    if (!changed) {
        cr_assert_eq(out->n - n0, plain.n);
        cr_assert(memcmp(out->p + n0, plain.p, plain.n) == 0);
        (*unchanged)++;
    }
    ka_buf_free(&plain);
}

Test(redact, proof_no_secret_survives)
{
    struct ka_gen_opts go = {.seed = 7, .events = 50000, .attacks = true};
    struct ka_gen *g;
    struct ka_redact *r;
    struct ka_buf in, out;
    struct secrets s = {0};
    size_t unchanged = 0, i, nsecret_events = 0;
    ka_buf_init(&in, 0);
    ka_buf_init(&out, 0);
    cr_assert_eq(ka_gen_new(&go, &g), KA_OK);
    while (ka_gen_next(g, &in, NULL) == KA_OK) {
    }
    ka_gen_free(g);
    for (i = 0; i < sizeof hand / sizeof *hand; i++) {
        char *h = sq(hand[i]);
        ka_buf_append(&in, h, strlen(h));
        ka_buf_putc(&in, '\n');
        free(h);
    }
    for (i = 0; i < sizeof hand_values / sizeof *hand_values; i++)
        add_secret(&s, hand_values[i], strlen(hand_values[i]));
    cr_assert_eq(ka_redact_new(NULL, NULL, &r), KA_OK);
    for (char *p = in.p, *e; p < in.p + in.n; p = e + 1) {
        json_t *j, *ref;
        e = memchr(p, '\n', (size_t)(in.p + in.n - p));
        j = json_loadb(p, (size_t)(e - p), 0, NULL);
        cr_assert(j);
        ref = json_object_get(j, "objectRef");
        bool sec = json_is_string(json_object_get(ref, "resource")) &&
                   strcmp(json_string_value(json_object_get(ref, "resource")), "secrets") == 0;
        size_t before = s.n;
        collect(&s, json_object_get(j, "requestObject"), sec);
        collect(&s, json_object_get(j, "responseObject"), sec);
        nsecret_events += s.n > before;
        json_decref(j);
        redact_line(r, p, (size_t)(e - p), &out, &unchanged);
    }
    cr_assert_gt(nsecret_events, 15, "the generator made %zu events with secrets", nsecret_events);
    cr_assert_gt(s.n, 40);
    for (i = 0; i < s.n; i++) {
        cr_expect(memmem(out.p, out.n, s.v[i], strlen(s.v[i])) == NULL, "leaked: %s", s.v[i]);
        free(s.v[i]);
    }
    /* Most traffic has no secret and must come out exactly as the plain encoder writes it. */
    cr_expect_gt(unchanged, 45000);
    cr_expect(memmem(out.p, out.n, "\\u003credacted sha256:", 22) != NULL);
    free(s.v);
    ka_redact_free(r);
    ka_buf_free(&in);
    ka_buf_free(&out);
}
