#pragma once
/// \file row_pooling.hpp
/// Pooling of variable-length row groups and row normalisation, for sentence embeddings:
///
///     segment_max(x [n, d], offsets [S + 1]) -> [S, d],  y_s = max_{k in [o_s, o_{s+1})} x_k  (column-wise;
///                                                  an empty segment gives zeros; the gradient goes to the arg max)
///     l2_normalize_rows(x [R, d]) -> [R, d],    y_i = x_i / max(||x_i||, eps)
///                                                  backward: dx_i = (g_i - y_i <g_i, y_i>) / ||x_i|| (g_i / eps below eps)
///
/// (`segment_mean` and `segment_sum` live in gather.hpp.) Errors: `shape_error` for offsets that do not
/// run from 0 to the row count, `value_error` for decreasing offsets.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "gather.hpp"

namespace recblocks::ops {

template <class T>
var<T> segment_max(tape<T>& t, const var<T>& x, std::span<const index_t> offsets) {
  detail::check_offsets("segment_max", offsets, x.rows);
  const index_t S = static_cast<index_t>(offsets.size()) - 1, d = x.cols;
  var<T> y = t.make(S, d);
  index_t* arg = t.template scratch<index_t>(static_cast<std::size_t>(S * d));
  for (index_t s = 0; s < S; ++s) {
    const index_t b = offsets[static_cast<std::size_t>(s)], e = offsets[static_cast<std::size_t>(s + 1)];
    for (index_t j = 0; j < d; ++j) {
      if (b == e) {
        y.data[s * d + j] = T(0);
        arg[s * d + j] = -1;
        continue;
      }
      index_t best = b;
      for (index_t r = b + 1; r < e; ++r)
        if (x.data[r * d + j] > x.data[best * d + j]) best = r;
      y.data[s * d + j] = x.data[best * d + j];
      arg[s * d + j] = best;
    }
  }
  if (auto* nd = t.record("segment_max", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t* arg = static_cast<const index_t*>(nd.aux);
        auto gx = t.grad_buffer(x);
        const index_t d = nd.cols;
        for (index_t k = 0; k < nd.rows * d; ++k)
          if (arg[k] >= 0) gx.data()[arg[k] * d + k % d] += nd.grad[k];
      }))
    nd->aux = arg;
  return y;
}

template <class T>
var<T> l2_normalize_rows(tape<T>& t, const var<T>& x, T eps = T(1e-12)) {
  var<T> y = t.make(x.rows, x.cols);
  T* norms = t.template scratch<T>(static_cast<std::size_t>(x.rows));
  const_map<T> xv(x.data, x.rows, x.cols);
  auto yv = y.value();
  for (index_t i = 0; i < x.rows; ++i) {
    norms[i] = std::max(xv.row(i).norm(), eps);
    yv.row(i) = xv.row(i) / norms[i];
  }
  if (auto* nd = t.record("l2_normalize_rows", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const T* norms = static_cast<const T*>(nd.aux);
        const T eps = nd.s0;
        const_map<T> g(nd.grad, nd.rows, nd.cols), yv(nd.value, nd.rows, nd.cols);
        map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
        for (index_t i = 0; i < nd.rows; ++i) {
          if (norms[i] <= eps) dx.row(i) = g.row(i) / eps;  // the clamp is active: y = x / eps
          else dx.row(i) = (g.row(i) - yv.row(i) * g.row(i).dot(yv.row(i))) / norms[i];
        }
        t.accumulate(x, dx);
      })) {
    nd->aux = norms;
    nd->s0 = eps;
  }
  return y;
}

}  // namespace recblocks::ops
