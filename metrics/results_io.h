// Results files (DESIGN.md, "Metrics"): writing, reading, checking and
// merging v1::Results.
//
// Files. A run's results are DIR/results.pb (binary Protobuf, the reference)
// and DIR/results.json (the same message as Protobuf JSON: pretty-printed,
// every primitive field printed, .proto field names; 64-bit integers appear
// as strings, as the JSON mapping prescribes). Each file is written to a
// temporary file beside it, flushed to disk and renamed over the target, so a
// reader sees the old file or the new one, never a torn one.
//
// Merging. Shards of one run (`--shard i/N`) own whole server nodes and the
// cells on them; merge_results() adds two shards' results into the results of
// their union, exactly: histograms bucket by bucket, counters by addition,
// groups matched by (kind, name). It is associative and commutative: any
// order and grouping of merges gives the identical message. When the shards
// partition a run's cells, the merge equals the whole run's results except
// for the wall-clock fields and the shard bookkeeping. SLO results are not
// merged (a quantile of a merge is not a merge of quantiles): the output's
// slos are empty; recompute them with evaluate_slos() (slo.h).
//
// Thread-safety: the functions share no state; distinct calls may run in
// parallel on distinct outputs.
#ifndef CELLSIM_METRICS_RESULTS_IO_H_
#define CELLSIM_METRICS_RESULTS_IO_H_

#include <string>

#include "cellsim/v1/results.pb.h"

namespace cellsim::metrics {

namespace v1 = ::cellsim::v1;

inline constexpr char kResultsPbFile[] = "results.pb";
inline constexpr char kResultsJsonFile[] = "results.json";

// Writes `results` as DIR/results.pb and DIR/results.json, atomically each,
// creating DIR (and its parents) if needed. On failure returns false and says
// why, naming the file, in *why (if not null).
bool write_results(const std::string& dir, const v1::Results& results, std::string* why);

// Reads results from `path`: a directory (its results.pb), a .json file
// (Protobuf JSON) or any other file (binary Protobuf; a file whose first
// non-blank byte is '{' is read as JSON). The results are checked with
// validate_results(). On failure returns false and says why, naming the file:
// missing, unreadable, not results, or invalid (e.g. a corrupt histogram).
bool read_results(const std::string& path, v1::Results* out, std::string* why);

// Checks what the metrics code relies on: group kinds are "overall",
// "cell_type" or "profile" (the overall group unnamed), no (kind, name) twice,
// no latency name twice in a group, every histogram valid
// (Histogram::from_proto), no server node twice.
bool validate_results(const v1::Results& results, std::string* why);

// Merges the results of two shards of one run into *out (which may be one of
// the inputs; it is written only on success). Refuses, with the reason in
// *why, results of different scenarios, seeds, modes, cellsim versions,
// calibrations or shard counts, a shard or a server node present in both,
// invalid inputs (see validate_results) and histograms of different layouts.
//
// Run info: shards concatenated and sorted (by i, then N); virtual_ns max;
// events, frames, members, cells added; partial OR-ed; wall_s,
// finished_unix_s, peak_rss_bytes max; host the sorted union of the
// comma-separated host names; scenario_file the lexicographically smallest
// non-empty one (shards may see the file under different paths).
// Groups ordered overall, cell types by name, profiles by name; latencies
// by name; servers by node; slos empty.
bool merge_results(const v1::Results& a, const v1::Results& b, v1::Results* out, std::string* why);

// Adds group `g` into `acc` of the same kind and name: members, cells,
// latencies (by name), cell batches (the same seed and index merge, others
// are kept apart, so groups of different seeds pool: report/confidence.h),
// quorum and traffic counters, voice figures (batches as the cell batches).
// False, naming the group, if histogram layouts or voice MOS thresholds
// differ.
bool merge_group(const v1::Group& g, v1::Group* acc, std::string* why);

// The media transport names in RunInfo.media_transport.
inline constexpr char kTransportInBand[] = "in_band";
inline constexpr char kTransportDatagram[] = "datagram";
// A run's media transport ("in_band" where the results predate the field).
std::string transport_of(const v1::RunInfo& run);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_RESULTS_IO_H_
