// `cellsim calibrate`: measures cellmeetd's CPU cost per frame type and
// writes a calibration file for the simulator (live/calibrate.h has the
// method).
//
// Exit codes: 0 written, 1 the measurement failed (the server would not
// start, /proc unreadable, ...), 2 bad usage or base scenario, 130
// interrupted (nothing written).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "live/calibrate.h"
#include "scenario/loader.h"

namespace cellsim::cli {
namespace {

std::atomic<bool> g_calibrate_interrupted{false};

void on_calibrate_signal(int) { g_calibrate_interrupted.store(true); }

constexpr char kDefaultBaseScenario[] = "scenarios/pilot-special-cells.textproto";
// TLS handshakes measured with --quick.
constexpr int kQuickTlsHandshakes = 50;

int calibrate_usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim calibrate: " << problem << "\n";
  out << "usage: cellsim calibrate [--server PATH] [--out FILE] [--scenario FILE] [--levels N]\n"
         "                         [--seconds S] [--quick] [--quiet]\n"
         "  Drives the real cellmeetd (a child process, one shard thread) with the live driver\n"
         "  at several load levels and workload mixes derived from the scenario, measures the\n"
         "  server's CPU time (process accounting) against the frames of each type it handled,\n"
         "  fits the capacity model's per-frame costs (non-negative least squares) and writes a\n"
         "  calibration file naming the machine and the fit's error. Use it with\n"
         "  `cellsim run SCENARIO --calibration FILE`. The CPU of a TLS 1.3 handshake (what\n"
         "  TLS adds to a hello) is measured in process and recorded as tls_handshake_us.\n"
         "    --server PATH    cellmeetd (default: beside this cellsim, BUILD/cellmeetd)\n"
         "    --out FILE       default calibration/measured-<cpu>-<cores>c.textproto\n"
         "    --scenario FILE  base scenario (default " << kDefaultBaseScenario << ")\n"
         "    --levels N       load levels per mix, 1..8 (default 3; 5 mixes each)\n"
         "    --seconds S      each run's length, 5..600 (default 12)\n"
         "    --quick          2 levels of 8 s, a quarter of the cells, 50 TLS handshakes\n"
         "                     (a smoke test)\n"
         "  exit: 0 written, 1 measurement failed, 2 bad input, 130 interrupted.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

bool parse_positive(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end != nullptr && *end == '\0';
}

}  // namespace

int calibrate_main(int argc, char** argv) {
  std::string server, out_file, scenario_file = kDefaultBaseScenario;
  int levels = 3;
  double seconds = 12, scale = 1;
  bool quick = false, quiet = false, levels_set = false, seconds_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* v) -> bool {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      return calibrate_usage("");
    } else if (arg == "--server") {
      if (!value(&server) || server.empty()) return calibrate_usage("--server needs a PATH");
    } else if (arg == "--out") {
      if (!value(&out_file) || out_file.empty()) return calibrate_usage("--out needs a FILE");
    } else if (arg == "--scenario") {
      if (!value(&scenario_file) || scenario_file.empty()) {
        return calibrate_usage("--scenario needs a FILE");
      }
    } else if (arg == "--levels") {
      double n = 0;
      if (!value(&v) || !parse_positive(v, &n) || n != static_cast<int>(n) || n < 1 ||
          n > live::kMaxCalibrationLevels) {
        return calibrate_usage("--levels needs a whole number in 1.." +
                               std::to_string(live::kMaxCalibrationLevels));
      }
      levels = static_cast<int>(n);
      levels_set = true;
    } else if (arg == "--seconds") {
      if (!value(&v) || !parse_positive(v, &seconds) || !(seconds >= live::kMinCalibrationRunS) ||
          seconds > live::kMaxCalibrationRunS) {
        return calibrate_usage("--seconds needs a number in [5, 600]");
      }
      seconds_set = true;
    } else if (arg == "--quick") {
      quick = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return calibrate_usage("unknown flag " + arg);
    } else {
      return calibrate_usage("unexpected argument " + arg);
    }
  }
  if (quick) {
    if (!levels_set) levels = 2;
    if (!seconds_set) seconds = 8;
    scale = 0.25;
  }
  if (server.empty()) {
    server = live::find_cellmeetd("/proc/self/exe");
    if (server.empty()) {
      return calibrate_usage("no cellmeetd found beside this cellsim; give --server PATH");
    }
  } else if (::access(server.c_str(), X_OK) != 0) {
    return calibrate_usage("--server: " + server + " is not an executable file");
  }
  v1::Scenario base;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(scenario_file, &base, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  if (out_file.empty()) out_file = "calibration/measured-" + live::machine_slug() + ".textproto";

  live::CalibrateOptions o;
  o.server_binary = server;
  o.levels = levels;
  o.run_seconds = seconds;
  o.scale = scale;
  if (quick) o.tls_handshakes = kQuickTlsHandshakes;
  o.base_scenario_file = scenario_file;
  const bool tty = !quiet && isatty(STDERR_FILENO);
  const int runs = levels * static_cast<int>(live::calibration_mixes().size());
  int run_no = 0;
  o.on_log = [&](const std::string& line) {
    if (line.rfind("run ", 0) == 0) ++run_no;
    if (quiet) return;
    if (tty) std::fprintf(stderr, "\r%-100s\r", "");
    if (line.rfind("run ", 0) != 0) std::cerr << line << "\n";
  };
  o.on_progress = [&](double elapsed, double duration, const std::string& run) {
    if (tty) {
      std::fprintf(stderr, "\r  run %d/%d (%s)  %5.1f / %.0f s   ", run_no, runs, run.c_str(),
                   elapsed, duration);
    }
    return !g_calibrate_interrupted.load();
  };
  if (!quiet) {
    std::cerr << "cellsim calibrate: " << server << ", " << runs << " runs of " << seconds
              << " s (the media mix's at least " << live::kMediaRunS << " s; about "
              << static_cast<int>(
                     levels * ((runs / levels - 1) * (seconds + 1) +
                               std::max(seconds, live::kMediaRunS) + 1) / 60 + 1)
              << " min), machine: " << live::machine_description() << "\n";
  }
  std::signal(SIGINT, on_calibrate_signal);
  std::signal(SIGTERM, on_calibrate_signal);
  std::signal(SIGPIPE, SIG_IGN);
  const live::CalibrateOutcome r = live::calibrate(base, o);
  if (tty) std::fprintf(stderr, "\r%-100s\r", "");
  if (r.interrupted || g_calibrate_interrupted.load()) {
    std::cerr << "cellsim calibrate: interrupted; nothing written\n";
    return kExitInterrupted;
  }
  if (!r.ok) {
    std::cerr << "cellsim calibrate: " << r.error << "\n";
    return kExitError;
  }
  std::error_code ec;
  const auto parent = std::filesystem::path(out_file).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = out_file + ".tmp";
  {
    std::ofstream f(tmp);
    f << r.file_text;
    f.close();
    if (!f || std::rename(tmp.c_str(), out_file.c_str()) != 0) {
      std::cerr << "cellsim calibrate: cannot write " << out_file << "\n";
      return kExitError;
    }
  }
  if (!quiet) {
    std::cout << live::runs_table(r.runs);
    std::cout << "fitted costs (us):";
    for (const auto& c : r.calibration.costs()) std::cout << "  " << c.type() << " " << c.base_us();
    std::cout << "\n  default " << r.calibration.default_base_us() << ", per output "
              << r.calibration.default_per_output_us() << ", timer " << r.calibration.timer_us()
              << ", idle " << r.fit.idle_us_per_s << " us/s (not modelled)\n";
    if (!r.fit.folded.empty()) {
      std::cout << "folded into the default:";
      for (const auto& t : r.fit.folded) std::cout << " " << t;
      std::cout << "\n";
    }
    std::cout << "fit error (relative RMS): " << 100 * r.fit.fit_error << "%\n";
    std::cout << "machine: " << r.calibration.machine() << "\n";
    std::cout << "written: " << out_file << "\n";
  }
  return kExitOk;
}

}  // namespace cellsim::cli
