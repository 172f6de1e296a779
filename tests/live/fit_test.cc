// The calibration's fit (live/fit.h): NNLS on small systems, the fit
// recovering known per-frame costs from synthetic runs (also when two frame
// types are nearly collinear) and reporting its error; and golden results:
// on fixed synthetic runs the fit gives exactly the coefficients, predictions
// and calibration file text recorded from the code before live/calibrate.cc
// was split (the same bits: the fit is deterministic arithmetic).
#include "live/fit.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "live/calibrate.h"  // to_calibration(), runs_table(), the file text

namespace cellsim::live {
namespace {

// Synthetic runs with the given true costs (ns) and relative noise.
std::vector<CalibrationRun> synthetic(bool near_collinear, double noise, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  std::normal_distribution<double> n(0, 1);
  std::vector<CalibrationRun> runs;
  for (int i = 0; i < 12; ++i) {
    CalibrationRun r;
    r.label = "r" + std::to_string(i);
    const double members = 200 * (1 + i % 3);
    r.frames_in["hello"] = members * (near_collinear ? 1.0 + 0.02 * (i % 4) : u(rng));
    r.frames_in["join_meeting"] = members;
    r.frames_in["heartbeat"] = members * (i % 4 == 0 ? 20 : 3) * u(rng);
    r.frames_in["cast_ballot"] = i % 4 == 1 ? members * 0.9 : 0;
    r.frames_in["open_vote"] = 10;  // too few: folded into the default
    r.frames_out = r.frames_in["heartbeat"] + 5 * members * u(rng);
    r.timer_runs = members * u(rng);
    r.seconds = 15 + i % 2;
    const double truth = 25'000 * r.frames_in["hello"] + 12'000 * r.frames_in["join_meeting"] +
                         3'000 * r.frames_in["heartbeat"] + 6'000 * r.frames_in["cast_ballot"] +
                         8'000 * r.frames_in["open_vote"] + 1'500 * r.frames_out +
                         1'000 * r.timer_runs + 50'000 * r.seconds;
    r.cpu_ns = truth * (1 + noise * n(rng));
    runs.push_back(r);
  }
  return runs;
}

TEST(CalibrateFit, NnlsSolvesASmallSystemWithABoundActive) {
  // Unconstrained solution has x1 < 0; NNLS pins it at 0.
  std::vector<std::vector<double>> a = {{1, 0}, {0, 1}, {1, 1}};
  std::vector<double> b = {2, -1, 1};
  std::vector<double> x;
  ASSERT_TRUE(nnls(a, b, &x, nullptr));
  EXPECT_NEAR(x[1], 0, 1e-12);
  EXPECT_NEAR(x[0], 1.5, 1e-9);
  std::string why;
  EXPECT_FALSE(nnls({{1, 2}, {1}}, {1, 2}, &x, &why));
  EXPECT_FALSE(why.empty());
  why.clear();
  EXPECT_FALSE(nnls({}, {}, &x, &why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(nnls({{1}}, {1, 2}, &x, nullptr));
}

TEST(CalibrateFit, RecoversKnownCostsExactly) {
  auto runs = synthetic(false, 0, 1);
  FitOptions fo;
  fo.fit_timer = true;
  const CostFit f = fit_costs(&runs, fo);
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_NEAR(f.base_us.at("hello"), 25, 1e-3);
  EXPECT_NEAR(f.base_us.at("join_meeting"), 12, 1e-3);
  EXPECT_NEAR(f.base_us.at("heartbeat"), 3, 1e-4);
  EXPECT_NEAR(f.base_us.at("cast_ballot"), 6, 1e-3);
  EXPECT_NEAR(f.per_output_us, 1.5, 1e-4);
  EXPECT_NEAR(f.timer_us, 1, 1e-3);
  EXPECT_NEAR(f.idle_us_per_s, 50, 0.5);
  EXPECT_EQ(f.reference, "heartbeat");
  EXPECT_NEAR(f.default_base_us, 8, 1e-3);
  ASSERT_EQ(f.folded.size(), 1u);
  EXPECT_EQ(f.folded[0], "open_vote");
  EXPECT_TRUE(f.default_fitted);
  EXPECT_LT(f.fit_error, 1e-9);
  for (const auto& r : runs) EXPECT_NEAR(r.predicted_ns / r.cpu_ns, 1, 1e-9);
}

TEST(CalibrateFit, RecoversCostsWhenHelloAndJoinAreNearlyCollinear) {
  auto runs = synthetic(true, 0, 2);
  FitOptions fo;
  fo.fit_timer = true;
  const CostFit f = fit_costs(&runs, fo);
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_NEAR(f.base_us.at("hello"), 25, 0.05);
  EXPECT_NEAR(f.base_us.at("join_meeting"), 12, 0.05);
  EXPECT_NEAR(f.base_us.at("heartbeat"), 3, 0.01);
  EXPECT_LT(f.fit_error, 1e-6);
}

TEST(CalibrateFit, ReportsTheErrorOfANoisyFitAndKeepsCostsNonNegative) {
  auto runs = synthetic(false, 0.05, 3);
  const CostFit f = fit_costs(&runs);
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_GT(f.fit_error, 0.005);
  EXPECT_LT(f.fit_error, 0.1);
  // Without the timer term its cost lands elsewhere, but every type still
  // costs at least the reference's (heartbeat's) cost.
  for (const auto& [t, us] : f.base_us) EXPECT_GE(us, f.base_us.at("heartbeat")) << t;
  EXPECT_GE(f.default_base_us, f.base_us.at("heartbeat"));
  EXPECT_EQ(f.timer_us, 0);
  EXPECT_GE(f.per_output_us, 0);
  EXPECT_GE(f.timer_us, 0);
  EXPECT_NEAR(f.base_us.at("heartbeat"), 3, 1.5);
  // The calibration names what it is and loads as the simulator reads it.
  const v1::Calibration c = to_calibration(f, "test machine", "synthetic");
  EXPECT_FALSE(c.estimated());
  EXPECT_NEAR(c.fit_error(), f.fit_error, 1e-4);
  const std::string text = calibration_file_text(c, runs_table(runs));
  EXPECT_NE(text.find("# MEASURED"), std::string::npos);
  EXPECT_NE(text.find("cpu ms"), std::string::npos);
}

TEST(CalibrateFit, NoRunsOrTooFewFramesIsAnError) {
  std::vector<CalibrationRun> none;
  const CostFit f = fit_costs(&none);
  EXPECT_FALSE(f.ok);
  EXPECT_FALSE(f.error.empty());
  std::vector<CalibrationRun> thin(3);
  for (auto& r : thin) {
    r.frames_in["hello"] = 10;
    r.cpu_ns = 1e6;
  }
  const CostFit g = fit_costs(&thin);
  EXPECT_FALSE(g.ok);
  EXPECT_NE(g.error.find("enough frames"), std::string::npos) << g.error;
}

// --- Golden results ------------------------------------------------------------

// Fixed synthetic runs: integer formulas and exact decimal perturbations
// only (no <random>, no libm), so the inputs are the same bits everywhere.
std::vector<CalibrationRun> golden_runs() {
  std::vector<CalibrationRun> runs;
  for (int i = 0; i < 14; ++i) {
    CalibrationRun r;
    r.label = "g" + std::to_string(i);
    const double members = 120.0 * (1 + i % 4);
    const double wobble = 1 + 0.01 * ((i * 7) % 5 - 2);  // 0.98 .. 1.02
    r.members = static_cast<uint64_t>(members);
    r.frames_in["hello"] = members * (1 + 0.25 * (i % 3));
    r.frames_in["join_meeting"] = members * (i % 5 == 0 ? 2 : 1);
    r.frames_in["heartbeat"] = members * (i % 4 == 0 ? 25 : 4 + i % 3);
    r.frames_in["cast_ballot"] = i % 3 == 1 ? members * 0.75 : 0;
    r.frames_in["media_frame"] = i % 5 == 2 ? members * 40 : 0;
    r.frames_in["open_vote"] = 3 + i % 2;  // too few: folded
    r.frames_in["floor_request"] = 150;    // a small type, but its own
    r.frames_out =
        r.frames_in["heartbeat"] + 3 * members * (1 + i % 2) + r.frames_in["media_frame"] * 11;
    r.timer_runs = members * (2 + i % 3);
    r.seconds = 10 + i % 3;
    const double truth = 24'000 * r.frames_in["hello"] + 11'000 * r.frames_in["join_meeting"] +
                         2'500 * r.frames_in["heartbeat"] + 7'000 * r.frames_in["cast_ballot"] +
                         4'000 * r.frames_in["media_frame"] + 9'000 * r.frames_in["open_vote"] +
                         5'000 * r.frames_in["floor_request"] + 1'200 * r.frames_out +
                         900 * r.timer_runs + 40'000 * r.seconds;
    r.cpu_ns = truth * wobble;
    runs.push_back(r);
  }
  return runs;
}

struct ExpectedFit {
  std::string reference;
  std::map<std::string, double> base_us;
  double default_base_us = 0;
  bool default_fitted = false;
  double per_output_us = 0, timer_us = 0, idle_us_per_s = 0, fit_error = 0;
  std::vector<std::string> folded;
  std::vector<double> predicted_ns;
};

// Every figure equal to the bit (EXPECT_EQ on doubles, on purpose).
void expect_same(const CostFit& f, const std::vector<CalibrationRun>& runs, const ExpectedFit& e) {
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.reference, e.reference);
  EXPECT_EQ(f.base_us, e.base_us);
  EXPECT_EQ(f.default_base_us, e.default_base_us);
  EXPECT_EQ(f.default_fitted, e.default_fitted);
  EXPECT_EQ(f.per_output_us, e.per_output_us);
  EXPECT_EQ(f.timer_us, e.timer_us);
  EXPECT_EQ(f.idle_us_per_s, e.idle_us_per_s);
  EXPECT_EQ(f.fit_error, e.fit_error);
  EXPECT_EQ(f.folded, e.folded);
  ASSERT_EQ(runs.size(), e.predicted_ns.size());
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].predicted_ns, e.predicted_ns[i]) << i;
}

TEST(CalibrateFitGolden, NnlsGivesTheRecordedSolution) {
  const std::vector<std::vector<double>> a = {
      {1, 2, 0.5}, {0, 1, 3}, {2, 0, 1}, {1, 1, 1}, {3, -1, 0}};
  const std::vector<double> b = {4, -2, 3, 1.5, 2};
  std::vector<double> x;
  ASSERT_TRUE(nnls(a, b, &x, nullptr));
  EXPECT_EQ(x, (std::vector<double>{0x1.2aaaaaaaaaaacp+0, 0x1.924924924924dp-1, 0x0p+0}));
}

TEST(CalibrateFitGolden, WithTheTimerTerm) {
  auto runs = golden_runs();
  FitOptions fo;
  fo.fit_timer = true;
  const CostFit f = fit_costs(&runs, fo);
  ExpectedFit e;
  e.reference = "media_frame";
  e.base_us = {{"cast_ballot", 0x1.c4fcdc5930fe4p+2},  {"floor_request", 0x1.101d5ce57fc2p+3},
               {"heartbeat", 0x1.25e70f497e136p+1},    {"hello", 0x1.8e1779cedab43p+4},
               {"join_meeting", 0x1.2c369f2c9f4a4p+3}, {"media_frame", 0x1.25e70f497e136p+1}};
  e.default_base_us = 0x1.25e70f497e136p+1;
  e.default_fitted = true;
  e.per_output_us = 0x1.6401fe16d1bc9p+0;
  e.timer_us = 0x1.45106fbc348cap-1;
  e.idle_us_per_s = 0x0p+0;
  e.fit_error = 0x1.ba319efed810ep-8;
  e.folded = {"open_vote"};
  e.predicted_ns = {
      0x1.1636c7a88cc1cp+24, 0x1.2455563f59d0dp+24, 0x1.0cc36e1bf4927p+28, 0x1.c0f8eda63e49ep+24,
      0x1.1b4ec667c0083p+24, 0x1.59daf4d7b3051p+24, 0x1.3ead82d04b3adp+24, 0x1.6575b7a32d25dp+28,
      0x1.1e23c143c9114p+24, 0x1.d4935fc158435p+23, 0x1.c947f4bd46b19p+24, 0x1.2db26b8ad6bdap+25,
      0x1.8366fbdf2cd27p+26, 0x1.2455563f59d0dp+24,
  };
  expect_same(f, runs, e);
}

TEST(CalibrateFitGolden, WithTheDefaultsAndTheFileText) {
  auto runs = golden_runs();
  const CostFit f = fit_costs(&runs);
  ExpectedFit e;
  e.reference = "media_frame";
  e.base_us = {{"cast_ballot", 0x1.ca0fb68f740d5p+2},  {"floor_request", 0x1.3d1d76c9e9b0ep+2},
               {"heartbeat", 0x1.27574f99f4fb6p+1},    {"hello", 0x1.a6a692a3cf00ep+4},
               {"join_meeting", 0x1.2c3dcbd68d082p+3}, {"media_frame", 0x1.27574f99f4fb6p+1}};
  e.default_base_us = 0x1.27574f99f4fb6p+1;
  e.default_fitted = true;
  e.per_output_us = 0x1.63c9480e8e146p+0;
  e.timer_us = 0x0p+0;
  e.idle_us_per_s = 0x1.6a6b659134457p+5;
  e.fit_error = 0x1.c37cf46ea8f9cp-8;
  e.folded = {"open_vote"};
  e.predicted_ns = {
      0x1.15f6b21e0863ep+24, 0x1.24423f27c54ecp+24, 0x1.0cbcb94bea13p+28,  0x1.c1fa4d9a703c2p+24,
      0x1.1b65622b52bcdp+24, 0x1.59602c88754f6p+24, 0x1.3f24c6a92cd5cp+24, 0x1.6583ac7502c03p+28,
      0x1.1e59b9cf5ae54p+24, 0x1.d45f41e921d9bp+23, 0x1.c9726c6569f7p+24,  0x1.2d209980b2ee5p+25,
      0x1.835eeb7586921p+26, 0x1.24423f27c54ecp+24,
  };
  expect_same(f, runs, e);
  const v1::Calibration c = to_calibration(f, "golden machine", "golden source");
  EXPECT_EQ(
      calibration_file_text(c, runs_table(runs)),
      R"golden(# MEASURED calibration for the server capacity model, written by `cellsim calibrate`.
# Per-frame CPU costs of cellmeetd (one shard thread) on the machine named below;
# Protobuf text format of cellsim.v1.Calibration. Use it with
# `cellsim run SCENARIO --calibration FILE`, or a scenario's server.calibration.
# base_us: CPU per frame received of that type; per_output_us: per frame sent
# (each recipient); default_*: the types not listed; timer_us: per liveness check;
# tls_handshake_us: per TLS 1.3 handshake, the server's side (members with tls: true).
# fit_error: relative RMS error of the fitted against the measured CPU over the runs:
#
#   run            members       hello join_meetin   heartbeat cast_ballot media_frame other in      out wall s   cpu ms   fit ms    err
#   g0                 120         120         240        3000           0           0      153     3360   10.0     18.1     18.2   0.8%
#   g1                 240         300         240        1200         180           0      154     2640   11.0     19.1     19.2   0.1%
#   g2                 360         540         360        2160           0       14400      153   161640   12.0    282.0    281.8  -0.1%
#   g3                 480         480         480        1920           0           0      154     4800   10.0     29.1     29.5   1.3%
#   g4                 120         150         120        3000          90           0      153     3360   11.0     18.8     18.6  -1.3%
#   g5                 240         360         480        1440           0           0      154     2880   12.0     22.6     22.6  -0.0%
#   g6                 360         360         360        1440           0           0      153     2520   10.0     21.0     20.9  -0.6%
#   g7                 480         600         480        2400         360       19200      154   216480   11.0    374.6    374.9   0.1%
#   g8                 120         180         120        3000           0           0      153     3360   12.0     18.7     18.8   0.5%
#   g9                 240         240         240         960           0           0      154     2400   10.0     15.5     15.3  -0.7%
#   g10                360         450         720        1800         270           0      153     2880   11.0     30.1     30.0  -0.5%
#   g11                480         720         480        2880           0           0      154     5760   12.0     39.7     39.5  -0.5%
#   g12                120         120         120        3000           0        4800      153    56160   10.0    101.7    101.5  -0.1%
#   g13                240         300         240        1200         180           0      154     2640   11.0     19.0     19.2   1.1%
#
# fit error 0.7% (relative RMS over the runs)

source: "golden source"
machine: "golden machine"
default_base_us: 2.307
default_per_output_us: 1.39
costs {
  type: "cast_ballot"
  base_us: 7.157
  per_output_us: 1.39
}
costs {
  type: "floor_request"
  base_us: 4.955
  per_output_us: 1.39
}
costs {
  type: "heartbeat"
  base_us: 2.307
  per_output_us: 1.39
}
costs {
  type: "hello"
  base_us: 26.416
  per_output_us: 1.39
}
costs {
  type: "join_meeting"
  base_us: 9.383
  per_output_us: 1.39
}
costs {
  type: "media_frame"
  base_us: 2.307
  per_output_us: 1.39
}
fit_error: 0.0069
)golden");
}

TEST(CalibrateFitGolden, TooFewRunsForTheIdleTerm) {
  auto runs = golden_runs();
  runs.resize(5);
  const CostFit f = fit_costs(&runs);
  ExpectedFit e;
  e.reference = "media_frame";
  e.base_us = {{"cast_ballot", 0x1.3bc7176a23f82p+3}, {"floor_request", 0x1.4dac49d2cebd5p+1},
               {"heartbeat", 0x1.4dac49d2cebd5p+1},   {"hello", 0x1.b90ceafae6453p+4},
               {"join_meeting", 0x1.05db6fab6f0dp+3}, {"media_frame", 0x1.4dac49d2cebd5p+1}};
  e.default_base_us = 0x1.4dac49d2cebd5p+1;
  e.default_fitted = true;
  e.per_output_us = 0x1.5d551ac2fedd8p+0;
  e.timer_us = 0x0p+0;
  e.idle_us_per_s = 0x0p+0;
  e.fit_error = 0x1.fd9b148694eebp-54;
  e.folded = {"open_vote"};
  e.predicted_ns = {
      0x1.13d1c4p+24, 0x1.24157p+24, 0x1.0ce849bffffffp+28, 0x1.bc45fc0000001p+24, 0x1.1f018ep+24,
  };
  expect_same(f, runs, e);
}

}  // namespace
}  // namespace cellsim::live
