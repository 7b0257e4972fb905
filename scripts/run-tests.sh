#!/usr/bin/env bash
# run-tests.sh - the whole test suite, as CI runs it (.ci/run). Installs what is missing,
# then runs each stage in turn and prints one line per stage and a final summary:
#   ctest      build/ with -Werror; every unit, integration, compatibility, fuzz-corpus
#              replay and tools test (ctest's own summary line)
#   sanitize   unit tests under ASan+UBSan, the agent under TSan (scripts/sanitize.sh)
#   fuzz       every libFuzzer target briefly from its seed corpus (scripts/fuzz.sh)
#   windows    mingw-w64 build tested under wine64 (scripts/run-windows-tests.sh)
#   scripts/run-tests.sh [STAGE...]        (no argument: all four)
# LW_FUZZ_SECONDS sets the fuzzing time per target (default 15). A failed stage does not
# stop the later ones; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(ctest sanitize fuzz windows)
for stage in "${stages[@]}"; do
  case $stage in
    ctest | sanitize | fuzz | windows) ;;
    *) echo "run-tests.sh: unknown stage '$stage' (ctest, sanitize, fuzz, windows)" >&2; exit 2 ;;
  esac
done

LW_CMAKE_ARGS="${LW_CMAKE_ARGS:-} -DLW_WERROR=ON" scripts/setup.sh || {
  echo "run-tests.sh: set-up or build failed"
  echo "0 passed, 1 failed"
  exit 1
}

stage_ctest() { (cd build && ctest --output-on-failure --timeout 600 -j"$(nproc)"); }
stage_sanitize() { scripts/sanitize.sh; }
stage_fuzz() { scripts/fuzz.sh -t "${LW_FUZZ_SECONDS:-15}"; }
stage_windows() { scripts/run-windows-tests.sh; }

passed=0 failed=0 results=()
for stage in "${stages[@]}"; do
  echo "run-tests.sh: stage $stage"
  start=$SECONDS
  if "stage_$stage"; then
    passed=$((passed + 1))
    results+=("$stage: passed ($((SECONDS - start)) s)")
  else
    failed=$((failed + 1))
    results+=("$stage: FAILED ($((SECONDS - start)) s)")
  fi
done
for line in "${results[@]}"; do
  echo "run-tests.sh: $line"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
