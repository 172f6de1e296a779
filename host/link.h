// The link model (DESIGN.md, "Simulator"), per member and direction:
// one-way delay = base + jitter drawn from the profile's distribution;
// serialisation at the link's bandwidth; in-order delivery as TCP gives it
// (never earlier than the previous frame); packet loss in bursts
// (Gilbert–Elliott) turned into TCP retransmission delay; and the outage
// on/off process shared by both directions of a member's link.
//
// Invariants: delivery times of successive frames never decrease; the
// Gilbert–Elliott state steps once per packet.
//
// Both hosts use it: the simulator on virtual time, the live driver's
// user-space impairment layer on the steady clock.
//
// Thread-safety: none; each member's links belong to one host thread.
#ifndef CELLSIM_HOST_LINK_H_
#define CELLSIM_HOST_LINK_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agents/distribution.h"
#include "agents/rng.h"
#include "cellsim/v1/scenario.pb.h"
#include "proto/assert.h"

namespace cellsim::host {

// Nanoseconds on the host's clock (virtual in the simulator, the steady
// clock in live mode).
using TimeNs = int64_t;

// TCP/IP: payload per packet and header bytes per packet.
inline constexpr uint32_t kMssBytes = 1448;
inline constexpr uint32_t kPacketOverheadBytes = 52;
// Retransmissions of one packet before the model gives up growing the delay.
inline constexpr int kMaxRetransmissions = 8;
// Frames of a stream caught up at once; a longer gap skips the excess (a
// stream is meant to be stopped within minutes).
inline constexpr uint64_t kMaxStreamCatchUpFrames = 1'000'000;
// LinkDirection::stop_stream() with this owner stops whoever's stream it is.
inline constexpr uint64_t kStreamOwnerAny = UINT64_MAX;

// One direction of a member's link.
class LinkDirection {
 public:
  LinkDirection(const v1::NetworkProfile* profile, uint32_t bandwidth_kbps, agents::Rng rng)
      : profile_(profile),
        ns_per_byte_(bandwidth_kbps > 0 ? 8e6 / bandwidth_kbps : 0),
        rng_(rng) {}

  // The one-way propagation delay of one packet: base + jitter, ns.
  TimeNs draw_delay_ns() {
    const double ms = profile_->base_one_way_ms() +
                      (profile_->has_jitter_ms() ? draw(profile_->jitter_ms(), rng_) : 0.0);
    return static_cast<TimeNs>(ms * 1e6);
  }

  // A frame of `bytes` handed to the link at `now` (the link is up): when it
  // is delivered. `rtt_ns` is the connection's smoothed round trip, for the
  // retransmission timeout.
  TimeNs transmit(TimeNs now, size_t bytes, TimeNs rtt_ns) {
    catch_up(now, rtt_ns);
    return transmit_one(now, bytes, rtt_ns);
  }

  // A stream this direction carries besides the frames given to transmit():
  // a frame of `bytes` every `period_ns` from `start_ns` until stop_stream()
  // (the simulator's media: DESIGN.md's fluid model, made to occupy the link
  // as the real frames do). Its frames take bandwidth, draw delays and
  // losses, and hold back the frames behind them (in-order delivery: TCP's
  // head-of-line blocking), exactly as transmit() would; nobody receives
  // them. They are caught up lazily, before each transmit() and at stop. One
  // stream at a time: a new one (another `owner`) replaces it; stop_stream()
  // of an owner whose stream was replaced does nothing.
  // REQUIRES: period_ns > 0.
  void start_stream(uint64_t owner, TimeNs start_ns, TimeNs period_ns, uint32_t bytes,
                    TimeNs rtt_ns) {
    CELLSIM_ASSERT(period_ns > 0);
    catch_up(start_ns, rtt_ns);
    stream_owner_ = owner;
    stream_next_ns_ = start_ns;
    stream_period_ns_ = period_ns;
    stream_bytes_ = bytes;
  }
  void stop_stream(uint64_t owner, TimeNs now, TimeNs rtt_ns) {
    if (stream_next_ns_ == kNoStream || (owner != stream_owner_ && owner != kStreamOwnerAny)) {
      return;
    }
    catch_up(now, rtt_ns);
    stream_next_ns_ = kNoStream;
  }
  bool streaming() const { return stream_next_ns_ != kNoStream; }
  uint64_t stream_frames() const { return stream_frames_; }

 private:
  static constexpr TimeNs kNoStream = INT64_MAX;

  // Sends the stream's frames due before `now`.
  void catch_up(TimeNs now, TimeNs rtt_ns) {
    if (stream_next_ns_ >= now) return;
    uint64_t due = static_cast<uint64_t>((now - 1 - stream_next_ns_) / stream_period_ns_) + 1;
    if (due > kMaxStreamCatchUpFrames) {
      stream_next_ns_ += static_cast<TimeNs>(due - kMaxStreamCatchUpFrames) * stream_period_ns_;
      due = kMaxStreamCatchUpFrames;
    }
    for (uint64_t i = 0; i < due; ++i) {
      transmit_one(stream_next_ns_, stream_bytes_, rtt_ns);
      stream_next_ns_ += stream_period_ns_;
    }
    stream_frames_ += due;
  }

