// RULES.md, exercised through the engine: the standing table, the vote table,
// the worked example, quorum loss and regain, excuses, exempted members,
// ballots (probationary, resent, conflicting), vote validity, reconnects,
// liveness, settings, and the minutes.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/engine/meeting_fixture.h"

namespace cellsim::engine::testing {
namespace {

using v1::CHOICE_ABSTAIN;
using v1::CHOICE_NO;
using v1::CHOICE_YES;

// ---------------------------------------------------------------------------
// The standing table (RULES.md, "Members and their standing"): one case per row.

struct StandingRow {
  const char* name;
  v1::Standing standing;
  bool attends;                // JoinMeeting is accepted
  v1::ErrorCode ballot_error;  // unspecified: the ballot is accepted
  bool in_d_when_absent;       // counted in D while not present
  bool in_d_when_present;      // counted in D while present
};

// The standing table, row by row. A member who may not attend never joins,
// so their ballot is refused before eligibility is even asked (NOT_JOINED).
const StandingRow kStandingRows[] = {
    {"official", v1::STANDING_OFFICIAL, true, v1::ERROR_CODE_UNSPECIFIED, true, true},
    {"probationary", v1::STANDING_PROBATIONARY, true, v1::ERROR_NOT_ELIGIBLE_TO_VOTE, false,
     false},
    {"exempted", v1::STANDING_EXEMPTED, true, v1::ERROR_CODE_UNSPECIFIED, false, true},
    {"suspended", v1::STANDING_SUSPENDED, false, v1::ERROR_NOT_JOINED, false, false},
    {"attached_elsewhere", v1::STANDING_ATTACHED_ELSEWHERE, false, v1::ERROR_NOT_JOINED, false,
     false},
};

class StandingTable : public ::testing::TestWithParam<StandingRow> {};

// A member of each standing attends, votes and counts in D exactly as the row says.
TEST_P(StandingTable, AttendsVotesCountsInD) {
  const StandingRow& row = GetParam();
  Meet m({v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL, row.standing});
  constexpr uint64_t kX = 4;
  const uint32_t d_absent = 3 + (row.in_d_when_absent ? 1 : 0);
  const uint32_t d_present = 3 + (row.in_d_when_present ? 1 : 0);

  m.join(kChair);
  m.join(2);
  m.open();
  EXPECT_EQ(m.q().denominator(), d_absent);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));

  // Any standing authenticates; attending is a meeting rule.
  m.login(kX);
  const size_t since = m.h.mark();
  const v1::Envelope join = m.h.request(m.conn(kX), msg::join());
  if (row.attends) {
    ASSERT_TRUE(join.has_meeting_state()) << join.DebugString();
    EXPECT_EQ(join.meeting_state().quorum().denominator(), d_present);
    EXPECT_TRUE(m.h.meeting(kCell)->is_present(kX));
    EXPECT_EQ(m.q().denominator(), d_present);
    EXPECT_EQ(m.q().present_in_d(), 2u + (row.in_d_when_present ? 1 : 0));
    if (d_present != d_absent) {
      const auto pushed = m.pushed_q(kChair, since);
      ASSERT_TRUE(pushed.has_value()) << "D moved without a QuorumChanged";
      EXPECT_EQ(pushed->denominator(), d_present);
    }
  } else {
    ASSERT_TRUE(join.has_error());
    EXPECT_EQ(join.error().code(), v1::ERROR_NOT_ALLOWED_TO_ATTEND);
    EXPECT_TRUE(m.h.is_open(m.conn(kX))) << "a rule refusal keeps the session";
    EXPECT_FALSE(m.h.meeting(kCell)->is_present(kX));
    EXPECT_EQ(m.q().denominator(), d_absent);
    EXPECT_FALSE(m.pushed_q(kChair, since).has_value()) << "nothing changed";
  }

  v1::Error err;
  const auto ack = m.cast(kX, 1, CHOICE_YES, 77, &err);
  if (row.ballot_error == v1::ERROR_CODE_UNSPECIFIED) {
    ASSERT_TRUE(ack.has_value()) << err.DebugString();
    EXPECT_FALSE(ack->duplicate());
  } else {
    ASSERT_FALSE(ack.has_value());
    EXPECT_EQ(err.code(), row.ballot_error) << err.reason();
  }
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.tally().yes(), row.ballot_error == v1::ERROR_CODE_UNSPECIFIED ? 1u : 0u);

  // Leaving: D is back to what it is without this member present.
  if (row.attends) {
    const size_t before_drop = m.h.mark();
    m.drop(kX);
    EXPECT_EQ(m.q().denominator(), d_absent);
    if (d_present != d_absent) {
      const auto pushed = m.pushed_q(kChair, before_drop);
      ASSERT_TRUE(pushed.has_value());
      EXPECT_EQ(pushed->denominator(), d_absent);
    }
  }
  std::string why;
  EXPECT_TRUE(m.h.meeting(kCell)->check_invariants(&why)) << why;
}

