#!/usr/bin/env bash
# The benchmarks CI runs: ratios against a peer measured in the same run
# (never absolute times), each with a gate that fails the run on a real
# regression: the meeting engine against the codec floor (engine_bench) and
# the simulator's kernel against the naive std::priority_queue engine on
# PHOLD (phold_bench; with ns-3 too when scripts/setup.sh --with-peers
# installed it); the simulator's cost per voice frame as a datagram against
# in-band (voice_bench). Repetitions are interleaved so a noisy neighbour hits both
# sides of a ratio alike; gates compare medians.
#   usage: scripts/bench.sh [BUILD_DIR] [OUT_DIR]   (default: build out/bench)
# Results: OUT_DIR/engine.json, OUT_DIR/phold.json, OUT_DIR/voice.json
# (Google Benchmark JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-out/bench}
mkdir -p "$OUT"
for b in engine_bench phold_bench voice_bench; do
  [ -x "$BUILD/bench/$b" ] || { echo "bench.sh: $BUILD/bench/$b is not built (CELLSIM_BUILD_BENCH=ON?)" >&2; exit 1; }
done
common=(--benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true --benchmark_color=false
        --benchmark_out_format=json --gate)
echo "== engine_bench: the engine against the codec floor =="
"$BUILD/bench/engine_bench" --benchmark_repetitions=9 --benchmark_out="$OUT/engine.json" "${common[@]}"
echo "== phold_bench: the kernel against the naive engine =="
"$BUILD/bench/phold_bench" --benchmark_repetitions=3 --benchmark_filter="${PHOLD_FILTER:-phold/(cellsim_kernel|naive)}" \
  --benchmark_out="$OUT/phold.json" "${common[@]}"
echo "== voice_bench: a voice frame as a datagram against in-band =="
"$BUILD/bench/voice_bench" --benchmark_repetitions=5 --benchmark_out="$OUT/voice.json" "${common[@]}"
echo "benchmarks: ok (results in $OUT)"
