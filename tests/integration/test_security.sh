#!/usr/bin/env bash
# test_security.sh - what the agent exposes to other users and where it writes (issue 7,
# docs/SECURITY.md): the control socket's directory and peer check against a second uid
# (setpriv), socket directories someone else prepared, output and log files planted as
# symlinks, and setuid programs. The HTTP endpoint's hostile-client checks are in
# test_http_endpoint.sh. Needs root and setpriv to act as another user; without them the
# second-user checks are skipped (and say so).
set -u
LW="$LW_BUILD_DIR/bin/leakwatch"
AGENT="$LW_BUILD_DIR/lib/libleakwatch.so"
FIX="$LW_BUILD_DIR/tests/fixtures"
work=$(mktemp -d /tmp/lw-security-XXXXXX)
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
pids=()
system_lib=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "$system_lib" ] && rm -f "$system_lib"
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
other_user=0
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  other_user=1
else
  echo "SKIP: second-user checks need root and setpriv"
fi
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# start_service NAME [ENV...] -> $svc, its socket path in $sock (waits for the socket)
start_service() {
  local name=$1
  shift
  env "$@" LD_PRELOAD="$AGENT" "$FIX/live_service" 20 >"$work/$name.out" 2>"$work/$name.err" &
  svc=$!
  pids+=("$svc")
  sock=""
  local d
  for _ in $(seq 200); do
    for d in "$XDG_RUNTIME_DIR/leakwatch" "/tmp/leakwatch-$(id -u)"; do
      [ -S "$d/$svc.sock" ] && { sock="$d/$svc.sock"; return 0; }
    done
    sleep 0.05
  done
  echo "service $svc never created its socket" >&2
  return 1
}
stop_service() { kill "$svc" 2>/dev/null; wait "$svc" 2>/dev/null; }

# ---- the control socket ---------------------------------------------------------------
start_service plain
dir="$XDG_RUNTIME_DIR/leakwatch"
check "socket directory is 0700 and owned by us" test "$(stat -c '%a %u' "$dir")" = "700 $(id -u)"
check "socket is 0600" test "$(stat -c %a "$sock")" = 600
check "the owner is served" bash -c "printf 'LEAKWATCH/1 info\n' | socat -t 5 - UNIX-CONNECT:'$sock' | head -1 | grep -q '^LEAKWATCH/1 OK'"
if [ $other_user = 1 ]; then
  # First wall: another user cannot even reach the socket.
  as_nobody socat -t 5 - UNIX-CONNECT:"$sock" </dev/null >nobody1.out 2>nobody1.err
  check "another user cannot reach the socket (directory 0700)" grep -q "Permission denied" nobody1.err
  # Second wall: with the directory and socket opened up (as a careless admin might), the
  # agent still checks the peer's uid and refuses.
  chmod 755 "$work" "$XDG_RUNTIME_DIR" "$dir"
  chmod 666 "$sock"
  # (read only: the agent answers and closes before a request could be sent)
  as_nobody socat -t 5 -u UNIX-CONNECT:"$sock" STDOUT >nobody2.out 2>nobody2.err
  check "another user's connection is refused by the peer check ($(head -c 100 nobody2.out))" \
    grep -q "^LEAKWATCH/1 ERROR permission denied" nobody2.out
  check "the refusal carries no data" test "$(wc -l <nobody2.out)" -eq 1
  check "the owner is still served" bash -c "printf 'LEAKWATCH/1 info\n' | socat -t 5 - UNIX-CONNECT:'$sock' | head -1 | grep -q '^LEAKWATCH/1 OK'"
  chmod 700 "$work" "$XDG_RUNTIME_DIR" "$dir"
fi
stop_service
check "socket removed at exit" test ! -e "$sock"

# Socket directories prepared by someone else are not used.
rm -rf "$dir"
mkdir -m 700 "$work/elsewhere"
ln -s "$work/elsewhere" "$dir"
start_service symlinked
check "a symlinked socket directory is refused" grep -q "not using '$dir' for the control socket" "$work/symlinked.err"
check "nothing was created through the symlink" test -z "$(ls -A "$work/elsewhere")"
stop_service
rm -f "$dir"
mkdir -m 755 "$dir"
start_service open_dir
check "a socket directory open to others is refused" grep -q "not using '$dir'" "$work/open_dir.err"
check "no socket in the open directory" test -z "$(ls -A "$dir")"
stop_service
if [ $other_user = 1 ]; then
  chown 65534:65534 "$dir"
  chmod 700 "$dir"
  start_service foreign_dir
  check "a socket directory owned by another user is refused" grep -q "not using '$dir'" "$work/foreign_dir.err"
  stop_service
fi
rm -rf "$dir"