INSTANTIATE_TEST_SUITE_P(Rules, StandingTable, ::testing::ValuesIn(kStandingRows),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// The vote table (RULES.md, "Votes"): one case per row.

enum class Base { kD, kOfficial };

struct VoteRow {
  const char* name;
  v1::VoteKind kind;
  v1::VoteMethod method;
  Base base;
  uint32_t num, den;
  bool strict;  // yes > fraction × base; else yes >= fraction × base
};

const VoteRow kVoteRows[] = {
    {"resolution", v1::VOTE_KIND_RESOLUTION, v1::VOTE_METHOD_SHOW_OF_HANDS, Base::kD, 1, 2, true},
    {"election", v1::VOTE_KIND_ELECTION, v1::VOTE_METHOD_SECRET_BALLOT, Base::kD, 1, 2, true},
    {"admission", v1::VOTE_KIND_ADMISSION, v1::VOTE_METHOD_SHOW_OF_HANDS, Base::kOfficial, 2, 3,
     false},
    {"confirmation", v1::VOTE_KIND_CONFIRMATION, v1::VOTE_METHOD_SHOW_OF_HANDS, Base::kOfficial, 2,
     3, false},
    {"discipline", v1::VOTE_KIND_DISCIPLINE, v1::VOTE_METHOD_SECRET_BALLOT, Base::kOfficial, 1, 2,
     true},
    {"expulsion", v1::VOTE_KIND_EXPULSION, v1::VOTE_METHOD_SECRET_BALLOT, Base::kOfficial, 2, 3,
     false},
};

// The least yes count passing "yes > f × base" or "yes >= f × base", by
// counting rather than by formula: the smallest y for which the comparison
// holds in exact integer arithmetic (y × den vs num × base).
uint32_t least_passing_yes(const VoteRow& r, uint32_t base) {
  for (uint32_t y = 0;; ++y) {
    const uint64_t lhs = uint64_t{y} * r.den, rhs = uint64_t{r.num} * base;
    if (r.strict ? lhs > rhs : lhs >= rhs) return y;
  }
}

class VoteTable : public ::testing::TestWithParam<VoteRow> {};

// Each kind uses its method and base; one yes below the threshold fails, at it passes.
TEST_P(VoteTable, MethodBaseAndBoundary) {
  const VoteRow& row = GetParam();
  // 12 official members and one probationary; three officials are excused
  // and stay away, so D = 9 while the official member count is 12.
  std::vector<v1::Standing> s = officials(12);
  s.push_back(v1::STANDING_PROBATIONARY);
  Meet m(s);
  m.join(kChair);
  for (uint64_t x : {10, 11, 12}) m.ok(kChair, msg::excuse(x, "on shift at sea"));
  m.open();
  m.join_range(2, 9);
  m.join(13);
  ASSERT_EQ(m.q().denominator(), 9u);
  ASSERT_TRUE(m.q().quorate());
  const uint32_t base = row.base == Base::kD ? 9 : 12;
  const uint32_t need = least_passing_yes(row, base);
  // Literal values for this cell, from RULES.md by hand: > 4.5 → 5; >= 8; > 6 → 7.
  const uint32_t by_hand = row.base == Base::kD ? 5 : (row.strict ? 7 : 8);
  ASSERT_EQ(need, by_hand);
  const std::vector<uint64_t> voters = range(1, 9);
  ASSERT_LE(need, voters.size());

  for (uint32_t yes : {need - 1, need}) {
    SCOPED_TRACE("yes=" + std::to_string(yes));
    const uint64_t vote_id = yes + 100;
    const size_t since = m.h.mark();
    const v1::VoteClosed vc = m.vote(vote_id, row.kind, Meet::yes_then_no(voters, yes));
    const auto opened = m.h.last(m.conn(kChair), v1::Envelope::kVoteOpened, since);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(opened->vote_opened().kind(), row.kind);
    EXPECT_EQ(opened->vote_opened().method(), row.method);
    EXPECT_EQ(vc.tally().yes(), yes);
    EXPECT_EQ(vc.tally().no(), voters.size() - yes);
    EXPECT_EQ(vc.threshold_base(), base);
    EXPECT_EQ(vc.yes_required(), need);
    EXPECT_EQ(vc.passed(), yes >= need);
    EXPECT_TRUE(vc.valid());
    EXPECT_EQ(std::vector<uint64_t>(vc.voters().begin(), vc.voters().end()), voters);
    const v1::VoteRecord& rec = m.h.meeting(kCell)->vote_records().back();
    EXPECT_EQ(rec.method(), row.method);
    EXPECT_EQ(rec.passed(), yes >= need);
  }
}

// `secret` makes a show-of-hands kind a secret ballot; a ballot kind stays secret without it.
TEST_P(VoteTable, SecretFlag) {
  const VoteRow& row = GetParam();
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  for (bool secret : {false, true}) {
    const uint64_t vote_id = secret ? 2 : 1;
    const size_t since = m.h.mark();
    m.vote(vote_id, row.kind, {{2, CHOICE_YES}}, secret);
    const auto opened = m.h.last(m.conn(3), v1::Envelope::kVoteOpened, since);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(opened->vote_opened().method(), secret ? v1::VOTE_METHOD_SECRET_BALLOT : row.method);
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, VoteTable, ::testing::ValuesIn(kVoteRows),
                         [](const auto& info) { return std::string(info.param.name); });

// RULES.md's worked example: 11 official, 10 present: 5 yes of 10 fails, 6 passes.
TEST(Rules, WorkedExample) {
  Meet m(officials(11));
  m.open();
  m.join_range(2, 10);
  ASSERT_EQ(m.q().denominator(), 11u);
  ASSERT_EQ(m.q().present_in_d(), 10u);
  const std::vector<uint64_t> present = range(1, 10);
  const v1::VoteClosed five = m.vote(1, v1::VOTE_KIND_ELECTION, Meet::yes_then_no(present, 5));
  EXPECT_EQ(five.tally().yes(), 5u);
  EXPECT_FALSE(five.passed()) << "5 of 10 present is a majority of those present, not of D";
  EXPECT_EQ(five.threshold_base(), 11u);
  EXPECT_EQ(five.yes_required(), 6u);
  const v1::VoteClosed six = m.vote(2, v1::VOTE_KIND_ELECTION, Meet::yes_then_no(present, 6));
  EXPECT_TRUE(six.passed());
  EXPECT_TRUE(six.valid());
}

// The "official members" base counts the cell's official members, present or not,
// excused or not; exempted members count there too (the engine's reading of
// RULES.md: exempted members are official members relieved of activity), while
// D counts them only when present.
TEST(Rules, OfficialMemberBaseIncludesAbsentAndExempted) {
  std::vector<v1::Standing> s = officials(6);
  s.push_back(v1::STANDING_EXEMPTED);
  s.push_back(v1::STANDING_PROBATIONARY);
  Meet m(s);
  m.join(kChair);
  m.ok(kChair, msg::excuse(6, "ill"));
  m.open();
  m.join_range(2, 4);
  EXPECT_EQ(m.q().denominator(), 5u);
  const v1::VoteClosed vc = m.vote(1, v1::VOTE_KIND_EXPULSION, {{2, CHOICE_YES}});
  EXPECT_EQ(vc.threshold_base(), 7u);  // 6 official + 1 exempted; not the probationary
  EXPECT_EQ(vc.yes_required(), 5u);    // >= 2/3 × 7 = 4.67
  EXPECT_EQ(m.h.meeting(kCell)->official_members(), 7u);
}

// ---------------------------------------------------------------------------
// Quorum.

// Quorum is reached, lost as members drop, regained as they return; each change is pushed.
TEST(Rules, QuorumLostAndRegained) {
  Meet m(officials(6));  // D = 6, 2/3 → 4 required
  m.join_range(1, 3);
  EXPECT_FALSE(m.q().quorate());
  EXPECT_EQ(m.q().required(), 4u);
  EXPECT_EQ(m.h.meeting(kCell)->first_quorate_at_ms(), 0);
  m.h.advance_ms(1000);
  m.join(4);
  EXPECT_TRUE(m.q().quorate());
  EXPECT_EQ(m.h.meeting(kCell)->first_quorate_at_ms(), m.h.now_ms());
  const int64_t first_quorate = m.h.now_ms();

  m.h.advance_ms(1000);
  m.drop(4);
  EXPECT_FALSE(m.q().quorate());
  EXPECT_EQ(m.h.meeting(kCell)->quorum_losses(), 1u);
  m.join(4);
  EXPECT_TRUE(m.q().quorate());
  m.drop(3);
  m.drop(4);  // one loss, however many leave
  EXPECT_EQ(m.h.meeting(kCell)->quorum_losses(), 2u);
  m.join(3);
  m.join(5);
  EXPECT_TRUE(m.q().quorate());
  EXPECT_EQ(m.q().present_in_d(), 4u);
  EXPECT_EQ(m.h.meeting(kCell)->first_quorate_at_ms(), first_quorate);

  // The chair saw every change, in order, as QuorumChanged pushes.
  std::vector<std::pair<bool, uint32_t>> seen;
  for (const auto& e : m.h.envelopes(m.conn(kChair), 0, v1::Envelope::kQuorumChanged)) {
    seen.emplace_back(e.quorum_changed().quorum().quorate(),
                      e.quorum_changed().quorum().present_in_d());
  }
  const std::vector<std::pair<bool, uint32_t>> want = {
      {false, 1}, {false, 2}, {false, 3}, {true, 4}, {false, 3}, {true, 4},
      {false, 3}, {false, 2}, {false, 3}, {true, 4}};
  EXPECT_EQ(seen, want);
  for (const auto& e : m.h.envelopes(m.conn(kChair), 0, v1::Envelope::kQuorumChanged)) {
    EXPECT_EQ(e.quorum_changed().quorum().denominator(), 6u);
    EXPECT_EQ(e.quorum_changed().quorum().required(), 4u);
  }
}

// A meeting with D = 0 (nobody who counts) is never quorate, however many attend.
TEST(Rules, EmptyDenominatorNeverQuorate) {
  Meet m({v1::STANDING_PROBATIONARY, v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL,
          v1::STANDING_PROBATIONARY});
  m.join(kChair);  // a probationary chair: not in D
  m.join(4);
  m.ok(kChair, msg::excuse(2, "x"));
  m.ok(kChair, msg::excuse(3, "y"));
  EXPECT_EQ(m.q().denominator(), 0u);
  EXPECT_EQ(m.q().required(), 0u);
  EXPECT_FALSE(m.q().quorate());
  m.open();
  EXPECT_FALSE(m.vote(1, v1::VOTE_KIND_RESOLUTION, {}).valid());
}

// An excused member who stays away leaves D; one who then joins is back in D.
TEST(Rules, ExcusedMembers) {
  Meet m(officials(6));
  m.join(kChair);
  const size_t since = m.h.mark();
  m.ok(kChair, msg::excuse(5, "at sea"));
  m.ok(kChair, msg::excuse(6, "at the border post"));
  EXPECT_EQ(m.q().denominator(), 4u);
  ASSERT_TRUE(m.pushed_q(kChair, since).has_value());
  EXPECT_EQ(m.pushed_q(kChair, since)->denominator(), 4u);
  // The excuse is announced as attendance.
  const auto att = m.h.last(m.conn(kChair), v1::Envelope::kAttendanceChanged, since);
  ASSERT_TRUE(att.has_value());
  EXPECT_EQ(att->attendance_changed().member_id(), 6u);
  EXPECT_TRUE(att->attendance_changed().excused());
  EXPECT_FALSE(att->attendance_changed().present());
  // Excusing again is harmless.
  m.ok(kChair, msg::excuse(6, "again"));
  EXPECT_EQ(m.q().denominator(), 4u);

  m.join_range(2, 3);  // 3 of D = 4: ceil(8/3) = 3 → quorate
  EXPECT_TRUE(m.q().quorate());
  EXPECT_EQ(m.q().required(), 3u);

  // The excused member 6 turns up after all: back in D (5), present 4 of 5.
  m.join(6);
  EXPECT_EQ(m.q().denominator(), 5u);
  EXPECT_EQ(m.q().present_in_d(), 4u);
  EXPECT_EQ(m.q().required(), 4u);
  // ... and stays in D after leaving again: the excuse was for the whole meeting.
  m.drop(6);
  EXPECT_EQ(m.q().denominator(), 5u);
  EXPECT_EQ(m.q().present_in_d(), 3u);
  EXPECT_FALSE(m.q().quorate());
}

// Who may be excused: only members summoned and never present; only by the chair.
TEST(Rules, ExcuseRefusals) {
  std::vector<v1::Standing> s = officials(4);
  s.push_back(v1::STANDING_SUSPENDED);
  Meet m(s);
  m.join(kChair);
  m.join(2);
  m.refused(2, msg::excuse(3, "x"), v1::ERROR_NOT_CHAIR);
  m.refused(kChair, msg::excuse(2, "x"), v1::ERROR_CANNOT_EXCUSE);   // present
  m.refused(kChair, msg::excuse(99, "x"), v1::ERROR_CANNOT_EXCUSE);  // not on the roster
  m.refused(kChair, msg::excuse(5, "x"), v1::ERROR_CANNOT_EXCUSE);   // suspended: not summoned
  m.drop(2);
  m.refused(kChair, msg::excuse(2, "x"), v1::ERROR_CANNOT_EXCUSE);  // was present earlier
  EXPECT_EQ(m.q().denominator(), 4u);
  // Connected but not joined is still absent: may be excused.
  m.login(3);
  m.ok(kChair, msg::excuse(3, "connection too poor to follow"));
  EXPECT_EQ(m.q().denominator(), 3u);
}

// An exempted member moves D: counted only while present.
TEST(Rules, ExemptedMovesD) {
  std::vector<v1::Standing> s = officials(4);
  s.push_back(v1::STANDING_EXEMPTED);
  s.push_back(v1::STANDING_EXEMPTED);
  Meet m(s);
  m.join_range(1, 3);
  EXPECT_EQ(m.q().denominator(), 4u);
  EXPECT_EQ(m.q().present_in_d(), 3u);
  EXPECT_TRUE(m.q().quorate());  // 3 of 4
  m.join(5);
  EXPECT_EQ(m.q().denominator(), 5u);
  EXPECT_EQ(m.q().present_in_d(), 4u);
  m.join(6);
  EXPECT_EQ(m.q().denominator(), 6u);
  EXPECT_EQ(m.q().present_in_d(), 5u);
  m.drop(5);
  m.drop(6);
  EXPECT_EQ(m.q().denominator(), 4u);
  EXPECT_EQ(m.q().present_in_d(), 3u);
  // Absent exempted members are minuted as absent for that reason.
  m.ok(kChair, msg::open_meeting("m", kChair));
  m.ok(kChair, msg::close_meeting());
  ASSERT_EQ(m.h.minutes().size(), 1u);
  // 5 and 6 attended; nobody exempted is absent, so no "exempted" absence.
  for (const auto& a : m.h.minutes()[0].absences()) EXPECT_NE(a.member_id(), 5u);
}

// ---------------------------------------------------------------------------
// Ballots.

// A probationary member's ballot is refused with a clear error and the session goes on.
TEST(Rules, ProbationaryBallotRefused) {
  std::vector<v1::Standing> s = officials(3);
  s.push_back(v1::STANDING_PROBATIONARY);
  Meet m(s);
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_CONFIRMATION, false, "member 4"));
  v1::Error err;
  EXPECT_FALSE(m.cast(4, 1, CHOICE_YES, 1, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_NOT_ELIGIBLE_TO_VOTE);
  EXPECT_NE(err.reason().find("robationary"), std::string::npos) << err.reason();
  EXPECT_TRUE(m.h.is_open(m.conn(4)));
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.tally().yes() + vc.tally().no() + vc.tally().abstain(), 0u);
  EXPECT_EQ(vc.voters_size(), 0);
}

