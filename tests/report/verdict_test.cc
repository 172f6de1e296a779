// The verdict rules (report/verdict.h) on hand-made results: one cell type
// clearly feasible, one failing quorum, one failing a latency SLO, intervals
// that straddle their targets (not yet decided), seeds pooled rather than
// the worst one taken, all-cells objectives that never decide. Each test
// prints the reasons.
#include "report/verdict.h"

#include <gtest/gtest.h>

#include <iostream>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
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

// Shows: 20 of 20 meetings quorate against a 90% target is not yet decided
// (Wilson's interval reaches down to 84%), with one more seed of the same
// size likely to decide it (40 of 40: down to 91.2%); complete minutes in 20
// of 20 against 95% need three (80 of 80: down to 95.4%; 60: 94.0%); the type
// needs the larger.
TEST(VerdictTest, FewMeetingsAreNotYetDecided) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() != "thin-quorum") continue;
    g.mutable_quorum()->set_meetings_quorate_by_deadline(20);
  }
  CellTypeVerdict v = find(judge(r), "thin-quorum");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kNotYetDecided);
  const Finding* q = finding(v, Check::kQuorum);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->outcome, Outcome::kUndecided);
  EXPECT_NEAR(q->lo, 0.839, 1e-3);
  EXPECT_EQ(q->more_seeds, 1u);
  EXPECT_EQ(finding(v, Check::kMinutes)->more_seeds, 3u);
  EXPECT_EQ(v.more_seeds, 3u);
  ASSERT_GE(v.decisive, 0);
  EXPECT_EQ(v.findings[static_cast<size_t>(v.decisive)].check, Check::kMinutes);
  EXPECT_NE(condition_text(Lang::kEn, *q).find("about 1 further run"), std::string::npos);
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() != "thin-quorum") continue;
    g.mutable_quorum()->set_meetings(80);
    g.mutable_quorum()->set_meetings_quorate_by_deadline(80);
    g.mutable_quorum()->set_meetings_closed(80);
    g.mutable_quorum()->set_minutes_complete(80);
    g.mutable_quorum()->set_votes_held(100);
    g.mutable_quorum()->set_votes_valid(100);
  }
  v = find(judge(r), "thin-quorum");
  EXPECT_EQ(v.verdict, Verdict::kFeasible);
}

// Shows: a join p99 whose cells disagree (a few slow joins in some batches
// only) gives an interval that straddles the 2 s SLO: not yet decided; the
// same figures in every batch alike decide it.
TEST(VerdictTest, StraddlingLatencyIsNotYetDecided) {
  v1::Results r = testing::three_types();
  std::vector<std::vector<std::pair<int64_t, uint64_t>>> batches;
  for (uint64_t b = 0; b < 10; ++b) {
    const uint64_t slow = b < 5 ? 0 : b - 4;  // 0,0,0,0,0,1,2,3,4,5: 15 of 1,000
    batches.push_back({{1'500'000, 100 - slow}, {2'600'000, slow}});
  }
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "slow-link") testing::set_batched_latency(&g, "join_latency", batches);
  }
  const CellTypeVerdict v = find(judge(r), "slow-link");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kNotYetDecided);
  const Finding* f = finding(v, Check::kLatencySlo);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kUndecided);
  EXPECT_TRUE(f->has_interval);
  EXPECT_EQ(f->count, 10u);  // batches resampled
  EXPECT_LE(f->lo, 2000);
  EXPECT_GT(f->hi, 2000);
  EXPECT_NEAR(f->observed, 2600, 2600 * 1e-3);  // 15 slow of 1,000: p99 is slow
}

