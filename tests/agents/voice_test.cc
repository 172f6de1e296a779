// agents/voice.h: the G.107 E-model against the Recommendation's reference
// value and a published table of delay bounds, Ie,eff by hand, the MOS
// mapping, BurstR on Gilbert chains, and the speech meter against a
// brute-force model of its jitter buffer.
#include "agents/voice.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace cellsim::agents {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;

// A uniform double in [0, 1) from the top 53 bits: the same sequence on
// every standard library (std::uniform_real_distribution is not).
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

std::string seed_note(uint64_t seed) { return "seed " + std::to_string(seed); }

EModelParams with_delay(double ta_ms) {
  EModelParams p;
  p.Ta = ta_ms;
  return p;
}

// ---------------------------------------------------------------------------
// The E-model.

// Shows: every input at its G.107 (06/2015) Table 3 default gives the
// Recommendation's reference rating, R = 93.2 (§7.7), and MOS(93.2) = 4.41.
TEST(EModelTest, DefaultsGiveTheReferenceRating) {
  EXPECT_NEAR(emodel_r(EModelParams{}), 93.2, 0.05);
  EXPECT_NEAR(mos_from_r(93.2), 4.41, 0.005);  // 4.4091 by (B-4)
}

// The delay impairment Id of the model at a one-way mouth-to-ear delay, for
// a G.711 call without distortion: R(delay 0) − R(delay), other inputs at
// their defaults. `echo_loss_db` < 0 means perfect echo control (echo-free:
// only Idd); otherwise both ends' echo loss EL, so that talker echo is
// attenuated by SLR + RLR + EL (TELR) and T = Ta = delay, Tr = 2·delay.
double delay_impairment(double delay_ms, double echo_loss_db) {
  EModelParams zero;
  EModelParams at;
  at.Ta = delay_ms;
  if (echo_loss_db >= 0) {
    zero.TELR = at.TELR = at.sLR + at.rLR + echo_loss_db;
    at.T = delay_ms;
    at.Tr = 2 * delay_ms;
  }
  return emodel_r(zero) - emodel_r(at);
}

// Published delay bounds: Telektronikk 2/3.2001 (the "Internet Traffic
// Engineering" issue), the Alcatel article on the E-model quality of
// packetized phone calls, §4.1 "Quality Bounds", Table 3 "Tolerable mean
// one-way mouth-to-ear delay TM2E bounds when there is no packet loss in
// the case of perfect echo control (EL=inf) and an echo loss of 50 dB",
// p. 330 of the issue (read at fliphtml5.com/cuwft/dvva/Internet_Traffic_
// Engineering/330; p. 325 gives the talker echo's attenuation SLR + RLR +
// EL). Each bound is the delay at which R falls to 70, "the bound for
// traditional quality", from "Rint,G.711 ... about 94" minus the codec's Ie.
// Rows (codec: EL = inf, EL = 50 dB, in ms): G.711 400, 291; G.728 16 kb/s
// 322, 243; G.726 40 kb/s 375, 276; G.723.1 5.3 kb/s 219, 131; 6.3 kb/s
// 251, 187; G.729 294, 223; GSM-EFR 342, 256; AMR 4.75 kb/s 197, 72;
// AMR 5.9 kb/s 239, 172.
struct DelayBound {
  const char* codec;
  double perfect_echo_control_ms;
  double echo_loss_50db_ms;
};
constexpr DelayBound kTable3[] = {
    {"G.711", 400, 291},        {"G.728 16k", 322, 243},    {"G.726 40k", 375, 276},
    {"G.723.1 5.3k", 219, 131}, {"G.723.1 6.3k", 251, 187}, {"G.729", 294, 223},
    {"GSM-EFR", 342, 256},      {"AMR 4.75k", 197, 72},     {"AMR 5.9k", 239, 172},
};

