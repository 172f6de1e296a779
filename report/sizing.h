// `cellsim size` (DESIGN.md, "Sizing and the report"): the cells per server
// node at which every SLO of a scenario still holds, the capacity curve around
// it, and the rollout it implies.
//
// Method. The scenario is reduced to one server node (scale_to_node): its
// cell types' counts are scaled, keeping their mix (largest remainder, each
// type at least one cell), so the node carries `cells` cells. Each point is
// simulated with `replications` seeds (seed, seed+1, ...; sim::simulate),
// pooled as the verdicts pool seeds (confidence.h): for each SLO its figure
// on every replication's samples and the same 95% interval the verdicts use
// (Wilson's over meetings for quorum, the cluster bootstrap over whole-cell
// batches for a latency quantile; with fewer than kMinBatches batches the
// figure alone). Each SLO is then met (the pessimistic end within the
// limit: latency hi <= limit, quorum lo >= limit), missed (the optimistic
// end outside it), or undecided. A point holds unless a server-bound SLO is
// missed: an undecided SLO (too few meetings or samples at a small point,
// or a tail that straddles its limit) neither fails a point nor counts as
// a miss. Before, a Student t interval over 3 replications' figures gave
// link-bound tails intervals wider than the figure ("43,599 +- 143,495 ms")
// and called them misses. The search doubles the load from
// the smallest point until a point fails (or max_cells), then bisects between
// the last point that held and the first that failed until they are within
// resolution (max(1, resolution_share × the point that held)). The answer is
// the largest point that held. Monotonicity in load is assumed; the curve
// records every point simulated, so a reader can see when it is not.
//
// Link-bound and server-bound SLOs ("missed" below: decidedly). An SLO
// missed while the server is idle does not depend on the server: the links
// (or the cells' behaviour) decide it, and more servers cannot meet it. The server
// counts as idle at the smallest point (curve(0): one cell per type or
// --min-cells) and at any point where frames waited for a core no more than
// kIdleQueueWaitMs at p99 (every node, every replication). An SLO missed at
// such a point is link-bound: it keeps its estimate at every point (met =
// false where missed), so its figures stay in the curve, but it is left out of
// the search: a point's all_met, and so the answer, count only the
// server-bound SLOs (those never missed while the server was idle). The set
// only grows as points are simulated; when an SLO that failed a point turns
// out link-bound, the search resumes from there. link_bound_slos() recovers
// the set from a Sizing: the SLOs missed at curve(0) or at any point whose
// all_met holds. When every SLO is link-bound no SLO can decide the load:
// max_cells_per_node is 0.
//
// Bend. The curve's worst ratio r(x) = max over server-bound latency SLOs of mean / limit;
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
#include <vector>

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
// At or below this p99 wait for a core, the server is idle: an SLO missed
// there is link-bound (see above).
inline constexpr double kIdleQueueWaitMs = 10.0;

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

// Whether an SLO estimate is decidedly missed (SloEstimate.missed; in
// sizings written before intervals, not met).
bool slo_missed(const v1::SloEstimate& e);

// Indices (into CapacityPoint.slos) of the link-bound SLOs: those missed at
// the smallest point, curve(0), or at a point whose all_met holds. Empty when
// the curve is.
std::vector<int> link_bound_slos(const v1::Sizing& z);

// The curve index of the first point where link-bound SLO `slo` was missed
// while the server was idle (the figures that show it is link-bound); -1 if
// it is not link-bound.
int first_idle_miss(const v1::Sizing& z, int slo);

// REQUIRES: scenario validated with defaults applied.
SizeOutcome size(const v1::Scenario& scenario, const v1::Calibration& calibration,
                 const SizeOptions& options);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_SIZING_H_
