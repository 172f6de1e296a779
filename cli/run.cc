#include "cli/run.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "metrics/summary.h"
#include "report/verdict.h"
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
    "      4 SLO breached, 130 interrupted (partial results written);\n"
    "      with --until-decided: 0 every verdict decided, 5 some still undecided when the\n"
    "      budget was spent.";
constexpr int kExitUndecided = 5;
constexpr uint32_t kMaxSeedsBudget = 1000;
constexpr uint32_t kDefaultSeedsBudget = 20;

struct RunArgs {
  ScenarioFlags common;
  std::string shard = "0/1";
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  bool until_decided = false;
  uint32_t max_seeds = kDefaultSeedsBudget;
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

// Each cell type's network profiles, for the verdicts' conditions.
report::CellTypeLinks links_of(const v1::Scenario& s) {
  report::CellTypeLinks links;
  for (const v1::CellType& c : s.cell_types()) {
    for (const v1::ProfileShare& p : c.links()) links[c.name()].push_back(p.profile());
  }
  return links;
}

// "4 of 6 decided; not yet: fishing-fleet (about 5 more), abroad (about 2 more)".
std::string decided_line(const std::vector<report::CellTypeVerdict>& vs, size_t* undecided) {
  size_t decided = 0;
  std::string pending;
  for (const report::CellTypeVerdict& v : vs) {
    if (v.verdict != report::Verdict::kNotYetDecided) {
      ++decided;
      continue;
    }
    pending += (pending.empty() ? "" : ", ") + v.cell_type + " (" +
               (v.never_decides    ? std::string("on its target")
                : v.more_seeds > 0 ? "about " + std::to_string(v.more_seeds) + " more"
                                   : std::string("more runs")) +
               ")";
  }
  *undecided = vs.size() - decided;
  std::string line =
      std::to_string(decided) + " of " + std::to_string(vs.size()) + " cell types decided";
  return pending.empty() ? line : line + "; not yet: " + pending;
}

// The verdicts, one line each, as DIR/verdicts.txt holds them.
std::string verdicts_text(const std::vector<report::CellTypeVerdict>& vs, uint32_t seeds) {
  std::string out = "verdicts over " + std::to_string(seeds) + " seeds (report/verdict.h)\n";
  for (const report::CellTypeVerdict& v : vs) {
    out += v.cell_type + ": " + report::verdict_name(v.verdict);
    if (v.decisive >= 0) {
      const report::Finding& f = v.findings[static_cast<size_t>(v.decisive)];
      out += " (" + std::string(report::check_name(f.check)) +
             (f.metric.empty() ? "" : " " + f.metric) + ")";
    }
    out += "\n";
  }
  return out;
}

// Seeds run at once by --until-decided: the machine's two cores (the
// simulator is single-threaded per run).
constexpr uint32_t kSeedsAtOnce = 2;

// Simulates seeds first .. first + n - 1 at once, in order of seed.
std::vector<sim::SimulateOutcome> simulate_batch(v1::Scenario s, const v1::Calibration& cal,
                                                 const sim::SimulateOptions& so, uint64_t first,
                                                 uint32_t n) {
  std::vector<std::future<sim::SimulateOutcome>> running;
  for (uint32_t k = 0; k < n; ++k) {
    s.set_seed(first + k);
    running.push_back(
        std::async(std::launch::async, [s, &cal, &so] { return sim::simulate(s, cal, so); }));
  }
  std::vector<sim::SimulateOutcome> out;
  for (auto& r : running) out.push_back(r.get());
  return out;
}

bool write_verdicts(const std::string& dir, const std::string& text) {
  std::ofstream file(dir + "/verdicts.txt", std::ios::trunc);
  file << text;
  file.close();
  if (!file) std::cerr << "cellsim run: " << dir << "/verdicts.txt: cannot write\n";
  return static_cast<bool>(file);
}

// Runs seeds SEED, SEED + 1, ... (kSeedsAtOnce at a time) into OUT/seed-S/
// until every cell type's verdict over the seeds so far is decided (checked
// after each batch) or a.max_seeds have run. Prints the first seed's summary (unless --quiet)
// and a line per seed.
int run_until_decided(const Flags& f, const RunArgs& a, const v1::Scenario& s,
                      const v1::Calibration& cal, sim::SimulateOptions so) {
  const report::CellTypeLinks links = links_of(s);
  std::vector<v1::Results> runs;
  std::vector<report::CellTypeVerdict> verdicts;
  size_t undecided = 1;
  watch_interrupts();
  so.on_slice = [](const sim::World&, sim::TimeNs) { return !interrupt_requested(); };
  for (uint32_t i = 0; i < a.max_seeds && undecided > 0 && !interrupt_requested();) {
    const uint32_t n = std::min(kSeedsAtOnce, a.max_seeds - i);
    for (sim::SimulateOutcome& out : simulate_batch(s, cal, so, s.seed() + i, n)) {
      const uint64_t seed = out.results.run().seed();
      if (!out.ok) {
        std::cerr << "cellsim run: " << out.error << "\n";
        return kExitUsage;
      }
      const std::string dir = a.common.out_dir + "/seed-" + std::to_string(seed);
      if (!write_results_for(f, dir, out.results)) return kExitError;
      if (out.violation_count > 0 || out.partial) {
        return run_exit_code(
            {"run", seed, out.violation_count, &out.violations, out.partial, true, dir});
      }
      if (i == 0 && !a.common.quiet) metrics::print_summary(out.results, std::cout);
      runs.push_back(std::move(out.results));
      ++i;  // every seed written is judged, so verdicts.txt and the report agree
      std::vector<const v1::Results*> ptrs;
      for (const v1::Results& r : runs) ptrs.push_back(&r);
      std::string why;
      if (!report::judge_seeds(ptrs, links, &verdicts, &why)) return f.usage_error(why);
      std::cerr << "cellsim run: seed " << seed << " (" << i << " of at most " << a.max_seeds
                << "): " << decided_line(verdicts, &undecided) << "\n";
    }
  }
  const std::string text = verdicts_text(verdicts, static_cast<uint32_t>(runs.size()));
  if (!write_verdicts(a.common.out_dir, text)) return kExitError;
  std::cout << text << "seeds: " << a.common.out_dir << "/seed-*; `cellsim report "
            << a.common.out_dir << "/seed-*` for the report\n";
  if (interrupt_requested()) return kExitInterrupted;
  return undecided == 0 ? kExitOk : kExitUndecided;
}

}  // namespace

