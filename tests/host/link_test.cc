// The link model: one-way delays follow the profile's configured
// distribution (Kolmogorov–Smirnov), delivery stays in order, serialisation
// follows the bandwidth, and loss turns into retransmission delay.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "agents/distribution.h"
#include "agents/agent.h"
#include "host/link.h"

namespace cellsim::host {
namespace {

using agents::kNsPerMs;
using agents::kNsPerS;

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

// Shows a stream (the simulator's media) is exactly the frames it stands
// for: against a model link given the same frames one by one with
// transmit(), same seed, every control frame in between arrives at the same
// time, the stream holds them back (in order, bandwidth, lossy), and a
// replaced stream's owner cannot stop its successor.
TEST(LinkTest, StreamEqualsItsFramesSentOneByOne) {
  v1::Distribution jitter;
  jitter.mutable_lognormal()->set_median(30);
  jitter.mutable_lognormal()->set_sigma(0.6);
  v1::NetworkProfile p = profile(jitter);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.02);
  ge->set_p_bad_to_good(0.2);
  ge->set_loss_good(0.01);
  ge->set_loss_bad(0.5);
  constexpr TimeNs kPeriod = 20 * kNsPerMs;
  constexpr uint32_t kBytes = 80;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    LinkDirection streamed(&p, 256, agents::Rng(seed, agents::StreamKind::kLinkDown, 1));
    LinkDirection model(&p, 256, agents::Rng(seed, agents::StreamKind::kLinkDown, 1));
    LinkDirection quiet(&p, 256, agents::Rng(seed, agents::StreamKind::kLinkDown, 1));
    streamed.start_stream(7, 1 * kNsPerS, kPeriod, kBytes, 800 * kNsPerMs);
    TimeNs next_frame = 1 * kNsPerS;
    TimeNs held_back = 0;
    for (int k = 0; k < 200; ++k) {
      const TimeNs t = 1 * kNsPerS + k * 333 * kNsPerMs + 7;  // between stream frames
      for (; next_frame < t; next_frame += kPeriod) model.transmit(next_frame, kBytes, 800 * kNsPerMs);
      const TimeNs a = streamed.transmit(t, 200, 800 * kNsPerMs);
      ASSERT_EQ(a, model.transmit(t, 200, 800 * kNsPerMs)) << "frame " << k;
      held_back += a - quiet.transmit(t, 200, 800 * kNsPerMs);
    }
    EXPECT_GT(held_back, 0);
    EXPECT_EQ(streamed.stream_frames(), static_cast<uint64_t>((next_frame - 1 * kNsPerS) / kPeriod));
    streamed.stop_stream(8, next_frame + 5 * kNsPerS, 0);  // not its owner: still streaming
    EXPECT_TRUE(streamed.streaming());
    streamed.stop_stream(7, next_frame, 0);
    EXPECT_FALSE(streamed.streaming());
  }
}

}  // namespace
}  // namespace cellsim::host
