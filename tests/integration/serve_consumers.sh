#!/usr/bin/env bash
# serve_consumers.sh - the journal consumers that `kaudit serve` runs beside its intake, end to
# end: `kaudit gen --events 20000 --seed 21 --attacks` is sent with `kaudit send` to a collector
# with the store and detection on (defaults) and one forwarding output (syslog over TCP with
# octet counting, to a recording receiver written here in python3). Then:
#   - the store answers `kaudit query --count` with the number of requests in the journal (jq);
#   - the live alerts are exactly the alerts of `kaudit detect` run offline over the journal
#     (same rules, same events: the same (rule, auditID) pairs);
#   - the syslog receiver got every journal event (auditID + stage) at least once;
#   - after SIGTERM and a restart on the same data directory nothing is stored, alerted or
#     forwarded again (the cursors were committed).
# Events come from `kaudit gen`; nothing is read from ../shared.
# usage: serve_consumers.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: serve_consumers.sh KAUDIT}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
T=$(mktemp -d /tmp/kaudit-serve-consumers.XXXXXX)
PID=
RPID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    [ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
D="$T/data"
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
die() { echo "FAIL: $*"; sed 's/^/  serve: /' "$T/err" 2>/dev/null | tail -20; exit 1; }

# A syslog receiver: RFC 6587 octet counting over TCP; each message's JSON part, one per line.
cat >"$T/recv.py" <<'PY'
import socket, sys, threading
out = open(sys.argv[1], "ab", buffering=0)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
open(sys.argv[2], "w").write(str(srv.getsockname()[1]))
lock = threading.Lock()
def serve(c):
    buf = b""
    while True:
        d = c.recv(1 << 16)
        if not d:
            c.close()  # at the sender's end of stream, as rsyslog does (kaudit's confirm=close)
            return
        buf += d
        while True:
            sp = buf.find(b" ")
            if sp <= 0 or not buf[:sp].isdigit():
                break
            n = int(buf[:sp])
            if len(buf) < sp + 1 + n:
                break
            msg = buf[sp + 1:sp + 1 + n]
            buf = buf[sp + 1 + n:]
            j = msg.find(b"{")
            with lock:
                out.write((msg[j:] if j >= 0 else b"NOJSON") + b"\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$T/recv.py" "$T/syslog.out" "$T/port" &
RPID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || die "the syslog receiver did not start"
cat >"$T/config.yaml" <<YAML
forward:
  outputs:
  - name: sys
    url: syslog+tcp://127.0.0.1:$(cat "$T/port")
YAML

start() { # start N: waits for the N-th "listening on" line
    for _ in 1 2 3 4 5 6 7 8; do
        PORT=$((20000 + RANDOM % 40000))
        "$KAUDIT" serve -c "$T/config.yaml" --listen "127.0.0.1:$PORT" --data-dir "$D" 2>>"$T/err" &
        PID=$!
        for _ in $(seq 600); do
            [ "$(grep -c "listening on" "$T/err")" -ge "$1" ] && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.05
        done
        wait "$PID" 2>/dev/null
        PID=
    done
    die "serve did not start"
}
stop() {
    kill -TERM "$PID"
    wait "$PID" || die "serve exited non-zero after SIGTERM"
    PID=
}
journal() { # every segment (gzipped too), each ended by a newline
    for f in "$D"/journal/audit*.log "$D"/journal/audit*.log.gz; do
        [ -e "$f" ] && { zcat -f "$f"; echo; }
    done | grep -v '^$'
}
requests() { journal | jq -r .auditID | sort -u | wc -l; }
keys_journal() { journal | jq -r '.auditID + " " + .stage' | sort -u; }
keys_syslog() { jq -r '.auditID + " " + .stage' "$T/syslog.out" 2>/dev/null | sort -u; }
stored() { "$KAUDIT" query --store "$D" --count 2>/dev/null; }
alerts() { jq -r '.output_fields["ka.auditid"] + " " + .rule' "$D/alerts/alerts.json" 2>/dev/null | sort; }

"$KAUDIT" gen --events 20000 --seed 21 --attacks -o "$T/gen.log" || die "kaudit gen failed"
: >"$T/err"
start 1
"$KAUDIT" send "http://127.0.0.1:$PORT/audit" "$T/gen.log" 2>"$T/send.err" || die "kaudit send failed: $(cat "$T/send.err")"
want_req=$(requests)
for _ in $(seq 600); do # 60 s for the consumers to catch up
    [ "$(stored)" = "$want_req" ] && [ "$(keys_syslog | comm -13 - <(keys_journal) | wc -l)" -eq 0 ] && break
    sleep 0.1
done
sleep 1.5 # the detection consumer commits its cursor every second
stop

got=$(stored)
[ "$got" = "$want_req" ] && ok "store: $got requests, as in the journal" ||
    bad "store: $got requests, the journal has $want_req"

"$KAUDIT" detect -o json "$D/journal/audit.log" 2>/dev/null |
    jq -r '.output_fields["ka.auditid"] + " " + .rule' | sort >"$T/offline"
alerts >"$T/live"
n_off=$(wc -l <"$T/offline")
[ "$n_off" -gt 0 ] || bad "offline detection found nothing: the comparison would be empty"
cmp -s "$T/live" "$T/offline" && ok "detection: $n_off live alerts, exactly those of kaudit detect on the journal" ||
    bad "detection: live and offline alerts differ: $(diff "$T/live" "$T/offline" | head -4 | tr '\n' ' ')"

missing=$(keys_syslog | comm -13 - <(keys_journal) | wc -l)
n_j=$(keys_journal | wc -l)
[ "$missing" -eq 0 ] && ok "syslog: all $n_j journal events forwarded ($(wc -l <"$T/syslog.out") messages)" ||
    bad "syslog: $missing of $n_j journal events not forwarded"

# Restart: cursors were committed, so nothing is consumed again.
n_alerts=$(wc -l <"$T/live")
n_sys=$(wc -l <"$T/syslog.out")
start 2
sleep 3
stop
[ "$(alerts | wc -l)" -eq "$n_alerts" ] && ok "restart: no alert repeated" ||
    bad "restart: $(($(alerts | wc -l) - n_alerts)) alerts repeated"
[ "$(wc -l <"$T/syslog.out")" -eq "$n_sys" ] && ok "restart: nothing forwarded again" ||
    bad "restart: $(($(wc -l <"$T/syslog.out") - n_sys)) messages forwarded again"
[ "$(stored)" = "$want_req" ] && ok "restart: store unchanged" || bad "restart: store changed"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