// Shows: the delay and echo terms (Idd, Idte, Idle) reproduce the published
// bounds without depending on the codec or on the article's Rint: for each
// codec both of its bounds mean R = 70, so the model's Id must be the same
// at the two delays. Tolerance 0.4 R: the bounds are rounded to 1 ms (the
// slope of Id there is at most 0.2 R/ms, so ≤ 0.1 R per bound) and the
// article does not state WEPL (default 110 dB here; EL1 + EL2 = 100 dB
// would move the echoed side by 0.2 R).
TEST(EModelTest, PublishedDelayBoundsMeanEqualDelayImpairment) {
  for (const DelayBound& b : kTable3) {
    SCOPED_TRACE(b.codec);
    EXPECT_NEAR(delay_impairment(b.perfect_echo_control_ms, -1),
                delay_impairment(b.echo_loss_50db_ms, 50), 0.4);
  }
}

// Shows: for G.711 (Ie = 0, G.113 Appendix I) the published bounds put R at
// 70 from an intrinsic rating "about 94": the model's Id at 400 ms echo-free
// and at 291 ms with 50 dB echo loss is 94 − 70 = 24. Tolerance 0.5 R, as
// precise as "about 94" (the article's E-model edition; G.107 (06/2015)
// gives 93.2).
TEST(EModelTest, PublishedG711BoundsAreTwentyFourOfDelayImpairment) {
  EXPECT_NEAR(delay_impairment(400, -1), 24, 0.5);
  EXPECT_NEAR(delay_impairment(291, 50), 24, 0.5);
}

// Shows: Ie,eff (7-29) enters R exactly as the hand-computed formula for
// G.113 Appendix I codec values — G.729A Ie = 11, Bpl = 19.0; G.711 with PLC
// Ie = 0, Bpl = 25.1 — at known Ppl and BurstR.
TEST(EModelTest, EffectiveEquipmentImpairmentByHand) {
  struct Case {
    double ie, bpl, ppl, burst_r, ie_eff;  // ie_eff computed by hand
  };
  const Case cases[] = {
      {11, 19.0, 0, 1, 11},                      // no loss: Ie itself
      {11, 19.0, 1, 1, 11 + 84.0 * 1 / 20},      // 15.2
      {11, 19.0, 2, 1, 11 + 84.0 * 2 / 21},      // 19.0
      {11, 19.0, 5, 1, 11 + 84.0 * 5 / 24},      // 28.5
      {0, 25.1, 1, 1, 95.0 * 1 / 26.1},          // 3.640
      {0, 25.1, 5, 1, 95.0 * 5 / 30.1},          // 15.781
      {0, 25.1, 5, 2, 95.0 * 5 / (2.5 + 25.1)},  // 17.210: bursty loss weighs more
  };
  const double r0 = emodel_r(EModelParams{});
  for (const Case& c : cases) {
    EModelParams p;
    p.Ie = c.ie;
    p.Bpl = c.bpl;
    p.Ppl = c.ppl;
    p.BurstR = c.burst_r;
    SCOPED_TRACE("Ie " + std::to_string(c.ie) + " Ppl " + std::to_string(c.ppl));
    EXPECT_NEAR(emodel_r(p), r0 - c.ie_eff, 1e-9);
  }
}

// Shows: R does not move with delay up to mT = 100 ms (no echo) and falls
// strictly beyond it; falls with Ppl; and, at a given Ppl > 0, falls as the
// loss gets burstier (BurstR > 1).
TEST(EModelTest, RatingFallsWithDelayLossAndBurstiness) {
  EXPECT_DOUBLE_EQ(emodel_r(with_delay(100)), emodel_r(with_delay(0)));
  for (double ta = 100; ta < 800; ta += 10) {
    EXPECT_GT(emodel_r(with_delay(ta)), emodel_r(with_delay(ta + 10))) << "Ta " << ta;
  }
  EModelParams p;
  p.Ie = 11;
  p.Bpl = 19;
  for (double ppl = 0; ppl < 40; ppl += 0.5) {
    EModelParams q = p;
    p.Ppl = ppl;
    q.Ppl = ppl + 0.5;
    EXPECT_GT(emodel_r(p), emodel_r(q)) << "Ppl " << ppl;
  }
  p.Ppl = 3;
  for (double burst = 1; burst < 5; burst += 0.25) {
    EModelParams q = p;
    p.BurstR = burst;
    q.BurstR = burst + 0.25;
    EXPECT_GT(emodel_r(p), emodel_r(q)) << "BurstR " << burst;
  }
  // Echo: a louder talker echo (lower TELR) at a long echo path costs R.
  EModelParams echo;
  echo.T = echo.Ta = 150;
  echo.Tr = 300;
  EModelParams louder = echo;
  louder.TELR = 45;
  EXPECT_GT(emodel_r(echo), emodel_r(louder));
}

