#pragma once
/// \file meta_attention.hpp
/// M2M's meta attention (Zhang et al. 2022): attention over K expert outputs whose scoring weights are
/// generated per sample from a conditioning vector (the scenario representation in M2M; any vector,
/// e.g. an LLM embedding, works).
///
///     H_k     = LeakyReLU([E_k ; t] W(c) + b(c))          W(c), b(c) from `meta_linear` (in = out = d + d_t)
///     s_k     = H_k v                                     v in R^{d + d_t}, initialised to ones
///     alpha   = softmax_k(s)                              per sample, over the K experts
///     r       = sum_k alpha_k E_k
///
/// The attention runs over the experts of each sample (never across the samples of a batch).
///
/// Shapes: K experts `[B, d]`, task/context vector `t` `[B, d_t]`, condition `c` `[B, condition_dim]`
/// -> `[B, d]`; `attention_weights` -> `[B, K]`.
/// Thread-safety: `const` forward (batch-norm statistics of the generators change on training tapes only).

#include <span>
#include <string>
#include <vector>

#include "../../core/ops/activation.hpp"
#include "../../core/ops/mixture.hpp"
#include "../../core/ops/shape.hpp"
#include "../../core/ops/softmax.hpp"
#include "meta_linear.hpp"

namespace recblocks::nn {

struct meta_attention_options {
  index_t expert_dim = 0;     ///< d
  index_t context_dim = 0;    ///< d_t (the task representation)
  index_t condition_dim = 0;  ///< conditioning vector width
  index_t experts = 0;        ///< K
  bool batch_norm = true;     ///< BN in the weight generators (the reference's MLP blocks)
  double slope = 0.01;        ///< LeakyReLU slope on H
  double generator_slope = 0.01;  ///< LeakyReLU slope inside the weight generators (Scenario-Wise Rec: 0.1)
};

template <class T>
class meta_attention {
 public:
  using scalar_type = T;

  meta_attention(const meta_attention_options& opt, rng& gen);

  /// `r = sum_k alpha_k E_k`.
  var<T> operator()(tape<T>& t, std::span<const var<T>> experts, const var<T>& context, const var<T>& condition) const {
    return ops::mixture(t, attention_weights(t, experts, context, condition), experts);
  }

  /// `alpha` `[B, K]`.
  var<T> attention_weights(tape<T>& t, std::span<const var<T>> experts, const var<T>& context,
                           const var<T>& condition) const;

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("score", self.score_);
    v("v", self.v_);
  }

 private:
  meta_attention_options opt_;
  meta_linear<T> score_;
  param<T> v_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
meta_attention<T>::meta_attention(const meta_attention_options& opt, rng& gen)
    : opt_(opt),
      score_(meta_linear_options{.in = opt.expert_dim + opt.context_dim,
                                 .out = opt.expert_dim + opt.context_dim,
                                 .condition_dim = opt.condition_dim,
                                 .batch_norm = opt.batch_norm,
                                 .slope = opt.generator_slope},
             gen),
      v_("v", matrix<T>::Ones(opt.expert_dim + opt.context_dim, 1)) {
  if (opt.experts < 1 || opt.expert_dim < 1 || opt.context_dim < 0)
    throw value_error("nn::meta_attention: need experts >= 1 and expert_dim >= 1");
}

template <class T>
var<T> meta_attention<T>::attention_weights(tape<T>& t, std::span<const var<T>> experts, const var<T>& context,
                                            const var<T>& condition) const {
  if (static_cast<index_t>(experts.size()) != opt_.experts)
    throw shape_error("nn::meta_attention: " + std::to_string(experts.size()) + " experts, expected " +
                      std::to_string(opt_.experts));
  const std::span<var<T>> scores = t.template scratch_span<var<T>>(experts.size());  // arena, not heap
  std::size_t n_scores = 0;
  const var<T> v = t.leaf(v_);
  // W(c), b(c) generated once per sample and shared by the K experts
  const var<T> w = score_.weights(t, condition), b = score_.bias(t, condition);
  for (const auto& e : experts) {
    if (e.rows != condition.rows)
      throw shape_error("nn::meta_attention: expert " + shape_string(e.rows, e.cols) + " and condition " +
                        shape_string(condition.rows, condition.cols) + " differ in rows");
    var<T> in = opt_.context_dim > 0 ? ops::concat_cols(t, {e, context}) : e;
    var<T> h = ops::leaky_relu(t, score_.apply(t, in, w, b), T(opt_.slope));
    scores[n_scores++] = ops::matmul(t, h, v);
  }
  return ops::softmax(t, ops::concat_cols(t, std::span<const var<T>>(scores.data(), n_scores)));
}

}  // namespace recblocks::nn
