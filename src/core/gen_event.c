/*
 * gen_event.c - writes one audit event of a simulated request in kube-apiserver's canonical
 * form: spec §1.2 member order, what each stage carries (§4.2-§4.5: RequestReceived has no
 * responseStatus, annotations or impersonatedUser; objectRef enrichment from decoded bodies at
 * ResponseComplete), responseStatus shapes (§4.4, §4.6) and sorted annotations (§4.7, §7.5).
 */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"

static const char *const level_names[4] = {"None", "Metadata", "Request", "RequestResponse"};
static const char *const stage_names[3] = {"RequestReceived", "ResponseStarted",
                                           "ResponseComplete"};
static const char *const psa_names[4] = {NULL, "privileged:latest", "baseline:latest",
                                         "restricted:latest"};

/* The name the objectRef shows: creates learn it from the body, at ResponseComplete. */
static bool name_visible(const struct ka__req *r, int stage)
{
    return r->name[0] && (r->verb != V_CREATE || r->sub || stage == 2);
}

static void write_objref(const struct ka__req *r, int stage, struct ka__gw *w)
{
    const struct ka__res *rs = &ka__res_table[r->res];
    GW_LIT(w, ",\"objectRef\":{\"resource\":\"");
    ka__gw_s(w, rs->resource);
    GW_LIT(w, "\"");
    if (r->ns) {
        GW_LIT(w, ",\"namespace\":");
        ka__gw_str(w, r->ns);
    }
    if (name_visible(r, stage)) {
        GW_LIT(w, ",\"name\":");
        ka__gw_str(w, r->name);
    }
    /* Only an update's body carries uid and resourceVersion to copy (spec §4.3). */
    bool from_body = stage == 2 && r->verb == V_UPDATE;
    if (from_body && r->ouid[0]) {
        GW_LIT(w, ",\"uid\":\"");
        ka__gw_s(w, r->ouid);
        GW_LIT(w, "\"");
    }
    if (rs->group[0]) {
        GW_LIT(w, ",\"apiGroup\":\"");
        ka__gw_s(w, rs->group);
        GW_LIT(w, "\"");
    }
    GW_LIT(w, ",\"apiVersion\":\"");
    ka__gw_s(w, rs->version);
    GW_LIT(w, "\"");
    if (from_body && r->orv) {
        GW_LIT(w, ",\"resourceVersion\":\"");
        ka__gw_int(w, (int64_t)r->orv);
        GW_LIT(w, "\"");
    }
    if (r->sub) {
        GW_LIT(w, ",\"subresource\":\"");
        ka__gw_s(w, r->sub);
        GW_LIT(w, "\"");
    }
    GW_LIT(w, "}");
}

/* "resource" or "resource.group", as GroupResource.String() prints it. */
static void qualified(const struct ka__res *rs, char *out, size_t n)
{
    if (rs->group[0])
        snprintf(out, n, "%s.%s", rs->resource, rs->group);
    else
        snprintf(out, n, "%s", rs->resource);
}

static void forbidden_message(const struct ka__req *r, char *msg, size_t n)
{
    const char *user = (r->imp ? r->imp : r->who)->name;
    const char *verb = ka__verb_names[r->verb];
    if (r->res < 0) {
        int plen = (int)strcspn(r->uri, "?");
        snprintf(msg, n, "forbidden: User \"%s\" cannot %s path \"%.*s\"", user, verb, plen,
                 r->uri);
        return;
    }
    const struct ka__res *rs = &ka__res_table[r->res];
    char qr[96], res[96], head[240];
    qualified(rs, qr, sizeof qr);
    snprintf(res, sizeof res, "%s%s%s", rs->resource, r->sub ? "/" : "", r->sub ? r->sub : "");
    if (r->name[0])
        snprintf(head, sizeof head, "%s \"%s\" is forbidden", qr, r->name);
    else
        snprintf(head, sizeof head, "%s is forbidden", qr);
    if (r->ns)
        snprintf(msg, n,
                 "%s: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the "
                 "namespace \"%s\"",
                 head, user, verb, res, rs->group, r->ns);
    else
        snprintf(msg, n, "%s: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the "
                 "cluster scope", head, user, verb, res, rs->group);
}

