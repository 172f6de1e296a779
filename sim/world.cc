#include "sim/world.h"

#include <algorithm>
#include <cmath>

#include "proto/assert.h"
#include "scenario/loader.h"
#include "scenario/plan.h"
#include "server/engine/token.h"
#include "sim/core_queue.h"
#include "sim/host.h"

namespace cellsim::sim {
namespace {

using agents::kNever;
using agents::Rng;
using agents::StreamKind;

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

// The envelope's body field number, read from the encoded frame without
// parsing it (field 1, request_id, may come first).
v1::Envelope::BodyCase peek_body(const std::string& frame) {
  size_t i = wire::kFrameHeaderBytes;
  while (i < frame.size()) {
    uint64_t tag = 0;
    for (int shift = 0; i < frame.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(frame[i++]);
      tag |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) break;
    }
    const uint64_t field = tag >> 3;
    if (field != 1) return static_cast<v1::Envelope::BodyCase>(field);
    while (i < frame.size() && (static_cast<unsigned char>(frame[i++]) & 0x80)) {
    }
  }
  return v1::Envelope::BODY_NOT_SET;
}


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

struct World::Member {
  Member(const v1::NetworkProfile* p, uint64_t seed, uint64_t id, TimeNs start_ns)
      : up(p, p->bandwidth_up_kbps(), Rng(seed, StreamKind::kLinkUp, id)),
        down(p, p->bandwidth_down_kbps(), Rng(seed, StreamKind::kLinkDown, id)),
        outages(p->has_outages() ? &p->outages() : nullptr, Rng(seed, StreamKind::kOutage, id),
                start_ns),
        profile_spec(p) {}
  std::unique_ptr<agents::Agent> agent;
  uint32_t cell = 0, node = 0, cell_type = 0, profile = 0;
  LinkDirection up, down;
  OutageSchedule outages;
  const v1::NetworkProfile* profile_spec;
  TimerId agent_timer;
  TimeNs agent_timer_at = kNever;
  uint32_t epoch = 0;          // transport connection number; stale events carry older ones
  bool connected = false;      // the transport is established
  engine::ConnId conn = 0;     // the node's id for the connection, 0 if none
  TimeNs rtt_ns = 0;
  bool ever_connected = false;
  bool joined = false;
  uint32_t timer_spins = 0;  // consecutive timer runs that left the timer due
  TimeNs up_last_ns = 0;     // latest arrival scheduled upstream (a FIN goes after it)
  TimeNs down_last_ns = 0;
  // While speaking: the members whose downlinks carry this member's media
  // stream (at most the cell's members).
  std::vector<uint32_t> stream_to;
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
  TimeNs nic_busy_until_ns = 0;
  double nic_ns_per_byte = 0;
  metrics::ServerFigures* figures = nullptr;
};

struct World::Cell {
  uint64_t cell_id = 0;
  uint32_t cell_type = 0;
  uint32_t node = 0;
  v1::CellRoster roster;
  agents::CellBoard board;
  std::vector<uint32_t> members;  // World::members_ indices
  bool reported = false;
  agents::MeetingReport report;
};

World::World(const WorldOptions& options, metrics::Recorder* recorder)
    : o_(options),
      rec_(recorder),
      kernel_(options.scenario->start_unix_s() * kNsPerS),
      start_ns_(options.scenario->start_unix_s() * kNsPerS) {
  CELLSIM_ASSERT(o_.scenario && o_.calibration && o_.shard_count > 0 && o_.shard_index < o_.shard_count);
}

World::~World() = default;

double World::cost_us(v1::Envelope::BodyCase body, size_t outputs) const {
  const size_t b = static_cast<size_t>(body);
  const double base = b < base_cost_us_.size() ? base_cost_us_[b] : o_.calibration->default_base_us();
  const double per = b < output_cost_us_.size() ? output_cost_us_[b]
                                                 : o_.calibration->default_per_output_us();
  return base + per * static_cast<double>(outputs);
}

bool World::build(std::string* why) {
  const v1::Scenario& s = *o_.scenario;
  end_ns_ = start_ns_ + min_to_ns(s.duration_min());
  key_ = "cellsim-sim-key:" + std::to_string(s.seed());
  const auto q = scenario::engine_quorum(s.rules().quorum_fraction());
  engine_settings_.rules.quorum = {q.num, q.den};
  engine_settings_.rules.heartbeat_interval_ms = s.rules().heartbeat_interval_ms();
  engine_settings_.rules.missed_heartbeats = s.rules().missed_heartbeats();
  apply_media_pacing(s.media(), &engine_settings_);
  engine_settings_.run_id = s.seed();
  liveness_ns_ = TimeNs{s.rules().heartbeat_interval_ms()} * s.rules().missed_heartbeats() * kNsPerMs;

  const auto* desc = v1::Envelope::descriptor();
  base_cost_us_.assign(64, o_.calibration->default_base_us());
  output_cost_us_.assign(64, o_.calibration->default_per_output_us());
  for (const auto& c : o_.calibration->costs()) {
    const auto* f = desc->FindFieldByName(c.type());
    if (f == nullptr || f->number() >= 64) {
      *why = "calibration names an unknown frame type \"" + c.type() + "\"";
      return false;
    }
    base_cost_us_[f->number()] = c.base_us();
    output_cost_us_[f->number()] = c.per_output_us();
  }
  for (const auto& p : s.profiles()) {
    const uint32_t i = register_profile(*rec_, p);
    if (profiles_.size() <= i) profiles_.resize(i + 1);
    profiles_[i] = &p;
  }
  if (s.media().bitrate_kbps() > 0 && s.media().frame_ms() > 0) {
    // The encoded sizes of a media frame, as sent and as relayed.
    v1::Envelope env;
    env.mutable_media_frame()->set_seq(100'000);
    env.mutable_media_frame()->set_payload(
        std::string(uint64_t{s.media().bitrate_kbps()} * s.media().frame_ms() / 8, '\0'));
    media_up_bytes_ = static_cast<uint32_t>(wire::encode_frame(env).size());
    env.mutable_media_frame()->set_from_member_id(1'000'000);
    media_down_bytes_ = static_cast<uint32_t>(wire::encode_frame(env).size());
    media_period_ns_ = TimeNs{s.media().frame_ms()} * kNsPerMs;
    media_payload_bytes_ =
        static_cast<uint32_t>(uint64_t{s.media().bitrate_kbps()} * s.media().frame_ms() / 8);
  }
  const uint32_t nodes = std::max<uint32_t>(1, s.server().nodes());
  nodes_.resize(nodes);
  for (uint32_t n = 0; n < nodes; ++n) {
    if (n % o_.shard_count != o_.shard_index) continue;
    auto node = std::make_unique<Node>();
    node->index = n;
    node->cores = CoreQueue<Work>(std::max<uint32_t>(1, s.server().cores_per_node()));
    node->engine = std::make_unique<engine::Engine>(engine_settings_, key_);
    node->nic_ns_per_byte = 8e3 / std::max<uint32_t>(1, s.server().nic_egress_mbps());
    node->figures = &rec_->server(n);
    node->figures->cores = node->cores.cores();
    nodes_[n] = std::move(node);
  }
  for (const scenario::CellSlot& slot : scenario::cell_slots(s)) {
    if (nodes_[slot.cell_index % nodes] == nullptr) continue;  // another shard's
    build_cell(scenario::plan_cell(s, slot, start_ns_));
  }
  for (auto& n : nodes_) {
    if (n) sync_engine_timer(n->index);
  }
  return true;
}

void World::build_cell(scenario::CellSetup setup) {
  const v1::Scenario& s = *o_.scenario;
  const v1::CellType& ct = s.cell_types(setup.cell_type_pos);
  auto cell = std::make_unique<Cell>();
  cell->cell_id = setup.cell_id;
  cell->cell_type = register_cell_type(*rec_, ct);
  cell->node = setup.node;
  cell->roster = setup.roster;
  std::string why;
  const bool added = nodes_[cell->node]->engine->add_cell(cell->roster, &why);
  CELLSIM_ASSERT(added && "a planned roster is always valid");
  (void)added;
  rec_->add_cells(cell->cell_type, 1);
  rec_->quorum(cell->cell_type).meetings += 1;
  nodes_[cell->node]->figures->cells += 1;
  const uint32_t cell_slot = static_cast<uint32_t>(cells_.size());
  for (scenario::MemberSetup& ms : setup.members) {
    const uint32_t profile = rec_->profile_index(s.profiles(ms.profile_pos).name());
    ms.plan.token = member_token(key_, ms.plan, end_ns_);
    auto m = std::make_unique<Member>(profiles_[profile], s.seed(), ms.member_no, start_ns_);
    for (const auto& [from, to] : ms.outage_windows) m->outages.add_window(from, to);
    m->cell = cell_slot;
    m->node = cell->node;
    m->cell_type = cell->cell_type;
    m->profile = profile;
    m->rtt_ns = 2 * ms_to_ns(profiles_[profile]->base_one_way_ms());
    ms.plan.host_tag = members_.size();
    cell->members.push_back(static_cast<uint32_t>(members_.size()));
    rec_->add_members(cell->cell_type, profile, 1);
    m->agent = std::make_unique<agents::Agent>(
        std::move(ms.plan), Rng(s.seed(), StreamKind::kMember, ms.member_no | (uint64_t{1} << 63)),
        &cell->board, this);
    members_.push_back(std::move(m));
  }
  cells_.push_back(std::move(cell));
  for (uint32_t m : cells_.back()->members) {
    members_[m]->agent->start(kernel_.now());
    sync_agent_timer(m);
  }
}

// --- Agents -----------------------------------------------------------------

void World::sync_agent_timer(uint32_t m) {
  Member& mb = *members_[m];
  const auto t = mb.agent->poll_timeout();
  const TimeNs at = t ? std::max(*t, kernel_.now()) : kNever;
  if (at == mb.agent_timer_at) return;
  kernel_.cancel(mb.agent_timer);
  mb.agent_timer_at = at;
  mb.agent_timer = at == kNever ? TimerId{} : kernel_.start_timer(at, this, kAgentTimer, m);
}

void World::pump_agent(uint32_t m) {
  Member& mb = *members_[m];
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
  Member& mb = *members_[m];
  drop_transport(m);
  const uint32_t epoch = mb.epoch;
  mb.up_last_ns = mb.down_last_ns = kernel_.now();
  TimeNs until;
  if (mb.outages.down_at(kernel_.now(), &until)) {
    kernel_.schedule_in(kConnectFailNs, this, kConnectDone, pack(m, epoch | 0x80000000u));
    return;
  }
  TimeNs rtt = mb.up.draw_delay_ns() + mb.down.draw_delay_ns();
  if (mb.profile_spec->tls()) rtt += mb.up.draw_delay_ns() + mb.down.draw_delay_ns();
  kernel_.schedule_in(rtt, this, kConnectDone, pack(m, epoch));
}

void World::drop_transport(uint32_t m) {
  Member& mb = *members_[m];
  // The server sends a member it has lost no media; whoever's stream it was.
  if (mb.down.streaming()) mb.down.stop_stream(kStreamOwnerAny, kernel_.now(), mb.rtt_ns);
  ++mb.epoch;
  mb.epoch &= 0x7fffffffu;
  mb.connected = false;
  mb.conn = 0;
}

uint32_t World::new_flight(uint32_t m, bool close, wire::SharedFrame frame) {
  const Member& mb = *members_[m];
  uint32_t slot;
  if (!free_flights_.empty()) {
    slot = free_flights_.back();
    free_flights_.pop_back();
  } else {
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
  Member& mb = *members_[m];
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

// The stream stalls through an outage: what would arrive during it arrives
// one retransmission timeout after it ends.
TimeNs World::after_outages(Member& mb, TimeNs at) {
  const auto w = mb.outages.next_window(kernel_.now());
  if (w.start < at) {
    at = std::max(at, w.end + std::max(ms_to_ns(mb.profile_spec->rto_min_ms()), mb.rtt_ns));
  }
  return at;
}

void World::send_up(uint32_t m, wire::SharedFrame frame, bool close) {
  Member& mb = *members_[m];
  if (!mb.connected) {
    if (close) drop_transport(m);  // a connect in progress is abandoned
    return;
  }
  const TimeNs now = kernel_.now();
  TimeNs at = close ? std::max(now + mb.up.draw_delay_ns(), mb.up_last_ns)
                    : mb.up.transmit(now, frame->size(), mb.rtt_ns);
  at = after_outages(mb, at);
  mb.up.stall_until(at);
  mb.up_last_ns = at;
  kernel_.schedule_at(at, this, kUpArrive, new_flight(m, close, std::move(frame)));
  if (close) drop_transport(m);  // the member's side is gone; the FIN travels on
}

void World::arrive_up(uint32_t slot) {
  InFlight f = take_flight(slot);
  Member& mb = *members_[f.member];
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
  node.engine->handle_bytes(now, work.conn, *work.frame);
  const v1::Envelope::BodyCase body = peek_body(*work.frame);
  // A member on a TLS link: its connection's handshake is priced with its
  // Hello (cellmeetd's acceptor does both before it routes the connection).
  const double tls_us = body == v1::Envelope::kHello && members_[work.member]->profile_spec->tls()
                            ? o_.calibration->tls_handshake_us()
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
  const double us = (count_cpu ? cost_us(body, frames_out) : o_.calibration->timer_us()) + extra_us;
  const TimeNs done = now + static_cast<TimeNs>(us * 1e3);
  node.figures->busy_ns += static_cast<uint64_t>(done - now);
  for (auto& out : outs) {
    auto it = node.conn_member.find(out.conn);
    const bool live = it != node.conn_member.end() &&
                      members_[it->second.member]->epoch == it->second.epoch;
    switch (out.kind) {
      case engine::Output::Kind::kTransmit:
        if (!live) break;
        ++node.figures->frames_out;
        send_down(it->second.member, done, std::move(out.frame), false);
        break;
      case engine::Output::Kind::kClose:
        if (it == node.conn_member.end()) break;
        if (live) send_down(it->second.member, done, nullptr, true);
        if (live) members_[it->second.member]->conn = 0;
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
  Member& mb = *members_[m];
  Node& node = *nodes_[mb.node];
  TimeNs at;
  if (close) {
    at = std::max(at_ns + mb.down.draw_delay_ns(), mb.down_last_ns);
  } else {
    const TimeNs nic_start = std::max(at_ns, node.nic_busy_until_ns);
    node.nic_busy_until_ns = nic_start + static_cast<TimeNs>(frame->size() * node.nic_ns_per_byte);
    node.figures->egress_bytes += frame->size();
    at = mb.down.transmit(node.nic_busy_until_ns, frame->size(), mb.rtt_ns);
  }
  at = after_outages(mb, at);
  mb.down.stall_until(at);
  mb.down_last_ns = at;
  kernel_.schedule_at(at, this, kDownArrive, new_flight(m, close, std::move(frame)));
}

void World::arrive_down(uint32_t slot) {
  InFlight f = take_flight(slot);
  Member& mb = *members_[f.member];
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
  Member& mb = *members_[m];
  const auto w = mb.outages.next_window(kernel_.now());
  if (w.start == OutageSchedule::kNoOutage || w.start >= end_ns_) return;
  kernel_.schedule_at(std::max(w.start, kernel_.now()), this, kOutageBegin, pack(m, mb.epoch));
}

void World::outage_begin(uint32_t m, uint32_t epoch) {
  Member& mb = *members_[m];
  if (epoch != mb.epoch || !mb.connected) return;
  const auto w = mb.outages.next_window(kernel_.now());
  if (w.end - kernel_.now() >= liveness_ns_) {
    kernel_.schedule_at(kernel_.now() + liveness_ns_, this, kBreak, pack(m, epoch));
    return;
  }
  // A short outage: the stream stalls (send_up/send_down); check the next one.
  const auto next = mb.outages.next_window(w.end);
  if (next.start != OutageSchedule::kNoOutage && next.start < end_ns_) {
    kernel_.schedule_at(next.start, this, kOutageBegin, pack(m, epoch));
  }
}

void World::break_connection(uint32_t m, uint32_t epoch) {
  Member& mb = *members_[m];
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
      Member& mb = *members_[arg];
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

// --- Observer -----------------------------------------------------------------

void World::on_measure(const agents::MemberPlan& who, agents::Measure m, TimeNs value_ns) {
  const Member& mb = *members_[who.host_tag];
  const uint32_t profile = m == agents::Measure::kTimeToQuorum ? metrics::Recorder::kNone : mb.profile;
  rec_->record_latency(to_latency(m), mb.cell_type, profile, value_ns / 1000);

}

void World::on_traffic(const agents::MemberPlan& who, bool sent, size_t bytes) {
  const Member& mb = *members_[who.host_tag];
  metrics::Traffic& t = rec_->traffic(mb.cell_type, mb.profile);
  if (sent) {
    ++t.frames_sent;
    t.bytes_up += bytes;
  } else {
    ++t.frames_received;
    t.bytes_down += bytes;
  }
}

void World::on_event(const agents::MemberPlan& who, Event e, int64_t detail) {
  (void)detail;
  Member& mb = *members_[who.host_tag];
  metrics::Traffic& t = rec_->traffic(mb.cell_type, mb.profile);
  switch (e) {
    case Event::kConnected:
      ++t.connects;
      if (mb.ever_connected) ++t.reconnects;
      mb.ever_connected = true;
      break;
    case Event::kDisconnected: ++t.disconnects; break;
    case Event::kJoined: mb.joined = true; break;
    case Event::kSpeaking: speaking(who.host_tag, detail != 0); break;
    default: break;
  }
}

// The media of a member who starts (stops) speaking: a stream on its uplink
// and on the downlink of each member present, as the server relays it
// (sim/link.h: the frames occupy the links and hold back those behind them;
// the bytes are accounted in on_media()).
void World::speaking(uint32_t m, bool start) {
  if (media_period_ns_ == 0) return;
  Member& mb = *members_[m];
  const TimeNs now = kernel_.now();
  const TimeNs relay_ns = ms_to_ns(mb.profile_spec->base_one_way_ms());
  if (!start) {
    mb.up.stop_stream(m, now, mb.rtt_ns);
    for (uint32_t r : mb.stream_to) {
      members_[r]->down.stop_stream(m, now + relay_ns, members_[r]->rtt_ns);
    }
    mb.stream_to.clear();
    return;
  }
  if (!mb.connected) return;
  mb.up.start_stream(m, now, media_period_ns_, media_up_bytes_, mb.rtt_ns);
  mb.stream_to.clear();
  for (uint32_t r : cells_[mb.cell]->members) {
    Member& rb = *members_[r];
    if (r == m || !rb.connected || !rb.joined) continue;
    rb.down.start_stream(m, now + relay_ns, media_period_ns_, media_down_bytes_, rb.rtt_ns);
    mb.stream_to.push_back(r);
  }
}

void World::on_meeting_report(const agents::MeetingReport& report) {
  for (auto& c : cells_) {
    if (c->cell_id != report.cell_id) continue;
    c->reported = true;
    c->report = report;
    record_meeting_report(*rec_, c->cell_type, report, o_.scenario->seed(),
                          static_cast<uint32_t>(c->members.size()));
    return;
  }
}

void World::on_media(const agents::MemberPlan& who, bool sent, uint64_t payload_bytes,
                     uint64_t frames) {
  const Member& mb = *members_[who.host_tag];
  record_media(rec_->traffic(mb.cell_type, mb.profile), sent, payload_bytes, frames);
  // The fluid model: what the speaker's recipients receive leaves the node,
  // and the node's cores pay for each frame and each relay (utilisation only:
  // media does not queue for a core here).
  metrics::ServerFigures& f = *nodes_[mb.node]->figures;
  if (media_payload_bytes_ == 0) return;
  const uint64_t n = payload_bytes / media_payload_bytes_;  // frames sent, or relayed
  // The frames' bytes on the links, as the live driver counts them.
  metrics::Traffic& t = rec_->traffic(mb.cell_type, mb.profile);
  if (sent) {
    t.bytes_up += n * media_up_bytes_;
  } else {
    t.bytes_down += n * media_down_bytes_;
    f.egress_bytes += n * media_down_bytes_;
  }
  const double base_us = cost_us(v1::Envelope::kMediaFrame, 0);
  const double us = sent ? base_us : cost_us(v1::Envelope::kMediaFrame, 1) - base_us;
  f.busy_ns += static_cast<uint64_t>(static_cast<double>(n) * us * 1e3);
}

void World::on_violation(const agents::MemberPlan& who, const std::string& what) {
  violation("cell " + std::to_string(who.cell_id) + " member " + std::to_string(who.member_id) +
            ": " + what);
}

void World::violation(const std::string& what) {
  ++violation_count_;
  if (violations_.size() < kMaxViolationsKept) {
    violations_.push_back("seed " + std::to_string(o_.scenario->seed()) + ", t=" +
                          std::to_string((kernel_.now() - start_ns_) / kNsPerMs) + " ms: " + what);
  }
}

void World::check_minutes(const v1::Minutes& m) {
  for (const auto& v : m.votes()) {
    if (v.method() == v1::VOTE_METHOD_SECRET_BALLOT && v.public_ballots_size() > 0) {
      violation("cell " + std::to_string(m.cell_id()) + ": the minutes link a secret choice to a member");
    }
  }
}

void World::finish(bool complete) {
  const TimeNs now = kernel_.now();
  for (auto& c : cells_) {
    for (uint32_t m : c->members) members_[m]->agent->finish(now);
    uint64_t acked = 0;
    for (const auto& [vote, n] : c->board.acked_by_vote) acked += n;
    rec_->quorum(c->cell_type).ballots_acked += acked;
    if (!complete || !c->report.closed) continue;
    for (const auto& [vote, counted] : c->report.tally_by_vote) {
      const auto it = c->board.acked_by_vote.find(vote);
      const uint64_t n = it == c->board.acked_by_vote.end() ? 0 : it->second;
      if (n != counted) {
        violation("cell " + std::to_string(c->cell_id) + " vote " + std::to_string(vote) + ": " +
                  std::to_string(n) + " ballots acknowledged, " + std::to_string(counted) +
                  " counted");
      }
    }
  }
  for (auto& mb : members_) {
    if (mb->agent->plan().join_at_ns != kNever && mb->agent->plan().join_at_ns < now && !mb->joined) {
      ++rec_->traffic(mb->cell_type, mb->profile).failed_joins;
    }
  }
  for (auto& n : nodes_) {
    if (n) n->figures->elapsed_ns = static_cast<uint64_t>(now - start_ns_);
  }
}

}  // namespace cellsim::sim
