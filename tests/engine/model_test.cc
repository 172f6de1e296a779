// The engine against a reference model of RULES.md, on long random sequences.
//
// The model below is written from RULES.md and the wire protocol's comments,
// not from the engine: plain structs saying who is on the roster with which
// standing, who is connected, joined, present, excused, has attended; D and
// quorum computed directly from RULES.md's definitions; per vote a map
// member → (ballot id, choice) and the expected tally, threshold and
// validity. Random steps (joins, drops, liveness timeouts, reconnects with and
// without resume tokens, excuses, votes of every kind, ballots good and bad)
// drive the engine through the harness and the model side by side, and after
// every step everything observable is compared.
//
// Reproduce a failure with CELLSIM_SEED=<seed>; CELLSIM_MODEL_SEEDS and
// CELLSIM_MODEL_STEPS scale the run (defaults: 200 seeds × 2000 steps, split
// into shards so ctest can run them in parallel).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/engine/harness.h"

namespace cellsim::engine::testing {
namespace {

constexpr uint64_t kCell = 42;
constexpr int kShards = 4;

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* s = std::getenv(name);
  return (s != nullptr && *s != '\0') ? std::strtoull(s, nullptr, 10) : fallback;
}

// ---------------------------------------------------------------------------
// The reference model.

// RULES.md's vote table, row by row.
struct ModelVoteRule {
  bool secret;       // method: secret ballot
  bool base_is_d;    // against D, else against the cell's official members
  uint32_t num, den;
  bool strict;       // yes > f × base; else yes >= f × base
};
ModelVoteRule model_rule(v1::VoteKind k) {
  switch (k) {
    case v1::VOTE_KIND_RESOLUTION: return {false, true, 1, 2, true};
    case v1::VOTE_KIND_ELECTION: return {true, true, 1, 2, true};
    case v1::VOTE_KIND_ADMISSION: return {false, false, 2, 3, false};
    case v1::VOTE_KIND_CONFIRMATION: return {false, false, 2, 3, false};
    case v1::VOTE_KIND_DISCIPLINE: return {true, false, 1, 2, true};
    case v1::VOTE_KIND_EXPULSION: return {true, false, 2, 3, false};
    default: return {};
  }
}

struct ModelMember {
  uint64_t id = 0;
  v1::Standing standing = v1::STANDING_UNSPECIFIED;
  bool chair = false;
  // Connection and session.
  ConnId conn = 0;          // the live, authenticated connection; 0 if none
  TimeNs last_heard = 0;    // last frame received on `conn`
  uint64_t session = 0;     // current session id; 0 before the first Hello
  uint64_t joined_meeting = 0;  // the meeting this session joined; 0 if none
  std::string resume;       // resume token of the current session
  std::vector<std::string> stale_resumes;  // tokens of earlier sessions
  // The meeting.
  bool excused = false;
  std::string excuse_reason;
  bool attended = false;

  bool may_attend() const {
    return standing == v1::STANDING_OFFICIAL || standing == v1::STANDING_PROBATIONARY ||
           standing == v1::STANDING_EXEMPTED;
  }
};

struct ModelVote {
  uint64_t id = 0;
  v1::VoteKind kind = v1::VOTE_KIND_UNSPECIFIED;
  bool secret = false;
  bool valid = false;  // quorate at opening and never lost since
  std::map<uint64_t, std::pair<uint64_t, v1::Choice>> ballots;  // member → (ballot id, choice)
};

struct ModelQuorum {
  uint32_t d = 0, present_in_d = 0, required = 0;
  bool quorate = false;
};

struct Model {
  Fraction quorum;
  TimeNs window_ns = 0;
  uint32_t max_votes = 0;
  std::vector<ModelMember> members;  // roster order
  uint64_t meeting_id = 0;  // the cell's current meeting; 0 before the first join
  uint64_t next_meeting = 1;
  bool opened = false;
  bool closed = false;
  std::set<uint64_t> frozen_present;  // who was present when the meeting closed
  uint64_t next_session = 1;
  bool was_quorate = false;
  uint32_t quorum_losses = 0;
  int64_t first_quorate_ms = 0;
  std::optional<ModelVote> vote;         // the open vote
  std::vector<ModelVote> closed_votes;   // in closing order
  std::set<uint64_t> used_vote_ids;
  uint64_t ballots_counted = 0;

  ModelMember* find(uint64_t id) {
    for (auto& m : members) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }
  ModelMember& chair() {
    for (auto& m : members) {
      if (m.chair) return m;
    }
    return members.front();
  }

  // Present: connected, joined and heard from within the liveness window (a
  // connection unheard for longer is closed). Once the meeting is closed,
  // attendance is final.
  bool present(const ModelMember& m) const {
    if (closed) return frozen_present.count(m.id) != 0;
    return meeting_id != 0 && m.conn != 0 && m.joined_meeting == meeting_id;
  }
  // Whether the member's requests reach the meeting (and pushes reach them).
  bool receives(const ModelMember& m) const {
    return meeting_id != 0 && m.conn != 0 && m.joined_meeting == meeting_id && present(m);
  }

  // A new meeting: everything meeting-scoped starts again.
  void new_meeting() {
    meeting_id = next_meeting++;
    opened = closed = false;
    frozen_present.clear();
    for (auto& m : members) {
      m.excused = false;
      m.excuse_reason.clear();
      m.attended = false;
    }
    was_quorate = false;
    quorum_losses = 0;
    first_quorate_ms = 0;
    vote.reset();
    closed_votes.clear();
    used_vote_ids.clear();
    ballots_counted = 0;
  }

