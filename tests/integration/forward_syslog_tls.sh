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
. "$(dirname "$0")/../util/rsyslog.sh"
[ -x "$RS" ] || { echo "skip: no rsyslogd"; exit 77; }
command -v openssl >/dev/null || { echo "skip: no openssl to make the certificates"; exit 77; }
T=$(mktemp -d); RP=; KP=
cleanup() { [ -n "$KP" ] && kill -9 $KP 2>/dev/null; [ -n "$RP" ] && kill -9 $RP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/ship.log" "$T/rs.log" 2>/dev/null; exit 1; }

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

rs_conf "$(rs_port)" \
  "DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"$T/ca.pem\"
       DefaultNetstreamDriverCertFile=\"$T/server.pem\" DefaultNetstreamDriverKeyFile=\"$T/server.key\"" \
  "StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\""
if ! rs_start; then
  grep -qi "gtls\|netstream\|lmnsd" "$T/rs.log" &&
    { echo "skip: rsyslog cannot load its gtls stream driver: $(grep -i 'gtls\|lmnsd' "$T/rs.log" | head -1)"; exit 77; }
  echo "skip: rsyslogd does not start here: $(tail -1 "$T/rs.log")"; exit 77
fi
if grep -qi "could not load module.*lmnsd_gtls\|lmnsd_gtls.*error" "$T/rs.log"; then
  echo "skip: rsyslog cannot load its gtls stream driver"; exit 77
fi

"$KAUDIT" gen --seed 6 --events 30000 -o "$T/all.log" || fail gen
URL="syslog+tls://127.0.0.1:$RS_PORT"
rs_ship_restart "$URL" "$T/all.log" --option "ca=$T/ca.pem"
sleep 0.5
rs_stop
rs_all_arrived TLS "$T/all.log"

# A client trusting another CA: nothing delivered, every event dead-lettered with a reason.
rs_start || fail "rsyslog restart"
before=$(wc -l < "$T/out.log")
head -n 50 "$T/all.log" > "$T/few.log"
"$KAUDIT" ship -q --output "$URL" --option "ca=$T/other.pem" --option backoff_max_ms=50 \
  --option "dead_letter=$T/dead.jsonl" --retries 2 "$T/few.log" >"$T/ship2.log" 2>&1
after=$(wc -l < "$T/out.log")
[ "$after" -eq "$before" ] || fail "a server with an untrusted certificate received $((after - before)) lines"
[ "$(wc -l < "$T/dead.jsonl" 2>/dev/null || echo 0)" -eq 50 ] || fail "expected 50 dead letters: $(cat "$T/ship2.log")"
echo "untrusted server: 0 lines delivered, 50 dead letters"
echo ok
