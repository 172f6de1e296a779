// The link model (DESIGN.md, "Simulator"), per member and direction: an
// analytic per-frame model of one direction of a TCP connection over the
// member's link, used by both hosts — the simulator on virtual time, the
// live driver's frame mode on the steady clock. It answers, for a frame of
// `bytes` handed to TCP at `now`, when its last byte is delivered.
//
// The rules, and where each comes from:
//   * Packets: a frame is ceil(bytes / kMssBytes) packets of at most
//     kMssBytes payload + kPacketOverheadBytes headers (IPv4 + TCP with
//     timestamps).
//   * Serialisation at the direction's bandwidth (bandwidth_up_kbps member →
//     server, bandwidth_down_kbps server → member; 0: unlimited), packets
//     back to back behind whatever is still being serialised.
//   * One-way delay base_one_way_ms + draw(jitter_ms), one draw per frame;
//     delivery in order, never before the previous frame's (TCP's
//     head-of-line blocking).
//   * Gilbert–Elliott loss (scenario.proto): the chain is stepped once per
//     packet the direction carries, in time order (first transmissions; the
//     media stream's packets included), then the loss is drawn in the new
//     state. A retransmission sent `w` ns after its lost packet sees the
//     chain `n` packets on, n = w / (mean packet spacing), drawn from the
//     n-step transition P(bad | s) = π + (s − π)(1 − a − b)^n with
//     π = a / (a + b) (a = p_good_to_bad, b = p_bad_to_good): a burst that
//     ends between two retries no longer compounds (issue 11, problem 1).
//   * Loss repair, as Linux does it (RACK-TLP, RFC 8985; RTO, RFC 6298):
//     later packets (the rest of the frame at once, then the direction's
//     traffic at its mean packet spacing, each subject to the same chain)
//     that get through mark the loss when their acknowledgement returns
//     (after a retransmission, the traffic's next packet comes a uniform
//     part of a spacing on, the retry falling anywhere in its period):
//     the first at max(gap + SRTT, SRTT + SRTT/4) (RFC 8985 §6.2, reo_wnd =
//     min_RTT/4), the third at gap + SRTT (reo_wnd 0 once dupthresh packets
//     are acknowledged, as Linux's tcp_rack_reo_wnd); if none does before
//     the RTO, the tail loss probe fires after PTO = 2·SRTT + 2 ms, or +
//     rto_min when nothing else is in flight, clamped to the RTO (RFC 8985
//     §7.2; Linux's tcp_schedule_loss_probe), once, before any timeout;
//     then the retransmission timer, one RTO after the probe. Each timer
//     expiry doubles the RTO (RFC 6298 §5.5), up to kRtoMaxNs: r losses of
//     a lone packet cost RTO × 2^(r−1).
//   * RTO as Linux computes it (RtoEstimator: RFC 6298 §2 with Linux's
//     slow-decaying variance, net/ipv4/tcp_input.c), from one sample per
//     frame not retransmitted (Karn's rule); a new connection's first
//     sample is its handshake (the base round trip passed in). A sample is
//     the frame's queueing, serialisation and one-way delay as its packets
//     arrive (held back only by earlier packets, not by repairs), plus a
//     one-way delay of its own for the acknowledgement.
//   * A drop-tail queue in front of the bottleneck, of queue_limit_packets
//     packets and queue_limit_bytes bytes (0: kDefaultQueueLimit*): a packet
//     arriving when the backlog is full is dropped and repaired as a loss —
//     at most once per SRTT, as a sender whose congestion window halves on
//     the drop sees it (RFC 5681 §3.2); the rest of the backlog waits in the
//     sender's buffer, so delivery is still backlog-bound.
//   * Acknowledgements: a direction also carries the ACKs of its reverse
//     direction's data (set_reverse()): one per two data packets or per
//     delayed-ACK timer (Linux's TCP_DELACK_MIN, 40 ms), whichever comes
//     first, while the reverse carries data (its stream, or frames in the
//     last kAckActiveNs). They are packets of the direction like any other:
//     they step the Gilbert–Elliott chain between a loss and its retry (so a
//     burst on a direction with little data of its own no longer compounds
//     its retries) — not the chain first transmissions see, which steps per
//     data packet only, so that a frame's loss stays a function of the
//     frame sequence, not of timing (frame mode's reproducibility) — and,
//     delivered in
//     order with their own one-way delays, they hold back the data behind
//     them (the ACKs of the last kAckLookbackNs are drawn per frame).
//     Measured with `cellsim linkcheck`: receivers send about one segment
//     per 1.8 data segments of a 50 frame/s stream.
//   * Handshakes: a SYN or SYN-ACK lost waits the initial RTO of 1 s,
//     doubling (RFC 6298 §5.7, Linux's TCP_TIMEOUT_INIT);
//     handshake_packet_ns().
//   * A packet retransmitted kMaxRetransmissions times is counted as given
//     up; the hosts break a connection whose repair outlasts their liveness
//     window (last_repair_ns()).
//   * Outages are the hosts' (HostMember::after_outages, OutageSchedule):
//     what is sent while the link is down is lost, as the packet emulator
//     drops at ingress. `cellsim linkcheck` compares all of this with the
//     kernel's TCP through the emulator, per profile.
//
// Datagrams (the `datagram` media transport; transmit_datagram()): a UDP
// packet of the bytes given plus kUdpIpHeaderBytes shares the direction's
// bandwidth and drop-tail queue with the TCP connection (serialised behind
// whatever is being sent; dropped whenever the queue is full: a datagram
// flow does not back off), draws a one-way delay of its own, and is lost
// for good on a Gilbert–Elliott loss (no retransmission: it never waits
// for TCP's repairs or in-order delivery to the application). The path is
// FIFO, as the packet emulator's is (netem/impairment.h, step 5): a packet,
// datagram or TCP segment, is never delivered before the one sent ahead of
// it on the direction, so a long one-way draw holds back the packets
// behind it — measured against packet mode, independent per-datagram
// delays made about half the late frames on GEO and L-band links. Datagrams step a chain of their own (the
// profile's parameters), once per datagram in datagram order, so that a
// frame's loss stays a function of the frame sequence and a datagram's of
// the datagram sequence (the TCP chain and the datagram chain are not
// correlated with each other: a simplification). Outages are the hosts'.
//
// Reproducibility: frame k of a direction draws from its own stream,
// derived from the direction's stream and k, so which draws a frame gets
// depends on (member, direction, frame index) and not on timing. The
// connect/close delays (draw_delay_ns()) use the direction's own stream.
//
// Invariants: delivery times of successive frames never decrease and are
// never before the frame was handed over; the chain steps once per first
// transmission; the queue never tracks more than kMaxTrackedQueuePackets.
//
// Thread-safety: none; each member's links belong to one host thread.
#ifndef CELLSIM_HOST_LINK_H_
#define CELLSIM_HOST_LINK_H_

