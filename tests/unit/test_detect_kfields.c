/*
 * test_detect_kfields.c - unit tests of the kaudit.* detection fields beyond Pods: pod specs in
 * Deployments and CronJobs, in JSON patches and strategic merge patches (ephemeral containers
 * too), token requests, secrets, events without auditID. Every event is written here; nothing
 * is read from ../shared.
 */
#include "test_detect_fields.h"

static const char *const EV_DEPLOY =
    "{\"auditID\":\"d-1\",\"verb\":\"create\",\"objectRef\":{\"resource\":\"deployments\","
    "\"apiGroup\":\"apps\"},\"requestObject\":{\"kind\":\"Deployment\",\"spec\":{\"replicas\":1,"
    "\"template\":{\"metadata\":{\"annotations\":{"
    "\"container.seccomp.security.alpha.kubernetes.io/a\":\"unconfined\"}},"
    "\"spec\":{\"hostPID\":true,\"containers\":[{\"name\":\"a\",\"image\":\"evil:latest\","
    "\"securityContext\":{\"privileged\":true}}],\"volumes\":[{\"name\":\"r\",\"hostPath\":"
    "{\"path\":\"/../\"}}]}}}}}";

Test(dfields, kaudit_pod_deployment)
{
    static const struct fcase t[] = {
        {"kaudit.pod.source", NULL, "template"},
        {"kaudit.pod.containers.image", NULL, "evil:latest"},
        {"kaudit.pod.containers.image.repository", NULL, "evil"},
        {"kaudit.pod.containers.privileged", NULL, "true"},
        {"kaudit.pod.host_pid", NULL, "true"},
        {"kaudit.pod.volumes.hostpath", NULL, "/"},
        {"kaudit.pod.seccomp", NULL, "Unconfined"},
        {"kaudit.pod.apparmor", NULL, NULL},
        {"kaudit.pod.containers.run_as_user", NULL, NULL},
        {"ka.req.pod.containers.image", NULL, NULL},
        {"ka.req.container.privileged", NULL, NULL},
    };
    RUN(EV_DEPLOY, t);
}

static const char *const EV_CRON =
    "{\"auditID\":\"c-1\",\"verb\":\"update\",\"objectRef\":{\"resource\":\"cronjobs\"},"
    "\"requestObject\":{\"kind\":\"CronJob\",\"spec\":{\"schedule\":\"* * * * *\","
    "\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"j\","
    "\"image\":\"curl:8\",\"securityContext\":{\"runAsUser\":0}}],\"initContainers\":[{"
    "\"name\":\"i\",\"image\":\"docker.io/library/alpine@sha256:00\",\"securityContext\":"
    "{\"seccompProfile\":{\"type\":\"Localhost\"}}}]}}}}}}}";

Test(dfields, kaudit_pod_cronjob)
{
    static const struct fcase t[] = {
        {"kaudit.pod.source", NULL, "cronjob"},
        {"kaudit.pod.containers.image.repository", NULL, "curl|docker.io/library/alpine"},
        {"kaudit.pod.containers.run_as_user", NULL, "0"},
        {"kaudit.pod.seccomp", NULL, "Localhost"},
        {"kaudit.pod.host_network", NULL, NULL},
    };
    RUN(EV_CRON, t);
}

static const char *const EV_JPATCH =
    "{\"auditID\":\"j-1\",\"verb\":\"patch\",\"objectRef\":{\"resource\":\"deployments\","
    "\"name\":\"web\"},\"requestObject\":["
    "{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"evil:1\"},"
    "{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/securityContext\","
    "\"value\":{\"privileged\":true,\"runAsUser\":0}},"
    "{\"op\":\"add\",\"path\":\"/spec/template/spec/volumes/-\",\"value\":{\"name\":\"h\","
    "\"hostPath\":{\"path\":\"/var/lib//kubelet/\"}}},"
    "{\"op\":\"add\",\"path\":\"/spec/template/spec/hostNetwork\",\"value\":true},"
    "{\"op\":\"remove\",\"path\":\"/spec/template/spec/hostPID\"},"
    "{\"op\":\"add\",\"path\":\"/spec/template/metadata/annotations/"
    "container.apparmor.security.beta.kubernetes.io~1app\",\"value\":\"unconfined\"},"
    "{\"op\":\"add\",\"path\":\"/spec/template/spec/initContainers\",\"value\":[{\"name\":\"x\","
    "\"image\":\"busybox\",\"ports\":[{\"hostPort\":22}]}]},"
    "{\"op\":\"add\",\"path\":\"/spec/replicas\",\"value\":3}]}";

Test(dfields, kaudit_pod_jsonpatch)
{
    static const struct fcase t[] = {
        {"kaudit.pod.source", NULL, "jsonpatch"},
        {"kaudit.pod.containers.image", NULL, "evil:1|busybox"},
        {"kaudit.pod.containers.privileged", NULL, "true"},
        {"kaudit.pod.containers.run_as_user", NULL, "0"},
        {"kaudit.pod.containers.host_port", NULL, "22"},
        {"kaudit.pod.volumes.hostpath", NULL, "/var/lib/kubelet"},
        {"kaudit.pod.host_network", NULL, "true"},
        {"kaudit.pod.host_pid", NULL, NULL},
        {"kaudit.pod.apparmor", NULL, "Unconfined"},
        {"ka.req.pod.containers.image", NULL, NULL},
        {"jevt.value", "/requestObject/1/value/privileged", "true"},
    };
    RUN(EV_JPATCH, t);
}

