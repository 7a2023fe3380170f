# rsyslog.sh - sourced by the syslog forwarding tests: a real rsyslogd (Debian's) on a free
# loopback port with a temporary config that writes every message to a file, its start and
# stop, shipping a log while rsyslogd is killed and restarted, and the check that every event
# arrived. Needs T (the test's temporary directory) and KAUDIT; sets nothing until called.
#
#   rs_port                         prints a free loopback TCP port
#   rs_conf PORT [GLOBAL] [MODULE]  sets RS_PORT, writes $T/rsyslog.conf: imtcp with octet
#                                   counting on 127.0.0.1:PORT, messages to $T/out.log; GLOBAL
#                                   and MODULE are added to the global() and module() lines
#   rs_start                        starts rsyslogd (RS), sets RP, waits up to 5 s for the port
#   rs_stop                         SIGTERM, waits for it (rsyslog discards what it has unread)
#   rs_ship_restart URL LOG OPT...  ships LOG to URL with kaudit ship (batches of 200, retries
#                                   forever), stops rsyslogd 0.3 s in and starts it again 1 s
#                                   later; fails unless ship exits 0, and when RS_MUST_RESTART=1
#                                   also if ship was done before the stop
#   rs_all_arrived LABEL LOG        every (auditID, stage) of LOG is in $T/out.log
# fail MESSAGE (the test's) reports and exits.
RS=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)

rs_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rs_conf() {
  RS_PORT=$1
  cat > "$T/rsyslog.conf" <<CONF
global(workDirectory="$T" maxMessageSize="256k" ${2:-})
module(load="imtcp" MaxSessions="50" ${3:-})
input(type="imtcp" address="127.0.0.1" port="$RS_PORT" SupportOctetCountedFraming="on")
template(name="msgonly" type="string" string="%msg%\n")
*.* action(type="omfile" file="$T/out.log" template="msgonly")
CONF
}

rs_start() {
  "$RS" -n -f "$T/rsyslog.conf" -i "$T/rs.pid" >>"$T/rs.log" 2>&1 &
  RP=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$RS_PORT") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

rs_stop() { kill -TERM "$RP"; wait "$RP" 2>/dev/null; RP=; }

rs_ship_restart() {
  local url=$1 log=$2; shift 2
  "$KAUDIT" ship -q --output "$url" "$@" --option batch_events=200 \
    --option backoff_max_ms=500 --retries 0 "$log" >"$T/ship.log" 2>&1 & KP=$!
  sleep 0.3
  if ! kill -0 "$KP" 2>/dev/null; then
    [ "${RS_MUST_RESTART:-0}" = 1 ] && fail "ship finished before the receiver was stopped"
    echo "note: ship finished before the receiver was stopped"
  fi
  rs_stop
  sleep 1
  rs_start || fail "rsyslog restart"
  wait "$KP"; local rc=$?; KP=
  [ $rc -eq 0 ] || fail "ship exited $rc"
}

rs_all_arrived() {
  python3 - "$1" "$2" "$T/out.log" <<'PY' || fail "events missing"
import json, sys
want = {(e["auditID"], e["stage"]) for e in map(json.loads, open(sys.argv[2]))}
got, lines = set(), 0
for l in open(sys.argv[3]):
    l = l.strip()
    if not l: continue
    e = json.loads(l); got.add((e["auditID"], e["stage"])); lines += 1
print("%s: events %d, lines in the syslog file %d, distinct %d, missing %d"
      % (sys.argv[1], len(want), lines, len(got), len(want - got)))
sys.exit(0 if not (want - got) else 1)
PY
}