// A resent ballot (same ballot_id) is acknowledged again as a duplicate and counted once.
TEST(Rules, ResentBallotCountedOnce) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  const auto first = m.cast(2, 1, CHOICE_YES, 555);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->duplicate());
  EXPECT_EQ(first->vote_id(), 1u);
  EXPECT_EQ(first->ballot_id(), 555u);
  for (int i = 0; i < 2; ++i) {
    // The same ballot resent is the same ballot.
    const auto again = m.cast(2, 1, CHOICE_YES, 555);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->duplicate());
    EXPECT_EQ(again->ballot_id(), 555u);
  }
  // The same ballot id with another choice is refused: the member learns the
  // second choice was not counted.
  v1::Error err;
  EXPECT_FALSE(m.cast(2, 1, CHOICE_NO, 555, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_BALLOT_CHANGED);
  EXPECT_EQ(m.h.meeting(kCell)->ballots_counted(), 1u);
  EXPECT_EQ(m.h.meeting(kCell)->tally_total(), 1u);
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.tally().yes(), 1u);
  EXPECT_EQ(vc.tally().no(), 0u);
}

// A second, different ballot from the same member is refused with ERROR_BALLOT_CONFLICT.
TEST(Rules, ConflictingBallotRefused) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  ASSERT_TRUE(m.cast(2, 1, CHOICE_YES, 1).has_value());
  v1::Error err;
  EXPECT_FALSE(m.cast(2, 1, CHOICE_NO, 2, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_BALLOT_CONFLICT);
  EXPECT_TRUE(m.h.is_open(m.conn(2)));
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.tally().yes(), 1u);
  EXPECT_EQ(vc.tally().no(), 0u);
  EXPECT_EQ(m.h.meeting(kCell)->ballots_counted(), 1u);
}

