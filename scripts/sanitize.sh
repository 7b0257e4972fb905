#!/usr/bin/env bash
# sanitize.sh - the sanitizer stages of the test suite, each in its own build directory so
# ./build is never touched:
#   asan  build-asan: every unit test built with AddressSanitizer + UndefinedBehaviorSanitizer
#         (LeakSanitizer included), run by ctest -L unit;
#   tsan  build-tsan: libleakwatch.so built with ThreadSanitizer, preloaded into the stress
#         fixture (tests/fixtures/stress.c: 8 threads, every allocation function, frees from
#         other threads, realloc chains, signal handlers that allocate, profiles written
#         meanwhile) at the default rate and in exact mode.
#   scripts/sanitize.sh [asan] [tsan]      (no argument: both)
# Prints one summary line per stage; exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan)
failed=0
summary=()

# Configures and builds targets in a build dir; prints compiler errors only.
build() {
  local dir=$1 sanitize=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLW_WERROR=ON \
    -DLW_SANITIZE="$sanitize" >/dev/null || return 1
  cmake --build "$dir" -j"$jobs" --target "$@" >"$dir/build.log" 2>&1 || {
    grep -E 'error|Error' "$dir/build.log" | head -20 >&2
    return 1
  }
}

stage_asan() {
  local start=$SECONDS
  if ! build build-asan address,undefined lw_unit_tests; then
    summary+=("asan: FAILED to build (build-asan/build.log)")
    return 1
  fi
  local log=build-asan/ctest.log
  (cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest -L unit -j"$jobs" --output-on-failure --timeout 300) >"$log" 2>&1
  local rc=$?
  local line
  line=$(grep -E 'tests passed|tests failed' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:|\*\*\*Failed|FAILED' "$log" | head -80 >&2
    summary+=("asan: FAILED - ${line:-no ctest summary} ($((SECONDS - start)) s, $log)")
    return 1
  fi
  summary+=("asan: unit tests under AddressSanitizer+UBSan: ${line} ($((SECONDS - start)) s)")
}

stage_tsan() {
  local start=$SECONDS
  if ! build build-tsan thread leakwatch_agent fixture_stress; then
    summary+=("tsan: FAILED to build (build-tsan/build.log)")
    return 1
  fi
  # The runtime must come right after the agent in lookup order: the agent forwards to
  # the next malloc and pthread_create (the runtime's), and the runtime is loaded before
  # the program's own libc.
  local runtime
  runtime=$(realpath "$(gcc -print-file-name=libtsan.so.2)")
  local result=0 notes=()
  for rate in 512k 1; do
    local log=build-tsan/stress-$rate.log
    # report_signal_unsafe=0: the fixture's handlers allocate on purpose. No fork storm:
    # the runtime's own allocator is not fork-safe (tests/fixtures/stress.c).
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0 second_deadlock_stack=1" \
      LD_PRELOAD="$PWD/build-tsan/lib/libleakwatch.so $runtime" LEAKWATCH_RATE=$rate \
      timeout 300 build-tsan/tests/fixtures/stress 8 no-fork >"$log" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then
      grep -E -B2 -A40 'WARNING: ThreadSanitizer|FAIL' "$log" | head -80 >&2
      notes+=("rate $rate: FAILED (status $rc, $log)")
      result=1
    else
      notes+=("rate $rate: $(grep -oE '^storm: [0-9]+ operations' "$log" | cut -d' ' -f2) operations, no report")
    fi
  done
  local joined
  joined=$(printf '%s; ' "${notes[@]}")
  joined=${joined%; }
  if [ $result -ne 0 ]; then
    summary+=("tsan: FAILED - $joined ($((SECONDS - start)) s)")
    return 1
  fi
  summary+=("tsan: stress under ThreadSanitizer: $joined ($((SECONDS - start)) s)")
}

for stage in "${stages[@]}"; do
  case $stage in
    asan) stage_asan || failed=1 ;;
    tsan) stage_tsan || failed=1 ;;
    *) echo "sanitize.sh: unknown stage '$stage' (asan, tsan)" >&2; exit 2 ;;
  esac
done
for line in "${summary[@]}"; do
  echo "sanitize.sh: $line"
done
exit $failed
