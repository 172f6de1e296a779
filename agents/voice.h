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
// starts at the Recommendation's default, so EModelParams{} gives R = 93.2.
struct EModelParams {
  double sLR = 8;          // send loudness rating, dB
  double rLR = 2;          // receive loudness rating, dB
  double STMR = 15;        // sidetone masking rating, dB
  double LSTR = 18;        // listener sidetone rating, dB
  double Ds = 3;           // D-value of telephone, send side
  double Dr = 3;           // D-value of telephone, receive side
  double TELR = 65;        // talker echo loudness rating, dB
  double WEPL = 110;       // weighted echo path loss, dB
  double T = 0;            // mean one-way delay of the echo path, ms
  double Tr = 0;           // round-trip delay in a 4-wire loop, ms
  double Ta = 0;           // absolute delay in echo-free connections, ms
  double qdu = 1;          // number of quantization distortion units
  double Ie = 0;           // equipment impairment factor
  double Bpl = 4.3;        // packet-loss robustness factor (G.711, no PLC)
  double Ppl = 0;          // random packet-loss probability, %
  double BurstR = 1;       // burst ratio (1: random loss)
  double Nc = -70;         // circuit noise referred to the 0 dBr point, dBm0p
  double Nfor = -64;       // noise floor at the receive side, dBmp
  double Ps = 35;          // room noise at the send side, dB(A)
  double Pr = 35;          // room noise at the receive side, dB(A)
  double A = 0;            // advantage factor
};

// The transmission rating R = Ro − Is − Id − Ie,eff + A (G.107 §7.1).
double emodel_r(const EModelParams& p);

// MOS (conversational quality, estimated) from R (G.107 Annex B, (B-4)):
// 1 below R = 0, 4.5 above R = 100.
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
  uint64_t frames_sent = 0;       // the speaker's frames of the interval
  uint64_t frames_played = 0;     // received by their playout time
  uint64_t frames_late = 0;       // received after it (discarded)
  double mouth_to_ear_ms = 0;     // packetisation + look-ahead + playout delay
  double loss_percent = 0;        // Ppl: (sent − played) / sent, lost and late alike
  double burst_r = 1;             // BurstR of the loss pattern (1: random)
  double r = 0;                   // E-model rating
  double mos = 1;
  double speech_ms() const;       // frames_sent × frame_ms
};

// A fixed jitter buffer over one speaker's interval at one listener: the
// first frame fed sets the playout delay (its own delay plus
// jitter_buffer_ms); a frame arriving after capture + that delay is
// discarded as late. Live agents feed frames as they arrive; the simulator
// in index order (its link model's arrivals).
// Invariant: played + late ≤ frames fed ≤ kMaxSpeechFrames.
inline constexpr uint64_t kMaxSpeechFrames = 1 << 18;

class SpeechMeter {
 public:
  explicit SpeechMeter(const VoiceSettings& settings) : settings_(settings) {}
  // Frame `index` of the interval, captured at `capture_ns`, arrived at
  // `arrival_ns` (same clock). A duplicate index is ignored.
  // REQUIRES: index < kMaxSpeechFrames.
  void on_frame(uint64_t index, int64_t capture_ns, int64_t arrival_ns);
  // The interval ended after `frames_sent` frames (frames never fed were
  // lost). REQUIRES: frames_sent <= kMaxSpeechFrames.
  SpeechResult finish(uint64_t frames_sent) const;
  bool any() const { return have_offset_; }

 private:
  VoiceSettings settings_;
  bool have_offset_ = false;
  int64_t playout_offset_ns_ = 0;  // arrival deadline = capture + this
  std::vector<uint8_t> state_;     // per index: 0 not arrived, 1 played, 2 late
  uint64_t played_ = 0;
  uint64_t late_ = 0;
};

// BurstR of a loss pattern (G.107 §7.4: the mean observed length of loss
// bursts over the mean under random loss at the same rate; for a two-state
// Markov loss process 1 / (p + q)); 1 when nothing or everything is lost.
// `lost[i]` nonzero when frame i was lost.
double burst_ratio(const std::vector<uint8_t>& lost);

}  // namespace cellsim::agents

#endif  // CELLSIM_AGENTS_VOICE_H_