// Ballots for a closed vote, an unknown vote, or with no choice are refused.
TEST(Rules, BallotForClosedOrUnknownVote) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  m.vote(1, v1::VOTE_KIND_RESOLUTION, {{2, CHOICE_YES}});
  v1::Error err;
  EXPECT_FALSE(m.cast(3, 1, CHOICE_YES, 9, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_VOTE_CLOSED);
  EXPECT_FALSE(m.cast(3, 42, CHOICE_YES, 9, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_UNKNOWN_VOTE);
  m.ok(kChair, msg::open_vote(2, v1::VOTE_KIND_RESOLUTION));
  EXPECT_FALSE(m.cast(3, 2, v1::CHOICE_UNSPECIFIED, 9, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_INVALID_REQUEST);
  EXPECT_FALSE(m.cast(3, 1, CHOICE_YES, 9, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_VOTE_CLOSED) << "while another vote is open";
  m.refused(kChair, msg::open_vote(3, v1::VOTE_KIND_RESOLUTION), v1::ERROR_VOTE_ALREADY_OPEN);
  m.close(2);
  m.refused(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION), v1::ERROR_VOTE_ALREADY_OPEN);
  m.refused(kChair, msg::open_vote(0, v1::VOTE_KIND_RESOLUTION), v1::ERROR_INVALID_REQUEST);
  m.refused(kChair, msg::open_vote(5, v1::VOTE_KIND_UNSPECIFIED), v1::ERROR_INVALID_REQUEST);
  m.refused(kChair, msg::close_vote(2), v1::ERROR_VOTE_CLOSED);
  m.refused(kChair, msg::close_vote(9), v1::ERROR_UNKNOWN_VOTE);
  m.refused(2, msg::open_vote(6, v1::VOTE_KIND_RESOLUTION), v1::ERROR_NOT_CHAIR);
  EXPECT_EQ(m.h.meeting(kCell)->ballots_counted(), 1u);
}

// ---------------------------------------------------------------------------
// Validity: a vote counts only if the meeting was quorate throughout.

// A vote held without quorum is recorded invalid.
TEST(Rules, VoteWithoutQuorumInvalid) {
  Meet m(officials(6));
  m.open();
  m.join_range(2, 3);  // 3 of 6: required 4
  ASSERT_FALSE(m.q().quorate());
  const v1::VoteClosed vc =
      m.vote(1, v1::VOTE_KIND_RESOLUTION, {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES}});
  EXPECT_FALSE(vc.valid());
  EXPECT_FALSE(m.h.meeting(kCell)->vote_records().back().valid());
}

// A vote during which quorum was lost is invalid, even if quorum came back before it closed.
TEST(Rules, QuorumLostDuringVoteInvalid) {
  Meet m(officials(6));
  m.open();
  m.join_range(2, 5);
  ASSERT_TRUE(m.q().quorate());
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  for (uint64_t v = 1; v <= 4; ++v) ASSERT_TRUE(m.cast(v, 1, CHOICE_YES, v).has_value());
  m.drop(5);
  m.drop(4);
  EXPECT_FALSE(m.q().quorate());
  m.join(4);
  m.join(5);
  EXPECT_TRUE(m.q().quorate());
  const v1::VoteClosed vc = m.close(1);
  EXPECT_FALSE(vc.valid());
  EXPECT_TRUE(vc.passed()) << "the count itself still passes; it is the vote that is invalid";
  // A vote held wholly with quorum is valid.
  EXPECT_TRUE(m.vote(2, v1::VOTE_KIND_RESOLUTION, {{2, CHOICE_YES}}).valid());
}

// A vote opened before quorum and closed after it is invalid too: not quorate throughout.
TEST(Rules, QuorumReachedDuringVoteStillInvalid) {
  Meet m(officials(6));
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  m.join_range(4, 5);
  ASSERT_TRUE(m.q().quorate());
  EXPECT_FALSE(m.close(1).valid());
}

// ---------------------------------------------------------------------------
// Reconnects.

// A reconnect with the resume token restores presence; the ballot cast before is not counted twice.
TEST(Rules, ResumeRestoresPresenceWithoutDoubleCounting) {
  Meet m(officials(5));
  m.open();
  m.join_range(2, 4);
  const v1::QuorumStatus before = m.q();
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  ASSERT_TRUE(m.cast(3, 1, CHOICE_YES, 31).has_value());
  const v1::Welcome first = *m.h.last_welcome(kCell, 3);

  m.drop(3);
  EXPECT_FALSE(m.h.meeting(kCell)->is_present(3));
  EXPECT_EQ(m.q().present_in_d(), before.present_in_d() - 1);

  m.h.advance_ms(5000);
  const size_t since = m.h.mark();
  m.login(3, first.resume_token());
  const v1::Welcome* w = m.h.last_welcome(kCell, 3);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->resumed());
  EXPECT_EQ(w->session_id(), first.session_id());
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(3));
  EXPECT_EQ(m.q().SerializeAsString(), before.SerializeAsString()) << "no double counting";
  // The resumed member gets the meeting's state without asking, and everyone the news.
  const auto state = m.h.last(m.conn(3), v1::Envelope::kMeetingState, since);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->meeting_state().open_vote_id(), 1u);
  const auto att = m.h.last(m.conn(kChair), v1::Envelope::kAttendanceChanged, since);
  ASSERT_TRUE(att.has_value());
  EXPECT_EQ(att->attendance_changed().member_id(), 3u);
  EXPECT_TRUE(att->attendance_changed().present());

  // The ballot was kept: resending it is a duplicate; another one conflicts.
  const auto again = m.cast(3, 1, CHOICE_YES, 31);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate());
  v1::Error err;
  EXPECT_FALSE(m.cast(3, 1, CHOICE_NO, 32, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_BALLOT_CONFLICT);
  EXPECT_EQ(m.close(1).tally().yes(), 1u);
  EXPECT_EQ(m.h.meeting(kCell)->ballots_counted(), 1u);
}

