// The verdict rules (report/verdict.h) on hand-made results: one cell type
// clearly feasible, one failing quorum, one failing a latency SLO, plus the
// edges between "condition" and "fail". Each test prints the reasons.
#include "report/verdict.h"

#include <gtest/gtest.h>

#include <iostream>

#include "report/report.h"
#include "tests/report/fixtures.h"

namespace cellsim::report {
namespace {

const CellTypeVerdict& find(const std::vector<CellTypeVerdict>& vs, const std::string& name) {
  for (const auto& v : vs) {
    if (v.cell_type == name) return v;
  }
  ADD_FAILURE() << "no verdict for " << name;
  static CellTypeVerdict none;
  return none;
}

void print(const CellTypeVerdict& v) {
  std::cout << v.cell_type << ": " << verdict_name(v.verdict) << "\n";
  for (const Finding& f : v.findings) {
    std::cout << "  [" << outcome_name(f.outcome) << "] " << finding_text(Lang::kEn, f) << "\n";
    const std::string c = condition_text(Lang::kEn, f);
    if (!c.empty()) std::cout << "    would change it: " << c << "\n";
  }
}

const Finding* finding(const CellTypeVerdict& v, Check c) {
  for (const Finding& f : v.findings) {
    if (f.check == c) return &f;
  }
  return nullptr;
}

// Shows: a type that meets its quorum, vote, minutes and latency targets is feasible.
TEST(VerdictTest, SteadyTypeIsFeasible) {
  const auto vs = judge(testing::three_types());
  const CellTypeVerdict& v = find(vs, "steady");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kFeasible);
  for (const Finding& f : v.findings) EXPECT_EQ(f.outcome, Outcome::kPass) << check_name(f.check);
}

// Shows: 50% quorum attainment against a 90% target (more than the margin
// below) is not feasible, and the condition counts the meetings missing.
TEST(VerdictTest, ThinQuorumIsNotFeasible) {
  const auto vs = judge(testing::three_types());
  const CellTypeVerdict& v = find(vs, "thin-quorum");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kNotFeasible);
  const Finding* q = finding(v, Check::kQuorum);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->outcome, Outcome::kFail);
  EXPECT_DOUBLE_EQ(q->observed, 0.5);
  EXPECT_DOUBLE_EQ(q->limit, 0.9);
  EXPECT_EQ(q->shortfall, 8u);  // 18 of 20 needed, 10 quorate
  EXPECT_NE(condition_text(Lang::kEn, *q).find("8 more meetings"), std::string::npos);
}

// Shows: a join p99 of 9 s against the type's own 2 s SLO (over 1.5×) is not
// feasible, and with the links known the condition names the slowest profile.
TEST(VerdictTest, SlowLinkFailsLatencySlo) {
  CellTypeLinks links = {{"slow-link", {"fibre", "vsat"}}};
  const auto vs = judge(testing::three_types(), links);
  const CellTypeVerdict& v = find(vs, "slow-link");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kNotFeasible);
  const Finding* f = finding(v, Check::kLatencySlo);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kFail);
  EXPECT_EQ(f->metric, "join_latency");
  EXPECT_NEAR(f->observed, 9000, 9000 * 1e-3);
  EXPECT_EQ(f->worst_profile, "vsat");
  EXPECT_NE(condition_text(Lang::kEn, *f).find("than vsat"), std::string::npos);
}

// Shows: a miss within the margins is a condition, not a failure: quorum
// 85% against 90%, and a latency 1.2× its limit.
TEST(VerdictTest, SmallMissesAreConditions) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "thin-quorum") g.mutable_quorum()->set_meetings_quorate_by_deadline(17);
  }
  metrics::Histogram h;
  h.record(2'400'000, 100);  // 2.4 s = 1.2 × 2 s
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() != "slow-link") continue;
    for (auto& m : *g.mutable_latencies()) {
      if (m.name() == "join_latency") h.to_proto(m.mutable_histogram());
    }
  }
  const auto vs = judge(r);
  print(find(vs, "thin-quorum"));
  print(find(vs, "slow-link"));
  EXPECT_EQ(find(vs, "thin-quorum").verdict, Verdict::kFeasibleWithConditions);
  EXPECT_EQ(find(vs, "slow-link").verdict, Verdict::kFeasibleWithConditions);
}

// Shows: ballots acknowledged but not counted make any type not feasible.
TEST(VerdictTest, TallyMismatchIsNotFeasible) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "steady") g.mutable_quorum()->set_ballots_counted(399);
  }
  const auto vs = judge(r);
  print(find(vs, "steady"));
  EXPECT_EQ(find(vs, "steady").verdict, Verdict::kNotFeasible);
}

// Shows: over several seeds a cell type's verdict is its worst seed's, the
// deciding seed is the first with that verdict, and every seed is kept.
TEST(VerdictTest, SeveralSeedsTakeTheWorst) {
  v1::Results a = testing::three_types();
  v1::Results b = testing::three_types();
  for (v1::Group& g : *b.mutable_groups()) {
    if (g.name() == "steady") g.mutable_quorum()->set_ballots_counted(399);  // seed 8: tally broken
    if (g.name() == "thin-quorum") g.mutable_quorum()->set_meetings_quorate_by_deadline(20);
  }
  const auto combined = combine_seeds({{7, judge(a)}, {8, judge(b)}});
  ASSERT_EQ(combined.size(), 3u);
  for (const CombinedVerdict& c : combined) {
    ASSERT_EQ(c.per_seed.size(), 2u);
    EXPECT_EQ(c.per_seed[0].first, 7u);
    EXPECT_EQ(c.per_seed[1].first, 8u);
    std::cout << c.decisive.cell_type << ": " << verdict_name(c.decisive.verdict) << " (seed "
              << c.decisive_seed << ")\n";
    if (c.decisive.cell_type == "steady") {  // feasible in 7, not in 8
      EXPECT_EQ(c.per_seed[0].second.verdict, Verdict::kFeasible);
      EXPECT_EQ(c.decisive.verdict, Verdict::kNotFeasible);
      EXPECT_EQ(c.decisive_seed, 8u);
    }
    if (c.decisive.cell_type == "thin-quorum") {  // not feasible in 7, feasible in 8
      EXPECT_EQ(c.decisive.verdict, Verdict::kNotFeasible);
      EXPECT_EQ(c.decisive_seed, 7u);
    }
    if (c.decisive.cell_type == "slow-link") {  // not feasible in both: the first decides
      EXPECT_EQ(c.decisive.verdict, Verdict::kNotFeasible);
      EXPECT_EQ(c.decisive_seed, 7u);
    }
  }
}

// Shows: SLO descriptions as metrics/slo.cc writes them parse back.
TEST(VerdictTest, ParsesSloDescriptions) {
  ParsedSlo p;
  ASSERT_TRUE(parse_slo("join_latency p99.9 <= 2000 ms (all cells)", &p));
  EXPECT_FALSE(p.quorum);
  EXPECT_EQ(p.metric, "join_latency");
  EXPECT_DOUBLE_EQ(p.quantile, 0.999);
  EXPECT_DOUBLE_EQ(p.limit, 2000);
  EXPECT_TRUE(p.cell_type.empty());
  ASSERT_TRUE(parse_slo("quorum attainment >= 95% (cell type island post): no meetings", &p));
  EXPECT_TRUE(p.quorum);
  EXPECT_DOUBLE_EQ(p.limit, 0.95);
  EXPECT_EQ(p.cell_type, "island post");
  EXPECT_EQ(p.problem, "no meetings");
  EXPECT_FALSE(parse_slo("something else", &p));
}

}  // namespace
}  // namespace cellsim::report
