// The fit behind `cellsim calibrate` (live/calibrate.h): cellmeetd's CPU
// cost per frame type from runs that each measured the server's CPU time and
// counted the frames it handled. Pure arithmetic on the runs: no processes,
// no clocks, no I/O, so the same runs always give the same bits.
//
// Model. Non-negative least squares (nnls(): Lawson–Hanson on columns scaled
// to unit norm), each run weighted by 1 / its measured CPU (relative
// errors), of
//   cpu_ns ≈ base × in_all + Σ_type extra_type × in_type
//            + per_output × out_frames [+ timer × timer_runs] [+ idle × seconds]
// over the runs. Every frame costs at least `base` (the cost of the most
// frequent type, the reference); a type's cost is base + its extra (>= 0),
// so a type the runs cannot tell apart gets the base cost, not 0. Types with
// fewer than min_frames_per_type frames over all runs, or never min_share of
// a run's frames, are folded into the default (base + one shared extra).
// per_output is shared by every type (the server's counters say what was
// sent, not what caused it). The timer term (liveness checks) is off by
// default: nearly collinear with the heartbeats. The idle term is fitted only
// with at least (unknowns + 2) runs. The fit's error is the relative RMS
// error of predicted against measured CPU over the runs.
//
// Thread-safety: the functions share no state.
#ifndef CELLSIM_LIVE_FIT_H_
#define CELLSIM_LIVE_FIT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cellsim::live {

inline constexpr uint64_t kMinFramesPerType = 200;  // below: folded into the default
inline constexpr double kMinTypeShare = 0.05;       // of some run's frames in

// Minimises |A x - b| subject to x >= 0 (Lawson–Hanson), A given by rows.
// Columns are scaled to unit norm internally; an all-zero column gets 0.
// REQUIRES: x != nullptr. False with *why (if why is not null) on malformed
// input: no rows, rows and b of different lengths, ragged rows.
bool nnls(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
          std::vector<double>* x, std::string* why);

// One run's measurements.
struct CalibrationRun {
  std::string label;                        // "heartbeat L2"
  std::map<std::string, double> frames_in;  // by envelope body name
  double frames_out = 0;                    // every type, per recipient
  double timer_runs = 0;                    // estimated liveness checks
  double seconds = 0;                       // the CPU window's wall time
  double cpu_ns = 0;                        // measured
  uint64_t members = 0;                     // planned
  double predicted_ns = 0;                  // filled by fit_costs()
};

struct FitOptions {
  bool fit_idle = true;
  bool fit_timer = false;
  uint64_t min_frames_per_type = kMinFramesPerType;
  double min_share = kMinTypeShare;
};

struct CostFit {
  bool ok = false;
  std::string reference;  // the type whose cost is the base
  std::string error;
  std::map<std::string, double> base_us;  // fitted types
  double default_base_us = 0;             // folded types: base + their shared extra
  bool default_fitted = false;            // some frames were folded into it
  double per_output_us = 0;
  double timer_us = 0;
  double idle_us_per_s = 0;
  double fit_error = 0;             // relative RMS error over the runs
  std::vector<std::string> folded;  // types folded into the default
};

// Fits the costs; fills each run's predicted_ns. Not ok (with the error)
// when there are no runs or no type has enough frames.
// REQUIRES: runs != nullptr; counts, seconds and CPU finite and >= 0.
CostFit fit_costs(std::vector<CalibrationRun>* runs, const FitOptions& options = FitOptions());

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_FIT_H_
