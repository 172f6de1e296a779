// Acknowledged means durable (DESIGN.md; issue 9), shown against the real
// cellmeetd binary run as a child process with --minutes-dir.
//
// KillNineCampaign: two cells on two shards; in each, six members cast
// ballots and the chair opens meetings, opens and closes votes (show of
// hands and secret), advances the agenda and grants the floor, while the
// test records every BallotAck and every announcement received. At a random
// moment (seeded: right after a burst of ballots is sent in a show-of-hands
// or a secret vote, right after a chair command is sent, or at a random
// time) the server gets SIGKILL, and is restarted on the same minutes folder.
// After each restart the test checks that nothing acknowledged or announced
// was lost: the recovered minutes hold every announced vote result (equal
// tallies), command and acknowledged ballot (every acked voter in
// open_vote.voters, show-of-hands choices in public_ballots, no public
// ballots for a secret vote, no voter who never sent a ballot);
// MeetingState.my_counted_votes of each reconnected member lists every vote
// it has an acked ballot in; resending an acked ballot is acknowledged as a
// duplicate; and when the vote open across the crash closes, VoteClosed
// counts exactly the ballots sent (each once). Minutes files of earlier
// crashes stay byte-identical, and meeting ids are never reused. At the end
// the meetings close normally and cellmeetd stops on SIGTERM.
//
// GracefulStop: SIGTERM with a vote open (show of hands in one cell, secret
// in the other) writes interrupted minutes listing every acked voter and no
// recovered minutes; after restart the vote goes on with those ballots.
//
// Reproduce a failure with the seed it prints: CELLSIM_CRASH_SEED=S
// (CELLSIM_CRASH_TRIALS=N sets the number of trials, default 60).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/net/crash_harness.h"
#include "tests/net/test_client.h"

#ifndef CELLSIM_CELLMEETD_PATH
#error "CELLSIM_CELLMEETD_PATH must name the cellmeetd binary"
#endif

namespace cellsim::net::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline constexpr int kDefaultTrials = 60;
inline constexpr uint64_t kChairId = 1;
inline constexpr uint64_t kMembersPerCell = 7;  // 1 chair + 6 officials
inline constexpr int kReplyTimeoutMs = 10'000;
inline constexpr int kAgendaItems = 6;
// A trial's kill comes at the latest this long after its workload started.
inline constexpr int kKillDeadlineMs = 4'000;

std::string cellmeetd_path() {
  if (const char* p = std::getenv("CELLSIM_CELLMEETD")) return p;
  return CELLSIM_CELLMEETD_PATH;
}

std::string work_dir(const std::string& name) {
  return ::testing::TempDir() + "cellsim_" + name + "_" + std::to_string(::getpid());
}

v1::Deployment crash_deployment(const std::vector<uint64_t>& cells) {
  v1::Deployment d;
  for (uint64_t cell : cells) {
    auto* r = d.add_cells();
    r->set_cell_id(cell);
    r->set_name("Crash cell " + std::to_string(cell));
    for (uint64_t m = 1; m <= kMembersPerCell; ++m) {
      auto* mem = r->add_members();
      mem->set_member_id(m);
      mem->set_name("member " + std::to_string(m));
      mem->set_standing(v1::STANDING_OFFICIAL);
      mem->set_role(m == kChairId ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    }
  }
  return d;
}

bool is_secret_kind(v1::VoteKind k) {
  return k == v1::VOTE_KIND_ELECTION || k == v1::VOTE_KIND_DISCIPLINE ||
         k == v1::VOTE_KIND_EXPULSION;
}

struct Stats {
  std::atomic<uint64_t> trials{0};
  std::atomic<uint64_t> ballots_acked{0};
  std::atomic<uint64_t> commands_announced{0};
  std::atomic<uint64_t> lost{0};
  std::atomic<uint64_t> duplicate_acks_after_restart{0};
  std::atomic<uint64_t> inflight_ballots_resent{0};
  std::atomic<uint64_t> votes_closed_across_crash_show{0};
  std::atomic<uint64_t> votes_closed_across_crash_secret{0};
  std::atomic<uint64_t> kills_vote_open_show{0};
  std::atomic<uint64_t> kills_vote_open_secret{0};
  std::atomic<uint64_t> kills_ballots_in_flight{0};
  std::atomic<uint64_t> kills_command_in_flight{0};
  std::atomic<uint64_t> recovered_files_checked{0};
  std::atomic<uint64_t> final_files_checked{0};
};

// Kills the server once: at a deadline, or sooner when armed.
class Killer {
 public:
  Killer(ChildProcess* child, int deadline_ms) : child_(child) {
    target_ = Clock::now() + std::chrono::milliseconds(deadline_ms);
    thread_ = std::thread([this] { loop(); });
  }
  ~Killer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      target_ = Clock::now();
    }
    cv_.notify_all();
    thread_.join();
  }
  // Kill `delay_us` from now (unless an earlier kill is due).
  void arm_after(int delay_us) {
    {
      std::lock_guard<std::mutex> l(mu_);
      target_ = std::min(target_, Clock::now() + std::chrono::microseconds(delay_us));
    }
    cv_.notify_all();
  }
  bool fired() const { return fired_.load(); }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (Clock::now() < target_) cv_.wait_until(l, target_);
    fired_.store(true);  // before the kill: a reader seeing EOF knows why
    child_->sigkill();
  }
  ChildProcess* child_;
  std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point target_;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

// Where a trial's kill is aimed.
struct Plan {
  enum class Mode { kShowBallots, kSecretBallots, kChairCommand, kTimer };
  Mode mode = Mode::kTimer;
  size_t cell_index = 0;  // the driver that arms the kill
  int after_ops = 0;      // ... at its first matching operation after this many
  int delay_us = 0;       // ... this long after the request is sent
};

const char* mode_name(Plan::Mode m) {
  switch (m) {
    case Plan::Mode::kShowBallots: return "show-of-hands ballots";
    case Plan::Mode::kSecretBallots: return "secret ballots";
    case Plan::Mode::kChairCommand: return "chair command";
    case Plan::Mode::kTimer: return "random time";
  }
  return "?";
}

enum class Res { kOk, kRefused, kLost };

