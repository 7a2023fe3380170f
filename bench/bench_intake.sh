#!/usr/bin/env bash
# bench_intake.sh - sustained intake of `kaudit serve` (durable: group-committed fsync before
# each 200) beside a discard-only libmicrohttpd receiver (bench_discard) as the ceiling.
#
# Bodies: 400-event EventLists built from `kaudit gen --seed 42` events (about 1 KB each),
# pre-generated once. Load: bench_post with 1, 2 and 4 keep-alive connections over loopback,
# SECONDS each, RUNS times; every serve run starts from a fresh data directory with the
# default configuration (policy, redaction, 100 MiB segments, gzip of rotated segments).
# A second serve run per round sets journal.compress: false ("serve-nogz"): gzip of the rotated
# 100 MiB segments runs on the mill thread and competes with intake for the 2 cores. A third
# turns the journal's consumers off ("serve-intake-only": store.enabled and detect.enabled
# false): by default the store and live detection read the journal while it is written and
# take CPU from intake. VARIANTS="default nogz intake" chooses among them.
# Reports events/s and MB/s per run, serve's peak RSS (VmHWM) and journal fsyncs per batch.
#
# usage: bench/bench_intake.sh [BUILD-DIR] [SECONDS] [RUNS]   (BUILD-DIR: a Release build with
#        the bench programs, default build-bench-rel; SECONDS 10; RUNS 3)
# env:   CONNS="1 2 4" (connection counts), WORK=/tmp/kaudit-intake (bodies and data dirs)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${1:-$HERE/../build-bench-rel}
SECS=${2:-10}
RUNS=${3:-3}
CONNS=${CONNS:-"1 2 4"}
WORK=${WORK:-/tmp/kaudit-intake}
KAUDIT=$B/kaudit
POST=$B/bench/bench_post
DISCARD=$B/bench/bench_discard
for p in "$KAUDIT" "$POST" "$DISCARD"; do
    [ -x "$p" ] || { echo "missing $p (cmake --build $B)" >&2; exit 1; }
done
mkdir -p "$WORK"
BODIES=$WORK/bodies-400.jsonl
PID=

cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$WORK/data"
}
trap cleanup EXIT

# 64 bodies of 400 events (25,600 distinct events, ~27 MB), one EventList per line.
if [ ! -s "$BODIES" ]; then
    "$KAUDIT" gen --seed 42 --events 25600 |
        awk 'BEGIN { ORS = "" }
             { if (n == 0) print "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":["
               else print ","
               print $0; n++
               if (n == 400) { print "]}\n"; n = 0 } }' >"$BODIES"
fi
echo "# bodies: $(wc -l <"$BODIES") EventLists of 400 events, $(wc -c <"$BODIES") bytes" \
     "($(($(wc -c <"$BODIES") / $(wc -l <"$BODIES") / 400)) bytes per event)"

free_port() { echo $((20000 + RANDOM % 40000)); }

printf 'journal:\n  compress: false\n' >"$WORK/nogz.yaml"
: >"$WORK/default.yaml"
printf 'store:\n  enabled: false\ndetect:\n  enabled: false\n' >"$WORK/intake.yaml"

# start_serve CONFIG: a fresh data dir; waits for the ready line. Sets PID and PORT.
start_serve() {
    local try
    for try in 1 2 3 4 5; do
        rm -rf "$WORK/data"
        PORT=$(free_port)
        "$KAUDIT" serve -c "$1" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" 2>"$WORK/serve.err" &
        PID=$!
        for _ in $(seq 100); do
            grep -q "listening on" "$WORK/serve.err" && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
    done
    echo "serve did not start: $(cat "$WORK/serve.err")" >&2
    exit 1
}

start_discard() {
    local try
    for try in 1 2 3 4 5; do
        PORT=$(free_port)
        "$DISCARD" "$PORT" 2>"$WORK/discard.err" &
        PID=$!
        for _ in $(seq 50); do
            grep -q "listening" "$WORK/discard.err" && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        wait "$PID" 2>/dev/null; PID=
    done
    echo "bench_discard did not start" >&2
    exit 1
}

stop() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
}

metric() { # metric NAME: the sum of the samples of NAME on /metrics
    curl -s "http://127.0.0.1:$PORT/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%.0f", s }'
}

for c in $CONNS; do
    for r in $(seq "$RUNS"); do
        start_discard
        out=$("$POST" 127.0.0.1 "$PORT" /audit "$c" "$SECS" "$BODIES" 400)
        stop
        echo "discard conns=$c run=$r $out"
        for v in ${VARIANTS:-default nogz intake}; do
            start_serve "$WORK/$v.yaml"
            out=$("$POST" 127.0.0.1 "$PORT" /audit "$c" "$SECS" "$BODIES" 400)
            hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")
            fs=$(metric kaudit_journal_fsyncs_total)
            ok=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
            fpb=$(awk -v f="$fs" -v b="$ok" 'BEGIN { printf "%.2f", b ? f / b : 0 }')
            stop
            name=serve; [ "$v" = nogz ] && name=serve-nogz; [ "$v" = intake ] && name=serve-intake-only
            echo "$name conns=$c run=$r $out rss_peak_kb=$hwm fsyncs=$fs fsyncs/batch=$fpb"
        done
    done
done
