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

  /// `act(x W + b)`.
  var<T> operator()(tape<T>& t, const var<T>& x, fused_activation act = fused_activation::none) const {
    return ops::linear(t, x, t.leaf(weight_), has_bias_ ? t.leaf(bias_) : var<T>{}, act);
  }

  index_t in_features() const { return weight_.rows(); }
  index_t out_features() const { return weight_.cols(); }
  param<T>& weight() { return weight_; }
  param<T>& bias() { return bias_; }
  const param<T>& weight() const { return weight_; }
  const param<T>& bias() const { return bias_; }

  template <class Visitor>
  void visit_parameters(Visitor&& v, const std::string& prefix) {
    v(join_name(prefix, "weight"), weight_);
    if (has_bias_) v(join_name(prefix, "bias"), bias_);
  }

 private:
  param<T> weight_;
  param<T> bias_;
  bool has_bias_;
};

}  // namespace recblocks::nn
