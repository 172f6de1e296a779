#include "netem/impairment.h"

#include <algorithm>

#include "agents/distribution.h"
#include "proto/assert.h"

namespace cellsim::netem {

uint64_t packet_seed(uint64_t seed, uint64_t packet_index) {
  // splitmix64's step is a bijection of its state, so distinct indices give
  // distinct seeds; the xor keeps runs of different seeds apart.
  uint64_t state = packet_index;
  return seed ^ agents::splitmix64(&state);
}

// ---------------------------------------------------------------------------
// OutageSchedule

OutageSchedule::OutageSchedule(const v1::OutageProcess* process, uint64_t seed, uint64_t member,
                               TimeNs start_ns)
    : process_(process), rng_(seed, agents::StreamKind::kOutage, member), next_from_ns_(start_ns) {}

void OutageSchedule::add_window(TimeNs start_ns, TimeNs end_ns) {
  CELLSIM_ASSERT(start_ns < end_ns);
  extra_.push_back({start_ns, end_ns});
}

void OutageSchedule::draw_next() {
  // The same draws, in the same order, as host::OutageSchedule::draw_next.
  const TimeNs up_ns = static_cast<TimeNs>(rng_.exponential(process_->mean_up_s()) * 1e9);
  const TimeNs down_ns = static_cast<TimeNs>(agents::draw(process_->down_s(), rng_) * 1e9);
  const Window w{next_from_ns_ + up_ns, next_from_ns_ + up_ns + std::max<TimeNs>(down_ns, 1)};
  CELLSIM_ASSERT(w.start_ns >= next_from_ns_ && w.end_ns > w.start_ns);
  random_.push_back(w);
  next_from_ns_ = w.end_ns;
}

bool OutageSchedule::down_at(TimeNs t, TimeNs* until_ns) {
  CELLSIM_ASSERT(latest_query_ns_ == INT64_MIN || t >= latest_query_ns_ - kOutageQuerySkewNs);
  latest_query_ns_ = std::max(latest_query_ns_, t);
  const bool random = process_ != nullptr && process_->mean_up_s() > 0;
  if (random) {
    // Forget windows no allowed query can reach, then draw ahead past t.
    while (!random_.empty() && random_.front().end_ns < latest_query_ns_ - kOutageQuerySkewNs) {
      random_.pop_front();
    }
    while (next_from_ns_ <= t) {
      CELLSIM_ASSERT(random_.size() < kMaxOutageWindows);
      draw_next();
    }
  }
  bool down = false;
  TimeNs until = t;
  // Merge: extend `until` while some window covers it (a window ending at
  // `until` exactly leaves the link up).
  bool grew = true;
  for (size_t round = 0; grew && round <= random_.size() + extra_.size(); ++round) {
    grew = false;
    auto cover = [&](const Window& w) {
      if (w.start_ns <= until && until < w.end_ns) {
        until = w.end_ns;
        down = grew = true;
      }
    };
    for (const Window& w : random_) cover(w);
    for (const Window& w : extra_) cover(w);
    if (random) {
      while (next_from_ns_ <= until && random_.size() < kMaxOutageWindows) {
        draw_next();
        grew = true;
      }
    }
  }
  if (down) *until_ns = until;
  return down;
}

// ---------------------------------------------------------------------------
// Impairment

Impairment::Impairment(const ImpairmentConfig& config)
    : config_(config),
      bandwidth_kbps_(config.profile == nullptr ? 0
                      : config.direction == Direction::kUp
                          ? config.profile->bandwidth_up_kbps()
                          : config.profile->bandwidth_down_kbps()) {
  CELLSIM_ASSERT(config.profile != nullptr);
  CELLSIM_ASSERT(config.queue_limit_packets > 0 &&
                 config.queue_limit_packets <= kMaxQueueLimitPackets);
  CELLSIM_ASSERT(config.queue_limit_bytes > 0);
  CELLSIM_ASSERT(config.member < (uint64_t{1} << 62));
}

TimeNs Impairment::serialisation_ns(uint32_t size_bytes) const {
  if (bandwidth_kbps_ == 0) return 0;
  // bits / (kbit/s) = ms; * 1e6 for ns.
  return static_cast<TimeNs>(uint64_t{size_bytes} * 8'000'000 / bandwidth_kbps_);
}

bool Impairment::step_loss(agents::Rng& rng) {
  if (!config_.profile->has_loss()) return false;
  const v1::GilbertElliott& ge = config_.profile->loss();
  bad_ = bad_ ? !rng.bernoulli(ge.p_bad_to_good()) : rng.bernoulli(ge.p_good_to_bad());
  return rng.bernoulli(bad_ ? ge.loss_bad() : ge.loss_good());
}

TimeNs Impairment::draw_delay_ns(agents::Rng& rng) const {
  const v1::NetworkProfile& p = *config_.profile;
  const double ms =
      p.base_one_way_ms() + (p.has_jitter_ms() ? agents::draw(p.jitter_ms(), rng) : 0.0);
  return static_cast<TimeNs>(ms * 1e6);
}

Verdict Impairment::handle_packet(TimeNs now_ns, uint32_t size_bytes) {
  CELLSIM_ASSERT(now_ns >= last_now_ns_);
  CELLSIM_ASSERT(size_bytes > 0);
  last_now_ns_ = now_ns;
  Verdict v;
  v.packet_index = next_index_++;
  ++stats_.packets;
  agents::Rng rng(packet_seed(config_.seed, v.packet_index), agents::StreamKind::kPacket,
                  config_.member * 2 + static_cast<uint64_t>(config_.direction));
  // Every packet steps the chain and draws its delay, whatever its fate: the
  // chain is then a function of the index alone.
  const bool lost = step_loss(rng);
  const TimeNs delay_ns = draw_delay_ns(rng);

  while (!queue_.empty() && queue_.front().departure_ns <= now_ns) {
    queued_bytes_ -= queue_.front().size_bytes;
    queue_.pop_front();
  }
  TimeNs until_ns;
  if (config_.outages != nullptr && config_.outages->down_at(now_ns, &until_ns)) {
    v.fate = Fate::kDropOutage;
    ++stats_.dropped_outage;
    return v;
  }
  if (queue_.size() + 1 > config_.queue_limit_packets ||
      queued_bytes_ + size_bytes > config_.queue_limit_bytes) {
    v.fate = Fate::kDropQueue;
    ++stats_.dropped_queue;
    return v;
  }
  const TimeNs departure_ns = std::max(now_ns, busy_until_ns_) + serialisation_ns(size_bytes);
  busy_until_ns_ = departure_ns;
  if (departure_ns > now_ns) {  // still (partly) in the queue after now
    queue_.push_back({departure_ns, size_bytes});
    queued_bytes_ += size_bytes;
  }
  CELLSIM_ASSERT(queue_.size() <= config_.queue_limit_packets &&
                 queued_bytes_ <= config_.queue_limit_bytes);
  if (lost) {
    v.fate = Fate::kDropLoss;
    ++stats_.dropped_loss;
    return v;
  }
  const TimeNs deliver_ns = std::max(departure_ns + delay_ns, last_delivery_ns_);
  // Invariant: order-preserving, never before the packet arrived.
  CELLSIM_ASSERT(deliver_ns >= last_delivery_ns_ && deliver_ns >= now_ns);
  last_delivery_ns_ = deliver_ns;
  v.fate = Fate::kDeliver;
  v.deliver_at_ns = deliver_ns;
  ++stats_.delivered;
  return v;
}

}  // namespace cellsim::netem
