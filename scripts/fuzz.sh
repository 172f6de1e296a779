#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/README.md) with clang into build-fuzz,
# replays the committed corpus (each input once, no fuzzing: the regression
# test), then fuzzes each target for SECONDS on a scratch copy of its corpus
# (the committed corpus never grows here). Fails on any finding, printing
# where the crash input is; prints execs/s and coverage per target.
#
#   bash scripts/fuzz.sh [SECONDS]     (default $CELLSIM_FUZZ_SECONDS or 60)
#   CELLSIM_FUZZ_TARGETS="fuzz_engine"  only these targets
#   CELLSIM_FUZZ_OUT=DIR                scratch corpora, logs, crash inputs (out/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-${CELLSIM_FUZZ_SECONDS:-60}}"
BUILD="${CELLSIM_FUZZ_BUILD_DIR:-build-fuzz}"
OUT="${CELLSIM_FUZZ_OUT:-out/fuzz}"
TARGETS="${CELLSIM_FUZZ_TARGETS:-fuzz_frame fuzz_engine fuzz_scenario}"

# -max_len per target: a whole 64 KiB frame plus the fuzzer's header; an op
# program of a few hundred ops; a scenario a few times the shipped ones.
max_len() {
  case "$1" in
    fuzz_frame) echo 70000 ;;
    fuzz_engine) echo 8192 ;;
    fuzz_scenario) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  echo "== fuzz: configure $BUILD (clang, libFuzzer, ASan+UBSan) =="
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCELLSIM_FUZZ=ON \
    -DCELLSIM_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g" >/dev/null
fi
echo "== fuzz: build $TARGETS =="
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS -- -j2 | tail -n 1

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$OUT"
failed=0
summary=()
for t in $TARGETS; do
  bin="$BUILD/fuzz/$t"
  corpus="fuzz/corpus/$t"
  dir="$OUT/$t"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/crashes"

  # 1. Replay: every committed input once.
  echo "== fuzz: $t replays $(find "$corpus" -type f | wc -l) committed inputs =="
  if ! find "$corpus" -type f -print0 | sort -z |
      xargs -0 "$bin" -artifact_prefix="$dir/crashes/" >"$dir/replay.log" 2>&1; then
    echo "FAIL: $t on its committed corpus; log: $dir/replay.log" >&2
    grep -E "Running:|check failed|ERROR|SUMMARY" "$dir/replay.log" | tail -n 8 >&2 || true
    failed=1
    summary+=("$t: replay FAILED")
    continue
  fi

  # 2. Fuzz on a scratch copy of the corpus.
  cp "$corpus"/* "$dir/corpus/"
  echo "== fuzz: $t for ${SECS}s (-max_len=$(max_len "$t")) =="
  status=0
  "$bin" "$dir/corpus" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
    >"$dir/fuzz.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$dir/fuzz.log" | tail -n 1)
  units=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$dir/fuzz.log" | tail -n 1)
  covline=$(grep -E '^#[0-9]+.*cov: ' "$dir/fuzz.log" | tail -n 1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$covline")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$covline")
  line="$t: ${execs:-?} execs/s, ${units:-?} runs, cov ${cov:-?}, ft ${ft:-?}"
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$dir/crashes")" ]; then
    failed=1
    line="$line, FINDING"
    echo "FAIL: $t found a problem (exit $status); log: $dir/fuzz.log" >&2
    grep -E "check failed|ERROR:|SUMMARY|^  [a-z]" "$dir/fuzz.log" | head -n 8 >&2 || true
    for f in "$dir"/crashes/*; do
      [ -e "$f" ] && echo "  crash input: $f (reproduce: $bin $f)" >&2
    done
  fi
  echo "$line"
  summary+=("$line")
done

echo "== fuzz: summary (${SECS}s per target) =="
printf '%s\n' "${summary[@]}"
exit "$failed"
