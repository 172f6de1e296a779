// `cellsim validate`: runs a scenario simulated and live with the same seed
// and calibration and compares the figures (validate/validate.h).
//
// Exit codes: 0 every row within tolerance, 1 I/O or internal error, 2 bad
// usage or scenario, 3 an invariant broke (either side), 4 some row outside
// tolerance, 130 interrupted (partial results written).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "live/driver.h"
#include "live/validate.h"
#include "validate/validate.h"

namespace cellsim::cli {
namespace {

constexpr double kMaxLatencyTolerance = 10;
constexpr uint64_t kMaxMinSamples = 1'000'000'000;

constexpr char kValidateAbout[] =
    "Runs the scenario in the simulator and live (the same agents against the embedded\n"
    "cellmeetd over loopback, in real time) with the same seed and calibration, and prints\n"
    "sim against live: p50 and p99 of every latency metric, quorum attainment and vote\n"
    "validity, overall, per cell type and per network profile. Writes DIR/sim/, DIR/live/\n"
    "and DIR/results.pb, DIR/results.json (mode \"validate\", the rows in `validation`).";

struct ValidateArgs {
  ScenarioFlags common;
  double duration_s = 0;
  live::ValidateTolerances tol;
};

void add_validate_flags(Flags& f, ValidateArgs* a) {
  add_scenario_flags(f, &a->common, "out/validate");
  f.real("--duration", &a->duration_s, 0, live::kMaxDurationS,
         "run S seconds of the scenario (both sides; default: all)", Lower::kOpen);
  f.real("--latency-tolerance", &a->tol.latency, 0, kMaxLatencyTolerance,
         "relative tolerance of latency rows (default 0.2)");
  f.real("--share-tolerance", &a->tol.share, 0, 1,
         "absolute tolerance of share rows (default 0.05)");
  f.u64("--min-samples", &a->tol.min_samples, 0, kMaxMinSamples,
        "rows with fewer samples do not count (default 20)");
  f.footer("exit: 0 within tolerance, 1 I/O error, 2 bad input, 3 invariant broken,\n"
           "      4 outside tolerance, 130 interrupted.");
}

// The progress callbacks of both sides (a line on a terminal, Ctrl-C).
void add_progress(const ValidateArgs& a, ProgressLine* line,
                  validate::ValidateOptions* o) {
  o->on_start = [&a](const v1::Scenario& s, const std::string& label) {
    if (a.common.quiet) return;
    std::cerr << "cellsim validate: " << s.name() << ", seed " << s.seed() << ", "
              << s.duration_min() * 60 << " s; calibration: " << label << "\n";
  };
  o->on_sim_slice = [line](const sim::World& world, sim::TimeNs t) {
    if (line->due()) {
      std::fprintf(stderr, "\r  sim: virtual %7.1f / %.0f s   wall %6.1f s   %llu frames   ",
                   static_cast<double>(t - world.start_ns()) / 1e9,
                   static_cast<double>(world.end_ns() - world.start_ns()) / 1e9,
                   line->elapsed_s(), static_cast<unsigned long long>(world.frames()));
    }
    return !interrupt_requested();
  };
  o->on_sim_done = [&a, line](const sim::SimulateOutcome& so) {
    line->clear();
    if (a.common.quiet) return;
    std::cerr << "  sim: " << so.members << " members, " << so.results.run().frames()
              << " frames in " << so.results.run().wall_s() << " s\n";
  };
  o->on_live_progress = [line](const live::Progress& p) {
    if (line->enabled()) {
      std::fprintf(stderr,
                   "\r  live: %6.1f / %.0f s   connected %llu   joined %llu   frames %llu up %llu "
                   "down   ",
                   p.elapsed_s, p.duration_s, static_cast<unsigned long long>(p.connected),
                   static_cast<unsigned long long>(p.joined),
                   static_cast<unsigned long long>(p.frames_sent),
                   static_cast<unsigned long long>(p.frames_received));
    }
    return !interrupt_requested();
  };
}

void print_validation(const ValidateArgs& a, const v1::Scenario& s,
                      const validate::ValidateOutcome& out) {
  const v1::Validation& v = out.results.validation();
  const std::string& dir = a.common.out_dir;
  std::cout << "validate " << s.name() << ", seed " << s.seed() << ": " << out.members
            << " members, " << out.cells << " cells, " << out.duration_s
            << " s; sim " << v.sim_wall_s() << " s wall, live " << v.live_wall_s()
            << " s wall\ncalibration: " << out.calibration_label << "\n";
  std::cout << live::validation_table(out.comparison, a.tol);
  std::cout << "results: " << dir << "/results.pb, " << dir << "/results.json, " << dir
            << "/sim/, " << dir << "/live/\n";
}

int validation_exit_code(const ValidateArgs& a, const v1::Scenario& s,
                         const validate::ValidateOutcome& out) {
  if (out.violation_count > 0) {
    std::cerr << "cellsim validate: invariant violations (seed " << s.seed() << "):\n";
    for (const auto& x : out.sim_violations) std::cerr << "  sim: " << x << "\n";
    for (const auto& x : out.live_violations) std::cerr << "  live: " << x << "\n";
    return kExitInvariant;
  }
  if (out.interrupted || interrupt_requested()) {
    std::cerr << "cellsim validate: interrupted; partial results written to " << a.common.out_dir
              << "\n";
    return kExitInterrupted;
  }
  if (!out.comparison.within_tolerance) {
    std::cerr << "cellsim validate: " << out.comparison.rows_outside
              << " rows outside tolerance (exit " << kExitSloBreached << ")\n";
    return kExitSloBreached;
  }
  return kExitOk;
}

}  // namespace

int validate_main(int argc, char** argv) {
  ValidateArgs a;
  Flags f("cellsim validate", kValidateAbout);
  add_validate_flags(f, &a);
  if (auto rc = f.parse(argc, argv)) return *rc;
  v1::Scenario s;
  if (!load_scenario_for(f, a.common, &s)) return kExitUsage;
  validate::ValidateOptions o;
  o.scenario_file = a.common.scenario_file;
  o.calibration_file = a.common.calibration_file;
  o.out_dir = a.common.out_dir;
  o.duration_s = a.duration_s;
  o.tolerances = a.tol;
  ProgressLine line(a.common.quiet);
  add_progress(a, &line, &o);
  watch_interrupts();
  std::signal(SIGPIPE, SIG_IGN);
  const validate::ValidateOutcome out = validate::run_validation(s, o);
  line.clear();
  switch (out.failure) {
    case validate::ValidateOutcome::Failure::kBadInput: return f.usage_error(out.error);
    case validate::ValidateOutcome::Failure::kCannotWrite:
      std::cerr << "cellsim validate: " << out.error << "\n";
      return kExitError;
    case validate::ValidateOutcome::Failure::kNone: break;
  }
  if (!a.common.quiet) print_validation(a, s, out);
  return validation_exit_code(a, s, out);
}

}  // namespace cellsim::cli
