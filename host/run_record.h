// The run record: the RunInfo every results file carries, assembled the same
// way by both hosts, and the results themselves (the recorder's figures with
// the scenario's SLOs evaluated).
//
// Thread-safety: stateless functions.
#ifndef CELLSIM_HOST_RUN_RECORD_H_
#define CELLSIM_HOST_RUN_RECORD_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "metrics/recorder.h"

namespace cellsim::host {

// "cellsim X.Y.Z", the project's version (CMake's project version).
const char* cellsim_version();

// What a host knows of its run at the end.
struct RunFacts {
  std::string mode;           // "sim" or "live"
  std::string scenario_file;  // as given
  std::string calibration;    // a label: which costs, or which server
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  bool partial = false;
  uint64_t virtual_ns = 0;  // the run's span on the host's clock
  uint64_t events = 0;
  uint64_t frames = 0;
  std::chrono::steady_clock::time_point wall_start;  // when the run began
};

// The RunInfo of a run of `scenario`, with the wall-clock fields (wall time,
// finish time, peak memory, host name) filled now.
v1::RunInfo run_info(const v1::Scenario& scenario, const RunFacts& facts);

// The results: the recorder's figures under `run`, SLOs evaluated.
v1::Results make_results(const v1::Scenario& scenario, const metrics::Recorder& recorder,
                         const v1::RunInfo& run);

// This process's peak resident memory, bytes.
uint64_t peak_rss_bytes();

}  // namespace cellsim::host

#endif  // CELLSIM_HOST_RUN_RECORD_H_
