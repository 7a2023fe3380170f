#!/usr/bin/env bash
# detect.sh - end-to-end checks of `kaudit detect`: files, rotated backups and .gz, stdin,
# -o json/text, rule matching, priorities, exit codes, rule-file errors with file:line:col,
# --cluster, --state-max-keys and --stats, --follow, and the alert sinks (rotated file,
# webhook with retries, syslog over UDP). jq and python3 (stdlib: an HTTP server and a UDP
# listener on 127.0.0.1) are the independent oracles. Events come from tests/cases/detect (hand-made, nothing from ../shared).
# Usage: detect.sh KAUDIT_BINARY SHARED_DIR
# Exit 0 when every check passes, 1 otherwise, 77 (skip) when jq or python3 is missing.
set -u
bin=${1:?usage: detect.sh KAUDIT_BINARY SHARED_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
command -v jq >/dev/null || { echo "jq not installed: skipping"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed: skipping"; exit 77; }
export KA_RULES_DIR=$src/rules
tmp=$(mktemp -d /tmp/kaudit-detect-cli-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }
has() { grep -q -- "$2" "$1" || { echo "  '$2' not in $1:"; head -5 "$1"; return 1; }; }
# event FILE-STEM N: the event of line N of tests/cases/detect/FILE-STEM.jsonl, compact
event() { sed -n "${2}p" "$src/tests/cases/detect/$1.jsonl" | jq -c .event; }

shell=$(event exec-shell-in-pod 1)            # /bin/sh exec: shell + exec rules
dump=$(event secrets-listed-across-all-namespaces 1)
quiet=$(event exec-or-attach-into-pod 3)      # get pod: no rule
printf '%s\n%s\n%s\n' "$shell" "$dump" "$quiet" >"$tmp/a.log"

# --help, usage errors
"$bin" detect --help >"$tmp/help" 2>&1; rc=$?
check "--help exits 0" eq "$rc" 0
check "--help shows an example" has "$tmp/help" "example: kaudit detect"
"$bin" detect -o yaml "$tmp/a.log" >/dev/null 2>&1; rc=$?
check "bad -o value exits 1" eq "$rc" 1

# JSON alerts (Falco's form), rule_matching first
"$bin" detect "$tmp/a.log" >"$tmp/out.json" 2>"$tmp/err"; rc=$?
check "exit 0 with alerts" eq "$rc" 0
check "two alerts (first match per event)" eq "$(wc -l <"$tmp/out.json")" 2
check "rules in event order" eq "$(jq -r .rule "$tmp/out.json" | paste -sd,)" \
    "Exec Shell in Pod,Secrets Listed Across All Namespaces"
check "Falco keys and types" eq "$(jq -r '[(.time|test("^2025-03-10T09:00:00.002000000Z$")),
    .priority=="Warning", .source=="k8s_audit", (.hostname|type)=="string",
    (.output|type)=="string", (.tags|index("T1609")!=null or index("T1552.007")!=null),
    (.output_fields["evt.time"]|type)=="number"] | all' "$tmp/out.json" | sort -u)" true
check "auditID in output_fields and in the text" eq "$(jq -r 'select(.output_fields["ka.auditid"]
    as $a | .output | contains("auditID=" + $a)) | 1' "$tmp/out.json" | wc -l)" 2

# Appended output fields (Falco's append_output extra_fields): a rule whose output names
# neither the auditID nor the cluster still gets both; --no-append-fields gives Falco's fields.
printf -- '- rule: bare\n  desc: d\n  condition: ka.verb = list\n  output: "by %%ka.user.name"\n  priority: INFO\n  source: k8s_audit\n' >"$tmp/bare.yaml"
"$bin" detect -r "$tmp/bare.yaml" --cluster c1 "$tmp/a.log" >"$tmp/bare.json"
check "appended fields by default" eq "$(jq -c '.output_fields|del(.["evt.time"])|keys' "$tmp/bare.json")" \
    '["ka.auditid","ka.user.name","kaudit.cluster"]'
