#pragma once
/// \file clip.hpp
/// Gradient clipping over a parameter list (dense and row-sparse gradients alike):
///
///     clip_grad_norm: n = sqrt(sum of all squared gradient entries); if n > max_norm, scale all by max_norm / n
///     clip_grad_value: clamp every entry to [-v, v]
///
/// Sparse gradients are coalesced first, so a row looked up twice counts once, as its sum.

#include <cmath>
#include <vector>

#include "../core/error.hpp"
#include "../core/param.hpp"

namespace recblocks::optim {

/// Returns the total norm before clipping.
template <class T>
double clip_grad_norm(const std::vector<param<T>*>& params, double max_norm) {
  if (!(max_norm > 0)) throw value_error("clip_grad_norm: max_norm must be positive");
  double sq = 0;
  for (auto* p : params) {
    if (p->has_dense_grad()) sq += double(p->grad().squaredNorm());
    auto& sp = p->sparse();
    sp.coalesce();
    for (T v : sp.rows) sq += double(v) * double(v);
  }
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    const T s = T(max_norm / (norm + 1e-6));
    for (auto* p : params) {
      if (p->has_dense_grad()) p->grad() *= s;
      for (T& v : p->sparse().rows) v *= s;
    }
  }
  return norm;
}

/// Clamps every gradient entry to `[-value, value]`.
template <class T>
void clip_grad_value(const std::vector<param<T>*>& params, double value) {
  if (!(value > 0)) throw value_error("clip_grad_value: value must be positive");
  const T v = T(value);
  for (auto* p : params) {
    if (p->has_dense_grad()) p->grad() = p->grad().cwiseMax(-v).cwiseMin(v);
    auto& sp = p->sparse();
    sp.coalesce();  // clamp each row's summed gradient, not its separate lookups
    for (T& x : sp.rows) x = std::min(std::max(x, -v), v);
  }
}

}  // namespace recblocks::optim
