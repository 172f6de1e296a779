// The calibration's fit (live/fit.h): NNLS on small systems, the fit
// recovering known per-frame costs from synthetic runs (also when two frame
// types are nearly collinear) and reporting its error; and golden results:
// on fixed synthetic runs the fit gives exactly the coefficients, predictions
// and calibration file text in testdata/fit_golden.txt, recorded from the
// code before live/calibrate.cc was split (the same bits: the fit is
// deterministic arithmetic).
#include "live/fit.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
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

// The fit with the timer term on: the synthetic runs' truth has one.
CostFit fit_with_timer(std::vector<CalibrationRun>* runs) {
  FitOptions fo;
  fo.fit_timer = true;
  return fit_costs(runs, fo);
}

// hello, join_meeting and heartbeat cost what synthetic() made them cost.
void expect_true_costs(const CostFit& f, double tolerance_us, double heartbeat_tolerance_us) {
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_NEAR(f.base_us.at("hello"), 25, tolerance_us);
  EXPECT_NEAR(f.base_us.at("join_meeting"), 12, tolerance_us);
  EXPECT_NEAR(f.base_us.at("heartbeat"), 3, heartbeat_tolerance_us);
}

TEST(CalibrateFit, RecoversKnownCostsExactly) {
  auto runs = synthetic(false, 0, 1);
  const CostFit f = fit_with_timer(&runs);
  expect_true_costs(f, 1e-3, 1e-4);
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
  const CostFit f = fit_with_timer(&runs);
  expect_true_costs(f, 0.05, 0.01);
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

// A double as the golden file writes it: its bits in hex, then %.17g.
std::string bits(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx %.17g",
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(v)), v);
  return buf;
}

void report_fit(const std::string& name, const CostFit& f, const std::vector<CalibrationRun>& runs,
                std::ostringstream* o) {
  *o << "== fit " << name << "\n";
  if (!f.ok) *o << "error " << f.error << "\n";
  *o << "reference " << f.reference << "\n";
  for (const auto& [type, us] : f.base_us) *o << "base_us " << type << " " << bits(us) << "\n";
  *o << "default_base_us " << bits(f.default_base_us) << "\n"
     << "default_fitted " << f.default_fitted << "\n"
     << "per_output_us " << bits(f.per_output_us) << "\n"
     << "timer_us " << bits(f.timer_us) << "\n"
     << "idle_us_per_s " << bits(f.idle_us_per_s) << "\n"
     << "fit_error " << bits(f.fit_error) << "\n";
  for (const auto& t : f.folded) *o << "folded " << t << "\n";
  for (const auto& r : runs)
    *o << "predicted_ns " << r.label << " " << bits(r.predicted_ns) << "\n";
}

// Everything the golden file holds, computed now: NNLS on a small system
// with a bound active, the fit with the timer term, with the defaults (and
// the calibration file's text), and with too few runs for the idle term.
std::string golden_report() {
  std::ostringstream o;
  const std::vector<std::vector<double>> a = {
      {1, 2, 0.5}, {0, 1, 3}, {2, 0, 1}, {1, 1, 1}, {3, -1, 0}};
  std::vector<double> x;
  if (!nnls(a, {4, -2, 3, 1.5, 2}, &x, nullptr)) o << "nnls failed\n";
  for (double v : x) o << "nnls " << bits(v) << "\n";
  auto runs = golden_runs();
  FitOptions with_timer;
  with_timer.fit_timer = true;
  report_fit("timer", fit_costs(&runs, with_timer), runs, &o);
  runs = golden_runs();
  const CostFit f = fit_costs(&runs);
  report_fit("default", f, runs, &o);
  const v1::Calibration c = to_calibration(f, "golden machine", "golden source");
  o << "== file text\n" << calibration_file_text(c, runs_table(runs));
  runs = golden_runs();
  runs.resize(5);
  report_fit("few", fit_costs(&runs), runs, &o);
  return o.str();
}

// The golden file without its header comment.
std::string golden_file() {
  std::ifstream in(std::string(CELLSIM_SOURCE_DIR) + "/tests/live/testdata/fit_golden.txt");
  std::string text, line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header && line.rfind("# ", 0) == 0) continue;
    header = false;
    text += line + "\n";
  }
  return text;
}

TEST(CalibrateFitGolden, TheSameBitsAsRecordedBeforeTheSplit) {
  const std::string want = golden_file();
  ASSERT_FALSE(want.empty()) << "tests/live/testdata/fit_golden.txt is missing";
  const std::string got = golden_report();
  EXPECT_EQ(got, want);
  // The first line that differs, for the eye.
  std::istringstream g(got), w(want);
  std::string gl, wl;
  for (int n = 1; std::getline(w, wl); ++n) {
    if (!std::getline(g, gl) || gl != wl) {
      ADD_FAILURE() << "line " << n << ": want \"" << wl << "\", got \"" << gl << "\"";
      break;
    }
  }
}

}  // namespace
}  // namespace cellsim::live
