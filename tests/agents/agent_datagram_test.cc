// The agents' side of the `datagram` media transport and their voice meters
// (agents/agent.h), driven by hand as a host would, with the server's side
// played by the test (Welcome frames, datagrams sealed with the session's
// key as cellmeetd seals its relayed copies):
//
//  - a Welcome with a media key and port makes the agent poll a sealed bind;
//    the floor holder's voice then goes as sealed datagrams, never as
//    MediaFrames on the session;
//  - datagrams from the server are opened with the session's key; forged,
//    reflected, replayed, stale-session and malformed ones are dropped and
//    counted, and received = accepted + dropped() always;
//  - a Welcome without a media port falls back to in-band voice (counted);
//  - a listener's hearing of a speaker's interval reports (on_speech) the
//    frames played, late and lost as they were fed, exactly as a
//    SpeechMeter fed the same frames rates them;
//  - the queues are bounded: datagrams not polled, open hearings, the cell
//    board's intervals.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "agents/voice.h"
#include "proto/datagram.h"
#include "proto/frame.h"

namespace cellsim::agents {
namespace {

constexpr uint64_t kCell = 7;
constexpr uint32_t kMediaPort = 40'000;
constexpr uint32_t kFrameMs = 20;
constexpr uint32_t kPayloadBytes = 60;  // 24 kbit/s × 20 ms
constexpr TimeNs kFrameNs = kFrameMs * kNsPerMs;
// Steps of a test's event loop (each is one input to one agent).
constexpr int kMaxLoopSteps = 100'000;

// A key of kMediaKeyBytes for session `session`.
std::string key_for(uint64_t session) {
  return std::string(wire::kMediaKeyBytes, static_cast<char>('a' + session % 26));
}

// Everything the agents report, kept.
class Observer : public AgentObserver {
 public:
  struct Speech {
    uint64_t listener = 0;
    uint64_t speaker = 0;
    SpeechResult result;
  };
  void on_measure(const MemberPlan&, Measure, TimeNs) override {}
  void on_traffic(const MemberPlan&, bool, size_t) override {}
  void on_event(const MemberPlan&, Event, int64_t) override {}
  void on_meeting_report(const MeetingReport&) override {}
  void on_media(const MemberPlan& who, bool sent, uint64_t payload_bytes,
                uint64_t frames) override {
    if (!sent) media_received_frames[who.member_id] += frames;
    (void)payload_bytes;
  }
  void on_speech(const MemberPlan& listener, uint64_t speaker_id,
                 const SpeechResult& result) override {
    speech.push_back({listener.member_id, speaker_id, result});
  }
  void on_violation(const MemberPlan& who, const std::string& what) override {
    violations.push_back(std::to_string(who.member_id) + ": " + what);
  }
  std::vector<Speech> speech;
  std::vector<std::string> violations;
  std::map<uint64_t, uint64_t> media_received_frames;
};

MemberPlan plan_for(uint64_t member_id, MediaTransport transport) {
  MemberPlan p;
  p.host_tag = member_id;
  p.cell_id = kCell;
  p.member_id = member_id;
  p.token = "token";
  p.join_at_ns = 0;
  p.media.frame_ms = kFrameMs;
  p.media.payload_bytes = kPayloadBytes;
  p.media.send_frames = true;
  p.media.transport = transport;
  p.media.voice.frame_ms = kFrameMs;
  p.media.speak_min_ns = p.media.speak_max_ns = 1 * kNsPerS;  // exactly 50 frames
  return p;
}

std::string framed(const v1::Envelope& env) { return wire::encode_frame(env); }

v1::Envelope welcome(uint64_t session, uint32_t media_port, bool with_key = true) {
  v1::Envelope env;
  auto* w = env.mutable_welcome();
  w->set_session_id(session);
  w->set_heartbeat_interval_ms(10'000);
  w->set_resume_token("resume-" + std::to_string(session));
  if (with_key) w->set_media_key(key_for(session));
  w->set_media_port(media_port);
  return env;
}

// An open meeting of members 1, 2 and 3, all official and present.
v1::Envelope meeting_state() {
  v1::Envelope env;
  env.set_request_id(2);
  auto* s = env.mutable_meeting_state();
  s->set_meeting_id(1);
  s->set_phase(v1::MEETING_PHASE_OPEN);
  for (uint64_t id = 1; id <= 3; ++id) {
    auto* a = s->add_attendees();
    a->set_member_id(id);
    a->set_standing(v1::STANDING_OFFICIAL);
    a->set_present(true);
    a->set_attended(true);
  }
  s->mutable_quorum()->set_quorate(true);
  s->mutable_quorum()->set_present_in_d(3);
  s->mutable_quorum()->set_denominator(3);
  s->mutable_quorum()->set_required(2);
  s->set_agenda_index(0);
  return env;
}

v1::Envelope floor_granted(uint64_t member_id) {
  v1::Envelope env;
  env.mutable_floor_granted()->set_member_id(member_id);
  return env;
}

// The frames an agent put out since the last call, decoded.
std::vector<v1::Envelope> drain_frames(Agent& a) {
  std::vector<v1::Envelope> out;
  AgentOutput o;
  while (a.poll_output(&o)) {
    if (o.kind != AgentOutput::Kind::kTransmit) continue;
    wire::FrameDecoder d;
    d.feed(*o.frame);
    std::string_view payload;
    EXPECT_EQ(d.next(&payload), wire::FrameDecoder::Status::kFrame);
    v1::Envelope env;
    EXPECT_TRUE(env.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
    out.push_back(env);
  }
  return out;
}

std::vector<std::string> drain_datagrams(Agent& a) {
  std::vector<std::string> out;
  std::string d;
  while (a.poll_datagram(&d)) out.push_back(d);
  return out;
}

size_t count_media_frames(const std::vector<v1::Envelope>& frames) {
  return static_cast<size_t>(std::count_if(frames.begin(), frames.end(), [](const auto& e) {
    return e.body_case() == v1::Envelope::kMediaFrame;
  }));
}

// Connects, says Hello, is welcomed with (session, media_port) and joins the
// meeting, all at `now`. Returns what it sent after the Welcome.
std::vector<v1::Envelope> connect_and_join(Agent& a, TimeNs now, uint64_t session,
                                           uint32_t media_port, bool with_key = true) {
  a.handle_timeout(now);  // the join time: asks for a connection
  AgentOutput o;
  EXPECT_TRUE(a.poll_output(&o));
  EXPECT_EQ(o.kind, AgentOutput::Kind::kConnect);
  a.handle_connected(now);
  const auto hello = drain_frames(a);
  EXPECT_EQ(hello.size(), 1u);
  a.handle_bytes(now, framed(welcome(session, media_port, with_key)));
  auto sent = drain_frames(a);  // JoinMeeting
  a.handle_bytes(now, framed(meeting_state()));
  for (auto& e : drain_frames(a)) sent.push_back(e);
  EXPECT_TRUE(a.joined());
  return sent;
}

// A datagram sealed as the server relays member `from`'s frame to session
// `session`.
std::string relayed(uint64_t session, uint64_t seq, uint64_t from, uint64_t media_seq,
                    TimeNs capture_ns, const std::string& key,
                    wire::DatagramKind kind = wire::DatagramKind::kVoice,
                    wire::DatagramDirection dir = wire::DatagramDirection::kToMember) {
  wire::DatagramHeader h;
  h.kind = kind;
  h.session_id = session;
  h.seq = seq;
  h.media_seq = media_seq;
  h.capture_ns = capture_ns;
  h.from_member_id = from;
  return wire::seal_datagram(
      key, dir, h,
      kind == wire::DatagramKind::kVoice ? std::string(kPayloadBytes, 'v') : std::string());
}

struct Rig {
  CellBoard board;
  Observer obs;
  std::unique_ptr<Agent> make(uint64_t member_id, MediaTransport t = MediaTransport::kDatagram) {
    auto a = std::make_unique<Agent>(plan_for(member_id, t), Rng(member_id), &board, &obs);
    a->start(0);
    return a;
  }
};

// A Welcome with a media key and port: the session's transport is datagrams,
// and the first thing polled is a bind sealed under that key, toward the
// server, naming the session.
TEST(AgentDatagram, WelcomeWithKeyAndPortPollsASealedBind) {
  Rig rig;
  auto a = rig.make(2);
  connect_and_join(*a, 0, /*session=*/11, kMediaPort);
  EXPECT_TRUE(a->datagram_active());
  EXPECT_FALSE(a->datagram_fallback());
  EXPECT_EQ(a->session_id(), 11u);
  EXPECT_EQ(a->media_port(), kMediaPort);
  EXPECT_EQ(a->media_key(), key_for(11));

  // One bind at the Welcome, another at the join (the first may be lost).
  const auto dgrams = drain_datagrams(*a);
  ASSERT_EQ(dgrams.size(), 2u);
  wire::DatagramHeader h;
  std::string_view payload;
  ASSERT_EQ(
      wire::open_datagram(key_for(11), wire::DatagramDirection::kToServer, dgrams[0], &h, &payload),
      wire::OpenStatus::kOk);
  EXPECT_EQ(h.kind, wire::DatagramKind::kBind);
  EXPECT_EQ(h.session_id, 11u);
  EXPECT_GT(h.seq, 0u);
  EXPECT_EQ(h.from_member_id, 0u);
  EXPECT_TRUE(payload.empty());
  ASSERT_EQ(
      wire::open_datagram(key_for(11), wire::DatagramDirection::kToServer, dgrams[1], &h, &payload),
      wire::OpenStatus::kOk);
  EXPECT_EQ(h.kind, wire::DatagramKind::kBind);
  // Not under another key, nor as if the server had sent it.
  EXPECT_EQ(
      wire::open_datagram(key_for(12), wire::DatagramDirection::kToServer, dgrams[0], &h, &payload),
      wire::OpenStatus::kBadTag);
  EXPECT_EQ(
      wire::open_datagram(key_for(11), wire::DatagramDirection::kToMember, dgrams[0], &h, &payload),
      wire::OpenStatus::kBadTag);
  EXPECT_EQ(a->datagram_counts().sent, 2u);
  EXPECT_EQ(a->datagram_counts().binds_sent, 2u);
  EXPECT_EQ(a->datagram_counts().fallbacks, 0u);

  // Every heartbeat rebinds (the server keeps the newest endpoint).
  a->handle_timeout(10 * kNsPerS);
  const auto hb = drain_frames(*a);
  ASSERT_EQ(hb.size(), 1u);
  EXPECT_EQ(hb[0].body_case(), v1::Envelope::kHeartbeat);
  const auto rebind = drain_datagrams(*a);
  ASSERT_EQ(rebind.size(), 1u);
  ASSERT_TRUE(wire::peek_datagram(rebind[0], &h));
  EXPECT_EQ(h.kind, wire::DatagramKind::kBind);
  EXPECT_EQ(a->datagram_counts().binds_sent, 3u);
  EXPECT_TRUE(rig.obs.violations.empty()) << rig.obs.violations[0];
}

// The floor holder's voice: one sealed voice datagram per frame period, with
// consecutive media seqs, its capture time and the plan's payload, and no
// MediaFrame on the session; the interval is on the cell board.
TEST(AgentDatagram, FloorHolderVoiceGoesAsSealedDatagramsNotFrames) {
  Rig rig;
  auto a = rig.make(2);
  connect_and_join(*a, 0, 11, kMediaPort);
  drain_datagrams(*a);  // the binds

  const TimeNs t0 = 2 * kNsPerS;
  a->handle_bytes(t0, framed(floor_granted(2)));
  std::vector<v1::Envelope> frames = drain_frames(*a);
  std::vector<std::string> dgrams;
  std::vector<TimeNs> ticks;
  for (int i = 0; i < kMaxLoopSteps; ++i) {
    const auto due = a->poll_timeout();
    ASSERT_TRUE(due.has_value());
    if (*due > t0 + 2 * kNsPerS) break;
    a->handle_timeout(*due);
    ticks.push_back(*due);
    for (auto& e : drain_frames(*a)) frames.push_back(e);
    for (auto& d : drain_datagrams(*a)) dgrams.push_back(d);
  }
  EXPECT_EQ(count_media_frames(frames), 0u);
  ASSERT_EQ(dgrams.size(), 50u);  // 1 s of speech at 20 ms
  uint64_t last_seq = 0;
  for (size_t i = 0; i < dgrams.size(); ++i) {
    wire::DatagramHeader h;
    std::string_view payload;
    ASSERT_EQ(wire::open_datagram(key_for(11), wire::DatagramDirection::kToServer, dgrams[i], &h,
                                  &payload),
              wire::OpenStatus::kOk)
        << i;
    EXPECT_EQ(h.kind, wire::DatagramKind::kVoice);
    EXPECT_EQ(h.session_id, 11u);
    EXPECT_GT(h.seq, last_seq);  // the replay window's order
    last_seq = h.seq;
    EXPECT_EQ(h.media_seq, i + 1);
    EXPECT_EQ(h.capture_ns, t0 + static_cast<TimeNs>(i) * kFrameNs);
    EXPECT_EQ(payload.size(), kPayloadBytes);
  }
  ASSERT_EQ(rig.board.speech.size(), 1u);
  const SpeechInterval& iv = rig.board.speech.back();
  EXPECT_EQ(iv.speaker_id, 2u);
  EXPECT_EQ(iv.first_media_seq, 1u);
  EXPECT_EQ(iv.frames_sent, 50u);
  EXPECT_EQ(iv.start_ns, t0);
  EXPECT_EQ(iv.end_ns, t0 + kNsPerS);
  EXPECT_EQ(a->datagram_counts().sent, 52u);  // two binds and 50 frames
}

// Datagrams from the server: a good one is accepted (and heard); forged
// (another key, a flipped byte, the member's own direction), replayed, too
// old for the window, another session's, not voice, or not a datagram at
// all are dropped, each counted under its reason; received = accepted +
// dropped() after every one. A new session starts a new replay window.
TEST(AgentDatagram, ServerDatagramsOpenedAndBadOnesDroppedAndCounted) {
  Rig rig;
  auto a = rig.make(3);
  connect_and_join(*a, 0, 21, kMediaPort);
  const std::string key = key_for(21);
  TimeNs t = kNsPerS;
  const auto feed = [&](const std::string& bytes) {
    t += kNsPerMs;
    a->handle_datagram(t, bytes);
    const DatagramCounts& c = a->datagram_counts();
    EXPECT_EQ(c.received, c.accepted + c.dropped());
  };
  feed(relayed(21, 100, 2, 1, t, key));
  EXPECT_EQ(a->datagram_counts().accepted, 1u);
  EXPECT_EQ(rig.obs.media_received_frames[3], 1u);

  feed(relayed(21, 100, 2, 1, t, key));                                      // the same seq again
  feed(relayed(21, 100 - wire::ReplayWindow::kReplayWindow, 2, 2, t, key));  // too old
  EXPECT_EQ(a->datagram_counts().dropped_replayed, 2u);

  feed(relayed(21, 101, 2, 2, t, key_for(22)));  // another key
  std::string flipped = relayed(21, 102, 2, 3, t, key);
  flipped[wire::kDatagramHeaderBytes] ^= 1;  // a payload byte
  feed(flipped);
  feed(relayed(21, 103, 2, 4, t, key, wire::DatagramKind::kVoice,
               wire::DatagramDirection::kToServer));                // a member's own, reflected
  feed(relayed(21, 104, 2, 0, t, key, wire::DatagramKind::kBind));  // not voice
  feed("not a datagram");
  feed(std::string(wire::kMaxDatagramBytes + 1, '\1'));
  EXPECT_EQ(a->datagram_counts().dropped_bad, 6u);

  feed(relayed(20, 105, 2, 5, t, key_for(20)));  // an earlier session's, still on its way
  EXPECT_EQ(a->datagram_counts().dropped_stale, 1u);

  // The failed ones did not move the window: a newer seq is still fresh.
  feed(relayed(21, 101, 2, 6, t, key));
  EXPECT_EQ(a->datagram_counts().accepted, 2u);
  EXPECT_EQ(a->datagram_counts().received, 11u);
  EXPECT_EQ(rig.obs.media_received_frames[3], 2u);

  // Reconnected without resume: a new session, a new key, a new window
  // (the server's seqs start again); the old session's datagrams are stale.
  a->handle_disconnected(t);
  const auto due = a->poll_timeout();
  ASSERT_TRUE(due.has_value());
  t = *due;
  a->handle_timeout(t);
  AgentOutput o;
  ASSERT_TRUE(a->poll_output(&o));
  ASSERT_EQ(o.kind, AgentOutput::Kind::kConnect);
  a->handle_connected(t);
  drain_frames(*a);
  a->handle_bytes(t, framed(welcome(31, kMediaPort)));
  drain_frames(*a);
  feed(relayed(31, 1, 2, 7, t, key_for(31)));
  EXPECT_EQ(a->datagram_counts().accepted, 3u);
  feed(relayed(21, 200, 2, 8, t, key));
  EXPECT_EQ(a->datagram_counts().dropped_stale, 2u);
  const DatagramCounts& c = a->datagram_counts();
  EXPECT_EQ(c.received, 13u);
  EXPECT_EQ(c.received, c.accepted + c.dropped());
}

// A Welcome without a media port (or without a key): the plan asked for
// datagrams, the server offers none, so voice goes in-band on that session
// (a fallback counted), and nothing is ever polled as a datagram.
TEST(AgentDatagram, WelcomeWithoutMediaPortFallsBackInBand) {
  for (const bool with_key : {true, false}) {
    SCOPED_TRACE(with_key ? "no port" : "port but no key");
    Rig rig;
    auto a = rig.make(2);
    connect_and_join(*a, 0, 11, with_key ? 0 : kMediaPort, with_key);
    EXPECT_FALSE(a->datagram_active());
    EXPECT_TRUE(a->datagram_fallback());
    EXPECT_EQ(a->datagram_counts().fallbacks, 1u);
    const TimeNs t0 = 2 * kNsPerS;
    a->handle_bytes(t0, framed(floor_granted(2)));
    std::vector<v1::Envelope> frames = drain_frames(*a);
    for (int i = 0; i < kMaxLoopSteps; ++i) {
      const auto due = a->poll_timeout();
      if (!due || *due > t0 + 2 * kNsPerS) break;
      a->handle_timeout(*due);
      for (auto& e : drain_frames(*a)) frames.push_back(e);
    }
    EXPECT_EQ(count_media_frames(frames), 50u);
    uint64_t seq = 0;
    for (const auto& e : frames) {
      if (e.body_case() != v1::Envelope::kMediaFrame) continue;
      EXPECT_EQ(e.media_frame().seq(), ++seq);
      EXPECT_EQ(e.media_frame().payload().size(), kPayloadBytes);
    }
    EXPECT_TRUE(drain_datagrams(*a).empty());
    EXPECT_EQ(a->datagram_counts().sent, 0u);
  }
  // The in-band plan never counts a fallback.
  Rig rig;
  auto a = rig.make(2, MediaTransport::kInBand);
  connect_and_join(*a, 0, 11, kMediaPort);
  EXPECT_FALSE(a->datagram_active());
  EXPECT_FALSE(a->datagram_fallback());
  EXPECT_EQ(a->datagram_counts().fallbacks, 0u);
  EXPECT_TRUE(drain_datagrams(*a).empty());
}

// One frame on its way from the speaker to the listener.
struct InFlight {
  TimeNs at_ns;
  std::string bytes;
  bool operator<(const InFlight& o) const { return at_ns < o.at_ns; }
};

// A speaker and a listener on one board; the test relays the speaker's
// voice datagrams as the server would (opened, re-sealed under the
// listener's key with the speaker's id), `delay_of(index)` after capture
// (negative: lost). The listener reports the interval with what it was fed:
// the same result a SpeechMeter fed the same frames gives.
void run_relayed_interval(const std::function<TimeNs(uint64_t)>& delay_of, SpeechResult* expected,
                          Observer::Speech* reported, uint64_t* reports) {
  Rig rig;
  auto speaker = rig.make(2);
  auto listener = rig.make(3);
  connect_and_join(*speaker, 0, 11, kMediaPort);
  connect_and_join(*listener, 0, 12, kMediaPort);
  drain_datagrams(*speaker);
  drain_datagrams(*listener);

  VoiceSettings v = plan_for(3, MediaTransport::kDatagram).media.voice;
  SpeechMeter meter(v);
  const TimeNs t0 = 2 * kNsPerS;
  speaker->handle_bytes(t0, framed(floor_granted(2)));
  listener->handle_bytes(t0, framed(floor_granted(2)));
  std::multiset<InFlight> in_flight;
  uint64_t relay_seq = 0;
  const TimeNs end = t0 + 20 * kNsPerS;
  for (int step = 0; step < kMaxLoopSteps; ++step) {
    const TimeNs ts = speaker->poll_timeout().value_or(kNever);
    const TimeNs tl = listener->poll_timeout().value_or(kNever);
    const TimeNs tf = in_flight.empty() ? kNever : in_flight.begin()->at_ns;
    const TimeNs t = std::min({ts, tl, tf});
    if (t > end) break;
    if (t == tf) {
      listener->handle_datagram(t, in_flight.begin()->bytes);
      in_flight.erase(in_flight.begin());
    } else if (t == ts) {
      speaker->handle_timeout(t);
      drain_frames(*speaker);
      for (const std::string& d : drain_datagrams(*speaker)) {
        wire::DatagramHeader h;
        std::string_view payload;
        ASSERT_EQ(
            wire::open_datagram(key_for(11), wire::DatagramDirection::kToServer, d, &h, &payload),
            wire::OpenStatus::kOk);
        if (h.kind != wire::DatagramKind::kVoice) continue;
        const uint64_t index = h.media_seq - 1;
        const TimeNs delay = delay_of(index);
        if (delay < 0) continue;  // lost
        meter.on_frame(index, h.capture_ns, h.capture_ns + delay);
        in_flight.insert({h.capture_ns + delay,
                          relayed(12, ++relay_seq, 2, h.media_seq, h.capture_ns, key_for(12))});
      }
    } else {
      listener->handle_timeout(t);
      drain_frames(*listener);
      drain_datagrams(*listener);
    }
  }
  *expected = meter.finish(50);
  ASSERT_EQ(rig.obs.speech.size(), 1u);
  *reported = rig.obs.speech[0];
  *reports = listener->speech_reported();
  EXPECT_TRUE(rig.obs.violations.empty()) << rig.obs.violations[0];
  const DatagramCounts& c = listener->datagram_counts();
  EXPECT_EQ(c.received, c.accepted + c.dropped());
  EXPECT_EQ(c.dropped(), 0u);
}

TEST(AgentDatagram, ListenerReportsTheIntervalAsFed) {
  // 100 ms on the way; frames 10 and 11 lost; frame 20 200 ms later than
  // the rest (beyond the 60 ms jitter buffer: late); frame 30 40 ms later
  // (within it: played).
  const auto delay_of = [](uint64_t i) -> TimeNs {
    if (i == 10 || i == 11) return -1;
    if (i == 20) return 300 * kNsPerMs;
    if (i == 30) return 140 * kNsPerMs;
    return 100 * kNsPerMs;
  };
  SpeechResult expected;
  Observer::Speech got;
  uint64_t reports = 0;
  run_relayed_interval(delay_of, &expected, &got, &reports);
  EXPECT_EQ(reports, 1u);
  EXPECT_EQ(got.listener, 3u);
  EXPECT_EQ(got.speaker, 2u);
  const SpeechResult& r = got.result;
  EXPECT_EQ(r.frames_sent, 50u);
  EXPECT_EQ(r.frames_played, 47u);
  EXPECT_EQ(r.frames_late, 1u);
  EXPECT_DOUBLE_EQ(r.loss_percent, 100.0 * 3 / 50);
  // Packetisation 20 + look-ahead 5 + the first frame's 100 + the buffer's 60.
  EXPECT_DOUBLE_EQ(r.mouth_to_ear_ms, 185);
  EXPECT_EQ(r.frames_played, expected.frames_played);
  EXPECT_EQ(r.frames_late, expected.frames_late);
  EXPECT_DOUBLE_EQ(r.mouth_to_ear_ms, expected.mouth_to_ear_ms);
  EXPECT_DOUBLE_EQ(r.burst_r, expected.burst_r);
  EXPECT_DOUBLE_EQ(r.r, expected.r);
  EXPECT_DOUBLE_EQ(r.mos, expected.mos);
  EXPECT_GT(r.mos, 1);
  EXPECT_LT(r.mos, 4.5);
}

// Nothing of the interval reaches the listener: it is still reported, as
// nothing heard (every frame lost, mouth-to-ear 0), once the listener has
// waited for a first frame.
TEST(AgentDatagram, ListenerReportsAnIntervalItHeardNothingOf) {
  SpeechResult expected;
  Observer::Speech got;
  uint64_t reports = 0;
  run_relayed_interval([](uint64_t) -> TimeNs { return -1; }, &expected, &got, &reports);
  EXPECT_EQ(reports, 1u);
  EXPECT_EQ(got.result.frames_sent, 50u);
  EXPECT_EQ(got.result.frames_played, 0u);
  EXPECT_EQ(got.result.frames_late, 0u);
  EXPECT_DOUBLE_EQ(got.result.loss_percent, 100);
  EXPECT_DOUBLE_EQ(got.result.mouth_to_ear_ms, 0);
  EXPECT_DOUBLE_EQ(got.result.mos, expected.mos);
}

// The speaker never meters itself, and a member who joined after an
// interval began does not meter it.
TEST(AgentDatagram, OnlyListenersPresentAtTheStartMeter) {
  Rig rig;
  auto speaker = rig.make(2);
  auto late = rig.make(3);
  connect_and_join(*speaker, 0, 11, kMediaPort);
  const TimeNs t0 = 2 * kNsPerS;
  speaker->handle_bytes(t0, framed(floor_granted(2)));
  speaker->handle_timeout(t0);  // the first frame
  connect_and_join(*late, t0 + kNsPerMs, 12, kMediaPort);
  for (uint64_t seq = 1; seq <= 50; ++seq) {
    const TimeNs at = t0 + static_cast<TimeNs>(seq) * kFrameNs;
    late->handle_datagram(at, relayed(12, seq, 2, seq, at - 50 * kNsPerMs, key_for(12)));
  }
  speaker->handle_timeout(t0 + 2 * kNsPerS);
  for (TimeNs t = t0 + 2 * kNsPerS; t < t0 + 20 * kNsPerS; t += kNsPerS) {
    late->handle_timeout(t);
    speaker->handle_timeout(t);
  }
  late->finish(t0 + 20 * kNsPerS);
  speaker->finish(t0 + 20 * kNsPerS);
  EXPECT_TRUE(rig.obs.speech.empty());
  EXPECT_EQ(late->datagram_counts().accepted, 50u);  // accepted, but not metered
}

// Datagrams not polled: at most kMaxPendingDatagrams wait; the oldest go
// first (counted), and what is polled is the newest, in order.
TEST(AgentDatagram, PendingDatagramsAreBounded) {
  Rig rig;
  MemberPlan p = plan_for(2, MediaTransport::kDatagram);
  p.media.speak_min_ns = p.media.speak_max_ns = 60 * kNsPerS;  // 3000 frames
  Agent a(p, Rng(2), &rig.board, &rig.obs);
  a.start(0);
  connect_and_join(a, 0, 11, kMediaPort);  // the bind waits too
  const TimeNs t0 = kNsPerS;
  a.handle_bytes(t0, framed(floor_granted(2)));
  for (int i = 0; i < kMaxLoopSteps; ++i) {
    const auto due = a.poll_timeout();
    if (!due || *due > t0 + 61 * kNsPerS) break;
    a.handle_timeout(*due);
    drain_frames(a);  // heartbeats; their rebinds wait as well
  }
  const DatagramCounts& c = a.datagram_counts();
  EXPECT_EQ(c.binds_sent, 2u + 6u);  // the Welcome's, the join's and one per 10 s heartbeat
  EXPECT_EQ(c.sent, 3000u + c.binds_sent);
  EXPECT_EQ(c.dropped_queue, c.sent - kMaxPendingDatagrams);
  const auto dgrams = drain_datagrams(a);
  ASSERT_EQ(dgrams.size(), kMaxPendingDatagrams);
  uint64_t last = 0;
  for (const std::string& d : dgrams) {
    wire::DatagramHeader h;
    ASSERT_TRUE(wire::peek_datagram(d, &h));
    EXPECT_GT(h.seq, last);
    last = h.seq;
  }
  EXPECT_EQ(last, c.sent);  // the newest is there
  EXPECT_TRUE(drain_datagrams(a).empty());
}

// A listener meters at most kMaxOpenHearings intervals at once: beyond it
// the oldest is reported early, with the frames due by then. The board
// keeps the newest kMaxBoardSpeechIntervals.
TEST(AgentDatagram, OpenHearingsAndBoardIntervalsAreBounded) {
  Rig rig;
  auto listener = rig.make(3);
  connect_and_join(*listener, 0, 12, kMediaPort);
  const TimeNs t0 = kNsPerS;
  constexpr uint64_t kIntervals = kMaxOpenHearings + 2;
  for (uint64_t i = 0; i < kIntervals; ++i) {
    const uint64_t n = rig.board.begin_speech(100 + i, 1, t0);
    SpeechInterval* iv = rig.board.find_speech(n);
    ASSERT_NE(iv, nullptr);
    iv->frames_sent = 10;
    iv->last_capture_ns = t0 + 9 * kFrameNs;
  }
  listener->handle_timeout(t0 + 2 * kNsPerS);
  EXPECT_EQ(listener->speech_reported(), kIntervals - kMaxOpenHearings);
  for (const auto& s : rig.obs.speech) EXPECT_EQ(s.result.frames_sent, 10u);
  // The run ends: the rest are reported as far as they went.
  listener->finish(t0 + 3 * kNsPerS);
  EXPECT_EQ(listener->speech_reported(), kIntervals);
  EXPECT_EQ(rig.obs.speech.size(), kIntervals);

  CellBoard board;
  for (uint64_t i = 1; i <= kMaxBoardSpeechIntervals + 8; ++i) {
    EXPECT_EQ(board.begin_speech(1, i, 0), i);
  }
  EXPECT_EQ(board.speech.size(), kMaxBoardSpeechIntervals);
  EXPECT_EQ(board.find_speech(8), nullptr);
  ASSERT_NE(board.find_speech(9), nullptr);
  EXPECT_EQ(board.find_speech(9)->first_media_seq, 9u);
  EXPECT_NE(board.find_speech(kMaxBoardSpeechIntervals + 8), nullptr);
  EXPECT_EQ(board.find_speech(kMaxBoardSpeechIntervals + 9), nullptr);
}

}  // namespace
}  // namespace cellsim::agents
