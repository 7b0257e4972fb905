#!/usr/bin/env bash
# test_attach_refusals.sh - `leakwatch attach/detach` refuse, with one line naming the
# cause, every process they must not enter, and leave it as it was (issue 14): no such
# process, a stopped one, a 32-bit, a statically linked, a setuid program, another user's
# process (and root without CAP_SYS_PTRACE), a seccomp-filtered one, one being traced, one
# started with the agent, one whose libc was replaced on disk, one that exits during the
# attach; detach of a process with
# nothing attached. The attach library here is a stand-in (tests/fixtures/libattach_probe.c)
# that records its calls; test_attach_kill.sh covers the injection itself.
. "$(dirname "$0")/lib.sh"
lw_test_begin attach-refusals
PROBE="$FIX/libattach_probe.so"
chmod 711 "$work"

one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }
# refused WHAT PATTERN COMMAND...: fails with exit 1 and one line matching PATTERN.
refused() {
  local what=$1 pattern=$2
  shift 2
  "$@" >refusal.out 2>refusal.err
  local rc=$?
  check "$what: exit 1 (got $rc)" test "$rc" -eq 1
  check "$what: one line" one_line refusal.err
  grep -q "^leakwatch: .*$pattern" refusal.err || cat refusal.err >&2
  check "$what: says why" grep -q "^leakwatch: .*$pattern" refusal.err
}
# start_target [PREFIX...] -> $target, $port: inject_host serving a free port.
start_target() {
  port=$(lw_free_port) || exit 1
  "$@" env ATTACH_PROBE_LOG="$work/probe.log" "$FIX/inject_host" "$port" \
    ${seccomp:+seccomp} >"$work/target.out" 2>&1 &
  target=$!
  pids+=("$target")
  lw_wait_port "$port" "$target" || exit 1
}
answers() { # PORT [any]: the target still serves, with no EINTR and no corrupted
  # computation; with "any", EINTR is allowed (SIGSTOP/SIGCONT and strace cause them)
  local reply eintr=0
  [ -z "${2:-}" ] || eintr='[0-9]+'
  reply=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"'; echo ping >&3; head -1 <&3')
  [[ "$reply" =~ ^pong\ $eintr\ 0\ [0-9]+$ ]] || { echo "reply: '$reply'" >&2; return 1; }
}

