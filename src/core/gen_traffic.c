/*
 * gen_traffic.c - normal cluster traffic: a weighted table of background requests (kubelet
 * leases and status, controller watches, lists and writes, monitoring, discovery, failed
 * logins) and scripted human/CI sessions (kubectl get/describe/logs/apply/delete, CI image
 * patches, impersonation). Levels follow from the bodies a request logs (ka__policy_level).
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

static const struct ka__deploy *pick_dep(struct ka_gen *g, struct ka__rng *rng, uint32_t *idx)
{
    *idx = ka__rng_below(rng, g->cl.n_deps);
    return &g->cl.deps[*idx];
}

static void pod_name(const struct ka__deploy *d, struct ka__rng *rng, char *out, size_t n)
{
    static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
    char s[6];
    for (int i = 0; i < 5; i++)
        s[i] = al[ka__rng_below(rng, sizeof al - 1)];
    s[5] = 0;
    snprintf(out, n, "%s-%s-%s", d->name, d->rs_hash, s);
}

/* A client-go watch query; returns the stream duration in µs. */
static int64_t watch_query(struct ka_gen *g, struct ka__rng *rng, const char *fsel, char *q,
                           size_t n)
{
    unsigned secs = 300 + ka__rng_below(rng, 300);
    snprintf(q, n, "allowWatchBookmarks=true%s%s&resourceVersion=%llu&timeout=%um%us&"
             "timeoutSeconds=%u&watch=true",
             fsel ? "&fieldSelector=" : "", fsel ? fsel : "",
             (unsigned long long)(g->rv - ka__rng_below(rng, 5000)), secs / 60, secs % 60, secs);
    return (int64_t)secs * 1000000 + ka__rng_range(rng, 0, 999999);
}

static int64_t lat_read(struct ka__rng *rng)
{
    return 300 + ka__rng_exp(rng, 2500);
}

static int64_t lat_write(struct ka__rng *rng)
{
    return 1500 + ka__rng_exp(rng, 6000);
}

/* ---- background templates ---- */

static void t_node_lease(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t n = g->lease_rr++ % g->cl.n_nodes;
    r->who = &g->cl.nodes[n];
    ka__req_res(r, R_LEASES, "kube-node-lease", V_UPDATE, g->cl.node_name[n], NULL, "timeout=10s");
    memcpy(r->ouid, g->cl.node_uid[n], 37);
    r->orv = g->rv++;
    if (ka__rng_permil(rng, 4)) {
        r->status = ST_CONFLICT;
        r->code = 409;
    }
    ka__req_short(g, r, lat_write(rng));
}

static void t_leader(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const int who[] = {CTL_KCM, CTL_SCHED, CTL_CERTMGR, CTL_INGRESS, CTL_APISERVER};
    static const char *const lease[] = {"kube-controller-manager", "kube-scheduler",
                                        "cert-manager-controller", "ingress-nginx-leader",
                                        "apiserver-x3kq7hdl3cqvbcz2p5nqgzrqfm"};
    static const char *const ns[] = {"kube-system", "kube-system", "kube-system", "ingress-nginx",
                                     "kube-system"};
    uint32_t i = ka__rng_below(rng, 5);
    bool upd = i == 4 || ka__rng_permil(rng, 500);
    r->who = &g->cl.ctl[who[i]];
    ka__req_res(r, R_LEASES, ns[i], upd ? V_UPDATE : V_GET, lease[i], NULL, "timeout=5s");
    if (upd) {
        struct ka__rng u = {0x1ea5e0u + i};
        ka__rng_uuid(&u, r->ouid);
        r->orv = g->rv++;
        if (i <= 1) /* the control plane's own leases are logged in full */
            r->body_req = r->body_resp = B_LEASE;
    }
    ka__req_short(g, r, upd ? lat_write(rng) : lat_read(rng));
}

static void t_node_get(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t n = ka__rng_below(rng, g->cl.n_nodes);
    r->who = &g->cl.nodes[n];
    ka__req_res(r, R_NODES, NULL, V_GET, g->cl.node_name[n], NULL,
                "resourceVersion=0&timeout=10s");
    ka__req_short(g, r, lat_read(rng));
}

