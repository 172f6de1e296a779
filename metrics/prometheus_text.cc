#include "metrics/prometheus_text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "proto/assert.h"

namespace cellsim::metrics {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A read position in one line. Every step either advances or reports why not.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : s_(line) {}

  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  // Skips spaces and tabs; the count skipped.
  size_t skip_blanks() {
    const size_t from = i_;
    while (!done() && is_blank(s_[i_])) ++i_;
    return i_ - from;
  }
  // [a-zA-Z_(:)][a-zA-Z0-9_(:)]*; "" when none starts here.
  std::string_view name(bool colons) {
    const size_t from = i_;
    auto first = [&](char c) { return is_alpha(c) || (colons && c == ':'); };
    if (done() || !first(s_[i_])) return {};
    while (!done() && (first(s_[i_]) || is_digit(s_[i_]))) ++i_;
    return s_.substr(from, i_ - from);
  }
  // Up to the next blank or the end.
  std::string_view token() {
    const size_t from = i_;
    while (!done() && !is_blank(s_[i_])) ++i_;
    return s_.substr(from, i_ - from);
  }
  std::string_view rest() const { return s_.substr(std::min(i_, s_.size())); }
  // A quoted label value after its opening quote, unescaped into *out.
  bool quoted(std::string* out, std::string* why);

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool LineReader::quoted(std::string* out, std::string* why) {
  while (!done()) {
    const char c = s_[i_++];
    if (c == '"') return true;
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    const char e = peek();
    if (e != '\\' && e != '"' && e != 'n') {
      *why = done() ? "label value ends in a lone backslash"
                    : std::string("unknown escape \\") + e + " in a label value";
      return false;
    }
    out->push_back(e == 'n' ? '\n' : e);
    ++i_;
  }
  *why = "label value not closed by \"";
  return false;
}

// A float as the format writes it: strtod's syntax, the whole token.
bool parse_float(std::string_view token, double* v) {
  if (token.empty()) return false;
  const std::string s(token);
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);  // an overflow is ±HUGE_VAL, as Go's ParseFloat gives ±Inf
  return end == s.c_str() + s.size();
}

// A bucket's bound: "+Inf" or a float.
bool parse_le(std::string_view le, double* bound) {
  if (le == "+Inf") {
    *bound = HUGE_VAL;
    return true;
  }
  return parse_float(le, bound);
}

bool parse_int64(std::string_view token, int64_t* v) {
  if (token.empty()) return false;
  const std::string s(token);
  char* end = nullptr;
  errno = 0;
  *v = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() + s.size() && errno == 0;
}

// `{label="value",...}` after the '{'.
bool parse_labels(LineReader* r, PrometheusSample* sample, std::string* why) {
  for (;;) {
    r->skip_blanks();
    if (r->take('}')) return true;
    const std::string label(r->name(/*colons=*/false));
    if (label.empty()) {
      *why = r->done() ? "label set not closed by }" : "bad label name";
      return false;
    }
    if (sample->label(label) != nullptr) {
      *why = "label " + label + " given twice";
      return false;
    }
    r->skip_blanks();
    if (!r->take('=')) {
      *why = "label " + label + " has no =";
      return false;
    }
    r->skip_blanks();
    if (!r->take('"')) {
      *why = "label " + label + "'s value is not quoted";
      return false;
    }
    std::string value;
    if (!r->quoted(&value, why)) return false;
    sample->labels.emplace_back(label, std::move(value));
    r->skip_blanks();
    if (!r->take(',') && r->peek() != '}') {
      *why = "labels not separated by ,";
      return false;
    }
  }
}

// A sample line: name[{labels}] value [timestamp].
bool parse_sample(std::string_view line, PrometheusSample* sample, std::string* why) {
  LineReader r(line);
  r.skip_blanks();
  sample->name = std::string(r.name(/*colons=*/true));
  if (sample->name.empty()) {
    *why = "no metric name";
    return false;
  }
  if (r.take('{') && !parse_labels(&r, sample, why)) return false;
  if (r.skip_blanks() == 0 || r.done()) {
    *why = r.done() ? "no value" : "no space before the value";
    return false;
  }
  if (!parse_float(r.token(), &sample->value)) {
    *why = "value is not a number";
    return false;
  }
  r.skip_blanks();
  if (!r.done()) {
    sample->has_timestamp = true;
    if (!parse_int64(r.token(), &sample->timestamp_ms)) {
      *why = "timestamp is not an integer";
      return false;
    }
    r.skip_blanks();
    if (!r.done()) {
      *why = "text after the timestamp";
      return false;
    }
  }
  return true;
}

