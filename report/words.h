// The report's words for figures and findings (report/strings.h holds the
// fixed strings): metric, quantile, verdict, outcome and statistic labels, an
// SLO's description in words, and a value as a share or in ms. The public
// finding_text(), condition_text() and Names (report.h) are defined with
// them (words.cc).
//
// Used only inside report/.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_REPORT_WORDS_H_
#define CELLSIM_REPORT_WORDS_H_

#include <string>

#include "report/report.h"
#include "report/strings.h"
#include "report/verdict.h"

namespace cellsim::report {

// text(l, m) as a string.
std::string t(Lang l, Msg m);

// A metric's name in words ("join_latency" -> "joining"), else the name.
std::string metric_label(Lang l, const std::string& name);

// 0.99 -> "99", 0.999 -> "99.9" (vi: "99,9").
std::string quantile_label(Lang l, double q);

std::string verdict_label(Lang l, Verdict v);
const char* verdict_class(Verdict v);  // the HTML row class: "ok", "cond", "fail"
std::string outcome_label(Lang l, Outcome o);
// A check's short name: "Quorum attainment", "time to join the meeting, p99".
std::string check_label(Lang l, const Finding& f);

// `v` as a share ("97.4%") when `share`, else in ms ("1,234 ms").
std::string share_or_ms(Lang l, bool share, double v);

// A validation row's statistic: "share", or "pNN" as a quantile.
std::string stat_label(Lang l, const std::string& stat);

// An SLO's description (metrics/slo.h) in words, with its problem if any;
// sets *quorum when the description parses (else returns it as is). Cell
// types are named from `names` when given.
std::string slo_label(Lang l, const std::string& description, bool* quorum,
                      const Names* names = nullptr);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_WORDS_H_
