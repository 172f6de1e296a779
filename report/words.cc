// The report's words for figures and findings (words.h), the reason and
// condition of a finding (report.h) and the display names of cell types and
// profiles (report.h, Names).
#include "report/words.h"

#include <algorithm>
#include <cstdio>

#include "metrics/recorder.h"
#include "report/lookup.h"

namespace cellsim::report {
namespace {

constexpr std::pair<const char*, Msg> kMetricLabels[] = {
    {"join_latency", Msg::kMetricJoin},           {"heartbeat_rtt", Msg::kMetricHeartbeat},
    {"broadcast_latency", Msg::kMetricBroadcast}, {"ballot_latency", Msg::kMetricBallot},
    {"result_latency", Msg::kMetricResult},       {"time_to_quorum", Msg::kMetricTimeToQuorum}};
constexpr std::pair<Verdict, Msg> kVerdictLabels[] = {
    {Verdict::kFeasible, Msg::kVerdictFeasible},
    {Verdict::kNotYetDecided, Msg::kVerdictUndecided},
    {Verdict::kNotFeasible, Msg::kVerdictNotFeasible}};
constexpr std::pair<Verdict, const char*> kVerdictClasses[] = {
    {Verdict::kFeasible, "ok"}, {Verdict::kNotYetDecided, "cond"}, {Verdict::kNotFeasible, "fail"}};
constexpr std::pair<Outcome, Msg> kOutcomeLabels[] = {{Outcome::kPass, Msg::kOutcomePass},
                                                      {Outcome::kUndecided, Msg::kOutcomeUndecided},
                                                      {Outcome::kFail, Msg::kOutcomeFail}};
// The problems metrics/slo.cc names.
constexpr std::pair<const char*, Msg> kSloProblems[] = {
    {"no samples", Msg::kSloNoSamples},
    {"no meetings", Msg::kSloNoMeetings},
    {"no such group in the results", Msg::kSloNoGroup}};

// The words for the Msg `key` maps to in `table`, else `otherwise`.
template <typename K, size_t N, typename Key>
std::string label(Lang l, const std::pair<K, Msg> (&table)[N], const Key& key,
                  std::string otherwise) {
  const Msg m = lookup(table, key, Msg::kCount);
  return m == Msg::kCount ? otherwise : t(l, m);
}

std::string latency_finding_text(Lang l, const Finding& f) {
  const std::string m = metric_label(l, f.metric), q = quantile_label(l, f.quantile);
  if (f.missing) return format(l, Msg::kFindLatencyMissing, {m, q, fmt_ms(l, f.limit)});
  return format(l, f.check == Check::kLatencySlo ? Msg::kFindLatency : Msg::kFindLatencyAll,
                {m, q, fmt_ms(l, f.observed), fmt_ms(l, f.limit)});
}

std::string slo_problem(Lang l, const std::string& problem) {
  if (problem.empty()) return "";
  return label(l, kSloProblems, problem, t(l, Msg::kSloOther));
}

}  // namespace

std::string t(Lang l, Msg m) { return std::string(text(l, m)); }

std::string metric_label(Lang l, const std::string& name) {
  return label(l, kMetricLabels, name, name);
}

std::string quantile_label(Lang l, double q) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", q * 100);
  std::string s = buf;
  if (l == Lang::kVi) std::replace(s.begin(), s.end(), '.', ',');
  return s;
}

std::string verdict_label(Lang l, Verdict v) { return label(l, kVerdictLabels, v, ""); }
const char* verdict_class(Verdict v) { return lookup(kVerdictClasses, v, ""); }
std::string outcome_label(Lang l, Outcome o) { return label(l, kOutcomeLabels, o, ""); }

std::string share_or_ms(Lang l, bool share, double v) {
  return share ? fmt_share(l, v) : fmt_ms(l, v) + " ms";
}

std::string stat_label(Lang l, const std::string& stat) {
  if (stat == "share") return t(l, Msg::kStatShare);
  if (stat.size() > 1 && stat[0] == 'p') return format(l, Msg::kQuantileShort, {stat.substr(1)});
  return stat;
}

