// The capacity model's queue (sim/core_queue.h) under Poisson arrivals and
// exponential service is an M/M/c station: its mean waiting time must match
// Erlang C's formula.
#include <gtest/gtest.h>

#include <cmath>

#include "agents/rng.h"
#include "sim/core_queue.h"
#include "sim/kernel.h"

namespace cellsim::sim {
namespace {

// Erlang C: the probability an arrival waits, for c servers and offered load a = λ/μ.
double erlang_c(int c, double a) {
  double sum = 0, term = 1;  // term = a^k / k!
  for (int k = 0; k < c; ++k) {
    sum += term;
    term *= a / (k + 1);
  }
  const double top = term * c / (c - a);  // a^c / c! × c/(c − a)
  return top / (sum + top);
}

// An M/M/c station on the kernel: arrivals, a CoreQueue, exponential service.
class Station : public EventTarget {
 public:
  Station(int cores, double lambda_per_s, double mu_per_s, uint64_t customers)
      : queue_(cores), lambda_(lambda_per_s), mu_(mu_per_s), left_(customers), rng_(99) {}

  void on_event(Kernel& k, uint32_t kind, uint64_t arrived_ns) override {
    if (kind == kArrive) {
      if (--left_ > 0) k.schedule_in(draw_ns(lambda_), this, kArrive, 0);
      if (auto job = queue_.arrive(static_cast<TimeNs>(k.now()))) start(k, *job);
      return;
    }
    (void)arrived_ns;
    if (auto next = queue_.finish()) start(k, *next);
  }

  void start(Kernel& k, TimeNs arrived_ns) {
    wait_ns_ += static_cast<double>(k.now() - arrived_ns);
    ++served_;
    k.schedule_in(draw_ns(mu_), this, kDone, 0);
  }

  double mean_wait_s() const { return wait_ns_ / served_ / 1e9; }
  static constexpr uint32_t kArrive = 1, kDone = 2;

 private:
  TimeNs draw_ns(double rate_per_s) { return static_cast<TimeNs>(rng_.exponential(1e9 / rate_per_s)); }

  CoreQueue<TimeNs> queue_;
  double lambda_, mu_;
  uint64_t left_;
  agents::Rng rng_;
  double wait_ns_ = 0;
  uint64_t served_ = 0;
};

// Shows mean queueing delay = C(c, a) / (cμ − λ) within 5% at 80% and 90% load
// (6 million customers per case: the mean's sampling error is then ~1–2%).
TEST(QueueTheoryTest, MatchesErlangC) {
  struct Case {
    int cores;
    double lambda, mu;
  };
  for (const Case c : {Case{4, 3200, 1000}, Case{2, 1800, 1000}, Case{8, 7200, 1000}}) {
    Kernel k;
    Station st(c.cores, c.lambda, c.mu, 6'000'000);
    k.schedule_at(0, &st, Station::kArrive, 0);
    k.run_until(INT64_MAX);
    const double a = c.lambda / c.mu;
    const double expected_s = erlang_c(c.cores, a) / (c.cores * c.mu - c.lambda);
    EXPECT_NEAR(st.mean_wait_s(), expected_s, 0.05 * expected_s)
        << "c=" << c.cores << " λ=" << c.lambda << " μ=" << c.mu;
  }
}

}  // namespace
}  // namespace cellsim::sim
