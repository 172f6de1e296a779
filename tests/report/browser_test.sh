#!/usr/bin/env bash
# Shows: the feasibility report renders in a real browser with every section.
# Simulates the tiny scenario with two seeds, writes the report over both in
# Vietnamese and English, and the pilot's report of one seed with each media
# transport (long cell type and profile names);
# checks in each at 1280x800 that the first page (section "summary": the
# verdicts, the sizing, the validation) is visible without scrolling and
# that no chart label runs outside its SVG's viewBox (each <text>'s bounding
# box, getBBox, measured in the page with the browser's own fonts);
# opens each page in headless chromium (no network: background networking,
# sync and component updates off, a throw-away profile), takes a screenshot,
# prints it to PDF and checks that every section's title is in the printed
# text (pdftotext) and in the rendered DOM.
#
# usage: browser_test.sh CELLSIM_BINARY SOURCE_DIR [OUT_DIR]
# exit: 0 pass, 1 fail, 77 skipped (no chromium: scripts/setup-browser.sh).
set -euo pipefail

CELLSIM=$1
SRC=$2
OUT=${3:-$SRC/out/report-browser}
readonly SKIP=77

BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ]; then
  echo "browser_test: chromium not installed (scripts/setup-browser.sh); skipped"
  exit $SKIP
fi

work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT
mkdir -p "$OUT"

# An SLO breach (exit 4) still writes results. Two seeds: the report judges
# over both (and draws attendance over time from both).
"$CELLSIM" run "$SRC/scenarios/test/tiny.textproto" --out "$work/run" --quiet || [ $? -eq 4 ]
"$CELLSIM" run "$SRC/scenarios/test/tiny.textproto" --seed 2 --out "$work/run2" --quiet || [ $? -eq 4 ]
"$CELLSIM" run "$SRC/scenarios/pilot-special-cells.textproto" --out "$work/pilot" --quiet || [ $? -eq 4 ]
# The pilot with voice as datagrams too, as the main job writes it: the
# first page then also says what the other transport changes.
"$CELLSIM" run "$SRC/scenarios/pilot-special-cells.textproto" --media-transport datagram \
  --out "$work/pilot-datagram" --quiet || [ $? -eq 4 ]

chrome() {
  timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --disable-component-update --disable-sync --user-data-dir="$profile" \
    --hide-scrollbars "$@" 2>>"$work/chromium.log"
}

