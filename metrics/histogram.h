// A mergeable histogram of non-negative integer values on the HdrHistogram
// scheme (DESIGN.md, "Metrics"), bucket-for-bucket compatible with
// HdrHistogram_c.
//
// Layout. Three numbers fix the layout: `lowest_discernible` (>= 1, the
// smallest value told apart from 0), `highest_trackable` (>= 2 ×
// lowest_discernible) and `significant_digits` (1..5). As in HdrHistogram_c:
//
//   sub_bucket_count = 2^ceil(log2(2 × 10^digits))   (2048 for 3 digits)
//   unit_magnitude   = floor(log2(lowest_discernible))
//   bucket b covers [sub_bucket_count/2 << (b + unit_magnitude),
//                    sub_bucket_count   << (b + unit_magnitude)), except that
//   bucket 0 also covers [0, sub_bucket_count/2 << unit_magnitude);
//   counts_len       = (bucket_count + 1) × sub_bucket_count / 2.
//
// Every value maps to one counts index; the values sharing an index form its
// "equivalent range" (of size 2^(bucket + unit_magnitude)), so any value is
// represented to within a relative error of 1 / (sub_bucket_count / 2) —
// better than 10^-digits. value_at_quantile() returns, as HdrHistogram does,
// the highest value equivalent to the sample at that rank.
//
// Exact figures. total_count, min, max, sum and overflows are exact (min and
// max are the recorded values themselves, not bucket bounds). A negative value
// is recorded as 0; a value above highest_trackable is recorded as
// highest_trackable (for counts, min, max and sum alike) and counted in
// overflows(). The sum saturates at INT64_MAX (3.6e9 µs × 2.5e9 samples), which
// keeps merging associative and commutative.
//
// Memory. The counts are kept in lazily allocated chunks of kChunkCounts
// consecutive indices, each of uint32 counters, widened to uint64 counters the
// first time one of its counters would pass UINT32_MAX. An empty histogram with
// the latency defaults (1 µs .. 1 h, 3 digits: 23,552 indices) costs ~1.6 KB
// (the chunk table); each chunk touched adds 1 KiB (2 KiB once widened). A
// latency distribution spanning two decades touches about 7 power-of-two
// buckets × 4 chunks ≈ 28 KiB (measured: 200k lognormal samples over four
// decades, 55 KiB); the dense worst case (every index) is 93 KiB.
// memory_bytes() reports the figure. A flat uint64 array would be 184 KiB.
//
// Invariants: every counter is the number of recorded values in its index's
// equivalent range; their sum is total_count(); overflows() <= the count at
// highest_trackable's index; min() <= max() <= highest_trackable when
// non-empty, and min() == max() == sum() == 0 when empty.
//
// Thread-safety: none; a Histogram is owned by one thread. Distinct
// histograms may be used from distinct threads. No clocks, no randomness.
#ifndef CELLSIM_METRICS_HISTOGRAM_H_
#define CELLSIM_METRICS_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"

namespace cellsim::metrics {

namespace v1 = ::cellsim::v1;

// Latency defaults: microseconds, 1 µs to 1 h, 3 significant digits.
inline constexpr int64_t kLatencyLowestDiscernibleUs = 1;
inline constexpr int64_t kLatencyHighestTrackableUs = 3'600'000'000;
inline constexpr uint32_t kLatencySignificantDigits = 3;
inline constexpr char kLatencyUnit[] = "us";

inline constexpr uint32_t kMinSignificantDigits = 1;
inline constexpr uint32_t kMaxSignificantDigits = 5;

// The parameters that fix a histogram's buckets, plus its unit. Histograms
// merge only when their layouts are equal (unit included).
struct HistogramLayout {
  int64_t lowest_discernible = kLatencyLowestDiscernibleUs;
  int64_t highest_trackable = kLatencyHighestTrackableUs;
  uint32_t significant_digits = kLatencySignificantDigits;
  std::string unit = kLatencyUnit;

  friend bool operator==(const HistogramLayout&, const HistogramLayout&) = default;
};

class Histogram {
 public:
  // Counters per lazily allocated chunk (a quarter of a power-of-two bucket
  // at 3 significant digits).
  static constexpr int32_t kChunkBits = 8;
  static constexpr int32_t kChunkCounts = 1 << kChunkBits;

  // Whether `layout` is one HdrHistogram_c accepts; if not, says why.
  static bool layout_valid(const HistogramLayout& layout, std::string* why);

  // The latency defaults.
  Histogram();
  // REQUIRES: layout_valid(layout, nullptr).
  explicit Histogram(const HistogramLayout& layout);

  Histogram(const Histogram& other);
  Histogram& operator=(const Histogram& other);
  Histogram(Histogram&&) noexcept = default;
  Histogram& operator=(Histogram&&) noexcept = default;
  ~Histogram() = default;

  const HistogramLayout& layout() const { return layout_; }

  // Records `count` occurrences of `value` (clamped as the header says).
  // A count of 0 records nothing. Allocates only the first time a chunk of
  // counters is touched.
  void record(int64_t value, uint64_t count = 1) {
    if (count == 0) return;
    if (value < 0) value = 0;
    if (value > layout_.highest_trackable) {
      value = layout_.highest_trackable;
      overflows_ += count;
    }
    add_at(index_of(value), count);
    total_count_ += count;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
    add_to_sum(value, count);
  }

