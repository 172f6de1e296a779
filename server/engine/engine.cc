#include "server/engine/engine.h"

#include <algorithm>
#include <map>

#include <google/protobuf/unknown_field_set.h>

#include "proto/assert.h"
#include "server/engine/rules.h"
#include "server/engine/text.h"
#include "server/engine/token.h"

namespace cellsim::engine {
namespace {

// Codes below this close the connection (wire.proto, ErrorCode).
constexpr int kFirstRuleErrorCode = 100;


uint64_t salt_from_key(const std::string& key) {
  uint64_t h = 0x243f6a8885a308d3ull;
  for (unsigned char ch : key) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

bool is_client_request(v1::Envelope::BodyCase b) {
  switch (b) {
    case v1::Envelope::kHello:
    case v1::Envelope::kHeartbeat:
    case v1::Envelope::kJoinMeeting:
    case v1::Envelope::kRequestFloor:
    case v1::Envelope::kCastBallot:
    case v1::Envelope::kMediaFrame:
    case v1::Envelope::kOpenMeeting:
    case v1::Envelope::kExcuseAbsence:
    case v1::Envelope::kAdvanceAgenda:
    case v1::Envelope::kOpenVote:
    case v1::Envelope::kCloseVote:
    case v1::Envelope::kCloseMeeting:
    case v1::Envelope::kGrantFloor: return true;
    default: return false;
  }
}

}  // namespace

struct Engine::MemberSession {
  uint64_t session_id = 0;
  ConnId conn = 0;            // 0 when no connection is attached
  uint64_t joined_meeting = 0;  // meeting the session joined, 0 if none
  // Media pacing (EngineSettings): bytes available, as of media_at.
  int64_t media_tokens = -1;  // -1: not started (a full bucket)
  TimeNs media_at = 0;
  // The datagram transport (settings.media_port != 0), per session id: the
  // media key (empty when not offered), the replay window over the
  // member's datagrams (kToServer), the seq of the last datagram relayed
  // to it (kToMember), and whether the host holds its endpoint.
  // Invariant: datagram_bound implies conn != 0 and a media key.
  std::string media_key;
  wire::ReplayWindow replay;
  uint64_t datagram_seq_out = 0;
  bool datagram_bound = false;
};

struct Engine::Conn {
  explicit Conn(uint32_t max_frame_bytes) : decoder(max_frame_bytes) {}
  wire::FrameDecoder decoder;
  bool authenticated = false;
  Cell* cell = nullptr;
  uint64_t member_id = 0;
  TimeNs deadline = 0;
  TimeNs timer_at = 0;  // time of this connection's timers_ entry
};

// Routes a meeting's pushes to the connections of its present members.
class Engine::CellSink : public MeetingSink {
 public:
  CellSink(Engine* engine, Cell* cell) : engine_(engine), cell_(cell) {}
  void broadcast(const v1::Envelope& env) override;
  void send_to_member(uint64_t member_id, const v1::Envelope& env) override;
  void minutes_ready(const v1::Minutes& minutes) override;
  void journal(const v1::JournalRecord& record) override;
  void ballot_box(const v1::BallotBox& box) override;

 private:
  Engine* engine_;
  Cell* cell_;
};

struct Engine::Cell {
  v1::CellRoster roster;
  std::map<uint64_t, MemberSession> sessions;  // member id → session; ordered for determinism
  std::unique_ptr<CellSink> sink;
  std::unique_ptr<Meeting> meeting;
  uint64_t next_meeting_id = 1;
  // Recovery: the current meeting's final minutes are on disk already.
  bool minutes_kept = false;
  // What the current meeting relayed (cell and meeting ids unset here).
  MeetingMedia media;