static void t_node_status(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t n = g->status_rr++ % g->cl.n_nodes;
    r->who = &g->cl.nodes[n];
    ka__req_res(r, R_NODES, NULL, V_PATCH, g->cl.node_name[n], "status", "timeout=10s");
    r->body_req = B_NODE_STATUS;
    g->rv++;
    ka__req_short(g, r, lat_write(rng));
}

static void t_kubelet_watch(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di, n = ka__rng_below(rng, g->cl.n_nodes);
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    bool secret = ka__rng_permil(rng, 400);
    char fsel[128], q[320];
    if (secret)
        snprintf(fsel, sizeof fsel, "metadata.name%%3D%s-tls", d->name);
    else
        snprintf(fsel, sizeof fsel, "metadata.name%%3D%s",
                 ka__rng_permil(rng, 500) ? "kube-root-ca.crt" : d->name);
    int64_t dur = watch_query(g, rng, fsel, q, sizeof q);
    r->who = &g->cl.nodes[n];
    ka__req_res(r, secret ? R_SECRETS : R_CONFIGMAPS, d->ns, V_WATCH, NULL, NULL, q);
    ka__req_long(g, r, dur);
}

static void t_ctl_watch(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const int who[] = {CTL_RS, CTL_DEPLOY, CTL_ESLICE, CTL_COREDNS, CTL_INGRESS, CTL_GC,
                              CTL_PROM, CTL_NODELC};
    static const int res[] = {R_PODS, R_DEPLOYMENTS, R_ESLICES, R_SERVICES, R_SECRETS,
                              R_CONFIGMAPS, R_ENDPOINTS, R_NODES};
    uint32_t i = ka__rng_below(rng, 8);
    char q[320];
    int64_t dur = watch_query(g, rng, NULL, q, sizeof q);
    r->who = &g->cl.ctl[who[i]];
    ka__req_res(r, res[i], NULL, V_WATCH, NULL, NULL, q);
    ka__req_long(g, r, dur);
}

static void t_ctl_list(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const int who[] = {CTL_PROM, CTL_PROM, CTL_GC, CTL_ESLICE, CTL_COREDNS};
    static const int res[] = {R_PODS, R_NODES, R_REPLICASETS, R_SERVICES, R_NAMESPACES};
    uint32_t i = ka__rng_below(rng, 5);
    r->who = &g->cl.ctl[who[i]];
    ka__req_res(r, res[i], NULL, V_LIST, NULL, NULL,
                i == 0 ? "limit=500&resourceVersion=0" : "limit=500");
    ka__req_short(g, r, 2000 + ka__rng_exp(rng, res[i] == R_PODS ? 60000 : 8000));
}

static void t_eslice(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    bool eps = ka__rng_permil(rng, 250);
    char name[96];
    if (eps)
        snprintf(name, sizeof name, "%s", d->name);
    else
        snprintf(name, sizeof name, "%s-%c%c%c%c%c", d->name, 'a' + (int)(di % 26), 'k', 'q',
                 '0' + (int)(di % 10), 'x');
    r->who = &g->cl.ctl[eps ? CTL_ENDPOINT : CTL_ESLICE];
    r->a = di;
    ka__req_res(r, eps ? R_ENDPOINTS : R_ESLICES, d->ns, V_UPDATE, name, NULL, NULL);
    struct ka__rng u = {d->uid[0] * 7919u + di + (eps ? 1u : 0u)};
    ka__rng_uuid(&u, r->ouid);
    r->orv = g->rv++;
    r->body_req = eps ? B_ENDPOINTS : B_ESLICE;
    ka__req_short(g, r, lat_write(rng));
}

static void t_pod_status(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    char name[96];
    pod_name(d, rng, name, sizeof name);
    r->who = &g->cl.nodes[ka__rng_below(rng, g->cl.n_nodes)];
    r->a = di;
    ka__req_res(r, R_PODS, d->ns, V_PATCH, name, "status", NULL);
    r->body_req = B_POD_STATUS;
    r->body_resp = ka__rng_permil(rng, 450) ? B_POD : B_NONE;
    r->orv = g->rv++;
    ka__req_short(g, r, lat_write(rng));
}

