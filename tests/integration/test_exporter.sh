#!/usr/bin/env bash
# test_exporter.sh - `leakwatch exporter` end to end on loopback: /metrics passes
# `promtool check metrics` and carries the process and fd-type series; HEAD, 404, 405 and
# the parser's 400/414/431/505 answers over raw sockets; a busy port and a broken config are
# one-line errors; SIGHUP reloads (and a broken reload keeps the old configuration);
# SIGTERM lets the scrape in flight finish and exits 0; permission-limited processes are
# reported and exported partially.
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
GROWER="$LW_BUILD_DIR/tests/fixtures/grower"
tmp=$(mktemp -d /tmp/lw-exporter-test.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/exporter.log" ] && cat "$tmp/exporter.log" >&2; exit 1; }
cd "$tmp"

"$GROWER" --kib-per-tick 64 --tick-ms 200 --threads 1 > grower.out & grower=$!; pids+=("$grower")
sleep 30 & sleeper=$!; pids+=("$sleeper")
for _ in $(seq 50); do grep -q ready grower.out 2>/dev/null && break; sleep 0.05; done

# Starts an exporter with the given arguments, through the command in run_as if any (to
# run it as another user); sets $exporter and $addr (host:port).
run_as=()
start_exporter() {
  local log=$1; shift
  : > "$log" # exists before the first sed below, whichever process runs first
  "${run_as[@]}" "$LW" exporter --listen 127.0.0.1:0 "$@" 2> "$log" & exporter=$!; pids+=("$exporter")
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*listening on http://\(.*\)/metrics.*|\1|p' "$log")
    [ -n "$addr" ] && return
    kill -0 "$exporter" 2>/dev/null || fail "exporter did not start: $(cat "$log")"
    sleep 0.05
  done
  fail "exporter did not report its address"
}

# Sends raw bytes and prints the status line of the answer.
raw_status() {
  local host=${addr%:*} port=${addr##*:}
  exec 3<>"/dev/tcp/$host/$port"
  printf '%b' "$1" >&3
  head -1 <&3 | tr -d '\r'
  exec 3<&-
}

echo "== serving /metrics"
printf 'pid %s\nname ^grower$   # the fixture\nfd-types on\n' "$sleeper" > exporter.conf
start_exporter exporter.log --config exporter.conf
curl -sf "http://$addr/metrics" > m1.txt || fail "GET /metrics"
promtool check metrics < m1.txt || fail "promtool check metrics"
grep -q "^process_resident_memory_bytes{pid=\"$grower\",comm=\"grower\"} [0-9]" m1.txt || fail "grower rss"
grep -q "^process_resident_memory_bytes{pid=\"$sleeper\",comm=\"sleep\"} [0-9]" m1.txt || fail "sleeper rss"
grep -q "^process_open_fds_by_type{pid=\"$grower\",comm=\"grower\",type=\"eventfd\"} 1$" m1.txt || fail "fd type"
grep -q "^process_threads{pid=\"$grower\",comm=\"grower\"} 2$" m1.txt || fail "threads"
grep -q "^process_cpu_seconds_total{pid=\"$grower\"" m1.txt || fail "cpu counter"
grep -q '^# TYPE process_cpu_seconds_total counter$' m1.txt || fail "cpu type"
grep -q '^process_cgroup_memory_current_bytes{' m1.txt || fail "cgroup series"
grep -q '^leakwatch_exporter_build_info{version="[0-9.]*"} 1$' m1.txt || fail "build info"
# At least the two named: under `ctest -j4` another test's grower may match the pattern too.
processes=$(sed -n 's/^leakwatch_exporter_processes \([0-9]*\)$/\1/p' m1.txt)
[ "${processes:-0}" -ge 2 ] || fail "processes gauge: '${processes}'"
# (Fetched whole before grep: with pipefail, grep -q stopping early would fail curl.)
m=$(curl -sf "http://$addr/metrics"); grep -q '^leakwatch_exporter_scrapes_total 2$' <<< "$m" || fail "scrapes counter"
headers=$(curl -sfI "http://$addr/metrics")
[[ $headers == *"Content-Type: text/plain; version=0.0.4; charset=utf-8"* ]] || fail "content type: $headers"
[[ $headers == *"Content-Length: "[1-9]* ]] || fail "HEAD content length: $headers"

echo "== HTTP errors"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/nope")" = 404 ] || fail "404"
allow=$(curl -s -D - -o /dev/null -X POST "http://$addr/metrics" | tr -d '\r')
[[ $allow == *"HTTP/1.1 405"* && $allow == *"Allow: GET, HEAD"* ]] || fail "405: $allow"
[ "$(raw_status 'GARBAGE\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ] || fail "400"
[ "$(raw_status 'GET / HTTP/2.0\r\nHost: x\r\n\r\n')" = "HTTP/1.1 505 HTTP Version Not Supported" ] || fail "505"
long=$(head -c 3000 /dev/zero | tr '\0' a)
[ "$(raw_status "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n")" = "HTTP/1.1 414 URI Too Long" ] || fail "414"
[ "$(raw_status "GET / HTTP/1.1\r\nHost: x\r\nCookie: $long$long$long\r\n\r\n")" = \
  "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "431"
[ "$(raw_status 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')" = \
  "HTTP/1.1 501 Not Implemented" ] || fail "501"
m=$(curl -sf "http://$addr/metrics")
grep -q '^leakwatch_exporter_http_responses_total{code="4xx"} [1-9]' <<< "$m" || fail "4xx not counted"

echo "== busy port and bad configuration"
set +e
out=$("$LW" exporter --listen "$addr" --pid "$sleeper" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "leakwatch: $addr: address already in use" ] || fail "port in use: rc=$rc '$out'"
printf 'pid %s\nbogus 1\n' "$sleeper" > bad.conf
out=$("$LW" exporter --config bad.conf 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == "leakwatch: bad.conf: line 2: unknown setting 'bogus'"* ]] || fail "bad config: rc=$rc '$out'"
out=$("$LW" exporter --listen 127.0.0.1:99999 --pid "$sleeper" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ $out == *"invalid port '99999'"* ]] || fail "bad port: rc=$rc '$out'"
true & gone=$!; wait $gone
out=$("$LW" exporter --listen 127.0.0.1:0 --pid "$gone" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "leakwatch: pid $gone: no such process" ] || fail "unknown pid: rc=$rc '$out'"
set -e

echo "== SIGHUP reload"
sleep 30 & second=$!; pids+=("$second")
printf 'pid %s\npid %s\n' "$sleeper" "$second" > exporter.conf
kill -HUP "$exporter"
for _ in $(seq 50); do grep -q "reloaded exporter.conf: 2 pids, 0 patterns" exporter.log && break; sleep 0.05; done
curl -sf "http://$addr/metrics" > m2.txt
grep -q "^process_threads{pid=\"$second\",comm=\"sleep\"} 1$" m2.txt || fail "reload did not add $second"
! grep -q "comm=\"grower\"" m2.txt || fail "reload did not drop the name pattern"
printf 'pid nonsense\n' > exporter.conf
kill -HUP "$exporter"
for _ in $(seq 50); do grep -q "reload failed" exporter.log && break; sleep 0.05; done
grep -q "reload failed: exporter.conf: line 1: 'nonsense' is not a process id; keeping the previous configuration" \
  exporter.log || fail "failed reload not logged"
curl -sf "http://$addr/metrics" > m3.txt
grep -q "^process_threads{pid=\"$second\"" m3.txt || fail "failed reload dropped targets"
grep -q '^leakwatch_exporter_config_last_reload_successful 0$' m3.txt || fail "reload status metric"
grep -q '^leakwatch_exporter_config_reloads_total{result="failure"} 1$' m3.txt || fail "reload counter"

echo "== SIGTERM finishes the scrape in flight"
host=${addr%:*}; port=${addr##*:}
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /metrics HTTP/1.1\r\n' >&3
sleep 0.3
kill -TERM "$exporter"
sleep 0.3
kill -0 "$exporter" 2>/dev/null || fail "exporter quit in the middle of a request"
printf 'Host: %s\r\n\r\n' "$addr" >&3
cat <&3 > inflight.txt
exec 3<&-
head -1 inflight.txt | grep -q '^HTTP/1.1 200 OK' || fail "in-flight scrape not answered"
grep -q '^leakwatch_exporter_build_info' inflight.txt || fail "in-flight scrape cut short"
set +e; wait "$exporter"; rc=$?; set -e
[ $rc -eq 0 ] || fail "exit status after SIGTERM: $rc"
grep -q "stopping on SIGTERM" exporter.log || fail "no stop message"

if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
  echo "== as another user: partial metrics and a message naming the pid"
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  start_exporter perm.log --pid "$sleeper"
  run_as=()
  curl -sf "http://$addr/metrics" > mp.txt
  promtool check metrics < mp.txt || fail "partial metrics fail promtool"
  grep -q "^process_resident_memory_bytes{pid=\"$sleeper\"" mp.txt || fail "rss should be exported"
  ! grep -q "^process_proportional_memory_bytes" mp.txt || fail "pss without permission"
  grep -q '^leakwatch_exporter_partial_processes 1$' mp.txt || fail "partial gauge"
  grep -q "pid $sleeper (sleep): permission denied reading smaps_rollup (PSS, USS), fd/ (descriptor counts), io (read/write rates)" \
    perm.log || fail "permission message: $(cat perm.log)"
  kill -TERM "$exporter"; wait "$exporter" || fail "exit after SIGTERM"
fi
echo "PASS"
