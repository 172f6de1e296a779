// Frame mode's impairment is reproducible (issue 11, part 2): two live runs
// of one seed, whose frames reach the link model at different wall-clock
// moments, make the same decisions for the same frames. Frame k of each
// member's direction draws its delay and its first-transmission losses from
// a stream keyed by (member, direction, k) (host/link.h), so over the frames
// both runs sent, delays and losses agree one for one. (How long a repair
// takes may differ: it depends on how busy the link was, which is timing.)
// One cell of six members on a lossy, jittery 40 ms link, about 20 s each.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "live/driver.h"
#include "scenario/loader.h"

namespace cellsim::live {
namespace {

constexpr char kScenario[] = R"pb(
  name: "live-reproducible"
  question: "Do two frame-mode runs of one seed impair the same frames alike? (test)"
  seed: 23
  duration_min: 0.33
  start_unix_s: 1796086800
  quorum_deadline_min: 0.15
  server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 500 missed_heartbeats: 6 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.15 wait_for_quorum_min: 0.05 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "lossy"
    base_one_way_ms: 40
    jitter_ms { exponential { mean: 15 } }
    bandwidth_down_kbps: 2000
    bandwidth_up_kbps: 1000
    loss { p_good_to_bad: 0.05 p_bad_to_good: 0.3 loss_good: 0.01 loss_bad: 0.4 }
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
    links { profile: "lossy" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.02 } }
    join_earliest_min: 0
    agenda: "short"
    start_window_min: 0.01
    start_offset_min: 0.01
  }
)pb";

LoadOutcome run_once() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  EXPECT_TRUE(scenario::parse_scenario(kScenario, "live-reproducible", &s, &errors));
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  LoadOptions o;
  o.scenario_file = "live-reproducible (in the test)";
  o.link_mode = LinkMode::kFrame;
  o.record_link_decisions = true;
  return run_load(s, o);
}

TEST(LiveReproducible, TwoFrameModeRunsOfOneSeedDecideAlike) {
  const LoadOutcome a = run_once();
  const LoadOutcome b = run_once();
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_TRUE(b.ok) << b.error;
  ASSERT_EQ(a.link_decisions.size(), 12u);
  ASSERT_EQ(b.link_decisions.size(), 12u);
  size_t compared = 0, lossy = 0, total_a = 0;
  for (size_t l = 0; l < a.link_decisions.size(); ++l) {
    const auto& da = a.link_decisions[l];
    const auto& db = b.link_decisions[l];
    total_a += da.size();
    const size_t n = std::min(da.size(), db.size());
    const auto packets = [](uint32_t bytes) { return (bytes + host::kMssBytes - 1) / host::kMssBytes; };
    bool same_packets_so_far = true;  // the chain has stepped alike
    for (size_t k = 0; k < n; ++k) {
      SCOPED_TRACE("member " + std::to_string(l / 2) + (l % 2 ? " down" : " up") + ", frame " +
                   std::to_string(k));
      ASSERT_EQ(da[k].frame_index, k);
      ASSERT_EQ(db[k].frame_index, k);
      EXPECT_EQ(da[k].delay_ns, db[k].delay_ns);  // drawn first, whatever the frame
      // The chain steps once per packet: same losses as long as every frame
      // so far had the same number of packets in both runs.
      same_packets_so_far = same_packets_so_far && packets(da[k].bytes) == packets(db[k].bytes);
      if (!same_packets_so_far) break;
      ++compared;
      EXPECT_EQ(da[k].lost_packets, db[k].lost_packets);
      lossy += da[k].lost_packets > 0;
    }
  }
  // Most frames are the same in both runs (heartbeats, acknowledgements);
  // enough of them were lost to make the check mean something.
  EXPECT_GT(compared, total_a / 2) << compared << " of " << total_a;
  EXPECT_GT(lossy, 5u);
}

}  // namespace
}  // namespace cellsim::live