// Resuming while the old connection still looks alive replaces it without the member ever leaving.
TEST(Rules, ResumeSupersedesLiveConnection) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 3);
  const ConnId old = m.conn(2);
  const std::string resume = m.h.last_welcome(kCell, 2)->resume_token();
  const size_t since = m.h.mark();
  m.login(2, resume);
  EXPECT_TRUE(m.h.last_welcome(kCell, 2)->resumed());
  EXPECT_TRUE(m.h.closed_by_engine(old));
  ASSERT_TRUE(m.h.close_error(old).has_value());
  EXPECT_EQ(m.h.close_error(old)->code(), v1::ERROR_SUPERSEDED);
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2));
  EXPECT_FALSE(m.h.last(m.conn(kChair), v1::Envelope::kAttendanceChanged, since).has_value())
      << "the member never left";
  EXPECT_FALSE(m.pushed_q(kChair, since).has_value());
}

// A reconnect without the resume token is a new session: absent until it joins again.
TEST(Rules, ReconnectWithoutResumeIsNewSession) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  ASSERT_TRUE(m.cast(2, 1, CHOICE_NO, 21).has_value());
  const uint64_t old_session = m.h.last_welcome(kCell, 2)->session_id();
  const ConnId old = m.conn(2);
  m.login(2);  // the old connection is still open: superseded
  EXPECT_TRUE(m.h.closed_by_engine(old));
  EXPECT_FALSE(m.h.last_welcome(kCell, 2)->resumed());
  EXPECT_NE(m.h.last_welcome(kCell, 2)->session_id(), old_session);
  EXPECT_FALSE(m.h.meeting(kCell)->is_present(2));
  m.refused(2, msg::ballot(1, CHOICE_NO, 21), v1::ERROR_NOT_JOINED);
  ASSERT_TRUE(m.h.request(m.conn(2), msg::join()).has_meeting_state());
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2));
  // The ballot is the member's, not the session's: still counted once.
  const auto again = m.cast(2, 1, CHOICE_NO, 21);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate());
  EXPECT_EQ(m.close(1).tally().no(), 1u);
}

// A good resume token from another server run starts a fresh session: no resume, no refusal.
TEST(Rules, ResumeTokenFromAnotherRunStartsFresh) {
  EngineSettings s;
  s.run_id = 2;
  Meet m(officials(4), s);
  m.join(2);
  const v1::Welcome first = *m.h.last_welcome(kCell, 2);
  m.drop(2);
  // The same key, another run: the MAC verifies but names run 1.
  const std::string old_run = mint_resume(m.h.key(), kCell, 2, first.session_id(), 1);
  m.login(2, old_run);
  const v1::Welcome* w = m.h.last_welcome(kCell, 2);
  EXPECT_FALSE(w->resumed());
  EXPECT_NE(w->session_id(), first.session_id());
  EXPECT_FALSE(m.h.meeting(kCell)->is_present(2));
  // This run's token, by contrast, resumes.
  m.drop(2);
  m.login(2, w->resume_token());
  EXPECT_TRUE(m.h.last_welcome(kCell, 2)->resumed());
}

