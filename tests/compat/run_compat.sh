#!/usr/bin/env bash
# run_compat.sh - real programs under the agent (issue 7; docs/COMPATIBILITY.md). sqlite3,
# python3, bash, gcc, git, redis-server, nginx and memcached each run without the agent,
# under `leakwatch run` at the default rate and under `leakwatch run --rate 1`. What they
# print (servers: what they answer) must be identical, exit statuses equal, and every agent
# run must leave a profile that `leakwatch top` (and `go tool pprof`, where Go is installed)
# reads. Servers run in the foreground with the agent in them and are stopped by SIGTERM.
# Prints the wall times (median of --repeat runs) and the slowdowns as a table.
#   run_compat.sh [--repeat N] [--only NAME,...] [--markdown FILE]
#     --repeat N       run everything N times, report the median time (default
#                      $LW_COMPAT_REPEAT, else 1; docs/COMPATIBILITY.md uses 3)
#     --only NAMES     run only these programs (sqlite3,python3,bash,gcc,git,redis,nginx,memcached)
#     --markdown FILE  also write the table's rows as markdown, for docs/COMPATIBILITY.md
# ctest runs it as compat/real_programs; by hand it finds the build in ./build.
# shellcheck disable=SC2317 # the case_* functions are called by name
here=$(cd "$(dirname "$0")" && pwd)
export LW_SOURCE_DIR=${LW_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export LW_BUILD_DIR=${LW_BUILD_DIR:-$LW_SOURCE_DIR/build}
# shellcheck source=../integration/lib.sh
. "$LW_SOURCE_DIR/tests/integration/lib.sh"

repeat=${LW_COMPAT_REPEAT:-1}
only=""
markdown=""
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) repeat=$2; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --markdown) markdown=$(realpath -m "$2"); shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run_compat.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $repeat in '' | *[!0-9]* | 0) echo "run_compat.sh: --repeat wants a count" >&2; exit 2 ;; esac

lw_test_begin compat
lw_test_require sqlite3 "the sqlite3 workload"
lw_test_require gcc "the gcc workload"
lw_test_require git "the git workload"
lw_test_require redis-server "the redis workload"
lw_test_require redis-benchmark "drives redis-server (redis-tools)"
lw_test_require redis-cli "checks redis-server's replies (redis-tools)"
lw_test_require nginx "the nginx workload"
lw_test_require memcached "the memcached workload"
lw_test_require python3 "the python3 workload and the nginx and memcached clients"
# Debian's interpreter, not a version manager's shim: a shim is a shell script, which would
# put the agent in bash and measure that.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
have_go=0
command -v go >/dev/null && have_go=1

programs=(sqlite3 python3 bash gcc git redis nginx memcached)
modes=(plain default exact)
limit=120 # seconds any one run may take before it counts as hung
export PYTHONHASHSEED=0 LC_ALL=C
redis_requests=20000 # per redis-benchmark test (7 tests)
nginx_requests=300   # per nginx_client.py thread (4 threads)

# Sets runner: what goes before the command in MODE, its profile and report in DIR.
set_runner() { # MODE DIR
  case $1 in
    plain) runner=() ;;
    default) runner=("$LW" run --report "$2/report.txt" -o "$2/profile.pb.gz" --) ;;
    exact) runner=("$LW" run --rate 1 --report "$2/report.txt" -o "$2/profile.pb.gz" --) ;;
  esac
}

