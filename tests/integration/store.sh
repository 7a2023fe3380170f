#!/usr/bin/env bash
# store.sh - end-to-end checks of `kaudit index` and the store, with python3 (standard library)
# as the independent oracle for what must be stored, and `kaudit query --file` as the
# reference for what the store must answer.
# Data: real logs from SHARED_DIR/data/real (audit2rbac: demo.log and history-501d132/demo.log,
# whose events overlap; crowdsec-hub; khi), described in SHARED_DIR/data/real/SOURCES.md, and
# `kaudit gen` traffic with attacks, split into a gzip-compressed rotated backup and a live file.
# Usage: store.sh KAUDIT_BINARY SHARED_DIR. Exit 0 when every check passes, 1 otherwise, 77
# (skip) when python3 or SHARED_DIR is missing.
set -u
bin=${1:?usage: store.sh KAUDIT_BINARY SHARED_DIR}
shared=${2:-}
command -v python3 >/dev/null || { echo "python3 not installed: skipping"; exit 77; }
[ -d "$shared/data/real" ] || { echo "no $shared/data/real: skipping"; exit 77; }
real=$shared/data/real
tmp=$(mktemp -d /tmp/kaudit-store-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }
# summary NUMBER-NAME: a number from the summary line of the last index run
summary() { sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p" "$tmp/err" | head -1; }

# The oracle: events (objects with an auditID-or-not and a stage) and distinct (auditID, stage).
oracle() {
    python3 - "$@" <<'EOF'
import json, sys
seen, total = set(), 0
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8", errors="surrogateescape"):
        line = line.strip()
        if not line:
            continue
        e = json.loads(line)
        total += 1
        key = (e.get("auditID") or "", e.get("stage") or "")
        seen.add(key if key[0] else (line, total))
print(total, len(seen))
EOF
}

files=("$real/audit2rbac/history-501d132/demo.log" "$real/audit2rbac/demo.log"
       "$real/crowdsec-hub/k8s-audit-pod-exec-file.log" "$real/crowdsec-hub/k8s-audit-priv-pod-file.log"
       "$real/khi/test-log.jsonl")
read -r total distinct <<<"$(oracle "${files[@]}")"

# --- real logs: first run, then the same files again ---
"$bin" index --store "$tmp/d" --no-backups "${files[@]}" 2>"$tmp/err"; rc=$?
check "index real logs: exit 0" eq "$rc" 0
check "events read = oracle's events" eq "$(summary 'events read')" "$total"
check "inserted = distinct (auditID, stage)" eq "$(summary inserted)" "$distinct"
check "overlapping files: duplicates ignored" eq "$(summary duplicates)" "$((total - distinct))"
check "store directory 0700" eq "$(stat -c %a "$tmp/d/store")" 700
check "database file 0600" eq "$(stat -c %a "$tmp/d/store/kaudit.db")" 600
# a store that kaudit index creates: 32 KiB pages, and every index of the schema once the load
# has ended (a load into an empty store builds the secondary ones at its end)
sq() { # sq DATA_DIR SQL: the first column of each row, space-separated
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);
print(" ".join(str(r[0]) for r in c.execute(sys.argv[2])))' "$1/store/kaudit.db" "$2"; }
indexes="SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ev%' ORDER BY name"
check "kaudit index creates 32 KiB pages" eq "$(sq "$tmp/d" 'PRAGMA page_size')" 32768
check "the load built every index" eq "$(sq "$tmp/d" "$indexes")" \
    "ev_aid ev_code ev_obj ev_req ev_ts ev_user"
"$bin" index --store "$tmp/d" --no-backups "${files[@]}" 2>"$tmp/err"; rc=$?
check "re-index: exit 0" eq "$rc" 0
check "re-index: nothing inserted" eq "$(summary inserted)" 0
check "re-index: every event a duplicate" eq "$(summary duplicates)" "$total"
check "re-index: store still holds the distinct events" eq \
    "$(sed -n 's/.*store: \([0-9]*\) events.*/\1/p' "$tmp/err")" "$distinct"

# --- stdin, bad lines ---
{ cat "$real/crowdsec-hub/k8s-audit-pod-exec-file.log"; echo; echo '{"kind": 0}'; echo 'not json'; } |
    "$bin" index --store "$tmp/s" 2>"$tmp/err"; rc=$?
check "stdin with bad lines: exit 3" eq "$rc" 3
check "stdin: bad lines counted" eq "$(summary 'bad lines')" 2
check "stdin: the good event inserted" eq "$(summary inserted)" 1
"$bin" index --store "$tmp/s" /nonexistent/audit.log 2>"$tmp/err"; rc=$?
check "missing file: exit 1" eq "$rc" 1

# --- generated traffic as a rotated log set: a .gz backup and the live file ---
mkdir -p "$tmp/logs"
"$bin" gen --seed 5 --events 30000 --attacks >"$tmp/all.log"
head -n 12000 "$tmp/all.log" | gzip >"$tmp/logs/audit-2025-03-10T09-00-30.000.log.gz"
tail -n +12001 "$tmp/all.log" >"$tmp/logs/audit.log"
"$bin" index --store "$tmp/g" "$tmp/logs/audit.log" 2>"$tmp/err"; rc=$?
check "index a log set: exit 0" eq "$rc" 0
check "backup (.gz) and live file both read" eq "$(summary 'events read')" 30000
check "two files" eq "$(summary files)" 2
read -r gtotal gdistinct <<<"$(oracle "$tmp/all.log")"
check "generated: the oracle read every event" eq "$gtotal" 30000
check "generated: inserted = distinct" eq "$(summary inserted)" "$gdistinct"

# --- the store answers as the files do (kaudit query --store vs --file) ---
if "$bin" query --help 2>/dev/null | grep -q -- '--store'; then
    "$bin" index -q --store "$tmp/g" --no-backups "$real/audit2rbac/history-501d132/demo.log" \
        "$real/crowdsec-hub/k8s-audit-pod-exec-file.log" 2>/dev/null
    srcs=("$tmp/logs/audit.log" "$real/audit2rbac/history-501d132/demo.log"
          "$real/crowdsec-hub/k8s-audit-pod-exec-file.log")
    while IFS= read -r q; do
        # shellcheck disable=SC2086
        "$bin" query --store "$tmp/g" -o jsonl $q >"$tmp/q.store" 2>"$tmp/q.err"; r1=$?
        # shellcheck disable=SC2086
        "$bin" query -o jsonl $q --file "${srcs[@]}" >"$tmp/q.file" 2>>"$tmp/q.err"; r2=$?
        check "query [$q]: both exit 0" eq "$r1/$r2" "0/0"
        check "query [$q]: store rows = file rows" cmp -s "$tmp/q.store" "$tmp/q.file"
    done <<'QUERIES'
--verb delete --resource deployments.apps
--resource secrets --verb get,list
--code 403
--code !2xx --stage any
--user system:admin --as bob,alice
--resource pods/exec
--resource */status
--namespace kube-* --verb update
--decision forbid
--source-ip 10.0.0.0/8 --user-agent kubectl*
--stage ResponseComplete --limit 50
--grep secret --since 2025-03-10T09:00:20Z --until 2025-03-10T09:01:00Z
--since 2017-09-01T00:00:00Z --until 2017-10-01T00:00:00Z
QUERIES
    n1=$("$bin" query --store "$tmp/g" --count 2>/dev/null)
    n2=$("$bin" query --count --file "${srcs[@]}" 2>/dev/null)
    check "count of requests: store = files" eq "$n1" "$n2"
    # --count and --top FIELD answered from the store's columns: the same as counting rows
    while IFS= read -r q; do
        # shellcheck disable=SC2086
        "$bin" query --store "$tmp/g" $q >"$tmp/a.store" 2>"$tmp/q.err"; r1=$?
        # shellcheck disable=SC2086
        "$bin" query $q --file "${srcs[@]}" >"$tmp/a.file" 2>>"$tmp/q.err"; r2=$?
        check "aggregate [$q]: both exit 0" eq "$r1/$r2" "0/0"
        check "aggregate [$q]: store = files" cmp -s "$tmp/a.store" "$tmp/a.file"
        check "aggregate [$q]: not empty" test "$(wc -l <"$tmp/a.store")" -ge 1
    done <<'QUERIES'
--count --code 403
--count --stage any --verb get,list
--top user --top-n 1000
--top resource --top-n 1000 --since 2025-03-10T09:00:20Z
--top as --top-n 1000
--top code --top-n 1000 --stage any
--top namespace --top-n 1000 --user system:*
--top name --top-n 1000 --resource secrets
--top user-agent --top-n 1000
--top api-group --top-n 1000 --verb delete
--top cluster --top-n 1000
--top verb --top-n 1000 --decision forbid
QUERIES
else
    echo "kaudit query has no --store yet: store-vs-file comparison skipped"
fi

# --- opening errors say why: an older schema (read-only needs a migration), a newer one ---
cp -r "$tmp/s" "$tmp/v"
setver() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);
c.execute("PRAGMA user_version = " + sys.argv[2]); c.commit()' "$tmp/v/store/kaudit.db" "$1"; }
setver 1
"$bin" query --store "$tmp/v" --count >/dev/null 2>"$tmp/err"; rc=$?
check "query on an older schema: exit 1" eq "$rc" 1
check "query on an older schema: says it needs a migration" \
    grep -q "schema version 1 needs a migration to version 2: open it writable once" "$tmp/err"
