// HostCore: what both hosts of the agents (the simulator's World and the
// live Driver) do the same way, so that it is done in one place:
//
//   - the members and cells of a scenario::CellSetup: each member's agent
//     (with its token and its own random stream), its link model (both
//     directions and the outage schedule, host/link.h) and its recorder
//     indices; the cell's board;
//   - the agents' observations mapped to the recorder's metrics (the
//     AgentObserver methods here are final; a host adds to them through the
//     protected on_*_hook methods);
//   - the invariant checks, in both modes: each member's own view of quorum
//     (reported by the agents), no secret choice in any minutes (as the
//     engine writes them, when the host sees that, and as every member
//     receives them), and at the end, for every vote of every closed
//     meeting, ballots acknowledged equal ballots counted;
//   - the end of the run (agents finished, members who never joined
//     counted) and the run record (host/run_record.h).
//
// A host derives from HostCore, derives its member type from HostMember, and
// adds the transport (virtual links and the kernel, or sockets and the
// impairment layer) and the server (the capacity model, or cellmeetd).
//
// Invariants: members_[i]->agent->plan().host_tag == i; every member belongs
// to exactly one cell, whose `members` lists it; violations_ holds at most
// kMaxViolationsKept entries and violation_count_ counts all.
//
// Thread-safety: none; a host and its HostCore live on one thread.
#ifndef CELLSIM_HOST_HOST_CORE_H_
#define CELLSIM_HOST_HOST_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agents/agent.h"
#include "cellsim/v1/scenario.pb.h"
#include "host/link.h"
#include "metrics/recorder.h"
#include "scenario/plan.h"

namespace cellsim::host {

// Violations kept with their text (all are counted).
inline constexpr size_t kMaxViolationsKept = 100;

// Faults a test plants in what a host observes, to show that the host runs
// the invariant checks on what it really sees. Never set outside tests.
struct PlantedFaults {
  // The first secret vote of every minutes a member receives gains a public
  // ballot (a choice linked to a member).
  bool secret_choice_in_minutes = false;
  // The first vote of the first closed meeting counts one ballot more than
  // was cast.
  bool tally_mismatch = false;
};

// A member as every host holds it. A host derives its own member type.
struct HostMember {
  // REQUIRES: profile outlives the member.
  HostMember(const v1::NetworkProfile* profile, uint64_t seed, uint64_t member_no,
             TimeNs start_ns);
  virtual ~HostMember() = default;
  HostMember(const HostMember&) = delete;  // up and down point at each other
  HostMember& operator=(const HostMember&) = delete;

  // When what the link would deliver at `at_ns` (sent at `now_ns`) really
  // arrives: a frame sent while the link is down (the link drops what
  // enters it during an outage, as the packet emulator does) is, with the
  // direction `dir`, retransmitted on `dir`'s RTO backoff ladder from
  // now_ns and arrives after the first retry past the outage, or a round
  // trip after the direction's next packet past it (RACK), whichever is
  // sooner (host/link.h); without `dir`, one max(rto_min, base RTT) after
  // the outage ends. A frame sent before an outage is not affected.
  TimeNs after_outages(TimeNs now_ns, TimeNs at_ns, const LinkDirection* dir = nullptr);

  // When the connection is back from the outage [start, end): the first
  // retransmission past its end on the RTO ladder from its start (the
  // larger of the two directions' RTOs), as a sender with data outstanding
  // when it began retries. A host breaks the connection when that is a
  // liveness window or more after the start (TCP_USER_TIMEOUT, the
  // server's missed heartbeats).
  TimeNs outage_recovery_ns(TimeNs start_ns, TimeNs end_ns) const;

  std::unique_ptr<agents::Agent> agent;
  uint32_t cell = 0;       // HostCore's cell index
  uint32_t cell_type = 0;  // recorder indices
  uint32_t profile = 0;
  LinkDirection up, down;
  OutageSchedule outages;
  const v1::NetworkProfile* profile_spec;
  TimeNs rtt_ns = 0;  // the link's base round trip
  bool ever_connected = false;
  bool joined = false;  // joined its meeting at least once
};

// How long member `mb`'s connection takes to be ready: TCP's SYN and
// SYN-ACK (each lost one waits the initial 1 s RTO, doubling), then, with
// the profile's `tls`, one more round trip whose losses wait the RTO the
// handshake's round trip gives (host/link.h).
TimeNs handshake_ns(HostMember& mb);

struct HostCell {
  uint64_t cell_id = 0;
  uint32_t cell_type = 0;  // recorder index
  uint32_t node = 0;       // the server node it is planned on
  agents::CellBoard board;
  std::vector<uint32_t> members;  // member indices
  bool reported = false;          // the chair's report was recorded (once)
  agents::MeetingReport report;
};

class HostCore : public agents::AgentObserver {
 public:
  // Makes a host's member for a member of `profile` (HostMember's arguments).
  using MakeMember = std::function<std::unique_ptr<HostMember>(
      const v1::NetworkProfile* profile, uint64_t seed, uint64_t member_no, TimeNs start_ns)>;

  // REQUIRES: scenario validated with defaults applied; scenario and
  // recorder outlive the core; start_ns <= end_ns.
  HostCore(const v1::Scenario& scenario, metrics::Recorder* recorder, PlantedFaults faults);
  ~HostCore() override;
  HostCore(const HostCore&) = delete;
  HostCore& operator=(const HostCore&) = delete;