check "appended cluster value, output text unchanged" eq \
    "$(jq -r '. as $a | [$a.output_fields["kaudit.cluster"], ($a.output|endswith(": Informational by " + $a.output_fields["ka.user.name"])|tostring)]|join(",")' "$tmp/bare.json")" "c1,true"
"$bin" detect -r "$tmp/bare.yaml" --no-append-fields --append-field ka.verb "$tmp/a.log" >"$tmp/bare2.json"
check "--no-append-fields --append-field" eq "$(jq -c '.output_fields|keys' "$tmp/bare2.json")" \
    '["evt.time","ka.user.name","ka.verb"]'
"$bin" detect -r "$tmp/bare.yaml" --append-field ka.nope "$tmp/a.log" >/dev/null 2>"$tmp/bad.err"; rc=$?
check "unknown --append-field exits 1" eq "$rc" 1
check "unknown --append-field names it" has "$tmp/bad.err" "append field 'ka.nope'"

env -u KA_RULES_DIR "$bin" detect "$tmp/a.log" >"$tmp/builtin.json"
check "without KA_RULES_DIR the built-in copy of the default rules" cmp -s "$tmp/out.json" "$tmp/builtin.json"

# stdin and text output
"$bin" detect <"$tmp/a.log" >"$tmp/stdin.json"
check "stdin gives the same alerts" cmp -s "$tmp/out.json" "$tmp/stdin.json"
"$bin" detect -o text - <"$tmp/a.log" >"$tmp/out.txt"
check "-o text lines" eq "$(grep -cE '^09:00:00\.002000000: Warning .*auditID=' "$tmp/out.txt")" 2

# rule matching all, minimum priority, listing
"$bin" detect --rule-matching all "$tmp/a.log" >"$tmp/all.json"
check "--rule-matching all adds the exec rule" eq \
    "$(jq -r .rule "$tmp/all.json" | sort | paste -sd,)" \
    "Exec Shell in Pod,Exec or Attach into Pod,Secrets Listed Across All Namespaces"
"$bin" detect --rule-matching all --min-priority warning "$tmp/a.log" >"$tmp/warn.json"
check "--min-priority warning drops the Notice" eq "$(wc -l <"$tmp/warn.json")" 2
"$bin" detect --list-rules >"$tmp/rules.txt"
check "--list-rules lists the default rules" eq "$([ "$(wc -l <"$tmp/rules.txt")" -gt 50 ] && echo y)" y

# --cluster names the cluster
"$bin" detect --cluster prod-eu-1 "$tmp/a.log" >"$tmp/cl.json"
check "--cluster reaches the alert" eq "$(jq -r 'select(.output|contains("cluster=prod-eu-1"))
    | .output_fields["kaudit.cluster"]' "$tmp/cl.json" | sort -u)" prod-eu-1

# log set: rotated backup (gzip) read before the live file; --no-backups
mkdir "$tmp/logs"
printf '%s\n' "$dump" | gzip >"$tmp/logs/audit-2025-03-10T08-00-00.000.log.gz"
printf '%s\n' "$shell" >"$tmp/logs/audit.log"
"$bin" detect "$tmp/logs/audit.log" >"$tmp/set.json"
check "backup .gz and live file" eq "$(jq -r .rule "$tmp/set.json" | paste -sd,)" \
    "Secrets Listed Across All Namespaces,Exec Shell in Pod"
"$bin" detect --no-backups "$tmp/logs/audit.log" >"$tmp/nob.json"
check "--no-backups reads the live file only" eq "$(wc -l <"$tmp/nob.json")" 1
"$bin" detect "$tmp/logs/audit-2025-03-10T08-00-00.000.log.gz" >"$tmp/gz.json"
check "a .gz file on its own" eq "$(jq -r .rule "$tmp/gz.json")" "Secrets Listed Across All Namespaces"

