#include "live/validate.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "metrics/histogram.h"

namespace cellsim::live {
namespace {

// Rounding slack of the tolerance checks (0.95 - 1.0 is not exactly -0.05).
constexpr double kToleranceSlack = 1e-9;

// Groups in the order of the results: overall, cell types, profiles.
int kind_rank(const std::string& kind) {
  if (kind == "overall") return 0;
  if (kind == "cell_type") return 1;
  return 2;
}

using GroupKey = std::pair<int, std::string>;  // (kind rank, name)

std::map<GroupKey, const v1::Group*> index_groups(const v1::Results& r) {
  std::map<GroupKey, const v1::Group*> out;
  for (const auto& g : r.groups()) out[{kind_rank(g.kind()), g.name()}] = &g;
  return out;
}

const v1::LatencyMetric* find_latency(const v1::Group* g, const std::string& name) {
  if (g == nullptr) return nullptr;
  for (const auto& l : g->latencies()) {
    if (l.name() == name) return &l;
  }
  return nullptr;
}

// (samples, p50 ms, p99 ms); samples 0 when absent or unreadable.
struct Quantiles {
  uint64_t samples = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

Quantiles quantiles(const v1::LatencyMetric* l) {
  Quantiles q;
  if (l == nullptr) return q;
  metrics::Histogram h;
  if (!metrics::Histogram::from_proto(l->histogram(), &h, nullptr) || h.empty()) return q;
  q.samples = h.total_count();
  q.p50_ms = static_cast<double>(std::min(h.value_at_quantile(0.5), h.max())) / 1000.0;
  q.p99_ms = static_cast<double>(std::min(h.value_at_quantile(0.99), h.max())) / 1000.0;
  return q;
}

std::string num(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string pad(const std::string& s, size_t w, bool left = false) {
  if (s.size() >= w) return s;
  return left ? s + std::string(w - s.size(), ' ') : std::string(w - s.size(), ' ') + s;
}

}  // namespace

namespace {

// Adds row `r`, judged against `tolerance` unless it has too few samples.
void add_row(ComparedRow r, double tolerance, const ValidateTolerances& t, Comparison* c) {
  r.few_samples = r.missing || r.sim_samples < t.min_samples || r.live_samples < t.min_samples;
  r.row.set_few_samples(r.few_samples);
  r.row.set_sim_samples(r.sim_samples);
  r.row.set_live_samples(r.live_samples);
  r.row.set_within_tolerance(r.few_samples ||
                             std::abs(r.row.difference()) <= tolerance + kToleranceSlack);
  if (!r.row.within_tolerance()) {
    c->within_tolerance = false;
    ++c->rows_outside;
  }
  c->rows.push_back(std::move(r));
}

// p50 and p99 of every latency either side has, relative to live.
void compare_latencies(const v1::Group* a, const v1::Group* b, const std::string& group,
                       const ValidateTolerances& t, Comparison* c) {
  std::set<std::string> names;
  for (const v1::Group* g : {a, b}) {
    if (g == nullptr) continue;
    for (const auto& l : g->latencies()) names.insert(l.name());
  }
  for (const std::string& name : names) {
    const Quantiles qs = quantiles(find_latency(a, name));
    const Quantiles ql = quantiles(find_latency(b, name));
    if (qs.samples == 0 && ql.samples == 0) continue;  // nothing on either side
    for (int which = 0; which < 2; ++which) {
      ComparedRow r;
      r.row.set_metric(name);
      r.row.set_group(group);
      r.row.set_stat(which == 0 ? "p50" : "p99");
      const double vs = which == 0 ? qs.p50_ms : qs.p99_ms;
      const double vl = which == 0 ? ql.p50_ms : ql.p99_ms;
      r.row.set_sim(vs);
      r.row.set_live(vl);
      r.row.set_difference(vl > 0 ? (vs - vl) / vl : (vs > 0 ? vs / 0.001 : 0));
      r.sim_samples = qs.samples;
      r.live_samples = ql.samples;
      r.missing = qs.samples == 0 || ql.samples == 0;
      add_row(std::move(r), t.latency, t, c);
    }
  }
}

// A share na/da (sim) against nb/db (live), absolute difference.
void compare_share(const char* metric, const std::string& group, uint64_t na, uint64_t da,
                   uint64_t nb, uint64_t db, const ValidateTolerances& t, Comparison* c) {
  if (da == 0 && db == 0) return;
  ComparedRow r;
  r.row.set_metric(metric);
  r.row.set_group(group);
  r.row.set_stat("share");
  const double vs = da ? static_cast<double>(na) / static_cast<double>(da) : 0;
  const double vl = db ? static_cast<double>(nb) / static_cast<double>(db) : 0;
  r.row.set_sim(vs);
  r.row.set_live(vl);
  r.row.set_difference(vs - vl);
  r.sim_samples = da;
  r.live_samples = db;
  r.missing = da == 0 || db == 0;
  add_row(std::move(r), t.share, t, c);
}

void compare_shares(const v1::Group* a, const v1::Group* b, const std::string& group,
                    const ValidateTolerances& t, Comparison* c) {
  const v1::QuorumStats qa = a ? a->quorum() : v1::QuorumStats();
  const v1::QuorumStats qb = b ? b->quorum() : v1::QuorumStats();
  compare_share("quorum_attainment", group, qa.meetings_quorate_by_deadline(), qa.meetings(),
                qb.meetings_quorate_by_deadline(), qb.meetings(), t, c);
  compare_share("vote_validity", group, qa.votes_valid(), qa.votes_held(), qb.votes_valid(),
                qb.votes_held(), t, c);
}

}  // namespace

Comparison compare_results(const v1::Results& sim, const v1::Results& live,
                           const ValidateTolerances& t) {
  Comparison c;
  const auto gs = index_groups(sim), gl = index_groups(live);
  std::set<GroupKey> keys;
  for (const auto& [k, g] : gs) keys.insert(k);
  for (const auto& [k, g] : gl) keys.insert(k);
  for (const GroupKey& k : keys) {
    const auto is = gs.find(k), il = gl.find(k);
    const v1::Group* a = is == gs.end() ? nullptr : is->second;
    const v1::Group* b = il == gl.end() ? nullptr : il->second;
    const std::string group = k.first == 0 ? "overall" : k.second;
    compare_latencies(a, b, group, t, &c);
    if (k.first <= 1) compare_shares(a, b, group, t, &c);
  }
  return c;
}

v1::Validation to_validation(const Comparison& c, const ValidateTolerances& t) {
  v1::Validation v;
  v.set_latency_tolerance(t.latency);
  v.set_share_tolerance(t.share);
  for (const auto& r : c.rows) *v.add_rows() = r.row;
  v.set_within_tolerance(c.within_tolerance);
  return v;
}

std::string validation_table(const Comparison& c, const ValidateTolerances& t) {
  std::ostringstream o;
  o << pad("group", 26, true) << pad("metric", 19, true) << pad("stat", 6, true) << pad("sim", 12)
    << pad("live", 12) << pad("diff", 9) << pad("n sim/live", 16) << "  \n";
  std::string last_group;
  for (const auto& r : c.rows) {
    const bool share = r.row.stat() == "share";
    const std::string g = r.row.group() == last_group ? "" : r.row.group();
    last_group = r.row.group();
    std::string diff;
    if (share) {
      diff = (r.row.difference() >= 0 ? "+" : "") + num(100 * r.row.difference(), 1) + "pp";
    } else {
      diff = (r.row.difference() >= 0 ? "+" : "") + num(100 * r.row.difference(), 0) + "%";
    }
    const std::string unit = share ? "" : " ms";
    const int digits = share ? 3 : 1;
    o << pad(g.size() > 25 ? g.substr(0, 25) : g, 26, true) << pad(r.row.metric(), 19, true)
      << pad(r.row.stat(), 6, true)
      << pad(r.sim_samples ? num(r.row.sim(), digits) + unit : "-", 12)
      << pad(r.live_samples ? num(r.row.live(), digits) + unit : "-", 12)
      << pad(r.missing ? "-" : diff, 9)
      << pad(std::to_string(r.sim_samples) + "/" + std::to_string(r.live_samples), 16) << "  "
      << (r.few_samples ? "few samples" : (r.row.within_tolerance() ? "ok" : "OUT")) << "\n";
  }
  o << (c.within_tolerance ? "every row within tolerance" : std::to_string(c.rows_outside) +
                                                                " rows outside tolerance")
    << " (latency ±" << num(100 * t.latency, 0) << "% relative, shares ±"
    << num(100 * t.share, 1) << " points; rows under " << t.min_samples
    << " samples on either side do not count)\n";
  return o.str();
}

}  // namespace cellsim::live