// ---------------------------------------------------------------------------
// MOS.

// Shows: (B-4) at its published points — G.107 Annex B, Table B.1, the MOS
// at the lower R limit of the user-satisfaction categories: R 90 → 4.34,
// R 70 → 3.60 (given to two decimals; tolerance 0.005) — and the ends of
// the scale: 1 below R = 0, 4.5 above R = 100.
TEST(MosTest, AnnexBPointsAndEnds) {
  EXPECT_NEAR(mos_from_r(90), 4.34, 0.005);
  EXPECT_NEAR(mos_from_r(70), 3.60, 0.005);
  EXPECT_NEAR(mos_from_r(50), 1 + 1.75 - 50 * 10 * 50 * 7e-6, 1e-12);  // the cubic as written
  EXPECT_EQ(mos_from_r(-20), 1);
  EXPECT_EQ(mos_from_r(0), 1);
  EXPECT_DOUBLE_EQ(mos_from_r(100), 4.5);
  EXPECT_EQ(mos_from_r(140), 4.5);
}

// Shows: between R = 0 and 6.5, where the cubic dips to 0.989, MOS stays at
// the floor 1; above it the cubic; MOS never decreases with R and stays in
// [1, 4.5].
TEST(MosTest, FloorBelowSixAndAHalfAndMonotone) {
  for (double r = 0; r < 6.5; r += 0.1) EXPECT_EQ(mos_from_r(r), 1) << "R " << r;
  EXPECT_GT(mos_from_r(6.6), 1);
  double prev = mos_from_r(-10);
  for (double r = -10; r <= 120; r += 0.05) {
    const double mos = mos_from_r(r);
    EXPECT_GE(mos, prev) << "R " << r;
    EXPECT_GE(mos, 1);
    EXPECT_LE(mos, 4.5);
    prev = mos;
  }
}

// ---------------------------------------------------------------------------
// BurstR.

// A loss pattern of `n` frames from a Gilbert (two-state Markov) chain:
// p = P(lost | previous found), q = P(found | previous lost), starting in
// the stationary distribution.
std::vector<uint8_t> gilbert(uint64_t seed, size_t n, double p, double q) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> lost(n);
  bool state = uniform(rng) < p / (p + q);
  for (size_t i = 0; i < n; ++i) {
    lost[i] = state;
    state = state ? uniform(rng) >= q : uniform(rng) < p;
  }
  return lost;
}

// Shows: on 10⁶-frame Gilbert chains the estimate converges to 1/(p + q).
// Tolerance 2 % relative: the standard error of 1/(p̂ + q̂) is below 0.5 %
// for every (p, q) here.
TEST(BurstRatioTest, ConvergesOnGilbertChains) {
  struct Chain {
    double p, q;
  };
  const Chain chains[] = {{0.05, 0.3}, {0.02, 0.5}, {0.1, 0.6}, {0.01, 0.2}, {0.2, 0.4}};
  uint64_t seed = 1000;
  for (const Chain& c : chains) {
    ++seed;
    SCOPED_TRACE(seed_note(seed));
    const double expected = 1 / (c.p + c.q);
    EXPECT_NEAR(burst_ratio(gilbert(seed, 1'000'000, c.p, c.q)), expected, 0.02 * expected);
  }
}

// Shows: independent (Bernoulli) losses give BurstR = 1 — a Gilbert chain
// with q = 1 − p. Tolerance 2 %, as above.
TEST(BurstRatioTest, BernoulliLossIsRandom) {
  uint64_t seed = 2000;
  for (double loss : {0.01, 0.05, 0.2, 0.5}) {
    ++seed;
    SCOPED_TRACE(seed_note(seed));
    EXPECT_NEAR(burst_ratio(gilbert(seed, 1'000'000, loss, 1 - loss)), 1, 0.02);
  }
}

