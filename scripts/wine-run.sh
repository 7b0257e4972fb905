#!/usr/bin/env bash
# wine-run.sh PROGRAM.exe [ARGS...] - runs one Windows program under wine64 with a time
# limit (LW_WINE_TIMEOUT seconds, default 120). ctest uses it as the cross-compiling
# emulator of the Windows build; scripts/run-windows-tests.sh sets up the WINEPREFIX.
set -euo pipefail
: "${WINEPREFIX:?WINEPREFIX must be set (scripts/run-windows-tests.sh sets it)}"
export WINEDEBUG="${WINEDEBUG:--all}"
exec timeout -k 5 "${LW_WINE_TIMEOUT:-120}" wine "$@"
