// The event queue and kernel, checked against a simple model (a std::multimap
// keyed by (time, push sequence)), and PHOLD's published validation values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "sim/kernel.h"
#include "bench/phold.h"
#include "sim/radix_heap.h"

namespace cellsim::sim {
namespace {

struct Item {
  uint64_t key;
  uint64_t id;
};

uint64_t seed_from_env(uint64_t fallback) {
  const char* s = std::getenv("CELLSIM_SEED");
  return s ? std::strtoull(s, nullptr, 10) : fallback;
}

// A delay drawn from a mix that exercises every level, equal keys and runs.
uint64_t draw_delay(std::mt19937_64& g) {
  switch (g() % 6) {
    case 0: return 0;                         // same time as now
    case 1: return g() % 4;                   // a few ns: ties and the run
    case 2: return g() % 100'000;             // µs
    case 3: return g() % 2'000'000'000;       // s
    case 4: return g() % (uint64_t{1} << 50); // days
    default: return 1'000'000'000;            // a heartbeat: many equal keys
  }
}

// Shows the queue pops in exactly (key, push order) order, like the model,
// over random pushes and pops at every time scale.
TEST(RadixHeapTest, MatchesOrderedModel) {
  const uint64_t base_seed = seed_from_env(1);
  for (uint64_t seed = base_seed; seed < base_seed + 40; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (rerun with CELLSIM_SEED)");
    std::mt19937_64 g(seed);
    RadixHeap<Item> q;
    std::multimap<std::pair<uint64_t, uint64_t>, uint64_t> model;
    uint64_t now = 0, next_id = 0;
    for (int step = 0; step < 20000; ++step) {
      const bool push = model.empty() || g() % 100 < 55;
      if (push) {
        const uint64_t key = now + draw_delay(g);
        q.push(Item{key, next_id});
        model.emplace(std::make_pair(key, next_id), next_id);
        ++next_id;
      } else {
        const Item got = q.pop();
        const auto want = model.begin();
        ASSERT_EQ(got.key, want->first.first) << "step " << step;
        ASSERT_EQ(got.id, want->second) << "step " << step;
        model.erase(want);
        now = got.key;
      }
      ASSERT_EQ(q.size(), model.size());
    }
    while (!model.empty()) {
      const Item got = q.pop();
      ASSERT_EQ(got.id, model.begin()->second);
      model.erase(model.begin());
    }
    EXPECT_TRUE(q.empty());
  }
}

// Shows a large bucket of equal and near-equal keys (the radix sort path)
// keeps push order among equals.
TEST(RadixHeapTest, LargeRunsStayStable) {
  RadixHeap<Item> q;
  std::vector<Item> pushed;
  std::mt19937_64 g(7);
  for (uint64_t i = 0; i < 5000; ++i) {
    const uint64_t key = (uint64_t{1} << 30) + (g() % 3000) * 256 + (g() % 2);
    q.push(Item{key, i});
    pushed.push_back(Item{key, i});
  }
  std::stable_sort(pushed.begin(), pushed.end(),
                   [](const Item& a, const Item& b) { return a.key < b.key; });
  for (const Item& want : pushed) {
    const Item got = q.pop();
    ASSERT_EQ(got.key, want.key);
    ASSERT_EQ(got.id, want.id);
  }
}

class Recorder : public EventTarget {
 public:
  void on_event(Kernel& k, uint32_t kind, uint64_t arg) override {
    log.push_back({k.now(), kind, arg});
  }
  struct Seen {
    TimeNs at;
    uint32_t kind;
    uint64_t arg;
  };
  std::vector<Seen> log;
};

// Shows events run in time order, ties in scheduling order.
TEST(KernelTest, RunsInTimeThenScheduleOrder) {
  Kernel k(1000);
  Recorder r;
  k.schedule_at(3000, &r, 1, 0);
  k.schedule_at(2000, &r, 2, 0);
  k.schedule_at(3000, &r, 3, 0);
  k.schedule_in(0, &r, 4, 0);
  EXPECT_EQ(k.run_until(10'000), 4u);
  ASSERT_EQ(r.log.size(), 4u);
  EXPECT_EQ(r.log[0].kind, 4u);
  EXPECT_EQ(r.log[0].at, 1000);
  EXPECT_EQ(r.log[1].kind, 2u);
  EXPECT_EQ(r.log[2].kind, 1u);
  EXPECT_EQ(r.log[3].kind, 3u);
  EXPECT_EQ(k.now(), 10'000) << "run_until leaves the clock at its horizon";
}

// Shows a cancelled timer never runs, and cancel reports what it did.
TEST(KernelTest, CancelledTimersDoNotRun) {
  Kernel k;
  Recorder r;
  const TimerId a = k.start_timer(100, &r, 1, 0);
  const TimerId b = k.start_timer(200, &r, 2, 0);
  EXPECT_EQ(k.pending(), 2u);
  EXPECT_TRUE(k.cancel(a));
  EXPECT_FALSE(k.cancel(a)) << "twice";
  EXPECT_EQ(k.pending(), 1u);
  k.run_until(1000);
  ASSERT_EQ(r.log.size(), 1u);
  EXPECT_EQ(r.log[0].kind, 2u);
  EXPECT_FALSE(k.cancel(b)) << "after it ran";
  EXPECT_FALSE(k.cancel(TimerId{}));
  // The slot is reused; the old id must not cancel the new timer.
  const TimerId c = k.start_timer(2000, &r, 3, 0);
  EXPECT_FALSE(k.cancel(a));
  EXPECT_FALSE(k.cancel(b));
  EXPECT_EQ(k.pending(), 1u);
  k.run_until(3000);
  EXPECT_EQ(r.log.size(), 2u);
  EXPECT_FALSE(k.cancel(c));
}

// Shows stop() ends run_until after the current event and max_events bounds it.
TEST(KernelTest, StopAndBound) {
  class Stopper : public EventTarget {
   public:
    void on_event(Kernel& k, uint32_t, uint64_t) override {
      ++runs;
      k.schedule_in(10, this, 0, 0);
      if (runs == 5) k.stop();
    }
    int runs = 0;
  } s;
  Kernel k;
  k.schedule_at(0, &s, 0, 0);
  EXPECT_EQ(k.run_until(1'000'000), 5u);
  EXPECT_TRUE(k.stopped());
  EXPECT_EQ(k.now(), 40);
  EXPECT_EQ(k.run_until(1'000'000, 3), 3u);
  EXPECT_EQ(s.runs, 8);
}

// Shows PHOLD on the kernel reproduces ../shared/peers/README.md's validation
// values for 1,000,000 events (final time to the nanosecond, checksum), as
// the naive std::priority_queue reference does.
TEST(PholdTest, ReproducesPeerValidation) {
  phold::KernelPhold ours(1'000'000);
  ours.setup();
  const phold::Result r = ours.run();
  EXPECT_EQ(r.events, 1'000'000u);
  EXPECT_EQ(r.checksum, 512878529u);
  EXPECT_EQ(r.final_time_ns, phold::to_ns(61.142601221003886));
  EXPECT_EQ(r.final_time_ns, 61'142'601'221);
  EXPECT_DOUBLE_EQ(r.final_time_s, 61.142601221003886);

  phold::NaivePhold naive(1'000'000);
  naive.setup();
  const phold::Result n = naive.run();
  EXPECT_EQ(n.checksum, r.checksum);
  EXPECT_EQ(n.final_time_ns, r.final_time_ns);
}

}  // namespace
}  // namespace cellsim::sim
