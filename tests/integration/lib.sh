# lib.sh - what the shell integration tests share (sourced, not run): paths to the build,
# a scratch directory that is removed at exit together with the processes a test started,
# check/quiet, waiting for an agent's socket or HTTP endpoint, free loopback ports and
# servers that listen on them or exit, and the summary line. tests/compat uses it too.
#
#   . "$(dirname "$0")/lib.sh"; lw_test_begin NAME
#   ... check "what must hold" COMMAND ARGS... ...
#   lw_test_end
# shellcheck shell=bash
set -u
LW="$LW_BUILD_DIR/bin/leakwatch"
AGENT="$LW_BUILD_DIR/lib/libleakwatch.so"
FIX="$LW_BUILD_DIR/tests/fixtures"
passed=0
failed=0
pids=() # processes to kill at exit

lw_test_cleanup() {
  # Only the test's own shell cleans up. In the compat suite's rare failures (nginx and
  # memcached, with and without the agent: "no such file" for the scratch directory) bash
  # reported this function's kill/wait from a shell that did not own the jobs, i.e. a
  # subshell ran this EXIT trap and removed the directory under the running test.
  [ "$BASHPID" = "$$" ] || return 0
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ -n "${LW_TEST_KEEP:-}" ]; then
    echo "LW_TEST_KEEP: scratch directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}

# A scratch directory (the current directory from now on) with a private socket directory;
# LW_TEST_KEEP=1 keeps it after the test, to look at what went wrong.
lw_test_begin() {
  work=$(mktemp -d "/tmp/lw-$1-XXXXXX")
  export XDG_RUNTIME_DIR="$work/run"
  mkdir -m 700 "$XDG_RUNTIME_DIR"
  trap lw_test_cleanup EXIT
  cd "$work" || exit 1
}

check() { # NAME COMMAND ARGS...: counts a pass if the command succeeds
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
quiet() { "$@" >/dev/null 2>&1; }

# Fails the whole test (with a summary line ctest shows) when a tool is missing.
lw_test_require() { # COMMAND WHY
  command -v "$1" >/dev/null && return 0
  echo "$1 is not installed ($2; scripts/setup.sh installs it)"
  echo "0 passed, 1 failed"
  exit 1
}

lw_wait_socket_path() { # PATH [SECONDS]: until a socket exists there (5 s unless told)
  local tries=$((${2:-5} * 20))
  for _ in $(seq "$tries"); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  echo "no socket $1 after ${2:-5} s" >&2
  return 1
}

lw_wait_socket() { # PID: until its agent's control socket exists (5 s at most)
  lw_wait_socket_path "$XDG_RUNTIME_DIR/leakwatch/$1.sock" 5 2>/dev/null && return 0
  echo "pid $1 never created its control socket" >&2
  return 1
}

# Sets $addr to the HTTP endpoint an agent announced in ERRFILE (LEAKWATCH_HTTP=...:0);
# with READY_FILE, also waits for a line "ready" in it. ERRFILE may not exist yet: the
# shell that started the agent's process may run this before that process opens it.
lw_wait_http() { # ERRFILE [READY_FILE]
  addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*HTTP endpoint on http://\([0-9.:]*\)/debug/pprof/.*|\1|p' "$1" 2>/dev/null)
    [ -n "$addr" ] && { [ $# -lt 2 ] || grep -q ready "$2"; } && return 0
    sleep 0.05
  done
  return 1
}

# A loopback TCP port nothing listens on now, below the kernel's range for outgoing
# connections (a client's port there makes bind() fail even with SO_REUSEADDR). A server
# started on it may still lose a race for it; lw_wait_port then says so.
lw_free_port() {
  local port low=32768 high=60999 first=10000 last
  read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
  last=$((low - 1))
  [ "$last" -gt 12000 ] || { first=$((high + 1)) last=65535; } # little below: take above
  for _ in $(seq 50); do
    port=$(shuf -i "$first-$last" -n 1)
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  echo "no free loopback port found in 50 tries" >&2
  return 1
}

lw_wait_port() { # PORT PID: until something accepts on 127.0.0.1:PORT (10 s), while PID lives
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "pid $2 exited before listening on port $1" >&2; return 1; }
    sleep 0.05
  done
  echo "nothing listens on port $1 after 10 s" >&2
  return 1
}

lw_kill_tree() { # PID: SIGKILL to PID and its descendants, children first
  local child
  for child in $(pgrep -P "$1"); do lw_kill_tree "$child"; done
  kill -KILL "$1" 2>/dev/null
}

# Sets $status to the exit status of PID (a child of this shell) as soon as it ends; past
# SECONDS a watchdog kills it and its descendants (status 137) and says so, so a hung
# process fails the test instead of holding it until ctest's timeout.
lw_wait_exit() { # PID SECONDS
  (
    nap=""
    # Stopped: quietly, and the sleep with it (an orphan would hold ctest's output open).
    trap '[ -z "$nap" ] || { kill "$nap"; wait "$nap"; } 2>/dev/null; exit 0' TERM
    sleep "$2" &
    nap=$!
    wait "$nap"
    echo "pid $1 still running after $2 s: killed" >&2
    lw_kill_tree "$1"
  ) &
  local watchdog=$!
  wait "$1"
  status=$?
  kill -TERM "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
}

lw_test_end() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
