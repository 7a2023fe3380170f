#!/usr/bin/env bash
# detect_gen.sh - accuracy of kaudit's default rules on generated traffic: every labelled attack
# of `kaudit gen --attacks` must be detected, and the generator's normal traffic must raise no
# alert at WARNING or above. python3 (stdlib) is the independent oracle that joins alerts with
# the generator's ground-truth labels.
# Usage: detect_gen.sh KAUDIT_BINARY SHARED_DIR (SHARED_DIR is not needed: data is generated).
# EVENTS=N overrides the number of generated events (default 200000); SEEDS="1 7" the seeds.
# Exit 0 when every check passes, 1 otherwise, 77 (skip) when python3 is missing.
set -u
bin=${1:?usage: detect_gen.sh KAUDIT_BINARY SHARED_DIR}
command -v python3 >/dev/null || { echo "python3 not installed: skipping"; exit 77; }
tmp=$(mktemp -d /tmp/kaudit-detect-gen-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
events=${EVENTS:-200000}
fail=0 pass=0

for seed in ${SEEDS:-1 7}; do
    "$bin" gen --seed "$seed" --events "$events" --attacks --labels "$tmp/labels.tsv" \
        -o "$tmp/audit.log" || { echo "FAIL: kaudit gen"; exit 1; }
    "$bin" detect --rule-matching all --stats "$tmp/audit.log" >"$tmp/alerts.json" \
        2>"$tmp/stderr"; rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: kaudit detect exited $rc"; cat "$tmp/stderr"; fail=$((fail + 1)); continue
    fi
    python3 - "$tmp/audit.log" "$tmp/labels.tsv" "$tmp/alerts.json" "$seed" <<'EOF' || fail=$((fail + 1))
import json, sys, collections
log, labels, alerts, seed = sys.argv[1:5]
lab = {}
for line in open(labels):
    aid, sc = line.rstrip("\n").split("\t")
    lab[aid] = sc
# Attack instances. For the six scenarios built around malicious requests, each such request
# (the anchor) is an instance and must itself raise an alert: the exec, the binding create, the
# TokenRequest, the pod create, the cluster-wide secret list, each Deployment delete (the
# deployment-delete scenario's watch and list that follow are its other labelled events, part of
# no instance). anonymous-access and
# forbidden-storm are bursts: the labelled events of one principal with less than 5 s between
# them form an instance, detected when any of its events raises an alert. An anonymous request
# to a health endpoint (/healthz, /livez, /readyz) is what load balancers send all day: it is
# part of no instance (the rules deliberately let it pass). The other labelled reads of a
# secret-dump (the per-namespace lists and the gets of single secrets around the cluster-wide
# list) are the attacker's own reads during the dump: an alert on one of them is a true positive
# of the nearest dump (same user, closest in time), though only the anchor's alert counts for
# detecting the instance.
def anchor(sc, e):
    o = e.get("objectRef") or {}
    if e["stage"] == "RequestReceived":
        return False
    if sc == "pod-exec":
        return o.get("subresource") == "exec" and e["stage"] == "ResponseStarted"
    if sc == "cluster-admin-binding":
        return e["verb"] == "create" and o.get("resource") == "clusterrolebindings"
    if sc == "token-request":
        return e["verb"] == "create" and o.get("subresource") == "token"
    if sc == "privileged-pod":
        return e["verb"] == "create" and o.get("resource") == "pods"
    if sc == "secret-dump":
        return e["verb"] == "list" and o.get("resource") == "secrets" and "namespace" not in o
    if sc == "deployment-delete":
        return e["verb"] == "delete" and o.get("resource") == "deployments"
    return None
from datetime import datetime
def ts(s):
    return datetime.strptime(s[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
inst = {}      # auditID -> instance number (events whose alert detects the instance)
inst_sc = []   # instance -> scenario
part = {}      # auditID -> instance number (events of an instance that do not detect it)
bursts = []
reads = []     # (user, time, auditID) of the non-anchor reads of secret-dumps
anchors = collections.defaultdict(list)  # secret-dump user -> [(time, instance)]
for line in open(log):
    e = json.loads(line)
    sc = lab.get(e["auditID"])
    if sc is None:
        continue
    a = anchor(sc, e)
    user = e.get("user", {}).get("username", "")
    if a:
        inst_sc.append(sc)
        inst[e["auditID"]] = len(inst_sc) - 1
        if sc == "secret-dump":
            anchors[user].append((ts(e["stageTimestamp"]), len(inst_sc) - 1))
    elif sc == "secret-dump" and e["stage"] != "RequestReceived" and \
            (e.get("objectRef") or {}).get("resource") == "secrets":
        reads.append((user, ts(e["stageTimestamp"]), e["auditID"]))
    elif a is False and sc == "deployment-delete":
        part[e["auditID"]] = -1   # the watch and the list after the deletes
    elif a is None and e["stage"] != "RequestReceived" and \
            e["requestURI"].split("?")[0] not in ("/healthz", "/livez", "/readyz"):
        bursts.append((sc, e.get("user", {}).get("username", ""), ts(e["stageTimestamp"]),
                       e["auditID"]))
bursts.sort(key=lambda x: (x[0], x[1], x[2]))
prev = None
for sc, user, t, aid in bursts:
    if prev is None or prev[0] != sc or prev[1] != user or t - prev[2] > 5:
        inst_sc.append(sc)
    inst[aid] = len(inst_sc) - 1
    prev = (sc, user, t)
for user, t, aid in reads:
    near = min(anchors.get(user, []), key=lambda x: abs(x[0] - t), default=None)
    if near is None or abs(near[0] - t) > 600:
        print("FAIL: secret-dump read %s has no dump of its user within 10 minutes" % aid)
        sys.exit(1)
    part[aid] = near[1]
SEVERE = {"Emergency", "Alert", "Critical", "Error", "Warning"}
hit_any, hit_warn = set(), set()
fp = collections.Counter()
fp_low = collections.Counter()
rules_on_attacks = collections.Counter()
rules_on_reads = collections.Counter()
rules_by_sc = collections.defaultdict(collections.Counter)  # scenario -> "rule (priority)" -> n
n_alerts = 0
for line in open(alerts):
    a = json.loads(line)
    n_alerts += 1
    aid = a["output_fields"].get("ka.auditid")
    if aid in inst:
        hit_any.add(inst[aid])
        rules_on_attacks[a["rule"]] += 1
        rules_by_sc[inst_sc[inst[aid]]]["%s (%s)" % (a["rule"], a["priority"])] += 1
        if a["priority"] in SEVERE:
            hit_warn.add(inst[aid])
    elif aid in part and part[aid] < 0:
        rules_on_attacks[a["rule"]] += 1
        rules_by_sc["deployment-delete (watch/list)"]["%s (%s)" % (a["rule"], a["priority"])] += 1
    elif aid in part:
        rules_on_attacks[a["rule"]] += 1
        rules_on_reads["%s (%s)" % (a["rule"], a["priority"])] += 1
    elif a["priority"] in SEVERE:
        fp[a["rule"]] += 1
    else:
        fp_low[a["rule"], a["priority"]] += 1
per = collections.Counter(inst_sc)
det = collections.Counter(inst_sc[i] for i in hit_any)
detw = collections.Counter(inst_sc[i] for i in hit_warn)
ok = True
print("seed %s: %d alerts, %d attack instances" % (seed, n_alerts, len(inst_sc)))
for sc in sorted(per):
    print("  %-22s %3d instances, detected %3d (at WARNING+ %3d)" % (sc, per[sc], det[sc], detw[sc]))
    print("    rules: " + ", ".join("%s %d" % kv for kv in sorted(rules_by_sc[sc].items())))
    if det[sc] != per[sc]:
        ok = False
        print("FAIL: %s: %d of %d instances missed" % (sc, per[sc] - det[sc], per[sc]))
print("  rules on attack events: " + ", ".join("%s %d" % kv for kv in sorted(rules_on_attacks.items())))
if rules_by_sc["deployment-delete (watch/list)"]:
    print("  alerts on deployment-delete's watch/list: " + ", ".join(
        "%s %d" % kv for kv in sorted(rules_by_sc["deployment-delete (watch/list)"].items())))
print("  alerts on the secret-dumps' other reads (%d reads): %s" % (
    sum(1 for v in part.values() if v >= 0), ", ".join("%s %d" % kv for kv in sorted(rules_on_reads.items())) or "none"))
print("  false positives at WARNING+ on normal traffic: %d" % sum(fp.values()))
for (r, n) in fp.most_common():
    print("    %s: %d" % (r, n))
print("  alerts below WARNING on normal traffic: " +
      ", ".join("%s (%s) %d" % (r, p, n) for (r, p), n in sorted(fp_low.items())))
if sum(fp.values()):
    ok = False
    print("FAIL: false positives at WARNING or above on normal traffic")
SCENARIOS = {"pod-exec", "secret-dump", "cluster-admin-binding", "token-request",
             "privileged-pod", "anonymous-access", "forbidden-storm", "deployment-delete"}
if set(per) != SCENARIOS:
    ok = False
    print("FAIL: scenarios missing from the generated data: %s; unexpected: %s" % (
        ", ".join(sorted(SCENARIOS - set(per))) or "none",
        ", ".join(sorted(set(per) - SCENARIOS)) or "none"))
sys.exit(0 if ok else 1)
EOF
    [ "$fail" -eq 0 ] && pass=$((pass + 1))
    cat "$tmp/stderr"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
