// The wire protocol's two kinds of refusal (DESIGN.md, "Wire protocol"): a
// broken protocol is answered with an Error and the connection closed; a
// request the rules refuse is answered and the session goes on. And the
// server never crashes on input.
#include <gtest/gtest.h>

#include <set>

#include <random>
#include <string>

#include "tests/engine/meeting_fixture.h"

namespace cellsim::engine::testing {
namespace {

// Expects `conn` closed by the engine after an Error with `code`.
void expect_closed_with(const Harness& h, ConnId conn, v1::ErrorCode code) {
  EXPECT_TRUE(h.closed_by_engine(conn));
  const auto err = h.close_error(conn);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), code) << err->reason();
  EXPECT_FALSE(err->reason().empty());
}

class Protocol : public ::testing::Test {
 protected:
  Protocol() : m(officials(4)) {}
  Meet m;
};

// Anything before a good Hello closes the connection with ERROR_NOT_AUTHENTICATED.
TEST_F(Protocol, FrameBeforeHello) {
  const ConnId c = m.h.connect();
  const v1::Envelope a = m.h.request(c, msg::join());
  ASSERT_TRUE(a.has_error());
  expect_closed_with(m.h, c, v1::ERROR_NOT_AUTHENTICATED);
  EXPECT_EQ(m.h.engine().connection_count(), 0u);
  // Bytes after the close are ignored.
  m.h.send(c, msg::heartbeat(1));
  EXPECT_EQ(m.h.received(c).size(), 1u);
}

// A Hello with an unknown major version is refused clearly and the connection closed.
TEST_F(Protocol, UnsupportedVersion) {
  const ConnId c = m.h.connect();
  m.h.send(c, msg::hello(kCell, 2, m.h.token_for(kCell, 2), {}, 2));
  expect_closed_with(m.h, c, v1::ERROR_UNSUPPORTED_VERSION);
}

// Bad tokens close the connection with the token's error.
TEST_F(Protocol, BadTokens) {
  struct Case {
    const char* what;
    std::string token;
    uint64_t hello_cell, hello_member;
    v1::ErrorCode want;
  };
  v1::TokenClaims good;
  good.set_cell_id(kCell);
  good.set_member_id(2);
  good.set_standing(v1::STANDING_OFFICIAL);
  good.set_role(v1::ROLE_MEMBER);
  good.set_expires_at_ms(m.h.now_ms() + 1000);
  v1::TokenClaims expired = good;
  expired.set_expires_at_ms(m.h.now_ms());
  v1::TokenClaims wrong_standing = good;
  wrong_standing.set_standing(v1::STANDING_PROBATIONARY);
  v1::TokenClaims chair_claim = good;
  chair_claim.set_role(v1::ROLE_CHAIR);
  v1::TokenClaims other_cell = good;
  other_cell.set_cell_id(kCell + 1);
  v1::TokenClaims unknown_member = good;
  unknown_member.set_member_id(99);
  const Case cases[] = {
      {"garbage", "garbage", kCell, 2, v1::ERROR_TOKEN_INVALID},
      {"empty", "", kCell, 2, v1::ERROR_TOKEN_INVALID},
      {"other key", mint_token("another-key-0123456789abcdef", good), kCell, 2,
       v1::ERROR_TOKEN_INVALID},
      {"expired", m.h.mint(expired), kCell, 2, v1::ERROR_TOKEN_EXPIRED},
      {"other cell", m.h.mint(other_cell), kCell, 2, v1::ERROR_TOKEN_WRONG_CELL},
      {"other member", m.h.mint(good), kCell, 3, v1::ERROR_TOKEN_INVALID},
      {"standing disagrees with roster", m.h.mint(wrong_standing), kCell, 2,
       v1::ERROR_TOKEN_INVALID},
      {"role disagrees with roster", m.h.mint(chair_claim), kCell, 2, v1::ERROR_TOKEN_INVALID},
      {"member not on roster", m.h.mint(unknown_member), kCell, 99, v1::ERROR_TOKEN_INVALID},
      {"cell the server does not hold", m.h.mint(other_cell), kCell + 1, 2,
       v1::ERROR_UNKNOWN_CELL},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    const ConnId c = m.h.connect();
    m.h.send(c, msg::hello(k.hello_cell, k.hello_member, k.token));
    expect_closed_with(m.h, c, k.want);
  }
  EXPECT_EQ(m.h.engine().connection_count(), 0u);
}

