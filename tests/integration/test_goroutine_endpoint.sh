#!/usr/bin/env bash
# test_goroutine_endpoint.sh - /debug/pprof/goroutine (issue 14): a process's threads by
# current stack, as Go serves goroutines. blocked_threads has 3 threads in read, 4 in
# nanosleep, 5 in pthread_cond_wait, 6 in epoll_wait, 7 in accept, 8 in poll, 170 idle ones,
# 2 that sleep 200 us in a loop, 1 that spins while a file "spin" exists (and naps
# otherwise) and its main thread in pause: 207 threads. The endpoint must group and count
# them right in all three forms (pprof profile read by `go tool pprof`, debug=1, debug=2),
# show a thread that never waits as running, be on the index page and under `leakwatch ps`,
# and leave no trace in the program: after 30 rounds of the three forms not one of those
# calls has returned (EINTR or otherwise), no short sleep failed, no signal reached the
# program's handlers, and the program still runs. About 10 s (70 s at a load average of 67).
. "$(dirname "$0")/lib.sh"
lw_test_begin goroutine
lw_test_require go "go tool pprof reads the profile"
lw_test_require curl "fetches the endpoint"

EXTRA=170
TOTAL=$((1 + 3 + 4 + 5 + 6 + 7 + 8 + EXTRA + 2 + 1))
LD_PRELOAD="$AGENT" LEAKWATCH_HTTP=127.0.0.1:0 "$FIX/blocked_threads" "$EXTRA" >fixture.out 2>fixture.err &
fixture=$!
pids+=("$fixture")
lw_wait_http fixture.err fixture.out
check "endpoint announced and fixture ready" test -n "$addr"
url="http://$addr/debug/pprof/goroutine"

get() { # NAME URL: NAME.headers, NAME.body
  curl -s -D "$1.headers" -o "$1.body" --max-time 30 "$2"
}

# debug=1 -> one line per group: "COUNT fn1 fn2 ..." (the names of its "#" lines)
groups() {
  awk '/^[0-9]+ @/{if (line != "") print line; line = $1; next}
       /^#\t0x/{split($0, f, "\t"); line = line " " f[3]}
       END{if (line != "") print line}' "$1"
}
has_group() { # FILE COUNT FUNCTION: a group of exactly COUNT threads whose stack has FUNCTION
  groups "$1" | grep -Eq "^$2 (.* )?$3( |$)"
}
all_groups_right() { # FILE
  has_group "$1" 3 wait_in_read && has_group "$1" 4 wait_in_nanosleep &&
    has_group "$1" 5 wait_in_cond_wait && has_group "$1" 6 wait_in_epoll_wait &&
    has_group "$1" 7 wait_in_accept && has_group "$1" 8 wait_in_poll &&
    has_group "$1" "$EXTRA" idle_worker && has_group "$1" 1 main &&
    grep -q "^goroutine profile: total $TOTAL\$" "$1"
}

# Threads start and reach their waits at their own pace: poll until the groups are right.
for _ in $(seq 60); do
  get d1 "$url?debug=1"
  all_groups_right d1.body && break
  sleep 0.5
done
check "debug=1: every group with its count, total $TOTAL" all_groups_right d1.body
# headers FILE -> "status|content-type|x-content-type-options", as test_http_endpoint.sh compares
headers() {
  awk 'BEGIN{IGNORECASE=1} NR==1{s=$2} /^content-type:/{t=$0} /^x-content-type-options:/{n=$0} END{print s "|" t "|" n}' "$1" | tr -d '\r'
}
reference="$LW_SOURCE_DIR/tests/data/reference/http"
check "debug=1: Go's status and headers" test "$(headers d1.headers)" = "$(headers "$reference/http-goroutine-d1.headers")"
check "debug=1: frames name the libc call and its object" \
  grep -Eq $'^#\t0x[0-9a-f]+\tepoll_wait\t/.*libc\\.so\\.6\\+0x[0-9a-f]+$' d1.body
check "debug=1: accept's stack goes through the agent's frame-pointer wrapper to the thread start" \
  bash -c "awk '/^7 @/{p=1} p&&/^\$/{exit} p' d1.body | grep -q 'wait_in_accept' &&
           awk '/^7 @/{p=1} p&&/^\$/{exit} p' d1.body | grep -q 'run'"
check "debug=1: go tool pprof parses it (Go's count-profile text)" \
  quiet env HOME="$work" go tool pprof -raw d1.body

