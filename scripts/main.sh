#!/usr/bin/env bash
# The main job, from nothing: installs what is missing, builds, and runs the
# demo meeting against cellmeetd (the simulator's pilot scenario will replace
# it as the main job when it lands).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NINJA_TARGETS="cellmeetd cellmeet-demo" bash scripts/build.sh build
bash scripts/demo.sh build out/demo