// A declared length over the maximum closes the connection with ERROR_FRAME_TOO_LARGE.
TEST_F(Protocol, FrameTooLarge) {
  const ConnId c = m.login(2);
  char h[wire::kFrameHeaderBytes];
  wire::put_header(m.h.settings().max_frame_bytes + 1, h);
  m.h.send_bytes(c, std::string_view(h, sizeof h));
  expect_closed_with(m.h, c, v1::ERROR_FRAME_TOO_LARGE);
}

// The maximum frame size is a setting.
TEST(ProtocolSettings, MaxFrameBytesIsASetting) {
  EngineSettings s;
  s.max_frame_bytes = 512;
  Meet m(officials(3), s);
  const ConnId c = m.join(2);
  m.h.send(c, msg::media(1, std::string(400, 'a')));  // fits
  EXPECT_TRUE(m.h.is_open(c));
  m.h.send(c, msg::media(2, std::string(600, 'a')));
  expect_closed_with(m.h, c, v1::ERROR_FRAME_TOO_LARGE);
}

// Bytes that do not parse as an Envelope close the connection with ERROR_MALFORMED_FRAME.
TEST_F(Protocol, MalformedFrame) {
  const ConnId c = m.login(2);
  std::string frame(wire::kFrameHeaderBytes, '\0');
  const std::string junk = "\xff\xff\xff\xff\xff";
  wire::put_header(static_cast<uint32_t>(junk.size()), frame.data());
  m.h.send_bytes(c, frame + junk);
  expect_closed_with(m.h, c, v1::ERROR_MALFORMED_FRAME);
}

// A second Hello on an authenticated session closes it with ERROR_DUPLICATE_HELLO.
TEST_F(Protocol, DuplicateHello) {
  const ConnId c = m.join(2);
  m.h.hello(c, kCell, 2);
  expect_closed_with(m.h, c, v1::ERROR_DUPLICATE_HELLO);
  EXPECT_FALSE(m.h.meeting(kCell)->is_present(2));
}

// Rule refusals keep the session: a chair command from a member, requests before joining,
// a zero-length frame, and a server push sent by a client.
TEST_F(Protocol, RuleRefusalsKeepSession) {
  m.join(kChair);
  const ConnId c = m.login(2);
  m.refused(2, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION), v1::ERROR_NOT_JOINED);
  m.refused(2, msg::media(1, "x"), v1::ERROR_NOT_JOINED);
  ASSERT_TRUE(m.h.request(c, msg::join()).has_meeting_state());
  m.refused(2, msg::open_meeting("x", 2), v1::ERROR_NOT_CHAIR);
  m.refused(2, msg::close_meeting(), v1::ERROR_NOT_CHAIR);
  m.refused(2, msg::advance_agenda(), v1::ERROR_NOT_CHAIR);
  m.refused(2, msg::grant_floor(2), v1::ERROR_NOT_CHAIR);
  m.refused(2, msg::request_floor("x"), v1::ERROR_MEETING_NOT_OPEN);
  m.refused(kChair, msg::advance_agenda(), v1::ERROR_MEETING_NOT_OPEN);
  m.refused(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION), v1::ERROR_MEETING_NOT_OPEN);
  m.refused(kChair, msg::open_meeting("x", 99), v1::ERROR_INVALID_REQUEST);
  m.open();
  m.refused(kChair, msg::open_meeting("again", 2), v1::ERROR_MEETING_ALREADY_OPEN);
  // A zero-length frame is an Envelope with no body: not a request.
  m.h.send_bytes(c, std::string(4, '\0'));
  v1::Envelope push;
  push.mutable_vote_closed()->set_vote_id(1);
  m.refused(2, push, v1::ERROR_INVALID_REQUEST);
  EXPECT_TRUE(m.h.is_open(c));
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2));
  const v1::Envelope ack = m.h.request(c, msg::heartbeat(7));
  EXPECT_TRUE(ack.has_heartbeat_ack());
}

