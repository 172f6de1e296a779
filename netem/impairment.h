// The per-packet impairment of ONE direction of ONE member's link, for the
// packet-level live mode (issue 11): the user-space emulator between the
// agents' and the server's network namespaces asks it, for every IP packet,
// whether the packet is dropped or when it is delivered. Sans-IO: the time
// is passed in, nothing here reads a clock or touches a socket.
//
// The pipeline, for a packet of `size_bytes` handed over at `now_ns`:
//   1. outage: the member's link is down at now_ns (OutageSchedule, shared by
//      both directions) → dropped;
//   2. drop-tail queue: the packets accepted and not yet serialised by
//      now_ns, plus this one, would exceed the packet or byte bound → dropped;
//   3. serialisation at the direction's bandwidth (bandwidth_up_kbps for
//      member → server, bandwidth_down_kbps for server → member; 0 means
//      unlimited): the packet leaves the queue at
//      max(now_ns, previous departure) + size_bytes * 8 / bandwidth;
//   4. Gilbert–Elliott loss, the chain stepped once per packet in arrival
//      order (transition first, then the loss draw in the new state, as
//      host/link.h does), for EVERY packet handed over, whatever its fate, so
//      the chain is a function of the packet index alone; a lost packet
//      still occupied the link (it is lost on the wire);
//   5. one-way delay base_one_way_ms + draw(jitter_ms), and delivery never
//      earlier than the previous delivered packet of this direction
//      (order-preserving).
//
// Random draws: packet k of (member, direction) uses a fresh stream
// agents::Rng(packet_seed(seed, k), StreamKind::kPacket, member * 2 + direction)
// (the first scheme of issue 11's brief), so its draws depend only on
// (seed, member, direction, k), never on timing or on how many draws other
// packets made. Its verdict also depends on the GE state (a function of the
// draws of packets 0..k) and on the arrival times (queue, outage).
//
// Invariants: successive delivery times never decrease; a delivery is never
// earlier than its packet's arrival; the queue never holds more than
// queue_limit_packets packets or queue_limit_bytes bytes.
//
// Thread-safety: none; one thread drives a direction. An OutageSchedule is
// shared by the two directions of one member and so by that one thread.
#ifndef CELLSIM_NETEM_IMPAIRMENT_H_
#define CELLSIM_NETEM_IMPAIRMENT_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "agents/rng.h"
#include "cellsim/v1/scenario.pb.h"

namespace cellsim::netem {

// Nanoseconds on the caller's clock (steady clock in the emulator, anything
// monotone in tests).
using TimeNs = int64_t;

enum class Direction : uint64_t {
  kUp = 0,    // member → server
  kDown = 1,  // server → member
};

// The seed of packet k's stream: a bijection of k for a given run seed, so
// two packets of one (member, direction) never share a stream.
uint64_t packet_seed(uint64_t seed, uint64_t packet_index);

// Hard ceiling on a queue's configured packet bound.
inline constexpr uint32_t kMaxQueueLimitPackets = 1 << 16;
// Default drop-tail bounds: about 100 full-size packets, as a modest
// router buffer.
inline constexpr uint32_t kDefaultQueueLimitPackets = 100;
inline constexpr uint64_t kDefaultQueueLimitBytes = 150'000;
// How far before the latest query an OutageSchedule query may lie (the two
// directions' clocks interleave); older windows are forgotten.
inline constexpr TimeNs kOutageQuerySkewNs = 60'000'000'000;
// Windows an OutageSchedule holds at most (generated ahead + retained).
inline constexpr size_t kMaxOutageWindows = 4096;

// The outage windows of one member's link: the profile's on/off process,
// drawn lazily in time order from Rng(seed, kOutage, member) exactly as
// host::OutageSchedule draws it (so frame and packet mode see the same
// windows), plus scheduled windows. Windows are a function of the seed, not
// of the query times.
class OutageSchedule {
 public:
  // `process` may be null (no random outages). The process starts up at
  // `start_ns`. REQUIRES: `process` outlives the schedule.
  OutageSchedule(const v1::OutageProcess* process, uint64_t seed, uint64_t member, TimeNs start_ns);