int run_main(int argc, char** argv) {
  RunArgs a;
  Flags f("cellsim run", "Simulates the scenario and writes DIR/results.pb and DIR/results.json.");
  add_scenario_flags(f, &a.common, "out/run");
  f.text("--shard", &a.shard, "i/N: simulate shard i of N, 0 <= i < N <= 4096 (default 0/1)")
      ->check(CLI::Validator([](std::string& v) { return check_shard(v); }, ""));
  f.flag("--until-decided", &a.until_decided,
         "run seeds SEED, SEED+1, ... into DIR/seed-S/ until every cell type's verdict over "
         "them is decided (report/verdict.h) or --max-seeds have run; writes DIR/verdicts.txt");
  f.u32("--max-seeds", &a.max_seeds, 1, kMaxSeedsBudget,
        "the budget of --until-decided, in seeds (default 20)");
  f.footer(kRunExits);
  if (auto rc = f.parse(argc, argv)) return *rc;
  if (f.given("--max-seeds") && !a.until_decided) {
    return f.usage_error("--max-seeds is the budget of --until-decided");
  }
  if (a.until_decided && f.given("--shard")) {
    return f.usage_error("--until-decided runs whole seeds: it takes no --shard");
  }
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
  if (a.until_decided) return run_until_decided(f, a, s, cal, so);
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
