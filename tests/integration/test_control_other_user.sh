#!/usr/bin/env bash
# test_control_other_user.sh - root asking about another user's agent (issue 13): the CLI
# finds the socket in the directory of the process's own user (/tmp/leakwatch-<uid>, or the
# XDG_RUNTIME_DIR the process was started with) instead of saying "not running with the
# leakwatch agent"; `ps` as root lists every user's agents; a root without CAP_DAC_OVERRIDE
# and a user asking about another user's process are told exactly what is allowed. Needs
# root and setpriv (as test_security.sh); without them it says SKIP.
. "$(dirname "$0")/lib.sh"
lw_test_begin control-other-user
LW=${LW_TEST_CLI:-$LW} # LW_TEST_CLI=an older leakwatch shows what this fixes
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
  echo "SKIP: needs root and setpriv to act as another user"
  lw_test_end
fi
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 711 "$work" # nobody may reach its own directory below

# start_nobody NAME [ENV...] -> $svc: a sampled process of uid 65534 (waits for "ready").
start_nobody() {
  local name=$1
  shift
  rm -f "$work/stop-$name"
  # setpriv itself, not the function: $! must be the process that execs into the service
  setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_RUNTIME_DIR "$@" \
    LD_PRELOAD="$AGENT" "$FIX/fork_latency" 6 0 "$work/stop-$name" >"$work/$name.out" \
    2>"$work/$name.err" &
  svc=$!
  pids+=("$svc")
  for _ in $(seq 200); do
    grep -q ready "$work/$name.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nobody's $name never started" >&2
  return 1
}

for rate in 524288 1; do
  # nobody's service without XDG_RUNTIME_DIR: its socket is in /tmp/leakwatch-65534.
  start_nobody tmp LEAKWATCH_RATE=$rate || exit 1
  lw_wait_socket_path "/tmp/leakwatch-65534/$svc.sock" || exit 1
  "$LW" stats "$svc" >stats.txt 2>stats.err
  check "rate $rate: root reaches nobody's agent in /tmp/leakwatch-65534" grep -q "^pid $svc: " stats.txt
  "$LW" heap "$svc" -o nobody.pb.gz >heap.txt 2>&1
  check "rate $rate: root takes nobody's heap profile" test -s nobody.pb.gz
  "$LW" ps --json >ps.json 2>/dev/null
  check "rate $rate: root's ps lists nobody's agent" grep -q "\"pid\":$svc[,}]" ps.json

  # Root without CAP_DAC_OVERRIDE (as in a user namespace) may not enter the directory.
  setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search \
    "$LW" stats "$svc" >nocap.txt 2>&1
  check "rate $rate: without CAP_DAC_OVERRIDE root is told why" \
    grep -q "/tmp/leakwatch-65534 is private to uid 65534 .*CAP_DAC_OVERRIDE" nocap.txt
  touch "$work/stop-tmp"
  lw_wait_exit "$svc" 60

  # nobody's service with its own XDG_RUNTIME_DIR: found through its environment.
  mkdir -p "$work/nobody-run"
  chown 65534:65534 "$work/nobody-run"
  chmod 700 "$work/nobody-run"
  start_nobody xdg LEAKWATCH_RATE=$rate XDG_RUNTIME_DIR="$work/nobody-run" || exit 1
  lw_wait_socket_path "$work/nobody-run/leakwatch/$svc.sock" || exit 1
  "$LW" stats "$svc" >stats.txt 2>stats.err
  check "rate $rate: root reaches an agent in its user's XDG_RUNTIME_DIR" grep -q "^pid $svc: " stats.txt
  # nobody itself, with another XDG_RUNTIME_DIR in its shell, finds its own service too.
  as_nobody env XDG_RUNTIME_DIR=/nonexistent "$LW" stats "$svc" >own.txt 2>&1
  check "rate $rate: a user reaches their service started with another XDG_RUNTIME_DIR" \
    grep -q "^pid $svc: " own.txt
  touch "$work/stop-xdg"
  lw_wait_exit "$svc" 60
done

# A user asking about root's agent is told what is allowed.
rm -f stop-root
LD_PRELOAD="$AGENT" "$FIX/fork_latency" 4 0 "$work/stop-root" >root.out 2>root.err &
mine=$!
pids+=("$mine")
lw_wait_socket "$mine" || exit 1
as_nobody env -u XDG_RUNTIME_DIR "$LW" stats "$mine" >denied.txt 2>&1
check "a user asking about root's agent fails" test -s denied.txt
check "and is told who may" \
  grep -q "belongs to another user (uid 0); leakwatch talks only to agents of its own user, and root to any user's" denied.txt
# A process without the agent: the message says where it looked.
"$LW" stats $$ >none.txt 2>&1
check "a process without the agent: where the CLI looked" \
  grep -q "is not running with the leakwatch agent: no socket $$.sock in " none.txt
touch stop-root
lw_wait_exit "$mine" 60
lw_test_end
