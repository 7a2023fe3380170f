#!/bin/bash
# forward_clickhouse.sh - forwards a journal to a real clickhouse-server (Debian's, started here
# on a free loopback port with a temporary config and data directory), kills the server
# mid-stream and starts it again, SIGKILLs kaudit mid-forward and restarts it; afterwards every
# journal event is in ClickHouse exactly once (after the ReplacingMergeTree merge), compared by
# count and by the set of auditIDs. Also checks `kaudit clickhouse check` and a Distributed
# table over the server's test cluster definitions. Events come from `kaudit gen`.
set -u
KAUDIT=${1:?kaudit binary}
SERVER=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
[ -x "$SERVER" ] || { echo "skip: no clickhouse-server"; exit 77; }
command -v curl >/dev/null || { echo "skip: no curl"; exit 77; }
T=$(mktemp -d); SP=; KP=
cleanup() { [ -n "$KP" ] && kill -9 $KP 2>/dev/null; [ -n "$SP" ] && kill -9 $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/ship.log" 2>/dev/null; exit 1; }
. "$(dirname "$0")/../util/clickhouse.sh"
CH_SERVER=$SERVER
TP=$(ch_port); CH_TP=$TP
mkdir -p "$T/journal"
# The test clusters the server ships, pointed at this server's TCP port.
CLUSTERS=$(sed -n '/<test_shard_localhost>/,/<\/test_cluster_two_shards_localhost>/p' \
  /etc/clickhouse-server/config.xml 2>/dev/null | sed "s/<port>9000</<port>$TP</; s/localhost</127.0.0.1</")
[ -n "$CLUSTERS" ] || CLUSTERS="<test_cluster_two_shards_localhost><shard><replica><host>127.0.0.1</host><port>$TP</port></replica></shard><shard><replica><host>127.0.0.1</host><port>$TP</port></replica></shard></test_cluster_two_shards_localhost>"
ch_setup "$T" "<remote_servers>$CLUSTERS</remote_servers>"; HP=$CH_HP
start_server() { ch_start || return 1; SP=$CH_PID; }
q() { ch_q "$1"; }
start_server || { echo "skip: clickhouse-server does not start here"; exit 77; }
URL="clickhouse://127.0.0.1:$HP/kaudit?table=ev"
OPTS=(--option batch_events=1000 --option batch_ms=300 --option backoff_max_ms=1000 --option concurrency=2 --retries 0)
"$KAUDIT" gen --seed 3 --events 30000 -o "$T/all.log" || fail gen
head -n 10000 "$T/all.log" > "$T/journal/audit.log"
ship() { "$KAUDIT" ship --journal "$T/journal" --until-idle --output "$URL" "${OPTS[@]}" -q >>"$T/ship.log" 2>&1 & KP=$!; }
ship
sleep 1
sed -n '10001,20000p' "$T/all.log" >> "$T/journal/audit.log"
# The destination dies mid-stream and comes back.
kill -9 $SP; wait $SP 2>/dev/null; SP=
sleep 2
start_server || fail "server restart"
sleep 1
# kaudit dies mid-forward and restarts.
sed -n '20001,30000p' "$T/all.log" >> "$T/journal/audit.log"
sleep 0.3
kill -9 $KP; wait $KP 2>/dev/null; KP=
ship
wait $KP; rc=$?; KP=
[ $rc -eq 0 ] || fail "ship exited $rc"
q "OPTIMIZE TABLE kaudit.ev FINAL" || fail optimize
N=$(q "SELECT count() FROM kaudit.ev")
U=$(q "SELECT uniqExact(audit_id, stage) FROM kaudit.ev")
WANT=$(wc -l < "$T/all.log")
echo "journal events $WANT, rows $N, distinct $U"
[ "$N" = "$WANT" ] && [ "$U" = "$WANT" ] || fail "rows $N distinct $U, want $WANT"
q "SELECT audit_id, stage FROM kaudit.ev ORDER BY audit_id, stage FORMAT TSV" > "$T/got.tsv"
python3 - "$T/all.log" "$T/got.tsv" <<'PY' || fail "auditID sets differ"
import json, sys
want = sorted((e["auditID"], e["stage"]) for e in map(json.loads, open(sys.argv[1])))
got = sorted(tuple(l.rstrip("\n").split("\t")) for l in open(sys.argv[2]))
sys.exit(0 if want == got else 1)
PY
"$KAUDIT" clickhouse check --url "$URL" >"$T/check.out" || { cat "$T/check.out"; fail "check"; }
# Sharded: local table + Distributed over the shipped two-shard test cluster.
DURL="clickhouse://127.0.0.1:$HP/kdist?table=ev&distributed=test_cluster_two_shards_localhost"
"$KAUDIT" gen --seed 4 --events 2000 -o "$T/d.log"
"$KAUDIT" ship -q --output "$DURL" "$T/d.log" >>"$T/ship.log" 2>&1 || fail "ship to Distributed"
for _ in $(seq 50); do L=$(q "SELECT count() FROM kdist.ev_local"); [ "$L" = 2000 ] && break; sleep 0.2; done
D=$(q "SELECT count() FROM kdist.ev")
echo "distributed: local rows $L, via Distributed $D (two shards on one server)"
[ "$L" = 2000 ] && [ "$D" = 4000 ] || fail "distributed local $L dist $D"
echo ok
