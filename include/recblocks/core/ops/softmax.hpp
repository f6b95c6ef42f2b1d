#pragma once
/// \file softmax.hpp
/// Row-wise softmax and log-softmax, numerically stable (the row maximum is subtracted first).
///
///     softmax:     y_ij = exp(x_ij - m_i) / sum_k exp(x_ik - m_i)      dx = y * (g - rowsum(g * y))
///     log_softmax: y_ij = x_ij - m_i - log sum_k exp(x_ik - m_i)       dx = g - softmax(x) * rowsum(g)

#include "../tape.hpp"

namespace recblocks::ops {

/// Softmax over each row of `[R, C]`.
template <class T>
var<T> softmax(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(x.rows, x.cols);
  const_map<T> xv(x.data, x.rows, x.cols);
  auto yv = t.out(y);
  for (index_t i = 0; i < x.rows; ++i) {
    yv.row(i) = (xv.row(i).array() - xv.row(i).maxCoeff()).exp().matrix();
    yv.row(i) /= yv.row(i).sum();
  }
  t.record("softmax", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
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
    const T m = xv.row(i).maxCoeff();
    const T lse = m + std::log((xv.row(i).array() - m).exp().sum());
    yv.row(i) = (xv.row(i).array() - lse).matrix();
  }
  t.record("log_softmax", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
    for (index_t i = 0; i < nd.rows; ++i) dx.row(i) = g.row(i) - y.row(i).array().exp().matrix() * g.row(i).sum();
    t.accumulate(x, dx);
  });
  return y;
}

}  // namespace recblocks::ops
