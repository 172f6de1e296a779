#include "agents/agent.h"

#include "proto/assert.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace cellsim::agents {
namespace {

// Heartbeats awaiting their ack; older ones are forgotten (lost with a link).
constexpr size_t kMaxHeartbeatsInFlight = 8;
// Outputs pending between two polls: a host polls after every input, and
// one frame received causes at most a couple (a read holds < 2^14 frames).
constexpr size_t kMaxPendingOutputs = size_t{1} << 16;
// Floor requests come this long after the agenda item starts, uniform.
constexpr TimeNs kFloorAskMinNs = 5 * kNsPerS;
constexpr TimeNs kFloorAskMaxNs = 60 * kNsPerS;
// The chair waits this long for VoteClosed after CloseVote before moving on.
constexpr TimeNs kResultWaitNs = 120 * kNsPerS;
// While an interval it meters goes on, a listener looks at the board at
// least this often (to learn that it ended even when no frame arrives).
constexpr TimeNs kSpeechPollNs = 1 * kNsPerS;
// After the last frame's playout deadline, a listener waits this long for
// frames still on their way before it finishes the interval (they are late
// then; those not in by then count as lost).
constexpr TimeNs kSpeechSettleNs = 1 * kNsPerS;
// A listener that received no frame of an ended interval waits this long
// past its last frame's capture for a first one.
constexpr TimeNs kSpeechNoFrameWaitNs = 5 * kNsPerS;

bool is_token_error(v1::ErrorCode c) {
  return c == v1::ERROR_TOKEN_INVALID || c == v1::ERROR_TOKEN_EXPIRED ||
         c == v1::ERROR_TOKEN_WRONG_CELL || c == v1::ERROR_UNKNOWN_CELL ||
         c == v1::ERROR_UNSUPPORTED_VERSION;
}

TimeNs min_time(TimeNs a, TimeNs b) { return a < b ? a : b; }


}  // namespace

// ---------------------------------------------------------------------------
// The chair's script: a small state machine on top of the member.
class Agent::Chair {
 public:
  Chair(Agent* a, const ChairPlan& plan) : a_(a), plan_(plan) {}

  // The chair acts only while connected and joined; on_joined() resumes it.
  TimeNs next_timer() const {
    if (!can_send()) return kNever;
    return min_time(timer_ns_, grants_.empty() ? kNever : grants_.front().first);
  }
  // The chair (re)joined: `s` is the engine's state; commands lost with a
  // broken connection are sent again.
  void on_joined(TimeNs now, const v1::MeetingState& s);
  void on_timeout(TimeNs now);
  std::string debug(TimeNs now) const;
  void on_quorum(TimeNs now, bool quorate);
  // Records the quorum status seen in the attendance trace.
  void on_status(TimeNs now, const v1::QuorumStatus& q);
  void on_floor_requested(TimeNs now, uint64_t member_id);
  void on_vote_closed(TimeNs now, const v1::VoteClosed& v);
  void on_meeting_closed(TimeNs now, const v1::Minutes& m);
  void finish(TimeNs now);

 private:
  enum class Step {
    kGathering, kAdvance, kItem, kVote, kVoteOpen, kAwaitResult, kClose, kClosing, kClosed
  };
  void reconcile(TimeNs now, const v1::MeetingState& s);
  uint64_t current_vote_id() const {
    return item_ >= 0 && item_ < static_cast<int>(plan_.agenda.size()) &&
                   vote_ < plan_.agenda[item_].votes.size()
               ? plan_.agenda[item_].votes[vote_].vote_id
               : 0;
  }
  bool can_send() const { return a_->conn_ == ConnState::kReady && a_->joined_; }
  void act(TimeNs now);
  bool take_step(TimeNs now);
  bool open_meeting(TimeNs now);
  void advance(TimeNs now);
  bool open_vote(TimeNs now);
  void send_action(TimeNs now, v1::Envelope env, v1::Envelope::BodyCase push, uint64_t id);
  void account_quorum(TimeNs now);
  TimeNs start() const { return a_->plan_.scheduled_start_ns; }

  Agent* a_;
  ChairPlan plan_;
  Step step_ = Step::kGathering;
  TimeNs timer_ns_ = kNever;
  bool excused_sent_ = false;
  bool quorate_ = false;
  int item_ = -1;
  size_t vote_ = 0;
  TimeNs vote_wait_since_ns_ = kNever;
  std::deque<std::pair<TimeNs, uint64_t>> grants_;  // bounded by the roster size
  MeetingReport report_;
  TimeNs opened_ns_ = 0;
  TimeNs quorate_since_ns_ = kNever;
  bool reported_ = false;
};

void Agent::Chair::send_action(TimeNs now, v1::Envelope env, v1::Envelope::BodyCase push,
                               uint64_t id) {
  a_->board_->action_sent_ns[CellBoard::action_key(push, id)] = now;
  a_->send(now, env);
}

void Agent::Chair::reconcile(TimeNs now, const v1::MeetingState& s) {
  if (step_ == Step::kGathering || step_ == Step::kClosed) return;
  if (s.phase() == v1::MEETING_PHASE_GATHERING) {  // OpenMeeting was lost
    step_ = Step::kGathering;
    item_ = -1;
    vote_ = 0;
    report_.opened = false;
    timer_ns_ = now;
    return;
  }
  for (int32_t at = s.agenda_index(); at < item_; ++at) {  // AdvanceAgenda lost
    v1::Envelope env;
    env.mutable_advance_agenda();
    send_action(now, env, v1::Envelope::kAgendaAdvanced, static_cast<uint64_t>(at + 1));
  }
  const uint64_t vote_id = current_vote_id();
  const bool engine_has_it_open = vote_id != 0 && s.open_vote_id() == vote_id;
  if (step_ == Step::kVoteOpen && !engine_has_it_open && !report_.tally_by_vote.count(vote_id)) {
    step_ = Step::kVote;  // OpenVote lost: open it again
    timer_ns_ = now;
  } else if (step_ == Step::kAwaitResult && engine_has_it_open) {
    v1::Envelope env;  // CloseVote lost
    env.mutable_close_vote()->set_vote_id(vote_id);
    send_action(now, env, v1::Envelope::kVoteClosed, vote_id);
  } else if (step_ == Step::kAwaitResult && !report_.tally_by_vote.count(vote_id)) {
    ++vote_;  // closed while we were away: the minutes will have its result
    step_ = Step::kVote;
    timer_ns_ = now;
  } else if (step_ == Step::kClosing && s.phase() == v1::MEETING_PHASE_OPEN) {
    step_ = Step::kClose;  // CloseMeeting lost
    timer_ns_ = now;
  }
}