  bool receives_pushes(uint64_t member_id, const MemberSession& s) const {
    return s.conn != 0 && meeting && s.joined_meeting == meeting->id() &&
           meeting->is_present(member_id);
  }
};

void Engine::CellSink::broadcast(const v1::Envelope& env) {
  if (engine_->replaying_) return;
  wire::SharedFrame frame = wire::make_shared_frame(env);
  uint32_t recipients = 0;
  for (const auto& [member, s] : cell_->sessions) {
    if (!cell_->receives_pushes(member, s)) continue;
    engine_->transmit_shared(s.conn, frame);
    ++recipients;
  }
  if (engine_->observer_ && recipients > 0) {
    engine_->observer_->on_frame_out(env.body_case(), recipients);
  }
}

void Engine::CellSink::send_to_member(uint64_t member_id, const v1::Envelope& env) {
  if (engine_->replaying_) return;
  auto it = cell_->sessions.find(member_id);
  if (it == cell_->sessions.end() || !cell_->receives_pushes(member_id, it->second)) return;
  engine_->transmit(it->second.conn, env);
}

void Engine::CellSink::minutes_ready(const v1::Minutes& minutes) {
  if (engine_->replaying_) return;  // finish_recovery() decides
  Output out;
  out.kind = Output::Kind::kMinutes;
  out.minutes = std::make_shared<const v1::Minutes>(minutes);
  engine_->push_output(std::move(out));
}

void Engine::CellSink::journal(const v1::JournalRecord& record) {
  if (engine_->replaying_) return;
  Output out;
  out.kind = Output::Kind::kJournal;
  v1::JournalRecord r = record;
  r.set_cell_id(cell_->roster.cell_id());
  out.frame = std::make_shared<const std::string>(r.SerializeAsString());
  engine_->push_output(std::move(out));
}

void Engine::CellSink::ballot_box(const v1::BallotBox& box) {
  if (engine_->replaying_) return;
  auto b = std::make_shared<v1::BallotBox>(box);
  b->set_cell_id(cell_->roster.cell_id());
  Output out;
  out.kind = Output::Kind::kBallotBox;
  out.box = std::move(b);
  engine_->push_output(std::move(out));
}

Engine::Engine(EngineSettings settings, std::string key)
    : settings_(settings),
      key_(std::move(key)),
      next_session_id_(settings.session_id_base),
      choice_salt_(salt_from_key(key_)) {
  CELLSIM_ASSERT(settings_.session_id_base > 0 && settings_.session_id_stride > 0);
  CELLSIM_ASSERT(key_.size() >= kMinKeyBytes);
  CELLSIM_ASSERT(settings_.rules.quorum.den > 0 && settings_.rules.quorum.num <= settings_.rules.quorum.den);
}

Engine::~Engine() = default;

bool Engine::add_cell(const v1::CellRoster& roster, std::string* why) {
  if (roster.cell_id() == 0) {
    *why = "cell id 0 is reserved";
    return false;
  }
  if (cells_.count(roster.cell_id())) {
    *why = "duplicate cell " + std::to_string(roster.cell_id());
    return false;
  }
  const std::string where = "cell " + std::to_string(roster.cell_id());
  if (static_cast<uint32_t>(roster.members_size()) > settings_.max_roster_members) {
    *why = where + ": " + std::to_string(roster.members_size()) + " members; at most " +
           std::to_string(settings_.max_roster_members);
    return false;
  }
  // A MeetingState lists every member (at most kAttendeeBytes each) and must
  // fit in one frame beside its other fields.
  constexpr uint64_t kAttendeeBytes = 32, kStateBytes = 256;
  if (uint64_t(roster.members_size()) * kAttendeeBytes + kStateBytes > settings_.max_frame_bytes) {
    *why = where + ": " + std::to_string(roster.members_size()) +
           " members do not fit in one MeetingState frame of " +
           std::to_string(settings_.max_frame_bytes) + " bytes";
    return false;
  }
  if (!is_valid_utf8(roster.name()) || roster.name().size() > settings_.max_text_bytes) {
    *why = where + ": the name must be UTF-8 of at most " +
           std::to_string(settings_.max_text_bytes) + " bytes";
    return false;
  }
  std::set<uint64_t> ids;
  bool has_chair = false;
  for (const auto& m : roster.members()) {
    if (!is_valid_utf8(m.name()) || m.name().size() > settings_.max_text_bytes) {
      *why = where + ": member " + std::to_string(m.member_id()) +
             ": the name must be UTF-8 of at most " + std::to_string(settings_.max_text_bytes) +
             " bytes";
      return false;
    }
    if (m.member_id() == 0 || !ids.insert(m.member_id()).second) {
      *why = "cell " + std::to_string(roster.cell_id()) + ": member id 0 or duplicate member " +
             std::to_string(m.member_id());
      return false;
    }
    has_chair |= m.role() == v1::ROLE_CHAIR;
  }
  if (!has_chair) {
    *why = "cell " + std::to_string(roster.cell_id()) + " has no chair";
    return false;
  }
  auto cell = std::make_unique<Cell>();
  roster_members_ += static_cast<size_t>(roster.members_size());
  cell->roster = roster;
  cell->sink = std::make_unique<CellSink>(this, cell.get());
  cells_.emplace(roster.cell_id(), std::move(cell));
  return true;
}

TimeNs Engine::liveness_ns() const {
  return TimeNs{settings_.rules.heartbeat_interval_ms} * settings_.rules.missed_heartbeats *
         kNsPerMs;
}

Engine::Conn* Engine::find_conn(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : &it->second;
}

void Engine::arm_timer(ConnId id, Conn& c, TimeNs deadline) {
  c.deadline = deadline;
  if (c.timer_at != 0 && c.timer_at <= deadline) return;  // re-armed lazily when it fires
  if (c.timer_at != 0) timers_.erase({c.timer_at, id});
  c.timer_at = deadline;
  timers_.emplace(deadline, id);
}

void Engine::handle_connect(TimeNs now, ConnId id) {
  auto [it, inserted] = conns_.try_emplace(id, settings_.max_frame_bytes);
  CELLSIM_ASSERT(inserted && "connection id reused while open");
  (void)inserted;
  arm_timer(id, it->second, now + TimeNs{settings_.rules.hello_timeout_ms} * kNsPerMs);
}

void Engine::handle_bytes(TimeNs now, ConnId id, std::string_view bytes) {
  Conn* c = find_conn(id);
  if (c == nullptr) return;
  c->decoder.feed(bytes);
  for (;;) {
    std::string_view payload;
    const auto status = c->decoder.next(&payload);
    if (status == wire::FrameDecoder::Status::kNeedMore) return;
    if (status == wire::FrameDecoder::Status::kTooLarge) {
      protocol_error(now, id, v1::ERROR_FRAME_TOO_LARGE,
                     "frame length " + std::to_string(c->decoder.declared_bytes()) +
                         " exceeds the maximum " + std::to_string(c->decoder.max_frame_bytes()));
      return;
    }
    v1::Envelope env;
    if (!env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      if (refuse_invalid_text(now, id, *c, payload)) {
        c = find_conn(id);  // an unauthenticated connection was closed
        if (c == nullptr) return;
        continue;
      }
      protocol_error(now, id, v1::ERROR_MALFORMED_FRAME, "frame does not parse as an Envelope");
      return;
    }
    if (observer_) observer_->on_frame_in(env.body_case());
    dispatch(now, id, *c, env);
    c = find_conn(id);  // dispatch may have closed it
    if (c == nullptr) return;
  }
}

// A frame that failed to parse only because a text field is not UTF-8 is a
// request the rules refuse (naming the field), not a broken protocol; before
// Hello it still closes the connection. False: the frame is simply malformed.
bool Engine::refuse_invalid_text(TimeNs now, ConnId id, const Conn& c, std::string_view payload) {
  std::string field;
  if (!find_invalid_text_field(v1::Envelope::descriptor(), payload, &field)) return false;
  uint64_t request_id = 0;
  google::protobuf::UnknownFieldSet top;
  if (top.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    for (int i = 0; i < top.field_count(); ++i) {
      const auto& f = top.field(i);
      if (f.number() == 1 && f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
        request_id = f.varint();
      }
    }
  }
  const std::string reason = field + " is not valid UTF-8";
  if (observer_) observer_->on_frame_in(v1::Envelope::BODY_NOT_SET);
  if (!c.authenticated) {
    protocol_error(now, id, v1::ERROR_MALFORMED_FRAME, reason, request_id);
    return true;
  }
  Conn* conn = find_conn(id);
  arm_timer(id, *conn, now + liveness_ns());
  refuse(id, RuleResult::Refuse(v1::ERROR_INVALID_TEXT, reason), request_id);
  return true;
}

void Engine::dispatch(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env) {
  if (!c.authenticated) {
    if (env.body_case() != v1::Envelope::kHello) {
      protocol_error(now, id, v1::ERROR_NOT_AUTHENTICATED, "the first frame must be Hello",
                     env.request_id());
      return;
    }
    on_hello(now, id, c, env);
    return;
  }
  arm_timer(id, c, now + liveness_ns());
  switch (env.body_case()) {
    case v1::Envelope::kHello:
      protocol_error(now, id, v1::ERROR_DUPLICATE_HELLO, "already authenticated",
                     env.request_id());
      return;
    case v1::Envelope::kHeartbeat: {
      v1::Envelope ack;
      ack.set_request_id(env.request_id());
      ack.mutable_heartbeat_ack()->set_seq(env.heartbeat().seq());
      transmit(id, ack);
      return;
    }
    case v1::Envelope::kJoinMeeting: on_join(now, id, c, env.request_id()); return;
    case v1::Envelope::kMediaFrame: on_media(now, id, c, env); return;
    default: break;
  }
  if (!is_client_request(env.body_case())) {
    refuse(id,
           RuleResult::Refuse(v1::ERROR_INVALID_REQUEST,
                              "not a client request: " +
                                  std::string(wire::body_name(env.body_case()))),
           env.request_id());
    return;
  }
  on_meeting_request(now, id, c, env);
}

void Engine::on_hello(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env) {
  const v1::Hello& h = env.hello();
  const uint64_t rid = env.request_id();
  Cell* checked = check_hello(now, id, env);
  if (checked == nullptr) return;
  Cell& cell = *checked;
  MemberSession& s = cell.sessions[h.member_id()];
  bool resumed = false;
  if (!h.resume().empty()) {
    const ResumeCheck rc = verify_resume(key_, h.resume(), h.cell_id(), h.member_id());
    if (!rc.valid) {
      protocol_error(now, id, v1::ERROR_RESUME_INVALID, "resume token does not verify", rid);
      return;
    }
    // A token from an earlier server run starts a fresh session.
    resumed = rc.run_id == settings_.run_id && rc.session_id == s.session_id && s.session_id != 0;
  }
  // A new connection, resumed or not: the member binds again from wherever
  // it is now.
  unbind(s);
  if (s.conn != 0) {  // the member connected again: the old connection goes
    const ConnId old = s.conn;
    s.conn = 0;
    if (!resumed && cell.meeting) cell.meeting->set_absent(h.member_id(), now / kNsPerMs);
    protocol_error(now, old, v1::ERROR_SUPERSEDED, "the member connected again");
  }
  const bool orphan = orphans_.count({h.cell_id(), h.member_id()}) != 0;
  if (!resumed) {
    // A member present when the server stopped stays present while it
    // joins again (recover()); anyone else is absent until they join.
    if (s.conn == 0 && cell.meeting && !orphan) {
      cell.meeting->set_absent(h.member_id(), now / kNsPerMs);
    }
    if (s.session_id != 0) sessions_by_id_.erase(s.session_id);
    s.session_id = next_session_id_;
    next_session_id_ += settings_.session_id_stride;
    s.joined_meeting = 0;
    sessions_by_id_[s.session_id] = {&cell, h.member_id()};
    // Bound: a member holds one session id at a time.
    CELLSIM_ASSERT(sessions_by_id_.size() <= roster_members_);
    s.media_key = settings_.media_port == 0 ? std::string()
                                            : wire::media_key(key_, h.cell_id(), h.member_id(),
                                                              s.session_id, settings_.run_id);
    s.replay = wire::ReplayWindow();
    s.datagram_seq_out = 0;
  }
  s.conn = id;
  c.authenticated = true;
  c.cell = &cell;
  c.member_id = h.member_id();
  arm_timer(id, c, now + liveness_ns());
  welcome(now, id, cell, s, env, resumed);
}

// The Hello's checks: protocol version, token, cell, roster. The member's
// cell, or nullptr when the connection was refused (the Error is sent).
Engine::Cell* Engine::check_hello(TimeNs now, ConnId id, const v1::Envelope& env) {
  const v1::Hello& h = env.hello();
  const uint64_t rid = env.request_id();
  if (h.version_major() != wire::kProtocolVersionMajor) {
    protocol_error(now, id, v1::ERROR_UNSUPPORTED_VERSION,
                   "protocol major version " + std::to_string(h.version_major()) +
                       " is not supported; this server speaks " +
                       std::to_string(wire::kProtocolVersionMajor),
                   rid);
    return nullptr;
  }
  TokenCheck tc = verify_token(key_, h.token(), h.cell_id(), h.member_id(), now / kNsPerMs);
  if (!tc.ok()) {
    protocol_error(now, id, tc.error, tc.reason, rid);
    return nullptr;
  }
  auto cit = cells_.find(h.cell_id());
  if (cit == cells_.end()) {
    protocol_error(now, id, v1::ERROR_UNKNOWN_CELL,
                   "this server holds no cell " + std::to_string(h.cell_id()), rid);
    return nullptr;
  }
  const v1::RosterMember* rm = nullptr;
  for (const auto& m : cit->second->roster.members()) {
    if (m.member_id() == h.member_id()) rm = &m;
  }
  if (rm == nullptr || rm->standing() != tc.claims.standing() || rm->role() != tc.claims.role()) {
    protocol_error(now, id, v1::ERROR_TOKEN_INVALID,
                   rm == nullptr ? "member is not on the cell's roster"
                                 : "token standing or role disagrees with the roster",
                   rid);
    return nullptr;
  }
  return cit->second.get();
}

// The Welcome, and for a member resumed into its meeting the meeting's state.
void Engine::welcome(TimeNs now, ConnId id, Cell& cell, const MemberSession& s,
                     const v1::Envelope& env, bool resumed) {
  const v1::Hello& h = env.hello();
  v1::Envelope w;
  w.set_request_id(env.request_id());
  auto* wel = w.mutable_welcome();
  wel->set_session_id(s.session_id);
  wel->set_heartbeat_interval_ms(settings_.rules.heartbeat_interval_ms);
  wel->set_server_time_ms(now / kNsPerMs);
  wel->set_resume_token(
      mint_resume(key_, h.cell_id(), h.member_id(), s.session_id, settings_.run_id));
  wel->set_resumed(resumed);
  if (settings_.media_port != 0 && !s.media_key.empty()) {
    wel->set_media_key(s.media_key);
    wel->set_media_port(settings_.media_port);
  }
  transmit(id, w);

  if (resumed && cell.meeting && s.joined_meeting == cell.meeting->id() &&
      !cell.meeting->closed()) {
    cell.meeting->set_present(h.member_id(), now / kNsPerMs);
    v1::Envelope st;
    *st.mutable_meeting_state() = cell.meeting->snapshot();
    for (uint64_t v : cell.meeting->counted_votes(h.member_id())) {
      st.mutable_meeting_state()->add_my_counted_votes(v);
    }
    cell.meeting->fit_state(&st);
    transmit(id, st);
  }
}

Meeting& Engine::current_meeting(Cell& cell) {
  if (!cell.meeting || cell.meeting->closed()) {
    cell.meeting = std::make_unique<Meeting>(&cell.roster, cell.next_meeting_id++, &settings_,
                                             cell.sink.get());
    cell.meeting->set_choice_salt(choice_salt_);
    cell.minutes_kept = false;
    cell.media = MeetingMedia();
    v1::JournalRecord rec;
    rec.set_meeting_id(cell.meeting->id());
    rec.set_created(true);
    cell.sink->journal(rec);
  }
  return *cell.meeting;
}

void Engine::on_join(TimeNs now, ConnId id, Conn& c, uint64_t request_id) {
  Cell& cell = *c.cell;
  Meeting& meeting = current_meeting(cell);
  if (RuleResult r = meeting.check_may_attend(c.member_id); !r.ok()) {
    refuse(id, r, request_id);
    return;
  }
  cell.sessions[c.member_id].joined_meeting = meeting.id();
  orphans_.erase({cell.roster.cell_id(), c.member_id});
  meeting.set_present(c.member_id, now / kNsPerMs);
  v1::Envelope st;
  st.set_request_id(request_id);
  *st.mutable_meeting_state() = meeting.snapshot();
  for (uint64_t v : meeting.counted_votes(c.member_id)) st.mutable_meeting_state()->add_my_counted_votes(v);
  meeting.fit_state(&st);
  transmit(id, st);
}

// Token bucket per member (EngineSettings): true when the frame may pass.
bool Engine::pace_media(MemberSession& s, TimeNs now, size_t payload_bytes) {
  const int64_t burst = settings_.media_burst_bytes;
  if (s.media_tokens < 0) {
    s.media_tokens = burst;
    s.media_at = now;
  }
  if (now > s.media_at) {
    const __int128 earned = static_cast<__int128>(now - s.media_at) *
                            settings_.media_rate_bytes_per_s / 1'000'000'000;
    s.media_tokens = static_cast<int64_t>(std::min<__int128>(burst, s.media_tokens + earned));
    s.media_at = now;
  }
  const int64_t cost = static_cast<int64_t>(payload_bytes) + kMediaFrameOverheadBytes;
  if (s.media_tokens < cost) return false;
  s.media_tokens -= cost;
  return true;
}

void Engine::on_media(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env) {
  Cell& cell = *c.cell;
  const uint64_t rid = env.request_id();
  auto sit = cell.sessions.find(c.member_id);
  if (sit == cell.sessions.end() || !cell.receives_pushes(c.member_id, sit->second)) {
    refuse(id, RuleResult::Refuse(v1::ERROR_NOT_JOINED, "join the meeting first"), rid);
    return;
  }
  if (!cell.meeting->holds_floor(c.member_id)) {
    refuse(id, RuleResult::Refuse(v1::ERROR_NOT_FLOOR_HOLDER,
                                  "only the member holding the floor may send media"),
           rid);
    return;
  }
  const size_t payload_bytes = env.media_frame().payload().size();
  if (payload_bytes > settings_.max_media_payload_bytes) {
    refuse(id, RuleResult::Refuse(v1::ERROR_PAYLOAD_TOO_LARGE,
                                  "media payload of " + std::to_string(payload_bytes) +
                                      " bytes; at most " +
                                      std::to_string(settings_.max_media_payload_bytes)),
           rid);
    return;
  }
  if (!pace_media(sit->second, now, payload_bytes)) {
    refuse(id, RuleResult::Refuse(v1::ERROR_RATE_LIMITED,
                                  "media faster than " +
                                      std::to_string(settings_.media_rate_bytes_per_s) +
                                      " bytes/s beyond the burst allowance"),
           rid);
    return;
  }
  v1::Envelope relay;
  relay.mutable_media_frame()->set_seq(env.media_frame().seq());
  relay.mutable_media_frame()->set_payload(env.media_frame().payload());
  relay.mutable_media_frame()->set_from_member_id(c.member_id);
  relay.mutable_media_frame()->set_capture_ns(env.media_frame().capture_ns());
  wire::SharedFrame frame = wire::make_shared_frame(relay);
  uint32_t recipients = 0;
  for (const auto& [member, s] : cell.sessions) {
    if (member == c.member_id || !cell.receives_pushes(member, s)) continue;
    transmit_shared(s.conn, frame);
    ++recipients;
  }
  cell.media.in_band_frames += recipients;
  cell.media.in_band_bytes += uint64_t{recipients} * frame->size();
  if (observer_ && recipients > 0) observer_->on_frame_out(v1::Envelope::kMediaFrame, recipients);
}

void Engine::on_meeting_request(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env) {
  Cell& cell = *c.cell;
  const uint64_t rid = env.request_id();
  auto sit = cell.sessions.find(c.member_id);
  if (sit == cell.sessions.end() || !cell.receives_pushes(c.member_id, sit->second)) {
    refuse(id, RuleResult::Refuse(v1::ERROR_NOT_JOINED, "join the meeting first"), rid);
    return;
  }
  Meeting& m = *cell.meeting;
  const uint64_t who = c.member_id;
  const int64_t now_ms = now / kNsPerMs;
  RuleResult r;
  switch (env.body_case()) {
    case v1::Envelope::kOpenMeeting: r = m.open(who, env.open_meeting(), now_ms); break;
    case v1::Envelope::kExcuseAbsence: r = m.excuse(who, env.excuse_absence(), now_ms); break;
    case v1::Envelope::kAdvanceAgenda: r = m.advance_agenda(who, now_ms); break;
    case v1::Envelope::kOpenVote: r = m.open_vote(who, env.open_vote(), now_ms); break;
    case v1::Envelope::kCloseVote: r = m.close_vote(who, env.close_vote().vote_id(), now_ms); break;
    case v1::Envelope::kGrantFloor:
      r = m.grant_floor(who, env.grant_floor().member_id(), now_ms);
      break;
    case v1::Envelope::kCloseMeeting: r = m.close(who, now_ms); break;
    case v1::Envelope::kRequestFloor: r = m.request_floor(who, env.request_floor(), now_ms); break;
    case v1::Envelope::kCastBallot: {
      v1::Envelope ack;
      ack.set_request_id(rid);
      r = m.cast_ballot(who, env.cast_ballot(), now_ms, ack.mutable_ballot_ack());
      if (r.ok()) transmit(id, ack);
      break;
    }
    default: CELLSIM_ASSERT(false && "dispatch let through a body it does not handle");
  }
  if (!r.ok()) refuse(id, r, rid);
}

void Engine::transmit(ConnId id, const v1::Envelope& env) {
  if (observer_) observer_->on_frame_out(env.body_case(), 1);
  transmit_shared(id, wire::make_shared_frame(env));
}

void Engine::transmit_shared(ConnId id, wire::SharedFrame frame) {
  // Every frame fits the maximum the peers enforce (its builders trim).
  CELLSIM_ASSERT(frame->size() <= size_t{wire::kFrameHeaderBytes} + settings_.max_frame_bytes);
  Output out;
  out.kind = Output::Kind::kTransmit;
  out.conn = id;
  out.frame = std::move(frame);
  push_output(std::move(out));
}

void Engine::refuse(ConnId id, const RuleResult& r, uint64_t request_id) {
  CELLSIM_ASSERT(!r.ok() && r.code >= kFirstRuleErrorCode);
  if (observer_) observer_->on_error(r.code);
  v1::Envelope env;
  env.set_request_id(request_id);
  env.mutable_error()->set_code(r.code);
  env.mutable_error()->set_reason(r.reason);
  transmit(id, env);
}

void Engine::protocol_error(TimeNs now, ConnId id, v1::ErrorCode code, std::string reason,
                            uint64_t request_id) {
  CELLSIM_ASSERT(code < kFirstRuleErrorCode);
  if (observer_) observer_->on_error(code);
  v1::Envelope env;
  env.set_request_id(request_id);
  env.mutable_error()->set_code(code);
  env.mutable_error()->set_reason(std::move(reason));
  transmit(id, env);
  Output out;
  out.kind = Output::Kind::kClose;
  out.conn = id;
  push_output(std::move(out));
  drop_conn(now, id);
}

void Engine::drop_conn(TimeNs now, ConnId id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (c.timer_at != 0) timers_.erase({c.timer_at, id});
  if (c.authenticated) {
    Cell& cell = *c.cell;
    auto sit = cell.sessions.find(c.member_id);
    if (sit != cell.sessions.end() && sit->second.conn == id) {
      unbind(sit->second);
      sit->second.conn = 0;
      if (cell.meeting && !shutting_down_) cell.meeting->set_absent(c.member_id, now / kNsPerMs);
    }
  }
  conns_.erase(it);
}

void Engine::handle_disconnect(TimeNs now, ConnId id) { drop_conn(now, id); }

void Engine::handle_timeout(TimeNs now) {
  if (!orphans_.empty() && orphan_deadline_ <= now) expire_orphans(now);
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const ConnId id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Conn* c = find_conn(id);
    CELLSIM_ASSERT(c != nullptr && "timer outlived its connection");
    c->timer_at = 0;
    if (c->deadline > now) {
      arm_timer(id, *c, c->deadline);
      continue;
    }
    protocol_error(now, id, v1::ERROR_LIVENESS_TIMEOUT,
                   c->authenticated ? "no frame within the liveness window"
                                    : "no Hello within the handshake timeout");
  }
}

void Engine::shutdown(TimeNs now) {
  // Meetings still open keep their minutes, marked interrupted, before anyone
  // is disconnected (so the minutes list who was there, and no quorum loss is
  // recorded for the server's own stop).
  std::vector<uint64_t> cell_ids;
  for (const auto& [cell_id, cell] : cells_) cell_ids.push_back(cell_id);
  std::sort(cell_ids.begin(), cell_ids.end());
  for (uint64_t cell_id : cell_ids) {
    Cell& cell = *cells_[cell_id];
    if (!cell.meeting || cell.meeting->phase() != v1::MEETING_PHASE_OPEN) continue;
    cell.sink->minutes_ready(cell.meeting->interrupted_minutes(now / kNsPerMs));
  }
  shutting_down_ = true;
  std::vector<ConnId> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, c] : conns_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (ConnId id : ids) protocol_error(now, id, v1::ERROR_SHUTTING_DOWN, "server shutting down");
}

