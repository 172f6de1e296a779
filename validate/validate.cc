#include "validate/validate.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

#include "host/run_record.h"
#include "metrics/results_io.h"
#include "proto/assert.h"
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

std::string seed_dir(const std::string& out_dir, const char* side, uint64_t seed) {
  return out_dir + "/" + side + "/seed-" + std::to_string(seed);
}

// What the seeds of both sides gave, in seed order.
struct SeedRuns {
  std::vector<v1::Results> sim, live;
  double sim_wall_s = 0, live_wall_s = 0;
  int64_t virtual_ns = 0;  // of one seed
  uint64_t peak_rss_bytes = 0;
  uint64_t members = 0, cells = 0;
  uint64_t violation_count = 0;
  std::vector<std::string> sim_violations, live_violations;
  bool partial = false;
  live::LinkMode link_mode = live::LinkMode::kFrame;  // as the driver ran it
};

// Simulates every seed (stops at an interruption). False with
// (*failure, *why) when a seed cannot run or its results cannot be written.
bool run_sim_seeds(v1::Scenario s, const v1::Calibration& cal, const sim::SimulateOptions& so,
                   const ValidateOptions& o, SeedRuns* runs, ValidateOutcome::Failure* failure,
                   std::string* why) {
  const uint64_t first = s.seed();
  for (uint64_t i = 0; i < o.seeds && !runs->partial; ++i) {  // bound: o.seeds
    s.set_seed(first + i);
    if (o.on_step) o.on_step({Step::Side::kSim, s.seed(), i, o.seeds});
    sim::SimulateOutcome out = sim::simulate(s, cal, so);
    if (!out.ok) {
      *failure = ValidateOutcome::Failure::kBadInput;
      *why = out.error;
      return false;
    }
    if (!metrics::write_results(seed_dir(o.out_dir, "sim", s.seed()), out.results, why)) {
      *failure = ValidateOutcome::Failure::kCannotWrite;
      return false;
    }
    if (o.on_sim_done) o.on_sim_done(out);
    const v1::RunInfo& r = out.results.run();
    runs->sim_wall_s += r.wall_s();
    runs->virtual_ns = r.virtual_ns();
    runs->peak_rss_bytes = std::max(runs->peak_rss_bytes, r.peak_rss_bytes());
    runs->members = out.members;
    runs->cells = out.cells;
    runs->violation_count += out.violation_count;
    for (auto& v : out.violations) runs->sim_violations.push_back(std::move(v));
    runs->partial = out.partial;
    runs->sim.push_back(std::move(out.results));
  }
  return true;
}

// Runs every seed live against the embedded cellmeetd with as many shards
// as the scenario's node has cores (stops at an interruption).
bool run_live_seeds(v1::Scenario s, const ValidateOptions& o, SeedRuns* runs,
                    ValidateOutcome::Failure* failure, std::string* why) {
  live::LoadOptions lo;
  lo.scenario_file = o.scenario_file;
  lo.server_threads = std::clamp<unsigned>(s.server().cores_per_node(), 1, kMaxServerThreads);
  lo.on_progress = o.on_live_progress;
  lo.link_mode = o.link_mode;
  const uint64_t first = s.seed();
  for (uint64_t i = 0; i < o.seeds && !runs->partial; ++i) {  // bound: o.seeds
    s.set_seed(first + i);
    if (o.on_step) o.on_step({Step::Side::kLive, s.seed(), i, o.seeds});
    live::LoadOutcome out = live::run_load(s, lo);
    if (!out.ok) {
      *failure = ValidateOutcome::Failure::kBadInput;
      *why = out.error;
      return false;
    }
    if (!metrics::write_results(seed_dir(o.out_dir, "live", s.seed()), out.results, why)) {
      *failure = ValidateOutcome::Failure::kCannotWrite;
      return false;
    }
    if (o.on_live_done) o.on_live_done(out);
    runs->live_wall_s += out.results.run().wall_s();
    runs->peak_rss_bytes = std::max(runs->peak_rss_bytes, out.results.run().peak_rss_bytes());
    runs->violation_count += out.violation_count;
    for (auto& v : out.violations) runs->live_violations.push_back(std::move(v));
    runs->partial = out.partial;
    runs->link_mode = out.link_mode;
    runs->live.push_back(std::move(out.results));
  }
  return true;
}

// Reads every seed's stored results of one side ("sim" or "live") from
// `dir`/SIDE/seed-N/ into `into`, copying them to the output folder.
bool read_stored_seeds(const v1::Scenario& s, const ValidateOptions& o, const std::string& dir,
                       const char* side, std::vector<v1::Results>* into, double* wall_s,
                       bool* partial, std::string* why) {
  for (uint64_t i = 0; i < o.seeds; ++i) {  // bound: o.seeds
    const uint64_t seed = s.seed() + i;
    const std::string from = seed_dir(dir, side, seed);
    v1::Results r;
    if (!metrics::read_results(from, &r, why)) return false;
    if (r.run().scenario() != s.name() || r.run().seed() != seed || r.run().mode() != side) {
      *why = from + " holds " + r.run().mode() + " results of \"" + r.run().scenario() +
             "\" seed " + std::to_string(r.run().seed()) + ", not " + side + " results of \"" +
             s.name() + "\" seed " + std::to_string(seed);
      return false;
    }
    if (!metrics::write_results(seed_dir(o.out_dir, side, seed), r, why)) return false;
    *wall_s += r.run().wall_s();
    *partial = *partial || r.run().partial();
    into->push_back(std::move(r));
  }
  return true;
}

