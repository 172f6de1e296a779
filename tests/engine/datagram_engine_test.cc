// The engine's side of the `datagram` media transport (engine.h, "Voice
// datagrams"): Welcome's media key and port, binds, the floor holder's voice
// relayed re-sealed to each bound listener, every drop reason, the shared
// token bucket, sessions losing and regaining their endpoints, the
// per-meeting media counts, and the in-band relay keeping capture_ns. The
// harness checks after every input that relays only go to endpoints a host
// would hold and that Engine::check_datagram_invariants() holds.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proto/datagram.h"
#include "tests/engine/meeting_fixture.h"

namespace cellsim::engine::testing {
namespace {

constexpr uint32_t kMediaPort = 40'000;

EngineSettings datagram_settings() {
  EngineSettings s;
  s.media_port = kMediaPort;
  s.run_id = 31337;
  return s;
}

class Datagrams : public ::testing::Test {
 protected:
  explicit Datagrams(EngineSettings s = datagram_settings()) : m(officials(6), s) {}

  uint64_t session(uint64_t member) const {
    const v1::Welcome* w = m.h.last_welcome(kCell, member);
    EXPECT_NE(w, nullptr);
    return w ? w->session_id() : 0;
  }
  DatagramResult bind(uint64_t member) { return m.h.bind(kCell, member); }
  DatagramResult voice(uint64_t member, uint64_t media_seq, int64_t capture_ns = 0,
                       std::string_view payload = "voice") {
    return m.h.voice(kCell, member, media_seq, capture_ns, payload);
  }
  uint64_t dropped(DatagramVerdict v) const { return m.h.engine().datagram_stats().count(v); }

  // Opens every datagram relayed to `member` since `since` with its key.
  std::vector<std::pair<wire::DatagramHeader, std::string>> opened(uint64_t member,
                                                                   size_t since = 0) {
    std::vector<std::pair<wire::DatagramHeader, std::string>> out;
    const std::string key = m.h.media_key(kCell, member);
    for (const SentDatagram& d : m.h.datagrams_to(session(member), since)) {
      wire::DatagramHeader h;
      std::string_view payload;
      EXPECT_EQ(wire::open_datagram(key, wire::DatagramDirection::kToMember, *d.bytes, &h,
                                    &payload),
                wire::OpenStatus::kOk);
      out.emplace_back(h, std::string(payload));
    }
    return out;
  }

  // The chair opens the meeting, members 2..4 join and bind, 2 gets the floor.
  void speaking_meeting() {
    m.open();
    m.join_range(2, 4);
    for (uint64_t who : {kChair, uint64_t{2}, uint64_t{3}, uint64_t{4}}) {
      ASSERT_EQ(bind(who).verdict, DatagramVerdict::kBound) << "member " << who;
    }
    m.ok(kChair, msg::grant_floor(2));
  }

  Meet m;
};

// Shows that Welcome carries the session's media key — exactly
// wire::media_key(deployment key, cell, member, session, run id) — and the
// media port, that sessions' keys differ, and that a bind from the session
// is accepted and latches its endpoint.
TEST_F(Datagrams, WelcomeCarriesTheSessionsKeyAndPort) {
  m.login(2);
  m.login(3);
  const v1::Welcome* w = m.h.last_welcome(kCell, 2);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->media_port(), kMediaPort);
  EXPECT_EQ(w->media_key(), wire::media_key(m.h.key(), kCell, 2, w->session_id(), 31337));
  EXPECT_EQ(w->media_key().size(), wire::kMediaKeyBytes);
  EXPECT_NE(w->media_key(), m.h.media_key(kCell, 3));
  const DatagramResult r = bind(2);
  EXPECT_EQ(r.verdict, DatagramVerdict::kBound);
  EXPECT_TRUE(r.accepted());
  EXPECT_TRUE(r.latch);
  EXPECT_EQ(r.session_id, w->session_id());
  EXPECT_TRUE(m.h.engine().session_bound(w->session_id()));
  EXPECT_EQ(m.h.engine().bound_sessions(), 1u);
}

// Shows that with media_port 0 nothing is offered: Welcome has no key and
// no port, and every datagram is dropped as unknown_session.
TEST(DatagramsOff, NotOfferedWithoutAPort) {
  Meet m(officials(3));
  m.login(2);
  const v1::Welcome* w = m.h.last_welcome(kCell, 2);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->media_key().empty());
  EXPECT_EQ(w->media_port(), 0u);
  wire::DatagramHeader h;
  h.kind = wire::DatagramKind::kBind;
  h.session_id = w->session_id();
  h.seq = 1;
  const std::string key = wire::media_key(m.h.key(), kCell, 2, w->session_id(), 0);
  const DatagramResult r =
      m.h.send_datagram(wire::seal_datagram(key, wire::DatagramDirection::kToServer, h, {}));
  EXPECT_EQ(r.verdict, DatagramVerdict::kUnknownSession);
  EXPECT_FALSE(r.latch);
  EXPECT_EQ(m.h.engine().bound_sessions(), 0u);
}

