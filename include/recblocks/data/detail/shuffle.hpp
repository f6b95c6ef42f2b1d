#pragma once
/// \file shuffle.hpp
/// Portable Fisher-Yates shuffle used by `batcher` and `random_split`. Unlike `std::shuffle` (whose
/// algorithm the standard leaves open), the permutation for a given seed is the same with every
/// standard library: the engine is `std::mt19937_64` (fully specified) and bounded draws use
/// modulo with rejection.

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "../../core/tensor.hpp"

namespace recblocks::data::detail {

/// Uniform integer in [0, bound) from `eng` without modulo bias. Requires bound >= 1.
inline std::uint64_t bounded(std::mt19937_64& eng, std::uint64_t bound) {
  const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const std::uint64_t x = eng();
    if (x >= threshold) return x % bound;
  }
}

/// Shuffles `v` in place (Fisher-Yates), deterministic in `seed`. O(n).
inline void shuffle(std::vector<index_t>& v, std::uint64_t seed) {
  std::mt19937_64 eng(seed);
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(bounded(eng, i));
    std::swap(v[i - 1], v[j]);
  }
}

/// 0, 1, ..., n-1.
inline std::vector<index_t> iota(index_t n) {
  std::vector<index_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), index_t{0});
  return v;
}

}  // namespace recblocks::data::detail
