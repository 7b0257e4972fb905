#!/usr/bin/env bash
# test_exit_verdicts.sh - `leakwatch run --leaks` judges growth on the history from before
# exit began, not on the last point taken after tear-down freed everything (issue 15):
#   - a C++ program whose std::map at namespace scope grows without bound: its static
#     destructor frees the map after main returns;
#   - a python3 script whose module-level dict grows: the interpreter's shutdown frees it
#     before exit() is even called.
# Both must be named leak suspects, with what was freed only during exit said as such.
# About 25 s (two 8 s runs, history every 250 ms).
. "$(dirname "$0")/lib.sh"
lw_test_begin exit-verdicts
lw_test_require python3 "the interpreter case runs a python3 script"
LEAKS="--leaks --history-interval 250ms --min-window 4s"

judge() { # NAME COMMAND...: runs it under --leaks twice (text, then --json)
  local name=$1
  shift
  "$LW" run $LEAKS -o "$name.pb.gz" -- "$@" >"$name.out" 2>"$name.txt"
  check "$name: exit status 0" test $? = 0
  "$LW" run $LEAKS --json -o "$name-j.pb.gz" -- "$@" >"$name-j.out" 2>"$name.json"
  check "$name --json: a valid report" jq -e . "$name.json" >/dev/null
}

judge cxx "$FIX/global_map_grower" --seconds 8 --kib-per-tick 256 --tick-ms 50
check "C++ global map: 'remember' is a leak suspect" \
  grep -q "LEAK SUSPECT (.* confidence), .* at remember global_map_grower.cpp" cxx.txt
check "C++ global map: not 'no leak suspected'" bash -c "! grep -q 'no leak suspected' cxx.txt"
check "C++ global map: what the destructor freed is said" \
  grep -Eq "^leakwatch: [0-9.]+ MiB was freed only during exit" cxx.txt
check "C++ global map: the site says it was freed only during exit" \
  grep -q "freed only during exit: .* (held until exit began)" cxx.txt
# 40 MiB when the machine keeps up; the thresholds leave room for a starved one.
check "C++ --json: the site is a suspect, freed at exit, over 8 MiB (got $(jq '.grew_during_the_run.freed_at_exit_bytes' cxx.json))" \
  jq -e '.grew_during_the_run | .freed_at_exit_bytes > 8e6 and .judged_until_ms > 0
    and ([.suspects[] | select(.suspect and (.site | startswith("remember")) and .freed_at_exit > 8e6)] | length) == 1' cxx.json

judge python python3 "$LW_SOURCE_DIR/tests/fixtures/interpreter_grower.py" 8 256 50
check "python3 dict: a leak suspect" grep -q "LEAK SUSPECT (.* confidence)" python.txt
check "python3 dict: not 'no leak suspected'" bash -c "! grep -q 'no leak suspected' python.txt"
check "python3 dict: what the shutdown freed is said" \
  grep -Eq "^leakwatch: [0-9.]+ MiB was freed only during exit" python.txt
check "python3 --json: a suspect growing over 50 MiB/min, freed at exit (got $(jq -c '[.grew_during_the_run.suspects[] | .bytes_per_minute]' python.json))" \
  jq -e '[.grew_during_the_run.suspects[] | select(.suspect and .bytes_per_minute > 50e6 and .freed_at_exit > 8e6)] | length == 1' python.json

# What the agent wrote: the exit point comes after exit_began_ms, which a live history lacks.
check "the history says when exit began" grep -Eq '^exit_began_ms [0-9]+$' cxx.pb.gz.history
began=$(sed -n 's/^exit_began_ms //p' cxx.pb.gz.history)
now=$(sed -n 's/^now_ms //p' cxx.pb.gz.history)
check "exit began ($began ms) no later than the history ends ($now ms)" test "$began" -le "$now"
lw_test_end
