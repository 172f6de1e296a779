// The discrete-event kernel: virtual time and the event queue.
//
// Time is int64 nanoseconds of virtual time, starting at `start_ns` (the
// simulator starts at a Unix-epoch instant so tokens and minutes read as real
// dates). Events run in (time, order of scheduling) order — a total order, so
// a run is deterministic (RadixHeap documents why).
//
// An event names a target (an EventTarget), a kind and a 64-bit argument; the
// target's on_event() runs when the event is due. Plain events (messages,
// deliveries) cannot be cancelled and cost nothing beyond their queue entry;
// timers can: cancel() marks the timer's slot dead and the queue drops the
// entry when it surfaces (lazy deletion), so cancel is O(1).
//
// Costs: schedule O(1) (a radix-queue push; timers also take a slot from a
// free list); running an event amortised O(1) per radix level its entry
// crosses (about 3 for an event 1 s ahead); memory: 32 bytes per queued
// entry, plus 8 bytes per timer slot.
//
// Bounds: live timers are bounded by kMaxPendingEvents (slot ids are
// 32-bit); starting more is a programmer error.
//
// Thread-safety: none. One kernel per thread; shards run separate kernels.
#ifndef CELLSIM_SIM_KERNEL_H_
#define CELLSIM_SIM_KERNEL_H_

#include <cassert>
#include <cstdint>
#include <vector>

#include "sim/radix_heap.h"

namespace cellsim::sim {

using TimeNs = int64_t;

inline constexpr TimeNs kNsPerUs = 1'000;
inline constexpr TimeNs kNsPerMs = 1'000'000;
inline constexpr TimeNs kNsPerS = 1'000'000'000;
inline constexpr uint32_t kMaxPendingEvents = 1u << 30;

class Kernel;

// Something that receives events. Targets outlive the events aimed at them
// (or cancel them first).
class EventTarget {
 public:
  virtual ~EventTarget() = default;
  virtual void on_event(Kernel& kernel, uint32_t kind, uint64_t arg) = 0;
};

// Names a cancellable event (a timer). The default value names nothing.
struct TimerId {
  uint32_t slot = 0;
  uint32_t generation = 0;  // 0 never names a live timer
  bool valid() const { return generation != 0; }
};

class Kernel {
 public:
  explicit Kernel(TimeNs start_ns = 0) : now_ns_(start_ns) { assert(start_ns >= 0); }
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  TimeNs now() const { return now_ns_; }
  uint64_t events_run() const { return events_run_; }
  // Events scheduled and neither run nor cancelled.
  size_t pending() const { return queue_.size() - cancelled_in_queue_; }

  // Schedules an event that cannot be cancelled (a message, a delivery).
  // REQUIRES: at_ns >= now(); target != nullptr.
  void schedule_at(TimeNs at_ns, EventTarget* target, uint32_t kind, uint64_t arg) {
    assert(at_ns >= now_ns_ && target != nullptr);
    queue_.push(Entry{static_cast<uint64_t>(at_ns), target, arg, kind, 0});
  }

  // REQUIRES: delay_ns >= 0.
  void schedule_in(TimeNs delay_ns, EventTarget* target, uint32_t kind, uint64_t arg) {
    assert(delay_ns >= 0);
    schedule_at(now_ns_ + delay_ns, target, kind, arg);
  }

  // Schedules an event that cancel() can withdraw.
  // REQUIRES: at_ns >= now(); target != nullptr.
  TimerId start_timer(TimeNs at_ns, EventTarget* target, uint32_t kind, uint64_t arg) {
    assert(at_ns >= now_ns_ && target != nullptr);
    uint32_t slot;
    if (!free_timers_.empty()) {
      slot = free_timers_.back();
      free_timers_.pop_back();
    } else {
      assert(timers_.size() < kMaxPendingEvents);
      slot = static_cast<uint32_t>(timers_.size());
      timers_.push_back(TimerSlot{});
    }
    TimerSlot& t = timers_[slot];
    t.generation = t.generation + 1 == 0 ? 1 : t.generation + 1;
    t.live = true;
    queue_.push(Entry{static_cast<uint64_t>(at_ns), target, arg, kind, slot + 1});
    return TimerId{slot, t.generation};
  }

  // Withdraws a timer. Returns false if it already ran, was cancelled, or
  // `id` names nothing. O(1): the queue drops the entry when it surfaces.
  bool cancel(TimerId id) {
    if (!id.valid() || id.slot >= timers_.size()) return false;
    TimerSlot& t = timers_[id.slot];
    if (t.generation != id.generation || !t.live) return false;
    t.live = false;
    ++cancelled_in_queue_;
    return true;
  }

  // Runs the next event. Returns false when no event is pending.
  bool step() {
    while (!queue_.empty()) {
      const Entry e = queue_.pop();
      if (e.timer != 0 && !retire_timer(e.timer - 1)) continue;  // cancelled
      now_ns_ = static_cast<TimeNs>(e.key);
      ++events_run_;
      e.target->on_event(*this, e.kind, e.arg);
      return true;
    }
    return false;
  }

  // Runs events due at or before `until_ns`, at most `max_events` of them,
  // or until stop(). Leaves now() at until_ns when no event due then is left.
  // Returns the number of events run.
  uint64_t run_until(TimeNs until_ns, uint64_t max_events = UINT64_MAX) {
    stopped_ = false;
    uint64_t n = 0;
    while (n < max_events && !stopped_ && !queue_.empty()) {
      if (static_cast<TimeNs>(queue_.top().key) > until_ns) break;
      n += step() ? 1 : 0;
    }
    if (!stopped_ && n < max_events && until_ns > now_ns_) {
      if (queue_.empty() || static_cast<TimeNs>(queue_.top().key) > until_ns) now_ns_ = until_ns;
    }
    return n;
  }

  // Makes run_until() return after the current event.
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  // The time of the next event, or -1 when none is queued. (A cancelled
  // timer still in the queue may make this earlier than the next live event.)
  TimeNs next_event_time() {
    return queue_.empty() ? -1 : static_cast<TimeNs>(queue_.top().key);
  }

 private:
  struct Entry {
    uint64_t key;         // due time, ns
    EventTarget* target;
    uint64_t arg;
    uint32_t kind;
    uint32_t timer;       // timer slot + 1; 0 for events that cannot be cancelled
  };
  struct TimerSlot {
    uint32_t generation = 0;
    bool live = false;
  };

  // The timer in `slot` surfaced: frees the slot; true if it was still live.
  bool retire_timer(uint32_t slot) {
    TimerSlot& t = timers_[slot];
    free_timers_.push_back(slot);
    if (t.live) {
      t.live = false;
      return true;
    }
    --cancelled_in_queue_;
    return false;
  }

  TimeNs now_ns_;
  RadixHeap<Entry> queue_;
  std::vector<TimerSlot> timers_;
  std::vector<uint32_t> free_timers_;
  size_t cancelled_in_queue_ = 0;
  uint64_t events_run_ = 0;
  bool stopped_ = false;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_KERNEL_H_
