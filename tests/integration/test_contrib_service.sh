#!/usr/bin/env bash
# test_contrib_service.sh - contrib/: the systemd unit passes `systemd-analyze verify`
# without a single warning (unknown keys are only warnings there, so any output fails), its
# reload and stop signals are the ones the exporter handles, and the example config file
# starts a real exporter that stops cleanly on SIGTERM.
set -euo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
UNIT="$LW_SOURCE_DIR/contrib/leakwatch-exporter.service"
CONF="$LW_SOURCE_DIR/contrib/exporter.conf"
tmp=$(mktemp -d /tmp/lw-contrib-test.XXXXXX)
trap 'kill $exporter 2>/dev/null || true; rm -rf "$tmp"' EXIT
exporter=
fail() { echo "FAIL: $*" >&2; exit 1; }

# verify needs ExecStart to exist: point it at the built binary.
sed "s|/usr/local/bin/leakwatch|$LW|" "$UNIT" > "$tmp/leakwatch-exporter.service"
out=$(systemd-analyze verify "$tmp/leakwatch-exporter.service" 2>&1) || fail "verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT" || fail "reload must send SIGHUP"
grep -qx 'KillSignal=SIGTERM' "$UNIT" || fail "stop must send SIGTERM"
grep -qx 'ExecStart=/usr/local/bin/leakwatch exporter --config /etc/leakwatch/exporter.conf' "$UNIT" \
  || fail "ExecStart"

# The example configuration, on a free port.
sed 's|^listen .*|listen 127.0.0.1:0|' "$CONF" > "$tmp/exporter.conf"
"$LW" exporter --config "$tmp/exporter.conf" 2> "$tmp/log" & exporter=$!
for _ in $(seq 100); do grep -q "listening on http://127.0.0.1:" "$tmp/log" && break; sleep 0.05; done
grep -q "listening on http://127.0.0.1:[0-9]*/metrics (0 pids, 1 patterns)" "$tmp/log" || fail "$(cat "$tmp/log")"
kill -TERM "$exporter"
wait "$exporter" || fail "exit status after SIGTERM"
exporter=
echo "PASS"
