#include "server/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <map>

#include "server/engine/rules.h"
#include "server/engine/token.h"

namespace cellsim::engine {
namespace {

// Codes below this close the connection (wire.proto, ErrorCode).
constexpr int kFirstRuleErrorCode = 100;

struct MemberSession {
  uint64_t session_id = 0;
  ConnId conn = 0;            // 0 when no connection is attached
  uint64_t joined_meeting = 0;  // meeting the session joined, 0 if none
};

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

  bool receives_pushes(uint64_t member_id, const MemberSession& s) const {
    return s.conn != 0 && meeting && s.joined_meeting == meeting->id() &&
           meeting->is_present(member_id);
  }
};

void Engine::CellSink::broadcast(const v1::Envelope& env) {
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
  auto it = cell_->sessions.find(member_id);
  if (it == cell_->sessions.end() || !cell_->receives_pushes(member_id, it->second)) return;
  engine_->transmit(it->second.conn, env);
}

void Engine::CellSink::minutes_ready(const v1::Minutes& minutes) {
  Output out;
  out.kind = Output::Kind::kMinutes;
  out.minutes = std::make_shared<const v1::Minutes>(minutes);
  engine_->outputs_.push_back(std::move(out));
}

Engine::Engine(EngineSettings settings, std::string key)
    : settings_(settings), key_(std::move(key)), next_session_id_(settings.session_id_base) {
  assert(settings_.session_id_base > 0 && settings_.session_id_stride > 0);
  assert(key_.size() >= kMinKeyBytes);
  assert(settings_.rules.quorum.den > 0 && settings_.rules.quorum.num <= settings_.rules.quorum.den);
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
  std::set<uint64_t> ids;
  bool has_chair = false;
  for (const auto& m : roster.members()) {
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
  assert(inserted && "connection id reused while open");
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
      protocol_error(now, id, v1::ERROR_MALFORMED_FRAME, "frame does not parse as an Envelope");
      return;
    }
    if (observer_) observer_->on_frame_in(env.body_case());
    dispatch(now, id, *c, env);
    c = find_conn(id);  // dispatch may have closed it
    if (c == nullptr) return;
  }
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
    case v1::Envelope::kMediaFrame: on_media(id, c, env); return;
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
  if (h.version_major() != wire::kProtocolVersionMajor) {
    protocol_error(now, id, v1::ERROR_UNSUPPORTED_VERSION,
                   "protocol major version " + std::to_string(h.version_major()) +
                       " is not supported; this server speaks " +
                       std::to_string(wire::kProtocolVersionMajor),
                   rid);
    return;
  }
  TokenCheck tc = verify_token(key_, h.token(), h.cell_id(), h.member_id(), now / kNsPerMs);
  if (!tc.ok()) {
    protocol_error(now, id, tc.error, tc.reason, rid);
    return;
  }
  auto cit = cells_.find(h.cell_id());
  if (cit == cells_.end()) {
    protocol_error(now, id, v1::ERROR_UNKNOWN_CELL,
                   "this server holds no cell " + std::to_string(h.cell_id()), rid);
    return;
  }
  Cell& cell = *cit->second;
  const v1::RosterMember* rm = nullptr;
  for (const auto& m : cell.roster.members()) {
    if (m.member_id() == h.member_id()) rm = &m;
  }
  if (rm == nullptr || rm->standing() != tc.claims.standing() || rm->role() != tc.claims.role()) {
    protocol_error(now, id, v1::ERROR_TOKEN_INVALID,
                   rm == nullptr ? "member is not on the cell's roster"
                                 : "token standing or role disagrees with the roster",
                   rid);
    return;
  }
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
  if (s.conn != 0) {  // the member connected again: the old connection goes
    const ConnId old = s.conn;
    s.conn = 0;
    if (!resumed && cell.meeting) cell.meeting->set_absent(h.member_id(), now / kNsPerMs);
    protocol_error(now, old, v1::ERROR_SUPERSEDED, "the member connected again");
  }
  if (!resumed) {
    if (s.conn == 0 && cell.meeting) cell.meeting->set_absent(h.member_id(), now / kNsPerMs);
    s.session_id = next_session_id_;
    next_session_id_ += settings_.session_id_stride;
    s.joined_meeting = 0;
  }
  s.conn = id;
  c.authenticated = true;
  c.cell = &cell;
  c.member_id = h.member_id();
  arm_timer(id, c, now + liveness_ns());

