#!/usr/bin/env bash
# test_output_files.sh - where the CLI and the agent put what they write (issue 13): every
# file they create is private (0600) whatever the umask; an output name that is a symlink,
# FIFO, device or directory (-o, --report, --csv, --jsonl, LEAKWATCH_OUTPUT,
# LEAKWATCH_HISTORY_OUTPUT) is refused with one line (the agent's naming what is there) and
# a non-zero exit, before any work and without touching what is there; a failed command
# leaves the file it would have replaced as it was.
. "$(dirname "$0")/lib.sh"
lw_test_begin output-files
umask 022

one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }
# Runs with a deadline: a FIFO opened for writing would block forever.
limited() { timeout 60 "$@"; }

# ---- files created are 0600 --------------------------------------------------------------
for rate in 524288 1; do
  "$LW" run --rate "$rate" -o "p$rate.pb.gz" --report "r$rate.txt" -- "$FIX/leak_depths" >/dev/null 2>&1
  check "run --rate $rate: the profile is 0600" test "$(stat -c %a "p$rate.pb.gz")" = 600
  check "run --rate $rate: the report is 0600" test "$(stat -c %a "r$rate.txt")" = 600
  check "run --rate $rate: the report has the leak" grep -q "still allocated at exit" "r$rate.txt"
done
"$LW" flame -o f.svg p1.pb.gz 2>/dev/null
check "flame -o: the SVG is 0600" test "$(stat -c %a f.svg)" = 600
"$LW" report -o r.html p1.pb.gz 2>/dev/null
check "report -o: the HTML is 0600" test "$(stat -c %a r.html)" = 600
"$LW" watch --count 1 --interval 100ms --csv w.csv --jsonl w.jsonl $$ >/dev/null 2>&1
check "watch --csv: the CSV is 0600" test "$(stat -c %a w.csv)" = 600
check "watch --jsonl: the JSON lines are 0600" test "$(stat -c %a w.jsonl)" = 600
check "watch --csv: the CSV has its sample" grep -q "^[0-9]" w.csv
# A regular file already there is replaced by a private one.
echo old >shared.txt
chmod 644 shared.txt
"$LW" flame -o shared.txt p1.pb.gz 2>/dev/null
check "a replaced regular file becomes 0600" test "$(stat -c %a shared.txt)" = 600

# ---- symlinks, FIFOs, devices, directories are refused ------------------------------------
# A symlink planted in a shared directory never gets its target overwritten.
echo precious >victim2
ln -s "$work/victim2" rlink
ln -s "$work/victim2" clink
"$LW" run -o p.pb.gz --report rlink -- "$FIX/leak_depths" >/dev/null 2>&1
check "run --report through a planted symlink leaves its target alone" test "$(cat victim2)" = precious
"$LW" watch --count 1 --interval 100ms --csv clink $$ >/dev/null 2>&1
check "watch --csv through a planted symlink leaves its target alone" test "$(cat victim2)" = precious
rm -f p.pb.gz
echo precious >victim
ln -s "$work/victim" link
mkfifo fifo
mkdir adir
targets=(link fifo adir)
if [ "$(id -u)" -eq 0 ]; then
  mknod null c 1 3 # a copy of /dev/null here: replacing it would be the bug
  targets+=(null)
