/*
 * fields_pod.c - container and pod-spec extractors: Falco's ka.req.pod.{containers,
 * initContainers,ephemeralContainers}.* families and deprecated ka.req.container.* singletons
 * (which read requestObject.spec only, as Falco does), and kaudit.pod.*, which read the pod spec
 * wherever the request carries one: a Pod, a workload template, a CronJob's job template, or the
 * body of a JSON patch (each add/replace op rebuilt as a small object of the resource's shape)
 * or a merge / strategic merge patch.
 */
#include <string.h>

#include "fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"

static const char *const k_kind_names[3] = {"containers", "initContainers",
                                            "ephemeralContainers"};

size_t ka__image_repo(const char *img, size_t n)
{
    const char *at = memchr(img, '@', n);
    if (at)
        n = (size_t)(at - img);
    size_t slash = 0;
    for (size_t i = 0; i < n; i++)
        if (img[i] == '/')
            slash = i + 1;
    const char *colon = memchr(img + slash, ':', n - slash);
    return colon ? (size_t)(colon - img) : n;
}

size_t ka__norm_path(const char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    bool abs = n && in[0] == '/';
    while (i < n) {
        while (i < n && in[i] == '/')
            i++;
        size_t s = i;
        while (i < n && in[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && in[s] == '.'))
            continue;
        if (len == 2 && in[s] == '.' && in[s + 1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the dropped segment */
            continue;
        }
        if (abs || o > 0)
            out[o++] = '/';
        memcpy(out + o, in + s, len);
        o += len;
    }
    if (o == 0 && abs)
        out[o++] = '/';
    out[o] = '\0';
    return o;
}

/* Emits the strings of array a joined by spaces (non-strings as their JSON text). */
static int emit_joined(struct ka_dctx *c, struct ka_raw a)
{
    struct ka_json_iter it;
    struct ka_raw v;
    if (!ka__is_arr(a))
        return KA_OK;
    char *b = ka__dctx_alloc(c, (size_t)a.n + 1);
    if (!b)
        return KA_ENOMEM;
    size_t o = 0;
    ka_json_iter_init(&it, a);
    while (ka_json_iter_elem(&it, &v)) {
        if (o)
            b[o++] = ' ';
        if (ka_json_type_of(v.p, v.n) == KA_JSON_STRING) {
            o += ka_str_decode(ka_str_from_raw(v.p, v.n), b + o);
        } else {
            size_t n = 0;
            char *t = ka__compact(c, v, &n);
            if (!t)
                return KA_ENOMEM;
            memcpy(b + o, t, n);
            o += n;
        }
    }
    return ka__dv_bytes(c, b, o);
}

/* The image repository: the @digest and a :tag after the last '/' removed (ports kept). */
static int emit_repo(struct ka_dctx *c, struct ka_raw img)
{
    if (ka_json_type_of(img.p, img.n) != KA_JSON_STRING)
        return KA_OK;
    struct ka_str s = ka_str_from_raw(img.p, img.n);
    char *b = ka__dctx_alloc(c, (size_t)s.n + 1);
    if (!b)
        return KA_ENOMEM;
    size_t n = ka_str_decode(s, b);
    return ka__dv_bytes(c, b, ka__image_repo(b, n));
}

static int emit_host_ports(struct ka_dctx *c, struct ka_raw ctr)
{
    struct ka_raw ports, p, hp;
    struct ka_json_iter it;
    if (!ka__get(ctr, "ports", &ports) || !ka__is_arr(ports))
        return KA_OK;
    ka_json_iter_init(&it, ports);
    while (ka_json_iter_elem(&it, &p)) {
        if (ka__get(p, "hostPort", &hp) && !ka__is_null(hp)) {
            int rc = ka__dv_json(c, hp);
            if (rc != KA_OK)
                return rc;
        }
    }
    return KA_OK;
}

static const char *sc_key(int attr)
{
    switch (attr) {
    case KA__CA_PRIV: return "securityContext.privileged";
    case KA__CA_APE: return "securityContext.allowPrivilegeEscalation";
    case KA__CA_ROFS: return "securityContext.readOnlyRootFilesystem";
    case KA__CA_RUN_USER:
    case KA__CA_EFF_USER: return "securityContext.runAsUser";
    case KA__CA_RUN_GROUP:
    case KA__CA_EFF_GROUP: return "securityContext.runAsGroup";
    case KA__CA_PROC_MOUNT: return "securityContext.procMount";
    case KA__CA_RUN_NONROOT: return "securityContext.runAsNonRoot";
    case KA__CA_ADD_CAPS: return "securityContext.capabilities.add";
    case KA__CA_NAME: return "name";
    default: return "image";
    }
}

/* Effective value: the container's, else the pod's (spec), else "0" (Falco) or nothing. */
static int emit_eff(struct ka_dctx *c, struct ka_raw ctr, struct ka_raw spec, const char *key,
                    bool dflt)
{
    struct ka_raw v;
    if (ka__getd(ctr, key, &v) && !ka__is_null(v))
        return ka__dv_json(c, v);
    if (ka__getd(spec, key, &v) && !ka__is_null(v))
        return ka__dv_json(c, v);
    return dflt ? ka__dv_cstr(c, "0") : KA_OK;
}

/* One attribute of one container. kaudit = the kaudit.pod.containers.* variant. */
static int emit_attr(struct ka_dctx *c, struct ka_raw ctr, struct ka_raw spec, int attr,
                     bool kaudit)
{
    struct ka_raw v;
    const char *key = sc_key(attr);
    switch (attr) {
    case KA__CA_REPO:
        return ka__get(ctr, "image", &v) ? emit_repo(c, v) : KA_OK;
    case KA__CA_COMMAND:
        return ka__get(ctr, "command", &v) ? emit_joined(c, v) : KA_OK;
    case KA__CA_ARGS:
        return ka__get(ctr, "args", &v) ? emit_joined(c, v) : KA_OK;
    case KA__CA_HOST_PORT:
        return emit_host_ports(c, ctr);
    case KA__CA_EFF_USER:
    case KA__CA_EFF_GROUP:
        return emit_eff(c, ctr, spec, key, true);
    case KA__CA_RUN_USER:
    case KA__CA_RUN_NONROOT:
        if (kaudit)
            return emit_eff(c, ctr, spec, key, false);
        break;
    case KA__CA_ADD_CAPS: {
        if (!ka__getd(ctr, key, &v) || !ka__is_arr(v))
            return KA_OK;
        struct ka_json_iter it;
        struct ka_raw e;
        ka_json_iter_init(&it, v);
        while (ka_json_iter_elem(&it, &e)) {
            int rc = ka__dv_json(c, e);
            if (rc != KA_OK)
                return rc;
        }
        return KA_OK;
    }
    default:
        break;
    }
    if (!ka__getd(ctr, key, &v) || (kaudit && ka__is_null(v)))
        return KA_OK;
    return ka__dv_json(c, v);
}

/* Every container of one kind of spec (only element idx when idx >= 0). */
static int each_ctr(struct ka_dctx *c, struct ka_raw spec, int kind, long idx, int attr,
                    bool kaudit)
{
    struct ka_raw arr, ctr;
    struct ka_json_iter it;
    long i = 0;
    if (!ka__get(spec, k_kind_names[kind], &arr) || !ka__is_arr(arr))
        return KA_OK;
    ka_json_iter_init(&it, arr);
    while (ka_json_iter_elem(&it, &ctr)) {
        if (idx < 0 || i == idx) {
            int rc = emit_attr(c, ctr, spec, attr, kaudit);
            if (rc != KA_OK || idx >= 0)
                return rc;
        }
        i++;
    }
    return KA_OK;
}

int ka__x_ctr(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw spec;
    if (!ka__get(c->ev->requestObject, "spec", &spec))
        return KA_OK;
    return each_ctr(c, spec, d->p / 32, f->has_arg ? f->index : -1, d->p % 32, false);
}

int ka__x_ctr1(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    struct ka_raw ctrs, ctr, v;
    (void)f;
    if (!ka__getd(c->ev->requestObject, "spec.containers", &ctrs) || !ka__is_arr(ctrs))
        return KA_OK;
    if (d->p != KA__CA_PRIV) {
        if (!ka__at(ctrs, 0, &ctr) || !ka__get(ctr, "image", &v))
            return KA_OK;
        return d->p == KA__CA_REPO ? emit_repo(c, v) : ka__dv_json(c, v);
    }
    struct ka_json_iter it;
    ka_json_iter_init(&it, ctrs);
    while (ka_json_iter_elem(&it, &ctr))
        if (ka__getd(ctr, "securityContext.privileged", &v) && v.n >= 4 &&
            memcmp(v.p, "true", 4) == 0)
            return ka__dv_cstr(c, "true");
    return ka__dv_cstr(c, "false");
}

/* ---- locating pod specs ---- */

enum shape { SH_NONE, SH_POD, SH_TEMPLATE, SH_CRONJOB, SH_PODTEMPLATE };

static enum shape shape_of(const struct ka_event *ev)
{
    struct ka_str r = ev->objectRef.resource, sub = ev->objectRef.subresource;
    bool nosub = !sub.set || sub.n == 0;
    if (ka_str_eq(r, "pods", 4))
        return (nosub || ka_str_eq(sub, "ephemeralcontainers", 19)) ? SH_POD : SH_NONE;
    if (!nosub)
        return SH_NONE;
    static const char *const tmpl[] = {"deployments", "daemonsets", "statefulsets", "replicasets",
                                       "jobs", "replicationcontrollers"};
    for (size_t i = 0; i < sizeof tmpl / sizeof tmpl[0]; i++)
        if (ka_str_eq(r, tmpl[i], strlen(tmpl[i])))
            return SH_TEMPLATE;
    if (ka_str_eq(r, "cronjobs", 8))
        return SH_CRONJOB;
    if (ka_str_eq(r, "podtemplates", 12))
        return SH_PODTEMPLATE;
    return SH_NONE;
}

static void add_spec(struct ka_dctx *c, struct ka_raw obj, enum shape sh, enum ka__spec_src src)
{
    static const char *const base[] = {NULL, "", "spec.template", "spec.jobTemplate.spec.template",
                                       "template"};
    struct ka_raw t = obj, spec = {0}, meta = {0};
    if (sh == SH_NONE || c->n_specs >= KA__MAX_SPECS)
        return;
    if (*base[sh] && !ka__getd(obj, base[sh], &t))
        return;
    if (!ka__get(t, "spec", &spec) || !ka__is_obj(spec))
        spec = (struct ka_raw){0};
    if (!ka__get(t, "metadata", &meta) || !ka__is_obj(meta))
        meta = (struct ka_raw){0};
    if (!spec.p && !meta.p)
        return;
    struct ka__podspec *ps = &c->specs[c->n_specs++];
    ps->spec = spec;
    ps->meta = meta;
    ps->src = src != KA__SRC_POD ? src
              : sh == SH_CRONJOB ? KA__SRC_CRONJOB
              : sh == SH_POD     ? KA__SRC_POD
                                 : KA__SRC_TEMPLATE;
}

static bool is_index_token(const char *t, size_t n)
{
    if (n == 1 && t[0] == '-')
        return true;
    for (size_t i = 0; i < n; i++)
        if (t[i] < '0' || t[i] > '9')
            return false;
    return n > 0;
}

/* Writes a JSON Pointer token (decoded ~1 ~0) as an escaped JSON key. Returns bytes written. */
static size_t put_key(const char *t, size_t n, char *o)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    o[w++] = '{';
    o[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch == '~' && i + 1 < n && (t[i + 1] == '0' || t[i + 1] == '1'))
            ch = t[++i] == '0' ? '~' : '/';
        if (ch == '"' || ch == '\\') {
            o[w++] = '\\';
            o[w++] = (char)ch;
        } else if (ch < 0x20) {
            memcpy(o + w, "\\u00", 4);
            o[w + 4] = hex[ch >> 4];
            o[w + 5] = hex[ch & 15];
            w += 6;
        } else {
            o[w++] = (char)ch;
        }
    }
    o[w++] = '"';
    o[w++] = ':';
    return w;
}

