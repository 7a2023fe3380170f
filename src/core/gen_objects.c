/*
 * gen_objects.c - request and response bodies of simulated requests: pods (ordinary and
 * privileged), bindings, node and pod status patches, endpoint slices, leases, configmaps,
 * secrets (with data values, to exercise redaction), DeleteOptions, kubectl apply and image
 * patches, deployments and clusterrolebindings with metadata.managedFields, TokenRequests.
 * Members follow the Go struct order, as the apiserver re-encodes decoded objects (spec §4.3).
 * Every value that is not a fixed ASCII literal goes through the Go-exact string escaper.
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

#define MF_HEAD "{\"manager\":\""
#define FIELDS_V1 ",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"

static void kv(struct ka__gw *w, const char *k, const char *v, bool comma)
{
    if (comma)
        GW_LIT(w, ",");
    ka__gw_str(w, k);
    GW_LIT(w, ":");
    ka__gw_str(w, v);
}

static void image_of(const struct ka__deploy *d, uint64_t seed, char *out, size_t n)
{
    snprintf(out, n, "registry.example.com/%s/%s:1.%u.%u", d->ns, d->name, d->image_minor,
             (unsigned)(seed % 12));
}

static const struct ka__deploy *dep_of(const struct ka_gen *g, const struct ka__req *r)
{
    return &g->cl.deps[r->a % g->cl.n_deps];
}

/* One managedFields entry; fields is a raw FieldsV1 object. */
static void managed(struct ka__gw *w, const char *mgr, const char *api, int64_t t,
                    const char *fields, const char *sub)
{
    GW_LIT(w, MF_HEAD);
    ka__gw_s(w, mgr);
    GW_LIT(w, "\",\"operation\":\"Update\",\"apiVersion\":\"");
    ka__gw_s(w, api);
    GW_LIT(w, "\",\"time\":");
    ka__gw_rfc3339(w, t);
    GW_LIT(w, FIELDS_V1);
    ka__gw_s(w, fields);
    if (sub) {
        GW_LIT(w, ",\"subresource\":\"");
        ka__gw_s(w, sub);
        GW_LIT(w, "\"");
    }
    GW_LIT(w, "}");
}

/* ---- pods ---- */

static void container(struct ka__gw *w, const char *name, const char *image, bool priv)
{
    GW_LIT(w, "{\"name\":");
    ka__gw_str(w, name);
    GW_LIT(w, ",\"image\":");
    ka__gw_str(w, image);
    if (priv) {
        GW_LIT(w, ",\"command\":[\"nsenter\",\"--target\",\"1\",\"--mount\",\"--uts\",\"--ipc\","
                  "\"--net\",\"--pid\",\"--\",\"bash\"],\"resources\":{},\"volumeMounts\":[{\"name\":"
                  "\"host-root\",\"mountPath\":\"/host\"}],\"terminationMessagePath\":\"/dev/"
                  "termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":"
                  "\"IfNotPresent\",\"securityContext\":{\"privileged\":true,\"runAsUser\":0},"
                  "\"stdin\":true,\"tty\":true}");
        return;
    }
    GW_LIT(w, ",\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],"
              "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"OTEL_EXPORTER_"
              "OTLP_ENDPOINT\",\"value\":\"http://otel-collector.monitoring:4317\"}],\"resources\":"
              "{\"limits\":{\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":"
              "\"128Mi\"}},\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080,"
              "\"scheme\":\"HTTP\"},\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":1,"
              "\"failureThreshold\":3},\"readinessProbe\":{\"httpGet\":{\"path\":\"/ready\",\"port\":"
              "8080,\"scheme\":\"HTTP\"},\"timeoutSeconds\":1,\"periodSeconds\":5,"
              "\"successThreshold\":1,\"failureThreshold\":3},\"terminationMessagePath\":\"/dev/"
              "termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":"
              "\"IfNotPresent\",\"securityContext\":{\"allowPrivilegeEscalation\":false,"
              "\"runAsNonRoot\":true}}");
}

