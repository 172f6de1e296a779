#!/usr/bin/env bash
# Integration: a real Prometheus server (Debian's `prometheus` package, which
# scripts/setup.sh installs) scrapes both cellmeetd's and the load driver's
# /metrics during a live load run, and its HTTP API then has the connection
# counts and a latency histogram of both.
#
#   prometheus_test.sh CELLMEETD CELLSIM
#
# Everything is on 127.0.0.1: cellmeetd and the driver take ephemeral ports;
# Prometheus gets a free port picked here (retried if taken), its own config
# and its own TSDB in a temporary directory, so it neither needs nor collides
# with a packaged daemon on :9090. Bounded: the load run is LOAD_S seconds,
# every wait has a deadline, the EXIT trap stops every process it started,
# and each runs under `timeout` as a backstop.
# Exit: 0 pass, 1 fail, 77 skipped (no prometheus or curl installed).
set -uo pipefail

cellmeetd=${1:?usage: prometheus_test.sh CELLMEETD CELLSIM}
cellsim=${2:?usage: prometheus_test.sh CELLMEETD CELLSIM}
prometheus_bin=${PROMETHEUS:-$(command -v prometheus || true)}
LOAD_S=40                 # the driver's run
PROM_START_S=20           # deadline for Prometheus to answer
SCRAPE="1s"
# Every process started here also stops by itself after this long, even if
# this script is killed before its EXIT trap runs (ctest's timeout is 180 s).
BACKSTOP_S=170

if [ -z "$prometheus_bin" ] || [ ! -x "$prometheus_bin" ]; then
  echo "SKIP: prometheus is not installed (Debian package \`prometheus\`: bash scripts/setup.sh)"
  exit 77
fi
if ! command -v curl >/dev/null; then
  echo "SKIP: curl is not installed (bash scripts/setup.sh)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cellsim-prom.XXXXXX")
server_pid="" driver_pid="" prom_pid="" failed=0

stop() {  # stop PID: SIGTERM, up to 5 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$prom_pid"
  stop "$driver_pid"
  stop "$server_pid"
  if [ "$failed" != 0 ]; then
    for f in cellmeetd.log driver.log driver.out prometheus.log prometheus.yml; do
      [ -f "$tmp/$f" ] && { echo "---- $f (tail)"; tail -n 40 "$tmp/$f"; }
    done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  failed=1
  exit 1
}

# A small live scenario: 20 cells of 8 members on urban fibre, every member
# joining within ~6 s and heartbeating every 2 s in a meeting that stays open.
cat >"$tmp/scenario.textproto" <<'EOF'
name: "prometheus-test"
question: "Does Prometheus scrape the server and the driver? (test fixture)"
seed: 7
duration_min: 10
start_unix_s: 1796086800
quorum_deadline_min: 1
server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
chair { open_deadline_min: 0.5 wait_for_quorum_min: 0.1 }
media { bitrate_kbps: 0 frame_ms: 20 }
profiles {
  name: "urban-fibre"
  base_one_way_ms: 4
  jitter_ms { lognormal { median: 2 sigma: 0.6 } }
  bandwidth_down_kbps: 100000
  bandwidth_up_kbps: 50000
  rto_min_ms: 200
}
agendas { name: "long" items { title: "Thảo luận" duration_min: 60 } }
cell_types {
  name: "prom"
  count: 20
  members { official: 8 }
  links { profile: "urban-fibre" share: 1 }
  attend_probability: 1
  join_offset_min { uniform { min: 0 max: 0.1 } }
  join_earliest_min: 0
  agenda: "long"
  start_window_min: 0.01
  start_offset_min: 0
}
EOF
members=160

# 1. cellmeetd with the scenario's rosters and rules.
"$cellmeetd" keygen --out "$tmp/key" || fail "cellmeetd keygen"
"$cellsim" load "$tmp/scenario.textproto" --write-deployment "$tmp/deployment.textproto" ||
  fail "cellsim load --write-deployment"
timeout -k 5 "$BACKSTOP_S" "$cellmeetd" serve --key "$tmp/key" --deployment "$tmp/deployment.textproto" \
  --listen 127.0.0.1 --port 0 --metrics-address 127.0.0.1 --metrics-port 0 \
  --port-file "$tmp/ports" --threads 1 \
  --heartbeat-interval-ms 2000 --missed-heartbeats 3 --quorum 2/3 \
  2>"$tmp/cellmeetd.log" &