std::optional<TimeNs> Engine::poll_timeout() const {
  std::optional<TimeNs> next;
  if (!timers_.empty()) next = timers_.begin()->first;
  if (!orphans_.empty() && (!next || orphan_deadline_ < *next)) next = orphan_deadline_;
  return next;
}

// Members present when the server stopped who did not join again within one
// liveness window are absent from now on.
void Engine::expire_orphans(TimeNs now) {
  for (const auto& [cell_id, member_id] : orphans_) {
    auto it = cells_.find(cell_id);
    if (it == cells_.end() || !it->second->meeting) continue;
    it->second->meeting->set_absent(member_id, now / kNsPerMs);
  }
  orphans_.clear();
}

void Engine::recover(TimeNs now, const std::vector<v1::JournalRecord>& records,
                     const BoxLookup& boxes, RecoveryStats* stats) {
  CELLSIM_ASSERT(conns_.empty() && "recover() runs before any connection");
  *stats = RecoveryStats{};
  replaying_ = true;
  for (const v1::JournalRecord& rec : records) replay(rec, boxes, stats);
  replaying_ = false;
  stats->clean_stop = !records.empty() && records.back().event_case() == v1::JournalRecord::kStopped;
  finish_recovery(now, stats);
}

namespace {

// A record recovery passed over: counted, and said (up to the bound).
void skip_record(const v1::JournalRecord& rec, const std::string& what, RecoveryStats* stats) {
  ++stats->records_skipped;
  if (stats->warnings.size() < kMaxRecoveryWarnings) {
    stats->warnings.push_back("cell " + std::to_string(rec.cell_id()) + " meeting " +
                              std::to_string(rec.meeting_id()) + ": " + what);
  }
}

}  // namespace

