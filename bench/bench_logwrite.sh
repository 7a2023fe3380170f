#!/bin/bash
# bench_logwrite.sh - write throughput of `kaudit write` (JSON, default rotation at 100 MiB)
# without fsync and with an fsync per 400 events, beside `cat FILE > OUT` and
# `dd if=FILE of=OUT bs=1M conv=fsync` on the same data. Each figure is run RUNS times; the
# best and worst MB/s are printed (the machine may be busy), and the ratios use the best.
# usage: bench/bench_logwrite.sh KAUDIT [SIZE] [RUNS] [WORKDIR]   (defaults: 1G, 3, /tmp)
set -u
K=${1:?usage: bench_logwrite.sh KAUDIT [SIZE] [RUNS] [WORKDIR]}
SIZE=${2:-1G}
RUNS=${3:-3}
W=$(mktemp -d "${4:-/tmp}/kaudit-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
IN=$W/in.log
"$K" gen --bytes "$SIZE" --seed 1 -o "$IN" || exit 2
BYTES=$(stat -c %s "$IN")
cat "$IN" >/dev/null # warm the page cache

now() { date +%s.%N; }
# Runs "$@" RUNS times (output dir cleaned before each), prints "best worst" MB/s.
measure() {
  local best=0 worst=0 i t0 t1 mbs
  for i in $(seq "$RUNS"); do
    rm -rf "$W/out"; mkdir -p "$W/out"; sync
    t0=$(now); "$@" >/dev/null || { echo "failed: $*" >&2; exit 2; }; t1=$(now)
    mbs=$(echo "$BYTES / 1000000 / ($t1 - $t0)" | bc -l)
    best=$(echo "if ($mbs > $best) $mbs else $best" | bc -l)
    worst=$(echo "if ($worst == 0 || $mbs < $worst) $mbs else $worst" | bc -l)
  done
  printf '%.0f %.0f\n' "$best" "$worst"
}

read -r cat_b cat_w < <(measure sh -c "cat '$IN' > '$W/out/x'")
read -r dd_b dd_w < <(measure dd if="$IN" of="$W/out/x" bs=1M conv=fsync status=none)
read -r kn_b kn_w < <(measure "$K" write --no-fsync --audit-log-path "$W/out/audit.log" "$IN")
read -r kf_b kf_w < <(measure "$K" write --fsync-every 400 --audit-log-path "$W/out/audit.log" "$IN")
read -r cn_b cn_w < <(measure "$K" write --no-fsync --coalesce 1M --audit-log-path "$W/out/audit.log" "$IN")
read -r cf_b cf_w < <(measure "$K" write --fsync-every 400 --coalesce 1M --audit-log-path "$W/out/audit.log" "$IN")

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
printf 'input: %s bytes of `kaudit gen` JSON lines, %s runs each (MB = 10^6 bytes)\n' "$BYTES" "$RUNS"
printf '%-44s %8s %8s  %s\n' "what" "best" "worst" "ratio (best)"
printf '%-44s %8s %8s\n' "cat FILE > OUT" "$cat_b" "$cat_w"
printf '%-44s %8s %8s\n' "dd bs=1M conv=fsync" "$dd_b" "$dd_w"
printf '%-44s %8s %8s  %s x cat\n' "kaudit write (json, no fsync)" "$kn_b" "$kn_w" "$(ratio "$kn_b" "$cat_b")"
printf '%-44s %8s %8s  %s x dd conv=fsync\n' "kaudit write (json, --fsync-every 400)" "$kf_b" "$kf_w" "$(ratio "$kf_b" "$dd_b")"
printf '%-44s %8s %8s  %s x cat\n' "kaudit write --coalesce 1M (no fsync)" "$cn_b" "$cn_w" "$(ratio "$cn_b" "$cat_b")"
printf '%-44s %8s %8s  %s x dd conv=fsync\n' "kaudit write --coalesce 1M --fsync-every 400" "$cf_b" "$cf_w" "$(ratio "$cf_b" "$dd_b")"
