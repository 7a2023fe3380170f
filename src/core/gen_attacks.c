/*
 * gen_attacks.c - labelled attack scenarios mixed into the generated traffic. Each scenario is a
 * session: a short script of requests by one principal, every event of which carries the
 * scenario number (reported through struct ka_gen_info for ground-truth labels).
 *
 *   pod-exec               recon get, then pods/exec create (101, long-running)
 *   secret-dump            list secrets in every namespace, cluster-wide, then get several
 *   cluster-admin-binding  create a ClusterRoleBinding to cluster-admin for oneself
 *   token-request          serviceaccounts/token for a powerful kube-system account
 *   privileged-pod         privileged, hostPID/hostNetwork, hostPath "/" pod
 *   anonymous-access       system:anonymous probing: public endpoints allowed, the rest 403
 *   forbidden-storm        one service account, dozens of denied requests in a few seconds
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

void ka__session_start_attack(struct ka_gen *g, struct ka__session *s, int sc,
                              struct ka__rng *rng)
{
    s->scenario = (uint8_t)sc;
    s->a = ka__rng_below(rng, g->cl.n_deps);
    struct ka__principal *atk = g->cl.attackers;
    switch (sc) {
    case KA_GEN_SC_SECRET_DUMP:
        s->who = &atk[ATK_COMPROMISED_SA];
        break;
    case KA_GEN_SC_TOKEN_REQUEST:
        s->who = &atk[ATK_DEV];
        break;
    case KA_GEN_SC_ANONYMOUS:
        s->who = &atk[ATK_ANON];
        break;
    case KA_GEN_SC_FORBIDDEN_STORM:
        s->who = &atk[ATK_SCANNER];
        s->c = 25 + ka__rng_below(rng, 40); /* number of requests */
        break;
    default:
        s->who = &atk[ATK_MALLORY];
        break;
    }
}

static void forbid(struct ka__req *r)
{
    r->authz = AZ_FORBID;
    r->status = ST_FORBIDDEN;
    r->code = 403;
}

static int64_t quick(struct ka__rng *rng)
{
    return 30000 + ka__rng_exp(rng, 300000);
}

static int64_t step_exec(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                         struct ka__rng *rng)
{
    const struct ka__deploy *d = &g->cl.deps[s->a];
    char pn[96], q[400];
    snprintf(pn, sizeof pn, "%s-%s-%05u", d->name, d->rs_hash, (unsigned)(s->seed % 100000));
    if (s->step == 0) {
        ka__req_res(r, R_PODS, d->ns, V_GET, pn, NULL, NULL);
        ka__req_short(g, r, 2000 + ka__rng_exp(rng, 2000));
        return 800000 + ka__rng_exp(rng, 2000000);
    }
    snprintf(q, sizeof q, "command=%s&container=%s&stdin=true&stdout=true&tty=true",
             ka__rng_permil(rng, 500) ? "%2Fbin%2Fsh" : "sh&command=-c&command=cat%20%2Fvar%2Frun"
                                                        "%2Fsecrets%2Fkubernetes.io%2Fserviceaccount"
                                                        "%2Ftoken",
             d->name);
    ka__req_res(r, R_PODS, d->ns, V_CREATE, pn, "exec", q);
    r->code = 101;
    ka__req_long(g, r, 2000000 + ka__rng_exp(rng, 40000000));
    r->latency = 1;
    return -1;
}

static int64_t step_secret_dump(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                                struct ka__rng *rng)
{
    /* steps 0..N-1: per-namespace lists; N: cluster-wide list; N+1..N+4: gets */
    const unsigned n_ns = KA__N_NS;
    if (s->step < n_ns) {
        ka__req_res(r, R_SECRETS, ka__ns_names[s->step], V_LIST, NULL, NULL, "limit=500");
    } else if (s->step == n_ns) {
        ka__req_res(r, R_SECRETS, NULL, V_LIST, NULL, NULL, "limit=500");
    } else {
        const struct ka__deploy *d = &g->cl.deps[ka__rng_below(rng, g->cl.n_deps)];
        char name[96];
        snprintf(name, sizeof name, "%s-%s", d->name, ka__rng_permil(rng, 500) ? "db" : "tls");
        ka__req_res(r, R_SECRETS, d->ns, V_GET, name, NULL, NULL);
    }
    ka__req_short(g, r, 1500 + ka__rng_exp(rng, 6000));
    return s->step >= n_ns + 4 ? -1 : quick(rng);
}

static int64_t step_admin_binding(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                                  struct ka__rng *rng)
{
    if (s->step == 0) {
        ka__req_res(r, R_CRB, NULL, V_GET, "cluster-admin", NULL, NULL);
        ka__req_short(g, r, 1500 + ka__rng_exp(rng, 2000));
        return 1500000 + ka__rng_exp(rng, 3000000);
    }
    char name[64];
    snprintf(name, sizeof name, "debug-admin-%u", ka__rng_below(rng, 100));
    ka__req_res(r, R_CRB, NULL, V_CREATE, name, NULL,
                "fieldManager=kubectl-create&fieldValidation=Strict");
    ka__req_uri(r, NULL, "fieldManager=kubectl-create&fieldValidation=Strict");
    r->body_req = r->body_resp = B_CRB;
    r->code = 201;
    r->orv = g->rv++;
    ka__req_short(g, r, 3000 + ka__rng_exp(rng, 5000));
    return -1;
}

