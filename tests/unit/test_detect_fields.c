/*
 * test_detect_fields.c - unit tests of the detection field catalogue (src/detect/fields.h):
 * resolution and arguments, every field family with Falco's rendering, the Falco defects kaudit
 * fixes, the kaudit.* fields of Pods, caching and the arena. The kaudit.* fields of workloads and
 * patches are in test_detect_kfields.c.
 * Most events are written here. The tests named real_* read Falco's k8s-audit regression
 * fixtures in place from ../shared/data/real/falco-k8s_audit/ (falcosecurity/falco
 * test/trace_files/k8s_audit, Apache-2.0; see ../shared/data/real/SOURCES.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/detect/fields.h"
#include "../../src/detect/fields_int.h"
#include "kaudit/err.h"
#include "kaudit/event.h"
#include "test_detect_fields.h"
#include "testutil.h"

static const char *const EV_POD =
    "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\","
    "\"auditID\":\"a-1\",\"stage\":\"ResponseComplete\","
    "\"requestURI\":\"/api/v1/namespaces/ns1/pods?fieldManager=kubectl\\u0026dryRun=All\","
    "\"verb\":\"create\",\"user\":{\"username\":\"alice\",\"groups\":[\"dev\","
    "\"system:authenticated\"]},\"impersonatedUser\":{\"username\":\"bob\"},"
    "\"sourceIPs\":[\"10.0.0.1\",\"10.0.0.2\"],\"userAgent\":\"kubectl/v1.30\","
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns1\",\"name\":\"p1\","
    "\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},\"code\":201},"
    "\"requestObject\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p1\","
    "\"annotations\":{\"container.apparmor.security.beta.kubernetes.io/c1\":\"unconfined\","
    "\"seccomp.security.alpha.kubernetes.io/pod\":\"runtime/default\"}},"
    "\"spec\":{\"hostNetwork\":true,\"hostPID\":false,\"securityContext\":{\"runAsUser\":1000,"
    "\"runAsGroup\":3000,\"fsGroup\":2000,\"supplementalGroups\":[4000,5000],"
    "\"seccompProfile\":{\"type\":\"Unconfined\"}},"
    "\"containers\":[{\"name\":\"c1\",\"image\":\"registry.example:5000/team/app:1.2\","
    "\"command\":[\"sh\",\"-c\",\"echo hi\"],\"args\":[\"--x\",\"1\"],"
    "\"ports\":[{\"containerPort\":80},{\"containerPort\":443,\"hostPort\":8443}],"
    "\"securityContext\":{\"privileged\":true,\"allowPrivilegeEscalation\":true,"
    "\"readOnlyRootFilesystem\":false,\"runAsUser\":0,\"procMount\":\"Unmasked\","
    "\"capabilities\":{\"add\":[\"NET_ADMIN\",\"SYS_TIME\"]}}},"
    "{\"name\":\"c2\",\"image\":\"nginx@sha256:abcd\",\"securityContext\":{\"runAsGroup\":7}}],"
    "\"initContainers\":[{\"name\":\"i1\",\"image\":\"busybox:1.36\",\"securityContext\":"
    "{\"privileged\":false},\"ports\":[{\"hostPort\":9000}]}],"
    "\"ephemeralContainers\":[{\"name\":\"dbg\",\"image\":\"alpine\",\"securityContext\":"
    "{\"privileged\":true,\"appArmorProfile\":{\"type\":\"Unconfined\"}}}],"
    "\"volumes\":[{\"name\":\"v1\",\"hostPath\":{\"path\":\"/var/run//docker.sock/\","
    "\"type\":\"\"}},{\"name\":\"v2\",\"secret\":{\"secretName\":\"s\"}},{\"name\":\"v3\","
    "\"hostPath\":{\"path\":\"/etc/../proc/./1\"}},{\"name\":\"v4\",\"flexVolume\":"
    "{\"driver\":\"ex/drv\"}}]}},"
    "\"responseObject\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1-resp\"}},"
    "\"requestReceivedTimestamp\":\"2024-08-14T05:40:56.794659Z\","
    "\"stageTimestamp\":\"2024-08-14T05:40:57.123456789Z\","
    "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
    "\"authorization.k8s.io/reason\":\"RBAC: ok\",\"cluster_name\":\"gke-1\","
    "\"kaudit.io/cluster\":\"prod-eu\",\"pod-security.kubernetes.io/audit-violations\":"
    "\"privileged\",\"authentication.openshift.io/decision\":\"allow\","
    "\"authentication.openshift.io/username\":\"os-user\","
    "\"validation.policy.admission.k8s.io/validation_failure\":\"[{\\\"message\\\":\\\"x\\\"}]\"}}";

Test(dfields, event_members)
{
    static const struct fcase t[] = {
        {"ka.auditid", NULL, "a-1"},
        {"ka.stage", NULL, "ResponseComplete"},
        {"ka.auth.decision", NULL, "allow"},
        {"ka.auth.reason", NULL, "RBAC: ok"},
        {"ka.auth.openshift.decision", NULL, "allow"},
        {"ka.auth.openshift.username", NULL, "os-user"},
        {"ka.validations.admission.policy.failure", NULL, "[{\"message\":\"x\"}]"},
        {"ka.security.pod.violations", NULL, "privileged"},
        {"ka.user.name", NULL, "alice"},
        {"ka.user.groups", NULL, "dev|system:authenticated"},
        {"ka.impuser.name", NULL, "bob"},
        {"ka.verb", NULL, "create"},
        {"ka.uri", NULL, "/api/v1/namespaces/ns1/pods?fieldManager=kubectl&dryRun=All"},
        {"ka.uri.param", "dryRun", "All"},
        {"ka.uri.param", "missing", NULL},
        {"ka.target.name", NULL, "p1"},
        {"ka.target.namespace", NULL, "ns1"},
        {"ka.target.resource", NULL, "pods"},
        {"ka.target.subresource", NULL, NULL},
        {"ka.target.pod.name", NULL, "p1-resp"},
        {"ka.resp.name", NULL, "p1-resp"},
        {"ka.response.code", NULL, "201"},
        {"ka.response.reason", NULL, NULL},
        {"ka.useragent", NULL, "kubectl/v1.30"},
        {"ka.sourceips", NULL, "10.0.0.1|10.0.0.2"},
        {"ka.sourceips", "1", "10.0.0.2"},
        {"ka.sourceips", "2", NULL},
        {"ka.cluster.name", NULL, "gke-1"},
        {"ka.req.configmap.name", NULL, "p1"},
        {"ka.req.binding.subject.has_name", "anything", "true"},
        {"ka.req.binding.role", NULL, NULL},
        {"ka.req.role.rules", NULL, NULL},
        {"kaudit.cluster", NULL, "prod-eu"},
        {"kaudit.exec.command", NULL, NULL},
        {"kaudit.tokenrequest.sa", NULL, NULL},
    };
    RUN(EV_POD, t);
}

Test(dfields, containers)
{
    static const struct fcase t[] = {
        {"ka.req.pod.containers.name", NULL, "c1|c2"},
        {"ka.req.pod.containers.name", "1", "c2"},
        {"ka.req.pod.containers.name", "5", NULL},
        {"ka.req.pod.containers.image", NULL, "registry.example:5000/team/app:1.2|nginx@sha256:abcd"},
        {"ka.req.pod.containers.image.repository", NULL, "registry.example:5000/team/app|nginx"},
        {"ka.req.pod.containers.command", NULL, "sh -c echo hi"},
        {"ka.req.pod.containers.command", "1", NULL},
        {"ka.req.pod.containers.args", NULL, "--x 1"},
        {"ka.req.pod.containers.host_port", NULL, "8443"},
        {"ka.req.pod.containers.privileged", NULL, "true"},
        {"ka.req.pod.containers.privileged", "0", "true"},
        {"ka.req.pod.containers.privileged", "1", NULL},
        {"ka.req.pod.containers.allow_privilege_escalation", NULL, "true"},
        {"ka.req.pod.containers.read_only_fs", NULL, "false"},
        {"ka.req.pod.containers.run_as_user", NULL, "0"},
        {"ka.req.pod.containers.eff_run_as_user", NULL, "0|1000"},
        {"ka.req.pod.containers.eff_run_as_user", "1", "1000"},
        {"ka.req.pod.containers.run_as_group", NULL, "7"},
        {"ka.req.pod.containers.eff_run_as_group", NULL, "3000|7"},
        {"ka.req.pod.containers.proc_mount", NULL, "Unmasked"},
        {"ka.req.pod.containers.add_capabilities", NULL, "NET_ADMIN|SYS_TIME"},
        {"ka.req.pod.containers.add_capabilities", "1", NULL},
        {"ka.req.container.image", NULL, "registry.example:5000/team/app:1.2"},
        {"ka.req.container.image.repository", NULL, "registry.example:5000/team/app"},
        {"ka.req.container.privileged", NULL, "true"},
        {"ka.req.container.host_network", NULL, "true"},
        {"ka.req.pod.initContainers.name", NULL, "i1"},
        {"ka.req.pod.initContainers.image.repository", NULL, "busybox"},
        {"ka.req.pod.initContainers.privileged", NULL, "false"},
        {"ka.req.pod.initContainers.host_port", NULL, "9000"},
        {"ka.req.pod.initContainers.eff_run_as_user", NULL, "1000"},
        {"ka.req.pod.initContainers.command", NULL, NULL},
        {"ka.req.pod.ephemeralContainers.name", "0", "dbg"},
        {"ka.req.pod.ephemeralContainers.privileged", NULL, "true"},
        {"ka.req.pod.ephemeralContainers.image.repository", NULL, "alpine"},
        {"ka.req.pod.ephemeralContainers.eff_run_as_group", NULL, "3000"},
    };
    RUN(EV_POD, t);
}

Test(dfields, pod_level_and_volumes)
{
    static const struct fcase t[] = {
        {"ka.req.pod.host_ipc", NULL, NULL},
        {"ka.req.pod.host_network", NULL, "true"},
        {"ka.req.pod.host_pid", NULL, "false"},
        {"ka.req.pod.run_as_user", NULL, "1000"},
        {"ka.req.pod.run_as_group", NULL, "3000"},
        {"ka.req.pod.fs_group", NULL, "2000"},
        {"ka.req.pod.supplemental_groups", NULL, "4000|5000"},
        {"ka.req.pod.volumes.hostpath", NULL, "/var/run//docker.sock/|/etc/../proc/./1"},
        {"ka.req.pod.volumes.hostpath", "2", "/etc/../proc/./1"},
        {"ka.req.pod.volumes.hostpath", "1", NULL},
        {"ka.req.pod.volumes.flexvolume_driver", NULL, "ex/drv"},
        {"ka.req.pod.volumes.volume_type", NULL, "hostPath|secret|hostPath|flexVolume"},
        {"ka.req.pod.volumes.volume_type", "1", "secret"},
        {"ka.req.volume.hostpath", "/etc*", "true"},
        {"ka.req.volume.hostpath", "/var/run*", "true"},
        {"ka.req.volume.hostpath", "/var/run/docker.sock", "false"},
        {"ka.req.volume.hostpath", "/etc/../proc/./1", "true"},
        {"ka.req.volume.hostpath", "/root", "false"},
        {"ka.req.service.type", NULL, NULL},
    };
    RUN(EV_POD, t);
}

Test(dfields, json_pointer_and_rendering)
{
    static const struct fcase t[] = {
        {"jevt.value", "/objectRef/resource", "pods"},
        {"json.value", "/objectRef/resource", "pods"},
        {"jevt.value", "/requestObject/spec/containers/1/name", "c2"},
        {"jevt.value", "/requestObject/spec/containers/01/name", NULL},
        {"jevt.value", "/requestObject/spec/containers/9", NULL},
        {"jevt.value", "/requestObject/spec/hostNetwork", "true"},
        {"jevt.value", "/responseStatus/code", "201"},
        {"jevt.value", "/annotations/authorization.k8s.io~1decision", "allow"},
        {"jevt.value", "/a~1~0b", NULL},
        {"jevt.value", "/requestObject/spec/securityContext/supplementalGroups", "[4000,5000]"},
        {"jevt.value", "/sourceIPs", "[\"10.0.0.1\",\"10.0.0.2\"]"},
        {"jevt.value", "/requestObject/spec/containers/0/ports/1",
         "{\"containerPort\":443,\"hostPort\":8443}"},
        {"jevt.value", "/verb/x", NULL},
    };
    RUN(EV_POD, t);
}

Test(dfields, evt_fields)
{
    static const struct fcase t[] = {
        {"evt.num", NULL, "42"},
        {"evt.time", NULL, "1723614057123456789"},
        {"evt.rawtime", NULL, "1723614057123456789"},
        {"jevt.rawtime", NULL, "1723614057123456789"},
        {"json.rawtime", NULL, "1723614057123456789"},
        {"evt.time.s", NULL, "05:40:57"},
        {"evt.time.iso8601", NULL, "2024-08-14T05:40:57.123456789Z"},
        {"evt.datetime", NULL, "2024-08-14 05:40:57.123456789"},
        {"evt.datetime.s", NULL, "2024-08-14 05:40:57"},
        {"evt.rawtime.s", NULL, "1723614057"},
        {"evt.rawtime.ns", NULL, "123456789"},
        {"evt.reltime", NULL, "0"},
        {"evt.pluginname", NULL, "k8saudit"},
        {"evt.plugininfo", NULL, NULL},
        {"evt.source", NULL, "k8s_audit"},
        {"evt.is_async", NULL, "false"},
        {"evt.asynctype", NULL, NULL},
        {"evt.hostname", NULL, "h1"},
    };
    RUN(EV_POD, t);
}

Test(dfields, kaudit_pod_on_pod)
{
    static const struct fcase t[] = {
        {"kaudit.pod.source", NULL, "pod"},
        {"kaudit.pod.containers.name", NULL, "c1|c2|i1|dbg"},
        {"kaudit.pod.containers.image", NULL,
         "registry.example:5000/team/app:1.2|nginx@sha256:abcd|busybox:1.36|alpine"},
        {"kaudit.pod.containers.image.repository", NULL,
         "registry.example:5000/team/app|nginx|busybox|alpine"},
        {"kaudit.pod.containers.privileged", NULL, "true|false|true"},
        {"kaudit.pod.containers.allow_privilege_escalation", NULL, "true"},
        {"kaudit.pod.containers.run_as_user", NULL, "0|1000|1000|1000"},
        {"kaudit.pod.containers.host_port", NULL, "8443|9000"},
        {"kaudit.pod.containers.add_capabilities", NULL, "NET_ADMIN|SYS_TIME"},
        {"kaudit.pod.containers.proc_mount", NULL, "Unmasked"},
        {"kaudit.pod.host_network", NULL, "true"},
        {"kaudit.pod.host_pid", NULL, "false"},
        {"kaudit.pod.host_ipc", NULL, NULL},
        {"kaudit.pod.run_as_user", NULL, "1000"},
        {"kaudit.pod.volumes.hostpath", NULL, "/var/run/docker.sock|/proc/1"},
        {"kaudit.pod.seccomp", NULL, "Unconfined|RuntimeDefault"},
        {"kaudit.pod.apparmor", NULL, "Unconfined|Unconfined"},
    };
    RUN(EV_POD, t);
}

static const char *const EV_ROLE =
    "{\"auditID\":\"r-1\",\"stage\":\"ResponseComplete\",\"verb\":\"create\","
    "\"objectRef\":{\"resource\":\"clusterroles\",\"name\":\"r\"},"
    "\"requestObject\": {\"kind\":\"ClusterRole\", \"rules\": [ {\"apiGroups\": [\"\"],"
    " \"resources\": [\"pods\", \"pods/exec\"], \"verbs\": [\"get\", \"create\"]},\n"
    " {\"nonResourceURLs\": [\"/healthz\"], \"verbs\": [\"get\"]} ] },"
    "\"stageTimestamp\":\"2024-01-01T00:00:00Z\"}";

Test(dfields, role_rules)
{
    static const struct fcase t[] = {
        {"ka.req.role.rules", NULL,
         "{\"apiGroups\":[\"\"],\"resources\":[\"pods\",\"pods/exec\"],\"verbs\":[\"get\","
         "\"create\"]}|{\"nonResourceURLs\":[\"/healthz\"],\"verbs\":[\"get\"]}"},
        {"ka.req.role.rules.verbs", NULL, "get|create|get"},
        {"ka.req.role.rules.verbs", "1", "get"},
        {"ka.req.role.rules.verbs", "2", NULL},
        {"ka.req.role.rules.resources", NULL, "pods|pods/exec"},
        {"ka.req.role.rules.apiGroups", NULL, ""},
        {"ka.req.role.rules.nonResourceURLs", NULL, "/healthz"},
        {"ka.req.role.rules.nonResourceURLs", "0", NULL},
        {"evt.time.iso8601", NULL, "2024-01-01T00:00:00.000000000Z"},
        {"ka.req.pod.containers.image", NULL, NULL},
        {"kaudit.pod.source", NULL, NULL},
    };
    RUN(EV_ROLE, t);
}

static const char *const EV_BIND =
    "{\"auditID\":\"b-1\",\"verb\":\"create\",\"objectRef\":{\"resource\":"
    "\"clusterrolebindings\",\"name\":\"b\"},\"requestObject\":{\"subjects\":["
    "{\"kind\":\"User\",\"name\":\"u1\",\"apiGroup\":\"rbac.authorization.k8s.io\"},"
    "{\"kind\":\"Group\",\"name\":\"g1\"},{\"kind\":\"ServiceAccount\",\"name\":\"sa1\","
    "\"namespace\":\"kube-system\"},{\"kind\":\"User\",\"name\":\"u\\u00e9\"}],"
    "\"roleRef\":{\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\"}}}";

Test(dfields, bindings)
{
    static const struct fcase t[] = {
        {"ka.req.binding.subjects", NULL,
         "{\"kind\":\"User\",\"name\":\"u1\",\"apiGroup\":\"rbac.authorization.k8s.io\"}|"
         "{\"kind\":\"Group\",\"name\":\"g1\"}|{\"kind\":\"ServiceAccount\",\"name\":\"sa1\","
         "\"namespace\":\"kube-system\"}|{\"kind\":\"User\",\"name\":\"u\\u00e9\"}"},
        {"ka.req.binding.subjects.user_names", NULL, "u1|u\xc3\xa9"},
        {"ka.req.binding.subjects.group_names", NULL, "g1"},
        {"ka.req.binding.subjects.serviceaccount_names", NULL, "sa1"},
        {"ka.req.binding.subjects.serviceaccount_ns_names", NULL, "kube-system:sa1"},
        {"ka.req.binding.role", NULL, "cluster-admin"},
        {"ka.req.binding.subject.has_name", "cluster-admin", "true"},
        {"evt.time", NULL, NULL},
    };
    RUN(EV_BIND, t);
}

static const char *const EV_SVC =
    "{\"auditID\":\"s-1\",\"verb\":\"create\",\"objectRef\":{\"resource\":\"services\"},"
    "\"requestObject\":{\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
    "\"nodePort\":30080},{\"port\":443}]},\"data\":{ \"a\" : \"x y\",\t\"n\": 1.50 }}}";

Test(dfields, service_and_configmap_rendering)
{
    static const struct fcase t[] = {
        {"ka.req.service.type", NULL, "NodePort"},
        {"ka.req.service.ports", NULL, "{\"port\":80,\"nodePort\":30080}|{\"port\":443}"},
        {"ka.req.service.ports", "1", "{\"port\":443}"},
        {"ka.req.configmap.obj", NULL, "{\"a\":\"x y\",\"n\":1.50}"},
        {"jevt.value", "/requestObject/data/n", "1.50"},
    };
    RUN(EV_SVC, t);
}

static const char *const EV_EXEC =
    "{\"auditID\":\"e-1\",\"verb\":\"create\",\"stage\":\"ResponseStarted\","
    "\"requestURI\":\"/api/v1/namespaces/default/pods/p/exec?command=sh\\u0026command=-c"
    "\\u0026command=cat%20%2Fvar%2Frun%2Fsecrets+x\\u0026container=c\\u0026stdin=true"
    "\\u0026bad=%zz\\u0026a;b=1#frag\","
    "\"objectRef\":{\"resource\":\"pods\",\"subresource\":\"exec\",\"name\":\"p\","
    "\"namespace\":\"default\"}}";

Test(dfields, exec_uri_params)
{
    static const struct fcase t[] = {
        {"ka.uri.param", "command", "sh"},
        {"ka.uri.param", "container", "c"},
        {"ka.uri.param", "bad", NULL},
        {"ka.uri.param", "a;b", NULL},
        {"kaudit.exec.argv", NULL, "sh|-c|cat /var/run/secrets x"},
        {"kaudit.exec.command", NULL, "sh -c cat /var/run/secrets x"},
        {"ka.target.subresource", NULL, "exec"},
        {"ka.target.pod.name", NULL, NULL},
    };
    RUN(EV_EXEC, t);
}

static const char *const EV_ESCAPED = "{\"auditID\":\"\\u0061\",\"verb\":\"cr\\u0065ate\",\"requestURI\":\"/api/v1/namespaces/d/pods/p/attach?command=%E2%9C%93\\u0026command=\\u0026command\\u0026=x\\u0026command=%\",\"objectRef\":{\"resource\":\"p\\u006fds\",\"subresource\":\"attach\"},\"user\":{\"username\":\"system:serviceaccount:\\u006e:s\"},\"sourceIPs\":[\"\\u0031.2.3.4\"],\"annotations\":{\"kaudit.io\\/cluster\":\"c\\ud800\"},\"requestObject\":{\"sp\\u0065c\":{\"containers\":[{\"image\":\"a\\/b:c\",\"command\":[\"x\",1,true,null,{\"k\":[1, 2]}],\"ports\":[{\"hostPort\":null},{\"hostPort\":1e3}]}],\"securityContext\":{\"runAsUser\":-0.5e-3}}},\"stageTimestamp\":\"1969-12-31T23:59:59.999999999Z\"}";

Test(dfields, escapes_and_odd_values)
{
    static const struct fcase t[] = {
        {"ka.auditid", NULL, "a"},
        {"ka.verb", NULL, "create"},
        {"ka.target.resource", NULL, "pods"},
        {"kaudit.exec.argv", NULL, "\xe2\x9c\x93||"},
        {"kaudit.exec.command", NULL, "\xe2\x9c\x93  "},
        {"ka.uri.param", "command", "\xe2\x9c\x93"},
        {"ka.sourceips", NULL, "1.2.3.4"},
        {"kaudit.cluster", NULL, "c\xef\xbf\xbd"},
        {"ka.req.pod.containers.image.repository", NULL, "a/b"},
        {"ka.req.pod.containers.command", NULL, "x 1 true null {\"k\":[1,2]}"},
        {"ka.req.pod.containers.host_port", NULL, "1e3"},
        {"kaudit.pod.containers.host_port", NULL, NULL}, /* pods/attach carries no spec */
        {"ka.req.pod.run_as_user", NULL, "-0.5e-3"},
        {"ka.req.pod.containers.eff_run_as_user", NULL, "-0.5e-3"},
        {"evt.time", NULL, "-1"},
        {"evt.time.s", NULL, "23:59:59"},
        {"evt.time.iso8601", NULL, "1969-12-31T23:59:59.999999999Z"},
        {"kaudit.tokenrequest.sa", NULL, NULL},
    };
    RUN(EV_ESCAPED, t);
}

