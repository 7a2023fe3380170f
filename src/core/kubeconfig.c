/*
 * kubeconfig.c - reads the kubeconfig-format webhook configuration the apiserver takes in
 * --audit-webhook-config-file (spec §6) into a struct ka_webhook_config: current-context ->
 * cluster and user (or the unnamed entries without one), server, CA, TLS options, client
 * certificate, token / tokenFile, basic auth. Relative paths are relative to the kubeconfig's
 * directory. Errors name the file, line and column.
 */
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaudit/webhook_client.h"
#include "yaml_int.h"

struct kc {
    const char *name, *dir;
    struct ka_diag *d;
    struct ka_webhook_config *cfg;
    int oom;
};

/* Position of a node: its own token when it is a scalar, else its first scalar inside. */
static void node_mark(struct fy_node *n, int *line, int *col)
{
    for (int depth = 0; n && depth < 64; depth++) {
        if (fy_node_is_scalar(n)) {
            const struct fy_mark *m = fy_token_start_mark(fy_node_get_scalar_token(n));
            if (m) {
                *line = m->line + 1;
                *col = m->column + 1;
            }
            return;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else {
            n = fy_node_sequence_iterate(n, &it);
        }
    }
}

static int kc_err(struct kc *k, struct fy_node *at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int kc_err(struct kc *k, struct fy_node *at, int rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    node_mark(at, &line, &col);
    ka_diag_add(k->d, KA_SEV_ERROR, "%s:%d:%d: %s", k->name, line, col, msg);
    return rc;
}

/* The value of key in map (NULL if absent or null); *keyn gets the key node. */
static struct fy_node *lookup(struct fy_node *map, const char *key, struct fy_node **keyn)
{
    void *it = NULL;
    struct fy_node_pair *p;
    *keyn = NULL;
    while (map && (p = fy_node_mapping_iterate(map, &it)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(p);
        const char *s = fy_node_is_scalar(kn) ? fy_node_get_scalar0(kn) : NULL;
        if (s && !strcmp(s, key)) {
            struct fy_node *v = fy_node_pair_value(p);
            *keyn = kn;
            if (v && fy_node_is_scalar(v) && fy_node_get_type(v) == FYNT_SCALAR &&
                fy_node_get_scalar_token(v) &&
                fy_token_scalar_style(fy_node_get_scalar_token(v)) == FYSS_PLAIN) {
                const char *t = fy_node_get_scalar0(v);
                if (t && (!strcmp(t, "null") || !strcmp(t, "~") || !t[0]))
                    return NULL;
            }
            return v;
        }
    }
    return NULL;
}

/* A string member: *out is a copy, or NULL when absent. */
static int get_str(struct kc *k, struct fy_node *map, const char *key, const char *where,
                   char **out)
{
    struct fy_node *kn, *v = lookup(map, key, &kn);
    *out = NULL;
    if (!v)
        return KA_OK;
    if (!fy_node_is_scalar(v))
        return kc_err(k, kn, KA_EINVAL, "%s.%s: must be a string", where, key);
    const char *s = fy_node_get_scalar0(v);
    *out = strdup(s ? s : "");
    return *out ? KA_OK : KA_ENOMEM;
}

static int get_bool(struct kc *k, struct fy_node *map, const char *key, const char *where,
                    bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off"};
    struct fy_node *kn, *v = lookup(map, key, &kn);
    *out = false;
    if (!v)
        return KA_OK;
    const char *s = fy_node_is_scalar(v) ? fy_node_get_scalar0(v) : NULL;
    bool plain = s && fy_token_scalar_style(fy_node_get_scalar_token(v)) == FYSS_PLAIN;
    for (size_t i = 0; plain && i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcmp(s, yes[i]))
            return *out = true, KA_OK;
        if (!strcmp(s, no[i]))
            return KA_OK;
    }
    return kc_err(k, v, KA_EINVAL, "%s.%s: must be true or false", where, key);
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding, CR/LF ignored (Go's []byte in JSON). */
static int b64_decode(const char *s, char **out, size_t *outn)
{
    size_t n = strlen(s);
    char *o = malloc(n / 4 * 3 + 4);
    if (!o)
        return KA_ENOMEM;
    size_t on = 0, q = 0, pad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            continue;
        int v = b64val(c);
        if (c == '=' && q >= 2) {
            pad++;
            v = 0;
        } else if (v < 0 || pad) {
            free(o);
            return KA_EINVAL;
        }
        acc = acc << 6 | (unsigned)v;
        if (++q == 4) {
            o[on++] = (char)(acc >> 16);
            o[on++] = (char)(acc >> 8);
            o[on++] = (char)acc;
            on -= pad;
            q = 0;
            acc = 0;
        }
    }
    if (q != 0 || pad > 2) {
        free(o);
        return KA_EINVAL;
    }
    *out = o;
    *outn = on;
    return KA_OK;
}

static int get_data(struct kc *k, struct fy_node *map, const char *key, const char *where,
                    char **out, size_t *outn)
{
    char *s;
    int rc = get_str(k, map, key, where, &s);
    if (rc || !s)
        return rc;
    rc = b64_decode(s, out, outn);
    free(s);
    if (rc == KA_EINVAL) {
        struct fy_node *kn, *v = lookup(map, key, &kn);
        return kc_err(k, v, rc, "%s.%s: illegal base64 data", where, key);
    }
    return rc;
}

/* A file member, resolved against the kubeconfig's directory and checked for readability. */
static int get_path(struct kc *k, struct fy_node *map, const char *key, const char *where,
                    char **out)
{
    char *s;
    int rc = get_str(k, map, key, where, &s);
    if (rc || !s)
        return rc;
    if (s[0] != '/' && k->dir && k->dir[0]) {
        char *abs;
        if (asprintf(&abs, "%s/%s", k->dir, s) < 0) {
            free(s);
            return KA_ENOMEM;
        }
        free(s);
        s = abs;
    }
    if (access(s, R_OK) != 0) {
        struct fy_node *kn, *v = lookup(map, key, &kn);
        int e = errno;
        rc = kc_err(k, v, e == ENOENT ? KA_ENOENT : KA_EIO, "%s.%s: %s: %s", where, key, s,
                    strerror(e));
        free(s);
        return rc;
    }
    *out = s;
    return KA_OK;
}

/* The entry of a named list (clusters, users, contexts) whose name is name; its inner map. */
static int find_named(struct kc *k, struct fy_node *root, const char *list, const char *inner,
                      const char *name, struct fy_node **out)
{
    struct fy_node *kn, *seq = lookup(root, list, &kn);
    *out = NULL;
    if (!seq)
        return KA_OK;
    if (!fy_node_is_sequence(seq))
        return kc_err(k, seq, KA_EINVAL, "%s: must be a list", list);
    void *it = NULL;
    struct fy_node *e;
    for (int i = 0; (e = fy_node_sequence_iterate(seq, &it)) != NULL; i++) {
        if (!fy_node_is_mapping(e))
            return kc_err(k, e, KA_EINVAL, "%s[%d]: must be a mapping", list, i);
        char *nm;
        char where[64];
        snprintf(where, sizeof where, "%s[%d]", list, i);
        int rc = get_str(k, e, "name", where, &nm);
        if (rc)
            return rc;
        bool match = !strcmp(nm ? nm : "", name);
        free(nm);
        if (!match)
            continue;
        struct fy_node *v = lookup(e, inner, &kn);
        if (v && !fy_node_is_mapping(v))
            return kc_err(k, v, KA_EINVAL, "%s.%s: must be a mapping", where, inner);
        *out = v; /* NULL: an entry without its inner map is empty */
        return 1;
    }
    return KA_OK;
}

static int read_cluster(struct kc *k, struct fy_node *cl, const char *cname)
{
    struct ka_webhook_config *c = k->cfg;
    char *server = NULL;
    int rc = get_str(k, cl, "server", "cluster", &server);
    if (!rc)
        rc = get_path(k, cl, "certificate-authority", "cluster", &c->ca_file);
    if (!rc)
        rc = get_data(k, cl, "certificate-authority-data", "cluster", &c->ca_data,
                      &c->ca_data_len);
    if (!rc)
        rc = get_bool(k, cl, "insecure-skip-tls-verify", "cluster", &c->insecure);
    if (!rc)
        rc = get_str(k, cl, "tls-server-name", "cluster", &c->tls_server_name);
    if (rc)
        goto out;
    if (!server || !server[0]) {
        rc = kc_err(k, cl, KA_EINVAL, "cluster \"%s\": no server defined", cname);
        goto out;
    }
    k->cfg->url = server; /* turned into the request URL once the user is read */
    server = NULL;
out:
    free(server);
    return rc;
}

/* A token file's contents with surrounding whitespace removed (client-go's TrimSpace). */
static int read_token_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return KA_EIO;
    char *buf = malloc(KA_KUBECONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, KA_KUBECONFIG_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf)
        return KA_ENOMEM;
    if (err || n > KA_KUBECONFIG_MAX) {
        free(buf);
        return err ? KA_EIO : KA_ETOOBIG;
    }
    size_t a = 0;
    while (n > 0 && strchr(" \t\r\n\v\f", buf[n - 1]))
        n--;
    while (a < n && strchr(" \t\r\n\v\f", buf[a]))
        a++;
    memmove(buf, buf + a, n - a);
    buf[n - a] = 0;
    *out = buf;
    return KA_OK;
}

static int read_user(struct kc *k, struct fy_node *u)
{
    struct ka_webhook_config *c = k->cfg;
    struct fy_node *kn;
    char *tf = NULL;
    int rc = get_path(k, u, "client-certificate", "user", &c->cert_file);
    if (!rc)
        rc = get_data(k, u, "client-certificate-data", "user", &c->cert_data, &c->cert_data_len);
    if (!rc)
        rc = get_path(k, u, "client-key", "user", &c->key_file);
    if (!rc)
        rc = get_data(k, u, "client-key-data", "user", &c->key_data, &c->key_data_len);
    if (!rc)
        rc = get_str(k, u, "token", "user", &c->token);
    if (!rc)
        rc = get_path(k, u, "tokenFile", "user", &tf);
    if (!rc)
        rc = get_str(k, u, "username", "user", &c->username);
    if (!rc)
        rc = get_str(k, u, "password", "user", &c->password);
    if (rc)
        goto out;
    static const char *const unsupported[] = {"exec", "auth-provider", "as"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        struct fy_node *v = lookup(u, unsupported[i], &kn);
        if (v) {
            rc = kc_err(k, kn, KA_EINVAL, "user.%s: not supported by kaudit", unsupported[i]);
            goto out;
        }
    }
    if (tf) {
        rc = read_token_file(tf, &c->token);
        if (rc) {
            rc = kc_err(k, lookup(u, "tokenFile", &kn), rc, "user.tokenFile: %s: %s", tf,
                        rc == KA_ETOOBIG ? "too large" : "cannot be read");
            goto out;
        }
    }
    if (c->token && c->token[0] && (c->username || c->password))
        rc = kc_err(k, u, KA_EINVAL,
                    "user: username/password or bearer token may be set, but not both");
    if (c->token && !c->token[0]) {
        free(c->token);
        c->token = NULL;
    }
out:
    free(tf);
    return rc;
}

/* current-context -> context -> cluster and user names; unnamed entries without one. */
static int select_entries(struct kc *k, struct fy_node *root)
{
    struct fy_node *kn, *ctx = NULL, *cl = NULL, *u = NULL;
    char *cur = NULL, *cname = NULL, *uname = NULL;
    int rc = get_str(k, root, "current-context", "config", &cur);
    if (!rc && cur && cur[0]) {
        rc = find_named(k, root, "contexts", "context", cur, &ctx);
        if (rc == 0)
            rc = kc_err(k, lookup(root, "current-context", &kn), KA_EINVAL,
                        "current-context: context \"%s\" not found", cur);
        rc = rc < 0 ? rc : KA_OK;
        if (!rc)
            rc = get_str(k, ctx, "cluster", "context", &cname);
        if (!rc)
            rc = get_str(k, ctx, "user", "context", &uname);
    }
    if (rc)
        goto out;
    const char *cn = cname ? cname : "";
    rc = find_named(k, root, "clusters", "cluster", cn, &cl);
    if (rc == 0)
        rc = kc_err(k, ctx ? ctx : root, KA_EINVAL, "cluster \"%s\" not found", cn);
    rc = rc < 0 ? rc : read_cluster(k, cl, cn);
    if (rc)
        goto out;
    const char *un = uname ? uname : "";
    rc = find_named(k, root, "users", "user", un, &u);
    if (rc == 0 && un[0])
        rc = kc_err(k, ctx, KA_EINVAL, "user \"%s\" not found", un);
    rc = rc < 0 ? rc : read_user(k, u);
out:
    free(cur);
    free(cname);
    free(uname);
    return rc;
}

/* Replaces the server value in cfg->url by the request URL. */
static int finish_url(struct kc *k, struct fy_node *root)
{
    struct ka_webhook_config *c = k->cfg;
    bool tls = c->ca_file || c->ca_data || c->cert_file || c->cert_data || c->insecure;
    struct ka_buf b;
    ka_buf_init(&b, 1u << 16);
    int rc = ka_webhook_url(c->url, tls, &b);
    if (!rc && !ka_buf_cstr(&b))
        rc = KA_ENOMEM;
    if (rc) {
        ka_buf_free(&b);
        return rc == KA_ENOMEM ? rc
                               : kc_err(k, root, KA_EINVAL, "cluster.server: bad URL \"%s\"",
                                        c->url);
    }
    free(c->url);
    c->url = b.p; /* NUL-terminated by ka_buf_cstr */
    return KA_OK;
}

static int yaml_errors(struct kc *k, struct fy_diag *fd)
{
    if (ka__yaml_report_errors(fd, k->name, k->d) == 0)
        ka_diag_add(k->d, KA_SEV_ERROR, "%s:1:1: YAML syntax error", k->name);
    return KA_ESYNTAX;
}

int ka_kubeconfig_load(const char *buf, size_t n, const char *name, const char *dir,
                       struct ka_diag *d, struct ka_webhook_config **out)
{
    struct kc k = {.name = name ? name : "kubeconfig", .dir = dir, .d = d};
    if (n > KA_KUBECONFIG_MAX)
        return kc_err(&k, NULL, KA_ETOOBIG, "larger than %u bytes", KA_KUBECONFIG_MAX);
    int urc = ka__yaml_check_utf8(k.name, buf, n, d);
    if (urc)
        return urc;
    struct fy_diag *fd = ka__yaml_diag_new();
    if (!fd)
        return KA_ENOMEM;
    struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = fd};
    struct fy_document *doc = fy_document_build_from_string(&pc, buf, n);
    int rc = KA_OK;
    k.cfg = calloc(1, sizeof *k.cfg);
    if (!k.cfg)
        rc = KA_ENOMEM;
    else if (!doc)
        rc = yaml_errors(&k, fd);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    if (!rc && (!root || !fy_node_is_mapping(root)))
        rc = kc_err(&k, root, KA_EINVAL, "a kubeconfig must be a mapping");
    if (!rc)
        rc = select_entries(&k, root);
    if (!rc)
        rc = finish_url(&k, root);
    fy_document_destroy(doc);
    fy_diag_destroy(fd);
    if (rc) {
        ka_webhook_config_free(k.cfg);
        return rc;
    }
    *out = k.cfg;
    return KA_OK;
}

int ka_kubeconfig_load_file(const char *path, struct ka_diag *d, struct ka_webhook_config **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        ka_diag_add(d, KA_SEV_ERROR, "%s: %s", path, strerror(e));
        return e == ENOENT ? KA_ENOENT : KA_EIO;
    }
    char *buf = malloc(KA_KUBECONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, KA_KUBECONFIG_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    char *dir = strdup(path);
    int rc = !buf || !dir ? KA_ENOMEM : err ? KA_EIO : n > KA_KUBECONFIG_MAX ? KA_ETOOBIG : 0;
    if (rc && rc != KA_ENOMEM)
        ka_diag_add(d, KA_SEV_ERROR, "%s: %s", path,
                    rc == KA_EIO ? strerror(errno) : "kubeconfig too large");
    if (!rc) {
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = 0;
        rc = ka_kubeconfig_load(buf, n, path, slash ? dir : ".", d, out);
    }
    free(buf);
    free(dir);
    return rc;
}

void ka_webhook_config_free(struct ka_webhook_config *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->ca_file);
    free(c->ca_data);
    free(c->tls_server_name);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    free(c->key_data);
    free(c->token);
    free(c->username);
    free(c->password);
    free(c);
}

int ka_webhook_config_from_url(const char *server, struct ka_webhook_config **out)
{
    struct ka_buf b;
    ka_buf_init(&b, 1u << 16);
    int rc = ka_webhook_url(server, false, &b);
    if (!rc && !ka_buf_cstr(&b))
        rc = KA_ENOMEM;
    struct ka_webhook_config *c = rc ? NULL : calloc(1, sizeof *c);
    if (!rc && !c)
        rc = KA_ENOMEM;
    if (rc) {
        ka_buf_free(&b);
        return rc;
    }
    c->url = b.p;
    *out = c;
    return KA_OK;
}
