#include "report/sizing.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/slo.h"
#include "proto/assert.h"
#include "report/confidence.h"
#include "report/verdict.h"
#include "sim/runner.h"

namespace cellsim::report {
namespace {

constexpr double kBitsPerByte = 8;
constexpr double kBytesPerGib = 1024.0 * 1024 * 1024;

struct Replicated {
  v1::CapacityPoint point;
  v1::Results first;  // the first replication's results
  double queue_wait_p99_ms = 0;  // the largest over nodes and replications
};

// The p99 of the time frames waited for a core, in ms, the largest over the
// runs' nodes.
double queue_wait_p99_ms(const std::vector<v1::Results>& runs) {
  double worst = 0;
  for (const v1::Results& r : runs) {
    for (const v1::ServerStats& s : r.servers()) {
      metrics::Histogram h;
      if (!s.has_queue_wait() || !metrics::Histogram::from_proto(s.queue_wait(), &h, nullptr) ||
          h.empty()) {
        continue;
      }
      const int64_t p99_us = std::min(h.value_at_quantile(0.99), h.max());
      worst = std::max(worst, static_cast<double>(p99_us) / 1e3);
    }
  }
  return worst;
}

bool has_problem(const v1::SloResult& s) {
  return s.description().find(": ") != std::string::npos;
}

// The group an SLO names in pooled results (overall for all cells).
const v1::Group* slo_group(const v1::Results& pooled, const ParsedSlo& p) {
  for (const v1::Group& g : pooled.groups()) {
    if (p.cell_type.empty() ? g.kind() == metrics::kGroupOverall
                            : g.kind() == metrics::kGroupCellType && g.name() == p.cell_type) {
      return &g;
    }
  }
  return nullptr;
}

// The SLO's figure and 95% interval on the replications pooled (the
// verdicts' intervals, confidence.h). Invalid when the group or samples are
// missing.
Interval slo_interval(const v1::Results& pooled, const v1::SloResult& s) {
  ParsedSlo p;
  if (!parse_slo(s.description(), &p)) return {};
  const v1::Group* g = slo_group(pooled, p);
  if (g == nullptr) return {};
  if (p.quorum) return wilson(g->quorum().meetings_quorate_by_deadline(), g->quorum().meetings());
  bool has_figure = false;
  Interval iv = group_quantile_interval(*g, p.metric, p.quantile, &has_figure);
  if (has_figure && !iv.valid) {  // too few batches: the figure alone decides
    iv.lo = iv.hi = iv.estimate;
    iv.valid = true;
  }
  return iv;
}

void estimate(const std::vector<v1::Results>& runs, v1::CapacityPoint* p) {
  std::vector<const v1::Results*> ptrs;
  bool problem_any = false;
  for (const v1::Results& r : runs) ptrs.push_back(&r);
  v1::Results pooled;
  std::string why;
  if (!pool_seeds(ptrs, &pooled, &why)) problem_any = true;  // cannot happen: one scenario
  bool all_met = true;
  for (int i = 0; i < runs.front().slos_size(); ++i) {
    bool problem = problem_any;
    for (const v1::Results& r : runs) {
      problem = problem || i >= r.slos_size() || has_problem(r.slos(i));
    }
    const v1::SloResult& s0 = runs.front().slos(i);
    const Interval iv = problem ? Interval{} : slo_interval(pooled, s0);
    v1::SloEstimate* e = p->add_slos();
    e->set_description(s0.description());
    e->set_quorum(metrics::is_quorum_slo(s0));
    e->set_mean(iv.estimate);
    e->set_lo(iv.lo);
    e->set_hi(iv.hi);
    e->set_ci95_half_width((iv.hi - iv.lo) / 2);
    e->set_limit(s0.limit());
    const bool valid = iv.valid;
    e->set_met(!problem && valid && (e->quorum() ? iv.lo >= s0.limit() : iv.hi <= s0.limit()));
    e->set_missed(!problem && valid && (e->quorum() ? iv.hi < s0.limit() : iv.lo > s0.limit()));
    all_met = all_met && !slo_missed(*e);
  }
  p->set_all_met(all_met);
}

void server_figures(const std::vector<v1::Results>& runs, v1::CapacityPoint* p) {
  double util = 0, egress = 0, rss = 0;
  for (const v1::Results& r : runs) {
    for (const v1::ServerStats& s : r.servers()) {
      const double elapsed = static_cast<double>(s.elapsed_ns());
      if (elapsed <= 0) continue;
      util += static_cast<double>(s.busy_ns()) / (elapsed * std::max<uint32_t>(1, s.cores()));
      egress += static_cast<double>(s.egress_bytes()) * kBitsPerByte * 1e3 / elapsed;  // Mb/s
    }
    rss += static_cast<double>(r.run().peak_rss_bytes()) / (1024.0 * 1024);
  }
  const double n = static_cast<double>(runs.size());
  p->set_utilisation_mean(util / n);
  p->set_egress_mbps_peak_mean(egress / n);
  p->set_peak_rss_mib(rss / n);
}

bool run_point(const v1::Scenario& base, const v1::Calibration& cal, const SizeOptions& o,
               uint32_t cells, Replicated* out, std::string* error) {
  const v1::Scenario scaled = scale_to_node(base, cells);
  sim::SimulateOptions so;
  so.scenario_file = o.scenario_file;
  so.calibration_label = o.calibration_label;
  std::vector<v1::Results> runs;
  for (uint32_t r = 0; r < std::max<uint32_t>(1, o.replications); ++r) {
    v1::Scenario s = scaled;
    s.set_seed(base.seed() + r);
    sim::SimulateOutcome sim_out = sim::simulate(s, cal, so);
    if (!sim_out.ok) {
      *error = "at " + std::to_string(cells) + " cells per node: " + sim_out.error;
      return false;
    }
    runs.push_back(std::move(sim_out.results));
  }
  out->point.set_cells_per_node(cells);
  out->point.set_replications(static_cast<uint32_t>(runs.size()));
  estimate(runs, &out->point);
  server_figures(runs, &out->point);
  out->queue_wait_p99_ms = queue_wait_p99_ms(runs);
  out->first = std::move(runs.front());
  return true;
}

// all_met over the server-bound SLOs only (link_bound[i]: SLO i is left out).
void apply_link_bound(const std::vector<bool>& link_bound, v1::CapacityPoint* p) {
  bool all = true;
  for (int i = 0; i < p->slos_size(); ++i) {
    const bool excluded = static_cast<size_t>(i) < link_bound.size() && link_bound[i];
    if (!excluded && slo_missed(p->slos(i))) all = false;
  }
  p->set_all_met(all);
}

uint32_t find_bend(const v1::Sizing& z) {
  const std::vector<int> excluded = link_bound_slos(z);
  std::vector<std::pair<double, double>> r;  // (cells, worst latency ratio)
  for (const v1::CapacityPoint& p : z.curve()) {
    double worst = 0;
    for (int i = 0; i < p.slos_size(); ++i) {
      const v1::SloEstimate& e = p.slos(i);
      if (std::find(excluded.begin(), excluded.end(), i) != excluded.end()) continue;
      if (!e.quorum() && e.limit() > 0) worst = std::max(worst, e.mean() / e.limit());
    }
    r.push_back({p.cells_per_node(), worst});
  }
  if (r.size() < 3) return 0;
  auto slope = [&](size_t i) { return (r[i + 1].second - r[i].second) / (r[i + 1].first - r[i].first); };
  const double base = std::max(slope(0), 1e-12);
  for (size_t i = 1; i + 1 < r.size(); ++i) {
    if (slope(i) > kBendSlopeFactor * base) return static_cast<uint32_t>(r[i].first);
  }
  return 0;
}

void answer_rollout(const v1::Scenario& s, const SizeOptions& o, const v1::Results& at_answer,
                    v1::Sizing* z) {
  uint64_t scenario_cells = 0;
  for (const v1::CellType& c : s.cell_types()) scenario_cells += c.count();
  z->set_total_cells(o.total_cells > 0 ? o.total_cells : scenario_cells);
  z->set_peak_share(o.peak_share);
  z->set_peak_cells(static_cast<uint64_t>(
      std::ceil(static_cast<double>(z->total_cells()) * o.peak_share - 1e-9)));
  z->set_headroom(o.headroom);
  z->set_memory_bytes_per_member(o.memory_bytes_per_member);
  const uint32_t per_node = z->max_cells_per_node();
  if (per_node == 0) return;
  const uint64_t nodes = (z->peak_cells() + per_node - 1) / per_node;
  z->set_nodes_needed(static_cast<uint32_t>(nodes));
  z->set_nodes_n_plus_1(static_cast<uint32_t>(nodes + 1));
  z->set_cores_total(z->nodes_n_plus_1() * z->cores_per_node());
  for (const v1::CapacityPoint& p : z->curve()) {
    if (p.cells_per_node() == per_node) z->set_egress_mbps_per_node(p.egress_mbps_peak_mean() * o.headroom);
  }
  const double members = static_cast<double>(at_answer.run().members());
  z->set_memory_gib_per_node(members * o.memory_bytes_per_member * o.headroom / kBytesPerGib);
  if (at_answer.run().cells() > 0) {
    z->set_members_per_cell(static_cast<uint32_t>(std::lround(members / at_answer.run().cells())));
  }
}

// The search's points: each simulated once, and the SLOs seen to be
// link-bound so far (missed while the server is idle; the smallest point
// always counts as idle). The set only grows.
class Search {
 public:
  Search(const v1::Scenario& s, const v1::Calibration& cal, const SizeOptions& o,
         std::string* error)
      : s_(s), cal_(cal), o_(o), error_(error) {}

