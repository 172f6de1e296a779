#include "report/verdict.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "agents/voice.h"
#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/voice_stats.h"
#include "proto/assert.h"
#include "report/confidence.h"
#include "report/lookup.h"

namespace cellsim::report {
namespace {

constexpr std::string_view kAllCells = "(all cells)";
constexpr std::string_view kCellTypePrefix = "(cell type ";
constexpr std::string_view kQuorumPrefix = "quorum attainment >= ";

constexpr std::pair<Verdict, const char*> kVerdictNames[] = {
    {Verdict::kFeasible, "feasible"},
    {Verdict::kNotYetDecided, "not yet decided"},
    {Verdict::kNotFeasible, "not feasible"}};
constexpr std::pair<Outcome, const char*> kOutcomeNames[] = {
    {Outcome::kPass, "pass"}, {Outcome::kUndecided, "undecided"}, {Outcome::kFail, "fail"}};
constexpr std::pair<Check, const char*> kCheckNames[] = {
    {Check::kMeetings, "meetings"},
    {Check::kTally, "tally integrity"},
    {Check::kQuorum, "quorum attainment"},
    {Check::kValidVotes, "valid votes"},
    {Check::kMinutes, "complete minutes"},
    {Check::kLatencySlo, "latency SLO"},
    {Check::kLatencySloAllCells, "latency SLO (all cells)"},
    {Check::kVoice, "voice quality"}};

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

// The outcome of an interval against a target: higher is better for
// shares, lower for latencies.
Outcome judge_interval(double lo, double hi, double target, bool higher_is_better) {
  if (higher_is_better)
    return lo >= target ? Outcome::kPass : hi < target ? Outcome::kFail : Outcome::kUndecided;
  return hi <= target ? Outcome::kPass : lo > target ? Outcome::kFail : Outcome::kUndecided;
}

// Further seeds that would likely decide an undecided interval (0: never).
// (0 with *never when the estimate sits on the target.)
uint64_t more_seeds_for(const Interval& iv, double target, uint64_t seeds, bool* never) {
  const double factor = more_needed(iv, target);
  *never = factor == 0;
  if (*never) return 0;
  const double more = std::ceil((factor - 1) * static_cast<double>(seeds) - 1e-9);
  return std::max<uint64_t>(1, static_cast<uint64_t>(std::min(more, kMaxMoreSeeds)));
}

void set_interval(const Interval& iv, bool higher_is_better, uint64_t seeds, Finding* f) {
  f->observed = iv.estimate;
  f->lo = iv.lo;
  f->hi = iv.hi;
  f->has_interval = iv.valid;
  if (!iv.valid) {  // too few batches for an interval: more cells or seeds give one
    f->outcome = Outcome::kUndecided;
    f->more_seeds = 1;
    return;
  }
  f->outcome = judge_interval(iv.lo, iv.hi, f->limit, higher_is_better);
  if (f->outcome == Outcome::kUndecided) {
    f->more_seeds = more_seeds_for(iv, f->limit, seeds, &f->never_decides);
  }
}

// A share's interval and, when undecided, the further seeds (each of the
// pooled seeds' mean size) after which Wilson's interval at the same share
// would clear the target: searched, not scaled (at a share of 0 or 1 the
// interval's side shrinks as 1/n, not 1/sqrt(n)).
void set_share(uint64_t k, uint64_t n, uint64_t seeds, Finding* f) {
  set_interval(wilson(k, n), true, seeds, f);
  if (f->outcome != Outcome::kUndecided || n == 0) return;
  const uint64_t step = std::max<uint64_t>(1, n / std::max<uint64_t>(1, seeds));
  const uint64_t trials = share_trials_to_decide(f->observed, n, step, f->limit);
  f->never_decides = trials == 0;
  f->more_seeds = trials / step;
}

Finding quorum_finding(const v1::Results& results, const v1::Group& g, uint64_t seeds) {
  Finding f;
  f.check = Check::kQuorum;
  const auto& q = g.quorum();
  f.count = q.meetings();
  ParsedSlo p;
  f.limit = quorum_slo_for(results, g.name(), &p) != nullptr ? p.limit
                                                              : kDefaultMinQuorumAttainment;
  const double needed = std::ceil(f.limit * static_cast<double>(q.meetings()) - 1e-9);
  const double have = static_cast<double>(q.meetings_quorate_by_deadline());
  f.shortfall = needed > have ? static_cast<uint64_t>(needed - have) : 0;
  set_share(q.meetings_quorate_by_deadline(), q.meetings(), seeds, &f);
  const bool recorded =
      q.meetings_quorate_by_deadline_chair() > 0 || q.meetings_quorate_by_deadline() == 0;
  if (recorded && q.meetings() > 0) {
    f.chair_view = static_cast<double>(q.meetings_quorate_by_deadline_chair()) /
                   static_cast<double>(q.meetings());
  }
  return f;
}

Finding share_finding(Check check, uint64_t num, uint64_t den, double target, uint64_t seeds) {
  Finding f;
  f.check = check;
  f.count = den;
  f.limit = target;
  if (den == 0) {  // nothing to count: passes vacuously
    f.observed = f.lo = f.hi = 1.0;
    f.outcome = Outcome::kPass;
    return f;
  }
  set_share(num, den, seeds, &f);
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
                        const std::vector<std::string>* profiles, uint64_t seeds) {
  Finding f;
  f.check = p.cell_type.empty() ? Check::kLatencySloAllCells : Check::kLatencySlo;
  f.decides = f.check == Check::kLatencySlo;
  f.metric = p.metric;
  f.quantile = p.quantile;
  f.limit = p.limit;
  bool has_figure = false;
  ClusteredSamples s;
  const Interval iv = group_quantile_interval(g, p.metric, p.quantile, &has_figure, &s);
  f.missing = !has_figure;
  if (f.missing) {  // no figure: how many more runs would give one is unknown
    f.outcome = Outcome::kUndecided;
    return f;
  }
  f.count = s.clusters();
  set_interval(iv, false, seeds, &f);
  if (f.outcome != Outcome::kPass && profiles != nullptr) {
    f.worst_profile = worst_profile(results, *profiles, p.metric, p.quantile);
  }
  return f;
}

// The voice check: the share of speech time heard at the MOS threshold,
// its cluster-bootstrap interval over whole-cell batches, against the
// results' target share.
Finding voice_finding(const v1::Results& results, const v1::Group& g, uint64_t seeds) {
  const v1::VoiceStats& v = g.voice();
  Finding f;
  f.check = Check::kVoice;
  f.limit = v.target_share_milli() / 1000.0;
  f.mos_threshold = v.mos_threshold_milli() / 1000.0;
  f.mos_p10 = metrics::voice_mos_quantile(v, 0.1).value_or(0);
  f.mouth_to_ear_ms = metrics::voice_mouth_to_ear_ms(v).value_or(0);
  f.voice_in_band = metrics::transport_of(results.run()) == metrics::kTransportInBand;
  if (f.mouth_to_ear_ms > 0) {
    agents::EModelParams p;  // G.107's defaults: a perfect codec, no loss
    p.T = p.Ta = f.mouth_to_ear_ms;
    p.Tr = 2 * f.mouth_to_ear_ms;
    f.mos_delay_ceiling = agents::mos_from_r(agents::emodel_r(p));
  }
  const Interval iv = ratio_interval(voice_clusters(g));
  f.count = iv.n;
  set_interval(iv, true, seeds, &f);
  return f;
}

// How far a finding's pessimistic end clears its target, relative to it
// (negative: misses): what orders findings to pick the decisive one.
double margin(const Finding& f) {
  const double target = std::max(std::abs(f.limit), 1e-9);
  switch (f.check) {
    case Check::kMeetings:
      return f.count > 0 ? 1.0 : -1.0;
    case Check::kTally:
      return f.outcome == Outcome::kFail ? -1.0 : 1.0;
    case Check::kLatencySlo:
    case Check::kLatencySloAllCells:
      return (f.limit - (f.outcome == Outcome::kFail ? f.lo : f.hi)) / target;
    default:
      return ((f.outcome == Outcome::kFail ? f.hi : f.lo) - f.limit) / target;
  }
}

// Whether `f` is more decisive than `best` among findings of outcome `want`:
// the widest miss (relative) for a failure; for undecided ones, one that
// never decides, else the most further seeds; for passes the least margin,
// a check with something to count before one that passes vacuously.
bool more_decisive(const Finding& f, const Finding& best, Outcome want) {
  if (want == Outcome::kUndecided) {
    if (f.never_decides != best.never_decides) return f.never_decides;
    return f.more_seeds > best.more_seeds;
  }
  if (want == Outcome::kPass && f.has_interval != best.has_interval) return f.has_interval;
  return margin(f) < margin(best);
}

void decide(CellTypeVerdict* v) {
  v->verdict = Verdict::kFeasible;
  for (const Finding& f : v->findings) {
    if (!f.decides) continue;
    if (f.outcome == Outcome::kFail) v->verdict = Verdict::kNotFeasible;
    if (f.outcome == Outcome::kUndecided && v->verdict == Verdict::kFeasible) {
      v->verdict = Verdict::kNotYetDecided;
    }
    if (f.outcome == Outcome::kUndecided) {
      v->never_decides = v->never_decides || f.never_decides;
      v->more_seeds = std::max(v->more_seeds, f.more_seeds);
    }
  }
  if (v->verdict != Verdict::kNotYetDecided) v->more_seeds = 0, v->never_decides = false;
  const Outcome want = v->verdict == Verdict::kNotFeasible     ? Outcome::kFail
                       : v->verdict == Verdict::kNotYetDecided ? Outcome::kUndecided
                                                               : Outcome::kPass;
  for (size_t i = 0; i < v->findings.size(); ++i) {
    const Finding& f = v->findings[i];
    if (!f.decides || f.outcome != want) continue;
    if (v->decisive < 0) {
      v->decisive = static_cast<int>(i);
      continue;
    }
    if (more_decisive(f, v->findings[static_cast<size_t>(v->decisive)], want)) {
      v->decisive = static_cast<int>(i);
    }
  }
}

CellTypeVerdict judge_group(const v1::Results& results, const v1::Group& g,
                            const CellTypeLinks& links, uint64_t seeds) {
  CellTypeVerdict v;
  v.cell_type = g.name();
  v.cells = g.cells();
  v.members = g.members();
  v.seeds = seeds;
  const auto& q = g.quorum();
  v.meetings = q.meetings();
  Finding meetings;
  meetings.check = Check::kMeetings;
  meetings.count = q.meetings();
  meetings.observed = meetings.lo = meetings.hi = static_cast<double>(q.meetings());
  meetings.limit = 1;
  meetings.outcome = q.meetings() > 0 ? Outcome::kPass : Outcome::kFail;
  v.findings.push_back(meetings);
  Finding tally;
  tally.check = Check::kTally;
  tally.count = q.ballots_acked();
  tally.observed = tally.lo = tally.hi = static_cast<double>(q.ballots_counted());
  tally.limit = static_cast<double>(q.ballots_acked());
  tally.outcome = q.ballots_acked() <= q.ballots_counted() ? Outcome::kPass : Outcome::kFail;
  v.findings.push_back(tally);
  if (q.meetings() > 0) v.findings.push_back(quorum_finding(results, g, seeds));
  v.findings.push_back(
      share_finding(Check::kValidVotes, q.votes_valid(), q.votes_held(), kValidVoteTarget, seeds));
  v.findings.push_back(share_finding(Check::kMinutes, q.minutes_complete(), q.meetings_closed(),
                                     kMinutesTarget, seeds));
  const auto it = links.find(g.name());
  const std::vector<std::string>* profiles = it == links.end() ? nullptr : &it->second;
  for (const v1::SloResult& s : results.slos()) {
    ParsedSlo p;
    if (!parse_slo(s.description(), &p) || p.quorum) continue;
    if (!p.cell_type.empty() && p.cell_type != g.name()) continue;
    Finding f = latency_finding(results, g, p, profiles, seeds);
    if (!p.problem.empty()) f.outcome = Outcome::kUndecided, f.missing = true;
    v.findings.push_back(f);
  }
  if (g.has_voice() && g.voice().speech_ms() > 0) v.findings.push_back(voice_finding(results, g, seeds));
  decide(&v);
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

std::vector<CellTypeVerdict> judge(const v1::Results& pooled, const CellTypeLinks& links,
                                   uint64_t seeds) {
  std::vector<CellTypeVerdict> out;
  for (const v1::Group& g : pooled.groups()) {
    if (g.kind() == metrics::kGroupCellType) out.push_back(judge_group(pooled, g, links, seeds));
  }
  return out;
}

bool judge_seeds(const std::vector<const v1::Results*>& runs, const CellTypeLinks& links,
                 std::vector<CellTypeVerdict>* out, std::string* why) {
  CELLSIM_ASSERT(!runs.empty());
  v1::Results pooled;
  if (!pool_seeds(runs, &pooled, why)) return false;
  for (const v1::Results* r : runs) {
    if (r->slos_size() == 0) continue;
    *pooled.mutable_slos() = r->slos();
    break;
  }
  *out = judge(pooled, links, runs.size());
  return true;
}

const char* verdict_name(Verdict v) { return lookup(kVerdictNames, v, "?"); }
const char* outcome_name(Outcome o) { return lookup(kOutcomeNames, o, "?"); }
const char* check_name(Check c) { return lookup(kCheckNames, c, "?"); }

}  // namespace cellsim::report