#include <algorithm>
#include <cstdint>
#include <deque>
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
// Retransmissions of one packet the model follows (Linux's tcp_retries2).
inline constexpr int kMaxRetransmissions = 15;
// Later packets looked at for one loss's detection (RACK), at most.
inline constexpr int kMaxProbePackets = 64;
// Linux's TCP_RTO_MAX, TCP_TIMEOUT_INIT and TCP_TIMEOUT_MIN.
inline constexpr TimeNs kRtoMaxNs = 120'000'000'000;
inline constexpr TimeNs kRtoInitialNs = 1'000'000'000;
inline constexpr TimeNs kTlpExtraNs = 2'000'000;
// The drop-tail queue's defaults (scenario.proto's queue_limit_* at 0): a
// modest router buffer; netem/ uses the same.
inline constexpr uint32_t kDefaultQueueLimitPackets = 100;
inline constexpr uint32_t kDefaultQueueLimitBytes = 150'000;
// Departures the queue tracks at most (a backlog beyond the limit waits in
// the sender's buffer and is not tracked packet by packet).
inline constexpr size_t kMaxTrackedQueuePackets = 1 << 16;
// Frames of a stream caught up at once; a longer gap skips the excess (a
// stream is meant to be stopped within minutes).
inline constexpr uint64_t kMaxStreamCatchUpFrames = 1'000'000;
// The ACKs a direction carries (see the header): Linux's delayed-ACK
// minimum; how long after the reverse's last data it still carries ACKs;
// how far back, and for how many ACKs at most, a frame looks for ACKs still
// in flight ahead of it.
inline constexpr TimeNs kDelayedAckNs = 40'000'000;
inline constexpr TimeNs kAckActiveNs = 1'000'000'000;
inline constexpr TimeNs kAckLookbackNs = 500'000'000;
inline constexpr int kMaxAckLookback = 16;
// LinkDirection::stop_stream() with this owner stops whoever's stream it is.
inline constexpr uint64_t kStreamOwnerAny = UINT64_MAX;
// IPv4 and UDP headers of a datagram on the wire (proto/datagram.h's
// kUdpIpOverheadBytes).
inline constexpr uint32_t kUdpIpHeaderBytes = 28;
// transmit_datagram()'s answer for a datagram that never arrives.
inline constexpr TimeNs kDatagramLost = -1;

