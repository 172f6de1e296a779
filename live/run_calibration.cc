#include "live/run_calibration.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "proto/assert.h"
#include "scenario/loader.h"

namespace cellsim::live {
namespace {

// Writes `text` to `path` through path.tmp and a rename, creating the
// folder; false if any step fails.
bool write_whole_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  std::ofstream f(tmp);
  f << text;
  f.close();
  return f && std::rename(tmp.c_str(), path.c_str()) == 0;
}

CalibrationPlan plan_of(const CalibrateOptions& o) {
  CalibrationPlan p;
  p.server_binary = o.server_binary;
  p.runs = o.levels * static_cast<int>(calibration_mixes().size());
  p.run_seconds = o.run_seconds;
  p.about_minutes = calibration_minutes(o.levels, o.run_seconds);
  p.machine = machine_description();
  return p;
}

}  // namespace

std::string default_calibration_file() {
  return "calibration/measured-" + machine_slug() + ".textproto";
}

int calibration_minutes(int levels, double run_seconds) {
  const int runs = levels * static_cast<int>(calibration_mixes().size());
  return static_cast<int>(
      levels * ((runs / levels - 1) * (run_seconds + 1) + std::max(run_seconds, kMediaRunS) + 1) /
          60 +
      1);
}

CalibrationResult run_calibration(const CalibrateOptions& options, const std::string& out_file,
                                  const CalibrationHooks& hooks) {
  CELLSIM_ASSERT(!options.server_binary.empty());
  CalibrationResult r;
  v1::Scenario base;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(options.base_scenario_file, &base, &errors)) {
    for (const auto& e : errors) r.scenario_errors.push_back(e.to_string());
    r.status = CalibrationStatus::kBadScenario;
    return r;
  }
  r.out_file = out_file.empty() ? default_calibration_file() : out_file;
  if (hooks.on_start) hooks.on_start(plan_of(options));
  r.outcome = calibrate(base, options);
  if (r.outcome.interrupted || (hooks.stop_requested && hooks.stop_requested())) {
    r.status = CalibrationStatus::kInterrupted;
    return r;
  }
  if (!r.outcome.ok) {
    r.error = r.outcome.error;
    return r;
  }
  if (!write_whole_file(r.out_file, r.outcome.file_text)) {
    r.error = "cannot write " + r.out_file;
    return r;
  }
  r.status = CalibrationStatus::kWritten;
  return r;
}

}  // namespace cellsim::live
