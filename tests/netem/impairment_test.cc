// netem::Impairment against closed forms: the Gilbert–Elliott stationary
// loss, base delay on an idle link, the drop-tail bound, serialisation
// spacing, order preservation and determinism; and netem::OutageSchedule
// against host::OutageSchedule's windows.
#include "netem/impairment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace cellsim::netem {
namespace {

constexpr TimeNs kMs = 1'000'000;

v1::NetworkProfile profile_with(double base_ms, uint32_t up_kbps, uint32_t down_kbps) {
  v1::NetworkProfile p;
  p.set_base_one_way_ms(base_ms);
  p.set_bandwidth_up_kbps(up_kbps);
  p.set_bandwidth_down_kbps(down_kbps);
  return p;
}

ImpairmentConfig config_for(const v1::NetworkProfile* p, Direction d = Direction::kUp,
                            uint64_t seed = 7, uint64_t member = 3) {
  ImpairmentConfig c;
  c.profile = p;
  c.direction = d;
  c.seed = seed;
  c.member = member;
  c.queue_limit_packets = kMaxQueueLimitPackets;
  c.queue_limit_bytes = uint64_t{1} << 40;
  return c;
}

TEST(Impairment, LossShareConvergesToGilbertElliottStationaryLoss) {
  v1::NetworkProfile p = profile_with(10, 0, 0);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.01);
  ge->set_p_bad_to_good(0.2);
  ge->set_loss_good(0.001);
  ge->set_loss_bad(0.5);
  const double pi_bad = 0.01 / (0.01 + 0.2);
  const double expected = (1 - pi_bad) * 0.001 + pi_bad * 0.5;  // ≈ 0.0248
  Impairment imp(config_for(&p));
  constexpr int kPackets = 400'000;
  int lost = 0;
  for (int i = 0; i < kPackets; ++i) {
    lost += imp.handle_packet(TimeNs{i} * kMs, 100).fate == Fate::kDropLoss;
  }
  const double share = static_cast<double>(lost) / kPackets;
  // Bursts make the variance larger than binomial: about 1/(p_bg) packets per
  // burst; 10% relative is well outside the noise at this count.
  EXPECT_NEAR(share, expected, 0.1 * expected) << "share " << share;
  EXPECT_EQ(imp.stats().dropped_loss, static_cast<uint64_t>(lost));
}

TEST(Impairment, IndependentLossShare) {
  v1::NetworkProfile p = profile_with(10, 0, 0);
  p.mutable_loss()->set_loss_good(0.05);  // never leaves the good state
  Impairment imp(config_for(&p));
  constexpr int kPackets = 200'000;
  int lost = 0;
  for (int i = 0; i < kPackets; ++i) {
    lost += imp.handle_packet(TimeNs{i} * kMs, 100).fate == Fate::kDropLoss;
  }
  const double sd = std::sqrt(0.05 * 0.95 / kPackets);
  EXPECT_NEAR(static_cast<double>(lost) / kPackets, 0.05, 5 * sd);
}

TEST(Impairment, IdleLinkWithoutJitterDeliversAfterBaseDelay) {
  v1::NetworkProfile p = profile_with(50, 0, 0);  // unlimited bandwidth
  Impairment imp(config_for(&p));
  for (int i = 0; i < 100; ++i) {
    const TimeNs now = TimeNs{i} * 1000 * kMs;
    const Verdict v = imp.handle_packet(now, 1500);
    ASSERT_EQ(v.fate, Fate::kDeliver);
    EXPECT_EQ(v.deliver_at_ns - now, 50 * kMs);
  }
  // With bandwidth, an idle link adds exactly one serialisation time.
  v1::NetworkProfile q = profile_with(50, 1000, 1000);
  Impairment imp2(config_for(&q));
  const Verdict v = imp2.handle_packet(0, 1250);  // 10'000 bits at 1 Mbit/s = 10 ms
  ASSERT_EQ(v.fate, Fate::kDeliver);
  EXPECT_EQ(v.deliver_at_ns, 60 * kMs);
}

