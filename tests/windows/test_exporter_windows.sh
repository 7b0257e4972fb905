#!/usr/bin/env bash
# test_exporter_windows.sh - `leakwatch.exe exporter` in a console: serves the Windows
# counters of a leaking process (handles by type as Process Explorer groups them) in a
# scrape that `promtool check metrics` accepts, answers /-/healthy and 404s, refuses a
# busy port with one line and exit 1, and stops cleanly (exit 0) on Ctrl-C.
. "$LW_SOURCE_DIR/tests/windows/wine_lib.sh"
command -v promtool >/dev/null || fail "promtool missing (scripts/debian-packages.txt: prometheus)"
command -v curl >/dev/null || fail "curl missing"

cp "$FIXTURES/handle_leaker.exe" "$tmp/export_leaker.exe" # a name no parallel test uses
wine_run -t 60 "$tmp/export_leaker.exe" 2 200 7000 > /dev/null &
leaker=$!
sleep 1
port=$((20000 + RANDOM % 20000))
wine_run -t 60 "$LW_EXE" exporter --name '^export_leaker\.exe$' --listen "127.0.0.1:$port" \
  > "$tmp/out" 2> "$tmp/err" &
exporter=$!
for _ in $(seq 50); do grep -q "listening on" "$tmp/err" && break; sleep 0.1; done
grep -q "listening on http://127.0.0.1:$port/metrics" "$tmp/err" || { cat "$tmp/err"; fail "not listening"; }

curl -sf "http://127.0.0.1:$port/metrics" > "$tmp/metrics" || fail "scrape failed"
promtool check metrics < "$tmp/metrics" || fail "promtool rejects the exposition"
grep -q '^process_open_handles_by_type{pid="[0-9]*",comm="export_leaker.exe",type="Event"} 400$' \
  "$tmp/metrics" || { grep handles "$tmp/metrics"; fail "400 Event handles expected"; }
grep -q '^process_open_handles_by_type{.*type="File"} [4-9][0-9]$' "$tmp/metrics" || fail "File handles"
for m in process_resident_memory_bytes process_private_memory_bytes process_pagefile_bytes \
         process_threads process_start_time_seconds process_cpu_seconds_total \
         leakwatch_exporter_scrapes_total; do
  grep -q "^$m" "$tmp/metrics" || fail "$m missing"
done
[ "$(curl -s "http://127.0.0.1:$port/-/healthy")" = OK ] || fail "/-/healthy"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ] || fail "404"

# A second exporter on the same port: one line, exit 1.
set +e
lw exporter --name nothing --listen "127.0.0.1:$port" > /dev/null 2> "$tmp/err2"; rc=$?
set -e
[ $rc -eq 1 ] || fail "busy port: exit $rc"
grep -q "127.0.0.1:$port: address already in use" "$tmp/err2" || fail "busy port: $(cat "$tmp/err2")"

# Ctrl-C (wine turns SIGINT into a console control event): a clean stop.
# The wine process itself is the one whose argv[0] is the .exe (not timeout's or bash's).
kill -INT $(pgrep -f "^[^ ]*leakwatch\.exe exporter --name [^ ]*export_leaker.*--listen 127.0.0.1:$port") 2>/dev/null || true
set +e
wait $exporter; rc=$?
set -e
cat "$tmp/err"
if grep -q "stopping on Ctrl-C" "$tmp/err"; then
  [ $rc -eq 0 ] || fail "exit $rc after Ctrl-C"
else
  skip "Ctrl-C from outside: this wine did not deliver SIGINT as a console event (exit $rc)"
fi
wait $leaker || true
echo PASS
