// `cellsim calibrate`: measures cellmeetd's CPU cost per frame type and
// writes a calibration file for the simulator (live/calibrate.h has the
// method). This file reads the flags, shows progress and prints the result;
// live::run_calibration() (live/run_calibration.h) does the work.
//
// Exit codes: 0 written, 1 the measurement failed (the server would not
// start, /proc unreadable, ...), 2 bad usage or base scenario, 130
// interrupted (nothing written).
#include "live/calibrate.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "live/run_calibration.h"

namespace cellsim::cli {
namespace {

constexpr char kDefaultBaseScenario[] = "scenarios/pilot-special-cells.textproto";
// TLS handshakes measured with --quick.
constexpr int kQuickTlsHandshakes = 50;

constexpr char kCalibrateAbout[] =
    "Drives the real cellmeetd (a child process, one shard thread) with the live driver at\n"
    "several load levels and workload mixes derived from the scenario, measures the server's\n"
    "CPU time (process accounting) against the frames of each type it handled, fits the\n"
    "capacity model's per-frame costs (non-negative least squares) and writes a calibration\n"
    "file naming the machine and the fit's error. Use it with `cellsim run SCENARIO\n"
    "--calibration FILE`. The CPU of a TLS 1.3 handshake (what TLS adds to a hello) is\n"
    "measured in process and recorded as tls_handshake_us.";

// The flags, as given (quick's defaults applied by settle_flags()).
struct CalibrateFlags {
  std::string server, out_file, scenario_file = kDefaultBaseScenario;
  uint32_t levels = 3;
  double seconds = 12, scale = 1;
  bool quick = false, quiet = false, levels_set = false, seconds_set = false;
};

void add_calibrate_flags(Flags& f, CalibrateFlags* c) {
  f.text("--server", &c->server, "cellmeetd (default: beside this cellsim, BUILD/cellmeetd)");
  f.text("--out", &c->out_file, "default calibration/measured-<cpu>-<cores>c.textproto");
  f.text("--scenario", &c->scenario_file,
         std::string("base scenario (default ") + kDefaultBaseScenario + ")");
  f.u32("--levels", &c->levels, 1, live::kMaxCalibrationLevels,
        "load levels per mix (default 3; 5 mixes each)");
  f.real("--seconds", &c->seconds, live::kMinCalibrationRunS, live::kMaxCalibrationRunS,
         "each run's length (default 12)");
  f.flag("--quick", &c->quick,
         "2 levels of 8 s, a quarter of the cells, 50 TLS handshakes (a smoke test)");
  f.flag("--quiet", &c->quiet, "no progress and no summary");
  f.footer("exit: 0 written, 1 measurement failed, 2 bad input, 130 interrupted.");
}

int calibrate_usage(const std::string& problem) {
  std::cerr << "cellsim calibrate: " << problem << "\n";
  return kExitUsage;
}

// --quick's defaults, and the server: beside this cellsim unless given. An
// exit code when the command ends here (bad usage), -1 to go on.
int settle_flags(CalibrateFlags* f) {
  if (f->quick) {
    if (!f->levels_set) f->levels = 2;
    if (!f->seconds_set) f->seconds = 8;
    f->scale = 0.25;
  }
  if (f->server.empty()) {
    f->server = live::find_cellmeetd("/proc/self/exe");
    if (f->server.empty()) {
      return calibrate_usage("no cellmeetd found beside this cellsim; give --server PATH");
    }
  } else if (::access(f->server.c_str(), X_OK) != 0) {
    return calibrate_usage("--server: " + f->server + " is not an executable file");
  }
  return -1;
}

// Progress on stderr: log lines, and on a terminal a line redrawn in place.
struct ProgressDisplay {
  bool quiet = false;
  bool tty = false;
  bool started = false;  // the first run is about to start or has
  int runs = 0, run_no = 0;

