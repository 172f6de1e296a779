// `cellsim validate`: runs a scenario simulated and live with the same seed
// and calibration and compares the figures (live/validate.h).
//
// Exit codes: 0 every row within tolerance, 1 I/O or internal error, 2 bad
// usage or scenario, 3 an invariant broke (either side), 4 some row outside
// tolerance, 130 interrupted (partial results written).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "live/driver.h"
#include "live/validate.h"
#include "metrics/results_io.h"
#include "scenario/loader.h"
#include "sim/runner.h"
#include "sim/world.h"

namespace cellsim::cli {
namespace {

std::atomic<bool> g_validate_interrupted{false};

void on_validate_signal(int) { g_validate_interrupted.store(true); }

constexpr double kProgressEveryS = 0.5;
constexpr char kValidateVersion[] = "cellsim 0.1.0";

int validate_usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim validate: " << problem << "\n";
  out << "usage: cellsim validate SCENARIO [--seed N] [--calibration FILE] [--duration S]\n"
         "                        [--out DIR] [--latency-tolerance F] [--share-tolerance F]\n"
         "                        [--min-samples N] [--quiet]\n"
         "  Runs the scenario in the simulator and live (the same agents against the embedded\n"
         "  cellmeetd over loopback, in real time) with the same seed and calibration, and\n"
         "  prints sim against live: p50 and p99 of every latency metric, quorum attainment\n"
         "  and vote validity, overall, per cell type and per network profile.\n"
         "    --duration S            run S seconds of the scenario (both sides; default: all)\n"
         "    --latency-tolerance F   relative, in [0, 10] (default 0.2)\n"
         "    --share-tolerance F     absolute, in [0, 1] (default 0.05)\n"
         "    --min-samples N         rows with fewer samples do not count (default 20)\n"
         "  Writes DIR/sim/, DIR/live/ and DIR/results.pb, DIR/results.json (mode \"validate\",\n"
         "  the rows in `validation`); DIR defaults to out/validate.\n"
         "  exit: 0 within tolerance, 2 bad input, 3 invariant broken, 4 outside tolerance,\n"
         "  130 interrupted.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end != nullptr && *end == '\0' && std::isfinite(*out);
}

bool parse_u64v(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  errno = 0;
  *out = std::strtoull(s.c_str(), nullptr, 10);
  return errno == 0;
}

struct ValidateArgs {
  std::string scenario_file;
  std::string out_dir = "out/validate";
  std::string calibration_file;
  bool seed_set = false;
  uint64_t seed = 0;
  double duration_s = 0;
  live::ValidateTolerances tol;
  bool quiet = false;
};

int parse_validate_args(int argc, char** argv, ValidateArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* v) -> bool {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") return validate_usage("") == kExitOk ? -1 : kExitUsage;
    if (arg == "--seed") {
      if (!value(&v) || !parse_u64v(v, &a->seed)) {
        return validate_usage("--seed needs a number in 0..2^64-1");
      }
      a->seed_set = true;
    } else if (arg == "--out") {
      if (!value(&a->out_dir) || a->out_dir.empty()) return validate_usage("--out needs a DIR");
    } else if (arg == "--calibration") {
      if (!value(&a->calibration_file) || a->calibration_file.empty()) {
        return validate_usage("--calibration needs a FILE");
      }
    } else if (arg == "--duration") {
      if (!value(&v) || !parse_double(v, &a->duration_s) || a->duration_s <= 0 ||
          a->duration_s > live::kMaxDurationS) {
        return validate_usage("--duration needs seconds in (0, " +
                              std::to_string(static_cast<int64_t>(live::kMaxDurationS)) + "]");
      }
    } else if (arg == "--latency-tolerance") {
      if (!value(&v) || !parse_double(v, &a->tol.latency) || a->tol.latency < 0 ||
          a->tol.latency > 10) {
        return validate_usage("--latency-tolerance needs a relative tolerance in [0, 10], got \"" +
                              v + "\"");
      }
    } else if (arg == "--share-tolerance") {
      if (!value(&v) || !parse_double(v, &a->tol.share) || a->tol.share < 0 ||
          a->tol.share > 1) {
        return validate_usage("--share-tolerance needs a share in [0, 1], got \"" + v + "\"");
      }
    } else if (arg == "--min-samples") {
      if (!value(&v) || !parse_u64v(v, &a->tol.min_samples)) {
        return validate_usage("--min-samples needs a whole number");
      }
    } else if (arg == "--quiet") {
      a->quiet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return validate_usage("unknown flag " + arg);
    } else if (a->scenario_file.empty()) {
      a->scenario_file = arg;
    } else {
      return validate_usage("more than one scenario given: " + arg);
    }
  }
  if (a->scenario_file.empty()) return validate_usage("no scenario given");
  return 0;
}

}  // namespace

