#pragma once
/// \file dcn.hpp
/// Deep & Cross Network for CTR (Wang et al. 2017, DCN; cross v2 from Wang et al. 2021, DCN-V2), as
/// torch-rechub's `DCN` lays it out; UserIP-Tuning's downstream model (papers.md 5: embed 8, 3 cross
/// layers, MLP (16, 16), dropout 0.2):
///
///     x_0 = feature_embedding(batch)                                  [B, D]
///     v1:  x_{l+1} = x_0 ⊙ (x_l w_l) + b_l + x_l                       w_l [D, 1], b_l [1, D] (zeros)
///     v2:  x_{l+1} = x_0 ⊙ (x_l W_l + b_l) + x_l                       W_l [D, D]
///     h   = MLP(mlp_dims)(x_0)                                        Linear -> (BatchNorm) -> act -> Dropout
///     z   = [x_L ; h] w_out + b_out                                   logits [B, 1]
///
/// The scenario feature is not read (single-scenario CTR) unless `embedding.embed_scenario`.
/// Parameters: `embedding.<field>.table`, `cross.<l>.{w,b}` (v1) or `cross.<l>.{weight,bias}` (v2),
/// `mlp.<l>...`, `output.{weight,bias}`. Errors: construction `value_error` for `cross` other than
/// "v1"/"v2", negative `cross_layers`, empty `mlp_dims`; the forward validates the batch
/// (`models::feature_embedding`). Thread-safety: `const` forward. Complexity: O(B (L D (1 or D) + MLP)).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../core/ops/elementwise.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/shape.hpp"
#include "../nn/linear.hpp"
#include "../nn/mlp.hpp"
#include "detail/options_json.hpp"
#include "feature_embedding.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

struct dcn_options {
  models::feature_embedding_options embedding{.dim = 8, .fields = {}, .embed_scenario = false, .init_stddev = 1e-4};  ///< every sparse and dense feature, 8-d (the paper's embed_dim)
  std::string cross = "v1";              ///< "v1" (vector cross weights) or "v2" (matrix)
  index_t cross_layers = 3;
  std::vector<index_t> mlp_dims{16, 16};
  activation act = activation::relu;
  double dropout = 0.2;
  bool batch_norm = true;                ///< torch-rechub's MLP

  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("cross", o.cross);
    f("cross_layers", o.cross_layers);
    f("mlp_dims", o.mlp_dims);
    f("activation", o.act);
    f("dropout", o.dropout);
    f("batch_norm", o.batch_norm);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  static dcn_options from_json(const nlohmann::json& j) { return detail::options_from_json<dcn_options>(j, "models::dcn_options"); }
};

template <class T>
class dcn {
 public:
  using scalar_type = T;
  using options_type = dcn_options;
  static constexpr const char* name = "dcn";

  dcn(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static dcn from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return dcn(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    for (std::size_t l = 0; l < self.cross_.size(); ++l) {
      const std::string p = "cross." + std::to_string(l);
      if (self.v2_) v(p, self.cross_[l]);
      else {
        v(p + ".w", self.cross_[l].weight());
        v(p + ".b", self.cross_b_[l]);
      }
    }
    v("mlp", self.mlp_);
    v("output", self.output_);
  }

 private:
  static options_type checked(const options_type& o) {
    if (o.cross != "v1" && o.cross != "v2") throw value_error("models::dcn: option cross must be \"v1\" or \"v2\", got \"" + o.cross + "\"");
    if (o.cross_layers < 0) throw value_error("models::dcn: cross_layers must be >= 0, got " + std::to_string(o.cross_layers));
    if (o.mlp_dims.empty()) throw value_error("models::dcn: mlp_dims must not be empty");
    return o;
  }

  options_type opt_;
  bool v2_;
  models::feature_embedding<T> embedding_;
  std::vector<nn::linear<T>> cross_;  // v1: [D, 1] without bias; v2: [D, D] with bias
  std::vector<param<T>> cross_b_;     // v1 biases [1, D]
  nn::mlp<T> mlp_;
  nn::linear<T> output_;
};

template <class T>
dcn<T>::dcn(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(checked(opt)), v2_(opt.cross == "v2"), embedding_(s, opt.embedding, gen),
      mlp_(nn::mlp_options{.input_dim = embedding_.output_dim(), .hidden = opt.mlp_dims, .act = opt.act, .batch_norm = opt.batch_norm,
                           .dropout = opt.dropout, .output_layer = false},
           gen),
      output_(embedding_.output_dim() + opt.mlp_dims.back(), 1, gen) {
  const index_t D = embedding_.output_dim();
  for (index_t l = 0; l < opt.cross_layers; ++l) {
    if (v2_) cross_.emplace_back(D, D, gen, true);
    else {
      cross_.emplace_back(D, 1, gen, false);
      cross_b_.emplace_back("b", 1, D);
      cross_b_.back().value().setZero();
    }
  }
}

template <class T>
var<T> dcn<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const var<T> x0 = embedding_(t, b);
  var<T> x = x0;
  for (std::size_t l = 0; l < cross_.size(); ++l) {
    if (v2_) x = ops::add(t, ops::mul(t, x0, cross_[l](t, x)), x);
    else x = ops::add(t, ops::add(t, ops::mul(t, x0, cross_[l](t, x)), t.leaf(cross_b_[l])), x);
  }
  const var<T> h = mlp_(t, x0);
  return output_(t, ops::concat_cols(t, {x, h}));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class dcn<float>;
#endif

}  // namespace recblocks::models