void Agent::Chair::on_joined(TimeNs now, const v1::MeetingState& s) {
  reconcile(now, s);
  if (!excused_sent_) {
    excused_sent_ = true;
    for (uint64_t m : plan_.excuse) {
      v1::Envelope env;
      env.mutable_excuse_absence()->set_member_id(m);
      env.mutable_excuse_absence()->set_reason("excused by the chair before the meeting");
      a_->send(now, env);
    }
  }
  act(now);
}

void Agent::Chair::on_quorum(TimeNs now, bool quorate) {
  if (quorate && !report_.ever_quorate) {
    report_.ever_quorate = true;
    report_.quorate_by_deadline = now <= start() + plan_.quorum_deadline_ns;
    a_->obs_->on_measure(a_->plan_, Measure::kTimeToQuorum, std::max<TimeNs>(0, now - start()));
  }
  if (quorate_ && !quorate) ++report_.quorum_losses;
  if (report_.opened && !report_.closed) {
    if (quorate && !quorate_) quorate_since_ns_ = now;
    if (!quorate && quorate_ && quorate_since_ns_ != kNever) {
      report_.quorate_ns += now - quorate_since_ns_;
      quorate_since_ns_ = kNever;
    }
  }
  quorate_ = quorate;
  if (quorate && (step_ == Step::kGathering || step_ == Step::kVote)) act(now);
}

void Agent::Chair::on_status(TimeNs now, const v1::QuorumStatus& q) {
  auto& trace = report_.attendance;
  const AttendancePoint p{now - start(), q.present_in_d(), q.required(), q.denominator()};
  if (!trace.empty() && trace.back().present == p.present && trace.back().required == p.required &&
      trace.back().denominator == p.denominator) {
    return;
  }
  if (trace.size() >= kMaxAttendancePoints) {
    report_.attendance_truncated = true;
    return;
  }
  trace.push_back(p);
}

void Agent::Chair::on_floor_requested(TimeNs now, uint64_t member_id) {
  if (grants_.size() >= 1024) return;
  grants_.emplace_back(now + plan_.grant_delay_ns, member_id);
}

void Agent::Chair::on_vote_closed(TimeNs now, const v1::VoteClosed& v) {
  if (report_.tally_by_vote.count(v.vote_id())) return;
  const uint64_t total = v.tally().yes() + v.tally().no() + v.tally().abstain();
  report_.tally_by_vote[v.vote_id()] = total;
  report_.ballots_counted += total;
  ++report_.votes_held;
  report_.votes_valid += v.valid();
  report_.votes_passed += v.valid() && v.passed();
  if (step_ == Step::kAwaitResult && v.vote_id() == current_vote_id()) {
    ++vote_;
    step_ = Step::kVote;
    vote_wait_since_ns_ = kNever;
    act(now);
  }
}

void Agent::Chair::account_quorum(TimeNs now) {
  if (quorate_since_ns_ != kNever) {
    report_.quorate_ns += now - quorate_since_ns_;
    quorate_since_ns_ = kNever;
  }
  report_.meeting_ns = now - (report_.opened ? opened_ns_ : start());
}

void Agent::Chair::on_meeting_closed(TimeNs now, const v1::Minutes& m) {
  step_ = Step::kClosed;
  timer_ns_ = kNever;
  report_.closed = true;
  report_.closed_since_start_ns = std::max<TimeNs>(1, now - start());
  account_quorum(now);
  // The minutes are the record: votes the chair missed while away are in them.
  report_.tally_by_vote.clear();
  report_.ballots_counted = report_.votes_held = report_.votes_valid = report_.votes_passed = 0;
  for (const auto& v : m.votes()) {
    const uint64_t total = v.tally().yes() + v.tally().no() + v.tally().abstain();
    report_.tally_by_vote[v.vote_id()] = total;
    report_.ballots_counted += total;
    ++report_.votes_held;
    report_.votes_valid += v.valid();
    report_.votes_passed += v.valid() && v.passed();
  }
  report_.engine_view_known = true;
  report_.engine_quorate_by_deadline =
      m.first_quorate_at_ms() > 0 &&
      m.first_quorate_at_ms() * kNsPerMs <= start() + plan_.quorum_deadline_ns;
  report_.minutes_complete = m.opened_at_ms() > 0 && m.closed_at_ms() >= m.opened_at_ms() &&
                             !m.chair_name().empty() && m.attendees_size() > 0 &&
                             !m.proceedings().empty();
  finish(now);
}

void Agent::Chair::finish(TimeNs now) {
  if (reported_) return;
  reported_ = true;
  if (!report_.closed) account_quorum(now);
  if (!report_.ever_quorate && now >= start()) {
    a_->obs_->on_censored(a_->plan_, Measure::kTimeToQuorum, 1);  // never quorate
  }
  report_.cell_id = a_->plan_.cell_id;
  a_->obs_->on_meeting_report(report_);
}

std::string Agent::Chair::debug(TimeNs now) const {
  return "step " + std::to_string(static_cast<int>(step_)) + " item " + std::to_string(item_) +
         " vote " + std::to_string(vote_) + " timer-now " + std::to_string(timer_ns_ - now) +
         " grants " + std::to_string(grants_.size()) + " quorate " + std::to_string(quorate_);
}

void Agent::Chair::on_timeout(TimeNs now) {
  while (!grants_.empty() && grants_.front().first <= now && can_send()) {
    v1::Envelope env;
    env.mutable_grant_floor()->set_member_id(grants_.front().second);
    send_action(now, env, v1::Envelope::kFloorGranted, grants_.front().second);
    grants_.pop_front();
  }
  act(now);
}

// Advances the script as far as `now` allows; each step that waits sets
// timer_ns_ to when it should be looked at again.
void Agent::Chair::act(TimeNs now) {
  constexpr int kMaxStepsPerCall = 64;  // bound: each step sends at most one frame
  for (int i = 0; i < kMaxStepsPerCall && can_send(); ++i) {
    if (!take_step(now)) return;
  }
}

