// Voice datagrams over the real cellmeetd (issue 13's acceptance, "a
// datagram test over the real server"): members log in over TCP, take the
// media key and port from their Welcome, and send UDP datagrams sealed with
// that key (proto/datagram.h) to the server's media port on 127.0.0.1:
//   (a) forged (a bad tag), replayed, other-session, unknown-session and
//       malformed datagrams are relayed to no one and counted by reason on
//       /metrics;
//   (b) voice from a member without the floor, or from one who has not
//       joined, is not relayed;
//   (c) the floor holder's voice reaches every other member's latched
//       endpoint, re-sealed under each listener's key, while their TCP
//       sessions carry the business (heartbeats, a floor request, a vote
//       from opening to result, the floor given again);
// and that a server with the media socket off offers no key, that a
// member's endpoint follows it to a new address, that the floor holder's
// flood is paced by the media bucket, and that a stop while voice flows is
// clean. Then the parts alone: the session-to-shard route, the inbox's and
// the sender's bounds.
//
// The server runs two shards: cell 1 lives on shard 1 and cell 2 on shard 0,
// whose thread reads the socket, so cell 1's datagrams cross threads
// (server/net/router.h, shard_for_session). Every wait is bounded (each
// receive and metrics poll has a deadline; ctest's TIMEOUT around it all).
#include "proto/datagram.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/net/connection.h"
#include "server/net/media_socket.h"
#include "server/net/router.h"
#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

using Clock = std::chrono::steady_clock;
using wire::DatagramKind;

// How long a datagram that should arrive may take, and how long one that
// should not is waited for.
constexpr int kArriveTimeoutMs = 3000;
constexpr int kSilenceMs = 300;
// Bound of a wait for /metrics to show a figure.
constexpr int kMetricsTimeoutMs = 5000;

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A member: its TCP session, its UDP socket, and what its Welcome gave it.
struct Member {
  uint64_t cell_id = 0;
  uint64_t id = 0;
  TestClient tcp;
  TestDatagramSocket udp;
  v1::Welcome welcome;
  uint64_t seq = 0;  // the last seq sealed

  uint64_t session() const { return welcome.session_id(); }
  // A datagram to the server, sealed with this member's key, naming
  // `session_id` (default: its own).
  std::string seal(DatagramKind kind, uint64_t media_seq, std::string_view payload,
                   uint64_t session_id = 0) {
    wire::DatagramHeader h;
    h.kind = kind;
    h.session_id = session_id != 0 ? session_id : session();
    h.seq = ++seq;
    h.media_seq = media_seq;
    h.capture_ns = wall_ns();
    return wire::seal_datagram(welcome.media_key(), wire::DatagramDirection::kToServer, h, payload);
  }
};

// Logs in (keeping the Welcome) and opens the member's UDP socket.
bool enter(Member* m, uint16_t port, uint64_t cell_id, uint64_t member_id) {
  m->cell_id = cell_id;
  m->id = member_id;
  v1::Envelope env;
  if (!m->tcp.connect(port) ||
      !m->tcp.send(hello_envelope(cell_id, member_id, member_token(cell_id, member_id))) ||
      !m->tcp.read_until(v1::Envelope::kWelcome, &env) || !m->udp.open()) {
    return false;
  }
  m->welcome = env.welcome();
  return true;
}

// A relayed voice datagram for `m`, opened under its key; false on timeout
// or one that does not open (then *why says what).
bool receive_voice(Member* m, wire::DatagramHeader* h, std::string* payload, int timeout_ms,
                   std::string* why) {
  std::string bytes;
  if (!m->udp.receive(&bytes, timeout_ms)) {
    *why = "nothing received";
    return false;
  }
  std::string_view p;
  if (wire::open_datagram(m->welcome.media_key(), wire::DatagramDirection::kToMember, bytes, h,
                          &p) != wire::OpenStatus::kOk) {
    *why = "a datagram that does not open under the member's key";
    return false;
  }
  if (h->session_id != m->session() || h->kind != DatagramKind::kVoice) {
    *why = "a datagram for session " + std::to_string(h->session_id);
    return false;
  }
  payload->assign(p);
  return true;
}

v1::Envelope open_meeting() {
  v1::Envelope env;
  env.mutable_open_meeting()->set_reason("sinh hoạt chi bộ");
  return env;
}

v1::Envelope grant_floor(uint64_t member_id) {
  v1::Envelope env;
  env.mutable_grant_floor()->set_member_id(member_id);
  return env;
}

std::map<std::string, double> scrape(const Server& server) {
  return parse_metrics(http_get(server.metrics_port(), "/metrics"));
}

