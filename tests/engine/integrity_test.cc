// The engine keeps its word (issue 9): only the floor holder speaks, paced;
// every frame it sends is parsable and within the maximum; excuses are
// settled before the meeting opens; a changed resend is refused; and a
// journal replayed into a fresh engine rebuilds the meetings exactly, secret
// ballots included, without ever recording who chose what.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/assert.h"
#include "server/engine/text.h"
#include "tests/engine/meeting_fixture.h"

namespace cellsim::engine::testing {
namespace {

using v1::CHOICE_ABSTAIN;
using v1::CHOICE_NO;
using v1::CHOICE_YES;

std::vector<v1::Standing> officials(size_t n) {
  return std::vector<v1::Standing>(n, v1::STANDING_OFFICIAL);
}

// Vietnamese text of at least `bytes` bytes: mostly 2- and 3-byte characters.
std::string vietnamese(size_t bytes) {
  const std::string word = "Nghị quyết về công tác xây dựng Đảng ở chi bộ đặc thù; ";
  std::string s;
  while (s.size() < bytes) s += word;
  return s;
}

size_t media_count(const Meet& m, uint64_t who, size_t since) {
  return m.h.envelopes(m.conn(who), since, v1::Envelope::kMediaFrame).size();
}

// ---- Only the floor holder speaks.

// Shows media from a member never given the floor (a probationary member
// here) is refused with ERROR_NOT_FLOOR_HOLDER and relayed to nobody; the
// session goes on.
TEST(Floor, OnlyTheHolderIsRelayed) {
  Meet m({v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL, v1::STANDING_PROBATIONARY});
  m.open();
  m.join_range(2, 3);
  const size_t since = m.h.mark();
  for (int i = 0; i < 5; ++i) m.refused(3, msg::media(i, "voice"), v1::ERROR_NOT_FLOOR_HOLDER);
  EXPECT_EQ(media_count(m, kChair, since), 0u);
  EXPECT_EQ(media_count(m, 2, since), 0u);
  EXPECT_TRUE(m.h.is_open(m.conn(3)));
  m.ok(kChair, msg::grant_floor(3));
  m.ok(3, msg::media(9, "voice"));
  EXPECT_EQ(media_count(m, 2, since), 1u);
}

// Shows the floor passes with the agenda, with a vote opening, when another
// member is given it, and when the holder leaves.
TEST(Floor, TheFloorPasses) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::grant_floor(2));
  m.ok(2, msg::media(1, "a"));
  m.ok(kChair, msg::advance_agenda());
  m.refused(2, msg::media(2, "a"), v1::ERROR_NOT_FLOOR_HOLDER);
  m.ok(kChair, msg::grant_floor(2));
  m.ok(kChair, msg::grant_floor(3));
  m.refused(2, msg::media(3, "a"), v1::ERROR_NOT_FLOOR_HOLDER);
  m.ok(3, msg::media(4, "a"));
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  m.refused(3, msg::media(5, "a"), v1::ERROR_NOT_FLOOR_HOLDER);
  m.close(1);
  m.ok(kChair, msg::grant_floor(4));
  EXPECT_EQ(m.h.meeting(kCell)->floor_holder(), 4u);
  m.drop(4);
  EXPECT_EQ(m.h.meeting(kCell)->floor_holder(), 0u);
}

// Shows an unpaced sender is cut to the burst allowance plus the rate: the
// rest is refused with ERROR_RATE_LIMITED and not relayed; after a pause the
// holder speaks again.
TEST(Floor, MediaIsPaced) {
  EngineSettings s;
  s.media_rate_bytes_per_s = 10'000;
  s.media_burst_bytes = 2'000;
  Meet m(officials(3), s);
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::grant_floor(2));
  const size_t since = m.h.mark();
  const std::string payload(52, 'x');  // 52 + 48 overhead = 100 bytes a frame
  for (int i = 0; i < 1000; ++i) m.h.send(m.conn(2), msg::media(i, payload));
  size_t refused = 0;
  for (const auto& e : m.h.envelopes(m.conn(2), since, v1::Envelope::kError)) {
    EXPECT_EQ(e.error().code(), v1::ERROR_RATE_LIMITED);
    ++refused;
  }
  EXPECT_EQ(media_count(m, 3, since), 20u);  // the burst: 2,000 / 100
  EXPECT_EQ(refused, 980u);
  m.h.advance_ms(1000);  // earns 10,000 bytes, capped at the burst
  const size_t later = m.h.mark();
  for (int i = 0; i < 30; ++i) m.h.send(m.conn(2), msg::media(i, payload));
  EXPECT_EQ(media_count(m, 3, later), 20u);
  EXPECT_TRUE(m.h.is_open(m.conn(2)));
}

