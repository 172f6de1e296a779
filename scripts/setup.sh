#!/usr/bin/env bash
# Installs the Debian 12 packages cellsim needs to build and test.
# Safe to run again: installs only what is missing. Must run as root (or with sudo).
#   --with-peers   also the peer engines the benchmarks compare against (ns-3)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev
  protobuf-compiler libprotobuf-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  libcli11-dev  # the command-line layer (cli/flags.h)
  libssl-dev zlib1g-dev libcurl4-openssl-dev
  curl
  iproute2  # netem/: network namespaces for the packet-level link emulator's tests
  prometheus
  clang libclang-rt-14-dev  # scripts/fuzz.sh: clang-14 with libFuzzer (-fsanitize=fuzzer)
)
if [ "${1:-}" = "--with-peers" ]; then
  PACKAGES+=(libns3-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
