#include "server/engine/meeting.h"

#include <algorithm>

#include "proto/assert.h"
#include "server/engine/rules.h"
#include "server/engine/text.h"

namespace cellsim::engine {
namespace {

bool is_known_choice(int c) { return c >= v1::CHOICE_YES && c <= v1::CHOICE_ABSTAIN; }

void add_to_tally(v1::Choice c, v1::Tally* t) {
  switch (c) {
    case v1::CHOICE_YES: t->set_yes(t->yes() + 1); break;
    case v1::CHOICE_NO: t->set_no(t->no() + 1); break;
    case v1::CHOICE_ABSTAIN: t->set_abstain(t->abstain() + 1); break;
    default: CELLSIM_ASSERT(false && "unknown choice reached the tally");
  }
}

// Texts are cut at a character boundary, so every frame stays parsable.
std::string truncated(const std::string& s, uint32_t max_bytes) {
  return truncate_utf8(s, max_bytes);
}

// splitmix64's finaliser: a well-mixed 64-bit function of its input.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Meeting::Meeting(const v1::CellRoster* roster, uint64_t meeting_id,
                 const EngineSettings* settings, MeetingSink* sink)
    : roster_(roster), settings_(settings), sink_(sink), id_(meeting_id) {
  members_.reserve(roster_->members_size());
  for (const auto& m : roster_->members()) {
    index_.emplace(m.member_id(), members_.size());
    members_.push_back(MemberState{&m});
    if (standing_is_official(m.standing())) ++official_members_;
  }
  recount(0, /*announce=*/false);
}

Meeting::MemberState* Meeting::find(uint64_t member_id) {
  auto it = index_.find(member_id);
  return it == index_.end() ? nullptr : &members_[it->second];
}

const Meeting::MemberState* Meeting::find(uint64_t member_id) const {
  auto it = index_.find(member_id);
  return it == index_.end() ? nullptr : &members_[it->second];
}

bool Meeting::knows(uint64_t member_id) const { return find(member_id) != nullptr; }

bool Meeting::is_present(uint64_t member_id) const {
  const MemberState* m = find(member_id);
  return m != nullptr && m->present;
}

RuleResult Meeting::check_may_attend(uint64_t member_id) const {
  const MemberState* m = find(member_id);
  if (m == nullptr) return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "not on the roster");
  if (!standing_may_attend(m->info->standing())) {
    return RuleResult::Refuse(v1::ERROR_NOT_ALLOWED_TO_ATTEND,
                              "suspended or attached-elsewhere members do not attend");
  }
  if (closed()) return RuleResult::Refuse(v1::ERROR_MEETING_NOT_OPEN, "the meeting is closed");
  return RuleResult::Ok();
}

bool Meeting::is_chair(uint64_t member_id) const {
  const MemberState* m = find(member_id);
  return m != nullptr && m->info->role() == v1::ROLE_CHAIR;
}

RuleResult Meeting::require_chair(uint64_t member_id) const {
  if (!is_chair(member_id)) {
    return RuleResult::Refuse(v1::ERROR_NOT_CHAIR, "only the chair may do this");
  }
  return RuleResult::Ok();
}

RuleResult Meeting::require_open() const {
  if (phase_ != v1::MEETING_PHASE_OPEN) {
    return RuleResult::Refuse(v1::ERROR_MEETING_NOT_OPEN, "the meeting is not open");
  }
  return RuleResult::Ok();
}

std::string Meeting::name_of(uint64_t member_id) const {
  const MemberState* m = find(member_id);
  return m == nullptr ? std::string() : m->info->name();
}

void Meeting::note(int64_t now_ms, std::string what, uint64_t member_id) {
  ++revision_;
  if (proceedings_.size() >= settings_->max_proceedings) return;
  v1::ProceedingEntry e;
  e.set_at_ms(now_ms);
  e.set_what(std::move(what));
  if (member_id != 0) {
    e.set_member_id(member_id);
    e.set_member_name(name_of(member_id));
  }
  proceedings_.push_back(std::move(e));
}

bool Meeting::counts_in_d(const MemberState& m) const {
  switch (m.info->standing()) {
    case v1::STANDING_OFFICIAL: return !(m.excused && !m.attended);
    case v1::STANDING_EXEMPTED: return m.present;
    default: return false;
  }
}