server_pid=$!
for _ in $(seq 1 100); do  # up to 10 s
  [ -s "$tmp/ports" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "cellmeetd exited before listening"
  sleep 0.1
done
[ -s "$tmp/ports" ] || fail "cellmeetd did not listen within 10 s"
read -r server_port server_metrics_port <"$tmp/ports"
echo "cellmeetd on 127.0.0.1:$server_port, metrics on :$server_metrics_port"

# 2. The driver against it, /metrics on an ephemeral port.
timeout -k 5 "$BACKSTOP_S" "$cellsim" load "$tmp/scenario.textproto" --target "127.0.0.1:$server_port" --key "$tmp/key" \
  --duration "$LOAD_S" --metrics-port 0 --out "$tmp/load" --quiet \
  >"$tmp/driver.out" 2>"$tmp/driver.log" &
driver_pid=$!
driver_metrics_port=""
for _ in $(seq 1 100); do  # up to 10 s
  driver_metrics_port=$(sed -n 's|.*metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' \
    "$tmp/driver.log" | head -n 1)
  [ -n "$driver_metrics_port" ] && break
  kill -0 "$driver_pid" 2>/dev/null || fail "the driver exited before serving /metrics"
  sleep 0.1
done
[ -n "$driver_metrics_port" ] || fail "the driver did not announce its /metrics port within 10 s"
echo "driver /metrics on :$driver_metrics_port"
driver_started=$SECONDS

# 3. Prometheus scraping both every second.
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: $SCRAPE
  evaluation_interval: $SCRAPE
scrape_configs:
  - job_name: cellmeetd
    static_configs:
      - targets: ["127.0.0.1:$server_metrics_port"]
  - job_name: cellsim_load
    static_configs:
      - targets: ["127.0.0.1:$driver_metrics_port"]
EOF
in_use() { grep -q ":$1\$" <<<"$(ss -Hltn 2>/dev/null | awk '{print $4}')"; }
prom_port=""
for attempt in 1 2 3 4 5; do
  # Below Linux's ephemeral range (32768+), so no outgoing connection holds it.
  port=$((20000 + (RANDOM % 12000)))
  command -v ss >/dev/null && in_use "$port" && continue
  timeout -k 5 "$BACKSTOP_S" "$prometheus_bin" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn \
    >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  deadline=$((SECONDS + PROM_START_S))
  while [ $SECONDS -lt $deadline ]; do
    curl -fsS -m 2 "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && { prom_port=$port; break; }
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$prom_port" ] && break
  stop "$prom_pid"
  prom_pid=""
  grep -qi "address already in use" "$tmp/prometheus.log" ||
    fail "prometheus did not become ready on 127.0.0.1:$port (attempt $attempt)"
done
[ -n "$prom_port" ] || fail "no free port for prometheus after 5 attempts"
echo "prometheus $("$prometheus_bin" --version 2>&1 | head -n 1 | awk '{print $3}') on 127.0.0.1:$prom_port"

api="http://127.0.0.1:$prom_port/api/v1"
# The single value of an instant query's vector (the first sample), or "".
query() {
  curl -fsS -m 5 -G "$api/query" --data-urlencode "query=$1" 2>/dev/null |
    grep -o '"value":\[[^]]*\]' | head -n 1 | sed 's/.*,"\([^"]*\)"\]$/\1/'
}
positive() { [[ "$1" =~ ^[0-9.eE+-]+$ ]] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
# The health of the scrape pool's target: up, down or unknown.
health() {
  curl -fsS -m 5 "$api/targets?state=active" 2>/dev/null | sed 's/{"discoveredLabels"/\n&/g' |
    grep "\"scrapePool\":\"$1\"" | grep -o '"health":"[a-z]*"' | head -n 1 | cut -d'"' -f4
}

q_server='cellmeet_connections_open'
q_driver='cellsim_live_connections'
q_joined='cellsim_live_joined'
q_rtt='histogram_quantile(0.99, sum by (le) (cellsim_live_latency_seconds_bucket{metric="heartbeat_rtt"}))'
q_join='histogram_quantile(0.99, sum by (le) (cellsim_live_latency_seconds_bucket{metric="join_latency"}))'
q_handling='histogram_quantile(0.99, sum by (le) (cellmeet_frame_handling_seconds_bucket))'

# 4. While the load runs: poll until everything is there (at most until the
# driver's run is nearly over, when its /metrics goes away).
ok=0
while [ $((SECONDS - driver_started)) -lt $((LOAD_S - 3)) ]; do
  kill -0 "$driver_pid" 2>/dev/null || break
  up_server=$(health cellmeetd) up_driver=$(health cellsim_load)
  conns_server=$(query "$q_server") conns_driver=$(query "$q_driver") joined=$(query "$q_joined")
  rtt=$(query "$q_rtt") join=$(query "$q_join") handling=$(query "$q_handling")
  if [ "$up_server" = up ] && [ "$up_driver" = up ] && positive "$conns_server" &&
     positive "$conns_driver" && positive "$joined" && positive "$rtt" && positive "$join" &&
     positive "$handling" && [ "${conns_driver%.*}" -ge $((members * 9 / 10)) ] &&
     [ "${conns_server%.*}" -ge $((members * 9 / 10)) ]; then
    ok=1
    break
  fi
  sleep 1
done
echo "after $((SECONDS - driver_started)) s of load, Prometheus reports:"
echo "  targets: cellmeetd ${up_server:-?}, cellsim_load ${up_driver:-?}"
echo "  $q_server = ${conns_server:-<empty>} (of $members members)"
echo "  $q_driver = ${conns_driver:-<empty>}, $q_joined = ${joined:-<empty>}"
echo "  p99 heartbeat_rtt = ${rtt:-<empty>} s, p99 join_latency = ${join:-<empty>} s"
echo "  p99 cellmeet_frame_handling_seconds = ${handling:-<empty>} s"
[ "$ok" = 1 ] || fail "Prometheus did not report both targets up with connections and finite latency quantiles while the load ran"

# 5. The run ends by itself; the driver's results agree.
wait "$driver_pid"
rc=$?
driver_pid=""
[ "$rc" = 0 ] || fail "cellsim load exited $rc"
[ -s "$tmp/load/results.pb" ] || fail "the driver wrote no results"
# Prometheus kept the run: the peak connection count over it, from the TSDB.
peak=$(query "max_over_time(${q_server}[2m])")
echo "  max_over_time(${q_server}[2m]) = ${peak:-<empty>}"
positive "$peak" || fail "no connection history in Prometheus's TSDB"
echo "PASS"
