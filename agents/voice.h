// Voice quality (DESIGN.md, "Two media transports"): the ITU-T G.107 E-model
// (06/2015, narrowband) and a meter of one speech interval as one listener
// heard it: a fixed jitter buffer, the frames it lost or discarded as late,
// their burstiness, the mouth-to-ear delay, and the rating R with its MOS.
//
// Both hosts use it: the simulator feeds it the frames its link model
// computes, live agents the frames they receive (it sits with the agents so
// that they depend on nothing but proto). Pure computation: no clock, no
// randomness.
//
// Thread-safety: the free functions are thread-safe; a SpeechMeter is owned
// by one thread.
#ifndef CELLSIM_AGENTS_VOICE_H_
#define CELLSIM_AGENTS_VOICE_H_

#include <cstdint>
#include <vector>

namespace cellsim::agents {

// The E-model's inputs (ITU-T G.107 (06/2015) §7 and Table 3). Every field
// starts at the Recommendation's default, so EModelParams{} gives R = 93.2
// (§7.7). The delay-sensitivity class is G.107's "Default" one (Table 1:
// mT = 100 ms, sT = 1), the class carrier- and enterprise-grade telephony is
// assessed with; the less delay-sensitive classes are not offered.
// Keep LSTR = STMR + Dr (18 = 15 + 3 at the defaults) when changing either; Dr enters the
// model only through LSTR.
struct EModelParams {
  double sLR = 8;     // send loudness rating, dB
  double rLR = 2;     // receive loudness rating, dB
  double STMR = 15;   // sidetone masking rating, dB
  double LSTR = 18;   // listener sidetone rating, dB
  double Ds = 3;      // D-value of telephone, send side
  double Dr = 3;      // D-value of telephone, receive side
  double TELR = 65;   // talker echo loudness rating, dB
  double WEPL = 110;  // weighted echo path loss, dB
  double T = 0;       // mean one-way delay of the echo path, ms
  double Tr = 0;      // round-trip delay in a 4-wire loop, ms
  double Ta = 0;      // absolute delay in echo-free connections, ms
  double qdu = 1;     // number of quantization distortion units (> 0)
  double Ie = 0;      // equipment impairment factor
  double Bpl = 4.3;   // packet-loss robustness factor (G.711, no PLC; > 0)
  double Ppl = 0;     // random packet-loss probability, % (>= 0)
  double BurstR = 1;  // burst ratio (1: random loss; > 0)
  double Nc = -70;    // circuit noise referred to the 0 dBr point, dBm0p
  double Nfor = -64;  // noise floor at the receive side, dBmp
  double Ps = 35;     // room noise at the send side, dB(A)
  double Pr = 35;     // room noise at the receive side, dB(A)
  double A = 0;       // advantage factor
};

// The transmission rating R = Ro − Is − Id − Ie,eff + A (G.107 §7.1, (7-1)),
// unclamped (it can fall below 0 or, with a large A, exceed 100).
// REQUIRES: p.qdu > 0, p.Bpl > 0, p.Ppl >= 0, p.BurstR > 0.
double emodel_r(const EModelParams& p);

// MOS (conversational quality, estimated) from R (G.107 Annex B, (B-4)):
// 1 below R = 0; 1 + 0.035R + R(R − 60)(100 − R)·7·10⁻⁶ for 0 ≤ R ≤ 100;
// 4.5 above R = 100. The cubic dips below 1 (to 0.989) for 0 < R < 6.5;
// there MOS is held at 1, the scale's floor (see voice.cc), so the result is
// always in [1, 4.5] and never decreasing in R.
double mos_from_r(double r);

// What a listener's jitter buffer and codec make of a speech interval.
struct VoiceSettings {
  double frame_ms = 20;          // packetisation: audio per frame
  double lookahead_ms = 5;       // the codec's look-ahead (algorithmic delay beyond the frame)
  double jitter_buffer_ms = 60;  // fixed buffer depth beyond the first frame's delay
  double ie = 11;                // codec equipment impairment factor
  double bpl = 19;               // codec packet-loss robustness factor
};

// One speech interval as one listener heard it.
struct SpeechResult {
  uint64_t frames_sent = 0;    // the speaker's frames of the interval
  uint64_t frames_played = 0;  // received by their playout time
  uint64_t frames_late = 0;    // received after it (discarded)
  double frame_ms = 20;        // the listener's VoiceSettings::frame_ms
  double mouth_to_ear_ms = 0;  // packetisation + look-ahead + playout delay; 0: nothing fed
  double loss_percent = 0;     // Ppl: (sent − played) / sent, lost and late alike
  double burst_r = 1;          // BurstR of the loss pattern, at least 1 (1: random)
  double r = 0;                // E-model rating
  double mos = 1;              // in [1, 4.5]
  double speech_ms() const;    // frames_sent × frame_ms
};

// A fixed jitter buffer over one speaker's interval at one listener: the
// first frame fed sets the playout delay (its own delay plus
// jitter_buffer_ms); a frame arriving after capture + that delay is
// discarded as late. Live agents feed frames as they arrive; the simulator
// in index order (its link model's arrivals).
//
// finish() rates the interval: the frames of [0, frames_sent) never fed, or
// fed late, are lost; the loss pattern in index order gives BurstR; the
// E-model takes T = Ta = mouth-to-ear, Tr = 2·mouth-to-ear, the codec's Ie
// and Bpl, Ppl = loss_percent and BurstR, every other input at its default.
// An interval of which nothing was fed (or frames_sent = 0) is rated as
// nothing heard: mouth-to-ear 0, loss 100 %, and R as the E-model gives at
// Ppl = 100 — not R = 0: Ie,eff = Ie + (95 − Ie)·100/(100 + Bpl) stays below
// 95, so MOS is about 1.06 for the default G.729A-like codec (Ie 11, Bpl 19)
// and 1.18 for G.711 with PLC (Ie 0, Bpl 25.1).
//
// Invariant: played + late ≤ frames fed ≤ kMaxSpeechFrames; the state grows
// only to the highest index fed. on_frame is O(1) amortised (its only
// allocation is the state's geometric growth); finish is O(frames_sent).
inline constexpr uint64_t kMaxSpeechFrames = 1 << 18;

class SpeechMeter {
 public:
  explicit SpeechMeter(const VoiceSettings& settings) : settings_(settings) {}
  // Frame `index` of the interval, captured at `capture_ns`, arrived at
  // `arrival_ns` (same clock). A duplicate index is ignored (the first copy
  // fed decides played or late).
  // REQUIRES: index < kMaxSpeechFrames.
  void on_frame(uint64_t index, int64_t capture_ns, int64_t arrival_ns);
  // The interval ended after `frames_sent` frames (frames never fed were
  // lost; frames fed with index >= frames_sent are not counted).
  // REQUIRES: frames_sent <= kMaxSpeechFrames.
  SpeechResult finish(uint64_t frames_sent) const;
  bool any() const { return have_offset_; }

