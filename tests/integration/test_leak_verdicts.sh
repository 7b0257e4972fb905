#!/usr/bin/env bash
# test_leak_verdicts.sh - growth verdicts on live processes (issue 6), at the default
# sampling rate, with time scaled 10x (fixtures run 10 times faster and the agent's history
# interval is 1 s instead of 10 s, so the statistics are those of the real-time case):
#   - a site leaking 1 MiB/min inside 1 GiB/min of churn is the top suspect within 5 minutes;
#   - caches that fill up and then stay full are never a suspect over 10 minutes;
#   - the same churn without the leak gives no suspect.
# The method and its error rates: docs/LEAKS.md.
. "$(dirname "$0")/lib.sh"
lw_test_begin leaks
# Scaled: 3 minutes of history needed -> 18 s; allocations older than 1 minute -> 6 s.
VERDICT="--min-window 18s --old-after 6s"

start() { # NAME FIXTURE ARGS... -> $pid
  local name=$1
  shift
  LD_PRELOAD="$AGENT" LEAKWATCH_HISTORY_INTERVAL=1s "$FIX/$1" "${@:2}" >"$name.out" 2>"$name.err" &
  pid=$!
  pids+=("$pid")
  lw_wait_socket "$pid"
}

# The leak and the no-leak case run side by side (each uses well under one core).
start leak leak_in_churn --scale 10 --minutes 6
leak=$pid
start clean leak_in_churn --scale 10 --minutes 6 --no-leak
clean=$pid
sleep 30 # = 5 scaled minutes since the start
"$LW" leaks "$leak" --json $VERDICT >leak.json 2>leak.err
"$LW" leaks "$clean" --json --all $VERDICT >clean.json 2>clean.err
check "leaks --json is valid" jq -e . leak.json >/dev/null
top=$(jq -r '.suspects[0].site // "none"' leak.json)
check "the 1 MiB/min leak is the top suspect at 5 minutes (top: $top)" bash -c "[[ '$top' == slow_leak_site* ]]"
check "it is the only suspect ($(jq '.suspects | length' leak.json))" test "$(jq '.suspects | length' leak.json)" = 1
# Its 5 MiB at 30 s is about 10 samples at the default rate (one per 512 KiB): four runs side
# by side measured 5.7 to 17.6 MB/min, and a run with 3 samples (a few in a thousand) reads
# under a third of the rate. So "about" is within a factor of four of 10.5 MB/min.
check "its rate is about 10 MiB per real minute (1 MiB per scaled minute): $(jq '.suspects[0].bytes_per_minute' leak.json) bytes/min" \
  jq -e '.suspects[0].bytes_per_minute > 2.6e6 and .suspects[0].bytes_per_minute < 42e6' leak.json
check "the verdict says why" jq -e '.suspects[0].why | test("grew .* steadily")' leak.json
check "no suspect without the leak" test "$(jq '[.suspects[] | select(.suspect)] | length' clean.json)" = 0
check "churn sites were judged (not just absent)" test "$(jq '.sites_tracked' clean.json)" -ge 3
"$LW" leaks "$leak" $VERDICT >leak.txt 2>&1
check "text verdict names the site and confidence" grep -q "LEAK SUSPECT (.* confidence), .* at slow_leak_site leak_in_churn.c" leak.txt
if [ "$top" != "${top#slow_leak_site}" ]; then :; else
  echo "--- every site's verdict for the leaking process:" >&2
  "$LW" leaks "$leak" --all $VERDICT >&2
fi

# Bounded caches (full after one scaled minute): asked four times over 10 scaled minutes,
# never a suspect.
start caches bounded_caches --scale 10 --minutes 10
caches=$pid
for at in 24 36 48 59; do
  while [ $(($(date +%s) - $(stat -c %Y caches.out))) -lt "$at" ]; do sleep 0.5; done
  "$LW" leaks "$caches" --json --all $VERDICT >caches-$at.json 2>/dev/null
  n=$(jq '[.suspects[] | select(.suspect)] | length' caches-$at.json)
  check "bounded caches: no suspect at $at s (= $((at / 6)) scaled minutes; got $n)" test "$n" = 0
done
check "the caches were judged (enough history, sites tracked)" \
  jq -e '.enough_history and .sites_tracked >= 3' caches-59.json
wait "$caches" 2>/dev/null

lw_test_end