// One cell: its clients and what the test knows was acknowledged or
// announced (the model), kept across restarts.
class CellDriver {
 public:
  struct Ballot {
    uint64_t ballot_id = 0;
    v1::Choice choice = v1::CHOICE_UNSPECIFIED;
    bool acked = false;
  };
  struct Vote {
    uint64_t id = 0;
    v1::VoteKind kind = v1::VOTE_KIND_UNSPECIFIED;
    bool secret = false;
    bool open_announced = false;   // VoteOpened received (else seen after a restart)
    bool closed = false;
    bool close_announced = false;  // VoteClosed received: `result`
    v1::VoteClosed result;
    bool crossed_crash = false;
    std::map<uint64_t, Ballot> ballots;  // by member: sent (acked, or in flight at a crash)
  };
  struct MeetingModel {
    uint64_t id = 0;
    bool open = false;             // opened (announced, or seen after a restart)
    bool open_announced = false;
    int32_t agenda_size = 0;
    int32_t agenda_index = -1;
    int32_t agenda_announced = -1;  // highest AgendaAdvanced received
    std::map<uint64_t, int> grants_announced;  // FloorGranted received, by member
    std::map<uint64_t, Vote> votes;
    uint64_t open_vote = 0;        // the vote open (announced or seen)
    uint64_t pending_vote = 0;     // OpenVote sent, not announced
    v1::VoteKind pending_kind = v1::VOTE_KIND_UNSPECIFIED;
  };
  // A meeting whose close was announced (or happened unannounced): its
  // final minutes file must hold these vote results.
  struct ClosedMeeting {
    uint64_t id = 0;
    std::map<uint64_t, Vote> votes;
  };

  CellDriver(uint64_t cell_id, size_t index, std::string key, uint64_t seed, Stats* stats,
             std::string cli_token)
      : cell_id_(cell_id), index_(index), key_(std::move(key)), rng_(seed), stats_(stats),
        cli_token_(std::move(cli_token)) {}

  void set_where(std::string where) { where_ = std::move(where); }
  const std::string& where() const { return where_; }
  uint64_t cell_id() const { return cell_id_; }
  const MeetingModel& meeting() const { return m_; }

  // Connects every member (Hello, JoinMeeting); *states gets each one's
  // MeetingState by member id. False (with a test failure) if one fails.
  bool connect_all(uint16_t port, std::map<uint64_t, v1::MeetingState>* states) {
    clients_.clear();
    for (uint64_t m = 1; m <= kMembersPerCell; ++m) {
      auto c = std::make_unique<TestClient>();
      const std::string token =
          (m == kChairId && !cli_token_.empty())
              ? cli_token_
              : make_token(key_, cell_id_, m, v1::STANDING_OFFICIAL,
                           m == kChairId ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
      v1::Envelope env;
      if (!c->connect(port) || !c->send(hello_envelope(cell_id_, m, token, next_rid())) ||
          !c->read_until(v1::Envelope::kWelcome, &env, kReplyTimeoutMs)) {
        ADD_FAILURE() << where_ << "cell " << cell_id_ << " member " << m << " could not log in";
        return false;
      }
      clients_[m] = std::move(c);
      if (join(m, &env) != Res::kOk) {
        ADD_FAILURE() << where_ << "cell " << cell_id_ << " member " << m << " could not join";
        return false;
      }
      (*states)[m] = env.meeting_state();
    }
    return true;
  }

  void disconnect_all() { clients_.clear(); }

  // After a restart: compares what the server recovered with the model,
  // then brings the model up to date (votes whose close or opening was in
  // flight) and resends every ballot of the vote still open. `new_files`:
  // the minutes files the crash and restart produced; `all_files`: every
  // minutes file now. `crashed`: recovered minutes expected (kill -9), else
  // the server stopped gracefully (interrupted minutes).
  void check_recovery(const std::map<uint64_t, v1::MeetingState>& states,
                      const std::map<std::string, std::string>& new_files,
                      const std::map<std::string, std::string>& all_files, bool crashed) {
    const v1::MeetingState& s = states.at(kChairId);
    for (const auto& [m, st] : states) {
      EXPECT_EQ(st.meeting_id(), s.meeting_id()) << where_ << "member " << m;
    }
    // Meeting ids never go back and are never reused.
    EXPECT_GE(s.meeting_id(), max_meeting_id_) << where_ << "cell " << cell_id_;
    check_final_minutes(all_files);

    const uint64_t mid = m_.id;
    if (mid != 0 && s.meeting_id() != mid) {
      // The meeting closed: its close was in flight at the crash.
      EXPECT_GT(s.meeting_id(), mid) << where_ << "cell " << cell_id_;
      if (m_.open) {
        ClosedMeeting cm;
        cm.id = mid;
        cm.votes = m_.votes;
        closed_.push_back(std::move(cm));
        check_final_minutes(all_files);
      }
      adopt_new_meeting(s);
    } else if (mid == 0) {
      adopt_new_meeting(s);
    } else {
      check_same_meeting(s, states, new_files, crashed);
    }
    max_meeting_id_ = std::max(max_meeting_id_, s.meeting_id());
  }

  // Runs random operations until the connection to the server is lost (the
  // kill). `killer` is armed per `plan` when this driver is the plan's.
  void run(Killer* killer, const Plan& plan) {
    killer_ = killer;
    plan_ = plan;
    armed_ = false;
    ops_ = 0;
    kill_context_ = KillContext::kNone;
    const auto hard_stop = Clock::now() + std::chrono::milliseconds(kKillDeadlineMs + 10'000);
    for (;;) {
      const Res r = step();
      if (r == Res::kLost) break;
      ++ops_;
      if (Clock::now() > hard_stop) {
        ADD_FAILURE() << where_ << "the server was never killed";
        break;
      }
    }
    if (!killer_->fired()) {
      ADD_FAILURE() << where_ << "cell " << cell_id_ << ": connection lost while the server ran";
    }
    if (m_.open_vote != 0) {
      (m_.votes[m_.open_vote].secret ? stats_->kills_vote_open_secret
                                     : stats_->kills_vote_open_show)++;
    }
    if (kill_context_ == KillContext::kBallots) ++stats_->kills_ballots_in_flight;
    if (kill_context_ == KillContext::kCommand) ++stats_->kills_command_in_flight;
    clients_.clear();
    killer_ = nullptr;
  }

  // Scripted operations (GracefulStop and the campaign's end).
  Res open_meeting();
  Res open_vote(v1::VoteKind kind);
  Res cast(const std::vector<uint64_t>& members);
  Res close_vote();
  Res close_meeting();

  // Checks the final minutes of every meeting whose close was announced.
  void check_final_minutes(const std::map<std::string, std::string>& files);
  size_t pending_final_minutes() const { return closed_.size(); }

 private:
  enum class KillContext { kNone, kBallots, kCommand };

  uint64_t next_rid() { return ++rid_; }

  // Waits for a frame with `want` (pushes skipped) or an Error answering
  // `rid`. kLost on EOF, a broken connection or timeout.
  Res await(uint64_t member, v1::Envelope::BodyCase want, uint64_t rid, v1::Envelope* out) {
    TestClient& c = *clients_.at(member);
    const auto deadline = Clock::now() + std::chrono::milliseconds(kReplyTimeoutMs);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        if (killer_ == nullptr || !killer_->fired()) {
          ADD_FAILURE() << where_ << "cell " << cell_id_ << " member " << member
                        << ": no answer within " << kReplyTimeoutMs << " ms";
        }
        return Res::kLost;
      }
      if (c.read(out, static_cast<int>(left.count())) != TestClient::Read::kFrame) {
        return Res::kLost;
      }
      // Direct answers (MeetingState to JoinMeeting, BallotAck) carry the
      // request id; a broadcast MeetingState (OpenMeeting) has none.
      const bool direct = want == v1::Envelope::kBallotAck || joining_;
      if (out->body_case() == want && (!direct || out->request_id() == rid)) return Res::kOk;
      if (out->body_case() == v1::Envelope::kError &&
          (out->request_id() == rid || out->error().code() < 100)) {
        return Res::kRefused;
      }
    }
  }

