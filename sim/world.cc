#include "sim/world.h"

#include <algorithm>
#include <cmath>

#include "host/host.h"
#include "proto/assert.h"
#include "proto/datagram.h"
#include "scenario/plan.h"
#include "sim/core_queue.h"

namespace cellsim::sim {
namespace {

using agents::kNever;
using host::OutageSchedule;

enum EventKind : uint32_t {
  kAgentTimer = 1,
  kConnectDone,
  kUpArrive,
  kDownArrive,
  kCoreFree,
  kEngineTimer,
  kOutageBegin,
  kBreak,
};

// Consecutive agent timer runs at one instant before the agent is declared stuck.
constexpr uint32_t kMaxTimerSpins = 1000;
// A connect attempt while the link is down fails after this long (SYN retries).
constexpr TimeNs kConnectFailNs = 3 * kNsPerS;

uint64_t pack(uint32_t index, uint32_t epoch) { return (uint64_t{epoch} << 32) | index; }
uint32_t index_of(uint64_t arg) { return static_cast<uint32_t>(arg & 0xffffffff); }
uint32_t epoch_of(uint64_t arg) { return static_cast<uint32_t>(arg >> 32); }

TimeNs ms_to_ns(double ms) { return static_cast<TimeNs>(ms * 1e6); }
TimeNs min_to_ns(double min) { return static_cast<TimeNs>(min * 60e9); }

// Bound: frames (and FINs) on the virtual wire at once. Each member has a few
// in flight; more than this many is a leak of flight slots.
constexpr size_t kMaxInFlightFrames = size_t{1} << 26;

}  // namespace

// A frame (or a FIN) on the wire. Arrival events name its slot; delivery
// order on a link follows from monotone arrival times and the kernel's FIFO
// order among equal times.
struct World::InFlight {
  uint32_t member = 0;
  uint32_t epoch = 0;        // the member's transport epoch when sent
  engine::ConnId conn = 0;   // the node's connection it belongs to
  bool close = false;        // a FIN rather than a frame
  wire::SharedFrame frame;
};

struct World::Work {
  uint32_t member;
  uint32_t epoch;
  engine::ConnId conn;
  wire::SharedFrame frame;
  TimeNs arrived_ns;
};

// A member as the simulator holds it: the host layer's member (agent, links,
// recorder indices) plus its virtual transport.
struct World::Member : host::HostMember {
  using HostMember::HostMember;
  uint32_t node = 0;
  TimerId agent_timer;
  TimeNs agent_timer_at = kNever;
  uint32_t epoch = 0;          // transport connection number; stale events carry older ones
  bool connected = false;      // the transport is established
  engine::ConnId conn = 0;     // the node's id for the connection, 0 if none
  uint32_t timer_spins = 0;  // consecutive timer runs that left the timer due
  TimeNs up_last_ns = 0;     // latest arrival scheduled upstream (a FIN goes after it)
  TimeNs down_last_ns = 0;
  // While speaking: the members whose downlinks carry this member's media
  // stream (at most the cell's members), each with its tap.
  std::vector<uint32_t> stream_to;
  std::vector<std::unique_ptr<VoiceTap>> taps;
  std::unique_ptr<UplinkTap> uplink_tap;
};

// The speaker's uplink frames of the current interval: when each reached
// the server (kDatagramLost: never). Bounded by agents::kMaxSpeechFrames.
struct World::UplinkTap final : host::StreamSink {
  std::vector<TimeNs> arrival_ns;
  OutageSchedule* outages = nullptr;  // the speaker's
  bool datagrams = false;
  void on_stream_frame(uint64_t /*owner*/, uint64_t index, TimeNs sent_ns,
                       TimeNs arrival) override {
    if (index >= agents::kMaxSpeechFrames) return;
    if (datagrams && arrival != host::kDatagramLost) {
      const auto w = outages->window_after(sent_ns);
      if (w.start <= sent_ns && sent_ns < w.end) arrival = host::kDatagramLost;
    }
    if (arrival_ns.size() <= index) arrival_ns.resize(index + 1, host::kDatagramLost);
    arrival_ns[index] = arrival;
  }
};

// One listener of a speaker's interval: its meter, fed by its downlink.
struct World::VoiceTap final : host::StreamSink {
  VoiceTap(World* w, uint32_t speaker_m, uint32_t listener_m, TimeNs start,
           const agents::VoiceSettings& v)
      : world(w), speaker(speaker_m), listener(listener_m), start_ns(start), meter(v) {}
  void on_stream_frame(uint64_t /*owner*/, uint64_t index, TimeNs sent_ns,
                       TimeNs arrival) override {
    world->voice_frame(*this, index, sent_ns, arrival);
  }
  World* world;
  uint32_t speaker, listener;
  TimeNs start_ns;  // the interval's first frame, captured
  agents::SpeechMeter meter;
};

struct World::Node {
  std::unique_ptr<engine::Engine> engine;
  uint32_t index = 0;
  CoreQueue<Work> cores;
  TimerId timer;
  TimeNs timer_at = kNever;
  struct ConnOwner {
    uint32_t member;
    uint32_t epoch;
  };
  std::unordered_map<engine::ConnId, ConnOwner> conn_member;
  engine::ConnId next_conn = 1;
  Nic nic{1};
  metrics::ServerFigures* figures = nullptr;
};

inline World::Member& World::mem(uint32_t m) { return member_as<Member>(m); }

World::World(const WorldOptions& options, metrics::Recorder* recorder)
    : HostCore(*options.scenario, recorder, options.planted),
      o_(options),
      kernel_(options.scenario->start_unix_s() * kNsPerS) {
  CELLSIM_ASSERT(o_.scenario && o_.calibration && o_.shard_count > 0 &&
                 o_.shard_index < o_.shard_count);
}

World::~World() = default;

bool World::build(std::string* why) {
  const v1::Scenario& s = *o_.scenario;
  const TimeNs start_ns = s.start_unix_s() * kNsPerS;
  set_run(start_ns, start_ns + min_to_ns(s.duration_min()),
          "cellsim-sim-key:" + std::to_string(s.seed()));
  host::apply_scenario_settings(s, &engine_settings_);
  if (!costs_.load(*o_.calibration, why)) return false;
  register_profiles();
  build_media();
  build_nodes();
  const uint32_t nodes = static_cast<uint32_t>(nodes_.size());
  for (const scenario::CellSlot& slot : scenario::cell_slots(s)) {
    if (nodes_[slot.cell_index % nodes] == nullptr) continue;  // another shard's
    build_cell(scenario::plan_cell(s, slot, start_ns));
  }
  for (auto& n : nodes_) {
    if (n) sync_engine_timer(n->index);
  }
  return true;
}

// The encoded sizes of a media frame, as sent and as relayed (the fluid
// model's frames, host/link.h).
void World::build_media() {
  const v1::MediaSpec& media = o_.scenario->media();
  if (media.bitrate_kbps() == 0 || media.frame_ms() == 0) return;
  media_payload_bytes_ =
      static_cast<uint32_t>(uint64_t{media.bitrate_kbps()} * media.frame_ms() / 8);
  v1::Envelope env;
  env.mutable_media_frame()->set_seq(100'000);
  env.mutable_media_frame()->set_payload(std::string(media_payload_bytes_, '\0'));
  media_up_bytes_ = static_cast<uint32_t>(wire::encode_frame(env).size());
  env.mutable_media_frame()->set_from_member_id(1'000'000);
  media_down_bytes_ = static_cast<uint32_t>(wire::encode_frame(env).size());
  media_period_ns_ = TimeNs{media.frame_ms()} * kNsPerMs;
  voice_ = scenario::voice_settings(media);
  if (media.transport() == v1::MEDIA_TRANSPORT_DATAGRAM) {
    media_transport_ = host::StreamTransport::kDatagram;
    media_up_bytes_ = media_down_bytes_ =
        static_cast<uint32_t>(wire::sealed_datagram_bytes(media_payload_bytes_));
  }
}

// This shard's nodes: an engine each, its cores and NIC.
void World::build_nodes() {
  const v1::ServerSpec& server = o_.scenario->server();
  const uint32_t nodes = std::max<uint32_t>(1, server.nodes());
  nodes_.resize(nodes);
  for (uint32_t n = 0; n < nodes; ++n) {
    if (n % o_.shard_count != o_.shard_index) continue;
    auto node = std::make_unique<Node>();
    node->index = n;
    node->cores = CoreQueue<Work>(std::max<uint32_t>(1, server.cores_per_node()));
    node->engine = std::make_unique<engine::Engine>(engine_settings_, key());
    node->engine->set_observer(&frame_types_);
    node->nic = Nic(server.nic_egress_mbps());
    node->figures = &recorder().server(n);
    node->figures->cores = node->cores.cores();
    nodes_[n] = std::move(node);
  }
}

void World::build_cell(scenario::CellSetup setup) {
  Node& node = *nodes_[setup.node];
  std::string why;
  const bool added = node.engine->add_cell(setup.roster, &why);
  CELLSIM_ASSERT(added && "a planned roster is always valid");
  (void)added;
  node.figures->cells += 1;
  const uint32_t node_index = setup.node;
  const uint32_t c = add_cell(
      std::move(setup),
      [node_index](const v1::NetworkProfile* p, uint64_t seed, uint64_t member_no,
                   TimeNs start_ns) {
        auto m = std::make_unique<Member>(p, seed, member_no, start_ns);
        m->node = node_index;
        return m;
      },
      /*send_media_frames=*/false);
  for (uint32_t m : cell(c).members) {
    mem(m).agent->start(kernel_.now());
    sync_agent_timer(m);
  }
}

// --- Agents -----------------------------------------------------------------

void World::sync_agent_timer(uint32_t m) {
  Member& mb = mem(m);
  const auto t = mb.agent->poll_timeout();
  const TimeNs at = t ? std::max(*t, kernel_.now()) : kNever;
  if (at == mb.agent_timer_at) return;
  kernel_.cancel(mb.agent_timer);
  mb.agent_timer_at = at;
  mb.agent_timer = at == kNever ? TimerId{} : kernel_.start_timer(at, this, kAgentTimer, m);
}

void World::pump_agent(uint32_t m) {
  Member& mb = mem(m);
  agents::AgentOutput out;
  constexpr int kMaxOutputsPerPump = 10'000;  // bound: an agent emits a few per input
  for (int i = 0; i < kMaxOutputsPerPump && mb.agent->poll_output(&out); ++i) {
    switch (out.kind) {
      case agents::AgentOutput::Kind::kConnect: start_connect(m); break;
      case agents::AgentOutput::Kind::kTransmit: send_up(m, std::move(out.frame), false); break;
      case agents::AgentOutput::Kind::kClose: send_up(m, nullptr, true); break;
    }
  }
  sync_agent_timer(m);
}

void World::start_connect(uint32_t m) {
  Member& mb = mem(m);
  drop_transport(m);
  const uint32_t epoch = mb.epoch;
  mb.up_last_ns = mb.down_last_ns = kernel_.now();
  TimeNs until;
  if (mb.outages.down_at(kernel_.now(), &until)) {
    kernel_.schedule_in(kConnectFailNs, this, kConnectDone, pack(m, epoch | 0x80000000u));
    return;
  }
  kernel_.schedule_in(host::handshake_ns(mb), this, kConnectDone, pack(m, epoch));
}

void World::drop_transport(uint32_t m) {
  Member& mb = mem(m);
  // The server sends a member it has lost no media; whoever's stream it was.
  if (mb.down.streaming()) mb.down.stop_stream(host::kStreamOwnerAny, kernel_.now(), mb.rtt_ns);
  ++mb.epoch;
  mb.epoch &= 0x7fffffffu;
  mb.connected = false;
  mb.conn = 0;
}

uint32_t World::new_flight(uint32_t m, bool close, wire::SharedFrame frame) {
  const Member& mb = mem(m);
  uint32_t slot;
  if (!free_flights_.empty()) {
    slot = free_flights_.back();
    free_flights_.pop_back();
  } else {
    CELLSIM_ASSERT(flights_.size() < kMaxInFlightFrames);
    slot = static_cast<uint32_t>(flights_.size());
    flights_.emplace_back();
  }
  flights_[slot] = InFlight{m, mb.epoch, mb.conn, close, std::move(frame)};
  return slot;
}

World::InFlight World::take_flight(uint32_t slot) {
  InFlight f = std::move(flights_[slot]);
  flights_[slot] = InFlight{};
  free_flights_.push_back(slot);
  ++frames_;
  return f;
}

void World::connect_done(uint32_t m, uint32_t epoch) {
  Member& mb = mem(m);
  const bool failed = epoch & 0x80000000u;
  if ((epoch & 0x7fffffffu) != mb.epoch) return;
  if (failed) {
    mb.agent->handle_disconnected(kernel_.now());
    pump_agent(m);
    return;
  }
  Node& node = *nodes_[mb.node];
  mb.connected = true;
  mb.conn = node.next_conn++;
  node.conn_member[mb.conn] = Node::ConnOwner{m, mb.epoch};
  node.engine->handle_connect(kernel_.now(), mb.conn);
  sync_engine_timer(node.index);
  mb.up.reset(kernel_.now());
  mb.down.reset(kernel_.now());
  schedule_outage_check(m);
  mb.agent->handle_connected(kernel_.now());
  pump_agent(m);
}

// --- Links ------------------------------------------------------------------

void World::send_up(uint32_t m, wire::SharedFrame frame, bool close) {
  Member& mb = mem(m);
  if (!mb.connected) {
    if (close) drop_transport(m);  // a connect in progress is abandoned
    return;
  }
  const TimeNs now = kernel_.now();
  TimeNs at = close ? std::max(now + mb.up.draw_delay_ns(), mb.up_last_ns)
                    : mb.up.transmit(now, frame->size(), mb.rtt_ns);
  if (!close) break_if_repair_outlasts(m, mb.up);
  at = mb.after_outages(kernel_.now(), at, &mb.up);
  mb.up.stall_until(at);
  mb.up_last_ns = at;
  kernel_.schedule_at(at, this, kUpArrive, new_flight(m, close, std::move(frame)));
  if (close) drop_transport(m);  // the member's side is gone; the FIN travels on
}

void World::arrive_up(uint32_t slot) {
  InFlight f = take_flight(slot);
  Member& mb = mem(f.member);
  Node& node = *nodes_[mb.node];
  const auto it = node.conn_member.find(f.conn);
  if (it == node.conn_member.end() || it->second.member != f.member) return;  // gone
  if (f.close) {
    node.conn_member.erase(it);
    node.engine->handle_disconnect(kernel_.now(), f.conn);
    drain_engine(node, kernel_.now(), v1::Envelope::BODY_NOT_SET, false);
    return;
  }
  std::optional<Work> now_work =
      node.cores.arrive(Work{f.member, f.epoch, f.conn, std::move(f.frame), kernel_.now()});
  node.figures->peak_queue_frames = node.cores.peak_queued();
  if (now_work) start_work(node, std::move(*now_work));
}

void World::start_work(Node& node, Work work) {
  const TimeNs now = kernel_.now();
  node.figures->queue_wait_us.record((now - work.arrived_ns) / 1000);
  ++node.figures->frames_in;
  frame_types_.reset();
  node.engine->handle_bytes(now, work.conn, *work.frame);
  check_engine(node, mem(work.member).agent->plan().cell_id);
  const v1::Envelope::BodyCase body = frame_types_.last_in();
  // A member on a TLS link: its connection's handshake is priced with its
  // Hello (cellmeetd's acceptor does both before it routes the connection).
  const double tls_us = body == v1::Envelope::kHello && mem(work.member).profile_spec->tls()
                            ? costs_.tls_handshake_us()
                            : 0;
  const TimeNs done = drain_engine(node, now, body, true, tls_us);
  kernel_.schedule_at(done, this, kCoreFree, node.index);
}

void World::core_free(uint32_t n) {
  Node& node = *nodes_[n];
  if (std::optional<Work> next = node.cores.finish()) start_work(node, std::move(*next));
}

// Takes the engine's outputs, charges the CPU for them (when `count_cpu`),
// and sends them when the core is done. Returns that time.
TimeNs World::drain_engine(Node& node, TimeNs now, v1::Envelope::BodyCase body, bool count_cpu,
                           double extra_us) {
  std::vector<engine::Output> outs;
  engine::Output o;
  while (node.engine->poll_output(&o)) outs.push_back(std::move(o));
  size_t frames_out = 0;
  for (const auto& out : outs) frames_out += out.kind == engine::Output::Kind::kTransmit;
  const double us = (count_cpu ? costs_.cost_us(body, frames_out) : costs_.timer_us()) + extra_us;
  const TimeNs done = now + static_cast<TimeNs>(us * 1e3);
  node.figures->busy_ns += static_cast<uint64_t>(done - now);
  for (auto& out : outs) {
    auto it = node.conn_member.find(out.conn);
    const bool live = it != node.conn_member.end() &&
                      mem(it->second.member).epoch == it->second.epoch;
    switch (out.kind) {
      case engine::Output::Kind::kTransmit:
        if (!live) break;
        ++node.figures->frames_out;
        send_down(it->second.member, done, std::move(out.frame), false);
        break;
      case engine::Output::Kind::kClose:
        if (it == node.conn_member.end()) break;
        if (live) send_down(it->second.member, done, nullptr, true);
        if (live) mem(it->second.member).conn = 0;
        node.conn_member.erase(it);
        break;
      case engine::Output::Kind::kMinutes: check_minutes(*out.minutes); break;
      case engine::Output::Kind::kJournal:
      case engine::Output::Kind::kBallotBox: break;  // the simulator keeps no journal
    }
  }
  sync_engine_timer(node.index);
  return done;
}

void World::send_down(uint32_t m, TimeNs at_ns, wire::SharedFrame frame, bool close) {
  Member& mb = mem(m);
  Node& node = *nodes_[mb.node];
  TimeNs at;
  if (close) {
    at = std::max(at_ns + mb.down.draw_delay_ns(), mb.down_last_ns);
  } else {
    const TimeNs sent_ns = node.nic.send(at_ns, frame->size());
    node.figures->egress_bytes += frame->size();
    at = mb.down.transmit(sent_ns, frame->size(), mb.rtt_ns);
    break_if_repair_outlasts(m, mb.down);
  }
  at = mb.after_outages(kernel_.now(), at, &mb.down);
  mb.down.stall_until(at);
  mb.down_last_ns = at;
  kernel_.schedule_at(at, this, kDownArrive, new_flight(m, close, std::move(frame)));
}

void World::arrive_down(uint32_t slot) {
  InFlight f = take_flight(slot);
  Member& mb = mem(f.member);
  if (f.epoch != mb.epoch) return;  // the member has moved on to another connection
  if (f.close) {
    drop_transport(f.member);
    mb.agent->handle_disconnected(kernel_.now());
  } else {
    mb.agent->handle_bytes(kernel_.now(), *f.frame);
  }
  pump_agent(f.member);
}

void World::sync_engine_timer(uint32_t n) {
  Node& node = *nodes_[n];
  const auto t = node.engine->poll_timeout();
  const TimeNs at = t ? std::max(*t, kernel_.now()) : kNever;
  if (at == node.timer_at) return;
  kernel_.cancel(node.timer);
  node.timer_at = at;
  node.timer = at == kNever ? TimerId{} : kernel_.start_timer(at, this, kEngineTimer, n);
}

// --- Outages ----------------------------------------------------------------

void World::schedule_outage_check(uint32_t m) {
  Member& mb = mem(m);
  const auto w = mb.outages.next_window(kernel_.now());
  if (w.start == OutageSchedule::kNoOutage || w.start >= end_ns()) return;
  kernel_.schedule_at(std::max(w.start, kernel_.now()), this, kOutageBegin, pack(m, mb.epoch));
}

void World::outage_begin(uint32_t m, uint32_t epoch) {
  Member& mb = mem(m);
  if (epoch != mb.epoch || !mb.connected) return;
  const auto w = mb.outages.next_window(kernel_.now());
  if (mb.outage_recovery_ns(kernel_.now(), w.end) - kernel_.now() >= liveness_ns()) {
    kernel_.schedule_at(kernel_.now() + liveness_ns(), this, kBreak, pack(m, epoch));
    return;
  }
  // A short outage: frames sent during it stall (send_up/send_down); a
  // stream's packets are lost in it too, and what follows them waits for
  // their repair (HostMember::after_outages). Then check the next one.
  const TimeNs now = kernel_.now();
  for (host::LinkDirection* dir : {&mb.up, &mb.down}) {
    if (dir->tcp_streaming()) dir->stall_until(mb.after_outages(now, now + mb.rtt_ns / 2, dir));
  }
  const auto next = mb.outages.window_after(w.end);
  if (next.start != OutageSchedule::kNoOutage && next.start < end_ns()) {
    kernel_.schedule_at(next.start, this, kOutageBegin, pack(m, epoch));
  }
}

// A frame whose losses are still being retransmitted when the liveness
// window has passed breaks the connection then, as a long outage does.
void World::break_if_repair_outlasts(uint32_t m, const host::LinkDirection& dir) {
  if (dir.last_repair_ns() < liveness_ns()) return;
  kernel_.schedule_at(kernel_.now() + liveness_ns(), this, kBreak, pack(m, mem(m).epoch));
}

void World::break_connection(uint32_t m, uint32_t epoch) {
  Member& mb = mem(m);
  if (epoch != mb.epoch || !mb.connected) return;
  Node& node = *nodes_[mb.node];
  if (mb.conn != 0 && node.conn_member.erase(mb.conn) > 0) {
    node.engine->handle_disconnect(kernel_.now(), mb.conn);
    drain_engine(node, kernel_.now(), v1::Envelope::BODY_NOT_SET, false);
  }
  drop_transport(m);
  mb.agent->handle_disconnected(kernel_.now());
  pump_agent(m);
}

// --- Dispatch ---------------------------------------------------------------

void World::on_event(Kernel& k, uint32_t kind, uint64_t arg) {
  const TimeNs now = k.now();
  switch (kind) {
    case kAgentTimer: {
      Member& mb = mem(arg);
      mb.agent_timer_at = kNever;
      mb.agent_timer = TimerId{};
      mb.agent->handle_timeout(now);
      pump_agent(static_cast<uint32_t>(arg));
      // Bound: an agent whose timer stays due without progress is a bug.
      const auto next = mb.agent->poll_timeout();
      mb.timer_spins = next && *next <= now ? mb.timer_spins + 1 : 0;
      if (mb.timer_spins > kMaxTimerSpins) {
        violation("cell " + std::to_string(mb.agent->plan().cell_id) + " member " +
                  std::to_string(mb.agent->plan().member_id) +
                  ": agent timer spins at one instant (" + mb.agent->debug_state(now) + ")");
        kernel_.cancel(mb.agent_timer);
        mb.agent_timer = TimerId{};
        mb.agent_timer_at = agents::kNever - 1;  // silenced
      }
      break;
    }
    case kConnectDone: connect_done(index_of(arg), epoch_of(arg)); break;
    case kUpArrive: arrive_up(static_cast<uint32_t>(arg)); break;
    case kDownArrive: arrive_down(static_cast<uint32_t>(arg)); break;
    case kCoreFree: core_free(static_cast<uint32_t>(arg)); break;
    case kEngineTimer: {
      Node& node = *nodes_[arg];
      node.timer_at = kNever;
      node.timer = TimerId{};
      node.engine->handle_timeout(now);
      drain_engine(node, now, v1::Envelope::BODY_NOT_SET, false);
      break;
    }
    case kOutageBegin: outage_begin(index_of(arg), epoch_of(arg)); break;
    case kBreak: break_connection(index_of(arg), epoch_of(arg)); break;
    default: CELLSIM_ASSERT(false && "unknown event kind");
  }
}

// --- Observations -----------------------------------------------------------

void World::event_hook(uint32_t m, Event e, int64_t detail) {
  if (e == Event::kSpeaking) speaking(m, detail != 0);
}

// The media of a member who starts (stops) speaking: a stream on its uplink
// and on the downlink of each member present, as the server relays it
// (host/link.h: the frames occupy the links and hold back those behind them;
// the bytes are accounted in on_media()).
void World::speaking(uint32_t m, bool start) {
  if (media_period_ns_ == 0) return;
  Member& mb = mem(m);
  const TimeNs now = kernel_.now();
  const TimeNs relay_ns = ms_to_ns(mb.profile_spec->base_one_way_ms());
  if (!start) {
    stop_voice(m, now, relay_ns);
    return;
  }
  if (!mb.connected) return;
  start_voice(m, now, relay_ns);
}

void World::start_voice(uint32_t m, TimeNs now, TimeNs relay_ns) {
  Member& mb = mem(m);
  if (!mb.uplink_tap) mb.uplink_tap = std::make_unique<UplinkTap>();
  mb.uplink_tap->arrival_ns.clear();
  mb.uplink_tap->outages = &mb.outages;
  mb.uplink_tap->datagrams = media_transport_ == host::StreamTransport::kDatagram;
  mb.up.start_stream(m, now, media_period_ns_, media_up_bytes_, mb.rtt_ns, media_transport_,
                     mb.uplink_tap.get());
  mb.stream_to.clear();
  mb.taps.clear();
  for (uint32_t r : cell(mb.cell).members) {
    Member& rb = mem(r);
    if (r == m || !rb.connected || !rb.joined) continue;
    mb.taps.push_back(std::make_unique<VoiceTap>(this, m, r, now, voice_));
    rb.down.start_stream(m, now + relay_ns, media_period_ns_, media_down_bytes_, rb.rtt_ns,
                         media_transport_, mb.taps.back().get());
    mb.stream_to.push_back(r);
  }
}

// The interval ends: the streams stop (caught up), and each listener's
// interval is recorded with every frame the speaker sent.
void World::stop_voice(uint32_t m, TimeNs now, TimeNs relay_ns) {
  Member& mb = mem(m);
  mb.up.stop_stream(m, now, mb.rtt_ns);
  for (uint32_t r : mb.stream_to) mem(r).down.stop_stream(m, now + relay_ns, mem(r).rtt_ns);
  const uint64_t frames =
      mb.uplink_tap ? std::min<uint64_t>(mb.uplink_tap->arrival_ns.size(), agents::kMaxSpeechFrames)
                    : 0;
  for (const auto& tap : mb.taps) {
    if (frames == 0) break;
    on_speech(mem(tap->listener).agent->plan(), mb.agent->plan().member_id,
              tap->meter.finish(frames));
  }
  mb.stream_to.clear();
  mb.taps.clear();
}

// Frame `index` of a listener's downlink stream: heard after the uplink's
// transit, the relay and the downlink's (unless lost on either).
void World::voice_frame(VoiceTap& tap, uint64_t index, TimeNs sent_ns, TimeNs arrival_ns) {
  if (index >= agents::kMaxSpeechFrames || arrival_ns == host::kDatagramLost) return;
  Member& speaker = mem(tap.speaker);
  const TimeNs capture_ns = tap.start_ns + static_cast<TimeNs>(index) * media_period_ns_;
  speaker.up.advance_stream(capture_ns + 1);  // the uplink's frame `index`
  const std::vector<TimeNs>& up = speaker.uplink_tap->arrival_ns;
  if (index >= up.size() || up[index] == host::kDatagramLost) return;
  if (media_transport_ == host::StreamTransport::kDatagram) {
    const auto w = mem(tap.listener).outages.window_after(sent_ns);
    if (w.start <= sent_ns && sent_ns < w.end) return;
  }
  tap.meter.on_frame(index, capture_ns, up[index] + (arrival_ns - sent_ns));
}

void World::media_hook(uint32_t m, bool sent, uint64_t payload_bytes) {
  const Member& mb = mem(m);
  // The fluid model: what the speaker's recipients receive leaves the node,
  // and the node's cores pay for each frame and each relay (utilisation only:
  // media does not queue for a core here).
  metrics::ServerFigures& f = *nodes_[mb.node]->figures;
  if (media_payload_bytes_ == 0) return;
  const uint64_t n = payload_bytes / media_payload_bytes_;  // frames sent, or relayed
  // The frames' bytes on the links, as the live driver counts them.
  metrics::Traffic& t = recorder().traffic(mb.cell_type, mb.profile);
  if (sent) {
    t.bytes_up += n * media_up_bytes_;
  } else {
    t.bytes_down += n * media_down_bytes_;
    f.egress_bytes += n * media_down_bytes_;
  }
  const double base_us = costs_.cost_us(v1::Envelope::kMediaFrame, 0);
  const double us = sent ? base_us : costs_.cost_us(v1::Envelope::kMediaFrame, 1) - base_us;
  f.busy_ns += static_cast<uint64_t>(static_cast<double>(n) * us * 1e3);
}

// Meeting::check_invariants() of the cell an input concerned, on every
// engine_check_every-th input.
void World::check_engine(Node& node, uint64_t cell_id) {
  if (o_.engine_check_every == 0 || ++engine_inputs_ % o_.engine_check_every != 0) return;
  ++engine_checks_;
  std::string why;
  if (!node.engine->check_cell_invariants(cell_id, &why)) {
    std::fprintf(stderr, "cellsim: node %u, cell %llu: %s\n", node.index,
                 static_cast<unsigned long long>(cell_id), why.c_str());
    CELLSIM_ASSERT(false && "the engine's meeting invariants hold after every input");
  }
}

void World::finish(bool complete) {
  const TimeNs now = kernel_.now();
  finish_run(now, complete);
  for (auto& n : nodes_) {
    if (n) n->figures->elapsed_ns = static_cast<uint64_t>(now - start_ns());
  }
}

}  // namespace cellsim::sim
