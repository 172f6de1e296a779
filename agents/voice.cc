// The E-model and the speech meter (agents/voice.h).
//
// Equation numbers are those of ITU-T G.107 (06/2015), "The E-model: a
// computational model for use in transmission planning", §7 and Annex B.
#include "agents/voice.h"

#include <algorithm>
#include <cmath>

#include "proto/assert.h"

namespace cellsim::agents {
namespace {

// G.107 Table 1, delay-sensitivity class "Default".
constexpr double kMinPerceivableDelayMs = 100;  // mT
constexpr double kDelaySensitivity = 1;         // sT
// Below this echo-path delay talker echo is sidetone: Idte = 0 (§7.4).
constexpr double kEchoAsSidetoneMs = 1;
// STMR bounds of the sidetone corrections to the talker echo (§7.4).
constexpr double kLowStmrDb = 9;
constexpr double kHighStmrDb = 20;
// Annex B: the MOS scale and the R range the cubic (B-4) is used on.
constexpr double kMosMin = 1;
constexpr double kMosMax = 4.5;
constexpr double kRMax = 100;

constexpr double kNsPerMs = 1e6;

double sq(double x) { return x * x; }
double pow10(double x) { return std::pow(10.0, x); }

// (7-3) .. (7-7): No (dBm0p), the power sum of the circuit noise Nc, the send-side
// room noise Nos, the receive-side room noise Nor and the noise floor Nfo.
double total_noise(const EModelParams& p) {
  const double olr = p.sLR + p.rLR;  // overall loudness rating
  // (7-4) Nos = Ps − SLR − Ds − 100 + 0.004(Ps − OLR − Ds − 14)²
  const double nos = p.Ps - p.sLR - p.Ds - 100 + 0.004 * sq(p.Ps - olr - p.Ds - 14);
  // (7-6) Pre = Pr + 10 log[1 + 10^((10 − LSTR)/10)]
  const double pre = p.Pr + 10 * std::log10(1 + pow10((10 - p.LSTR) / 10));
  // (7-5) Nor = RLR − 121 + Pre + 0.008(Pre − 35)²
  const double nor = p.rLR - 121 + pre + 0.008 * sq(pre - 35);
  // (7-7) Nfo = Nfor + RLR
  const double nfo = p.Nfor + p.rLR;
  // (7-3) No = 10 log[10^(Nc/10) + 10^(Nos/10) + 10^(Nor/10) + 10^(Nfo/10)]
  return 10 * std::log10(pow10(p.Nc / 10) + pow10(nos / 10) + pow10(nor / 10) + pow10(nfo / 10));
}

// (7-2) Ro = 15 − 1.5(SLR + No): the basic signal-to-noise ratio.
double basic_snr(const EModelParams& p, double no) { return 15 - 1.5 * (p.sLR + no); }

// (7-11), (7-12): Ist, the impairment of non-optimum sidetone.
double sidetone_impairment(const EModelParams& p) {
  // (7-12) STMRo = −10 log[10^(−STMR/10) + e^(−T/4)·10^(−TELR/10)]
  const double stmro =
      -10 * std::log10(pow10(-p.STMR / 10) + std::exp(-p.T / 4) * pow10(-p.TELR / 10));
  // (7-11)
  return 12 * std::pow(1 + std::pow((stmro - 13) / 6, 8), 1.0 / 8) -
         28 * std::pow(1 + std::pow((stmro + 1) / 19.4, 35), 1.0 / 35) -
         13 * std::pow(1 + std::pow((stmro - 3) / 33, 13), 1.0 / 13) + 29;
}

// (7-9), (7-10): Iolr, the impairment of too low an overall loudness.
double loudness_impairment(const EModelParams& p, double no) {
  // (7-10) Xolr = OLR + 0.2(64 + No − RLR)
  const double xolr = p.sLR + p.rLR + 0.2 * (64 + no - p.rLR);
  // (7-9) Iolr = 20[(1 + (Xolr/8)^8)^(1/8) − Xolr/8]
  return 20 * (std::pow(1 + std::pow(xolr / 8, 8), 1.0 / 8) - xolr / 8);
}

// (7-13) .. (7-17): Iq, the impairment of quantizing distortion.
double quantizing_impairment(const EModelParams& p, double ro) {
  const double q = 37 - 15 * std::log10(p.qdu);         // (7-17)
  const double g = 1.07 + 0.258 * q + 0.0602 * sq(q);   // (7-16)
  const double y = (ro - 100) / 15 + 46 / 8.4 - g / 9;  // (7-14)
  const double z = 46.0 / 30 - g / 40;                  // (7-15)
  return 15 * std::log10(1 + pow10(y) + pow10(z));      // (7-13)
}

// (7-19) .. (7-24): Idte, the impairment of talker echo (with the sidetone
// corrections for STMR < 9 dB and STMR > 20 dB).
double talker_echo_impairment(const EModelParams& p, double no, double ist) {
  if (p.T < kEchoAsSidetoneMs) return 0;   // §7.4: echo within 1 ms is sidetone
  const double roe = -1.5 * (no - p.rLR);  // (7-20)
  // (7-22) TERV = TELR − 40 log[(1 + T/10)/(1 + T/150)] + 6e^(−0.3T²)
  double terv =
      p.TELR - 40 * std::log10((1 + p.T / 10) / (1 + p.T / 150)) + 6 * std::exp(-0.3 * sq(p.T));
  if (p.STMR < kLowStmrDb) terv += ist / 2;  // (7-23) TERVs = TERV + Ist/2
  const double re = 80 + 2.5 * (terv - 14);  // (7-21)
  const double d = roe - re;
  // (7-19) Idte = [(Roe − Re)/2 + √((Roe − Re)²/4 + 100) − 1](1 − e^(−T))
  const double idte = (d / 2 + std::sqrt(sq(d) / 4 + 100) - 1) * (1 - std::exp(-p.T));
  if (p.STMR > kHighStmrDb) return std::sqrt(sq(idte) + sq(ist));  // (7-24) Idtes
  return idte;
}

// (7-25), (7-26): Idle, the impairment of listener echo.
double listener_echo_impairment(const EModelParams& p, double ro) {
  const double rle = 10.5 * (p.WEPL + 7) * std::pow(p.Tr + 1, -0.25);  // (7-26)
  return (ro - rle) / 2 + std::sqrt(sq(ro - rle) / 4 + 169);           // (7-25)
}

// (7-27), (7-28): Idd, the impairment of absolute delay (too long a delay
// even with perfect echo cancelling), at the "Default" class.
double absolute_delay_impairment(const EModelParams& p) {
  if (p.Ta <= kMinPerceivableDelayMs) return 0;
  const double x = std::log10(p.Ta / kMinPerceivableDelayMs) / std::log10(2.0);  // (7-28)
  const double e = 6 * kDelaySensitivity;
  // (7-27) Idd = 25{(1 + X^(6sT))^(1/(6sT)) − 3(1 + (X/3)^(6sT))^(1/(6sT)) + 2}
  return 25 *
         (std::pow(1 + std::pow(x, e), 1 / e) - 3 * std::pow(1 + std::pow(x / 3, e), 1 / e) + 2);
}

// (7-29) Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl/BurstR + Bpl).
double effective_equipment_impairment(const EModelParams& p) {
  return p.Ie + (95 - p.Ie) * p.Ppl / (p.Ppl / p.BurstR + p.Bpl);
}

// The loss transitions of a pattern: counts of consecutive pairs by the
// first frame's and the second frame's state.
struct Transitions {
  uint64_t lost = 0;                         // frames lost
  uint64_t found_found = 0, found_lost = 0;  // from a found frame
  uint64_t lost_found = 0, lost_lost = 0;    // from a lost frame
};

template <class LostFn>
Transitions count_transitions(uint64_t n, LostFn is_lost) {
  Transitions t;
  bool prev = false;
  for (uint64_t i = 0; i < n; ++i) {
    const bool cur = is_lost(i);
    t.lost += cur;
    if (i > 0) {
      if (prev) {
        (cur ? t.lost_lost : t.lost_found) += 1;
      } else {
        (cur ? t.found_lost : t.found_found) += 1;
      }
    }
    prev = cur;
  }
  return t;
}

// BurstR = 1/(p + q) from the transition counts (conventions in voice.h).
double burst_ratio_of(uint64_t n, const Transitions& t) {
  if (t.lost == 0 || t.lost == n) return 1;
  const uint64_t from_found = t.found_found + t.found_lost;
  const uint64_t from_lost = t.lost_found + t.lost_lost;
  const double p = from_found == 0 ? 1 : static_cast<double>(t.found_lost) / from_found;
  const double q = from_lost == 0 ? 1 : static_cast<double>(t.lost_found) / from_lost;
  return 1 / (p + q);  // p + q > 0: some frame is found and some lost
}

}  // namespace

double emodel_r(const EModelParams& p) {
  CELLSIM_ASSERT(p.qdu > 0 && p.Bpl > 0 && p.Ppl >= 0 && p.BurstR > 0);
  const double no = total_noise(p);
  const double ro = basic_snr(p, no);
  const double ist = sidetone_impairment(p);
  // (7-8) Is = Iolr + Ist + Iq
  const double is = loudness_impairment(p, no) + ist + quantizing_impairment(p, ro);
  // (7-18) Id = Idte + Idle + Idd
  const double id = talker_echo_impairment(p, no, ist) + listener_echo_impairment(p, ro) +
                    absolute_delay_impairment(p);
  // (7-1) R = Ro − Is − Id − Ie,eff + A
  return ro - is - id - effective_equipment_impairment(p) + p.A;
}

// Annex B, (B-4). The cubic is 1 + 7·10⁻⁶·R(−R² + 160R − 1000), below 1
// between its roots R = 0 and R = 80 − √5400 ≈ 6.5 (down to 0.989 at
// R ≈ 3.2). The 06/2015 edition has a note on that range; its wording was
// not at hand when this was written, so the choice here is ours: MOS is held
// at the floor of the scale there, max(1, cubic), which keeps the mapping in
// [1, 4.5] and monotone and differs from the bare cubic by at most 0.011.
double mos_from_r(double r) {
  if (r < 0) return kMosMin;
  if (r > kRMax) return kMosMax;
  const double cubic = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
  return std::max(kMosMin, cubic);
}

double SpeechResult::speech_ms() const { return static_cast<double>(frames_sent) * frame_ms; }

void SpeechMeter::on_frame(uint64_t index, int64_t capture_ns, int64_t arrival_ns) {
  CELLSIM_ASSERT(index < kMaxSpeechFrames);
  if (index >= state_.size()) state_.resize(index + 1, kNotArrived);  // geometric growth
  uint8_t& s = state_[index];
  if (s != kNotArrived) return;  // a duplicate
  const int64_t delay_ns = arrival_ns - capture_ns;
  if (!have_offset_) {
    have_offset_ = true;
    playout_offset_ns_ = delay_ns + std::llround(settings_.jitter_buffer_ms * kNsPerMs);
  }
  if (delay_ns > playout_offset_ns_) {
    s = kLate;
    ++late_;
  } else {
    s = kPlayed;
    ++played_;
  }
}

SpeechResult SpeechMeter::finish(uint64_t frames_sent) const {
  CELLSIM_ASSERT(frames_sent <= kMaxSpeechFrames);
  SpeechResult res;
  res.frames_sent = frames_sent;
  res.frame_ms = settings_.frame_ms;
  if (frames_sent >= state_.size()) {
    res.frames_played = played_;
    res.frames_late = late_;
  } else {  // frames fed beyond the interval's end are not counted
    for (uint64_t i = 0; i < frames_sent; ++i) {
      res.frames_played += state_[i] == kPlayed;
      res.frames_late += state_[i] == kLate;
    }
  }
  if (have_offset_) {
    res.mouth_to_ear_ms = settings_.frame_ms + settings_.lookahead_ms +
                          static_cast<double>(playout_offset_ns_) / kNsPerMs;
  }
  res.loss_percent = frames_sent == 0
                         ? 100
                         : 100 * static_cast<double>(frames_sent - res.frames_played) / frames_sent;
  const Transitions t = count_transitions(frames_sent, [this](uint64_t i) { return lost(i); });
  // G.107 defines BurstR for random (1) or bursty (> 1) loss; a pattern
  // more even than random is rated as random.
  res.burst_r = std::max(1.0, burst_ratio_of(frames_sent, t));
  EModelParams p;
  p.T = p.Ta = res.mouth_to_ear_ms;
  p.Tr = 2 * res.mouth_to_ear_ms;
  p.Ie = settings_.ie;
  p.Bpl = settings_.bpl;
  p.Ppl = res.loss_percent;
  p.BurstR = res.burst_r;
  res.r = emodel_r(p);
  res.mos = std::clamp(mos_from_r(res.r), kMosMin, kMosMax);
  return res;
}

double burst_ratio(const std::vector<uint8_t>& lost) {
  const Transitions t =
      count_transitions(lost.size(), [&lost](uint64_t i) { return lost[i] != 0; });
  return burst_ratio_of(lost.size(), t);
}

}  // namespace cellsim::agents
