/*
 * auth.c - who may post events, and which cluster they speak for: bearer tokens from a token
 * file (`TOKEN CLUSTER` per line) and client certificates verified against the configured CA
 * (mTLS), whose subject CN (or O) names the cluster.
 *
 * libmicrohttpd hands out the GnuTLS session of a connection but does not verify client
 * certificates itself: that is done here with GnuTLS (libgnutls28-dev).
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_int.h"

#define MAX_TOKEN_LINE 4096

bool ka_wh_cluster_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > KA_WEBHOOK_MAX_CLUSTER) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

static int add_token(struct ka_webhook_server *s, const char *tok, size_t tn, const char *cl,
                     size_t cn)
{
    if (s->n_tokens >= KA_WEBHOOK_MAX_TOKENS) return KA_ETOOBIG;
    struct ka_wh_token *t = &s->tokens[s->n_tokens];
    t->token = strndup(tok, tn);
    t->cluster = strndup(cl, cn);
    t->token_len = tn;
    if (!t->token || !t->cluster) {
        free(t->token);
        free(t->cluster);
        return KA_ENOMEM;
    }
    s->n_tokens++;
    return KA_OK;
}

/* One line: TOKEN CLUSTER, blank lines and #-comments skipped. */
static int token_line(struct ka_webhook_server *s, char *line, const char *path, unsigned long ln,
                      struct ka_diag *diag)
{
    const char *ws = " \t\r\n";
    char *save = NULL;
    char *tok = strtok_r(line, ws, &save);
    if (!tok || tok[0] == '#') return KA_OK;
    char *cl = strtok_r(NULL, ws, &save);
    char *extra = cl ? strtok_r(NULL, ws, &save) : NULL;
    if (!cl || extra || !ka_wh_cluster_name_ok(cl, strlen(cl))) {
        ka_diag_add(diag, KA_SEV_ERROR,
                    "%s:%lu: expected `TOKEN CLUSTER` (cluster: "
                    "[A-Za-z0-9._-]{1,63})",
                    path, ln);
        return KA_EINVAL;
    }
    int rc = add_token(s, tok, strlen(tok), cl, strlen(cl));
    if (rc == KA_ETOOBIG)
        ka_diag_add(diag, KA_SEV_ERROR, "%s:%lu: more than %d tokens", path, ln,
                    KA_WEBHOOK_MAX_TOKENS);
    return rc;
}

int ka_wh_tokens_load(struct ka_webhook_server *s, const char *path, struct ka_diag *diag)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: cannot open the token file", path);
        return KA_EIO;
    }
    s->tokens = calloc(KA_WEBHOOK_MAX_TOKENS, sizeof *s->tokens);
    int rc = s->tokens ? KA_OK : KA_ENOMEM;
    char line[MAX_TOKEN_LINE];
    unsigned long ln = 0;
    while (rc == KA_OK && fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f)) {
            ka_diag_add(diag, KA_SEV_ERROR, "%s:%lu: line too long", path, ln);
            rc = KA_ETOOBIG;
            break;
        }
        rc = token_line(s, line, path, ln, diag);
    }
    fclose(f);
    if (rc == KA_OK && s->n_tokens == 0) {
        ka_diag_add(diag, KA_SEV_ERROR, "%s: no tokens", path);
        rc = KA_EINVAL;
    }
    return rc;
}

void ka_wh_tokens_free(struct ka_webhook_server *s)
{
    for (size_t i = 0; i < s->n_tokens; i++) {
        /* Tokens are secrets: do not leave them in freed memory. */
        memset(s->tokens[i].token, 0, s->tokens[i].token_len);
        free(s->tokens[i].token);
        free(s->tokens[i].cluster);
    }
    free(s->tokens);
    s->tokens = NULL;
    s->n_tokens = 0;
}

/* Compares in time independent of where the first difference is. */
static bool same_secret(const char *a, size_t an, const char *b, size_t bn)
{
    unsigned char diff = an != bn;
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static const struct ka_wh_token *find_token(struct ka_webhook_server *s, const char *hdr)
{
    if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0) return NULL;
    const char *t = hdr + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    const struct ka_wh_token *hit = NULL;
    for (size_t i = 0; i < s->n_tokens; i++)
        if (same_secret(t, n, s->tokens[i].token, s->tokens[i].token_len) && !hit)
            hit = &s->tokens[i];
    return hit;
}

/* ---- client certificates ---- */

/* Verifies the peer's certificate chain against the trust list; fills the name from CN or O. */
static int client_cert(struct ka_webhook_server *s, struct MHD_Connection *c,
                       char name[KA_WEBHOOK_MAX_CLUSTER + 1])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) return -1;
    gnutls_session_t sess = (gnutls_session_t)ci->tls_session;
    unsigned status = 0, n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(sess, &n);
    if (!certs || n == 0 || gnutls_certificate_verify_peers2(sess, &status) != 0 || status != 0) return -1;
    name[0] = '\0';
    if (s->cfg->cluster_from_cert == KA_CFG_CERT_NONE) return 0;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) != 0) return -1;
    char buf[256];
    size_t len = sizeof buf;
    const char *oid = s->cfg->cluster_from_cert == KA_CFG_CERT_ORG
                          ? GNUTLS_OID_X520_ORGANIZATION_NAME
                          : GNUTLS_OID_X520_COMMON_NAME;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, buf, &len) == 0 && ka_wh_cluster_name_ok(buf, len)) {
        memcpy(name, buf, len);
        name[len] = '\0';
    }
    gnutls_x509_crt_deinit(crt);
    return 0;
}

int ka_wh_auth(struct ka_webhook_server *s, struct MHD_Connection *c,
               char cluster[KA_WEBHOOK_MAX_CLUSTER + 1])
{
    cluster[0] = '\0';
    char cert_name[KA_WEBHOOK_MAX_CLUSTER + 1] = "";
    if (s->mtls && client_cert(s, c, cert_name) != 0) return -1;
    if (s->n_tokens > 0) {
        const char *hdr =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const struct ka_wh_token *t = find_token(s, hdr);
        if (!t) return -1;
        snprintf(cluster, KA_WEBHOOK_MAX_CLUSTER + 1, "%s", t->cluster);
        return 0;
    }
    memcpy(cluster, cert_name, sizeof cert_name);
    return 0;
}
