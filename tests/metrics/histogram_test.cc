// Histogram: HdrHistogram's layout and index arithmetic, quantiles against a
// sorted-sample model, exact figures, edge values, merging, proto round trips
// and the rejection of corrupt protos.
#include "metrics/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace cellsim::metrics {
namespace {

constexpr double kQuantiles[] = {0.0,  0.001, 0.01, 0.1,   0.25,   0.5,
                                 0.75, 0.9,   0.99, 0.999, 0.9999, 1.0};

// The sample of rank max(1, floor(q n + 0.5)) in sorted `v`.
int64_t model_quantile(const std::vector<int64_t>& sorted, double q) {
  const uint64_t n = sorted.size();
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n) + 0.5);
  rank = std::clamp<uint64_t>(rank, 1, n);
  return sorted[rank - 1];
}

struct Distribution {
  const char* name;
  std::function<int64_t(std::mt19937_64&)> draw;
};

std::vector<Distribution> distributions() {
  return {
      {"uniform 0..1e6",
       [](std::mt19937_64& r) { return std::uniform_int_distribution<int64_t>(0, 1'000'000)(r); }},
      {"lognormal median 50 ms",
       [](std::mt19937_64& r) {
         return static_cast<int64_t>(
             std::lognormal_distribution<double>(std::log(50'000.0), 1.0)(r));
       }},
      {"exponential mean 2 ms",
       [](std::mt19937_64& r) {
         return static_cast<int64_t>(std::exponential_distribution<double>(1 / 2000.0)(r));
       }},
      {"small 0..3000 (exact buckets)",
       [](std::mt19937_64& r) { return std::uniform_int_distribution<int64_t>(0, 3000)(r); }},
      {"pareto heavy tail, overflowing",
       [](std::mt19937_64& r) {
         const double u = std::uniform_real_distribution<double>(1e-12, 1.0)(r);
         return static_cast<int64_t>(std::min(1e15, 100.0 * std::pow(u, -1 / 0.6)));
       }},
  };
}

// The defaults are HdrHistogram_c's layout for (1, 3.6e9, 3): hdr_init's test expects 23552.
TEST(HistogramLayoutTest, DefaultsMatchHdrHistogram) {
  Histogram h;
  EXPECT_EQ(h.layout().lowest_discernible, 1);
  EXPECT_EQ(h.layout().highest_trackable, 3'600'000'000);
  EXPECT_EQ(h.layout().significant_digits, 3u);
  EXPECT_EQ(h.layout().unit, "us");
  EXPECT_EQ(h.sub_bucket_count(), 2048);
  EXPECT_EQ(h.bucket_count(), 22);
  EXPECT_EQ(h.counts_len(), 23552);
}

// sub_bucket_count = 2^ceil(log2(2 x 10^digits)) for every digit count.
TEST(HistogramLayoutTest, SubBucketCountPerDigits) {
  const int32_t expected[] = {32, 256, 2048, 32768, 262144};
  for (uint32_t d = 1; d <= 5; ++d) {
    Histogram h(HistogramLayout{1, 1'000'000, d, "us"});
    EXPECT_EQ(h.sub_bucket_count(), expected[d - 1]) << d << " digits";
  }
}

// Layouts HdrHistogram_c refuses are refused, with a reason.
TEST(HistogramLayoutTest, InvalidLayoutsRefused) {
  std::string why;
  EXPECT_FALSE(Histogram::layout_valid({0, 1000, 3, "us"}, &why));
  EXPECT_NE(why.find("lowest_discernible"), std::string::npos) << why;
  EXPECT_FALSE(Histogram::layout_valid({1, 1000, 0, "us"}, &why));
  EXPECT_FALSE(Histogram::layout_valid({1, 1000, 6, "us"}, &why));
  EXPECT_NE(why.find("significant_digits"), std::string::npos) << why;
  EXPECT_FALSE(Histogram::layout_valid({10, 19, 3, "us"}, &why));
  EXPECT_NE(why.find("highest_trackable"), std::string::npos) << why;
  EXPECT_FALSE(Histogram::layout_valid({int64_t{1} << 55, INT64_MAX, 5, "us"}, &why));
  EXPECT_TRUE(Histogram::layout_valid({1, INT64_MAX, 5, "us"}, &why));
  EXPECT_TRUE(Histogram::layout_valid({1000, 2000, 1, "ns"}, &why));
}

// Equivalent ranges as in HdrHistogram's own tests (unit 1 and unit 1024).
TEST(HistogramLayoutTest, EquivalentRangesMatchHdrHistogram) {
  Histogram h;
  EXPECT_EQ(h.lowest_equivalent_value(10007), 10000);
  EXPECT_EQ(h.lowest_equivalent_value(10009), 10008);
  EXPECT_EQ(h.size_of_equivalent_value_range(1), 1);
  EXPECT_EQ(h.size_of_equivalent_value_range(2047), 1);
  EXPECT_EQ(h.size_of_equivalent_value_range(2500), 2);
  EXPECT_EQ(h.size_of_equivalent_value_range(8191), 4);
  EXPECT_EQ(h.size_of_equivalent_value_range(8192), 8);
  EXPECT_EQ(h.size_of_equivalent_value_range(10000), 8);
  Histogram k(HistogramLayout{1024, 3'600'000'000, 3, "us"});
  EXPECT_EQ(k.highest_equivalent_value(8180 * 1024), 8183 * 1024 + 1023);
  EXPECT_EQ(k.highest_equivalent_value(8191 * 1024), 8191 * 1024 + 1023);
  EXPECT_EQ(k.highest_equivalent_value(8193 * 1024), 8199 * 1024 + 1023);
  EXPECT_EQ(k.highest_equivalent_value(9995 * 1024), 9999 * 1024 + 1023);
  EXPECT_EQ(k.highest_equivalent_value(10007 * 1024), 10007 * 1024 + 1023);
  EXPECT_EQ(k.highest_equivalent_value(10008 * 1024), 10015 * 1024 + 1023);
}

// index_of and value_at_index are inverse over every index, and indices increase with values.
TEST(HistogramLayoutTest, IndexArithmeticIsConsistent) {
  for (const HistogramLayout& layout :
       {HistogramLayout{}, HistogramLayout{1000, 100'000'000'000, 2, "ns"},
        HistogramLayout{1, 1'000'000, 5, "us"}}) {
    Histogram h(layout);
    const int32_t top = h.index_of(layout.highest_trackable);
    ASSERT_LT(top, h.counts_len());
    for (int32_t i = 0; i <= top; ++i) {
      const int64_t v = h.value_at_index(i);
      ASSERT_EQ(h.index_of(v), i) << "index " << i;
      ASSERT_EQ(h.lowest_equivalent_value(v), v);
      const int64_t next = h.highest_equivalent_value(v) + 1;
      if (i < top) {
        ASSERT_EQ(h.index_of(next), i + 1) << "index " << i;
      }
    }
  }
}

// value_at_quantile is HdrHistogram's answer for the model's sample, within 0.1%; figures exact.
TEST(HistogramModelTest, QuantilesMatchSortedSamples) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    for (const Distribution& dist : distributions()) {
      SCOPED_TRACE("seed " + std::to_string(seed) + ", " + dist.name);
      std::mt19937_64 rng(seed);
      const size_t n = 1 + static_cast<size_t>(rng() % 20'000);
      Histogram h;
      std::vector<int64_t> model;
      uint64_t overflows = 0;
      __int128 sum = 0;
      for (size_t i = 0; i < n; ++i) {
        const int64_t raw = dist.draw(rng);
        h.record(raw);
        const int64_t v = std::clamp<int64_t>(raw, 0, h.layout().highest_trackable);
        overflows += raw > h.layout().highest_trackable ? 1 : 0;
        sum += v;
        model.push_back(v);
      }
      std::sort(model.begin(), model.end());
      ASSERT_EQ(h.total_count(), n);
      EXPECT_EQ(h.min(), model.front());
      EXPECT_EQ(h.max(), model.back());
      EXPECT_EQ(h.sum(), static_cast<int64_t>(sum));
      EXPECT_EQ(h.overflows(), overflows);
      EXPECT_DOUBLE_EQ(h.mean(), static_cast<double>(h.sum()) / static_cast<double>(n));
      for (double q : kQuantiles) {
        SCOPED_TRACE("q " + std::to_string(q));
        const int64_t exact = model_quantile(model, q);
        const int64_t got = h.value_at_quantile(q);
        if (q == 0.0) {
          EXPECT_EQ(got, h.lowest_equivalent_value(exact));
          EXPECT_LE(got, exact);
          EXPECT_LE(static_cast<double>(exact - got), 0.001 * static_cast<double>(exact));
        } else {
          EXPECT_EQ(got, h.highest_equivalent_value(exact));
          EXPECT_GE(got, exact);
          EXPECT_LE(static_cast<double>(got - exact), 0.001 * static_cast<double>(exact));
        }
      }
    }
  }
}

// Quantiles of a tiny known set, rank by rank (HdrHistogram's rounding of q x n).
TEST(HistogramModelTest, SmallKnownSet) {
  Histogram h;
  for (int64_t v : {10, 20, 30, 40}) h.record(v);
  EXPECT_EQ(h.value_at_quantile(0.0), 10);
  EXPECT_EQ(h.value_at_quantile(0.1), 10);    // rank max(1, 0) = 1
  EXPECT_EQ(h.value_at_quantile(0.25), 10);   // rank 1
  EXPECT_EQ(h.value_at_quantile(0.5), 20);    // rank 2
  EXPECT_EQ(h.value_at_quantile(0.625), 30);  // rank floor(2.5 + 0.5) = 3
  EXPECT_EQ(h.value_at_quantile(0.99), 40);
  EXPECT_EQ(h.value_at_quantile(1.0), 40);
  EXPECT_EQ(h.value_at_quantile(7.0), 40);   // clamped
  EXPECT_EQ(h.value_at_quantile(-1.0), 10);  // clamped
  EXPECT_EQ(h.value_at_quantile(std::nan("")), 10);
  EXPECT_EQ(h.sum(), 100);
  EXPECT_DOUBLE_EQ(h.mean(), 25.0);
}

// An empty histogram reports zeros.
TEST(HistogramEdgeTest, EmptyIsAllZero) {
  Histogram h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.sum(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.value_at_quantile(0.5), 0);
  h.record(5, 0);  // a count of 0 records nothing
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.min(), 0);
}

// 0, 1, highest, above highest (overflow, clamped) and negative (clamped to 0) values.
TEST(HistogramEdgeTest, ZeroOneHighestAndOverflow) {
  Histogram h;
  const int64_t top = h.layout().highest_trackable;
  h.record(0);
  h.record(1);
  h.record(top);
  h.record(top + 1);
  h.record(INT64_MAX);
  h.record(-5);
  EXPECT_EQ(h.total_count(), 6u);
  EXPECT_EQ(h.overflows(), 2u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), top);
  EXPECT_EQ(h.sum(), 1 + 3 * top);
  EXPECT_EQ(h.count_at_value(0), 2u);
  EXPECT_EQ(h.count_at_value(1), 1u);
  EXPECT_EQ(h.count_at_value(top), 3u);
  EXPECT_EQ(h.value_at_quantile(0.0), 0);
  EXPECT_EQ(h.value_at_quantile(0.3), 0);
  EXPECT_EQ(h.value_at_quantile(0.5), 1);
  EXPECT_EQ(h.value_at_quantile(1.0), h.highest_equivalent_value(top));
  EXPECT_GE(h.value_at_quantile(1.0), top);
  v1::Histogram p;
  h.to_proto(&p);
  Histogram back;
  std::string why;
  ASSERT_TRUE(Histogram::from_proto(p, &back, &why)) << why;
  EXPECT_TRUE(back == h);
}

// Counts past UINT32_MAX widen their chunk and stay exact; the sum saturates.
TEST(HistogramEdgeTest, HugeCountsWidenAndSumSaturates) {
  Histogram h;
  const size_t empty_bytes = h.memory_bytes();
  h.record(1000, UINT32_MAX);
  const size_t narrow_bytes = h.memory_bytes();
  h.record(1000, 5);
  h.record(1001, 7);
  EXPECT_EQ(h.count_at_value(1000), uint64_t{UINT32_MAX} + 5);
  EXPECT_EQ(h.count_at_value(1001), 7u);
  EXPECT_EQ(h.total_count(), uint64_t{UINT32_MAX} + 12);
  EXPECT_GT(narrow_bytes, empty_bytes);
  EXPECT_GT(h.memory_bytes(), narrow_bytes);
  EXPECT_EQ(h.value_at_quantile(1.0), 1001);
  Histogram s;
  s.record(3'000'000'000, uint64_t{1} << 40);
  s.record(3'000'000'000, uint64_t{1} << 40);
  EXPECT_EQ(s.sum(), INT64_MAX);
  Histogram t;
  t.record(3'000'000'000, uint64_t{1} << 41);
  EXPECT_TRUE(s == t);
}

// lowest_discernible > 1 groups values in units of 2^floor(log2(lowest)), as HdrHistogram does.
TEST(HistogramEdgeTest, CoarseUnits) {
  Histogram h(HistogramLayout{1000, 60'000'000'000, 2, "ns"});  // unit 512 ns
  h.record(100);
  h.record(999);
  h.record(1000);
  h.record(123'456'789);
  EXPECT_EQ(h.count_at_value(0), 1u);    // 100 shares index 0 with 0..511
  EXPECT_EQ(h.count_at_value(512), 2u);  // 999 and 1000 share 512..1023
  EXPECT_EQ(h.min(), 100);
  EXPECT_EQ(h.value_at_quantile(0.5), 1023);
  EXPECT_LE(h.value_at_quantile(1.0) - 123'456'789, 123'456'789 / 128);
}

// Memory with the latency defaults: small when empty, tens of KiB for a broad distribution.
TEST(HistogramMemoryTest, DefaultsStaySmall) {
  Histogram h;
  const size_t empty = h.memory_bytes();
  EXPECT_LT(empty, 2 * 1024u);
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(std::log(200'000.0), 1.0);  // ~4 decades
  for (int i = 0; i < 200'000; ++i) h.record(static_cast<int64_t>(d(rng)));
  const size_t broad = h.memory_bytes();
  EXPECT_LT(broad, 64 * 1024u);
  Histogram dense;
  for (int32_t i = 0; i < dense.counts_len(); ++i) {
    const int64_t v = dense.value_at_index(i);
    if (v <= dense.layout().highest_trackable) dense.record(v);
  }
  EXPECT_LT(dense.memory_bytes(), 100 * 1024u);
  std::cout << "[ memory  ] empty " << empty << " B, lognormal 200k samples " << broad
            << " B, every index " << dense.memory_bytes() << " B\n";
}

// Returns histograms of the two halves of a seeded sample set and of all of it.
struct Halves {
  Histogram a, b, all;
};
Halves halves(uint64_t seed, size_t n) {
  Halves h;
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(std::log(30'000.0), 1.5);
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = static_cast<int64_t>(d(rng)) * (i % 97 == 0 ? 100'000 : 1);
    (i % 2 == 0 ? h.a : h.b).record(v);
    h.all.record(v);
  }
  return h;
}

// Merging the histograms of two halves gives the histogram of all, bucket for bucket.
TEST(HistogramMergeTest, HalvesMergeIntoWhole) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Halves h = halves(seed, 10'000);
    Histogram m = h.a;
    ASSERT_TRUE(m.merge(h.b));
    EXPECT_TRUE(m == h.all);
    EXPECT_GT(h.all.overflows(), 0u);
    v1::Histogram pm, pall;
    m.to_proto(&pm);
    h.all.to_proto(&pall);
    EXPECT_EQ(pm.SerializeAsString(), pall.SerializeAsString());
  }
}

// Merge is commutative and associative, and merging an empty histogram changes nothing.
TEST(HistogramMergeTest, CommutativeAndAssociative) {
  Halves x = halves(11, 3000), y = halves(12, 3000);
  const Histogram& a = x.a;
  const Histogram& b = x.b;
  const Histogram& c = y.a;
  Histogram ab = a, ba = b;
  ASSERT_TRUE(ab.merge(b));
  ASSERT_TRUE(ba.merge(a));
  EXPECT_TRUE(ab == ba);
  Histogram ab_c = ab, bc = b;
  ASSERT_TRUE(ab_c.merge(c));
  ASSERT_TRUE(bc.merge(c));
  Histogram a_bc = a;
  ASSERT_TRUE(a_bc.merge(bc));
  EXPECT_TRUE(ab_c == a_bc);
  Histogram with_empty = a;
  ASSERT_TRUE(with_empty.merge(Histogram()));
  EXPECT_TRUE(with_empty == a);
  Histogram empty;
  ASSERT_TRUE(empty.merge(a));
  EXPECT_TRUE(empty == a);
  Histogram twice = a, doubled = a;
  ASSERT_TRUE(twice.merge(twice));  // self-merge
  ASSERT_TRUE(doubled.merge(a));
  EXPECT_TRUE(twice == doubled);
}

// Histograms of different layouts (or units) do not merge, and nothing changes.
TEST(HistogramMergeTest, DifferentLayoutsRefused) {
  Histogram a;
  a.record(5);
  const Histogram before = a;
  Histogram digits(HistogramLayout{1, 3'600'000'000, 2, "us"});
  Histogram unit(HistogramLayout{1, 3'600'000'000, 3, "ms"});
  digits.record(5);
  unit.record(5);
  EXPECT_FALSE(a.merge(digits));
  EXPECT_FALSE(a.merge(unit));
  EXPECT_TRUE(a == before);
}

// to_proto then from_proto gives the identical histogram; counts are sparse and ascending.
TEST(HistogramProtoTest, RoundTripIsExact) {
  Halves h = halves(3, 5000);
  v1::Histogram p;
  h.all.to_proto(&p);
  EXPECT_EQ(p.counts_index_size(), p.counts_size());
  EXPECT_TRUE(std::is_sorted(p.counts_index().begin(), p.counts_index().end()));
  for (uint64_t n : p.counts()) EXPECT_GT(n, 0u);
  Histogram back;
  std::string why;
  ASSERT_TRUE(Histogram::from_proto(p, &back, &why)) << why;
  EXPECT_TRUE(back == h.all);
  v1::Histogram again;
  back.to_proto(&again);
  EXPECT_EQ(again.SerializeAsString(), p.SerializeAsString());
  Histogram empty_back;
  v1::Histogram empty;
  Histogram().to_proto(&empty);
  ASSERT_TRUE(Histogram::from_proto(empty, &empty_back, &why)) << why;
  EXPECT_TRUE(empty_back.empty());
}

// from_proto rejects each kind of corruption, says what is wrong, and leaves *out unchanged.
TEST(HistogramProtoTest, CorruptInputRejected) {
  Histogram h;
  for (int64_t v : {3, 70, 5000, 90'000, 4'000'000}) h.record(v, 2);
  v1::Histogram good;
  h.to_proto(&good);
  struct Case {
    const char* name;
    std::function<void(v1::Histogram*)> corrupt;
    const char* says;
  };
  const Case cases[] = {
      {"index out of range", [](v1::Histogram* p) { p->set_counts_index(4, 23552); },
       "out of range"},
      {"unsorted", [](v1::Histogram* p) { p->mutable_counts_index()->SwapElements(1, 2); },
       "ascending"},
      {"duplicate index", [](v1::Histogram* p) { p->set_counts_index(2, p->counts_index(1)); },
       "ascending"},
      {"sum mismatch", [](v1::Histogram* p) { p->set_counts(0, 3); }, "total_count"},
      {"zero count", [](v1::Histogram* p) { p->set_counts(0, 0); }, "is 0"},
      {"length mismatch", [](v1::Histogram* p) { p->add_counts(1); }, "counts_index entries"},
      {"bad digits", [](v1::Histogram* p) { p->set_significant_digits(9); }, "layout"},
      {"bad lowest", [](v1::Histogram* p) { p->set_lowest_discernible(0); }, "layout"},
      {"highest below 2 x lowest", [](v1::Histogram* p) { p->set_highest_trackable(1); }, "layout"},
      {"min not in first bucket", [](v1::Histogram* p) { p->set_min(4); }, "min/max"},
      {"max beyond highest", [](v1::Histogram* p) { p->set_max(4'000'000'000); }, "min/max"},
      {"sum too small", [](v1::Histogram* p) { p->set_sum(1); }, "sum"},
      {"overflows without max at highest", [](v1::Histogram* p) { p->set_overflows(1); },
       "overflows"},
      {"empty with figures",
       [](v1::Histogram* p) {
         p->clear_counts();
         p->clear_counts_index();
         p->set_total_count(0);
       },
       "empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Histogram bad = good;
    c.corrupt(&bad);
    Histogram out;
    out.record(42);
    const Histogram before = out;
    std::string why;
    EXPECT_FALSE(Histogram::from_proto(bad, &out, &why));
    EXPECT_NE(why.find(c.says), std::string::npos) << why;
    EXPECT_TRUE(out == before);
  }
  // A layout that differs from the defaults is read as is (and then refuses to merge).
  Histogram other(HistogramLayout{1, 1'000'000, 2, "us"});
  other.record(77);
  v1::Histogram op;
  other.to_proto(&op);
  Histogram read;
  std::string why;
  ASSERT_TRUE(Histogram::from_proto(op, &read, &why)) << why;
  EXPECT_FALSE(read.merge(h));
}

// clear() forgets every value and keeps the layout.
TEST(HistogramEdgeTest, ClearResets) {
  Halves h = halves(5, 1000);
  h.all.clear();
  EXPECT_TRUE(h.all == Histogram());
}

}  // namespace
}  // namespace cellsim::metrics
