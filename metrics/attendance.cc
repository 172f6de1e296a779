#include "metrics/attendance.h"

#include "proto/assert.h"

#include <algorithm>
#include <tuple>
#include <vector>

namespace cellsim::metrics {

uint64_t attendance_sample_key(uint64_t seed, uint64_t cell_id) {
  uint64_t z = (seed ^ cell_id) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool worse_than(const v1::AttendanceTrace& a, const v1::AttendanceTrace& b) {
  return std::make_tuple(a.quorate_ppm(), -static_cast<int64_t>(a.quorum_losses()), a.cell_id()) <
         std::make_tuple(b.quorate_ppm(), -static_cast<int64_t>(b.quorum_losses()), b.cell_id());
}

namespace {

bool sample_before(const v1::AttendanceTrace& a, const v1::AttendanceTrace& b) {
  return std::make_pair(a.sample_key(), a.cell_id()) < std::make_pair(b.sample_key(), b.cell_id());
}

void offer_to_sample(const v1::AttendanceTrace& trace, v1::AttendanceSamples* samples) {
  auto* sample = samples->mutable_sample();
  const int n = sample->size();
  if (n == kAttendanceSampleSize && !sample_before(trace, sample->Get(n - 1))) return;
  int at = n;
  while (at > 0 && sample_before(trace, sample->Get(at - 1))) --at;
  *sample->Add() = trace;
  for (int i = n; i > at; --i) sample->SwapElements(i, i - 1);
  if (sample->size() > kAttendanceSampleSize) sample->RemoveLast();
  CELLSIM_ASSERT(sample->size() <= kAttendanceSampleSize);
}

}  // namespace

void offer_attendance(const v1::AttendanceTrace& trace, v1::AttendanceSamples* samples) {
  samples->set_meetings_seen(samples->meetings_seen() + 1);
  if (!samples->has_worst() || worse_than(trace, samples->worst())) {
    *samples->mutable_worst() = trace;
  }
  offer_to_sample(trace, samples);
}

void merge_attendance(const v1::AttendanceSamples& from, v1::AttendanceSamples* into) {
  if (into->cell_type().empty()) into->set_cell_type(from.cell_type());
  into->set_meetings_seen(into->meetings_seen() + from.meetings_seen());
  if (from.has_worst() && (!into->has_worst() || worse_than(from.worst(), into->worst()))) {
    *into->mutable_worst() = from.worst();
  }
  for (const auto& t : from.sample()) offer_to_sample(t, into);
}

const v1::AttendanceTrace* typical_attendance(const v1::AttendanceSamples& samples) {
  if (samples.sample().empty()) return nullptr;
  std::vector<const v1::AttendanceTrace*> order;
  for (const auto& t : samples.sample()) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::make_pair(a->quorate_ppm(), a->sample_key()) <
           std::make_pair(b->quorate_ppm(), b->sample_key());
  });
  return order[(order.size() - 1) / 2];
}

}  // namespace cellsim::metrics
