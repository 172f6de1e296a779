// Conformance of cellmeetd over TCP to the wire protocol (DESIGN.md) and the
// meeting rules (RULES.md), one test per defect of issue 9, each against the
// real in-process net::Server on loopback:
//   3. texts over the limit are cut at a UTF-8 character boundary, and a
//      request holding invalid UTF-8 is refused naming the field;
//   4. no frame the server sends exceeds its own maximum (64 KiB);
//   5. only the floor holder's media is relayed, paced by a token bucket, so
//      a flooding speaker neither floods the others nor evicts a member on a
//      small receive window;
//   6. absences cannot be excused while a vote is open (D does not move);
//   7. a resent ballot with another choice is refused, not acknowledged;
//   8. per-connection memory stays bounded after a large frame;
// and the acceptance test for secret ballots on disk: what the journal, the
// ballot boxes and the minutes hold does not depend on who chose what.
//
// Every frame a client here receives goes through Peer, which records the
// frame's length and whether it parsed. Every wait is bounded (a timeout per
// read; ctest's TIMEOUT around the whole).
#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/frame.h"
#include "server/net/journal.h"
#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// The protocol's default maximum frame (DESIGN.md): no frame the server
// sends may be longer.
constexpr size_t kMaxFrame = wire::kDefaultMaxFrameBytes;
constexpr size_t kMaxText = 1024;  // EngineSettings::max_text_bytes default

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// Deployment: test_deployment()'s cells A (1) and B (2), plus
//   cell 6: six official members, chair 1 (RULES.md's D arithmetic);
//   cell 7: 600 official members, chair 1 (a large roster).
constexpr uint64_t kCellSix = 6;
constexpr uint64_t kCellBig = 7;
constexpr int kBigRoster = 600;

v1::CellRoster plain_roster(uint64_t cell_id, int members) {
  v1::CellRoster r;
  r.set_cell_id(cell_id);
  r.set_name("Chi bộ " + std::to_string(cell_id));
  for (int id = 1; id <= members; ++id) {
    auto* m = r.add_members();
    m->set_member_id(id);
    m->set_name("member " + std::to_string(id));
    m->set_standing(v1::STANDING_OFFICIAL);
    m->set_role(id == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
  }
  return r;
}

v1::Deployment conf_deployment() {
  v1::Deployment d = test_deployment();
  *d.add_cells() = plain_roster(kCellSix, 6);
  *d.add_cells() = plain_roster(kCellBig, kBigRoster);
  return d;
}

ServerOptions conf_options() {
  ServerOptions o = test_options();
  o.deployment = conf_deployment();
  return o;
}

std::string token_for(uint64_t cell_id, uint64_t member_id) {
  static const v1::Deployment deployment = conf_deployment();
  for (const auto& c : deployment.cells()) {
    if (c.cell_id() != cell_id) continue;
    for (const auto& m : c.members()) {
      if (m.member_id() == member_id) {
        return make_token(test_key(), cell_id, member_id, m.standing(), m.role());
      }
    }
  }
  ADD_FAILURE() << "no member " << member_id << " in cell " << cell_id;
  return "";
}

// ---------------------------------------------------------------------------
// UTF-8 (RFC 3629), written here so the test does not trust the server's.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the character runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A Vietnamese text of more than `min_bytes` bytes whose first kMaxText
// bytes end inside a multi-byte character: a bytewise cut at the limit
// leaves invalid UTF-8.
std::string viet_over_limit(const std::string& seed, size_t min_bytes = 1400) {
  std::string base;
  while (base.size() < min_bytes) base += seed;
  for (int pad = 0; pad < 8; ++pad) {
    std::string s = std::string(static_cast<size_t>(pad), '.') + base;
    if (!valid_utf8(std::string_view(s).substr(0, kMaxText))) return s;
  }
  ADD_FAILURE() << "no padding puts a character across byte " << kMaxText;
  return base;
}

// Every string field of `msg` (recursively) is valid UTF-8; the first
// offender's path in *why. (Lengths are checked field by field by the
// callers: the minutes' proceedings entries carry a prefix before the text.)
bool texts_ok(const google::protobuf::Message& msg, std::string* why, const std::string& path = "") {
  const auto* refl = msg.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    const std::string p = path + (path.empty() ? "" : ".") + f->name();
    if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      std::vector<std::string> values;
      if (f->is_repeated()) {
        for (int i = 0; i < refl->FieldSize(msg, f); ++i) {
          values.push_back(refl->GetRepeatedString(msg, f, i));
        }
      } else {
        values.push_back(refl->GetString(msg, f));
      }
      for (const auto& v : values) {
        if (!valid_utf8(v)) {
          *why = p + " (" + std::to_string(v.size()) + " bytes)";
          return false;
        }
      }
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < refl->FieldSize(msg, f); ++i) {
          if (!texts_ok(refl->GetRepeatedMessage(msg, f, i), why, p)) return false;
        }
      } else if (!texts_ok(refl->GetMessage(msg, f), why, p)) {
        return false;
      }
    }
  }
  return true;
}

bool is_prefix(const std::string& prefix, const std::string& of) {
  return of.compare(0, prefix.size(), prefix) == 0;
}

// ---------------------------------------------------------------------------
// Peer: a blocking client like TestClient (its decoder accepts frames up to
// kClientMaxFrameBytes, far over the server's maximum) that also records
// every received frame's length and whether it parsed.
class Peer {
 public:
  enum class Read { kFrame, kEof, kTimeout, kError, kMalformed };