  Res send(uint64_t member, v1::Envelope env, uint64_t* rid) {
    *rid = next_rid();
    env.set_request_id(*rid);
    return clients_.at(member)->send(env) ? Res::kOk : Res::kLost;
  }

  Res join(uint64_t member, v1::Envelope* out) {
    v1::Envelope env;
    env.mutable_join_meeting();
    uint64_t rid = 0;
    if (send(member, env, &rid) != Res::kOk) return Res::kLost;
    joining_ = true;
    const Res r = await(member, v1::Envelope::kMeetingState, rid, out);
    joining_ = false;
    return r;
  }

  bool killing_here(Plan::Mode op) {
    return killer_ != nullptr && !armed_ && plan_.cell_index == index_ &&
           ops_ >= plan_.after_ops && plan_.mode == op;
  }
  void arm() {
    armed_ = true;
    killer_->arm_after(plan_.delay_us);
  }

  Res refused(const char* what, const v1::Envelope& env) {
    ADD_FAILURE() << where_ << "cell " << cell_id_ << ": " << what
                  << " refused: " << env.ShortDebugString();
    return Res::kRefused;
  }

  Res chair_command(v1::Envelope env, v1::Envelope::BodyCase want, v1::Envelope* out) {
    uint64_t rid = 0;
    if (send(kChairId, std::move(env), &rid) != Res::kOk) return Res::kLost;
    if (killing_here(Plan::Mode::kChairCommand)) arm();
    const Res r = await(kChairId, want, rid, out);
    if (r == Res::kLost && killer_ != nullptr && killer_->fired()) {
      kill_context_ = KillContext::kCommand;
    }
    return r;
  }

  Res step();
  Res grant_floor(uint64_t member);
  Res advance_agenda();
  Res rejoin_all();
  void adopt_new_meeting(const v1::MeetingState& s) {
    m_ = MeetingModel{};
    m_.id = s.meeting_id();
    m_.open = s.phase() == v1::MEETING_PHASE_OPEN;
    m_.agenda_size = s.agenda_size();
    m_.agenda_index = s.agenda_index();
    if (s.open_vote_id() != 0) {
      Vote& v = m_.votes[s.open_vote_id()];
      v.id = s.open_vote_id();
      v.kind = s.open_vote_kind();
      v.secret = s.open_vote_secret();
      m_.open_vote = v.id;
    }
  }
  void check_same_meeting(const v1::MeetingState& s,
                          const std::map<uint64_t, v1::MeetingState>& states,
                          const std::map<std::string, std::string>& new_files, bool crashed);
  void check_record(const v1::Minutes& minutes, const std::string& file, bool vote_still_open);
  void check_closed_vote_exact(const Vote& v, const v1::VoteClosed& c);
  void lost(const std::string& what) {
    ++stats_->lost;
    ADD_FAILURE() << where_ << "cell " << cell_id_ << " meeting " << m_.id << ": LOST " << what;
  }

  const uint64_t cell_id_;
  const size_t index_;
  const std::string key_;
  std::mt19937_64 rng_;
  Stats* const stats_;
  const std::string cli_token_;  // the chair's token from `cellmeetd mint-token`
  std::string where_;
  std::map<uint64_t, std::unique_ptr<TestClient>> clients_;
  uint64_t rid_ = 0;
  MeetingModel m_;
  std::vector<ClosedMeeting> closed_;
  std::set<uint64_t> final_meetings_seen_;
  uint64_t max_meeting_id_ = 0;
  uint64_t next_vote_id_ = 1;
  uint64_t next_ballot_id_ = 1000;
  Killer* killer_ = nullptr;
  Plan plan_;
  bool armed_ = false;
  int ops_ = 0;
  KillContext kill_context_ = KillContext::kNone;
  bool joining_ = false;  // await(): a MeetingState must answer the JoinMeeting
};

Res CellDriver::open_meeting() {
  v1::Envelope env, out;
  auto* o = env.mutable_open_meeting();
  o->set_reason("crash campaign meeting");
  o->set_minute_taker_id(2);
  for (int i = 1; i <= kAgendaItems; ++i) o->add_agenda("item " + std::to_string(i));
  const Res r = chair_command(env, v1::Envelope::kMeetingState, &out);
  if (r == Res::kRefused) return refused("OpenMeeting", out);
  if (r != Res::kOk) return r;
  EXPECT_EQ(out.meeting_state().phase(), v1::MEETING_PHASE_OPEN) << where_;
  EXPECT_EQ(out.meeting_state().meeting_id(), m_.id) << where_;
  m_.open = m_.open_announced = true;
  m_.agenda_size = kAgendaItems;
  m_.agenda_index = out.meeting_state().agenda_index();
  ++stats_->commands_announced;
  return Res::kOk;
}

Res CellDriver::open_vote(v1::VoteKind kind) {
  v1::Envelope env, out;
  const uint64_t id = next_vote_id_++;
  env.mutable_open_vote()->set_vote_id(id);
  env.mutable_open_vote()->set_kind(kind);
  env.mutable_open_vote()->set_subject("motion " + std::to_string(id));
  m_.pending_vote = id;
  m_.pending_kind = kind;
  const Res r = chair_command(env, v1::Envelope::kVoteOpened, &out);
  if (r == Res::kRefused) return refused("OpenVote", out);
  if (r != Res::kOk) return r;
  m_.pending_vote = 0;
  EXPECT_EQ(out.vote_opened().vote_id(), id) << where_;
  const bool secret = out.vote_opened().method() == v1::VOTE_METHOD_SECRET_BALLOT;
  EXPECT_EQ(secret, is_secret_kind(kind)) << where_;
  Vote& v = m_.votes[id];
  v.id = id;
  v.kind = kind;
  v.secret = secret;
  v.open_announced = true;
  m_.open_vote = id;
  ++stats_->commands_announced;
  return Res::kOk;
}

