#pragma once
/// \file linear.hpp
/// Fully-connected layer `Y = act(X W + b)` as one fused tape node.
///
/// Shapes: `X` `[B, in]`, `W` `[in, out]`, `b` `[1, out]` -> `[B, out]`. Initialisation as PyTorch's
/// `nn.Linear`: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).

#include <string>

#include "../core/ops/matmul.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class linear {
 public:
  using scalar_type = T;

  linear(index_t in, index_t out, rng& gen, bool bias = true, init weight_init = init::kaiming_uniform())
      : weight_("weight", in, out), bias_("bias", bias ? 1 : 0, out), has_bias_(bias) {
    if (in <= 0 || out <= 0) throw value_error("linear: in and out must be positive, got " + shape_string(in, out));
    weight_init.apply(weight_.value(), gen, in, out);
    if (has_bias_) init::kaiming_uniform().apply(bias_.value(), gen, in, out);
  }

  /// `act(x W + b)`. On a non-recording tape with at most `bf16_max_rows` rows and a bf16 copy
  /// enabled, the product uses the bf16 weights.
  var<T> operator()(tape<T>& t, const var<T>& x, fused_activation act = fused_activation::none) const {
    if constexpr (std::is_same_v<T, float>) {
      if (!bf16_.empty() && !t.recording() && x.rows <= bf16_max_rows_)
        return ops::linear_bf16(t, x, bf16_, has_bias_ ? t.leaf(bias_) : var<T>{}, act);
    }
    return ops::linear(t, x, t.leaf(weight_), has_bias_ ? t.leaf(bias_) : var<T>{}, act);
  }

  /// Keeps a bfloat16 copy of the weight for inference calls of at most `max_rows` rows (batch-1
  /// serving: about 2x less weight traffic). The copy is taken now: call again after further
  /// training. Training tapes always use the float weights. Float models only.
  void enable_bf16_inference(index_t max_rows = 4) {
    static_assert(std::is_same_v<T, float>, "bf16 inference is for float models");
    bf16_ = bf16_matrix(weight_.value());
    bf16_max_rows_ = max_rows;
  }
  void disable_bf16_inference() { bf16_ = bf16_matrix(); }

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
  param<T> weight_;
  param<T> bias_;
  bool has_bias_;
  bf16_matrix bf16_;
  index_t bf16_max_rows_ = 4;
};

}  // namespace recblocks::nn
