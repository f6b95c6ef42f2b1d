#pragma once
/// \file hamur.hpp
/// HAMUR (Li et al. 2023, "Hyper Adapter for Multi-Domain Recommendation"), the `HamurSmall` variant
/// of Scenario-Wise Rec (`hamur.py`):
///
///     e     = feature_embedding(x)                                   [B, D]
///     Z     = reshape(hyper(e), [k, k])      shared hyper-network Linear(D, 64) -> BN -> ReLU -> Linear(64, k^2) -> BN -> ReLU
///     h     = MLP_bn(fcn_dims)_{d}(e)        scenario-specific backbone (Linear -> BN -> ReLU per layer)
///     h'    = h + DomainNorm(sigmoid(h U1 Z V1 + b1) U2 Z V2 + b2)    hyper adapter after the last hidden layer
///     z_b   = h'_b w_{d(b)} + c_{d(b)}
///
/// The adapter (`nn::hyper_adapter`: U, V, b and the domain norm) and its hyper-network are shared by all
/// scenarios; the backbones and output layers are per scenario, routed with `nn::scenario_router`.
/// The domain norm normalises with batch statistics on training tapes and running statistics on
/// inference tapes (the reference uses batch statistics always).
/// `HamurLarge` (Ali-CCP: 7 layers, adapters after layers 6 and 7, k = 65) is not provided as a
/// separate variant; `fcn_dims`/`rank` configure the backbone and the one adapter.
/// Reference hyperparameters (five datasets): fcn [256, 128], hyper [64], k = 35, bottleneck 32.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../nn/feature_embedding.hpp"
#include "../nn/hyper_adapter.hpp"
#include "../nn/linear.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct hamur_options {
  nn::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  std::vector<index_t> fcn_dims{256, 128};
  std::vector<index_t> hyper_dims{64};
  index_t rank = 35;
  index_t bottleneck = 32;
  double dropout = 0.0;
  nn::routing_mode routing = nn::routing_mode::sorted;

  nlohmann::json to_json() const;
  static hamur_options from_json(const nlohmann::json& j);
};

template <class T>
class hamur {
 public:
  using scalar_type = T;
  using options_type = hamur_options;
  static constexpr const char* name = "hamur";

  hamur(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static hamur from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return hamur(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return static_cast<index_t>(outputs_.size()); }

  template <class Visitor>
  void visit_parameters(Visitor&& v, const std::string& prefix) {
    embedding_.visit_parameters(v, nn::join_name(prefix, "embedding"));
    adapter_.visit_parameters(v, nn::join_name(prefix, "adapter"));
    for (std::size_t d = 0; d < backbones_.size(); ++d) {
      backbones_[d].visit_parameters(v, nn::join_name(prefix, "backbone." + std::to_string(d)));
      outputs_[d].visit_parameters(v, nn::join_name(prefix, "output." + std::to_string(d)));
    }
  }
  template <class Visitor>
  void visit_buffers(Visitor&& v, const std::string& prefix) {
    adapter_.visit_buffers(v, nn::join_name(prefix, "adapter"));
    for (std::size_t d = 0; d < backbones_.size(); ++d) backbones_[d].visit_buffers(v, nn::join_name(prefix, "backbone." + std::to_string(d)));
  }

 private:
  static const hamur_options& checked(const hamur_options& opt, const data::schema& s);

  options_type opt_;
  nn::feature_embedding<T> embedding_;
  nn::hyper_adapter<T> adapter_;
  std::vector<nn::mlp<T>> backbones_;
  std::vector<nn::linear<T>> outputs_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline nlohmann::json hamur_options::to_json() const {
  return {{"embedding", embedding.to_json()}, {"fcn_dims", fcn_dims}, {"hyper_dims", hyper_dims}, {"rank", rank},
          {"bottleneck", bottleneck}, {"dropout", dropout}, {"routing", nn::to_string(routing)}};
}

inline hamur_options hamur_options::from_json(const nlohmann::json& j) {
  constexpr const char* where = "models::hamur_options::from_json";
  detail::require_object(j, where);
  hamur_options o;
  if (j.contains("embedding")) o.embedding = nn::feature_embedding_options::from_json(j.at("embedding"));
  detail::read_option(j, "fcn_dims", o.fcn_dims, where);
  detail::read_option(j, "hyper_dims", o.hyper_dims, where);
  detail::read_option(j, "rank", o.rank, where);
  detail::read_option(j, "bottleneck", o.bottleneck, where);
  detail::read_option(j, "dropout", o.dropout, where);
  detail::read_option(j, "routing", o.routing, where);
  return o;
}

template <class T>
const hamur_options& hamur<T>::checked(const hamur_options& opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::hamur: the schema has no scenario feature");
  if (opt.fcn_dims.empty()) throw value_error("models::hamur: fcn_dims must not be empty");
  return opt;
}

template <class T>
hamur<T>::hamur(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(checked(opt, s)),
      embedding_(s, opt.embedding, gen),
      adapter_({.dim = opt.fcn_dims.back(), .rank = opt.rank, .bottleneck = opt.bottleneck,
                .condition_dim = embedding_.output_dim(), .hyper_hidden = opt.hyper_dims},
               gen) {
  const nn::mlp_options backbone{.input_dim = embedding_.output_dim(), .hidden = opt.fcn_dims, .act = activation::relu,
                                 .batch_norm = true, .dropout = opt.dropout};
  for (index_t d = 0; d < s.scenario_count(); ++d) {
    backbones_.emplace_back(backbone, gen);
    outputs_.emplace_back(opt.fcn_dims.back(), 1, gen);
  }
}

template <class T>
var<T> hamur<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(b.scenario, scenarios(), opt_.routing, b.size);
  const var<T> e = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  const var<T> z = adapter_.instance_matrix(t, e);
  const var<T> y = route.apply(t, [&](index_t d) {
    const auto k = static_cast<std::size_t>(d);
    const var<T> h = backbones_[k](t, route.rows(t, e, d));
    return outputs_[k](t, adapter_.apply(t, h, route.rows(t, z, d)));
  });
  return route.restore(t, y);
}

}  // namespace recblocks::models