# layout_check PAGE NAME: the first page's bottom at 1280x800 and every SVG
# label's box against its viewBox, measured by a script in a copy of PAGE
# (the report itself carries no script).
layout_check() {
  local page=$1 name=$2 copy="$work/check.$2.html"
  python3 - "$page" "$copy" <<'PY'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = """<script>
addEventListener('load', () => {
  const out = {summaryBottom: -1, texts: 0, clipped: []};
  const s = document.getElementById('summary');
  if (s) out.summaryBottom = s.getBoundingClientRect().bottom + scrollY;
  for (const svg of document.querySelectorAll('svg')) {
    const vb = svg.viewBox.baseVal;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      out.texts++;
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 ||
          b.y + b.height > vb.y + vb.height + 0.5)
        out.clipped.push(t.textContent + ' at ' + [b.x, b.y, b.width, b.height].map(Math.round));
    }
  }
  document.body.setAttribute('data-layout', JSON.stringify(out));
});
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
PY
  timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --disable-component-update --disable-sync --user-data-dir="$profile" \
    --hide-scrollbars --window-size=1280,800 --virtual-time-budget=5000 \
    --dump-dom "file://$copy" > "$work/layout.$name.html" 2>>"$work/chromium.log"
  python3 - "$work/layout.$name.html" "$name" <<'PY'
import html, json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'data-layout="([^"]*)"', dom)
if not m:
    print(f"browser_test: {sys.argv[2]}: the layout check did not run"); sys.exit(1)
r = json.loads(html.unescape(m.group(1)))
bad = False
if not 0 < r["summaryBottom"] <= 800:
    print(f"browser_test: {sys.argv[2]}: the first page ends at {r['summaryBottom']:.0f} px, below 800"); bad = True
for c in r["clipped"]:
    print(f"browser_test: {sys.argv[2]}: clipped chart label: {c}"); bad = True
if r["texts"] == 0:
    print(f"browser_test: {sys.argv[2]}: no chart labels measured"); bad = True
if not bad:
    print(f"browser_test: {sys.argv[2]}: first page within 1280x800 (ends at {r['summaryBottom']:.0f} px), "
          f"{r['texts']} chart labels inside their charts")
sys.exit(1 if bad else 0)
PY
}

fail=0
for lang in vi en; do
  "$CELLSIM" report "$work/pilot" "$work/pilot-datagram" --lang "$lang" --out "$OUT/pilot"
  layout_check "$OUT/pilot/report.$lang.html" "pilot.$lang" || fail=1
  "$CELLSIM" report "$work/run" "$work/run2" --lang "$lang" --out "$OUT"
  page="file://$OUT/report.$lang.html"
  layout_check "$OUT/report.$lang.html" "tiny.$lang" || fail=1
  chrome --window-size=1280,6000 --screenshot="$OUT/report.$lang.png" "$page"
  chrome --no-pdf-header-footer --print-to-pdf="$OUT/report.$lang.pdf" "$page"
  # The DOM as rendered, with the page's console messages logged to stderr.
  : > "$work/console.$lang.log"
  timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --disable-component-update --disable-sync --user-data-dir="$profile" \
    --enable-logging=stderr --v=0 --dump-dom "$page" > "$work/dom.$lang.html" \
    2> "$work/console.$lang.log"
  if grep -E 'CONSOLE|Uncaught|Failed to load resource|net::ERR' "$work/console.$lang.log"; then
    echo "browser_test: $lang: the page logged console errors (above)"; fail=1
  fi
  # Every chart has drawn data: each <svg> holds marks (bars, lines, points).
  svgs=$(grep -o '<svg' "$work/dom.$lang.html" | wc -l)
  drawn=$(python3 - "$work/dom.$lang.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
charts = re.findall(r"<svg.*?</svg>", dom, flags=re.S)
print(sum(1 for c in charts if re.search(r"<(rect|path|polyline|circle|line)\b", c)))
PY
)
  if [ "$svgs" -lt 3 ] || [ "$drawn" -ne "$svgs" ]; then
    echo "browser_test: $lang: $drawn of $svgs charts have drawn data"; fail=1
  else
    echo "browser_test: $lang: all $svgs charts have drawn data, no console errors"
  fi
  for f in "$OUT/report.$lang.png" "$OUT/report.$lang.pdf"; do
    if [ ! -s "$f" ]; then echo "browser_test: $f missing or empty"; fail=1; fi
  done
  # Section titles: the <h2> of each section in the page as written.
  mapfile -t titles < <(grep -o '<h2>[^<]*</h2>' "$OUT/report.$lang.html" | sed 's/<h2>//; s/<\/h2>//')
  if [ "${#titles[@]}" -lt 12 ]; then
    echo "browser_test: $lang: only ${#titles[@]} sections in the page"; fail=1
  fi
  for id in summary verdicts rules slos time-to-quorum latency servers sizing capacity attendance gaps basis; do
    grep -q "<section id=\"$id\">" "$work/dom.$lang.html" || { echo "browser_test: $lang: section $id not rendered"; fail=1; }
  done
  if command -v pdftotext >/dev/null; then
    pdftotext -layout "$OUT/report.$lang.pdf" "$work/pdf.$lang.txt"
    flat=$(tr -s ' \n' ' ' < "$work/pdf.$lang.txt")
    for t in "${titles[@]}"; do
      t=${t//&amp;/&}
      case "$flat" in
        *"$t"*) ;;
        *) echo "browser_test: $lang: section \"$t\" not in the printed PDF"; fail=1 ;;
      esac
    done
  else
    echo "browser_test: pdftotext absent: the PDF's text is not checked"
  fi
  echo "browser_test: $lang: screenshot $OUT/report.$lang.png, PDF $OUT/report.$lang.pdf"
done
exit $fail
