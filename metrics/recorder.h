// The figures of one run, as the simulator or the live driver collects them
// (DESIGN.md, "Metrics"), and their export to a v1::Results.
//
// Groups. Every figure is kept per slice and exported in three kinds of
// group: "overall", one "cell_type" group per cell type and one "profile"
// group per network profile. Cell types and profiles are registered by name
// and then named by small stable indices (0, 1, ... in order of
// registration), so the hot paths index arrays and never look up strings.
//
//   figure          kept per                    exported into
//   latencies       overall, cell type, profile each group it was recorded in
//   Traffic         (cell type, profile)        summed into overall, cell type, profile
//   members         (cell type, profile)        summed likewise
//   cells           cell type                   overall and cell type (profile groups: 0,
//                                               a cell's members span profiles)
//   Quorum          cell type                   cell type, summed into overall (profile
//                                               groups carry no quorum message)
//   ServerFigures   server node                 Results.servers, by node
//
// A latency recorded with cell_type or profile kNone (time_to_quorum is a
// meeting's, not a member's, so it has no profile) goes into the overall group
// and the groups it does name. Hence for every metric: overall count = sum of
// the cell types' counts (when every sample names a cell type) = sum of the
// profiles' counts (when every sample names a profile).
//
// Export. to_results() is deterministic: groups are overall, then cell types
// by name, then profiles by name; each group always carries all six latency
// metrics, sorted by name, empty ones included (so every group has the same
// shape, merging never has to invent a metric, and an SLO on an empty metric
// finds it and reports "no samples"); servers are sorted by node. The
// RunInfo is copied from the caller except members and cells, which are set
// from the recorder's totals. slos are left empty: see slo.h.
//
// Attendance: per cell type, the worst meeting's trace and a bottom-k sample
// (metrics/attendance.h); exported in Results.attendance by cell type name,
// types with no meeting offered left out.
//
// Cell batches. Each group also keeps its latencies in kCellBatches batches
// of whole cells: a sample of cell `cell_id` (the plan's, 1-based) goes into
// batch (cell_id - 1) mod kCellBatches. A plan numbers a cell type's cells
// consecutively, so each type's cells spread evenly over the batches, and
// shards of one run put a cell in the same batch. Batches are what
// report/confidence.h resamples for a quantile's interval: the samples of one
// meeting are correlated (one chair, one link, one outage), whole cells are
// not. Exported in Group.batches (tagged with the run's seed), only the
// metrics and batches with samples.
//
// Batches keep 2 significant digits (kBatchLayout: 1% buckets, enough for an
// interval, a fifth of the size in the results of 3 digits).
//
// Voice. record_speech() keeps, per group, the figures of v1::VoiceStats:
// counts, sums weighted by frames, a histogram of MOS per frame, and speech
// time by cell batch. Exported in Group.voice when the group heard speech.
//
// Memory: one Histogram per (latency metric × group × (1 + kCellBatches)):
// 6 × 11 × (1 + cell types + profiles) histograms, ~1.6 KB each when empty
// (histogram.h); plus a Traffic and a member count per (cell type, profile).
//
// References returned by traffic(), quorum() and server() stay valid for the
// Recorder's lifetime (registering more names does not move them).
//
// Thread-safety: none. One Recorder per simulator shard or driver thread;
// their results merge (results_io.h). No clocks, no randomness.
#ifndef CELLSIM_METRICS_RECORDER_H_
#define CELLSIM_METRICS_RECORDER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "metrics/histogram.h"

