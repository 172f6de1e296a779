#!/usr/bin/env bash
# Every command line of the project answers alike (cli/flags.h): --help
# (exit 0, a usage on stdout), --version (exit 0, "PROGRAM VERSION"), and a
# bad flag value: exit 2 and ONE line on stderr naming the flag and what is
# allowed. Nothing here runs a simulation or opens a socket.
# usage: cli_test.sh CELLSIM CELLMEETD DEMO VERSION
set -u
CELLSIM=$1 CELLMEETD=$2 DEMO=$3 VERSION=$4
fail() { echo "FAIL: $*"; exit 1; }
checks=0

# expect_help PROGRAM WORDS...: --help exits 0 and prints a usage.
expect_help() {
  local out rc
  out=$(timeout 10 "$@" --help 2>/dev/null); rc=$?
  [ "$rc" = 0 ] || fail "exit $rc for $* --help"
  grep -qi "usage" <<<"$out" || fail "no usage from $* --help: $out"
  checks=$((checks + 1))
}

# expect_version NAME PROGRAM WORDS...: --version prints "NAME VERSION".
expect_version() {
  local name=$1; shift
  local out rc
  out=$(timeout 10 "$@" --version 2>/dev/null); rc=$?
  [ "$rc" = 0 ] || fail "exit $rc for $* --version"
  [ "$out" = "$name $VERSION" ] || fail "$* --version printed \"$out\", want \"$name $VERSION\""
  checks=$((checks + 1))
}

# expect_bad FLAG ALLOWED PROGRAM ARGS...: exit 2, one line on stderr that
# names FLAG and says ALLOWED (a fixed string), nothing on stdout.
expect_bad() {
  local flag=$1 allowed=$2; shift 2
  local err out rc
  out=$(timeout 10 "$@" 2>/tmp/cli_test_err.$$); rc=$?
  err=$(cat /tmp/cli_test_err.$$); rm -f /tmp/cli_test_err.$$
  [ "$rc" = 2 ] || fail "exit $rc (want 2) for: $* -- $err"
  [ -z "$out" ] || fail "stdout not empty for: $* -- $out"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line for: $* -- $err"
  grep -qF -- "$flag" <<<"$err" || fail "does not name $flag for: $* -- $err"
  grep -qF -- "$allowed" <<<"$err" || fail "does not say \"$allowed\" for: $* -- $err"
  checks=$((checks + 1))
}

for c in run merge load report size validate calibrate compare linkcheck; do
  expect_help "$CELLSIM" $c
  expect_version cellsim "$CELLSIM" $c
done
expect_help "$CELLSIM"
expect_version cellsim "$CELLSIM"
for c in serve keygen mint-token make-test-certs; do
  expect_help "$CELLMEETD" $c
  expect_version cellmeetd "$CELLMEETD" $c
done
expect_help "$CELLMEETD"
expect_version cellmeetd "$CELLMEETD"
expect_help "$DEMO"
expect_version cellmeet-demo "$DEMO"

S=scenario.textproto  # never read: the flags are checked first
expect_bad --seed "integer in [0, 18446744073709551615]" "$CELLSIM" run $S --seed 12x
expect_bad --shard "0 <= i < N <= 4096" "$CELLSIM" run $S --shard 2/2
expect_bad --bogus "unknown flag" "$CELLSIM" run $S --bogus
expect_bad SCENARIO "required" "$CELLSIM" run
expect_bad --out "required" "$CELLSIM" merge a.pb
expect_bad --duration "(0, 86400]" "$CELLSIM" load $S --duration 0
expect_bad --server-threads "[1, 256]" "$CELLSIM" load $S --server-threads 257
expect_bad --target "HOST:PORT" "$CELLSIM" load $S --target localhost
expect_bad --metrics-port "[0, 65535]" "$CELLSIM" load $S --metrics-port 65536
expect_bad --link "packet, frame" "$CELLSIM" load $S --link kernel
expect_bad --lang "vi, en" "$CELLSIM" report out --lang fr
expect_bad --replications "[1, 30]" "$CELLSIM" size $S --replications 31
expect_bad --peak-share "(0, 1]" "$CELLSIM" size $S --peak-share 0
expect_bad --headroom "[1," "$CELLSIM" size $S --headroom 0.5
expect_bad --share-tolerance "[0, 1]" "$CELLSIM" validate $S --share-tolerance 1.5
expect_bad --latency-tolerance "[0, 10]" "$CELLSIM" validate $S --latency-tolerance nan
expect_bad --seeds "[1, 50]" "$CELLSIM" validate $S --seeds 51
expect_bad --link "packet, frame" "$CELLSIM" validate $S --link udp
expect_bad --levels "[1," "$CELLSIM" calibrate --levels 0
expect_bad --max-seeds "[1, 1000]" "$CELLSIM" run $S --until-decided --max-seeds 0
expect_bad --max-seeds "budget of --until-decided" "$CELLSIM" run $S --max-seeds 3
expect_bad --until-decided "no --shard" "$CELLSIM" run $S --until-decided --shard 0/2
expect_bad --alpha "(0, 0.5]" "$CELLSIM" compare a b --alpha 0
expect_bad --tolerance "[0, 10]" "$CELLSIM" compare a b --tolerance -1
expect_bad NEW "required" "$CELLSIM" compare a
expect_bad "unknown command" "cellsim --help" "$CELLSIM" simulate
expect_bad --port "[0, 65535]" "$CELLMEETD" serve --key k --deployment d --port 70000
expect_bad --threads "[1, 1024]" "$CELLMEETD" serve --key k --deployment d --threads 0
expect_bad --quorum "0 < NUM <= DEN <= 1000" "$CELLMEETD" serve --key k --deployment d --quorum 3/2
expect_bad --listen "not an IP address" "$CELLMEETD" serve --key k --deployment d --listen x
expect_bad --ttl-s "[1, 315360000]" "$CELLMEETD" mint-token --key k --deployment d --cell 1 \
  --member 1 --ttl-s 0
expect_bad --out "required" "$CELLMEETD" keygen
expect_bad --step-timeout-ms "[1, 600000]" "$DEMO" --target 127.0.0.1:1 --key k \
  --step-timeout-ms 0
expect_bad --target "HOST:PORT" "$DEMO" --target 127.0.0.1:0 --key k
echo "PASS ($checks checks)"
