#!/usr/bin/env bash
# run-windows-tests.sh - the Windows stage: cross-compiles leakwatch.exe, the agent DLL and
# the Windows tests with mingw-w64 into build-windows/, then runs them under wine64 in a
# fresh WINEPREFIX (headless, WINEDEBUG=-all, every wine call under `timeout`), and stops
# only its own wineserver at the end. Prints ctest's summary ("N tests failed out of M").
#   scripts/run-windows-tests.sh            # install what is missing, build, test
#   LW_KEEP_PREFIX=1 ...                   # keep the prefix (its path is printed)
# docs/WINDOWS.md says what this verifies and what only a real Windows can.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s.%N)
elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# The toolchain and wine come from scripts/debian-packages.txt like everything else.
scripts/setup.sh --packages-only

cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLW_WERROR=ON >/dev/null
cmake --build build-windows -j"$(nproc)" 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^(Consolidate|Scanning)' || true
test -f build-windows/bin/leakwatch.exe || { echo "run-windows-tests.sh: build failed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/leakwatch-wine.XXXXXX)
export WINEPREFIX="$tmp/prefix" WINEARCH=win64 WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml,winemenubuilder.exe="
unset DISPLAY WAYLAND_DISPLAY
cleanup() {
  # Only this prefix's server; never a broad kill.
  timeout 20 wineserver -k >/dev/null 2>&1 || true
  if [ "${LW_KEEP_PREFIX:-0}" = 1 ]; then
    echo "run-windows-tests.sh: prefix kept in $WINEPREFIX"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
timeout 180 wineboot -i >/dev/null 2>&1 || { echo "run-windows-tests.sh: wineboot failed" >&2; exit 1; }
# A persistent server: wine shuts services down once no user process is left (WINDOWS.md
# section 3), and a warm server makes each wine start ~0.05 s instead of ~0.5 s.
timeout 30 wineserver -w || true
timeout 10 wineserver -p
# Start wine's own system processes (services.exe, winedevice, explorer) now, with their
# output going nowhere: started by the first test instead, they would inherit ctest's
# output pipe and keep it open for as long as the server lives, so ctest would wait for
# them and call the test timed out.
timeout 60 wine cmd.exe /c ver </dev/null >/dev/null 2>&1 || true
echo "run-windows-tests.sh: prefix ready after $(elapsed) s"

cd build-windows
set +e
LW_SOURCE_DIR="$root" ctest --output-on-failure --timeout 240 -j"$(nproc)"
rc=$?
set -e
echo "run-windows-tests.sh: Windows stage took $(elapsed) s"
exit $rc
