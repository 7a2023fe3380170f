#!/usr/bin/env bash
# views.sh - `kaudit history`, `activity`, `explain` and `denied` end to end on `kaudit gen`
# traffic with labelled attacks (known answers from the generator's documented scenarios, with
# jq as the independent oracle) and on real logs from ../shared/data/real (audit2rbac/demo.log:
# liggitt/audit2rbac testdata; khi/test-log.jsonl: GoogleCloudPlatform/khi; crowdsec-hub: a
# privileged pod create; see SOURCES.md). Over --file, and over the store when `kaudit index`
# works. Usage: views.sh KAUDIT_BINARY SHARED_DIR. Exit 0 pass, 1 fail, 77 skip (no jq).
set -u
bin=${1:?usage: views.sh KAUDIT_BINARY SHARED_DIR}
shared=${2:-}
command -v jq >/dev/null || { echo "jq not installed: skipping"; exit 77; }
tmp=$(mktemp -d /tmp/kaudit-views-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi; }
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }

"$bin" gen --seed 7 --events 40000 --attacks --labels "$tmp/labels.tsv" -o "$tmp/g.log"
final() { jq -c 'select(.stage=="ResponseComplete")' "$tmp/g.log"; }
final >"$tmp/final.jsonl"

views() { # views SOURCE-ARGS...: runs every check against one source
    local src=("$@")
    # denied: the forbidden-storm principal's 403s are exactly its labelled requests
    storm=$(grep -c forbidden-storm "$tmp/labels.tsv")
    storm_req=$(jq -r 'select(.user.username=="system:serviceaccount:search:indexer") | .auditID' \
        "$tmp/final.jsonl" | wc -l)
    got=$("$bin" denied -o json "${src[@]}" | jq '.[] | select(.user=="system:serviceaccount:search:indexer") | .count')
    check "denied: indexer 403 count ($*)" eq "$got" "$storm_req"
    all=$(jq -r 'select(.responseStatus.code==403) | .auditID' "$tmp/final.jsonl" | sort -u | wc -l)
    got=$("$bin" denied -o json "${src[@]}" | jq '[.[].count] | add')
    check "denied: every 403 counted once ($*)" eq "$got" "$all"
    check "denied: YAML rules parse as Role/ClusterRole ($*)" bash -c \
        "\"$bin\" denied ${src[*]} | grep -c '^kind: \(Role\|ClusterRole\)$' | grep -qv '^0$'"
    # activity: the secret-dump principal's requests (storefront SA) and its verbs
    want=$(jq -r 'select(.user.username=="system:serviceaccount:shop:storefront") | .auditID' \
        "$tmp/final.jsonl" | sort -u | wc -l)
    got=$("$bin" activity shop/storefront -o json "${src[@]}" | jq .requests)
    check "activity: storefront requests ($*)" eq "$got" "$want"
    got=$("$bin" activity shop/storefront -o json --limit 3 "${src[@]}" | jq '.timeline | length')
    check "activity: --limit 3 timeline ($*)" eq "$got" 3
    # explain: the pod-exec target pod <- ReplicaSet <- Deployment (naming: gen's pods are
    # <deployment>-<pod-template-hash>-<suffix>)
    pod=$(jq -r 'select(.objectRef.subresource=="exec") | "\(.objectRef.namespace) \(.objectRef.name)"' \
        "$tmp/final.jsonl" | head -1)
    ns=${pod% *} name=${pod#* }
    out=$("$bin" explain "pod/$name" -n "$ns" -o json "${src[@]}")
    check "explain: Deployment ${name%-*-*} ($*)" eq "$(jq -r '.steps[-1].kind + "/" + .steps[-1].name' <<<"$out")" "Deployment/${name%-*-*}"
    # the cause: the last user patch of the deployment before the pod was first seen, or none
    t0=$(jq -r --arg p "$name" 'select(.objectRef.name==$p) | .requestReceivedTimestamp' \
        "$tmp/final.jsonl" | sort | head -1)
    wantc=$(jq -r --arg n "${name%-*-*}" --arg ns "$ns" --arg t "$t0" 'select(
        .objectRef.resource=="deployments" and .objectRef.name==$n and .objectRef.namespace==$ns
        and .verb=="patch" and (.objectRef.subresource // "")=="" and .responseStatus.code < 300
        and .requestReceivedTimestamp <= $t) | .auditID' "$tmp/final.jsonl" | tail -1)
    check "explain: cause ($*)" eq "$(jq -r '.cause.auditID // ""' <<<"$out")" "$wantc"
    # history: every request on one deployment, in order
    dep=${name%-*-*}
    want=$(jq -r --arg n "$dep" --arg ns "$ns" 'select(.objectRef.resource=="deployments" and
        .objectRef.name==$n and .objectRef.namespace==$ns) | .auditID' "$tmp/final.jsonl" | sort -u | wc -l)
    got=$("$bin" history "deployment/$dep" -n "$ns" -o json "${src[@]}" | jq length)
    check "history: deployment $dep requests ($*)" eq "$got" "$want"
}
views --file "$tmp/g.log"
# the views read files with the query's scanner: a truncated last line (a crash) is a warning,
# a bad line in the middle is reported as file:line:col and exits 3, the rest is read
head -n 2000 "$tmp/g.log" >"$tmp/cut.log"
want=$("$bin" activity shop/storefront -o json --file "$tmp/cut.log" | jq .requests)
sed -n 2001p "$tmp/g.log" | head -c 150 >>"$tmp/cut.log"
"$bin" activity shop/storefront -o json --file "$tmp/cut.log" >"$tmp/cut.json" 2>"$tmp/err"; rc=$?
check "views, truncated last line: exit 0" eq "$rc" 0
check "views, truncated last line: warned" grep -q "cut.log:2001: truncated last line" "$tmp/err"
check "views, truncated last line: the rest read" eq "$(jq .requests "$tmp/cut.json")" "$want"
{ head -n 10 "$tmp/g.log"; echo '{"kind":"Event",'; sed -n '11,2000p' "$tmp/g.log"; } >"$tmp/bad.log"
"$bin" activity shop/storefront -o json --file "$tmp/bad.log" >"$tmp/bad.json" 2>"$tmp/err"; rc=$?
check "views, bad line: exit 3" eq "$rc" 3
check "views, bad line: file:line:col" grep -q "bad.log:11:[0-9]*: " "$tmp/err"
check "views, bad line: the rest read" eq "$(jq .requests "$tmp/bad.json")" "$want"
if "$bin" index --store "$tmp/store" "$tmp/g.log" >/dev/null 2>&1; then
    views --store "$tmp/store"
else
    echo "note: kaudit index failed; store checks skipped"
fi

# real logs
real=$shared/data/real
if [ -d "$real" ]; then
    out=$("$bin" denied -o json --file "$real/audit2rbac/demo.log")
    check "real denied: 11 403s of audit2rbac demo" eq "$(jq '[.[].count] | add' <<<"$out")" 11
    check "real denied: bob's pods list rule" eq \
        "$(jq -r '.[] | select(.user=="bob") | .groups[] | select(.resource=="pods" and .namespace=="default") | .rule.verbs[0]' <<<"$out")" list
    out=$("$bin" activity bob -o json --file "$real/audit2rbac/demo.log")
    want=$(jq -r 'select(.user.username=="bob")' "$real/audit2rbac/demo.log" | jq -s length)
    check "real activity: bob" eq "$(jq .requests <<<"$out")" "$want"
    out=$("$bin" history lease/kube-scheduler -n kube-system -o json --file "$real/khi/test-log.jsonl")
    check "real history: khi lease update" eq "$(jq -r '.[0].verb' <<<"$out")" update
    f=$real/crowdsec-hub/k8s-audit-priv-pod-file.log
    pod=$(jq -r 'select(.verb=="create" and .objectRef.resource=="pods") | "\(.objectRef.namespace) \(.objectRef.name // .responseObject.metadata.name)"' "$f" | head -1)
    out=$("$bin" explain "pod/${pod#* }" -n "${pod% *}" -o json --file "$f")
    check "real explain: a pod created by a user" eq "$(jq -r '.steps[0].created.user // ""' <<<"$out")" \
        "$(jq -r 'select(.verb=="create" and .objectRef.resource=="pods") | .user.username' "$f" | head -1)"
fi
echo "views: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