static void t_pod_create(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    r->a = di;
    if (ka__rng_permil(rng, 500)) {
        r->who = &g->cl.ctl[CTL_RS];
        ka__req_res(r, R_PODS, d->ns, V_CREATE, NULL, NULL, NULL);
        r->body_req = B_POD;
        r->psa = strncmp(d->ns, "kube-", 5) == 0 ? 1 : 2;
        r->code = 201;
    } else {
        char name[96];
        pod_name(d, rng, name, sizeof name);
        r->who = &g->cl.ctl[CTL_SCHED];
        r->b = ka__rng_below(rng, g->cl.n_nodes);
        ka__req_res(r, R_PODS, d->ns, V_CREATE, name, "binding", NULL);
        r->body_req = B_BINDING;
        r->code = 201;
    }
    r->orv = g->rv++;
    ka__req_short(g, r, lat_write(rng));
}

static void t_kubelet_get(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di, k = ka__rng_below(rng, 3);
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    char name[96];
    r->who = &g->cl.nodes[ka__rng_below(rng, g->cl.n_nodes)];
    if (k == 0) {
        pod_name(d, rng, name, sizeof name);
        ka__req_res(r, R_PODS, d->ns, V_GET, name, NULL, NULL);
    } else {
        snprintf(name, sizeof name, "%s%s", d->name, k == 1 ? "-config" : "-tls");
        ka__req_res(r, k == 1 ? R_CONFIGMAPS : R_SECRETS, d->ns, V_GET, name, NULL, NULL);
    }
    if (ka__rng_permil(rng, 30)) {
        r->status = ST_NOTFOUND;
        r->code = 404;
    }
    ka__req_short(g, r, lat_read(rng));
}

static void t_event(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    char name[128], pn[96];
    pod_name(d, rng, pn, sizeof pn);
    snprintf(name, sizeof name, "%s.%016llx", pn, (unsigned long long)(ka__rng_next(rng) >> 4));
    r->who = ka__rng_permil(rng, 600) ? &g->cl.nodes[ka__rng_below(rng, g->cl.n_nodes)]
                                      : &g->cl.ctl[CTL_SCHED];
    ka__req_res(r, R_EVENTS, d->ns, V_CREATE, name, NULL, NULL);
    r->code = 201;
    ka__req_short(g, r, lat_write(rng));
}

static void t_token(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    r->who = &g->cl.nodes[ka__rng_below(rng, g->cl.n_nodes)];
    ka__req_res(r, R_SERVICEACCOUNTS, d->ns, V_CREATE, d->name, "token", NULL);
    r->code = 201;
    ka__req_short(g, r, lat_write(rng));
}

static void t_nonres(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const char *const paths[] = {"/metrics", "/readyz?verbose", "/livez", "/healthz",
                                        "/apis?timeout=32s", "/api?timeout=32s",
                                        "/apis/apps/v1?timeout=32s", "/version?timeout=32s",
                                        "/openapi/v2?timeout=32s"};
    uint32_t i = ka__rng_below(rng, 9);
    r->who = i < 4 ? &g->cl.ctl[CTL_PROM] : &g->cl.ctl[CTL_GC + ka__rng_below(rng, 2)];
    if (i >= 7)
        r->who = &g->cl.humans[ka__rng_below(rng, g->cl.n_humans)];
    snprintf(r->uri, sizeof r->uri, "%s", paths[i]);
    r->verb = V_GET;
    r->reason = r->who->kind == PK_HUMAN ? NULL
                : "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole "
                  "\"system:discovery\" to Group \"system:authenticated\"";
    ka__req_short(g, r, lat_read(rng) + (i == 8 ? 40000 : 0));
}

void ka__traffic_authn_fail(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const char *const ips[] = {"198.51.100.23", "203.0.113.77", "10.8.0.34", "192.0.2.144"};
    static const char *const uas[] = {"kubectl/v1.29.6 (darwin/arm64) kubernetes/062798d",
                                      "python-requests/2.31.0", "Go-http-client/1.1",
                                      "curl/8.5.0"};
    uint32_t i = ka__rng_below(rng, 4);
    r->who = &g->cl.failed;
    r->ip = ips[i];
    r->ua = uas[i];
    if (ka__rng_permil(rng, 500)) {
        ka__req_res(r, R_PODS, "default", V_LIST, NULL, NULL, "limit=500");
    } else {
        snprintf(r->uri, sizeof r->uri, "/api?timeout=32s");
        r->verb = V_GET;
    }
    r->status = ST_UNAUTH;
    r->code = 401;
    r->authz = AZ_NONE;
    r->shape = SH_AUTHN;
    r->t[1] = r->t[2] = r->t[0] + 150 + ka__rng_below(rng, 900);
}

