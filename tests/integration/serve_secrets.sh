#!/usr/bin/env bash
# serve_secrets.sh - no secret reaches the disk through `kaudit serve`: a fresh collector gets,
# through `kaudit send`, (a) `kaudit gen --events 20000 --seed 5 --attacks`, (b) hand-made
# events carrying secrets in every place the redactor knows (a Secret create at
# RequestResponse with data and stringData, a SecretList response, a last-applied-configuration
# annotation holding a Secret, a TokenRequest response, a bearer token in an annotation, a JSON
# merge patch and a JSON Patch on a secret) and (c) items that are not events but hold secrets
# (they go to the dead-letter file): POSTed as one array with curl, since `kaudit send` skips
# them, and as lines of a followed audit log (inputs.files), with two lines that are not JSON
# (a cut Secret event, a bearer token in plain text). Every secret value is then collected from the inputs with
# jq (with its base64-decoded form when that is printable text) and each one of 8 bytes or more
# is searched with grep -F in every file under the data directory (journal segments, gzipped
# ones decompressed, dead letters, checkpoints, cursors): none may appear. Non-secret content
# must arrive: the journal holds exactly the events sent, the dead-letter file one line per
# item that is not an event.
# Events come from `kaudit gen` or are written here; nothing is read from ../shared.
# usage: serve_secrets.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: serve_secrets.sh KAUDIT}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$KAUDIT" serve --help >/dev/null 2>&1 || { echo "SKIP: no serve command"; exit 77; }
T=$(mktemp -d /tmp/kaudit-serve-secrets.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
D="$T/data"
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# ---- inputs ----
"$KAUDIT" gen --events 20000 --seed 5 --attacks -o "$T/gen.log" || { echo "FAIL: gen"; exit 1; }

b64() { printf '%s' "$1" | base64 -w0; }
TS='"requestReceivedTimestamp":"2026-01-02T03:04:05.000000Z","stageTimestamp":"2026-01-02T03:04:05.100000Z"'
ev() { # ev ID VERB RESOURCE SUBRESOURCE REST  (REST: more members, starting with ',')
    local sub=""
    [ -n "$4" ] && sub=",\"subresource\":\"$4\""
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%s","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns/%s","verb":"%s","user":{"username":"alice"},"objectRef":{"resource":"%s","namespace":"ns","name":"x","apiVersion":"v1"%s},%s%s}\n' \
        "$1" "$3" "$2" "$3" "$sub" "$TS" "$5"
}
LA=$(jq -cn --arg v "$(b64 'S3CR3T-last-applied-0003')" \
    '{kind:"Secret",apiVersion:"v1",metadata:{name:"x",namespace:"ns"},data:{k:$v}} | tojson')
{
    ev hand-1 create secrets "" ",\"requestObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"},\"data\":{\"a\":\"$(b64 'S3CR3T-data-create-0001')\"},\"stringData\":{\"b\":\"S3CR3T-stringdata-0002\"}},\"responseObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"},\"data\":{\"a\":\"$(b64 'S3CR3T-data-create-0001')\",\"b\":\"$(b64 'S3CR3T-stringdata-0002')\"}}"
    ev hand-2 list secrets "" ",\"responseObject\":{\"kind\":\"SecretList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"y\"},\"data\":{\"c\":\"$(b64 'S3CR3T-list-item-0004')\"}}]}"
    ev hand-3 create secrets "" ",\"requestObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\",\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":$LA}},\"data\":{\"k\":\"$(b64 'S3CR3T-last-applied-0003')\"}}"
    ev hand-4 create serviceaccounts token ",\"responseObject\":{\"kind\":\"TokenRequest\",\"apiVersion\":\"authentication.k8s.io/v1\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"audiences\":[\"api\"]},\"status\":{\"token\":\"S3CR3T-token-request-0005\",\"expirationTimestamp\":\"2026-01-02T04:04:05Z\"}}"
    ev hand-5 get pods "" ",\"annotations\":{\"example.com/auth\":\"Authorization: Bearer S3CR3T-bearer-annotation-0006\"}"
    ev hand-6 patch secrets "" ",\"requestObject\":{\"data\":{\"k\":\"$(b64 'S3CR3T-merge-patch-0007')\"},\"stringData\":{\"p\":\"S3CR3T-merge-patch-0008\"}}"
    ev hand-7 patch secrets "" ",\"requestObject\":[{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"$(b64 'S3CR3T-json-patch-0009')\"}]"
} >"$T/hand.log"
{
    printf '{"kind":"Secret","apiVersion":"v1","data":{"k":"%s"},"stringData":{"s":"S3CR3T-dead-0011"}}\n' "$(b64 'S3CR3T-dead-0010')"
    printf '{"kind":"ConfigMap","data":{"note":"Authorization: Bearer S3CR3T-dead-bearer-0012"}}\n'
    printf '{"kind":"Event","auditID":5,"objectRef":{"resource":"secrets"},"requestObject":{"data":{"k":"%s"}}}\n' "$(b64 'S3CR3T-dead-event-0013')"
    printf '{"kind":"TokenRequest","status":{"token":"S3CR3T-dead-token-0014"}}\n'
} >"$T/dead.log"
mkdir -p "$T/logs"
{
    cat "$T/dead.log"
    printf '{"kind":"Event","objectRef":{"resource":"secrets"},"requestObject":{"kind":"Secret","data":{"k":"%s","l":"S3CR3T-cut' "$(b64 'S3CR3T-cut-line-0015')"
    printf '%s\n' '-0016'
    printf '%s\n' 'curl -H "Authorization: Bearer S3CR3T-text-bearer-0017" https://x'
} >"$T/logs/audit.log"
printf 'inputs:\n  files:\n  - path: %s\n    from_start: true\n' "$T/logs/audit.log" >"$T/config.yaml"
N_EVENTS=$(($(wc -l <"$T/gen.log") + $(wc -l <"$T/hand.log")))
N_DEAD=$(($(wc -l <"$T/dead.log") + $(wc -l <"$T/logs/audit.log")))

