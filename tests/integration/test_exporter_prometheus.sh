#!/usr/bin/env bash
# test_exporter_prometheus.sh - the acceptance test of issue 5: a real Prometheus server
# (Debian's prometheus 2.42) started on loopback scrapes `leakwatch exporter` every second,
# stores the process series, and evaluates an alert rule produced by
# `leakwatch rules --prometheus` until it fires for the growing fixture process.
# Loopback only; Prometheus gets a temporary config and TSDB and is killed at the end;
# the whole test is bounded (about 10 s, 40 s at worst).
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
GROWER="$LW_BUILD_DIR/tests/fixtures/grower"
command -v prometheus > /dev/null || { echo "FAIL: prometheus is not installed (scripts/debian-packages.txt)"; exit 1; }
tmp=$(mktemp -d /tmp/lw-prometheus-test.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in exporter.log prometheus.log; do [ -f "$tmp/$f" ] && { echo "--- $f" >&2; tail -20 "$tmp/$f" >&2; }; done
  exit 1
}
cd "$tmp"
start=$SECONDS
deadline() { [ $((SECONDS - start)) -lt 40 ] || fail "timed out: $1"; }

"$GROWER" --kib-per-tick 256 --tick-ms 100 --max-mib 64 > grower.out & grower=$!; pids+=("$grower")
for _ in $(seq 50); do grep -q ready grower.out 2>/dev/null && break; sleep 0.05; done

: > exporter.log # exists before the first sed below, whichever process runs first
"$LW" exporter --listen 127.0.0.1:0 --pid "$grower" 2> exporter.log & exporter=$!; pids+=("$exporter")
addr=
while [ -z "$addr" ]; do
  deadline "exporter start"
  kill -0 "$exporter" 2> /dev/null || fail "exporter died"
  addr=$(sed -n 's|.*listening on http://\(.*\)/metrics.*|\1|p' exporter.log)
  sleep 0.05
done

# The alert, written as a watch rule and translated by leakwatch.
printf 'GrowerBig: rss > 4MiB for 2s\nthreads > 500\n' > grower.rules
"$LW" rules --prometheus grower.rules > rules.yml
promtool check rules rules.yml > /dev/null || fail "promtool check rules"

cat > prometheus.yml <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: leakwatch
    static_configs:
      - targets: ['$addr']
EOF

# A free loopback port for Prometheus: try a few random ones; a taken one makes it exit.
prom_port=
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2> /dev/null && continue # something listens there
  prometheus --config.file=prometheus.yml --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn > prometheus.log 2>&1 & prom=$!
  for _ in $(seq 100); do
    kill -0 "$prom" 2> /dev/null || break
    if curl -sf "http://127.0.0.1:$port/-/ready" > /dev/null 2>&1; then prom_port=$port; break; fi
    sleep 0.1
  done
  if [ -n "$prom_port" ]; then pids+=("$prom"); break; fi
  kill "$prom" 2> /dev/null || true
  wait "$prom" 2> /dev/null || true
done
[ -n "$prom_port" ] || fail "prometheus did not start"
api="http://127.0.0.1:$prom_port/api/v1"

echo "== Prometheus scrapes the exporter"
while :; do
  deadline "series in Prometheus"
  q=$(curl -sf --get "$api/query" --data-urlencode "query=process_resident_memory_bytes{pid=\"$grower\"}" || true)
  [ "$(echo "$q" | jq -r '.data.result | length' 2> /dev/null)" = 1 ] && break
  sleep 0.5
done
[ "$(echo "$q" | jq -r '.data.result[0].metric.comm')" = grower ] || fail "comm label: $q"
[ "$(echo "$q" | jq -r '.data.result[0].metric.job')" = leakwatch ] || fail "job label: $q"
up=$(curl -sf --get "$api/query" --data-urlencode 'query=up{job="leakwatch"}' | jq -r '.data.result[0].value[1]')
[ "$up" = 1 ] || fail "target not up"
fds=$(curl -sf --get "$api/query" --data-urlencode "query=process_open_fds_by_type{pid=\"$grower\",type=\"timerfd\"}" \
  | jq -r '.data.result[0].value[1]')
[ "$fds" = 1 ] || fail "fd type series: $fds"

echo "== the alert goes pending, then fires"
saw_pending=no
while :; do
  deadline "alert firing"
  alerts=$(curl -sf "$api/alerts" || true)
  state=$(echo "$alerts" | jq -r ".data.alerts[] | select(.labels.alertname==\"GrowerBig\" and .labels.pid==\"$grower\") | .state" 2> /dev/null || true)
  [ "$state" = pending ] && saw_pending=yes
  [ "$state" = firing ] && break
  sleep 0.3
done
echo "$alerts" | jq -e ".data.alerts[] | select(.labels.alertname==\"GrowerBig\") |
  .labels.comm == \"grower\" and .labels.source == \"leakwatch\" and
  .annotations.summary == \"GrowerBig: rss > 4MiB for 2s on pid $grower (grower)\"" > /dev/null \
  || fail "alert labels/annotations: $alerts"
[ "$(echo "$alerts" | jq '[.data.alerts[] | select(.labels.alertname=="ThreadsHigh")] | length')" = 0 ] \
  || fail "ThreadsHigh should not be active"
echo "(saw pending first: $saw_pending)"
firing=$(curl -sf --get "$api/query" --data-urlencode 'query=ALERTS{alertname="GrowerBig",alertstate="firing"}' | jq -r '.data.result | length')
[ "$firing" = 1 ] || fail "ALERTS series"
echo "PASS in $((SECONDS - start)) s"
