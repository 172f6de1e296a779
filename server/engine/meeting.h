// One meeting of one cell: attendance, the denominator D, quorum with loss
// and regain, the agenda, votes with their thresholds, and the minutes
// (RULES.md). It knows members by id only; connections, sessions and bytes
// belong to the Engine, which tells it who is present and relays its pushes.
//
// Invariants (checked by check_invariants()):
//  * present members are a subset of the roster members who may attend;
//  * D = official (non-exempted) members − those excused and never present
//        + exempted members present;
//  * quorate == is_quorate(present_in_d, D, settings.quorum);
//  * every vote has at most one counted ballot per member, and its tally sums
//    to its number of counted ballots;
//  * a secret vote stores no member's choice anywhere.
//
// Thread-safety: none; a meeting is only ever touched by its engine's thread.
#ifndef CELLSIM_SERVER_ENGINE_MEETING_H_
#define CELLSIM_SERVER_ENGINE_MEETING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cellsim/v1/wire.pb.h"
#include "server/engine/settings.h"

namespace cellsim::engine {

// Where a meeting's outputs go. Implemented by the Engine (and by tests).
class MeetingSink {
 public:
  virtual ~MeetingSink() = default;
  // A push for every present member of the meeting.
  virtual void broadcast(const v1::Envelope& env) = 0;
  // A push for one member, if connected and joined.
  virtual void send_to_member(uint64_t member_id, const v1::Envelope& env) = 0;
  // The meeting closed; its minutes are final and should be kept.
  virtual void minutes_ready(const v1::Minutes& minutes) = 0;
};

// The outcome of a request: ok, or a rule refusal with a reason.
struct RuleResult {
  v1::ErrorCode code = v1::ERROR_CODE_UNSPECIFIED;
  std::string reason;
  bool ok() const { return code == v1::ERROR_CODE_UNSPECIFIED; }
  static RuleResult Ok() { return {}; }
  static RuleResult Refuse(v1::ErrorCode c, std::string r) { return {c, std::move(r)}; }
};

class Meeting {
 public:
  // REQUIRES: roster, settings and sink outlive the meeting.
  Meeting(const v1::CellRoster* roster, uint64_t meeting_id, const EngineSettings* settings,
          MeetingSink* sink);

  Meeting(const Meeting&) = delete;
  Meeting& operator=(const Meeting&) = delete;

  uint64_t id() const { return id_; }
  v1::MeetingPhase phase() const { return phase_; }
  bool closed() const { return phase_ == v1::MEETING_PHASE_CLOSED; }

  // Whether the roster knows `member_id`, and whether that member may attend.
  bool knows(uint64_t member_id) const;
  RuleResult check_may_attend(uint64_t member_id) const;
  bool is_present(uint64_t member_id) const;

  // Attendance. REQUIRES: check_may_attend(member_id).ok() for set_present.
  // Both are no-ops when nothing changes; otherwise they broadcast
  // AttendanceChanged and, if it moved, QuorumChanged.
  void set_present(uint64_t member_id, int64_t now_ms);
  void set_absent(uint64_t member_id, int64_t now_ms);

  // Chair commands. Each refuses with ERROR_NOT_CHAIR unless `chair_id` has
  // the chair role.
  RuleResult excuse(uint64_t chair_id, const v1::ExcuseAbsence& req, int64_t now_ms);
  RuleResult open(uint64_t chair_id, const v1::OpenMeeting& req, int64_t now_ms);
  RuleResult advance_agenda(uint64_t chair_id, int64_t now_ms);
  RuleResult open_vote(uint64_t chair_id, const v1::OpenVote& req, int64_t now_ms);
  RuleResult close_vote(uint64_t chair_id, uint64_t vote_id, int64_t now_ms);
  RuleResult grant_floor(uint64_t chair_id, uint64_t member_id, int64_t now_ms);
  RuleResult close(uint64_t chair_id, int64_t now_ms);
  // The minutes as they stand, marked interrupted (the server is stopping,
  // or a checkpoint of the open meeting in case it crashes).
  v1::Minutes interrupted_minutes(int64_t now_ms) const;
  // Grows whenever the record the minutes are made from changes (a
  // proceeding, attendance, a vote's result): a host keeping checkpoints
  // rewrites one only when this moved.
  uint64_t revision() const { return revision_; }

