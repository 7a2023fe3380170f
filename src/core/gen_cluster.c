/*
 * gen_cluster.c - the simulated cluster behind the traffic generator: resources, namespaces,
 * nodes, deployments, and every principal (kubelets, controllers, people, CI, attackers) with
 * its UserInfo pre-rendered as JSON, its user agent, source IP and RBAC allow reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

#define K8S_VER "v1.30.2"
#define K8S_COMMIT "3968350"
#define KCM_UA "kube-controller-manager/" K8S_VER " (linux/amd64) kubernetes/" K8S_COMMIT
#define KUBECTL_UA "kubectl/" K8S_VER " (linux/amd64) kubernetes/" K8S_COMMIT

const struct ka__res ka__res_table[R_COUNT] = {
    [R_PODS] = {"pods", "", "v1", "Pod", true},
    [R_NODES] = {"nodes", "", "v1", "Node", false},
    [R_LEASES] = {"leases", "coordination.k8s.io", "v1", "Lease", true},
    [R_CONFIGMAPS] = {"configmaps", "", "v1", "ConfigMap", true},
    [R_SECRETS] = {"secrets", "", "v1", "Secret", true},
    [R_SERVICES] = {"services", "", "v1", "Service", true},
    [R_ENDPOINTS] = {"endpoints", "", "v1", "Endpoints", true},
    [R_ESLICES] = {"endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", true},
    [R_EVENTS] = {"events", "events.k8s.io", "v1", "Event", true},
    [R_DEPLOYMENTS] = {"deployments", "apps", "v1", "Deployment", true},
    [R_REPLICASETS] = {"replicasets", "apps", "v1", "ReplicaSet", true},
    [R_SERVICEACCOUNTS] = {"serviceaccounts", "", "v1", "ServiceAccount", true},
    [R_CRB] = {"clusterrolebindings", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
               false},
    [R_NAMESPACES] = {"namespaces", "", "v1", "Namespace", false},
    [R_DAEMONSETS] = {"daemonsets", "apps", "v1", "DaemonSet", true},
    [R_INGRESSES] = {"ingresses", "networking.k8s.io", "v1", "Ingress", true},
    [R_CLUSTERROLES] = {"clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole", false},
    [R_ROLEBINDINGS] = {"rolebindings", "rbac.authorization.k8s.io", "v1", "RoleBinding", true},
    [R_JOBS] = {"jobs", "batch", "v1", "Job", true},
    [R_PVCS] = {"persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", true},
};

const char *const ka__ns_names[KA__N_NS] = {
    "default",  "kube-system", "kube-public", "kube-node-lease", "monitoring", "ingress-nginx",
    "cert-manager", "shop",    "payments",    "search",          "analytics",  "ci",
};

static const char *const dep_names[KA__N_NS][KA__DEPS_PER_NS] = {
    {"hello-web", "", "", ""},
    {"coredns", "metrics-server", "cluster-autoscaler", "ebs-csi-controller"},
    {"", "", "", ""},
    {"", "", "", ""},
    {"grafana", "kube-state-metrics", "prometheus-operator", "alertmanager-proxy"},
    {"ingress-nginx-controller", "", "", ""},
    {"cert-manager", "cert-manager-webhook", "cert-manager-cainjector", ""},
    {"storefront", "cart", "checkout", "catalog"},
    {"payments-api", "ledger", "fraud-scorer", "webhook-relay"},
    {"search-api", "indexer", "query-cache", ""},
    {"etl-runner", "reports", "", ""},
    {"runner-controller", "", "", ""},
};

static const char k8s_alnum[] = "bcdfghjklmnpqrstvwxz2456789";

static void rand_suffix(struct ka__rng *r, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = k8s_alnum[ka__rng_below(r, sizeof k8s_alnum - 1)];
    out[n] = 0;
}

/* ---- UserInfo rendering ---- */

struct uinfo {
    const char *name;
    const char *uid;
    const char *groups[4];
    const char *extra_k[5];
    const char *extra_v[5];
};

