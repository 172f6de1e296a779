#!/usr/bin/env bash
# The demo: starts cellmeetd on an ephemeral loopback port with the demo cell,
# holds the whole demo meeting against it (cellmeet-demo), prints what happens
# and the minutes, then stops the server with SIGTERM.
#   scripts/demo.sh [BUILD_DIR] [OUT_DIR]
# CELLSIM_DEMO_TLS=1: over TLS 1.3, with a CA and server certificate made for
# the run (cellmeetd make-test-certs) and verified by every member.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-out/demo}
mkdir -p "$out/minutes"
rm -rf "$out/ports" "$out/minutes/"*.json "$out/minutes/journal"  # a fresh deployment each time

[ -s "$out/key" ] || "$build/cellmeetd" keygen --out "$out/key"
"$build/tools/cellmeet-demo" --write-deployment "$out/deployment.textproto"

serve_tls=() demo_tls=()
if [ "${CELLSIM_DEMO_TLS:-0}" = 1 ]; then
  mkdir -p "$out/tls"
  "$build/cellmeetd" make-test-certs --out-dir "$out/tls"
  serve_tls=(--tls-cert "$out/tls/server.pem" --tls-key "$out/tls/server.key")
  demo_tls=(--tls-ca "$out/tls/ca.pem")
fi

"$build/cellmeetd" serve --key "$out/key" --deployment "$out/deployment.textproto" \
  --port 0 --metrics-port 0 --port-file "$out/ports" --minutes-dir "$out/minutes" \
  "${serve_tls[@]}" 2>"$out/cellmeetd.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do   # up to 10 s for the server to listen
  [ -s "$out/ports" ] && break
  kill -0 $server 2>/dev/null || { cat "$out/cellmeetd.log"; exit 1; }
  sleep 0.1
done
[ -s "$out/ports" ] || { echo "cellmeetd did not start"; cat "$out/cellmeetd.log"; exit 1; }
read -r port metrics_port < "$out/ports"
echo "cellmeetd listening on 127.0.0.1:$port (metrics on :$metrics_port)${demo_tls:+, TLS}"

"$build/tools/cellmeet-demo" --target "127.0.0.1:$port" --key "$out/key" "${demo_tls[@]}"

kill -TERM $server
wait $server
trap - EXIT
echo "cellmeetd stopped cleanly; minutes kept in $out/minutes/:"
ls "$out/minutes"