// Shows a payload over max_media_payload_bytes is refused, and the largest
// accepted one is relayed in a frame within the maximum.
TEST(Floor, PayloadBound) {
  Meet m(officials(3));
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::grant_floor(2));
  const uint32_t max = m.h.settings().max_media_payload_bytes;
  m.refused(2, msg::media(1, std::string(max + 1, 'x')), v1::ERROR_PAYLOAD_TOO_LARGE);
  const size_t since = m.h.mark();
  v1::Envelope big = msg::media(UINT64_MAX, std::string(max, 'x'));
  big.set_request_id(UINT64_MAX);
  m.h.send(m.conn(2), big);
  EXPECT_EQ(media_count(m, 3, since), 1u);
  EXPECT_EQ(m.h.oversized_frames(), 0u);
}

// ---- Every frame readable.

// Shows long Vietnamese texts are cut at a character boundary: every push
// parses (the harness parses each frame) and holds valid UTF-8 within
// max_text_bytes; the minutes too.
TEST(Text, LongVietnameseTextsStayReadable) {
  Meet m(officials(4));
  m.join(kChair);
  const std::string text = vietnamese(3000);
  const uint32_t max = m.h.settings().max_text_bytes;
  m.ok(kChair, msg::excuse(4, text));
  m.ok(kChair, msg::open_meeting(text, kChair, {text, text}));
  m.join_range(2, 3);
  const size_t since = m.h.mark();
  m.ok(kChair, msg::advance_agenda());
  const auto adv = m.h.last(m.conn(2), v1::Envelope::kAgendaAdvanced, since);
  ASSERT_TRUE(adv.has_value());
  EXPECT_TRUE(is_valid_utf8(adv->agenda_advanced().title()));
  EXPECT_LE(adv->agenda_advanced().title().size(), max);
  EXPECT_GT(adv->agenda_advanced().title().size(), max - 4);
  m.ok(2, msg::request_floor(text));
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION, false, text));
  m.close(1);
  m.ok(kChair, msg::close_meeting());
  ASSERT_EQ(m.h.minutes().size(), 1u);
  const v1::Minutes& mn = m.h.minutes()[0];
  EXPECT_TRUE(is_valid_utf8(mn.reason()));
  for (const auto& a : mn.absences()) EXPECT_TRUE(is_valid_utf8(a.reason()));
  for (const auto& p : mn.proceedings()) EXPECT_TRUE(is_valid_utf8(p.what()));
  EXPECT_EQ(m.h.oversized_frames(), 0u);
}

// Shows invalid UTF-8 in a request is a rule refusal naming the field (the
// session goes on); before Hello it closes the connection.
TEST(Text, InvalidUtf8IsRefusedNamingTheField) {
  Meet m(officials(3));
  m.join(kChair);
  v1::Envelope open = msg::open_meeting("ok", kChair, {"first", "bad \xc3("});
  const v1::Envelope a = m.h.request(m.conn(kChair), open);
  ASSERT_TRUE(a.has_error()) << a.DebugString();
  EXPECT_EQ(a.error().code(), v1::ERROR_INVALID_TEXT);
  EXPECT_NE(a.error().reason().find("open_meeting.agenda[1]"), std::string::npos)
      << a.error().reason();
  EXPECT_TRUE(m.h.is_open(m.conn(kChair)));
  EXPECT_EQ(m.h.meeting(kCell)->phase(), v1::MEETING_PHASE_GATHERING);
  // Not a UTF-8 problem: still a malformed frame.
  const ConnId raw = m.h.connect();
  std::string frame(wire::kFrameHeaderBytes, '\0');
  const std::string junk = "\x0a\xff\xff";
  wire::put_header(static_cast<uint32_t>(junk.size()), frame.data());
  m.h.send_bytes(raw, frame + junk);
  ASSERT_TRUE(m.h.closed_by_engine(raw));
  EXPECT_EQ(m.h.close_error(raw)->code(), v1::ERROR_MALFORMED_FRAME);
}