#define KA__MAX_PTR_TOKENS 32

/* Rebuilds one add/replace op as the object it would produce ({"spec":{...}}) in the arena. */
static int synth_op(struct ka_dctx *c, struct ka_raw op, struct ka_raw *out)
{
    struct ka_str kind = ka__get_str(op, "op"), path = ka__get_str(op, "path");
    struct ka_raw val;
    out->p = NULL;
    if (!path.set || !ka__get(op, "value", &val) ||
        !(ka_str_eq(kind, "add", 3) || ka_str_eq(kind, "replace", 7)))
        return KA_OK;
    char *pt = ka__dctx_alloc(c, (size_t)path.n + 1);
    char *b = ka__dctx_alloc(c, (size_t)path.n * 6 + KA__MAX_PTR_TOKENS * 5 + val.n + 1);
    if (!pt || !b)
        return KA_ENOMEM;
    size_t pn = ka_str_decode(path, pt), o = 0, ntok = 0;
    char closes[KA__MAX_PTR_TOKENS];
    if (pn == 0 || pt[0] != '/')
        return KA_OK;
    for (size_t i = 1; i <= pn; ntok++) {
        size_t s = i;
        while (i < pn && pt[i] != '/')
            i++;
        if (ntok == KA__MAX_PTR_TOKENS)
            return KA_OK;
        if (is_index_token(pt + s, i - s)) {
            b[o++] = '[';
            closes[ntok] = ']';
        } else {
            o += put_key(pt + s, i - s, b + o);
            closes[ntok] = '}';
        }
        i++;
    }
    memcpy(b + o, val.p, val.n);
    o += val.n;
    while (ntok)
        b[o++] = closes[--ntok];
    out->p = b;
    out->n = (uint32_t)o;
    return KA_OK;
}

