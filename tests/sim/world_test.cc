// The simulated world, end to end: determinism, shards merging into the whole
// run, the invariants in every meeting, and quorum attainment against the
// binomial law it must follow.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <map>
#include <string>

#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::sim {
namespace {

// Four nodes, three link profiles (one with outages and loss), crashes, a
// mass outage during the votes: everything that draws randomness.
constexpr char kMixed[] = R"pb(
  name: "mixed" question: "test" seed: 11 duration_min: 60
  server { nodes: 4 cores_per_node: 2 }
  media { bitrate_kbps: 24 frame_ms: 20 }
  profiles { name: "fibre" base_one_way_ms: 5 jitter_ms { exponential { mean: 1 } }
             bandwidth_down_kbps: 50000 bandwidth_up_kbps: 50000 }
  profiles { name: "4g" base_one_way_ms: 40 jitter_ms { lognormal { median: 10 sigma: 0.5 } }
             bandwidth_down_kbps: 10000 bandwidth_up_kbps: 5000
             loss { p_good_to_bad: 0.01 p_bad_to_good: 0.5 loss_good: 0.005 loss_bad: 0.2 } }
  profiles { name: "vsat" base_one_way_ms: 300 jitter_ms { uniform { min: 0 max: 60 } }
             bandwidth_down_kbps: 2000 bandwidth_up_kbps: 400
             loss { p_good_to_bad: 0.02 p_bad_to_good: 0.3 loss_good: 0.01 loss_bad: 0.3 }
             outages { mean_up_s: 900 down_s { exponential { mean: 40 } } } }
  agendas { name: "m"
    items { title: "report" duration_min: 5 floor_requests: 2 }
    items { title: "votes" duration_min: 2
            votes { vote_id: 1 kind: VOTE_KIND_RESOLUTION subject: "r" yes_probability: 0.8 no_probability: 0.1 }
            votes { vote_id: 2 kind: VOTE_KIND_ELECTION subject: "e" yes_probability: 0.6 no_probability: 0.3 } } }
  cell_types { name: "urban" count: 6 members { official: 12 probationary: 2 exempted: 1 }
    links { profile: "fibre" share: 0.7 } links { profile: "4g" share: 0.3 }
    attend_probability: 0.9 exempted_attend_probability: 0.5 excused_probability: 0.5
    join_offset_min { normal { mean: 1 stddev: 2 } } agenda: "m" start_window_min: 10 }
  cell_types { name: "platform" count: 6 members { official: 9 probationary: 1 }
    links { profile: "vsat" share: 1 } attend_probability: 0.85 excused_probability: 0.3
    join_offset_min { uniform { min: 0 max: 5 } } agenda: "m" start_window_min: 10
    crash_probability: 0.2 }
  outage_events { name: "storm" at_min: 16 duration_s: 45 cell_types: "platform" share: 0.5 }
  slos { metric: "join_latency" quantile: 0.99 max_ms: 100000 }
  quorum_slos { min_attainment: 0.5 }
)pb";

v1::Scenario parse(const char* text) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const bool ok = scenario::parse_scenario(text, "inline", &s, &errors);
  std::string all;
  for (const auto& e : errors) all += e.to_string() + "\n";
  EXPECT_TRUE(ok) << all;
  return s;
}

SimulateOutcome run(const v1::Scenario& s, uint32_t shard = 0, uint32_t shards = 1) {
  SimulateOptions o;
  o.shard_index = shard;
  o.shard_count = shards;
  SimulateOutcome out = simulate(s, built_in_calibration(), o);
  EXPECT_TRUE(out.ok) << out.error;
  std::string v;
  for (const auto& x : out.violations) v += x + "\n";
  EXPECT_EQ(out.violation_count, 0u) << "seed " << s.seed() << ":\n" << v;
  clear_wall_clock_fields(&out.results);
  return out;
}

