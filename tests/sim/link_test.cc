// The link model: one-way delays follow the profile's configured
// distribution (Kolmogorov–Smirnov), delivery stays in order, serialisation
// follows the bandwidth, and loss turns into retransmission delay.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "agents/distribution.h"
#include "sim/link.h"

namespace cellsim::sim {
namespace {

v1::NetworkProfile profile(const v1::Distribution& jitter) {
  v1::NetworkProfile p;
  p.set_name("p");
  p.set_base_one_way_ms(100);
  *p.mutable_jitter_ms() = jitter;
  p.set_bandwidth_down_kbps(0);  // no serialisation
  p.set_bandwidth_up_kbps(0);
  p.set_rto_min_ms(200);
  return p;
}

// Shows the jitter a link adds (delay − base) passes a KS test at the 1%
// level against each kind of configured distribution.
TEST(LinkTest, DelaysFollowConfiguredDistribution) {
  std::vector<v1::Distribution> dists(6);
  dists[0].mutable_exponential()->set_mean(20);
  dists[1].mutable_lognormal()->set_median(15);
  dists[1].mutable_lognormal()->set_sigma(0.6);
  dists[2].mutable_uniform()->set_min(5);
  dists[2].mutable_uniform()->set_max(80);
  dists[3].mutable_pareto()->set_scale(3);
  dists[3].mutable_pareto()->set_shape(2.5);
  auto* e = dists[4].mutable_empirical();
  for (auto [q, v] : {std::pair{0.0, 1.0}, {0.5, 10.0}, {0.9, 40.0}, {1.0, 200.0}}) {
    auto* pt = e->add_points();
    pt->set_quantile(q);
    pt->set_value(v);
  }
  dists[5].mutable_normal()->set_mean(50);
  dists[5].mutable_normal()->set_stddev(5);
  constexpr int kN = 20000;
  for (size_t i = 0; i < dists.size(); ++i) {
    SCOPED_TRACE("distribution " + dists[i].ShortDebugString());
    const v1::NetworkProfile p = profile(dists[i]);
    LinkDirection link(&p, 0, agents::Rng(3, agents::StreamKind::kLinkUp, i));
    std::vector<double> jitter_ms;
    for (int k = 0; k < kN; ++k) {
      const TimeNs sent = TimeNs{k} * 10 * kNsPerS;  // far apart: order never binds
      jitter_ms.push_back(static_cast<double>(link.transmit(sent, 100, 0) - sent) / 1e6 - 100);
    }
    std::sort(jitter_ms.begin(), jitter_ms.end());
    double d_max = 0;
    for (int k = 0; k < kN; ++k) {
      const double f = agents::cdf(dists[i], jitter_ms[k]);
      d_max = std::max({d_max, f - double(k) / kN, double(k + 1) / kN - f});
    }
    EXPECT_LT(d_max, 1.628 / std::sqrt(double(kN))) << "KS statistic";
  }
}

// Shows frames sent back to back are delivered in order and spaced by their
// serialisation time at the link's bandwidth.
TEST(LinkTest, InOrderAndSerialised) {
  v1::Distribution jitter;
  jitter.mutable_exponential()->set_mean(30);
  v1::NetworkProfile p = profile(jitter);
  LinkDirection link(&p, 400, agents::Rng(4, agents::StreamKind::kLinkUp, 1));  // 400 kbps
  TimeNs last = 0;
  for (int k = 0; k < 1000; ++k) {
    const TimeNs at = link.transmit(TimeNs{k} * kNsPerMs, 1000, 0);
    EXPECT_GE(at, last);
    last = at;
  }
  // 1000 frames of 1052 wire bytes at 400 kbps take 21.04 s to serialise.
  EXPECT_GE(last, static_cast<TimeNs>(21.04 * kNsPerS));
}

// Shows Gilbert–Elliott loss adds whole retransmission timeouts, and no loss
// adds nothing.
TEST(LinkTest, LossBecomesRetransmissionDelay) {
  v1::Distribution none;
  none.mutable_constant()->set_value(0);
  v1::NetworkProfile p = profile(none);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.05);
  ge->set_p_bad_to_good(0.5);
  ge->set_loss_good(0.0);
  ge->set_loss_bad(0.5);
  LinkDirection link(&p, 0, agents::Rng(5, agents::StreamKind::kLinkUp, 1));
  int64_t retransmissions = 0;
  constexpr int kN = 50000;
  for (int k = 0; k < kN; ++k) {
    const TimeNs sent = TimeNs{k} * 100 * kNsPerS;
    const TimeNs extra = link.transmit(sent, 100, 0) - sent - 100 * kNsPerMs;
    // r losses of one packet cost RTO × (1 + 2 + ... + 2^(r-1)) = 200 ms × (2^r − 1).
    const int64_t units = extra / (200 * kNsPerMs);
    ASSERT_EQ(extra % (200 * kNsPerMs), 0) << "whole RTOs";
    ASSERT_EQ(units & (units + 1), 0) << "doubling RTOs";
    retransmissions += static_cast<int64_t>(std::log2(double(units + 1)));
  }
  // Every transmission (first or again) steps the chain: the share lost is
  // the stationary bad share × loss in bad = 0.05/0.55 × 0.5 ≈ 4.5%.
  const double lost_share = double(retransmissions) / double(kN + retransmissions);
  EXPECT_NEAR(lost_share, 0.05 / 0.55 * 0.5, 0.004);
}

}  // namespace
}  // namespace cellsim::sim
