#!/usr/bin/env bash
# test_handle_leaks.sh - descriptors and threads (issue 6, "Handles and threads"), with the
# handle_leaks fixture whose truth is known: 3 sockets, 4 pipe fds (2 call sites), 5
# eventfds left open and 2 threads blocked forever, amid work that cleans up after itself.
#   - `leakwatch run --fds`: the exit report's fd and thread sections, exact counts and
#     stacks; the fd and threadcreate profiles beside the heap profile, read by go tool pprof;
#     the fixed variant reports nothing and leaves no such files;
#   - the live process: `leakwatch fds|threads PID`, /debug/pprof/fd and /threadcreate,
#     /metrics (promtool), stats; clear refusals when descriptors are not tracked;
#   - growth verdicts: a socket and a thread leaked every (scaled) 10 s are suspects at
#     their stacks, a pool of pipes that fills up and the fixed variant are not.
. "$(dirname "$0")/lib.sh"
lw_test_begin handles

# The growth runs take half a minute: start them first, check them last. Time is scaled 10x
# (a leak every second, history every second, 18 s of history for a verdict).
LD_PRELOAD="$AGENT" LEAKWATCH_TRACK_FDS=1 LEAKWATCH_HISTORY_INTERVAL=1s \
  "$FIX/handle_leaks" --grow 60 --scale 10 >grow.out 2>grow.err &
grower=$!
pids+=("$grower")
"$LW" run --fds --leaks --json --history-interval 1s --min-window 18s -o grow-fixed.pb.gz -- \
  "$FIX/handle_leaks" --grow 30 --scale 10 --fixed >/dev/null 2>grow-fixed.json &
fixed_run=$!
pids+=("$fixed_run")
started=$(date +%s)

# --- the exit report ------------------------------------------------------------------------
"$LW" run --fds -o leak.pb.gz -- "$FIX/handle_leaks" >leak.out 2>leak.txt
check "run --fds exits with the program's status" test $? -eq 0
check "text: totals by type" \
  grep -q "12 file descriptors still open at exit (5 eventfd, 3 socket, 4 pipe)" leak.txt
check "text: eventfds at leak_eventfds" grep -q "5 eventfd fds opened at leak_eventfds handle_leaks.c" leak.txt
check "text: sockets at leak_sockets" grep -q "3 socket fds opened at leak_sockets handle_leaks.c" leak.txt
check "text: pipes at leak_pipes (pipe and pipe2)" \
  test "$(grep -c "2 pipe fds opened at leak_pipes handle_leaks.c" leak.txt)" = 2
check "text: 2 threads still running" grep -q "2 threads still running at exit" leak.txt
check "text: threads started at start_stuck_threads" \
  grep -q "2 threads started at start_stuck_threads handle_leaks.c" leak.txt
check "text: nothing from the tidy work" bash -c "! grep -q tidy_work leak.txt"
check "fd profile written beside the heap profile" test -s leak.fds.pb.gz
check "threadcreate profile written beside it" test -s leak.threads.pb.gz

"$LW" run --fds --json -o leakj.pb.gz -- "$FIX/handle_leaks" >/dev/null 2>leak.json
check "json: valid, one object" quiet jq -e 'type == "object"' leak.json
check "json: fd total and types" \
  quiet jq -e '.fds_open_at_exit | .total == 12 and .by_type.socket == 3 and .by_type.pipe == 4 and .by_type.eventfd == 5' leak.json
check "json: socket site" \
  quiet jq -e '[.fds_open_at_exit.sites[] | select(.type == "socket")][0] | .count == 3 and (.site | startswith("leak_sockets"))' leak.json
check "json: thread site" \
  quiet jq -e '.threads_running_at_exit | .total == 2 and .sites[0].count == 2 and (.sites[0].site | startswith("start_stuck_threads"))' leak.json
check "json: heap report still there" quiet jq -e '.still_allocated_at_exit.sites | type == "array"' leak.json

