#pragma once
/// \file softmax_cross_entropy.hpp
/// Softmax cross-entropy over class logits, fused (one node, log-sum-exp stabilised):
///
///     L = mean_i ( log sum_c exp(z_ic) - z_{i, y_i} ),     dL/dz_ic = (softmax(z_i)_c - [c = y_i]) / B
///
/// Shapes: logits `[B, C]`, targets `B` class ids in `[0, C)` (checked).

#include <cmath>
#include <span>
#include <string>

#include "../core/tape.hpp"

namespace recblocks::loss {

template <class T>
var<T> softmax_cross_entropy(tape<T>& t, const var<T>& logits, std::span<const index_t> targets) {
  if (static_cast<index_t>(targets.size()) != logits.rows)
    throw shape_error("softmax_cross_entropy: " + std::to_string(targets.size()) + " targets for logits " +
                      shape_string(logits.rows, logits.cols));
  if (logits.rows == 0) throw shape_error("softmax_cross_entropy: empty batch");
  const index_t B = logits.rows, C = logits.cols;
  T* probs = t.template scratch<T>(static_cast<std::size_t>(B * C));
  index_t* saved = t.template scratch<index_t>(targets.size());
  const_map<T> z(logits.data, B, C);
  map<T> pr(probs, B, C);
  T total = T(0);
  for (index_t i = 0; i < B; ++i) {
    const index_t y = targets[static_cast<std::size_t>(i)];
    if (y < 0 || y >= C)
      throw value_error("softmax_cross_entropy: target " + std::to_string(y) + " of row " + std::to_string(i) +
                        " is outside [0, " + std::to_string(C) + ")");
    saved[i] = y;
    const T m = z.row(i).maxCoeff();
    pr.row(i) = (z.row(i).array() - m).exp().matrix();
    const T s = pr.row(i).sum();
    pr.row(i) /= s;
    total += m + std::log(s) - z(i, y);
  }
  var<T> out = t.make(1, 1);
  t.out_data(out)[0] = total / T(B);
  if (auto nd = t.record("softmax_cross_entropy", out, {logits}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& logits = t.input(nd, 0);
        const T* probs = static_cast<const T*>(nd.aux);
        const index_t* y = static_cast<const index_t*>(nd.aux2);
        const index_t B = logits.rows, C = logits.cols;
        map<T> dz(t.grad_scratch(B * C), B, C);
        dz = const_map<T>(probs, B, C);
        for (index_t i = 0; i < B; ++i) dz(i, y[i]) -= T(1);
        dz *= nd.grad[0] / T(B);
        t.accumulate(logits, dz);
      })) {
    nd->aux = probs;
    nd->aux2 = saved;
  }
  return out;
}

template <class T>
var<T> softmax_cross_entropy(tape<T>& t, const var<T>& logits, std::initializer_list<index_t> targets) {
  return softmax_cross_entropy(t, logits, std::span<const index_t>(targets.begin(), targets.size()));
}

}  // namespace recblocks::loss