static void t_human_read(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    r->who = &g->cl.humans[ka__rng_below(rng, g->cl.n_humans)];
    if (ka__rng_permil(rng, 500))
        ka__req_res(r, R_PODS, d->ns, V_LIST, NULL, NULL, "limit=500");
    else
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_GET, d->name, NULL, NULL);
    ka__req_short(g, r, lat_read(rng) + 3000);
}

static void t_deploy_status(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    r->who = &g->cl.ctl[CTL_DEPLOY];
    r->a = di;
    ka__req_res(r, R_DEPLOYMENTS, d->ns, V_UPDATE, d->name, "status", NULL);
    memcpy(r->ouid, d->uid, 37);
    r->orv = g->rv++;
    r->body_req = r->body_resp = B_DEPLOYMENT;
    ka__req_short(g, r, lat_write(rng));
}

/* An application or a person reading something RBAC does not grant: an isolated 403. */
static void t_forbidden(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    static const int res[] = {R_SECRETS, R_NODES, R_CONFIGMAPS, R_PODS};
    uint32_t i = ka__rng_below(rng, 4);
    r->who = ka__rng_permil(rng, 500) ? &g->cl.humans[1 + ka__rng_below(rng, 2)]
                                      : &g->cl.ci[0];
    ka__req_res(r, res[i], ka__ns_names[ka__rng_below(rng, KA__N_NS)], V_LIST, NULL, NULL,
                "limit=500");
    r->authz = AZ_FORBID;
    r->status = ST_FORBIDDEN;
    r->code = 403;
    ka__req_short(g, r, lat_read(rng));
}

/* The garbage collector removing dependents of deleted owners. */
static void t_gc_delete(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t di;
    const struct ka__deploy *d = pick_dep(g, rng, &di);
    char name[96];
    pod_name(d, rng, name, sizeof name);
    r->who = &g->cl.ctl[CTL_GC];
    bool rs = ka__rng_permil(rng, 300);
    if (rs)
        snprintf(name, sizeof name, "%s-%c%s", d->name, 'b' + (int)ka__rng_below(rng, 20),
                 d->rs_hash + 1);
    ka__req_res(r, rs ? R_REPLICASETS : R_PODS, d->ns, V_DELETE, name, NULL, NULL);
    r->body_req = B_DELETE;
    r->status = rs ? ST_SUCCESS : ST_OK;
    r->orv = g->rv++;
    ka__req_short(g, r, lat_write(rng));
}

typedef void (*tmpl_fn)(struct ka_gen *, struct ka__req *, struct ka__rng *);

static const struct {
    uint32_t weight; /* per thousand requests */
    tmpl_fn fn;
} bg_table[] = {
    {250, t_node_lease}, {60, t_leader},       {40, t_node_get},   {40, t_node_status},
    {60, t_kubelet_watch}, {20, t_ctl_watch},  {30, t_ctl_list},   {50, t_eslice},
    {45, t_pod_status},  {25, t_pod_create},   {130, t_kubelet_get}, {60, t_event},
    {10, t_token},       {60, t_nonres},       {4, ka__traffic_authn_fail},
    {100, t_human_read}, {16, t_deploy_status}, {12, t_forbidden}, {12, t_gc_delete},
};

void ka__traffic_background(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t total = 0;
    for (size_t i = 0; i < sizeof bg_table / sizeof bg_table[0]; i++)
        total += bg_table[i].weight;
    uint32_t x = ka__rng_below(rng, total);
    for (size_t i = 0; i < sizeof bg_table / sizeof bg_table[0]; i++) {
        if (x < bg_table[i].weight) {
            bg_table[i].fn(g, r, rng);
            return;
        }
        x -= bg_table[i].weight;
    }
}

void ka__traffic_small(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    t_node_lease(g, r, rng);
}