// The run record of a validation: the first simulator seed's, with the
// wall times of every run on both sides.
void fill_run(const v1::Scenario& s, const ValidateOptions& o, const SeedRuns& runs,
              const std::string& label, v1::RunInfo* run) {
  run->set_scenario(s.name());
  run->set_scenario_file(o.scenario_file);
  run->set_seed(s.seed());
  run->set_mode("validate");
  run->set_cellsim_version(host::cellsim_version());
  run->set_calibration(label);
  run->add_shards("0/1");
  run->set_shard_count(1);
  run->set_partial(runs.partial);
  run->set_virtual_ns(runs.virtual_ns);
  run->set_members(runs.members);
  run->set_cells(runs.cells);
  run->set_wall_s(runs.sim_wall_s + runs.live_wall_s);
  run->set_finished_unix_s(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  run->set_peak_rss_bytes(runs.peak_rss_bytes);
  if (!runs.sim.empty()) run->set_host(runs.sim[0].run().host());
  run->set_link_mode(live::link_mode_name(runs.link_mode));
}

void fill_validation(const v1::Scenario& s, const ValidateOptions& o, const SeedRuns& runs,
                     ValidateOutcome* out) {
  v1::Validation* v = out->results.mutable_validation();
  *v = live::to_validation(out->comparison, o.tolerances);
  v->set_scenario(s.name());
  v->set_seed(s.seed());
  v->set_calibration(out->calibration_label);
  v->set_sim_wall_s(runs.sim_wall_s);
  v->set_live_wall_s(runs.live_wall_s);
  v->set_members(runs.members);
  v->set_cells(runs.cells);
  v->set_link_mode(live::link_mode_name(runs.link_mode));
}

}  // namespace

ValidateOutcome run_validation(v1::Scenario s, const ValidateOptions& o) {
  CELLSIM_ASSERT(o.seeds >= 1 && o.seeds <= live::kMaxValidateSeeds);
  using F = ValidateOutcome::Failure;
  std::string why;
  if (s.seed() > std::numeric_limits<uint64_t>::max() - (o.seeds - 1)) {
    return failed(F::kBadInput, "--seed " + std::to_string(s.seed()) + " --seeds " +
                                    std::to_string(o.seeds) + ": the seeds run past 2^64 - 1");
  }
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
  SeedRuns runs;
  runs.link_mode = o.link_mode;
  F failure = F::kNone;
  // 1. The simulator, every seed; 2. live, every seed.
  if (!o.sim_from_dir.empty()) {
    if (!read_stored_seeds(s, o, o.sim_from_dir, "sim", &runs.sim, &runs.sim_wall_s,
                           &runs.partial, &why)) {
      return failed(F::kBadInput, "--sim-from: " + why);
    }
    runs.members = runs.sim.back().run().members();
    runs.cells = runs.sim.back().run().cells();
    runs.virtual_ns = static_cast<int64_t>(runs.sim.back().run().virtual_ns());
  } else if (!run_sim_seeds(s, cal, so, o, &runs, &failure, &why)) {
    return failed(failure, why);
  }
  if (!o.live_from_dir.empty()) {
    if (!read_stored_seeds(s, o, o.live_from_dir, "live", &runs.live, &runs.live_wall_s,
                           &runs.partial, &why)) {
      return failed(F::kBadInput, "--live-from: " + why);
    }
    live::parse_link_mode(runs.live.back().run().link_mode(), &runs.link_mode);
  } else if (!runs.partial && !run_live_seeds(s, o, &runs, &failure, &why)) {
    return failed(failure, why);
  }
  // 3. The comparison, of the medians across the seeds.
  ValidateOutcome out;
  out.calibration_label = so.calibration_label;
  out.interrupted = runs.partial;
  out.comparison = live::compare_seeds(runs.sim, runs.live, o.tolerances);
  fill_run(s, o, runs, so.calibration_label, out.results.mutable_run());
  fill_validation(s, o, runs, &out);
  if (!metrics::write_results(o.out_dir, out.results, &why)) return failed(F::kCannotWrite, why);
  out.violation_count = runs.violation_count;
  out.sim_violations = std::move(runs.sim_violations);
  out.live_violations = std::move(runs.live_violations);
  out.members = runs.members;
  out.cells = runs.cells;
  out.duration_s = s.duration_min() * 60;
  out.first_seed = s.seed();
  out.seeds_run = runs.live.size();
  out.link_mode = runs.link_mode;
  return out;
}

}  // namespace cellsim::validate
