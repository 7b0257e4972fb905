#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (tests/fuzz/fuzz_*.c, clang with ASan and UBSan) in
# build-fuzz and fuzzes each one for a while; scripts/run-tests.sh runs it briefly, long
# runs are how docs/FUZZING.md says.
#   scripts/fuzz.sh [-t SECONDS] [-j PARALLEL] [TARGET...]    default: 20 s, nproc, all
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>) plus what earlier
# runs in this build dir found (build-fuzz/corpus/<target>); the repository's corpus only
# changes when you copy inputs back. A crash, leak or sanitizer report fails the run; the
# input is kept in build-fuzz/artifacts/<target>/. One line per target: executions, speed,
# edges covered (of the instrumented total) and corpus size.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=20
parallel=$(nproc)
while getopts "t:j:h" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    j) parallel=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    t=${f##*/fuzz_}
    targets+=("${t%.c}")
  done
fi
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no target '$t' (tests/fuzz/fuzz_$t.c)" >&2; exit 2; }
done

start=$SECONDS
if ! CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLW_FUZZ=ON -DLW_WERROR=ON >/dev/null; then
  echo "fuzz.sh: FAILED to configure build-fuzz (is clang installed?)" >&2
  exit 1
fi
if ! cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >build-fuzz/build.log 2>&1; then
  grep -E 'error|Error' build-fuzz/build.log | head -20 >&2
  echo "fuzz.sh: FAILED to build the fuzz targets (build-fuzz/build.log)" >&2
  exit 1
fi

# Runs one target; its summary line goes to build-fuzz/logs/<target>.summary.
run_target() {
  local t=$1 corpus=build-fuzz/corpus/$1 artifacts=build-fuzz/artifacts/$1/
  local log=build-fuzz/logs/$t.log
  mkdir -p "$corpus" "$artifacts" build-fuzz/logs
  build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts" \
    "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
  local rc=$?
  local total done_line execs speed cov corp
  total=$(grep -oE 'Loaded 1 modules +\([0-9]+ inline 8-bit counters' "$log" | grep -oE '[0-9]+ inline' | cut -d' ' -f1)
  done_line=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1)
  execs=$(grep -oE 'number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
  speed=$(grep -oE 'average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(grep -oE 'cov: [0-9]+' <<<"$done_line" | cut -d' ' -f2)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$done_line" | cut -d' ' -f2)
  if [ $rc -ne 0 ]; then
    echo "$t: FAILED (status $rc) after ${execs:-?} executions; input in $artifacts, log $log" \
      >"build-fuzz/logs/$t.summary"
    grep -E -A25 '==ERROR|runtime error|deadly signal|Test unit written' "$log" | head -40 >&2
    return 1
  fi
  printf '%s: %s executions in %s s (%s/s), %s of %s edges covered, corpus %s inputs\n' \
    "$t" "${execs:-?}" "$seconds" "${speed:-?}" "${cov:-?}" "${total:-?}" "${corp:-?}" \
    >"build-fuzz/logs/$t.summary"
}

rm -f build-fuzz/logs/*.summary
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n
  done
  run_target "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  line=$(cat "build-fuzz/logs/$t.summary" 2>/dev/null || echo "$t: FAILED (no result)")
  [[ $line == "$t: FAILED"* ]] && failed=1
  echo "fuzz.sh: $line"
done
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: FAILED ($((SECONDS - start)) s)"
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets fuzzed ${seconds} s each, no failure ($((SECONDS - start)) s)"
