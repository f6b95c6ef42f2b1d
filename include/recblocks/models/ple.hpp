#pragma once
/// \file ple.hpp
/// PLE (Progressive Layered Extraction, Tang et al. 2020) for multi-scenario CTR, as Scenario-Wise Rec
/// implements it (`ple.py`), each scenario a task:
///
///     e           = feature_embedding(x)                               [B, D]
///     level 1     : inputs (e, ..., e) -> CGC -> (y_1, ..., y_N, y_c)   (y_c only when another level follows)
///     level l > 1 : inputs (y_1, ..., y_N, y_c) -> CGC
///     z_b         = tower_{d(b)}(y_{d(b), b}),  tower_d = MLP_bn(tower_dims) + Linear(., 1)
///
/// Each CGC level (`nn::cgc_layer`) has `specific_experts` MLP_bn experts per scenario, `shared_experts`
/// shared experts, and per scenario a gate `softmax(BN(Linear))` over its own and the shared experts.
/// Reference hyperparameters (MovieLens/Amazon/Douban): 1 level, 2 specific + 1 shared experts,
/// expert [16], tower [8].
///
/// Parameters: `embedding.*`, `level.<l>.{specific,shared,gate,shared_gate}.*`, `tower.<d>.*`.
/// Errors: see `models::ctr_model` (the forward validates scenario ids and features first).
/// Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../nn/scenario/cgc_layer.hpp"
#include "feature_embedding.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct ple_options {
  models::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  index_t levels = 1;
  index_t specific_experts = 2;
  index_t shared_experts = 1;
  std::vector<index_t> expert_dims{16};
  std::vector<index_t> tower_dims{8};
  activation act = activation::relu;
  double dropout = 0.0;
  bool batch_norm = true;
  bool gate_batch_norm = true;  ///< BN between the gate's Linear and Softmax (reference)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("levels", o.levels, {"n_level"});
    f("specific_experts", o.specific_experts, {"n_expert_specific"});
    f("shared_experts", o.shared_experts, {"n_expert_shared"});
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
  static ple_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<ple_options>(j, "models::ple_options");
  }
};

template <class T>
class ple {
 public:
  using scalar_type = T;
  using options_type = ple_options;
  static constexpr const char* name = "ple";

  ple(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static ple from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return ple(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(towers_.size()); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("level", self.levels_);
    v("tower", self.towers_);
  }

 private:
  options_type opt_;
  models::feature_embedding<T> embedding_;
  std::vector<nn::cgc_layer<T>> levels_;
  std::vector<nn::mlp<T>> towers_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
ple<T>::ple(const data::schema& s, const options_type& opt, rng& gen) : opt_(opt), embedding_(s, opt.embedding, gen) {
  const index_t N = s.scenario_count();
  if (N < 1) throw value_error("models::ple: the schema has no scenario feature");
  if (opt.levels < 1 || opt.expert_dims.empty())
    throw value_error("models::ple: levels must be >= 1 and expert_dims non-empty");
  for (index_t l = 0; l < opt.levels; ++l)
    levels_.emplace_back(nn::cgc_layer_options{.input_dim = l == 0 ? embedding_.output_dim() : opt.expert_dims.back(),
                                               .tasks = N,
                                               .specific_experts = opt.specific_experts,
                                               .shared_experts = opt.shared_experts,
                                               .expert_hidden = opt.expert_dims,
                                               .act = opt.act,
                                               .batch_norm = opt.batch_norm,
                                               .gate_batch_norm = opt.gate_batch_norm,
                                               .shared_gate = l + 1 < opt.levels},
                         gen);
  const nn::mlp_options tower{.input_dim = opt.expert_dims.back(), .hidden = opt.tower_dims, .act = opt.act,
                              .batch_norm = opt.batch_norm, .dropout = opt.dropout, .output_layer = true};
  for (index_t d = 0; d < N; ++d) towers_.emplace_back(tower, gen);
}

template <class T>
var<T> ple<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training() && opt_.batch_norm), b.size);
  const std::span<var<T>> first = t.template scratch_span<var<T>>(1);  // arena, not heap
  first[0] = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  std::span<const var<T>> inputs(first.data(), 1);
  for (const auto& level : levels_) inputs = level(t, inputs);
  const var<T> z = route.apply(t, [&](index_t d) {
    return towers_[static_cast<std::size_t>(d)](t, route.rows(t, inputs[static_cast<std::size_t>(d)], d));
  });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class ple<float>;
#endif

}  // namespace recblocks::models
