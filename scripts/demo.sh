#!/bin/sh
# `make run`: starts the collector, `kaudit serve`, on its embedded defaults (127.0.0.1:9765,
# data in ./kaudit-data), prints the URL, a ready-to-use kube-apiserver webhook kubeconfig and
# the command that feeds it demo traffic, then stays in the foreground until Ctrl-C (SIGINT
# stops kaudit cleanly: requests in flight are answered, the journal is flushed).
# usage: scripts/demo.sh [KAUDIT]   (the generated policy demo is scripts/demo-policy.sh)
set -eu
KAUDIT=${1:-build/kaudit}
LISTEN=127.0.0.1:9765
DATA=./kaudit-data
URL="http://$LISTEN/audit"
BIN=$(cd "$(dirname "$KAUDIT")" && pwd)/$(basename "$KAUDIT")

mkdir -p "$DATA"
LOG="$DATA/serve.log"
: >"$LOG"
"$KAUDIT" serve 2>>"$LOG" &
PID=$!
trap 'kill -TERM "$PID" 2>/dev/null || true' INT TERM
i=0
until grep -q "listening on" "$LOG"; do
    if ! kill -0 "$PID" 2>/dev/null || [ $i -ge 100 ]; then
        cat "$LOG" >&2
        echo "kaudit serve did not start (is $LISTEN already in use?)" >&2
        exit 1
    fi
    i=$((i + 1))
    sleep 0.1
done

KUBECONFIG_FILE="$(cd "$DATA" && pwd)/webhook-kubeconfig.yaml"
cat >"$KUBECONFIG_FILE" <<EOF
# kube-apiserver --audit-webhook-config-file=$KUBECONFIG_FILE --audit-policy-file=...
# Plain HTTP on loopback: for a local cluster (kind, minikube --driver=none) on this host only.
# Production: TLS and client certificates or tokens, see deploy/webhook-kubeconfig.yaml.
apiVersion: v1
kind: Config
clusters:
  - name: kaudit
    cluster:
      server: $URL
users:
  - name: kube-apiserver
    user: {}
contexts:
  - name: kaudit
    context: {cluster: kaudit, user: kube-apiserver}
current-context: kaudit
EOF

cat <<EOF
kaudit serve is running (pid $PID), receiving audit webhooks at
    $URL
journal: $DATA/journal/audit.log   log: $LOG   metrics: http://$LISTEN/metrics

kube-apiserver webhook kubeconfig ($KUBECONFIG_FILE):
EOF
sed 's/^/    /' "$KUBECONFIG_FILE"
cat <<EOF

feed it demo traffic (in another terminal):
    $BIN gen --rate 200 --attacks | $BIN send $URL

Ctrl-C stops kaudit serve.
EOF
tail -n +2 -f "$LOG" --pid="$PID" 2>/dev/null &
TPID=$!
wait "$PID" || wait "$PID" || true
kill "$TPID" 2>/dev/null || true
