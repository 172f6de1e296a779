// The report's sections (report.h lists them, in order): each add_* writes
// one section's content into the document (report/document.h) from a View
// of the inputs. build_document() writes them all.
//
//   sections.cc    summary, verdicts, rules, SLOs, data gaps, basis (with
//                  the validation); the View; build_document()
//   figures.cc     time to quorum, latency, servers, sizing, capacity
//   attendance.cc  attendance over time
//   transports.cc  the media transports side by side
//
// Used only inside report/.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_REPORT_SECTIONS_H_
#define CELLSIM_REPORT_SECTIONS_H_

#include <string>
#include <vector>

#include "metrics/recorder.h"
#include "report/document.h"
#include "report/report.h"

namespace cellsim::report {

// What every section reads: the inputs, the names completed from the
// results' groups, every seed's run and the verdicts over them.
struct View {
  const ReportInput* in = nullptr;
  Names names;
  std::vector<SeedRun> seeds;  // at least one when in->has_run
  std::vector<CellTypeVerdict> verdicts;  // judged on the seeds pooled (verdict.h)
  bool multi() const { return seeds.size() > 1; }
  std::string type_name(Lang l, const std::string& n) const {
    return names.of(l, metrics::kGroupCellType, n);
  }
  std::string profile_name(Lang l, const std::string& n) const {
    return names.of(l, metrics::kGroupProfile, n);
  }
};

// The View of `in` (which must outlive it): its seeds (or the one run a
// hand-made input or a sizing holds), names and verdicts.
View make_view(const ReportInput& in);

// The whole report as a document.
Doc build_document(const ReportInput& in, Lang l);

// The sections, in order.
void add_summary(Doc& d, const View& v, Lang l);
void add_verdicts(Doc& d, const View& view, Lang l);
// transports.cc: the two media transports side by side (report.h).
void add_transports(Doc& d, const View& view, Lang l);
// The first page's line on the other media transport (when the inputs hold
// runs of both): which verdicts it changes.
void add_glance_transports(Doc& d, const View& view, Lang l);
void add_rules(Doc& d, Lang l);
void add_slos(Doc& d, const View& view, Lang l);
void add_time_to_quorum(Doc& d, const View& view, Lang l);
void add_latency(Doc& d, const View& view, Lang l);
void add_servers(Doc& d, const ReportInput& in, Lang l);
void add_sizing(Doc& d, const View& view, Lang l);
void add_capacity(Doc& d, const View& view, Lang l);
// *shown: whether any attendance trace was drawn.
void add_attendance(Doc& d, const View& view, Lang l, bool* shown);
void add_gaps(Doc& d, const View& view, Lang l, bool attendance_shown);
void add_basis(Doc& d, const View& view, Lang l);

// A round axis maximum at or above v: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_SECTIONS_H_
