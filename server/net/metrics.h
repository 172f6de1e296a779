// cellmeetd's Prometheus metrics (README, "cellmeetd"):
//   cellmeet_connections_open           gauge
//   cellmeet_frames_in_total{type}      counter, type = envelope body name
//   cellmeet_frames_out_total{type}     counter, per recipient
//   cellmeet_errors_total{code}         counter, code = ErrorCode name
//   cellmeet_meetings_open              gauge, summed over shards at scrape
//   cellmeet_meetings_quorate           gauge, summed over shards at scrape
//   cellmeet_frame_handling_seconds{shard}  histogram of Engine::handle_bytes
//   cellmeet_journal_commit_seconds     histogram of journal group commits
//
// Voice datagrams (server/net/media_socket.h), sampled from the shards at
// every scrape (ScrapeCollectable), all present (at 0) also when the media
// socket is off:
//   cellmeet_datagrams_received_total   counter, read from the media socket
//   cellmeet_datagrams_accepted_total{verdict}  counter, verdict = bound |
//                                       relayed (a floor holder's voice taken)
//   cellmeet_datagrams_dropped_total{reason}  counter, reason = the engine's
//                                       drop verdicts (engine::
//                                       datagram_verdict_name: malformed,
//                                       unknown_session, bad_tag, replayed,
//                                       not_joined, not_floor_holder,
//                                       too_large, rate_limited)
//   cellmeet_datagram_route_drops_total  counter, dropped before an engine
//                                       saw them: the owning shard's inbox
//                                       was full (kMaxInboxDatagrams)
//   cellmeet_datagrams_relayed_total    counter, relayed copies (one per
//                                       listener) the engines produced
//   cellmeet_datagrams_sent_total       counter, copies written to the socket
//   cellmeet_datagram_sent_bytes_total  counter, their UDP payload bytes
//   cellmeet_datagram_send_queue_drops_total  counter, copies dropped: the
//                                       shard's send queue was full
//                                       (kMaxDatagramSendQueue)
//   cellmeet_datagram_send_errors_total  counter, copies the kernel refused
//   cellmeet_datagram_sessions_bound    gauge, sessions with a latched endpoint
// Accounting: received = accepted + dropped + route drops (+ datagrams in an
// inbox at the scrape); relayed = sent + send queue drops + send errors (+
// copies queued at the scrape).
//
// Media per meeting (rate() of these gives frames/s and bytes/s), for the
// open meetings that relayed any media, at most kMaxMediaMeetingSeries of
// them (those with the most bytes; the others are counted in
// cellmeet_meeting_media_omitted), so the series stay bounded:
//   cellmeet_meeting_media_frames_total{cell,meeting,transport}  counter,
//                                       relayed copies, transport = in_band |
//                                       datagram
//   cellmeet_meeting_media_bytes_total{cell,meeting,transport}  counter, their
//                                       bytes (framed / sealed)
//   cellmeet_meeting_media_omitted      gauge, meetings with media left out
//
// Every label child of Metrics is created up front (every body field of
// Envelope, every ErrorCode value), so the hot path is an array index and an
// atomic add, and never takes a family's lock. The datagram figures cost the
// hot path nothing: they are the engines' own counts, read at the scrape.
//
// Thread-safety: Metrics is thread-safe after construction (prometheus-cpp
// metrics are atomic or internally locked). A MetricsObserver belongs to one
// shard and is called on that shard's thread. ScrapeCollectable::Collect
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

// Most meetings with per-meeting media series in one scrape.
inline constexpr size_t kMaxMediaMeetingSeries = 100;

// What one shard's engine reports at a scrape (taken on the shard's thread).
struct ShardSample {
  MeetingCounts meetings;
  engine::DatagramStats datagrams;
  size_t bound_sessions = 0;
  std::vector<engine::MeetingMedia> media;  // open meetings
};

// The figures of one scrape, summed over shards.
struct ScrapeSample {
  MeetingCounts meetings;
  engine::DatagramStats datagrams;  // the engines' verdicts and relayed copies
  uint64_t datagrams_received = 0;  // read from the media socket
  uint64_t route_drops = 0;
  uint64_t sent = 0;
  uint64_t sent_bytes = 0;
  uint64_t send_queue_drops = 0;
  uint64_t send_errors = 0;
  size_t bound_sessions = 0;
  std::vector<engine::MeetingMedia> media;  // open meetings, any order
};

// Exposes the sampled figures (cellmeet_meetings_*, the datagram and media
// families above), asking `sample` (which must be thread-safe) at every
// scrape.
class ScrapeCollectable : public prometheus::Collectable {
 public:
  explicit ScrapeCollectable(std::function<ScrapeSample()> sample) : sample_(std::move(sample)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<ScrapeSample()> sample_;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_METRICS_H_
