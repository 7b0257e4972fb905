#!/usr/bin/env bash
# test_prometheus_scrape.sh - a real Prometheus server (Debian's prometheus), started on
# loopback by this test, scrapes a process's agent endpoint; its query API must return the
# process's leakwatch_* and process_* series. Bounded: gives up after 30 s.
set -u
AGENT="$LW_BUILD_DIR/lib/libleakwatch.so"
FIX="$LW_BUILD_DIR/tests/fixtures"
work=$(mktemp -d /tmp/lw-prom-XXXXXX)
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
command -v prometheus >/dev/null || { echo "prometheus is not installed (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }

LD_PRELOAD="$AGENT" LEAKWATCH_HTTP=127.0.0.1:0 "$FIX/live_service" 40 >service.out 2>service.err &
svc=$!
pids+=("$svc")
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's|.*HTTP endpoint on http://\([0-9.:]*\)/debug/pprof/.*|\1|p' service.err)
  [ -n "$addr" ] && break
  sleep 0.05
done

cat >prometheus.yml <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: leakwatch-agent
    static_configs:
      - targets: ["$addr"]
YAML
port=""
for _ in $(seq 20); do # a free loopback port; retry if another process takes it first
  port=$(shuf -i 20000-60000 -n 1)
  prometheus --config.file=prometheus.yml --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=error >prom.out 2>&1 &
  prom=$!
  pids+=("$prom")
  sleep 1
  kill -0 "$prom" 2>/dev/null && break
done

query() { curl -s --max-time 5 "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1"; }
value=""
for _ in $(seq 30); do
  value=$(query leakwatch_heap_inuse_bytes | jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
  [ -n "$value" ] && break
  sleep 1
done
passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
check "prometheus scraped leakwatch_heap_inuse_bytes (value '$value')" test -n "$value"
check "the heap value is positive" awk "BEGIN {exit !(${value:-0} > 0)}"
instance=$(query 'leakwatch_heap_allocs_total' | jq -r '.data.result[0].metric.instance // empty')
check "series carry the scraped instance ($instance)" test "$instance" = "$addr"
rss=$(query 'process_resident_memory_bytes{job="leakwatch-agent"}' | jq -r '.data.result[0].value[1] // empty')
check "process_resident_memory_bytes scraped ($rss)" test -n "$rss"
up=$(query 'up{job="leakwatch-agent"}' | jq -r '.data.result[0].value[1] // empty')
check "target is up" test "$up" = 1
echo "$passed passed, $failed failed"
test "$failed" -eq 0