Res CellDriver::cast(const std::vector<uint64_t>& members) {
  Vote& v = m_.votes.at(m_.open_vote);
  std::vector<std::pair<uint64_t, uint64_t>> sent;  // (member, request id)
  for (uint64_t m : members) {
    Ballot& b = v.ballots[m];
    if (b.ballot_id == 0) {
      b.ballot_id = next_ballot_id_++;
      b.choice = static_cast<v1::Choice>(1 + rng_() % 3);
    }
    v1::Envelope env;
    auto* cb = env.mutable_cast_ballot();
    cb->set_vote_id(v.id);
    cb->set_choice(b.choice);
    cb->set_ballot_id(b.ballot_id);
    uint64_t rid = 0;
    if (send(m, env, &rid) != Res::kOk) break;  // the server is gone: the rest are never sent
    sent.emplace_back(m, rid);
  }
  if (killing_here(v.secret ? Plan::Mode::kSecretBallots : Plan::Mode::kShowBallots)) arm();
  // Every member's answer is read, also after one connection broke: acks
  // already received count.
  Res result = sent.size() == members.size() ? Res::kOk : Res::kLost;
  for (const auto& [m, rid] : sent) {
    v1::Envelope out;
    const Res r = await(m, v1::Envelope::kBallotAck, rid, &out);
    Ballot& b = v.ballots[m];
    if (r == Res::kOk) {
      EXPECT_EQ(out.ballot_ack().vote_id(), v.id) << where_;
      EXPECT_EQ(out.ballot_ack().ballot_id(), b.ballot_id) << where_;
      if (b.acked) {
        EXPECT_TRUE(out.ballot_ack().duplicate())
            << where_ << "cell " << cell_id_ << " vote " << v.id << " member " << m
            << ": a resent acknowledged ballot was not acknowledged as a duplicate";
        ++stats_->duplicate_acks_after_restart;
      } else {
        EXPECT_FALSE(out.ballot_ack().duplicate() && !v.crossed_crash) << where_;
        b.acked = true;
        ++stats_->ballots_acked;
      }
    } else if (r == Res::kRefused) {
      refused("CastBallot", out);
      result = Res::kRefused;
    } else {
      result = Res::kLost;
    }
  }
  if (result == Res::kLost && killer_ != nullptr && killer_->fired()) {
    kill_context_ = KillContext::kBallots;
  }
  return result;
}

void CellDriver::check_closed_vote_exact(const Vote& v, const v1::VoteClosed& c) {
  // Every ballot sent is acknowledged by now: the tally is exact.
  std::vector<uint64_t> voters;
  v1::Tally t;
  for (const auto& [m, b] : v.ballots) {
    if (!b.acked) continue;
    voters.push_back(m);
    if (b.choice == v1::CHOICE_YES) t.set_yes(t.yes() + 1);
    if (b.choice == v1::CHOICE_NO) t.set_no(t.no() + 1);
    if (b.choice == v1::CHOICE_ABSTAIN) t.set_abstain(t.abstain() + 1);
  }
  const std::vector<uint64_t> got(c.voters().begin(), c.voters().end());
  if (got != voters || c.tally().SerializeAsString() != t.SerializeAsString()) {
    lost("vote " + std::to_string(v.id) + (v.crossed_crash ? " (open across a crash)" : "") +
         ": VoteClosed " + c.ShortDebugString() + " but the acked ballots give " +
         t.ShortDebugString() + " from " + std::to_string(voters.size()) + " voters");
  }
}

Res CellDriver::close_vote() {
  Vote& v = m_.votes.at(m_.open_vote);
  v1::Envelope env, out;
  env.mutable_close_vote()->set_vote_id(v.id);
  const Res r = chair_command(env, v1::Envelope::kVoteClosed, &out);
  if (r == Res::kRefused) return refused("CloseVote", out);
  if (r != Res::kOk) return r;
  EXPECT_EQ(out.vote_closed().vote_id(), v.id) << where_;
  check_closed_vote_exact(v, out.vote_closed());
  if (v.crossed_crash) {
    (v.secret ? stats_->votes_closed_across_crash_secret : stats_->votes_closed_across_crash_show)++;
  }
  v.closed = v.close_announced = true;
  v.result = out.vote_closed();
  m_.open_vote = 0;
  ++stats_->commands_announced;
  return Res::kOk;
}

Res CellDriver::grant_floor(uint64_t member) {
  v1::Envelope env, out;
  env.mutable_grant_floor()->set_member_id(member);
  const Res r = chair_command(env, v1::Envelope::kFloorGranted, &out);
  if (r == Res::kRefused) return refused("GrantFloor", out);
  if (r != Res::kOk) return r;
  EXPECT_EQ(out.floor_granted().member_id(), member) << where_;
  ++m_.grants_announced[member];
  ++stats_->commands_announced;
  return Res::kOk;
}

Res CellDriver::advance_agenda() {
  v1::Envelope env, out;
  env.mutable_advance_agenda();
  const Res r = chair_command(env, v1::Envelope::kAgendaAdvanced, &out);
  if (r == Res::kRefused) return refused("AdvanceAgenda", out);
  if (r != Res::kOk) return r;
  EXPECT_EQ(out.agenda_advanced().index(), m_.agenda_index + 1) << where_;
  m_.agenda_index = m_.agenda_announced = out.agenda_advanced().index();
  ++stats_->commands_announced;
  return Res::kOk;
}

Res CellDriver::rejoin_all() {
  std::map<uint64_t, v1::MeetingState> states;
  for (uint64_t m = 1; m <= kMembersPerCell; ++m) {
    v1::Envelope out;
    const Res r = join(m, &out);
    if (r != Res::kOk) return r == Res::kRefused ? refused("JoinMeeting", out) : r;
    states[m] = out.meeting_state();
  }
  const v1::MeetingState& s = states.at(kChairId);
  EXPECT_GT(s.meeting_id(), max_meeting_id_) << where_ << "cell " << cell_id_
                                              << ": a meeting id was reused";
  max_meeting_id_ = std::max(max_meeting_id_, s.meeting_id());
  adopt_new_meeting(s);
  return Res::kOk;
}