double value(const std::map<std::string, double>& m, const std::string& series) {
  auto it = m.find(series);
  return it == m.end() ? -1 : it->second;
}

// Polls /metrics until `series` reads `want` or the bound passes; the
// metrics of the last scrape.
std::map<std::string, double> wait_metric(const Server& server, const std::string& series,
                                          double want) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(kMetricsTimeoutMs);
  std::map<std::string, double> m = scrape(server);
  while (value(m, series) != want && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = scrape(server);
  }
  return m;
}

std::string dropped(const std::string& reason) {
  return "cellmeet_datagrams_dropped_total{reason=\"" + reason + "\"}";
}
std::string accepted(const std::string& verdict) {
  return "cellmeet_datagrams_accepted_total{verdict=\"" + verdict + "\"}";
}

// The sum of `name`'s series whose labels include every one of `labels`
// (each written as key="value").
double sum_series(const std::map<std::string, double>& m, const std::string& name,
                  const std::vector<std::string>& labels) {
  double sum = 0;
  for (const auto& [series, v] : m) {
    if (series.rfind(name + "{", 0) != 0) continue;
    bool all = true;
    for (const std::string& l : labels) all = all && series.find(l) != std::string::npos;
    if (all) sum += v;
  }
  return sum;
}

// Cell 1's chair and members `ids` logged in and joined, the meeting
// opened, the floor granted to `floor` (0: to no one); `unjoined` logged in
// only. Every member's endpoint is bound (a kBind datagram each), and the
// server shows them bound.
class MeetingSetup {
 public:
  bool start(Server& server, const std::vector<uint64_t>& ids, uint64_t floor,
             const std::vector<uint64_t>& unjoined = {}) {
    const uint16_t port = server.port();
    for (uint64_t id : ids) {
      Member& m = members_[id];
      if (!enter(&m, port, kCellA, id) || !join(&m.tcp))
        return fail("member " + std::to_string(id));
    }
    for (uint64_t id : unjoined) {
      if (!enter(&members_[id], port, kCellA, id)) return fail("member " + std::to_string(id));
    }
    Member& chair = members_.at(kChair);
    v1::Envelope env;
    if (!chair.tcp.send(open_meeting())) return fail("open meeting");
    if (floor != 0) {
      if (!chair.tcp.send(grant_floor(floor)) ||
          !members_.at(floor).tcp.read_until(v1::Envelope::kFloorGranted, &env)) {
        return fail("grant the floor");
      }
    }
    for (auto& [id, m] : members_) {
      if (!m.udp.send_to(server.media_port(), m.seal(DatagramKind::kBind, 0, ""))) {
        return fail("bind " + std::to_string(id));
      }
    }
    const auto got = wait_metric(server, "cellmeet_datagram_sessions_bound",
                                 static_cast<double>(members_.size()));
    if (value(got, "cellmeet_datagram_sessions_bound") != static_cast<double>(members_.size())) {
      return fail("the server did not bind every member's endpoint");
    }
    return true;
  }
  Member& operator[](uint64_t id) { return members_.at(id); }
  const std::string& why() const { return why_; }

 private:
  bool fail(const std::string& what) {
    why_ = what;
    return false;
  }
  std::map<uint64_t, Member> members_;
  std::string why_;
};

// The next datagram `m` receives is the relayed voice frame `media_seq`
// from `speaker`, and nothing else follows within kSilenceMs.
void expect_only(Member* m, uint64_t speaker, uint64_t media_seq, const std::string& payload) {
  wire::DatagramHeader h;
  std::string got, why;
  ASSERT_TRUE(receive_voice(m, &h, &got, kArriveTimeoutMs, &why))
      << "member " << m->id << ": " << why;
  EXPECT_EQ(h.media_seq, media_seq) << "member " << m->id << " received another frame first";
  EXPECT_EQ(h.from_member_id, speaker);
  EXPECT_EQ(got, payload);
  std::string more;
  EXPECT_FALSE(m->udp.receive(&more, kSilenceMs)) << "member " << m->id << " received more";
}

// ===========================================================================

