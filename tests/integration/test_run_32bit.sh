#!/usr/bin/env bash
# test_run_32bit.sh - programs the agent cannot enter (issue 13): a 32-bit program is
# refused before it starts (the loader would skip the 64-bit agent with one line and run it
# unprofiled), and so is a script whose interpreter is one; a script that execs a 32-bit
# program can only be judged after the run: no profile, said with why that can be, and a
# profile left from an earlier run is not taken for this run's. The 32-bit programs are
# crafted here (tiny i386 ELF files), so no 32-bit toolchain is needed.
. "$(dirname "$0")/lib.sh"
lw_test_begin run-32bit
lw_test_require python3 "writes the 32-bit ELF files"

one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }
# OUT static|dynamic: an i386 executable that exits 0; "dynamic" also names a loader
# (PT_INTERP), as every dynamically linked 32-bit program does.
elf32() {
  python3 - "$@" <<'PY'
import struct, sys
out, kind = sys.argv[1], sys.argv[2]
base = 0x08048000
code = bytes.fromhex("b801000000" "31db" "cd80")  # mov eax,1; xor ebx,ebx; int 0x80: exit(0)
interp = b"/lib/ld-linux.so.2\0" if kind == "dynamic" else b""
n_ph = 2 if interp else 1
data_off = 52 + 32 * n_ph
code_off = data_off + len(interp)
size = code_off + len(code)
ehdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
ehdr += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + code_off, 52, 0, 0, 52, 32, n_ph, 40, 0, 0)
ph = b""
if interp:
    ph += struct.pack("<8I", 3, data_off, base + data_off, base + data_off, len(interp), len(interp), 4, 1)
ph += struct.pack("<8I", 1, 0, base, base, size, size, 5, 0x1000)
open(out, "wb").write(ehdr + ph + interp + code)
PY
  chmod +x "$1"
}
elf32 prog32 dynamic
elf32 static32 static

# ---- refused up front ----------------------------------------------------------------------
"$LW" run -o p.pb.gz -- ./prog32 >/dev/null 2>err
rc=$?
check "a 32-bit program is refused (exit $rc)" test $rc -eq 1
check "in one line" one_line err
check "saying it is 32-bit and the agent 64-bit" \
  grep -q "cannot profile './prog32': it is a 32-bit program and the agent a 64-bit library" err
check "nothing was written" test ! -e p.pb.gz
printf '#!%s/prog32\n' "$work" >script32
chmod +x script32
"$LW" run -o p.pb.gz -- ./script32 >/dev/null 2>err
rc=$?
check "a script run by a 32-bit interpreter is refused (exit $rc)" test $rc -eq 1
check "in one line naming the interpreter" \
  grep -q "cannot profile './script32': its interpreter '$work/prog32' cannot be profiled: it is a 32-bit program" err
"$LW" run -o p.pb.gz -- ./static32 >/dev/null 2>err
check "a static 32-bit program is refused as static" grep -q "it is statically linked" err

# ---- only known after the run ----------------------------------------------------------------
if ./static32 2>/dev/null; then
  printf '#!/bin/sh\nexec ./static32\n' >runs32
  chmod +x runs32
  for rate in 524288 1; do
    rm -f p.pb.gz
    "$LW" run --rate $rate -o p.pb.gz -- ./runs32 >/dev/null 2>err
    rc=$?
    check "rate $rate: a script that execs a 32-bit program runs, then fails (exit $rc)" test $rc -eq 1
    check "rate $rate: no profile, and the message says what can cause that" \
      grep -q "no heap profile at 'p.pb.gz': .*exec'ing a program the agent cannot enter: 32-bit" err
    # A profile from an earlier run is not reported as this run's.
    "$LW" run --rate $rate -o p.pb.gz -- "$FIX/leak_depths" >/dev/null 2>&1
    check "rate $rate: an earlier run wrote a profile" test -s p.pb.gz
    "$LW" run --rate $rate -o p.pb.gz -- ./runs32 >/dev/null 2>err
    rc=$?
    check "rate $rate: with an old profile there, still a failure (exit $rc)" test $rc -eq 1
    check "rate $rate: 'no new heap profile', not the old one's report" \
      grep -q "no new heap profile at 'p.pb.gz'" err
    check "rate $rate: the old profile's report is not printed" bash -c "! grep -q 'still allocated' err"
  done
else
  echo "SKIP: this kernel does not run 32-bit programs (no IA32 emulation)"
fi

lw_test_end
