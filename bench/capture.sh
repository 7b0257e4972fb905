#!/usr/bin/env bash
# capture.sh - the capture core's benchmarks, each run against its baseline in one go, with
# runs interleaved and medians reported (the machines are noisy: compare ratios).
#
#   bench/capture.sh [--reps N] [--churn-reps N] [--quick] [--before=AGENT.so]
#                                         (from the repository root, after a build)
#
# --before=PATH adds a second agent (the build of an earlier commit, e.g. from a
# `git worktree`) to the churn, instruction and exact-mode runs, interleaved with the
# others, so a change's cost is measured before and after in one run.
#
# Measures (issue 2's targets in brackets):
#   1. default rate, malloc/free churn of 16-256 B, 1 and 2 threads: time vs no agent and
#      vs heaptrack               [required <= 1.10x no agent, target <= 1.05x]
#   2. callgrind instructions added per malloc+free pair (marginal, from two run lengths)
#                                 [required <= 28, target <= 10]
#   3. exact mode (--rate 1) at stack depth 10, binary without frame pointers: vs heaptrack
#      and vs no agent           [required >= 3x faster than heaptrack, target <= 5x no agent]
#   4. the cost of one sampled allocation (unwind + record + its free), from 3
#   5. agent memory at the default rate with 1M live allocations  [<= 16 MiB]
# Prints a markdown report on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
AGENT=$PWD/$BUILD/lib/libleakwatch.so
BENCH=$PWD/$BUILD/bench
reps=9
# The churn runs are short and many: this VM's speed drifts by 10-15% from one run to the
# next, so a median of 31 back-to-back pairs (0.2 s each) estimates a ratio of ~1.05 to
# within about 2%, where 9 runs of 0.7 s each left 5-8% either side.
churn_reps=31
churn_pairs=5000000
deep_pairs=2000000
for arg in "$@"; do
  case "$arg" in
    --reps=*) reps=${arg#--reps=} ;;
    --churn-reps=*) churn_reps=${arg#--churn-reps=} ;;
    --quick) reps=3; churn_reps=9; churn_pairs=2000000; deep_pairs=500000 ;;
    --before=*) BEFORE=$(realpath "${arg#--before=}") ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "capture.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
BEFORE=${BEFORE:-}
[ -z "$BEFORE" ] || [ -r "$BEFORE" ] || { echo "capture.sh: cannot read --before agent '$BEFORE'" >&2; exit 2; }
for f in "$AGENT" "$BENCH/bench_churn" "$BENCH/bench_deep_alloc" "$BENCH/bench_live"; do
  [ -e "$f" ] || { echo "capture.sh: $f is missing; build first (scripts/setup.sh)" >&2; exit 1; }
done
command -v heaptrack >/dev/null || { echo "capture.sh: heaptrack is not installed" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "capture.sh: valgrind is not installed" >&2; exit 1; }
scratch=$(mktemp -d /tmp/lw-bench-XXXXXX)
trap 'rm -rf "$scratch"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
quartiles() { # "Q1-Q3" of the numbers on stdin, formatted with FORMAT
  sort -g | awk -v f="$1" '{v[NR]=$1} END {printf f "-" f "\n", v[int((NR+3)/4)], v[int((3*NR+3)/4)]}'
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
# The median of per-repetition ratios A/B: runs of one repetition are back to back, so
# the ratio of each pair cancels the machine's slower and faster minutes, which a ratio of
# medians taken over the whole bench does not.
pair_ratios() { # FILE_A FILE_B: one ratio A/B per repetition
  paste "$scratch/$1" "$scratch/$2" | awk '{print $1 / $2}'
}
paired_ratio() { # FILE_A FILE_B FORMAT
  printf "$3\n" "$(pair_ratios "$1" "$2" | median)"
}
paired_quartiles() { # FILE_A FILE_B FORMAT
  pair_ratios "$1" "$2" | quartiles "$3"
}

# Runs "$@" under a mode: base, agent (default rate), exact (rate 1), heaptrack.
run_mode() {
  local mode=$1; shift
  case "$mode" in
    base) "$@" ;;
    agent) LD_PRELOAD=$AGENT "$@" ;;
    exact) LD_PRELOAD=$AGENT LEAKWATCH_RATE=1 "$@" ;;
    before) LD_PRELOAD=$BEFORE "$@" ;;
    exact_before) LD_PRELOAD=$BEFORE LEAKWATCH_RATE=1 "$@" ;;
    heaptrack) (cd "$scratch" && heaptrack -o "$scratch/ht" "$@" 2>/dev/null | grep -v -e '^heaptrack' -e 'Heaptrack' -e '^  heaptrack' -e '^$'; rm -f "$scratch"/ht*) ;;
  esac
}

