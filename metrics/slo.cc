#include "metrics/slo.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "metrics/histogram.h"
#include "metrics/recorder.h"

namespace cellsim::metrics {
namespace {

// A number without trailing zeros: 2000, 0.5, 99.9.
std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string scope(const std::string& cell_type) {
  return cell_type.empty() ? "(all cells)" : "(cell type " + cell_type + ")";
}

const v1::Group* find_group(const v1::Results& results, const std::string& cell_type) {
  for (const v1::Group& g : results.groups()) {
    if (cell_type.empty() ? g.kind() == kGroupOverall
                          : (g.kind() == kGroupCellType && g.name() == cell_type)) {
      return &g;
    }
  }
  return nullptr;
}

v1::SloResult latency_slo(const v1::Slo& slo, const v1::Results& results) {
  v1::SloResult r;
  r.set_limit(slo.max_ms());
  r.set_observed(0);
  r.set_met(false);
  std::string base = slo.metric() + " p" + number(slo.quantile() * 100) +
                     " <= " + number(slo.max_ms()) + " ms " + scope(slo.cell_type());
  if (!(slo.quantile() >= 0 && slo.quantile() <= 1)) {
    r.set_description(base + ": quantile " + number(slo.quantile()) + " not in [0, 1]");
    return r;
  }
  if (!latency_from_name(slo.metric())) {
    r.set_description(base + ": no such latency metric");
    return r;
  }
  const v1::Group* g = find_group(results, slo.cell_type());
  if (g == nullptr) {
    r.set_description(base + ": no such group in the results");
    return r;
  }
  const v1::LatencyMetric* metric = nullptr;
  for (const v1::LatencyMetric& m : g->latencies()) {
    if (m.name() == slo.metric()) metric = &m;
  }
  Histogram h;
  std::string why;
  if (metric == nullptr) {
    r.set_description(base + ": no samples");
    return r;
  }
  if (!Histogram::from_proto(metric->histogram(), &h, &why)) {
    r.set_description(base + ": invalid histogram: " + why);
    return r;
  }
  if (h.empty()) {
    r.set_description(base + ": no samples");
    return r;
  }
  const int64_t value_us = std::min(h.value_at_quantile(slo.quantile()), h.max());
  const double observed_ms = static_cast<double>(value_us) / 1000.0;
  r.set_observed(observed_ms);
  r.set_met(observed_ms <= slo.max_ms());
  r.set_description(base);
  return r;
}

v1::SloResult quorum_slo(const v1::QuorumSlo& slo, const v1::Results& results) {
  v1::SloResult r;
  r.set_limit(slo.min_attainment());
  r.set_observed(0);
  r.set_met(false);
  std::string base = std::string(kQuorumSloPrefix) + " >= " + number(slo.min_attainment() * 100) +
                     "% " + scope(slo.cell_type());
  const v1::Group* g = find_group(results, slo.cell_type());
  if (g == nullptr) {
    r.set_description(base + ": no such group in the results");
    return r;
  }
  const uint64_t meetings = g->quorum().meetings();
  if (meetings == 0) {
    r.set_description(base + ": no meetings");
    return r;
  }
  const double attainment = static_cast<double>(g->quorum().meetings_quorate_by_deadline()) /
                            static_cast<double>(meetings);
  r.set_observed(attainment);
  r.set_met(attainment >= slo.min_attainment());
  r.set_description(base);
  return r;
}

}  // namespace

void evaluate_slos(const v1::Scenario& scenario, v1::Results* results) {
  results->clear_slos();
  for (const v1::Slo& slo : scenario.slos()) *results->add_slos() = latency_slo(slo, *results);
  for (const v1::QuorumSlo& slo : scenario.quorum_slos()) {
    *results->add_slos() = quorum_slo(slo, *results);
  }
}

bool all_met(const v1::Results& results) {
  for (const v1::SloResult& s : results.slos()) {
    if (!s.met()) return false;
  }
  return true;
}

bool is_quorum_slo(const v1::SloResult& slo) {
  return std::string_view(slo.description()).starts_with(kQuorumSloPrefix);
}

}  // namespace cellsim::metrics
