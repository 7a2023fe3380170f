#!/bin/bash
# query_clickhouse.sh - the filters of `kaudit query` against ClickHouse give exactly the rows of
# `kaudit query --file` on the same events. A real clickhouse-server (Debian's, on a free
# loopback port with a temporary config and data directory) receives the events through
# `kaudit ship` twice (the second time stands for retried inserts that the table has not merged
# yet), plus a file cut in the middle of requests (in-flight requests: their latest stage is an
# earlier one). Then a matrix of filters, stage modes and limits runs through
# `kaudit clickhouse query` (and `kaudit query --clickhouse` when that flag exists) and each
# answer must be byte-identical to the file scan's -o jsonl. Events come from `kaudit gen`.
set -u
set -f # filters hold globs
KAUDIT=${1:?kaudit binary}
SERVER=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
[ -x "$SERVER" ] || { echo "skip: no clickhouse-server"; exit 77; }
command -v curl >/dev/null || { echo "skip: no curl"; exit 77; }
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
T=$(mktemp -d); SP=
cleanup() { [ -n "$SP" ] && kill -9 $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
. "$(dirname "$0")/../util/clickhouse.sh"
CH_SERVER=$SERVER
ch_setup "$T"; HP=$CH_HP
ch_start || { echo "FAIL: clickhouse-server did not start"; exit 1; }
SP=$CH_PID
q() { ch_q "$1"; }
URL="clickhouse://127.0.0.1:$HP/kq?table=ev"
pass=0 fail=0

# The events: generated traffic with attacks, plus a cut copy of another seed whose last
# requests stop before their final stage. kaudit ship stores canonical lines, which
# `kaudit write`-free gen output already is; the file side reads the same lines.
"$KAUDIT" gen --events 6000 --attacks --seed 11 -o "$T/a.log" || exit 1
"$KAUDIT" gen --events 3000 --seed 12 -o "$T/b.full" || exit 1
head -n 2500 "$T/b.full" > "$T/b.log"
cat "$T/a.log" "$T/b.log" > "$T/all.log"
for i in 1 2; do
  "$KAUDIT" ship -q --output "$URL" --option batch_events=700 "$T/all.log" 2>"$T/ship.err" ||
    { echo "FAIL: ship $i: $(tail -3 "$T/ship.err")"; exit 1; }
done
stored=$(q "SELECT count() FROM kq.ev")
total=$(wc -l < "$T/all.log")
[ "$stored" -ge "$total" ] || { echo "FAIL: $stored rows stored, $total events shipped"; exit 1; }
echo "events: $total, rows in ClickHouse: $stored (duplicates not merged yet included)"

# Times inside the data for --since/--until.
read -r T1 T2 < <(python3 - "$T/all.log" <<'EOF'
import json, sys
ts = sorted(json.loads(l)["requestReceivedTimestamp"] for l in open(sys.argv[1]))
print(ts[len(ts) // 4], ts[(3 * len(ts)) // 4])
EOF
)

HAS_FLAG=0
"$KAUDIT" query --help 2>&1 | grep -q -- '--clickhouse' && HAS_FLAG=1

# check NAME FILTERS...: ClickHouse rows == file rows, in order, byte for byte.
check() {
  local name=$1; shift
  "$KAUDIT" query "$@" -o jsonl --no-backups --file "$T/all.log" > "$T/f.out" 2>"$T/f.err"
  local frc=$?
  "$KAUDIT" clickhouse query --url "$URL" "$@" -o jsonl > "$T/c.out" 2>"$T/c.err"
  local crc=$?
  if [ $frc -ne 0 ] || [ $crc -ne 0 ]; then
    fail=$((fail + 1)); echo "FAIL: $name: exit file $frc ($(head -c 200 "$T/f.err")), clickhouse $crc ($(head -c 300 "$T/c.err"))"; return
  fi
  if ! cmp -s "$T/f.out" "$T/c.out"; then
    fail=$((fail + 1)); echo "FAIL: $name ($*): file $(wc -l < "$T/f.out") rows, clickhouse $(wc -l < "$T/c.out")"
    diff <(cut -c1-160 "$T/f.out") <(cut -c1-160 "$T/c.out") | head -6; return
  fi
  if [ $HAS_FLAG = 1 ]; then
    "$KAUDIT" query --clickhouse "$URL" "$@" -o jsonl > "$T/q.out" 2>"$T/q.err"
    cmp -s "$T/f.out" "$T/q.out" || { fail=$((fail + 1)); echo "FAIL: $name: kaudit query --clickhouse differs"; return; }
  fi
  pass=$((pass + 1)); printf '  %-28s %6d rows\n' "$name" "$(wc -l < "$T/f.out")"
}

check "all requests"
check "every event"            --stage any
check "one stage"              --stage ResponseStarted
check "RequestReceived"        --stage RequestReceived
check "verb"                   --verb delete,patch
check "user glob"              --user 'system:serviceaccount:*'
check "user ?"                 --user 'system:kube-?ontroller-manager'
check "group"                  --group 'system:masters'
check "group glob any"         --group '*:authenticated' --stage any
check "resource"               --resource pods
check "resource/sub"           --resource 'pods/exec,pods/log'
check "resource/*"             --resource 'pods/*'
check "*/status"               --resource '*/status'
check "group-qualified"        --resource deployments.apps
check "core group"             --resource 'pods.core'
check "namespace"              --namespace 'kube-*'
check "name"                   --name '*a*' --verb get
check "code"                   --code 403
check "code class"             --code 4xx,5xx
check "code negated"           --code '!2xx'
check "code negated any"       --code '!200' --stage any
check "decision"               --decision forbid
check "source ip"              --source-ip 10.0.0.0/8
check "user agent"             --user-agent 'kubectl/*'
check "impersonation"          --as '*'
check "grep"                   --grep secrets --grep '"verb":"get"'
check "since/until"            --since "$T1" --until "$T2"
check "since any"              --since "$T2" --stage any
check "combined"               --verb get,list --resource secrets --namespace '*' --code 2xx
check "limit"                  --limit 17
check "limit any"              --limit 250 --stage any --verb watch
check "nothing"                --user 'nobody-at-all'
check "literal percent"        --user '%_'

# A server that refuses: a missing table is an error, not an empty answer.
if "$KAUDIT" clickhouse query --url "clickhouse://127.0.0.1:$HP/kq?table=missing" > /dev/null 2>"$T/e.err"; then
  fail=$((fail + 1)); echo "FAIL: a missing table answered with success"
elif ! grep -q "HTTP 404\|HTTP 500\|doesn't exist" "$T/e.err"; then
  fail=$((fail + 1)); echo "FAIL: missing table: $(cat "$T/e.err")"
else pass=$((pass + 1)); fi

# `kaudit clickhouse query --clickhouse URL` names the table like --url; two different URLs are refused.
"$KAUDIT" query --verb delete -o jsonl --no-backups --file "$T/all.log" > "$T/f.out" 2>/dev/null
if "$KAUDIT" clickhouse query --clickhouse "$URL" --verb delete -o jsonl > "$T/c.out" 2>"$T/c.err" &&
   cmp -s "$T/f.out" "$T/c.out"; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: clickhouse query --clickhouse: $(head -c 300 "$T/c.err")"; fi
if "$KAUDIT" clickhouse query --url "$URL" --clickhouse "$URL&x=1" > /dev/null 2>"$T/e.err"; then
  fail=$((fail + 1)); echo "FAIL: --url and a different --clickhouse were accepted"
elif ! grep -q "name different tables" "$T/e.err"; then
  fail=$((fail + 1)); echo "FAIL: --url/--clickhouse conflict: $(cat "$T/e.err")"
else pass=$((pass + 1)); fi

echo "query_clickhouse: $pass passed, $fail failed"
[ $fail -eq 0 ]