static int render_user(struct ka__principal *p, const struct uinfo *u)
{
    struct ka_buf b;
    ka_buf_init(&b, sizeof p->user_json - 1);
    struct ka__gw w = {&b, 0};
    GW_LIT(&w, "{");
    if (u->name) {
        GW_LIT(&w, "\"username\":");
        ka__gw_str(&w, u->name);
    }
    if (u->uid) {
        GW_LIT(&w, ",\"uid\":");
        ka__gw_str(&w, u->uid);
    }
    for (int i = 0; i < 4 && u->groups[i]; i++) {
        ka__gw_s(&w, i == 0 ? ",\"groups\":[" : ",");
        ka__gw_str(&w, u->groups[i]);
        if (i == 3 || !u->groups[i + 1])
            GW_LIT(&w, "]");
    }
    for (int i = 0; i < 5 && u->extra_k[i]; i++) { /* keys are given sorted */
        ka__gw_s(&w, i == 0 ? ",\"extra\":{" : ",");
        ka__gw_str(&w, u->extra_k[i]);
        GW_LIT(&w, ":[");
        ka__gw_str(&w, u->extra_v[i]);
        GW_LIT(&w, "]");
        if (i == 4 || !u->extra_k[i + 1])
            GW_LIT(&w, "}");
    }
    GW_LIT(&w, "}");
    int rc = w.err;
    if (!rc) {
        memcpy(p->user_json, b.p, b.n);
        p->user_json[b.n] = 0;
    }
    ka_buf_free(&b);
    return rc;
}

static void set_meta(struct ka__principal *p, int kind, const char *name, const char *ua,
                     const char *ip, const char *reason)
{
    p->kind = (uint8_t)kind;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->ua, sizeof p->ua, "%s", ua);
    snprintf(p->ip, sizeof p->ip, "%s", ip);
    snprintf(p->reason, sizeof p->reason, "%s", reason);
}

/* A service account; pod-bound tokens carry the node and pod extras. */
static int make_sa(struct ka__principal *p, struct ka__rng *r, int kind, const char *ns,
                   const char *sa, const char *ua, const char *ip, const char *reason,
                   const char *node)
{
    char name[96], g2[80], uid[37], jti[48], nuid[37], pod[80], puid[37];
    snprintf(name, sizeof name, "system:serviceaccount:%s:%s", ns, sa);
    snprintf(g2, sizeof g2, "system:serviceaccounts:%s", ns);
    ka__rng_uuid(r, uid);
    ka__rng_uuid(r, nuid);
    ka__rng_uuid(r, puid);
    memcpy(jti, "JTI=", 4);
    ka__rng_uuid(r, jti + 4);
    char sfx[8], hash[12];
    rand_suffix(r, hash, 9);
    rand_suffix(r, sfx, 5);
    snprintf(pod, sizeof pod, "%.40s-%s-%s", sa, hash, sfx);
    set_meta(p, kind, name, ua, ip, reason);
    struct uinfo u = {name, uid, {"system:serviceaccounts", g2, "system:authenticated", NULL},
                      {"authentication.kubernetes.io/credential-id", NULL}, {jti, NULL}};
    if (node) {
        const char *k[5] = {"authentication.kubernetes.io/credential-id",
                            "authentication.kubernetes.io/node-name",
                            "authentication.kubernetes.io/node-uid",
                            "authentication.kubernetes.io/pod-name",
                            "authentication.kubernetes.io/pod-uid"};
        const char *v[5] = {jti, node, nuid, pod, puid};
        memcpy(u.extra_k, k, sizeof k);
        memcpy(u.extra_v, v, sizeof v);
    }
    return render_user(p, &u);
}

static int make_user(struct ka__principal *p, int kind, const char *name, const char *g1,
                     const char *g2, const char *ua, const char *ip, const char *reason)
{
    set_meta(p, kind, name, ua, ip, reason);
    struct uinfo u = {name, NULL, {g1, g2, NULL, NULL}, {NULL}, {NULL}};
    return render_user(p, &u);
}

static void rbac_reason(char *out, size_t n, const char *binding, const char *role,
                        const char *subj_kind, const char *subj)
{
    snprintf(out, n, "RBAC: allowed by ClusterRoleBinding \"%s\" of ClusterRole \"%s\" to %s \"%s\"",
             binding, role, subj_kind, subj);
}

/* ---- controllers ---- */

struct ctl_def {
    const char *sa; /* kube-system service account, or NULL for a user */
    const char *user;
    const char *ua;
    const char *crb; /* ClusterRoleBinding = ClusterRole name */
};