// Samples that never complete (links down, crashes, the storm) are counted
// as censored where they belong: overall = the sum over cell types = the sum
// over profiles (time_to_quorum has no profile), and only where links fail.
TEST(WorldTest, CensoredSamplesAreCountedWhereLinksFail) {
  const SimulateOutcome out = run(parse(kMixed));
  std::map<std::string, std::map<std::string, uint64_t>> by_kind;  // kind -> metric -> count
  std::map<std::string, uint64_t> by_profile_heartbeat;
  for (const v1::Group& g : out.results.groups()) {
    for (const v1::LatencyMetric& m : g.latencies()) {
      by_kind[g.kind()][m.name()] += m.censored();
      if (g.kind() == metrics::kGroupProfile && m.name() == "heartbeat_rtt") {
        by_profile_heartbeat[g.name()] = m.censored();
      }
    }
  }
  for (const auto& [metric, n] : by_kind[metrics::kGroupOverall]) {
    EXPECT_EQ(by_kind[metrics::kGroupCellType][metric], n) << metric;
    if (metric != "time_to_quorum") {
      EXPECT_EQ(by_kind[metrics::kGroupProfile][metric], n) << metric;
    }
  }
  EXPECT_GT(by_kind[metrics::kGroupOverall]["heartbeat_rtt"], 0u);
  EXPECT_GT(by_profile_heartbeat["vsat"], by_profile_heartbeat["fibre"]);
}

// Shows the same scenario and seed give byte-identical results, and another
// seed different ones.
TEST(WorldTest, DeterministicBySeed) {
  v1::Scenario s = parse(kMixed);
  const auto a = run(s);
  const auto b = run(s);
  EXPECT_EQ(a.results.SerializeAsString(), b.results.SerializeAsString());
  EXPECT_GT(a.results.run().frames(), 1000u);
  s.set_seed(12);
  const auto c = run(s);
  EXPECT_NE(a.results.SerializeAsString(), c.results.SerializeAsString());
}

// Shows two shards (whole nodes with their cells), merged, equal the whole run.
TEST(WorldTest, ShardsMergeIntoTheWholeRun) {
  const v1::Scenario s = parse(kMixed);
  auto whole = run(s);
  auto s0 = run(s, 0, 2);
  auto s1 = run(s, 1, 2);
  EXPECT_LT(s0.cells, whole.cells);
  v1::Results merged;
  std::string why;
  ASSERT_TRUE(metrics::merge_results(s0.results, s1.results, &merged, &why)) << why;
  metrics::evaluate_slos(s, &merged);
  // Shard bookkeeping differs by construction; everything measured must not.
  merged.mutable_run()->clear_shards();
  merged.mutable_run()->clear_shard_count();
  whole.results.mutable_run()->clear_shards();
  whole.results.mutable_run()->clear_shard_count();
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(whole.results, merged)) << diff;
  EXPECT_EQ(whole.results.SerializeAsString(), merged.SerializeAsString());
}

// Shows every meeting of the mixed scenario kept its tally integrity and its
// meetings closed with complete minutes (the invariants are checked by run()).
TEST(WorldTest, MeetingsCompleteWithIntegrity) {
  const auto out = run(parse(kMixed));
  const auto& q = out.results.groups(0).quorum();
  EXPECT_EQ(q.meetings(), 12u);
  EXPECT_EQ(q.meetings_closed(), 12u);
  EXPECT_EQ(q.minutes_complete(), 12u);
  EXPECT_LE(q.ballots_acked(), q.ballots_counted());  // more counted: acks lost with a link
  EXPECT_GT(q.ballots_counted(), 0u);

  // Media, the fluid model: floor holders speak at 24 kb/s (60 B per 20 ms),
  // each second of speech reaching the others present; no frames are sent.
  const auto& t = out.results.groups(0).traffic();
  EXPECT_GT(t.media_bytes_sent(), 0u);
  EXPECT_EQ(t.media_bytes_sent() % 60, 0u);
  EXPECT_EQ(t.media_frames_sent(), 0u);
  EXPECT_GT(t.media_bytes(), t.media_bytes_sent());       // several recipients each
  EXPECT_LT(t.media_bytes(), 15 * t.media_bytes_sent());  // at most 14 others
  uint64_t egress = 0;
  for (const auto& sv : out.results.servers()) egress += sv.egress_bytes();
  EXPECT_GT(egress, t.media_bytes());

  // Attendance: every meeting's trace offered; each cell type's worst is no
  // better than any sampled meeting; traces start at or after the first join.
  ASSERT_EQ(out.results.attendance_size(), 2);
  uint64_t seen = 0;
  for (const auto& a : out.results.attendance()) {
    seen += a.meetings_seen();
    ASSERT_TRUE(a.has_worst());
    EXPECT_GT(a.sample_size(), 0);
    for (const auto& x : a.sample()) EXPECT_LE(a.worst().quorate_ppm(), x.quorate_ppm());
    const auto& w = a.worst();
    EXPECT_EQ(w.t_ms_size(), w.present_size());
    EXPECT_EQ(w.t_ms_size(), w.required_size());
    EXPECT_GT(w.t_ms_size(), 0);
    for (int i = 0; i < w.present_size(); ++i) EXPECT_LE(w.present(i), w.denominator(i));
  }
  EXPECT_EQ(seen, 12u);
}

