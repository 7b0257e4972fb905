#!/usr/bin/env bash
# setup.sh - installs what is missing (Debian 12, run as root), then builds leakwatch.
#   scripts/setup.sh            install + build into ./build
#   scripts/setup.sh --demo     ... and run `leakwatch run` on the bundled leaky example
#   scripts/setup.sh --packages-only   install what is missing, build nothing
# Extra CMake arguments can be passed in LW_CMAKE_ARGS (CI sets -DLW_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."

demo=0
packages_only=0
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    --packages-only) packages_only=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/debian-packages.txt | awk '{print $1}')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root (apt-get needs it)" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$packages_only" = 1 ] && exit 0

# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${LW_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)" 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^(Consolidate|Scanning)' || true
test -x build/bin/leakwatch || { echo "setup.sh: build failed" >&2; exit 1; }
echo "setup.sh: built build/bin/leakwatch and build/lib/libleakwatch.so"

if [ "$demo" = 1 ]; then
  echo "setup.sh: running: build/bin/leakwatch run -- build/bin/examples/leaky_cache"
  exec build/bin/leakwatch run -- build/bin/examples/leaky_cache
fi
