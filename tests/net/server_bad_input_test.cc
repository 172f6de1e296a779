// Bad input over TCP: each case is answered with an Error frame carrying the
// right code. Protocol errors are followed by the server closing the
// connection (EOF); rule refusals are not (the session goes on). Meanwhile
// two authenticated witnesses, one per shard, keep being served: each sends
// a Heartbeat after every bad case and gets its HeartbeatAck.
#include <gtest/gtest.h>

#include <thread>

#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_or_fail(test_options());
    port_ = server_->port();
    ASSERT_TRUE(login(&witness_a_, port_, kCellA, 5));
    ASSERT_TRUE(login(&witness_b_, port_, kCellB, 3));
  }

  void TearDown() override { expect_witnesses_served(); }

  void expect_witnesses_served() {
    EXPECT_TRUE(heartbeat_ok(&witness_a_, ++seq_)) << "witness on shard 1 not served";
    EXPECT_TRUE(heartbeat_ok(&witness_b_, ++seq_)) << "witness on shard 0 not served";
  }

  // Sends `bytes` on a new connection: expects an Error with `code`, then EOF.
  void expect_protocol_error(const std::string& bytes, v1::ErrorCode code) {
    TestClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_raw(bytes));
    EXPECT_EQ(c.read_error(), code) << v1::ErrorCode_Name(code);
    EXPECT_TRUE(c.wait_eof()) << "connection not closed after " << v1::ErrorCode_Name(code);
    expect_witnesses_served();
  }

  // Sends `request` on an authenticated connection: expects a refusal with
  // `code`, and the connection still served afterwards.
  void expect_refusal(TestClient* c, const v1::Envelope& request, v1::ErrorCode code) {
    ASSERT_TRUE(c->send(request));
    EXPECT_EQ(c->read_error(), code) << v1::ErrorCode_Name(code);
    EXPECT_TRUE(heartbeat_ok(c, ++seq_)) << "session ended after " << v1::ErrorCode_Name(code);
    expect_witnesses_served();
  }

  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  TestClient witness_a_;
  TestClient witness_b_;
  uint64_t seq_ = 0;
};

std::string hello_frame(uint64_t cell, uint64_t member, const std::string& token) {
  return wire::encode_frame(hello_envelope(cell, member, token));
}

TEST_F(BadInputTest, GarbageBytesAreAMalformedFrame) {
  expect_protocol_error(frame_header(10) + std::string(10, '\xff'), v1::ERROR_MALFORMED_FRAME);
}

TEST_F(BadInputTest, LengthOverTheMaximumIsRefusedOnTheHeaderAlone) {
  // Only the header is sent: the answer cannot wait for (or buffer) the payload.
  expect_protocol_error(frame_header(0xffffffffu), v1::ERROR_FRAME_TOO_LARGE);
  expect_protocol_error(frame_header(wire::kDefaultMaxFrameBytes + 1), v1::ERROR_FRAME_TOO_LARGE);
}

TEST_F(BadInputTest, LengthOverTheMaximumWithPayloadStillGetsItsError) {
  // The client keeps sending after the oversized header; the lingering close
  // must not reset the connection before the Error is read.
  expect_protocol_error(frame_header(1u << 30) + std::string(32 * 1024, 'x'),
                        v1::ERROR_FRAME_TOO_LARGE);
}

TEST_F(BadInputTest, AFrameBeforeHelloIsNotAuthenticated) {
  expect_protocol_error(wire::encode_frame(heartbeat_envelope(1)), v1::ERROR_NOT_AUTHENTICATED);
  expect_protocol_error(frame_header(0), v1::ERROR_NOT_AUTHENTICATED);  // an empty Envelope
}

TEST_F(BadInputTest, ABadTokenIsRefused) {
  expect_protocol_error(hello_frame(kCellA, 2, "not a token"), v1::ERROR_TOKEN_INVALID);
  std::string forged = member_token(kCellA, 2);
  forged.back() = static_cast<char>(forged.back() ^ 1);  // a byte of the MAC
  expect_protocol_error(hello_frame(kCellA, 2, forged), v1::ERROR_TOKEN_INVALID);
  const std::string other_key_token =
      make_token(std::string(32, 'k'), kCellA, 2, v1::STANDING_OFFICIAL, v1::ROLE_MEMBER);
  expect_protocol_error(hello_frame(kCellA, 2, other_key_token), v1::ERROR_TOKEN_INVALID);
}

TEST_F(BadInputTest, AnExpiredTokenIsRefused) {
  expect_protocol_error(hello_frame(kCellA, 2, member_token(kCellA, 2, /*ttl_ms=*/-1000)),
                        v1::ERROR_TOKEN_EXPIRED);
}

TEST_F(BadInputTest, AnotherCellsTokenIsRefused) {
  // Routed by the Hello's cell (A, shard 1); the token is for cell B.
  expect_protocol_error(hello_frame(kCellA, 2, member_token(kCellB, 2)),
                        v1::ERROR_TOKEN_WRONG_CELL);
}

TEST_F(BadInputTest, AnUnknownCellIsRefused) {
  const std::string token = make_token(test_key(), 99, 2, v1::STANDING_OFFICIAL, v1::ROLE_MEMBER);
  expect_protocol_error(hello_frame(99, 2, token), v1::ERROR_UNKNOWN_CELL);
}

TEST_F(BadInputTest, AnUnknownMajorVersionIsRefused) {
  v1::Envelope env = hello_envelope(kCellA, 2, member_token(kCellA, 2));
  env.mutable_hello()->set_version_major(2);
  expect_protocol_error(wire::encode_frame(env), v1::ERROR_UNSUPPORTED_VERSION);
}