// Shows the floor holder's voice reaching every other bound participant,
// re-sealed under each one's own key in the member direction, naming the
// recipient's session, the speaker, the speaker's media_seq and capture_ns,
// the payload intact, with a seq per recipient counting 1, 2, 3; never the
// speaker itself, a participant without an endpoint, or a member bound but
// not joined.
TEST_F(Datagrams, FloorHoldersVoiceIsRelayedResealedPerListener) {
  speaking_meeting();
  m.join(5);   // joined, never bound
  m.login(6);  // bound, never joined
  ASSERT_EQ(bind(6).verdict, DatagramVerdict::kBound);
  const size_t since = m.h.datagrams().size();
  for (uint64_t i = 1; i <= 3; ++i) {
    const DatagramResult r = voice(2, 1000 + i, 5'000'000'000 + int64_t(i) * 20'000'000,
                                   "frame " + std::to_string(i));
    EXPECT_EQ(r.verdict, DatagramVerdict::kRelayed);
    EXPECT_EQ(r.recipients, 3u);  // chair, 3, 4
  }
  for (uint64_t who : {kChair, uint64_t{3}, uint64_t{4}}) {
    const auto got = opened(who, since);
    ASSERT_EQ(got.size(), 3u) << "member " << who;
    for (uint64_t i = 1; i <= 3; ++i) {
      const auto& [h, payload] = got[i - 1];
      EXPECT_EQ(h.kind, wire::DatagramKind::kVoice);
      EXPECT_EQ(h.session_id, session(who));
      EXPECT_EQ(h.seq, i);
      EXPECT_EQ(h.from_member_id, 2u);
      EXPECT_EQ(h.media_seq, 1000 + i);
      EXPECT_EQ(h.capture_ns, 5'000'000'000 + int64_t(i) * 20'000'000);
      EXPECT_EQ(payload, "frame " + std::to_string(i));
    }
    // Not openable as the speaker's, nor as sent to the server.
    const SentDatagram d = m.h.datagrams_to(session(who), since).front();
    wire::DatagramHeader h;
    std::string_view p;
    EXPECT_EQ(wire::open_datagram(m.h.media_key(kCell, 2), wire::DatagramDirection::kToMember,
                                  *d.bytes, &h, &p),
              wire::OpenStatus::kBadTag);
    EXPECT_EQ(wire::open_datagram(m.h.media_key(kCell, who), wire::DatagramDirection::kToServer,
                                  *d.bytes, &h, &p),
              wire::OpenStatus::kBadTag);
  }
  EXPECT_TRUE(m.h.datagrams_to(session(2), since).empty()) << "echoed to the speaker";
  EXPECT_TRUE(m.h.datagrams_to(session(5), since).empty()) << "sent to an unbound member";
  EXPECT_TRUE(m.h.datagrams_to(session(6), since).empty()) << "sent to a member not joined";
  const DatagramStats& st = m.h.engine().datagram_stats();
  EXPECT_EQ(st.count(DatagramVerdict::kRelayed), 3u);
  EXPECT_EQ(st.sent, 9u);
  EXPECT_EQ(st.sent_bytes, 9 * wire::sealed_datagram_bytes(7));
  EXPECT_FALSE(m.h.engine().has_output()) << "voice is not journaled or announced";
}

// Shows each drop reason counted, with nothing relayed: garbage (malformed),
// a session id that exists nowhere and a session whose connection is gone
// (unknown_session), a forged tag and a datagram sealed with member 3's key
// naming member 2's session (bad_tag), the same seq twice and a seq older
// than the window (replayed), voice from a bound member who has not joined
// (not_joined) and from a member without the floor (not_floor_holder). Only
// authenticated, fresh datagrams latch.
TEST_F(Datagrams, EveryDropReasonIsCounted) {
  speaking_meeting();
  m.login(5);  // welcomed, not joined
  const size_t since = m.h.datagrams().size();
  const uint64_t received0 = m.h.engine().datagram_stats().received;

  EXPECT_EQ(m.h.send_datagram("garbage").verdict, DatagramVerdict::kMalformed);
  EXPECT_EQ(m.h.send_datagram(std::string(wire::kMaxDatagramBytes + 1, '\1')).verdict,
            DatagramVerdict::kMalformed);

  wire::DatagramHeader h;
  h.kind = wire::DatagramKind::kVoice;
  h.session_id = 987'654'321;  // nobody's
  h.seq = 1;
  DatagramResult r = m.h.send_datagram(
      wire::seal_datagram(m.h.media_key(kCell, 2), wire::DatagramDirection::kToServer, h, "x"));
  EXPECT_EQ(r.verdict, DatagramVerdict::kUnknownSession);
  EXPECT_FALSE(r.latch);

  std::string forged = m.h.seal_as(kCell, 2, wire::DatagramKind::kVoice, 1, 0, "forged");
  forged.back() = static_cast<char>(forged.back() ^ 0x55);
  r = m.h.send_datagram(forged);
  EXPECT_EQ(r.verdict, DatagramVerdict::kBadTag);
  EXPECT_FALSE(r.latch);

  h.session_id = session(2);  // member 2's session, member 3's key
  h.seq = 1000;
  r = m.h.send_datagram(
      wire::seal_datagram(m.h.media_key(kCell, 3), wire::DatagramDirection::kToServer, h, "x"));
  EXPECT_EQ(r.verdict, DatagramVerdict::kBadTag);
  // A datagram the server relayed, reflected back to it.
  EXPECT_EQ(voice(2, 1).verdict, DatagramVerdict::kRelayed);
  const SentDatagram to3 = m.h.datagrams().back();
  EXPECT_NE(m.h.send_datagram(*to3.bytes).verdict, DatagramVerdict::kRelayed);

  const std::string once = m.h.seal_as(kCell, 2, wire::DatagramKind::kVoice, 2, 0, "once");
  EXPECT_EQ(m.h.send_datagram(once).verdict, DatagramVerdict::kRelayed);
  r = m.h.send_datagram(once);
  EXPECT_EQ(r.verdict, DatagramVerdict::kReplayed);
  EXPECT_FALSE(r.latch);
  const std::string old = m.h.seal_as(kCell, 2, wire::DatagramKind::kVoice, 3, 0, "old");
  for (int i = 0; i < 70; ++i) m.h.seal_as(kCell, 2, wire::DatagramKind::kBind);  // seqs skipped
  EXPECT_EQ(bind(2).verdict, DatagramVerdict::kBound);                            // highest moves
  EXPECT_EQ(m.h.send_datagram(old).verdict, DatagramVerdict::kReplayed) << "older than the window";

  r = voice(5, 1);
  EXPECT_EQ(r.verdict, DatagramVerdict::kNotJoined);
  EXPECT_TRUE(r.latch) << "authenticated and fresh: the endpoint latches";
  r = voice(3, 1);
  EXPECT_EQ(r.verdict, DatagramVerdict::kNotFloorHolder);

  m.drop(4);
  EXPECT_EQ(bind(4).verdict, DatagramVerdict::kUnknownSession) << "the connection is gone";

  EXPECT_EQ(dropped(DatagramVerdict::kMalformed), 2u);
  EXPECT_EQ(dropped(DatagramVerdict::kUnknownSession), 2u);
  EXPECT_EQ(dropped(DatagramVerdict::kBadTag), 3u);
  EXPECT_EQ(dropped(DatagramVerdict::kReplayed), 2u);
  EXPECT_EQ(dropped(DatagramVerdict::kNotJoined), 1u);
  EXPECT_EQ(dropped(DatagramVerdict::kNotFloorHolder), 1u);
  EXPECT_EQ(m.h.engine().datagram_stats().received - received0, 14u);
  // Relayed: the two good voice datagrams only, each to the chair, 3 and 4
  // (5 never joined).
  EXPECT_EQ(m.h.datagrams().size() - since, 6u);
}

// Shows the size bound (too_large, over settings.max_media_payload_bytes)
// and that the token bucket is the MediaFrames' own: in-band frames spend
// it, and the datagram that no longer fits is dropped as rate_limited, then
// passes again once time has refilled it.
TEST(DatagramsPacing, SizeBoundAndTheSharedBucket) {
  EngineSettings s = datagram_settings();
  s.max_media_payload_bytes = 500;
  s.media_rate_bytes_per_s = 1000;
  s.media_burst_bytes = 3 * (500 + kMediaFrameOverheadBytes);
  Meet m(officials(3), s);
  m.open();
  m.join_range(2, 3);
  ASSERT_EQ(m.h.bind(kCell, 2).verdict, DatagramVerdict::kBound);
  ASSERT_EQ(m.h.bind(kCell, 3).verdict, DatagramVerdict::kBound);
  m.ok(kChair, msg::grant_floor(2));
  EXPECT_EQ(m.h.voice(kCell, 2, 1, 0, std::string(501, 'x')).verdict, DatagramVerdict::kTooLarge);
  m.ok(2, msg::media(1, std::string(500, 'a')));
  m.ok(2, msg::media(2, std::string(500, 'a')));
  EXPECT_EQ(m.h.voice(kCell, 2, 3, 0, std::string(500, 'x')).verdict, DatagramVerdict::kRelayed);
  EXPECT_EQ(m.h.voice(kCell, 2, 4, 0, std::string(500, 'x')).verdict,
            DatagramVerdict::kRateLimited);
  m.refused(2, msg::media(5, std::string(500, 'a')), v1::ERROR_RATE_LIMITED);
  m.h.advance_ms(600);  // 600 bytes earned: one frame of 500 + overhead
  EXPECT_EQ(m.h.voice(kCell, 2, 6, 0, std::string(500, 'x')).verdict, DatagramVerdict::kRelayed);
  const DatagramStats& st = m.h.engine().datagram_stats();
  EXPECT_EQ(st.count(DatagramVerdict::kTooLarge), 1u);
  EXPECT_EQ(st.count(DatagramVerdict::kRateLimited), 1u);
  EXPECT_EQ(st.count(DatagramVerdict::kRelayed), 2u);
}

// Shows a session losing its endpoint when its connection goes (kUnbind,
// then unknown_session), and a new session (a login without resume) getting
// a new id and key under which the old session's datagrams no longer count.
TEST_F(Datagrams, DisconnectAndReplacementForgetTheEndpoint) {
  speaking_meeting();
  const uint64_t old_session = session(3);
  const std::string old_key = m.h.media_key(kCell, 3);
  const std::string stale = m.h.seal_as(kCell, 3, wire::DatagramKind::kBind);
  m.drop(3);
  EXPECT_FALSE(m.h.engine().session_bound(old_session));
  EXPECT_EQ(m.h.endpoints().count(old_session), 0u);
  m.join(3);  // a new session
  EXPECT_NE(session(3), old_session);
  EXPECT_NE(m.h.media_key(kCell, 3), old_key);
  EXPECT_EQ(m.h.send_datagram(stale).verdict, DatagramVerdict::kUnknownSession);
  // Bound again only once it says so; until then nothing is relayed to it.
  size_t since = m.h.datagrams().size();
  EXPECT_EQ(voice(2, 1).recipients, 2u);  // chair, 4
  EXPECT_TRUE(m.h.datagrams_to(session(3), since).empty());
  EXPECT_EQ(bind(3).verdict, DatagramVerdict::kBound);
  since = m.h.datagrams().size();
  EXPECT_EQ(voice(2, 2).recipients, 3u);
  ASSERT_EQ(opened(3, since).size(), 1u);
  EXPECT_EQ(opened(3, since)[0].first.seq, 1u) << "a new key starts its seqs again";

  // A second connection of the same member supersedes the first: unbound.
  const uint64_t s4 = session(4);
  ASSERT_TRUE(m.h.engine().session_bound(s4));
  m.login(4);
  EXPECT_FALSE(m.h.engine().session_bound(s4));
  EXPECT_FALSE(m.h.engine().session_bound(session(4)));
}

// Shows a resumed session keeping its id and key but not its endpoint: its
// old datagrams are still replays, its first fresh datagram from the new
// place (voice, not only a bind) latches again, and the seqs relayed to it
// go on from where they were, so its own window accepts them.
TEST_F(Datagrams, ResumeKeepsTheKeyButMustBindAgain) {
  speaking_meeting();
  const uint64_t s3 = session(3);
  const std::string key3 = m.h.media_key(kCell, 3);
  const std::string resume = m.h.last_welcome(kCell, 3)->resume_token();
  const std::string before = m.h.seal_as(kCell, 3, wire::DatagramKind::kBind);
  ASSERT_EQ(m.h.send_datagram(before).verdict, DatagramVerdict::kBound);
  EXPECT_EQ(voice(2, 1).recipients, 3u);
  m.drop(3);
  m.login(3, resume);
  ASSERT_TRUE(m.h.last_welcome(kCell, 3)->resumed());
  EXPECT_EQ(session(3), s3);
  EXPECT_EQ(m.h.media_key(kCell, 3), key3);
  EXPECT_FALSE(m.h.engine().session_bound(s3));
  EXPECT_EQ(m.h.send_datagram(before).verdict, DatagramVerdict::kReplayed);
  EXPECT_FALSE(m.h.engine().session_bound(s3)) << "a replay does not latch";
  const size_t since = m.h.datagrams().size();
  EXPECT_EQ(voice(2, 2).recipients, 2u);
  // Voice from 3 (no floor) is authenticated and fresh: it latches.
  const DatagramResult r = voice(3, 1);
  EXPECT_EQ(r.verdict, DatagramVerdict::kNotFloorHolder);
  EXPECT_TRUE(m.h.engine().session_bound(s3));
  EXPECT_EQ(voice(2, 3).recipients, 3u);
  const auto got = opened(3, since);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.seq, 2u) << "seqs to a resumed session go on";
  EXPECT_EQ(got[0].first.media_seq, 3u);
}

