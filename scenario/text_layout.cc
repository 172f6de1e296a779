#include "scenario/text_layout.h"

#include <algorithm>
#include <tuple>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace cellsim::scenario {
namespace {

namespace io = google::protobuf::io;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Deeper nesting is walked flat (the parser's own limit is 100).
constexpr int kMaxDepth = 100;
constexpr int kTabWidth = 8;

// The tokenizer's own errors are the parser's to report.
class IgnoreErrors : public io::ErrorCollector {
 public:
  void AddError(int, io::ColumnNumber, const std::string&) override {}
};

bool before(int line_a, int col_a, int line_b, int col_b) {
  return std::tie(line_a, col_a) < std::tie(line_b, col_b);
}

}  // namespace

std::string join_path(const std::string& parent, std::string_view field, int index) {
  std::string out = parent;
  if (!out.empty()) out += '.';
  out += field;
  if (index >= 0) out += "[" + std::to_string(index) + "]";
  return out;
}

// Recursive descent over the tokens, tagging each with the field path being
// read and marking where each field value starts.
class TextLayout::Walker {
 public:
  explicit Walker(TextLayout* layout) : l_(*layout) {}

  void run(const Descriptor* root) {
    message(root, "", "", 0);
    while (!at_end()) take("");
  }
  std::string eof_path() const { return eof_path_; }

 private:
  using Counts = std::unordered_map<std::string, int>;

  bool at_end() const { return i_ >= l_.tokens_.size(); }
  const Token& cur() const { return l_.tokens_[i_]; }
  bool is(std::string_view symbol) const {
    return !at_end() && cur().type == io::Tokenizer::TYPE_SYMBOL && cur().text == symbol;
  }
  void take(const std::string& path) { l_.tokens_[i_++].path = path; }
  void mark(const std::string& path) {
    l_.marks_.emplace(path, l_.to_user(cur().line0, cur().column0));
  }

  // Fields until `closer` ("" at the top level: until the end).
  void message(const Descriptor* d, const std::string& path, std::string_view closer, int depth) {
    Counts counts;
    while (!at_end()) {
      if (!closer.empty() && is(closer)) return take(path);
      if (depth < kMaxDepth && cur().type == io::Tokenizer::TYPE_IDENTIFIER) {
        field(d, path, &counts, depth);
      } else if (depth < kMaxDepth && is("[")) {
        extension(path, depth);
      } else {
        take(path);  // a separator, or something the parser refuses
      }
    }
    if (!closer.empty() && eof_path_.empty()) eof_path_ = path;  // innermost unclosed
  }

  // name [:] value, or name [:] [ values ].
  void field(const Descriptor* d, const std::string& path, Counts* counts, int depth) {
    const FieldDescriptor* f = d == nullptr ? nullptr : d->FindFieldByName(cur().text);
    const std::string name = cur().text;
    const bool repeated = f != nullptr && f->is_repeated();
    int& count = (*counts)[name];
    const std::string base = join_path(path, name, -1);
    const std::string one = repeated ? join_path(path, name, count) : base;
    const bool is_list = (i_ + 1 < l_.tokens_.size() && l_.tokens_[i_ + 1].text == "[") ||
                         (i_ + 2 < l_.tokens_.size() && l_.tokens_[i_ + 1].text == ":" &&
                          l_.tokens_[i_ + 2].text == "[");
    mark(is_list ? base : one);
    take(is_list ? base : one);
    if (is(":")) take(is_list ? base : one);
    if (is_list) return list(f, path, name, &count, depth);
    if (repeated) ++count;
    value(f, one, depth);
  }

  // [ v, v, ... ]: each element is its own index.
  void list(const FieldDescriptor* f, const std::string& path, const std::string& name,
            int* count, int depth) {
    const std::string base = join_path(path, name, -1);
    take(base);  // '['
    while (!at_end() && !is("]")) {
      if (is(",")) {
        take(base);
        continue;
      }
      const std::string element = join_path(path, name, (*count)++);
      mark(element);
      const size_t start = i_;
      value(f, element, depth);
      if (i_ == start) take(base);  // not a value: the parser refuses it
    }
    if (is("]")) take(base);
  }

