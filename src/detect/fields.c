/*
 * fields.c - the detection field catalogue (every field name with its list/argument/numeric
 * flags and its extractor), field resolution, and the extraction context: per-event arena,
 * slot cache and the scratch value list. The extractors themselves live in fields_ka.c
 * (Falco's ka.* fields), fields_pod.c (container families and kaudit.pod.*) and fields_json.c
 * (jevt.* / json.*, evt.*, the other kaudit.* fields). docs/detection-fields.md describes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields_int.h"
#include "kaudit/err.h"

#define NONE KA_DFIELD_ARG_NONE
#define IDX KA_DFIELD_ARG_INDEX
#define KEY KA_DFIELD_ARG_KEY
#define PTR KA_DFIELD_ARG_PTR

/* Scalar / list entries of Falco's catalogue (need auditID). */
#define KS(n, fn, k, p, d) {n, fn, k, p, 0, NONE, 0, 1, d}
#define KL(n, fn, k, p, a, d) {n, fn, k, p, 1, a, 0, 1, d}
/* Container families: ka.req.pod.<kind>.<attr>, list + index. */
#define CTR(pre, kind, attr, sfx, d) \
    {"ka.req.pod." pre "." sfx, ka__x_ctr, NULL, (kind) * 32 + (attr), 1, IDX, 0, 1, d}
#define CTR_ALL(pre, kind, what)                                                            \
    CTR(pre, kind, KA__CA_NAME, "name", "names of the " what),                             \
    CTR(pre, kind, KA__CA_IMAGE, "image", "images of the " what),                          \
    CTR(pre, kind, KA__CA_REPO, "image.repository", "image repositories of the " what),    \
    CTR(pre, kind, KA__CA_COMMAND, "command", "command of each of the " what),             \
    CTR(pre, kind, KA__CA_ARGS, "args", "args of each of the " what),                      \
    CTR(pre, kind, KA__CA_PRIV, "privileged", "securityContext.privileged of the " what),  \
    CTR(pre, kind, KA__CA_APE, "allow_privilege_escalation",                               \
        "securityContext.allowPrivilegeEscalation of the " what),                          \
    CTR(pre, kind, KA__CA_ROFS, "read_only_fs",                                            \
        "securityContext.readOnlyRootFilesystem of the " what),                            \
    CTR(pre, kind, KA__CA_RUN_USER, "run_as_user", "securityContext.runAsUser of the " what), \
    CTR(pre, kind, KA__CA_EFF_USER, "eff_run_as_user",                                     \
        "effective runAsUser (container, else pod, else 0) of the " what),                 \
    CTR(pre, kind, KA__CA_RUN_GROUP, "run_as_group",                                       \
        "securityContext.runAsGroup of the " what),                                        \
    CTR(pre, kind, KA__CA_EFF_GROUP, "eff_run_as_group",                                   \
        "effective runAsGroup (container, else pod, else 0) of the " what),                \
    CTR(pre, kind, KA__CA_PROC_MOUNT, "proc_mount", "securityContext.procMount of the " what), \
    CTR(pre, kind, KA__CA_ADD_CAPS, "add_capabilities",                                    \
        "securityContext.capabilities.add of the " what " (one value per capability)")
/* kaudit extension fields (need auditID). */
#define XS(n, fn, p, d) {n, fn, NULL, p, 0, NONE, 0, 1, d}
#define XL(n, fn, p, d) {n, fn, NULL, p, 1, NONE, 0, 1, d}
#define KPC(sfx, attr, d) {"kaudit.pod.containers." sfx, ka__x_kpod_ctr, NULL, attr, 1, IDX, 0, 1, d}
/* evt.* */
#define EV(n, p, num, d) {n, ka__x_evt, NULL, p, 0, NONE, num, 0, d}