// How a stream's frames travel: on the TCP connection (in order, repaired)
// or as datagrams (header).
enum class StreamTransport : uint8_t { kTcp, kDatagram };

// Told of every frame a stream carries, as it is caught up (in frame order):
// frame `index` (0 for the stream's first) of the stream of `owner`, handed
// to the link at `sent_ns`, delivered at `arrival_ns` (kDatagramLost: never).
class StreamSink {
 public:
  virtual void on_stream_frame(uint64_t owner, uint64_t index, TimeNs sent_ns,
                               TimeNs arrival_ns) = 0;

 protected:
  ~StreamSink() = default;
};

// The sender's retransmission timeout as Linux computes it
// (net/ipv4/tcp_input.c, tcp_rtt_estimator and __tcp_set_rto; RFC 6298 §2
// with Linux's changes): SRTT moves 1/8 towards each sample; MDEV (kept as
// 4 × the mean deviation) moves 1/4 towards 4·|error|, but only 1/32 when
// the sample is below SRTT; RTTVAR is the largest MDEV of the current
// round trip, floored at rto_min, and decays a quarter of the way towards
// that maximum once per round trip; RTO = SRTT + RTTVAR, at most
// kRtoMaxNs. The first sample sets SRTT = R, MDEV = 2R.
// Invariant: rto_ns() in [srtt + rto_min, kRtoMaxNs] once sampled.
class RtoEstimator {
 public:
  explicit RtoEstimator(TimeNs rto_min_ns) : rto_min_ns_(rto_min_ns) {}
  bool has_sample() const { return has_sample_; }
  void clear() { has_sample_ = false; }
  // One round-trip measurement taken at `now_ns` (Karn: never of a
  // retransmitted segment).
  void sample(TimeNs now_ns, TimeNs rtt_ns);
  TimeNs srtt_ns() const { return has_sample_ ? srtt_ns_ : 0; }
  TimeNs mdev_ns() const { return has_sample_ ? mdev_ns_ : 0; }
  TimeNs rttvar_ns() const { return has_sample_ ? rttvar_ns_ : 0; }
  // SRTT + RTTVAR, at most kRtoMaxNs; kRtoInitialNs before any sample.
  TimeNs rto_ns() const;

 private:
  TimeNs rto_min_ns_;
  bool has_sample_ = false;
  TimeNs srtt_ns_ = 0;
  TimeNs mdev_ns_ = 0;
  TimeNs mdev_max_ns_ = 0;
  TimeNs rttvar_ns_ = 0;
  TimeNs round_end_ns_ = 0;  // when the current round trip's window closes
};

// P(the chain is bad n packets on | bad now), for the n-step transition.
double ge_bad_after(const v1::GilbertElliott& ge, bool bad_now, uint64_t n);

// What the model decided for one frame (tests and the live reproducibility
// check record them: set_decision_log()).
struct FrameDecision {
  uint64_t frame_index = 0;
  uint32_t bytes = 0;
  TimeNs delay_ns = 0;        // the one-way delay drawn
  uint32_t lost_packets = 0;  // first transmissions lost on the wire (GE)
  uint32_t queue_drops = 0;   // dropped at the full queue
  TimeNs repair_ns = 0;       // the frame's extra delay from repairs
};