// Shows that the server offers voice datagrams by default: every Welcome
// carries a 32-byte media key and the port the server bound, and /metrics
// has the datagram families at 0 before any traffic.
TEST(DatagramServerTest, WelcomeOffersTheMediaPortAndAKey) {
  auto server = start_or_fail(test_options());
  ASSERT_NE(server->media_port(), 0);
  Member a, b;
  ASSERT_TRUE(enter(&a, server->port(), kCellA, 2));
  ASSERT_TRUE(enter(&b, server->port(), kCellB, 2));
  for (const Member* m : {&a, &b}) {
    EXPECT_EQ(m->welcome.media_port(), server->media_port());
    EXPECT_EQ(m->welcome.media_key().size(), wire::kMediaKeyBytes);
  }
  EXPECT_NE(a.welcome.media_key(), b.welcome.media_key());
  const auto m = scrape(*server);
  EXPECT_EQ(value(m, "cellmeet_datagrams_received_total"), 0);
  EXPECT_EQ(value(m, dropped("bad_tag")), 0);
  EXPECT_EQ(value(m, accepted("relayed")), 0);
  EXPECT_EQ(value(m, "cellmeet_datagrams_sent_total"), 0);
  EXPECT_EQ(value(m, "cellmeet_datagram_send_queue_drops_total"), 0);
  EXPECT_EQ(value(m, "cellmeet_meeting_media_omitted"), 0);
}

// Shows the off switch: with media_enabled false there is no media port,
// Welcome carries no key and no port, and the counts stay at 0.
TEST(DatagramServerTest, TheOffSwitchOffersNoDatagrams) {
  ServerOptions o = test_options();
  o.media_enabled = false;
  auto server = start_or_fail(std::move(o));
  EXPECT_EQ(server->media_port(), 0);
  Member a;
  ASSERT_TRUE(enter(&a, server->port(), kCellA, 2));
  EXPECT_EQ(a.welcome.media_port(), 0u);
  EXPECT_TRUE(a.welcome.media_key().empty());
  EXPECT_EQ(value(scrape(*server), "cellmeet_datagram_sessions_bound"), 0);
}

