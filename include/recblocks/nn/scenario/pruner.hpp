#pragma once
/// \file pruner.hpp
/// AdaSparse's pruner (Yang et al. 2022): per-sample, per-neuron factors computed from a scenario
/// representation `s` and the layer's input `h`, which scale (or switch off) the neurons of `h`.
///
///     v = [s ; h] W                      (linear, no bias)
///     binarization:  u = sigmoid(alpha v),    pi = 1[u >= eps]   (straight-through: d pi = d u)
///     scaling:       u = beta sigmoid(v),     pi = u 1[u >= eps]
///     fusion:        u = beta sigmoid(alpha v), pi = u 1[u >= eps]
///     output:        pi ⊙ h
///
/// `alpha` is annealed: `advance()` adds `delta_alpha` once per training step (the trainer calls the
/// model's `on_training_step()`), so evaluation never changes it. It is a buffer ("alpha") and is
/// saved in checkpoints.
///
/// `reference_behaviour` reproduces Scenario-Wise Rec's code: `pi = u sign(u - eps)` (factors below
/// eps become -u instead of 0; binarization gives ±1 with no gradient) and alpha grows by
/// `delta_alpha` on every forward call, evaluation included (then the forward mutates state and is
/// not thread-safe).
///
/// Shapes: `s` `[B, condition_dim]`, `h` `[B, dim]` -> `[B, dim]`.
/// Thread-safety: `const` forward, no state change unless `reference_behaviour`; `advance` from the
/// training thread only.

#include <string>

#include "../../core/ops/activation.hpp"
#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/shape.hpp"
#include "../linear.hpp"

namespace recblocks::nn {

enum class pruner_form { binarization, scaling, fusion };

/// "binarization", "scaling", "fusion".
inline const char* to_string(pruner_form f) {
  switch (f) {
    case pruner_form::binarization: return "binarization";
    case pruner_form::scaling: return "scaling";
    case pruner_form::fusion: return "fusion";
  }
  return "fusion";
}
/// Inverse of `to_string` (case-sensitive); `value_error` otherwise.
inline pruner_form pruner_form_from_string(const std::string& s) {
  for (auto f : {pruner_form::binarization, pruner_form::scaling, pruner_form::fusion})
    if (s == to_string(f)) return f;
  throw value_error("nn::pruner: unknown form '" + s + "' (expected binarization, scaling or fusion)");
}

struct pruner_options {
  index_t condition_dim = 0;
  index_t dim = 0;
  pruner_form form = pruner_form::fusion;
  double epsilon = 1e-2;
  double beta = 2.0;
  double alpha = 1.0;        ///< initial alpha
  double delta_alpha = 1e-4;
  bool reference_behaviour = false;
};

template <class T>
class pruner {
 public:
  using scalar_type = T;

  pruner(const pruner_options& opt, rng& gen);

  /// `pi ⊙ h`.
  var<T> operator()(tape<T>& t, const var<T>& condition, const var<T>& h) const {
    return ops::mul(t, factors(t, condition, h), h);
  }

  /// The factors `pi` `[B, dim]`.
  var<T> factors(tape<T>& t, const var<T>& condition, const var<T>& h) const;

  /// One annealing step: `alpha += delta_alpha`.
  void advance() { alpha_(0, 0) += T(opt_.delta_alpha); }
  T alpha() const { return alpha_(0, 0); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.proj_);
    v("alpha", self.alpha_);
  }

 private:
  static index_t input_width(const pruner_options& opt) {
    if (opt.condition_dim < 0 || opt.dim < 1)
      throw value_error("nn::pruner: dim must be >= 1 and condition_dim >= 0, got " + std::to_string(opt.dim) + " and " +
                        std::to_string(opt.condition_dim));
    return opt.condition_dim + opt.dim;
  }

  pruner_options opt_;
  linear<T> proj_;
  mutable matrix<T> alpha_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
pruner<T>::pruner(const pruner_options& opt, rng& gen)
    : opt_(opt), proj_(input_width(opt), opt.dim, gen, false), alpha_(matrix<T>::Constant(1, 1, T(opt.alpha))) {
  if (!(opt.epsilon >= 0.0) || !(opt.beta > 0.0))
    throw value_error("nn::pruner: epsilon must be >= 0 and beta > 0");
}

template <class T>
var<T> pruner<T>::factors(tape<T>& t, const var<T>& condition, const var<T>& h) const {
  if (h.cols != opt_.dim || condition.cols != opt_.condition_dim || condition.rows != h.rows)
    throw shape_error("nn::pruner: condition " + shape_string(condition.rows, condition.cols) + " and input " +
                      shape_string(h.rows, h.cols) + " do not fit condition_dim = " + std::to_string(opt_.condition_dim) +
                      ", dim = " + std::to_string(opt_.dim));
  if (opt_.reference_behaviour) alpha_(0, 0) += T(opt_.delta_alpha);  // the reference anneals before the forward uses alpha
  const T alpha = alpha_(0, 0);
  var<T> in = opt_.condition_dim > 0 ? ops::concat_cols(t, {condition, h}) : h;
  var<T> v = proj_(t, in);
  const bool use_alpha = opt_.form != pruner_form::scaling;
  var<T> u = ops::sigmoid(t, use_alpha ? ops::mul_scalar(t, v, alpha) : v);
  if (opt_.form != pruner_form::binarization) u = ops::mul_scalar(t, u, T(opt_.beta));
  const T eps = T(opt_.epsilon);
  var<T> gate = t.make(u.rows, u.cols);  // a constant: the threshold carries no gradient
  const auto uv = u.value().array();
  if (opt_.reference_behaviour) t.out(gate).array() = (uv - eps).sign();
  else t.out(gate).array() = (uv >= eps).template cast<T>();
  if (opt_.form != pruner_form::binarization) return ops::mul(t, u, gate);
  if (opt_.reference_behaviour) return gate;  // sign(): no gradient, as the reference
  // straight-through: value 1[u >= eps], gradient of u
  var<T> offset = t.make(u.rows, u.cols);
  t.out(offset) = gate.value() - u.value();
  return ops::add(t, u, offset);
}

}  // namespace recblocks::nn
