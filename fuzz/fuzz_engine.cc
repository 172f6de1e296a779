// fuzz_engine: the meeting engine (server/engine/engine.h, sans-IO) driven by
// op sequences decoded from the input, against a small built-in deployment.
//
// Deployment: cell 1 (10 members: chair 1, officials 2 3 4 9 10, probationary
// 5, exempted 6, suspended 7, attached elsewhere 8) and cell 2 (chair 21,
// officials 22 23, probationary 24). Tokens are minted with kKey for the
// members' real standing and role (or deliberately wrong ones).
//
// Input: [settings variant][op]... Each op is an opcode byte (mod kOpCount)
// and its argument bytes; missing bytes read as 0, so every input is a
// program. Frame ops end with a split byte: 0-63 send whole, 64-127 send in
// two reads cut at a point from the low 6 bits, 128-191 hold the bytes after the
// cut back (sent before the slot's next frame: frames coalesce and a frame
// can sit half sent while time passes), 192-255 one byte at a time.
// fuzz/make_seeds.py writes seeds in this format; fuzz/README.md lists ops.
//
// Checks after every step (one op's inputs and all the outputs they made):
//  * every kTransmit frame is one whole frame whose payload is at most
//    settings.max_frame_bytes and parses as an Envelope, on a connection the
//    engine has not closed;
//  * an Error with a protocol code (< 100) is followed, in the same step, by a
//    kClose for that connection, and a kClose is preceded by one;
//  * after handle_timeout(now) no timer is due at or before now;
//  * Meeting::check_invariants() holds for each cell's meeting;
//  * every BallotAck sent is reflected in the vote: counted in the current
//    meeting (Meeting::counted_votes) until that meeting closes, then among
//    the voters of its minutes' vote (closed or, when interrupted, open).
// And at the end of each program (before the final shutdown: the state a
// crash would leave), the journal the engine emitted (kJournal records and
// kBallotBox boxes) replayed into a fresh engine (Engine::recover) rebuilds
// every cell's meeting exactly: id, snapshot, ballots counted, tallies, each
// member's counted votes, the next meeting id, and its invariants hold.
// FUZZ_ENGINE_TRACE=1 prints each op and every frame sent, to read a run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "proto/datagram.h"
#include "proto/frame.h"
#include "server/engine/engine.h"
#include "server/engine/meeting.h"
#include "server/engine/settings.h"
#include "server/engine/token.h"