go tool pprof -raw leak.fds.pb.gz >fds.raw 2>fds.err
check "go tool pprof reads the fd profile" grep -q "^fds/count" fds.raw
go tool pprof -top -tagfocus=type=socket leak.fds.pb.gz >fds.top 2>&1
check "pprof -tagfocus=type=socket keeps the 3 sockets" grep -Eq "^ +3 +25.00% .*leak_sockets" fds.top
go tool pprof -top leak.threads.pb.gz >threads.top 2>&1
check "pprof reads the threadcreate profile (2 at start_stuck_threads)" \
  grep -Eq "^ +2 +100% .*start_stuck_threads" threads.top

"$LW" run --fds -o fixed.pb.gz -- "$FIX/handle_leaks" --fixed >/dev/null 2>fixed.txt
check "fixed: no descriptors reported" \
  grep -q "no file descriptors the program opened are still open at exit" fixed.txt
check "fixed: no thread section" bash -c "! grep -q 'threads still running' fixed.txt"
check "fixed: no fd profile left" test ! -e fixed.fds.pb.gz
check "fixed: no threadcreate profile left" test ! -e fixed.threads.pb.gz
"$LW" run --fds --json -o fixedj.pb.gz -- "$FIX/handle_leaks" --fixed >/dev/null 2>fixed.json
check "fixed json: zero totals" \
  quiet jq -e '.fds_open_at_exit.total == 0 and .threads_running_at_exit.total == 0' fixed.json

"$LW" run -o nofds.pb.gz -- "$FIX/handle_leaks" >/dev/null 2>nofds.txt
check "without --fds: no fd section, threads still reported" \
  bash -c "! grep -q 'file descriptors' nofds.txt && grep -q '2 threads still running' nofds.txt"

# --- the live process -----------------------------------------------------------------------
LD_PRELOAD="$AGENT" LEAKWATCH_TRACK_FDS=1 LEAKWATCH_HTTP=127.0.0.1:0 \
  "$FIX/handle_leaks" --serve 60 >live.out 2>live.err &
live=$!
pids+=("$live")
lw_wait_http live.err live.out
check "live fixture ready with an endpoint" test -n "$addr"
"$LW" fds "$live" --json -o live-fds.pb.gz >live-fds.json 2>live-fds.err
check "leakwatch fds PID --json: 12 by type" \
  quiet jq -e '.total == 12 and .by_type.socket == 3 and .by_type.eventfd == 5' live-fds.json
check "leakwatch fds PID writes a profile" test -s live-fds.pb.gz
"$LW" fds "$live" -o live-fds2.pb.gz 2>live-fds.txt
check "leakwatch fds PID text names the socket site" \
  grep -q "12 file descriptors still open now in pid $live" live-fds.txt
"$LW" threads "$live" --json -o live-threads.pb.gz >live-threads.json 2>/dev/null
check "leakwatch threads PID --json: 2 at start_stuck_threads" \
  quiet jq -e '.total == 2 and (.sites[0].site | startswith("start_stuck_threads"))' live-threads.json
curl -s "http://$addr/debug/pprof/fd?debug=1" >fd.txt
check "/debug/pprof/fd?debug=1: Go's count-profile text" grep -q "^fd profile: total 12$" fd.txt
check "/debug/pprof/fd?debug=1: lines are 'N @ pc...'" grep -Eq "^5 @( 0x[0-9a-f]+)+$" fd.txt
curl -s "http://$addr/debug/pprof/threadcreate?debug=1" >tc.txt
check "/debug/pprof/threadcreate?debug=1: total 2" grep -q "^threadcreate profile: total 2$" tc.txt
check "go tool pprof over HTTP reads /debug/pprof/fd" \
  quiet go tool pprof -raw "http://$addr/debug/pprof/fd"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/debug/pprof/fd?seconds=5")
check "/debug/pprof/fd?seconds=5 refused with 400 (got $code)" test "$code" = 400
curl -s "http://$addr/metrics" >metrics.txt
check "/metrics: leakwatch_fds_tracked 12" grep -q "^leakwatch_fds_tracked 12$" metrics.txt
check "/metrics: leakwatch_threads_live counts the 2 stuck threads and main" \
  grep -Eq "^leakwatch_threads_live [3-9]$" metrics.txt