  // RULES.md: D = official members summoned − attached elsewhere − suspended
  // − exempted who are absent − those excused for the whole meeting (an
  // excused member who turns up is not excused for the whole meeting).
  bool in_d(const ModelMember& m) const {
    if (m.standing == v1::STANDING_OFFICIAL) return !(m.excused && !m.attended);
    if (m.standing == v1::STANDING_EXEMPTED) return present(m);
    return false;
  }

  ModelQuorum q() const {
    ModelQuorum r;
    for (const auto& m : members) {
      if (!in_d(m)) continue;
      ++r.d;
      if (present(m)) ++r.present_in_d;
    }
    // "at least q of D, rounded up"
    r.required = static_cast<uint32_t>((uint64_t{quorum.num} * r.d + quorum.den - 1) / quorum.den);
    r.quorate = r.d > 0 && r.present_in_d >= r.required;
    return r;
  }

  uint32_t official_members() const {
    uint32_t n = 0;
    for (const auto& m : members) {
      n += m.standing == v1::STANDING_OFFICIAL || m.standing == v1::STANDING_EXEMPTED;
    }
    return n;
  }

  // Call after every change to attendance or excuses.
  void changed(int64_t now_ms) {
    if (closed) return;  // attendance is final
    for (auto& m : members) {
      if (present(m)) m.attended = true;
    }
    const bool quorate = q().quorate;
    if (quorate && first_quorate_ms == 0) first_quorate_ms = std::max<int64_t>(now_ms, 1);
    if (was_quorate && !quorate) {
      ++quorum_losses;
      if (vote) vote->valid = false;
    }
    was_quorate = quorate;
  }

  // The VoteClosed the engine must send for `v`, closed now.
  v1::VoteClosed expected_close(const ModelVote& v) const {
    const ModelVoteRule rule = model_rule(v.kind);
    const uint32_t base = rule.base_is_d ? q().d : official_members();
    uint32_t need = 0;
    while (rule.strict ? uint64_t{need} * rule.den <= uint64_t{rule.num} * base
                       : uint64_t{need} * rule.den < uint64_t{rule.num} * base) {
      ++need;
    }
    v1::VoteClosed c;
    c.set_vote_id(v.id);
    c.mutable_tally();  // always present, even when nobody voted
    for (const auto& [member, b] : v.ballots) {
      auto* t = c.mutable_tally();
      if (b.second == v1::CHOICE_YES) t->set_yes(t->yes() + 1);
      if (b.second == v1::CHOICE_NO) t->set_no(t->no() + 1);
      if (b.second == v1::CHOICE_ABSTAIN) t->set_abstain(t->abstain() + 1);
      c.add_voters(member);  // std::map: ascending member id
    }
    c.set_passed(c.tally().yes() >= need);
    c.set_valid(v.valid && q().quorate);
    c.set_threshold_base(base);
    c.set_yes_required(need);
    return c;
  }
};

// ---------------------------------------------------------------------------
// One seed's run: the engine (through the harness) and the model side by side.

class Run {
 public:
  explicit Run(uint64_t seed) : rng_(seed), h_(make_settings(rng_)) {
    m_.quorum = h_.settings().rules.quorum;
    m_.window_ns = TimeNs{h_.settings().rules.heartbeat_interval_ms} *
                   h_.settings().rules.missed_heartbeats * kNsPerMs;
    m_.max_votes = h_.settings().max_votes_per_meeting;
    make_roster();
  }

  void step() {
    step_start_ = h_.mark();
    step_start_q_ = m_.q();
    step_start_meeting_ = m_.meeting_id;
    const int r = static_cast<int>(pick(100));
    if (r < 14) {
      op_hello(absent_member(), /*resume=*/0, pick(7) != 0);
    } else if (r < 22) {
      op_hello(random_member(), /*resume=*/1 + pick(10), pick(5) != 0);
    } else if (r < 28) {
      op_join(absent_member());
    } else if (r < 34) {
      op_drop(random_member());
    } else if (r < 36) {
      op_time(/*big=*/true);
    } else if (r < 44) {
      op_time(/*big=*/false);
    } else if (r < 47) {
      op_heartbeat(random_member());
    } else if (r < 50) {
      maybe_fetch_chair();
      op_excuse();
    } else if (r < 52) {
      maybe_fetch_chair();
      if (pick(5) == 0) {
        op_close_meeting();
      } else {
        op_open_meeting();
      }
    } else if (r < 59) {
      maybe_fetch_chair();
      op_open_vote();
    } else if (r < 65) {
      maybe_fetch_chair();
      op_close_vote();
    } else {
      op_ballot(pick(7) == 0 ? random_member() : present_member());
    }
    compare();
  }

  // Closes the meeting (opening one first if need be) and compares the
  // minutes with the model.
  void finish() {
    step_start_ = h_.mark();
    ModelMember& c = m_.chair();
    if (!m_.receives(c) || m_.closed) op_hello(c.id, 0, true);
    ASSERT_TRUE(m_.receives(c));
    if (!m_.opened) op_open_meeting();
    const size_t before = h_.minutes().size();
    op_close_meeting();
    ASSERT_EQ(h_.minutes().size(), before + 1);
  }

