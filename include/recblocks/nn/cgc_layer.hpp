#pragma once
/// \file cgc_layer.hpp
/// Customized Gate Control extraction layer (PLE, Tang et al. 2020), one level of the PLE stack.
///
/// With N tasks (here: scenarios), `m_s` specific experts per task and `m_c` shared experts:
///
///     E_{i,j} = MLP_bn(x_i)             j = 1..m_s   (task i's experts on task i's input)
///     E_{c,j} = MLP_bn(x_c)             j = 1..m_c   (shared experts on the shared input)
///     y_i     = sum_k g_i(x_i)_k [E_{i,1..m_s}; E_{c,1..m_c}]_k,      g_i = softmax(BN(Linear(x_i)))
///     y_c     = sum_k g_c(x_c)_k [E_{1,.}; ...; E_{N,.}; E_{c,.}]_k   (only when `shared_gate`, i.e. not the last level)
///
/// Shapes: inputs N + 1 values `[B, input_dim]` (task inputs, then the shared input), or one value
/// used for all; outputs N values `[B, expert_hidden.back()]` (+ the shared output when `shared_gate`).
/// Requires: tasks >= 1, specific_experts + shared_experts >= 1, non-empty `expert_hidden`.
/// Thread-safety: `const` forward (batch-norm statistics change on training tapes only).

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "moe_gate.hpp"

namespace recblocks::nn {

struct cgc_layer_options {
  index_t input_dim = 0;
  index_t tasks = 0;                   ///< N
  index_t specific_experts = 2;        ///< m_s per task
  index_t shared_experts = 1;          ///< m_c
  std::vector<index_t> expert_hidden;  ///< expert MLP widths (Linear -> BN -> act per layer)
  activation act = activation::relu;
  bool batch_norm = true;              ///< BN inside the experts
  bool gate_batch_norm = true;         ///< BN inside the gates (the reference's quirk)
  bool shared_gate = false;            ///< also produce the shared output (every PLE level but the last)
};

template <class T>
class cgc_layer {
 public:
  using scalar_type = T;

  cgc_layer(const cgc_layer_options& opt, rng& gen);

  /// See the file docs. `inputs.size()` is 1 or `tasks + 1`.
  std::vector<var<T>> operator()(tape<T>& t, std::span<const var<T>> inputs) const;

  index_t output_dim() const { return opt_.expert_hidden.back(); }
  const cgc_layer_options& options() const { return opt_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("specific", self.specific_);
    v("shared", self.shared_);
    v("gate", self.gates_);
    v("shared_gate", self.shared_gate_);
  }

 private:
  cgc_layer_options opt_;
  std::vector<mlp<T>> specific_;  // task i's experts at [i * m_s, (i + 1) * m_s)
  std::vector<mlp<T>> shared_;
  std::vector<moe_gate<T>> gates_;
  std::optional<moe_gate<T>> shared_gate_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
cgc_layer<T>::cgc_layer(const cgc_layer_options& opt, rng& gen) : opt_(opt) {
  if (opt.tasks < 1 || opt.specific_experts < 0 || opt.shared_experts < 0 ||
      opt.specific_experts + opt.shared_experts < 1 || opt.expert_hidden.empty())
    throw value_error("nn::cgc_layer: need tasks >= 1, at least one expert and non-empty expert_hidden (tasks " +
                      std::to_string(opt.tasks) + ", specific " + std::to_string(opt.specific_experts) + ", shared " +
                      std::to_string(opt.shared_experts) + ")");
  const mlp_options expert{.input_dim = opt.input_dim, .hidden = opt.expert_hidden, .act = opt.act, .batch_norm = opt.batch_norm};
  for (index_t k = 0; k < opt.tasks * opt.specific_experts; ++k) specific_.emplace_back(expert, gen);
  for (index_t k = 0; k < opt.shared_experts; ++k) shared_.emplace_back(expert, gen);
  for (index_t i = 0; i < opt.tasks; ++i)
    gates_.emplace_back(moe_gate_options{opt.input_dim, opt.specific_experts + opt.shared_experts, opt.gate_batch_norm}, gen);
  if (opt.shared_gate)
    shared_gate_.emplace(moe_gate_options{opt.input_dim, opt.tasks * opt.specific_experts + opt.shared_experts,
                                          opt.gate_batch_norm},
                         gen);
}

template <class T>
std::vector<var<T>> cgc_layer<T>::operator()(tape<T>& t, std::span<const var<T>> inputs) const {
  const index_t N = opt_.tasks, ms = opt_.specific_experts;
  if (inputs.size() != 1 && static_cast<index_t>(inputs.size()) != N + 1)
    throw shape_error("nn::cgc_layer: expected 1 or " + std::to_string(N + 1) + " inputs, got " +
                      std::to_string(inputs.size()));
  auto input = [&](index_t i) -> const var<T>& { return inputs.size() == 1 ? inputs[0] : inputs[static_cast<std::size_t>(i)]; };
  std::vector<var<T>> spec, shared;
  for (index_t i = 0; i < N; ++i)
    for (index_t j = 0; j < ms; ++j) spec.push_back(specific_[static_cast<std::size_t>(i * ms + j)](t, input(i)));
  for (const auto& e : shared_) shared.push_back(e(t, input(N)));
  std::vector<var<T>> out;
  std::vector<var<T>> pool;
  for (index_t i = 0; i < N; ++i) {
    pool.assign(spec.begin() + i * ms, spec.begin() + (i + 1) * ms);
    pool.insert(pool.end(), shared.begin(), shared.end());
    out.push_back(gates_[static_cast<std::size_t>(i)].combine(t, input(i), pool));
  }
  if (shared_gate_) {
    pool = spec;
    pool.insert(pool.end(), shared.begin(), shared.end());
    out.push_back(shared_gate_->combine(t, input(N), pool));
  }
  return out;
}

}  // namespace recblocks::nn