/* ---- human and CI sessions ---- */

enum { S_INSPECT, S_DEPLOY, S_CI_IMAGE, S_CONFIG, S_IMPERSONATE, S_COUNT };

void ka__session_start_normal(struct ka_gen *g, struct ka__session *s, struct ka__rng *rng)
{
    static const uint32_t w[S_COUNT] = {40, 15, 20, 15, 10};
    uint32_t x = ka__rng_below(rng, 100), i = 0;
    while (i + 1 < S_COUNT && x >= w[i])
        x -= w[i++];
    s->script = (uint8_t)i;
    s->a = ka__rng_below(rng, g->cl.n_deps);
    if (i == S_CI_IMAGE)
        s->who = &g->cl.ci[ka__rng_below(rng, g->cl.n_ci)];
    else if (i == S_IMPERSONATE) {
        s->who = &g->cl.humans[0];
        s->imp = &g->cl.imps[ka__rng_below(rng, 2)];
    } else
        s->who = &g->cl.humans[ka__rng_below(rng, g->cl.n_humans)];
}

static int64_t think(struct ka__rng *rng)
{
    return 400000 + ka__rng_exp(rng, 2500000);
}

static int64_t step_inspect(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                            struct ka__rng *rng)
{
    const struct ka__deploy *d = &g->cl.deps[s->a];
    char pn[96], q[400];
    struct ka__rng prng = {s->seed};
    pod_name(d, &prng, pn, sizeof pn);
    switch (s->step) {
    case 0:
        ka__req_res(r, R_PODS, d->ns, V_LIST, NULL, NULL, "limit=500");
        break;
    case 1:
        ka__req_res(r, R_PODS, d->ns, V_GET, pn, NULL, NULL);
        break;
    case 2:
        snprintf(q, sizeof q, "fieldSelector=involvedObject.name%%3D%s%%2CinvolvedObject."
                 "namespace%%3D%s%%2CinvolvedObject.kind%%3DPod&limit=500", pn, d->ns);
        ka__req_res(r, R_EVENTS, d->ns, V_LIST, NULL, NULL, q);
        r->res = R_EVENTS;
        break;
    case 3: {
        bool follow = ka__rng_permil(rng, 500);
        snprintf(q, sizeof q, "container=%s%s&tailLines=%u", d->name, follow ? "&follow=true" : "",
                 50u * (1 + ka__rng_below(rng, 4)));
        ka__req_res(r, R_PODS, d->ns, V_GET, pn, "log", q);
        ka__req_long(g, r, follow ? 5000000 + ka__rng_exp(rng, 40000000) : 20000 + ka__rng_exp(rng, 30000));
        return ka__rng_permil(rng, 150) ? think(rng) : -1;
    }
    default:
        ka__req_res(r, R_SECRETS, "kube-system", V_LIST, NULL, NULL, "limit=500");
        if (s->who->kind == PK_HUMAN && strstr(s->who->reason, "\"edit\"")) {
            r->authz = AZ_FORBID;
            r->status = ST_FORBIDDEN;
            r->code = 403;
        }
        ka__req_short(g, r, lat_read(rng));
        return -1;
    }
    ka__req_short(g, r, lat_read(rng) + 2000);
    return think(rng);
}

static int64_t step_deploy(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                           struct ka__rng *rng, bool ci)
{
    const struct ka__deploy *d = &g->cl.deps[s->a];
    char q[400];
    r->a = s->a;
    switch (s->step) {
    case 0:
        snprintf(r->uri, sizeof r->uri, "/apis/apps/v1?timeout=32s");
        r->verb = V_GET;
        r->reason = "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole "
                    "\"system:discovery\" to Group \"system:authenticated\"";
        break;
    case 1:
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_GET, d->name, NULL, NULL);
        break;
    case 2:
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_PATCH, d->name, NULL,
                    ci ? "fieldManager=kubectl-set" :
                         "fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
        r->body_req = ci ? B_DEPLOY_IMAGE : B_DEPLOY_APPLY;
        r->body_resp = ci ? B_NONE : B_DEPLOYMENT;
        r->orv = g->rv++;
        ka__req_short(g, r, lat_write(rng) + 4000);
        return think(rng);
    case 3:
        snprintf(q, sizeof q, "fieldSelector=metadata.name%%3D%s&resourceVersion=%llu&watch=true",
                 d->name, (unsigned long long)g->rv);
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_WATCH, NULL, NULL, q);
        ka__req_long(g, r, 3000000 + ka__rng_exp(rng, 25000000));
        return think(rng);
    default:
        snprintf(q, sizeof q, "labelSelector=app%%3D%s&limit=500", d->name);
        ka__req_res(r, R_REPLICASETS, d->ns, V_LIST, NULL, NULL, q);
        ka__req_short(g, r, lat_read(rng));
        return -1;
    }
    ka__req_short(g, r, lat_read(rng) + 2000);
    return ci ? 200000 : think(rng);
}

