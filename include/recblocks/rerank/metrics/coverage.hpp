#pragma once
/// \file coverage.hpp
/// Coverage metrics of recommendation lists (two free functions; both are "coverage").
///
/// - `catalog_coverage(lists, catalog_size, k)`: the fraction of the catalogue that appears in the top-k
///   of at least one list: `|U_u top_k(list_u)| / catalog_size`.
/// - `subtopic_coverage(list, subtopics, k)`: the fraction of the subtopics present in the pool
///   (`t` with some `J(i, t) > 0`) that the top-k of one list covers. 0 if the pool has no subtopic.
///
/// Requires: ids in `[0, catalog_size)` (resp. `[0, n)`, distinct), `k >= 1`, `catalog_size >= 1`;
/// `subtopic_coverage` also requires `k <= n`.
/// Errors: `value_error`. Thread-safety: pure functions.
/// Complexity: O(sum of k over lists + catalog_size); O(k m + n m).

#include <algorithm>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../detail/checks.hpp"

namespace recblocks::rerank {

/// Fraction of the catalogue recommended in the top-k of at least one list.
inline double catalog_coverage(const std::vector<std::vector<index_t>>& lists, index_t catalog_size, index_t k);

/// Fraction of the pool's subtopics covered by the top-k of `list`; `subtopics` is `[n, m]`.
template <class T>
double subtopic_coverage(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& subtopics, index_t k);

// ---- implementation ------------------------------------------------------------------------------

inline double catalog_coverage(const std::vector<std::vector<index_t>>& lists, index_t catalog_size, index_t k) {
  const char* block = "rerank::catalog_coverage";
  if (catalog_size < 1)
    throw value_error(std::string(block) + ": catalog_size = " + std::to_string(catalog_size) + " must be >= 1");
  if (k < 1) throw value_error(std::string(block) + ": k = " + std::to_string(k) + " must be >= 1");
  std::vector<char> hit(static_cast<std::size_t>(catalog_size), 0);
  index_t covered = 0;
  for (std::size_t u = 0; u < lists.size(); ++u) {
    const auto len = std::min<std::size_t>(static_cast<std::size_t>(k), lists[u].size());
    for (std::size_t p = 0; p < len; ++p) {
      const index_t i = lists[u][p];
      if (i < 0 || i >= catalog_size)
        throw value_error(std::string(block) + ": lists[" + std::to_string(u) + "][" + std::to_string(p) + "] = " +
                          std::to_string(i) + " is not in [0, " + std::to_string(catalog_size) + ")");
      if (!hit[static_cast<std::size_t>(i)]) {
        hit[static_cast<std::size_t>(i)] = 1;
        ++covered;
      }
    }
  }
  return static_cast<double>(covered) / static_cast<double>(catalog_size);
}

template <class T>
double subtopic_coverage(const std::vector<index_t>& list, const Eigen::Ref<const matrix<T>>& subtopics, index_t k) {
  const char* block = "rerank::subtopic_coverage";
  const index_t n = subtopics.rows(), m = subtopics.cols();
  detail::require_k(block, k, n);
  detail::require_list(block, list, n);
  detail::require_finite(block, "subtopics", subtopics);
  index_t present = 0, covered = 0;
  const auto len = std::min<std::size_t>(static_cast<std::size_t>(k), list.size());
  for (index_t t = 0; t < m; ++t) {
    if (!(subtopics.col(t).array() > T(0)).any()) continue;
    ++present;
    for (std::size_t p = 0; p < len; ++p)
      if (subtopics(list[p], t) > T(0)) {
        ++covered;
        break;
      }
  }
  return present > 0 ? static_cast<double>(covered) / static_cast<double>(present) : 0.0;
}

}  // namespace recblocks::rerank
