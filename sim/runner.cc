#include "sim/runner.h"

#include <google/protobuf/text_format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "host/run_record.h"
#include "proto/assert.h"
#include "metrics/recorder.h"
#include "sim/world.h"

namespace cellsim::sim {
namespace {

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
  // A broken invariant ends the process with status 3 and the seed.
  const std::string note = "invariant broken; seed " + std::to_string(s.seed()) +
                           " reproduces it: cellsim run " +
                           (o.scenario_file.empty() ? std::string("SCENARIO") : o.scenario_file) +
                           " --seed " + std::to_string(s.seed()) +
                           (o.shard_count > 1 ? " --shard " + std::to_string(o.shard_index) +
                                                    "/" + std::to_string(o.shard_count)
                                              : std::string());
  ScopedAssertionContext assertion_context(note.c_str(), kInvariantExitStatus);
  SimulateOutcome out;
  metrics::Recorder rec;
  WorldOptions wo;
  wo.scenario = &s;
  wo.calibration = &cal;
  wo.shard_index = o.shard_index;
  wo.shard_count = o.shard_count;
  wo.planted = o.planted;
  wo.engine_check_every = o.engine_check_every;
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
  host::RunFacts facts;
  facts.mode = "sim";
  facts.scenario_file = o.scenario_file;
  facts.calibration = o.calibration_label;
  facts.shard_index = o.shard_index;
  facts.shard_count = o.shard_count;
  facts.partial = out.partial;
  facts.virtual_ns = static_cast<uint64_t>(world.now() - world.start_ns());
  facts.events = world.events();
  facts.frames = world.frames();
  facts.wall_start = wall0;
  out.results = host::make_results(s, rec, host::run_info(s, facts));
  out.violation_count = world.violation_count();
  out.violations = world.violations();
  out.ok = true;
  return out;
}

}  // namespace cellsim::sim
