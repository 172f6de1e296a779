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
#include "report/report.h"

namespace cellsim::cli {
namespace {

constexpr char kDefaultReportDir[] = "out/report";

int report_usage(const std::string& problem) {
  std::ostream& out = problem.empty() ? std::cout : std::cerr;
  if (!problem.empty()) out << "cellsim report: " << problem << "\n";
  out << "usage: cellsim report DIR... [--lang vi|en] [--out DIR]\n"
         "  Reads the results in each DIR (results.pb or results.json): DIRs of one seed are\n"
         "  the shards of one run, merged; DIRs of other seeds are further runs, and each cell\n"
         "  type's verdict is its worst seed's; a DIR from `cellsim size` adds the sizing, one\n"
         "  from `cellsim validate` the validation. Results of different scenarios are refused.\n"
         "  Writes OUT/report.LANG.html (self-contained) and OUT/report.LANG.md. Default:\n"
         "  --lang vi, --out " << kDefaultReportDir << ".\n"
         "  exit: 0 written, 1 cannot write, 2 bad usage, unreadable results or different\n"
         "  scenarios.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

struct ReportArgs {
  std::vector<std::string> inputs;
  std::string out_dir = kDefaultReportDir;
  report::Lang lang = report::Lang::kVi;
};

// 0 to go on, -1 for --help, else an exit code.
int parse_report_args(int argc, char** argv, ReportArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return report_usage("") == kExitOk ? -1 : kExitUsage;
    if (arg == "--lang") {
      if (i + 1 >= argc || !report::parse_lang(argv[++i], &a->lang)) {
        return report_usage("--lang needs vi or en");
      }
    } else if (arg == "--out") {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) return report_usage("--out needs a DIR");
      a->out_dir = argv[++i];
    } else if (!arg.empty() && arg[0] == '-') {
      return report_usage("unknown flag " + arg);
    } else {
      a->inputs.push_back(arg);
    }
  }
  if (a->inputs.empty()) return report_usage("no results folder given");
  return 0;
}

}  // namespace

int report_main(int argc, char** argv) {
  ReportArgs a;
  if (int rc = parse_report_args(argc, argv, &a); rc != 0) return rc < 0 ? kExitOk : rc;
  report::ReportInput in;
  std::string why;
  if (!report::load_inputs(a.inputs, &in, &why)) {
    std::cerr << "cellsim report: " << why << "\n";
    return kExitUsage;
  }
  std::vector<std::string> written;
  if (!report::write_report(in, a.lang, a.out_dir, &written, &why)) {
    std::cerr << "cellsim report: " << why << "\n";
    return kExitError;
  }
  for (const std::string& f : written) std::cout << "report: " << f << "\n";
  return kExitOk;
}

}  // namespace cellsim::cli
