// The report's sections that chart the run's figures (sections.h): time to
// quorum, latency percentiles, server utilisation, sizing and the capacity
// curve.
#include <algorithm>

#include "metrics/histogram.h"
#include "report/sections.h"
#include "report/sizing.h"
#include "report/svg.h"
#include "report/words.h"

namespace cellsim::report {
namespace {

constexpr double kUsPerMinute = 60e6;
constexpr double kBytesPerMb = 1e6;
constexpr double kCapacityRatioCap = 3.0;  // the capacity chart's y axis stops here

const v1::LatencyMetric* find_metric(const v1::Group& g, const std::string& name) {
  for (const v1::LatencyMetric& m : g.latencies()) {
    if (m.name() == name) return &m;
  }
  return nullptr;
}

bool histogram_of(const v1::Group& g, const std::string& name, metrics::Histogram* h) {
  const v1::LatencyMetric* m = find_metric(g, name);
  return m != nullptr && metrics::Histogram::from_proto(m->histogram(), h, nullptr) && !h->empty();
}

double quantile_us(const metrics::Histogram& h, double q) {
  return static_cast<double>(std::min(h.value_at_quantile(q), h.max()));
}

std::vector<const v1::Group*> groups_of(const v1::Results& r, const char* kind) {
  std::vector<const v1::Group*> out;
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == kind) out.push_back(&g);
  }
  return out;
}

Series ttq_series(const v1::Group& g, const metrics::Histogram& h, std::string label) {
  Series s;
  s.label = std::move(label);
  const double den = static_cast<double>(std::max<uint64_t>(g.quorum().meetings(), h.total_count()));
  uint64_t cum = 0;
  s.points.push_back({0, 0});
  h.for_each_count([&](int32_t index, uint64_t n) {
    cum += n;
    const int64_t v = std::min(h.highest_equivalent_value(h.value_at_index(index)), h.max());
    s.points.push_back({static_cast<double>(v) / kUsPerMinute, static_cast<double>(cum) / den});
  });
  return s;
}

constexpr const char* kLatencyMetrics[] = {"join_latency", "heartbeat_rtt", "broadcast_latency",
                                           "ballot_latency", "result_latency"};
constexpr double kBarQuantiles[] = {0.5, 0.9, 0.99};

void add_latency_metric(Doc& d, const View& view, Lang l, const std::string& metric) {
  const ReportInput& in = *view.in;
  BarChart chart;
  chart.title = format(l, Msg::kLatencyChartTitle, {metric_label(l, metric)});
  chart.x_label = t(l, Msg::kAxisMsLog);
  chart.log_scale = true;
  chart.series_labels = {t(l, Msg::kColP50), t(l, Msg::kColP90), t(l, Msg::kColP99)};
  Block tb = table({t(l, Msg::kColProfile), t(l, Msg::kColSamples), t(l, Msg::kColP50) + " (ms)",
                    t(l, Msg::kColP90) + " (ms)", t(l, Msg::kColP99) + " (ms)",
                    t(l, Msg::kColCensored)});
  for (const v1::Group* g : groups_of(in.results, metrics::kGroupProfile)) {
    metrics::Histogram h;
    if (!histogram_of(*g, metric, &h)) continue;
    const std::string name = view.profile_name(l, g->name());
    std::vector<double> row;
    std::vector<std::string> cells = {name, fmt_int(l, h.total_count())};
    for (double q : kBarQuantiles) {
      row.push_back(quantile_us(h, q) / 1000.0);
      cells.push_back(fmt_ms(l, row.back()));
    }
    // Samples that never completed: the tail above is optimistic by them.
    cells.push_back(fmt_int(l, find_metric(*g, metric)->censored()));
    chart.categories.push_back(name);
    chart.values.push_back(row);
    tb.rows.push_back(cells);
  }
  para(d, chart.title, Block::Kind::kSubsection);
  if (tb.rows.empty()) {
    para(d, t(l, Msg::kNoData));
    return;
  }
  svg(d, bar_chart(chart));
  d.push_back(tb);
}

