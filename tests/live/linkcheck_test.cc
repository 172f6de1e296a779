// `cellsim linkcheck` (live/linkcheck.h): the model's side against closed
// forms, and, where this process may create namespaces, the link model
// against the kernel's TCP through the packet emulator on a dense GEO
// workload (bounded: 4 connections, 20 s, all on loopback-only namespaces).
#include "live/linkcheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include <unistd.h>

#include "netem/netns.h"

namespace cellsim::live {
namespace {

v1::NetworkProfile geo() {
  v1::NetworkProfile p;
  p.set_name("geo");
  p.set_base_one_way_ms(280);
  p.mutable_jitter_ms()->mutable_lognormal()->set_median(30);
  p.mutable_jitter_ms()->mutable_lognormal()->set_sigma(0.6);
  p.set_bandwidth_down_kbps(4096);
  p.set_bandwidth_up_kbps(384);
  auto* ge = p.mutable_loss();
  ge->set_p_good_to_bad(0.006);
  ge->set_p_bad_to_good(0.2);
  ge->set_loss_good(0.005);
  ge->set_loss_bad(0.4);
  p.set_rto_min_ms(200);
  return p;
}

// Shows the model's side on a lossless constant-delay link: every frame
// delivered, one-way latency the base delay plus serialisation, heartbeats
// the round trip; counts as the schedule's.
TEST(LinkCheck, ModelOnALosslessLinkGivesTheBaseDelays) {
  v1::NetworkProfile p;
  p.set_name("flat");
  p.set_base_one_way_ms(50);
  LinkCheckOptions o;
  o.profiles = {&p};
  o.connections = 3;
  o.duration_s = 10;
  LinkCheckResult r;
  run_linkcheck_model(o, &r);
  ASSERT_EQ(r.profiles.size(), 1u);
  const LinkCheckSide& m = r.profiles[0].model;
  EXPECT_EQ(m.media.delivered, 3u * 10 * 1000 / o.media_ms);
  EXPECT_EQ(m.probe.delivered, 3u * 10 * 1000 / o.probe_ms);
  EXPECT_EQ(m.heartbeat.delivered, 3u * 10 * 1000 / o.heartbeat_ms);
  EXPECT_EQ(m.media.lost + m.probe.lost + m.heartbeat.lost, 0u);
  EXPECT_NEAR(m.probe.quantile_ms(0.5), 50, 0.01);
  EXPECT_NEAR(m.media.quantile_ms(1.0), 50, 0.01);
  EXPECT_NEAR(m.heartbeat.quantile_ms(0.99), 100, 0.01);
  EXPECT_EQ(m.down_retransmissions + m.up_retransmissions, 0u);
}

// Shows the link model matches the kernel's TCP through the emulator on a
// lossy GEO link carrying a voice stream: medians within 10% and p90
// within 20% for announcements and media (thousands of samples each);
// nothing lost. The kernel's figures come from real sockets, so this test
// fails when the model drifts from what Linux does.
TEST(LinkCheck, ModelMatchesTheKernelOnADenseGeoLink) {
  std::string why;
  if (!netem::packet_mode_available(&why)) GTEST_SKIP() << "packet mode unavailable: " << why;
  const v1::NetworkProfile p = geo();
  LinkCheckOptions o;
  o.profiles = {&p};
  o.connections = 4;
  o.duration_s = 20;
  o.drain_s = 15;
  LinkCheckResult r;
  std::string error;
  ASSERT_TRUE(run_linkcheck(o, &r, &error)) << error;
  const LinkCheckSide& m = r.profiles[0].model;
  const LinkCheckSide& k = r.profiles[0].kernel;
  EXPECT_EQ(k.media.lost + k.probe.lost, 0u);
  for (auto [model, kernel, name] : {std::tuple{&m.media, &k.media, "media"},
                                     std::tuple{&m.probe, &k.probe, "probe"}}) {
    ASSERT_GT(kernel->delivered, 300u) << name;
    const double p50 = kernel->quantile_ms(0.5), p90 = kernel->quantile_ms(0.9);
    EXPECT_NEAR(model->quantile_ms(0.5), p50, 0.1 * p50) << name << "\n" << format_linkcheck(r);
    EXPECT_NEAR(model->quantile_ms(0.9), p90, 0.2 * p90) << name << "\n" << format_linkcheck(r);
  }
  for (const std::string& n : netem::our_namespaces()) {
    pid_t pid;
    EXPECT_FALSE(netem::parse_namespace_pid(n, &pid) && pid == getpid()) << n << " left behind";
  }
}

}  // namespace
}  // namespace cellsim::live