  // A scheduled window [start_ns, end_ns). REQUIRES: start_ns < end_ns.
  void add_window(TimeNs start_ns, TimeNs end_ns);

  // Whether the link is down at t; if so *until_ns is when it is back
  // (overlapping windows merged). REQUIRES: t >= latest query - kOutageQuerySkewNs.
  bool down_at(TimeNs t, TimeNs* until_ns);

 private:
  struct Window {
    TimeNs start_ns;
    TimeNs end_ns;
  };
  void draw_next();

  const v1::OutageProcess* process_;
  agents::Rng rng_;
  std::deque<Window> random_;  // in time order, disjoint; bounded by kMaxOutageWindows
  TimeNs next_from_ns_;        // where the next random window's up time starts
  std::vector<Window> extra_;
  TimeNs latest_query_ns_ = INT64_MIN;
};

struct ImpairmentConfig {
  const v1::NetworkProfile* profile = nullptr;  // REQUIRES: outlives the Impairment
  Direction direction = Direction::kUp;
  uint64_t seed = 0;
  uint64_t member = 0;  // REQUIRES: < 2^62
  uint32_t queue_limit_packets = kDefaultQueueLimitPackets;
  uint64_t queue_limit_bytes = kDefaultQueueLimitBytes;
  // Null: no outages. REQUIRES: outlives the Impairment.
  OutageSchedule* outages = nullptr;
};

enum class Fate {
  kDeliver,
  kDropOutage,
  kDropQueue,
  kDropLoss,
};

struct Verdict {
  Fate fate = Fate::kDeliver;
  TimeNs deliver_at_ns = 0;  // meaningful for kDeliver only
  uint64_t packet_index = 0;
};

struct ImpairmentStats {
  uint64_t packets = 0;
  uint64_t delivered = 0;
  uint64_t dropped_outage = 0;
  uint64_t dropped_queue = 0;
  uint64_t dropped_loss = 0;
};

class Impairment {
 public:
  // REQUIRES: config.profile != nullptr; 0 < queue_limit_packets <=
  // kMaxQueueLimitPackets; queue_limit_bytes > 0.
  explicit Impairment(const ImpairmentConfig& config);

  // The fate of the next packet. REQUIRES: now_ns not before the previous
  // call's; size_bytes > 0.
  Verdict handle_packet(TimeNs now_ns, uint32_t size_bytes);

  // Serialisation time of `size_bytes` at this direction's bandwidth (0 when
  // unlimited).
  TimeNs serialisation_ns(uint32_t size_bytes) const;

  const ImpairmentStats& stats() const { return stats_; }
  // Packets and bytes queued (accepted, not yet fully serialised) at the
  // last handle_packet().
  size_t queued_packets() const { return queue_.size(); }
  uint64_t queued_bytes() const { return queued_bytes_; }
  bool in_bad_state() const { return bad_; }

 private:
  struct Queued {
    TimeNs departure_ns;
    uint32_t size_bytes;
  };
  // Steps the GE chain with this packet's stream; true when it is lost.
  bool step_loss(agents::Rng& rng);
  TimeNs draw_delay_ns(agents::Rng& rng) const;

  ImpairmentConfig config_;
  uint32_t bandwidth_kbps_;
  uint64_t next_index_ = 0;
  TimeNs last_now_ns_ = INT64_MIN;
  TimeNs busy_until_ns_ = INT64_MIN;  // when the last accepted packet is serialised
  TimeNs last_delivery_ns_ = INT64_MIN;
  std::deque<Queued> queue_;  // bounded by config_.queue_limit_packets
  uint64_t queued_bytes_ = 0;
  bool bad_ = false;
  ImpairmentStats stats_;
};

}  // namespace cellsim::netem

#endif  // CELLSIM_NETEM_IMPAIRMENT_H_
