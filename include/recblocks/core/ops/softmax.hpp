#pragma once
/// \file softmax.hpp
/// Row-wise softmax and log-softmax, numerically stable (the row maximum is subtracted first).
///
///     softmax:     y_ij = exp(x_ij - m_i) / sum_k exp(x_ik - m_i)      dx = y * (g - rowsum(g * y))
///     log_softmax: y_ij = x_ij - m_i - log sum_k exp(x_ik - m_i)       dx = g - softmax(x) * rowsum(g)
///     masked_softmax(x, mask): softmax over the entries with mask_ij != 0; masked entries get 0
///
/// A row with no finite entry (all -inf, e.g. every position masked out) has no probability mass:
/// softmax gives a row of zeros (and zero gradient), log_softmax a row of -inf (zero gradient), never
/// NaN. `masked_softmax` is the form attention uses for padding: the mask is a constant `[R, C]`
/// (1 keep, 0 drop), a fully masked row gives zeros.

#include <limits>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

/// Softmax over each row of `[R, C]`.
template <class T>
var<T> softmax(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(x.rows, x.cols);
  const_map<T> xv(x.data, x.rows, x.cols);
  auto yv = t.out(y);
  for (index_t i = 0; i < x.rows; ++i) {
    const T m = x.cols > 0 ? xv.row(i).maxCoeff() : T(0);
    if (m == -std::numeric_limits<T>::infinity()) {
      yv.row(i).setZero();  // no finite entry: no mass (instead of 0/0)
      continue;
    }
    yv.row(i) = (xv.row(i).array() - m).exp().matrix();
    yv.row(i) /= yv.row(i).sum();
  }
  t.record("softmax", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    mutable_map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
    for (index_t i = 0; i < nd.rows; ++i) {
      const T dot = g.row(i).dot(y.row(i));
      dx.row(i) = (y.row(i).array() * (g.row(i).array() - dot)).matrix();
    }
    t.accumulate(x, dx);
  });
  return y;
}

/// Log-softmax over each row of `[R, C]`.
template <class T>
var<T> log_softmax(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(x.rows, x.cols);
  const_map<T> xv(x.data, x.rows, x.cols);
  auto yv = t.out(y);
  for (index_t i = 0; i < x.rows; ++i) {
    const T m = x.cols > 0 ? xv.row(i).maxCoeff() : T(0);
    if (m == -std::numeric_limits<T>::infinity()) {
      yv.row(i).setConstant(m);  // log 0 everywhere (instead of -inf - -inf = NaN)
      continue;
    }
    const T lse = m + std::log((xv.row(i).array() - m).exp().sum());
    yv.row(i) = (xv.row(i).array() - lse).matrix();
  }
  t.record("log_softmax", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    mutable_map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
    for (index_t i = 0; i < nd.rows; ++i) {
      if (nd.cols > 0 && y(i, 0) == -std::numeric_limits<T>::infinity() && y.row(i).maxCoeff() == y(i, 0)) {
        dx.row(i).setZero();  // a row without mass (all -inf): nothing flows
        continue;
      }
      dx.row(i) = g.row(i) - y.row(i).array().exp().matrix() * g.row(i).sum();
    }
    t.accumulate(x, dx);
  });
  return y;
}

/// Softmax of each row of `x` `[R, C]` over the entries where `mask` (a constant `[R, C]`, 1 keep /
/// 0 drop) is non-zero; dropped entries and fully masked rows are 0. `shape_error` on a shape mismatch.
///
///     y_ij = m_ij exp(x_ij - M_i) / sum_k m_ik exp(x_ik - M_i),  M_i = max over kept entries
///     dx   = y * (g - rowsum(g * y))          (zero at dropped entries, since y = 0 there)
template <class T>
var<T> masked_softmax(tape<T>& t, const var<T>& x, const var<T>& mask) {
  require_same_shape("masked_softmax (x vs mask)", x.rows, x.cols, mask.rows, mask.cols);
  var<T> y = t.make(x.rows, x.cols);
  const_map<T> xv(x.data, x.rows, x.cols), mv(mask.data, mask.rows, mask.cols);
  auto yv = t.out(y);
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  for (index_t i = 0; i < x.rows; ++i) {
    T m = ninf;
    for (index_t j = 0; j < x.cols; ++j)
      if (mv(i, j) != T(0) && xv(i, j) > m) m = xv(i, j);
    if (m == ninf) {
      yv.row(i).setZero();
      continue;
    }
    T sum = T(0);
    for (index_t j = 0; j < x.cols; ++j) {
      const T e = mv(i, j) != T(0) ? std::exp(xv(i, j) - m) : T(0);
      yv(i, j) = e;
      sum += e;
    }
    yv.row(i) /= sum;
  }
  var<T> mask_const{mask.data, mask.rows, mask.cols, -1, mask.epoch};  // no gradient into the mask
  t.record("masked_softmax", y, {x, mask_const}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    mutable_map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
    for (index_t i = 0; i < nd.rows; ++i) {
      const T dot = g.row(i).dot(y.row(i));
      dx.row(i) = (y.row(i).array() * (g.row(i).array() - dot)).matrix();
    }
    t.accumulate(x, dx);
  });
  return y;
}

}  // namespace recblocks::ops
