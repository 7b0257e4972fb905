#!/usr/bin/env bash
# leaks.sh - the cost of what leak verdicts need (issue 6), each against its baseline in one
# go, runs interleaved, medians reported (the machines are noisy: compare differences).
#
#   bench/leaks.sh [--quick]        (from the repository root, after a build)
#
# 1. Site history (and the descriptor and thread counts it takes with it): CPU of the
#    agent's thread over a run of bench_live_profile (an allocating thread kept busy, 10,000
#    call stacks, 100,000 live allocations), with history off, at the default interval
#    (10 s) and at 1 s, at the default rate and in exact mode (every stack a site: the
#    worst case, 1024 sites tracked). Reported as a share of the process's CPU.
#                                                              [<= 1% at the default rate]
# 2. Descriptor tracking: ns per create/close pair (eventfd + close at stack depth 8), no
#    agent vs agent with tracking off vs LEAKWATCH_TRACK_FDS=1; and the instructions
#    tracking adds per pair (callgrind, marginal between two run lengths).   [<= 100 ns]
# Prints a markdown report on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
AGENT=$PWD/$BUILD/lib/libleakwatch.so
BENCH=$PWD/$BUILD/bench
seconds=20
reps=3
fd_reps=9
fd_pairs=500000
if [ "${1:-}" = "--quick" ]; then seconds=8; reps=1; fd_reps=5; fd_pairs=200000; fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,16p' "$0"; exit 0; fi
for f in "$AGENT" "$BENCH/bench_live_profile" "$BENCH/bench_fd_churn"; do
  [ -e "$f" ] || { echo "leaks.sh: $f is missing; build first (scripts/setup.sh)" >&2; exit 1; }
done
command -v valgrind >/dev/null || { echo "leaks.sh: valgrind is not installed" >&2; exit 1; }
scratch=$(mktemp -d /tmp/lw-leaks-bench-XXXXXX)
export XDG_RUNTIME_DIR=$scratch/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
trap 'rm -rf "$scratch"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# CPU ns of the agent's thread ("leakwatch") and of the whole process, read just before it
# ends. schedstat's first field is the time on CPU in ns.
cpu_run() { # RATE INTERVAL -> "agent_ns process_ns"
  local out=$scratch/run.out
  LD_PRELOAD=$AGENT LEAKWATCH_RATE=$1 LEAKWATCH_HISTORY_INTERVAL=$2 \
    "$BENCH/bench_live_profile" "$seconds" >"$out" &
  local pid=$!
  for _ in $(seq 400); do grep -q ready "$out" 2>/dev/null && break; sleep 0.05; done
  sleep $((seconds - 1))
  local agent=0 total=0 ns
  for task in /proc/$pid/task/*; do
    ns=$(cut -d' ' -f1 "$task/schedstat" 2>/dev/null || echo 0)
    total=$((total + ns))
    [ "$(cat "$task/comm" 2>/dev/null)" = leakwatch ] && agent=$((agent + ns))
  done
  wait "$pid"
  echo "$agent $total"
}

echo "# leak verdict benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo "Command: \`bench/leaks.sh$( [ $# -gt 0 ] && printf ' %s' "$@")\`"
echo
echo "## 1. Site history: CPU of the agent's thread over a ${seconds} s run"
echo
echo "| rate | history | agent thread CPU (median) | added vs off | share of the process's CPU |"
echo "|---|---|---|---|---|"
for rate in 512k 1; do
  for interval in 0 10s 1s; do : >"$scratch/h.$rate.$interval"; done
  for ((i = 0; i < reps; i++)); do
    for interval in 0 10s 1s; do cpu_run "$rate" "$interval" >>"$scratch/h.$rate.$interval"; done
  done
  off=$(awk '{print $1}' "$scratch/h.$rate.0" | median)
  for interval in 0 10s 1s; do
    agent=$(awk '{print $1}' "$scratch/h.$rate.$interval" | median)
    total=$(awk '{print $2}' "$scratch/h.$rate.$interval" | median)
    label=$([ "$interval" = 0 ] && echo off || echo "every $interval")
    [ "$rate" = 1 ] && shown="1 (exact)" || shown="$rate (default)"
    echo "| $shown | $label | $(awk "BEGIN{printf \"%.1f ms\", $agent/1e6}") | $(awk "BEGIN{printf \"%+.1f ms\", ($agent-$off)/1e6}") | $(awk "BEGIN{printf \"%.3f%%\", 100*($agent-$off)/$total}") |"
  done
done
echo
echo "The agent's thread also serves the control socket; \"off\" is that baseline. History is"
echo "taken on that thread only: the allocating threads do no extra work for it."
echo

echo "## 2. Descriptor tracking: eventfd + close pairs"
echo
for mode in base off on; do : >"$scratch/fd.$mode"; done
for ((i = 0; i < fd_reps; i++)); do
  "$BENCH/bench_fd_churn" --pairs "$fd_pairs" | field ns_per_pair >>"$scratch/fd.base"
  LD_PRELOAD=$AGENT "$BENCH/bench_fd_churn" --pairs "$fd_pairs" | field ns_per_pair >>"$scratch/fd.off"
  LD_PRELOAD=$AGENT LEAKWATCH_TRACK_FDS=1 "$BENCH/bench_fd_churn" --pairs "$fd_pairs" |
    field ns_per_pair >>"$scratch/fd.on"
done
b=$(median <"$scratch/fd.base"); o=$(median <"$scratch/fd.off"); t=$(median <"$scratch/fd.on")
count() { # TRACK PAIRS -> instructions
  LD_PRELOAD=$AGENT LEAKWATCH_TRACK_FDS=$1 valgrind --tool=callgrind \
    --callgrind-out-file="$scratch/cg.$1.$2" "$BENCH/bench_fd_churn" --pairs "$2" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$scratch/cg.$1.$2"
}
off1=$(count 0 100000); off2=$(count 0 200000); on1=$(count 1 100000); on2=$(count 1 200000)
added=$(awk "BEGIN{printf \"%.0f\", (($on2-$on1)-($off2-$off1))/100000}")
echo "| no agent | agent, tracking off | LEAKWATCH_TRACK_FDS=1 | added by tracking | instructions added (callgrind) |"
echo "|---|---|---|---|---|"
echo "| $b ns | $o ns | $t ns | $(awk "BEGIN{printf \"%+.0f ns\", $t-$o}") | $added |"
echo
echo "Medians of $fd_reps interleaved runs of $fd_pairs pairs. The pair is two system calls"
echo "(about a microsecond, most of it in the kernel), so the difference is noisy; the"
echo "instruction count is exact."
