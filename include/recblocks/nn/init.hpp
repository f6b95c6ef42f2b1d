#pragma once
/// \file init.hpp
/// Weight initialisers (all draw from an explicit `rng`).
///
///     normal(mean, std)            uniform(lo, hi)
///     xavier_uniform: U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))
///     kaiming_uniform (PyTorch's Linear default, a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))

#include <cmath>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::nn {

/// A run-time selected initialiser.
struct init {
  enum class kind { zeros, ones, constant, normal, uniform, xavier_uniform, kaiming_uniform };
  kind how = kind::kaiming_uniform;
  double a = 0.0;  ///< mean (normal), lo (uniform), gain (xavier), value (constant)
  double b = 1.0;  ///< std (normal), hi (uniform)

  static init zeros() { return {kind::zeros, 0, 0}; }
  static init ones() { return {kind::ones, 0, 0}; }
  static init constant(double v) { return {kind::constant, v, 0}; }
  static init normal(double mean, double stddev) { return {kind::normal, mean, stddev}; }
  static init uniform(double lo, double hi) { return {kind::uniform, lo, hi}; }
  static init xavier_uniform(double gain = 1.0) { return {kind::xavier_uniform, gain, 0}; }
  static init kaiming_uniform() { return {kind::kaiming_uniform, 0, 0}; }

  /// Fills `m` (`[fan_in, fan_out]` for weights).
  template <class T>
  void apply(matrix<T>& m, rng& gen, index_t fan_in, index_t fan_out) const {
    switch (how) {
      case kind::zeros: m.setZero(); break;
      case kind::ones: m.setOnes(); break;
      case kind::constant: m.setConstant(T(a)); break;
      case kind::normal: gen.fill_normal(m, a, b); break;
      case kind::uniform: gen.fill_uniform(m, a, b); break;
      case kind::xavier_uniform: {
        const double r = a * std::sqrt(6.0 / double(fan_in + fan_out));
        gen.fill_uniform(m, -r, r);
        break;
      }
      case kind::kaiming_uniform: {
        const double r = 1.0 / std::sqrt(double(fan_in > 0 ? fan_in : 1));
        gen.fill_uniform(m, -r, r);
        break;
      }
    }
  }
};

}  // namespace recblocks::nn
