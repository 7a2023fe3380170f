#!/usr/bin/env bash
# bench_tail.sh - follower throughput: `kaudit tail --from-start` reading a large audit log to
# its end, beside `cat` on the same file (both write into a pipe read by `head -c SIZE`; the
# clock stops when every byte went through). Prints MB/s (10^6 bytes per second).
# Usage: bench/bench_tail.sh KAUDIT_BINARY [SIZE (default 1G)] [DIR (default /tmp)]
set -eu
bin=${1:?usage: bench_tail.sh KAUDIT_BINARY [SIZE] [DIR]}
size=${2:-1G}
dir=$(mktemp -d "${3:-/tmp}/kaudit-bench-tail-XXXXXX")
trap 'rm -rf "$dir"' EXIT
f=$dir/audit.log
"$bin" gen --seed 1 --bytes "$size" -o "$f"
bytes=$(stat -c %s "$f")
cat "$f" >/dev/null # warm the page cache: both runs read from memory

run() { # run NAME COMMAND...: seconds for COMMAND | head -c bytes
    local name=$1 t0 t1
    shift
    rm -f "$dir/pipe" && mkfifo "$dir/pipe"
    t0=$(date +%s.%N)
    "$@" >"$dir/pipe" 2>/dev/null &
    local pid=$!
    head -c "$bytes" <"$dir/pipe" >/dev/null
    t1=$(date +%s.%N)
    kill "$pid" 2>/dev/null || true # the follower keeps following: stop it
    wait "$pid" 2>/dev/null || true
    python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); b=int(sys.argv[3]);
print('%-28s %8.2f s %9.1f MB/s' % (sys.argv[4], t, b / t / 1e6))" "$t0" "$t1" "$bytes" "$name"
}
echo "file: $bytes bytes, $(wc -l <"$f") lines"
for i in 1 2 3; do
    run "cat" cat "$f"
    run "kaudit tail --from-start" "$bin" tail --from-start "$f"
done
