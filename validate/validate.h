// `cellsim validate` as a library: runs one scenario in the simulator and
// live (the same agents against the embedded cellmeetd, in real time, its
// links impaired in the chosen link mode, live/link_mode.h) over K seeds
// (seed, seed + 1, ..., seed + K - 1) with the same calibration, writes each
// seed's results of both sides and their comparison (medians across the
// seeds and their spread, live/validate.h) to a folder:
//
//   DIR/sim/seed-N/results.{pb,json}    the simulator, seed N
//   DIR/live/seed-N/results.{pb,json}   live, seed N
//   DIR/results.{pb,json}               mode "validate": Validation
//
// Every simulator seed runs first (fast; a bad calibration fails before
// any real-time run), then every live seed. An interruption stops the seed
// it is in; the comparison is of what ran (partial).
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

// One seed's run on one side, as on_step announces it.
struct Step {
  enum class Side { kSim, kLive };
  Side side = Side::kSim;
  uint64_t seed = 0;
  uint64_t index = 0;  // 0 .. count - 1
  uint64_t count = 1;
};

struct ValidateOptions {
  std::string scenario_file;     // recorded in the results
  std::string calibration_file;  // empty: the scenario's
  std::string out_dir;           // DIR/sim/seed-N, DIR/live/seed-N, DIR/results.{pb,json}
  double duration_s = 0;         // > 0: both sides run this span of the scenario
  // Seeds on each side, from the scenario's seed up; in [1, kMaxValidateSeeds].
  uint64_t seeds = 1;
  // The live side's link mode (the caller chose it: choose_link_mode()).
  live::LinkMode link_mode = live::LinkMode::kFrame;
  live::ValidateTolerances tolerances;
  // Non-empty: the live side is not run; each seed's live results are read
  // from LIVE_FROM/live/seed-N/ (a folder an earlier validate wrote), so a
  // changed simulator is checked against stored ground truth. Their link
  // mode is the one recorded; their scenario name must be this one's.
  std::string live_from_dir;
  // The same for the simulator's side: SIM_FROM/sim/seed-N/ (e.g. results
  // of another version's `cellsim run`, to compare two link models against
  // one set of live runs).
  std::string sim_from_dir;
  // Called before each seed's run on each side.
  std::function<void(const Step&)> on_step;
  // Called once the calibration is known, before the simulator starts.
  // `s` is the scenario as run (cut to duration_s), with its first seed.
  std::function<void(const v1::Scenario& s, const std::string& calibration_label)> on_start;
  // Called after each slice of the simulation; false stops everything.
  std::function<bool(const sim::World&, sim::TimeNs)> on_sim_slice;
  // Called after each seed's simulation (its results are written).
  std::function<void(const sim::SimulateOutcome&)> on_sim_done;
  // Called while the live side runs; false stops it (results partial).
  std::function<bool(const live::Progress&)> on_live_progress;
  // Called after each seed's live run (its results are written).
  std::function<void(const live::LoadOutcome&)> on_live_done;
};

struct ValidateOutcome {
  enum class Failure { kNone, kBadInput, kCannotWrite };
  Failure failure = Failure::kNone;
  std::string error;  // when failure != kNone
  std::string calibration_label;
  live::Comparison comparison;  // medians across the seeds
  v1::Results results;  // mode "validate", the rows in `validation`
  bool interrupted = false;
  uint64_t violation_count = 0;  // both sides, every seed
  std::vector<std::string> sim_violations, live_violations;  // each names its seed
  uint64_t members = 0, cells = 0;  // of one seed
  double duration_s = 0;  // of the scenario as run
  uint64_t first_seed = 0;
  uint64_t seeds_run = 0;  // seeds the live side finished (or began, if interrupted)
  // The link mode the live driver reports it ran (may differ from the one
  // asked for while a driver ignores LoadOptions::link_mode).
  live::LinkMode link_mode = live::LinkMode::kFrame;
};

// REQUIRES: s is a valid scenario (scenario::load_scenario);
// 1 <= o.seeds <= live::kMaxValidateSeeds.
ValidateOutcome run_validation(v1::Scenario s, const ValidateOptions& o);

}  // namespace cellsim::validate

#endif  // CELLSIM_VALIDATE_VALIDATE_H_
