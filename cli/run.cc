#include "cli/run.h"

#include <google/protobuf/text_format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "metrics/summary.h"
#include "scenario/loader.h"
#include "sim/runner.h"
#include "sim/world.h"

namespace cellsim::cli {
namespace {

namespace fs = std::filesystem;

// Virtual time run between checks for progress and Ctrl-C.
constexpr sim::TimeNs kSliceNs = 5 * sim::kNsPerS;
constexpr double kProgressEveryS = 0.5;

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

struct RunArgs {
  std::string scenario_file;
  std::string out_dir = "out/run";
  std::string calibration_file;
  bool seed_set = false;
  uint64_t seed = 0;
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  bool quiet = false;
};

int usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim run: " << problem << "\n";
  out << "usage: cellsim run SCENARIO [--seed N] [--out DIR] [--shard i/N] [--calibration FILE] "
         "[--quiet]\n"
         "  Simulates the scenario and writes DIR/results.pb and DIR/results.json.\n"
         "  exit: 0 ok, 2 bad input, 3 invariant broken, 4 SLO breached, 130 interrupted.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  errno = 0;
  *out = std::strtoull(s.c_str(), nullptr, 10);
  return errno == 0;
}

int parse_run_args(int argc, char** argv, RunArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag, std::string* out) -> bool {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      (void)flag;
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") return usage("") == kExitOk ? -1 : kExitUsage;
    if (arg == "--seed") {
      if (!value("--seed", &v) || !parse_u64(v, &a->seed)) return usage("--seed needs a number in 0..2^64-1");
      a->seed_set = true;
    } else if (arg == "--out") {
      if (!value("--out", &a->out_dir) || a->out_dir.empty()) return usage("--out needs a DIR");
    } else if (arg == "--calibration") {
      if (!value("--calibration", &a->calibration_file)) return usage("--calibration needs a FILE");
    } else if (arg == "--shard") {
      uint64_t i_val = 0, n_val = 0;
      const auto slash = v.npos;
      (void)slash;
      if (!value("--shard", &v)) return usage("--shard needs i/N");
      const auto pos = v.find('/');
      if (pos == std::string::npos || !parse_u64(v.substr(0, pos), &i_val) ||
          !parse_u64(v.substr(pos + 1), &n_val) || n_val == 0 || n_val > 4096 || i_val >= n_val) {
        return usage("--shard needs i/N with 0 <= i < N <= 4096, got \"" + v + "\"");
      }
      a->shard_index = static_cast<uint32_t>(i_val);
      a->shard_count = static_cast<uint32_t>(n_val);
    } else if (arg == "--quiet") {
      a->quiet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return usage("unknown flag " + arg);
    } else if (a->scenario_file.empty()) {
      a->scenario_file = arg;
    } else {
      return usage("more than one scenario given: " + arg);
    }
  }
  if (a->scenario_file.empty()) return usage("no scenario given");
  return 0;
}

std::string clock_text(sim::TimeNs ns) {
  const int64_t s = ns / sim::kNsPerS;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

int run_main(int argc, char** argv) {
  RunArgs a;
  if (int rc = parse_run_args(argc, argv, &a); rc != 0) return rc < 0 ? kExitOk : rc;
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(a.scenario_file, &s, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  if (a.seed_set) s.set_seed(a.seed);
  v1::Calibration cal;
  sim::SimulateOptions so;
  std::string why;
  if (!sim::resolve_calibration(a.calibration_file, a.scenario_file, s, &cal,
                                &so.calibration_label, &why)) {
    std::cerr << "cellsim run: " << why << "\n";
    return kExitUsage;
  }
  so.shard_index = a.shard_index;
  so.shard_count = a.shard_count;
  so.scenario_file = a.scenario_file;
  so.slice_ns = kSliceNs;
  const bool tty = !a.quiet && isatty(STDERR_FILENO);
  const auto wall0 = std::chrono::steady_clock::now();
  auto last_print = wall0;
  uint64_t last_events = 0;
  bool announced = false;
  so.on_slice = [&](const sim::World& world, sim::TimeNs t) {
    if (!a.quiet && !announced) {
      announced = true;
      std::cerr << "cellsim run: " << s.name() << ", seed " << s.seed() << ", shard "
                << a.shard_index << "/" << a.shard_count << ": " << world.cells() << " cells, "
                << world.members() << " members, "
                << clock_text(world.end_ns() - world.start_ns())
                << " of virtual time; calibration: " << so.calibration_label << "\n";
    }
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_print).count();
    if (tty && since >= kProgressEveryS) {
      const double wall = std::chrono::duration<double>(now - wall0).count();
      std::fprintf(stderr, "\r  virtual %s / %s   wall %6.1f s   %6.2f M events/s   %llu frames   ",
                   clock_text(t - world.start_ns()).c_str(),
                   clock_text(world.end_ns() - world.start_ns()).c_str(), wall,
                   static_cast<double>(world.events() - last_events) / since / 1e6,
                   static_cast<unsigned long long>(world.frames()));
      last_print = now;
      last_events = world.events();
    }
    return !g_interrupted.load();
  };
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  const sim::SimulateOutcome out = sim::simulate(s, cal, so);
  if (tty) std::fprintf(stderr, "\n");
  if (!out.ok) {
    std::cerr << "cellsim run: " << out.error << "\n";
    return kExitUsage;
  }
  if (!metrics::write_results(a.out_dir, out.results, &why)) {
    std::cerr << "cellsim run: " << why << "\n";
    return kExitError;
  }
  const auto& run = out.results.run();
  if (!a.quiet) {
    metrics::print_summary(out.results, std::cout);
    std::cout << "results: " << a.out_dir << "/results.pb, " << a.out_dir << "/results.json\n";
    std::cout << "simulated " << out.members << " members, " << run.frames() << " frames in "
              << run.wall_s() << " s wall ("
              << static_cast<uint64_t>(static_cast<double>(run.frames()) / std::max(run.wall_s(), 1e-9))
              << " frames/s), peak memory " << run.peak_rss_bytes() / (1024 * 1024) << " MiB\n";
  }
  return run_exit_code({"run", s.seed(), out.violation_count, &out.violations, out.partial,
                        metrics::all_met(out.results), a.out_dir});
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
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (arg == "--scenario" && i + 1 < argc) {
      scenario_file = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: cellsim merge --out DIR [--scenario FILE] RESULTS...\n"
                   "  Adds result files (shards of one run) exactly; with --scenario, checks its SLOs.\n";
      return kExitOk;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "cellsim merge: unknown flag " << arg << "\n";
      return kExitUsage;
    } else {
      inputs.push_back(arg);
    }
  }
  if (out_dir.empty() || inputs.empty()) {
    std::cerr << "cellsim merge: needs --out DIR and at least one results file\n";
    return kExitUsage;
  }
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