// One step of the script. False when it waits (timer_ns_ says until when)
// or is done.
bool Agent::Chair::take_step(TimeNs now) {
  switch (step_) {
    case Step::kGathering: return open_meeting(now);
    case Step::kAdvance: advance(now); return true;
    case Step::kItem:
      if (now < timer_ns_) return false;
      step_ = Step::kVote;
      vote_wait_since_ns_ = kNever;
      return true;
    case Step::kVote: return open_vote(now);
    case Step::kVoteOpen: {
      if (now < timer_ns_) return false;
      v1::Envelope env;
      env.mutable_close_vote()->set_vote_id(current_vote_id());
      send_action(now, env, v1::Envelope::kVoteClosed, current_vote_id());
      timer_ns_ = now + kResultWaitNs;
      step_ = Step::kAwaitResult;
      return true;
    }
    case Step::kAwaitResult:
      if (now < timer_ns_) return false;
      ++vote_;  // the result never came: move on (the minutes will have it)
      step_ = Step::kVote;
      return true;
    case Step::kClose: {
      v1::Envelope env;
      env.mutable_close_meeting();
      send_action(now, env, v1::Envelope::kMeetingClosed, 0);
      step_ = Step::kClosing;
      return true;
    }
    case Step::kClosing:
    case Step::kClosed: timer_ns_ = kNever; return false;
  }
  return false;
}

// Opens the meeting once it is time and quorate (or the deadline passed).
bool Agent::Chair::open_meeting(TimeNs now) {
  const TimeNs deadline = start() + plan_.open_deadline_ns;
  if (now < start() || (!quorate_ && now < deadline)) {
    timer_ns_ = now < start() ? start() : deadline;
    return false;
  }
  v1::Envelope env;
  auto* om = env.mutable_open_meeting();
  om->set_reason("monthly meeting");
  om->set_minute_taker_id(plan_.minute_taker_id);
  for (const auto& it : plan_.agenda) om->add_agenda(it.title);
  send_action(now, env, v1::Envelope::kMeetingState, 0);
  report_.opened = true;
  opened_ns_ = now;
  if (quorate_) quorate_since_ns_ = now;
  step_ = Step::kAdvance;
  return true;
}

// The next agenda item, or the close after the last.
void Agent::Chair::advance(TimeNs now) {
  ++item_;
  vote_ = 0;
  if (item_ >= static_cast<int>(plan_.agenda.size())) {
    step_ = Step::kClose;
    return;
  }
  v1::Envelope env;
  env.mutable_advance_agenda();
  send_action(now, env, v1::Envelope::kAgendaAdvanced, static_cast<uint64_t>(item_));
  timer_ns_ = now + plan_.agenda[item_].duration_ns;
  step_ = Step::kItem;
}

// The item's next vote, after waiting a while for quorum to return; the
// next item when its votes are done.
bool Agent::Chair::open_vote(TimeNs now) {
  const auto& votes = plan_.agenda[item_].votes;
  if (vote_ >= votes.size()) {
    step_ = Step::kAdvance;
    return true;
  }
  if (!quorate_) {
    if (vote_wait_since_ns_ == kNever) vote_wait_since_ns_ = now;
    if (now < vote_wait_since_ns_ + plan_.wait_for_quorum_ns) {
      timer_ns_ = vote_wait_since_ns_ + plan_.wait_for_quorum_ns;
      return false;
    }
  }
  vote_wait_since_ns_ = kNever;
  const VotePlan& v = votes[vote_];
  v1::Envelope env;
  auto* ov = env.mutable_open_vote();
  ov->set_vote_id(v.vote_id);
  ov->set_kind(v.kind);
  ov->set_secret(v.secret);
  ov->set_subject(v.subject);
  send_action(now, env, v1::Envelope::kVoteOpened, v.vote_id);
  timer_ns_ = now + v.open_ns;
  step_ = Step::kVoteOpen;
  return true;
}

// ---------------------------------------------------------------------------

uint64_t CellBoard::begin_speech(uint64_t speaker, uint64_t first_media_seq, TimeNs now) {
  if (speech.size() >= kMaxBoardSpeechIntervals) speech.pop_front();
  SpeechInterval iv;
  iv.number = ++speech_intervals;
  iv.speaker_id = speaker;
  iv.first_media_seq = first_media_seq;
  iv.start_ns = iv.last_capture_ns = now;
  speech.push_back(iv);
  return iv.number;
}

SpeechInterval* CellBoard::find_speech(uint64_t number) {
  if (speech.empty() || number < speech.front().number || number > speech.back().number) {
    return nullptr;
  }
  SpeechInterval& iv = speech[number - speech.front().number];  // numbers are consecutive
  return iv.number == number ? &iv : nullptr;
}

// ---------------------------------------------------------------------------

Agent::Agent(MemberPlan plan, Rng rng, CellBoard* board, AgentObserver* observer)
    : plan_(std::move(plan)), rng_(rng), board_(board), obs_(observer) {
  if (plan_.chair) chair_ = std::make_unique<Chair>(this, *plan_.chair);
}

Agent::~Agent() = default;

void Agent::start(TimeNs now) {
  (void)now;
  CELLSIM_ASSERT(!started_);  // REQUIRES: once
  started_ = true;
  join_timer_ns_ = plan_.join_at_ns;
  crash_timer_ns_ = plan_.crash_at_ns;
}

std::optional<TimeNs> Agent::poll_timeout() const {
  TimeNs t = min_time(min_time(join_timer_ns_, heartbeat_timer_ns_),
                      min_time(reconnect_timer_ns_, crash_timer_ns_));
  t = min_time(t, min_time(floor_timer_ns_, handshake_timer_ns_));
  t = min_time(t, min_time(speak_until_ns_, media_timer_ns_));
  t = min_time(t, speech_timer_ns_);
  if (!ballot_.sent && ballot_.vote_id != 0 && conn_ == ConnState::kReady && joined_) {
    t = min_time(t, ballot_.intended_ns);  // otherwise cast on rejoining
  }
  if (chair_) t = min_time(t, chair_->next_timer());
  if (t == kNever) return std::nullopt;
  return t;
}

bool Agent::poll_output(AgentOutput* out) {
  CELLSIM_ASSERT(out_.size() <= kMaxPendingOutputs);
  if (out_.empty()) return false;
  *out = std::move(out_.front());
  out_.pop_front();
  return true;
}

void Agent::send(TimeNs now, const v1::Envelope& env) {
  (void)now;
  if (conn_ == ConnState::kDown || conn_ == ConnState::kConnecting) return;
  AgentOutput o;
  o.kind = AgentOutput::Kind::kTransmit;
  o.frame = wire::make_shared_frame(env);
  obs_->on_traffic(plan_, true, o.frame->size());
  out_.push_back(std::move(o));
}

void Agent::connect(TimeNs now) {
  if (done_ || conn_ != ConnState::kDown) return;
  conn_ = ConnState::kConnecting;
  ++attempts_;
  handshake_timer_ns_ = now + plan_.reconnect.handshake_timeout_ns;
  AgentOutput o;
  o.kind = AgentOutput::Kind::kConnect;
  out_.push_back(std::move(o));
}