const struct ka__dfdef ka__dfields[] = {
    KS("ka.auditid", ka__x_top, NULL, KA__T_AUDITID, "auditID"),
    KS("ka.stage", ka__x_top, NULL, KA__T_STAGE, "stage"),
    KS("ka.auth.decision", ka__x_annot, "authorization.k8s.io/decision",
       0, "annotation authorization.k8s.io/decision (allow, forbid)"),
    KS("ka.auth.reason", ka__x_annot, "authorization.k8s.io/reason", 0,
       "annotation authorization.k8s.io/reason"),
    KS("ka.auth.openshift.decision", ka__x_annot, "authentication.openshift.io/decision", 0,
       "annotation authentication.openshift.io/decision"),
    KS("ka.validations.admission.policy.failure", ka__x_annot,
       "validation.policy.admission.k8s.io/validation_failure", 0,
       "annotation validation.policy.admission.k8s.io/validation_failure"),
    KS("ka.security.pod.violations", ka__x_annot, "pod-security.kubernetes.io/audit-violations",
       0, "annotation pod-security.kubernetes.io/audit-violations"),
    KS("ka.auth.openshift.username", ka__x_annot, "authentication.openshift.io/username", 0,
       "annotation authentication.openshift.io/username"),
    KS("ka.user.name", ka__x_top, NULL, KA__T_USER, "user.username"),
    KL("ka.user.groups", ka__x_top, NULL, KA__T_GROUPS, NONE, "user.groups"),
    KS("ka.impuser.name", ka__x_top, NULL, KA__T_IMPUSER, "impersonatedUser.username"),
    KS("ka.verb", ka__x_top, NULL, KA__T_VERB, "verb"),
    KS("ka.uri", ka__x_top, NULL, KA__T_URI, "requestURI"),
    {"ka.uri.param", ka__x_uriparam, NULL, 0, 0, KEY, 0, 1,
     "first value of the query parameter [key] of requestURI"},
    KS("ka.target.name", ka__x_top, NULL, KA__T_TNAME, "objectRef.name"),
    KS("ka.target.namespace", ka__x_top, NULL, KA__T_TNS, "objectRef.namespace"),
    KS("ka.target.resource", ka__x_top, NULL, KA__T_TRES, "objectRef.resource"),
    KS("ka.target.subresource", ka__x_top, NULL, KA__T_TSUB, "objectRef.subresource"),
    KS("ka.target.pod.name", ka__x_podname, NULL, 0,
       "responseObject.metadata.name when objectRef is pods without subresource"),
    KL("ka.req.binding.subjects", ka__x_rlist, "subjects", 0, NONE,
       "each requestObject.subjects[] as JSON text"),
    KL("ka.req.binding.subjects.user_names", ka__x_subjects, "User", 0, NONE,
       "names of the User subjects"),
    KL("ka.req.binding.subjects.serviceaccount_names", ka__x_subjects, "ServiceAccount", 0, NONE,
       "names of the ServiceAccount subjects"),
    KL("ka.req.binding.subjects.serviceaccount_ns_names", ka__x_subjects, "ServiceAccount", 1,
       NONE, "namespace:name of the ServiceAccount subjects"),
    KL("ka.req.binding.subjects.group_names", ka__x_subjects, "Group", 0, NONE,
       "names of the Group subjects"),
    KS("ka.req.binding.role", ka__x_rpath, "roleRef.name", 0, "requestObject.roleRef.name"),
    {"ka.req.binding.subject.has_name", ka__x_hasname, NULL, 0, 0, KEY, 0, 1,
     "deprecated: always \"true\" (as Falco)"},
    KS("ka.req.configmap.name", ka__x_top, NULL, KA__T_TNAME, "objectRef.name"),
    KS("ka.req.configmap.obj", ka__x_rpath, "data", 0, "requestObject.data as JSON text"),
    CTR_ALL("containers", KA__CK_CONTAINERS, "containers"),
    CTR("containers", KA__CK_CONTAINERS, KA__CA_HOST_PORT, "host_port",
        "ports[].hostPort of the containers"),
    {"ka.req.container.image", ka__x_ctr1, NULL, KA__CA_IMAGE, 0, NONE, 0, 1,
     "deprecated: image of the first container"},
    {"ka.req.container.image.repository", ka__x_ctr1, NULL, KA__CA_REPO, 0, NONE, 0, 1,
     "deprecated: image repository of the first container"},
    {"ka.req.container.privileged", ka__x_ctr1, NULL, KA__CA_PRIV, 0, NONE, 0, 1,
     "deprecated: \"true\" if any container is privileged, else \"false\""},
    KS("ka.req.container.host_network", ka__x_rpath, "spec.hostNetwork", 0,
       "deprecated alias of ka.req.pod.host_network"),
    KS("ka.req.pod.host_ipc", ka__x_rpath, "spec.hostIPC", 0, "requestObject.spec.hostIPC"),
    KS("ka.req.pod.host_network", ka__x_rpath, "spec.hostNetwork", 0,
       "requestObject.spec.hostNetwork"),
    KS("ka.req.pod.host_pid", ka__x_rpath, "spec.hostPID", 0, "requestObject.spec.hostPID"),
    KS("ka.req.pod.run_as_user", ka__x_rpath, "spec.securityContext.runAsUser", 0,
       "requestObject.spec.securityContext.runAsUser"),
    KS("ka.req.pod.run_as_group", ka__x_rpath, "spec.securityContext.runAsGroup", 0,
       "requestObject.spec.securityContext.runAsGroup"),
    KS("ka.req.pod.fs_group", ka__x_rpath, "spec.securityContext.fsGroup", 0,
       "requestObject.spec.securityContext.fsGroup"),
    KL("ka.req.pod.supplemental_groups", ka__x_rlist, "spec.securityContext.supplementalGroups",
       0, NONE, "requestObject.spec.securityContext.supplementalGroups"),
    KL("ka.req.role.rules", ka__x_rlist, "rules", 0, NONE, "each requestObject.rules[] as JSON text"),
    KL("ka.req.role.rules.apiGroups", ka__x_rules, "apiGroups", 0, IDX,
       "apiGroups of all (or the indexed) rules"),
    KL("ka.req.role.rules.nonResourceURLs", ka__x_rules, "nonResourceURLs", 0, IDX,
       "nonResourceURLs of all (or the indexed) rules"),
    KL("ka.req.role.rules.verbs", ka__x_rules, "verbs", 0, IDX,
       "verbs of all (or the indexed) rules"),
    KL("ka.req.role.rules.resources", ka__x_rules, "resources", 0, IDX,
       "resources of all (or the indexed) rules"),
    KS("ka.req.service.type", ka__x_rpath, "spec.type", 0, "requestObject.spec.type"),
    KL("ka.req.service.ports", ka__x_rlist, "spec.ports", 0, IDX,
       "each requestObject.spec.ports[] as JSON text"),
    KL("ka.req.pod.volumes.hostpath", ka__x_volumes, "hostPath", 0, IDX,
       "volumes[].hostPath.path"),
    {"ka.req.volume.hostpath", ka__x_volhost, NULL, 0, 0, KEY, 0, 1,
     "deprecated: \"true\" if a hostPath volume has path [key] (trailing * = prefix)"},
    KL("ka.req.pod.volumes.flexvolume_driver", ka__x_volumes, "flexVolume", 1, IDX,
       "volumes[].flexVolume.driver"),
    KL("ka.req.pod.volumes.volume_type", ka__x_volumes, NULL, 2, IDX,
       "the member names other than name of each volume"),
    KS("ka.resp.name", ka__x_podname, NULL, 1, "responseObject.metadata.name"),
    KS("ka.response.code", ka__x_top, NULL, KA__T_CODE, "responseStatus.code"),
    KS("ka.response.reason", ka__x_top, NULL, KA__T_REASON, "responseStatus.reason"),
    KS("ka.useragent", ka__x_top, NULL, KA__T_UA, "userAgent"),
    KL("ka.sourceips", ka__x_sourceips, NULL, 0, IDX, "sourceIPs"),
    KS("ka.cluster.name", ka__x_annot, "cluster_name", 0, "annotation cluster_name"),
    CTR_ALL("initContainers", KA__CK_INIT, "init containers"),
    CTR("initContainers", KA__CK_INIT, KA__CA_HOST_PORT, "host_port",
        "ports[].hostPort of the init containers"),
    CTR_ALL("ephemeralContainers", KA__CK_EPHEMERAL, "ephemeral containers"),
    /* json plugin */
    {"jevt.value", ka__x_jvalue, NULL, 0, 0, PTR, 0, 0, "value at a JSON pointer in the event"},
    {"json.value", ka__x_jvalue, NULL, 0, 0, PTR, 0, 0, "value at a JSON pointer in the event"},
    {"jevt.obj", ka__x_jobj, NULL, 0, 0, NONE, 0, 0, "the whole event as compact JSON"},
    {"json.obj", ka__x_jobj, NULL, 0, 0, NONE, 0, 0, "the whole event as compact JSON"},
    {"jevt.rawtime", ka__x_evt, NULL, KA__E_JRAWTIME, 0, NONE, 0, 0,
     "event time (stageTimestamp) in ns since the epoch, as a string"},
    {"json.rawtime", ka__x_evt, NULL, KA__E_JRAWTIME, 0, NONE, 0, 0,
     "event time (stageTimestamp) in ns since the epoch, as a string"},
    /* generic event fields */
    EV("evt.num", KA__E_NUM, 1, "event sequence number"),
    EV("evt.time", KA__E_TIME, 1, "event time (stageTimestamp) in ns since the epoch"),
    EV("evt.time.s", KA__E_TIME_S, 0, "event time as HH:MM:SS (UTC)"),
    EV("evt.time.iso8601", KA__E_ISO, 0, "event time as YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"),
    EV("evt.datetime", KA__E_DT, 0, "event time as YYYY-MM-DD HH:MM:SS.nnnnnnnnn (UTC)"),
    EV("evt.datetime.s", KA__E_DT_S, 0, "event time as YYYY-MM-DD HH:MM:SS (UTC)"),
    EV("evt.rawtime", KA__E_RAW, 1, "event time in ns since the epoch"),
    EV("evt.rawtime.s", KA__E_RAW_S, 1, "whole seconds of the event time"),
    EV("evt.rawtime.ns", KA__E_RAW_NS, 1, "nanosecond part of the event time"),
    EV("evt.reltime", KA__E_REL, 1, "ns since the first event of this context"),
    EV("evt.reltime.s", KA__E_REL_S, 1, "whole seconds of evt.reltime"),
    EV("evt.reltime.ns", KA__E_REL_NS, 1, "nanosecond part of evt.reltime"),
    EV("evt.pluginname", KA__E_PLUGIN, 0, "\"k8saudit\""),
    EV("evt.plugininfo", KA__E_PINFO, 0, "never present (the plugin has no event summary)"),
    EV("evt.source", KA__E_SOURCE, 0, "\"k8s_audit\""),
    EV("evt.is_async", KA__E_ASYNC, 0, "\"false\""),
    EV("evt.asynctype", KA__E_ATYPE, 0, "never present"),
    EV("evt.hostname", KA__E_HOST, 0, "the host name given to the context"),
    /* kaudit extensions */
    KPC("name", KA__CA_NAME, "names of every container of every located pod spec"),
    KPC("image", KA__CA_IMAGE, "images of every container (all kinds) of every pod spec"),
    KPC("image.repository", KA__CA_REPO, "image repositories (registry ports kept)"),
    KPC("privileged", KA__CA_PRIV, "securityContext.privileged of every container"),
    KPC("allow_privilege_escalation", KA__CA_APE,
        "securityContext.allowPrivilegeEscalation of every container"),
    KPC("run_as_user", KA__CA_RUN_USER,
        "runAsUser of every container (container, else pod; nothing when neither is set)"),
    KPC("run_as_non_root", KA__CA_RUN_NONROOT,
        "runAsNonRoot of every container (container, else pod; nothing when neither is set)"),
    KPC("add_capabilities", KA__CA_ADD_CAPS, "every added capability of every container"),
    KPC("host_port", KA__CA_HOST_PORT, "every ports[].hostPort of every container"),
    KPC("proc_mount", KA__CA_PROC_MOUNT, "securityContext.procMount of every container"),
    XS("kaudit.pod.host_network", ka__x_kpod, KA__P_HOSTNET, "hostNetwork of the pod spec"),
    XS("kaudit.pod.host_pid", ka__x_kpod, KA__P_HOSTPID, "hostPID of the pod spec"),
    XS("kaudit.pod.host_ipc", ka__x_kpod, KA__P_HOSTIPC, "hostIPC of the pod spec"),
    XS("kaudit.pod.run_as_user", ka__x_kpod, KA__P_RUN_USER,
       "spec.securityContext.runAsUser of the pod spec"),
    XL("kaudit.pod.volumes.hostpath", ka__x_kpod, KA__P_HOSTPATH,
       "normalised hostPath paths of every pod spec"),
    XL("kaudit.pod.seccomp", ka__x_kpod, KA__P_SECCOMP,
       "seccomp profile types (Unconfined, RuntimeDefault, Localhost) from securityContexts "
       "and the legacy annotations"),
    XL("kaudit.pod.apparmor", ka__x_kpod, KA__P_APPARMOR,
       "AppArmor profile types (Unconfined, RuntimeDefault, Localhost) from securityContexts "
       "and the legacy annotations"),
    XS("kaudit.pod.source", ka__x_kpod, KA__P_SOURCE,
       "where the pod spec was found: pod, template, cronjob, jsonpatch, mergepatch"),
    XS("kaudit.exec.command", ka__x_kexec, 0,
       "every command= parameter of an exec/attach URI, decoded, joined by spaces"),
    {"kaudit.exec.argv", ka__x_kexec, NULL, 1, 1, IDX, 0, 1,
     "every command= parameter of an exec/attach URI ([N]: the N-th, from 0)"},
    XS("kaudit.cluster", ka__x_kmisc, KA__K_CLUSTER, "annotation kaudit.io/cluster"),
    XS("kaudit.target.ref", ka__x_kmisc, KA__K_TARGET_REF,
       "resource/namespace/name of the objectRef (resource/name when cluster-scoped); "
       "nothing without a name"),
    XS("kaudit.req.secret.type", ka__x_kmisc, KA__K_SECRET_TYPE,
       "requestObject.type of a Secret request"),
    XS("kaudit.tokenrequest.sa", ka__x_kmisc, KA__K_TR_SA,
       "namespace:name of the service account of a TokenRequest (serviceaccounts/token)"),
    XS("kaudit.tokenrequest.self", ka__x_kmisc, KA__K_TR_SELF,
       "\"true\" when a TokenRequest is made by the service account itself, else \"false\""),
};
const size_t ka__n_dfields = sizeof ka__dfields / sizeof ka__dfields[0];