Res CellDriver::close_meeting() {
  v1::Envelope env, out;
  env.mutable_close_meeting();
  const Res r = chair_command(env, v1::Envelope::kMeetingClosed, &out);
  if (r == Res::kRefused) return refused("CloseMeeting", out);
  if (r != Res::kOk) return r;
  ++stats_->commands_announced;
  const v1::Minutes& mins = out.meeting_closed().minutes();
  EXPECT_EQ(mins.meeting_id(), m_.id) << where_;
  EXPECT_FALSE(mins.interrupted()) << where_;
  for (const auto& [id, v] : m_.votes) {
    if (!v.close_announced) continue;
    bool found = false;
    for (const auto& rec : mins.votes()) {
      if (rec.vote_id() != id) continue;
      found = true;
      EXPECT_EQ(rec.tally().SerializeAsString(), v.result.tally().SerializeAsString()) << where_;
    }
    if (!found) lost("vote " + std::to_string(id) + " missing from MeetingClosed's minutes");
  }
  ClosedMeeting cm;
  cm.id = m_.id;
  cm.votes = m_.votes;
  closed_.push_back(std::move(cm));
  m_.open = false;
  return rejoin_all();
}

Res CellDriver::step() {
  if (!m_.open) return open_meeting();
  std::uniform_int_distribution<int> pct(0, 99);
  const int r = pct(rng_);
  if (m_.open_vote != 0) {
    const Vote& v = m_.votes.at(m_.open_vote);
    std::vector<uint64_t> unvoted;
    for (uint64_t m = 2; m <= kMembersPerCell; ++m) {
      if (!v.ballots.count(m)) unvoted.push_back(m);
    }
    if (!unvoted.empty() && r < 65) {
      std::shuffle(unvoted.begin(), unvoted.end(), rng_);
      unvoted.resize(1 + rng_() % unvoted.size());
      return cast(unvoted);
    }
    if (r < 92) return close_vote();
    return grant_floor(2 + rng_() % (kMembersPerCell - 1));
  }
  const bool plan_is_mine = plan_.cell_index == index_;
  if (r < 50 || (r >= 92 && m_.votes.size() < 4)) {
    static constexpr v1::VoteKind kShow[] = {v1::VOTE_KIND_RESOLUTION, v1::VOTE_KIND_ADMISSION};
    static constexpr v1::VoteKind kSecret[] = {v1::VOTE_KIND_ELECTION, v1::VOTE_KIND_DISCIPLINE};
    bool secret = rng_() % 2 == 0;
    if (plan_is_mine && plan_.mode == Plan::Mode::kShowBallots && pct(rng_) < 85) secret = false;
    if (plan_is_mine && plan_.mode == Plan::Mode::kSecretBallots && pct(rng_) < 85) secret = true;
    return open_vote(secret ? kSecret[rng_() % 2] : kShow[rng_() % 2]);
  }
  if (r < 70 && m_.agenda_index + 1 < m_.agenda_size) return advance_agenda();
  if (r < 92) return grant_floor(2 + rng_() % (kMembersPerCell - 1));
  return close_meeting();
}

void CellDriver::check_record(const v1::Minutes& minutes, const std::string& file,
                              bool vote_still_open) {
  const std::string in = " in " + file;
  EXPECT_EQ(minutes.cell_id(), cell_id_) << where_ << file;
  EXPECT_EQ(minutes.meeting_id(), m_.id) << where_ << file;
  auto proceeding = [&](const std::string& prefix, uint64_t member) {
    int n = 0;
    for (const auto& p : minutes.proceedings()) {
      if (p.what().rfind(prefix, 0) == 0 && (member == 0 || p.member_id() == member)) ++n;
    }
    return n;
  };
  if (m_.open_announced && proceeding("meeting opened", 0) == 0) lost("OpenMeeting" + in);
  if (m_.agenda_announced >= 0 &&
      proceeding("agenda item " + std::to_string(m_.agenda_announced + 1) + ":", 0) == 0) {
    lost("AgendaAdvanced to index " + std::to_string(m_.agenda_announced) + in);
  }
  for (const auto& [member, n] : m_.grants_announced) {
    if (proceeding("speaks", member) < n) {
      lost(std::to_string(n) + " FloorGranted to member " + std::to_string(member) + in);
    }
  }
  for (const auto& vote : m_.votes) {
    const uint64_t id = vote.first;
    const auto& v = vote.second;  // a plain reference: lambdas below capture it (clang 14)
    if (v.open_announced && proceeding("vote " + std::to_string(id) + " opened", 0) == 0) {
      lost("VoteOpened " + std::to_string(id) + in);
    }
    const v1::VoteRecord* rec = nullptr;
    for (const auto& r : minutes.votes()) {
      if (r.vote_id() == id) rec = &r;
    }
    // Voters the record may hold: members who sent a ballot; must hold:
    // those acknowledged.
    auto check_voters = [&](const google::protobuf::RepeatedField<uint64_t>& voters,
                            const google::protobuf::RepeatedPtrField<v1::PublicBallot>& pub,
                            const std::string& what) {
      std::set<uint64_t> got(voters.begin(), voters.end());
      EXPECT_EQ(got.size(), static_cast<size_t>(voters.size())) << where_ << what << in;
      for (const auto& [m, b] : v.ballots) {
        if (b.acked && !got.count(m)) {
          lost("acked ballot of member " + std::to_string(m) + " in " + what + in);
        }
      }
      for (uint64_t m : got) {
        EXPECT_TRUE(v.ballots.count(m))
            << where_ << what << in << " lists member " << m << " who sent no ballot";
      }
      if (v.secret) {
        EXPECT_EQ(pub.size(), 0) << where_ << "secret " << what << in << " has public ballots";
      } else {
        std::map<uint64_t, v1::Choice> choices;
        for (const auto& p : pub) choices[p.member_id()] = p.choice();
        for (const auto& [m, b] : v.ballots) {
          if (b.acked && choices[m] != b.choice) {
            lost("show-of-hands choice of member " + std::to_string(m) + " in " + what + in);
          }
        }
        EXPECT_EQ(pub.size(), voters.size()) << where_ << what << in;
      }
    };
    if (v.close_announced) {
      if (rec == nullptr) {
        lost("VoteClosed " + std::to_string(id) + in);
        continue;
      }
      if (rec->tally().SerializeAsString() != v.result.tally().SerializeAsString() ||
          rec->passed() != v.result.passed() || rec->valid() != v.result.valid()) {
        lost("vote " + std::to_string(id) + " result: announced " + v.result.ShortDebugString() +
             ", minuted " + rec->ShortDebugString() + in);
      }
      EXPECT_TRUE(std::equal(rec->voters().begin(), rec->voters().end(), v.result.voters().begin(),
                             v.result.voters().end()))
          << where_ << "vote " << id << in;
      continue;
    }
    if (id == m_.open_vote && vote_still_open) {
      if (!minutes.has_open_vote() || minutes.open_vote().vote_id() != id) {
        lost("open vote " + std::to_string(id) + in + " (open_vote is " +
             minutes.open_vote().ShortDebugString() + ")");
        continue;
      }
      const auto& ov = minutes.open_vote();
      EXPECT_EQ(ov.method() == v1::VOTE_METHOD_SECRET_BALLOT, v.secret) << where_ << in;
      EXPECT_EQ(ov.ballots_counted(), static_cast<uint32_t>(ov.voters_size())) << where_ << in;
      check_voters(ov.voters(), ov.public_ballots(), "open_vote " + std::to_string(id));
    } else if (v.closed || id == m_.open_vote) {
      // Closed without announcement (its CloseVote was in flight).
      if (rec == nullptr) {
        lost("vote " + std::to_string(id) + " (closed at the crash)" + in);
        continue;
      }
      const auto& t = rec->tally();
      EXPECT_EQ(t.yes() + t.no() + t.abstain(), static_cast<uint32_t>(rec->voters_size()))
          << where_ << in;
      check_voters(rec->voters(), rec->public_ballots(), "vote " + std::to_string(id));
    }
  }
}