void Engine::replay(const v1::JournalRecord& rec, const BoxLookup& boxes, RecoveryStats* stats) {
  const auto warn = [&](const std::string& what) { skip_record(rec, what, stats); };
  if (rec.event_case() == v1::JournalRecord::kStopped) return;
  auto it = cells_.find(rec.cell_id());
  if (it == cells_.end()) return warn("the deployment no longer holds this cell");
  Cell& cell = *it->second;
  switch (rec.event_case()) {
    case v1::JournalRecord::kNextMeetingId:
      cell.next_meeting_id = std::max(cell.next_meeting_id, rec.next_meeting_id());
      ++stats->records_applied;
      return;
    case v1::JournalRecord::kCreated:
      cell.meeting = std::make_unique<Meeting>(&cell.roster, rec.meeting_id(), &settings_,
                                               cell.sink.get());
      cell.meeting->set_choice_salt(choice_salt_);
      cell.minutes_kept = false;
      cell.media = MeetingMedia();
      cell.next_meeting_id = std::max(cell.next_meeting_id, rec.meeting_id() + 1);
      ++stats->records_applied;
      return;
    default: break;
  }
  if (!cell.meeting || cell.meeting->id() != rec.meeting_id()) {
    if (rec.event_case() != v1::JournalRecord::kMinutesKept) warn("not the cell's meeting");
    return;
  }
  if (!apply(cell, rec, boxes, stats)) return warn("a record that no longer applies");
  ++stats->records_applied;
}

