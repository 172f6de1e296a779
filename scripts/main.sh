#!/usr/bin/env bash
# The main job, from nothing: installs what is missing, builds, simulates the
# default pilot scenario (scenarios/pilot-special-cells.textproto) seed after
# seed, two at a time, from the scenario's own (`cellsim run --until-decided`)
# into out/pilot/seed-SEED/ (results.pb, results.json), printing the first
# seed's summary and a line per seed, until every cell type's verdict over
# the seeds so far is decided or PILOT_MAX_SEEDS have run (the verdicts are
# in out/pilot/verdicts.txt); the same with voice as datagrams
# (`--media-transport datagram`) into out/pilot-datagram/; sizes one server node for it (`cellsim size`, 3
# seeds per point, up to SIZE_MAX_CELLS cells per node) into out/size/; then
# writes the feasibility report over all of it (Vietnamese and English, HTML
# and Markdown) to out/report/ and prints where it is. The verdict per cell
# type is judged on every seed pooled, with 95% intervals (report/verdict.h:
# feasible, not yet decided, not feasible). An SLO breach or a verdict still
# undecided is a finding of the run, not a failure of the job; a broken
# invariant or an error exits non-zero.
#
# Environment: PILOT_MAX_SEEDS (default 12), SIZE_MAX_CELLS (default 384; 0
# skips the sizing), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
readonly BUILD_DIR=${BUILD_DIR:-build}
NINJA_TARGETS="cellsim cellmeetd cellmeet-demo" bash scripts/build.sh "$BUILD_DIR"
readonly CELLSIM=$BUILD_DIR/cli/cellsim

readonly SCENARIO=scenarios/pilot-special-cells.textproto
readonly PILOT_MAX_SEEDS=${PILOT_MAX_SEEDS:-12}
readonly SIZE_MAX_CELLS=${SIZE_MAX_CELLS:-384}

rm -rf out/pilot
set +e
"$CELLSIM" run "$SCENARIO" --until-decided --max-seeds "$PILOT_MAX_SEEDS" --out out/pilot
rc=$?
set -e
case $rc in
  0) echo "main job: pilot-special-cells: every verdict decided" ;;
  5) echo "main job: pilot-special-cells: some verdicts still undecided after $PILOT_MAX_SEEDS seeds (out/pilot/verdicts.txt)" ;;
  *) echo "main job: cellsim run --until-decided failed with exit code $rc" >&2; exit "$rc" ;;
esac
dirs=(out/pilot/seed-*)
echo "main job: results of ${#dirs[@]} seeds in out/pilot/seed-*/ ($(( $(date +%s) - start )) s so far)"

# The same pilot with voice as datagrams beside the session (the scenario's
# own transport is in-band): the report sets the two side by side.
rm -rf out/pilot-datagram
set +e
"$CELLSIM" run "$SCENARIO" --until-decided --max-seeds "$PILOT_MAX_SEEDS" --media-transport datagram \
  --out out/pilot-datagram
rc=$?
set -e
case $rc in
  0|5) echo "main job: pilot-special-cells with voice as datagrams: out/pilot-datagram/verdicts.txt" ;;
  *) echo "main job: cellsim run --media-transport datagram failed with exit code $rc" >&2; exit "$rc" ;;
esac
dirs+=(out/pilot-datagram/seed-*)

if [ "$SIZE_MAX_CELLS" -gt 0 ]; then
  "$CELLSIM" size "$SCENARIO" --replications 3 --max-cells "$SIZE_MAX_CELLS" --out out/size
  dirs+=(out/size)
fi

"$CELLSIM" report "${dirs[@]}" --lang vi --out out/report
"$CELLSIM" report "${dirs[@]}" --lang en --out out/report
echo "main job: the feasibility report is in $(pwd)/out/report/ (report.vi.html, report.en.html and their .md twins); $(( $(date +%s) - start )) s in all"
