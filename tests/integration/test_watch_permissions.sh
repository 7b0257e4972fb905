#!/usr/bin/env bash
# test_watch_permissions.sh - watching a process we may not fully inspect: leakwatch runs as
# uid 65534 (setpriv) against a root-owned process. The message must name the PID and what
# is missing, the watch must go on with what it can read, and the CSV must leave the hidden
# columns empty. Needs root to switch users; skipped (exit 0 with a note) otherwise.
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv > /dev/null; then
  echo "SKIP: needs root and setpriv to run as another user"
  exit 0
fi
tmp=$(mktemp -d /tmp/lw-perm-test.XXXXXX)
chown 65534:65534 "$tmp"
sleep 30 & target=$!
cleanup() { kill "$target" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

set +e
as_nobody "$LW" watch --interval 200ms --count 3 --plain --csv "$tmp/p.csv" "$target" \
  > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "exit status $rc"; }
[ "$(wc -l < "$tmp/err")" -eq 1 ] || { cat "$tmp/err"; fail "expected exactly one message"; }
msg=$(cat "$tmp/err")
echo "$msg"
[[ $msg == "leakwatch: warning: pid $target (sleep): permission denied reading "* ]] || fail "message does not name the pid: $msg"
for what in "smaps_rollup (PSS, USS)" "fd/ (descriptor counts)" "io (read/write rates)" \
            "owned by uid 0" "CAP_SYS_PTRACE"; do
  [[ $msg == *"$what"* ]] || fail "message does not say '$what': $msg"
done
# What is readable is still watched.
[ "$(grep -c "pid $target (sleep) rss=" "$tmp/out")" -eq 3 ] || fail "samples missing"
header=$(grep -v '^#' "$tmp/p.csv" | head -1)
row=$(grep -v '^#' "$tmp/p.csv" | tail -1)
col() { echo "$header" | tr , '\n' | grep -nx "$1" | cut -d: -f1; }
[ -n "$(echo "$row" | cut -d, -f"$(col rss_bytes)")" ] || fail "rss should be readable"
[ -n "$(echo "$row" | cut -d, -f"$(col threads)")" ] || fail "threads should be readable"
for c in pss_bytes uss_bytes fds fds_file read_bytes_per_second; do
  [ -z "$(echo "$row" | cut -d, -f"$(col $c)")" ] || fail "$c should be empty without permission"
done


echo "PASS"
