// Voice in the simulated world against closed forms: on links with a fixed
// delay, no jitter and independent loss, a listener loses a datagram frame
// with probability 1 − (1 − p_up)(1 − p_down) and hears each frame after
// packetisation + look-ahead + both one-way delays + the jitter buffer;
// in-band frames are never lost on such links (TCP repairs them) and are
// only late; the MOS is the E-model's at those figures.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "agents/voice.h"
#include "metrics/results_io.h"
#include "metrics/voice_stats.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::sim {
namespace {

// One profile: 50 ms each way, no jitter, fat pipes, loss `loss_good` per
// packet and direction, independent (the chain never leaves the good state).
std::string scenario_text(const char* transport, double loss) {
  return std::string(R"pb(
           name: "voice"
           question: "test"
           seed: 7
           duration_min: 40
           server { nodes: 1 cores_per_node: 4 }
           media { bitrate_kbps: 8 frame_ms: 20 transport:)pb") +
         transport + R"pb(}
                          profiles { name: "fixed" base_one_way_ms: 50
             bandwidth_down_kbps: 100000 bandwidth_up_kbps: 100000
             loss { p_good_to_bad: 0 p_bad_to_good: 1 loss_good: )pb" +
         std::to_string(loss) + R"pb(                                      loss_bad: 0 }
                                                                           }
  agendas { name: "m"
    items { title: "talk" duration_min: 20 floor_requests: 6 } }
  cell_types { name: "c" count: 4 members { official: 10 }
    links { profile: "fixed" share: 1 } attend_probability: 1
    join_offset_min { uniform { min: 0 max: 1 } } agenda: "m" start_window_min: 2 }
)pb";
}

v1::Results run_text(const std::string& text) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  std::string all;
  const bool parsed = scenario::parse_scenario(text, "inline", &s, &errors);
  for (const auto& e : errors) all += e.to_string() + "\n";
  EXPECT_TRUE(parsed) << all;
  SimulateOptions o;
  SimulateOutcome out = simulate(s, built_in_calibration(), o);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.violation_count, 0u) << "seed " << s.seed();
  return out.results;
}

const v1::VoiceStats& overall_voice(const v1::Results& r) {
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == metrics::kGroupOverall) return g.voice();
  }
  ADD_FAILURE() << "no overall group";
  return v1::VoiceStats::default_instance();
}

// The E-model's MOS for one interval at these figures (random loss).
double expected_mos(double mouth_to_ear_ms, double loss_percent) {
  agents::EModelParams p;
  p.Ie = 11;
  p.Bpl = 19;
  p.T = mouth_to_ear_ms;
  p.Ta = mouth_to_ear_ms;
  p.Tr = 2 * mouth_to_ear_ms;
  p.Ppl = loss_percent;
  return agents::mos_from_r(agents::emodel_r(p));
}

// 20 ms frame + 5 ms look-ahead + 2 × 50 ms + 60 ms buffer; the rest (the
// server's processing, serialisation at 100 Mb/s) is well under a ms.
constexpr double kMouthToEarMs = 185;

TEST(VoiceWorldTest, DatagramLossIsBothLinksIndependentLoss) {
  constexpr double p = 0.03;
  const v1::Results r = run_text(scenario_text("MEDIA_TRANSPORT_DATAGRAM", p));
  const v1::VoiceStats& v = overall_voice(r);
  ASSERT_GT(v.frames_sent(), 50000u) << "too little speech to test";
  const double expected = 1 - (1 - p) * (1 - p);  // 5.91%
  const double n = static_cast<double>(v.frames_sent());
  const double loss = *metrics::voice_loss_percent(v) / 100;
  // Frames of one interval share its uplink draws, so the effective sample
  // is smaller than n: allow 5 binomial standard errors of n / 10.
  const double se = std::sqrt(expected * (1 - expected) / (n / 10));
  EXPECT_NEAR(loss, expected, 5 * se) << "seed 7, frames " << v.frames_sent();
  EXPECT_EQ(v.frames_late(), 0u) << "no jitter: nothing arrives late";
  EXPECT_NEAR(*metrics::voice_mouth_to_ear_ms(v), kMouthToEarMs, 1.0);
  EXPECT_NEAR(*metrics::voice_burst_r(v), 1.0, 0.1) << "independent loss is random";
  // Each interval's own loss varies about the mean, so the median MOS sits
  // near the E-model's at the mean loss.
  EXPECT_NEAR(*metrics::voice_mos_quantile(v, 0.5), expected_mos(kMouthToEarMs, 100 * expected),
              0.15);
}

TEST(VoiceWorldTest, InBandFramesAreRepairedNotLost) {
  const v1::Results r = run_text(scenario_text("MEDIA_TRANSPORT_IN_BAND", 0.0));
  const v1::VoiceStats& v = overall_voice(r);
  ASSERT_GT(v.frames_sent(), 50000u);
  EXPECT_EQ(v.frames_played(), v.frames_sent()) << "no loss, no jitter: every frame in time";
  EXPECT_NEAR(*metrics::voice_mouth_to_ear_ms(v), kMouthToEarMs, 1.0);
  EXPECT_NEAR(*metrics::voice_mos_quantile(v, 0.5), expected_mos(kMouthToEarMs, 0), 0.02);
  EXPECT_NEAR(*metrics::voice_share_heard(v), 1.0, 1e-9);

  // With loss, TCP retransmits: a frame is late (beyond the 60 ms buffer,
  // a retransmission costs at least an RTT of 100 ms), not missing — but
  // for the few on a connection that broke under the retries.
  const v1::Results lossy = run_text(scenario_text("MEDIA_TRANSPORT_IN_BAND", 0.03));
  const v1::VoiceStats& w = overall_voice(lossy);
  const uint64_t missing = w.frames_sent() - w.frames_played();
  EXPECT_GT(w.frames_late(), 0u);
  EXPECT_GE(static_cast<double>(w.frames_late()), 0.99 * static_cast<double>(missing))
      << "in-band frames are late, not lost (seed 7)";
}

TEST(VoiceWorldTest, SameSeedSameVoice) {
  const std::string text = scenario_text("MEDIA_TRANSPORT_DATAGRAM", 0.02);
  v1::Results a = run_text(text), b = run_text(text);
  clear_wall_clock_fields(&a);
  clear_wall_clock_fields(&b);
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << "seed 7";
}

}  // namespace
}  // namespace cellsim::sim
