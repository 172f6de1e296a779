// `cellsim validate`: the simulator's figures against the live server's for
// the same scenario, seed and calibration (DESIGN.md: the capacity model is
// "calibrated from measurements of cellmeetd itself and validated against
// live runs"). This is the comparison, without sockets: rows from two
// results, the tolerance checks and the table.
//
// Rows. For the overall group, each cell type and each network profile
// present in either result: every latency metric with samples on either
// side, p50 and
// p99 (ms; quantiles as the SLOs take them, metrics/slo.h); for the overall
// and cell-type groups, quorum attainment (meetings quorate by the deadline /
// meetings) and vote validity (votes valid / votes held) as shares.
// difference: (sim - live) / live for latencies (live 0: 0 if sim is 0, else
// sim / 1 µs); sim - live for shares. A latency row is within tolerance when
// |difference| <= latency_tolerance, a share row when |difference| <=
// share_tolerance. A row with fewer than min_samples samples (meetings, or
// votes, for shares) on either side is shown, marked "few samples", and
// counts as within tolerance (ValidationRow has no field for it; the table
// says it).
//
// Thread-safety: the functions share no state.
#ifndef CELLSIM_LIVE_VALIDATE_H_
#define CELLSIM_LIVE_VALIDATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"

namespace cellsim::live {

namespace v1 = ::cellsim::v1;

inline constexpr double kDefaultLatencyTolerance = 0.2;
inline constexpr double kDefaultShareTolerance = 0.05;
inline constexpr uint64_t kDefaultMinSamples = 20;

struct ValidateTolerances {
  double latency = kDefaultLatencyTolerance;  // relative, >= 0
  double share = kDefaultShareTolerance;      // absolute, in [0, 1]
  uint64_t min_samples = kDefaultMinSamples;
};

// A row with what the proto does not hold.
struct ComparedRow {
  v1::ValidationRow row;
  uint64_t sim_samples = 0;
  uint64_t live_samples = 0;
  bool few_samples = false;
  bool missing = false;  // the metric is absent on one side (counts as few samples)
};

struct Comparison {
  std::vector<ComparedRow> rows;
  bool within_tolerance = true;  // every row that counts
  uint64_t rows_outside = 0;
};

Comparison compare_results(const v1::Results& sim, const v1::Results& live,
                           const ValidateTolerances& tolerances);

// The Validation message: the rows, the tolerances, the verdict; the caller
// fills scenario, seed, calibration, wall times, members and cells.
v1::Validation to_validation(const Comparison& c, const ValidateTolerances& tolerances);

// The side-by-side table, aligned: group, metric, stat, sim, live,
// difference, and "OUT" or "few samples".
std::string validation_table(const Comparison& c, const ValidateTolerances& tolerances);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_VALIDATE_H_
