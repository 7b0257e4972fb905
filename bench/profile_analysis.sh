#!/usr/bin/env bash
# profile_analysis.sh - `leakwatch top` on a large heap profile, against `go tool pprof
# -top` on the same file in the same run (docs/PERFORMANCE.md, "Profile analysis").
# Target: <= 2 s and <= 4x the profile's decoded (uncompressed protobuf) size in memory.
#   bench/profile_analysis.sh [SAMPLES=200000] [MEAN_DEPTH=96]
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-200000}
depth=${2:-96}
build=${LW_BUILD_DIR:-build}
work=$(mktemp -d /tmp/lw-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
file="$work/big.pb.gz"
"$build/bench/bench_profile_gen" "$file" "$samples" "$depth"
file_bytes=$(stat -c %s "$file")
decoded_bytes=$(gunzip -c "$file" | wc -c)
echo "profile: $samples samples, mean depth $depth; file $((file_bytes / 1048576)) MiB gzipped, $((decoded_bytes / 1048576)) MiB decoded"

# Runs a command `runs` times (default 3) and keeps the median wall time and the largest
# peak RSS: the machine may be shared, and one slow run says little.
measure() { # name command...
  local name=$1
  shift
  local times=() kib=0 t k
  for ((i = 0; i < ${runs:-3}; i++)); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
      echo "$name failed:"
      cat "$work/err"
      return 1
    }
    read -r t k <"$work/time"
    times+=("$t")
    ((k > kib)) && kib=$k
  done
  seconds=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((${#times[@]} + 1) / 2))p")
  local ratio
  ratio=$(awk -v k="$kib" -v d="$decoded_bytes" 'BEGIN {printf "%.2f", k * 1024 / d}')
  printf '%-22s %7.2f s (median of %d)  %8d KiB peak RSS  (%sx decoded size)\n' "$name" \
    "$seconds" "${runs:-3}" "$kib" "$ratio"
  echo "$seconds $kib $ratio" >"$work/$name.result"
}
measure "leakwatch top" "$build/bin/leakwatch" top "$file"
measure "leakwatch top --json" "$build/bin/leakwatch" top --json "$file"
pprof="$(go env GOTOOLDIR)/pprof"
runs=1 measure "go tool pprof -top" env HOME="$work" "$pprof" -top "$file" || true

read -r seconds kib ratio <"$work/leakwatch top.result"
verdict=pass
awk -v s="$seconds" 'BEGIN {exit !(s <= 2.0)}' || verdict=FAIL
awk -v r="$ratio" 'BEGIN {exit !(r <= 4.0)}' || verdict=FAIL
echo "leakwatch top: ${seconds} s (limit 2 s), ${ratio}x decoded size (limit 4x): $verdict"
test "$verdict" = pass