namespace {

namespace v1 = ::cellsim::v1;
using cellsim::engine::ConnId;
using cellsim::engine::Engine;
using cellsim::engine::EngineSettings;
using cellsim::engine::Meeting;
using cellsim::engine::Output;
using cellsim::engine::TimeNs;
using cellsim::engine::BoxLookup;
using cellsim::engine::RecoveryStats;

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "fuzz_engine: check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                            \
      std::fprintf(stderr, "  " __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                               \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

constexpr std::string_view kKey = "cellsim-fuzz-deployment-key-0123456789";
// 2026-01-01T00:00:00Z.
constexpr TimeNs kStartNs = 1'767'225'600'000'000'000;
constexpr TimeNs kNsPerMs = 1'000'000;
constexpr size_t kSlots = 6;
constexpr size_t kMaxOps = 512;
// The engine's default bound on a media payload (EngineSettings::
// max_media_payload_bytes): media ops probe around it.
constexpr size_t kMediaPayloadBytes = 2048;

enum Op : uint8_t {
  kConnect,
  kHello,
  kJoin,
  kHeartbeat,
  kOpenMeeting,
  kExcuse,
  kAdvance,
  kOpenVote,
  kCloseVote,
  kBallot,
  kRequestFloor,
  kGrantFloor,
  kMedia,
  kCloseMeeting,
  kRaw,
  kTime,
  kDisconnect,
  kShutdown,
  kHelloResume,
  kDatagram,
  kOpCount
};

struct Who {
  uint64_t cell;
  uint64_t member;
};
// Indexed by a byte mod 16: the roster's members, then an unknown member and
// an unknown cell.
constexpr Who kWho[16] = {{1, 1}, {1, 2},  {1, 3},  {1, 4},  {1, 5},  {1, 6},  {1, 7},  {1, 8},
                          {1, 9}, {1, 10}, {2, 21}, {2, 22}, {2, 23}, {2, 24}, {1, 99}, {3, 1}};

// Vietnamese text: 1-, 2- and 3-byte UTF-8 sequences.
constexpr std::string_view kViet =
    "Nghị quyết của chi bộ về công tác phát triển đảng viên, bảo vệ chủ quyền biển "
    "đảo; ý kiến đồng chí Trưởng giàn khoan về kế hoạch quý tới. ";

v1::CellRoster roster(uint64_t cell) {
  v1::CellRoster r;
  r.set_cell_id(cell);
  struct M {
    uint64_t id;
    const char* name;
    v1::Standing standing;
    v1::Role role;
  };
  static const M kCell1[] = {
      {1, "Nguyễn Văn Bí", v1::STANDING_OFFICIAL, v1::ROLE_CHAIR},
      {2, "Trần Thị Hà", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {3, "Lê Văn Ba", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {4, "Phạm Thị Tư", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {5, "Hoàng Văn Dự", v1::STANDING_PROBATIONARY, v1::ROLE_MEMBER},
      {6, "Vũ Thị Miễn", v1::STANDING_EXEMPTED, v1::ROLE_MEMBER},
      {7, "Đặng Văn Đình", v1::STANDING_SUSPENDED, v1::ROLE_MEMBER},
      {8, "Bùi Thị Nơi", v1::STANDING_ATTACHED_ELSEWHERE, v1::ROLE_MEMBER},
      {9, "Đỗ Văn Chín", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {10, "Ngô Thị Mười", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
  };
  static const M kCell2[] = {
      {21, "Lý Văn Trưởng", v1::STANDING_OFFICIAL, v1::ROLE_CHAIR},
      {22, "Mai Thị Hai", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {23, "Châu Văn Ba", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
      {24, "Tạ Thị Dự", v1::STANDING_PROBATIONARY, v1::ROLE_MEMBER},
  };
  if (cell == 1) {
    r.set_name("Chi bộ Giàn khoan 1");
    for (const M& m : kCell1) {
      auto* x = r.add_members();
      x->set_member_id(m.id), x->set_name(m.name), x->set_standing(m.standing), x->set_role(m.role);
    }
  } else {
    r.set_name("Chi bộ Đảo Song Tử");
    for (const M& m : kCell2) {
      auto* x = r.add_members();
      x->set_member_id(m.id), x->set_name(m.name), x->set_standing(m.standing), x->set_role(m.role);
    }
  }
  return r;
}

// Reads the input; past its end every byte is 0.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string bytes(size_t n) {
    const size_t take = std::min(n, size_ - std::min(pos_, size_));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// `n` bytes of Vietnamese text, cut at byte n (possibly inside a character).
std::string viet_bytes(size_t n) {
  std::string s;
  while (s.size() < n) s += kViet;
  s.resize(n);
  return s;
}

// At most `n` bytes of Vietnamese text, cut at a character boundary.
std::string viet_chars(size_t n) {
  std::string s = viet_bytes(n);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xc0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
  return s;
}

// A text field: [selector][parameter][raw bytes when selector says so].
std::string text(Reader& r, const EngineSettings& st) {
  const uint8_t sel = r.byte() % 8;
  const uint8_t p = r.byte();
  const size_t limit = st.max_text_bytes;
  switch (sel) {
    case 0: return viet_chars(8 + p % 32);                  // a short title
    case 1: return viet_bytes(limit - 4 + p % 9);           // around the limit, cut anywhere
    case 2: {  // exactly limit - 4 + p % 9 bytes, whole characters; the
               // ASCII in front (from p) shifts where a cut at the limit lands
      const size_t n = limit - 4 + p % 9;
      std::string s = viet_chars(n - p / 9 % 4);
      s.insert(0, n - s.size(), 'x');
      return s;
    }
    case 3: return r.bytes(p);                              // raw bytes from the input
    case 4: {                                               // invalid UTF-8 in valid text
      static const char* kBad[] = {"\xc3", "\xe1\xbb", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                   "\xc0\xaf", "\xff", "\x80", "\xe0\x80\x80"};
      return viet_chars(p % 64) + kBad[p % 8] + "ok";
    }
    case 5: return std::string(p % 4, 'x') + viet_chars(4 * limit + p);  // far over the limit
    case 6: return std::string();
    default: return viet_chars(size_t{p} * 8);             // any length, whole characters
  }
}

struct Slot {
  ConnId conn = 0;       // 0: not connected
  Who who{0, 0};         // identity of the first good Hello sent on it
  bool hello_sent = false;
  std::string held;      // bytes held back by a split byte, sent before the next frame
  // The datagram transport, from the last Welcome: the session, its media
  // key, the seq last sealed, the last datagram sealed (for replays).
  uint64_t session_id = 0;
  std::string media_key;
  uint64_t seq = 0;
  std::string last_datagram;   // sent intact (mode 0)
  bool last_accepted = false;  // and accepted
};

// A session's media key and member, as Welcome gave them.
struct SessionKey {
  std::string key;
  Who who;
};

struct Ack {
  uint64_t member;
  uint64_t vote_id;
};

class Driver {
 public:
  explicit Driver(uint8_t variant) {
    switch (variant % 3) {
      case 0: break;  // the defaults
      case 1:         // small frames: every list and text pushes against the frame bound
        settings_.max_frame_bytes = 8 * 1024;
        break;
      case 2:  // fast liveness, lenient quorum
        settings_.rules.heartbeat_interval_ms = 1000;
        settings_.rules.hello_timeout_ms = 1000;
        settings_.rules.quorum = {1, 2};
        break;
    }
    settings_.media_port = 40000;  // Welcomes carry media keys: datagrams are live
    engine_ = std::make_unique<Engine>(settings_, std::string(kKey));
    std::string why;
    FUZZ_CHECK(engine_->add_cell(roster(1), &why), "%s", why.c_str());
    FUZZ_CHECK(engine_->add_cell(roster(2), &why), "%s", why.c_str());
  }

  void run(Reader& r) {
    for (size_t ops = 0; ops < kMaxOps && !r.done() && !stopped_; ++ops) step(r);
    if (!stopped_) check_replay();
    if (!stopped_) {  // end every run with a shutdown: interrupted minutes are checked too
      engine_->shutdown(now_);
      stopped_ = true;
      drain();
    }
  }

 private:
  void step(Reader& r) {
    const uint8_t op = r.byte() % kOpCount;
    const size_t slot = r.byte() % kSlots;
    Slot& s = slots_[slot];
    if (trace_) std::fprintf(stderr, "op %u on slot %zu\n", op, slot);
    switch (op) {
      case kConnect: connect(s); break;
      case kHello: {
        const Who who = kWho[r.byte() % 16];
        const uint8_t variant = r.byte();
        send(s, hello(who, variant, {}), r.byte());
        break;
      }
      case kHelloResume: {
        const Who who = kWho[r.byte() % 16];
        send(s, hello(who, 0, resume_[{who.cell, who.member}]), r.byte());
        break;
      }
      case kJoin: {
        v1::Envelope e;
        e.mutable_join_meeting();
        send(s, e, r.byte());
        break;
      }
      case kHeartbeat: {
        v1::Envelope e;
        e.mutable_heartbeat()->set_seq(r.byte());
        send(s, e, r.byte());
        break;
      }
      case kOpenMeeting: {
        v1::Envelope e;
        auto* m = e.mutable_open_meeting();
        m->set_minute_taker_id(kWho[r.byte() % 16].member);
        const size_t agenda = r.byte() % 72, guests = r.byte() % 72;
        m->set_recorded(r.byte() & 1);
        m->set_reason(text(r, settings_));
        const std::string item = text(r, settings_);
        const std::string guest = text(r, settings_);
        for (size_t i = 0; i < agenda; ++i) m->add_agenda(item);
        for (size_t i = 0; i < guests; ++i) m->add_guests(guest);
        send(s, e, r.byte());
        break;
      }
      case kExcuse: {
        v1::Envelope e;
        e.mutable_excuse_absence()->set_member_id(kWho[r.byte() % 16].member);
        e.mutable_excuse_absence()->set_reason(text(r, settings_));
        send(s, e, r.byte());
        break;
      }
      case kAdvance: {
        v1::Envelope e;
        e.mutable_advance_agenda();
        send(s, e, r.byte());
        break;
      }
      case kOpenVote: {
        v1::Envelope e;
        auto* v = e.mutable_open_vote();
        v->set_vote_id(r.byte() % 5);
        v->set_kind(static_cast<v1::VoteKind>(r.byte() % 8));
        v->set_secret(r.byte() & 1);
        v->set_subject(text(r, settings_));
        send(s, e, r.byte());
        break;
      }
      case kCloseVote: {
        v1::Envelope e;
        e.mutable_close_vote()->set_vote_id(r.byte() % 5);
        send(s, e, r.byte());
        break;
      }
      case kBallot: {
        v1::Envelope e;
        auto* b = e.mutable_cast_ballot();
        b->set_vote_id(r.byte() % 5);
        b->set_choice(static_cast<v1::Choice>(r.byte() % 5));
        b->set_ballot_id(r.byte() % 4);
        send(s, e, r.byte());
        break;
      }
      case kRequestFloor: {
        v1::Envelope e;
        e.mutable_request_floor()->set_topic(text(r, settings_));
        send(s, e, r.byte());
        break;
      }
      case kGrantFloor: {
        v1::Envelope e;
        e.mutable_grant_floor()->set_member_id(kWho[r.byte() % 16].member);
        send(s, e, r.byte());
        break;
      }
      case kMedia: {
        v1::Envelope e;
        auto* m = e.mutable_media_frame();
        m->set_seq(r.byte());
        const size_t sizes[] = {0,
                                1,
                                60,
                                kMediaPayloadBytes - 1,
                                kMediaPayloadBytes,
                                kMediaPayloadBytes + 1,
                                settings_.max_frame_bytes - 16,  // the largest that fits in
                                settings_.max_frame_bytes - 8};
        const uint8_t sel = r.byte();
        m->set_payload(std::string(sizes[sel % 8], static_cast<char>(sel)));
        if (sel & 0x80) m->set_from_member_id(12345);  // a client may not set it
        send(s, e, r.byte());
        break;
      }
      case kCloseMeeting: {
        v1::Envelope e;
        e.mutable_close_meeting();
        send(s, e, r.byte());
        break;
      }
      case kRaw: {
        const std::string raw = r.bytes(r.byte());
        send_bytes(s, raw, r.byte());
        break;
      }
      case kTime: {
        static constexpr int64_t kStepsMs[] = {0, 1, 500, 5'000, 10'000, 31'000, 120'000,
                                               86'400'000};
        const uint8_t sel = r.byte();
        now_ += kStepsMs[sel % 8] * kNsPerMs * (1 + sel / 8 % 4);
        engine_->handle_timeout(now_);
        drain();
        if (const auto t = engine_->poll_timeout()) {
          FUZZ_CHECK(*t > now_, "a timer is due at %lld after handle_timeout(%lld)",
                     static_cast<long long>(*t), static_cast<long long>(now_));
        }
        break;
      }
      case kDisconnect:
        if (s.conn != 0) {
          engine_->handle_disconnect(now_, s.conn);
          open_.erase(s.conn);
          s = Slot();
          drain();
        }
        break;
      case kShutdown:
        engine_->shutdown(now_);
        stopped_ = true;
        drain();
        break;
      case kDatagram:
        datagram(s, r);
        break;
      default: break;
    }
  }

  // A voice datagram: [mode][kind and size][media_seq][mode's bytes]. Modes:
  // 0 sealed with the slot's session key; 1 sealed, then one byte flipped;
  // 2 raw bytes from the input; 3 the slot's last sealed datagram again.
  // Checks: the counts add up; a flipped or raw datagram is never accepted,
  // nor a replay of one that was; voice is relayed only from the floor holder, each copy opening
  // under its recipient's key with the speaker named, as many as the result
  // says.
  void datagram(Slot& s, Reader& r) {
    const uint8_t mode = r.byte() % 4, shape = r.byte(), media_seq = r.byte();
    std::string d;
    if (mode == 2) {
      d = r.bytes(r.byte() * 5);
    } else if (mode == 3) {
      d = s.last_datagram;
    } else if (!s.media_key.empty()) {
      cellsim::wire::DatagramHeader h;
      const bool bind = shape & 1;
      h.kind = bind ? cellsim::wire::DatagramKind::kBind : cellsim::wire::DatagramKind::kVoice;
      h.session_id = s.session_id;
      h.seq = ++s.seq;
      h.media_seq = media_seq;
      h.capture_ns = now_;
      const size_t sizes[] = {0, 1, 60, cellsim::wire::kMaxDatagramPayloadBytes};
      const std::string payload(bind ? 0 : sizes[shape / 2 % 4], static_cast<char>(shape));
      d = cellsim::wire::seal_datagram(s.media_key, cellsim::wire::DatagramDirection::kToServer, h,
                                       payload);
      if (mode == 1 && !d.empty()) d[r.byte() % d.size()] ^= static_cast<char>(1 + r.byte() % 255);
    }
    const auto before = engine_->datagram_stats();
    const cellsim::engine::DatagramResult res = engine_->handle_datagram(now_, d);
    const auto& after = engine_->datagram_stats();
    uint64_t sum = 0;
    for (uint64_t n : after.by_verdict) sum += n;
    FUZZ_CHECK(after.received == before.received + 1 && sum == after.received,
               "datagram counts: received %llu, verdicts %llu",
               static_cast<unsigned long long>(after.received),
               static_cast<unsigned long long>(sum));
    FUZZ_CHECK(!res.accepted() || mode == 0 || (mode == 3 && !s.last_accepted),
               "a %s datagram was accepted",
               mode == 1   ? "flipped"
               : mode == 2 ? "raw"
                           : "replayed");
    if (mode == 0) {
      s.last_datagram = d;
      s.last_accepted = res.accepted();
    } else if (mode == 3) {
      s.last_accepted = s.last_accepted || res.accepted();
    }
    if (res.verdict == cellsim::engine::DatagramVerdict::kRelayed) {
      const Meeting* m = engine_->meeting(s.who.cell);
      FUZZ_CHECK(m != nullptr && m->holds_floor(s.who.member),
                 "voice of member %llu relayed without the floor",
                 static_cast<unsigned long long>(s.who.member));
    }
    drain_datagrams(s, res);
    drain();
  }

  void drain_datagrams(const Slot& sender, const cellsim::engine::DatagramResult& res) {
    uint32_t copies = 0;
    cellsim::engine::DatagramOutput out;
    while (engine_->poll_datagram(&out)) {
      if (out.kind != cellsim::engine::DatagramOutput::Kind::kSend) continue;
      ++copies;
      auto it = sessions_.find(out.session_id);
      FUZZ_CHECK(it != sessions_.end(), "a datagram to session %llu, never welcomed",
                 static_cast<unsigned long long>(out.session_id));
      cellsim::wire::DatagramHeader h;
      std::string_view payload;
      const std::string_view bytes(out.bytes->data(), out.bytes->size());
      FUZZ_CHECK(
          cellsim::wire::open_datagram(it->second.key, cellsim::wire::DatagramDirection::kToMember,
                                       bytes, &h, &payload) == cellsim::wire::OpenStatus::kOk,
          "a relayed datagram does not open under its recipient's key");
      FUZZ_CHECK(h.from_member_id == sender.who.member && it->second.who.cell == sender.who.cell &&
                     it->second.who.member != sender.who.member,
                 "a relayed datagram names member %llu, sent by %llu to %llu",
                 static_cast<unsigned long long>(h.from_member_id),
                 static_cast<unsigned long long>(sender.who.member),
                 static_cast<unsigned long long>(it->second.who.member));
    }
    FUZZ_CHECK(copies == res.recipients, "%u copies relayed, the result says %u", copies,
               res.recipients);
  }

  void connect(Slot& s) {
    if (s.conn != 0) {  // the old connection goes away first
      engine_->handle_disconnect(now_, s.conn);
      open_.erase(s.conn);
      drain();
    }
    s = Slot();
    s.conn = next_conn_++;
    open_.insert(s.conn);
    engine_->handle_connect(now_, s.conn);
    drain();
  }

  v1::Envelope hello(Who who, uint8_t variant, const std::string& resume) {
    v1::TokenClaims claims;
    claims.set_cell_id(who.cell);
    claims.set_member_id(who.member);
    claims.set_standing(v1::STANDING_OFFICIAL);
    claims.set_role(v1::ROLE_MEMBER);
    for (uint64_t cell : {1, 2}) {
      const v1::CellRoster r = roster(cell);
      for (const auto& m : r.members()) {
        if (cell == who.cell && m.member_id() == who.member) {
          claims.set_standing(m.standing());
          claims.set_role(m.role());
        }
      }
    }
    const int64_t now_ms = now_ / kNsPerMs;
    claims.set_expires_at_ms(now_ms + 86'400'000);
    uint32_t version = cellsim::wire::kProtocolVersionMajor;
    switch (variant % 16) {
      case 8: claims.set_expires_at_ms(now_ms - 1); break;               // expired
      case 9: claims.set_member_id(who.member + 1); break;               // someone else's
      case 10: claims.set_cell_id(who.cell == 1 ? 2 : 1); break;         // another cell's
      case 11: claims.set_role(v1::ROLE_CHAIR); break;                   // claims the chair
      case 12: claims.set_standing(v1::STANDING_OFFICIAL); break;        // claims official
      case 13: version = cellsim::wire::kProtocolVersionMajor + 1; break;  // unknown version
      default: break;  // a good token (most variants)
    }
    v1::Envelope e;
    auto* h = e.mutable_hello();
    h->set_version_major(version);
    h->set_version_minor(cellsim::wire::kProtocolVersionMinor);
    h->set_cell_id(who.cell);
    h->set_member_id(who.member);
    std::string token = cellsim::engine::mint_token(kKey, claims);
    if (variant % 16 == 14 && !token.empty()) token.back() ^= 1;  // a bad MAC
    h->set_token(std::move(token));
    h->set_resume(resume);
    pending_who_ = who;
    return e;
  }

  void send(Slot& s, const v1::Envelope& e, uint8_t split) {
    if (s.conn == 0) connect(s);
    if (e.body_case() == v1::Envelope::kHello && !s.hello_sent) {
      s.hello_sent = true;
      s.who = pending_who_;
    }
    send_bytes(s, cellsim::wire::encode_frame(e), split);
  }

  void send_bytes(Slot& s, const std::string& frame, uint8_t split) {
    if (s.conn == 0) connect(s);
    std::string data = std::move(s.held);
    s.held.clear();
    data += frame;
    // The cut: the low 6 bits of the split byte, in bytes for data of up to
    // 63 bytes (so a seed can cut right after a header), else in 63rds.
    const size_t low = split & 0x3f;
    const size_t cut = data.size() <= 0x3f ? std::min(low, data.size()) : low * data.size() / 0x3f;
    if (split < 64) {
      feed(s, data);
    } else if (split < 128) {
      feed(s, std::string_view(data).substr(0, cut));
      feed(s, std::string_view(data).substr(cut));
    } else if (split < 192) {
      feed(s, std::string_view(data).substr(0, cut));
      s.held = data.substr(cut);
    } else if (data.size() <= 512) {
      for (size_t i = 0; i < data.size() && s.conn != 0; ++i) {
        feed(s, std::string_view(data).substr(i, 1));
      }
    } else {
      feed(s, data);
    }
  }

  void feed(Slot& s, std::string_view bytes) {
    if (s.conn == 0) return;  // closed by the engine while feeding
    engine_->handle_bytes(now_, s.conn, bytes);
    drain();
  }

  Slot* slot_of(ConnId conn) {
    for (Slot& s : slots_) {
      if (s.conn == conn) return &s;
    }
    return nullptr;
  }

  // Drains every output and checks what must hold after any step.
  void drain() {
    Output out;
    while (engine_->poll_output(&out)) {
      switch (out.kind) {
        case Output::Kind::kTransmit: on_frame(out.conn, *out.frame); break;
        case Output::Kind::kClose: {
          FUZZ_CHECK(open_.count(out.conn) != 0, "close of connection %llu, not open",
                     static_cast<unsigned long long>(out.conn));
          FUZZ_CHECK(needs_close_.count(out.conn) != 0,
                     "connection %llu closed without a protocol Error before it",
                     static_cast<unsigned long long>(out.conn));
          needs_close_.erase(out.conn);
          open_.erase(out.conn);
          if (Slot* s = slot_of(out.conn)) *s = Slot();
          break;
        }
        case Output::Kind::kMinutes: on_minutes(*out.minutes); break;
        case Output::Kind::kJournal: {
          v1::JournalRecord rec;
          FUZZ_CHECK(rec.ParseFromString(*out.frame), "a journal record does not parse");
          journal_.push_back(std::move(rec));
          break;
        }
        case Output::Kind::kBallotBox:
          boxes_[{out.box->cell_id(), out.box->meeting_id(), out.box->vote_id()}] = *out.box;
          break;
      }
    }
    FUZZ_CHECK(needs_close_.empty(), "a protocol Error on connection %llu without a kClose",
               static_cast<unsigned long long>(*needs_close_.begin()));
    for (uint64_t cell : {1, 2}) {
      const Meeting* m = engine_->meeting(cell);
      std::vector<Ack>& acks = acks_[cell];
      if (m == nullptr) {
        FUZZ_CHECK(acks.empty(), "cell %llu: ballots acknowledged but no meeting",
                   static_cast<unsigned long long>(cell));
        continue;
      }
      std::string why;
      FUZZ_CHECK(m->check_invariants(&why), "cell %llu meeting %llu: %s",
                 static_cast<unsigned long long>(cell), static_cast<unsigned long long>(m->id()),
                 why.c_str());
      for (const Ack& a : acks) {
        bool counted = false;
        for (uint64_t v : m->counted_votes(a.member)) counted |= v == a.vote_id;
        FUZZ_CHECK(counted, "cell %llu: ballot of member %llu in vote %llu acknowledged, not counted",
                   static_cast<unsigned long long>(cell), static_cast<unsigned long long>(a.member),
                   static_cast<unsigned long long>(a.vote_id));
      }
    }
  }

  void on_frame(ConnId conn, const std::string& frame) {
    FUZZ_CHECK(open_.count(conn) != 0, "frame on connection %llu after it closed",
               static_cast<unsigned long long>(conn));
    FUZZ_CHECK(frame.size() >= cellsim::wire::kFrameHeaderBytes, "frame of %zu bytes",
               frame.size());
    const uint32_t len = cellsim::wire::get_header(frame.data());
    FUZZ_CHECK(len == frame.size() - cellsim::wire::kFrameHeaderBytes,
               "header says %u, payload is %zu", len, frame.size() - 4);
    v1::Envelope env;
    const bool parsed = env.ParseFromArray(frame.data() + 4, static_cast<int>(len));
    FUZZ_CHECK(parsed, "an output frame (%u bytes) does not parse as an Envelope", len);
    FUZZ_CHECK(len <= settings_.max_frame_bytes, "a %s frame of %u bytes, over the maximum %u",
               std::string(cellsim::wire::body_name(env.body_case())).c_str(), len,
               settings_.max_frame_bytes);
    Slot* s = slot_of(conn);
    if (trace_) {
      std::fprintf(stderr, "  conn %llu (member %llu) <- %s%s\n",
                   static_cast<unsigned long long>(conn),
                   static_cast<unsigned long long>(s ? s->who.member : 0),
                   std::string(cellsim::wire::body_name(env.body_case())).c_str(),
                   env.has_error() ? (": " + env.error().reason()).c_str() : "");
    }
    switch (env.body_case()) {
      case v1::Envelope::kError:
        if (env.error().code() < 100) needs_close_.insert(conn);
        break;
      case v1::Envelope::kWelcome:
        if (s != nullptr && !env.welcome().resume_token().empty()) {
          resume_[{s->who.cell, s->who.member}] = env.welcome().resume_token();
        }
        if (s != nullptr) {
          s->session_id = env.welcome().session_id();
          s->media_key = env.welcome().media_key();
          if (!s->media_key.empty()) sessions_[s->session_id] = {s->media_key, s->who};
        }
        break;
      case v1::Envelope::kBallotAck:
        FUZZ_CHECK(s != nullptr && s->hello_sent, "a BallotAck on an unauthenticated slot");
        acks_[s->who.cell].push_back({s->who.member, env.ballot_ack().vote_id()});
        break;
      default: break;
    }
  }

  // The journal so far, replayed into a fresh engine, gives the same meetings.
  void check_replay() {
    Engine fresh(settings_, std::string(kKey));
    std::string why;
    FUZZ_CHECK(fresh.add_cell(roster(1), &why), "%s", why.c_str());
    FUZZ_CHECK(fresh.add_cell(roster(2), &why), "%s", why.c_str());
    RecoveryStats stats;
    const BoxLookup boxes = [this](uint64_t c, uint64_t m, uint64_t v) -> const v1::BallotBox* {
      auto it = boxes_.find({c, m, v});
      return it == boxes_.end() ? nullptr : &it->second;
    };
    fresh.recover(now_, journal_, boxes, &stats);
    FUZZ_CHECK(stats.records_skipped == 0, "replay skipped %llu records: %s",
               static_cast<unsigned long long>(stats.records_skipped),
               stats.warnings.empty() ? "" : stats.warnings[0].c_str());
    for (uint64_t cell : {1, 2}) {
      const Meeting* a = engine_->meeting(cell);
      const Meeting* b = fresh.meeting(cell);
      FUZZ_CHECK((a == nullptr) == (b == nullptr), "cell %llu: a meeting on one side only",
                 static_cast<unsigned long long>(cell));
      FUZZ_CHECK(engine_->next_meeting_id(cell) == fresh.next_meeting_id(cell),
                 "cell %llu: next meeting id differs after replay",
                 static_cast<unsigned long long>(cell));
      if (a == nullptr) continue;
      FUZZ_CHECK(a->id() == b->id(), "cell %llu: meeting id differs after replay",
                 static_cast<unsigned long long>(cell));
      FUZZ_CHECK(a->snapshot().SerializeAsString() == b->snapshot().SerializeAsString(),
                 "cell %llu: snapshot differs after replay:\n%s\nvs\n%s",
                 static_cast<unsigned long long>(cell), a->snapshot().DebugString().c_str(),
                 b->snapshot().DebugString().c_str());
      FUZZ_CHECK(a->ballots_counted() == b->ballots_counted() &&
                     a->tally_total() == b->tally_total(),
                 "cell %llu: ballots differ after replay", static_cast<unsigned long long>(cell));
      const v1::CellRoster members = roster(cell);
      for (const auto& rm : members.members()) {
        FUZZ_CHECK(a->counted_votes(rm.member_id()) == b->counted_votes(rm.member_id()),
                   "cell %llu member %llu: counted votes differ after replay",
                   static_cast<unsigned long long>(cell),
                   static_cast<unsigned long long>(rm.member_id()));
      }
      FUZZ_CHECK(b->check_invariants(&why), "replayed cell %llu: %s",
                 static_cast<unsigned long long>(cell), why.c_str());
      if (a->closed()) continue;
      v1::Minutes ma = a->interrupted_minutes(now_ / kNsPerMs);
      v1::Minutes mb = b->interrupted_minutes(now_ / kNsPerMs);
      FUZZ_CHECK(ma.SerializeAsString() == mb.SerializeAsString(),
                 "cell %llu: interrupted minutes differ after replay",
                 static_cast<unsigned long long>(cell));
    }
  }

  // Whether `a` is among the voters of the minutes' open vote (interrupted
  // minutes). Read by reflection: Minutes.open_vote is newer than some
  // engines this fuzzer builds against; without it, an interrupted meeting's
  // open vote cannot be checked and counts as found.
  static bool in_open_vote(const v1::Minutes& minutes, const Ack& a) {
    const auto* field = minutes.GetDescriptor()->FindFieldByName("open_vote");
    if (field == nullptr) return minutes.interrupted();
    const auto& vote = minutes.GetReflection()->GetMessage(minutes, field);
    const auto* id = vote.GetDescriptor()->FindFieldByName("vote_id");
    const auto* voters = vote.GetDescriptor()->FindFieldByName("voters");
    if (id == nullptr || voters == nullptr) return minutes.interrupted();
    const auto* r = vote.GetReflection();
    if (r->GetUInt64(vote, id) != a.vote_id) return false;
    for (int i = 0; i < r->FieldSize(vote, voters); ++i) {
      if (r->GetRepeatedUInt64(vote, voters, i) == a.member) return true;
    }
    return false;
  }

  // A meeting's minutes: every ballot acknowledged in it is among its voters.
  void on_minutes(const v1::Minutes& minutes) {
    std::vector<Ack>& acks = acks_[minutes.cell_id()];
    for (const Ack& a : acks) {
      bool found = false;
      for (const auto& v : minutes.votes()) {
        if (v.vote_id() != a.vote_id) continue;
        for (uint64_t id : v.voters()) found |= id == a.member;
      }
      found |= in_open_vote(minutes, a);
      FUZZ_CHECK(found || minutes.votes_truncated(),
                 "cell %llu meeting %llu: ballot of member %llu in vote %llu acknowledged, "
                 "not in the minutes",
                 static_cast<unsigned long long>(minutes.cell_id()),
                 static_cast<unsigned long long>(minutes.meeting_id()),
                 static_cast<unsigned long long>(a.member),
                 static_cast<unsigned long long>(a.vote_id));
    }
    acks.clear();
  }

  EngineSettings settings_;
  std::unique_ptr<Engine> engine_;
  TimeNs now_ = kStartNs;
  ConnId next_conn_ = 1;
  Slot slots_[kSlots];
  std::set<ConnId> open_;
  std::set<ConnId> needs_close_;
  std::map<uint64_t, std::vector<Ack>> acks_;  // by cell: acknowledged, not yet minuted
  std::vector<v1::JournalRecord> journal_;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, v1::BallotBox> boxes_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> resume_;
  std::map<uint64_t, SessionKey> sessions_;  // session id → its media key and member
  Who pending_who_{0, 0};
  bool stopped_ = false;
  const bool trace_ = std::getenv("FUZZ_ENGINE_TRACE") != nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field that is not UTF-8 when it parses one:
  // the fuzzer's own checks say what matters, so keep libFuzzer's output clean.
  if (std::getenv("FUZZ_ENGINE_VERBOSE") == nullptr) {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                       const std::string&) {});
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Reader r(data, size);
  Driver d(r.byte());
  d.run(r);
  return 0;
}
