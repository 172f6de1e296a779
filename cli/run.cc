#include "cli/run.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/common.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "metrics/summary.h"
#include "scenario/loader.h"
#include "sim/runner.h"
#include "sim/world.h"

namespace cellsim::cli {
namespace {

// Virtual time run between checks for progress and Ctrl-C.
constexpr sim::TimeNs kSliceNs = 5 * sim::kNsPerS;
constexpr uint32_t kMaxShards = 4096;

constexpr char kRunExits[] =
    "exit: 0 ok, 1 I/O error, 2 bad input, 3 invariant broken (the seed is printed),\n"
    "      4 SLO breached, 130 interrupted (partial results written).";

struct RunArgs {
  ScenarioFlags common;
  std::string shard = "0/1";
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
};

// "" when `v` is i/N with 0 <= i < N <= kMaxShards.
std::string check_shard(const std::string& v) {
  const auto pos = v.find('/');
  const std::string allowed = "needs i/N with 0 <= i < N <= " + std::to_string(kMaxShards) +
                              ", got \"" + v + "\"";
  if (pos == std::string::npos) return allowed;
  if (!check_unsigned(v.substr(0, pos), 0, kMaxShards - 1).empty() ||
      !check_unsigned(v.substr(pos + 1), 1, kMaxShards).empty()) {
    return allowed;
  }
  if (std::stoul(v.substr(0, pos)) >= std::stoul(v.substr(pos + 1))) return allowed;
  return "";
}

std::string clock_text(sim::TimeNs ns) {
  const int64_t s = ns / sim::kNsPerS;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

// The slice callback: announces the run once, redraws the progress line and
// stops the run on Ctrl-C.
std::function<bool(const sim::World&, sim::TimeNs)> progress_callback(const RunArgs& a, const v1::Scenario& s,
                                     const sim::SimulateOptions& so, ProgressLine* line) {
  auto announced = std::make_shared<bool>(false);
  auto last = std::make_shared<std::pair<double, uint64_t>>(0.0, 0);  // (wall s, events)
  return [&a, &s, &so, line, announced, last](const sim::World& world, sim::TimeNs t) {
    if (!a.common.quiet && !*announced) {
      *announced = true;
      std::cerr << "cellsim run: " << s.name() << ", seed " << s.seed() << ", shard "
                << a.shard_index << "/" << a.shard_count << ": " << world.cells() << " cells, "
                << world.members() << " members, "
                << clock_text(world.end_ns() - world.start_ns())
                << " of virtual time; calibration: " << so.calibration_label << "\n";
    }
    if (line->due()) {
      const double wall = line->elapsed_s();
      const double since = std::max(wall - last->first, 1e-9);
      std::fprintf(stderr, "\r  virtual %s / %s   wall %6.1f s   %6.2f M events/s   %llu frames   ",
                   clock_text(t - world.start_ns()).c_str(),
                   clock_text(world.end_ns() - world.start_ns()).c_str(), wall,
                   static_cast<double>(world.events() - last->second) / since / 1e6,
                   static_cast<unsigned long long>(world.frames()));
      *last = {wall, world.events()};
    }
    return !interrupt_requested();
  };
}

void print_run_summary(const RunArgs& a, const sim::SimulateOutcome& out) {
  const auto& run = out.results.run();
  metrics::print_summary(out.results, std::cout);
  print_results_paths(a.common.out_dir);
  std::cout << "simulated " << out.members << " members, " << run.frames() << " frames in "
            << run.wall_s() << " s wall ("
            << static_cast<uint64_t>(static_cast<double>(run.frames()) /
                                     std::max(run.wall_s(), 1e-9))
            << " frames/s), peak memory " << run.peak_rss_bytes() / (1024 * 1024) << " MiB\n";
}

}  // namespace

int run_main(int argc, char** argv) {
  RunArgs a;
  Flags f("cellsim run", "Simulates the scenario and writes DIR/results.pb and DIR/results.json.");
  add_scenario_flags(f, &a.common, "out/run");
  f.text("--shard", &a.shard, "i/N: simulate shard i of N, 0 <= i < N <= 4096 (default 0/1)")
      ->check(CLI::Validator([](std::string& v) { return check_shard(v); }, ""));
  f.footer(kRunExits);
  if (auto rc = f.parse(argc, argv)) return *rc;
  a.shard_index = static_cast<uint32_t>(std::stoul(a.shard.substr(0, a.shard.find('/'))));
  a.shard_count = static_cast<uint32_t>(std::stoul(a.shard.substr(a.shard.find('/') + 1)));
  v1::Scenario s;
  if (!load_scenario_for(f, a.common, &s)) return kExitUsage;
  v1::Calibration cal;
  sim::SimulateOptions so;
  std::string why;
  if (!sim::resolve_calibration(a.common.calibration_file, a.common.scenario_file, s, &cal,
                                &so.calibration_label, &why)) {
    return f.usage_error(why);
  }
  so.shard_index = a.shard_index;
  so.shard_count = a.shard_count;
  so.scenario_file = a.common.scenario_file;
  so.slice_ns = kSliceNs;
  ProgressLine line(a.common.quiet);
  so.on_slice = progress_callback(a, s, so, &line);
  watch_interrupts();
  const sim::SimulateOutcome out = sim::simulate(s, cal, so);
  if (line.enabled()) std::fprintf(stderr, "\n");
  if (!out.ok) {
    std::cerr << "cellsim run: " << out.error << "\n";
    return kExitUsage;
  }
  if (!write_results_for(f, a.common.out_dir, out.results)) return kExitError;
  if (!a.common.quiet) print_run_summary(a, out);
  return run_exit_code({"run", s.seed(), out.violation_count, &out.violations, out.partial,
                        metrics::all_met(out.results), a.common.out_dir});
}

int run_exit_code(const RunEnd& end) {
  const std::string who = std::string("cellsim ") + end.command + ": ";
  if (end.violation_count > 0) {
    std::cerr << who << end.violation_count << " invariant violations (seed " << end.seed
              << " reproduces them):\n";
    for (const auto& v : *end.violations) std::cerr << "  " << v << "\n";
    return kExitInvariant;
  }
  if (end.partial) {
    std::cerr << who << "interrupted; partial results written to " << end.out_dir << "\n";
    return kExitInterrupted;
  }
  if (!end.slos_met) {
    std::cerr << who << "an SLO was breached (exit " << kExitSloBreached << ")\n";
    return kExitSloBreached;
  }
  return kExitOk;
}

int merge_main(int argc, char** argv) {
  std::string out_dir, scenario_file;
  std::vector<std::string> inputs;
  Flags f("cellsim merge",
          "Adds result files (shards of one run) exactly; with --scenario, checks its SLOs.");
  f.positionals("RESULTS", &inputs, "results files or folders to merge");
  f.text("--out", &out_dir, "the merged results folder")->required();
  f.text("--scenario", &scenario_file, "the scenario whose SLOs the merged results are checked against");
  f.footer("exit: 0 merged, 1 cannot write, 2 bad input or results that do not merge.");
  if (auto rc = f.parse(argc, argv)) return *rc;
  v1::Results merged;
  std::string why;
  for (size_t i = 0; i < inputs.size(); ++i) {
    v1::Results r;
    if (!metrics::read_results(inputs[i], &r, &why)) {
      std::cerr << "cellsim merge: " << why << "\n";
      return kExitUsage;
    }
    if (i == 0) {
      merged = r;
      continue;
    }
    v1::Results next;
    if (!metrics::merge_results(merged, r, &next, &why)) {
      std::cerr << "cellsim merge: " << inputs[i] << ": " << why << "\n";
      return kExitUsage;
    }
    merged = std::move(next);
  }
  if (!scenario_file.empty()) {
    v1::Scenario s;
    std::vector<scenario::LoadError> errors;
    if (!scenario::load_scenario(scenario_file, &s, &errors)) {
      for (const auto& e : errors) std::cerr << e.to_string() << "\n";
      return kExitUsage;
    }
    metrics::evaluate_slos(s, &merged);
  }
  if (!metrics::write_results(out_dir, merged, &why)) {
    std::cerr << "cellsim merge: " << why << "\n";
    return kExitError;
  }
  metrics::print_summary(merged, std::cout);
  return kExitOk;
}

}  // namespace cellsim::cli
