#include "live/fit.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "proto/assert.h"

namespace cellsim::live {
namespace {

using Matrix = std::vector<std::vector<double>>;  // by rows

// --- Linear algebra ----------------------------------------------------------

// Least squares of the columns `cols` of A (m × n, row-major) against b by
// Householder QR; columns whose pivot is negligible get 0.
std::vector<double> least_squares(const Matrix& a, const std::vector<double>& b,
                                  const std::vector<size_t>& cols) {
  const size_t m = a.size(), k = cols.size();
  Matrix r(m, std::vector<double>(k));
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < k; ++j) r[i][j] = a[i][cols[j]];
  }
  std::vector<double> y = b;
  std::vector<bool> dead(k, true);  // until the column gets a pivot row
  std::vector<size_t> pivot_row(k, 0);
  size_t row = 0;
  for (size_t j = 0; j < k && row < m; ++j) {
    double norm = 0;
    for (size_t i = row; i < m; ++i) norm += r[i][j] * r[i][j];
    norm = std::sqrt(norm);
    if (norm < 1e-12) continue;
    const double alpha = r[row][j] > 0 ? -norm : norm;
    std::vector<double> v(m, 0.0);
    for (size_t i = row; i < m; ++i) v[i] = r[i][j];
    v[row] -= alpha;
    double vv = 0;
    for (size_t i = row; i < m; ++i) vv += v[i] * v[i];
    if (vv > 0) {
      for (size_t c = j; c < k; ++c) {
        double d = 0;
        for (size_t i = row; i < m; ++i) d += v[i] * r[i][c];
        const double f = 2 * d / vv;
        for (size_t i = row; i < m; ++i) r[i][c] -= f * v[i];
      }
      double d = 0;
      for (size_t i = row; i < m; ++i) d += v[i] * y[i];
      const double f = 2 * d / vv;
      for (size_t i = row; i < m; ++i) y[i] -= f * v[i];
    }
    dead[j] = false;
    pivot_row[j] = row;
    ++row;
  }
  std::vector<double> z(k, 0.0);
  for (size_t jj = k; jj-- > 0;) {
    if (dead[jj]) continue;
    const size_t i = pivot_row[jj];
    double s = y[i];
    for (size_t c = jj + 1; c < k; ++c) {
      if (!dead[c]) s -= r[i][c] * z[c];
    }
    z[jj] = std::abs(r[i][jj]) < 1e-12 ? 0 : s / r[i][jj];
  }
  return z;
}

// --- NNLS, step by step --------------------------------------------------------

bool well_formed(const Matrix& a, const std::vector<double>& b, std::string* why) {
  if (a.empty() || a.size() != b.size()) {
    if (why) *why = "nnls: no rows, or rows and right-hand side differ";
    return false;
  }
  for (const auto& row : a) {
    if (row.size() != a[0].size()) {
      if (why) *why = "nnls: ragged rows";
      return false;
    }
  }
  return true;
}

// The Euclidean norm of each column.
std::vector<double> column_norms(const Matrix& a) {
  const size_t m = a.size(), n = a[0].size();
  std::vector<double> norms(n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    double s = 0;
    for (size_t i = 0; i < m; ++i) s += a[i][j] * a[i][j];
    norms[j] = std::sqrt(s);
  }
  return norms;
}

// A with each column divided by its norm (an all-zero column stays 0).
Matrix unit_columns(const Matrix& a, const std::vector<double>& norms) {
  const size_t m = a.size(), n = norms.size();
  Matrix out(m, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) out[i][j] = norms[j] > 0 ? a[i][j] / norms[j] : 0;
  }
  return out;
}

// The gradient's size below which a column does not enter: relative to |b|.
double tolerance(const std::vector<double>& b) {
  double bnorm = 0;
  for (double v : b) bnorm += v * v;
  bnorm = std::sqrt(bnorm);
  return 1e-10 * std::max(bnorm, 1e-300);
}

// Aᵀ (b - A x).
std::vector<double> gradient(const Matrix& a, const std::vector<double>& b,
                             const std::vector<double>& x) {
  const size_t m = a.size(), n = x.size();
  std::vector<double> res(m);
  for (size_t i = 0; i < m; ++i) {
    double p = 0;
    for (size_t j = 0; j < n; ++j) p += a[i][j] * x[j];
    res[i] = b[i] - p;
  }
  std::vector<double> w(n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    for (size_t i = 0; i < m; ++i) w[j] += a[i][j] * res[i];
  }
  return w;
}

// The active column with the largest gradient above `tol`, or n if none.
size_t entering_column(const std::vector<double>& w, const std::vector<bool>& passive,
                       const std::vector<double>& norms, double tol) {
  const size_t n = w.size();
  size_t t = n;
  double best = tol;
  for (size_t j = 0; j < n; ++j) {
    if (!passive[j] && norms[j] > 0 && w[j] > best) {
      best = w[j];
      t = j;
    }
  }
  return t;
}

