#pragma once
/// \file bce_with_logits.hpp
/// Binary cross-entropy on logits, fused with the sigmoid (one node, numerically stable):
///
///     l_i = max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)),     L = sum_i w_i l_i / sum_i w_i
///     dL/dz_i = w_i (sigmoid(z_i) - y_i) / sum_i w_i
///
/// Shapes: logits and labels `[B, 1]` (or any equal shape; every element is one example); optional
/// weights of the same shape. Labels must lie in [0, 1] (checked); weights must be >= 0.

#include <cmath>
#include <string>

#include "../core/tape.hpp"

namespace recblocks::loss {

namespace detail {
template <class T>
void check_labels(const char* op, const var<T>& labels) {
  for (index_t k = 0; k < labels.size(); ++k) {
    const T y = labels.data[k];
    if (!(y >= T(0) && y <= T(1)))
      throw value_error(std::string(op) + ": label " + std::to_string(double(y)) + " at index " + std::to_string(k) +
                        " is outside [0, 1]");
  }
}
}  // namespace detail

/// Mean (or weighted mean) BCE of `sigmoid(logits)` against `labels` -> `[1, 1]`.
template <class T>
var<T> bce_with_logits(tape<T>& t, const var<T>& logits, const var<T>& labels, const var<T>& weights = var<T>{}) {
  require_same_shape("bce_with_logits (logits vs labels)", logits.rows, logits.cols, labels.rows, labels.cols);
  if (logits.size() == 0) throw shape_error("bce_with_logits: empty batch");
  detail::check_labels("bce_with_logits", labels);
  const bool weighted = weights.data != nullptr;
  if (weighted) require_same_shape("bce_with_logits (logits vs weights)", logits.rows, logits.cols, weights.rows, weights.cols);
  auto z = const_map<T>(logits.data, logits.rows, logits.cols).array();
  auto y = const_map<T>(labels.data, labels.rows, labels.cols).array();
  auto per = z.max(T(0)) - z * y + (T(1) + (-z.abs()).exp()).log();
  T total_w = T(logits.size());
  var<T> out = t.make(1, 1);
  if (weighted) {
    auto w = const_map<T>(weights.data, weights.rows, weights.cols).array();
    if ((w < T(0)).any()) throw value_error("bce_with_logits: negative sample weight");
    total_w = w.sum();
    if (!(total_w > T(0))) throw value_error("bce_with_logits: sample weights sum to zero");
    t.out_data(out)[0] = (per * w).sum() / total_w;
  } else {
    t.out_data(out)[0] = per.sum() / total_w;
  }
  var<T> labels_const{labels.data, labels.rows, labels.cols, -1, labels.epoch};
  var<T> weights_const{weights.data, weights.rows, weights.cols, -1, weights.epoch};
  if (auto nd = t.record("bce_with_logits", out, {logits, labels_const, weights_const}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& logits = t.input(nd, 0);
        const var<T>& labels = t.input(nd, 1);
        const var<T>& weights = t.input(nd, 2);
        auto z = const_map<T>(logits.data, logits.rows, logits.cols).array();
        auto y = const_map<T>(labels.data, labels.rows, labels.cols).array();
        const T scale = nd.grad[0] / nd.s0;
        if (weights.data)
          t.accumulate(logits, ((z.logistic() - y) * const_map<T>(weights.data, weights.rows, weights.cols).array() * scale).matrix());
        else
          t.accumulate(logits, ((z.logistic() - y) * scale).matrix());
      }))
    nd->s0 = total_w;
  return out;
}

}  // namespace recblocks::loss