// Counts since construction.
struct LinkStats {
  uint64_t frames = 0;
  uint64_t packets = 0;          // first transmissions
  uint64_t lost_packets = 0;     // GE losses of first transmissions
  uint64_t queue_drops = 0;
  uint64_t retransmissions = 0;  // every repair attempt sent
  uint64_t fast_repairs = 0;     // repaired by RACK or the tail probe
  uint64_t rto_expiries = 0;
  uint64_t given_up = 0;         // packets past kMaxRetransmissions
  uint64_t datagrams = 0;        // transmit_datagram() calls (streams' included)
  uint64_t datagrams_lost = 0;   // of which lost on the wire (GE)
  uint64_t datagram_queue_drops = 0;  // of which dropped at the full queue
};

// One direction of a member's link.
class LinkDirection {
 public:
  // `rng` is the direction's stream (per member and direction).
  LinkDirection(const v1::NetworkProfile* profile, uint32_t bandwidth_kbps, agents::Rng rng);

  // The one-way propagation delay of one packet: base + jitter, ns (from the
  // direction's own stream: connects and closes).
  TimeNs draw_delay_ns() { return draw_delay_ns(rng_); }

  // How long one handshake packet (a SYN, a SYN-ACK, a TLS flight) takes
  // to cross: the one-way delay, plus, for each loss (the chain stepped per
  // attempt), a wait of `first_rto_ns` doubling per attempt — a SYN's
  // initial RTO is kRtoInitialNs (RFC 6298 §5.7; Linux's
  // tcp_syn_retries ladder). Draws from the direction's own stream.
  TimeNs handshake_packet_ns(TimeNs first_rto_ns);

  // A frame of `bytes` handed to the link at `now` (the link is up): when it
  // is delivered. `rtt_ns` is the connection's base round trip, the
  // handshake's sample for a connection that has no other yet.
  // REQUIRES: now not before the previous transmit's.
  TimeNs transmit(TimeNs now, size_t bytes, TimeNs rtt_ns) {
    catch_up(now, rtt_ns);
    return transmit_one(now, bytes, rtt_ns);
  }

  // A datagram of `bytes` (UDP payload) handed to the link at `now` (the
  // link is up): when it arrives, or kDatagramLost (header). Datagram k of
  // the direction draws from a stream of its own, derived from the
  // direction's stream and k.
  // REQUIRES: now not before the previous transmit's or datagram's.
  TimeNs transmit_datagram(TimeNs now, size_t bytes);

  // A stream this direction carries besides the frames given to transmit():
  // a frame of `bytes` every `period_ns` from `start_ns` until stop_stream()
  // (the simulator's media: DESIGN.md's fluid model, made to occupy the link
  // as the real frames do). Over kTcp its frames take bandwidth, draw delays
  // and losses, and hold back the frames behind them (in-order delivery:
  // TCP's head-of-line blocking), exactly as transmit() would; over
  // kDatagram each is a transmit_datagram() of `bytes`. They are caught up
  // lazily, before each transmit() or transmit_datagram() and at stop, and
  // each is told to `sink` (null: nobody). One stream at a time: a new one
  // (another `owner`) replaces it; stop_stream() of an owner whose stream
  // was replaced does nothing.
  // REQUIRES: period_ns > 0; sink (if any) outlives the stream.
  void start_stream(uint64_t owner, TimeNs start_ns, TimeNs period_ns, uint32_t bytes,
                    TimeNs rtt_ns, StreamTransport transport = StreamTransport::kTcp,
                    StreamSink* sink = nullptr);
  void stop_stream(uint64_t owner, TimeNs now, TimeNs rtt_ns);
  // Catches the stream up to `now` (its frames sent before now are told to
  // the sink); nothing else moves.
  void advance_stream(TimeNs now) { catch_up(now, stream_rtt_ns_); }
  bool streaming() const { return stream_next_ns_ != kNoStream; }
  // Whether the stream is on the TCP connection (its data, its ACKs).
  bool tcp_streaming() const { return streaming() && stream_transport_ == StreamTransport::kTcp; }
  // The gap between this direction's TCP data packets: its stream's period
  // while it streams over TCP, else the mean gap; 0 when unknown.
  TimeNs traffic_spacing_ns() const {
    return tcp_streaming() ? stream_period_ns_ : static_cast<TimeNs>(mean_spacing_ns_);
  }
  uint64_t stream_frames() const { return stream_frames_; }

  // The connection's other direction, whose data this one acknowledges
  // (null: none). REQUIRES: outlives this object.
  void set_reverse(const LinkDirection* reverse) { reverse_ = reverse; }
  // The spacing of the ACKs this direction carries at `now` for its
  // reverse's data; 0 when it carries none.
  TimeNs ack_spacing_ns(TimeNs now) const;

