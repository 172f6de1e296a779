// The scenario loader: reads a scenario file (Protobuf text format against
// proto/cellsim/v1/scenario.proto), parses it, applies the documented defaults
// and validates it, so that the simulator only ever sees a scenario that makes
// sense (DESIGN.md, "Scenarios").
//
// Errors: every problem found is reported, each with the file, the 1-based
// line and column, the dotted field path ("cell_types[2].links[0].share") and
// what is wrong. A syntax error (including an unknown field or enum value)
// stops parsing, so it is the only error reported; otherwise all semantic
// errors are reported, sorted by position.
//
// Defaults (scenario/defaults.h) and presence: proto3 scalars carry no
// presence, so apply_defaults() treats 0 as "not set". The loader knows which
// fields the file wrote, so a file may write an explicit 0 where 0 means
// something (`jitter: 0`, `wait_for_quorum_min: 0`, `bitrate_kbps: 0` for no
// media); only fields the file leaves out get defaults. The loader's output is
// therefore final: do NOT call apply_defaults() on it again, or explicit zeros
// would be replaced.
//
// No clocks, no globals, no Boost. Thread-safety: every function is
// reentrant; distinct calls may run on distinct threads.
#ifndef CELLSIM_SCENARIO_LOADER_H_
#define CELLSIM_SCENARIO_LOADER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cellsim/v1/scenario.pb.h"
#include "scenario/defaults.h"

namespace cellsim::scenario {

namespace v1 = ::cellsim::v1;

// One problem in a scenario.
struct LoadError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based, in characters, tabs to multiples of 8; 0 when unknown
  std::string field;    // dotted path, e.g. "cell_types[2].links[0].share"; may be empty
  std::string message;  // what is wrong, naming the field and the value

  // "FILE:LINE:COL: FIELD: MESSAGE", leaving out the parts that are empty or 0.
  std::string to_string() const;
};

// Files larger than this are refused before reading (a scenario is a page of
// text; cells are described by type, not one by one).
inline constexpr size_t kMaxScenarioBytes = 16 * 1024 * 1024;

// Reads the file at `path`, then parse_scenario(). A file that cannot be read
// gives one error naming it and why.
bool load_scenario(const std::string& path, v1::Scenario* out, std::vector<LoadError>* errors);

// Parses `text` (named `file_name` in errors), applies defaults to the fields
// it leaves out, and validates. On success fills `*out` and returns true; on
// failure appends every error found to `*errors`, leaves `*out` unchanged and
// returns false.
bool parse_scenario(std::string_view text, const std::string& file_name, v1::Scenario* out,
                    std::vector<LoadError>* errors);

// Fills every unset (zero) setting of a scenario built in code with the
// defaults in scenario/defaults.h. Idempotent on its own output.
void apply_defaults(v1::Scenario* s);

// Validates a scenario built in code (defaults should be applied first).
// Errors carry field paths but no file positions. Returns true if none.
bool validate_scenario(const v1::Scenario& s, std::vector<LoadError>* errors);

// A quorum fraction as the engine's rational num/den (engine::Fraction).
struct QuorumRational {
  uint32_t num = 2;
  uint32_t den = 3;
};

// Maps a quorum fraction in (0, 1] to a rational:
//  * if some p/q with q <= kQuorumMaxExactDenominator (1000) is within
//    kQuorumExactTolerance (1e-9) of it, that p/q in lowest terms: so 2/3
//    written as 0.6666666666666666 (the default) gives exactly 2/3, 0.75
//    gives 3/4, 0.51 gives 51/100, 1 gives 1/1;
//  * otherwise it is rounded UP to thousandths (ceil(fraction × 1000)/1000,
//    in lowest terms), so the quorum is never lowered: 0.6667 gives 667/1000.
// Out-of-range input (validation refuses it) is clamped to (0, 1].
QuorumRational engine_quorum(double fraction);

inline constexpr uint32_t kQuorumMaxExactDenominator = 1000;
inline constexpr double kQuorumExactTolerance = 1e-9;

}  // namespace cellsim::scenario

#endif  // CELLSIM_SCENARIO_LOADER_H_
