// The Prometheus text exposition format (version 0.0.4), read back: what
// cellmeetd's and the live driver's /metrics endpoints serve (prometheus-cpp
// writes it), parsed into samples for `cellsim calibrate` (the server's frame
// counters), bench/live_bench.cc (connections open, heartbeat histogram
// buckets) and the tests that check a scrape. The one parser of that text in
// the tree; nothing here writes it.
//
// The grammar, line by line ('\n' ends a line; blank lines are skipped):
//   # HELP name text          help: `\\` and `\n` escaped in the text
//   # TYPE name kind          counter, gauge, histogram, summary or untyped
//   # anything else           a comment, skipped
//   name[{label="value",...}] value [timestamp_ms]
// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// (each at most once per sample); label values escape `\\`, `\"` and `\n`; a
// trailing comma may end the label set; values are floats (`NaN`, `+Inf`,
// `-Inf` included) and timestamps integers. Spaces or tabs separate the
// parts. A histogram's series are samples like any other: `x_bucket{le="0.5"}`,
// `x_sum`, `x_count` (histogram_buckets() reads the first kind).
//
// A malformed line does not stop the parse: it is refused into `errors` with
// its number and the reason, and the lines after it are still read (a caller
// that wants all or nothing checks errors.empty()).
//
// Thread-safety: the functions are pure; a PrometheusText is a plain value.
#ifndef CELLSIM_METRICS_PROMETHEUS_TEXT_H_
#define CELLSIM_METRICS_PROMETHEUS_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cellsim::metrics {

// One sample line.
struct PrometheusSample {
  std::string name;                                         // "cellmeet_frames_in_total"
  std::vector<std::pair<std::string, std::string>> labels;  // in the line's order, unescaped
  double value = 0;
  bool has_timestamp = false;
  int64_t timestamp_ms = 0;

  // The value of label `key`, or nullptr when the sample has none.
  const std::string* label(std::string_view key) const;
  // The series as the format writes it: name{a="x",b="y"} (values escaped
  // again), or the bare name without labels.
  std::string series() const;
};

// A line the parser refused.
struct PrometheusLineError {
  size_t line = 0;     // 1-based
  std::string reason;  // "label value not closed by \""
  std::string text;    // the line
};

struct PrometheusText {
  std::vector<PrometheusSample> samples;     // in the text's order
  std::map<std::string, std::string> types;  // # TYPE: metric name → kind
  std::map<std::string, std::string> help;   // # HELP: metric name → text (unescaped)
  std::vector<PrometheusLineError> errors;   // refused lines, in order
};

// Parses a whole exposition (see the grammar above).
PrometheusText parse_prometheus_text(std::string_view text);

// Every sample as series() → value; a series written twice keeps its last value.
std::map<std::string, double> values_by_series(const PrometheusText& text);

// The sum of the values of metric `name`'s samples, by the value of their
// label `label` (samples without that label are left out):
// sum_by_label(t, "cellmeet_frames_in_total", "type") → {"hello": 12, ...}.
std::map<std::string, double> sum_by_label(const PrometheusText& text, std::string_view name,
                                           std::string_view label);

// The value of the first sample of `name` without labels; false if none.
bool unlabelled_value(const PrometheusText& text, std::string_view name, double* value);

// A cumulative histogram bucket: its upper bound (le; +Inf is HUGE_VAL) and count.
struct PrometheusBucket {
  double le = 0;
  double count = 0;
};

// The buckets of histogram `histogram` (samples `histogram`_bucket) whose
// label `label` is `value`, sorted by bound (then count). A bucket whose le
// is missing or not a number is left out.
std::vector<PrometheusBucket> histogram_buckets(const PrometheusText& text,
                                                std::string_view histogram, std::string_view label,
                                                std::string_view value);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_PROMETHEUS_TEXT_H_