// Direct answers echo the request id; pushes carry 0.
TEST_F(Protocol, RequestIdsEchoed) {
  const ConnId c = m.h.connect();
  v1::Envelope hello = msg::hello(kCell, 2, m.h.token_for(kCell, 2));
  hello.set_request_id(991);
  m.h.send(c, hello);
  ASSERT_EQ(m.h.received(c).size(), 1u);
  EXPECT_EQ(m.h.received(c)[0]->env->request_id(), 991u);
  v1::Envelope join = msg::join();
  join.set_request_id(992);
  const size_t since = m.h.mark();
  m.h.send(c, join);
  for (const auto& e : m.h.envelopes(c, since)) {
    EXPECT_EQ(e.request_id(), e.has_meeting_state() ? 992u : 0u) << e.DebugString();
  }
}

// The floor and media: requests reach the chair; media is relayed to every other participant.
TEST_F(Protocol, MediaRelayedToOthers) {
  m.open();
  m.join_range(2, 3);
  m.ok(kChair, msg::grant_floor(2));  // only the floor holder's media is relayed
  const size_t since = m.h.mark();
  m.ok(2, msg::media(5, "audio"));
  EXPECT_TRUE(m.h.envelopes(m.conn(2), since).empty()) << "not echoed to the sender";
  for (uint64_t who : {kChair, uint64_t{3}}) {
    const auto got = m.h.envelopes(m.conn(who), since, v1::Envelope::kMediaFrame);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].media_frame().from_member_id(), 2u);
    EXPECT_EQ(got[0].media_frame().payload(), "audio");
    EXPECT_EQ(got[0].media_frame().seq(), 5u);
  }
}

// Shutdown sends every connection ERROR_SHUTTING_DOWN and closes it.
TEST_F(Protocol, Shutdown) {
  m.join_range(1, 3);
  const ConnId raw = m.h.connect();
  m.h.engine().shutdown(m.h.now());
  m.h.drain();
  for (ConnId c : {m.conn(1), m.conn(2), m.conn(3), raw}) {
    expect_closed_with(m.h, c, v1::ERROR_SHUTTING_DOWN);
  }
  EXPECT_EQ(m.h.engine().connection_count(), 0u);
  EXPECT_FALSE(m.h.engine().poll_timeout().has_value());
}

// Shutdown keeps the minutes of an open meeting, marked interrupted, with who
// was there; members hear no attendance or quorum change from the stop itself.
TEST_F(Protocol, ShutdownKeepsOpenMeetingsMinutes) {
  m.join_range(1, 3);
  m.open();
  const size_t since = m.h.mark();
  m.h.engine().shutdown(m.h.now());
  m.h.drain();
  ASSERT_EQ(m.h.minutes().size(), 1u);
  const v1::Minutes& mn = m.h.minutes()[0];
  EXPECT_TRUE(mn.interrupted());
  EXPECT_EQ(mn.attendees_size(), 3);
  EXPECT_EQ(mn.quorum_losses(), 0u) << "the server's stop is not a quorum loss";
  for (uint64_t who : {1, 2, 3}) {
    EXPECT_TRUE(m.h.envelopes(m.conn(who), since, v1::Envelope::kAttendanceChanged).empty());
    EXPECT_TRUE(m.h.envelopes(m.conn(who), since, v1::Envelope::kQuorumChanged).empty());
  }
}