// Recomputes D, present_in_d and quorum from the member states (O(members)),
// and announces a quorum change when asked.
void Meeting::recount(int64_t now_ms, bool announce) {
  uint32_t d = 0;
  uint32_t present = 0;
  for (const MemberState& m : members_) {
    if (!counts_in_d(m)) continue;
    ++d;
    if (m.present) ++present;
  }
  const bool quorate = is_quorate(present, d, settings_->rules.quorum);
  const bool changed = d != d_ || present != present_in_d_ || quorate != quorate_;
  const bool lost = quorate_ && !quorate;
  d_ = d;
  present_in_d_ = present;
  quorate_ = quorate;
  if (quorate && first_quorate_at_ms_ == 0) first_quorate_at_ms_ = std::max<int64_t>(now_ms, 1);
  if (lost) {
    ++quorum_losses_;
    if (vote_open_) vote_.quorate_throughout = false;
  }
  if (!announce || !changed) return;
  if (lost) note(now_ms, "quorum lost");
  v1::Envelope env;
  *env.mutable_quorum_changed()->mutable_quorum() = quorum();
  sink_->broadcast(env);
}

void Meeting::journal(int64_t now_ms, uint64_t member_id, v1::JournalRecord* rec) {
  rec->set_meeting_id(id_);
  rec->set_at_ms(now_ms);
  rec->set_member_id(member_id);
  sink_->journal(*rec);
}

void Meeting::set_present(uint64_t member_id, int64_t now_ms) {
  MemberState* m = find(member_id);
  CELLSIM_ASSERT(m != nullptr && standing_may_attend(m->info->standing()));
  if (m->present || closed()) return;
  ++revision_;
  v1::JournalRecord rec;
  rec.set_present(true);
  journal(now_ms, member_id, &rec);
  m->present = true;
  m->attended = true;
  v1::Envelope env;
  auto* a = env.mutable_attendance_changed();
  a->set_member_id(member_id);
  a->set_present(true);
  a->set_excused(m->excused);
  sink_->broadcast(env);
  recount(now_ms, /*announce=*/true);
}

void Meeting::set_absent(uint64_t member_id, int64_t now_ms) {
  MemberState* m = find(member_id);
  if (m == nullptr || !m->present || closed()) return;
  ++revision_;
  v1::JournalRecord rec;
  rec.set_present(false);
  journal(now_ms, member_id, &rec);
  m->present = false;
  if (floor_holder_ == member_id) floor_holder_ = 0;
  v1::Envelope env;
  auto* a = env.mutable_attendance_changed();
  a->set_member_id(member_id);
  a->set_present(false);
  a->set_excused(m->excused);
  sink_->broadcast(env);
  recount(now_ms, /*announce=*/true);
}

RuleResult Meeting::excuse(uint64_t chair_id, const v1::ExcuseAbsence& req, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (closed()) return RuleResult::Refuse(v1::ERROR_MEETING_NOT_OPEN, "the meeting is closed");
  if (phase_ != v1::MEETING_PHASE_GATHERING) {
    // RULES.md: an excuse is for a member absent for the whole meeting, and
    // is settled before the meeting opens; later it would move D mid-vote.
    return RuleResult::Refuse(v1::ERROR_CANNOT_EXCUSE,
                              "absences are excused before the meeting opens");
  }
  MemberState* m = find(req.member_id());
  if (m == nullptr || !standing_may_attend(m->info->standing())) {
    return RuleResult::Refuse(v1::ERROR_CANNOT_EXCUSE, "no such summoned member");
  }
  if (m->attended) {
    return RuleResult::Refuse(v1::ERROR_CANNOT_EXCUSE,
                              "member has attended this meeting; an excuse applies only to "
                              "members absent for the whole meeting");
  }
  if (m->excused) return RuleResult::Ok();
  v1::JournalRecord rec;
  *rec.mutable_excuse() = req;
  journal(now_ms, chair_id, &rec);
  m->excused = true;
  m->excuse_reason = truncated(req.reason(), settings_->max_text_bytes);
  note(now_ms, "absence excused: " + m->excuse_reason, req.member_id());
  v1::Envelope env;
  auto* a = env.mutable_attendance_changed();
  a->set_member_id(req.member_id());
  a->set_present(false);
  a->set_excused(true);
  sink_->broadcast(env);
  recount(now_ms, /*announce=*/true);
  return RuleResult::Ok();
}

