#pragma once
/// \file bce.hpp
/// Binary cross-entropy on probabilities (for models whose output is already a sigmoid):
///
///     L = -mean(y log(p) + (1 - y) log(1 - p)),   p clamped to [eps, 1 - eps]
///     dL/dp = (p - y) / (p (1 - p)) / n   (zero where the clamp is active)
///
/// Prefer `bce_with_logits` when the logit is available: it is exact where p saturates.

#include <cmath>

#include "bce_with_logits.hpp"

namespace recblocks::loss {

template <class T>
var<T> bce(tape<T>& t, const var<T>& probs, const var<T>& labels, T eps = T(1e-7)) {
  require_same_shape("bce (probs vs labels)", probs.rows, probs.cols, labels.rows, labels.cols);
  if (probs.size() == 0) throw shape_error("bce: empty batch");
  detail::check_labels("bce", labels);
  auto p = const_map<T>(probs.data, probs.rows, probs.cols).array().max(eps).min(T(1) - eps);
  auto y = const_map<T>(labels.data, labels.rows, labels.cols).array();
  var<T> out = t.make(1, 1);
  t.out_data(out)[0] = -(y * p.log() + (T(1) - y) * (T(1) - p).log()).sum() / T(probs.size());
  var<T> labels_const{labels.data, labels.rows, labels.cols, -1, labels.epoch};
  if (auto nd = t.record("bce", out, {probs, labels_const}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& probs = t.input(nd, 0);
        const var<T>& labels = t.input(nd, 1);
        const T eps = nd.s0;
        auto raw = const_map<T>(probs.data, probs.rows, probs.cols).array();
        auto y = const_map<T>(labels.data, labels.rows, labels.cols).array();
        const T scale = nd.grad[0] / T(probs.size());
        t.accumulate(probs, ((raw > eps && raw < T(1) - eps).select((raw - y) / (raw * (T(1) - raw)), T(0)) * scale).matrix());
      }))
    nd->s0 = eps;
  return out;
}

}  // namespace recblocks::loss
