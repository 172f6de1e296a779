#!/usr/bin/env bash
# The main job, from nothing: installs what is missing, builds, simulates the
# default pilot scenario (scenarios/pilot-special-cells.textproto), writes its
# results to out/pilot/ (results.pb, results.json), printing the summary, then
# writes the feasibility report (Vietnamese and English, HTML and Markdown) to
# out/report/ and prints where it is. An SLO breach is a finding of the run,
# not a failure of the job; a broken invariant or an error exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NINJA_TARGETS="cellsim cellmeetd cellmeet-demo" bash scripts/build.sh build
set +e
build/cli/cellsim run scenarios/pilot-special-cells.textproto --out out/pilot
rc=$?
set -e
case $rc in
  0) echo "main job: pilot-special-cells simulated; every SLO held. Results in out/pilot/" ;;
  4) echo "main job: pilot-special-cells simulated; some SLOs were breached (see above). Results in out/pilot/" ;;
  *) echo "main job: cellsim run failed with exit code $rc" >&2; exit $rc ;;
esac
build/cli/cellsim report out/pilot --lang vi --out out/report
build/cli/cellsim report out/pilot --lang en --out out/report
echo "main job: the feasibility report is in $(pwd)/out/report/ (report.vi.html, report.en.html and their .md twins)"