echo "# capture benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores, reps=$reps)"
echo
echo "Command: \`bench/capture.sh$( [ $# -gt 0 ] && printf ' %s' "$@")\`"
echo

# 1. churn
echo "## 1. Default rate, malloc/free churn of 16-256 B objects"
echo
echo "$churn_reps pairs of runs of $churn_pairs malloc+free pairs per thread, without and with the"
echo "agent back to back, in alternating order; heaptrack $reps runs of a tenth as many pairs."
echo
echo "| threads | no agent ns/pair | agent ns/pair | agent/no agent | paired ratio (quartiles) | heaptrack ns/pair | heaptrack/no agent |"
echo "|---|---|---|---|---|---|---|"
churn() { # MODE PAIRS, with $threads threads
  run_mode "$1" "$BENCH/bench_churn" --threads "$threads" --pairs "$2" | field ns_per_pair >>"$scratch/churn.$1"
}
before_rows=()
for threads in 1 2; do
  for mode in base agent heaptrack; do : >"$scratch/churn.$mode"; done
  : >"$scratch/churn.before"
  for ((i = 0; i < churn_reps; i++)); do
    if ((i % 2)); then churn agent "$churn_pairs"; churn base "$churn_pairs"
    else churn base "$churn_pairs"; churn agent "$churn_pairs"; fi
    [ -z "$BEFORE" ] || churn before "$churn_pairs"
  done
  for ((i = 0; i < reps; i++)); do churn heaptrack $((churn_pairs / 10)); done # ns/pair is per pair
  b=$(median <"$scratch/churn.base"); a=$(median <"$scratch/churn.agent"); h=$(median <"$scratch/churn.heaptrack")
  echo "| $threads | $b | $a | $(awk "BEGIN{printf \"%.3f\", $a/$b}") | $(paired_ratio churn.agent churn.base %.3f) ($(paired_quartiles churn.agent churn.base %.3f)) | $h | $(awk "BEGIN{printf \"%.1f\", $h/$b}") |"
  if [ -n "$BEFORE" ]; then
    f=$(median <"$scratch/churn.before")
    before_rows+=("| $threads | $f | $a | $(paired_ratio churn.before churn.base %.3f) ($(paired_quartiles churn.before churn.base %.3f)) | $(paired_ratio churn.agent churn.base %.3f) | $(paired_ratio churn.agent churn.before %.3f) ($(paired_quartiles churn.agent churn.before %.3f)) |")
  fi
done
echo
if [ -n "$BEFORE" ]; then
  echo "Before and after, same runs (before: \`$BEFORE\`):"
  echo
  echo "| threads | before ns/pair | after ns/pair | before/no agent (paired; quartiles) | after/no agent (paired) | after/before (paired; quartiles) |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${before_rows[@]}"
  echo
fi