since() { # EPOCHREALTIME: prints the seconds from then to now
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

# Runs a program to its end in the foreground: `timeout` kills its whole process group if
# it hangs. Sets status, and took: the seconds from its start to its end (with the agent,
# including what leakwatch run does after the program).
run_bounded() { # COMMAND...: stdin, stdout and stderr as the caller redirects them
  local start=$EPOCHREALTIME
  timeout -k 5 "$limit" "${runner[@]}" "$@"
  status=$?
  took=$(since "$start")
}

# The eight workloads. Each runs once in directory $1 with $runner, leaves what must be the
# same in every mode in $1/out (and $1/err where stderr is compared) and sets status and
# took (the program's time, not what checks its results). Servers also set busy: how long
# the load they serve takes, which is their time in the table (start-up and shutdown wait
# on timers: memcached notices SIGTERM at its next 1 s tick). The files they run are beside
# this script.

case_sqlite3() {
  run_bounded sqlite3 "$1/db" <"$here/workload_sqlite.sql" >"$1/out" 2>"$1/err"
}

case_python3() {
  run_bounded "$py" "$here/workload_python.py" </dev/null >"$1/out" 2>"$1/err"
}

case_bash() {
  run_bounded bash "$here/workload_bash.sh" </dev/null >"$1/out" 2>"$1/err"
}

# gcc compiles and links in one directory shared by all runs (DWARF records the compile
# directory); the executable's bytes and what it prints are compared.
case_gcc() {
  mkdir -p "$work/gcc-cwd"
  cd "$work/gcc-cwd" || exit 1
  run_bounded gcc -O2 -g -o "$1/prog" "$here/workload_gcc.c" </dev/null >"$1/out" 2>"$1/err"
  cd "$work" || exit 1
  [ -x "$1/prog" ] && { sha256sum <"$1/prog"; "$1/prog"; } >>"$1/out" 2>&1
}

# bash runs the git workload and execs only git: the agent in bash is inherited by every git
# process, each of which writes its own profile (profile.pb.gz.<pid>).
case_git() {
  run_bounded bash "$here/workload_git.sh" "$1/scratch" </dev/null >"$1/out" 2>"$1/err"
}

# The servers: started in the foreground (the agent in the server itself, not in a
# launcher), driven over loopback, stopped by SIGTERM to the server's own pid.
case_redis() {
  local port job server start
  port=$(lw_free_port) || { status=-1; return; }
  start=$EPOCHREALTIME
  "${runner[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$1" </dev/null >"$1/server.log" 2>&1 &
  job=$!
  pids+=("$job")
  if lw_wait_port "$port" "$job" 2>>"$1/out"; then
    server=$(redis-cli -p "$port" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    pids+=("$server")
    local loaded=$EPOCHREALTIME
    {
      # Load with a fixed number of requests: its timings vary, the count it completed must
      # not (commandstats below).
      timeout "$limit" redis-benchmark -p "$port" -n "$redis_requests" -c 20 --csv \
        -t set,get,incr,lpush,lpop,hset,sadd >"$1/bench.csv" 2>&1
      echo "redis-benchmark: status $?, $(grep -c '^"[A-Z]' "$1/bench.csv") tests"
      # Deterministic replies; the script reads keys the benchmark wrote.
      grep -v '^#' "$here/redis_commands.txt" | timeout 30 redis-cli -p "$port"
      # Calls per command (not their timings), in a fixed order.
      timeout 30 redis-cli -p "$port" info commandstats | tr -d '\r' |
        sed -n 's/^\(cmdstat_[^:]*:calls=[0-9]*\),.*\(failed_calls=[0-9]*\)$/\1 \2/p' | sort
      timeout 30 redis-cli -p "$port" dbsize
      # A snapshot: redis forks while its threads and the agent's run.
      timeout 30 redis-cli -p "$port" bgsave
      for _ in $(seq 200); do
        redis-cli -p "$port" info persistence | grep -q '^rdb_bgsave_in_progress:0' && break
        sleep 0.05
      done
      redis-cli -p "$port" info persistence | tr -d '\r' | grep '^rdb_last_bgsave_status:'
    } >>"$1/out" 2>&1
    busy=$(since "$loaded")
    kill -TERM "$server"
  fi
  lw_wait_exit "$job" 30
  took=$(since "$start")
}

case_nginx() {
  local port job start
  port=$(lw_free_port) || { status=-1; return; }
  sed -e "s#@DIR@#$1#g" -e "s#@WWW@#$work/www#g" -e "s#@PORT@#$port#g" \
    "$here/nginx.conf.in" >"$1/nginx.conf"
  # As root nginx wants a user for its workers; as anyone else it keeps its own.
  [ "$(id -u)" = 0 ] || sed -i '/^user root;$/d' "$1/nginx.conf"
  start=$EPOCHREALTIME
  "${runner[@]}" nginx -p "$1" -c "$1/nginx.conf" -g 'daemon off; master_process on;' \
    </dev/null >"$1/server.log" 2>&1 &
  job=$!
  pids+=("$job")
  if lw_wait_port "$port" "$job" 2>>"$1/out"; then
    pids+=("$(cat "$1/nginx.pid")")
    # A reload first: the master, agent and all, forks new workers and retires the old.
    kill -HUP "$(cat "$1/nginx.pid")"
    local loaded=$EPOCHREALTIME
    timeout "$limit" "$py" "$here/nginx_client.py" "$port" "$work/www" "$nginx_requests" \
      >>"$1/out" 2>&1
    echo "nginx_client.py: status $?" >>"$1/out"
    busy=$(since "$loaded")
    kill -TERM "$(cat "$1/nginx.pid")"
  fi
  lw_wait_exit "$job" 30
  took=$(since "$start")
  # What nginx logged, where order and time do not matter: requests by method, path,
  # status and bytes sent; and whether a worker died or anything worse than a notice.
  awk '{print $6, $7, $9, $10}' "$1/access.log" 2>/dev/null | sort | uniq -c >>"$1/out"
  echo "error.log alerts: $(grep -c -E '\[(crit|alert|emerg)\]' "$1/error.log" 2>/dev/null)" \
    >>"$1/out"
}

# www for nginx: one set of files for every run, with fixed times (the listing shows them).
make_www() {
  mkdir -p "$work/www/listing"
  echo '<html><body>compat</body></html>' >"$work/www/index.html"
  seq 1 25000 | sed 's/$/ a line of text to compress/' >"$work/www/data.txt"
  local bytes='bytes(i * 7919 >> 3 & 255 for i in range(1 << 20))' # 1 MiB, not compressible
  "$py" -c "import sys; sys.stdout.buffer.write($bytes)" >"$work/www/blob.bin"
  echo a >"$work/www/listing/a.txt"
  echo b >"$work/www/listing/b.txt"
  find "$work/www" -exec touch -d '2026-01-01 00:00:00 UTC' {} +
}

case_memcached() {
  local port job start user=()
  port=$(lw_free_port) || { status=-1; return; }
  [ "$(id -u)" = 0 ] && user=(-u root) # memcached refuses root without it
  start=$EPOCHREALTIME
  "${runner[@]}" memcached "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -m 64 -t 4 \
    -P "$1/memcached.pid" </dev/null >"$1/server.log" 2>&1 &
  job=$!
  pids+=("$job")
  if lw_wait_port "$port" "$job" 2>>"$1/out"; then
    pids+=("$(cat "$1/memcached.pid")")
    local loaded=$EPOCHREALTIME
    timeout "$limit" "$py" "$here/memcached_client.py" "$port" >>"$1/out" 2>&1
    echo "memcached_client.py: status $?" >>"$1/out"
    busy=$(since "$loaded")
    kill -TERM "$(cat "$1/memcached.pid")"
  fi
  lw_wait_exit "$job" 30
  took=$(since "$start")
}

version_of() { # PROGRAM: its name and version as the table shows it
  case $1 in
    sqlite3) echo "sqlite3 $(sqlite3 --version | cut -d' ' -f1)" ;;
    python3) echo "python3 $("$py" -c 'import platform; print(platform.python_version())')" ;;
    bash) echo "bash ${BASH_VERSION%%(*}" ;;
    gcc) echo "gcc $(gcc -dumpfullversion)" ;;
    git) echo "git $(git --version | cut -d' ' -f3)" ;;
    redis) echo "redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')" ;;
    nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" ;;
    memcached) echo "memcached $(memcached -V | cut -d' ' -f2)" ;;
  esac
}

