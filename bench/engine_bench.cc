// The meeting engine's cost per frame against the codec floor: what any
// server of this protocol must do per frame (decode the frame, parse the
// Envelope, build and encode the answer), measured in the same run on the
// same frames. The ratio engine / floor says how much the engine's own work
// (sessions, liveness, rules, fan-out) costs on top; CI gates it (--gate) so
// a change that makes the engine several times slower fails, whatever the
// machine's speed.
//
//   engine_bench --benchmark_repetitions=5 --gate
//
// Each benchmark drives kCells cells of kMembers joined members; an
// iteration is one frame from every member (heartbeats) or from one speaker
// per cell (media, relayed to the other kMembers - 1). items/s counts frames
// handled (heartbeat) or frames relayed (media).
#include <benchmark/benchmark.h>

#include <cassert>
#include <memory>
#include <string>
#include <vector>

#include "bench/ratio_gate.h"
#include "proto/frame.h"
#include "server/engine/engine.h"
#include "server/engine/token.h"

namespace {

namespace v1 = ::cellsim::v1;
namespace engine = ::cellsim::engine;
namespace wire = ::cellsim::wire;

constexpr uint64_t kCells = 100;
constexpr uint64_t kMembers = 20;
constexpr engine::TimeNs kStartNs = 1'796'086'800LL * 1'000'000'000LL;
constexpr uint32_t kMediaPayloadBytes = 60;  // 24 kb/s in 20 ms frames
constexpr uint64_t kMediaRounds = 10;        // frames per speaker per iteration
const std::string kKey(32, 'k');

engine::ConnId conn_of(uint64_t cell, uint64_t member) { return cell * 1000 + member; }

// An engine holding kCells cells with every member joined (and, when
// `open`, each cell's meeting opened by its chair, member 1).
class Fixture {
 public:
  explicit Fixture(bool open) : engine_(settings(), kKey) {
    for (uint64_t c = 1; c <= kCells; ++c) add_cell(c);
    for (uint64_t c = 1; c <= kCells; ++c) {
      for (uint64_t m = 1; m <= kMembers; ++m) join(c, m);
      if (open) {
        v1::Envelope env;
        env.mutable_open_meeting()->set_reason("bench");
        send(c, 1, env);
        env.Clear();
        env.mutable_grant_floor()->set_member_id(2);  // member 2 speaks
        send(c, 1, env);
      }
    }
    drain();
  }
  // The defaults, with media pacing out of the way: the bench's clock runs
  // 1 ms per round of 10 frames, far faster than speech, and the relay's
  // cost (the bucket's arithmetic included) is what it measures.
  static engine::EngineSettings settings() {
    engine::EngineSettings s;
    s.media_rate_bytes_per_s = 1u << 30;
    s.media_burst_bytes = 1u << 30;
    return s;
  }

  void send(uint64_t cell, uint64_t member, const v1::Envelope& env) {
    const std::string frame = wire::encode_frame(env);
    engine_.handle_bytes(now_ns_, conn_of(cell, member), frame);
  }
  void send_frame(uint64_t cell, uint64_t member, const std::string& frame) {
    engine_.handle_bytes(now_ns_, conn_of(cell, member), frame);
  }
  // Pops every output; returns how many frames were to be sent.
  size_t drain() {
    size_t frames = 0;
    engine::Output out;
    while (engine_.poll_output(&out)) frames += out.kind == engine::Output::Kind::kTransmit;
    return frames;
  }
  void tick() { now_ns_ += 1'000'000; }  // 1 ms per round: liveness never expires

