#!/usr/bin/env bash
# test_analyze_cli.sh - the analysis commands from the outside: --help, traces, flame
# (folded and SVG), list (source found, not found), diff and report argument handling, and
# bad input (truncated gzip, empty file, not a profile, 2 GB file, missing file): one line
# "leakwatch: '<file>': <problem>", exit 1, no crash, no half-written output file.
set -uo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
REF="$LW_SOURCE_DIR/tests/data/reference"
GO="$REF/go-heap-example.pb.gz"
T=$(mktemp -d /tmp/lw-analyze-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@"; then ok; else bad "$what"; fi; }

# --help on every analysis command.
for cmd in top traces diff list flame report; do
  out=$("$LW" "$cmd" --help); rc=$?
  check "$cmd --help exits 0" test $rc -eq 0
  check "$cmd --help shows usage" grep -q "^Usage: leakwatch $cmd" <<<"$out"
done

# traces: largest first, every sample, values of every type.
out=$("$LW" traces "$GO")
check "traces: first stack is the largest" \
  bash -c "grep -A1 '^-----' <<<\"\$1\" | sed -n 2p | grep -q 'inuse_space=12.2 MiB'" _ "$out"
check "traces: leaf frame with file:line" grep -q '12.2 MiB   main.leakBigBlocks main.go:37' <<<"$out"
n=$("$LW" traces --json "$GO" | jq '.traces | length')
check "traces --json lists all 7 samples" test "$n" = 7
sorted=$("$LW" traces --json "$GO" | jq '[.traces[].value] | . == (sort | reverse)')
check "traces --json sorted by value" test "$sorted" = true
n=$("$LW" traces --json -n 2 --focus leakSmall "$GO" | jq '.traces | length')
check "traces --focus -n" test "$n" = 2

# flame --folded: the FlameGraph format, root first.
"$LW" flame --folded "$GO" >"$T/folded.txt"
check "folded: one line per stack" test "$(wc -l <"$T/folded.txt")" = 5
check "folded: root first" grep -qx 'runtime.main;main.main;main.leakBigBlocks 12827985' "$T/folded.txt"
sum=$(awk '{s += $NF} END {print s}' "$T/folded.txt")
total=$("$LW" top --json "$GO" | jq .total)
check "folded: values add up to the total" test "$sum" = "$total"
# flame SVG: complete document, a group per frame, the script, no external reference.
"$LW" flame "$GO" -o "$T/flame.svg"
check "svg: xml prolog" grep -q '^<?xml' "$T/flame.svg"
check "svg: closed" bash -c "tail -1 '$T/flame.svg' | grep -qx '</svg>'"
check "svg: 12 frames (all + 11 functions)" test "$(grep -c 'class="lwf"' "$T/flame.svg")" = 12
check "svg: interactive script" grep -q 'lwFlameSearch' "$T/flame.svg"
check "svg: self-contained" bash -c "! grep -Eq '(href|src)=\"(https?:)?//' '$T/flame.svg'"

# list: source shown with per-line values when found; the reason when not.
out=$("$LW" list --source-path "$REF" leakBigBlocks "$GO")
check "list: source line with its value" \
  grep -Eq '12.2 MiB +12.2 MiB +37:[[:space:]]+leakBig = append\(leakBig, make\(\[\]byte, 64<<10\)\)' <<<"$out"
out=$("$LW" list leakBigBlocks "$GO")
check "list: says why there is no source" grep -q "not readable: No such file or directory (use --source-path DIR)" <<<"$out"
check "list: still shows the line values" grep -Eq '12.2 MiB +12.2 MiB +37$' <<<"$out"
line=$("$LW" list --json --source-path "$REF" leakSmall "$GO" | jq -r '.functions[0].lines[] | select(.flat > 0) | "\(.line) \(.flat)"')
check "list --json: line and flat" test "$line" = "46 3673601"
"$LW" list nosuchfunction "$GO" 2>"$T/err"; rc=$?
check "list: no match is an error" test $rc -eq 1
check "list: no match message" grep -q "no function matches 'nosuchfunction'" "$T/err"

# Bad input: one line naming the file, exit 1, for every command that reads profiles.
printf '' >"$T/empty.pb.gz"
head -c 700 "$GO" >"$T/truncated.pb.gz"
echo "not a profile at all" >"$T/text.pb"
truncate -s 2G "$T/huge.pb.gz"
declare -A expect=(
  [empty.pb.gz]="empty file"
  [truncated.pb.gz]="truncated gzip data (unexpected end of file)"
  [text.pb]="not a pprof profile"
  [huge.pb.gz]="the file is 2.00 GiB, more than the limit of 1.00 GiB"
  [missing.pb.gz]="No such file or directory"
)
for f in "${!expect[@]}"; do
  for cmd in "top" "traces" "flame --folded" "list main" "report -o $T/r.html" "diff $GO"; do
    # shellcheck disable=SC2086
    "$LW" $cmd "$T/$f" >/dev/null 2>"$T/err"; rc=$?
    check "$cmd $f: exit 1 (got $rc)" test $rc -eq 1
    check "$cmd $f: one line" test "$(wc -l <"$T/err")" = 1
    check "$cmd $f: message" grep -qF "leakwatch: '$T/$f': ${expect[$f]}" "$T/err"
  done
done
check "report: no file left after a failure" test ! -e "$T/r.html"
# A failed run leaves an existing output file as it was.
echo "previous" >"$T/keep.svg"
"$LW" flame "$T/truncated.pb.gz" -o "$T/keep.svg" 2>/dev/null
check "flame: old output untouched on failure" test "$(cat "$T/keep.svg")" = previous
"$LW" flame "$GO" -o "$T/no-such-dir/out.svg" 2>"$T/err"; rc=$?
check "flame: unwritable output is an error" test $rc -eq 1
check "flame: names the output" grep -qF "leakwatch: '$T/no-such-dir/out.svg': No such file or directory" "$T/err"

# Usage errors exit 2.
"$LW" diff "$GO" 2>/dev/null; check "diff with one file: exit 2" test $? -eq 2
"$LW" top 2>/dev/null; check "top without file: exit 2" test $? -eq 2
"$LW" top --sample nosuch "$GO" 2>"$T/err"; check "unknown sample type: exit 1" test $? -eq 1
check "unknown sample type: lists the types" grep -q "no sample type 'nosuch' (the profile has: alloc_objects alloc_space inuse_objects inuse_space)" "$T/err"
"$LW" top --focus '(' "$GO" 2>"$T/err"; check "bad regexp: exit 1" test $? -eq 1
check "bad regexp: says so" grep -q "bad --focus regular expression '('" "$T/err"

# report with only a watch CSV: the timeline, no table; unknown columns tolerated.
cat >"$T/watch.csv" <<'CSV'
# units: *_bytes in bytes, time_unix in seconds since the epoch
time_unix,pid,comm,rss_bytes,pss_bytes,fds,threads,mystery
1700000000,7,app,1000000,900000,5,2,abc
1700000010,7,app,2000000,1800000,6,2,def
CSV
"$LW" report "$T/watch.csv" -o "$T/csv.html"
check "csv report: timeline" grep -q 'id="lwtimeline"' "$T/csv.html"
check "csv report: 4 points for 2 bytes columns" test "$(grep -c '<circle' "$T/csv.html")" = 8
check "csv report: no top table" bash -c "! grep -q 'id=\"lwtop\"' '$T/csv.html'"
printf 'time_unix,rss_bytes\n1,2,3\n' >"$T/broken.csv"
"$LW" report "$T/broken.csv" -o "$T/b.html" 2>"$T/err"; rc=$?
check "broken csv: exit 1" test $rc -eq 1
check "broken csv: says where" grep -q "line 2: 3 fields, but the header has 2" "$T/err"

echo "$passed passed, $failed failed"
test "$failed" -eq 0
