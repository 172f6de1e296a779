// PHOLD (../shared/peers/README.md) on cellsim's kernel and on the naive
// std::priority_queue engine, in one process. Each iteration builds the model
// (untimed), runs E events (timed) and checks the peers' validation values;
// a run that does not reproduce them is reported as an error, not a speed.
//
//   phold_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true [--gate]
// The kernel's speed-up is events_per_second(kernel) / events_per_second(naive);
// --gate makes the run fail when it falls below the gate in main().
#include <benchmark/benchmark.h>

#include <memory>

#include "bench/ratio_gate.h"
#include "bench/phold.h"

namespace {

using cellsim::sim::phold::KernelPhold;
using cellsim::sim::phold::NaivePhold;
using cellsim::sim::phold::Result;

constexpr uint64_t kEvents = 10'000'000;
constexpr uint64_t kChecksum = 5124127340;
constexpr int64_t kFinalTimeNs = 610'593'598'022;  // 610.59359802243955 s

template <typename Engine>
void BM_Phold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>(kEvents);
    engine->setup();
    state.ResumeTiming();
    const Result r = engine->run();
    state.PauseTiming();
    if (r.checksum != kChecksum || r.final_time_ns != kFinalTimeNs) {
      state.SkipWithError("PHOLD validation values not reproduced");
    }
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEvents));
  state.counters["events_per_second"] =
      benchmark::Counter(static_cast<double>(kEvents), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_TEMPLATE(BM_Phold, KernelPhold)->Name("phold/cellsim_kernel")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Phold, NaivePhold)->Name("phold/naive_priority_queue")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // The gate: about half the speed-up measured on the development machine
  // (2.56x, medians of 3), so CI fails on a real regression of the queue only.
  return cellsim::bench::run_with_gates(
      argc, argv,
      {{"phold/cellsim_kernel/real_time", "phold/naive_priority_queue/real_time", 1.3,
        "the kernel's radix queue against std::priority_queue on PHOLD"}});
}