RuleResult Meeting::open(uint64_t chair_id, const v1::OpenMeeting& req, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (phase_ != v1::MEETING_PHASE_GATHERING) {
    return RuleResult::Refuse(v1::ERROR_MEETING_ALREADY_OPEN, "the meeting was already opened");
  }
  if (static_cast<uint32_t>(req.agenda_size()) > settings_->max_agenda_items) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "agenda too long");
  }
  if (static_cast<uint32_t>(req.guests_size()) > settings_->max_guests) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "too many guests");
  }
  if (req.minute_taker_id() != 0 && !knows(req.minute_taker_id())) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "minute-taker is not on the roster");
  }
  v1::JournalRecord rec;
  *rec.mutable_open() = req;
  journal(now_ms, chair_id, &rec);
  phase_ = v1::MEETING_PHASE_OPEN;
  opened_at_ms_ = now_ms;
  chair_id_ = chair_id;
  minute_taker_id_ = req.minute_taker_id();
  recorded_ = req.recorded();
  reason_ = truncated(req.reason(), settings_->max_text_bytes);
  guests_.clear();
  for (const auto& g : req.guests()) guests_.push_back(truncated(g, settings_->max_text_bytes));
  agenda_.clear();
  for (const auto& a : req.agenda()) agenda_.push_back(truncated(a, settings_->max_text_bytes));
  note(now_ms, "meeting opened: " + reason_, chair_id);
  note(now_ms, "attendance: " + std::to_string(present_in_d_) + " of D=" + std::to_string(d_) +
                   (quorate_ ? ", quorate" : ", not quorate"));
  v1::Envelope env;
  *env.mutable_meeting_state() = snapshot();
  fit_state(&env);
  sink_->broadcast(env);
  return RuleResult::Ok();
}

RuleResult Meeting::advance_agenda(uint64_t chair_id, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (auto r = require_open(); !r.ok()) return r;
  if (agenda_index_ + 1 >= static_cast<int32_t>(agenda_.size())) {
    return RuleResult::Refuse(v1::ERROR_AGENDA_FINISHED, "no further agenda item");
  }
  v1::JournalRecord rec;
  rec.set_advance_agenda(true);
  journal(now_ms, chair_id, &rec);
  ++agenda_index_;
  floor_holder_ = 0;  // the floor passes with the agenda item
  const std::string& title = agenda_[agenda_index_];
  note(now_ms, "agenda item " + std::to_string(agenda_index_ + 1) + ": " + title);
  v1::Envelope env;
  env.mutable_agenda_advanced()->set_index(agenda_index_);
  env.mutable_agenda_advanced()->set_title(title);
  sink_->broadcast(env);
  return RuleResult::Ok();
}

RuleResult Meeting::open_vote(uint64_t chair_id, const v1::OpenVote& req, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (auto r = require_open(); !r.ok()) return r;
  if (vote_open_) return RuleResult::Refuse(v1::ERROR_VOTE_ALREADY_OPEN, "a vote is open");
  if (req.vote_id() == 0 || !is_known_vote_kind(req.kind())) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "vote needs an id and a known kind");
  }
  for (const auto& rec : vote_records_) {
    if (rec.vote_id() == req.vote_id()) {
      return RuleResult::Refuse(v1::ERROR_VOTE_ALREADY_OPEN, "vote id already used");
    }
  }
  if (vote_records_.size() >= settings_->max_votes_per_meeting) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "too many votes in one meeting");
  }
  const VoteRule& rule = settings_->rules.votes[req.kind()];
  v1::JournalRecord rec;
  *rec.mutable_open_vote() = req;
  journal(now_ms, chair_id, &rec);
  floor_holder_ = 0;  // nobody speaks during a vote
  vote_ = OpenVoteState{};
  vote_.id = req.vote_id();
  vote_.kind = req.kind();
  vote_.method = req.secret() ? v1::VOTE_METHOD_SECRET_BALLOT : rule.method;
  vote_.subject = truncated(req.subject(), settings_->max_text_bytes);
  vote_.opened_at_ms = now_ms;
  vote_.quorate_throughout = quorate_;
  vote_open_ = true;
  note(now_ms, "vote " + std::to_string(vote_.id) + " opened (" + v1::VoteKind_Name(vote_.kind) +
                   ", " + v1::VoteMethod_Name(vote_.method) + "): " + vote_.subject);
  v1::Envelope env;
  auto* o = env.mutable_vote_opened();
  o->set_vote_id(vote_.id);
  o->set_kind(vote_.kind);
  o->set_method(vote_.method);
  o->set_subject(vote_.subject);
  emit_box();  // a secret vote's (empty) box exists from its opening on
  sink_->broadcast(env);
  return RuleResult::Ok();
}