# Every secret value of the inputs, with printable base64-decoded forms, 8 bytes or more.
jq -r '
  def sdata: (.data, .stringData) | objects | .[] | strings;
  (.. | objects | select(.kind == "Secret") | sdata),
  (.. | objects | select(.kind == "SecretList") | .items[]? | sdata),
  (select(type == "object" and .objectRef.resource? == "secrets")
     | (.requestObject, .responseObject)
     | ((objects | sdata),
        (arrays | .[] | select((.path // "") | test("^/(data|stringData)")) | .value | strings))),
  (.. | objects | .metadata?.annotations?["kubectl.kubernetes.io/last-applied-configuration"]?
     | strings | fromjson? | .. | objects | select(.kind == "Secret") | sdata),
  (.. | objects | select(.kind == "TokenRequest") | .status.token? | strings),
  (.. | strings | scan("[Bb]earer +([A-Za-z0-9._~+/=-]+)") | .[0]),
  (.. | strings | scan("eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]*"))
 ' "$T/gen.log" "$T/hand.log" "$T/dead.log" >"$T/values.jq"
# The lines that are not JSON: their hand-made values, found by their prefix.
{
    cat "$T/values.jq"
    grep -o 'S3CR3T-[a-z-]*[0-9]\{4\}' "$T/logs/audit.log"
    grep -o '"UzNDUjNU[A-Za-z0-9+/=]*"' "$T/logs/audit.log" | tr -d '"'
} | sort -u >"$T/values"
while IFS= read -r v; do
    printf '%s\n' "$v"
    d=$(printf '%s' "$v" | base64 -d 2>/dev/null | tr -d '\0') || continue
    printf '%s' "$d" | grep -qxE '[[:print:]]{8,}' && printf '%s\n' "$d"
done <"$T/values" | awk 'length($0) >= 8' | sort -u >"$T/needles"
n_needles=$(wc -l <"$T/needles")
# jq must find all 14 S3CR3T- values of the JSON inputs, 8 of them also in base64.
n_plain=$( (sort -u "$T/values.jq"; while IFS= read -r v; do printf '%s' "$v" | base64 -d 2>/dev/null; echo; done <"$T/values.jq") |
    grep -o '^S3CR3T-[a-z-]*[0-9]\{4\}$' | sort -u | wc -l)
n_b64=$(sort -u "$T/values.jq" | grep -c '^UzNDUjNU')
[ "$n_plain" -eq 14 ] && [ "$n_b64" -eq 8 ] &&
    ok "$n_needles secret values to look for (jq: 14 hand-made, 8 of them base64)" ||
    bad "jq found $n_plain of the 14 hand-made secret values, $n_b64 of 8 in base64"

# ---- serve, send, stop ----
PORT=
for _ in $(seq 8); do
    PORT=$((20000 + RANDOM % 40000))
    : >"$T/err"
    "$KAUDIT" serve -c "$T/config.yaml" --listen "127.0.0.1:$PORT" --data-dir "$D" 2>"$T/err" &
    PID=$!
    for _ in $(seq 2400); do # up to 60 s: CI machines can be slow
        grep -q "listening on" "$T/err" && break 2
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.025
    done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
done
[ -n "$PID" ] || { echo "FAIL: serve did not start: $(cat "$T/err")"; exit 1; }
URL="http://127.0.0.1:$PORT/audit"
"$KAUDIT" send "$URL" --max-attempts 3 --initial-backoff 0.2 "$T/gen.log" "$T/hand.log" \
    2>"$T/send.err" && ok "events sent" || bad "send of events: $(tail -2 "$T/send.err")"
code=$(jq -cs . "$T/dead.log" | curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @- "$URL")
[ "$code" = 200 ] && ok "items that are not events answered 200" || bad "POST of non-events: $code"
DL="$D/deadletter/audit-deadletter.log"
for _ in $(seq 1200); do # the file input: up to 30 s
    [ "$(wc -l <"$DL" 2>/dev/null || echo 0)" -ge "$N_DEAD" ] && break
    sleep 0.025
done
kill -TERM "$PID"
wait "$PID" && ok "serve stopped on SIGTERM" || bad "serve exited non-zero: $(tail -2 "$T/err")"
PID=

# ---- every file under the data directory, gzipped ones decompressed ----
mkdir -p "$T/plain"
i=0
find "$D" -type f | sort >"$T/files"
while IFS= read -r f; do
    i=$((i + 1))
    case "$f" in
    *.gz) zcat "$f" >"$T/plain/$i" || bad "$f: not gzip" ;;
    *) cp "$f" "$T/plain/$i" ;;
    esac
done <"$T/files"
n_files=$(wc -l <"$T/files")
if grep -F -r -o -a -f "$T/needles" "$T/plain" >"$T/found"; then
    bad "secrets on disk: $(sort -u "$T/found" | head -5 | tr '\n' ' ')"
else
    ok "none of $n_needles secret values in the $n_files files under the data directory"
fi

journal_lines() {
    for f in "$D"/journal/audit*; do
        case "$f" in *.gz) zcat "$f" ;; *) cat "$f" ;; esac
    done
}
got=$(journal_lines | wc -l)
[ "$got" -eq "$N_EVENTS" ] && ok "journal holds the $N_EVENTS events sent" ||
    bad "journal holds $got lines, $N_EVENTS events were sent"
hand=$(journal_lines | jq -r 'select(.auditID | startswith("hand-")) | .auditID' | sort -u | wc -l)
[ "$hand" -eq 7 ] && ok "the 7 hand-made events arrived" || bad "$hand of the 7 hand-made events"
markers=$(journal_lines | grep -o 'redacted sha256:[0-9a-f]\{12\}' | wc -l)
[ "$markers" -ge 10 ] && ok "$markers redaction markers in the journal" ||
    bad "only $markers redaction markers in the journal"
dl=$(jq -c 'select(.sha256 | length == 64)' "$DL" 2>/dev/null | wc -l)
[ "$dl" -eq "$N_DEAD" ] && ok "$N_DEAD dead letters, each with its size and sha256" ||
    bad "$dl dead letters with a digest, $N_DEAD items were not events"
kinds=$(jq -r '(.event // (.line | fromjson? // {})).kind // "-"' "$DL" 2>/dev/null | sort | tr '\n' ' ')
[ "$kinds" = "- - ConfigMap ConfigMap Event Event Secret Secret TokenRequest TokenRequest " ] &&
    ok "dead letters keep what is not secret" || bad "dead-letter kinds: '$kinds'"
grep -q 'curl -H \\"\\u003credacted sha256:[0-9a-f]\{12\}\\u003e\\" https://x' "$DL" &&
    ok "a plain-text line keeps its text around the marker" || bad "plain-text line: $(tail -1 "$DL")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
