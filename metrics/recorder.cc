#include "metrics/recorder.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "metrics/attendance.h"
#include "proto/assert.h"

namespace cellsim::metrics {
namespace {

constexpr std::array<std::string_view, kLatencyCount> kLatencyNames = {
    "join_latency",   "heartbeat_rtt",  "broadcast_latency",
    "ballot_latency", "result_latency", "time_to_quorum",
};

// The metrics in the order they are exported: by name.
std::array<Latency, kLatencyCount> latencies_by_name() {
  std::array<Latency, kLatencyCount> order;
  for (size_t i = 0; i < kLatencyCount; ++i) order[i] = static_cast<Latency>(i);
  std::sort(order.begin(), order.end(),
            [](Latency a, Latency b) { return latency_name(a) < latency_name(b); });
  return order;
}

void add_traffic(const Traffic& t, Traffic* sum) {
  sum->frames_sent += t.frames_sent;
  sum->frames_received += t.frames_received;
  sum->bytes_up += t.bytes_up;
  sum->bytes_down += t.bytes_down;
  sum->connects += t.connects;
  sum->disconnects += t.disconnects;
  sum->reconnects += t.reconnects;
  sum->failed_joins += t.failed_joins;
  sum->media_bytes += t.media_bytes;
  sum->media_bytes_sent += t.media_bytes_sent;
  sum->media_frames_sent += t.media_frames_sent;
}

void add_quorum(const Quorum& q, Quorum* sum) {
  sum->meetings += q.meetings;
  sum->meetings_quorate_by_deadline += q.meetings_quorate_by_deadline;
  sum->meetings_ever_quorate += q.meetings_ever_quorate;
  sum->meeting_time_ns += q.meeting_time_ns;
  sum->quorate_time_ns += q.quorate_time_ns;
  sum->quorum_losses += q.quorum_losses;
  sum->votes_held += q.votes_held;
  sum->votes_valid += q.votes_valid;
  sum->votes_passed += q.votes_passed;
  sum->ballots_acked += q.ballots_acked;
  sum->ballots_counted += q.ballots_counted;
  sum->meetings_closed += q.meetings_closed;
  sum->minutes_complete += q.minutes_complete;
  sum->meetings_quorate_by_deadline_chair += q.meetings_quorate_by_deadline_chair;
}

void traffic_to_proto(const Traffic& t, v1::TrafficStats* out) {
  out->set_frames_sent(t.frames_sent);
  out->set_frames_received(t.frames_received);
  out->set_bytes_up(t.bytes_up);
  out->set_bytes_down(t.bytes_down);
  out->set_connects(t.connects);
  out->set_disconnects(t.disconnects);
  out->set_reconnects(t.reconnects);
  out->set_failed_joins(t.failed_joins);
  out->set_media_bytes(t.media_bytes);
  out->set_media_bytes_sent(t.media_bytes_sent);
  out->set_media_frames_sent(t.media_frames_sent);
}

void quorum_to_proto(const Quorum& q, v1::QuorumStats* out) {
  out->set_meetings(q.meetings);
  out->set_meetings_quorate_by_deadline(q.meetings_quorate_by_deadline);
  out->set_meetings_ever_quorate(q.meetings_ever_quorate);
  out->set_meeting_time_ns(q.meeting_time_ns);
  out->set_quorate_time_ns(q.quorate_time_ns);
  out->set_quorum_losses(q.quorum_losses);
  out->set_votes_held(q.votes_held);
  out->set_votes_valid(q.votes_valid);
  out->set_votes_passed(q.votes_passed);
  out->set_ballots_acked(q.ballots_acked);
  out->set_ballots_counted(q.ballots_counted);
  out->set_meetings_closed(q.meetings_closed);
  out->set_minutes_complete(q.minutes_complete);
  out->set_meetings_quorate_by_deadline_chair(q.meetings_quorate_by_deadline_chair);
}

// Indices of `names` ordered by name.
std::vector<uint32_t> by_name(const std::vector<std::string>& names) {
  std::vector<uint32_t> order(names.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return names[a] < names[b]; });
  return order;
}

}  // namespace