/* ---- resolution ---- */

static void expect_resolve(const char *name, const char *arg, int want, const char *msg_part)
{
    struct ka_dfield f;
    char msg[160] = "";
    int rc = ka_dfield_resolve(name, arg, &f, msg, sizeof msg);
    cr_expect_eq(rc, want, "%s[%s]: rc %d, want %d (%s)", name, arg ? arg : "-", rc, want, msg);
    if (msg_part)
        cr_expect(strstr(msg, msg_part) != NULL, "msg '%s' lacks '%s'", msg, msg_part);
}

Test(dfields, resolve_errors)
{
    expect_resolve("ka.foo", NULL, KA_ENOENT, "unknown field 'ka.foo'");
    expect_resolve("ka.uri.param", NULL, KA_EINVAL, "requires");
    expect_resolve("ka.uri.param", "", KA_EINVAL, "non-empty");
    expect_resolve("ka.req.volume.hostpath", NULL, KA_EINVAL, "requires");
    expect_resolve("ka.req.binding.subject.has_name", NULL, KA_EINVAL, NULL);
    expect_resolve("ka.verb", "x", KA_EINVAL, "takes no argument");
    expect_resolve("ka.user.groups", "0", KA_EINVAL, NULL);
    expect_resolve("ka.req.pod.containers.image", "abc", KA_EINVAL, "index");
    expect_resolve("ka.req.pod.containers.image", "-1", KA_EINVAL, "index");
    expect_resolve("ka.req.pod.containers.image", "", KA_EINVAL, "index");
    expect_resolve("jevt.value", "foo", KA_EINVAL, "pointer");
    expect_resolve("jevt.value", "/a~2", KA_EINVAL, "pointer");
    expect_resolve("jevt.value", "/a~", KA_EINVAL, "pointer");
    char big[KA_DFIELD_MAX_ARG + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_resolve("ka.uri.param", big, KA_EINVAL, "too long");
    big[KA_DFIELD_MAX_ARG] = '\0';
    expect_resolve("ka.uri.param", big, KA_OK, NULL);
    expect_resolve("jevt.value", NULL, KA_OK, NULL);
    expect_resolve("jevt.value", "", KA_OK, NULL);
    expect_resolve("ka.req.pod.containers.image", NULL, KA_OK, NULL);
}

Test(dfields, resolve_flags)
{
    struct ka_dfield f;
    char msg[128];
    cr_assert_eq(ka_dfield_resolve("ka.req.pod.containers.privileged", "3", &f, msg, sizeof msg),
                 KA_OK);
    cr_expect(f.is_list && !f.numeric && f.has_arg && f.index == 3);
    cr_expect_str_eq(f.arg, "3");
    cr_expect_str_eq(ka_dfield_name(&f), "ka.req.pod.containers.privileged");
    cr_assert_eq(ka_dfield_resolve("ka.verb", NULL, &f, msg, sizeof msg), KA_OK);
    cr_expect(!f.is_list && !f.numeric && !f.has_arg && f.index == -1 && f.arg[0] == '\0');
    cr_assert_eq(ka_dfield_resolve("evt.time", NULL, &f, msg, sizeof msg), KA_OK);
    cr_expect(f.numeric && !f.is_list);
    cr_assert_eq(ka_dfield_resolve("evt.time.iso8601", NULL, &f, msg, sizeof msg), KA_OK);
    cr_expect(!f.numeric);
    cr_assert_eq(ka_dfield_resolve("ka.uri.param", "command", &f, msg, sizeof msg), KA_OK);
    cr_expect(!f.is_list && f.has_arg && f.index == -1);
    cr_assert_eq(ka_dfield_resolve("jevt.value", "/a/b", &f, msg, sizeof msg), KA_OK);
    cr_expect_str_eq(f.arg, "/a/b");
    cr_assert_eq(ka_dfield_resolve("kaudit.exec.argv", NULL, &f, msg, sizeof msg), KA_OK);
    cr_expect(f.is_list);
}

struct counts {
    int ka, init, eph, json, evt, kaudit, total, keyed, dup;
    const char *names[512];
};

static void count_fn(void *ud, const char *name, bool is_list, enum ka_dfield_arg arg,
                     const char *desc)
{
    struct counts *c = ud;
    cr_assert(desc && *desc, "%s has no description", name);
    for (int i = 0; i < c->total; i++)
        if (strcmp(c->names[i], name) == 0)
            c->dup++;
    c->names[c->total++] = name;
    c->ka += strncmp(name, "ka.", 3) == 0;
    c->init += strncmp(name, "ka.req.pod.initContainers.", 26) == 0;
    c->eph += strncmp(name, "ka.req.pod.ephemeralContainers.", 31) == 0;
    c->json += strncmp(name, "jevt.", 5) == 0 || strncmp(name, "json.", 5) == 0;
    c->evt += strncmp(name, "evt.", 4) == 0;
    c->kaudit += strncmp(name, "kaudit.", 7) == 0;
    c->keyed += arg == KA_DFIELD_ARG_KEY;
    if (arg == KA_DFIELD_ARG_INDEX)
        cr_expect(is_list, "%s takes an index but is not a list", name);
}

Test(dfields, catalogue_counts)
{
    static struct counts c;
    memset(&c, 0, sizeof c);
    ka_dfield_each(count_fn, &c);
    cr_expect_eq(c.ka, 100, "ka.* fields: %d", c.ka);
    cr_expect_eq(c.init, 15);
    cr_expect_eq(c.eph, 14);
    cr_expect_eq(c.json, 6);
    cr_expect_eq(c.evt, 18);
    cr_expect_eq(c.keyed, 3);
    cr_expect_eq(c.dup, 0);
    cr_expect_eq(c.total, c.ka + c.json + c.evt + c.kaudit);
    cr_expect_geq(c.kaudit, 20);
}

/* ---- cache and arena ---- */

Test(dfields, cache_by_slot_and_reset)
{
    struct ka_event ev1, ev2;
    char *b1 = strdup(EV_ROLE), *b2 = strdup(EV_BIND);
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(b1, strlen(b1), NULL, &ev1, &err), KA_OK);
    cr_assert_eq(ka_event_scan(b2, strlen(b2), NULL, &ev2, &err), KA_OK);
    struct ka_dctx *c;
    cr_assert_eq(ka_dctx_new(2, &c), KA_OK);
    struct ka_dfield f, g;
    cr_assert_eq(ka_dfield_resolve("ka.auditid", NULL, &f, NULL, 0), KA_OK);
    cr_assert_eq(ka_dfield_resolve("ka.verb", NULL, &g, NULL, 0), KA_OK);
    f.slot = 0;
    g.slot = 7; /* beyond n_slots: extracted without caching */
    struct ka_dvals a, b, x;
    ka_dctx_reset(c, &ev1, 1, NULL);
    cr_assert_eq(ka_dctx_event(c), &ev1);
    cr_assert_eq(ka_dctx_extract(c, &f, &a), KA_OK);
    cr_assert_eq(ka_dctx_extract(c, &f, &b), KA_OK);
    cr_expect_eq(a.v, b.v, "cached extraction must return the same values");
    cr_expect_str_eq(a.v[0], "r-1");
    cr_assert_eq(ka_dctx_extract(c, &g, &x), KA_OK);
    cr_expect_str_eq(x.v[0], "create");
    ka_dctx_reset(c, &ev2, 2, NULL);
    cr_assert_eq(ka_dctx_extract(c, &f, &a), KA_OK);
    cr_expect_str_eq(a.v[0], "b-1");
    ka_dctx_free(c);
    ka_dctx_free(NULL);
    free(b1);
    free(b2);
}