double utilisation(const v1::ServerStats& s) {
  const double capacity = static_cast<double>(s.elapsed_ns()) * std::max<uint32_t>(s.cores(), 1);
  return capacity > 0 ? static_cast<double>(s.busy_ns()) / capacity : 0;
}

double slo_ratio(const v1::SloEstimate& e) {
  if (e.quorum()) return e.mean() > 0 ? e.limit() / e.mean() : kCapacityRatioCap;
  return e.limit() > 0 ? e.mean() / e.limit() : 0;
}

// The sizing table's rows that count the link-bound SLOs and those that
// decide cells per node.
void add_bound_rows(Block* tb, const v1::Sizing& z, const std::vector<int>& link_bound, Lang l) {
  const int slo_count = z.curve().empty() ? 0 : z.curve(0).slos_size();
  if (!link_bound.empty()) {
    const v1::CapacityPoint& p0 = z.curve(0);
    tb->rows.push_back({t(l, Msg::kSizeLinkBound), fmt_int(l, link_bound.size()),
                        format(l, Msg::kAssumeLinkBound,
                               {fmt_int(l, p0.cells_per_node()),
                                fmt_share(l, p0.utilisation_mean()),
                                fmt_fixed(l, kIdleQueueWaitMs, 0)})});
  }
  if (slo_count > static_cast<int>(link_bound.size())) {
    tb->rows.push_back({t(l, Msg::kSizeServerBound),
                        fmt_int(l, static_cast<uint64_t>(slo_count) - link_bound.size()),
                        t(l, Msg::kAssumeServerBound)});
  }
}

// The sizing table's answer: cells per node, the bend, and the rollout.
void add_answer_rows(Block* tb, const v1::Sizing& z, Lang l) {
  if (z.max_cells_per_node() == 0) {
    tb->rows.push_back({t(l, Msg::kSizeMaxCells), "-", t(l, Msg::kSizeNone)});
    return;
  }
  const std::string headroom = fmt_fixed(l, z.headroom(), 2);
  tb->rows.push_back({t(l, Msg::kSizeMaxCells), fmt_int(l, z.max_cells_per_node()),
                      format(l, z.capped() ? Msg::kAssumeCapped : Msg::kAssumeMaxCells,
                             {fmt_int(l, z.replications())})});
  tb->rows.push_back({t(l, Msg::kSizeBend),
                      z.bend_cells_per_node() == 0 ? "-" : fmt_int(l, z.bend_cells_per_node()),
                      t(l, z.bend_cells_per_node() == 0 ? Msg::kBendNone : Msg::kAssumeBend)});
  tb->rows.push_back({t(l, Msg::kSizePeak), fmt_int(l, z.peak_cells()),
                      format(l, Msg::kAssumePeak,
                             {fmt_int(l, z.total_cells()), fmt_share(l, z.peak_share())})});
  tb->rows.push_back({t(l, Msg::kSizeNodes), fmt_int(l, z.nodes_n_plus_1()),
                      format(l, Msg::kAssumeNodes, {fmt_int(l, z.nodes_needed()),
                                                    fmt_int(l, z.max_cells_per_node())})});
  tb->rows.push_back({t(l, Msg::kSizeCores), fmt_int(l, z.cores_total()),
                      format(l, Msg::kAssumeCores, {fmt_int(l, z.cores_per_node())})});
  tb->rows.push_back({t(l, Msg::kSizeEgress), fmt_fixed(l, z.egress_mbps_per_node(), 1) + " Mb/s",
                      format(l, Msg::kAssumeEgress,
                             {fmt_int(l, z.max_cells_per_node()), headroom})});
  tb->rows.push_back({t(l, Msg::kSizeMemory), fmt_fixed(l, z.memory_gib_per_node(), 2) + " GiB",
                      format(l, Msg::kAssumeMemory,
                             {fmt_fixed(l, z.memory_bytes_per_member() / 1024.0, 0), headroom})});
}