  // Member requests. On success `*ack` holds the BallotAck to send.
  RuleResult cast_ballot(uint64_t member_id, const v1::CastBallot& req, int64_t now_ms,
                         v1::BallotAck* ack);
  RuleResult request_floor(uint64_t member_id, const v1::RequestFloor& req, int64_t now_ms);

  // Queries.
  v1::MeetingState snapshot() const;
  // Votes of this meeting in which `member_id` has a counted ballot.
  std::vector<uint64_t> counted_votes(uint64_t member_id) const;
  v1::QuorumStatus quorum() const;
  uint32_t denominator() const { return d_; }
  uint32_t present_in_d() const { return present_in_d_; }
  uint32_t official_members() const { return official_members_; }
  bool quorate() const { return quorate_; }
  int64_t first_quorate_at_ms() const { return first_quorate_at_ms_; }
  uint32_t quorum_losses() const { return quorum_losses_; }
  // Tally integrity: ballots acknowledged as counted vs ballots in tallies.
  uint64_t ballots_counted() const { return ballots_counted_; }
  uint64_t tally_total() const;
  // Closed votes' records, in order (the minutes' votes).
  const std::vector<v1::VoteRecord>& vote_records() const { return vote_records_; }

  // Asserts the invariants above; returns false (and says which in *why)
  // instead of aborting, so tests can report the seed.
  bool check_invariants(std::string* why) const;

 private:
  struct MemberState {
    const v1::RosterMember* info = nullptr;
    bool present = false;
    bool attended = false;  // present at some time in this meeting
    bool excused = false;
    std::string excuse_reason;
  };
  struct Ballot {
    uint64_t ballot_id = 0;
    v1::Choice choice = v1::CHOICE_UNSPECIFIED;  // always unspecified when secret
  };
  struct OpenVoteState {
    uint64_t id = 0;
    v1::VoteKind kind = v1::VOTE_KIND_UNSPECIFIED;
    v1::VoteMethod method = v1::VOTE_METHOD_UNSPECIFIED;
    std::string subject;
    int64_t opened_at_ms = 0;
    bool quorate_throughout = false;
    std::unordered_map<uint64_t, Ballot> ballots;  // member id → ballot
    v1::Tally tally;
  };

  MemberState* find(uint64_t member_id);
  const MemberState* find(uint64_t member_id) const;
  bool is_chair(uint64_t member_id) const;
  RuleResult require_chair(uint64_t member_id) const;
  RuleResult require_open() const;
  void recount(int64_t now_ms, bool announce);
  bool counts_in_d(const MemberState& m) const;
  void note(int64_t now_ms, std::string what, uint64_t member_id = 0);
  std::string name_of(uint64_t member_id) const;
  void finish_vote(int64_t now_ms);
  v1::Minutes build_minutes(int64_t now_ms) const;
  void fit_in_one_frame(v1::Minutes* m, const v1::Envelope* env) const;

  const v1::CellRoster* roster_;
  const EngineSettings* settings_;
  MeetingSink* sink_;
  uint64_t id_;
  v1::MeetingPhase phase_ = v1::MEETING_PHASE_GATHERING;

  std::vector<MemberState> members_;              // roster order
  std::unordered_map<uint64_t, size_t> index_;    // member id → members_ index
  uint32_t official_members_ = 0;
  uint32_t d_ = 0;
  uint32_t present_in_d_ = 0;
  bool quorate_ = false;
  int64_t first_quorate_at_ms_ = 0;
  uint32_t quorum_losses_ = 0;
  uint64_t revision_ = 0;

  // Set by open().
  int64_t opened_at_ms_ = 0;
  uint64_t chair_id_ = 0;
  uint64_t minute_taker_id_ = 0;
  bool recorded_ = false;
  std::string reason_;
  std::vector<std::string> guests_;
  std::vector<std::string> agenda_;
  int32_t agenda_index_ = -1;

  bool vote_open_ = false;
  OpenVoteState vote_;
  std::vector<v1::VoteRecord> vote_records_;
  uint64_t ballots_counted_ = 0;
  uint64_t ballots_in_closed_tallies_ = 0;

  std::vector<v1::ProceedingEntry> proceedings_;
  std::unordered_map<uint64_t, uint32_t> floor_requests_;  // by member, this meeting
};

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_MEETING_H_
