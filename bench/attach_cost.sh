#!/usr/bin/env bash
# attach_cost.sh - what `leakwatch attach` costs a running program, against a preloaded agent
# and against `heaptrack -p` (issue 14). bench_attach_churn runs the churn benchmark in
# rounds, one per line it reads, in processes that live through the whole run:
#
# Each process runs 100 idle threads besides the one that churns.
#   plain     rounds before the attach (no agent), then `leakwatch attach` (default rate),
#             rounds attached, `leakwatch detach`, rounds after it;
#   preload   LD_PRELOAD=libleakwatch.so from the start: its rounds interleave with plain's,
#             so "attached / preloaded" is a ratio of back-to-back rounds;
#   heaptrack a third process, `heaptrack -p` attached to it after its first rounds.
#
# Also: how long `leakwatch attach` and `detach` take (wall clock, and the time the agent's
# start took on the borrowed thread), and how long heaptrack -p takes until its library is
# in the process. Prints a markdown report.
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

start plain
start preload LD_PRELOAD="$AGENT"
for ((i = 0; i < reps; i++)); do round plain none; round preload preloaded; done

t0=$(now_ms)
"$LW" attach "$pid_plain" --agent "$ATTACH" --json >"$scratch/attach.json"
attach_ms=$(($(now_ms) - t0))
for ((i = 0; i < reps; i++)); do
  if ((i % 2)); then round plain attached; round preload preloaded2
  else round preload preloaded2; round plain attached; fi
done
t0=$(now_ms)
"$LW" detach "$pid_plain" --agent "$ATTACH" --json >"$scratch/detach.json"
detach_ms=$(($(now_ms) - t0))
for ((i = 0; i < reps; i++)); do round plain detached; done

heaptrack_row="| heaptrack -p | not installed | | |"
if command -v heaptrack >/dev/null; then
  start ht
  for ((i = 0; i < 3; i++)); do round ht ht_before; done
  t0=$(now_ms)
  (cd "$scratch" && heaptrack -o "$scratch/ht" -p "$pid_ht" >"$scratch/heaptrack.log" 2>&1 &)
  # Attached once its injected library is mapped and it has written its first lines.
  until grep -q libheaptrack_inject "/proc/$pid_ht/maps" 2>/dev/null; do
    sleep 0.01
    (($(now_ms) - t0 < 60000)) || break
  done
  ht_attach_ms=$(($(now_ms) - t0))
  for ((i = 0; i < reps; i++)); do round ht heaptrack; done
  heaptrack_row="| heaptrack -p | $ht_attach_ms ms (until libheaptrack_inject.so is mapped) | $(median <"$scratch/heaptrack") | $(awk -v a="$(median <"$scratch/heaptrack")" -v b="$(median <"$scratch/ht_before")" 'BEGIN{printf "%.2f", a/b}') |"
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

paired() { paste "$scratch/$1" "$scratch/$2" | awk '{print $1 / $2}'; }
none=$(median <"$scratch/none")
echo "# attach cost ($(date -u +%Y-%m-%d), $(nproc) cores, $reps rounds of $pairs malloc+free pairs, 100 idle threads in each process)"
echo
echo "Command: \`bench/attach_cost.sh$( [ $# -gt 0 ] && printf ' %s' "$@")\`"
echo
echo "| process | attach / detach | ns per pair (median) | vs no agent |"
echo "|---|---|---|---|"
echo "| plain, before the attach | | $none | 1.00 |"
echo "| plain, after \`leakwatch attach\` (default rate) | attach $attach_ms ms wall (agent start on the borrowed thread: $(sed -n 's/.*"call_ms":\([0-9.]*\).*/\1/p' "$scratch/attach.json") ms) | $(median <"$scratch/attached") | $(awk -v a="$(median <"$scratch/attached")" -v b="$none" 'BEGIN{printf "%.2f", a/b}') |"
echo "| plain, after \`leakwatch detach\` | detach $detach_ms ms wall | $(median <"$scratch/detached") | $(awk -v a="$(median <"$scratch/detached")" -v b="$none" 'BEGIN{printf "%.2f", a/b}') |"
echo "| LD_PRELOAD=libleakwatch.so | | $(median <"$scratch/preloaded2") | $(awk -v a="$(median <"$scratch/preloaded2")" -v b="$none" 'BEGIN{printf "%.2f", a/b}') |"
echo "$heaptrack_row"
echo
echo "Attached / preloaded, per back-to-back pair of rounds: median $(paired attached preloaded2 | median) (quartiles $(paired attached preloaded2 | quartiles %.3f)); preloaded / no agent before the attach: median $(paired preloaded none | median)."
echo
echo "Fast paths, libleakwatch.so against libleakwatch-attach.so (objdump, addresses left out): ${fast_paths%; }."
