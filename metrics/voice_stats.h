// What a v1::VoiceStats says, read back: the share of speech heard at or
// above the MOS threshold, MOS quantiles (per frame of speech), the mean
// mouth-to-ear delay, loss and burstiness. One place for the summary, the
// verdicts, the report and `compare`.
//
// Thread-safety: pure functions.
#ifndef CELLSIM_METRICS_VOICE_STATS_H_
#define CELLSIM_METRICS_VOICE_STATS_H_

#include <optional>

#include "cellsim/v1/results.pb.h"

namespace cellsim::metrics {

namespace v1 = ::cellsim::v1;

// Speech time at or above the threshold over speech time; nullopt when no
// speech was heard.
std::optional<double> voice_share_heard(const v1::VoiceStats& v);
// The MOS at quantile q of speech time (e.g. 0.1: the 10th percentile);
// nullopt when no speech was heard or the histogram is invalid.
std::optional<double> voice_mos_quantile(const v1::VoiceStats& v, double q);
// Mean mouth-to-ear delay over frames of speech, ms; nullopt when none.
std::optional<double> voice_mouth_to_ear_ms(const v1::VoiceStats& v);
// Frames not played (lost or late) over frames sent, percent; and of them
// late, percent of frames sent.
std::optional<double> voice_loss_percent(const v1::VoiceStats& v);
std::optional<double> voice_late_percent(const v1::VoiceStats& v);
// Mean BurstR over frames of speech (1: random loss).
std::optional<double> voice_burst_r(const v1::VoiceStats& v);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_VOICE_STATS_H_