TEST_F(BadInputTest, ASecondHelloIsRefused) {
  TestClient c;
  ASSERT_TRUE(login(&c, port_, kCellA, 2));
  ASSERT_TRUE(c.send(hello_envelope(kCellA, 2, member_token(kCellA, 2))));
  EXPECT_EQ(c.read_error(), v1::ERROR_DUPLICATE_HELLO);
  EXPECT_TRUE(c.wait_eof());
}

TEST_F(BadInputTest, AProbationaryMembersBallotIsRefusedAndTheSessionGoesOn) {
  TestClient p;
  ASSERT_TRUE(login(&p, port_, kCellA, kProbationary));
  ASSERT_TRUE(join(&p));
  v1::Envelope ballot;
  ballot.mutable_cast_ballot()->set_vote_id(1);
  ballot.mutable_cast_ballot()->set_choice(v1::CHOICE_YES);
  ballot.mutable_cast_ballot()->set_ballot_id(1);
  expect_refusal(&p, ballot, v1::ERROR_NOT_ELIGIBLE_TO_VOTE);
}

TEST_F(BadInputTest, BallotsForAClosedOrUnknownVoteAreRefusedAndTheSessionGoesOn) {
  TestClient chair, member;
  ASSERT_TRUE(login(&chair, port_, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&member, port_, kCellA, 2));
  ASSERT_TRUE(join(&member));
  v1::Envelope env;
  env.mutable_open_meeting()->set_reason("monthly meeting");
  env.mutable_open_meeting()->add_agenda("resolution");
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_open_vote()->set_vote_id(7);
  env.mutable_open_vote()->set_kind(v1::VOTE_KIND_RESOLUTION);
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_close_vote()->set_vote_id(7);
  ASSERT_TRUE(chair.send(env));
  ASSERT_TRUE(member.read_until(v1::Envelope::kVoteClosed, &env));

  v1::Envelope ballot;
  ballot.mutable_cast_ballot()->set_vote_id(7);
  ballot.mutable_cast_ballot()->set_choice(v1::CHOICE_YES);
  ballot.mutable_cast_ballot()->set_ballot_id(1);
  expect_refusal(&member, ballot, v1::ERROR_VOTE_CLOSED);
  ballot.mutable_cast_ballot()->set_vote_id(99);
  expect_refusal(&member, ballot, v1::ERROR_UNKNOWN_VOTE);
}

TEST_F(BadInputTest, AChairCommandFromANonChairIsRefusedAndTheSessionGoesOn) {
  TestClient member;
  ASSERT_TRUE(login(&member, port_, kCellA, 2));
  ASSERT_TRUE(join(&member));
  v1::Envelope env;
  env.mutable_open_meeting()->set_reason("not mine to open");
  expect_refusal(&member, env, v1::ERROR_NOT_CHAIR);
  env.Clear();
  env.mutable_open_vote()->set_vote_id(1);
  env.mutable_open_vote()->set_kind(v1::VOTE_KIND_RESOLUTION);
  expect_refusal(&member, env, v1::ERROR_NOT_CHAIR);
}

TEST_F(BadInputTest, AHelloSentOneByteAtATimeIsRoutedAndWelcomed) {
  TestClient c;
  ASSERT_TRUE(c.connect(port_));
  for (char byte : hello_frame(kCellA, 2, member_token(kCellA, 2))) {
    ASSERT_TRUE(c.send_raw(std::string(1, byte)));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  v1::Envelope env;
  ASSERT_TRUE(c.read_until(v1::Envelope::kWelcome, &env));
  EXPECT_TRUE(heartbeat_ok(&c, 1));
}

TEST_F(BadInputTest, FramesSentWithTheHelloReachTheEngineAfterRouting) {
  // Hello and two heartbeats in one write: the bytes read before the socket
  // moved to its shard must all reach that shard's engine, in order.
  TestClient c;
  ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(c.send_raw(hello_frame(kCellA, 3, member_token(kCellA, 3)) +
                         wire::encode_frame(heartbeat_envelope(41)) +
                         wire::encode_frame(heartbeat_envelope(42))));
  v1::Envelope env;
  ASSERT_TRUE(c.read_until(v1::Envelope::kWelcome, &env));
  ASSERT_TRUE(c.read_until(v1::Envelope::kHeartbeatAck, &env));
  EXPECT_EQ(env.heartbeat_ack().seq(), 41u);
  ASSERT_TRUE(c.read_until(v1::Envelope::kHeartbeatAck, &env));
  EXPECT_EQ(env.heartbeat_ack().seq(), 42u);
}

TEST_F(BadInputTest, RandomBytesNeverCrashTheServer) {
  // Deterministic pseudo-random garbage of many shapes on fresh connections.
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 40; ++i) {
    TestClient c;
    ASSERT_TRUE(c.connect(port_));
    const uint32_t len = static_cast<uint32_t>(next() % 64);
    std::string bytes = frame_header(len);
    for (uint32_t j = 0; j < len; ++j) bytes.push_back(static_cast<char>(next()));
    ASSERT_TRUE(c.send_raw(bytes));
    EXPECT_NE(c.read_error(), v1::ERROR_CODE_UNSPECIFIED) << "case " << i;
    EXPECT_TRUE(c.wait_eof()) << "case " << i;
  }
}

}  // namespace
}  // namespace cellsim::net::testing
