#!/bin/bash
# Benchmarks, side by side with public tools on the same file (the machine is shared and noisy:
# compare the ratios, not the absolute figures). Usage: bench/run.sh [BUILD_DIR] [SIZE]
# Environment: BENCH_DIR (where the test file goes; default /tmp/kaudit-bench), RUNS (default 3).
set -euo pipefail
BUILD=${1:-build}
SIZE=${2:-1G}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K=$BUILD/kaudit
DIR=${BENCH_DIR:-/tmp/kaudit-bench}
mkdir -p "$DIR"
F=$DIR/gen-$SIZE.log
POL=$ROOT/deploy/audit-policy.yaml

[ -s "$F" ] || "$K" gen --bytes "$SIZE" --seed 42 >"$F"
BYTES=$(stat -c %s "$F")
LINES=$(wc -l <"$F")
echo "file: $F, $BYTES bytes, $LINES events"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
cat "$F" >/dev/null

# best-of-RUNS wall time of a command, in seconds
best() {
  local best=999999 t0 t1 t
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if (($(echo "$t < $best" | bc -l))); then best=$t; fi
  done
  echo "$best"
}
row() { # name seconds
  printf "%-58s %8.3f s %9.0f MB/s\n" "$1" "$2" "$(echo "$BYTES / $2 / 1000000" | bc -l)"
}

t_cat=$(best cat "$F"); row "cat FILE > /dev/null" "$t_cat"
t_wc=$(best wc -l "$F"); row "wc -l FILE" "$t_wc"
# grep stops at the first match when its output is /dev/null: count into a file instead.
grep_count() { grep -c -F '"verb":"delete"' "$F" >"$DIR/grep.out" || true; }
t_grep=$(best grep_count); row "grep -c -F '\"verb\":\"delete\"' FILE" "$t_grep"
t_scan=$(best "$BUILD/bench/bench_scan" "$F"); row "bench_scan (read + scan + extract indexed fields)" "$t_scan"
for _ in $(seq "$RUNS"); do "$BUILD/bench/bench_scan" "$F"; done
t_apply=$(best "$K" policy apply -p "$POL" "$F"); row "kaudit policy apply -p deploy/audit-policy.yaml" "$t_apply"
t_eval=$(best "$K" policy eval -p "$POL" "$F"); row "kaudit policy eval -p deploy/audit-policy.yaml" "$t_eval"
RUNS=1 t_jq=$(best jq -c 'select(.verb=="delete" and .objectRef.resource=="deployments")' "$F")
row "jq -c 'select(.verb==\"delete\" and ...)' (1 run)" "$t_jq"
echo
printf "ratios (time): scan/cat %.1f, scan/wc %.2f, scan/grep %.2f, jq/scan %.1f, jq/apply %.1f\n" \
  "$(echo "$t_scan / $t_cat" | bc -l)" "$(echo "$t_scan / $t_wc" | bc -l)" \
  "$(echo "$t_scan / $t_grep" | bc -l)" "$(echo "$t_jq / $t_scan" | bc -l)" \
  "$(echo "$t_jq / $t_apply" | bc -l)"
echo
"$BUILD/bench/bench_policy" 3 "$POL" "$ROOT/bench/policy-50-rules.yaml"
