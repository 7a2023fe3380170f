#!/usr/bin/env bash
# query_follow.sh - `kaudit query --follow`:
#   1. a file: lines appended (and the file rotated) while it is followed; the rows printed are
#      exactly those of `kaudit query --file` over everything that was appended, in order;
#   2. the store: `kaudit query -f --store DIR` while `kaudit send` feeds `kaudit serve`; the
#      rows printed are the store's rows that end a request (ResponseComplete or Panic), each
#      once, and with --stage any every stored event that matches;
#   3. --limit N ends the follow by itself after N rows; a data directory without a journal and
#      two files are refused with a message.
# Rows must appear while the follower runs (into a file, where stdio buffers fully), not only
# when it is stopped.
# Events come from `kaudit gen`; nothing is read from ../shared.
# usage: query_follow.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: query_follow.sh KAUDIT}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
T=$(mktemp -d /tmp/kaudit-query-follow.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# A follower starts at the end of what exists, and nothing says when it has started. So the
# test feeds warm-up events (auditID warmup-N, matching every follower's filters) until each
# follower printed one, then the real events; warm-up rows are left out of the comparisons.
warm() { # warm N VERB: one complete event
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"warmup-%s","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"%s","user":{"username":"system:serviceaccount:default:warmup"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.001000Z"}\n' "$1" "$2"
}
no_warm() { jq -c 'select(.auditID | startswith("warmup-") | not)' "$@"; }
# wait_rows FILE N: up to 20 s for FILE to have at least N rows besides the warm-up ones
wait_rows() { for _ in $(seq 200); do [ "$(no_warm "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }

"$KAUDIT" gen --seed 21 --events 4000 --attacks -o "$T/g.log" || exit 1

# 1. A file, rotated while followed.
: >"$T/audit.log"
"$KAUDIT" query -f "$T/audit.log" --verb delete,create -o jsonl >"$T/f.out" 2>"$T/f.err" &
PIDS+=($!)
for i in $(seq 100); do
    warm "$i" create >>"$T/audit.log"
    sleep 0.1
    [ -s "$T/f.out" ] && break
done
head -n 1500 "$T/g.log" >>"$T/audit.log"
sleep 0.3
mv "$T/audit.log" "$T/audit-1.log" && : >"$T/audit.log" # rotated, as the apiserver does
sed -n '1501,4000p' "$T/g.log" >>"$T/audit.log"
# the oracle: jq over the lines in the order they were appended
jq -c 'select((.verb == "delete" or .verb == "create") and
              (.stage == "ResponseComplete" or .stage == "Panic"))' "$T/g.log" >"$T/f.want"
want=$(wc -l <"$T/f.want")
wait_rows "$T/f.out" "$want" || bad "file: the rows were not printed while following (only at exit?)"
sleep 0.3
kill "${PIDS[0]}"
if [ "$want" -gt 0 ] && cmp -s <(no_warm "$T/f.out") "$T/f.want"; then
    ok "file: $want rows across a rotation, in order, as jq selects them from the lines"
else
    bad "file: $(wc -l <"$T/f.out") rows printed, $want expected ($(head -c 200 "$T/f.err"))"
fi

# 2. The store of a running collector.
D=$T/data
port=
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    "$KAUDIT" serve --listen "127.0.0.1:$port" --data-dir "$D" 2>"$T/serve.err" &
    SPID=$!
    for _ in $(seq 200); do grep -q "listening on" "$T/serve.err" && break; sleep 0.05; done
    grep -q "listening on" "$T/serve.err" && break
    kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
done
[ -n "${SPID:-}" ] || { echo "FAIL: serve did not start: $(cat "$T/serve.err")"; exit 1; }
PIDS+=("$SPID")
"$KAUDIT" query -f --store "$D" --user 'system:serviceaccount:*' -o jsonl >"$T/s.out" 2>"$T/s.err" &
PIDS+=($!); QP=$!
"$KAUDIT" query --follow --store "$D" --stage any --verb get -o jsonl >"$T/a.out" 2>"$T/a.err" &
PIDS+=($!); AP=$!
"$KAUDIT" query -f --store "$D" --limit 5 -o jsonl >"$T/l.out" 2>"$T/l.err" &
LP=$!
for i in $(seq 100); do
    warm "$i" get | "$KAUDIT" send "http://127.0.0.1:$port/audit" >/dev/null 2>&1
    sleep 0.1
    [ -s "$T/s.out" ] && [ -s "$T/a.out" ] && [ -s "$T/l.out" ] && break
done
"$KAUDIT" send "http://127.0.0.1:$port/audit" "$T/g.log" >"$T/send.out" 2>&1 || bad "send failed: $(tail -2 "$T/send.out")"
n_events=$(($(wc -l <"$T/g.log") + i))
for _ in $(seq 200); do # the store has indexed everything
    [ "$("$KAUDIT" query --store "$D" --stage any --count 2>/dev/null)" = "$n_events" ] && break
    sleep 0.1
done
"$KAUDIT" query --store "$D" --user 'system:serviceaccount:*' -o jsonl | no_warm |
    jq -c 'select(.stage == "ResponseComplete" or .stage == "Panic")' | sort >"$T/s.want"
"$KAUDIT" query --store "$D" --stage any --verb get -o jsonl | no_warm | sort >"$T/a.want"
wait_rows "$T/s.out" "$(wc -l <"$T/s.want")" || bad "store: the rows were not printed while following"
wait_rows "$T/a.out" "$(wc -l <"$T/a.want")" || bad "store --stage any: the rows were not printed while following"
sleep 0.3
kill "$QP" "$AP"
if [ -s "$T/s.want" ] && cmp -s <(no_warm "$T/s.out" | sort) "$T/s.want"; then
    ok "store: $(wc -l <"$T/s.want") requests of service accounts, each once, as the store holds them"
else
    bad "store: $(wc -l <"$T/s.out") rows printed, $(wc -l <"$T/s.want") expected ($(head -c 200 "$T/s.err"))"
fi
if [ -s "$T/a.want" ] && cmp -s <(no_warm "$T/a.out" | sort) "$T/a.want"; then
    ok "store --stage any: $(wc -l <"$T/a.want") events"
else
    bad "store --stage any: $(wc -l <"$T/a.out") events printed, $(wc -l <"$T/a.want") expected"
fi

# 3. --limit ends by itself; refusals.
for _ in $(seq 100); do kill -0 "$LP" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$LP" 2>/dev/null && wait "$LP" && [ "$(wc -l <"$T/l.out")" -eq 5 ]; then
    ok "--limit 5: five rows, then exit 0"
else
    kill -KILL "$LP" 2>/dev/null
    bad "--limit 5: $(wc -l <"$T/l.out") rows, still running or failed ($(head -c 200 "$T/l.err"))"
fi
mkdir -p "$T/nojournal"
if "$KAUDIT" query -f --store "$T/nojournal" >/dev/null 2>"$T/e1" ||
    ! grep -q "no collector journal in $T/nojournal" "$T/e1"; then
    bad "no journal: $(cat "$T/e1")"
else ok "a data directory without a journal is refused"; fi
if "$KAUDIT" query -f "$T/g.log" "$T/audit.log" >/dev/null 2>"$T/e2" || ! grep -q "one file at a time" "$T/e2"; then
    bad "two files: $(cat "$T/e2")"
else ok "two files are refused"; fi

echo "query_follow: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
