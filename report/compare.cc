#include "report/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <utility>

#include "metrics/recorder.h"
#include "proto/assert.h"
#include "report/verdict.h"

namespace cellsim::report {
namespace {

constexpr double kQuantiles[] = {0.5, 0.99};
constexpr int kBetaIterations = 300;  // continued fraction bound (converges in < 100)
constexpr double kNormalDf = 1e4;

// The continued fraction of the regularized incomplete beta (Numerical
// Recipes, betacf), for x < (a + 1) / (a + b + 2).
double beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::abs(d) < kTiny ? kTiny : d);
  double h = d;
  for (int m = 1; m <= kBetaIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 / (std::abs(1 + aa * d) < kTiny ? kTiny : 1 + aa * d);
    c = std::abs(1 + aa / c) < kTiny ? kTiny : 1 + aa / c;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 / (std::abs(1 + aa * d) < kTiny ? kTiny : 1 + aa * d);
    c = std::abs(1 + aa / c) < kTiny ? kTiny : 1 + aa / c;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1) < kEps) break;
  }
  return h;
}

// I_x(a, b), the regularized incomplete beta function.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

// The t quantile with two-sided tail `p` (bisection on t_two_sided_p).
double t_critical(double p, double df) {
  double lo = 0, hi = 1e3;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (t_two_sided_p(mid, df) > p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

double normal_two_sided_p(double z) { return std::erfc(std::abs(z) / std::sqrt(2.0)); }

const v1::Group* find_group(const v1::Results& r, const v1::Group& like) {
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == like.kind() && g.name() == like.name()) return &g;
  }
  return nullptr;
}

Comparison make_row(const v1::Group& g, const std::string& metric, const std::string& stat,
                    CompareKind kind) {
  Comparison c;
  c.group_kind = g.kind();
  c.group = g.name();
  c.metric = metric;
  c.stat = stat;
  c.kind = kind;
  return c;
}

// p50 and p99 of one latency metric of one group on both sides.
void compare_latency(const v1::Group& gb, const v1::Group& gn, const std::string& metric,
                     std::vector<Comparison>* out) {
  ClusteredSamples sb, sn;
  if (!ClusteredSamples::from_group(gb, metric, &sb) ||
      !ClusteredSamples::from_group(gn, metric, &sn)) {
    return;
  }
  for (const ClusteredSamples* s : {&sb, &sn}) {
    if (s->samples() < kCompareMinSamples || s->clusters() < kMinBatches) return;
  }
  for (double q : kQuantiles) {
    const auto needed = static_cast<uint64_t>(std::ceil(kTailSamples / (1 - q)));
    if (sb.samples() < needed || sn.samples() < needed) continue;
    Comparison c = make_row(gb, metric, q == 0.5 ? "p50" : "p99", CompareKind::kLatency);
    bool has_b = false, has_n = false;
    c.base = group_quantile_interval(gb, metric, q, &has_b);
    c.now = group_quantile_interval(gn, metric, q, &has_n);
    if (!has_b || !has_n) continue;
    const double lb = std::log(std::max(c.base.estimate, 1e-3));
    const double ln = std::log(std::max(c.now.estimate, 1e-3));
    if (sb.keys() == sn.keys()) {  // the same batches of the same seeds: paired
      const double se = std::max(paired_log_ratio_se(sb, sn, q), kLogSeFloor);
      c.p = t_two_sided_p((ln - lb) / se, static_cast<double>(sb.clusters() - 1));
    } else {
      const double vb = std::pow(std::max(log_quantile_se(sb, q), kLogSeFloor), 2);
      const double vn = std::pow(std::max(log_quantile_se(sn, q), kLogSeFloor), 2);
      const double df = (vb + vn) * (vb + vn) /
                        (vb * vb / static_cast<double>(sb.clusters() - 1) +
                         vn * vn / static_cast<double>(sn.clusters() - 1));
      c.p = t_two_sided_p((ln - lb) / std::sqrt(vb + vn), df);
    }
    c.change = c.base.estimate == c.now.estimate
                   ? 0.0
                   : c.now.estimate / std::max(c.base.estimate, 1e-9) - 1;
    c.worse = c.change > 0;
    out->push_back(c);
  }
}