  Peer() = default;
  ~Peer() { close(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool connect(uint16_t port, int receive_buffer_bytes = 0) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval send_timeout{kDefaultTimeoutMs / 1000, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    eof_ = false;
    decoder_ = wire::FrameDecoder(kClientMaxFrameBytes);
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(const v1::Envelope& env) { return send_raw(wire::encode_frame(env)); }
  bool send_raw(std::string_view bytes) {
    while (fd_ >= 0 && !bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return fd_ >= 0;
  }

  Read read(v1::Envelope* env, int timeout_ms = kDefaultTimeoutMs) {
    if (fd_ < 0) return Read::kError;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      std::string_view payload;
      switch (decoder_.next(&payload)) {
        case wire::FrameDecoder::Status::kFrame:
          ++frames_;
          largest_ = std::max(largest_, payload.size());
          if (payload.size() > kMaxFrame) ++oversized_;
          if (!env->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            ++malformed_;
            return Read::kMalformed;
          }
          return Read::kFrame;
        case wire::FrameDecoder::Status::kTooLarge:
          ++malformed_;
          return Read::kMalformed;
        case wire::FrameDecoder::Status::kNeedMore:
          break;
      }
      if (eof_) return Read::kEof;
      const int64_t left = deadline - now_ms();
      if (left < 0) return Read::kTimeout;
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r == 0) return Read::kTimeout;
      if (r < 0) {
        if (errno == EINTR) continue;
        return Read::kError;
      }
      char buf[64 * 1024];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Read::kError;
      if (n == 0) {
        eof_ = true;
        continue;
      }
      decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

  // Reads until a frame with `body` (others skipped, a malformed frame
  // too: it is counted); false on EOF, error, timeout or an Error frame.
  bool read_until(v1::Envelope::BodyCase body, v1::Envelope* env,
                  int timeout_ms = kDefaultTimeoutMs) {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      const int64_t left = deadline - now_ms();
      if (left <= 0) return false;
      const Read r = read(env, static_cast<int>(left));
      if (r == Read::kMalformed) continue;
      if (r != Read::kFrame) return false;
      if (env->body_case() == body) return true;
      if (env->body_case() == v1::Envelope::kError) return false;
    }
  }

  // The next direct answer among `bodies` or an Error (pushes skipped);
  // false on EOF, error or timeout.
  bool answer(std::initializer_list<v1::Envelope::BodyCase> bodies, v1::Envelope* env,
              int timeout_ms = kDefaultTimeoutMs) {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      const int64_t left = deadline - now_ms();
      if (left <= 0) return false;
      const Read r = read(env, static_cast<int>(left));
      if (r == Read::kMalformed) continue;
      if (r != Read::kFrame) return false;
      if (env->body_case() == v1::Envelope::kError) return true;
      for (auto b : bodies) {
        if (env->body_case() == b) return true;
      }
    }
  }

  // A barrier: sends Heartbeat{seq} and returns every frame read before its
  // HeartbeatAck (the server answers in order, so whatever it sent this
  // client before handling the heartbeat is in there). *ok is false if the
  // ack did not come (EOF, error, timeout).
  std::vector<v1::Envelope> sync(uint64_t seq, bool* ok, int timeout_ms = 10'000) {
    std::vector<v1::Envelope> before;
    *ok = false;
    if (!send(heartbeat_envelope(seq))) return before;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      const int64_t left = deadline - now_ms();
      if (left <= 0) return before;
      v1::Envelope env;
      const Read r = read(&env, static_cast<int>(left));
      if (r == Read::kMalformed) continue;
      if (r != Read::kFrame) return before;
      if (env.has_heartbeat_ack() && env.heartbeat_ack().seq() == seq) {
        *ok = true;
        return before;
      }
      before.push_back(std::move(env));
    }
  }

  uint64_t frames() const { return frames_; }
  uint64_t malformed() const { return malformed_; }
  uint64_t oversized() const { return oversized_; }
  size_t largest() const { return largest_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
  wire::FrameDecoder decoder_{kClientMaxFrameBytes};
  uint64_t frames_ = 0, malformed_ = 0, oversized_ = 0;
  size_t largest_ = 0;
};

// Every frame a peer received was at most the maximum and parsed.
void expect_clean(const Peer& p, const std::string& who) {
  EXPECT_EQ(p.oversized(), 0u) << who << " received frames over " << kMaxFrame
                               << " bytes (largest " << p.largest() << ")";
  EXPECT_EQ(p.malformed(), 0u) << who << " received frames that do not parse";
}

bool login(Peer* p, uint16_t port, uint64_t cell_id, uint64_t member_id,
           int receive_buffer_bytes = 0) {
  v1::Envelope env;
  return p->connect(port, receive_buffer_bytes) &&
         p->send(hello_envelope(cell_id, member_id, token_for(cell_id, member_id))) &&
         p->read_until(v1::Envelope::kWelcome, &env);
}

bool join(Peer* p, v1::Envelope* state = nullptr) {
  v1::Envelope env;
  env.set_request_id(9);
  env.mutable_join_meeting();
  return p->send(env) && p->read_until(v1::Envelope::kMeetingState, state ? state : &env);
}

v1::Envelope open_meeting(const std::string& reason) {
  v1::Envelope env;
  env.mutable_open_meeting()->set_reason(reason);
  return env;
}

v1::Envelope grant_floor(uint64_t member_id) {
  v1::Envelope env;
  env.mutable_grant_floor()->set_member_id(member_id);
  return env;
}

v1::Envelope open_vote(uint64_t vote_id, v1::VoteKind kind, const std::string& subject = "") {
  v1::Envelope env;
  env.mutable_open_vote()->set_vote_id(vote_id);
  env.mutable_open_vote()->set_kind(kind);
  env.mutable_open_vote()->set_subject(subject);
  return env;
}

v1::Envelope close_vote(uint64_t vote_id) {
  v1::Envelope env;
  env.mutable_close_vote()->set_vote_id(vote_id);
  return env;
}

v1::Envelope ballot(uint64_t vote_id, v1::Choice choice, uint64_t ballot_id) {
  v1::Envelope env;
  env.set_request_id(ballot_id);
  env.mutable_cast_ballot()->set_vote_id(vote_id);
  env.mutable_cast_ballot()->set_choice(choice);
  env.mutable_cast_ballot()->set_ballot_id(ballot_id);
  return env;
}

v1::Envelope media(uint64_t seq, size_t payload_bytes) {
  v1::Envelope env;
  env.mutable_media_frame()->set_seq(seq);
  env.mutable_media_frame()->set_payload(std::string(payload_bytes, 'v'));
  return env;
}

int count_body(const std::vector<v1::Envelope>& frames, v1::Envelope::BodyCase body) {
  return static_cast<int>(std::count_if(frames.begin(), frames.end(),
                                        [&](const auto& e) { return e.body_case() == body; }));
}

int count_errors(const std::vector<v1::Envelope>& frames, v1::ErrorCode code) {
  return static_cast<int>(std::count_if(frames.begin(), frames.end(), [&](const auto& e) {
    return e.has_error() && e.error().code() == code;
  }));
}

// Frames read until a frame with `body` arrives (inclusive), or the timeout.
std::vector<v1::Envelope> read_through(Peer* p, v1::Envelope::BodyCase body,
                                       int timeout_ms = kDefaultTimeoutMs) {
  std::vector<v1::Envelope> got;
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0) return got;
    v1::Envelope env;
    const Peer::Read r = p->read(&env, static_cast<int>(left));
    if (r == Peer::Read::kMalformed) continue;
    if (r != Peer::Read::kFrame) return got;
    got.push_back(env);
    if (env.body_case() == body) return got;
  }
}

// ===========================================================================
// Defect 3: texts over the limit were cut mid-character.

