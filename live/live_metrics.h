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
//   cellsim_live_datagrams_total{direction}  counter  voice datagrams the agents sent to the
//                                          server's media port ("up") / the driver received
//                                          for them ("down")
//   cellsim_live_datagrams_dropped_total{reason}  counter  datagrams dropped: by the agents
//                                          ("bad": malformed or failing the tag, "stale":
//                                          another session's, "replayed"), by frame mode's
//                                          link ("link": lost on it or in an outage), at a
//                                          full queue ("queue")
//   cellsim_live_speech_intervals_total{profile}   counter  speech intervals listeners reported
//   cellsim_live_voice_frames_total{profile,outcome}  counter  their frames: "played", "late"
//                                          (after the playout deadline), "lost"
//   cellsim_live_voice_frames_sent_total{profile}  counter  the speakers' frames of those
//                                          intervals (= played + late + lost)
//   cellsim_live_voice_loss_ratio{profile} gauge    (late + lost) / sent so far: the voice
//                                          loss the E-model rates (Ppl / 100)
//   cellsim_live_voice_mouth_to_ear_seconds{profile}  gauge  mean mouth-to-ear delay so far
//                                          (over the frames played)
//   cellsim_live_voice_interval_mouth_to_ear_seconds{profile}  histogram  mouth-to-ear delay
//                                          per interval heard (intervals of which nothing
//                                          was played are not in it)
//   cellsim_live_voice_mos{profile}        gauge    mean MOS of the intervals so far
//   cellsim_live_voice_interval_mos{profile}  histogram  MOS per interval
//
// `profile` is the listener's network profile.
//
// Thread-safety: the update methods are called on the driver's thread; the
// exposer's threads read the registry concurrently (prometheus-cpp's metrics
// are thread-safe).
#ifndef CELLSIM_LIVE_LIVE_METRICS_H_
#define CELLSIM_LIVE_LIVE_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "agents/voice.h"
#include "metrics/recorder.h"

namespace prometheus {
template <typename T>
class Family;
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
  void count_datagram(bool sent);
  // `reason`: "bad", "stale", "replayed", "link" or "queue" (header).
  void count_datagram_dropped(const char* reason, uint64_t n);
  // A speech interval a listener of network profile `profile` reported.
  void observe_speech(const std::string& profile, const agents::SpeechResult& r);

 private:
  // One profile's voice figures (made at its first interval).
  struct Voice {
    prometheus::Counter* intervals = nullptr;
    prometheus::Counter* played = nullptr;
    prometheus::Counter* late = nullptr;
    prometheus::Counter* lost = nullptr;
    prometheus::Counter* sent = nullptr;
    prometheus::Gauge* loss_ratio = nullptr;
    prometheus::Gauge* mouth_to_ear_s = nullptr;
    prometheus::Histogram* interval_mouth_to_ear_s = nullptr;
    prometheus::Gauge* mos = nullptr;
    prometheus::Histogram* interval_mos = nullptr;
    double mouth_to_ear_sum_s = 0;  // over frames played
    double played_frames = 0;
    double sent_frames = 0;
    double mos_sum = 0;
    double interval_count = 0;
  };
  // Reasons of cellsim_live_datagrams_dropped_total.
  static constexpr size_t kDropReasons = 5;

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
  prometheus::Counter* datagrams_up_;
  prometheus::Counter* datagrams_down_;
  std::array<prometheus::Counter*, kDropReasons> datagrams_dropped_{};
  prometheus::Family<prometheus::Counter>* speech_intervals_;
  prometheus::Family<prometheus::Counter>* voice_frames_;
  prometheus::Family<prometheus::Counter>* voice_frames_sent_;
  prometheus::Family<prometheus::Gauge>* loss_ratio_;
  prometheus::Family<prometheus::Gauge>* mouth_to_ear_;
  prometheus::Family<prometheus::Histogram>* interval_mouth_to_ear_;
  prometheus::Family<prometheus::Gauge>* mos_;
  prometheus::Family<prometheus::Histogram>* interval_mos_;
  // By profile name: at most the scenario's profiles.
  std::map<std::string, Voice> voice_;
};

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_LIVE_METRICS_H_