  // A new connection: its own RTT estimate and queue; the link stays busy
  // with what it was serialising.
  void reset(TimeNs now);

  // Holds delivery until at least `t` (an outage stalls the stream).
  void stall_until(TimeNs t) { last_delivery_ns_ = std::max(last_delivery_ns_, t); }

  // The sender's RTO now (outages use it for their backoff ladder).
  TimeNs rto_ns() const { return est_.rto_ns(); }
  const RtoEstimator& estimator() const { return est_; }
  // When the last frame's packets arrived, repairs left out (its transit).
  TimeNs last_wire_delivery_ns() const { return last_wire_delivery_ns_; }
  // The repair delay of the last frame transmitted (0: none lost).
  TimeNs last_repair_ns() const { return last_repair_ns_; }
  uint64_t bytes() const { return bytes_; }
  const LinkStats& stats() const { return stats_; }
  // Non-null: every frame's decision is appended (tests; REQUIRES: the
  // vector outlives its use and the caller bounds the run).
  void set_decision_log(std::vector<FrameDecision>* log) { log_ = log; }

 private:
  static constexpr TimeNs kNoStream = INT64_MAX;

  void catch_up(TimeNs now, TimeNs rtt_ns);
  // transmit_datagram() without catching up.
  TimeNs send_datagram(TimeNs now, size_t bytes);
  TimeNs transmit_one(TimeNs now, size_t bytes, TimeNs rtt_ns);
  TimeNs draw_delay_ns(agents::Rng& rng) const;
  agents::Rng frame_rng(uint64_t frame_index) const;
  agents::Rng datagram_rng(uint64_t datagram_index) const;
  // Whether the drop-tail queue (queue_) is full for a packet of
  // `wire_bytes` reaching it at `now`.
  bool queue_full(TimeNs now, uint32_t wire_bytes);
  void note_handover(TimeNs now, uint64_t packets);
  // Steps the committed chain for one first transmission: true when lost.
  bool step_chain(agents::Rng& rng);
  // Whether a TCP packet of `wire_bytes` reaching the queue at `now` is
  // dropped: the queue is full, and no drop in the last SRTT.
  bool queue_drops(TimeNs now, uint32_t wire_bytes);
  // The extra delay until a packet lost at its first transmission is
  // delivered; `later_in_frame`: packets of the frame that follow it at
  // once; `multi_packet`: the frame has other packets (in flight with it).
  TimeNs repair_ns(agents::Rng& rng, uint64_t later_in_frame, bool multi_packet);
  TimeNs probe_timeout_ns(bool others_in_flight) const;
  // When a loss is detected by later packets getting through (RACK), ns
  // after the lost one was sent; -1 if not before `rto_ns`. `bad`: the
  // chain's state at the lost packet.
  // `phase`: when the first later packet of the direction's traffic
  // follows, in mean spacings.
  TimeNs rack_detect_ns(agents::Rng& rng, bool bad, uint64_t later_in_frame, double phase,
                        TimeNs rto_ns) const;
  bool draw_loss(agents::Rng& rng, bool* bad, uint64_t steps) const;
  // The latest delivery of the ACKs sent in the kAckLookbackNs before `now`.
  TimeNs acks_delivered_by_ns(agents::Rng& rng, TimeNs now) const;
  // The mean gap between packets of any kind (data and ACKs); 0: unknown.
  TimeNs packet_spacing_ns() const;