RuleResult Meeting::check_ballot(const MemberState& m, const v1::CastBallot& req) const {
  if (m.info->standing() == v1::STANDING_PROBATIONARY) {
    return RuleResult::Refuse(v1::ERROR_NOT_ELIGIBLE_TO_VOTE,
                              "probationary members may not vote (Party Charter, art. 3)");
  }
  if (!standing_may_vote(m.info->standing()) || !m.present) {
    return RuleResult::Refuse(v1::ERROR_NOT_ELIGIBLE_TO_VOTE, "member may not vote");
  }
  if (!vote_open_ || vote_.id != req.vote_id()) {
    for (const auto& rec : vote_records_) {
      if (rec.vote_id() == req.vote_id()) {
        return RuleResult::Refuse(v1::ERROR_VOTE_CLOSED, "vote is closed");
      }
    }
    return RuleResult::Refuse(v1::ERROR_UNKNOWN_VOTE, "no such vote");
  }
  if (!is_known_choice(req.choice())) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "choice must be yes, no or abstain");
  }
  return RuleResult::Ok();
}

// Never 0, so 0 can mean "unknown".
uint64_t Meeting::fingerprint(uint64_t member_id, const v1::CastBallot& req) const {
  uint64_t h = mix64(choice_salt_ ^ id_);
  h = mix64(h ^ req.vote_id());
  h = mix64(h ^ member_id);
  h = mix64(h ^ req.ballot_id());
  h = mix64(h ^ static_cast<uint64_t>(req.choice()));
  return h == 0 ? 1 : h;
}

RuleResult Meeting::cast_ballot(uint64_t member_id, const v1::CastBallot& req, int64_t now_ms,
                                v1::BallotAck* ack) {
  MemberState* m = find(member_id);
  CELLSIM_ASSERT(m != nullptr);
  if (auto r = check_ballot(*m, req); !r.ok()) return r;
  const bool secret = vote_.method == v1::VOTE_METHOD_SECRET_BALLOT;
  ack->set_vote_id(req.vote_id());
  ack->set_ballot_id(req.ballot_id());
  auto it = vote_.ballots.find(member_id);
  if (it != vote_.ballots.end()) {
    const Ballot& b = it->second;
    if (b.ballot_id != req.ballot_id()) {
      return RuleResult::Refuse(v1::ERROR_BALLOT_CONFLICT, "member has already voted");
    }
    const bool changed = secret ? b.choice_fingerprint != 0 &&
                                      b.choice_fingerprint != fingerprint(member_id, req)
                                : b.choice != req.choice();
    if (changed) {
      return RuleResult::Refuse(v1::ERROR_BALLOT_CHANGED,
                                "this ballot was counted with another choice; a counted ballot "
                                "cannot be changed");
    }
    ack->set_duplicate(true);
    return RuleResult::Ok();
  }
  Ballot& b = vote_.ballots[member_id];
  b.ballot_id = req.ballot_id();
  if (secret) {
    b.choice_fingerprint = fingerprint(member_id, req);
  } else {
    b.choice = req.choice();
    v1::JournalRecord rec;
    auto* jb = rec.mutable_ballot();
    jb->set_vote_id(req.vote_id());
    jb->set_choice(req.choice());
    jb->set_ballot_id(req.ballot_id());
    journal(now_ms, member_id, &rec);
  }
  add_to_tally(req.choice(), &vote_.tally);
  ++ballots_counted_;
  if (secret) emit_box();
  return RuleResult::Ok();
}

