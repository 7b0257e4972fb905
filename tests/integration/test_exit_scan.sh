#!/usr/bin/env bash
# test_exit_scan.sh - the exit-time reachability scan (exact mode) never crashes its host.
# A program that dlopens, leaks from and dlcloses a plugin runs 200 times at rate 1 and
# must exit 0 every time, writing its profile each time. The /proc/self/maps reader's
# buffer (an anonymous mapping, unmapped after each read) used to be reported merged with
# the main thread's TCB mapping next to it, so the scan of the static TLS started in pages
# that were gone: a SIGSEGV in about 4 runs in 100. test_maps_reader (unit) puts the buffer
# there on purpose. LW_TEST_AGENT=path runs it against another agent build.
. "$(dirname "$0")/lib.sh"
lw_test_begin exit-scan
AGENT=${LW_TEST_AGENT:-$AGENT}
RUNS=200

bad=() # "run N: status S"
missing=0
for i in $(seq "$RUNS"); do
  # LEAKWATCH_ROOT_PID=1: the process is not the root, so it writes exit.pb.gz.<pid>.
  timeout -s KILL 30 env LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_ROOT_PID=1 \
    LEAKWATCH_OUTPUT="$work/exit.pb.gz" "$FIX/dlopen_leak" "$FIX/libplugin_leak.so" \
    >run.out 2>run.err
  status=$?
  [ "$status" = 0 ] || bad+=("run $i: status $status ($(head -c 200 run.err))")
  profiles=(exit.pb.gz.*)
  [ -s "${profiles[0]}" ] || missing=$((missing + 1))
  [ "$i" = "$RUNS" ] || rm -f exit.pb.gz.*
done
check "$RUNS runs at rate 1 all exit 0 (${#bad[@]} did not: ${bad[*]:0:3})" \
  test "${#bad[@]}" = 0
check "... and each wrote its exit profile ($missing did not)" test "$missing" = 0
shows_plugin_leak() { "$LW" top "$1" >top.out 2>&1 && grep -q plugin_leak top.out; }
last=(exit.pb.gz.*)
check "... which the CLI reads, with the plugin's leak in it" shows_plugin_leak "${last[0]}"

lw_test_end
