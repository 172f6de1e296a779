// `cellsim load`: the live driver's command line (live/driver.h).
//
// Exit codes as `cellsim run` (cli/run.h): 0 ok, 1 I/O or internal error,
// 2 bad usage or scenario, 3 invariant broken, 4 SLO breached, 130
// interrupted (partial results written).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "live/driver.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "metrics/summary.h"
#include "scenario/loader.h"

namespace cellsim::cli {
namespace {

std::atomic<bool> g_load_interrupted{false};

void on_load_signal(int) { g_load_interrupted.store(true); }

struct LoadArgs {
  std::string scenario_file;
  std::string out_dir = "out/load";
  std::string target;  // HOST:PORT
  std::string key_file;
  double duration_s = 0;
  bool seed_set = false;
  uint64_t seed = 0;
  unsigned server_threads = 1;
  int metrics_port = -1;
  std::string pushgateway;
  std::string write_deployment;
  bool quiet = false;
  std::string tls_ca, tls_cert, tls_key, tls_name;
  bool tls_generate = false;
};

int load_usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim load: " << problem << "\n";
  out << "usage: cellsim load SCENARIO [--target HOST:PORT --key FILE] [--duration S] [--out DIR]\n"
         "                    [--seed N] [--server-threads N] [--metrics-port P] [--pushgateway "
         "URL]\n"
         "                    [--quiet] [--tls-ca FILE [--tls-name NAME] [--tls-cert FILE "
         "--tls-key FILE]]\n"
         "                    [--tls]\n"
         "       cellsim load SCENARIO --write-deployment FILE [--seed N]\n"
         "  Runs the scenario's members live, one TCP connection each through a user-space\n"
         "  impairment layer (the members' link profiles in real time), against cellmeetd:\n"
         "  started in this process on a loopback port unless --target is given. A target\n"
         "  must be on loopback, hold the scenario's planned rosters (--write-deployment\n"
         "  writes them as a cellmeetd --deployment file), use the key in FILE (cellmeetd's\n"
         "  hex key file) and the scenario's rules (heartbeat interval, missed heartbeats,\n"
         "  quorum). Stops by itself after --duration seconds (default: the\n"
         "  scenario's duration). Writes DIR/results.pb and DIR/results.json (mode \"live\").\n"
         "  --metrics-port P serves Prometheus /metrics on 127.0.0.1:P while it runs (0: any\n"
         "  free port, printed); --pushgateway URL pushes the final figures there.\n"
         "  TLS 1.3: --tls-ca FILE makes every connection TLS, verifying the server's\n"
         "  certificate against the CA certificates in FILE (PEM) for the target's address\n"
         "  or --tls-name; the embedded server then needs --tls-cert FILE --tls-key FILE\n"
         "  (PEM). --tls alone: the embedded server gets a CA and certificate made at run\n"
         "  time (in memory), which the agents trust.\n"
         "  exit: 0 ok, 2 bad input, 3 invariant broken, 4 SLO breached, 130 interrupted.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

bool parse_number(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end != nullptr && *end == '\0';
}

bool parse_unsigned(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  errno = 0;
  *out = std::strtoull(s.c_str(), nullptr, 10);
  return errno == 0;
}

// The TLS flags' combinations (live::LoadOptions has their meaning).
int check_tls_args(const LoadArgs& a) {
  const bool files = !a.tls_cert.empty() || !a.tls_key.empty();
  if (a.tls_generate) {
    if (!a.target.empty())
      return load_usage(
          "--tls (a generated certificate) is for the embedded server; with --target give "
          "--tls-ca");
    if (!a.tls_ca.empty() || files)
      return load_usage("--tls excludes --tls-ca, --tls-cert and --tls-key");
    return 0;
  }
  if ((files || !a.tls_name.empty()) && a.tls_ca.empty()) {
    return load_usage("--tls-cert, --tls-key and --tls-name need --tls-ca FILE");
  }
  if (!a.target.empty() && files) {
    return load_usage(
        "--tls-cert and --tls-key are for the embedded server (a target has its own)");
  }
  if (a.target.empty() && !a.tls_ca.empty() && (a.tls_cert.empty() || a.tls_key.empty())) {
    return load_usage(
        "--tls-ca with the embedded server needs --tls-cert FILE --tls-key FILE (or use --tls)");
  }
  return 0;
}

// Returns 0 to go on, -1 for --help, or an exit code.
int parse_load_args(int argc, char** argv, LoadArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") return load_usage("") == kExitOk ? -1 : kExitUsage;
    if (arg == "--seed") {
      if (!value(&v) || !parse_unsigned(v, &a->seed)) {
        return load_usage("--seed needs a number in 0..2^64-1");
      }
      a->seed_set = true;
    } else if (arg == "--out") {
      if (!value(&a->out_dir) || a->out_dir.empty()) return load_usage("--out needs a DIR");
    } else if (arg == "--target") {
      if (!value(&a->target)) return load_usage("--target needs HOST:PORT");
    } else if (arg == "--key") {
      if (!value(&a->key_file)) return load_usage("--key needs a FILE");
    } else if (arg == "--duration") {
      if (!value(&v) || !parse_number(v, &a->duration_s) || a->duration_s <= 0 ||
          a->duration_s > live::kMaxDurationS) {
        return load_usage("--duration needs seconds in (0, " +
                          std::to_string(static_cast<int64_t>(live::kMaxDurationS)) + "]");
      }
    } else if (arg == "--server-threads") {
      uint64_t n = 0;
      if (!value(&v) || !parse_unsigned(v, &n) || n == 0 || n > 256) {
        return load_usage("--server-threads needs 1..256");
      }
      a->server_threads = static_cast<unsigned>(n);
    } else if (arg == "--metrics-port") {
      uint64_t n = 0;
      if (!value(&v) || !parse_unsigned(v, &n) || n > 65535) {
        return load_usage("--metrics-port needs 0..65535 (0: ephemeral)");
      }
      a->metrics_port = static_cast<int>(n);
    } else if (arg == "--pushgateway") {
      if (!value(&a->pushgateway) || a->pushgateway.empty()) {
        return load_usage("--pushgateway needs a URL (http://HOST[:PORT])");
      }
    } else if (arg == "--write-deployment") {
      if (!value(&a->write_deployment) || a->write_deployment.empty()) {
        return load_usage("--write-deployment needs a FILE");
      }
    } else if (arg == "--time-scale") {
      return load_usage("--time-scale is not implemented yet (the live timeline is real time)");
    } else if (arg == "--quiet") {
      a->quiet = true;
    } else if (arg == "--tls") {
      a->tls_generate = true;
    } else if (arg == "--tls-ca" || arg == "--tls-cert" || arg == "--tls-key" ||
               arg == "--tls-name") {
      std::string* field = arg == "--tls-ca"     ? &a->tls_ca
                           : arg == "--tls-cert" ? &a->tls_cert
                           : arg == "--tls-key"  ? &a->tls_key
                                                 : &a->tls_name;
      if (!value(field) || field->empty()) return load_usage(arg + " needs a value");
    } else if (!arg.empty() && arg[0] == '-') {
      return load_usage("unknown flag " + arg);
    } else if (a->scenario_file.empty()) {
      a->scenario_file = arg;
    } else {
      return load_usage("more than one scenario given: " + arg);
    }
  }
  if (a->scenario_file.empty()) return load_usage("no scenario given");
  if (!a->write_deployment.empty()) return 0;
  if (!a->target.empty() && a->key_file.empty()) {
    return load_usage("--target needs --key FILE (the server's HMAC key)");
  }
  if (a->target.empty() && !a->key_file.empty()) {
    return load_usage("--key is only for --target (the embedded server's key is generated)");
  }
  return check_tls_args(*a);
}

}  // namespace

