#pragma once
/// \file star.hpp
/// STAR (Star Topology Adaptive Recommender, Sheng et al. 2021) as Scenario-Wise Rec implements it
/// (`star.py`), with the output-layer fix:
///
///     e     = feature_embedding(x)                                    [B, D]
///     x     = PN(e, d)        partitioned norm: (gamma ⊙ gamma_d) ⊙ xhat + (beta + beta_d)
///     h_0   = x;  for each hidden layer i:  h_i = ReLU(BN_{d,i}(h_{i-1} (W_i ⊙ W_i^d) + b_i + b_i^d))
///     o_d   = h_L (W_o ⊙ W_o^d) + b_o + b_o^d                          the scenario logit
///     aux   = MLP_bn(aux_dims) + Linear(., 1) on e                    auxiliary network
///     z_b   = o_{d(b)} + aux_b
///
/// Layers are `nn::star_linear` (shared ⊙ scenario weights), run per scenario on its rows through
/// `nn::scenario_router`; BN_{d,i} is a batch norm per scenario and layer. Init as the reference:
/// W kaiming-uniform, b uniform(0, 1).
///
/// `reference_behaviour`: the reference also applies BN + ReLU to the 1-unit output layer, so the
/// scenario logit is >= 0 before the aux logit is added (papers.md section 12). Default: a plain
/// linear logit (the paper).
///
/// Reference hyperparameters (MovieLens/Amazon/Douban, KuaiRand, MIND): fcn [128, 64, 32], aux [32].
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (see `ctr_model`).

#include <algorithm>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "../nn/batch_norm.hpp"
#include "feature_embedding.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/partitioned_norm.hpp"
#include "../nn/scenario/scenario_router.hpp"
#include "../nn/scenario/star_linear.hpp"
#include "detail/options_json.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct star_options {
  models::feature_embedding_options embedding;  ///< default: every sparse (16-d) and dense feature
  std::vector<index_t> fcn_dims{128, 64, 32};
  std::vector<index_t> aux_dims{32};
  bool reference_behaviour = false;  ///< BN + ReLU on the output logit (the reference's bug)
  nn::routing_mode routing = nn::routing_mode::automatic;  ///< auto: masked while training (batch norm after the split), sorted otherwise

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("fcn_dims", o.fcn_dims);
    f("aux_dims", o.aux_dims);
    f("reference_behaviour", o.reference_behaviour);
    f("routing", o.routing);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static star_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<star_options>(j, "models::star_options");
  }
};

template <class T>
class star {
 public:
  using scalar_type = T;
  using options_type = star_options;
  static constexpr const char* name = "star";

  star(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static star from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return star(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return norm_.scenarios(); }

  /// bf16 copies for inference calls of at most `max_rows` rows (any number on a bf16 tape): every
  /// FCN layer's composed scenario weights (`nn::star_linear::enable_bf16_inference`) and the
  /// auxiliary network's layers. Float models only.
  ///
  /// Folded: on an inference tape everything between the embedding and the products is a
  /// per-scenario, per-column affine map with fixed parameters, so the copies absorb it
  /// (`nn::fold_affine`): the first layer's copy of scenario d takes the partitioned norm
  /// (`partitioned_norm::inference_affine(d)`: x = a_d ⊙ e + c_d, so x W^d + b^d = e diag(a_d) W^d +
  /// (c_d W^d + b^d)), every layer i followed by BN_{d,i} takes that batch norm (`batch_norm::inference_affine`:
  /// W^d diag(s), s ⊙ (b^d - mu) + beta) with the ReLU fused into the product, and the auxiliary MLP's
  /// copies take its batch norms. A serving call on the copies is then the embedding, one fused
  /// product + bias + ReLU per layer on each scenario's rows (a view, no copy), and the logits. Calls
  /// or layers that do not run on a copy (`nn::star_linear::uses_inference_copy`: training or
  /// recording tapes, calls above `max_rows` rows on an FP32 tape, the 1-unit output layer above 3 rows,
  /// no AVX512-BF16) run the unfused FP32 path, so the model computes the same function either way.
  ///
  /// The copies are a snapshot of the parameters and running statistics taken now: after further
  /// training they still compute the old FCN (the embedding, which is not copied, is the current one);
  /// call again after training.
  void enable_bf16_inference(index_t max_rows = 4)
    requires std::is_same_v<T, float>  // also keeps it out of the explicit double instantiation
  {
    const std::size_t S = static_cast<std::size_t>(scenarios()), L = layers_.size(), normed = bns_.size() / S;
    std::vector<nn::column_affine<T>> input(S), output(S);
    for (std::size_t d = 0; d < S; ++d) input[d] = norm_.inference_affine(static_cast<index_t>(d));
    for (std::size_t i = 0; i < L; ++i) {
      if (i < normed)
        for (std::size_t d = 0; d < S; ++d) output[d] = bns_[d * normed + i].inference_affine();
      layers_[i].enable_bf16_inference(max_rows, i == 0 ? std::span<const nn::column_affine<T>>(input)
                                                        : std::span<const nn::column_affine<T>>(),
                                       i < normed ? std::span<const nn::column_affine<T>>(output)
                                                  : std::span<const nn::column_affine<T>>());
    }
    aux_.enable_bf16_inference(max_rows);
  }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("norm", self.norm_);
    v("fcn", self.layers_);
    v("bn", self.bns_);
    v("aux", self.aux_);
  }

