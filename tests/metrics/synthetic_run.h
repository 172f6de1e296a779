// A synthetic run for the metrics tests: cells of three types, members on
// three network profiles, spread over server nodes (node = cell % nodes), each
// cell's figures drawn from its own seeded stream (as the simulator does), so
// recording a subset of the nodes gives exactly that shard's figures.
#ifndef CELLSIM_TESTS_METRICS_SYNTHETIC_RUN_H_
#define CELLSIM_TESTS_METRICS_SYNTHETIC_RUN_H_

#include <cstdint>
#include <set>
#include <string>

#include "cellsim/v1/results.pb.h"
#include "metrics/recorder.h"

namespace cellsim::metrics::testing {

struct SyntheticRun {
  uint64_t seed = 1;
  uint32_t cells = 36;
  uint32_t nodes = 4;
};

// Records the cells hosted on `nodes` (and those nodes' server figures).
// `reverse` registers names and records cells in the opposite order, which
// must not change the results.
void record_cells(const SyntheticRun& run, const std::set<uint32_t>& nodes, Recorder* rec,
                  bool reverse = false);

// Run info for a shard "i/N" (shard_count 0 and no shards when n == 0).
v1::RunInfo run_info(const SyntheticRun& run, uint32_t i, uint32_t n);

}  // namespace cellsim::metrics::testing

#endif  // CELLSIM_TESTS_METRICS_SYNTHETIC_RUN_H_
