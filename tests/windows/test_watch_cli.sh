#!/usr/bin/env bash
# test_watch_cli.sh - `leakwatch.exe watch` on a Windows process that leaks: found by
# --name, CSV columns with the Windows counters, handles by type (Event and File grow, as
# Process Explorer would show), threads, trends, an alert rule on event handles firing
# (exit status 3), --json lines, and one-line errors with the documented exit codes.
. "$LW_SOURCE_DIR/tests/windows/wine_lib.sh"

# Usage errors first (cheap): exit 2 with one line, and --help on every command.
set +e
lw watch --interval nonsense 1 > "$tmp/out" 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --interval: exit $rc"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "expected one error line: $(cat "$tmp/err")"
set +e
lw watch 999999 > "$tmp/out" 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "missing pid: exit $rc"
grep -q "pid 999999: no such process" "$tmp/err" || fail "message: $(cat "$tmp/err")"
# Not grep -q: it stops reading at the first match, and on Windows the writer then fails
# with EINVAL instead of dying of SIGPIPE, failing the pipeline.
lw watch --help | grep "name REGEX" >/dev/null || fail "watch --help"
lw rules --metrics | grep "^handles_event" >/dev/null || fail "rules --metrics lists handles_event"

# The leaker: 6 steps of 8 MiB, 200 events, 20 files and 2 threads, 700 ms apart. A copy
# with its own name, so tests running in parallel cannot match each other's processes.
cp "$FIXTURES/handle_leaker.exe" "$tmp/watch_leaker.exe"
wine_run -t 60 "$tmp/watch_leaker.exe" 6 700 4000 > "$tmp/leaker.out" &
leaker=$!
set +e
lw watch --name '^watch_leaker\.exe$' --interval 300ms --duration 5s --plain \
  --csv "$(winpath "$tmp/w.csv")" --jsonl "$(winpath "$tmp/w.jsonl")" \
  --alert 'EventLeak: handles_event > 500 for 600ms' \
  --on-alert "echo %LEAKWATCH_ALERT% %LEAKWATCH_ALERT_STATE% %LEAKWATCH_ALERT_METRIC%>> $(winpath "$tmp/hook.txt")" \
  --trend-min-span 1s --trend-window 20s --trend-min-count 60 \
  > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
wait $leaker || true
cat "$tmp/out" | tail -3
[ $rc -eq 3 ] || { cat "$tmp/err"; fail "exit $rc, expected 3 (alert fired)"; }
grep -q "^ALERT EventLeak firing: pid [0-9]* (watch_leaker.exe)" "$tmp/out" || fail "no alert line"
grep -q "handles_event growing\|handles growing" "$tmp/out" || fail "no handle trend: $(grep -i grow "$tmp/out")"
grep -q " handles=[0-9]* (event [0-9]*, file [0-9]*" "$tmp/out" || fail "plain line lacks handles by type"

head -1 "$tmp/w.csv" | grep -q "^# leakwatch watch samples" || fail "CSV header"
for c in working_set_bytes private_bytes pagefile_bytes handles handles_event handles_file \
         threads gdi_objects user_objects page_faults_per_second; do
  grep -v '^#' "$tmp/w.csv" | head -1 | tr , '\n' | grep -qx "$c" || fail "CSV lacks $c"
done
ws=$(csv_col "$tmp/w.csv" working_set_bytes | sed -n '1p;$p' | tr '\n' ' ')
ev=$(csv_col "$tmp/w.csv" handles_event | sed -n '1p;$p' | tr '\n' ' ')
fi=$(csv_col "$tmp/w.csv" handles_file | tail -1)
th=$(csv_col "$tmp/w.csv" threads | tail -1)
echo "working set first/last: $ws; events first/last: $ev; files last: $fi; threads last: $th"
read -r ws0 ws1 <<< "$ws"; read -r ev0 ev1 <<< "$ev"
[ "$ws1" -ge $((ws0 + 30 * 1048576)) ] || fail "working set did not grow by 30 MiB"
[ "$ev1" -eq 1200 ] || fail "expected 1200 event handles at the end, got $ev1"
[ "$ev0" -lt "$ev1" ] || fail "events did not grow"
[ "$fi" -ge 120 ] || fail "expected >= 120 file handles, got $fi"
[ "$th" -ge 13 ] || fail "expected >= 13 threads, got $th"
# JSONL: same keys.
tail -1 "$tmp/w.jsonl" | grep -q '"handles_event":1200' || fail "JSONL lacks handles_event"
# --on-alert ran through cmd.exe with the LEAKWATCH_* variables.
for _ in $(seq 50); do [ -s "$tmp/hook.txt" ] && break; sleep 0.1; done
grep -q "^EventLeak firing handles_event" "$tmp/hook.txt" || fail "on-alert hook: $(cat "$tmp/hook.txt" 2>&1)"

# -- COMMAND: started, watched until it exits, its exit status reported.
lw watch --interval 200ms --plain -- "$(winpath "$FIXTURES/handle_leaker.exe")" 2 100 300 \
  > "$tmp/spawned" 2> "$tmp/spawned.err" || fail "watch -- COMMAND: $(cat "$tmp/spawned.err")"
grep -q "pid [0-9]* (handle_leaker.exe) exited with status 0 after" "$tmp/spawned" ||
  fail "no exit line: $(tail -3 "$tmp/spawned")"
set +e
lw watch -- 'C:\no\such.exe' > /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 127 ] || fail "watch -- missing command: exit $rc"
echo PASS
