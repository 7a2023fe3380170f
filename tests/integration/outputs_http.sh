#!/bin/bash
# outputs_http.sh - the Elasticsearch, Loki and Splunk HEC outputs end to end: `kaudit ship`
# sends a generated audit log over real HTTP on loopback to tests/util/recv.py, which validates
# each protocol's exact wire format and injects failures (429, 500/503, dropped connections
# before and after recording, slow answers past the client timeout, per-item _bulk failures,
# late and lost Splunk acks, events refused for good). Then it checks that every event arrived
# exactly once (Elasticsearch: create with _id) or at least once (Loki, Splunk), that the dead
# letters hold exactly the events the receiver refused for good, and that ship exits 0.
# Usage: outputs_http.sh KAUDIT [SHARED]  (exit 77 = skipped). The events are generated here;
# nothing comes from ../shared.
set -u
KAUDIT=${1:?usage: outputs_http.sh KAUDIT [SHARED]}
HERE=$(cd "$(dirname "$0")" && pwd)
RECV="$HERE/../util/recv.py"
N=300

command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
if "$KAUDIT" ship --help 2>&1 | grep -q "not available"; then
    echo "SKIP: kaudit ship is not in this build"
    exit 77
fi

T=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
FAILED=0
PASSED=0

fail() {
    echo "FAIL: $*"
    FAILED=$((FAILED + 1))
}

# N events, auditID ev-00000..; times spread over two days so dated indices differ.
python3 - "$N" > "$T/audit.log" <<'EOF'
import datetime, json, sys
n = int(sys.argv[1])
verbs = ["get", "list", "create", "update", "delete", "watch"]
res = ["pods", "secrets", "configmaps", "deployments"]
for i in range(n):
    t = 1723593600 + i * 600  # 2024-08-14T00:00:00Z + 10 min steps
    ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S") + ".%06dZ" % i
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
          "auditID": "ev-%05d" % i, "stage": "ResponseComplete",
          "requestURI": "/api/v1/namespaces/ns%d/%s" % (i % 5, res[i % 4]),
          "verb": verbs[i % 6], "user": {"username": "user%d" % (i % 7)},
          "sourceIPs": ["10.0.0.%d" % (i % 250)],
          "objectRef": {"resource": res[i % 4], "namespace": "ns%d" % (i % 5),
                        "apiVersion": "v1"},
          "responseStatus": {"metadata": {}, "code": 200},
          "requestReceivedTimestamp": ts, "stageTimestamp": ts}
    print(json.dumps(ev, separators=(",", ":")))
EOF

start_recv() { # NAME ARGS... -> sets PORT
    local name=$1
    shift
    python3 "$RECV" --portfile "$T/$name.port" --max-seconds 300 "$@" > /dev/null 2> "$T/$name.err" &
    PIDS+=($!)
    for _ in $(seq 100); do
        [ -s "$T/$name.port" ] && break
        sleep 0.1
    done
    PORT=$(cat "$T/$name.port" 2>/dev/null) || { fail "$name: recv.py did not start"; return 1; }
}

ctl() { # PORT PATH JSON
    curl -sf -XPOST --data-binary "$3" "http://127.0.0.1:$1$2" > /dev/null || fail "control $2"
}

ship() { # NAME URL [SHIP OPTIONS...]
    local name=$1 url=$2
    shift 2
    "$KAUDIT" ship -q --output "$url" --dead-letter "$T/$name.dead.jsonl" --retries 30 \
        --option backoff_min_ms=20 --option backoff_max_ms=200 --option timeout_ms=1000 \
        --option batch_events=25 "$@" "$T/audit.log" > "$T/$name.out" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || { fail "$name: ship exited $rc"; cat "$T/$name.out"; }
}

