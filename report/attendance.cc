// The report's attendance over time (sections.h): per cell type, the
// typical meeting and the worst one, members present and needed for quorum
// against minutes since the scheduled start, pooled over every seed.
#include <algorithm>
#include <array>
#include <cmath>

#include "metrics/attendance.h"
#include "report/sections.h"
#include "report/svg.h"
#include "report/words.h"

namespace cellsim::report {
namespace {

constexpr double kMsPerMinute = 60e3;
constexpr double kAttendanceAxisStepMin = 30;  // the attendance x axis ends on a multiple of this

// The cell type's selection over every seed: the worst meeting of any seed,
// the pooled bottom-k sample (metrics/attendance.h).
std::vector<v1::AttendanceSamples> pooled_attendance(const View& view) {
  std::vector<v1::AttendanceSamples> out;
  for (const SeedRun& s : view.seeds) {
    for (const v1::AttendanceSamples& a : s.results.attendance()) {
      auto it = std::find_if(out.begin(), out.end(), [&](const v1::AttendanceSamples& x) {
        return x.cell_type() == a.cell_type();
      });
      if (it == out.end()) {
        out.push_back(a);
      } else {
        metrics::merge_attendance(a, &*it);
      }
    }
  }
  return out;
}

// The seed a trace came from (its sample key names it), for labels.
uint64_t trace_seed(const View& view, const v1::AttendanceTrace& tr) {
  for (const SeedRun& s : view.seeds) {
    if (metrics::attendance_sample_key(s.results.run().seed(), tr.cell_id()) == tr.sample_key()) {
      return s.results.run().seed();
    }
  }
  return view.seeds.empty() ? 0 : view.seeds.front().results.run().seed();
}

std::string trace_label(const View& view, Lang l, const v1::AttendanceTrace& tr) {
  if (!view.multi()) return format(l, Msg::kCellLabel, {std::to_string(tr.cell_id())});
  return format(l, Msg::kCellSeedLabel,
                {std::to_string(tr.cell_id()), std::to_string(trace_seed(view, tr))});
}

double minutes(int64_t ms) { return static_cast<double>(ms) / kMsPerMinute; }

// The trace's last time: its close, else its last change.
int64_t trace_end_ms(const v1::AttendanceTrace& tr) {
  int64_t end = tr.t_ms().empty() ? 0 : tr.t_ms(tr.t_ms_size() - 1);
  return std::max(end, tr.closed_ms());
}

std::string meeting_summary(const View& view, Lang l, const v1::AttendanceTrace& tr) {
  return format(l, Msg::kMeetingSummary,
                {trace_label(view, l, tr), fmt_share(l, tr.quorate_ppm() / 1e6),
                 fmt_int(l, tr.quorum_losses()),
                 t(l, tr.quorate_by_deadline() ? Msg::kQuorateByDeadline
                                               : Msg::kNotQuorateByDeadline),
                 tr.closed_ms() > 0
                     ? format(l, Msg::kClosedAt, {fmt_fixed(l, minutes(tr.closed_ms()), 1)})
                     : t(l, Msg::kNeverClosed)});
}

// Adds the present and required step lines of one meeting to the chart.
void add_trace(LineChart* c, const View& view, Lang l, const v1::AttendanceTrace& tr, Msg which,
               int colour, double* y_max, double* x_hi) {
  Series present, required;
  const std::string who = t(l, which);
  present.label = format(l, Msg::kSeriesPresent, {who, trace_label(view, l, tr)});
  required.label = format(l, Msg::kSeriesRequired, {who});
  present.colour = required.colour = colour;
  required.dashed = true;
  const int n = std::min({tr.t_ms_size(), tr.present_size(), tr.required_size()});
  for (int i = 0; i < n; ++i) {
    const double x = minutes(tr.t_ms(i));
    present.points.push_back({x, static_cast<double>(tr.present(i))});
    required.points.push_back({x, static_cast<double>(tr.required(i))});
    *y_max = std::max({*y_max, static_cast<double>(tr.present(i)),
                       static_cast<double>(tr.required(i))});
  }
  *y_max = std::max(*y_max, static_cast<double>(tr.members()));
  const double end = minutes(trace_end_ms(tr));
  *x_hi = std::max(*x_hi, end);
  if (n > 0 && end > present.points.back().first) {  // hold the last level to the end
    present.points.push_back({end, present.points.back().second});
    required.points.push_back({end, required.points.back().second});
  }
  c->series.push_back(present);
  c->series.push_back(required);
  if (tr.closed_ms() > 0) {
    c->markers.push_back(
        {minutes(tr.closed_ms()),
         format(l, Msg::kMarkerClosed, {who, fmt_fixed(l, minutes(tr.closed_ms()), 1)}), colour});
  }
  if (tr.truncated() && n > 0) {
    const double cut = minutes(tr.t_ms(n - 1));
    c->markers.push_back(
        {cut, format(l, Msg::kMarkerTruncated, {who, fmt_fixed(l, cut, 1)}), colour});
  }
}

constexpr int kTypicalColour = 0;  // blue
constexpr int kWorstColour = 3;    // vermilion

// A meeting drawn for a cell type; trace == nullptr when there is none.
struct Drawn {
  const v1::AttendanceTrace* trace = nullptr;
  Msg which = Msg::kTypicalMeeting;  // or kWorstMeeting
  int colour = kTypicalColour;
};
using Picks = std::array<Drawn, 2>;  // the typical meeting, then the worst

Picks picks_of(const v1::AttendanceSamples& a) {
  return {{{metrics::typical_attendance(a), Msg::kTypicalMeeting, kTypicalColour},
           {a.has_worst() ? &a.worst() : nullptr, Msg::kWorstMeeting, kWorstColour}}};
}

std::string summary_or_none(const View& view, Lang l, const v1::AttendanceTrace* tr) {
  return tr != nullptr ? meeting_summary(view, l, *tr) : t(l, Msg::kNoTrace);
}

// The pooled selections in the order of the verdicts, then any type only the
// traces name.
std::vector<const v1::AttendanceSamples*> in_verdict_order(
    const View& view, const std::vector<v1::AttendanceSamples>& pooled) {
  std::vector<const v1::AttendanceSamples*> order;
  for (const auto& c : view.verdicts) {
    for (const auto& a : pooled) {
      if (a.cell_type() == c.cell_type) order.push_back(&a);
    }
  }
  for (const auto& a : pooled) {
    if (std::find(order.begin(), order.end(), &a) == order.end()) order.push_back(&a);
  }
  return order;
}

// One cell type's chart (its typical and worst meetings), and the chart in
// words for Markdown, which has no chart.
void add_attendance_chart(Doc& d, const View& view, Lang l, const v1::AttendanceSamples& a) {
  const Picks picks = picks_of(a);
  if (picks[0].trace == nullptr && picks[1].trace == nullptr) return;
  LineChart chart;
  chart.title = format(l, Msg::kAttendanceChartTitle, {view.type_name(l, a.cell_type())});
  chart.x_label = t(l, Msg::kAxisMinutes);
  chart.y_label = t(l, Msg::kAxisMembers);
  chart.step = true;
  double y_max = 1, x_hi = 0;
  for (const Drawn& m : picks) {
    if (m.trace) add_trace(&chart, view, l, *m.trace, m.which, m.colour, &y_max, &x_hi);
  }
  // From the scheduled start (earlier joins drawn at 0) to the next half
  // hour after the last close, so the ticks fall on round minutes.
  chart.x_max = kAttendanceAxisStepMin * std::max(1.0, std::ceil(x_hi / kAttendanceAxisStepMin));
  chart.y_max = nice_ceiling(y_max);
  para(d, chart.title, Block::Kind::kSubsection);
  svg(d, line_chart(chart));
  std::vector<std::string> items;
  for (const Drawn& m : picks) {
    if (m.trace) items.push_back(t(l, m.which) + " — " + meeting_summary(view, l, *m.trace));
  }
  for (const Drawn& m : picks) {
    if (m.trace == nullptr || !m.trace->truncated() || m.trace->t_ms().empty()) continue;
    const double cut = minutes(m.trace->t_ms(m.trace->t_ms_size() - 1));
    items.push_back(format(l, Msg::kMarkerTruncated, {t(l, m.which), fmt_fixed(l, cut, 1)}));
  }
  list(d, items);
}

}  // namespace

void add_attendance(Doc& d, const View& view, Lang l, bool* shown) {
  section(d, "attendance", t(l, Msg::kSecAttendance));
  const std::vector<v1::AttendanceSamples> pooled = pooled_attendance(view);
  *shown = false;
  for (const auto& a : pooled) *shown = *shown || a.has_worst() || !a.sample().empty();
  if (!*shown) {
    para(d, t(l, Msg::kAttendanceAbsent));
    end_section(d);
    return;
  }
  para(d, t(l, Msg::kAttendanceNote));
  Block tb = table({t(l, Msg::kColCellType), t(l, Msg::kColMeetingsTraced),
                    t(l, Msg::kColTypicalMeeting), t(l, Msg::kColWorstMeeting)});
  const std::vector<const v1::AttendanceSamples*> order = in_verdict_order(view, pooled);
  for (const v1::AttendanceSamples* a : order) {
    const Picks picks = picks_of(*a);
    tb.rows.push_back({view.type_name(l, a->cell_type()), fmt_int(l, a->meetings_seen()),
                       summary_or_none(view, l, picks[0].trace),
                       summary_or_none(view, l, picks[1].trace)});
  }
  d.push_back(tb);
  for (const v1::AttendanceSamples* a : order) add_attendance_chart(d, view, l, *a);
  end_section(d);
}

}  // namespace cellsim::report
