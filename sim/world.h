// The simulated world: server nodes running the real meeting engine, members
// running the real agents, and between them virtual links that carry real
// encoded frames (DESIGN.md, "The one rule"). What it models is only the
// network (sim/link.h) and the server's capacity: each node has `cores`
// cores serving frames first come, first served; a frame costs CPU by type
// plus per frame it causes to be sent (the calibration), so queueing appears
// under load (a Hello over a profile with `tls: true` also costs the
// calibration's tls_handshake_us); the NIC serialises egress at its capacity.
//
// Sharding: cells go to nodes round-robin (cell index mod nodes); a shard
// i/N holds the nodes with node mod N == i and their cells. Every random
// stream belongs to one entity (member, link, cell) and is derived from the
// seed and the entity's id, so a shard's cells behave exactly as in the
// whole run and shard results merge into the whole run's.
//
// Media is a fluid (DESIGN.md): a speaker's frames are not events; they are
// streams on the speaker's uplink and the present members' downlinks
// (sim/link.h), so they take bandwidth and hold back the frames behind them
// on lossy links as the real ones do, and their bytes and CPU are accounted.
//
// Invariants checked while running (violations are collected with the seed,
// and make the run fail): each member's own view of quorum equals the
// engine's at every QuorumChanged and MeetingState it receives; at the end,
// for every vote of every closed meeting, ballots acknowledged equal ballots
// counted; no frame that crosses the network links a secret choice to a
// member (checked on every VoteClosed and MeetingClosed the engine sends).
//
// Thread-safety: none; one World per thread.
#ifndef CELLSIM_SIM_WORLD_H_
#define CELLSIM_SIM_WORLD_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agents/agent.h"
#include "cellsim/v1/calibration.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "metrics/recorder.h"
#include "scenario/plan.h"
#include "server/engine/engine.h"
#include "sim/kernel.h"
#include "sim/link.h"

namespace cellsim::sim {

struct WorldOptions {
  const v1::Scenario* scenario = nullptr;        // REQUIRES: validated, defaults applied
  const v1::Calibration* calibration = nullptr;  // REQUIRES: non-null
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
};

// Bounds.
inline constexpr size_t kMaxViolationsKept = 100;

class World : public EventTarget, public agents::AgentObserver {
 public:
  World(const WorldOptions& options, metrics::Recorder* recorder);
  ~World() override;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Creates this shard's nodes, cells and members. False with *why if the
  // scenario cannot be built (it should have been validated).
  bool build(std::string* why);

  TimeNs start_ns() const { return start_ns_; }
  TimeNs end_ns() const { return end_ns_; }
  TimeNs now() const { return kernel_.now(); }
  // Runs the world until virtual time `until_ns` (absolute).
  void run_until(TimeNs until_ns) { kernel_.run_until(until_ns); }
  // Ends the run: meetings not closed are reported as they are, members who
  // meant to attend and never joined are counted, invariants are checked
  // (the tally check only when `complete`), server figures are exported.
  void finish(bool complete);

  uint64_t events() const { return kernel_.events_run(); }
  uint64_t frames() const { return frames_; }
  uint64_t members() const { return members_.size(); }
  uint64_t cells() const { return cells_.size(); }
  uint64_t violation_count() const { return violation_count_; }
  const std::vector<std::string>& violations() const { return violations_; }

  // EventTarget.
  void on_event(Kernel& k, uint32_t kind, uint64_t arg) override;

  // AgentObserver.
  void on_measure(const agents::MemberPlan& who, agents::Measure m, TimeNs value_ns) override;
  void on_traffic(const agents::MemberPlan& who, bool sent, size_t bytes) override;
  void on_event(const agents::MemberPlan& who, Event e, int64_t detail) override;
  void on_meeting_report(const agents::MeetingReport& report) override;
  void on_media(const agents::MemberPlan& who, bool sent, uint64_t payload_bytes,
                uint64_t frames) override;
  void on_violation(const agents::MemberPlan& who, const std::string& what) override;

 private:
  struct Member;
  struct Node;
  struct Cell;
  struct InFlight;
  struct Work;

  void build_cell(scenario::CellSetup setup);
  void pump_agent(uint32_t m);
  void sync_agent_timer(uint32_t m);
  void start_connect(uint32_t m);
  void connect_done(uint32_t m, uint32_t epoch);
  void send_up(uint32_t m, wire::SharedFrame frame, bool close);
  void arrive_up(uint32_t slot);
  void arrive_down(uint32_t slot);
  uint32_t new_flight(uint32_t m, bool close, wire::SharedFrame frame);
  InFlight take_flight(uint32_t slot);
  TimeNs after_outages(Member& mb, TimeNs at);
  void start_work(Node& node, Work work);
  void core_free(uint32_t n);
  // `extra_us`: CPU charged on top of the frame's cost (a TLS handshake).
  TimeNs drain_engine(Node& node, TimeNs now, v1::Envelope::BodyCase body, bool count_cpu,
                      double extra_us = 0);
  void check_minutes(const v1::Minutes& m);
  void send_down(uint32_t m, TimeNs at_ns, wire::SharedFrame frame, bool close);
  void sync_engine_timer(uint32_t node);
  void outage_begin(uint32_t m, uint32_t epoch);
  void schedule_outage_check(uint32_t m);
  void break_connection(uint32_t m, uint32_t epoch);
  void drop_transport(uint32_t m);
  void violation(const std::string& what);
  void speaking(uint32_t m, bool start);
  double cost_us(v1::Envelope::BodyCase body, size_t outputs) const;

  WorldOptions o_;
  metrics::Recorder* rec_;
  Kernel kernel_;
  TimeNs start_ns_ = 0;
  TimeNs end_ns_ = 0;
  TimeNs liveness_ns_ = 0;
  std::string key_;
  engine::EngineSettings engine_settings_;
  std::vector<std::unique_ptr<Node>> nodes_;      // index = node number (nullptr: other shard)
  std::vector<std::unique_ptr<Cell>> cells_;      // this shard's cells
  std::vector<std::unique_ptr<Member>> members_;  // this shard's members
  std::vector<InFlight> flights_;                 // frames on the wire, by slot
  std::vector<uint32_t> free_flights_;
  std::vector<double> base_cost_us_;              // by body case
  std::vector<double> output_cost_us_;
  std::vector<const v1::NetworkProfile*> profiles_;  // by recorder profile index
  uint64_t frames_ = 0;
  // Media (0: none): a frame every media_period_ns_, of these encoded sizes.
  TimeNs media_period_ns_ = 0;
  uint32_t media_up_bytes_ = 0;
  uint32_t media_down_bytes_ = 0;
  uint32_t media_payload_bytes_ = 0;
  uint64_t violation_count_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_WORLD_H_