bool Agent::poll_datagram(std::string* bytes) {
  CELLSIM_ASSERT(dgram_out_.size() - dgram_head_ <= kMaxPendingDatagrams);
  if (dgram_head_ == dgram_out_.size()) return false;
  *bytes = std::move(dgram_out_[dgram_head_++]);
  if (dgram_head_ == dgram_out_.size()) {
    dgram_out_.clear();
    dgram_head_ = 0;
  }
  return true;
}

void Agent::handle_timeout(TimeNs now) {
  CELLSIM_ASSERT(started_);
  sync_speech(now);
  if (join_timer_ns_ <= now) {
    join_timer_ns_ = kNever;
    connect(now);
  }
  if (reconnect_timer_ns_ <= now) {
    reconnect_timer_ns_ = kNever;
    connect(now);
  }
  if (heartbeat_timer_ns_ <= now) {
    heartbeat_timer_ns_ = now + TimeNs{heartbeat_interval_ms_} * kNsPerMs;
    v1::Envelope env;
    env.mutable_heartbeat()->set_seq(++heartbeat_seq_);
    if (heartbeat_sent_ns_.size() >= kMaxHeartbeatsInFlight) {
      heartbeat_sent_ns_.erase(heartbeat_sent_ns_.begin());
      obs_->on_censored(plan_, Measure::kHeartbeatRtt, 1);
    }
    heartbeat_sent_ns_[heartbeat_seq_] = now;
    send(now, env);
    // Rebind with each heartbeat: the server keeps the endpoint that sent
    // the newest datagram (a NAT may have moved it), and a listener that
    // never speaks stays bound.
    if (datagram_on_ && conn_ == ConnState::kReady) queue_bind();
  }
  if (crash_timer_ns_ <= now) {
    crash_timer_ns_ = kNever;
    if (conn_ != ConnState::kDown) {
      out_.push_back(AgentOutput{AgentOutput::Kind::kClose, nullptr});
      lose_connection(now);
    }
  }
  if (handshake_timer_ns_ <= now) {  // never welcomed: give up and retry
    handshake_timer_ns_ = kNever;
    if (conn_ == ConnState::kConnecting || conn_ == ConnState::kHandshaking) {
      out_.push_back(AgentOutput{AgentOutput::Kind::kClose, nullptr});
      lose_connection(now);
    }
  }
  if (floor_timer_ns_ <= now) {
    floor_timer_ns_ = kNever;
    if (joined_) {
      v1::Envelope env;
      env.mutable_request_floor()->set_topic("a point on the item");
      send(now, env);
    }
  }
  if (media_timer_ns_ <= now && now < speak_until_ns_) send_media(now);
  if (speak_until_ns_ <= now) stop_speaking(now);
  if (ballot_.vote_id != 0 && !ballot_.sent && ballot_.intended_ns <= now) cast_ballot(now);
  if (chair_) chair_->on_timeout(now);
}

// --- Media -------------------------------------------------------------------

void Agent::start_speaking(TimeNs now) {
  if (plan_.media.frame_ms == 0 || !joined_ || speak_until_ns_ != kNever) return;
  speak_since_ns_ = now;
  speak_until_ns_ = now + static_cast<TimeNs>(rng_.uniform(
                              static_cast<double>(plan_.media.speak_min_ns),
                              static_cast<double>(plan_.media.speak_max_ns)));
  if (plan_.media.send_frames) {
    media_timer_ns_ = now;
    // The interval's record for the listeners: its frames from the next seq.
    speech_number_ = board_->begin_speech(plan_.member_id, media_seq_ + 1, now);
  }
  obs_->on_event(plan_, AgentObserver::Event::kSpeaking, 1);
}

void Agent::stop_speaking(TimeNs now) {
  if (speak_until_ns_ == kNever) return;
  const TimeNs until = std::min(now, speak_until_ns_);
  speak_until_ns_ = kNever;
  media_timer_ns_ = kNever;
  obs_->on_event(plan_, AgentObserver::Event::kSpeaking, 0);
  if (plan_.media.send_frames) {  // the frames were counted as they went
    if (SpeechInterval* iv = board_->find_speech(speech_number_)) iv->end_ns = until;
    speech_number_ = 0;
    return;
  }
  const TimeNs frame_ns = TimeNs{plan_.media.frame_ms} * kNsPerMs;
  const uint64_t frames = static_cast<uint64_t>(std::max<TimeNs>(0, until - speak_since_ns_) / frame_ns);
  const uint64_t payload = frames * plan_.media.payload_bytes;
  if (payload == 0) return;
  obs_->on_media(plan_, true, payload, 0);
  obs_->on_media(plan_, false, payload * present_others(), 0);
}

// One frame, captured now: a voice datagram on the datagram transport, else
// a MediaFrame on the session.
void Agent::send_media(TimeNs now) {
  media_timer_ns_ = now + TimeNs{plan_.media.frame_ms} * kNsPerMs;
  if (conn_ != ConnState::kReady || !joined_) return;
  ++media_seq_;
  if (datagram_on_) {
    wire::DatagramHeader h;
    h.kind = wire::DatagramKind::kVoice;
    h.media_seq = media_seq_;
    h.capture_ns = now;
    queue_datagram(h, std::string(plan_.media.payload_bytes, '\0'));
  } else {
    v1::Envelope env;
    auto* f = env.mutable_media_frame();
    f->set_seq(media_seq_);
    f->set_capture_ns(now);
    f->mutable_payload()->assign(plan_.media.payload_bytes, '\0');
    send(now, env);
  }
  obs_->on_media(plan_, true, plan_.media.payload_bytes, 1);
  if (SpeechInterval* iv = board_->find_speech(speech_number_)) {
    ++iv->frames_sent;
    iv->last_capture_ns = now;
  }
}

// --- The datagram transport (live) ------------------------------------------

// After a Welcome: the session's key and the server's media port kept; with
// the datagram transport, voice goes as datagrams when the server offers
// them (a bind first), else in-band (counted as a fallback).
void Agent::setup_datagrams(TimeNs now, const v1::Welcome& w) {
  (void)now;
  if (w.session_id() != session_id_ || w.media_key() != media_key_) {
    rx_replay_ = wire::ReplayWindow();  // a new key: the server's seqs start again
  }
  session_id_ = w.session_id();
  media_key_ = w.media_key();
  media_port_ = w.media_port();
  const bool asked = plan_.media.send_frames && plan_.media.frame_ms != 0 &&
                     plan_.media.transport == MediaTransport::kDatagram;
  const bool offered = media_port_ != 0 && !media_key_.empty();
  const bool fits = plan_.media.payload_bytes <= wire::kMaxDatagramPayloadBytes;
  datagram_on_ = asked && offered && fits;
  datagram_fallback_ = asked && !datagram_on_;
  if (datagram_fallback_) ++dgram_counts_.fallbacks;
  if (datagram_on_) queue_bind();
}