# bad lines: exit 3, the rest still processed
{ cat "$tmp/a.log"; echo '{"not":"an event"'; echo 'garbage'; } >"$tmp/bad.log"
"$bin" detect "$tmp/bad.log" >"$tmp/bad.json" 2>"$tmp/bad.err"; rc=$?
check "bad lines exit 3" eq "$rc" 3
check "bad lines: alerts still written" eq "$(wc -l <"$tmp/bad.json")" 2
check "bad lines reported with file:line" has "$tmp/bad.err" "bad.log:4"
"$bin" detect "$tmp/missing.log" >/dev/null 2>&1; rc=$?
check "missing file exits 1" eq "$rc" 1

# broken rule files: file:line:col and exit 1
printf -- '- rule: Broken\n  desc: x\n  condition: ka.verb = create and ka.nosuchfield = 1\n  output: x\n  priority: WARNING\n  source: k8s_audit\n' >"$tmp/broken.yaml"
"$bin" detect -r "$tmp/broken.yaml" "$tmp/a.log" >"$tmp/br.out" 2>"$tmp/br.err"; rc=$?
check "unknown field exits 1" eq "$rc" 1
check "unknown field names file:line:col" has "$tmp/br.err" "broken.yaml:3:[0-9]"
check "no alert from a broken rule set" eq "$(wc -c <"$tmp/br.out")" 0
printf -- '- rule: [unclosed\n' >"$tmp/syntax.yaml"
"$bin" detect -r "$tmp/syntax.yaml" "$tmp/a.log" >/dev/null 2>"$tmp/sy.err"; rc=$?
check "YAML syntax error exits 1 with file:line:col" eq "$rc:$(grep -c 'syntax.yaml:[0-9]*:[0-9]*' "$tmp/sy.err")" 1:1
KA_RULES_DIR=$tmp/none "$bin" detect "$tmp/a.log" >/dev/null 2>"$tmp/nr.err"; rc=$?
check "KA_RULES_DIR without the rules file: exit 1" eq "$rc" 1

# a local rules file after the default one: append to a list
printf -- '- list: kaudit_trusted_users\n  items: [alice@example.com]\n  append: true\n' >"$tmp/local.yaml"
"$bin" detect -r "$src/rules/kaudit_rules.yaml" -r "$tmp/local.yaml" "$tmp/a.log" >"$tmp/loc.json"
check "trusted user appended: the cluster-wide list no longer alerts" eq \
    "$(jq -r .rule "$tmp/loc.json" | paste -sd,)" "Exec Shell in Pod"

# alert file sink, rotated by size
for i in $(seq 1 40); do cat "$tmp/a.log"; done >"$tmp/many.log"
"$bin" detect -q --alert-file "$tmp/alerts.jsonl" --alert-file-max 32k "$tmp/many.log" >"$tmp/q.out"
check "-q: nothing on stdout" eq "$(wc -c <"$tmp/q.out")" 0
check "alert file rotated" test -f "$tmp/alerts.jsonl.1"
check "alert file + backups hold every alert (80), all JSON" eq \
    "$(cat "$tmp"/alerts.jsonl* | jq -r .rule | wc -l)" 80
check "each alert file within the size limit" eq \
    "$(for f in "$tmp"/alerts.jsonl*; do [ "$(wc -c <"$f")" -le 32768 ] || echo big; done)" ""

# stateful rules' state: --state-max-keys bounds it, --stats reports it
cat >"$tmp/state.yaml" <<'EOF'
- rule: per id
  desc: one state key per request
  condition: ka.verb exists
  output: o
  priority: INFO
  source: k8s_audit
  kaudit.window: {by: ka.auditid, more_than: 5, within: 1h}
EOF
for i in $(seq 1 30); do
    printf '%s\n' "$quiet" | jq -c --arg i "$i" '.auditID = "id-" + $i'
done >"$tmp/ids.log"
"$bin" detect -q --stats -r "$tmp/state.yaml" --state-max-keys 10 "$tmp/ids.log" \
    2>"$tmp/st.err"; rc=$?
