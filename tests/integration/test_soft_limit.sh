#!/usr/bin/env bash
# test_soft_limit.sh - LEAKWATCH_SOFT_LIMIT (issue 15, Go's GOMEMLIMIT for C): when RSS
# passes it, the agent returns the allocator's free memory and logs what came back.
#   - fragmented_heap (4 threads x 32 MiB, 1 block in 32 kept: about 130 MiB resident, 4 MiB
#     in use) with a 64 MiB limit ends below it, and says so once; without the limit the
#     same program stays above 100 MiB;
#   - a limit below what is in use: one line says RSS stays above, and releases that return
#     nothing back off (2, 4, 8 intervals apart);
#   - with LEAKWATCH_CONTROL=0 the limit still works (it starts the agent's thread);
#   - a bad value is refused with one line and the program runs on.
# About 15 s, the processes side by side.
. "$(dirname "$0")/lib.sh"
lw_test_begin soft-limit

start() { # NAME ENVIRONMENT...: fragmented_heap under the agent -> $pid
  local name=$1
  shift
  env LD_PRELOAD="$AGENT" "$@" "$FIX/fragmented_heap" --threads 4 --mib 32 >"$name.out" \
    2>"$name.err" &
  pid=$!
  pids+=("$pid")
}
rss_mib() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
wait_for() { # FILE PATTERN SECONDS: until a line matches
  for _ in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start limited LEAKWATCH_SOFT_LIMIT=64MiB LEAKWATCH_SOFT_LIMIT_INTERVAL=1s
limited=$pid
start unlimited
unlimited=$pid
start stuck LEAKWATCH_SOFT_LIMIT=8MiB LEAKWATCH_SOFT_LIMIT_INTERVAL=1s
stuck=$pid
start quiet LEAKWATCH_SOFT_LIMIT=64MiB LEAKWATCH_SOFT_LIMIT_INTERVAL=1s LEAKWATCH_CONTROL=0
quiet=$pid

check "the limited process logs its release" \
  wait_for limited.err "soft limit 64.0 MiB passed (RSS [0-9.]* MiB): malloc_trim(0) returned" 60
wait_for limited.out '^ready' 60
wait_for unlimited.out '^ready' 60
lw_wait_socket "$limited"
# The first release may come while the threads still allocate; later ones finish the job.
for _ in $(seq 300); do [ "$(rss_mib "$limited")" -lt 64 ] && break; sleep 0.1; done
"$LW" explain "$limited" --json >limited.json 2>/dev/null
check "the limited process is below the limit now ($(rss_mib "$limited") MiB)" test "$(rss_mib "$limited")" -lt 64
check "explain reports the limit and what it returned ($(jq -c .allocator limited.json))" \
  jq -e '.allocator.soft_limit_bytes == 64*1048576' limited.json
printf 'LEAKWATCH/1 allocator\n' | socat - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$limited.sock" | tail -n +2 >allocator.json
check "the allocator reply counts it: >= 32 MiB returned ($(jq -c .allocator.soft_limit allocator.json))" \
  jq -e '.allocator.soft_limit.releases >= 1 and .allocator.soft_limit.released_bytes >= 32*1048576' allocator.json
check "without the limit the same program stays above 100 MiB ($(rss_mib "$unlimited") MiB)" \
  test "$(rss_mib "$unlimited")" -gt 100
check "LEAKWATCH_CONTROL=0: the limit still applies" wait_for quiet.err "soft limit 64.0 MiB passed" 60
check "LEAKWATCH_CONTROL=0: no control socket" test ! -e "$XDG_RUNTIME_DIR/leakwatch/$quiet.sock"

# Below what is in use: once a release returned nothing, the next ones come 2, 4, 8 s
# apart, not every second: over the next 8 s, at most 3 (8 without the backoff).
releases() { # PID: the soft limit's release count, from the allocator reply
  printf 'LEAKWATCH/1 allocator\n' | socat - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$1.sock" |
    tail -n +2 | jq .allocator.soft_limit.releases
}
check "a limit below the memory in use says so" \
  wait_for stuck.err "soft limit 8.00 MiB: RSS stays at .* after malloc_trim(0): the memory above the limit is in use" 60
before=$(releases "$stuck")
sleep 8
after=$(releases "$stuck")
check "...once ($(grep -c 'stays at' stuck.err))" test "$(grep -c 'stays at' stuck.err)" -eq 1
check "releases that return nothing back off: $((after - before)) in 8 s after that" \
  test $((after - before)) -le 3

LD_PRELOAD="$AGENT" LEAKWATCH_SOFT_LIMIT=lots /bin/true 2>bad.err
check "a bad value: the program runs (exit $?)" test $? -eq 0
check "a bad value: one line says it is ignored ($(cat bad.err))" \
  bash -c "[ \$(wc -l <bad.err) -eq 1 ] && grep -q \"ignoring LEAKWATCH_SOFT_LIMIT='lots'\" bad.err"

lw_test_end
