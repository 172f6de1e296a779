#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "report/svg.h"
#include "scenario/loader.h"

namespace cellsim::report {
namespace {

namespace fs = std::filesystem;

constexpr double kUsPerMinute = 60e6;
constexpr double kBytesPerMb = 1e6;
constexpr double kCapacityRatioCap = 3.0;  // the capacity chart's y axis stops here
constexpr double kNsPerS = 1e9;

// ---------------------------------------------------------------------------
// A document both renderers walk: blocks of plain text (escaped on output;
// `code` spans become <code> in HTML).

struct Block {
  enum class Kind { kTitle, kSection, kEndSection, kSubsection, kPara, kWarning, kTable, kList, kSvg };
  Kind kind = Kind::kPara;
  std::string id, text;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row_class;  // per row, HTML only
  std::vector<std::string> items;
};
using Doc = std::vector<Block>;

void section(Doc& d, const char* id, std::string title) {
  Block b;
  b.kind = Block::Kind::kSection;
  b.id = id;
  b.text = std::move(title);
  d.push_back(std::move(b));
}
void end_section(Doc& d) { d.push_back(Block{Block::Kind::kEndSection}); }
void para(Doc& d, std::string text, Block::Kind kind = Block::Kind::kPara) {
  Block b;
  b.kind = kind;
  b.text = std::move(text);
  d.push_back(std::move(b));
}
void list(Doc& d, std::vector<std::string> items) {
  Block b;
  b.kind = Block::Kind::kList;
  b.items = std::move(items);
  d.push_back(std::move(b));
}
void svg(Doc& d, std::string markup) {
  Block b;
  b.kind = Block::Kind::kSvg;
  b.text = std::move(markup);
  d.push_back(std::move(b));
}
Block table(std::vector<std::string> header) {
  Block b;
  b.kind = Block::Kind::kTable;
  b.header = std::move(header);
  return b;
}

// ---------------------------------------------------------------------------
// Words for figures.

std::string t(Lang l, Msg m) { return std::string(text(l, m)); }

std::string metric_label(Lang l, const std::string& name) {
  static const std::pair<const char*, Msg> kMetrics[] = {
      {"join_latency", Msg::kMetricJoin},         {"heartbeat_rtt", Msg::kMetricHeartbeat},
      {"broadcast_latency", Msg::kMetricBroadcast}, {"ballot_latency", Msg::kMetricBallot},
      {"result_latency", Msg::kMetricResult},     {"time_to_quorum", Msg::kMetricTimeToQuorum}};
  for (const auto& [n, m] : kMetrics) {
    if (name == n) return t(l, m);
  }
  return name;
}

// 0.99 -> "99", 0.999 -> "99.9" (vi: "99,9").
std::string quantile_label(Lang l, double q) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", q * 100);
  std::string s = buf;
  if (l == Lang::kVi) std::replace(s.begin(), s.end(), '.', ',');
  return s;
}

std::string verdict_label(Lang l, Verdict v) {
  switch (v) {
    case Verdict::kFeasible: return t(l, Msg::kVerdictFeasible);
    case Verdict::kFeasibleWithConditions: return t(l, Msg::kVerdictConditions);
    case Verdict::kNotFeasible: return t(l, Msg::kVerdictNotFeasible);
  }
  return "";
}

const char* verdict_class(Verdict v) {
  switch (v) {
    case Verdict::kFeasible: return "ok";
    case Verdict::kFeasibleWithConditions: return "cond";
    case Verdict::kNotFeasible: return "fail";
  }
  return "";
}

std::string outcome_label(Lang l, Outcome o) {
  switch (o) {
    case Outcome::kPass: return t(l, Msg::kOutcomePass);
    case Outcome::kCondition: return t(l, Msg::kOutcomeCondition);
    case Outcome::kFail: return t(l, Msg::kOutcomeFail);
  }
  return "";
}

std::string latency_finding_text(Lang l, const Finding& f) {
  const std::string m = metric_label(l, f.metric), q = quantile_label(l, f.quantile);
  if (f.missing) return format(l, Msg::kFindLatencyMissing, {m, q, fmt_ms(l, f.limit)});
  return format(l, f.check == Check::kLatencySlo ? Msg::kFindLatency : Msg::kFindLatencyAll,
                {m, q, fmt_ms(l, f.observed), fmt_ms(l, f.limit)});
}

}  // namespace

