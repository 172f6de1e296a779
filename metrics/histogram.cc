#include "metrics/histogram.h"

#include "proto/assert.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace cellsim::metrics {
namespace {

// Fields of the layout that HdrHistogram_c derives (hdr_calculate_bucket_config).
struct Derived {
  int32_t unit_magnitude = 0;
  int32_t sub_bucket_half_count_magnitude = 0;
  int32_t sub_bucket_count = 0;
  int32_t bucket_count = 0;
  int64_t sub_bucket_mask = 0;
};

int32_t floor_log2(uint64_t v) { return 63 - __builtin_clzll(v); }

// The smallest m with 2^m >= v. REQUIRES: v >= 1.
int32_t ceil_log2(uint64_t v) { return v <= 1 ? 0 : 64 - __builtin_clzll(v - 1); }

// As HdrHistogram_c's buckets_needed_to_cover_value.
int32_t buckets_needed_to_cover(int64_t value, int32_t sub_bucket_count, int32_t unit_magnitude) {
  int64_t smallest_untrackable = static_cast<int64_t>(sub_bucket_count) << unit_magnitude;
  int32_t buckets_needed = 1;
  while (smallest_untrackable <= value) {
    if (smallest_untrackable > INT64_MAX / 2) return buckets_needed + 1;
    smallest_untrackable <<= 1;
    ++buckets_needed;
  }
  return buckets_needed;
}

bool derive(const HistogramLayout& layout, Derived* d, std::string* why) {
  auto fail = [why](std::string msg) {
    if (why != nullptr) *why = std::move(msg);
    return false;
  };
  if (layout.lowest_discernible < 1) {
    return fail("lowest_discernible " + std::to_string(layout.lowest_discernible) + " < 1");
  }
  if (layout.significant_digits < kMinSignificantDigits ||
      layout.significant_digits > kMaxSignificantDigits) {
    return fail("significant_digits " + std::to_string(layout.significant_digits) +
                " not in [1, 5]");
  }
  if (layout.lowest_discernible > INT64_MAX / 2 ||
      layout.lowest_discernible * 2 > layout.highest_trackable) {
    return fail("highest_trackable " + std::to_string(layout.highest_trackable) +
                " < 2 x lowest_discernible " + std::to_string(layout.lowest_discernible));
  }
  int64_t largest_single_unit = 2;
  for (uint32_t i = 0; i < layout.significant_digits; ++i) largest_single_unit *= 10;
  const int32_t sub_bucket_count_magnitude = ceil_log2(static_cast<uint64_t>(largest_single_unit));
  d->sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  d->unit_magnitude = floor_log2(static_cast<uint64_t>(layout.lowest_discernible));
  if (d->unit_magnitude + d->sub_bucket_half_count_magnitude > 61) {
    return fail("lowest_discernible " + std::to_string(layout.lowest_discernible) +
                " too large for " + std::to_string(layout.significant_digits) + " digits");
  }
  d->sub_bucket_count = 1 << (d->sub_bucket_half_count_magnitude + 1);
  d->sub_bucket_mask = (static_cast<int64_t>(d->sub_bucket_count) - 1) << d->unit_magnitude;
  d->bucket_count =
      buckets_needed_to_cover(layout.highest_trackable, d->sub_bucket_count, d->unit_magnitude);
  return true;
}

// a + b, saturating at INT64_MAX. REQUIRES: a, b >= 0.
int64_t saturating_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t saturate(__int128 v) { return v > INT64_MAX ? INT64_MAX : static_cast<int64_t>(v); }

}  // namespace

bool Histogram::layout_valid(const HistogramLayout& layout, std::string* why) {
  Derived d;
  return derive(layout, &d, why);
}

Histogram::Histogram() : Histogram(HistogramLayout{}) {}

