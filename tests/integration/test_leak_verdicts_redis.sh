#!/usr/bin/env bash
# test_leak_verdicts_redis.sh - a real server under load is not called a leak (issue 6):
# redis-server (Debian's, allocating through jemalloc, which the agent forwards to) runs
# under redis-benchmark on loopback for 3 minutes at the default sampling rate and history
# interval; `leakwatch leaks` must then report no suspect.
. "$(dirname "$0")/lib.sh"
lw_test_begin redis-leaks
lw_test_require redis-server "a real server under load"
lw_test_require redis-benchmark "drives the server"
port=$(shuf -i 20000-60000 -n 1)
LD_PRELOAD="$AGENT" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize no >redis.out 2>&1 &
redis=$!
pids+=("$redis")
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
# Load for 3 minutes and 20 s (the first history point comes 10 s in, and a verdict needs 3
# minutes of history): a mix of commands over a bounded key space, as a real cache sees.
end=$((SECONDS + 200))
while [ $SECONDS -lt $end ]; do
  timeout 30 redis-benchmark -p "$port" -q -n 100000 -r 10000 -c 20 -t set,get,incr,lpush,lpop,hset \
    >>bench.out 2>&1
done
"$LW" leaks "$redis" --json --all >redis.json 2>redis.err
check "leakwatch leaks answered" jq -e . redis.json >/dev/null
check "3 minutes of history were judged" jq -e '.enough_history' redis.json
n=$(jq '[.suspects[] | select(.suspect)] | length' redis.json)
check "no leak suspect in redis-server under load (got $n: $(jq -c '[.suspects[] | select(.suspect) | .site]' redis.json))" test "$n" = 0
check "redis sites were tracked ($(jq .sites_tracked redis.json))" test "$(jq .sites_tracked redis.json)" -ge 5
check "redis served the load" grep -q "requests per second" bench.out
lw_test_end
