// The simulated world: server nodes running the real meeting engine, members
// running the real agents, and between them virtual links that carry real
// encoded frames (DESIGN.md, "The one rule"). What it models is only the
// network (host/link.h) and the server's capacity: each node has `cores`
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
// (host/link.h), so they take bandwidth and, in_band, hold back the frames
// behind them on lossy links as the real ones do (as datagrams they share
// the links' bandwidth and queues and are lost for good, host/link.h), and
// their bytes and CPU are accounted. Voice quality: each listener's
// downlink stream tells its frames to a VoiceTap, which pairs frame k's
// downlink transit with the uplink's (the speaker's stream, caught up to
// it first) and feeds the listener's SpeechMeter (agents/voice.h); a
// datagram sent while its link is down is lost. When the speaker stops,
// each listener's interval is recorded (HostCore::on_speech).
//
// The members, cells, observations, invariant checks and the end of the run
// are the host layer's (host/host_core.h), shared with live mode; the CPU
// costs and the NIC are the capacity model's (sim/capacity.h). The World
// adds the wiring: the kernel's events, the virtual transport, and the
// engine's minutes checked as it writes them. Every engine input is
// followed by the engine's own invariant check (Engine::check_invariants)
// on a sampled share of inputs (kEngineCheckEvery), and a broken one stops
// the run (CELLSIM_ASSERT).
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
#include "host/host_core.h"
#include "metrics/recorder.h"
#include "scenario/plan.h"
#include "server/engine/engine.h"
#include "sim/capacity.h"
#include "sim/kernel.h"

namespace cellsim::sim {

// The share of engine inputs after which the meeting's invariants are
// checked: every one (measured: see README, "Invariants").
inline constexpr uint32_t kEngineCheckEvery = 1;

struct WorldOptions {
  const v1::Scenario* scenario = nullptr;        // REQUIRES: validated, defaults applied
  const v1::Calibration* calibration = nullptr;  // REQUIRES: non-null
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  host::PlantedFaults planted;  // tests only
  // Engine::check_cell_invariants() after every n-th engine input (0: never).
  uint32_t engine_check_every = kEngineCheckEvery;
};

class World : public EventTarget, public host::HostCore {
 public:
  World(const WorldOptions& options, metrics::Recorder* recorder);
  ~World() override;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Creates this shard's nodes, cells and members. False with *why if the
  // scenario cannot be built (it should have been validated).
  bool build(std::string* why);

  TimeNs now() const { return kernel_.now(); }
  // Runs the world until virtual time `until_ns` (absolute).
  void run_until(TimeNs until_ns) { kernel_.run_until(until_ns); }
  // Ends the run: meetings not closed are reported as they are, members who
  // meant to attend and never joined are counted, invariants are checked
  // (the tally check only when `complete`), server figures are exported.
  void finish(bool complete);

  uint64_t events() const { return kernel_.events_run(); }
  uint64_t frames() const { return frames_; }
  uint64_t members() const { return member_count(); }
  uint64_t cells() const { return cell_count(); }
  uint64_t engine_checks() const { return engine_checks_; }

  // EventTarget.
  void on_event(Kernel& k, uint32_t kind, uint64_t arg) override;
  using HostCore::on_event;

 protected:
  // HostCore.
  TimeNs host_now() const override { return kernel_.now(); }
  void event_hook(uint32_t m, Event e, int64_t detail) override;
  void media_hook(uint32_t m, bool sent, uint64_t payload_bytes) override;

 private:
  struct Member;
  struct Node;
  struct UplinkTap;
  struct VoiceTap;
  struct InFlight;
  struct Work;

  Member& mem(uint32_t m);  // the member as the simulator holds it
  void build_media();
  void build_nodes();

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
  void start_work(Node& node, Work work);
  void core_free(uint32_t n);
  // `extra_us`: CPU charged on top of the frame's cost (a TLS handshake).
  TimeNs drain_engine(Node& node, TimeNs now, v1::Envelope::BodyCase body, bool count_cpu,
                      double extra_us = 0);
  void check_engine(Node& node, uint64_t cell_id);
  void send_down(uint32_t m, TimeNs at_ns, wire::SharedFrame frame, bool close);
  void sync_engine_timer(uint32_t node);
  void outage_begin(uint32_t m, uint32_t epoch);
  void schedule_outage_check(uint32_t m);
  void break_if_repair_outlasts(uint32_t m, const host::LinkDirection& dir);
  void break_connection(uint32_t m, uint32_t epoch);
  void drop_transport(uint32_t m);
  void speaking(uint32_t m, bool start);
  void start_voice(uint32_t m, TimeNs now, TimeNs relay_ns);
  void stop_voice(uint32_t m, TimeNs now, TimeNs relay_ns);
  // Frame `index` of listener tap `tap`'s stream reached the listener.
  void voice_frame(VoiceTap& tap, uint64_t index, TimeNs sent_ns, TimeNs arrival_ns);

  WorldOptions o_;
  Kernel kernel_;
  engine::EngineSettings engine_settings_;
  CostTable costs_;
  FrameTypeTap frame_types_;
  std::vector<std::unique_ptr<Node>> nodes_;  // index = node number (nullptr: other shard)
  std::vector<InFlight> flights_;             // frames on the wire, by slot
  std::vector<uint32_t> free_flights_;
  uint64_t frames_ = 0;
  uint64_t engine_inputs_ = 0;
  uint64_t engine_checks_ = 0;
  // Media (0: none): a frame every media_period_ns_, of these encoded sizes.
  TimeNs media_period_ns_ = 0;
  uint32_t media_up_bytes_ = 0;
  uint32_t media_down_bytes_ = 0;
  uint32_t media_payload_bytes_ = 0;
  host::StreamTransport media_transport_ = host::StreamTransport::kTcp;
  agents::VoiceSettings voice_;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_WORLD_H_