// Shows: an objective for all cells is reported on each type's own samples
// but never decides a verdict, even when decidedly missed.
TEST(VerdictTest, AllCellsObjectiveNeverDecides) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() != "steady") continue;
    for (auto& m : *g.mutable_latencies()) {
      if (m.name() == "time_to_quorum") m.Clear();
    }
    g.clear_batches();
    g.clear_latencies();
    testing::add_latency(&g, "join_latency", 500'000, 100);
    testing::add_latency(&g, "time_to_quorum", 30LL * 60'000'000, 80);  // 30 min, limit 10
  }
  const CellTypeVerdict v = find(judge(r), "steady");
  print(v);
  EXPECT_EQ(v.verdict, Verdict::kFeasible);
  const Finding* f = finding(v, Check::kLatencySloAllCells);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kFail);
  EXPECT_FALSE(f->decides);
}

// Shows the remaining rules on hand-made figures: a type without meetings is
// not feasible; valid votes decidedly under their target (200 of 240: the
// interval tops out at 87%) are not feasible; a latency objective without
// samples is undecided (no figure); no votes held passes vacuously.
TEST(VerdictTest, EveryOtherRuleOnHandMadeFigures) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "thin-quorum") g.mutable_quorum()->Clear();  // no meetings at all
    if (g.name() == "steady") g.mutable_quorum()->set_votes_valid(200);
    if (g.name() == "slow-link") {
      g.clear_batches();
      for (auto& m : *g.mutable_latencies()) {
        if (m.name() == "join_latency") metrics::Histogram().to_proto(m.mutable_histogram());
      }
      g.mutable_quorum()->set_votes_held(0);
      g.mutable_quorum()->set_votes_valid(0);
    }
  }
  const std::vector<CellTypeVerdict> vs = judge(r);
  EXPECT_EQ(find(vs, "thin-quorum").verdict, Verdict::kNotFeasible);
  EXPECT_EQ(finding(find(vs, "thin-quorum"), Check::kMeetings)->outcome, Outcome::kFail);
  const Finding* votes = finding(find(vs, "steady"), Check::kValidVotes);
  ASSERT_NE(votes, nullptr);
  EXPECT_EQ(votes->outcome, Outcome::kFail);
  EXPECT_LT(votes->hi, kValidVoteTarget);
  EXPECT_EQ(find(vs, "steady").verdict, Verdict::kNotFeasible);
  const CellTypeVerdict& slow = find(vs, "slow-link");
  print(slow);
  const Finding* join = finding(slow, Check::kLatencySlo);
  ASSERT_NE(join, nullptr);
  EXPECT_EQ(join->outcome, Outcome::kUndecided);
  EXPECT_TRUE(join->missing);
  EXPECT_EQ(finding(slow, Check::kValidVotes)->outcome, Outcome::kPass);  // none held
  EXPECT_EQ(slow.verdict, Verdict::kNotYetDecided);
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

// Shows: seeds are pooled, not judged one by one: two seeds of 20 meetings
// all quorate meet the quorum target together (40 of 40: down to 91%)
// though each alone is undecided, and a
// seed with thin quorum pools with a good one into one verdict (30 of 40:
// not feasible), not "the worst seed's".
TEST(VerdictTest, SeedsArePooledNotTheWorstTaken) {
  v1::Results a = testing::three_types();
  for (v1::Group& g : *a.mutable_groups()) {
    if (g.name() != "thin-quorum") continue;
    g.mutable_quorum()->set_meetings_quorate_by_deadline(20);
  }
  v1::Results b = a;
  b.mutable_run()->set_seed(8);
  std::vector<CellTypeVerdict> vs;
  std::string why;
  ASSERT_TRUE(judge_seeds({&a, &b}, {}, &vs, &why)) << why;
  const CellTypeVerdict& both = find(vs, "thin-quorum");
  print(both);
  EXPECT_EQ(both.seeds, 2u);
  EXPECT_EQ(both.meetings, 40u);
  EXPECT_EQ(finding(find(judge(a), "thin-quorum"), Check::kQuorum)->outcome, Outcome::kUndecided);
  EXPECT_EQ(finding(both, Check::kQuorum)->outcome, Outcome::kPass);
  v1::Results c = testing::three_types();  // thin: 10 of 20
  ASSERT_TRUE(judge_seeds({&a, &c}, {}, &vs, &why)) << why;
  const Finding* q = finding(find(vs, "thin-quorum"), Check::kQuorum);
  ASSERT_NE(q, nullptr);
  EXPECT_DOUBLE_EQ(q->observed, 0.75);
  EXPECT_EQ(find(vs, "thin-quorum").verdict, Verdict::kNotFeasible);
}

