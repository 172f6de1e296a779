// The live driver's Prometheus figures (DESIGN.md, "Live mode"): served on a
// loopback /metrics endpoint while the driver runs, and pushed to a
// Pushgateway at the end if asked.
//
//   cellsim_live_members                   gauge    members planned
//   cellsim_live_connections               gauge    transports up now
//   cellsim_live_joined                    gauge    members in their meeting now
//   cellsim_live_connects_total            counter  connections established
//   cellsim_live_disconnects_total         counter  connections broken
//   cellsim_live_frames_total{direction}   counter  frames sent ("up") / received ("down")
//   cellsim_live_latency_seconds{metric}   histogram, metric = the results' latency names
//
// Thread-safety: the update methods are called on the driver's thread; the
// exposer's threads read the registry concurrently (prometheus-cpp's metrics
// are thread-safe).
#ifndef CELLSIM_LIVE_LIVE_METRICS_H_
#define CELLSIM_LIVE_LIVE_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "metrics/recorder.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace cellsim::live {

class LiveMetrics {
 public:
  LiveMetrics();
  ~LiveMetrics();  // stops the exposer
  LiveMetrics(const LiveMetrics&) = delete;
  LiveMetrics& operator=(const LiveMetrics&) = delete;

  // Serves /metrics on 127.0.0.1:port (0: ephemeral). False with why.
  bool serve(uint16_t port, std::string* why);
  // The bound port; 0 when not serving.
  uint16_t port() const { return port_; }
  // Pushes every figure to the Pushgateway at `url` (http://HOST[:PORT],
  // default port 9091) under job "cellsim_load". False with why.
  bool push(const std::string& url, std::string* why);

  void set_members(uint64_t n);
  void set_connections(uint64_t n);
  void set_joined(uint64_t n);
  void count_connect();
  void count_disconnect();
  void count_frame(bool sent);
  void observe(metrics::Latency m, int64_t value_ns);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_ = 0;
  prometheus::Gauge* members_;
  prometheus::Gauge* connections_;
  prometheus::Gauge* joined_;
  prometheus::Counter* connects_;
  prometheus::Counter* disconnects_;
  prometheus::Counter* frames_up_;
  prometheus::Counter* frames_down_;
  std::array<prometheus::Histogram*, metrics::kLatencyCount> latency_{};
};

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_LIVE_METRICS_H_