void CellDriver::check_same_meeting(const v1::MeetingState& s,
                                    const std::map<uint64_t, v1::MeetingState>& states,
                                    const std::map<std::string, std::string>& new_files,
                                    bool crashed) {
  if (m_.open_announced && s.phase() != v1::MEETING_PHASE_OPEN) {
    lost("the meeting's opening (phase " + v1::MeetingPhase_Name(s.phase()) + ")");
  }
  if (!m_.open && s.phase() == v1::MEETING_PHASE_OPEN) {  // OpenMeeting was in flight
    m_.open = true;
    m_.agenda_size = s.agenda_size();
  }
  if (s.agenda_index() < m_.agenda_announced) {
    lost("AgendaAdvanced to " + std::to_string(m_.agenda_announced) + " (now " +
         std::to_string(s.agenda_index()) + ")");
  }
  m_.agenda_index = s.agenda_index();
  bool vote_still_open = false;
  if (m_.open_vote != 0) {
    Vote& v = m_.votes.at(m_.open_vote);
    if (s.open_vote_id() == v.id) {
      vote_still_open = true;
    } else {
      v.closed = true;  // its CloseVote was in flight and is durable
      EXPECT_EQ(s.open_vote_id(), 0u) << where_;
    }
  }
  if (m_.pending_vote != 0 && s.open_vote_id() == m_.pending_vote) {  // OpenVote in flight
    Vote& v = m_.votes[m_.pending_vote];
    v.id = m_.pending_vote;
    v.kind = s.open_vote_kind();
    v.secret = s.open_vote_secret();
    EXPECT_EQ(v.kind, m_.pending_kind) << where_;
    m_.open_vote = v.id;
    vote_still_open = true;
  }
  m_.pending_vote = 0;
  if (s.open_vote_id() != 0 && s.open_vote_id() != m_.open_vote) {
    ADD_FAILURE() << where_ << "cell " << cell_id_ << ": vote " << s.open_vote_id()
                  << " is open, which was never opened";
  }

  // The record: recovered minutes after a crash, interrupted ones after a stop.
  if (m_.open) {
    std::vector<std::string> mine;
    for (const auto& [name, bytes] : new_files) {
      MinutesName n;
      if (parse_minutes_name(name, &n) && n.cell_id == cell_id_ && n.meeting_id == m_.id) {
        mine.push_back(name);
      }
    }
    if (mine.size() != 1) {
      lost(std::to_string(mine.size()) + " new minutes files for the open meeting (want 1)");
    }
    for (const auto& name : mine) {
      MinutesName n;
      parse_minutes_name(name, &n);
      EXPECT_EQ(n.recovered, crashed) << where_ << name;
      v1::Minutes minutes;
      std::string why;
      if (!parse_minutes_json(new_files.at(name), &minutes, &why)) {
        ADD_FAILURE() << where_ << name << ": " << why;
        continue;
      }
      EXPECT_TRUE(minutes.interrupted()) << where_ << name;
      EXPECT_EQ(minutes.recovered(), crashed) << where_ << name;
      check_record(minutes, name, vote_still_open);
      ++stats_->recovered_files_checked;
    }
  }

  // Each member's counted votes.
  for (uint64_t m = 2; m <= kMembersPerCell; ++m) {
    const auto& counted = states.at(m).my_counted_votes();
    for (const auto& [id, v] : m_.votes) {
      auto it = v.ballots.find(m);
      if (it == v.ballots.end() || !it->second.acked) continue;
      if (std::find(counted.begin(), counted.end(), id) == counted.end()) {
        lost("member " + std::to_string(m) + "'s acked ballot in vote " + std::to_string(id) +
             " (not in my_counted_votes)");
      }
    }
  }

  // Ballots of votes closed unannounced that were in flight: unknowable.
  for (auto& [id, v] : m_.votes) {
    if (id == m_.open_vote && vote_still_open) continue;
    for (auto it = v.ballots.begin(); it != v.ballots.end();) {
      it = it->second.acked ? std::next(it) : v.ballots.erase(it);
    }
  }
  if (!vote_still_open) {
    m_.open_vote = 0;
    return;
  }
  // The vote goes on: every ballot sent is sent again (same ballot id and
  // choice): acked ones must come back as duplicates.
  Vote& v = m_.votes.at(m_.open_vote);
  v.crossed_crash = true;
  std::vector<uint64_t> again;
  for (const auto& [m, b] : v.ballots) {
    again.push_back(m);
    if (!b.acked) ++stats_->inflight_ballots_resent;
  }
  if (!again.empty()) {
    Killer* k = killer_;
    killer_ = nullptr;  // no kill armed while checking
    EXPECT_EQ(cast(again), Res::kOk) << where_;
    killer_ = k;
  }
}

