#!/usr/bin/env bash
# attach_cost.sh - what `leakwatch attach` costs a running program, against a preloaded agent
# and against `heaptrack -p` (issue 14). bench_attach_churn runs the churn benchmark in
# rounds, one per line it reads, in processes that live through the whole run, each with 100
# idle threads besides the one that churns:
#
#   plain     never attached: every round of the others is paired with one of its own,
#             back to back, and reported as that ratio (the machine's speed drifts between
#             phases, the ratio of a pair much less);
#   target    rounds before the attach, after `leakwatch attach` (default rate), after
#             `leakwatch detach`;
#   preload   LD_PRELOAD=libleakwatch.so from the start; also paired with target attached;
#   ht        `heaptrack -p` attached to it first.
#
# Then callgrind's instruction counts per malloc+free pair (marginal, from two run lengths;
# noise-free) with no agent, preloaded, and attached (--self-attach: the same entry point
# the injector calls). Also: how long `leakwatch attach` and `detach` take (wall clock, and the agent's start on
# the borrowed thread), how long heaptrack -p takes until its library is in the process, and
# whether the hooks' fast paths are the same instructions in both agents. Prints markdown.
#
#   bench/attach_cost.sh [--reps N] [--pairs N]      (from the repository root, after a build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
LW=$PWD/$BUILD/bin/leakwatch
AGENT=$PWD/$BUILD/lib/libleakwatch.so
ATTACH=$PWD/$BUILD/lib/libleakwatch-attach.so
BENCH=$PWD/$BUILD/bench/bench_attach_churn
reps=21
pairs=5000000
for arg in "$@"; do
  case "$arg" in
    --reps=*) reps=${arg#--reps=} ;;
    --pairs=*) pairs=${arg#--pairs=} ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "attach_cost.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
for f in "$LW" "$AGENT" "$ATTACH" "$BENCH"; do
  [ -e "$f" ] || { echo "attach_cost.sh: $f is missing; build first" >&2; exit 1; }
done
scratch=$(mktemp -d /tmp/lw-attach-cost-XXXXXX)
children=()
cleanup() {
  for p in "${children[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR="$scratch/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
quartiles() { sort -g | awk -v f="$1" '{v[NR]=$1} END {printf f "-" f "\n", v[int((NR+3)/4)], v[int((3*NR+3)/4)]}'; }
now_ms() { date +%s%3N; }
paired() { paste "$scratch/$1" "$scratch/$2" | awk '{print $1 / $2}'; }
row() { # LABEL NOTE FILE: median ns/pair and the median of the paired ratios to plain
  echo "| $1 | $2 | $(median <"$scratch/$3") | $(paired "$3" "$3.plain" | median) ($(paired "$3" "$3.plain" | quartiles %.3f)) |"
}

# start NAME [ENV...]: a bench_attach_churn with 100 idle threads reading $scratch/NAME.in,
# answering in NAME.out
start() {
  local name=$1; shift
  mkfifo "$scratch/$name.in"
  env "$@" "$BENCH" --pairs "$pairs" --idle-threads 100 <"$scratch/$name.in" \
    >"$scratch/$name.out" 2>"$scratch/$name.err" &
  children+=($!)
  eval "pid_$name=$!"
  eval "exec {fd_$name}>\"$scratch/$name.in\""
  eval "lines_$name=1"
  until grep -q ready "$scratch/$name.out" 2>/dev/null; do sleep 0.05; done
}
# round NAME FILE: one round in process NAME; its ns/pair appended to $scratch/FILE
round() {
  local fd lines
  eval "fd=\$fd_$1 lines=\$lines_$1"
  echo go >&"$fd"
  lines=$((lines + 1))
  until [ "$(wc -l <"$scratch/$1.out")" -ge "$lines" ]; do sleep 0.01; done
  eval "lines_$1=$lines"
  sed -n "${lines}s/ns_per_pair=//p" "$scratch/$1.out" >>"$scratch/$2"
}

# Every round of the process under test is paired with one of `plain`, which is never
# attached, back to back (in alternating order): the machine's speed drifts between phases
# (a loaded 2-core VM: 10-50%), the ratio of a pair does not.
start plain
start target
start preload LD_PRELOAD="$AGENT"
phase() { # PROCESS FILE: reps rounds of PROCESS into FILE, each paired with plain's in FILE.plain
  for ((i = 0; i < reps; i++)); do
    if ((i % 2)); then round "$1" "$2"; round plain "$2.plain"
    else round plain "$2.plain"; round "$1" "$2"; fi
  done
}
phase target before
phase preload preloaded
t0=$(now_ms)
"$LW" attach "$pid_target" --agent "$ATTACH" --json >"$scratch/attach.json"
attach_ms=$(($(now_ms) - t0))
phase target attached
# attached against preloaded directly, back to back too
for ((i = 0; i < reps; i++)); do
  if ((i % 2)); then round target versus; round preload versus.preload
  else round preload versus.preload; round target versus; fi
done
t0=$(now_ms)
"$LW" detach "$pid_target" --agent "$ATTACH" --json >"$scratch/detach.json"
detach_ms=$(($(now_ms) - t0))
phase target detached

heaptrack_row="| \`heaptrack -p\` | not installed | | |"
if command -v heaptrack >/dev/null; then
  start ht
  t0=$(now_ms)
  (cd "$scratch" && heaptrack -o "$scratch/ht" -p "$pid_ht" >"$scratch/heaptrack.log" 2>&1 &)
  # Attached once its injected library is mapped in the process.
  until grep -q libheaptrack_inject "/proc/$pid_ht/maps" 2>/dev/null; do
    sleep 0.01
    (($(now_ms) - t0 < 60000)) || break
  done
  ht_attach_ms=$(($(now_ms) - t0))
  phase ht heaptrack
  heaptrack_row="| \`heaptrack -p\` (records every call) | $ht_attach_ms ms until its library is mapped | $(median <"$scratch/heaptrack") | $(paired heaptrack heaptrack.plain | median) ($(paired heaptrack heaptrack.plain | quartiles %.2f)) |"
fi

# The hooks' fast paths in both libraries, addresses left out: the attach build must not
# have a different instruction in them (CMakeLists.txt, agent.h: lw__thread's TLS model).
fast_path() { # LIBRARY FUNCTION
  objdump -d --no-show-raw-insn "$1" | awk -v f="<$2>:" '$2 == f {p = 1; next} p && /^$/ {p = 0} p' |
    sed 's/^ *[0-9a-f]*:\s*//; s/0x[0-9a-f]*//g; s/[0-9a-f]\{4,\} <[^>]*>//g'
}
fast_paths=""
for f in malloc free calloc realloc; do
  n=$(fast_path "$AGENT" "$f" | wc -l)
  if [ "$(fast_path "$AGENT" "$f")" = "$(fast_path "$ATTACH" "$f")" ]; then
    fast_paths+="$f: the same $n instructions; "
  else
    fast_paths+="$f: DIFFERENT ($n in libleakwatch.so, $(fast_path "$ATTACH" "$f" | wc -l) attached); "
  fi
done

echo "# attach cost ($(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $reps rounds of $pairs malloc+free pairs, 100 idle threads in each process)"
echo
echo "Command: \`bench/attach_cost.sh$( [ $# -gt 0 ] && printf ' %s' "$@")\`"
echo
echo "| process | attach / detach | ns per pair (median) | / a never-attached process, paired (quartiles) |"
echo "|---|---|---|---|"
row "before the attach" "" before
row "after \`leakwatch attach\` (default rate)" "attach $attach_ms ms wall, of which the agent's start on the borrowed thread $(sed -n 's/.*"call_ms":\([0-9.]*\).*/\1/p' "$scratch/attach.json") ms" attached
row "after \`leakwatch detach\`" "detach $detach_ms ms wall" detached
row "LD_PRELOAD=libleakwatch.so" "" preloaded
echo "$heaptrack_row"
echo
echo "Attached / preloaded, back-to-back rounds: median $(paired versus versus.preload | median) (quartiles $(paired versus versus.preload | quartiles %.3f))."
echo
if command -v valgrind >/dev/null; then
  count() { # PAIRS ENV/ARGS...: instructions of one round
    local pairs=$1 out; shift
    out=$scratch/cg.$RANDOM
    echo go | env "${@:1:1}" valgrind --tool=callgrind --callgrind-out-file="$out" "$BENCH" \
      --pairs "$pairs" "${@:2}" >/dev/null 2>&1
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
  }
  per_pair() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b - a) / 1e6}'; }
  n1=$(count 1000000 LW_NONE=1); n2=$(count 2000000 LW_NONE=1)
  p1=$(count 1000000 LD_PRELOAD="$AGENT"); p2=$(count 2000000 LD_PRELOAD="$AGENT")
  a1=$(count 1000000 LW_NONE=1 --self-attach "$ATTACH"); a2=$(count 2000000 LW_NONE=1 --self-attach "$ATTACH")
  echo "Instructions per malloc+free pair (callgrind, marginal): no agent $(per_pair "$n1" "$n2"), preloaded $(per_pair "$p1" "$p2"), attached $(per_pair "$a1" "$a2")."
  echo
fi
echo "Fast paths, libleakwatch.so against libleakwatch-attach.so (objdump, addresses left out): ${fast_paths%; }."
