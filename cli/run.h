// `cellsim run` and `cellsim merge`: the simulator's command line.
//
// Exit codes (also in the README):
//   0  the run finished and every SLO held
//   1  an I/O or internal error (message on stderr)
//   2  bad usage or a bad scenario (file:line:column: field: message)
//   3  an invariant broke (tally integrity, quorum view, secrecy): the seed
//      that reproduces it is printed
//   4  the run finished but an SLO was breached
//   130 interrupted (Ctrl-C): the results so far are written, marked partial
#ifndef CELLSIM_CLI_RUN_H_
#define CELLSIM_CLI_RUN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cli/flags.h"      // kExitUsage
#include "cli/interrupt.h"  // kExitInterrupted

namespace cellsim::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitInvariant = 3;
inline constexpr int kExitSloBreached = 4;

// How a finished run (simulated or live) ends: invariant violations (listed
// with the seed that reproduces them), then an interruption (partial results
// in out_dir), then an SLO breach, each said on stderr as "cellsim COMMAND:
// ..."; else kExitOk.
struct RunEnd {
  const char* command = "";             // "run", "load"
  uint64_t seed = 0;
  uint64_t violation_count = 0;
  const std::vector<std::string>* violations = nullptr;  // REQUIRES: non-null
  bool partial = false;
  bool slos_met = true;
  std::string out_dir;
};
int run_exit_code(const RunEnd& end);

int run_main(int argc, char** argv);    // argv[0] is "run"
int merge_main(int argc, char** argv);  // argv[0] is "merge"

}  // namespace cellsim::cli

#endif  // CELLSIM_CLI_RUN_H_
