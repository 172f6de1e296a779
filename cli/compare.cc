// `cellsim compare BASE NEW [--alpha A] [--tolerance T] [--all] [--out DIR]`:
// whether NEW's figures differ from BASE's beyond noise (report/compare.h).
//
// BASE and NEW are each a results folder (one run) or a folder of them (its
// subfolders with results: seeds, and shards of a seed, merged as `cellsim
// report` merges them). Prints the significant rows; writes every row to
// OUT/compare.txt and OUT/compare.csv.
//
// Exit codes: 0 no regression; 4 a metric got significantly worse beyond
// the tolerance; 1 the files could not be written; 2 bad usage or results
// that cannot be read or pooled (the message names the folder).
#include "report/compare.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "metrics/results_io.h"
#include "report/report.h"

namespace cellsim::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultCompareDir[] = "out/compare";
constexpr size_t kMaxRunsPerSide = 1000;  // subfolders read from one side

constexpr char kCompareAbout[] =
    "Compares two sets of runs of a scenario: per group and metric (latency p50 and p99,\n"
    "quorum attainment, valid votes, complete minutes, server CPU utilisation and queue\n"
    "wait), both estimates with 95% intervals, the change and a test of it corrected for\n"
    "the number of comparisons (Holm). BASE and NEW are a results folder or a folder of\n"
    "them (seeds). A regression is a significant change for the worse beyond --tolerance.";

bool has_results(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / metrics::kResultsPbFile, ec) ||
         fs::exists(dir / metrics::kResultsJsonFile, ec);
}

// The runs of one side, seeds apart and shards merged.
bool load_side(const std::string& dir, std::vector<v1::Results>* runs, std::string* why) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    *why = dir + ": not a folder";
    return false;
  }
  std::vector<std::string> paths;
  if (has_results(dir)) {
    paths.push_back(dir);
  } else {
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory(ec) && has_results(e.path())) paths.push_back(e.path().string());
    }
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) {
    *why = dir + ": no results in it or in its subfolders";
    return false;
  }
  if (paths.size() > kMaxRunsPerSide) {
    *why = dir + ": more than " + std::to_string(kMaxRunsPerSide) + " results folders";
    return false;
  }
  report::ReportInput in;
  std::string lwhy;
  if (!report::load_inputs(paths, &in, &lwhy)) {
    *why = dir + ": " + lwhy;
    return false;
  }
  if (!in.has_run) {
    *why = dir + ": holds no run (only sizing or validation results)";
    return false;
  }
  runs->clear();
  if (in.seeds.empty()) runs->push_back(in.results);
  for (const report::SeedRun& s : in.seeds) runs->push_back(s.results);
  return true;
}

std::string csv(const report::CompareResult& r) {
  std::string s =
      "group_kind,group,metric,stat,base,base_lo,base_hi,new,new_lo,new_hi,change,p,"
      "p_holm,significant,worse,regression\n";
  char line[512];
  for (const report::Comparison& c : r.rows) {
    std::snprintf(line, sizeof line,
                  "%s,%s,%s,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%d,%d,%d\n",
                  c.group_kind.c_str(), c.group.c_str(), c.metric.c_str(), c.stat.c_str(),
                  c.base.estimate, c.base.lo, c.base.hi, c.now.estimate, c.now.lo, c.now.hi,
                  c.change, c.p, c.p_holm, c.significant, c.worse, c.regression);
    s += line;
  }
  return s;
}

bool write_file(const fs::path& path, const std::string& text, std::string* why) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) *why = path.string() + ": cannot write";
  return static_cast<bool>(f);
}

}  // namespace

int compare_main(int argc, char** argv) {
  std::string base_dir, new_dir, out_dir = kDefaultCompareDir;
  report::CompareOptions o;
  bool all = false;
  Flags f("cellsim compare", kCompareAbout);
  f.positional("BASE", &base_dir, "the runs compared against");
  f.positional("NEW", &new_dir, "the runs compared");
  f.real("--alpha", &o.alpha, 0, 0.5, "family-wise level of the tests (default 0.05)",
         Lower::kOpen);
  f.real("--tolerance", &o.tolerance, 0, 10,
         "a worse change beyond this is a regression: relative for latencies and utilisation, "
         "share points for shares (default 0.05)");
  f.flag("--all", &all, "print every comparison, not only the significant ones");
  f.text("--out", &out_dir,
         std::string("where to write compare.txt and compare.csv (default ") + kDefaultCompareDir +
             ")");
  f.footer(
      "exit: 0 no regression, 1 cannot write, 2 bad usage or unreadable results, "
      "4 a regression.");
  if (auto rc = f.parse(argc, argv)) return *rc;
  std::vector<v1::Results> base, now;
  std::string why;
  if (!load_side(base_dir, &base, &why) || !load_side(new_dir, &now, &why)) {
    return f.usage_error(why);
  }
  std::vector<const v1::Results*> pb, pn;
  for (const v1::Results& r : base) pb.push_back(&r);
  for (const v1::Results& r : now) pn.push_back(&r);
  report::CompareResult r;
  if (!report::compare_runs(pb, pn, o, &r, &why)) return f.usage_error(why);
  std::cout << "base: " << base_dir << " (" << base.size() << " runs), new: " << new_dir << " ("
            << now.size() << " runs)\n"
            << report::compare_table(r, o, all);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec ||
      !write_file(fs::path(out_dir) / "compare.txt", report::compare_table(r, o, true), &why) ||
      !write_file(fs::path(out_dir) / "compare.csv", csv(r), &why)) {
    std::cerr << "cellsim compare: " << (ec ? out_dir + ": " + ec.message() : why) << "\n";
    return kExitError;
  }
  std::cout << "compare: " << (fs::path(out_dir) / "compare.txt").string() << ", "
            << (fs::path(out_dir) / "compare.csv").string() << "\n";
  return r.regressions > 0 ? kExitSloBreached : kExitOk;
}

}  // namespace cellsim::cli