static void pod_tail(struct ka__gw *w, const char *sa, bool response, const char *node)
{
    GW_LIT(w, "],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
              "\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":");
    ka__gw_str(w, sa);
    GW_LIT(w, ",\"serviceAccount\":");
    ka__gw_str(w, sa);
    if (node) {
        GW_LIT(w, ",\"nodeName\":");
        ka__gw_str(w, node);
    }
    GW_LIT(w, ",\"securityContext\":{},\"schedulerName\":\"default-scheduler\"");
    if (response)
        GW_LIT(w, ",\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":"
                  "\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300},{\"key\":\"node."
                  "kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
                  "\"tolerationSeconds\":300}],\"priority\":0");
    GW_LIT(w, ",\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\"}");
    if (response)
        GW_LIT(w, ",\"status\":{\"phase\":\"Pending\",\"qosClass\":\"Burstable\"}}");
    else
        GW_LIT(w, ",\"status\":{}}");
}

static const char api_volume[] =
    "{\"name\":\"kube-api-access-%s\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
    "{\"expirationSeconds\":3607,\"path\":\"token\"}},{\"configMap\":{\"name\":\"kube-root-ca.crt\","
    "\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.crt\"}]}},{\"downwardAPI\":{\"items\":[{\"path\":"
    "\"namespace\",\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.namespace\"}}]}}],"
    "\"defaultMode\":420}}";

static void pod_body(struct ka_gen *g, const struct ka__req *r, bool response, struct ka__gw *w)
{
    const struct ka__deploy *d = dep_of(g, r);
    char image[160], rsname[64], buf[1024], sfx[8];
    struct ka__rng rng = {r->seed};
    image_of(d, d->image_minor, image, sizeof image);
    snprintf(rsname, sizeof rsname, "%s-%s", d->name, d->rs_hash);
    snprintf(sfx, sizeof sfx, "%05u", (unsigned)(r->seed % 100000));
    GW_LIT(w, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{");
    if (response) {
        GW_LIT(w, "\"name\":\"");
        ka__gw_s(w, rsname);
        GW_LIT(w, "-");
        ka__gw_s(w, sfx);
        GW_LIT(w, "\",");
    }
    GW_LIT(w, "\"generateName\":\"");
    ka__gw_s(w, rsname);
    GW_LIT(w, "-\",\"namespace\":\"");
    ka__gw_s(w, d->ns);
    GW_LIT(w, "\",");
    if (response) {
        char uid[37];
        ka__rng_uuid(&rng, uid);
        GW_LIT(w, "\"uid\":\"");
        ka__gw_s(w, uid);
        GW_LIT(w, "\",\"resourceVersion\":\"");
        ka__gw_int(w, (int64_t)r->orv + 1);
        GW_LIT(w, "\",\"creationTimestamp\":");
        ka__gw_rfc3339(w, r->t[0]);
    } else {
        GW_LIT(w, "\"creationTimestamp\":null");
    }
    snprintf(buf, sizeof buf,
             ",\"labels\":{\"app\":\"%s\",\"pod-template-hash\":\"%s\"},\"ownerReferences\":[{"
             "\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"%s\",\"uid\":\"%s\","
             "\"controller\":true,\"blockOwnerDeletion\":true}]",
             d->name, d->rs_hash, rsname, d->uid);
    ka__gw_s(w, buf);
    if (response) {
        GW_LIT(w, ",\"managedFields\":[");
        managed(w, "kube-controller-manager", "v1", r->t[0],
                "{\"f:metadata\":{\"f:generateName\":{},\"f:labels\":{\".\":{},\"f:app\":{},"
                "\"f:pod-template-hash\":{}},\"f:ownerReferences\":{\".\":{},\"k:{\\\"uid\\\":"
                "\\\"owner\\\"}\":{}}},\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"app\\\"}"
                "\":{\".\":{},\"f:env\":{},\"f:image\":{},\"f:imagePullPolicy\":{},"
                "\"f:livenessProbe\":{},\"f:name\":{},\"f:ports\":{},\"f:readinessProbe\":{},"
                "\"f:resources\":{},\"f:securityContext\":{}}},\"f:dnsPolicy\":{},"
                "\"f:enableServiceLinks\":{},\"f:restartPolicy\":{},\"f:schedulerName\":{},"
                "\"f:securityContext\":{},\"f:serviceAccount\":{},\"f:serviceAccountName\":{},"
                "\"f:terminationGracePeriodSeconds\":{}}}",
                NULL);
        GW_LIT(w, "]");
    }
    GW_LIT(w, "},\"spec\":{");
    if (response) {
        char vs[8];
        snprintf(vs, sizeof vs, "%05u", (unsigned)(r->seed >> 20) % 100000);
        snprintf(buf, sizeof buf, api_volume, vs);
        GW_LIT(w, "\"volumes\":[");
        ka__gw_s(w, buf);
        GW_LIT(w, "],");
    }
    GW_LIT(w, "\"containers\":[");
    container(w, d->name, image, false);
    pod_tail(w, d->name, response, NULL);
}

static void priv_pod_body(struct ka_gen *g, const struct ka__req *r, bool response,
                          struct ka__gw *w)
{
    const char *node = g->cl.node_name[r->b % g->cl.n_nodes];
    GW_LIT(w, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, r->ns);
    if (response) {
        struct ka__rng rng = {r->seed};
        char uid[37];
        ka__rng_uuid(&rng, uid);
        GW_LIT(w, ",\"uid\":\"");
        ka__gw_s(w, uid);
        GW_LIT(w, "\",\"resourceVersion\":\"");
        ka__gw_int(w, (int64_t)r->orv + 1);
        GW_LIT(w, "\",\"creationTimestamp\":");
        ka__gw_rfc3339(w, r->t[0]);
        GW_LIT(w, ",\"managedFields\":[");
        managed(w, "kubectl-run", "v1", r->t[0],
                "{\"f:spec\":{\"f:containers\":{},\"f:hostNetwork\":{},\"f:hostPID\":{},"
                "\"f:nodeName\":{},\"f:volumes\":{}}}",
                NULL);
        GW_LIT(w, "]");
    } else {
        GW_LIT(w, ",\"creationTimestamp\":null");
    }
    GW_LIT(w, "},\"spec\":{\"volumes\":[{\"name\":\"host-root\",\"hostPath\":{\"path\":\"/\","
              "\"type\":\"\"}}],\"containers\":[");
    container(w, "shell", "docker.io/library/alpine:3.20", true);
    GW_LIT(w, "],\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
              "\"ClusterFirst\",\"nodeName\":");
    ka__gw_str(w, node);
    GW_LIT(w, ",\"hostNetwork\":true,\"hostPID\":true,\"hostIPC\":true,\"securityContext\":{},"
              "\"schedulerName\":\"default-scheduler\",\"tolerations\":[{\"operator\":\"Exists\"}],"
              "\"enableServiceLinks\":true},\"status\":");
    ka__gw_s(w, response ? "{\"phase\":\"Pending\",\"qosClass\":\"BestEffort\"}}" : "{}}");
}

/* ---- controller writes ---- */

static void binding_body(struct ka_gen *g, const struct ka__req *r, struct ka__gw *w)
{
    char uid[37];
    struct ka__rng rng = {r->seed};
    ka__rng_uuid(&rng, uid);
    GW_LIT(w, "{\"kind\":\"Binding\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, r->ns);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, uid);
    GW_LIT(w, "\",\"creationTimestamp\":null},\"target\":{\"kind\":\"Node\",\"name\":");
    ka__gw_str(w, g->cl.node_name[r->b % g->cl.n_nodes]);
    GW_LIT(w, "}}");
}

static void node_status_body(const struct ka__req *r, struct ka__gw *w)
{
    static const char *const conds[] = {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"};
    GW_LIT(w, "{\"status\":{\"$setElementOrder/conditions\":[");
    for (int i = 0; i < 4; i++) {
        ka__gw_s(w, i ? ",{\"type\":\"" : "{\"type\":\"");
        ka__gw_s(w, conds[i]);
        GW_LIT(w, "\"}");
    }
    GW_LIT(w, "],\"conditions\":[");
    for (int i = 0; i < 4; i++) {
        ka__gw_s(w, i ? ",{\"lastHeartbeatTime\":" : "{\"lastHeartbeatTime\":");
        ka__gw_rfc3339(w, r->t[0]);
        GW_LIT(w, ",\"type\":\"");
        ka__gw_s(w, conds[i]);
        GW_LIT(w, "\"}");
    }
    GW_LIT(w, "],\"images\":[{\"names\":[\"registry.example.com/shop/storefront@sha256:"
              "4f1c2a9b7e3d5f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718\",\"registry."
              "example.com/shop/storefront:1.12.3\"],\"sizeBytes\":48213377},{\"names\":[\"registry"
              ".k8s.io/kube-proxy@sha256:2c0b2a6e5d1f0f3b4d6e7a8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e"
              "5f6a7b8c\",\"registry.k8s.io/kube-proxy:v1.30.2\"],\"sizeBytes\":29035454}]}}");
}

static void pod_status_body(const struct ka__req *r, struct ka__gw *w)
{
    char uid[37];
    struct ka__rng rng = {r->seed};
    ka__rng_uuid(&rng, uid);
    GW_LIT(w, "{\"metadata\":{\"uid\":\"");
    ka__gw_s(w, uid);
    GW_LIT(w, "\"},\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"PodReadyToStartContainers"
              "\"},{\"type\":\"Initialized\"},{\"type\":\"Ready\"},{\"type\":\"ContainersReady\"},"
              "{\"type\":\"PodScheduled\"}],\"conditions\":[{\"lastTransitionTime\":");
    ka__gw_rfc3339(w, r->t[0]);
    GW_LIT(w, ",\"status\":\"True\",\"type\":\"Ready\"},{\"lastTransitionTime\":");
    ka__gw_rfc3339(w, r->t[0]);
    GW_LIT(w, ",\"status\":\"True\",\"type\":\"ContainersReady\"}],\"containerStatuses\":[{"
              "\"containerID\":\"containerd://");
    for (int i = 0; i < 4; i++) {
        char h[17];
        snprintf(h, sizeof h, "%016llx", (unsigned long long)ka__rng_next(&rng));
        ka__gw_raw(w, h, 16);
    }
    GW_LIT(w, "\",\"image\":\"registry.example.com/shop/app:1.4.2\",\"imageID\":\"registry.example"
              ".com/shop/app@sha256:9d2c81f0e5b3a6c4d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0"
              "\",\"lastState\":{},\"name\":\"app\",\"ready\":true,\"restartCount\":0,\"started\":"
              "true,\"state\":{\"running\":{\"startedAt\":");
    ka__gw_rfc3339(w, r->t[0] - 4000000);
    GW_LIT(w, "}}}],\"podIP\":\"10.244.");
    ka__gw_int(w, (int64_t)(r->seed % 200));
    GW_LIT(w, ".");
    ka__gw_int(w, (int64_t)(r->seed >> 8) % 250 + 2);
    GW_LIT(w, "\"}}");
}

static void eslice_body(struct ka_gen *g, const struct ka__req *r, bool eps, struct ka__gw *w)
{
    const struct ka__deploy *d = dep_of(g, r);
    struct ka__rng rng = {r->seed};
    char uid[37];
    ka__rng_uuid(&rng, uid);
    ka__gw_s(w, eps ? "{\"kind\":\"Endpoints\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
                    : "{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\","
                      "\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, d->ns);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, r->ouid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv);
    GW_LIT(w, "\",\"creationTimestamp\":");
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 3);
    GW_LIT(w, ",\"labels\":{");
    kv(w, eps ? "app" : "endpointslice.kubernetes.io/managed-by",
       eps ? d->name : "endpointslice-controller.k8s.io", false);
    if (!eps)
        kv(w, "kubernetes.io/service-name", d->name, true);
    GW_LIT(w, "}},");
    ka__gw_s(w, eps ? "\"subsets\":[{\"addresses\":[" : "\"addressType\":\"IPv4\",\"endpoints\":[");
    unsigned n = d->replicas;
    for (unsigned i = 0; i < n; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.244.%u.%u", ka__rng_below(&rng, 200), 2 + ka__rng_below(&rng, 250));
        GW_LIT(w, "{");
        ka__gw_s(w, eps ? "\"ip\":\"" : "\"addresses\":[\"");
        ka__gw_s(w, ip);
        ka__gw_s(w, eps ? "\",\"nodeName\":" : "\"],\"conditions\":{\"ready\":true,\"serving\":true,"
                                              "\"terminating\":false},\"nodeName\":");
        ka__gw_str(w, g->cl.node_name[ka__rng_below(&rng, g->cl.n_nodes)]);
        GW_LIT(w, ",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":");
        ka__gw_str(w, d->ns);
        GW_LIT(w, ",\"name\":\"");
        ka__gw_s(w, d->name);
        GW_LIT(w, "-");
        ka__gw_s(w, d->rs_hash);
        GW_LIT(w, "-");
        ka__gw_int(w, 10000 + (int64_t)ka__rng_below(&rng, 89999));
        GW_LIT(w, "\"}}");
        if (i + 1 < n)
            GW_LIT(w, ",");
    }
    ka__gw_s(w, eps ? "],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]}"
                    : "],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080}]}");
}

static void lease_body(struct ka_gen *g, const struct ka__req *r, bool response, struct ka__gw *w)
{
    GW_LIT(w, "{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\",\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, r->ns);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, r->ouid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv + (response ? 4 : 0));
    GW_LIT(w, "\",\"creationTimestamp\":");
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 12);
    GW_LIT(w, ",\"managedFields\":[");
    managed(w, r->name, "coordination.k8s.io/v1", r->t[0] - (response ? 0 : 2000000),
            "{\"f:spec\":{\"f:acquireTime\":{},\"f:holderIdentity\":{},"
            "\"f:leaseDurationSeconds\":{},\"f:leaseTransitions\":{},\"f:renewTime\":{}}}",
            NULL);
    GW_LIT(w, "]},\"spec\":{\"holderIdentity\":\"");
    ka__gw_s(w, g->cl.node_name[0]);
    GW_LIT(w, "_");
    ka__gw_s(w, r->ouid);
    GW_LIT(w, "\",\"leaseDurationSeconds\":15,\"acquireTime\":");
    ka__gw_micro(w, r->t[0] - 86400000000LL * 12 + 377);
    GW_LIT(w, ",\"renewTime\":");
    ka__gw_micro(w, r->t[0] - 3000);
    GW_LIT(w, ",\"leaseTransitions\":3}}");
}

/* ---- people's writes ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void rand_b64(struct ka__gw *w, struct ka__rng *rng, unsigned n)
{
    char buf[2100];
    if (n > sizeof buf - 4)
        n = sizeof buf - 4;
    n -= n % 4;
    for (unsigned i = 0; i < n; i++)
        buf[i] = b64[ka__rng_below(rng, 64)];
    if (n >= 4 && (n & 4))
        buf[n - 1] = '=';
    GW_LIT(w, "\"");
    ka__gw_raw(w, buf, n);
    GW_LIT(w, "\"");
}

static void meta_named(const struct ka__req *r, bool response, const char *api, const char *mgr,
                       const char *fields, struct ka__gw *w)
{
    GW_LIT(w, "\"metadata\":{\"name\":");
    ka__gw_str(w, r->name);
    if (r->ns) {
        GW_LIT(w, ",\"namespace\":");
        ka__gw_str(w, r->ns);
    }
    if (!response) {
        GW_LIT(w, ",\"creationTimestamp\":null}");
        return;
    }
    struct ka__rng rng = {r->seed ^ 77};
    char uid[37];
    ka__rng_uuid(&rng, uid);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, uid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv + 1);
    GW_LIT(w, "\",\"creationTimestamp\":");
    ka__gw_rfc3339(w, r->t[0]);
    GW_LIT(w, ",\"managedFields\":[");
    managed(w, mgr, api, r->t[0], fields, NULL);
    GW_LIT(w, "]}");
}

static void configmap_body(const struct ka__req *r, bool response, struct ka__gw *w)
{
    GW_LIT(w, "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",");
    meta_named(r, response, "v1", "kubectl-create",
               "{\"f:data\":{\".\":{},\"f:LOG_LEVEL\":{},\"f:app.properties\":{},"
               "\"f:nginx.conf\":{}}}",
               w);
    GW_LIT(w, ",\"data\":{");
    kv(w, "LOG_LEVEL", (r->seed & 1) ? "debug" : "info", false);
    kv(w, "app.properties",
       "feature.checkout.v2=true\nretry.max=5\nupstream=https://api.internal/v1?region=eu&tier=gold\n",
       true);
    kv(w, "nginx.conf",
       "server {\n  listen 8080;\n  location / {\n    proxy_pass http://127.0.0.1:9000;\n"
       "    add_header X-Frame-Options \"DENY\";\n    if ($http_user_agent ~* <bot>) { return 403; }\n"
       "  }\n}\n",
       true);
    GW_LIT(w, "}}");
}

static void secret_body(const struct ka__req *r, struct ka__gw *w)
{
    struct ka__rng rng = {r->seed};
    bool tls = (r->seed >> 7) % 3 == 0;
    GW_LIT(w, "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",");
    meta_named(r, false, "v1", NULL, NULL, w);
    GW_LIT(w, ",\"data\":{");
    if (tls) {
        GW_LIT(w, "\"tls.crt\":");
        rand_b64(w, &rng, 1200);
        GW_LIT(w, ",\"tls.key\":");
        rand_b64(w, &rng, 1640);
        GW_LIT(w, "},\"type\":\"kubernetes.io/tls\"}");
        return;
    }
    GW_LIT(w, "\"DATABASE_URL\":");
    rand_b64(w, &rng, 96);
    GW_LIT(w, ",\"password\":");
    rand_b64(w, &rng, 32);
    GW_LIT(w, ",\"username\":\"YXBw\"},\"type\":\"Opaque\"}");
}

static void apply_lastapplied(struct ka_gen *g, const struct ka__deploy *d, const char *image,
                              struct ka__gw *w)
{
    struct ka_buf *s = &g->scratch;
    ka_buf_reset(s);
    int rc = ka_buf_printf(s,
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},"
        "\"labels\":{\"app\":\"%s\"},\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{\"replicas\":%u,"
        "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"template\":{\"metadata\":{\"labels\":"
        "{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"image\":\"%s\",\"name\":\"%s\",\"ports\":"
        "[{\"containerPort\":8080,\"name\":\"http\"}],\"resources\":{\"limits\":{\"memory\":"
        "\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}}}]}}}}\n",
        d->name, d->name, d->ns, d->replicas, d->name, d->name, image, d->name);
    if (rc && !w->err)
        w->err = rc;
    if (!w->err)
        w->err = ka_jw_str(w->b, s->p, s->n);
}

static void deploy_apply_body(struct ka_gen *g, const struct ka__req *r, struct ka__gw *w)
{
    const struct ka__deploy *d = dep_of(g, r);
    char image[160];
    image_of(d, r->seed, image, sizeof image);
    GW_LIT(w, "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":");
    apply_lastapplied(g, d, image, w);
    GW_LIT(w, "}},\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":");
    ka__gw_str(w, d->name);
    GW_LIT(w, "}],\"containers\":[{\"image\":");
    ka__gw_str(w, image);
    GW_LIT(w, ",\"name\":");
    ka__gw_str(w, d->name);
    GW_LIT(w, "}]}}}}");
}

static void deploy_image_body(struct ka_gen *g, const struct ka__req *r, struct ka__gw *w)
{
    const struct ka__deploy *d = dep_of(g, r);
    char image[160];
    image_of(d, r->seed, image, sizeof image);
    GW_LIT(w, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":");
    ka__gw_str(w, image);
    GW_LIT(w, ",\"name\":");
    ka__gw_str(w, d->name);
    GW_LIT(w, "}]}}}}");
}

static const char deploy_mf_apply[] =
    "{\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:kubectl.kubernetes.io/last-applied-"
    "configuration\":{}},\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":{\"f:progressDeadline"
    "Seconds\":{},\"f:replicas\":{},\"f:revisionHistoryLimit\":{},\"f:selector\":{},\"f:strategy\":"
    "{\"f:rollingUpdate\":{\".\":{},\"f:maxSurge\":{},\"f:maxUnavailable\":{}},\"f:type\":{}},"
    "\"f:template\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":{"
    "\"f:containers\":{\"k:{\\\"name\\\":\\\"app\\\"}\":{\".\":{},\"f:image\":{},"
    "\"f:imagePullPolicy\":{},\"f:name\":{},\"f:ports\":{\".\":{},\"k:{\\\"containerPort\\\":8080,"
    "\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{},\"f:name\":{},"
    "\"f:protocol\":{}}},\"f:resources\":{\".\":{},\"f:limits\":{\".\":{},\"f:memory\":{}},"
    "\"f:requests\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}}},\"f:terminationMessagePath\":{},"
    "\"f:terminationMessagePolicy\":{}}},\"f:dnsPolicy\":{},\"f:restartPolicy\":{},"
    "\"f:schedulerName\":{},\"f:securityContext\":{},\"f:terminationGracePeriodSeconds\":{}}}}}";
static const char deploy_mf_status[] =
    "{\"f:metadata\":{\"f:annotations\":{\"f:deployment.kubernetes.io/revision\":{}}},"
    "\"f:status\":{\"f:availableReplicas\":{},\"f:conditions\":{\".\":{},\"k:{\\\"type\\\":"
    "\\\"Available\\\"}\":{\".\":{},\"f:lastTransitionTime\":{},\"f:lastUpdateTime\":{},"
    "\"f:message\":{},\"f:reason\":{},\"f:status\":{},\"f:type\":{}},\"k:{\\\"type\\\":"
    "\\\"Progressing\\\"}\":{\".\":{},\"f:lastTransitionTime\":{},\"f:lastUpdateTime\":{},"
    "\"f:message\":{},\"f:reason\":{},\"f:status\":{},\"f:type\":{}}},\"f:observedGeneration\":{},"
    "\"f:readyReplicas\":{},\"f:replicas\":{},\"f:updatedReplicas\":{}}}";

static void deployment_body(struct ka_gen *g, const struct ka__req *r, struct ka__gw *w)
{
    const struct ka__deploy *d = dep_of(g, r);
    char image[160], buf[900];
    image_of(d, r->seed, image, sizeof image);
    unsigned gen = 2 + (unsigned)(r->seed % 40);
    GW_LIT(w, "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":");
    ka__gw_str(w, d->name);
    GW_LIT(w, ",\"namespace\":");
    ka__gw_str(w, d->ns);
    GW_LIT(w, ",\"uid\":\"");
    ka__gw_s(w, d->uid);
    GW_LIT(w, "\",\"resourceVersion\":\"");
    ka__gw_int(w, (int64_t)r->orv + 1);
    snprintf(buf, sizeof buf, "\",\"generation\":%u,\"creationTimestamp\":", gen);
    ka__gw_s(w, buf);
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 40);
    GW_LIT(w, ",\"labels\":{\"app\":");
    ka__gw_str(w, d->name);
    GW_LIT(w, "},\"annotations\":{\"deployment.kubernetes.io/revision\":\"");
    ka__gw_int(w, gen - 1);
    GW_LIT(w, "\",\"kubectl.kubernetes.io/last-applied-configuration\":");
    apply_lastapplied(g, d, image, w);
    GW_LIT(w, "},\"managedFields\":[");
    managed(w, "kubectl-client-side-apply", "apps/v1", r->t[0], deploy_mf_apply, NULL);
    GW_LIT(w, ",");
    managed(w, "kube-controller-manager", "apps/v1", r->t[0] - 3600000000LL, deploy_mf_status,
            "status");
    snprintf(buf, sizeof buf,
             "]},\"spec\":{\"replicas\":%u,\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},"
             "\"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"%s\"}},"
             "\"spec\":{\"containers\":[",
             d->replicas, d->name, d->name);
    ka__gw_s(w, buf);
    container(w, d->name, image, false);
    GW_LIT(w, "],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
              "\"ClusterFirst\",\"securityContext\":{},\"schedulerName\":\"default-scheduler\"}},"
              "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":"
              "\"25%\",\"maxSurge\":\"25%\"}},\"revisionHistoryLimit\":10,"
              "\"progressDeadlineSeconds\":600},\"status\":{\"observedGeneration\":");
    snprintf(buf, sizeof buf,
             "%u,\"replicas\":%u,\"updatedReplicas\":%u,\"readyReplicas\":%u,\"availableReplicas\":"
             "%u,\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"lastUpdateTime\":",
             gen - 1, d->replicas, d->replicas, d->replicas, d->replicas);
    ka__gw_s(w, buf);
    ka__gw_rfc3339(w, r->t[0] - 3600000000LL);
    GW_LIT(w, ",\"lastTransitionTime\":");
    ka__gw_rfc3339(w, r->t[0] - 3600000000LL);
    GW_LIT(w, ",\"reason\":\"MinimumReplicasAvailable\",\"message\":\"Deployment has minimum "
              "availability.\"},{\"type\":\"Progressing\",\"status\":\"True\",\"lastUpdateTime\":");
    ka__gw_rfc3339(w, r->t[0] - 3600000000LL);
    GW_LIT(w, ",\"lastTransitionTime\":");
    ka__gw_rfc3339(w, r->t[0] - 86400000000LL * 40);
    GW_LIT(w, ",\"reason\":\"NewReplicaSetAvailable\",\"message\":\"ReplicaSet \\\"");
    ka__gw_s(w, d->name);
    GW_LIT(w, "-");
    ka__gw_s(w, d->rs_hash);
    GW_LIT(w, "\\\" has successfully progressed.\"}]}}");
}

static void crb_body(const struct ka__req *r, bool response, struct ka__gw *w)
{
    const char *subj = r->imp ? r->imp->name : r->who->name;
    GW_LIT(w, "{\"kind\":\"ClusterRoleBinding\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",");
    meta_named(r, response, "rbac.authorization.k8s.io/v1", "kubectl-create",
               "{\"f:roleRef\":{},\"f:subjects\":{}}", w);
    GW_LIT(w, ",\"subjects\":[{\"kind\":\"User\",\"apiGroup\":\"rbac.authorization.k8s.io\","
              "\"name\":");
    ka__gw_str(w, strncmp(subj, "oidc:", 5) == 0 ? subj : "oidc:mallory@example.com");
    GW_LIT(w, "}],\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
              "\"name\":\"cluster-admin\"}}");
}

void ka__body_write(struct ka_gen *g, const struct ka__req *r, int kind, bool response,
                    struct ka__gw *w)
{
    switch (kind) {
    case B_POD:
        pod_body(g, r, response, w);
        break;
    case B_POD_PRIV:
        priv_pod_body(g, r, response, w);
        break;
    case B_BINDING:
        binding_body(g, r, w);
        break;
    case B_NODE_STATUS:
        node_status_body(r, w);
        break;
    case B_POD_STATUS:
        pod_status_body(r, w);
        break;
    case B_ESLICE:
    case B_ENDPOINTS:
        eslice_body(g, r, kind == B_ENDPOINTS, w);
        break;
    case B_LEASE:
        lease_body(g, r, response, w);
        break;
    case B_CONFIGMAP:
        configmap_body(r, response, w);
        break;
    case B_SECRET:
        secret_body(r, w);
        break;
    case B_DELETE:
        GW_LIT(w, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"meta.k8s.io/v1\","
                  "\"propagationPolicy\":\"Background\"}");
        break;
    case B_DEPLOY_APPLY:
        deploy_apply_body(g, r, w);
        break;
    case B_DEPLOY_IMAGE:
        deploy_image_body(g, r, w);
        break;
    case B_DEPLOYMENT:
        deployment_body(g, r, w);
        break;
    case B_CRB:
        crb_body(r, response, w);
        break;
    case B_TOKENREQ:
        GW_LIT(w, "{\"kind\":\"TokenRequest\",\"apiVersion\":\"authentication.k8s.io/v1\","
                  "\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"audiences\":null,"
                  "\"expirationSeconds\":86400,\"boundObjectRef\":null},\"status\":{\"token\":\"\","
                  "\"expirationTimestamp\":null}}");
        break;
    case B_X_TLS_SECRET:
    case B_X_APPLY_SECRET:
    case B_X_STRING_SECRET:
        ka__secret_body_write(r, kind, response, w);
        break;
    default:
        GW_LIT(w, "{}");
        break;
    }
}