  // The chair closes the meeting; the minutes must match the model.
  void op_close_meeting() {
    ModelMember& c = m_.chair();
    if (c.conn == 0) return;
    const std::optional<ModelVote> open = m_.vote;
    const size_t minutes_before = h_.minutes().size();
    const uint64_t rid = h_.send(c.conn, msg::close_meeting());
    heard(c);
    if (!m_.receives(c)) {
      expect_error(c.conn, rid, v1::ERROR_NOT_JOINED, "CloseMeeting");
      return;
    }
    if (!m_.opened || m_.closed) {
      expect_error(c.conn, rid, v1::ERROR_MEETING_NOT_OPEN, "CloseMeeting");
      return;
    }
    expect_no_error(c.conn, rid, "CloseMeeting");
    if (open) {
      check_vote_closed(*open);
      m_.closed_votes.push_back(*open);
      m_.vote.reset();
    }
    for (const auto& mm : m_.members) {
      if (!m_.receives(mm)) continue;
      const auto mc = h_.last(mm.conn, v1::Envelope::kMeetingClosed, step_start_);
      EXPECT_TRUE(mc.has_value()) << "present member " << mm.id << " got no MeetingClosed";
    }
    ASSERT_EQ(h_.minutes().size(), minutes_before + 1);
    check_minutes(h_.minutes().back());
    for (const auto& mm : m_.members) {
      if (m_.present(mm)) m_.frozen_present.insert(mm.id);
    }
    m_.closed = true;
    ++meetings_closed_;
  }

  void check_minutes(const v1::Minutes& mn) {
    EXPECT_EQ(mn.meeting_id(), m_.meeting_id);
    const ModelQuorum q = m_.q();
    EXPECT_EQ(mn.denominator_at_close(), q.d);
    EXPECT_EQ(mn.quorate_at_close(), q.quorate);
    EXPECT_EQ(mn.quorum_losses(), m_.quorum_losses);
    EXPECT_EQ(mn.first_quorate_at_ms(), m_.first_quorate_ms);
    EXPECT_EQ(mn.chair_id(), m_.chair().id);
    EXPECT_EQ(mn.chair_name(), member_name(m_.chair().id));
    std::set<uint64_t> attendees, want_attendees;
    for (const auto& p : mn.attendees()) attendees.insert(p.member_id());
    std::map<uint64_t, v1::Absence> absences;
    for (const auto& a : mn.absences()) absences[a.member_id()] = a;
    for (const auto& mm : m_.members) {
      if (!mm.may_attend()) {
        EXPECT_EQ(absences.count(mm.id), 0u) << "member " << mm.id << " was not summoned";
        continue;
      }
      if (mm.attended) {
        want_attendees.insert(mm.id);
        continue;
      }
      auto it = absences.find(mm.id);
      if (it == absences.end()) {
        ADD_FAILURE() << "absent member " << mm.id << " missing from the minutes";
        continue;
      }
      const bool exempted = mm.standing == v1::STANDING_EXEMPTED;
      EXPECT_EQ(it->second.excused(), mm.excused || exempted) << mm.id;
      EXPECT_EQ(it->second.reason(), mm.excused ? mm.excuse_reason : exempted ? "exempted" : "")
          << mm.id;
      EXPECT_EQ(it->second.name(), member_name(mm.id));
    }
    EXPECT_EQ(attendees, want_attendees);
    ASSERT_EQ(static_cast<size_t>(mn.votes_size()), m_.closed_votes.size());
    for (size_t i = 0; i < m_.closed_votes.size(); ++i) {
      const ModelVote& v = m_.closed_votes[i];
      const v1::VoteRecord& r = mn.votes(static_cast<int>(i));
      EXPECT_EQ(r.vote_id(), v.id);
      EXPECT_EQ(r.kind(), v.kind);
      EXPECT_EQ(r.method(),
                v.secret ? v1::VOTE_METHOD_SECRET_BALLOT : v1::VOTE_METHOD_SHOW_OF_HANDS);
      EXPECT_EQ(r.voters_size(), static_cast<int>(v.ballots.size()));
      if (v.secret) {
        EXPECT_EQ(r.public_ballots_size(), 0) << "vote " << v.id << " is secret";
      } else {
        ASSERT_EQ(r.public_ballots_size(), static_cast<int>(v.ballots.size()));
        for (const auto& pb : r.public_ballots()) {
          EXPECT_EQ(pb.choice(), v.ballots.at(pb.member_id()).second);
        }
      }
    }
  }

  size_t oversized_frames() const { return h_.oversized_frames(); }

  // What the run exercised, so a reader can see it is not vacuous.
  struct Stats {
    uint64_t quorate_steps = 0, present_sum = 0, acks = 0, refusals = 0, resumes = 0,
             timeouts = 0, excuses = 0;
  };
  const Stats& stats() const { return stats_; }
  uint32_t quorum_losses() const { return m_.quorum_losses; }
  size_t frames() const { return h_.log().size(); }

 private:
  static EngineSettings make_settings(std::mt19937_64& rng) {
    EngineSettings s;
    const Fraction quorums[] = {{2, 3}, {1, 2}, {3, 4}, {3, 5}, {1, 1}, {1, 3}};
    s.rules.quorum = quorums[rng() % 6];
    const uint32_t intervals[] = {1000, 5000, 10'000};
    s.rules.heartbeat_interval_ms = intervals[rng() % 3];
    s.rules.missed_heartbeats = 2 + static_cast<uint32_t>(rng() % 3);
    if (rng() % 4 == 0) s.max_votes_per_meeting = 5;
    return s;
  }

  uint64_t pick(uint64_t n) { return rng_() % n; }

  void make_roster() {
    const size_t n = 3 + pick(23);
    std::vector<v1::Standing> st;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t r = pick(100);
      st.push_back(i < 3 || r < 60  ? v1::STANDING_OFFICIAL
                   : r < 72         ? v1::STANDING_PROBATIONARY
                   : r < 82         ? v1::STANDING_EXEMPTED
                   : r < 91         ? v1::STANDING_SUSPENDED
                                    : v1::STANDING_ATTACHED_ELSEWHERE);
    }
    std::shuffle(st.begin(), st.end(), rng_);
    size_t chair = pick(n);
    while (!(st[chair] == v1::STANDING_OFFICIAL ||
             (pick(5) == 0 && (st[chair] == v1::STANDING_PROBATIONARY ||
                               st[chair] == v1::STANDING_EXEMPTED)))) {
      chair = (chair + 1) % n;
    }
    const v1::CellRoster roster = testing::make_roster(kCell, st, chair, 100);
    h_.add_cell(roster);
    for (const auto& rm : roster.members()) {
      ModelMember mm;
      mm.id = rm.member_id();
      mm.standing = rm.standing();
      mm.chair = rm.role() == v1::ROLE_CHAIR;
      m_.members.push_back(mm);
    }
  }

