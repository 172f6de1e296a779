// The verdicts' intervals on the simulator's own results, where the answer
// is known or two answers must agree (issue 12's acceptance):
//
//  - coverage: cells of 9 officials, each member but the chair attending
//    with probability 0.7, independently, on a clean link, quorum 2/3 (6 of
//    9): a meeting is quorate by the deadline with probability
//    P(1 + Binomial(8, 0.7) >= 6) = 0.8059. Over 2,000 runs of 40 cells
//    (seeds 1..2000), the quorum finding's 95% interval covers 0.8059 in
//    93-97% of them (Wilson's exact coverage at n = 40 there is 95.5%).
//  - stability: the pilot judged on seeds {S, S+1, S+2} and on {S+3, S+4,
//    S+5} gives no decided verdict that the other contradicts (undecided
//    may differ).
//
// Bounded: about 14 s for the coverage runs, 30 s for the pilot's six
// seeds (two at a time).
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "report/verdict.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::report {
namespace {

constexpr char kBinomial[] = R"pb(
  name: "binomial"
  question: "coverage"
  seed: 1
  duration_min: 20
  quorum_deadline_min: 15
  rules { heartbeat_interval_ms: 60000 }
  profiles { name: "fibre" base_one_way_ms: 5 bandwidth_down_kbps: 50000 bandwidth_up_kbps: 50000 }
  agendas {
    name: "a"
    items { title: "report" duration_min: 1 }
  }
  cell_types {
    name: "c"
    count: 40
    members { official: 9 }
    links { profile: "fibre" share: 1 }
    attend_probability: 0.7
    join_offset_min { uniform { min: 0 max: 5 } }
    agenda: "a"
  }
  quorum_slos { min_attainment: 0.8 }
)pb";

double binomial_truth() {  // P(1 + Bin(8, 0.7) >= 6)
  double p = 0;
  for (int x = 5; x <= 8; ++x) {
    p += std::exp(std::lgamma(9) - std::lgamma(x + 1) - std::lgamma(9 - x) + x * std::log(0.7) +
                  (8 - x) * std::log(0.3));
  }
  return p;
}

v1::Scenario parse(const char* text) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  EXPECT_TRUE(scenario::parse_scenario(text, "inline", &s, &errors));
  return s;
}

v1::Results simulate_seed(v1::Scenario s, const v1::Calibration& calibration, uint64_t seed) {
  s.set_seed(seed);
  sim::SimulateOptions o;
  o.engine_check_every = 64;
  sim::SimulateOutcome out = sim::simulate(s, calibration, o);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.violation_count, 0u) << "seed " << seed;
  return std::move(out.results);
}

TEST(ConfidenceSimTest, QuorumIntervalCoversTheBinomialTruth) {
  const double truth = binomial_truth();
  ASSERT_NEAR(truth, 0.8059, 1e-4);
  const v1::Scenario s = parse(kBinomial);
  const v1::Calibration calibration = sim::built_in_calibration();
  constexpr int kReplications = 2000;
  int covered = 0;
  double observed_sum = 0;
  for (int seed = 1; seed <= kReplications; ++seed) {
    const v1::Results r = simulate_seed(s, calibration, static_cast<uint64_t>(seed));
    const std::vector<CellTypeVerdict> vs = judge(r);
    ASSERT_EQ(vs.size(), 1u);
    const Finding* q = nullptr;
    for (const Finding& f : vs[0].findings) {
      if (f.check == Check::kQuorum) q = &f;
    }
    ASSERT_NE(q, nullptr) << "seed " << seed;
    ASSERT_EQ(q->count, 40u) << "seed " << seed;
    covered += q->lo <= truth && truth <= q->hi;
    observed_sum += q->observed;
  }
  // The runs' mean attainment is the truth within 3 standard errors (40,000
  // meetings): the simulator draws attendance as the scenario says.
  const double mean = observed_sum / kReplications;
  EXPECT_NEAR(mean, truth, 3 * std::sqrt(truth * (1 - truth) / (40.0 * kReplications)));
  const double coverage = static_cast<double>(covered) / kReplications;
  std::cout << "coverage of P = " << truth << ": " << coverage << " over " << kReplications
            << " runs; mean attainment " << mean << "\n";
  EXPECT_GE(coverage, 0.93);
  EXPECT_LE(coverage, 0.97);
}

// The pilot's verdicts on three seeds.
std::vector<CellTypeVerdict> pilot_verdicts(const v1::Scenario& s, const v1::Calibration& c,
                                            uint64_t first_seed) {
  std::vector<std::future<v1::Results>> runs;
  std::vector<v1::Results> results;
  for (uint64_t seed = first_seed; seed < first_seed + 3; ++seed) {
    runs.push_back(std::async(std::launch::async, simulate_seed, s, c, seed));
    if (runs.size() == 2) {  // two at a time: the machine has two cores
      for (auto& f : runs) results.push_back(f.get());
      runs.clear();
    }
  }
  for (auto& f : runs) results.push_back(f.get());
  std::vector<const v1::Results*> ptrs;
  for (const v1::Results& r : results) ptrs.push_back(&r);
  std::vector<CellTypeVerdict> out;
  std::string why;
  EXPECT_TRUE(judge_seeds(ptrs, {}, &out, &why)) << why;
  return out;
}

TEST(ConfidenceSimTest, DisjointSeedsOfThePilotNeverContradict) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const std::string file =
      std::string(CELLSIM_SOURCE_DIR) + "/scenarios/pilot-special-cells.textproto";
  ASSERT_TRUE(scenario::load_scenario(file, &s, &errors));
  v1::Calibration c;
  std::string label, why;
  ASSERT_TRUE(sim::resolve_calibration("", file, s, &c, &label, &why)) << why;
  const uint64_t base = s.seed();
  const std::vector<CellTypeVerdict> a = pilot_verdicts(s, c, base);
  const std::vector<CellTypeVerdict> b = pilot_verdicts(s, c, base + 3);
  ASSERT_EQ(a.size(), b.size());
  int decided_both = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].cell_type, b[i].cell_type);
    std::cout << a[i].cell_type << ": seeds " << base << "-" << base + 2 << " "
              << verdict_name(a[i].verdict) << ", seeds " << base + 3 << "-" << base + 5 << " "
              << verdict_name(b[i].verdict) << "\n";
    const bool decided =
        a[i].verdict != Verdict::kNotYetDecided && b[i].verdict != Verdict::kNotYetDecided;
    if (!decided) continue;
    ++decided_both;
    EXPECT_EQ(a[i].verdict, b[i].verdict) << a[i].cell_type;
  }
  std::cout << decided_both << " cell types decided on both sets of seeds\n";
}

}  // namespace
}  // namespace cellsim::report