// Shows the per-meeting media counts: in-band frames and datagrams relayed
// per recipient with their bytes, listed only for meetings not closed, and
// starting again at zero with the cell's next meeting.
TEST_F(Datagrams, PerMeetingMediaCounts) {
  speaking_meeting();
  const size_t log0 = m.h.mark();
  m.ok(2, msg::media(1, "abcd"));
  const auto relayed = m.h.envelopes(m.conn(3), log0, v1::Envelope::kMediaFrame);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(voice(2, 1, 0, "12345").recipients, 3u);
  EXPECT_EQ(voice(2, 2, 0, "12345").recipients, 3u);
  std::vector<MeetingMedia> list;
  m.h.engine().meeting_media_list(&list);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].cell_id, kCell);
  EXPECT_EQ(list[0].meeting_id, m.h.meeting(kCell)->id());
  EXPECT_EQ(list[0].in_band_frames, 3u);
  const size_t frame_bytes = wire::encode_frame(relayed[0]).size();
  EXPECT_EQ(list[0].in_band_bytes, 3 * frame_bytes);
  EXPECT_EQ(list[0].datagram_frames, 6u);
  EXPECT_EQ(list[0].datagram_bytes, 6 * wire::sealed_datagram_bytes(5));
  m.ok(kChair, msg::close_meeting());
  list.clear();
  m.h.engine().meeting_media_list(&list);
  EXPECT_TRUE(list.empty()) << "a closed meeting is not listed";
  m.join(kChair);  // the cell's next meeting
  list.clear();
  m.h.engine().meeting_media_list(&list);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].in_band_frames + list[0].datagram_frames, 0u);
}