std::string_view latency_name(Latency m) {
  CELLSIM_ASSERT(m < Latency::kCount);
  return kLatencyNames[static_cast<size_t>(m)];
}

std::optional<Latency> latency_from_name(std::string_view name) {
  for (size_t i = 0; i < kLatencyCount; ++i) {
    if (kLatencyNames[i] == name) return static_cast<Latency>(i);
  }
  return std::nullopt;
}

HistogramLayout batch_layout() {
  HistogramLayout l;
  l.significant_digits = 2;
  return l;
}

namespace {

template <typename BatchSet>
void init_batches(BatchSet* set) {
  for (auto& latencies : *set) {
    for (Histogram& h : latencies) h = Histogram(batch_layout());
  }
}

}  // namespace

HistogramLayout mos_layout() {
  HistogramLayout l;
  l.lowest_discernible = 1;
  l.highest_trackable = 5000;
  l.significant_digits = 3;
  l.unit = "mos_milli";
  return l;
}

VoiceFigures::VoiceFigures() : mos_milli(mos_layout()) {}

Recorder::Recorder() { init_batches(&overall_batches_); }

void Recorder::set_mos_threshold(double mos) {
  CELLSIM_ASSERT(mos >= 1 && mos <= 4.5);
  mos_threshold_milli_ = static_cast<uint32_t>(std::lround(mos * 1000));
}

void Recorder::set_voice_target_share(double share) {
  CELLSIM_ASSERT(share >= 0 && share <= 1);
  voice_target_share_milli_ = static_cast<uint32_t>(std::lround(share * 1000));
}

namespace {

void add_speech(const SpeechSample& s, uint32_t threshold_milli, uint32_t batch, VoiceFigures* v) {
  const auto speech_ms =
      static_cast<uint64_t>(std::llround(static_cast<double>(s.frames_sent) * s.frame_ms));
  const auto mos_milli = static_cast<int64_t>(std::lround(s.mos * 1000));
  const bool heard = mos_milli >= threshold_milli;
  ++v->intervals;
  v->frames_sent += s.frames_sent;
  v->frames_played += s.frames_played;
  v->frames_late += s.frames_late;
  v->speech_ms += speech_ms;
  v->mouth_to_ear_us_frames +=
      static_cast<uint64_t>(std::llround(s.mouth_to_ear_ms * 1000)) * s.frames_sent;
  v->burst_r_milli_frames += static_cast<uint64_t>(std::llround(s.burst_r * 1000)) * s.frames_sent;
  if (s.frames_sent > 0) v->mos_milli.record(mos_milli, s.frames_sent);
  if (heard) v->speech_ms_at_threshold += speech_ms;
  if (batch < v->batches.size()) {
    v->batches[batch].speech_ms += speech_ms;
    if (heard) v->batches[batch].speech_ms_at_threshold += speech_ms;
  }
}

}  // namespace

void Recorder::record_speech(uint32_t cell_type, uint32_t profile, uint64_t cell_id,
                             const SpeechSample& sample) {
  CELLSIM_ASSERT(sample.frame_ms > 0 &&
                 sample.frames_played + sample.frames_late <= sample.frames_sent);
  const uint32_t b = cell_id == kNoCell ? UINT32_MAX : batch_of(cell_id);
  add_speech(sample, mos_threshold_milli_, b, &overall_voice_);
  if (cell_type != kNone) add_speech(sample, mos_threshold_milli_, b, &cell_type_voice_[cell_type]);
  if (profile != kNone) add_speech(sample, mos_threshold_milli_, b, &profile_voice_[profile]);
}

uint32_t Recorder::cell_type_index(std::string_view name) {
  if (auto it = cell_type_by_name_.find(name); it != cell_type_by_name_.end()) return it->second;
  const uint32_t index = cell_type_count();
  CELLSIM_ASSERT(index != kNone);
  cell_types_.emplace_back(name);
  cell_type_by_name_.emplace(std::string(name), index);
  cell_type_latency_.emplace_back();
  cell_type_batches_.emplace_back();
  init_batches(&cell_type_batches_.back());
  cell_type_voice_.emplace_back();
  cell_type_censored_.emplace_back();
  slices_.emplace_back(profiles_.size());
  quorum_.emplace_back();
  cells_.push_back(0);
  cell_type_titles_.emplace_back();
  attendance_.emplace_back();
  attendance_.back().set_cell_type(std::string(name));
  return index;
}

