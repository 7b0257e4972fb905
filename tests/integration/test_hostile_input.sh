#!/usr/bin/env bash
# test_hostile_input.sh - crafted profiles, processes and bad arguments (issue 13): a
# profile whose mapping names a FIFO, a device or /proc/self/mem never blocks or opens it
# (regular files only), nor a FIFO where elfutils looks for debug info or where `list`
# looks for a source file; names with escape sequences (functions, source lines, a
# process's own name in `watch`) reach the terminal as "\x1b" text; /dev/zero and gzip
# bombs are refused early with memory near the limit; nan, empty and overflowing numbers
# are refused with one line. Every refusal: one line, a non-zero exit. LW_TEST_LIMIT
# (seconds, default 120) bounds each command, so a hang fails instead of blocking.
. "$(dirname "$0")/lib.sh"
lw_test_begin hostile-input
lw_test_require python3 "crafts the profiles"

one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }
# A command that blocks fails the test instead of hanging it (LW_TEST_LIMIT: seconds).
limited() { timeout "${LW_TEST_LIMIT:-120}" "$@"; }
no_escape() { ! grep -q $'\x1b' "$1"; } # no ESC byte anywhere in the file
# Each command (a word list, profile last) must finish with status 0 and say PATTERN.
check_commands_finish() { # WHAT PROFILE PATTERN WHY COMMAND...
  local what=$1 profile=$2 pattern=$3 why=$4 cmd rc
  shift 4
  for cmd in "$@"; do
    # shellcheck disable=SC2086
    limited "$LW" $cmd "$profile" >out 2>err </dev/null
    rc=$?
    check "$what: '$cmd' finishes (exit $rc)" test $rc -eq 0
    check "$what: '$cmd' $why" grep -q "$pattern" err
  done
}

# ---- mappings that name what is not a regular file ------------------------------------------
# A profile of a program that lived at bin/prog; the file is then replaced by something else.
# (10000: shallow_leak allocates 10 MB, about 20 samples at the default rate, so every
# function the checks below rename is in the sampled profile too.)
mkdir bin
for rate in 524288 1; do
  cp "$FIX/leak_depths" bin/prog
  LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/p$rate.pb.gz" bin/prog 10000 >/dev/null 2>&1
  check "rate $rate: the agent wrote the profile" test -s "p$rate.pb.gz"
  check "rate $rate: the profile names bin/prog" bash -c "gzip -dc p$rate.pb.gz | grep -aq '$work/bin/prog'"
done
cp "$FIX/leak_depths" bin/prog.real
for what in fifo tty mem zero; do
  rm -f bin/prog
  case $what in
    fifo) mkfifo bin/prog ;;
    tty) ln -s /dev/tty bin/prog ;;
    mem) ln -s /proc/self/mem bin/prog ;;
    zero) ln -s /dev/zero bin/prog ;;
  esac
  for rate in 524288 1; do
    check_commands_finish "$what, rate $rate" "p$rate.pb.gz" \
      "bin/prog' (build ID [0-9a-f]*): not a regular file" "says the binary is not a regular file" \
      top traces flame report "diff p$rate.pb.gz" "list main"
  done
done

# The binary is a real one, but its .gnu_debuglink file beside it (where elfutils looks for
# debug info) is a FIFO: skipped with a warning, never opened.
if command -v objcopy >/dev/null; then
  mkdir dl
  objcopy --only-keep-debug "$FIX/leak_depths" dl/prog.debug
  objcopy --strip-debug --add-gnu-debuglink=dl/prog.debug "$FIX/leak_depths" dl/prog
  rm dl/prog.debug
  mkfifo dl/prog.debug
  for rate in 524288 1; do
    LD_PRELOAD="$AGENT" LEAKWATCH_RATE=$rate LEAKWATCH_OUTPUT="$work/dl$rate.pb.gz" dl/prog 10000 >/dev/null 2>&1
    check_commands_finish "debuglink FIFO, rate $rate" "dl$rate.pb.gz" \
      "a debug info file where elfutils looks is not a regular file" \
      "says why it symbolizes without it" top traces flame report
  done
else
  echo "SKIP: debuglink checks need objcopy (binutils)"
fi

# `list` opens the source files the debug info names: a FIFO there is not waited on.
if command -v cc >/dev/null; then
  mkdir src
  # (the source itself carries an escape sequence in a comment, and a tab)
  printf '#include <stdlib.h>\nvoid *kept;\nint main(void) {\n\tkept = malloc(1000); /* \033[2J */\n  return 0;\n}\n' >src/leak.c
  cc -g -O0 -o src/leak src/leak.c
  LD_PRELOAD="$AGENT" LEAKWATCH_RATE=1 LEAKWATCH_OUTPUT="$work/src.pb.gz" src/leak
  limited "$LW" list main src.pb.gz >out 2>err
  check "list shows the source while it is a file" grep -q "kept = malloc(1000)" out
  check "list shows the source's escape sequence as text" grep -qF '/* \x1b[2J */' out
  check "list prints no ESC byte from the source" no_escape out
  check "list keeps the source's tab" grep -q "$(printf '\t')kept = malloc" out
  rm src/leak.c
  mkfifo src/leak.c
  limited "$LW" list main src.pb.gz >out 2>err </dev/null
  rc=$?
  check "list with the source file a FIFO finishes (exit $rc)" test $rc -eq 0 -o $rc -eq 1
  check "and says the source is not a regular file" grep -q "leak.c' not readable: not a regular file" out err
