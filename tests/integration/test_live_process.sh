#!/usr/bin/env bash
# test_live_process.sh - looking inside a running process (issue 3): the control socket and
# `leakwatch ps/stats/heap/trim`, the periodic stats log, error messages for processes
# without an agent, and garbage on the socket. The HTTP endpoint has its own test.
. "$(dirname "$0")/lib.sh"
lw_test_begin live

# start_service SECONDS [ARGS] -> sets $svc to its pid once its socket exists
start_service() {
  LD_PRELOAD="$AGENT" LEAKWATCH_LOG_INTERVAL=300ms LEAKWATCH_LOG="$work/stats.log" \
    "$FIX/live_service" "$@" >"$work/service.out" 2>"$work/service.err" &
  svc=$!
  pids+=("$svc")
  lw_wait_socket "$svc"
}

start_service 20
check "socket directory is private (0700)" test "$(stat -c %a "$XDG_RUNTIME_DIR/leakwatch")" = 700
check "socket is owner-only (0600)" test "$(stat -c %a "$XDG_RUNTIME_DIR/leakwatch/$svc.sock")" = 600

# ps
"$LW" ps >ps.txt 2>&1
check "ps lists the service" grep -q "^$svc .*live_service" ps.txt
"$LW" ps --json >ps.json
check "ps --json has the pid and a rate" quiet jq -e ".[] | select(.pid == $svc) | .sampling_rate == 524288" ps.json

# stats
"$LW" stats "$svc" >stats.txt 2>&1
check "stats shows estimated heap" grep -q "heap in use (est.)" stats.txt
check "stats shows the process" grep -q "process .*rss" stats.txt
check "stats shows glibc's figures" grep -q "allocator (glibc)" stats.txt
for _ in $(seq 50); do # the service starts churning just after it is ready
  "$LW" stats "$svc" --json >stats.json
  quiet jq -e '.stats.malloc_calls > 1000' stats.json && break
  sleep 0.1
done
check "stats --json has exact counts" quiet jq -e '.stats.malloc_calls > 1000 and .stats.free_calls > 0 and .process.rss_bytes > 0' stats.json
"$LW" stats "$svc" --interval 300ms --count 3 >interval.txt
check "stats --interval prints a header and 3 lines" test "$(wc -l <interval.txt)" -eq 4
check "stats --interval shows the heap growing" awk 'NR==4 && $4 ~ /^\+/ && $4 != "+0" {found=1} END {exit !found}' interval.txt

# heap now, and over a window
"$LW" heap "$svc" -o now.pb.gz -n 3 2>heap.txt
check "heap writes a profile" test -s now.pb.gz
check "heap summary names the growing site" grep -q "service_cache_grow live_service.c" heap.txt
HOME="$work" PPROF_TMPDIR="$work" go tool pprof -top now.pb.gz >pprof.txt 2>pprof.err
check "go tool pprof reads the live profile" test $? -eq 0 -a ! -s pprof.err
check "pprof shows the site" grep -q service_cache_grow pprof.txt
start=$(date +%s.%N)
"$LW" heap "$svc" --seconds 1 -o window.pb.gz --json >window.json 2>window.err
end=$(date +%s.%N)
check "heap --seconds 1 takes about a second" awk "BEGIN {d = $end - $start; exit !(d >= 1 && d < 5)}"
check "window profile has the sites allocated in it" quiet jq -e '.sites[0].site | startswith("service_cache_grow")' window.json
check "window profile carries its duration" bash -c "HOME='$work' go tool pprof -raw window.pb.gz 2>/dev/null | grep -q 'Duration: 1'"

# trim
"$LW" trim "$svc" >trim.txt 2>&1
check "trim reports RSS before and after" grep -q "pid $svc: rss .* -> " trim.txt

# the periodic stats line
sleep 0.7
check "stats log has lines" test "$(grep -c "leakwatch\[$svc\].*heap .* (+" stats.log)" -ge 2

# garbage on the socket gets an error reply and the agent keeps serving
reply=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 socat - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$svc.sock" 2>/dev/null)
check "garbage gets a protocol error ($reply)" bash -c "[[ '$reply' == 'LEAKWATCH/1 ERROR unsupported protocol'* ]]"
head -c 100000 /dev/urandom | timeout 5 socat -u - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$svc.sock" 2>/dev/null
check "the agent still serves after garbage" quiet "$LW" stats "$svc"
check "the service is unaffected" kill -0 "$svc"

# errors: one line, non-zero exit
expect_error() { # NAME PATTERN -- COMMAND...
  local name=$1 pattern=$2
  shift 3
  "$@" >out.txt 2>err.txt
  local rc=$?
  check "$name: non-zero exit" test "$rc" -ne 0
  check "$name: one line" test "$(wc -l <err.txt)" -eq 1
  check "$name: says '$pattern' ($(cat err.txt))" grep -q -- "$pattern" err.txt
}
expect_error "vanished pid" "no process with pid 999999" -- "$LW" stats 999999
expect_error "pid without agent" "is not running with the leakwatch agent" -- "$LW" stats $$
expect_error "not a pid" "'abc' is not a process id" -- "$LW" heap abc
expect_error "missing pid" "expected one PID" -- "$LW" trim
if command -v setpriv >/dev/null; then
  expect_error "another user's process" "belongs to another user" -- \
    setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_RUNTIME_DIR= "$LW" stats "$svc"
fi

# a stale socket (its process is gone) is removed by ps
: >"$XDG_RUNTIME_DIR/leakwatch/999999.sock"
"$LW" ps >/dev/null 2>&1
check "ps removes stale sockets" test ! -e "$XDG_RUNTIME_DIR/leakwatch/999999.sock"

# A socket file nobody listens on: stale (and removed) only when the process has no agent
# mapped; a live agent's socket is closed for a moment when the program took its descriptor.
bound_socket() { python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }
LD_PRELOAD="$AGENT" LEAKWATCH_CONTROL=0 sleep 30 &
quiet=$!
for _ in $(seq 100); do grep -q libleakwatch "/proc/$quiet/maps" 2>/dev/null && break; sleep 0.05; done
bound_socket "$XDG_RUNTIME_DIR/leakwatch/$quiet.sock"
expect_error "an agent not answering" "the agent of pid $quiet is not answering" -- "$LW" stats "$quiet"
check "its socket is left in place" test -S "$XDG_RUNTIME_DIR/leakwatch/$quiet.sock"
kill "$quiet"
wait "$quiet" 2>/dev/null
rm -f "$XDG_RUNTIME_DIR/leakwatch/$quiet.sock"
sleep 30 &
plain=$!
bound_socket "$XDG_RUNTIME_DIR/leakwatch/$plain.sock"
expect_error "a stale socket of a process without the agent" "removed a stale socket" -- "$LW" stats "$plain"
check "that socket is removed" test ! -e "$XDG_RUNTIME_DIR/leakwatch/$plain.sock"
kill "$plain"
wait "$plain" 2>/dev/null

# at exit the agent removes its socket
kill -TERM "$svc"
wait "$svc" 2>/dev/null
check "socket removed at exit" test ! -e "$XDG_RUNTIME_DIR/leakwatch/$svc.sock"

lw_test_end