  TimeNs transmit_one(TimeNs now, size_t bytes, TimeNs rtt_ns) {
    const uint64_t packets = (bytes + kMssBytes - 1) / kMssBytes;
    const double wire_bytes = static_cast<double>(bytes + packets * kPacketOverheadBytes);
    const TimeNs start = std::max(now, busy_until_ns_);
    busy_until_ns_ = start + static_cast<TimeNs>(wire_bytes * ns_per_byte_);
    TimeNs arrival = busy_until_ns_ + draw_delay_ns() + retransmission_delay_ns(packets, rtt_ns);
    arrival = std::max(arrival, last_delivery_ns_);
    // Invariant: in-order delivery, never before the frame was handed over.
    CELLSIM_ASSERT(arrival >= last_delivery_ns_ && arrival >= now);
    last_delivery_ns_ = arrival;
    bytes_ += bytes;
    return arrival;
  }


 public:
  // Forgets the queue (a new connection starts with an idle link).
  void reset(TimeNs now) {
    busy_until_ns_ = std::max(busy_until_ns_, now);
    last_delivery_ns_ = now;
  }

  // Holds delivery until at least `t` (an outage stalls the stream).
  void stall_until(TimeNs t) { last_delivery_ns_ = std::max(last_delivery_ns_, t); }

  uint64_t bytes() const { return bytes_; }

 private:
  // The extra delay the packets' losses cost: each loss waits one RTO,
  // doubled for each further loss of the same packet.
  TimeNs retransmission_delay_ns(uint64_t packets, TimeNs rtt_ns) {
    if (!profile_->has_loss()) return 0;
    const auto& ge = profile_->loss();
    const TimeNs rto_ns =
        std::max(static_cast<TimeNs>(profile_->rto_min_ms() * 1e6), rtt_ns + rtt_ns / 2);
    TimeNs worst = 0;
    for (uint64_t p = 0; p < packets; ++p) {
      TimeNs delay = 0, rto = rto_ns;
      for (int attempt = 0; attempt < kMaxRetransmissions && lost(ge); ++attempt) {
        delay += rto;
        rto *= 2;
      }
      worst = std::max(worst, delay);
    }
    return worst;
  }

  bool lost(const v1::GilbertElliott& ge) {
    bad_ = bad_ ? !rng_.bernoulli(ge.p_bad_to_good()) : rng_.bernoulli(ge.p_good_to_bad());
    return rng_.bernoulli(bad_ ? ge.loss_bad() : ge.loss_good());
  }

  const v1::NetworkProfile* profile_;
  double ns_per_byte_;
  agents::Rng rng_;
  TimeNs busy_until_ns_ = 0;
  TimeNs last_delivery_ns_ = 0;
  bool bad_ = false;
  uint64_t bytes_ = 0;
  uint64_t stream_owner_ = 0;
  TimeNs stream_next_ns_ = kNoStream;
  TimeNs stream_period_ns_ = 1;
  uint32_t stream_bytes_ = 0;
  uint64_t stream_frames_ = 0;
};

// The outage windows of one member's link: the profile's on/off process
// (drawn lazily, in time order) plus any scheduled mass outages.
class OutageSchedule {
 public:
  // The process starts up at `start_ns` (the run's start).
  OutageSchedule(const v1::OutageProcess* process, agents::Rng rng, TimeNs start_ns)
      : process_(process), rng_(rng) {
    draw_next(start_ns);
  }

  // REQUIRES: windows added before the first query, sorted or not.
  void add_window(TimeNs start, TimeNs end) { extra_.push_back({start, end}); }

  // The outage window covering `t` or starting after it, whichever is first:
  // {start, end}; {kNoOutage, kNoOutage} when none. `t` must not decrease
  // between calls.
  struct Window {
    TimeNs start;
    TimeNs end;
  };
  static constexpr TimeNs kNoOutage = INT64_MAX;

  Window next_window(TimeNs t) {
    while (random_.end <= t) draw_next(random_.end);
    Window best = random_;
    for (const Window& w : extra_) {
      if (w.end > t && w.start < best.start) best = w;
    }
    // Merge overlapping windows so `end` is when the link is really back.
    bool grew = true;
    while (grew) {
      grew = false;
      for (const Window& w : extra_) {
        if (w.start <= best.end && w.end > best.end && w.end > t) {
          best.end = w.end;
          grew = true;
        }
      }
      if (random_.start <= best.end && random_.end > best.end) {
        best.end = random_.end;
        grew = true;
      }
    }
    return best;
  }

  // Whether the link is down at `t`, and until when.
  bool down_at(TimeNs t, TimeNs* until) {
    const Window w = next_window(t);
    if (w.start <= t && t < w.end) {
      *until = w.end;
      return true;
    }
    return false;
  }

 private:
  void draw_next(TimeNs from) {
    if (process_ == nullptr || process_->mean_up_s() <= 0) {
      random_ = {kNoOutage, kNoOutage};
      return;
    }
    const TimeNs up = static_cast<TimeNs>(rng_.exponential(process_->mean_up_s()) * 1e9);
    const TimeNs down = static_cast<TimeNs>(draw(process_->down_s(), rng_) * 1e9);
    random_ = {from + up, from + up + std::max<TimeNs>(down, 1)};
    CELLSIM_ASSERT(random_.start >= from && random_.end > random_.start);
  }

  const v1::OutageProcess* process_;
  agents::Rng rng_;
  Window random_{kNoOutage, kNoOutage};
  std::vector<Window> extra_;
};

}  // namespace cellsim::host

#endif  // CELLSIM_HOST_LINK_H_