// Shows: the decisive finding of a failing type is the check that misses by
// most, relative to its target.
TEST(VerdictTest, DecisiveFindingMissesByMost) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "slow-link") g.mutable_quorum()->set_meetings_quorate_by_deadline(70);
  }
  const CellTypeVerdict v = find(judge(r), "slow-link");  // quorum 87.5%, join 4.5x over
  print(v);
  ASSERT_GE(v.decisive, 0);
  EXPECT_EQ(v.findings[static_cast<size_t>(v.decisive)].check, Check::kLatencySlo);
}

// Shows: quorum attainment is the engine's state; the chair's view (fewer
// meetings: it hears quorum later) is reported beside it, and not at all for
// results written before it was recorded.
TEST(VerdictTest, ChairsViewIsBesideTheEnginesState) {
  v1::Results r = testing::three_types();
  for (v1::Group& g : *r.mutable_groups()) {
    if (g.name() == "steady") g.mutable_quorum()->set_meetings_quorate_by_deadline_chair(76);
  }
  const std::vector<CellTypeVerdict> vs = judge(r);
  const Finding* q = finding(find(vs, "steady"), Check::kQuorum);
  ASSERT_NE(q, nullptr);
  EXPECT_DOUBLE_EQ(q->observed, 1.0);
  EXPECT_DOUBLE_EQ(q->chair_view, 0.95);
  EXPECT_NE(finding_text(Lang::kEn, *q).find("the chair heard quorum by the deadline in 95.0%"),
            std::string::npos)
      << finding_text(Lang::kEn, *q);
  const Finding* old = finding(find(vs, "slow-link"), Check::kQuorum);
  ASSERT_NE(old, nullptr);
  EXPECT_LT(old->chair_view, 0);
  EXPECT_EQ(finding_text(Lang::kEn, *old).find("the chair heard"), std::string::npos);
}

