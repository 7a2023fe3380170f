/*
 * gen_secrets.c - the Secret bodies of gen_extra.c's Secret writes, so that redaction meets
 * generated data values in every place kube-apiserver logs them:
 *
 *   B_X_TLS_SECRET     cert-manager's update of a kubernetes.io/tls Secret: data ca.crt,
 *                      tls.crt, tls.key (base64 of PEM text), cert-manager annotations.
 *   B_X_APPLY_SECRET   `kubectl apply` of an Opaque Secret: the strategic merge patch kubectl
 *                      sends (data, and the last-applied-configuration annotation holding the
 *                      whole manifest with the same data), keys sorted as kubectl writes them.
 *   B_X_STRING_SECRET  Argo CD applying a manifest with stringData: the request is the patch
 *                      (stringData and the annotation); the response is the stored Secret, whose
 *                      data holds the base64 of those values (the server merges stringData).
 *
 * The values come from the request's seed, so the request and response of one event agree;
 * every value of 8 bytes or more is random, so it appears nowhere else in the traffic.
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

#define PEM_MAX 1400
#define B64_MAX (PEM_MAX / 3 * 4 + 8)
#define LA_MAX 1024

static const char b64c[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/* Standard base64 with padding; out holds at least (n + 2) / 3 * 4 + 1 bytes. */
static void b64_encode(const char *in, size_t n, char *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = b64c[v >> 18 & 63];
        out[o++] = b64c[v >> 12 & 63];
        out[o++] = b64c[v >> 6 & 63];
        out[o++] = b64c[v & 63];
        if (i + 1 >= n)
            out[o - 2] = '=';
        if (i + 2 >= n)
            out[o - 1] = '=';
    }
    out[o] = 0;
}

static void rand_word(struct ka__rng *rng, const char *prefix, unsigned n, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%s", prefix);
    for (unsigned i = 0; i < n && o + 1 < cap; i++)
        out[o++] = alnum[ka__rng_below(rng, sizeof alnum - 1)];
    out[o < cap ? o : cap - 1] = 0;
}

/* PEM text of `label` around n random base64 characters, in lines of 64. */
static size_t pem(struct ka__rng *rng, const char *label, unsigned n, char *out)
{
    size_t o = (size_t)snprintf(out, PEM_MAX, "-----BEGIN %s-----\n", label);
    for (unsigned i = 0; i < n && o + 80 < PEM_MAX; i++) {
        out[o++] = b64c[i == 0 ? 12 : ka__rng_below(rng, 64)]; /* 'M' first, as DER gives */
        if (i % 64 == 63 || i + 1 == n)
            out[o++] = '\n';
    }
    o += (size_t)snprintf(out + o, PEM_MAX - o, "-----END %s-----\n", label);
    return o < PEM_MAX ? o : PEM_MAX - 1;
}

static void gw_b64(struct ka__gw *w, const char *s, size_t n)
{
    char b[B64_MAX];
    b64_encode(s, n, b);
    GW_LIT(w, "\"");
    ka__gw_s(w, b);
    GW_LIT(w, "\"");
}

static void meta_head(const struct ka__req *r, struct ka__gw *w)
{
    GW_LIT(w, "\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, r->ns);
}

/* The application's name: the Secret's name without its suffix. */
static void app_of(const struct ka__req *r, const char *suffix, char *out, size_t n)
{
    size_t len = strlen(r->name), sl = strlen(suffix);
    if (len > sl && strcmp(r->name + len - sl, suffix) == 0)
        len -= sl;
    snprintf(out, n, "%.*s", (int)len, r->name);
}

static void tls_secret(const struct ka__req *r, struct ka__gw *w)
{
    struct ka__rng rng = {r->seed ^ 0x7150u}, ca = {0xca11ab1eu};
    char app[96], buf[1024], text[PEM_MAX];
    app_of(r, "-tls", app, sizeof app);
    GW_LIT(w, "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",");
    meta_head(r, w);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, r->ouid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv);
    GW_LIT(w, "\",\"creationTimestamp\":");
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 60);
    snprintf(buf, sizeof buf,
             ",\"labels\":{\"controller.cert-manager.io/fao\":\"true\"},\"annotations\":{"
             "\"cert-manager.io/alt-names\":\"%s.%s.svc,%s.%s.svc.cluster.local\","
             "\"cert-manager.io/certificate-name\":\"%s-tls\",\"cert-manager.io/common-name\":"
             "\"%s.%s.svc\",\"cert-manager.io/ip-sans\":\"\",\"cert-manager.io/issuer-group\":"
             "\"cert-manager.io\",\"cert-manager.io/issuer-kind\":\"ClusterIssuer\","
             "\"cert-manager.io/issuer-name\":\"internal-ca\",\"cert-manager.io/uri-sans\":\"\"}}",
             app, r->ns, app, r->ns, app, app, r->ns);
    ka__gw_s(w, buf);
    GW_LIT(w, ",\"data\":{\"ca.crt\":");
    gw_b64(w, text, pem(&ca, "CERTIFICATE", 560, text));
    GW_LIT(w, ",\"tls.crt\":");
    gw_b64(w, text, pem(&rng, "CERTIFICATE", 620 + ka__rng_below(&rng, 120), text));
    GW_LIT(w, ",\"tls.key\":");
    gw_b64(w, text, pem(&rng, "EC PRIVATE KEY", 160, text));
    GW_LIT(w, "},\"type\":\"kubernetes.io/tls\"}");
}