void compare_share(const v1::Group& gb, const char* metric, uint64_t kb, uint64_t nb, uint64_t kn,
                   uint64_t nn, std::vector<Comparison>* out) {
  if (nb == 0 || nn == 0) return;
  Comparison c = make_row(gb, metric, "share", CompareKind::kShare);
  c.base = wilson(kb, nb);
  c.now = wilson(kn, nn);
  const double pooled = static_cast<double>(kb + kn) / static_cast<double>(nb + nn);
  const double se = std::sqrt(pooled * (1 - pooled) *
                              (1 / static_cast<double>(nb) + 1 / static_cast<double>(nn)));
  c.change = c.now.estimate - c.base.estimate;
  c.p = se > 0 ? normal_two_sided_p(c.change / se) : 1.0;
  c.worse = c.change < 0;
  out->push_back(c);
}

void compare_shares(const v1::Group& gb, const v1::Group& gn, std::vector<Comparison>* out) {
  if (!gb.has_quorum() || !gn.has_quorum()) return;
  const v1::QuorumStats &b = gb.quorum(), &n = gn.quorum();
  compare_share(gb, "quorum_attainment", b.meetings_quorate_by_deadline(), b.meetings(),
                n.meetings_quorate_by_deadline(), n.meetings(), out);
  compare_share(gb, "valid_votes", b.votes_valid(), b.votes_held(), n.votes_valid(), n.votes_held(),
                out);
  compare_share(gb, "complete_minutes", b.minutes_complete(), b.meetings_closed(),
                n.minutes_complete(), n.meetings_closed(), out);
}

// One server figure per (seed, node): the batches of the server tests.
using NodeKey = std::pair<uint64_t, uint32_t>;
using NodeValues = std::map<NodeKey, double>;

// Every (seed, node)'s utilisation and CPU per frame, and a group whose
// batches are the nodes' queue waits (for the bootstrap).
struct ServerSide {
  NodeValues utilisation, cpu_per_frame_us;
  v1::Group queue;
};

ServerSide server_side(const std::vector<const v1::Results*>& runs) {
  ServerSide s;
  s.queue.set_kind("server");
  s.queue.set_name("all nodes");
  uint32_t index = 0;
  for (const v1::Results* r : runs) {
    for (const v1::ServerStats& n : r->servers()) {
      const NodeKey key{r->run().seed(), n.node()};
      if (n.elapsed_ns() > 0 && n.cores() > 0) {
        s.utilisation[key] =
            static_cast<double>(n.busy_ns()) / (static_cast<double>(n.elapsed_ns()) * n.cores());
      }
      if (n.frames_in() > 0) {
        s.cpu_per_frame_us[key] =
            static_cast<double>(n.busy_ns()) / 1000.0 / static_cast<double>(n.frames_in());
      }
      if (!n.has_queue_wait() || n.queue_wait().total_count() == 0) continue;
      v1::CellBatch* b = s.queue.add_batches();
      b->set_seed(r->run().seed());
      b->set_index(index++);
      v1::LatencyMetric* m = b->add_latencies();
      m->set_name("queue_wait");
      *m->mutable_histogram() = n.queue_wait();
    }
  }
  return s;
}

std::vector<double> values_of(const NodeValues& v) {
  std::vector<double> out;
  for (const auto& [key, x] : v) out.push_back(x);
  return out;
}