// The indices of the passive set.
std::vector<size_t> passive_columns(const std::vector<bool>& passive) {
  std::vector<size_t> cols;
  for (size_t j = 0; j < passive.size(); ++j) {
    if (passive[j]) cols.push_back(j);
  }
  return cols;
}

// Moves x from where it is towards z as far as x stays >= 0, and drops the
// columns that reach 0 from the passive set.
void step_towards(const std::vector<double>& z, const std::vector<size_t>& cols,
                  std::vector<double>* x, std::vector<bool>* passive) {
  double alpha = 1;
  for (size_t j : cols) {
    if (z[j] <= 0) {
      const double d = (*x)[j] - z[j];
      if (d > 0) alpha = std::min(alpha, (*x)[j] / d);
    }
  }
  for (size_t j = 0; j < x->size(); ++j) (*x)[j] += alpha * (z[j] - (*x)[j]);
  for (size_t j : cols) {
    if ((*x)[j] <= 1e-15) {
      (*x)[j] = 0;
      (*passive)[j] = false;
    }
  }
}

// Lawson–Hanson's inner loop: least squares on the passive set until every
// passive coefficient is positive (then x is that solution), stepping back
// and shrinking the set while some are not.
void solve_passive_set(const Matrix& a, const std::vector<double>& b, std::vector<double>* x,
                       std::vector<bool>* passive) {
  const size_t n = x->size();
  for (size_t inner = 0; inner < 3 * n + 3; ++inner) {
    const std::vector<size_t> cols = passive_columns(*passive);
    const std::vector<double> zc = least_squares(a, b, cols);
    std::vector<double> z(n, 0.0);
    bool all_positive = true;
    for (size_t c = 0; c < cols.size(); ++c) {
      z[cols[c]] = zc[c];
      if (zc[c] <= 0) all_positive = false;
    }
    if (all_positive) {
      *x = z;
      return;
    }
    step_towards(z, cols, x, passive);
  }
}

// --- The fit, step by step -------------------------------------------------------

// Frames of each type over all runs, and the largest share of a run's
// frames each type had.
void type_totals(const std::vector<CalibrationRun>& runs, std::map<std::string, double>* totals,
                 std::map<std::string, double>* max_share) {
  for (const auto& r : runs) {
    double all = 0;
    for (const auto& [type, n] : r.frames_in) all += n;
    for (const auto& [type, n] : r.frames_in) {
      (*totals)[type] += n;
      if (all > 0) (*max_share)[type] = std::max((*max_share)[type], n / all);
    }
  }
}

// The design matrix's columns: every frame in (base), each extra, the folded
// types' extra, frames out, [timer], [idle]; kNone for a term not fitted.
struct Columns {
  static constexpr size_t kNone = SIZE_MAX;
  size_t base = 0, first_extra = 1, fallback = 0, out = 0;
  size_t timer = kNone, idle = kNone;
  size_t count = 0;
};

Columns column_layout(size_t extras, size_t runs, const FitOptions& fo) {
  Columns c;
  c.fallback = 1 + extras;
  c.out = c.fallback + 1;
  c.count = c.out + 1;
  if (fo.fit_timer) c.timer = c.count++;
  if (fo.fit_idle && runs >= c.count + 1 + 2) c.idle = c.count++;
  return c;
}

// One run's row of the design matrix.
std::vector<double> design_row(const CalibrationRun& r, const std::string& reference,
                               const std::vector<std::string>& extras, const Columns& c) {
  std::vector<double> row(c.count, 0.0);
  for (const auto& [type, count] : r.frames_in) {
    row[c.base] += count;
    if (type == reference) continue;
    const auto it = std::find(extras.begin(), extras.end(), type);
    row[it == extras.end() ? c.fallback
                           : c.first_extra + static_cast<size_t>(it - extras.begin())] += count;
  }
  row[c.out] = r.frames_out;
  if (c.timer != Columns::kNone) row[c.timer] = r.timer_runs;
  if (c.idle != Columns::kNone) row[c.idle] = r.seconds;
  return row;
}

// Rows and right-hand side scaled by 1 / b (relative errors; b <= 0: 1).
void weigh_by_inverse(Matrix* a, std::vector<double>* b) {
  for (size_t i = 0; i < a->size(); ++i) {
    const double w = (*b)[i] > 0 ? 1 / (*b)[i] : 1;
    for (double& v : (*a)[i]) v *= w;
    (*b)[i] *= w;
  }
}

