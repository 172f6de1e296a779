// The terminal summary: every section present, tally mismatches flagged,
// SLO verdicts shown, lines within 100 columns, output deterministic.
#include "metrics/summary.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "metrics/recorder.h"
#include "metrics/slo.h"
#include "synthetic_run.h"

namespace cellsim::metrics {
namespace {

v1::Results sample(bool mismatch) {
  Recorder rec;
  testing::record_cells({.seed = 3}, {0, 1, 2, 3}, &rec);
  if (mismatch) rec.quorum(rec.cell_type_index("island")).ballots_counted -= 1;
  v1::Results r = rec.to_results(testing::run_info({.seed = 3}, 0, 0));
  v1::Scenario s;
  v1::Slo* slo = s.add_slos();
  slo->set_metric("join_latency");
  slo->set_quantile(0.99);
  slo->set_max_ms(60'000);
  slo = s.add_slos();
  slo->set_metric("heartbeat_rtt");
  slo->set_quantile(0.99);
  slo->set_max_ms(10);
  slo->set_cell_type("island");
  s.add_quorum_slos()->set_min_attainment(0.5);
  evaluate_slos(s, &r);
  return r;
}

std::string summary(const v1::Results& r) {
  std::ostringstream out;
  print_summary(r, out);
  return out.str();
}

// All sections appear, with PASS and FAIL verdicts, and no line passes 100 columns.
TEST(SummaryTest, SectionsVerdictsAndWidth) {
  const std::string text = summary(sample(false));
  for (const char* part :
       {"cellsim results: scenario synthetic", "== overall", "== cell type island",
        "== profile vsat", "join_latency", "time_to_quorum", "attainment", "held", "validity",
        "tally     ok", "disconnects", "== servers", "util %", "== SLOs: 2 of 3 met", "PASS",
        "FAIL  heartbeat_rtt p99 <= 10 ms (cell type island)"}) {
    EXPECT_NE(text.find(part), std::string::npos) << "missing: " << part << "\n" << text;
  }
  EXPECT_EQ(text.find("MISMATCH"), std::string::npos);
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), static_cast<size_t>(kSummaryColumns)) << line;
  }
  EXPECT_EQ(text, summary(sample(false)));  // deterministic
  if (HasFailure() || std::getenv("CELLSIM_SHOW_SUMMARY") != nullptr) std::cout << text;
}

// A tally mismatch is flagged loudly in the overall and the cell type's group.
TEST(SummaryTest, TallyMismatchFlagged) {
  const std::string text = summary(sample(true));
  size_t count = 0;
  for (size_t at = text.find("!!! TALLY MISMATCH"); at != std::string::npos;
       at = text.find("!!! TALLY MISMATCH", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 2u) << text;
}

// Empty results print without crashing, with dashes for shares of nothing.
TEST(SummaryTest, EmptyResults) {
  Recorder rec;
  const std::string text = summary(rec.to_results(v1::RunInfo()));
  EXPECT_NE(text.find("== overall: 0 members, 0 cells"), std::string::npos) << text;
  EXPECT_NE(text.find("attainment - (0/0"), std::string::npos) << text;
}

}  // namespace
}  // namespace cellsim::metrics
