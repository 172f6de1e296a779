// cellsim: the simulator and its tools. Each subcommand is one entry in
// kCommands (cli/commands.h declares their mains).
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"

namespace {

struct Command {
  const char* name;
  int (*main)(int argc, char** argv);  // argv[0] is the command name
  const char* usage;
};

constexpr Command kCommands[] = {
    {"run", cellsim::cli::run_main,
     "run SCENARIO [--seed N] [--out DIR] [--shard i/N] [--calibration FILE]"},
    {"merge", cellsim::cli::merge_main, "merge --out DIR [--scenario FILE] RESULTS..."},
    {"load", cellsim::cli::load_main, "load SCENARIO [--target HOST:PORT --key FILE] [--duration S] [--out DIR] [--seed N]"},
    {"report", cellsim::cli::report_main, "report DIR... [--lang vi|en] [--out DIR]"},
    {"size", cellsim::cli::size_main, "size SCENARIO [--replications R] [--out DIR] [--total-cells N] [--peak-share F]"},
    {"calibrate", cellsim::cli::calibrate_main, "calibrate [--server PATH] [--out FILE] [--scenario FILE] [--levels N] [--seconds S]"},
    {"validate", cellsim::cli::validate_main, "validate SCENARIO [--seed N] [--calibration FILE] [--duration S] [--out DIR]"},
    {"compare", cellsim::cli::compare_main, "compare BASE NEW [--alpha A] [--tolerance T] [--all] [--out DIR]"},
    {"linkcheck", cellsim::cli::linkcheck_main, "linkcheck SCENARIO [--profile NAME]... [--connections N] [--duration S]"},
    // New subcommands: one line each, here and in cli/commands.h.
};

int usage(std::ostream& out) {
  out << "usage:\n";
  for (const Command& c : kCommands) out << "  cellsim " << c.usage << "\n";
  out << "Run `cellsim COMMAND --help` for details.\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  for (const Command& c : kCommands) {
    if (cmd == c.name) return c.main(argc - 1, argv + 1);
  }
  if (cmd.empty() || cmd == "--help" || cmd == "-h") return usage(std::cout);
  if (cmd == "--version") {
    std::cout << "cellsim " << cellsim::cli::version() << "\n";
    return 0;
  }
  std::cerr << "cellsim: unknown command \"" << cmd << "\" (cellsim --help lists them)\n";
  return cellsim::cli::kExitUsage;
}