// Each link-bound SLO at the first point it was missed while the server was
// idle: its estimate there.
std::vector<std::string> link_bound_items(const View& view, const v1::Sizing& z,
                                          const std::vector<int>& link_bound, Lang l) {
  std::vector<std::string> items;
  for (int i : link_bound) {
    const v1::CapacityPoint& p = z.curve(first_idle_miss(z, i));
    const v1::SloEstimate& e = p.slos(i);
    bool quorum = e.quorum();
    const std::string label = slo_label(l, e.description(), &quorum, &view.names);
    const bool interval = e.lo() != 0 || e.hi() != 0;
    items.push_back(label + ": " + share_or_ms(l, quorum, e.mean()) +
                    (interval ? " [" + share_or_ms(l, quorum, e.lo()) + ", " +
                                    share_or_ms(l, quorum, e.hi()) + "]"
                              : " ± " + share_or_ms(l, quorum, e.ci95_half_width())) +
                    ", " + format(l, Msg::kAtCellsPerNode, {fmt_int(l, p.cells_per_node())}));
  }
  return items;
}

}  // namespace

void add_time_to_quorum(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "time-to-quorum", t(l, Msg::kSecTimeToQuorum));
  para(d, t(l, Msg::kCdfNote));
  LineChart chart;
  chart.title = t(l, Msg::kSecTimeToQuorum);
  chart.x_label = t(l, Msg::kAxisMinutes);
  chart.y_label = t(l, Msg::kAxisShareQuorate);
  chart.y_percent = true;
  chart.step = true;
  Block tb = table({t(l, Msg::kColCellType), t(l, Msg::kColMeetings),
                    t(l, Msg::kColMedian) + " (" + t(l, Msg::kUnitMinutes) + ")",
                    t(l, Msg::kColP90) + " (" + t(l, Msg::kUnitMinutes) + ")",
                    t(l, Msg::kColNeverQuorate)});
  double x_max = 0;
  for (const v1::Group* g : groups_of(in.results, metrics::kGroupCellType)) {
    metrics::Histogram h;
    const std::string name = view.type_name(l, g->name());
    const uint64_t never = g->quorum().meetings() - std::min(g->quorum().meetings(),
                                                             g->quorum().meetings_ever_quorate());
    if (!histogram_of(*g, "time_to_quorum", &h)) {
      tb.rows.push_back({name, fmt_int(l, g->quorum().meetings()), t(l, Msg::kNoData),
                         t(l, Msg::kNoData), fmt_int(l, never)});
      continue;
    }
    chart.series.push_back(ttq_series(*g, h, name));
    x_max = std::max(x_max, static_cast<double>(h.max()) / kUsPerMinute);
    tb.rows.push_back({name, fmt_int(l, g->quorum().meetings()),
                       fmt_fixed(l, quantile_us(h, 0.5) / kUsPerMinute, 1),
                       fmt_fixed(l, quantile_us(h, 0.9) / kUsPerMinute, 1), fmt_int(l, never)});
  }
  chart.x_max = nice_ceiling(x_max);
  svg(d, line_chart(chart));
  d.push_back(tb);
  end_section(d);
}

void add_latency(Doc& d, const View& view, Lang l) {
  section(d, "latency", t(l, Msg::kSecLatency));
  for (const char* m : kLatencyMetrics) add_latency_metric(d, view, l, m);
  end_section(d);
}

