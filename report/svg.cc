#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace cellsim::report {
namespace {

// Okabe-Ito colours: distinguishable with colour-blindness.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                    "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

constexpr int kMarginLeft = 70;
constexpr int kMarginRight = 20;
constexpr int kMarginTop = 44;  // title, then the y axis label above the plot
constexpr int kMarginBottom = 50;
constexpr int kLegendRowPx = 18;
constexpr int kTicks = 5;
constexpr int kBarRowPx = 14;
constexpr int kBarGroupGapPx = 10;
constexpr int kBarLabelPx = 170;

// Text width estimates at the charts' 12 px sans-serif, in px per
// character (code point): generous, so that a label never runs past the
// chart's edge (the browser test checks each label's box against the
// viewBox).
constexpr double kCharPx = 7.4;
constexpr double kBoldCharPx = 8.2;
constexpr int kMinBarPlotPx = 360;

const char* colour(size_t i) { return kPalette[i % kPaletteSize]; }

int text_px(const std::string& s, bool bold = false) {
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80 ? 1 : 0;
  return static_cast<int>(std::ceil(static_cast<double>(chars) * (bold ? kBoldCharPx : kCharPx)));
}

// The anchor of tick i of n: the last one ends at its tick, so that it stays
// inside the chart.
const char* tick_anchor(int i, int n) { return i == n ? "end" : "middle"; }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_label(double v, bool percent) {
  char buf[32];
  if (percent) {
    std::snprintf(buf, sizeof buf, "%.0f%%", v * 100);
  } else if (v >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  }
  return buf;
}

void open_svg(std::ostringstream& o, int w, int h, const std::string& title) {
  o << "<svg role=\"img\" width=\"" << w << "\" height=\""
    << h << "\" viewBox=\"0 0 " << w << ' ' << h << "\" font-size=\"12\">"
    << "<title>" << xml_escape(title) << "</title>"
    << "<text x=\"" << w / 2 << "\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>";
}

void legend(std::ostringstream& o, const std::vector<std::string>& labels, int x, int y) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const int row = y + static_cast<int>(i) * kLegendRowPx;
    o << "<rect x=\"" << x << "\" y=\"" << row - 10 << "\" width=\"12\" height=\"12\" fill=\""
      << colour(i) << "\"/><text x=\"" << x + 18 << "\" y=\"" << row << "\">"
      << xml_escape(labels[i]) << "</text>";
  }
}

// A line chart's plot area in px and the data range it spans.
struct Plot {
  int pw = 0, ph = 0;  // width and height
  double x_min = 0, x_max = 1, y_max = 1;
  double px(double x) const {
    return kMarginLeft + std::clamp((x - x_min) / (x_max - x_min), 0.0, 1.0) * pw;
  }
  double py(double y) const { return kMarginTop + ph - std::clamp(y / y_max, 0.0, 1.0) * ph; }
};

const char* series_colour(const LineChart& c, size_t i) {
  return c.series[i].colour >= 0 ? colour(static_cast<size_t>(c.series[i].colour)) : colour(i);
}

const char* marker_colour(const Marker& m) {
  return m.colour >= 0 ? colour(static_cast<size_t>(m.colour)) : "#666";
}

const char* dash(bool dashed) { return dashed ? " stroke-dasharray=\"6 4\"" : ""; }

// The frame, the ticks with their grid lines, and the reference line.
void line_grid(std::ostringstream& o, const LineChart& c, const Plot& p) {
  o << "<rect x=\"" << kMarginLeft << "\" y=\"" << kMarginTop << "\" width=\"" << p.pw
    << "\" height=\"" << p.ph << "\" fill=\"none\" stroke=\"#999\"/>";
  for (int i = 0; i <= kTicks; ++i) {
    const double fx = p.x_min + (p.x_max - p.x_min) * i / kTicks, fy = p.y_max * i / kTicks;
    o << "<text x=\"" << num(p.px(fx)) << "\" y=\"" << kMarginTop + p.ph + 16 << "\" text-anchor=\""
      << tick_anchor(i, kTicks) << "\">" << tick_label(fx, false) << "</text>"
      << "<text x=\"" << kMarginLeft - 6 << "\" y=\"" << num(p.py(fy) + 4)
      << "\" text-anchor=\"end\">" << tick_label(fy, c.y_percent) << "</text>"
      << "<line x1=\"" << kMarginLeft << "\" x2=\"" << kMarginLeft + p.pw << "\" y1=\""
      << num(p.py(fy)) << "\" y2=\"" << num(p.py(fy)) << "\" stroke=\"#eee\"/>";
  }
  if (c.y_ref > 0) {
    o << "<line x1=\"" << kMarginLeft << "\" x2=\"" << kMarginLeft + p.pw << "\" y1=\""
      << num(p.py(c.y_ref)) << "\" y2=\"" << num(p.py(c.y_ref))
      << "\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/>";
  }
}