  // The run's span and the tokens' key; called once, before add_cell().
  void set_run(TimeNs start_ns, TimeNs end_ns, std::string key);
  // Registers the scenario's network profiles with the recorder (once,
  // before the first add_cell()).
  void register_profiles();

  // Adds a cell and its members (made by `make`): tokens minted, outage
  // windows added, agents created observing this core; `send_media_frames`
  // for hosts that send real MediaFrames. Returns the cell's index. The
  // agents are not started.
  uint32_t add_cell(scenario::CellSetup setup, const MakeMember& make, bool send_media_frames);

  // Ends the run at `now`: every agent finishes (chairs report), ballots
  // acknowledged are recorded, members who meant to join and never did are
  // counted, and when `complete`, every closed meeting's tallies are checked
  // against the acknowledgements.
  void finish_run(TimeNs now, bool complete);

  // No choice of a secret vote linked to a member in `m`.
  void check_minutes(const v1::Minutes& m);

  // Records a violation (with the seed and the host's time).
  void violation(const std::string& what);

  const v1::Scenario& scenario() const { return s_; }
  metrics::Recorder& recorder() { return *rec_; }
  uint64_t seed() const { return s_.seed(); }
  TimeNs start_ns() const { return start_ns_; }
  TimeNs end_ns() const { return end_ns_; }
  TimeNs liveness_ns() const { return liveness_ns_; }
  const std::string& key() const { return key_; }
  const v1::NetworkProfile& profile_spec(uint32_t profile) const { return *profiles_[profile]; }

  size_t member_count() const { return members_.size(); }
  size_t cell_count() const { return cells_.size(); }
  HostMember& host_member(uint32_t m) { return *members_[m]; }
  const HostMember& host_member(uint32_t m) const { return *members_[m]; }
  HostCell& cell(uint32_t c) { return *cells_[c]; }
  const HostCell& cell(uint32_t c) const { return *cells_[c]; }
  // REQUIRES: M is the host's member type (every member was made as an M).
  template <class M>
  M& member_as(uint32_t m) {
    return static_cast<M&>(*members_[m]);
  }

  uint64_t violation_count() const { return violation_count_; }
  const std::vector<std::string>& violations() const { return violations_; }

  // AgentObserver: the mapping both modes share.
  void on_measure(const agents::MemberPlan& who, agents::Measure m, TimeNs value_ns) final;
  void on_censored(const agents::MemberPlan& who, agents::Measure m, uint64_t count) final;
  void on_traffic(const agents::MemberPlan& who, bool sent, size_t bytes) final;
  void on_event(const agents::MemberPlan& who, Event e, int64_t detail) final;
  void on_meeting_report(const agents::MeetingReport& report) final;
  // Records the interval into the listener's groups (and speech_hook()).
  void on_speech(const agents::MemberPlan& listener, uint64_t speaker_id,
                 const agents::SpeechResult& result) override;
  void on_media(const agents::MemberPlan& who, bool sent, uint64_t payload_bytes,
                uint64_t frames) final;
  void on_minutes(const agents::MemberPlan& who, const v1::Minutes& minutes) final;
  void on_violation(const agents::MemberPlan& who, const std::string& what) final;

 protected:
  // Destroys the members (agents, and whatever the host's subclass of
  // HostMember holds). A host whose members hold resources of its own (the
  // live driver's timers and sockets on its io_context) calls it in its
  // destructor, before those resources' owner is destroyed: the base's
  // members_ would otherwise outlive the derived class's members.
  // REQUIRES: nothing uses the members afterwards.
  void destroy_members() { members_.clear(); }

  // The host's clock now (virtual or steady), for violations' times.
  virtual TimeNs host_now() const = 0;
  // What a host adds to the shared mapping; called after it.
  virtual void latency_hook(metrics::Latency, TimeNs /*value_ns*/) {}
  virtual void traffic_hook(uint32_t /*m*/, bool /*sent*/, size_t /*bytes*/) {}
  virtual void event_hook(uint32_t /*m*/, Event, int64_t /*detail*/) {}
  virtual void media_hook(uint32_t /*m*/, bool /*sent*/, uint64_t /*payload_bytes*/) {}
  // A speech interval member m heard (after it was recorded).
  virtual void speech_hook(uint32_t /*m*/, const agents::SpeechResult& /*result*/) {}

 private:
  void check_tallies(const HostCell& c);

  const v1::Scenario& s_;
  metrics::Recorder* rec_;
  const PlantedFaults faults_;
  TimeNs start_ns_ = 0;
  TimeNs end_ns_ = 0;
  TimeNs liveness_ns_ = 0;
  std::string key_;
  std::vector<const v1::NetworkProfile*> profiles_;  // by recorder profile index
  std::vector<std::unique_ptr<HostMember>> members_;
  std::vector<std::unique_ptr<HostCell>> cells_;
  std::set<std::pair<uint64_t, uint64_t>> leaks_reported_;  // (cell, meeting)
  bool tally_fault_planted_ = false;
  uint64_t violation_count_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace cellsim::host

#endif  // CELLSIM_HOST_HOST_CORE_H_
