#!/usr/bin/env bash
# serve_files.sh - `kaudit serve` following an audit log (inputs.files) while `kaudit write
# --audit-log-maxsize 1` writes it with rotations:
#   1. SIGTERM and restart mid-stream: the journal holds every event exactly once (jq on
#      auditID+stage), tagged with the input's cluster; a bad line goes to the dead-letter file;
#   2. SIGKILL and restart mid-stream: every event is in the journal (at least once).
# Events come from `kaudit gen`; nothing is read from ../shared.
# usage: serve_files.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: serve_files.sh KAUDIT}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$KAUDIT" serve --help >/dev/null 2>&1 || { echo "SKIP: no serve command"; exit 77; }
T=$(mktemp -d /tmp/kaudit-serve-files.XXXXXX)
PID=
WPID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    [ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*/err; do [ -f "$f" ] && sed "s|^|  $f: |" "$f" | tail -20; done; exit 1; }

N=6000 # ~1.1 KB each: about 6 rotations of 1 MiB

# start DIR: serve on a free port, following DIR/logs/audit.log; waits for the ready line.
start() {
    local d=$1
    for _ in 1 2 3 4 5 6 7 8; do
        local port=$((20000 + RANDOM % 40000))
        "$KAUDIT" serve -c "$d/config.yaml" --listen "127.0.0.1:$port" --data-dir "$d/data" \
            2>>"$d/err" &
        PID=$!
        for _ in $(seq 1200); do # 60 s: a restart recovers the journal; CI can be slow
            [ "$(grep -c "listening on" "$d/err")" -ge "$2" ] && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.05
        done
        wait "$PID" 2>/dev/null
        PID=
    done
    fail "serve did not start"
}

# journal_cat DIR: every journal segment, gzipped ones too (a segment set aside after a torn
# last line is compressed by the mill), each followed by a newline so that a torn last line
# never joins the next segment's first line.
journal_cat() {
    for f in "$1"/data/journal/audit*.log "$1"/data/journal/audit*.log.gz; do
        [ -e "$f" ] && { zcat -f "$f"; echo; }
    done
}

# journal_keys DIR: "auditID stage" of every complete journal line, one per line.
journal_keys() {
    journal_cat "$1" | jq -R -r 'fromjson? | .auditID + " " + .stage'
}