int load_main(int argc, char** argv) {
  LoadArgs a;
  if (int rc = parse_load_args(argc, argv, &a); rc != 0) return rc < 0 ? kExitOk : rc;
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(a.scenario_file, &s, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  if (a.seed_set) s.set_seed(a.seed);
  if (!a.write_deployment.empty()) {
    std::ofstream out(a.write_deployment);
    out << live::deployment_text(s);
    out.close();
    if (!out) {
      std::cerr << "cellsim load: cannot write " << a.write_deployment << "\n";
      return kExitError;
    }
    return kExitOk;
  }
  live::LoadOptions o;
  o.scenario_file = a.scenario_file;
  o.duration_s = a.duration_s;
  o.server_threads = a.server_threads;
  o.metrics_port = a.metrics_port;
  o.pushgateway_url = a.pushgateway;
  o.tls_ca_file = a.tls_ca;
  o.tls_cert_file = a.tls_cert;
  o.tls_key_file = a.tls_key;
  o.tls_server_name = a.tls_name;
  o.tls_generate = a.tls_generate;
  if (!a.target.empty()) {
    const auto colon = a.target.rfind(':');
    uint64_t port = 0;
    if (colon == std::string::npos || !parse_unsigned(a.target.substr(colon + 1), &port) ||
        port == 0 || port > 65535) {
      return load_usage("--target needs HOST:PORT, got \"" + a.target + "\"");
    }
    o.target_host = a.target.substr(0, colon);
    if (o.target_host.size() > 2 && o.target_host.front() == '[') {
      o.target_host = o.target_host.substr(1, o.target_host.size() - 2);
    }
    o.target_port = static_cast<uint16_t>(port);
    std::string why;
    if (!live::read_key_file(a.key_file, &o.key, &why)) {
      std::cerr << "cellsim load: --key: " << why << "\n";
      return kExitUsage;
    }
  }
  const bool tty = !a.quiet && isatty(STDERR_FILENO);
  bool announced = false, metrics_announced = false;
  o.on_progress = [&](const live::Progress& p) {
    if (p.metrics_port != 0 && !metrics_announced) {  // printed even with --quiet
      metrics_announced = true;
      std::cerr << "cellsim load: metrics on http://127.0.0.1:" << p.metrics_port << "/metrics\n";
    }
    if (!a.quiet && !announced) {
      announced = true;
      std::cerr << "cellsim load: " << s.name() << ", seed " << s.seed() << ": " << p.members
                << " members against "
                << (a.target.empty() ? "embedded cellmeetd on 127.0.0.1:" +
                                           std::to_string(p.server_port)
                                     : a.target)
                << " for " << p.duration_s << " s\n";

    }
    if (tty) {
      std::fprintf(stderr,
                   "\r  %6.1f / %.0f s   connected %llu   joined %llu   frames %llu up %llu down"
                   "   disconnects %llu   ",
                   p.elapsed_s, p.duration_s, static_cast<unsigned long long>(p.connected),
                   static_cast<unsigned long long>(p.joined),
                   static_cast<unsigned long long>(p.frames_sent),
                   static_cast<unsigned long long>(p.frames_received),
                   static_cast<unsigned long long>(p.disconnects));
    }
    return !g_load_interrupted.load();
  };
  std::signal(SIGINT, on_load_signal);
  std::signal(SIGTERM, on_load_signal);
  std::signal(SIGPIPE, SIG_IGN);
  const live::LoadOutcome out = live::run_load(s, o);
  if (tty) std::fprintf(stderr, "\n");
  if (!out.ok) {
    std::cerr << "cellsim load: " << out.error << "\n";
    return kExitUsage;
  }
  if (!out.push_error.empty()) std::cerr << "cellsim load: " << out.push_error << "\n";
  if (out.tls_failures > 0) {
    std::cerr << "cellsim load: " << out.tls_failures << " TLS failure(s); the first: "
              << out.tls_error << "\n";
  }
  std::string why;
  if (!metrics::write_results(a.out_dir, out.results, &why)) {
    std::cerr << "cellsim load: " << why << "\n";
    return kExitError;
  }
  const auto& run = out.results.run();
  if (!a.quiet) {
    metrics::print_summary(out.results, std::cout);
    std::cout << "results: " << a.out_dir << "/results.pb, " << a.out_dir << "/results.json\n";
    std::cout << "live: " << out.members << " members, peak " << out.peak_connected
              << " connections, " << run.frames() << " frames in " << run.wall_s() << " s ("
              << static_cast<uint64_t>(static_cast<double>(run.frames()) /
                                       std::max(run.wall_s(), 1e-9))
              << " frames/s), peak memory " << run.peak_rss_bytes() / (1024 * 1024) << " MiB\n";
  }
  return run_exit_code({"load", s.seed(), out.violation_count, &out.violations, out.partial,
                        metrics::all_met(out.results), a.out_dir});
}

}  // namespace cellsim::cli
