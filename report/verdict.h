// The feasibility verdict per cell type (DESIGN.md, "Sizing and the report"):
// can a kind of special cell hold a *valid* meeting over its real links, and
// how sure are we?
//
// The verdict is judged once, on every seed's run pooled (confidence.h:
// meetings and votes added, latency batches of whole cells kept per seed),
// never seed by seed: "the worst seed decides" made a verdict more
// pessimistic the more seeds were run. Each decisive figure gets a 95%
// interval (confidence.h says which and why), and a check
//
//   passes      when the pessimistic end of its interval meets the target,
//   fails       when the optimistic end misses it,
//   is undecided otherwise (or when the figure or its interval is missing).
//
//   check               figure and interval                   target
//   meetings            meetings held (no interval)           at least one
//   tally integrity     ballots acked <= counted (exact)      any acknowledged ballot not
//                                                             counted fails (more counted:
//                                                             acks lost with the link)
//   quorum attainment   meetings quorate by the deadline in   the cell type's quorum SLO,
//                       the engine's state / meetings (the    else the all-cells one, else
//                       chair's view beside it), Wilson
//                                                             kDefaultMinQuorumAttainment
//   valid votes         valid / held, Wilson over votes       kValidVoteTarget
//   complete minutes    complete / closed, Wilson over        kMinutesTarget
//                       meetings
//   latency SLO of      the SLO's quantile, cluster           observed <= the SLO's max_ms
//   this cell type      bootstrap over whole-cell batches
//   latency SLO of all  this type's quantile, the same        reported, never decisive (a
//   cells                                                     scenario-wide target is not
//                                                             this cell type's own)
//   voice quality       speech time heard at MOS >= the       VoiceStats.target_share
//                       threshold / speech time, cluster      (VoiceSpec.min_share); only
//                       bootstrap of the ratio over whole-    where the type heard speech
//                       cell batches (ratio_interval)
//
// Verdict: *not feasible* if a decisive check fails; else *not yet decided*
// if one is undecided; else *feasible*. The decisive finding (the one figure
// that decides it): for not feasible the check that misses by most
// (relative to its target); for not yet decided the one that needs the most
// further data; for feasible the one with the least margin. What would
// change it: a failing quorum names the meetings short (shortfall), a
// failing latency the slowest of the type's profiles (worst_profile); an
// undecided check the further seeds that would likely decide it
// (confidence.h, more_needed), or that more runs will not (the estimate
// sits on its target). Votes and minutes checks with nothing to count pass
// vacuously. An SLO whose description carries a problem (": no samples")
// is undecided. Votes are the trials of the valid-votes interval although a
// meeting's votes are correlated (a lost quorum invalidates each later one):
// the interval is then a little narrow, which the 95% target's slack covers.
//
// SLO descriptions are parsed (parse_slo) in the format metrics/slo.cc
// writes; they carry the targets.
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
#include "report/confidence.h"  // group_quantile_ms, the intervals

namespace cellsim::report {

namespace v1 = ::cellsim::v1;

// Targets of the verdict rules (shares in [0, 1]).
inline constexpr double kDefaultMinQuorumAttainment = 0.90;  // when no quorum SLO names the type
inline constexpr double kValidVoteTarget = 0.95;
inline constexpr double kMinutesTarget = 0.95;
inline constexpr double kMaxMoreSeeds = 1e6;  // more_seeds is capped here

enum class Verdict { kFeasible, kNotYetDecided, kNotFeasible };
enum class Outcome { kPass, kUndecided, kFail };

enum class Check {
  kMeetings,
  kTally,
  kQuorum,
  kValidVotes,
  kMinutes,
  kLatencySlo,          // an SLO of this cell type
  kLatencySloAllCells,  // an all-cells SLO on this cell type's samples
  kVoice,               // share of speech heard at the MOS threshold
};

// One check and the figures that decide it.
struct Finding {
  Check check = Check::kMeetings;
  Outcome outcome = Outcome::kPass;
  double observed =
      0;  // shares for quorum/votes/minutes/voice, ms for latency: the pooled estimate
  double lo = 0, hi = 0;  // its 95% interval (= observed for meetings and tally)
  bool has_interval = false;  // false: a share with nothing to count, or too few batches
  double limit = 0;     // the target (for latency, the SLO's max_ms)
  std::string metric;   // latency checks: the metric name
  double quantile = 0;  // latency checks
  bool missing = false; // the figure could not be computed (no samples, ...)
  bool decides = true;  // false: an all-cells SLO, reported only
  uint64_t count = 0;   // quorum: meetings; votes: held; minutes: closed; tally: acked;
                        // latency and voice: batches
  uint64_t shortfall = 0;  // quorum: more meetings quorate needed to reach the target
  // Undecided: further seeds that would likely decide it (at the present
  // estimate and the pooled seeds' size; 1 when there are too few batches
  // for an interval); 0 when unknown (no figure) or when more runs would
  // not decide it (never_decides: the estimate sits on its target).
  uint64_t more_seeds = 0;
  bool never_decides = false;
  std::string worst_profile;  // latency: the slowest of the type's profiles, if known
  // Quorum: the attainment the chair saw (it heard quorum by the deadline),
  // beside the engine's state that `observed` is; < 0 when the results do
  // not say (written before it was recorded).
  double chair_view = -1;
  // Voice: the MOS threshold, and the 10th percentile of MOS and the mean
  // mouth-to-ear delay (ms) beside the share (no interval); the delay's
  // ceiling: the E-model's MOS at that delay with no loss and a perfect
  // codec (Ie = 0), 0 when nothing was heard — below the threshold, the
  // delay alone decides.
  double mos_threshold = 0, mos_p10 = 0, mouth_to_ear_ms = 0, mos_delay_ceiling = 0;
  // Voice went in-band: its mouth-to-ear delay includes TCP's repairs, not
  // only the path's.
  bool voice_in_band = false;
};

struct CellTypeVerdict {
  std::string cell_type;
  Verdict verdict = Verdict::kFeasible;
  uint64_t cells = 0, members = 0, meetings = 0;  // pooled over the seeds
  uint64_t seeds = 1;                             // runs pooled
  std::vector<Finding> findings;  // every check, in Check order (latency SLOs in SLO order)
  int decisive = -1;              // index in findings of the one figure that decides it
  // Not yet decided: the further seeds that would likely decide every
  // undecided check (the largest of theirs; 0: unknown), and whether some
  // check sits on its target, where more runs would not decide it.
  uint64_t more_seeds = 0;
  bool never_decides = false;
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

// Judges every cell_type group of `pooled` (one run, or several pooled with
// pool_seeds; `seeds` says how many), in the results' order. Targets come
// from pooled.slos.
std::vector<CellTypeVerdict> judge(const v1::Results& pooled, const CellTypeLinks& links = {},
                                   uint64_t seeds = 1);

// Pools the runs (confidence.h, pool_seeds; the SLO descriptions of the
// first run that has any) and judges them. REQUIRES: runs non-empty and
// poolable (false otherwise, with *why).
bool judge_seeds(const std::vector<const v1::Results*>& runs, const CellTypeLinks& links,
                 std::vector<CellTypeVerdict>* out, std::string* why);

const char* verdict_name(Verdict v);   // "feasible", "not yet decided", "not feasible"
const char* outcome_name(Outcome o);   // "pass", "undecided", "fail"
const char* check_name(Check c);       // "quorum", ...

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_VERDICT_H_