// Shows that a long Vietnamese agenda title, excuse reason, meeting reason,
// guest, floor topic and vote subject (each > 1024 bytes, the limit falling
// inside a character) reach every member in frames that parse, cut at a
// character boundary: the MeetingState at the opening, AgendaAdvanced,
// FloorRequested (to the chair), VoteOpened and MeetingClosed. On the old
// server the cut left half a character, so each of those frames was
// unparsable for every member.
TEST(ConformanceTextTest, LongVietnameseTextsReachEveryMemberParsable) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  const std::string title = viet_over_limit("Nghị quyết về công tác xây dựng Đảng năm 2026; ");
  const std::string excuse = viet_over_limit("Đồng chí đi công tác trên đảo Trường Sa; ");
  const std::string reason = viet_over_limit("Sinh hoạt chi bộ thường kỳ tháng mười một; ");
  const std::string guest = viet_over_limit("Đồng chí Nguyễn Thị Hương, Bí thư Đảng ủy; ");
  const std::string topic = viet_over_limit("Ý kiến về báo cáo tình hình thực hiện nhiệm vụ; ");
  const std::string subject = viet_over_limit("Biểu quyết thông qua nghị quyết chuyên đề; ");

  Peer chair, m2, m3, m4;  // member 5 stays away, excused
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  for (auto [p, id] : {std::pair{&m2, 2}, {&m3, 3}, {&m4, 4}}) {
    ASSERT_TRUE(login(p, port, kCellA, id));
    ASSERT_TRUE(join(p));
  }
  v1::Envelope env;
  env.mutable_excuse_absence()->set_member_id(5);
  env.mutable_excuse_absence()->set_reason(excuse);
  ASSERT_TRUE(chair.send(env));
  env = open_meeting(reason);
  env.mutable_open_meeting()->add_guests(guest);
  env.mutable_open_meeting()->add_agenda(title);
  env.mutable_open_meeting()->add_agenda("Thảo luận");
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_advance_agenda();
  ASSERT_TRUE(chair.send(env));
  std::map<const Peer*, std::vector<v1::Envelope>> got;
  bool ok = false;
  got[&chair] = chair.sync(1, &ok);  // the chair's commands are handled before the floor request
  ASSERT_TRUE(ok);
  env.Clear();
  env.mutable_request_floor()->set_topic(topic);
  ASSERT_TRUE(m2.send(env));
  got[&m2] = m2.sync(1, &ok);
  ASSERT_TRUE(ok);
  ASSERT_TRUE(chair.send(open_vote(1, v1::VOTE_KIND_RESOLUTION, subject)));
  ASSERT_TRUE(chair.send(close_vote(1)));
  env.Clear();
  env.mutable_close_meeting();
  ASSERT_TRUE(chair.send(env));

  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m2, "member 2"}, {&m3, "member 3"},
                        {&m4, "member 4 (probationary)"}}) {
    SCOPED_TRACE(who);
    std::vector<v1::Envelope>& frames = got[p];
    const auto rest = read_through(p, v1::Envelope::kMeetingClosed);
    frames.insert(frames.end(), rest.begin(), rest.end());
    expect_clean(*p, who);
    bool state = false, advanced = false, opened = false, closed = false, floor = false;
    for (const auto& e : frames) {
      std::string why;
      EXPECT_TRUE(texts_ok(e, &why)) << wire::body_name(e.body_case()) << ": " << why;
      if (e.has_meeting_state() && e.meeting_state().phase() == v1::MEETING_PHASE_OPEN) {
        state = true;
        ASSERT_EQ(e.meeting_state().agenda_size(), 2);
        EXPECT_TRUE(is_prefix(e.meeting_state().agenda(0), title));
        EXPECT_LE(e.meeting_state().agenda(0).size(), kMaxText);
      } else if (e.has_agenda_advanced()) {
        advanced = true;
        EXPECT_TRUE(is_prefix(e.agenda_advanced().title(), title));
        EXPECT_GT(e.agenda_advanced().title().size(), kMaxText - 4);
        EXPECT_LE(e.agenda_advanced().title().size(), kMaxText);  // cut at the last character
      } else if (e.has_floor_requested()) {
        floor = true;
        EXPECT_TRUE(is_prefix(e.floor_requested().topic(), topic));
        EXPECT_GT(e.floor_requested().topic().size(), kMaxText - 4);
        EXPECT_LE(e.floor_requested().topic().size(), kMaxText);
      } else if (e.has_vote_opened()) {
        opened = true;
        EXPECT_TRUE(is_prefix(e.vote_opened().subject(), subject));
        EXPECT_GT(e.vote_opened().subject().size(), kMaxText - 4);
        EXPECT_LE(e.vote_opened().subject().size(), kMaxText);
      } else if (e.has_meeting_closed()) {
        closed = true;
        const v1::Minutes& m = e.meeting_closed().minutes();
        EXPECT_TRUE(is_prefix(m.reason(), reason));
        EXPECT_LE(m.reason().size(), kMaxText);
        ASSERT_EQ(m.guests_size(), 1);
        EXPECT_TRUE(is_prefix(m.guests(0), guest));
        EXPECT_LE(m.guests(0).size(), kMaxText);
        ASSERT_EQ(m.agenda_size(), 2);
        EXPECT_TRUE(is_prefix(m.agenda(0), title));
        EXPECT_LE(m.agenda(0).size(), kMaxText);
        bool excused = false;
        for (const auto& a : m.absences()) {
          if (a.member_id() != 5) continue;
          excused = a.excused();
          EXPECT_TRUE(is_prefix(a.reason(), excuse));
          EXPECT_GT(a.reason().size(), kMaxText - 4);
          EXPECT_LE(a.reason().size(), kMaxText);
        }
        EXPECT_TRUE(excused) << "member 5's excuse is not in the minutes";
      }
    }
    EXPECT_TRUE(state) << "no parsable MeetingState of the opened meeting";
    EXPECT_TRUE(advanced) << "no parsable AgendaAdvanced";
    EXPECT_TRUE(opened) << "no parsable VoteOpened";
    EXPECT_TRUE(closed) << "no parsable MeetingClosed";
    if (p == &chair) {
      EXPECT_TRUE(floor) << "no parsable FloorRequested";
    }
  }
}

// Serializes `env` whose text holds `placeholder` (a run of 'Z'), then puts
// `bad` (same length, not UTF-8) in its place: a frame a real client could
// send that a strict parser refuses.
std::string frame_with_bad_text(const v1::Envelope& env, const std::string& bad) {
  std::string payload = env.SerializeAsString();
  const std::string placeholder(bad.size(), 'Z');
  const auto at = payload.find(placeholder);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) payload.replace(at, bad.size(), bad);
  return frame_header(static_cast<uint32_t>(payload.size())) + payload;
}

// Shows that a request with invalid UTF-8 in a text field is a rule
// refusal, ERROR_INVALID_TEXT naming the field, and the session goes on (a
// heartbeat is still answered; the chair's corrected request then works).
// The old server took such a frame for a broken protocol: ERROR_MALFORMED_FRAME
// and the connection closed.
TEST(ConformanceTextTest, InvalidUtf8IsRefusedNamingTheFieldAndTheSessionGoesOn) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  const std::string bad = "Th\xE1\xBA" "o lu\xC3\x28n \xFF";  // cut character, bad continuation, 0xFF
  ASSERT_FALSE(valid_utf8(bad));
  Peer chair, m2;
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellA, 2));
  ASSERT_TRUE(join(&m2));

  // The chair: an agenda item that is not UTF-8.
  v1::Envelope env = open_meeting("Sinh hoạt chi bộ");
  env.set_request_id(41);
  env.mutable_open_meeting()->add_agenda("Báo cáo");
  env.mutable_open_meeting()->add_agenda(std::string(bad.size(), 'Z'));
  ASSERT_TRUE(chair.send_raw(frame_with_bad_text(env, bad)));
  ASSERT_TRUE(chair.answer({}, &env));
  ASSERT_TRUE(env.has_error()) << env.ShortDebugString();
  EXPECT_EQ(env.error().code(), v1::ERROR_INVALID_TEXT) << env.error().reason();
  EXPECT_NE(env.error().reason().find("open_meeting.agenda[1]"), std::string::npos)
      << env.error().reason();
  EXPECT_EQ(env.request_id(), 41u);
  bool ok = false;
  chair.sync(1, &ok);
  EXPECT_TRUE(ok) << "the chair's session did not go on";
  // The meeting was not opened by the refused request; a good one opens it.
  ASSERT_TRUE(chair.send(open_meeting("Sinh hoạt chi bộ")));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kMeetingState, &env));
  EXPECT_EQ(env.meeting_state().phase(), v1::MEETING_PHASE_OPEN);

  // A member: a floor topic that is not UTF-8.
  env.Clear();
  env.set_request_id(42);
  env.mutable_request_floor()->set_topic(std::string(bad.size(), 'Z'));
  ASSERT_TRUE(m2.send_raw(frame_with_bad_text(env, bad)));
  ASSERT_TRUE(m2.answer({}, &env));
  ASSERT_TRUE(env.has_error()) << env.ShortDebugString();
  EXPECT_EQ(env.error().code(), v1::ERROR_INVALID_TEXT) << env.error().reason();
  EXPECT_NE(env.error().reason().find("request_floor.topic"), std::string::npos)
      << env.error().reason();
  EXPECT_EQ(env.request_id(), 42u);
  const auto before = m2.sync(2, &ok);
  EXPECT_TRUE(ok) << "the member's session did not go on";
  EXPECT_EQ(count_errors(before, v1::ERROR_MALFORMED_FRAME), 0);
  // Nothing of the refused request reached the chair.
  const auto chair_got = chair.sync(2, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(count_body(chair_got, v1::Envelope::kFloorRequested), 0);
  expect_clean(chair, "chair");
  expect_clean(m2, "member 2");
}