static int locate_specs(struct ka_dctx *c)
{
    const struct ka_event *ev = c->ev;
    struct ka_raw ro = ev->requestObject;
    c->n_specs = 0;
    c->specs_gen = c->gen;
    enum shape sh = shape_of(ev);
    if (sh == SH_NONE || !ro.p)
        return KA_OK;
    bool patch = ka_str_eq(ev->verb, "patch", 5);
    if (ka__is_arr(ro)) {
        struct ka_json_iter it;
        struct ka_raw op, obj;
        ka_json_iter_init(&it, ro);
        while (ka_json_iter_elem(&it, &op)) {
            int rc = synth_op(c, op, &obj);
            if (rc != KA_OK)
                return rc;
            if (obj.p)
                add_spec(c, obj, sh, KA__SRC_JSONPATCH);
        }
        return KA_OK;
    }
    add_spec(c, ro, sh, patch ? KA__SRC_MERGEPATCH : KA__SRC_POD);
    return KA_OK;
}

static int ensure_specs(struct ka_dctx *c)
{
    return c->specs_gen == c->gen ? KA_OK : locate_specs(c);
}

/* The attribute of container number idx, counting every container of every kind of every
   located spec in order (containers, initContainers, ephemeralContainers). */
static int kpod_ctr_at(struct ka_dctx *c, long idx, int attr)
{
    long i = 0;
    for (size_t s = 0; s < c->n_specs; s++)
        for (int k = 0; k < 3; k++) {
            struct ka_raw arr, ctr;
            struct ka_json_iter it;
            if (!ka__get(c->specs[s].spec, k_kind_names[k], &arr) || !ka__is_arr(arr))
                continue;
            ka_json_iter_init(&it, arr);
            while (ka_json_iter_elem(&it, &ctr))
                if (i++ == idx)
                    return emit_attr(c, ctr, c->specs[s].spec, attr, true);
        }
    return KA_OK;
}

