#pragma once
/// \file adasparse.hpp
/// AdaSparse (Yang et al. 2022) as Scenario-Wise Rec implements it (`adasparse.py`), with the paper's
/// pruning (factors below epsilon are zero) and the annealing per training step:
///
///     s      = E_s[d]                                   16-d scenario embedding
///     a      = feature_embedding(sparse fields)         agnostic embedding (no dense features)
///     x_0    = [s ; pi_0(s, a) ⊙ a]
///     x_l    = pi_l(s, h_l) ⊙ h_l,   h_l = Dropout(ReLU(BN(x_{l-1} W_l + b_l)))      l = 1..L
///     z      = x_L w + b
///
/// `pi` is `nn::pruner` (binarization / scaling / fusion; default fusion, eps 1e-2, beta 2, alpha 1,
/// delta_alpha 1e-4). `on_training_step()` anneals every pruner's alpha once per optimizer step (the
/// trainer calls it); evaluation never changes alpha.
/// `reference_behaviour`: factors below eps are multiplied by -1 rather than zeroed (`sign`), and alpha
/// grows on every forward call, evaluation included (papers.md section 12).
/// Reference hyperparameters (MovieLens/Amazon/Douban): mlp [32, 32], dropout 0.2, relu.
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (no state change unless
/// `reference_behaviour`); `on_training_step` from the training thread.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../nn/embedding.hpp"
#include "feature_embedding.hpp"
#include "../nn/linear.hpp"
#include "../nn/mlp.hpp"
#include "../nn/scenario/pruner.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct adasparse_options {
  models::feature_embedding_options embedding;  ///< agnostic features; default (empty fields): every sparse feature
  nn::pruner_form form = nn::pruner_form::fusion;
  double epsilon = 1e-2;
  double beta = 2.0;
  double alpha = 1.0;
  double delta_alpha = 1e-4;
  std::vector<index_t> fcn_dims{32, 32};
  double dropout = 0.2;
  bool reference_behaviour = false;

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("form", o.form);
    f("epsilon", o.epsilon);
    f("beta", o.beta);
    f("alpha", o.alpha);
    f("delta_alpha", o.delta_alpha);
    f("fcn_dims", o.fcn_dims, {"mlp_dims"});
    f("dropout", o.dropout);
    f("reference_behaviour", o.reference_behaviour);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static adasparse_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<adasparse_options>(j, "models::adasparse_options");
  }
};

template <class T>
class adasparse {
 public:
  using scalar_type = T;
  using options_type = adasparse_options;
  static constexpr const char* name = "adasparse";

  adasparse(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  /// Anneals the pruners: alpha += delta_alpha (once per optimizer step; a no-op in reference mode,
  /// where the forward anneals).
  void on_training_step() {
    if (opt_.reference_behaviour) return;
    for (auto& p : pruners_) p.advance();
  }
  T alpha() const { return pruners_.front().alpha(); }

  nlohmann::json config() const { return opt_.to_json(); }
  static adasparse from_config(const data::schema& s, const nlohmann::json& j, rng& gen) {
    return adasparse(s, options_type::from_json(j), gen);
  }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenario_table_.vocabulary(); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("scenario_embedding", self.scenario_table_);
    v("pruner", self.pruners_);
    v("layer", self.layers_);
    v("output", self.output_);
  }

 private:
  static index_t scenario_count(const data::schema& s);
  nn::pruner_options pruner_for(index_t dim) const {
    return {.condition_dim = scenario_table_.dim(), .dim = dim, .form = opt_.form, .epsilon = opt_.epsilon,
            .beta = opt_.beta, .alpha = opt_.alpha, .delta_alpha = opt_.delta_alpha,
            .reference_behaviour = opt_.reference_behaviour};
  }

  options_type opt_;
  models::feature_embedding<T> embedding_;
  nn::embedding<T> scenario_table_;
  std::vector<nn::pruner<T>> pruners_;  // input pruner, then one per hidden layer
  std::vector<nn::mlp<T>> layers_;      // one Linear -> BN -> ReLU -> Dropout each
  nn::linear<T> output_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
index_t adasparse<T>::scenario_count(const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::adasparse: the schema has no scenario feature");
  return s.scenario_count();
}

template <class T>
adasparse<T>::adasparse(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      embedding_(s, detail::sparse_only(opt.embedding, s), gen),
      scenario_table_(scenario_count(s), opt.embedding.dim, gen, nn::init::normal(0.0, opt.embedding.init_stddev)),
      output_(opt.fcn_dims.empty() ? embedding_.output_dim() + opt.embedding.dim : opt.fcn_dims.back(), 1, gen) {
  pruners_.emplace_back(pruner_for(embedding_.output_dim()), gen);
  index_t in = embedding_.output_dim() + scenario_table_.dim();
  for (index_t w : opt.fcn_dims) {
    layers_.emplace_back(nn::mlp_options{.input_dim = in, .hidden = {w}, .act = activation::relu, .batch_norm = true,
                                         .dropout = opt.dropout},
                         gen);
    pruners_.emplace_back(pruner_for(w), gen);
    in = w;
  }
}

template <class T>
var<T> adasparse<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  detail::check_batch_scenarios("models::adasparse", b.scenario, b.size, scenarios());
  const var<T> agn = embedding_(t, b);
  const var<T> sce = scenario_table_(t, b.scenario);
  var<T> x = ops::concat_cols(t, {sce, pruners_[0](t, sce, agn)});
  for (std::size_t l = 0; l < layers_.size(); ++l) x = pruners_[l + 1](t, sce, layers_[l](t, x));
  return output_(t, x);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class adasparse<float>;
#endif

}  // namespace recblocks::models
