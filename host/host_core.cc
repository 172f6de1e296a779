#include "host/host_core.h"

#include <algorithm>

#include "host/host.h"
#include "proto/assert.h"

namespace cellsim::host {

using agents::kNever;
using agents::kNsPerMs;

HostMember::HostMember(const v1::NetworkProfile* p, uint64_t seed, uint64_t member_no,
                       TimeNs start_ns)
    : up(p, p->bandwidth_up_kbps(), agents::Rng(seed, agents::StreamKind::kLinkUp, member_no)),
      down(p, p->bandwidth_down_kbps(),
           agents::Rng(seed, agents::StreamKind::kLinkDown, member_no)),
      outages(p->has_outages() ? &p->outages() : nullptr,
              agents::Rng(seed, agents::StreamKind::kOutage, member_no), start_ns),
      profile_spec(p),
      rtt_ns(2 * static_cast<TimeNs>(p->base_one_way_ms() * 1e6)) {
  // Each direction carries the other's ACKs (host/link.h).
  up.set_reverse(&down);
  down.set_reverse(&up);
}

namespace {

// The RTO backoff ladder from `from` (first timeout `rto`, doubling, at most
// kMaxRetransmissions retries): the first retry at or after `end` (or the
// last one), and the timeout that would follow it.
struct LadderRetry {
  TimeNs at_ns;
  TimeNs next_rto_ns;
};
LadderRetry retry_past(TimeNs from_ns, TimeNs end_ns, TimeNs rto_ns) {
  TimeNs retry = from_ns;
  for (int i = 0; i < kMaxRetransmissions && retry < end_ns; ++i) {
    retry += rto_ns;
    rto_ns = std::min(2 * rto_ns, kRtoMaxNs);
  }
  return {retry, rto_ns};
}

}  // namespace

TimeNs HostMember::after_outages(TimeNs now_ns, TimeNs at_ns, const LinkDirection* dir) {
  // The link drops what enters it while it is down (as the packet emulator
  // does): a frame sent before an outage is on its way, whatever holds
  // back its delivery.
  const auto w = outages.next_window(now_ns);
  if (!(w.start <= now_ns && now_ns < w.end)) return at_ns;
  if (dir == nullptr) {
    const TimeNs rto_min_ns = static_cast<TimeNs>(profile_spec->rto_min_ms() * 1e6);
    return std::max(at_ns, w.end + std::max(rto_min_ns, rtt_ns));
  }
  // The frame sent at now_ns is lost in the outage; the sender retries on
  // its backoff ladder (now + RTO, + 2·RTO, ...) and the first retry after
  // the outage gets through, then takes the frame's usual transit — or,
  // sooner, the direction's traffic after the outage reveals the loss
  // (RACK: the first packet sent after it is acknowledged a round trip on).
  const LadderRetry ladder = retry_past(now_ns, w.end, dir->rto_ns());
  TimeNs retry = ladder.at_ns < w.end ? w.end + ladder.next_rto_ns : ladder.at_ns;
  const TimeNs spacing = dir->traffic_spacing_ns();
  if (spacing > 0) retry = std::min(retry, w.end + spacing + dir->estimator().srtt_ns());
  // The retry's own transit: the frame's, less what held it back behind
  // earlier frames' repairs (which the retry does not wait for again).
  const TimeNs transit = std::clamp<TimeNs>(dir->last_wire_delivery_ns() - now_ns, 0, at_ns - now_ns);
  return std::max(at_ns, retry + transit);
}

TimeNs HostMember::outage_recovery_ns(TimeNs start_ns, TimeNs end_ns) const {
  const TimeNs rto = std::max(up.rto_ns(), down.rto_ns());
  return std::max(retry_past(start_ns, end_ns, rto).at_ns, end_ns);
}

TimeNs handshake_ns(HostMember& mb) {
  TimeNs t = mb.up.handshake_packet_ns(kRtoInitialNs) + mb.down.handshake_packet_ns(kRtoInitialNs);
  if (mb.profile_spec->tls()) {
    RtoEstimator after(static_cast<TimeNs>(mb.profile_spec->rto_min_ms() * 1e6));
    after.sample(t, t);
    t += mb.up.handshake_packet_ns(after.rto_ns()) + mb.down.handshake_packet_ns(after.rto_ns());
  }
  return t;
}

HostCore::HostCore(const v1::Scenario& scenario, metrics::Recorder* recorder,
                   PlantedFaults faults)
    : s_(scenario), rec_(recorder), faults_(faults) {
  CELLSIM_ASSERT(recorder != nullptr);
  const double threshold = scenario.media().voice().mos_threshold();
  if (threshold > 0) rec_->set_mos_threshold(threshold);
  rec_->set_voice_target_share(scenario.media().voice().min_share());
}

HostCore::~HostCore() = default;

void HostCore::set_run(TimeNs start_ns, TimeNs end_ns, std::string key) {
  CELLSIM_ASSERT(start_ns <= end_ns && members_.empty());
  start_ns_ = start_ns;
  end_ns_ = end_ns;
  key_ = std::move(key);
  liveness_ns_ = TimeNs{s_.rules().heartbeat_interval_ms()} * s_.rules().missed_heartbeats() *
                 kNsPerMs;
}

void HostCore::register_profiles() {
  CELLSIM_ASSERT(profiles_.empty() && cells_.empty());
  for (const auto& p : s_.profiles()) {
    const uint32_t i = register_profile(*rec_, p);
    if (profiles_.size() <= i) profiles_.resize(i + 1);
    profiles_[i] = &p;
  }
}

uint32_t HostCore::add_cell(scenario::CellSetup setup, const MakeMember& make,
                            bool send_media_frames) {
  const v1::CellType& ct = s_.cell_types(setup.cell_type_pos);
  auto cell = std::make_unique<HostCell>();
  cell->cell_id = setup.cell_id;
  cell->cell_type = register_cell_type(*rec_, ct);
  cell->node = setup.node;
  rec_->add_cells(cell->cell_type, 1);
  rec_->quorum(cell->cell_type).meetings += 1;
  const uint32_t cell_index = static_cast<uint32_t>(cells_.size());
  for (scenario::MemberSetup& ms : setup.members) {
    const uint32_t profile = rec_->profile_index(s_.profiles(ms.profile_pos).name());
    CELLSIM_ASSERT(profile < profiles_.size() && profiles_[profile] != nullptr);
    ms.plan.token = member_token(key_, ms.plan, end_ns_);
    std::unique_ptr<HostMember> m = make(profiles_[profile], s_.seed(), ms.member_no, start_ns_);
    for (const auto& [from, to] : ms.outage_windows) m->outages.add_window(from, to);
    m->cell = cell_index;
    m->cell_type = cell->cell_type;
    m->profile = profile;
    ms.plan.host_tag = members_.size();
    ms.plan.media.send_frames = send_media_frames;
    cell->members.push_back(static_cast<uint32_t>(members_.size()));
    rec_->add_members(cell->cell_type, profile, 1);
    m->agent = std::make_unique<agents::Agent>(
        std::move(ms.plan), agents::Rng(s_.seed(), agents::StreamKind::kAgent, ms.member_no),
        &cell->board, this);
    members_.push_back(std::move(m));
  }
  cells_.push_back(std::move(cell));
  return cell_index;
}

void HostCore::finish_run(TimeNs now, bool complete) {
  for (auto& c : cells_) {
    for (uint32_t m : c->members) members_[m]->agent->finish(now);
    uint64_t acked = 0;
    for (const auto& [vote, n] : c->board.acked_by_vote) acked += n;
    rec_->quorum(c->cell_type).ballots_acked += acked;
    if (complete && c->report.closed) check_tallies(*c);
  }
  for (auto& mb : members_) {
    const TimeNs join_at_ns = mb->agent->plan().join_at_ns;
    if (join_at_ns != kNever && join_at_ns < now && !mb->joined) {
      ++rec_->traffic(mb->cell_type, mb->profile).failed_joins;
    }
  }
}

void HostCore::check_tallies(const HostCell& c) {
  for (const auto& [vote, counted_as_reported] : c.report.tally_by_vote) {
    uint64_t counted = counted_as_reported;
    if (faults_.tally_mismatch && !tally_fault_planted_) {
      tally_fault_planted_ = true;
      ++counted;
    }
    const auto acked_it = c.board.acked_by_vote.find(vote);
    const auto cast_it = c.board.cast_by_vote.find(vote);
    const uint64_t acked = acked_it == c.board.acked_by_vote.end() ? 0 : acked_it->second;
    const uint64_t cast = cast_it == c.board.cast_by_vote.end() ? 0 : cast_it->second;
    // Every acknowledged ballot counted, and no more counted than cast. A
    // ballot counted whose acknowledgement was lost with the link (the
    // member gone until the vote closed) is neither.
    if (acked > counted || counted > cast) {
      violation("cell " + std::to_string(c.cell_id) + " vote " + std::to_string(vote) + ": " +
                std::to_string(acked) + " ballots acknowledged, " + std::to_string(counted) +
                " counted, " + std::to_string(cast) + " cast");
    }
  }
}

void HostCore::check_minutes(const v1::Minutes& m) {
  for (const auto& v : m.votes()) {
    if (v.method() != v1::VOTE_METHOD_SECRET_BALLOT || v.public_ballots_size() == 0) continue;
    // One report per meeting, however many members received the minutes.
    if (!leaks_reported_.insert({m.cell_id(), m.meeting_id()}).second) return;
    violation("cell " + std::to_string(m.cell_id()) +
              ": the minutes link a secret choice to a member");
    return;
  }
}

void HostCore::violation(const std::string& what) {
  ++violation_count_;
  if (violations_.size() < kMaxViolationsKept) {
    violations_.push_back("seed " + std::to_string(s_.seed()) + ", t=" +
                          std::to_string((host_now() - start_ns_) / kNsPerMs) + " ms: " + what);
  }
}

// --- AgentObserver ------------------------------------------------------------

void HostCore::on_measure(const agents::MemberPlan& who, agents::Measure m, TimeNs value_ns) {
  const HostMember& mb = *members_[who.host_tag];
  const uint32_t profile =
      m == agents::Measure::kTimeToQuorum ? metrics::Recorder::kNone : mb.profile;
  rec_->record_latency(to_latency(m), mb.cell_type, profile, value_ns / 1000,
                       cells_[mb.cell]->cell_id);
  latency_hook(to_latency(m), value_ns);
}

void HostCore::on_censored(const agents::MemberPlan& who, agents::Measure m, uint64_t count) {
  const HostMember& mb = *members_[who.host_tag];
  const uint32_t profile =
      m == agents::Measure::kTimeToQuorum ? metrics::Recorder::kNone : mb.profile;
  rec_->record_censored(to_latency(m), mb.cell_type, profile, count);
}

void HostCore::on_traffic(const agents::MemberPlan& who, bool sent, size_t bytes) {
  const HostMember& mb = *members_[who.host_tag];
  metrics::Traffic& t = rec_->traffic(mb.cell_type, mb.profile);
  if (sent) {
    ++t.frames_sent;
    t.bytes_up += bytes;
  } else {
    ++t.frames_received;
    t.bytes_down += bytes;
  }
  traffic_hook(static_cast<uint32_t>(who.host_tag), sent, bytes);
}

void HostCore::on_event(const agents::MemberPlan& who, Event e, int64_t detail) {
  HostMember& mb = *members_[who.host_tag];
  metrics::Traffic& t = rec_->traffic(mb.cell_type, mb.profile);
  switch (e) {
    case Event::kConnected:
      ++t.connects;
      if (mb.ever_connected) ++t.reconnects;
      mb.ever_connected = true;
      break;
    case Event::kDisconnected: ++t.disconnects; break;
    case Event::kJoined: mb.joined = true; break;
    default: break;
  }
  event_hook(static_cast<uint32_t>(who.host_tag), e, detail);
}

void HostCore::on_meeting_report(const agents::MeetingReport& report) {
  for (auto& c : cells_) {
    if (c->cell_id != report.cell_id) continue;
    if (c->reported) return;  // a chair reports once; finish() after a close is a no-op
    c->reported = true;
    c->report = report;
    record_meeting_report(*rec_, c->cell_type, report, s_.seed(),
                          static_cast<uint32_t>(c->members.size()));
    return;
  }
}

void HostCore::on_media(const agents::MemberPlan& who, bool sent, uint64_t payload_bytes,
                        uint64_t frames) {
  const HostMember& mb = *members_[who.host_tag];
  record_media(rec_->traffic(mb.cell_type, mb.profile), sent, payload_bytes, frames);
  media_hook(static_cast<uint32_t>(who.host_tag), sent, payload_bytes);
}

void HostCore::on_speech(const agents::MemberPlan& listener, uint64_t speaker_id,
                         const agents::SpeechResult& result) {
  (void)speaker_id;
  const HostMember& mb = *members_[listener.host_tag];
  rec_->record_speech(mb.cell_type, mb.profile, cells_[mb.cell]->cell_id,
                      speech_sample(result, s_.media().frame_ms()));
  speech_hook(static_cast<uint32_t>(listener.host_tag), result);
}

void HostCore::on_minutes(const agents::MemberPlan& who, const v1::Minutes& minutes) {
  (void)who;
  if (!faults_.secret_choice_in_minutes) {
    check_minutes(minutes);
    return;
  }
  v1::Minutes planted = minutes;
  for (auto& v : *planted.mutable_votes()) {
    if (v.method() != v1::VOTE_METHOD_SECRET_BALLOT) continue;
    v.add_public_ballots()->set_member_id(who.member_id);
    break;
  }
  check_minutes(planted);
}

void HostCore::on_violation(const agents::MemberPlan& who, const std::string& what) {
  violation("cell " + std::to_string(who.cell_id) + " member " + std::to_string(who.member_id) +
            ": " + what);
}

}  // namespace cellsim::host