  uint64_t random_member() { return m_.members[pick(m_.members.size())].id; }
  // Mostly a member who is not present (joins are what absent members do).
  uint64_t absent_member() {
    for (int tries = 0; tries < 4; ++tries) {
      const uint64_t id = random_member();
      if (!m_.present(*m_.find(id))) return id;
    }
    return random_member();
  }
  // Mostly a member who is present (ballots are what present members cast).
  uint64_t present_member() {
    for (int tries = 0; tries < 6; ++tries) {
      const uint64_t id = random_member();
      if (m_.present(*m_.find(id))) return id;
    }
    return random_member();
  }

  void heard(ModelMember& mm) { mm.last_heard = h_.now(); }

  // The answer on `conn` echoing `rid`, if any.
  std::optional<v1::Envelope> answer(ConnId conn, uint64_t rid) const {
    for (const v1::Envelope& e : h_.envelopes(conn, step_start_)) {
      if (e.request_id() == rid) return e;
    }
    return std::nullopt;
  }
  void expect_no_error(ConnId conn, uint64_t rid, const char* what) {
    const auto a = answer(conn, rid);
    EXPECT_FALSE(a && a->has_error()) << what << " refused: " << a->DebugString();
  }
  void expect_error(ConnId conn, uint64_t rid, v1::ErrorCode code, const char* what) {
    const auto a = answer(conn, rid);
    ASSERT_TRUE(a && a->has_error()) << what << " should be refused with "
                                     << v1::ErrorCode_Name(code);
    EXPECT_EQ(a->error().code(), code) << what << ": " << a->error().reason();
  }
  // A request refused or not: the model's verdict decides which check.
  void expect_result(ConnId conn, uint64_t rid, v1::ErrorCode code, const char* what) {
    if (code == v1::ERROR_CODE_UNSPECIFIED) {
      expect_no_error(conn, rid, what);
    } else {
      expect_error(conn, rid, code, what);
    }
  }

  // Chair commands need the chair present; half the time, fetch them first.
  void maybe_fetch_chair() {
    ModelMember& c = m_.chair();
    if (!m_.receives(c) && pick(2) == 0) op_hello(c.id, 0, true);
  }

  // A new connection and Hello; resume: 0 none, 1–7 the current token,
  // 8–9 a stale one, 10 a corrupted one. Then JoinMeeting if `then_join`.
  void op_hello(uint64_t id, uint64_t resume_kind, bool then_join) {
    ModelMember& mm = *m_.find(id);
    std::string resume;
    bool corrupted = false;
    if (resume_kind >= 1 && resume_kind <= 7 && !mm.resume.empty()) {
      resume = mm.resume;
    } else if (resume_kind >= 8 && resume_kind <= 9 && !mm.stale_resumes.empty()) {
      resume = mm.stale_resumes[pick(mm.stale_resumes.size())];
    } else if (resume_kind == 10 && !mm.resume.empty()) {
      resume = mm.resume;
      resume[pick(resume.size())] ^= static_cast<char>(1 + pick(255));
      corrupted = true;
    }
    const ConnId conn = h_.connect();
    const uint64_t rid = h_.send(conn, msg::hello(kCell, id, h_.token_for(kCell, id), resume));
    const auto a = answer(conn, rid);
    ASSERT_TRUE(a.has_value()) << "no answer to Hello";
    if (corrupted) {
      ASSERT_TRUE(a->has_error());
      EXPECT_EQ(a->error().code(), v1::ERROR_RESUME_INVALID);
      EXPECT_TRUE(h_.closed_by_engine(conn));
      return;
    }
    ASSERT_TRUE(a->has_welcome()) << a->DebugString();
    const bool resumed = !resume.empty() && resume == mm.resume;
    if (mm.conn != 0) {
      const ConnId old = mm.conn;
      EXPECT_TRUE(h_.closed_by_engine(old)) << "the old connection is superseded";
      EXPECT_EQ(h_.close_error(old) ? h_.close_error(old)->code() : v1::ERROR_CODE_UNSPECIFIED,
                v1::ERROR_SUPERSEDED);
    }
    if (!resumed) {
      if (!mm.resume.empty()) mm.stale_resumes.push_back(mm.resume);
      mm.session = m_.next_session++;
      mm.joined_meeting = 0;
    }
    mm.conn = conn;
    heard(mm);
    mm.resume = a->welcome().resume_token();
    EXPECT_EQ(a->welcome().resumed(), resumed);
    EXPECT_EQ(a->welcome().session_id(), mm.session);
    EXPECT_EQ(a->welcome().heartbeat_interval_ms(), h_.settings().rules.heartbeat_interval_ms);
    m_.changed(h_.now_ms());
    if (resumed && m_.receives(mm) && !m_.closed) {
      const auto st = h_.last(conn, v1::Envelope::kMeetingState, step_start_);
      EXPECT_TRUE(st.has_value()) << "a resumed member gets the meeting state";
    }
    if (then_join && !(resumed && m_.receives(mm) && !m_.closed)) op_join(id);
  }