/* msg = what + " '" + name + "'" + why. */
static void set_msg(char *msg, size_t msglen, const char *what, const char *name, const char *why)
{
    if (msg && msglen)
        (void)snprintf(msg, msglen, "%s '%s'%s", what, name, why);
}

static int parse_index(const char *arg, long *out)
{
    long v = 0;
    if (!*arg)
        return KA_EINVAL;
    for (const char *p = arg; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000L)
            return KA_EINVAL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return KA_OK;
}

/* A JSON pointer argument: "" or "/..." with only ~0 / ~1 escapes. */
static bool valid_ptr(const char *arg)
{
    if (*arg && *arg != '/')
        return false;
    for (const char *p = arg; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
    return true;
}

static int check_arg(const struct ka__dfdef *d, const char *name, const char *arg,
                     struct ka_dfield *out, char *msg, size_t msglen)
{
    if (!arg)
        return (d->arg == KEY) ? (set_msg(msg, msglen, "field", name, " requires an argument"),
                                  KA_EINVAL)
                               : KA_OK;
    if (d->arg == NONE) {
        set_msg(msg, msglen, "field", name, " takes no argument");
        return KA_EINVAL;
    }
    if (strlen(arg) > KA_DFIELD_MAX_ARG) {
        set_msg(msg, msglen, "argument of field", name, " is too long");
        return KA_EINVAL;
    }
    if (d->arg == KEY && !*arg) {
        set_msg(msg, msglen, "field", name, " requires a non-empty argument");
        return KA_EINVAL;
    }
    if (d->arg == IDX && parse_index(arg, &out->index) != KA_OK) {
        set_msg(msg, msglen, "field", name, " takes a non-negative index argument");
        return KA_EINVAL;
    }
    if (d->arg == PTR && !valid_ptr(arg)) {
        set_msg(msg, msglen, "field", name, " takes a JSON pointer argument (/a/b, ~0 ~1)");
        return KA_EINVAL;
    }
    memcpy(out->arg, arg, strlen(arg) + 1);
    out->has_arg = true;
    return KA_OK;
}

int ka_dfield_resolve(const char *name, const char *arg, struct ka_dfield *out, char *msg,
                      size_t msglen)
{
    if (!name || !out)
        return KA_EINVAL;
    for (size_t i = 0; i < ka__n_dfields; i++) {
        const struct ka__dfdef *d = &ka__dfields[i];
        if (strcmp(d->name, name) != 0)
            continue;
        struct ka_dfield f;
        memset(&f, 0, sizeof f);
        f.id = (int)i;
        f.is_list = d->list;
        f.numeric = d->numeric;
        f.index = -1;
        int rc = check_arg(d, name, arg, &f, msg, msglen);
        if (rc != KA_OK)
            return rc;
        *out = f;
        return KA_OK;
    }
    set_msg(msg, msglen, "unknown field", name, "");
    return KA_ENOENT;
}

const char *ka_dfield_name(const struct ka_dfield *f)
{
    if (!f || f->id < 0 || (size_t)f->id >= ka__n_dfields)
        return "";
    return ka__dfields[f->id].name;
}

void ka_dfield_each(void (*fn)(void *ud, const char *name, bool is_list, enum ka_dfield_arg arg,
                               const char *desc),
                    void *ud)
{
    for (size_t i = 0; i < ka__n_dfields; i++) {
        const struct ka__dfdef *d = &ka__dfields[i];
        fn(ud, d->name, d->list, (enum ka_dfield_arg)d->arg, d->desc);
    }
}

/* ---- context, arena, cache ---- */

#define KA__CHUNK_MIN ((size_t)64 << 10)

int ka_dctx_new(unsigned n_slots, struct ka_dctx **out)
{
    struct ka_dctx *c = calloc(1, sizeof *c);
    if (!c)
        return KA_ENOMEM;
    c->sv = malloc(KA_DFIELD_MAX_VALUES * sizeof *c->sv);
    c->sl = malloc(KA_DFIELD_MAX_VALUES * sizeof *c->sl);
    c->slots = calloc(n_slots ? n_slots : 1, sizeof *c->slots);
    if (!c->sv || !c->sl || !c->slots) {
        ka_dctx_free(c);
        return KA_ENOMEM;
    }
    c->n_slots = n_slots;
    c->gen = 1;
    *out = c;
    return KA_OK;
}

static void free_chunks(struct ka__chunk *ch)
{
    while (ch) {
        struct ka__chunk *next = ch->next;
        free(ch);
        ch = next;
    }
}

void ka_dctx_free(struct ka_dctx *c)
{
    if (!c)
        return;
    free_chunks(c->chunks);
    free(c->sv);
    free(c->sl);
    free(c->slots);
    free(c);
}

static struct ka__chunk *new_chunk(size_t cap)
{
    struct ka__chunk *ch = malloc(sizeof *ch + cap);
    if (!ch)
        return NULL;
    ch->next = NULL;
    ch->cap = cap;
    ch->used = 0;
    return ch;
}

/* Keeps one chunk as big as everything the last event needed, so later events do not allocate. */
static void arena_reset(struct ka_dctx *c)
{
    if (c->chunks && c->chunks->next) {
        size_t total = c->arena_total;
        free_chunks(c->chunks);
        c->chunks = new_chunk(total);
        c->arena_total = c->chunks ? total : 0;
    }
    if (c->chunks)
        c->chunks->used = 0;
}

void *ka__dctx_alloc(struct ka_dctx *c, size_t n)
{
    n = (n + 7u) & ~(size_t)7u;
    struct ka__chunk *ch = c->chunks;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > KA__CHUNK_MIN ? n : KA__CHUNK_MIN;
        if (c->arena_total + cap > KA__ARENA_MAX)
            return NULL;
        ch = new_chunk(cap);
        if (!ch)
            return NULL;
        ch->next = c->chunks;
        c->chunks = ch;
        c->arena_total += cap;
    }
    void *p = (char *)(ch + 1) + ch->used;
    ch->used += n;
    return p;
}

