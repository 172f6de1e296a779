// SLOs: latency quantiles against max_ms (overall and per cell type), quorum
// attainment, and the failures that explain themselves (no samples, no
// meetings, unknown metric or cell type).
#include "metrics/slo.h"

#include <gtest/gtest.h>

#include <string>

#include "metrics/recorder.h"

namespace cellsim::metrics {
namespace {

// A run: join latencies island 100..1000 ms, at-sea 2..20 s; quorate island 9/10, at-sea 5/10.
v1::Results results() {
  Recorder rec;
  const uint32_t island = rec.cell_type_index("island");
  const uint32_t sea = rec.cell_type_index("at-sea");
  const uint32_t p = rec.profile_index("vsat");
  for (int i = 1; i <= 10; ++i) {
    rec.record_latency(Latency::kJoin, island, p, i * 100'000);
    rec.record_latency(Latency::kJoin, sea, p, i * 2'000'000);
  }
  rec.quorum(island).meetings = 10;
  rec.quorum(island).meetings_quorate_by_deadline = 9;
  rec.quorum(sea).meetings = 10;
  rec.quorum(sea).meetings_quorate_by_deadline = 5;
  rec.cell_type_index("empty-type");  // registered, never used
  v1::RunInfo run;
  run.set_scenario("slo");
  return rec.to_results(run);
}

v1::Slo latency(const std::string& metric, double q, double max_ms, const std::string& cell_type) {
  v1::Slo s;
  s.set_metric(metric);
  s.set_quantile(q);
  s.set_max_ms(max_ms);
  s.set_cell_type(cell_type);
  return s;
}

v1::QuorumSlo quorum(double min_attainment, const std::string& cell_type) {
  v1::QuorumSlo s;
  s.set_min_attainment(min_attainment);
  s.set_cell_type(cell_type);
  return s;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A latency SLO over all cells passes or fails on the quantile, in ms, with a readable description.
TEST(SloTest, OverallLatencyPassAndFail) {
  v1::Scenario s;
  *s.add_slos() = latency("join_latency", 0.5, 1000.5, "");  // p50: rank 10 of 20 = 1000 ms
  *s.add_slos() = latency("join_latency", 0.99, 5000, "");   // p99 = 20000 ms
  v1::Results r = results();
  evaluate_slos(s, &r);
  ASSERT_EQ(r.slos_size(), 2);
  EXPECT_TRUE(r.slos(0).met()) << r.slos(0).description();
  EXPECT_DOUBLE_EQ(r.slos(0).observed(), 1000.447);  // highest equivalent value of 1,000,000 us
  EXPECT_EQ(r.slos(0).description(), "join_latency p50 <= 1000.5 ms (all cells)");
  EXPECT_FALSE(r.slos(1).met());
  EXPECT_GE(r.slos(1).observed(), 20000.0);
  EXPECT_LE(r.slos(1).observed(), 20000.0 * 1.001);
  EXPECT_EQ(r.slos(1).limit(), 5000.0);
  EXPECT_EQ(r.slos(1).description(), "join_latency p99 <= 5000 ms (all cells)");
  EXPECT_FALSE(all_met(r));
}

// The quantile errs high by at most one bucket (never low), and never past the exact max.
TEST(SloTest, BucketRoundingAndMaxClamp) {
  v1::Scenario s;
  *s.add_slos() = latency("join_latency", 0.5, 1000, "");   // 1000 ms reads as 1000.447 ms
  *s.add_slos() = latency("join_latency", 1.0, 20000, "");  // the max is exact: 20000 ms
  v1::Results r = results();
  evaluate_slos(s, &r);
  EXPECT_FALSE(r.slos(0).met());
  EXPECT_DOUBLE_EQ(r.slos(0).observed(), 1000.447);
  EXPECT_TRUE(r.slos(1).met()) << r.slos(1).observed();
  EXPECT_DOUBLE_EQ(r.slos(1).observed(), 20000.0);
}

// A cell-type SLO looks only at that cell type's group.
TEST(SloTest, CellTypeLatency) {
  v1::Scenario s;
  *s.add_slos() = latency("join_latency", 0.99, 1100, "island");
  *s.add_slos() = latency("join_latency", 0.99, 1100, "at-sea");
  v1::Results r = results();
  evaluate_slos(s, &r);
  ASSERT_EQ(r.slos_size(), 2);
  EXPECT_TRUE(r.slos(0).met()) << r.slos(0).description();
  EXPECT_EQ(r.slos(0).description(), "join_latency p99 <= 1100 ms (cell type island)");
  EXPECT_FALSE(r.slos(1).met());
  EXPECT_NEAR(r.slos(1).observed(), 20000.0, 20.0);
}

// Quorum SLOs compare meetings_quorate_by_deadline / meetings with min_attainment.
TEST(SloTest, QuorumAttainment) {
  v1::Scenario s;
  *s.add_quorum_slos() = quorum(0.9, "island");
  *s.add_quorum_slos() = quorum(0.9, "at-sea");
  *s.add_quorum_slos() = quorum(0.7, "");
  v1::Results r = results();
  evaluate_slos(s, &r);
  ASSERT_EQ(r.slos_size(), 3);
  EXPECT_TRUE(r.slos(0).met());  // 0.9 >= 0.9
  EXPECT_DOUBLE_EQ(r.slos(0).observed(), 0.9);
  EXPECT_EQ(r.slos(0).description(), "quorum attainment >= 90% (cell type island)");
  EXPECT_TRUE(is_quorum_slo(r.slos(0)));
  EXPECT_FALSE(r.slos(1).met());
  EXPECT_DOUBLE_EQ(r.slos(1).observed(), 0.5);
  EXPECT_TRUE(r.slos(2).met());  // 14 / 20
  EXPECT_DOUBLE_EQ(r.slos(2).observed(), 0.7);
  EXPECT_FALSE(all_met(r));
}

// Uncheckable SLOs fail and say why: no samples/meetings, unknown metric/cell type, bad quantile.
TEST(SloTest, UncheckableSlosFailClearly) {
  v1::Scenario s;
  *s.add_slos() = latency("ballot_latency", 0.99, 1000, "");
  *s.add_slos() = latency("join_latency", 0.99, 1000, "empty-type");
  *s.add_slos() = latency("join_latncy", 0.99, 1000, "");
  *s.add_slos() = latency("join_latency", 0.99, 1000, "nowhere");
  *s.add_slos() = latency("join_latency", 99, 1000, "");
  *s.add_quorum_slos() = quorum(0.5, "empty-type");
  *s.add_quorum_slos() = quorum(0.5, "nowhere");
  v1::Results r = results();
  evaluate_slos(s, &r);
  const char* says[] = {"no samples",    "no samples",  "no such latency metric", "no such group",
                        "not in [0, 1]", "no meetings", "no such group"};
  ASSERT_EQ(r.slos_size(), 7);
  for (int i = 0; i < r.slos_size(); ++i) {
    EXPECT_FALSE(r.slos(i).met()) << r.slos(i).description();
    EXPECT_TRUE(contains(r.slos(i).description(), says[i])) << r.slos(i).description();
  }
}

// evaluate_slos replaces earlier SLO results; no SLOs means all met.
TEST(SloTest, ReplacesAndAllMetWhenNone) {
  v1::Results r = results();
  EXPECT_TRUE(all_met(r));
  v1::Scenario s;
  *s.add_slos() = latency("join_latency", 0.5, 100'000, "");
  evaluate_slos(s, &r);
  evaluate_slos(s, &r);
  ASSERT_EQ(r.slos_size(), 1);
  EXPECT_TRUE(all_met(r));
  evaluate_slos(v1::Scenario(), &r);
  EXPECT_EQ(r.slos_size(), 0);
}

}  // namespace
}  // namespace cellsim::metrics
