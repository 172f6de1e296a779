#include "validate/validate.h"

#include <algorithm>
#include <chrono>

#include "host/run_record.h"
#include "metrics/results_io.h"
#include "scenario/loader.h"

namespace cellsim::validate {
namespace {

constexpr unsigned kMaxServerThreads = 64;

ValidateOutcome failed(ValidateOutcome::Failure f, std::string why) {
  ValidateOutcome out;
  out.failure = f;
  out.error = std::move(why);
  return out;
}

// Cuts the scenario to `duration_s` (both sides run the same span). False
// with why when the shorter scenario does not hold.
bool cut_scenario(const std::string& file, double duration_s, v1::Scenario* s, std::string* why) {
  s->set_duration_min(duration_s / 60);
  std::vector<scenario::LoadError> errors;
  if (scenario::validate_scenario(*s, &errors)) return true;
  *why = "the scenario does not hold with --duration " + std::to_string(duration_s) + ":";
  for (const auto& e : errors) *why += " " + file + ": " + e.to_string() + ";";
  return false;
}

// The run record of a validation: the simulator's, with both wall times.
void fill_run(const v1::Scenario& s, const ValidateOptions& o, const sim::SimulateOutcome& so,
              const live::LoadOutcome& lo, const std::string& label, bool partial,
              v1::RunInfo* run) {
  const v1::RunInfo& sr = so.results.run();
  run->set_scenario(s.name());
  run->set_scenario_file(o.scenario_file);
  run->set_seed(s.seed());
  run->set_mode("validate");
  run->set_cellsim_version(host::cellsim_version());
  run->set_calibration(label);
  run->add_shards("0/1");
  run->set_shard_count(1);
  run->set_partial(partial);
  run->set_virtual_ns(sr.virtual_ns());
  run->set_members(so.members);
  run->set_cells(so.cells);
  run->set_wall_s(sr.wall_s() + lo.results.run().wall_s());
  run->set_finished_unix_s(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  run->set_peak_rss_bytes(std::max(sr.peak_rss_bytes(), lo.results.run().peak_rss_bytes()));
  run->set_host(sr.host());
}

void fill_validation(const v1::Scenario& s, const ValidateOptions& o, const sim::SimulateOutcome& so,
                     const live::LoadOutcome& lo, ValidateOutcome* out) {
  v1::Validation* v = out->results.mutable_validation();
  *v = live::to_validation(out->comparison, o.tolerances);
  v->set_scenario(s.name());
  v->set_seed(s.seed());
  v->set_calibration(out->calibration_label);
  v->set_sim_wall_s(so.results.run().wall_s());
  v->set_live_wall_s(lo.results.run().wall_s());
  v->set_members(so.members);
  v->set_cells(so.cells);
}

}  // namespace

ValidateOutcome run_validation(v1::Scenario s, const ValidateOptions& o) {
  using F = ValidateOutcome::Failure;
  std::string why;
  if (o.duration_s > 0 && !cut_scenario(o.scenario_file, o.duration_s, &s, &why)) {
    return failed(F::kBadInput, why);
  }
  v1::Calibration cal;
  sim::SimulateOptions so;
  if (!sim::resolve_calibration(o.calibration_file, o.scenario_file, s, &cal,
                                &so.calibration_label, &why)) {
    return failed(F::kBadInput, why);
  }
  so.scenario_file = o.scenario_file;
  so.on_slice = o.on_sim_slice;
  if (o.on_start) o.on_start(s, so.calibration_label);
  // 1. The simulator (fast; fails early on a bad calibration).
  const sim::SimulateOutcome sim_out = sim::simulate(s, cal, so);
  if (!sim_out.ok) return failed(F::kBadInput, sim_out.error);
  if (!metrics::write_results(o.out_dir + "/sim", sim_out.results, &why)) {
    return failed(F::kCannotWrite, why);
  }
  if (o.on_sim_done) o.on_sim_done(sim_out);
  // 2. Live, against the embedded cellmeetd with as many shards as the
  // scenario's node has cores.
  live::LoadOptions lo;
  lo.scenario_file = o.scenario_file;
  lo.server_threads = std::clamp<unsigned>(s.server().cores_per_node(), 1, kMaxServerThreads);
  lo.on_progress = o.on_live_progress;
  live::LoadOutcome live_out;
  if (!sim_out.partial) live_out = live::run_load(s, lo);
  if (!sim_out.partial && !live_out.ok) return failed(F::kBadInput, live_out.error);
  if (live_out.ok && !metrics::write_results(o.out_dir + "/live", live_out.results, &why)) {
    return failed(F::kCannotWrite, why);
  }
  // 3. The comparison.
  ValidateOutcome out;
  out.calibration_label = so.calibration_label;
  out.interrupted = sim_out.partial || live_out.partial;
  out.comparison = live::compare_results(sim_out.results, live_out.results, o.tolerances);
  fill_run(s, o, sim_out, live_out, so.calibration_label, out.interrupted,
           out.results.mutable_run());
  fill_validation(s, o, sim_out, live_out, &out);
  if (!metrics::write_results(o.out_dir, out.results, &why)) return failed(F::kCannotWrite, why);
  out.violation_count = sim_out.violation_count + live_out.violation_count;
  out.sim_violations = sim_out.violations;
  out.live_violations = live_out.violations;
  out.members = sim_out.members;
  out.cells = sim_out.cells;
  out.duration_s = s.duration_min() * 60;
  return out;
}

}  // namespace cellsim::validate