// Shows: the edge conventions stated in voice.h.
TEST(BurstRatioTest, EdgeConventions) {
  EXPECT_EQ(burst_ratio({}), 1);
  EXPECT_EQ(burst_ratio({0, 0, 0, 0}), 1);  // nothing lost
  EXPECT_EQ(burst_ratio({1, 1, 1}), 1);     // everything lost
  // Only the last frame lost: no transition leaves the lost state, q = 1;
  // p = 1/2 → 1/1.5.
  EXPECT_DOUBLE_EQ(burst_ratio({0, 0, 1}), 1 / 1.5);
  // Only the last frame found: p = 1; q = 1/2.
  EXPECT_DOUBLE_EQ(burst_ratio({1, 1, 0}), 1 / 1.5);
  // Alternating: p = q = 1, losses as spread out as they can be.
  EXPECT_DOUBLE_EQ(burst_ratio({0, 1, 0, 1, 0, 1}), 0.5);
  // One burst of 4 in 10: p = 1/5 (found→lost once in 5), q = 1/4
  // (lost→found once in 4) → 1/0.45.
  EXPECT_DOUBLE_EQ(burst_ratio({0, 0, 0, 1, 1, 1, 1, 0, 0, 0}), 1 / 0.45);
}

// ---------------------------------------------------------------------------
// The speech meter.

// The meter as voice.h specifies it, written out naively: a map from index
// to the first delay fed, the loss pattern built in full, BurstR from
// explicit pair counts, at least 1.
class BruteForceMeter {
 public:
  explicit BruteForceMeter(const VoiceSettings& s) : s_(s) {}
  void on_frame(uint64_t index, int64_t capture_ns, int64_t arrival_ns) {
    if (first_delay_ns_.count(index) != 0) return;
    const int64_t delay = arrival_ns - capture_ns;
    if (first_delay_ns_.empty()) {
      offset_ns_ = delay + static_cast<int64_t>(std::llround(s_.jitter_buffer_ms * 1e6));
    }
    first_delay_ns_[index] = delay;
  }
  SpeechResult finish(uint64_t sent) const {
    SpeechResult r;
    r.frames_sent = sent;
    r.frame_ms = s_.frame_ms;
    std::vector<uint8_t> lost(sent, 1);
    for (const auto& [index, delay] : first_delay_ns_) {
      if (index >= sent) continue;
      if (delay <= offset_ns_) {
        ++r.frames_played;
        lost[index] = 0;
      } else {
        ++r.frames_late;
      }
    }
    if (!first_delay_ns_.empty()) {
      r.mouth_to_ear_ms = s_.frame_ms + s_.lookahead_ms + offset_ns_ / 1e6;
    }
    r.loss_percent = sent == 0 ? 100 : 100.0 * (sent - r.frames_played) / sent;
    r.burst_r = std::max(1.0, reference_burst_ratio(lost));
    EModelParams p;
    p.T = p.Ta = r.mouth_to_ear_ms;
    p.Tr = 2 * r.mouth_to_ear_ms;
    p.Ie = s_.ie;
    p.Bpl = s_.bpl;
    p.Ppl = r.loss_percent;
    p.BurstR = r.burst_r;
    r.r = emodel_r(p);
    r.mos = std::clamp(mos_from_r(r.r), 1.0, 4.5);
    return r;
  }

 private:
  static double reference_burst_ratio(const std::vector<uint8_t>& lost) {
    const auto n_lost = std::count(lost.begin(), lost.end(), 1);
    if (n_lost == 0 || n_lost == static_cast<std::ptrdiff_t>(lost.size())) return 1;
    double count[2][2] = {{0, 0}, {0, 0}};  // [previous lost][this lost]
    for (size_t i = 1; i < lost.size(); ++i) count[lost[i - 1]][lost[i]] += 1;
    const double from_found = count[0][0] + count[0][1];
    const double from_lost = count[1][0] + count[1][1];
    const double p = from_found > 0 ? count[0][1] / from_found : 1;
    const double q = from_lost > 0 ? count[1][0] / from_lost : 1;
    return 1 / (p + q);
  }

  VoiceSettings s_;
  std::map<uint64_t, int64_t> first_delay_ns_;
  int64_t offset_ns_ = 0;
};