namespace cellsim::metrics {

// The latency metrics (DESIGN.md, "Metrics"), all in microseconds.
enum class Latency : uint8_t {
  kJoin,          // join_latency: decides to join -> MeetingState received
  kHeartbeatRtt,  // heartbeat_rtt: Heartbeat sent -> its ack received
  kBroadcast,     // broadcast_latency: chair's action sent -> each member's push
  kBallot,        // ballot_latency: CastBallot sent -> BallotAck received
  kResult,        // result_latency: CloseVote sent -> each member's VoteClosed
  kTimeToQuorum,  // time_to_quorum: scheduled start -> meeting first quorate
  kCount,
};
inline constexpr size_t kLatencyCount = static_cast<size_t>(Latency::kCount);

// "join_latency", "heartbeat_rtt", "broadcast_latency", "ballot_latency",
// "result_latency", "time_to_quorum". REQUIRES: m != Latency::kCount.
std::string_view latency_name(Latency m);
// The metric with that name, if any.
std::optional<Latency> latency_from_name(std::string_view name);

// Group kinds, as written in v1::Group.kind.
inline constexpr char kGroupOverall[] = "overall";
inline constexpr char kGroupCellType[] = "cell_type";
inline constexpr char kGroupProfile[] = "profile";

// Transport figures (v1::TrafficStats has the meaning of each).
struct Traffic {
  uint64_t frames_sent = 0, frames_received = 0, bytes_up = 0, bytes_down = 0, connects = 0,
           disconnects = 0, reconnects = 0, failed_joins = 0, media_bytes = 0,
           media_bytes_sent = 0, media_frames_sent = 0;
};

// Meeting figures (v1::QuorumStats has the meaning of each).
struct Quorum {
  uint64_t meetings = 0, meetings_quorate_by_deadline = 0, meetings_ever_quorate = 0,
           meeting_time_ns = 0, quorate_time_ns = 0, quorum_losses = 0, votes_held = 0,
           votes_valid = 0, votes_passed = 0, ballots_acked = 0, ballots_counted = 0,
           meetings_closed = 0, minutes_complete = 0, meetings_quorate_by_deadline_chair = 0;
};

// One server node's figures (v1::ServerStats has the meaning of each).
struct ServerFigures {
  uint32_t node = 0, cores = 0;
  uint64_t busy_ns = 0, elapsed_ns = 0, frames_in = 0, frames_out = 0, egress_bytes = 0,
           peak_queue_frames = 0, cells = 0;
  Histogram queue_wait_us;  // latency layout
  // Measured on a real server (live mode).
  uint64_t process_cpu_ns = 0, peak_rss_bytes = 0, peak_connections = 0, ingress_bytes = 0;
};

// The layout of the batch histograms (header).
HistogramLayout batch_layout();

// One speech interval as one listener heard it (agents/voice.h's
// SpeechResult, as the hosts hand it over: metrics depends on proto only).
struct SpeechSample {
  uint64_t frames_sent = 0, frames_played = 0, frames_late = 0;
  double frame_ms = 20;
  double mouth_to_ear_ms = 0;
  double burst_r = 1;
  double mos = 1;
};

// The voice figures of one group (v1::VoiceStats has the meaning of each).
struct VoiceFigures {
  VoiceFigures();
  uint64_t intervals = 0, frames_sent = 0, frames_played = 0, frames_late = 0, speech_ms = 0,
           speech_ms_at_threshold = 0, mouth_to_ear_us_frames = 0, burst_r_milli_frames = 0;
  Histogram mos_milli;
  struct Batch {
    uint64_t speech_ms = 0, speech_ms_at_threshold = 0;
  };
  std::array<Batch, 10> batches;  // by cell batch (Recorder::kCellBatches)
};

// The layout of VoiceStats.mos_milli: MOS × 1000 in [1000, 4500], 3 digits.
HistogramLayout mos_layout();

class Recorder {
 public:
  // Names no cell type / no profile in record_latency().
  static constexpr uint32_t kNone = UINT32_MAX;

  Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // The index of the named cell type (profile), registering it on first use.
  // Indices are 0, 1, ... in order of registration.
  uint32_t cell_type_index(std::string_view name);
  uint32_t profile_index(std::string_view name);
  uint32_t cell_type_count() const { return static_cast<uint32_t>(cell_types_.size()); }
  uint32_t profile_count() const { return static_cast<uint32_t>(profiles_.size()); }
  const std::string& cell_type_name(uint32_t cell_type) const;
  const std::string& profile_name(uint32_t profile) const;
  // Display names copied into the groups (v1::Group.title_vi/en).
  // REQUIRES: the index registered.
  void set_cell_type_titles(uint32_t cell_type, std::string vi, std::string en);
  void set_profile_titles(uint32_t profile, std::string vi, std::string en);

  // Offers a meeting's attendance trace to its cell type's selection
  // (metrics/attendance.h). REQUIRES: cell_type registered; each cell once.
  void offer_attendance(uint32_t cell_type, const v1::AttendanceTrace& trace);

  // Names no cell in record_latency() (the sample goes into no batch).
  static constexpr uint64_t kNoCell = 0;
  // Batches of whole cells per group (header).
  static constexpr uint32_t kCellBatches = 10;
  static uint32_t batch_of(uint64_t cell_id) {
    return static_cast<uint32_t>((cell_id - 1) % kCellBatches);
  }