void CellDriver::check_final_minutes(const std::map<std::string, std::string>& files) {
  // Final minutes: at most one file per meeting id (ids never reused).
  std::map<uint64_t, int> finals;
  for (const auto& [name, bytes] : files) {
    MinutesName n;
    if (!parse_minutes_name(name, &n) || n.cell_id != cell_id_ || n.recovered) continue;
    v1::Minutes minutes;
    std::string why;
    if (parse_minutes_json(bytes, &minutes, &why) && !minutes.interrupted()) ++finals[n.meeting_id];
  }
  for (const auto& [id, n] : finals) {
    EXPECT_EQ(n, 1) << where_ << "cell " << cell_id_ << " meeting " << id
                    << " has several final minutes files";
  }
  for (auto it = closed_.begin(); it != closed_.end();) {
    const ClosedMeeting& cm = *it;
    const v1::Minutes* found = nullptr;
    v1::Minutes minutes;
    std::string found_name;
    for (const auto& [name, bytes] : files) {
      MinutesName n;
      std::string why;
      if (!parse_minutes_name(name, &n) || n.cell_id != cell_id_ || n.meeting_id != cm.id ||
          n.recovered || !parse_minutes_json(bytes, &minutes, &why) || minutes.interrupted()) {
        continue;
      }
      found = &minutes;
      found_name = name;
      break;
    }
    if (found == nullptr) {
      ++it;  // not yet written (checked again after the next restart)
      continue;
    }
    for (const auto& [id, v] : cm.votes) {
      if (!v.close_announced) continue;
      bool ok = false;
      for (const auto& rec : found->votes()) {
        ok = ok || (rec.vote_id() == id &&
                    rec.tally().SerializeAsString() == v.result.tally().SerializeAsString());
      }
      if (!ok) lost("vote " + std::to_string(id) + " in final minutes " + found_name);
    }
    ++stats_->final_files_checked;
    it = closed_.erase(it);
  }
}

// Every earlier minutes file is still there, byte-identical.
void expect_files_kept(const std::map<std::string, std::string>& before,
                       const std::map<std::string, std::string>& now, const std::string& where,
                       Stats* stats) {
  for (const auto& [name, bytes] : before) {
    auto it = now.find(name);
    if (it == now.end()) {
      ++stats->lost;
      ADD_FAILURE() << where << "LOST minutes file " << name;
    } else if (it->second != bytes) {
      ++stats->lost;
      ADD_FAILURE() << where << "minutes file " << name << " changed";
    }
  }
}

std::map<std::string, std::string> new_files(const std::map<std::string, std::string>& before,
                                             const std::map<std::string, std::string>& now) {
  std::map<std::string, std::string> out;
  for (const auto& [name, bytes] : now) {
    if (!before.count(name)) out[name] = bytes;
  }
  return out;
}

