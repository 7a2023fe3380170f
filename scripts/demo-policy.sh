#!/bin/sh
# `make demo-policy`: generates realistic cluster traffic with `kaudit gen`, runs it through
# the example policy as kube-apiserver's log backend would, and prints a summary.
set -eu
KAUDIT=${1:-build/kaudit}
HERE=$(cd "$(dirname "$0")/.." && pwd)
POLICY="$HERE/deploy/audit-policy.yaml"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/kaudit-demo-XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo "== kaudit policy check"
"$KAUDIT" policy check "$POLICY"
echo
echo "== kaudit gen --events 20000 --attacks | kaudit policy apply -p deploy/audit-policy.yaml"
"$KAUDIT" gen --events 20000 --seed 1 --attacks >"$OUT/raw.log"
"$KAUDIT" policy apply -p "$POLICY" --stats "$OUT/raw.log" >"$OUT/audit.log"
echo
echo "== the policy's decisions, by level (kaudit policy eval)"
"$KAUDIT" policy eval -p "$POLICY" "$OUT/raw.log" |
  awk -F'"level":"' '{split($2, a, "\""); n[a[1]]++} END {for (l in n) printf "  %-16s %d\n", l, n[l]}' | sort
echo
printf "raw: %s bytes, kept: %s bytes\n" "$(wc -c <"$OUT/raw.log")" "$(wc -c <"$OUT/audit.log")"
echo "first kept event:"
head -n 1 "$OUT/audit.log"
