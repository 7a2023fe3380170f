/*
 * bench_policy.c - audit policy decisions per second, for request attributes already scanned.
 *
 * Loads deploy/audit-policy.yaml and bench/policy-50-rules.yaml (or the files given on the
 * command line) and evaluates a fixed mix of pre-built request attributes (node lease renewals,
 * pod reads, secret lists, health probes, exec, RBAC and workload writes...) on one core.
 * Prints one line per policy: "policy rules decisions seconds decisions/s".
 *
 * Usage: bench_policy [seconds-per-policy] [policy.yaml ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaudit/policy.h"

#define S(lit) {lit, sizeof(lit) - 1, 1, 0}
#define R(lit) {lit, sizeof(lit) - 1}

#define NODE_GROUPS "[\"system:nodes\",\"system:authenticated\"]"
#define DEV_GROUPS "[\"oidc:team-payments\",\"oidc:engineers\",\"system:authenticated\"]"
#define KS_SA_GROUPS \
    "[\"system:serviceaccounts\",\"system:serviceaccounts:kube-system\",\"system:authenticated\"]"
#define SA_GROUPS \
    "[\"system:serviceaccounts\",\"system:serviceaccounts:payments\",\"system:authenticated\"]"

/* verb, group, namespace, resource, subresource, name */
#define RES(u_, g_, v_, grp_, ns_, res_, sub_, nm_)                                          \
    {.has_user = true, .user = S(u_), .groups = R(g_), .verb = S(v_), .resource_request = true, \
     .api_group = S(grp_), .namespace_ = S(ns_), .resource = S(res_), .subresource = S(sub_),   \
     .name = S(nm_)}
#define NONRES(u_, g_, v_, p_) \
    {.has_user = true, .user = S(u_), .groups = R(g_), .verb = S(v_), .path = S(p_)}

static const struct ka_attrs mix[] = {
    RES("system:node:worker-1", NODE_GROUPS, "update", "coordination.k8s.io", "kube-node-lease",
        "leases", "", "worker-1"),
    RES("system:node:worker-2", NODE_GROUPS, "get", "coordination.k8s.io", "kube-node-lease",
        "leases", "", "worker-2"),
    RES("system:kube-controller-manager", "[\"system:authenticated\"]", "update",
        "coordination.k8s.io", "kube-system", "leases", "", "kube-controller-manager"),
    RES("alice@example.com", DEV_GROUPS, "get", "", "payments", "pods", "", "api-7f9c"),
    RES("alice@example.com", DEV_GROUPS, "list", "", "payments", "pods", "", ""),
    RES("system:serviceaccount:payments:api", SA_GROUPS, "list", "", "payments", "secrets", "",
        ""),
    RES("system:node:worker-1", NODE_GROUPS, "get", "", "payments", "configmaps", "", "app-cfg"),
    NONRES("system:anonymous", "[\"system:unauthenticated\"]", "get", "/healthz"),
    NONRES("system:serviceaccount:monitoring:prometheus", "[\"system:authenticated\"]", "get",
           "/readyz"),
    NONRES("bob@example.com", DEV_GROUPS, "get", "/apis/apps/v1"),
    RES("bob@example.com", DEV_GROUPS, "create", "", "payments", "pods", "exec", "api-7f9c"),
    RES("system:serviceaccount:ci:deployer", SA_GROUPS, "patch", "apps", "payments",
        "deployments", "", "api"),
    RES("carol@example.com", DEV_GROUPS, "create", "rbac.authorization.k8s.io", "",
        "clusterrolebindings", "", "ops-admin"),
    RES("system:node:worker-3", NODE_GROUPS, "create", "", "payments", "events", "", ""),
    RES("system:kube-controller-manager", "[\"system:authenticated\"]", "update",
        "discovery.k8s.io", "payments", "endpointslices", "", "api-x2"),
    RES("system:node:worker-1", NODE_GROUPS, "watch", "", "", "pods", "", ""),
    RES("system:node:worker-2", NODE_GROUPS, "patch", "", "", "nodes", "status", "worker-2"),
    RES("system:apiserver", "[\"system:masters\"]", "create", "authentication.k8s.io", "",
        "tokenreviews", "", ""),
    RES("dave@example.com", DEV_GROUPS, "get", "cert-manager.io", "payments", "certificates", "",
        "api-tls"),
    RES("system:serviceaccount:kube-system:coredns", KS_SA_GROUPS, "list", "", "", "services", "",
        ""),
    NONRES("system:kube-proxy", "[\"system:authenticated\"]", "get", "/metrics"),
    RES("erin@example.com", DEV_GROUPS, "delete", "", "payments", "pods", "", "api-7f9c"),
};

#define NMIX (sizeof mix / sizeof mix[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Evaluates the mix repeatedly for about `secs` seconds and prints one line. */
static int bench_one(const char *path, double secs)
{
    struct ka_diag dg = {0};
    struct ka_policy *p = NULL;
    int rc = ka_policy_load_file(path, 0, &dg, &p);
    for (size_t i = 0; i < dg.n; i++)
        fprintf(stderr, "%s\n", dg.v[i].msg);
    ka_diag_free(&dg);
    if (rc != KA_OK)
        return 1;
    unsigned long long n = 0, sink = 0;
    struct ka_decision d;
    double t0 = now(), t = t0;
    while (t - t0 < secs) {
        for (int rep = 0; rep < 1000; rep++)
            for (size_t i = 0; i < NMIX; i++) {
                ka_policy_eval(p, &mix[i], &d);
                sink += (unsigned)d.level + (unsigned)d.rule;
            }
        n += 1000 * NMIX;
        t = now();
    }
    const char *base = strrchr(path, '/');
    printf("%-22s %5zu %12llu %8.3f %14.0f\n", base ? base + 1 : path, ka_policy_rule_count(p),
           n, t - t0, (double)n / (t - t0));
    fprintf(stderr, "(checksum %llu)\n", sink);
    ka_policy_free(p);
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs <= 0)
        secs = 2.0;
    /* default policies: found from this file's location in the source tree */
    char root[1024], deploy[1100], fifty[1100];
    snprintf(root, sizeof root, "%s", __FILE__);
    char *slash = strstr(root, "bench/bench_policy.c");
    if (slash)
        *slash = '\0';
    else
        snprintf(root, sizeof root, "./");
    snprintf(deploy, sizeof deploy, "%sdeploy/audit-policy.yaml", root);
    snprintf(fifty, sizeof fifty, "%sbench/policy-50-rules.yaml", root);
    printf("%-22s %5s %12s %8s %14s\n", "policy", "rules", "decisions", "seconds", "decisions/s");
    int rc = 0;
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            rc |= bench_one(argv[i], secs);
    } else {
        rc |= bench_one(deploy, secs);
        rc |= bench_one(fifty, secs);
    }
    return rc;
}
