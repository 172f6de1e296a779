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
#include "cli/flags.h"
#include "metrics/results_io.h"
#include "report/sizing.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultSizeDir[] = "out/size";
constexpr uint32_t kMaxReplications = 30;

constexpr uint64_t kMaxTotalCells = 1'000'000'000'000;
constexpr double kMaxHeadroom = 1e6;

constexpr char kSizeAbout[] =
    "Searches the cells per server node at which every SLO of the scenario holds (R seeds per\n"
    "point, 95% confidence; SLOs missed while the server is idle are link-bound, reported and\n"
    "left out of the search), records the capacity curve and answers for a rollout of N cells\n"
    "(default: the scenario's) of which F meet in the same peak (default 1): nodes with N+1,\n"
    "cores, egress and memory. Writes DIR/results.pb and .json; `cellsim report DIR` shows\n"
    "them.";

struct SizeArgs {
  std::string scenario_file, out_dir = kDefaultSizeDir, calibration_file;
  report::SizeOptions options;
};

void add_size_flags(Flags& f, SizeArgs* a) {
  report::SizeOptions& o = a->options;
  f.positional("SCENARIO", &a->scenario_file, "the scenario, text format cellsim.v1.Scenario");
  f.u32("--replications", &o.replications, 1, kMaxReplications, "seeds per point");
  f.text("--out", &a->out_dir, std::string("the results folder (default ") + kDefaultSizeDir + ")");
  f.text("--calibration", &a->calibration_file, "server costs (default: the scenario's)");
  f.u64("--total-cells", &o.total_cells, 1, kMaxTotalCells,
        "cells in the rollout (default: the scenario's)");
  f.real("--peak-share", &o.peak_share, 0, 1, "share of the cells meeting in the same peak",
         Lower::kOpen);
  f.real("--headroom", &o.headroom, 1, kMaxHeadroom, "capacity factor kept free");
  f.u32("--min-cells", &o.min_cells, 1, UINT32_MAX, "smallest cells per node tried");
  f.u32("--max-cells", &o.max_cells, 1, UINT32_MAX, "largest cells per node tried");
  f.footer("exit: 0 written, 1 cannot write, 2 bad input.");
}

void print_point(const v1::CapacityPoint& p) {
  double worst = 0;
  for (const v1::SloEstimate& e : p.slos()) {
    if (!e.quorum() && e.limit() > 0) worst = std::max(worst, e.hi() / e.limit());
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
      const double k = e.quorum() ? 100 : 1;
      std::cout << "    " << e.description() << ": " << e.mean() * k << " [" << e.lo() * k << ", "
                << e.hi() * k << "]" << (e.quorum() ? " %" : " ms") << " at " << p.cells_per_node()
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
  Flags f("cellsim size", kSizeAbout);
  add_size_flags(f, &a);
  if (auto rc = f.parse(argc, argv)) return *rc;
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
