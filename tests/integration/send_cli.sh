#!/usr/bin/env bash
# send_cli.sh - `kaudit send` against a recording HTTP receiver on 127.0.0.1 (python3 stdlib,
# an independent oracle): exact wire format (path, query, headers, EventList bytes), every
# event delivered once and in order, retries and backoff on 500 / 429 + Retry-After /
# connection reset, undelivered batches reported, --fail-fast, kubeconfig credentials.
# Input events come from `kaudit gen`; no ../shared data is used.
# usage: send_cli.sh KAUDIT [SHARED_DIR]
set -u
KAUDIT=${1:?usage: send_cli.sh KAUDIT}
command -v python3 >/dev/null || { echo "python3 missing; skipped"; exit 77; }
if ! "$KAUDIT" send --help >/dev/null 2>&1; then
    echo "kaudit has no 'send' subcommand in this build; skipped"
    exit 77
fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
T=$(mktemp -d)
RPID=
trap '[ -n "$RPID" ] && kill "$RPID" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

cat >"$T/recv.py" <<'EOF'
# Recording receiver: each request is logged as one JSON line (time, path, headers, body,
# answer). The plan file holds the answers of the next requests, one per line: 200, 500,
# 429:SECONDS (with Retry-After), reset (the connection is closed with RST); then 200.
import http.server, json, socket, struct, sys, threading, time
d = sys.argv[1]
lock = threading.Lock()
plan = [l.strip() for l in open(d + "/plan") if l.strip()]
log = open(d + "/log", "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with lock:
            act = plan.pop(0) if plan else "200"
            rec = {"t": time.monotonic(), "path": self.path, "act": act,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": body.decode("utf-8", "surrogateescape")}
            log.write(json.dumps(rec) + "\n"); log.flush()
        if act == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        code, extra = (429, act.split(":")[1]) if act.startswith("429") else (int(act), None)
        self.send_response(code)
        if extra is not None: self.send_header("Retry-After", extra)
        self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(d + "/port.tmp", "w").write(str(s.server_address[1]))
import os; os.rename(d + "/port.tmp", d + "/port")
s.serve_forever()
EOF

# start_recv PLAN-LINES...: a fresh receiver; sets PORT.
start_recv() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    rm -f "$T/log" "$T/port"
    printf '%s\n' "$@" >"$T/plan"
    python3 "$T/recv.py" "$T" &
    RPID=$!
    for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
    PORT=$(cat "$T/port")
}

# check.py MODE EVENTS-FILE: the oracle over the receiver's log.
cat >"$T/check.py" <<'EOF'
import json, sys
mode, evf, log = sys.argv[1], sys.argv[2], sys.argv[3]
recs = [json.loads(l) for l in open(log)]
pre = '{"kind":"Event","apiVersion":"audit.k8s.io/v1",'
def fail(m): print(m); sys.exit(1)
if mode == "exact":   # every event once, in order, byte-exact bodies, <= 400 per batch
    want = [l.rstrip("\n") for l in open(evf)]
    got = []
    for r in recs:
        if r["path"] != "/audit?timeout=30s": fail("path " + r["path"])
        h = r["headers"]
        if h.get("content-type") != "application/json": fail("content-type %r" % h)
        if h.get("accept") != "application/json, */*": fail("accept %r" % h)
        if "expect" in h: fail("Expect header sent")
        if r["act"] != "200": continue
        b = r["body"]
        head = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":['
        if not b.startswith(head) or not b.endswith("]}\n"): fail("envelope " + b[:80])
        items = json.loads(b)["items"]
        if not 0 < len(items) <= int(sys.argv[4]): fail("batch of %d" % len(items))
        got.extend(items)
        n0 = len(got) - len(items)
        exp = head + ",".join("{" + w[len(pre):] for w in want[n0:len(got)]) + "]}\n"
        if b != exp: fail("body bytes differ in batch at event %d" % n0)
    if len(got) != len(want): fail("delivered %d of %d" % (len(got), len(want)))
    for g, w in zip(got, want):
        if "kind" in g or "apiVersion" in g: fail("item has kind/apiVersion")
        if g["auditID"] != json.loads(w)["auditID"]: fail("order differs")
elif mode == "gaps":  # print the gaps between consecutive requests
    print(" ".join("%.3f" % (b["t"] - a["t"]) for a, b in zip(recs, recs[1:])))
elif mode == "count":
    print(len(recs))
elif mode == "header":
    print(recs[0]["headers"].get(sys.argv[4], ""))
elif mode == "path":
    print(recs[0]["path"])
EOF
chk() { python3 "$T/check.py" "$@"; }

"$KAUDIT" gen --events 2000 --seed 7 >"$T/ev2000" || exit 2
head -n 800 "$T/ev2000" >"$T/ev800"
URL() { echo "http://127.0.0.1:$PORT/audit"; }

# 1. all succeed: 5 batches of 400, byte-exact, in order, once.
start_recv
"$KAUDIT" send "$(URL)" --initial-backoff 0.05 <"$T/ev2000" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(chk count x "$T/log")" = 5 ] && chk exact "$T/ev2000" "$T/log" 400 \
    && ok "2000 events: 5 requests, byte-exact EventLists, once, in order" \
    || bad "2000 events all delivered (rc=$rc, $(cat "$T/err"))"

# 2. --batch-size, reading straight from a `kaudit gen` pipe.
start_recv
"$KAUDIT" gen --events 2000 --seed 7 | "$KAUDIT" send "$(URL)" --batch-size 150 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(chk count x "$T/log")" = 14 ] && chk exact "$T/ev2000" "$T/log" 150 \
    && ok "--batch-size 150: 14 requests" || bad "--batch-size 150 (rc=$rc)"

# 3. 500 then 200: the batch is resent once after ~initial backoff; nothing duplicated.
start_recv 200 500 200
"$KAUDIT" send "$(URL)" --initial-backoff 0.2 <"$T/ev2000" 2>"$T/err"
rc=$?
gaps=$(chk gaps x "$T/log")
g2=$(echo "$gaps" | awk '{print $2}')
[ $rc -eq 0 ] && [ "$(chk count x "$T/log")" = 6 ] && chk exact "$T/ev2000" "$T/log" 400 \
    && awk -v g="$g2" 'BEGIN{exit !(g >= 0.2 && g < 0.2*1.2+0.15)}' \
    && ok "500 then 200: 6 requests, retry after $g2 s (0.2-0.24 + slack)" \
    || bad "500 then 200 (rc=$rc gaps=$gaps)"

# 4. 429 with Retry-After: 1: retried after 1 s within the same attempt.
start_recv 429:1 200
"$KAUDIT" send "$(URL)" --initial-backoff 5 <"$T/ev800" 2>"$T/err"
rc=$?
g1=$(chk gaps x "$T/log" | awk '{print $1}')
[ $rc -eq 0 ] && [ "$(chk count x "$T/log")" = 3 ] && chk exact "$T/ev800" "$T/log" 400 \
    && awk -v g="$g1" 'BEGIN{exit !(g >= 1.0 && g < 2.5)}' \
    && ok "429 + Retry-After: 1: resent after $g1 s, not after the 5 s backoff" \
    || bad "429 Retry-After (rc=$rc g1=$g1)"

# 5. connection reset: retried, delivered once.
start_recv reset 200
"$KAUDIT" send "$(URL)" --initial-backoff 0.05 <"$T/ev800" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(chk count x "$T/log")" = 3 ] && chk exact "$T/ev800" "$T/log" 400 \
    && ok "connection reset: retried and delivered once" || bad "connection reset (rc=$rc)"

# 6. always 500: 5 attempts per batch with growing backoff, both batches reported, exit 4.
start_recv $(for _ in $(seq 10); do echo 500; done)
"$KAUDIT" send "$(URL)" --initial-backoff 0.1 <"$T/ev800" 2>"$T/err"
rc=$?
gaps=$(chk gaps x "$T/log")
n=$(chk count x "$T/log")
okgaps=$(echo "$gaps" | awk '{ d=0.1; for (i=1;i<=4;i++) { if ($i < d || $i > d*1.2+0.1) { print "no"; exit } d*=1.5 } print "yes" }')
[ $rc -eq 4 ] && [ "$n" = 10 ] && [ "$okgaps" = yes ] && [ "$(grep -c 'not delivered after 5 attempts' "$T/err")" = 2 ] \
    && ok "always 500: 2 batches x 5 attempts, backoff 0.1,0.15,0.225,0.3375 (+<=20%), exit 4" \
    || bad "always 500 (rc=$rc n=$n gaps=$gaps)"

# 7. --fail-fast stops after the first undelivered batch; --max-attempts.
start_recv 500 500 500 500
"$KAUDIT" send "$(URL)" --initial-backoff 0.01 --max-attempts 2 --fail-fast <"$T/ev800" 2>"$T/err"
rc=$?
[ $rc -eq 4 ] && [ "$(chk count x "$T/log")" = 2 ] && ok "--fail-fast --max-attempts 2: 2 requests, exit 4" \
    || bad "--fail-fast (rc=$rc n=$(chk count x "$T/log"))"

# 8. URL handling: path cleaned, query dropped, ?timeout=30s appended.
start_recv
head -n 3 "$T/ev800" | "$KAUDIT" send "http://127.0.0.1:$PORT//a/./b/../audit/?x=1&y=2" 2>"$T/err"
rc=$?
p=$(chk path x "$T/log")
[ $rc -eq 0 ] && [ "$p" = "/a/audit?timeout=30s" ] && ok "URL cleaned: $p" || bad "URL (rc=$rc path=$p)"

# 9. --webhook-config with a bearer token file relative to the kubeconfig's directory.
start_recv
mkdir -p "$T/kc"
printf 's3cr3t-token\n' >"$T/kc/token"
cat >"$T/kc/webhook.yaml" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kaudit
  cluster:
    server: http://127.0.0.1:$PORT/audit?ignored=1
users:
- name: apiserver
  user:
    tokenFile: token
contexts:
- name: webhook
  context: {cluster: kaudit, user: apiserver}
current-context: webhook
EOF
head -n 3 "$T/ev800" | (cd / && "$KAUDIT" send --webhook-config "$T/kc/webhook.yaml") 2>"$T/err"
rc=$?
a=$(chk header x "$T/log" authorization)
[ $rc -eq 0 ] && [ "$a" = "Bearer s3cr3t-token" ] && [ "$(chk path x "$T/log")" = "/audit?timeout=30s" ] \
    && ok "--webhook-config: tokenFile relative to the kubeconfig, Bearer header" \
    || bad "--webhook-config (rc=$rc auth=$a $(cat "$T/err"))"

# 10. errors: bad URL and bad kubeconfig are usage errors with file:line:col; bad lines exit 3.
"$KAUDIT" send "ftp://x/y" </dev/null 2>"$T/err"; rc1=$?
printf 'clusters:\n- cluster:\n    server: [1, 2]\n' >"$T/kc/bad.yaml"
"$KAUDIT" send --webhook-config "$T/kc/bad.yaml" </dev/null 2>"$T/err"; rc2=$?
[ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && grep -q 'bad.yaml:3:5: cluster.server: must be a string' "$T/err" \
    && ok "bad URL / kubeconfig: exit 1 with file:line:col" || bad "errors (rc=$rc1/$rc2 $(cat "$T/err"))"
start_recv
{ head -n 2 "$T/ev800"; echo '{not json'; } | "$KAUDIT" send "$(URL)" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && [ "$(chk count x "$T/log")" = 1 ] && ok "a bad input line: exit 3, the rest delivered" \
    || bad "bad line (rc=$rc)"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
