// The attendance selection against a simple model: the worst meeting is the
// minimum under worse_than of all offered, the sample is the
// kAttendanceSampleSize smallest keys of all offered; whatever the order of
// offers and however the meetings are split into shards and merged.
#include "metrics/attendance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "metrics/results_io.h"

namespace cellsim::metrics {
namespace {

v1::AttendanceTrace trace(uint64_t seed, uint64_t cell, std::mt19937_64& rng) {
  v1::AttendanceTrace t;
  t.set_cell_id(cell);
  t.set_sample_key(attendance_sample_key(seed, cell));
  t.set_quorate_ppm(static_cast<uint32_t>(rng() % 5) * 250'000);  // many ties
  t.set_quorum_losses(static_cast<uint32_t>(rng() % 3));
  t.add_t_ms(0);
  t.add_present(static_cast<uint32_t>(rng() % 12));
  t.add_required(8);
  t.add_denominator(12);
  return t;
}

std::vector<uint64_t> sample_ids(const v1::AttendanceSamples& s) {
  std::vector<uint64_t> ids;
  for (const auto& t : s.sample()) ids.push_back(t.cell_id());
  return ids;
}

TEST(Attendance, SelectionMatchesModelUnderAnyOrderAndSharding) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int n = 1 + static_cast<int>(rng() % 90);
    std::vector<v1::AttendanceTrace> all;
    for (int c = 1; c <= n; ++c) all.push_back(trace(seed, static_cast<uint64_t>(c), rng));

    // The model.
    std::vector<v1::AttendanceTrace> by_key = all;
    std::sort(by_key.begin(), by_key.end(), [](const auto& a, const auto& b) {
      return std::make_pair(a.sample_key(), a.cell_id()) < std::make_pair(b.sample_key(), b.cell_id());
    });
    by_key.resize(std::min<size_t>(by_key.size(), kAttendanceSampleSize));
    const auto worst = *std::min_element(all.begin(), all.end(), worse_than);

    // Whole, in a shuffled order.
    std::shuffle(all.begin(), all.end(), rng);
    v1::AttendanceSamples whole;
    for (const auto& t : all) offer_attendance(t, &whole);
    EXPECT_EQ(whole.meetings_seen(), static_cast<uint64_t>(n));
    EXPECT_EQ(whole.worst().cell_id(), worst.cell_id());
    std::vector<uint64_t> model_ids;
    for (const auto& t : by_key) model_ids.push_back(t.cell_id());
    EXPECT_EQ(sample_ids(whole), model_ids);

    // Three shards, merged in some order.
    v1::AttendanceSamples shard[3];
    for (const auto& t : all) offer_attendance(t, &shard[t.cell_id() % 3]);
    v1::AttendanceSamples merged;
    for (int i : {2, 0, 1}) merge_attendance(shard[i], &merged);
    EXPECT_EQ(merged.SerializeAsString(), whole.SerializeAsString());
  }
}

TEST(Attendance, TypicalIsTheMedianByQuorateShare) {
  v1::AttendanceSamples s;
  EXPECT_EQ(typical_attendance(s), nullptr);
  for (uint32_t i = 0; i < 5; ++i) {
    v1::AttendanceTrace t;
    t.set_cell_id(i + 1);
    t.set_sample_key(100 - i);
    t.set_quorate_ppm(i * 200'000);  // 0, .2, .4, .6, .8
    offer_attendance(t, &s);
  }
  ASSERT_NE(typical_attendance(s), nullptr);
  EXPECT_EQ(typical_attendance(s)->quorate_ppm(), 400'000u);
  EXPECT_EQ(s.worst().quorate_ppm(), 0u);
}

// merge_results merges attendance by cell type.
TEST(Attendance, ResultsMergeCombinesCellTypes) {
  std::mt19937_64 rng(7);
  v1::Results a, b;
  for (v1::Results* r : {&a, &b}) {
    r->mutable_run()->set_scenario("s");
    r->mutable_run()->set_seed(7);
    r->mutable_run()->set_mode("sim");
    r->mutable_run()->set_shard_count(2);
  }
  a.mutable_run()->add_shards("0/2");
  b.mutable_run()->add_shards("1/2");
  v1::AttendanceSamples* x = a.add_attendance();
  x->set_cell_type("abroad");
  offer_attendance(trace(7, 1, rng), x);
  v1::AttendanceSamples* y = b.add_attendance();
  y->set_cell_type("abroad");
  offer_attendance(trace(7, 2, rng), y);
  v1::AttendanceSamples* z = b.add_attendance();
  z->set_cell_type("island");
  offer_attendance(trace(7, 3, rng), z);
  v1::Results out;
  std::string why;
  ASSERT_TRUE(merge_results(a, b, &out, &why)) << why;
  ASSERT_EQ(out.attendance_size(), 2);
  EXPECT_EQ(out.attendance(0).cell_type(), "abroad");
  EXPECT_EQ(out.attendance(0).meetings_seen(), 2u);
  EXPECT_EQ(out.attendance(1).cell_type(), "island");
}

}  // namespace
}  // namespace cellsim::metrics
