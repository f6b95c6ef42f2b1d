#pragma once
/// \file column_affine.hpp
/// A per-column affine map, the form every normalization takes when its statistics are fixed (an
/// inference tape: running statistics, learned scale and shift):
///
///     y = x ⊙ scale + shift            x, y `[B, n]`;  scale, shift `[1, n]` (the same for every row)
///
/// `nn::batch_norm::inference_affine()` and `nn::partitioned_norm::inference_affine(d)` return it, and
/// `fold_affine` absorbs such maps into a linear map's weight and bias, which is how inference copies
/// (`nn::linear::enable_bf16_inference`, `nn::star_linear::enable_bf16_inference`) get a normalization
/// before or after their product for free:
///
///     out(in(x) W + b) = x W' + b',    W' = diag(a) W diag(s),    b' = s ⊙ (c W + b) + t
///
/// with `in` = (a, c) over the `k` inputs, `out` = (s, t) over the `n` outputs, `W` `[k, n]`, `b` `[1, n]`.
/// The identity is exact in real arithmetic; in floating point the folded weights round once more (a
/// few float ulps, far below bf16's 2^-9 when the folded copy is then stored as bf16).

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::nn {

template <class T>
struct column_affine {
  matrix<T> scale;  ///< `[1, n]`
  matrix<T> shift;  ///< `[1, n]`

  index_t size() const { return scale.cols(); }

  /// `shape_error` naming `where` unless `scale` and `shift` are both `[1, n]`.
  void expect_width(index_t n, const std::string& where) const {
    if (scale.rows() != 1 || shift.rows() != 1 || scale.cols() != n || shift.cols() != n)
      throw shape_error(where + ": map " + shape_string(scale.rows(), scale.cols()) + " / " +
                        shape_string(shift.rows(), shift.cols()) + " (expected [1, " + std::to_string(n) + "])");
  }

  /// The map of a normalization with fixed statistics (PyTorch's eval-mode batch norm):
  /// `(x - mean) / sqrt(var + eps) ⊙ gamma + beta`, i.e. `scale = gamma / sqrt(var + eps)`,
  /// `shift = beta - scale ⊙ mean`. All operands `[1, n]`.
  static column_affine normalization(const matrix<T>& mean, const matrix<T>& var, T eps, const matrix<T>& gamma,
                                     const matrix<T>& beta) {
    column_affine m;
    m.scale = (gamma.array() / (var.array() + eps).sqrt()).matrix();
    m.shift = beta - m.scale.cwiseProduct(mean);
    return m;
  }
};

/// Replaces `w` `[k, n]` and `b` `[1, n]` (empty: no bias) by the folded `W'`, `b'` of the file
/// comment; `in` (`[1, k]`) and `out` (`[1, n]`) may each be null (no map on that side). `b` is
/// `[1, n]` afterwards whenever a map was folded. `shape_error` when a map does not fit (nothing changed).
template <class T>
void fold_affine(matrix<T>& w, matrix<T>& b, const column_affine<T>* in, const column_affine<T>* out) {
  const index_t k = w.rows(), n = w.cols();
  if (b.size() != 0 && (b.rows() != 1 || b.cols() != n))
    throw shape_error("nn::fold_affine: bias " + shape_string(b.rows(), b.cols()) + " for a weight " + shape_string(k, n));
  if (in) in->expect_width(k, "nn::fold_affine: input map for a weight " + shape_string(k, n));
  if (out) out->expect_width(n, "nn::fold_affine: output map for a weight " + shape_string(k, n));
  if (!in && !out) return;
  if (b.size() == 0) b = matrix<T>::Zero(1, n);
  if (in) {
    b.noalias() += in->shift * w;                              // c W + b
    w.array().colwise() *= in->scale.row(0).transpose().array();  // diag(a) W
  }
  if (out) {
    w.array().rowwise() *= out->scale.row(0).array();          // W diag(s)
    b = b.cwiseProduct(out->scale) + out->shift;               // s ⊙ (.) + t
  }
}

}  // namespace recblocks::nn