static void write_details(const struct ka__req *r, const char *uid, struct ka__gw *w)
{
    GW_LIT(w, ",\"details\":{");
    bool first = true;
    if (r->name[0]) {
        GW_LIT(w, "\"name\":");
        ka__gw_str(w, r->name);
        first = false;
    }
    if (r->res >= 0) {
        const struct ka__res *rs = &ka__res_table[r->res];
        if (rs->group[0]) {
            ka__gw_s(w, first ? "\"group\":\"" : ",\"group\":\"");
            ka__gw_s(w, rs->group);
            GW_LIT(w, "\"");
            first = false;
        }
        ka__gw_s(w, first ? "\"kind\":\"" : ",\"kind\":\"");
        ka__gw_s(w, rs->resource);
        GW_LIT(w, "\"");
    }
    if (uid) {
        GW_LIT(w, ",\"uid\":\"");
        ka__gw_s(w, uid);
        GW_LIT(w, "\"");
    }
    GW_LIT(w, "}");
}

static void write_failure(const struct ka__req *r, const char *msg, const char *reason,
                          bool details, struct ka__gw *w)
{
    GW_LIT(w, ",\"status\":\"Failure\",\"message\":");
    ka__gw_str(w, msg);
    GW_LIT(w, ",\"reason\":\"");
    ka__gw_s(w, reason);
    GW_LIT(w, "\"");
    if (details)
        write_details(r, NULL, w);
}

static void write_status(const struct ka__req *r, struct ka__gw *w)
{
    char msg[640], qr[96];
    GW_LIT(w, ",\"responseStatus\":{\"metadata\":{}");
    switch (r->status) {
    case ST_SUCCESS: {
        struct ka__rng rng = {r->seed ^ 0x51ed27u};
        char uid[37];
        ka__rng_uuid(&rng, uid);
        GW_LIT(w, ",\"status\":\"Success\"");
        write_details(r, uid, w);
        break;
    }
    case ST_FORBIDDEN:
        forbidden_message(r, msg, sizeof msg);
        write_failure(r, msg, "Forbidden", true, w);
        break;
    case ST_NOTFOUND:
        qualified(&ka__res_table[r->res], qr, sizeof qr);
        snprintf(msg, sizeof msg, "%s \"%s\" not found", qr, r->name);
        write_failure(r, msg, "NotFound", true, w);
        break;
    case ST_CONFLICT:
        qualified(&ka__res_table[r->res], qr, sizeof qr);
        snprintf(msg, sizeof msg,
                 "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                 "please apply your changes to the latest version and try again",
                 qr, r->name);
        write_failure(r, msg, "Conflict", true, w);
        break;
    case ST_UNAUTH:
        write_failure(r, "Unauthorized", "Unauthorized", false, w);
        break;
    default:
        break;
    }
    GW_LIT(w, ",\"code\":");
    ka__gw_int(w, r->code);
    GW_LIT(w, "}");
}

static void write_latency(const struct ka__req *r, struct ka__gw *w)
{
    struct ka__rng rng = {r->seed ^ 0x1a7e11u};
    int64_t total = (r->t[2] - r->t[0]) * 1000 + ka__rng_range(&rng, 0, 999);
    int64_t etcd = (int64_t)ka__rng_range(&rng, 200000, 4000000);
    GW_LIT(w, "\"apiserver.latency.k8s.io/etcd\":");
    ka__gw_duration(w, etcd);
    if (r->shape == SH_SHORT && r->verb == V_LIST) {
        GW_LIT(w, ",\"apiserver.latency.k8s.io/serialize-response-object\":");
        ka__gw_duration(w, total / 3 + ka__rng_range(&rng, 0, 999999));
    }
    GW_LIT(w, ",\"apiserver.latency.k8s.io/total\":");
    ka__gw_duration(w, total);
    GW_LIT(w, ",");
}