else
  echo "SKIP: the list check needs a C compiler"
fi

# ---- names with escape sequences ----------------------------------------------------------
# shallow_leak (12 bytes) becomes ESC ] 0 ; p w n BEL ESC [ 2 J (12 bytes: set the window
# title, clear the screen), chain_leaf becomes 10 bytes with a C1 CSI and invalid UTF-8.
rm -f bin/prog # the binary is gone: names stay as the profile has them
craft() { # IN OUT
  python3 - "$1" "$2" <<'EOF'
import gzip, sys
data = gzip.decompress(open(sys.argv[1], "rb").read())
assert b"shallow_leak" in data and b"chain_leaf" in data
data = data.replace(b"shallow_leak", b"\x1b]0;pwn\x07\x1b[2J")
data = data.replace(b"chain_leaf", b"ab\xc2\x9b31m\xff\xfe!")
open(sys.argv[2], "wb").write(gzip.compress(data))
EOF
}
for rate in 524288 1; do
  craft "p$rate.pb.gz" "evil$rate.pb.gz"
  for cmd in top traces "diff p$rate.pb.gz" "list ." "top --no-symbolize"; do
    # shellcheck disable=SC2086
    limited "$LW" $cmd "evil$rate.pb.gz" >out 2>err
    rc=$?
    check "escapes, rate $rate: '$cmd' succeeds (exit $rc)" test $rc -eq 0
    check "escapes, rate $rate: '$cmd' prints no ESC byte" no_escape out
    check "escapes, rate $rate: '$cmd' shows it as \\x1b text" grep -qF '\x1b]0;pwn\x07\x1b[2J' out
    check "escapes, rate $rate: '$cmd' stderr has no ESC byte" no_escape err
  done
  limited "$LW" top "evil$rate.pb.gz" >out 2>&1
  check "escapes, rate $rate: C1 and invalid UTF-8 become \\x text" grep -qF 'ab\xc2\x9b31m\xff\xfe!' out
  limited "$LW" top --json "evil$rate.pb.gz" >out.json 2>/dev/null
  check "escapes, rate $rate: --json is valid JSON" python3 -c "import json,sys; json.load(open('out.json'))"
  check "escapes, rate $rate: --json has no raw ESC" no_escape out.json
  limited "$LW" flame -o evil.svg "evil$rate.pb.gz" 2>/dev/null
  check "escapes, rate $rate: the SVG is well-formed XML" \
    python3 -c "import xml.dom.minidom as m; m.parse('evil.svg')"
  limited "$LW" report -o evil.html "evil$rate.pb.gz" 2>/dev/null
  check "escapes, rate $rate: the HTML has no raw ESC" no_escape evil.html
done

# A process names itself (prctl PR_SET_NAME): watch prints the name escaped.
python3 -c 'import ctypes, time
ctypes.CDLL(None).prctl(15, b"\x1b]0;pwn\x07\x1b[2J", 0, 0, 0)
time.sleep(60)' &
named=$!
pids+=("$named")
for _ in $(seq 100); do grep -q pwn "/proc/$named/comm" 2>/dev/null && break; sleep 0.05; done
limited "$LW" watch --plain --count 2 --interval 200ms $named >out 2>err
check "watch: a process named with escapes is shown (exit $?)" grep -qF '\x1b]0;pwn\x07' out
check "watch: no ESC byte reaches the terminal" no_escape out
kill $named 2>/dev/null

