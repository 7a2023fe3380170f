/*
 * gen_extra.c - traffic streams added to the generator after the first ones, on a PRNG of their
 * own (struct ka__extra) and in session slots of their own, so that the rest of the traffic is
 * the same as without them:
 *
 *   Secret writes (normal)  cert-manager renewing a TLS secret (update, Request level), the CI
 *                           deployer rotating a password with kubectl apply (patch with data
 *                           and the last-applied annotation, Request level), Argo CD syncing a
 *                           manifest with stringData (patch, RequestResponse: the response holds
 *                           the data the server made of it). Bodies in gen_secrets.c.
 *   CI deletions (normal)   system:serviceaccount:ci:deployer getting, then deleting a preview
 *                           Deployment NAME-pr-N.
 *   deployment-delete       (labelled attack) oidc:frank@example.com deletes one to three
 *                           Deployments of a production namespace by hand, waits for the last
 *                           to go (kubectl delete's watch), then lists what is left.
 *   garbage collection      (normal, never labelled) after each Deployment deletion the
 *                           generic-garbage-collector deletes its ReplicaSets, then its Pods.
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

#define X_SECRET_GAP_EVENTS 400 /* mean gap between Secret writes, in events of time */
#define X_CI_GAP_EVENTS 7000    /* mean gap between CI preview deletions */
#define X_ATTACK_GAP_EVENTS 7500 /* mean gap between deployment-delete scenarios */
#define X_MAX_THINK 3500000     /* µs; the scenario's steps stay less than 5 s apart */

enum { XS_ATTACK = 1, XS_CI, XS_GC };

/* Namespaces where people run production applications. */
static const char *const prod_ns[] = {"shop", "payments", "search", "analytics"};
static const char *const app_ns[] = {"default", "shop", "payments", "search", "analytics"};

static int64_t ev_us(const struct ka_gen *g)
{
    return 1000000 / (int64_t)g->o.rate + 1;
}

void ka__extra_init(struct ka_gen *g)
{
    struct ka__extra *x = &g->x;
    int64_t e = ev_us(g);
    x->rng.s = g->o.seed ^ 0xbb67ae8584caa73bULL;
    x->next_secret = g->now + ka__rng_exp(&x->rng, e * X_SECRET_GAP_EVENTS / 2) + 1;
    x->next_ci = g->now + e * (500 + (int64_t)ka__rng_below(&x->rng, 4500));
    x->next_attack = g->o.attacks ? g->now + e * (2000 + (int64_t)ka__rng_below(&x->rng, 4000))
                                  : INT64_MAX;
}

static struct ka__session *x_slot(struct ka_gen *g)
{
    for (int i = KA__BASE_SESSIONS; i < KA__MAX_SESSIONS; i++)
        if (!g->sess[i].active)
            return &g->sess[i];
    return NULL;
}

/* The first deployment of namespace ns and how many it has (0 when none). */
static uint32_t ns_deps(const struct ka_gen *g, const char *ns, uint32_t *first)
{
    uint32_t n = 0;
    *first = 0;
    for (uint32_t i = 0; i < g->cl.n_deps; i++)
        if (strcmp(g->cl.deps[i].ns, ns) == 0) {
            if (!n)
                *first = i;
            n++;
        }
    return n;
}

/* Name and ReplicaSet hash of deployment a, or of its preview number pr (pr > 0). */
static void dep_ident(const struct ka_gen *g, uint32_t a, uint32_t pr, char *name, size_t nn,
                      char *hash, size_t hn)
{
    static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
    const struct ka__deploy *d = &g->cl.deps[a % g->cl.n_deps];
    if (!pr) {
        snprintf(name, nn, "%s", d->name);
        snprintf(hash, hn, "%s", d->rs_hash);
        return;
    }
    struct ka__rng rng = {((uint64_t)pr << 20) ^ a ^ d->uid[0]};
    snprintf(name, nn, "%s-pr-%u", d->name, pr);
    size_t i = 0;
    for (; i < 10 && i + 1 < hn; i++)
        hash[i] = al[ka__rng_below(&rng, sizeof al - 1)];
    hash[i] = 0;
}

static void start_gc(struct ka_gen *g, const struct ka__session *from, const struct ka__req *r)
{
    struct ka__session *s = x_slot(g);
    if (!s)
        return;
    struct ka__rng rng = {r->seed ^ 0x9c0ffeeu};
    memset(s, 0, sizeof *s);
    s->script = XS_GC;
    s->who = &g->cl.ctl[CTL_GC];
    s->a = r->a;
    s->b = from->b;
    s->c = from->b ? 1 : g->cl.deps[r->a % g->cl.n_deps].replicas;
    s->seed = ka__rng_next(&rng);
    s->next_t = r->t[2] + 20000 + ka__rng_exp(&rng, 150000);
    s->active = 1;
}