# NAME PROTO(es|loki|splunk) MODE(exact|atleast) BASE-URL DEADFILE [REASON-SUBSTRING]
check() {
    curl -sfk "$4/_ctl/state" > "$T/$1.state.json" || { fail "$1: state"; return; }
    if python3 - "$2" "$3" "$T/$1.state.json" "$5" "$N" "${6:-}" <<'EOF'; then
import json, sys
proto, mode, state_f, dead_f, n, reason = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
st = json.load(open(state_f))
ids = {"ev-%05d" % i for i in range(n)}
errs = []
if st["violations"]:
    errs.append("wire-format violations: %s" % st["violations"][:3])
count = {}
if proto == "es":
    for _id, d in st["es"]["docs"].items():
        a = d["doc"]["auditID"]
        if _id != a + "-ResponseComplete":
            errs.append("_id %s for %s" % (_id, a))
        count[a] = count.get(a, 0) + 1
elif proto == "loki":
    for e in st["loki"]:
        a = e["line"]["auditID"]
        count[a] = count.get(a, 0) + 1
else:
    for e in st["splunk"]:
        a = e["event"]["auditID"]
        count[a] = count.get(a, 0) + 1
dead = []
try:
    for line in open(dead_f):
        d = json.loads(line)
        dead.append(d["event"]["auditID"])
        if reason and reason not in d["reason"]:
            errs.append("dead letter reason %r lacks %r" % (d["reason"], reason))
except FileNotFoundError:
    pass
refused = set(st["refused"])
if len(dead) != len(set(dead)):
    errs.append("an event was dead-lettered twice")
if set(dead) != refused:
    errs.append("dead letters %s != refused %s" % (sorted(set(dead))[:5], sorted(refused)[:5]))
if set(count) & set(dead):
    errs.append("delivered and dead: %s" % sorted(set(count) & set(dead))[:5])
if set(count) | set(dead) != ids:
    errs.append("lost: %s" % sorted(ids - set(count) - set(dead))[:5])
if mode == "exact" and any(c != 1 for c in count.values()):
    errs.append("not exactly once")
dups = sum(c - 1 for c in count.values())
print("%s: %d delivered (%d duplicates), %d dead-lettered, %d requests" %
      (proto, len(count), dups, len(dead), len(st["requests"])))
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
        PASSED=$((PASSED + 1))
    else
        fail "$1"
    fi
}

# ---- Elasticsearch: exactly once, per-item failures, two documents refused for good --------
if start_recv es; then
    ctl "$PORT" /_ctl/fail '{"proto":"es","actions":[{"status":429},{"status":500},
        {"drop":"before"},{"drop":"after"},{"delay":2.5},
        {"items":{"ev-00030-ResponseComplete":429,"ev-00031-ResponseComplete":503}},
        {"drop":"after"}]}'
    ctl "$PORT" /_ctl/reject '{"proto":"es","audit_ids":{"ev-00042":400,"ev-00137":400}}'
    ship es "elasticsearch://127.0.0.1:$PORT/?index=kaudit-%25Y.%25m.%25d&api_key=a2V5OnNlY3JldA=="
    check es es exact "http://127.0.0.1:$PORT" "$T/es.dead.jsonl" mapper_parsing_exception
    python3 - "$T/es.state.json" <<'EOF' || fail "es: indices or auth"
import json, sys
st = json.load(open(sys.argv[1]))
idx = {d["index"] for d in st["es"]["docs"].values()}
assert idx == {"kaudit-2024.08.14", "kaudit-2024.08.15", "kaudit-2024.08.16"}, idx
auth = {r.get("auth") for r in st["requests"] if r["status"]}
assert auth == {"ApiKey a2V5OnNlY3JldA=="}, auth
assert st["es"]["conflicts"] >= 1, "no 409 after the lost answers"
EOF
fi

# ---- Loki: at least once, tenant header, one request refused for good ----------------------
if start_recv loki; then
    ctl "$PORT" /_ctl/fail '{"proto":"loki","actions":[{"status":429},{"status":500},
        {"drop":"before"},{"drop":"after"},{"delay":2.5},{"status":503}]}'
    ctl "$PORT" /_ctl/reject '{"proto":"loki","audit_ids":{"ev-00077":400}}'
    ship loki "loki://127.0.0.1:$PORT/?tenant=team-a&labels=cluster,verb,resource&cluster=kind"
    check loki loki atleast "http://127.0.0.1:$PORT" "$T/loki.dead.jsonl" "loki HTTP 400"
    python3 - "$T/loki.state.json" <<'EOF' || fail "loki: labels or tenant"
