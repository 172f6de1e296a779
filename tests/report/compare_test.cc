// `cellsim compare` (report/compare.h): the t distribution and Holm's
// adjustment against published values; on the simulator's runs of a small
// scenario, two sets of different seeds show no significant difference in
// at least 18 of 20 trials, and a planted 20% slowdown of the server's CPU
// costs is flagged as a regression on the server-bound metric (CPU
// utilisation) and on nothing that the server does not drive; the command
// exits 4 on it and 0 on noise.
#include "report/compare.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "metrics/results_io.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::report {
namespace {

// Six nodes of one core, sixty cells of two kinds, on fibre and lossy 4G.
constexpr char kSmall[] = R"pb(
  name: "compare-small"
  question: "compare"
  seed: 1
  duration_min: 40
  quorum_deadline_min: 15
  server { nodes: 6 cores_per_node: 1 }
  media { bitrate_kbps: 24 frame_ms: 20 }
  profiles {
    name: "fibre"
    base_one_way_ms: 5
    jitter_ms { exponential { mean: 1 } }
    bandwidth_down_kbps: 50000
    bandwidth_up_kbps: 50000
  }
  profiles {
    name: "4g"
    base_one_way_ms: 40
    jitter_ms { lognormal { median: 10 sigma: 0.5 } }
    bandwidth_down_kbps: 10000
    bandwidth_up_kbps: 5000
    loss { p_good_to_bad: 0.01 p_bad_to_good: 0.5 loss_good: 0.005 loss_bad: 0.2 }
  }
  agendas {
    name: "m"
    items { title: "report" duration_min: 5 floor_requests: 2 }
    items {
      title: "votes"
      duration_min: 2
      votes {
        vote_id: 1
        kind: VOTE_KIND_RESOLUTION
        subject: "r"
        yes_probability: 0.8
        no_probability: 0.1
      }
      votes {
        vote_id: 2
        kind: VOTE_KIND_ELECTION
        subject: "e"
        yes_probability: 0.6
        no_probability: 0.3
      }
    }
  }
  cell_types {
    name: "urban"
    count: 30
    members { official: 12 probationary: 1 }
    links { profile: "fibre" share: 0.7 }
    links { profile: "4g" share: 0.3 }
    attend_probability: 0.9
    excused_probability: 0.5
    join_offset_min { uniform { min: 0 max: 4 } }
    agenda: "m"
    start_window_min: 5
  }
  cell_types {
    name: "rural"
    count: 30
    members { official: 9 }
    links { profile: "4g" share: 1 }
    attend_probability: 0.85
    excused_probability: 0.3
    join_offset_min { uniform { min: 0 max: 5 } }
    agenda: "m"
    start_window_min: 5
  }
)pb";

v1::Scenario small() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  EXPECT_TRUE(scenario::parse_scenario(kSmall, "inline", &s, &errors));
  return s;
}

v1::Results run(uint64_t seed, const v1::Calibration& c) {
  v1::Scenario s = small();
  s.set_seed(seed);
  sim::SimulateOptions o;
  o.engine_check_every = 64;
  sim::SimulateOutcome out = sim::simulate(s, c, o);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.violation_count, 0u) << "seed " << seed;
  return std::move(out.results);
}

v1::Calibration slowed(double factor) {
  v1::Calibration c = sim::built_in_calibration();
  c.set_default_base_us(c.default_base_us() * factor);
  c.set_default_per_output_us(c.default_per_output_us() * factor);
  c.set_timer_us(c.timer_us() * factor);
  for (v1::FrameCost& f : *c.mutable_costs()) {
    f.set_base_us(f.base_us() * factor);
    f.set_per_output_us(f.per_output_us() * factor);
  }
  return c;
}

// P(|T| > 2.228) with 10 degrees of freedom is 0.05; with 1 it is the
// Cauchy's 2/pi atan(1/t); large df gives the normal's 0.05 at 1.96.
TEST(CompareTest, StudentTTailMatchesTables) {
  EXPECT_NEAR(t_two_sided_p(2.228, 10), 0.05, 2e-4);
  EXPECT_NEAR(t_two_sided_p(1.0, 1), 0.5, 1e-9);
  EXPECT_NEAR(t_two_sided_p(3.0, 1), 2 / M_PI * std::atan(1 / 3.0), 1e-9);
  EXPECT_NEAR(t_two_sided_p(1.959964, 1e9), 0.05, 1e-6);
  EXPECT_NEAR(t_two_sided_p(0, 5), 1.0, 1e-12);
}

// Holm's step-down: p sorted (0.01, 0.02, 0.03, 0.5) over 4 tests adjust to
// 0.04, 0.06, 0.06 (monotone), 0.5, in the input's order.
TEST(CompareTest, HolmAdjustsStepDown) {
  const std::vector<double> adj = holm_adjust({0.03, 0.5, 0.01, 0.02});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_DOUBLE_EQ(adj[2], 0.04);
  EXPECT_DOUBLE_EQ(adj[3], 0.06);
  EXPECT_DOUBLE_EQ(adj[0], 0.06);
  EXPECT_DOUBLE_EQ(adj[1], 0.5);
}

