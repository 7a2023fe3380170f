#!/bin/bash
# forward_syslog.sh - ships events to a real rsyslogd (imtcp with octet counting on a free
# loopback port, temporary config, writing to a file), kills and restarts rsyslog mid-stream;
# afterwards every event is in the file at least once (auditIDs compared). Events come from
# `kaudit gen`.
set -u
KAUDIT=${1:?kaudit binary}
RS=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$RS" ] || { echo "skip: no rsyslogd"; exit 77; }
T=$(mktemp -d); RP=; KP=
cleanup() { [ -n "$KP" ] && kill -9 $KP 2>/dev/null; [ -n "$RP" ] && kill -9 $RP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/ship.log" "$T/rs.log" 2>/dev/null; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/rsyslog.conf" <<CONF
global(workDirectory="$T" maxMessageSize="256k")
module(load="imtcp" MaxSessions="50")
input(type="imtcp" address="127.0.0.1" port="$PORT" SupportOctetCountedFraming="on")
template(name="msgonly" type="string" string="%msg%\n")
*.* action(type="omfile" file="$T/out.log" template="msgonly")
CONF
start_rs() {
  "$RS" -n -f "$T/rsyslog.conf" -i "$T/rs.pid" >>"$T/rs.log" 2>&1 &
  RP=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
start_rs || { echo "skip: rsyslogd does not start here"; exit 77; }
"$KAUDIT" gen --seed 5 --events 100000 -o "$T/all.log" || fail gen
"$KAUDIT" ship -q --output "syslog+tcp://127.0.0.1:$PORT" --option batch_events=200 \
  --option backoff_max_ms=500 --retries 0 "$T/all.log" >"$T/ship.log" 2>&1 & KP=$!
sleep 0.3
kill -0 $KP 2>/dev/null || fail "ship finished before the receiver was killed"
kill -TERM $RP; wait $RP 2>/dev/null; RP=
sleep 1
start_rs || fail "rsyslog restart"
wait $KP; rc=$?; KP=
[ $rc -eq 0 ] || fail "ship exited $rc"
kill -TERM $RP; wait $RP 2>/dev/null; RP=
python3 - "$T/all.log" "$T/out.log" <<'PY' || fail "events missing"
import json, sys
want = {(e["auditID"], e["stage"]) for e in map(json.loads, open(sys.argv[1]))}
got, lines = set(), 0
for l in open(sys.argv[2]):
    l = l.strip()
    if not l: continue
    e = json.loads(l); got.add((e["auditID"], e["stage"])); lines += 1
print("events %d, lines in the syslog file %d, distinct %d, missing %d" % (len(want), lines, len(got), len(want - got)))
sys.exit(0 if not (want - got) else 1)
PY
echo ok