// Engines given distinct bases and one stride issue distinct session ids; a
// resume token from another server run starts a fresh session (no error).
TEST(ProtocolSessions, IdsUniqueAcrossShardsAndRuns) {
  EngineSettings a_settings, b_settings;
  a_settings.session_id_base = 1;
  b_settings.session_id_base = 2;
  a_settings.session_id_stride = b_settings.session_id_stride = 2;
  a_settings.run_id = b_settings.run_id = 7;
  Harness a(a_settings), b(b_settings);
  a.add_cell(make_roster(1, officials(3)));
  b.add_cell(make_roster(2, officials(3)));
  std::set<uint64_t> ids;
  for (uint64_t m = 1; m <= 3; ++m) {
    a.login(1, m);
    b.login(2, m);
    ids.insert(a.last_welcome(1, m)->session_id());
    ids.insert(b.last_welcome(2, m)->session_id());
  }
  EXPECT_EQ(ids.size(), 6u);
  // The same deployment restarted (run 8): the old token verifies but names
  // an earlier run, so the member gets a new session rather than someone's.
  const std::string old_resume = a.last_welcome(1, 2)->resume_token();
  EngineSettings restarted = a_settings;
  restarted.run_id = 8;
  Harness c(restarted);
  c.add_cell(make_roster(1, officials(3)));
  c.login(1, 1);
  const ConnId conn = c.login(1, 2, old_resume);
  EXPECT_TRUE(c.is_open(conn));
  EXPECT_FALSE(c.last_welcome(1, 2)->resumed());
}

// Cells are independent: the same member ids in two cells are two people, and
// one cell's attendance, quorum and pushes never touch the other's.
TEST(ProtocolCells, CellsAreIndependent) {
  Harness h;
  h.add_cell(make_roster(7, officials(3)));
  h.add_cell(make_roster(8, officials(3)));
  const ConnId a1 = h.join(7, 1);
  const ConnId a2 = h.join(7, 2);
  const ConnId b1 = h.join(8, 1);
  EXPECT_TRUE(h.is_open(a1)) << "member 1 of cell 8 does not supersede member 1 of cell 7";
  EXPECT_EQ(h.meeting(7)->quorum().present_in_d(), 2u);
  EXPECT_EQ(h.meeting(8)->quorum().present_in_d(), 1u);
  const size_t since = h.mark();
  h.disconnect(a2);
  EXPECT_TRUE(h.envelopes(b1, since).empty()) << "cell 8 hears nothing of cell 7";
  EXPECT_FALSE(h.envelopes(a1, since).empty());
  // A token for cell 7 does not open cell 8.
  const ConnId c = h.connect();
  h.send(c, msg::hello(8, 2, h.token_for(7, 2)));
  EXPECT_TRUE(h.closed_by_engine(c));
  EXPECT_EQ(h.close_error(c)->code(), v1::ERROR_TOKEN_WRONG_CELL);
  EXPECT_EQ(h.engine().open_meetings(), 2u);
  // Member 1 of each cell, addressed by cell and member.
  EXPECT_EQ(h.conn_of(7, 1), a1);
  EXPECT_EQ(h.conn_of(8, 1), b1);
  const size_t before = h.mark();
  h.send_as(8, 1, msg::heartbeat(3));
  ASSERT_EQ(h.envelopes(b1, before).size(), 1u);
  EXPECT_TRUE(h.envelopes(a1, before).empty());
}

