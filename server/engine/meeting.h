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
//  * a secret vote stores no member's choice anywhere (a changed resend is
//    detected by a salted fingerprint of (vote, member, ballot id, choice),
//    held in memory only while the vote is open);
//  * the floor holder, if any, is present;
//  * every text the meeting keeps or sends is valid UTF-8; every text a
//    member supplied is at most settings.max_text_bytes bytes (a proceedings
//    entry adds a short prefix: "agenda item 2: " + the title).
//
// Durability: every change to the meeting's record is reported to the sink
// as a v1::JournalRecord (one per input the meeting accepted, in order), and
// every change to a secret vote's ballots as its whole v1::BallotBox, so a
// host that makes them durable before it sends the answers can rebuild the
// meeting after a crash: replaying the records through the same methods
// (with replaying set on the sink side) gives the same state, and
// restore_secret_ballots() puts back a secret vote's ballots.
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
  // A change to the meeting's record (cell_id is left for the sink to set).
  virtual void journal(const v1::JournalRecord& record) { (void)record; }
  // A secret vote's ballots changed: its whole box (cell_id left unset).
  virtual void ballot_box(const v1::BallotBox& box) { (void)box; }
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
  // Whether `member_id` holds the floor (media from anyone else is refused).
  bool holds_floor(uint64_t member_id) const {
    return member_id != 0 && floor_holder_ == member_id;
  }
  uint64_t floor_holder() const { return floor_holder_; }
  bool open_vote_secret() const {
    return vote_open_ && vote_.method == v1::VOTE_METHOD_SECRET_BALLOT;
  }
  // REQUIRES: closed(). The minutes as close() made them.
  v1::Minutes final_minutes() const { return build_minutes(closed_at_ms_); }

  // Recovery (journal replay). A public ballot is replayed through
  // cast_ballot(); a secret vote's ballots come back from its box.
  // REQUIRES: the vote `box.vote_id()` is open and has no ballot yet.
  // Returns false (nothing changed) when the box does not fit the vote: a
  // member off the roll or unable to vote, or a tally that does not add up.
  bool restore_secret_ballots(const v1::BallotBox& box);
  // The salt of the secret ballots' fingerprints (set by the engine).
  void set_choice_salt(uint64_t salt) { choice_salt_ = salt; }
  // The meeting's record as it stands, for a host rebuilding its journal:
  // the open secret vote's box, if one is open (false otherwise).
  bool open_secret_box(v1::BallotBox* box) const;

  // Queries.
  v1::MeetingState snapshot() const;
  // Shortens the agenda titles of a MeetingState envelope until the frame
  // fits settings.max_frame_bytes (marking agenda_truncated).
  void fit_state(v1::Envelope* env) const;
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
    // Secret votes: fingerprint of the choice (0: unknown, e.g. restored
    // from a box after a crash, when a resend cannot be compared).
    uint64_t choice_fingerprint = 0;
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
  bool frame_fits(const v1::Envelope& env) const;
  uint64_t fingerprint(uint64_t member_id, const v1::CastBallot& req) const;
  void journal(int64_t now_ms, uint64_t member_id, v1::JournalRecord* rec);
  void emit_box() const;
  RuleResult check_ballot(const MemberState& m, const v1::CastBallot& req) const;
  void fill_open_vote(v1::OpenVoteRecord* r) const;

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
  int64_t closed_at_ms_ = 0;
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
  uint64_t floor_holder_ = 0;  // member given the floor and still holding it; 0: nobody
  uint64_t choice_salt_ = 0;
};

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_MEETING_H_
