#!/usr/bin/env bash
# query_files.sh - differential test of `kaudit query --file` against an independent oracle
# (tests/integration/query_oracle.py, python3 standard library only), and the three grep
# questions on generated data with labelled attacks.
#
# Data: `kaudit gen` output (generated here, split into rotated backups, one of them gzipped,
# plus a cut copy with requests in flight), and every file of SHARED_DIR/data/real that kaudit
# reads without bad lines (files that hold wrapped records - GKE LogEntries, AKS records - or
# the malformed falco fixture are reported as skipped); SHARED_DIR/data/real/SOURCES.md says
# where each real file comes from.
# Usage: query_files.sh KAUDIT_BINARY SHARED_DIR. Exit 0 pass, 1 fail, 77 skip (no python3).
set -u
set -f # filters hold globs: never expand them here
bin=${1:?usage: query_files.sh KAUDIT_BINARY SHARED_DIR}
shared=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
oracle="$here/query_oracle.py"
command -v python3 >/dev/null || { echo "python3 not installed: skipping"; exit 77; }
tmp=$(mktemp -d /tmp/kaudit-query-files-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# diff_raw NAME FILTERS... -- FILES...: kaudit's -o jsonl must equal the oracle's raw lines.
diff_raw() {
    local name=$1; shift
    local filt=() files=()
    while [ "$1" != "--" ]; do filt+=("$1"); shift; done; shift; files=("$@")
    "$bin" query "${filt[@]}" -o jsonl --no-backups --file "${files[@]}" >"$tmp/k.out" 2>"$tmp/k.err"
    local rc=$?
    python3 "$oracle" --print raw "${filt[@]}" -- "${files[@]}" >"$tmp/o.out" 2>"$tmp/o.err" ||
        { bad "$name: oracle failed: $(head -c 300 "$tmp/o.err")"; return; }
    if [ $rc -ne 0 ]; then bad "$name: kaudit exit $rc: $(head -c 300 "$tmp/k.err")"; return; fi
    if cmp -s "$tmp/k.out" "$tmp/o.out"; then ok; else
        bad "$name (${filt[*]}): kaudit $(wc -l <"$tmp/k.out") rows, oracle $(wc -l <"$tmp/o.out")"
        diff "$tmp/k.out" "$tmp/o.out" | head -4 | cut -c1-200
    fi
}

# diff_key NAME FILTERS... -- FILES...: kaudit's rows (any input form) compared by projection.
diff_key() {
    local name=$1; shift
    local filt=() files=()
    while [ "$1" != "--" ]; do filt+=("$1"); shift; done; shift; files=("$@")
    "$bin" query "${filt[@]}" -o json --no-backups --file "${files[@]}" >"$tmp/k.json" 2>"$tmp/k.err"
    local rc=$?
    python3 "$oracle" --print key "${filt[@]}" -- "${files[@]}" >"$tmp/o.out" 2>"$tmp/o.err" ||
        { bad "$name: oracle failed: $(head -c 300 "$tmp/o.err")"; return; }
    if [ $rc -ne 0 ]; then bad "$name: kaudit exit $rc: $(head -c 300 "$tmp/k.err")"; return; fi
    python3 "$oracle" --keys-of-json <"$tmp/k.json" >"$tmp/k.out"
    if cmp -s "$tmp/k.out" "$tmp/o.out"; then ok; else
        bad "$name (${filt[*]}): kaudit $(wc -l <"$tmp/k.out") rows, oracle $(wc -l <"$tmp/o.out")"
        diff "$tmp/k.out" "$tmp/o.out" | head -4 | cut -c1-200
    fi
}

# ---- generated data: a log set with backups (one gzipped) and a cut live file ----
"$bin" gen --events 30000 --attacks --seed 7 --labels "$tmp/labels.tsv" -o "$tmp/all.log" ||
    { echo "kaudit gen failed"; exit 1; }
mkdir "$tmp/set"
head -n 10000 "$tmp/all.log" >"$tmp/set/audit-2025-03-10T09-10-00.000.log"
sed -n '10001,20000p' "$tmp/all.log" >"$tmp/set/audit-2025-03-10T09-20-00.000.log"
gzip "$tmp/set/audit-2025-03-10T09-10-00.000.log"
sed -n '20001,30000p' "$tmp/all.log" >"$tmp/set/audit.log"
head -c 3000000 "$tmp/all.log" | head -n -1 >"$tmp/cut.log" # requests still in flight
oracle_files=("$tmp/set/audit-2025-03-10T09-10-00.000.log.gz"
              "$tmp/set/audit-2025-03-10T09-20-00.000.log" "$tmp/set/audit.log")

# The backups are found: the set yields the same rows as the whole file.
"$bin" query --stage any --count --file "$tmp/set/audit.log" >"$tmp/n" 2>&1
[ "$(cat "$tmp/n")" = 30000 ] && ok || bad "log set with backups: $(cat "$tmp/n") events, expected 30000"
"$bin" query --stage any --count --file "$tmp/set" >"$tmp/n" 2>&1
[ "$(cat "$tmp/n")" = 30000 ] && ok || bad "directory: $(cat "$tmp/n") events, expected 30000"

T0=2025-03-10T09:00:00Z
matrix=(
    ""
    "--stage any"
    "--stage RequestReceived"
    "--stage ResponseStarted"
    "--stage ResponseComplete"
    "--stage Panic"
    "--user system:serviceaccount:ci:deployer"
    "--user system:kube-*"
    "--user oidc:?????@example.com"
    "--user oidc:*,system:anonymous"
    "--as *"
    "--group system:masters"
    "--group system:serviceaccounts:*"
    "--verb delete"
    "--verb get,list,watch"
    "--resource pods"
    "--resource pods/*"
    "--resource */status"
    "--resource pods/exec"
    "--resource pods/log,pods/exec"
    "--resource deployments.apps"
    "--resource deployments.extensions"
    "--resource leases.coordination.k8s.io"
    "--resource pods.core"
    "--resource *"
    "--resource */*"
    "--resource secrets --verb get,list,watch"
    "--namespace kube-system"
    "--namespace kube-*,default"
    "--name *-controller"
    "--name kube-*"
    "--code 403"
    "--code 4xx"
    "--code !2xx"
    "--code 200,201"
    "--code !2xx,!101"
    "--code 101 --stage any"
    "--decision forbid"
    "--decision allow"
    "--source-ip 10.0.0.0/8"
    "--source-ip 10.0.200.14"
    "--source-ip 10.244.0.0/16,192.168.0.0/16"
    "--source-ip ::/0"
    "--source-ip 0.0.0.0/0 --stage any"
    "--user-agent kubectl/*"
    "--user-agent *Go-http-client*"
    "--cluster *"
    "--grep \"verb\":\"delete\""
    "--grep secret --grep storefront"
    "--since 2025-03-10T09:05:00Z"
    "--until 2025-03-10T09:03:00Z"
    "--since 2025-03-10T09:02:00Z --until 2025-03-10T09:04:00.5Z --stage any"
    "--since 2025-03-10T10:02:00+01:00"
    "--limit 7"
    "--limit 5 --stage any --verb list"
    "--verb delete --resource deployments --name web*"
    "--verb delete --user system:serviceaccount:search:indexer"
    "--code 403 --user system:anonymous --verb list"
    "--namespace kube-system --verb get --code 2xx --stage ResponseComplete"
    "--user oidc:mallory@example.com --resource pods/* --stage any"
)
for f in "${matrix[@]}"; do
    eval "set -- $f"
    diff_raw "gen set [$f]" "$@" -- "${oracle_files[@]}"
done
for f in "" "--stage any" "--code 4xx" "--resource pods/*" "--limit 100"; do
    eval "set -- $f"
    diff_raw "cut log [$f]" "$@" -- "$tmp/cut.log"
done
# The log set given as one path must equal the explicit file list.
"$bin" query --verb create -o jsonl --file "$tmp/set/audit.log" >"$tmp/a1" 2>/dev/null
"$bin" query --verb create -o jsonl --no-backups --file "${oracle_files[@]}" >"$tmp/a2" 2>/dev/null
cmp -s "$tmp/a1" "$tmp/a2" && ok || bad "log set path vs explicit files"

# Every output format holds the same rows.
F=(--code 4xx --file "$tmp/all.log")
"$bin" query "${F[@]}" -o jsonl >"$tmp/f.jsonl"
n=$(wc -l <"$tmp/f.jsonl")
[ "$n" -gt 50 ] && ok || bad "4xx rows: only $n"
ids=$(python3 -c 'import json,sys; [print(json.loads(l)["auditID"]) for l in sys.stdin]' <"$tmp/f.jsonl")
jids=$("$bin" query "${F[@]}" -o json | python3 -c 'import json,sys; [print(e["auditID"]) for e in json.load(sys.stdin)]')
[ "$ids" = "$jids" ] && ok || bad "-o json rows differ from jsonl"
cids=$("$bin" query "${F[@]}" -o csv | python3 -c '
import csv,sys
r=list(csv.reader(sys.stdin)); i=r[0].index("audit-id"); [print(x[i]) for x in r[1:]]')
[ "$ids" = "$cids" ] && ok || bad "-o csv rows differ from jsonl"
[ "$("$bin" query "${F[@]}" -o table | tail -n +2 | wc -l)" = "$n" ] && ok || bad "-o table rows"
[ "$("$bin" query "${F[@]}" -o wide | tail -n +2 | wc -l)" = "$n" ] && ok || bad "-o wide rows"
[ "$("$bin" query "${F[@]}" --count)" = "$n" ] && ok || bad "--count"
top=$("$bin" query "${F[@]}" --top user --top-n 1000 | tail -n +2 | awk -F'\t' '{s+=$1} END {print s}')
[ "$top" = "$n" ] && ok || bad "--top user counts add up to $top, not $n"
exp=$(python3 -c '
import json,sys,collections
c=collections.Counter(json.loads(l)["user"].get("username") for l in open(sys.argv[1]))
print(max(c.values()))' "$tmp/f.jsonl")
[ "$("$bin" query "${F[@]}" --top user | sed -n 2p | cut -f1)" = "$exp" ] && ok || bad "--top first count"
hist=$("$bin" query "${F[@]}" --histogram 1m | awk '{s+=$2} END {print s}')
[ "$hist" = "$n" ] && ok || bad "--histogram counts add up to $hist, not $n"
"$bin" query "${F[@]}" -o csv | python3 -c '
import csv,sys
rows=list(csv.reader(sys.stdin)); sys.exit(0 if all(len(r)==len(rows[0]) for r in rows) else 1)' &&
    ok || bad "csv rows have the header's width"

# ---- the three grep questions, on labelled attacks ----
labelled() { # labelled SCENARIO JQ-LIKE-PYTHON-CONDITION: auditIDs of labelled requests
    python3 - "$tmp/labels.tsv" "$tmp/all.log" "$1" "$2" <<'EOF'
import json, sys
lab = {}
for l in open(sys.argv[1]):
    a, s = l.rstrip("\n").split("\t")
    lab[a] = s
last = {}
for l in open(sys.argv[2]):
    e = json.loads(l)
    if lab.get(e["auditID"]) == sys.argv[3]:
        last[e["auditID"]] = e
ids = sorted(a for a, e in last.items() if eval(sys.argv[4], {"e": e}))
print("\n".join(ids))
EOF
}
rows_ids() { "$bin" query "$@" -o jsonl --file "$tmp/all.log" |
    python3 -c 'import json,sys; print("\n".join(sorted(json.loads(l)["auditID"] for l in sys.stdin)))'; }
exp=$(labelled secret-dump 'e["verb"] in ("get","list","watch") and e["objectRef"]["resource"]=="secrets"')
got=$(rows_ids --resource secrets --verb get,list,watch --user system:serviceaccount:shop:storefront)
[ -n "$exp" ] && [ "$exp" = "$got" ] && ok || bad "who read a Secret: $(echo "$got" | wc -l) rows vs $(echo "$exp" | wc -l) labelled"
exp=$(labelled forbidden-storm 'e["responseStatus"]["code"]==403')
got=$(rows_ids --code 403 --user system:serviceaccount:search:indexer)
[ -n "$exp" ] && [ "$exp" = "$got" ] && ok || bad "denied requests (storm): $(echo "$got" | wc -l) vs $(echo "$exp" | wc -l)"
exp=$(labelled anonymous-access 'e["responseStatus"]["code"]==403')
got=$(rows_ids --decision forbid --user system:anonymous)
[ -n "$exp" ] && [ "$exp" = "$got" ] && ok || bad "denied requests (anonymous): $(echo "$got" | wc -l) vs $(echo "$exp" | wc -l)"
exp=$(labelled forbidden-storm 'e["verb"]=="delete"')
got=$(rows_ids --verb delete --user system:serviceaccount:search:indexer)
[ -n "$exp" ] && [ "$exp" = "$got" ] && ok || bad "who deleted (storm): $(echo "$got" | wc -l) vs $(echo "$exp" | wc -l)"
# Who deleted a Deployment: the requests whose latest stage is a delete of deployments, as an
# independent reading of the file finds them (the data may hold none: then kaudit says none).
exp=$(python3 -c '
import json,sys
rank = {"RequestReceived": 1, "ResponseStarted": 2, "ResponseComplete": 3, "Panic": 4}
last = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    a = e["auditID"]
    if a not in last or rank.get(e["stage"], 0) > rank.get(last[a]["stage"], 0):
        last[a] = e
print("\n".join(sorted(a for a, e in last.items() if e["verb"] == "delete" and
                        (e.get("objectRef") or {}).get("resource") == "deployments")))
' "$tmp/all.log")
got=$(rows_ids --verb delete --resource deployments)
[ "$exp" = "$got" ] && ok || bad "who deleted a Deployment: $(echo "$got" | wc -l) rows vs $(echo "$exp" | wc -l)"

# ---- real data ----
if [ -n "$shared" ] && [ -d "$shared/data/real" ]; then
    real=()
    while IFS= read -r -d '' f; do
        case "$f" in *.md|*.tsv) continue ;; esac
        if "$bin" query --stage any --count --no-backups --file "$f" >"$tmp/n" 2>/dev/null &&
            [ "$(cat "$tmp/n")" -gt 0 ]; then real+=("$f"); fi
    done < <(find "$shared/data/real" -type f -print0 | sort -z)
    [ "${#real[@]}" -ge 60 ] && ok || bad "only ${#real[@]} real files hold events"
    echo "real files with events: ${#real[@]}"
    rmatrix=("" "--stage any" "--verb create" "--resource pods/*" "--resource pods/exec,pods/attach"
             "--resource clusterrolebindings.rbac.authorization.k8s.io" "--code !2xx"
             "--code 403" "--decision allow" "--as *" "--user system:*" "--user minikube*"
             "--group system:masters" "--namespace kube-system" "--source-ip 192.168.0.0/16"
             "--source-ip ::1,127.0.0.1" "--user-agent kubectl*" "--name *foo*"
             "--since 2019-01-01T00:00:00Z --until 2020-06-01T00:00:00Z" "--grep privileged"
             "--stage ResponseStarted" "--limit 10")
    for f in "${rmatrix[@]}"; do
        eval "set -- $f"
        diff_key "real [$f]" "$@" -- "${real[@]}"
    done
    for f in "${real[@]}"; do
        diff_key "real file $(basename "$f")" --stage any -- "$f"
    done
else
    echo "no $shared/data/real: real-data checks skipped"
fi

echo "query_files: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
