#!/usr/bin/env bash
# test_run_cli.sh - `leakwatch run` as a user meets it: the report, exit status pass-through,
# signal deaths, JSON output, and one-line errors for every kind of bad input, with no
# profile (or temporary file) left behind by a failed or killed run.
set -u
LW="$LW_BUILD_DIR/bin/leakwatch"
FIX="$LW_BUILD_DIR/tests/fixtures"
work=$(mktemp -d /tmp/lw-run-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
passed=0
failed=0

check() { # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name" >&2
  fi
}

# expect_error NAME EXIT_CODE PATTERN -- COMMAND...: exit code, exactly one stderr line, text.
expect_error() {
  local name=$1 code=$2 pattern=$3
  shift 4
  "$@" >out.txt 2>err.txt
  local rc=$?
  check "$name: exit $code (got $rc)" test "$rc" -eq "$code"
  check "$name: one line on stderr ($(wc -l <err.txt))" test "$(wc -l <err.txt)" -eq 1
  check "$name: stderr matches '$pattern' ($(cat err.txt))" grep -q -- "$pattern" err.txt
}

# --- a normal run: report, profile, exit status ---------------------------------------------
"$LW" run --rate 1 -o heap.pb.gz -- "$FIX/leak_depths" >out.txt 2>err.txt
check "normal run exits 0" test $? -eq 0
check "report names the deepest leak site" grep -q "chain_leaf leak_depths.c" err.txt
check "report shows exact bytes" grep -q "3.91 KiB in 20 objects at chain_leaf" err.txt
check "report says where the profile is" grep -q "profile written to heap.pb.gz" err.txt
check "profile exists" test -s heap.pb.gz
check "no temporary files left" test "$(ls | grep -c tmp)" -eq 0
HOME="$work" PPROF_TMPDIR="$work" go tool pprof -top heap.pb.gz >pprof.txt 2>pprof.err
check "go tool pprof reads the rewritten profile" test $? -eq 0
check "pprof sees symbolized file:line names" grep -q "chain_leaf" pprof.txt

"$LW" run -- "$FIX/leak_depths" >out.txt 2>err.txt
check "default output named by pid" bash -c "ls leakwatch-*.pb.gz >/dev/null 2>&1"
pid=$(sed -n "s/.*(pid \([0-9]*\)) exited.*/\1/p" err.txt)
check "default output is leakwatch-<pid>.pb.gz" test -s "leakwatch-$pid.pb.gz"

"$LW" run -- sh -c 'exit 7' >/dev/null 2>err.txt
check "exit status passed through (7)" test $? -eq 7

"$LW" run -- sh -c 'kill -SEGV $$' >/dev/null 2>err.txt
rc=$?
check "signal death mirrored as 128+11 (got $rc)" test "$rc" -eq 139
check "signal death reported" grep -q "killed by signal 11" err.txt

"$LW" run --json --rate 1 -o j.pb.gz -- "$FIX/leak_depths" >/dev/null 2>json.txt
quiet() { "$@" >/dev/null; }
check "--json prints valid JSON" quiet jq -e '.still_allocated_at_exit.sites | length > 0' json.txt
check "--json has the thread section (empty here)" quiet jq -e '.threads_running_at_exit.total == 0' json.txt
check "--json top site is chain_leaf with 4000 bytes" \
  quiet jq -e '.still_allocated_at_exit.sites[0] | .bytes == 4000 and (.site | startswith("chain_leaf"))' json.txt

"$LW" run --rate 1 -o r.pb.gz --report report.txt -- "$FIX/leak_depths" >/dev/null 2>err.txt
check "--report writes the report to a file" grep -q "chain_leaf" report.txt

"$LW" run --help >help.txt 2>&1
check "--help exits 0" test $? -eq 0
check "--help shows usage" grep -q "Usage: leakwatch run" help.txt

# --- bad input: one line, non-zero exit, nothing started ------------------------------------
expect_error "unknown option" 2 "unknown option '--bogus'" -- "$LW" run --bogus -- true
expect_error "invalid rate" 2 "invalid size 'lots' for --rate" -- "$LW" run --rate lots -- true
expect_error "zero rate" 2 "invalid size\|at least 1" -- "$LW" run --rate 0 -- true
expect_error "depth out of range" 2 "for --depth" -- "$LW" run --depth 500 -- true
expect_error "no command" 2 "no command given" -- "$LW" run
expect_error "missing command" 127 "cannot run 'no-such-command-xyz': command not found" -- \
  "$LW" run -- no-such-command-xyz
expect_error "unwritable output" 1 "cannot write profile '/nonexistent/dir/h.pb.gz'" -- \
  "$LW" run -o /nonexistent/dir/h.pb.gz -- true
expect_error "output is a directory" 1 "is a directory" -- "$LW" run -o "$work" -- true
expect_error "missing agent" 1 "cannot use agent" -- "$LW" run --agent /nope/lib.so -- true
expect_error "unknown command" 2 "unknown command 'frobnicate'" -- "$LW" frobnicate

# Programs the agent cannot get into are refused before they start, not run without it.
if printf 'int main(void) { return 0; }\n' | cc -static -x c - -o static_prog 2>/dev/null; then
  expect_error "statically linked program" 1 "cannot profile './static_prog': it is statically linked" -- \
    "$LW" run -- ./static_prog
else
  echo "SKIP: statically linked program (no static libc to build one)"
fi
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  cp "$(type -P true)" setuid_prog && chown nobody setuid_prog && chmod 4755 setuid_prog
  expect_error "setuid program" 1 "cannot profile './setuid_prog': it is setuid" -- \
    "$LW" run -- ./setuid_prog
else
  echo "SKIP: setuid program (needs root to make one owned by another user)"
fi

# SIGTERM sent to leakwatch reaches the program, which exits its own way; leakwatch stays
# to pass its status on and write the report.
rm -f forwarded.pb.gz
# bash, not sh: dash leaves with _exit(), which skips the agent's exit-time profile.
"$LW" run -o forwarded.pb.gz -- bash -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' \
  >/dev/null 2>err.txt &
run_pid=$!
sleep 1
kill -TERM "$run_pid"
wait "$run_pid"
rc=$?
check "SIGTERM to leakwatch: the program's own exit status (got $rc)" test "$rc" -eq 7
check "SIGTERM to leakwatch: the program wrote its profile" test -s forwarded.pb.gz
check "SIGTERM to leakwatch: the report follows" grep -q "exited with status 7" err.txt

# A killed program writes no profile, and none is left half-written.
rm -f killed.pb.gz*
"$LW" run -o killed.pb.gz -- sh -c 'kill -KILL $$' >/dev/null 2>err.txt
check "killed program: no profile" test ! -e killed.pb.gz
check "killed program: no temporary file" test "$(ls | grep -c killed)" -eq 0
check "killed program: says why there is no profile" grep -q "not when it is killed" err.txt

echo "$passed passed, $failed failed"
test "$failed" -eq 0