Histogram::Histogram(const HistogramLayout& layout) : layout_(layout) {
  Derived d;
  [[maybe_unused]] const bool ok = derive(layout_, &d, nullptr);
  CELLSIM_ASSERT(ok);
  unit_magnitude_ = d.unit_magnitude;
  sub_bucket_half_count_magnitude_ = d.sub_bucket_half_count_magnitude;
  sub_bucket_count_ = d.sub_bucket_count;
  sub_bucket_half_count_ = d.sub_bucket_count / 2;
  bucket_count_ = d.bucket_count;
  sub_bucket_mask_ = d.sub_bucket_mask;
  counts_len_ = (bucket_count_ + 1) * sub_bucket_half_count_;
  CELLSIM_ASSERT(index_of(layout_.highest_trackable) < counts_len_);
  chunks_.resize(static_cast<size_t>((counts_len_ + kChunkCounts - 1) >> kChunkBits));
}

Histogram::Histogram(const Histogram& other)
    : layout_(other.layout_),
      unit_magnitude_(other.unit_magnitude_),
      sub_bucket_half_count_magnitude_(other.sub_bucket_half_count_magnitude_),
      sub_bucket_count_(other.sub_bucket_count_),
      sub_bucket_half_count_(other.sub_bucket_half_count_),
      bucket_count_(other.bucket_count_),
      counts_len_(other.counts_len_),
      sub_bucket_mask_(other.sub_bucket_mask_),
      total_count_(other.total_count_),
      overflows_(other.overflows_),
      min_(other.min_),
      max_(other.max_),
      sum_(other.sum_),
      chunk_bytes_(other.chunk_bytes_),
      chunks_(other.chunks_.size()) {
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const Chunk& from = other.chunks_[c];
    if (from.wide) {
      chunks_[c].wide = std::make_unique<uint64_t[]>(kChunkCounts);
      std::memcpy(chunks_[c].wide.get(), from.wide.get(), kChunkCounts * sizeof(uint64_t));
    } else if (from.narrow) {
      chunks_[c].narrow = std::make_unique<uint32_t[]>(kChunkCounts);
      std::memcpy(chunks_[c].narrow.get(), from.narrow.get(), kChunkCounts * sizeof(uint32_t));
    }
  }
}