  // Adds `other`'s counts and figures into this one. Returns false, and
  // changes nothing, if the layouts differ. Merging is exact, associative and
  // commutative. `other` may be *this.
  bool merge(const Histogram& other);

  // Forgets every recorded value; keeps the layout and the chunks allocated.
  void clear();

  uint64_t total_count() const { return total_count_; }
  bool empty() const { return total_count_ == 0; }
  int64_t min() const { return total_count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  int64_t sum() const { return sum_; }
  uint64_t overflows() const { return overflows_; }
  // sum / count; 0 when empty.
  double mean() const;

  // The value at quantile q in [0, 1] (clamped; NaN counts as 0), as
  // HdrHistogram_c's hdr_value_at_percentile(100 q): the sample of rank
  // max(1, floor(q × count + 0.5)), reported as the highest value of its
  // equivalent range (the lowest for q == 0). 0 when empty.
  int64_t value_at_quantile(double q) const;

  // The count at `value`'s index (after clamping).
  uint64_t count_at_value(int64_t value) const;

  // Index arithmetic, as HdrHistogram_c. REQUIRES for the value functions:
  // 0 <= value <= highest_trackable (the top bucket's values also work).
  int32_t index_of(int64_t value) const {
    const int32_t bucket = bucket_index(value);
    const int32_t sub_bucket = static_cast<int32_t>(value >> (bucket + unit_magnitude_));
    return ((bucket + 1) << sub_bucket_half_count_magnitude_) +
           (sub_bucket - sub_bucket_half_count_);
  }
  // The lowest value of index `index`'s range. REQUIRES: 0 <= index < counts_len().
  int64_t value_at_index(int32_t index) const;
  int64_t lowest_equivalent_value(int64_t value) const;
  int64_t highest_equivalent_value(int64_t value) const;
  int64_t size_of_equivalent_value_range(int64_t value) const;

  int32_t counts_len() const { return counts_len_; }
  int32_t bucket_count() const { return bucket_count_; }
  int32_t sub_bucket_count() const { return sub_bucket_count_; }

  // Calls f(index, count) for every non-zero counter, by ascending index.
  template <typename F>
  void for_each_count(F&& f) const {
    for (size_t c = 0; c < chunks_.size(); ++c) {
      const Chunk& chunk = chunks_[c];
      if (!chunk.allocated()) continue;
      const int32_t base = static_cast<int32_t>(c) << kChunkBits;
      for (int32_t i = 0; i < kChunkCounts; ++i) {
        const uint64_t n = chunk.get(i);
        if (n != 0) f(base + i, n);
      }
    }
  }

  // Heap and object bytes this histogram holds.
  size_t memory_bytes() const;

  // Writes the layout, figures and non-zero counts (ascending) to `*out`,
  // replacing what it held.
  void to_proto(v1::Histogram* out) const;

  // Reads a histogram written by to_proto(), checking everything: a valid
  // layout; as many indices as counts; indices in range and strictly
  // ascending; every count non-zero; counts summing to total_count; min, max,
  // sum and overflows consistent with the counts. On failure returns false,
  // leaves *out unchanged and says why in *why (if not null).
  static bool from_proto(const v1::Histogram& in, Histogram* out, std::string* why);

  // Same layout, figures and counts (whatever the counters' width).
  friend bool operator==(const Histogram& a, const Histogram& b);

 private:
  // kChunkCounts counters, uint32 until one would overflow, then uint64.
  struct Chunk {
    std::unique_ptr<uint32_t[]> narrow;
    std::unique_ptr<uint64_t[]> wide;
    bool allocated() const { return narrow || wide; }
    uint64_t get(int32_t i) const { return wide ? wide[i] : narrow[i]; }
  };

  int32_t bucket_index(int64_t value) const {
    // Position of the highest set bit of (value | mask), counting from 1.
    const int32_t pow2_ceiling =
        64 - __builtin_clzll(static_cast<uint64_t>(value | sub_bucket_mask_));
    return pow2_ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  }

  void add_at(int32_t index, uint64_t count) {
    Chunk& chunk = chunks_[static_cast<size_t>(index >> kChunkBits)];
    const int32_t i = index & (kChunkCounts - 1);
    if (chunk.wide) {
      chunk.wide[i] += count;
    } else if (chunk.narrow && count <= UINT32_MAX - chunk.narrow[i]) {
      chunk.narrow[i] += static_cast<uint32_t>(count);
    } else {
      add_slow(chunk, i, count);
    }
  }
  void add_slow(Chunk& chunk, int32_t i, uint64_t count);
  void add_to_sum(int64_t value, uint64_t count);
  uint64_t count_at_index(int32_t index) const;

  HistogramLayout layout_;
  int32_t unit_magnitude_ = 0;
  int32_t sub_bucket_half_count_magnitude_ = 0;
  int32_t sub_bucket_count_ = 0;
  int32_t sub_bucket_half_count_ = 0;
  int32_t bucket_count_ = 0;
  int32_t counts_len_ = 0;
  int64_t sub_bucket_mask_ = 0;

  uint64_t total_count_ = 0;
  uint64_t overflows_ = 0;
  int64_t min_ = INT64_MAX;  // INT64_MAX while empty
  int64_t max_ = 0;
  int64_t sum_ = 0;
  size_t chunk_bytes_ = 0;  // bytes of the allocated chunks
  std::vector<Chunk> chunks_;
};

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_HISTOGRAM_H_
