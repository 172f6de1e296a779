#include "sim/capacity.h"

namespace cellsim::sim {

bool CostTable::load(const v1::Calibration& c, std::string* why) {
  default_base_us_ = c.default_base_us();
  default_per_output_us_ = c.default_per_output_us();
  timer_us_ = c.timer_us();
  tls_handshake_us_ = c.tls_handshake_us();
  base_us_.assign(kMaxBodyCases, default_base_us_);
  per_output_us_.assign(kMaxBodyCases, default_per_output_us_);
  const auto* desc = v1::Envelope::descriptor();
  for (const auto& cost : c.costs()) {
    const auto* f = desc->FindFieldByName(cost.type());
    if (f == nullptr || f->number() >= static_cast<int>(kMaxBodyCases)) {
      *why = "calibration names an unknown frame type \"" + cost.type() + "\"";
      return false;
    }
    base_us_[f->number()] = cost.base_us();
    per_output_us_[f->number()] = cost.per_output_us();
  }
  return true;
}

double CostTable::cost_us(v1::Envelope::BodyCase body, size_t outputs) const {
  const size_t b = static_cast<size_t>(body);
  const double base = b < base_us_.size() ? base_us_[b] : default_base_us_;
  const double per = b < per_output_us_.size() ? per_output_us_[b] : default_per_output_us_;
  return base + per * static_cast<double>(outputs);
}

}  // namespace cellsim::sim
