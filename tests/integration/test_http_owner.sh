#!/usr/bin/env bash
# test_http_owner.sh - which process serves LEAKWATCH_HTTP when a whole tree inherits it
# (issue 13): a shell's children stay quiet (each used to print "Address already in use"),
# a wrapper such as timeout leaves the port to the program it runs, LEAKWATCH_HTTP_PROGRAM
# names the program that serves, fork children never serve their parent's endpoint, and
# when someone else holds the port the message names it (pid and program). At the default
# rate and at rate 1.
. "$(dirname "$0")/lib.sh"
lw_test_begin http-owner
AGENT=${LW_TEST_AGENT:-$AGENT} # LW_TEST_AGENT=an older libleakwatch.so shows what this fixes
lw_test_require curl "talks to the HTTP endpoint"
lw_test_require socat "holds a port as a foreign program"

endpoint_lines() { grep -c 'HTTP endpoint on' "$1"; }
complaints() { grep -c 'cannot serve HTTP\|Address already in use' "$1"; }

for rate in 524288 1; do
  export LEAKWATCH_RATE=$rate
  port=$(lw_free_port) || exit 1

  # A shell and its commands: the shell serves, the commands say nothing.
  LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" \
    bash -c 'ls / >/dev/null; cat /dev/null; /bin/true; echo done' >shell.out 2>shell.err
  check "rate $rate: the shell's commands ran" grep -q done shell.out
  check "rate $rate: one endpoint for the shell's tree" test "$(endpoint_lines shell.err)" -eq 1
  check "rate $rate: the shell serves it, and says so" grep -q 'HTTP endpoint on .*(pid [0-9]*, bash)' shell.err
  check "rate $rate: the shell's commands are quiet" test "$(complaints shell.err)" -eq 0

  # timeout runs the program the user meant: that program serves.
  rm -f stop
  LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" \
    timeout 120 "$FIX/fork_latency" 4 0 "$work/stop" >wrapped.out 2>wrapped.err &
  wrapper=$!
  pids+=("$wrapper")
  lw_wait_http wrapped.err wrapped.out
  cmdline=$(curl -s --max-time 30 "http://$addr/debug/pprof/cmdline" | tr '\0' ' ')
  served_by_program() { [[ $cmdline == *fork_latency* && $cmdline != timeout* ]]; }
  check "rate $rate: under timeout, the program serves ($cmdline)" served_by_program
  check "rate $rate: under timeout, one endpoint and no complaint" \
    test "$(endpoint_lines wrapped.err)" -eq 1 -a "$(complaints wrapped.err)" -eq 0
  touch stop
  lw_wait_exit "$wrapper" 60

  # LEAKWATCH_HTTP_PROGRAM: only that program serves, wherever it is in the tree.
  rm -f stop
  LEAKWATCH_HTTP_PROGRAM=fork_latency LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" \
    bash -c "ls / >/dev/null; '$FIX/fork_latency' 4 0 '$work/stop'; echo done" >named.out 2>named.err &
  named=$!
  pids+=("$named")
  lw_wait_http named.err named.out
  check "rate $rate: LEAKWATCH_HTTP_PROGRAM's program serves" \
    grep -q 'HTTP endpoint on .*, fork_latency)' named.err
  check "rate $rate: the others are quiet" \
    test "$(endpoint_lines named.err)" -eq 1 -a "$(complaints named.err)" -eq 0
  touch stop
  lw_wait_exit "$named" 60

  # Fork children of the process that serves: quiet (40 forks, every 10th child exits
  # through exit() and so runs the agent's whole life in the child).
  LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" \
    "$FIX/fork_latency" 4 40 - 10 >forks.out 2>forks.err
  check "rate $rate: a forking program forked" grep -q '^forks 40 ' forks.out
  check "rate $rate: its children are quiet" \
    test "$(endpoint_lines forks.err)" -eq 1 -a "$(complaints forks.err)" -eq 0

  # A forked subshell of the shell that serves: its agent reports no HTTP address of its
  # own (it used to show its parent's). At rate 1 only: a fork child starts its agent thread
  # (and socket) at its first sampled allocation.
  if [ "$rate" = 1 ]; then
    rm -f stop
    LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" \
      bash -c "(while [ ! -e '$work/stop' ]; do sleep 0.1; done); echo done" >sub.out 2>sub.err &
    shell=$!
    pids+=("$shell")
    sub=""
    for _ in $(seq 200); do
      sub=$(pgrep -P "$shell" -x bash | head -1)
      [ -n "$sub" ] && [ -S "$XDG_RUNTIME_DIR/leakwatch/$sub.sock" ] && break
      sleep 0.05
    done
    "$LW" ps --json >sub.json 2>/dev/null
    check "rate $rate: the shell shows its address in ps" \
      grep -q "\"pid\":$shell,.*\"http\":\"127.0.0.1:$port\"" sub.json
    check "rate $rate: its forked subshell shows none" \
      grep -q "\"pid\":${sub:-0},.*\"http\":\"\"" sub.json
    touch stop
    lw_wait_exit "$shell" 60
  fi

  # Someone else holds the port: the message names it.
  socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork SYSTEM:true >/dev/null 2>&1 &
  holder=$!
  pids+=("$holder")
  lw_wait_port "$port" "$holder" || exit 1
  LEAKWATCH_HTTP=127.0.0.1:$port LD_PRELOAD="$AGENT" /bin/true 2>foreign.err
  check "rate $rate: a foreign holder is named (pid $holder, socat)" \
    grep -q "cannot serve HTTP on 127.0.0.1:$port: the address is in use by pid $holder (socat)" foreign.err
  kill "$holder"
  wait "$holder" 2>/dev/null
done

# IPv6 loopback, when the machine has it.
port=$(lw_free_port) || exit 1
socat TCP6-LISTEN:"$port",bind='[::1]',reuseaddr,fork SYSTEM:true >/dev/null 2>&1 &
holder=$!
pids+=("$holder")
listening6() { # until socat accepts on [::1]:port, or it exited (no IPv6)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/::1/$port") 2>/dev/null && return 0
    kill -0 "$holder" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
if listening6; then
  LEAKWATCH_HTTP="[::1]:$port" LD_PRELOAD="$AGENT" /bin/true 2>foreign6.err
  check "IPv6: a foreign holder is named" grep -q "in use by pid $holder (socat)" foreign6.err
  kill "$holder"
else
  echo "SKIP: no IPv6 loopback"
fi
lw_test_end
