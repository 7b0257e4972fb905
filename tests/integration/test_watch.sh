#!/usr/bin/env bash
# test_watch.sh - `leakwatch watch` end to end on real processes: CSV/JSONL contents and
# units, fd types, trends, alerts (print, --on-alert environment, exit status 3), a process
# exiting mid-watch, -- COMMAND, --name discovery, the live table on a pseudo-terminal,
# and one-line errors with no output file left behind for bad input.
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
GROWER="$LW_BUILD_DIR/tests/fixtures/grower"
tmp=$(mktemp -d /tmp/lw-watch-test.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$tmp"

start_grower() { # args for grower; sets $gpid
  "$GROWER" "$@" > grower.$$.out &
  gpid=$!
  pids+=("$gpid")
  for _ in $(seq 50); do grep -q ready grower.$$.out 2>/dev/null && return; sleep 0.05; done
  fail "grower did not start"
}

echo "== help and usage errors"
help=$("$LW" watch --help); grep -q -- '--interval DURATION' <<< "$help" || fail "--help lacks options"
set +e
out=$("$LW" watch 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"nothing to watch"* ]] || fail "no target: rc=$rc '$out'"
out=$("$LW" watch --interval 5parsecs 1 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"invalid duration '5parsecs' for --interval"* ]] || fail "bad unit: rc=$rc '$out'"
out=$("$LW" watch --alert 'rss > 5 lots' --csv bad.csv 1 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"--alert 'rss > 5 lots': column 9: expected 'for DURATION'"* ]] || fail "bad rule: rc=$rc '$out'"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "bad rule: more than one line: $out"
printf 'rss > 1GiB\n# fine\nrate(fds) > 5/fortnight\n' > bad.rules
out=$("$LW" watch --rules bad.rules 1 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"bad.rules:3:15: unknown time unit 'fortnight'"* ]] || fail "bad rules file: rc=$rc '$out'"
true & gone=$!; wait $gone
out=$("$LW" watch --csv never.csv --jsonl never.jsonl "$gone" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "leakwatch: pid $gone: no such process" ] || fail "unknown pid: rc=$rc '$out'"
[ ! -e never.csv ] && [ ! -e never.jsonl ] && [ ! -e bad.csv ] || fail "bad input left an output file"
out=$("$LW" watch -- /nonexistent/cmd 2>&1); rc=$?
[ $rc -eq 127 ] && [[ $out == *"/nonexistent/cmd: No such file or directory"* ]] || fail "missing command: rc=$rc '$out'"
out=$("$LW" watch --name '(' 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"--name '('"* ]] || fail "bad regex: rc=$rc '$out'"
set -e

echo "== a growing process: CSV, JSONL, fd types, trends, alerts, hooks"
start_grower --kib-per-tick 512 --tick-ms 100 --threads 2
set +e
"$LW" watch --interval 200ms --duration 3s --plain --csv s.csv --jsonl s.jsonl \
  --trend-window 10s --trend-min-span 1s --trend-min-r2 0.8 \
  --alert 'rss > 4MiB for 1s' --alert 'FdLeak: rate(fds) > 60/min' --alert 'threads > 100' \
  --on-alert 'env | grep ^LEAKWATCH_ | sort > hook.$LEAKWATCH_ALERT.$LEAKWATCH_ALERT_STATE' \
  "$gpid" > watch.out 2> watch.err
rc=$?
set -e
[ $rc -eq 3 ] || { cat watch.out watch.err; fail "alerts fired but exit status was $rc"; }
[ ! -s watch.err ] || fail "unexpected stderr: $(cat watch.err)"
grep -q "^ALERT RssHigh firing: pid $gpid (grower): rss > 4MiB for 1s (rss = " watch.out || fail "no RssHigh line"
grep -q "^ALERT FdLeak firing: pid $gpid (grower): FdLeak: rate(fds) > 60/min (rate(fds) = " watch.out || fail "no FdLeak line"
! grep -q ThreadsHigh watch.out || fail "ThreadsHigh fired with 3 threads"
grep -Eq "^pid $gpid \(grower\): rss growing [0-9.]+ [KMG]iB/h \(R²=[01]\.[0-9]+\) over [0-9]+ s$" watch.out || { cat watch.out; fail "no rss trend line"; }
grep -Eq "^pid $gpid \(grower\): fds growing " watch.out || fail "no fds trend line"
grep -Eq "^summary: pid $gpid \(grower\): rss growing" watch.out || fail "no summary"
for f in hook.RssHigh.firing hook.FdLeak.firing; do [ -s $f ] || fail "$f missing"; done
grep -qx "LEAKWATCH_PID=$gpid" hook.RssHigh.firing || fail "hook: LEAKWATCH_PID"
grep -qx "LEAKWATCH_COMM=grower" hook.RssHigh.firing || fail "hook: LEAKWATCH_COMM"
grep -qx "LEAKWATCH_ALERT_RULE=rss > 4MiB for 1s" hook.RssHigh.firing || fail "hook: RULE"
grep -qx "LEAKWATCH_ALERT_THRESHOLD=4194304" hook.RssHigh.firing || fail "hook: THRESHOLD"
grep -qx "LEAKWATCH_ALERT_STATE=firing" hook.RssHigh.firing || fail "hook: STATE"
grep -Eqx "LEAKWATCH_ALERT_VALUE=[0-9]+" hook.RssHigh.firing || fail "hook: VALUE"

