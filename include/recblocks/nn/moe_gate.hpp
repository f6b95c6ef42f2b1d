#pragma once
/// \file moe_gate.hpp
/// Softmax gate of a mixture of experts (MMoE, PLE/CGC, SAR-Net, M3oE).
///
///     g(x) = softmax(BN(x W_g + b_g))          (batch norm optional; Scenario-Wise Rec's MMoE/PLE gates
///                                               are MLP(dims=[K], activation="softmax") = Softmax(BN(Linear)))
///     y    = sum_k g_k(x) E_k                   (`mix`, one `ops::mixture` node)
///
/// Shapes: `x` `[B, input_dim]` -> gate weights `[B, K]`; `mix`: weights `[B, K]` and K experts
/// `[B, d]` -> `[B, d]`.
/// Requires: `input_dim >= 1`, `experts >= 1`; with batch norm a training tape needs `B >= 2`.
/// Thread-safety: `const` forward; inference tapes touch no state (the batch-norm running statistics
/// are updated on training tapes only, from the one training thread).

#include <span>
#include <string>

#include "../core/ops/mixture.hpp"
#include "../core/ops/softmax.hpp"
#include "mlp.hpp"

namespace recblocks::nn {

struct moe_gate_options {
  index_t input_dim = 0;
  index_t experts = 0;      ///< K
  bool batch_norm = false;  ///< BN between the projection and the softmax (the reference's MMoE/PLE gates)
};

template <class T>
class moe_gate {
 public:
  using scalar_type = T;

  moe_gate(const moe_gate_options& opt, rng& gen);

  /// Gate weights `[B, K]`, each row a probability vector.
  var<T> operator()(tape<T>& t, const var<T>& x) const;

  /// `sum_k weights[:, k] * experts[k]`.
  static var<T> mix(tape<T>& t, const var<T>& weights, std::span<const var<T>> experts);

  /// `mix(t, (*this)(t, x), experts)`.
  var<T> combine(tape<T>& t, const var<T>& x, std::span<const var<T>> experts) const;

  index_t experts() const { return opt_.experts; }

  /// bf16 weight copy for small-batch inference (see `linear::enable_bf16_inference`).
  void enable_bf16_inference(index_t max_rows = 4) { proj_.enable_bf16_inference(max_rows); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.proj_);
  }

 private:
  static mlp_options projection(const moe_gate_options& opt);
  moe_gate_options opt_;
  mlp<T> proj_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
mlp_options moe_gate<T>::projection(const moe_gate_options& opt) {
  if (opt.input_dim < 1 || opt.experts < 1)
    throw value_error("nn::moe_gate: input_dim and experts must be >= 1, got " + std::to_string(opt.input_dim) +
                      " and " + std::to_string(opt.experts));
  return {.input_dim = opt.input_dim, .hidden = {opt.experts}, .act = activation::none, .batch_norm = opt.batch_norm};
}

template <class T>
moe_gate<T>::moe_gate(const moe_gate_options& opt, rng& gen) : opt_(opt), proj_(projection(opt), gen) {}

template <class T>
var<T> moe_gate<T>::operator()(tape<T>& t, const var<T>& x) const {
  return ops::softmax(t, proj_(t, x));
}

template <class T>
var<T> moe_gate<T>::mix(tape<T>& t, const var<T>& weights, std::span<const var<T>> experts) {
  return ops::mixture(t, weights, experts);
}

template <class T>
var<T> moe_gate<T>::combine(tape<T>& t, const var<T>& x, std::span<const var<T>> experts) const {
  if (static_cast<index_t>(experts.size()) != opt_.experts)
    throw shape_error("nn::moe_gate::combine: " + std::to_string(experts.size()) + " experts for a gate over " +
                      std::to_string(opt_.experts));
  return mix(t, (*this)(t, x), experts);
}

}  // namespace recblocks::nn
