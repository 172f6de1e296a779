// The feasibility report (DESIGN.md, "Sizing and the report"): one
// self-contained HTML page (charts as inline SVG; no script, font, style
// sheet or image fetched) and its Markdown twin, in Vietnamese or English,
// built from results files alone.
//
// Inputs. load_inputs() reads each path with metrics::read_results (a folder
// means its results.pb, else results.json). Results that carry a Sizing
// (`cellsim size`) are the sizing; results with run.mode "validate" (`cellsim
// validate`) are a validation of the simulator, shown in "what the figures
// rest on" and never taken as a run. The others are runs: those with the
// same seed are shards of one run and are merged exactly
// (metrics::merge_results; attendance selections merged too); different
// seeds are separate runs of the scenario, pooled for the verdicts
// (verdict.h, judge_seeds: one verdict per cell type over every seed, with
// intervals).
// Runs (and a sizing) of different scenarios are refused: one report answers
// for one scenario. A merge drops SLO results, so after a merge they are
// recomputed from the scenario file the results name, when it can be read
// (else the report says there are none). The same scenario, when readable,
// tells which network profiles each cell type uses, so a latency condition
// can name the link behind it, and gives the display names (titles) of cell
// types and profiles when the results' groups carry none.
//
// Several seeds. Verdicts, the SLO table (one observed column per seed) and
// attendance over time (selections merged over the seeds: the worst meeting
// of any seed, the typical one of the pooled sample) cover every seed; time
// to quorum, latency and server figures are the first seed's, as the
// "basis" section says.
//
// Names. Cell types and profiles are shown by their title in the report's
// language (Group.title_vi / title_en, else the scenario's), falling back to
// the identifier.
//
// Two media transports. Runs whose RunInfo.media_transport differs from the
// first run's are the other transport's (at most two transports): they are
// judged apart and shown beside the first in the section "transports" (per
// cell type: the verdict, the meeting's latencies and voice quality, and
// what changes); every other section shows the first runs'.
//
// Sections, in order, each with a stable id (for tests): summary, verdicts,
// transports, rules, slos, time-to-quorum, latency, servers, sizing, capacity,
// attendance, gaps, basis. Every fixed string comes from report/strings.h.
// Sizing separates the link-bound objectives (sizing.h) from those that
// decide cells per node. Attendance over time draws, per cell type, the
// typical meeting (the sample's median by quorate share) and the worst one:
// members present and members needed for quorum against minutes since the
// scheduled start, with close times and cut-short traces marked; without
// traces in the results the section says so. The basis shows any
// validation given (rows and verdict), or says there is none.
//
// Thread-safety: pure functions except load_inputs (reads files).
#ifndef CELLSIM_REPORT_REPORT_H_
#define CELLSIM_REPORT_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "report/strings.h"
#include "report/verdict.h"

namespace cellsim::report {

// Section ids, in the order they appear.
inline constexpr const char* kSectionIds[] = {
    "summary", "verdicts", "transports", "rules",      "slos", "time-to-quorum", "latency",
    "servers", "sizing",   "capacity",   "attendance", "gaps", "basis"};

// Display names of cell types and profiles, by (group kind, identifier).
struct Names {
  struct Title {
    std::string vi, en;
  };
  std::map<std::pair<std::string, std::string>, Title> titles;
  // Records the non-empty titles of one cell type or profile (a later
  // non-empty title replaces an earlier one).
  void add(const std::string& kind, const std::string& name, const std::string& vi,
           const std::string& en);
  // The title in `lang`, else the identifier.
  std::string of(Lang lang, const std::string& kind, const std::string& name) const;
};

// One seed's run: the merged shards of that seed.
struct SeedRun {
  uint64_t seed = 0;
  v1::Results results;
  std::vector<std::string> sources;
};

struct ReportInput {
  v1::Results results;             // the first seed's run (merged shards); may also hold the sizing
  bool has_run = false;            // false: only sizing or validation results were given
  // Every seed's run, in the order first given; seeds[0].results == results.
  // Empty: `results` is the only run (as hand-made inputs set it).
  std::vector<SeedRun> seeds;
  // The runs of the same scenario with the other media transport (`cellsim
  // run --media-transport`), shown beside the first runs' in "transports";
  // empty: only one transport ran. `transport`: the first runs'.
  std::vector<SeedRun> other_seeds;
  std::string transport, other_transport;
  v1::Sizing sizing;               // from results with a sizing, if any
  bool has_sizing = false;
  std::vector<v1::Results> validations;  // results with run.mode "validate"
  std::vector<std::string> sources;  // the paths read
  CellTypeLinks links;             // from the scenario, when readable
  Names names;                     // titles from the scenario, when readable
};

// Reads and merges the results at `paths` (folders or files). On failure
// returns false with a message naming the folder or file in *why.
bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why);

// The report as HTML (a whole page) and as Markdown.
std::string render_html(const ReportInput& in, Lang lang);
std::string render_markdown(const ReportInput& in, Lang lang);

// One finding's reason in words, and what would change it ("" for a pass).
std::string finding_text(Lang lang, const Finding& f);
std::string condition_text(Lang lang, const Finding& f, const Names* names = nullptr);

// Writes DIR/report.LANG.html and DIR/report.LANG.md (creating DIR).
bool write_report(const ReportInput& in, Lang lang, const std::string& dir,
                  std::vector<std::string>* written, std::string* why);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_REPORT_H_
