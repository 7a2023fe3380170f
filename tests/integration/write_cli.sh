#!/bin/bash
# End-to-end checks of `kaudit write` (the apiserver's log backend) with gzip, zcat and jq as
# independent oracles: rotation at --audit-log-maxsize, backup names, pruning by count,
# compression, legacy format, stdout, exit codes. All input is made by `kaudit gen`; nothing
# from ../shared is used.
# Args: $1 = kaudit binary, $2 = shared dir (unused).
set -u
K=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/kaudit-write-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local name=$1; shift; if "$@"; then ok; else bad "$name"; fi; }
for tool in jq gzip zcat; do
  command -v $tool >/dev/null || { echo "skip: $tool missing"; exit 77; }
done

# The backups of DIR/audit.log, oldest first (names sort by time), then the live file: cat all.
union() {
  local d=$1 f
  for f in $(ls "$d" | grep -E '^audit-[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}\.[0-9]{3}\.log(\.gz)?$' | sort); do
    case $f in *.gz) zcat "$d/$f" ;; *) cat "$d/$f" ;; esac
  done
  cat "$d/audit.log"
}

cat >"$T/rr.yaml" <<'Y'
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
Y

# --- basics
check "--help has an example" bash -c "'$K' write --help | grep -q example"
"$K" write </dev/null >/dev/null 2>&1; check "no --audit-log-path exits 1" test $? -eq 1
"$K" write --audit-log-path "$T/x.log" --audit-log-maxsize -1 </dev/null >/dev/null 2>&1
check "negative maxsize exits 1" test $? -eq 1
"$K" write --audit-log-path "$T/x.log" --audit-log-format yaml </dev/null >/dev/null 2>&1
check "unknown format exits 1" test $? -eq 1

# --- rotation with compression, everything kept
"$K" gen --events 12000 --seed 5 >"$T/in.log"
"$K" policy apply -p "$T/rr.yaml" "$T/in.log" >"$T/canon.log"
D=$T/a
"$K" write --audit-log-path "$D/audit.log" --audit-log-maxsize 1 --audit-log-compress \
  --audit-log-maxbackup 0 --audit-log-maxage 0 <"$T/in.log"; rc=$?
check "write exit 0" test $rc -eq 0
check "directory mode 0700" test "$(stat -c %a "$D")" = 700
check "live file mode 0600" test "$(stat -c %a "$D/audit.log")" = 600
nb=$(ls "$D" | grep -cE '^audit-[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}\.[0-9]{3}\.log\.gz$')
size=$(stat -c %s "$T/canon.log")
check "one gzipped backup per MiB ($nb)" test "$nb" -ge $((size / 1048576)) -a "$nb" -le $((size / 1048576 + 1))
check "only backups and the live file" test "$(ls "$D" | wc -l)" -eq $((nb + 1))
check "no uncompressed backup left" test "$(ls "$D" | grep -c '\.log$')" -eq 1
check "every backup is valid gzip" bash -c "for f in '$D'/*.gz; do gzip -t \"\$f\" || exit 1; done"
check "every backup at most 1 MiB" bash -c "for f in '$D'/*.gz; do test \$(zcat \"\$f\" | wc -c) -le 1048576 || exit 1; done"
check "backups + live file == canonical input" cmp -s <(union "$D") "$T/canon.log"
check "auditIDs in order (jq)" cmp -s <(union "$D" | jq -r .auditID) <(jq -r .auditID "$T/in.log")
check "no line split across files" bash -c "for f in '$D'/*.gz; do test \"\$(zcat \"\$f\" | tail -c1 | od -An -c | tr -d ' ')\" = '\\n' || exit 1; done"

# --- pruning by count: 3 names kept, the newest ones
D=$T/b
"$K" write --audit-log-path "$D/audit.log" --audit-log-maxsize 1 --audit-log-maxbackup 3 \
  --audit-log-compress <"$T/in.log"; rc=$?
check "pruned write exit 0" test $rc -eq 0
check "3 backups kept" test "$(ls "$D" | grep -c '\.gz$')" -eq 3
total_lines=$(wc -l <"$T/canon.log")
kept_lines=$(union "$D" | wc -l)
check "the kept files are the newest: a suffix of the input" \
  cmp -s <(union "$D") <(tail -n "$kept_lines" "$T/canon.log")
check "pruning removed something" test "$kept_lines" -lt "$total_lines"

# --- a second run appends to the live file and rotates by the >= rule
D=$T/c
"$K" gen --events 300 --seed 9 >"$T/small.log"
"$K" write --audit-log-path "$D/audit.log" --audit-log-maxsize 1 <"$T/small.log"
"$K" write --audit-log-path "$D/audit.log" --audit-log-maxsize 1 <"$T/small.log"
check "second run appends" test "$(wc -l <"$D/audit.log")" -eq 600
check "no rotation below the maximum" test "$(ls "$D" | wc -l)" -eq 1

# --- maxsize 0: never rotates
D=$T/d
"$K" write --audit-log-path "$D/audit.log" --audit-log-maxsize 0 --audit-log-compress <"$T/in.log"
check "maxsize 0: one file" test "$(ls "$D" | wc -l)" -eq 1
check "maxsize 0: all events" cmp -s "$D/audit.log" "$T/canon.log"

# --- stdout, legacy, policy
"$K" write --audit-log-path - <"$T/small.log" >"$T/stdout.log"
check "'-' writes to stdout" cmp -s "$T/stdout.log" <("$K" policy apply -p "$T/rr.yaml" "$T/small.log")
TZ=UTC0 "$K" write --audit-log-path - --audit-log-format legacy <"$T/small.log" >"$T/legacy.log"
check "legacy: one line per event" test "$(wc -l <"$T/legacy.log")" -eq 300
first_id=$(head -1 "$T/small.log" | jq -r .auditID)
check "legacy: line shape" grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z AUDIT: id=\"$first_id\" stage=\"[A-Za-z]+\" ip=\"" "$T/legacy.log"
POL=$(cd "$(dirname "$0")/../.." && pwd)/deploy/audit-policy.yaml
if [ -f "$POL" ]; then
  "$K" write -p "$POL" --audit-log-path "$T/p/audit.log" --audit-log-maxsize 0 <"$T/in.log"
  check "-p: same as policy apply" cmp -s "$T/p/audit.log" <("$K" policy apply -p "$POL" "$T/in.log")
fi

# --- bad lines and too-large events
{ head -3 "$T/small.log"; echo '{not json'; tail -2 "$T/small.log"; } >"$T/mixed.log"
"$K" write --audit-log-path "$T/m.log" "$T/mixed.log" 2>"$T/err"; rc=$?
check "bad line: exit 3" test $rc -eq 3
check "bad line: rest written" test "$(wc -l <"$T/m.log")" -eq 5
check "fsync-every accepted" "$K" write --audit-log-path "$T/f.log" --fsync-every 7 "$T/small.log"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
