// `cellsim report DIR... [--lang vi|en] [--out DIR]`: the feasibility report
// (report/report.h) from results folders.
//
// Exit codes: 0 written; 1 the report could not be written; 2 bad usage, or
// a folder with no results, or results that cannot be read or merged, or
// results of different scenarios (the message names the folder or file).
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "report/report.h"

namespace cellsim::cli {
namespace {

constexpr char kDefaultReportDir[] = "out/report";

constexpr char kReportAbout[] =
    "Reads the results in each DIR (results.pb or results.json): DIRs of one seed are the\n"
    "shards of one run, merged; DIRs of other seeds are further runs, pooled for each cell\n"
    "type's verdict (95% intervals); a DIR from `cellsim size` adds the sizing, one from\n"
    "`cellsim validate` the validation. Results of different scenarios are refused. Writes\n"
    "OUT/report.LANG.html (self-contained) and OUT/report.LANG.md.";

}  // namespace

int report_main(int argc, char** argv) {
  std::vector<std::string> inputs;
  std::string out_dir = kDefaultReportDir;
  std::string lang_name = "vi";
  Flags f("cellsim report", kReportAbout);
  f.positionals("DIR", &inputs, "results folders");
  f.choice("--lang", &lang_name, {"vi", "en"}, "the report's language (default vi)");
  f.text("--out", &out_dir, std::string("the report's folder (default ") + kDefaultReportDir + ")");
  f.footer(
      "exit: 0 written, 1 cannot write, 2 bad usage, unreadable results or different "
      "scenarios.");
  if (auto rc = f.parse(argc, argv)) return *rc;
  report::Lang lang = report::Lang::kVi;
  report::parse_lang(lang_name, &lang);
  report::ReportInput in;
  std::string why;
  if (!report::load_inputs(inputs, &in, &why)) return f.usage_error(why);
  std::vector<std::string> written;
  if (!report::write_report(in, lang, out_dir, &written, &why)) {
    std::cerr << "cellsim report: " << why << "\n";
    return kExitError;
  }
  for (const std::string& file : written) std::cout << "report: " << file << "\n";
  return kExitOk;
}

}  // namespace cellsim::cli