// One record through the same Meeting method that produced it.
bool Engine::apply(Cell& cell, const v1::JournalRecord& rec, const BoxLookup& boxes,
                   RecoveryStats* stats) {
  Meeting& m = *cell.meeting;
  const uint64_t who = rec.member_id();
  const int64_t t = rec.at_ms();
  switch (rec.event_case()) {
    case v1::JournalRecord::kPresent:
      if (!rec.present()) {
        m.set_absent(who, t);
        return true;
      }
      if (!m.check_may_attend(who).ok()) return false;
      m.set_present(who, t);
      return true;
    case v1::JournalRecord::kExcuse: return m.excuse(who, rec.excuse(), t).ok();
    case v1::JournalRecord::kOpen: return m.open(who, rec.open(), t).ok();
    case v1::JournalRecord::kAdvanceAgenda: return m.advance_agenda(who, t).ok();
    case v1::JournalRecord::kOpenVote: {
      if (!m.open_vote(who, rec.open_vote(), t).ok()) return false;
      const v1::BallotBox* box =
          boxes ? boxes(cell.roster.cell_id(), m.id(), rec.open_vote().vote_id()) : nullptr;
      if (!m.open_vote_secret()) return true;
      // Every secret vote has a box from its opening: none means the journal
      // folder lost it, and the vote comes back without its ballots.
      if (box == nullptr) {
        skip_record(rec,
                    "secret vote " + std::to_string(rec.open_vote().vote_id()) +
                        " has no ballot box: it comes back without its ballots",
                    stats);
        return true;
      }
      if (!m.restore_secret_ballots(*box)) return false;
      stats->ballots_restored += static_cast<uint64_t>(box->roll_size());
      return true;
    }
    case v1::JournalRecord::kCloseVote: return m.close_vote(who, rec.close_vote(), t).ok();
    case v1::JournalRecord::kGrantFloor: return m.grant_floor(who, rec.grant_floor(), t).ok();
    case v1::JournalRecord::kRequestFloor: return m.request_floor(who, rec.request_floor(), t).ok();
    case v1::JournalRecord::kClose: return m.close(who, t).ok();
    case v1::JournalRecord::kBallot: {
      v1::CastBallot b;
      b.set_vote_id(rec.ballot().vote_id());
      b.set_choice(rec.ballot().choice());
      b.set_ballot_id(rec.ballot().ballot_id());
      v1::BallotAck ack;
      if (!m.knows(who) || !m.cast_ballot(who, b, t, &ack).ok()) return false;
      ++stats->ballots_restored;
      return true;
    }
    case v1::JournalRecord::kMinutesKept:
      cell.minutes_kept = true;
      return true;
    default: return false;
  }
}

