#pragma once
/// \file target_attention.hpp
/// Masked target attention pooling over a padded behaviour sequence (the DIN-style CTR sequence
/// block, with a bilinear score instead of DIN's MLP score):
///
///     s_{b,t}  = (q_b W) . k_{b,t} / sqrt(d_k)          t < len_b
///     a_b      = softmax_t(s_b)  over the real positions (padding gets weight 0)
///     out_b    = sum_t a_{b,t} v_{b,t}
///
/// Shapes: query `q` `[B, d_q]`, keys `[B * L, d_k]`, values `[B * L, d_v]` (sample-major padded
/// batches, see `ops::group_matmul`), lengths `[B]` -> `[B, d_v]`. An empty sequence (len_b = 0)
/// gives a zero row, never NaN. Composed from `ops::matmul`, `ops::group_matmul`,
/// `ops::masked_softmax`; no hand-written backward.
///
/// Parameters: `weight` `[d_q, d_k]`, Xavier-uniform.
/// Errors: `shape_error` for shapes that do not fit; `value_error` naming the sample for a length
/// outside [0, L]. Thread-safety: `const` forward. Complexity: O(B (d_q d_k + L (d_k + d_v))).

#include <cmath>
#include <span>
#include <string>

#include "../core/ops/elementwise.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/sequence.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class target_attention {
 public:
  using scalar_type = T;

  target_attention(index_t query_dim, index_t key_dim, rng& gen) : weight_("weight", query_dim, key_dim) {
    if (query_dim < 1 || key_dim < 1)
      throw value_error("nn::target_attention: dims must be >= 1, got " + shape_string(query_dim, key_dim));
    init::xavier_uniform().apply(weight_.value(), gen, query_dim, key_dim);
  }

  /// Pooled values `[B, d_v]` (see file docs).
  var<T> operator()(tape<T>& t, const var<T>& q, const var<T>& keys, const var<T>& values,
                    std::span<const index_t> lengths) const {
    const index_t B = q.rows;
    if (q.cols != weight_.rows() || keys.cols != weight_.cols() || keys.rows != values.rows || B < 1 || keys.rows % B != 0 ||
        static_cast<index_t>(lengths.size()) != B)
      throw shape_error("nn::target_attention: query " + shape_string(q.rows, q.cols) + ", keys " + shape_string(keys.rows, keys.cols) +
                        ", values " + shape_string(values.rows, values.cols) + ", " + std::to_string(lengths.size()) +
                        " lengths do not fit weight " + shape_string(weight_.rows(), weight_.cols()));
    const var<T> qw = ops::matmul(t, q, t.leaf(weight_));                                   // [B, d_k]
    const var<T> s = ops::mul_scalar(t, ops::group_matmul(t, qw, keys, B, true), T(1) / std::sqrt(T(keys.cols)));  // [B, L]
    const var<T> a = ops::masked_softmax(t, s, B, {}, lengths);
    return ops::group_matmul(t, a, values, B, false);                                       // [B, d_v]
  }

  param<T>& weight() { return weight_; }

  /// The member list (see nn/module.hpp).
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("weight", self.weight_);
  }

 private:
  param<T> weight_;
};

}  // namespace recblocks::nn
