#!/usr/bin/env bash
# Every test, from nothing: installs what is missing, builds with GCC, runs
# the whole suite, then builds and runs it again with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer. Between the two, the demo
# meeting against the real cellmeetd, the gated benchmarks (scripts/bench.sh),
# the fuzzers (scripts/fuzz.sh) and a Release build as a user makes it (plain
# `cmake -DCMAKE_BUILD_TYPE=Release`, no -Werror) with the command-line and
# engine tests (CELLSIM_ASSERT fires there too). CELLSIM_SKIP_SANITIZE=1 skips
# the sanitizer pass, CELLSIM_SKIP_FUZZ=1 the fuzzers, CELLSIM_SKIP_RELEASE=1
# the Release build. Tests labelled "heavy" (long live validations) run only
# with CELLSIM_HEAVY=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh   # chromium for the report's browser test
echo "== build (RelWithDebInfo) =="
bash scripts/build.sh build
heavy=(-LE heavy)
if [ "${CELLSIM_HEAVY:-0}" = 1 ]; then heavy=(); fi
echo "== tests =="
ctest --test-dir build --output-on-failure -j2 --timeout 600 "${heavy[@]}"
echo "== demo meeting against cellmeetd =="
bash scripts/demo.sh build out/demo-test >/dev/null
echo "demo meeting: ok"
echo "== benchmarks (ratios against a peer, gated) =="
bash scripts/bench.sh build out/bench
if [ "${CELLSIM_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing (libFuzzer, clang; committed corpus replayed, then ${CELLSIM_FUZZ_SECONDS:-60}s per target) =="
  bash scripts/fuzz.sh
fi
if [ "${CELLSIM_SKIP_RELEASE:-0}" != 1 ]; then
  echo "== build (Release, as a user builds it: GCC, warnings not errors) =="
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCELLSIM_BUILD_BENCH=OFF >/dev/null
  ninja -C build-release
  echo "== command-line and engine tests (Release) =="
  ctest --test-dir build-release --output-on-failure -j2 --timeout 300 -L "cli|engine"
fi
if [ "${CELLSIM_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build (clang, ASan+UBSan) =="
  CC=clang CXX=clang++ CMAKE_BUILD_TYPE=Debug \
    bash scripts/build.sh build-asan -DCELLSIM_SANITIZE=ON -DCELLSIM_BUILD_BENCH=OFF
  echo "== tests under ASan+UBSan =="
  # The randomized model test runs 200 seeds in the first pass; 60 here.
  CELLSIM_MODEL_SEEDS=60 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 -LE heavy
fi
