// The live driver in packet mode (issue 11): one cell of six members on a
// 50 ms one-way link (no loss, no outages) run for about 20 s with the
// agents in one network namespace, the embedded cellmeetd in another and
// netem's emulator between them. Shows the run completes with quorum and
// tally integrity, that the kernel's TCP over the emulator gives round trips
// of at least twice the one-way delay (heartbeat_rtt >= 100 ms, well under
// 300 ms), that the results say link_mode "packet" and the bridge counted
// packets both ways for every member, and that nothing of the run's is left
// in /run/netns. The same scenario in frame mode says "frame"; packet mode
// with a target is refused. The packet-mode tests skip unless the process
// may create namespaces and TUN devices (netem::packet_mode_available()).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "live/driver.h"
#include "metrics/histogram.h"
#include "netem/netns.h"
#include "scenario/loader.h"

namespace cellsim::live {
namespace {

// About 20 s: the cell opens once quorate, one short item with a vote of
// 6 s, then the close; heartbeats every second.
constexpr char kScenario[] = R"pb(
  name: "live-packet"
  question: "Does packet mode hold a meeting? (test)"
  seed: 11
  duration_min: 0.33
  start_unix_s: 1796086800
  quorum_deadline_min: 0.15
  server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 1000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.15 wait_for_quorum_min: 0.05 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "fifty-ms"
    base_one_way_ms: 50
    bandwidth_down_kbps: 10000
    bandwidth_up_kbps: 5000
    rto_min_ms: 200
  }
  agendas {
    name: "short"
    items {
      title: "Nghị quyết"
      duration_min: 0.1
      votes {
        vote_id: 1
        kind: VOTE_KIND_RESOLUTION
        subject: "Nghị quyết"
        open_s: 6
        yes_probability: 0.9
        no_probability: 0.05
      }
    }
  }
  cell_types {
    name: "one"
    count: 1
    members { official: 6 }
    links { profile: "fifty-ms" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.02 } }
    join_earliest_min: 0
    agenda: "short"
    start_window_min: 0.01
    start_offset_min: 0.01
  }
)pb";

#define SKIP_WITHOUT_PACKET_MODE()                                \
  do {                                                            \
    std::string why;                                              \
    if (!netem::packet_mode_available(&why)) GTEST_SKIP() << why; \
  } while (0)

v1::Scenario load() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const bool ok = scenario::parse_scenario(kScenario, "live-packet", &s, &errors);
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

// No namespace of this process is left.
bool none_of_ours_left() {
  for (const std::string& n : netem::our_namespaces()) {
    pid_t pid = 0;
    if (netem::parse_namespace_pid(n, &pid) && pid == getpid()) return false;
  }
  return true;
}

TEST(LivePacket, MeetingOverTheEmulatorWithRealRoundTrips) {
  SKIP_WITHOUT_PACKET_MODE();
  const v1::Scenario s = load();
  LoadOptions o;
  o.scenario_file = "live-packet (in the test)";
  o.link_mode = LinkMode::kPacket;
  const LoadOutcome live = run_load(s, o);
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_FALSE(live.partial);
  EXPECT_EQ(live.members, 6u);
  EXPECT_EQ(live.violation_count, 0u);
  for (const auto& v : live.violations) ADD_FAILURE() << v;
  EXPECT_EQ(live.link_mode, LinkMode::kPacket);
  EXPECT_EQ(live.results.run().link_mode(), "packet");

  const v1::Group* g = overall(live.results);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->quorum().meetings(), 1u);
  EXPECT_EQ(g->quorum().meetings_quorate_by_deadline(), 1u);
  EXPECT_LE(g->quorum().ballots_acked(), g->quorum().ballots_counted());
  EXPECT_GT(g->quorum().ballots_counted(), 0u);

  const double rtt50 = quantile_ms(live.results, "heartbeat_rtt", 0.5);
  const double rtt99 = quantile_ms(live.results, "heartbeat_rtt", 0.99);
  const double join50 = quantile_ms(live.results, "join_latency", 0.5);
  std::printf("packet mode: heartbeat_rtt p50 %.1f ms p99 %.1f ms, join_latency p50 %.1f ms\n",
              rtt50, rtt99, join50);
  EXPECT_GE(rtt50, 100.0);  // two crossings of 50 ms
  EXPECT_LT(rtt50, 300.0);
  // Join: TCP's handshake, then Hello/Welcome and Join/State: >= 3 round trips.
  EXPECT_GE(join50, 295.0);  // 300 less the histogram's rounding

  const netem::BridgeStats& b = live.bridge;
  std::printf("bridge: %llu up, %llu down, %llu delivered, %llu unmatched, %llu dropped\n",
              static_cast<unsigned long long>(b.up_packets),
              static_cast<unsigned long long>(b.down_packets),
              static_cast<unsigned long long>(b.delivered),
              static_cast<unsigned long long>(b.unmatched),
              static_cast<unsigned long long>(b.dropped_loss + b.dropped_queue +
                                              b.dropped_outage + b.overflow));
  ASSERT_EQ(b.member_up_packets.size(), 6u);
  ASSERT_EQ(b.member_down_packets.size(), 6u);
  for (size_t m = 0; m < 6; ++m) {
    EXPECT_GT(b.member_up_packets[m], 10u) << "member " << m;
    EXPECT_GT(b.member_down_packets[m], 10u) << "member " << m;
  }
  EXPECT_EQ(b.dropped_loss + b.dropped_outage, 0u);  // the profile has neither
  EXPECT_TRUE(none_of_ours_left());
}

TEST(LivePacket, FrameModeSaysFrame) {
  const v1::Scenario s = load();
  LoadOptions o;
  o.duration_s = 3;
  o.link_mode = LinkMode::kFrame;
  const LoadOutcome live = run_load(s, o);
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_EQ(live.link_mode, LinkMode::kFrame);
  EXPECT_EQ(live.results.run().link_mode(), "frame");
  EXPECT_EQ(live.bridge.up_packets, 0u);
  EXPECT_TRUE(live.bridge.member_up_packets.empty());
}

TEST(LivePacket, PacketModeWithATargetIsRefused) {
  const v1::Scenario s = load();
  LoadOptions o;
  o.target_host = "127.0.0.1";
  o.target_port = 9;
  o.key = std::string(32, 'k');
  o.link_mode = LinkMode::kPacket;
  const LoadOutcome live = run_load(s, o);
  EXPECT_FALSE(live.ok);
  EXPECT_NE(live.error.find("embedded server"), std::string::npos) << live.error;
  EXPECT_EQ(live.error.find('\n'), std::string::npos) << live.error;
}

}  // namespace
}  // namespace cellsim::live
