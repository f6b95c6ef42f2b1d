#pragma once
/// \file log_loss.hpp
/// Binary cross-entropy of predicted probabilities (sklearn `log_loss`), clipped.
///
///     log_loss = -(1/n) sum_i [ y_i log(p_i) + (1 - y_i) log(1 - p_i) ],   p_i = clamp(p_i, eps, 1 - eps)
///
/// The clip keeps a confident mistake finite: with eps = 1e-7 one fully wrong prediction costs
/// -log(1e-7) = 16.118.
///
/// Requires: equal lengths (`shape_error`), at least one sample, labels 0/1, probabilities finite and
/// in [0, 1], 0 < eps < 0.5 (`value_error`). Complexity: O(n). Thread-safety: pure function.

#include <algorithm>
#include <cmath>

#include "detail/checks.hpp"

namespace recblocks::eval {

template <class Labels, class Probabilities>
double log_loss(const Labels& labels, const Probabilities& probabilities, double eps = 1e-7);

/// On already-converted, already-validated inputs (n >= 1).
inline double log_loss_unchecked(const std::vector<double>& y, const std::vector<double>& p, double eps = 1e-7);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline double log_loss_unchecked(const std::vector<double>& y, const std::vector<double>& p, double eps) {
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double q = std::clamp(p[i], eps, 1.0 - eps);
    sum -= y[i] * std::log(q) + (1.0 - y[i]) * std::log(1.0 - q);
  }
  return sum / static_cast<double>(y.size());
}

template <class Labels, class Probabilities>
double log_loss(const Labels& labels, const Probabilities& probabilities, double eps) {
  const char* block = "eval::log_loss";
  const auto y = detail::to_doubles(labels);
  const auto p = detail::to_doubles(probabilities);
  detail::require_same_size(block, y.size(), p.size(), "probabilities");
  if (y.empty()) throw value_error(std::string(block) + ": no samples");
  if (!(eps > 0.0 && eps < 0.5)) throw value_error(std::string(block) + ": eps must be in (0, 0.5)");
  detail::require_binary(block, y);
  detail::require_finite(block, p, "probability");
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] < 0.0 || p[i] > 1.0)
      throw value_error(std::string(block) + ": probability " + std::to_string(p[i]) + " at position " +
                        std::to_string(i) + " is outside [0, 1]");
  return log_loss_unchecked(y, p, eps);
}

}  // namespace recblocks::eval
