#pragma once
/// \file mmoe.hpp
/// Multi-gate Mixture-of-Experts for multi-scenario CTR, as Scenario-Wise Rec implements it
/// (`mmoe.py`, one gate and one tower per scenario):
///
///     e     = feature_embedding(x)                                   [B, 16 F + J]
///     E_k   = MLP_bn(expert_dims)(e),  k = 1..K                      shared experts, no output layer
///     g_d   = Softmax(BN(Linear(e)))  [rows, K]                      one gate per scenario (nn::moe_gate)
///     h_d   = sum_k g_{d,k} E_k                                      one ops::mixture node
///     z_b   = tower_{d(b)}(h_{d(b),b}),  tower_d = MLP_bn(tower_dims) + Linear(., 1)
///
/// K = `experts` (0 = the number of scenarios, as every reference script sets it). Note the batch
/// norm inside the gate (the reference's `MLP(dims=[K], activation="softmax")`); `gate_batch_norm =
/// false` drops it. The gates, mixtures and towers of scenario d run through `nn::scenario_router`:
/// with the default sorted routing only on scenario d's rows (zero-copy row views of the sorted
/// batch), with `routing = masked` on all rows followed by the reference's per-row selection.
/// Returns logits `[B, 1]` (the reference applies the sigmoid in the model; here the loss does).
///
/// Reference hyperparameters (papers.md 2.4): MovieLens / Amazon / Douban K = N, expert [16],
/// tower [8]; KuaiRand / MIND expert [32], tower [16]; Ali-CCP expert [256,128,64,32,16,8], tower [16].
///
/// Parameters: `embedding.<field>.table`, `expert.<k>.<l>.{linear,bn}...`, `gate.<d>.0.{linear,bn}...`,
/// `tower.<d>...`; buffers: batch-norm running statistics.
/// Errors: construction `value_error` without a scenario feature, with empty `expert_dims` or
/// `experts < 0`; the forward validates the batch first (see `models::ctr_model`).
/// Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "feature_embedding.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/moe_gate.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct mmoe_options {
  models::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  index_t experts = 0;                     ///< K; 0 = number of scenarios
  std::vector<index_t> expert_dims{16};     ///< expert MLP_bn widths (non-empty)
  std::vector<index_t> tower_dims{8};       ///< per-scenario MLP_bn widths before Linear(., 1)
  activation act = activation::relu;
  double dropout = 0.0;
  bool batch_norm = true;                   ///< BN in experts and towers
  bool gate_batch_norm = true;              ///< BN between the gate's Linear and Softmax (reference)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("experts", o.experts, {"n_expert"});
    f("expert_dims", o.expert_dims);
    f("tower_dims", o.tower_dims);
    f("activation", o.act);
    f("dropout", o.dropout);
    f("batch_norm", o.batch_norm);
    f("gate_batch_norm", o.gate_batch_norm);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static mmoe_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<mmoe_options>(j, "models::mmoe_options");
  }
};

template <class T>
class mmoe {
 public:
  using scalar_type = T;
  using options_type = mmoe_options;
  static constexpr const char* name = "mmoe";

  mmoe(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static mmoe from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return mmoe(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(towers_.size()); }
  index_t experts() const { return static_cast<index_t>(experts_.size()); }

  /// bf16 copies of every dense layer's weights for inference calls of at most `max_rows` rows
  /// (batch-1 serving; see `nn::linear::enable_bf16_inference`). Float models only; call again
  /// after further training.
  void enable_bf16_inference(index_t max_rows = 4)
    requires std::is_same_v<T, float>  // also keeps it out of the explicit double instantiation
  {
    for (auto& e : experts_) e.enable_bf16_inference(max_rows);
    for (auto& g : gates_) g.enable_bf16_inference(max_rows);
    for (auto& tw : towers_) tw.enable_bf16_inference(max_rows);
  }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("expert", self.experts_);
    v("gate", self.gates_);
    v("tower", self.towers_);
  }

 private:
  options_type opt_;
  models::feature_embedding<T> embedding_;
  std::vector<nn::mlp<T>> experts_;
  std::vector<nn::moe_gate<T>> gates_;
  std::vector<nn::mlp<T>> towers_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
mmoe<T>::mmoe(const data::schema& s, const options_type& opt, rng& gen) : opt_(opt), embedding_(s, opt.embedding, gen) {
  const index_t S = s.scenario_count();
  if (S < 1) throw value_error("models::mmoe: the schema has no scenario feature");
  if (opt.expert_dims.empty()) throw value_error("models::mmoe: expert_dims must not be empty");
  if (opt.experts < 0) throw value_error("models::mmoe: experts must be >= 0 (0 = one per scenario)");
  const index_t K = opt.experts == 0 ? S : opt.experts;
  const index_t D = embedding_.output_dim();
  const nn::mlp_options expert{.input_dim = D, .hidden = opt.expert_dims, .act = opt.act, .batch_norm = opt.batch_norm,
                               .dropout = opt.dropout, .output_layer = false};
  const nn::moe_gate_options gate{.input_dim = D, .experts = K, .batch_norm = opt.gate_batch_norm};
  const nn::mlp_options tower{.input_dim = opt.expert_dims.back(), .hidden = opt.tower_dims, .act = opt.act,
                              .batch_norm = opt.batch_norm, .dropout = opt.dropout, .output_layer = true};
  experts_.reserve(static_cast<std::size_t>(K));
  for (index_t k = 0; k < K; ++k) experts_.emplace_back(expert, gen);
  gates_.reserve(static_cast<std::size_t>(S));
  for (index_t d = 0; d < S; ++d) gates_.emplace_back(gate, gen);
  towers_.reserve(static_cast<std::size_t>(S));
  for (index_t d = 0; d < S; ++d) towers_.emplace_back(tower, gen);
}

template <class T>
var<T> mmoe<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training() && (opt_.batch_norm || opt_.gate_batch_norm)), b.size);  // validates the ids first
  const var<T> e = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  const std::span<var<T>> expert_out = t.template scratch_span<var<T>>(experts_.size());  // arena, not heap
  for (std::size_t k = 0; k < experts_.size(); ++k) expert_out[k] = experts_[k](t, e);
  const std::span<var<T>> expert_rows = t.template scratch_span<var<T>>(experts_.size());
  const var<T> z = route.apply(t, [&](index_t d) {
    for (std::size_t k = 0; k < expert_out.size(); ++k) expert_rows[k] = route.rows(t, expert_out[k], d);
    const auto& gate = gates_[static_cast<std::size_t>(d)];
    const var<T> h = gate.combine(t, route.rows(t, e, d), std::span<const var<T>>(expert_rows.data(), expert_rows.size()));
    return towers_[static_cast<std::size_t>(d)](t, h);
  });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class mmoe<float>;
#endif

}  // namespace recblocks::models