Test(dfields, arena_settles_to_one_chunk)
{
    /* An event bigger than one chunk: after the reset, one chunk holds everything. */
    size_t nv = 3000;
    size_t cap = nv * 40 + 256;
    char *big = malloc(cap);
    size_t o = (size_t)snprintf(big, cap, "{\"auditID\":\"z\",\"requestObject\":{\"rules\":[{\"verbs\":[");
    for (size_t i = 0; i < nv; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s\"verb-number-%05zu\"", i ? "," : "", i);
    o += (size_t)snprintf(big + o, cap - o, "]}]}}");
    struct ka_event ev;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(big, o, NULL, &ev, &err), KA_OK, "%s", err.msg);
    struct ka_dctx *c;
    cr_assert_eq(ka_dctx_new(1, &c), KA_OK);
    struct ka_dfield f;
    cr_assert_eq(ka_dfield_resolve("ka.req.role.rules.verbs", NULL, &f, NULL, 0), KA_OK);
    struct ka_dvals v;
    for (int round = 0; round < 3; round++) {
        ka_dctx_reset(c, &ev, (uint64_t)round, NULL);
        cr_assert_eq(ka_dctx_extract(c, &f, &v), KA_OK);
        cr_assert_eq(v.n, nv);
        cr_expect_str_eq(v.v[nv - 1], "verb-number-02999");
        if (round > 0)
            cr_expect_null(c->chunks->next, "round %d needed a second chunk", round);
    }
    ka_dctx_free(c);
    free(big);
}

