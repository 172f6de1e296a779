#!/usr/bin/env bash
# Configures and builds cellsim in BUILD_DIR (default build/).
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DCELLSIM_WERROR=ON "$@" >/dev/null
ninja -C "$dir" ${NINJA_TARGETS:-}
