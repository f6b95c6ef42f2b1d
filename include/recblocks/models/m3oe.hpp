#pragma once
/// \file m3oe.hpp
/// M3oE (Zhang et al. 2024, "Multi-Domain Multi-Task Mixture-of-Experts"), the single-task form of
/// Scenario-Wise Rec's `m3oe.py`:
///
///     x     = feature_embedding(x)                                    [B, D]
///     s     = x (W ⊙ W_d) + b + b_d                                   STAR-style fusion, D -> f0 (per scenario)
///     u     = MLP_N([f1])(s) + MLP_N([f1])(x)                         MLP_N = Linear -> LayerNorm -> ReLU
///     f_i   = sum_k softmax(stop_gradient(u) W_i)_k S_k(u) + w_exp (w_bal dom_i + (1 - w_bal)/(N - 1) sum_{j!=i} dom_j)
///     z_b   = Linear(ReLU(LN(Linear(f_{d(b), b}))))                   tower of the sample's scenario
///
/// with K shared experts S_k and one expert dom_i per scenario (`nn::multi_level_experts`), learned
/// scalar weights `w = sigmoid(p)`, `p` initialised to 1. `fcn_dims` = [f0, f1, f1, e...]: the first
/// two widths are the STAR part, the rest the expert widths (the reference requires the third to
/// equal the second). The scenario-dependent layers run per scenario through `nn::scenario_router`.
/// Reference hyperparameters: fcn [128, 64, 64, 32], 4 experts, exp_d = bal_d = 1.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward, no state.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "feature_embedding.hpp"
#include "../nn/layer_norm_mlp.hpp"
#include "../nn/linear.hpp"
#include "../nn/scenario/multi_level_experts.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "../nn/scenario/star_linear.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct m3oe_options {
  models::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  std::vector<index_t> fcn_dims{128, 64, 64, 32};
  index_t experts = 4;
  double expert_weight_init = 1.0;   ///< exp_d
  double balance_weight_init = 1.0;  ///< bal_d
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: sorted (no batch norm after the split: exactly the reference)

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("fcn_dims", o.fcn_dims);
    f("experts", o.experts, {"expert_num"});
    f("expert_weight_init", o.expert_weight_init);
    f("balance_weight_init", o.balance_weight_init);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static m3oe_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<m3oe_options>(j, "models::m3oe_options");
  }
};

template <class T>
class m3oe {
 public:
  using scalar_type = T;
  using options_type = m3oe_options;
  static constexpr const char* name = "m3oe";

  m3oe(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static m3oe from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return m3oe(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(outputs_.size()); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("star", self.star_);
    v("star_mlp", self.star_mlp_);
    v("skip", self.skip_);
    v("experts", self.experts_);
    for (std::size_t d = 0; d < self.towers_.size(); ++d) {
      v("tower." + std::to_string(d), self.towers_[d]);
      v("output." + std::to_string(d), self.outputs_[d]);
    }
  }

 private:
  static const m3oe_options& checked(const m3oe_options& opt, const data::schema& s);

  options_type opt_;
  models::feature_embedding<T> embedding_;
  nn::star_linear<T> star_;
  nn::layer_norm_mlp<T> star_mlp_, skip_;
  nn::multi_level_experts<T> experts_;
  std::vector<nn::layer_norm_mlp<T>> towers_;
  std::vector<nn::linear<T>> outputs_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
const m3oe_options& m3oe<T>::checked(const m3oe_options& opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::m3oe: the schema has no scenario feature");
  if (opt.fcn_dims.size() < 4 || opt.fcn_dims[2] != opt.fcn_dims[1])
    throw value_error("models::m3oe: fcn_dims must be [f0, f1, f1, expert widths...] (at least 4 entries, the third "
                      "equal to the second)");
  return opt;
}

template <class T>
m3oe<T>::m3oe(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(checked(opt, s)),
      embedding_(s, opt.embedding, gen),
      star_({.in = embedding_.output_dim(), .out = opt.fcn_dims[0], .scenarios = s.scenario_count(), .bias = true,
             .weight_init = nn::init::xavier_uniform()},
            gen),
      star_mlp_({.input_dim = opt.fcn_dims[0], .hidden = {opt.fcn_dims[1]}}, gen),
      skip_({.input_dim = embedding_.output_dim(), .hidden = {opt.fcn_dims[1]}}, gen),
      experts_({.input_dim = opt.fcn_dims[1],
                .expert_hidden = std::vector<index_t>(opt.fcn_dims.begin() + 3, opt.fcn_dims.end()),
                .shared_experts = opt.experts,
                .scenarios = s.scenario_count(),
                .expert_weight_init = opt.expert_weight_init,
                .balance_weight_init = opt.balance_weight_init},
               gen) {
  const index_t out = opt.fcn_dims.back();
  for (index_t d = 0; d < s.scenario_count(); ++d) {
    towers_.emplace_back(nn::layer_norm_mlp_options{.input_dim = out, .hidden = {out}}, gen);
    outputs_.emplace_back(out, 1, gen);
  }
}

template <class T>
var<T> m3oe<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, false), b.size);
  const var<T> x = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  const var<T> s = route.apply(t, [&](index_t d) { return star_(t, route.rows(t, x, d), d); });
  const var<T> u = ops::add(t, star_mlp_(t, s), skip_(t, x));
  const std::span<const var<T>> f = experts_(t, u);  // in the tape's arena
  const var<T> z = route.apply(t, [&](index_t d) {
    const auto k = static_cast<std::size_t>(d);
    return outputs_[k](t, towers_[k](t, route.rows(t, f[k], d)));
  });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class m3oe<float>;
#endif

}  // namespace recblocks::models
