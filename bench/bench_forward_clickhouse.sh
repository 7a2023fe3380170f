#!/bin/bash
# bench_forward_clickhouse.sh - forwarding throughput to ClickHouse (kaudit ship, events/s)
# side by side with clickhouse-client inserting the same rows from a file, and the end-to-end
# delay from a journal append to the event being queryable. Starts its own clickhouse-server
# on loopback with a temporary config. usage: bench_forward_clickhouse.sh KAUDIT [EVENTS]
set -eu
KAUDIT=${1:?kaudit binary}; N=${2:-200000}
SERVER=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
T=$(mktemp -d); SP=; KP=
trap '[ -n "$KP" ] && kill $KP 2>/dev/null; [ -n "$SP" ] && kill $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
. "$(dirname "$0")/../tests/util/clickhouse.sh"
CH_SERVER=$SERVER
ch_setup "$T"; HP=$CH_HP; TP=$CH_TP; mkdir -p "$T/journal"
ch_start; SP=$CH_PID
q() { ch_q "$1"; }
now() { date +%s.%N; }
"$KAUDIT" gen --seed 1 --events "$N" -o "$T/ev.log"
echo "events: $N ($(du -m "$T/ev.log" | cut -f1) MB), server $(q 'SELECT version()')"
t0=$(now)
# A backfill: big inserts (64 MB or 100,000 rows, as ClickHouse advises for bulk loads; the
# client below sends its default blocks of up to 1,048,576 rows), two in flight.
"$KAUDIT" ship -q --output "clickhouse://127.0.0.1:$HP/kaudit?table=ev" --option batch_events=100000 \
  --option batch_bytes=67108864 --option concurrency=2 ${SHIP_OPTS:-} "$T/ev.log" 2>"$T/ship.err"
t1=$(now)
ship_eps=$(python3 -c "print(int($N/($t1-$t0)))")
[ "$(q 'SELECT count() FROM kaudit.ev FINAL')" = "$N" ] || { echo "kaudit.ev does not hold $N rows" >&2; exit 1; }
q "SELECT * FROM kaudit.ev FORMAT JSONEachRow" > "$T/rows.json"
q "CREATE TABLE kaudit.ev2 AS kaudit.ev"
# The client's run must not share the CPU with merges of kaudit's parts.
for _ in $(seq 600); do [ "$(q 'SELECT count() FROM system.merges')" = 0 ] && break; sleep 0.1; done
t0=$(now)
clickhouse-client --port "$TP" --query "INSERT INTO kaudit.ev2 FORMAT JSONEachRow" < "$T/rows.json"
t1=$(now)
cli_eps=$(python3 -c "print(int($N/($t1-$t0)))")
echo "kaudit ship -> ClickHouse:          $ship_eps events/s"
echo "clickhouse-client, same rows file:  $cli_eps events/s"
echo "ratio: $(python3 -c "print('%.0f %%' % (100.0*$ship_eps/$cli_eps))")"
# End-to-end: a journal follower with default batching (1000 events or 1 s).
"$KAUDIT" ship -q --journal "$T/journal" --output "clickhouse://127.0.0.1:$HP/kaudit?table=e2e" 2>/dev/null & KP=$!
sleep 2
for i in 1 2 3 4 5; do
  sed -n "${i}p" "$T/ev.log" > "$T/one"
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["auditID"])' "$T/one")
  t0=$(now); cat "$T/one" >> "$T/journal/audit.log"
  until [ "$(q "SELECT count() FROM kaudit.e2e WHERE audit_id = '$id'" 2>/dev/null)" = 1 ]; do sleep 0.01; done
  t1=$(now); python3 -c "print('end-to-end delay (append -> queryable): %.0f ms' % (1000*($t1-$t0)))"
done
