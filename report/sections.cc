// The report's sections that judge and account for the run (sections.h):
// summary, verdicts, rules, SLOs, data gaps and basis; the View every
// section reads and the document in section order.
#include "report/sections.h"

#include <algorithm>
#include <cmath>

#include "metrics/slo.h"
#include "report/words.h"

namespace cellsim::report {
namespace {

constexpr double kNsPerS = 1e9;

// "7, 8" or, for consecutive seeds, "20261201–20261209".
std::string seed_list(const View& v) {
  std::string out;
  for (size_t i = 0; i < v.seeds.size();) {
    size_t j = i;
    while (j + 1 < v.seeds.size() && v.seeds[j + 1].seed == v.seeds[j].seed + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(v.seeds[i].seed);
    if (j >= i + 2) out += "\u2013" + std::to_string(v.seeds[j].seed);
    if (j == i + 1) out += ", " + std::to_string(v.seeds[j].seed);
    i = j + 1;
  }
  return out;
}

struct Shares {
  std::string quorum = "-", votes = "-", minutes = "-";
};

// A share and its interval: "95% (88%-99%)".
std::string share_with_interval(Lang l, const Finding& f) {
  if (!f.has_interval) return fmt_share(l, f.observed);
  return fmt_share(l, f.observed) + " (" + fmt_share(l, f.lo) + "–" + fmt_share(l, f.hi) + ")";
}

Shares shares_of(Lang l, const CellTypeVerdict& v) {
  Shares s;
  for (const Finding& f : v.findings) {
    if (f.check == Check::kQuorum) s.quorum = share_with_interval(l, f);
    if (f.check == Check::kValidVotes && f.count > 0) s.votes = share_with_interval(l, f);
    if (f.check == Check::kMinutes && f.count > 0) s.minutes = share_with_interval(l, f);
  }
  return s;
}

// The further seeds column: a count, "-" when decided, or why not.
std::string further_seeds(Lang l, const CellTypeVerdict& v) {
  if (v.verdict != Verdict::kNotYetDecided) return "-";
  if (v.more_seeds > 0 && !v.never_decides) return fmt_int(l, v.more_seeds);
  if (v.decisive >= 0) return condition_text(l, v.findings[static_cast<size_t>(v.decisive)]);
  return "?";
}

std::string decisive_text(Lang l, const CellTypeVerdict& v) {
  if (v.decisive < 0) return "-";
  return finding_text(l, v.findings[static_cast<size_t>(v.decisive)]);
}

void add_verdict_table(Doc& d, const View& view, Lang l) {
  para(d, t(l, Msg::kIntervalNote));
  std::vector<std::string> header = {t(l, Msg::kColCellType), t(l, Msg::kColVerdict),
                                     t(l, Msg::kColDecidedBy), t(l, Msg::kColFurtherSeeds)};
  for (Msg m : {Msg::kColCells, Msg::kColMembers, Msg::kColMeetings, Msg::kColQuorum,
                Msg::kColValidVotes, Msg::kColMinutes}) {
    header.push_back(t(l, m));
  }
  Block tb = table(header);
  for (const CellTypeVerdict& v : view.verdicts) {
    const Shares s = shares_of(l, v);
    std::vector<std::string> row = {view.type_name(l, v.cell_type), verdict_label(l, v.verdict),
                                    decisive_text(l, v), further_seeds(l, v)};
    for (const std::string& x : {fmt_int(l, v.cells), fmt_int(l, v.members), fmt_int(l, v.meetings),
                                 s.quorum, s.votes, s.minutes}) {
      row.push_back(x);
    }
    tb.rows.push_back(row);
    tb.row_class.push_back(verdict_class(v.verdict));
  }
  d.push_back(tb);
}

// The strings in `items`, separated by ", ".
template <typename Range>
std::string join(const Range& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Whether any seed's run stopped early.
bool any_partial(const View& v) {
  bool partial = false;
  for (const SeedRun& s : v.seeds) partial = partial || s.results.run().partial();
  return partial;
}

std::string group_label(const View& view, Lang l, const std::string& g) {
  if (g == "overall" || g.empty()) return t(l, Msg::kScopeAll);
  const std::string type = view.type_name(l, g);
  return type != g ? type : view.profile_name(l, g);
}

// The few-samples threshold of validations written before it was recorded.
constexpr uint64_t kMinSamplesBeforeSeeds = 20;

// The intro of one validation and its seeds and link mode (results written
// before --seeds and --link: one seed, frame mode).
void add_validation_intro(Doc& d, const v1::Results& r, Lang l) {
  const v1::Validation& v = r.validation();
  para(d, format(l, Msg::kValidationIntro,
                 {v.scenario().empty() ? r.run().scenario() : v.scenario(),
                  std::to_string(v.seed()), fmt_int(l, v.cells()), fmt_int(l, v.members()),
                  v.calibration().empty() ? r.run().calibration() : v.calibration(),
                  fmt_share(l, v.latency_tolerance()),
                  fmt_fixed(l, v.share_tolerance() * 100, 1)}));
  const uint64_t seeds = std::max<uint64_t>(v.seeds(), 1);
  const Msg mode = v.link_mode() == "packet" ? Msg::kLinkModePacket : Msg::kLinkModeFrame;
  para(d, format(l, Msg::kValidationSeeds,
                 {t(l, mode), fmt_int(l, seeds), std::to_string(v.seed()),
                  std::to_string(v.seed() + seeds - 1),
                  fmt_int(l, v.min_samples() > 0 ? v.min_samples() : kMinSamplesBeforeSeeds)}));
}

// "lo – hi" of one side's per-seed figures, "-" without any.
std::string spread_text(Lang l, bool share, uint64_t seeds, double lo, double hi) {
  if (seeds == 0) return "-";
  return share_or_ms(l, share, lo) + " – " + share_or_ms(l, share, hi);
}

// One row of the validation table; the spread columns when `spread`.
std::vector<std::string> validation_cells(const View& view, Lang l, const v1::ValidationRow& row,
                                          bool spread) {
  const bool share = row.stat() == "share";
  const std::string metric = row.metric() == "quorum_attainment" ? t(l, Msg::kColQuorum)
                                                                 : metric_label(l, row.metric());
  const std::string sign = row.difference() >= 0 ? "+" : "";
  const std::string diff =
      share ? format(l, Msg::kPoints, {sign + fmt_fixed(l, row.difference() * 100, 1)})
            : sign + fmt_share(l, row.difference());
  std::vector<std::string> cells = {metric, group_label(view, l, row.group()),
                                    stat_label(l, row.stat()), share_or_ms(l, share, row.sim())};
  if (spread) cells.push_back(spread_text(l, share, row.sim_seeds(), row.sim_min(), row.sim_max()));
  cells.push_back(share_or_ms(l, share, row.live()));
  if (spread) {
    cells.push_back(spread_text(l, share, row.live_seeds(), row.live_min(), row.live_max()));
  }
  cells.push_back(diff);
  cells.push_back(row.few_samples() ? t(l, Msg::kNotJudged)
                                    : t(l, row.within_tolerance() ? Msg::kYes : Msg::kNo));
  return cells;
}

void add_validation_table(Doc& d, const View& view, const v1::Validation& v, Lang l) {
  const bool spread = v.seeds() > 1;
  std::vector<std::string> header = {t(l, Msg::kColMetric), t(l, Msg::kColGroup),
                                     t(l, Msg::kColStat), t(l, Msg::kColSimulator)};
  if (spread) header.push_back(t(l, Msg::kColSimSpread));
  header.push_back(t(l, Msg::kColLiveServer));
  if (spread) header.push_back(t(l, Msg::kColLiveSpread));
  header.push_back(t(l, Msg::kColDifference));
  header.push_back(t(l, Msg::kColWithinTolerance));
  Block tb = table(header);
  size_t outside = 0, judged = 0;  // rows with few samples are not judged
  for (const v1::ValidationRow& row : v.rows()) {
    tb.rows.push_back(validation_cells(view, l, row, spread));
    tb.row_class.push_back(!row.within_tolerance() ? "fail" : (row.few_samples() ? "cond" : "ok"));
    outside += row.within_tolerance() ? 0 : 1;
    judged += row.few_samples() ? 0 : 1;
  }
  if (v.within_tolerance() && outside == 0) {
    para(d, format(l, Msg::kValidationOk, {fmt_int(l, judged)}));
  } else {
    para(d, format(l, Msg::kValidationFail,
                   {fmt_int(l, std::max<size_t>(outside, 1)), fmt_int(l, std::max(judged, outside))}),
         Block::Kind::kWarning);
  }
  d.push_back(tb);
}

void add_validation(Doc& d, const View& view, Lang l) {
  para(d, t(l, Msg::kValidationHeading), Block::Kind::kSubsection);
  if (view.in->validations.empty()) {
    para(d, t(l, Msg::kValidationNone));
    return;
  }
  for (const v1::Results& r : view.in->validations) {
    add_validation_intro(d, r, l);
    add_validation_table(d, view, r.validation(), l);
  }
}

}  // namespace

// A round axis maximum at or above v: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

namespace {

bool is_latency(const Finding& f) {
  return f.check == Check::kLatencySlo || f.check == Check::kLatencySloAllCells;
}

std::string value_text(Lang l, const Finding& f, double v) {
  return is_latency(f) ? fmt_ms(l, v) + " ms" : fmt_share(l, v);
}

// "Quorum attainment 97.2% [92.1%–99.1%], target 95.0%".
std::string decisive_short(Lang l, const CellTypeVerdict& v) {
  if (v.decisive < 0) return "-";
  const Finding& f = v.findings[static_cast<size_t>(v.decisive)];
  if (f.check == Check::kMeetings || f.check == Check::kTally) return finding_text(l, f);
  if (f.missing) return check_label(l, f) + ": " + t(l, Msg::kNoData);
  std::string s = check_label(l, f) + " " + value_text(l, f, f.observed);
  if (f.has_interval) {
    s += " [" + value_text(l, f, f.lo) + "\u2013" + value_text(l, f, f.hi) + "]";
  }
  return s + ", " + format(l, Msg::kTargetShort, {value_text(l, f, f.limit)});
}

std::string confidence_text(Lang l, const CellTypeVerdict& v) {
  switch (v.verdict) {
    case Verdict::kFeasible:
      return t(l, Msg::kConfFeasible);
    case Verdict::kNotFeasible:
      return t(l, Msg::kConfNotFeasible);
    case Verdict::kNotYetDecided:
      return t(l, Msg::kConfUndecided);
  }
  return "";
}

// What would change the verdict: the decisive finding's condition, or for a
// feasible type its pessimistic end's margin to the target.
std::string would_change(Lang l, const View& view, const CellTypeVerdict& v) {
  if (v.decisive < 0) return "-";
  const Finding& f = v.findings[static_cast<size_t>(v.decisive)];
  if (v.verdict != Verdict::kFeasible) return condition_text(l, f, &view.names);
  if (f.check == Check::kMeetings || f.check == Check::kTally) return "-";
  const std::string margin =
      is_latency(f) ? value_text(l, f, f.limit - f.hi)
                    : format(l, Msg::kPoints, {fmt_fixed(l, (f.lo - f.limit) * 100, 1)});
  return format(l, Msg::kHoldsWhile, {margin});
}

void add_glance_table(Doc& d, const View& view, Lang l) {
  Block tb = table({t(l, Msg::kColCellType), t(l, Msg::kColVerdict), t(l, Msg::kColDecides),
                    t(l, Msg::kColWouldChange)});
  for (const CellTypeVerdict& v : view.verdicts) {
    tb.rows.push_back({view.type_name(l, v.cell_type),
                       verdict_label(l, v.verdict) + " (" + confidence_text(l, v) + ")",
                       decisive_short(l, v), would_change(l, view, v)});
    tb.row_class.push_back(verdict_class(v.verdict));
  }
  d.push_back(tb);
}

void add_glance_sizing(Doc& d, const ReportInput& in, Lang l) {
  if (!in.has_sizing || in.sizing.max_cells_per_node() == 0) {
    para(d, t(l, Msg::kFirstNoSizing));
    return;
  }
  const v1::Sizing& z = in.sizing;
  para(d, format(l, z.capped() ? Msg::kFirstSizingCapped : Msg::kFirstSizing,
                 {fmt_int(l, z.peak_cells()), fmt_int(l, z.nodes_n_plus_1()),
                  fmt_int(l, z.nodes_needed()), fmt_int(l, z.cores_total()),
                  fmt_fixed(l, z.egress_mbps_per_node(), 1),
                  fmt_fixed(l, z.memory_gib_per_node(), z.memory_gib_per_node() < 1 ? 2 : 1),
                  fmt_int(l, z.max_cells_per_node())}));
}

void add_glance_validation(Doc& d, const ReportInput& in, Lang l) {
  if (in.validations.empty()) {
    para(d, t(l, Msg::kFirstNotValidated));
    return;
  }
  for (const v1::Results& r : in.validations) {
    const v1::Validation& v = r.validation();
    uint64_t judged = 0, within = 0;
    for (const v1::ValidationRow& row : v.rows()) {
      if (row.few_samples()) continue;
      ++judged;
      within += row.within_tolerance() ? 1 : 0;
    }
    const Msg mode = v.link_mode() == "packet" ? Msg::kLinkModePacket : Msg::kLinkModeFrame;
    para(d, format(l, Msg::kFirstValidated,
                   {t(l, mode), fmt_int(l, std::max<uint64_t>(v.seeds(), 1)), fmt_int(l, within),
                    fmt_int(l, judged)}));
  }
}

}  // namespace

// The first page: one screen a decision-maker reads in a minute.
void add_summary(Doc& d, const View& v, Lang l) {
  const ReportInput& in = *v.in;
  title(d, t(l, Msg::kTitle));
  section(d, "summary", t(l, Msg::kBasisScenario) + ": " + in.results.run().scenario());
  para(d, t(l, Msg::kFirstLead));
  if (!v.verdicts.empty()) add_glance_table(d, v, l);
  add_glance_transports(d, v, l);
  add_glance_sizing(d, in, l);
  add_glance_validation(d, in, l);
  if (!v.seeds.empty()) {
    para(d, format(l, Msg::kFirstSeeds, {fmt_int(l, v.seeds.size()), seed_list(v)}));
  }
  if (any_partial(v)) para(d, t(l, Msg::kPartialWarning), Block::Kind::kWarning);
  if (in.results.run().calibration().find("ESTIMATED") != std::string::npos ||
      in.results.run().calibration().find("estimate") != std::string::npos) {
    para(d, t(l, Msg::kCalibrationEstimated), Block::Kind::kWarning);
  }
  end_section(d);
}

void add_verdicts(Doc& d, const View& view, Lang l) {
  section(d, "verdicts", t(l, Msg::kSecVerdicts));
  para(d, t(l, Msg::kIntro));
  size_t counts[3] = {0, 0, 0};
  for (const CellTypeVerdict& c : view.verdicts) ++counts[static_cast<int>(c.verdict)];
  para(d, format(l, Msg::kVerdictSummary,
                 {fmt_int(l, view.verdicts.size()), fmt_int(l, counts[0]), fmt_int(l, counts[1]),
                  fmt_int(l, counts[2])}));
  if (view.multi()) {
    para(d, format(l, Msg::kSeedsRule, {fmt_int(l, view.seeds.size()), seed_list(view)}));
  }
  add_verdict_table(d, view, l);
  for (const CellTypeVerdict& v : view.verdicts) {
    para(d, view.type_name(l, v.cell_type) + ": " + verdict_label(l, v.verdict),
         Block::Kind::kSubsection);
    para(d, t(l, Msg::kFindingsHeading));
    std::vector<std::string> reasons, conditions;
    for (const Finding& f : v.findings) {
      reasons.push_back("[" + outcome_label(l, f.outcome) + "] " + finding_text(l, f));
      const std::string cond = f.decides ? condition_text(l, f, &view.names) : "";
      if (!cond.empty()) conditions.push_back(check_label(l, f) + ": " + cond);
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
                 {fmt_share(l, kDefaultMinQuorumAttainment), fmt_share(l, kValidVoteTarget),
                  fmt_share(l, kMinutesTarget)}));
  para(d, t(l, Msg::kQuorumSemantics));
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
    std::vector<std::string> row = {label};
    bool met = true;
    if (view.multi()) {
      for (const SeedRun& r : view.seeds) {
        if (i < r.results.slos_size()) {
          row.push_back(share_or_ms(l, quorum, r.results.slos(i).observed()));
          met = met && r.results.slos(i).met();
        } else {
          row.push_back(t(l, Msg::kNoData));
          met = false;
        }
      }
    } else {
      row.push_back(share_or_ms(l, quorum, s.observed()));
      met = s.met();
    }
    row.push_back(share_or_ms(l, quorum, s.limit()));
    row.push_back(t(l, met ? Msg::kYes : Msg::kNo));
    tb.rows.push_back(row);
    tb.row_class.push_back(met ? "ok" : "fail");
  }
  if (!tb.rows.empty()) d.push_back(tb);
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

void add_basis(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  section(d, "basis", t(l, Msg::kSecBasis));
  const v1::RunInfo& r = in.results.run();
  Block tb = table({t(l, Msg::kBasisWhat), t(l, Msg::kBasisValue)});
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
      {t(l, Msg::kBasisPartial), t(l, any_partial(view) ? Msg::kYes : Msg::kNo)},
      {t(l, Msg::kBasisVirtual),
       fmt_fixed(l, static_cast<double>(r.virtual_ns()) / kNsPerS / 60, 1) + " " +
           t(l, Msg::kUnitMinutes)},
      {t(l, Msg::kBasisMembersCells), fmt_int(l, members) + " / " + fmt_int(l, cells)},
      {t(l, Msg::kBasisHost), r.host()},
      {t(l, Msg::kBasisInputs), join(in.sources)},
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
  std::vector<const v1::Results*> runs;
  for (const SeedRun& s : v.seeds) {
    for (const v1::Group& g : s.results.groups()) {
      if (g.kind() == metrics::kGroupOverall) continue;
      v.names.add(g.kind(), g.name(), g.title_vi(), g.title_en());
    }
    runs.push_back(&s.results);
  }
  std::string why;  // load_inputs has merged these runs' groups already: they pool
  if (!runs.empty() && !judge_seeds(runs, in.links, &v.verdicts, &why)) v.verdicts.clear();
  return v;
}

Doc build_document(const ReportInput& in, Lang l) {
  const View view = make_view(in);
  Doc d;
  add_summary(d, view, l);
  add_verdicts(d, view, l);
  add_transports(d, view, l);
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

}  // namespace cellsim::report
