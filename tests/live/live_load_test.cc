// The live driver against the embedded cellmeetd: a small impaired scenario
// (20 cells of 12 members on three link profiles, a short agenda, heartbeats
// every 2 s) run live and checked (meetings close, tally integrity, results
// valid and mergeable), then simulated with the same seed and compared.
//
// Each TEST runs in its own process under ctest (gtest_discover_tests), so
// the live run is done once, inside one TEST.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "live/driver.h"
#include "metrics/histogram.h"
#include "metrics/results_io.h"
#include "scenario/loader.h"
#include "server/net/server.h"
#include "sim/runner.h"

namespace cellsim::live {
namespace {

// About 40 s of meeting: open when quorate, two short items, one vote of 22 s
// (longer than the longest think time, 20 s), then the close.
constexpr char kScenario[] = R"pb(
  name: "live-small"
  question: "Does the live driver hold meetings over impaired links? (test)"
  seed: 7
  duration_min: 0.75
  start_unix_s: 1796086800
  quorum_deadline_min: 0.3
  server { nodes: 1 cores_per_node: 2 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.3 wait_for_quorum_min: 0.1 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "urban-fibre"
    base_one_way_ms: 4
    jitter_ms { lognormal { median: 2 sigma: 0.6 } }
    bandwidth_down_kbps: 100000
    bandwidth_up_kbps: 50000
    loss { p_good_to_bad: 0.00001 p_bad_to_good: 0.5 loss_good: 0 loss_bad: 0.2 }
    rto_min_ms: 200
    tls: true
  }
  profiles {
    name: "border-4g"
    base_one_way_ms: 30
    jitter_ms { lognormal { median: 12 sigma: 0.7 } }
    bandwidth_down_kbps: 10000
    bandwidth_up_kbps: 5000
    loss { p_good_to_bad: 0.004 p_bad_to_good: 0.25 loss_good: 0.003 loss_bad: 0.5 }
    rto_min_ms: 200
    outages { mean_up_s: 600 down_s { uniform { min: 1 max: 3 } } }
    tls: true
  }
  profiles {
    name: "geo-vsat"
    base_one_way_ms: 280
    jitter_ms { lognormal { median: 30 sigma: 0.6 } }
    bandwidth_down_kbps: 4096
    bandwidth_up_kbps: 384
    loss { p_good_to_bad: 0.006 p_bad_to_good: 0.2 loss_good: 0.005 loss_bad: 0.4 }
    rto_min_ms: 200
    outages { mean_up_s: 900 down_s { uniform { min: 1 max: 4 } } }
    tls: true
  }
  agendas {
    name: "short"
    items { title: "Khai mạc" duration_min: 0.05 }
    items {
      title: "Nghị quyết"
      duration_min: 0.1
      floor_requests: 1
      votes {
        vote_id: 1
        kind: VOTE_KIND_RESOLUTION
        subject: "Nghị quyết"
        open_s: 22
        yes_probability: 0.9
        no_probability: 0.05
      }
    }
  }
  cell_types {
    name: "mixed"
    count: 20
    members { official: 10 probationary: 2 }
    links { profile: "urban-fibre" share: 0.4 }
    links { profile: "border-4g" share: 0.3 }
    links { profile: "geo-vsat" share: 0.3 }
    attend_probability: 0.95
    join_offset_min { uniform { min: 0 max: 0.05 } }
    join_earliest_min: 0
    agenda: "short"
    start_window_min: 0.02
    start_offset_min: 0.02
  }
)pb";

v1::Scenario load(const char* text) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const bool ok = scenario::parse_scenario(text, "live-small", &s, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  EXPECT_TRUE(ok);
  return s;
}

const v1::Group* overall(const v1::Results& r) {
  for (const auto& g : r.groups()) {
    if (g.kind() == "overall") return &g;
  }
  return nullptr;
}

// The quantile of a latency metric in the overall group, ms; NaN if none.
double quantile_ms(const v1::Results& r, const std::string& name, double q) {
  const v1::Group* g = overall(r);
  if (g == nullptr) return std::nan("");
  for (const auto& l : g->latencies()) {
    if (l.name() != name) continue;
    metrics::Histogram h;
    std::string why;
    if (!metrics::Histogram::from_proto(l.histogram(), &h, &why) || h.total_count() == 0) break;
    return static_cast<double>(h.value_at_quantile(q)) / 1000.0;
  }
  return std::nan("");
}

double attainment(const v1::Results& r) {
  const v1::Group* g = overall(r);
  if (g == nullptr || g->quorum().meetings() == 0) return std::nan("");
  return static_cast<double>(g->quorum().meetings_quorate_by_deadline()) /
         static_cast<double>(g->quorum().meetings());
}

TEST(LiveLoad, ImpairedScenarioAgainstEmbeddedServer) {
  const v1::Scenario s = load(kScenario);
  LoadOptions o;
  o.scenario_file = "live-small (in the test)";
  o.server_threads = 2;
  const LoadOutcome live = run_load(s, o);
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_EQ(live.cells, 20u);
  EXPECT_EQ(live.members, 240u);
  EXPECT_FALSE(live.partial);
  EXPECT_EQ(live.violation_count, 0u);
  for (const auto& v : live.violations) ADD_FAILURE() << v;

  const v1::Results& r = live.results;
  EXPECT_EQ(r.run().mode(), "live");
  const v1::Group* g = overall(r);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->quorum().meetings(), 20u);
  EXPECT_EQ(g->quorum().meetings_closed(), 20u);
  EXPECT_GT(g->quorum().ballots_counted(), 0u);
  EXPECT_LE(g->quorum().ballots_acked(), g->quorum().ballots_counted());
  EXPECT_GT(g->traffic().connects(), 200u);