// The reason a finding gives, in words (exposed to the tests via the report).
std::string finding_text(Lang l, const Finding& f) {
  switch (f.check) {
    case Check::kMeetings:
      return f.count == 0 ? t(l, Msg::kFindNoMeetings)
                          : format(l, Msg::kFindMeetings, {fmt_int(l, f.count)});
    case Check::kTally:
      return format(l, Msg::kFindTally,
                    {fmt_int(l, static_cast<uint64_t>(f.limit)),
                     fmt_int(l, static_cast<uint64_t>(f.observed))});
    case Check::kQuorum:
      return format(l, Msg::kFindQuorum,
                    {fmt_share(l, f.observed), fmt_int(l, f.count), fmt_share(l, f.limit)});
    case Check::kValidVotes:
      if (f.count == 0) return t(l, Msg::kFindNoVotes);
      return format(l, Msg::kFindValidVotes,
                    {fmt_share(l, f.observed), fmt_int(l, f.count), fmt_share(l, f.limit)});
    case Check::kMinutes:
      if (f.count == 0) return t(l, Msg::kFindNoMinutes);
      return format(l, Msg::kFindMinutes,
                    {fmt_share(l, f.observed), fmt_int(l, f.count), fmt_share(l, f.limit)});
    case Check::kLatencySlo:
    case Check::kLatencySloAllCells:
      return latency_finding_text(l, f);
  }
  return "";
}

// What would change a finding that is not a pass; "" for a pass.
std::string condition_text(Lang l, const Finding& f) {
  if (f.outcome == Outcome::kPass) return "";
  switch (f.check) {
    case Check::kMeetings: return t(l, Msg::kCondNoMeetings);
    case Check::kTally: return t(l, Msg::kCondTally);
    case Check::kQuorum: return format(l, Msg::kCondQuorum, {fmt_int(l, f.shortfall)});
    case Check::kValidVotes: return t(l, Msg::kCondVotes);
    case Check::kMinutes: return t(l, Msg::kCondMinutes);
    case Check::kLatencySlo:
    case Check::kLatencySloAllCells: {
      const std::string what = metric_label(l, f.metric) + " (" +
                               format(l, Msg::kQuantileShort, {quantile_label(l, f.quantile)}) +
                               ")";
      if (f.missing) return format(l, Msg::kCondMissing, {metric_label(l, f.metric)});
      if (!f.worst_profile.empty()) {
        return format(l, Msg::kCondLatencyProfile, {f.worst_profile, what, fmt_ms(l, f.limit)});
      }
      return format(l, Msg::kCondLatencyGeneric, {what, fmt_ms(l, f.limit)});
    }
  }
  return "";
}

