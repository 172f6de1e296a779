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

std::vector<prometheus::MetricFamily> MeetingsCollectable::Collect() const {
  const MeetingCounts c = sample_();
  std::vector<prometheus::MetricFamily> out;
  out.push_back(gauge_family("cellmeet_meetings_open", "Meetings not yet closed", c.open));
  out.push_back(
      gauge_family("cellmeet_meetings_quorate", "Open meetings that are quorate", c.quorate));
  return out;
}

}  // namespace cellsim::net
