#!/usr/bin/env bash
# gen_cli.sh - end-to-end checks of `kaudit gen`, with jq as the independent JSON oracle.
# Usage: gen_cli.sh KAUDIT_BINARY SHARED_DIR (SHARED_DIR is not needed: all data is generated).
# Exit 0 when every check passes, 1 otherwise, 77 (skip) when jq is missing.
set -u
bin=${1:?usage: gen_cli.sh KAUDIT_BINARY SHARED_DIR}
command -v jq >/dev/null || { echo "jq not installed: skipping"; exit 77; }
tmp=$(mktemp -d /tmp/kaudit-gen-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }

"$bin" gen --events 1000 --seed 7 >"$tmp/a.log"; rc=$?
check "exit code 0" eq "$rc" 0
check "1000 lines that jq parses" eq "$(jq -c . "$tmp/a.log" | wc -l)" 1000
check "every line is an audit.k8s.io/v1 Event with the required members" eq \
    "$(jq -r 'select(.kind=="Event" and .apiVersion=="audit.k8s.io/v1" and (.level|type)=="string"
              and (.auditID|type)=="string" and (.stage|type)=="string"
              and (.requestURI|type)=="string" and (.verb|type)=="string"
              and (.user|type)=="object" and (.requestReceivedTimestamp|type)=="string"
              and .stageTimestamp >= .requestReceivedTimestamp) | 1' "$tmp/a.log" | wc -l)" 1000

"$bin" gen --events 1000 --seed 7 >"$tmp/b.log"
"$bin" gen --events 1000 --seed 8 >"$tmp/c.log"
check "same seed, same bytes" cmp -s "$tmp/a.log" "$tmp/b.log"
check "different seed, different bytes" bash -c "! cmp -s '$tmp/a.log' '$tmp/c.log'"
"$bin" gen --events 1000 --seed 7 -o "$tmp/o.log"
check "-o writes the same bytes as stdout" cmp -s "$tmp/a.log" "$tmp/o.log"

# Stage rules: RR+RC, RR+RS+RC, or a lone ResponseStarted 401, per auditID.
bad=$(jq -s -r 'group_by(.auditID)[] | map(.stage) as $s | select(
        $s != ["RequestReceived","ResponseComplete"] and
        $s != ["RequestReceived","ResponseStarted","ResponseComplete"] and
        $s != ["ResponseStarted"]) | .[0].auditID' "$tmp/a.log" | wc -l)
check "stage sequence per auditID" eq "$bad" 0
check "lone ResponseStarted events are 401 with user {}" eq \
    "$(jq -s -r 'group_by(.auditID)[] | select(length==1) | .[0]
        | select(.responseStatus.code!=401 or (.user|length)!=0) | 1' "$tmp/a.log" | wc -l)" 0
check "RequestReceived has no responseStatus or annotations" eq \
    "$(jq -r 'select(.stage=="RequestReceived" and (has("responseStatus") or has("annotations")))
        | 1' "$tmp/a.log" | wc -l)" 0
check "no raw '&' (query strings are written \\u0026)" eq "$(grep -c '&' "$tmp/a.log")" 0
check "query strings do carry \\u0026" test "$(grep -c 'u0026' "$tmp/a.log")" -gt 10

"$bin" gen --bytes 100k --seed 3 >"$tmp/s.log"
size=$(wc -c <"$tmp/s.log")
last=$(tail -n 1 "$tmp/s.log" | wc -c)
check "--bytes 100k: at least 102400 bytes" test "$size" -ge 102400
check "--bytes 100k: stops at the first boundary" test $((size - last)) -lt 102400

"$bin" gen --events 30000 --seed 5 --attacks --labels "$tmp/labels.tsv" >"$tmp/atk.log"
check "labels name all eight scenarios" eq "$(cut -f2 "$tmp/labels.tsv" | sort -u | tr '\n' ' ')" \
    "anonymous-access cluster-admin-binding deployment-delete forbidden-storm pod-exec privileged-pod secret-dump token-request "
cut -f1 "$tmp/labels.tsv" | sort -u >"$tmp/labelled.ids"
jq -r .auditID "$tmp/atk.log" | sort -u >"$tmp/all.ids"
check "every labelled auditID is in the output" eq "$(comm -23 "$tmp/labelled.ids" "$tmp/all.ids" | wc -l)" 0
check "one label line per attack event" eq "$(wc -l <"$tmp/labels.tsv")" \
    "$(grep -F -f "$tmp/labelled.ids" "$tmp/atk.log" | wc -l)"
check "pods/exec only in labelled events, code 101" eq \
    "$(jq -r 'select(.objectRef.subresource=="exec" and .stage!="RequestReceived")
        | "\(.auditID) \(.responseStatus.code)"' "$tmp/atk.log" | awk '$2!=101' | wc -l)" 0

"$bin" gen --events 3 --start 2024-02-29T23:59:59.5+01:00 >"$tmp/t.log"
check "--start sets the first timestamp (UTC)" eq \
    "$(head -n 1 "$tmp/t.log" | jq -r .requestReceivedTimestamp)" "2024-02-29T22:59:59.500000Z"

t0=$(date +%s%N)
"$bin" gen --events 60 --rate 100 >/dev/null
t1=$(date +%s%N)
check "--rate 100 paces 60 events over about 0.6 s" test $(((t1 - t0) / 1000000)) -ge 450

"$bin" gen --events nope >/dev/null 2>&1; rc=$?
check "bad --events is a usage error" eq "$rc" 1
"$bin" gen --help >"$tmp/help.txt"; rc=$?
check "--help exits 0 with an example" eq "$rc$(grep -c '^example:' "$tmp/help.txt")" 01

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