static int64_t step_token(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                          struct ka__rng *rng)
{
    static const char *const targets[] = {"clusterrole-aggregation-controller",
                                          "generic-garbage-collector", "namespace-controller"};
    const char *sa = targets[s->seed % 3];
    if (s->step == 0) {
        ka__req_res(r, R_SERVICEACCOUNTS, "kube-system", V_LIST, NULL, NULL, "limit=500");
        ka__req_short(g, r, 2000 + ka__rng_exp(rng, 3000));
        return 2000000 + ka__rng_exp(rng, 4000000);
    }
    ka__req_res(r, R_SERVICEACCOUNTS, "kube-system", V_CREATE, sa, "token", NULL);
    r->body_req = B_TOKENREQ;
    r->code = 201;
    ka__req_short(g, r, 2000 + ka__rng_exp(rng, 4000));
    return -1;
}

static int64_t step_priv_pod(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                             struct ka__rng *rng)
{
    char name[64];
    snprintf(name, sizeof name, "node-debugger-%05u", (unsigned)(s->seed % 100000));
    r->b = (uint32_t)(s->seed >> 16);
    if (s->step == 0) {
        ka__req_res(r, R_PODS, "default", V_CREATE, name, NULL,
                    "fieldManager=kubectl-run&fieldValidation=Strict");
        ka__req_uri(r, NULL, "fieldManager=kubectl-run&fieldValidation=Strict");
        r->body_req = r->body_resp = B_POD_PRIV;
        r->psa = 1;
        r->code = 201;
        r->orv = g->rv++;
        ka__req_short(g, r, 4000 + ka__rng_exp(rng, 8000));
        return 3000000 + ka__rng_exp(rng, 2000000);
    }
    char q[128];
    snprintf(q, sizeof q, "resourceVersion=%llu&fieldSelector=metadata.name%%3D%s&watch=true",
             (unsigned long long)g->rv, name);
    ka__req_res(r, R_PODS, "default", V_WATCH, NULL, NULL, q);
    ka__req_long(g, r, 2000000 + ka__rng_exp(rng, 3000000));
    return -1;
}

static int64_t step_anonymous(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                              struct ka__rng *rng)
{
    static const char *const public_paths[] = {"/version", "/healthz", "/readyz", "/livez"};
    switch (s->step % 6) {
    case 0:
    case 3:
        snprintf(r->uri, sizeof r->uri, "%s", public_paths[(s->step / 3 + s->seed) % 4]);
        r->verb = V_GET;
        break;
    case 1:
        snprintf(r->uri, sizeof r->uri, "/apis");
        r->verb = V_GET;
        forbid(r);
        break;
    case 2:
        ka__req_res(r, R_SECRETS, "kube-system", V_LIST, NULL, NULL, NULL);
        forbid(r);
        break;
    case 4:
        ka__req_res(r, R_PODS, NULL, V_LIST, NULL, NULL, NULL);
        forbid(r);
        break;
    default:
        ka__req_res(r, R_NAMESPACES, NULL, V_LIST, NULL, NULL, NULL);
        forbid(r);
        break;
    }
    ka__req_short(g, r, 500 + ka__rng_exp(rng, 1500));
    return s->step >= 11 ? -1 : 100000 + ka__rng_exp(rng, 700000);
}

static int64_t step_storm(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                          struct ka__rng *rng)
{
    static const int res[] = {R_SECRETS, R_PODS, R_CONFIGMAPS, R_CRB, R_NODES, R_DAEMONSETS,
                              R_SERVICEACCOUNTS, R_ROLEBINDINGS, R_CLUSTERROLES, R_JOBS};
    static const int verbs[] = {V_LIST, V_GET, V_CREATE, V_DELETE};
    int rs = res[ka__rng_below(rng, 10)];
    int vb = verbs[ka__rng_below(rng, 4)];
    const char *ns = ka__ns_names[ka__rng_below(rng, KA__N_NS)];
    char name[64] = "";
    if (vb != V_LIST)
        snprintf(name, sizeof name, "target-%u", ka__rng_below(rng, 50));
    ka__req_res(r, rs, ns, vb, vb == V_CREATE ? NULL : name, NULL, vb == V_LIST ? "limit=500" : NULL);
    forbid(r);
    ka__req_short(g, r, 400 + ka__rng_exp(rng, 1200));
    return s->step + 1u >= s->c ? -1 : 20000 + ka__rng_exp(rng, 150000);
}

int64_t ka__attack_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r)
{
    struct ka__rng rng = {r->seed};
    int64_t next;
    r->who = s->who;
    r->scenario = s->scenario;
    switch (s->scenario) {
    case KA_GEN_SC_POD_EXEC:
        next = step_exec(g, s, r, &rng);
        break;
    case KA_GEN_SC_SECRET_DUMP:
        next = step_secret_dump(g, s, r, &rng);
        break;
    case KA_GEN_SC_ADMIN_BINDING:
        next = step_admin_binding(g, s, r, &rng);
        break;
    case KA_GEN_SC_TOKEN_REQUEST:
        next = step_token(g, s, r, &rng);
        break;
    case KA_GEN_SC_PRIVILEGED_POD:
        next = step_priv_pod(g, s, r, &rng);
        break;
    case KA_GEN_SC_ANONYMOUS:
        next = step_anonymous(g, s, r, &rng);
        break;
    default:
        next = step_storm(g, s, r, &rng);
        break;
    }
    s->step++;
    return next;
}