bool Meeting::open_secret_box(v1::BallotBox* box) const {
  if (!vote_open_ || vote_.method != v1::VOTE_METHOD_SECRET_BALLOT) return false;
  box->Clear();
  box->set_meeting_id(id_);
  box->set_vote_id(vote_.id);
  std::vector<std::pair<uint64_t, uint64_t>> roll;
  roll.reserve(vote_.ballots.size());
  for (const auto& [member, b] : vote_.ballots) roll.emplace_back(member, b.ballot_id);
  std::sort(roll.begin(), roll.end());  // by member id: not the order of voting
  for (const auto& [member, ballot_id] : roll) {
    auto* e = box->add_roll();
    e->set_member_id(member);
    e->set_ballot_id(ballot_id);
  }
  *box->mutable_tally() = vote_.tally;
  return true;
}

void Meeting::emit_box() const {
  v1::BallotBox box;
  if (open_secret_box(&box)) sink_->ballot_box(box);
}

bool Meeting::restore_secret_ballots(const v1::BallotBox& box) {
  if (!vote_open_ || vote_.id != box.vote_id() || !vote_.ballots.empty() ||
      vote_.method != v1::VOTE_METHOD_SECRET_BALLOT) {
    return false;
  }
  const v1::Tally& t = box.tally();
  if (uint64_t{t.yes()} + t.no() + t.abstain() != static_cast<uint64_t>(box.roll_size())) {
    return false;
  }
  for (const auto& e : box.roll()) {
    const MemberState* m = find(e.member_id());
    if (m == nullptr || !standing_may_vote(m->info->standing()) ||
        vote_.ballots.count(e.member_id())) {
      vote_.ballots.clear();
      return false;
    }
    vote_.ballots[e.member_id()] = Ballot{e.ballot_id(), v1::CHOICE_UNSPECIFIED, 0};
  }
  vote_.tally = t;
  ballots_counted_ += static_cast<uint64_t>(box.roll_size());
  ++revision_;
  return true;
}

void Meeting::finish_vote(int64_t now_ms) {
  CELLSIM_ASSERT(vote_open_);
  ++revision_;
  const VoteRule& rule = settings_->rules.votes[vote_.kind];
  const uint32_t base = rule.base == ThresholdBase::kDenominator ? d_ : official_members_;
  const uint32_t need = yes_required(rule, base);
  v1::VoteRecord rec;
  rec.set_vote_id(vote_.id);
  rec.set_kind(vote_.kind);
  rec.set_method(vote_.method);
  rec.set_subject(vote_.subject);
  *rec.mutable_tally() = vote_.tally;
  rec.set_passed(vote_.tally.yes() >= need);
  rec.set_valid(vote_.quorate_throughout && quorate_);
  rec.set_threshold_base(base);
  rec.set_yes_required(need);
  std::vector<uint64_t> voters;
  voters.reserve(vote_.ballots.size());
  for (const auto& [member, ballot] : vote_.ballots) voters.push_back(member);
  std::sort(voters.begin(), voters.end());
  for (uint64_t v : voters) rec.add_voters(v);
  if (vote_.method == v1::VOTE_METHOD_SHOW_OF_HANDS) {
    for (uint64_t v : voters) {
      auto* pb = rec.add_public_ballots();
      pb->set_member_id(v);
      pb->set_choice(vote_.ballots.at(v).choice);
    }
  }
  rec.set_opened_at_ms(vote_.opened_at_ms);
  rec.set_closed_at_ms(now_ms);
  ballots_in_closed_tallies_ += vote_.tally.yes() + vote_.tally.no() + vote_.tally.abstain();
  vote_open_ = false;
  vote_ = OpenVoteState{};
  note(now_ms, "vote " + std::to_string(rec.vote_id()) + " closed: yes " +
                   std::to_string(rec.tally().yes()) + ", no " + std::to_string(rec.tally().no()) +
                   ", abstain " + std::to_string(rec.tally().abstain()) + "; " +
                   (rec.passed() ? "passed" : "not passed") + (rec.valid() ? "" : " (INVALID)"));
  v1::Envelope env;
  auto* c = env.mutable_vote_closed();
  c->set_vote_id(rec.vote_id());
  *c->mutable_tally() = rec.tally();
  c->set_passed(rec.passed());
  c->set_valid(rec.valid());
  c->set_threshold_base(base);
  c->set_yes_required(need);
  *c->mutable_voters() = rec.voters();
  vote_records_.push_back(std::move(rec));
  sink_->broadcast(env);
}