// (a) Shows that, with member 2 holding the floor and the chair and member
// 3 listening, only member 2's two authentic, fresh voice datagrams are
// relayed; everything else is dropped, reaches no one (the listeners' next
// datagram is the second voice frame, and a cell-2 member hears nothing),
// and is counted by reason:
//   bad_tag          3 forged (a tag bit, a payload byte, a header byte
//                    flipped), 2 other-session (member 3's and cell 2's
//                    member's keys naming member 2's session; the second
//                    routed to shard 1 from a shard-0 sender's socket)
//   replayed         the first voice datagram, sent again twice
//   unknown_session  a session id no engine handed out
//   malformed        10 bytes of junk, and a datagram over
//                    kMaxDatagramBytes (it arrives cut to one byte over)
// and received = accepted + dropped.
TEST(DatagramServerTest, ForgedReplayedAndOtherSessionDatagramsAreDroppedAndCounted) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3}, /*floor=*/2)) << s.why();
  Member outsider;  // cell 2: another shard
  ASSERT_TRUE(enter(&outsider, server->port(), kCellB, 2));
  ASSERT_TRUE(join(&outsider.tcp));
  Member& speaker = s[2];

  const std::string voice = speaker.seal(DatagramKind::kVoice, 1, "xin chào");
  ASSERT_TRUE(speaker.udp.send_to(media, voice));
  for (uint64_t id : {kChair, uint64_t{3}}) {
    wire::DatagramHeader h;
    std::string payload, why;
    ASSERT_TRUE(receive_voice(&s[id], &h, &payload, kArriveTimeoutMs, &why)) << id << ": " << why;
    EXPECT_EQ(h.media_seq, 1u);
    EXPECT_EQ(h.from_member_id, 2u);
    EXPECT_EQ(payload, "xin chào");
  }

  int sent = 1;
  const auto send = [&](Member& from, const std::string& bytes) {
    ASSERT_TRUE(from.udp.send_to(media, bytes));
    ++sent;
  };
  // Forged: one bit of the tag, of the payload, of the header's media_seq.
  std::string forged = speaker.seal(DatagramKind::kVoice, 2, "giả mạo");
  forged.back() ^= 0x01;
  send(speaker, forged);
  forged = speaker.seal(DatagramKind::kVoice, 2, "giả mạo");
  forged[wire::kDatagramHeaderBytes] ^= 0x20;
  send(speaker, forged);
  forged = speaker.seal(DatagramKind::kVoice, 2, "giả mạo");
  forged[27] ^= 0x01;  // the last byte of media_seq
  send(speaker, forged);
  // Replayed, twice.
  send(speaker, voice);
  send(speaker, voice);
  // Other sessions' keys naming the speaker's session.
  send(s[3], s[3].seal(DatagramKind::kVoice, 2, "mạo danh", speaker.session()));
  send(outsider, outsider.seal(DatagramKind::kVoice, 2, "mạo danh", speaker.session()));
  // A session no engine handed out (ids 1, 3, 5, ... are shard 0's, and
  // this server has given out only a few).
  send(speaker, speaker.seal(DatagramKind::kVoice, 2, "ai đây", 999'999));
  // Not datagrams.
  send(speaker, std::string(10, '\x01'));
  std::string big =
      speaker.seal(DatagramKind::kVoice, 2, std::string(wire::kMaxDatagramPayloadBytes, 'x'));
  big.append(300, 'x');  // 1,500 bytes: over the limit
  send(speaker, big);
  // The floor holder again: relayed.
  send(speaker, speaker.seal(DatagramKind::kVoice, 3, "hết"));

  expect_only(&s[kChair], 2, 3, "hết");
  expect_only(&s[3], 2, 3, "hết");
  std::string heard;
  EXPECT_FALSE(outsider.udp.receive(&heard, kSilenceMs)) << "a member of another cell heard it";

  const double binds = 3;  // the setup's
  const double received = sent + binds;
  const auto m = wait_metric(*server, "cellmeet_datagrams_received_total", received);
  EXPECT_EQ(value(m, "cellmeet_datagrams_received_total"), received);
  EXPECT_EQ(value(m, dropped("bad_tag")), 5);
  EXPECT_EQ(value(m, dropped("replayed")), 2);
  EXPECT_EQ(value(m, dropped("unknown_session")), 1);
  EXPECT_EQ(value(m, dropped("malformed")), 2);
  EXPECT_EQ(value(m, dropped("not_floor_holder")), 0);
  EXPECT_EQ(value(m, accepted("relayed")), 2);
  EXPECT_EQ(value(m, accepted("bound")), binds);
  EXPECT_EQ(value(m, "cellmeet_datagram_route_drops_total"), 0);
  double all = value(m, "cellmeet_datagram_route_drops_total");
  for (const auto& [series, v] : m) {
    if (series.rfind("cellmeet_datagrams_dropped_total{", 0) == 0 ||
        series.rfind("cellmeet_datagrams_accepted_total{", 0) == 0) {
      all += v;
    }
  }
  EXPECT_EQ(all, received) << "received is not accepted + dropped";
  EXPECT_EQ(value(m, "cellmeet_datagrams_relayed_total"), 4);  // 2 frames × 2 listeners
  EXPECT_EQ(value(m, "cellmeet_datagrams_sent_total"), 4);
  EXPECT_EQ(value(m, "cellmeet_datagram_send_errors_total"), 0);
  EXPECT_EQ(sum_series(m, "cellmeet_meeting_media_frames_total",
                       {"cell=\"1\"", "transport=\"datagram\""}),
            4);
}

// (b) Shows that voice from member 3, joined but without the floor (member
// 2 holds it), and from member 5, logged in but not joined, is relayed to
// no one: 20 and 5 datagrams dropped as not_floor_holder and not_joined;
// the listeners' next datagram is the floor holder's, and member 5 (not in
// the meeting's pushes) receives nothing.
TEST(DatagramServerTest, AMemberWithoutTheFloorIsNotRelayed) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3}, /*floor=*/2, /*unjoined=*/{5})) << s.why();
  constexpr int kNoFloor = 20, kNotJoined = 5;
  for (int i = 0; i < kNoFloor; ++i) {
    ASSERT_TRUE(s[3].udp.send_to(media, s[3].seal(DatagramKind::kVoice, i + 1, "tôi nói")));
  }
  for (int i = 0; i < kNotJoined; ++i) {
    ASSERT_TRUE(s[5].udp.send_to(media, s[5].seal(DatagramKind::kVoice, i + 1, "tôi nói")));
  }
  // Member 3's and member 5's datagrams are handled by then (one shard, in
  // order from each socket) — wait for the counts before the floor holder
  // speaks, so its frame is surely the first relayed.
  auto m = wait_metric(*server, dropped("not_joined"), kNotJoined);
  m = wait_metric(*server, dropped("not_floor_holder"), kNoFloor);
  EXPECT_EQ(value(m, dropped("not_floor_holder")), kNoFloor);
  EXPECT_EQ(value(m, dropped("not_joined")), kNotJoined);
  EXPECT_EQ(value(m, accepted("relayed")), 0);
  EXPECT_EQ(value(m, "cellmeet_datagrams_relayed_total"), 0);

  ASSERT_TRUE(s[2].udp.send_to(media, s[2].seal(DatagramKind::kVoice, 7, "người giữ quyền")));
  expect_only(&s[kChair], 2, 7, "người giữ quyền");
  expect_only(&s[3], 2, 7, "người giữ quyền");
  std::string heard;
  EXPECT_FALSE(s[5].udp.receive(&heard, kSilenceMs)) << "a member not joined heard voice";
  EXPECT_FALSE(s[2].udp.receive(&heard, 0)) << "the speaker heard something";
  m = wait_metric(*server, "cellmeet_datagrams_sent_total", 2);
  EXPECT_EQ(value(m, accepted("relayed")), 1);
  EXPECT_EQ(value(m, "cellmeet_datagrams_sent_total"), 2);
}