setver 99
"$bin" index --store "$tmp/v" </dev/null 2>"$tmp/err"; rc=$?
check "index on a newer schema: exit 2" eq "$rc" 2
check "index on a newer schema: says so" grep -q "schema version 99 is newer" "$tmp/err"
"$bin" query --store "$tmp/none" --count >/dev/null 2>"$tmp/err"; rc=$?
check "query without a store: points to kaudit index" grep -q "no store there (index logs" "$tmp/err"

# --- SIGTERM stops the reading: what was read is stored and indexed, then exit by the signal ---
mkfifo "$tmp/fifo"
"$bin" gen --seed 3 --events 300000 >"$tmp/fifo" 2>/dev/null &
gp=$!
"$bin" index --store "$tmp/sig" <"$tmp/fifo" 2>"$tmp/err" &
ip=$!
sleep 1.5
kill -TERM "$ip"; wait "$ip"; rc=$?; wait "$gp" 2>/dev/null
n=$(sed -n 's/.*stopped by signal 15: the \([0-9]*\) events read are stored and indexed/\1/p' "$tmp/err")
check "SIGTERM: the process ends by the signal (143)" eq "$rc" 143
check "SIGTERM: says how many events are stored" test -n "$n"
check "SIGTERM: stopped before the end of the input" test "${n:-300000}" -lt 300000 -a "${n:-0}" -gt 0
check "SIGTERM: the store holds exactly those events" eq \
    "$("$bin" query --store "$tmp/sig" --stage any --count 2>/dev/null)" "${n:-x}"
want=$("$bin" gen --seed 3 --events 300000 2>/dev/null | head -n "${n:-0}" |
       python3 -c 'import json, sys; print(len({json.loads(l)["auditID"] for l in sys.stdin}))')
check "SIGTERM: the requests of those events" eq \
    "$("$bin" query --store "$tmp/sig" --count 2>/dev/null)" "$want"
check "SIGTERM: every index built" eq "$(sq "$tmp/sig" "$indexes")" \
    "ev_aid ev_code ev_obj ev_req ev_ts ev_user"

# --- retention through kaudit index ---
"$bin" index --store "$tmp/g" --max-age 1d </dev/null 2>"$tmp/err"; rc=$?
check "retention run: exit 0" eq "$rc" 0
# events without requestReceivedTimestamp (the 2017 v1beta1 log) are never too old
check "retention by age: only events without a timestamp are left" eq \
    "$(sed -n 's/.*store: \([0-9]*\) events.*/\1/p' "$tmp/err")" \
    "$(grep -cv requestReceivedTimestamp "$real/audit2rbac/history-501d132/demo.log")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
