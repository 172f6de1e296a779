#include "tools/demo/demo_meeting.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "proto/frame.h"
#include "server/engine/rules.h"
#include "server/engine/token.h"
#include "tools/demo/blocking_client.h"

namespace cellsim::demo {
namespace {

constexpr uint64_t kChair = 1;
constexpr uint64_t kMinuteTaker = 2;
constexpr uint64_t kExcused = 9;
constexpr uint64_t kProbationary = 10;
constexpr uint64_t kExempted = 12;
constexpr int64_t kTokenTtlMs = 3600 * 1000;

struct Person {
  uint64_t id;
  const char* name;
  v1::Standing standing;
  v1::Role role;
};

constexpr Person kPeople[] = {
    {1, "Nguyễn Văn An", v1::STANDING_OFFICIAL, v1::ROLE_CHAIR},
    {2, "Trần Thị Bình", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {3, "Lê Văn Cường", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {4, "Phạm Thị Dung", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {5, "Hoàng Văn Em", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {6, "Vũ Thị Giang", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {7, "Đặng Văn Hải", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {8, "Bùi Thị Hoa", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {9, "Đỗ Văn Khánh", v1::STANDING_OFFICIAL, v1::ROLE_MEMBER},
    {10, "Ngô Thị Lan", v1::STANDING_PROBATIONARY, v1::ROLE_MEMBER},
    {11, "Dương Văn Minh", v1::STANDING_PROBATIONARY, v1::ROLE_MEMBER},
    {12, "Lý Văn Nam", v1::STANDING_EXEMPTED, v1::ROLE_MEMBER},
};

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string quorum_text(const v1::QuorumStatus& q) {
  return std::to_string(q.present_in_d()) + " of D=" + std::to_string(q.denominator()) +
         " present (" + std::to_string(q.required()) + " needed): " +
         (q.quorate() ? "quorate" : "not quorate");
}

// Runs the script; each step returns false after recording what failed.
class Demo {
 public:
  explicit Demo(const DemoOptions& o) : o_(o), roster_(demo_roster(o.cell_id)) {}
  DemoResult run();

 private:
  std::ostream& log() { return o_.log ? *o_.log : null_; }
  bool fail(const std::string& what) {
    r_.error = what;
    return false;
  }
  BlockingClient& c(uint64_t member) { return *clients_.at(member); }
  bool connect_all();
  bool join(uint64_t member);
  bool chair_sends(const v1::Envelope& env, v1::Envelope::BodyCase push, const std::string& what);
  bool expect_all_present(v1::Envelope::BodyCase push, v1::Envelope* chair_copy);
  bool vote(uint64_t vote_id, v1::VoteKind kind, bool secret, const std::string& subject,
            const std::map<uint64_t, v1::Choice>& ballots,
            const std::function<bool()>& during = {});
  bool cast(uint64_t member, uint64_t vote_id, v1::Choice choice, v1::Envelope* answer);
  bool script();
  bool attendance();
  bool open_meeting();
  bool discussion();
  bool resolution_and_admission();
  bool election();
  bool close_meeting();

  DemoOptions o_;
  v1::CellRoster roster_;
  std::map<uint64_t, std::unique_ptr<BlockingClient>> clients_;
  std::set<uint64_t> present_;
  DemoResult r_;
  std::ostream null_{nullptr};
  uint64_t next_request_id_ = 1;
};

bool Demo::connect_all() {
  for (const Person& p : kPeople) {
    auto client = std::make_unique<BlockingClient>();
    if (o_.tls) client->use_tls(o_.tls, o_.tls_server_name);
    std::string why;
    if (!client->connect(o_.host, o_.port, &why)) return fail(why);
    v1::TokenClaims claims;
    claims.set_cell_id(o_.cell_id);
    claims.set_member_id(p.id);
    claims.set_standing(p.standing);
    claims.set_role(p.role);
    claims.set_expires_at_ms(unix_ms() + kTokenTtlMs);
    v1::Envelope hello;
    hello.set_request_id(next_request_id_++);
    auto* h = hello.mutable_hello();
    h->set_version_major(wire::kProtocolVersionMajor);
    h->set_cell_id(o_.cell_id);
    h->set_member_id(p.id);
    h->set_token(engine::mint_token(o_.key, claims));
    v1::Envelope answer;
    if (!client->send(hello) || !client->expect(v1::Envelope::kWelcome, &answer, o_.step_timeout_ms)) {
      return fail("member " + std::to_string(p.id) + " got no Welcome: " +
                  answer.error().reason());
    }
    log() << "  connected  #" << p.id << " " << p.name << " ("
          << v1::Standing_Name(p.standing) << "), session " << answer.welcome().session_id()
          << "\n";
    clients_[p.id] = std::move(client);
  }
  return true;
}

bool Demo::join(uint64_t member) {
  v1::Envelope env;
  env.set_request_id(next_request_id_++);
  env.mutable_join_meeting();
  v1::Envelope state;
  if (!c(member).send(env) || !c(member).expect(v1::Envelope::kMeetingState, &state, o_.step_timeout_ms)) {
    return fail("member " + std::to_string(member) + " could not join: " + state.error().reason());
  }
  present_.insert(member);
  const auto& q = state.meeting_state().quorum();
  log() << "  joined     #" << member << "  -> " << quorum_text(q) << "\n";
  if (q.quorate() && !r_.quorum_reached) {
    r_.quorum_reached = true;
    log() << "  ** quorum reached **\n";
  }
  return true;
}

// Every present member waits for `push`; the chair's copy is returned.
bool Demo::expect_all_present(v1::Envelope::BodyCase push, v1::Envelope* chair_copy) {
  for (uint64_t m : present_) {
    v1::Envelope got;
    if (!c(m).expect(push, &got, o_.step_timeout_ms)) {
      return fail("member " + std::to_string(m) + " did not receive " +
                  std::string(wire::body_name(push)) + " " + got.error().reason());
    }
    if (m == kChair && chair_copy) *chair_copy = got;
  }
  return true;
}

bool Demo::chair_sends(const v1::Envelope& env, v1::Envelope::BodyCase push,
                       const std::string& what) {
  log() << "  chair      " << what << "\n";
  if (!c(kChair).send(env)) return fail("chair connection lost");
  return expect_all_present(push, nullptr);
}

bool Demo::cast(uint64_t member, uint64_t vote_id, v1::Choice choice, v1::Envelope* answer) {
  v1::Envelope env;
  env.set_request_id(next_request_id_++);
  auto* b = env.mutable_cast_ballot();
  b->set_vote_id(vote_id);
  b->set_choice(choice);
  b->set_ballot_id(vote_id * 1000 + member);
  if (!c(member).send(env)) return fail("member connection lost");
  c(member).expect(v1::Envelope::kBallotAck, answer, o_.step_timeout_ms);
  return answer->body_case() == v1::Envelope::kBallotAck;
}

bool Demo::vote(uint64_t vote_id, v1::VoteKind kind, bool secret, const std::string& subject,
                const std::map<uint64_t, v1::Choice>& ballots,
                const std::function<bool()>& during) {
  v1::Envelope open;
  auto* ov = open.mutable_open_vote();
  ov->set_vote_id(vote_id);
  ov->set_kind(kind);
  ov->set_secret(secret);
  ov->set_subject(subject);
  if (!chair_sends(open, v1::Envelope::kVoteOpened,
                   "opens vote " + std::to_string(vote_id) + " (" + v1::VoteKind_Name(kind) +
                       (secret ? ", secret ballot" : "") + "): " + subject)) {
    return false;
  }
  for (const auto& [member, choice] : ballots) {
    v1::Envelope ack;
    if (!cast(member, vote_id, choice, &ack)) {
      return fail("ballot of member " + std::to_string(member) + " refused: " +
                  ack.error().reason());
    }
  }
  log() << "  ballots    " << ballots.size() << " cast and acknowledged\n";
  if (during && !during()) return false;
  v1::Envelope close;
  close.mutable_close_vote()->set_vote_id(vote_id);
  log() << "  chair      closes vote " << vote_id << "\n";
  if (!c(kChair).send(close)) return fail("chair connection lost");
  v1::Envelope closed;
  if (!expect_all_present(v1::Envelope::kVoteClosed, &closed)) return false;
  const auto& vc = closed.vote_closed();
  r_.votes.push_back(vc);
  log() << "  result     yes " << vc.tally().yes() << ", no " << vc.tally().no() << ", abstain "
        << vc.tally().abstain() << "; " << vc.yes_required() << " yes needed of "
        << vc.threshold_base() << " -> " << (vc.passed() ? "PASSED" : "NOT PASSED")
        << (vc.valid() ? "" : " (invalid: no quorum)") << "\n";
  return true;
}

// The demo meeting, step by step; each step false (r_.error set) when the
// server did not answer as the rules say.
bool Demo::script() {
  return attendance() && open_meeting() && discussion() && resolution_and_admission() &&
         election() && close_meeting();
}

bool Demo::attendance() {
  log() << "Connecting the 12 members of cell " << o_.cell_id << " (" << roster_.name()
        << ")\n";
  if (!connect_all()) return false;
  log() << "Attendance\n";
  if (!join(kChair)) return false;
  v1::Envelope excuse;
  excuse.mutable_excuse_absence()->set_member_id(kExcused);
  excuse.mutable_excuse_absence()->set_reason("on rotation shift at the platform's far site");
  if (!chair_sends(excuse, v1::Envelope::kAttendanceChanged,
                   "excuses #9 (absent with reason: on rotation shift)")) {
    return false;
  }
  for (uint64_t m : {2, 3, 4, 5, 6, 7, 8, 10, 11, 12}) {
    if (!join(m)) return false;
  }
  return true;
}

bool Demo::open_meeting() {
  v1::Envelope open;
  auto* om = open.mutable_open_meeting();
  om->set_reason("Sinh hoạt chi bộ thường kỳ tháng 11");
  om->add_guests("Đại diện Đảng ủy cấp trên");
  om->set_minute_taker_id(kMinuteTaker);
  om->set_recorded(true);
  for (const char* item : {"Báo cáo công tác tháng", "Thảo luận", "Nghị quyết tháng",
                           "Kết nạp đảng viên", "Bầu bí thư chi bộ"}) {
    om->add_agenda(item);
  }
  log() << "Meeting\n";
  log() << "  chair      opens the meeting, minute-taker #2, agenda of 5 items\n";
  if (!c(kChair).send(open)) return fail("chair connection lost");
  v1::Envelope state;
  if (!expect_all_present(v1::Envelope::kMeetingState, &state)) return false;
  r_.quorum_at_open = state.meeting_state().quorum();
  log() << "  opened     " << quorum_text(r_.quorum_at_open) << "\n";

  return true;
}

bool Demo::discussion() {
  v1::Envelope advance;
  advance.mutable_advance_agenda();
  if (!chair_sends(advance, v1::Envelope::kAgendaAdvanced, "item 1: monthly report")) return false;
  if (!chair_sends(advance, v1::Envelope::kAgendaAdvanced, "item 2: discussion")) return false;
  v1::Envelope ask;
  ask.mutable_request_floor()->set_topic("safety drills on the platform");
  v1::Envelope asked;
  if (!c(3).send(ask) || !c(kChair).expect(v1::Envelope::kFloorRequested, &asked, o_.step_timeout_ms)) {
    return fail("the chair did not see #3 ask for the floor");
  }
  log() << "  member     #3 asks for the floor\n";
  v1::Envelope grant;
  grant.mutable_grant_floor()->set_member_id(3);
  if (!chair_sends(grant, v1::Envelope::kFloorGranted, "gives #3 the floor")) return false;

  return true;
}

bool Demo::resolution_and_admission() {
  v1::Envelope advance;
  advance.mutable_advance_agenda();
  using v1::CHOICE_ABSTAIN, v1::CHOICE_NO, v1::CHOICE_YES;
  if (!chair_sends(advance, v1::Envelope::kAgendaAdvanced, "item 3: the month's resolution")) {
    return false;
  }
  auto probationary_tries = [this] {
    v1::Envelope answer;
    cast(kProbationary, 1, CHOICE_YES, &answer);
    r_.probationary_refusal = answer.error();
    log() << "  refused    #10 (probationary) tried to vote: "
          << v1::ErrorCode_Name(answer.error().code()) << ": " << answer.error().reason() << "\n";
    return answer.body_case() == v1::Envelope::kError;
  };
  if (!vote(1, v1::VOTE_KIND_RESOLUTION, false, "Nghị quyết công tác tháng 12",
            {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES}, {4, CHOICE_YES},
             {5, CHOICE_YES}, {6, CHOICE_YES}, {7, CHOICE_YES}, {8, CHOICE_NO},
             {kExempted, CHOICE_ABSTAIN}},
            probationary_tries)) {
    return false;
  }
  if (!chair_sends(advance, v1::Envelope::kAgendaAdvanced, "item 4: admission")) return false;
  if (!vote(2, v1::VOTE_KIND_ADMISSION, false, "Kết nạp quần chúng Lê Văn Tư",
            {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES}, {4, CHOICE_YES},
             {5, CHOICE_YES}, {6, CHOICE_YES}, {7, CHOICE_NO}, {8, CHOICE_NO},
             {kExempted, CHOICE_NO}})) {
    return false;
  }
  return true;
}

bool Demo::election() {
  using v1::CHOICE_ABSTAIN, v1::CHOICE_NO, v1::CHOICE_YES;
  v1::Envelope advance;
  advance.mutable_advance_agenda();
  if (!chair_sends(advance, v1::Envelope::kAgendaAdvanced, "item 5: election")) return false;
  auto resend = [this] {
    v1::Envelope ack;
    cast(4, 3, CHOICE_YES, &ack);  // the same ballot id again
    r_.resent_ballot_acked_as_duplicate = ack.ballot_ack().duplicate();
    log() << "  resent     #4 sends the same ballot again: "
          << (ack.ballot_ack().duplicate() ? "acknowledged as duplicate, counted once"
                                           : "NOT recognised as a duplicate")
          << "\n";
    return true;
  };
  if (!vote(3, v1::VOTE_KIND_ELECTION, true,
            "Bầu bí thư chi bộ: đồng chí Nguyễn Văn An",
            {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_YES}, {4, CHOICE_YES},
             {5, CHOICE_YES}, {6, CHOICE_NO}, {7, CHOICE_YES}, {8, CHOICE_YES},
             {kExempted, CHOICE_ABSTAIN}},
            resend)) {
    return false;
  }
  return true;
}

bool Demo::close_meeting() {
  v1::Envelope close;
  close.mutable_close_meeting();
  log() << "  chair      closes the meeting\n";
  if (!c(kChair).send(close)) return fail("chair connection lost");
  v1::Envelope closed;
  if (!expect_all_present(v1::Envelope::kMeetingClosed, &closed)) return false;
  r_.minutes = closed.meeting_closed().minutes();
  r_.minutes_gaps = minutes_gaps(r_.minutes, roster_);
  return true;
}

DemoResult Demo::run() {
  r_.ok = script();
  if (r_.ok && !r_.minutes_gaps.empty()) {
    r_.ok = false;
    r_.error = "minutes incomplete: " + r_.minutes_gaps.front();
  }
  for (auto& [id, client] : clients_) client->close();
  return r_;
}

}  // namespace

v1::CellRoster demo_roster(uint64_t cell_id) {
  v1::CellRoster r;
  r.set_cell_id(cell_id);
  r.set_name("Chi bộ Giàn khoan Bạch Hổ");
  for (const Person& p : kPeople) {
    auto* m = r.add_members();
    m->set_member_id(p.id);
    m->set_name(p.name);
    m->set_standing(p.standing);
    m->set_role(p.role);
  }
  return r;
}

DemoResult run_demo_meeting(const DemoOptions& options) { return Demo(options).run(); }

std::vector<std::string> minutes_gaps(const v1::Minutes& m, const v1::CellRoster& roster) {
  std::vector<std::string> gaps;
  auto need = [&gaps](bool ok, const char* what) {
    if (!ok) gaps.push_back(what);
  };
  need(m.opened_at_ms() > 0 && m.closed_at_ms() >= m.opened_at_ms(), "time of the meeting");
  need(!m.chair_name().empty(), "chair");
  need(!m.minute_taker_name().empty(), "minute-taker");
  need(!m.reason().empty(), "reason for the meeting");
  need(!m.agenda().empty(), "agenda");
  std::set<uint64_t> listed;
  for (const auto& a : m.attendees()) {
    need(!a.name().empty(), "attendee's name");
    listed.insert(a.member_id());
  }
  for (const auto& a : m.absences()) {
    need(!a.name().empty(), "absentee's name");
    need(!a.excused() || !a.reason().empty(), "reason of an excused absence");
    listed.insert(a.member_id());
  }
  for (const auto& p : roster.members()) {
    if (engine::standing_may_attend(p.standing())) {
      need(listed.count(p.member_id()) == 1, "a summoned member is neither present nor absent");
    }
  }
  bool speaker = false;
  for (const auto& p : m.proceedings()) speaker |= !p.member_name().empty();
  need(speaker, "proceedings with speakers' names");
  for (const auto& v : m.votes()) {
    need(v.method() != v1::VOTE_METHOD_UNSPECIFIED, "a vote's method");
    need(v.has_tally(), "a vote's result");
  }
  return gaps;
}

void print_minutes(const v1::Minutes& m, std::ostream& out) {
  out << "BIÊN BẢN (minutes) — " << m.cell_name() << ", meeting " << m.meeting_id() << "\n";
  out << "  reason: " << m.reason() << "\n";
  out << "  chair: " << m.chair_name() << "; minute-taker: " << m.minute_taker_name()
      << "; recorded: " << (m.recorded() ? "yes" : "no") << "\n";
  out << "  duration: " << (m.closed_at_ms() - m.opened_at_ms()) << " ms\n";
  out << "  present (" << m.attendees_size() << "):";
  for (const auto& a : m.attendees()) out << " " << a.name() << ";";
  out << "\n  absent (" << m.absences_size() << "):";
  for (const auto& a : m.absences()) {
    out << " " << a.name() << (a.excused() ? " [with reason: " + a.reason() + "]" : "") << ";";
  }
  out << "\n  proceedings:\n";
  for (const auto& p : m.proceedings()) {
    out << "    - " << p.what();
    if (!p.member_name().empty()) out << " (" << p.member_name() << ")";
    out << "\n";
  }
  out << "  votes:\n";
  for (const auto& v : m.votes()) {
    out << "    - " << v.subject() << ": " << v1::VoteMethod_Name(v.method()) << ", yes "
        << v.tally().yes() << " / no " << v.tally().no() << " / abstain " << v.tally().abstain()
        << ", " << v.yes_required() << " needed of " << v.threshold_base() << " -> "
        << (v.passed() ? "passed" : "not passed") << (v.valid() ? "" : " (invalid)") << "\n";
  }
  out << "  D at close: " << m.denominator_at_close()
      << ", quorum losses: " << m.quorum_losses() << "\n";
}

}  // namespace cellsim::demo