Histogram& Histogram::operator=(const Histogram& other) {
  if (this != &other) {
    Histogram copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Histogram::add_slow(Chunk& chunk, int32_t i, uint64_t count) {
  if (!chunk.allocated()) {
    chunk.narrow = std::make_unique<uint32_t[]>(kChunkCounts);  // zeroed
    chunk_bytes_ += kChunkCounts * sizeof(uint32_t);
  }
  if (chunk.narrow && count <= UINT32_MAX - chunk.narrow[i]) {
    chunk.narrow[i] += static_cast<uint32_t>(count);
    return;
  }
  if (!chunk.wide) {  // widen
    chunk.wide = std::make_unique<uint64_t[]>(kChunkCounts);
    for (int32_t j = 0; j < kChunkCounts; ++j) chunk.wide[j] = chunk.narrow[j];
    chunk.narrow.reset();
    chunk_bytes_ += kChunkCounts * (sizeof(uint64_t) - sizeof(uint32_t));
  }
  chunk.wide[i] += count;
}

void Histogram::add_to_sum(int64_t value, uint64_t count) {
  sum_ = saturate(static_cast<__int128>(sum_) +
                  static_cast<__int128>(value) * static_cast<__int128>(count));
}

uint64_t Histogram::count_at_index(int32_t index) const {
  const Chunk& chunk = chunks_[static_cast<size_t>(index >> kChunkBits)];
  return chunk.allocated() ? chunk.get(index & (kChunkCounts - 1)) : 0;
}

bool Histogram::merge(const Histogram& other) {
  if (!(layout_ == other.layout_)) return false;
  if (&other == this) {
    const Histogram copy(other);
    return merge(copy);
  }
  other.for_each_count([this](int32_t index, uint64_t n) { add_at(index, n); });
  total_count_ += other.total_count_;
  overflows_ += other.overflows_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ = saturating_add(sum_, other.sum_);
  return true;
}

void Histogram::clear() {
  for (Chunk& chunk : chunks_) {
    if (chunk.wide) std::memset(chunk.wide.get(), 0, kChunkCounts * sizeof(uint64_t));
    if (chunk.narrow) std::memset(chunk.narrow.get(), 0, kChunkCounts * sizeof(uint32_t));
  }
  total_count_ = 0;
  overflows_ = 0;
  min_ = INT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double Histogram::mean() const {
  return total_count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_count_);
}

int64_t Histogram::value_at_quantile(double q) const {
  if (total_count_ == 0) return 0;
  if (!(q > 0.0)) q = 0.0;  // NaN too
  if (q > 1.0) q = 1.0;
  const double want = q * static_cast<double>(total_count_) + 0.5;
  uint64_t rank =
      want >= static_cast<double>(total_count_) ? total_count_ : static_cast<uint64_t>(want);
  if (rank < 1) rank = 1;
  uint64_t cumulative = 0;
  int32_t found = counts_len_ - 1;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const Chunk& chunk = chunks_[c];
    if (!chunk.allocated()) continue;
    bool done = false;
    for (int32_t i = 0; i < kChunkCounts; ++i) {
      cumulative += chunk.get(i);
      if (cumulative >= rank) {
        found = (static_cast<int32_t>(c) << kChunkBits) + i;
        done = true;
        break;
      }
    }
    if (done) break;
  }
  const int64_t value = value_at_index(found);
  return q == 0.0 ? lowest_equivalent_value(value) : highest_equivalent_value(value);
}

uint64_t Histogram::count_at_value(int64_t value) const {
  value = std::clamp<int64_t>(value, 0, layout_.highest_trackable);
  return count_at_index(index_of(value));
}

int64_t Histogram::value_at_index(int32_t index) const {
  CELLSIM_ASSERT(index >= 0 && index < counts_len_);
  int32_t bucket = (index >> sub_bucket_half_count_magnitude_) - 1;
  int32_t sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return static_cast<int64_t>(sub_bucket) << (bucket + unit_magnitude_);
}

int64_t Histogram::lowest_equivalent_value(int64_t value) const {
  const int32_t bucket = bucket_index(value);
  const int64_t sub_bucket = value >> (bucket + unit_magnitude_);
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t Histogram::size_of_equivalent_value_range(int64_t value) const {
  const int32_t bucket = bucket_index(value);
  const int64_t sub_bucket = value >> (bucket + unit_magnitude_);
  const int32_t adjusted = sub_bucket >= sub_bucket_count_ ? bucket + 1 : bucket;
  return int64_t{1} << (unit_magnitude_ + adjusted);
}

int64_t Histogram::highest_equivalent_value(int64_t value) const {
  const int64_t lowest = lowest_equivalent_value(value);
  const int64_t size = size_of_equivalent_value_range(value);
  return lowest > INT64_MAX - size ? INT64_MAX : lowest + size - 1;
}

size_t Histogram::memory_bytes() const {
  size_t bytes = sizeof(*this) + chunks_.capacity() * sizeof(Chunk) + chunk_bytes_;
  if (layout_.unit.capacity() > 15) bytes += layout_.unit.capacity() + 1;  // beyond SSO
  return bytes;
}

void Histogram::to_proto(v1::Histogram* out) const {
  out->Clear();
  out->set_lowest_discernible(layout_.lowest_discernible);
  out->set_highest_trackable(layout_.highest_trackable);
  out->set_significant_digits(layout_.significant_digits);
  out->set_unit(layout_.unit);
  out->set_total_count(total_count_);
  out->set_min(min());
  out->set_max(max_);
  out->set_sum(sum_);
  out->set_overflows(overflows_);
  for_each_count([out](int32_t index, uint64_t n) {
    out->add_counts_index(static_cast<uint32_t>(index));
    out->add_counts(n);
  });
}

bool Histogram::from_proto(const v1::Histogram& in, Histogram* out, std::string* why) {
  auto fail = [why](std::string msg) {
    if (why != nullptr) *why = std::move(msg);
    return false;
  };
  const HistogramLayout layout{in.lowest_discernible(), in.highest_trackable(),
                               in.significant_digits(), in.unit()};
  std::string layout_why;
  if (!layout_valid(layout, &layout_why)) return fail("invalid layout: " + layout_why);
  Histogram h(layout);
  if (in.counts_index_size() != in.counts_size()) {
    return fail(std::to_string(in.counts_index_size()) + " counts_index entries but " +
                std::to_string(in.counts_size()) + " counts");
  }
  uint64_t total = 0;
  int64_t previous = -1;
  for (int i = 0; i < in.counts_size(); ++i) {
    const uint32_t index = in.counts_index(i);
    const uint64_t n = in.counts(i);
    if (index >= static_cast<uint32_t>(h.counts_len_)) {
      return fail("counts_index[" + std::to_string(i) + "] = " + std::to_string(index) +
                  " out of range [0, " + std::to_string(h.counts_len_) + ")");
    }
    if (static_cast<int64_t>(index) <= previous) {
      return fail("counts_index not strictly ascending at position " + std::to_string(i) + " (" +
                  std::to_string(previous) + " then " + std::to_string(index) + ")");
    }
    if (n == 0) return fail("counts[" + std::to_string(i) + "] is 0 (counts are sparse)");
    if (__builtin_add_overflow(total, n, &total)) return fail("counts overflow 64 bits");
    previous = index;
    h.add_at(static_cast<int32_t>(index), n);
  }
  if (total != in.total_count()) {
    return fail("counts sum to " + std::to_string(total) + " but total_count is " +
                std::to_string(in.total_count()));
  }
  const std::string figures = " (min " + std::to_string(in.min()) + ", max " +
                              std::to_string(in.max()) + ", sum " + std::to_string(in.sum()) +
                              ", overflows " + std::to_string(in.overflows()) + ")";
  if (total == 0) {
    if (in.min() != 0 || in.max() != 0 || in.sum() != 0 || in.overflows() != 0) {
      return fail("empty histogram with non-zero figures" + figures);
    }
  } else {
    if (in.min() < 0 || in.min() > in.max() || in.max() > layout.highest_trackable) {
      return fail("min/max out of order or range" + figures);
    }
    if (static_cast<uint32_t>(h.index_of(in.min())) != in.counts_index(0) ||
        static_cast<uint32_t>(h.index_of(in.max())) != in.counts_index(in.counts_size() - 1)) {
      return fail("min/max not in the first/last non-zero buckets" + figures);
    }
    const __int128 lower = static_cast<__int128>(in.min()) * total;
    const __int128 upper = static_cast<__int128>(in.max()) * total;
    if (in.sum() < saturate(lower) || in.sum() > saturate(upper)) {
      return fail("sum outside [min x count, max x count]" + figures);
    }
    if (in.overflows() > 0 &&
        (in.max() != layout.highest_trackable ||
         in.overflows() > h.count_at_index(h.index_of(layout.highest_trackable)))) {
      return fail("overflows not recorded at highest_trackable" + figures);
    }
  }
  h.total_count_ = total;
  h.overflows_ = in.overflows();
  h.min_ = total == 0 ? INT64_MAX : in.min();
  h.max_ = in.max();
  h.sum_ = in.sum();
  *out = std::move(h);
  return true;
}

bool operator==(const Histogram& a, const Histogram& b) {
  if (!(a.layout_ == b.layout_) || a.total_count_ != b.total_count_ ||
      a.overflows_ != b.overflows_ || a.min_ != b.min_ || a.max_ != b.max_ || a.sum_ != b.sum_) {
    return false;
  }
  for (size_t c = 0; c < a.chunks_.size(); ++c) {
    const Histogram::Chunk& x = a.chunks_[c];
    const Histogram::Chunk& y = b.chunks_[c];
    if (!x.allocated() && !y.allocated()) continue;
    for (int32_t i = 0; i < Histogram::kChunkCounts; ++i) {
      const uint64_t nx = x.allocated() ? x.get(i) : 0;
      const uint64_t ny = y.allocated() ? y.get(i) : 0;
      if (nx != ny) return false;
    }
  }
  return true;
}

}  // namespace cellsim::metrics
