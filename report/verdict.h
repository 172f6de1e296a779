// The feasibility verdict per cell type (DESIGN.md, "Sizing and the report"):
// can a kind of special cell hold a *valid* meeting over its real links?
//
// judge() is a pure function of the results (and, optionally, which network
// profiles each cell type's members use, to name the link behind a miss). It
// looks at the cell type's group and at the SLOs recorded in results.slos:
//
//   check                 passes when                          fails (not feasible) when
//   meetings              the group has meetings               it has none
//   tally integrity       ballots acked == ballots counted     they differ
//   quorum attainment     >= the cell type's quorum SLO (else  < target - kQuorumConditionMargin
//                         the all-cells one, else
//                         kDefaultMinQuorumAttainment)
//   valid votes           votes_valid / votes_held >=          < kMinValidVoteShare
//                         kFeasibleValidVoteShare
//   complete minutes      minutes_complete / closed >=         < kMinMinutesCompleteShare
//                         kFeasibleMinutesShare
//   latency SLO of this   observed <= limit                    observed > limit ×
//   cell type                                                  kLatencyConditionFactor
//   latency SLO of all    this cell type's own quantile        never (a scenario-wide target
//   cells                 <= the limit                         is not this cell type's own)
//
// Anything between "passes" and "fails" is a condition. Verdict: not feasible
// if any check fails; feasible with conditions if any is a condition;
// feasible otherwise. A condition says what would change it (Finding's
// shortfall and worst_profile: more attendance, a better link profile).
//
// SLO descriptions are parsed (parse_slo) in the format metrics/slo.cc
// writes; an SLO that carries a problem (": no samples", ...) is a condition
// (the figure is missing, not bad). Votes and minutes checks with nothing
// to count (no votes held, no meetings closed) pass vacuously.
//
// Several seeds (combine_seeds). The same scenario run with different seeds
// gives one verdict per cell type per seed; the verdict over the seeds is the
// worst of them: feasible only if feasible in every seed, not feasible if not
// feasible in any. The seed that decides it is the first (in the order
// given) whose verdict is that worst one; its findings are the reasons shown.
//
// Thread-safety: pure functions, no state.
#ifndef CELLSIM_REPORT_VERDICT_H_
#define CELLSIM_REPORT_VERDICT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cellsim/v1/results.pb.h"

namespace cellsim::report {

namespace v1 = ::cellsim::v1;

// Thresholds of the verdict rules (shares in [0, 1]).
inline constexpr double kDefaultMinQuorumAttainment = 0.90;  // when no quorum SLO names the type
inline constexpr double kQuorumConditionMargin = 0.10;       // below the target by more: fails
inline constexpr double kFeasibleValidVoteShare = 0.98;
inline constexpr double kMinValidVoteShare = 0.90;
inline constexpr double kFeasibleMinutesShare = 1.0;
inline constexpr double kMinMinutesCompleteShare = 0.90;
inline constexpr double kLatencyConditionFactor = 1.5;       // above limit × this: fails

enum class Verdict { kFeasible, kFeasibleWithConditions, kNotFeasible };
enum class Outcome { kPass, kCondition, kFail };

enum class Check {
  kMeetings,
  kTally,
  kQuorum,
  kValidVotes,
  kMinutes,
  kLatencySlo,          // an SLO of this cell type
  kLatencySloAllCells,  // an all-cells SLO on this cell type's samples
};

// One check and the figures that decide it.
struct Finding {
  Check check = Check::kMeetings;
  Outcome outcome = Outcome::kPass;
  double observed = 0;  // shares for quorum/votes/minutes, ms for latency
  double limit = 0;     // the target (for latency, the SLO's max_ms)
  std::string metric;   // latency checks: the metric name
  double quantile = 0;  // latency checks
  bool missing = false; // the figure could not be computed (no samples, ...)
  uint64_t count = 0;   // quorum: meetings; votes: held; minutes: closed; tally: acked
  uint64_t shortfall = 0;  // quorum: more meetings quorate needed to reach the target
  std::string worst_profile;  // latency: the slowest of the type's profiles, if known
};

struct CellTypeVerdict {
  std::string cell_type;
  Verdict verdict = Verdict::kFeasible;
  uint64_t cells = 0, members = 0, meetings = 0;
  std::vector<Finding> findings;  // every check, in Check order (latency SLOs in SLO order)
};

// A latency or quorum SLO as metrics/slo.cc describes it.
struct ParsedSlo {
  bool quorum = false;
  std::string metric;      // latency only
  double quantile = 0;     // latency only, in [0, 1]
  double limit = 0;        // ms, or a share for quorum
  std::string cell_type;   // empty: all cells
  std::string problem;     // text after ": ", if any
};

// Parses "join_latency p99 <= 2000 ms (all cells)" or "quorum attainment >=
// 95% (cell type island): no meetings". Returns false if it is neither.
bool parse_slo(const std::string& description, ParsedSlo* out);

// Cell type name -> the network profiles its members use.
using CellTypeLinks = std::map<std::string, std::vector<std::string>>;

// Judges every cell_type group of the results, in the results' order.
std::vector<CellTypeVerdict> judge(const v1::Results& results, const CellTypeLinks& links = {});

// One seed's verdicts (judge() on that seed's results).
struct SeedVerdicts {
  uint64_t seed = 0;
  std::vector<CellTypeVerdict> verdicts;
};

// A cell type's verdict over several seeds.
struct CombinedVerdict {
  CellTypeVerdict decisive;     // the deciding seed's verdict; its .verdict is the worst
  uint64_t decisive_seed = 0;
  // Every seed's verdict of this cell type, in the order of `seeds` (a seed
  // whose results lack the type is left out).
  std::vector<std::pair<uint64_t, CellTypeVerdict>> per_seed;
};

// Combines seeds' verdicts per cell type, in the first seed's cell type order
// (then any type only later seeds have). REQUIRES: seeds non-empty.
std::vector<CombinedVerdict> combine_seeds(const std::vector<SeedVerdicts>& seeds);

// The quantile of a latency metric in a group, in ms, as the SLOs compute it
// (min(value_at_quantile, max)). False if the metric is missing or empty.
bool group_quantile_ms(const v1::Group& group, const std::string& metric, double q, double* ms);

const char* verdict_name(Verdict v);   // "feasible", ... (for logs and tests)
const char* outcome_name(Outcome o);   // "pass", "condition", "fail"
const char* check_name(Check c);       // "quorum", ...

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_VERDICT_H_
