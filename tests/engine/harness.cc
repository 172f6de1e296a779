#include "tests/engine/harness.h"

#include <gtest/gtest.h>

#include <utility>

#include "server/engine/token.h"

namespace cellsim::engine::testing {

std::string member_name(uint64_t member_id) {
  return "Đồng chí " + std::to_string(member_id);
}

v1::CellRoster make_roster(uint64_t cell_id, const std::vector<v1::Standing>& standings,
                           size_t chair_index, uint64_t first_id) {
  v1::CellRoster r;
  r.set_cell_id(cell_id);
  r.set_name("Chi bộ " + std::to_string(cell_id));
  for (size_t i = 0; i < standings.size(); ++i) {
    auto* m = r.add_members();
    m->set_member_id(first_id + i);
    m->set_name(member_name(first_id + i));
    m->set_standing(standings[i]);
    m->set_role(i == chair_index ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
  }
  return r;
}

namespace msg {

v1::Envelope hello(uint64_t cell_id, uint64_t member_id, std::string token, std::string resume,
                   uint32_t version_major) {
  v1::Envelope e;
  auto* h = e.mutable_hello();
  h->set_version_major(version_major);
  h->set_version_minor(wire::kProtocolVersionMinor);
  h->set_cell_id(cell_id);
  h->set_member_id(member_id);
  h->set_token(std::move(token));
  h->set_resume(std::move(resume));
  return e;
}

v1::Envelope heartbeat(uint64_t seq) {
  v1::Envelope e;
  e.mutable_heartbeat()->set_seq(seq);
  return e;
}

v1::Envelope join() {
  v1::Envelope e;
  e.mutable_join_meeting();
  return e;
}

v1::Envelope open_meeting(std::string reason, uint64_t minute_taker_id,
                          std::vector<std::string> agenda, bool recorded,
                          std::vector<std::string> guests) {
  v1::Envelope e;
  auto* o = e.mutable_open_meeting();
  o->set_reason(std::move(reason));
  o->set_minute_taker_id(minute_taker_id);
  for (auto& a : agenda) o->add_agenda(std::move(a));
  o->set_recorded(recorded);
  for (auto& g : guests) o->add_guests(std::move(g));
  return e;
}

v1::Envelope excuse(uint64_t member_id, std::string reason) {
  v1::Envelope e;
  e.mutable_excuse_absence()->set_member_id(member_id);
  e.mutable_excuse_absence()->set_reason(std::move(reason));
  return e;
}

v1::Envelope advance_agenda() {
  v1::Envelope e;
  e.mutable_advance_agenda();
  return e;
}

v1::Envelope open_vote(uint64_t vote_id, v1::VoteKind kind, bool secret, std::string subject) {
  v1::Envelope e;
  auto* o = e.mutable_open_vote();
  o->set_vote_id(vote_id);
  o->set_kind(kind);
  o->set_secret(secret);
  o->set_subject(std::move(subject));
  return e;
}

v1::Envelope close_vote(uint64_t vote_id) {
  v1::Envelope e;
  e.mutable_close_vote()->set_vote_id(vote_id);
  return e;
}

v1::Envelope close_meeting() {
  v1::Envelope e;
  e.mutable_close_meeting();
  return e;
}

v1::Envelope ballot(uint64_t vote_id, v1::Choice choice, uint64_t ballot_id) {
  v1::Envelope e;
  auto* b = e.mutable_cast_ballot();
  b->set_vote_id(vote_id);
  b->set_choice(choice);
  b->set_ballot_id(ballot_id);
  return e;
}

v1::Envelope request_floor(std::string topic) {
  v1::Envelope e;
  e.mutable_request_floor()->set_topic(std::move(topic));
  return e;
}

v1::Envelope grant_floor(uint64_t member_id) {
  v1::Envelope e;
  e.mutable_grant_floor()->set_member_id(member_id);
  return e;
}

v1::Envelope media(uint64_t seq, std::string payload) {
  v1::Envelope e;
  e.mutable_media_frame()->set_seq(seq);
  e.mutable_media_frame()->set_payload(std::move(payload));
  return e;
}

}  // namespace msg

Harness::Harness(EngineSettings settings, std::string key, TimeNs start)
    : key_(key), engine_(settings, std::move(key)), now_(start) {
  engine_.set_observer(&observer_);
}

void Harness::add_cell(const v1::CellRoster& roster) {
  std::string why;
  ASSERT_TRUE(engine_.add_cell(roster, &why)) << why;
  rosters_[roster.cell_id()] = roster;
}

const v1::CellRoster& Harness::roster(uint64_t cell_id) const { return rosters_.at(cell_id); }

const v1::RosterMember& Harness::roster_member(uint64_t cell_id, uint64_t member_id) const {
  for (const auto& m : roster(cell_id).members()) {
    if (m.member_id() == member_id) return m;
  }
  ADD_FAILURE() << "member " << member_id << " is not on cell " << cell_id << "'s roster";
  static const v1::RosterMember kNone;
  return kNone;
}

std::string Harness::mint(const v1::TokenClaims& claims) const { return mint_token(key_, claims); }

std::string Harness::token_for(uint64_t cell_id, uint64_t member_id) const {
  v1::TokenClaims c;
  c.set_cell_id(cell_id);
  c.set_member_id(member_id);
  auto it = rosters_.find(cell_id);
  if (it != rosters_.end()) {
    for (const auto& m : it->second.members()) {
      if (m.member_id() == member_id) {
        c.set_standing(m.standing());
        c.set_role(m.role());
      }
    }
  }
  c.set_expires_at_ms(now_ms() + kTokenLifetimeMs);
  return mint(c);
}

ConnId Harness::connect() {
  const ConnId id = next_conn_++;
  conns_[id];
  engine_.handle_connect(now_, id);
  drain();
  return id;
}

void Harness::send_bytes(ConnId conn, std::string_view bytes) {
  engine_.handle_bytes(now_, conn, bytes);
  drain();
}

uint64_t Harness::send(ConnId conn, v1::Envelope env) {
  if (env.request_id() == 0) env.set_request_id(next_request_id_++);
  send_bytes(conn, wire::encode_frame(env));
  return env.request_id();
}

v1::Envelope Harness::request(ConnId conn, v1::Envelope env) {
  const size_t since = mark();
  const std::string body(wire::body_name(env.body_case()));
  const uint64_t rid = send(conn, std::move(env));
  for (size_t i = since; i < log_.size(); ++i) {
    if (log_[i].conn == conn && log_[i].env->request_id() == rid) return *log_[i].env;
  }
  ADD_FAILURE() << "no answer on connection " << conn << " to " << body << " (request " << rid
                << ")";
  return v1::Envelope();
}

void Harness::disconnect(ConnId conn) {
  auto it = conns_.find(conn);
  if (it != conns_.end()) it->second.open = false;
  engine_.handle_disconnect(now_, conn);
  drain();
}

bool Harness::is_open(ConnId conn) const {
  auto it = conns_.find(conn);
  return it != conns_.end() && it->second.open;
}

bool Harness::closed_by_engine(ConnId conn) const {
  auto it = conns_.find(conn);
  return it != conns_.end() && it->second.closed_by_engine;
}

std::optional<v1::Error> Harness::close_error(ConnId conn) const {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return std::nullopt;
  return it->second.close_error;
}

v1::Envelope Harness::hello(ConnId conn, uint64_t cell_id, uint64_t member_id,
                            const std::string& resume) {
  v1::Envelope answer =
      request(conn, msg::hello(cell_id, member_id, token_for(cell_id, member_id), resume));
  if (answer.has_welcome()) {
    welcomes_[{cell_id, member_id}] = answer.welcome();
    member_conns_[{cell_id, member_id}] = conn;
  }
  return answer;
}

ConnId Harness::login(uint64_t cell_id, uint64_t member_id, const std::string& resume) {
  const ConnId conn = connect();
  const v1::Envelope answer = hello(conn, cell_id, member_id, resume);
  EXPECT_TRUE(answer.has_welcome()) << "member " << member_id << ": " << answer.DebugString();
  return conn;
}

ConnId Harness::join(uint64_t cell_id, uint64_t member_id) {
  const ConnId conn = login(cell_id, member_id);
  const v1::Envelope answer = request(conn, msg::join());
  EXPECT_TRUE(answer.has_meeting_state()) << "member " << member_id << ": "
                                          << answer.DebugString();
  return conn;
}

const v1::Welcome* Harness::last_welcome(uint64_t cell_id, uint64_t member_id) const {
  auto it = welcomes_.find({cell_id, member_id});
  return it == welcomes_.end() ? nullptr : &it->second;
}

ConnId Harness::conn_of(uint64_t cell_id, uint64_t member_id) const {
  auto it = member_conns_.find({cell_id, member_id});
  return it == member_conns_.end() ? 0 : it->second;
}

uint64_t Harness::send_as(uint64_t cell_id, uint64_t member_id, v1::Envelope env) {
  const ConnId conn = conn_of(cell_id, member_id);
  EXPECT_NE(conn, 0u) << "member " << member_id << " never logged in";
  return send(conn, std::move(env));
}

void Harness::heartbeat(ConnId conn) { send(conn, msg::heartbeat(next_heartbeat_seq_++)); }

DatagramResult Harness::send_datagram(std::string_view bytes) {
  const DatagramResult r = engine_.handle_datagram(now_, bytes);
  if (r.latch) {
    if (!r.accepted() && r.verdict != DatagramVerdict::kNotJoined &&
        r.verdict != DatagramVerdict::kNotFloorHolder && r.verdict != DatagramVerdict::kTooLarge &&
        r.verdict != DatagramVerdict::kRateLimited) {
      ADD_FAILURE() << "latch on a datagram dropped as " << datagram_verdict_name(r.verdict);
    }
    endpoints_.insert(r.session_id);
  }
  if (engine_.has_output()) {
    ADD_FAILURE() << "handle_datagram produced session outputs";
  }
  drain();
  return r;
}

std::string Harness::media_key(uint64_t cell_id, uint64_t member_id) const {
  const v1::Welcome* w = last_welcome(cell_id, member_id);
  return w == nullptr ? std::string() : w->media_key();
}

std::string Harness::seal_as(uint64_t cell_id, uint64_t member_id, wire::DatagramKind kind,
                             uint64_t media_seq, int64_t capture_ns, std::string_view payload) {
  const v1::Welcome* w = last_welcome(cell_id, member_id);
  EXPECT_NE(w, nullptr) << "member " << member_id << " was never welcomed";
  if (w == nullptr || w->media_key().empty()) return std::string();
  wire::DatagramHeader h;
  h.kind = kind;
  h.session_id = w->session_id();
  h.seq = ++datagram_seq_[w->session_id()];
  h.media_seq = media_seq;
  h.capture_ns = capture_ns;
  return wire::seal_datagram(w->media_key(), wire::DatagramDirection::kToServer, h, payload);
}

DatagramResult Harness::bind(uint64_t cell_id, uint64_t member_id) {
  return send_datagram(seal_as(cell_id, member_id, wire::DatagramKind::kBind));
}

DatagramResult Harness::voice(uint64_t cell_id, uint64_t member_id, uint64_t media_seq,
                              int64_t capture_ns, std::string_view payload) {
  return send_datagram(
      seal_as(cell_id, member_id, wire::DatagramKind::kVoice, media_seq, capture_ns, payload));
}

std::vector<SentDatagram> Harness::datagrams_to(uint64_t session_id, size_t since) const {
  std::vector<SentDatagram> out;
  for (size_t i = since; i < datagrams_.size(); ++i) {
    if (datagrams_[i].session_id == session_id) out.push_back(datagrams_[i]);
  }
  return out;
}

void Harness::advance_to(TimeNs t) {
  ASSERT_GE(t, now_) << "time goes forward only";
  for (;;) {
    const std::optional<TimeNs> due = engine_.poll_timeout();
    if (!due || *due > t) break;
    if (*due > now_) now_ = *due;
    engine_.handle_timeout(now_);
    drain();
    // handle_timeout runs every timer due; one still due means it never will.
    const std::optional<TimeNs> next = engine_.poll_timeout();
    if (next && *next <= now_) {
      ADD_FAILURE() << "a timer due at " << *next << " ns is still pending after handle_timeout("
                    << now_ << ")";
      break;
    }
  }
  now_ = t;
}

std::vector<const Received*> Harness::received(ConnId conn) const {
  std::vector<const Received*> out;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return out;
  out.reserve(it->second.frames.size());
  for (size_t i : it->second.frames) out.push_back(&log_[i]);
  return out;
}

std::vector<v1::Envelope> Harness::envelopes(ConnId conn, size_t since,
                                             v1::Envelope::BodyCase body) const {
  std::vector<v1::Envelope> out;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return out;
  for (size_t i : it->second.frames) {
    if (i < since) continue;
    const v1::Envelope& e = *log_[i].env;
    if (body == v1::Envelope::BODY_NOT_SET || e.body_case() == body) out.push_back(e);
  }
  return out;
}

std::optional<v1::Envelope> Harness::last(ConnId conn, v1::Envelope::BodyCase body,
                                          size_t since) const {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return std::nullopt;
  const auto& frames = it->second.frames;
  for (auto f = frames.rbegin(); f != frames.rend() && *f >= since; ++f) {
    if (log_[*f].env->body_case() == body) return *log_[*f].env;
  }
  return std::nullopt;
}

void Harness::drain() {
  Output out;
  while (engine_.poll_output(&out)) {
    switch (out.kind) {
      case Output::Kind::kMinutes:
        if (out.minutes == nullptr) {
          ADD_FAILURE() << "kMinutes output without minutes";
        } else {
          minutes_.push_back(*out.minutes);
        }
        break;
      case Output::Kind::kJournal: {
        v1::JournalRecord rec;
        if (!rec.ParseFromString(*out.frame)) ADD_FAILURE() << "a journal record does not parse";
        journal_.push_back(std::move(rec));
        break;
      }
      case Output::Kind::kBallotBox:
        boxes_[{out.box->cell_id(), out.box->meeting_id(), out.box->vote_id()}] = *out.box;
        break;
      case Output::Kind::kClose: {
        ConnState& cs = conns_[out.conn];
        if (cs.closed_by_engine) ADD_FAILURE() << "connection " << out.conn << " closed twice";
        if (!cs.last_error || cs.last_error->code() >= 100) {
          ADD_FAILURE() << "connection " << out.conn
                        << " closed without a protocol Error frame before it";
        }
        cs.closed_by_engine = true;
        cs.open = false;
        cs.close_error = cs.last_error;
        break;
      }
      case Output::Kind::kTransmit: {
        ConnState& cs = conns_[out.conn];
        if (cs.closed_by_engine) {
          ADD_FAILURE() << "frame transmitted on connection " << out.conn
                        << " after the engine closed it";
        }
        if (out.frame == nullptr) {
          ADD_FAILURE() << "kTransmit without a frame";
          break;
        }
        const std::string& bytes = *out.frame;
        std::shared_ptr<const v1::Envelope> env;
        if (out.frame.get() == last_frame_) {
          env = last_env_;
        } else {
          auto decoded = std::make_shared<v1::Envelope>();
          if (bytes.size() < wire::kFrameHeaderBytes) {
            ADD_FAILURE() << "frame shorter than its header";
          } else {
            const auto* h = reinterpret_cast<const unsigned char*>(bytes.data());
            const uint32_t len = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) |
                                 (uint32_t{h[2]} << 8) | uint32_t{h[3]};
            if (len != bytes.size() - wire::kFrameHeaderBytes) {
              ADD_FAILURE() << "frame header says " << len << " bytes, payload has "
                            << bytes.size() - wire::kFrameHeaderBytes;
            }
            if (len > settings().max_frame_bytes) ++oversized_frames_;
            if (!decoded->ParseFromArray(bytes.data() + wire::kFrameHeaderBytes,
                                         static_cast<int>(bytes.size() - wire::kFrameHeaderBytes))) {
              ADD_FAILURE() << "transmitted frame does not parse as an Envelope";
            }
          }
          env = std::move(decoded);
          last_frame_ = out.frame.get();
          last_env_ = env;
        }
        if (env->has_error()) {
          cs.last_error = env->error();
          ++error_frames_;
        }
        cs.frames.push_back(log_.size());
        log_.push_back(Received{out.conn, now_, out.frame, std::move(env)});
        break;
      }
    }
  }
  DatagramOutput d;
  while (engine_.poll_datagram(&d)) {
    switch (d.kind) {
      case DatagramOutput::Kind::kUnbind:
        if (endpoints_.erase(d.session_id) == 0) {
          ADD_FAILURE() << "kUnbind of session " << d.session_id << ", which holds no endpoint";
        }
        break;
      case DatagramOutput::Kind::kSend:
        if (endpoints_.count(d.session_id) == 0) {
          ADD_FAILURE() << "a datagram relayed to session " << d.session_id
                        << ", which holds no endpoint";
        }
        if (d.bytes == nullptr || d.bytes->size() > wire::kMaxDatagramBytes) {
          ADD_FAILURE() << "a relayed datagram without bytes or over the maximum";
          break;
        }
        datagrams_.push_back(SentDatagram{d.session_id, now_, d.bytes});
        break;
    }
  }
  if (endpoints_.size() != engine_.bound_sessions()) {
    ADD_FAILURE() << "the host holds " << endpoints_.size() << " endpoints, the engine has "
                  << engine_.bound_sessions() << " sessions bound";
  }
  if (std::string why; !engine_.check_datagram_invariants(&why)) {
    ADD_FAILURE() << "datagram invariant: " << why;
  }
  if (observer_.frames_out != log_.size()) {
    ADD_FAILURE() << "observer counted " << observer_.frames_out << " frames out, the engine sent "
                  << log_.size();
  }
  if (observer_.errors != error_frames_) {
    ADD_FAILURE() << "observer counted " << observer_.errors << " errors, the engine sent "
                  << error_frames_ << " Error frames";
  }
}

}  // namespace cellsim::engine::testing