// Shows the in-band relay keeping the speaker's capture_ns (and seq and
// payload) for every listener.
TEST_F(Datagrams, InBandRelayKeepsCaptureNs) {
  speaking_meeting();
  const size_t since = m.h.mark();
  v1::Envelope e = msg::media(42, "pcm");
  e.mutable_media_frame()->set_capture_ns(1'767'225'600'123'456'789);
  m.ok(2, e);
  for (uint64_t who : {kChair, uint64_t{3}, uint64_t{4}}) {
    const auto got = m.h.envelopes(m.conn(who), since, v1::Envelope::kMediaFrame);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].media_frame().capture_ns(), 1'767'225'600'123'456'789);
    EXPECT_EQ(got[0].media_frame().seq(), 42u);
    EXPECT_EQ(got[0].media_frame().from_member_id(), 2u);
    EXPECT_EQ(got[0].media_frame().payload(), "pcm");
  }
}

// Shows shutdown unbinding every session, and nothing accepted after it.
TEST_F(Datagrams, ShutdownUnbindsEverySession) {
  speaking_meeting();
  EXPECT_EQ(m.h.engine().bound_sessions(), 4u);
  m.h.engine().shutdown(m.h.now());
  m.h.drain();
  EXPECT_EQ(m.h.engine().bound_sessions(), 0u);
  EXPECT_TRUE(m.h.endpoints().empty());
  EXPECT_EQ(voice(2, 9).verdict, DatagramVerdict::kUnknownSession);
}

