#!/usr/bin/env bash
# test_rules.sh - `leakwatch rules`: checking a rules file, --json, --metrics, errors with
# file:line:column, and --prometheus output that `promtool check rules` accepts and
# `promtool test rules` exercises (pending then firing, as `watch` evaluates them).
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
tmp=$(mktemp -d /tmp/lw-rules-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$tmp"

cat > svc.rules <<'RULES'
# alerts for my service
rss > 500MiB for 2m
FdLeak: rate(fds) > 10/min for 5m   # descriptors piling up
threads > 200
rate(major_faults[5m]) > 100
cpu > 90% for 10m
RULES

out=$("$LW" rules svc.rules)
[ "$(echo "$out" | tail -1)" = "5 rules OK" ] || fail "check output: $out"
echo "$out" | grep -qx 'svc.rules:2: RssHigh: rss > 500MiB for 2m' || fail "generated name: $out"
echo "$out" | grep -qx 'svc.rules:3: FdLeak: rate(fds) > 10/min for 5m' || fail "rule listing: $out"

"$LW" rules --json svc.rules > rules.json
[ "$(jq length rules.json)" = 5 ] || fail "--json count"
[ "$(jq -r '.[0].name + " " + (.[0].threshold|tostring) + " " + (.[0].for_seconds|tostring)' rules.json)" = "RssHigh 524288000 120" ] || fail "--json rule 0"
[ "$(jq -r '.[1].promql' rules.json)" = "deriv(process_open_fds[1m]) > 0.16666666666666666" ] || fail "--json promql"

metrics=$("$LW" rules --metrics); grep -Eq '^rss +bytes +gauge +process_resident_memory_bytes$' <<< "$metrics" || fail "--metrics"
[ "$("$LW" rules --metrics --json | jq -r '.[] | select(.name=="cpu") | .rate')" = false ] || fail "--metrics --json"

set +e
printf 'rss > 1GiB\nthreads >> 5\n' > bad.rules
out=$("$LW" rules bad.rules 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "leakwatch: bad.rules:2:10: expected a number after '>', got '> 5'" ] || fail "bad rules: rc=$rc '$out'"
out=$("$LW" rules missing.rules 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "leakwatch: missing.rules: No such file or directory" ] || fail "missing file: rc=$rc '$out'"
out=$("$LW" rules 2>&1); rc=$?
[ $rc -eq 2 ] || fail "no file: rc=$rc"
set -e

"$LW" rules --prometheus --group mysvc --severity critical svc.rules > svc.yml
promtool check rules svc.yml > check.out || { cat svc.yml check.out; fail "promtool check rules"; }
grep -q "SUCCESS: 5 rules found" check.out || fail "promtool rule count"
# stdin works too.
"$LW" rules --prometheus - < svc.rules | cmp -s - <(sed 's/"mysvc"/"leakwatch"/; s/"critical"/"warning"/' svc.yml) \
  || fail "stdin differs"

cat > svc.test.yml <<'TEST'
rule_files: [svc.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'process_resident_memory_bytes{pid="7",comm="svc"}'
        values: '1e8 6e8x12'
      - series: 'process_open_fds{pid="7",comm="svc"}'
        values: '100+30x12'
      - series: 'process_threads{pid="7",comm="svc"}'
        values: '10x12'
      - series: 'process_major_page_faults_total{pid="7",comm="svc"}'
        values: '0+60x12'
    alert_rule_test:
      # rss above 500MiB from minute 1: pending at 2m, firing from 3m (for: 2m)
      - eval_time: 2m
        alertname: RssHigh
        exp_alerts: []
      - eval_time: 3m
        alertname: RssHigh
        exp_alerts:
          - exp_labels: {severity: critical, source: leakwatch, pid: "7", comm: svc}
            exp_annotations:
              summary: "rss > 500MiB for 2m on pid 7 (svc)"
              description: "value 6e+08"
              leakwatch_rule: "rss > 500MiB for 2m"
      # 30 fds per minute > 10/min; active from 1m (two samples), firing from 6m
      - eval_time: 5m
        alertname: FdLeak
        exp_alerts: []
      - eval_time: 6m
        alertname: FdLeak
        exp_alerts:
          - exp_labels: {severity: critical, source: leakwatch, pid: "7", comm: svc}
            exp_annotations:
              summary: "FdLeak: rate(fds) > 10/min for 5m on pid 7 (svc)"
              description: "value 0.5"
              leakwatch_rule: "FdLeak: rate(fds) > 10/min for 5m"
      - eval_time: 6m
        alertname: ThreadsHigh
        exp_alerts: []
      # one major fault per second is not > 100/s
      - eval_time: 10m
        alertname: MajorFaultsRateHigh
        exp_alerts: []
TEST
promtool test rules svc.test.yml > test.out 2>&1 || { cat svc.yml test.out; fail "promtool test rules"; }
grep -q SUCCESS test.out || fail "promtool test rules output"
echo "PASS"
