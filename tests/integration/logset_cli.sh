#!/bin/bash
# End-to-end checks of reading log sets through `kaudit policy eval|apply`: a rotated set built
# by hand with lumberjack's names (spec §5.4) and real gzip, read from the live path oldest
# first (jq is the oracle for the auditID order), a plain+gz twin, decoys, directories, a
# missing live file, a missing argument, the truncated-last-line warning, --no-backups and
# --max-line. Events come from `kaudit gen`; no data from ../shared is used.
# Args: $1 = kaudit binary.
set -u
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
POL=$ROOT/deploy/audit-policy.yaml
T=$(mktemp -d "${TMPDIR:-/tmp}/kaudit-logset-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local name=$1; shift; if "$@"; then ok; else bad "$name"; fi; }
ids() { jq -r .auditID "$@"; }

# --- a rotated set: 4 chunks of one generated stream, oldest in the oldest backup
"$K" gen --events 400 --seed 11 >"$T/all.log"
L=$T/logs
mkdir -p "$L"
split -n l/4 -d "$T/all.log" "$T/part."
gzip -c "$T/part.00" >"$L/audit-2026-07-23T18-32-12.345.log.gz"      # oldest, compressed
cp "$T/part.01" "$L/audit-2026-07-23T18-32-12.346.log"                # 1 ms later, plain
cp "$T/part.02" "$L/audit-2026-07-24T00-00-00.000.log"                # twin: plain is complete ...
gzip -c "$T/part.02" | head -c 200 >"$L/audit-2026-07-24T00-00-00.000.log.gz" # ... gz is partial
cp "$T/part.03" "$L/audit.log"                                       # live
# decoys that are not backups of audit.log
"$K" gen --events 5 --seed 99 >"$T/decoy.log"
for d in audit.log.1 audit-2026-02-30T00-00-00.000.log audit-2026-07-23T18-32-12.345.json \
         kube-audit-2026-07-23T18-32-12.345.log audit-latest.log; do
  cp "$T/decoy.log" "$L/$d"
done
# mtimes reversed, so neither mtime nor creation order gives the right answer
touch -d '2020-01-01' "$L/audit.log"
touch -d '2030-01-01' "$L/audit-2026-07-23T18-32-12.345.log.gz"

"$K" policy eval -p "$POL" "$L/audit.log" >"$T/eval.jsonl" 2>"$T/err"; rc=$?
check "log path: exit 0" test $rc -eq 0
check "log path: no messages" test ! -s "$T/err"
check "log path: every event once" test "$(wc -l <"$T/eval.jsonl")" -eq "$(wc -l <"$T/all.log")"
check "log path: auditIDs oldest first (jq)" cmp -s <(ids "$T/all.log") <(ids "$T/eval.jsonl")

"$K" policy apply -p "$POL" "$L/audit.log" >"$T/apply_set.log"; rc1=$?
"$K" policy apply -p "$POL" "$T/all.log" >"$T/apply_all.log"; rc2=$?
check "apply over the set = apply over the stream" test $rc1 -eq 0 -a $rc2 -eq 0
check "apply over the set: same bytes" cmp -s "$T/apply_set.log" "$T/apply_all.log"

# relative path from inside the directory: messages name the files as found
(cd "$L" && "$K" policy eval -p "$POL" audit.log) >"$T/rel.jsonl"
check "relative log path" cmp -s "$T/eval.jsonl" "$T/rel.jsonl"

# --- --no-backups: only the live file
"$K" policy eval -p "$POL" --no-backups "$L/audit.log" >"$T/nb.jsonl"; rc=$?
check "--no-backups exit 0" test $rc -eq 0
check "--no-backups reads only the live file" cmp -s <(ids "$T/part.03") <(ids "$T/nb.jsonl")
"$K" policy apply -p "$POL" --no-backups "$L/audit.log" >"$T/nb_apply.log"
check "apply --no-backups" test "$(wc -l <"$T/nb_apply.log")" -le "$(wc -l <"$T/part.03")" -a -s "$T/nb_apply.log"

# --- a .gz argument is read as is
"$K" policy eval -p "$POL" "$L/audit-2026-07-23T18-32-12.345.log.gz" >"$T/gz.jsonl"
check ".gz argument as is" cmp -s <(ids "$T/part.00") <(ids "$T/gz.jsonl")

# --- a directory: sets by live name (audit-latest.log, audit.log, audit.log.1, decoys...)
"$K" policy eval -p "$POL" "$L" >"$T/dir.jsonl" 2>"$T/err"; rc=$?
check "directory: exit 0" test $rc -eq 0
n_dir=$(( $(wc -l <"$T/all.log") + 5 * 5 ))
check "directory: every file once (set + 5 decoys)" test "$(wc -l <"$T/dir.jsonl")" -eq $n_dir
# sets by live name: audit-2026-02-30T..log (bad time: plain), audit-latest.log, audit.json
# (audit-<TS>.json is a backup of it), the audit.log set (oldest first), audit.log.1,
# kube-audit.log (kube-audit-<TS>.log is a backup of it)
{ ids "$T/decoy.log"; ids "$T/decoy.log"; ids "$T/decoy.log"; ids "$T/all.log"; ids "$T/decoy.log"; ids "$T/decoy.log"; } >"$T/dir.expect"
check "directory: documented order" cmp -s "$T/dir.expect" <(ids "$T/dir.jsonl")

# --- missing live file: the backups are still read
mv "$L/audit.log" "$T/live.saved"
"$K" policy eval -p "$POL" "$L/audit.log" >"$T/nolive.jsonl" 2>"$T/err"; rc=$?
check "missing live: exit 0" test $rc -eq 0
check "missing live: backups oldest first" cmp -s <(cat "$T/part.00" "$T/part.01" "$T/part.02" | ids) <(ids "$T/nolive.jsonl")
mv "$T/live.saved" "$L/audit.log"

# --- a missing argument: named, exit 1, the others still read
"$K" policy eval -p "$POL" "$T/nosuch.log" "$L/audit.log" >"$T/miss.jsonl" 2>"$T/err"; rc=$?
check "missing argument: exit 1" test $rc -eq 1
check "missing argument: named" grep -q "nosuch.log: No such file or directory" "$T/err"
check "missing argument: others read" cmp -s <(ids "$T/all.log") <(ids "$T/miss.jsonl")
"$K" policy eval -p "$POL" --no-backups "$T/nosuch.log" >/dev/null 2>&1; rc=$?
check "missing argument with --no-backups: exit 1" test $rc -eq 1

# --- truncated last line (a crash): warned once, skipped, exit 0
cp "$L/audit.log" "$T/live.saved"
head -n 1 "$T/part.03" | head -c 150 >>"$L/audit.log"
n_live=$(wc -l <"$T/part.03")
"$K" policy eval -p "$POL" "$L/audit.log" >"$T/cut.jsonl" 2>"$T/err"; rc=$?
check "truncated last line: exit 0" test $rc -eq 0
check "truncated last line: message" grep -qx "kaudit: $L/audit.log:$((n_live + 1)): truncated last line (no newline at end of file); skipped" "$T/err"
check "truncated last line: reported once" test "$(wc -l <"$T/err")" -eq 1
check "truncated last line: the rest read" cmp -s <(ids "$T/all.log") <(ids "$T/cut.jsonl")
# the same in a compressed backup
gzip -c "$L/audit.log" >"$T/cut.log.gz"
"$K" policy eval -p "$POL" "$T/cut.log.gz" >/dev/null 2>"$T/err"; rc=$?
check "truncated last line in .gz: exit 0 and warned" bash -c "test $rc -eq 0 && grep -q 'cut.log.gz:$((n_live + 1)): truncated last line' '$T/err'"
# a final line without LF that is complete is an event
cp "$T/live.saved" "$L/audit.log"
printf '%s' "$(head -n 1 "$T/part.00")" >>"$L/audit.log"
"$K" policy eval -p "$POL" --no-backups "$L/audit.log" >"$T/nolf.jsonl" 2>"$T/err"; rc=$?
check "complete last line without LF: exit 0, no message" bash -c "test $rc -eq 0 && test ! -s '$T/err'"
check "complete last line without LF: read" test "$(wc -l <"$T/nolf.jsonl")" -eq $((n_live + 1))
# after a crash the restarted writer appends to the cut line (no LF in between): that line
# is an ordinary bad line (exit 3), the others are read
{ head -n 2 "$T/part.03"; head -c 150 "$T/part.00"; cat "$T/part.03"; } >"$L/audit.log"
"$K" policy eval -p "$POL" --no-backups "$L/audit.log" >"$T/mid.jsonl" 2>"$T/err"; rc=$?
check "cut line in the middle: exit 3" test $rc -eq 3
check "cut line in the middle: file:line:col" grep -q "audit.log:3:[0-9]*: " "$T/err"
check "cut line in the middle: others read" test "$(wc -l <"$T/mid.jsonl")" -eq $((n_live + 1))
# a crash right after a rotation: the live file holds only a cut first line
head -c 150 "$T/part.03" >"$L/audit.log"
"$K" policy eval -p "$POL" "$L/audit.log" >"$T/lone.jsonl" 2>"$T/err"; rc=$?
check "lone cut line: exit 0, warned" bash -c "test $rc -eq 0 && grep -q 'audit.log:1: truncated last line' '$T/err'"
check "lone cut line: the backups read" cmp -s <(cat "$T/part.00" "$T/part.01" "$T/part.02" | ids) <(ids "$T/lone.jsonl")
cp "$T/live.saved" "$L/audit.log"

# --- --max-line: a longer line is skipped with file and line, reading goes on (exit 3)
{ head -n 2 "$T/part.00"; printf '{"kind":"Event","auditID":"big","x":"%s"}\n' "$(head -c 300000 /dev/zero | tr '\0' x)"; sed -n 3,4p "$T/part.00"; } >"$T/long.log"
"$K" policy eval -p "$POL" --max-line 256K "$T/long.log" >"$T/long.jsonl" 2>"$T/err"; rc=$?
check "--max-line: exit 3" test $rc -eq 3
check "--max-line: message names file and line" grep -q "long.log:3: line longer than the maximum of 262144 bytes; skipped" "$T/err"
check "--max-line: reading goes on" cmp -s <(head -n 4 "$T/part.00" | ids) <(ids "$T/long.jsonl")
"$K" policy eval -p "$POL" "$T/long.log" >"$T/long2.jsonl" 2>/dev/null; rc=$?
check "default max (16M) reads a 300 KB line" bash -c "test $rc -eq 0 && test \$(wc -l <'$T/long2.jsonl') -eq 5"

# --- stdin is unchanged
"$K" policy eval -p "$POL" <"$T/all.log" >"$T/stdin.jsonl"
check "stdin" cmp -s "$T/eval.jsonl" "$T/stdin.jsonl"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
