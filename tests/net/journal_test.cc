// cellmeetd's journal (server/net/journal.h) over TCP: a restarted server
// resumes an open meeting with its counted ballots, the journal rotates to
// the open meetings' records, and a torn or corrupt tail is cut at the last
// whole record. Every wait is bounded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/net/journal.h"
#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = ::testing::TempDir() + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> current_files(const fs::path& dir) {
  std::ifstream in(dir / "journal" / "CURRENT");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

v1::Envelope chair_command(int which, uint64_t arg) {
  v1::Envelope e;
  switch (which) {
    case 0: e.mutable_open_meeting()->set_reason("journal test"); break;
    case 1: e.mutable_open_vote()->set_vote_id(arg), e.mutable_open_vote()->set_kind(v1::VOTE_KIND_RESOLUTION); break;
    case 2: e.mutable_close_vote()->set_vote_id(arg); break;
    case 3: e.mutable_grant_floor()->set_member_id(arg); break;
  }
  return e;
}

bool cast(TestClient* c, uint64_t vote, v1::Choice choice, uint64_t ballot, v1::BallotAck* ack) {
  v1::Envelope e;
  e.mutable_cast_ballot()->set_vote_id(vote);
  e.mutable_cast_ballot()->set_choice(choice);
  e.mutable_cast_ballot()->set_ballot_id(ballot);
  v1::Envelope a;
  if (!c->send(e) || !c->read_until(v1::Envelope::kBallotAck, &a)) return false;
  *ack = a.ballot_ack();
  return true;
}

// Shows a meeting with a vote open survives a stop and a start: the members
// join again, each is told its ballot is counted, a resent ballot is a
// duplicate, and the vote closes with the ballots cast before the stop. The
// journal was rotated many times on the way (a small bound), and each
// shard's log stays small.
TEST(JournalTest, RotatedJournalResumesTheMeeting) {
  const fs::path dir = fresh_dir("cellmeetd_journal");
  auto options = [&] {
    ServerOptions o = test_options();
    o.minutes_dir = dir.string();
    o.journal_rotate_bytes = 1024;
    return o;
  };
  {
    auto server = start_or_fail(options());
    TestClient chair, m2, m3;
    ASSERT_TRUE(login(&chair, server->port(), kCellA, kChair) && join(&chair));
    ASSERT_TRUE(login(&m2, server->port(), kCellA, 2) && join(&m2));
    ASSERT_TRUE(login(&m3, server->port(), kCellA, 3) && join(&m3));
    v1::Envelope env;
    ASSERT_TRUE(chair.send(chair_command(0, 0)));
    for (uint64_t v = 1; v <= 20; ++v) {  // 20 votes: many records, many rotations
      ASSERT_TRUE(chair.send(chair_command(1, v)));
      ASSERT_TRUE(chair.read_until(v1::Envelope::kVoteOpened, &env));
      v1::BallotAck ack;
      ASSERT_TRUE(cast(&m2, v, v1::CHOICE_YES, 1000 + v, &ack));
      if (v == 20) break;  // the last stays open
      ASSERT_TRUE(chair.send(chair_command(2, v)));
      ASSERT_TRUE(chair.read_until(v1::Envelope::kVoteClosed, &env));
    }
    v1::BallotAck ack;
    ASSERT_TRUE(cast(&m3, 20, v1::CHOICE_NO, 3020, &ack));
    server->stop();
  }
  const auto files = current_files(dir);
  ASSERT_EQ(files.size(), 2u);  // one per shard
  bool rotated = false;
  for (const auto& f : files) {
    rotated |= f.find("-r") != std::string::npos;
    EXPECT_LT(fs::file_size(dir / "journal" / f), 64u * 1024) << f;
  }
  EXPECT_TRUE(rotated) << "no shard rotated its log";

  auto server = start_or_fail(options());
  TestClient chair, m2, m3;
  ASSERT_TRUE(login(&chair, server->port(), kCellA, kChair));
  ASSERT_TRUE(login(&m2, server->port(), kCellA, 2));
  ASSERT_TRUE(login(&m3, server->port(), kCellA, 3));
  v1::Envelope st;
  v1::Envelope join_env;
  join_env.mutable_join_meeting();
  ASSERT_TRUE(m3.send(join_env) && m3.read_until(v1::Envelope::kMeetingState, &st));
  EXPECT_EQ(st.meeting_state().phase(), v1::MEETING_PHASE_OPEN);
  EXPECT_EQ(st.meeting_state().open_vote_id(), 20u);
  EXPECT_EQ(st.meeting_state().my_counted_votes_size(), 1);
  ASSERT_TRUE(m2.send(join_env) && m2.read_until(v1::Envelope::kMeetingState, &st));
  EXPECT_EQ(st.meeting_state().my_counted_votes_size(), 20);  // every vote it voted in
  ASSERT_TRUE(chair.send(join_env) && chair.read_until(v1::Envelope::kMeetingState, &st));
  v1::BallotAck ack;
  ASSERT_TRUE(cast(&m3, 20, v1::CHOICE_NO, 3020, &ack));
  EXPECT_TRUE(ack.duplicate());
  ASSERT_TRUE(chair.send(chair_command(2, 20)));
  v1::Envelope closed;
  ASSERT_TRUE(chair.read_until(v1::Envelope::kVoteClosed, &closed));
  EXPECT_EQ(closed.vote_closed().tally().yes(), 1u);
  EXPECT_EQ(closed.vote_closed().tally().no(), 1u);
  server->stop();
  fs::remove_all(dir);
}

