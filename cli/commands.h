// The cellsim subcommands' entry points. Each takes (argc, argv) with argv[0]
// the command's name and returns the process exit code (cli/run.h lists the
// shared codes).
#ifndef CELLSIM_CLI_COMMANDS_H_
#define CELLSIM_CLI_COMMANDS_H_

#include "cli/run.h"

namespace cellsim::cli {

// run.cc
int run_main(int argc, char** argv);
int merge_main(int argc, char** argv);
int load_main(int argc, char** argv);  // load.cc
int report_main(int argc, char** argv);  // report.cc
int size_main(int argc, char** argv);  // size.cc
int calibrate_main(int argc, char** argv);  // calibrate.cc
int validate_main(int argc, char** argv);  // validate.cc
int linkcheck_main(int argc, char** argv);  // linkcheck.cc
int compare_main(int argc, char** argv);  // compare.cc
// New subcommands: declare them here, one line each.

}  // namespace cellsim::cli

#endif  // CELLSIM_CLI_COMMANDS_H_
