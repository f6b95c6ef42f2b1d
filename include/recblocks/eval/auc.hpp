#pragma once
/// \file auc.hpp
/// ROC AUC, exact, with tied scores averaged (Mann-Whitney U with midranks).
///
///     AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-)
///
/// where the n = n+ + n- scores are ranked ascending (1..n), each group of tied scores gets the
/// mean of its ranks, and R+ is the sum of the positives' ranks. Equivalently: the probability
/// that a random positive scores above a random negative, counting ties as 1/2. Same value as
/// sklearn's `roc_auc_score`.
///
/// Inputs: any ranges of numbers (std::vector, std::span, Eigen vectors) of equal length; labels
/// exactly 0 or 1; scores finite (probabilities or logits: only their order matters).
/// Errors: `shape_error` (lengths differ), `value_error` (a label not 0/1, a NaN/inf score, or
/// only one class present: AUC is undefined — `scenario_report` and `gauc` report NaN or skip such
/// groups instead). Complexity: O(n log n). Thread-safety: pure function.

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "detail/checks.hpp"

namespace recblocks::eval {

/// AUC of `scores` against binary `labels`.
template <class Labels, class Scores>
double auc(const Labels& labels, const Scores& scores);

/// AUC on already-converted, already-validated inputs; NaN when one class is absent.
inline double auc_unchecked(const std::vector<double>& labels, const std::vector<double>& scores);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline double auc_unchecked(const std::vector<double>& labels, const std::vector<double>& scores) {
  const std::size_t n = labels.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0.0, positives = 0.0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // ranks i+1..j
    for (std::size_t t = i; t < j; ++t)
      if (labels[order[t]] == 1.0) {
        rank_sum += midrank;
        positives += 1.0;
      }
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0.0 || negatives == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
}

template <class Labels, class Scores>
double auc(const Labels& labels, const Scores& scores) {
  const char* block = "eval::auc";
  const auto y = detail::to_doubles(labels);
  const auto s = detail::to_doubles(scores);
  detail::require_same_size(block, y.size(), s.size());
  detail::require_binary(block, y);
  detail::require_finite(block, s);
  const double a = auc_unchecked(y, s);
  if (std::isnan(a))
    throw value_error(std::string(block) + ": AUC is undefined when all " + std::to_string(y.size()) +
                      " labels are of one class");
  return a;
}

}  // namespace recblocks::eval
