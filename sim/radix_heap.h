// A monotone radix queue with 8-bit digits and sorted runs: the simulator's
// event queue.
//
// Items carry a 64-bit key (virtual time, ns). Keys pushed must never be
// smaller than the key last popped (time never runs backwards). Items wait in
// 8 levels of 256 buckets: an item sits at level h, bucket d, when byte h is
// the highest byte in which its key differs from the floor `last_` (the
// smallest key of the bucket last opened; it moves only when a bucket opens,
// to the smallest key left, so every placement stays valid) and d is its
// key's byte h. Lower levels hold smaller keys; within a level, lower buckets
// do. Pops come from the *run*: the lowest bucket, taken whole and sorted
// stably (insertion sort when short, else an LSD radix sort on the bytes in
// which its keys can differ). A bucket larger than kRunMaxItems is first
// redistributed to lower levels around its smallest key. A push whose key
// falls inside the run's range is inserted into the run (binary search).
//
// Order: pop() returns items in (key, push order) order, a total order:
// equal keys always share a bucket, buckets are appended to in push order,
// redistribution and both sorts are stable, and a push into the run goes
// after the equal keys already there.
//
// Costs: push O(1) (O(run) when it lands inside the run). Pop amortised O(1)
// per level its item crosses plus its share of one sort; an event 1 s ahead
// (2^30 ns) is placed once at level 3 and sorted once. Finding the next
// bucket scans a 256-bit mask. Memory: the items plus the buckets' spare
// capacity, kept for reuse.
//
// Thread-safety: none.
#ifndef CELLSIM_SIM_RADIX_HEAP_H_
#define CELLSIM_SIM_RADIX_HEAP_H_

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cellsim::sim {

// Item: a trivially copyable type with a `uint64_t key` member.
template <typename Item>
class RadixHeap {
 public:
  static constexpr int kDigitBits = 8;
  static constexpr int kDigits = 1 << kDigitBits;
  static constexpr int kLevels = (64 + kDigitBits - 1) / kDigitBits;
  static constexpr int kMaskWords = (kDigits + 63) / 64;
  // Buckets up to this size are sorted into the run instead of redistributed.
  static constexpr size_t kRunMaxItems = 1024;
  // Runs up to this size are insertion-sorted; larger ones radix-sorted.
  static constexpr size_t kInsertionSortMaxItems = 16;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // No key smaller than this may be pushed.
  uint64_t floor_key() const { return last_; }

  // REQUIRES: item.key >= floor_key().
  void push(const Item& item) {
    assert(item.key >= last_);
    ++size_;
    if (run_head_ < run_.size() && item.key <= run_.back().key) {
      insert_into_run(item);
      return;
    }
    const uint64_t x = item.key ^ last_;
    const int level = x == 0 ? 0 : (63 - __builtin_clzll(x)) / kDigitBits;
    const int digit = static_cast<int>((item.key >> (level * kDigitBits)) & (kDigits - 1));
    bucket(level, digit).push_back(item);
    mark(level, digit);
  }

  // The smallest item (first pushed among equals). REQUIRES: !empty().
  const Item& top() {
    assert(size_ > 0);
    if (run_head_ == run_.size()) advance();
    return run_[run_head_];
  }

  // Removes and returns the smallest item. REQUIRES: !empty().
  Item pop() {
    const Item item = top();
    ++run_head_;
    --size_;
    // last_ stays the run's smallest key: buckets are placed relative to it,
    // and it may only move when a bucket is opened (see advance()).
    return item;
  }

  void clear() {
    for (auto& b : buckets_) b.clear();
    for (auto& m : masks_) m = {};
    level_mask_ = 0;
    run_.clear();
    run_head_ = 0;
    size_ = 0;
    last_ = 0;
  }

 private:
  std::vector<Item>& bucket(int level, int digit) { return buckets_[level * kDigits + digit]; }
  void mark(int level, int digit) {
    masks_[level][digit >> 6] |= uint64_t{1} << (digit & 63);
    level_mask_ |= 1u << level;
  }
  void unmark(int level, int digit) {
    auto& m = masks_[level];
    m[digit >> 6] &= ~(uint64_t{1} << (digit & 63));
    uint64_t any = 0;
    for (int w = 0; w < kMaskWords; ++w) any |= m[w];
    if (any == 0) level_mask_ &= ~(1u << level);
  }
  int lowest_digit(int level) const {
    const auto& m = masks_[level];
    for (int w = 0; w < kMaskWords; ++w) {
      if (m[w] != 0) return w * 64 + __builtin_ctzll(m[w]);
    }
    assert(false && "lowest_digit on an empty level");
    return -1;
  }

  // The run is used up: take the lowest non-empty bucket. A small one (or a
  // level-0 one, which holds one key) becomes the next run, stably sorted; a
  // large one is redistributed to lower levels around its smallest key first.
  void advance() {
    run_.clear();
    run_head_ = 0;
    for (;;) {
      assert(level_mask_ != 0);
      const int level = __builtin_ctz(level_mask_);
      const int digit = lowest_digit(level);
      std::vector<Item>& src = bucket(level, digit);
      unmark(level, digit);
      if (level == 0 || src.size() <= kRunMaxItems) {
        run_.swap(src);
        if (run_.size() <= kInsertionSortMaxItems) {
          sort_run();
        } else {
          radix_sort_run(level);
        }
        last_ = run_.front().key;
        return;
      }
      uint64_t min_key = src[0].key;
      for (const Item& it : src) min_key = it.key < min_key ? it.key : min_key;
      last_ = min_key;
      for (const Item& it : src) {
        const uint64_t x = it.key ^ last_;
        const int l = x == 0 ? 0 : (63 - __builtin_clzll(x)) / kDigitBits;
        assert(l < level);
        const int d = static_cast<int>((it.key >> (l * kDigitBits)) & (kDigits - 1));
        bucket(l, d).push_back(it);
        mark(l, d);
      }
      src.clear();
    }
  }

  // Stable LSD radix sort of the run on digits 1..level-1, then an insertion
  // sort for digit 0: keys of one level-`level` bucket differ only in their
  // `level` low digits, and keys closer than one digit-1 step are rare, so
  // the final pass is close to linear.
  void radix_sort_run(int level) {
    scratch_.resize(run_.size());
    for (int pass = 1; pass < level; ++pass) {
      const int shift = pass * kDigitBits;
      std::array<uint32_t, kDigits + 1> count{};
      for (const Item& it : run_) ++count[((it.key >> shift) & (kDigits - 1)) + 1];
      if (count[(run_[0].key >> shift & (kDigits - 1)) + 1] == run_.size()) continue;
      for (int d = 0; d < kDigits; ++d) count[d + 1] += count[d];
      for (const Item& it : run_) scratch_[count[(it.key >> shift) & (kDigits - 1)]++] = it;
      run_.swap(scratch_);
    }
    sort_run();
  }

  // Stable insertion sort: runs are short and often sorted already.
  void sort_run() {
    for (size_t i = 1; i < run_.size(); ++i) {
      const Item it = run_[i];
      size_t j = i;
      while (j > 0 && run_[j - 1].key > it.key) {
        run_[j] = run_[j - 1];
        --j;
      }
      run_[j] = it;
    }
  }

  // REQUIRES: the run is not used up and item.key <= its largest key.
  // Inserts after the items with an equal key (push order).
  void insert_into_run(const Item& item) {
    size_t lo = run_head_, hi = run_.size();
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (run_[mid].key <= item.key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    run_.insert(run_.begin() + static_cast<std::ptrdiff_t>(lo), item);
  }

  std::array<std::vector<Item>, kLevels * kDigits> buckets_;
  std::array<std::array<uint64_t, kMaskWords>, kLevels> masks_{};  // non-empty buckets per level
  uint32_t level_mask_ = 0;                              // non-empty levels
  // The sorted run being consumed: run_[run_head_..] are the smallest items.
  std::vector<Item> run_;
  size_t run_head_ = 0;
  std::vector<Item> scratch_;  // radix sort buffer
  size_t size_ = 0;
  uint64_t last_ = 0;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_RADIX_HEAP_H_
