#pragma once
/// \file gradcheck.hpp
/// Public gradient check: compares the tape's gradients with central differences
///
///     g_num = (f(theta + h e_i) - f(theta - h e_i)) / (2 h)
///     rel_err = |g_tape - g_num| / max(|g_tape|, |g_num|, abs_floor)
///
/// on sampled coordinates of every parameter. `f(tape&)` must return a `[1, 1]` value and be
/// deterministic (dropout draws from the tape's generator, which the check re-seeds identically
/// for every evaluation). Works in `float` and `double`; use `double` for tight tolerances.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../core/tape.hpp"

namespace recblocks::testing {

struct gradcheck_options {
  int samples_per_param = 8;          ///< coordinates checked per parameter (all if the tensor is smaller)
  double step = 1e-6;                 ///< h; use ~1e-3 for float
  double tolerance = 1e-5;            ///< pass if rel_err <= tolerance ...
  double abs_tolerance = 1e-8;        ///< ... or |g_tape - g_num| <= abs_tolerance
  double abs_floor = 1e-10;           ///< denominator floor for rel_err
  double report_floor = 1e-6;         ///< max_rel_error covers coordinates with max(|g_tape|, |g_num|) >= this
  std::uint64_t seed = 1;             ///< which coordinates are sampled
  std::uint64_t tape_seed = 0x5eed;   ///< the tape generator's seed for every evaluation
  bool training = true;               ///< tape training mode (batch norm batch statistics, dropout)
};

/// The worst coordinate found.
struct gradcheck_result {
  bool passed = true;
  double max_rel_error = 0.0;
  double max_abs_error = 0.0;
  std::string worst_param;
  index_t worst_row = -1, worst_col = -1;
  double worst_analytic = 0.0, worst_numeric = 0.0;
  int checked = 0;

  std::string summary() const {
    return "gradcheck " + std::string(passed ? "passed" : "FAILED") + ": " + std::to_string(checked) +
           " coordinates, max rel error " + std::to_string(max_rel_error) + " (param '" + worst_param + "' [" +
           std::to_string(worst_row) + ", " + std::to_string(worst_col) + "]: tape " + std::to_string(worst_analytic) +
           " vs numeric " + std::to_string(worst_numeric) + ")";
  }
};

/// Checks `d f / d p` for every `p` in `params`.
template <class T, class F>
gradcheck_result gradcheck(F&& f, const std::vector<param<T>*>& params, const gradcheck_options& opt = {}) {
  auto evaluate = [&](bool record) -> T {
    tape<T> t(record ? tape_mode::train : tape_mode::infer, opt.tape_seed);
    t.set_training(opt.training);
    return f(t).item();
  };
  for (auto* p : params) p->zero_grad();
  std::vector<matrix<T>> analytic;
  {
    tape<T> t(tape_mode::train, opt.tape_seed);
    t.set_training(opt.training);
    var<T> loss = f(t);
    t.backward(loss);
    for (auto* p : params) analytic.push_back(p->dense_grad());
  }
  gradcheck_result res;
  rng pick(opt.seed);
  for (std::size_t pi = 0; pi < params.size(); ++pi) {
    param<T>& p = *params[pi];
    const index_t n = p.size();
    std::vector<index_t> coords;
    if (n <= opt.samples_per_param) {
      for (index_t k = 0; k < n; ++k) coords.push_back(k);
    } else {
      for (int s = 0; s < opt.samples_per_param; ++s) coords.push_back(pick.integer(0, n - 1));
    }
    for (index_t k : coords) {
      T* v = p.value().data() + k;
      const T saved = *v;
      *v = saved + T(opt.step);
      const double fp = double(evaluate(false));
      *v = saved - T(opt.step);
      const double fm = double(evaluate(false));
      *v = saved;
      const double num = (fp - fm) / (2.0 * opt.step);
      const double ana = double(analytic[pi].data()[k]);
      const double abs_err = std::abs(ana - num);
      const double rel = abs_err / std::max({std::abs(ana), std::abs(num), opt.abs_floor});
      ++res.checked;
      const bool ok = rel <= opt.tolerance || abs_err <= opt.abs_tolerance;
      if (!ok) res.passed = false;
      // Relative error is reported where the gradient is large enough for it to mean something
      // (finite differences of tiny gradients are noise), and always for a failing coordinate.
      const bool significant = std::max(std::abs(ana), std::abs(num)) >= opt.report_floor;
      const double rel_for_report = (significant || !ok) ? rel : 0.0;
      if (rel_for_report > res.max_rel_error || res.worst_param.empty()) {
        res.max_rel_error = std::max(res.max_rel_error, rel_for_report);
        res.worst_param = p.name();
        res.worst_row = k / p.cols();
        res.worst_col = k % p.cols();
        res.worst_analytic = ana;
        res.worst_numeric = num;
      }
      res.max_abs_error = std::max(res.max_abs_error, abs_err);
    }
  }
  for (auto* p : params) p->zero_grad();
  return res;
}

}  // namespace recblocks::testing
