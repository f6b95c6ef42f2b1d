#pragma once
/// \file vector_quantizer.hpp
/// A trainable vector-quantisation codebook (VQ-VAE, van den Oord et al. 2017; UserIP-Tuning's
/// profile quantisation, papers.md 5). Codebook `C` `[K, d]`, inputs `x` `[B, d]`:
///
///     k*(b) = argmin_k || x_b - C_k ||^2                    (nearest code, ties to the lowest k; no gradient)
///     z_b   = C_{k*(b)}
///     loss  = codebook_weight   * mean_{b,j} (sg(x_bj) - z_bj)^2        (moves the codebook only)
///           + commitment_weight * mean_{b,j} (x_bj - sg(z_bj))^2        (optional: pulls x toward its code)
///     out   = z                       or, with `straight_through`, x + sg(z - x)  (value z, gradient to x)
///
/// `sg` = stop-gradient. The paper's code is the first term alone with weight 0.5 (lambda_h = lambda_b
/// = 0.5), no commitment and no straight-through, and z is not fed back to the model: those are the
/// defaults. The codebook is initialised U(-1/K, 1/K) (the paper's code).
///
/// Shapes: `quantize(t, x)` -> `{out [B, d], loss [1, 1], codes B}`; `assign(x)` -> B code ids.
/// Errors: `value_error` for K < 1 (an empty codebook), d < 1, negative weights, a non-finite input;
/// `shape_error` for an input of another width or with no rows. Parameter: `codebook` `[K, d]`.
/// Thread-safety: `const` forward. Complexity: O(B K d).

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "../core/ops/reduce.hpp"
#include "../core/ops/shape.hpp"
#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../core/tape.hpp"

namespace recblocks::quant {

struct vector_quantizer_options {
  index_t codes = 4;               ///< K (UserIP: 4 for hobby, 3 for background)
  index_t dim = 0;                 ///< d (required)
  double codebook_weight = 0.5;    ///< weight of the codebook term (the paper's lambda)
  double commitment_weight = 0.0;  ///< beta of the commitment term (0: the paper's code)
  bool straight_through = false;   ///< return x + sg(z - x) instead of z
};

template <class T>
struct vq_result {
  var<T> out;                 ///< [B, d]: z, or the straight-through estimate
  var<T> loss;                ///< [1, 1]
  std::vector<index_t> codes; ///< B nearest code ids
};

template <class T>
class vector_quantizer {
 public:
  using scalar_type = T;

  vector_quantizer(const vector_quantizer_options& opt, rng& gen) : opt_(opt), codebook_("codebook", std::max<index_t>(opt.codes, 0), std::max<index_t>(opt.dim, 0)) {
    if (opt.codes < 1) throw value_error("quant::vector_quantizer: codes (K) must be >= 1 (an empty codebook), got " + std::to_string(opt.codes));
    if (opt.dim < 1) throw value_error("quant::vector_quantizer: dim must be >= 1, got " + std::to_string(opt.dim));
    if (!(opt.codebook_weight >= 0.0) || !(opt.commitment_weight >= 0.0))
      throw value_error("quant::vector_quantizer: codebook_weight and commitment_weight must be >= 0");
    const double r = 1.0 / double(opt.codes);
    gen.fill_uniform(codebook_.value(), -r, r);
  }

  /// Nearest code of every row of `x` `[B, d]`.
  std::vector<index_t> assign(const Eigen::Ref<const matrix<T>>& x) const {
    check(x.rows(), x.cols());
    const auto& C = codebook_.value();
    std::vector<index_t> out(static_cast<std::size_t>(x.rows()));
    for (index_t b = 0; b < x.rows(); ++b) {
      if (!x.row(b).allFinite()) throw value_error("quant::vector_quantizer: row " + std::to_string(b) + " of the input is not finite");
      T best = std::numeric_limits<T>::infinity();
      index_t arg = 0;
      for (index_t k = 0; k < C.rows(); ++k) {
        const T dist = (C.row(k) - x.row(b)).squaredNorm();
        if (dist < best) best = dist, arg = k;
      }
      out[static_cast<std::size_t>(b)] = arg;
    }
    return out;
  }

  /// Quantises `x` `[B, d]` and returns the output, the loss and the codes (see file docs).
  vq_result<T> quantize(tape<T>& t, const var<T>& x) const {
    vq_result<T> r;
    r.codes = assign(const_map<T>(x.data, x.rows, x.cols));
    const var<T> z = ops::gather_rows(t, t.leaf(codebook_), std::span<const index_t>(r.codes));
    const var<T> xs = ops::stop_gradient(t, x);
    var<T> loss = ops::mul_scalar(t, mean_square(t, ops::sub(t, xs, z)), T(opt_.codebook_weight));
    if (opt_.commitment_weight > 0.0) {
      const var<T> c = mean_square(t, ops::sub(t, x, ops::stop_gradient(t, z)));
      loss = ops::add(t, loss, ops::mul_scalar(t, c, T(opt_.commitment_weight)));
    }
    r.out = opt_.straight_through ? ops::add(t, x, ops::stop_gradient(t, ops::sub(t, z, x))) : z;
    r.loss = loss;
    return r;
  }

  index_t codes() const { return codebook_.rows(); }
  index_t dim() const { return codebook_.cols(); }
  const vector_quantizer_options& options() const { return opt_; }
  param<T>& codebook() { return codebook_; }
  const param<T>& codebook() const { return codebook_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("codebook", self.codebook_);
  }

 private:
  static var<T> mean_square(tape<T>& t, const var<T>& d) { return ops::mean_all(t, ops::mul(t, d, d)); }
  void check(index_t rows, index_t cols) const {
    if (cols != dim() || rows < 1)
      throw shape_error("quant::vector_quantizer: input " + shape_string(rows, cols) + " must have rows and width " + std::to_string(dim()));
  }
  vector_quantizer_options opt_;
  param<T> codebook_;
};

}  // namespace recblocks::quant
