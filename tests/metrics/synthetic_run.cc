#include "synthetic_run.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string_view>
#include <vector>

namespace cellsim::metrics::testing {
namespace {

constexpr std::array<std::string_view, 3> kCellTypes = {"island", "at-sea", "border-post"};
constexpr std::array<std::string_view, 3> kProfiles = {"vsat", "lte", "hf-radio"};

int64_t lognormal_us(std::mt19937_64& rng, double median_us, double sigma) {
  std::lognormal_distribution<double> d(std::log(median_us), sigma);
  return static_cast<int64_t>(d(rng));
}

void record_cell(const SyntheticRun& run, uint32_t cell, Recorder* rec) {
  std::mt19937_64 rng(run.seed * 1'000'003 + cell);
  const uint32_t ct = rec->cell_type_index(kCellTypes[cell % kCellTypes.size()]);
  rec->add_cells(ct, 1);
  const uint32_t members = 5 + static_cast<uint32_t>(rng() % 8);
  for (uint32_t m = 0; m < members; ++m) {
    const uint32_t p = rec->profile_index(kProfiles[rng() % kProfiles.size()]);
    rec->add_members(ct, p, 1);
    rec->record_latency(Latency::kJoin, ct, p, lognormal_us(rng, 800'000, 1.0), cell + 1);
    for (int h = 0; h < 20; ++h) {
      rec->record_latency(Latency::kHeartbeatRtt, ct, p, lognormal_us(rng, 300'000, 0.6), cell + 1);
    }
    for (int b = 0; b < 4; ++b) {
      rec->record_latency(Latency::kBroadcast, ct, p, lognormal_us(rng, 150'000, 0.8), cell + 1);
    }
    rec->record_latency(Latency::kBallot, ct, p, lognormal_us(rng, 400'000, 0.9), cell + 1);
    rec->record_latency(Latency::kResult, ct, p, lognormal_us(rng, 200'000, 0.7), cell + 1);
    Traffic& t = rec->traffic(ct, p);
    t.frames_sent += 30 + rng() % 10;
    t.frames_received += 40 + rng() % 10;
    t.bytes_up += 3000 + rng() % 1000;
    t.bytes_down += 5000 + rng() % 1000;
    t.connects += 1;
    const bool broke = rng() % 5 == 0;
    t.disconnects += broke ? 1 : 0;
    t.reconnects += broke ? 1 : 0;
    t.failed_joins += rng() % 20 == 0 ? 1 : 0;
    t.media_bytes += rng() % 100'000;
  }
  // The meeting's own figures: no profile.
  rec->record_latency(Latency::kTimeToQuorum, ct, Recorder::kNone,
                      lognormal_us(rng, 120'000'000, 0.5), cell + 1);
  Quorum& q = rec->quorum(ct);
  q.meetings += 1;
  const bool quorate = rng() % 10 != 0;
  q.meetings_quorate_by_deadline += quorate ? 1 : 0;
  q.meetings_ever_quorate += quorate || rng() % 2 == 0 ? 1 : 0;
  const uint64_t length_ns = 3'600'000'000'000ULL + rng() % 600'000'000'000ULL;
  q.meeting_time_ns += length_ns;
  q.quorate_time_ns += quorate ? length_ns - rng() % 60'000'000'000ULL : 0;
  q.quorum_losses += rng() % 3;
  q.votes_held += 3;
  q.votes_valid += quorate ? 3 : 1;
  q.votes_passed += quorate ? 2 : 0;
  q.ballots_acked += 3 * members;
  q.ballots_counted += 3 * members;
  q.meetings_closed += 1;
  q.minutes_complete += quorate ? 1 : 0;
}

void record_node(const SyntheticRun& run, uint32_t node, Recorder* rec) {
  std::mt19937_64 rng(run.seed * 7'919 + 1'000'000 + node);
  ServerFigures& s = rec->server(node);
  s.cores = 4;
  s.elapsed_ns = 3'600'000'000'000ULL;
  s.busy_ns = rng() % (4 * s.elapsed_ns);
  s.frames_in = 100'000 + rng() % 1000;
  s.frames_out = 300'000 + rng() % 1000;
  s.egress_bytes = 50'000'000 + rng() % 1'000'000;
  s.peak_queue_frames = rng() % 50;
  for (int i = 0; i < 500; ++i) s.queue_wait_us.record(lognormal_us(rng, 200, 1.5));
  for (uint32_t c = node; c < run.cells; c += run.nodes) s.cells += 1;
}

}  // namespace

void record_cells(const SyntheticRun& run, const std::set<uint32_t>& nodes, Recorder* rec,
                  bool reverse) {
  std::vector<uint32_t> cells;
  for (uint32_t c = 0; c < run.cells; ++c) {
    if (nodes.count(c % run.nodes) != 0) cells.push_back(c);
  }
  if (reverse) {
    for (auto it = kProfiles.rbegin(); it != kProfiles.rend(); ++it) rec->profile_index(*it);
    std::reverse(cells.begin(), cells.end());
  }
  for (uint32_t c : cells) record_cell(run, c, rec);
  for (uint32_t node : nodes) record_node(run, node, rec);
}

v1::RunInfo run_info(const SyntheticRun& run, uint32_t i, uint32_t n) {
  v1::RunInfo info;
  info.set_scenario("synthetic");
  info.set_scenario_file("scenarios/synthetic.textproto");
  info.set_seed(run.seed);
  info.set_mode("sim");
  info.set_cellsim_version("0.1.0");
  info.set_calibration("calibration/test.textproto (test machine)");
  if (n > 0) {
    info.add_shards(std::to_string(i) + "/" + std::to_string(n));
    info.set_shard_count(n);
  }
  info.set_virtual_ns(3'600'000'000'000ULL);
  info.set_events(1000 * (i + 1));
  info.set_frames(500 * (i + 1));
  info.set_wall_s(1.5 + i);
  info.set_finished_unix_s(1'700'000'000 + i);
  info.set_peak_rss_bytes(100'000'000 + i);
  info.set_host("host-" + std::to_string(i));
  return info;
}

}  // namespace cellsim::metrics::testing
