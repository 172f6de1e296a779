#include "server/net/metrics.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <string>

#include "proto/frame.h"

namespace cellsim::net {
namespace {

// Upper bounds of cellmeet_frame_handling_seconds: 1 µs to 1 s, 1-2-5 steps.
prometheus::Histogram::BucketBoundaries handling_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double decade = 1e-6; decade < 1.5; decade *= 10) {
    b.push_back(decade);
    if (decade < 0.5) {
      b.push_back(2 * decade);
      b.push_back(5 * decade);
    }
  }
  return b;
}

// One counter child per Envelope body field, indexed by field number.
std::vector<prometheus::Counter*> body_children(prometheus::Family<prometheus::Counter>& family) {
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("body");
  int max_number = 0;
  for (int i = 0; i < oneof->field_count(); ++i) {
    max_number = std::max(max_number, oneof->field(i)->number());
  }
  prometheus::Counter* unknown = &family.Add({{"type", "unknown"}});
  // The last entry, past every field number, is the "unknown" child.
  std::vector<prometheus::Counter*> children(max_number + 2, unknown);
  children[v1::Envelope::BODY_NOT_SET] =
      &family.Add({{"type", std::string(wire::body_name(v1::Envelope::BODY_NOT_SET))}});
  for (int i = 0; i < oneof->field_count(); ++i) {
    const int number = oneof->field(i)->number();
    const auto body = static_cast<v1::Envelope::BodyCase>(number);
    children[number] = &family.Add({{"type", std::string(wire::body_name(body))}});
  }
  return children;
}

// One counter child per ErrorCode value, indexed by value.
std::vector<prometheus::Counter*> error_children(prometheus::Family<prometheus::Counter>& family) {
  const auto* codes = v1::ErrorCode_descriptor();
  int max_code = 0;
  for (int i = 0; i < codes->value_count(); ++i) {
    max_code = std::max(max_code, codes->value(i)->number());
  }
  prometheus::Counter* unknown = &family.Add({{"code", "unknown"}});
  // The last entry, past every code, is the "unknown" child.
  std::vector<prometheus::Counter*> children(max_code + 2, unknown);
  for (int i = 0; i < codes->value_count(); ++i) {
    children[codes->value(i)->number()] = &family.Add({{"code", codes->value(i)->name()}});
  }
  return children;
}

prometheus::MetricFamily gauge_family(const std::string& name, const std::string& help,
                                      size_t value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.gauge.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
  return f;
}

prometheus::MetricFamily counter_family(const std::string& name, const std::string& help,
                                        uint64_t value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Counter;
  prometheus::ClientMetric m;
  m.counter.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
  return f;
}