// Shows a meeting whose agenda fills a request frame, with a large roster,
// sends a MeetingState and a MeetingClosed within the maximum, marked as
// shortened, while the kept minutes hold everything.
TEST(Text, SnapshotsAndMinutesFitInOneFrame) {
  Meet m(officials(600));
  m.join(kChair);
  const EngineSettings& s = m.h.settings();
  const std::string text = truncate_utf8(vietnamese(2 * s.max_text_bytes), s.max_text_bytes);
  std::vector<std::string> agenda(62, text);  // 62 × 1 KiB: the request still fits
  v1::Envelope open = msg::open_meeting("r", kChair, agenda);
  for (int i = 0; i < 8; ++i) open.mutable_open_meeting()->add_guests("guest " + std::to_string(i));
  ASSERT_LE(open.ByteSizeLong(), s.max_frame_bytes);
  m.ok(kChair, open);
  const size_t since = m.h.mark();
  m.join(2);
  const auto st = m.h.last(m.conn(2), v1::Envelope::kMeetingState, since);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->meeting_state().agenda_truncated());
  EXPECT_EQ(st->meeting_state().agenda_size(), 62);
  m.ok(kChair, msg::close_meeting());
  const auto closed = m.h.last(m.conn(2), v1::Envelope::kMeetingClosed, since);
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(closed->meeting_closed().minutes().lists_truncated());
  EXPECT_EQ(m.h.oversized_frames(), 0u);
  ASSERT_EQ(m.h.minutes().size(), 1u);
  EXPECT_EQ(m.h.minutes()[0].agenda_size(), 62);
  EXPECT_EQ(m.h.minutes()[0].agenda(61), text);
}

// ---- Rules.

// Shows an excuse after the meeting opened is refused (RULES.md: it is for
// the whole meeting and settled before it opens), so it cannot lower D
// during a vote: 6 official, 4 present, 3 yes fails with D = 6.
TEST(Rules, NoExcuseOnceOpen) {
  Meet m(officials(6));
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  for (uint64_t x : {5, 6}) m.refused(kChair, msg::excuse(x, "late"), v1::ERROR_CANNOT_EXCUSE);
  EXPECT_EQ(m.q().denominator(), 6u);
  for (uint64_t x : {1, 2, 3}) ASSERT_TRUE(m.cast(x, 1, CHOICE_YES, 100 + x).has_value());
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.threshold_base(), 6u);
  EXPECT_FALSE(vc.passed());
}

// Shows which D a vote's threshold uses: D at the vote's close (README,
// "Rules as settings"). An exempted member who joins during the vote raises
// D from 4 to 5, and the vote is judged against 5.
TEST(Rules, ThresholdUsesDAtClose) {
  Meet m({v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL, v1::STANDING_OFFICIAL,
          v1::STANDING_OFFICIAL, v1::STANDING_EXEMPTED});
  m.open();
  m.join_range(2, 4);
  EXPECT_EQ(m.q().denominator(), 4u);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  for (uint64_t x : {1, 2, 3}) ASSERT_TRUE(m.cast(x, 1, CHOICE_YES, x).has_value());
  m.join(5);
  EXPECT_EQ(m.q().denominator(), 5u);
  const v1::VoteClosed vc = m.close(1);
  EXPECT_EQ(vc.threshold_base(), 5u);
  EXPECT_EQ(vc.yes_required(), 3u);  // > 2.5
  EXPECT_TRUE(vc.passed());
}

// Shows a secret ballot resent with another choice is refused with its own
// code, and the same ballot resent is a duplicate.
TEST(Rules, SecretBallotChangedIsRefused) {
  Meet m(officials(3));
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_ELECTION));
  ASSERT_TRUE(m.cast(2, 1, CHOICE_NO, 7).has_value());
  const auto again = m.cast(2, 1, CHOICE_NO, 7);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate());
  v1::Error err;
  EXPECT_FALSE(m.cast(2, 1, CHOICE_YES, 7, &err).has_value());
  EXPECT_EQ(err.code(), v1::ERROR_BALLOT_CHANGED);
  EXPECT_EQ(m.close(1).tally().no(), 1u);
}

// ---- The journal.

