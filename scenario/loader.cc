#include "scenario/loader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <tuple>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "scenario/text_layout.h"
#include "scenario/validate.h"

namespace cellsim::scenario {
namespace {

namespace io = google::protobuf::io;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// How far back to look for the token a parser error is about (the parser
// reports an unknown field at the token after its name).
constexpr int kLookBackTokens = 4;

// The text between `prefix"` and the next quote in `message`, if any.
bool quoted_after(const std::string& message, std::string_view prefix, std::string* out) {
  const size_t at = message.find(prefix);
  if (at == std::string::npos) return false;
  const size_t begin = at + prefix.size();
  const size_t end = message.find('"', begin);
  if (end == std::string::npos) return false;
  *out = message.substr(begin, end - begin);
  return true;
}

// The field a dotted path ("a[1].b") names, or null.
const FieldDescriptor* field_at(const Descriptor* d, const std::string& path) {
  const FieldDescriptor* f = nullptr;
  std::istringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (d == nullptr) return nullptr;
    f = d->FindFieldByName(part.substr(0, part.find('[')));
    if (f == nullptr) return nullptr;
    d = f->message_type();
  }
  return f;
}

std::string closest_field(const Descriptor* d, const std::string& wrong) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, wrong.size() / 3) + 1;
  for (int i = 0; i < d->field_count(); ++i) {
    const size_t distance = edit_distance(wrong, d->field(i)->name());
    if (distance < best_distance) {
      best_distance = distance;
      best = d->field(i)->name();
    }
  }
  return best;
}

// "unknown field "x" in T; did you mean "y"?"
std::string explain_unknown_field(const std::string& message, const std::string& name) {
  std::string type_name;
  quoted_after(message, "Message type \"", &type_name);
  const Descriptor* d =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type_name);
  const std::string near = d == nullptr ? "" : closest_field(d, name);
  return "unknown field \"" + name + "\" in " + type_name +
         (near.empty() ? "" : "; did you mean \"" + near + "\"?");
}

// "unknown enum value "X" for kind (a cellsim.v1.VoteKind); use one of ..."
std::string explain_unknown_enum(const FieldDescriptor* f, const std::string& name) {
  std::string values;
  for (int i = 1; i < f->enum_type()->value_count(); ++i) {
    values += (i == 1 ? "" : ", ") + f->enum_type()->value(i)->name();
  }
  return "unknown enum value \"" + name + "\" for " + f->name() + " (a " +
         f->enum_type()->full_name() + "); use one of " + values;
}

// Protobuf's message, made to say what to do where it can.
std::string explain(const std::string& message, const std::string& path, const std::string& name) {
  if (message.find("has no field named") != std::string::npos) {
    return explain_unknown_field(message, name);
  }
  const FieldDescriptor* f = field_at(v1::Scenario::descriptor(), path);
  if (message.find("Unknown enumeration value") != std::string::npos && f != nullptr &&
      f->enum_type() != nullptr) {
    return explain_unknown_enum(f, name);
  }
  std::string out = message;
  if (!out.empty() && out.back() == '.') out.pop_back();
  if (out.size() >= 5 && out.compare(out.size() - 5, 5, "got: ") == 0) {
    out += "the end of the file (a '}' missing?)";
  }
  const bool is_unsigned = f != nullptr && (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 ||
                                            f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64);
  if (is_unsigned && out.find("got: -") != std::string::npos) {
    out += "; " + f->name() + " is unsigned and cannot be negative";
  }
  return out;
}

// Collects the parser's errors as LoadErrors with field paths.
class SyntaxErrors : public io::ErrorCollector {
 public:
  SyntaxErrors(const std::string& file, const TextLayout& layout, std::vector<LoadError>* errors)
      : file_(file), layout_(layout), errors_(errors) {}

  void AddError(int line0, io::ColumnNumber column0, const std::string& message) override {
    std::string name;
    const bool about_previous_token =
        quoted_after(message, "has no field named \"", &name) ||
        quoted_after(message, "Unknown enumeration value of \"", &name) ||
        quoted_after(message, "Non-repeated field \"", &name);
    int line = line0;
    int column = column0;
    if (about_previous_token) {
      layout_.find_token_before(line0, column0, name, kLookBackTokens, &line, &column);
    }
    const std::string path = layout_.path_at(line, column);
    const TextPos at = layout_.to_user(line, column);
    errors_->push_back({file_, at.line, at.column, path, explain(message, path, name)});
  }
  // The parser warns only when told to accept unknown fields; it is not.
  void AddWarning(int, io::ColumnNumber, const std::string&) override {}

 private:
  const std::string& file_;
  const TextLayout& layout_;
  std::vector<LoadError>* errors_;
};

