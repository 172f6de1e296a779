// voice_bench: the simulator's cost per voice frame, datagram against
// in-band (issue 13: "at no more cost per voice frame than today's
// streams"), measured as a ratio in the same run:
//   voice/link/<transport>   one link direction carrying a speaker's stream
//                            (a GEO VSAT profile with Gilbert–Elliott loss):
//                            items = frames through the link model.
//   voice/world/<transport>  a whole small simulation (40 members talking on
//                            one fixed-delay lossy profile): items = voice
//                            frames heard (every listener's frames of every
//                            interval), so the cost per frame includes the
//                            relay to each listener and the speech meters.
// Gates (--gate; scripts/bench.sh): datagram at least 0.8 × in-band items/s
// on both, i.e. a voice frame as a datagram costs at most 1.25 × what it
// costs in-band (in practice less: no retransmission ladder).
#include <benchmark/benchmark.h>

#include <string>

#include "bench/ratio_gate.h"
#include "host/link.h"
#include "metrics/results_io.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;
constexpr uint64_t kFramesPerInterval = 3000;  // a minute of 20 ms frames

v1::NetworkProfile vsat() {
  v1::NetworkProfile p;
  p.set_name("geo-vsat");
  p.set_base_one_way_ms(300);
  p.mutable_jitter_ms()->mutable_lognormal()->set_median(15);
  p.mutable_jitter_ms()->mutable_lognormal()->set_sigma(0.6);
  p.set_bandwidth_down_kbps(2000);
  p.set_bandwidth_up_kbps(512);
  p.set_rto_min_ms(200);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.01);
  ge->set_p_bad_to_good(0.3);
  ge->set_loss_good(0.005);
  ge->set_loss_bad(0.3);
  return p;
}

struct CountingSink : host::StreamSink {
  uint64_t frames = 0;
  int64_t last = 0;
  void on_stream_frame(uint64_t, uint64_t, host::TimeNs, host::TimeNs arrival) override {
    ++frames;
    last = arrival;
  }
};

void link_stream(benchmark::State& state, host::StreamTransport transport) {
  const v1::NetworkProfile p = vsat();
  uint64_t seed = 1, frames = 0;
  for (auto _ : state) {
    host::LinkDirection link(&p, p.bandwidth_down_kbps(),
                             agents::Rng(seed++, agents::StreamKind::kLinkDown, 1));
    CountingSink sink;
    const host::TimeNs start = 1'000'000'000, period = 20 * kNsPerMs;
    link.start_stream(7, start, period, 60, 600 * kNsPerMs, transport, &sink);
    link.stop_stream(7, start + static_cast<host::TimeNs>(kFramesPerInterval) * period, 0);
    benchmark::DoNotOptimize(sink.last);
    frames += sink.frames;
  }
  state.SetItemsProcessed(static_cast<int64_t>(frames));
}

std::string world_text(const char* transport) {
  return std::string(R"pb(
           name: "voice-bench"
           question: "bench"
           seed: 3
           duration_min: 40
           server { nodes: 1 cores_per_node: 4 }
           media { bitrate_kbps: 8 frame_ms: 20 transport:)pb") +
         transport + R"pb(}
                          profiles { name: "lossy" base_one_way_ms: 150 jitter_ms { exponential { mean: 10 } }
             bandwidth_down_kbps: 2000 bandwidth_up_kbps: 512
             loss { p_good_to_bad: 0.01 p_bad_to_good: 0.3 loss_good: 0.005 loss_bad: 0.3 } }
  agendas { name: "m" items { title: "talk" duration_min: 20 floor_requests: 6 } }
  cell_types { name: "c" count: 4 members { official: 10 }
    links { profile: "lossy" share: 1 } attend_probability: 1
    join_offset_min { uniform { min: 0 max: 1 } } agenda: "m" start_window_min: 2 }
)pb";
}

void world(benchmark::State& state, const char* transport) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (!scenario::parse_scenario(world_text(transport), "voice-bench", &s, &errors)) {
    state.SkipWithError("the bench scenario does not parse");
    return;
  }
  uint64_t frames = 0;
  for (auto _ : state) {
    sim::SimulateOutcome out = sim::simulate(s, sim::built_in_calibration(), {});
    if (!out.ok) {
      state.SkipWithError(out.error.c_str());
      return;
    }
    for (const v1::Group& g : out.results.groups()) {
      if (g.kind() == metrics::kGroupOverall) frames += g.voice().frames_sent();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(frames));
}

BENCHMARK_CAPTURE(link_stream, in_band, host::StreamTransport::kTcp)->Name("voice/link/in_band");
BENCHMARK_CAPTURE(link_stream, datagram, host::StreamTransport::kDatagram)
    ->Name("voice/link/datagram");
BENCHMARK_CAPTURE(world, in_band, "MEDIA_TRANSPORT_IN_BAND")
    ->Name("voice/world/in_band")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(world, datagram, "MEDIA_TRANSPORT_DATAGRAM")
    ->Name("voice/world/datagram")
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cellsim

int main(int argc, char** argv) {
  return cellsim::bench::run_with_gates(
      argc, argv,
      {{"voice/link/datagram", "voice/link/in_band", 0.8,
        "a voice frame through the link model as a datagram costs at most 1.25x in-band"},
       {"voice/world/datagram", "voice/world/in_band", 0.8,
        "a voice frame heard in a whole simulation as a datagram costs at most 1.25x in-band"}});
}