uint64_t seed_from_env() {
  if (const char* s = std::getenv("CELLSIM_CRASH_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
}

int trials_from_env() {
  if (const char* s = std::getenv("CELLSIM_CRASH_TRIALS")) return std::max(1, std::atoi(s));
  return kDefaultTrials;
}

TEST(CellmeetdCrashTest, KillNineCampaignLosesNothingAcknowledgedOrAnnounced) {
  ::signal(SIGPIPE, SIG_IGN);
  const uint64_t seed = seed_from_env();
  const int trials = trials_from_env();
  std::cout << "net_crash_test: seed " << seed << " (CELLSIM_CRASH_SEED=" << seed
            << " reproduces), " << trials << " trials" << std::endl;
  const std::vector<uint64_t> cells = {1, 2};  // shards 1 and 0 of two
  ServerFiles files;
  std::string why;
  ASSERT_TRUE(make_server_files(cellmeetd_path(), work_dir("crash"), crash_deployment(cells),
                                &files, &why))
      << why;
  // The chair of the first cell logs in with a token from `cellmeetd mint-token`.
  const auto minted = run_capture({files.binary, "mint-token", "--key", files.key_file,
                                   "--deployment", files.deployment_file, "--cell", "1",
                                   "--member", "1", "--ttl-s", "3600"});
  ASSERT_TRUE(minted.has_value());
  std::string cli_token;
  {
    std::string hex = *minted;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      cli_token.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
  }

  Stats stats;
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<CellDriver>> drivers;
  for (size_t i = 0; i < cells.size(); ++i) {
    drivers.push_back(std::make_unique<CellDriver>(cells[i], i, files.key, rng(), &stats,
                                                   i == 0 ? cli_token : std::string()));
  }
  ChildProcess server;
  std::map<std::string, std::string> known;  // every minutes file seen, by name
  const auto started = Clock::now();

  for (int trial = 0; trial <= trials; ++trial) {
    const std::string where = "[seed " + std::to_string(seed) + " trial " +
                              std::to_string(trial) + "] ";
    uint16_t port = 0;
    ASSERT_TRUE(start_server(files, 2, &server, &port, &why)) << where << why;
    const auto now_files = read_minutes_files(files.minutes_dir);
    expect_files_kept(known, now_files, where, &stats);
    const auto fresh = new_files(known, now_files);
    for (auto& d : drivers) {
      d->set_where(where);
      std::map<uint64_t, v1::MeetingState> states;
      ASSERT_TRUE(d->connect_all(port, &states)) << file_tail(files.log_file);
      d->check_recovery(states, fresh, now_files, /*crashed=*/trial > 0);
    }
    known = now_files;
    if (::testing::Test::HasFatalFailure()) return;

    if (trial == trials) {
      // The end: close the votes and meetings normally, stop on SIGTERM.
      for (auto& d : drivers) {
        if (d->meeting().open_vote != 0) {
          EXPECT_EQ(d->close_vote(), Res::kOk) << where;
        }
        if (d->meeting().open) {
          EXPECT_EQ(d->close_meeting(), Res::kOk) << where;
        }
        d->disconnect_all();
      }
      server.signal(SIGTERM);
      const auto status = server.wait(kServerStopTimeoutMs);
      ASSERT_TRUE(status.has_value()) << where << "cellmeetd did not stop on SIGTERM";
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << where << *status;
      const auto end_files = read_minutes_files(files.minutes_dir);
      expect_files_kept(known, end_files, where, &stats);
      for (auto& d : drivers) {
        d->check_final_minutes(end_files);
        EXPECT_EQ(d->pending_final_minutes(), 0u) << where << "final minutes missing";
      }
      break;
    }

    Plan plan;
    plan.mode = static_cast<Plan::Mode>(trial % 4);
    plan.cell_index = static_cast<size_t>(rng() % cells.size());
    plan.after_ops = static_cast<int>(rng() % 20);
    // Mostly within the few milliseconds of a commit; sometimes right away.
    plan.delay_us = rng() % 3 == 0 ? static_cast<int>(rng() % 300) : static_cast<int>(rng() % 8000);
    const int deadline_ms = plan.mode == Plan::Mode::kTimer ? 20 + static_cast<int>(rng() % 600)
                                                            : kKillDeadlineMs;
    {
      Killer killer(&server, deadline_ms);
      std::vector<std::thread> threads;
      for (auto& d : drivers) {
        CellDriver* dp = d.get();
        threads.emplace_back([dp, &killer, plan] { dp->run(&killer, plan); });
      }
      for (auto& t : threads) t.join();
    }
    const auto status = server.wait(kServerStopTimeoutMs);
    ASSERT_TRUE(status.has_value()) << where << "cellmeetd did not die";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << where << "cellmeetd ended otherwise than by SIGKILL (" << *status
        << "): " << file_tail(files.log_file);
    ++stats.trials;
    if (::testing::Test::HasFailure()) {
      std::cout << where << "failed; kill aimed at " << mode_name(plan.mode) << " in cell "
                << cells[plan.cell_index] << " after " << plan.after_ops << " ops + "
                << plan.delay_us << " us; server log: " << files.log_file << std::endl;
      break;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "net_crash_test: " << stats.trials << " kill -9 trials in " << secs
            << " s (seed " << seed << "): " << stats.ballots_acked << " ballots acked, "
            << stats.commands_announced << " commands announced, lost=" << stats.lost
            << "; cells at the kills (2 per trial): with a vote open "
            << stats.kills_vote_open_show << " show of hands + " << stats.kills_vote_open_secret
            << " secret, with ballots in flight " << stats.kills_ballots_in_flight
            << ", with a chair command in flight " << stats.kills_command_in_flight
            << "; votes closed after being open across a crash: "
            << stats.votes_closed_across_crash_show << " show of hands, "
            << stats.votes_closed_across_crash_secret << " secret; duplicate acks on resend "
            << stats.duplicate_acks_after_restart << ", in-flight ballots resent "
            << stats.inflight_ballots_resent << "; recovered minutes checked "
            << stats.recovered_files_checked << ", final minutes checked "
            << stats.final_files_checked << std::endl;
  EXPECT_EQ(stats.lost, 0u);
  if (!::testing::Test::HasFailure()) {
    EXPECT_GE(stats.trials, 20u);
    EXPECT_GT(stats.kills_vote_open_show, 0u);
    EXPECT_GT(stats.kills_vote_open_secret, 0u);
    EXPECT_GT(stats.votes_closed_across_crash_show + stats.votes_closed_across_crash_secret, 0u);
    EXPECT_GT(stats.duplicate_acks_after_restart, 0u);
    EXPECT_GT(stats.recovered_files_checked, 0u);
    std::error_code ec;
    fs::remove_all(files.dir, ec);
  }
}

TEST(CellmeetdCrashTest, GracefulStopWithAVoteOpenKeepsEveryAcknowledgedBallot) {
  ::signal(SIGPIPE, SIG_IGN);
  const std::vector<uint64_t> cells = {1, 2};
  ServerFiles files;
  std::string why;
  ASSERT_TRUE(make_server_files(cellmeetd_path(), work_dir("stop"), crash_deployment(cells),
                                &files, &why))
      << why;
  Stats stats;
  std::vector<std::unique_ptr<CellDriver>> drivers;
  for (size_t i = 0; i < cells.size(); ++i) {
    drivers.push_back(std::make_unique<CellDriver>(cells[i], i, files.key, 42 + i, &stats, ""));
    drivers.back()->set_where("[graceful stop] ");
  }
  ChildProcess server;
  uint16_t port = 0;
  ASSERT_TRUE(start_server(files, 2, &server, &port, &why)) << why;
  for (size_t i = 0; i < drivers.size(); ++i) {
    CellDriver& d = *drivers[i];
    std::map<uint64_t, v1::MeetingState> states;
    ASSERT_TRUE(d.connect_all(port, &states));
    d.check_recovery(states, {}, {}, false);
    ASSERT_EQ(d.open_meeting(), Res::kOk);
    // Cell 1: show of hands; cell 2: secret ballot.
    ASSERT_EQ(d.open_vote(i == 0 ? v1::VOTE_KIND_RESOLUTION : v1::VOTE_KIND_ELECTION), Res::kOk);
    ASSERT_EQ(d.cast({2, 3, 4}), Res::kOk);
  }
  server.signal(SIGTERM);
  const auto status = server.wait(kServerStopTimeoutMs);
  ASSERT_TRUE(status.has_value()) << "cellmeetd did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  for (auto& d : drivers) d->disconnect_all();
  const auto stopped_files = read_minutes_files(files.minutes_dir);
  for (const auto& [name, bytes] : stopped_files) {
    MinutesName n;
    ASSERT_TRUE(parse_minutes_name(name, &n));
    EXPECT_FALSE(n.recovered) << name << ": recovered minutes after a graceful stop";
  }

  ASSERT_TRUE(start_server(files, 2, &server, &port, &why)) << why;
  const auto restarted_files = read_minutes_files(files.minutes_dir);
  expect_files_kept(stopped_files, restarted_files, "[graceful stop] ", &stats);
  EXPECT_TRUE(new_files(stopped_files, restarted_files).empty())
      << "minutes written at the start after a graceful stop";
  for (auto& dp : drivers) {
    CellDriver& d = *dp;
    std::map<uint64_t, v1::MeetingState> states;
    ASSERT_TRUE(d.connect_all(port, &states));
    // The interrupted minutes (written at the stop) hold the open vote with
    // voters 2, 3, 4; the vote goes on, and resent ballots are duplicates.
    d.check_recovery(states, stopped_files, restarted_files, /*crashed=*/false);
    ASSERT_NE(d.meeting().open_vote, 0u);
    ASSERT_EQ(d.cast({5, 6, 7}), Res::kOk);
    ASSERT_EQ(d.close_vote(), Res::kOk);  // exact: six voters, the tally of the six choices
    ASSERT_EQ(d.close_meeting(), Res::kOk);
    d.disconnect_all();
  }
  EXPECT_EQ(stats.duplicate_acks_after_restart, 6u);
  EXPECT_EQ(stats.votes_closed_across_crash_show, 1u);
  EXPECT_EQ(stats.votes_closed_across_crash_secret, 1u);
  EXPECT_EQ(stats.recovered_files_checked, 2u);  // the two interrupted minutes
  EXPECT_EQ(stats.lost, 0u);
  server.signal(SIGTERM);
  const auto status2 = server.wait(kServerStopTimeoutMs);
  ASSERT_TRUE(status2.has_value());
  const auto end_files = read_minutes_files(files.minutes_dir);
  for (auto& d : drivers) {
    d->check_final_minutes(end_files);
    EXPECT_EQ(d->pending_final_minutes(), 0u);
  }
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    fs::remove_all(files.dir, ec);
  }
}

}  // namespace
}  // namespace cellsim::net::testing