prometheus::MetricFamily labelled_family(const std::string& name, const std::string& help,
                                         prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

// One sample of a counter or gauge family with `labels`.
void add_sample(prometheus::MetricFamily* f,
                std::initializer_list<std::pair<const char*, std::string>> labels, double value) {
  prometheus::ClientMetric m;
  for (const auto& [name, v] : labels) m.label.push_back({name, v});
  if (f->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f->metric.push_back(std::move(m));
}

}  // namespace

Metrics::Metrics(size_t shards) : registry_(std::make_shared<prometheus::Registry>()) {
  connections_open_ = &prometheus::BuildGauge()
                           .Name("cellmeet_connections_open")
                           .Help("Open client connections")
                           .Register(*registry_)
                           .Add({});
  frames_in_ = body_children(prometheus::BuildCounter()
                                 .Name("cellmeet_frames_in_total")
                                 .Help("Frames received, by envelope body")
                                 .Register(*registry_));
  frames_out_ = body_children(prometheus::BuildCounter()
                                  .Name("cellmeet_frames_out_total")
                                  .Help("Frames sent, by envelope body, counted per recipient")
                                  .Register(*registry_));
  errors_ = error_children(prometheus::BuildCounter()
                               .Name("cellmeet_errors_total")
                               .Help("Error frames sent, by ErrorCode")
                               .Register(*registry_));
  auto& handling = prometheus::BuildHistogram()
                       .Name("cellmeet_frame_handling_seconds")
                       .Help("Wall time of each engine handle_bytes call, seconds")
                       .Register(*registry_);
  for (size_t i = 0; i < shards; ++i) {
    handling_.push_back(&handling.Add({{"shard", std::to_string(i)}}, handling_buckets()));
  }
  journal_commit_ = &prometheus::BuildHistogram()
                         .Name("cellmeet_journal_commit_seconds")
                         .Help("Wall time of each journal group commit (write + fsync), seconds")
                         .Register(*registry_)
                         .Add({}, handling_buckets());
}

prometheus::Counter& Metrics::by_body(const std::vector<prometheus::Counter*>& children,
                                      v1::Envelope::BodyCase body) {
  const auto i = static_cast<size_t>(body);
  return *(i < children.size() ? children[i] : children.back());
}

void Metrics::error(v1::ErrorCode code) {
  const auto i = static_cast<size_t>(code);
  (i < errors_.size() ? errors_[i] : errors_.back())->Increment();
}

std::vector<prometheus::MetricFamily> ScrapeCollectable::Collect() const {
  const ScrapeSample c = sample_();
  std::vector<prometheus::MetricFamily> out;
  out.push_back(gauge_family("cellmeet_meetings_open", "Meetings not yet closed", c.meetings.open));
  out.push_back(gauge_family("cellmeet_meetings_quorate", "Open meetings that are quorate",
                             c.meetings.quorate));

  // Voice datagrams.
  using engine::DatagramVerdict;
  out.push_back(counter_family("cellmeet_datagrams_received_total",
                               "Voice datagrams read from the media socket", c.datagrams_received));
  prometheus::MetricFamily accepted = labelled_family(
      "cellmeet_datagrams_accepted_total",
      "Voice datagrams taken by the engine: binds, and the floor holder's voice to relay",
      prometheus::MetricType::Counter);
  prometheus::MetricFamily dropped = labelled_family(
      "cellmeet_datagrams_dropped_total", "Voice datagrams the engine dropped, by reason",
      prometheus::MetricType::Counter);
  for (size_t i = 0; i < engine::kDatagramVerdicts; ++i) {
    const auto v = static_cast<DatagramVerdict>(i);
    const bool taken = v == DatagramVerdict::kBound || v == DatagramVerdict::kRelayed;
    add_sample(taken ? &accepted : &dropped,
               {{taken ? "verdict" : "reason", engine::datagram_verdict_name(v)}},
               static_cast<double>(c.datagrams.count(v)));
  }
  out.push_back(std::move(accepted));
  out.push_back(std::move(dropped));
  out.push_back(counter_family("cellmeet_datagram_route_drops_total",
                               "Voice datagrams dropped before their shard's engine saw them "
                               "(its inbox was full)",
                               c.route_drops));
  out.push_back(counter_family("cellmeet_datagrams_relayed_total",
                               "Relayed voice datagram copies the engines produced, one per "
                               "listener",
                               c.datagrams.sent));
  out.push_back(counter_family("cellmeet_datagrams_sent_total",
                               "Relayed voice datagrams written to the media socket", c.sent));
  out.push_back(counter_family("cellmeet_datagram_sent_bytes_total",
                               "UDP payload bytes of the relayed voice datagrams written",
                               c.sent_bytes));
  out.push_back(counter_family("cellmeet_datagram_send_queue_drops_total",
                               "Relayed voice datagrams dropped: the shard's send queue was full",
                               c.send_queue_drops));
  out.push_back(counter_family("cellmeet_datagram_send_errors_total",
                               "Relayed voice datagrams the kernel refused", c.send_errors));
  out.push_back(gauge_family("cellmeet_datagram_sessions_bound",
                             "Sessions with a latched voice datagram endpoint", c.bound_sessions));

  // Media per meeting: the busiest kMaxMediaMeetingSeries that relayed any.
  std::vector<engine::MeetingMedia> media;
  for (const engine::MeetingMedia& m : c.media) {
    if (m.in_band_frames + m.datagram_frames > 0) media.push_back(m);
  }
  const auto bytes = [](const engine::MeetingMedia& m) {
    return m.in_band_bytes + m.datagram_bytes;
  };
  std::sort(media.begin(), media.end(), [&](const auto& a, const auto& b) {
    return bytes(a) != bytes(b) ? bytes(a) > bytes(b) : a.cell_id < b.cell_id;
  });
  const size_t omitted =
      media.size() > kMaxMediaMeetingSeries ? media.size() - kMaxMediaMeetingSeries : 0;
  media.resize(media.size() - omitted);
  prometheus::MetricFamily frames =
      labelled_family("cellmeet_meeting_media_frames_total",
                      "Media relayed by an open meeting, copies per listener, by transport",
                      prometheus::MetricType::Counter);
  prometheus::MetricFamily media_bytes = labelled_family(
      "cellmeet_meeting_media_bytes_total",
      "Bytes of media relayed by an open meeting (framed in band, sealed as datagrams)",
      prometheus::MetricType::Counter);
  for (const engine::MeetingMedia& m : media) {
    const std::string cell = std::to_string(m.cell_id), meeting = std::to_string(m.meeting_id);
    add_sample(&frames, {{"cell", cell}, {"meeting", meeting}, {"transport", "in_band"}},
               static_cast<double>(m.in_band_frames));
    add_sample(&frames, {{"cell", cell}, {"meeting", meeting}, {"transport", "datagram"}},
               static_cast<double>(m.datagram_frames));
    add_sample(&media_bytes, {{"cell", cell}, {"meeting", meeting}, {"transport", "in_band"}},
               static_cast<double>(m.in_band_bytes));
    add_sample(&media_bytes, {{"cell", cell}, {"meeting", meeting}, {"transport", "datagram"}},
               static_cast<double>(m.datagram_bytes));
  }
  out.push_back(std::move(frames));
  out.push_back(std::move(media_bytes));
  out.push_back(gauge_family("cellmeet_meeting_media_omitted",
                             "Open meetings with media left out of the per-meeting series "
                             "(over the bound)",
                             omitted));
  return out;
}

}  // namespace cellsim::net
