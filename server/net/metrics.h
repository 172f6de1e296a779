// cellmeetd's Prometheus metrics (README, "cellmeetd"):
//   cellmeet_connections_open           gauge
//   cellmeet_frames_in_total{type}      counter, type = envelope body name
//   cellmeet_frames_out_total{type}     counter, per recipient
//   cellmeet_errors_total{code}         counter, code = ErrorCode name
//   cellmeet_meetings_open              gauge, summed over shards at scrape
//   cellmeet_meetings_quorate           gauge, summed over shards at scrape
//   cellmeet_frame_handling_seconds{shard}  histogram of Engine::handle_bytes
//
// Every label child is created up front (every body field of Envelope, every
// ErrorCode value), so the hot path is an array index and an atomic add, and
// never takes a family's lock.
//
// Thread-safety: Metrics is thread-safe after construction (prometheus-cpp
// metrics are atomic or internally locked). A MetricsObserver belongs to one
// shard and is called on that shard's thread. MeetingsCollectable::Collect
// runs on the exposer's threads and calls its sampler there.
#ifndef CELLSIM_SERVER_NET_METRICS_H_
#define CELLSIM_SERVER_NET_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "server/engine/engine.h"

namespace cellsim::net {

namespace v1 = ::cellsim::v1;

class Metrics {
 public:
  // Creates the families and every label child; `shards` histogram children.
  explicit Metrics(size_t shards);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void frame_in(v1::Envelope::BodyCase body) { by_body(frames_in_, body).Increment(); }
  void frames_out(v1::Envelope::BodyCase body, uint32_t recipients) {
    by_body(frames_out_, body).Increment(recipients);
  }
  void error(v1::ErrorCode code);
  void connection_opened() { connections_open_->Increment(); }
  void connection_closed() { connections_open_->Decrement(); }
  // REQUIRES: shard < the `shards` given to the constructor.
  void frame_handled(size_t shard, double seconds) { handling_[shard]->Observe(seconds); }
  // Thread-safe (prometheus-cpp histograms lock).
  void journal_commit(double seconds) { journal_commit_->Observe(seconds); }

 private:
  static prometheus::Counter& by_body(const std::vector<prometheus::Counter*>& children,
                                      v1::Envelope::BodyCase body);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* connections_open_ = nullptr;
  // Indexed by body field number; gaps and the last entry are "unknown".
  std::vector<prometheus::Counter*> frames_in_;
  std::vector<prometheus::Counter*> frames_out_;
  // Indexed by ErrorCode value; gaps and the last entry are "unknown".
  std::vector<prometheus::Counter*> errors_;
  std::vector<prometheus::Histogram*> handling_;
  prometheus::Histogram* journal_commit_ = nullptr;
};

// Feeds one shard's engine events to Metrics.
class MetricsObserver : public engine::EngineObserver {
 public:
  explicit MetricsObserver(Metrics* metrics) : metrics_(metrics) {}
  void on_frame_in(v1::Envelope::BodyCase body) override { metrics_->frame_in(body); }
  void on_frame_out(v1::Envelope::BodyCase body, uint32_t recipients) override {
    metrics_->frames_out(body, recipients);
  }
  void on_error(v1::ErrorCode code) override { metrics_->error(code); }

 private:
  Metrics* metrics_;
};

// Open and quorate meetings, summed over shards.
struct MeetingCounts {
  size_t open = 0;
  size_t quorate = 0;
};

// Exposes cellmeet_meetings_open and cellmeet_meetings_quorate, asking
// `sample` (which must be thread-safe) at every scrape.
class MeetingsCollectable : public prometheus::Collectable {
 public:
  explicit MeetingsCollectable(std::function<MeetingCounts()> sample)
      : sample_(std::move(sample)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<MeetingCounts()> sample_;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_METRICS_H_