Test(dfields, value_limit)
{
    size_t nv = KA_DFIELD_MAX_VALUES + 10, cap = nv * 6 + 256;
    char *big = malloc(cap);
    size_t o = (size_t)snprintf(big, cap, "{\"auditID\":\"z\",\"sourceIPs\":[");
    for (size_t i = 0; i < nv; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s\"%zu\"", i ? "," : "", i % 10);
    o += (size_t)snprintf(big + o, cap - o, "]}");
    struct ka_event ev;
    struct ka_scan_err err;
    cr_assert_eq(ka_event_scan(big, o, NULL, &ev, &err), KA_OK, "%s", err.msg);
    struct ka_dctx *c;
    cr_assert_eq(ka_dctx_new(1, &c), KA_OK);
    struct ka_dfield f;
    cr_assert_eq(ka_dfield_resolve("ka.sourceips", NULL, &f, NULL, 0), KA_OK);
    struct ka_dvals v;
    ka_dctx_reset(c, &ev, 0, NULL);
    cr_assert_eq(ka_dctx_extract(c, &f, &v), KA_OK);
    cr_expect_eq(v.n, KA_DFIELD_MAX_VALUES);
    cr_expect_eq(c->dropped, 10);
    ka_dctx_free(c);
    free(big);
}

Test(dfields, helpers)
{
    char out[64];
    static const char *const paths[][2] = {
        {"/var/run//docker.sock/", "/var/run/docker.sock"}, {"/./etc/../proc", "/proc"},
        {"/../..", "/"}, {"/", "/"}, {"//", "/"}, {"/a/b/../../c/", "/c"},
        {"rel/./x/", "rel/x"}, {"/var/lib/kubelet/pods/..", "/var/lib/kubelet"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        size_t n = ka__norm_path(paths[i][0], strlen(paths[i][0]), out);
        cr_expect_str_eq(out, paths[i][1], "%s", paths[i][0]);
        cr_expect_eq(n, strlen(paths[i][1]));
    }
    static const char *const imgs[][2] = {
        {"nginx", "nginx"}, {"nginx:1.25", "nginx"}, {"nginx@sha256:ab", "nginx"},
        {"nginx:1.25@sha256:ab", "nginx"}, {"registry.example:5000/team/app:1", "registry.example:5000/team/app"},
        {"registry.example:5000/team/app", "registry.example:5000/team/app"},
        {"localhost:5000/a@sha256:x", "localhost:5000/a"}, {"docker.io/library/nginx:latest", "docker.io/library/nginx"},
    };
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++)
        cr_expect_eq(ka__image_repo(imgs[i][0], strlen(imgs[i][0])), strlen(imgs[i][1]), "%s",
                     imgs[i][0]);
}

