#include "host/link.h"

#include <cmath>
#include <cstdlib>

namespace cellsim::host {

// --- RtoEstimator -----------------------------------------------------------

void RtoEstimator::sample(TimeNs now_ns, TimeNs rtt_ns) {
  rtt_ns = std::max<TimeNs>(rtt_ns, 1);
  if (!has_sample_) {  // tcp_rtt_estimator's first sample
    srtt_ns_ = rtt_ns;
    mdev_ns_ = 2 * rtt_ns;
    mdev_max_ns_ = rttvar_ns_ = std::max(mdev_ns_, rto_min_ns_);
    round_end_ns_ = now_ns + srtt_ns_;
    has_sample_ = true;
    return;
  }
  TimeNs err = rtt_ns - srtt_ns_;
  srtt_ns_ += err / 8;
  if (err < 0) {
    err = -err - mdev_ns_ / 4;
    if (err > 0) err /= 8;  // a falling RTT grows MDEV at 1/32 only
  } else {
    err -= mdev_ns_ / 4;
  }
  mdev_ns_ += err;
  if (mdev_ns_ > mdev_max_ns_) {
    mdev_max_ns_ = mdev_ns_;
    rttvar_ns_ = std::max(rttvar_ns_, mdev_max_ns_);
  }
  if (now_ns >= round_end_ns_) {  // a round trip ended: RTTVAR decays
    if (mdev_max_ns_ < rttvar_ns_) rttvar_ns_ -= (rttvar_ns_ - mdev_max_ns_) / 4;
    mdev_max_ns_ = rto_min_ns_;
    round_end_ns_ = now_ns + srtt_ns_;
  }
  CELLSIM_ASSERT(srtt_ns_ > 0 && rttvar_ns_ >= rto_min_ns_);
}

TimeNs RtoEstimator::rto_ns() const {
  if (!has_sample_) return kRtoInitialNs;
  const TimeNs rto = srtt_ns_ + rttvar_ns_;
  CELLSIM_ASSERT(rto > 0);
  return std::min(rto, kRtoMaxNs);
}

double ge_bad_after(const v1::GilbertElliott& ge, bool bad_now, uint64_t n) {
  const double a = ge.p_good_to_bad(), b = ge.p_bad_to_good();
  const double s = a + b;
  if (s <= 0) return bad_now ? 1.0 : 0.0;
  const double pi = a / s;
  const double p = pi + ((bad_now ? 1.0 : 0.0) - pi) * std::pow(1.0 - s, static_cast<double>(n));
  return std::clamp(p, 0.0, 1.0);
}

// --- LinkDirection ----------------------------------------------------------

namespace {

uint32_t or_default(uint32_t v, uint32_t fallback) { return v > 0 ? v : fallback; }

}  // namespace

LinkDirection::LinkDirection(const v1::NetworkProfile* profile, uint32_t bandwidth_kbps,
                             agents::Rng rng)
    : profile_(profile),
      ns_per_byte_(bandwidth_kbps > 0 ? 8e6 / bandwidth_kbps : 0),
      rng_(rng),
      key_(rng_.next()),
      est_(static_cast<TimeNs>(profile->rto_min_ms() * 1e6)),
      queue_limit_packets_(or_default(profile->queue_limit_packets(), kDefaultQueueLimitPackets)),
      queue_limit_bytes_(or_default(profile->queue_limit_bytes(), kDefaultQueueLimitBytes)) {}

TimeNs LinkDirection::draw_delay_ns(agents::Rng& rng) const {
  const double ms = profile_->base_one_way_ms() +
                    (profile_->has_jitter_ms() ? draw(profile_->jitter_ms(), rng) : 0.0);
  return static_cast<TimeNs>(ms * 1e6);
}

TimeNs LinkDirection::handshake_packet_ns(TimeNs first_rto_ns) {
  TimeNs wait = 0, rto = first_rto_ns;
  for (int attempt = 0; attempt < kMaxRetransmissions && step_chain(rng_); ++attempt) {
    wait += rto;
    rto = std::min(2 * rto, kRtoMaxNs);
  }
  return wait + draw_delay_ns(rng_);
}

agents::Rng LinkDirection::frame_rng(uint64_t frame_index) const {
  uint64_t state = frame_index;
  return agents::Rng(key_ ^ agents::splitmix64(&state), agents::StreamKind::kLinkUp, 0);
}

void LinkDirection::start_stream(uint64_t owner, TimeNs start_ns, TimeNs period_ns, uint32_t bytes,
                                 TimeNs rtt_ns, StreamTransport transport, StreamSink* sink) {
  CELLSIM_ASSERT(period_ns > 0);
  catch_up(start_ns, rtt_ns);
  stream_owner_ = owner;
  stream_next_ns_ = start_ns;
  stream_period_ns_ = period_ns;
  stream_bytes_ = bytes;
  stream_rtt_ns_ = rtt_ns;
  stream_transport_ = transport;
  stream_sink_ = sink;
  stream_index_ = 0;
}

void LinkDirection::stop_stream(uint64_t owner, TimeNs now, TimeNs rtt_ns) {
  if (stream_next_ns_ == kNoStream || (owner != stream_owner_ && owner != kStreamOwnerAny)) {
    return;
  }
  catch_up(now, rtt_ns);
  stream_next_ns_ = kNoStream;
}

void LinkDirection::reset(TimeNs now) {
  busy_until_ns_ = std::max(busy_until_ns_, now);
  last_delivery_ns_ = last_wire_delivery_ns_ = now;
  est_.clear();
  queue_.clear();
  queued_bytes_ = 0;
}

void LinkDirection::pop_departed(TimeNs now) {
  while (!queue_.empty() && queue_.front().departure_ns <= now) {
    queued_bytes_ -= queue_.front().wire_bytes;
    queue_.pop_front();
  }
}

void LinkDirection::enqueue(TimeNs departure_ns, uint32_t wire_bytes) {
  if (ns_per_byte_ <= 0 || queue_.size() >= kMaxTrackedQueuePackets) return;
  CELLSIM_ASSERT(queue_.empty() || queue_.back().departure_ns <= departure_ns);
  queue_.push_back({departure_ns, wire_bytes});
  queued_bytes_ += wire_bytes;
}

// Sends the stream's frames due before `now`.
void LinkDirection::catch_up(TimeNs now, TimeNs rtt_ns) {
  if (stream_next_ns_ >= now) return;
  uint64_t due = static_cast<uint64_t>((now - 1 - stream_next_ns_) / stream_period_ns_) + 1;
  if (due > kMaxStreamCatchUpFrames) {
    stream_next_ns_ += static_cast<TimeNs>(due - kMaxStreamCatchUpFrames) * stream_period_ns_;
    due = kMaxStreamCatchUpFrames;
  }
  // A datagram stream steps none of the TCP state; stream_next_ns_ moves
  // first, so a datagram at time t never re-enters catch_up below t.
  const bool datagrams = stream_transport_ == StreamTransport::kDatagram;
  for (uint64_t i = 0; i < due; ++i) {
    const TimeNs sent = stream_next_ns_;
    stream_next_ns_ += stream_period_ns_;
    const TimeNs arrival =
        datagrams ? send_datagram(sent, stream_bytes_) : transmit_one(sent, stream_bytes_, rtt_ns);
    if (stream_sink_ != nullptr) {
      stream_sink_->on_stream_frame(stream_owner_, stream_index_, sent, arrival);
    }
    ++stream_index_;
  }
  stream_frames_ += due;
}

TimeNs LinkDirection::transmit_datagram(TimeNs now, size_t bytes) {
  catch_up(now, stream_rtt_ns_);
  return send_datagram(now, bytes);
}

agents::Rng LinkDirection::datagram_rng(uint64_t datagram_index) const {
  uint64_t state = datagram_index;
  return agents::Rng(key_ ^ agents::splitmix64(&state), agents::StreamKind::kLinkUp, 1);
}

bool LinkDirection::queue_full(TimeNs now, uint32_t wire_bytes) {
  if (ns_per_byte_ <= 0) return false;
  pop_departed(now);
  return queue_.size() + 1 > queue_limit_packets_ ||
         queued_bytes_ + wire_bytes > queue_limit_bytes_;
}

TimeNs LinkDirection::send_datagram(TimeNs now, size_t bytes) {
  agents::Rng rng = datagram_rng(datagram_index_++);
  const auto wire = static_cast<uint32_t>(bytes + kUdpIpHeaderBytes);
  ++stats_.datagrams;
  bool lost = false;
  if (profile_->has_loss()) {
    const auto& ge = profile_->loss();
    datagram_bad_ =
        datagram_bad_ ? !rng.bernoulli(ge.p_bad_to_good()) : rng.bernoulli(ge.p_good_to_bad());
    lost = rng.bernoulli(datagram_bad_ ? ge.loss_bad() : ge.loss_good());
  }
  const TimeNs delay_ns = draw_delay_ns(rng);
  const TimeNs start = std::max(now, busy_until_ns_);
  if (queue_full(now, wire)) {
    ++stats_.datagram_queue_drops;
    return kDatagramLost;  // never enters the queue: takes no bandwidth
  }
  const TimeNs done = start + static_cast<TimeNs>(wire * ns_per_byte_);
  busy_until_ns_ = done;
  enqueue(done, wire);
  bytes_ += bytes;
  if (lost) {
    ++stats_.datagrams_lost;
    return kDatagramLost;  // lost past the bottleneck: it took its bandwidth
  }
  // A direction delivers in order, datagrams and TCP alike (a FIFO path, as
  // the packet emulator keeps it): never before the previous packet.
  const TimeNs arrival = std::max(done + delay_ns, last_wire_delivery_ns_);
  last_wire_delivery_ns_ = arrival;
  return arrival;
}

void LinkDirection::note_handover(TimeNs now, uint64_t packets) {
  if (last_handover_ns_ != INT64_MIN) {
    const double gap = static_cast<double>(now - last_handover_ns_) / static_cast<double>(packets);
    mean_spacing_ns_ = mean_spacing_ns_ == 0 ? gap : mean_spacing_ns_ + (gap - mean_spacing_ns_) / 8;
  }
  last_handover_ns_ = now;
}

TimeNs LinkDirection::ack_spacing_ns(TimeNs now) const {
  if (reverse_ == nullptr) return 0;
  TimeNs data_ns = 0;
  if (reverse_->tcp_streaming()) {
    data_ns = reverse_->stream_period_ns_;
  } else if (reverse_->mean_spacing_ns_ > 0 && reverse_->last_handover_ns_ != INT64_MIN &&
             std::llabs(now - reverse_->last_handover_ns_) < kAckActiveNs) {
    data_ns = static_cast<TimeNs>(reverse_->mean_spacing_ns_);
  }
  if (data_ns <= 0) return 0;
  // One ACK per two data packets, or per delayed-ACK timer (RFC 1122 §4.2.3.2).
  return std::max(data_ns, std::min(kDelayedAckNs, 2 * data_ns));
}

TimeNs LinkDirection::packet_spacing_ns() const {
  const double data = mean_spacing_ns_;
  const auto ack = static_cast<double>(ack_spacing_now_);
  if (data <= 0 || ack <= 0) return static_cast<TimeNs>(std::max(data, ack));
  return static_cast<TimeNs>(1.0 / (1.0 / data + 1.0 / ack));
}

TimeNs LinkDirection::acks_delivered_by_ns(agents::Rng& rng, TimeNs now) const {
  TimeNs latest = 0;
  for (int k = 1; k <= kMaxAckLookback && k * ack_spacing_now_ <= kAckLookbackNs; ++k) {
    latest = std::max(latest, now - k * ack_spacing_now_ + draw_delay_ns(rng));
  }
  return latest;
}

TimeNs LinkDirection::transmit_one(TimeNs now, size_t bytes, TimeNs rtt_ns) {
  if (!est_.has_sample()) est_.sample(now, rtt_ns);  // the handshake's round trip
  const uint64_t packets = std::max<uint64_t>(1, (bytes + kMssBytes - 1) / kMssBytes);
  agents::Rng rng = frame_rng(frame_index_);
  ack_spacing_now_ = ack_spacing_ns(now);
  note_handover(now, packets);
  FrameDecision d{frame_index_++, static_cast<uint32_t>(bytes), draw_delay_ns(rng), 0, 0, 0};
  TimeNs cursor = std::max(now, busy_until_ns_);
  size_t left = bytes;
  for (uint64_t p = 0; p < packets; ++p) {
    const size_t payload = std::min<size_t>(left, kMssBytes);
    left -= payload;
    const auto wire = static_cast<uint32_t>(payload + kPacketOverheadBytes);
    bool lost = step_chain(rng);
    d.lost_packets += lost;
    if (!lost && queue_drops(now, wire)) {
      lost = true;
      ++d.queue_drops;
    }
    cursor += static_cast<TimeNs>(wire * ns_per_byte_);
    if (lost) {
      // The repair's draws come from a stream of their own (one draw of the
      // frame's), so how many it takes never shifts the next packet's.
      agents::Rng repair(rng.next(), agents::StreamKind::kLinkDown, p);
      d.repair_ns = std::max(d.repair_ns, repair_ns(repair, packets - p - 1, packets > 1));
    }
    enqueue(cursor, wire);
  }
  busy_until_ns_ = cursor;
  // Its packets arrive in order behind earlier packets and ACKs in flight.
  TimeNs wire = std::max(cursor + d.delay_ns, last_wire_delivery_ns_);
  if (ack_spacing_now_ > 0) wire = std::max(wire, acks_delivered_by_ns(rng, now));
  last_wire_delivery_ns_ = wire;
  // Karn's rule: only a frame nothing of which was retransmitted is a
  // sample; its ACK comes back with a one-way delay of its own (the
  // previous frame's draw: independent of this frame's, of the same
  // distribution, and free).
  const TimeNs ack_delay_ns = previous_delay_ns_ > 0 ? previous_delay_ns_ : d.delay_ns;
  previous_delay_ns_ = d.delay_ns;
  if (d.repair_ns == 0) est_.sample(wire, wire - now + ack_delay_ns);
  const TimeNs arrival = std::max(wire + d.repair_ns, last_delivery_ns_);
  // Invariant: in-order delivery, never before the frame was handed over.
  CELLSIM_ASSERT(arrival >= last_delivery_ns_ && arrival >= now);
  last_delivery_ns_ = arrival;
  last_repair_ns_ = d.repair_ns;
  bytes_ += bytes;
  ++stats_.frames;
  stats_.packets += packets;
  stats_.lost_packets += d.lost_packets;
  stats_.queue_drops += d.queue_drops;
  if (log_ != nullptr) log_->push_back(d);
  return arrival;
}

bool LinkDirection::step_chain(agents::Rng& rng) {
  if (!profile_->has_loss()) return false;
  const auto& ge = profile_->loss();
  bad_ = bad_ ? !rng.bernoulli(ge.p_bad_to_good()) : rng.bernoulli(ge.p_good_to_bad());
  return rng.bernoulli(bad_ ? ge.loss_bad() : ge.loss_good());
}

bool LinkDirection::queue_drops(TimeNs now, uint32_t wire_bytes) {
  if (!queue_full(now, wire_bytes)) return false;
  // A sender halves its window on the drop: at most one drop per round trip.
  if (now - last_queue_drop_ns_ < est_.srtt_ns()) return false;
  last_queue_drop_ns_ = now;
  return true;
}

// A retransmission `steps` packets after the previous state: steps the
// sampled chain (*bad) and draws the loss. No loss model: never lost.
bool LinkDirection::draw_loss(agents::Rng& rng, bool* bad, uint64_t steps) const {
  if (!profile_->has_loss()) return false;
  const auto& ge = profile_->loss();
  *bad = rng.bernoulli(ge_bad_after(ge, *bad, steps));
  return rng.bernoulli(*bad ? ge.loss_bad() : ge.loss_good());
}

// RACK (RFC 8985 §6.2, as Linux's tcp_rack_detect_loss): the first later
// packet acknowledged marks the loss once SRTT + reo_wnd (min_RTT/4) has
// passed since it was sent; with kDupThresh later packets acknowledged the
// window is 0 (Linux's tcp_rack_reo_wnd with no reordering seen).
TimeNs LinkDirection::rack_detect_ns(agents::Rng& rng, bool bad, uint64_t later_in_frame,
                                     double phase, TimeNs rto_ns) const {
  constexpr int kDupThresh = 3;
  const TimeNs srtt = est_.srtt_ns();
  const TimeNs spacing = static_cast<TimeNs>(mean_spacing_ns_);
  // The chain steps for the ACKs between two later data packets too.
  const TimeNs chain_spacing = packet_spacing_ns();
  const uint64_t steps =
      chain_spacing > 0 ? std::max<uint64_t>(1, spacing / chain_spacing) : 1;
  TimeNs detect = -1;
  int acked = 0;
  for (uint64_t i = 0; i < kMaxProbePackets; ++i) {
    // The rest of the frame follows at once, then the direction's traffic.
    if (i >= later_in_frame && spacing <= 0) break;
    const TimeNs offset =
        i < later_in_frame
            ? 0
            : static_cast<TimeNs>((static_cast<double>(i - later_in_frame) + phase) *
                                  static_cast<double>(spacing));
    if (offset + srtt >= rto_ns || (detect >= 0 && offset + srtt >= detect)) break;
    if (draw_loss(rng, &bad, i < later_in_frame ? 1 : steps)) continue;
    ++acked;
    const TimeNs at =
        acked >= kDupThresh ? offset + srtt : std::max(offset + srtt, srtt + srtt / 4);
    detect = detect < 0 ? at : std::min(detect, at);
  }
  return detect;
}

// The tail loss probe's timeout (RFC 8985 §7.2, as Linux's
// tcp_schedule_loss_probe): 2·SRTT, plus TCP_RTO_MIN when the lost packet is
// the only one in flight (else TCP_TIMEOUT_MIN).
TimeNs LinkDirection::probe_timeout_ns(bool others_in_flight) const {
  const TimeNs extra =
      others_in_flight ? kTlpExtraNs : static_cast<TimeNs>(profile_->rto_min_ms() * 1e6);
  return 2 * est_.srtt_ns() + extra;
}

TimeNs LinkDirection::repair_ns(agents::Rng& rng, uint64_t later_in_frame, bool multi_packet) {
  const TimeNs spacing = static_cast<TimeNs>(mean_spacing_ns_);
  const TimeNs chain_spacing = packet_spacing_ns();  // ACKs step the chain too
  // Packets sent within a round trip before this one are still in flight.
  const bool others_in_flight = multi_packet || (spacing > 0 && spacing < est_.srtt_ns());
  TimeNs rto = est_.rto_ns(), t = 0;
  bool bad = bad_;
  for (int attempt = 0; attempt < kMaxRetransmissions; ++attempt) {
    // The packets after this (re)transmission: the rest of the frame at
    // once (first attempt), then the direction's traffic at its spacing.
    const TimeNs deadline = attempt == 0 ? std::min(probe_timeout_ns(others_in_flight), rto) : rto;
    // The direction's next packet after this attempt: a spacing after the
    // lost packet; after a retransmission (sent at any point of the
    // traffic's period), a uniform part of one. (Measured against the
    // kernel with cellsim linkcheck and validate: closer than a Poisson
    // phase or the exact phase of perfectly periodic traffic.)
    const double phase = attempt == 0 ? 1.0 : rng.uniform(0, 1);
    const TimeNs rack =
        rack_detect_ns(rng, bad, attempt == 0 ? later_in_frame : 0, phase, deadline);
    TimeNs wait;
    if (rack >= 0) {
      wait = rack;
      ++stats_.fast_repairs;
    } else if (attempt == 0) {
      // The tail loss probe, clamped to the RTO: only in the open state,
      // before any recovery or timeout (Linux's tcp_schedule_loss_probe);
      // the retransmission timer restarts from it, not backed off.
      wait = std::min(probe_timeout_ns(others_in_flight), rto);
      ++stats_.fast_repairs;
    } else {
      wait = rto;
      rto = std::min(2 * rto, kRtoMaxNs);
      ++stats_.rto_expiries;
    }
    t += wait;
    ++stats_.retransmissions;
    const uint64_t steps =
        chain_spacing > 0 ? std::max<uint64_t>(1, wait / chain_spacing) : 1;
    if (!draw_loss(rng, &bad, steps)) return t;
  }
  ++stats_.given_up;
  return t;
}

// --- OutageSchedule ---------------------------------------------------------

void OutageSchedule::draw_next() {
  const TimeNs up = static_cast<TimeNs>(rng_.exponential(process_->mean_up_s()) * 1e9);
  const TimeNs down = static_cast<TimeNs>(draw(process_->down_s(), rng_) * 1e9);
  const Window w{next_from_ns_ + up, next_from_ns_ + up + std::max<TimeNs>(down, 1)};
  CELLSIM_ASSERT(w.start >= next_from_ns_ && w.end > w.start);
  CELLSIM_ASSERT(random_.size() < kMaxOutageWindows);
  random_.push_back(w);
  next_from_ns_ = w.end;
}

OutageSchedule::Window OutageSchedule::first_random_after(TimeNs t) {
  if (!random()) return {kNoOutage, kNoOutage};
  while (random_.empty() || random_.back().end <= t) draw_next();
  // The windows are in time order and disjoint: the first ending after t.
  const auto it = std::upper_bound(random_.begin(), random_.end(), t,
                                   [](TimeNs x, const Window& w) { return x < w.end; });
  CELLSIM_ASSERT(it != random_.end());
  return *it;
}

OutageSchedule::Window OutageSchedule::next_window(TimeNs t) {
  latest_query_ns_ = std::max(latest_query_ns_, t);
  while (!random_.empty() && random_.front().end < latest_query_ns_ - kOutageKeepNs) {
    random_.pop_front();
  }
  return find(t);
}

OutageSchedule::Window OutageSchedule::find(TimeNs t) {
  Window best = first_random_after(t);
  // Random windows are drawn each from the previous one's end: without
  // scheduled ones, only a window touching the next (an up time under 1 ns)
  // needs merging, and only when the caller is inside it.
  if (extra_.empty()) {
    while (best.start <= t && best.start != kNoOutage) {
      const Window r = first_random_after(best.end);
      if (r.start != best.end) break;
      best.end = r.end;
    }
    return best;
  }
  for (const Window& w : extra_) {
    if (w.end > t && w.start < best.start) best = w;
  }
  // Merge overlapping windows so `end` is when the link is really back.
  for (bool grew = true; grew && best.start != kNoOutage;) {
    grew = false;
    for (const Window& w : extra_) {
      if (w.start <= best.end && w.end > best.end) {
        best.end = w.end;
        grew = true;
      }
    }
    const Window r = first_random_after(best.end - 1);
    if (r.start != kNoOutage && r.start <= best.end && r.end > best.end) {
      best.end = r.end;
      grew = true;
    }
  }
  return best;
}

}  // namespace cellsim::host