// ===========================================================================
// Defect 4: frames over the server's own maximum.

// The payload length that makes a MediaFrame request exactly `frame` bytes.
size_t payload_for_frame(size_t frame) {
  size_t payload = frame - 16;
  while (media(1, payload).ByteSizeLong() > frame) --payload;
  while (media(1, payload + 1).ByteSizeLong() <= frame) ++payload;
  return payload;
}

// Shows that a MediaFrame request of exactly the maximum frame is not
// relayed over the maximum: with the default settings its payload is over
// the media bound and refused (ERROR_PAYLOAD_TOO_LARGE, the session goes
// on); every frame the others receive is at most 64 KiB and parses. The old
// server relayed it with the sender's id added, 64 KiB + a few bytes, a
// frame every conforming client refuses.
TEST(ConformanceFrameSizeTest, AMaximalMediaFrameIsNeverRelayedOverTheMaximum) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer chair, m2, m3;
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellA, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(login(&m3, port, kCellA, 3));
  ASSERT_TRUE(join(&m3));
  ASSERT_TRUE(chair.send(open_meeting("media")));
  ASSERT_TRUE(chair.send(grant_floor(2)));
  v1::Envelope env;
  ASSERT_TRUE(m2.read_until(v1::Envelope::kFloorGranted, &env));

  const v1::Envelope big = media(7, payload_for_frame(kMaxFrame));
  ASSERT_EQ(big.ByteSizeLong(), kMaxFrame);
  ASSERT_TRUE(m2.send(big));
  bool ok = false;
  const auto answers = m2.sync(1, &ok);
  ASSERT_TRUE(ok) << "the sender's session did not go on";
  EXPECT_EQ(count_errors(answers, v1::ERROR_PAYLOAD_TOO_LARGE), 1);
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m3, "member 3"}}) {
    p->sync(1, &ok);
    EXPECT_TRUE(ok) << who;
    expect_clean(*p, who);
  }
  expect_clean(m2, "member 2");
}

// Shows that a MeetingState of a large roster (600 members) with 62 agenda
// items of 1 KiB (one OpenMeeting request under 64 KiB) fits in one frame:
// the broadcast at the opening and the answer to a late JoinMeeting are at
// most 64 KiB, parse, and mark agenda_truncated; each item's whole title
// comes with its AgendaAdvanced. The old server sent ~71 KB.
TEST(ConformanceFrameSizeTest, AMeetingStateWithALongAgendaAndALargeRosterFits) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer chair, m2, m3, late;
  ASSERT_TRUE(login(&chair, port, kCellBig, 1));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellBig, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(login(&m3, port, kCellBig, 3));
  ASSERT_TRUE(join(&m3));

  v1::Envelope env = open_meeting("agenda");
  std::vector<std::string> titles;
  for (int i = 0; i < 62; ++i) {
    std::string t = "item " + std::to_string(i) + " ";
    t += std::string(kMaxText - t.size(), 'a' + i % 26);
    titles.push_back(t);
    env.mutable_open_meeting()->add_agenda(t);
  }
  ASSERT_LE(env.ByteSizeLong(), kMaxFrame) << "the request itself must be valid";
  ASSERT_TRUE(chair.send(env));
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m2, "member 2"}, {&m3, "member 3"}}) {
    SCOPED_TRACE(who);
    v1::Envelope st;
    ASSERT_TRUE(p->read_until(v1::Envelope::kMeetingState, &st));
    EXPECT_EQ(st.meeting_state().phase(), v1::MEETING_PHASE_OPEN);
    EXPECT_EQ(st.meeting_state().attendees_size(), kBigRoster);
    EXPECT_TRUE(st.meeting_state().agenda_truncated());
    expect_clean(*p, who);
  }
  ASSERT_TRUE(login(&late, port, kCellBig, 4));
  v1::Envelope st;
  ASSERT_TRUE(join(&late, &st));
  EXPECT_EQ(st.meeting_state().attendees_size(), kBigRoster);
  EXPECT_TRUE(st.meeting_state().agenda_truncated());
  expect_clean(late, "late joiner");

  env.Clear();
  env.mutable_advance_agenda();
  ASSERT_TRUE(chair.send(env));
  ASSERT_TRUE(late.read_until(v1::Envelope::kAgendaAdvanced, &env));
  EXPECT_EQ(env.agenda_advanced().title(), titles[0]) << "the whole title comes with the item";
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m2, "member 2"}, {&m3, "member 3"},
                        {&late, "late joiner"}}) {
    bool ok = false;
    p->sync(1, &ok);
    EXPECT_TRUE(ok) << who;
    expect_clean(*p, who);
  }
}

// Shows that MeetingClosed of a 600-member cell with 30 guests and 30
// agenda items of 1 KiB each fits in one frame (lists_truncated marks the
// shortened copy) and parses at every member. The old server cut only
// proceedings and votes and sent the rest over 64 KiB.
TEST(ConformanceFrameSizeTest, MeetingClosedWithLongListsFits) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer chair, m2, m3;
  ASSERT_TRUE(login(&chair, port, kCellBig, 1));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellBig, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(login(&m3, port, kCellBig, 3));
  ASSERT_TRUE(join(&m3));
  v1::Envelope env = open_meeting("lists");
  for (int i = 0; i < 30; ++i) {
    env.mutable_open_meeting()->add_guests("guest " + std::to_string(i) + std::string(1010, 'g'));
    env.mutable_open_meeting()->add_agenda("item " + std::to_string(i) + std::string(1010, 'a'));
  }
  ASSERT_LE(env.ByteSizeLong(), kMaxFrame) << "the request itself must be valid";
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_close_meeting();
  ASSERT_TRUE(chair.send(env));
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m2, "member 2"}, {&m3, "member 3"}}) {
    SCOPED_TRACE(who);
    v1::Envelope closed;
    ASSERT_TRUE(p->read_until(v1::Envelope::kMeetingClosed, &closed)) << "no parsable MeetingClosed";
    EXPECT_TRUE(closed.meeting_closed().minutes().lists_truncated());
    expect_clean(*p, who);
  }
}

// ===========================================================================
// Defect 5: media relayed from anyone, unpaced.

