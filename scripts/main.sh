#!/usr/bin/env bash
# The main job, from nothing: installs what is missing, builds, simulates the
# default pilot scenario (scenarios/pilot-special-cells.textproto) with three
# seeds (the scenario's own and the next two) into out/pilot/seed-SEED/
# (results.pb, results.json), printing the first seed's summary; sizes one
# server node for it (`cellsim size`, 3 seeds per point, up to
# SIZE_MAX_CELLS cells per node) into out/size/; then writes the feasibility
# report over all of it (Vietnamese and English, HTML and Markdown) to
# out/report/ and prints where it is. The verdict per cell type is judged on
# every seed pooled, with 95% intervals (report/verdict.h: feasible, not yet
# decided, not feasible). An SLO breach is a finding of the run,
# not a failure of the job; a broken invariant or an error exits non-zero.
#
# Environment: PILOT_SEEDS (default: the scenario's seed and the next two),
# SIZE_MAX_CELLS (default 384; 0 skips the sizing), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
readonly BUILD_DIR=${BUILD_DIR:-build}
NINJA_TARGETS="cellsim cellmeetd cellmeet-demo" bash scripts/build.sh "$BUILD_DIR"
readonly CELLSIM=$BUILD_DIR/cli/cellsim

readonly SCENARIO=scenarios/pilot-special-cells.textproto
base_seed=$(sed -n 's/^seed: *\([0-9]*\).*/\1/p' "$SCENARIO" | head -n1)
read -r -a seeds <<< "${PILOT_SEEDS:-$base_seed $((base_seed + 1)) $((base_seed + 2))}"
readonly SIZE_MAX_CELLS=${SIZE_MAX_CELLS:-384}

# rc 0: every SLO held; 4: some breached (a finding); anything else fails the job.
check_run() {
  local seed=$1 rc=$2
  case $rc in
    0) echo "main job: pilot-special-cells, seed $seed: every SLO held" ;;
    4) echo "main job: pilot-special-cells, seed $seed: some SLOs were breached" ;;
    *) echo "main job: cellsim run (seed $seed) failed with exit code $rc" >&2; exit "$rc" ;;
  esac
}

# The other seeds in the background (quiet; logs in out/pilot/), the first in
# the foreground with its summary table.
mkdir -p out/pilot
dirs=()
pids=()
for seed in "${seeds[@]:1}"; do
  "$CELLSIM" run "$SCENARIO" --seed "$seed" --out "out/pilot/seed-$seed" --quiet \
    > "out/pilot/seed-$seed.log" 2>&1 &
  pids+=($!)
done
set +e
"$CELLSIM" run "$SCENARIO" --seed "${seeds[0]}" --out "out/pilot/seed-${seeds[0]}"
rc=$?
set -e
check_run "${seeds[0]}" $rc
dirs+=("out/pilot/seed-${seeds[0]}")
i=0
for seed in "${seeds[@]:1}"; do
  set +e
  wait "${pids[$i]}"
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ] || cat "out/pilot/seed-$seed.log" >&2
  check_run "$seed" $rc
  dirs+=("out/pilot/seed-$seed")
  i=$((i + 1))
done
echo "main job: results of ${#seeds[@]} seeds in out/pilot/seed-*/ ($(( $(date +%s) - start )) s so far)"

if [ "$SIZE_MAX_CELLS" -gt 0 ]; then
  "$CELLSIM" size "$SCENARIO" --replications 3 --max-cells "$SIZE_MAX_CELLS" --out out/size
  dirs+=(out/size)
fi

"$CELLSIM" report "${dirs[@]}" --lang vi --out out/report
"$CELLSIM" report "${dirs[@]}" --lang en --out out/report
echo "main job: the feasibility report is in $(pwd)/out/report/ (report.vi.html, report.en.html and their .md twins); $(( $(date +%s) - start )) s in all"
