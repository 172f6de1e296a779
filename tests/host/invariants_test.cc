// Both hosts run the host layer's invariant checks on what they really see:
// a secret choice planted in the minutes the members receive, and a tally
// planted one ballot off, are each reported as a violation naming the seed,
// in the simulator and in live mode; a clean run reports none.
//
// The live run takes about half a minute of real time; each TEST runs in its
// own process under ctest.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "host/host_core.h"
#include "live/driver.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::host {
namespace {

// Two cells of six on fibre: the meeting opens, holds one secret ballot of
// 8 s, and closes within about 30 s.
constexpr char kScenario[] = R"pb(
  name: "planted-faults"
  question: "Do both hosts check the invariants? (test)"
  seed: 11
  duration_min: 0.6
  start_unix_s: 1796086800
  quorum_deadline_min: 0.2
  server { nodes: 1 cores_per_node: 2 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.2 wait_for_quorum_min: 0.05 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "urban-fibre"
    base_one_way_ms: 4
    jitter_ms { lognormal { median: 2 sigma: 0.6 } }
    bandwidth_down_kbps: 100000
    bandwidth_up_kbps: 50000
    rto_min_ms: 200
  }
  agendas {
    name: "secret"
    items {
      title: "Bầu cử"
      duration_min: 0.05
      votes {
        vote_id: 1
        kind: VOTE_KIND_ELECTION
        subject: "Bầu bí thư"
        open_s: 8
        yes_probability: 0.8
        no_probability: 0.1
      }
    }
  }
  cell_types {
    name: "fibre"
    count: 2
    members { official: 6 }
    links { profile: "urban-fibre" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.02 } }
    join_earliest_min: 0
    agenda: "secret"
    start_window_min: 0.02
    start_offset_min: 0.02
  }
)pb";

v1::Scenario load() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const bool ok = scenario::parse_scenario(kScenario, "planted-faults", &s, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  EXPECT_TRUE(ok);
  return s;
}

struct Seen {
  uint64_t count = 0;
  std::vector<std::string> violations;
};

Seen simulate(PlantedFaults planted) {
  const v1::Scenario s = load();
  sim::SimulateOptions o;
  o.planted = planted;
  const sim::SimulateOutcome out = sim::simulate(s, sim::built_in_calibration(), o);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.partial);
  return Seen{out.violation_count, out.violations};
}

Seen run_live(PlantedFaults planted) {
  const v1::Scenario s = load();
  live::LoadOptions o;
  o.planted = planted;
  const live::LoadOutcome out = live::run_load(s, o);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.partial);
  return Seen{out.violation_count, out.violations};
}

bool any_contains(const Seen& seen, const std::string& what) {
  for (const auto& v : seen.violations) {
    if (v.find(what) != std::string::npos && v.find("seed 11") == 0) return true;
  }
  return false;
}

void expect_detected(const Seen& clean, const Seen& leak, const Seen& tally) {
  EXPECT_EQ(clean.count, 0u) << (clean.violations.empty() ? "" : clean.violations[0]);
  // Both cells' minutes carry the planted choice: one report per meeting.
  EXPECT_EQ(leak.count, 2u);
  EXPECT_TRUE(any_contains(leak, "the minutes link a secret choice to a member"));
  EXPECT_EQ(tally.count, 1u);
  EXPECT_TRUE(any_contains(tally, "ballots acknowledged"));
}

TEST(PlantedFaults, SimulatorDetectsLeakAndTallyMismatch) {
  PlantedFaults leak, tally;
  leak.secret_choice_in_minutes = true;
  tally.tally_mismatch = true;
  expect_detected(simulate({}), simulate(leak), simulate(tally));
}

// One live run with both faults planted (a live run takes real time): the
// checks are independent, so both are reported; a clean run is covered by
// tests/live (no violations there).
TEST(PlantedFaults, LiveModeDetectsLeakAndTallyMismatch) {
  PlantedFaults both;
  both.secret_choice_in_minutes = true;
  both.tally_mismatch = true;
  const Seen seen = run_live(both);
  EXPECT_EQ(seen.count, 3u);
  EXPECT_TRUE(any_contains(seen, "the minutes link a secret choice to a member"));
  EXPECT_TRUE(any_contains(seen, "ballots acknowledged"));
}

}  // namespace
}  // namespace cellsim::host
