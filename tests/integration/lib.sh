# lib.sh - what the shell integration tests share (sourced, not run): paths to the build,
# a scratch directory that is removed at exit together with the processes a test started,
# check/quiet, waiting for an agent's socket or HTTP endpoint, and the summary line.
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
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}

# A scratch directory (the current directory from now on) with a private socket directory.
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

lw_wait_socket() { # PID: until its agent's control socket exists (5 s at most)
  for _ in $(seq 100); do
    [ -S "$XDG_RUNTIME_DIR/leakwatch/$1.sock" ] && return 0
    sleep 0.05
  done
  echo "pid $1 never created its control socket" >&2
  return 1
}

# Sets $addr to the HTTP endpoint an agent announced in ERRFILE (LEAKWATCH_HTTP=...:0);
# with READY_FILE, also waits for a line "ready" in it.
lw_wait_http() { # ERRFILE [READY_FILE]
  addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*HTTP endpoint on http://\([0-9.:]*\)/debug/pprof/.*|\1|p' "$1")
    [ -n "$addr" ] && { [ $# -lt 2 ] || grep -q ready "$2"; } && return 0
    sleep 0.05
  done
  return 1
}

lw_test_end() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