wait_state() { # PID STATE: until every thread of PID shows it (20 s): a group stop reaches
  # the threads one by one, and a loaded machine shows the main thread stopped first
  local others
  for _ in $(seq 400); do
    others=$(grep -L "^State:.$2" /proc/"$1"/task/*/status 2>/dev/null)
    [ -z "$others" ] && grep -q "^State:.$2" "/proc/$1/status" && return 0
    sleep 0.05
  done
  return 1
}
wait_exec() { # PID NAME: until the background job has exec'd into NAME (5 s)
  for _ in $(seq 100); do [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && return 0; sleep 0.05; done
  return 1
}
gone=$(sh -c 'echo $$')
refused "no such process" "pid $gone: no such process" "$LW" attach "$gone" --agent "$PROBE"

start_target
kill -STOP "$target"
wait_state "$target" T
refused "stopped" "pid $target is stopped (state T): resume it first" \
  "$LW" attach "$target" --agent "$PROBE"
kill -CONT "$target"
check "stopped: still answers once resumed" answers "$port" any
refused "detach, nothing attached" "pid $target has no attached agent" \
  "$LW" detach "$target" --agent "$PROBE"
strace -p "$target" -o /dev/null 2>/dev/null &
tracer=$!
pids+=("$tracer")
for _ in $(seq 100); do grep -q "TracerPid:.[1-9]" "/proc/$target/status" && break; sleep 0.05; done
refused "traced" "already traced by pid $tracer (a debugger or strace)" \
  "$LW" attach "$target" --agent "$PROBE"
kill "$tracer"
wait "$tracer" 2>/dev/null
check "traced: still answers" answers "$port" any
check "no refusal called the library" test ! -e probe.log
kill "$target"

# Exits while leakwatch is between writing its code and stopping a thread.
start_target
LEAKWATCH_ATTACH_PAUSE_AT=written:2 "$LW" attach "$target" --agent "$PROBE" >exit.out 2>exit.err &
attacher=$!
for _ in $(seq 200); do grep -q "stage written" exit.err && break; sleep 0.05; done
kill -KILL "$target"
wait "$target" 2>/dev/null
lw_wait_exit "$attacher" 30
check "exits during the attach: exit 1" test "$status" -eq 1
check "exits during the attach: says so" grep -q "pid $target exited during the attach" exit.err

# Started with the agent: attach and detach both refuse.
start_target env LD_PRELOAD="$AGENT"
refused "preloaded" "pid $target is already running the agent (started with it preloaded)" \
  "$LW" attach "$target"
refused "preloaded: detach" "was started with the agent (preloaded), not attached" \
  "$LW" detach "$target"
kill "$target"

seccomp=1 start_target
refused "seccomp" "runs under a seccomp filter (Seccomp: 2)" "$LW" attach "$target" --agent "$PROBE"
check "seccomp: still answers" answers "$port"
kill "$target"
unset seccomp

# Its C library replaced on disk since it started (an upgrade): a copy, loaded, then removed.
mkdir oldlibc
cp "$(ldd "$FIX/inject_host" | awk '/libc.so.6/ {print $3}')" oldlibc/
start_target env LD_LIBRARY_PATH="$work/oldlibc"
rm -r oldlibc
refused "libc replaced on disk" "its C library was replaced on disk after it started" \
  "$LW" attach "$target" --agent "$PROBE"
check "libc replaced: still answers" answers "$port"
kill "$target"

# A statically linked program, and a 32-bit one (an i386 ELF that loops in pause()).
printf '#include <unistd.h>\nint main(void){for(;;)pause();}\n' >static.c
if cc -static -o static_target static.c 2>/dev/null; then
  ./static_target &
  static_pid=$!
  pids+=("$static_pid")
  wait_exec "$static_pid" static_target
  refused "static" "pid $static_pid is statically linked" "$LW" attach "$static_pid" --agent "$PROBE"
  check "static: still running" kill -0 "$static_pid"
else
  echo "note: no static libc to link a static program with; that case is not checked"
fi
python3 - <<'PY'
import os, struct
base, code = 0x08048000, bytes.fromhex("b81d000000" "cd80" "ebf7")  # pause(); again
size = 52 + 32 + len(code)
ehdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
ehdr += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + 84, 52, 0, 0, 52, 32, 1, 40, 0, 0)
ph = struct.pack("<8I", 1, 0, base, base, size, size, 5, 0x1000)
open("i386_target", "wb").write(ehdr + ph + code)
os.chmod("i386_target", 0o755)
PY
./i386_target &
i386_pid=$!
pids+=("$i386_pid")
wait_exec "$i386_pid" i386_target
refused "32-bit" "pid $i386_pid is a 32-bit program (i386)" "$LW" attach "$i386_pid" --agent "$PROBE"
check "32-bit: still running" kill -0 "$i386_pid"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  # setpriv itself, not a function: $! must be the process that execs into the target
  start_target setpriv --reuid=65534 --regid=65534 --clear-groups
  refused "another user" "pid $target belongs to user nobody (uid 65534): run leakwatch as that user or as root" \
    setpriv --reuid=65533 --regid=65533 --clear-groups "$LW" attach "$target" --agent "$PROBE"
  refused "root without CAP_SYS_PTRACE" "belongs to user nobody (uid 65534), and this root has no CAP_SYS_PTRACE" \
    setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace "$LW" attach "$target" --agent "$PROBE"
  check "another user: still answers" answers "$port"
  # root may: the same process, attached and detached.
  "$LW" attach "$target" --agent "$PROBE" >root.out 2>&1
  check "root attaches to nobody's process" grep -q "agent attached" root.out
  "$LW" detach "$target" --agent "$PROBE" >root.out 2>&1
  check "root detaches" grep -q "agent detached" root.out
  check "nobody's process still answers" answers "$port"
  kill "$target"
  # setuid: a copy of the target owned by root with the setuid bit, started by nobody.
  cp "$FIX/inject_host" suid_target
  chmod 4755 suid_target
  port=$(lw_free_port) || exit 1
  setpriv --reuid=65534 --regid=65534 --clear-groups ./suid_target "$port" >suid.out 2>&1 &
  target=$!
  pids+=("$target")
  lw_wait_port "$port" "$target" || exit 1
  refused "setuid" "pid $target runs setuid/setgid (real uid 65534, effective 0" \
    "$LW" attach "$target" --agent "$PROBE"
  check "setuid: still answers" answers "$port"
else
  echo "note: not root: other users and setuid are not checked"
fi
lw_test_end
