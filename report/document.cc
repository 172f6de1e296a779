// The report's document: its blocks and their HTML and Markdown renderings.
#include "report/document.h"

#include <sstream>
#include <utility>

#include "report/svg.h"

namespace cellsim::report {
namespace {

// Escapes, then turns `x` into <code>x</code>.
std::string html_text(const std::string& s) {
  const std::string e = xml_escape(s);
  std::string out;
  bool open = false;
  for (char c : e) {
    if (c == '`') {
      out += open ? "</code>" : "<code>";
      open = !open;
    } else {
      out += c;
    }
  }
  if (open) out += "</code>";
  return out;
}

constexpr char kCss[] =
    "body{font-family:sans-serif;max-width:1180px;margin:1em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.6em;margin:0.2em 0}#summary{font-size:0.92em}#summary h2{margin:0.3em 0}"
    "#summary th,#summary td{padding:2px 6px}#summary p{margin:0.4em 0}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}tr.ok td{background:#eef8f0}"
    "tr.cond td{background:#fff6e0}tr.fail td{background:#fdecee}.warn{border-left:4px solid #b00020;"
    "padding:0.5em 1em;background:#fff4f4}figure{margin:1em 0}svg{max-width:100%;height:auto}"
    "section{page-break-inside:auto}code{background:#f4f4f4;padding:0 3px}";

void html_table(std::ostringstream& o, const Block& b) {
  o << "<table><thead><tr>";
  for (const auto& h : b.header) o << "<th>" << html_text(h) << "</th>";
  o << "</tr></thead><tbody>";
  for (size_t i = 0; i < b.rows.size(); ++i) {
    o << "<tr" << (i < b.row_class.size() ? " class=\"" + b.row_class[i] + "\"" : "") << ">";
    for (const auto& c : b.rows[i]) o << "<td>" << html_text(c) << "</td>";
    o << "</tr>";
  }
  o << "</tbody></table>\n";
}

void html_block(std::ostringstream& o, const Block& b) {
  switch (b.kind) {
    case Block::Kind::kTitle: o << "<h1>" << html_text(b.text) << "</h1>\n"; break;
    case Block::Kind::kSection:
      o << "<section id=\"" << b.id << "\"><h2>" << html_text(b.text) << "</h2>\n";
      break;
    case Block::Kind::kEndSection: o << "</section>\n"; break;
    case Block::Kind::kSubsection: o << "<h3>" << html_text(b.text) << "</h3>\n"; break;
    case Block::Kind::kPara: o << "<p>" << html_text(b.text) << "</p>\n"; break;
    case Block::Kind::kWarning: o << "<p class=\"warn\">" << html_text(b.text) << "</p>\n"; break;
    case Block::Kind::kTable: html_table(o, b); break;
    case Block::Kind::kList:
      o << "<ul>";
      for (const auto& i : b.items) o << "<li>" << html_text(i) << "</li>";
      o << "</ul>\n";
      break;
    case Block::Kind::kSvg: o << "<figure>" << b.text << "</figure>\n"; break;
  }
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

void md_table(std::ostringstream& o, const Block& b) {
  o << "|";
  for (const auto& h : b.header) o << ' ' << md_cell(h) << " |";
  o << "\n|";
  for (size_t i = 0; i < b.header.size(); ++i) o << " --- |";
  o << "\n";
  for (const auto& row : b.rows) {
    o << "|";
    for (const auto& c : row) o << ' ' << md_cell(c) << " |";
    o << "\n";
  }
  o << "\n";
}

void md_block(std::ostringstream& o, const Block& b) {
  switch (b.kind) {
    case Block::Kind::kTitle: o << "# " << b.text << "\n\n"; break;
    case Block::Kind::kSection: o << "## " << b.text << "\n\n"; break;
    case Block::Kind::kEndSection: break;
    case Block::Kind::kSubsection: o << "### " << b.text << "\n\n"; break;
    case Block::Kind::kPara: o << b.text << "\n\n"; break;
    case Block::Kind::kWarning: o << "> **" << b.text << "**\n\n"; break;
    case Block::Kind::kTable: md_table(o, b); break;
    case Block::Kind::kList:
      for (const auto& i : b.items) o << "- " << i << "\n";
      o << "\n";
      break;
    case Block::Kind::kSvg: break;  // the table after each chart holds its figures
  }
}

// A block of `kind` holding `text`.
Block text_block(Block::Kind kind, std::string text) { return Block{kind, {}, std::move(text)}; }

}  // namespace

void title(Doc& d, std::string text) {
  d.push_back(text_block(Block::Kind::kTitle, std::move(text)));
}

void section(Doc& d, const char* id, std::string title) {
  Block b = text_block(Block::Kind::kSection, std::move(title));
  b.id = id;
  d.push_back(std::move(b));
}

void end_section(Doc& d) { d.push_back(Block{Block::Kind::kEndSection}); }

void para(Doc& d, std::string text, Block::Kind kind) {
  d.push_back(text_block(kind, std::move(text)));
}

void list(Doc& d, std::vector<std::string> items) {
  Block b;
  b.kind = Block::Kind::kList;
  b.items = std::move(items);
  d.push_back(std::move(b));
}

void svg(Doc& d, std::string markup) {
  d.push_back(text_block(Block::Kind::kSvg, std::move(markup)));
}

Block table(std::vector<std::string> header) {
  Block b;
  b.kind = Block::Kind::kTable;
  b.header = std::move(header);
  return b;
}

std::string html_page(const Doc& d, Lang lang, const std::string& page_title) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"" << text(lang, Msg::kHtmlLang)
    << "\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" "
       "content=\"width=device-width, initial-scale=1\"><title>"
    << html_text(page_title) << "</title><style>" << kCss << "</style></head>\n<body>\n";
  for (const Block& b : d) html_block(o, b);
  o << "</body>\n</html>\n";
  return o.str();
}

std::string markdown(const Doc& d) {
  std::ostringstream o;
  for (const Block& b : d) md_block(o, b);
  return o.str();
}

}  // namespace cellsim::report