# leakwatch run reports the program's own run time: "... exited with status N after S s".
# That line is the only one it adds to the program's stderr (the report goes to a file).
exit_line='^leakwatch: .* exited with status [0-9]+ after [0-9.]+ s$'

# Checks a profile and its report; the largest child profile too (gcc's cc1, git's).
check_profiles() { # DIR WHAT
  local d=$1 what=$2 child
  check "$what: profile written" test -s "$d/profile.pb.gz"
  check "$what: report written" grep -q "still allocated at exit" "$d/report.txt"
  "$LW" top -n 5 "$d/profile.pb.gz" >"$d/top.txt" 2>&1
  check "$what: leakwatch top reads the profile (status $?)" \
    grep -q '^Type: inuse_space' "$d/top.txt"
  [ "$have_go" = 1 ] && check "$what: go tool pprof reads the profile" \
    quiet env HOME="$work" PPROF_TMPDIR="$work" go tool pprof -top "$d/profile.pb.gz"
  local f size largest=0
  child=""
  for f in "$d"/profile.pb.gz.[0-9]*; do
    [[ "$f" =~ \.pb\.gz\.[0-9]+$ ]] || continue
    size=$(stat -c %s "$f")
    [ "$size" -gt "$largest" ] && largest=$size child=$f
  done
  if [ -n "$child" ]; then
    check "$what: leakwatch top reads the largest child profile ${child##*/}" \
      quiet "$LW" top -n 5 "$child"
    [ "$have_go" = 1 ] && check "$what: go tool pprof reads ${child##*/}" \
      quiet env HOME="$work" PPROF_TMPDIR="$work" go tool pprof -top "$child"
  fi
}