check "promtool accepts /metrics" quiet promtool check metrics <metrics.txt
"$LW" stats "$live" --json >stats.json 2>/dev/null
check "stats --json: fds_live 12" quiet jq -e '.stats.fds_live == 12 and .stats.threads_live >= 3' stats.json

LD_PRELOAD="$AGENT" LEAKWATCH_HTTP=127.0.0.1:0 "$FIX/handle_leaks" --serve 60 >untracked.out \
  2>untracked.err &
untracked=$!
pids+=("$untracked")
lw_wait_http untracked.err untracked.out
uaddr=$addr
"$LW" fds "$untracked" >/dev/null 2>untracked-fds.txt
rc=$?
check "fds without tracking: non-zero exit (got $rc)" test "$rc" -ne 0
check "fds without tracking: one line saying how to turn it on" \
  bash -c "test \$(wc -l <untracked-fds.txt) = 1 && grep -q 'LEAKWATCH_TRACK_FDS=1' untracked-fds.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$uaddr/debug/pprof/fd")
check "/debug/pprof/fd without tracking: 404 (got $code)" test "$code" = 404
"$LW" threads "$untracked" --json >untracked-threads.json 2>/dev/null
check "threads are tracked without LEAKWATCH_TRACK_FDS" quiet jq -e '.total == 2' untracked-threads.json
kill "$live" "$untracked" 2>/dev/null

# --- growth verdicts ------------------------------------------------------------------------
while [ $(($(date +%s) - started)) -lt 35 ]; do sleep 0.5; done
"$LW" leaks "$grower" --json --all --min-window 18s >grow.json 2>grow-leaks.err
check "leaks --json is valid" quiet jq -e . grow.json
check "the leaked sockets are a descriptor suspect at grow_sockets" \
  quiet jq -e '[.suspects[] | select(.kind == "fds" and .suspect)] | length == 1 and (.[0].site | startswith("grow_sockets")) and .[0].type == "socket"' grow.json
check "... at about 6 per scaled minute (60 per real minute)" \
  quiet jq -e '[.suspects[] | select(.kind == "fds" and .suspect)][0] | .per_minute > 40 and .per_minute < 80' grow.json
check "the leaked threads are a thread suspect at grow_threads" \
  quiet jq -e '[.suspects[] | select(.kind == "threads" and .suspect)] | length == 1 and (.[0].site | startswith("grow_threads"))' grow.json
check "the pipe pool that filled up is judged and not a suspect" \
  quiet jq -e '[.suspects[] | select(.kind == "fds" and (.site | startswith("pool_pipes")))] | length == 1 and (.[0].suspect | not)' grow.json
check "no heap suspect" quiet jq -e '[.suspects[] | select(.kind == "heap" and .suspect)] | length == 0' grow.json
"$LW" leaks "$grower" --min-window 18s >grow.txt 2>&1
check "text: descriptor section names the site" \
  grep -q "LEAK SUSPECT (.* confidence), .* fds/min at grow_sockets" grow.txt
check "text: thread section names the site" \
  grep -q "LEAK SUSPECT (.* confidence), .* threads/min at grow_threads" grow.txt
kill "$grower" 2>/dev/null

wait "$fixed_run"
check "fixed growth run: exit 0" test $? -eq 0
check "fixed growth run: no suspect of any kind" \
  quiet jq -e '[.grew_during_the_run.suspects[] | select(.suspect)] | length == 0' grow-fixed.json
check "fixed growth run: enough history was judged" quiet jq -e '.grew_during_the_run.enough_history' grow-fixed.json
check "fixed growth run: the pool is tracked as a descriptor site" \
  quiet jq -e '.grew_during_the_run.descriptor_sites_tracked >= 1' grow-fixed.json
check "fixed growth run: the pool is what stays open at exit (16 pipe fds)" \
  quiet jq -e '.fds_open_at_exit.total == 16 and .fds_open_at_exit.by_type.pipe == 16' grow-fixed.json

lw_test_end