// Mean and 95% t interval of batch values; variance of the mean in *var.
Interval mean_interval(const std::vector<double>& v, double* var) {
  Interval iv;
  iv.n = v.size();
  const double n = static_cast<double>(v.size());
  iv.estimate = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double ss = 0;
  for (double x : v) ss += (x - iv.estimate) * (x - iv.estimate);
  *var = ss / (n - 1) / n;
  const double half = t_critical(1 - kConfidenceLevel, n - 1) * std::sqrt(*var);
  iv.lo = iv.estimate - half;
  iv.hi = iv.estimate + half;
  iv.valid = true;
  return iv;
}

// A t statistic's p value, or 0/1 when its error is 0 (a difference or none).
double t_p(double diff, double var, double df) {
  if (var > 0) return t_two_sided_p(diff / std::sqrt(var), df);
  return diff == 0 ? 1.0 : 0.0;
}

// Paired: both sides ran the same (seed, node)s (an A/B run on common
// seeds): the t test of the mean log ratio over the pairs, which removes
// the node-to-node spread both sides share.
bool paired_p(const NodeValues& base, const NodeValues& now, double* p) {
  if (base.size() != now.size() || base.size() < 2) return false;
  std::vector<double> d;
  for (const auto& [key, b] : base) {
    const auto it = now.find(key);
    if (it == now.end() || b <= 0 || it->second <= 0) return false;
    d.push_back(std::log(it->second / b));
  }
  double var = 0;
  const Interval iv = mean_interval(d, &var);
  *p = t_p(iv.estimate, var, static_cast<double>(d.size() - 1));
  return true;
}

// One server figure: paired when both sides ran the same nodes of the same
// seeds, else Welch's t on the batch values.
void compare_means(const v1::Group& g, const char* metric, const NodeValues& base,
                   const NodeValues& now, std::vector<Comparison>* out) {
  if (base.size() < 2 || now.size() < 2) return;
  const std::vector<double> vb_values = values_of(base), vn_values = values_of(now);
  Comparison c = make_row(g, metric, "mean", CompareKind::kServer);
  double vb = 0, vn = 0;
  c.base = mean_interval(vb_values, &vb);
  c.now = mean_interval(vn_values, &vn);
  if (!paired_p(base, now, &c.p)) {
    const double kb = static_cast<double>(base.size()), kn = static_cast<double>(now.size());
    const double df =
        vb + vn > 0 ? (vb + vn) * (vb + vn) / (vb * vb / (kb - 1) + vn * vn / (kn - 1)) : 1.0;
    c.p = t_p(c.now.estimate - c.base.estimate, vb + vn, df);
  }
  c.change = c.now.estimate / std::max(c.base.estimate, 1e-12) - 1;
  c.worse = c.change > 0;
  out->push_back(c);
}

void compare_servers(const std::vector<const v1::Results*>& base,
                     const std::vector<const v1::Results*>& now, std::vector<Comparison>* out) {
  const ServerSide b = server_side(base), n = server_side(now);
  compare_means(b.queue, "cpu_utilisation", b.utilisation, n.utilisation, out);
  compare_means(b.queue, "cpu_per_frame_us", b.cpu_per_frame_us, n.cpu_per_frame_us, out);
  compare_latency(b.queue, n.queue, "queue_wait", out);
  for (Comparison& c : *out) {
    if (c.metric == "queue_wait") c.kind = CompareKind::kServer;
  }
}

std::string fmt(double v, const Comparison& c) {
  char buf[48];
  const CompareKind kind = c.kind;
  if (c.metric == "cpu_per_frame_us") {
    std::snprintf(buf, sizeof buf, "%.3g us", v);
  } else if (c.metric == "cpu_utilisation") {
    std::snprintf(buf, sizeof buf, "%.3g%%", v * 100);
  } else if (kind == CompareKind::kShare) {
    std::snprintf(buf, sizeof buf, "%.1f%%", v * 100);
  } else if (v >= 100) {
    std::snprintf(buf, sizeof buf, "%.0f ms", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g ms", v);
  }
  return buf;
}

std::string fmt_interval(const Interval& iv, const Comparison& c) {
  std::string s = fmt(iv.estimate, c);
  if (iv.valid) s += " [" + fmt(iv.lo, c) + ", " + fmt(iv.hi, c) + "]";
  return s;
}

std::string fmt_change(const Comparison& c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, c.kind == CompareKind::kShare ? "%+.1f pts" : "%+.1f%%",
                c.change * 100);
  return buf;
}

}  // namespace