# 2. instructions
echo "## 2. Instructions added per malloc+free pair (callgrind, marginal)"
echo
count() { # mode pairs -> total instructions
  local out=$scratch/cg.$1.$2
  run_mode "$1" valgrind --tool=callgrind --callgrind-out-file="$out" "$BENCH/bench_churn" --pairs "$2" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
b1=$(count base 1000000); b2=$(count base 2000000); a1=$(count agent 1000000); a2=$(count agent 2000000)
echo "| | instructions per pair |"
echo "|---|---|"
echo "| no agent (marginal) | $(awk "BEGIN{printf \"%.2f\", ($b2-$b1)/1e6}") |"
echo "| agent (marginal) | $(awk "BEGIN{printf \"%.2f\", ($a2-$a1)/1e6}") |"
echo "| **added by the agent** | **$(awk "BEGIN{printf \"%.2f\", (($a2-$a1)-($b2-$b1))/1e6}")** |"
if [ -n "$BEFORE" ]; then
  f1=$(count before 1000000); f2=$(count before 2000000)
  echo "| added by the agent before (--before) | $(awk "BEGIN{printf \"%.2f\", (($f2-$f1)-($b2-$b1))/1e6}") |"
fi
echo "| agent start-up (one-off) | $(awk "BEGIN{printf \"%.0f\", ($a1-$b1)-(($a2-$a1)-($b2-$b1))}") |"
echo

# 3. exact mode
echo "## 3. Exact mode (--rate 1) at stack depth 10, -O2 without frame pointers"
echo
for mode in base exact heaptrack exact_before; do : >"$scratch/deep.$mode"; done
deep_modes=(base exact heaptrack)
[ -z "$BEFORE" ] || deep_modes+=(exact_before)
for ((i = 0; i < reps; i++)); do
  for ((m = 0; m < ${#deep_modes[@]}; m++)); do # each repetition starts with the next mode
    mode=${deep_modes[(i + m) % ${#deep_modes[@]}]}
    run_mode "$mode" "$BENCH/bench_deep_alloc" --pairs "$deep_pairs" | field ns_per_pair >>"$scratch/deep.$mode"
  done
done
b=$(median <"$scratch/deep.base"); e=$(median <"$scratch/deep.exact"); h=$(median <"$scratch/deep.heaptrack")
echo "| no agent ns/pair | leakwatch exact ns/pair | heaptrack ns/pair | leakwatch/no agent (paired; quartiles) | heaptrack/leakwatch (paired; quartiles) |"
echo "|---|---|---|---|---|"
echo "| $b | $e | $h | $(awk "BEGIN{printf \"%.2f\", $e/$b}") ($(paired_ratio deep.exact deep.base %.2f); $(paired_quartiles deep.exact deep.base %.2f)) | $(awk "BEGIN{printf \"%.2f\", $h/$e}") ($(paired_ratio deep.heaptrack deep.exact %.2f); $(paired_quartiles deep.heaptrack deep.exact %.2f)) |"
if [ -n "$BEFORE" ]; then
  eb=$(median <"$scratch/deep.exact_before")
  echo
  echo "Before (--before) exact: $eb ns/pair; after/before paired $(paired_ratio deep.exact deep.exact_before %.3f) ($(paired_quartiles deep.exact deep.exact_before %.3f))."
fi
echo
echo "## 4. Cost of one sampled allocation"
echo
echo "Exact mode minus no agent, per malloc+free pair (unwind at depth 10 + stack lookup +"
echo "live-table insert, and the free's lookup and removal): **$(awk "BEGIN{printf \"%.0f\", $e-$b}") ns**."
echo

# 5. memory
echo "## 5. Agent memory, default rate, 1M live allocations"
echo
: >"$scratch/live.base"; : >"$scratch/live.agent"; : >"$scratch/live.mem"
for ((i = 0; i < 3; i++)); do
  run_mode base "$BENCH/bench_live" | field rss_kib >>"$scratch/live.base"
  out=$(run_mode agent "$BENCH/bench_live")
  echo "$out" | field rss_kib >>"$scratch/live.agent"
  echo "$out" | field agent_memory_bytes >>"$scratch/live.mem"
done
rb=$(median <"$scratch/live.base"); ra=$(median <"$scratch/live.agent"); am=$(median <"$scratch/live.mem")
echo "| RSS no agent | RSS with agent | difference | agent tables (agent_memory_bytes) |"
echo "|---|---|---|---|"
echo "| $rb KiB | $ra KiB | $((ra - rb)) KiB | $((am / 1024)) KiB |"