// Shows random datagrams — garbage, truncations, bit flips of good ones,
// replays — never crash the engine, never relay anything unauthenticated,
// and keep its invariants (checked by the harness after each), on fixed
// seeds.
TEST_F(Datagrams, RandomDatagramsKeepTheInvariants) {
  speaking_meeting();
  std::mt19937_64 rng(20260101);
  std::vector<std::string> good;
  uint64_t relayed = 0;
  for (int i = 0; i < 3000; ++i) {
    const uint64_t r = rng() % 10;
    std::string d;
    if (r < 3 || good.empty()) {
      const uint64_t who = 1 + rng() % 4;  // the chair (1) and members 2..4
      const bool is_bind = rng() % 4 == 0;
      d = m.h.seal_as(kCell, who, is_bind ? wire::DatagramKind::kBind : wire::DatagramKind::kVoice,
                      static_cast<uint64_t>(i), 0,
                      is_bind ? std::string() : std::string(rng() % 200, 'v'));
      if (d.empty()) continue;
      good.push_back(d);
    } else if (r < 6) {
      d = good[rng() % good.size()];
      d[rng() % d.size()] ^= static_cast<char>(1 + rng() % 255);
    } else if (r < 8) {
      d = good[rng() % good.size()];
      d.resize(rng() % (d.size() + 1));
    } else if (r < 9) {
      d = good[rng() % good.size()];
    } else {
      d.resize(rng() % 1300);
      for (char& c : d) c = static_cast<char>(rng());
    }
    const DatagramResult res = m.h.send_datagram(d);
    relayed += res.verdict == DatagramVerdict::kRelayed;
    if (i % 500 == 0) m.pass_ms(1000);
  }
  EXPECT_EQ(m.h.engine().datagram_stats().count(DatagramVerdict::kRelayed), relayed);
  EXPECT_GT(relayed, 0u);
}

}  // namespace
}  // namespace cellsim::engine::testing
