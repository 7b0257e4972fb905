#!/usr/bin/env bash
# test_prometheus_scrape.sh - a real Prometheus server (Debian's prometheus), started on
# loopback by this test, scrapes a process's agent endpoint; its query API must return the
# process's leakwatch_* and process_* series. Bounded: gives up after 30 s.
. "$(dirname "$0")/lib.sh"
lw_test_begin prom
lw_test_require prometheus "the scrape test runs a real Prometheus server"

LD_PRELOAD="$AGENT" LEAKWATCH_HTTP=127.0.0.1:0 "$FIX/live_service" 40 >service.out 2>service.err &
svc=$!
pids+=("$svc")
lw_wait_http service.err

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
check "prometheus scraped leakwatch_heap_inuse_bytes (value '$value')" test -n "$value"
check "the heap value is positive" awk "BEGIN {exit !(${value:-0} > 0)}"
instance=$(query 'leakwatch_heap_allocs_total' | jq -r '.data.result[0].metric.instance // empty')
check "series carry the scraped instance ($instance)" test "$instance" = "$addr"
rss=$(query 'process_resident_memory_bytes{job="leakwatch-agent"}' | jq -r '.data.result[0].value[1] // empty')
check "process_resident_memory_bytes scraped ($rss)" test -n "$rss"
up=$(query 'up{job="leakwatch-agent"}' | jq -r '.data.result[0].value[1] // empty')
check "target is up" test "$up" = 1
lw_test_end
