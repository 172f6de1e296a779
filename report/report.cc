// The report as HTML and Markdown, and the files it is written to
// (report.h); the sections (report/sections.h) and the document
// (report/document.h) do the work.
#include "report/report.h"

#include <filesystem>
#include <fstream>

#include "report/sections.h"
#include "report/words.h"

namespace cellsim::report {

namespace fs = std::filesystem;

std::string render_html(const ReportInput& in, Lang lang) {
  return html_page(build_document(in, lang), lang,
                   t(lang, Msg::kTitle) + ": " + in.results.run().scenario());
}

std::string render_markdown(const ReportInput& in, Lang lang) {
  return markdown(build_document(in, lang));
}

bool write_report(const ReportInput& in, Lang lang, const std::string& dir,
                  std::vector<std::string>* written, std::string* why) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *why = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  const std::string base = (fs::path(dir) / "report.").string() + lang_code(lang);
  const std::pair<std::string, std::string> files[] = {
      {base + ".html", render_html(in, lang)}, {base + ".md", render_markdown(in, lang)}};
  for (const auto& [path, body] : files) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << body;
    f.close();
    if (!f) {
      *why = "cannot write " + path;
      return false;
    }
    written->push_back(path);
  }
  return true;
}

}  // namespace cellsim::report
