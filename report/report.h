// The feasibility report (DESIGN.md, "Sizing and the report"): one
// self-contained HTML page (charts as inline SVG; no script, font, style
// sheet or image fetched) and its Markdown twin, in Vietnamese or English,
// built from results files alone.
//
// Inputs. load_inputs() reads each path with metrics::read_results (a folder
// means its results.pb, else results.json). Results that carry a Sizing
// (`cellsim size`) are the sizing; the others are shards of one run and are
// merged exactly (metrics::merge_results). A merge drops SLO results, so after
// a merge they are recomputed from the scenario file the results name, when
// it can be read (else the report says there are none). The same scenario,
// when readable, tells which network profiles each cell type uses, so a
// latency condition can name the link behind it.
//
// Sections, in order, each with a stable id (for tests): summary, verdicts,
// rules, slos, time-to-quorum, latency, servers, sizing, capacity,
// attendance, gaps, basis. Every fixed string comes from report/strings.h.
//
// Thread-safety: pure functions except load_inputs (reads files).
#ifndef CELLSIM_REPORT_REPORT_H_
#define CELLSIM_REPORT_REPORT_H_

#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "report/strings.h"
#include "report/verdict.h"

namespace cellsim::report {

// Section ids, in the order they appear.
inline constexpr const char* kSectionIds[] = {
    "summary", "verdicts", "rules",    "slos",       "time-to-quorum", "latency",
    "servers", "sizing",   "capacity", "attendance", "gaps",           "basis"};

struct ReportInput {
  v1::Results results;             // the run (merged shards); may also hold the sizing
  bool has_run = false;            // false: only sizing results were given
  v1::Sizing sizing;               // from results with a sizing, if any
  bool has_sizing = false;
  std::vector<std::string> sources;  // the paths read
  CellTypeLinks links;             // from the scenario, when readable
};

// Reads and merges the results at `paths` (folders or files). On failure
// returns false with a message naming the folder or file in *why.
bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why);

// The report as HTML (a whole page) and as Markdown.
std::string render_html(const ReportInput& in, Lang lang);
std::string render_markdown(const ReportInput& in, Lang lang);

// One finding's reason in words, and what would change it ("" for a pass).
std::string finding_text(Lang lang, const Finding& f);
std::string condition_text(Lang lang, const Finding& f);

// Writes DIR/report.LANG.html and DIR/report.LANG.md (creating DIR).
bool write_report(const ReportInput& in, Lang lang, const std::string& dir,
                  std::vector<std::string>* written, std::string* why);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_REPORT_H_