// Splits the types into their own (enough frames, a visible share of some
// run's frames) and the folded; the reference is the most frequent own type.
// False with fit->error when no type has enough frames.
bool choose_types(const std::vector<CalibrationRun>& runs, const FitOptions& fo, CostFit* fit,
                  std::vector<std::string>* extras) {
  std::map<std::string, double> totals, max_share;
  type_totals(runs, &totals, &max_share);
  std::vector<std::string> own;
  for (const auto& [type, n] : totals) {
    if (n >= static_cast<double>(fo.min_frames_per_type) && max_share[type] >= fo.min_share) {
      own.push_back(type);
    } else if (n > 0) {
      fit->folded.push_back(type);
    }
  }
  if (own.empty()) {
    fit->error = "no frame type has enough frames to fit (at least " +
                 std::to_string(fo.min_frames_per_type) + ")";
    return false;
  }
  fit->reference = *std::max_element(
      own.begin(), own.end(), [&](const auto& x, const auto& y) { return totals[x] < totals[y]; });
  for (const auto& t : own) {
    if (t != fit->reference) extras->push_back(t);
  }
  return true;
}

// The costs (µs) from the solution x (ns per unit of each column).
void read_costs(const std::vector<double>& x, const std::vector<std::string>& extras,
                const Columns& c, CostFit* fit) {
  const double base = x[c.base] / 1e3;
  fit->base_us[fit->reference] = base;
  for (size_t j = 0; j < extras.size(); ++j) {
    fit->base_us[extras[j]] = base + x[c.first_extra + j] / 1e3;
  }
  fit->default_fitted = !fit->folded.empty();
  fit->default_base_us = base + x[c.fallback] / 1e3;
  fit->per_output_us = x[c.out] / 1e3;
  fit->timer_us = c.timer != Columns::kNone ? x[c.timer] / 1e3 : 0;
  fit->idle_us_per_s = c.idle != Columns::kNone ? x[c.idle] / 1e3 : 0;
}

// Fills each run's prediction; the relative RMS error over the runs.
double predict(const Matrix& a, const std::vector<double>& b, const std::vector<double>& x,
               std::vector<CalibrationRun>* runs) {
  double sq = 0;
  for (size_t i = 0; i < runs->size(); ++i) {
    double p = 0;
    for (size_t j = 0; j < x.size(); ++j) p += a[i][j] * x[j];
    (*runs)[i].predicted_ns = p;
    const double rel = b[i] > 0 ? (p - b[i]) / b[i] : 0;
    sq += rel * rel;
  }
  return std::sqrt(sq / static_cast<double>(runs->size()));
}

}  // namespace

bool nnls(const Matrix& a_in, const std::vector<double>& b, std::vector<double>* x_out,
          std::string* why) {
  CELLSIM_ASSERT(x_out != nullptr);
  if (!well_formed(a_in, b, why)) return false;
  const size_t n = a_in[0].size();
  const std::vector<double> norms = column_norms(a_in);
  const Matrix a = unit_columns(a_in, norms);
  const double tol = tolerance(b);
  std::vector<double> x(n, 0.0);
  std::vector<bool> passive(n, false);
  for (size_t outer = 0; outer < 3 * n + 3; ++outer) {
    const size_t t = entering_column(gradient(a, b, x), passive, norms, tol);
    if (t == n) break;
    passive[t] = true;
    solve_passive_set(a, b, &x, &passive);
  }
  x_out->assign(n, 0.0);
  for (size_t j = 0; j < n; ++j) (*x_out)[j] = norms[j] > 0 ? x[j] / norms[j] : 0;
  for (double v : *x_out) CELLSIM_ASSERT(!(v < 0));  // the constraint held
  return true;
}

CostFit fit_costs(std::vector<CalibrationRun>* runs, const FitOptions& fo) {
  CELLSIM_ASSERT(runs != nullptr);
  CostFit fit;
  if (runs->empty()) {
    fit.error = "no runs to fit";
    return fit;
  }
  std::vector<std::string> extras;
  if (!choose_types(*runs, fo, &fit, &extras)) return fit;
  const Columns c = column_layout(extras.size(), runs->size(), fo);
  Matrix a;
  std::vector<double> b;
  for (const auto& r : *runs) {
    a.push_back(design_row(r, fit.reference, extras, c));
    b.push_back(r.cpu_ns);
  }
  // Each run weighs by its relative error (the runs span levels), as the
  // fit's error is measured.
  Matrix aw = a;
  std::vector<double> bw = b;
  weigh_by_inverse(&aw, &bw);
  std::vector<double> x;
  if (!nnls(aw, bw, &x, &fit.error)) return fit;
  read_costs(x, extras, c, &fit);
  fit.fit_error = predict(a, b, x, runs);
  fit.ok = true;
  return fit;
}

}  // namespace cellsim::live