static void start_session(struct ka_gen *g, int src, int64_t t)
{
    struct ka__extra *x = &g->x;
    int64_t gap = src == KA__X_CI ? X_CI_GAP_EVENTS : X_ATTACK_GAP_EVENTS;
    int64_t next = t + ev_us(g) * (gap / 2) + ka__rng_exp(&x->rng, ev_us(g) * (gap / 2)) + 1;
    if (src == KA__X_CI)
        x->next_ci = next;
    else
        x->next_attack = next;
    struct ka__session *s = x_slot(g);
    struct ka__rng rng = {ka__rng_next(&x->rng)};
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->next_t = t;
    s->seed = rng.s;
    uint32_t first, n;
    if (src == KA__X_CI) {
        s->script = XS_CI;
        s->who = &g->cl.ci[0];
        n = ns_deps(g, app_ns[ka__rng_below(&rng, 5)], &first);
        s->b = 100 + ka__rng_below(&rng, 900); /* pull request number */
    } else {
        s->script = XS_ATTACK;
        s->scenario = KA_GEN_SC_DEPLOY_DELETE;
        s->who = &g->cl.attackers[ATK_CARELESS];
        n = ns_deps(g, prod_ns[ka__rng_below(&rng, 4)], &first);
        s->c = 1 + ka__rng_below(&rng, n < 3 ? n : 3); /* Deployments to delete */
    }
    s->a = first + (n ? ka__rng_below(&rng, n) : 0);
    s->active = 1;
}

/* ---- Secret writes ---- */

static void secret_write(struct ka_gen *g, struct ka__req *r, struct ka__rng *rng)
{
    uint32_t first, n = ns_deps(g, app_ns[ka__rng_below(rng, 5)], &first);
    uint32_t k = ka__rng_below(rng, 100);
    const struct ka__deploy *d = &g->cl.deps[first + (n ? ka__rng_below(rng, n) : 0)];
    char name[96];
    r->a = (uint32_t)(d - g->cl.deps);
    if (k < 45) {
        struct ka__rng u = {d->uid[1] * 104729u + r->a};
        snprintf(name, sizeof name, "%s-tls", d->name);
        r->who = &g->cl.ctl[CTL_CERTMGR];
        ka__req_res(r, R_SECRETS, d->ns, V_UPDATE, name, NULL, NULL);
        ka__rng_uuid(&u, r->ouid);
        r->body_req = B_X_TLS_SECRET;
    } else {
        const char *q = "fieldManager=kubectl-client-side-apply&fieldValidation=Strict";
        bool argo = k >= 80;
        snprintf(name, sizeof name, "%s-%s", d->name, argo ? "app-env" : "db");
        r->who = &g->cl.ci[argo ? 1 : 0];
        ka__req_res(r, R_SECRETS, d->ns, V_PATCH, name, NULL, argo ? "fieldManager=argocd-"
                                                                     "controller" : q);
        r->body_req = argo ? B_X_STRING_SECRET : B_X_APPLY_SECRET;
        r->body_resp = argo ? B_X_STRING_SECRET : B_NONE;
    }
    r->orv = g->rv;
    ka__req_short(g, r, 1500 + ka__rng_exp(rng, 6000));
}

void ka__extra_arrive(struct ka_gen *g, int src, int64_t t, struct ka__req *r)
{
    if (src != KA__X_SECRET) {
        start_session(g, src, t);
        return;
    }
    struct ka__rng rng = {r->seed};
    g->x.next_secret = t + ka__rng_exp(&g->x.rng, ev_us(g) * X_SECRET_GAP_EVENTS) + 1;
    secret_write(g, r, &rng);
}

/* ---- sessions ---- */

static int64_t think(struct ka__rng *rng)
{
    int64_t t = 500000 + ka__rng_exp(rng, 1000000);
    return t > X_MAX_THINK ? X_MAX_THINK : t;
}

/*
 * deployment-delete: delete s->c Deployments, watch the last one go (kubectl delete --wait),
 * then list what is left. The delete comes first, so an instance cut short by the events budget
 * still holds its deletion.
 */