TEST(Impairment, SerialisationSpacingIsSizeOverBandwidth) {
  v1::NetworkProfile p = profile_with(20, 256, 64);
  for (Direction d : {Direction::kUp, Direction::kDown}) {
    const uint32_t kbps = d == Direction::kUp ? 256 : 64;
    Impairment imp(config_for(&p, d));
    constexpr uint32_t kSize = 1000;
    const TimeNs spacing_ns = static_cast<TimeNs>(uint64_t{kSize} * 8'000'000 / kbps);
    EXPECT_EQ(imp.serialisation_ns(kSize), spacing_ns);
    TimeNs previous = 0;
    for (int i = 0; i < 50; ++i) {  // a burst, all handed over at t = 0
      const Verdict v = imp.handle_packet(0, kSize);
      ASSERT_EQ(v.fate, Fate::kDeliver);
      EXPECT_EQ(v.deliver_at_ns, 20 * kMs + (i + 1) * spacing_ns);
      if (i > 0) {
        EXPECT_EQ(v.deliver_at_ns - previous, spacing_ns);
      }
      previous = v.deliver_at_ns;
    }
  }
}

TEST(Impairment, DropTailWhenThePacketBoundIsExceeded) {
  v1::NetworkProfile p = profile_with(5, 1000, 1000);  // 1 Mbit/s: 1250 B = 10 ms
  ImpairmentConfig c = config_for(&p);
  c.queue_limit_packets = 10;
  Impairment imp(c);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(imp.handle_packet(0, 1250).fate, Fate::kDeliver);
  EXPECT_EQ(imp.queued_packets(), 10u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(imp.handle_packet(0, 1250).fate, Fate::kDropQueue);
  // One serialisation time later one packet has left: exactly one more fits.
  EXPECT_EQ(imp.handle_packet(10 * kMs, 1250).fate, Fate::kDeliver);
  EXPECT_EQ(imp.handle_packet(10 * kMs, 1250).fate, Fate::kDropQueue);
  EXPECT_EQ(imp.stats().dropped_queue, 6u);
  // Once drained, the queue accepts again, and delivery follows the backlog.
  const Verdict v = imp.handle_packet(1000 * kMs, 1250);
  EXPECT_EQ(v.fate, Fate::kDeliver);
  EXPECT_EQ(v.deliver_at_ns, 1000 * kMs + 10 * kMs + 5 * kMs);
}

TEST(Impairment, DropTailWhenTheByteBoundIsExceeded) {
  v1::NetworkProfile p = profile_with(5, 100, 100);
  ImpairmentConfig c = config_for(&p);
  c.queue_limit_bytes = 3000;
  Impairment imp(c);
  EXPECT_EQ(imp.handle_packet(0, 1500).fate, Fate::kDeliver);
  EXPECT_EQ(imp.handle_packet(0, 1400).fate, Fate::kDeliver);
  EXPECT_EQ(imp.handle_packet(0, 101).fate, Fate::kDropQueue);  // 3001 > 3000
  EXPECT_EQ(imp.handle_packet(0, 100).fate, Fate::kDeliver);    // exactly 3000
  EXPECT_EQ(imp.queued_bytes(), 3000u);
}

TEST(Impairment, OrderPreservedUnderHeavyJitter) {
  v1::NetworkProfile p = profile_with(30, 2000, 2000);
  p.mutable_jitter_ms()->mutable_exponential()->set_mean(40);
  Impairment imp(config_for(&p));
  TimeNs last = 0;
  int reordered_draws = 0;  // deliveries held back by an earlier packet
  for (int i = 0; i < 5000; ++i) {
    const TimeNs now = TimeNs{i} * kMs;
    const Verdict v = imp.handle_packet(now, 200);
    ASSERT_EQ(v.fate, Fate::kDeliver);
    ASSERT_GE(v.deliver_at_ns, last);
    ASSERT_GE(v.deliver_at_ns, now + 30 * kMs);
    reordered_draws += v.deliver_at_ns == last;
    last = v.deliver_at_ns;
  }
  EXPECT_GT(reordered_draws, 0);  // the jitter would have reordered some
}

std::vector<Verdict> run(const v1::NetworkProfile& p, uint64_t seed, uint64_t member, Direction d,
                         int n) {
  Impairment imp(config_for(&p, d, seed, member));
  std::vector<Verdict> out;
  for (int i = 0; i < n; ++i) out.push_back(imp.handle_packet(TimeNs{i} * 3 * kMs, 700));
  return out;
}

v1::NetworkProfile noisy_profile() {
  v1::NetworkProfile p = profile_with(100, 512, 512);
  p.mutable_jitter_ms()->mutable_lognormal()->set_median(5);
  p.mutable_jitter_ms()->mutable_lognormal()->set_sigma(1);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.02);
  ge->set_p_bad_to_good(0.3);
  ge->set_loss_good(0.01);
  ge->set_loss_bad(0.6);
  return p;
}