std::string unescape_help(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
      out.push_back(s[++i] == 'n' ? '\n' : '\\');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool known_type(std::string_view kind) {
  return kind == "counter" || kind == "gauge" || kind == "histogram" || kind == "summary" ||
         kind == "untyped";
}

// A line starting with '#': HELP and TYPE are read, other comments skipped.
bool parse_comment(std::string_view line, PrometheusText* out, std::string* why) {
  LineReader r(line);
  r.skip_blanks();
  r.take('#');
  if (r.skip_blanks() == 0) return true;
  const std::string_view keyword = r.token();
  if (keyword != "HELP" && keyword != "TYPE") return true;
  if (r.skip_blanks() == 0) {
    *why = std::string("# ") + std::string(keyword) + " without a metric name";
    return false;
  }
  const std::string name(r.name(/*colons=*/true));
  if (name.empty() || (!r.done() && !is_blank(r.peek()))) {
    *why = std::string("# ") + std::string(keyword) + ": bad metric name";
    return false;
  }
  r.skip_blanks();
  if (keyword == "HELP") {
    out->help[name] = unescape_help(r.rest());
    return true;
  }
  const std::string kind(r.token());
  r.skip_blanks();
  if (!known_type(kind)) {
    *why = "# TYPE " + name + ": unknown type \"" + kind + "\"";
    return false;
  }
  if (!r.done()) {
    *why = "# TYPE " + name + ": text after the type";
    return false;
  }
  out->types[name] = kind;
  return true;
}

void escape_label_value(std::string_view v, std::string* out) {
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

bool blank_line(std::string_view line) { return std::all_of(line.begin(), line.end(), is_blank); }

// One line into *out: a sample, a HELP or TYPE, or refused with the reason.
void parse_line(std::string_view line, size_t number, PrometheusText* out) {
  if (blank_line(line)) return;
  std::string why;
  const size_t first = line.find_first_not_of(" \t");
  if (line[first] == '#') {
    if (!parse_comment(line, out, &why)) out->errors.push_back({number, why, std::string(line)});
    return;
  }
  PrometheusSample sample;
  if (parse_sample(line, &sample, &why)) {
    out->samples.push_back(std::move(sample));
  } else {
    out->errors.push_back({number, why, std::string(line)});
  }
}

}  // namespace

const std::string* PrometheusSample::label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string PrometheusSample::series() const {
  std::string out = name;
  if (labels.empty()) return out;
  out.push_back('{');
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += labels[i].first;
    out += "=\"";
    escape_label_value(labels[i].second, &out);
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

PrometheusText parse_prometheus_text(std::string_view text) {
  PrometheusText out;
  size_t number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    parse_line(text.substr(pos, end - pos), ++number, &out);
    pos = end + 1;
  }
  return out;
}

std::map<std::string, double> values_by_series(const PrometheusText& text) {
  std::map<std::string, double> out;
  for (const auto& s : text.samples) out[s.series()] = s.value;
  return out;
}

std::map<std::string, double> sum_by_label(const PrometheusText& text, std::string_view name,
                                           std::string_view label) {
  std::map<std::string, double> out;
  for (const auto& s : text.samples) {
    if (s.name != name) continue;
    if (const std::string* v = s.label(label)) out[*v] += s.value;
  }
  return out;
}

bool unlabelled_value(const PrometheusText& text, std::string_view name, double* value) {
  CELLSIM_ASSERT(value != nullptr);
  for (const auto& s : text.samples) {
    if (s.name == name && s.labels.empty()) {
      *value = s.value;
      return true;
    }
  }
  return false;
}

std::vector<PrometheusBucket> histogram_buckets(const PrometheusText& text,
                                                std::string_view histogram, std::string_view label,
                                                std::string_view value) {
  const std::string bucket = std::string(histogram) + "_bucket";
  std::vector<PrometheusBucket> out;
  for (const auto& s : text.samples) {
    if (s.name != bucket) continue;
    const std::string* v = s.label(label);
    const std::string* le = s.label("le");
    double bound = 0;
    if (v != nullptr && *v == value && le != nullptr && parse_le(*le, &bound)) {
      out.push_back({bound, s.value});
    }
  }
  std::sort(out.begin(), out.end(), [](const PrometheusBucket& a, const PrometheusBucket& b) {
    return a.le != b.le ? a.le < b.le : a.count < b.count;
  });
  return out;
}

}  // namespace cellsim::metrics
