#!/usr/bin/env bash
# run-tests.sh - the whole test suite: installs what is missing, builds with -Werror, runs
# every ctest test (unit, integration, tools), and prints ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
LW_CMAKE_ARGS="${LW_CMAKE_ARGS:-} -DLW_WERROR=ON" scripts/setup.sh
cd build
ctest --output-on-failure --timeout 600 -j"$(nproc)"
# The Windows stage: mingw-w64 cross build tested under wine64 (docs/WINDOWS.md).
cd ..
if [ "${LW_SKIP_WINDOWS:-0}" != 1 ]; then
  scripts/run-windows-tests.sh
fi