# CSV: '#' comments documenting units, one header, then rows; names end with their unit.
grep -q '^# rss_bytes: resident set size (status VmRSS), bytes$' s.csv || fail "CSV unit comment"
grep -q '^# cpu_percent: ' s.csv || fail "CSV cpu comment"
header=$(grep -v '^#' s.csv | head -1)
[[ $header == time_unix,pid,comm,rss_bytes,pss_bytes,uss_bytes,swap_bytes,vsize_bytes,data_bytes,peak_rss_bytes,fds,fds_file,fds_socket,fds_pipe,* ]] || fail "CSV header: $header"
for col in threads cpu_percent read_bytes_per_second write_bytes_per_second minor_faults_per_second \
           major_faults_per_second cgroup_memory_current_bytes cgroup_memory_max_bytes cgroup_oom_kills; do
  [[ ,$header, == *,$col,* ]] || fail "CSV lacks $col"
done
rows=$(grep -vc '^#' s.csv); rows=$((rows - 1))
[ $rows -ge 12 ] && [ $rows -le 17 ] || fail "CSV has $rows rows for 3 s at 200 ms"
col() { echo "$header" | tr , '\n' | grep -nx "$1" | cut -d: -f1; }
first_rss=$(grep -v '^#' s.csv | sed -n 2p | cut -d, -f"$(col rss_bytes)")
last_rss=$(grep -v '^#' s.csv | tail -1 | cut -d, -f"$(col rss_bytes)")
[ "$last_rss" -gt $((first_rss + 8 * 1048576)) ] || fail "rss did not grow in the CSV: $first_rss -> $last_rss"
last=$(grep -v '^#' s.csv | tail -1)
for t in socket:2 eventfd:1 timerfd:1 epoll:1 signalfd:1 inotify:1; do
  v=$(echo "$last" | cut -d, -f"$(col fds_${t%%:*})")
  [ "$v" -ge "${t##*:}" ] || fail "fds_${t%%:*} = $v"
done
[ "$(echo "$last" | cut -d, -f"$(col threads)")" = 3 ] || fail "threads"
[ "$(echo "$last" | cut -d, -f"$(col fds_device)")" -ge 20 ] || fail "leaked /dev/null descriptors not counted"
# The first row has no rates yet (empty cells); later rows do.
[ -z "$(grep -v '^#' s.csv | sed -n 2p | cut -d, -f"$(col cpu_percent)")" ] || fail "first row has a rate"
[ -n "$(echo "$last" | cut -d, -f"$(col minor_faults_per_second)")" ] || fail "no fault rate"

# JSONL: same keys as the CSV header, in order, numbers or null.
[ "$(wc -l < s.jsonl)" -eq $rows ] || fail "JSONL rows differ from CSV"
keys=$(head -1 s.jsonl | jq -r 'keys_unsorted | join(",")')
[ "$keys" = "$header" ] || fail "JSONL keys differ from CSV header: $keys"
jq -e 'select(.pid != '"$gpid"' or (.rss_bytes|type) != "number")' s.jsonl > /dev/null && fail "JSONL row not for pid or rss not a number"
[ "$(jq -s 'map(.rss_bytes) | (last > first)' s.jsonl)" = true ] || fail "JSONL rss did not grow"
kill "$gpid"

echo "== a process that exits mid-watch; the others go on"
sleep 0.6 & short=$!; pids+=("$short")
sleep 30 & long=$!; pids+=("$long")
"$LW" watch --interval 200ms --duration 1500ms --plain "$short" "$long" > exit.out
grep -Eq "^pid $short \(sleep\) exited after [0-9]+ s$" exit.out || { cat exit.out; fail "exit not reported"; }
after=$(sed -n "/pid $short (sleep) exited/,\$p" exit.out | grep -c "pid $long (sleep) rss=") || true
[ "$after" -ge 2 ] || fail "the other process was not watched after the exit"

echo "== -- COMMAND, --json events"
out=$("$LW" watch --interval 100ms --json -- sh -c 'sleep 0.5; exit 7')
echo "$out" | jq -e 'select(.event == "exit") | .exit_status == 7' > /dev/null || fail "exit status 7 not reported: $out"
[ "$(echo "$out" | jq -s 'map(select(.rss_bytes != null)) | length')" -ge 3 ] || fail "--json samples"

echo "== --name finds processes, also ones started later"
cp "$(command -v sleep)" ./lwnametest
./lwnametest 30 & n1=$!; pids+=("$n1")
( sleep 0.5; exec ./lwnametest 30 ) & n2=$!; pids+=("$n2")
"$LW" watch --name '^lwnametest$' --interval 200ms --duration 1500ms --plain > name.out
grep -q "pid $n1 (lwnametest) rss=" name.out || { cat name.out; fail "--name missed $n1"; }
grep -q "^watching pid $n2 (lwnametest)" name.out || { cat name.out; fail "--name missed the later $n2"; }
grep -q "pid $n2 (lwnametest) rss=" name.out || fail "--name did not sample $n2"
! grep -q "(leakwatch)" name.out || fail "--name watched leakwatch itself"

echo "== live table on a terminal"
script -qec "$LW watch --interval 100ms --count 2 $long" /dev/null > tty.out
grep -q $'\033\\[H\033\\[2J' tty.out || fail "no screen redraw on a terminal"
grep -Eq "PID COMM +RSS +PSS +USS +SWAP +VSIZE +DATA +PEAK +FDS +THR" tty.out || fail "no table header"
grep -Eq "^ *$long sleep " tty.out || fail "no table row"
echo "PASS"
