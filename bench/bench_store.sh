#!/bin/bash
# bench_store.sh - the store's figures: indexing rate of `kaudit index` on a `kaudit gen` file,
# bytes per event on disk against the raw log, and (bench_store) the point query "who deleted
# deployment X" and the 24-hour top-users query on that store, with their query plans; the
# rate of the journal consumer of `kaudit serve` on the first million events (at most);
# `kaudit query --top user` over the whole store.
# The machine may be shared and busy: the script prints the load average beside the figures.
# usage: bench/bench_store.sh BUILD_DIR [EVENTS] [WORKDIR]   (defaults: 10000000, /tmp)
#   BUILD_DIR holds a Release build's kaudit and bench/bench_store.
set -u
B=${1:?usage: bench_store.sh BUILD_DIR [EVENTS] [WORKDIR]}
N=${2:-10000000}
W=${3:-/tmp}/kaudit-bench-store
K=$B/kaudit
Q=$B/bench/bench_store
mkdir -p "$W"
LOG=$W/gen-$N.log
[ -s "$LOG" ] || "$K" gen --seed 1 --attacks --events "$N" -o "$LOG" || exit 2
RAW=$(stat -L -c %s "$LOG")
echo "data: $LOG, $N events, $RAW bytes ($((RAW / N)) bytes/event); free disk:"
df -h "$W" | tail -1
cat "$LOG" >/dev/null # warm the page cache
rm -rf "$W/store"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
"$K" index --store "$W/store" "$LOG" 2>"$W/index.err"
t1=$(date +%s.%N)
tail -2 "$W/index.err"
echo "index: $(echo "$N / ($t1 - $t0)" | bc) events/s wall; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
DB=$(stat -c %s "$W/store/store/kaudit.db")
echo "disk: $DB bytes, $(echo "scale=1; $DB / $N" | bc) bytes/event, $(echo "scale=3; $DB / $RAW" | bc) of the raw log"
# a deployment that was deleted, for the point query
# (gen deletes deployments rarely: without one, a deployment that exists, so that the index is
# searched for a real name)
pick() { grep -m1 "$1" "$LOG" | sed -n 's/.*"resource":"deployments"[^}]*"name":"\([^"]*\)".*/\1/p'; }
NAME=$(grep '"verb":"delete"' "$LOG" | grep -m1 '"resource":"deployments"' |
       sed -n 's/.*"resource":"deployments"[^}]*"name":"\([^"]*\)".*/\1/p')
[ -n "$NAME" ] || NAME=$(pick '"resource":"deployments","namespace":"[^"]*","name"')
echo "point query on deployment '${NAME:-none}'"
"$Q" "$W/store" "${NAME:-none}" 5
echo "repeat (warm):"
"$Q" "$W/store" "${NAME:-none}" 5 | grep -E "median|count"
# a point query with rows: the most deleted configmap
CM=$(grep '"verb":"delete"' "$LOG" | grep -o '"objectRef":{"resource":"configmaps","namespace":"[^"]*","name":"[^"]*"' |
     sort | uniq -c | sort -rn | head -1 | sed 's/.*"name":"\([^"]*\)"/\1/')
echo "point query with rows: configmap '${CM:-none}'"
"$Q" "$W/store" "${CM:-none}" 5 configmaps | grep -E "^point|plan: SEARCH events"
echo "kaudit query --top user over the store (answered from the columns):"
/usr/bin/time -f "  %e s" "$K" query --store "$W/store" --top user --top-n 3 --since 2000-01-01T00:00:00Z
C=$((N < 1000000 ? N : 1000000))
rm -rf "$W/consumer" && mkdir -p "$W/consumer"
echo "journal consumer (kaudit serve's store feed) on $C events; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$Q" --consumer "$LOG" "$C" "$W/consumer"
rm -rf "$W/consumer"
