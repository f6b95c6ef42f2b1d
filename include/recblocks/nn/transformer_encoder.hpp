#pragma once
/// \file transformer_encoder.hpp
/// A small post-norm transformer encoder (Vaswani et al. 2017; PyTorch's `TransformerEncoderLayer`
/// without dropout), used as M2M's backbone. Per layer, over tokens x_1..x_T of width d:
///
///     q_i = x_i W_q + b_q,  k_i = x_i W_k + b_k,  v_i = x_i W_v + b_v           (split into H heads of d / H)
///     a^h_{ij} = softmax_j( <q^h_i, k^h_j> / sqrt(d / H) )
///     o_i   = [sum_j a^1_{ij} v^1_j ; ... ; sum_j a^H_{ij} v^H_j] W_o + b_o
///     x_i  <- LN_1(x_i + o_i)
///     x_i  <- LN_2(x_i + ReLU(x_i W_1 + b_1) W_2 + b_2)                        (feed-forward width ff_dim)
///
/// Two ways to lay out the tokens, same weights:
/// * `encode(t, x, T)`: `x` `[B, T * d]` holds T tokens of width d per sample (e.g. the field
///   embeddings of a CTR sample, concatenated); attention runs within each sample over its T tokens.
///   The batch is read as `[B * T, d]` (`ops::reshape`, no copy), so every projection, feed-forward
///   layer and layer norm is one op over all tokens, and attention is one `ops::token_attention` per
///   layer: O(B T^2 d), about 12 tape nodes per layer whatever B and T. `operator()(t, tokens)` is the
///   same on T values `[B, d]`.
/// * `sequence(t, x)`: one sequence `[L, d]` whose rows are the positions (`matmul` Q K^T). Scenario-Wise
///   Rec's M2M passes its `[B, D]` batch this way, i.e. attention across the samples of a batch
///   (reproduced by M2M's `reference_behaviour`).
///
/// `final_norm = true` applies one more layer norm (`norm`) to the output of the last layer, as PyTorch's
/// `nn.Transformer` wraps its encoder stack in `TransformerEncoder(..., norm=LayerNorm(d))`.
///
/// Requires `d % heads == 0`. Thread-safety: `const` forward, no state.

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "../core/ops/attention.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/shape.hpp"
#include "../core/ops/softmax.hpp"
#include "layer_norm.hpp"
#include "linear.hpp"

namespace recblocks::nn {

struct transformer_encoder_options {
  index_t d_model = 0;
  index_t heads = 4;
  index_t ff_dim = 16;
  index_t layers = 2;
  bool final_norm = false;  ///< a layer norm after the last layer (nn.Transformer's encoder norm)
};

namespace detail {
/// Multi-head scaled dot-product attention of one sequence: queries `q` `[Lq, d]`, keys and values `k`, `v`
/// `[Lk, d]` -> `[Lq, d]` (heads of d / H columns, softmax over the Lk keys of each query).
template <class T>
var<T> sequence_attention(tape<T>& t, const var<T>& q, const var<T>& k, const var<T>& v, index_t heads) {
  const index_t dh = q.cols / heads;
  const T scale = T(1) / std::sqrt(T(dh));
  const std::span<var<T>> out = t.template scratch_span<var<T>>(static_cast<std::size_t>(heads));  // arena
  for (index_t h = 0; h < heads; ++h) {
    auto part = [&](const var<T>& m) { return heads == 1 ? m : ops::slice_cols(t, m, h * dh, dh); };
    const var<T> a = ops::softmax(t, ops::mul_scalar(t, ops::matmul(t, part(q), part(k), false, true), scale));
    out[static_cast<std::size_t>(h)] = ops::matmul(t, a, part(v));
  }
  return heads == 1 ? out[0] : ops::concat_cols(t, std::span<const var<T>>(out.data(), out.size()));
}
}  // namespace detail

template <class T>
class transformer_encoder {
 public:
  using scalar_type = T;

  transformer_encoder(const transformer_encoder_options& opt, rng& gen);

  /// Per-sample attention over the `tokens` tokens of each row of `x` `[B, tokens * d]` -> `[B, tokens * d]`.
  var<T> encode(tape<T>& t, const var<T>& x, index_t tokens) const;

  /// Per-sample attention over `tokens` (T values `[B, d]`) -> T values `[B, d]`.
  std::vector<var<T>> operator()(tape<T>& t, std::span<const var<T>> tokens) const;

