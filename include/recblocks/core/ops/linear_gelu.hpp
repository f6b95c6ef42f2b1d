#pragma once
/// \file linear_gelu.hpp
/// Fully-connected layer with the exact (erf) GELU of BERT's feed-forward block, one node:
///
///     Z = X W + 1 b,      Y = Z Phi(Z) = Z (1 + erf(Z / sqrt 2)) / 2
///
/// Backward: `dZ = dY (Phi(Z) + Z phi(Z))` with `phi` the standard normal density; `dW += X^T dZ`,
/// `db += 1^T dZ`, `dX += dZ W^T`. Z is kept in the arena only when recording.
/// For `float`, erf is evaluated vectorised (Abramowitz-Stegun 7.1.26, |error| <= 1.5e-7, under
/// float rounding of the result); `double` uses `std::erf`.
/// Shapes: `X` `[B, in]`, `W` `[in, out]`, `b` `[1, out]` -> `[B, out]`.

#include <cmath>
#include <string>

#include "../gemm.hpp"
#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {

/// `erf(x)` for `n` values (vectorised for float through Eigen's array exp).
template <class T>
void erf_n(const T* x, T* y, index_t n) {
  if constexpr (std::is_same_v<T, float>) {
    constexpr index_t chunk = 256;
    Eigen::Array<float, chunk, 1> a, t, e;
    for (index_t b = 0; b < n; b += chunk) {
      const index_t m = std::min(chunk, n - b);
      auto xs = Eigen::Map<const Eigen::ArrayXf>(x + b, m);
      auto ys = Eigen::Map<Eigen::ArrayXf>(y + b, m);
      auto as = a.head(m);
      auto ts = t.head(m);
      auto es = e.head(m);
      as = xs.abs();
      ts = 1.0f / (1.0f + 0.3275911f * as);
      es = (-as * as).exp();
      as = ((((1.061405429f * ts - 1.453152027f) * ts + 1.421413741f) * ts - 0.284496736f) * ts + 0.254829592f) * ts;
      ys = (1.0f - as * es) * xs.sign();
    }
  } else {
    for (index_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
  }
}

}  // namespace detail

template <class T>
var<T> linear_gelu(tape<T>& t, const var<T>& x, const var<T>& w, const var<T>& b) {
  if (x.cols != w.rows)
    throw shape_error("linear_gelu: input " + shape_string(x.rows, x.cols) + " does not match weight " + shape_string(w.rows, w.cols));
  if (!b.data || b.rows != 1 || b.cols != w.cols)
    throw shape_error("linear_gelu: bias " + shape_string(b.rows, b.cols) + " must be [1, " + std::to_string(w.cols) + "]");
  const bool keep = t.recording() && (x.tracked() || w.tracked() || b.tracked());
  var<T> y = t.make(x.rows, w.cols);
  T* z = keep ? t.template scratch<T>(static_cast<std::size_t>(y.size())) : y.data;
  map<T> zv(z, y.rows, y.cols);
  gemm<T>(const_map<T>(x.data, x.rows, x.cols), false, const_map<T>(w.data, w.rows, w.cols), false, zv);
  zv.rowwise() += const_map<T>(b.data, 1, b.cols).row(0);
  const T r2 = T(0.70710678118654752440);
  // y = z (1 + erf(z / sqrt 2)) / 2, row by row through a scratch row (z and y may be one buffer)
  T* row = t.template scratch<T>(static_cast<std::size_t>(2 * y.cols));
  for (index_t i = 0; i < y.rows; ++i) {
    const T* zi = z + i * y.cols;
    for (index_t j = 0; j < y.cols; ++j) row[j] = zi[j] * r2;
    detail::erf_n(row, row + y.cols, y.cols);
    T* yi = y.data + i * y.cols;
    for (index_t j = 0; j < y.cols; ++j) yi[j] = T(0.5) * zi[j] * (T(1) + row[y.cols + j]);
  }
  if (auto* nd = t.record("linear_gelu", y, {x, w, b}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>&x = t.input(nd, 0), &w = t.input(nd, 1), &b = t.input(nd, 2);
        const T* z = static_cast<const T*>(nd.aux);
        const index_t R = nd.rows, C = nd.cols;
        T* dz = t.grad_scratch(R * C + C);
        T* erfs = dz + R * C;
        const T r2 = T(0.70710678118654752440), inv_sqrt_2pi = T(0.39894228040143267794);
        for (index_t i = 0; i < R; ++i) {
          const T* zi = z + i * C;
          T* di = dz + i * C;
          for (index_t j = 0; j < C; ++j) di[j] = zi[j] * r2;
          detail::erf_n(di, erfs, C);
          for (index_t j = 0; j < C; ++j) {
            const T zz = zi[j];
            di[j] = nd.grad[i * C + j] * (T(0.5) * (T(1) + erfs[j]) + zz * inv_sqrt_2pi * std::exp(T(-0.5) * zz * zz));
          }
        }
        const_map<T> dzm(dz, R, C);
        if (t.wants_grad(b)) t.accumulate(b, dzm.colwise().sum());
        if (t.wants_grad(w)) {
          auto [gw, first] = t.grad_slot(w);
          gemm<T>(const_map<T>(x.data, x.rows, x.cols), true, dzm, false, gw, !first);
        }
        if (t.wants_grad(x)) {
          auto [gx, first] = t.grad_slot(x);
          gemm<T>(dzm, false, const_map<T>(w.data, w.rows, w.cols), true, gx, !first);
        }
      }))
    nd->aux = z;
  return y;
}

}  // namespace recblocks::ops
