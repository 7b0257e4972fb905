#!/usr/bin/env bash
# attach.sh - how long `leakwatch attach` and `detach` take on a real server and what the
# server feels (issue 14), against `heaptrack -p`: redis-server with redis-benchmark
# pipelining requests (-P 16) in a loop.
#
#   attach / detach   wall time of the command, how long the borrowed thread (redis's
#                     event loop) was stopped by ptrace, and how long it spent in the
#                     agent's start or stop (redis serves nothing meanwhile); median and max
#                     of --cycles cycles, under load
#   heaptrack -p      wall time until its library is mapped in redis (it attaches with gdb)
#   throughput        redis-benchmark requests per second (median of --runs runs of
#                     -n 200000 SET/GET) with no agent, attached, after detach, and under
#                     heaptrack -p (a fresh redis each)
# Prints markdown.
#
#   bench/attach.sh [--cycles N] [--runs N]      (from the repository root, after a build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${LW_BUILD_DIR:-build}
LW=$PWD/$BUILD/bin/leakwatch
cycles=20
runs=5
for arg in "$@"; do
  case "$arg" in
    --cycles=*) cycles=${arg#--cycles=} ;;
    --runs=*) runs=${arg#--runs=} ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "attach.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
for tool in redis-server redis-benchmark redis-cli heaptrack; do
  command -v "$tool" >/dev/null || { echo "attach.sh: $tool is not installed" >&2; exit 1; }
done
[ -x "$LW" ] || { echo "attach.sh: $LW is missing; build first" >&2; exit 1; }
work=$(mktemp -d /tmp/lw-bench-attach-XXXXXX)
export XDG_RUNTIME_DIR=$work/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
redis=""
load=""
cleanup() {
  [ -z "$load" ] || kill "$load" 2>/dev/null || true
  [ -z "$redis" ] || kill "$redis" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 10000))

start_redis() {
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
  redis=$!
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "attach.sh: redis did not start" >&2
  exit 1
}
stop_redis() { kill "$redis"; wait "$redis" 2>/dev/null || true; redis=""; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
maximum() { sort -g | tail -1; }
throughput() { # median requests per second over $runs runs
  for _ in $(seq "$runs"); do
    redis-benchmark -p "$port" -P 16 -q -n 200000 -t set,get 2>/dev/null | tr '\r' '\n' |
      awk '/requests per second/ {sum += $2; n++} END {printf "%.0f\n", sum / n}'
  done | median
}
now() { date +%s.%N; }

start_redis
plain=$(throughput)
( while :; do redis-benchmark -p "$port" -P 16 -q -n 100000 -t set,get >/dev/null 2>&1; done ) &
load=$!
sleep 1
: >"$work/attach" ; : >"$work/detach"
for _ in $(seq "$cycles"); do
  t0=$(now)
  json=$("$LW" attach "$redis" --json)
  t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(echo "$json" | sed 's/.*"stopped_ms":\([0-9.]*\).*"call_ms":\([0-9.]*\).*/\1 \2/')" >>"$work/attach"
  t0=$(now)
  json=$("$LW" detach "$redis" --json)
  t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(echo "$json" | sed 's/.*"stopped_ms":\([0-9.]*\).*"call_ms":\([0-9.]*\).*/\1 \2/')" >>"$work/detach"
done
kill "$load"; wait "$load" 2>/dev/null || true; load=""
"$LW" attach "$redis" >/dev/null
attached=$(throughput)
"$LW" detach "$redis" >/dev/null
detached=$(throughput)
stop_redis

start_redis
t0=$(now)
(cd "$work" && exec heaptrack -o "$work/heaptrack" -p "$redis" >"$work/heaptrack.log" 2>&1) &
heaptrack=$!
until grep -q libheaptrack_inject "/proc/$redis/maps" 2>/dev/null; do sleep 0.01; done
t1=$(now)
heaptrack_attach=$(echo "$t1 - $t0" | bc -l)
sleep 1
under_heaptrack=$(throughput)
stop_redis
wait "$heaptrack" 2>/dev/null || true

column() { awk -v c="$1" '{print $c}' "$2"; }
ms() { awk '{printf "%.1f", $1 * 1000}'; }
echo "| | median | max |"
echo "|---|---:|---:|"
echo "| \`leakwatch attach\` wall, ms | $(column 1 "$work/attach" | median | ms) | $(column 1 "$work/attach" | maximum | ms) |"
echo "| borrowed thread stopped by ptrace, ms | $(column 2 "$work/attach" | median) | $(column 2 "$work/attach" | maximum) |"
echo "| borrowed thread in the agent's start, ms | $(column 3 "$work/attach" | median) | $(column 3 "$work/attach" | maximum) |"
echo "| \`leakwatch detach\` wall, ms | $(column 1 "$work/detach" | median | ms) | $(column 1 "$work/detach" | maximum | ms) |"
echo "| borrowed thread stopped by ptrace, ms | $(column 2 "$work/detach" | median) | $(column 2 "$work/detach" | maximum) |"
echo "| borrowed thread in the agent's stop, ms | $(column 3 "$work/detach" | median) | $(column 3 "$work/detach" | maximum) |"
echo "| \`heaptrack -p\` until its library is mapped, ms | $(echo "$heaptrack_attach" | ms) | |"
echo
echo "| redis-benchmark -P 16 SET/GET | requests/s (median of $runs) | / no agent |"
echo "|---|---:|---:|"
for row in "no agent:$plain" "attached (default rate):$attached" "after detach:$detached" "heaptrack -p:$under_heaptrack"; do
  echo "| ${row%%:*} | ${row##*:} | $(echo "${row##*:} / $plain" | bc -l | awk '{printf "%.2f", $1}') |"
done