int ka__x_kpod_ctr(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    int rc = ensure_specs(c);
    if (rc == KA_OK && f->has_arg)
        return kpod_ctr_at(c, f->index, d->p);
    for (size_t i = 0; rc == KA_OK && i < c->n_specs; i++)
        for (int k = 0; rc == KA_OK && k < 3; k++)
            rc = each_ctr(c, c->specs[i].spec, k, -1, d->p, true);
    return rc;
}

/* ---- kaudit.pod.* ---- */

static int emit_first(struct ka_dctx *c, const char *key)
{
    struct ka_raw v;
    for (size_t i = 0; i < c->n_specs; i++)
        if (ka__getd(c->specs[i].spec, key, &v) && !ka__is_null(v))
            return ka__dv_json(c, v);
    return KA_OK;
}

static int emit_hostpaths(struct ka_dctx *c, struct ka_raw spec)
{
    struct ka_raw vols, v, p;
    struct ka_json_iter it;
    if (!ka__get(spec, "volumes", &vols) || !ka__is_arr(vols))
        return KA_OK;
    ka_json_iter_init(&it, vols);
    while (ka_json_iter_elem(&it, &v)) {
        if (!ka__getd(v, "hostPath.path", &p) || ka_json_type_of(p.p, p.n) != KA_JSON_STRING)
            continue;
        struct ka_str s = ka_str_from_raw(p.p, p.n);
        char *b = ka__dctx_alloc(c, (size_t)s.n * 2 + 2);
        if (!b)
            return KA_ENOMEM;
        size_t n = ka_str_decode(s, b);
        char *o = b + n + 1;
        int rc = ka__dv_bytes(c, o, ka__norm_path(b, n, o));
        if (rc != KA_OK)
            return rc;
    }
    return KA_OK;
}

