// The intervals of report/confidence.h against closed forms and simple
// models: Wilson's interval against published values and its coverage of a
// known binomial share; the batch quantile against a sorted vector and the
// pooled histogram; the cluster bootstrap widening with between-cell
// variation; pooling seeds keeping their batches apart.
#include "report/confidence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "report/verdict.h"

namespace cellsim::report {
namespace {

// Wilson's 95% interval for 8 of 10 and 0 of 20 (Newcombe 1998, table I:
// 0.4902-0.9433 and 0-0.1611).
TEST(ConfidenceTest, WilsonMatchesPublishedValues) {
  const Interval a = wilson(8, 10);
  EXPECT_NEAR(a.lo, 0.4902, 1e-4);
  EXPECT_NEAR(a.hi, 0.9433, 1e-4);
  EXPECT_DOUBLE_EQ(a.estimate, 0.8);
  const Interval b = wilson(0, 20);
  EXPECT_EQ(b.lo, 0.0);
  EXPECT_NEAR(b.hi, 0.1611, 1e-4);
  EXPECT_FALSE(wilson(0, 0).valid);
  EXPECT_EQ(wilson(5, 5).hi, 1.0);
}

// Over 4,000 binomial samples of 50 trials at p = 0.75 (Wilson's exact
// coverage there is 95.2%), the interval covers p in 94-96.5% of them.
TEST(ConfidenceTest, WilsonCoversAKnownShare) {
  std::mt19937_64 rng(7);
  std::binomial_distribution<int> draw(50, 0.75);
  int covered = 0;
  constexpr int kReplications = 4000;
  for (int i = 0; i < kReplications; ++i) {
    const Interval iv = wilson(static_cast<uint64_t>(draw(rng)), 50);
    covered += iv.lo <= 0.75 && 0.75 <= iv.hi;
  }
  const double coverage = static_cast<double>(covered) / kReplications;
  EXPECT_GE(coverage, 0.94);
  EXPECT_LE(coverage, 0.965);
}

// Batches of one group, each a list of values (us).
v1::Group group_of(const std::vector<std::vector<int64_t>>& batches, uint64_t seed = 1) {
  v1::Group g;
  g.set_kind("cell_type");
  g.set_name("t");
  metrics::Histogram all;
  for (size_t b = 0; b < batches.size(); ++b) {
    metrics::Histogram h;
    for (int64_t v : batches[b]) h.record(v), all.record(v);
    v1::CellBatch* cb = g.add_batches();
    cb->set_seed(seed);
    cb->set_index(static_cast<uint32_t>(b));
    v1::LatencyMetric* m = cb->add_latencies();
    m->set_name("join_latency");
    h.to_proto(m->mutable_histogram());
  }
  v1::LatencyMetric* m = g.add_latencies();
  m->set_name("join_latency");
  all.to_proto(m->mutable_histogram());
  return g;
}

// The quantile of weighted batches equals the pooled histogram's
// (group_quantile_ms) and, within the histogram's resolution, the sorted
// vector's rank max(1, floor(q n + 0.5)); a batch weighted 2 counts twice.
TEST(ConfidenceTest, BatchQuantileMatchesPooledHistogramAndModel) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(std::log(200'000.0), 1.0);
  std::vector<std::vector<int64_t>> batches(7);
  for (auto& b : batches) {
    for (int i = 0; i < 300; ++i) b.push_back(static_cast<int64_t>(d(rng)));
  }
  const v1::Group g = group_of(batches);
  ClusteredSamples s;
  ASSERT_TRUE(ClusteredSamples::from_group(g, "join_latency", &s));
  EXPECT_EQ(s.clusters(), 7u);
  EXPECT_EQ(s.samples(), 2100u);
  for (double q : {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    double pooled = 0;
    ASSERT_TRUE(group_quantile_ms(g, "join_latency", q, &pooled));
    EXPECT_DOUBLE_EQ(s.quantile_ms(q), pooled) << q;
  }
  std::vector<uint32_t> w(7, 0);
  w[2] = 2;  // batch 2 twice: the same quantiles as batch 2 alone
  std::vector<int64_t> sorted = batches[2];
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::floor(q * 600 + 0.5)));
    const double model_ms = static_cast<double>(sorted[(rank + 1) / 2 - 1]) / 1000.0;
    EXPECT_NEAR(s.quantile_ms(q, w), model_ms, model_ms * 0.002) << q;
  }
}

// Cells that differ (each batch's values scaled by its own factor) widen
// the interval against batches drawn from one law, and the interval holds
// its estimate; with under kMinBatches batches there is no interval.
TEST(ConfidenceTest, ClusterBootstrapWidensWithBetweenCellVariation) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> d(std::log(100'000.0), 0.5);
  std::lognormal_distribution<double> cell_factor(0.0, 0.8);
  std::vector<std::vector<int64_t>> same(20), differ(20);
  for (size_t b = 0; b < 20; ++b) {
    const double f = cell_factor(rng);
    for (int i = 0; i < 200; ++i) {
      const double v = d(rng);
      same[b].push_back(static_cast<int64_t>(v));
      differ[b].push_back(static_cast<int64_t>(v * f));
    }
  }
  ClusteredSamples s_same, s_differ;
  ASSERT_TRUE(ClusteredSamples::from_group(group_of(same), "join_latency", &s_same));
  ASSERT_TRUE(ClusteredSamples::from_group(group_of(differ), "join_latency", &s_differ));
  const Interval a = quantile_interval(s_same, 0.5);
  const Interval b = quantile_interval(s_differ, 0.5);
  ASSERT_TRUE(a.valid && b.valid);
  EXPECT_LE(a.lo, a.estimate);
  EXPECT_GE(a.hi, a.estimate);
  EXPECT_GT((b.hi - b.lo) / b.estimate, 4 * (a.hi - a.lo) / a.estimate);
  const Interval again = quantile_interval(s_differ, 0.5);
  EXPECT_EQ(again.lo, b.lo);  // a fixed generator: the same interval
  ClusteredSamples two;
  ASSERT_TRUE(ClusteredSamples::from_group(group_of({same[0], same[1]}), "join_latency", &two));
  EXPECT_FALSE(quantile_interval(two, 0.5).valid);
  EXPECT_GT(quantile_interval(two, 0.5).estimate, 0);
}

// The cluster bootstrap's 95% interval of the median covers the law's
// median in 88-99% of 200 replications of 30 heterogeneous cells (a
// percentile bootstrap over 30 clusters undercovers a little).
TEST(ConfidenceTest, ClusterBootstrapCoversAKnownMedian) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> cell_shift(0.0, 0.3);
  std::normal_distribution<double> within(0.0, 0.5);
  // log value = log(1e5) + shift + within: the median of the mixture is 1e5.
  int covered = 0;
  constexpr int kReplications = 200;
  for (int r = 0; r < kReplications; ++r) {
    std::vector<std::vector<int64_t>> batches(30);
    for (auto& b : batches) {
      const double shift = cell_shift(rng);
      for (int i = 0; i < 40; ++i) {
        b.push_back(static_cast<int64_t>(std::exp(std::log(1e5) + shift + within(rng))));
      }
    }
    ClusteredSamples s;
    ASSERT_TRUE(ClusteredSamples::from_group(group_of(batches), "join_latency", &s));
    const Interval iv = quantile_interval(s, 0.5, kConfidenceLevel, 400);
    covered += iv.lo <= 100.0 && 100.0 <= iv.hi;
  }
  EXPECT_GE(covered, kReplications * 88 / 100);
  EXPECT_LE(covered, kReplications * 99 / 100);
}

// Paired batches (the same cells run twice, every value 10% slower the
// second time): the joint bootstrap's error of the log ratio is near 0,
// where the unpaired errors carry the between-cell spread.
TEST(ConfidenceTest, PairedBootstrapCancelsWhatTheRunsShare) {
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> d(std::log(100'000.0), 0.5);
  std::lognormal_distribution<double> cell_factor(0.0, 0.8);
  std::vector<std::vector<int64_t>> a(20), b(20);
  for (size_t k = 0; k < 20; ++k) {
    const double f = cell_factor(rng);
    for (int i = 0; i < 200; ++i) {
      const double v = d(rng) * f;
      a[k].push_back(static_cast<int64_t>(v));
      b[k].push_back(static_cast<int64_t>(v * 1.1));
    }
  }
  ClusteredSamples sa, sb;
  ASSERT_TRUE(ClusteredSamples::from_group(group_of(a), "join_latency", &sa));
  ASSERT_TRUE(ClusteredSamples::from_group(group_of(b), "join_latency", &sb));
  ASSERT_EQ(sa.keys(), sb.keys());
  const double paired = paired_log_ratio_se(sa, sb, 0.5);
  const double unpaired = std::hypot(log_quantile_se(sa, 0.5), log_quantile_se(sb, 0.5));
  EXPECT_LT(paired, 0.01);
  EXPECT_GT(unpaired, 10 * paired);
  EXPECT_NEAR(std::log(sb.quantile_ms(0.5) / sa.quantile_ms(0.5)), std::log(1.1), 0.02);
}

TEST(ConfidenceTest, MoreNeededScalesWithTheSquareOfHalfWidthOverGap) {
  Interval iv;
  iv.valid = true;
  iv.estimate = 0.85, iv.lo = 0.75, iv.hi = 0.95;
  EXPECT_NEAR(more_needed(iv, 0.90), 4.0, 1e-9);  // the side facing the target 0.1, gap 0.05
  EXPECT_NEAR(more_needed(iv, 0.50), 1.0, 1e-9);  // already clear: at least 1
  EXPECT_EQ(more_needed(iv, 0.85), 0.0);          // on the target
}

// Pooling two seeds adds the counters and keeps each seed's batches.
TEST(ConfidenceTest, PoolingSeedsKeepsTheirBatchesApart) {
  v1::Results a, b;
  *a.add_groups() = group_of({{1000, 2000}, {3000}}, 1);
  *b.add_groups() = group_of({{4000}, {5000, 6000}}, 2);
  a.mutable_groups(0)->mutable_quorum()->set_meetings(3);
  b.mutable_groups(0)->mutable_quorum()->set_meetings(4);
  v1::Results pooled;
  std::string why;
  ASSERT_TRUE(pool_seeds({&a, &b}, &pooled, &why)) << why;
  ASSERT_EQ(pooled.groups_size(), 1);
  EXPECT_EQ(pooled.groups(0).quorum().meetings(), 7u);
  EXPECT_EQ(pooled.groups(0).batches_size(), 4);
  ClusteredSamples s;
  ASSERT_TRUE(ClusteredSamples::from_group(pooled.groups(0), "join_latency", &s));
  EXPECT_EQ(s.clusters(), 4u);
  EXPECT_EQ(s.samples(), 6u);
}

}  // namespace
}  // namespace cellsim::report
