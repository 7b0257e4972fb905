#!/usr/bin/env bash
# test_stack.sh - `leakwatch stack PID` (issue 14) on a process without the agent: a fixture
# with threads blocked in read, nanosleep, pthread_cond_wait, epoll_wait (with and without a
# timeout), accept, poll and a half-done write is inspected many times; every call must give
# the right groups and counts with named frames, and afterwards the fixture must have seen
# no EINTR, no early or short return and no signal in a handler. Then --all, the text
# layout, and the one-line refusals (no such process, not a PID, another user).
# About 15 s on an idle machine, 60-90 s on a 2-core one running other builds.
. "$(dirname "$0")/lib.sh"
lw_test_begin stack
lw_test_require jq "the test reads --json output"
RUNS=${LW_STACK_RUNS:-30}

# Yama's ptrace_scope 1 or more lets only root (or an ancestor) trace: then only the refusal
# can be checked here.
scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
if [ "$(id -u)" -ne 0 ] && [ "$scope" -ge 1 ]; then
  sleep 30 &
  target=$!
  pids+=("$target")
  "$LW" stack "$target" >yama.out 2>yama.err
  check "Yama ptrace_scope $scope: refused in one line naming it ($(cat yama.err))" \
    grep -q "Yama ptrace_scope is $scope" yama.err
  echo "SKIP: the other checks need ptrace (ptrace_scope $scope, not root)"
  lw_test_end
fi

mkfifo commands
exec 3<>commands # held open read-write: the fixture's input ends only when we close it
"$FIX/blocked_calls" <commands >fixture.out 2>fixture.err 3>&- &
fixture=$!
pids+=("$fixture")
for _ in $(seq 200); do grep -q ready fixture.out 2>/dev/null && break; sleep 0.05; done
check "the fixture started" grep -q ready fixture.out
# Every thread sleeps in its call (10 s at most): state S in each /proc/PID/task/TID/stat.
for _ in $(seq 200); do
  [ "$(cat /proc/"$fixture"/task/*/stat 2>/dev/null | grep -c ') S ')" -ge 30 ] && break
  sleep 0.05
done

