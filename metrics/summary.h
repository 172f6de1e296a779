// The human summary of a run's results, for the terminal.
//
// Compact, aligned, at most 100 columns for names of up to 24 characters:
// the run; per group (overall, cell types, profiles) its members and cells,
// each latency metric's samples, p50, p99 and max in ms, quorum attainment,
// quorum held, vote validity, tally integrity (ballots acknowledged vs
// counted, flagged loudly when they differ), disconnects and reconnects; the
// servers (utilisation = busy_ns / (elapsed_ns × cores)); the SLOs with PASS
// or FAIL. Quantiles are HdrHistogram's (highest equivalent value) capped at
// the exact max, as the SLOs use them (slo.h); max is exact. A share whose
// denominator is 0 prints as "-". Groups without
// quorum figures (profiles) skip the meeting lines.
//
// The output is a function of the results only (deterministic).
//
// Thread-safety: print_summary shares no state.
#ifndef CELLSIM_METRICS_SUMMARY_H_
#define CELLSIM_METRICS_SUMMARY_H_

#include <ostream>

#include "cellsim/v1/results.pb.h"

namespace cellsim::metrics {

namespace v1 = ::cellsim::v1;

inline constexpr int kSummaryColumns = 100;

void print_summary(const v1::Results& results, std::ostream& out);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_SUMMARY_H_