// Shows that media from a member who was never given the floor (a
// probationary member who only asked for it) is not relayed: 1,000 frames,
// each refused with ERROR_NOT_FLOOR_HOLDER, none reaching the others, and
// the sender's session goes on. The old server relayed all 1,000.
TEST(ConformanceMediaTest, MediaFromAMemberWithoutTheFloorIsNotRelayed) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer chair, m2, m3, prob;
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellA, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(login(&m3, port, kCellA, 3));
  ASSERT_TRUE(join(&m3));
  ASSERT_TRUE(login(&prob, port, kCellA, kProbationary));
  ASSERT_TRUE(join(&prob));
  ASSERT_TRUE(chair.send(open_meeting("no floor")));
  v1::Envelope env;
  ASSERT_TRUE(prob.read_until(v1::Envelope::kMeetingState, &env));
  env.Clear();
  env.mutable_request_floor()->set_topic("xin phát biểu");
  ASSERT_TRUE(prob.send(env));  // asked, never granted

  constexpr int kFrames = 1000;
  std::vector<v1::Envelope> answers;
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(prob.send(media(i, 160)));
    if (i % 50 == 49) {  // keep reading, so the sender is no slow consumer
      while (prob.read(&env, 0) == Peer::Read::kFrame) answers.push_back(env);
    }
  }
  bool ok = false;
  const auto rest = prob.sync(1, &ok);
  ASSERT_TRUE(ok) << "the sender's session did not go on";
  answers.insert(answers.end(), rest.begin(), rest.end());
  EXPECT_EQ(count_errors(answers, v1::ERROR_NOT_FLOOR_HOLDER), kFrames);
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m2, "member 2"}, {&m3, "member 3"}}) {
    const auto got = p->sync(1, &ok);
    ASSERT_TRUE(ok) << who;
    EXPECT_EQ(count_body(got, v1::Envelope::kMediaFrame), 0) << who << " received relayed media";
    expect_clean(*p, who);
  }
}

// Shows that the floor holder flooding unpaced (1,000 frames of 1,000 bytes
// as fast as the socket takes them) is relayed only up to the token
// bucket: at least the burst, at most burst + rate × elapsed (a frame costs
// its payload + kMediaFrameOverheadBytes), the rest refused with
// ERROR_RATE_LIMITED; every other member receives exactly the frames relayed.
// The old server relayed all 1,000.
TEST(ConformanceMediaTest, TheFloorHoldersFloodIsPacedToBurstPlusRate) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  const engine::EngineSettings defaults;
  Peer chair, m2, m3;
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellA, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(login(&m3, port, kCellA, 3));
  ASSERT_TRUE(join(&m3));
  ASSERT_TRUE(chair.send(open_meeting("flood")));
  ASSERT_TRUE(chair.send(grant_floor(2)));
  v1::Envelope env;
  ASSERT_TRUE(m2.read_until(v1::Envelope::kFloorGranted, &env));

  constexpr int kFrames = 1000;
  constexpr size_t kPayload = 1000;
  std::vector<v1::Envelope> answers;
  const auto started = Clock::now();
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(m2.send(media(i, kPayload)));
    if (i % 50 == 49) {
      while (m2.read(&env, 0) == Peer::Read::kFrame) answers.push_back(env);
    }
  }
  bool ok = false;
  const auto rest = m2.sync(1, &ok);
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_TRUE(ok) << "the speaker's session did not go on";
  answers.insert(answers.end(), rest.begin(), rest.end());
  const int limited = count_errors(answers, v1::ERROR_RATE_LIMITED);
  EXPECT_EQ(count_body(answers, v1::Envelope::kError), limited) << "other refusals than pacing";
  const int relayed = kFrames - limited;
  const double cost = kPayload + engine::kMediaFrameOverheadBytes;
  const int least = static_cast<int>(defaults.media_burst_bytes / cost);
  const int most =
      static_cast<int>((defaults.media_burst_bytes + defaults.media_rate_bytes_per_s * elapsed_s) /
                       cost) + 1;
  EXPECT_GT(limited, 0) << "the flood was not paced at all";
  EXPECT_GE(relayed, least) << "the burst allowance was not granted";
  EXPECT_LE(relayed, most) << "more than burst + rate × " << elapsed_s << " s relayed";
  for (auto [p, who] : {std::pair{&chair, "chair"}, {&m3, "member 3"}}) {
    const auto got = p->sync(1, &ok);
    ASSERT_TRUE(ok) << who;
    EXPECT_EQ(count_body(got, v1::Envelope::kMediaFrame), relayed) << who;
    expect_clean(*p, who);
  }
}

// Shows that with the default settings a member on a small receive window
// (4 KiB) who does not read while the floor holder floods (3,000 frames of
// the largest payload, 6 MB) is not evicted as a slow consumer: the pacing
// keeps what is relayed to it far under its send queue, so it stays present
// and the meeting stays quorate (D = 4: chair, 2, 3 present are exactly the
// 3 required). The old server relayed everything, overflowed the member's
// queue, disconnected it and the meeting lost quorum.
TEST(ConformanceMediaTest, AFloodingSpeakerDoesNotEvictAMemberOnASmallWindow) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  const engine::EngineSettings defaults;
  Peer slow, chair, m2;
  ASSERT_TRUE(login(&slow, port, kCellA, 3, /*receive_buffer_bytes=*/4096));
  ASSERT_TRUE(join(&slow));
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  ASSERT_TRUE(login(&m2, port, kCellA, 2));
  ASSERT_TRUE(join(&m2));
  ASSERT_TRUE(chair.send(open_meeting("slow window")));
  v1::Envelope env;
  ASSERT_TRUE(chair.read_until(v1::Envelope::kMeetingState, &env));
  ASSERT_TRUE(env.meeting_state().quorum().quorate());
  ASSERT_TRUE(chair.send(grant_floor(2)));
  ASSERT_TRUE(m2.read_until(v1::Envelope::kFloorGranted, &env));

  // The speaker and the chair read as they go; member 3 does not.
  constexpr int kFrames = 3000;
  std::vector<v1::Envelope> seen;  // by the chair
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(m2.send(media(i, defaults.max_media_payload_bytes))) << "frame " << i;
    if (i % 50 == 49) {
      while (m2.read(&env, 0) == Peer::Read::kFrame) {
      }
      while (chair.read(&env, 0) == Peer::Read::kFrame) seen.push_back(env);
    }
  }
  bool ok = false;
  m2.sync(1, &ok, 20'000);
  ASSERT_TRUE(ok) << "the speaker's session did not go on";
  const auto rest = chair.sync(1, &ok, 20'000);
  ASSERT_TRUE(ok) << "the chair's session did not go on";
  seen.insert(seen.end(), rest.begin(), rest.end());
  for (const auto& e : seen) {
    EXPECT_FALSE(e.has_attendance_changed() && e.attendance_changed().member_id() == 3 &&
                 !e.attendance_changed().present())
        << "the member on a small window was dropped";
    EXPECT_FALSE(e.has_quorum_changed() && !e.quorum_changed().quorum().quorate())
        << "the meeting lost quorum";
  }
  // The member now reads what was queued for it, and is still served.
  const auto got = slow.sync(1, &ok, 20'000);
  ASSERT_TRUE(ok) << "the member on a small window was disconnected";
  EXPECT_EQ(count_errors(got, v1::ERROR_SLOW_CONSUMER), 0);
  EXPECT_GT(count_body(got, v1::Envelope::kMediaFrame), 0);
  for (auto [p, who] : {std::pair{&slow, "slow member"}, {&chair, "chair"}}) expect_clean(*p, who);
}

// ===========================================================================
// Defect 6: excusing absentees while a vote is open lowered D.

// Shows RULES.md's arithmetic holds while a vote is open: 6 official
// members, 4 present, 3 yes. The chair's excuses of the two absentees are
// refused (ERROR_CANNOT_EXCUSE: an excuse is settled before the meeting
// opens), so the threshold stays D = 6 and yes > 3 is needed: the vote
// fails. The old server accepted the excuses, D fell to 4 and 3 yes passed.
TEST(ConformanceVoteTest, NoExcuseWhileAVoteIsOpenSoDStays) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer members[4];  // members 1 (chair) to 4; 5 and 6 absent
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(login(&members[i], port, kCellSix, i + 1));
    ASSERT_TRUE(join(&members[i]));
  }
  Peer& chair = members[0];
  ASSERT_TRUE(chair.send(open_meeting("Sinh hoạt chi bộ")));
  ASSERT_TRUE(chair.send(open_vote(1, v1::VOTE_KIND_RESOLUTION, "Nghị quyết tháng")));
  v1::Envelope env;
  for (auto& p : members) ASSERT_TRUE(p.read_until(v1::Envelope::kVoteOpened, &env));
  for (uint64_t absent : {5, 6}) {
    env.Clear();
    env.mutable_excuse_absence()->set_member_id(absent);
    env.mutable_excuse_absence()->set_reason("công tác xa");
    ASSERT_TRUE(chair.send(env));
  }
  bool ok = false;
  const auto answers = chair.sync(1, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(count_errors(answers, v1::ERROR_CANNOT_EXCUSE), 2);
  for (const auto& e : answers) {
    EXPECT_FALSE(e.has_attendance_changed() && e.attendance_changed().excused())
        << "an excuse was accepted during the vote";
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(members[i].send(ballot(1, i < 3 ? v1::CHOICE_YES : v1::CHOICE_NO, 100 + i)));
    ASSERT_TRUE(members[i].answer({v1::Envelope::kBallotAck}, &env));
    ASSERT_TRUE(env.has_ballot_ack()) << env.ShortDebugString();
  }
  ASSERT_TRUE(chair.send(close_vote(1)));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kVoteClosed, &env));
  const v1::VoteClosed& vc = env.vote_closed();
  EXPECT_EQ(vc.tally().yes(), 3u);
  EXPECT_EQ(vc.tally().no(), 1u);
  EXPECT_EQ(vc.threshold_base(), 6u);
  EXPECT_EQ(vc.yes_required(), 4u);
  EXPECT_FALSE(vc.passed());
  EXPECT_TRUE(vc.valid());
}