# name=count for each group, sorted: what every call must print.
expected="acceptor=6 blocked_calls=1 epoller=5 poller=7 reader=2 sleeper=3 ticker=1 waiter=4 writer=1"
bad_groups=0 bad_frames=0 failed_calls=0 restarted=0 unstopped=0 max_stop=0
for i in $(seq "$RUNS"); do
  if ! "$LW" stack "$fixture" --json >run.json 2>run.err; then
    failed_calls=$((failed_calls + 1))
    echo "run $i: $(cat run.err)" >&2
    continue
  fi
  # One jq per call (the machine may be loaded): groups, calls, frames, capture figures.
  # Each waiting thread's frames: libc's call it waits in, then the fixture's function with
  # its file and line, and more libc frames below (the thread's start; named only where
  # libc's debug symbols are installed, so only the module is checked there).
  IFS='|' read -r groups calls frames_ok run_restarted run_unstopped stop < <(jq -r '
    def has_fn($g; $f): [$g.frames[] | select(.function != null and (.function | test($f)))] | length > 0;
    def line_in($g; $f): [$g.frames[] | select(.function == $f and (.file // "" | endswith("blocked_calls.c")) and .line > 0)] | length > 0;
    def libc_ends($g): $g.frames[0].module == "libc.so.6" and $g.frames[-1].module == "libc.so.6";
    [ ([.groups[] | "\(.names | join(","))=\(.count)"] | sort | join(" ")),
      ([.groups[] | select(.names[0] | IN("epoller", "acceptor", "reader", "waiter", "writer"))
        | "\(.names[0])=\(.syscall)"] | sort | join(" ")),
      ([.groups[] | . as $g | ($g.names[0]) as $n |
        if $n == "blocked_calls" then has_fn($g; "fgets") and line_in($g; "main")
        elif $n == "waiter" then has_fn($g; "pthread_cond_wait") and line_in($g; "waiter") and libc_ends($g)
        elif $n == "ticker" then line_in($g; $n)   # may be caught between two epoll_waits
        else line_in($g; $n) and libc_ends($g) end] | all),
      .capture.calls_restarted, .capture.read_without_pausing, .capture.pause_max_us
    ] | map(tostring) | join("|")' run.json)
  if [ "$groups" != "$expected" ]; then
    bad_groups=$((bad_groups + 1))
    echo "run $i: groups $groups" >&2
  fi
  if [ "$calls" != "acceptor=accept epoller=epoll_wait reader=read waiter=futex writer=write" ]; then
    bad_groups=$((bad_groups + 1))
    echo "run $i: system calls $calls" >&2
  fi
  if [ "$frames_ok" != true ]; then
    bad_frames=$((bad_frames + 1))
    echo "run $i: frames missing" >&2
    cp run.json "bad-frames-$i.json"
  fi
  restarted=$((restarted + run_restarted))
  unstopped=$((unstopped + run_unstopped))
  [ "$stop" -gt "$max_stop" ] && max_stop=$stop
done
check "$RUNS calls of leakwatch stack succeed ($failed_calls failed)" test "$failed_calls" = 0
check "every call groups the threads right: $expected ($bad_groups calls did not)" \
  test "$bad_groups" = 0
check "every call names each group's frames: the call, the fixture's function and line ($bad_frames did not)" \
  test "$bad_frames" = 0
check "the epoll_wait calls the stops ended with EINTR were made to run again ($restarted times)" \
  test "$restarted" -ge "$RUNS"
check "the thread blocked in a half-done write was read without stopping it ($unstopped times)" \
  test "$unstopped" -ge "$RUNS"
echo "longest a thread was held stopped over $RUNS calls: $max_stop us"

# What the fixture saw meanwhile: nothing.
echo report >&3
for _ in $(seq 100); do [ "$(grep -c eintr= fixture.out)" -ge 1 ] && break; sleep 0.05; done
counters=$(grep eintr= fixture.out | tail -1)
echo "fixture after $RUNS calls: $counters"
check "no call in the fixture saw EINTR ($counters)" grep -q 'eintr=0 ' <<<"$counters"
check "no call returned early ($counters)" grep -q ' early=0 ' <<<"$counters"
check "the blocked write was not cut short ($counters)" grep -q ' short=0 ' <<<"$counters"
check "no signal reached a handler ($counters)" grep -q ' signals=0 ' <<<"$counters"
ticks=$(sed -n 's/.*ticks=\([0-9]*\).*/\1/p' <<<"$counters")
check "the 50 ms epoll_wait timer kept ticking ($ticks ticks)" test "${ticks:-0}" -gt 10

# --all: every thread on its own, with its name, state and call.
"$LW" stack "$fixture" --all --json >all.json 2>all.err
check "--all --json lists 30 threads ($(jq '.threads | length' all.json 2>/dev/null))" \
  test "$(jq '.threads | length' all.json)" = 30
check "--all: the main thread is named, sleeping in read" \
  test "$(jq -r --argjson p "$fixture" '.threads[] | select(.tid == $p) | "\(.name) \(.state) \(.syscall)"' all.json)" = "blocked_calls sleeping read"
check "--all: every frame has an address, and the module of libc's frames is libc.so.6" \
  test "$(jq '[.threads[].frames[] | select(.address == null)] | length' all.json)" = 0 -a \
  "$(jq '[.threads[].frames[] | select((.function // "") | test("pthread_cond_wait")) | .module] | unique' -c all.json)" = '["libc.so.6"]'

# The text layout: largest group first, with its call, names and tids.
"$LW" stack "$fixture" >text.out 2>text.err
check "text: a header line with the thread and stack counts" \
  grep -q "^process $fixture: 30 threads, 9 distinct stacks$" text.out
first_group=$(grep -m1 'threads in' text.out)
check "text: the largest group first ($first_group)" \
  grep -Eq '^7 threads in (poll|restart_syscall \(resuming poll\)): poller \(tids [0-9][0-9, -]*\)$' <<<"$first_group"
check "text: a frame line with function, file:line" \
  grep -Eq '^  #[0-9]+ +epoller +/.*blocked_calls\.c:[0-9]+$' text.out
"$LW" stack "$fixture" --all >all.out 2>&1
check "text --all: one paragraph per thread" test "$(grep -c '^thread [0-9]* "' all.out)" = 30

exec 3>&- # end of input: the fixture prints its counters and exits 0
lw_wait_exit "$fixture" 30
check "the fixture exits 0 at the end of its input (status $status)" test "$status" = 0
check "... and saw nothing at the end either ($(tail -1 fixture.out))" \
  grep -q 'eintr=0 early=0 short=0 signals=0' <<<"$(tail -1 fixture.out)"

# ---- signals that arrive while a thread is seized are passed on ---------------------------
mkfifo signal-commands
exec 4<>signal-commands
"$FIX/queued_signals" <signal-commands >signals.out 2>&1 3>&- 4>&- &
signals=$!
pids+=("$signals")
for _ in $(seq 200); do grep -q ready signals.out 2>/dev/null && break; sleep 0.05; done
passed_on=0
for _ in $(seq 15); do
  n=$("$LW" stack "$signals" --json 2>>signals.err | jq .capture.signals_passed_on)
  passed_on=$((passed_on + ${n:-0}))
done
echo report >&4
for _ in $(seq 200); do grep -q sent= signals.out && break; sleep 0.05; done
line=$(grep sent= signals.out)
echo "queued signals: $line; $passed_on arrived during a stop and were passed on"
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$line")
got=$(sed -n 's/.*got=\([0-9]*\).*/\1/p' <<<"$line")
check "every queued signal sent while 15 calls read the process reached its handler ($line)" \
  test -n "$sent" -a "$sent" = "$got" -a "${sent:-0}" -gt 0
check "... and the threads that block it saw no EINTR ($line)" grep -q 'eintr=0$' <<<"$line"
exec 4>&-
lw_wait_exit "$signals" 30

# ---- a main thread that ended with pthread_exit ---------------------------------------------
"$FIX/leader_exited" >leader.out 2>&1 &
leader=$!
pids+=("$leader")
for _ in $(seq 200); do
  grep -q ready leader.out 2>/dev/null && grep -q ') Z ' /proc/"$leader"/stat 2>/dev/null && break
  sleep 0.05
done
"$LW" stack "$leader" --json >leader.json 2>leader.err
check "a zombie main thread: the process is read through its live threads ($(cat leader.err) $(jq -c '[.groups[] | [.count, .state, .syscall]]' leader.json 2>/dev/null))" \
  test "$(jq -c '[.groups[] | [.count, .state, .syscall]]' leader.json)" = '[[2,"sleeping","pause"],[1,"zombie",null]]'
check "... with the live threads' frames named" \
  test "$(jq -r '[.groups[0].frames[] | select(.function == "wait_forever")] | length' leader.json)" = 1
kill "$leader"

# ---- C++: demangled names and inlined frames ----------------------------------------------
"$FIX/cxx_blocked" >cxx.out 2>&1 &
cxx=$!
pids+=("$cxx")
for _ in $(seq 200); do
  grep -q ready cxx.out 2>/dev/null && [ "$(ls /proc/"$cxx"/task | wc -l)" -ge 4 ] && break
  sleep 0.05
done
sleep 0.2 # the workers reach their read()
"$LW" stack "$cxx" --json >cxx.json 2>cxx.err
check "C++: three workers grouped, in read ($(jq -c '[.groups[] | [.count, .syscall]]' cxx.json 2>/dev/null))" \
  test "$(jq -r '.groups[0] | "\(.count) \(.syscall)"' cxx.json)" = "3 read"
check "C++: a template member function demangled, with its line" \
  test "$(jq -r '[.groups[0].frames[] | select(.function == "shop::Queue<int>::pop()" and .inlined == false and (.file | endswith("cxx_blocked.cpp")) and .line > 0)] | length' cxx.json)" = 1
check "C++: the inline function it was called from shows as an inlined frame" \
  test "$(jq -r '[.groups[0].frames[] | select((.function // "" | startswith("shop::take_order")) and .inlined == true)] | length' cxx.json)" = 1
kill "$cxx"

# ---- refusals: one line, non-zero ---------------------------------------------------------
"$LW" stack 4194304 >none.out 2>none.err
status=$?
check "no such process: exit 1, one line ($(cat none.err))" \
  test "$status" = 1 -a "$(wc -l <none.err)" = 1 -a -n "$(grep 'no process 4194304' none.err)"
"$LW" stack nothing >usage.out 2>usage.err
check "a PID that is not a number: usage error (exit 2)" test $? = 2
quiet "$LW" stack --help
check "--help exits 0" test $? = 0
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  sleep 60 &
  sleeper=$!
  pids+=("$sleeper")
  setpriv --reuid=65534 --regid=65534 --clear-groups "$LW" stack "$sleeper" >other.out 2>other.err
  status=$?
  check "another user's process: exit 1 and says whose it is ($(cat other.err))" \
    test "$status" = 1 -a -n "$(grep 'belongs to user root' other.err)"
  kill "$sleeper"
  setpriv --reuid=65534 --regid=65534 --clear-groups sleep 60 &
  nobody=$!
  pids+=("$nobody")
  sleep 0.2
  setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace "$LW" stack "$nobody" >nocap.out 2>nocap.err
  status=$?
  check "root without CAP_SYS_PTRACE, another user's process: says the capability is missing ($(cat nocap.err))" \
    test "$status" = 1 -a -n "$(grep 'CAP_SYS_PTRACE is missing' nocap.err)"
  kill "$nobody"
fi
# A 32-bit program (an i386 ELF written here: pause() in a loop) is refused by name.
command -v python3 >/dev/null && python3 - <<'PY'
import struct
base, code = 0x08048000, bytes.fromhex("b81d000000" "cd80" "ebf7")  # eax=29 (pause); int 0x80; jmp
ehdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
ehdr += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + 84, 52, 0, 0, 52, 32, 1, 40, 0, 0)
ph = struct.pack("<8I", 1, 0, base, base, 84 + len(code), 84 + len(code), 5, 0x1000)
open("pause32", "wb").write(ehdr + ph + code)
PY
chmod +x pause32 2>/dev/null
./pause32 2>/dev/null &
p32=$!
pids+=("$p32")
sleep 0.2
if kill -0 "$p32" 2>/dev/null; then
  "$LW" stack "$p32" >p32.out 2>p32.err
  status=$?
  check "a 32-bit program: refused in one line ($(cat p32.err))" \
    test "$status" = 1 -a -n "$(grep 'runs a 32-bit (i386) program' p32.err)"
  kill "$p32"
else
  echo "SKIP: this kernel does not run 32-bit programs (no IA32 emulation)"
fi
kthread=$(grep -l '^Kthread:[[:space:]]*1' /proc/[0-9]*/status 2>/dev/null | head -1 | cut -d/ -f3)
if [ -n "$kthread" ] && [ "$(id -u)" -eq 0 ]; then # none visible in a PID namespace
  "$LW" stack "$kthread" >kthread.out 2>kthread.err
  check "a kernel thread: says so ($(cat kthread.err))" grep -q 'kernel thread' kthread.err
fi
lw_test_end
