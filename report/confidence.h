// Intervals for the decisive figures of a run (issue 12): what the verdicts
// (verdict.h), `cellsim size` and `cellsim compare` rest on.
//
// Shares (quorum attainment, valid votes, complete minutes) are counts of
// independent meetings (or votes): their interval is Wilson's score interval
// at 95%, over the meetings of every seed pooled. Wilson rather than the
// exact Clopper-Pearson interval: its coverage stays near the nominal 95%
// (Clopper-Pearson's is 97-99% at the pilot's 10-40 meetings per type, which
// would leave verdicts undecided for no reason); rather than the normal
// (Wald) interval, which collapses to a point at 0% or 100%.
//
// Latency quantiles. The samples of one meeting are not independent: one
// chair, one server node, and each member's link and outages shape many
// samples at once, so an interval that treats 30,000 heartbeats as 30,000
// independent draws is far too narrow. The unit resampled is therefore the
// cell: every group keeps its samples in batches of whole cells
// (metrics/recorder.h, Group.batches: 10 per seed), and the interval is a
// percentile bootstrap over the batches of every seed pooled (a cluster
// bootstrap, Davison & Hinkley 1997, §3.8): kBootstrapReplicates resamples
// of as many batches as there are, with replacement, each giving the pooled
// quantile of its batches as the SLOs compute it (min(value_at_quantile,
// max), HdrHistogram's rank rule). Seeds are not the unit: with the usual
// 3 seeds an interval over seeds says almost nothing, and batches within a
// seed are as independent as seeds are, apart from sharing the server's load
// (which the capacity model keeps far from saturation in a feasible design).
// The bootstrap's generator is seeded by a constant: the same results give
// the same interval.
//
// How much more would decide it. For an interval that straddles its target,
// more_needed() estimates how many times the present sample would be needed
// for the interval to clear the target at the same estimate (an interval's
// sides shrink as 1/sqrt(n)): for shares, meetings; for quantiles,
// batches (hence seeds: 10 batches a seed). An estimate exactly on its
// target is never decided by more runs (0 is returned and said).
//
// Thread-safety: pure functions; ClusteredSamples is immutable after from_group.
#ifndef CELLSIM_REPORT_CONFIDENCE_H_
#define CELLSIM_REPORT_CONFIDENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"

namespace cellsim::report {

namespace v1 = ::cellsim::v1;

inline constexpr double kConfidenceLevel = 0.95;
inline constexpr double kZ95 = 1.959963984540054;  // the normal's 97.5% point
inline constexpr uint32_t kBootstrapReplicates = 1000;
inline constexpr uint64_t kBootstrapSeed = 0x63656c6c73696dULL;  // "cellsim"
// Fewer batches than this with samples: no interval for the quantile (the
// bootstrap of 1 or 2 clusters says nothing).
inline constexpr size_t kMinBatches = 3;

// An estimate and its interval. For a share: estimate, lo, hi in [0, 1], n =
// trials. For a latency quantile: ms, n = batches (clusters) resampled.
struct Interval {
  double estimate = 0, lo = 0, hi = 0;
  uint64_t n = 0;
  bool valid = false;  // false: no figure (no trials, no samples) or no interval
};

// Wilson's score interval for k successes in n trials at normal quantile z.
// n == 0: invalid. REQUIRES: k <= n.
Interval wilson(uint64_t k, uint64_t n, double z = kZ95);

// Wilson's interval for a share p over n trials, both real (for "what if
// there were n trials at the same share"). REQUIRES: 0 <= p <= 1, n > 0.
Interval wilson_share(double p, double n, double z = kZ95);

// The further trials, in steps of `step`, after which Wilson's interval at
// the same share p would clear `target` (lo >= target when p > target, hi
// < target when p < target): the smallest m * step for m in [1, kMaxSteps].
// 0 when p == target (never); kMaxSteps * step + 1 if not within the bound.
// REQUIRES: n > 0, step > 0.
inline constexpr uint64_t kMaxSteps = 10000;
uint64_t share_trials_to_decide(double p, uint64_t n, uint64_t step, double target);

// One latency metric of a group, as whole-cell batches (every seed's),
// ready for resampling.
class ClusteredSamples {
 public:
  // Reads metric `metric` of every batch of `g`. False (and empty) if a
  // histogram cannot be read or layouts differ.
  static bool from_group(const v1::Group& g, const std::string& metric, ClusteredSamples* out);

