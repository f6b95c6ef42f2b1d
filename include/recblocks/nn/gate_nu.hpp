#pragma once
/// \file gate_nu.hpp
/// Gate Neural Unit of EPNet / PPNet (Chang et al. 2023, PEPNet):
///
///     gate(x) = gamma * sigmoid(ReLU(x W1 + b1) W2 + b2)        gamma = 2, so gates lie in (0, 2)
///
/// PEPNet feeds the gate a conditioning vector next to the gated features with the gradient stopped on
/// the latter (`operator()(t, condition, gated)` builds `[condition ; stop_gradient(gated)]`).
///
/// Shapes: `x` `[B, in]` -> `[B, out]`; the hidden width defaults to `out`.
/// Thread-safety: `const` forward, no state.

#include <string>

#include "../core/ops/elementwise.hpp"
#include "../core/ops/shape.hpp"
#include "linear.hpp"

namespace recblocks::nn {

struct gate_nu_options {
  index_t input_dim = 0;
  index_t output_dim = 0;
  index_t hidden_dim = 0;  ///< 0: output_dim
  double gamma = 2.0;
};

template <class T>
class gate_nu {
 public:
  using scalar_type = T;

  gate_nu(const gate_nu_options& opt, rng& gen);

  /// `gamma * sigmoid(Linear(ReLU(Linear(x))))`.
  var<T> operator()(tape<T>& t, const var<T>& x) const;

  /// The gate of `[condition ; stop_gradient(gated)]` (`input_dim` = both widths).
  var<T> operator()(tape<T>& t, const var<T>& condition, const var<T>& gated) const {
    return (*this)(t, ops::concat_cols(t, {condition, ops::stop_gradient(t, gated)}));
  }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("hidden", self.hidden_);
    v("output", self.output_);
  }

 private:
  static index_t checked(const gate_nu_options& opt);
  gate_nu_options opt_;
  linear<T> hidden_, output_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
index_t gate_nu<T>::checked(const gate_nu_options& opt) {
  if (opt.input_dim < 1 || opt.output_dim < 1 || opt.hidden_dim < 0)
    throw value_error("nn::gate_nu: input_dim and output_dim must be >= 1, got " + std::to_string(opt.input_dim) +
                      " and " + std::to_string(opt.output_dim));
  return opt.hidden_dim > 0 ? opt.hidden_dim : opt.output_dim;
}

template <class T>
gate_nu<T>::gate_nu(const gate_nu_options& opt, rng& gen)
    : opt_(opt), hidden_(opt.input_dim, checked(opt), gen), output_(checked(opt), opt.output_dim, gen) {}

template <class T>
var<T> gate_nu<T>::operator()(tape<T>& t, const var<T>& x) const {
  var<T> g = output_(t, hidden_(t, x, fused_activation::relu), fused_activation::sigmoid);
  return ops::mul_scalar(t, g, T(opt_.gamma));
}

}  // namespace recblocks::nn
