// Shows that a whole meeting works over TCP against cellmeetd on an ephemeral
// loopback port: 12 members (9 official including the chair, 2 probationary,
// 1 exempted), quorum reached, a resolution passed, an admission vote failing
// on the 2/3 rule, a secret election, the meeting closed, complete minutes,
// and the minutes persisted by the server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/net/server.h"
#include "tools/demo/demo_meeting.h"

namespace cellsim {
namespace {

namespace fs = std::filesystem;

const std::string kKey = "integration-test-key-0123456789abcdef";

class DemoMeetingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    minutes_dir_ = fs::temp_directory_path() /
                   ("cellsim-it-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                    "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(minutes_dir_);
    fs::create_directories(minutes_dir_);
    net::ServerOptions o;
    o.port = 0;
    o.metrics_enabled = false;
    o.threads = 2;
    o.key = kKey;
    o.minutes_dir = minutes_dir_.string();
    *o.deployment.add_cells() = demo::demo_roster();
    server_ = std::make_unique<net::Server>(o);
    std::string why;
    ASSERT_TRUE(server_->start(&why)) << why;
  }
  void TearDown() override {
    if (server_) server_->stop();
    fs::remove_all(minutes_dir_);
  }
  demo::DemoResult run() {
    demo::DemoOptions o;
    o.port = server_->port();
    o.key = kKey;
    o.log = &log_;
    return demo::run_demo_meeting(o);
  }

  fs::path minutes_dir_;
  std::unique_ptr<net::Server> server_;
  std::ostringstream log_;
};

TEST_F(DemoMeetingTest, WholeMeetingOverTcp) {
  const demo::DemoResult r = run();
  ASSERT_TRUE(r.ok) << r.error << "\n" << log_.str();
  EXPECT_TRUE(r.quorum_reached);
  // D = 8 officials not excused + the exempted member present = 9; 6 needed.
  EXPECT_TRUE(r.quorum_at_open.quorate());
  EXPECT_EQ(r.quorum_at_open.denominator(), 9u);
  EXPECT_EQ(r.quorum_at_open.present_in_d(), 9u);
  EXPECT_EQ(r.quorum_at_open.required(), 6u);

  ASSERT_EQ(r.votes.size(), 3u);
  const auto& resolution = r.votes[0];
  EXPECT_TRUE(resolution.passed());
  EXPECT_TRUE(resolution.valid());
  EXPECT_EQ(resolution.tally().yes(), 7u);
  EXPECT_EQ(resolution.yes_required(), 5u);  // > 1/2 of D = 9

  const auto& admission = r.votes[1];
  EXPECT_FALSE(admission.passed()) << "6 yes of 10 official members is under 2/3";
  EXPECT_TRUE(admission.valid());
  EXPECT_EQ(admission.tally().yes(), 6u);
  EXPECT_EQ(admission.threshold_base(), 10u);  // 9 official + 1 exempted
  EXPECT_EQ(admission.yes_required(), 7u);

  const auto& election = r.votes[2];
  EXPECT_TRUE(election.passed());
  EXPECT_EQ(election.tally().yes(), 7u) << "the resent ballot is counted once";
  EXPECT_EQ(election.voters_size(), 9);

  EXPECT_EQ(r.probationary_refusal.code(), v1::ERROR_NOT_ELIGIBLE_TO_VOTE);
  EXPECT_TRUE(r.resent_ballot_acked_as_duplicate);
}

TEST_F(DemoMeetingTest, MinutesCompleteAndPersisted) {
  const demo::DemoResult r = run();
  ASSERT_TRUE(r.ok) << r.error << "\n" << log_.str();
  const v1::Minutes& m = r.minutes;
  EXPECT_TRUE(r.minutes_gaps.empty());
  EXPECT_EQ(m.chair_name(), "Nguyễn Văn An");
  EXPECT_EQ(m.minute_taker_name(), "Trần Thị Bình");
  EXPECT_TRUE(m.recorded());
  EXPECT_EQ(m.attendees_size(), 11);
  ASSERT_EQ(m.absences_size(), 1);
  EXPECT_EQ(m.absences(0).member_id(), 9u);
  EXPECT_TRUE(m.absences(0).excused());
  EXPECT_FALSE(m.absences(0).reason().empty());
  ASSERT_EQ(m.votes_size(), 3);
  EXPECT_EQ(m.votes(0).method(), v1::VOTE_METHOD_SHOW_OF_HANDS);
  EXPECT_EQ(m.votes(0).public_ballots_size(), 9);
  EXPECT_EQ(m.votes(2).method(), v1::VOTE_METHOD_SECRET_BALLOT);
  EXPECT_EQ(m.votes(2).public_ballots_size(), 0) << "a secret ballot lists no choices";
  bool speaker_named = false;
  for (const auto& p : m.proceedings()) speaker_named |= p.member_name() == "Lê Văn Cường";
  EXPECT_TRUE(speaker_named) << "the member given the floor is named in the proceedings";

  // The server keeps the minutes on disk.
  server_->stop();
  int files = 0;
  std::string json;
  for (const auto& e : fs::directory_iterator(minutes_dir_)) {
    if (!e.is_regular_file()) continue;  // journal/: the server's journal
    ++files;
    std::ifstream in(e.path());
    json.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(files, 1);
  EXPECT_NE(json.find("Chi bộ Giàn khoan Bạch Hổ"), std::string::npos);
}

}  // namespace
}  // namespace cellsim
