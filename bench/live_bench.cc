// The live driver at scale: N members (default 20,000), each one TCP
// connection through the impairment layer to the embedded cellmeetd, joining
// over the first 20 s and then heartbeating every 2 s in a meeting that
// stays open. One iteration = one run of kRunS seconds of real time.
//
//   live_bench                                   20,000 connections
//   CELLSIM_LIVE_BENCH_CONNECTIONS=5000 live_bench
//
// Counters: connections_held (peak transports up), frames_per_second (frames
// sent + received by members over the run), rss_bytes_per_connection
// (resident-memory growth during the run / connections held; the embedded
// server's side of each connection is in the same process, so this is the
// driver's and the server's memory per connection together).
//
// The process needs two descriptors per connection (both ends are in it):
// the driver raises RLIMIT_NOFILE or says what to do.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "live/driver.h"
#include "scenario/loader.h"

namespace {

constexpr uint64_t kDefaultConnections = 20'000;
constexpr uint64_t kMembersPerCell = 12;
constexpr double kRunS = 40;

uint64_t connections() {
  const char* env = std::getenv("CELLSIM_LIVE_BENCH_CONNECTIONS");
  const uint64_t n = env != nullptr ? std::strtoull(env, nullptr, 10) : kDefaultConnections;
  return std::clamp<uint64_t>(n, kMembersPerCell, cellsim::live::kMaxMembers);
}

uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string scenario_text(uint64_t cells) {
  return R"pb(
    name: "live-bench"
    question: "How many heartbeating connections does one live driver hold?"
    seed: 3
    duration_min: 10
    start_unix_s: 1796086800
    quorum_deadline_min: 1
    server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 10000 }
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
      name: "bench"
      count: )pb" + std::to_string(cells) + R"pb(
      members { official: 12 }
      links { profile: "urban-fibre" share: 1 }
      attend_probability: 1
      join_offset_min { uniform { min: 0 max: 0.33 } }
      join_earliest_min: 0
      agenda: "long"
      start_window_min: 0.01
      start_offset_min: 0
    }
  )pb";
}

void BM_LiveHeartbeat(benchmark::State& state) {
  const uint64_t cells = (connections() + kMembersPerCell - 1) / kMembersPerCell;
  cellsim::v1::Scenario s;
  std::vector<cellsim::scenario::LoadError> errors;
  if (!cellsim::scenario::parse_scenario(scenario_text(cells), "live-bench", &s, &errors)) {
    state.SkipWithError(errors.empty() ? "bad scenario" : errors[0].to_string().c_str());
    return;
  }
  uint64_t held = 0, frames = 0;
  double wall_s = 0, rss_per_conn = 0;
  for (auto _ : state) {
    const uint64_t rss0 = rss_bytes();
    uint64_t rss_peak = rss0;
    cellsim::live::LoadOptions o;
    o.duration_s = kRunS;
    o.server_threads = 1;
    o.on_progress = [&](const cellsim::live::Progress&) {
      rss_peak = std::max(rss_peak, rss_bytes());
      return true;
    };
    const cellsim::live::LoadOutcome out = cellsim::live::run_load(s, o);
    if (!out.ok) {
      state.SkipWithError(out.error.c_str());
      return;
    }
    held = out.peak_connected;
    frames = out.results.run().frames();
    wall_s = out.results.run().wall_s();
    rss_per_conn = held > 0 ? static_cast<double>(rss_peak - rss0) / static_cast<double>(held) : 0;
  }
  state.counters["connections_planned"] = static_cast<double>(cells * kMembersPerCell);
  state.counters["connections_held"] = static_cast<double>(held);
  state.counters["frames_per_second"] = static_cast<double>(frames) / std::max(wall_s, 1e-9);
  state.counters["rss_bytes_per_connection"] = rss_per_conn;
}
BENCHMARK(BM_LiveHeartbeat)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
