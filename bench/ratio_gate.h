// A ratio gate for Google Benchmark runs (what CI checks, DESIGN.md's rule:
// speed targets are ratios against a peer measured in the same run, never
// absolute times). A bench's main runs the benchmarks with a reporter that
// also keeps each benchmark's median items/s (or its only run's), then
// checks gates "A is at least R times B" and prints each ratio. With
// --gate the process exits 1 when a gate fails; without, gates are printed
// for information only.
//
//   int main(int argc, char** argv) {
//     return cellsim::bench::run_with_gates(argc, argv, {{"a", "b", 0.5, "why"}});
//   }
//
// Thread-safety: single-threaded (the benchmark main thread).
#ifndef CELLSIM_BENCH_RATIO_GATE_H_
#define CELLSIM_BENCH_RATIO_GATE_H_

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace cellsim::bench {

struct Gate {
  std::string numerator;  // benchmark name (as reported, without aggregate suffix)
  std::string denominator;
  double min_ratio = 1.0;  // items/s(numerator) / items/s(denominator) >= this
  std::string meaning;     // what the ratio says, for the printout
};

// Keeps the items/s of every run (repetitions included) by benchmark name.
class RateKeeper : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal (the log of a CI run stays plain text).
  RateKeeper()
      : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const auto it = r.counters.find("items_per_second");
      if (it == r.counters.end()) continue;
      if (r.run_type == Run::RT_Iteration) {
        rates_[r.run_name.str()].push_back(it->second.value);
      } else if (r.aggregate_name == "median") {  // --benchmark_report_aggregates_only
        medians_[r.run_name.str()] = it->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // The median items/s of `name`'s runs; 0 when it did not run.
  double median(const std::string& name) const {
    if (auto m = medians_.find(name); m != medians_.end()) return m->second;
    auto it = rates_.find(name);
    if (it == rates_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

 private:
  std::map<std::string, std::vector<double>> rates_;
  std::map<std::string, double> medians_;
};

inline int run_with_gates(int argc, char** argv, const std::vector<Gate>& gates) {
  bool enforce = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gate") == 0) {
      enforce = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  RateKeeper keeper;
  benchmark::RunSpecifiedBenchmarks(&keeper);
  benchmark::Shutdown();
  int failed = 0;
  for (const Gate& g : gates) {
    const double a = keeper.median(g.numerator), b = keeper.median(g.denominator);
    if (a == 0 || b == 0) continue;  // filtered out
    const double ratio = a / b;
    const bool ok = ratio >= g.min_ratio;
    failed += !ok;
    std::printf("gate %-4s %s / %s = %.3f (needs >= %.3f): %s\n", ok ? "ok" : "FAIL",
                g.numerator.c_str(), g.denominator.c_str(), ratio, g.min_ratio, g.meaning.c_str());
  }
  return enforce && failed > 0 ? 1 : 0;
}

}  // namespace cellsim::bench

#endif  // CELLSIM_BENCH_RATIO_GATE_H_
