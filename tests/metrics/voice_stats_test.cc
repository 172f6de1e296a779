// Voice figures: the recorder's per-group sums, histogram and batches
// against a plain list of intervals (the model), their merge across shards
// equal to the whole, validation of impossible figures, and the readings of
// metrics/voice_stats.h.
#include "metrics/voice_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "metrics/recorder.h"
#include "metrics/results_io.h"

namespace cellsim::metrics {
namespace {

struct Interval {
  uint32_t cell_type, profile;
  uint64_t cell_id;
  SpeechSample s;
};

std::vector<Interval> random_intervals(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<Interval> out;
  for (size_t i = 0; i < n; ++i) {
    Interval iv{
        static_cast<uint32_t>(rng() % 2), static_cast<uint32_t>(rng() % 3), 1 + rng() % 40, {}};
    iv.s.frames_sent = 1 + rng() % 3000;
    iv.s.frames_played = rng() % (iv.s.frames_sent + 1);
    iv.s.frames_late = rng() % (iv.s.frames_sent - iv.s.frames_played + 1);
    iv.s.frame_ms = 20;
    iv.s.mouth_to_ear_ms = 100 + static_cast<double>(rng() % 900);
    iv.s.burst_r = 1 + static_cast<double>(rng() % 4000) / 1000;
    iv.s.mos = 1 + static_cast<double>(rng() % 3500) / 1000;
    out.push_back(iv);
  }
  return out;
}

v1::Results record(const std::vector<Interval>& ivs, uint64_t seed) {
  Recorder rec;
  rec.set_mos_threshold(3.6);
  rec.set_voice_target_share(0.9);
  rec.cell_type_index("a");
  rec.cell_type_index("b");
  rec.profile_index("p0");
  rec.profile_index("p1");
  rec.profile_index("p2");
  for (const Interval& iv : ivs) rec.record_speech(iv.cell_type, iv.profile, iv.cell_id, iv.s);
  v1::RunInfo run;
  run.set_scenario("voice");
  run.set_seed(seed);
  return rec.to_results(run);
}

const v1::Group* group(const v1::Results& r, const std::string& kind, const std::string& name) {
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == kind && (kind == kGroupOverall || g.name() == name)) return &g;
  }
  return nullptr;
}

// Every group's voice figures equal those summed from the intervals it
// holds; the share heard is speech time at MOS >= 3.6 over speech time.
TEST(VoiceStatsTest, GroupsHoldTheSumsOfTheirIntervals) {
  const std::vector<Interval> ivs = random_intervals(5, 400);
  const v1::Results r = record(ivs, 5);
  for (uint32_t t = 0; t < 2; ++t) {
    const v1::Group* g = group(r, kGroupCellType, t == 0 ? "a" : "b");
    ASSERT_NE(g, nullptr);
    uint64_t n = 0, sent = 0, played = 0, late = 0, ms = 0, ms_heard = 0;
    double m2e_frames = 0;
    std::vector<std::pair<double, uint64_t>> mos;  // (mos, frames)
    for (const Interval& iv : ivs) {
      if (iv.cell_type != t) continue;
      ++n;
      sent += iv.s.frames_sent;
      played += iv.s.frames_played;
      late += iv.s.frames_late;
      ms += iv.s.frames_sent * 20;
      if (iv.s.mos >= 3.6 - 1e-9) ms_heard += iv.s.frames_sent * 20;
      m2e_frames += iv.s.mouth_to_ear_ms * static_cast<double>(iv.s.frames_sent);
      mos.emplace_back(iv.s.mos, iv.s.frames_sent);
    }
    const v1::VoiceStats& v = g->voice();
    EXPECT_EQ(v.intervals(), n);
    EXPECT_EQ(v.frames_sent(), sent);
    EXPECT_EQ(v.frames_played(), played);
    EXPECT_EQ(v.frames_late(), late);
    EXPECT_EQ(v.speech_ms(), ms);
    EXPECT_EQ(v.speech_ms_at_threshold(), ms_heard);
    EXPECT_NEAR(*voice_share_heard(v), static_cast<double>(ms_heard) / static_cast<double>(ms),
                1e-12);
    EXPECT_NEAR(*voice_mouth_to_ear_ms(v), m2e_frames / static_cast<double>(sent), 1e-3);
    EXPECT_NEAR(*voice_loss_percent(v),
                100.0 * static_cast<double>(sent - played) / static_cast<double>(sent), 1e-9);
    // The 10th percentile of MOS per frame of speech, from the model.
    std::sort(mos.begin(), mos.end());
    uint64_t seen = 0, rank = static_cast<uint64_t>(0.1 * static_cast<double>(sent));
    double p10 = 0;
    for (const auto& [m, f] : mos) {
      seen += f;
      if (seen > rank) {
        p10 = m;
        break;
      }
    }
    EXPECT_NEAR(*voice_mos_quantile(v, 0.1), p10, 0.01) << "cell type " << t;
    EXPECT_EQ(v.mos_threshold_milli(), 3600u);
    EXPECT_EQ(v.target_share_milli(), 900u);
    uint64_t batch_ms = 0;
    for (const v1::VoiceBatch& b : v.batches()) batch_ms += b.speech_ms();
    EXPECT_EQ(batch_ms, ms) << "every interval of a cell lands in its cell's batch";
  }
}