uint32_t Recorder::profile_index(std::string_view name) {
  if (auto it = profile_by_name_.find(name); it != profile_by_name_.end()) return it->second;
  const uint32_t index = profile_count();
  CELLSIM_ASSERT(index != kNone);
  profiles_.emplace_back(name);
  profile_by_name_.emplace(std::string(name), index);
  profile_latency_.emplace_back();
  profile_batches_.emplace_back();
  init_batches(&profile_batches_.back());
  profile_voice_.emplace_back();
  profile_censored_.emplace_back();
  for (auto& row : slices_) row.emplace_back();
  profile_titles_.emplace_back();
  return index;
}

void Recorder::set_cell_type_titles(uint32_t cell_type, std::string vi, std::string en) {
  CELLSIM_ASSERT(cell_type < cell_type_count());
  cell_type_titles_[cell_type] = {std::move(vi), std::move(en)};
}

void Recorder::set_profile_titles(uint32_t profile, std::string vi, std::string en) {
  CELLSIM_ASSERT(profile < profile_count());
  profile_titles_[profile] = {std::move(vi), std::move(en)};
}

void Recorder::offer_attendance(uint32_t cell_type, const v1::AttendanceTrace& trace) {
  CELLSIM_ASSERT(cell_type < cell_type_count());
  metrics::offer_attendance(trace, &attendance_[cell_type]);
}

const std::string& Recorder::cell_type_name(uint32_t cell_type) const {
  CELLSIM_ASSERT(cell_type < cell_type_count());
  return cell_types_[cell_type];
}

const std::string& Recorder::profile_name(uint32_t profile) const {
  CELLSIM_ASSERT(profile < profile_count());
  return profiles_[profile];
}

void Recorder::record_latency(Latency m, uint32_t cell_type, uint32_t profile, int64_t value_us,
                              uint64_t cell_id) {
  CELLSIM_ASSERT(m < Latency::kCount);
  const size_t k = static_cast<size_t>(m);
  const bool batched = cell_id != kNoCell;
  const uint32_t b = batched ? batch_of(cell_id) : 0;
  overall_[k].record(value_us);
  if (batched) overall_batches_[b][k].record(value_us);
  if (cell_type != kNone) {
    CELLSIM_ASSERT(cell_type < cell_type_count());
    cell_type_latency_[cell_type][k].record(value_us);
    if (batched) cell_type_batches_[cell_type][b][k].record(value_us);
  }
  if (profile != kNone) {
    CELLSIM_ASSERT(profile < profile_count());
    profile_latency_[profile][k].record(value_us);
    if (batched) profile_batches_[profile][b][k].record(value_us);
  }
}

void Recorder::record_censored(Latency m, uint32_t cell_type, uint32_t profile, uint64_t count) {
  CELLSIM_ASSERT(m < Latency::kCount);
  const size_t k = static_cast<size_t>(m);
  overall_censored_[k] += count;
  if (cell_type != kNone) {
    CELLSIM_ASSERT(cell_type < cell_type_count());
    cell_type_censored_[cell_type][k] += count;
  }
  if (profile != kNone) {
    CELLSIM_ASSERT(profile < profile_count());
    profile_censored_[profile][k] += count;
  }
}

uint64_t Recorder::censored(Latency m) const {
  CELLSIM_ASSERT(m < Latency::kCount);
  return overall_censored_[static_cast<size_t>(m)];
}

Traffic& Recorder::traffic(uint32_t cell_type, uint32_t profile) {
  CELLSIM_ASSERT(cell_type < cell_type_count() && profile < profile_count());
  return slices_[cell_type][profile].traffic;
}

Quorum& Recorder::quorum(uint32_t cell_type) {
  CELLSIM_ASSERT(cell_type < cell_type_count());
  return quorum_[cell_type];
}

void Recorder::add_members(uint32_t cell_type, uint32_t profile, uint64_t n) {
  CELLSIM_ASSERT(cell_type < cell_type_count() && profile < profile_count());
  slices_[cell_type][profile].members += n;
}

