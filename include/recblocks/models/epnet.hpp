#pragma once
/// \file epnet.hpp
/// EPNet, the embedding-personalization half of PEPNet (Chang et al. 2023), as Scenario-Wise Rec's
/// `epnet.py` sets it up, with the MLP the paper and the script's `fcn_dims` intend:
///
///     s   = E_s[d]                                             16-d scenario embedding
///     a   = feature_embedding(sparse + dense fields)           agnostic features  [B, D]
///     g   = GateNU([s ; stop_gradient(a)])                     gamma sigmoid(Linear(ReLU(Linear)))  in (0, 2)^D
///     z   = MLP_bn(fcn_dims) + Linear(., 1) on  a ⊙ g
///
/// `reference_behaviour`: the reference passes `fcn_dims` into `MLP`'s positional `output_layer` slot,
/// so its "MLP" is the single layer `Linear(D, 1)` (gated embeddings -> logistic regression,
/// papers.md section 12); this option reproduces it.
/// Reference hyperparameters: fcn [128, 64, 32] (ignored by the reference), gamma 2.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward, no state besides batch norm.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../nn/embedding.hpp"
#include "feature_embedding.hpp"
#include "../nn/scenario/gate_nu.hpp"
#include "../nn/mlp.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct epnet_options {
  models::feature_embedding_options embedding;  ///< agnostic features; default: every sparse (16-d) and dense feature
  std::vector<index_t> fcn_dims{128, 64, 32};
  double gamma = 2.0;
  double dropout = 0.0;
  bool reference_behaviour = false;  ///< the reference's single Linear(D, 1) instead of the MLP

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("fcn_dims", o.fcn_dims);
    f("gamma", o.gamma);
    f("dropout", o.dropout);
    f("reference_behaviour", o.reference_behaviour);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static epnet_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<epnet_options>(j, "models::epnet_options");
  }
};

template <class T>
class epnet {
 public:
  using scalar_type = T;
  using options_type = epnet_options;
  static constexpr const char* name = "epnet";

  epnet(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static epnet from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return epnet(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenario_table_.vocabulary(); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("scenario_embedding", self.scenario_table_);
    v("gate", self.gate_);
    v("mlp", self.mlp_);
  }

 private:
  static index_t scenario_count(const data::schema& s) {
    if (s.scenario_count() < 1) throw value_error("models::epnet: the schema has no scenario feature");
    return s.scenario_count();
  }

  options_type opt_;
  models::feature_embedding<T> embedding_;
  nn::embedding<T> scenario_table_;
  nn::gate_nu<T> gate_;
  nn::mlp<T> mlp_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
epnet<T>::epnet(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      embedding_(s, opt.embedding, gen),
      scenario_table_(scenario_count(s), opt.embedding.dim, gen, nn::init::normal(0.0, opt.embedding.init_stddev)),
      gate_({.input_dim = opt.embedding.dim + embedding_.output_dim(), .output_dim = embedding_.output_dim(), .gamma = opt.gamma}, gen),
      mlp_({.input_dim = embedding_.output_dim(),
            .hidden = opt.reference_behaviour ? std::vector<index_t>{} : opt.fcn_dims,
            .act = activation::relu,
            .batch_norm = true,
            .dropout = opt.dropout,
            .output_layer = true},
           gen) {}

template <class T>
var<T> epnet<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  detail::check_batch_scenarios("models::epnet", b.scenario, b.size, scenarios());
  const var<T> agn = embedding_(t, b);
  const var<T> sce = scenario_table_(t, b.scenario);
  return mlp_(t, ops::mul(t, agn, gate_(t, sce, agn)));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class epnet<float>;
#endif

}  // namespace recblocks::models