 private:
  static index_t scenario_count(const data::schema& s);

  options_type opt_;
  models::feature_embedding<T> embedding_;
  nn::partitioned_norm<T> norm_;
  std::vector<nn::star_linear<T>> layers_;  // fcn_dims.size() hidden layers + the output layer
  std::vector<nn::batch_norm<T>> bns_;      // scenario d, layer i at d * layers + i
  nn::mlp<T> aux_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
index_t star<T>::scenario_count(const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::star: the schema has no scenario feature");
  return s.scenario_count();
}

template <class T>
star<T>::star(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      embedding_(s, opt.embedding, gen),
      norm_(embedding_.output_dim(), scenario_count(s)),
      aux_({.input_dim = embedding_.output_dim(), .hidden = opt.aux_dims, .act = activation::relu, .batch_norm = true,
            .output_layer = true},
           gen) {
  const index_t N = s.scenario_count();
  index_t in = embedding_.output_dim();
  std::vector<index_t> widths = opt.fcn_dims;
  widths.push_back(1);
  for (index_t w : widths) {
    layers_.emplace_back(nn::star_linear_options{.in = in, .out = w, .scenarios = N, .bias = true,
                                                 .weight_init = nn::init::kaiming_uniform(),
                                                 .bias_init = nn::init::uniform(0.0, 1.0)},
                         gen);
    in = w;
  }
  const std::size_t normed = opt.reference_behaviour ? widths.size() : opt.fcn_dims.size();
  for (index_t d = 0; d < N; ++d)
    for (std::size_t i = 0; i < normed; ++i) bns_.emplace_back(widths[i]);
}

template <class T>
var<T> star<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const nn::scenario_router route(t, b.scenario, scenarios(), nn::resolve_routing(opt_.routing, t.training() && !bns_.empty()), b.size);
  const var<T> e = embedding_(t, b, route.permuted() ? route.order() : std::span<const index_t>{});
  // Sorted: one normalisation with each row's own scenario affine, then each head on its rows.
  // Masked (the reference): head d normalises the whole batch with scenario d's affine (its batch
  // norms then see every row transformed by d's parameters, as in the reference's loop).
  const bool masked = route.mode() == nn::routing_mode::masked;
  const std::span<index_t> ids = t.template scratch_span<index_t>(static_cast<std::size_t>(b.size));  // arena, not heap
  var<T> x, xhat;
  bool normalised = false;
  auto normalise = [&] {  // once, before the heads or (folded inference) on the first head that needs it
    if (masked) {
      xhat = norm_.normalize(t, e);
    } else {
      for (std::size_t k = 0; k < ids.size(); ++k) ids[k] = b.scenario[static_cast<std::size_t>(route.order()[k])];
      x = norm_(t, e, ids);
    }
    normalised = true;
  };
  // A layer call on its inference copy computes the folded maps (enable_bf16_inference): the
  // partitioned norm before layer 0, BN_{d,i} + ReLU after layer i. Such copies exist only on
  // inference tapes, where the lazy normalisation is exact (the router never flips training there).
  const bool may_fold = !t.recording() && !t.training();
  if (!may_fold) normalise();
  const std::size_t L = layers_.size(), normed = bns_.size() / static_cast<std::size_t>(scenarios());
  const var<T> logit = route.apply(t, [&](index_t d) {
    const index_t rows = masked ? b.size : route.count(d);
    var<T> h;
    if (may_fold && layers_[0].uses_inference_copy(t, rows)) {
      h = route.rows(t, e, d);  // the copy applies the partitioned norm
    } else {
      if (!normalised) normalise();
      if (masked) std::fill(ids.begin(), ids.end(), d);
      h = masked ? norm_.affine(t, xhat, ids) : route.rows(t, x, d);
    }
    for (std::size_t i = 0; i < L; ++i) {
      const bool bn = i < normed;
      if (may_fold && layers_[i].uses_inference_copy(t, h.rows)) {
        h = layers_[i](t, h, d, bn ? fused_activation::relu : fused_activation::none);  // BN folded, ReLU fused
        continue;
      }
      h = layers_[i](t, h, d);
      if (bn) h = ops::relu(t, bns_[static_cast<std::size_t>(d) * normed + i](t, h));
    }
    return h;
  });
  return route.restore(t, ops::add(t, logit, aux_(t, e)));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class star<float>;
#endif

}  // namespace recblocks::models
