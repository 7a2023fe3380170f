#!/usr/bin/env bash
# bench_alert_latency.sh - delay from intake to alert in `kaudit serve`: events of `kaudit gen
# --attacks` are sent with `kaudit send --rate RATE` (default 10,000 events/s) to a collector
# with the default detection rules; a python3 watcher polls the journal and the alert file every
# millisecond and records when each auditID first appears in the journal (durable: the intake's
# 200 goes out right after) and when its alert appears. The delay of an alert is the difference;
# the watcher prints the count, median, 99th percentile and maximum.
#
# usage: bench/bench_alert_latency.sh [KAUDIT] [SECONDS] [RATE]   (KAUDIT: a Release build)
set -u
KAUDIT=${1:-build/kaudit}
SECS=${2:-20}
RATE=${3:-10000}
T=$(mktemp -d /tmp/kaudit-alert-lat.XXXXXX)
PID=
WPID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    [ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
N=$((SECS * RATE))
"$KAUDIT" gen --events "$N" --seed 42 --attacks -o "$T/gen.log" || exit 1
PORT=$((20000 + RANDOM % 40000))
"$KAUDIT" serve --listen "127.0.0.1:$PORT" --data-dir "$T/data" 2>"$T/err" &
PID=$!
for _ in $(seq 200); do grep -q "listening on" "$T/err" && break; sleep 0.05; done
cat >"$T/watch.py" <<'PY'
import os, re, sys, time
jdir, alerts, out = sys.argv[1], sys.argv[2], sys.argv[3]
rx = re.compile(rb'"auditID":"([^"]+)"')
rxa = re.compile(rb'"ka\.auditid":"([^"]+)"')
seen_j, delays = {}, []
pos = {}
def grow(path):
    try:
        with open(path, "rb") as f:
            f.seek(pos.get(path, 0))
            d = f.read()
    except FileNotFoundError:
        return b""
    cut = d.rfind(b"\n") + 1
    pos[path] = pos.get(path, 0) + cut
    return d[:cut]
stop = time.time() + float(sys.argv[4])
while time.time() < stop:
    now = time.monotonic()
    for m in rx.finditer(grow(os.path.join(jdir, "audit.log"))):
        seen_j.setdefault(m.group(1), now)
    for m in rxa.finditer(grow(alerts)):
        t0 = seen_j.get(m.group(1))
        if t0 is not None:
            delays.append(now - t0)
    time.sleep(0.001)
delays.sort()
with open(out, "w") as f:
    if delays:
        q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))] * 1000
        f.write("alerts=%d median_ms=%.1f p99_ms=%.1f max_ms=%.1f\n" % (len(delays), q(0.5), q(0.99), delays[-1] * 1000))
    else:
        f.write("alerts=0\n")
PY
python3 "$T/watch.py" "$T/data/journal" "$T/data/alerts/alerts.json" "$T/result" $((SECS + 5)) &
WPID=$!
sleep 0.5
"$KAUDIT" send "http://127.0.0.1:$PORT/audit" --rate "$RATE" --stats "$T/gen.log" 2>"$T/send.err" || cat "$T/send.err"
wait "$WPID"
WPID=
echo "rate=$RATE events/s for ${SECS}s: $(cat "$T/result")"