void expect_same(const SpeechResult& got, const SpeechResult& want) {
  EXPECT_EQ(got.frames_sent, want.frames_sent);
  EXPECT_EQ(got.frames_played, want.frames_played);
  EXPECT_EQ(got.frames_late, want.frames_late);
  EXPECT_DOUBLE_EQ(got.frame_ms, want.frame_ms);
  EXPECT_DOUBLE_EQ(got.mouth_to_ear_ms, want.mouth_to_ear_ms);
  EXPECT_DOUBLE_EQ(got.loss_percent, want.loss_percent);
  EXPECT_DOUBLE_EQ(got.burst_r, want.burst_r);
  EXPECT_DOUBLE_EQ(got.r, want.r);
  EXPECT_DOUBLE_EQ(got.mos, want.mos);
  EXPECT_DOUBLE_EQ(got.speech_ms(), static_cast<double>(want.frames_sent) * want.frame_ms);
}

struct Arrival {
  uint64_t index;
  int64_t capture_ns, arrival_ns;
};

// A random interval's arrivals: some frames never arrive (in bursts), the
// rest with a base delay plus jitter, some twice; fed in arrival order (so
// out of index order where jitter reorders them) or, at random, shuffled.
std::vector<Arrival> random_arrivals(std::mt19937_64& rng, uint64_t frames) {
  const int64_t frame_ns = 20 * kNsPerMs;
  const int64_t base_ns = static_cast<int64_t>(uniform(rng) * 200) * kNsPerMs;
  const double jitter_ms = uniform(rng) * 150;
  const double p_lose = uniform(rng) * 0.3, q_recover = 0.2 + uniform(rng) * 0.8;
  std::vector<Arrival> out;
  bool losing = false;
  for (uint64_t i = 0; i < frames; ++i) {
    losing = losing ? uniform(rng) >= q_recover : uniform(rng) < p_lose;
    if (losing) continue;
    const int64_t capture = static_cast<int64_t>(i) * frame_ns;
    const auto jitter = static_cast<int64_t>(uniform(rng) * uniform(rng) * jitter_ms * kNsPerMs);
    out.push_back({i, capture, capture + base_ns + jitter});
    if (uniform(rng) < 0.05) {  // a duplicate, arriving later or earlier
      const auto other = static_cast<int64_t>(uniform(rng) * jitter_ms * kNsPerMs);
      out.push_back({i, capture, capture + base_ns + other});
    }
  }
  if (uniform(rng) < 0.5) {
    std::stable_sort(out.begin(), out.end(), [](const Arrival& a, const Arrival& b) {
      return a.arrival_ns < b.arrival_ns;
    });
  } else {
    std::shuffle(out.begin(), out.end(), rng);
  }
  return out;
}

// Shows: on random seeded intervals (bursty loss, jitter that reorders,
// duplicates, shuffled feeding, frames_sent below, at or above the highest
// index fed, various buffers and codecs) the meter gives exactly what the
// brute-force model of voice.h's specification gives.
TEST(SpeechMeterTest, MatchesBruteForceModel) {
  uint64_t played = 0, late = 0, never_fed = 0, bursty = 0, duplicates = 0, reordered = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(seed_note(seed));
    std::mt19937_64 rng(seed);
    VoiceSettings s;
    s.jitter_buffer_ms = static_cast<double>(rng() % 121);
    s.lookahead_ms = static_cast<double>(rng() % 11);
    if (rng() % 2 == 0) {
      s.ie = 0;
      s.bpl = 25.1;
    }
    const uint64_t frames = 1 + rng() % 400;
    SpeechMeter meter(s);
    BruteForceMeter model(s);
    const std::vector<Arrival> arrivals = random_arrivals(rng, frames);
    std::vector<uint8_t> seen(frames, 0);
    uint64_t highest = 0;
    for (const Arrival& a : arrivals) {
      meter.on_frame(a.index, a.capture_ns, a.arrival_ns);
      model.on_frame(a.index, a.capture_ns, a.arrival_ns);
      duplicates += seen[a.index];
      seen[a.index] = 1;
      reordered += a.index < highest;
      highest = std::max(highest, a.index);
    }
    const uint64_t sent_choices[] = {frames, frames / 2, frames + rng() % 50};
    for (uint64_t sent : sent_choices) {
      SCOPED_TRACE("frames_sent " + std::to_string(sent));
      const SpeechResult got = meter.finish(sent);
      expect_same(got, model.finish(sent));
      EXPECT_LE(got.frames_played + got.frames_late, sent);
      EXPECT_GE(got.mos, 1);
      EXPECT_LE(got.mos, 4.5);
      EXPECT_GE(got.burst_r, 1);
      if (sent == frames) {
        played += got.frames_played;
        late += got.frames_late;
        never_fed += sent - got.frames_played - got.frames_late;
        bursty += got.burst_r > 1.5;
      }
    }
  }
  // The sequences do exercise every case.
  EXPECT_GT(played, 0u);
  EXPECT_GT(late, 1000u);
  EXPECT_GT(never_fed, 1000u);
  EXPECT_GT(bursty, 10u);
  EXPECT_GT(duplicates, 100u);
  EXPECT_GT(reordered, 1000u);
}

