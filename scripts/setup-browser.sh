#!/usr/bin/env bash
# Installs what the report's browser test needs (tests/report/browser_test.sh):
# Debian's chromium, and poppler-utils' pdftotext to read the printed PDF.
# Not part of scripts/setup.sh: the browser test is skipped (ctest: SKIP)
# when chromium is absent. Safe to run again. Must run as root (or with sudo).
set -euo pipefail

PACKAGES=(chromium poppler-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-browser: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-browser: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-browser: done"