// Voice figures for a cell type's group: `batches` cell batches of 60 s
// of speech each, `heard_ms` of each at the MOS threshold (3.6), target
// share 0.9; a MOS histogram of one value per interval.
void add_voice(v1::Group* g, uint32_t batches, uint64_t heard_ms, int64_t mos_milli,
               uint64_t mouth_to_ear_us = 250'000) {
  v1::VoiceStats* v = g->mutable_voice();
  v->set_mos_threshold_milli(3600);
  v->set_target_share_milli(900);
  metrics::Histogram h(metrics::mos_layout());
  for (uint32_t b = 0; b < batches; ++b) {
    v1::VoiceBatch* vb = v->add_batches();
    vb->set_seed(7);
    vb->set_index(b);
    vb->set_speech_ms(60'000);
    vb->set_speech_ms_at_threshold(heard_ms);
    v->set_intervals(v->intervals() + 1);
    v->set_frames_sent(v->frames_sent() + 3000);
    v->set_frames_played(v->frames_played() + 2900);
    v->set_speech_ms(v->speech_ms() + 60'000);
    v->set_speech_ms_at_threshold(v->speech_ms_at_threshold() + heard_ms);
    v->set_mouth_to_ear_us_frames(v->mouth_to_ear_us_frames() + 3000ull * mouth_to_ear_us);
    h.record(mos_milli, 3000);
  }
  h.to_proto(v->mutable_mos_milli());
}

v1::Group* cell_type_group(v1::Results* r, const std::string& name) {
  for (v1::Group& g : *r->mutable_groups()) {
    if (g.kind() == metrics::kGroupCellType && g.name() == name) return &g;
  }
  ADD_FAILURE() << "no group " << name;
  return nullptr;
}

// Shows: the voice check passes when the share of speech heard at the
// threshold clears the target over the batches' interval, fails (and is
// decisive) when it is far below, is not yet decided on too few batches,
// and carries the MOS p10 and mouth-to-ear delay for the report.
TEST(VerdictTest, VoiceQualityCheck) {
  v1::Results r = testing::three_types();
  add_voice(cell_type_group(&r, "steady"), 10, 59'000, 4000);  // 98% heard
  const auto good = find(judge(r), "steady");
  print(good);
  EXPECT_EQ(good.verdict, Verdict::kFeasible);
  const Finding* f = finding(good, Check::kVoice);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kPass);
  EXPECT_NEAR(f->observed, 59.0 / 60, 1e-9);
  EXPECT_DOUBLE_EQ(f->limit, 0.9);
  EXPECT_NEAR(f->mos_p10, 4.0, 0.01);
  EXPECT_NEAR(f->mouth_to_ear_ms, 250, 1e-6);

  v1::Results bad = testing::three_types();
  add_voice(cell_type_group(&bad, "steady"), 10, 6'000, 2500);  // 10% heard
  const auto poor = find(judge(bad), "steady");
  print(poor);
  EXPECT_EQ(poor.verdict, Verdict::kNotFeasible);
  f = finding(poor, Check::kVoice);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kFail);
  EXPECT_EQ(poor.decisive, static_cast<int>(f - poor.findings.data()))
      << "the only failing check decides";
  EXPECT_FALSE(finding_text(Lang::kEn, *f).empty());
  EXPECT_NE(finding_text(Lang::kVi, *f), finding_text(Lang::kEn, *f));
  // At 250 ms a perfect codec on a lossless link would clear 3.6 (G.107's
  // defaults otherwise: MOS 3.99): loss or the codec is to blame, not the delay.
  EXPECT_NEAR(f->mos_delay_ceiling, 3.99, 0.01);
  EXPECT_EQ(condition_text(Lang::kEn, *f).find("delay alone"), std::string::npos);

  // At 700 ms mouth-to-ear (a GEO hop each way and a buffer) the delay alone
  // rates below 3.6, and the condition says only a shorter path helps.
  v1::Results geo = testing::three_types();
  add_voice(cell_type_group(&geo, "steady"), 10, 0, 2000, 700'000);
  const auto far = find(judge(geo), "steady");
  print(far);
  f = finding(far, Check::kVoice);
  ASSERT_NE(f, nullptr);
  EXPECT_NEAR(f->mos_delay_ceiling, 2.35, 0.01);
  // In band (the fixture's transport) the delay includes TCP's repairs:
  // datagrams are the remedy named.
  EXPECT_TRUE(f->voice_in_band);
  EXPECT_NE(condition_text(Lang::kEn, *f).find("voice as datagrams removes"), std::string::npos)
      << condition_text(Lang::kEn, *f);
  // As datagrams the delay is the path's: only a shorter path helps.
  geo.mutable_run()->set_media_transport(metrics::kTransportDatagram);
  const CellTypeVerdict as_datagrams = find(judge(geo), "steady");
  f = finding(as_datagrams, Check::kVoice);
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->voice_in_band);
  EXPECT_NE(condition_text(Lang::kEn, *f).find("the delay alone"), std::string::npos)
      << condition_text(Lang::kEn, *f);
  EXPECT_NE(condition_text(Lang::kVi, *f).find("riêng độ trễ"), std::string::npos);

  v1::Results few = testing::three_types();
  add_voice(cell_type_group(&few, "steady"), 2, 59'000, 4000);
  const CellTypeVerdict undecided = find(judge(few), "steady");
  f = finding(undecided, Check::kVoice);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->outcome, Outcome::kUndecided) << "two batches are too few to decide";
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
