#pragma once
/// \file alpha_ndcg.hpp
/// alpha-NDCG@k (Clarke et al., SIGIR 2008), the diversity metric LLM4Rerank reports.
///
/// `subtopics` `[n, m]` holds `J(i, t) >= 0`, the judgement of item `i` for subtopic `t` (genre flags in
/// the usual 0/1 case). For a ranked `list` of item ids in `[0, n)`, with `c_t(p)` = the number of items
/// ranked above position `p` (1-based) that have `J(., t) > 0`:
///
///     alpha-DCG@k  = sum_{p=1..k} sum_t J(list[p], t) (1 - alpha)^{c_t(p)} / log2(p + 1)
///     alpha-NDCG@k = alpha-DCG@k / alpha-IDCG@k
///
/// The ideal ordering is the standard greedy approximation (exact maximisation is NP-hard): at each
/// position take the item of the whole pool `[0, n)` with the largest marginal gain (ties: lower id).
/// A list shorter than `k` is scored on its own positions. When the ideal is 0 (no subtopic in the pool)
/// the result is 0.
///
/// Requires: `0 <= alpha <= 1`; `1 <= k <= n`; distinct ids in `[0, n)`; finite, non-negative `J`.
/// Errors: `value_error` (bad k, alpha, ids, NaN or negative judgements).
/// Thread-safety: pure function. Complexity: O(k n m) for the ideal, O(k m) for the list.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../detail/checks.hpp"

namespace recblocks::rerank {

/// alpha-NDCG@k of `list` against the subtopic judgements `subtopics` `[n, m]`.
template <class T>
double alpha_ndcg(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& subtopics, index_t k,
                  double alpha = 0.5);

// ---- implementation ------------------------------------------------------------------------------

template <class T>
double alpha_ndcg(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& subtopics, index_t k,
                  double alpha) {
  const char* block = "rerank::alpha_ndcg";
  const index_t n = subtopics.rows(), m = subtopics.cols();
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throw value_error(std::string(block) + ": alpha = " + std::to_string(alpha) + " must be in [0, 1]");
  detail::require_k(block, k, n);
  detail::require_list(block, list, n);
  detail::require_finite(block, "subtopics", subtopics);
  if ((subtopics.array() < T(0)).any()) throw value_error(std::string(block) + ": subtopics has a negative judgement");

  auto gain = [&](index_t item, const std::vector<index_t>& seen) {
    double g = 0.0;
    for (index_t t = 0; t < m; ++t)
      g += static_cast<double>(subtopics(item, t)) * std::pow(1.0 - alpha, static_cast<double>(seen[static_cast<std::size_t>(t)]));
    return g;
  };
  auto mark = [&](index_t item, std::vector<index_t>& seen) {
    for (index_t t = 0; t < m; ++t)
      if (subtopics(item, t) > T(0)) ++seen[static_cast<std::size_t>(t)];
  };

  std::vector<index_t> seen(static_cast<std::size_t>(m), 0);
  double dcg = 0.0;
  const index_t len = std::min<index_t>(k, static_cast<index_t>(list.size()));
  for (index_t p = 0; p < len; ++p) {
    dcg += gain(list[static_cast<std::size_t>(p)], seen) / std::log2(static_cast<double>(p) + 2.0);
    mark(list[static_cast<std::size_t>(p)], seen);
  }

  std::fill(seen.begin(), seen.end(), 0);
  std::vector<char> used(static_cast<std::size_t>(n), 0);
  double idcg = 0.0;
  for (index_t p = 0; p < k; ++p) {
    index_t best = -1;
    double best_gain = -1.0;
    for (index_t i = 0; i < n; ++i) {
      if (used[static_cast<std::size_t>(i)]) continue;
      const double g = gain(i, seen);
      if (g > best_gain) {
        best_gain = g;
        best = i;
      }
    }
    if (best < 0) break;  // unreachable: k <= n
    used[static_cast<std::size_t>(best)] = 1;
    idcg += best_gain / std::log2(static_cast<double>(p) + 2.0);
    mark(best, seen);
  }
  return idcg > 0.0 ? dcg / idcg : 0.0;
}

}  // namespace recblocks::rerank