// ===========================================================================
// Defect 7: a resent ballot with another choice was acknowledged.

// Shows that resending a counted ballot (same ballot_id) with the same
// choice is acknowledged as a duplicate, and with another choice is refused
// with ERROR_BALLOT_CHANGED, for a show of hands and for a secret ballot;
// the tally keeps the first choice and the session goes on. The old server
// acknowledged the changed resend as a duplicate.
TEST(ConformanceVoteTest, AResentBallotWithAnotherChoiceIsRefused) {
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  Peer chair, m2, m3, m5;
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  for (auto [p, id] : {std::pair{&m2, 2}, {&m3, 3}, {&m5, 5}}) {
    ASSERT_TRUE(login(p, port, kCellA, id));
    ASSERT_TRUE(join(p));
  }
  ASSERT_TRUE(chair.send(open_meeting("Sinh hoạt chi bộ")));
  for (const bool secret : {false, true}) {
    SCOPED_TRACE(secret ? "secret ballot" : "show of hands");
    const uint64_t vote_id = secret ? 2 : 1;
    Peer& voter = secret ? m3 : m2;
    const uint64_t voter_id = secret ? 3 : 2;
    const uint64_t ballot_id = 500 + vote_id;
    ASSERT_TRUE(chair.send(
        open_vote(vote_id, secret ? v1::VOTE_KIND_ELECTION : v1::VOTE_KIND_RESOLUTION, "x")));
    v1::Envelope env;
    do {  // the voter may still have an earlier vote's VoteOpened to read
      ASSERT_TRUE(voter.read_until(v1::Envelope::kVoteOpened, &env));
    } while (env.vote_opened().vote_id() != vote_id);
    EXPECT_EQ(env.vote_opened().method(),
              secret ? v1::VOTE_METHOD_SECRET_BALLOT : v1::VOTE_METHOD_SHOW_OF_HANDS);

    ASSERT_TRUE(voter.send(ballot(vote_id, v1::CHOICE_YES, ballot_id)));
    ASSERT_TRUE(voter.answer({v1::Envelope::kBallotAck}, &env));
    ASSERT_TRUE(env.has_ballot_ack()) << env.ShortDebugString();
    EXPECT_FALSE(env.ballot_ack().duplicate());

    ASSERT_TRUE(voter.send(ballot(vote_id, v1::CHOICE_YES, ballot_id)));
    ASSERT_TRUE(voter.answer({v1::Envelope::kBallotAck}, &env));
    ASSERT_TRUE(env.has_ballot_ack()) << env.ShortDebugString();
    EXPECT_TRUE(env.ballot_ack().duplicate()) << "the same resend is a duplicate";

    ASSERT_TRUE(voter.send(ballot(vote_id, v1::CHOICE_NO, ballot_id)));
    ASSERT_TRUE(voter.answer({v1::Envelope::kBallotAck}, &env));
    ASSERT_TRUE(env.has_error()) << "a changed resend was acknowledged: " << env.ShortDebugString();
    EXPECT_EQ(env.error().code(), v1::ERROR_BALLOT_CHANGED) << env.error().reason();
    EXPECT_EQ(env.request_id(), ballot_id);

    bool ok = false;
    voter.sync(vote_id, &ok);
    EXPECT_TRUE(ok) << "the voter's session did not go on";
    ASSERT_TRUE(chair.send(close_vote(vote_id)));
    do {
      ASSERT_TRUE(voter.read_until(v1::Envelope::kVoteClosed, &env));
    } while (env.vote_closed().vote_id() != vote_id);
    EXPECT_EQ(env.vote_closed().tally().yes(), 1u) << "the first choice is the counted one";
    EXPECT_EQ(env.vote_closed().tally().no(), 0u);
    ASSERT_EQ(env.vote_closed().voters_size(), 1);
    EXPECT_EQ(env.vote_closed().voters(0), voter_id);
  }
}

// ===========================================================================
// Defect 8: the frame decoder kept a large frame's buffer.

// VmRSS of this process (the server runs in it), KiB; -1 if unreadable.
long vm_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// `env` with ~`bytes` of unknown-field padding (the server ignores it).
v1::Envelope padded(v1::Envelope env, size_t bytes) {
  env.GetReflection()->MutableUnknownFields(&env)->AddLengthDelimited(1000, std::string(bytes, 'p'));
  return env;
}

// Shows that a connection whose first frames are large (a ~60 KB Hello and
// a ~60 KB Heartbeat, then small ones) costs the server a bounded amount of
// memory once it is idle: 200 such connections of a 600-member cell, all
// open at once, grow the process's resident memory by at most 48 KiB each
// (the 16 KiB read chunk, socket and session state; a decoder keeping each
// frame's 64 KiB buffer would exceed it), and the server still serves all
// of them and new ones. The decoder's capacity itself is unit-tested in
// tests/engine/frame_test.cc (FrameCodec: the buffer is given back on the
// feed after a large frame; common path keeps its buffer). This defect was
// fixed before 6bbb59f (commit c6cebfa), so this test passes there too.
// GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define CELLSIM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CELLSIM_UNDER_ASAN 1
#endif
#endif