  const v1::NetworkProfile* profile_;
  double ns_per_byte_;
  agents::Rng rng_;
  uint64_t key_;  // frame k's stream derives from (key_, k)
  uint64_t frame_index_ = 0;
  RtoEstimator est_;
  uint32_t queue_limit_packets_;
  uint32_t queue_limit_bytes_;
  // The packets in the bottleneck's queue (or being serialised), by
  // departure time, and their wire bytes: the drop-tail queue's backlog.
  // Counted from the packets themselves, not from busy_until_ns_, which a
  // stream caught up ahead of the link's clock (a stream stopped at a
  // later time) pushes ahead over idle time that holds no bytes.
  struct QueuedPacket {
    TimeNs departure_ns;
    uint32_t wire_bytes;
  };
  std::deque<QueuedPacket> queue_;  // bounded by kMaxTrackedQueuePackets
  uint64_t queued_bytes_ = 0;       // sum of queue_'s wire_bytes
  // Drops the packets departed by `now`.
  void pop_departed(TimeNs now);
  void enqueue(TimeNs departure_ns, uint32_t wire_bytes);
  TimeNs last_queue_drop_ns_ = INT64_MIN / 2;
  TimeNs last_handover_ns_ = INT64_MIN;
  double mean_spacing_ns_ = 0;  // EWMA of the gap between data packets; 0: unknown
  const LinkDirection* reverse_ = nullptr;
  TimeNs ack_spacing_now_ = 0;  // ack_spacing_ns() at the frame being sent
  TimeNs busy_until_ns_ = 0;
  TimeNs last_delivery_ns_ = 0;       // the last frame's, repairs included
  TimeNs last_wire_delivery_ns_ = 0;  // its packets', repairs left out
  TimeNs last_repair_ns_ = 0;
  TimeNs previous_delay_ns_ = 0;  // the last frame's one-way draw
  bool bad_ = false;
  uint64_t bytes_ = 0;
  uint64_t stream_owner_ = 0;
  TimeNs stream_next_ns_ = kNoStream;
  TimeNs stream_period_ns_ = 1;
  uint32_t stream_bytes_ = 0;
  uint64_t stream_frames_ = 0;
  uint64_t stream_index_ = 0;  // the next stream frame's index in its stream
  TimeNs stream_rtt_ns_ = 0;
  StreamTransport stream_transport_ = StreamTransport::kTcp;
  StreamSink* stream_sink_ = nullptr;
  uint64_t datagram_index_ = 0;
  bool datagram_bad_ = false;  // the datagram chain's state
  LinkStats stats_;
  std::vector<FrameDecision>* log_ = nullptr;
};

// The outage windows of one member's link: the profile's on/off process
// (drawn lazily, in time order) plus any scheduled mass outages.
//
// Queries in time order use next_window(); a look-ahead (a host asks,
// during an outage, for the window after it) uses window_after(), which
// forgets nothing. The windows drawn are kept until they end kOutageKeepNs
// before the latest next_window() query, so even a look-ahead through
// next_window() keeps the window in force unless it looks more than that
// far ahead. (An earlier version kept only the latest window: a look-ahead
// from inside an outage skipped it, and frames sent during it went
// through.)
// Invariant: random_ is in time order, disjoint, at most kMaxOutageWindows.
inline constexpr TimeNs kOutageKeepNs = 3600'000'000'000;
inline constexpr size_t kMaxOutageWindows = 1 << 16;

class OutageSchedule {
 public:
  // The process starts up at `start_ns` (the run's start).
  OutageSchedule(const v1::OutageProcess* process, agents::Rng rng, TimeNs start_ns)
      : process_(process), rng_(rng), next_from_ns_(start_ns) {}

  // REQUIRES: windows added before the first query, sorted or not.
  void add_window(TimeNs start, TimeNs end) { extra_.push_back({start, end}); }

  // The outage window covering `t` or starting after it, whichever is first:
  // {start, end}, overlapping windows merged; {kNoOutage, kNoOutage} when
  // none. A `t` more than kOutageKeepNs before the latest query may miss
  // windows already forgotten.
  struct Window {
    TimeNs start;
    TimeNs end;
  };
  static constexpr TimeNs kNoOutage = INT64_MAX;

  Window next_window(TimeNs t);
  // The same, for a look-ahead: forgets nothing, moves no clock.
  Window window_after(TimeNs t) { return find(t); }

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
  bool random() const { return process_ != nullptr && process_->mean_up_s() > 0; }
  void draw_next();
  Window find(TimeNs t);
  // The first random window ending after t (drawing as needed); kNoOutage
  // when there is no process.
  Window first_random_after(TimeNs t);

  const v1::OutageProcess* process_;
  agents::Rng rng_;
  TimeNs next_from_ns_;        // where the next random window is drawn from
  TimeNs latest_query_ns_ = INT64_MIN;
  std::deque<Window> random_;  // drawn, not yet forgotten
  std::vector<Window> extra_;
};

}  // namespace cellsim::host

#endif  // CELLSIM_HOST_LINK_H_