# ---- output files -----------------------------------------------------------------------
# The profile goes where it was named, never through a planted symlink to somewhere else.
mkdir out
echo "precious" >victim
ln -s "$work/victim" out/heap.pb.gz
LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_OUTPUT="$work/out/heap.pb.gz" "$FIX/alloc_functions" >/dev/null 2>out.err
check "a symlink at the output name does not redirect the profile" test "$(cat victim)" = precious
# Anything but a regular file or a new name is refused (one line, nothing written).
check "the symlink at the output name is left as it was" test -L out/heap.pb.gz
check "and the agent says it cannot write there" grep -q "cannot write heap profile '$work/out/heap.pb.gz'" out.err
rm out/heap.pb.gz
LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_OUTPUT="$work/out/heap.pb.gz" "$FIX/alloc_functions" >/dev/null 2>out.err
check "the profile is readable" "$LW" top out/heap.pb.gz >/dev/null 2>&1
check "no temporary file left" test -z "$(ls out | grep '\.tmp\.')"
# The stats log is appended to, never through a symlink.
ln -s "$work/victim" stats.log
LD_PRELOAD="$AGENT" LEAKWATCH_LOG_INTERVAL=100ms LEAKWATCH_LOG="$work/stats.log" "$FIX/live_service" 1 >/dev/null 2>log.err
check "the stats log is not written through a symlink" test "$(cat victim)" = precious
check "and the agent says it cannot open it" grep -q "cannot open LEAKWATCH_LOG '$work/stats.log'" log.err
# The per-site history file is written like the profile.
ln -s "$work/victim" history.txt
# (written by the process LEAKWATCH_ROOT_PID names, as under `leakwatch run`)
bash -c 'LEAKWATCH_ROOT_PID=$$ exec env LD_PRELOAD="$0" LEAKWATCH_HISTORY_INTERVAL=100ms \
  LEAKWATCH_HISTORY_OUTPUT="$1" "$2" 1' "$AGENT" "$work/history.txt" "$FIX/live_service" \
  >/dev/null 2>history.err
check "the history file is not written through a symlink" test "$(cat victim)" = precious
check "the history file's symlink is left as it was (refused)" test -L history.txt
# Profiles and logs are private to their owner.
check "the profile is private (0600)" test "$(stat -c %a out/heap.pb.gz)" = 600
check "the stats log it creates is private (0600)" bash -c "rm -f '$work/stats.log' && LD_PRELOAD='$AGENT' LEAKWATCH_LOG_INTERVAL=100ms LEAKWATCH_LOG='$work/stats.log' '$FIX/live_service' 1 >/dev/null 2>&1 && test \"\$(stat -c %a '$work/stats.log')\" = 600"

# ---- setuid programs are never instrumented -------------------------------------------------
if [ $other_user = 1 ]; then
  chmod 755 "$work"
  mkdir -m 777 "$work/suid"
  cp "$FIX/stats_api" "$work/suid/stats_api"
  chown root:root "$work/suid/stats_api"
  chmod 4755 "$work/suid/stats_api"
  # The loader ignores a preload path with a slash in a setuid program...
  as_nobody env LD_PRELOAD="$AGENT" LEAKWATCH_OUTPUT="$work/suid/heap.pb.gz" \
    "$work/suid/stats_api" >suid1.out 2>suid1.err
  check "setuid: the loader does not preload the agent by path" grep -q "^no agent" suid1.out
  check "setuid: no profile written" test ! -e "$work/suid/heap.pb.gz"
  # ...but loads a setuid library from a system directory by name: then the agent itself
  # must refuse, or a user could make a root program write files where they like.
  libdir=$(dirname "$(gcc -print-file-name=libc.so.6)")
  [ -d /usr/lib/x86_64-linux-gnu ] && libdir=/usr/lib/x86_64-linux-gnu
  system_lib="$libdir/libleakwatch-setuid-test-$$.so"
  cp "$AGENT" "$system_lib" && chmod 4755 "$system_lib"
  as_nobody env LD_PRELOAD="$(basename "$system_lib")" LEAKWATCH_OUTPUT="$work/suid/heap.pb.gz" \
    LEAKWATCH_HTTP=127.0.0.1:0 "$work/suid/stats_api" >suid2.out 2>suid2.err
  check "setuid: the agent loaded from a system directory refuses to sample ($(head -c 120 suid2.err))" \
    grep -q "not sampling a setuid/setgid program" suid2.err
  check "setuid: lw_stats says sampling is off" grep -q "sampling_enabled=0" suid2.out
  check "setuid: no profile written" test ! -e "$work/suid/heap.pb.gz"
  check "setuid: no HTTP endpoint" bash -c "! grep -q 'HTTP endpoint on' suid2.err"
  rm -f "$system_lib"
  system_lib=""
  chmod 700 "$work"
fi

echo "$passed passed, $failed failed"
test "$failed" -eq 0
