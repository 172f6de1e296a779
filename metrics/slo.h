// Service-level objectives (scenario.proto's Slo and QuorumSlo) checked
// against a run's results.
//
// A latency SLO holds when the metric's quantile, over the overall group or
// the named cell_type group, is <= max_ms. The quantile is
// min(Histogram::value_at_quantile(), max()): the highest value equivalent to
// the sample at that rank (so it errs on the side of failing, by less than
// one bucket: 0.1% at 3 digits), but never above the exact maximum recorded;
// converted from µs to ms. A quorum SLO holds when
// meetings_quorate_by_deadline / meetings >= min_attainment for that group.
//
// An SLO fails, with a description that says why, when its metric has no
// samples, its group has no meetings, its group or metric does not exist in
// the results, or its quantile is outside [0, 1].
//
// The results are computed from the merged figures only (never from other
// SLO results), so they are recomputed after a merge (results_io.h).
//
// Descriptions read like "join_latency p99 <= 2000 ms (all cells)" and
// "quorum attainment >= 95% (cell type island)"; a latency SLO's observed
// and limit are in ms, a quorum SLO's are shares in [0, 1].
//
// Thread-safety: the functions share no state.
#ifndef CELLSIM_METRICS_SLO_H_
#define CELLSIM_METRICS_SLO_H_

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"

namespace cellsim::metrics {

namespace v1 = ::cellsim::v1;

// Every quorum SLO's description starts with this.
inline constexpr char kQuorumSloPrefix[] = "quorum attainment";

// Replaces results->slos with the scenario's latency SLOs (in order), then
// its quorum SLOs (in order), evaluated against results->groups.
void evaluate_slos(const v1::Scenario& scenario, v1::Results* results);

// Whether every SLO in the results is met (true when there are none).
bool all_met(const v1::Results& results);

// Whether `slo` is a quorum SLO (its observed and limit are shares).
bool is_quorum_slo(const v1::SloResult& slo);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_SLO_H_