TEST(ConformanceMemoryTest, LargeFirstFramesLeavePerConnectionMemoryBounded) {
#if defined(CELLSIM_UNDER_ASAN)
  // AddressSanitizer keeps freed memory in quarantine: resident memory says
  // nothing about the server's buffers (frame_test covers them there).
  GTEST_SKIP() << "resident memory is not meaningful under AddressSanitizer";
#endif
  auto server = start_or_fail(conf_options());
  const uint16_t port = server->port();
  constexpr int kWarmup = 20, kConns = 200;
  constexpr size_t kPad = 60'000;
  std::vector<std::unique_ptr<Peer>> peers;
  const auto open_one = [&](uint64_t member) {
    auto p = std::make_unique<Peer>();
    ASSERT_TRUE(p->connect(port));
    const v1::Envelope hello = padded(hello_envelope(kCellBig, member, token_for(kCellBig, member)), kPad);
    ASSERT_GT(hello.ByteSizeLong(), 59'000u);
    ASSERT_LE(hello.ByteSizeLong(), kMaxFrame);
    ASSERT_TRUE(p->send(hello));
    v1::Envelope env;
    ASSERT_TRUE(p->read_until(v1::Envelope::kWelcome, &env)) << "member " << member;
    ASSERT_TRUE(p->send(padded(heartbeat_envelope(1), kPad)));
    ASSERT_TRUE(p->read_until(v1::Envelope::kHeartbeatAck, &env)) << "member " << member;
    for (uint64_t seq = 2; seq <= 4; ++seq) {
      bool ok = false;
      p->sync(seq, &ok);
      ASSERT_TRUE(ok) << "member " << member;
    }
    peers.push_back(std::move(p));
  };
  for (int i = 0; i < kWarmup; ++i) ASSERT_NO_FATAL_FAILURE(open_one(2 + kConns + i));
  const long before = vm_rss_kib();
  for (int i = 0; i < kConns; ++i) ASSERT_NO_FATAL_FAILURE(open_one(2 + i));
  const long after = vm_rss_kib();
  ASSERT_GT(before, 0) << "VmRSS not readable";
  const double per_conn_kib = static_cast<double>(after - before) / kConns;
  RecordProperty("rss_per_connection_kib", std::to_string(per_conn_kib));
  std::cout << "[ memory   ] VmRSS " << before << " -> " << after << " KiB: " << per_conn_kib
            << " KiB per connection\n";
  EXPECT_LE(per_conn_kib, 48.0);
  // Everyone is still served, and a new connection too.
  for (size_t i = 0; i < peers.size(); i += 37) {
    bool ok = false;
    peers[i]->sync(100, &ok);
    EXPECT_TRUE(ok) << "connection " << i;
    expect_clean(*peers[i], "connection " + std::to_string(i));
  }
  bool ok = false;
  peers.back()->sync(100, &ok);
  EXPECT_TRUE(ok);
  Peer fresh;
  EXPECT_TRUE(login(&fresh, port, kCellBig, 1));
}

// ===========================================================================
// Acceptance: a secret ballot on disk (DESIGN.md, "Acknowledged means
// durable": secret ballots stay unlinkable).

// Every regular file under `dir`, by path relative to it: its bytes.
using Tree = std::map<std::string, std::string>;

Tree read_tree(const fs::path& dir) {
  Tree tree;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    tree[fs::relative(e.path(), dir).string()] = bytes.str();
  }
  return tree;
}

// Times in names and texts (Unix ms, run ids: 10 digits or more) → "<ms>".
std::string normalise_digits(const std::string& s) {
  static const std::regex kMs("[0-9]{10,}");
  return std::regex_replace(s, kMs, "<ms>");
}

// Clears every field named *at_ms (at_ms, opened_at_ms, ...), recursively.
void clear_times(google::protobuf::Message* msg) {
  const auto* refl = msg->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(*msg, &fields);
  for (const auto* f : fields) {
    const std::string& name = f->name();
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, "at_ms") == 0) {
      refl->ClearField(msg, f);
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < refl->FieldSize(*msg, f); ++i) {
          clear_times(refl->MutableRepeatedMessage(msg, f, i));
        }
      } else {
        clear_times(refl->MutableMessage(msg, f));
      }
    }
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What a run left on disk, decoded: journal logs as their records, ballot
// boxes and minutes as messages, with times cleared and names normalised.
struct Decoded {
  Tree text;                                   // normalised name → decoded content
  std::vector<v1::JournalRecord> records;      // every log's records
  std::vector<v1::BallotBox> boxes;
  std::vector<v1::Minutes> minutes;
};

Decoded decode_tree(const Tree& tree) {
  Decoded d;
  for (const auto& [name, bytes] : tree) {
    std::string text;
    if (ends_with(name, ".log")) {
      std::vector<v1::JournalRecord> records;
      bool torn = true;
      parse_journal_bytes(bytes, &records, &torn);
      EXPECT_FALSE(torn) << name << ": a torn or corrupt record";
      for (auto& r : records) {
        d.records.push_back(r);
        clear_times(&r);
        text += r.ShortDebugString() + "\n";
      }
    } else if (ends_with(name, ".bin")) {
      v1::BallotBox box;  // sealed with the deployment key (server/net/journal.h)
      EXPECT_TRUE(open_box(test_key(), std::filesystem::path(name).filename().string(), bytes,
                           &box))
          << name;
      d.boxes.push_back(box);
      clear_times(&box);
      text = box.ShortDebugString();
    } else if (ends_with(name, ".json")) {
      v1::Minutes m;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(bytes, &m).ok()) << name;
      d.minutes.push_back(m);
      clear_times(&m);
      text = m.ShortDebugString();
    } else {
      text = normalise_digits(bytes);  // CURRENT: the logs' names
    }
    d.text[normalise_digits(name)] = text;
  }
  return d;
}

constexpr uint64_t kSecretVote = 7;
constexpr uint64_t kBallotIdBase = 1000;  // ballot id = 1000 + member: two varint bytes

struct SecretRun {
  Tree live;     // while the server runs, after the last BallotAck: what a kill would leave
  Tree stopped;  // after a graceful stop with the vote open
};

// One run: members 1 (chair), 2, 3, 5 of cell A join, the chair opens the
// meeting and secret vote 7 (an election), and `casts` are cast in order,
// each acknowledged before the next.
void run_secret_vote(const fs::path& dir, const std::vector<std::pair<uint64_t, v1::Choice>>& casts,
                     SecretRun* out) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  ServerOptions o = test_options();
  o.minutes_dir = dir.string();
  auto server = start_or_fail(std::move(o));
  const uint16_t port = server->port();
  std::map<uint64_t, Peer> peers;
  for (uint64_t id : {1, 2, 3, 5}) {
    ASSERT_TRUE(login(&peers[id], port, kCellA, id)) << id;
    ASSERT_TRUE(join(&peers[id])) << id;
  }
  ASSERT_TRUE(peers[kChair].send(open_meeting("Bầu cử")));
  v1::Envelope env;
  for (auto& [id, p] : peers) ASSERT_TRUE(p.read_until(v1::Envelope::kMeetingState, &env)) << id;
  ASSERT_TRUE(
      peers[kChair].send(open_vote(kSecretVote, v1::VOTE_KIND_ELECTION, "Bầu bí thư chi bộ")));
  for (auto& [id, p] : peers) ASSERT_TRUE(p.read_until(v1::Envelope::kVoteOpened, &env)) << id;
  ASSERT_EQ(env.vote_opened().method(), v1::VOTE_METHOD_SECRET_BALLOT);
  for (const auto& [member, choice] : casts) {
    Peer& p = peers[member];
    ASSERT_TRUE(p.send(ballot(kSecretVote, choice, kBallotIdBase + member)));
    ASSERT_TRUE(p.answer({v1::Envelope::kBallotAck}, &env));
    ASSERT_TRUE(env.has_ballot_ack()) << env.ShortDebugString();
    ASSERT_FALSE(env.ballot_ack().duplicate());
  }
  out->live = read_tree(dir);  // acknowledged means on disk already
  server->stop();
  out->stopped = read_tree(dir);
  for (auto& [id, p] : peers) p.close();
}

