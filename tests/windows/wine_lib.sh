# wine_lib.sh - sourced by the Windows shell tests: paths, a wine runner with a time limit,
# a temporary directory, and the pass/fail/skip helpers. Needs LW_SOURCE_DIR and
# LW_BUILD_DIR (ctest sets them) and WINEPREFIX (scripts/run-windows-tests.sh sets it).
set -euo pipefail
: "${LW_SOURCE_DIR:?}" "${LW_BUILD_DIR:?}" "${WINEPREFIX:?run through scripts/run-windows-tests.sh}"
LW_EXE="$LW_BUILD_DIR/bin/leakwatch.exe"
FIXTURES="$LW_BUILD_DIR/tests/fixtures"
tmp=$(mktemp -d /tmp/lw-wintest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# wine_run [-t SECONDS] PROGRAM.exe ARGS...: one wine process under timeout.
wine_run() {
  local limit=120
  if [ "$1" = -t ]; then limit=$2; shift 2; fi
  LW_WINE_TIMEOUT=$limit "$LW_SOURCE_DIR/scripts/wine-run.sh" "$@"
}
lw() { wine_run "$LW_EXE" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; }
# The Windows form of a path under $tmp (wine maps / to drive Z:).
winpath() { echo "Z:$1" | tr / '\\'; }
# csv_col FILE COLUMN: the values of one column (comment lines skipped, header used).
csv_col() {
  awk -F, -v name="$2" '/^#/ { next } !h { for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next } { print $c }' "$1"
}
