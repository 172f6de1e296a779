#include "report/verdict.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "report/lookup.h"

namespace cellsim::report {
namespace {

constexpr std::string_view kAllCells = "(all cells)";
constexpr std::string_view kCellTypePrefix = "(cell type ";
constexpr std::string_view kQuorumPrefix = "quorum attainment >= ";

constexpr std::pair<Verdict, const char*> kVerdictNames[] = {
    {Verdict::kFeasible, "feasible"},
    {Verdict::kFeasibleWithConditions, "feasible with conditions"},
    {Verdict::kNotFeasible, "not feasible"}};
constexpr std::pair<Outcome, const char*> kOutcomeNames[] = {
    {Outcome::kPass, "pass"}, {Outcome::kCondition, "condition"}, {Outcome::kFail, "fail"}};
constexpr std::pair<Check, const char*> kCheckNames[] = {
    {Check::kMeetings, "meetings"},
    {Check::kTally, "tally integrity"},
    {Check::kQuorum, "quorum attainment"},
    {Check::kValidVotes, "valid votes"},
    {Check::kMinutes, "complete minutes"},
    {Check::kLatencySlo, "latency SLO"},
    {Check::kLatencySloAllCells, "latency SLO (all cells)"}};

double share(uint64_t num, uint64_t den) {
  return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

// Splits "... (scope): problem" into the scope's cell type and the problem;
// returns the text before the scope.
bool split_scope(std::string_view d, std::string* cell_type, std::string* problem,
                 std::string_view* head) {
  size_t open = d.find(kAllCells);
  size_t close = std::string_view::npos;
  if (open != std::string_view::npos) {
    cell_type->clear();
    close = open + kAllCells.size() - 1;
  } else {
    open = d.find(kCellTypePrefix);
    if (open == std::string_view::npos) return false;
    close = d.find(')', open);
    if (close == std::string_view::npos) return false;
    const size_t name_at = open + kCellTypePrefix.size();
    *cell_type = std::string(d.substr(name_at, close - name_at));
  }
  std::string_view rest = d.substr(close + 1);
  problem->clear();
  if (rest.starts_with(": ")) *problem = std::string(rest.substr(2));
  *head = d.substr(0, open);
  while (!head->empty() && head->back() == ' ') head->remove_suffix(1);
  return true;
}

bool parse_number(std::string_view s, double* out) {
  const std::string text(s);
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0';
}

bool parse_latency_head(std::string_view head, ParsedSlo* out) {
  // "METRIC pQ <= LIMIT ms"
  const size_t sp = head.find(' ');
  if (sp == std::string_view::npos || sp + 1 >= head.size() || head[sp + 1] != 'p') return false;
  const size_t le = head.find(" <= ", sp);
  if (le == std::string_view::npos || !head.ends_with(" ms")) return false;
  double pct = 0, limit = 0;
  if (!parse_number(head.substr(sp + 2, le - sp - 2), &pct)) return false;
  if (!parse_number(head.substr(le + 4, head.size() - 3 - le - 4), &limit)) return false;
  out->quorum = false;
  out->metric = std::string(head.substr(0, sp));
  out->quantile = pct / 100.0;
  out->limit = limit;
  return true;
}

const v1::SloResult* quorum_slo_for(const v1::Results& results, const std::string& cell_type,
                                    ParsedSlo* parsed) {
  const v1::SloResult* scoped = nullptr;
  const v1::SloResult* overall = nullptr;
  ParsedSlo scoped_p, overall_p;
  for (const v1::SloResult& s : results.slos()) {
    ParsedSlo p;
    if (!parse_slo(s.description(), &p) || !p.quorum) continue;
    if (p.cell_type == cell_type && scoped == nullptr) scoped = &s, scoped_p = p;
    if (p.cell_type.empty() && overall == nullptr) overall = &s, overall_p = p;
  }
  if (scoped != nullptr) {
    *parsed = scoped_p;
    return scoped;
  }
  *parsed = overall_p;
  return overall;
}

Finding quorum_finding(const v1::Results& results, const v1::Group& g) {
  Finding f;
  f.check = Check::kQuorum;
  const auto& q = g.quorum();
  f.count = q.meetings();
  f.observed = share(q.meetings_quorate_by_deadline(), q.meetings());
  ParsedSlo p;
  f.limit = quorum_slo_for(results, g.name(), &p) != nullptr ? p.limit
                                                              : kDefaultMinQuorumAttainment;
  const double needed = std::ceil(f.limit * static_cast<double>(q.meetings()) - 1e-9);
  const double have = static_cast<double>(q.meetings_quorate_by_deadline());
  f.shortfall = needed > have ? static_cast<uint64_t>(needed - have) : 0;
  if (f.observed >= f.limit) {
    f.outcome = Outcome::kPass;
  } else if (f.observed >= f.limit - kQuorumConditionMargin) {
    f.outcome = Outcome::kCondition;
  } else {
    f.outcome = Outcome::kFail;
  }
  return f;
}

Finding share_finding(Check check, uint64_t num, uint64_t den, double feasible, double minimum) {
  Finding f;
  f.check = check;
  f.count = den;
  f.observed = den == 0 ? 1.0 : share(num, den);
  f.limit = feasible;
  if (f.observed >= feasible) {
    f.outcome = Outcome::kPass;
  } else if (f.observed >= minimum) {
    f.outcome = Outcome::kCondition;
  } else {
    f.outcome = Outcome::kFail;
  }
  return f;
}

std::string worst_profile(const v1::Results& results, const std::vector<std::string>& profiles,
                          const std::string& metric, double q) {
  std::string worst;
  double worst_ms = -1;
  for (const v1::Group& g : results.groups()) {
    if (g.kind() != metrics::kGroupProfile) continue;
    if (std::find(profiles.begin(), profiles.end(), g.name()) == profiles.end()) continue;
    double ms = 0;
    if (group_quantile_ms(g, metric, q, &ms) && ms > worst_ms) worst_ms = ms, worst = g.name();
  }
  return worst;
}

Finding latency_finding(const v1::Results& results, const v1::Group& g, const ParsedSlo& p,
                        const std::vector<std::string>* profiles) {
  Finding f;
  f.check = p.cell_type.empty() ? Check::kLatencySloAllCells : Check::kLatencySlo;
  f.metric = p.metric;
  f.quantile = p.quantile;
  f.limit = p.limit;
  f.missing = !group_quantile_ms(g, p.metric, p.quantile, &f.observed);
  if (f.missing) {
    f.outcome = Outcome::kCondition;
  } else if (f.observed <= f.limit) {
    f.outcome = Outcome::kPass;
  } else if (f.check == Check::kLatencySlo && f.observed > f.limit * kLatencyConditionFactor) {
    f.outcome = Outcome::kFail;
  } else {
    f.outcome = Outcome::kCondition;
  }
  if (f.outcome != Outcome::kPass && profiles != nullptr) {
    f.worst_profile = worst_profile(results, *profiles, p.metric, p.quantile);
  }
  return f;
}

Verdict overall_verdict(const std::vector<Finding>& findings) {
  Verdict v = Verdict::kFeasible;
  for (const Finding& f : findings) {
    if (f.outcome == Outcome::kFail) return Verdict::kNotFeasible;
    if (f.outcome == Outcome::kCondition) v = Verdict::kFeasibleWithConditions;
  }
  return v;
}

CellTypeVerdict judge_group(const v1::Results& results, const v1::Group& g,
                            const CellTypeLinks& links) {
  CellTypeVerdict v;
  v.cell_type = g.name();
  v.cells = g.cells();
  v.members = g.members();
  const auto& q = g.quorum();
  v.meetings = q.meetings();
  Finding meetings;
  meetings.check = Check::kMeetings;
  meetings.count = q.meetings();
  meetings.outcome = q.meetings() > 0 ? Outcome::kPass : Outcome::kFail;
  v.findings.push_back(meetings);
  Finding tally;
  tally.check = Check::kTally;
  tally.count = q.ballots_acked();
  tally.observed = static_cast<double>(q.ballots_counted());
  tally.limit = static_cast<double>(q.ballots_acked());
  tally.outcome = q.ballots_acked() == q.ballots_counted() ? Outcome::kPass : Outcome::kFail;
  v.findings.push_back(tally);
  if (q.meetings() > 0) v.findings.push_back(quorum_finding(results, g));
  v.findings.push_back(share_finding(Check::kValidVotes, q.votes_valid(), q.votes_held(),
                                     kFeasibleValidVoteShare, kMinValidVoteShare));
  v.findings.push_back(share_finding(Check::kMinutes, q.minutes_complete(), q.meetings_closed(),
                                     kFeasibleMinutesShare, kMinMinutesCompleteShare));
  const auto it = links.find(g.name());
  const std::vector<std::string>* profiles = it == links.end() ? nullptr : &it->second;
  for (const v1::SloResult& s : results.slos()) {
    ParsedSlo p;
    if (!parse_slo(s.description(), &p) || p.quorum) continue;
    if (!p.cell_type.empty() && p.cell_type != g.name()) continue;
    v.findings.push_back(latency_finding(results, g, p, profiles));
  }
  v.verdict = overall_verdict(v.findings);
  return v;
}

}  // namespace

bool parse_slo(const std::string& description, ParsedSlo* out) {
  ParsedSlo p;
  std::string_view head;
  if (!split_scope(description, &p.cell_type, &p.problem, &head)) return false;
  if (head.starts_with(kQuorumPrefix)) {
    std::string_view num = head.substr(kQuorumPrefix.size());
    if (!num.ends_with("%")) return false;
    num.remove_suffix(1);
    if (!parse_number(num, &p.limit)) return false;
    p.limit /= 100.0;
    p.quorum = true;
  } else if (!parse_latency_head(head, &p)) {
    return false;
  }
  *out = p;
  return true;
}

bool group_quantile_ms(const v1::Group& group, const std::string& metric, double q, double* ms) {
  for (const v1::LatencyMetric& m : group.latencies()) {
    if (m.name() != metric) continue;
    metrics::Histogram h;
    if (!metrics::Histogram::from_proto(m.histogram(), &h, nullptr) || h.empty()) return false;
    *ms = static_cast<double>(std::min(h.value_at_quantile(q), h.max())) / 1000.0;
    return true;
  }
  return false;
}

std::vector<CellTypeVerdict> judge(const v1::Results& results, const CellTypeLinks& links) {
  std::vector<CellTypeVerdict> out;
  for (const v1::Group& g : results.groups()) {
    if (g.kind() == metrics::kGroupCellType) out.push_back(judge_group(results, g, links));
  }
  return out;
}

std::vector<CombinedVerdict> combine_seeds(const std::vector<SeedVerdicts>& seeds) {
  std::vector<CombinedVerdict> out;
  auto rank = [](Verdict v) { return static_cast<int>(v); };  // kNotFeasible is the worst
  for (const SeedVerdicts& s : seeds) {
    for (const CellTypeVerdict& v : s.verdicts) {
      auto it = std::find_if(out.begin(), out.end(), [&](const CombinedVerdict& c) {
        return c.decisive.cell_type == v.cell_type;
      });
      if (it == out.end()) {
        CombinedVerdict c;
        c.decisive = v;
        c.decisive_seed = s.seed;
        out.push_back(std::move(c));
        it = out.end() - 1;
      } else if (rank(v.verdict) > rank(it->decisive.verdict)) {
        it->decisive = v;
        it->decisive_seed = s.seed;
      }
      it->per_seed.emplace_back(s.seed, v);
    }
  }
  return out;
}

const char* verdict_name(Verdict v) { return lookup(kVerdictNames, v, "?"); }
const char* outcome_name(Outcome o) { return lookup(kOutcomeNames, o, "?"); }
const char* check_name(Check c) { return lookup(kCheckNames, c, "?"); }

}  // namespace cellsim::report
