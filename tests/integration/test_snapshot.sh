#!/usr/bin/env bash
# test_snapshot.sh - heap snapshots on the way up (LEAKWATCH_SNAPSHOT_AT, issue 15):
#   - size levels (resident memory): one <output>.snapshot-<n> per level crossed, numbered
#     in order, each holding more than the last;
#   - `leakwatch run --memory-max` sets 80%,90% of the cap by default; when the OOM killer
#     ends the program, the report names the last snapshot and shows its top site (text
#     and --json);
#   - a bad value, a missing output and LEAKWATCH_CONTROL=0 are each said in one line.
# About 15 s.
. "$(dirname "$0")/lib.sh"
lw_test_begin snapshot
GROWER="$FIX/grower"

total() { "$LW" top --json "$1" | jq '.total'; }

# Size levels: the grower takes 50 MiB at up to 12.5 MiB/s (slower on a loaded machine), then
# holds it until SIGTERM, which writes the exit profile too. Exact (rate 1): a snapshot's
# total is then what the heap held when it was taken, not an estimate that may run ahead of
# resident memory (two levels apart read the same sampled total under ctest -j4).
LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_OUTPUT="$work/rss.pb.gz" \
  LEAKWATCH_SNAPSHOT_AT=16MiB,28MiB,40MiB \
  "$GROWER" --kib-per-tick 128 --tick-ms 10 --max-mib 50 >rss.out 2>rss.err &
pid=$!
pids+=("$pid")
for _ in $(seq 600); do [ -e rss.pb.gz.snapshot-3 ] && break; sleep 0.1; done
sleep 0.5 # a fourth would come now, if it were wrongly written
kill -TERM "$pid"
lw_wait_exit "$pid" 30
check "size levels: the grower died of SIGTERM (status $status)" test "$status" = 143
check "size levels: three snapshots, numbered 1 to 3" \
  test -s rss.pb.gz.snapshot-1 -a -s rss.pb.gz.snapshot-2 -a -s rss.pb.gz.snapshot-3 -a ! -e rss.pb.gz.snapshot-4
check "size levels: each written with one line naming it" \
  test "$(grep -c 'resident memory at [0-9]* MiB (level [0-9]* MiB): heap snapshot written to .*rss.pb.gz.snapshot-[123]$' rss.err)" = 3
t1=$(total rss.pb.gz.snapshot-1) t2=$(total rss.pb.gz.snapshot-2) t3=$(total rss.pb.gz.snapshot-3)
# Non-decreasing from one to the next (a starved grower may not allocate between two checks
# of the agent thread), and the last more than the first.
check "size levels: each snapshot holds at least as much as the last, the third more ($t1 <= $t2 <= $t3 bytes)" \
  test "$t1" -le "$t2" -a "$t2" -le "$t3" -a "$t1" -lt "$t3"
check "size levels: the snapshots name the growing site" \
  bash -c "'$LW' top rss.pb.gz.snapshot-3 | grep -q ' main$'"
check "size levels: the exit profile is written too (at SIGTERM)" test -s rss.pb.gz

# What cannot work is said, once.
LD_PRELOAD="$AGENT" LEAKWATCH_OUTPUT="$work/bad.pb.gz" LEAKWATCH_SNAPSHOT_AT=90 "$GROWER" \
  --max-mib 1 --exit-after-ms 100 >/dev/null 2>bad.err
check "a bad value is refused in one line" grep -q "ignoring LEAKWATCH_SNAPSHOT_AT='90': expected" bad.err
LD_PRELOAD="$AGENT" LEAKWATCH_SNAPSHOT_AT=1MiB "$GROWER" --max-mib 1 --exit-after-ms 100 \
  >/dev/null 2>noout.err
check "without an output it says where snapshots would go" grep -q "LEAKWATCH_SNAPSHOT_AT needs LEAKWATCH_OUTPUT" noout.err
LD_PRELOAD="$AGENT" LEAKWATCH_CONTROL=0 LEAKWATCH_OUTPUT="$work/nothread.pb.gz" LEAKWATCH_SNAPSHOT_AT=1MiB \
  "$GROWER" --kib-per-tick 1024 --tick-ms 10 --max-mib 8 --exit-after-ms 3000 >nothread.out 2>nothread.err &