// Twenty trials, each one seed against another: at least 18 show no
// significant difference on any metric at the default level.
TEST(CompareTest, DifferentSeedsAreNoise) {
  const v1::Calibration c = sim::built_in_calibration();
  int clean = 0;
  size_t comparisons = 0;
  for (uint64_t trial = 0; trial < 20; ++trial) {
    const v1::Results a = run(100 + 2 * trial, c), b = run(101 + 2 * trial, c);
    CompareResult r;
    std::string why;
    ASSERT_TRUE(compare_runs({&a}, {&b}, CompareOptions{}, &r, &why)) << why;
    comparisons = r.rows.size();
    if (r.significant == 0) {
      ++clean;
    } else {
      std::cout << "trial " << trial << ":\n" << compare_table(r, CompareOptions{}, false);
    }
  }
  std::cout << clean << " of 20 trials without a significant difference (" << comparisons
            << " comparisons each)\n";
  EXPECT_GT(comparisons, 50u);
  EXPECT_GE(clean, 18);
}

// The server's CPU costs 20% higher, on the same seeds (an A/B run, as a CI
// gate makes it: the tests assume independent sides, so common seeds only
// make them conservative): CPU per frame and utilisation are significant
// regressions of +20%; no link-bound metric is.
TEST(CompareTest, PlantedServerSlowdownIsARegression) {
  const v1::Calibration c = sim::built_in_calibration(), slow = slowed(1.2);
  const v1::Results a1 = run(11, c), a2 = run(12, c);
  const v1::Results b1 = run(11, slow), b2 = run(12, slow);
  CompareResult r;
  std::string why;
  ASSERT_TRUE(compare_runs({&a1, &a2}, {&b1, &b2}, CompareOptions{}, &r, &why)) << why;
  std::cout << compare_table(r, CompareOptions{}, false);
  bool flagged = false;
  for (const Comparison& row : r.rows) {
    if (row.metric == "cpu_per_frame_us") {
      flagged = row.regression;
      EXPECT_NEAR(row.change, 0.2, 0.01);
    } else if (row.kind != CompareKind::kServer) {
      EXPECT_FALSE(row.regression) << row.group << " " << row.metric << " " << row.stat;
    }
  }
  EXPECT_TRUE(flagged);
  EXPECT_GE(r.regressions, 1u);
}

// The command: exit 4 on the slowdown, 0 on two sets of seeds alike; a
// folder without results is exit 2 naming it.
TEST(CompareTest, CommandExitsFourOnARegression) {
  namespace fs = std::filesystem;
  const fs::path d = fs::path(::testing::TempDir()) / "compare_cmd";
  fs::remove_all(d);
  const v1::Calibration c = sim::built_in_calibration(), slow = slowed(1.2);
  std::string why;
  for (uint64_t seed : {21, 22}) {
    ASSERT_TRUE(metrics::write_results((d / "base" / ("seed-" + std::to_string(seed))).string(),
                                       run(seed, c), &why))
        << why;
    ASSERT_TRUE(metrics::write_results((d / "same" / ("seed-" + std::to_string(seed + 2))).string(),
                                       run(seed + 2, c), &why))
        << why;
    ASSERT_TRUE(metrics::write_results((d / "slow" / ("seed-" + std::to_string(seed))).string(),
                                       run(seed, slow), &why))
        << why;
  }
  fs::create_directories(d / "empty");
  const std::string bin = CELLSIM_BINARY;
  const auto cmd = [&](const std::string& a, const std::string& b) {
    const std::string line = bin + " compare " + (d / a).string() + " " + (d / b).string() +
                             " --out " + (d / ("out-" + b)).string() + " > " +
                             (d / ("log-" + b)).string() + " 2>&1";
    const int status = std::system(line.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(cmd("base", "slow"), 4);
  EXPECT_EQ(cmd("base", "same"), 0);
  EXPECT_EQ(cmd("base", "empty"), 2);
  EXPECT_TRUE(fs::exists(d / "out-slow" / "compare.csv"));
}

// `cellsim run --until-decided`: seeds into DIR/seed-S/ until every verdict
// is decided or the budget is spent; exit 5 exactly when verdicts.txt still
// has an undecided one, and never more seeds than the budget.
TEST(CompareTest, UntilDecidedStopsWhenDecidedOrAtTheBudget) {
  namespace fs = std::filesystem;
  const fs::path d = fs::path(::testing::TempDir()) / "until_decided";
  fs::remove_all(d);
  fs::create_directories(d);
  {
    std::ofstream f(d / "small.textproto");
    f << kSmall;
  }
  const std::string line = std::string(CELLSIM_BINARY) + " run " +
                           (d / "small.textproto").string() +
                           " --until-decided --max-seeds 3 --out " + (d / "out").string() + " > " +
                           (d / "log").string() + " 2>&1";
  const int status = std::system(line.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  const int rc = WEXITSTATUS(status);
  std::ifstream v(d / "out" / "verdicts.txt");
  const std::string text((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>());
  std::cout << text;
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(rc, text.find("not yet decided") != std::string::npos ? 5 : 0);
  size_t seeds = 0;
  for (const auto& e : fs::directory_iterator(d / "out")) seeds += e.is_directory() ? 1 : 0;
  EXPECT_GE(seeds, 1u);
  EXPECT_LE(seeds, 3u);
  EXPECT_NE(text.find("verdicts over " + std::to_string(seeds) + " seeds"), std::string::npos);
}

}  // namespace
}  // namespace cellsim::report