// Shows: nothing fed is rated as nothing heard — mouth-to-ear 0, loss
// 100 %, BurstR 1, and R as the E-model gives at Ppl = 100 with the codec's
// Ie and Bpl (not 0: Ie,eff stays below 95), MOS near 1.
TEST(SpeechMeterTest, NothingFed) {
  const VoiceSettings s;
  SpeechMeter meter(s);
  EXPECT_FALSE(meter.any());
  const SpeechResult r = meter.finish(50);
  EXPECT_EQ(r.frames_played, 0u);
  EXPECT_EQ(r.frames_late, 0u);
  EXPECT_EQ(r.mouth_to_ear_ms, 0);
  EXPECT_EQ(r.loss_percent, 100);
  EXPECT_EQ(r.burst_r, 1);
  EModelParams p;
  p.Ie = s.ie;
  p.Bpl = s.bpl;
  p.Ppl = 100;
  EXPECT_DOUBLE_EQ(r.r, emodel_r(p));
  EXPECT_NEAR(r.r, 93.206 - (11 + 84.0 * 100 / 119), 0.01);  // 11.6
  EXPECT_NEAR(r.mos, 1.06, 0.01);
  EXPECT_EQ(r.speech_ms(), 1000);
  // An empty interval: the same rating.
  EXPECT_EQ(meter.finish(0).loss_percent, 100);
}

// Shows: the first frame sets the playout offset (its delay + the buffer);
// a frame exactly at the deadline plays, one 1 ns after is late; the
// mouth-to-ear delay is frame + look-ahead + offset.
TEST(SpeechMeterTest, PlayoutDeadline) {
  VoiceSettings s;
  s.jitter_buffer_ms = 60;
  s.frame_ms = 20;
  s.lookahead_ms = 5;
  SpeechMeter meter(s);
  const int64_t f = 20 * kNsPerMs;
  meter.on_frame(0, 0, 30 * kNsPerMs);                  // delay 30: offset 90 ms
  meter.on_frame(1, f, f + 90 * kNsPerMs);              // at the deadline: played
  meter.on_frame(2, 2 * f, 2 * f + 90 * kNsPerMs + 1);  // 1 ns late
  meter.on_frame(3, 3 * f, 3 * f + 5 * kNsPerMs);       // early: played
  EXPECT_TRUE(meter.any());
  const SpeechResult r = meter.finish(4);
  EXPECT_EQ(r.frames_played, 3u);
  EXPECT_EQ(r.frames_late, 1u);
  EXPECT_DOUBLE_EQ(r.mouth_to_ear_ms, 20 + 5 + 90);
  EXPECT_DOUBLE_EQ(r.loss_percent, 25);
}