  // Simulates `cells` per node unless done before; false (with *error) if
  // it cannot be simulated.
  bool eval(uint32_t cells) {
    if (points_.count(cells)) return true;
    Replicated r;
    if (!run_point(s_, cal_, o_, cells, &r, error_)) return false;
    link_bound_.resize(r.point.slos_size(), false);
    const bool idle = points_.empty() || r.queue_wait_p99_ms <= kIdleQueueWaitMs;
    for (int i = 0; i < r.point.slos_size(); ++i) {
      if (idle && slo_missed(r.point.slos(i))) link_bound_[i] = true;
    }
    apply_link_bound(link_bound_, &r.point);
    if (o_.on_point) o_.on_point(r.point);
    points_[cells] = std::move(r);
    return true;
  }

  // Whether every server-bound SLO holds at `cells` (simulated before).
  bool holds(uint32_t cells) {
    CELLSIM_ASSERT(points_.count(cells) == 1);
    apply_link_bound(link_bound_, &points_.at(cells).point);
    return points_.at(cells).point.all_met();
  }

  bool any_server_bound() const {
    return std::find(link_bound_.begin(), link_bound_.end(), false) != link_bound_.end() ||
           link_bound_.empty();
  }

  // Doubles from the largest point that holds (*ok, at least `smallest`)
  // until one fails (*fail) or the largest allowed holds (*fail = 0).
  bool grow(uint32_t smallest, uint32_t* ok, uint32_t* fail) {
    for (uint32_t x = std::max(*ok, smallest);; x = std::min<uint64_t>(2ull * x, o_.max_cells)) {
      if (!eval(x)) return false;
      if (!holds(x)) {
        *fail = x;
        return true;
      }
      *ok = x;
      *fail = 0;
      if (x >= o_.max_cells) return true;
    }
  }