RuleResult Meeting::close_vote(uint64_t chair_id, uint64_t vote_id, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (auto r = require_open(); !r.ok()) return r;
  if (!vote_open_ || vote_.id != vote_id) {
    for (const auto& rec : vote_records_) {
      if (rec.vote_id() == vote_id) return RuleResult::Refuse(v1::ERROR_VOTE_CLOSED, "closed");
    }
    return RuleResult::Refuse(v1::ERROR_UNKNOWN_VOTE, "no such open vote");
  }
  v1::JournalRecord rec;
  rec.set_close_vote(vote_id);
  journal(now_ms, chair_id, &rec);
  finish_vote(now_ms);
  return RuleResult::Ok();
}

RuleResult Meeting::request_floor(uint64_t member_id, const v1::RequestFloor& req,
                                  int64_t now_ms) {
  if (auto r = require_open(); !r.ok()) return r;
  uint32_t& asked = floor_requests_[member_id];
  if (asked >= settings_->max_floor_requests_per_member) {
    return RuleResult::Refuse(v1::ERROR_RATE_LIMITED,
                              "at most " + std::to_string(settings_->max_floor_requests_per_member) +
                                  " floor requests per member and meeting");
  }
  ++asked;
  v1::JournalRecord rec;
  *rec.mutable_request_floor() = req;
  journal(now_ms, member_id, &rec);
  std::string topic = truncated(req.topic(), settings_->max_text_bytes);
  note(now_ms, "asks for the floor: " + topic, member_id);
  v1::Envelope env;
  env.mutable_floor_requested()->set_member_id(member_id);
  env.mutable_floor_requested()->set_topic(std::move(topic));
  if (chair_id_ != 0) sink_->send_to_member(chair_id_, env);
  return RuleResult::Ok();
}

RuleResult Meeting::grant_floor(uint64_t chair_id, uint64_t member_id, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (auto r = require_open(); !r.ok()) return r;
  if (!is_present(member_id)) {
    return RuleResult::Refuse(v1::ERROR_INVALID_REQUEST, "member is not present");
  }
  v1::JournalRecord rec;
  rec.set_grant_floor(member_id);
  journal(now_ms, chair_id, &rec);
  floor_holder_ = member_id;
  note(now_ms, "speaks", member_id);
  v1::Envelope env;
  env.mutable_floor_granted()->set_member_id(member_id);
  sink_->broadcast(env);
  return RuleResult::Ok();
}

RuleResult Meeting::close(uint64_t chair_id, int64_t now_ms) {
  if (auto r = require_chair(chair_id); !r.ok()) return r;
  if (auto r = require_open(); !r.ok()) return r;
  v1::JournalRecord rec;
  rec.set_close(true);
  journal(now_ms, chair_id, &rec);
  floor_holder_ = 0;
  if (vote_open_) finish_vote(now_ms);
  note(now_ms, "meeting closed", chair_id);
  const v1::Minutes minutes = build_minutes(now_ms);
  v1::Envelope env;
  *env.mutable_meeting_closed()->mutable_minutes() = minutes;
  fit_in_one_frame(env.mutable_meeting_closed()->mutable_minutes(), &env);
  sink_->broadcast(env);
  phase_ = v1::MEETING_PHASE_CLOSED;
  closed_at_ms_ = now_ms;
  sink_->minutes_ready(minutes);
  return RuleResult::Ok();
}

bool Meeting::frame_fits(const v1::Envelope& env) const {
  return env.ByteSizeLong() <= settings_->max_frame_bytes;
}

