// PHOLD exactly as ../shared/peers/README.md defines it, on our kernel and on
// the naive std::priority_queue reference, so bench/ can run both in one
// process and tests can check the validation values.
//
// Our kernel's time is integer nanoseconds; the model carries each event's
// exact double timestamp in the event argument and schedules it at that
// timestamp rounded to the nanosecond, so the event order is the peers'
// (ties within one nanosecond keep scheduling order) and the final time,
// in ns, is the peers' final time rounded to the nanosecond.
//
// Thread-safety: none; one run per object.
#ifndef CELLSIM_BENCH_PHOLD_H_
#define CELLSIM_BENCH_PHOLD_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <queue>
#include <random>
#include <vector>

#include "sim/kernel.h"

namespace cellsim::sim::phold {

inline constexpr uint32_t kNumLps = 1024;
inline constexpr uint32_t kPopPerLp = 16;
inline constexpr double kLookahead = 0.1;
inline constexpr double kExpMean = 0.9;
inline constexpr uint64_t kSeed = 42;

// The peers' random draws, in the peers' order.
struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint32_t dest() { return static_cast<uint32_t>(g() % kNumLps); }
  double delay() {
    const double u = static_cast<double>(g() >> 11) * 0x1.0p-53;
    return kLookahead - kExpMean * std::log1p(-u);
  }
};

struct Result {
  uint64_t events = 0;
  double final_time_s = 0;  // the last event's timestamp
  TimeNs final_time_ns = 0;
  uint64_t checksum = 0;    // Σ per_lp[i]·(i+1)
};

inline uint64_t checksum(const std::vector<uint64_t>& per_lp) {
  uint64_t c = 0;
  for (uint32_t i = 0; i < per_lp.size(); ++i) c += per_lp[i] * (i + 1);
  return c;
}

// Rounds a non-negative time in seconds to the nearest nanosecond (half up).
inline TimeNs to_ns(double t_s) { return static_cast<TimeNs>(t_s * 1e9 + 0.5); }

// PHOLD on cellsim's kernel. setup() schedules the initial population (not
// timed), run() the event loop (timed by the caller).
class KernelPhold : public EventTarget {
 public:
  explicit KernelPhold(uint64_t events, uint64_t seed = kSeed)
      : events_(events), rng_(seed), per_lp_(kNumLps, 0) {}

  void setup() {
    for (uint32_t lp = 0; lp < kNumLps; ++lp) {
      for (uint32_t k = 0; k < kPopPerLp; ++k) schedule(rng_.delay(), lp);
    }
  }

  Result run() {
    kernel_.run_until(INT64_MAX, events_);
    Result r;
    r.events = processed_;
    r.final_time_s = last_s_;
    r.final_time_ns = kernel_.now();
    r.checksum = checksum(per_lp_);
    return r;
  }

  void on_event(Kernel& k, uint32_t lp, uint64_t arg) override {
    const double now_s = std::bit_cast<double>(arg);
    last_s_ = now_s;
    ++processed_;
    ++per_lp_[lp];
    const uint32_t dst = rng_.dest();
    (void)k;
    schedule(now_s + rng_.delay(), dst);
  }

 private:
  void schedule(double at_s, uint32_t lp) {
    kernel_.schedule_at(to_ns(at_s), this, lp, std::bit_cast<uint64_t>(at_s));
  }

  uint64_t events_;
  Rng rng_;
  Kernel kernel_;
  std::vector<uint64_t> per_lp_;
  uint64_t processed_ = 0;
  double last_s_ = 0;
};

// The naive reference: std::priority_queue<{double t; uint32_t lp}>, as
// ../shared/peers/baseline/phold_pq.cpp.
class NaivePhold {
 public:
  explicit NaivePhold(uint64_t events, uint64_t seed = kSeed)
      : events_(events), rng_(seed), per_lp_(kNumLps, 0) {}

  void setup() {
    for (uint32_t lp = 0; lp < kNumLps; ++lp) {
      for (uint32_t k = 0; k < kPopPerLp; ++k) pq_.push(Event{rng_.delay(), lp});
    }
  }

  Result run() {
    double now = 0;
    uint64_t processed = 0;
    while (processed < events_) {
      const Event ev = pq_.top();
      pq_.pop();
      now = ev.t;
      ++processed;
      ++per_lp_[ev.lp];
      const uint32_t dst = rng_.dest();
      pq_.push(Event{now + rng_.delay(), dst});
    }
    Result r;
    r.events = processed;
    r.final_time_s = now;
    r.final_time_ns = to_ns(now);
    r.checksum = checksum(per_lp_);
    return r;
  }

 private:
  struct Event {
    double t;
    uint32_t lp;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.t > b.t; }
  };
  uint64_t events_;
  Rng rng_;
  std::vector<uint64_t> per_lp_;
  std::priority_queue<Event, std::vector<Event>, Later> pq_;
};

}  // namespace cellsim::sim::phold

#endif  // CELLSIM_BENCH_PHOLD_H_
