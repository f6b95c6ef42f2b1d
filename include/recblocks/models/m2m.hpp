#pragma once
/// \file m2m.hpp
/// M2M (Zhang et al. 2022, "Leaving No One Behind") as Scenario-Wise Rec implements it (`m2m.py`), with
/// the backbone fixed to attend within each sample:
///
///     e       = feature_embedding(sparse fields + scenario)            F + 1 field tokens of width 16
///     s       = e's scenario token
///     c       = MLP_bn([16], LeakyReLU)(s)      scenario representation (conditions the meta layers)
///     t       = MLP_bn([16], LeakyReLU)(s)      task representation
///     T       = TransformerEncoder(tokens of e)                          per sample, fields as tokens
///     E_k     = MLP_bn([16], LeakyReLU)(T)       k = 1..4 experts
///     r       = meta_attention(E_1..E_4; t; c)   scores LeakyReLU([E_k ; t] W(c) + b(c)) v, softmax over k
///     o       = meta_tower(r; c)                 LeakyReLU(r W_t(c) + b_t(c) + r)
///     z       = MLP_bn([64, 32]) + Linear(., 1) on o
///
/// Backbone (documented substitution): a 2-layer post-norm transformer *encoder* (4 heads, feed-forward
/// 16, no dropout; `nn::transformer_encoder`) over the F + 1 field embeddings of each sample; dense
/// features, if selected, are appended to T after the encoder. The reference calls `nn.Transformer`
/// (2 encoder + 2 decoder layers, src = tgt = e) on the 2-D `[B, D]` batch, which PyTorch reads as one
/// unbatched sequence of length B, so attention mixes the samples of a batch.
/// `reference_behaviour = true` reproduces the reference's model exactly (step-by-step parity:
/// docs/reference_parity.md): `nn.Transformer(d_model = D, nhead = heads, encoder_layers, decoder_layers,
/// feedforward)` called as `transformer(e, e)` on the batch as one sequence of B positions: the encoder
/// (`transformer_encoder::sequence`, final layer norm), then the decoder (`transformer_decoder`: self- and
/// cross-attention to the encoder's output, final layer norm), whose output feeds the experts; and the
/// reference's LeakyReLU slope 0.1 (`activation_layer("leakyrelu")` and the meta layers' `nn.LeakyReLU(0.1)`)
/// in every MLP block, generator and meta layer. Outputs then depend on the batch composition. Not
/// reproduced: `nn.Transformer`'s default dropout 0.1 in its sublayers (this model has no dropout).
///
/// The generated weights come out of Linear -> BN -> LeakyReLU blocks as in the reference (slope
/// 0.01 in the default mode, PyTorch's default, rather than the reference's 0.1 in its MLP blocks).
/// Reference hyperparameters (all datasets): 4 experts, output 16, transformer 2 layers / ff 16 /
/// 4 heads (2 decoder layers in the reference mode), tower [64, 32].
/// Errors: see `models::ctr_model`. Thread-safety: `const` forward (see `ctr_model`).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "feature_embedding.hpp"
#include "../nn/scenario/meta_attention.hpp"
#include "../nn/scenario/meta_tower.hpp"
#include "../nn/mlp.hpp"
#include "../nn/transformer_decoder.hpp"
#include "../nn/transformer_encoder.hpp"
#include "detail/options_json.hpp"
#include "detail/sparse_fields.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct m2m_options {
  models::feature_embedding_options embedding;  ///< default (empty fields): every sparse feature; the scenario is always embedded
  index_t experts = 4;
  index_t expert_output = 16;
  index_t scenario_dim = 16;  ///< width of the scenario and task representations
  index_t encoder_layers = 2;
  index_t heads = 4;
  index_t feedforward = 16;
  std::vector<index_t> tower_dims{64, 32};
  index_t decoder_layers = 2;        ///< `reference_behaviour` only: nn.Transformer's decoder layers
  bool reference_behaviour = false;  ///< the reference's nn.Transformer across the samples of the batch, LeakyReLU 0.1

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("experts", o.experts, {"num_experts"});
    f("expert_output", o.expert_output);
    f("scenario_dim", o.scenario_dim);
    f("encoder_layers", o.encoder_layers);
    f("heads", o.heads);
    f("feedforward", o.feedforward);
    f("tower_dims", o.tower_dims);
    f("decoder_layers", o.decoder_layers, {"num_decoder_layers"});
    f("reference_behaviour", o.reference_behaviour);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static m2m_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<m2m_options>(j, "models::m2m_options");
  }
};

template <class T>
class m2m {
 public:
  using scalar_type = T;
  using options_type = m2m_options;
  static constexpr const char* name = "m2m";

  m2m(const data::schema& s, const options_type& opt, rng& gen);

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static m2m from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return m2m(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenarios_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("scenario", self.scenario_net_);
    v("task", self.task_net_);
    v("encoder", self.encoder_);
    v("decoder", self.decoder_);
    v("expert", self.experts_);
    v("attention", self.attention_);
    v("meta_tower", self.meta_tower_);
    v("tower", self.tower_);
  }