// (c) Shows that a meeting's voice flows while its TCP sessions carry the
// business. Member 2, holding the floor, speaks 200 frames of 160 bytes at
// 20 ms (4 s). While its voice flows, every member's heartbeat is answered
// and member 3's floor request reaches the chair. Then the chair opens a
// vote (nobody holds the floor during a vote, RULES.md: the speaker's
// datagrams are now dropped as not_floor_holder, as its MediaFrames would
// be refused), the chair and members 2, 3 and 5 cast ballots and have them
// acknowledged, the chair closes it, every member receives the result, and
// the chair gives member 2 the floor again, whose voice flows again — all
// before the speaker's last frame. Every listener (chair, 3, 5) receives
// exactly the frames the server took (cellmeet_datagrams_accepted_total
// {verdict="relayed"}), in order, each sealed under its own key, some from
// before the vote and some from after it; taken plus dropped is every frame
// spoken; the server sent every relayed copy, and the meeting's datagram
// media counts say so.
TEST(DatagramServerTest, VoiceFlowsWhileTheTcpSessionsCarryTheBusiness) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3, 5}, /*floor=*/2)) << s.why();
  constexpr int kFrames = 200;
  constexpr auto kFrameInterval = std::chrono::milliseconds(20);
  constexpr size_t kPayload = 160;
  // A listener stops once the speaker is done and this long has been quiet.
  constexpr auto kQuietAfterSpeech = std::chrono::milliseconds(500);
  const std::vector<uint64_t> listeners = {kChair, 3, 5};
  const std::vector<uint64_t> everyone = {kChair, 2, 3, 5};

  struct Heard {
    std::vector<uint64_t> seqs;  // media_seq of each frame, as received
    std::string error;
  };
  std::map<uint64_t, Heard> heard;
  for (uint64_t id : listeners) heard[id];
  std::atomic<int> spoken{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (uint64_t id : listeners) {
    threads.emplace_back([&, id] {
      Heard& h = heard.at(id);
      const auto deadline = Clock::now() + kFrames * kFrameInterval + std::chrono::seconds(10);
      auto quiet_since = Clock::now();
      while (Clock::now() < deadline &&
             !(done.load() && Clock::now() - quiet_since > kQuietAfterSpeech)) {
        wire::DatagramHeader dh;
        std::string payload, why;
        if (!receive_voice(&s[id], &dh, &payload, 50, &why)) {
          if (why != "nothing received") h.error = why;
          continue;
        }
        quiet_since = Clock::now();
        if (dh.from_member_id != 2 || payload.size() != kPayload || dh.capture_ns <= 0) {
          h.error = "a wrong frame";
        }
        h.seqs.push_back(dh.media_seq);
      }
    });
  }
  threads.emplace_back([&] {
    Member& speaker = s[2];
    auto next = Clock::now();
    for (int i = 1; i <= kFrames; ++i) {
      std::this_thread::sleep_until(next);
      next += kFrameInterval;
      speaker.udp.send_to(media, speaker.seal(DatagramKind::kVoice, i, std::string(kPayload, 'v')));
      spoken.store(i);
    }
    done.store(true);
  });
  const auto wait_spoken = [&](int n) {
    const auto by = Clock::now() + std::chrono::seconds(5);
    while (spoken.load() < n && Clock::now() < by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };

  // While the voice flows: heartbeats, and a floor request to the chair.
  wait_spoken(10);
  for (uint64_t id : everyone) EXPECT_TRUE(heartbeat_ok(&s[id].tcp, 1)) << id;
  v1::Envelope env;
  env.mutable_request_floor()->set_topic("xin phát biểu");
  ASSERT_TRUE(s[3].tcp.send(env));
  ASSERT_TRUE(s[kChair].tcp.read_until(v1::Envelope::kFloorRequested, &env));
  EXPECT_EQ(env.floor_requested().member_id(), 3u);
  wait_spoken(40);
  for (uint64_t id : everyone) EXPECT_TRUE(heartbeat_ok(&s[id].tcp, 2)) << id;

  // The vote, from opening to result; then the floor again.
  const int spoken_at_vote = spoken.load();
  env.Clear();
  env.mutable_open_vote()->set_vote_id(1);
  env.mutable_open_vote()->set_kind(v1::VOTE_KIND_RESOLUTION);
  env.mutable_open_vote()->set_subject("Nghị quyết tháng");
  ASSERT_TRUE(s[kChair].tcp.send(env));
  for (uint64_t id : everyone) {
    ASSERT_TRUE(s[id].tcp.read_until(v1::Envelope::kVoteOpened, &env)) << id;
  }
  for (uint64_t id : everyone) {
    env.Clear();
    env.set_request_id(100 + id);
    env.mutable_cast_ballot()->set_vote_id(1);
    env.mutable_cast_ballot()->set_choice(v1::CHOICE_YES);
    env.mutable_cast_ballot()->set_ballot_id(100 + id);
    ASSERT_TRUE(s[id].tcp.send(env));
    ASSERT_TRUE(s[id].tcp.read_until(v1::Envelope::kBallotAck, &env)) << id;
  }
  env.Clear();
  env.mutable_close_vote()->set_vote_id(1);
  ASSERT_TRUE(s[kChair].tcp.send(env));
  for (uint64_t id : everyone) {
    ASSERT_TRUE(s[id].tcp.read_until(v1::Envelope::kVoteClosed, &env)) << id;
    EXPECT_EQ(env.vote_closed().tally().yes(), 4u);
    EXPECT_TRUE(env.vote_closed().passed());
  }
  ASSERT_TRUE(s[kChair].tcp.send(grant_floor(2)));
  ASSERT_TRUE(s[2].tcp.read_until(v1::Envelope::kFloorGranted, &env));
  const int spoken_at_floor = spoken.load();
  for (auto& t : threads) t.join();

  EXPECT_LT(spoken_at_floor + 20, kFrames) << "the business ended too late to hear voice after it";
  const auto m = wait_metric(*server, "cellmeet_datagrams_received_total", kFrames + 4.0);
  const double taken = value(m, accepted("relayed"));
  EXPECT_EQ(taken + value(m, dropped("not_floor_holder")), kFrames);
  EXPECT_EQ(value(m, dropped("rate_limited")), 0);
  for (uint64_t id : listeners) {
    const Heard& h = heard.at(id);
    EXPECT_TRUE(h.error.empty()) << "listener " << id << ": " << h.error;
    EXPECT_EQ(static_cast<double>(h.seqs.size()), taken) << "listener " << id;
    EXPECT_TRUE(std::is_sorted(h.seqs.begin(), h.seqs.end())) << "listener " << id;
    ASSERT_FALSE(h.seqs.empty()) << "listener " << id;
    EXPECT_LE(h.seqs.front(), static_cast<uint64_t>(spoken_at_vote)) << "listener " << id;
    EXPECT_GT(h.seqs.back(), static_cast<uint64_t>(spoken_at_floor)) << "listener " << id;
  }
  const double copies = taken * static_cast<double>(listeners.size());
  EXPECT_EQ(value(m, "cellmeet_datagrams_relayed_total"), copies);
  EXPECT_EQ(value(m, "cellmeet_datagrams_sent_total"), copies);
  EXPECT_EQ(value(m, "cellmeet_datagram_sent_bytes_total"),
            copies * wire::sealed_datagram_bytes(kPayload));
  EXPECT_EQ(value(m, "cellmeet_datagram_send_queue_drops_total"), 0);
  EXPECT_EQ(sum_series(m, "cellmeet_meeting_media_frames_total",
                       {"cell=\"1\"", "transport=\"datagram\""}),
            copies);
  EXPECT_EQ(
      sum_series(m, "cellmeet_meeting_media_bytes_total", {"cell=\"1\"", "transport=\"datagram\""}),
      copies * wire::sealed_datagram_bytes(kPayload));
  EXPECT_EQ(
      sum_series(m, "cellmeet_meeting_media_frames_total", {"cell=\"1\"", "transport=\"in_band\""}),
      0);
}

// Shows that a session's endpoint follows the member: after member 3 sends
// a bind from a new socket (a NAT rebinding), the floor holder's voice goes
// to the new socket and no longer to the old one; and that a replayed bind
// from elsewhere does not move it back.
TEST(DatagramServerTest, TheLatchedEndpointFollowsTheMember) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3}, /*floor=*/2)) << s.why();
  TestDatagramSocket moved;
  ASSERT_TRUE(moved.open());
  const std::string bind = s[3].seal(DatagramKind::kBind, 0, "");
  ASSERT_TRUE(moved.send_to(media, bind));
  wait_metric(*server, accepted("bound"), 4);
  ASSERT_TRUE(s[3].udp.send_to(media, bind));  // a replay from the old place: dropped
  wait_metric(*server, dropped("replayed"), 1);
  ASSERT_TRUE(s[2].udp.send_to(media, s[2].seal(DatagramKind::kVoice, 1, "đây")));
  std::string bytes;
  ASSERT_TRUE(moved.receive(&bytes, kArriveTimeoutMs)) << "the new endpoint heard nothing";
  wire::DatagramHeader h;
  std::string_view payload;
  ASSERT_EQ(wire::open_datagram(s[3].welcome.media_key(), wire::DatagramDirection::kToMember, bytes,
                                &h, &payload),
            wire::OpenStatus::kOk);
  EXPECT_EQ(payload, "đây");
  EXPECT_FALSE(s[3].udp.receive(&bytes, kSilenceMs)) << "the old endpoint still hears";
}