  v1::Envelope w;
  w.set_request_id(rid);
  auto* wel = w.mutable_welcome();
  wel->set_session_id(s.session_id);
  wel->set_heartbeat_interval_ms(settings_.rules.heartbeat_interval_ms);
  wel->set_server_time_ms(now / kNsPerMs);
  wel->set_resume_token(
      mint_resume(key_, h.cell_id(), h.member_id(), s.session_id, settings_.run_id));
  wel->set_resumed(resumed);
  transmit(id, w);

  if (resumed && cell.meeting && s.joined_meeting == cell.meeting->id() &&
      !cell.meeting->closed()) {
    cell.meeting->set_present(h.member_id(), now / kNsPerMs);
    v1::Envelope st;
    *st.mutable_meeting_state() = cell.meeting->snapshot();
    for (uint64_t v : cell.meeting->counted_votes(h.member_id())) {
      st.mutable_meeting_state()->add_my_counted_votes(v);
    }
    transmit(id, st);
  }
}

Meeting& Engine::current_meeting(Cell& cell) {
  if (!cell.meeting || cell.meeting->closed()) {
    cell.meeting = std::make_unique<Meeting>(&cell.roster, cell.next_meeting_id++, &settings_,
                                             cell.sink.get());
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
  meeting.set_present(c.member_id, now / kNsPerMs);
  v1::Envelope st;
  st.set_request_id(request_id);
  *st.mutable_meeting_state() = meeting.snapshot();
  for (uint64_t v : meeting.counted_votes(c.member_id)) st.mutable_meeting_state()->add_my_counted_votes(v);
  transmit(id, st);
}

void Engine::on_media(ConnId id, Conn& c, const v1::Envelope& env) {
  Cell& cell = *c.cell;
  auto sit = cell.sessions.find(c.member_id);
  if (sit == cell.sessions.end() || !cell.receives_pushes(c.member_id, sit->second)) {
    refuse(id, RuleResult::Refuse(v1::ERROR_NOT_JOINED, "join the meeting first"),
           env.request_id());
    return;
  }
  v1::Envelope relay;
  *relay.mutable_media_frame() = env.media_frame();
  relay.mutable_media_frame()->set_from_member_id(c.member_id);
  wire::SharedFrame frame = wire::make_shared_frame(relay);
  uint32_t recipients = 0;
  for (const auto& [member, s] : cell.sessions) {
    if (member == c.member_id || !cell.receives_pushes(member, s)) continue;
    transmit_shared(s.conn, frame);
    ++recipients;
  }
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
    default: assert(false && "dispatch let through a body it does not handle");
  }
  if (!r.ok()) refuse(id, r, rid);
}

void Engine::transmit(ConnId id, const v1::Envelope& env) {
  if (observer_) observer_->on_frame_out(env.body_case(), 1);
  transmit_shared(id, wire::make_shared_frame(env));
}

void Engine::transmit_shared(ConnId id, wire::SharedFrame frame) {
  Output out;
  out.kind = Output::Kind::kTransmit;
  out.conn = id;
  out.frame = std::move(frame);
  outputs_.push_back(std::move(out));
}

void Engine::refuse(ConnId id, const RuleResult& r, uint64_t request_id) {
  assert(!r.ok() && r.code >= kFirstRuleErrorCode);
  if (observer_) observer_->on_error(r.code);
  v1::Envelope env;
  env.set_request_id(request_id);
  env.mutable_error()->set_code(r.code);
  env.mutable_error()->set_reason(r.reason);
  transmit(id, env);
}

void Engine::protocol_error(TimeNs now, ConnId id, v1::ErrorCode code, std::string reason,
                            uint64_t request_id) {
  assert(code < kFirstRuleErrorCode);
  if (observer_) observer_->on_error(code);
  v1::Envelope env;
  env.set_request_id(request_id);
  env.mutable_error()->set_code(code);
  env.mutable_error()->set_reason(std::move(reason));
  transmit(id, env);
  Output out;
  out.kind = Output::Kind::kClose;
  out.conn = id;
  outputs_.push_back(std::move(out));
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
      sit->second.conn = 0;
      if (cell.meeting && !shutting_down_) cell.meeting->set_absent(c.member_id, now / kNsPerMs);
    }
  }
  conns_.erase(it);
}

void Engine::handle_disconnect(TimeNs now, ConnId id) { drop_conn(now, id); }

void Engine::handle_timeout(TimeNs now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const ConnId id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Conn* c = find_conn(id);
    assert(c != nullptr && "timer outlived its connection");
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
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
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

const Meeting* Engine::meeting(uint64_t cell_id) const {
  auto it = cells_.find(cell_id);
  return it == cells_.end() ? nullptr : it->second->meeting.get();
}

}  // namespace cellsim::engine
