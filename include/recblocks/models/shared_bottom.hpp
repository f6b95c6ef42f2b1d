#pragma once
/// \file shared_bottom.hpp
/// Shared Bottom for multi-scenario CTR, as Scenario-Wise Rec implements it (`sharebottom.py`):
///
///     e   = feature_embedding(x)                          [B, 16 F + J]
///     h   = MLP_bn(bottom_dims)(e)                        shared by all scenarios, no output layer
///     z_b = tower_{d(b)}(h_b),  tower_d = MLP_bn(tower_dims) + Linear(., 1)     one tower per scenario
///
/// `MLP_bn` is `Linear -> BatchNorm -> act -> Dropout` per layer (`nn::mlp` with batch norm). The
/// model returns the logits `z` `[B, 1]`; the reference applies the sigmoid inside the model and
/// trains with BCELoss, here the trainer uses the fused `loss::bce_with_logits` (same loss). The
/// scenario enters only through the tower choice (`nn::scenario_router`: sorted routing by default,
/// the reference's all-towers-then-`where` with `routing = masked`).
///
/// Reference hyperparameters (papers.md 2.4): MovieLens / Amazon / Douban bottom [128], tower [8];
/// KuaiRand / MIND bottom [128], tower [64, 32]; Ali-CCP bottom [512], tower [256,128,64,32,16,8].
///
/// Parameters: `embedding.<field>.table`, `bottom.<l>.linear.{weight,bias}`, `bottom.<l>.bn.{gamma,beta}`,
/// `tower.<d>.<l>.linear...`, `tower.<d>.output.{weight,bias}`; buffers: the batch-norm running statistics.
/// Errors: construction `value_error` without a scenario feature or with empty `bottom_dims`; the
/// forward validates the batch first (see `models::ctr_model`).
/// Thread-safety: `const` forward (see `ctr_model`). Complexity per batch: O(B (D H + H^2 ...)) GEMMs.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "feature_embedding.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct shared_bottom_options {
  models::feature_embedding_options embedding;       ///< default: every sparse (16-d) and dense feature
  std::vector<index_t> bottom_dims{128};         ///< shared MLP_bn widths (non-empty)
  std::vector<index_t> tower_dims{8};            ///< per-scenario MLP_bn widths before Linear(., 1)
  activation act = activation::relu;
  double dropout = 0.0;
  bool batch_norm = true;                        ///< BN in bottom and towers (the reference's MLP)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("bottom_dims", o.bottom_dims);
    f("tower_dims", o.tower_dims);
    f("activation", o.act);
    f("dropout", o.dropout);
    f("batch_norm", o.batch_norm);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static shared_bottom_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<shared_bottom_options>(j, "models::shared_bottom_options");
  }
};

template <class T>
class shared_bottom {
 public:
  using scalar_type = T;
  using options_type = shared_bottom_options;
  static constexpr const char* name = "shared_bottom";

  shared_bottom(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static shared_bottom from_config(const data::schema& s, const nlohmann::json& j, rng& gen) {
    return shared_bottom(s, options_type::from_json(j), gen);
  }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(towers_.size()); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("bottom", self.bottom_);
    v("tower", self.towers_);
  }

 private:
  static nn::mlp_options bottom_options(const options_type& opt, index_t input_dim);

  options_type opt_;
  models::feature_embedding<T> embedding_;
  nn::mlp<T> bottom_;
  std::vector<nn::mlp<T>> towers_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
nn::mlp_options shared_bottom<T>::bottom_options(const options_type& opt, index_t input_dim) {
  if (opt.bottom_dims.empty()) throw value_error("models::shared_bottom: bottom_dims must not be empty");
  return {.input_dim = input_dim, .hidden = opt.bottom_dims, .act = opt.act, .batch_norm = opt.batch_norm,
          .dropout = opt.dropout, .output_layer = false};
}

template <class T>
shared_bottom<T>::shared_bottom(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt), embedding_(s, opt.embedding, gen), bottom_(bottom_options(opt, embedding_.output_dim()), gen) {
  if (s.scenario_count() < 1) throw value_error("models::shared_bottom: the schema has no scenario feature");
  const nn::mlp_options tower{.input_dim = opt.bottom_dims.back(), .hidden = opt.tower_dims, .act = opt.act,
                              .batch_norm = opt.batch_norm, .dropout = opt.dropout, .output_layer = true};
  towers_.reserve(static_cast<std::size_t>(s.scenario_count()));
  for (index_t d = 0; d < s.scenario_count(); ++d) towers_.emplace_back(tower, gen);
}

template <class T>
var<T> shared_bottom<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training() && opt_.batch_norm), b.size);  // validates the ids first
  const var<T> e = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  const var<T> h = bottom_(t, e);
  const var<T> z = route.apply(t, [&](index_t d) { return towers_[static_cast<std::size_t>(d)](t, route.rows(t, h, d)); });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class shared_bottom<float>;
#endif

}  // namespace recblocks::models