// Shows that the pacing rule holds for datagrams as for MediaFrames: the
// floor holder flooding 2,000 voice datagrams of 1,000 bytes as fast as its
// socket takes them has at most burst + rate × elapsed of them relayed (a
// frame costs its payload + kMediaFrameOverheadBytes, the bucket MediaFrames
// use), the rest counted as rate_limited (or lost by the kernel before the
// server read them: UDP); what the server read is still accepted + dropped.
TEST(DatagramServerTest, TheFloorHoldersFloodIsPacedAsMediaFramesAre) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3}, /*floor=*/2)) << s.why();
  const engine::EngineSettings defaults;
  constexpr int kFlood = 2000;
  constexpr size_t kPayload = 1000;
  const std::string payload(kPayload, 'f');
  const auto started = Clock::now();
  for (int i = 1; i <= kFlood; ++i) {
    ASSERT_TRUE(s[2].udp.send_to(media, s[2].seal(DatagramKind::kVoice, i, payload)));
  }
  // Quiet for a moment: everything the kernel kept has been handled.
  std::map<std::string, double> m = scrape(*server);
  for (double last = -1; value(m, "cellmeet_datagrams_received_total") != last;) {
    last = value(m, "cellmeet_datagrams_received_total");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m = scrape(*server);
  }
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
  const double relayed = value(m, accepted("relayed"));
  const double limited = value(m, dropped("rate_limited"));
  const double cost = kPayload + engine::kMediaFrameOverheadBytes;
  EXPECT_GT(limited, 0) << "the flood was not paced";
  EXPECT_GE(relayed, std::min<double>(kFlood - limited, defaults.media_burst_bytes / cost) - 1);
  EXPECT_LE(relayed,
            (defaults.media_burst_bytes + defaults.media_rate_bytes_per_s * elapsed_s) / cost + 1);
  double all = value(m, "cellmeet_datagram_route_drops_total");
  for (const auto& [series, v] : m) {
    if (series.rfind("cellmeet_datagrams_dropped_total{", 0) == 0 ||
        series.rfind("cellmeet_datagrams_accepted_total{", 0) == 0) {
      all += v;
    }
  }
  EXPECT_EQ(all, value(m, "cellmeet_datagrams_received_total"));
  EXPECT_LE(value(m, "cellmeet_datagrams_received_total"), kFlood + 3.0);
  // The listeners are still members: their sessions answer.
  for (uint64_t id : {kChair, uint64_t{3}}) EXPECT_TRUE(heartbeat_ok(&s[id].tcp, 1)) << id;
}