  void op_join(uint64_t id) {
    ModelMember& mm = *m_.find(id);
    if (mm.conn == 0) return;
    const uint64_t rid = h_.send(mm.conn, msg::join());
    heard(mm);
    // A join with no meeting, or after one closed, starts the next meeting.
    if (m_.meeting_id == 0 || m_.closed) {
      m_.new_meeting();
      acks_counted_ = 0;
    }
    if (!mm.may_attend()) {
      expect_error(mm.conn, rid, v1::ERROR_NOT_ALLOWED_TO_ATTEND, "JoinMeeting");
      m_.changed(h_.now_ms());
      return;
    }
    mm.joined_meeting = m_.meeting_id;
    m_.changed(h_.now_ms());
    const auto a = answer(mm.conn, rid);
    ASSERT_TRUE(a && a->has_meeting_state()) << "JoinMeeting gets the meeting state";
    EXPECT_EQ(a->meeting_state().open_vote_id(), m_.vote ? m_.vote->id : 0);
    EXPECT_EQ(a->meeting_state().phase(),
              m_.opened ? v1::MEETING_PHASE_OPEN : v1::MEETING_PHASE_GATHERING);
    // The snapshot's attendance is the model's: every summoned member, with
    // present and excused flags.
    size_t summoned = 0;
    for (const auto& mm2 : m_.members) summoned += mm2.may_attend();
    EXPECT_EQ(static_cast<size_t>(a->meeting_state().attendees_size()), summoned);
    for (const auto& at : a->meeting_state().attendees()) {
      const ModelMember* x = m_.find(at.member_id());
      ASSERT_NE(x, nullptr);
      EXPECT_EQ(at.present(), m_.present(*x)) << "member " << x->id;
      EXPECT_EQ(at.excused(), x->excused) << "member " << x->id;
      EXPECT_EQ(at.standing(), x->standing);
    }
  }

  void op_drop(uint64_t id) {
    ModelMember& mm = *m_.find(id);
    if (mm.conn == 0) return;
    h_.disconnect(mm.conn);
    mm.conn = 0;
    m_.changed(h_.now_ms());
  }

  void op_heartbeat(uint64_t id) {
    ModelMember& mm = *m_.find(id);
    if (mm.conn == 0) return;
    const uint64_t seq = rng_();
    const uint64_t rid = h_.send(mm.conn, msg::heartbeat(seq));
    heard(mm);
    const auto a = answer(mm.conn, rid);
    ASSERT_TRUE(a && a->has_heartbeat_ack());
    EXPECT_EQ(a->heartbeat_ack().seq(), seq);
  }

  // Time passes; connections not heard within the liveness window close.
  // Small: under half a window, most members heartbeat. Big: over a whole
  // window, some members keep heartbeating and the others fall silent.
  void op_time(bool big) {
    const TimeNs window = m_.window_ns;
    const TimeNs interval = TimeNs{h_.settings().rules.heartbeat_interval_ms} * kNsPerMs;
    std::set<uint64_t> keepers;
    for (const auto& mm : m_.members) {
      if (mm.conn != 0 && pick(10) < (big ? 6u : 9u)) keepers.insert(mm.id);
    }
    TimeNs total = big ? window + static_cast<TimeNs>(pick(static_cast<uint64_t>(interval)))
                       : static_cast<TimeNs>(pick(static_cast<uint64_t>(window / 2)));
    const TimeNs sub = std::min(interval, window - 1);
    do {
      const TimeNs d = std::min(sub, total);
      total -= d;
      h_.advance(d);
      for (auto& mm : m_.members) {
        if (mm.conn == 0 || mm.last_heard + window > h_.now()) continue;
        EXPECT_TRUE(h_.closed_by_engine(mm.conn)) << "member " << mm.id << " unheard for "
                                                  << (h_.now() - mm.last_heard) / kNsPerMs
                                                  << " ms is still connected";
        EXPECT_EQ(h_.close_error(mm.conn) ? h_.close_error(mm.conn)->code()
                                          : v1::ERROR_CODE_UNSPECIFIED,
                  v1::ERROR_LIVENESS_TIMEOUT);
        mm.conn = 0;
        m_.changed(h_.now_ms());
      }
      for (auto& mm : m_.members) {
        if (mm.conn != 0) {
          EXPECT_FALSE(h_.closed_by_engine(mm.conn)) << "member " << mm.id << " closed early";
        }
      }
      for (uint64_t id : keepers) {
        if (m_.find(id)->conn != 0) op_heartbeat(id);
      }
    } while (total > 0);
  }

  void op_excuse() {
    ModelMember& c = m_.chair();
    if (c.conn == 0) return;
    // Mostly roster members; sometimes someone unknown.
    const uint64_t target = pick(10) == 0 ? 9999 : random_member();
    const std::string reason = "reason " + std::to_string(pick(1000));
    const uint64_t rid = h_.send(c.conn, msg::excuse(target, reason));
    heard(c);
    ModelMember* t = m_.find(target);
    v1::ErrorCode want = v1::ERROR_CODE_UNSPECIFIED;
    if (!m_.receives(c)) {
      want = v1::ERROR_NOT_JOINED;
    } else if (m_.closed) {
      want = v1::ERROR_MEETING_NOT_OPEN;
    } else if (m_.opened || t == nullptr || !t->may_attend() || t->attended) {
      want = v1::ERROR_CANNOT_EXCUSE;  // excuses are settled before the meeting opens
    } else if (!t->excused) {
      t->excused = true;
      t->excuse_reason = reason;
      m_.changed(h_.now_ms());
    }
    expect_result(c.conn, rid, want, "ExcuseAbsence");
  }

