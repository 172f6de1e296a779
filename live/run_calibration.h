// `cellsim calibrate` end to end, for the command line (cli/calibrate.cc)
// to call once it has read its flags: load the base scenario, say what is
// about to run, measure and fit (calibrate(), live/calibrate.h), and write
// the calibration file. The command prints and picks the exit code; this
// layer neither prints nor knows the flags.
//
// The file is written whole or not at all: to FILE.tmp, then renamed over
// FILE. Nothing is written when the calibration fails or is stopped.
//
// Thread-safety: as calibrate(); the hooks are called on the calling thread.
#ifndef CELLSIM_LIVE_RUN_CALIBRATION_H_
#define CELLSIM_LIVE_RUN_CALIBRATION_H_

#include <functional>
#include <string>
#include <vector>

#include "live/calibrate.h"

namespace cellsim::live {

// What is about to run, for a line before the first run.
struct CalibrationPlan {
  std::string server_binary;
  int runs = 0;            // levels × mixes
  double run_seconds = 0;  // each run's (the media mix's at least kMediaRunS)
  int about_minutes = 0;   // the whole calibration's, roughly
  std::string machine;     // machine_description()
};

struct CalibrationHooks {
  // Called once the base scenario has loaded, just before the first run.
  std::function<void(const CalibrationPlan&)> on_start;
  // Asked once the measurement is over, before anything is written: true
  // ends the calibration as interrupted (a stop the runs did not see).
  std::function<bool()> stop_requested;
};

enum class CalibrationStatus {
  kWritten,      // out_file holds the calibration
  kBadScenario,  // the base scenario did not load (scenario_errors)
  kFailed,       // the measurement or the write failed (error)
  kInterrupted,  // stopped; nothing written
};

struct CalibrationResult {
  CalibrationStatus status = CalibrationStatus::kFailed;
  std::string error;                         // kFailed: why
  std::vector<std::string> scenario_errors;  // kBadScenario: one a line
  std::string out_file;                      // where it is (or was to be) written
  CalibrateOutcome outcome;                  // the runs, the fit, the calibration
};

// The file a calibration is written to by default:
// calibration/measured-<machine_slug()>.textproto.
std::string default_calibration_file();

// The rough length of a calibration of `levels` levels of `run_seconds` runs
// (each mix's runs plus a second between them; the media mix's at least
// kMediaRunS), minutes, rounded up.
int calibration_minutes(int levels, double run_seconds);

// Loads options.base_scenario_file, runs calibrate() and writes its file to
// out_file (empty: default_calibration_file()), creating its folder.
// REQUIRES: options.server_binary names an executable (see find_cellmeetd()).
CalibrationResult run_calibration(const CalibrateOptions& options, const std::string& out_file,
                                  const CalibrationHooks& hooks = {});

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_RUN_CALIBRATION_H_