void Recorder::add_cells(uint32_t cell_type, uint64_t n) {
  CELLSIM_ASSERT(cell_type < cell_type_count());
  cells_[cell_type] += n;
}

ServerFigures& Recorder::server(uint32_t node) {
  auto [it, inserted] = servers_.try_emplace(node);
  if (inserted) it->second.node = node;
  return it->second;
}

const Histogram& Recorder::overall_latency(Latency m) const {
  CELLSIM_ASSERT(m < Latency::kCount);
  return overall_[static_cast<size_t>(m)];
}

const Histogram& Recorder::cell_type_latency(Latency m, uint32_t cell_type) const {
  CELLSIM_ASSERT(m < Latency::kCount && cell_type < cell_type_count());
  return cell_type_latency_[cell_type][static_cast<size_t>(m)];
}

const Histogram& Recorder::profile_latency(Latency m, uint32_t profile) const {
  CELLSIM_ASSERT(m < Latency::kCount && profile < profile_count());
  return profile_latency_[profile][static_cast<size_t>(m)];
}

namespace {

// One group of the results: its latencies in name order, its quorum (cell
// types and overall) and traffic.
struct GroupFigures {
  const char* kind;
  const std::string& name;
  uint64_t members, cells;
  const std::array<Histogram, kLatencyCount>& latencies;
  const std::array<std::array<Histogram, kLatencyCount>, Recorder::kCellBatches>& batches;
  const std::array<uint64_t, kLatencyCount>& censored;
  const Quorum* quorum;  // null for profiles
  const Traffic& traffic;
  const std::pair<std::string, std::string>& titles;
  const VoiceFigures& voice;
};

void voice_to_proto(const VoiceFigures& v, uint32_t threshold_milli, uint32_t target_milli,
                    uint64_t seed, v1::VoiceStats* out) {
  out->set_target_share_milli(target_milli);
  out->set_intervals(v.intervals);
  out->set_frames_sent(v.frames_sent);
  out->set_frames_played(v.frames_played);
  out->set_frames_late(v.frames_late);
  out->set_speech_ms(v.speech_ms);
  out->set_speech_ms_at_threshold(v.speech_ms_at_threshold);
  out->set_mos_threshold_milli(threshold_milli);
  out->set_mouth_to_ear_us_frames(v.mouth_to_ear_us_frames);
  out->set_burst_r_milli_frames(v.burst_r_milli_frames);
  v.mos_milli.to_proto(out->mutable_mos_milli());
  for (uint32_t b = 0; b < v.batches.size(); ++b) {
    if (v.batches[b].speech_ms == 0) continue;
    v1::VoiceBatch* batch = out->add_batches();
    batch->set_seed(seed);
    batch->set_index(b);
    batch->set_speech_ms(v.batches[b].speech_ms);
    batch->set_speech_ms_at_threshold(v.batches[b].speech_ms_at_threshold);
  }
}

void add_group(const GroupFigures& f, uint64_t seed, std::pair<uint32_t, uint32_t> voice_milli,
               v1::Results* results) {
  static const std::array<Latency, kLatencyCount> kOrder = latencies_by_name();
  v1::Group* g = results->add_groups();
  g->set_kind(f.kind);
  g->set_name(f.name);
  g->set_title_vi(f.titles.first);
  g->set_title_en(f.titles.second);
  g->set_members(f.members);
  g->set_cells(f.cells);
  for (Latency m : kOrder) {
    v1::LatencyMetric* lm = g->add_latencies();
    lm->set_name(std::string(latency_name(m)));
    f.latencies[static_cast<size_t>(m)].to_proto(lm->mutable_histogram());
    lm->set_censored(f.censored[static_cast<size_t>(m)]);
  }
  for (uint32_t b = 0; b < Recorder::kCellBatches; ++b) {
    v1::CellBatch* batch = nullptr;
    for (Latency m : kOrder) {
      const Histogram& h = f.batches[b][static_cast<size_t>(m)];
      if (h.empty()) continue;
      if (batch == nullptr) {
        batch = g->add_batches();
        batch->set_seed(seed);
        batch->set_index(b);
      }
      v1::LatencyMetric* lm = batch->add_latencies();
      lm->set_name(std::string(latency_name(m)));
      h.to_proto(lm->mutable_histogram());
    }
  }
  if (f.quorum != nullptr) quorum_to_proto(*f.quorum, g->mutable_quorum());
  traffic_to_proto(f.traffic, g->mutable_traffic());
  if (f.voice.intervals > 0) {
    voice_to_proto(f.voice, voice_milli.first, voice_milli.second, seed, g->mutable_voice());
  }
}

void server_to_proto(uint32_t node, const ServerFigures& f, v1::ServerStats* s) {
  s->set_node(node);
  s->set_cores(f.cores);
  s->set_busy_ns(f.busy_ns);
  s->set_elapsed_ns(f.elapsed_ns);
  s->set_frames_in(f.frames_in);
  s->set_frames_out(f.frames_out);
  s->set_egress_bytes(f.egress_bytes);
  s->set_peak_queue_frames(f.peak_queue_frames);
  f.queue_wait_us.to_proto(s->mutable_queue_wait());
  s->set_cells(f.cells);
  s->set_process_cpu_ns(f.process_cpu_ns);
  s->set_peak_rss_bytes(f.peak_rss_bytes);
  s->set_peak_connections(f.peak_connections);
  s->set_ingress_bytes(f.ingress_bytes);
}

}  // namespace

