#include "report/confidence.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "proto/assert.h"

namespace cellsim::report {
namespace {

// The rank HdrHistogram reports at quantile q: max(1, floor(q n + 0.5)).
uint64_t rank_at(double q, uint64_t n) {
  q = std::clamp(std::isnan(q) ? 0.0 : q, 0.0, 1.0);
  const auto r = static_cast<uint64_t>(std::floor(q * static_cast<double>(n) + 0.5));
  return std::clamp<uint64_t>(r, 1, n);
}

// Resamples of `clusters` clusters, with replacement, from one generator.
// The pick is the multiply-shift of a 64-bit draw (Lemire), not a standard
// library distribution, so every library gives the same intervals.
class Resampler {
 public:
  explicit Resampler(size_t clusters) : weights_(clusters) {}
  const std::vector<uint32_t>& next() {
    std::fill(weights_.begin(), weights_.end(), 0);
    const auto n = static_cast<unsigned __int128>(weights_.size());
    for (size_t i = 0; i < weights_.size(); ++i) {
      ++weights_[static_cast<size_t>((static_cast<unsigned __int128>(rng_()) * n) >> 64)];
    }
    return weights_;
  }

 private:
  std::mt19937_64 rng_{kBootstrapSeed};
  std::vector<uint32_t> weights_;
};

// `replicates` quantiles of resamples, sorted. Every cluster has samples
// (from_group keeps only non-empty batches), so no resample is empty.
std::vector<double> replicate_quantiles(const ClusteredSamples& s, double q, uint32_t replicates) {
  CELLSIM_ASSERT(replicates >= 2);
  std::vector<double> out;
  out.reserve(replicates);
  Resampler r(s.clusters());
  for (uint32_t i = 0; i < replicates; ++i) {
    const std::vector<uint32_t>& w = r.next();
    out.push_back(s.quantile_ms(q, w));
  }
  std::sort(out.begin(), out.end());
  return out;
}

double sorted_quantile(const std::vector<double>& v, double p) {
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

Interval wilson(uint64_t k, uint64_t n, double z) {
  CELLSIM_ASSERT(k <= n);
  if (n == 0) return Interval{};
  Interval iv =
      wilson_share(static_cast<double>(k) / static_cast<double>(n), static_cast<double>(n), z);
  iv.n = n;
  if (k == 0) iv.lo = 0;
  if (k == n) iv.hi = 1;
  return iv;
}

uint64_t share_trials_to_decide(double p, uint64_t n, uint64_t step, double target) {
  CELLSIM_ASSERT(n > 0 && step > 0);
  if (p == target) return 0;
  for (uint64_t m = 1; m <= kMaxSteps; ++m) {
    const Interval iv = wilson_share(p, static_cast<double>(n + m * step));
    if (p > target ? iv.lo >= target : iv.hi < target) return m * step;
  }
  return kMaxSteps * step + 1;
}

Interval wilson_share(double p, double nn, double z) {
  CELLSIM_ASSERT(p >= 0 && p <= 1 && nn > 0);
  Interval iv;
  iv.n = static_cast<uint64_t>(nn);
  const double z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  iv.estimate = p;
  iv.lo = std::max(0.0, centre - half);
  iv.hi = std::min(1.0, centre + half);
  iv.valid = true;
  return iv;
}

bool ClusteredSamples::from_group(const v1::Group& g, const std::string& metric,
                                  ClusteredSamples* out) {
  ClusteredSamples s;
  // index, cluster, count, highest and lowest value of the index's range
  std::vector<std::tuple<int32_t, uint32_t, uint64_t, int64_t, int64_t>> raw;
  bool have_layout = false;
  metrics::HistogramLayout layout;
  for (const v1::CellBatch& b : g.batches()) {
    for (const v1::LatencyMetric& m : b.latencies()) {
      if (m.name() != metric) continue;
      metrics::Histogram h;
      if (!metrics::Histogram::from_proto(m.histogram(), &h, nullptr)) return false;
      if (h.empty()) continue;
      if (have_layout && !(h.layout() == layout)) return false;
      layout = h.layout();
      have_layout = true;
      const auto cluster = static_cast<uint32_t>(s.cluster_count_.size());
      s.cluster_count_.push_back(h.total_count());
      s.keys_.emplace_back(b.seed(), b.index());
      s.cluster_max_us_.push_back(h.max());
      s.total_ += h.total_count();
      h.for_each_count([&](int32_t index, uint64_t count) {
        const int64_t lowest = h.value_at_index(index);
        raw.emplace_back(index, cluster, count, h.highest_equivalent_value(lowest), lowest);
      });
    }
  }
  std::sort(raw.begin(), raw.end());
  s.entries_.reserve(raw.size());
  s.value_us_.reserve(raw.size());
  s.lowest_us_.reserve(raw.size());
  for (const auto& [index, cluster, count, value, lowest] : raw) {
    s.entries_.push_back(Entry{index, cluster, count});
    s.value_us_.push_back(value);
    s.lowest_us_.push_back(lowest);
  }
  *out = std::move(s);
  return true;
}

double ClusteredSamples::quantile_ms(double q, const std::vector<uint32_t>& weights) const {
  CELLSIM_ASSERT(weights.size() == clusters());
  uint64_t total = 0;
  int64_t max_us = 0;
  for (size_t c = 0; c < weights.size(); ++c) {
    total += weights[c] * cluster_count_[c];
    if (weights[c] > 0) max_us = std::max(max_us, cluster_max_us_[c]);
  }
  CELLSIM_ASSERT(total > 0);
  const uint64_t rank = rank_at(q, total);
  int64_t value_us = 0;
  if (!(q > 0)) {  // HdrHistogram reports the lowest value of the first range
    size_t i = 0;
    while (weights[entries_[i].cluster] == 0) ++i;
    value_us = lowest_us_[i];
  } else if (rank * 2 <= total) {  // from the bottom: the entry where the count reaches rank
    uint64_t acc = 0;
    for (size_t i = 0; i < entries_.size() && acc < rank; ++i) {
      acc += weights[entries_[i].cluster] * entries_[i].count;
      value_us = value_us_[i];
    }
  } else {  // from the top: the entry where the count above it falls to total - rank
    uint64_t above = 0;
    for (size_t i = entries_.size(); i-- > 0;) {
      const uint64_t here = weights[entries_[i].cluster] * entries_[i].count;
      if (here == 0) continue;
      value_us = value_us_[i];
      above += here;
      if (above > total - rank) break;
    }
  }
  return static_cast<double>(std::min(value_us, max_us)) / 1000.0;
}

double ClusteredSamples::quantile_ms(double q) const {
  return quantile_ms(q, std::vector<uint32_t>(clusters(), 1));
}

Interval quantile_interval(const ClusteredSamples& s, double q, double level, uint32_t replicates) {
  Interval iv;
  iv.n = s.clusters();
  if (s.samples() == 0) return iv;
  iv.estimate = s.quantile_ms(q);
  if (s.clusters() < kMinBatches) return iv;
  const std::vector<double> r = replicate_quantiles(s, q, replicates);
  const double tail = (1 - level) / 2;
  iv.lo = std::min(iv.estimate, sorted_quantile(r, tail));
  iv.hi = std::max(iv.estimate, sorted_quantile(r, 1 - tail));
  iv.valid = true;
  return iv;
}

Interval ratio_interval(const std::vector<RatioCluster>& clusters, double level,
                        uint32_t replicates) {
  std::vector<RatioCluster> c;
  uint64_t num = 0, den = 0;
  for (const RatioCluster& r : clusters) {
    CELLSIM_ASSERT(r.num <= r.den);
    if (r.den == 0) continue;
    c.push_back(r);
    num += r.num;
    den += r.den;
  }
  Interval iv;
  iv.n = c.size();
  if (den == 0) return iv;
  iv.estimate = static_cast<double>(num) / static_cast<double>(den);
  if (c.size() < kMinBatches) return iv;
  Resampler rs(c.size());
  std::vector<double> r;
  r.reserve(replicates);
  for (uint32_t i = 0; i < replicates; ++i) {
    const std::vector<uint32_t>& w = rs.next();
    double n = 0, d = 0;
    for (size_t k = 0; k < c.size(); ++k) {
      n += static_cast<double>(w[k]) * static_cast<double>(c[k].num);
      d += static_cast<double>(w[k]) * static_cast<double>(c[k].den);
    }
    r.push_back(d > 0 ? n / d : iv.estimate);
  }
  std::sort(r.begin(), r.end());
  const double tail = (1 - level) / 2;
  iv.lo = std::min(iv.estimate, sorted_quantile(r, tail));
  iv.hi = std::max(iv.estimate, sorted_quantile(r, 1 - tail));
  iv.valid = true;
  return iv;
}

std::vector<RatioCluster> voice_clusters(const v1::Group& g) {
  std::vector<RatioCluster> out;
  for (const v1::VoiceBatch& b : g.voice().batches()) {
    out.push_back({b.speech_ms_at_threshold(), b.speech_ms()});
  }
  return out;
}

bool group_quantile_ms(const v1::Group& group, const std::string& metric, double q, double* ms) {
  for (const v1::LatencyMetric& m : group.latencies()) {
    if (m.name() != metric) continue;
    metrics::Histogram h;
    if (!metrics::Histogram::from_proto(m.histogram(), &h, nullptr) || h.empty()) return false;
    *ms = static_cast<double>(std::min(h.value_at_quantile(q), h.max())) / 1000.0;
    return true;
  }
  return false;
}

Interval group_quantile_interval(const v1::Group& g, const std::string& metric, double q,
                                 bool* has_figure, ClusteredSamples* s) {
  ClusteredSamples own;
  ClusteredSamples& cs = s != nullptr ? *s : own;
  Interval iv;
  if (ClusteredSamples::from_group(g, metric, &cs) && cs.samples() > 0) {
    iv = quantile_interval(cs, q);
  } else {
    cs = ClusteredSamples();
  }
  double pooled_ms = 0;
  const bool pooled = group_quantile_ms(g, metric, q, &pooled_ms);
  *has_figure = pooled || cs.samples() > 0;
  if (!pooled) return iv;  // the batches' estimate (or nothing)
  iv.lo = iv.valid ? std::min(iv.lo, pooled_ms) : pooled_ms;
  iv.hi = iv.valid ? std::max(iv.hi, pooled_ms) : pooled_ms;
  iv.estimate = pooled_ms;
  return iv;
}

double paired_log_ratio_se(const ClusteredSamples& a, const ClusteredSamples& b, double q,
                           uint32_t replicates) {
  CELLSIM_ASSERT(a.keys() == b.keys() && replicates >= 2);
  if (a.clusters() < kMinBatches) return 0;
  Resampler r(a.clusters());
  double sum = 0, sum2 = 0;
  for (uint32_t i = 0; i < replicates; ++i) {
    const std::vector<uint32_t>& w = r.next();
    const double d = std::log(std::max(b.quantile_ms(q, w), 1e-3)) -
                     std::log(std::max(a.quantile_ms(q, w), 1e-3));
    sum += d;
    sum2 += d * d;
  }
  const double n = static_cast<double>(replicates);
  return std::sqrt(std::max(0.0, (sum2 - sum * sum / n) / (n - 1)));
}

double log_quantile_se(const ClusteredSamples& s, double q, uint32_t replicates) {
  if (s.clusters() < kMinBatches || s.samples() == 0) return 0;
  const std::vector<double> r = replicate_quantiles(s, q, replicates);
  double sum = 0, sum2 = 0;
  for (double v : r) {
    const double l = std::log(std::max(v, 1e-3));
    sum += l;
    sum2 += l * l;
  }
  const double n = static_cast<double>(r.size());
  const double var = std::max(0.0, (sum2 - sum * sum / n) / (n - 1));
  return std::sqrt(var);
}

double more_needed(const Interval& iv, double target) {
  CELLSIM_ASSERT(iv.valid);
  const double gap = std::abs(iv.estimate - target);
  if (gap == 0) return 0;
  // The interval's side that faces the target has to shrink to the gap
  // (Wilson's near 0 or 1 and a p99's bootstrap are lopsided).
  const double side = target < iv.estimate ? iv.estimate - iv.lo : iv.hi - iv.estimate;
  return std::clamp((side / gap) * (side / gap), 1.0, kMaxMoreNeeded);
}

bool pool_seeds(const std::vector<const v1::Results*>& runs, v1::Results* out, std::string* why) {
  v1::Results pooled;
  if (!runs.empty()) *pooled.mutable_run() = runs.front()->run();
  std::map<std::pair<std::string, std::string>, int> at;  // (kind, name) -> index in pooled
  for (const v1::Results* r : runs) {
    for (const v1::Group& g : r->groups()) {
      auto [it, inserted] = at.emplace(std::pair(g.kind(), g.name()), pooled.groups_size());
      if (inserted) {
        v1::Group* acc = pooled.add_groups();
        acc->set_kind(g.kind());
        acc->set_name(g.name());
      }
      if (!metrics::merge_group(g, pooled.mutable_groups(it->second), why)) return false;
    }
  }
  *out = std::move(pooled);
  return true;
}

}  // namespace cellsim::report
