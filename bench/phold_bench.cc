// PHOLD (../shared/peers/README.md) on cellsim's kernel and on the naive
// std::priority_queue engine, in one process. Each iteration builds the model
// (untimed), runs E events (timed) and checks the peers' validation values;
// a run that does not reproduce them is reported as an error, not a speed.
//
//   phold_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// The kernel's speed-up is events_per_second(kernel) / events_per_second(naive).
#include <benchmark/benchmark.h>

#include <memory>

#include "sim/phold.h"

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

BENCHMARK_MAIN();
