#!/usr/bin/env bash
# test_run_windows.sh - `leakwatch.exe run` injects the agent DLL into a suspended program,
# and in exact mode (--rate 1) the report names every leak site of fixtures/leaky_sites.c
# with exactly the bytes it leaked: malloc, calloc, realloc, _strdup, _aligned_malloc and
# HeapAlloc, through msvcrt and through the Universal CRT; a DLL loaded with LoadLibrary
# after start is hooked too; the program's exit status passes through; `go tool pprof`
# reads the profile; the frames are named from DWARF (function file:line).
. "$LW_SOURCE_DIR/tests/windows/wine_lib.sh"
command -v jq >/dev/null || fail "jq missing (scripts/debian-packages.txt)"

# Usage errors.
set +e
lw run > /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "run without a command: exit $rc"
set +e
lw run -- 'C:\no\such\program.exe' > /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 127 ] || fail "missing program: exit $rc"
grep -q "command not found" "$tmp/err" || fail "missing program: $(cat "$tmp/err")"
lw run --help | grep -- "--memory-max" >/dev/null || fail "run --help"

# site_bytes REPORT FUNCTION: bytes of the site whose innermost frame is FUNCTION.
site_bytes() { jq -r --arg f "$2" '[.sites[] | select(.site | startswith($f + " "))] | .[0].bytes // "none"' "$1"; }
site_objects() { jq -r --arg f "$2" '[.sites[] | select(.site | startswith($f + " "))] | .[0].objects // "none"' "$1"; }

check_leaky() { # REPORT
  local r=$1
  for pair in leak_big:196608:3 leak_heap:5000:5 leak_small:4000:40 grow_realloc:3000:1 \
              leak_aligned:1024:4 leak_strdup:250:25 leak_calloc:240:10; do
    IFS=: read -r fn bytes objects <<< "$pair"
    got=$(site_bytes "$r" "$fn")
    [ "$got" = "$bytes" ] || { jq . "$r" | head -40; fail "$fn: expected $bytes bytes, got $got"; }
    got=$(site_objects "$r" "$fn")
    [ "$got" = "$objects" ] || fail "$fn: expected $objects objects, got $got"
  done
  # churn frees everything it allocates: not a site.
  [ "$(site_bytes "$r" churn)" = none ] || fail "churn should not be reported"
  jq -e '.exact == true and .sampling_rate == 1' "$r" > /dev/null || fail "not exact mode"
  # Sites carry file:line from DWARF.
  jq -r '.sites[0].site' "$r" | grep -Eq '^leak_big leaky_sites\.c:[0-9]+$' || fail "leak_big not symbolized"
  jq -r '.sites[0].stack[1]' "$r" | grep -Eq '^main leaky_sites\.c:[0-9]+$' || fail "caller main not named"
}

for variant in leaky_sites leaky_sites_ucrt; do
  set +e
  (cd "$tmp" && lw run --rate 1 --json -o "$variant.pb.gz" -- "$(winpath "$FIXTURES/$variant.exe")" \
    > "$tmp/$variant.out" 2> "$tmp/$variant.json")
  rc=$?
  set -e
  [ $rc -eq 7 ] || { cat "$tmp/$variant.json"; fail "$variant: exit status $rc, expected the program's 7"; }
  check_leaky "$tmp/$variant.json"
  [ -s "$tmp/$variant.pb.gz" ] || fail "$variant: no profile"
  echo "$variant: all 7 sites exact"
done

# The msvcrt profile through go tool pprof (the same reader Linux profiles are checked with).
if command -v go > /dev/null; then
  go tool pprof -top -sample_index=inuse_space "$tmp/leaky_sites.pb.gz" > "$tmp/top" 2> "$tmp/top.err" ||
    { cat "$tmp/top.err"; fail "go tool pprof rejects the profile"; }
  grep -q "192kB.*leak_big" "$tmp/top" || { cat "$tmp/top"; fail "pprof -top lacks leak_big 192kB"; }
fi

# A DLL loaded after start: its allocations are seen.
(cd "$tmp" && lw run --rate 1 --json -o later.pb.gz -- "$(winpath "$FIXTURES/load_later.exe")" \
  > /dev/null 2> "$tmp/later.json") || fail "load_later failed: $(cat "$tmp/later.json")"
[ "$(site_bytes "$tmp/later.json" leak_in_dll)" = 1998 ] || { cat "$tmp/later.json"; fail "leak_in_dll: 1998 bytes expected"; }
echo "load_later: leak_in_dll 1998 bytes"

# Sampling (the default rate): the 192 KiB of 64 KiB blocks is estimated within 40%
# (a 64 KiB block is sampled with probability 1 - exp(-64/512) = 12%, weighed 8.5x).
set +e
(cd "$tmp" && lw run --rate 16k --json -o sampled.pb.gz -- "$(winpath "$FIXTURES/leaky_sites.exe")" \
  > /dev/null 2> "$tmp/sampled.json")
set -e
jq -e '.exact == false and .sampling_rate == 16384' "$tmp/sampled.json" > /dev/null || fail "sampled mode"
big=$(site_bytes "$tmp/sampled.json" leak_big)
[ "$big" != none ] && [ "$big" -ge 117964 ] && [ "$big" -le 275251 ] || fail "sampled leak_big $big not within 40% of 196608"
echo "sampled: leak_big estimated $big bytes"
echo PASS
