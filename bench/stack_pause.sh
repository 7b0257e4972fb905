#!/usr/bin/env bash
# stack_pause.sh - how long `leakwatch stack PID` stops the threads it reads (issue 14),
# at 10, 100 and 1,000 threads [aim: under 20 ms at 100 threads].
#
# The target is bench_stack_threads N: N threads waking on a period and measuring how late
# they woke. For each N, RUNS calls of `leakwatch stack PID --json` give, per call:
#   held      the longest any one thread was held stopped after it reached its stop
#             (GETREGS, a 32 KiB stack copy, PTRACE_DETACH): the pause itself
#   to-resume the longest from PTRACE_INTERRUPT to the resume: adds the time the thread took
#             to reach its stop and this command took to see it (an upper bound)
#   capture   from the first thread's stop to the last one's resume: the window in which
#             some thread is stopped (one thread at a time)
#   command   the whole `leakwatch stack` call, unwinding and symbolizing included; the
#             program runs freely during everything after the capture
# and the program's own view: the latest wake-up of any thread during the calls, against
# the same measure over the same time without them. Medians of RUNS calls.
#   bench/stack_pause.sh [RUNS]     (default 7; LW_BUILD_DIR picks the build, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
LW=$PWD/$BUILD/bin/leakwatch
TARGET=$PWD/$BUILD/bench/bench_stack_threads
RUNS=${1:-7}
for f in "$LW" "$TARGET"; do
  [ -x "$f" ] || { echo "stack_pause.sh: $f is missing: build first (cmake --build $BUILD)" >&2; exit 1; }
done
scratch=$(mktemp -d /tmp/lw-stack-bench-XXXXXX)
target=""
cleanup() {
  [ -z "$target" ] || kill "$target" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# Asks the target for its figures (after "reset" it starts over).
ask() { # COMMAND -> the target's answer line, in $answer
  local before
  before=$(grep -c wakeups= "$scratch/target.out" || true)
  echo "$1" >&3
  [ "$1" = reset ] && return 0
  for _ in $(seq 200); do
    [ "$(grep -c wakeups= "$scratch/target.out")" -gt "$before" ] && break
    sleep 0.05
  done
  answer=$(grep wakeups= "$scratch/target.out" | tail -1)
}
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

echo "# leakwatch stack: thread pauses ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))"
echo
echo "Command: \`bench/stack_pause.sh $RUNS\`; medians of $RUNS calls, microseconds unless said."
echo
echo "| threads | held (longest thread) | held (mean) | to-resume (longest) | capture | command | latest wake-up, without / during calls |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in 10 100 1000; do
  rm -f "$scratch/in"
  mkfifo "$scratch/in"
  exec 3<>"$scratch/in"
  "$TARGET" "$n" <"$scratch/in" >"$scratch/target.out" 3>&- &
  target=$!
  for _ in $(seq 200); do grep -q ready "$scratch/target.out" 2>/dev/null && break; sleep 0.05; done
  sleep 1
  # the program's view without inspection, over about as long as the calls take
  ask reset
  sleep $((RUNS / 2 + 1))
  ask report
  quiet_late=$(field late_max_us "$answer")
  ask reset
  : >"$scratch/held" ; : >"$scratch/mean" ; : >"$scratch/resume"
  : >"$scratch/capture" ; : >"$scratch/command"
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    "$LW" stack "$target" --json >"$scratch/run.json"
    echo $((($(date +%s%N) - t0) / 1000)) >>"$scratch/command"
    jq .capture.pause_max_us "$scratch/run.json" >>"$scratch/held"
    jq .capture.pause_mean_us "$scratch/run.json" >>"$scratch/mean"
    jq .capture.interrupt_to_resume_max_us "$scratch/run.json" >>"$scratch/resume"
    jq .capture.capture_us "$scratch/run.json" >>"$scratch/capture"
    stopped=$(jq .capture.paused "$scratch/run.json")
    [ "$stopped" -ge "$n" ] || echo "warning: only $stopped of $((n + 1)) threads stopped" >&2
    sleep 0.5
  done
  ask report
  busy_late=$(field late_max_us "$answer")
  printf '| %d | %s | %s | %s | %s | %s ms | %s / %s |\n' "$n" \
    "$(median <"$scratch/held")" "$(median <"$scratch/mean")" "$(median <"$scratch/resume")" \
    "$(median <"$scratch/capture")" "$(($(median <"$scratch/command" | cut -d. -f1) / 1000))" \
    "$quiet_late" "$busy_late"
  exec 3>&-
  wait "$target" 2>/dev/null || true
  target=""
done
