#!/usr/bin/env bash
# test_address_budget.sh - the agent leaves a program its address-space limit (ulimit -v,
# RLIMIT_AS): it maps its tables as they fill instead of reserving them, and keeps its own
# mappings under 1/8 of what the limit left (src/agent/arena.c).
#
#   - address_limit takes 1 MiB blocks until malloc fails under a 100 MiB limit of address
#     space (ulimit -v) or of data (ulimit -d, RLIMIT_DATA: private writable mappings):
#     with the agent, at the default rate and at rate 1, it gets within 8 MiB of what it
#     gets without, and the agent still writes a valid profile naming the site;
#   - many_stacks wants far more table memory than the budget allows (2^18 stacks, 1.2
#     million live blocks at rate 1) under a 200 MiB limit: the agent says its budget is
#     reached and stops sampling, the program finishes, and the agent's own memory stays
#     under the budget it announced.
. "$(dirname "$0")/lib.sh"
lw_test_begin address-budget

# Runs a fixture under `ulimit $kind KIB` (-v address space, -d data) with the environment
# in the array `extra`: OUT ERR KIB PROGRAM [ARGS...]
kind=-v
limited() {
  local out=$1 err=$2 kib=$3
  shift 3
  (ulimit "$kind" "$kib" && exec env "${extra[@]}" "$@") >"$out" 2>"$err"
}
blocks() { sed -n 's/^blocks=//p' "$1"; }
absent() { ! grep -q "$1" "$2"; } # PATTERN FILE

for kind in -v -d; do
  extra=()
  limited plain.out plain.err 102400 "$FIX/address_limit"
  check "ulimit $kind: without the agent the fixture exits 0" test $? -eq 0
  plain=$(blocks plain.out)
  check "ulimit $kind: without the agent it gets most of 100 MiB (${plain:-none} blocks)" \
    test "${plain:-0}" -ge 80
  for rate in 524288 1; do
    run="rate$rate$kind"
    extra=(LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/$run.pb.gz")
    limited "$run.out" "$run.err" 102400 "$FIX/address_limit"
    check "$run: the fixture exits 0 ($(head -c 300 "$run.err"))" test $? -eq 0
    got=$(blocks "$run.out")
    check "$run: within 8 MiB of the ${plain:-?} MiB it gets alone (got ${got:-none})" \
      test "${got:-0}" -ge $((${plain:-0} - 8))
    check "$run: the agent did not stop ($(head -c 300 "$run.err"))" \
      absent "sampling stopped" "$run.err"
    check "$run: the profile was written" test -s "$run.pb.gz"
    check "$run: go tool pprof reads it" quiet go tool pprof -raw "$run.pb.gz"
    "$LW" top --sample alloc_space --json "$run.pb.gz" >"$run.top" 2>&1
    check "$run: the profile shows grab_blocks' allocations ($(head -c 300 "$run.top"))" \
      grep -q '"grab_blocks"' "$run.top"
  done
  "$LW" top --json "rate1$kind.pb.gz" >"rate1$kind.inuse" 2>&1
  check "rate1$kind: the 10 kept blocks are in use at exit ($(head -c 300 "rate1$kind.inuse"))" \
    grep -q '"kept_blocks"' "rate1$kind.inuse"
done

# Tables that would outgrow the budget: the agent stops at it and says so.
kind=-v
extra=(LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_HISTORY_INTERVAL=0)
limited many.out many.err 204800 "$FIX/many_stacks" 18 1200000
check "many_stacks under the budget exits 0 ($(head -c 300 many.err))" test $? -eq 0
check "the agent says its budget is reached ($(head -c 300 many.err))" \
  grep -q "memory budget is reached" many.err
check "and that sampling stopped" grep -q "sampling stopped: " many.err
budget_kib=$(sed -n 's/.*memory budget is reached (\([0-9]*\) KiB.*/\1/p' many.err)
most=$(sed -n 's/.*agent_memory_bytes=\([0-9]*\).*/\1/p' many.out | sort -n | tail -1)
check "the agent's memory (${most:-?} bytes) stays under its budget (${budget_kib:-?} KiB)" \
  test -n "$most" -a -n "$budget_kib" -a "${most:-0}" -le $((${budget_kib:-0} * 1024))
check "the budget is about 1/8 of 200 MiB (${budget_kib:-?} KiB)" \
  test "${budget_kib:-0}" -gt 20000 -a "${budget_kib:-0}" -le 25600

lw_test_end
