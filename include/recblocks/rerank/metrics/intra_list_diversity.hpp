#pragma once
/// \file intra_list_diversity.hpp
/// Intra-list diversity ILD@k: the mean pairwise cosine distance of the top-k items.
///
///     ILD@k = 2 / (k' (k' - 1)) * sum_{p < q <= k'} (1 - cos(x_{list[p]}, x_{list[q]})),  k' = min(k, |list|)
///
/// with `features` `[n, d]` (e.g. genre multi-hot rows or embeddings). ILD of fewer than two items is 0.
/// For non-negative features the value is in [0, 1].
///
/// Requires: `1 <= k <= n`; distinct ids in `[0, n)`; finite features; no all-zero feature row among the
/// scored items (cosine undefined).
/// Errors: `value_error`. Thread-safety: pure function. Complexity: O(k^2 d).

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../detail/checks.hpp"

namespace recblocks::rerank {

/// ILD@k of `list` under cosine distance between rows of `features` `[n, d]`.
template <class T>
double intra_list_diversity(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& features, index_t k);

// ---- implementation ------------------------------------------------------------------------------

template <class T>
double intra_list_diversity(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& features, index_t k) {
  const char* block = "rerank::intra_list_diversity";
  const index_t n = features.rows();
  detail::require_k(block, k, n);
  detail::require_list(block, list, n);
  const index_t len = std::min<index_t>(k, static_cast<index_t>(list.size()));
  std::vector<double> norm(static_cast<std::size_t>(len));
  for (index_t p = 0; p < len; ++p) {
    const index_t i = list[static_cast<std::size_t>(p)];
    detail::require_finite(block, "features", features.row(i));
    norm[static_cast<std::size_t>(p)] = features.row(i).template cast<double>().norm();
    if (norm[static_cast<std::size_t>(p)] == 0.0)
      throw value_error(std::string(block) + ": item " + std::to_string(i) + " has an all-zero feature row");
  }
  if (len < 2) return 0.0;
  double sum = 0.0;
  for (index_t p = 0; p < len; ++p)
    for (index_t q = p + 1; q < len; ++q) {
      const index_t a = list[static_cast<std::size_t>(p)], b = list[static_cast<std::size_t>(q)];
      const double cos = features.row(a).template cast<double>().dot(features.row(b).template cast<double>()) /
                         (norm[static_cast<std::size_t>(p)] * norm[static_cast<std::size_t>(q)]);
      sum += 1.0 - cos;
    }
  return 2.0 * sum / (static_cast<double>(len) * static_cast<double>(len - 1));
}

}  // namespace recblocks::rerank