  // Records one latency in the overall group, the cell type's group and the
  // profile's group (either may be kNone), and in each one's batch of
  // `cell_id` (unless kNoCell). No string lookup; allocates only when a
  // histogram first touches a chunk of counters (histogram.h).
  // REQUIRES: m != kCount; each index registered or kNone.
  void record_latency(Latency m, uint32_t cell_type, uint32_t profile, int64_t value_us,
                      uint64_t cell_id = kNoCell);
  // `count` samples of m that never completed (LatencyMetric.censored).
  void record_censored(Latency m, uint32_t cell_type, uint32_t profile, uint64_t count);
  uint64_t censored(Latency m) const;  // overall

  // Voice: the MOS at or above which speech counts as heard (default 3.6).
  // REQUIRES: before any record_speech().
  void set_mos_threshold(double mos);
  double mos_threshold() const { return mos_threshold_milli_ / 1000.0; }
  // The voice check's target share of speech time at the threshold
  // (default 0.9). REQUIRES: in [0, 1].
  void set_voice_target_share(double share);
  // One speech interval heard by a listener of `cell_type` on `profile` in
  // cell `cell_id` (its batch): into the overall, cell type and profile
  // groups. REQUIRES: the indices registered (or kNone), frame_ms > 0.
  void record_speech(uint32_t cell_type, uint32_t profile, uint64_t cell_id,
                     const SpeechSample& sample);
  const VoiceFigures& overall_voice() const { return overall_voice_; }

  // The traffic of the members of `cell_type` on `profile`.
  // REQUIRES: both registered.
  Traffic& traffic(uint32_t cell_type, uint32_t profile);
  // The meetings of `cell_type`. REQUIRES: registered.
  Quorum& quorum(uint32_t cell_type);
  // REQUIRES: the indices registered.
  void add_members(uint32_t cell_type, uint32_t profile, uint64_t n);
  void add_cells(uint32_t cell_type, uint64_t n);
  // The node's figures, created (node set, everything else 0) on first use.
  ServerFigures& server(uint32_t node);

  // The histogram of metric `m` in a group, for inspection. `index` is a
  // cell type or profile index (ignored for the overall group).
  const Histogram& overall_latency(Latency m) const;
  const Histogram& cell_type_latency(Latency m, uint32_t cell_type) const;
  const Histogram& profile_latency(Latency m, uint32_t profile) const;

  // The results so far (the header says how they are laid out).
  v1::Results to_results(const v1::RunInfo& run) const;

 private:
  using LatencySet = std::array<Histogram, kLatencyCount>;
  using BatchSet = std::array<LatencySet, kCellBatches>;
  using CensoredSet = std::array<uint64_t, kLatencyCount>;
  // The slices summed per cell type, per profile and overall.
  struct Totals {
    std::vector<uint64_t> members_by_cell, members_by_profile;
    std::vector<Traffic> traffic_by_cell, traffic_by_profile;
    uint64_t members_all = 0, cells_all = 0;
    Traffic traffic_all;
    Quorum quorum_all;
  };
  Totals totals() const;
  // What is kept per (cell type, profile).
  struct Slice {
    Traffic traffic;
    uint64_t members = 0;
  };

  std::vector<std::string> cell_types_;  // by index
  std::vector<std::string> profiles_;
  std::map<std::string, uint32_t, std::less<>> cell_type_by_name_;
  std::map<std::string, uint32_t, std::less<>> profile_by_name_;

  LatencySet overall_;
  std::vector<LatencySet> cell_type_latency_;  // by cell type index
  std::vector<LatencySet> profile_latency_;    // by profile index
  BatchSet overall_batches_;
  std::deque<BatchSet> cell_type_batches_;  // by cell type index
  std::deque<BatchSet> profile_batches_;    // by profile index
  CensoredSet overall_censored_{};
  std::vector<CensoredSet> cell_type_censored_;  // by cell type index
  std::vector<CensoredSet> profile_censored_;    // by profile index
  std::deque<std::deque<Slice>> slices_;       // [cell type][profile]; deques keep references
  std::deque<Quorum> quorum_;                  // by cell type
  std::vector<uint64_t> cells_;                // by cell type
  std::map<uint32_t, ServerFigures> servers_;  // by node
  std::vector<std::pair<std::string, std::string>> cell_type_titles_;  // by index: vi, en
  std::vector<std::pair<std::string, std::string>> profile_titles_;
  std::deque<v1::AttendanceSamples> attendance_;  // by cell type
  uint32_t mos_threshold_milli_ = 3600;
  uint32_t voice_target_share_milli_ = 900;
  VoiceFigures overall_voice_;
  std::deque<VoiceFigures> cell_type_voice_;  // by cell type index
  std::deque<VoiceFigures> profile_voice_;    // by profile index
};

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_RECORDER_H_
