#!/usr/bin/env bash
# serve_crash.sh - crash test of `kaudit serve`: ROUNDS times, while `kaudit send` pushes a
# stream (retrying quickly), kill -9 the collector at a random moment (0.05-0.5 s), restart it
# on the same data directory and port, and let the sender's retries deliver the rest.
# Checked after every round, on the journal (all segments, one data directory for all rounds):
#   - every event the sender saw acknowledged (`kaudit send --acked`, written after each 2xx)
#     is in the journal: auditID+stage of the complete lines, duplicates allowed;
#   - the sender delivered everything in the end (exit 0);
#   - every line of the journal is complete JSON (jq), except possibly the last line of a
#     segment torn by the kill, and only if `kaudit policy eval` (a reader of the journal)
#     skips it: exit 0 with "truncated last line ... skipped", or exit 3 with "bad lines
#     skipped"; a torn line in the middle of a segment (an append glued to it) fails.
# Events come from `kaudit gen`; nothing is read from ../shared.
# usage: serve_crash.sh KAUDIT [SHARED_DIR]   (exit 77 = skipped)
set -u
KAUDIT=${1:?usage: serve_crash.sh KAUDIT}
ROUNDS=${ROUNDS:-10}
N=${N:-8000}
RATE=${RATE:-10000} # events/s: the stream lasts 0.8 s, the kill comes at 0.05-0.5 s
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$KAUDIT" serve --help >/dev/null 2>&1 || { echo "SKIP: no serve command"; exit 77; }
"$KAUDIT" send --help | grep -q -- --acked || { echo "SKIP: kaudit send has no --acked"; exit 77; }
T=$(mktemp -d /tmp/kaudit-serve-crash.XXXXXX)
PID=
SPID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    [ -n "$SPID" ] && kill -KILL "$SPID" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
D="$T/data"
POLICY="$T/policy.yaml"
printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n' >"$POLICY"

# start: serve on $PORT (chosen on the first call); waits for its ready line.
PORT=
start() {
    local tries=1
    [ -z "$PORT" ] && tries=8
    for _ in $(seq "$tries"); do
        [ "$tries" -gt 1 ] && PORT=$((20000 + RANDOM % 40000))
        : >"$T/err"
        "$KAUDIT" serve --listen "127.0.0.1:$PORT" --data-dir "$D" 2>"$T/err" &
        PID=$!
        # up to 60 s: a restart recovers the journal, and CI machines can be slow
        for _ in $(seq 2400); do
            grep -q "listening on" "$T/err" && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.025
        done
        wait "$PID" 2>/dev/null
        PID=
    done
    echo "serve did not start: $(cat "$T/err")"
    return 1
}

# check_journal: prints problems; returns 1 on any.
check_journal() {
    local bad=0 f n torn=0
    for f in "$D"/journal/audit*.log "$D"/journal/audit*.log.gz; do
        [ -e "$f" ] || continue
        # line numbers of lines that are not complete JSON objects
        zcat -f "$f" | jq -R -r 'try (fromjson | empty) catch input_line_number' >"$T/badlines" 2>/dev/null
        # jq numbers a last line without LF like the line before it: wc -l is the last line
        n=$(zcat -f "$f" | wc -l)
        while read -r l; do
            if [ "$l" -eq "$n" ]; then torn=$((torn + 1)); else
                echo "  $f:$l: not a complete JSON line"; bad=1
            fi
        done <"$T/badlines"
    done
    if [ "$torn" -gt 0 ]; then
        "$KAUDIT" policy eval -p "$POLICY" "$D"/journal/audit*.log >/dev/null 2>"$T/eval.err"
        local rc=$?
        # a reader skips it: "truncated last line ... skipped" (exit 0) for the live segment's
        # end, or counted among "bad lines skipped" (exit 3); any other outcome fails
        if ! { [ $rc -eq 0 ] && grep -q "truncated last line" "$T/eval.err"; } &&
            ! { [ $rc -eq 3 ] && grep -q "bad lines skipped" "$T/eval.err"; }; then
            echo "  a torn last line that readers do not skip (policy eval exit $rc)"
            bad=1
        fi
    fi
    echo "$torn" >"$T/torn"
    return $bad
}

# Every segment, gzipped ones too (a segment set aside after a torn last line is compressed by
# the mill), each followed by a newline so that a torn line never joins the next segment's.
journal_cat() {
    for f in "$D"/journal/audit*.log "$D"/journal/audit*.log.gz; do
        [ -e "$f" ] && { zcat -f "$f"; echo; }
    done
}
journal_keys() {
    journal_cat | jq -R -r 'fromjson? | .auditID + " " + .stage' | sort -u
}

passed=0
failed=0
total_torn=0
start || exit 1
for r in $(seq "$ROUNDS"); do
    : >"$T/acked.$r"
    "$KAUDIT" gen --events "$N" --seed "$((100 + r))" >"$T/events.$r"
    "$KAUDIT" send "http://127.0.0.1:$PORT/audit" --initial-backoff 0.05 --max-attempts 50 \
        --batch-size 400 --rate "$RATE" --acked "$T/acked.$r" "$T/events.$r" 2>"$T/send.err.$r" &
    SPID=$!
    sleep "0.$(printf '%02d' $((5 + RANDOM % 46)))"
    kill -KILL "$PID"
    wait "$PID" 2>/dev/null
    PID=
    acked_at_kill=$(wc -l <"$T/acked.$r")
    start || { failed=$((failed + 1)); break; }
    wait "$SPID"
    src=$?
    SPID=
    problems=""
    [ $src -eq 0 ] || problems="$problems; send exited $src: $(tail -2 "$T/send.err.$r")"
    [ "$(wc -l <"$T/acked.$r")" -eq "$N" ] || problems="$problems; only $(wc -l <"$T/acked.$r") of $N acknowledged"
    missing=$(sort -u "$T/acked.$r" | comm -23 - <(journal_keys) | wc -l)
    [ "$missing" -eq 0 ] || problems="$problems; $missing acknowledged events not in the journal"
    out=$(check_journal) || problems="$problems; journal: $out"
    total_torn=$((total_torn + $(cat "$T/torn")))
    if [ -z "$problems" ]; then
        passed=$((passed + 1))
        echo "round $r: ok (killed after $acked_at_kill acked events)"
    else
        failed=$((failed + 1))
        echo "round $r: FAIL${problems}"
        echo "  serve stderr: $(tail -n 5 "$T/err" | tr '\n' '|')"
        echo "  send stderr: $(tail -n 5 "$T/send.err.$r" | tr '\n' '|')"
    fi
done
kill -TERM "$PID" && wait "$PID"
PID=
# All rounds together: every acknowledged event, once or more.
missing=$(cat "$T"/acked.* | sort -u | comm -23 - <(journal_keys) | wc -l)
if [ "$missing" -ne 0 ]; then
    echo "all rounds: $missing acknowledged events not in the journal"
    failed=$((failed + 1))
fi
lines=$(journal_cat | grep -c .)
echo "journal: $lines lines for $((ROUNDS * N)) distinct events ($((lines - ROUNDS * N)) duplicates or torn), $total_torn torn last lines seen"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
