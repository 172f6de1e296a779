#include "live/validate.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <utility>

#include "metrics/histogram.h"
#include "metrics/voice_stats.h"
#include "proto/assert.h"

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

Spread spread_of(std::vector<double> figures) {
  Spread s;
  if (figures.empty()) return s;
  std::sort(figures.begin(), figures.end());
  const size_t n = figures.size();
  s.count = n;
  s.min = figures.front();
  s.max = figures.back();
  s.median = n % 2 == 1 ? figures[n / 2] : (figures[n / 2 - 1] + figures[n / 2]) / 2;
  return s;
}

namespace {

// A row's section: how its figures are read and judged.
enum Section : int { kLatencySection = 0, kShareSection = 1, kVoiceSection = 2 };

// A row's identity, in table order: group (overall, cell types, profiles),
// latencies, shares, voice; metric, stat.
struct RowKey {
  int rank = 0;
  std::string group;
  int section = 0;  // Section
  std::string metric;
  std::string stat;
  auto operator<=>(const RowKey&) const = default;
};

// One seed's figure of a row on one side.
struct Figure {
  double value = 0;
  uint64_t samples = 0;  // > 0
};

// A row's figures on both sides over the seeds.
struct Collected {
  std::vector<double> sim, live;
  uint64_t sim_samples = 0, live_samples = 0;
};

using Rows = std::map<RowKey, Collected>;

void add_figure(const RowKey& k, const Figure& f, bool sim_side, Rows* rows) {
  Collected& c = (*rows)[k];
  (sim_side ? c.sim : c.live).push_back(f.value);
  (sim_side ? c.sim_samples : c.live_samples) += f.samples;
}

// The figures of one seed's results on one side: p50 and p99 of every
// latency with samples; quorum attainment and vote validity of the overall
// and cell-type groups that held meetings (votes).
void collect(const v1::Results& r, bool sim_side, Rows* rows) {
  for (const auto& g : r.groups()) {
    const int rank = kind_rank(g.kind());
    const std::string group = rank == 0 ? "overall" : g.name();
    for (const auto& l : g.latencies()) {
      const Quantiles q = quantiles(&l);
      if (q.samples == 0) continue;
      add_figure({rank, group, 0, l.name(), "p50"}, {q.p50_ms, q.samples}, sim_side, rows);
      add_figure({rank, group, 0, l.name(), "p99"}, {q.p99_ms, q.samples}, sim_side, rows);
    }
    const v1::VoiceStats& v = g.voice();
    const auto loss = metrics::voice_loss_percent(v);
    const auto m2e = metrics::voice_mouth_to_ear_ms(v);
    const auto mos = metrics::voice_mos_quantile(v, 0.5);
    if (v.intervals() > 0 && loss && m2e && mos) {
      add_figure({rank, group, kVoiceSection, "voice_loss", "share"}, {*loss / 100, v.intervals()},
                 sim_side, rows);
      add_figure({rank, group, kVoiceSection, "mouth_to_ear", "mean"}, {*m2e, v.intervals()},
                 sim_side, rows);
      add_figure({rank, group, kVoiceSection, "mos", "median"}, {*mos, v.intervals()}, sim_side,
                 rows);
    }
    if (rank > 1) continue;
    const v1::QuorumStats& qs = g.quorum();
    const auto share = [](uint64_t n, uint64_t d) {
      return static_cast<double>(n) / static_cast<double>(d);
    };
    if (qs.meetings() > 0) {
      add_figure({rank, group, kShareSection, "quorum_attainment", "share"},
                 {share(qs.meetings_quorate_by_deadline(), qs.meetings()), qs.meetings()},
                 sim_side, rows);
    }
    if (qs.votes_held() > 0) {
      add_figure({rank, group, kShareSection, "vote_validity", "share"},
                 {share(qs.votes_valid(), qs.votes_held()), qs.votes_held()}, sim_side, rows);
    }
  }
}

// The row of `k` from its collected figures, judged against the tolerance
// of its kind unless it has too few samples.
void add_row(const RowKey& k, const Collected& col, const ValidateTolerances& t, Comparison* c) {
  const Spread ss = spread_of(col.sim), sl = spread_of(col.live);
  // Absolute differences for shares and MOS, relative for delays.
  const bool absolute = k.stat == "share" || k.metric == "mos";
  double tolerance = t.latency;
  if (k.section == kShareSection) tolerance = t.share;
  if (k.section == kVoiceSection) {
    tolerance = k.metric == "voice_loss" ? t.voice_loss
                : k.metric == "mos"      ? t.mos
                                         : t.mouth_to_ear;
  }
  ComparedRow r;
  r.row.set_metric(k.metric);
  r.row.set_group(k.group);
  r.row.set_stat(k.stat);
  r.row.set_sim(ss.median);
  r.row.set_live(sl.median);
  const double vs = ss.median, vl = sl.median;
  r.row.set_difference(absolute ? vs - vl
                                : (vl > 0 ? (vs - vl) / vl : (vs > 0 ? vs / 0.001 : 0)));
  r.row.set_sim_min(ss.min);
  r.row.set_sim_max(ss.max);
  r.row.set_live_min(sl.min);
  r.row.set_live_max(sl.max);
  r.row.set_sim_seeds(ss.count);
  r.row.set_live_seeds(sl.count);
  r.sim_samples = col.sim_samples;
  r.live_samples = col.live_samples;
  r.missing = ss.count == 0 || sl.count == 0;
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

}  // namespace

Comparison compare_seeds(std::span<const v1::Results> sim, std::span<const v1::Results> live,
                         const ValidateTolerances& t) {
  CELLSIM_ASSERT(sim.size() <= kMaxValidateSeeds && live.size() <= kMaxValidateSeeds);
  Rows rows;
  for (const v1::Results& r : sim) collect(r, true, &rows);
  for (const v1::Results& r : live) collect(r, false, &rows);
  Comparison c;
  c.seeds = std::max<uint64_t>({1, sim.size(), live.size()});
  for (const auto& [k, col] : rows) add_row(k, col, t, &c);
  return c;
}

Comparison compare_results(const v1::Results& sim, const v1::Results& live,
                           const ValidateTolerances& t) {
  return compare_seeds(std::span(&sim, 1), std::span(&live, 1), t);
}

v1::Validation to_validation(const Comparison& c, const ValidateTolerances& t) {
  v1::Validation v;
  v.set_latency_tolerance(t.latency);
  v.set_share_tolerance(t.share);
  v.set_min_samples(t.min_samples);
  v.set_seeds(c.seeds);
  for (const auto& r : c.rows) *v.add_rows() = r.row;
  v.set_within_tolerance(c.within_tolerance);
  return v;
}

namespace {

// How a row's figures read: a share (3 digits, difference in points), a MOS
// (2 digits, difference absolute) or ms (1 digit, difference relative).
enum class Unit { kShare, kMos, kMs };

Unit unit_of(const v1::ValidationRow& row) {
  if (row.stat() == "share") return Unit::kShare;
  if (row.metric() == "mos") return Unit::kMos;
  return Unit::kMs;
}

// A figure of the table: "-" without samples, else ms, a share or a MOS.
std::string figure(Unit u, bool any, double v) {
  if (!any) return "-";
  switch (u) {
    case Unit::kShare: return num(v, 3);
    case Unit::kMos: return num(v, 2);
    case Unit::kMs: break;
  }
  return num(v, 1) + " ms";
}

// "min..max" of one side, "-" without samples.
std::string range(Unit u, uint64_t seeds, double lo, double hi) {
  if (seeds == 0) return "-";
  const int digits = u == Unit::kShare ? 3 : u == Unit::kMos ? 2 : 1;
  return num(lo, digits) + ".." + num(hi, digits);
}

std::string table_row(const ComparedRow& r, const std::string& group, bool spread) {
  const Unit u = unit_of(r.row);
  const std::string sign = r.row.difference() >= 0 ? "+" : "";
  const std::string diff = u == Unit::kShare ? sign + num(100 * r.row.difference(), 1) + "pp"
                           : u == Unit::kMos ? sign + num(r.row.difference(), 2)
                                             : sign + num(100 * r.row.difference(), 0) + "%";
  std::ostringstream o;
  o << pad(group.size() > 25 ? group.substr(0, 25) : group, 26, true)
    << pad(r.row.metric(), 19, true) << pad(r.row.stat(), 7, true)
    << pad(figure(u, r.sim_samples > 0, r.row.sim()), 12);
  if (spread) o << pad(range(u, r.row.sim_seeds(), r.row.sim_min(), r.row.sim_max()), 16);
  o << pad(figure(u, r.live_samples > 0, r.row.live()), 12);
  if (spread) o << pad(range(u, r.row.live_seeds(), r.row.live_min(), r.row.live_max()), 16);
  o << pad(r.missing ? "-" : diff, 9)
    << pad(std::to_string(r.sim_samples) + "/" + std::to_string(r.live_samples), 16) << "  "
    << (r.few_samples ? "few samples" : (r.row.within_tolerance() ? "ok" : "OUT")) << "\n";
  return o.str();
}

}  // namespace

std::string validation_table(const Comparison& c, const ValidateTolerances& t) {
  const bool spread = c.seeds > 1;
  std::ostringstream o;
  o << pad("group", 26, true) << pad("metric", 19, true) << pad("stat", 7, true)
    << pad(spread ? "sim median" : "sim", 12);
  if (spread) o << pad("sim min..max", 16);
  o << pad(spread ? "live median" : "live", 12);
  if (spread) o << pad("live min..max", 16);
  o << pad("diff", 9) << pad("n sim/live", 16) << "  \n";
  std::string last_group;
  for (const auto& r : c.rows) {
    o << table_row(r, r.row.group() == last_group ? "" : r.row.group(), spread);
    last_group = r.row.group();
  }
  o << (c.within_tolerance ? "every row within tolerance" : std::to_string(c.rows_outside) +
                                                                " rows outside tolerance")
    << " (latency ±" << num(100 * t.latency, 0) << "% relative, shares ±"
    << num(100 * t.share, 1) << " points; voice loss ±" << num(100 * t.voice_loss, 1)
    << " points, mouth-to-ear ±" << num(100 * t.mouth_to_ear, 0) << "%, MOS ±"
    << num(t.mos, 2);
  if (spread) o << "; medians over " << c.seeds << " seeds, spread min..max across them";
  o << "; rows under " << t.min_samples << " samples on either side";
  if (spread) o << ", summed over the seeds,";
  o << " do not count)\n";
  return o.str();
}

}  // namespace cellsim::live
