#pragma once
/// \file hamur.hpp
/// HAMUR (Li et al. 2023, "Hyper Adapter for Multi-Domain Recommendation"), Scenario-Wise Rec's
/// `HamurSmall` and `HamurLarge` (`hamur.py`) as one model:
///
///     e     = feature_embedding(x)                                   [B, D]
///     Z     = reshape(hyper(e), [k, k])      shared hyper-network Linear(D, 64) -> BN -> ReLU -> Linear(64, k^2) -> BN -> ReLU
///     h_l   = ReLU(BN_{d,l}(h_{l-1} W_{d,l} + b_{d,l}))   scenario-specific backbone, l = 1..L, h_0 = e
///     after each of the last A hidden layers (A = `adapters`), adapter cell a:
///     h_l  <- h_l + DomainNorm_a(sigmoid(h_l U1_a Z V1_a + b1_a) U2_a Z V2_a + b2_a)
///     z_b   = h_L,b w_{d(b)} + c_{d(b)}
///
/// HamurSmall: fcn [256, 128], one adapter cell (A = 1) after layer 2, k = 35 (the default).
/// HamurLarge (Ali-CCP preset): fcn [256, 128, 64, 64, 32, 16, 8], A = 2 cells after layers 6 and 7,
/// k = 65; both cells use the same instance matrix Z, each has its own U, V, b and domain norm.
/// As in the reference, the adapter cells (`nn::hyper_adapter`: U, V, b, domain norm) and the
/// hyper-network are shared by all scenarios; the backbones and output layers are per scenario,
/// routed with `nn::scenario_router`. The domain norm normalises with batch statistics on training
/// tapes and running statistics on inference tapes (the reference uses batch statistics always); with
/// sorted routing its batch statistics are those of the scenario's rows (the reference: the whole batch;
/// `routing = auto`, the default, trains with the whole batch's). `reference_behaviour`: the domain
/// norm divides by the unbiased batch variance (`tmp_out.var(dim=0)` in the reference) instead of
/// batch norm's biased one.
/// Reference hyperparameters (five datasets): fcn [256, 128], hyper [64], k = 35, bottleneck 32.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "feature_embedding.hpp"
#include "../nn/scenario/hyper_adapter.hpp"
#include "../nn/linear.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct hamur_options {
  models::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  std::vector<index_t> fcn_dims{256, 128};
  std::vector<index_t> hyper_dims{64};
  index_t rank = 35;
  index_t bottleneck = 32;
  index_t adapters = 1;  ///< A adapter cells after the last A hidden layers (HamurSmall 1, HamurLarge 2)
  double dropout = 0.0;
  bool reference_behaviour = false;  ///< domain norm with the unbiased batch variance (the reference's torch.var)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("fcn_dims", o.fcn_dims);
    f("hyper_dims", o.hyper_dims);
    f("rank", o.rank);
    f("bottleneck", o.bottleneck);
    f("adapters", o.adapters);
    f("dropout", o.dropout);
    f("reference_behaviour", o.reference_behaviour);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static hamur_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<hamur_options>(j, "models::hamur_options");
  }
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

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    for (std::size_t a = 0; a < self.adapters_.size(); ++a) v(adapter_name(a), self.adapters_[a]);
    for (std::size_t d = 0; d < self.backbones_.size(); ++d) {
      v("backbone." + std::to_string(d), self.backbones_[d]);
      v("output." + std::to_string(d), self.outputs_[d]);
    }
    for (std::size_t i = 0; i < self.tails_.size(); ++i) v(self.tail_name(i), self.tails_[i]);
  }

 private:
  static const hamur_options& checked(const hamur_options& opt, const data::schema& s);
  // parameter names: the first cell is "adapter" (as with one cell), later ones "adapter.<a>"
  static std::string adapter_name(std::size_t a) { return a == 0 ? "adapter" : "adapter." + std::to_string(a); }
  std::string tail_name(std::size_t i) const {
    const std::size_t per = adapters_.size() - 1;
    return "tail." + std::to_string(i / per) + "." + std::to_string(i % per + 1);
  }

  options_type opt_;
  models::feature_embedding<T> embedding_;
  std::vector<nn::hyper_adapter<T>> adapters_;  // cell 0 owns the hyper-network
  std::vector<nn::mlp<T>> backbones_;           // per scenario: hidden layers 1 .. L - A + 1
  std::vector<nn::mlp<T>> tails_;               // scenario d, layer L - A + 1 + j at d * (A - 1) + j - 1
  std::vector<nn::linear<T>> outputs_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
const hamur_options& hamur<T>::checked(const hamur_options& opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::hamur: the schema has no scenario feature");
  if (opt.fcn_dims.empty()) throw value_error("models::hamur: fcn_dims must not be empty");
  if (opt.adapters < 1 || opt.adapters > static_cast<index_t>(opt.fcn_dims.size()))
    throw value_error("models::hamur: adapters = " + std::to_string(opt.adapters) + " must lie in [1, " +
                      std::to_string(opt.fcn_dims.size()) + "] (one cell after each of the last hidden layers)");
  return opt;
}

template <class T>
hamur<T>::hamur(const data::schema& s, const options_type& opt, rng& gen) : opt_(checked(opt, s)), embedding_(s, opt.embedding, gen) {
  const auto L = opt.fcn_dims.size(), A = static_cast<std::size_t>(opt.adapters), first = L - A;  // cell 0 after layer first + 1
  for (std::size_t a = 0; a < A; ++a)
    adapters_.emplace_back(nn::hyper_adapter_options{.dim = opt.fcn_dims[first + a], .rank = opt.rank, .bottleneck = opt.bottleneck,
                                                     .condition_dim = embedding_.output_dim(), .hyper_hidden = opt.hyper_dims,
                                                     .unbiased_norm = opt.reference_behaviour, .own_hyper_network = a == 0},
                           gen);
  const nn::mlp_options backbone{.input_dim = embedding_.output_dim(),
                                 .hidden = std::vector<index_t>(opt.fcn_dims.begin(), opt.fcn_dims.begin() + static_cast<std::ptrdiff_t>(first + 1)),
                                 .act = activation::relu, .batch_norm = true, .dropout = opt.dropout};
  for (index_t d = 0; d < s.scenario_count(); ++d) {
    backbones_.emplace_back(backbone, gen);
    for (std::size_t l = first + 1; l < L; ++l)
      tails_.emplace_back(nn::mlp_options{.input_dim = opt.fcn_dims[l - 1], .hidden = {opt.fcn_dims[l]}, .act = activation::relu,
                                          .batch_norm = true, .dropout = opt.dropout},
                          gen);
    outputs_.emplace_back(opt.fcn_dims.back(), 1, gen);
  }
}

template <class T>
var<T> hamur<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training()), b.size);
  const var<T> e = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  const var<T> z = adapters_.front().instance_matrix(t, e);
  const std::size_t per = adapters_.size() - 1;
  const var<T> y = route.apply(t, [&](index_t d) {
    const auto k = static_cast<std::size_t>(d);
    const var<T> zd = route.rows(t, z, d);
    var<T> h = adapters_.front().apply(t, backbones_[k](t, route.rows(t, e, d)), zd);
    for (std::size_t a = 1; a < adapters_.size(); ++a) h = adapters_[a].apply(t, tails_[k * per + a - 1](t, h), zd);
    return outputs_[k](t, h);
  });
  return route.restore(t, y);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class hamur<float>;
#endif

}  // namespace recblocks::models