Recorder::Totals Recorder::totals() const {
  const uint32_t ncell = cell_type_count();
  const uint32_t nprof = profile_count();
  Totals t;
  t.members_by_cell.assign(ncell, 0);
  t.members_by_profile.assign(nprof, 0);
  t.traffic_by_cell.resize(ncell);
  t.traffic_by_profile.resize(nprof);
  for (uint32_t c = 0; c < ncell; ++c) {
    for (uint32_t p = 0; p < nprof; ++p) {
      const Slice& s = slices_[c][p];
      t.members_by_cell[c] += s.members;
      t.members_by_profile[p] += s.members;
      t.members_all += s.members;
      add_traffic(s.traffic, &t.traffic_by_cell[c]);
      add_traffic(s.traffic, &t.traffic_by_profile[p]);
      add_traffic(s.traffic, &t.traffic_all);
    }
    t.cells_all += cells_[c];
    add_quorum(quorum_[c], &t.quorum_all);
  }
  return t;
}

v1::Results Recorder::to_results(const v1::RunInfo& run) const {
  v1::Results results;
  const Totals t = totals();
  const std::pair<std::string, std::string> no_titles;
  const uint64_t seed = run.seed();
  add_group({kGroupOverall, "", t.members_all, t.cells_all, overall_, overall_batches_,
             overall_censored_, &t.quorum_all, t.traffic_all, no_titles, overall_voice_},
            seed, {mos_threshold_milli_, voice_target_share_milli_}, &results);
  for (uint32_t c : by_name(cell_types_)) {
    add_group({kGroupCellType, cell_types_[c], t.members_by_cell[c], cells_[c],
               cell_type_latency_[c], cell_type_batches_[c], cell_type_censored_[c], &quorum_[c],
               t.traffic_by_cell[c], cell_type_titles_[c], cell_type_voice_[c]},
              seed, {mos_threshold_milli_, voice_target_share_milli_}, &results);
    if (attendance_[c].meetings_seen() > 0) *results.add_attendance() = attendance_[c];
  }
  for (uint32_t p : by_name(profiles_)) {
    add_group({kGroupProfile, profiles_[p], t.members_by_profile[p], 0, profile_latency_[p],
               profile_batches_[p], profile_censored_[p], nullptr, t.traffic_by_profile[p],
               profile_titles_[p], profile_voice_[p]},
              seed, {mos_threshold_milli_, voice_target_share_milli_}, &results);
  }
  for (const auto& [node, f] : servers_) server_to_proto(node, f, results.add_servers());
  *results.mutable_run() = run;
  results.mutable_run()->set_members(t.members_all);
  results.mutable_run()->set_cells(t.cells_all);
  return results;
}

}  // namespace cellsim::metrics