static const char *const EV_SMP =
    "{\"auditID\":\"m-1\",\"verb\":\"patch\",\"objectRef\":{\"resource\":\"daemonsets\","
    "\"name\":\"ds\"},\"requestObject\":{\"spec\":{\"template\":{\"spec\":{"
    "\"$setElementOrder/containers\":[{\"name\":\"a\"}],\"containers\":[{\"name\":\"a\","
    "\"image\":\"x:2\",\"securityContext\":{\"allowPrivilegeEscalation\":true,"
    "\"capabilities\":{\"add\":[\"SYS_ADMIN\"]}}}],\"hostIPC\":true}}}}}";

static const char *const EV_EPHEMERAL =
    "{\"auditID\":\"m-2\",\"verb\":\"patch\",\"objectRef\":{\"resource\":\"pods\","
    "\"subresource\":\"ephemeralcontainers\",\"name\":\"p\"},\"requestObject\":{\"spec\":{"
    "\"ephemeralContainers\":[{\"name\":\"debugger\",\"image\":\"busybox\","
    "\"targetContainerName\":\"app\",\"securityContext\":{\"privileged\":true}}]}}}";

Test(dfields, kaudit_pod_mergepatch)
{
    static const struct fcase t[] = {
        {"kaudit.pod.source", NULL, "mergepatch"},
        {"kaudit.pod.containers.allow_privilege_escalation", NULL, "true"},
        {"kaudit.pod.containers.add_capabilities", NULL, "SYS_ADMIN"},
        {"kaudit.pod.containers.image.repository", NULL, "x"},
        {"kaudit.pod.host_ipc", NULL, "true"},
    };
    RUN(EV_SMP, t);
    static const struct fcase t2[] = {
        {"kaudit.pod.source", NULL, "mergepatch"},
        {"kaudit.pod.containers.image", NULL, "busybox"},
        {"kaudit.pod.containers.privileged", NULL, "true"},
        {"ka.req.pod.ephemeralContainers.privileged", NULL, "true"},
    };
    RUN(EV_EPHEMERAL, t2);
}

static const char *const EV_TOKEN_OTHER =
    "{\"auditID\":\"t-1\",\"verb\":\"create\",\"user\":{\"username\":"
    "\"system:serviceaccount:ns1:sa1\"},\"objectRef\":{\"resource\":\"serviceaccounts\","
    "\"subresource\":\"token\",\"namespace\":\"ns1\",\"name\":\"sa2\"}}";
static const char *const EV_TOKEN_SELF =
    "{\"auditID\":\"t-2\",\"verb\":\"create\",\"user\":{\"username\":"
    "\"system:serviceaccount:ns1:sa2\"},\"objectRef\":{\"resource\":\"serviceaccounts\","
    "\"subresource\":\"token\",\"namespace\":\"ns1\",\"name\":\"sa2\"}}";
static const char *const EV_SECRET =
    "{\"auditID\":\"x-1\",\"verb\":\"create\",\"objectRef\":{\"resource\":\"secrets\"},"
    "\"requestObject\":{\"kind\":\"Secret\",\"type\":\"kubernetes.io/service-account-token\"}}";

Test(dfields, kaudit_misc)
{
    static const struct fcase t1[] = {
        {"kaudit.tokenrequest.sa", NULL, "ns1:sa2"},
        {"kaudit.tokenrequest.self", NULL, "false"},
        {"kaudit.req.secret.type", NULL, NULL},
        {"kaudit.cluster", NULL, NULL},
    };
    RUN(EV_TOKEN_OTHER, t1);
    static const struct fcase t2[] = {
        {"kaudit.tokenrequest.self", NULL, "true"},
    };
    RUN(EV_TOKEN_SELF, t2);
    static const struct fcase t3[] = {
        {"kaudit.req.secret.type", NULL, "kubernetes.io/service-account-token"},
        {"kaudit.tokenrequest.sa", NULL, NULL},
    };
    RUN(EV_SECRET, t3);
}

static const char *const EV_NOAUDIT =
    "{\"kind\":\"Event\",\"level\":\"Metadata\",\"stage\":\"ResponseComplete\",\"verb\":\"get\","
    "\"user\":{\"username\":\"x\"},\"stageTimestamp\":\"2024-01-01T00:00:01.5Z\"}";

Test(dfields, needs_audit_id)
{
    static const struct fcase t[] = {
        {"ka.user.name", NULL, NULL},
        {"ka.verb", NULL, NULL},
        {"ka.req.binding.subject.has_name", "x", NULL},
        {"kaudit.pod.source", NULL, NULL},
        {"jevt.value", "/verb", "get"},
        {"evt.source", NULL, "k8s_audit"},
        {"evt.rawtime.ns", NULL, "500000000"},
    };
    RUN(EV_NOAUDIT, t);
}
