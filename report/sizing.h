// `cellsim size` (DESIGN.md, "Sizing and the report"): the cells per server
// node at which every SLO of a scenario still holds, the capacity curve around
// it, and the rollout it implies.
//
// Method. The scenario is reduced to one server node (scale_to_node): its
// cell types' counts are scaled, keeping their mix (largest remainder, each
// type at least one cell), so the node carries `cells` cells. Each point is
// simulated with `replications` seeds (seed, seed+1, ...; sim::simulate); for
// each SLO the mean of the observed figure and a 95% confidence interval
// (Student t, n-1 degrees of freedom) are kept. A point holds when every SLO
// holds at the pessimistic end of its interval (latency: mean + half width <=
// limit; quorum: mean - half width >= limit). The search doubles the load from
// the smallest point until a point fails (or max_cells), then bisects between
// the last point that held and the first that failed until they are within
// resolution (max(1, resolution_share × the point that held)). The answer is
// the largest point that held. Monotonicity in load is assumed; the curve
// records every point simulated, so a reader can see when it is not.
//
// Bend. The curve's worst ratio r(x) = max over latency SLOs of mean / limit;
// the bend is the first point where r's slope exceeds kBendSlopeFactor times
// its slope over the first segment (0: not found, or fewer than 3 points).
//
// Rollout. peak_cells = ceil(total_cells × peak_share); nodes_needed =
// ceil(peak_cells / max_cells_per_node); N+1 adds one node; cores = nodes ×
// the scenario's cores per node; egress per node = the mean egress rate at
// the answer × headroom; memory per node = members at the answer ×
// memory_bytes_per_member × headroom.
//
// Thread-safety: reentrant; runs simulations on the calling thread.
#ifndef CELLSIM_REPORT_SIZING_H_
#define CELLSIM_REPORT_SIZING_H_

#include <cstdint>
#include <functional>
#include <string>

#include "cellsim/v1/calibration.pb.h"
#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"

namespace cellsim::report {

inline constexpr uint32_t kDefaultReplications = 3;
inline constexpr double kDefaultHeadroom = 1.5;
// Memory a server holds per connected member: session, buffers, engine
// state. An estimate until measured on cellmeetd.
inline constexpr double kDefaultMemoryBytesPerMember = 64.0 * 1024;
inline constexpr double kDefaultResolutionShare = 0.02;
inline constexpr uint32_t kDefaultMaxCellsPerNode = 100'000;
inline constexpr double kBendSlopeFactor = 3.0;

struct SizeOptions {
  uint32_t replications = kDefaultReplications;
  uint64_t total_cells = 0;   // 0: the scenario's own cell count
  double peak_share = 1.0;    // share of total_cells meeting in the same peak
  double headroom = kDefaultHeadroom;
  double memory_bytes_per_member = kDefaultMemoryBytesPerMember;
  double resolution_share = kDefaultResolutionShare;
  uint32_t min_cells = 0;     // 0: one per cell type
  uint32_t max_cells = kDefaultMaxCellsPerNode;
  std::string scenario_file;
  std::string calibration_label = "built-in estimate";
  // Called after each point (for progress); may be empty.
  std::function<void(const v1::CapacityPoint&)> on_point;
};

struct SizeOutcome {
  bool ok = false;
  std::string error;
  v1::Results results;  // the run at the answer (or the smallest point) with `sizing` set
};

// The scenario on one node carrying `cells` cells. REQUIRES: cells >= the
// number of cell types.
v1::Scenario scale_to_node(const v1::Scenario& s, uint32_t cells);

// Half width of a 95% confidence interval of the mean of `n` samples with
// standard deviation `sd` (0 when n < 2).
double ci95_half_width(double sd, uint32_t n);

// REQUIRES: scenario validated with defaults applied.
SizeOutcome size(const v1::Scenario& scenario, const v1::Calibration& calibration,
                 const SizeOptions& options);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_SIZING_H_