// A bad roster is refused by add_cell.
TEST(ProtocolCells, BadRostersRefused) {
  Engine e(EngineSettings{}, std::string(kTestKey));
  std::string why;
  EXPECT_FALSE(e.add_cell(make_roster(0, officials(3)), &why)) << "cell id 0";
  v1::CellRoster no_chair = make_roster(5, officials(3));
  no_chair.mutable_members(0)->set_role(v1::ROLE_MEMBER);
  EXPECT_FALSE(e.add_cell(no_chair, &why));
  v1::CellRoster dup = make_roster(5, officials(3));
  dup.mutable_members(2)->set_member_id(2);
  EXPECT_FALSE(e.add_cell(dup, &why));
  v1::CellRoster zero = make_roster(5, officials(3));
  zero.mutable_members(2)->set_member_id(0);
  EXPECT_FALSE(e.add_cell(zero, &why));
  EXPECT_TRUE(e.add_cell(make_roster(5, officials(3)), &why)) << why;
  EXPECT_FALSE(e.add_cell(make_roster(5, officials(3)), &why)) << "duplicate cell";
  EXPECT_TRUE(e.holds_cell(5));
}

// Shutdown keeps an open meeting's minutes, marked interrupted, listing who was
// there; the members' departures are neither pushed nor counted as a quorum loss.
TEST(ProtocolShutdown, OpenMeetingMinutesKeptInterrupted) {
  Meet m(officials(4));
  m.open();
  m.join_range(2, 3);
  ASSERT_TRUE(m.q().quorate());
  m.ok(kChair, msg::open_vote(1, v1::VOTE_KIND_RESOLUTION));
  ASSERT_TRUE(m.cast(2, 1, v1::CHOICE_YES, 1).has_value());
  const size_t since = m.h.mark();
  m.h.engine().shutdown(m.h.now());
  m.h.drain();
  ASSERT_EQ(m.h.minutes().size(), 1u);
  const v1::Minutes& mn = m.h.minutes()[0];
  EXPECT_TRUE(mn.interrupted());
  EXPECT_EQ(mn.attendees_size(), 3);
  EXPECT_EQ(mn.quorum_losses(), 0u);
  EXPECT_TRUE(mn.quorate_at_close());
  for (uint64_t who : {1, 2, 3}) {
    const auto got = m.h.envelopes(m.conn(who), since);
    ASSERT_EQ(got.size(), 1u) << "only the shutdown Error, no attendance pushes";
    EXPECT_EQ(got[0].error().code(), v1::ERROR_SHUTTING_DOWN);
  }
}

// Session ids follow the base and stride settings (unique across a host's engines).
TEST(ProtocolSettings, SessionIdBaseAndStride) {
  EngineSettings s;
  s.session_id_base = 3;
  s.session_id_stride = 8;
  Meet m(officials(3), s);
  m.login(1);
  m.login(2);
  m.login(1);  // a new session for member 1
  EXPECT_EQ(m.h.last_welcome(kCell, 2)->session_id(), 11u);
  EXPECT_EQ(m.h.last_welcome(kCell, 1)->session_id(), 19u);
}

// Random bytes and random envelopes never crash the engine; every close comes
// with a protocol Error (the harness checks each output), and the invariants hold.
TEST(ProtocolFuzz, GarbageNeverCrashes) {
  Meet m(officials(5));
  m.open();
  m.join_range(2, 3);
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    const ConnId c = (i % 3 == 0) ? m.h.connect() : m.h.login(kCell, 4 + i % 2);
    std::string junk(rng() % 64, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    if (i % 2 == 0) {
      // A well-framed payload of junk.
      std::string frame(wire::kFrameHeaderBytes, '\0');
      wire::put_header(static_cast<uint32_t>(junk.size()), frame.data());
      junk = frame + junk;
    }
    m.h.send_bytes(c, junk);
    if (m.h.is_open(c)) m.h.disconnect(c);
    std::string why;
    ASSERT_TRUE(m.h.meeting(kCell)->check_invariants(&why)) << why << " at " << i;
  }
  EXPECT_TRUE(m.h.meeting(kCell)->is_present(2));
  EXPECT_EQ(m.h.engine().connection_count(), 3u);
}

}  // namespace
}  // namespace cellsim::engine::testing
