#pragma once
/// \file sarnet.hpp
/// SAR-Net (Shen et al. 2021) as simplified by Scenario-Wise Rec (`sarnet.py`):
///
///     e   = feature_embedding(sparse fields)                        [B, D]   (no dense features)
///     h   = scenario_transfer(e, d)                                 [B, 16]
///           x_b = e_b ⊙ w_{d(b)} + b_{d(b)};  8 shared + 2 scenario debias experts BN -> Linear(D, 16);
///           h_b = sum_k softmax(x_b W_g + b_g)_k E_k(x_b)
///     z   = MLP_bn([32, 32]) + Linear(., 1) on h
///
/// As the reference, there is no cross-scenario behaviour-sequence attention of the original SAR-Net
/// (our data has no behaviour sequences in the reference setup); the block is `nn::scenario_transfer`.
/// Reference hyperparameters: 8 shared and 2 specific experts (all datasets), tower [32, 32].
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "feature_embedding.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/scenario_transfer.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct sarnet_options {
  models::feature_embedding_options embedding;  ///< default (empty fields): every sparse feature, no dense ones
  index_t shared_experts = 8;
  index_t specific_experts = 2;
  index_t expert_dim = 16;
  std::vector<index_t> tower_dims{32, 32};
  double dropout = 0.0;

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("shared_experts", o.shared_experts);
    f("specific_experts", o.specific_experts);
    f("expert_dim", o.expert_dim);
    f("tower_dims", o.tower_dims);
    f("dropout", o.dropout);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static sarnet_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<sarnet_options>(j, "models::sarnet_options");
  }
};

template <class T>
class sarnet {
 public:
  using scalar_type = T;
  using options_type = sarnet_options;
  static constexpr const char* name = "sarnet";

  sarnet(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static sarnet from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return sarnet(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenarios_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("transfer", self.transfer_);
    v("tower", self.tower_);
  }

 private:
  options_type opt_;
  index_t scenarios_;
  models::feature_embedding<T> embedding_;
  nn::scenario_transfer<T> transfer_;
  nn::mlp<T> tower_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
sarnet<T>::sarnet(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      scenarios_(s.scenario_count() >= 1 ? s.scenario_count() : throw value_error("models::sarnet: the schema has no scenario feature")),
      embedding_(s, detail::sparse_only(opt.embedding, s), gen),
      transfer_({.input_dim = embedding_.output_dim(), .scenarios = scenarios_, .shared_experts = opt.shared_experts,
                 .specific_experts = opt.specific_experts, .expert_dim = opt.expert_dim},
                gen),
      tower_({.input_dim = opt.expert_dim, .hidden = opt.tower_dims, .act = activation::relu, .batch_norm = true,
              .dropout = opt.dropout, .output_layer = true},
             gen) {}

template <class T>
var<T> sarnet<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  detail::check_batch_scenarios("models::sarnet", b.scenario, b.size, scenarios_);
  return tower_(t, transfer_(t, embedding_(t, b), b.scenario));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class sarnet<float>;
#endif

}  // namespace recblocks::models
