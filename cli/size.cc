// `cellsim size SCENARIO [--replications R] [--out DIR] ...`: the cells per
// server node at which every SLO holds, the capacity curve, and the rollout
// (report/sizing.h). Writes DIR/results.pb and DIR/results.json with
// `sizing` set; `cellsim report DIR` shows them.
//
// Exit codes: 0 written; 1 cannot write; 2 bad usage, bad scenario or
// calibration, or a point that cannot be simulated.
#include <google/protobuf/text_format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "metrics/results_io.h"
#include "report/sizing.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultSizeDir[] = "out/size";
constexpr uint32_t kMaxReplications = 30;

int size_usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim size: " << problem << "\n";
  out << "usage: cellsim size SCENARIO [--replications R] [--out DIR] [--total-cells N]\n"
         "                    [--peak-share F] [--headroom F] [--min-cells N] [--max-cells N]\n"
         "                    [--calibration FILE]\n"
         "  Searches the cells per server node at which every SLO of the scenario holds (R seeds\n"
         "  per point, 95% confidence; SLOs missed while the server is idle are link-bound,\n"
         "  reported and left out of the search), records the capacity curve and answers for a rollout of\n"
         "  N cells (default: the scenario's) of which F meet in the same peak (default 1):\n"
         "  nodes with N+1, cores, egress and memory. Writes DIR/results.pb and .json\n"
         "  (default " << kDefaultSizeDir << "); `cellsim report DIR` shows them.\n"
         "  exit: 0 written, 1 cannot write, 2 bad input.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

struct SizeArgs {
  std::string scenario_file, out_dir = kDefaultSizeDir, calibration_file;
  report::SizeOptions options;
};

bool parse_count(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

bool parse_positive(const std::string& s, double* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end != s.c_str() && *end == '\0' && *out > 0;
}

// 0 to go on, -1 for --help, else an exit code.
int parse_flag(const std::string& arg, const std::string& v, SizeArgs* a) {
  uint64_t n = 0;
  double f = 0;
  report::SizeOptions& o = a->options;
  if (arg == "--replications") {
    if (!parse_count(v, &n) || n < 1 || n > kMaxReplications) {
      return size_usage("--replications needs 1.." + std::to_string(kMaxReplications));
    }
    o.replications = static_cast<uint32_t>(n);
  } else if (arg == "--out") {
    if (v.empty()) return size_usage("--out needs a DIR");
    a->out_dir = v;
  } else if (arg == "--calibration") {
    a->calibration_file = v;
  } else if (arg == "--total-cells") {
    if (!parse_count(v, &n) || n < 1) return size_usage("--total-cells needs a positive number");
    o.total_cells = n;
  } else if (arg == "--peak-share") {
    if (!parse_positive(v, &f) || f > 1) return size_usage("--peak-share needs a share in (0, 1]");
    o.peak_share = f;
  } else if (arg == "--headroom") {
    if (!parse_positive(v, &f) || f < 1) return size_usage("--headroom needs a factor >= 1");
    o.headroom = f;
  } else if (arg == "--min-cells" || arg == "--max-cells") {
    if (!parse_count(v, &n) || n < 1 || n > UINT32_MAX) return size_usage(arg + " needs a positive number");
    (arg == "--min-cells" ? o.min_cells : o.max_cells) = static_cast<uint32_t>(n);
  } else {
    return size_usage("unknown flag " + arg);
  }
  return 0;
}

int parse_size_args(int argc, char** argv, SizeArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return size_usage("") == kExitOk ? -1 : kExitUsage;
    if (!arg.empty() && arg[0] == '-') {
      if (i + 1 >= argc) return size_usage(arg + " needs a value");
      if (int rc = parse_flag(arg, argv[++i], a); rc != 0) return rc;
    } else if (a->scenario_file.empty()) {
      a->scenario_file = arg;
    } else {
      return size_usage("more than one scenario given: " + arg);
    }
  }
  if (a->scenario_file.empty()) return size_usage("no scenario given");
  return 0;
}

