#include "live/live_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gateway.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string_view>

#include "server/net/asio.h"
#include "server/net/exposer_stop.h"

namespace cellsim::live {
namespace {

// Threads the exposer serves scrapes with.
constexpr size_t kExposerThreads = 1;
constexpr char kDefaultPushgatewayPort[] = "9091";

constexpr std::array<const char*, 5> kDropReasonNames = {"bad", "stale", "replayed", "link",
                                                          "queue"};

prometheus::Histogram::BucketBoundaries latency_buckets_s() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
          1,     2.5,    5,     10,   30,    60,   120, 300};
}

// Mouth-to-ear per interval: G.114's 150 ms (most users satisfied) and
// 400 ms (unacceptable beyond, for planning) among them; GEO hops near 600.
prometheus::Histogram::BucketBoundaries mouth_to_ear_buckets_s() {
  return {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 5};
}

// MOS per interval: the scale's bands, with the default threshold 3.6.
prometheus::Histogram::BucketBoundaries mos_buckets() {
  return {1.5, 2, 2.5, 3, 3.3, 3.6, 3.8, 4, 4.2, 4.4};
}

}  // namespace

LiveMetrics::LiveMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  members_ = gauge("cellsim_live_members", "Members planned for the run");
  connections_ = gauge("cellsim_live_connections", "Member connections up now");
  joined_ = gauge("cellsim_live_joined", "Members in their meeting now");
  connects_ = counter("cellsim_live_connects_total", "Member connections established");
  disconnects_ = counter("cellsim_live_disconnects_total", "Member connections broken");
  auto& frames = prometheus::BuildCounter()
                     .Name("cellsim_live_frames_total")
                     .Help("Frames sent (up) and received (down) by members")
                     .Register(*registry_);
  frames_up_ = &frames.Add({{"direction", "up"}});
  frames_down_ = &frames.Add({{"direction", "down"}});
  auto& lat = prometheus::BuildHistogram()
                  .Name("cellsim_live_latency_seconds")
                  .Help("Latencies as the results name them (DESIGN.md, Metrics)")
                  .Register(*registry_);
  for (size_t i = 0; i < metrics::kLatencyCount; ++i) {
    const auto m = static_cast<metrics::Latency>(i);
    latency_[i] = &lat.Add({{"metric", std::string(metrics::latency_name(m))}}, latency_buckets_s());
  }
  auto& dgrams = prometheus::BuildCounter()
                     .Name("cellsim_live_datagrams_total")
                     .Help("Voice datagrams sent to the server's media port (up) and received "
                           "from it (down)")
                     .Register(*registry_);
  datagrams_up_ = &dgrams.Add({{"direction", "up"}});
  datagrams_down_ = &dgrams.Add({{"direction", "down"}});
  auto& dropped = prometheus::BuildCounter()
                      .Name("cellsim_live_datagrams_dropped_total")
                      .Help("Voice datagrams dropped, by reason")
                      .Register(*registry_);
  static_assert(kDropReasonNames.size() == kDropReasons);
  for (size_t i = 0; i < kDropReasons; ++i) {
    datagrams_dropped_[i] = &dropped.Add({{"reason", kDropReasonNames[i]}});
  }
  speech_intervals_ = &prometheus::BuildCounter()
                           .Name("cellsim_live_speech_intervals_total")
                           .Help("Speech intervals listeners reported, by the listener's profile")
                           .Register(*registry_);
  voice_frames_ = &prometheus::BuildCounter()
                       .Name("cellsim_live_voice_frames_total")
                       .Help("Voice frames of the reported intervals: played, late or lost")
                       .Register(*registry_);
  voice_frames_sent_ = &prometheus::BuildCounter()
                            .Name("cellsim_live_voice_frames_sent_total")
                            .Help("The speakers' voice frames of the reported intervals")
                            .Register(*registry_);
  loss_ratio_ = &prometheus::BuildGauge()
                     .Name("cellsim_live_voice_loss_ratio")
                     .Help("Voice frames lost or late over frames sent, so far")
                     .Register(*registry_);
  interval_mouth_to_ear_ = &prometheus::BuildHistogram()
                                .Name("cellsim_live_voice_interval_mouth_to_ear_seconds")
                                .Help("Mouth-to-ear delay per speech interval heard")
                                .Register(*registry_);
  interval_mos_ = &prometheus::BuildHistogram()
                       .Name("cellsim_live_voice_interval_mos")
                       .Help("MOS (ITU-T G.107) per speech interval")
                       .Register(*registry_);
  mouth_to_ear_ = &prometheus::BuildGauge()
                       .Name("cellsim_live_voice_mouth_to_ear_seconds")
                       .Help("Mean mouth-to-ear delay so far, over the frames played")
                       .Register(*registry_);
  mos_ = &prometheus::BuildGauge()
              .Name("cellsim_live_voice_mos")
              .Help("Mean MOS (ITU-T G.107) of the reported intervals so far")
              .Register(*registry_);
}

LiveMetrics::~LiveMetrics() {
  if (!exposer_) return;
  net::reset_exposer_waking(&exposer_,
                            net::tcp::endpoint(net::asio::ip::address_v4::loopback(), port_));
}