# wait_all DIR: until every key of DIR/want is in the journal (90 s at most).
wait_all() {
    for _ in $(seq 900); do
        [ "$(journal_keys "$1" | sort -u | comm -13 - "$1/want" | wc -l)" -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# phase DIR SIGNAL SEED: writer runs; serve is stopped with SIGNAL mid-stream and restarted.
phase() {
    local d=$1 sig=$2 seed=$3
    mkdir -p "$d/logs"
    printf 'inputs:\n  files:\n  - path: %s\n    cluster: files-%s\n    from_start: true\n' \
        "$d/logs/audit.log" "$seed" >"$d/config.yaml"
    : >"$d/err"
    start "$d" 1
    "$KAUDIT" gen --events "$N" --seed "$seed" --rate 2000 | tee "$d/events.json" |
        "$KAUDIT" write --audit-log-path "$d/logs/audit.log" --audit-log-maxsize 1 \
            --audit-log-maxbackup 0 &
    WPID=$!
    # mid-stream: once the follower has made some of the events durable
    for _ in $(seq 1200); do
        [ "$(journal_cat "$d" | wc -l)" -ge 1500 ] && break
        sleep 0.05
    done
    kill -"$sig" "$PID"
    wait "$PID" 2>/dev/null
    local rc=$?
    PID=
    if [ "$sig" = TERM ] && [ $rc -ne 0 ]; then fail "serve exited $rc after SIGTERM"; fi
    sleep 0.5 # the writer goes on (and rotates) while nobody follows
    start "$d" 2
    wait "$WPID" || fail "kaudit write failed"
    WPID=
    jq -r '.auditID + " " + .stage' "$d/events.json" | sort >"$d/want"
    [ "$(sort -u "$d/want" | wc -l)" -eq "$N" ] || fail "gen keys are not unique"
    [ "$(ls "$d"/logs/audit-*.log | wc -l)" -ge 3 ] || fail "the writer rotated less than 3 times"
    wait_all "$d" || fail "$(journal_keys "$d" | sort -u | comm -13 - "$d/want" | wc -l) events missing after SIG$sig"
}

# 1. SIGTERM: exactly once.
A="$T/a"
phase "$A" TERM 11
printf '%s\n' '{"apiVersion":"v1","kind":"Pod","oops":true}' '{"oops": not json' >>"$A/logs/audit.log"
sleep 0.5
kill -TERM "$PID"
wait "$PID" || fail "serve exited non-zero"
PID=
journal_keys "$A" | sort >"$A/got"
cmp -s "$A/got" "$A/want" ||
    fail "journal is not exactly the events: $(comm -3 "$A/got" "$A/want" | head -3)"
journal_cat "$A" | jq -R -e 'fromjson? | select(.annotations["kaudit.io/cluster"] != "files-11")' \
    >/dev/null && fail "an event without the input's cluster tag"
DL="$A/data/deadletter/audit-deadletter.log"
[ "$(jq -r 'select(.line | startswith("{\"oops\": not")) | .remote' "$DL" 2>/dev/null)" = "file:$A/logs/audit.log" ] ||
    fail "the line that is not JSON is not in the dead-letter file with its source"
[ "$(jq -r '.line | fromjson? | select(.oops == true) | .kind' "$DL" 2>/dev/null)" = Pod ] ||
    fail "the line that is not an event is not in the dead-letter file"
[ -f "$A/data/checkpoints/$(echo "$A/logs/audit.log" | tr -c 'A-Za-z0-9.\n-' '_').ckpt" ] ||
    fail "no checkpoint at data/checkpoints/<sanitised path>.ckpt"
echo "ok: SIGTERM/restart across rotations: $N events exactly once, bad line dead-lettered"

# 2. SIGKILL: at least once, nothing lost.
B="$T/b"
phase "$B" KILL 12
kill -TERM "$PID"
wait "$PID" || fail "serve exited non-zero"
PID=
journal_keys "$B" | sort >"$B/got"
missing=$(sort -u "$B/got" | comm -13 - "$B/want" | wc -l)
extra=$(sort -u "$B/got" | comm -23 - "$B/want" | wc -l)
[ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] || fail "after SIGKILL: $missing missing, $extra unknown"
echo "ok: SIGKILL/restart: $N events all present, $(($(wc -l <"$B/got") - N)) replayed twice"

# 3. from_start on a first start: the backups rotated before serve ever ran (plain and gzipped)
#    and the live file are all read, exactly once.
C="$T/c"
mkdir -p "$C/logs"
"$KAUDIT" gen --events 3000 --seed 13 | tee "$C/events.json" |
    "$KAUDIT" write --audit-log-path "$C/logs/audit.log" --audit-log-maxsize 1 \
        --audit-log-maxbackup 0 --audit-log-compress || fail "kaudit write failed"
[ "$(ls "$C"/logs/audit-*.log* | wc -l)" -ge 2 ] || fail "the writer rotated less than 2 times"
ls "$C"/logs/audit-*.log.gz >/dev/null 2>&1 || fail "no gzipped backup to read"
jq -r '.auditID + " " + .stage' "$C/events.json" | sort >"$C/want"
printf 'inputs:\n  files:\n  - path: %s\n    from_start: true\n' "$C/logs/audit.log" >"$C/config.yaml"
: >"$C/err"
start "$C" 1
wait_all "$C" || fail "from_start: $(journal_keys "$C" | sort -u | comm -13 - "$C/want" | wc -l) events of the backups missing"
kill -TERM "$PID"
wait "$PID" || fail "serve exited non-zero"
PID=
journal_keys "$C" | sort >"$C/got"
cmp -s "$C/got" "$C/want" || fail "from_start: the journal is not exactly the backups and the live file"
echo "ok: from_start read $(ls "$C"/logs/audit-*.log* | wc -l) existing backups and the live file, exactly once"