  // The live server's figures, and each cell type's attendance traces.
  ASSERT_EQ(r.servers_size(), 1);
  EXPECT_GT(r.servers(0).process_cpu_ns(), 0u);
  EXPECT_GT(r.servers(0).peak_connections(), 0u);
  EXPECT_LE(r.servers(0).peak_connections(), 240u);
  EXPECT_GT(r.servers(0).egress_bytes(), 0u);
  ASSERT_EQ(r.attendance_size(), 1);
  for (const auto& a : r.attendance()) {
    EXPECT_GT(a.meetings_seen(), 0u) << a.cell_type();
    ASSERT_TRUE(a.has_worst()) << a.cell_type();
    EXPECT_GT(a.worst().t_ms_size(), 0) << a.cell_type();
  }

  // The results file: written, read back (validated) and mergeable.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cellsim-live-test-" + std::to_string(::getpid()));
  std::string why;
  ASSERT_TRUE(metrics::write_results(dir.string(), r, &why)) << why;
  v1::Results back;
  ASSERT_TRUE(metrics::read_results(dir.string(), &back, &why)) << why;
  v1::Results a = back, b = back, merged;
  a.mutable_run()->clear_shards();
  a.mutable_run()->add_shards("0/2");
  a.mutable_run()->set_shard_count(2);
  b.mutable_run()->clear_shards();
  b.mutable_run()->add_shards("1/2");
  b.mutable_run()->set_shard_count(2);
  b.clear_servers();     // shards own whole nodes
  b.clear_attendance();  // and whole cells
  ASSERT_TRUE(metrics::merge_results(a, b, &merged, &why)) << why;
  EXPECT_EQ(overall(merged)->quorum().meetings(), 40u);
  std::filesystem::remove_all(dir);

  // The same scenario simulated with the same seed.
  const sim::SimulateOutcome simulated = sim::simulate(s, sim::built_in_calibration(), {});
  ASSERT_TRUE(simulated.ok) << simulated.error;
  const v1::Results& sr = simulated.results;
  std::printf("%-18s %8s %10s %10s %8s\n", "metric", "quantile", "live ms", "sim ms", "diff");
  for (const char* name : {"join_latency", "ballot_latency", "broadcast_latency"}) {
    for (double q : {0.5, 0.99}) {
      const double lv = quantile_ms(r, name, q), sv = quantile_ms(sr, name, q);
      const double diff = (lv - sv) / sv;
      std::printf("%-18s %8.2f %10.1f %10.1f %+7.1f%%\n", name, q, lv, sv, diff * 100);
      EXPECT_LE(std::abs(diff), 0.20) << name << " p" << q * 100 << ": live " << lv
                                      << " ms, sim " << sv << " ms";
    }
  }
  const double la = attainment(r), sa = attainment(sr);
  std::printf("%-18s %8s %9.1f%% %9.1f%%\n", "quorum attainment", "", la * 100, sa * 100);
  EXPECT_LE(std::abs(la - sa), 0.05) << "live " << la << ", sim " << sa;
}

// Shows members given the floor send real MediaFrames at the scenario's rate
// (24 kb/s in 20 ms frames: 60 B each) and the server relays them to the
// others present; the simulator, same seed, accounts the same speech as a
// fluid (bytes, no frames).
TEST(LiveLoad, MediaFromFloorHolders) {
  std::string text = kScenario;
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("bitrate_kbps: 0", "bitrate_kbps: 24");
  replace("duration_min: 0.75", "duration_min: 0.6");
  replace("items { title: \"Khai mạc\" duration_min: 0.05 }",
          "items { title: \"Thảo luận\" duration_min: 0.45 floor_requests: 6 }");
  replace("count: 20", "count: 4");
  const v1::Scenario s = load(text.c_str());
  LoadOptions o;
  o.scenario_file = "live-media (in the test)";
  o.server_threads = 1;
  const LoadOutcome live = run_load(s, o);
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_EQ(live.violation_count, 0u);
  const v1::TrafficStats& t = overall(live.results)->traffic();
  std::printf("media: %llu frames, %llu B sent, %llu B relayed to members\n",
              static_cast<unsigned long long>(t.media_frames_sent()),
              static_cast<unsigned long long>(t.media_bytes_sent()),
              static_cast<unsigned long long>(t.media_bytes()));
  EXPECT_GT(t.media_frames_sent(), 100u);
  EXPECT_EQ(t.media_bytes_sent(), 60 * t.media_frames_sent());
  EXPECT_GT(t.media_bytes(), t.media_bytes_sent());  // each frame to several others
  EXPECT_LE(t.media_bytes(), 11 * t.media_bytes_sent());

  const sim::SimulateOutcome simulated = sim::simulate(s, sim::built_in_calibration(), {});
  ASSERT_TRUE(simulated.ok) << simulated.error;
  const v1::TrafficStats& st = overall(simulated.results)->traffic();
  EXPECT_EQ(st.media_frames_sent(), 0u);
  EXPECT_GT(st.media_bytes_sent(), 0u);
  // The same speakers for about the same time: within 25 %.
  const double ratio = static_cast<double>(st.media_bytes_sent()) /
                       static_cast<double>(t.media_bytes_sent());
  EXPECT_NEAR(ratio, 1.0, 0.25) << "sim " << st.media_bytes_sent() << " B, live "
                                << t.media_bytes_sent() << " B";
}

}  // namespace
}  // namespace cellsim::live
