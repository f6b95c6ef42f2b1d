#pragma once
/// \file ppnet.hpp
/// PPNet, the parameter-personalization half of PEPNet (Chang et al. 2023), as Scenario-Wise Rec's
/// `ppnet.py` sets it up (one tower per scenario), with the tower input the paper means:
///
///     u    = feature_embedding(id fields)                      e.g. user_id, movie_id
///     a    = feature_embedding(other sparse + dense + scenario)
///     g    = [u ; stop_gradient(a)]                            gate input (personal prior)
///     h_0  = [u ; a]                                           tower input, with gradient
///     h_i  = ReLU(BN(h_{i-1} W_i + b_i)) ⊙ GateNU_i(g)         gamma = 2, per scenario tower and layer
///     z_b  = h_{L,b} w_{d(b)} + c_{d(b)}
///
/// `reference_behaviour`: the reference's tower starts from the gate input, `h_0 = g`, so the agnostic
/// embeddings receive no gradient from the towers (papers.md section 12). Towers are routed with
/// `nn::scenario_router`.
/// Reference hyperparameters: fcn [128, 64, 32]; id fields per dataset (MovieLens user_id, movie_id).
/// `id_fields` empty = the schema's first two sparse features.
/// Errors: see `models::ctr_model`; construction `value_error` when no non-id feature is left.
/// Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "feature_embedding.hpp"
#include "../nn/scenario/gate_nu.hpp"
#include "../nn/linear.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct ppnet_options {
  models::feature_embedding_options embedding;  ///< agnostic features; default (empty fields): non-id sparse + dense
  std::vector<std::string> id_fields;       ///< empty: the first two sparse features
  std::vector<index_t> fcn_dims{128, 64, 32};
  double gamma = 2.0;
  double dropout = 0.0;
  bool reference_behaviour = false;  ///< towers start from the gate input (the reference)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("id_fields", o.id_fields);
    f("fcn_dims", o.fcn_dims);
    f("gamma", o.gamma);
    f("dropout", o.dropout);
    f("reference_behaviour", o.reference_behaviour);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static ppnet_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<ppnet_options>(j, "models::ppnet_options");
  }
};

template <class T>
class ppnet {
 public:
  using scalar_type = T;
  using options_type = ppnet_options;
  static constexpr const char* name = "ppnet";

  ppnet(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static ppnet from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return ppnet(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return agn_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(outputs_.size()); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("id_embedding", self.ids_);
    v("embedding", self.agn_);
    for (std::size_t k = 0; k < self.layers_.size(); ++k) {
      v("tower." + std::to_string(k) + ".layer", self.layers_[k]);
      v("tower." + std::to_string(k) + ".gate", self.gates_[k]);
    }
    v("output", self.outputs_);
  }

 private:
  static std::vector<std::string> id_names(const ppnet_options& opt, const data::schema& s);
  static models::feature_embedding_options id_options(const ppnet_options& opt, const data::schema& s);
  static models::feature_embedding_options agn_options(const ppnet_options& opt, const data::schema& s);

  options_type opt_;
  models::feature_embedding<T> ids_, agn_;
  std::vector<nn::mlp<T>> layers_;     // scenario d, layer i at d * L + i
  std::vector<nn::gate_nu<T>> gates_;  // same layout
  std::vector<nn::linear<T>> outputs_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
std::vector<std::string> ppnet<T>::id_names(const ppnet_options& opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::ppnet: the schema has no scenario feature");
  if (!opt.id_fields.empty()) return opt.id_fields;
  std::vector<std::string> all = detail::sparse_field_names(s);
  if (all.size() > 2) all.resize(2);
  if (all.empty()) throw value_error("models::ppnet: the schema has no sparse feature to use as an id field");
  return all;
}

template <class T>
models::feature_embedding_options ppnet<T>::id_options(const ppnet_options& opt, const data::schema& s) {
  models::feature_embedding_options e = opt.embedding;
  e.fields = id_names(opt, s);
  e.embed_scenario = false;
  return e;
}

template <class T>
models::feature_embedding_options ppnet<T>::agn_options(const ppnet_options& opt, const data::schema& s) {
  models::feature_embedding_options e = opt.embedding;
  if (e.fields.empty()) {
    e.fields = detail::sparse_field_names(s, id_names(opt, s));
    for (const auto* f : s.of_kind(data::feature_kind::dense)) e.fields.push_back(f->name);
  }
  if (e.fields.empty())
    throw value_error("models::ppnet: no agnostic (non-id) feature left; list them in options.embedding.fields");
  e.embed_scenario = true;
  return e;
}

template <class T>
ppnet<T>::ppnet(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt), ids_(s, id_options(opt, s), gen), agn_(s, agn_options(opt, s), gen) {
  if (opt.fcn_dims.empty()) throw value_error("models::ppnet: fcn_dims must not be empty");
  const index_t g = ids_.output_dim() + agn_.output_dim();
  for (index_t d = 0; d < s.scenario_count(); ++d) {
    index_t in = g;
    for (index_t w : opt.fcn_dims) {
      layers_.emplace_back(nn::mlp_options{.input_dim = in, .hidden = {w}, .act = activation::relu, .batch_norm = true,
                                           .dropout = opt.dropout},
                           gen);
      gates_.emplace_back(nn::gate_nu_options{.input_dim = g, .output_dim = w, .gamma = opt.gamma}, gen);
      in = w;
    }
    outputs_.emplace_back(in, 1, gen);
  }
}

template <class T>
var<T> ppnet<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training()), b.size);
  const std::span<const index_t> order = route.permuted() ? route.order() : std::span<const index_t>{};
  const var<T> u = ids_(t, b, order);
  const var<T> a = agn_(t, b, order);
  const var<T> g = ops::concat_cols(t, {u, ops::stop_gradient(t, a)});
  const var<T> h0 = opt_.reference_behaviour ? g : ops::concat_cols(t, {u, a});
  const std::size_t L = opt_.fcn_dims.size();
  const var<T> z = route.apply(t, [&](index_t d) {
    const auto base = static_cast<std::size_t>(d) * L;
    var<T> h = route.rows(t, h0, d);
    const var<T> gd = route.rows(t, g, d);
    for (std::size_t i = 0; i < L; ++i) h = ops::mul(t, layers_[base + i](t, h), gates_[base + i](t, gd));
    return outputs_[static_cast<std::size_t>(d)](t, h);
  });
  return route.restore(t, z);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class ppnet<float>;
#endif

}  // namespace recblocks::models
