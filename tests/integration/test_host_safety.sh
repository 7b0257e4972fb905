#!/usr/bin/env bash
# test_host_safety.sh - the agent leaves the host program as it would run without it
# (issue 13): errno untouched, exit() from a signal handler that interrupted the agent,
# threads with 16-24 KiB stacks (dlclose, exit), threads that allocate after the agent's
# last exit round, counters that never go down, bounded memory for unloaded libraries,
# descriptor functions and C++ operators resolved at start-up, and bootstrap blocks kept
# from the real allocator (with a dlsym-interposing library preloaded ahead of the agent).
# LW_TEST_AGENT=path runs it against another agent build (to see an old one fail).
. "$(dirname "$0")/lib.sh"
lw_test_begin host-safety
AGENT=${LW_TEST_AGENT:-$AGENT}
DEFAULT_RATE=524288

# agent SECONDS VAR=VALUE... PROGRAM ARGS...: runs PROGRAM under the agent, killed after
# SECONDS. env (not the shell) sets LD_PRELOAD, so timeout itself runs without the agent,
# and the program owns the plain LEAKWATCH_OUTPUT name.
agent() {
  local seconds=$1
  shift
  timeout -s KILL "$seconds" env LD_PRELOAD="$AGENT" "$@"
}

says_ok() { # FILE: the fixture's output is exactly "ok"
  [ "$(cat "$1")" = ok ] || { echo "--- $1:" >&2; head -5 "$1" >&2; return 1; }
}

# A profile the CLI can read (that names FUNCTION, when given: at the default rate the
# fixture's few allocations are seldom sampled).
readable_profile() { # FILE [FUNCTION]
  [ -s "$1" ] && "$LW" top "$1" >top.out 2>&1 && grep -q "${2:-Showing}" top.out
}

for rate in 1 $DEFAULT_RATE; do
  # errno: at main's entry, after a fork child's and a new thread's first (sampled)
  # allocation, after successful free/realloc/calloc and descriptor calls (tracked).
  agent 120 LEAKWATCH_RATE=$rate LEAKWATCH_TRACK_FDS=1 LEAKWATCH_OUTPUT="$work/errno.pb.gz" \
    "$FIX/errno_kept" >errno.out 2>&1
  check "errno unchanged by the agent (rate $rate)" says_ok errno.out

  # dlclose on a thread whose whole stack is 16 KiB.
  agent 120 LEAKWATCH_RATE=$rate LEAKWATCH_TRACK_FDS=1 \
    "$FIX/small_stack" dlclose "$FIX/libplugin_leak.so" 16 >dlclose.out 2>&1
  check "dlclose on a 16 KiB stack (rate $rate)" says_ok dlclose.out

  # exit() from a thread with a 16 or 24 KiB stack: the exit profile is written and valid.
  for kib in 16 24; do
    rm -f exit.pb.gz
    agent 120 LEAKWATCH_RATE=$rate LEAKWATCH_TRACK_FDS=1 LEAKWATCH_OUTPUT="$work/exit.pb.gz" \
      "$FIX/small_stack" exit $kib >exit.out 2>&1
    check "exit() on a $kib KiB stack exits 0 (rate $rate)" test $? -eq 0
    wanted=allocate_some
    [ $rate = 1 ] || wanted=
    check "exit() on a $kib KiB stack writes a valid profile (rate $rate)" \
      readable_profile exit.pb.gz $wanted
  done

  # Threads whose key destructors allocate in every round glibc runs.
  agent 120 LEAKWATCH_RATE=$rate "$FIX/exit_rounds" "$work/rounds.pb.gz" >rounds.out 2>&1
  check "no thread registers again after its exit rounds (rate $rate)" says_ok rounds.out
done

# Exact mode also classifies reachability at exit, scanning the exiting thread's stack.
rm -f exit.pb.gz
agent 120 LEAKWATCH_RATE=1 LEAKWATCH_REACHABILITY=1 LEAKWATCH_OUTPUT="$work/exit.pb.gz" \
  "$FIX/small_stack" exit 16 >exit.out 2>&1
