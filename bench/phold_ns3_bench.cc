// PHOLD on ns-3's scheduler (a peer, ../shared/peers/README.md), in the same
// process and run as cellsim's kernel and the naive engine (phold_bench.cc),
// so ratios are measured side by side. Built only when Debian's libns3-dev
// is installed (scripts/setup.sh --with-peers). ns-3 rounds time to integer
// nanoseconds, so only its checksum is validated.
#include <benchmark/benchmark.h>
#include <ns3/nstime.h>
#include <ns3/object-factory.h>
#include <ns3/simulator.h>

#include <string>
#include <vector>

#include "bench/phold.h"

namespace {

namespace phold = cellsim::sim::phold;

constexpr uint64_t kEvents = 10'000'000;
constexpr uint64_t kChecksum = 5124127340;

struct Ns3Phold {
  phold::Rng* rng = nullptr;
  std::vector<uint64_t> per_lp = std::vector<uint64_t>(phold::kNumLps, 0);
  uint64_t processed = 0;
};
Ns3Phold* g_model = nullptr;  // ns-3 schedules free functions; one run at a time

void handle(uint32_t lp) {
  Ns3Phold& m = *g_model;
  ++m.processed;
  ++m.per_lp[lp];
  if (m.processed == kEvents) {
    ns3::Simulator::Stop();
    return;
  }
  const uint32_t dst = m.rng->dest();
  ns3::Simulator::Schedule(ns3::Seconds(m.rng->delay()), &handle, dst);
}

void BM_PholdNs3(benchmark::State& state, const std::string& scheduler) {
  for (auto _ : state) {
    state.PauseTiming();
    ns3::ObjectFactory f;
    f.SetTypeId(scheduler);
    ns3::Simulator::SetScheduler(f);
    phold::Rng rng(phold::kSeed);
    Ns3Phold model;
    model.rng = &rng;
    g_model = &model;
    for (uint32_t lp = 0; lp < phold::kNumLps; ++lp) {
      for (uint32_t k = 0; k < phold::kPopPerLp; ++k) {
        ns3::Simulator::Schedule(ns3::Seconds(rng.delay()), &handle, lp);
      }
    }
    state.ResumeTiming();
    ns3::Simulator::Run();
    state.PauseTiming();
    if (phold::checksum(model.per_lp) != kChecksum) {
      state.SkipWithError("PHOLD checksum not reproduced");
    }
    ns3::Simulator::Destroy();
    g_model = nullptr;
    state.ResumeTiming();
  }
  state.counters["events_per_second"] = benchmark::Counter(
      static_cast<double>(kEvents), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_PholdNs3, pq, std::string("ns3::PriorityQueueScheduler"))
    ->Name("phold/ns3_priority_queue_scheduler")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_PholdNs3, map, std::string("ns3::MapScheduler"))
    ->Name("phold/ns3_map_scheduler")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