double t_two_sided_p(double t, double df) {
  CELLSIM_ASSERT(df > 0);
  if (std::isnan(t) || std::isnan(df)) return 1;  // no test: never "significant"
  if (!std::isfinite(t)) return 0;
  // Beyond, the t is the normal to 4 digits, and the continued fraction
  // (about sqrt(df / 2) terms) would need more than kBetaIterations.
  if (df > kNormalDf) return normal_two_sided_p(t);
  return incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size());
  double running = 0;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const double adjusted = std::min(1.0, static_cast<double>(p.size() - rank) * p[order[rank]]);
    running = std::max(running, adjusted);
    out[order[rank]] = running;
  }
  return out;
}

bool compare_runs(const std::vector<const v1::Results*>& base,
                  const std::vector<const v1::Results*>& now, const CompareOptions& options,
                  CompareResult* out, std::string* why) {
  CELLSIM_ASSERT(!base.empty() && !now.empty());
  v1::Results pb, pn;
  if (!pool_seeds(base, &pb, why) || !pool_seeds(now, &pn, why)) return false;
  CompareResult r;
  for (const v1::Group& gb : pb.groups()) {
    const v1::Group* gn = find_group(pn, gb);
    if (gn == nullptr) continue;
    for (const v1::LatencyMetric& m : gb.latencies()) compare_latency(gb, *gn, m.name(), &r.rows);
    if (gb.kind() != metrics::kGroupProfile) compare_shares(gb, *gn, &r.rows);
  }
  compare_servers(base, now, &r.rows);
  std::vector<double> p;
  for (const Comparison& c : r.rows) p.push_back(c.p);
  const std::vector<double> adjusted = holm_adjust(p);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    Comparison& c = r.rows[i];
    c.p_holm = adjusted[i];
    c.significant = c.p_holm < options.alpha;
    const double beyond = c.kind == CompareKind::kShare ? -c.change : c.change;
    c.regression = c.significant && c.worse && beyond > options.tolerance;
    r.significant += c.significant ? 1 : 0;
    r.regressions += c.regression ? 1 : 0;
  }
  *out = std::move(r);
  return true;
}

std::string compare_table(const CompareResult& r, const CompareOptions& options, bool all) {
  std::string s;
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-18s %-4s %-30s %-30s %-10s %-8s %s\n", "group",
                "metric", "stat", "base [95%]", "new [95%]", "change", "p (Holm)", "");
  s += line;
  for (const Comparison& c : r.rows) {
    if (!all && !c.significant) continue;
    const std::string group = c.group_kind == "overall" ? "overall" : c.group_kind + " " + c.group;
    const char* mark = c.regression    ? "REGRESSION"
                       : c.significant ? (c.worse ? "worse" : "better")
                                       : "~";
    std::snprintf(line, sizeof line, "%-28s %-18s %-4s %-30s %-30s %-10s %-8.3g %s\n",
                  group.c_str(), c.metric.c_str(), c.stat.c_str(), fmt_interval(c.base, c).c_str(),
                  fmt_interval(c.now, c).c_str(), fmt_change(c).c_str(), c.p_holm, mark);
    s += line;
  }
  std::snprintf(line, sizeof line,
                "%zu comparisons, %zu significant at %.3g (Holm), %zu regressions beyond %.3g\n",
                r.rows.size(), r.significant, options.alpha, r.regressions, options.tolerance);
  s += line;
  return s;
}

}  // namespace cellsim::report