pid=$!
pids+=("$pid")
for _ in $(seq 100); do grep -q ready nothread.out 2>/dev/null && break; sleep 0.05; done
threads=$(cat /proc/"$pid"/task/*/comm 2>/dev/null | tr '\n' ' ')
check "LEAKWATCH_CONTROL=0: still no agent thread (threads: $threads)" bash -c "[[ '$threads' != *leakwatch* ]]"
lw_wait_exit "$pid" 30
check "LEAKWATCH_CONTROL=0: said, and no snapshot" \
  bash -c "grep -q 'LEAKWATCH_CONTROL=0 turns off: no snapshots' nothread.err && ! ls nothread.pb.gz.snapshot-* 2>/dev/null"

# OOM: run --memory-max sets the levels; the report names the last snapshot.
"$LW" run --memory-max 64MiB -o oom.pb.gz -- "$GROWER" --kib-per-tick 256 --tick-ms 10 \
  --max-mib 1024 >/dev/null 2>oom.err
rc=$?
if grep -q "RLIMIT_AS" oom.err; then
  echo "no writable memory cgroup for this test run: the OOM part is skipped"
else
  check "OOM: exit status 137 (got $rc)" test "$rc" = 137
  check "OOM: killed by the OOM killer" grep -q "killed by the OOM killer" oom.err
  # 80% and 90% of the cap; on a starved machine both may be crossed between two checks,
  # which writes one.
  n=$(grep -c 'memory cgroup at [0-9]*% of its limit .*: heap snapshot written to' oom.err)
  check "OOM: snapshots on the way up ($n)" test "$n" -ge 1 -a "$n" -le 2
  check "OOM: the report names the last snapshot" \
    grep -q "^leakwatch: no heap profile at 'oom.pb.gz' (a SIGKILL cannot be caught); the last snapshot before the end is 'oom.pb.gz.snapshot-$n':$" oom.err
  check "OOM: and shows its top site" grep -Eq '^  #1 +[0-9.]+ MiB in [0-9]+ objects at main grower.c' oom.err
  check "OOM: headline says at the last snapshot" grep -q "^leakwatch: still allocated at the last snapshot: " oom.err

  "$LW" run --memory-max 48MiB --json -o oomj.pb.gz -- "$GROWER" --kib-per-tick 256 --tick-ms 10 \
    --max-mib 1024 >/dev/null 2>oomj.err
  line=$(sed -n '/^{"last_snapshot":/,/^}$/p' oomj.err | tr -d '\n')
  check "OOM --json: last_snapshot and its sites ($line)" \
    jq -e '(.last_snapshot | test("oomj.pb.gz.snapshot-[12]$")) and (.still_allocated_at_snapshot | tostring | test("grower.c"))' <<<"$line"

  # The caller's own levels win over the default.
  LEAKWATCH_SNAPSHOT_AT=50% "$LW" run --memory-max 64MiB --no-report -o own.pb.gz -- "$GROWER" \
    --kib-per-tick 256 --tick-ms 10 --max-mib 1024 >/dev/null 2>own.err
  check "OOM: LEAKWATCH_SNAPSHOT_AT=50% given: one snapshot, at half or more" \
    bash -c "test \$(grep -c 'heap snapshot written' own.err) = 1 && grep -Eq 'memory cgroup at ([5-9][0-9])% of its limit' own.err"
fi
# A run that exits normally with snapshots written says where the last one is.
LEAKWATCH_SNAPSHOT_AT=4MiB "$LW" run -o fits.pb.gz -- "$GROWER" --kib-per-tick 1024 --tick-ms 10 \
  --max-mib 12 --exit-after-ms 1500 >/dev/null 2>fits.err
check "normal exit: the report ends naming the last snapshot" \
  grep -q "^leakwatch: heap snapshots on the way up, the last 'fits.pb.gz.snapshot-1'" fits.err
lw_test_end