// A fresh engine of the same deployment, `crashed`'s journal replayed into
// it at `crashed`'s time.
struct Recovered {
  explicit Recovered(const Meet& crashed, const std::vector<v1::Standing>& standings,
                     bool with_boxes = true)
      : m(standings) {
    m.h.advance_to(crashed.h.now());
    const auto& boxes = crashed.h.boxes();
    const BoxLookup lookup = [&](uint64_t c, uint64_t mt, uint64_t v) -> const v1::BallotBox* {
      auto it = boxes.find({c, mt, v});
      return with_boxes && it != boxes.end() ? &it->second : nullptr;
    };
    m.h.engine().recover(m.h.now(), crashed.h.journal(), lookup, &stats);
    m.h.drain();
  }
  Meet m;
  RecoveryStats stats;
};

// A meeting with everything in it, left with a secret vote open.
void hold_meeting(Meet& m) {
  m.join(kChair);
  m.ok(kChair, msg::excuse(6, "at sea"));
  m.open();
  m.join_range(2, 5);
  m.ok(kChair, msg::advance_agenda());
  m.ok(3, msg::request_floor("quotas"));
  m.ok(kChair, msg::grant_floor(3));
  m.vote(1, v1::VOTE_KIND_RESOLUTION, {{1, CHOICE_YES}, {2, CHOICE_NO}, {4, CHOICE_YES}});
  m.drop(5);
  m.vote(2, v1::VOTE_KIND_ELECTION, {{2, CHOICE_YES}, {3, CHOICE_ABSTAIN}});
  m.ok(kChair, msg::open_vote(3, v1::VOTE_KIND_DISCIPLINE));
  for (auto [who, c] : {std::pair{1, CHOICE_NO}, {3, CHOICE_YES}, {4, CHOICE_NO}}) {
    ASSERT_TRUE(m.cast(who, 3, c, 300 + who).has_value());
  }
}

// Shows replaying the journal rebuilds the meeting exactly: the same
// snapshot, ballots, tallies and minutes; the open secret vote with its
// counted ballots; and both copies close it to the same result.
TEST(Journal, ReplayRebuildsTheMeeting) {
  const auto standings = officials(6);
  Meet m(standings);
  hold_meeting(m);
  Recovered r(m, standings);
  EXPECT_EQ(r.stats.records_skipped, 0u) << (r.stats.warnings.empty() ? "" : r.stats.warnings[0]);
  EXPECT_EQ(r.stats.meetings_restored, 1u);
  // The public ballots of vote 1, the boxes of votes 2 and 3.
  EXPECT_EQ(r.stats.ballots_restored, 3u + 2u + 3u);
  const Meeting* a = m.h.meeting(kCell);
  const Meeting* b = r.m.h.meeting(kCell);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->id(), a->id());
  EXPECT_EQ(b->snapshot().SerializeAsString(), a->snapshot().SerializeAsString());
  EXPECT_EQ(b->ballots_counted(), a->ballots_counted());
  EXPECT_EQ(b->tally_total(), a->tally_total());
  for (uint64_t x = 1; x <= 6; ++x) EXPECT_EQ(b->counted_votes(x), a->counted_votes(x)) << x;
  std::string why;
  EXPECT_TRUE(b->check_invariants(&why)) << why;
  // Recovered minutes: interrupted, recovered, the open vote's voters, no tally.
  ASSERT_EQ(r.m.h.minutes().size(), 1u);
  const v1::Minutes& rec = r.m.h.minutes()[0];
  EXPECT_TRUE(rec.recovered() && rec.interrupted());
  EXPECT_EQ(rec.votes_size(), 2);
  EXPECT_EQ(rec.open_vote().vote_id(), 3u);
  EXPECT_EQ(std::vector<uint64_t>(rec.open_vote().voters().begin(), rec.open_vote().voters().end()),
            (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(rec.open_vote().public_ballots_size(), 0);
  v1::Minutes original = a->interrupted_minutes(m.h.now_ms());
  original.set_recovered(true);
  EXPECT_EQ(rec.SerializeAsString(), original.SerializeAsString());
  // The chair comes back and both close the vote the same way.
  r.m.join(kChair);
  EXPECT_EQ(r.m.close(3).SerializeAsString(), m.close(3).SerializeAsString());
}

// Shows the journal never holds a secret ballot, and the box holds the roll
// by member id (not by the order of voting) and the tally.
TEST(Journal, SecretBallotsAreNotJournaled) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_ELECTION));
  for (uint64_t x : {4, 2, 3}) ASSERT_TRUE(m.cast(x, 1, x == 2 ? CHOICE_NO : CHOICE_YES, x).has_value());
  for (const auto& rec : m.h.journal()) EXPECT_FALSE(rec.has_ballot()) << rec.DebugString();
  ASSERT_EQ(m.h.boxes().size(), 1u);
  const v1::BallotBox& box = m.h.boxes().begin()->second;
  ASSERT_EQ(box.roll_size(), 3);
  EXPECT_EQ(box.roll(0).member_id(), 2u);
  EXPECT_EQ(box.roll(1).member_id(), 3u);
  EXPECT_EQ(box.roll(2).member_id(), 4u);
  EXPECT_EQ(box.tally().yes(), 2u);
  EXPECT_EQ(box.tally().no(), 1u);
}

