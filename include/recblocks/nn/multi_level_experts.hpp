#pragma once
/// \file multi_level_experts.hpp
/// M3oE's multi-level mixture of experts (Zhang et al. 2024), single-task form as in Scenario-Wise Rec:
/// shared experts mixed by per-scenario gates, plus scenario experts blended by a learned domain
/// balance and added with a learned weight.
///
///     S_k   = MLP_N(x)                        k = 1..K shared experts
///     dom_i = MLP_N(x)                        i = 1..N, one expert per scenario
///     g_i   = softmax(stop_gradient(x) W_i + b_i)            [B, K]
///     w_bal = sigmoid(p_bal),  w_exp = sigmoid(p_exp)         learned scalars (p initialised to 1)
///     D_i   = w_bal dom_i + (1 - w_bal) / (N - 1) sum_{j != i} dom_j       (D_i = dom_i when N = 1)
///     f_i   = sum_k g_{i,k} S_k + w_exp D_i
///
/// `MLP_N` is Linear -> LayerNorm -> ReLU per layer (`nn::layer_norm_mlp`).
///
/// Shapes: `x` `[B, input_dim]` -> N values `[B, expert_hidden.back()]` (f_1..f_N, every row; the
/// model's scenario towers pick each row's own).
/// Thread-safety: `const` forward, no state.

#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/mixture.hpp"
#include "../core/ops/shape.hpp"
#include "../core/ops/softmax.hpp"
#include "layer_norm_mlp.hpp"

namespace recblocks::nn {

struct multi_level_experts_options {
  index_t input_dim = 0;
  std::vector<index_t> expert_hidden{32};
  index_t shared_experts = 4;  ///< K
  index_t scenarios = 0;       ///< N
  double expert_weight_init = 1.0;   ///< p_exp (exp_d)
  double balance_weight_init = 1.0;  ///< p_bal (bal_d)
};

template <class T>
class multi_level_experts {
 public:
  using scalar_type = T;

  multi_level_experts(const multi_level_experts_options& opt, rng& gen);

  std::vector<var<T>> operator()(tape<T>& t, const var<T>& x) const;

  index_t output_dim() const { return opt_.expert_hidden.back(); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("shared", self.shared_);
    v("domain", self.domain_);
    v("gate", self.gates_);
    v("expert_weight", self.expert_weight_);
    v("balance_weight", self.balance_weight_);
  }

 private:
  static const multi_level_experts_options& checked(const multi_level_experts_options& opt);

  multi_level_experts_options opt_;
  std::vector<layer_norm_mlp<T>> shared_, domain_;
  std::vector<linear<T>> gates_;
  param<T> expert_weight_, balance_weight_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
const multi_level_experts_options& multi_level_experts<T>::checked(const multi_level_experts_options& opt) {
  if (opt.input_dim < 1 || opt.shared_experts < 1 || opt.scenarios < 1 || opt.expert_hidden.empty())
    throw value_error("nn::multi_level_experts: need input_dim, shared_experts, scenarios >= 1 and non-empty expert_hidden");
  return opt;
}

template <class T>
multi_level_experts<T>::multi_level_experts(const multi_level_experts_options& opt, rng& gen)
    : opt_(checked(opt)),
      expert_weight_("expert_weight", matrix<T>::Constant(1, 1, T(opt.expert_weight_init))),
      balance_weight_("balance_weight", matrix<T>::Constant(1, 1, T(opt.balance_weight_init))) {
  const layer_norm_mlp_options e{.input_dim = opt.input_dim, .hidden = opt.expert_hidden};
  for (index_t k = 0; k < opt.shared_experts; ++k) shared_.emplace_back(e, gen);
  for (index_t i = 0; i < opt.scenarios; ++i) {
    domain_.emplace_back(e, gen);
    gates_.emplace_back(opt.input_dim, opt.shared_experts, gen);
  }
}

template <class T>
std::vector<var<T>> multi_level_experts<T>::operator()(tape<T>& t, const var<T>& x) const {
  if (x.cols != opt_.input_dim)
    throw shape_error("nn::multi_level_experts: input " + shape_string(x.rows, x.cols) + " but input_dim is " +
                      std::to_string(opt_.input_dim));
  const index_t N = opt_.scenarios;
  std::vector<var<T>> shared, dom;
  for (const auto& e : shared_) shared.push_back(e(t, x));
  for (const auto& e : domain_) dom.push_back(e(t, x));
  const var<T> detached = ops::stop_gradient(t, x);
  const var<T> w_exp = ops::sigmoid(t, t.leaf(expert_weight_));
  var<T> w_bal, w_rest, total;
  if (N > 1) {
    w_bal = ops::sigmoid(t, t.leaf(balance_weight_));
    w_rest = ops::mul_scalar(t, ops::add_scalar(t, ops::neg(t, w_bal), T(1)), T(1) / T(N - 1));
    total = dom[0];
    for (index_t i = 1; i < N; ++i) total = ops::add(t, total, dom[static_cast<std::size_t>(i)]);
  }
  std::vector<var<T>> out;
  for (index_t i = 0; i < N; ++i) {
    const auto k = static_cast<std::size_t>(i);
    var<T> mixed = ops::mixture(t, ops::softmax(t, gates_[k](t, detached)), std::span<const var<T>>(shared));
    var<T> balanced = dom[k];
    if (N > 1)
      balanced = ops::add(t, ops::mul(t, w_bal, dom[k]), ops::mul(t, w_rest, ops::sub(t, total, dom[k])));
    out.push_back(ops::add(t, mixed, ops::mul(t, w_exp, balanced)));
  }
  return out;
}

}  // namespace recblocks::nn