bool same(const std::vector<Verdict>& a, const std::vector<Verdict>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].fate != b[i].fate || a[i].deliver_at_ns != b[i].deliver_at_ns) return false;
  }
  return true;
}

TEST(Impairment, SameInputsGiveSameVerdicts) {
  const v1::NetworkProfile p = noisy_profile();
  EXPECT_TRUE(same(run(p, 11, 4, Direction::kUp, 3000), run(p, 11, 4, Direction::kUp, 3000)));
  // Another seed, member or direction draws differently.
  EXPECT_FALSE(same(run(p, 11, 4, Direction::kUp, 3000), run(p, 12, 4, Direction::kUp, 3000)));
  EXPECT_FALSE(same(run(p, 11, 4, Direction::kUp, 3000), run(p, 11, 5, Direction::kUp, 3000)));
  EXPECT_FALSE(same(run(p, 11, 4, Direction::kUp, 3000), run(p, 11, 4, Direction::kDown, 3000)));
}

TEST(Impairment, LossDecisionsDependOnPacketIndexNotTiming) {
  const v1::NetworkProfile p = noisy_profile();
  Impairment a(config_for(&p)), b(config_for(&p));
  for (int i = 0; i < 3000; ++i) {
    // Different arrival times (b: bursts, irregular) and sizes within bounds.
    const Verdict va = a.handle_packet(TimeNs{i} * 10 * kMs, 100);
    const Verdict vb = b.handle_packet(TimeNs{i / 7} * 77 * kMs + i, 100 + i % 900);
    ASSERT_EQ(va.fate == Fate::kDropLoss, vb.fate == Fate::kDropLoss) << "packet " << i;
  }
}

TEST(Impairment, OutageDropsEverythingInsideTheWindow) {
  v1::NetworkProfile p = profile_with(10, 0, 0);
  OutageSchedule outages(nullptr, 1, 0, 0);
  outages.add_window(100 * kMs, 200 * kMs);
  ImpairmentConfig up = config_for(&p, Direction::kUp), down = config_for(&p, Direction::kDown);
  up.outages = down.outages = &outages;
  Impairment iu(up), id(down);
  for (TimeNs t = 0; t < 300 * kMs; t += kMs) {
    const bool in = t >= 100 * kMs && t < 200 * kMs;
    EXPECT_EQ(iu.handle_packet(t, 100).fate, in ? Fate::kDropOutage : Fate::kDeliver) << t;
    EXPECT_EQ(id.handle_packet(t, 100).fate, in ? Fate::kDropOutage : Fate::kDeliver) << t;
  }
  EXPECT_EQ(iu.stats().dropped_outage, 100u);
}

TEST(OutageSchedule, RandomProcessMatchesItsMeansAndMergesScheduledWindows) {
  v1::OutageProcess process;
  process.set_mean_up_s(20);
  process.mutable_down_s()->mutable_constant()->set_value(5);
  OutageSchedule s(&process, 3, 9, 0);
  // Down share of an up-exp(20 s)/down-5 s process: 5 / 25.
  constexpr TimeNs kStepNs = 100 * kMs;
  constexpr int kSteps = 200'000;  // 20'000 s
  int down = 0;
  TimeNs until = 0;
  for (int i = 0; i < kSteps; ++i) down += s.down_at(TimeNs{i} * kStepNs, &until);
  EXPECT_NEAR(static_cast<double>(down) / kSteps, 0.2, 0.02);

  OutageSchedule m(nullptr, 3, 9, 0);
  m.add_window(10 * kMs, 20 * kMs);
  m.add_window(15 * kMs, 40 * kMs);
  ASSERT_TRUE(m.down_at(12 * kMs, &until));
  EXPECT_EQ(until, 40 * kMs);
  EXPECT_FALSE(m.down_at(40 * kMs, &until));
}

}  // namespace
}  // namespace cellsim::netem
