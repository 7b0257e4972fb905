#!/usr/bin/env bash
# test_report_html.sh - `leakwatch report` opened in headless Chromium: the page renders, the
# top table, the flame graph SVG and the timeline plots are in the DOM, the plots have their
# points, nothing is loaded from the network, and the flame graph reacts: hover shows the
# value and share, a click zooms (the clicked frame becomes full width, others hide), a
# search highlights the matching frames and sums them. The standalone SVG of `leakwatch
# flame` is checked the same way (search from its URL).
set -uo pipefail
LW="$LW_BUILD_DIR/bin/leakwatch"
REF="$LW_SOURCE_DIR/tests/data/reference"
T=$(mktemp -d /tmp/lw-report-XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
check() { local what="$1"; shift; if "$@"; then passed=$((passed + 1)); else echo "FAIL: $what" >&2; failed=$((failed + 1)); fi; }

if ! command -v chromium >/dev/null; then
  echo "chromium is not installed (scripts/debian-packages.txt lists it; run scripts/setup.sh)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
# Dumps the DOM after scripts ran. A fresh profile directory each time; no network use.
browse() { # url out
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d "$T/chrome-XXXXXX")" --virtual-time-budget=5000 \
    --dump-dom "$1" >"$2" 2>"$T/chrome.log"
}

cat >"$T/watch.csv" <<'CSV'
# leakwatch watch; *_bytes are bytes, time_unix is seconds since the epoch
time_unix,pid,comm,rss_bytes,pss_bytes,uss_bytes,swap_bytes,fds,threads
1700000000.0,42,"srv, main",10485760,9000000,8000000,0,10,4
1700000005.0,42,"srv, main",20971520,19000000,18000000,0,11,4
1700000010.0,42,"srv, main",31457280,29000000,28000000,0,12,5
CSV
"$LW" report "$REF/go-heap-example.pb.gz" "$REF/go-heap-rate1.pb.gz" "$T/watch.csv" \
  -o "$T/report.html"
check "report written" test -s "$T/report.html"
check "self-contained: no external resource" \
  bash -c "! grep -Eiq '(src|href)=\"?(https?:)?//|<link |@import' '$T/report.html'"

browse "file://$T/report.html" "$T/dom.html"
check "chromium rendered the page" grep -q '<h1>leakwatch report</h1>' "$T/dom.html"
rows=$(sed -n '/<table id="lwtop">/,/<\/table>/p' "$T/dom.html" | grep -c '<tr><td>')
check "top table has rows ($rows)" test "$rows" -ge 5
check "top table names functions" grep -q '<td class="name">main.leakBigBlocks</td>' "$T/dom.html"
frames=$(grep -c 'class="lwf' "$T/dom.html")
check "flame graph has its frames ($frames)" test "$frames" -ge 6
points() { sed -n "/<svg class=\"lwplot\" id=\"$1\"/,/<\/svg>/p" "$T/dom.html" | grep -c '<circle'; }
check "CSV timeline has points" test "$(points lwtimeline)" -eq 12
check "CSV counts plot has points" test "$(points lwcounts)" -eq 6
check "profile timeline has points" test "$(points lwtimeline-profiles)" -eq 2
check "site growth plot has points" test "$(points lwsites)" -ge 4

# Interaction: the same page with a test script appended that hovers, searches and zooms,
# then writes what it saw into the DOM.
cat >"$T/probe.js" <<'JS'
<script>
window.addEventListener('load', function () {
  var out = [];
  function frame(name) {
    var gs = document.querySelectorAll('#lwflame .lwf');
    for (var i = 0; i < gs.length; i++)
      if (gs[i].querySelector('title').textContent.indexOf(name + ' (') === 0) return gs[i];
    return null;
  }
  var big = frame('main.leakBigBlocks'), grow = frame('main.growCache');
  big.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
  out.push('hover=' + document.getElementById('lwdetails').textContent);
  var matched = window.lwFlameSearch('leak');
  out.push('matched=' + matched);
  out.push('fill=' + big.querySelector('rect').getAttribute('fill'));
  out.push('text=' + document.getElementById('lwmatched').textContent);
  big.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  out.push('zoomwidth=' + big.querySelector('rect').getAttribute('width'));
  out.push('otherhidden=' + (grow.style.display === 'none'));
  out.push('unzoomshown=' + (document.getElementById('lwunzoom').style.display !== 'none'));
  document.getElementById('lwunzoom').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  out.push('otherback=' + (grow.style.display !== 'none'));
  var pre = document.createElement('pre');
  pre.id = 'lwprobe';
  pre.textContent = out.join('\n');
  document.body.appendChild(pre);
});
</script>
JS
sed -e '/<\/body>/{r '"$T/probe.js" -e 'd}' "$T/report.html" >"$T/probe.html"
echo '</body></html>' >>"$T/probe.html"
browse "file://$T/probe.html" "$T/probe-dom.html"
probe=$(sed -n '/<pre id="lwprobe">/,/<\/pre>/p' "$T/probe-dom.html")
check "hover shows name, value and share" \
  grep -q 'hover=main.leakBigBlocks — 12.5 MiB (61.03% of all)' <<<"$probe"
check "search sums the matches" grep -q 'matched=17307648' <<<"$probe"
check "search highlights" grep -q 'fill=rgb(200,60,230)' <<<"$probe"
check "search reports the share" grep -q 'text=Matched: 16.5 MiB (80.55%)' <<<"$probe"
check "click zooms to full width" grep -q 'zoomwidth=1200.0' <<<"$probe"
check "zoom hides unrelated frames" grep -q 'otherhidden=true' <<<"$probe"
check "reset zoom appears" grep -q 'unzoomshown=true' <<<"$probe"
check "reset zoom restores" grep -q 'otherback=true' <<<"$probe"

# Standalone SVG: search from the URL, and it renders to a picture.
"$LW" flame "$REF/go-heap-example.pb.gz" -o "$T/flame.svg"
browse "file://$T/flame.svg?s=leak" "$T/svg-dom.xml"
check "svg search from URL" grep -q 'Matched: 15.7 MiB (75.83%)' "$T/svg-dom.xml"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d "$T/chrome-XXXXXX")" --window-size=1280,1600 \
  --screenshot="$T/report.png" "file://$T/report.html" >/dev/null 2>&1
check "screenshot taken" test "$(stat -c %s "$T/report.png" 2>/dev/null || echo 0)" -gt 20000

echo "$passed passed, $failed failed"
test "$failed" -eq 0