bool read_file(const std::string& path, std::string* text, std::string* why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec) {
    *why = "cannot read the scenario file: " + ec.message();
    return false;
  }
  if (fs::is_directory(status)) {
    *why = "cannot read the scenario file: it is a directory";
    return false;
  }
  const auto size = fs::file_size(path, ec);
  if (!ec && size > kMaxScenarioBytes) {
    *why = "the scenario file is " + std::to_string(size) + " bytes; the limit is " +
           std::to_string(kMaxScenarioBytes);
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = std::string("cannot open the scenario file: ") + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *why = "cannot read the scenario file: read error";
    return false;
  }
  *text = std::move(buffer).str();
  return true;
}

void sort_by_position(std::vector<LoadError>* errors) {
  std::stable_sort(errors->begin(), errors->end(), [](const LoadError& a, const LoadError& b) {
    const auto key = [](const LoadError& e) {
      return std::make_tuple(e.line == 0, e.line, e.column);
    };
    return key(a) < key(b);
  });
}

// Parses `text` into `*parsed`, recording where each field was written into
// `*tree`; a syntax error goes to `*errors` and stops the parse.
bool parse_text(std::string_view text, const std::string& file_name, const TextLayout& layout,
                v1::Scenario* parsed, google::protobuf::TextFormat::ParseInfoTree* tree,
                std::vector<LoadError>* errors) {
  google::protobuf::TextFormat::Parser parser;
  SyntaxErrors syntax(file_name, layout, errors);
  parser.RecordErrorsTo(&syntax);
  parser.WriteLocationsTo(tree);
  io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  const size_t errors_before = errors->size();
  if (parser.Parse(&input, parsed)) return true;
  if (errors->size() == errors_before) {
    errors->push_back({file_name, 0, 0, "", "not a cellsim.v1.Scenario in text format"});
  }
  return false;
}

}  // namespace

std::string LoadError::to_string() const {
  std::string where = file;
  if (line > 0) {
    where += (where.empty() ? "" : ":") + std::to_string(line);
    if (column > 0) where += ":" + std::to_string(column);
  }
  std::string out;
  for (const std::string* part : {&std::as_const(where), &field, &message}) {
    if (part->empty()) continue;
    out += (out.empty() ? "" : ": ") + *part;
  }
  return out;
}

bool parse_scenario(std::string_view text, const std::string& file_name, v1::Scenario* out,
                    std::vector<LoadError>* errors) {
  if (text.size() > kMaxScenarioBytes) {
    errors->push_back({file_name, 0, 0, "",
                       "the scenario is " + std::to_string(text.size()) +
                           " bytes; the limit is " + std::to_string(kMaxScenarioBytes)});
    return false;
  }
  const TextLayout layout(text, v1::Scenario::descriptor());
  google::protobuf::TextFormat::ParseInfoTree tree;
  v1::Scenario parsed;
  if (!parse_text(text, file_name, layout, &parsed, &tree, errors)) return false;
  apply_defaults_unless_written(
      &parsed, [&layout](const std::string& path) { return layout.find(path).line > 0; });
  std::vector<LoadError> found;
  validate(parsed, SourceMap{file_name, &tree, &layout}, &found);
  if (!found.empty()) {
    sort_by_position(&found);
    errors->insert(errors->end(), found.begin(), found.end());
    return false;
  }
  *out = std::move(parsed);
  return true;
}

bool load_scenario(const std::string& path, v1::Scenario* out, std::vector<LoadError>* errors) {
  std::string text;
  std::string why;
  if (!read_file(path, &text, &why)) {
    errors->push_back({path, 0, 0, "", why});
    return false;
  }
  return parse_scenario(text, path, out, errors);
}

void apply_defaults(v1::Scenario* s) { apply_defaults_unless_written(s, nullptr); }

bool validate_scenario(const v1::Scenario& s, std::vector<LoadError>* errors) {
  const size_t before = errors->size();
  validate(s, SourceMap{}, errors);
  return errors->size() == before;
}

QuorumRational engine_quorum(double fraction) {
  constexpr uint32_t kThousandths = 1000;
  if (!(fraction > 0)) fraction = 1.0 / kThousandths;  // NaN too
  fraction = std::min(fraction, 1.0);
  // The smallest denominator that represents it (so in lowest terms).
  for (uint32_t den = 1; den <= kQuorumMaxExactDenominator; ++den) {
    const double num = std::round(fraction * den);
    if (num >= 1 && std::fabs(num / den - fraction) <= kQuorumExactTolerance) {
      return {static_cast<uint32_t>(num), den};
    }
  }
  // Not a simple fraction: round up to thousandths, never lowering the quorum.
  const auto num = std::max<uint32_t>(1, static_cast<uint32_t>(std::ceil(fraction * kThousandths)));
  const uint32_t g = std::gcd(num, kThousandths);
  return {num / g, kThousandths / g};
}

}  // namespace cellsim::scenario