void Engine::finish_recovery(TimeNs now, RecoveryStats* stats) {
  std::vector<uint64_t> cell_ids;
  for (const auto& [cell_id, cell] : cells_) cell_ids.push_back(cell_id);
  std::sort(cell_ids.begin(), cell_ids.end());
  orphan_deadline_ = now + liveness_ns();
  for (uint64_t cell_id : cell_ids) {
    Cell& cell = *cells_[cell_id];
    if (!cell.meeting) continue;
    Meeting& m = *cell.meeting;
    if (m.closed()) {
      // Closed (and announced) but its minutes were not kept: keep them now.
      if (!cell.minutes_kept) cell.sink->minutes_ready(m.final_minutes());
      continue;
    }
    ++stats->meetings_restored;
    const v1::MeetingState state = m.snapshot();
    for (const v1::Attendee& a : state.attendees()) {
      if (a.present()) orphans_.insert({cell_id, a.member_id()});
    }
    if (stats->clean_stop) continue;  // its interrupted minutes were written at the stop
    v1::Minutes minutes = m.interrupted_minutes(now / kNsPerMs);
    minutes.set_recovered(true);
    cell.sink->minutes_ready(minutes);
  }
}

bool Engine::poll_output(Output* out) {
  if (outputs_.empty()) return false;
  *out = std::move(outputs_.front());
  outputs_.pop_front();
  return true;
}