static const struct ctl_def ctl_defs[CTL_COUNT] = {
    [CTL_KCM] = {NULL, "system:kube-controller-manager", KCM_UA "/leader-election",
                 "system:kube-controller-manager"},
    [CTL_SCHED] = {NULL, "system:kube-scheduler",
                   "kube-scheduler/" K8S_VER " (linux/amd64) kubernetes/" K8S_COMMIT "/scheduler",
                   "system:kube-scheduler"},
    [CTL_RS] = {"replicaset-controller", NULL, NULL, "system:controller:replicaset-controller"},
    [CTL_DEPLOY] = {"deployment-controller", NULL, NULL, "system:controller:deployment-controller"},
    [CTL_ESLICE] = {"endpointslice-controller", NULL, NULL,
                    "system:controller:endpointslice-controller"},
    [CTL_ENDPOINT] = {"endpoint-controller", NULL, NULL, "system:controller:endpoint-controller"},
    [CTL_NODELC] = {"node-controller", NULL, NULL, "system:controller:node-controller"},
    [CTL_GC] = {"generic-garbage-collector", NULL, NULL,
                "system:controller:generic-garbage-collector"},
    [CTL_COREDNS] = {"coredns", NULL, "coredns/v0.0.0 (linux/amd64) kubernetes/$Format",
                     "system:coredns"},
    [CTL_PROM] = {"prometheus-k8s", NULL, "Prometheus/2.53.0", "prometheus-k8s"},
    [CTL_INGRESS] = {"ingress-nginx", NULL,
                     "nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1d",
                     "ingress-nginx"},
    [CTL_CERTMGR] = {"cert-manager", NULL,
                     "cert-manager-controller/v1.15.1 (linux/amd64) cert-manager/ab2b9b1",
                     "cert-manager-controller-certificates"},
    [CTL_APISERVER] = {NULL, "system:apiserver",
                       "kube-apiserver/" K8S_VER " (linux/amd64) kubernetes/" K8S_COMMIT, NULL},
};

static const char *ctl_ns(int i)
{
    switch (i) {
    case CTL_PROM:
        return "monitoring";
    case CTL_INGRESS:
        return "ingress-nginx";
    case CTL_CERTMGR:
        return "cert-manager";
    default:
        return "kube-system";
    }
}

static int build_controllers(struct ka__cluster *c, struct ka__rng *r)
{
    for (int i = 0; i < CTL_COUNT; i++) {
        const struct ctl_def *d = &ctl_defs[i];
        struct ka__principal *p = &c->ctl[i];
        char reason[256] = "", ua[160];
        int rc;
        if (d->user) {
            if (d->crb)
                rbac_reason(reason, sizeof reason, d->crb, d->crb, "User", d->user);
            if (i == CTL_APISERVER) {
                char uid[37];
                ka__rng_uuid(r, uid);
                set_meta(p, PK_CONTROLLER, d->user, d->ua, "::1", "");
                struct uinfo u = {d->user, uid, {"system:authenticated", "system:masters", NULL, NULL},
                                  {NULL}, {NULL}};
                rc = render_user(p, &u);
            } else {
                rc = make_user(p, PK_CONTROLLER, d->user, "system:authenticated", NULL, d->ua,
                               "10.0.0.10", reason);
            }
        } else {
            const char *ns = ctl_ns(i);
            char subj[96];
            snprintf(subj, sizeof subj, "%s/%s", d->sa, ns);
            rbac_reason(reason, sizeof reason, d->crb, d->crb, "ServiceAccount", subj);
            bool in_kcm = i >= CTL_RS && i <= CTL_GC;
            if (in_kcm)
                snprintf(ua, sizeof ua, KCM_UA "/system:serviceaccount:kube-system:%s", d->sa);
            else
                snprintf(ua, sizeof ua, "%s", d->ua);
            uint32_t ni = ka__rng_below(r, c->n_nodes);
            char ip[16];
            snprintf(ip, sizeof ip, "10.244.%u.%u", ka__rng_below(r, 200) + 1,
                     ka__rng_below(r, 250) + 2);
            rc = make_sa(p, r, PK_CONTROLLER, ns, d->sa, ua, in_kcm ? "10.0.0.10" : ip, reason,
                         in_kcm ? NULL : c->node_name[ni]);
        }
        if (rc)
            return rc;
    }
    return KA_OK;
}

/* ---- people, CI, attackers ---- */

struct human_def {
    const char *name, *group, *binding, *role, *ua, *ip;
};

