#pragma once
/// \file linear.hpp
/// Fully-connected layer `Y = act(X W + b)` as one fused tape node.
///
/// Shapes: `X` `[B, in]`, `W` `[in, out]`, `b` `[1, out]` -> `[B, out]`. Initialisation as PyTorch's
/// `nn.Linear`: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).

#include <string>
#include <utility>

#include "../core/ops/matmul.hpp"
#include "column_affine.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class linear {
 public:
  using scalar_type = T;

  linear(index_t in, index_t out, rng& gen, bool bias = true, init weight_init = init::kaiming_uniform())
      : weight_("weight", checked_in(in, out), out), bias_("bias", bias ? 1 : 0, out), has_bias_(bias) {
    weight_init.apply(weight_.value(), gen, in, out);
    if (has_bias_) init::kaiming_uniform().apply(bias_.value(), gen, in, out);
  }

  /// `act(x W + b)`. On a non-recording tape with a bf16 copy enabled, the product uses the bf16
  /// weights: the packed copy on the AVX512-BF16 kernel for calls of at most `max_rows` rows (any
  /// number when the layer's resolved compute type is bf16; above 3 rows only for layers at least
  /// 32 wide in and out, `bf16_worthwhile`), else the widening GEMV copy for at most `max_rows` rows. Otherwise the fused op runs in the layer's compute type (`set_compute_type`;
  /// `automatic` follows the tape).
  var<T> operator()(tape<T>& t, const var<T>& x, fused_activation act = fused_activation::none) const {
    if constexpr (std::is_same_v<T, float>) {
      if (uses_packed_copy(t, x.rows)) {
        const var<T> b = packed_bias_.size() ? t.view(packed_bias_.data(), 1, packed_bias_.cols())
                                             : has_bias_ ? t.leaf(bias_) : var<T>{};
        return ops::linear_bf16(t, x, packed_, b, act);
      }
      if (!t.recording() && !bf16_.empty() && x.rows <= bf16_max_rows_)
        return ops::linear_bf16(t, x, bf16_, has_bias_ ? t.leaf(bias_) : var<T>{}, act);
    }
    return ops::linear(t, x, t.leaf(weight_), has_bias_ ? t.leaf(bias_) : var<T>{}, act, compute_);
  }

  /// Keeps a bfloat16 copy of the weight for inference calls of at most `max_rows` rows (batch-1
  /// serving: about 2x less weight traffic; pass a large `max_rows`, or set the compute type to
  /// bf16, to use it at every batch size). With AVX512-BF16 the copy is packed for the `vdpbf16ps`
  /// kernel (`make_bf16_panels`), otherwise kept for the widening GEMV. The copy is taken now: call
  /// again after further training. Training tapes always use the float weights. Float models only.
  ///
  /// `output` (`[1, out]`, optional): a per-column map folded into the packed copy (`nn::fold_affine`),
  /// e.g. the batch norm that follows the layer, so that copy computes `act(out(x W + b))`; it is then
  /// used on inference tapes only (not `t.training()`), and the caller skips the map exactly on the
  /// calls where `uses_packed_copy` is true. The widening copy (no AVX512-BF16) never folds.
  void enable_bf16_inference(index_t max_rows = 4, const column_affine<T>* output = nullptr) {
    static_assert(std::is_same_v<T, float>, "bf16 inference is for float models");
    disable_bf16_inference();
    if (bf16_gemm_available()) {
      matrix<T> w = weight_.value(), b = has_bias_ ? bias_.value() : matrix<T>();
      fold_affine(w, b, static_cast<const column_affine<T>*>(nullptr), output);
      packed_ = make_bf16_panels(w);
      if (output) packed_bias_ = std::move(b);
      folded_ = output != nullptr;
    } else {
      bf16_ = bf16_matrix(weight_.value());
    }
    bf16_max_rows_ = max_rows;
  }
  void disable_bf16_inference() {
    bf16_ = bf16_matrix();
    packed_ = bf16_panels();
    packed_bias_ = matrix<T>();
    folded_ = false;
  }
  /// Whether a call with `rows` rows on `t` runs on the packed copy (computing the folded map, if any):
  /// a non-recording tape, the copy kept and `use_packed_bf16` (bf16 asked for by the layer's resolved
  /// compute type), and not `t.training()` when a map was folded.
  bool uses_packed_copy(const tape<T>& t, index_t rows) const {
    if (t.recording() || packed_.empty() || (folded_ && t.training())) return false;
    const bool bf16_asked = (compute_ == compute_type::automatic ? t.compute() : compute_) == compute_type::bf16;
    return use_packed_bf16(rows, bf16_max_rows_, bf16_asked, packed_.k, packed_.n);
  }

  /// Precision of this layer's products (forward and backward): `automatic` (the default) follows
  /// the tape's `compute()`, `fp32` / `bf16` override it for this layer (mixed precision per layer).
  void set_compute_type(compute_type c) { compute_ = c; }
  compute_type get_compute_type() const { return compute_; }

  index_t in_features() const { return weight_.rows(); }
  index_t out_features() const { return weight_.cols(); }
  param<T>& weight() { return weight_; }
  param<T>& bias() { return bias_; }
  const param<T>& weight() const { return weight_; }
  const param<T>& bias() const { return bias_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("weight", self.weight_);
    if (self.has_bias_) v("bias", self.bias_);
  }

 private:
  /// `in`, once both widths are known positive (checked before any parameter is sized).
  static index_t checked_in(index_t in, index_t out) {
    if (in <= 0 || out <= 0) throw value_error("linear: in and out must be positive, got " + shape_string(in, out));
    return in;
  }

  param<T> weight_;
  param<T> bias_;
  bool has_bias_;
  bf16_matrix bf16_;
  bf16_panels packed_;
  matrix<T> packed_bias_;  // folded bias of the packed copy (only with a folded map)
  index_t bf16_max_rows_ = 4;
  bool folded_ = false;
  compute_type compute_ = compute_type::automatic;
};

}  // namespace recblocks::nn