# ---- endless input and gzip bombs ---------------------------------------------------------
# Runs COMMAND... and prints "EXIT_STATUS PEAK_RSS_KB" (stderr goes to err).
peak() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("err", "w")).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
# A gzip file of MIB MiB of zeros in one member (a multi-member bomb is checked after each
# member and was never the problem); FIRST (hex) replaces the start of the data.
bomb() { # OUT MIB [FIRST]
  python3 - "$@" <<'PY'
import sys, zlib
out, mib = sys.argv[1], int(sys.argv[2])
first = bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else b""
chunk = bytes(64 << 20)
z = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip wrapper
with open(out, "wb") as f:
    f.write(z.compress(first + chunk[len(first):]))
    for _ in range(mib // 64 - 1):
        f.write(z.compress(chunk))
    f.write(z.flush())
PY
}
# Random bytes, the same each run (a seeded generator into a FIFO, until it is closed).
mkfifo random.fifo
random_bytes() {
  python3 -c 'import random, sys
r = random.Random(7)
try:
    while True:
        sys.stdout.buffer.write(r.randbytes(65536))
except (BrokenPipeError, OSError):
    pass' >random.fifo 2>/dev/null &
  writer=$!
}
for input in /dev/zero random.fifo; do
  for cmd in top "diff $input" flame report; do
    [ "$input" = random.fifo ] && random_bytes
    # shellcheck disable=SC2086
    read -r rc kb < <(peak timeout "${LW_TEST_LIMIT:-120}" "$LW" $cmd "$input")
    # The writer ends once no one reads (opened here too, in case it never was).
    [ "$input" = random.fifo ] && { exec 3<>random.fifo; exec 3<&-; wait "$writer"; }
    check "$cmd $input: refused (exit $rc)" test "$rc" -eq 1
    check "$cmd $input: one line" one_line err
    check "$cmd $input: says it is not a profile" grep -q "'$input': not a pprof profile" err
    check "$cmd $input: refused early (peak $kb KiB < 64 MiB)" test "$kb" -lt 65536
  done
done
# Zeros: judged from the first bytes inside, at once.
bomb zeros.gz 2304
read -r rc kb < <(peak "$LW" top zeros.gz)
check "a gzip bomb of zeros is refused (exit $rc)" test "$rc" -eq 1
check "a gzip bomb of zeros: one line" one_line err
check "a gzip bomb of zeros: not a profile" grep -q "'zeros.gz': not a pprof profile" err
check "a gzip bomb of zeros: refused early (peak $kb KiB < 64 MiB)" test "$kb" -lt 65536
# A bomb that starts like a Profile (field 6, a 512 MiB string_table entry): the 1 GiB limit
# stops it, with memory near the limit (it was twice the limit: 2.1 GB, the inflater
# filling the whole doubled buffer before looking at the size).
bomb looks.gz 2304 328080808002
read -r rc kb < <(peak "$LW" top looks.gz)
check "a profile-like gzip bomb is refused (exit $rc)" test "$rc" -eq 1
check "a profile-like gzip bomb: one line" one_line err
check "a profile-like gzip bomb: past the limit" \
  grep -q "'looks.gz': decompresses to more than the limit of 1.00 GiB" err
check "a profile-like gzip bomb: peak $kb KiB stays near the 1 GiB limit (< 1.25 GiB)" \
  test "$kb" -lt 1310720
rm -f zeros.gz looks.gz
# Profiles from a pipe are still read (process substitution, /dev/stdin).
gzip -dc p1.pb.gz >plain.pb
check "a plain profile from a pipe still loads" bash -c "cat plain.pb | '$LW' top /dev/stdin >/dev/null 2>&1"
check "a gzipped profile from a pipe still loads" bash -c "'$LW' top <(cat p1.pb.gz) >/dev/null 2>&1"

# ---- numbers: nan, empty, overflow ----------------------------------------------------------
refused() { # EXIT TEXT COMMAND...: exits EXIT with one line holding TEXT
  local want=$1 text=$2
  shift 2
  "$@" >/dev/null 2>err
  local rc=$?
  check "$* : exit $want (got $rc)" test $rc -eq "$want"
  check "$* : one line" one_line err
  check "$* : says '$text'" grep -qF -- "$text" err
}
P=p1.pb.gz
for v in nan NaN inf -0.5 1.5 ''; do
  refused 2 "invalid value '$v' for --node-fraction (a number from 0 to 1)" "$LW" top --node-fraction "$v" $P
done
for cmd in top traces flame list report diff; do
  extra=()
  [ "$cmd" = list ] && extra=(main)
  [ "$cmd" = diff ] && extra=($P)
  # (--no-symbolize: the binary is gone, and its warnings are not what is checked here)
  refused 2 "empty value for --sample" "$LW" $cmd -s '' "${extra[@]}" $P
  refused 1 "sample index '18446744073709551616' is out of range (0 to 3)" \
    "$LW" $cmd --no-symbolize -s 18446744073709551616 "${extra[@]}" $P
  refused 1 "sample index '-1' is out of range (0 to 3)" \
    "$LW" $cmd --no-symbolize -s -1 "${extra[@]}" $P
done
refused 2 "value '18446744073709551616' for --seconds is out of range (from 1 to 3600)" \
  "$LW" heap -s 18446744073709551616 $$
refused 2 "invalid value '' for --seconds" "$LW" heap -s '' $$
refused 2 "value '18446744073709551616' for --nodes is out of range" "$LW" top -n 18446744073709551616 $P
refused 2 "size '99999999999999999999k' for --rate is out of range" \
  "$LW" run --rate 99999999999999999999k -- true
refused 2 "size '17179869184g' for --rate is out of range" "$LW" run --rate 17179869184g -- true
refused 2 "invalid size '12q' for --rate" "$LW" run --rate 12q -- true
refused 2 "duration '99999999999999999999999s' for --interval is out of range" \
  "$LW" watch --interval 99999999999999999999999s $$
check "a good --node-fraction is still accepted" quiet "$LW" top --node-fraction 0.5 $P
check "a good sample index is still accepted" quiet "$LW" top -s 3 $P

lw_test_end