static int64_t step_config(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                           struct ka__rng *rng)
{
    const struct ka__deploy *d = &g->cl.deps[s->a];
    char name[96], pn[96];
    const char *q = "fieldManager=kubectl-create&fieldValidation=Strict";
    switch (s->step) {
    case 0:
        snprintf(name, sizeof name, "%s-config-v%u", d->name, ka__rng_below(rng, 40));
        ka__req_res(r, R_CONFIGMAPS, d->ns, V_CREATE, name, NULL, q);
        r->uri[0] = 0;
        ka__req_uri(r, NULL, q);
        r->body_req = B_CONFIGMAP;
        r->body_resp = ka__rng_permil(rng, 300) ? B_CONFIGMAP : B_NONE;
        r->code = 201;
        break;
    case 1:
        snprintf(name, sizeof name, "%s-%s", d->name, ka__rng_permil(rng, 500) ? "db" : "tls-v2");
        ka__req_res(r, R_SECRETS, d->ns, V_CREATE, name, NULL, q);
        ka__req_uri(r, NULL, q);
        r->body_req = B_SECRET;
        r->code = 201;
        break;
    case 2:
        pod_name(d, rng, pn, sizeof pn);
        ka__req_res(r, R_PODS, d->ns, V_DELETE, pn, NULL, NULL);
        r->body_req = B_DELETE;
        break;
    default:
        snprintf(name, sizeof name, "%s-config-old", d->name);
        ka__req_res(r, R_CONFIGMAPS, d->ns, V_DELETE, name, NULL, NULL);
        r->body_req = B_DELETE;
        r->status = ST_SUCCESS;
        if (ka__rng_permil(rng, 200)) {
            r->status = ST_NOTFOUND;
            r->code = 404;
        }
        r->orv = g->rv++;
        ka__req_short(g, r, lat_write(rng));
        return -1;
    }
    r->orv = g->rv++;
    ka__req_short(g, r, lat_write(rng));
    return think(rng);
}

static int64_t step_impersonate(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                                struct ka__rng *rng)
{
    const struct ka__deploy *d = &g->cl.deps[s->a];
    r->imp = s->imp;
    r->reason = s->imp->reason;
    if (s->step == 0) {
        ka__req_res(r, R_PODS, d->ns, V_LIST, NULL, NULL, "limit=500");
    } else if (s->step == 1) {
        ka__req_res(r, R_SECRETS, "kube-system", V_LIST, NULL, NULL, "limit=500");
        r->authz = AZ_FORBID;
        r->status = ST_FORBIDDEN;
        r->code = 403;
    } else {
        ka__req_res(r, R_CONFIGMAPS, d->ns, V_GET, "kube-root-ca.crt", NULL, NULL);
    }
    ka__req_short(g, r, lat_read(rng) + 1000);
    return s->step >= 2 ? -1 : think(rng);
}

int64_t ka__session_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r)
{
    struct ka__rng rng = {r->seed};
    int64_t next;
    r->who = s->who;
    switch (s->script) {
    case S_INSPECT:
        next = step_inspect(g, s, r, &rng);
        break;
    case S_DEPLOY:
    case S_CI_IMAGE:
        next = step_deploy(g, s, r, &rng, s->script == S_CI_IMAGE);
        break;
    case S_CONFIG:
        next = step_config(g, s, r, &rng);
        break;
    default:
        next = step_impersonate(g, s, r, &rng);
        break;
    }
    s->step++;
    return next;
}
