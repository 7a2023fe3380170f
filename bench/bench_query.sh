#!/usr/bin/env bash
# bench_query.sh - "who deleted deployment X" over a raw `kaudit gen` log, side by side:
#   kaudit query --file (requests: latest stage per auditID; and --stage any),
#   grep -F '"delete"' | grep -F '"X"'   (fast, imprecise),
#   jq -c 'select(...)'                    (exact, slow);
# then the same file indexed into a new store (`kaudit index`: events/s, bytes on disk) and
# the same question answered from the store.
# The file is read from the page cache (warmed first). Prints best-of-RUNS seconds, MB/s
# (10^6 bytes per second) and kaudit's speed as a multiple of jq's and a fraction of grep's.
# Usage: bench/bench_query.sh KAUDIT_BINARY [SIZE (default 1G)] [DIR (default /tmp)]
# Environment: RUNS (default 3; the index runs once per RUNS, best kept), NAME (the deployment;
# default fraud-scorer).
set -eu
bin=${1:?usage: bench_query.sh KAUDIT_BINARY [SIZE] [DIR]}
size=${2:-1G}
runs=${RUNS:-3}
name=${NAME:-fraud-scorer}
dir=$(mktemp -d "${3:-/tmp}/kaudit-bench-query-XXXXXX")
trap 'rm -rf "$dir"' EXIT
f=$dir/audit.log
"$bin" gen --seed 3 --attacks --bytes "$size" -o "$f"
bytes=$(stat -c %s "$f")
cat "$f" >/dev/null
echo "file: $bytes bytes, $(wc -l <"$f") events; question: who deleted deployment $name"

best() { # best NAME COMMAND...: prints the best wall time in seconds
    local b=999999 t0 t1
    for _ in $(seq "$runs"); do
        t0=$(date +%s.%N)
        bash -c "$1" >"$dir/out" 2>/dev/null || true
        t1=$(date +%s.%N)
        b=$(python3 -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2])))" "$b" "$t0" "$t1")
    done
    echo "$b"
}
row() { # row NAME SECONDS ROWS
    python3 -c "import sys; t=float(sys.argv[2]); print('%-44s %7.3f s %8.0f MB/s  %6s rows' % (sys.argv[1], t, int(sys.argv[3]) / t / 1e6, sys.argv[4]))" "$1" "$2" "$bytes" "$3"
}

kq="'$bin' query --file '$f' --verb delete --resource deployments --name '$name' -o jsonl"
t_k=$(best "$kq"); n_k=$(wc -l <"$dir/out"); row "kaudit query (requests)" "$t_k" "$n_k"
cp "$dir/out" "$dir/out.file"
t_ka=$(best "$kq --stage any"); n_ka=$(wc -l <"$dir/out"); row "kaudit query --stage any" "$t_ka" "$n_ka"
t_g=$(best "grep -F '\"delete\"' '$f' | grep -F '\"$name\"'"); n_g=$(wc -l <"$dir/out")
row "grep -F delete | grep -F NAME" "$t_g" "$n_g"
if command -v jq >/dev/null; then
    jqf='select(.verb=="delete" and .objectRef.resource=="deployments" and .objectRef.name=="'$name'")'
    t_j=$(best "jq -c '$jqf' '$f'"); n_j=$(wc -l <"$dir/out"); row "jq -c 'select(...)'" "$t_j" "$n_j"
else
    t_j=0; echo "jq not installed"
fi
python3 -c "
import sys
k, g, j = map(float, sys.argv[1:4])
print('kaudit (requests) vs jq: %.1fx   vs grep: %.2f of its speed' % (j / k if j else 0, g / k))
" "$t_k" "$t_g" "$t_j"

# the store: index the same file (a new store each run), then the question from the store
events=$(wc -l <"$f")
echo "load average before indexing: $(cut -d' ' -f1-3 /proc/loadavg)"
t_i=$(best "rm -rf '$dir/store'; '$bin' index -q --store '$dir/store' '$f'")
db=$(stat -c %s "$dir/store/store/kaudit.db")
python3 -c "
import sys
t, n, db, raw = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print('%-44s %7.3f s %8.0f events/s  %.0f bytes/event on disk (%.3f of the raw log)' % ('kaudit index (new store)', t, n / t, db / n, db / raw))
" "$t_i" "$events" "$db" "$bytes"
echo "load average after indexing: $(cut -d' ' -f1-3 /proc/loadavg)"
sq="'$bin' query --store '$dir/store' --verb delete --resource deployments --name '$name' -o jsonl"
t_s=$(best "$sq"); n_s=$(wc -l <"$dir/out")
printf '%-44s %7.3f s (whole process)  %6s rows\n' "kaudit query --store (requests)" "$t_s" "$n_s"
cmp -s "$dir/out" "$dir/out.file" && echo "the store's rows are byte-identical to the file scan's" ||
    echo "MISMATCH: the store's rows differ from the file scan's"