  // A message in braces or angles, or a scalar: [-] token, or adjacent strings.
  void value(const FieldDescriptor* f, const std::string& path, int depth) {
    if (is("{") || is("<")) {
      const std::string closer = is("{") ? "}" : ">";
      take(path);
      const Descriptor* d = f == nullptr ? nullptr : f->message_type();
      return message(d, path, closer, depth + 1);
    }
    if (is("-")) take(path);
    if (at_end()) return;
    if (cur().type == io::Tokenizer::TYPE_STRING) {
      while (!at_end() && cur().type == io::Tokenizer::TYPE_STRING) take(path);
      return;
    }
    if (cur().type != io::Tokenizer::TYPE_SYMBOL) take(path);
  }

  // [type.googleapis.com/x.Y] { ... }: no such fields in our schemas; walked
  // only so that the paths after it stay right.
  void extension(const std::string& path, int depth) {
    while (!at_end() && !is("]")) take(path);
    if (is("]")) take(path);
    if (is(":")) take(path);
    value(nullptr, path, depth);
  }

  TextLayout& l_;
  size_t i_ = 0;
  std::string eof_path_;
};

TextLayout::TextLayout(std::string_view text, const Descriptor* root) : text_(text) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') line_starts_.push_back(i + 1);
  }
  io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  IgnoreErrors ignore;
  io::Tokenizer tokenizer(&input, &ignore);
  tokenizer.set_allow_f_after_float(true);
  tokenizer.set_comment_style(io::Tokenizer::SH_COMMENT_STYLE);
  tokenizer.set_require_space_after_number(false);
  while (tokenizer.Next()) {
    const io::Tokenizer::Token& t = tokenizer.current();
    tokens_.push_back({t.text, static_cast<int>(t.type), t.line, t.column, ""});
  }
  Walker walker(this);
  walker.run(root);
  eof_path_ = walker.eof_path();
}

TextPos TextLayout::to_user(int line0, int column0) const {
  if (line0 < 0 || static_cast<size_t>(line0) >= line_starts_.size()) return {};
  size_t at = line_starts_[static_cast<size_t>(line0)];
  int tokenizer_column = 0;
  int user_column = 0;
  while (tokenizer_column < column0 && at < text_.size() && text_[at] != '\n') {
    const unsigned char c = static_cast<unsigned char>(text_[at++]);
    if (c == '\t') {
      tokenizer_column += kTabWidth - tokenizer_column % kTabWidth;
      user_column += kTabWidth - user_column % kTabWidth;
    } else {
      ++tokenizer_column;
      if ((c & 0xC0) != 0x80) ++user_column;  // not a UTF-8 continuation byte
    }
  }
  user_column += std::max(0, column0 - tokenizer_column);  // past the line's end
  return {line0 + 1, user_column + 1};
}

TextPos TextLayout::find(const std::string& path) const {
  const auto it = marks_.find(path);
  return it == marks_.end() ? TextPos{} : it->second;
}

int TextLayout::token_at(int line0, int column0) const {
  const auto it = std::upper_bound(
      tokens_.begin(), tokens_.end(), std::make_pair(line0, column0),
      [](const std::pair<int, int>& pos, const Token& t) {
        return before(pos.first, pos.second, t.line0, t.column0);
      });
  return static_cast<int>(it - tokens_.begin()) - 1;
}

std::string TextLayout::path_at(int line0, int column0) const {
  const int i = token_at(line0, column0);
  if (i >= 0 && tokens_[i].line0 == line0) return tokens_[i].path;  // on this line
  const size_t next = static_cast<size_t>(i + 1);
  if (next < tokens_.size()) return tokens_[next].path;
  return eof_path_;
}

bool TextLayout::find_token_before(int line0, int column0, std::string_view text,
                                   int max_tokens, int* token_line0,
                                   int* token_column0) const {
  int i = token_at(line0, column0);
  if (i >= 0 && tokens_[i].line0 == line0 && tokens_[i].column0 == column0) --i;
  for (int seen = 0; i >= 0 && seen < max_tokens; --i, ++seen) {
    if (tokens_[i].text != text) continue;
    *token_line0 = tokens_[i].line0;
    *token_column0 = tokens_[i].column0;
    return true;
  }
  return false;
}

}  // namespace cellsim::scenario