  void op_open_meeting() {
    ModelMember& c = m_.chair();
    if (c.conn == 0) return;
    const uint64_t rid =
        h_.send(c.conn, msg::open_meeting("seeded meeting", c.id, {"report", "votes"}));
    heard(c);
    v1::ErrorCode want = v1::ERROR_CODE_UNSPECIFIED;
    if (!m_.receives(c)) {
      want = v1::ERROR_NOT_JOINED;
    } else if (m_.opened) {
      want = v1::ERROR_MEETING_ALREADY_OPEN;
    } else {
      m_.opened = true;
    }
    expect_result(c.conn, rid, want, "OpenMeeting");
  }

  void op_open_vote() {
    ModelMember& c = m_.chair();
    if (c.conn == 0) return;
    uint64_t id = 1 + m_.used_vote_ids.size() + pick(2);
    if (pick(10) == 0) id = m_.used_vote_ids.empty() ? 0 : *m_.used_vote_ids.begin();
    if (pick(30) == 0) id = 0;
    int kind = 1 + static_cast<int>(pick(6));
    if (pick(30) == 0) kind = pick(2) == 0 ? 0 : 7;
    const bool secret = pick(4) == 0;
    const size_t since = h_.mark();
    const uint64_t rid =
        h_.send(c.conn, msg::open_vote(id, static_cast<v1::VoteKind>(kind), secret));
    heard(c);
    v1::ErrorCode want = v1::ERROR_CODE_UNSPECIFIED;
    if (!m_.receives(c)) {
      want = v1::ERROR_NOT_JOINED;
    } else if (!m_.opened || m_.closed) {
      want = v1::ERROR_MEETING_NOT_OPEN;
    } else if (m_.vote) {
      want = v1::ERROR_VOTE_ALREADY_OPEN;
    } else if (id == 0 || kind < 1 || kind > 6) {
      want = v1::ERROR_INVALID_REQUEST;
    } else if (m_.used_vote_ids.count(id)) {
      want = v1::ERROR_VOTE_ALREADY_OPEN;
    } else if (m_.closed_votes.size() >= m_.max_votes) {
      want = v1::ERROR_INVALID_REQUEST;
    } else {
      ModelVote v;
      v.id = id;
      v.kind = static_cast<v1::VoteKind>(kind);
      v.secret = secret || model_rule(v.kind).secret;
      v.valid = m_.q().quorate;
      m_.vote = v;
      m_.used_vote_ids.insert(id);
      const auto opened = h_.last(c.conn, v1::Envelope::kVoteOpened, since);
      EXPECT_TRUE(opened.has_value());
      if (opened) {
        EXPECT_EQ(opened->vote_opened().vote_id(), id);
        EXPECT_EQ(opened->vote_opened().method(),
                  v.secret ? v1::VOTE_METHOD_SECRET_BALLOT : v1::VOTE_METHOD_SHOW_OF_HANDS);
      }
    }
    expect_result(c.conn, rid, want, "OpenVote");
  }

  void check_vote_closed(const ModelVote& v) {
    const v1::VoteClosed want = m_.expected_close(v);
    std::optional<v1::Envelope> got;
    for (const auto& mm : m_.members) {
      if (!m_.receives(mm)) continue;
      got = h_.last(mm.conn, v1::Envelope::kVoteClosed, step_start_);
      EXPECT_TRUE(got.has_value()) << "present member " << mm.id << " did not get VoteClosed";
      if (got) {
        EXPECT_EQ(got->vote_closed().SerializeAsString(), want.SerializeAsString())
            << "vote " << v.id << " (" << v1::VoteKind_Name(v.kind) << ")\ngot:\n"
            << got->vote_closed().DebugString() << "want:\n"
            << want.DebugString();
      }
    }
    const v1::VoteRecord& rec = h_.meeting(kCell)->vote_records().back();
    EXPECT_EQ(rec.vote_id(), v.id);
    EXPECT_EQ(rec.tally().SerializeAsString(), want.tally().SerializeAsString());
    EXPECT_EQ(rec.valid(), want.valid());
    EXPECT_EQ(rec.passed(), want.passed());
    ++votes_closed_;
  }

  void op_close_vote() {
    ModelMember& c = m_.chair();
    if (c.conn == 0) return;
    uint64_t id = m_.vote && pick(8) != 0 ? m_.vote->id : pick(m_.used_vote_ids.size() + 3);
    const uint64_t rid = h_.send(c.conn, msg::close_vote(id));
    heard(c);
    v1::ErrorCode want = v1::ERROR_CODE_UNSPECIFIED;
    if (!m_.receives(c)) {
      want = v1::ERROR_NOT_JOINED;
    } else if (!m_.opened || m_.closed) {
      want = v1::ERROR_MEETING_NOT_OPEN;
    } else if (!m_.vote || m_.vote->id != id) {
      want = m_.used_vote_ids.count(id) ? v1::ERROR_VOTE_CLOSED : v1::ERROR_UNKNOWN_VOTE;
    } else {
      check_vote_closed(*m_.vote);
      m_.closed_votes.push_back(*m_.vote);
      m_.vote.reset();
    }
    expect_result(c.conn, rid, want, "CloseVote");
  }

