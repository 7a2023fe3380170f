#!/bin/bash
# forward_syslog.sh - ships events to a real rsyslogd (imtcp with octet counting on a free
# loopback port, temporary config, writing to a file), kills and restarts rsyslog mid-stream;
# afterwards every event is in the file at least once (auditIDs compared). Events come from
# `kaudit gen`. The rsyslog helpers are in tests/util/rsyslog.sh.
set -u
KAUDIT=${1:?kaudit binary}
. "$(dirname "$0")/../util/rsyslog.sh"
[ -x "$RS" ] || { echo "skip: no rsyslogd"; exit 77; }
T=$(mktemp -d); RP=; KP=
cleanup() { [ -n "$KP" ] && kill -9 $KP 2>/dev/null; [ -n "$RP" ] && kill -9 $RP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/ship.log" "$T/rs.log" 2>/dev/null; exit 1; }
rs_conf "$(rs_port)"
rs_start || { echo "skip: rsyslogd does not start here"; exit 77; }
"$KAUDIT" gen --seed 5 --events 100000 -o "$T/all.log" || fail gen
RS_MUST_RESTART=1 rs_ship_restart "syslog+tcp://127.0.0.1:$RS_PORT" "$T/all.log"
rs_stop
rs_all_arrived TCP "$T/all.log"
echo ok