void Agent::queue_datagram(const wire::DatagramHeader& header, std::string_view payload) {
  CELLSIM_ASSERT(datagram_on_ && payload.size() <= wire::kMaxDatagramPayloadBytes);
  wire::DatagramHeader h = header;
  h.session_id = session_id_;
  h.seq = ++datagram_seq_;
  h.from_member_id = 0;
  if (dgram_out_.size() - dgram_head_ >= kMaxPendingDatagrams) {  // drop the oldest
    ++dgram_head_;
    ++dgram_counts_.dropped_queue;
  }
  if (dgram_head_ >= kMaxPendingDatagrams) {  // compact: the vector stays bounded
    dgram_out_.erase(dgram_out_.begin(),
                     dgram_out_.begin() + static_cast<std::ptrdiff_t>(dgram_head_));
    dgram_head_ = 0;
  }
  dgram_out_.push_back(
      wire::seal_datagram(media_key_, wire::DatagramDirection::kToServer, h, payload));
  ++dgram_counts_.sent;
}

void Agent::queue_bind() {
  wire::DatagramHeader h;
  h.kind = wire::DatagramKind::kBind;
  queue_datagram(h, {});
  ++dgram_counts_.binds_sent;
}

void Agent::handle_datagram(TimeNs now, std::string_view bytes) {
  CELLSIM_ASSERT(started_);
  ++dgram_counts_.received;
  sync_speech(now);
  wire::DatagramHeader h;
  if (media_key_.empty() || !wire::peek_datagram(bytes, &h)) {
    ++dgram_counts_.dropped_bad;
    return;
  }
  if (h.session_id != session_id_) {  // an earlier session's, still on its way
    ++dgram_counts_.dropped_stale;
    return;
  }
  std::string_view payload;
  if (wire::open_datagram(media_key_, wire::DatagramDirection::kToMember, bytes, &h, &payload) !=
          wire::OpenStatus::kOk ||
      h.kind != wire::DatagramKind::kVoice) {
    ++dgram_counts_.dropped_bad;
    return;
  }
  if (!rx_replay_.accept(h.seq)) {  // only authenticated datagrams move the window
    ++dgram_counts_.dropped_replayed;
    return;
  }
  ++dgram_counts_.accepted;
  obs_->on_media(plan_, false, payload.size(), 1);
  hear(now, h.from_member_id, h.media_seq, h.capture_ns);
}

// --- Voice metering (live) ----------------------------------------------------

