// Attendance traces of meetings and their selection for the report
// (results.proto, "Attendance over time"): per cell type, the worst meeting
// and a bottom-k sample. Both selections are exact under merging: the worst
// is the minimum of a total order (worse_than), the sample keeps the
// kAttendanceSampleSize smallest sample keys, so offering traces in any order,
// or merging the selections of shards, keeps exactly the same traces.
//
// Thread-safety: none (plain functions on messages the caller owns).
#ifndef CELLSIM_METRICS_ATTENDANCE_H_
#define CELLSIM_METRICS_ATTENDANCE_H_

#include <cstdint>

#include "cellsim/v1/results.pb.h"

namespace cellsim::metrics {

// Traces kept in a cell type's sample.
inline constexpr int kAttendanceSampleSize = 16;

// The sample key of a cell's meeting: splitmix64(seed ^ cell_id), so the
// sample is a uniform random one, the same in every shard and mode.
uint64_t attendance_sample_key(uint64_t seed, uint64_t cell_id);

// True when `a` is a worse meeting than `b`: lower quorate share, then more
// quorum losses, then lower cell id. A strict total order on distinct cells.
bool worse_than(const v1::AttendanceTrace& a, const v1::AttendanceTrace& b);

// Offers one meeting's trace to a cell type's selection.
// REQUIRES: trace.cell_id not offered before to `samples` (or any shard of it).
void offer_attendance(const v1::AttendanceTrace& trace, v1::AttendanceSamples* samples);

// Merges the selection `from` (a disjoint set of meetings of the same cell
// type) into `into`. POSTCONDITION: `into` is the selection of the union.
void merge_attendance(const v1::AttendanceSamples& from, v1::AttendanceSamples* into);

// The sample's median meeting by quorate share (ties by sample key): the
// "typical" meeting. nullptr when the sample is empty.
const v1::AttendanceTrace* typical_attendance(const v1::AttendanceSamples& samples);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_ATTENDANCE_H_
