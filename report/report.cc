#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "metrics/attendance.h"
#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "report/sizing.h"
#include "report/svg.h"
#include "scenario/loader.h"

namespace cellsim::report {
namespace {

namespace fs = std::filesystem;

constexpr double kUsPerMinute = 60e6;
constexpr double kBytesPerMb = 1e6;
constexpr double kCapacityRatioCap = 3.0;  // the capacity chart's y axis stops here
constexpr double kNsPerS = 1e9;
constexpr double kMsPerMinute = 60e3;
constexpr double kAttendanceAxisStepMin = 30;  // the attendance x axis ends on a multiple of this
constexpr const char* kModeValidate = "validate";

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
std::string condition_text(Lang l, const Finding& f, const Names* names) {
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
        const std::string profile = names != nullptr
                                        ? names->of(l, metrics::kGroupProfile, f.worst_profile)
                                        : f.worst_profile;
        return format(l, Msg::kCondLatencyProfile, {profile, what, fmt_ms(l, f.limit)});
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

std::string slo_label(Lang l, const std::string& description, bool* quorum,
                      const Names* names = nullptr) {
  ParsedSlo p;
  if (!parse_slo(description, &p)) return description;
  *quorum = p.quorum;
  // A title names the cell type by itself; an identifier needs "cell type".
  const std::string type =
      names != nullptr ? names->of(l, metrics::kGroupCellType, p.cell_type) : p.cell_type;
  const std::string scope = p.cell_type.empty() ? t(l, Msg::kScopeAll)
                            : type != p.cell_type ? type
                                                  : format(l, Msg::kScopeType, {type});
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

// What every section reads: the inputs, the names completed from the
// results' groups, every seed's run and the verdicts over them.
struct View {
  const ReportInput* in = nullptr;
  Names names;
  std::vector<SeedRun> seeds;  // at least one when in->has_run
  std::vector<CombinedVerdict> verdicts;
  bool multi() const { return seeds.size() > 1; }
  std::string type_name(Lang l, const std::string& n) const {
    return names.of(l, metrics::kGroupCellType, n);
  }
  std::string profile_name(Lang l, const std::string& n) const {
    return names.of(l, metrics::kGroupProfile, n);
  }
};

std::string seed_list(const View& v) {
  std::string out;
  for (const SeedRun& s : v.seeds) out += (out.empty() ? "" : ", ") + std::to_string(s.seed);
  return out;
}

void add_summary(Doc& d, const View& v, Lang l) {
  const ReportInput& in = *v.in;
  Block title;
  title.kind = Block::Kind::kTitle;
  title.text = t(l, Msg::kTitle);
  d.push_back(title);
  section(d, "summary", t(l, Msg::kBasisScenario) + ": " + in.results.run().scenario());
  para(d, t(l, Msg::kIntro));
  size_t counts[3] = {0, 0, 0};
  for (const auto& c : v.verdicts) ++counts[static_cast<int>(c.decisive.verdict)];
  para(d, format(l, Msg::kVerdictSummary,
                 {fmt_int(l, v.verdicts.size()), fmt_int(l, counts[0]), fmt_int(l, counts[1]),
                  fmt_int(l, counts[2])}));
  if (v.multi()) {
    para(d, format(l, Msg::kSeedsRule, {fmt_int(l, v.seeds.size()), seed_list(v)}));
  }
  bool partial = false;
  for (const SeedRun& s : v.seeds) partial = partial || s.results.run().partial();
  if (partial) para(d, t(l, Msg::kPartialWarning), Block::Kind::kWarning);
  if (in.results.run().calibration().find("ESTIMATED") != std::string::npos ||
      in.results.run().calibration().find("estimate") != std::string::npos) {
    para(d, t(l, Msg::kCalibrationEstimated), Block::Kind::kWarning);
  }
  end_section(d);
}

struct Shares {
  std::string quorum = "-", votes = "-", minutes = "-";
};

Shares shares_of(Lang l, const CellTypeVerdict& v) {
  Shares s;
  for (const Finding& f : v.findings) {
    if (f.check == Check::kQuorum) s.quorum = fmt_share(l, f.observed);
    if (f.check == Check::kValidVotes && f.count > 0) s.votes = fmt_share(l, f.observed);
    if (f.check == Check::kMinutes && f.count > 0) s.minutes = fmt_share(l, f.observed);
  }
  return s;
}

void add_verdict_table(Doc& d, const View& view, Lang l) {
  if (view.multi()) para(d, t(l, Msg::kDecidingSeedNote));
  std::vector<std::string> header = {t(l, Msg::kColCellType)};
  if (view.multi()) {
    header.push_back(format(l, Msg::kColVerdictOverSeeds, {fmt_int(l, view.seeds.size())}));
    header.push_back(t(l, Msg::kColDecidingSeed));
  } else {
    header.push_back(t(l, Msg::kColVerdict));
  }
  for (Msg m : {Msg::kColCells, Msg::kColMembers, Msg::kColMeetings, Msg::kColQuorum,
                Msg::kColValidVotes, Msg::kColMinutes}) {
    header.push_back(t(l, m));
  }
  Block tb = table(header);
  for (const auto& c : view.verdicts) {
    const CellTypeVerdict& v = c.decisive;
    const Shares s = shares_of(l, v);
    std::vector<std::string> row = {view.type_name(l, v.cell_type), verdict_label(l, v.verdict)};
    if (view.multi()) row.push_back(std::to_string(c.decisive_seed));
    for (const std::string& x : {fmt_int(l, v.cells), fmt_int(l, v.members), fmt_int(l, v.meetings),
                                 s.quorum, s.votes, s.minutes}) {
      row.push_back(x);
    }
    tb.rows.push_back(row);
    tb.row_class.push_back(verdict_class(v.verdict));
  }
  d.push_back(tb);
  if (!view.multi()) return;
  para(d, t(l, Msg::kPerSeedHeading), Block::Kind::kSubsection);
  Block per = table({t(l, Msg::kColCellType), t(l, Msg::kBasisSeed), t(l, Msg::kColVerdict),
                     t(l, Msg::kColMeetings), t(l, Msg::kColQuorum), t(l, Msg::kColValidVotes),
                     t(l, Msg::kColMinutes)});
  for (const auto& c : view.verdicts) {
    for (const auto& [seed, v] : c.per_seed) {
      const Shares s = shares_of(l, v);
      per.rows.push_back({view.type_name(l, v.cell_type), std::to_string(seed),
                          verdict_label(l, v.verdict), fmt_int(l, v.meetings), s.quorum, s.votes,
                          s.minutes});
      per.row_class.push_back(verdict_class(v.verdict));
    }
  }
  d.push_back(per);
}

void add_verdicts(Doc& d, const View& view, Lang l) {
  section(d, "verdicts", t(l, Msg::kSecVerdicts));
  add_verdict_table(d, view, l);
  for (const auto& c : view.verdicts) {
    const CellTypeVerdict& v = c.decisive;
    para(d, view.type_name(l, v.cell_type) + ": " + verdict_label(l, v.verdict),
         Block::Kind::kSubsection);
    if (view.multi()) {
      size_t same = 0;
      for (const auto& [seed, sv] : c.per_seed) same += sv.verdict == v.verdict ? 1 : 0;
      para(d, format(l, Msg::kDecidedBySeed, {std::to_string(c.decisive_seed), fmt_int(l, same),
                                              fmt_int(l, c.per_seed.size())}));
    }
    para(d, t(l, Msg::kFindingsHeading));
    std::vector<std::string> reasons, conditions;
    for (const Finding& f : v.findings) {
      reasons.push_back("[" + outcome_label(l, f.outcome) + "] " + finding_text(l, f));
      const std::string cond = condition_text(l, f, &view.names);
      if (!cond.empty()) conditions.push_back(cond);
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

// The SLO table: one observed column per seed (SLOs matched by position: the
// seeds ran the same scenario), met only if met in every seed.
void add_slos(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "slos", t(l, Msg::kSecSlos));
  if (in.results.slos().empty()) para(d, t(l, Msg::kNoSlos));
  std::vector<std::string> header = {t(l, Msg::kColSlo)};
  if (view.multi()) {
    for (const SeedRun& s : view.seeds) {
      header.push_back(format(l, Msg::kColObservedSeed, {std::to_string(s.seed)}));
    }
  } else {
    header.push_back(t(l, Msg::kColObserved));
  }
  header.push_back(t(l, Msg::kColLimit));
  header.push_back(t(l, view.multi() ? Msg::kColMetEverySeed : Msg::kColMet));
  Block tb = table(header);
  for (int i = 0; i < in.results.slos_size(); ++i) {
    const v1::SloResult& s = in.results.slos(i);
    bool quorum = metrics::is_quorum_slo(s);
    const std::string label = slo_label(l, s.description(), &quorum, &view.names);
    auto value = [&](double v) { return quorum ? fmt_share(l, v) : fmt_ms(l, v) + " ms"; };
    std::vector<std::string> row = {label};
    bool met = true;
    if (view.multi()) {
      for (const SeedRun& r : view.seeds) {
        if (i < r.results.slos_size()) {
          row.push_back(value(r.results.slos(i).observed()));
          met = met && r.results.slos(i).met();
        } else {
          row.push_back(t(l, Msg::kNoData));
          met = false;
        }
      }
    } else {
      row.push_back(value(s.observed()));
      met = s.met();
    }
    row.push_back(value(s.limit()));
    row.push_back(t(l, met ? Msg::kYes : Msg::kNo));
    tb.rows.push_back(row);
    tb.row_class.push_back(met ? "ok" : "fail");
  }
  if (!tb.rows.empty()) d.push_back(tb);
  end_section(d);
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
                    t(l, Msg::kColP90) + " (ms)", t(l, Msg::kColP99) + " (ms)"});
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

void add_latency(Doc& d, const View& view, Lang l) {
  section(d, "latency", t(l, Msg::kSecLatency));
  for (const char* m : kLatencyMetrics) add_latency_metric(d, view, l, m);
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

void add_sizing(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "sizing", t(l, Msg::kSecSizing));
  if (!in.has_sizing) {
    para(d, t(l, Msg::kSizingAbsent));
    end_section(d);
    return;
  }
  const v1::Sizing& z = in.sizing;
  const std::string headroom = fmt_fixed(l, z.headroom(), 2);
  const std::vector<int> link_bound = link_bound_slos(z);
  const int slo_count = z.curve().empty() ? 0 : z.curve(0).slos_size();
  Block tb = table({t(l, Msg::kColItem), t(l, Msg::kColValue), t(l, Msg::kColAssumption)});
  if (!link_bound.empty()) {
    const v1::CapacityPoint& p0 = z.curve(0);
    tb.rows.push_back({t(l, Msg::kSizeLinkBound), fmt_int(l, link_bound.size()),
                       format(l, Msg::kAssumeLinkBound,
                              {fmt_int(l, p0.cells_per_node()), fmt_share(l, p0.utilisation_mean()),
                               fmt_fixed(l, kIdleQueueWaitMs, 0)})});
  }
  if (slo_count > static_cast<int>(link_bound.size())) {
    tb.rows.push_back({t(l, Msg::kSizeServerBound),
                       fmt_int(l, static_cast<uint64_t>(slo_count) - link_bound.size()),
                       t(l, Msg::kAssumeServerBound)});
  }
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
  if (!link_bound.empty()) {
    para(d, t(l, Msg::kLinkBoundHeading));
    std::vector<std::string> items;
    for (int i : link_bound) {
      const v1::CapacityPoint& p = z.curve(first_idle_miss(z, i));
      const v1::SloEstimate& e = p.slos(i);
      bool quorum = e.quorum();
      auto value = [&](double v) { return quorum ? fmt_share(l, v) : fmt_ms(l, v) + " ms"; };
      items.push_back(slo_label(l, e.description(), &quorum, &view.names) + ": " +
                      value(e.mean()) + " ± " + value(e.ci95_half_width()) + ", " +
                      format(l, Msg::kAtCellsPerNode, {fmt_int(l, p.cells_per_node())}));
    }
    list(d, items);
  }
  para(d, format(l, Msg::kAssumeCalibration, {z.calibration()}));
  end_section(d);
}

double slo_ratio(const v1::SloEstimate& e) {
  if (e.quorum()) return e.mean() > 0 ? e.limit() / e.mean() : kCapacityRatioCap;
  return e.limit() > 0 ? e.mean() / e.limit() : 0;
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

// ---------------------------------------------------------------------------
// Attendance over time.

// The cell type's selection over every seed: the worst meeting of any seed,
// the pooled bottom-k sample (metrics/attendance.h).
std::vector<v1::AttendanceSamples> pooled_attendance(const View& view) {
  std::vector<v1::AttendanceSamples> out;
  for (const SeedRun& s : view.seeds) {
    for (const v1::AttendanceSamples& a : s.results.attendance()) {
      auto it = std::find_if(out.begin(), out.end(), [&](const v1::AttendanceSamples& x) {
        return x.cell_type() == a.cell_type();
      });
      if (it == out.end()) {
        out.push_back(a);
      } else {
        metrics::merge_attendance(a, &*it);
      }
    }
  }
  return out;
}

// The seed a trace came from (its sample key names it), for labels.
uint64_t trace_seed(const View& view, const v1::AttendanceTrace& tr) {
  for (const SeedRun& s : view.seeds) {
    if (metrics::attendance_sample_key(s.results.run().seed(), tr.cell_id()) == tr.sample_key()) {
      return s.results.run().seed();
    }
  }
  return view.seeds.empty() ? 0 : view.seeds.front().results.run().seed();
}

std::string trace_label(const View& view, Lang l, const v1::AttendanceTrace& tr) {
  if (!view.multi()) return format(l, Msg::kCellLabel, {std::to_string(tr.cell_id())});
  return format(l, Msg::kCellSeedLabel,
                {std::to_string(tr.cell_id()), std::to_string(trace_seed(view, tr))});
}

double minutes(int64_t ms) { return static_cast<double>(ms) / kMsPerMinute; }

// The trace's last time: its close, else its last change.
int64_t trace_end_ms(const v1::AttendanceTrace& tr) {
  int64_t end = tr.t_ms().empty() ? 0 : tr.t_ms(tr.t_ms_size() - 1);
  return std::max(end, tr.closed_ms());
}

std::string meeting_summary(const View& view, Lang l, const v1::AttendanceTrace& tr) {
  return format(l, Msg::kMeetingSummary,
                {trace_label(view, l, tr), fmt_share(l, tr.quorate_ppm() / 1e6),
                 fmt_int(l, tr.quorum_losses()),
                 t(l, tr.quorate_by_deadline() ? Msg::kQuorateByDeadline
                                               : Msg::kNotQuorateByDeadline),
                 tr.closed_ms() > 0
                     ? format(l, Msg::kClosedAt, {fmt_fixed(l, minutes(tr.closed_ms()), 1)})
                     : t(l, Msg::kNeverClosed)});
}

// Adds the present and required step lines of one meeting to the chart.
void add_trace(LineChart* c, const View& view, Lang l, const v1::AttendanceTrace& tr, Msg which,
               int colour, double* y_max, double* x_hi) {
  Series present, required;
  const std::string who = t(l, which);
  present.label = format(l, Msg::kSeriesPresent, {who, trace_label(view, l, tr)});
  required.label = format(l, Msg::kSeriesRequired, {who});
  present.colour = required.colour = colour;
  required.dashed = true;
  const int n = std::min({tr.t_ms_size(), tr.present_size(), tr.required_size()});
  for (int i = 0; i < n; ++i) {
    const double x = minutes(tr.t_ms(i));
    present.points.push_back({x, static_cast<double>(tr.present(i))});
    required.points.push_back({x, static_cast<double>(tr.required(i))});
    *y_max = std::max({*y_max, static_cast<double>(tr.present(i)),
                       static_cast<double>(tr.required(i))});
  }
  *y_max = std::max(*y_max, static_cast<double>(tr.members()));
  const double end = minutes(trace_end_ms(tr));
  *x_hi = std::max(*x_hi, end);
  if (n > 0 && end > present.points.back().first) {  // hold the last level to the end
    present.points.push_back({end, present.points.back().second});
    required.points.push_back({end, required.points.back().second});
  }
  c->series.push_back(present);
  c->series.push_back(required);
  if (tr.closed_ms() > 0) {
    c->markers.push_back(
        {minutes(tr.closed_ms()),
         format(l, Msg::kMarkerClosed, {who, fmt_fixed(l, minutes(tr.closed_ms()), 1)}), colour});
  }
  if (tr.truncated() && n > 0) {
    const double cut = minutes(tr.t_ms(n - 1));
    c->markers.push_back(
        {cut, format(l, Msg::kMarkerTruncated, {who, fmt_fixed(l, cut, 1)}), colour});
  }
}

constexpr int kTypicalColour = 0;  // blue
constexpr int kWorstColour = 3;    // vermilion

void add_attendance(Doc& d, const View& view, Lang l, bool* shown) {
  section(d, "attendance", t(l, Msg::kSecAttendance));
  const std::vector<v1::AttendanceSamples> pooled = pooled_attendance(view);
  *shown = false;
  for (const auto& a : pooled) *shown = *shown || a.has_worst() || !a.sample().empty();
  if (!*shown) {
    para(d, t(l, Msg::kAttendanceAbsent));
    end_section(d);
    return;
  }
  para(d, t(l, Msg::kAttendanceNote));
  Block tb = table({t(l, Msg::kColCellType), t(l, Msg::kColMeetingsTraced),
                    t(l, Msg::kColTypicalMeeting), t(l, Msg::kColWorstMeeting)});
  // In the order of the verdicts, then any type only the traces name.
  std::vector<const v1::AttendanceSamples*> order;
  for (const auto& c : view.verdicts) {
    for (const auto& a : pooled) {
      if (a.cell_type() == c.decisive.cell_type) order.push_back(&a);
    }
  }
  for (const auto& a : pooled) {
    if (std::find(order.begin(), order.end(), &a) == order.end()) order.push_back(&a);
  }
  for (const v1::AttendanceSamples* a : order) {
    const std::string name = view.type_name(l, a->cell_type());
    const v1::AttendanceTrace* typical = metrics::typical_attendance(*a);
    const v1::AttendanceTrace* worst = a->has_worst() ? &a->worst() : nullptr;
    tb.rows.push_back({name, fmt_int(l, a->meetings_seen()),
                       typical ? meeting_summary(view, l, *typical) : t(l, Msg::kNoTrace),
                       worst ? meeting_summary(view, l, *worst) : t(l, Msg::kNoTrace)});
  }
  d.push_back(tb);
  for (const v1::AttendanceSamples* a : order) {
    const std::string name = view.type_name(l, a->cell_type());
    const v1::AttendanceTrace* typical = metrics::typical_attendance(*a);
    const v1::AttendanceTrace* worst = a->has_worst() ? &a->worst() : nullptr;
    if (typical == nullptr && worst == nullptr) continue;
    LineChart chart;
    chart.title = format(l, Msg::kAttendanceChartTitle, {name});
    chart.x_label = t(l, Msg::kAxisMinutes);
    chart.y_label = t(l, Msg::kAxisMembers);
    chart.step = true;
    double y_max = 1, x_hi = 0;
    if (typical) {
      add_trace(&chart, view, l, *typical, Msg::kTypicalMeeting, kTypicalColour, &y_max, &x_hi);
    }
    if (worst) add_trace(&chart, view, l, *worst, Msg::kWorstMeeting, kWorstColour, &y_max, &x_hi);
    // From the scheduled start (earlier joins drawn at 0) to the next half
    // hour after the last close, so the ticks fall on round minutes.
    chart.x_max = kAttendanceAxisStepMin * std::max(1.0, std::ceil(x_hi / kAttendanceAxisStepMin));
    chart.y_max = nice_ceiling(y_max);
    para(d, chart.title, Block::Kind::kSubsection);
    svg(d, line_chart(chart));
    std::vector<std::string> items;  // the chart in words (Markdown has no chart)
    if (typical) {
      items.push_back(t(l, Msg::kTypicalMeeting) + " — " + meeting_summary(view, l, *typical));
    }
    if (worst) {
      items.push_back(t(l, Msg::kWorstMeeting) + " — " + meeting_summary(view, l, *worst));
    }
    for (const auto& [tr, which] : {std::pair{typical, Msg::kTypicalMeeting},
                                    std::pair{worst, Msg::kWorstMeeting}}) {
      if (tr == nullptr || !tr->truncated() || tr->t_ms().empty()) continue;
      const double cut = minutes(tr->t_ms(tr->t_ms_size() - 1));
      items.push_back(format(l, Msg::kMarkerTruncated, {t(l, which), fmt_fixed(l, cut, 1)}));
    }
    list(d, items);
  }
  end_section(d);
}

void add_gaps(Doc& d, const View& view, Lang l, bool attendance_shown) {
  section(d, "gaps", t(l, Msg::kSecDataGaps));
  std::vector<std::string> gaps;
  if (!attendance_shown) gaps.push_back(t(l, Msg::kAttendanceAbsent));
  if (!view.in->has_sizing) gaps.push_back(t(l, Msg::kCapacityGap));
  if (view.in->validations.empty()) gaps.push_back(t(l, Msg::kValidationNone));
  if (gaps.empty()) {
    para(d, t(l, Msg::kNoGaps));
  } else {
    list(d, gaps);
  }
  end_section(d);
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string stat_label(Lang l, const std::string& stat) {
  if (stat == "share") return t(l, Msg::kStatShare);
  if (stat.size() > 1 && stat[0] == 'p') return format(l, Msg::kQuantileShort, {stat.substr(1)});
  return stat;
}

std::string group_label(const View& view, Lang l, const std::string& g) {
  if (g == "overall" || g.empty()) return t(l, Msg::kScopeAll);
  const std::string type = view.type_name(l, g);
  return type != g ? type : view.profile_name(l, g);
}

void add_validation(Doc& d, const View& view, Lang l) {
  para(d, t(l, Msg::kValidationHeading), Block::Kind::kSubsection);
  if (view.in->validations.empty()) {
    para(d, t(l, Msg::kValidationNone));
    return;
  }
  for (const v1::Results& r : view.in->validations) {
    const v1::Validation& v = r.validation();
    para(d, format(l, Msg::kValidationIntro,
                   {v.scenario().empty() ? r.run().scenario() : v.scenario(),
                    std::to_string(v.seed()), fmt_int(l, v.cells()), fmt_int(l, v.members()),
                    v.calibration().empty() ? r.run().calibration() : v.calibration(),
                    fmt_share(l, v.latency_tolerance()),
                    fmt_fixed(l, v.share_tolerance() * 100, 1)}));
    Block tb = table({t(l, Msg::kColMetric), t(l, Msg::kColGroup), t(l, Msg::kColStat),
                      t(l, Msg::kColSimulator), t(l, Msg::kColLiveServer),
                      t(l, Msg::kColDifference), t(l, Msg::kColWithinTolerance)});
    size_t outside = 0;
    for (const v1::ValidationRow& row : v.rows()) {
      const bool share = row.stat() == "share";
      auto value = [&](double x) { return share ? fmt_share(l, x) : fmt_ms(l, x) + " ms"; };
      const std::string metric = row.metric() == "quorum_attainment"
                                     ? t(l, Msg::kColQuorum)
                                     : metric_label(l, row.metric());
      const std::string sign = row.difference() >= 0 ? "+" : "";
      const std::string diff =
          share ? format(l, Msg::kPoints, {sign + fmt_fixed(l, row.difference() * 100, 1)})
                : sign + fmt_share(l, row.difference());
      tb.rows.push_back({metric, group_label(view, l, row.group()), stat_label(l, row.stat()),
                         value(row.sim()), value(row.live()), diff,
                         t(l, row.within_tolerance() ? Msg::kYes : Msg::kNo)});
      tb.row_class.push_back(row.within_tolerance() ? "ok" : "fail");
      outside += row.within_tolerance() ? 0 : 1;
    }
    if (v.within_tolerance() && outside == 0) {
      para(d, format(l, Msg::kValidationOk, {fmt_int(l, v.rows_size())}));
    } else {
      para(d, format(l, Msg::kValidationFail,
                     {fmt_int(l, std::max<size_t>(outside, 1)), fmt_int(l, v.rows_size())}),
           Block::Kind::kWarning);
    }
    d.push_back(tb);
  }
}

void add_basis(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "basis", t(l, Msg::kSecBasis));
  const v1::RunInfo& r = in.results.run();
  Block tb = table({t(l, Msg::kBasisWhat), t(l, Msg::kBasisValue)});
  std::string inputs;
  for (const std::string& s : in.sources) inputs += (inputs.empty() ? "" : ", ") + s;
  std::string shards;
  for (const SeedRun& s : view.seeds) {
    const std::string js = join(s.results.run().shards());
    if (view.multi()) {
      shards += (shards.empty() ? "" : "; ") + std::to_string(s.seed) + ": " + js;
    } else {
      shards = js;
    }
  }
  uint64_t members = 0, cells = 0;
  for (const SeedRun& s : view.seeds) {
    members = std::max(members, s.results.run().members());
    cells = std::max(cells, s.results.run().cells());
  }
  bool partial = false;
  for (const SeedRun& s : view.seeds) partial = partial || s.results.run().partial();
  tb.rows = {
      {t(l, Msg::kBasisScenario), r.scenario()},
      {t(l, Msg::kBasisFile), r.scenario_file()},
      {t(l, Msg::kBasisSeed), view.seeds.empty() ? std::to_string(r.seed()) : seed_list(view)},
  };
  if (view.multi()) {
    tb.rows.push_back({t(l, Msg::kBasisChartsFrom),
                       format(l, Msg::kBasisChartsSeed, {std::to_string(view.seeds[0].seed)})});
  }
  const std::vector<std::vector<std::string>> rest = {
      {t(l, Msg::kBasisMode), t(l, r.mode() == "live" ? Msg::kModeLive : Msg::kModeSim)},
      {t(l, Msg::kBasisCalibration), r.calibration()},
      {t(l, Msg::kBasisVersion), r.cellsim_version()},
      {t(l, Msg::kBasisShards), shards},
      {t(l, Msg::kBasisPartial), t(l, partial ? Msg::kYes : Msg::kNo)},
      {t(l, Msg::kBasisVirtual),
       fmt_fixed(l, static_cast<double>(r.virtual_ns()) / kNsPerS / 60, 1) + " " +
           t(l, Msg::kUnitMinutes)},
      {t(l, Msg::kBasisMembersCells), fmt_int(l, members) + " / " + fmt_int(l, cells)},
      {t(l, Msg::kBasisHost), r.host()},
      {t(l, Msg::kBasisInputs), inputs},
  };
  tb.rows.insert(tb.rows.end(), rest.begin(), rest.end());
  d.push_back(tb);
  add_validation(d, view, l);
  para(d, t(l, Msg::kGenerated));
  end_section(d);
}

View make_view(const ReportInput& in) {
  View v;
  v.in = &in;
  v.names = in.names;
  v.seeds = in.seeds;
  if (v.seeds.empty() && (in.has_run || in.has_sizing)) {  // hand-made, or a sizing's own run
    SeedRun s;
    s.seed = in.results.run().seed();
    s.results = in.results;
    s.sources = in.sources;
    v.seeds.push_back(std::move(s));
  }
  std::vector<SeedVerdicts> per_seed;
  for (const SeedRun& s : v.seeds) {
    for (const v1::Group& g : s.results.groups()) {
      if (g.kind() == metrics::kGroupOverall) continue;
      v.names.add(g.kind(), g.name(), g.title_vi(), g.title_en());
    }
    per_seed.push_back({s.seed, judge(s.results, in.links)});
  }
  if (!per_seed.empty()) v.verdicts = combine_seeds(per_seed);
  return v;
}

Doc build(const ReportInput& in, Lang l) {
  const View view = make_view(in);
  Doc d;
  add_summary(d, view, l);
  add_verdicts(d, view, l);
  add_rules(d, l);
  add_slos(d, view, l);
  add_time_to_quorum(d, view, l);
  add_latency(d, view, l);
  add_servers(d, in, l);
  add_sizing(d, view, l);
  add_capacity(d, view, l);
  bool attendance_shown = false;
  add_attendance(d, view, l, &attendance_shown);
  add_gaps(d, view, l, attendance_shown);
  add_basis(d, view, l);
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

// Reads a results file that metrics::read_results refuses because it has no
// groups: the results of `cellsim validate` (run.mode "validate"). False if it
// is not one.
bool read_validation(const fs::path& file, v1::Results* r) {
  std::ifstream f(file, std::ios::binary);
  std::stringstream buf;
  buf << f.rdbuf();
  const std::string data = buf.str();
  v1::Results x;
  const size_t first = data.find_first_not_of(" \t\r\n");
  const bool json = first != std::string::npos && data[first] == '{';
  if (json) {
    if (!google::protobuf::util::JsonStringToMessage(data, &x).ok()) return false;
  } else if (data.empty() || !x.ParseFromString(data)) {
    return false;
  }
  if (x.run().mode() != kModeValidate || !x.has_validation()) return false;
  *r = std::move(x);
  return true;
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
    if (read_validation(file, r)) return true;
    if (why->find(file.string()) == std::string::npos) *why = file.string() + ": " + *why;
    return false;
  }
  return true;
}

// Reads the scenario the results name (when it is there and is the same
// scenario): the SLOs after a merge, the links of each cell type, the titles.
void use_scenario(ReportInput* in, const std::vector<bool>& recompute_slos) {
  const std::string& file = in->results.run().scenario_file();
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (file.empty() || !scenario::load_scenario(file, &s, &errors)) return;
  if (s.name() != in->results.run().scenario()) return;
  for (size_t i = 0; i < in->seeds.size() && i < recompute_slos.size(); ++i) {
    if (recompute_slos[i]) metrics::evaluate_slos(s, &in->seeds[i].results);
  }
  if (!in->seeds.empty()) in->results = in->seeds[0].results;
  for (const v1::CellType& c : s.cell_types()) {
    for (const v1::ProfileShare& p : c.links()) in->links[c.name()].push_back(p.profile());
    in->names.add(metrics::kGroupCellType, c.name(), c.title_vi(), c.title_en());
  }
  for (const v1::NetworkProfile& p : s.profiles()) {
    in->names.add(metrics::kGroupProfile, p.name(), p.title_vi(), p.title_en());
  }
}

// Merges the shard `b` into `a` (same seed), attendance selections too when
// the merge does not carry them.
bool merge_shard(const v1::Results& b, v1::Results* a, std::string* why) {
  v1::Results merged;
  if (!metrics::merge_results(*a, b, &merged, why)) return false;
  if (merged.attendance().empty() && (!a->attendance().empty() || !b.attendance().empty())) {
    std::map<std::string, v1::AttendanceSamples> by_type;
    for (const v1::Results* r : {static_cast<const v1::Results*>(a), &b}) {
      for (const v1::AttendanceSamples& s : r->attendance()) {
        metrics::merge_attendance(s, &by_type[s.cell_type()]);
      }
    }
    for (auto& [type, s] : by_type) *merged.add_attendance() = std::move(s);
  }
  for (v1::Group& g : *merged.mutable_groups()) {  // titles, when the merge drops them
    for (const v1::Results* r : {static_cast<const v1::Results*>(a), &b}) {
      for (const v1::Group& x : r->groups()) {
        if (x.kind() != g.kind() || x.name() != g.name()) continue;
        if (g.title_vi().empty()) g.set_title_vi(x.title_vi());
        if (g.title_en().empty()) g.set_title_en(x.title_en());
      }
    }
  }
  *a = std::move(merged);
  return true;
}

}  // namespace

void Names::add(const std::string& kind, const std::string& name, const std::string& vi,
                const std::string& en) {
  if (vi.empty() && en.empty()) return;
  Title& t = titles[{kind, name}];
  if (!vi.empty()) t.vi = vi;
  if (!en.empty()) t.en = en;
}

std::string Names::of(Lang lang, const std::string& kind, const std::string& name) const {
  const auto it = titles.find({kind, name});
  if (it == titles.end()) return name;
  const std::string& title = lang == Lang::kVi ? it->second.vi : it->second.en;
  return title.empty() ? name : title;
}

bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why) {
  if (paths.empty()) {
    *why = "no results folder given";
    return false;
  }
  ReportInput in;
  v1::Results sizing_results;
  std::string sizing_path;
  std::vector<size_t> shards_per_seed;
  std::string scenario, scenario_path;  // of the first run
  for (const std::string& p : paths) {
    v1::Results r;
    if (!read_one(p, &r, why)) return false;
    in.sources.push_back(p);
    if (r.run().mode() == kModeValidate) {
      in.validations.push_back(std::move(r));
      continue;
    }
    if (r.has_sizing()) {
      if (in.has_sizing) {
        *why = "more than one sizing given (" + sizing_path + " and " + p + "): give one";
        return false;
      }
      in.sizing = r.sizing();
      in.has_sizing = true;
      sizing_results = r;
      sizing_path = p;
      continue;
    }
    if (in.seeds.empty()) {
      scenario = r.run().scenario();
      scenario_path = p;
    } else if (r.run().scenario() != scenario) {
      *why = "results of different scenarios: \"" + scenario + "\" in " + scenario_path +
             " and \"" + r.run().scenario() + "\" in " + p +
             "; a report answers for one scenario: give each scenario's results to its own report";
      return false;
    }
    auto it = std::find_if(in.seeds.begin(), in.seeds.end(),
                           [&](const SeedRun& s) { return s.seed == r.run().seed(); });
    if (it == in.seeds.end()) {
      SeedRun s;
      s.seed = r.run().seed();
      s.results = std::move(r);
      s.sources = {p};
      in.seeds.push_back(std::move(s));
      shards_per_seed.push_back(1);
      continue;
    }
    if (!merge_shard(r, &it->results, why)) {
      *why = "cannot merge " + p + " with the other results of seed " + std::to_string(it->seed) +
             " (not shards of one run?): " + *why;
      return false;
    }
    it->sources.push_back(p);
    ++shards_per_seed[it - in.seeds.begin()];
  }
  if (in.has_sizing && !in.seeds.empty() && in.sizing.scenario() != scenario) {
    *why = "the sizing in " + sizing_path + " is of scenario \"" + in.sizing.scenario() +
           "\", the runs of \"" + scenario + "\"; a report answers for one scenario";
    return false;
  }
  in.has_run = !in.seeds.empty();
  if (in.has_run) {
    in.results = in.seeds[0].results;
  } else if (in.has_sizing) {
    in.results = sizing_results;
  } else if (!in.validations.empty()) {
    in.results.mutable_run()->set_scenario(in.validations[0].run().scenario());
  }
  std::vector<bool> recompute;
  for (size_t n : shards_per_seed) recompute.push_back(n > 1);
  use_scenario(&in, recompute);
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