// The MeetingClosed push must fit in one frame (the kept minutes stay whole):
// cut later proceedings first, then the per-member lists of the votes, then
// later votes, then guests, agenda titles, reasons and names, each time
// marking what was cut.
void Meeting::fit_in_one_frame(v1::Minutes* m, const v1::Envelope* env) const {
  const auto too_big = [&] { return !frame_fits(*env); };
  while (too_big() && m->proceedings_size() > 0) {
    const int keep = m->proceedings_size() / 2;
    m->mutable_proceedings()->DeleteSubrange(keep, m->proceedings_size() - keep);
    m->set_proceedings_truncated(true);
  }
  if (too_big()) {
    for (auto& v : *m->mutable_votes()) {
      v.clear_public_ballots();
      v.clear_voters();
    }
    m->set_votes_truncated(true);
  }
  while (too_big() && m->votes_size() > 0) {
    const int keep = m->votes_size() / 2;
    m->mutable_votes()->DeleteSubrange(keep, m->votes_size() - keep);
  }
  // Then the texts: all cut to a shrinking length, guests and agenda first.
  for (size_t cap = settings_->max_text_bytes / 2; too_big() && cap >= 8; cap /= 2) {
    m->set_lists_truncated(true);
    for (auto& g : *m->mutable_guests()) g = truncate_utf8(g, cap);
    for (auto& a : *m->mutable_agenda()) a = truncate_utf8(a, cap);
    m->set_reason(truncate_utf8(m->reason(), cap));
    for (auto& a : *m->mutable_absences()) {
      a.set_reason(truncate_utf8(a.reason(), cap));
      a.set_name(truncate_utf8(a.name(), cap));
    }
    for (auto& p : *m->mutable_attendees()) p.set_name(truncate_utf8(p.name(), cap));
  }
  if (too_big()) {  // only with a roster far over the bound add_cell enforces
    m->set_lists_truncated(true);
    m->clear_guests();
    m->clear_agenda();
    m->clear_absences();
    m->clear_attendees();
  }
  CELLSIM_ASSERT(!too_big());
}

// A MeetingState must fit in one frame: the agenda titles are shortened
// (each comes whole with its AgendaAdvanced), marked agenda_truncated.
void Meeting::fit_state(v1::Envelope* env) const {
  v1::MeetingState* st = env->mutable_meeting_state();
  for (size_t cap = settings_->max_text_bytes / 2; !frame_fits(*env) && cap >= 8; cap /= 2) {
    st->set_agenda_truncated(true);
    for (auto& a : *st->mutable_agenda()) a = truncate_utf8(a, cap);
  }
  if (!frame_fits(*env)) {
    st->set_agenda_truncated(true);
    st->clear_agenda();
  }
  CELLSIM_ASSERT(frame_fits(*env));
}

void Meeting::fill_open_vote(v1::OpenVoteRecord* r) const {
  r->set_vote_id(vote_.id);
  r->set_kind(vote_.kind);
  r->set_method(vote_.method);
  r->set_subject(vote_.subject);
  r->set_opened_at_ms(vote_.opened_at_ms);
  r->set_ballots_counted(static_cast<uint32_t>(vote_.ballots.size()));
  std::vector<uint64_t> voters;
  for (const auto& [member, b] : vote_.ballots) voters.push_back(member);
  std::sort(voters.begin(), voters.end());
  for (uint64_t v : voters) {
    r->add_voters(v);
    if (vote_.method != v1::VOTE_METHOD_SHOW_OF_HANDS) continue;
    auto* pb = r->add_public_ballots();
    pb->set_member_id(v);
    pb->set_choice(vote_.ballots.at(v).choice);
  }
}

v1::Minutes Meeting::interrupted_minutes(int64_t now_ms) const {
  v1::Minutes m = build_minutes(now_ms);
  m.set_interrupted(true);
  if (vote_open_) fill_open_vote(m.mutable_open_vote());
  return m;
}