# What a failed run left, for the log ctest keeps.
show_run() { # DIR
  local f
  for f in "$1"/server.log "$1"/error.log "$1"/err "$1"/top.txt; do
    [ -s "$f" ] || continue
    echo "--- last lines of ${f#"$work"/}:" >&2
    grep -v '\[notice\]' "$f" | tail -8 >&2
  done
}

# Compares one agent run with the first plain run of the same program.
check_same() { # PROGRAM MODE DIR
  local base="$work/$1/plain.1" d=$3 what="$1 ($2)"
  check "$what: exit status $(cat "$d/status") as without the agent ($(cat "$base/status"))" \
    cmp -s "$base/status" "$d/status"
  if ! cmp -s "$base/out" "$d/out"; then
    check "$what: output identical to the run without the agent" false
    diff "$base/out" "$d/out" | head -20 >&2
  fi
  grep -v -E "$exit_line" "$d/err" >"$d/err.program" 2>/dev/null
  if ! cmp -s "$base/err" "$d/err.program"; then
    check "$what: stderr identical to the run without the agent" false
    diff "$base/err" "$d/err.program" | head -20 >&2
  fi
}

# Why the agent cannot be in PROGRAM's executable, if it cannot: the loader ignores
# LD_PRELOAD for setuid/setgid programs (and the agent refuses them), and a static program
# has no loader at all. Such a program is skipped with the reason, not failed.
cannot_preload() { # PROGRAM
  local exe
  case $1 in
    redis) exe=redis-server ;;
    python3) exe=$py ;;
    *) exe=$1 ;;
  esac
  exe=$(readlink -f "$(command -v "$exe")")
  if [ -u "$exe" ] || [ -g "$exe" ]; then
    echo "$exe is setuid or setgid: the agent is never loaded into it"
  elif ! LC_ALL=C readelf -l "$exe" 2>/dev/null | grep -q 'program interpreter'; then
    echo "$exe is statically linked (or not ELF): there is no loader to preload the agent"
  else
    return 1
  fi
}

