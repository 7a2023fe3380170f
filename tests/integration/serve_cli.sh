#!/usr/bin/env bash
# serve_cli.sh - `kaudit serve` as a process: flags and config, the ready line, the journal
# content (equal to `kaudit policy apply` of the events sent, plus the cluster tag, checked with
# jq), SIGHUP policy reload, SIGTERM clean exit, and refusals at startup.
# Events come from `kaudit gen`; nothing is read from ../shared.
# usage: serve_cli.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: serve_cli.sh KAUDIT}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
if ! "$KAUDIT" serve --help >/dev/null 2>&1; then
    echo "SKIP: this kaudit binary has no serve command"
    exit 77
fi
T=$(mktemp -d /tmp/kaudit-serve-cli.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && sed 's/^/  serve: /' "$T/err"; exit 1; }

# Startup refusals: exit 1 with a message naming the key.
"$KAUDIT" serve --listen 0.0.0.0:1 --data-dir "$T/x" 2>"$T/e1" && fail "insecure remote accepted"
grep -q "allow_insecure_remote" "$T/e1" || fail "no reason for the insecure listener: $(cat "$T/e1")"
"$KAUDIT" serve --tls-cert "$T/nope.crt" --data-dir "$T/x" 2>"$T/e2"
[ $? -eq 1 ] || fail "a certificate without key must be a usage error"

cat >"$T/policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  verbs: [watch]
- level: Metadata
  resources: [{group: "", resources: [secrets, configmaps]}]
- level: Request
EOF
cat >"$T/config.yaml" <<'EOF'
server:
  listen: 127.0.0.1:1
clusters:
  default: itest
redaction:
  enabled: false
EOF

# Start on a free port (retry a few random ones); wait for the ready line.
start() {
    local try
    for try in 1 2 3 4 5 6 7 8; do
        PORT=$((20000 + RANDOM % 40000))
        "$KAUDIT" serve -c "$T/config.yaml" --listen "127.0.0.1:$PORT" --data-dir "$T/data" \
            --policy "$T/policy.yaml" 2>"$T/err" &
        PID=$!
        for _ in $(seq 600); do # 60 s at most
            grep -q "listening on" "$T/err" && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        wait "$PID" 2>/dev/null
        PID=
    done
    fail "serve did not start"
}
start
LINE=$(grep "listening on" "$T/err")
[ "$LINE" = "kaudit serve: listening on http://127.0.0.1:$PORT (data: $T/data)" ] ||
    fail "ready line: $LINE"
URL=http://127.0.0.1:$PORT

[ "$(curl -s "$URL/healthz")" = ok ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] || fail "/readyz"

"$KAUDIT" gen --events 3000 --attacks -o "$T/gen.log" || fail "gen"
"$KAUDIT" send "$URL/audit" "$T/gen.log" 2>"$T/send.err" || fail "send: $(cat "$T/send.err")"

# The journal equals `policy apply` of the events sent, plus the cluster tag.
"$KAUDIT" policy apply -p "$T/policy.yaml" "$T/gen.log" >"$T/want.log" || fail "policy apply"
J="$T/data/journal/audit.log"
[ "$(wc -l <"$J")" -eq "$(wc -l <"$T/want.log")" ] ||
    fail "journal has $(wc -l <"$J") events, policy apply gives $(wc -l <"$T/want.log")"
[ "$(wc -l <"$J")" -lt 3000 ] || fail "the policy dropped nothing"
jq -e 'select(.annotations["kaudit.io/cluster"] != "itest")' "$J" >/dev/null &&
    fail "an event without the cluster tag"
jq -c 'del(.annotations["kaudit.io/cluster"]) | if .annotations == {} then del(.annotations)
       else . end' "$J" >"$T/got.norm"
jq -c . "$T/want.log" >"$T/want.norm"
cmp -s "$T/got.norm" "$T/want.norm" || fail "journal differs from policy apply: $(diff "$T/got.norm" "$T/want.norm" | head -5)"

# SIGHUP reloads the policy: now everything is dropped.
printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n' >"$T/policy.yaml"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q "policy reloaded" "$T/err" && break; sleep 0.1; done
grep -q "policy reloaded" "$T/err" || fail "no reload after SIGHUP"
BEFORE=$(wc -l <"$J")
"$KAUDIT" gen --events 50 --seed 9 | "$KAUDIT" send "$URL/audit" 2>/dev/null || fail "send 2"
[ "$(wc -l <"$J")" -eq "$BEFORE" ] || fail "the reloaded policy was not applied"

# SIGTERM: clean exit 0.
kill -TERM "$PID"
wait "$PID"
RC=$?
PID=
[ $RC -eq 0 ] || fail "exit status $RC after SIGTERM"
echo "PASS: serve_cli ($BEFORE of 3000 events kept by the policy, port $PORT)"
