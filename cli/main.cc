// cellsim: the simulator and its tools. Subcommands: run, merge.
#include <iostream>
#include <string>

#include "cli/run.h"

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "run") return cellsim::cli::run_main(argc - 1, argv + 1);
  if (cmd == "merge") return cellsim::cli::merge_main(argc - 1, argv + 1);
  std::ostream& out = cmd.empty() || cmd == "--help" || cmd == "-h" ? std::cout : std::cerr;
  if (!cmd.empty() && cmd != "--help" && cmd != "-h") out << "cellsim: unknown command " << cmd << "\n";
  out << "usage: cellsim run SCENARIO [--seed N] [--out DIR] [--shard i/N] [--calibration FILE]\n"
         "       cellsim merge --out DIR [--scenario FILE] RESULTS...\n"
         "Run `cellsim COMMAND --help` for details.\n";
  return cmd.empty() || cmd == "--help" || cmd == "-h" ? 0 : 2;
}