static const struct human_def human_defs[] = {
    {"oidc:alice@example.com", "oidc:platform-admins", "platform-admins", "cluster-admin",
     KUBECTL_UA, "10.8.0.21"},
    {"oidc:bob@example.com", "oidc:team-shop", "team-shop-edit", "edit",
     "kubectl/v1.29.6 (darwin/arm64) kubernetes/062798d", "10.8.0.34"},
    {"oidc:carol@example.com", "oidc:team-payments", "team-payments-edit", "edit",
     "kubectl/v1.30.1 (darwin/amd64) kubernetes/6911225", "10.8.1.7"},
    {"oidc:erin@example.com", "oidc:sre", "sre-admin", "admin",
     "kubectl/v1.30.2 (windows/amd64) kubernetes/3968350", "10.8.2.15"},
    {"kubernetes-admin", "kubeadm:cluster-admins", "kubeadm:cluster-admins", "cluster-admin",
     KUBECTL_UA, "10.0.0.5"},
};
#define N_HUMANS (sizeof human_defs / sizeof human_defs[0])

static int build_people(struct ka__cluster *c, struct ka__rng *r)
{
    char reason[256];
    c->n_humans = N_HUMANS;
    for (uint32_t i = 0; i < N_HUMANS; i++) {
        const struct human_def *h = &human_defs[i];
        rbac_reason(reason, sizeof reason, h->binding, h->role, "Group", h->group);
        int rc = make_user(&c->humans[i], PK_HUMAN, h->name, h->group, "system:authenticated",
                           h->ua, h->ip, reason);
        if (rc)
            return rc;
    }
    c->n_ci = 2;
    rbac_reason(reason, sizeof reason, "ci-deployer", "ci-deployer", "ServiceAccount",
                "deployer/ci");
    int rc = make_sa(&c->ci[0], r, PK_CI, "ci", "deployer", KUBECTL_UA, "10.0.200.14", reason,
                     NULL);
    rbac_reason(reason, sizeof reason, "argocd-application-controller",
                "argocd-application-controller", "ServiceAccount",
                "argocd-application-controller/argocd");
    if (!rc)
        rc = make_sa(&c->ci[1], r, PK_CI, "argocd", "argocd-application-controller",
                     "argocd-application-controller/v2.11.3+3f344d5 (linux/amd64) kubernetes/"
                     "3968350",
                     "10.244.17.31", reason, c->node_name[0]);
    return rc;
}

static int build_attackers(struct ka__cluster *c, struct ka__rng *r)
{
    char reason[256];
    struct ka__principal *a = c->attackers;
    rbac_reason(reason, sizeof reason, "contractors-admin", "cluster-admin", "Group",
                "oidc:contractors");
    int rc = make_user(&a[ATK_MALLORY], PK_HUMAN, "oidc:mallory@example.com", "oidc:contractors",
                       "system:authenticated", KUBECTL_UA, "10.8.3.77", reason);
    rbac_reason(reason, sizeof reason, "storefront-legacy", "secret-reader", "ServiceAccount",
                "storefront/shop");
    if (!rc)
        rc = make_sa(&a[ATK_COMPROMISED_SA], r, PK_SA, "shop", "storefront", KUBECTL_UA,
                     "10.244.31.9", reason, c->node_name[c->n_nodes / 2]);
    if (!rc)
        rc = make_user(&a[ATK_ANON], PK_ANON, "system:anonymous", "system:unauthenticated", NULL,
                       "python-requests/2.31.0", "203.0.113.45",
                       "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of "
                       "ClusterRole \"system:public-info-viewer\" to Group "
                       "\"system:unauthenticated\"");
    if (!rc)
        rc = make_sa(&a[ATK_SCANNER], r, PK_SA, "search", "indexer", "Go-http-client/2.0",
                     "10.244.52.140", "", c->node_name[c->n_nodes - 1]);
    rbac_reason(reason, sizeof reason, "payments-operators", "serviceaccount-token-creator",
                "Group", "oidc:team-payments");
    if (!rc)
        rc = make_user(&a[ATK_DEV], PK_HUMAN, "oidc:dave@example.com", "oidc:team-payments",
                       "system:authenticated",
                       "kubectl/v1.28.4 (linux/amd64) kubernetes/bae2c62", "10.8.1.99", reason);
    /* A person who deletes production Deployments by hand (deployment-delete). */
    rbac_reason(reason, sizeof reason, "legacy-ops-admin", "admin", "Group",
                "oidc:ops-contractors");
    if (!rc)
        rc = make_user(&a[ATK_CARELESS], PK_HUMAN, "oidc:frank@example.com",
                       "oidc:ops-contractors", "system:authenticated",
                       "kubectl/v1.27.3 (linux/amd64) kubernetes/25b4e43", "10.8.4.58", reason);
    return rc;
}

