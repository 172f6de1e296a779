// Draws from a scenario Distribution (scenario.proto) in the field's unit.
// All shapes are non-negative: a draw below 0 is clamped to 0 (the loader
// refuses parameters that would make that common).
//
// Thread-safety: stateless functions; the Rng is the caller's.
#ifndef CELLSIM_AGENTS_DISTRIBUTION_H_
#define CELLSIM_AGENTS_DISTRIBUTION_H_

#include <algorithm>
#include <cmath>

#include "agents/rng.h"
#include "cellsim/v1/scenario.pb.h"

namespace cellsim::agents {

// Piecewise-linear quantile function through the empirical points.
inline double empirical_quantile(const v1::Empirical& e, double u) {
  const auto& p = e.points();
  if (p.empty()) return 0;
  if (u <= p[0].quantile()) return p[0].value();
  for (int i = 1; i < p.size(); ++i) {
    if (u <= p[i].quantile()) {
      const double span = p[i].quantile() - p[i - 1].quantile();
      const double f = span > 0 ? (u - p[i - 1].quantile()) / span : 1.0;
      return p[i - 1].value() + f * (p[i].value() - p[i - 1].value());
    }
  }
  return p[p.size() - 1].value();
}

// The quantile function of `d` at u in [0, 1) (used by draw() and by tests
// that compare a link's delays with the configured distribution).
inline double quantile(const v1::Distribution& d, double u) {
  constexpr double kInvSqrt2 = 0.7071067811865476;
  switch (d.kind_case()) {
    case v1::Distribution::kConstant: return d.constant().value();
    case v1::Distribution::kUniform:
      return d.uniform().min() + u * (d.uniform().max() - d.uniform().min());
    case v1::Distribution::kExponential: return -d.exponential().mean() * std::log1p(-u);
    case v1::Distribution::kPareto:
      return d.pareto().scale() * std::pow(1.0 - u, -1.0 / d.pareto().shape());
    case v1::Distribution::kEmpirical: return empirical_quantile(d.empirical(), u);
    case v1::Distribution::kNormal:
    case v1::Distribution::kLognormal: {
      // Inverse normal CDF by bisection on erfc: exact enough for tests and rare use.
      double lo = -40, hi = 40;
      for (int i = 0; i < 100; ++i) {
        const double mid = (lo + hi) / 2;
        (0.5 * std::erfc(-mid * kInvSqrt2) < u ? lo : hi) = mid;
      }
      const double z = (lo + hi) / 2;
      if (d.kind_case() == v1::Distribution::kNormal) {
        return d.normal().mean() + d.normal().stddev() * z;
      }
      return d.lognormal().median() * std::exp(d.lognormal().sigma() * z);
    }
    case v1::Distribution::KIND_NOT_SET: return 0;
  }
  return 0;
}

// The cumulative distribution function of `d` at x (before clamping at 0).
inline double cdf(const v1::Distribution& d, double x) {
  constexpr double kInvSqrt2 = 0.7071067811865476;
  switch (d.kind_case()) {
    case v1::Distribution::kConstant: return x >= d.constant().value() ? 1.0 : 0.0;
    case v1::Distribution::kUniform: {
      const double lo = d.uniform().min(), hi = d.uniform().max();
      if (hi <= lo) return x >= lo ? 1.0 : 0.0;
      return std::clamp((x - lo) / (hi - lo), 0.0, 1.0);
    }
    case v1::Distribution::kExponential:
      return x <= 0 ? 0.0 : 1.0 - std::exp(-x / d.exponential().mean());
    case v1::Distribution::kPareto:
      return x <= d.pareto().scale() ? 0.0 : 1.0 - std::pow(d.pareto().scale() / x, d.pareto().shape());
    case v1::Distribution::kNormal:
      return 0.5 * std::erfc(-(x - d.normal().mean()) / d.normal().stddev() * kInvSqrt2);
    case v1::Distribution::kLognormal:
      return x <= 0 ? 0.0
                    : 0.5 * std::erfc(-std::log(x / d.lognormal().median()) /
                                      d.lognormal().sigma() * kInvSqrt2);
    case v1::Distribution::kEmpirical: {
      double lo = 0, hi = 1;  // invert the piecewise-linear quantile function
      for (int i = 0; i < 60; ++i) {
        const double mid = (lo + hi) / 2;
        (empirical_quantile(d.empirical(), mid) <= x ? lo : hi) = mid;
      }
      return (lo + hi) / 2;
    }
    case v1::Distribution::KIND_NOT_SET: return x >= 0 ? 1.0 : 0.0;
  }
  return 0;
}

// One draw, clamped at 0.
inline double draw(const v1::Distribution& d, Rng& rng) {
  double x;
  switch (d.kind_case()) {
    case v1::Distribution::kNormal: x = rng.normal(d.normal().mean(), d.normal().stddev()); break;
    case v1::Distribution::kLognormal:
      x = d.lognormal().median() * std::exp(rng.normal(0, d.lognormal().sigma()));
      break;
    default: x = quantile(d, rng.uniform()); break;
  }
  return std::max(0.0, x);
}

}  // namespace cellsim::agents

#endif  // CELLSIM_AGENTS_DISTRIBUTION_H_