static int64_t step_attack(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                           struct ka__rng *rng)
{
    uint32_t first, n = ns_deps(g, g->cl.deps[s->a].ns, &first);
    uint32_t k = s->step < s->c ? s->step : s->c - 1u;
    uint32_t di = n ? first + (s->a - first + k) % n : s->a;
    const struct ka__deploy *d = &g->cl.deps[di];
    char q[256];
    r->a = di;
    if (s->step < s->c) {
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_DELETE, d->name, NULL, NULL);
        r->body_req = B_DELETE;
        r->status = ST_SUCCESS;
        ka__req_short(g, r, 2500 + ka__rng_exp(rng, 6000));
        start_gc(g, s, r);
        return s->step + 1u < s->c ? think(rng) : 20000 + ka__rng_exp(rng, 60000);
    }
    if (s->step == s->c) {
        snprintf(q, sizeof q, "fieldSelector=metadata.name%%3D%s&resourceVersion=%llu&watch=true",
                 d->name, (unsigned long long)g->rv);
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_WATCH, NULL, NULL, q);
        int64_t dur = 200000 + ka__rng_exp(rng, 800000);
        ka__req_long(g, r, dur > X_MAX_THINK ? X_MAX_THINK : dur);
        return think(rng);
    }
    ka__req_res(r, R_DEPLOYMENTS, d->ns, V_LIST, NULL, NULL, "limit=500");
    ka__req_short(g, r, 2000 + ka__rng_exp(rng, 4000));
    return -1;
}

/* A CI pipeline tearing down the preview Deployment of a merged pull request. */
static int64_t step_ci(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                       struct ka__rng *rng)
{
    char name[64], hash[16];
    const struct ka__deploy *d = &g->cl.deps[s->a];
    dep_ident(g, s->a, s->b, name, sizeof name, hash, sizeof hash);
    r->a = s->a;
    if (s->step == 0) {
        ka__req_res(r, R_DEPLOYMENTS, d->ns, V_GET, name, NULL, NULL);
        ka__req_short(g, r, 1500 + ka__rng_exp(rng, 2500));
        return 150000 + ka__rng_exp(rng, 300000);
    }
    ka__req_res(r, R_DEPLOYMENTS, d->ns, V_DELETE, name, NULL, NULL);
    r->body_req = B_DELETE;
    r->status = ST_SUCCESS;
    ka__req_short(g, r, 2500 + ka__rng_exp(rng, 6000));
    start_gc(g, s, r);
    return -1;
}

/* The garbage collector: ReplicaSets first (current, sometimes an old one), then the Pods. */
static int64_t step_gc(struct ka_gen *g, struct ka__session *s, struct ka__req *r,
                       struct ka__rng *rng)
{
    static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
    char name[64], hash[16], obj[128], sfx[6];
    struct ka__rng own = {s->seed};
    const struct ka__deploy *d = &g->cl.deps[s->a];
    bool old_rs = ka__rng_permil(&own, 400);
    uint32_t n_rs = old_rs ? 2u : 1u;
    dep_ident(g, s->a, s->b, name, sizeof name, hash, sizeof hash);
    r->a = s->a;
    if (s->step < n_rs) {
        if (s->step == 1)
            for (int i = 0; i < 9; i++)
                hash[i] = al[ka__rng_below(&own, sizeof al - 1)];
        snprintf(obj, sizeof obj, "%s-%s", name, hash);
        ka__req_res(r, R_REPLICASETS, d->ns, V_DELETE, obj, NULL, NULL);
        r->status = ST_SUCCESS;
    } else {
        for (int i = 0; i < 5; i++)
            sfx[i] = al[ka__rng_below(rng, sizeof al - 1)];
        sfx[5] = 0;
        snprintf(obj, sizeof obj, "%s-%s-%s", name, hash, sfx);
        ka__req_res(r, R_PODS, d->ns, V_DELETE, obj, NULL, NULL);
        r->status = ST_OK;
    }
    r->body_req = B_DELETE;
    ka__req_short(g, r, 1500 + ka__rng_exp(rng, 5000));
    return s->step + 1u >= n_rs + s->c ? -1 : 5000 + ka__rng_exp(rng, 40000);
}

int64_t ka__extra_step(struct ka_gen *g, struct ka__session *s, struct ka__req *r)
{
    struct ka__rng rng = {r->seed};
    int64_t next;
    r->who = s->who;
    r->scenario = s->scenario;
    switch (s->script) {
    case XS_ATTACK:
        next = step_attack(g, s, r, &rng);
        break;
    case XS_CI:
        next = step_ci(g, s, r, &rng);
        break;
    default:
        next = step_gc(g, s, r, &rng);
        break;
    }
    s->step++;
    return next;
}