// Nothing in `tree` puts a voter's id next to a choice: no choice names,
// and outside the ballot boxes no PublicBallot encoding {member_id: m,
// choice: c} (bytes 08 m 10 c). A box is checked decoded: it holds nothing
// but the roll (member id, ballot id) and the tally (whose encoding 08 yes
// 10 no would match the pattern).
void expect_no_choice_by_voter(const Tree& tree, const std::string& when) {
  for (const auto& [name, bytes] : tree) {
    SCOPED_TRACE(when + ": " + name);
    EXPECT_EQ(bytes.find("CHOICE_"), std::string::npos);
    if (ends_with(name, ".bin")) {
      v1::BallotBox box;  // sealed: unreadable without the deployment key
      ASSERT_TRUE(open_box(test_key(), std::filesystem::path(name).filename().string(), bytes,
                           &box));
      EXPECT_FALSE(v1::BallotBox().ParseFromString(bytes) &&
                   bytes.find(box.SerializeAsString()) != std::string::npos)
          << "the box is on disk in the clear";
      EXPECT_TRUE(box.GetReflection()->GetUnknownFields(box).empty());
      v1::BallotBox only_roll_and_tally;
      only_roll_and_tally.set_cell_id(box.cell_id());
      only_roll_and_tally.set_meeting_id(box.meeting_id());
      only_roll_and_tally.set_vote_id(box.vote_id());
      uint64_t last = 0;
      for (const auto& e : box.roll()) {
        EXPECT_GT(e.member_id(), last) << "the roll is not in member id order";
        last = e.member_id();
        auto* r = only_roll_and_tally.add_roll();
        r->set_member_id(e.member_id());
        r->set_ballot_id(e.ballot_id());
      }
      *only_roll_and_tally.mutable_tally() = box.tally();
      EXPECT_EQ(only_roll_and_tally.SerializeAsString(), box.SerializeAsString())
          << "the box holds more";
      continue;
    }
    EXPECT_EQ(bytes.find("\"choice\""), std::string::npos);
    EXPECT_EQ(bytes.find("publicBallots"), std::string::npos);
    for (char m : {2, 3, 5}) {
      for (char c : {1, 2, 3}) {
        const char pattern[] = {0x08, m, 0x10, c};
        EXPECT_EQ(bytes.find(std::string_view(pattern, 4)), std::string::npos)
            << "member " << int(m) << " next to choice " << int(c);
      }
    }
  }
}

void expect_same(const Decoded& a, const Decoded& b, const std::string& when) {
  EXPECT_EQ(a.text.size(), b.text.size()) << when;
  for (const auto& [name, text] : a.text) {
    auto it = b.text.find(name);
    if (it == b.text.end()) {
      ADD_FAILURE() << when << ": " << name << " only in run A";
      continue;
    }
    EXPECT_EQ(text, it->second) << when << ": " << name << " differs";
  }
  for (const auto& [name, text] : b.text) {
    if (!a.text.count(name)) ADD_FAILURE() << when << ": " << name << " only in run B";
  }
}

// Shows that a secret vote leaves nothing on disk that depends on who chose
// what: the same voters (2, 3, 5) and tally (2 yes, 1 no), with the choices
// permuted among the voters and cast in another order, give the same
// journal records, ballot box and minutes once times are normalised, both
// while the server runs (what a kill would leave: an acknowledged ballot is
// durable) and after a graceful stop with the vote open (the interrupted
// minutes list who voted and how many, no tally). No file puts a member id
// next to a choice, the journal holds no ballot record for the vote, and the
// ballot box holds the roll by member id and the tally. (A SIGKILLed server
// and its recovery are covered by the crash tests.) The old server kept no
// journal or ballot box: acknowledged secret ballots were not on disk.
TEST(ConformanceSecretBallotTest, WhatIsOnDiskDoesNotDependOnWhoChoseWhat) {
  const fs::path base = ::testing::TempDir() + "conformance_secret_" + std::to_string(::getpid());
  SecretRun a, b;
  ASSERT_NO_FATAL_FAILURE(run_secret_vote(
      base / "A", {{2, v1::CHOICE_YES}, {3, v1::CHOICE_NO}, {5, v1::CHOICE_YES}}, &a));
  ASSERT_NO_FATAL_FAILURE(run_secret_vote(
      base / "B", {{5, v1::CHOICE_NO}, {3, v1::CHOICE_YES}, {2, v1::CHOICE_YES}}, &b));

  for (const auto& [when, ta, tb] : {std::tuple{"live", &a.live, &b.live},
                                     std::tuple{"after stop", &a.stopped, &b.stopped}}) {
    SCOPED_TRACE(when);
    const Decoded da = decode_tree(*ta), db = decode_tree(*tb);
    expect_same(da, db, when);
    for (const auto* run : {ta, tb}) expect_no_choice_by_voter(*run, when);
    for (const Decoded* d : {&da, &db}) {
      EXPECT_FALSE(d->records.empty()) << "no journal records";
      for (const auto& r : d->records) {
        EXPECT_FALSE(r.has_ballot()) << "a ballot in the journal: " << r.ShortDebugString();
      }
    }
  }
  // Live (a crash at this instant): the box holds the roll and the tally.
  for (const Tree* live : {&a.live, &b.live}) {
    const Decoded d = decode_tree(*live);
    ASSERT_EQ(d.boxes.size(), 1u) << "no ballot box on disk for the acknowledged ballots";
    const v1::BallotBox& box = d.boxes[0];
    EXPECT_EQ(box.vote_id(), kSecretVote);
    ASSERT_EQ(box.roll_size(), 3);
    for (int i = 0; i < 3; ++i) {
      const uint64_t member = std::vector<uint64_t>{2, 3, 5}[i];
      EXPECT_EQ(box.roll(i).member_id(), member);
      EXPECT_EQ(box.roll(i).ballot_id(), kBallotIdBase + member);
    }
    EXPECT_EQ(box.tally().yes(), 2u);
    EXPECT_EQ(box.tally().no(), 1u);
    EXPECT_EQ(box.tally().abstain(), 0u);
  }
  // After the stop: interrupted minutes with the open vote's roll, no choices.
  for (const Tree* stopped : {&a.stopped, &b.stopped}) {
    const Decoded d = decode_tree(*stopped);
    ASSERT_EQ(d.minutes.size(), 1u) << "no interrupted minutes";
    const v1::Minutes& m = d.minutes[0];
    EXPECT_TRUE(m.interrupted());
    ASSERT_TRUE(m.has_open_vote());
    EXPECT_EQ(m.open_vote().vote_id(), kSecretVote);
    EXPECT_EQ(m.open_vote().method(), v1::VOTE_METHOD_SECRET_BALLOT);
    EXPECT_EQ(m.open_vote().ballots_counted(), 3u);
    EXPECT_EQ(std::vector<uint64_t>(m.open_vote().voters().begin(), m.open_vote().voters().end()),
              (std::vector<uint64_t>{2, 3, 5}));
    EXPECT_EQ(m.open_vote().public_ballots_size(), 0);
    for (const auto& v : m.votes()) EXPECT_EQ(v.public_ballots_size(), 0);
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace cellsim::net::testing