/* ---- real events ---- */

/* Reads the first line of a fixture that contains needle (NULL = the first line). */
static char *fixture_line(const char *name, const char *needle)
{
    char rel[256];
    snprintf(rel, sizeof rel, "data/real/falco-k8s_audit/%s", name);
    const char *path = ka_t_shared(rel);
    size_t n;
    char *all = ka_t_read_file(path, &n);
    cr_assert_not_null(all, "%s", path);
    char *line = all;
    for (;;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!needle || strstr(line, needle)) {
            char *r = strdup(line);
            free(all);
            return r;
        }
        cr_assert_not_null(nl, "%s: no line with %s", name, needle);
        line = nl + 1;
    }
}

#define RUN_REAL(file, needle, tab)                                                    \
    do {                                                                               \
        char *line_ = fixture_line(file, needle);                                      \
        run_table(line_, tab, sizeof(tab) / sizeof(tab)[0]);                           \
        free(line_);                                                                   \
    } while (0)

Test(dfields, real_pods)
{
    static const struct fcase priv[] = {
        {"ka.req.pod.containers.privileged", NULL, "true"},
        {"ka.req.container.privileged", NULL, "true"},
        {"ka.req.pod.containers.image.repository", NULL, "nginx"},
        {"ka.req.container.image", NULL, "nginx"},
        {"ka.target.namespace", NULL, "default"},
        {"ka.user.name", NULL, "system:serviceaccount:kube-system:replicaset-controller"},
        {"ka.sourceips", NULL, "::1"},
        {"ka.response.code", NULL, "201"},
        {"kaudit.pod.source", NULL, "pod"},
        {"kaudit.pod.containers.privileged", NULL, "true"},
        {"ka.req.pod.containers.eff_run_as_user", NULL, "0"},
        {"jevt.value", "/requestObject/spec/securityContext", "{}"},
    };
    RUN_REAL("create_nginx_pod_privileged.json", NULL, priv);
    static const struct fcase mount[] = {
        {"ka.req.pod.volumes.hostpath", NULL, "/etc"},
        {"ka.req.volume.hostpath", "/etc", "true"},
        {"ka.req.volume.hostpath", "/proc*", "false"},
        {"kaudit.pod.volumes.hostpath", NULL, "/etc"},
        {"ka.req.container.privileged", NULL, "false"},
        {"jevt.rawtime", NULL, "1540488971693676000"},
    };
    RUN_REAL("create_nginx_pod_sensitive_mount.json", NULL, mount);
    static const struct fcase unpriv[] = {
        {"jevt.value", "/annotations/authorization.k8s.io~1decision", "allow"},
        {"jevt.value", "/a~1~0b", NULL},
        {"jevt.value", "/stage", "ResponseComplete"},
    };
    RUN_REAL("create_nginx_pod_unprivileged.json", NULL, unpriv);
}

