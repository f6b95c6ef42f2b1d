#pragma once
/// \file checks.hpp
/// Boundary checks shared by the rerankers and rerank metrics (internal; not part of the public API).
/// Each check throws a `recblocks::error` subclass whose message names the block, the field and the
/// offending value.

#include <cmath>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"

namespace recblocks::rerank::detail {

/// Throws `value_error` unless every entry of `m` is finite.
template <class Derived>
void require_finite(const char* block, const char* field, const Eigen::DenseBase<Derived>& m) {
  for (index_t r = 0; r < m.rows(); ++r)
    for (index_t c = 0; c < m.cols(); ++c)
      if (!std::isfinite(static_cast<double>(m(r, c))))
        throw value_error(std::string(block) + ": " + field + " has a non-finite value at (" + std::to_string(r) +
                          ", " + std::to_string(c) + ")");
}

/// Throws `value_error` unless `1 <= k <= n`.
inline void require_k(const char* block, index_t k, index_t n) {
  if (k < 1 || k > n)
    throw value_error(std::string(block) + ": k = " + std::to_string(k) + " must be in [1, " + std::to_string(n) +
                      "] (the number of candidates)");
}

/// Throws `shape_error` unless `m` is `[n, n]`.
template <class Derived>
void require_square(const char* block, const char* field, const Eigen::DenseBase<Derived>& m, index_t n) {
  if (m.rows() != n || m.cols() != n)
    throw shape_error(std::string(block) + ": " + field + " is " + shape_string(m.rows(), m.cols()) + ", expected " +
                      shape_string(n, n));
}

/// Throws `value_error` unless `list` holds distinct ids in `[0, n)`.
inline void require_list(const char* block, const std::vector<index_t>& list, index_t n) {
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (std::size_t p = 0; p < list.size(); ++p) {
    const index_t i = list[p];
    if (i < 0 || i >= n)
      throw value_error(std::string(block) + ": list[" + std::to_string(p) + "] = " + std::to_string(i) +
                        " is not an item in [0, " + std::to_string(n) + ")");
    if (seen[static_cast<std::size_t>(i)])
      throw value_error(std::string(block) + ": item " + std::to_string(i) + " appears twice in the list");
    seen[static_cast<std::size_t>(i)] = 1;
  }
}

}  // namespace recblocks::rerank::detail