// Each marker's vertical line, numbered at the top of the plot.
void line_markers(std::ostringstream& o, const LineChart& c, const Plot& p) {
  for (size_t i = 0; i < c.markers.size(); ++i) {
    const Marker& m = c.markers[i];
    const char* mc = marker_colour(m);
    o << "<line x1=\"" << num(p.px(m.x)) << "\" x2=\"" << num(p.px(m.x)) << "\" y1=\""
      << kMarginTop << "\" y2=\"" << kMarginTop + p.ph << "\" stroke=\"" << mc
      << "\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>"
      << "<text x=\"" << num(p.px(m.x) + 3) << "\" y=\""
      << kMarginTop + 12 + 14 * static_cast<int>(i) << "\" fill=\"" << mc << "\">" << i + 1
      << "</text>";
  }
}

// Each series as a polyline (steps when c.step), with a dot per point when
// not a step function (a lone point still shows).
void line_series(std::ostringstream& o, const LineChart& c, const Plot& p) {
  for (size_t i = 0; i < c.series.size(); ++i) {
    o << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << series_colour(c, i) << "\""
      << dash(c.series[i].dashed) << " points=\"";
    double last_y = 0;
    bool first = true;
    for (const auto& [x, y] : c.series[i].points) {
      if (c.step && !first) o << num(p.px(x)) << ',' << num(p.py(last_y)) << ' ';
      o << num(p.px(x)) << ',' << num(p.py(y)) << ' ';
      last_y = y;
      first = false;
    }
    o << "\"/>";
    if (c.step) continue;
    for (const auto& [x, y] : c.series[i].points) {
      o << "<circle cx=\"" << num(p.px(x)) << "\" cy=\"" << num(p.py(y)) << "\" r=\"3\" fill=\""
        << series_colour(c, i) << "\"/>";
    }
  }
}