check "exit() on a 16 KiB stack with reachability" readable_profile exit.pb.gz allocate_some

# exit() from a SIGALRM handler in a tight malloc/free loop: the handler interrupts the
# agent (mostly, at rate 1) or the allocator itself (mostly, at the default rate), either
# of which may hold a lock the exit profile needs. Every run must end, with status 0, and
# say at most one line: that no profile was written.
exit_runs() { # RATE RUNS
  local hung=0 bad=0 noisy=0 i status
  for i in $(seq "$2"); do
    agent 60 LEAKWATCH_RATE=$1 LEAKWATCH_OUTPUT="$work/alarm.pb.gz" \
      "$FIX/exit_in_handler" $((300 + i * 137 % 4000)) >alarm.out 2>alarm.err
    status=$?
    if [ $status -eq 137 ]; then
      hung=$((hung + 1))
    elif [ $status -ne 0 ]; then
      bad=$((bad + 1))
    fi
    if [ -s alarm.err ] &&
      ! grep -qx "leakwatch\[[0-9]*\]: exit during an allocation: no profile written" alarm.err; then
      noisy=$((noisy + 1))
      head -3 alarm.err >&2
    fi
  done
  [ $hung -eq 0 ] && [ $bad -eq 0 ] && [ $noisy -eq 0 ] ||
    { echo "rate $1: $hung of $2 runs hung, $bad failed, $noisy said more" >&2; return 1; }
}
check "exit() from a signal handler never hangs (rate 1, 40 runs)" exit_runs 1 40
check "exit() from a signal handler never hangs (default rate, 20 runs)" exit_runs $DEFAULT_RATE 20

# The same with the allocator in a system call, holding the arena lock: malloc's mmap
# (blocks above the mmap threshold), malloc's and free's brk (the heap grown and trimmed
# at each block), every other run. Just after a syscall instruction is no safer than
# anywhere else in malloc: the agent used to look up __cxa_demangle there, whose failure
# allocates (6 runs in 20 hung at the default rate with mmap, 21 in 40 at rate 1 with brk).
# Stops at the first hang (a run takes some 40 ms; one that has not ended in 20 s hung).
syscall_exit_runs() { # RATE RUNS
  local i status said=0 mode
  for i in $(seq "$2"); do
    mode=mmap
    [ $((i % 2)) = 0 ] && mode=trim
    agent 20 LEAKWATCH_RATE=$1 LEAKWATCH_OUTPUT="$work/mmap.pb.gz" \
      "$FIX/exit_in_handler" $((2000 + i * 617 % 18000)) $mode >mmap.out 2>mmap.err
    status=$?
    if [ $status -ne 0 ]; then
      echo "rate $1, run $i of $2 ($mode): status $status ($(head -c 200 mmap.err))" >&2
      return 1
    fi
    if [ -s mmap.err ]; then
      grep -qx "leakwatch\[[0-9]*\]: exit during an allocation: no profile written" mmap.err ||
        { echo "rate $1, run $i: $(head -3 mmap.err)" >&2; return 1; }
      said=$((said + 1))
    fi
  done
  echo "rate $1: $2 runs ended, $said said no profile was written" >&2
}
SYSCALL_RUNS=${LW_TEST_SYSCALL_RUNS:-200}
for rate in 1 $DEFAULT_RATE; do
  check "exit() from a handler that interrupted malloc's mmap or brk never hangs (rate $rate, $SYSCALL_RUNS runs)" \
    syscall_exit_runs $rate "$SYSCALL_RUNS"
done