/* kubectl apply of an Opaque Secret whose password changed. */
static void apply_secret(const struct ka__req *r, struct ka__gw *w)
{
    struct ka__rng rng = {r->seed ^ 0xa991u};
    char pw[40], pw64[64], la[LA_MAX];
    rand_word(&rng, "", 24, pw, sizeof pw);
    b64_encode(pw, strlen(pw), pw64);
    snprintf(la, sizeof la,
             "{\"apiVersion\":\"v1\",\"data\":{\"password\":\"%s\",\"username\":\"YXBw\"},"
             "\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"%s\","
             "\"namespace\":\"%s\"},\"type\":\"Opaque\"}\n",
             pw64, r->name, r->ns);
    GW_LIT(w, "{\"data\":{\"password\":\"");
    ka__gw_s(w, pw64);
    GW_LIT(w, "\"},\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-"
              "configuration\":");
    ka__gw_str(w, la);
    GW_LIT(w, "}}}");
}

static void string_last_applied(const struct ka__req *r, const char *app, const char *key,
                                const char *hook, char *la, size_t n)
{
    snprintf(la, n,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},"
             "\"labels\":{\"app.kubernetes.io/instance\":\"%s\"},\"name\":\"%s\",\"namespace\":"
             "\"%s\"},\"stringData\":{\"API_KEY\":\"%s\",\"WEBHOOK_SECRET\":\"%s\"},\"type\":"
             "\"Opaque\"}\n",
             app, r->name, r->ns, key, hook);
}

static const char string_fields[] =
    "{\"f:data\":{\".\":{},\"f:API_KEY\":{},\"f:WEBHOOK_SECRET\":{}},\"f:metadata\":{"
    "\"f:annotations\":{\".\":{},\"f:kubectl.kubernetes.io/last-applied-configuration\":{}},"
    "\"f:labels\":{\".\":{},\"f:app.kubernetes.io/instance\":{}}},\"f:type\":{}}";

/* Argo CD's patch with stringData, or (response) the Secret stored from it. */
static void string_secret(const struct ka__req *r, bool response, struct ka__gw *w)
{
    struct ka__rng rng = {r->seed ^ 0x57d1u};
    char app[96], key[48], hook[48], la[LA_MAX], b[64], uid[37];
    app_of(r, "-app-env", app, sizeof app);
    rand_word(&rng, "ak_live_", 32, key, sizeof key);
    rand_word(&rng, "whsec_", 32, hook, sizeof hook);
    string_last_applied(r, app, key, hook, la, sizeof la);
    if (!response) {
        GW_LIT(w, "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-"
                  "configuration\":");
        ka__gw_str(w, la);
        GW_LIT(w, "}},\"stringData\":{\"API_KEY\":");
        ka__gw_str(w, key);
        GW_LIT(w, ",\"WEBHOOK_SECRET\":");
        ka__gw_str(w, hook);
        GW_LIT(w, "}}");
        return;
    }
    ka__rng_uuid(&rng, uid);
    GW_LIT(w, "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",");
    meta_head(r, w);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, uid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv + 1);
    GW_LIT(w, "\",\"creationTimestamp\":");
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 7);
    GW_LIT(w, ",\"labels\":{\"app.kubernetes.io/instance\":");
    ka__gw_str(w, app);
    GW_LIT(w, "},\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":");
    ka__gw_str(w, la);
    GW_LIT(w, "},\"managedFields\":[{\"manager\":\"argocd-controller\",\"operation\":\"Update\","
              "\"apiVersion\":\"v1\",\"time\":");
    ka__gw_rfc3339(w, r->t[0]);
    GW_LIT(w, ",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":");
    ka__gw_s(w, string_fields);
    GW_LIT(w, "}]},\"data\":{\"API_KEY\":\"");
    b64_encode(key, strlen(key), b);
    ka__gw_s(w, b);
    GW_LIT(w, "\",\"WEBHOOK_SECRET\":\"");
    b64_encode(hook, strlen(hook), b);
    ka__gw_s(w, b);
    GW_LIT(w, "\"},\"type\":\"Opaque\"}");
}

void ka__secret_body_write(const struct ka__req *r, int kind, bool response, struct ka__gw *w)
{
    switch (kind) {
    case B_X_TLS_SECRET:
        tls_secret(r, w);
        break;
    case B_X_APPLY_SECRET:
        apply_secret(r, w);
        break;
    default:
        string_secret(r, response, w);
        break;
    }
}
