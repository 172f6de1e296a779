// Runs a scenario in the simulator and returns its results: the one entry
// point the `cellsim run` command and the tests share.
//
// Thread-safety: reentrant; each call owns its world.
#ifndef CELLSIM_SIM_RUNNER_H_
#define CELLSIM_SIM_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellsim/v1/calibration.pb.h"
#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "host/host_core.h"
#include "sim/kernel.h"

namespace cellsim::sim {

class World;

struct SimulateOptions {
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  std::string scenario_file;  // recorded in the results
  std::string calibration_label = "built-in estimate";
  // Virtual time between calls of on_slice.
  TimeNs slice_ns = 5 * kNsPerS;
  // Called after each slice; return false to stop early (results partial).
  std::function<bool(const World&, TimeNs virtual_now_ns)> on_slice;
  host::PlantedFaults planted;  // tests only
  // The engine's meeting invariants after every n-th input (sim/world.h).
  uint32_t engine_check_every = 1;
};

struct SimulateOutcome {
  bool ok = false;
  std::string error;                    // when !ok: the world could not be built
  v1::Results results;                  // with SLOs evaluated
  uint64_t violation_count = 0;
  std::vector<std::string> violations;  // each names the seed
  bool partial = false;
  uint64_t members = 0;
  uint64_t cells = 0;
};

// The exit status of a run whose invariants broke (as `cellsim run`'s).
inline constexpr int kInvariantExitStatus = 3;

// REQUIRES: scenario validated with defaults applied. A CELLSIM_ASSERT that
// fails during the call ends the process with kInvariantExitStatus, naming
// the seed that reproduces it.
SimulateOutcome simulate(const v1::Scenario& scenario, const v1::Calibration& calibration,
                         const SimulateOptions& options);

// The estimated costs used when no calibration file is given.
v1::Calibration built_in_calibration();

// The calibration a command uses: `flag_path` if given, else the scenario's
// server.calibration (relative to `scenario_file`), else the built-in
// estimate. `*label` says which, and the machine it names. False with *why
// for a file that cannot be read, does not parse, or names no machine or
// costs (or a negative cost).
bool resolve_calibration(const std::string& flag_path, const std::string& scenario_file,
                         const v1::Scenario& scenario, v1::Calibration* calibration,
                         std::string* label, std::string* why);

// Clears the fields that depend on the wall clock or the host, so two runs'
// results can be compared byte for byte.
void clear_wall_clock_fields(v1::Results* results);

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_RUNNER_H_