  void clear_line() const {
    if (tty) std::fprintf(stderr, "\r%-100s\r", "");
  }
  void on_start(const live::CalibrationPlan& p) {
    started = true;
    runs = p.runs;
    if (!quiet) {
      std::cerr << "cellsim calibrate: " << p.server_binary << ", " << p.runs << " runs of "
                << p.run_seconds << " s (the media mix's at least " << live::kMediaRunS
                << " s; about " << p.about_minutes << " min), machine: " << p.machine << "\n";
    }
    watch_interrupts();
    std::signal(SIGPIPE, SIG_IGN);
  }
  void on_log(const std::string& line) {
    if (line.rfind("run ", 0) == 0) ++run_no;
    if (quiet) return;
    clear_line();
    if (line.rfind("run ", 0) != 0) std::cerr << line << "\n";
  }
  bool on_progress(double elapsed_s, double duration_s, const std::string& run) const {
    if (tty) {
      std::fprintf(stderr, "\r  run %d/%d (%s)  %5.1f / %.0f s   ", run_no, runs, run.c_str(),
                   elapsed_s, duration_s);
    }
    return !interrupt_requested();
  }
};

void print_summary(const live::CalibrationResult& r) {
  const v1::Calibration& c = r.outcome.calibration;
  std::cout << live::runs_table(r.outcome.runs);
  std::cout << "fitted costs (us):";
  for (const auto& cost : c.costs()) std::cout << "  " << cost.type() << " " << cost.base_us();
  std::cout << "\n  default " << c.default_base_us() << ", per output " << c.default_per_output_us()
            << ", timer " << c.timer_us() << ", idle " << r.outcome.fit.idle_us_per_s
            << " us/s (not modelled)\n";
  if (!r.outcome.fit.folded.empty()) {
    std::cout << "folded into the default:";
    for (const auto& t : r.outcome.fit.folded) std::cout << " " << t;
    std::cout << "\n";
  }
  std::cout << "fit error (relative RMS): " << 100 * r.outcome.fit.fit_error << "%\n";
  std::cout << "machine: " << c.machine() << "\n";
  std::cout << "written: " << r.out_file << "\n";
}

}  // namespace

int calibrate_main(int argc, char** argv) {
  CalibrateFlags f;
  Flags flags("cellsim calibrate", kCalibrateAbout);
  add_calibrate_flags(flags, &f);
  if (auto rc = flags.parse(argc, argv)) return *rc;
  f.levels_set = flags.given("--levels");
  f.seconds_set = flags.given("--seconds");
  if (const int rc = settle_flags(&f); rc >= 0) return rc;
  live::CalibrateOptions o;
  o.server_binary = f.server;
  o.levels = static_cast<int>(f.levels);
  o.run_seconds = f.seconds;
  o.scale = f.scale;
  if (f.quick) o.tls_handshakes = kQuickTlsHandshakes;
  o.base_scenario_file = f.scenario_file;
  ProgressDisplay display;
  display.quiet = f.quiet;
  display.tty = !f.quiet && isatty(STDERR_FILENO);
  o.on_log = [&](const std::string& line) { display.on_log(line); };
  o.on_progress = [&](double elapsed_s, double duration_s, const std::string& run) {
    return display.on_progress(elapsed_s, duration_s, run);
  };
  live::CalibrationHooks hooks;
  hooks.on_start = [&](const live::CalibrationPlan& p) { display.on_start(p); };
  hooks.stop_requested = [] { return interrupt_requested(); };
  const live::CalibrationResult r = live::run_calibration(o, f.out_file, hooks);
  if (display.started) display.clear_line();
  switch (r.status) {
    case live::CalibrationStatus::kBadScenario:
      for (const auto& e : r.scenario_errors) std::cerr << e << "\n";
      return kExitUsage;
    case live::CalibrationStatus::kInterrupted:
      std::cerr << "cellsim calibrate: interrupted; nothing written\n";
      return kExitInterrupted;
    case live::CalibrationStatus::kFailed:
      std::cerr << "cellsim calibrate: " << r.error << "\n";
      return kExitError;
    case live::CalibrationStatus::kWritten:
      break;
  }
  if (!f.quiet) print_summary(r);
  return kExitOk;
}

}  // namespace cellsim::cli