void Engine::open_meeting_list(std::vector<std::pair<uint64_t, const Meeting*>>* out) const {
  const size_t first = out->size();
  for (const auto& [cell_id, cell] : cells_) {
    if (cell->meeting && cell->meeting->phase() == v1::MEETING_PHASE_OPEN) {
      out->emplace_back(cell_id, cell->meeting.get());
    }
  }
  std::sort(out->begin() + static_cast<std::ptrdiff_t>(first), out->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

size_t Engine::open_meetings() const {
  size_t n = 0;
  for (const auto& [id, cell] : cells_) n += cell->meeting && !cell->meeting->closed();
  return n;
}

size_t Engine::quorate_meetings() const {
  size_t n = 0;
  for (const auto& [id, cell] : cells_) {
    n += cell->meeting && !cell->meeting->closed() && cell->meeting->quorate();
  }
  return n;
}

void Engine::push_output(Output out) {
  // Bound: a host drains the outputs after every input.
  CELLSIM_ASSERT(outputs_.size() < kMaxPendingOutputs);
  outputs_.push_back(std::move(out));
}

bool Engine::check_cell_invariants(uint64_t cell_id, std::string* why) const {
  const Meeting* m = meeting(cell_id);
  return m == nullptr || m->check_invariants(why);
}

const Meeting* Engine::meeting(uint64_t cell_id) const {
  auto it = cells_.find(cell_id);
  return it == cells_.end() ? nullptr : it->second->meeting.get();
}

}  // namespace cellsim::engine

namespace cellsim::engine {

std::vector<uint64_t> Engine::cell_ids() const {
  std::vector<uint64_t> ids;
  ids.reserve(cells_.size());
  for (const auto& [id, cell] : cells_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

uint64_t Engine::next_meeting_id(uint64_t cell_id) const {
  auto it = cells_.find(cell_id);
  return it == cells_.end() ? 0 : it->second->next_meeting_id;
}

}  // namespace cellsim::engine

// ---------------------------------------------------------------------------
// Voice datagrams (engine.h, "Voice datagrams").

namespace cellsim::engine {

const char* datagram_verdict_name(DatagramVerdict v) {
  switch (v) {
    case DatagramVerdict::kBound:
      return "bound";
    case DatagramVerdict::kRelayed:
      return "relayed";
    case DatagramVerdict::kMalformed:
      return "malformed";
    case DatagramVerdict::kUnknownSession:
      return "unknown_session";
    case DatagramVerdict::kBadTag:
      return "bad_tag";
    case DatagramVerdict::kReplayed:
      return "replayed";
    case DatagramVerdict::kNotJoined:
      return "not_joined";
    case DatagramVerdict::kNotFloorHolder:
      return "not_floor_holder";
    case DatagramVerdict::kTooLarge:
      return "too_large";
    case DatagramVerdict::kRateLimited:
      return "rate_limited";
  }
  return "unknown";
}

void Engine::set_media_port(uint32_t port) {
  CELLSIM_ASSERT(conns_.empty() && sessions_by_id_.empty() &&
                 "set_media_port() before any connection");
  settings_.media_port = port;
}

void Engine::unbind(MemberSession& s) {
  if (!s.datagram_bound) return;
  s.datagram_bound = false;
  CELLSIM_ASSERT(bound_sessions_ > 0);
  --bound_sessions_;
  DatagramOutput out;
  out.kind = DatagramOutput::Kind::kUnbind;
  out.session_id = s.session_id;
  push_datagram(std::move(out));
}

void Engine::push_datagram(DatagramOutput out) {
  // Bound: a host drains the datagram outputs after every input.
  CELLSIM_ASSERT(datagram_outputs_.size() < kMaxPendingDatagramOutputs);
  datagram_outputs_.push_back(std::move(out));
}

bool Engine::poll_datagram(DatagramOutput* out) {
  if (datagram_outputs_.empty()) return false;
  *out = std::move(datagram_outputs_.front());
  datagram_outputs_.pop_front();
  return true;
}

DatagramResult Engine::drop_datagram(DatagramVerdict v, uint64_t session_id, bool latch) {
  ++datagram_stats_.by_verdict[static_cast<size_t>(v)];
  DatagramResult r;
  r.verdict = v;
  r.session_id = session_id;
  r.latch = latch;
  return r;
}

DatagramResult Engine::handle_datagram(TimeNs now, std::string_view bytes) {
  ++datagram_stats_.received;
  wire::DatagramHeader h;
  if (!wire::peek_datagram(bytes, &h)) return drop_datagram(DatagramVerdict::kMalformed, 0, false);
  const uint64_t sid = h.session_id;
  auto it = sessions_by_id_.find(sid);
  if (it == sessions_by_id_.end())
    return drop_datagram(DatagramVerdict::kUnknownSession, sid, false);
  Cell& cell = *it->second.first;
  const uint64_t member = it->second.second;
  auto sit = cell.sessions.find(member);
  CELLSIM_ASSERT(sit != cell.sessions.end() && sit->second.session_id == sid);
  MemberSession& s = sit->second;
  if (s.conn == 0 || s.media_key.empty()) {
    return drop_datagram(DatagramVerdict::kUnknownSession, sid, false);
  }
  std::string_view payload;
  switch (
      wire::open_datagram(s.media_key, wire::DatagramDirection::kToServer, bytes, &h, &payload)) {
    case wire::OpenStatus::kOk:
      break;
    case wire::OpenStatus::kMalformed:
      return drop_datagram(DatagramVerdict::kMalformed, sid, false);
    case wire::OpenStatus::kBadTag:
      return drop_datagram(DatagramVerdict::kBadTag, sid, false);
  }
  // Only an authenticated datagram moves the window (RFC 4303 §3.4.3), and
  // only an authenticated, fresh one moves the endpoint: a replay from
  // elsewhere cannot take a session's voice.
  if (!s.replay.accept(h.seq)) return drop_datagram(DatagramVerdict::kReplayed, sid, false);
  if (!s.datagram_bound) {
    s.datagram_bound = true;
    ++bound_sessions_;
  }
  if (h.kind == wire::DatagramKind::kBind) return drop_datagram(DatagramVerdict::kBound, sid, true);
  // Voice: the rules of MediaFrames (on_media).
  if (!cell.receives_pushes(member, s))
    return drop_datagram(DatagramVerdict::kNotJoined, sid, true);
  if (!cell.meeting->holds_floor(member)) {
    return drop_datagram(DatagramVerdict::kNotFloorHolder, sid, true);
  }
  if (payload.size() > settings_.max_media_payload_bytes) {
    return drop_datagram(DatagramVerdict::kTooLarge, sid, true);
  }
  if (!pace_media(s, now, payload.size())) {
    return drop_datagram(DatagramVerdict::kRateLimited, sid, true);
  }
  DatagramResult r = drop_datagram(DatagramVerdict::kRelayed, sid, true);
  r.recipients = relay_datagram(cell, member, h, payload);
  return r;
}

// Seals the speaker's voice for every other participant that receives the
// meeting's pushes and has an endpoint. Returns the copies queued.
uint32_t Engine::relay_datagram(Cell& cell, uint64_t speaker, const wire::DatagramHeader& h,
                                std::string_view payload) {
  uint32_t recipients = 0;
  for (auto& [member, rs] : cell.sessions) {
    if (member == speaker || !rs.datagram_bound || !cell.receives_pushes(member, rs)) continue;
    wire::DatagramHeader out_h;
    out_h.kind = wire::DatagramKind::kVoice;
    out_h.session_id = rs.session_id;
    out_h.seq = ++rs.datagram_seq_out;
    out_h.media_seq = h.media_seq;
    out_h.capture_ns = h.capture_ns;
    out_h.from_member_id = speaker;
    DatagramOutput out;
    out.kind = DatagramOutput::Kind::kSend;
    out.session_id = rs.session_id;
    out.bytes = std::make_shared<const std::string>(
        wire::seal_datagram(rs.media_key, wire::DatagramDirection::kToMember, out_h, payload));
    ++datagram_stats_.sent;
    datagram_stats_.sent_bytes += out.bytes->size();
    cell.media.datagram_bytes += out.bytes->size();
    push_datagram(std::move(out));
    ++recipients;
  }
  cell.media.datagram_frames += recipients;
  return recipients;
}

bool Engine::session_bound(uint64_t session_id) const {
  auto it = sessions_by_id_.find(session_id);
  if (it == sessions_by_id_.end()) return false;
  const auto& sessions = it->second.first->sessions;
  auto sit = sessions.find(it->second.second);
  return sit != sessions.end() && sit->second.datagram_bound;
}

void Engine::meeting_media_list(std::vector<MeetingMedia>* out) const {
  const size_t first = out->size();
  for (const auto& [cell_id, cell] : cells_) {
    if (!cell->meeting || cell->meeting->closed()) continue;
    MeetingMedia m = cell->media;
    m.cell_id = cell_id;
    m.meeting_id = cell->meeting->id();
    out->push_back(m);
  }
  std::sort(out->begin() + static_cast<std::ptrdiff_t>(first), out->end(),
            [](const MeetingMedia& a, const MeetingMedia& b) { return a.cell_id < b.cell_id; });
}

bool Engine::check_datagram_invariants(std::string* why) const {
  const auto fail = [why](std::string what) {
    *why = std::move(what);
    return false;
  };
  if (sessions_by_id_.size() > roster_members_) {
    return fail("more sessions indexed (" + std::to_string(sessions_by_id_.size()) +
                ") than roster members (" + std::to_string(roster_members_) + ")");
  }
  for (const auto& [sid, where] : sessions_by_id_) {
    auto sit = where.first->sessions.find(where.second);
    if (sit == where.first->sessions.end() || sit->second.session_id != sid) {
      return fail("session " + std::to_string(sid) + " is indexed but no member holds it");
    }
  }
  size_t bound = 0, indexed = 0;
  for (const auto& [cell_id, cell] : cells_) {
    for (const auto& [member, s] : cell->sessions) {
      const std::string who =
          "cell " + std::to_string(cell_id) + " member " + std::to_string(member);
      if (s.session_id != 0) {
        ++indexed;
        auto it = sessions_by_id_.find(s.session_id);
        if (it == sessions_by_id_.end() || it->second.first != cell.get() ||
            it->second.second != member) {
          return fail(who + ": session " + std::to_string(s.session_id) + " is not indexed");
        }
      }
      if (s.datagram_bound) {
        ++bound;
        if (s.conn == 0) return fail(who + ": bound without a connection");
        if (s.media_key.empty()) return fail(who + ": bound without a media key");
      }
      if (settings_.media_port == 0 && !s.media_key.empty()) {
        return fail(who + ": a media key while datagrams are not offered");
      }
    }
  }
  if (indexed != sessions_by_id_.size()) return fail("the session index holds stale ids");
  if (bound != bound_sessions_) {
    return fail(std::to_string(bound) + " sessions bound, counted " +
                std::to_string(bound_sessions_));
  }
  uint64_t sum = 0;
  for (uint64_t n : datagram_stats_.by_verdict) sum += n;
  if (sum != datagram_stats_.received) {
    return fail("datagrams received " + std::to_string(datagram_stats_.received) +
                " but verdicts add up to " + std::to_string(sum));
  }
  return true;
}

}  // namespace cellsim::engine
