// What the cellsim subcommands share besides their flags (cli/flags.h):
// loading the scenario a command names, writing a results folder, and a
// progress line on a terminal.
//
// Each function that can fail prints one message "cellsim COMMAND: ..."
// (a scenario's errors as file:line:column: field: message, one a line) and
// returns false; the caller maps that to its exit code.
//
// Thread-safety: call from the command's thread.
#ifndef CELLSIM_CLI_COMMON_H_
#define CELLSIM_CLI_COMMON_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "cli/flags.h"

namespace cellsim::cli {

// The flags every scenario-running command takes the same way.
struct ScenarioFlags {
  std::string scenario_file;
  uint64_t seed = 0;  // used when --seed was given
  std::string out_dir;
  std::string calibration_file;
  bool quiet = false;
  std::string media_transport;  // "in_band" or "datagram" when --media-transport was given
};
// Declares SCENARIO, --seed, --out (default `default_out`), --calibration
// (when `with_calibration`), --media-transport and --quiet on `f`, into `a`.
void add_scenario_flags(Flags& f, ScenarioFlags* a, const std::string& default_out,
                        bool with_calibration = true);

// Loads `a.scenario_file` and applies --seed and --media-transport when
// given. False: printed.
bool load_scenario_for(const Flags& f, const ScenarioFlags& a, v1::Scenario* s);

// Writes DIR/results.pb and DIR/results.json. False: printed.
bool write_results_for(const Flags& f, const std::string& out_dir, const v1::Results& r);

// "results: DIR/results.pb, DIR/results.json".
void print_results_paths(const std::string& out_dir);

// A line of progress on stderr, redrawn in place at most every 0.5 s, only
// when stderr is a terminal and the command is not --quiet.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet);
  bool enabled() const { return enabled_; }
  // True (and the clock restarts) when a redraw is due.
  bool due();
  // Seconds since the line was made.
  double elapsed_s() const;
  // Erases the line (before other output).
  void clear() const;

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace cellsim::cli

#endif  // CELLSIM_CLI_COMMON_H_
