#pragma once
/// \file mmr.hpp
/// Maximal Marginal Relevance (Carbonell & Goldstein 1998) greedy reranking.
///
/// Given relevance scores `r` `[n]` and a symmetric item similarity matrix `S` `[n, n]`, MMR builds the
/// list one position at a time, each time taking the remaining candidate
///
///     i* = argmax_{i not in Y}  lambda * r_i - (1 - lambda) * max_{j in Y} S_ij
///
/// where the max over the empty set is 0 (so the first pick is the most relevant item). Ties go to the
/// lower candidate index. `lambda = 1` is pure relevance order, `lambda = 0` pure novelty.
///
/// Requires: `0 <= lambda <= 1`; `S` square `[n, n]` matching `r`; finite values; `1 <= k <= n`.
/// Errors: `shape_error` for mismatched shapes, `value_error` for NaN/inf, bad `lambda` or `k`.
/// Thread-safety: `rerank` is `const` and allocation-local; one object may serve many threads.
/// Complexity: O(k n) time (the max similarity to the selected set is updated incrementally), O(n) memory.

#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/checks.hpp"

namespace recblocks::rerank {

/// MMR reranker; see the file comment for the formula.
class mmr {
 public:
  /// `lambda` in [0, 1] weighs relevance against redundancy.
  explicit mmr(double lambda = 0.5);

  double lambda() const { return lambda_; }

  /// Candidate indices (into `relevance`) of the top-`k` MMR list, best first.
  template <class T>
  std::vector<index_t> rerank(const Eigen::Ref<const col_vector<T>>& relevance,
                              const Eigen::Ref<const matrix<T>>& similarity, index_t k) const;

 private:
  double lambda_;
};

// ---- implementation ------------------------------------------------------------------------------

inline mmr::mmr(double lambda) : lambda_(lambda) {
  if (!(lambda >= 0.0 && lambda <= 1.0))
    throw value_error("rerank::mmr: lambda = " + std::to_string(lambda) + " must be in [0, 1]");
}

template <class T>
std::vector<index_t> mmr::rerank(const Eigen::Ref<const col_vector<T>>& relevance,
                                 const Eigen::Ref<const matrix<T>>& similarity, index_t k) const {
  const index_t n = relevance.size();
  detail::require_square("rerank::mmr", "similarity", similarity, n);
  detail::require_k("rerank::mmr", k, n);
  detail::require_finite("rerank::mmr", "relevance", relevance);
  detail::require_finite("rerank::mmr", "similarity", similarity);

  std::vector<double> max_sim(static_cast<std::size_t>(n), 0.0);
  std::vector<char> taken(static_cast<std::size_t>(n), 0);
  std::vector<index_t> out;
  out.reserve(static_cast<std::size_t>(k));
  for (index_t step = 0; step < k; ++step) {
    index_t best = -1;
    double best_value = -std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < n; ++i) {
      if (taken[static_cast<std::size_t>(i)]) continue;
      const double v = lambda_ * static_cast<double>(relevance(i)) - (1.0 - lambda_) * max_sim[static_cast<std::size_t>(i)];
      if (v > best_value) {
        best_value = v;
        best = i;
      }
    }
    taken[static_cast<std::size_t>(best)] = 1;
    out.push_back(best);
    for (index_t i = 0; i < n; ++i) {
      const double s = static_cast<double>(similarity(best, i));
      if (step == 0 || s > max_sim[static_cast<std::size_t>(i)]) max_sim[static_cast<std::size_t>(i)] = s;
    }
  }
  return out;
}

}  // namespace recblocks::rerank