void ka_dctx_reset(struct ka_dctx *c, const struct ka_event *ev, uint64_t evt_num,
                   const char *hostname)
{
    c->ev = ev;
    c->evt_num = evt_num;
    c->hostname = hostname;
    c->gen++;
    c->sn = 0;
    arena_reset(c);
    if (!c->have_t0 && ev) {
        const struct ka_time *t = ev->stageTimestamp.set ? &ev->stageTimestamp
                                                         : &ev->requestReceivedTimestamp;
        if (t->set) {
            c->have_t0 = true;
            c->t0_ns = t->sec * 1000000000LL + t->nsec;
        }
    }
}

const struct ka_event *ka_dctx_event(const struct ka_dctx *c)
{
    return c->ev;
}

static const char *const k_no_v[1] = {NULL};
static const size_t k_no_len[1] = {0};

/* Moves the scratch list into the arena as the result of one extraction. */
static int finish(struct ka_dctx *c, struct ka_dvals *out)
{
    out->n = c->sn;
    out->v = k_no_v;
    out->len = k_no_len;
    if (c->sn) {
        const char **v = ka__dctx_alloc(c, c->sn * sizeof *v);
        size_t *len = ka__dctx_alloc(c, c->sn * sizeof *len);
        if (!v || !len)
            return KA_ENOMEM;
        memcpy(v, c->sv, c->sn * sizeof *v);
        memcpy(len, c->sl, c->sn * sizeof *len);
        out->v = v;
        out->len = len;
    }
    c->sn = 0;
    return KA_OK;
}

int ka_dctx_extract(struct ka_dctx *c, const struct ka_dfield *f, struct ka_dvals *out)
{
    if (f->id < 0 || (size_t)f->id >= ka__n_dfields || !c->ev)
        return KA_EINVAL;
    struct ka__slot *s = f->slot < c->n_slots ? &c->slots[f->slot] : NULL;
    if (s && s->gen == c->gen) {
        *out = s->vals;
        return KA_OK;
    }
    const struct ka__dfdef *d = &ka__dfields[f->id];
    c->sn = 0;
    int rc = KA_OK;
    if (!d->needs_audit || c->ev->auditID.set)
        rc = d->fn(c, f, d);
    if (rc == KA_OK)
        rc = finish(c, out);
    c->sn = 0;
    if (rc != KA_OK)
        return rc;
    if (s) {
        s->gen = c->gen;
        s->vals = *out;
    }
    return KA_OK;
}