  void op_ballot(uint64_t id) {
    ModelMember& mm = *m_.find(id);
    if (mm.conn == 0) return;
    // Which vote: mostly the open one; else a closed or unknown one.
    uint64_t vote_id = 0;
    const uint64_t r = pick(10);
    if (m_.vote && r < 8) {
      vote_id = m_.vote->id;
    } else if (!m_.used_vote_ids.empty() && r < 9) {
      auto it = m_.used_vote_ids.begin();
      std::advance(it, static_cast<long>(pick(m_.used_vote_ids.size())));
      vote_id = *it;
    } else {
      vote_id = 1000 + pick(5);
    }
    v1::Choice choice = static_cast<v1::Choice>(1 + pick(3));
    if (pick(40) == 0) choice = v1::CHOICE_UNSPECIFIED;
    // Which ballot id: a resend of the member's ballot, a conflicting one, or fresh.
    uint64_t ballot_id = rng_() | 1;
    if (m_.vote && m_.vote->id == vote_id) {
      auto it = m_.vote->ballots.find(id);
      if (it != m_.vote->ballots.end() && pick(2) == 0) ballot_id = it->second.first;
    }
    const uint64_t rid = h_.send(mm.conn, msg::ballot(vote_id, choice, ballot_id));
    heard(mm);
    v1::ErrorCode want = v1::ERROR_CODE_UNSPECIFIED;
    bool duplicate = false;
    if (!m_.receives(mm)) {
      want = v1::ERROR_NOT_JOINED;
    } else if (mm.standing == v1::STANDING_PROBATIONARY) {
      want = v1::ERROR_NOT_ELIGIBLE_TO_VOTE;
    } else if (!m_.vote || m_.vote->id != vote_id) {
      want = m_.used_vote_ids.count(vote_id) ? v1::ERROR_VOTE_CLOSED : v1::ERROR_UNKNOWN_VOTE;
    } else if (choice == v1::CHOICE_UNSPECIFIED) {
      want = v1::ERROR_INVALID_REQUEST;
    } else if (auto it = m_.vote->ballots.find(id); it != m_.vote->ballots.end()) {
      if (it->second.first == ballot_id && it->second.second == choice) {
        duplicate = true;
      } else if (it->second.first == ballot_id) {
        want = v1::ERROR_BALLOT_CHANGED;  // a counted ballot cannot be changed
      } else {
        want = v1::ERROR_BALLOT_CONFLICT;
      }
    } else {
      m_.vote->ballots[id] = {ballot_id, choice};
      ++m_.ballots_counted;
    }
    const auto a = answer(mm.conn, rid);
    ASSERT_TRUE(a.has_value()) << "no answer to CastBallot";
    if (want != v1::ERROR_CODE_UNSPECIFIED) {
      ASSERT_TRUE(a->has_error()) << "ballot should be refused with " << v1::ErrorCode_Name(want)
                                  << ", got " << a->DebugString();
      EXPECT_EQ(a->error().code(), want) << a->error().reason();
      return;
    }
    ASSERT_TRUE(a->has_ballot_ack()) << a->DebugString();
    EXPECT_EQ(a->ballot_ack().vote_id(), vote_id);
    EXPECT_EQ(a->ballot_ack().ballot_id(), ballot_id);
    EXPECT_EQ(a->ballot_ack().duplicate(), duplicate);
    if (!duplicate) ++acks_counted_;
  }

  static void expect_quorum(const v1::QuorumStatus& got, const ModelQuorum& want,
                            const std::string& where) {
    EXPECT_EQ(got.quorate(), want.quorate) << where;
    EXPECT_EQ(got.denominator(), want.d) << where;
    EXPECT_EQ(got.present_in_d(), want.present_in_d) << where;
    EXPECT_EQ(got.required(), want.required) << where;
  }