static void write_annotations(const struct ka__req *r, int stage, struct ka__gw *w)
{
    bool lat = stage == 2 && r->latency;
    if (r->authz == AZ_NONE && !r->psa && !lat)
        return;
    size_t start = w->b->n;
    GW_LIT(w, ",\"annotations\":{");
    if (lat)
        write_latency(r, w);
    if (r->authz != AZ_NONE) {
        ka__gw_s(w, r->authz == AZ_ALLOW ? "\"authorization.k8s.io/decision\":\"allow\""
                                         : "\"authorization.k8s.io/decision\":\"forbid\"");
        GW_LIT(w, ",\"authorization.k8s.io/reason\":");
        ka__gw_str(w, r->authz == AZ_ALLOW ? (r->reason ? r->reason : r->who->reason) : "");
        GW_LIT(w, ",");
    }
    if (r->psa && stage == 2) {
        GW_LIT(w, "\"pod-security.kubernetes.io/enforce-policy\":\"");
        ka__gw_s(w, psa_names[r->psa & 3]);
        GW_LIT(w, "\",");
    }
    if (!w->err) {
        if (w->b->p[w->b->n - 1] == ',')
            w->b->p[w->b->n - 1] = '}';
        else
            w->b->n = start; /* nothing was written for this stage */
    }
}

static void write_bodies(struct ka_gen *g, const struct ka__req *r, int stage, struct ka__gw *w)
{
    if (stage != 2)
        return;
    if (r->level >= 2 && r->body_req != B_NONE) {
        GW_LIT(w, ",\"requestObject\":");
        ka__body_write(g, r, r->body_req, false, w);
    }
    if (r->level >= 3 && r->body_resp != B_NONE) {
        GW_LIT(w, ",\"responseObject\":");
        ka__body_write(g, r, r->body_resp, true, w);
    }
}

void ka__event_write(struct ka_gen *g, const struct ka__req *r, int stage, struct ka__gw *w)
{
    GW_LIT(w, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"");
    ka__gw_s(w, level_names[r->level & 3]);
    GW_LIT(w, "\",\"auditID\":\"");
    ka__gw_s(w, r->audit_id);
    GW_LIT(w, "\",\"stage\":\"");
    ka__gw_s(w, stage_names[stage]);
    GW_LIT(w, "\",\"requestURI\":");
    ka__gw_str(w, r->uri);
    GW_LIT(w, ",\"verb\":\"");
    ka__gw_s(w, ka__verb_names[r->verb]);
    GW_LIT(w, "\",\"user\":");
    ka__gw_s(w, r->who->user_json);
    if (r->imp && stage != 0) {
        GW_LIT(w, ",\"impersonatedUser\":");
        ka__gw_s(w, r->imp->user_json);
    }
    const char *ip = r->ip ? r->ip : r->who->ip;
    if (ip[0]) {
        GW_LIT(w, ",\"sourceIPs\":[\"");
        ka__gw_s(w, ip);
        GW_LIT(w, "\"]");
    }
    const char *ua = r->ua ? r->ua : r->who->ua;
    if (ua[0]) {
        GW_LIT(w, ",\"userAgent\":");
        ka__gw_str(w, ua);
    }
    if (r->res >= 0)
        write_objref(r, stage, w);
    if (stage != 0)
        write_status(r, w);
    write_bodies(g, r, stage, w);
    GW_LIT(w, ",\"requestReceivedTimestamp\":");
    ka__gw_micro(w, r->t[0]);
    GW_LIT(w, ",\"stageTimestamp\":");
    ka__gw_micro(w, stage == 0 ? r->t[0] : ka__req_time(r));
    if (stage != 0)
        write_annotations(r, stage, w);
    GW_LIT(w, "}\n");
}