// Shows that a graceful stop while voice flows (a speaker sending every
// 2 ms from another thread) completes within its bound, with every member's
// session told ERROR_SHUTTING_DOWN, and nothing reaches a stopped engine.
TEST(DatagramServerTest, AStopWhileVoiceFlowsIsClean) {
  auto server = start_or_fail(test_options());
  const uint16_t media = server->media_port();
  MeetingSetup s;
  ASSERT_TRUE(s.start(*server, {kChair, 2, 3}, /*floor=*/2)) << s.why();
  std::atomic<bool> stop{false};
  std::thread speaker([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    for (int i = 1; !stop.load() && Clock::now() < deadline; ++i) {
      s[2].udp.send_to(media, s[2].seal(DatagramKind::kVoice, i, std::string(160, 'v')));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto started = Clock::now();
  server->stop();
  const double took_s = std::chrono::duration<double>(Clock::now() - started).count();
  stop.store(true);
  speaker.join();
  EXPECT_LT(took_s, (kFlushTimeoutMs + 2000) / 1000.0);
  for (uint64_t id : {kChair, uint64_t{3}}) {
    EXPECT_EQ(s[id].tcp.read_error(), v1::ERROR_SHUTTING_DOWN) << id;
  }
}

// ===========================================================================
// The parts, without a server.

// Shows that a session id names the shard whose engine handed it out
// (shard i of N numbers its sessions i + 1, i + 1 + N, ...: server.cc's
// session_id_base and _stride), and that what is no datagram, or names
// session 0, goes to shard 0.
TEST(DatagramRouteTest, TheSessionIdNamesItsShard) {
  for (size_t shards : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    for (size_t i = 0; i < shards; ++i) {
      for (uint64_t k = 0; k < 10; ++k) {
        EXPECT_EQ(shard_for_session(i + 1 + k * shards, shards), i) << shards << " shards";
      }
    }
    EXPECT_EQ(shard_for_session(0, shards), 0u);
  }
  wire::DatagramHeader h;
  h.session_id = 8;  // shard 1 of 3: 2, 5, 8, ...
  h.seq = 1;
  const std::string sealed =
      wire::seal_datagram(std::string(32, 'k'), wire::DatagramDirection::kToServer, h, "x");
  EXPECT_EQ(shard_for_datagram(sealed, 3), 1u);
  EXPECT_EQ(shard_for_datagram("junk", 3), 0u);
  EXPECT_EQ(shard_for_datagram(sealed + std::string(wire::kMaxDatagramBytes, 'x'), 3), 0u);
}

// Shows the inbox's hand-over: the first push into an empty inbox asks for
// a wake-up and the others do not; past kMaxInboxDatagrams a push is
// dropped and counted; take() hands over every datagram with its sender,
// in order, and an emptied inbox asks for a wake-up again.
TEST(DatagramInboxTest, BoundedBatchesInOrder) {
  DatagramInbox inbox;
  const udp::endpoint from(asio::ip::make_address("127.0.0.1"), 4000);
  EXPECT_EQ(inbox.push("d0", from), DatagramInbox::Pushed::kFirst);
  for (size_t i = 1; i < kMaxInboxDatagrams; ++i) {
    ASSERT_EQ(inbox.push("d" + std::to_string(i), from), DatagramInbox::Pushed::kQueued) << i;
  }
  EXPECT_EQ(inbox.push("over", from), DatagramInbox::Pushed::kDropped);
  EXPECT_EQ(inbox.drops(), 1u);
  DatagramInbox::Batch batch;
  inbox.take(&batch);
  ASSERT_EQ(batch.entries.size(), kMaxInboxDatagrams);
  for (size_t i = 0; i < kMaxInboxDatagrams; i += 997) {
    EXPECT_EQ(batch.at(batch.entries[i]), "d" + std::to_string(i));
    EXPECT_EQ(batch.entries[i].from, from);
  }
  EXPECT_EQ(inbox.push("again", from), DatagramInbox::Pushed::kFirst);
  inbox.take(&batch);
  ASSERT_EQ(batch.entries.size(), 1u);
  EXPECT_EQ(batch.at(batch.entries[0]), "again");
}

// Shows the sender's bound: past kMaxDatagramSendQueue queued datagrams a
// queue() is refused and counted, nothing leaves before flush(), and
// flush() writes what was queued, in order, to its endpoint.
TEST(DatagramSenderTest, TheQueueIsBoundedAndFlushWritesInOrder) {
  TestDatagramSocket peer;
  ASSERT_TRUE(peer.open());
  asio::io_context ctx(1);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  DatagramSender sender(ctx, fd);
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), peer.port());
  constexpr size_t kOver = 5;
  for (size_t i = 0; i < kMaxDatagramSendQueue + kOver; ++i) {
    sender.queue(to, std::make_shared<const std::string>("v" + std::to_string(i)));
  }
  EXPECT_EQ(sender.queued(), kMaxDatagramSendQueue);
  EXPECT_EQ(sender.stats().queue_drops.load(), kOver);
  std::string got;
  EXPECT_FALSE(peer.receive(&got, 50)) << "sent before flush()";
  sender.flush();
  ctx.run_for(std::chrono::seconds(2));  // retries, if the socket would block
  EXPECT_EQ(sender.queued(), 0u);
  EXPECT_EQ(sender.stats().sent.load() + sender.stats().errors.load(), kMaxDatagramSendQueue);
  EXPECT_EQ(sender.stats().errors.load(), 0u);
  ASSERT_TRUE(peer.receive(&got, kArriveTimeoutMs));
  EXPECT_EQ(got, "v0");
  ASSERT_TRUE(peer.receive(&got, kArriveTimeoutMs));
  EXPECT_EQ(got, "v1");
}

}  // namespace
}  // namespace cellsim::net::testing