namespace {

std::string slo_problem(Lang l, const std::string& problem) {
  if (problem.empty()) return "";
  if (problem == "no samples") return t(l, Msg::kSloNoSamples);
  if (problem == "no meetings") return t(l, Msg::kSloNoMeetings);
  if (problem == "no such group in the results") return t(l, Msg::kSloNoGroup);
  return t(l, Msg::kSloOther);
}

std::string slo_label(Lang l, const std::string& description, bool* quorum) {
  ParsedSlo p;
  if (!parse_slo(description, &p)) return description;
  *quorum = p.quorum;
  const std::string scope =
      p.cell_type.empty() ? t(l, Msg::kScopeAll) : format(l, Msg::kScopeType, {p.cell_type});
  std::string s = p.quorum ? format(l, Msg::kSloQuorum, {fmt_share(l, p.limit), scope})
                           : format(l, Msg::kSloLatency, {metric_label(l, p.metric),
                                                          quantile_label(l, p.quantile),
                                                          fmt_ms(l, p.limit), scope});
  const std::string problem = slo_problem(l, p.problem);
  return problem.empty() ? s : s + ": " + problem;
}

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

// A round axis maximum at or above v: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

std::vector<const v1::Group*> groups_of(const v1::Results& r, const char* kind) {
  std::vector<const v1::Group*> out;
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == kind) out.push_back(&g);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Sections.

void add_summary(Doc& d, const ReportInput& in, Lang l, const std::vector<CellTypeVerdict>& vs) {
  Block title;
  title.kind = Block::Kind::kTitle;
  title.text = t(l, Msg::kTitle);
  d.push_back(title);
  section(d, "summary", t(l, Msg::kBasisScenario) + ": " + in.results.run().scenario());
  para(d, t(l, Msg::kIntro));
  size_t counts[3] = {0, 0, 0};
  for (const auto& v : vs) ++counts[static_cast<int>(v.verdict)];
  para(d, format(l, Msg::kVerdictSummary,
                 {fmt_int(l, vs.size()), fmt_int(l, counts[0]), fmt_int(l, counts[1]),
                  fmt_int(l, counts[2])}));
  if (in.results.run().partial()) para(d, t(l, Msg::kPartialWarning), Block::Kind::kWarning);
  if (in.results.run().calibration().find("ESTIMATED") != std::string::npos ||
      in.results.run().calibration().find("estimate") != std::string::npos) {
    para(d, t(l, Msg::kCalibrationEstimated), Block::Kind::kWarning);
  }
  end_section(d);
}

void add_verdict_table(Doc& d, Lang l, const std::vector<CellTypeVerdict>& vs) {
  Block tb = table({t(l, Msg::kColCellType), t(l, Msg::kColVerdict), t(l, Msg::kColCells),
                    t(l, Msg::kColMembers), t(l, Msg::kColMeetings), t(l, Msg::kColQuorum),
                    t(l, Msg::kColValidVotes), t(l, Msg::kColMinutes)});
  for (const auto& v : vs) {
    std::string quorum = "-", votes = "-", minutes = "-";
    for (const Finding& f : v.findings) {
      if (f.check == Check::kQuorum) quorum = fmt_share(l, f.observed);
      if (f.check == Check::kValidVotes && f.count > 0) votes = fmt_share(l, f.observed);
      if (f.check == Check::kMinutes && f.count > 0) minutes = fmt_share(l, f.observed);
    }
    tb.rows.push_back({v.cell_type, verdict_label(l, v.verdict), fmt_int(l, v.cells),
                       fmt_int(l, v.members), fmt_int(l, v.meetings), quorum, votes, minutes});
    tb.row_class.push_back(verdict_class(v.verdict));
  }
  d.push_back(tb);
}

void add_verdicts(Doc& d, Lang l, const std::vector<CellTypeVerdict>& vs) {
  section(d, "verdicts", t(l, Msg::kSecVerdicts));
  add_verdict_table(d, l, vs);
  for (const auto& v : vs) {
    para(d, v.cell_type + ": " + verdict_label(l, v.verdict), Block::Kind::kSubsection);
    para(d, t(l, Msg::kFindingsHeading));
    std::vector<std::string> reasons, conditions;
    for (const Finding& f : v.findings) {
      reasons.push_back("[" + outcome_label(l, f.outcome) + "] " + finding_text(l, f));
      const std::string c = condition_text(l, f);
      if (!c.empty()) conditions.push_back(c);
    }
    list(d, reasons);
    if (!conditions.empty()) {
      para(d, t(l, Msg::kCondHeading));
      list(d, conditions);
    }
  }
  end_section(d);
}

void add_rules(Doc& d, Lang l) {
  section(d, "rules", t(l, Msg::kSecRules));
  para(d, format(l, Msg::kRulesText,
                 {fmt_fixed(l, kQuorumConditionMargin * 100, 0),
                  fmt_share(l, kDefaultMinQuorumAttainment), fmt_share(l, kMinValidVoteShare),
                  fmt_share(l, kMinMinutesCompleteShare),
                  fmt_fixed(l, kLatencyConditionFactor, 1)}));
  end_section(d);
}

void add_slos(Doc& d, const ReportInput& in, Lang l) {
  section(d, "slos", t(l, Msg::kSecSlos));
  if (in.results.slos().empty()) para(d, t(l, Msg::kNoSlos));
  Block tb = table({t(l, Msg::kColSlo), t(l, Msg::kColObserved), t(l, Msg::kColLimit),
                    t(l, Msg::kColMet)});
  for (const v1::SloResult& s : in.results.slos()) {
    bool quorum = metrics::is_quorum_slo(s);
    const std::string label = slo_label(l, s.description(), &quorum);
    auto value = [&](double v) { return quorum ? fmt_share(l, v) : fmt_ms(l, v) + " ms"; };
    tb.rows.push_back({label, value(s.observed()), value(s.limit()),
                       t(l, s.met() ? Msg::kYes : Msg::kNo)});
    tb.row_class.push_back(s.met() ? "ok" : "fail");
  }
  if (!tb.rows.empty()) d.push_back(tb);
  end_section(d);
}

Series ttq_series(const v1::Group& g, const metrics::Histogram& h) {
  Series s;
  s.label = g.name();
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

void add_time_to_quorum(Doc& d, const ReportInput& in, Lang l) {
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
    const uint64_t never = g->quorum().meetings() - std::min(g->quorum().meetings(),
                                                             g->quorum().meetings_ever_quorate());
    if (!histogram_of(*g, "time_to_quorum", &h)) {
      tb.rows.push_back({g->name(), fmt_int(l, g->quorum().meetings()), t(l, Msg::kNoData),
                         t(l, Msg::kNoData), fmt_int(l, never)});
      continue;
    }
    chart.series.push_back(ttq_series(*g, h));
    x_max = std::max(x_max, static_cast<double>(h.max()) / kUsPerMinute);
    tb.rows.push_back({g->name(), fmt_int(l, g->quorum().meetings()),
                       fmt_fixed(l, quantile_us(h, 0.5) / kUsPerMinute, 1),
                       fmt_fixed(l, quantile_us(h, 0.9) / kUsPerMinute, 1), fmt_int(l, never)});
  }
  chart.x_max = nice_ceiling(x_max);
  svg(d, line_chart(chart));
  d.push_back(tb);
  end_section(d);
}

constexpr const char* kLatencyMetrics[] = {"join_latency", "heartbeat_rtt", "broadcast_latency",
                                           "ballot_latency", "result_latency"};
constexpr double kBarQuantiles[] = {0.5, 0.9, 0.99};

void add_latency_metric(Doc& d, const ReportInput& in, Lang l, const std::string& metric) {
  BarChart chart;
  chart.title = format(l, Msg::kLatencyChartTitle, {metric_label(l, metric)});
  chart.x_label = t(l, Msg::kAxisMsLog);
  chart.log_scale = true;
  chart.series_labels = {t(l, Msg::kColP50), t(l, Msg::kColP90), t(l, Msg::kColP99)};
  Block tb = table({t(l, Msg::kColProfile), t(l, Msg::kColSamples), t(l, Msg::kColP50) + " (ms)",
                    t(l, Msg::kColP90) + " (ms)", t(l, Msg::kColP99) + " (ms)"});
  for (const v1::Group* g : groups_of(in.results, metrics::kGroupProfile)) {
    metrics::Histogram h;
    if (!histogram_of(*g, metric, &h)) continue;
    std::vector<double> row;
    std::vector<std::string> cells = {g->name(), fmt_int(l, h.total_count())};
    for (double q : kBarQuantiles) {
      row.push_back(quantile_us(h, q) / 1000.0);
      cells.push_back(fmt_ms(l, row.back()));
    }
    chart.categories.push_back(g->name());
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

void add_latency(Doc& d, const ReportInput& in, Lang l) {
  section(d, "latency", t(l, Msg::kSecLatency));
  for (const char* m : kLatencyMetrics) add_latency_metric(d, in, l, m);
  end_section(d);
}

double utilisation(const v1::ServerStats& s) {
  const double capacity = static_cast<double>(s.elapsed_ns()) * std::max<uint32_t>(s.cores(), 1);
  return capacity > 0 ? static_cast<double>(s.busy_ns()) / capacity : 0;
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

// The objectives a capacity point missed: mean ± half width against the limit.
void add_missed(Doc& d, Lang l, const v1::CapacityPoint& p) {
  std::vector<std::string> missed;
  for (const v1::SloEstimate& e : p.slos()) {
    if (e.met()) continue;
    bool quorum = e.quorum();
    auto value = [&](double v) { return quorum ? fmt_share(l, v) : fmt_ms(l, v) + " ms"; };
    missed.push_back(slo_label(l, e.description(), &quorum) + ": " + value(e.mean()) + " ± " +
                     value(e.ci95_half_width()));
  }
  if (!missed.empty()) list(d, missed);
}

void add_sizing(Doc& d, const ReportInput& in, Lang l) {
  section(d, "sizing", t(l, Msg::kSecSizing));
  if (!in.has_sizing) {
    para(d, t(l, Msg::kSizingAbsent));
    end_section(d);
    return;
  }
  const v1::Sizing& z = in.sizing;
  const std::string headroom = fmt_fixed(l, z.headroom(), 2);
  Block tb = table({t(l, Msg::kColItem), t(l, Msg::kColValue), t(l, Msg::kColAssumption)});
  if (z.max_cells_per_node() == 0) {
    tb.rows.push_back({t(l, Msg::kSizeMaxCells), "-", t(l, Msg::kSizeNone)});
  } else {
    tb.rows.push_back({t(l, Msg::kSizeMaxCells), fmt_int(l, z.max_cells_per_node()),
                       format(l, z.capped() ? Msg::kAssumeCapped : Msg::kAssumeMaxCells,
                              {fmt_int(l, z.replications())})});
    tb.rows.push_back({t(l, Msg::kSizeBend),
                       z.bend_cells_per_node() == 0 ? "-" : fmt_int(l, z.bend_cells_per_node()),
                       t(l, z.bend_cells_per_node() == 0 ? Msg::kBendNone : Msg::kAssumeBend)});
    tb.rows.push_back({t(l, Msg::kSizePeak), fmt_int(l, z.peak_cells()),
                       format(l, Msg::kAssumePeak,
                              {fmt_int(l, z.total_cells()), fmt_share(l, z.peak_share())})});
    tb.rows.push_back({t(l, Msg::kSizeNodes), fmt_int(l, z.nodes_n_plus_1()),
                       format(l, Msg::kAssumeNodes, {fmt_int(l, z.nodes_needed()),
                                                     fmt_int(l, z.max_cells_per_node())})});
    tb.rows.push_back({t(l, Msg::kSizeCores), fmt_int(l, z.cores_total()),
                       format(l, Msg::kAssumeCores, {fmt_int(l, z.cores_per_node())})});
    tb.rows.push_back({t(l, Msg::kSizeEgress), fmt_fixed(l, z.egress_mbps_per_node(), 1) + " Mb/s",
                       format(l, Msg::kAssumeEgress,
                              {fmt_int(l, z.max_cells_per_node()), headroom})});
    tb.rows.push_back({t(l, Msg::kSizeMemory), fmt_fixed(l, z.memory_gib_per_node(), 2) + " GiB",
                       format(l, Msg::kAssumeMemory,
                              {fmt_fixed(l, z.memory_bytes_per_member() / 1024.0, 0), headroom})});
  }
  d.push_back(tb);
  if (z.max_cells_per_node() == 0 && !z.curve().empty()) add_missed(d, l, z.curve(0));
  para(d, format(l, Msg::kAssumeCalibration, {z.calibration()}));
  end_section(d);
}

double slo_ratio(const v1::SloEstimate& e) {
  if (e.quorum()) return e.mean() > 0 ? e.limit() / e.mean() : kCapacityRatioCap;
  return e.limit() > 0 ? e.mean() / e.limit() : 0;
}

void add_capacity(Doc& d, const ReportInput& in, Lang l) {
  section(d, "capacity", t(l, Msg::kSecCapacity));
  if (!in.has_sizing || in.sizing.curve().empty()) {
    para(d, t(l, Msg::kCapacityAbsent));
    end_section(d);
    return;
  }
  const v1::Sizing& z = in.sizing;
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
    s.label = slo_label(l, z.curve(0).slos(i).description(), &quorum);
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

void add_attendance_and_gaps(Doc& d, const ReportInput& in, Lang l) {
  section(d, "attendance", t(l, Msg::kSecAttendance));
  para(d, t(l, Msg::kAttendanceAbsent));
  end_section(d);
  section(d, "gaps", t(l, Msg::kSecDataGaps));
  std::vector<std::string> gaps = {t(l, Msg::kAttendanceAbsent)};
  if (!in.has_sizing) gaps.push_back(t(l, Msg::kCapacityGap));
  list(d, gaps);
  end_section(d);
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void add_basis(Doc& d, const ReportInput& in, Lang l) {
  section(d, "basis", t(l, Msg::kSecBasis));
  const v1::RunInfo& r = in.results.run();
  Block tb = table({t(l, Msg::kBasisWhat), t(l, Msg::kBasisValue)});
  std::string inputs;
  for (const std::string& s : in.sources) inputs += (inputs.empty() ? "" : ", ") + s;
  tb.rows = {
      {t(l, Msg::kBasisScenario), r.scenario()},
      {t(l, Msg::kBasisFile), r.scenario_file()},
      {t(l, Msg::kBasisSeed), std::to_string(r.seed())},
      {t(l, Msg::kBasisMode), t(l, r.mode() == "live" ? Msg::kModeLive : Msg::kModeSim)},
      {t(l, Msg::kBasisCalibration), r.calibration()},
      {t(l, Msg::kBasisVersion), r.cellsim_version()},
      {t(l, Msg::kBasisShards), join(r.shards())},
      {t(l, Msg::kBasisPartial), t(l, r.partial() ? Msg::kYes : Msg::kNo)},
      {t(l, Msg::kBasisVirtual),
       fmt_fixed(l, static_cast<double>(r.virtual_ns()) / kNsPerS / 60, 1) + " " +
           t(l, Msg::kUnitMinutes)},
      {t(l, Msg::kBasisMembersCells), fmt_int(l, r.members()) + " / " + fmt_int(l, r.cells())},
      {t(l, Msg::kBasisHost), r.host()},
      {t(l, Msg::kBasisInputs), inputs},
  };
  d.push_back(tb);
  para(d, t(l, Msg::kGenerated));
  end_section(d);
}

Doc build(const ReportInput& in, Lang l) {
  const std::vector<CellTypeVerdict> vs = judge(in.results, in.links);
  Doc d;
  add_summary(d, in, l, vs);
  add_verdicts(d, l, vs);
  add_rules(d, l);
  add_slos(d, in, l);
  add_time_to_quorum(d, in, l);
  add_latency(d, in, l);
  add_servers(d, in, l);
  add_sizing(d, in, l);
  add_capacity(d, in, l);
  add_attendance_and_gaps(d, in, l);
  add_basis(d, in, l);
  return d;
}

// ---------------------------------------------------------------------------
// Rendering.

// Escapes, then turns `x` into <code>x</code>.
std::string html_text(const std::string& s) {
  const std::string e = xml_escape(s);
  std::string out;
  bool open = false;
  for (char c : e) {
    if (c == '`') {
      out += open ? "</code>" : "<code>";
      open = !open;
    } else {
      out += c;
    }
  }
  if (open) out += "</code>";
  return out;
}

constexpr char kCss[] =
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}tr.ok td{background:#eef8f0}"
    "tr.cond td{background:#fff6e0}tr.fail td{background:#fdecee}.warn{border-left:4px solid #b00020;"
    "padding:0.5em 1em;background:#fff4f4}figure{margin:1em 0}svg{max-width:100%;height:auto}"
    "section{page-break-inside:auto}code{background:#f4f4f4;padding:0 3px}";

void html_table(std::ostringstream& o, const Block& b) {
  o << "<table><thead><tr>";
  for (const auto& h : b.header) o << "<th>" << html_text(h) << "</th>";
  o << "</tr></thead><tbody>";
  for (size_t i = 0; i < b.rows.size(); ++i) {
    o << "<tr" << (i < b.row_class.size() ? " class=\"" + b.row_class[i] + "\"" : "") << ">";
    for (const auto& c : b.rows[i]) o << "<td>" << html_text(c) << "</td>";
    o << "</tr>";
  }
  o << "</tbody></table>\n";
}

void html_block(std::ostringstream& o, const Block& b) {
  switch (b.kind) {
    case Block::Kind::kTitle: o << "<h1>" << html_text(b.text) << "</h1>\n"; break;
    case Block::Kind::kSection:
      o << "<section id=\"" << b.id << "\"><h2>" << html_text(b.text) << "</h2>\n";
      break;
    case Block::Kind::kEndSection: o << "</section>\n"; break;
    case Block::Kind::kSubsection: o << "<h3>" << html_text(b.text) << "</h3>\n"; break;
    case Block::Kind::kPara: o << "<p>" << html_text(b.text) << "</p>\n"; break;
    case Block::Kind::kWarning: o << "<p class=\"warn\">" << html_text(b.text) << "</p>\n"; break;
    case Block::Kind::kTable: html_table(o, b); break;
    case Block::Kind::kList:
      o << "<ul>";
      for (const auto& i : b.items) o << "<li>" << html_text(i) << "</li>";
      o << "</ul>\n";
      break;
    case Block::Kind::kSvg: o << "<figure>" << b.text << "</figure>\n"; break;
  }
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

void md_block(std::ostringstream& o, const Block& b) {
  switch (b.kind) {
    case Block::Kind::kTitle: o << "# " << b.text << "\n\n"; break;
    case Block::Kind::kSection: o << "## " << b.text << "\n\n"; break;
    case Block::Kind::kEndSection: break;
    case Block::Kind::kSubsection: o << "### " << b.text << "\n\n"; break;
    case Block::Kind::kPara: o << b.text << "\n\n"; break;
    case Block::Kind::kWarning: o << "> **" << b.text << "**\n\n"; break;
    case Block::Kind::kTable:
      o << "|";
      for (const auto& h : b.header) o << ' ' << md_cell(h) << " |";
      o << "\n|";
      for (size_t i = 0; i < b.header.size(); ++i) o << " --- |";
      o << "\n";
      for (const auto& row : b.rows) {
        o << "|";
        for (const auto& c : row) o << ' ' << md_cell(c) << " |";
        o << "\n";
      }
      o << "\n";
      break;
    case Block::Kind::kList:
      for (const auto& i : b.items) o << "- " << i << "\n";
      o << "\n";
      break;
    case Block::Kind::kSvg: break;  // the table after each chart holds its figures
  }
}

bool has_results_file(const fs::path& dir, fs::path* file) {
  for (const char* name : {metrics::kResultsPbFile, metrics::kResultsJsonFile}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) {
      *file = dir / name;
      return true;
    }
  }
  return false;
}

bool read_one(const std::string& path, v1::Results* r, std::string* why) {
  std::error_code ec;
  fs::path file = path;
  if (!fs::exists(path, ec)) {
    *why = path + ": no such file or folder";
    return false;
  }
  if (fs::is_directory(path, ec) && !has_results_file(path, &file)) {
    *why = path + ": no results in this folder (neither " + metrics::kResultsPbFile + " nor " +
           metrics::kResultsJsonFile + ")";
    return false;
  }
  if (!metrics::read_results(file.string(), r, why)) {
    if (why->find(file.string()) == std::string::npos) *why = file.string() + ": " + *why;
    return false;
  }
  return true;
}

void use_scenario(ReportInput* in, bool recompute_slos) {
  const std::string& file = in->results.run().scenario_file();
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (file.empty() || !scenario::load_scenario(file, &s, &errors)) return;
  if (s.name() != in->results.run().scenario()) return;
  if (recompute_slos) metrics::evaluate_slos(s, &in->results);
  for (const v1::CellType& c : s.cell_types()) {
    for (const v1::ProfileShare& p : c.links()) in->links[c.name()].push_back(p.profile());
  }
}

}  // namespace

bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why) {
  if (paths.empty()) {
    *why = "no results folder given";
    return false;
  }
  ReportInput in;
  std::vector<v1::Results> runs;
  v1::Results sizing_results;
  for (const std::string& p : paths) {
    v1::Results r;
    if (!read_one(p, &r, why)) return false;
    in.sources.push_back(p);
    if (r.has_sizing()) {
      in.sizing = r.sizing();
      in.has_sizing = true;
      sizing_results = r;
    } else {
      runs.push_back(std::move(r));
    }
  }
  in.has_run = !runs.empty();
  in.results = in.has_run ? runs[0] : sizing_results;
  for (size_t i = 1; i < runs.size(); ++i) {
    v1::Results merged;
    if (!metrics::merge_results(in.results, runs[i], &merged, why)) {
      *why = "cannot merge " + paths[i] + " with the others (not shards of one run?): " + *why;
      return false;
    }
    in.results = std::move(merged);
  }
  use_scenario(&in, runs.size() > 1);
  *out = std::move(in);
  return true;
}

std::string render_html(const ReportInput& in, Lang lang) {
  const Doc d = build(in, lang);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"" << text(lang, Msg::kHtmlLang)
    << "\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" "
       "content=\"width=device-width, initial-scale=1\"><title>"
    << html_text(t(lang, Msg::kTitle) + ": " + in.results.run().scenario()) << "</title><style>"
    << kCss << "</style></head>\n<body>\n";
  for (const Block& b : d) html_block(o, b);
  o << "</body>\n</html>\n";
  return o.str();
}

std::string render_markdown(const ReportInput& in, Lang lang) {
  const Doc d = build(in, lang);
  std::ostringstream o;
  for (const Block& b : d) md_block(o, b);
  return o.str();
}

bool write_report(const ReportInput& in, Lang lang, const std::string& dir,
                  std::vector<std::string>* written, std::string* why) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *why = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  const std::string base = (fs::path(dir) / "report.").string() + lang_code(lang);
  const std::pair<std::string, std::string> files[] = {
      {base + ".html", render_html(in, lang)}, {base + ".md", render_markdown(in, lang)}};
  for (const auto& [path, body] : files) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << body;
    f.close();
    if (!f) {
      *why = "cannot write " + path;
      return false;
    }
    written->push_back(path);
  }
  return true;
}

}  // namespace cellsim::report
