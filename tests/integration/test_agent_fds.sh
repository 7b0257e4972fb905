#!/usr/bin/env bash
# test_agent_fds.sh - the host's descriptors belong to the host (issue 13): the agent's own
# descriptors (control socket, HTTP listener, connections, wake-up pipe, stats log) sit at
# high numbers, are opened only when needed, and one the program closes or replaces is never
# used, written or closed by the agent again. Scenarios: the first open() of a program,
# bash's `exec 4>x.log` and `exec 3>file`, a daemon that closes 0..1023 and then serves
# clients while `leakwatch stats` asks its agent, a program putting its file on the agent's
# numbers (on the LEAKWATCH_LOG file's too), and fork children (closing 0, 1, 2; about to
# exec). Each runs at the default rate and at rate 1. LW_TEST_AGENT=path/to/libleakwatch.so
# runs the same checks against another agent (an older build, to see them fail).
. "$(dirname "$0")/lib.sh"
lw_test_begin agent-fds
AGENT=${LW_TEST_AGENT:-$AGENT}
F="$FIX/agent_fds"

# CPU ticks (utime + stime) of PID's thread named leakwatch; empty when it has none.
agent_thread_ticks() {
  local stat ticks=""
  for stat in /proc/"$1"/task/*/stat; do
    ticks=$(awk '/\(leakwatch\)/ { sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' \
      "$stat" 2>/dev/null)
    [ -n "$ticks" ] && { echo "$ticks"; return 0; }
  done
  return 1
}

# Runs `leakwatch stats PID` until it succeeds (the agent reopens a socket the program took
# within about a second), 20 s at most.
stats_answers() {
  for _ in $(seq 100); do
    "$LW" stats "$1" >stats.out 2>stats.err && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.2
  done
  echo "leakwatch stats $1: $(cat stats.err)" >&2
  return 1
}

expected=$("$F" first-open)
for rate in 512k 1; do
  export LEAKWATCH_RATE=$rate
  # ---- the program's first open() gets what it gets without the agent ----------------
  for setting in LEAKWATCH_CONTROL=1 LEAKWATCH_HTTP=127.0.0.1:0 LEAKWATCH_TRACK_FDS=1; do
    got=$(env "$setting" LD_PRELOAD="$AGENT" "$F" first-open 2>/dev/null)
    check "rate $rate, $setting: first open() as without the agent ($got, without: $expected)" \
      test "$got" = "$expected"
  done

  # ---- bash: exec 4>x.log, then exit: the file holds only what bash wrote -------------
  rm -f x.log
  LD_PRELOAD="$AGENT" bash -c 'exec 4>x.log; echo hello >&4'
  check "rate $rate: bash exec 4>x.log gets only its own bytes ($(od -An -c x.log | tr -s ' ' | head -c 80))" \
    test "$(od -An -c x.log)" = "$(printf 'hello\n' | od -An -c)"

  # ---- bash: exec 3>file, then waits: the agent thread stays idle ---------------------
  # (sleep is not the last command: bash would exec it instead of waiting)
  LD_PRELOAD="$AGENT" LEAKWATCH_HISTORY_INTERVAL=1s bash -c 'exec 3>file3; sleep 30; true' \
    2>bash3.err &
  sh_pid=$!
  pids+=("$sh_pid")
  before=""
  for _ in $(seq 100); do before=$(agent_thread_ticks "$sh_pid") && break; sleep 0.05; done
  sleep 4
  after=$(agent_thread_ticks "$sh_pid")
  check "rate $rate: bash exec 3>file: agent thread found (ticks $before -> $after)" \
    test -n "$before" -a -n "$after"
  # a spinning thread takes ~400 ticks in 4 s; an idle one wakes a few times a second
  check "rate $rate: bash exec 3>file: agent thread idle (${before:-?} -> ${after:-?} ticks in 4 s)" \
    test $((${after:-1000} - ${before:-0})) -lt 40
  lw_kill_tree "$sh_pid" # its sleep too, which would outlive the test
  wait "$sh_pid" 2>/dev/null

  # ---- a program puts its own file on every number the agent holds --------------------
  LD_PRELOAD="$AGENT" LEAKWATCH_HISTORY_INTERVAL=1s "$F" takeover takeover.file 4 \
    >takeover.out 2>takeover.err &
  tk=$!
  check "rate $rate: takeover: the agent opens a new control socket and answers" stats_answers "$tk"
  lw_wait_exit "$tk" 60
  check "rate $rate: takeover: exits 0 ($status)" test "$status" = 0
  ticks=$(sed -n 's/^agent thread cpu ticks: //p' takeover.out)
  check "rate $rate: takeover: agent thread idle meanwhile (${ticks:-?} ticks in 4 s)" \
    test "${ticks:-1000}" -lt 40
  check "rate $rate: takeover: the file holds only the program's lines ($(grep -cv '^program [0-9]*$' takeover.file) others)" \
    bash -c "! LC_ALL=C grep -qav '^program [0-9]*\$' takeover.file"

  # ---- the program puts its own file on the stats log's descriptor (LEAKWATCH_LOG) ----
  rm -f stats.log takeover-log.file
  LD_PRELOAD="$AGENT" LEAKWATCH_LOG="$work/stats.log" LEAKWATCH_LOG_INTERVAL=200ms \
    "$F" log-takeover stats.log takeover-log.file 2 >takeover-log.out 2>takeover-log.err
  check "rate $rate: log takeover: the program found the log's descriptor and exited 0 ($(cat takeover-log.err))" \
    grep -q '^log descriptor: ' takeover-log.out
  check "rate $rate: log takeover: the file holds only the program's line ($(grep -c leakwatch takeover-log.file) stats lines)" \
    bash -c "! LC_ALL=C grep -qav '^program [0-9]*\$' takeover-log.file"
  at=$(sed -n 's/^log bytes at takeover: //p' takeover-log.out)
  check "rate $rate: log takeover: the agent reopened its log and went on (${at:-?} -> $(stat -c %s stats.log) bytes)" \
    test "$(stat -c %s stats.log)" -gt "${at:-999999999}"
  check "rate $rate: log takeover: the log has only stats lines" \
    bash -c "! LC_ALL=C grep -qav '^leakwatch\[[0-9]*\] ' stats.log"

  # ---- fork children ----------------------------------------------------------------
  LD_PRELOAD="$AGENT" "$F" fork-close012 2.5 >fork012.out
  check "rate $rate: a fork child that closed 0, 1, 2 gets 0 from open() ($(tr '\n' ' ' <fork012.out))" \
    grep -qx "child first open: 0" fork012.out
  check "rate $rate: ... and, allocating past a second, its own agent thread" \
    grep -qx "child threads: 2" fork012.out
  LD_PRELOAD="$AGENT" "$F" fork-exec >forkexec.out
  check "rate $rate: a fork child about to exec starts no agent thread ($(cat forkexec.out))" \
    grep -qx "child threads: 1" forkexec.out
done
unset LEAKWATCH_RATE

# ---- the control socket's file removed (a /tmp cleaner): a new one is made ---------------
LD_PRELOAD="$AGENT" "$FIX/live_service" 60 >removed.out 2>removed.err &
svc=$!
pids+=("$svc")
if lw_wait_socket "$svc"; then
  rm -f "$XDG_RUNTIME_DIR/leakwatch/$svc.sock"
  check "control socket file removed: the agent makes a new one and answers" stats_answers "$svc"
else
  check "live_service creates its control socket" false
fi
kill "$svc" 2>/dev/null
wait "$svc" 2>/dev/null

# ---- the program uses every descriptor it may have, and a client calls: no busy loop -----
(
  ulimit -n 256 || exit 1
  LD_PRELOAD="$AGENT" exec "$FIX/agent_fds" exhaust 20
) >exhaust.out 2>exhaust.err &
ex=$!
pids+=("$ex")
for _ in $(seq 200); do grep -q exhausted exhaust.out 2>/dev/null && break; sleep 0.05; done
if grep -q exhausted exhaust.out && [ -S "$XDG_RUNTIME_DIR/leakwatch/$ex.sock" ]; then
  printf 'LEAKWATCH/1 info\n' | socat -t 15 - "UNIX-CONNECT:$XDG_RUNTIME_DIR/leakwatch/$ex.sock" \
    >/dev/null 2>&1 &
  pids+=($!)
  sleep 0.5
  before=$(agent_thread_ticks "$ex")
  sleep 4
  after=$(agent_thread_ticks "$ex")
  check "no descriptor left, a client waiting: agent thread idle (${before:-?} -> ${after:-?} ticks in 4 s)" \
    test -n "$before" -a $((${after:-1000} - ${before:-0})) -lt 40
else
  check "exhaust fixture starts with its control socket ($(cat exhaust.out exhaust.err))" false
fi
kill "$ex" 2>/dev/null
wait "$ex" 2>/dev/null

# ---- a daemon closes 0..1023, listens on 3 and serves clients ---------------------------
# With the machine's descriptor limit (the agent's numbers above 1023 survive) and with 1024
# (they are closed too: the agent notices and opens new ones).
limits=$(ulimit -n)
[ "$limits" -gt 1024 ] && limits="$limits 1024"
for limit in $limits; do
  for rate in 512k 1; do
    rm -f port.txt
    (
      ulimit -n "$limit" || exit 1
      LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_HISTORY_INTERVAL=1s \
        exec "$F" daemon port.txt 60
    ) 2>daemon.err &
    dm=$!
    pids+=("$dm")
    for _ in $(seq 200); do grep -q ready port.txt 2>/dev/null && break; sleep 0.05; done
    port=$(head -1 port.txt 2>/dev/null)
    check "limit $limit rate $rate: daemon listens on descriptor 3 ($(sed -n 2p port.txt 2>/dev/null))" \
      grep -q "ready listener=3" port.txt
    sleep 2 # the old agent thread would have woken and polled 3 by now
    wrong=0
    for _ in $(seq 30); do
      reply=$(socat -t 5 - "TCP:127.0.0.1:$port" </dev/null 2>/dev/null)
      [ "$reply" = daemon-reply ] || { wrong=$((wrong + 1)); echo "client got: '$reply'" >&2; }
    done
    check "limit $limit rate $rate: all 30 clients answered by the daemon ($wrong not)" test "$wrong" = 0
    check "limit $limit rate $rate: leakwatch stats answers" stats_answers "$dm"
    ok=0
    for _ in 1 2 3; do "$LW" stats "$dm" >/dev/null 2>&1 && ok=$((ok + 1)); done
    check "limit $limit rate $rate: ... every time ($ok of 3)" test "$ok" = 3
    check "limit $limit rate $rate: leakwatch ps lists it" bash -c "'$LW' ps --json | grep -q '\"pid\":$dm[,}]'"
    kill "$dm" 2>/dev/null
    wait "$dm" 2>/dev/null
  done
done

# ---- the daemon's own file lands on descriptor 2 ------------------------------------------
# Under limit 1024 the agent loses its descriptors and says so: never into that file, and it
# opens its control socket again only after the grace, with a line saying why... on a stderr
# that is the program's no more, that line is dropped.
for rate in 512k 1; do
  rm -f port.txt data.txt
  (
    ulimit -n 1024 || exit 1
    LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_LOG_INTERVAL=200ms \
      exec "$F" daemon port.txt 4 "$work/data.txt"
  ) 2>daemon.err &
  dm=$!
  pids+=("$dm")
  for _ in $(seq 200); do grep -q ready port.txt 2>/dev/null && break; sleep 0.05; done
  check "rate $rate: the data-file daemon started" grep -q "ready listener=3" port.txt
  check "rate $rate: the agent's control socket comes back after the grace" stats_answers "$dm"
  wait "$dm"
  rc=$?
  check "rate $rate: the daemon exits 0 ($rc)" test "$rc" = 0
  check "rate $rate: its file on descriptor 2 holds only its own lines ($(grep -vc '^program data$' data.txt) others)" \
    bash -c "! grep -qv '^program data\$' data.txt"
  check "rate $rate: ... both of them" test "$(grep -c '^program data$' data.txt)" = 2
done

lw_test_end