int validate_main(int argc, char** argv) {
  ValidateArgs a;
  if (int rc = parse_validate_args(argc, argv, &a); rc != 0) return rc < 0 ? kExitOk : rc;
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(a.scenario_file, &s, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  if (a.seed_set) s.set_seed(a.seed);
  if (a.duration_s > 0) {
    // Both sides run the same span of the scenario.
    s.set_duration_min(a.duration_s / 60);
    errors.clear();
    if (!scenario::validate_scenario(s, &errors)) {
      std::cerr << "cellsim validate: the scenario does not hold with --duration " << a.duration_s
                << ":\n";
      for (const auto& e : errors) std::cerr << "  " << a.scenario_file << ": " << e.to_string() << "\n";
      return kExitUsage;
    }
  }
  v1::Calibration cal;
  sim::SimulateOptions so;
  std::string why;
  if (!sim::resolve_calibration(a.calibration_file, a.scenario_file, s, &cal,
                                &so.calibration_label, &why)) {
    std::cerr << "cellsim validate: " << why << "\n";
    return kExitUsage;
  }
  so.scenario_file = a.scenario_file;
  const bool tty = !a.quiet && isatty(STDERR_FILENO);
  std::signal(SIGINT, on_validate_signal);
  std::signal(SIGTERM, on_validate_signal);
  std::signal(SIGPIPE, SIG_IGN);

  // 1. The simulator (fast; fails early on a bad calibration).
  if (!a.quiet) {
    std::cerr << "cellsim validate: " << s.name() << ", seed " << s.seed() << ", "
              << s.duration_min() * 60 << " s; calibration: " << so.calibration_label << "\n";
  }
  auto last_print = std::chrono::steady_clock::now();
  const auto sim0 = last_print;
  so.on_slice = [&](const sim::World& world, sim::TimeNs t) {
    const auto now = std::chrono::steady_clock::now();
    if (tty && std::chrono::duration<double>(now - last_print).count() >= kProgressEveryS) {
      last_print = now;
      std::fprintf(stderr, "\r  sim: virtual %7.1f / %.0f s   wall %6.1f s   %llu frames   ",
                   static_cast<double>(t - world.start_ns()) / 1e9,
                   static_cast<double>(world.end_ns() - world.start_ns()) / 1e9,
                   std::chrono::duration<double>(now - sim0).count(),
                   static_cast<unsigned long long>(world.frames()));
    }
    return !g_validate_interrupted.load();
  };
  const sim::SimulateOutcome so_out = sim::simulate(s, cal, so);
  if (tty) std::fprintf(stderr, "\r%-90s\r", "");
  if (!so_out.ok) {
    std::cerr << "cellsim validate: " << so_out.error << "\n";
    return kExitUsage;
  }
  if (!metrics::write_results(a.out_dir + "/sim", so_out.results, &why)) {
    std::cerr << "cellsim validate: " << why << "\n";
    return kExitError;
  }
  if (!a.quiet) {
    std::cerr << "  sim: " << so_out.members << " members, " << so_out.results.run().frames()
              << " frames in " << so_out.results.run().wall_s() << " s\n";
  }

  // 2. Live, against the embedded cellmeetd with as many shards as the
  // scenario's node has cores.
  live::LoadOptions lo;
  lo.scenario_file = a.scenario_file;
  lo.server_threads = std::clamp<unsigned>(s.server().cores_per_node(), 1, 64);
  lo.on_progress = [&](const live::Progress& p) {
    if (tty) {
      std::fprintf(stderr,
                   "\r  live: %6.1f / %.0f s   connected %llu   joined %llu   frames %llu up %llu "
                   "down   ",
                   p.elapsed_s, p.duration_s, static_cast<unsigned long long>(p.connected),
                   static_cast<unsigned long long>(p.joined),
                   static_cast<unsigned long long>(p.frames_sent),
                   static_cast<unsigned long long>(p.frames_received));
    }
    return !g_validate_interrupted.load();
  };
  live::LoadOutcome lo_out;
  if (!so_out.partial) lo_out = live::run_load(s, lo);
  if (tty) std::fprintf(stderr, "\r%-100s\r", "");
  const bool interrupted = so_out.partial || lo_out.partial || g_validate_interrupted.load();
  if (!so_out.partial && !lo_out.ok) {
    std::cerr << "cellsim validate: " << lo_out.error << "\n";
    return kExitUsage;
  }
  if (lo_out.ok && !metrics::write_results(a.out_dir + "/live", lo_out.results, &why)) {
    std::cerr << "cellsim validate: " << why << "\n";
    return kExitError;
  }

  // 3. The comparison.
  const live::Comparison cmp = live::compare_results(so_out.results, lo_out.results, a.tol);
  v1::Results vr;
  v1::RunInfo* run = vr.mutable_run();
  run->set_scenario(s.name());
  run->set_scenario_file(a.scenario_file);
  run->set_seed(s.seed());
  run->set_mode("validate");
  run->set_cellsim_version(kValidateVersion);
  run->set_calibration(so.calibration_label);
  run->add_shards("0/1");
  run->set_shard_count(1);
  run->set_partial(interrupted);
  run->set_virtual_ns(so_out.results.run().virtual_ns());
  run->set_members(so_out.members);
  run->set_cells(so_out.cells);
  run->set_wall_s(so_out.results.run().wall_s() + lo_out.results.run().wall_s());
  run->set_finished_unix_s(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  run->set_peak_rss_bytes(std::max(so_out.results.run().peak_rss_bytes(),
                                   lo_out.results.run().peak_rss_bytes()));
  run->set_host(so_out.results.run().host());
  v1::Validation* v = vr.mutable_validation();
  *v = live::to_validation(cmp, a.tol);
  v->set_scenario(s.name());
  v->set_seed(s.seed());
  v->set_calibration(so.calibration_label);
  v->set_sim_wall_s(so_out.results.run().wall_s());
  v->set_live_wall_s(lo_out.results.run().wall_s());
  v->set_members(so_out.members);
  v->set_cells(so_out.cells);
  if (!metrics::write_results(a.out_dir, vr, &why)) {
    std::cerr << "cellsim validate: " << why << "\n";
    return kExitError;
  }
  if (!a.quiet) {
    std::cout << "validate " << s.name() << ", seed " << s.seed() << ": " << so_out.members
              << " members, " << so_out.cells << " cells, " << s.duration_min() * 60
              << " s; sim " << v->sim_wall_s() << " s wall, live " << v->live_wall_s()
              << " s wall\ncalibration: " << so.calibration_label << "\n";
    std::cout << live::validation_table(cmp, a.tol);
    std::cout << "results: " << a.out_dir << "/results.pb, " << a.out_dir << "/results.json, "
              << a.out_dir << "/sim/, " << a.out_dir << "/live/\n";
  }
  if (so_out.violation_count > 0 || lo_out.violation_count > 0) {
    std::cerr << "cellsim validate: invariant violations (seed " << s.seed() << "):\n";
    for (const auto& x : so_out.violations) std::cerr << "  sim: " << x << "\n";
    for (const auto& x : lo_out.violations) std::cerr << "  live: " << x << "\n";
    return kExitInvariant;
  }
  if (interrupted) {
    std::cerr << "cellsim validate: interrupted; partial results written to " << a.out_dir << "\n";
    return kExitInterrupted;
  }
  if (!cmp.within_tolerance) {
    std::cerr << "cellsim validate: " << cmp.rows_outside << " rows outside tolerance (exit "
              << kExitSloBreached << ")\n";
    return kExitSloBreached;
  }
  return kExitOk;
}

}  // namespace cellsim::cli
