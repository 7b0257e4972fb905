#!/usr/bin/env bash
# test_run_memory_max.sh - `leakwatch run --memory-max SIZE`: on this machine's memory
# cgroup (v1 here, v2 elsewhere) a command that outgrows the cap is OOM-killed and the
# report says so with the peak and the time until the kill; one that fits exits normally;
# --json gives the same as JSON; the group is removed afterwards; a user who cannot write
# any memory cgroup gets the RLIMIT_AS fallback and a warning saying how it differs.
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
GROWER="$LW_BUILD_DIR/tests/fixtures/grower"
tmp=$(mktemp -d /tmp/lw-memmax-test.XXXXXX)
chmod 777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/err" ] && cat "$tmp/err" >&2; exit 1; }
cd "$tmp"

set +e
out=$("$LW" run --memory-max 12parsecs -- true 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"invalid size '12parsecs' for --memory-max"* ]] || fail "bad size: rc=$rc '$out'"
"$LW" run --memory-max 64MiB --no-report -o big.pb.gz -- "$GROWER" --kib-per-tick 4096 --tick-ms 10 \
  --max-mib 1024 > /dev/null 2> err
rc=$?
set -e
if grep -q "RLIMIT_AS" err; then
  echo "no writable memory cgroup for this test run; only the fallback is checked below"
else
  [ $rc -eq 137 ] || fail "OOM-killed command: exit status $rc, want 137"
  grep -Eq '^leakwatch: memory cap: 64.0 MiB \(cgroup v[12] memory\.(max|limit_in_bytes)\) in /sys/fs/cgroup/' err || fail "cap line"
  grep -Eq '^leakwatch: memory cap: killed by the OOM killer at the cap [0-9.]+ s after start$' err || fail "OOM line"
  grep -Eq '^leakwatch: memory cap: 1 OOM kill in the group' err || fail "OOM count"
  grep -Eq '^leakwatch: memory cap: peak 6[0-4]\.[0-9] MiB in the group, peak RSS [0-9.]+ MiB of the command$' err || fail "peak"
  group=$(sed -n 's|^leakwatch: memory cap: 64.0 MiB (.*) in \(/sys/fs/cgroup/.*\)$|\1|p' err)
  [ -n "$group" ] && [ ! -e "$group" ] || fail "group $group was not removed"

  "$LW" run --memory-max 256MiB --no-report -o small.pb.gz -- "$GROWER" --kib-per-tick 1024 \
    --tick-ms 10 --max-mib 16 --exit-after-ms 400 > /dev/null 2> err || fail "fitting command failed"
  grep -Eq '^leakwatch: memory cap: exited with status 0 after [0-9.]+ s$' err || fail "exit line"
  grep -q '^leakwatch: memory cap: 0 OOM kills in the group' err || fail "no OOM"

  "$LW" run --memory-max 48MiB --json --no-report -o j.pb.gz -- "$GROWER" --kib-per-tick 4096 \
    --tick-ms 10 --max-mib 1024 > /dev/null 2> err || true
  line=$(grep '^{"memory_cap":' err) || fail "no JSON line"
  echo "$line" | jq -e '.memory_cap | .end == "oom-killed" and .signal == 9 and .oom_kills == 1
    and .limit_bytes == 50331648 and .seconds_to_oom > 0 and (.mode | startswith("cgroup-v"))' > /dev/null \
    || fail "JSON report: $line"
fi

if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
  echo "== as a user without a writable memory cgroup: RLIMIT_AS"
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$LW" run --memory-max 512MiB --no-report \
    -o nobody.pb.gz -- "$GROWER" --kib-per-tick 1024 --tick-ms 10 --max-mib 8 --exit-after-ms 300 \
    > /dev/null 2> err
  rc=$?
  set -e
  [ $rc -eq 0 ] || fail "fallback run: exit status $rc"
  grep -q '^leakwatch: warning: --memory-max: no writable memory cgroup (' err || fail "no fallback warning"
  grep -q 'capping the address space instead (RLIMIT_AS = 512 MiB), which limits reserved virtual memory, not memory in use' err \
    || fail "warning does not say how RLIMIT_AS differs"
  grep -q '^leakwatch: memory cap: 512 MiB of address space (RLIMIT_AS)$' err || fail "RLIMIT_AS report"
  grep -Eq '^leakwatch: memory cap: exited with status 0' err || fail "RLIMIT_AS exit"
fi
echo "PASS"