get d2 "$url?debug=2"
check "debug=2: Go's status and headers" test "$(headers d2.headers)" = "$(headers "$reference/http-goroutine-d2.headers")"
check "debug=2: one block per thread" test "$(grep -c '^goroutine [0-9]* \[' d2.body)" -eq "$TOTAL"
check "debug=2: the main thread is goroutine <pid>, in pause" grep -q "^goroutine $fixture \[pause, blocked_threads\]:" d2.body
count_state() { grep -c "^goroutine [0-9]* \[$1, " d2.body; }
check "debug=2: states are the system calls (read 3, epoll_wait 6, accept 7, poll 8, futex 5)" \
  test "$(count_state read) $(count_state epoll_wait) $(count_state accept) $(count_state poll) $(count_state futex)" = "3 6 7 8 5"
check "debug=2: the sleepers are in clock_nanosleep" test "$(count_state clock_nanosleep)" -ge $((4 + EXTRA))
check "debug=2: frames as Go writes them" bash -c "grep -A1 '^wait_in_poll(...)\$' d2.body | grep -q $'^\t/.*blocked_threads+0x'"
check "debug=2: created by the function that called pthread_create" grep -q '^created by start$' d2.body

get proto "$url"
check "profile: gzipped, attachment named goroutine" bash -c \
  "head -c 2 proto.body | od -An -tx1 | grep -q '1f 8b' && grep -qi 'filename=\"goroutine\"' proto.headers"
HOME="$work" go tool pprof -raw proto.body >proto.raw 2>proto.rawerr
check "profile: go tool pprof -raw reads it" test -s proto.raw
check "profile: Go's goroutine/count layout" bash -c "grep -q '^PeriodType: goroutine count' proto.raw && grep -q '^goroutine/count' proto.raw"
HOME="$work" go tool pprof -top "$url" >top.txt 2>top.err
check "go tool pprof -top over HTTP: $TOTAL threads" grep -q "of $TOTAL total" top.txt
top_cum() { awk -v f="$1" '$NF == f {print $4}' top.txt; }
check "go tool pprof -top: cumulative counts per waiting function" \
  test "$(top_cum wait_in_read) $(top_cum wait_in_cond_wait) $(top_cum wait_in_accept) $(top_cum wait_in_poll) $(top_cum idle_worker)" = "3 5 7 8 $EXTRA"
check "profile: state label" grep -q 'state:\[epoll_wait\]' proto.raw

get index "http://$addr/debug/pprof/"
check "index lists goroutine with its count and the full dump" bash -c \
  "grep -q \"<td>$TOTAL</td><td><a href='goroutine?debug=1'>goroutine</a>\" index.body && grep -q \"href='goroutine?debug=2'\" index.body"
lw_wait_socket "$fixture"
"$LW" ps >ps.txt 2>&1
check "ps: the paths under the table name goroutine" grep -q '^HTTP paths: /debug/pprof/{.*goroutine' ps.txt
"$LW" ps --json >ps.json
check "ps --json: http_paths has /debug/pprof/goroutine" \
  quiet jq -e ".[] | select(.pid == $fixture) | .http_paths | index(\"/debug/pprof/goroutine\")" ps.json
get seconds "$url?seconds=1"
check "seconds: 400 with Go's message" bash -c "grep -q ' 400 ' seconds.headers && grep -q 'not supported for this profile type' seconds.body"

# A thread that never waits: reported as running, without frames, in all three forms.
touch spin
for _ in $(seq 40); do
  get d2r "$url?debug=2"
  grep -q '^goroutine [0-9]* \[running, blocked_threads\]:' d2r.body && break
  sleep 0.25
done
get d1r "$url?debug=1"
get protor "$url"
rm -f spin
check "debug=2: the spinning thread is running, without frames" bash -c \
  "grep -q '^goroutine [0-9]* \[running, blocked_threads\]:' d2r.body && grep -q '^(no stack: the thread was running' d2r.body"
check "debug=1: running threads counted in a comment (pprof refuses an empty stack)" \
  grep -Eq '^# [0-9]+ running: no stack, the threads? (was|were) running' d1r.body
check "profile: running threads under a [running] frame" \
  bash -c "HOME='$work' go tool pprof -raw protor.body 2>/dev/null | grep -q ' \[running\] '"

# Many looks, then: the program noticed nothing.
start_ns=$(date +%s%N)
for _ in $(seq 30); do
  get r0 "$url"
  get r1 "$url?debug=1"
  get r2 "$url?debug=2"
done
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "90 requests over $TOTAL threads took $elapsed_ms ms"
check "after 90 requests: the groups are still right" all_groups_right r1.body
check "after 90 requests: the program still runs" kill -0 "$fixture"
check "no call of the program returned, no signal reached its handlers" bash -c "! grep -q VIOLATION fixture.err"
grep VIOLATION fixture.err | sort | uniq -c | head -5 >&2
lw_test_end