  /// One sequence `[L, d]` (rows are positions) -> `[L, d]`.
  var<T> sequence(tape<T>& t, const var<T>& x) const;

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      auto& L = self.layers_[l];
      const std::string p = std::to_string(l) + ".";
      v(p + "q", L.q);
      v(p + "k", L.k);
      v(p + "v", L.v);
      v(p + "o", L.o);
      v(p + "ln1", L.ln1);
      v(p + "ff1", L.ff1);
      v(p + "ff2", L.ff2);
      v(p + "ln2", L.ln2);
    }
    v("norm", self.norm_);
  }

 private:
  struct layer {
    linear<T> q, k, v, o;
    layer_norm<T> ln1;
    linear<T> ff1, ff2;
    layer_norm<T> ln2;
  };
  var<T> finish(tape<T>& t, const layer& L, const var<T>& x, const var<T>& attended) const;
  void check(const var<T>& x) const;

  var<T> final_norm(tape<T>& t, const var<T>& x) const { return norm_ ? (*norm_)(t, x) : x; }

  transformer_encoder_options opt_;
  std::vector<layer> layers_;
  std::optional<layer_norm<T>> norm_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
transformer_encoder<T>::transformer_encoder(const transformer_encoder_options& opt, rng& gen) : opt_(opt) {
  if (opt.d_model < 1 || opt.heads < 1 || opt.d_model % opt.heads != 0 || opt.ff_dim < 1 || opt.layers < 1)
    throw value_error("nn::transformer_encoder: need d_model divisible by heads, ff_dim >= 1 and layers >= 1 (d_model " +
                      std::to_string(opt.d_model) + ", heads " + std::to_string(opt.heads) + ")");
  const index_t d = opt.d_model;
  for (index_t l = 0; l < opt.layers; ++l)
    layers_.push_back(layer{linear<T>(d, d, gen), linear<T>(d, d, gen), linear<T>(d, d, gen), linear<T>(d, d, gen),
                            layer_norm<T>(d), linear<T>(d, opt.ff_dim, gen), linear<T>(opt.ff_dim, d, gen),
                            layer_norm<T>(d)});
  if (opt.final_norm) norm_.emplace(d);
}

template <class T>
void transformer_encoder<T>::check(const var<T>& x) const {
  if (x.cols != opt_.d_model)
    throw shape_error("nn::transformer_encoder: token " + shape_string(x.rows, x.cols) + " but d_model is " +
                      std::to_string(opt_.d_model));
}

template <class T>
var<T> transformer_encoder<T>::finish(tape<T>& t, const layer& L, const var<T>& x, const var<T>& attended) const {
  var<T> h = L.ln1(t, ops::add(t, x, L.o(t, attended)));
  return L.ln2(t, ops::add(t, h, L.ff2(t, L.ff1(t, h, fused_activation::relu))));
}

template <class T>
var<T> transformer_encoder<T>::encode(tape<T>& t, const var<T>& x, index_t tokens) const {
  const index_t d = opt_.d_model;
  if (tokens < 1 || x.cols != tokens * d)
    throw shape_error("nn::transformer_encoder: input " + shape_string(x.rows, x.cols) + " is not " + std::to_string(tokens) +
                      " tokens of d_model = " + std::to_string(d));
  var<T> h = ops::reshape(t, x, x.rows * tokens, d);  // row b * T + i = token i of sample b
  for (const auto& L : layers_) {
    const var<T> attended = ops::token_attention(t, L.q(t, h), L.k(t, h), L.v(t, h), tokens, opt_.heads);
    h = finish(t, L, h, attended);
  }
  return ops::reshape(t, final_norm(t, h), x.rows, tokens * d);
}

template <class T>
std::vector<var<T>> transformer_encoder<T>::operator()(tape<T>& t, std::span<const var<T>> tokens) const {
  if (tokens.empty()) throw shape_error("nn::transformer_encoder: no tokens");
  for (const auto& x : tokens) check(x);
  const auto n = static_cast<index_t>(tokens.size());
  const var<T> y = encode(t, ops::concat_cols(t, tokens), n);
  std::vector<var<T>> out;
  for (index_t i = 0; i < n; ++i) out.push_back(ops::slice_cols(t, y, i * opt_.d_model, opt_.d_model));
  return out;
}

template <class T>
var<T> transformer_encoder<T>::sequence(tape<T>& t, const var<T>& x0) const {
  check(x0);
  var<T> x = x0;
  for (const auto& L : layers_) x = finish(t, L, x, detail::sequence_attention(t, L.q(t, x), L.k(t, x), L.v(t, x), opt_.heads));
  return final_norm(t, x);
}

}  // namespace recblocks::nn