check "--state-max-keys 10: exit 0" eq "$rc" 0
check "--stats: 30 keys bounded to 10, 20 evicted" has "$tmp/st.err" \
    "state: 1 stateful rules, 10 keys (max 10), 20 evictions, [1-9][0-9]* bytes, [1-9]"
"$bin" detect -q --stats -r "$tmp/state.yaml" "$tmp/ids.log" 2>"$tmp/st2.err"
check "--stats: default bound 100000 keeps every key" has "$tmp/st2.err" \
    "30 keys (max 100000), 0 evictions"
for bad in 0 -1 abc 67108865; do
    "$bin" detect --state-max-keys "$bad" "$tmp/ids.log" >/dev/null 2>&1; rc=$?
    check "--state-max-keys $bad: exit 1" eq "$rc" 1
done

# webhook sink: a server that fails twice with 503, then accepts
port_file=$tmp/http.port
python3 - "$tmp/hook.txt" "$port_file" <<'EOF' &
import http.server, sys
out, portf = sys.argv[1:3]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n[0] += 1
        if n[0] <= 2:
            self.send_response(503); self.end_headers(); return
        with open(out, "ab") as f:
            f.write(self.headers["Content-Type"].encode() + b" " + body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portf, "w").write(str(s.server_address[1]))
s.timeout = 20
for _ in range(20):
    s.handle_request()
EOF
pids+=($!)
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
"$bin" detect -q --alert-webhook "http://127.0.0.1:$(cat "$port_file")/" "$tmp/a.log"; rc=$?
check "webhook: exit 0 after retries" eq "$rc" 0
check "webhook: both alerts delivered once, as JSON" eq \
    "$(cut -d' ' -f2- "$tmp/hook.txt" | jq -r .rule | paste -sd,)" \
    "Exec Shell in Pod,Secrets Listed Across All Namespaces"
check "webhook: Content-Type application/json" eq "$(cut -d' ' -f1 "$tmp/hook.txt" | sort -u)" \
    "application/json"
"$bin" detect -q --alert-webhook "ftp://127.0.0.1/" "$tmp/a.log" 2>/dev/null; rc=$?
check "webhook: a non-http URL is a usage error" eq "$rc" 1

# syslog sink over UDP: RFC 3164 datagrams, severity from the priority (Warning = 4, facility 13)
python3 - "$tmp/syslog.txt" "$tmp/udp.port" <<'EOF' &
import socket, sys
out, portf = sys.argv[1:3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(portf, "w").write(str(s.getsockname()[1]))
s.settimeout(20)
with open(out, "w") as f:
    for _ in range(2):
        f.write(s.recv(65536).decode() + "\n"); f.flush()
EOF
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/udp.port" ] && break; sleep 0.1; done
"$bin" detect -q --syslog-addr "udp:127.0.0.1:$(cat "$tmp/udp.port")" "$tmp/a.log"
for _ in $(seq 50); do [ "$(wc -l <"$tmp/syslog.txt" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
check "syslog: two datagrams <108> with ident" eq \
    "$(grep -cE '^<108>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [^ ]+ kaudit\[[0-9]+\]: 09:00:00' "$tmp/syslog.txt")" 2

# --follow: alerts for lines appended to a live log; SIGTERM ends with exit 0
: >"$tmp/live.log"
"$bin" detect --follow "$tmp/live.log" >"$tmp/follow.json" 2>"$tmp/follow.err" &
fpid=$!
pids+=($fpid)
sleep 1
cat "$tmp/a.log" >>"$tmp/live.log"
for _ in $(seq 100); do [ "$(wc -l <"$tmp/follow.json")" -ge 2 ] && break; sleep 0.1; done
check "--follow: alerts for appended lines" eq "$(jq -r .rule "$tmp/follow.json" | paste -sd,)" \
    "Exec Shell in Pod,Secrets Listed Across All Namespaces"
kill -TERM "$fpid"; wait "$fpid"; rc=$?
check "--follow: SIGTERM exits 0" eq "$rc" 0

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
