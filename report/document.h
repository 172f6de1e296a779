// The document the report is written as (report/sections.h writes it) and
// its two renderings, a whole HTML page and Markdown. A document is a list
// of blocks of plain text, escaped on output; `code` spans become <code> in
// HTML. Charts (inline SVG, report/svg.h) are HTML only: the table after
// each chart holds its figures.
//
// Used only inside report/.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_REPORT_DOCUMENT_H_
#define CELLSIM_REPORT_DOCUMENT_H_

#include <string>
#include <vector>

#include "report/strings.h"

namespace cellsim::report {

struct Block {
  enum class Kind { kTitle, kSection, kEndSection, kSubsection, kPara, kWarning, kTable, kList, kSvg };
  Kind kind = Kind::kPara;
  std::string id, text;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row_class;  // per row, HTML only
  std::vector<std::string> items;
};
using Doc = std::vector<Block>;

// Appends a block to `d`.
void title(Doc& d, std::string text);
void section(Doc& d, const char* id, std::string title);  // until end_section
void end_section(Doc& d);
void para(Doc& d, std::string text, Block::Kind kind = Block::Kind::kPara);
void list(Doc& d, std::vector<std::string> items);
void svg(Doc& d, std::string markup);

// A table with `header`, for the caller to fill and append.
Block table(std::vector<std::string> header);

// The document as a whole HTML page in `lang`, titled `page_title`.
std::string html_page(const Doc& d, Lang lang, const std::string& page_title);

// The document as Markdown.
std::string markdown(const Doc& d);

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_DOCUMENT_H_