void print_point(const v1::CapacityPoint& p) {
  double worst = 0;
  for (const v1::SloEstimate& e : p.slos()) {
    if (!e.quorum() && e.limit() > 0) worst = std::max(worst, (e.mean() + e.ci95_half_width()) / e.limit());
  }
  std::fprintf(stderr, "  %6u cells/node: %s  cpu %5.1f%%  worst latency/limit %.2f\n",
               p.cells_per_node(),
               p.all_met() ? "server-bound SLOs hold" : "a server-bound SLO fails",
               p.utilisation_mean() * 100, worst);
}

void print_answer(const v1::Sizing& z) {
  std::cout << "cellsim size: " << z.scenario() << ", " << z.replications()
            << " seeds per point, " << z.curve_size() << " points\n";
  const std::vector<int> link_bound = report::link_bound_slos(z);
  if (!link_bound.empty()) {
    const v1::CapacityPoint& p0 = z.curve(0);
    std::cout << "  link-bound SLOs (missed while the server was idle: at the smallest point, "
              << p0.cells_per_node() << " cells/node with the CPU at "
              << p0.utilisation_mean() * 100 << "%, or with frames waiting <= "
              << report::kIdleQueueWaitMs << " ms for a core at p99; left out of the search;\n"
              << "  each at the first point where it was missed while the server was idle):\n";
    for (int i : link_bound) {
      const v1::CapacityPoint& p = z.curve(report::first_idle_miss(z, i));
      const v1::SloEstimate& e = p.slos(i);
      std::cout << "    " << e.description() << ": " << (e.quorum() ? e.mean() * 100 : e.mean())
                << " +- " << (e.quorum() ? e.ci95_half_width() * 100 : e.ci95_half_width())
                << (e.quorum() ? " %" : " ms") << " at " << p.cells_per_node()
                << " cells/node\n";
    }
  }
  if (z.max_cells_per_node() == 0) {
    std::cout << "  no server-bound SLO: every SLO is missed while the server is idle, so none "
                 "decides the cells per node\n";
    return;
  }
  std::cout << "  cells per node with every server-bound SLO held: " << z.max_cells_per_node()
            << (z.capped() ? " or more (every point held up to --max-cells)" : "")
            << " (curve bends at " << z.bend_cells_per_node() << ")\n"
            << "  peak: " << z.peak_cells() << " of " << z.total_cells() << " cells\n"
            << "  nodes: " << z.nodes_needed() << " + 1 = " << z.nodes_n_plus_1() << " (N+1), "
            << z.cores_total() << " cores in all\n"
            << "  per node: egress " << z.egress_mbps_per_node() << " Mb/s, memory "
            << z.memory_gib_per_node() << " GiB (headroom x" << z.headroom() << ")\n";
}

}  // namespace

int size_main(int argc, char** argv) {
  SizeArgs a;
  if (int rc = parse_size_args(argc, argv, &a); rc != 0) return rc < 0 ? kExitOk : rc;
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(a.scenario_file, &s, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  v1::Calibration cal;
  std::string why;
  if (!sim::resolve_calibration(a.calibration_file, a.scenario_file, s, &cal,
                                &a.options.calibration_label, &why)) {
    std::cerr << "cellsim size: " << why << "\n";
    return kExitUsage;
  }
  a.options.scenario_file = a.scenario_file;
  a.options.on_point = print_point;
  const report::SizeOutcome out = report::size(s, cal, a.options);
  if (!out.ok) {
    std::cerr << "cellsim size: " << out.error << "\n";
    return kExitUsage;
  }
  if (!metrics::write_results(a.out_dir, out.results, &why)) {
    std::cerr << "cellsim size: " << why << "\n";
    return kExitError;
  }
  print_answer(out.results.sizing());
  std::cout << "results: " << a.out_dir << "/results.pb, " << a.out_dir << "/results.json\n";
  return kExitOk;
}

}  // namespace cellsim::cli