 private:
  void add_cell(uint64_t c) {
    v1::CellRoster roster;
    roster.set_cell_id(c);
    roster.set_name("cell " + std::to_string(c));
    for (uint64_t m = 1; m <= kMembers; ++m) {
      auto* rm = roster.add_members();
      rm->set_member_id(m);
      rm->set_name("member " + std::to_string(m));
      rm->set_standing(v1::STANDING_OFFICIAL);
      rm->set_role(m == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    }
    std::string why;
    const bool ok = engine_.add_cell(roster, &why);
    assert(ok);
    (void)ok;
  }
  void join(uint64_t c, uint64_t m) {
    engine_.handle_connect(now_ns_, conn_of(c, m));
    v1::TokenClaims claims;
    claims.set_cell_id(c);
    claims.set_member_id(m);
    claims.set_standing(v1::STANDING_OFFICIAL);
    claims.set_role(m == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    claims.set_expires_at_ms(kStartNs / 1'000'000 + 86'400'000);
    v1::Envelope hello;
    hello.set_request_id(1);
    auto* h = hello.mutable_hello();
    h->set_version_major(wire::kProtocolVersionMajor);
    h->set_version_minor(wire::kProtocolVersionMinor);
    h->set_cell_id(c);
    h->set_member_id(m);
    h->set_token(engine::mint_token(kKey, claims));
    send(c, m, hello);
    v1::Envelope join;
    join.set_request_id(2);
    join.mutable_join_meeting();
    send(c, m, join);
  }

  engine::Engine engine_;
  engine::TimeNs now_ns_ = kStartNs;
};

std::string heartbeat_frame(uint64_t seq) {
  v1::Envelope env;
  env.mutable_heartbeat()->set_seq(seq);
  return wire::encode_frame(env);
}

std::string media_frame(uint64_t seq) {
  v1::Envelope env;
  env.mutable_media_frame()->set_seq(seq);
  env.mutable_media_frame()->set_payload(std::string(kMediaPayloadBytes, '\0'));
  return wire::encode_frame(env);
}

// An engine benchmark: each iteration moves the clock on and runs
// `iteration(&fixture)`, which returns the frames the engine sent; they must
// come to `frames_per_iteration` an iteration (else `missing` fails the
// benchmark), and that many items are counted.
template <typename Iteration>
void run_engine(benchmark::State& state, bool open, uint64_t frames_per_iteration,
                const char* missing, Iteration&& iteration) {
  Fixture f(open);
  size_t out = 0;
  for (auto _ : state) {
    f.tick();
    out += iteration(&f);
  }
  const uint64_t expected = state.iterations() * frames_per_iteration;
  if (out != expected) state.SkipWithError(missing);
  state.SetItemsProcessed(static_cast<int64_t>(expected));
}

void BM_EngineHeartbeat(benchmark::State& state) {
  const std::string frame = heartbeat_frame(7);
  run_engine(state, /*open=*/false, kCells * kMembers, "an ack is missing", [&](Fixture* f) {
    for (uint64_t c = 1; c <= kCells; ++c) {
      for (uint64_t m = 1; m <= kMembers; ++m) f->send_frame(c, m, frame);
    }
    return f->drain();
  });
}

// The floor's first steps, per decoder: feed it the frame, and parse each
// whole frame it yields into an Envelope for `on_envelope` (a parse failure
// fails the benchmark).
template <typename OnEnvelope>
void decode_and_parse(benchmark::State& state, const std::string& frame,
                      std::vector<wire::FrameDecoder>* decoders, OnEnvelope&& on_envelope) {
  for (wire::FrameDecoder& d : *decoders) {
    d.feed(frame);
    std::string_view payload;
    while (d.next(&payload) == wire::FrameDecoder::Status::kFrame) {
      v1::Envelope in;
      if (!in.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        state.SkipWithError("parse");
      }
      on_envelope(in);
    }
  }
}

// The floor: per frame, what any server must do for a heartbeat.
void BM_FloorHeartbeat(benchmark::State& state) {
  std::vector<wire::FrameDecoder> decoders(kCells * kMembers);
  std::vector<wire::SharedFrame> queue;
  queue.reserve(decoders.size());
  const std::string frame = heartbeat_frame(7);
  for (auto _ : state) {
    decode_and_parse(state, frame, &decoders, [&](const v1::Envelope& in) {
      v1::Envelope ack;
      ack.mutable_heartbeat_ack()->set_seq(in.heartbeat().seq());
      queue.push_back(wire::make_shared_frame(ack));
    });
    benchmark::DoNotOptimize(queue.data());
    queue.clear();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCells * kMembers));
}

void BM_EngineMediaRelay(benchmark::State& state) {
  const std::string frame = media_frame(9);
  run_engine(state, /*open=*/true, kMediaRounds * kCells * (kMembers - 1), "a relay is missing",
             [&](Fixture* f) {
               size_t relayed = 0;
               for (uint64_t r = 0; r < kMediaRounds; ++r) {
                 for (uint64_t c = 1; c <= kCells; ++c) f->send_frame(c, 2, frame);
                 relayed += f->drain();
               }
               return relayed;
             });
}

// The floor: decode and parse once, stamp the sender, encode once, queue the
// shared frame for each of the other members.
void BM_FloorMediaRelay(benchmark::State& state) {
  std::vector<wire::FrameDecoder> decoders(kCells);
  std::vector<wire::SharedFrame> queue;
  queue.reserve(kCells * kMembers);
  const std::string frame = media_frame(9);
  for (auto _ : state) {
    for (uint64_t r = 0; r < kMediaRounds; ++r) {
      decode_and_parse(state, frame, &decoders, [&](v1::Envelope& in) {
        in.mutable_media_frame()->set_from_member_id(2);
        const wire::SharedFrame relay = wire::make_shared_frame(in);
        for (uint64_t m = 1; m < kMembers; ++m) queue.push_back(relay);
      });
      benchmark::DoNotOptimize(queue.data());
      queue.clear();
    }
  }
  state.SetItemsProcessed(
      static_cast<int64_t>(state.iterations() * kMediaRounds * kCells * (kMembers - 1)));
}

BENCHMARK(BM_EngineHeartbeat)->Name("engine/heartbeat")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FloorHeartbeat)->Name("floor/heartbeat")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EngineMediaRelay)->Name("engine/media_relay")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FloorMediaRelay)->Name("floor/media_relay")->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Gates: about half the ratios measured on the development machine
  // (heartbeat 0.51, media relay 0.31; medians of 3 repetitions), so only a
  // real regression trips them, not a noisy neighbour.
  return cellsim::bench::run_with_gates(
      argc, argv,
      {{"engine/heartbeat", "floor/heartbeat", 0.25,
        "the engine's heartbeat path against decode + parse + encode alone"},
       {"engine/media_relay", "floor/media_relay", 0.15,
        "the engine's media relay against decode + parse + encode once + fan-out"}});
}