void add_servers(Doc& d, const ReportInput& in, Lang l) {
  section(d, "servers", t(l, Msg::kSecServers));
  if (in.results.servers().empty()) {
    para(d, t(l, Msg::kNoServers));
    end_section(d);
    return;
  }
  para(d, t(l, Msg::kUtilisationNote));
  BarChart chart;
  chart.title = t(l, Msg::kSecServers);
  chart.x_label = t(l, Msg::kAxisUtilisation);
  chart.percent = true;
  chart.series_labels = {t(l, Msg::kColUtilisation)};
  Block tb = table({t(l, Msg::kColNode), t(l, Msg::kColCores), t(l, Msg::kColCells),
                    t(l, Msg::kColUtilisation), t(l, Msg::kColFramesIn), t(l, Msg::kColEgress),
                    t(l, Msg::kColPeakQueue)});
  for (const v1::ServerStats& s : in.results.servers()) {
    const std::string name = format(l, Msg::kNodeLabel, {std::to_string(s.node())});
    chart.categories.push_back(name);
    chart.values.push_back({utilisation(s)});
    tb.rows.push_back({name, fmt_int(l, s.cores()), fmt_int(l, s.cells()),
                       fmt_share(l, utilisation(s)), fmt_int(l, s.frames_in()),
                       fmt_fixed(l, static_cast<double>(s.egress_bytes()) / kBytesPerMb, 1),
                       fmt_int(l, s.peak_queue_frames())});
  }
  svg(d, bar_chart(chart));
  d.push_back(tb);
  end_section(d);
}

void add_sizing(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "sizing", t(l, Msg::kSecSizing));
  if (!in.has_sizing) {
    para(d, t(l, Msg::kSizingAbsent));
    end_section(d);
    return;
  }
  const v1::Sizing& z = in.sizing;
  const std::vector<int> link_bound = link_bound_slos(z);
  Block tb = table({t(l, Msg::kColItem), t(l, Msg::kColValue), t(l, Msg::kColAssumption)});
  add_bound_rows(&tb, z, link_bound, l);
  add_answer_rows(&tb, z, l);
  d.push_back(tb);
  if (!link_bound.empty()) {
    para(d, t(l, Msg::kLinkBoundHeading));
    list(d, link_bound_items(view, z, link_bound, l));
  }
  para(d, format(l, Msg::kAssumeCalibration, {z.calibration()}));
  end_section(d);
}

void add_capacity(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "capacity", t(l, Msg::kSecCapacity));
  if (!in.has_sizing || in.sizing.curve().empty()) {
    para(d, t(l, Msg::kCapacityAbsent));
    end_section(d);
    return;
  }
  const v1::Sizing& z = in.sizing;
  const std::vector<int> link_bound = link_bound_slos(z);
  para(d, t(l, Msg::kCapacityNote));
  LineChart chart;
  chart.title = t(l, Msg::kSecCapacity);
  chart.x_label = t(l, Msg::kCapacityAxisX);
  chart.y_label = t(l, Msg::kCapacityAxisY);
  chart.y_ref = 1;
  chart.y_max = kCapacityRatioCap;
  const int slos = z.curve(0).slos_size();
  for (int i = 0; i < slos; ++i) {
    Series s;
    bool quorum = false;
    s.label = slo_label(l, z.curve(0).slos(i).description(), &quorum, &view.names);
    if (std::find(link_bound.begin(), link_bound.end(), i) != link_bound.end()) {
      s.label = format(l, Msg::kLinkBoundSuffix, {s.label});
      s.dashed = true;
    }
    for (const v1::CapacityPoint& p : z.curve()) {
      if (i < p.slos_size()) s.points.push_back({double(p.cells_per_node()), slo_ratio(p.slos(i))});
    }
    chart.series.push_back(s);
  }
  chart.x_max = nice_ceiling(z.curve(z.curve_size() - 1).cells_per_node());
  svg(d, line_chart(chart));
  Block tb = table({t(l, Msg::kColCellsPerNode), t(l, Msg::kColReplications),
                    t(l, Msg::kColUtilisation), t(l, Msg::kColAllMet)});
  for (const v1::CapacityPoint& p : z.curve()) {
    tb.rows.push_back({fmt_int(l, p.cells_per_node()), fmt_int(l, p.replications()),
                       fmt_share(l, p.utilisation_mean()), t(l, p.all_met() ? Msg::kYes : Msg::kNo)});
    tb.row_class.push_back(p.all_met() ? "ok" : "fail");
  }
  d.push_back(tb);
  end_section(d);
}

}  // namespace cellsim::report
