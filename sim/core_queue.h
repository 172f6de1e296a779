// A server node's cores as a queue: `cores` identical servers taking jobs
// first come, first served (an M/G/c station when arrivals are Poisson). The
// world runs the engine when a job starts and holds the core for the job's
// CPU cost; tests check the discipline against Erlang C.
//
// Invariants: busy() <= cores; a job waits only while every core is busy.
// Bound: the queue holds at most kMaxQueuedJobs (asserted).
//
// Thread-safety: none.
#ifndef CELLSIM_SIM_CORE_QUEUE_H_
#define CELLSIM_SIM_CORE_QUEUE_H_

#include <cassert>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace cellsim::sim {

inline constexpr size_t kMaxQueuedJobs = 50'000'000;

template <typename Job>
class CoreQueue {
 public:
  // REQUIRES: cores >= 1.
  explicit CoreQueue(uint32_t cores = 1) : cores_(cores) { assert(cores >= 1); }

  // A job arrives. Returns it back when a core is free (the caller starts it
  // now and must call finish() when it is done); otherwise queues it.
  std::optional<Job> arrive(Job job) {
    if (busy_ < cores_) {
      ++busy_;
      return job;
    }
    assert(queue_.size() < kMaxQueuedJobs);
    queue_.push_back(std::move(job));
    peak_queued_ = queue_.size() > peak_queued_ ? queue_.size() : peak_queued_;
    return std::nullopt;
  }

  // A core finished its job. Returns the next job, which takes the core.
  std::optional<Job> finish() {
    assert(busy_ > 0);
    if (queue_.empty()) {
      --busy_;
      return std::nullopt;
    }
    Job next = std::move(queue_.front());
    queue_.pop_front();
    return next;
  }

  uint32_t cores() const { return cores_; }
  uint32_t busy() const { return busy_; }
  size_t queued() const { return queue_.size(); }
  size_t peak_queued() const { return peak_queued_; }

 private:
  uint32_t cores_;
  uint32_t busy_ = 0;
  std::deque<Job> queue_;
  size_t peak_queued_ = 0;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_CORE_QUEUE_H_