// Merging the results of two halves of the intervals gives the whole's
// voice figures exactly (sums, histogram, batches).
TEST(VoiceStatsTest, MergeOfHalvesEqualsTheWhole) {
  const std::vector<Interval> ivs = random_intervals(9, 300);
  std::vector<Interval> odd, even;
  for (const Interval& iv : ivs) (iv.cell_id % 2 ? odd : even).push_back(iv);
  const v1::Results whole = record(ivs, 9);
  v1::Results merged;
  std::string why;
  ASSERT_TRUE(merge_results(record(odd, 9), record(even, 9), &merged, &why)) << why;
  const v1::Group* a = group(whole, kGroupOverall, "");
  const v1::Group* b = group(merged, kGroupOverall, "");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->voice().SerializeAsString(), b->voice().SerializeAsString())
      << a->voice().DebugString() << "\nvs\n"
      << b->voice().DebugString();
}

// Figures no run can produce are refused by name; so is merging voice of
// different thresholds.
TEST(VoiceStatsTest, ImpossibleFiguresAreRefused) {
  const v1::Results good = record(random_intervals(3, 50), 3);
  std::string why;
  ASSERT_TRUE(validate_results(good, &why)) << why;

  v1::Results bad = good;
  v1::VoiceStats* v = bad.mutable_groups(0)->mutable_voice();
  v->set_frames_played(v->frames_sent() + 1);
  EXPECT_FALSE(validate_results(bad, &why));
  EXPECT_NE(why.find("voice frames played"), std::string::npos) << why;

  bad = good;
  v = bad.mutable_groups(0)->mutable_voice();
  v->set_speech_ms_at_threshold(v->speech_ms() + 1);
  EXPECT_FALSE(validate_results(bad, &why));
  EXPECT_NE(why.find("speech_ms_at_threshold"), std::string::npos) << why;

  bad = good;
  *bad.mutable_groups(0)->mutable_voice()->add_batches() = good.groups(0).voice().batches(0);
  EXPECT_FALSE(validate_results(bad, &why));
  EXPECT_NE(why.find("repeats"), std::string::npos) << why;

  v1::Results other = record(random_intervals(4, 50), 3);
  for (v1::Group& g : *other.mutable_groups()) g.mutable_voice()->set_mos_threshold_milli(3100);
  v1::Results out;
  EXPECT_FALSE(merge_results(good, other, &out, &why));
  EXPECT_TRUE(why.find("MOS thresholds") != std::string::npos) << why;
}

// Nothing heard reads as nothing, not as zero.
TEST(VoiceStatsTest, NoSpeechHasNoFigures) {
  const v1::VoiceStats empty;
  EXPECT_FALSE(voice_share_heard(empty));
  EXPECT_FALSE(voice_mos_quantile(empty, 0.1));
  EXPECT_FALSE(voice_mouth_to_ear_ms(empty));
  EXPECT_FALSE(voice_loss_percent(empty));
}

}  // namespace
}  // namespace cellsim::metrics