// The axis labels, then the legend: a line sample per series (dashed as
// drawn), then the markers by number.
void line_legend(std::ostringstream& o, const LineChart& c, const Plot& p) {
  o << "<text x=\"" << kMarginLeft + p.pw / 2 << "\" y=\"" << kMarginTop + p.ph + 36
    << "\" text-anchor=\"middle\">" << xml_escape(c.x_label) << "</text>"
    << "<text x=\"" << kMarginLeft << "\" y=\"" << kMarginTop - 8 << "\">"
    << xml_escape(c.y_label) << "</text>";
  for (size_t i = 0; i < c.series.size(); ++i) {
    const int row = kChartHeightPx + 4 + static_cast<int>(i) * kLegendRowPx;
    o << "<line x1=\"" << kMarginLeft << "\" x2=\"" << kMarginLeft + 24 << "\" y1=\"" << row - 4
      << "\" y2=\"" << row - 4 << "\" stroke-width=\"2\" stroke=\"" << series_colour(c, i) << "\""
      << dash(c.series[i].dashed) << "/><text x=\"" << kMarginLeft + 30 << "\" y=\"" << row
      << "\">" << xml_escape(c.series[i].label) << "</text>";
  }
  for (size_t i = 0; i < c.markers.size(); ++i) {
    const Marker& m = c.markers[i];
    const int row = kChartHeightPx + 4 + static_cast<int>(c.series.size() + i) * kLegendRowPx;
    o << "<text x=\"" << kMarginLeft + 8 << "\" y=\"" << row << "\" fill=\"" << marker_colour(m)
      << "\">" << i + 1 << "</text><text x=\"" << kMarginLeft + 30 << "\" y=\"" << row << "\">"
      << xml_escape(m.label) << "</text>";
  }
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// The width a line chart needs for its title and legend.
int line_chart_width(const LineChart& c) {
  int w = std::max(kChartWidthPx, text_px(c.title, true) + 20);
  for (const Series& s : c.series) w = std::max(w, kMarginLeft + 30 + text_px(s.label) + 10);
  for (const Marker& m : c.markers) w = std::max(w, kMarginLeft + 30 + text_px(m.label) + 10);
  w = std::max(w, kMarginLeft + text_px(c.y_label) + 10);
  return w;
}

std::string line_chart(const LineChart& c) {
  const int legend_h = static_cast<int>(c.series.size() + c.markers.size()) * kLegendRowPx;
  const int w = line_chart_width(c), h = kChartHeightPx + legend_h;
  Plot p;
  p.pw = w - kMarginLeft - kMarginRight;
  p.ph = kChartHeightPx - kMarginTop - kMarginBottom;
  p.x_min = c.x_min;
  p.x_max = c.x_max > p.x_min ? c.x_max : p.x_min + 1;
  p.y_max = c.y_max > 0 ? c.y_max : 1;
  std::ostringstream o;
  open_svg(o, w, h, c.title);
  line_grid(o, c, p);
  line_markers(o, c, p);
  line_series(o, c, p);
  line_legend(o, c, p);
  o << "</svg>";
  return o.str();
}

std::string bar_chart(const BarChart& c) {
  const int series = static_cast<int>(c.series_labels.size());
  const int group_h = std::max(1, series) * kBarRowPx + kBarGroupGapPx;
  const int plot_h = static_cast<int>(c.categories.size()) * group_h;
  const int legend_h = series * kLegendRowPx;
  int label_px = kBarLabelPx;  // the category labels' column, wide enough for the longest
  for (const std::string& cat : c.categories) label_px = std::max(label_px, text_px(cat) + 12);
  int w = std::max(
      {kChartWidthPx, label_px + kMinBarPlotPx + kMarginRight, text_px(c.title, true) + 20});
  for (const std::string& l : c.series_labels) w = std::max(w, label_px + 18 + text_px(l) + 10);
  const int h = kMarginTop + plot_h + kMarginBottom + legend_h;
  const int pw = w - label_px - kMarginRight;
  double lo = 0, hi = c.percent ? 1.0 : 0.0, min_pos = 0;
  for (const auto& row : c.values) {
    for (double v : row) {
      hi = std::max(hi, v);
      if (v > 0 && (min_pos == 0 || v < min_pos)) min_pos = v;
    }
  }
  if (c.log_scale) {
    lo = min_pos > 0 ? std::floor(std::log10(min_pos)) : 0;
    hi = hi > 0 ? std::ceil(std::log10(hi)) : lo + 1;
    if (hi <= lo) hi = lo + 1;
  } else if (hi <= 0) {
    hi = 1;
  }
  auto px = [&](double v) {
    const double t = c.log_scale ? (v > 0 ? (std::log10(v) - lo) / (hi - lo) : 0) : v / hi;
    return label_px + std::clamp(t, 0.0, 1.0) * pw;
  };
  std::ostringstream o;
  open_svg(o, w, h, c.title);
  const int ticks = c.log_scale ? static_cast<int>(hi - lo) : kTicks;
  for (int i = 0; i <= ticks; ++i) {
    const double v = c.log_scale ? std::pow(10.0, lo + i) : hi * i / ticks;
    o << "<line x1=\"" << num(px(v)) << "\" x2=\"" << num(px(v)) << "\" y1=\"" << kMarginTop
      << "\" y2=\"" << kMarginTop + plot_h << "\" stroke=\"#eee\"/>"
      << "<text x=\"" << num(px(v)) << "\" y=\"" << kMarginTop + plot_h + 16 << "\" text-anchor=\""
      << tick_anchor(i, ticks) << "\">" << tick_label(v, c.percent) << "</text>";
  }
  for (size_t g = 0; g < c.categories.size(); ++g) {
    const int gy = kMarginTop + static_cast<int>(g) * group_h;
    o << "<text x=\"" << label_px - 6 << "\" y=\"" << gy + group_h / 2 << "\" text-anchor=\"end\">"
      << xml_escape(c.categories[g]) << "</text>";
    for (size_t s = 0; s < c.values[g].size(); ++s) {
      const double v = c.values[g][s];
      if (v <= 0 && c.log_scale) continue;
      o << "<rect x=\"" << label_px << "\" y=\"" << gy + static_cast<int>(s) * kBarRowPx
        << "\" width=\"" << num(std::max(1.0, px(v) - label_px)) << "\" height=\"" << kBarRowPx - 2
        << "\" fill=\"" << colour(s) << "\"/>";
    }
  }
  o << "<text x=\"" << label_px + pw / 2 << "\" y=\"" << kMarginTop + plot_h + 36
    << "\" text-anchor=\"middle\">" << xml_escape(c.x_label) << "</text>";
  legend(o, c.series_labels, label_px, kMarginTop + plot_h + kMarginBottom + 10);
  o << "</svg>";
  return o.str();
}

}  // namespace cellsim::report
