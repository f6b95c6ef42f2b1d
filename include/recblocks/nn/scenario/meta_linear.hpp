#pragma once
/// \file meta_linear.hpp
/// A linear layer whose weights are generated per sample from a conditioning vector (a hyper /
/// meta network): the generated-weight block behind M2M's meta attention and meta tower, and
/// LLM4MSR's meta layers (where the condition is an LLM embedding).
///
///     W(c) = reshape(g_W(c), [in, out]),   b(c) = g_b(c),    y_b = x_b W(c_b) + b(c_b)
///
/// `g_W`, `g_b` are `nn::mlp`s on the condition: `generator_hidden` layers then a last layer of
/// width `in * out` (resp. `out`), each Linear -> [BN] -> act (Scenario-Wise Rec's M2M uses one
/// Linear -> BN -> LeakyReLU layer, so the generated weights are themselves batch-normalised).
///
/// Shapes: `x` `[B, in]`, `c` `[B, condition_dim]` (any conditioning vector) -> `[B, out]`.
/// Requires positive dims; training tapes with batch norm need `B >= 2`.
/// Thread-safety: `const` forward (batch-norm statistics change on training tapes only).

#include <string>
#include <vector>

#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/matmul.hpp"
#include "../mlp.hpp"

namespace recblocks::nn {

struct meta_linear_options {
  index_t in = 0;
  index_t out = 0;
  index_t condition_dim = 0;
  bool batch_norm = true;                   ///< BN in the generators
  activation act = activation::leaky_relu;  ///< generators' activation (also on their last layer)
  bool bias = true;                         ///< generate a bias too
  std::vector<index_t> generator_hidden{};  ///< hidden widths of the generators before their last layer
  double slope = 0.01;                      ///< generators' LeakyReLU slope (when `act` is leaky_relu)
};

template <class T>
class meta_linear {
 public:
  using scalar_type = T;

  meta_linear(const meta_linear_options& opt, rng& gen);

  /// `x W(c) + b(c)`, per sample.
  var<T> operator()(tape<T>& t, const var<T>& x, const var<T>& condition) const;

  /// `x W + b` with weights generated earlier (`weights`, `bias`; pass `var<T>{}` for no bias): apply
  /// one generated layer to several inputs without running the generators again.
  var<T> apply(tape<T>& t, const var<T>& x, const var<T>& weights, const var<T>& bias) const;

  /// The generated weights `[B, in * out]` (row b = W(c_b) row-major) and bias `[B, out]`.
  var<T> weights(tape<T>& t, const var<T>& condition) const { return weight_gen_(t, check(condition)); }
  var<T> bias(tape<T>& t, const var<T>& condition) const;

  const meta_linear_options& options() const { return opt_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("weight_generator", self.weight_gen_);
    v("bias_generator", self.bias_gen_);
  }

 private:
  static mlp_options generator(const meta_linear_options& opt, index_t width);
  const var<T>& check(const var<T>& condition) const;

  meta_linear_options opt_;
  mlp<T> weight_gen_;
  std::optional<mlp<T>> bias_gen_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
mlp_options meta_linear<T>::generator(const meta_linear_options& opt, index_t width) {
  if (opt.in < 1 || opt.out < 1 || opt.condition_dim < 1)
    throw value_error("nn::meta_linear: in, out and condition_dim must be >= 1, got " + std::to_string(opt.in) + ", " +
                      std::to_string(opt.out) + ", " + std::to_string(opt.condition_dim));
  mlp_options m{.input_dim = opt.condition_dim, .hidden = opt.generator_hidden, .act = opt.act, .batch_norm = opt.batch_norm};
  m.leaky_slope = opt.slope;
  m.hidden.push_back(width);
  return m;
}

template <class T>
meta_linear<T>::meta_linear(const meta_linear_options& opt, rng& gen)
    : opt_(opt), weight_gen_(generator(opt, opt.in * opt.out), gen) {
  if (opt.bias) bias_gen_.emplace(generator(opt, opt.out), gen);
}

template <class T>
const var<T>& meta_linear<T>::check(const var<T>& condition) const {
  if (condition.cols != opt_.condition_dim)
    throw shape_error("nn::meta_linear: condition " + shape_string(condition.rows, condition.cols) +
                      " but condition_dim is " + std::to_string(opt_.condition_dim));
  return condition;
}

template <class T>
var<T> meta_linear<T>::bias(tape<T>& t, const var<T>& condition) const {
  if (!bias_gen_) throw state_error("nn::meta_linear::bias: built with bias = false");
  return (*bias_gen_)(t, check(condition));
}

template <class T>
var<T> meta_linear<T>::operator()(tape<T>& t, const var<T>& x, const var<T>& condition) const {
  if (x.cols != opt_.in || x.rows != condition.rows)
    throw shape_error("nn::meta_linear: input " + shape_string(x.rows, x.cols) + " and condition " +
                      shape_string(condition.rows, condition.cols) + " do not fit in = " + std::to_string(opt_.in));
  return apply(t, x, weights(t, condition), bias_gen_ ? bias(t, condition) : var<T>{});
}

template <class T>
var<T> meta_linear<T>::apply(tape<T>& t, const var<T>& x, const var<T>& weights, const var<T>& bias) const {
  const var<T> y = ops::batched_matmul(t, x, weights, opt_.out);
  return bias.data ? ops::add(t, y, bias) : y;
}

}  // namespace recblocks::nn
