// `cellsim validate`: the simulator's figures against the live server's for
// the same scenario, seeds and calibration (DESIGN.md: the capacity model is
// "calibrated from measurements of cellmeetd itself and validated against
// live runs"). This is the comparison, without sockets: rows from the two
// sides' results, one per seed, the tolerance checks and the table.
//
// Rows. For the overall group, each cell type and each network profile
// present in any result: every latency metric with samples on either side,
// p50 and p99 (ms; quantiles as the SLOs take them, metrics/slo.h); for the
// overall and cell-type groups, quorum attainment (meetings quorate by the
// deadline / meetings) and vote validity (votes valid / votes held) as
// shares.
//
// Seeds. Each side ran seeds seed .. seed + K - 1. A row's figure on a side
// is the MEDIAN ACROSS SEEDS of the per-seed figure (each seed's p50, p99 or
// share), over the seeds where that figure had samples; an even count takes
// the mean of the two middle figures. The spread is the lowest and highest
// per-seed figure. Samples are summed over the seeds. With one seed the
// figure is that seed's (median = min = max).
//
// Voice (the groups' VoiceStats, metrics/voice_stats.h), for every group
// where listeners reported speech on either side: voice_loss (frames lost
// or late over frames sent, a share: stat "share"), mouth_to_ear (the mean
// mouth-to-ear delay over frames of speech, ms: stat "mean") and mos (the
// median MOS over frames of speech: stat "median"); their samples are the
// speech intervals heard. Each is judged by its own tolerance: voice_loss
// |sim - live| <= voice_loss (default 1 point), mouth_to_ear relative, as a
// latency, <= mouth_to_ear (default 10 %), mos |sim - live| <= mos (default
// 0.2), each on the medians across the seeds.
//
// difference: (sim - live) / live of the medians for latencies (live 0: 0 if
// sim is 0, else sim / 1 µs); sim - live for shares. A latency row is within
// tolerance when |difference| <= latency_tolerance, a share row when
// |difference| <= share_tolerance. A row with fewer than min_samples samples
// (meetings, or votes, for shares) on either side, summed over its seeds
// (default kDefaultMinSamples = 200), is shown, marked "few samples", and
// counts as within tolerance.
//
// Thread-safety: the functions share no state.
#ifndef CELLSIM_LIVE_VALIDATE_H_
#define CELLSIM_LIVE_VALIDATE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"

namespace cellsim::live {

namespace v1 = ::cellsim::v1;

inline constexpr double kDefaultLatencyTolerance = 0.2;
inline constexpr double kDefaultShareTolerance = 0.05;
inline constexpr double kDefaultVoiceLossTolerance = 0.01;
inline constexpr double kDefaultMouthToEarTolerance = 0.10;
inline constexpr double kDefaultMosTolerance = 0.2;
// Rows with fewer samples on a side (summed over its seeds) are not judged.
inline constexpr uint64_t kDefaultMinSamples = 200;
// Seeds one validation may run on each side (`--seeds`).
inline constexpr uint64_t kMaxValidateSeeds = 50;

struct ValidateTolerances {
  double latency = kDefaultLatencyTolerance;  // relative, >= 0
  double share = kDefaultShareTolerance;      // absolute, in [0, 1]
  double voice_loss = kDefaultVoiceLossTolerance;     // absolute share, in [0, 1]
  double mouth_to_ear = kDefaultMouthToEarTolerance;  // relative, >= 0
  double mos = kDefaultMosTolerance;                  // absolute MOS, >= 0
  uint64_t min_samples = kDefaultMinSamples;
};

// The median and range of per-seed figures.
struct Spread {
  double median = 0;  // the mean of the two middle figures for an even count
  double min = 0;
  double max = 0;
  uint64_t count = 0;  // figures; 0: all fields 0
};

// The spread of `figures` (any order; empty gives the zero Spread).
Spread spread_of(std::vector<double> figures);

// A row with what the proto does not hold.
struct ComparedRow {
  v1::ValidationRow row;  // sim/live: the medians; sim_min..live_max: the spread
  uint64_t sim_samples = 0;   // summed over the seeds
  uint64_t live_samples = 0;
  bool few_samples = false;
  bool missing = false;  // the metric is absent on one side (counts as few samples)
};

struct Comparison {
  std::vector<ComparedRow> rows;
  bool within_tolerance = true;  // every row that counts
  uint64_t rows_outside = 0;
  uint64_t seeds = 1;  // the larger side's count of results compared
};

// sim[i] and live[i] are the results of one seed each (the two sides may
// hold different counts when a run was interrupted).
// REQUIRES: sim.size() and live.size() <= kMaxValidateSeeds.
Comparison compare_seeds(std::span<const v1::Results> sim, std::span<const v1::Results> live,
                         const ValidateTolerances& tolerances);

// One seed on each side: compare_seeds() of one result each.
Comparison compare_results(const v1::Results& sim, const v1::Results& live,
                           const ValidateTolerances& tolerances);

// The Validation message: the rows, the tolerances, the seed count, the
// verdict; the caller fills scenario, seed, calibration, link mode, wall
// times, members and cells.
v1::Validation to_validation(const Comparison& c, const ValidateTolerances& tolerances);

// The side-by-side table, aligned (voice rows after the others of their
// group): group, metric, stat, sim, live (the
// medians over the seeds), with more than one seed each side's spread
// (min..max), difference, samples (summed), and "OUT" or "few samples".
std::string validation_table(const Comparison& c, const ValidateTolerances& tolerances);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_VALIDATE_H_
