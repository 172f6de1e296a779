// `cellsim validate` as a library: runs one scenario in the simulator and
// live (the same agents against the embedded cellmeetd over loopback, in
// real time) with the same seed and calibration, writes both results and
// their comparison (live/validate.h) to a folder.
//
// It lives apart from sim/ and live/ because it is the one place that uses
// both: live/ never depends on the simulator.
//
// Thread-safety: run_validation() runs on the caller's thread; the
// callbacks are called there.
#ifndef CELLSIM_VALIDATE_VALIDATE_H_
#define CELLSIM_VALIDATE_VALIDATE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "live/driver.h"
#include "live/validate.h"
#include "sim/runner.h"
#include "sim/world.h"

namespace cellsim::validate {

struct ValidateOptions {
  std::string scenario_file;     // recorded in the results
  std::string calibration_file;  // empty: the scenario's
  std::string out_dir;           // DIR/sim, DIR/live, DIR/results.{pb,json}
  double duration_s = 0;         // > 0: both sides run this span of the scenario
  live::ValidateTolerances tolerances;
  // Called once the calibration is known, before the simulator starts.
  // `s` is the scenario as run (cut to duration_s).
  std::function<void(const v1::Scenario& s, const std::string& calibration_label)> on_start;
  // Called after each slice of the simulation; false stops everything.
  std::function<bool(const sim::World&, sim::TimeNs)> on_sim_slice;
  // Called after the simulation (its results are written).
  std::function<void(const sim::SimulateOutcome&)> on_sim_done;
  // Called while the live side runs; false stops it (results partial).
  std::function<bool(const live::Progress&)> on_live_progress;
};

struct ValidateOutcome {
  enum class Failure { kNone, kBadInput, kCannotWrite };
  Failure failure = Failure::kNone;
  std::string error;  // when failure != kNone
  std::string calibration_label;
  live::Comparison comparison;
  v1::Results results;  // mode "validate", the rows in `validation`
  bool interrupted = false;
  uint64_t violation_count = 0;  // both sides
  std::vector<std::string> sim_violations, live_violations;
  uint64_t members = 0, cells = 0;
  double duration_s = 0;  // of the scenario as run
};

// REQUIRES: s is a valid scenario (scenario::load_scenario).
ValidateOutcome run_validation(v1::Scenario s, const ValidateOptions& o);

}  // namespace cellsim::validate

#endif  // CELLSIM_VALIDATE_VALIDATE_H_
