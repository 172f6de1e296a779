// Inline SVG charts for the report: self-contained markup (no script, font
// or image fetched), sized in px, text in the page's own font. Labels are
// escaped here; callers pass plain text.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_REPORT_SVG_H_
#define CELLSIM_REPORT_SVG_H_

#include <string>
#include <utility>
#include <vector>

namespace cellsim::report {

inline constexpr int kChartWidthPx = 720;
inline constexpr int kChartHeightPx = 320;

// A line through points (x, y), in data units. colour < 0: the series'
// index picks it from the palette; dashed: drawn dashed (a limit that moves).
struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;
  int colour = -1;
  bool dashed = false;
};

// A vertical line at x, labelled at the top of the plot (an event: a
// meeting closing, a trace cut short).
struct Marker {
  double x = 0;
  std::string label;
  int colour = -1;  // < 0: grey
};

// A line chart on linear axes from x_min to x_max and 0 to y_max; y_ref > 0
// draws a dashed horizontal line there (a limit). y_percent labels the y
// ticks as percentages of 1.
struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;
  double x_min = 0, x_max = 1, y_max = 1;
  double y_ref = 0;
  bool y_percent = false;
  bool step = false;  // draw as a step function (a CDF)
};
std::string line_chart(const LineChart& chart);

// Horizontal grouped bars: one group per category, one bar per series in it.
// log_scale: the axis is log10 from the smallest power of ten at or below
// the smallest positive value up to the largest value (values <= 0 are not drawn).
struct BarChart {
  std::string title, x_label;
  std::vector<std::string> series_labels;  // legend, one per bar in a group
  std::vector<std::string> categories;
  std::vector<std::vector<double>> values;  // [category][series]
  bool log_scale = false;
  bool percent = false;  // linear axis 0..1 labelled in %
};
std::string bar_chart(const BarChart& chart);

// Escapes &, <, >, " and '.
std::string xml_escape(const std::string& s);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_SVG_H_