  void compare() {
    const Meeting* meeting = h_.meeting(kCell);
    ASSERT_EQ(meeting != nullptr, m_.meeting_id != 0);
    size_t connected = 0;
    for (const auto& mm : m_.members) connected += mm.conn != 0;
    EXPECT_EQ(h_.engine().connection_count(), connected);
    if (meeting == nullptr) return;
    EXPECT_EQ(meeting->id(), m_.meeting_id);
    EXPECT_EQ(meeting->closed(), m_.closed);
    EXPECT_EQ(meeting->phase(), m_.closed   ? v1::MEETING_PHASE_CLOSED
                                : m_.opened ? v1::MEETING_PHASE_OPEN
                                            : v1::MEETING_PHASE_GATHERING);
    const ModelQuorum q = m_.q();
    stats_.quorate_steps += q.quorate;
    for (const auto& mm : m_.members) stats_.present_sum += m_.present(mm);
    for (size_t i = step_start_; i < h_.log().size(); ++i) {
      const v1::Envelope& e = *h_.log()[i].env;
      if (e.has_ballot_ack()) ++stats_.acks;
      if (e.has_error() && e.error().code() >= 100) ++stats_.refusals;
      if (e.has_welcome() && e.welcome().resumed()) ++stats_.resumes;
      if (e.has_error() && e.error().code() == v1::ERROR_LIVENESS_TIMEOUT) ++stats_.timeouts;
    }
    // The engine's own account.
    expect_quorum(meeting->quorum(), q, "Meeting::quorum()");
    EXPECT_EQ(meeting->quorate(), q.quorate);
    EXPECT_EQ(meeting->quorum_losses(), m_.quorum_losses);
    EXPECT_EQ(meeting->first_quorate_at_ms(), m_.first_quorate_ms);
    std::string why;
    EXPECT_TRUE(meeting->check_invariants(&why)) << why;
    // Tally integrity: ballots acknowledged == ballots counted == in tallies.
    EXPECT_EQ(acks_counted_, m_.ballots_counted);
    EXPECT_EQ(meeting->ballots_counted(), m_.ballots_counted);
    EXPECT_EQ(meeting->tally_total(), m_.ballots_counted);
    for (const auto& mm : m_.members) {
      EXPECT_EQ(meeting->is_present(mm.id), m_.present(mm)) << "member " << mm.id;
    }
    bool anyone_present = false;
    for (const auto& mm : m_.members) anyone_present |= m_.receives(mm);
    if (m_.closed) return;  // no pushes after MeetingClosed
    if (!anyone_present) return;
    // The last QuorumChanged pushed in this step says what the model says.
    std::optional<v1::QuorumStatus> last_push;
    for (size_t i = step_start_; i < h_.log().size(); ++i) {
      if (h_.log()[i].env->has_quorum_changed()) {
        last_push = h_.log()[i].env->quorum_changed().quorum();
      }
    }
    // (A new meeting's first joiner learns the quorum from MeetingState.)
    const bool moved = step_start_meeting_ == m_.meeting_id &&
                       (q.d != step_start_q_.d || q.present_in_d != step_start_q_.present_in_d ||
                        q.quorate != step_start_q_.quorate);
    if (moved) {
      EXPECT_TRUE(last_push.has_value()) << "the quorum moved without a QuorumChanged";
    }
    if (last_push) {
      expect_quorum(*last_push, q, "last QuorumChanged");
    }
    // Every present member's view (its last QuorumChanged or MeetingState) is right.
    for (const auto& mm : m_.members) {
      if (!m_.receives(mm)) continue;
      const auto got = h_.received(mm.conn);
      bool seen = false;
      for (auto it = got.rbegin(); it != got.rend(); ++it) {
        const v1::Envelope& e = *(*it)->env;
        if (e.has_quorum_changed()) {
          expect_quorum(e.quorum_changed().quorum(), q, "member " + std::to_string(mm.id) +
                                                            "'s last QuorumChanged");
        } else if (e.has_meeting_state()) {
          expect_quorum(e.meeting_state().quorum(), q,
                        "member " + std::to_string(mm.id) + "'s last MeetingState");
        } else {
          continue;
        }
        seen = true;
        break;
      }
      EXPECT_TRUE(seen) << "member " << mm.id << " is present but was never told the quorum";
    }
  }

  std::mt19937_64 rng_;
  Harness h_;
  Model m_;
  size_t step_start_ = 0;
  ModelQuorum step_start_q_;
  uint64_t step_start_meeting_ = 0;
  uint64_t acks_counted_ = 0;
  Stats stats_;

 public:
  size_t votes_closed_ = 0;
  size_t meetings_closed_ = 0;
};

// Runs seeds [first, last) of the configured list; returns false at the first failing seed.
void run_seeds(int shard) {
  const uint64_t steps = env_u64("CELLSIM_MODEL_STEPS", 2000);
  std::vector<uint64_t> seeds;
  if (const uint64_t only = env_u64("CELLSIM_SEED", 0); only != 0) {
    if (shard == 0) seeds.push_back(only);
  } else {
    const uint64_t n = env_u64("CELLSIM_MODEL_SEEDS", 200);
    for (uint64_t s = 1; s <= n; ++s) {
      if (static_cast<int>(s % kShards) == shard) seeds.push_back(s);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  size_t votes = 0, oversized = 0, meetings = 0;
  for (uint64_t seed : seeds) {
    Run run(seed);
    for (uint64_t step = 0; step < steps; ++step) {
      SCOPED_TRACE("seed=" + std::to_string(seed) + " step=" + std::to_string(step) +
                   " (reproduce: CELLSIM_SEED=" + std::to_string(seed) + ")");
      run.step();
      if (::testing::Test::HasFailure()) return;
    }
    SCOPED_TRACE("seed=" + std::to_string(seed) + " at close (reproduce: CELLSIM_SEED=" +
                 std::to_string(seed) + ")");
    run.finish();
    if (::testing::Test::HasFailure()) return;
    votes += run.votes_closed_;
    meetings += run.meetings_closed_;
    oversized += run.oversized_frames();
    if (env_u64("CELLSIM_MODEL_VERBOSE", 0) != 0) {
      const auto& st = run.stats();
      std::printf(
          "seed %lu: %zu frames, %zu votes, %u quorum losses, quorate %.0f%% of steps, "
          "%.1f present on average, %lu acks, %lu refusals, %lu resumes, %lu timeouts\n",
          static_cast<unsigned long>(seed), run.frames(), run.votes_closed_, run.quorum_losses(),
          100.0 * static_cast<double>(st.quorate_steps) / static_cast<double>(steps),
          static_cast<double>(st.present_sum) / static_cast<double>(steps),
          static_cast<unsigned long>(st.acks), static_cast<unsigned long>(st.refusals),
          static_cast<unsigned long>(st.resumes), static_cast<unsigned long>(st.timeouts));
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "shard %d: %zu seeds x %lu steps, %zu meetings and %zu votes closed, %zu oversized frames, "
      "%.2f s\n",
      shard, seeds.size(), static_cast<unsigned long>(steps), meetings, votes, oversized, secs);
}

class ModelTest : public ::testing::TestWithParam<int> {};

// Long random sequences agree with the reference model after every step.
TEST_P(ModelTest, EngineMatchesModel) { run_seeds(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Shard, ModelTest, ::testing::Range(0, kShards));

}  // namespace
}  // namespace cellsim::engine::testing