std::string framed(const std::vector<v1::JournalRecord>& records) {
  std::string out;
  for (const auto& r : records) append_journal_record(r.SerializeAsString(), &out);
  return out;
}

// Shows a log whose last record was cut short (a crash mid-write) or whose
// bytes were damaged is read up to the last whole, intact record.
TEST(JournalTest, TornAndCorruptTailsAreCut) {
  std::vector<v1::JournalRecord> records(5);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].set_cell_id(1);
    records[i].set_meeting_id(1);
    records[i].set_at_ms(static_cast<int64_t>(i));
    records[i].set_present(true);
  }
  const std::string bytes = framed(records);
  for (size_t cut = 1; cut < 12; ++cut) {
    std::vector<v1::JournalRecord> got;
    bool torn = false;
    parse_journal_bytes(std::string_view(bytes).substr(0, bytes.size() - cut), &got, &torn);
    EXPECT_TRUE(torn);
    EXPECT_EQ(got.size(), 4u) << "cut " << cut;
  }
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 0x40;
  std::vector<v1::JournalRecord> got;
  bool torn = false;
  parse_journal_bytes(damaged, &got, &torn);
  EXPECT_TRUE(torn);
  EXPECT_LT(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].at_ms(), static_cast<int64_t>(i));
  got.clear();
  parse_journal_bytes(bytes, &got, &torn);
  EXPECT_FALSE(torn);
  EXPECT_EQ(got.size(), 5u);
}

// Shows a start on a folder whose journal is damaged still starts, keeping
// what the whole records say, and says what it cut.
TEST(JournalTest, AStartSurvivesADamagedJournal) {
  const fs::path dir = fresh_dir("cellmeetd_journal_damaged");
  {
    ServerOptions o = test_options();
    o.minutes_dir = dir.string();
    auto server = start_or_fail(std::move(o));
    TestClient chair;
    ASSERT_TRUE(login(&chair, server->port(), kCellA, kChair) && join(&chair));
    ASSERT_TRUE(chair.send(chair_command(0, 0)));
    v1::Envelope env;
    ASSERT_TRUE(chair.read_until(v1::Envelope::kMeetingState, &env));
    server->stop();
  }
  for (const auto& f : current_files(dir)) {  // append half a record to every log
    std::ofstream out(dir / "journal" / f, std::ios::app | std::ios::binary);
    out << std::string("\x00\x00\x01\x00garbage", 11);
  }
  ServerOptions o = test_options();
  o.minutes_dir = dir.string();
  auto server = start_or_fail(std::move(o));
  TestClient chair;
  ASSERT_TRUE(login(&chair, server->port(), kCellA, kChair) && join(&chair));
  server->stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cellsim::net::testing