 private:
  static constexpr uint8_t kNotArrived = 0;
  static constexpr uint8_t kPlayed = 1;
  static constexpr uint8_t kLate = 2;

  bool lost(uint64_t index) const { return index >= state_.size() || state_[index] != kPlayed; }

  VoiceSettings settings_;
  bool have_offset_ = false;
  int64_t playout_offset_ns_ = 0;  // arrival deadline = capture + this
  std::vector<uint8_t> state_;     // per index: kNotArrived, kPlayed or kLate
  uint64_t played_ = 0;
  uint64_t late_ = 0;
};

// BurstR of a loss pattern (G.107 §7.5: the mean observed length of loss
// bursts over the mean under random loss at the same rate; for a two-state
// Markov loss process 1 / (p + q)). `lost[i]` nonzero when frame i was lost.
// Estimated by transition counts over consecutive frames: p = #(found →
// lost) / #(found → any), q = #(lost → found) / #(lost → any).
// Edge conventions: 1 when nothing or everything is lost (or the pattern is
// empty); when no transition leaves the lost state (the only loss is the
// last frame) q is taken as 1, and when none leaves the found state (the
// only found frame is the last) p is taken as 1 — a one-frame run seen as
// ending. The estimate is below 1 for losses more spread out than random.
double burst_ratio(const std::vector<uint8_t>& lost);

}  // namespace cellsim::agents

#endif  // CELLSIM_AGENTS_VOICE_H_
