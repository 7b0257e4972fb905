#!/usr/bin/env bash
# run-tests.sh - the whole test suite: installs what is missing, builds with -Werror, runs
# every ctest test (unit, integration, tools), and prints ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
LW_CMAKE_ARGS="${LW_CMAKE_ARGS:-} -DLW_WERROR=ON" scripts/setup.sh
cd build
ctest --output-on-failure --timeout 600 -j"$(nproc)"
