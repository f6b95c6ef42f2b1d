#pragma once
/// \file co_attention.hpp
/// Co-attention between two padded sequences with masks (parallel co-attention, Lu et al. 2016, as
/// M-scan's scenario-aware co-attention uses it; papers.md section 9, formula an assumption):
///
///     A_b   = H^a_b W (H^b_b)^T / sqrt(d_b)                   affinity [L_a, L_b] of sample b
///     P_b   = softmax over columns j < len^b_b of each row i < len^a_b   (rows: a attends to b)
///     Q_b   = softmax over rows i < len^a_b of each column j < len^b_b  (columns: b attends to a)
///     s^a_b = mean_{i < len^a_b} (P_b H^b_b)_i                 b's content aligned with each position of a
///     s^b_b = mean_{j < len^b_b} (Q_b^T H^a_b)_j               a's content aligned with each position of b
///
/// Shapes: `a` `[B * L_a, d_a]`, `b` `[B * L_b, d_b]` (sample-major padded batches), lengths `[B]`
/// each -> `{a_summary [B, d_b], b_summary [B, d_a]}`. When either sequence of a sample is empty the
/// summaries of that sample are zeros (never NaN). The column softmax is computed as a row softmax of
/// the per-sample transposed affinity (`ops::group_transpose`, one product for both directions).
/// Composed from `ops::matmul`, `ops::group_matmul`, `ops::group_transpose`, `ops::masked_softmax`,
/// `ops::masked_mean`; no hand-written backward.
///
/// Parameters: `weight` `[d_a, d_b]`, Xavier-uniform.
/// Errors: `shape_error` for shapes that do not fit; `value_error` naming the sample for a length
/// outside its range. Thread-safety: `const` forward. Complexity: O(B L_a L_b (d_a + d_b)).

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
class co_attention {
 public:
  using scalar_type = T;

  struct output {
    var<T> a_summary;  ///< [B, d_b]
    var<T> b_summary;  ///< [B, d_a]
  };

  co_attention(index_t dim_a, index_t dim_b, rng& gen) : weight_("weight", dim_a, dim_b) {
    if (dim_a < 1 || dim_b < 1) throw value_error("nn::co_attention: dims must be >= 1, got " + shape_string(dim_a, dim_b));
    init::xavier_uniform().apply(weight_.value(), gen, dim_a, dim_b);
  }

  output operator()(tape<T>& t, const var<T>& a, const var<T>& b, std::span<const index_t> len_a,
                    std::span<const index_t> len_b) const {
    const index_t B = static_cast<index_t>(len_a.size());
    if (B < 1 || static_cast<index_t>(len_b.size()) != B || a.cols != weight_.rows() || b.cols != weight_.cols() ||
        a.rows % B != 0 || b.rows % B != 0)
      throw shape_error("nn::co_attention: a " + shape_string(a.rows, a.cols) + " and b " + shape_string(b.rows, b.cols) + " with " +
                        std::to_string(len_a.size()) + " / " + std::to_string(len_b.size()) + " lengths do not fit weight " +
                        shape_string(weight_.rows(), weight_.cols()));
    const T scale = T(1) / std::sqrt(T(b.cols));
    const var<T> aw = ops::matmul(t, a, t.leaf(weight_));                                       // [B L_a, d_b]
    const var<T> affinity = ops::mul_scalar(t, ops::group_matmul(t, aw, b, B, true), scale);    // [B L_a, L_b]
    const var<T> rows = ops::masked_softmax(t, affinity, B, len_a, len_b);
    const var<T> cols = ops::masked_softmax(t, ops::group_transpose(t, affinity, B), B, len_b, len_a);
    return {ops::masked_mean(t, ops::group_matmul(t, rows, b, B, false), B, len_a),
            ops::masked_mean(t, ops::group_matmul(t, cols, a, B, false), B, len_b)};
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