Test(dfields, real_rbac_service_exec)
{
    static const struct fcase crb[] = {
        {"ka.req.binding.subjects.user_names", NULL, "minikube"},
        {"ka.req.binding.role", NULL, "system:basic-user"},
        {"ka.req.binding.subjects", NULL,
         "{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"User\",\"name\":\"minikube\"}"},
        {"ka.auth.reason", NULL, ""},
        {"ka.sourceips", "0", "192.168.99.1"},
    };
    RUN_REAL("create_clusterrolebinding.json", NULL, crb);
    static const struct fcase verbs[] = {
        {"ka.req.role.rules.verbs", NULL, "*|get"},
        {"ka.req.role.rules.resources", NULL, "pods"},
        {"ka.req.role.rules.nonResourceURLs", "1",
         "/api|/api/*|/apis|/apis/*|/healthz|/openapi|/openapi/*|/swagger-2.0.0.pb-v1|"
         "/swagger.json|/swaggerapi|/swaggerapi/*|/version|/version/"},
    };
    RUN_REAL("create_cluster_role_wildcard_verbs.json", NULL, verbs);
    static const struct fcase svc[] = {
        {"ka.req.service.type", NULL, "NodePort"},
        {"ka.req.service.ports", NULL,
         "{\"nodePort\":30080,\"port\":80,\"protocol\":\"TCP\",\"targetPort\":80}"},
    };
    RUN_REAL("create_nginx_service_nodeport.json", "NodePort", svc);
    static const struct fcase ex[] = {
        {"ka.uri.param", "command", "bash"},
        {"ka.uri.param", "container", "nginx1"},
        {"kaudit.exec.argv", NULL, "bash"},
        {"kaudit.exec.command", NULL, "bash"},
        {"ka.target.subresource", NULL, "exec"},
    };
    RUN_REAL("exec_pod.json", NULL, ex);
}