// Shows a box that does not fit its vote (a tally that does not add up) is
// not restored, and recovery says so.
TEST(Journal, ABadBoxIsRefused) {
  const auto standings = officials(4);
  Meet m(standings);
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_ELECTION));
  ASSERT_TRUE(m.cast(2, 1, CHOICE_YES, 2).has_value());
  Recovered r(m, standings, /*with_boxes=*/false);
  EXPECT_EQ(r.m.h.meeting(kCell)->ballots_counted(), 0u);  // no box: no ballots
  v1::BallotBox box = m.h.boxes().begin()->second;
  box.mutable_tally()->set_no(5);
  Meet fresh(standings);
  fresh.h.advance_to(m.h.now());
  RecoveryStats stats;
  fresh.h.engine().recover(fresh.h.now(), m.h.journal(),
                           [&](uint64_t, uint64_t, uint64_t) { return &box; }, &stats);
  fresh.h.drain();
  EXPECT_EQ(stats.records_skipped, 1u);
  EXPECT_EQ(fresh.h.meeting(kCell)->ballots_counted(), 0u);
}

// Shows meeting ids continue after recovery, members present at the crash
// stay present while they join again (quorum kept), and those who do not
// come back within one liveness window become absent.
TEST(Journal, IdsContinueAndMembersRejoin) {
  const auto standings = officials(4);
  Meet m(standings);
  m.open();
  m.join_range(2, 4);
  m.ok(kChair, msg::close_meeting());
  m.join(kChair);  // the next meeting, gathering
  m.join_range(2, 3);
  const uint64_t id = m.h.meeting(kCell)->id();
  Recovered r(m, standings);
  EXPECT_EQ(r.m.h.meeting(kCell)->id(), id);
  EXPECT_TRUE(r.m.q().quorate());
  r.m.join(kChair);
  r.m.join(2);
  EXPECT_TRUE(r.m.q().quorate());
  r.m.pass_ms(int64_t{m.h.settings().rules.heartbeat_interval_ms} * 4);
  EXPECT_FALSE(r.m.h.meeting(kCell)->is_present(3));  // never came back
  EXPECT_TRUE(r.m.h.meeting(kCell)->is_present(2));
  r.m.ok(kChair, msg::open_meeting("after the restart", kChair, {}));
  r.m.ok(kChair, msg::close_meeting());
  r.m.join(kChair);
  EXPECT_EQ(r.m.h.meeting(kCell)->id(), id + 1);
}

// ---- Assertions.

// Shows CELLSIM_ASSERT fires in every build type: this test runs in the
// default RelWithDebInfo build, where NDEBUG turns assert() off.
TEST(AssertDeathTest, FiresInEveryBuild) {
#ifdef NDEBUG
  const bool ndebug = true;
#else
  const bool ndebug = false;
#endif
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  const int three = 3;
  EXPECT_DEATH(CELLSIM_ASSERT(1 + 1 == three), "assertion failed at .*integrity_test.cc");
  RecordProperty("ndebug", ndebug ? "1" : "0");
}

// With a context (as sim::simulate() sets one), a failed assertion names
// what reproduces it and exits with the context's status (3 in cellsim run);
// the context ends with its scope.
TEST(AssertDeathTest, ContextNamesTheSeedAndExitStatus) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  const int three = 3;
  EXPECT_EXIT(
      {
        ScopedAssertionContext context("seed 7 reproduces it: cellsim run S --seed 7", 3);
        CELLSIM_ASSERT(1 + 1 == three);
      },
      ::testing::ExitedWithCode(3), "assertion failed at .*\n.*seed 7 reproduces it");
  { ScopedAssertionContext context("inner", 5); }
  EXPECT_EQ(assertion_context().exit_status, 0);
  EXPECT_EQ(assertion_context().note, nullptr);
}

}  // namespace
}  // namespace cellsim::engine::testing