// A resume token that does not verify closes the connection with ERROR_RESUME_INVALID.
TEST(Rules, BadResumeTokenRefused) {
  Meet m(officials(4));
  m.join(2);
  std::string resume = m.h.last_welcome(kCell, 2)->resume_token();
  resume.back() ^= 1;
  const ConnId c = m.h.connect();
  const v1::Envelope a = m.h.hello(c, kCell, 2, resume);
  ASSERT_TRUE(a.has_error());
  EXPECT_EQ(a.error().code(), v1::ERROR_RESUME_INVALID);
  EXPECT_TRUE(m.h.closed_by_engine(c));
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2)) << "the good session is untouched";
  // Another member's resume token is not this member's.
  m.join(3);
  const ConnId c2 = m.h.connect();
  const v1::Envelope a2 =
      m.h.hello(c2, kCell, 2, m.h.last_welcome(kCell, 3)->resume_token());
  ASSERT_TRUE(a2.has_error());
  EXPECT_EQ(a2.error().code(), v1::ERROR_RESUME_INVALID);
}

// ---------------------------------------------------------------------------
// Liveness.

// Three missed heartbeat intervals: the member is absent and the connection closed with ERROR_LIVENESS_TIMEOUT.
TEST(Rules, LivenessTimeout) {
  Meet m(officials(4));
  const EngineSettings& s = m.h.settings();
  const int64_t interval = s.rules.heartbeat_interval_ms;
  const int64_t window = interval * s.rules.missed_heartbeats;
  m.join_range(1, 3);
  const int64_t silent_since = m.h.now_ms();
  // The others heartbeat every interval; member 3 says nothing.
  while (m.h.now_ms() + interval < silent_since + window) {
    m.h.advance_ms(interval);
    m.h.heartbeat(m.conn(1));
    m.h.heartbeat(m.conn(2));
  }
  m.h.advance_to((silent_since + window - 1) * kNsPerMs);
  EXPECT_TRUE(m.h.is_open(m.conn(3))) << "still within the window";
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(3));
  const size_t since = m.h.mark();
  m.h.advance_ms(1);
  EXPECT_TRUE(m.h.closed_by_engine(m.conn(3)));
  ASSERT_TRUE(m.h.close_error(m.conn(3)).has_value());
  EXPECT_EQ(m.h.close_error(m.conn(3))->code(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_FALSE(m.h.meeting(kCell)->is_present(3));
  const auto att = m.h.last(m.conn(1), v1::Envelope::kAttendanceChanged, since);
  ASSERT_TRUE(att.has_value());
  EXPECT_EQ(att->attendance_changed().member_id(), 3u);
  EXPECT_FALSE(att->attendance_changed().present());
  EXPECT_EQ(m.q().present_in_d(), 2u);
  EXPECT_TRUE(m.h.is_open(m.conn(1)));
  EXPECT_TRUE(m.h.is_open(m.conn(2)));
  // Heartbeats are answered with the same sequence number.
  const v1::Envelope ack = m.h.request(m.conn(1), msg::heartbeat(4242));
  ASSERT_TRUE(ack.has_heartbeat_ack());
  EXPECT_EQ(ack.heartbeat_ack().seq(), 4242u);
}

// Any frame, not only a heartbeat, shows the member is alive.
TEST(Rules, AnyFrameKeepsAlive) {
  Meet m(officials(4));
  const int64_t window =
      int64_t{m.h.settings().rules.heartbeat_interval_ms} * m.h.settings().rules.missed_heartbeats;
  m.join_range(1, 2);
  m.open();
  for (int i = 0; i < 10; ++i) {
    m.h.advance_ms(window - 1);
    m.cmd(2, msg::request_floor("point " + std::to_string(i)));
    m.cmd(kChair, msg::advance_agenda());
  }
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2));
  EXPECT_TRUE(m.h.is_open(m.conn(2)));
}