static const char *const EV_NONROOT =
    "{\"auditID\":\"n-1\",\"verb\":\"create\",\"objectRef\":{\"resource\":\"pods\","
    "\"namespace\":\"ns\"},\"requestObject\":{\"kind\":\"Pod\",\"spec\":{\"securityContext\":"
    "{\"runAsNonRoot\":true},\"containers\":[{\"name\":\"a\",\"securityContext\":"
    "{\"runAsNonRoot\":false}},{\"name\":\"b\"}],\"initContainers\":[{\"name\":\"i\","
    "\"securityContext\":{\"runAsNonRoot\":null}}]}}}";

static const char *const EV_NONROOT_UNSET =
    "{\"auditID\":\"n-2\",\"verb\":\"create\",\"objectRef\":{\"resource\":\"pods\"},"
    "\"requestObject\":{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"a\"},"
    "{\"name\":\"b\",\"securityContext\":{\"runAsNonRoot\":true}}]}}}";

/* kaudit.pod.containers.run_as_non_root: the container's setting, else the pod's; [N] counts
   every container of every kind in order. */
Test(dfields, kaudit_run_as_non_root_and_container_index)
{
    static const struct fcase t[] = {
        {"kaudit.pod.containers.run_as_non_root", NULL, "false|true|true"},
        {"kaudit.pod.containers.run_as_non_root", "0", "false"},
        {"kaudit.pod.containers.run_as_non_root", "1", "true"},
        {"kaudit.pod.containers.run_as_non_root", "2", "true"},
        {"kaudit.pod.containers.run_as_non_root", "3", NULL},
        {"kaudit.pod.containers.name", "2", "i"},
    };
    RUN(EV_NONROOT, t);
    static const struct fcase u[] = {
        {"kaudit.pod.containers.run_as_non_root", NULL, "true"},
        {"kaudit.pod.containers.run_as_non_root", "0", NULL},
        {"kaudit.pod.containers.run_as_non_root", "1", "true"},
    };
    RUN(EV_NONROOT_UNSET, u);
    static const struct fcase v[] = {
        {"kaudit.pod.containers.run_as_user", "0", "0"},
        {"kaudit.pod.containers.run_as_user", "1", "1000"},
        {"kaudit.pod.containers.name", "3", "dbg"},
        {"kaudit.pod.containers.name", "4", NULL},
    };
    RUN(EV_POD, v);
}

Test(dfields, kaudit_exec_argv_index)
{
    static const struct fcase t[] = {
        {"kaudit.exec.argv", "0", "sh"},
        {"kaudit.exec.argv", "1", "-c"},
        {"kaudit.exec.argv", "2", "cat /var/run/secrets x"},
        {"kaudit.exec.argv", "3", NULL},
        {"kaudit.exec.argv", NULL, "sh|-c|cat /var/run/secrets x"},
    };
    RUN(EV_EXEC, t);
}

Test(dfields, kaudit_target_ref)
{
    static const struct fcase t[] = {{"kaudit.target.ref", NULL, "pods/ns1/p1"}};
    RUN(EV_POD, t);
    static const struct fcase u[] = {{"kaudit.target.ref", NULL, NULL}};
    RUN(EV_NONROOT, u); /* no name */
    static const char ev_cluster[] =
        "{\"auditID\":\"c-1\",\"verb\":\"get\",\"objectRef\":{\"resource\":\"nodes\","
        "\"name\":\"n\\u00e9\"}}";
    static const struct fcase v[] = {{"kaudit.target.ref", NULL, "nodes/n\xc3\xa9"}};
    RUN(ev_cluster, v);
}
