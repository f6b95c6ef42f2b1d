#pragma once
/// \file split.hpp
/// Random train / validation / test split (Scenario-Wise Rec uses 8:1:1, `random_split`).
///
/// Sizes: with n rows and ratios r (normalised by their sum), part i gets floor(n r_i) rows and the
/// leftover rows go one each to parts 0, 1, 2 in turn (as `torch.utils.data.random_split` does
/// with fractions). The rows are a Fisher-Yates permutation of 0..n-1 seeded with `seed` cut into
/// three consecutive pieces; each part keeps its rows in ascending original order. The three parts
/// are disjoint and together hold every row once.
///
/// Requires: each ratio finite and >= 0, sum > 0 (`value_error` otherwise).
/// Complexity: O(n) plus copying the rows. Thread-safety: reads `d` only.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dataset.hpp"
#include "detail/shuffle.hpp"

namespace recblocks::data {

/// Part sizes for `n` rows (see file docs).
inline std::array<index_t, 3> split_sizes(index_t n, std::array<double, 3> ratios);

/// Row indices of the three parts of `n` rows (each ascending); what `random_split` uses.
inline std::array<std::vector<index_t>, 3> split_indices(index_t n, std::array<double, 3> ratios, std::uint64_t seed);

/// Splits `d` into {train, validation, test}.
inline std::array<dataset, 3> random_split(const dataset& d, std::array<double, 3> ratios, std::uint64_t seed);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline std::array<index_t, 3> split_sizes(index_t n, std::array<double, 3> ratios) {
  double sum = 0;
  for (double r : ratios) {
    if (!std::isfinite(r) || r < 0)
      throw value_error("data::random_split: ratios must be finite and >= 0, got " + std::to_string(r));
    sum += r;
  }
  if (!(sum > 0)) throw value_error("data::random_split: ratios sum to 0");
  std::array<index_t, 3> sizes{};
  index_t used = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    // The small epsilon keeps 0.7 * 100 = 69.999... from rounding down.
    sizes[i] = static_cast<index_t>(std::floor(static_cast<double>(n) * ratios[i] / sum + 1e-9));
    sizes[i] = std::min(sizes[i], n - used);
    used += sizes[i];
  }
  for (std::size_t i = 0; used < n; i = (i + 1) % 3)
    if (ratios[i] > 0) {
      ++sizes[i];
      ++used;
    }
  return sizes;
}

inline std::array<std::vector<index_t>, 3> split_indices(index_t n, std::array<double, 3> ratios, std::uint64_t seed) {
  const auto sizes = split_sizes(n, ratios);
  std::vector<index_t> perm = detail::iota(n);
  detail::shuffle(perm, seed);
  std::array<std::vector<index_t>, 3> parts;
  index_t begin = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    parts[i].assign(perm.begin() + begin, perm.begin() + begin + sizes[i]);
    std::sort(parts[i].begin(), parts[i].end());
    begin += sizes[i];
  }
  return parts;
}

inline std::array<dataset, 3> random_split(const dataset& d, std::array<double, 3> ratios, std::uint64_t seed) {
  const auto parts = split_indices(d.rows(), ratios, seed);
  return {d.subset(parts[0]), d.subset(parts[1]), d.subset(parts[2])};
}

}  // namespace recblocks::data