# The usual time-out pattern, a handler that exits while the program waits in pause():
# nothing is held, so the profile is written, and nothing is said.
for rate in 1 $DEFAULT_RATE; do
  rm -f pause.pb.gz
  agent 60 LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/pause.pb.gz" \
    "$FIX/exit_in_handler" 20000 pause >pause.out 2>pause.err
  check "exit() from a handler during pause() exits 0 (rate $rate)" test $? -eq 0
  check "exit() from a handler during pause() writes the profile (rate $rate)" \
    readable_profile pause.pb.gz
  check "exit() from a handler during pause() says nothing (rate $rate)" test ! -s pause.err
  # A plain exit() with copies of struct sigaction (restorer included) on the stack.
  rm -f plain.pb.gz
  agent 60 LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/plain.pb.gz" \
    "$FIX/exit_in_handler" 0 plain >plain.out 2>plain.err
  check "plain exit() with sigactions on the stack writes the profile (rate $rate)" \
    readable_profile plain.pb.gz
  check "plain exit() with sigactions on the stack says nothing (rate $rate)" test ! -s plain.err
done

# The *_total counters never go down while threads allocate, free and exit.
for rate in 1 4096 $DEFAULT_RATE; do
  agent 240 LEAKWATCH_RATE=$rate "$FIX/stats_monotonic" 20000 >stats.out 2>&1
  check "lw_stats counters never decrease (rate $rate)" says_ok stats.out
done

# 5000 dlopen/dlclose rounds of one library: the agent's memory stays where it was after 200.
bounded_unloads() {
  agent 240 "$FIX/dlopen_loop" "$FIX/libplugin_leak.so" 5000 >loop.out 2>&1 ||
    { cat loop.out >&2; return 1; }
  read -r word start end <loop.out
  [ "$word" = memory ] && [ $((end - start)) -lt 262144 ] ||
    { echo "agent memory after 200 rounds and 5000: $(cat loop.out)" >&2; return 1; }
}
check "retired mappings stay bounded over 5000 dlclose" bounded_unloads

# A dlsym-interposing library ahead of the agent: the agent's lookups go through it, it
# keeps blocks the agent's bootstrap arena served and frees them later; descriptor
# functions are all looked up before main (none in a fork child or a signal handler). With
# DLSYM_SHIM_CLOSE=1 it also calls dlclose while the agent is still resolving. (The agent's
# own lines on stderr, such as its notice that the host's closefrom(1000) took its control
# socket, are not what these look at.)
for close in 0 1; do
  for fds in 0 1; do
    timeout -s KILL 120 env DLSYM_SHIM_CLOSE=$close LEAKWATCH_TRACK_FDS=$fds \
      LD_PRELOAD="$FIX/libdlsym_shim.so $AGENT" "$FIX/dlsym_shim_host" >shim.out 2>shim.err
    check "dlsym shim ahead of the agent (close $close, fd tracking $fds)" says_ok shim.out
  done
done

# The same shim, with libstdc++ preloaded after the agent (a C++ program's runtime): the
# C++ operators, first called in a signal handler and in a fork child, were all looked up
# before main (they were looked up on first call, there). And a thread's fopen made while
# the agent looks up its descriptor functions waits for them (it failed with ENOSYS).
for rate in 1 $DEFAULT_RATE; do
  timeout -s KILL 120 env SHIM_HOST_OPERATORS=1 LEAKWATCH_RATE=$rate \
    LD_PRELOAD="$FIX/libdlsym_shim.so $AGENT libstdc++.so.6" "$FIX/dlsym_shim_host" \
    >shim.out 2>shim.err
  check "C++ operators looked up before main, not in a handler or fork child (rate $rate)" \
    says_ok shim.out
  timeout -s KILL 120 env DLSYM_SHIM_RACE=1 LEAKWATCH_RATE=$rate \
    LD_PRELOAD="$FIX/libdlsym_shim.so $AGENT" "$FIX/dlsym_shim_host" >shim.out 2>shim.err
  check "fopen on another thread while the agent resolves succeeds (rate $rate)" says_ok shim.out
done

lw_test_end