median() { # NUMBERS...
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

[[ -z "$only" || "$only" == *,nginx,* ]] && make_www
declare -A seconds after_exit result
for prog in "${programs[@]}"; do
  [[ -z "$only" || "$only" == *,"$prog",* ]] || continue
  if reason=$(cannot_preload "$prog"); then
    echo "$prog: skipped: $reason (docs/COMPATIBILITY.md)"
    result[$prog]="skipped: $reason"
    continue
  fi
  failed_before=$failed
  for ((rep = 1; rep <= repeat; rep++)); do
    for mode in "${modes[@]}"; do
      d="$work/$prog/$mode.$rep"
      mkdir -p "$d"
      : >"$d/err"
      set_runner "$mode" "$d"
      failed_run=$failed status=-1 took=0 busy=""
      "case_$prog" "$d"
      echo "$status" >"$d/status"
      own=$took
      if [ "$mode" != plain ]; then
        # The program's own time, as leakwatch measured it; after it, leakwatch symbolizes
        # the profile and writes the report.
        own=$(grep -h -E "$exit_line" "$d/err" "$d/server.log" 2>/dev/null | tail -1 |
          sed 's/.* after \([0-9.]*\) s$/\1/')
        [ -n "$own" ] || own=$took
        after_exit[$prog.$mode]+=" $(awk -v a="$took" -v b="$own" 'BEGIN { printf "%.3f", a - b }')"
      fi
      [ -z "$busy" ] || own=$busy
      seconds[$prog.$mode]+=" $own"
      if [ "$mode" = plain ]; then
        # Equal statuses must also be the right ones: bash's script ends with exit 3, the
        # servers exit 0 on SIGTERM.
        expected=0
        [ "$prog" = bash ] && expected=3
        [ "$rep" = 1 ] && check "$prog: exit status $status without the agent (want $expected)" \
          test "$status" = "$expected"
        [ "$rep" = 1 ] || check_same "$prog" "plain, run $rep" "$d"
      else
        check_same "$prog" "$mode, run $rep" "$d"
        if [ "$rep" = 1 ]; then
          check_profiles "$d" "$prog ($mode)"
        else
          check "$prog ($mode, run $rep): profile written" test -s "$d/profile.pb.gz"
        fi
      fi
      [ "$failed" = "$failed_run" ] || show_run "$d"
    done
  done
  result[$prog]=ok
  [ "$failed" = "$failed_before" ] || result[$prog]=FAIL
done

# The table: medians; the ratios are to the run without the agent.
# shellcheck disable=SC2086 # the lists of seconds are split into arguments on purpose
row() { # PROGRAM: prints "name|plain|default|ratio|exact|ratio|after|result"
  local p d e a
  p=$(median ${seconds[$1.plain]})
  d=$(median ${seconds[$1.default]})
  e=$(median ${seconds[$1.exact]})
  a=$(median ${after_exit[$1.exact]})
  awk -v n="$(version_of "$1")" -v p="$p" -v d="$d" -v e="$e" -v a="$a" -v r="${result[$1]}" \
    'BEGIN { q = p > 0 ? p : 1
             printf "%s|%.2f|%.2f|%.2f|%.2f|%.2f|%.2f|%s\n", n, p, d, d / q, e, e / q, a, r }'
}
echo
printf '%-20s %8s %16s %16s %10s  %s\n' program "plain s" "default s (x)" "exact s (x)" \
  "report s" result
[ -n "$markdown" ] && : >"$markdown"
for prog in "${programs[@]}"; do
  case ${result[$prog]:-} in
    '') continue ;;
    skipped*)
      printf '%-20s %s\n' "$(version_of "$prog")" "${result[$prog]}"
      [ -n "$markdown" ] && printf '| %s | | | | | %s |\n' "$(version_of "$prog")" \
        "${result[$prog]}" >>"$markdown"
      continue
      ;;
  esac
  IFS='|' read -r name p d dr e er a r <<<"$(row "$prog")"
  printf '%-20s %8s %9s (%4s) %9s (%4s) %10s  %s\n' "$name" "$p" "$d" "$dr" "$e" "$er" "$a" "$r"
  [ -n "$markdown" ] && printf '| %s | %s | %s (%s×) | %s (%s×) | %s | %s |\n' \
    "$name" "$p" "$d" "$dr" "$e" "$er" "$a" "$r" >>"$markdown"
done
echo "(median of $repeat; default/exact: the program under the agent as leakwatch run timed it,"
echo " servers: the load they served; report s: what leakwatch run took after the exact-mode"
echo " program exited, to symbolize and report)"
lw_test_end