 private:
  static models::feature_embedding_options embedding_options(m2m_options opt, const data::schema& s);
  /// The LeakyReLU slope: the reference's 0.1 in `reference_behaviour`, else PyTorch's default 0.01.
  static double slope(const m2m_options& o) { return o.reference_behaviour ? 0.1 : 0.01; }
  nn::mlp_options small(index_t in, index_t out) const {
    nn::mlp_options m{.input_dim = in, .hidden = {out}, .act = activation::leaky_relu, .batch_norm = true};
    m.leaky_slope = slope(opt_);
    return m;
  }

  options_type opt_;
  index_t scenarios_;
  models::feature_embedding<T> embedding_;
  index_t tokens_;  // F + 1 embedded fields (the scenario last)
  nn::mlp<T> scenario_net_, task_net_;
  nn::transformer_encoder<T> encoder_;
  std::optional<nn::transformer_decoder<T>> decoder_;  // reference_behaviour only
  std::vector<nn::mlp<T>> experts_;
  nn::meta_attention<T> attention_;
  nn::meta_tower<T> meta_tower_;
  nn::mlp<T> tower_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
models::feature_embedding_options m2m<T>::embedding_options(m2m_options opt, const data::schema& s) {
  if (s.scenario_count() < 1) throw value_error("models::m2m: the schema has no scenario feature");
  opt.embedding = detail::sparse_only(opt.embedding, s);
  opt.embedding.embed_scenario = true;
  return opt.embedding;
}

template <class T>
m2m<T>::m2m(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt),
      scenarios_(s.scenario_count()),
      embedding_(s, embedding_options(opt, s), gen),
      tokens_(static_cast<index_t>(embedding_.sparse_fields().size()) + 1),
      scenario_net_(small(embedding_.options().dim, opt.scenario_dim), gen),
      task_net_(small(embedding_.options().dim, opt.scenario_dim), gen),
      encoder_({.d_model = opt.reference_behaviour ? embedding_.output_dim() : embedding_.options().dim,
                .heads = opt.heads, .ff_dim = opt.feedforward, .layers = opt.encoder_layers,
                .final_norm = opt.reference_behaviour},
               gen),
      attention_({.expert_dim = opt.expert_output, .context_dim = opt.scenario_dim, .condition_dim = opt.scenario_dim,
                  .experts = opt.experts, .slope = slope(opt), .generator_slope = slope(opt)},
                 gen),
      meta_tower_({.dim = opt.expert_output, .condition_dim = opt.scenario_dim, .slope = slope(opt),
                   .generator_slope = slope(opt)},
                  gen),
      tower_({.input_dim = opt.expert_output, .hidden = opt.tower_dims, .act = activation::relu, .batch_norm = true,
              .output_layer = true},
             gen) {
  for (index_t k = 0; k < opt.experts; ++k) experts_.emplace_back(small(embedding_.output_dim(), opt.expert_output), gen);
  if (opt.reference_behaviour)
    decoder_.emplace(nn::transformer_decoder_options{.d_model = embedding_.output_dim(), .heads = opt.heads,
                                                     .ff_dim = opt.feedforward, .layers = opt.decoder_layers},
                     gen);
}

template <class T>
var<T> m2m<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  detail::check_batch_scenarios("models::m2m", b.scenario, b.size, scenarios_);
  const index_t dim = embedding_.options().dim;
  const var<T> e = embedding_(t, b);
  const var<T> s = ops::slice_cols(t, e, (tokens_ - 1) * dim, dim);
  const var<T> c = scenario_net_(t, s);
  const var<T> task = task_net_(t, s);
  var<T> backbone;
  if (opt_.reference_behaviour) {
    backbone = decoder_->sequence(t, e, encoder_.sequence(t, e));  // nn.Transformer(src = e, tgt = e)
  } else {
    // the field tokens are e's first tokens_ * dim columns; dense features, if any, follow them
    const index_t dense = e.cols - tokens_ * dim;
    if (dense == 0) {
      backbone = encoder_.encode(t, e, tokens_);
    } else {
      backbone = ops::concat_cols(t, {encoder_.encode(t, ops::slice_cols(t, e, 0, tokens_ * dim), tokens_),
                                      ops::slice_cols(t, e, tokens_ * dim, dense)});
    }
  }
  const std::span<var<T>> experts = t.template scratch_span<var<T>>(experts_.size());  // arena, not heap
  for (std::size_t k = 0; k < experts_.size(); ++k) experts[k] = experts_[k](t, backbone);
  const var<T> r = attention_(t, std::span<const var<T>>(experts.data(), experts.size()), task, c);
  return tower_(t, meta_tower_(t, r, c));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class m2m<float>;
#endif

}  // namespace recblocks::models