v1::Minutes Meeting::build_minutes(int64_t now_ms) const {
  v1::Minutes mn;
  mn.set_cell_id(roster_->cell_id());
  mn.set_cell_name(roster_->name());
  mn.set_meeting_id(id_);
  mn.set_opened_at_ms(opened_at_ms_);
  mn.set_closed_at_ms(now_ms);
  mn.set_chair_id(chair_id_);
  mn.set_chair_name(name_of(chair_id_));
  mn.set_minute_taker_id(minute_taker_id_);
  mn.set_minute_taker_name(name_of(minute_taker_id_));
  mn.set_recorded(recorded_);
  mn.set_reason(reason_);
  for (const auto& g : guests_) mn.add_guests(g);
  for (const MemberState& m : members_) {
    if (!standing_may_attend(m.info->standing())) continue;
    if (m.attended) {
      auto* p = mn.add_attendees();
      p->set_member_id(m.info->member_id());
      p->set_name(m.info->name());
      p->set_standing(m.info->standing());
      continue;
    }
    auto* a = mn.add_absences();
    a->set_member_id(m.info->member_id());
    a->set_name(m.info->name());
    a->set_standing(m.info->standing());
    a->set_excused(m.excused || m.info->standing() == v1::STANDING_EXEMPTED);
    a->set_reason(m.excused ? m.excuse_reason
                            : (m.info->standing() == v1::STANDING_EXEMPTED ? "exempted" : ""));
  }
  for (const auto& a : agenda_) mn.add_agenda(a);
  for (const auto& p : proceedings_) *mn.add_proceedings() = p;
  for (const auto& v : vote_records_) *mn.add_votes() = v;
  mn.set_denominator_at_close(d_);
  mn.set_quorate_at_close(quorate_);
  mn.set_first_quorate_at_ms(first_quorate_at_ms_);
  mn.set_quorum_losses(quorum_losses_);
  return mn;
}

v1::QuorumStatus Meeting::quorum() const {
  v1::QuorumStatus q;
  q.set_quorate(quorate_);
  q.set_present_in_d(present_in_d_);
  q.set_denominator(d_);
  q.set_required(quorum_required(d_, settings_->rules.quorum));
  return q;
}

v1::MeetingState Meeting::snapshot() const {
  v1::MeetingState s;
  s.set_meeting_id(id_);
  s.set_phase(phase_);
  for (const MemberState& m : members_) {
    if (!standing_may_attend(m.info->standing())) continue;
    auto* a = s.add_attendees();
    a->set_member_id(m.info->member_id());
    a->set_standing(m.info->standing());
    a->set_role(m.info->role());
    a->set_present(m.present);
    a->set_excused(m.excused);
    a->set_attended(m.attended);
  }
  *s.mutable_quorum() = quorum();
  s.set_floor_holder_id(floor_holder_);
  s.set_agenda_index(agenda_index_);
  for (const auto& a : agenda_) s.add_agenda(a);
  if (vote_open_) {
    s.set_open_vote_id(vote_.id);
    s.set_open_vote_kind(vote_.kind);
    s.set_open_vote_secret(vote_.method == v1::VOTE_METHOD_SECRET_BALLOT);
  }
  return s;
}

std::vector<uint64_t> Meeting::counted_votes(uint64_t member_id) const {
  std::vector<uint64_t> out;
  for (const auto& rec : vote_records_) {
    if (std::binary_search(rec.voters().begin(), rec.voters().end(), member_id)) {
      out.push_back(rec.vote_id());
    }
  }
  if (vote_open_ && vote_.ballots.count(member_id)) out.push_back(vote_.id);
  return out;
}

uint64_t Meeting::tally_total() const {
  uint64_t open = vote_open_ ? vote_.tally.yes() + vote_.tally.no() + vote_.tally.abstain() : 0;
  return ballots_in_closed_tallies_ + open;
}

bool Meeting::check_invariants(std::string* why) const {
  uint32_t d = 0, present = 0;
  for (const MemberState& m : members_) {
    if (m.present && !standing_may_attend(m.info->standing())) {
      *why = "a member who may not attend is present";
      return false;
    }
    if (counts_in_d(m)) {
      ++d;
      if (m.present) ++present;
    }
  }
  if (d != d_ || present != present_in_d_) {
    *why = "D or present_in_d out of date";
    return false;
  }
  if (quorate_ != is_quorate(present_in_d_, d_, settings_->rules.quorum)) {
    *why = "quorum flag disagrees with the arithmetic";
    return false;
  }
  if (ballots_counted_ != tally_total()) {
    *why = "ballots counted differ from the tallies";
    return false;
  }
  if (floor_holder_ != 0 && !is_present(floor_holder_)) {
    *why = "the floor holder is not present";
    return false;
  }
  if (vote_open_) {
    for (const auto& [member, b] : vote_.ballots) {
      if (vote_.method == v1::VOTE_METHOD_SECRET_BALLOT && b.choice != v1::CHOICE_UNSPECIFIED) {
        *why = "a secret ballot's choice is stored against a member";
        return false;
      }
    }
  }
  return true;
}

}  // namespace cellsim::engine
