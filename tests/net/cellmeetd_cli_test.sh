#!/usr/bin/env bash
# cellmeetd's command line: keygen and mint-token work; bad flags exit 2 with
# a message naming the flag (a missing or bad TLS file: naming the file); serve writes its port file, prints its listening
# line (with the voice datagrams' UDP port, or without it under --no-media), serves /metrics, and
# exits 0 on SIGTERM.
# usage: cellmeetd_cli_test.sh CELLMEETD WORKDIR
set -u
BIN=$1
DIR=$2
rm -rf "$DIR" && mkdir -p "$DIR" && cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" keygen --out key || fail "keygen"
[ "$(stat -c %a key)" = 600 ] || fail "key file mode is $(stat -c %a key), not 600"
"$BIN" keygen --out key 2>/dev/null && fail "keygen overwrote an existing key"

cat > deployment.txt <<'TXT'
cells {
  cell_id: 7 name: "Border post"
  members { member_id: 1 name: "Chair" standing: STANDING_OFFICIAL role: ROLE_CHAIR }
  members { member_id: 2 name: "B" standing: STANDING_PROBATIONARY role: ROLE_MEMBER }
}
TXT
printf 'cells {\n  cell_id: 7\n  nmae: "x"\n}\n' > bad.txt

token=$("$BIN" mint-token --key key --deployment deployment.txt --cell 7 --member 2 --ttl-s 60) \
  || fail "mint-token"
[[ "$token" =~ ^[0-9a-f]{40,}$ ]] || fail "token is not hex: $token"

# expect_usage FLAG ARGS...: exit code 2 and a message that names FLAG.
expect_usage() {
  local flag=$1; shift
  local out rc
  out=$(timeout 10 "$BIN" "$@" 2>&1); rc=$?
  [ "$rc" = 2 ] || fail "exit $rc (want 2) for: $* -- $out"
  grep -q -- "$flag" <<<"$out" || fail "message does not name $flag for: $* -- $out"
}
S=(serve --key key --deployment deployment.txt)
M=(mint-token --key key --deployment deployment.txt)
expect_usage --port "${S[@]}" --port 70000
expect_usage --port "${S[@]}" --port -1
expect_usage --metrics-port "${S[@]}" --metrics-port x
expect_usage --threads "${S[@]}" --threads 0
expect_usage --max-connections "${S[@]}" --max-connections 99999999999999999999999
expect_usage --heartbeat-interval-ms "${S[@]}" --heartbeat-interval-ms 5
expect_usage --missed-heartbeats "${S[@]}" --missed-heartbeats 0
expect_usage --quorum "${S[@]}" --quorum 3/2
expect_usage --listen "${S[@]}" --listen 300.1.1.1
expect_usage --minutes-dir "${S[@]}" --minutes-dir /nonexistent
expect_usage --bogus "${S[@]}" --bogus
expect_usage --media-port "${S[@]}" --media-port 65536
expect_usage --no-media "${S[@]}" --no-media --media-port 7400
expect_usage --port "${S[@]}" --port
expect_usage --key serve --key missing --deployment deployment.txt
expect_usage "bad.txt:3:7" serve --key key --deployment bad.txt
expect_usage --deployment serve --key key
expect_usage --member "${M[@]}" --cell 7 --member 99
expect_usage --cell "${M[@]}" --cell 8 --member 1
expect_usage --cell "${M[@]}" --cell x --member 1
expect_usage --ttl-s "${M[@]}" --cell 7 --member 1 --ttl-s 0
expect_usage --out keygen
# TLS: both flags or neither; a missing or bad file is named.
expect_usage --tls-key "${S[@]}" --tls-cert deployment.txt
expect_usage --tls-cert "${S[@]}" --tls-key key
expect_usage "key file missing.key: No such file" "${S[@]}" --tls-cert deployment.txt --tls-key missing.key
expect_usage "certificate file missing.pem: No such file" "${S[@]}" --tls-cert missing.pem --tls-key key
expect_usage "certificate file deployment.txt: not a PEM" "${S[@]}" --tls-cert deployment.txt --tls-key key
"$BIN" serve --help | grep -q -- --tls-cert || fail "serve --help does not document --tls-cert"
expect_usage nonsense nonsense
"$BIN" --help | grep -q -- --port-file || fail "--help does not document --port-file"
"$BIN" serve --help | grep -q -- --heartbeat-interval-ms || fail "serve --help"

timeout 30 "$BIN" "${S[@]}" --threads 2 --port-file ports 2>serve.err &
pid=$!
for _ in $(seq 100); do [ -s ports ] && break; sleep 0.1; done
[ -s ports ] || { kill $pid; fail "no port file"; }
read -r port mport < ports
grep -q "cellmeetd listening on 127.0.0.1:$port, metrics on 127.0.0.1:$mport, 2 shards, 1 cells, voice on udp [1-9][0-9]*$" \
  serve.err || { kill $pid; fail "listening line: $(cat serve.err)"; }
exec 3<>"/dev/tcp/127.0.0.1/$mport" || { kill $pid; fail "metrics port"; }
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
timeout 5 cat <&3 > metrics.txt
exec 3<&-
grep -q '^cellmeet_connections_open 0' metrics.txt || { kill $pid; fail "metrics: $(head metrics.txt)"; }
grep -q '^cellmeet_datagrams_dropped_total{reason="bad_tag"} 0' metrics.txt ||
  { kill $pid; fail "no datagram metrics: $(grep datagram metrics.txt)"; }
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" = 0 ] || fail "serve exited $rc on SIGTERM"

# TLS: make-test-certs writes a CA and a server certificate that serve takes.
"$BIN" make-test-certs --out-dir . --name 127.0.0.1 || fail "make-test-certs"
[ "$(stat -c %a server.key)" = 600 ] || fail "server.key mode is $(stat -c %a server.key)"
rm -f ports
timeout 30 "$BIN" "${S[@]}" --tls-cert server.pem --tls-key server.key --port-file ports \
  2>serve-tls.err &
pid=$!
for _ in $(seq 100); do [ -s ports ] && break; sleep 0.1; done
[ -s ports ] || { kill $pid; fail "no port file with TLS: $(cat serve-tls.err)"; }
grep -q "1 cells, TLS" serve-tls.err || { kill $pid; fail "TLS listening line: $(cat serve-tls.err)"; }
kill -TERM $pid
wait $pid || fail "serve with TLS exited $? on SIGTERM"

# --no-media: no UDP socket, so no port in the listening line.
rm -f ports
timeout 30 "$BIN" "${S[@]}" --no-media --port-file ports 2>serve-nomedia.err &
pid=$!
for _ in $(seq 100); do [ -s ports ] && break; sleep 0.1; done
[ -s ports ] || { kill $pid; fail "no port file with --no-media: $(cat serve-nomedia.err)"; }
grep -q "1 cells$" serve-nomedia.err || { kill $pid; fail "--no-media listening line: $(cat serve-nomedia.err)"; }
kill -TERM $pid
wait $pid || fail "serve --no-media exited $? on SIGTERM"
echo PASS
