// `cellsim compare BASE NEW`: is a difference between two sets of runs real
// or noise? Per group (overall, cell types, profiles) and metric, the two
// estimates with their 95% intervals, the relative difference, and a test
// of it, corrected for the number of comparisons, as benchstat does for Go
// benchmarks. CI gates on a scenario with it.
//
// What is compared (each side's seeds pooled, confidence.h):
//   latency     p50 and p99 of each latency metric of each group, where both
//               sides have >= kCompareMinSamples samples in >= kMinBatches
//               batches of cells (and >= kTailSamples beyond the quantile). Test: the difference of
//               log quantiles over its standard error, each side's from the cluster bootstrap
//               (log_quantile_se, floored at kLogSeFloor, the batches'
//               histogram resolution), referred to Student's t with
//               Welch-Satterthwaite degrees of freedom from the batches
//               (the bootstrap's error estimate is itself noisy with 10-30
//               clusters, which the normal would ignore). When both sides
//               hold the same batches of the same seeds (an A/B run on
//               common seeds), the paired bootstrap instead: the batches
//               resampled jointly, the error of the log ratio, df = batches - 1.
//   share       quorum attainment, valid votes, complete minutes of the
//               overall and cell type groups (trials: meetings, votes,
//               meetings closed). Test: the two-proportion z test with the
//               pooled proportion; identical shares of 0 or 1 are no
//               difference.
//   server      CPU utilisation of a server node, busy / (elapsed × cores),
//               and its CPU per frame received, busy / frames_in (what a
//               slower server shows at any load), with every (seed, node) of
//               a side a batch (a scenario's nodes carry like cells, round
//               robin), where both sides have >= 2 batches: Welch's t on the
//               batch values; when both sides ran the same (seed, node)s (an
//               A/B run on common seeds, as a CI gate makes it), the paired
//               t test of the per-node log ratios instead, which removes the
//               node-to-node spread both sides share. The queue wait for a core, p50 and p99, as
//               latencies with the (seed, node)s as batches.
// Correction: Holm's step-down over every test made, at family level
// `alpha` (default 0.05): the chance that any "significant" among them is
// noise stays under alpha.
//
// Worse: a latency or utilisation that rose, a share that fell. A
// regression is a significant change for the worse beyond the tolerance:
// relative (new - base) / base > tolerance for latencies and utilisation,
// base - new > tolerance (share points) for shares.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_REPORT_COMPARE_H_
#define CELLSIM_REPORT_COMPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "report/confidence.h"

namespace cellsim::report {

inline constexpr double kCompareAlpha = 0.05;
inline constexpr double kCompareTolerance = 0.05;
inline constexpr uint64_t kCompareMinSamples = 50;
// A quantile q is compared only with kTailSamples / (1 - q) samples or more
// on each side (10 beyond it: p99 needs 1,000); fewer leave its tail to a
// handful of samples the bootstrap cannot judge.
inline constexpr double kTailSamples = 10;
inline constexpr double kLogSeFloor = 0.005;  // 1% buckets: half a bucket on the log scale

enum class CompareKind { kLatency, kShare, kServer };

struct Comparison {
  std::string group_kind, group;  // as v1::Group (server: "server", "node N")
  std::string metric;             // "join_latency", "quorum_attainment", "cpu_utilisation"
  std::string stat;               // "p50", "p99", "share", "mean"
  CompareKind kind = CompareKind::kLatency;
  Interval base, now;  // estimates and their 95% intervals
  double change = 0;   // relative for latency and server, share points for shares
  double p = 1;        // the test's two-sided p value, uncorrected
  double p_holm = 1;   // Holm-adjusted
  bool significant = false;
  bool worse = false;       // the change is for the worse (whether significant or not)
  bool regression = false;  // significant, worse, beyond the tolerance
};

struct CompareOptions {
  double alpha = kCompareAlpha;
  double tolerance = kCompareTolerance;
};

struct CompareResult {
  std::vector<Comparison> rows;  // groups in BASE's order; metrics by name; p50 before p99
  size_t regressions = 0, significant = 0;
};

// Compares the runs of two sides (each side's seeds, shards merged). False
// with *why when a side's runs do not pool. REQUIRES: both sides non-empty.
bool compare_runs(const std::vector<const v1::Results*>& base,
                  const std::vector<const v1::Results*>& now, const CompareOptions& options,
                  CompareResult* out, std::string* why);

// Student's t distribution's two-sided tail P(|T| > |t|) with df degrees of
// freedom (df > 0; beyond 1e4: the normal's). NaN t or df: 1.
double t_two_sided_p(double t, double df);

// Holm's step-down adjustment of p values (each min(1, monotone)).
std::vector<double> holm_adjust(const std::vector<double>& p);

// The comparison as a fixed-width table, one row per comparison (only the
// significant ones unless `all`), and a last line saying how many were
// made, significant and regressions.
std::string compare_table(const CompareResult& r, const CompareOptions& options, bool all);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_COMPARE_H_