// Shows: with every frame after the first beyond the buffer, only the first
// plays; with a negative buffer even the first is late (loss 100 %), and
// the mouth-to-ear delay still reports the playout offset.
TEST(SpeechMeterTest, AllLate) {
  VoiceSettings s;
  s.jitter_buffer_ms = 40;
  SpeechMeter meter(s);
  meter.on_frame(0, 0, 10 * kNsPerMs);
  for (uint64_t i = 1; i < 10; ++i) {
    const int64_t c = static_cast<int64_t>(i) * 20 * kNsPerMs;
    meter.on_frame(i, c, c + 51 * kNsPerMs);
  }
  SpeechResult r = meter.finish(10);
  EXPECT_EQ(r.frames_played, 1u);
  EXPECT_EQ(r.frames_late, 9u);
  EXPECT_DOUBLE_EQ(r.loss_percent, 90);

  s.jitter_buffer_ms = -1;
  SpeechMeter none(s);
  for (uint64_t i = 0; i < 10; ++i) {
    const int64_t c = static_cast<int64_t>(i) * 20 * kNsPerMs;
    none.on_frame(i, c, c + 10 * kNsPerMs);
  }
  r = none.finish(10);
  EXPECT_EQ(r.frames_played, 0u);
  EXPECT_EQ(r.frames_late, 10u);
  EXPECT_DOUBLE_EQ(r.loss_percent, 100);
  EXPECT_DOUBLE_EQ(r.mouth_to_ear_ms, s.frame_ms + s.lookahead_ms + 9);
}

// Shows: the first copy fed decides; a later duplicate, timely or late,
// changes nothing (nor does a duplicate of the first frame move the offset).
TEST(SpeechMeterTest, DuplicatesIgnored) {
  VoiceSettings s;
  s.jitter_buffer_ms = 20;
  SpeechMeter meter(s);
  const int64_t f = 20 * kNsPerMs;
  meter.on_frame(0, 0, 50 * kNsPerMs);              // offset 70 ms
  meter.on_frame(0, 0, 10 * kNsPerMs);              // duplicate of the first
  meter.on_frame(1, f, f + 60 * kNsPerMs);          // played
  meter.on_frame(1, f, f + 200 * kNsPerMs);         // late duplicate: still played
  meter.on_frame(2, 2 * f, 2 * f + 80 * kNsPerMs);  // late
  meter.on_frame(2, 2 * f, 2 * f + 1 * kNsPerMs);   // timely duplicate: still late
  const SpeechResult r = meter.finish(3);
  EXPECT_EQ(r.frames_played, 2u);
  EXPECT_EQ(r.frames_late, 1u);
  EXPECT_DOUBLE_EQ(r.mouth_to_ear_ms, s.frame_ms + s.lookahead_ms + 70);
}

// Shows: frames_sent beyond the highest index fed counts the unfed tail as
// lost, in the loss pattern too (one trailing burst: BurstR from p and q);
// frames fed at or beyond frames_sent are not counted.
TEST(SpeechMeterTest, FramesSentBeyondAndBelowWhatWasFed) {
  const VoiceSettings s;
  SpeechMeter meter(s);
  for (uint64_t i = 0; i < 6; ++i) {
    const int64_t c = static_cast<int64_t>(i) * 20 * kNsPerMs;
    meter.on_frame(i, c, c + 40 * kNsPerMs);
  }
  SpeechResult r = meter.finish(10);  // found ×6, lost ×4
  EXPECT_EQ(r.frames_played, 6u);
  EXPECT_DOUBLE_EQ(r.loss_percent, 40);
  // p = 1/6 (one found → lost of six), q = 0 (the burst never ends) → 6.
  EXPECT_DOUBLE_EQ(r.burst_r, 6);
  EXPECT_DOUBLE_EQ(r.burst_r, burst_ratio({0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));

  r = meter.finish(4);
  EXPECT_EQ(r.frames_played, 4u);
  EXPECT_DOUBLE_EQ(r.loss_percent, 0);
  EXPECT_EQ(r.burst_r, 1);
}

// Shows: an index at or past kMaxSpeechFrames, or frames_sent past it, is a
// programmer error that stops the process (CELLSIM_ASSERT).
TEST(SpeechMeterDeathTest, BoundsAsserted) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  SpeechMeter meter(VoiceSettings{});
  EXPECT_DEATH(meter.on_frame(kMaxSpeechFrames, 0, 0), "index < kMaxSpeechFrames");
  EXPECT_DEATH((void)meter.finish(kMaxSpeechFrames + 1), "frames_sent <= kMaxSpeechFrames");
  meter.on_frame(kMaxSpeechFrames - 1, 0, 0);  // the last index is fine
  EXPECT_EQ(meter.finish(kMaxSpeechFrames).frames_played, 1u);
}

}  // namespace
}  // namespace cellsim::agents