/* Legacy annotation value -> profile type. */
static int emit_profile_annot(struct ka_dctx *c, struct ka_str v)
{
    if (ka_str_eq(v, "unconfined", 10))
        return ka__dv_cstr(c, "Unconfined");
    if (ka_str_eq(v, "runtime/default", 15) || ka_str_eq(v, "docker/default", 14))
        return ka__dv_cstr(c, "RuntimeDefault");
    if (!v.esc && v.n >= 10 && memcmp(v.p, "localhost/", 10) == 0)
        return ka__dv_cstr(c, "Localhost");
    return ka__dv_str(c, v);
}

/* Profile types of one spec: pod and container securityContexts, then annotations. */
static int emit_profiles(struct ka_dctx *c, const struct ka__podspec *ps, bool seccomp)
{
    const char *sc = seccomp ? "securityContext.seccompProfile.type"
                             : "securityContext.appArmorProfile.type";
    struct ka_raw v, arr, ctr, ann;
    int rc = KA_OK;
    if (ka__getd(ps->spec, sc, &v))
        rc = ka__dv_json(c, v);
    for (int k = 0; rc == KA_OK && k < 3; k++) {
        struct ka_json_iter it;
        if (!ka__get(ps->spec, k_kind_names[k], &arr) || !ka__is_arr(arr))
            continue;
        ka_json_iter_init(&it, arr);
        while (rc == KA_OK && ka_json_iter_elem(&it, &ctr))
            if (ka__getd(ctr, sc, &v))
                rc = ka__dv_json(c, v);
    }
    if (rc != KA_OK || !ka__get(ps->meta, "annotations", &ann) || !ka__is_obj(ann))
        return rc;
    const char *pfx = seccomp ? "container.seccomp.security.alpha.kubernetes.io/"
                              : "container.apparmor.security.beta.kubernetes.io/";
    size_t pn = strlen(pfx);
    struct ka_json_iter it;
    struct ka_str k;
    ka_json_iter_init(&it, ann);
    while (rc == KA_OK && ka_json_iter_member(&it, &k, &v)) {
        bool hit = (!k.esc && k.n > pn && memcmp(k.p, pfx, pn) == 0) ||
                   (seccomp && ka_str_eq(k, "seccomp.security.alpha.kubernetes.io/pod", 40));
        if (hit && ka_json_type_of(v.p, v.n) == KA_JSON_STRING)
            rc = emit_profile_annot(c, ka_str_from_raw(v.p, v.n));
    }
    return rc;
}

int ka__x_kpod(struct ka_dctx *c, const struct ka_dfield *f, const struct ka__dfdef *d)
{
    static const char *const src_names[] = {"pod", "template", "cronjob", "jsonpatch",
                                            "mergepatch"};
    int rc = ensure_specs(c);
    (void)f;
    if (rc != KA_OK)
        return rc;
    switch (d->p) {
    case KA__P_HOSTNET: return emit_first(c, "hostNetwork");
    case KA__P_HOSTPID: return emit_first(c, "hostPID");
    case KA__P_HOSTIPC: return emit_first(c, "hostIPC");
    case KA__P_RUN_USER: return emit_first(c, "securityContext.runAsUser");
    case KA__P_SOURCE:
        return c->n_specs ? ka__dv_cstr(c, src_names[c->specs[0].src]) : KA_OK;
    default:
        break;
    }
    for (size_t i = 0; rc == KA_OK && i < c->n_specs; i++)
        rc = d->p == KA__P_HOSTPATH ? emit_hostpaths(c, c->specs[i].spec)
                                    : emit_profiles(c, &c->specs[i], d->p == KA__P_SECCOMP);
    return rc;
}
