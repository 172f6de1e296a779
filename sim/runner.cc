#include "sim/runner.h"

#include <google/protobuf/text_format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/recorder.h"
#include "metrics/slo.h"
#include "sim/host.h"
#include "sim/world.h"

namespace cellsim::sim {
namespace {

constexpr char kVersion[] = "cellsim 0.1.0";

constexpr char kBuiltInCalibration[] = R"pb(
  estimated: true
  source: "built-in estimate (no calibration file given); not measured"
  machine: "none (estimated)"
  default_base_us: 4
  default_per_output_us: 1.5
  timer_us: 1
  costs { type: "hello" base_us: 25 per_output_us: 2 }
  costs { type: "join_meeting" base_us: 12 per_output_us: 1.5 }
  costs { type: "close_meeting" base_us: 40 per_output_us: 6 }
)pb";


}  // namespace

v1::Calibration built_in_calibration() {
  v1::Calibration c;
  google::protobuf::TextFormat::ParseFromString(kBuiltInCalibration, &c);
  return c;
}

bool resolve_calibration(const std::string& flag_path, const std::string& scenario_file,
                         const v1::Scenario& s, v1::Calibration* cal, std::string* label,
                         std::string* why) {
  std::string path = flag_path;
  if (path.empty() && !s.server().calibration().empty()) {
    path = (std::filesystem::path(scenario_file).parent_path() / s.server().calibration()).string();
  }
  if (path.empty()) {
    *cal = built_in_calibration();
    *label = "built-in estimate";
    return true;
  }
  std::ifstream in(path);
  if (!in) {
    *why = "cannot read calibration file " + path;
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), cal)) {
    *why = "calibration file " + path + " is not a cellsim.v1.Calibration in text format";
    return false;
  }
  if (cal->machine().empty() || (cal->default_base_us() <= 0 && cal->costs().empty())) {
    *why = "calibration file " + path + " names no machine or no costs";
    return false;
  }
  for (const auto& c : cal->costs()) {
    if (c.base_us() < 0 || c.per_output_us() < 0) {
      *why = "calibration file " + path + ": negative cost for \"" + c.type() + "\"";
      return false;
    }
  }
  *label = path + " (" + (cal->estimated() ? "ESTIMATED" : "measured") + ", machine: " +
           cal->machine() + ")";
  return true;
}

void clear_wall_clock_fields(v1::Results* r) {
  r->mutable_run()->clear_wall_s();
  r->mutable_run()->clear_finished_unix_s();
  r->mutable_run()->clear_peak_rss_bytes();
  r->mutable_run()->clear_host();
}

SimulateOutcome simulate(const v1::Scenario& s, const v1::Calibration& cal,
                         const SimulateOptions& o) {
  SimulateOutcome out;
  metrics::Recorder rec;
  WorldOptions wo;
  wo.scenario = &s;
  wo.calibration = &cal;
  wo.shard_index = o.shard_index;
  wo.shard_count = o.shard_count;
  World world(wo, &rec);
  if (!world.build(&out.error)) return out;
  out.members = world.members();
  out.cells = world.cells();
  const auto wall0 = std::chrono::steady_clock::now();
  for (TimeNs t = world.start_ns(); t < world.end_ns();) {
    t = std::min(t + o.slice_ns, world.end_ns());
    world.run_until(t);
    if (o.on_slice && !o.on_slice(world, t)) {
      out.partial = t < world.end_ns();
      break;
    }
  }
  world.finish(!out.partial);
  v1::RunInfo run;
  run.set_scenario(s.name());
  run.set_scenario_file(o.scenario_file);
  run.set_seed(s.seed());
  run.set_mode("sim");
  run.set_cellsim_version(kVersion);
  run.set_calibration(o.calibration_label);
  run.add_shards(std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count));
  run.set_shard_count(o.shard_count);
  run.set_partial(out.partial);
  run.set_virtual_ns(static_cast<uint64_t>(world.now() - world.start_ns()));
  run.set_events(world.events());
  run.set_frames(world.frames());
  run.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
  run.set_finished_unix_s(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
  run.set_peak_rss_bytes(peak_rss_bytes());
  run.set_host(host_name());
  out.results = rec.to_results(run);
  metrics::evaluate_slos(s, &out.results);
  out.violation_count = world.violation_count();
  out.violations = world.violations();
  out.ok = true;
  return out;
}

}  // namespace cellsim::sim