  size_t clusters() const { return cluster_count_.size(); }
  // Each cluster's batch: (seed, index), in cluster order.
  const std::vector<std::pair<uint64_t, uint32_t>>& keys() const { return keys_; }
  uint64_t samples() const { return total_; }
  // The quantile in ms of the batches weighted by `weights` (one per
  // cluster; a cluster counted w times), as group_quantile_ms computes it.
  // REQUIRES: weights.size() == clusters(); some weighted sample.
  double quantile_ms(double q, const std::vector<uint32_t>& weights) const;
  // Every batch once.
  double quantile_ms(double q) const;

 private:
  struct Entry {
    int32_t index;  // histogram counter index
    uint32_t cluster;
    uint64_t count;
  };
  std::vector<Entry> entries_;      // by ascending index
  std::vector<int64_t> value_us_;   // per entry: the highest value of its range
  std::vector<int64_t> lowest_us_;  // per entry: the lowest (what q = 0 reports)
  std::vector<uint64_t> cluster_count_;
  std::vector<std::pair<uint64_t, uint32_t>> keys_;
  std::vector<int64_t> cluster_max_us_;
  uint64_t total_ = 0;
};

// The quantile of a latency metric in a group, in ms, as the SLOs compute it
// (min(value_at_quantile, max) of the group's histogram, 3 digits). False
// if the metric is missing or empty.
bool group_quantile_ms(const v1::Group& group, const std::string& metric, double q, double* ms);

// The quantile of `metric` in `g` and its interval, as every consumer of
// intervals takes it: the estimate from the group's own histogram
// (group_quantile_ms; the clusters' when the group has none), the interval
// the cluster bootstrap's over g's batches, widened to hold the estimate
// (the batches keep 2 digits). `s` (if not null) receives the batches.
// Invalid interval with fewer than kMinBatches batches; estimate 0 and
// *has_figure false without samples.
Interval group_quantile_interval(const v1::Group& g, const std::string& metric, double q,
                                 bool* has_figure, ClusteredSamples* s = nullptr);

// The percentile bootstrap interval of quantile q over s's clusters, the
// estimate being s.quantile_ms(q). Invalid with fewer than kMinBatches
// clusters (the estimate is still set when there are samples).
Interval quantile_interval(const ClusteredSamples& s, double q, double level = kConfidenceLevel,
                           uint32_t replicates = kBootstrapReplicates);
// The bootstrap's standard error of log(quantile), for tests of a
// difference (compare.h); 0 when fewer than kMinBatches clusters.
double log_quantile_se(const ClusteredSamples& s, double q,
                       uint32_t replicates = kBootstrapReplicates);

// Paired: the bootstrap's standard error of log(b's quantile / a's) when
// both come from the same batches (a.keys() == b.keys(): an A/B run on
// common seeds), resampling the batches jointly so that what the two runs
// share cancels. 0 when fewer than kMinBatches clusters.
// REQUIRES: a.keys() == b.keys().
double paired_log_ratio_se(const ClusteredSamples& a, const ClusteredSamples& b, double q,
                           uint32_t replicates = kBootstrapReplicates);

// A ratio of sums over clusters, sum(num) / sum(den) (the share of speech
// time heard at the voice threshold: clusters are whole-cell batches), and
// its percentile cluster bootstrap interval: batches resampled as for
// quantiles. Invalid with fewer than kMinBatches clusters with den > 0 (the
// estimate is still set when some den > 0). REQUIRES: num[i] <= den[i].
struct RatioCluster {
  uint64_t num = 0, den = 0;
};
Interval ratio_interval(const std::vector<RatioCluster>& clusters, double level = kConfidenceLevel,
                        uint32_t replicates = kBootstrapReplicates);
// The voice check's clusters: a group's voice batches (each (seed, index)).
std::vector<RatioCluster> voice_clusters(const v1::Group& g);

// How many times the present sample an interval like `iv` would need to
// clear `target` at the same estimate: (s / |estimate - target|)^2 with s
// the interval's side facing the target (estimate - lo when the target is
// below, hi - estimate when above), in [1, kMaxMoreNeeded]. 0 when the
// estimate is on the target (more data would not decide it). REQUIRES:
// iv.valid.
inline constexpr double kMaxMoreNeeded = 1e6;
double more_needed(const Interval& iv, double target);

// Pools the runs of several seeds: groups matched by (kind, name) and
// merged (metrics::merge_group: counters added, batches kept per seed), in
// the first run's order (then groups only later runs have). The run info
// is the first run's; servers, slos, attendance are left out. False with a
// message if groups do not merge.
bool pool_seeds(const std::vector<const v1::Results*>& runs, v1::Results* out, std::string* why);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_CONFIDENCE_H_