bool LiveMetrics::serve(uint16_t port, std::string* why) {
  const std::string where = "127.0.0.1:" + std::to_string(port);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(where, kExposerThreads);
  } catch (const std::exception& e) {
    *why = "cannot serve metrics on " + where + ": " + e.what();
    return false;
  }
  const auto ports = exposer_->GetListeningPorts();
  if (ports.empty()) {
    *why = "cannot serve metrics on " + where + ": no listening port";
    return false;
  }
  port_ = static_cast<uint16_t>(ports.front());
  exposer_->RegisterCollectable(registry_);
  return true;
}

bool LiveMetrics::push(const std::string& url, std::string* why) {
  const auto scheme = url.find("://");
  const size_t host_from = scheme == std::string::npos ? 0 : scheme + 3;
  const auto colon = url.find(':', host_from);
  const auto slash = url.find('/', host_from);
  std::string host, port;
  if (colon != std::string::npos && (slash == std::string::npos || colon < slash)) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1, slash == std::string::npos ? std::string::npos : slash - colon - 1);
  } else {
    host = url.substr(0, slash);
    port = kDefaultPushgatewayPort;
  }
  if (scheme == std::string::npos) host = "http://" + host;
  if (host.size() <= 7 || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    *why = "--pushgateway needs http://HOST[:PORT], got \"" + url + "\"";
    return false;
  }
  try {
    prometheus::Gateway gateway(host, port, "cellsim_load");
    gateway.RegisterCollectable(registry_);
    const int status = gateway.Push();
    if (status < 0) {
      *why = "cannot reach the Pushgateway at " + url + " (curl error " +
             std::to_string(-status) + ")";
      return false;
    }
    if (status < 200 || status >= 300) {
      *why = "the Pushgateway at " + url + " answered HTTP " + std::to_string(status);
      return false;
    }
  } catch (const std::exception& e) {
    *why = "cannot push to " + url + ": " + e.what();
    return false;
  }
  return true;
}

void LiveMetrics::set_members(uint64_t n) { members_->Set(static_cast<double>(n)); }
void LiveMetrics::set_connections(uint64_t n) { connections_->Set(static_cast<double>(n)); }
void LiveMetrics::set_joined(uint64_t n) { joined_->Set(static_cast<double>(n)); }
void LiveMetrics::count_connect() { connects_->Increment(); }
void LiveMetrics::count_disconnect() { disconnects_->Increment(); }
void LiveMetrics::count_frame(bool sent) { (sent ? frames_up_ : frames_down_)->Increment(); }
void LiveMetrics::observe(metrics::Latency m, int64_t value_ns) {
  latency_[static_cast<size_t>(m)]->Observe(static_cast<double>(value_ns) / 1e9);
}

void LiveMetrics::count_datagram(bool sent) {
  (sent ? datagrams_up_ : datagrams_down_)->Increment();
}

void LiveMetrics::count_datagram_dropped(const char* reason, uint64_t n) {
  if (n == 0) return;
  for (size_t i = 0; i < kDropReasons; ++i) {
    if (std::string_view(reason) == kDropReasonNames[i]) {
      datagrams_dropped_[i]->Increment(static_cast<double>(n));
      return;
    }
  }
}

void LiveMetrics::observe_speech(const std::string& profile, const agents::SpeechResult& r) {
  auto it = voice_.find(profile);
  if (it == voice_.end()) {
    Voice v;
    v.intervals = &speech_intervals_->Add({{"profile", profile}});
    v.played = &voice_frames_->Add({{"profile", profile}, {"outcome", "played"}});
    v.late = &voice_frames_->Add({{"profile", profile}, {"outcome", "late"}});
    v.lost = &voice_frames_->Add({{"profile", profile}, {"outcome", "lost"}});
    v.sent = &voice_frames_sent_->Add({{"profile", profile}});
    v.loss_ratio = &loss_ratio_->Add({{"profile", profile}});
    v.mouth_to_ear_s = &mouth_to_ear_->Add({{"profile", profile}});
    v.interval_mouth_to_ear_s =
        &interval_mouth_to_ear_->Add({{"profile", profile}}, mouth_to_ear_buckets_s());
    v.mos = &mos_->Add({{"profile", profile}});
    v.interval_mos = &interval_mos_->Add({{"profile", profile}}, mos_buckets());
    it = voice_.emplace(profile, v).first;
  }
  Voice& v = it->second;
  const uint64_t heard = r.frames_played + r.frames_late;
  v.intervals->Increment();
  v.played->Increment(static_cast<double>(r.frames_played));
  v.late->Increment(static_cast<double>(r.frames_late));
  v.lost->Increment(static_cast<double>(r.frames_sent > heard ? r.frames_sent - heard : 0));
  v.sent->Increment(static_cast<double>(r.frames_sent));
  v.mouth_to_ear_sum_s += r.mouth_to_ear_ms / 1e3 * static_cast<double>(r.frames_played);
  v.played_frames += static_cast<double>(r.frames_played);
  v.sent_frames += static_cast<double>(r.frames_sent);
  v.mos_sum += r.mos;
  v.interval_count += 1;
  if (v.sent_frames > 0) v.loss_ratio->Set(1 - v.played_frames / v.sent_frames);
  if (v.played_frames > 0) v.mouth_to_ear_s->Set(v.mouth_to_ear_sum_s / v.played_frames);
  if (r.frames_played > 0) v.interval_mouth_to_ear_s->Observe(r.mouth_to_ear_ms / 1e3);
  v.mos->Set(v.mos_sum / v.interval_count);
  v.interval_mos->Observe(r.mos);
}

}  // namespace cellsim::live