// A connection that never says Hello is closed after the handshake timeout.
TEST(Rules, HelloTimeout) {
  Meet m(officials(3));
  const ConnId c = m.h.connect();
  m.h.advance_ms(m.h.settings().rules.hello_timeout_ms - 1);
  EXPECT_TRUE(m.h.is_open(c));
  m.h.advance_ms(1);
  EXPECT_TRUE(m.h.closed_by_engine(c));
  EXPECT_EQ(m.h.close_error(c)->code(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_EQ(m.h.engine().connection_count(), 0u);
  EXPECT_FALSE(m.h.engine().poll_timeout().has_value());
}

// ---------------------------------------------------------------------------
// Settings: every number is a setting and takes effect.

// Quorum 1/2, a 2 s heartbeat interval with 2 misses allowed, a stricter resolution rule.
TEST(Rules, SettingsTakeEffect) {
  EngineSettings s;
  s.rules.quorum = {1, 2};
  s.rules.heartbeat_interval_ms = 2000;
  s.rules.missed_heartbeats = 2;
  s.rules.votes[v1::VOTE_KIND_RESOLUTION] = {v1::VOTE_METHOD_SECRET_BALLOT,
                                             ThresholdBase::kOfficialMembers, {3, 4}, false};
  Meet m(officials(6), s);
  m.join(kChair);
  EXPECT_EQ(m.h.last_welcome(kCell, kChair)->heartbeat_interval_ms(), 2000u);
  m.join_range(2, 3);
  EXPECT_EQ(m.q().required(), 3u);  // ceil(6 / 2)
  EXPECT_TRUE(m.q().quorate()) << "3 of 6 is quorate at 1/2 (not at the default 2/3)";

  m.open();
  const size_t since = m.h.mark();
  const v1::VoteClosed vc = m.vote(1, v1::VOTE_KIND_RESOLUTION,
                                   {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES}});
  EXPECT_EQ(m.h.last(m.conn(2), v1::Envelope::kVoteOpened, since)->vote_opened().method(),
            v1::VOTE_METHOD_SECRET_BALLOT);
  EXPECT_EQ(vc.threshold_base(), 6u);
  EXPECT_EQ(vc.yes_required(), 5u);  // >= 3/4 × 6 = 4.5
  EXPECT_FALSE(vc.passed());

  // The liveness window is 2 × 2 s = 4 s.
  const int64_t t0 = m.h.now_ms();
  m.h.advance_ms(2000);
  m.h.heartbeat(m.conn(1));
  m.h.heartbeat(m.conn(2));
  m.h.advance_to((t0 + 3999) * kNsPerMs);
  EXPECT_TRUE(m.h.is_open(m.conn(3)));
  m.h.advance_ms(1);
  EXPECT_TRUE(m.h.closed_by_engine(m.conn(3)));
  EXPECT_EQ(m.h.close_error(m.conn(3))->code(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_TRUE(m.h.is_open(m.conn(1)));
  EXPECT_EQ(m.q().present_in_d(), 2u);
  EXPECT_FALSE(m.q().quorate());
}

// A quorum of all of D (1/1) needs everyone; a 3/5 quorum rounds up.
TEST(Rules, QuorumFractionsRoundUp) {
  for (auto [num, den, d, want] : std::vector<std::array<uint32_t, 4>>{
           {1, 1, 5, 5}, {3, 5, 7, 5}, {2, 3, 9, 6}, {2, 3, 10, 7}, {1, 2, 7, 4}, {2, 3, 3, 2}}) {
    SCOPED_TRACE(std::to_string(num) + "/" + std::to_string(den) + " of " + std::to_string(d));
    EngineSettings s;
    s.rules.quorum = {num, den};
    Meet m(officials(d), s);
    for (uint64_t k = 1; k < want; ++k) m.join(k);
    EXPECT_EQ(m.q().required(), want);
    EXPECT_FALSE(m.q().quorate());
    m.join(want);
    EXPECT_TRUE(m.q().quorate());
  }
}

// ---------------------------------------------------------------------------
// The minutes (RULES.md, "The minutes").

// The minutes hold the time, chair and minute-taker by name, recorded, attendees,
// absences with reasons, proceedings with speakers, and each vote's method and result.
TEST(Rules, MinutesComplete) {
  // 1 chair, 2 minute-taker, 3-5 official, 6 official excused, 7 official
  // absent without reason, 8 probationary, 9 exempted absent, 10 suspended.
  std::vector<v1::Standing> s = officials(7);
  s.push_back(v1::STANDING_PROBATIONARY);
  s.push_back(v1::STANDING_EXEMPTED);
  s.push_back(v1::STANDING_SUSPENDED);
  Meet m(s);
  m.join(kChair);
  m.join_range(2, 5);
  m.join(8);
  m.pass_ms(60'000);
  m.ok(kChair, msg::excuse(6, "on duty at the border post"));
  const int64_t opened_at = m.h.now_ms();
  m.ok(kChair, msg::open_meeting("monthly meeting, March", 2,
                                 {"secretary's report", "discussion", "votes"}, true,
                                 {"representative of the Party committee"}));
  m.ok(kChair, msg::advance_agenda());
  m.pass_ms(600'000);
  m.ok(kChair, msg::advance_agenda());
  m.ok(3, msg::request_floor("fishing quotas"));
  const auto fr = m.h.last(m.conn(kChair), v1::Envelope::kFloorRequested);
  ASSERT_TRUE(fr.has_value()) << "the chair hears the request";
  EXPECT_EQ(fr->floor_requested().member_id(), 3u);
  m.ok(kChair, msg::grant_floor(3));
  m.refused(kChair, msg::grant_floor(7), v1::ERROR_INVALID_REQUEST);  // not present
  m.ok(kChair, msg::advance_agenda());
  m.refused(kChair, msg::advance_agenda(), v1::ERROR_AGENDA_FINISHED);
  m.vote(1, v1::VOTE_KIND_RESOLUTION, {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_NO},
                                       {4, CHOICE_YES}, {5, CHOICE_ABSTAIN}});
  m.vote(2, v1::VOTE_KIND_ELECTION, {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES},
                                     {4, CHOICE_NO}});
  m.pass_ms(5'400'000);
  const int64_t closed_at = m.h.now_ms();
  m.ok(kChair, msg::close_meeting());

  ASSERT_EQ(m.h.minutes().size(), 1u);
  const v1::Minutes& mn = m.h.minutes()[0];
  // Everyone present received the same minutes in MeetingClosed.
  for (uint64_t who : {1, 2, 3, 4, 5, 8}) {
    const auto mc = m.h.last(m.conn(who), v1::Envelope::kMeetingClosed);
    ASSERT_TRUE(mc.has_value()) << who;
    EXPECT_EQ(mc->meeting_closed().minutes().SerializeAsString(), mn.SerializeAsString());
  }
  EXPECT_EQ(mn.cell_id(), kCell);
  EXPECT_EQ(mn.cell_name(), m.h.roster(kCell).name());
  EXPECT_EQ(mn.opened_at_ms(), opened_at);
  EXPECT_EQ(mn.closed_at_ms(), closed_at);
  EXPECT_EQ(mn.chair_id(), kChair);
  EXPECT_EQ(mn.chair_name(), member_name(kChair));
  EXPECT_EQ(mn.minute_taker_id(), 2u);
  EXPECT_EQ(mn.minute_taker_name(), member_name(2));
  EXPECT_TRUE(mn.recorded());
  EXPECT_EQ(mn.reason(), "monthly meeting, March");
  ASSERT_EQ(mn.guests_size(), 1);
  ASSERT_EQ(mn.agenda_size(), 3);
  EXPECT_EQ(mn.agenda(0), "secretary's report");

  std::set<uint64_t> attendees;
  for (const auto& p : mn.attendees()) {
    attendees.insert(p.member_id());
    EXPECT_EQ(p.name(), member_name(p.member_id()));
  }
  EXPECT_EQ(attendees, (std::set<uint64_t>{1, 2, 3, 4, 5, 8}));
  std::map<uint64_t, v1::Absence> absences;
  for (const auto& a : mn.absences()) {
    absences[a.member_id()] = a;
    EXPECT_EQ(a.name(), member_name(a.member_id()));
  }
  ASSERT_EQ(absences.size(), 3u) << "6 excused, 7 without reason, 9 exempted; 10 not summoned";
  EXPECT_TRUE(absences[6].excused());
  EXPECT_EQ(absences[6].reason(), "on duty at the border post");
  EXPECT_FALSE(absences[7].excused());
  EXPECT_EQ(absences[7].reason(), "");
  EXPECT_EQ(absences[9].standing(), v1::STANDING_EXEMPTED);
  EXPECT_TRUE(absences[9].excused());
  EXPECT_EQ(absences[9].reason(), "exempted");

  // Proceedings: in time order, with the speakers named.
  bool spoke = false, asked = false;
  int64_t prev = 0;
  for (const auto& p : mn.proceedings()) {
    EXPECT_GE(p.at_ms(), prev);
    prev = p.at_ms();
    if (p.member_id() != 0) {
      EXPECT_EQ(p.member_name(), member_name(p.member_id()));
    }
    if (p.member_id() == 3 && p.what() == "speaks") spoke = true;
    if (p.member_id() == 3 && p.what().find("fishing quotas") != std::string::npos) asked = true;
  }
  EXPECT_TRUE(spoke);
  EXPECT_TRUE(asked);

  ASSERT_EQ(mn.votes_size(), 2);
  const v1::VoteRecord& r1 = mn.votes(0);
  EXPECT_EQ(r1.kind(), v1::VOTE_KIND_RESOLUTION);
  EXPECT_EQ(r1.method(), v1::VOTE_METHOD_SHOW_OF_HANDS);
  EXPECT_EQ(r1.tally().yes(), 3u);
  EXPECT_EQ(r1.tally().no(), 1u);
  EXPECT_EQ(r1.tally().abstain(), 1u);
  EXPECT_EQ(r1.threshold_base(), 6u);  // D: 7 official − 1 excused
  EXPECT_EQ(r1.yes_required(), 4u);
  EXPECT_FALSE(r1.passed());
  EXPECT_TRUE(r1.valid());
  EXPECT_EQ(r1.public_ballots_size(), 5);
  const v1::VoteRecord& r2 = mn.votes(1);
  EXPECT_EQ(r2.method(), v1::VOTE_METHOD_SECRET_BALLOT);
  EXPECT_EQ(r2.tally().yes(), 3u);
  EXPECT_FALSE(r2.passed());  // > 1/2 of 6 needs 4
  EXPECT_EQ(r2.public_ballots_size(), 0);
  EXPECT_EQ(r2.voters_size(), 4);
  EXPECT_GT(r2.closed_at_ms(), 0);
  EXPECT_GE(r2.closed_at_ms(), r2.opened_at_ms());

  EXPECT_EQ(mn.denominator_at_close(), 6u);
  EXPECT_TRUE(mn.quorate_at_close());
  EXPECT_GT(mn.first_quorate_at_ms(), 0);
  EXPECT_EQ(mn.quorum_losses(), 0u);

  // After closing, the meeting refuses more business; a new join starts a new meeting.
  m.refused(kChair, msg::open_vote(3, v1::VOTE_KIND_RESOLUTION), v1::ERROR_MEETING_NOT_OPEN);
  const v1::Envelope again = m.h.request(m.conn(4), msg::join());
  ASSERT_TRUE(again.has_meeting_state());
  EXPECT_NE(again.meeting_state().meeting_id(), mn.meeting_id());
  EXPECT_EQ(again.meeting_state().phase(), v1::MEETING_PHASE_GATHERING);
}

// The minutes travel in one MeetingClosed frame; a member who asks for the
// floor often enough (each request is minuted with its topic) would make it
// larger than any client with the default maximum accepts: the push is cut to
// fit (marked proceedings_truncated), and the kept minutes stay whole.
TEST(Rules, MinutesFitInOneFrame) {
  EngineSettings st;
  st.max_floor_requests_per_member = 1000;  // the cut, not the rate limit, is under test
  Meet m(officials(4), st);
  m.join_range(1, 3);
  m.open();
  const std::string topic(m.h.settings().max_text_bytes, 'x');
  for (int i = 0; i < 200; ++i) m.cmd(2, msg::request_floor(topic));
  m.ok(kChair, msg::close_meeting());
  EXPECT_EQ(m.h.oversized_frames(), 0u)
      << "a frame larger than max_frame_bytes = " << m.h.settings().max_frame_bytes;
  const auto pushed = m.h.last(m.conn(2), v1::Envelope::kMeetingClosed);
  ASSERT_TRUE(pushed.has_value());
  EXPECT_TRUE(pushed->meeting_closed().minutes().proceedings_truncated());
  ASSERT_EQ(m.h.minutes().size(), 1u);
  EXPECT_GT(m.h.minutes()[0].proceedings_size(), 200) << "the kept minutes are whole";
  EXPECT_FALSE(m.h.minutes()[0].proceedings_truncated());
}

// Cutting proceedings is not always enough for the MeetingClosed push to fit
// one frame: the votes themselves (up to max_votes_per_meeting, each with a
// subject of up to max_text_bytes) can exceed it; the push then drops voter
// lists and later votes (marked), while the kept minutes keep all 100.
TEST(Rules, MinutesWithManyVotesFitInOneFrame) {
  Meet m(officials(4));
  m.join_range(1, 3);
  m.open();
  const std::string subject(m.h.settings().max_text_bytes, 's');
  for (uint64_t v = 1; v <= 100; ++v) {
    m.ok(kChair, msg::open_vote(v, v1::VOTE_KIND_RESOLUTION, false, subject));
    m.ok(kChair, msg::close_vote(v));
    if (v % 10 == 0) m.pass_ms(1);  // keeps everyone alive
  }
  m.ok(kChair, msg::close_meeting());
  EXPECT_EQ(m.h.oversized_frames(), 0u)
      << "a frame larger than max_frame_bytes = " << m.h.settings().max_frame_bytes;
  const auto pushed = m.h.last(m.conn(2), v1::Envelope::kMeetingClosed);
  ASSERT_TRUE(pushed.has_value());
  EXPECT_TRUE(pushed->meeting_closed().minutes().votes_truncated());
  ASSERT_EQ(m.h.minutes().size(), 1u);
  EXPECT_EQ(m.h.minutes()[0].votes_size(), 100);
}

// A member may ask for the floor a bounded number of times per meeting, so
// nobody can flood the minutes.
TEST(Rules, FloorRequestsAreBounded) {
  Meet m(officials(3));
  m.join_range(1, 3);
  m.open();
  const uint32_t max = m.h.settings().max_floor_requests_per_member;
  for (uint32_t i = 0; i < max; ++i) m.cmd(2, msg::request_floor("point"));
  m.refused(2, msg::request_floor("one more"), v1::ERROR_RATE_LIMITED);
  m.cmd(3, msg::request_floor("another member may still ask"));
}

// Closing a meeting with a vote open closes the vote first and minutes it.
TEST(Rules, CloseMeetingClosesOpenVote) {
  Meet m(officials(3));
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  ASSERT_TRUE(m.cast(2, 1, CHOICE_YES, 1).has_value());
  m.ok(kChair, msg::close_meeting());
  ASSERT_EQ(m.h.minutes().size(), 1u);
  ASSERT_EQ(m.h.minutes()[0].votes_size(), 1);
  EXPECT_EQ(m.h.minutes()[0].votes(0).tally().yes(), 1u);
  EXPECT_TRUE(m.h.last(m.conn(3), v1::Envelope::kVoteClosed).has_value());
}

}  // namespace
}  // namespace cellsim::engine::testing