// Opens a Hearing for every new board interval this member was present for
// when it began (joined on this connection since before its start), and
// finishes those whose last frame's playout deadline (plus kSpeechSettleNs)
// has passed; sets speech_timer_ns_ to when to look again.
void Agent::sync_speech(TimeNs now) {
  if (!metering()) return;
  for (const SpeechInterval& iv : board_->speech) {
    if (iv.number <= speech_seen_) continue;
    speech_seen_ = iv.number;
    if (iv.speaker_id == plan_.member_id || done_ || !joined_ || joined_since_ns_ > iv.start_ns) {
      continue;
    }
    if (hearings_.size() >= kMaxOpenHearings) {
      report_hearing(now, hearings_.front(), /*early=*/true);
      hearings_.erase(hearings_.begin());
    }
    hearings_.emplace_back(iv, plan_.media.voice);
  }
  speech_timer_ns_ = kNever;
  for (size_t i = 0; i < hearings_.size();) {
    Hearing& h = hearings_[i];
    if (const SpeechInterval* iv = board_->find_speech(h.number)) h.interval = *iv;
    TimeNs due = now + kSpeechPollNs;
    if (h.interval.ended()) {
      const TimeNs last_capture = std::max(h.interval.last_capture_ns, h.interval.start_ns);
      const TimeNs deadline =
          h.have_offset ? last_capture + h.playout_offset_ns : last_capture + kSpeechNoFrameWaitNs;
      due = std::max(deadline, h.interval.end_ns) + kSpeechSettleNs;
    } else if (!board_->find_speech(h.number)) {
      due = now;  // forgotten by the board while speaking: finish with what was seen
    }
    if (due <= now) {
      report_hearing(now, h, /*early=*/!h.interval.ended());
      hearings_.erase(hearings_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    speech_timer_ns_ = min_time(speech_timer_ns_, due);
    ++i;
  }
}

// Frame `media_seq` of `speaker_id`, captured at `capture_ns`, arrived now:
// into the meter of the interval it belongs to (the open one with the
// highest first seq not above it), if this member meters that interval.
void Agent::hear(TimeNs now, uint64_t speaker_id, uint64_t media_seq, TimeNs capture_ns) {
  if (!metering()) return;
  Hearing* best = nullptr;
  for (Hearing& h : hearings_) {
    if (h.speaker_id != speaker_id || media_seq < h.first_media_seq) continue;
    if (best == nullptr || h.first_media_seq > best->first_media_seq) best = &h;
  }
  if (best == nullptr) return;
  const uint64_t index = media_seq - best->first_media_seq;
  if (index >= kMaxSpeechFrames) return;
  if (best->interval.ended() && index >= best->interval.frames_sent) return;
  if (!best->have_offset) {
    best->have_offset = true;
    best->playout_offset_ns =
        (now - capture_ns) + static_cast<TimeNs>(plan_.media.voice.jitter_buffer_ms * 1e6);
  }
  best->meter.on_frame(index, capture_ns, now);
  best->fed_end = std::max(best->fed_end, index + 1);
}

// Reports a Hearing. Early (the interval goes on, or its last frames' playout
// deadlines are still ahead): only the frames whose deadline has passed
// count, estimated from the frame period back from the latest capture
// (never fewer than those received).
void Agent::report_hearing(TimeNs now, Hearing& h, bool early) {
  uint64_t frames = h.interval.frames_sent;
  if (early && frames > 0) {
    const TimeNs frame_ns = TimeNs{plan_.media.frame_ms} * kNsPerMs;
    const TimeNs offset = h.have_offset ? h.playout_offset_ns : 0;
    const TimeNs captured_by = now - offset;  // frames captured after this are not due yet
    const TimeNs last = std::max(h.interval.last_capture_ns, h.interval.start_ns);
    uint64_t not_due = 0;
    if (last >= captured_by) not_due = static_cast<uint64_t>((last - captured_by) / frame_ns) + 1;
    frames = std::max(h.fed_end, frames > not_due ? frames - not_due : 0);
  }
  frames = std::min<uint64_t>(frames, kMaxSpeechFrames);
  if (frames == 0) return;
  ++speech_reported_;
  obs_->on_speech(plan_, h.speaker_id, h.meter.finish(frames));
}

// The listener leaves (its meeting closed, or the run ends): every interval
// it meters is reported as far as it went.
void Agent::finish_hearings(TimeNs now) {
  if (!metering()) return;
  sync_speech(now);
  for (Hearing& h : hearings_) report_hearing(now, h, /*early=*/true);
  hearings_.clear();
  speech_timer_ns_ = kNever;
}

uint32_t Agent::present_others() const {
  uint32_t n = 0;
  for (const auto& [id, s] : seen_) n += s.present && id != plan_.member_id;
  return n;
}

void Agent::handle_connected(TimeNs now) {
  CELLSIM_ASSERT(started_);
  if (conn_ != ConnState::kConnecting) return;
  conn_ = ConnState::kHandshaking;
  decoder_ = wire::FrameDecoder();
  obs_->on_event(plan_, AgentObserver::Event::kConnected, attempts_);
  v1::Envelope env;
  env.set_request_id(1);
  auto* h = env.mutable_hello();
  h->set_version_major(wire::kProtocolVersionMajor);
  h->set_version_minor(wire::kProtocolVersionMinor);
  h->set_cell_id(plan_.cell_id);
  h->set_member_id(plan_.member_id);
  h->set_token(plan_.token);
  if (!resume_.empty()) h->set_resume(resume_);
  send(now, env);
}

void Agent::handle_disconnected(TimeNs now) {
  CELLSIM_ASSERT(started_);
  sync_speech(now);  // intervals begun while it was joined are its to meter
  if (conn_ == ConnState::kDown) return;
  lose_connection(now);
}

void Agent::lose_connection(TimeNs now) {
  stop_speaking(now);
  const bool was_up = conn_ != ConnState::kConnecting;
  censor_pushes();
  conn_ = ConnState::kDown;
  handshake_timer_ns_ = kNever;
  joined_ = false;
  heartbeat_timer_ns_ = kNever;
  censor_heartbeats();
  if (was_up) obs_->on_event(plan_, AgentObserver::Event::kDisconnected, 0);
  schedule_reconnect(now);
}

// Heartbeats in flight will never be acknowledged (the connection is gone).
void Agent::censor_heartbeats() {
  if (!heartbeat_sent_ns_.empty()) {
    obs_->on_censored(plan_, Measure::kHeartbeatRtt, heartbeat_sent_ns_.size());
  }
  heartbeat_sent_ns_.clear();
}

// The chair's actions sent while this member was joined whose push it never
// received: the session ends early, so they never will be.
void Agent::censor_pushes() {
  if (!joined_ || joined_since_ns_ == kNever) return;
  uint64_t broadcasts = 0, results = 0;
  for (const auto& [key, sent_ns] : board_->action_sent_ns) {
    if (sent_ns < joined_since_ns_ || pushes_received_.count(key)) continue;
    const bool result = (key >> 48) == static_cast<uint64_t>(v1::Envelope::kVoteClosed);
    ++(result ? results : broadcasts);
  }
  if (broadcasts > 0) obs_->on_censored(plan_, Measure::kBroadcast, broadcasts);
  if (results > 0) obs_->on_censored(plan_, Measure::kResult, results);
}

// The ballot this member meant to cast will never be acknowledged.
void Agent::censor_ballot() {
  if (ballot_.vote_id != 0 && !ballot_.acked) obs_->on_censored(plan_, Measure::kBallot, 1);
}

void Agent::schedule_reconnect(TimeNs now) {
  if (done_) return;
  const ReconnectPlan& r = plan_.reconnect;
  const double exp = std::pow(r.multiplier, std::min<uint32_t>(attempts_ > 0 ? attempts_ - 1 : 0, 30));
  double backoff = std::min<double>(static_cast<double>(r.max_backoff_ns),
                                    static_cast<double>(r.initial_backoff_ns) * exp);
  backoff *= rng_.uniform(1.0 - r.jitter / 2, 1.0 + r.jitter / 2);
  reconnect_timer_ns_ = now + static_cast<TimeNs>(backoff);
  obs_->on_event(plan_, AgentObserver::Event::kReconnecting, attempts_);
}

void Agent::handle_bytes(TimeNs now, std::string_view bytes) {
  CELLSIM_ASSERT(started_);
  if (conn_ == ConnState::kDown) return;
  sync_speech(now);
  obs_->on_traffic(plan_, false, bytes.size());
  decoder_.feed(bytes);
  for (;;) {
    std::string_view payload;
    const auto st = decoder_.next(&payload);
    if (st == wire::FrameDecoder::Status::kNeedMore) return;
    v1::Envelope env;
    if (st == wire::FrameDecoder::Status::kTooLarge ||
        !env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      obs_->on_violation(plan_, "the server sent a frame that does not decode");
      out_.push_back(AgentOutput{AgentOutput::Kind::kClose, nullptr});
      lose_connection(now);
      return;
    }
    on_frame(now, env);
    if (conn_ == ConnState::kDown) return;
  }
}

void Agent::measure_push(TimeNs now, v1::Envelope::BodyCase push, uint64_t id) {
  pushes_received_.insert(CellBoard::action_key(push, id));
  auto it = board_->action_sent_ns.find(CellBoard::action_key(push, id));
  if (it == board_->action_sent_ns.end()) return;
  const Measure m = push == v1::Envelope::kVoteClosed ? Measure::kResult : Measure::kBroadcast;
  obs_->on_measure(plan_, m, now - it->second);
}

void Agent::on_frame(TimeNs now, const v1::Envelope& env) {
  switch (env.body_case()) {
    case v1::Envelope::kWelcome: on_welcome(now, env.welcome()); break;
    case v1::Envelope::kHeartbeatAck: on_heartbeat_ack(now, env.heartbeat_ack()); break;
    case v1::Envelope::kMeetingState:
      on_meeting_state(now, env.meeting_state(), env.request_id() != 0);
      break;
    case v1::Envelope::kAttendanceChanged: on_attendance(env.attendance_changed()); break;
    case v1::Envelope::kQuorumChanged: on_quorum(now, env.quorum_changed().quorum()); break;
    case v1::Envelope::kAgendaAdvanced: on_agenda_advanced(now, env.agenda_advanced()); break;
    case v1::Envelope::kVoteOpened:
      stop_speaking(now);
      on_vote_opened(now, env.vote_opened());
      break;
    case v1::Envelope::kBallotAck: on_ballot_ack(now, env.ballot_ack()); break;
    case v1::Envelope::kVoteClosed: on_vote_closed(now, env.vote_closed()); break;
    case v1::Envelope::kFloorGranted: on_floor_granted(now, env.floor_granted()); break;
    case v1::Envelope::kMediaFrame: {
      const v1::MediaFrame& f = env.media_frame();
      obs_->on_media(plan_, false, f.payload().size(), 1);
      hear(now, f.from_member_id(), f.seq(), f.capture_ns());
      break;
    }
    case v1::Envelope::kFloorRequested:
      if (chair_) chair_->on_floor_requested(now, env.floor_requested().member_id());
      break;
    case v1::Envelope::kMeetingClosed: on_meeting_closed(now, env.meeting_closed()); break;
    case v1::Envelope::kError: on_error(env.error()); break;
    default: break;  // nothing to do
  }
}

void Agent::on_heartbeat_ack(TimeNs now, const v1::HeartbeatAck& ack) {
  auto it = heartbeat_sent_ns_.find(ack.seq());
  if (it == heartbeat_sent_ns_.end()) return;
  obs_->on_measure(plan_, Measure::kHeartbeatRtt, now - it->second);
  heartbeat_sent_ns_.erase(it);
}

void Agent::on_agenda_advanced(TimeNs now, const v1::AgendaAdvanced& a) {
  const int32_t index = a.index();
  measure_push(now, v1::Envelope::kAgendaAdvanced, static_cast<uint64_t>(index));
  stop_speaking(now);
  if (plan_.floor_on_items.count(index)) {
    floor_timer_ns_ = now + static_cast<TimeNs>(rng_.uniform(kFloorAskMinNs, kFloorAskMaxNs));
  }
}

void Agent::on_ballot_ack(TimeNs now, const v1::BallotAck& ack) {
  if (ballot_.vote_id != ack.vote_id() || ballot_.acked) return;
  ballot_.acked = true;
  obs_->on_measure(plan_, Measure::kBallot, now - ballot_.intended_ns);
  ++board_->acked_by_vote[ack.vote_id()];
  obs_->on_event(plan_, AgentObserver::Event::kBallotAcked, static_cast<int64_t>(ack.vote_id()));
}

void Agent::on_floor_granted(TimeNs now, const v1::FloorGranted& g) {
  measure_push(now, v1::Envelope::kFloorGranted, g.member_id());
  if (g.member_id() == plan_.member_id) {
    start_speaking(now);
  } else {
    stop_speaking(now);
  }
}

void Agent::on_meeting_closed(TimeNs now, const v1::MeetingClosed& c) {
  measure_push(now, v1::Envelope::kMeetingClosed, 0);
  stop_speaking(now);
  done_ = true;
  finish_hearings(now);
  obs_->on_minutes(plan_, c.minutes());
  if (chair_) chair_->on_meeting_closed(now, c.minutes());
  out_.push_back(AgentOutput{AgentOutput::Kind::kClose, nullptr});
  conn_ = ConnState::kDown;
  joined_ = false;
  heartbeat_timer_ns_ = kNever;
  heartbeat_sent_ns_.clear();  // the session ended as planned: nothing censored
}

void Agent::on_error(const v1::Error& e) {
  const auto code = e.code();
  obs_->on_event(plan_, AgentObserver::Event::kRefused, code);
  if (is_token_error(code)) done_ = true;  // retrying cannot help
  if (code == v1::ERROR_VOTE_CLOSED || code == v1::ERROR_UNKNOWN_VOTE) {
    censor_ballot();
    ballot_ = Ballot{};
  }
}

void Agent::on_welcome(TimeNs now, const v1::Welcome& w) {
  conn_ = ConnState::kReady;
  handshake_timer_ns_ = kNever;
  attempts_ = 0;
  resume_ = w.resume_token();
  if (plan_.media.send_frames) setup_datagrams(now, w);
  heartbeat_interval_ms_ = std::max<uint32_t>(w.heartbeat_interval_ms(), 1);
  heartbeat_timer_ns_ = now + TimeNs{heartbeat_interval_ms_} * kNsPerMs;
  if (w.resumed() && ever_joined_) return;  // the server pushes MeetingState
  v1::Envelope env;
  env.set_request_id(2);
  env.mutable_join_meeting();
  send(now, env);
}

void Agent::on_meeting_state(TimeNs now, const v1::MeetingState& s, bool direct) {
  const bool first_on_connection = !joined_;
  joined_ = true;
  if (first_on_connection) {
    joined_since_ns_ = now;
    pushes_received_.clear();
    // Bind again now that the session receives the meeting's voice: the
    // Welcome's bind may have been lost (datagrams are never resent), and
    // the next heartbeat's is an interval away.
    if (datagram_on_) queue_bind();
  }
  if (!ever_joined_) {
    ever_joined_ = true;
    obs_->on_measure(plan_, Measure::kJoin, now - plan_.join_at_ns);
    obs_->on_event(plan_, AgentObserver::Event::kJoined, 0);
  }
  if (!direct && !first_on_connection && s.phase() == v1::MEETING_PHASE_OPEN) {
    measure_push(now, v1::Envelope::kMeetingState, 0);  // the opening broadcast
  }
  seen_.clear();
  seen_.reserve(s.attendees_size());
  for (const auto& a : s.attendees()) {
    seen_.emplace_back(a.member_id(), Seen{a.standing(), a.present(), a.excused(), a.attended()});
  }
  std::sort(seen_.begin(), seen_.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  check_quorum_view(s.quorum());
  if (direct || first_on_connection) {
    for (uint64_t v : s.my_counted_votes()) {
      if (ballot_.vote_id == v && ballot_.sent && !ballot_.acked) {
        ballot_.acked = true;  // counted while the ack was lost with the link
        ++board_->acked_by_vote[v];
      }
    }
  }
  open_vote_id_ = s.open_vote_id();
  if (open_vote_id_ != 0 && ballot_.vote_id != open_vote_id_) {
    v1::VoteOpened v;
    v.set_vote_id(open_vote_id_);
    v.set_kind(s.open_vote_kind());
    on_vote_opened(now, v, /*measure=*/false);  // joined while it was open
  } else if (open_vote_id_ != 0 && ballot_.vote_id == open_vote_id_ && !ballot_.acked &&
             (ballot_.sent || ballot_.intended_ns <= now)) {
    cast_ballot(now);  // (re)send: idempotent at the server
  }
  if (chair_) {
    chair_->on_status(now, s.quorum());
    chair_->on_quorum(now, s.quorum().quorate());
    if (first_on_connection) chair_->on_joined(now, s);
  }
}

void Agent::on_attendance(const v1::AttendanceChanged& a) {
  if (!joined_) return;  // the MeetingState snapshot that follows covers it
  Seen* s = find_seen(a.member_id());
  if (s == nullptr) return;  // not a member who may attend
  s->present = a.present();
  s->excused = a.excused();
  s->attended |= a.present();
}

Agent::Seen* Agent::find_seen(uint64_t member_id) {
  auto it = std::lower_bound(seen_.begin(), seen_.end(), member_id,
                             [](const auto& e, uint64_t id) { return e.first < id; });
  return it != seen_.end() && it->first == member_id ? &it->second : nullptr;
}

void Agent::on_quorum(TimeNs now, const v1::QuorumStatus& q) {
  if (!joined_) return;  // pushes that precede our own MeetingState
  check_quorum_view(q);
  if (chair_) {
    chair_->on_status(now, q);
    chair_->on_quorum(now, q.quorate());
  }
}

void Agent::check_quorum_view(const v1::QuorumStatus& q) {
  ViewQuorum v;
  for (const auto& [id, s] : seen_) {
    const bool in_d = s.standing == v1::STANDING_OFFICIAL     ? !(s.excused && !s.attended)
                      : s.standing == v1::STANDING_EXEMPTED ? s.present
                                                              : false;
    if (!in_d) continue;
    ++v.d;
    v.present_in_d += s.present;
  }
  const uint64_t n = uint64_t{plan_.quorum_num} * v.d;
  v.required = static_cast<uint32_t>((n + plan_.quorum_den - 1) / plan_.quorum_den);
  v.quorate = v.d > 0 && v.present_in_d >= v.required;
  if (v.d != q.denominator() || v.present_in_d != q.present_in_d() || v.quorate != q.quorate() ||
      v.required != q.required()) {
    obs_->on_violation(plan_, "quorum from the member's own view (D=" + std::to_string(v.d) +
                                  ", present " + std::to_string(v.present_in_d) +
                                  ") differs from the engine's (D=" +
                                  std::to_string(q.denominator()) + ", present " +
                                  std::to_string(q.present_in_d()) + ")");
  }
}

void Agent::on_vote_opened(TimeNs now, const v1::VoteOpened& v, bool measure) {
  if (measure) measure_push(now, v1::Envelope::kVoteOpened, v.vote_id());
  open_vote_id_ = v.vote_id();
  const bool may_vote =
      plan_.standing == v1::STANDING_OFFICIAL || plan_.standing == v1::STANDING_EXEMPTED;
  if (!may_vote || ballot_.vote_id == v.vote_id()) return;
  const VotePlan* vp = nullptr;
  if (plan_.votes) {
    const auto it = plan_.votes->find(v.vote_id());
    if (it != plan_.votes->end()) vp = &it->second;
  }
  const double p_yes = vp ? vp->yes_probability : 0.8;
  const double p_no = vp ? vp->no_probability : 0.1;
  const double u = rng_.uniform();
  censor_ballot();  // an earlier vote's ballot, never acknowledged
  ballot_ = Ballot{};
  ballot_.vote_id = v.vote_id();
  ballot_.choice = u < p_yes ? v1::CHOICE_YES : u < p_yes + p_no ? v1::CHOICE_NO : v1::CHOICE_ABSTAIN;
  ballot_.intended_ns =
      now + static_cast<TimeNs>(rng_.uniform(static_cast<double>(plan_.think_min_ns),
                                             static_cast<double>(plan_.think_max_ns)));
}

void Agent::cast_ballot(TimeNs now) {
  if (conn_ != ConnState::kReady || !joined_) return;  // resent after the reconnect
  v1::Envelope env;
  env.set_request_id(3);
  auto* b = env.mutable_cast_ballot();
  b->set_vote_id(ballot_.vote_id);
  b->set_choice(ballot_.choice);
  b->set_ballot_id(ballot_.vote_id * 1'000'003 + plan_.member_id);
  if (!ballot_.sent) ++board_->cast_by_vote[ballot_.vote_id];  // resends are the same ballot
  ballot_.sent = true;
  send(now, env);
}

void Agent::on_vote_closed(TimeNs now, const v1::VoteClosed& v) {
  measure_push(now, v1::Envelope::kVoteClosed, v.vote_id());
  if (ballot_.vote_id == v.vote_id()) {
    if (ballot_.sent && !ballot_.acked &&
        std::find(v.voters().begin(), v.voters().end(), plan_.member_id) != v.voters().end()) {
      ++board_->acked_by_vote[v.vote_id()];  // the voters list acknowledges it
    }
    censor_ballot();  // its latency was never measured
    ballot_ = Ballot{};
  }
  if (open_vote_id_ == v.vote_id()) open_vote_id_ = 0;
  if (chair_) chair_->on_vote_closed(now, v);
}

std::string Agent::debug_state(TimeNs now) const {
  std::string s = "conn " + std::to_string(static_cast<int>(conn_)) + " joined " +
                  std::to_string(joined_) + " timers: join " + std::to_string(join_timer_ns_ - now) +
                  " hb " + std::to_string(heartbeat_timer_ns_ - now) + " rc " +
                  std::to_string(reconnect_timer_ns_ - now) + " floor " +
                  std::to_string(floor_timer_ns_ - now) + " ballot " +
                  std::to_string(ballot_.intended_ns - now) + " sent " + std::to_string(ballot_.sent);
  if (chair_) s += " chair: " + chair_->debug(now);
  return s;
}

void Agent::finish(TimeNs now) {
  stop_speaking(now);
  finish_hearings(now);
  // What is still pending at the run's end never completed.
  if (conn_ != ConnState::kDown) {
    censor_heartbeats();
    censor_pushes();
  }
  censor_ballot();
  ballot_ = Ballot{};
  if (!ever_joined_ && !done_ && plan_.join_at_ns != kNever && plan_.join_at_ns <= now) {
    obs_->on_censored(plan_, Measure::kJoin, 1);
  }
  if (chair_) chair_->finish(now);
}

}  // namespace cellsim::agents