/* ---- nodes and deployments ---- */

static int build_nodes(struct ka__cluster *c, struct ka__rng *r)
{
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        /* (i % 48, i / 48) is unique per node, so names and addresses are too. */
        unsigned char o3 = (unsigned char)(16 + i % 48);
        unsigned char o4 = (unsigned char)(4 + (i / 48) * 22 + ka__rng_below(r, 22));
        snprintf(c->node_ip[i], sizeof c->node_ip[i], "10.0.%u.%u", o3, o4);
        snprintf(c->node_name[i], sizeof c->node_name[i], "ip-10-0-%u-%u.eu-west-1.compute.internal",
                 o3, o4);
        ka__rng_uuid(r, c->node_uid[i]);
        char name[96];
        snprintf(name, sizeof name, "system:node:%s", c->node_name[i]);
        int rc = make_user(&c->nodes[i], PK_NODE, name, "system:nodes", "system:authenticated",
                           "kubelet/" K8S_VER " (linux/amd64) kubernetes/" K8S_COMMIT,
                           c->node_ip[i], "");
        if (rc)
            return rc;
    }
    return KA_OK;
}

static void build_deploys(struct ka__cluster *c, struct ka__rng *r)
{
    c->n_deps = 0;
    for (int n = 0; n < KA__N_NS; n++)
        for (int d = 0; d < KA__DEPS_PER_NS; d++) {
            if (!dep_names[n][d][0])
                continue;
            struct ka__deploy *p = &c->deps[c->n_deps++];
            p->ns = ka__ns_names[n];
            snprintf(p->name, sizeof p->name, "%s", dep_names[n][d]);
            rand_suffix(r, p->rs_hash, 9 + ka__rng_below(r, 2));
            ka__rng_uuid(r, p->uid);
            p->replicas = 1 + ka__rng_below(r, 6);
            p->image_minor = ka__rng_below(r, 30);
        }
}

int ka__cluster_build(struct ka__cluster *c, uint64_t seed, uint32_t n_nodes)
{
    struct ka__rng r = {seed ^ 0xc2b2ae3d27d4eb4fULL};
    memset(c, 0, sizeof *c);
    c->n_nodes = n_nodes;
    c->nodes = calloc(n_nodes, sizeof *c->nodes);
    c->ctl = calloc(CTL_COUNT, sizeof *c->ctl);
    c->humans = calloc(N_HUMANS, sizeof *c->humans);
    c->ci = calloc(2, sizeof *c->ci);
    c->attackers = calloc(ATK_COUNT, sizeof *c->attackers);
    if (!c->nodes || !c->ctl || !c->humans || !c->ci || !c->attackers)
        goto fail;
    if (build_nodes(c, &r) || build_controllers(c, &r) || build_people(c, &r) ||
        build_attackers(c, &r))
        goto fail;
    build_deploys(c, &r);
    /* Impersonation targets: authorisation then uses their bindings. */
    char reason[256];
    rbac_reason(reason, sizeof reason, "ci-deployer", "ci-deployer", "ServiceAccount",
                "deployer/ci");
    if (make_user(&c->imps[0], PK_SA, "system:serviceaccount:ci:deployer", "system:serviceaccounts",
                  "system:authenticated", "", "", reason) ||
        make_user(&c->imps[1], PK_HUMAN, "oidc:bob@example.com", "system:authenticated", NULL, "",
                  "", "RBAC: allowed by RoleBinding \"team-shop-edit/shop\" of ClusterRole "
                  "\"edit\" to User \"oidc:bob@example.com\""))
        goto fail;
    c->failed.kind = PK_NONE;
    memcpy(c->failed.user_json, "{}", 3);
    return KA_OK;
fail:
    ka__cluster_free(c);
    return KA_ENOMEM;
}

void ka__cluster_free(struct ka__cluster *c)
{
    free(c->nodes);
    free(c->ctl);
    free(c->humans);
    free(c->ci);
    free(c->attackers);
    c->nodes = c->ctl = c->humans = c->ci = c->attackers = NULL;
}
