#!/usr/bin/env bash
# test_attach_redis.sh - a real server under load (issue 14): redis-server, not started
# with the agent, while redis-benchmark sends pipelined requests (-P 16), goes through 20
# cycles of `leakwatch attach`, `leakwatch heap` and `leakwatch detach`. No request fails
# (every benchmark run completes, redis counts no error reply and rejects no connection),
# redis answers PING at the end, every attach and detach succeeds, and the profiles name
# redis's own functions. About 30 s.
. "$(dirname "$0")/lib.sh"
lw_test_begin attach-redis
lw_test_require redis-server "the server attached to"
lw_test_require redis-benchmark "the load"
lw_test_require redis-cli "PING and INFO"
[ -e "$LW_BUILD_DIR/lib/libleakwatch-attach.so" ] || {
  echo "libleakwatch-attach.so is not built"
  echo "0 passed, 1 failed"
  exit 1
}

port=$(lw_free_port) || exit 1
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$work" >redis.log 2>&1 &
redis=$!
pids+=("$redis")
lw_wait_port "$port" "$redis" || exit 1

# The load: finite benchmark runs one after another until told to stop, so each run's
# status and output can be checked (redis-benchmark exits non-zero at the first error).
(
  while [ ! -e stop ]; do
    redis-benchmark -p "$port" -P 16 -q -n 100000 -r 100000 -d 64 \
      -t set,get,lpush,lpop,incr >>bench.out 2>&1 || echo "run failed: status $?" >>bench.failed
  done
) &
load=$!
pids+=("$load")
for _ in $(seq 200); do grep -q "requests per second" bench.out 2>/dev/null && break; sleep 0.05; done

attached=0 detached=0 profiles=0 named=0
for cycle in $(seq 20); do
  "$LW" attach "$redis" --rate 16k >>cli.out 2>&1 && attached=$((attached + 1))
  # The agent sees what is allocated after the attach: until a sample of it is still live
  # (a few tries), the profile may be empty.
  for _ in $(seq 20); do
    "$LW" heap "$redis" -o "heap-$cycle.pb.gz" -n 3 >"heap-$cycle.txt" 2>&1 || break
    grep -q "nothing still allocated" "heap-$cycle.txt" || break
    sleep 0.2
  done
  [ -s "heap-$cycle.pb.gz" ] && profiles=$((profiles + 1))
  "$LW" detach "$redis" >>cli.out 2>&1 && detached=$((detached + 1))
  grep -Eq "zmalloc|sdsnewlen|sdsMakeRoomFor|createStringObject|dictAddRaw|lpInsert" \
    "heap-$cycle.txt" && named=$((named + 1))
done
touch stop
lw_wait_exit "$load" 120

check "20 attaches succeed (got $attached)" test "$attached" -eq 20
check "20 heap profiles written (got $profiles)" test "$profiles" -eq 20
check "20 detaches succeed (got $detached)" test "$detached" -eq 20
check "the benchmark ran during the cycles" grep -q "requests per second" bench.out
check "no benchmark run failed" test ! -e bench.failed
check "no error or connection error in the benchmark's output" \
  sh -c '! grep -v "WARNING" bench.out | grep -Eqi "error|refused|reset"'
redis-cli -p "$port" info stats >info.txt 2>&1
check "redis counted no error reply" grep -q "^total_error_replies:0" info.txt
check "redis rejected no connection" grep -q "^rejected_connections:0" info.txt
check "redis answers PING" sh -c "[ \"\$(redis-cli -p $port ping)\" = PONG ]"
check "the profiles name redis functions ($named of 20)" test "$named" -eq 20
"$LW" ps --json >ps.json 2>&1
check "after the last detach no agent is listed for redis" sh -c "! grep -q '\"pid\":$redis[,}]' ps.json"
[ "$failed" -eq 0 ] || cat cli.out bench.failed redis.log 2>/dev/null | tail -20 >&2
lw_test_end
