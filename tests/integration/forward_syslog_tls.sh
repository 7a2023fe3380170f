#!/bin/bash
# forward_syslog_tls.sh - syslog over TLS (RFC 5425) to a real rsyslogd: imtcp with the gtls
# stream driver on a free loopback port, a CA and a server certificate made here with openssl
# in a temporary directory. Ships events while rsyslog is killed and restarted; afterwards every
# event is in the file at least once (auditIDs and stages compared). Then a client that trusts
# another CA must not deliver anything (events dead-lettered with the TLS reason). Skips (77)
# with the reason when openssl is missing or rsyslog cannot load the gtls driver. Events come
# from `kaudit gen`.
set -u
KAUDIT=${1:?kaudit binary}
RS=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$RS" ] || { echo "skip: no rsyslogd"; exit 77; }
command -v openssl >/dev/null || { echo "skip: no openssl to make the certificates"; exit 77; }
T=$(mktemp -d); RP=; KP=
cleanup() { [ -n "$KP" ] && kill -9 $KP 2>/dev/null; [ -n "$RP" ] && kill -9 $RP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/ship.log" "$T/rs.log" 2>/dev/null; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA.
mkca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" -keyout "$T/$1.key" \
    -out "$T/$1.pem" >/dev/null 2>&1
}
mkca ca "kaudit test CA" && mkca other "another CA" || fail "openssl CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$T/server.key" \
  -out "$T/server.csr" >/dev/null 2>&1 || fail "openssl csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$T/ext.cnf"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
  -days 2 -extfile "$T/ext.cnf" -out "$T/server.pem" >/dev/null 2>&1 || fail "openssl sign"

cat > "$T/rsyslog.conf" <<CONF
global(workDirectory="$T" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="$T/ca.pem"
       DefaultNetstreamDriverCertFile="$T/server.pem"
       DefaultNetstreamDriverKeyFile="$T/server.key")
module(load="imtcp" MaxSessions="50" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="anon")
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
if ! start_rs; then
  grep -qi "gtls\|netstream\|lmnsd" "$T/rs.log" &&
    { echo "skip: rsyslog cannot load its gtls stream driver: $(grep -i 'gtls\|lmnsd' "$T/rs.log" | head -1)"; exit 77; }
  echo "skip: rsyslogd does not start here: $(tail -1 "$T/rs.log")"; exit 77
fi
if grep -qi "could not load module.*lmnsd_gtls\|lmnsd_gtls.*error" "$T/rs.log"; then
  echo "skip: rsyslog cannot load its gtls stream driver"; exit 77
fi

"$KAUDIT" gen --seed 6 --events 30000 -o "$T/all.log" || fail gen
URL="syslog+tls://127.0.0.1:$PORT"
"$KAUDIT" ship -q --output "$URL" --option "ca=$T/ca.pem" --option batch_events=200 \
  --option backoff_max_ms=500 --retries 0 "$T/all.log" >"$T/ship.log" 2>&1 & KP=$!
sleep 0.3
kill -0 $KP 2>/dev/null || echo "note: ship finished before the receiver was killed"
kill -TERM $RP; wait $RP 2>/dev/null; RP=
sleep 1
start_rs || fail "rsyslog restart"
wait $KP; rc=$?; KP=
[ $rc -eq 0 ] || fail "ship exited $rc"
sleep 0.5
kill -TERM $RP; wait $RP 2>/dev/null; RP=
python3 - "$T/all.log" "$T/out.log" <<'PY' || fail "events missing"
import json, sys
want = {(e["auditID"], e["stage"]) for e in map(json.loads, open(sys.argv[1]))}
got, lines = set(), 0
for l in open(sys.argv[2]):
    l = l.strip()
    if not l: continue
    e = json.loads(l); got.add((e["auditID"], e["stage"])); lines += 1
print("TLS: events %d, lines in the syslog file %d, distinct %d, missing %d" % (len(want), lines, len(got), len(want - got)))
sys.exit(0 if not (want - got) else 1)
PY

# A client trusting another CA: nothing delivered, every event dead-lettered with a reason.
start_rs || fail "rsyslog restart"
before=$(wc -l < "$T/out.log")
head -n 50 "$T/all.log" > "$T/few.log"
"$KAUDIT" ship -q --output "$URL" --option "ca=$T/other.pem" --option backoff_max_ms=50 \
  --option "dead_letter=$T/dead.jsonl" --retries 2 "$T/few.log" >"$T/ship2.log" 2>&1
after=$(wc -l < "$T/out.log")
[ "$after" -eq "$before" ] || fail "a server with an untrusted certificate received $((after - before)) lines"
[ "$(wc -l < "$T/dead.jsonl" 2>/dev/null || echo 0)" -eq 50 ] || fail "expected 50 dead letters: $(cat "$T/ship2.log")"
echo "untrusted server: 0 lines delivered, 50 dead letters"
echo ok