import json, sys
st = json.load(open(sys.argv[1]))
assert {r.get("tenant") for r in st["requests"] if r["status"]} == {"team-a"}
labels = {tuple(sorted(e["labels"])) for e in st["loki"]}
assert labels == {("cluster", "job", "resource", "verb")}, labels
EOF
fi

# ---- Splunk HEC with indexer acknowledgement: late and lost acks, one event refused ---------
if start_recv splunk --splunk-ack --splunk-token s3cr3t; then
    ctl "$PORT" /_ctl/fail '{"proto":"splunk","actions":[{"ack_pending":3},{"ack_never":true},
        {"status":503},{"status":429},{"drop":"after"},{"delay":2.5},{"ack_pending":1}]}'
    ctl "$PORT" /_ctl/reject '{"proto":"splunk","audit_ids":{"ev-00200":400}}'
    ship splunk "splunk://127.0.0.1:$PORT/?token=s3cr3t&ack=true&ack_poll_ms=20&ack_timeout_ms=500&index=k8s"
    check splunk splunk atleast "http://127.0.0.1:$PORT" "$T/splunk.dead.jsonl" \
        "Invalid data format"
fi

# ---- TLS: elasticsearchs:// verified with our own CA; without it nothing counts as delivered --
mkcerts() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kaudit-test-ca \
        -keyout "$T/ca.key" -out "$T/ca.pem" &&
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/srv.key" \
            -out "$T/srv.csr" &&
        printf 'subjectAltName=IP:127.0.0.1\n' > "$T/ext" &&
        openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
            -CAcreateserial -days 2 -extfile "$T/ext" -out "$T/srv.pem"
}
if ! command -v openssl > /dev/null || ! mkcerts > "$T/openssl.log" 2>&1; then
    fail "tls: cannot make test certificates"
elif start_recv tls --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"; then
    ship tls "elasticsearchs://127.0.0.1:$PORT/?index=logs-kaudit-default" --option "ca=$T/ca.pem"
    check tls es exact "https://127.0.0.1:$PORT" "$T/tls.dead.jsonl"
    head -5 "$T/audit.log" > "$T/five.log"
    "$KAUDIT" ship -q --output "elasticsearchs://127.0.0.1:$PORT/?index=x" --retries 1 \
        --dead-letter "$T/noca.dead.jsonl" --option backoff_min_ms=10 --option backoff_max_ms=20 \
        "$T/five.log" > "$T/noca.out" 2>&1
    if grep -q "5 events read, 0 delivered, 5 dead-lettered" "$T/noca.out" &&
        [ "$(grep -c 'certificate' "$T/noca.dead.jsonl")" -eq 5 ]; then
        PASSED=$((PASSED + 1))
    else
        fail "tls: an unknown CA must not deliver"
        cat "$T/noca.out"
    fi
fi

# ---- Kafka: no broker in Debian; an unreachable broker must never count as delivered ---------
head -20 "$T/audit.log" > "$T/kafka.log"
"$KAUDIT" ship -q --output "kafka://127.0.0.1:1/audit?flush_timeout_ms=500" \
    --dead-letter "$T/kafka.dead.jsonl" --retries 1 --option backoff_min_ms=20 \
    --option backoff_max_ms=50 "$T/kafka.log" > "$T/kafka.out" 2>&1
if grep -q "20 events read, 0 delivered, 20 dead-lettered" "$T/kafka.out" &&
    [ "$(grep -c '"reason":"[^"]*kafka: no delivery report within 500 ms' "$T/kafka.dead.jsonl")" -eq 20 ]; then
    PASSED=$((PASSED + 1))
else
    fail "kafka: unreachable broker"
    cat "$T/kafka.out"
    head -2 "$T/kafka.dead.jsonl"
fi

echo "outputs_http: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