std::string slo_label(Lang l, const std::string& description, bool* quorum,
                      const Names* names) {
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

namespace {

// The finding's figure in words, without its interval.
std::string figure_text(Lang l, const Finding& f) {
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
    case Check::kVoice:
      return format(
          l, Msg::kFindVoice,
          {fmt_fixed(l, f.mos_threshold, 1), fmt_share(l, f.observed), fmt_share(l, f.limit),
           fmt_fixed(l, f.mos_p10, 2), fmt_fixed(l, f.mouth_to_ear_ms, 0)});
  }
  return "";
}

// The finding's interval, "" when it has none or is exact.
std::string interval_text(Lang l, const Finding& f) {
  if (!f.has_interval) return "";
  const bool latency = f.check == Check::kLatencySlo || f.check == Check::kLatencySloAllCells;
  if (!latency && f.count == 0) return "";
  const auto v = [&](double x) { return latency ? fmt_ms(l, x) + " ms" : fmt_share(l, x); };
  return format(l, Msg::kFindInterval, {v(f.lo), v(f.hi)});
}

// What would decide an undecided finding.
std::string undecided_text(Lang l, const Finding& f) {
  if (f.missing) return format(l, Msg::kCondMissing, {metric_label(l, f.metric)});
  if (!f.has_interval) return t(l, Msg::kUndecidedNoInterval);
  if (f.never_decides) return t(l, Msg::kUndecidedNever);
  return format(l, Msg::kUndecidedMore, {fmt_int(l, f.more_seeds)});
}

}  // namespace

std::string check_label(Lang l, const Finding& f) {
  switch (f.check) {
    case Check::kMeetings:
      return t(l, Msg::kColMeetings);
    case Check::kTally:
      return t(l, Msg::kCheckTally);
    case Check::kQuorum:
      return t(l, Msg::kColQuorum);
    case Check::kValidVotes:
      return t(l, Msg::kColValidVotes);
    case Check::kMinutes:
      return t(l, Msg::kColMinutes);
    case Check::kLatencySlo:
    case Check::kLatencySloAllCells:
      return metric_label(l, f.metric) + ", " +
             format(l, Msg::kQuantileShort, {quantile_label(l, f.quantile)});
    case Check::kVoice:
      return t(l, Msg::kCheckVoice);
  }
  return "";
}

// The reason a finding gives, in words (exposed to the tests via the report).
std::string finding_text(Lang l, const Finding& f) {
  std::string s = figure_text(l, f);
  const std::string iv = interval_text(l, f);
  if (!iv.empty()) s += " (" + iv + ")";
  if (f.check == Check::kQuorum && f.chair_view >= 0) {
    s += "; " + format(l, Msg::kFindChairView, {fmt_share(l, f.chair_view)});
  }
  if (!f.decides) s += "; " + t(l, Msg::kAllCellsNote);
  return s;
}

// What would change a finding that is not a pass; "" for a pass.
std::string condition_text(Lang l, const Finding& f, const Names* names) {
  if (f.outcome == Outcome::kPass) return "";
  if (f.outcome == Outcome::kUndecided) return undecided_text(l, f);
  switch (f.check) {
    case Check::kMeetings: return t(l, Msg::kCondNoMeetings);
    case Check::kTally: return t(l, Msg::kCondTally);
    case Check::kQuorum: return format(l, Msg::kCondQuorum, {fmt_int(l, f.shortfall)});
    case Check::kValidVotes: return t(l, Msg::kCondVotes);
    case Check::kMinutes: return t(l, Msg::kCondMinutes);
    case Check::kVoice:
      if (f.mos_delay_ceiling > 0 && f.mos_delay_ceiling < f.mos_threshold) {
        return format(l, f.voice_in_band ? Msg::kCondVoiceInBandDelay : Msg::kCondVoiceDelayBound,
                      {fmt_fixed(l, f.mos_threshold, 1), fmt_fixed(l, f.mouth_to_ear_ms, 0),
                       fmt_fixed(l, f.mos_delay_ceiling, 2)});
      }
      return format(l, Msg::kCondVoice, {fmt_fixed(l, f.mos_threshold, 1)});
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

}  // namespace cellsim::report
