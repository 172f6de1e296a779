#include "metrics/voice_stats.h"

#include <algorithm>
#include <string>

#include "metrics/histogram.h"

namespace cellsim::metrics {
namespace {

double ratio(uint64_t num, uint64_t den) {
  return static_cast<double>(num) / static_cast<double>(den);
}

}  // namespace

std::optional<double> voice_share_heard(const v1::VoiceStats& v) {
  if (v.speech_ms() == 0) return std::nullopt;
  return ratio(v.speech_ms_at_threshold(), v.speech_ms());
}

std::optional<double> voice_mos_quantile(const v1::VoiceStats& v, double q) {
  Histogram h;
  std::string why;
  if (v.frames_sent() == 0 || !Histogram::from_proto(v.mos_milli(), &h, &why) || h.empty()) {
    return std::nullopt;
  }
  // The histogram's value at q, capped at the exact extremes (its buckets
  // are 0.1% wide at 3 digits).
  const int64_t milli = std::clamp(h.value_at_quantile(q), h.min(), h.max());
  return static_cast<double>(milli) / 1000.0;
}

std::optional<double> voice_mouth_to_ear_ms(const v1::VoiceStats& v) {
  if (v.frames_sent() == 0) return std::nullopt;
  return ratio(v.mouth_to_ear_us_frames(), v.frames_sent()) / 1000.0;
}

std::optional<double> voice_loss_percent(const v1::VoiceStats& v) {
  if (v.frames_sent() == 0) return std::nullopt;
  return 100.0 * ratio(v.frames_sent() - v.frames_played(), v.frames_sent());
}

std::optional<double> voice_late_percent(const v1::VoiceStats& v) {
  if (v.frames_sent() == 0) return std::nullopt;
  return 100.0 * ratio(v.frames_late(), v.frames_sent());
}

std::optional<double> voice_burst_r(const v1::VoiceStats& v) {
  if (v.frames_sent() == 0) return std::nullopt;
  return ratio(v.burst_r_milli_frames(), v.frames_sent()) / 1000.0;
}

}  // namespace cellsim::metrics