  // Bisects between *ok and *fail down to the resolution.
  bool bisect(uint32_t* ok, uint32_t* fail) {
    while (*ok > 0 && *fail > 0 &&
           *fail - *ok > std::max<uint32_t>(1, static_cast<uint32_t>(o_.resolution_share * *ok))) {
      const uint32_t mid = *ok + (*fail - *ok) / 2;
      if (!eval(mid)) return false;
      (holds(mid) ? *ok : *fail) = mid;
    }
    return true;
  }

  // Every point, with all_met over the server-bound SLOs as finally known.
  std::map<uint32_t, Replicated>& final_points() {
    for (auto& [cells, r] : points_) apply_link_bound(link_bound_, &r.point);
    return points_;
  }

 private:
  const v1::Scenario& s_;
  const v1::Calibration& cal_;
  const SizeOptions& o_;
  std::string* error_;
  std::map<uint32_t, Replicated> points_;
  std::vector<bool> link_bound_;  // by SLO index; grows as idle points are seen
};

// The sizing: the curve, the answer (`ok` cells per node; capped when no
// point failed) and the rollout, with the results at the answer (else at
// the smallest point).
void write_sizing(const v1::Scenario& s, const SizeOptions& o,
                  const std::map<uint32_t, Replicated>& points, uint32_t smallest, uint32_t ok,
                  uint32_t fail, SizeOutcome* out) {
  v1::Sizing* z = out->results.mutable_sizing();
  z->set_scenario(s.name());
  z->set_replications(std::max<uint32_t>(1, o.replications));
  z->set_cores_per_node(s.server().cores_per_node());
  z->set_calibration(o.calibration_label);
  for (const auto& [cells, r] : points) *z->add_curve() = r.point;
  z->set_max_cells_per_node(ok);
  z->set_capped(ok > 0 && fail == 0);
  z->set_bend_cells_per_node(find_bend(*z));
  const v1::Results& at = points.at(ok > 0 ? ok : smallest).first;
  answer_rollout(s, o, at, z);
  const v1::Sizing sizing = *z;
  out->results = at;
  *out->results.mutable_sizing() = sizing;
}

}  // namespace

bool slo_missed(const v1::SloEstimate& e) {
  const bool before_intervals = e.lo() == 0 && e.hi() == 0 && e.mean() != 0;
  return before_intervals ? !e.met() : e.missed();
}

int first_idle_miss(const v1::Sizing& z, int slo) {
  for (int k = 0; k < z.curve_size(); ++k) {
    const v1::CapacityPoint& p = z.curve(k);
    if (slo < p.slos_size() && slo_missed(p.slos(slo)) && (k == 0 || p.all_met())) return k;
  }
  return -1;
}

std::vector<int> link_bound_slos(const v1::Sizing& z) {
  std::vector<int> out;
  if (z.curve().empty()) return out;
  for (int i = 0; i < z.curve(0).slos_size(); ++i) {
    if (first_idle_miss(z, i) >= 0) out.push_back(i);
  }
  return out;
}

v1::Scenario scale_to_node(const v1::Scenario& s, uint32_t cells) {
  v1::Scenario out = s;
  out.mutable_server()->set_nodes(1);
  const int types = s.cell_types_size();
  double total = 0;
  for (const v1::CellType& c : s.cell_types()) total += c.count();
  // Largest remainder over the cells left after one per type.
  const double spare = static_cast<double>(cells) - types;
  std::vector<std::pair<double, int>> remainders;
  uint32_t given = 0;
  for (int i = 0; i < types; ++i) {
    const double exact = total > 0 ? spare * s.cell_types(i).count() / total : 0;
    const uint32_t whole = static_cast<uint32_t>(std::floor(exact));
    out.mutable_cell_types(i)->set_count(1 + whole);
    given += 1 + whole;
    remainders.push_back({exact - whole, i});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < cells && k < remainders.size(); ++k, ++given) {
    auto* c = out.mutable_cell_types(remainders[k].second);
    c->set_count(c->count() + 1);
  }
  return out;
}

SizeOutcome size(const v1::Scenario& s, const v1::Calibration& cal, const SizeOptions& o) {
  SizeOutcome out;
  const uint32_t smallest = std::max<uint32_t>(o.min_cells, std::max(1, s.cell_types_size()));
  Search search(s, cal, o, &out.error);
  if (!search.eval(smallest)) return out;
  uint32_t ok = 0, fail = 0;
  // Double from the largest point that holds until one fails, bisect, and do it
  // again if an SLO that failed it has since turned out link-bound (the set
  // only grows, so a point that held still holds).
  for (bool again = true; again && search.any_server_bound();) {
    if (!search.grow(smallest, &ok, &fail) || !search.bisect(&ok, &fail)) return out;
    again = fail > 0 && search.holds(fail);
  }
  if (!search.any_server_bound()) ok = 0, fail = 0;
  write_sizing(s, o, search.final_points(), smallest, ok, fail, &out);
  out.ok = true;
  return out;
}

}  // namespace cellsim::report