fi
kind_of() {
  case $1 in link) echo "a symbolic link" ;; fifo) echo "a FIFO" ;; adir) echo "a directory" ;;
    null) echo "a character device" ;; esac
}
for t in "${targets[@]}"; do
  kind=$(kind_of "$t")
  limited "$LW" run -o "$t" -- "$FIX/leak_depths" >/dev/null 2>err
  rc=$?
  check "run -o $t: refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
  check "run -o $t: one line naming it" one_line err
  check "run -o $t: says it is $kind" grep -q "cannot write profile '$t': it is $kind, not a regular file" err
  check "run -o $t: the program did not run (no default profile)" test -z "$(ls leakwatch-*.pb.gz 2>/dev/null)"

  limited "$LW" run -o p.pb.gz --report "$t" -- "$FIX/leak_depths" >/dev/null 2>err
  rc=$?
  check "run --report $t: refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
  check "run --report $t: one line" one_line err
  check "run --report $t: says it is $kind" grep -q "cannot write report '$t': it is $kind" err
  check "run --report $t: refused before the run" test ! -e p.pb.gz

  for cmd in flame report; do
    limited "$LW" "$cmd" -o "$t" p1.pb.gz >/dev/null 2>err
    rc=$?
    check "$cmd -o $t: refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
    check "$cmd -o $t: one line" one_line err
    check "$cmd -o $t: says it is $kind" grep -q "'$t': it is $kind" err
  done
  limited "$LW" heap -o "$t" $$ >/dev/null 2>err
  rc=$?
  check "heap -o $t: refused before asking the process (exit $rc)" test $rc -ne 0 -a $rc -ne 124
  check "heap -o $t: says it is $kind" grep -q "cannot write profile '$t': it is $kind" err

  for opt in csv jsonl; do
    limited "$LW" watch --count 1 --interval 100ms "--$opt" "$t" $$ >/dev/null 2>err
    rc=$?
    check "watch --$opt $t: refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
    check "watch --$opt $t: one line" one_line err
    check "watch --$opt $t: says it is $kind" grep -q "'$t': it is $kind" err
  done

  # The agent on its own: one log line, nothing written, the program runs on unchanged.
  for rate in 524288 1; do
    limited env LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/$t" \
      "$FIX/leak_depths" >out 2>err
    rc=$?
    check "LEAKWATCH_OUTPUT=$t rate $rate: the program's status is its own" test $rc -eq 0
    check "LEAKWATCH_OUTPUT=$t rate $rate: the agent says it cannot write there" \
      grep -q "cannot write heap profile '$work/$t'" err
    check "LEAKWATCH_OUTPUT=$t rate $rate: no temporary file left" test -z "$(ls | grep '\.tmp\.')"
  done
  # The history beside a profile (`run --leaks` sets both): the refusal is named, not
  # "File exists".
  limited env LD_PRELOAD="$AGENT" LEAKWATCH_OUTPUT="$work/h.pb.gz" \
    LEAKWATCH_HISTORY_OUTPUT="$work/$t" "$FIX/leak_depths" >out 2>err
  rc=$?
  rm -f h.pb.gz
  check "LEAKWATCH_HISTORY_OUTPUT=$t: the program's status is its own" test $rc -eq 0
  check "LEAKWATCH_HISTORY_OUTPUT=$t: the agent says it is $kind" \
    grep -q "cannot write history '$work/$t': it is $kind, not a regular file (refusing to replace it)" err
  check "LEAKWATCH_HISTORY_OUTPUT=$t: no temporary file left" test -z "$(ls | grep '\.tmp\.')"
done
for cmd in "flame -o '' p1.pb.gz" "run -o '' -- true" "run --report '' -- true"; do
  eval "\"\$LW\" $cmd" >/dev/null 2>err
  rc=$?
  check "$cmd: refused (exit $rc)" test $rc -eq 1
  check "$cmd: says the name is empty" grep -q "an empty file name" err
done
check "the symlink's target is untouched" test "$(cat victim)" = precious
check "the symlink is still a symlink" test -L link
check "the FIFO is still a FIFO" test -p fifo
check "the directory is still empty" test -z "$(ls -A adir)"
[ -e null ] && check "the device is still a device" test -c null

# ---- nothing written before is lost --------------------------------------------------------
cp f.svg f.before
printf 'not a profile' >broken.pb.gz
"$LW" flame -o f.svg broken.pb.gz >/dev/null 2>&1
check "a failed flame leaves the old SVG as it was" cmp -s f.svg f.before
cp w.csv w.before
"$LW" watch --count 1 --interval 100ms --csv w.csv --jsonl link $$ >/dev/null 2>&1
check "watch refusing --jsonl leaves the old CSV as it was" cmp -s w.csv w.before
cp r1.txt r1.before
"$LW" run -o p1.pb.gz --report r1.txt -- /nonexistent/program >/dev/null 2>&1
check "a run that cannot start leaves the old report" cmp -s r1.txt r1.before

lw_test_end
