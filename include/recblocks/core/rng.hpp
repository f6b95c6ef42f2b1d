#pragma once
/// \file rng.hpp
/// The seeded random generator passed explicitly to every block that draws numbers. recblocks has
/// no global RNG: the same seed gives the same weights, batches and dropout masks on every run.

#include <cmath>
#include <cstdint>
#include <random>

#include "tensor.hpp"

namespace recblocks {

/// A seeded 64-bit Mersenne Twister with the draws recblocks needs.
///
/// Not thread-safe: give each thread its own generator (`split()` derives independent ones).
class rng {
 public:
  using engine_type = std::mt19937_64;

  explicit rng(std::uint64_t seed = 42) : seed_(seed), engine_(seed) {}

  /// The seed this generator started from (recorded in checkpoints).
  std::uint64_t seed() const { return seed_; }

  /// The underlying engine, for `std::` distributions and `std::shuffle`.
  engine_type& engine() { return engine_; }

  /// Uniform real in `[lo, hi)`.
  double uniform(double lo = 0.0, double hi = 1.0) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }

  /// Normal with the given mean and standard deviation.
  double normal(double mean = 0.0, double stddev = 1.0) { return std::normal_distribution<double>(mean, stddev)(engine_); }

  /// Uniform integer in `[lo, hi]` (inclusive).
  index_t integer(index_t lo, index_t hi) { return std::uniform_int_distribution<index_t>(lo, hi)(engine_); }

  /// True with probability `p`.
  bool bernoulli(double p) { return uniform() < p; }

  /// A new generator seeded from this one's stream: independent streams for threads or blocks.
  rng split() { return rng(engine_()); }

  /// Fills `m` with uniform values in `[lo, hi)`.
  template <class Derived>
  void fill_uniform(Eigen::DenseBase<Derived>& m, double lo, double hi) {
    for (index_t i = 0; i < m.rows(); ++i)
      for (index_t j = 0; j < m.cols(); ++j) m(i, j) = static_cast<typename Derived::Scalar>(uniform(lo, hi));
  }

  /// Fills `m` with normal values.
  template <class Derived>
  void fill_normal(Eigen::DenseBase<Derived>& m, double mean, double stddev) {
    for (index_t i = 0; i < m.rows(); ++i)
      for (index_t j = 0; j < m.cols(); ++j) m(i, j) = static_cast<typename Derived::Scalar>(normal(mean, stddev));
  }

 private:
  std::uint64_t seed_;
  engine_type engine_;
};

}  // namespace recblocks
