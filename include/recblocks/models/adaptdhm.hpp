#pragma once
/// \file adaptdhm.hpp
/// AdaptDHM (Li et al. 2022, "Adaptive Domain Hierarchical Modeling") as Scenario-Wise Rec implements
/// it (`adaptdhm.py`): samples are routed to learned clusters, not to their scenario.
///
///     e      = feature_embedding(sparse fields + scenario)          the scenario is only a feature
///     k(b)   = cluster_router(e)_b          EMA centres, updated on training tapes (3 iterations, beta 0.9)
///     h_0    = e;  h_i = ReLU(h_{i-1} (W_i ⊙ W_i^k))  per cluster k (star-topology weights, no bias)
///     z_b    = h_{L, b} (W_o ⊙ W_o^{k(b)})
///
/// The centres see the embedding's values only (no gradient), so the routing is a non-differentiable
/// argmax, as in the reference. Layers are `nn::star_linear` with the cluster id in place of the
/// scenario, run per cluster through `nn::scenario_router` (cluster ids as routes). The reference
/// allocates biases it never uses; `bias = false` (default) matches it. Init: xavier-uniform, ReLU gain.
/// Reference hyperparameters (MovieLens/Amazon/Douban/KuaiRand/MIND): fcn [64, 64], 3 clusters, beta 0.9.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward; training tapes update the centres
/// (one training thread), inference tapes change nothing.

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../nn/scenario/cluster_router.hpp"
#include "feature_embedding.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "../nn/scenario/star_linear.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct adaptdhm_options {
  models::feature_embedding_options embedding;  ///< default (empty fields): every sparse feature; the scenario is embedded
  std::vector<index_t> fcn_dims{64, 64};
  index_t clusters = 3;
  double beta = 0.9;
  int iterations = 3;
  bool bias = false;
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: sorted (no batch norm after the split: exactly the reference)

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("fcn_dims", o.fcn_dims);
    f("clusters", o.clusters);
    f("beta", o.beta);
    f("iterations", o.iterations);
    f("bias", o.bias);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static adaptdhm_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<adaptdhm_options>(j, "models::adaptdhm_options");
  }
};

template <class T>
class adaptdhm {
 public:
  using scalar_type = T;
  using options_type = adaptdhm_options;
  static constexpr const char* name = "adaptdhm";

  adaptdhm(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static adaptdhm from_config(const data::schema& s, const nlohmann::json& j, rng& gen) {
    return adaptdhm(s, options_type::from_json(j), gen);
  }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenarios_; }
  const nn::cluster_router<T>& router() const { return router_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("fcn", self.layers_);
    v("router", self.router_);
  }

 private:
  static models::feature_embedding_options embedding_options(const adaptdhm_options& opt, const data::schema& s);

  options_type opt_;
  index_t scenarios_;
  models::feature_embedding<T> embedding_;
  nn::cluster_router<T> router_;
  std::vector<nn::star_linear<T>> layers_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
models::feature_embedding_options adaptdhm<T>::embedding_options(const adaptdhm_options& opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::adaptdhm: the schema has no scenario feature");
  models::feature_embedding_options e = detail::sparse_only(opt.embedding, s);
  e.embed_scenario = true;
  return e;
}

template <class T>
adaptdhm<T>::adaptdhm(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      scenarios_(s.scenario_count()),
      embedding_(s, embedding_options(opt, s), gen),
      router_({.dim = embedding_.output_dim(), .clusters = opt.clusters, .beta = opt.beta, .iterations = opt.iterations}, gen) {
  index_t in = embedding_.output_dim();
  std::vector<index_t> widths = opt.fcn_dims;
  widths.push_back(1);
  for (index_t w : widths) {
    layers_.emplace_back(nn::star_linear_options{.in = in, .out = w, .scenarios = opt.clusters, .bias = opt.bias,
                                                 .weight_init = nn::init::xavier_uniform(std::sqrt(2.0))},
                         gen);
    in = w;
  }
}

template <class T>
var<T> adaptdhm<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  detail::check_batch_scenarios("models::adaptdhm", b.scenario, b.size, scenarios_);
  const var<T> e = embedding_(t, b);
  const std::span<const index_t> clusters = router_(t, e);  // in the tape's arena
  const nn::scenario_router route(t, clusters, opt_.clusters, nn::resolve_routing(opt_.routing, false), b.size);
  const var<T> x = route.arrange(t, e);
  const var<T> z = route.apply(t, [&](index_t k) {
    var<T> h = route.rows(t, x, k);
    for (std::size_t i = 0; i < layers_.size(); ++i)
      h = layers_[i](t, h, k, i + 1 < layers_.size() ? fused_activation::relu : fused_activation::none);
    return h;
  });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class adaptdhm<float>;
#endif

}  // namespace recblocks::models