// P(quorate) when the chair attends and each of the other n-1 official
// members attends independently with probability p: P(1 + Bin(n-1, p) >= k).
double binomial_quorum(int n, double p, int k) {
  double total = 0;
  for (int x = 0; x <= n - 1; ++x) {
    if (1 + x < k) continue;
    total += std::exp(std::lgamma(n) - std::lgamma(x + 1) - std::lgamma(n - x) + x * std::log(p) +
                      (n - 1 - x) * std::log1p(-p));
  }
  return total;
}

// Shows the share of meetings reaching quorum matches the binomial tail for
// D = 9 officials and the 2/3 rule (k = 6), within a 99% band, over 1,500 cells.
TEST(WorldTest, QuorumAttainmentMatchesBinomialTail) {
  constexpr int kCells = 1500, kOfficial = 9;
  constexpr double kP = 0.62;
  std::string text = R"pb(
    name: "binomial" question: "test" seed: 5 duration_min: 20 quorum_deadline_min: 15
    rules { heartbeat_interval_ms: 60000 }
    profiles { name: "fibre" base_one_way_ms: 5 bandwidth_down_kbps: 50000 bandwidth_up_kbps: 50000 }
    agendas { name: "a" items { title: "report" duration_min: 1 } }
    cell_types { name: "c" count: 1500 members { official: 9 } links { profile: "fibre" share: 1 }
                 attend_probability: 0.62 join_offset_min { uniform { min: 0 max: 5 } } agenda: "a" }
  )pb";
  const auto out = run(parse(text.c_str()));
  const auto& q = out.results.groups(0).quorum();
  ASSERT_EQ(q.meetings(), static_cast<uint64_t>(kCells));
  const double expected = binomial_quorum(kOfficial, kP, 6);
  const double observed = static_cast<double>(q.meetings_quorate_by_deadline()) / kCells;
  const double band = 2.576 * std::sqrt(expected * (1 - expected) / kCells);
  EXPECT_NEAR(observed, expected, band) << "expected " << expected << ", observed " << observed;
}

// Shows: with the chair attending like any member (chair_attend_probability
// 0.62) and a deputy chairing when the chair is absent, attainment follows
// P(Binomial(9, 0.62) >= 6) over 1,500 cells, within a 99% band, and every
// meeting someone attends is opened and closed by its chair or deputy.
TEST(WorldTest, AbsentChairsAreReplacedAndQuorumFollowsTheBinomialTail) {
  constexpr int kCells = 1500;
  std::string text = R"pb(
    name: "binomial-chair"
    question: "test"
    seed: 5
    duration_min: 20
    quorum_deadline_min: 15
    rules { heartbeat_interval_ms: 60000 }
    profiles {
      name: "fibre"
      base_one_way_ms: 5
      bandwidth_down_kbps: 50000
      bandwidth_up_kbps: 50000
    }
    agendas {
      name: "a"
      items { title: "report" duration_min: 1 }
    }
    cell_types {
      name: "c"
      count: 1500
      members { official: 9 }
      links { profile: "fibre" share: 1 }
      attend_probability: 0.62
      chair_attend_probability: 0.62
      join_offset_min { uniform { min: 0 max: 5 } }
      agenda: "a"
    }
  )pb";
  const auto out = run(parse(text.c_str()));
  const auto& q = out.results.groups(0).quorum();
  ASSERT_EQ(q.meetings(), static_cast<uint64_t>(kCells));
  double expected = 0;  // P(Bin(9, 0.62) >= 6)
  for (int x = 6; x <= 9; ++x) {
    expected += std::exp(std::lgamma(10) - std::lgamma(x + 1) - std::lgamma(10 - x) +
                         x * std::log(0.62) + (9 - x) * std::log(0.38));
  }
  const double observed = static_cast<double>(q.meetings_quorate_by_deadline()) / kCells;
  const double band = 2.576 * std::sqrt(expected * (1 - expected) / kCells);
  EXPECT_NEAR(observed, expected, band) << "expected " << expected << ", observed " << observed;
  // A meeting nobody attends (0.38^9: about none of 1,500) is never opened.
  EXPECT_GE(q.meetings_closed(), static_cast<uint64_t>(kCells) - 2);
  EXPECT_LE(q.meetings_quorate_by_deadline_chair(), q.meetings_quorate_by_deadline());
}

}  // namespace
}  // namespace cellsim::sim
