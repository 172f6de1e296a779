// TextLayout: where each field of a Protobuf text-format document sits, found
// by walking the document's tokens against a message descriptor.
//
// The loader uses it for what TextFormat::ParseInfoTree cannot give:
//  * the dotted field path ("cell_types[2].links[0].share") at the position of
//    a syntax error, since the parser stops there and records no tree;
//  * per-element positions in list syntax (`profiles: ["a", "b"]`), where the
//    tree records one position per field occurrence, not per element;
//  * the token before a position (the parser reports an unknown field or enum
//    value at the token after it);
//  * columns as a person counts them.
//
// Positions: `line` and `column` are 1-based. Columns count characters (UTF-8
// code points), with tabs advancing to the next multiple of 8 as the Protobuf
// tokenizer and the GNU coding standards do. The tokenizer's own positions are
// 0-based byte columns; to_user() converts them.
//
// The walk is tolerant: it never fails, and past a syntax error its paths are
// best effort. Invariant: every path it records names fields as the schema
// does, with "[i]" after each element of a repeated field.
//
// Thread-safety: immutable after construction; const methods may be called
// from any thread.
#ifndef CELLSIM_SCENARIO_TEXT_LAYOUT_H_
#define CELLSIM_SCENARIO_TEXT_LAYOUT_H_

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace cellsim::scenario {

// A 1-based position in the text; line 0 means unknown.
struct TextPos {
  int line = 0;
  int column = 0;
};

class TextLayout {
 public:
  // Walks `text` as a message of type `root`. `text` must outlive the layout.
  TextLayout(std::string_view text, const google::protobuf::Descriptor* root);

  // Converts a tokenizer position (0-based line, 0-based tab-expanded byte
  // column) to a 1-based user position.
  TextPos to_user(int line0, int column0) const;

  // The position of the field value at `path` (for repeated fields the
  // element, "a[1]"; for the field as written, "a[1].b"), or line 0.
  TextPos find(const std::string& path) const;

  // The dotted path of the field being read at the tokenizer position
  // (line0, column0): the innermost field whose name or value holds it, or the
  // enclosing message when between fields. "" at the top level.
  std::string path_at(int line0, int column0) const;

  // The last token before tokenizer position (line0, column0) whose text is
  // `text`, searching back at most `max_tokens` tokens. Returns its tokenizer
  // position through the out-parameters; false if none.
  bool find_token_before(int line0, int column0, std::string_view text, int max_tokens,
                         int* token_line0, int* token_column0) const;

 private:
  struct Token {
    std::string text;
    int type = 0;  // google::protobuf::io::Tokenizer::TokenType
    int line0 = 0;
    int column0 = 0;
    std::string path;  // the field path being read at this token
  };
  class Walker;

  // Index of the last token starting at or before (line0, column0), or -1.
  int token_at(int line0, int column0) const;

  std::string_view text_;
  std::vector<size_t> line_starts_;  // byte offset of each line
  std::vector<Token> tokens_;
  std::unordered_map<std::string, TextPos> marks_;  // path -> position
  std::string eof_path_;  // innermost message left open at the end
};

// "a.b" or "b" when `parent` is empty; "[i]" appended when index >= 0.
std::string join_path(const std::string& parent, std::string_view field, int index);

}  // namespace cellsim::scenario

#endif  // CELLSIM_SCENARIO_TEXT_LAYOUT_H_
