#!/usr/bin/env bash
# The packet-mode validation (issue 11): `cellsim validate --link packet`
# on a small scenario this test owns (packet-small.textproto, 12 cells over
# three profiles) for 75 s over three seeds, with the default tolerances
# and the default few-samples threshold (200 samples a side, summed over
# the seeds). It shows that the simulator's figures agree with live runs
# whose links are impaired per IP packet (the kernel's own TCP doing the
# retransmissions), median against median across the seeds.
#
#   packet_validation.sh CELLSIM OUT_DIR [LINK]
#
# LINK is packet (the default; ctest's) or frame (to check the test itself
# where packet mode is unavailable). Exits 0 when every judged row is within
# tolerance and the live side ran in LINK mode; 77 (ctest's
# SKIP_RETURN_CODE) when packet mode is unavailable here: no /dev/net/tun,
# `cellsim validate --link packet` refuses with its one-line reason, or the
# live driver ran frame mode instead (it ignores LoadOptions::link_mode
# until packet mode lands in live/driver.cc); 1 otherwise: rows outside
# tolerance (exit 4), an error, or a frame run that ran another mode.
set -uo pipefail

readonly kSkip=77
readonly kSeeds=3
readonly kDurationS=75
readonly kFirstSeed=11  # packet-small.textproto's seed

cellsim=${1:?usage: packet_validation.sh CELLSIM OUT_DIR [LINK]}
out=${2:?usage: packet_validation.sh CELLSIM OUT_DIR [LINK]}
link=${3:-packet}
scenario="$(cd "$(dirname "$0")" && pwd)/packet-small.textproto"

if [[ $link == packet && ! -c /dev/net/tun ]]; then
  echo "SKIP: packet mode unavailable: /dev/net/tun is missing"
  exit $kSkip
fi

rm -rf "$out"
mkdir -p "$out"
cmd=("$cellsim" validate "$scenario" --link "$link" --seeds $kSeeds --duration $kDurationS
     --out "$out")
echo "running: ${cmd[*]}"
"${cmd[@]}" >"$out/stdout.txt" 2>"$out/stderr.txt"
rc=$?
cat "$out/stdout.txt"
cat "$out/stderr.txt" >&2

if [[ $rc -eq 2 && $link == packet ]] && grep -q -- "--link packet:" "$out/stderr.txt"; then
  echo "SKIP: packet mode unavailable: $(grep -- "--link packet:" "$out/stderr.txt" | head -1)"
  exit $kSkip
fi
# The mode the live side ran (Validation.link_mode, also run.link_mode).
ran=$(grep -o '"link_mode": "[a-z]*"' "$out/results.json" 2>/dev/null | head -1 | cut -d'"' -f4)
if [[ ($rc -eq 0 || $rc -eq 4) && $ran != "$link" ]]; then
  # A live driver that ignores LoadOptions::link_mode runs frame mode and
  # says so: packet mode is not there yet, and frame-mode figures judge
  # nothing about it.
  if [[ $link == packet ]]; then
    echo "SKIP: packet mode unavailable: the live driver ran ${ran:-no} mode, not packet"
    exit $kSkip
  fi
  echo "FAIL: asked for --link $link, the live driver ran ${ran:-no} mode"
  exit 1
fi
case $rc in
  0) ;;
  4) echo "FAIL: rows outside tolerance (exit 4): see the table above"; exit 1 ;;
  *) echo "FAIL: cellsim validate exited $rc"; exit 1 ;;
esac
for ((i = 0; i < kSeeds; i++)); do  # bound: kSeeds
  for side in sim live; do
    if [[ ! -f $out/$side/seed-$((kFirstSeed + i))/results.pb ]]; then
      echo "FAIL: $out/$side/seed-$((kFirstSeed + i))/results.pb is missing"
      exit 1
    fi
  done
done
echo "PASS: $kSeeds seeds, link mode $link, every judged row within tolerance"
